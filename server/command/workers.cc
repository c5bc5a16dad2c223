// WORKER.*: the workers serving this server's queues. Workers that register the resque way
// (resque:workers, resque:worker:<id>) or the Sidekiq way (processes, <identity> hashes) are
// read from their keys, so they show up next to native workers without changing them.
#include "server/command/context.h"
#include "server/command/registry.h"

namespace desaster {
namespace {

struct WorkerView {
  std::string kind, id, host, pid, started_at;
  std::vector<std::string> queues;
  struct Running {
    std::string queue, payload, run_at;
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

const Hash* HashAt(Database& db, const std::string& key) {
  const Value* v = db.Find(key);
  return v && v->type() == ValueType::kHash ? &v->hash() : nullptr;
}

std::vector<std::string> Members(Database& db, const std::string& key) {
  std::vector<std::string> out;
  const Value* v = db.Find(key);
  if (v && v->type() == ValueType::kSet) {
    v->set().ForEach([&](const std::string& m, const Unit&) { out.push_back(m); });
  }
  std::sort(out.begin(), out.end());
  return out;
}

WorkerView::Running RunningFrom(std::string_view json) {
  return {JsonField(json, "queue").value_or(""), JsonField(json, "payload").value_or(""),
          JsonField(json, "run_at").value_or("")};
}

// resque: "host:pid:queue1,queue2" in <ns>:workers; <ns>:worker:<id> holds the running job.
void ReadResqueWorkers(Database& db, const Dialect& d, std::vector<WorkerView>* out) {
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
    out->push_back(std::move(w));
  }
}

// Sidekiq: identities in <ns>processes; each identity's hash has "info" (JSON) and
// "<identity>:workers" maps thread ids to the running jobs.
void ReadSidekiqProcesses(Database& db, const Dialect& d, std::vector<WorkerView>* out) {
  std::string ns =
      d.workers_set.substr(0, d.workers_set.size() - std::string_view("processes").size());
  for (const std::string& identity : Members(db, d.workers_set)) {
    WorkerView w;
    w.kind = d.name;
    w.id = identity;
    if (const Hash* h = HashAt(db, ns + identity)) {
      if (const std::string* info = h->Find("info")) {
        w.host = JsonField(*info, "hostname").value_or("");
        w.pid = JsonField(*info, "pid").value_or("");
        w.started_at = JsonField(*info, "started_at").value_or("");
        w.queues = JsonStrings(JsonField(*info, "queues").value_or("[]"));
      }
    }
    if (const Hash* work = HashAt(db, ns + identity + ":workers")) {
      work->ForEach([&](const std::string&, const std::string& json) {
        w.jobs.push_back(RunningFrom(json));
      });
    }
    out->push_back(std::move(w));
  }
}

void WorkerList(CommandContext& ctx) {
  std::vector<WorkerView> workers;
  for (const Dialect& d : ctx.keyspace().dialects().all()) {
    if (d.name == "resque") ReadResqueWorkers(ctx.db(), d, &workers);
    if (d.name == "sidekiq") ReadSidekiqProcesses(ctx.db(), d, &workers);
  }
  auto& r = ctx.reply;
  r.Array(workers.size());
  for (const WorkerView& w : workers) {
    r.Map(7);
    for (auto [name, value] : {std::pair<const char*, const std::string*>{"kind", &w.kind},
                               {"id", &w.id},
                               {"host", &w.host},
                               {"pid", &w.pid},
                               {"started_at", &w.started_at}}) {
      r.Field(name, *value);
    }
    r.Bulk("queues");
    r.Array(w.queues.size());
    for (const auto& q : w.queues) r.Bulk(q);
    r.Bulk("jobs");
    r.Array(w.jobs.size());
    for (const auto& j : w.jobs) {
      r.Map(3);
      r.Field("queue", j.queue);
      r.Field("payload", j.payload);
      r.Field("run_at", j.run_at);
    }
  }
}

}  // namespace

void RegisterWorkerCommands(CommandRegistry* r) {
  using namespace cmd;
  r->Group("worker").Add("worker.list", 1, kReadOnly, {}, WorkerList,
                         "Every worker: resque workers and Sidekiq processes from their "
                         "registrations, with host, pid, queues and running jobs");
}

}  // namespace desaster
