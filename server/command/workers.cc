// WORKER.*: the workers serving this server's queues. Workers that register the resque way
// (resque:workers, resque:worker:<id>) or the Sidekiq way (processes, <identity> hashes) are
// read from their keys, so they show up next to native workers without changing them.
#include "server/command/workers.h"

#include "server/command/context.h"
#include "server/command/registry.h"

namespace desaster {
namespace {

constexpr int64_t kForgetWorkerMs = 60000;

struct WorkerView {
  std::string kind, id, host, pid, started_at;
  std::vector<std::string> queues, adapters, capabilities, labels;
  std::string health;  // "": takes jobs
  int concurrency = 0;
  int64_t last_seen_ms = 0;
  std::optional<int64_t> rss_bytes, processed, failed;  // as the worker reported them
  bool quiet = false;                                   // finishing its jobs, taking none
  struct Running {
    std::string queue, payload, run_at, job_id;
  };
  std::vector<Running> jobs;
};

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  while (!s.empty()) {
    size_t at = s.find(sep);
    out.emplace_back(s.substr(0, at));
    if (at == std::string_view::npos) break;
    s.remove_prefix(at + 1);
  }
  return out;
}

// ["a","b"] -> {a, b}: the queue lists in Sidekiq's process info.
std::vector<std::string> JsonStrings(std::string_view array) {
  std::vector<std::string> out;
  for (std::string& item : Split(array.substr(1, array.size() >= 2 ? array.size() - 2 : 0), ',')) {
    item.erase(0, item.find_first_not_of(" \t\n"));
    item.erase(item.find_last_not_of(" \t\n") + 1);
    if (item.size() >= 2 && item.front() == '"' && item.back() == '"') {
      out.push_back(item.substr(1, item.size() - 2));
    }
  }
  return out;
}

const std::string* StringAt(Database& db, const std::string& key) {
  const Value* v = db.Find(key);
  return v && v->type() == ValueType::kString ? &v->str() : nullptr;
}

std::optional<long long> IntegerAt(Database& db, const std::string& key) {
  const std::string* s = StringAt(db, key);
  long long n;
  if (!s || !ParseInt64(*s, &n)) return std::nullopt;
  return n;
}

const Hash* HashAt(Database& db, const std::string& key) {
  const Value* v = db.Find(key);
  return v && v->type() == ValueType::kHash ? &v->hash() : nullptr;
}

std::vector<std::string> Members(Database& db, const std::string& key) {
  std::vector<std::string> out;
  const Value* v = db.Find(key);
  if (v && v->type() == ValueType::kSet) {
    v->set().ForEach([&](std::string_view m, const Unit&) { out.emplace_back(m); });
  }
  std::sort(out.begin(), out.end());
  return out;
}

WorkerView::Running RunningFrom(std::string_view json) {
  return {JsonField(json, "queue").value_or(""), JsonField(json, "payload").value_or(""),
          JsonField(json, "run_at").value_or(""), ""};
}

// A client library's worker is gone when its heartbeat stopped (resque prunes workers silent
// for 5 minutes, Sidekiq processes silent for a minute), or when it belongs to the Redis this
// data is or was imported from (docs/MIGRATE.md): its key came with the data, its process
// served the source. Returns the health WORKER.LIST shows ("": alive) and notes the beat.
void JudgeLibraryWorker(CommandContext& ctx, std::optional<int64_t> beat_ms,
                        int64_t silent_after_ms, WorkerView* w) {
  const Keyspace::Import& import = ctx.keyspace().import();
  if (beat_ms) w->last_seen_ms = *beat_ms;
  if (import.active) {
    w->health = "gone: it works for the Redis being imported";
  } else if (import.finished_ms != 0 && (!beat_ms || *beat_ms + 1000 <= import.finished_ms)) {
    // (resque's heartbeats have whole seconds: a beat in the second the import ended is new)
    w->health = "gone: it worked for the Redis this data was imported from";
  } else if (beat_ms && ctx.now_ms() - *beat_ms > silent_after_ms) {
    w->health = "gone: no heartbeat for " + std::to_string((ctx.now_ms() - *beat_ms) / 1000) + " s";
  }
}

// resque: "host:pid:queue1,queue2" in <ns>:workers; <ns>:worker:<id> holds the running job;
// <ns>:workers:heartbeat has each worker's last beat (resque 1.26 on).
void ReadResqueWorkers(CommandContext& ctx, const Dialect& d, std::vector<WorkerView>* out) {
  Database& db = ctx.db();
  std::string ns =
      d.workers_set.substr(0, d.workers_set.size() - std::string_view("workers").size());
  for (const std::string& id : Members(db, d.workers_set)) {
    WorkerView w;
    w.kind = d.name;
    w.id = id;
    auto parts = Split(id, ':');
    if (parts.size() >= 3) {
      w.host = parts[0];
      w.pid = parts[1];
      w.queues = Split(parts[2], ',');
    }
    if (const std::string* s = StringAt(db, ns + "worker:" + id + ":started")) w.started_at = *s;
    if (const std::string* job = StringAt(db, ns + "worker:" + id)) {
      w.jobs.push_back(RunningFrom(*job));
    }
    // resque counts each worker's jobs in <ns>stat:processed:<id> and <ns>stat:failed:<id>.
    w.processed = IntegerAt(db, ns + "stat:processed:" + id).value_or(0);
    w.failed = IntegerAt(db, ns + "stat:failed:" + id).value_or(0);
    std::optional<int64_t> beat;
    if (const Hash* beats = HashAt(db, ns + "workers:heartbeat")) {
      if (const std::string* at = beats->Find(id)) beat = ParseLibraryTime(*at);
    }
    JudgeLibraryWorker(ctx, beat, 5 * 60 * 1000, &w);
    out->push_back(std::move(w));
  }
}

// Sidekiq: identities in <ns>processes; each identity's hash has "info" (JSON) and
// "<identity>:workers" maps thread ids to the running jobs; "beat" is its last heartbeat
// (seconds since the epoch, with a fraction).
void ReadSidekiqProcesses(CommandContext& ctx, const Dialect& d, std::vector<WorkerView>* out) {
  Database& db = ctx.db();
  std::string ns =
      d.workers_set.substr(0, d.workers_set.size() - std::string_view("processes").size());
  for (const std::string& identity : Members(db, d.workers_set)) {
    WorkerView w;
    w.kind = d.name;
    w.id = identity;
    std::optional<int64_t> beat;
    if (const Hash* h = HashAt(db, ns + identity)) {
      if (const std::string* at = h->Find("beat")) {
        char* end = nullptr;
        double seconds = std::strtod(at->c_str(), &end);
        if (end != at->c_str() && seconds > 0 && seconds < 1e11) {
          beat = static_cast<int64_t>(seconds * 1000);
        }
      }
      // (Sidekiq's "rss" is in kB; a number too big for bytes is not one Sidekiq wrote.)
      long long kb;
      if (const std::string* rss = h->Find("rss");
          rss && ParseInt64(*rss, &kb) && kb >= 0 && kb <= INT64_MAX / 1024) {
        w.rss_bytes = kb * 1024;
      }
      if (const std::string* quiet = h->Find("quiet")) w.quiet = *quiet == "true";
      if (const std::string* info = h->Find("info")) {
        w.host = JsonField(*info, "hostname").value_or("");
        w.pid = JsonField(*info, "pid").value_or("");
        w.started_at = JsonField(*info, "started_at").value_or("");
        w.queues = JsonStrings(JsonField(*info, "queues").value_or("[]"));
      }
    }
    if (const Hash* work = HashAt(db, ns + identity + ":workers")) {
      work->ForEach(
          [&](std::string_view, const std::string& json) { w.jobs.push_back(RunningFrom(json)); });
    }
    JudgeLibraryWorker(ctx, beat, 60 * 1000, &w);
    out->push_back(std::move(w));
  }
}

// A worker silent this long is gone (its leases ran out long before): not listed, and forgotten
// by the next registration.
bool Silent(const CommandContext& ctx, const Keyspace::Worker& w) {
  return ctx.now_ms() - w.last_seen_ms > kForgetWorkerMs;
}

// Native workers, with the jobs they hold leases on. A cluster replica lists them all: the
// heartbeats that show a worker alive reach only the master (they change nothing durable).
void ReadNativeWorkers(CommandContext& ctx, std::vector<WorkerView>* out) {
  for (const auto& [id, w] : ctx.keyspace().workers()) {
    if (!ctx.keyspace().replica() && Silent(ctx, w)) continue;
    WorkerView v;
    v.kind = "native";
    v.id = id;
    v.host = w.host;
    v.pid = w.pid;
    v.started_at = std::to_string(w.registered_ms);
    v.queues = w.queues;
    v.adapters = w.adapters;
    v.capabilities = w.capabilities;
    v.labels = w.labels;
    v.concurrency = w.concurrency;
    v.last_seen_ms = w.last_seen_ms;
    v.health = w.health;
    v.rss_bytes = w.rss_bytes;
    v.processed = w.processed;
    v.failed = w.failed;
    v.quiet = w.quiet;
    ctx.keyspace().db(w.db).ForEachLeased([&](Job* j) {
      if (j->lease_owner() == id) {
        v.jobs.push_back(
            {j->queue->key(), j->payload.str(), std::to_string(j->run_at_ms), FormatJobId(j->id)});
      }
      return true;
    });
    out->push_back(std::move(v));
  }
}

void WorkerList(CommandContext& ctx) {
  std::vector<WorkerView> workers;
  ReadNativeWorkers(ctx, &workers);
  for (const Dialect& d : ctx.keyspace().dialects().all()) {
    if (d.name == "resque") ReadResqueWorkers(ctx, d, &workers);
    if (d.name == "sidekiq") ReadSidekiqProcesses(ctx, d, &workers);
  }
  auto& r = ctx.reply;
  r.Array(workers.size());
  for (const WorkerView& w : workers) {
    r.Map(17);
    for (auto [name, value] : {std::pair<const char*, const std::string*>{"kind", &w.kind},
                               {"id", &w.id},
                               {"host", &w.host},
                               {"pid", &w.pid},
                               {"started_at", &w.started_at},
                               {"health", &w.health}}) {
      r.Field(name, *value);
    }
    for (auto [name, list] :
         {std::pair<const char*, const std::vector<std::string>*>{"queues", &w.queues},
          {"adapters", &w.adapters},
          {"capabilities", &w.capabilities},
          {"labels", &w.labels}}) {
      r.Bulk(name);
      r.Array(list->size());
      for (const auto& item : *list) r.Bulk(item);
    }
    r.Field("concurrency", w.concurrency);
    r.FieldOrNull("last_seen", w.last_seen_ms);
    for (auto [name, value] :
         {std::pair<const char*, const std::optional<int64_t>*>{"rss", &w.rss_bytes},
          {"processed", &w.processed},
          {"failed", &w.failed}}) {
      r.Bulk(name);
      *value ? r.Integer(**value) : r.NullBulk();
    }
    r.Field("quiet", w.quiet ? 1 : 0);
    r.Bulk("jobs");
    r.Array(w.jobs.size());
    for (const auto& j : w.jobs) {
      r.Map(4);
      r.Field("queue", j.queue);
      r.Field("payload", j.payload);
      r.Field("run_at", j.run_at);
      r.Field("id", j.job_id);
    }
  }
}

// "a,b,c" -> {a, b, c}
std::vector<std::string> List(std::string_view s) { return Split(s, ','); }

// WORKER.REGISTER id [HOST h] [PID p] [ADAPTERS a,b] [CAPABILITIES c,d] [LABELS l,m]
//                 [CONCURRENCY n] [QUEUES q1,q2] [INCARNATION token] [HEALTH why]
// A process registering under an id another process (another INCARNATION) held has replaced
// it: the jobs leased to the old one go back to their queues now, each an attempt more.
void WorkerRegister(CommandContext& ctx) {
  Keyspace::Worker w;
  w.id = ctx.args[1];
  for (size_t i = 2; i < ctx.args.size(); i += 2) {
    if (i + 1 >= ctx.args.size()) return ctx.Error(err::kSyntax);
    const std::string& v = ctx.args[i + 1];
    if (ctx.Is(i, "HOST")) {
      w.host = v;
    } else if (ctx.Is(i, "PID")) {
      w.pid = v;
    } else if (ctx.Is(i, "ADAPTERS")) {
      w.adapters = List(v);
    } else if (ctx.Is(i, "CAPABILITIES")) {
      w.capabilities = List(v);
    } else if (ctx.Is(i, "LABELS")) {
      w.labels = List(v);
    } else if (ctx.Is(i, "QUEUES")) {
      w.queues = List(v);
      for (const std::string& queue : w.queues) {
        if (!ctx.MayAccess(queue, true)) return ctx.Error(err::kNoKeyPermission);
      }
    } else if (ctx.Is(i, "INCARNATION")) {
      w.incarnation = v;
    } else if (ctx.Is(i, "HEALTH")) {
      w.health = v;
    } else if (ctx.Is(i, "CONCURRENCY")) {
      long long n;
      if (!ParseInt64(v, &n) || n < 1 || n > 10000) {
        return ctx.Error("ERR CONCURRENCY must be an integer from 1 to 10000");
      }
      w.concurrency = static_cast<int>(n);
    } else {
      return ctx.Error(err::kSyntax);
    }
  }
  w.db = ctx.client.db;
  w.registered_ms = w.last_seen_ms = ctx.now_ms();
  Keyspace& keyspace = ctx.keyspace();
  std::vector<std::string> gone;
  for (const auto& [id, other] : keyspace.workers()) {
    if (id != w.id && Silent(ctx, other)) gone.push_back(id);
  }
  for (const std::string& id : gone) keyspace.ForgetWorker(id);
  auto old = keyspace.workers().find(w.id);
  if (old != keyspace.workers().end()) {
    // A reconnect (the same process: its incarnation) keeps what was asked of it: kills, quiet,
    // stop. An entry of another database goes with its record.
    if (old->second.incarnation == w.incarnation) {
      w.kill = old->second.kill;
      w.quiet = old->second.quiet;
      w.stop = old->second.stop;
    }
    if (old->second.db != w.db) keyspace.ForgetWorker(w.id);
  }
  if (!w.incarnation.empty()) keyspace.db(w.db).ReleaseLeases({w.id, w.incarnation});
  keyspace.SaveWorker(keyspace.workers().insert_or_assign(w.id, std::move(w)).first->second);
  ctx.reply.Ok();
}

// WORKER.HEARTBEAT id [LEASE ms] [INCARNATION token] [JOBS id,id] [HEALTH why]: the worker
// is alive (HEALTH: why it takes no jobs now, "" when it does); the
// leases its process holds (those of JOBS only, when given: a job it gave up is left to
// expire) last `LEASE` more ms. Replies what the scheduler wants of it: its queues, jobs to
// kill, whether to stop. A process that another one replaced under its id is told so.
void WorkerHeartbeat(CommandContext& ctx) {
  Keyspace::Worker* w = WorkerNamed(ctx, ctx.args[1]);
  if (!w) return;
  long long lease = kDefaultLeaseMs;
  std::optional<std::set<uint64_t>> only;
  std::optional<std::string> health;
  // What the worker says of itself, applied once the whole command parsed.
  using Stat = std::optional<int64_t> Keyspace::Worker::*;
  const std::pair<const char*, Stat> kStats[] = {{"RSS", &Keyspace::Worker::rss_bytes},
                                                 {"PROCESSED", &Keyspace::Worker::processed},
                                                 {"FAILED", &Keyspace::Worker::failed}};
  std::vector<std::pair<Stat, int64_t>> reported;
  for (size_t i = 2; i < ctx.args.size(); i += 2) {
    if (i + 1 >= ctx.args.size()) return ctx.Error(err::kSyntax);
    if (ctx.Is(i, "LEASE")) {
      if (!ParseInt64(ctx.args[i + 1], &lease) || lease <= 0 || lease > kMaxLeaseMs) {
        return ctx.Error("ERR LEASE must be from 1 to 86400000 ms");
      }
    } else if (ctx.Is(i, "INCARNATION")) {
      if (ctx.args[i + 1] != w->incarnation) {
        return ctx.Error("STALEWORKER another process registered as worker '" + w->id +
                         "'; this one's leases are gone");
      }
    } else if (ctx.Is(i, "HEALTH")) {
      health = ctx.args[i + 1];
    } else if (auto stat = std::find_if(std::begin(kStats), std::end(kStats),
                                        [&](const auto& s) { return ctx.Is(i, s.first); });
               stat != std::end(kStats)) {
      long long n;
      if (!ParseInt64(ctx.args[i + 1], &n) || n < 0) {
        return ctx.Error("ERR RSS, PROCESSED and FAILED must be non-negative integers");
      }
      reported.emplace_back(stat->second, n);
    } else if (ctx.Is(i, "JOBS")) {
      only.emplace();
      for (const std::string& item : List(ctx.args[i + 1])) {
        uint64_t id;
        if (!ParseJobId(item, &id)) return ctx.Error("ERR invalid job id '" + item + "'");
        only->insert(id);
      }
    } else {
      return ctx.Error(err::kSyntax);
    }
  }
  w->last_seen_ms = ctx.now_ms();
  for (auto [stat, n] : reported) w->*stat = n;
  bool changed = health && *health != w->health;
  if (health) w->health = std::move(*health);
  Database& db = ctx.keyspace().db(w->db);
  db.ExtendLeases({w->id, w->incarnation}, ctx.now_ms() + lease, only ? &*only : nullptr);
  changed |= std::erase_if(w->kill, [&](uint64_t id) {  // forget kills of jobs it no longer runs
               Job* j = db.FindJob(id);
               return !j || j->state != JobState::kLeased || j->lease_owner() != w->id;
             }) > 0;
  if (changed) ctx.keyspace().SaveWorker(*w);
  auto& r = ctx.reply;
  r.Map(5);
  r.Bulk("queues");
  r.Array(w->queues.size());
  for (const auto& q : w->queues) r.Bulk(q);
  r.Bulk("kill");
  r.Array(w->kill.size());
  for (uint64_t id : w->kill) r.Bulk(FormatJobId(id));
  r.Field("stop", w->stop);
  r.Field("register", w->refresh);
  r.Field("quiet", w->quiet);
}

// WORKER.ATTACH / WORKER.DETACH id queue [queue ...]: the worker's queues change at once; it
// fetches from the new set with its next JOB.FETCH.
void ChangeQueues(CommandContext& ctx, bool attach) {
  Keyspace::Worker* w = WorkerNamed(ctx, ctx.args[1]);
  if (!w) return;
  std::vector<std::string> before = w->queues;
  long long changed = 0;
  for (size_t i = 2; i < ctx.args.size(); i++) {
    auto at = std::find(w->queues.begin(), w->queues.end(), ctx.args[i]);
    if (attach && at == w->queues.end()) {
      w->queues.push_back(ctx.args[i]);
      changed++;
    } else if (!attach && at != w->queues.end()) {
      w->queues.erase(at);
      changed++;
    }
  }
  // A JOB.FETCH blocked on the old set must see the new one: wake it to fetch again.
  for (const auto& key : before) ctx.keyspace().db(w->db).Touch(key);
  if (changed > 0) ctx.keyspace().SaveWorker(*w);
  ctx.reply.Integer(changed);
}
void WorkerAttach(CommandContext& ctx) { ChangeQueues(ctx, true); }
void WorkerDetach(CommandContext& ctx) { ChangeQueues(ctx, false); }

// WORKER.STOP / WORKER.REFRESH: requests the worker reads in its next heartbeat reply.
void Request(CommandContext& ctx, bool Keyspace::Worker::*flag) {
  Keyspace::Worker* w = WorkerNamed(ctx, ctx.args[1]);
  if (!w) return;
  w->*flag = true;
  ctx.keyspace().SaveWorker(*w);
  ctx.reply.Ok();
}
void WorkerStop(CommandContext& ctx) { Request(ctx, &Keyspace::Worker::stop); }

// WORKER.QUIET id [ON|OFF]: the worker finishes its running jobs and fetches no new ones (ON,
// the default), or fetches again (OFF). Replies 1 when that changed the worker, else 0.
void WorkerQuiet(CommandContext& ctx) {
  if (ctx.args.size() > 3 || (ctx.args.size() == 3 && !ctx.Is(2, "ON") && !ctx.Is(2, "OFF"))) {
    return ctx.Error(err::kSyntax);
  }
  Keyspace::Worker* w = WorkerNamed(ctx, ctx.args[1]);
  if (!w) return;
  bool quiet = ctx.args.size() == 2 || ctx.Is(2, "ON");
  if (w->quiet == quiet) return ctx.reply.Integer(0);
  w->quiet = quiet;
  ctx.keyspace().SaveWorker(*w);
  // A fetch waiting on its queues looks again and takes a job (a quiet one's waits on anyway).
  if (!quiet) {
    for (const auto& key : w->queues) ctx.keyspace().db(w->db).Touch(key);
  }
  ctx.reply.Integer(1);
}
void WorkerRefresh(CommandContext& ctx) { Request(ctx, &Keyspace::Worker::refresh); }

}  // namespace

