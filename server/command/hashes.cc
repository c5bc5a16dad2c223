// Hash commands.
#include <algorithm>
#include <climits>
#include <cmath>

#include "server/command/context.h"
#include "server/command/registry.h"

namespace desaster {
namespace {

const Hash* HashAt(CommandContext& ctx, std::string_view key, bool* wrong) {
  const Value* v = ctx.Lookup(key, ValueType::kHash, wrong);
  return v ? &v->hash() : nullptr;
}

// HSET and HMSET: field/value pairs; HSET answers how many fields were new, HMSET answers OK.
void SetFields(CommandContext& ctx, bool reply_ok) {
  if (ctx.args.size() % 2 != 0) return ctx.WrongArgs();
  bool wrong;
  HashAt(ctx, ctx.args[1], &wrong);
  if (wrong) return;
  long long created = 0;
  for (size_t i = 2; i < ctx.args.size(); i += 2) {
    if (ctx.db().HashSet(ctx.args[1], ctx.args[i], ctx.args[i + 1])) created++;
  }
  ctx.Notify(event::kHash, "hset", ctx.args[1]);
  reply_ok ? ctx.reply.Ok() : ctx.reply.Integer(created);
}
void HSet(CommandContext& ctx) { SetFields(ctx, false); }
void HMSet(CommandContext& ctx) { SetFields(ctx, true); }

void HSetNx(CommandContext& ctx) {
  bool wrong;
  const Hash* h = HashAt(ctx, ctx.args[1], &wrong);
  if (wrong) return;
  if (h && h->Find(ctx.args[2])) return ctx.reply.Integer(0);
  ctx.db().HashSet(ctx.args[1], ctx.args[2], ctx.args[3]);
  ctx.Notify(event::kHash, "hset", ctx.args[1]);
  ctx.reply.Integer(1);
}

void HGet(CommandContext& ctx) {
  bool wrong;
  const Hash* h = HashAt(ctx, ctx.args[1], &wrong);
  if (!wrong) ctx.reply.BulkOrNull(h ? h->Find(ctx.args[2]) : nullptr);
}

void HMGet(CommandContext& ctx) {
  bool wrong;
  const Hash* h = HashAt(ctx, ctx.args[1], &wrong);
  if (wrong) return;
  ctx.reply.Array(ctx.args.size() - 2);
  for (size_t i = 2; i < ctx.args.size(); i++) {
    ctx.reply.BulkOrNull(h ? h->Find(ctx.args[i]) : nullptr);
  }
}

// HGETALL, HKEYS, HVALS.
void ReplyFields(CommandContext& ctx, bool keys, bool values) {
  bool wrong;
  const Hash* h = HashAt(ctx, ctx.args[1], &wrong);
  if (wrong) return;
  size_t n = h ? h->size() : 0;
  keys&& values ? ctx.reply.Map(n) : ctx.reply.Array(n);
  if (!h) return;
  h->ForEach([&](std::string_view f, const std::string& v) {
    if (keys) ctx.reply.Bulk(f);
    if (values) ctx.reply.Bulk(v);
  });
}
void HGetAll(CommandContext& ctx) { ReplyFields(ctx, true, true); }
void HKeys(CommandContext& ctx) { ReplyFields(ctx, true, false); }
void HVals(CommandContext& ctx) { ReplyFields(ctx, false, true); }

void HDel(CommandContext& ctx) {
  ctx.ReplyCountOfEach(ValueType::kHash, event::kHash, "hdel",
                       [&](const std::string& key, const std::string& field) {
                         return ctx.db().HashDelete(key, field);
                       });
}

void HExists(CommandContext& ctx) {
  bool wrong;
  const Hash* h = HashAt(ctx, ctx.args[1], &wrong);
  if (!wrong) ctx.reply.Integer(h && h->Find(ctx.args[2]) ? 1 : 0);
}

void HLen(CommandContext& ctx) { ctx.ReplyLength(ValueType::kHash); }

void HStrLen(CommandContext& ctx) {
  bool wrong;
  const Hash* h = HashAt(ctx, ctx.args[1], &wrong);
  if (wrong) return;
  const std::string* v = h ? h->Find(ctx.args[2]) : nullptr;
  ctx.reply.Integer(v ? static_cast<long long>(v->size()) : 0);
}

void HIncrBy(CommandContext& ctx) {
  auto delta = ctx.Int(3);
  if (!delta) return;
  bool wrong;
  const Hash* h = HashAt(ctx, ctx.args[1], &wrong);
  if (wrong) return;
  long long current = 0;
  const std::string* v = h ? h->Find(ctx.args[2]) : nullptr;
  if (v && !ParseInt64(*v, &current)) return ctx.Error("ERR hash value is not an integer");
  if ((*delta < 0 && current < 0 && *delta < LLONG_MIN - current) ||
      (*delta > 0 && current > 0 && *delta > LLONG_MAX - current)) {
    return ctx.Error(err::kOverflow);
  }
  current += *delta;
  ctx.db().HashSet(ctx.args[1], ctx.args[2], FormatInt(current));
  ctx.Notify(event::kHash, "hincrby", ctx.args[1]);
  ctx.reply.Integer(current);
}

void HIncrByFloat(CommandContext& ctx) {
  long double delta;
  if (!ParseLongDouble(ctx.args[3], &delta)) return ctx.Error(err::kNotFloat);
  bool wrong;
  const Hash* h = HashAt(ctx, ctx.args[1], &wrong);
  if (wrong) return;
  long double current = 0;
  const std::string* v = h ? h->Find(ctx.args[2]) : nullptr;
  if (v && !ParseLongDouble(*v, &current)) return ctx.Error("ERR hash value is not a float");
  long double result = current + delta;
  if (std::isnan(result) || std::isinf(result)) return ctx.Error(err::kNanOrInf);
  std::string text = FormatLongDouble(result);
  ctx.db().HashSet(ctx.args[1], ctx.args[2], text);
  ctx.Notify(event::kHash, "hincrbyfloat", ctx.args[1]);
  ctx.reply.Bulk(text);
}

void HScan(CommandContext& ctx) {
  if (!ParseScanCursor(ctx, 2)) return;
  bool wrong;
  const Hash* h = HashAt(ctx, ctx.args[1], &wrong);
  if (!wrong)
    ReplyDictScan(ctx, h,
                  [](std::string_view f, const std::string& v, std::vector<std::string>* out) {
                    out->emplace_back(f);
                    out->push_back(v);
                  });
}

void HRandField(CommandContext& ctx) {
  auto q = ParseRandomRequest(ctx, "WITHVALUES");
  if (!q) return;
  bool wrong;
  const Hash* h = HashAt(ctx, ctx.args[1], &wrong);
  if (wrong) return;
  if (!q->has_count)
    return h ? ctx.reply.Bulk(h->Random(ctx.keyspace().rng()).first) : ctx.reply.NullBulk();
  std::vector<std::pair<std::string_view, const std::string*>> picks;
  if (h && !PickRandom(ctx, *h, q->count, &picks)) return;
  bool nested = q->with && ctx.reply.protocol() >= 3;  // RESP3: [[field, value], ...]
  ctx.reply.Array(picks.size() * (q->with && !nested ? 2 : 1));
  for (const auto& [field, value] : picks) {
    if (nested) ctx.reply.Array(2);
    ctx.reply.Bulk(field);
    if (q->with) ctx.reply.Bulk(*value);
  }
}

}  // namespace

void RegisterHashCommands(CommandRegistry* r) {
  using namespace cmd;
  KeySpec one{1, 1, 1};
  r->Group("hash")
      .Add("hset", -4, kWrite | kFast | kDenyOom, one, HSet, "Set hash fields")
      .Args("key (field value)...")
      .Keys("RW UPDATE")
      .Add("hmset", -4, kWrite | kFast | kDenyOom, one, HMSet, "Set hash fields (answers OK)")
      .Args("key (field value)...")
      .Keys("RW UPDATE")
      .Add("hsetnx", 4, kWrite | kFast | kDenyOom, one, HSetNx, "Set a field if it does not exist")
      .Args("key field value")
      .Keys("RW INSERT")
      .Add("hget", 3, kReadOnly | kFast, one, HGet, "Get a field")
      .Args("key field")
      .Add("hmget", -3, kReadOnly | kFast, one, HMGet, "Get several fields")
      .Args("key field...")
      .Add("hgetall", 2, kReadOnly, one, HGetAll, "All fields and values")
      .Args("key")
      .Add("hkeys", 2, kReadOnly, one, HKeys, "All fields")
      .Args("key")
      .Add("hvals", 2, kReadOnly, one, HVals, "All values")
      .Args("key")
      .Add("hdel", -3, kWrite | kFast, one, HDel, "Delete fields")
      .Args("key field...")
      .Keys("RW DELETE")
      .Add("hexists", 3, kReadOnly | kFast, one, HExists, "Whether a field exists")
      .Args("key field")
      .Keys("RO")
      .Add("hlen", 2, kReadOnly | kFast, one, HLen, "Number of fields")
      .Args("key")
      .Keys("RO")
      .Add("hstrlen", 3, kReadOnly | kFast, one, HStrLen, "Length of a field's value")
      .Args("key field")
      .Keys("RO")
      .Add("hincrby", 4, kWrite | kFast | kDenyOom, one, HIncrBy, "Increment an integer field")
      .Args("key field increment:integer")
      .Keys("RW ACCESS UPDATE")
      .Add("hincrbyfloat", 4, kWrite | kFast | kDenyOom, one, HIncrByFloat,
           "Increment a float field")
      .Args("key field increment:double")
      .Keys("RW ACCESS UPDATE")
      .Add("hscan", -3, kReadOnly, one, HScan, "Iterate over fields")
      .Args("key cursor:integer [MATCH pattern:pattern] [COUNT count:integer]")
      .Add("hrandfield", -2, kReadOnly, one, HRandField, "Random fields")
      .Args("key [count:integer [WITHVALUES]]");
}

}  // namespace desaster
