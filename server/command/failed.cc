// FAILED.*: the failed store. Every failed job (resque's <ns>:failed pushes, native JOB.FAIL, a
// lost worker's last allowed run) is one record: its latest failure with error and backtrace,
// its earlier runs in a history. Records are grouped by fingerprint, searchable, and retried or
// removed singly, by id list, or for everything a query matches (including whole groups).
#include <algorithm>
#include <climits>
#include <map>

#include "server/command/context.h"
#include "server/command/registry.h"
#include "server/command/store_query.h"

namespace desaster {
namespace {

struct FailureQuery {
  std::optional<FailureState> state;
  std::string match, queue, klass, error_class;
  std::optional<uint64_t> fingerprint;
  std::optional<uint64_t> job;  // failures of this job, or that it retries
  int64_t since_ms = 0, until_ms = INT64_MAX;
  uint32_t min_attempt = 0, max_attempt = UINT32_MAX;
  RecordPaging paging;
};

constexpr std::string_view kSorts[] = {"failed_at", "queue", "class"};
enum Sort : size_t { kFailedAt, kQueue, kClass };

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
std::optional<FailureQuery> ParseFailureQuery(CommandContext& ctx, size_t first, bool paging) {
  FailureQuery q;
  bool ok = ReadStoreOptions(ctx, first, kSorts, paging ? &q.paging : nullptr, [&](size_t& i) {
    const std::string& v = ctx.args[i + 1];
    if (ctx.Is(i, "STATE")) {
      if (ctx.Is(i + 1, "ALL")) {
        q.state.reset();
      } else if (!(q.state = ParseFailureState(v))) {
        return ctx.Error("ERR STATE must be RETRYING, RETRIED, DEAD or ALL"), OptionRead::kError;
      }
    } else if (ctx.Is(i, "MATCH")) {
      q.match = v;
    } else if (ctx.Is(i, "QUEUE")) {
      q.queue = v;
    } else if (ctx.Is(i, "CLASS")) {
      q.klass = v;
    } else if (ctx.Is(i, "ERROR")) {
      q.error_class = v;
    } else if (ctx.Is(i, "FINGERPRINT") || ctx.Is(i, "JOB")) {
      bool job = ctx.Is(i, "JOB");
      uint64_t id;
      if (!ParseJobId(v, &id)) {
        ctx.Error(std::string(job ? "ERR invalid job id '" : "ERR invalid fingerprint '") + v +
                  "'");
        return OptionRead::kError;
      }
      (job ? q.job : q.fingerprint) = id;
    } else if (ctx.Is(i, "SINCE") || ctx.Is(i, "UNTIL")) {
      auto ms = ctx.OptionInt(i, 0);
      if (!ms) return OptionRead::kError;
      (ctx.Is(i, "SINCE") ? q.since_ms : q.until_ms) = *ms;
    } else if (ctx.Is(i, "ATTEMPT")) {
      auto range = ReadRange(ctx, i, ctx.args.size(), UINT32_MAX);
      if (!range) return OptionRead::kError;
      q.min_attempt = static_cast<uint32_t>(range->first);
      q.max_attempt = static_cast<uint32_t>(range->second);
      i++;
    } else {
      return OptionRead::kNone;
    }
    return OptionRead::kRead;
  });
  return ok ? std::optional(q) : std::nullopt;
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
  r.Map(18);
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
  r.FieldOrNull("started_at", f.started_at_ms);
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
    r.Map(6);
    r.Field("attempt", a.attempt);
    r.FieldOrNull("started_at", a.started_at_ms);
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
  auto q = ParseFailureQuery(ctx, 1, true);
  if (!q) return;
  const auto& all = ctx.db().failures();
  if (Unfiltered(*q) && q->paging.sort == kFailedAt && !ctx.KeysRestricted()) {
    // Ids follow failure time: a page is a walk from either end.
    return ReplyPage(ctx, all.size(), WalkPage<const Failure*>(all, q->paging, [](const auto& e) {
                       return &e.second;
                     }));
  }
  std::vector<const Failure*> rows = Select(ctx, *q, false);
  size_t total = rows.size(), sort = q->paging.sort;
  ReplyPage(ctx, total, SortedPage(std::move(rows), q->paging, [sort](const Failure* f) {
              std::string_view text = sort == kQueue   ? std::string_view(f->queue)
                                      : sort == kClass ? std::string_view(f->klass)
                                                       : std::string_view();
              return std::tuple(text, f->failed_at_ms, f->id);
            }));
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
  auto q = ParseFailureQuery(ctx, 3, false);
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
  return RecordTargets(
      ctx, "failure",
      [&](uint64_t id) {
        const Failure* f = ctx.db().FindFailure(id);
        return f ? &f->queue : nullptr;
      },
      [&]() -> std::optional<std::vector<uint64_t>> {
        auto q = ParseFailureQuery(ctx, 2, false);
        if (!q) return std::nullopt;
        std::vector<uint64_t> ids;
        for (const Failure* f : Select(ctx, *q, true)) ids.push_back(f->id);
        return ids;
      });
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