Keyspace::Worker* WorkerNamed(CommandContext& ctx, const std::string& id) {
  auto& workers = ctx.keyspace().workers();
  auto it = workers.find(id);
  if (it != workers.end()) return &it->second;
  ctx.Error("NOWORKER unknown worker '" + id + "': WORKER.REGISTER first");
  return nullptr;
}

void RegisterWorkerCommands(CommandRegistry* r) {
  using namespace cmd;
  r->Group("worker")
      .Add("worker.list", 1, kReadOnly, {}, WorkerList,
           "Every worker: native ones, resque workers and Sidekiq processes, with host, pid, "
           "queues, adapters and running jobs")
      .Args("")
      .Add("worker.register", -2, kWrite, {}, WorkerRegister, "A native worker announces itself")
      .Args(
          "id [HOST host] [PID pid:integer] [ADAPTERS adapters] [CAPABILITIES capabilities] "
          "[LABELS labels] [CONCURRENCY concurrency:integer] [QUEUES queues] [INCARNATION "
          "incarnation] [HEALTH health]")
      .Categories("worker runner")
      .Add("worker.heartbeat", -2, kWrite | kFast, {}, WorkerHeartbeat,
           "A native worker is alive; replies its queues, jobs to kill, stop")
      .Args(
          "id [LEASE ms:integer] [INCARNATION incarnation] [JOBS jobs] [HEALTH health] [RSS "
          "bytes:integer] [PROCESSED processed:integer] [FAILED failed:integer]")
      .Categories("worker runner")
      .Add("worker.attach", -3, kWrite, {}, WorkerAttach, "Add queues to a worker")
      .Args("id queue:key...")
      .Keys("RO")
      .Add("worker.detach", -3, kWrite, {}, WorkerDetach, "Remove queues from a worker")
      .Args("id queue:key...")
      .Keys("RO")
      .Add("worker.stop", 2, kWrite, {}, WorkerStop,
           "Ask a worker to finish its running jobs and exit")
      .Args("id")
      .Add("worker.quiet", -2, kWrite, {}, WorkerQuiet,
           "Ask a worker to finish its running jobs and take no new ones (OFF: take them again)")
      .Args("id [ON|OFF]")
      .Add("worker.refresh", 2, kWrite, {}, WorkerRefresh,
           "Ask a worker to register again with its current adapters and capabilities")
      .Args("id");
}

}  // namespace desaster
