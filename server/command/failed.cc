// FAILED.*: the failed store. Every failed job (resque's <ns>:failed pushes, native JOB.FAIL, a
// lost worker's last allowed run) is one record: its latest failure with error and backtrace,
// its earlier runs in a history. Records are grouped by fingerprint, searchable, and retried or
// removed singly, by id list, or for everything a query matches (including whole groups).
#include <algorithm>
#include <climits>
#include <map>

#include "server/command/context.h"
#include "server/command/registry.h"

namespace desaster {
namespace {

struct FailureQuery {
  std::optional<FailureState> state;
  std::string match, queue, klass, error_class;
  std::optional<uint64_t> fingerprint;
  std::optional<uint64_t> job;  // failures of this job, or that it retries
  int64_t since_ms = 0, until_ms = INT64_MAX;
  uint32_t min_attempt = 0, max_attempt = UINT32_MAX;
  enum class Sort { kFailedAt, kQueue, kClass } sort = Sort::kFailedAt;
  bool descending = true;  // newest first
  size_t offset = 0, limit = 100;
};

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

bool Matches(const FailureQuery& q, const Failure& f) {
  if (q.state && f.state != *q.state) return false;
  if (f.failed_at_ms < q.since_ms || f.failed_at_ms > q.until_ms) return false;
  if (f.attempt < q.min_attempt || f.attempt > q.max_attempt) return false;
  if (!q.queue.empty() && f.queue != q.queue) return false;
  if (!q.klass.empty() && f.klass != q.klass) return false;
  if (!q.error_class.empty() && f.error_class != q.error_class) return false;
  if (q.fingerprint && f.Fingerprint() != *q.fingerprint) return false;
  if (q.job && f.job != *q.job && f.retry_job != *q.job) return false;
  if (!q.match.empty() && !Contains(f.klass, q.match) && !Contains(f.args, q.match) &&
      !Contains(f.message, q.match) && !Contains(f.backtrace, q.match) &&
      !Contains(f.error_class, q.match)) {
    return false;
  }
  return true;
}

std::string FormatFingerprint(uint64_t fp) { return FormatJobId(fp); }

// Filters from args[first] on; with `paging` also SORT, OFFSET, LIMIT.
std::optional<FailureQuery> ParseFailureQuery(CommandContext& ctx, size_t first, size_t end,
                                              bool paging) {
  FailureQuery q;
  const auto& a = ctx.args;
  for (size_t i = first; i < end; i++) {
    if (i + 1 >= end) return ctx.Error(err::kSyntax), std::nullopt;
    const std::string& v = a[i + 1];
    if (ctx.Is(i, "STATE")) {
      if (ctx.Is(i + 1, "ALL")) {
        q.state.reset();
      } else if (!(q.state = ParseFailureState(v))) {
        return ctx.Error("ERR STATE must be RETRYING, RETRIED, DEAD or ALL"), std::nullopt;
      }
    } else if (ctx.Is(i, "MATCH")) {
      q.match = v;
    } else if (ctx.Is(i, "QUEUE")) {
      q.queue = v;
    } else if (ctx.Is(i, "CLASS")) {
      q.klass = v;
    } else if (ctx.Is(i, "ERROR")) {
      q.error_class = v;
    } else if (ctx.Is(i, "FINGERPRINT")) {
      uint64_t fp;
      if (!ParseJobId(v, &fp))
        return ctx.Error("ERR invalid fingerprint '" + v + "'"), std::nullopt;
      q.fingerprint = fp;
    } else if (ctx.Is(i, "JOB")) {
      uint64_t id;
      if (!ParseJobId(v, &id)) return ctx.Error("ERR invalid job id '" + v + "'"), std::nullopt;
      q.job = id;
    } else if (ctx.Is(i, "SINCE") || ctx.Is(i, "UNTIL")) {
      auto ms = ctx.OptionInt(i, 0);
      if (!ms) return std::nullopt;
      (ctx.Is(i, "SINCE") ? q.since_ms : q.until_ms) = *ms;
    } else if (ctx.Is(i, "ATTEMPT")) {
      long long lo, hi;
      if (i + 2 >= end || !ParseInt64(a[i + 1], &lo) || !ParseInt64(a[i + 2], &hi) || lo < 0 ||
          hi < lo || hi > UINT32_MAX) {
        return ctx.Error("ERR ATTEMPT takes min max (0 <= min <= max)"), std::nullopt;
      }
      q.min_attempt = static_cast<uint32_t>(lo);
      q.max_attempt = static_cast<uint32_t>(hi);
      i++;
    } else if (paging && ctx.Is(i, "SORT")) {
      std::string s = Lower(v);
      if (s == "failed_at") {
        q.sort = FailureQuery::Sort::kFailedAt;
      } else if (s == "queue") {
        q.sort = FailureQuery::Sort::kQueue;
      } else if (s == "class") {
        q.sort = FailureQuery::Sort::kClass;
      } else {
        return ctx.Error("ERR SORT must be FAILED_AT, QUEUE or CLASS"), std::nullopt;
      }
      q.descending = false;
      if (i + 2 < end && (ctx.Is(i + 2, "ASC") || ctx.Is(i + 2, "DESC"))) {
        q.descending = ctx.Is(i + 2, "DESC");
        i++;
      }
    } else if (paging && ctx.Is(i, "OFFSET")) {
      auto n = ctx.OptionInt(i, 0);
      if (!n) return std::nullopt;
      q.offset = static_cast<size_t>(*n);
    } else if (paging && ctx.Is(i, "LIMIT")) {
      auto n = ctx.OptionInt(i, 0, 10000);
      if (!n) return std::nullopt;
      q.limit = static_cast<size_t>(*n);
    } else {
      return ctx.Error("ERR unknown option '" + a[i] + "'"), std::nullopt;
    }
    i++;
  }
  return q;
}

// The failures of `q` whose queue the client's user may read (`write`: write).
std::vector<const Failure*> Select(CommandContext& ctx, const FailureQuery& q, bool write) {
  std::vector<const Failure*> out;
  for (const auto& [id, f] : ctx.db().failures()) {
    if (Matches(q, f) && ctx.MayAccess(f.queue, write)) out.push_back(&f);
  }
  return out;
}

void ReplyFailure(CommandContext& ctx, const Failure& f) {
  auto& r = ctx.reply;
  r.Map(17);
  r.Field("id", FormatJobId(f.id));
  r.Field("state", FailureStateName(f.state));
  for (auto [name, value] : {std::pair<const char*, const std::string*>{"queue", &f.queue},
                             {"class", &f.klass},
                             {"args", &f.args},
                             {"payload", &f.payload},
                             {"error", &f.error_class},
                             {"message", &f.message},
                             {"backtrace", &f.backtrace},
                             {"worker", &f.worker}}) {
    r.Field(name, *value);
  }
  r.Field("failed_at", f.failed_at_ms);
  r.Field("attempt", f.attempt);
  r.Field("fingerprint", FormatFingerprint(f.Fingerprint()));
  r.Bulk("retry_job");
  f.retry_job ? r.Bulk(FormatJobId(f.retry_job)) : r.NullBulk();
  r.FieldOrNull("retry_at", f.retry_job ? f.retry_at_ms : 0);  // when its retry was (is) due
  r.Bulk("job");
  f.job ? r.Bulk(FormatJobId(f.job)) : r.NullBulk();
  r.Bulk("history");  // the job's earlier failed runs, oldest first
  r.Array(f.history.size());
  for (const Failure::Attempt& a : f.history) {
    r.Map(5);
    r.Field("attempt", a.attempt);
    r.Field("failed_at", a.failed_at_ms);
    r.Field("error", a.error_class);
    r.Field("message", a.message);
    r.Field("worker", a.worker);
  }
}

bool Unfiltered(const FailureQuery& q) {
  return !q.state && q.match.empty() && q.queue.empty() && q.klass.empty() &&
         q.error_class.empty() && !q.fingerprint && !q.job && q.since_ms == 0 &&
         q.until_ms == INT64_MAX && q.min_attempt == 0 && q.max_attempt == UINT32_MAX;
}

void ReplyPage(CommandContext& ctx, size_t total, const std::vector<const Failure*>& page) {
  ctx.reply.Map(2);
  ctx.reply.Field("total", total);
  ctx.reply.Bulk("failures");
  ctx.reply.Array(page.size());
  for (const Failure* f : page) ReplyFailure(ctx, *f);
}

// FAILED.COUNTS: failures by state, kept as they change (a dashboard asks every second).
void FailedCounts(CommandContext& ctx) {
  const Database& db = ctx.db();
  ctx.reply.Map(4);
  ctx.reply.Field("total", db.failures().size());
  for (FailureState s : {FailureState::kRetrying, FailureState::kRetried, FailureState::kDead}) {
    ctx.reply.Field(FailureStateName(s), db.FailureCount(s));
  }
}

void FailedList(CommandContext& ctx) {
  auto q = ParseFailureQuery(ctx, 1, ctx.args.size(), true);
  if (!q) return;
  const auto& all = ctx.db().failures();
  if (Unfiltered(*q) && q->sort == FailureQuery::Sort::kFailedAt && !ctx.KeysRestricted()) {
    // Ids follow failure time: a page is a walk from either end.
    std::vector<const Failure*> page;
    auto take = [&](auto begin, auto end) {
      size_t skip = q->offset;
      for (auto it = begin; it != end && page.size() < q->limit; ++it) {
        if (skip > 0) {
          skip--;
          continue;
        }
        page.push_back(&it->second);
      }
    };
    q->descending ? take(all.rbegin(), all.rend()) : take(all.begin(), all.end());
    return ReplyPage(ctx, all.size(), page);
  }
  std::vector<const Failure*> rows = Select(ctx, *q, false);
  auto key = [&](const Failure* f) -> std::tuple<const std::string&, int64_t, uint64_t> {
    static const std::string none;
    const std::string& text = q->sort == FailureQuery::Sort::kQueue   ? f->queue
                              : q->sort == FailureQuery::Sort::kClass ? f->klass
                                                                      : none;
    return {text, f->failed_at_ms, f->id};
  };
  size_t end = std::min(rows.size(), q->offset + q->limit);
  if (q->offset < rows.size()) {
    std::partial_sort(rows.begin(), rows.begin() + static_cast<ptrdiff_t>(end), rows.end(),
                      [&](const Failure* x, const Failure* y) {
                        return q->descending ? key(y) < key(x) : key(x) < key(y);
                      });
  }
  std::vector<const Failure*> page;
  for (size_t i = q->offset; i < end; i++) page.push_back(rows[i]);
  ReplyPage(ctx, rows.size(), page);
}

void FailedInfo(CommandContext& ctx) {
  uint64_t id;
  if (!ParseJobId(ctx.args[1], &id))
    return ctx.Error("ERR invalid failure id '" + ctx.args[1] + "'");
  const Failure* f = ctx.db().FindFailure(id);
  f&& ctx.MayAccess(f->queue, false) ? ReplyFailure(ctx, *f) : ctx.reply.NullBulk();
}

// FAILED.GROUPS BY queue|class|fingerprint [filters]: one row per group, biggest first.
void FailedGroups(CommandContext& ctx) {
  if (ctx.args.size() < 3 || !ctx.Is(1, "BY")) return ctx.Error(err::kSyntax);
  enum { kQueue, kClass, kFingerprint } by;
  if (ctx.Is(2, "QUEUE")) {
    by = kQueue;
  } else if (ctx.Is(2, "CLASS")) {
    by = kClass;
  } else if (ctx.Is(2, "FINGERPRINT")) {
    by = kFingerprint;
  } else {
    return ctx.Error("ERR BY must be QUEUE, CLASS or FINGERPRINT");
  }
  auto q = ParseFailureQuery(ctx, 3, ctx.args.size(), false);
  if (!q) return;
  struct Group {
    size_t count = 0;
    const Failure* first = nullptr;  // oldest
    const Failure* last = nullptr;   // newest
  };
  std::map<std::string, Group> groups;
  for (const Failure* f : Select(ctx, *q, false)) {
    std::string key = by == kQueue   ? f->queue
                      : by == kClass ? f->klass
                                     : FormatFingerprint(f->Fingerprint());
    Group& g = groups[key];
    g.count++;
    if (!g.first) g.first = f;  // failures are visited oldest first
    g.last = f;
  }
  std::vector<std::pair<const std::string*, const Group*>> order;
  for (const auto& [key, g] : groups) order.emplace_back(&key, &g);
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return a.second->count > b.second->count; });
  auto& r = ctx.reply;
  r.Array(order.size());
  for (const auto& [key, g] : order) {
    const Failure& last = *g->last;
    r.Map(9);
    r.Field("group", *key);
    r.Field("count", g->count);
    r.Field("first_failed_at", g->first->failed_at_ms);
    r.Field("last_failed_at", last.failed_at_ms);
    // What the newest failure of the group says: the group's face in a UI.
    r.Field("queue", last.queue);
    r.Field("class", last.klass);
    r.Field("error", last.error_class);
    r.Field("message", last.message);
    r.Field("fingerprint", FormatFingerprint(last.Fingerprint()));
  }
}

