// Sorted set commands.
#include "server/command/zsets.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>

#include "server/command/context.h"
#include "server/command/registry.h"

namespace desaster {

const ZSet* ZSetAt(CommandContext& ctx, std::string_view key, bool* wrong) {
  const Value* v = ctx.Lookup(key, ValueType::kZSet, wrong);
  return v ? &v->zset() : nullptr;
}

namespace {

using Item = std::pair<std::string, double>;  // member, score

struct ScoreRange {
  double min = 0, max = 0;
  bool min_ex = false, max_ex = false;
  bool AboveMin(double v) const { return min_ex ? v > min : v >= min; }
  bool BelowMax(double v) const { return max_ex ? v < max : v <= max; }
};

// A score bound as Redis reads it, with strtod: "(" alone and "" are 0, " 1", "0x10" and "1e400"
// are numbers; only trailing garbage and NaN are refused.
bool ParseScoreBound(const std::string& s, double* v, bool* ex) {
  *ex = !s.empty() && s[0] == '(';
  char* end = nullptr;
  *v = strtod(s.c_str() + (*ex ? 1 : 0), &end);
  return *end == '\0' && !std::isnan(*v);
}

std::optional<ScoreRange> ParseScoreRange(CommandContext& ctx, size_t min_i, size_t max_i) {
  ScoreRange r;
  if (!ParseScoreBound(ctx.args[min_i], &r.min, &r.min_ex) ||
      !ParseScoreBound(ctx.args[max_i], &r.max, &r.max_ex)) {
    ctx.Error("ERR min or max is not a float");
    return std::nullopt;
  }
  return r;
}

// A lex bound: "-" (below everything), "+" (above everything), "[x" inclusive, "(x" exclusive.
struct LexBound {
  enum Kind { kMinusInf, kPlusInf, kValue } kind = kValue;
  std::string value;
  bool ex = false;
};
struct LexRange {
  LexBound min, max;
  bool AboveMin(const std::string& m) const {
    if (min.kind != LexBound::kValue) return min.kind == LexBound::kMinusInf;
    return min.ex ? m > min.value : m >= min.value;
  }
  bool BelowMax(const std::string& m) const {
    if (max.kind != LexBound::kValue) return max.kind == LexBound::kPlusInf;
    return max.ex ? m < max.value : m <= max.value;
  }
};

bool ParseLexBound(const std::string& s, LexBound* b) {
  if (s == "-") {
    b->kind = LexBound::kMinusInf;
  } else if (s == "+") {
    b->kind = LexBound::kPlusInf;
  } else if (!s.empty() && (s[0] == '[' || s[0] == '(')) {
    b->ex = s[0] == '(';
    b->value = s.substr(1);
  } else {
    return false;
  }
  return true;
}

std::optional<LexRange> ParseLexRange(CommandContext& ctx, size_t min_i, size_t max_i) {
  LexRange r;
  if (!ParseLexBound(ctx.args[min_i], &r.min) || !ParseLexBound(ctx.args[max_i], &r.max)) {
    ctx.Error("ERR min or max not valid string range item");
    return std::nullopt;
  }
  return r;
}

// ---- range collection, shared by ZRANGE*, ZREMRANGE*, ZCOUNT, ZRANGESTORE ----

std::vector<Item> CollectByRank(const ZSet& z, long long start, long long stop, bool rev) {
  long long len = static_cast<long long>(z.size());
  if (start < 0) start = len + start;
  if (stop < 0) stop = len + stop;
  if (start < 0) start = 0;
  std::vector<Item> out;
  if (start > stop || start >= len) return out;
  if (stop >= len) stop = len - 1;
  if (!rev) {
    auto it = z.AtRank(static_cast<size_t>(start));
    for (long long i = start; i <= stop; i++, ++it) out.emplace_back(it->second, it->first);
  } else {
    auto it = z.AtRank(static_cast<size_t>(len - 1 - start));
    for (long long i = start; i <= stop; i++) {
      out.emplace_back(it->second, it->first);
      if (i < stop) --it;
    }
  }
  return out;
}

// Walks from `it` forwards (or backwards when `rev`) while `in_range` holds, skipping `offset`
// entries and taking at most `limit` (< 0: all).
template <class InRange>
std::vector<Item> Walk(const ZSet& z, ZSet::Iterator it, bool rev, long long offset,
                       long long limit, InRange in_range) {
  std::vector<Item> out;
  if (offset < 0) return out;
  while (it != z.end() && in_range(*it) && limit != 0) {
    if (offset > 0) {
      offset--;
    } else {
      out.emplace_back(it->second, it->first);
      if (limit > 0) limit--;
    }
    if (rev) {
      if (it == z.begin()) break;
      --it;
    } else {
      ++it;
    }
  }
  return out;
}

// The last entry before `it` (for reverse walks); end() when there is none.
ZSet::Iterator Before(const ZSet& z, ZSet::Iterator it) {
  if (it == z.begin()) return z.end();
  return --it;
}

std::vector<Item> CollectByScore(const ZSet& z, const ScoreRange& r, bool rev, long long offset,
                                 long long limit) {
  if (!rev) {
    return Walk(z, z.FirstAtOrAfter(r.min, r.min_ex), false, offset, limit,
                [&](const ZSet::Entry& e) { return r.BelowMax(e.first); });
  }
  auto it = Before(z, z.FirstAtOrAfter(r.max, !r.max_ex));
  return Walk(z, it, true, offset, limit,
              [&](const ZSet::Entry& e) { return r.AboveMin(e.first); });
}

// Lex ranges assume equal scores. When scores differ, Redis (for small sets) scans in
// (score, member) order for the first member inside the bound and walks on from there; the
// linear scan below reproduces that, while equal scores take the O(log n) path.
std::vector<Item> CollectByLex(const ZSet& z, const LexRange& r, bool rev, long long offset,
                               long long limit) {
  if (z.size() == 0) return {};
  auto last = Before(z, z.end());
  // Redis' zzlIsInLexRange: the first member must be <= max and the last >= min.
  if (!r.BelowMax(z.begin()->second) || !r.AboveMin(last->second)) return {};
  bool uniform = z.begin()->first == last->first;
  if (!rev) {
    if (r.min.kind == LexBound::kPlusInf) return {};
    ZSet::Iterator it = z.begin();
    if (uniform && r.min.kind == LexBound::kValue) {
      it = z.FirstLexAtOrAfter(r.min.value, r.min.ex);
    } else {
      while (it != z.end() && !r.AboveMin(it->second)) ++it;
    }
    return Walk(z, it, false, offset, limit,
                [&](const ZSet::Entry& e) { return r.BelowMax(e.second); });
  }
  if (r.max.kind == LexBound::kMinusInf) return {};
  ZSet::Iterator it = last;
  if (uniform && r.max.kind == LexBound::kValue) {
    it = Before(z, z.FirstLexAtOrAfter(r.max.value, !r.max.ex));
  } else {
    while (it != z.end() && !r.BelowMax(it->second)) it = Before(z, it);
  }
  return Walk(z, it, true, offset, limit,
              [&](const ZSet::Entry& e) { return r.AboveMin(e.second); });
}

void ReplyItems(CommandContext& ctx, const std::vector<Item>& items, bool with_scores) {
  bool nested = with_scores && ctx.reply.protocol() >= 3;
  ctx.reply.Array(items.size() * (with_scores && !nested ? 2 : 1));
  for (const auto& [member, score] : items) {
    if (nested) ctx.reply.Array(2);
    ctx.reply.Bulk(member);
    if (with_scores) ctx.reply.Double(score);
  }
}

// ---- commands ----

}  // namespace

void ZAddMembers(CommandContext& ctx, const std::string& key, const ZAddOptions& o,
                 const std::vector<std::pair<double, std::string_view>>& items) {
  bool wrong;
  ZSetAt(ctx, key, &wrong);
  if (wrong) return;
  long long added = 0, changed = 0;
  for (auto [score, member] : items) {
    const ZSet* z = ZSetAt(ctx, key, &wrong);
    const double* current = z ? z->Score(member) : nullptr;
    if (current) {
      if (o.nx) {
        if (o.incr) return ctx.reply.NullBulk();
        continue;
      }
      if (o.incr) {
        score += *current;
        if (std::isnan(score)) return ctx.Error("ERR resulting score is not a number (NaN)");
      }
      if ((o.gt && score <= *current) || (o.lt && score >= *current)) {
        if (o.incr) return ctx.reply.NullBulk();
        continue;
      }
      if (score != *current) {
        ctx.db().ZAdd(key, member, score);
        changed++;
      }
    } else {
      if (o.xx) {
        if (o.incr) return ctx.reply.NullBulk();
        continue;
      }
      ctx.db().ZAdd(key, member, score);
      added++;
      // An RQ worker files a job whose run ended: the metrics count the run.
      bool finished;
      if (const Dialect* d = ctx.keyspace().dialects().MatchRegistry(key, &finished)) {
        ctx.db().RegistryRunEnded(*d, member, finished);
      }
    }
    if (o.incr) {
      if (added || changed) ctx.Notify(event::kZSet, "zincr", key);
      return ctx.reply.Double(score);
    }
  }
  if (added || changed) ctx.Notify(event::kZSet, "zadd", key);
  ctx.reply.Integer(o.ch ? added + changed : added);
}

size_t ParseZAddOptions(CommandContext& ctx, ZAddOptions* o, bool all) {
  size_t i = 2;
  for (; i < ctx.args.size(); i++) {
    if (ctx.Is(i, "NX")) {
      o->nx = true;
    } else if (ctx.Is(i, "XX")) {
      o->xx = true;
    } else if (ctx.Is(i, "CH")) {
      o->ch = true;
    } else if (all && ctx.Is(i, "GT")) {
      o->gt = true;
    } else if (all && ctx.Is(i, "LT")) {
      o->lt = true;
    } else if (all && ctx.Is(i, "INCR")) {
      o->incr = true;
    } else {
      break;
    }
  }
  return i;
}

namespace {

void ZAdd(CommandContext& ctx) {
  ZAddOptions o;
  size_t i = ParseZAddOptions(ctx, &o, true);
  size_t pairs_len = ctx.args.size() - i;
  if (pairs_len == 0 || pairs_len % 2 != 0) return ctx.Error(err::kSyntax);
  if (o.nx && o.xx) return ctx.Error("ERR XX and NX options at the same time are not compatible");
  if ((o.gt && o.nx) || (o.lt && o.nx) || (o.gt && o.lt)) {
    return ctx.Error("ERR GT, LT, and/or NX options at the same time are not compatible");
  }
  if (o.incr && pairs_len > 2) {
    return ctx.Error("ERR INCR option supports a single increment-element pair");
  }
  std::vector<std::pair<double, std::string_view>> items;
  for (size_t j = i; j < ctx.args.size(); j += 2) {
    double s;
    if (!ParseDouble(ctx.args[j], &s)) return ctx.Error(err::kNotFloat);
    items.emplace_back(s, ctx.args[j + 1]);
  }
  ZAddMembers(ctx, ctx.args[1], o, items);
}

void ZIncrBy(CommandContext& ctx) {
  auto delta = ctx.Double(2);
  if (!delta) return;
  bool wrong;
  const ZSet* z = ZSetAt(ctx, ctx.args[1], &wrong);
  if (wrong) return;
  const double* current = z ? z->Score(ctx.args[3]) : nullptr;
  double score = *delta + (current ? *current : 0);
  if (std::isnan(score)) return ctx.Error("ERR resulting score is not a number (NaN)");
  if (!current || score != *current) {
    ctx.db().ZAdd(ctx.args[1], ctx.args[3], score);
    ctx.Notify(event::kZSet, "zincr", ctx.args[1]);
  }
  ctx.reply.Double(score);
}

void ZRem(CommandContext& ctx) {
  ctx.ReplyCountOfEach(ValueType::kZSet, event::kZSet, "zrem",
                       [&](const std::string& key, const std::string& member) {
                         return ctx.db().ZRemove(key, member);
                       });
}

void ZCard(CommandContext& ctx) { ctx.ReplyLength(ValueType::kZSet); }

void ZScore(CommandContext& ctx) {
  bool wrong;
  const ZSet* z = ZSetAt(ctx, ctx.args[1], &wrong);
  if (wrong) return;
  const double* s = z ? z->Score(ctx.args[2]) : nullptr;
  s ? ctx.reply.Double(*s) : ctx.reply.NullBulk();
}

void ZMScore(CommandContext& ctx) {
  bool wrong;
  const ZSet* z = ZSetAt(ctx, ctx.args[1], &wrong);
  if (wrong) return;
  ctx.reply.Array(ctx.args.size() - 2);
  for (size_t i = 2; i < ctx.args.size(); i++) {
    const double* s = z ? z->Score(ctx.args[i]) : nullptr;
    s ? ctx.reply.Double(*s) : ctx.reply.NullBulk();
  }
}

void RankGeneric(CommandContext& ctx, bool rev) {
  bool wrong;
  const ZSet* z = ZSetAt(ctx, ctx.args[1], &wrong);
  if (wrong) return;
  const double* s = z ? z->Score(ctx.args[2]) : nullptr;
  if (!s) return ctx.reply.NullBulk();
  long long rank = static_cast<long long>(z->Rank(ctx.args[2], *s));
  ctx.reply.Integer(rev ? static_cast<long long>(z->size()) - 1 - rank : rank);
}
void ZRank(CommandContext& ctx) { RankGeneric(ctx, false); }
void ZRevRank(CommandContext& ctx) { RankGeneric(ctx, true); }

// Position of the first entry at or after `it` in ascending order.
size_t RankOf(const ZSet& z, ZSet::Iterator it) {
  return it == z.end() ? z.size() : z.Rank(it->second, it->first);
}

void ZCount(CommandContext& ctx) {
  auto r = ParseScoreRange(ctx, 2, 3);
  if (!r) return;
  bool wrong;
  const ZSet* z = ZSetAt(ctx, ctx.args[1], &wrong);
  if (wrong) return;
  if (!z) return ctx.reply.Integer(0);
  size_t lo = RankOf(*z, z->FirstAtOrAfter(r->min, r->min_ex));
  size_t hi = RankOf(*z, z->FirstAtOrAfter(r->max, !r->max_ex));
  ctx.reply.Integer(hi > lo ? static_cast<long long>(hi - lo) : 0);
}

void ZLexCount(CommandContext& ctx) {
  auto r = ParseLexRange(ctx, 2, 3);
  if (!r) return;
  bool wrong;
  const ZSet* z = ZSetAt(ctx, ctx.args[1], &wrong);
  if (wrong) return;
  ctx.reply.Integer(z ? static_cast<long long>(CollectByLex(*z, *r, false, 0, -1).size()) : 0);
}

enum class RangeBy { kRank, kScore, kLex };

struct RangeRequest {
  RangeBy by = RangeBy::kRank;
  bool rev = false;
  bool with_scores = false;
  long long offset = 0, limit = -1;
  // The parsed bounds; which one applies depends on `by`.
  long long start = 0, stop = 0;
  ScoreRange score;
  LexRange lex;
};

// Parses the range in args[first] and args[first+1] into `q` (Redis does this before it looks
// at the key, so argument errors win over WRONGTYPE). False after replying an error.
bool ParseRange(CommandContext& ctx, RangeRequest* q, size_t first) {
  // For reverse score/lex ranges the arguments come as max, min.
  size_t min_i = q->rev ? first + 1 : first, max_i = q->rev ? first : first + 1;
  switch (q->by) {
    case RangeBy::kRank: {
      auto start = ctx.Int(first);
      if (!start) return false;
      auto stop = ctx.Int(first + 1);
      if (!stop) return false;
      q->start = *start;
      q->stop = *stop;
      return true;
    }
    case RangeBy::kScore: {
      auto r = ParseScoreRange(ctx, min_i, max_i);
      if (r) q->score = *r;
      return r.has_value();
    }
    case RangeBy::kLex: {
      auto r = ParseLexRange(ctx, min_i, max_i);
      if (r) q->lex = *r;
      return r.has_value();
    }
  }
  return false;
}

std::vector<Item> CollectRange(const ZSet* z, const RangeRequest& q) {
  if (!z) return {};
  switch (q.by) {
    case RangeBy::kRank:
      return CollectByRank(*z, q.start, q.stop, q.rev);
    case RangeBy::kScore:
      return CollectByScore(*z, q.score, q.rev, q.offset, q.limit);
    case RangeBy::kLex:
      return CollectByLex(*z, q.lex, q.rev, q.offset, q.limit);
  }
  return {};
}

// Parses [BYSCORE|BYLEX] [REV] [LIMIT o c] [WITHSCORES] from args[from..]; `fixed` keeps the
// command's own BY/REV (ZRANGEBYSCORE etc. accept only WITHSCORES and LIMIT).
std::optional<RangeRequest> ParseRangeOptions(CommandContext& ctx, RangeRequest q, size_t from,
                                              bool fixed) {
  for (size_t i = from; i < ctx.args.size(); i++) {
    if (ctx.Is(i, "WITHSCORES") && !(fixed && q.by == RangeBy::kLex)) {
      q.with_scores = true;
    } else if (ctx.Is(i, "LIMIT") && i + 2 < ctx.args.size()) {
      auto o = ctx.Int(i + 1);
      if (!o) return std::nullopt;
      auto c = ctx.Int(i + 2);
      if (!c) return std::nullopt;
      q.offset = *o;
      q.limit = *c;
      i += 2;
    } else if (!fixed && ctx.Is(i, "BYSCORE")) {
      q.by = RangeBy::kScore;
    } else if (!fixed && ctx.Is(i, "BYLEX")) {
      q.by = RangeBy::kLex;
    } else if (!fixed && ctx.Is(i, "REV")) {
      q.rev = true;
    } else {
      ctx.Error(err::kSyntax);
      return std::nullopt;
    }
  }
  // As Redis checks it: a LIMIT whose count is -1 (everything) passes with a range by rank.
  if (q.limit != -1 && q.by == RangeBy::kRank) {
    ctx.Error(
        "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX");
    return std::nullopt;
  }
  if (q.with_scores && q.by == RangeBy::kLex) {
    ctx.Error("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
    return std::nullopt;
  }
  return q;
}

void RangeGeneric(CommandContext& ctx, RangeBy by, bool rev, bool fixed) {
  RangeRequest base;
  base.by = by;
  base.rev = rev;
  auto q = ParseRangeOptions(ctx, base, 4, fixed);
  if (!q || !ParseRange(ctx, &*q, 2)) return;
  bool wrong;
  const ZSet* z = ZSetAt(ctx, ctx.args[1], &wrong);
  if (!wrong) ReplyItems(ctx, CollectRange(z, *q), q->with_scores);
}
void ZRange(CommandContext& ctx) { RangeGeneric(ctx, RangeBy::kRank, false, false); }
void ZRevRange(CommandContext& ctx) { RangeGeneric(ctx, RangeBy::kRank, true, true); }
void ZRangeByScore(CommandContext& ctx) { RangeGeneric(ctx, RangeBy::kScore, false, true); }
void ZRevRangeByScore(CommandContext& ctx) { RangeGeneric(ctx, RangeBy::kScore, true, true); }
void ZRangeByLex(CommandContext& ctx) { RangeGeneric(ctx, RangeBy::kLex, false, true); }
void ZRevRangeByLex(CommandContext& ctx) { RangeGeneric(ctx, RangeBy::kLex, true, true); }

void ZRangeStore(CommandContext& ctx) {
  // ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT o c]
  auto q = ParseRangeOptions(ctx, {}, 5, false);
  if (!q) return;
  if (q->with_scores) return ctx.Error(err::kSyntax);
  if (!ParseRange(ctx, &*q, 3)) return;
  bool wrong;
  const ZSet* z = ZSetAt(ctx, ctx.args[2], &wrong);
  if (wrong) return;
  auto items = CollectRange(z, *q);
  ctx.StoreResult(event::kZSet, "zrangestore", ctx.args[1], items.empty(), [&] {
    for (const auto& [m, s] : items) ctx.db().ZAdd(ctx.args[1], m, s);
  });
  ctx.reply.Integer(static_cast<long long>(items.size()));
}

void RemRangeGeneric(CommandContext& ctx, RangeBy by, std::string_view event) {
  RangeRequest q;
  q.by = by;
  if (!ParseRange(ctx, &q, 2)) return;
  bool wrong;
  const ZSet* z = ZSetAt(ctx, ctx.args[1], &wrong);
  if (wrong) return;
  auto items = CollectRange(z, q);
  for (const auto& [m, s] : items) ctx.db().ZRemove(ctx.args[1], m);
  if (!items.empty()) ctx.NotifyWrite(event::kZSet, event, ctx.args[1]);
  ctx.reply.Integer(static_cast<long long>(items.size()));
}
void ZRemRangeByRank(CommandContext& ctx) {
  RemRangeGeneric(ctx, RangeBy::kRank, "zremrangebyrank");
}
void ZRemRangeByScore(CommandContext& ctx) {
  RemRangeGeneric(ctx, RangeBy::kScore, "zremrangebyscore");
}
void ZRemRangeByLex(CommandContext& ctx) { RemRangeGeneric(ctx, RangeBy::kLex, "zremrangebylex"); }

// Pops up to `count` lowest (or highest) members of `key`, which must exist.
std::vector<Item> PopItems(CommandContext& ctx, const std::string& key, bool min, long long count) {
  bool wrong;
  const ZSet* z = ZSetAt(ctx, key, &wrong);
  auto items = CollectByRank(*z, 0, count - 1, !min);
  for (const auto& [m, s] : items) ctx.db().ZRemove(key, m);
  if (!items.empty()) ctx.NotifyWrite(event::kZSet, min ? "zpopmin" : "zpopmax", key);
  return items;
}

void PopGeneric(CommandContext& ctx, bool min) {
  if (ctx.args.size() > 3) return ctx.Error(err::kSyntax);
  long long count = 1;
  bool has_count = ctx.args.size() == 3;
  if (has_count) {
    auto c = ctx.Int(2, err::kPositive);
    if (!c) return;
    if (*c < 0) return ctx.Error(err::kPositive);
    count = *c;
  }
  bool wrong;
  const ZSet* z = ZSetAt(ctx, ctx.args[1], &wrong);
  if (wrong) return;
  if (!z || count == 0) return ctx.reply.Array(0);
  auto items = PopItems(ctx, ctx.args[1], min, count);
  // RESP3 nests [member, score] pairs only when a count was given, as Redis 7.0 does.
  bool nested = ctx.reply.protocol() >= 3 && has_count;
  ctx.reply.Array(nested ? items.size() : items.size() * 2);
  for (const auto& [m, s] : items) {
    if (nested) ctx.reply.Array(2);
    ctx.reply.Bulk(m);
    ctx.reply.Double(s);
  }
}
void ZPopMin(CommandContext& ctx) { PopGeneric(ctx, true); }
void ZPopMax(CommandContext& ctx) { PopGeneric(ctx, false); }

void BPopGeneric(CommandContext& ctx, bool min) {
  auto deadline = ctx.TimeoutDeadline(ctx.args.size() - 1);
  if (!deadline) return;
  std::vector<std::string> keys(ctx.args.begin() + 1, ctx.args.end() - 1);
  for (const auto& key : keys) {
    bool wrong;
    const ZSet* z = ZSetAt(ctx, key, &wrong);
    if (wrong) return;
    if (!z) continue;
    auto items = PopItems(ctx, key, min, 1);
    ctx.reply.Array(3);
    ctx.reply.Bulk(key);
    ctx.reply.Bulk(items[0].first);
    ctx.reply.Double(items[0].second);
    return;
  }
  ctx.Block(keys, *deadline, TimeoutReply::kNullArray);
}
void BZPopMin(CommandContext& ctx) { BPopGeneric(ctx, true); }
void BZPopMax(CommandContext& ctx) { BPopGeneric(ctx, false); }

void MPopGeneric(CommandContext& ctx, size_t numkeys_index, int64_t deadline, bool blocking) {
  auto o = ParseMPopOptions(ctx, numkeys_index, "MIN", "MAX");
  if (!o) return;
  for (const auto& key : o->keys) {
    bool wrong;
    const ZSet* z = ZSetAt(ctx, key, &wrong);
    if (wrong) return;
    if (!z) continue;
    auto items = PopItems(ctx, key, o->from_first, o->count);
    ctx.reply.Array(2);
    ctx.reply.Bulk(key);
    ctx.reply.Array(items.size());
    for (const auto& [m, s] : items) {
      ctx.reply.Array(2);
      ctx.reply.Bulk(m);
      ctx.reply.Double(s);
    }
    return;
  }
  if (blocking) return ctx.Block(o->keys, deadline, TimeoutReply::kNullArray);
  ctx.reply.NullArray();
}
void ZMPop(CommandContext& ctx) { MPopGeneric(ctx, 1, 0, false); }
void BZMPop(CommandContext& ctx) {
  if (auto deadline = ctx.TimeoutDeadline(1)) MPopGeneric(ctx, 2, *deadline, true);
}

// ZUNIONSTORE / ZINTERSTORE / ZUNION / ZINTER: sets count as zsets with score 1.
// ZUNION, ZINTER, ZDIFF, their STORE forms and ZINTERCARD: numkeys key... and the options
// each takes, checked in Redis' order (the inputs' types before the options). Sets count as
// sorted sets whose members all score 1.
enum class Combine { kUnion, kInter, kDiff, kInterCard };

void CombineGeneric(CommandContext& ctx, Combine op, bool store) {
  size_t numkeys_i = store ? 2 : 1;
  long long numkeys;
  if (!ParseInt64(ctx.args[numkeys_i], &numkeys)) return ctx.Error(err::kNotInteger);
  if (numkeys < 1) {
    return ctx.Error("ERR at least 1 input key is needed for '" + Lower(ctx.args[0]) + "' command");
  }
  size_t first = numkeys_i + 1;
  if (static_cast<unsigned long long>(numkeys) > ctx.args.size() - first) {
    return ctx.Error(err::kSyntax);
  }
  size_t n = static_cast<size_t>(numkeys);
  // Each input as (member, score); a missing key is an empty input.
  std::vector<std::vector<Item>> inputs(n);
  for (size_t k = 0; k < n; k++) {
    const Value* v = ctx.db().Find(ctx.args[first + k]);
    if (!v) continue;
    if (v->type() == ValueType::kZSet) {
      for (const auto& e : v->zset()) inputs[k].emplace_back(e.second, e.first);
    } else if (v->type() == ValueType::kSet) {
      v->set().ForEach([&](std::string_view m, const Unit&) { inputs[k].emplace_back(m, 1.0); });
    } else {
      return ctx.Error(err::kWrongType);
    }
  }
  std::vector<double> weights(n, 1.0);
  enum { kSum, kMin, kMax } aggregate = kSum;
  bool with_scores = false, weighed = op == Combine::kUnion || op == Combine::kInter;
  long long limit = 0;  // ZINTERCARD: stop counting there (0: count all)
  for (size_t i = first + n; i < ctx.args.size(); i++) {
    size_t rest = ctx.args.size() - i;
    if (weighed && ctx.Is(i, "WEIGHTS") && rest >= n + 1) {
      for (size_t w = 0; w < n; w++) {
        if (!ParseDouble(ctx.args[i + 1 + w], &weights[w])) {
          return ctx.Error("ERR weight value is not a float");
        }
      }
      i += n;
    } else if (weighed && ctx.Is(i, "AGGREGATE") && rest >= 2) {
      i++;
      if (ctx.Is(i, "SUM")) {
        aggregate = kSum;
      } else if (ctx.Is(i, "MIN")) {
        aggregate = kMin;
      } else if (ctx.Is(i, "MAX")) {
        aggregate = kMax;
      } else {
        return ctx.Error(err::kSyntax);
      }
    } else if (!store && op != Combine::kInterCard && ctx.Is(i, "WITHSCORES")) {
      with_scores = true;
    } else if (op == Combine::kInterCard && ctx.Is(i, "LIMIT") && rest >= 2) {
      auto l = ctx.Int(++i, "ERR LIMIT can't be negative");
      if (!l) return;
      if (*l < 0) return ctx.Error("ERR LIMIT can't be negative");
      limit = *l;
    } else {
      return ctx.Error(err::kSyntax);
    }
  }
  auto combine = [&](double acc, double s) {
    double r = aggregate == kSum   ? acc + s
               : aggregate == kMin ? std::min(acc, s)
                                   : std::max(acc, s);
    return std::isnan(r) ? 0.0 : r;
  };
  auto weigh = [](double s, double w) {
    double r = s * w;
    return std::isnan(r) ? 0.0 : r;
  };
  std::vector<Item> result;
  if (op == Combine::kDiff) {
    std::set<std::string_view> others;
    for (size_t k = 1; k < n; k++) {
      for (const auto& item : inputs[k]) others.insert(item.first);
    }
    for (const auto& item : inputs[0]) {
      if (!others.contains(item.first)) result.push_back(item);
    }
  } else {
    std::map<std::string, std::pair<double, size_t>> acc;  // member -> (score, inputs seen)
    for (size_t k = 0; k < n; k++) {
      for (const auto& [m, s] : inputs[k]) {
        double ws = weigh(s, weights[k]);
        auto [it, inserted] = acc.emplace(m, std::make_pair(ws, size_t{1}));
        if (!inserted) {
          it->second.first = combine(it->second.first, ws);
          it->second.second++;
        }
      }
    }
    for (const auto& [m, sc] : acc) {
      if (op == Combine::kUnion || sc.second == n) result.emplace_back(m, sc.first);
    }
  }
  if (op == Combine::kInterCard) {
    auto count = static_cast<long long>(result.size());
    return ctx.reply.Integer(limit > 0 ? std::min(count, limit) : count);
  }
  std::sort(result.begin(), result.end(), [](const Item& a, const Item& b) {
    return a.second != b.second ? a.second < b.second : a.first < b.first;
  });
  if (!store) return ReplyItems(ctx, result, with_scores);
  std::string_view event = op == Combine::kUnion   ? "zunionstore"
                           : op == Combine::kInter ? "zinterstore"
                                                   : "zdiffstore";
  ctx.StoreResult(event::kZSet, event, ctx.args[1], result.empty(), [&] {
    for (const auto& [m, s] : result) ctx.db().ZAdd(ctx.args[1], m, s);
  });
  ctx.reply.Integer(static_cast<long long>(result.size()));
}
void ZUnionStore(CommandContext& ctx) { CombineGeneric(ctx, Combine::kUnion, true); }
void ZInterStore(CommandContext& ctx) { CombineGeneric(ctx, Combine::kInter, true); }
void ZDiffStore(CommandContext& ctx) { CombineGeneric(ctx, Combine::kDiff, true); }
void ZUnion(CommandContext& ctx) { CombineGeneric(ctx, Combine::kUnion, false); }
void ZInter(CommandContext& ctx) { CombineGeneric(ctx, Combine::kInter, false); }
void ZDiff(CommandContext& ctx) { CombineGeneric(ctx, Combine::kDiff, false); }
void ZInterCard(CommandContext& ctx) { CombineGeneric(ctx, Combine::kInterCard, false); }

void ZRandMember(CommandContext& ctx) {
  auto q = ParseRandomRequest(ctx, "WITHSCORES");
  if (!q) return;
  bool wrong;
  const ZSet* z = ZSetAt(ctx, ctx.args[1], &wrong);
  if (wrong) return;
  auto& rng = ctx.keyspace().rng();
  if (!q->has_count)
    return z ? ctx.reply.Bulk(z->scores().Random(rng)->key()) : ctx.reply.NullBulk();
  std::vector<Item> items;
  if (z) {
    std::vector<std::pair<std::string_view, const double*>> picks;
    if (!PickRandom(ctx, z->scores(), q->count, &picks)) return;
    for (const auto& [member, score] : picks) items.emplace_back(member, *score);
  }
  ReplyItems(ctx, items, q->with);
}

void ZScan(CommandContext& ctx) {
  if (!ParseScanCursor(ctx, 2)) return;
  bool wrong;
  const ZSet* z = ZSetAt(ctx, ctx.args[1], &wrong);
  if (!wrong)
    ReplyDictScan(ctx, z ? &z->scores() : nullptr,
                  [](std::string_view m, const double& score, std::vector<std::string>* out) {
                    out->emplace_back(m);
                    out->push_back(resp::FormatDouble(score));
                  });
}

}  // namespace

void RegisterZSetCommands(CommandRegistry* r) {
  using namespace cmd;
  KeySpec one{1, 1, 1}, blocking_keys{1, -2, 1}, store{1, 1, 1}, two{1, 2, 1};
  r->Group("sorted-set")
      .Add("zadd", -4, kWrite | kFast | kDenyOom, one, ZAdd, "Add members or update their scores")
      .Args("key [NX|XX] [GT|LT] [CH] [INCR] (score:double member)...")
      .Keys("RW UPDATE")
      .Add("zincrby", 4, kWrite | kFast | kDenyOom, one, ZIncrBy, "Increment a member's score")
      .Args("key increment:double member")
      .Keys("RW ACCESS UPDATE")
      .Add("zrem", -3, kWrite | kFast, one, ZRem, "Remove members")
      .Args("key member...")
      .Keys("RW DELETE")
      .Add("zcard", 2, kReadOnly | kFast, one, ZCard, "Number of members")
      .Args("key")
      .Keys("RO")
      .Add("zscore", 3, kReadOnly | kFast, one, ZScore, "A member's score")
      .Args("key member")
      .Add("zmscore", -3, kReadOnly | kFast, one, ZMScore, "Several members' scores")
      .Args("key member...")
      .Add("zrank", 3, kReadOnly | kFast, one, ZRank, "A member's rank, lowest first")
      .Args("key member")
      .Add("zrevrank", 3, kReadOnly | kFast, one, ZRevRank, "A member's rank, highest first")
      .Args("key member")
      .Add("zcount", 4, kReadOnly | kFast, one, ZCount, "Members within a score range")
      .Args("key min max")
      .Add("zlexcount", 4, kReadOnly | kFast, one, ZLexCount, "Members within a lex range")
      .Args("key min max")
      .Add("zrange", -4, kReadOnly, one, ZRange, "A range by rank, score or lex")
      .Args(
          "key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset:integer count:integer] [WITHSCORES]")
      .Add("zrangestore", -5, kWrite | kDenyOom, two, ZRangeStore, "Store a range")
      .Args("dst:key src:key min max [BYSCORE|BYLEX] [REV] [LIMIT offset:integer count:integer]")
      .Keys("OW UPDATE | RO ACCESS")
      .Add("zrevrange", -4, kReadOnly, one, ZRevRange, "A range by rank, highest first")
      .Args("key start:integer stop:integer [WITHSCORES]")
      .Add("zrangebyscore", -4, kReadOnly, one, ZRangeByScore, "A range by score")
      .Args("key min max [WITHSCORES] [LIMIT offset:integer count:integer]")
      .Add("zrevrangebyscore", -4, kReadOnly, one, ZRevRangeByScore, "A range by score, reversed")
      .Args("key max min [WITHSCORES] [LIMIT offset:integer count:integer]")
      .Add("zrangebylex", -4, kReadOnly, one, ZRangeByLex, "A range by lex")
      .Args("key min max [LIMIT offset:integer count:integer]")
      .Add("zrevrangebylex", -4, kReadOnly, one, ZRevRangeByLex, "A range by lex, reversed")
      .Args("key max min [LIMIT offset:integer count:integer]")
      .Add("zremrangebyrank", 4, kWrite, one, ZRemRangeByRank, "Remove a range by rank")
      .Args("key start:integer stop:integer")
      .Keys("RW DELETE")
      .Add("zremrangebyscore", 4, kWrite, one, ZRemRangeByScore, "Remove a range by score")
      .Args("key min max")
      .Keys("RW DELETE")
      .Add("zremrangebylex", 4, kWrite, one, ZRemRangeByLex, "Remove a range by lex")
      .Args("key min max")
      .Keys("RW DELETE")
      .Add("zpopmin", -2, kWrite | kFast, one, ZPopMin, "Remove and return the lowest members")
      .Args("key [count:integer]")
      .Keys("RW ACCESS DELETE")
      .Add("zpopmax", -2, kWrite | kFast, one, ZPopMax, "Remove and return the highest members")
      .Args("key [count:integer]")
      .Keys("RW ACCESS DELETE")
      .Add("bzpopmin", -3, kWrite | kBlocking | kFast, blocking_keys, BZPopMin, "Blocking ZPOPMIN")
      .Args("key... timeout:double")
      .Keys("RW ACCESS DELETE")
      .Add("bzpopmax", -3, kWrite | kBlocking | kFast, blocking_keys, BZPopMax, "Blocking ZPOPMAX")
      .Args("key... timeout:double")
      .Keys("RW ACCESS DELETE")
      .Add("zmpop", -4, kWrite, {}, ZMPop, "Pop from the first non-empty sorted set")
      .Args("numkeys:integer key... (MIN|MAX) [COUNT count:integer]")
      .Keys("RW ACCESS DELETE")
      .Add("bzmpop", -5, kWrite | kBlocking, {}, BZMPop, "Blocking ZMPOP")
      .Args("timeout:double numkeys:integer key... (MIN|MAX) [COUNT count:integer]")
      .Keys("RW ACCESS DELETE")
      .Add("zunionstore", -4, kWrite | kDenyOom, store, ZUnionStore, "Store a union")
      .Args(
          "destination:key numkeys:integer key... [WEIGHTS weight:integer...] [AGGREGATE "
          "SUM|MIN|MAX]")
      .Keys("OW UPDATE | RO ACCESS")
      .Add("zinterstore", -4, kWrite | kDenyOom, store, ZInterStore, "Store an intersection")
      .Args(
          "destination:key numkeys:integer key... [WEIGHTS weight:integer...] [AGGREGATE "
          "SUM|MIN|MAX]")
      .Keys("OW UPDATE | RO ACCESS")
      .Add("zunion", -3, kReadOnly, {}, ZUnion, "Union")
      .Args(
          "numkeys:integer key... [WEIGHTS weight:integer...] [AGGREGATE (SUM|MIN|MAX)] "
          "[WITHSCORES]")
      .Add("zinter", -3, kReadOnly, {}, ZInter, "Intersection")
      .Args(
          "numkeys:integer key... [WEIGHTS weight:integer...] [AGGREGATE (SUM|MIN|MAX)] "
          "[WITHSCORES]")
      .Add("zdiffstore", -4, kWrite | kDenyOom, store, ZDiffStore, "Store a difference")
      .Args("destination:key numkeys:integer key...")
      .Keys("OW UPDATE | RO ACCESS")
      .Add("zdiff", -3, kReadOnly, {}, ZDiff, "Members of the first sorted set not in the others")
      .Args("numkeys:integer key... [WITHSCORES]")
      .Add("zintercard", -3, kReadOnly, {}, ZInterCard, "Size of an intersection")
      .Args("numkeys:integer key... [LIMIT limit:integer]")
      .Add("zrandmember", -2, kReadOnly, one, ZRandMember, "Random members")
      .Args("key [count:integer [WITHSCORES]]")
      .Add("zscan", -3, kReadOnly, one, ZScan, "Iterate over members and scores")
      .Args("key cursor:integer [MATCH pattern:pattern] [COUNT count:integer]");
}

}  // namespace desaster
