// JOB.*: pushing jobs with options and managing queued jobs singly, by id list, or for every
// job of a queue matching a query (the WHERE form).
#include <climits>

#include "server/command/completed.h"
#include "server/command/context.h"
#include "server/command/job_query.h"
#include "server/command/registry.h"
#include "server/command/store_query.h"
#include "server/command/workers.h"

namespace desaster {
namespace {

// The queue a push or move goes to: a registered queue, a key a dialect claims, or a new native
// queue at a free key. nullptr after replying WRONGTYPE.
Queue* TargetQueue(CommandContext& ctx, const std::string& key) {
  bool wrong;
  const Value* v = ctx.Lookup(key, ValueType::kList, &wrong);
  if (wrong) return nullptr;
  if (v && v->type() == ValueType::kList) {
    ctx.Error("ERR key '" + key + "' holds a plain list, not a queue");
    return nullptr;
  }
  if (Queue* q = ctx.db().QueueForPush(key)) return q;
  std::string error;
  return ctx.db().CreateQueue(key, QueueConfig{}, &error);
}

// JOB.PUSH key payload [DELAY ms | AT unix-ms] [PRIORITY n] [FLOW f] [UNIQUE key]
//          [CAPABILITY c] [FRONT]
void JobPush(CommandContext& ctx) {
  Database::JobSpec spec;
  spec.payload = ctx.args[2];
  const auto& a = ctx.args;
  for (size_t i = 3; i < a.size(); i++) {
    bool has_value = i + 1 < a.size();
    auto number = [&](long long min) {
      auto v = ctx.OptionInt(i, min);
      if (v) i++;
      return v;
    };
    if (ctx.Is(i, "FRONT")) {
      spec.front = true;
    } else if (!has_value) {
      return ctx.Error(err::kSyntax);
    } else if (ctx.Is(i, "DELAY")) {
      auto ms = number(0);
      if (!ms) return;
      if (*ms > LLONG_MAX - ctx.now_ms()) return ctx.Error("ERR DELAY is too large");
      spec.run_at_ms = ctx.now_ms() + *ms;
    } else if (ctx.Is(i, "AT")) {
      auto at = number(0);
      if (!at) return;
      spec.run_at_ms = *at;
    } else if (ctx.Is(i, "PRIORITY")) {
      auto p = number(INT32_MIN);
      if (!p) return;
      if (*p > INT32_MAX) return ctx.Error("ERR PRIORITY is out of range");
      spec.priority = static_cast<int32_t>(*p);
    } else if (ctx.Is(i, "FLOW")) {
      spec.flow = a[++i];
    } else if (ctx.Is(i, "UNIQUE")) {
      spec.unique_key = a[++i];
    } else if (ctx.Is(i, "CAPABILITY")) {
      spec.capability = a[++i];
    } else {
      return ctx.Error(err::kSyntax);
    }
  }
  Queue* q = TargetQueue(ctx, a[1]);
  if (!q) return;
  Job* job = ctx.db().PushJob(q, std::move(spec));
  job ? ctx.reply.Bulk(FormatJobId(job->id)) : ctx.reply.NullBulk();  // null: a duplicate
}

// The position of a ready job in dispatch order (for its ETA); SIZE_MAX if scheduled.
size_t PositionOf(const Job& job) {
  if (job.state != JobState::kReady) return SIZE_MAX;
  size_t position = 0;
  job.queue->discipline().ForEachInOrder(
      [&](Job* j) { return j == &job ? false : (position++, true); }, 0);
  return position;
}

void JobInfo(CommandContext& ctx) {
  uint64_t id;
  if (!ParseJobId(ctx.args[1], &id)) return ctx.Error("ERR invalid job id '" + ctx.args[1] + "'");
  Job* job = ctx.db().FindJob(id);
  if (job && ctx.MayAccess(job->queue->key(), false)) return ReplyJob(ctx, {job, PositionOf(*job)});
  if (job || !ReplyFinishedJob(ctx, id)) ctx.reply.NullBulk();
}

// The jobs a bulk command acts on, from args[first] on: "id [id ...]" (NamedIds: each once) or
// "WHERE queue [filters]". Unknown ids are skipped; `end` marks where the ids stop (JOB.UPDATE's
// SET).
std::optional<std::vector<Job*>> Targets(CommandContext& ctx, size_t first, size_t end) {
  std::vector<Job*> jobs;
  if (first < end && ctx.Is(first, "WHERE")) {
    if (first + 1 >= end) return ctx.Error(err::kSyntax), std::nullopt;
    const std::string& key = ctx.args[first + 1];
    Queue* q = ctx.MayAccess(key, true) ? ctx.db().FindQueue(key) : nullptr;
    if (!q) return ctx.Error("ERR no such queue '" + key + "'"), std::nullopt;
    std::vector<std::string> filter_args(ctx.args.begin() + static_cast<ptrdiff_t>(first + 2),
                                         ctx.args.begin() + static_cast<ptrdiff_t>(end));
    CommandContext sub(ctx.server, ctx.client, filter_args, ctx.reply, ctx.block_mode);
    auto query = ParseJobQuery(sub, 0, false);
    if (!query) return std::nullopt;
    query->limit = SIZE_MAX;
    for (const JobRow& row : RunJobQuery(ctx.db(), *q, *query, ctx.now_ms()).rows) {
      jobs.push_back(row.job);
    }
    return jobs;
  }
  if (first >= end) return ctx.WrongArgs(), std::nullopt;
  auto ids = NamedIds(ctx, first, end, "job");
  if (!ids) return std::nullopt;
  for (uint64_t id : *ids) {
    Job* job = ctx.db().FindJob(id);
    if (job && ctx.MayAccess(job->queue->key(), true)) jobs.push_back(job);
  }
  return jobs;
}

void JobDelete(CommandContext& ctx) {
  auto jobs = Targets(ctx, 1, ctx.args.size());
  if (!jobs) return;
  ctx.db().RemoveJobs(*jobs);
  ctx.reply.Integer(static_cast<long long>(jobs->size()));
}

void JobMove(CommandContext& ctx) {
  auto jobs = Targets(ctx, 2, ctx.args.size());
  if (!jobs) return;
  Queue* dest = TargetQueue(ctx, ctx.args[1]);
  if (!dest) return;
  long long moved = 0;
  for (Job* job : *jobs) {
    if (job->queue == dest) continue;
    ctx.db().MoveJob(job, dest);
    moved++;
  }
  ctx.reply.Integer(moved);
}

// JOB.RUN: scheduled jobs become ready now.
void JobRun(CommandContext& ctx) {
  auto jobs = Targets(ctx, 1, ctx.args.size());
  if (!jobs) return;
  long long n = 0;
  for (Job* job : *jobs) {
    if (job->state != JobState::kScheduled) continue;
    ctx.db().UpdateJob(job, [](Job& j) {
      j.state = JobState::kReady;
      j.run_at_ms = 0;
    });
    n++;
  }
  ctx.reply.Integer(n);
}

// JOB.UPDATE <ids | WHERE queue filters> SET field value [field value ...]
// Fields: PRIORITY n, FLOW f, CAPABILITY c, RUNAT unix-ms (0: now).
void JobUpdate(CommandContext& ctx) {
  size_t set = ctx.args.size();
  for (size_t i = 1; i < ctx.args.size(); i++) {
    if (ctx.Is(i, "SET")) set = i;
  }
  if (set == ctx.args.size() || set + 1 == ctx.args.size() || (ctx.args.size() - set - 1) % 2) {
    return ctx.Error("ERR JOB.UPDATE needs SET field value [field value ...]");
  }
  std::optional<int32_t> priority;
  std::optional<std::string> flow, capability;
  std::optional<int64_t> run_at;
  for (size_t i = set + 1; i < ctx.args.size(); i += 2) {
    long long v;
    if (ctx.Is(i, "PRIORITY")) {
      if (!ParseInt64(ctx.args[i + 1], &v) || v < INT32_MIN || v > INT32_MAX) {
        return ctx.Error("ERR PRIORITY must be a 32-bit integer");
      }
      priority = static_cast<int32_t>(v);
    } else if (ctx.Is(i, "FLOW")) {
      flow = ctx.args[i + 1];
    } else if (ctx.Is(i, "CAPABILITY")) {
      capability = ctx.args[i + 1];
    } else if (ctx.Is(i, "RUNAT")) {
      if (!ParseInt64(ctx.args[i + 1], &v) || v < 0) {
        return ctx.Error("ERR RUNAT must be a time in ms since the epoch, or 0 for now");
      }
      run_at = v;
    } else {
      return ctx.Error("ERR unknown job field '" + ctx.args[i] +
                       "' (PRIORITY, FLOW, CAPABILITY or RUNAT)");
    }
  }
  auto jobs = Targets(ctx, 1, set);
  if (!jobs) return;
  for (Job* job : *jobs) {
    ctx.db().UpdateJob(job, [&](Job& j) {
      if (priority) j.priority = *priority;
      if (flow) j.flow = *flow;
      if (capability) j.set_capability(*capability);
      if (run_at) {
        bool later = *run_at > ctx.now_ms();
        j.state = later ? JobState::kScheduled : JobState::kReady;
        j.run_at_ms = later ? *run_at : 0;
      }
    });
  }
  ctx.reply.Integer(static_cast<long long>(jobs->size()));
}

// ---- Reliable fetch: leases for native workers ----

// JOB.FETCH worker [BLOCK ms] [LEASE ms]: the next job from the worker's queues (in their
// order) that needs no capability it lacks, leased to it; null (or blocks) when there is none.
void JobFetch(CommandContext& ctx) {
  int64_t lease = kDefaultLeaseMs, block = -1;
  for (size_t i = 2; i < ctx.args.size(); i += 2) {
    long long v;
    if (i + 1 >= ctx.args.size() || !ParseInt64(ctx.args[i + 1], &v) || v < 0) {
      return ctx.Error("ERR JOB.FETCH worker [BLOCK ms] [LEASE ms] (non-negative integers)");
    }
    if (ctx.Is(i, "BLOCK")) {
      block = v;
    } else if (ctx.Is(i, "LEASE") && v > 0) {
      if (v > kMaxLeaseMs) return ctx.Error("ERR LEASE must be from 1 to 86400000 ms");
      lease = v;
    } else {
      return ctx.Error(err::kSyntax);
    }
  }
  Keyspace::Worker* w = WorkerNamed(ctx, ctx.args[1]);
  if (!w) return;
  w->last_seen_ms = ctx.now_ms();
  auto eligible = [&](const Job& j) { return j.capability().empty() || w->Has(j.capability()); };
  // A quiet worker takes nothing new: its fetch waits as if every queue were empty (WORKER.QUIET
  // OFF wakes it).
  for (const std::string& key : w->queues) {
    Queue* q = ctx.db().FindQueue(key);
    // A queue's capability is what every one of its jobs needs.
    if (w->quiet || !q || (!q->config().capability.empty() && !w->Has(q->config().capability))) {
      continue;
    }
    if (Job* job = ctx.db().LeaseNext(q, eligible, {w->id, w->incarnation}, lease)) {
      return ReplyJob(ctx, {job, SIZE_MAX});
    }
  }
  if (block < 0 || w->queues.empty()) return ctx.reply.NullBulk();
  ctx.Block(w->queues, ctx.DeadlineAfterMs(block), TimeoutReply::kNullBulk);
}

// The leased job args[1], checked against an optional WORKER owner; replies 0 and returns
// nullptr when it is not (or no longer) this worker's.
Job* LeasedArg(CommandContext& ctx, std::optional<std::string> owner) {
  uint64_t id;
  if (!ParseJobId(ctx.args[1], &id)) {
    ctx.Error("ERR invalid job id '" + ctx.args[1] + "'");
    return nullptr;
  }
  Job* job = ctx.db().FindJob(id);
  if (!job || job->state != JobState::kLeased || (owner && job->lease_owner() != *owner)) {
    ctx.reply.Integer(0);  // its lease ran out and it went back to its queue
    return nullptr;
  }
  return job;
}

// Options of JOB.ACK / JOB.FAIL from args[2] on.
struct Outcome {
  std::optional<std::string> worker;
  std::string result, error_class, message, backtrace;
  bool dead = false;  // the job can never succeed: no retry
};

std::optional<Outcome> ParseOutcome(CommandContext& ctx, bool failing) {
  Outcome o;
  for (size_t i = 2; i < ctx.args.size(); i += 2) {
    if (failing && ctx.Is(i, "DEAD")) {
      o.dead = true;
      i--;
      continue;
    }
    if (i + 1 >= ctx.args.size()) return ctx.Error(err::kSyntax), std::nullopt;
    const std::string& v = ctx.args[i + 1];
    if (ctx.Is(i, "WORKER")) {
      o.worker = v;
    } else if (ctx.Is(i, "RESULT")) {
      o.result = v;
    } else if (failing && ctx.Is(i, "ERROR")) {
      o.error_class = v;
    } else if (failing && ctx.Is(i, "MESSAGE")) {
      o.message = v;
    } else if (failing && ctx.Is(i, "BACKTRACE")) {
      o.backtrace = v;
    } else {
      return ctx.Error(err::kSyntax), std::nullopt;
    }
  }
  if (failing && o.error_class.empty())
    return ctx.Error("ERR JOB.FAIL needs ERROR class"), std::nullopt;
  return o;
}

// JOB.ACK id [WORKER w] [RESULT text]: the job succeeded.
void JobAck(CommandContext& ctx) {
  auto o = ParseOutcome(ctx, false);
  if (!o) return;
  Job* job = LeasedArg(ctx, o->worker);
  if (!job) return;
  ctx.db().Complete(ctx.db().RemoveJob(job), std::move(o->result));
  ctx.reply.Integer(1);
}

// JOB.FAIL id [WORKER w] ERROR class [MESSAGE m] [BACKTRACE bt] [RESULT text] [DEAD]: the job
// failed; the failed store records it and its queue's retry policy applies, unless DEAD says
// no run of it can succeed (a payload no adapter can run): then it is dead at once.
void JobFail(CommandContext& ctx) {
  auto o = ParseOutcome(ctx, true);
  if (!o) return;
  Job* job = LeasedArg(ctx, o->worker);
  if (!job) return;
  Failure f = ctx.db().FailureOf(*job, job->attempts + 1U);
  f.error_class = o->error_class;
  f.message = o->message;
  f.backtrace = o->backtrace;
  int64_t ready_ms = job->enqueued_ms;
  ctx.db().RemoveJob(job);
  ctx.db().RecordFailure(std::move(f), !o->dead, ready_ms);
  ctx.reply.Integer(1);
}

// JOB.REPORT id [WORKER w] [OUTPUT bytes] [PROGRESS percent] [MESSAGE text]: what a running
// job printed since its worker's last report, and how far it is. Replies 0 when the job is
// not (or no longer) leased to the worker.
void JobReport(CommandContext& ctx) {
  std::optional<std::string> worker;
  std::string_view output;
  std::optional<double> percent;
  std::optional<std::string> message;
  for (size_t i = 2; i < ctx.args.size(); i += 2) {
    if (i + 1 >= ctx.args.size()) return ctx.Error(err::kSyntax);
    const std::string& v = ctx.args[i + 1];
    if (ctx.Is(i, "WORKER")) {
      worker = v;
    } else if (ctx.Is(i, "OUTPUT")) {
      output = v;
    } else if (ctx.Is(i, "PROGRESS")) {
      double p;
      if (!ParseDouble(v, &p) || !(p >= 0 && p <= 100)) {
        return ctx.Error("ERR PROGRESS must be a number from 0 to 100");
      }
      percent = p;
    } else if (ctx.Is(i, "MESSAGE")) {
      message = v.substr(0, 1000);  // a status line, not a log
    } else {
      return ctx.Error(err::kSyntax);
    }
  }
  Job* job = LeasedArg(ctx, worker);
  if (!job) return;
  Database::LiveOutput& live = ctx.db().ReportOutput(job->id, output);
  if (percent) live.percent = *percent;
  if (message) live.message = std::move(*message);
  ctx.reply.Integer(1);
}

// JOB.OUTPUT id [FROM offset]: a running job's output from byte `offset` on (as much of it as
// is kept: the last 64 kB), with its progress; nil when it reported nothing (or is not
// running). A reader that asks FROM the total it last got receives only what is new. Secrets
// (completed-redact) are taken out of what it receives; offsets count the bytes as printed.
void JobOutput(CommandContext& ctx) {
  uint64_t id;
  if (!ParseJobId(ctx.args[1], &id)) return ctx.Error("ERR invalid job id '" + ctx.args[1] + "'");
  uint64_t from = 0;
  if (ctx.args.size() == 4 && ctx.Is(2, "FROM")) {
    auto n = ctx.OptionInt(2, 0);
    if (!n) return;
    from = static_cast<uint64_t>(*n);
  } else if (ctx.args.size() != 2) {
    return ctx.Error(err::kSyntax);
  }
  Job* job = ctx.db().FindJob(id);
  const Database::LiveOutput* live = job ? ctx.db().FindLiveOutput(id) : nullptr;
  if (!live || !ctx.MayAccess(job->queue->key(), false)) return ctx.reply.NullBulk();
  uint64_t kept_from = live->total - live->tail.size();
  from = std::clamp(from, kept_from, live->total);
  auto& r = ctx.reply;
  r.Map(6);
  r.Field("total", live->total);
  r.Field("from", from);  // past `offset` when what came between is no longer kept
  bool redacted;
  r.Field("output", ctx.db().redactor().Redact(
                        std::string_view(live->tail).substr(from - kept_from), &redacted));
  r.Bulk("progress");
  live->percent >= 0 ? r.Double(live->percent) : r.NullBulk();
  r.Field("message", live->message);
  r.Field("updated_at", live->updated_ms);
}

// JOB.RELEASE id [WORKER w]: the worker could not start the job (its application failed to
// boot): it goes back to the head of its queue, its attempts unchanged.
void JobRelease(CommandContext& ctx) {
  auto o = ParseOutcome(ctx, false);
  if (!o) return;
  if (!o->result.empty()) return ctx.Error(err::kSyntax);
  Job* job = LeasedArg(ctx, o->worker);
  if (!job) return;
  ctx.db().Unlease(job, job->attempts);
  ctx.reply.Integer(1);
}

// JOB.KILL id: asks the worker running the job to stop it; it reports the job as failed with
// error class "Killed".
void JobKill(CommandContext& ctx) {
  uint64_t id;
  if (!ParseJobId(ctx.args[1], &id)) return ctx.Error("ERR invalid job id '" + ctx.args[1] + "'");
  Job* job = ctx.db().FindJob(id);
  if (!job || !ctx.MayAccess(job->queue->key(), true)) return ctx.reply.Integer(0);
  if (job->state != JobState::kLeased) {
    return ctx.Error("ERR job " + ctx.args[1] + " is not running (JOB.DELETE removes queued jobs)");
  }
  auto it = ctx.keyspace().workers().find(job->lease_owner());
  if (it == ctx.keyspace().workers().end()) return ctx.reply.Integer(0);
  if (it->second.kill.insert(id).second) ctx.keyspace().SaveWorker(it->second);
  ctx.reply.Integer(1);
}

}  // namespace

void RegisterJobCommands(CommandRegistry* r) {
  using namespace cmd;
  const std::string targets = JobTargetSyntax();
  r->Group("job")
      .Add("job.push", -3, kWrite | kFast | kDenyOom, {1, 1, 1}, JobPush,
           "Push a job; replies its id, or null for a duplicate in a unique queue")
      .Args(
          "key payload [DELAY ms:integer|AT unix-ms:unix-time] [PRIORITY priority:integer] [FLOW "
          "flow] [UNIQUE unique] [CAPABILITY capability] [FRONT]")
      .Keys("RW INSERT")
      .Add("job.info", 2, kReadOnly | kFast, {}, JobInfo, "A job by id, with its position and ETA")
      .Args("id")
      .Add("job.delete", -2, kWrite, {}, JobDelete, "Delete jobs")
      .Args(targets)
      .Keys("RW DELETE")
      .Add("job.move", -3, kWrite, {1, 1, 1}, JobMove, "Move jobs to another queue")
      .Args("destination:key " + targets)
      .Keys("RW INSERT | RW DELETE")
      .Add("job.run", -2, kWrite, {}, JobRun, "Make scheduled jobs ready now")
      .Args(targets)
      .Keys("RW UPDATE")
      .Add("job.fetch", -2, kWrite | kBlocking, {}, JobFetch,
           "Lease the next job for a native worker")
      .Args("worker [BLOCK ms:integer] [LEASE ms:integer]")
      .Categories("job runner")
      .Add("job.ack", -2, kWrite | kFast, {}, JobAck,
           "A leased job succeeded; 0 if its lease was lost")
      .Args("id [WORKER worker] [RESULT result]")
      .Categories("job runner")
      .Add("job.fail", -4, kWrite, {}, JobFail, "A leased job failed; its retry policy applies")
      .Args(
          "id [WORKER worker] ERROR error [MESSAGE message] [BACKTRACE backtrace] [RESULT "
          "result] [DEAD]")
      .Categories("job runner")
      .Add("job.report", -2, kWrite | kFast, {}, JobReport,
           "A running job's new output and progress, from its worker; 0 if its lease was lost")
      .Args("id [WORKER worker] [OUTPUT output] [PROGRESS percent:double] [MESSAGE message]")
      .Categories("job runner")
      .Add("job.output", -2, kReadOnly | kFast, {}, JobOutput,
           "A running job's output (the last 64 kB) and progress")
      .Args("id [FROM offset:integer]")
      .Add("job.release", -2, kWrite | kFast, {}, JobRelease,
           "A leased job its worker could not start goes back to its queue; 0 if its lease was "
           "lost")
      .Args("id [WORKER worker]")
      .Categories("job runner")
      .Add("job.kill", 2, kWrite | kFast, {}, JobKill,
           "Ask the worker running a job to stop it (TERM, then KILL)")
      .Args("id")
      .Add("job.update", -5, kWrite, {}, JobUpdate,
           "Change jobs' priority, flow, capability or time")
      .Args(targets +
            " SET (PRIORITY priority:integer|FLOW flow|CAPABILITY capability|RUNAT "
            "unix-ms:unix-time)...")
      .Keys("RW UPDATE");
}

}  // namespace desaster