// The failures an action applies to: "id [id ...]" or "WHERE [filters]".
std::optional<std::vector<uint64_t>> Targets(CommandContext& ctx) {
  std::vector<uint64_t> ids;
  if (ctx.Is(1, "WHERE")) {
    auto q = ParseFailureQuery(ctx, 2, ctx.args.size(), false);
    if (!q) return std::nullopt;
    for (const Failure* f : Select(ctx, *q, true)) ids.push_back(f->id);
    return ids;
  }
  for (size_t i = 1; i < ctx.args.size(); i++) {
    uint64_t id;
    if (!ParseJobId(ctx.args[i], &id)) {
      return ctx.Error("ERR invalid failure id '" + ctx.args[i] + "'"), std::nullopt;
    }
    const Failure* f = ctx.db().FindFailure(id);
    if (f && ctx.MayAccess(f->queue, true)) ids.push_back(id);
  }
  return ids;
}

template <class Action>
void ForEachTarget(CommandContext& ctx, Action action) {
  auto ids = Targets(ctx);
  if (!ids) return;
  long long n = 0;
  for (uint64_t id : *ids) {
    if (Failure* f = ctx.db().FindFailure(id); f && action(f)) n++;
  }
  ctx.reply.Integer(n);
}

void FailedRetry(CommandContext& ctx) {
  ForEachTarget(ctx, [&](Failure* f) { return ctx.db().RetryFailure(f); });
}
void FailedCancel(CommandContext& ctx) {
  ForEachTarget(ctx, [&](Failure* f) { return ctx.db().CancelRetry(f); });
}
void FailedRemove(CommandContext& ctx) {
  ForEachTarget(ctx, [&](Failure* f) {
    ctx.db().RemoveFailure(f);
    return true;
  });
}

}  // namespace

