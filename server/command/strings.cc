// String commands: GET/SET and friends, counters, ranges.
#include <climits>
#include <cmath>
#include <cstdio>
#include <vector>

#include "server/command/context.h"
#include "server/command/registry.h"

namespace desaster {
namespace {

constexpr long long kMaxString = 512LL * 1024 * 1024;

// Parses the value following an EX/PX/EXAT/PXAT option into an absolute ms time, with Redis'
// "invalid expire time in '<cmd>' command" checks. `seconds` and `absolute` describe the unit.
std::optional<int64_t> ExpireArg(CommandContext& ctx, size_t i, bool seconds, bool absolute) {
  auto v = ctx.Int(i);
  if (!v) return std::nullopt;
  long long ms = *v;
  std::string invalid = "ERR invalid expire time in '" + Lower(ctx.args[0]) + "' command";
  if (ms <= 0 || (seconds && ms > LLONG_MAX / 1000)) {
    ctx.Error(invalid);
    return std::nullopt;
  }
  if (seconds) ms *= 1000;
  if (!absolute) {
    if (ms > LLONG_MAX - ctx.now_ms()) {
      ctx.Error(invalid);
      return std::nullopt;
    }
    ms += ctx.now_ms();
  }
  return ms;
}

void Get(CommandContext& ctx) {
  bool wrong;
  const std::string* s = ctx.StringAt(ctx.args[1], &wrong);
  if (!wrong) ctx.reply.BulkOrNull(s);
}

// Shared by SET, SETNX, SETEX, PSETEX: `expire_at` 0 means none.
void SetValue(CommandContext& ctx, const std::string& key, const std::string& value,
              int64_t expire_at, bool keep_ttl) {
  ctx.db().SetString(key, value, keep_ttl);
  ctx.Notify(event::kString, "set", key);
  if (expire_at) {
    ctx.db().ExpireAt(key, expire_at);
    ctx.Notify(event::kGeneric, "expire", key);
  }
}

void SetCommand(CommandContext& ctx) {
  bool nx = false, xx = false, get = false, keep_ttl = false;
  int64_t expire_at = 0;
  bool has_expire = false;
  for (size_t i = 3; i < ctx.args.size(); i++) {
    bool has_next = i + 1 < ctx.args.size();
    if (ctx.Is(i, "NX") && !xx) {
      nx = true;
    } else if (ctx.Is(i, "XX") && !nx) {
      xx = true;
    } else if (ctx.Is(i, "GET")) {
      get = true;
    } else if (ctx.Is(i, "KEEPTTL") && !has_expire) {
      keep_ttl = true;
    } else if ((ctx.Is(i, "EX") || ctx.Is(i, "PX") || ctx.Is(i, "EXAT") || ctx.Is(i, "PXAT")) &&
               !keep_ttl && !has_expire && has_next) {
      bool seconds = ctx.Is(i, "EX") || ctx.Is(i, "EXAT");
      bool absolute = ctx.Is(i, "EXAT") || ctx.Is(i, "PXAT");
      auto at = ExpireArg(ctx, ++i, seconds, absolute);
      if (!at) return;
      expire_at = *at;
      has_expire = true;
    } else {
      return ctx.Error(err::kSyntax);
    }
  }
  const std::string& key = ctx.args[1];
  bool wrong = false;
  std::optional<std::string> old;
  if (get) {
    const std::string* s = ctx.StringAt(key, &wrong);
    if (wrong) return;
    if (s) old = *s;
  }
  bool exists = (nx || xx) && ctx.db().Find(key) != nullptr;  // a plain SET needs no lookup here
  if ((nx && exists) || (xx && !exists)) {
    if (get) return ctx.reply.BulkOrNull(old ? &*old : nullptr);
    return ctx.reply.NullBulk();
  }
  SetValue(ctx, key, ctx.args[2], expire_at, keep_ttl);
  if (get) return ctx.reply.BulkOrNull(old ? &*old : nullptr);
  ctx.reply.Ok();
}

void SetNx(CommandContext& ctx) {
  if (ctx.db().Find(ctx.args[1])) return ctx.reply.Integer(0);
  SetValue(ctx, ctx.args[1], ctx.args[2], 0, false);
  ctx.reply.Integer(1);
}

void SetExGeneric(CommandContext& ctx, bool seconds) {
  auto at = ExpireArg(ctx, 2, seconds, false);
  if (!at) return;
  SetValue(ctx, ctx.args[1], ctx.args[3], *at, false);
  ctx.reply.Ok();
}
void SetEx(CommandContext& ctx) { SetExGeneric(ctx, true); }
void PSetEx(CommandContext& ctx) { SetExGeneric(ctx, false); }

void GetSet(CommandContext& ctx) {
  bool wrong;
  const std::string* s = ctx.StringAt(ctx.args[1], &wrong);
  if (wrong) return;
  std::optional<std::string> old;
  if (s) old = *s;
  ctx.db().SetString(ctx.args[1], ctx.args[2], false);
  ctx.Notify(event::kString, "set", ctx.args[1]);
  ctx.reply.BulkOrNull(old ? &*old : nullptr);
}

void GetDel(CommandContext& ctx) {
  bool wrong;
  const std::string* s = ctx.StringAt(ctx.args[1], &wrong);
  if (wrong) return;
  if (!s) return ctx.reply.NullBulk();
  std::string old = *s;
  ctx.db().Delete(ctx.args[1]);
  ctx.Notify(event::kGeneric, "del", ctx.args[1]);
  ctx.reply.Bulk(old);
}

void GetEx(CommandContext& ctx) {
  size_t expire_arg = 0;  // index of the EX/PX/EXAT/PXAT value, validated after the lookup
  bool seconds = false, absolute = false, persist = false;
  for (size_t i = 2; i < ctx.args.size(); i++) {
    bool has_next = i + 1 < ctx.args.size();
    if ((ctx.Is(i, "EX") || ctx.Is(i, "PX") || ctx.Is(i, "EXAT") || ctx.Is(i, "PXAT")) &&
        !persist && !expire_arg && has_next) {
      seconds = ctx.Is(i, "EX") || ctx.Is(i, "EXAT");
      absolute = ctx.Is(i, "EXAT") || ctx.Is(i, "PXAT");
      expire_arg = ++i;
    } else if (ctx.Is(i, "PERSIST") && !expire_arg && !persist) {
      persist = true;
    } else {
      return ctx.Error(err::kSyntax);
    }
  }
  bool wrong;
  const std::string* s = ctx.StringAt(ctx.args[1], &wrong);
  if (wrong) return;
  if (!s) return ctx.reply.NullBulk();
  std::string value = *s;
  if (expire_arg) {
    auto at = ExpireArg(ctx, expire_arg, seconds, absolute);
    if (!at) return;
    ctx.db().ExpireAt(ctx.args[1], *at);
    ctx.Notify(event::kGeneric, ctx.db().Peek(ctx.args[1]) ? "expire" : "del", ctx.args[1]);
  }
  if (persist && ctx.db().Persist(ctx.args[1])) ctx.Notify(event::kGeneric, "persist", ctx.args[1]);
  ctx.reply.Bulk(value);
}

void MGet(CommandContext& ctx) {
  ctx.reply.Array(ctx.args.size() - 1);
  for (size_t i = 1; i < ctx.args.size(); i++) {
    const Value* v = ctx.db().Find(ctx.args[i]);
    if (v && v->type() == ValueType::kString) {
      ctx.reply.Bulk(v->str());
    } else {
      ctx.reply.NullBulk();
    }
  }
}

void MSetGeneric(CommandContext& ctx, bool nx) {
  if (ctx.args.size() % 2 == 0) return ctx.WrongArgs();
  if (nx) {
    for (size_t i = 1; i < ctx.args.size(); i += 2) {
      if (ctx.db().Find(ctx.args[i])) return ctx.reply.Integer(0);
    }
  }
  for (size_t i = 1; i < ctx.args.size(); i += 2) {
    ctx.db().SetString(ctx.args[i], ctx.args[i + 1], false);
    ctx.Notify(event::kString, "set", ctx.args[i]);
  }
  nx ? ctx.reply.Integer(1) : ctx.reply.Ok();
}
void MSet(CommandContext& ctx) { MSetGeneric(ctx, false); }
void MSetNx(CommandContext& ctx) { MSetGeneric(ctx, true); }

// Whether a string of `size` + `added` bytes is allowed; both may be anything a client sent, so
// the sum is never formed.
bool CheckStringSize(CommandContext& ctx, unsigned long long size, size_t added) {
  constexpr auto kMax = static_cast<unsigned long long>(kMaxString);
  if (size > kMax || added > kMax - size) {
    ctx.Error("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    return false;
  }
  return true;
}

void Append(CommandContext& ctx) {
  bool wrong;
  const std::string* s = ctx.StringAt(ctx.args[1], &wrong);
  if (wrong) return;
  if (!CheckStringSize(ctx, s ? s->size() : 0, ctx.args[2].size())) return;
  size_t len = ctx.db().WriteRange(ctx.args[1], s ? s->size() : 0, ctx.args[2]);
  ctx.Notify(event::kString, "append", ctx.args[1]);
  ctx.reply.Integer(static_cast<long long>(len));
}

void StrLen(CommandContext& ctx) { ctx.ReplyLength(ValueType::kString); }

void IncrBy(CommandContext& ctx, long long delta) {
  bool wrong;
  const std::string* s = ctx.StringAt(ctx.args[1], &wrong);
  if (wrong) return;
  long long current = 0;
  if (s && !ParseInt64(*s, &current)) return ctx.Error(err::kNotInteger);
  if ((delta < 0 && current < 0 && delta < LLONG_MIN - current) ||
      (delta > 0 && current > 0 && delta > LLONG_MAX - current)) {
    return ctx.Error(err::kOverflow);
  }
  current += delta;
  ctx.db().SetString(ctx.args[1], FormatInt(current), true);
  ctx.Notify(event::kString, "incrby", ctx.args[1]);
  ctx.reply.Integer(current);
}
void Incr(CommandContext& ctx) { IncrBy(ctx, 1); }
void Decr(CommandContext& ctx) { IncrBy(ctx, -1); }
void IncrByCmd(CommandContext& ctx) {
  if (auto d = ctx.Int(2)) IncrBy(ctx, *d);
}
void DecrByCmd(CommandContext& ctx) {
  auto d = ctx.Int(2);
  if (!d) return;
  if (*d == LLONG_MIN) return ctx.Error("ERR decrement would overflow");
  IncrBy(ctx, -*d);
}

void IncrByFloat(CommandContext& ctx) {
  bool wrong;
  const std::string* s = ctx.StringAt(ctx.args[1], &wrong);
  if (wrong) return;
  long double current = 0;
  if (s && !ParseLongDouble(*s, &current)) return ctx.Error(err::kNotFloat);
  long double delta;
  if (!ParseLongDouble(ctx.args[2], &delta)) return ctx.Error(err::kNotFloat);
  long double result = current + delta;
  if (std::isnan(result) || std::isinf(result)) return ctx.Error(err::kNanOrInf);
  std::string text = FormatLongDouble(result);
  ctx.db().SetString(ctx.args[1], text, true);
  ctx.Notify(event::kString, "incrbyfloat", ctx.args[1]);
  ctx.reply.Bulk(text);
}

void GetRange(CommandContext& ctx) {
  auto start = ctx.Int(2);
  if (!start) return;
  auto end = ctx.Int(3);
  if (!end) return;
  bool wrong;
  const std::string* s = ctx.StringAt(ctx.args[1], &wrong);
  if (wrong) return;
  if (!s) return ctx.reply.Bulk("");
  long long len = static_cast<long long>(s->size());
  long long a = *start, b = *end;
  if (a < 0 && b < 0 && a > b) return ctx.reply.Bulk("");
  if (a < 0) a = len + a;
  if (b < 0) b = len + b;
  if (a < 0) a = 0;
  if (b < 0) b = 0;
  if (b >= len) b = len - 1;
  if (a > b || len == 0) return ctx.reply.Bulk("");
  ctx.reply.Bulk(
      std::string_view(*s).substr(static_cast<size_t>(a), static_cast<size_t>(b - a + 1)));
}

void SetRange(CommandContext& ctx) {
  auto offset = ctx.Int(2);
  if (!offset) return;
  if (*offset < 0) return ctx.Error("ERR offset is out of range");
  bool wrong;
  const std::string* s = ctx.StringAt(ctx.args[1], &wrong);
  if (wrong) return;
  const std::string& patch = ctx.args[3];
  if (patch.empty()) return ctx.reply.Integer(s ? static_cast<long long>(s->size()) : 0);
  if (!CheckStringSize(ctx, static_cast<unsigned long long>(*offset), patch.size())) return;
  size_t len = ctx.db().WriteRange(ctx.args[1], static_cast<size_t>(*offset), patch);
  ctx.Notify(event::kString, "setrange", ctx.args[1]);
  ctx.reply.Integer(static_cast<long long>(len));
}

// LCS's table has a cell per pair of positions. Redis allows it up to proto-max-bulk-len
// (512 MB, a second or more of the loop); desaster stops at this many cells (64 MB, tens of
// milliseconds), so no client freezes the server with one call.
constexpr uint64_t kMaxLcsCells = uint64_t{1} << 24;

// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]: the longest common subsequence
// of two strings, its length, or the ranges where they match, as Redis computes them.
void Lcs(CommandContext& ctx) {
  const Value* va = ctx.db().Find(ctx.args[1]);
  const Value* vb = ctx.db().Find(ctx.args[2]);
  if ((va && va->type() != ValueType::kString) || (vb && vb->type() != ValueType::kString)) {
    return ctx.Error("ERR The specified keys must contain string values");
  }
  std::string_view a = va ? std::string_view(va->str()) : "",
                   b = vb ? std::string_view(vb->str()) : "";
  bool len_only = false, idx = false, with_len = false;
  long long min_len = 0;
  for (size_t j = 3; j < ctx.args.size(); j++) {
    if (ctx.Is(j, "IDX")) {
      idx = true;
    } else if (ctx.Is(j, "LEN")) {
      len_only = true;
    } else if (ctx.Is(j, "WITHMATCHLEN")) {
      with_len = true;
    } else if (ctx.Is(j, "MINMATCHLEN") && j + 1 < ctx.args.size()) {
      auto n = ctx.Int(++j);
      if (!n) return;
      min_len = std::max(*n, 0LL);
    } else {
      return ctx.Error(err::kSyntax);
    }
  }
  if (len_only && idx) {
    return ctx.Error("ERR If you want both the length and indexes, please just use IDX.");
  }
  uint64_t cells = (uint64_t{a.size()} + 1) * (uint64_t{b.size()} + 1);
  if (cells > kMaxLcsCells) {
    return ctx.Error("ERR Insufficient memory, transient memory for LCS exceeds " +
                     std::to_string(kMaxLcsCells * sizeof(uint32_t) >> 20) +
                     " MB (desaster's limit, so that no call stalls the server)");
  }
  size_t w = b.size() + 1;
  std::vector<uint32_t> t(static_cast<size_t>(cells), 0);
  auto at = [&](size_t i, size_t j) -> uint32_t& { return t[i * w + j]; };
  for (size_t i = 1; i <= a.size(); i++) {
    for (size_t j = 1; j <= b.size(); j++) {
      at(i, j) = a[i - 1] == b[j - 1] ? at(i - 1, j - 1) + 1 : std::max(at(i - 1, j), at(i, j - 1));
    }
  }
  uint32_t total = at(a.size(), b.size());
  if (len_only) return ctx.reply.Integer(total);
  // Walk back from the end, as Redis does, collecting the subsequence and the matching ranges
  // (the latest first).
  std::string lcs(total, '\0');
  struct Match {
    size_t a_start, a_end, b_start, b_end;
  };
  std::vector<Match> matches;
  size_t i = a.size(), j = b.size(), k = total;
  bool open = false;
  Match m{};
  while (i > 0 && j > 0) {
    bool emit = false;
    if (a[i - 1] == b[j - 1]) {
      lcs[--k] = a[i - 1];
      if (!open) {
        m = {i - 1, i - 1, j - 1, j - 1};
        open = true;
      } else if (m.a_start == i && m.b_start == j) {
        m.a_start--;
        m.b_start--;
      } else {
        emit = true;  // a new range begins here: the open one ends (and this one is lost, as
                      // in Redis, which only notices it at its next step)
      }
      if (m.a_start == 0 || m.b_start == 0) emit = true;
      i--;
      j--;
    } else {
      if (at(i - 1, j) > at(i, j - 1)) {
        i--;
      } else {
        j--;
      }
      if (open) emit = true;
    }
    if (emit) {
      if (m.a_end - m.a_start + 1 >= static_cast<size_t>(min_len)) matches.push_back(m);
      open = false;
    }
  }
  if (!idx) return ctx.reply.Bulk(lcs);
  ctx.reply.Map(2);
  ctx.reply.Bulk("matches");
  ctx.reply.Array(matches.size());
  for (const Match& x : matches) {
    ctx.reply.Array(with_len ? 3 : 2);
    for (auto [from, to] : {std::pair{x.a_start, x.a_end}, std::pair{x.b_start, x.b_end}}) {
      ctx.reply.Array(2);
      ctx.reply.Integer(static_cast<long long>(from));
      ctx.reply.Integer(static_cast<long long>(to));
    }
    if (with_len) ctx.reply.Integer(static_cast<long long>(x.a_end - x.a_start + 1));
  }
  ctx.reply.Field("len", static_cast<long long>(total));
}

}  // namespace

void RegisterStringCommands(CommandRegistry* r) {
  using namespace cmd;
  KeySpec one{1, 1, 1}, all{1, -1, 1}, pairs{1, -1, 2};
  r->Group("string")
      .Add("lcs", -3, kReadOnly, {1, 2, 1}, Lcs, "Longest common subsequence of two strings")
      .Args("key1:key key2:key [LEN] [IDX] [MINMATCHLEN min-match-len:integer] [WITHMATCHLEN]")
      .Add("get", 2, kReadOnly | kFast, one, Get, "Get the value of a key")
      .Args("key")
      .Add("set", -3, kWrite | kDenyOom, one, SetCommand, "Set the string value of a key")
      .Args(
          "key value [NX|XX] [GET] [EX seconds:integer|PX milliseconds:integer|EXAT "
          "unix-time-seconds:unix-time|PXAT unix-time-milliseconds:unix-time|KEEPTTL]")
      .Keys("RW ACCESS UPDATE VARIABLE_FLAGS")
      .Add("setnx", 3, kWrite | kFast | kDenyOom, one, SetNx, "Set a key only if it does not exist")
      .Args("key value")
      .Keys("OW INSERT")
      .Add("setex", 4, kWrite | kDenyOom, one, SetEx, "Set a key with an expiry in seconds")
      .Args("key seconds:integer value")
      .Keys("OW UPDATE")
      .Add("psetex", 4, kWrite | kDenyOom, one, PSetEx, "Set a key with an expiry in milliseconds")
      .Args("key milliseconds:integer value")
      .Keys("OW UPDATE")
      .Add("getset", 3, kWrite | kFast | kDenyOom, one, GetSet,
           "Set a key and return its old value")
      .Args("key value")
      .Keys("RW ACCESS UPDATE")
      .Add("getdel", 2, kWrite | kFast, one, GetDel, "Get a key and delete it")
      .Args("key")
      .Keys("RW ACCESS DELETE")
      .Add("getex", -2, kWrite | kFast, one, GetEx, "Get a key and set or clear its expiry")
      .Args(
          "key [EX seconds:integer|PX milliseconds:integer|EXAT unix-time-seconds:unix-time|PXAT "
          "unix-time-milliseconds:unix-time|PERSIST]")
      .Keys("RW ACCESS UPDATE")
      .Add("mget", -2, kReadOnly | kFast, all, MGet, "Get the values of several keys")
      .Args("key...")
      .Add("mset", -3, kWrite | kDenyOom, pairs, MSet, "Set several keys")
      .Args("(key value)...")
      .Keys("OW UPDATE")
      .Add("msetnx", -3, kWrite | kDenyOom, pairs, MSetNx, "Set several keys only if none exists")
      .Args("(key value)...")
      .Keys("OW INSERT")
      .Add("append", 3, kWrite | kFast | kDenyOom, one, Append, "Append to a string")
      .Args("key value")
      .Keys("RW INSERT")
      .Add("strlen", 2, kReadOnly | kFast, one, StrLen, "Length of a string")
      .Args("key")
      .Keys("RO")
      .Add("incr", 2, kWrite | kFast | kDenyOom, one, Incr, "Increment an integer by one")
      .Args("key")
      .Keys("RW ACCESS UPDATE")
      .Add("decr", 2, kWrite | kFast | kDenyOom, one, Decr, "Decrement an integer by one")
      .Args("key")
      .Keys("RW ACCESS UPDATE")
      .Add("incrby", 3, kWrite | kFast | kDenyOom, one, IncrByCmd, "Increment an integer")
      .Args("key increment:integer")
      .Keys("RW ACCESS UPDATE")
      .Add("decrby", 3, kWrite | kFast | kDenyOom, one, DecrByCmd, "Decrement an integer")
      .Args("key decrement:integer")
      .Keys("RW ACCESS UPDATE")
      .Add("incrbyfloat", 3, kWrite | kFast | kDenyOom, one, IncrByFloat, "Increment a float")
      .Args("key increment:double")
      .Keys("RW ACCESS UPDATE")
      .Add("getrange", 4, kReadOnly, one, GetRange, "Get a substring")
      .Args("key start:integer end:integer")
      .Add("substr", 4, kReadOnly, one, GetRange, "Get a substring (old name of GETRANGE)")
      .Args("key start:integer end:integer")
      .Add("setrange", 4, kWrite | kDenyOom, one, SetRange, "Overwrite part of a string")
      .Args("key offset:integer value")
      .Keys("RW UPDATE");
}

}  // namespace desaster
