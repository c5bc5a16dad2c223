// QUEUE.*: queues as first-class objects (DESIGN.md §5-6). A queue is named by its key, so a
// resque queue is "resque:queue:default" and a native one any key QUEUE.CREATE or JOB.PUSH used.
#include <algorithm>

#include "server/command/context.h"
#include "server/command/job_query.h"
#include "server/command/registry.h"

namespace desaster {
namespace {

// The queue at args[1], or nullptr after replying the error. `create`: a key a dialect claims
// gets its queue registered (so a resque queue can be configured before its first push).
Queue* QueueArg(CommandContext& ctx, bool create) {
  const std::string& key = ctx.args[1];
  Queue* q = ctx.db().FindQueue(key);
  if (!q && create) q = ctx.db().QueueForPush(key);
  if (!q) {
    bool wrong;
    ctx.Lookup(key, ValueType::kList, &wrong);
    if (!wrong) ctx.Error("ERR no such queue '" + key + "' (QUEUE.CREATE makes one)");
  }
  return q;
}

bool HasNewline(std::string_view s) { return s.find('\n') != std::string_view::npos; }

// [DISCIPLINE name] [PARAM name value]... [UNIQUE yes|no] [UNIQUE_BY f] [RETRY n] [BACKOFF b]
// [CAPABILITY c] [PAUSED yes|no] from args[first] on,
// applied to `config`. A new discipline starts without parameters; an empty value removes one.
bool ParseQueueOptions(CommandContext& ctx, size_t first, QueueConfig* config) {
  const auto& a = ctx.args;
  auto yes_no = [&](size_t i, bool* out) {
    if (ctx.Is(i, "YES")) return *out = true, true;
    if (ctx.Is(i, "NO")) return *out = false, true;
    ctx.Error("ERR " + a[i - 1] + " must be YES or NO");
    return false;
  };
  for (size_t i = first; i < a.size(); i++) {
    if (ctx.Is(i, "DISCIPLINE") && i + 1 < a.size()) {
      std::string name = Lower(a[++i]);
      if (name != config->discipline) config->params.clear();
      config->discipline = name;
    } else if (ctx.Is(i, "PARAM") && i + 2 < a.size()) {
      const std::string &name = a[i + 1], &value = a[i + 2];
      if (name.empty() || HasNewline(name) || HasNewline(value) || name.find('=') != name.npos) {
        ctx.Error("ERR parameter names must be non-empty without '=' or newlines");
        return false;
      }
      value.empty() ? (void)config->params.erase(name) : (void)(config->params[name] = value);
      i += 2;
    } else if (ctx.Is(i, "UNIQUE") && i + 1 < a.size()) {
      if (!yes_no(++i, &config->unique)) return false;
    } else if (ctx.Is(i, "UNIQUE_BY") && i + 1 < a.size()) {
      if (HasNewline(a[++i])) {
        ctx.Error("ERR UNIQUE_BY must not hold newlines");
        return false;
      }
      config->unique_by = a[i];
    } else if (ctx.Is(i, "RETRY") && i + 1 < a.size()) {
      long long n;
      if (ctx.Is(++i, "DEFAULT")) {
        config->retry.max_attempts = 0;  // the server's --retry
      } else if (!ParseInt64(a[i], &n) || n < 0 || n > 1000) {
        ctx.Error("ERR RETRY is the number of retries after the first run, 0 to 1000, or DEFAULT");
        return false;
      } else {
        config->retry.max_attempts = static_cast<uint32_t>(n + 1);
      }
    } else if (ctx.Is(i, "BACKOFF") && i + 1 < a.size()) {
      if (!config->retry.ParseBackoff(Lower(a[++i]))) {
        ctx.Error("ERR BACKOFF must be poly, exp or a number of seconds");
        return false;
      }
    } else if (ctx.Is(i, "CAPABILITY") && i + 1 < a.size()) {
      if (HasNewline(a[++i])) {
        ctx.Error("ERR CAPABILITY must not hold newlines");
        return false;
      }
      config->capability = a[i];
    } else if (ctx.Is(i, "PAUSED") && i + 1 < a.size()) {
      if (!yes_no(++i, &config->paused)) return false;
    } else {
      ctx.Error(err::kSyntax);
      return false;
    }
  }
  return true;
}

void ReplyConfig(CommandContext& ctx, const QueueConfig& c) {
  ctx.reply.Map(9);
  ctx.reply.Field("discipline", c.discipline);
  ctx.reply.Bulk("params");
  ctx.reply.Map(c.params.size());
  for (const auto& [name, value] : c.params) {
    ctx.reply.Bulk(name);
    ctx.reply.Bulk(value);
  }
  ctx.reply.Field("unique", c.unique);
  ctx.reply.Field("unique_by", c.unique_by);
  uint32_t runs =
      c.retry.max_attempts ? c.retry.max_attempts : ctx.keyspace().default_max_attempts();
  ctx.reply.Field("retry", runs - 1);
  ctx.reply.Field("retry_default", c.retry.max_attempts == 0);  // follows the server's --retry
  ctx.reply.Field("backoff", c.retry.BackoffName());
  ctx.reply.Field("paused", c.paused);
  ctx.reply.Field("capability", c.capability);
}

void QueueCreate(CommandContext& ctx) {
  const std::string& key = ctx.args[1];
  if (ctx.db().FindQueue(key)) {
    return ctx.Error("ERR queue '" + key + "' exists (QUEUE.CONFIG changes it)");
  }
  bool wrong;
  if (const Value* v = ctx.Lookup(key, ValueType::kList, &wrong); wrong || v) {
    if (!wrong) ctx.Error("ERR key '" + key + "' holds a list; a queue needs a free key");
    return;
  }
  QueueConfig config;
  if (!ParseQueueOptions(ctx, 2, &config)) return;
  std::string error;
  if (!ctx.db().CreateQueue(key, std::move(config), &error)) return ctx.Error("ERR " + error);
  ctx.reply.Ok();
}

void QueueConfigCmd(CommandContext& ctx) {
  Queue* q = QueueArg(ctx, true);
  if (!q) return;
  if (ctx.args.size() == 2) return ReplyConfig(ctx, q->config());
  QueueConfig config = q->config();
  if (!ParseQueueOptions(ctx, 2, &config)) return;
  std::string error;
  if (!ctx.db().ConfigureQueue(q, std::move(config), &error)) return ctx.Error("ERR " + error);
  ctx.reply.Ok();
}

void SetPaused(CommandContext& ctx, bool paused) {
  Queue* q = QueueArg(ctx, true);
  if (!q) return;
  QueueConfig config = q->config();
  config.paused = paused;
  std::string error;
  ctx.db().ConfigureQueue(q, std::move(config), &error);
  ctx.reply.Ok();
}
void QueuePause(CommandContext& ctx) { SetPaused(ctx, true); }
void QueueResume(CommandContext& ctx) { SetPaused(ctx, false); }

void QueueInfo(CommandContext& ctx) {
  Queue* q = QueueArg(ctx, false);
  if (!q) return;
  int64_t now = ctx.now_ms();
  auto& r = ctx.reply;
  r.Map(14);
  r.Field("key", q->key());
  r.Field("name", q->dialect().ShortName(q->key()));
  r.Field("dialect", q->dialect().name);
  r.Bulk("config");
  ReplyConfig(ctx, q->config());
  r.Field("ready", q->ready());
  r.Field("scheduled", q->scheduled());
  r.Field("pushed", q->pushed);
  r.Field("taken", q->taken);
  r.Field("duplicates", q->duplicates);
  r.Bulk("rate");
  r.Double(q->rate().PerSecond(now));
  // How long the next job has waited: the queue's latency, as Sidekiq reports it.
  Job* next = nullptr;
  q->discipline().ForEachInOrder([&](Job* j) { return next = j, false; }, 0);
  r.Field("latency_ms", next ? now - next->enqueued_ms : 0);
  r.Bulk("next_job");
  next ? r.Bulk(FormatJobId(next->id)) : r.NullBulk();
  // When a rate-limited queue hands out its next job (null: now, or nothing queued).
  int64_t available =
      q->ready() && !q->paused() && !q->Peek(now) ? q->discipline().NextAvailableMs(now) : 0;
  r.FieldOrNull("next_available_at", available);
  r.FieldOrNull("last_taken_at", q->last_taken_ms);
}

void QueueList(CommandContext& ctx) {
  std::string pattern;
  if (ctx.args.size() == 3 && ctx.Is(1, "MATCH")) {
    pattern = ctx.args[2];
  } else if (ctx.args.size() != 1) {
    return ctx.Error(err::kSyntax);
  }
  std::vector<const std::string*> keys;
  for (const auto& [key, q] : ctx.db().queues()) {
    if ((pattern.empty() || GlobMatch(pattern, key)) && ctx.MayAccess(key, false)) {
      keys.push_back(&key);
    }
  }
  ctx.reply.Array(keys.size());
  for (const std::string* k : keys) ctx.reply.Bulk(*k);
}

void QueueClear(CommandContext& ctx) {
  Queue* q = QueueArg(ctx, false);
  if (!q) return;
  ctx.reply.Integer(static_cast<long long>(ctx.db().ClearQueue(q, Database::JobsOf::kWaiting)));
}

void QueueDelete(CommandContext& ctx) {
  Queue* q = ctx.db().FindQueue(ctx.args[1]);
  if (!q) return ctx.reply.Integer(0);
  ctx.db().DropQueue(q);
  ctx.reply.Integer(1);
}

void QueueJobs(CommandContext& ctx) {
  Queue* q = QueueArg(ctx, false);
  if (!q) return;
  auto query = ParseJobQuery(ctx, 2, true);
  if (!query) return;
  JobQueryResult result = RunJobQuery(ctx.db(), *q, *query, ctx.now_ms());
  ctx.reply.Map(2);
  ctx.reply.Field("total", result.total);
  ctx.reply.Bulk("jobs");
  ctx.reply.Array(result.rows.size());
  for (const JobRow& row : result.rows) ReplyJob(ctx, row);
}

// QUEUE.STATS [SECONDS n | MINUTES n]: jobs enqueued, dequeued and failed per bucket, oldest
// first, the last bucket being the current one.
void QueueStats(CommandContext& ctx) {
  bool minutes = false;
  long long count = 300;
  if (ctx.args.size() == 3) {
    minutes = ctx.Is(1, "MINUTES");
    if (!minutes && !ctx.Is(1, "SECONDS")) return ctx.Error(err::kSyntax);
    auto n = ctx.OptionInt(1, 1, minutes ? 1440 : 3600);
    if (!n) return;
    count = *n;
  } else if (ctx.args.size() != 1) {
    return ctx.Error(err::kSyntax);
  }
  const Throughput& t = ctx.keyspace().throughput();
  const CounterSeries* series = minutes ? t.minutes : t.seconds;
  int64_t now = ctx.now_ms();
  ctx.reply.Map(3 + Throughput::kEvents);
  ctx.reply.Field("bucket_ms", series[0].bucket_ms());
  ctx.reply.Field("last_bucket_at", now - now % series[0].bucket_ms());
  for (int e = 0; e < Throughput::kEvents; e++) {
    ctx.reply.Bulk(Throughput::kNames[e]);
    auto counts = series[e].Last(now, static_cast<size_t>(count));
    ctx.reply.Array(counts.size());
    for (uint64_t c : counts) ctx.reply.Integer(static_cast<int64_t>(c));
  }
  ctx.reply.Bulk("totals");
  ctx.reply.Map(Throughput::kEvents);
  for (int e = 0; e < Throughput::kEvents; e++) ctx.reply.Field(Throughput::kNames[e], t.totals[e]);
}

void QueueDisciplines(CommandContext& ctx) {
  ctx.reply.Map(Disciplines().size());
  for (const auto& d : Disciplines()) {
    ctx.reply.Bulk(d.name);
    ctx.reply.Bulk(d.summary);
  }
}

}  // namespace

void RegisterQueueCommands(CommandRegistry* r) {
  using namespace cmd;
  KeySpec one{1, 1, 1};
  const std::string options =
      "key [DISCIPLINE discipline] [PARAM name value]... [UNIQUE (YES|NO)] [UNIQUE_BY field] "
      "[RETRY retries:integer] [BACKOFF backoff] [CAPABILITY capability] [PAUSED (YES|NO)]";
  r->Group("queue")
      .Add("queue.create", -2, kWrite | kDenyOom, one, QueueCreate, "Create a queue")
      .Args(options)
      .Keys("RW INSERT")
      .Add("queue.config", -2, kWrite, one, QueueConfigCmd,
           "Show (no options) or change a queue's configuration")
      .Args(options)
      .Keys("RW UPDATE")
      .Add("queue.info", 2, kReadOnly, one, QueueInfo,
           "A queue's configuration, sizes, rate, latency and next availability")
      .Args("key")
      .Add("queue.list", -1, kReadOnly, {}, QueueList, "Queue keys")
      .Args("[MATCH pattern:pattern]")
      .Add("queue.pause", 2, kWrite | kFast, one, QueuePause,
           "Pause a queue: it accepts pushes and hands out nothing")
      .Args("key")
      .Keys("RW UPDATE")
      .Add("queue.resume", 2, kWrite | kFast, one, QueueResume, "Resume a paused queue")
      .Args("key")
      .Keys("RW UPDATE")
      .Add("queue.clear", 2, kWrite, one, QueueClear, "Delete every job of a queue")
      .Args("key")
      .Keys("RW DELETE")
      .Add("queue.delete", 2, kWrite, one, QueueDelete,
           "Delete a queue with its configuration and jobs")
      .Args("key")
      .Keys("RM DELETE")
      .Add("queue.jobs", -2, kReadOnly, one, QueueJobs, "Search, sort and page a queue's jobs")
      .Args("key " + std::string(kJobFilterSyntax) + " " + std::string(kJobPagingSyntax))
      .Add("queue.stats", -1, kReadOnly, {}, QueueStats,
           "Jobs enqueued, dequeued and failed over time (SECONDS up to 3600, MINUTES up to "
           "1440; the last 300 seconds by default)")
      .Args("[SECONDS seconds:integer|MINUTES minutes:integer]")
      .Add("queue.disciplines", 1, kReadOnly, {}, QueueDisciplines,
           "The disciplines a queue can use")
      .Args("");
}

}  // namespace desaster
