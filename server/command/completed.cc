// COMPLETED.*: the completed store. Every job a native worker finished with success (JOB.ACK),
// and every job a resque or RQ worker reported processed, is kept, durably, up to completed-max
// jobs and for completed-ttl seconds: searchable and sortable like the failed store, shown with its
// whole life by JOB.INFO, and run again or removed singly, by id list, or for everything a query
// matches.
#include "server/command/completed.h"

#include <climits>
#include <tuple>
#include <unordered_set>

#include "compat/dialect.h"
#include "server/command/registry.h"
#include "server/command/store_query.h"

namespace desaster {
namespace {

constexpr std::string_view kSorts[] = {"finished_at", "duration", "wait", "queue", "class"};
enum Sort : size_t { kFinishedAt, kDuration, kWait, kQueue, kClass };

struct CompletionQuery {
  std::string match, queue, klass, worker;
  int64_t since_ms = 0, until_ms = INT64_MAX;  // when it finished
  int64_t min_duration_ms = 0, max_duration_ms = INT64_MAX;
  RecordPaging paging;

  bool filtered() const {
    return !match.empty() || !queue.empty() || !klass.empty() || !worker.empty() || since_ms != 0 ||
           until_ms != INT64_MAX || min_duration_ms != 0 || max_duration_ms != INT64_MAX;
  }
};

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// `archived_hits`: the archived completions whose payload or result holds q.match.
bool Matches(const CompletionQuery& q, const Completion& c,
             const std::unordered_set<uint64_t>& archived_hits) {
  if (c.finished_ms < q.since_ms || c.finished_ms > q.until_ms) return false;
  if (c.duration_ms() < q.min_duration_ms || c.duration_ms() > q.max_duration_ms) return false;
  if (!q.queue.empty() && c.queue != q.queue) return false;
  if (!q.klass.empty() && c.klass != q.klass) return false;
  if (!q.worker.empty() && c.worker != q.worker) return false;
  return q.match.empty() || FormatJobId(c.job) == q.match || Contains(c.klass, q.match) ||
         Contains(c.worker, q.match) ||
         (c.archived ? archived_hits.contains(c.job) : c.BodyContains(q.match));
}

// Into *hits, the archived completions of the client's database whose payload or result holds
// q.match. They are on disk: a helper thread searches them while the client waits, and the
// command runs again once it is done (false: the client waits, nothing was replied). MULTI and
// scripts cannot wait: they search here.
bool FindArchivedHits(CommandContext& ctx, const CompletionQuery& q,
                      std::unordered_set<uint64_t>* hits) {
  Database& db = ctx.db();
  if (q.match.empty() || db.archived_completions() == 0) return true;
  CompletionArchive* archive = ctx.server.keyspace.completion_archive();
  if (ctx.block_mode == BlockMode::kNever) {
    *hits = SearchArchive(*archive, db.stored_as(), q.match, std::atomic<bool>(false));
    return true;
  }
  // Each search reads the whole store: a few run at a time, and the clients of any more wait
  // for a turn (they run again whenever a search is done or dropped).
  constexpr size_t kMaxSearches = 2;
  auto& searches = ctx.server.completed_searches;
  auto it = searches.find(ctx.client.id);
  if (it != searches.end() && it->second->Searches(db.stored_as(), q.match)) {
    if (it->second->Ready()) {
      *hits = it->second->TakeHits();
      searches.erase(it);
      return true;
    }
  } else if (it != searches.end() || searches.size() < kMaxSearches) {
    searches[ctx.client.id] = std::make_unique<CompletionSearch>(archive, db.stored_as(), q.match,
                                                                 ctx.server.completed_search_done);
  }
  ctx.Block({std::string(kCompletedSearchKey)}, 0, TimeoutReply::kNullArray);
  return false;
}

// Filters from args[first] on; with `paging` also SORT, OFFSET, LIMIT.
std::optional<CompletionQuery> ParseCompletionQuery(CommandContext& ctx, size_t first,
                                                    bool paging) {
  CompletionQuery q;
  bool ok = ReadStoreOptions(ctx, first, kSorts, paging ? &q.paging : nullptr, [&](size_t& i) {
    const std::string& v = ctx.args[i + 1];
    if (ctx.Is(i, "MATCH")) {
      q.match = v;
    } else if (ctx.Is(i, "QUEUE")) {
      q.queue = v;
    } else if (ctx.Is(i, "CLASS")) {
      q.klass = v;
    } else if (ctx.Is(i, "WORKER")) {
      q.worker = v;
    } else if (ctx.Is(i, "SINCE") || ctx.Is(i, "UNTIL")) {
      auto ms = ctx.OptionInt(i, 0);
      if (!ms) return OptionRead::kError;
      (ctx.Is(i, "SINCE") ? q.since_ms : q.until_ms) = *ms;
    } else if (ctx.Is(i, "DURATION")) {
      auto range = ReadRange(ctx, i, ctx.args.size(), LLONG_MAX, " in ms");
      if (!range) return OptionRead::kError;
      std::tie(q.min_duration_ms, q.max_duration_ms) = *range;
      i++;
    } else {
      return OptionRead::kNone;
    }
    return OptionRead::kRead;
  });
  return ok ? std::optional(q) : std::nullopt;
}

// The completions `q` matches whose queue the client's user may read (`write`: write); nullopt
// while the client waits for a search (FindArchivedHits).
std::optional<std::vector<const Completion*>> Select(CommandContext& ctx, const CompletionQuery& q,
                                                     bool write) {
  std::unordered_set<uint64_t> archived_hits;
  if (!FindArchivedHits(ctx, q, &archived_hits)) return std::nullopt;
  std::vector<const Completion*> out;
  Database& db = ctx.db();
  for (const auto& [finished, id] : db.completion_order()) {
    const Completion* c = db.FindCompletion(id);
    if (Matches(q, *c, archived_hits) && ctx.MayAccess(c->queue, write)) out.push_back(c);
  }
  return out;
}

// The completion's fields; `extra` more fields follow (JOB.INFO's state and runs).
void ReplyCompletion(CommandContext& ctx, const Completion& indexed, size_t extra = 0) {
  Completion scratch;
  const Completion* whole = ctx.db().WithBody(indexed, &scratch);
  const Completion& c = whole ? *whole : indexed;  // (a body not found shows empty)
  auto& r = ctx.reply;
  r.Map(14 + extra);
  r.Field("id", FormatJobId(c.job));
  r.Field("queue", c.queue);
  r.Field("class", c.klass);
  r.Field("args", ParsePayload(c.payload).args);
  for (auto [name, value] : {std::pair<const char*, const std::string*>{"payload", &c.payload},
                             {"worker", &c.worker},
                             {"result", &c.result}}) {
    r.Field(name, *value);
  }
  r.FieldOrNull("enqueued_at", c.enqueued_ms);
  r.Field("started_at", c.started_ms);
  r.Field("finished_at", c.finished_ms);
  r.Field("duration", c.duration_ms());
  r.FieldOrNull("wait", c.wait_ms());  // in its queue before the run that succeeded
  r.Field("attempt", c.attempt);
  r.Field("redacted", c.redacted ? 1 : 0);
}

void CompletedList(CommandContext& ctx) {
  auto q = ParseCompletionQuery(ctx, 1, true);
  if (!q) return;
  Database& db = ctx.db();
  std::vector<const Completion*> page;
  size_t total;
  if (!q->filtered() && q->paging.sort == kFinishedAt && !ctx.KeysRestricted()) {
    // The store keeps them in finishing order: a page is a walk from either end.
    total = db.completion_order().size();
    page = WalkPage<const Completion*>(db.completion_order(), q->paging, [&](const auto& entry) {
      return db.FindCompletion(entry.second);
    });
  } else {
    std::optional<std::vector<const Completion*>> rows = Select(ctx, *q, false);
    if (!rows) return;  // waits for a search
    total = rows->size();
    size_t sort = q->paging.sort;
    page = SortedPage(std::move(*rows), q->paging, [sort](const Completion* c) {
      std::string_view text = sort == kQueue   ? std::string_view(c->queue)
                              : sort == kClass ? std::string_view(c->klass)
                                               : std::string_view();
      int64_t number = sort == kDuration ? c->duration_ms()
                       : sort == kWait   ? c->wait_ms().value_or(-1)  // unknown: first
                                         : c->finished_ms;
      return std::tuple(text, number, c->finished_ms, c->job);
    });
  }
  ctx.reply.Map(2);
  ctx.reply.Field("total", total);
  ctx.reply.Bulk("jobs");
  ctx.reply.Array(page.size());
  for (const Completion* c : page) ReplyCompletion(ctx, *c);
}

void CompletedInfo(CommandContext& ctx) {
  uint64_t id;
  if (!ParseJobId(ctx.args[1], &id)) return ctx.Error("ERR invalid job id '" + ctx.args[1] + "'");
  const Completion* c = ctx.db().FindCompletion(id);
  c&& ctx.MayAccess(c->queue, false) ? ReplyCompletion(ctx, *c) : ctx.reply.NullBulk();
}

// The completions an action applies to: "id [id ...]" or "WHERE [filters]"; nullopt after an
// error, or while the client waits for a search.
std::optional<std::vector<uint64_t>> Targets(CommandContext& ctx) {
  return RecordTargets(
      ctx, "job",
      [&](uint64_t id) {
        const Completion* c = ctx.db().FindCompletion(id);
        return c ? &c->queue : nullptr;
      },
      [&]() -> std::optional<std::vector<uint64_t>> {
        auto q = ParseCompletionQuery(ctx, 2, false);
        if (!q) return std::nullopt;
        auto selected = Select(ctx, *q, true);
        if (!selected) return std::nullopt;  // waits for a search
        std::vector<uint64_t> ids;
        for (const Completion* c : *selected) ids.push_back(c->job);
        return ids;
      });
}

// COMPLETED.RERUN: each job is pushed to its queue again as a new job (the completion stays).
// A redacted payload lost its secrets, so it cannot run again: named, it is an error; matched
// by WHERE, it is skipped.
void CompletedRerun(CommandContext& ctx) {
  auto ids = Targets(ctx);
  if (!ids) return;
  Database& db = ctx.db();
  bool listed = !ctx.Is(1, "WHERE");
  for (uint64_t id : *ids) {
    if (listed && db.FindCompletion(id)->redacted) {
      return ctx.Error("ERR job " + FormatJobId(id) +
                       " was stored with its secrets redacted: it cannot run again");
    }
  }
  std::vector<std::string> pushed;
  for (uint64_t id : *ids) {
    if (Job* job = db.RerunCompletion(*db.FindCompletion(id)))
      pushed.push_back(FormatJobId(job->id));
  }
  ctx.reply.Array(pushed.size());
  for (const std::string& id : pushed) ctx.reply.Bulk(id);
}

void CompletedRemove(CommandContext& ctx) {
  auto ids = Targets(ctx);
  if (!ids) return;
  for (uint64_t id : *ids) ctx.db().RemoveCompletion(id);
  ctx.reply.Integer(static_cast<long long>(ids->size()));
}

// The runs of a job: those its failure record holds (oldest first), then the one that succeeded.
void ReplyRuns(CommandContext& ctx, const Failure* f, const Completion* c) {
  auto& r = ctx.reply;
  r.Array((f ? f->history.size() + 1 : 0) + (c ? 1 : 0));
  auto run = [&](uint32_t attempt, int64_t started, int64_t finished, std::string_view worker,
                 std::string_view outcome, std::string_view message) {
    r.Map(7);
    r.Field("attempt", attempt);
    r.FieldOrNull("started_at", started);  // unknown for runs a resque worker reported
    r.Field("finished_at", finished);
    r.FieldOrNull("duration", started ? std::optional(finished - started) : std::nullopt);
    r.Field("worker", worker);
    r.Field("outcome", outcome);
    r.Field("message", message);
  };
  if (f) {
    for (const Failure::Attempt& a : f->history) {
      run(a.attempt, a.started_at_ms, a.failed_at_ms, a.worker, a.error_class, a.message);
    }
    run(f->attempt, f->started_at_ms, f->failed_at_ms, f->worker, f->error_class, f->message);
  }
  if (c) run(c->attempt, c->started_ms, c->finished_ms, c->worker, "done", "");
}

}  // namespace

bool ReplyFinishedJob(CommandContext& ctx, uint64_t id) {
  Database& db = ctx.db();
  const Failure* f = db.FailureOfJob(id);
  if (const Completion* c = db.FindCompletion(id); c && ctx.MayAccess(c->queue, false)) {
    ReplyCompletion(ctx, *c, 2);
    ctx.reply.Field("state", "done");
    ctx.reply.Bulk("runs");
    ReplyRuns(ctx, f, c);
    return true;
  }
  if (!f || f->state != FailureState::kDead || !ctx.MayAccess(f->queue, false)) return false;
  auto& r = ctx.reply;
  r.Map(11);
  r.Field("id", FormatJobId(id));
  r.Field("state", "failed");
  for (auto [name, value] : {std::pair<const char*, const std::string*>{"queue", &f->queue},
                             {"class", &f->klass},
                             {"payload", &f->payload},
                             {"worker", &f->worker},
                             {"error", &f->error_class},
                             {"message", &f->message}}) {
    r.Field(name, *value);
  }
  r.Field("failed_at", f->failed_at_ms);
  r.Field("failure", FormatJobId(f->id));
  r.Bulk("runs");
  ReplyRuns(ctx, f, nullptr);
  return true;
}

void RegisterCompletedCommands(CommandRegistry* r) {
  using namespace cmd;
  const std::string filters =
      "[MATCH text] [QUEUE queue:key] [CLASS class] [WORKER worker] [SINCE ms:integer] [UNTIL "
      "ms:integer] [DURATION min:integer max:integer]";
  const std::string targets = "(id...|WHERE " + filters + ")";
  r->Group("completed")
      .Add("completed.list", -1, kReadOnly, {}, CompletedList,
           "Search, sort and page the jobs that succeeded")
      .Args(filters +
            " [SORT (FINISHED_AT|DURATION|WAIT|QUEUE|CLASS) [ASC|DESC]] [OFFSET offset:integer] "
            "[LIMIT limit:integer]")
      .Add("completed.info", 2, kReadOnly, {}, CompletedInfo, "One completed job by id")
      .Args("id")
      .Add("completed.rerun", -2, kWrite, {}, CompletedRerun,
           "Push completed jobs to their queues again, as new jobs; replies their ids")
      .Args(targets)
      .Keys("RW INSERT")
      .Add("completed.remove", -2, kWrite, {}, CompletedRemove, "Forget completed jobs")
      .Args(targets)
      .Keys("RW DELETE");
}

}  // namespace desaster
