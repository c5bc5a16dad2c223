// Set commands.
#include <algorithm>
#include <climits>

#include "server/command/context.h"
#include "server/command/registry.h"

namespace desaster {
namespace {

const Set* SetAt(CommandContext& ctx, std::string_view key, bool* wrong) {
  const Value* v = ctx.Lookup(key, ValueType::kSet, wrong);
  return v ? &v->set() : nullptr;
}

std::vector<std::string> Members(const Set* s) {
  std::vector<std::string> out;
  if (s) s->ForEach([&](std::string_view m, const Unit&) { out.emplace_back(m); });
  return out;
}

void ReplySet(CommandContext& ctx, const std::vector<std::string>& members) {
  ctx.reply.Set(members.size());
  for (const auto& m : members) ctx.reply.Bulk(m);
}

void SAdd(CommandContext& ctx) {
  ctx.ReplyCountOfEach(ValueType::kSet, event::kSet, "sadd",
                       [&](const std::string& key, const std::string& member) {
                         return ctx.db().SetAdd(key, member);
                       });
}

void SRem(CommandContext& ctx) {
  ctx.ReplyCountOfEach(ValueType::kSet, event::kSet, "srem",
                       [&](const std::string& key, const std::string& member) {
                         return ctx.db().SetRemove(key, member);
                       });
}

void SMembers(CommandContext& ctx) {
  bool wrong;
  const Set* s = SetAt(ctx, ctx.args[1], &wrong);
  if (!wrong) ReplySet(ctx, Members(s));
}

void SIsMember(CommandContext& ctx) {
  bool wrong;
  const Set* s = SetAt(ctx, ctx.args[1], &wrong);
  if (!wrong) ctx.reply.Integer(s && s->Contains(ctx.args[2]) ? 1 : 0);
}

void SMIsMember(CommandContext& ctx) {
  bool wrong;
  const Set* s = SetAt(ctx, ctx.args[1], &wrong);
  if (wrong) return;
  ctx.reply.Array(ctx.args.size() - 2);
  for (size_t i = 2; i < ctx.args.size(); i++)
    ctx.reply.Integer(s && s->Contains(ctx.args[i]) ? 1 : 0);
}

void SCard(CommandContext& ctx) { ctx.ReplyLength(ValueType::kSet); }

void SPop(CommandContext& ctx) {
  if (ctx.args.size() > 3) return ctx.Error(err::kSyntax);
  bool has_count = ctx.args.size() == 3;
  long long count = 1;
  if (has_count) {
    auto c = ctx.Int(2, err::kPositive);
    if (!c) return;
    if (*c < 0) return ctx.Error(err::kPositive);
    count = *c;
  }
  bool wrong;
  const Set* s = SetAt(ctx, ctx.args[1], &wrong);
  if (wrong) return;
  if (!s) return has_count ? ctx.reply.Set(0) : ctx.reply.NullBulk();
  std::vector<std::string> popped;
  // Each pop is recorded as the removal of the chosen member, never as "pop something".
  while (count-- > 0 && (s = SetAt(ctx, ctx.args[1], &wrong)) != nullptr) {
    std::string m(s->Random(ctx.keyspace().rng()).first);
    ctx.db().SetRemove(ctx.args[1], m);
    popped.push_back(std::move(m));
  }
  if (!popped.empty()) ctx.NotifyWrite(event::kSet, "spop", ctx.args[1]);
  if (!has_count) return ctx.reply.Bulk(popped[0]);
  ReplySet(ctx, popped);
}

void SRandMember(CommandContext& ctx) {
  auto q = ParseRandomRequest(ctx, "");
  if (!q) return;
  bool wrong;
  const Set* s = SetAt(ctx, ctx.args[1], &wrong);
  if (wrong) return;
  if (!q->has_count)
    return s ? ctx.reply.Bulk(s->Random(ctx.keyspace().rng()).first) : ctx.reply.NullBulk();
  std::vector<std::pair<std::string_view, const Unit*>> picks;
  if (s && !PickRandom(ctx, *s, q->count, &picks)) return;
  ctx.reply.Array(picks.size());
  for (const auto& [member, unit] : picks) ctx.reply.Bulk(member);
}

void SMove(CommandContext& ctx) {
  const std::string &src = ctx.args[1], &dst = ctx.args[2], &member = ctx.args[3];
  bool wrong;
  const Set* s = SetAt(ctx, src, &wrong);
  if (wrong) return;
  if (!s) return ctx.reply.Integer(0);  // before the destination's type, as Redis
  SetAt(ctx, dst, &wrong);
  if (wrong) return;
  if (!s->Contains(member)) return ctx.reply.Integer(0);
  if (src != dst) {
    ctx.db().SetRemove(src, member);
    ctx.NotifyWrite(event::kSet, "srem", src);
    if (ctx.db().SetAdd(dst, member)) ctx.Notify(event::kSet, "sadd", dst);
  }
  ctx.reply.Integer(1);
}

enum class SetOp { kInter, kUnion, kDiff };

// Computes the operation over keys args[first..]; nullopt after replying WRONGTYPE.
std::optional<std::vector<std::string>> Compute(CommandContext& ctx, SetOp op, size_t first,
                                                size_t last) {
  std::vector<const Set*> sets;
  for (size_t i = first; i <= last; i++) {
    bool wrong;
    sets.push_back(SetAt(ctx, ctx.args[i], &wrong));
    if (wrong) return std::nullopt;
  }
  std::vector<std::string> out;
  const Set::Limits& limits = ctx.keyspace().set_limits();
  switch (op) {
    case SetOp::kInter: {
      if (std::find(sets.begin(), sets.end(), nullptr) != sets.end()) return out;
      std::sort(sets.begin(), sets.end(),
                [](const Set* a, const Set* b) { return a->size() < b->size(); });
      sets[0]->ForEach([&](std::string_view m, const Unit&) {
        for (size_t i = 1; i < sets.size(); i++) {
          if (!sets[i]->Contains(m)) return;
        }
        out.emplace_back(m);
      });
      return out;
    }
    // Both gather the result in a set, as Redis does, which orders it as SMEMBERS would.
    case SetOp::kUnion: {
      Set acc;
      for (const Set* s : sets) {
        if (s) s->ForEach([&](std::string_view m, const Unit&) { acc.Insert(m, limits); });
      }
      return Members(&acc);
    }
    case SetOp::kDiff: {
      if (!sets[0]) return out;
      Set acc;
      sets[0]->ForEach([&](std::string_view m, const Unit&) {
        for (size_t i = 1; i < sets.size(); i++) {
          if (sets[i] && sets[i]->Contains(m)) return;
        }
        acc.Insert(m, limits);
      });
      return Members(&acc);
    }
  }
  return out;
}

void ReplyOp(CommandContext& ctx, SetOp op) {
  if (auto r = Compute(ctx, op, 1, ctx.args.size() - 1)) ReplySet(ctx, *r);
}
void SInter(CommandContext& ctx) { ReplyOp(ctx, SetOp::kInter); }
void SUnion(CommandContext& ctx) { ReplyOp(ctx, SetOp::kUnion); }
void SDiff(CommandContext& ctx) { ReplyOp(ctx, SetOp::kDiff); }

void StoreOp(CommandContext& ctx, SetOp op, std::string_view event) {
  auto r = Compute(ctx, op, 2, ctx.args.size() - 1);
  if (!r) return;
  const std::string& dst = ctx.args[1];
  ctx.StoreResult(event::kSet, event, dst, r->empty(), [&] {
    for (const auto& m : *r) ctx.db().SetAdd(dst, m);
  });
  ctx.reply.Integer(static_cast<long long>(r->size()));
}
void SInterStore(CommandContext& ctx) { StoreOp(ctx, SetOp::kInter, "sinterstore"); }
void SUnionStore(CommandContext& ctx) { StoreOp(ctx, SetOp::kUnion, "sunionstore"); }
void SDiffStore(CommandContext& ctx) { StoreOp(ctx, SetOp::kDiff, "sdiffstore"); }

void SInterCard(CommandContext& ctx) {
  long long numkeys;
  if (!ParseInt64(ctx.args[1], &numkeys) || numkeys < 1) {
    return ctx.Error("ERR numkeys should be greater than 0");
  }
  if (static_cast<unsigned long long>(numkeys) > ctx.args.size() - 2) {
    return ctx.Error("ERR Number of keys can't be greater than number of args");
  }
  size_t last = 1 + static_cast<size_t>(numkeys);
  long long limit = 0;
  for (size_t i = last + 1; i < ctx.args.size(); i++) {
    if (ctx.Is(i, "LIMIT") && i + 1 < ctx.args.size()) {
      if (!ParseInt64(ctx.args[++i], &limit)) return ctx.Error(err::kNotInteger);
      if (limit < 0) return ctx.Error("ERR LIMIT can't be negative");
    } else {
      return ctx.Error(err::kSyntax);
    }
  }
  auto r = Compute(ctx, SetOp::kInter, 2, last);
  if (!r) return;
  long long n = static_cast<long long>(r->size());
  ctx.reply.Integer(limit > 0 && n > limit ? limit : n);
}

void SScan(CommandContext& ctx) {
  if (!ParseScanCursor(ctx, 2)) return;
  bool wrong;
  const Set* s = SetAt(ctx, ctx.args[1], &wrong);
  if (!wrong)
    ReplyDictScan(ctx, s, [](std::string_view m, const Unit&, std::vector<std::string>* out) {
      out->emplace_back(m);
    });
}

}  // namespace

void RegisterSetCommands(CommandRegistry* r) {
  using namespace cmd;
  KeySpec one{1, 1, 1}, all{1, -1, 1}, two{1, 2, 1}, store{1, -1, 1};
  r->Group("set")
      .Add("sadd", -3, kWrite | kFast | kDenyOom, one, SAdd, "Add members")
      .Args("key member...")
      .Keys("RW INSERT")
      .Add("srem", -3, kWrite | kFast, one, SRem, "Remove members")
      .Args("key member...")
      .Keys("RW DELETE")
      .Add("smembers", 2, kReadOnly, one, SMembers, "All members")
      .Args("key")
      .Add("sismember", 3, kReadOnly | kFast, one, SIsMember, "Whether a value is a member")
      .Args("key member")
      .Keys("RO")
      .Add("smismember", -3, kReadOnly | kFast, one, SMIsMember, "Membership of several values")
      .Args("key member...")
      .Add("scard", 2, kReadOnly | kFast, one, SCard, "Number of members")
      .Args("key")
      .Keys("RO")
      .Add("spop", -2, kWrite | kFast, one, SPop, "Remove and return random members")
      .Args("key [count:integer]")
      .Keys("RW ACCESS DELETE")
      .Add("srandmember", -2, kReadOnly, one, SRandMember, "Random members")
      .Args("key [count:integer]")
      .Add("smove", 4, kWrite | kFast, two, SMove, "Move a member to another set")
      .Args("source:key destination:key member")
      .Keys("RW ACCESS DELETE | RW INSERT")
      .Add("sinter", -2, kReadOnly, all, SInter, "Intersection")
      .Args("key...")
      .Add("sunion", -2, kReadOnly, all, SUnion, "Union")
      .Args("key...")
      .Add("sdiff", -2, kReadOnly, all, SDiff, "Difference")
      .Args("key...")
      .Add("sinterstore", -3, kWrite | kDenyOom, store, SInterStore, "Store an intersection")
      .Args("destination:key key...")
      .Keys("RW UPDATE | RO ACCESS")
      .Add("sunionstore", -3, kWrite | kDenyOom, store, SUnionStore, "Store a union")
      .Args("destination:key key...")
      .Keys("OW UPDATE | RO ACCESS")
      .Add("sdiffstore", -3, kWrite | kDenyOom, store, SDiffStore, "Store a difference")
      .Args("destination:key key...")
      .Keys("OW UPDATE | RO ACCESS")
      .Add("sintercard", -3, kReadOnly, {}, SInterCard, "Cardinality of an intersection")
      .Args("numkeys:integer key... [LIMIT limit:integer]")
      .Add("sscan", -3, kReadOnly, one, SScan, "Iterate over members")
      .Args("key cursor:integer [MATCH pattern:pattern] [COUNT count:integer]");
}

}  // namespace desaster