void RegisterFailedCommands(CommandRegistry* r) {
  using namespace cmd;
  const std::string filters =
      "[STATE (RETRYING|RETRIED|DEAD|ALL)] [MATCH text] [QUEUE queue:key] [CLASS class] [ERROR "
      "error] [FINGERPRINT fingerprint] [JOB job] [SINCE ms:integer] [UNTIL ms:integer] "
      "[ATTEMPT min:integer max:integer]";
  const std::string targets = "(id...|WHERE " + filters + ")";
  r->Group("failed")
      .Add("failed.counts", 1, kReadOnly | kFast, {}, FailedCounts,
           "How many failures there are: total, retrying, retried, dead")
      .Args("")
      .Add("failed.list", -1, kReadOnly, {}, FailedList, "Search, sort and page failures")
      .Args(filters +
            " [SORT (FAILED_AT|QUEUE|CLASS) [ASC|DESC]] [OFFSET offset:integer] [LIMIT "
            "limit:integer]")
      .Add("failed.info", 2, kReadOnly, {}, FailedInfo, "One failure by id")
      .Args("id")
      .Add("failed.groups", -3, kReadOnly, {}, FailedGroups,
           "Failure counts by queue, class or fingerprint, biggest group first")
      .Args("BY (QUEUE|CLASS|FINGERPRINT) " + filters)
      .Add("failed.retry", -2, kWrite, {}, FailedRetry, "Push failed jobs back to their queues now")
      .Args(targets)
      .Keys("RW INSERT")
      .Add("failed.cancel", -2, kWrite, {}, FailedCancel,
           "Cancel pending retries (the failures become dead)")
      .Args(targets)
      .Keys("RW DELETE")
      .Add("failed.remove", -2, kWrite, {}, FailedRemove,
           "Delete failures (with any pending retry)")
      .Args(targets)
      .Keys("RW DELETE");
}

}  // namespace desaster
