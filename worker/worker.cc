#include "worker/worker.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <random>
#include <utility>

namespace desaster::worker {
namespace {

void Log(const std::string& message) {
  char when[32];
  time_t now = time(nullptr);
  strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&now));
  fprintf(stderr, "%s desaster-worker[%d] %s\n", when, getpid(), message.c_str());
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
  return out;
}

std::string Text(const redisReply* r) {
  return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
               r->type == REDIS_REPLY_ERROR)
             ? std::string(r->str, r->len)
             : std::string();
}

// A map reply (RESP2: a flat array of pairs) as name -> element.
std::map<std::string, const redisReply*> Fields(const redisReply* r) {
  std::map<std::string, const redisReply*> out;
  if (!r || r->type != REDIS_REPLY_ARRAY) return out;
  for (size_t i = 0; i + 1 < r->elements; i += 2) out[Text(r->element[i])] = r->element[i + 1];
  return out;
}

// The resident memory of this process and every process under it (its adapters' and jobs'),
// in bytes, from /proc.
int64_t TreeRssBytes(pid_t pid = getpid()) {
  int64_t bytes = 0;
  if (FILE* f = fopen(("/proc/" + std::to_string(pid) + "/statm").c_str(), "r")) {
    long long size = 0, resident = 0;
    if (fscanf(f, "%lld %lld", &size, &resident) == 2) bytes = resident * sysconf(_SC_PAGESIZE);
    fclose(f);
  }
  std::error_code ec;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    if (FILE* f = fopen((task.path() / "children").c_str(), "r")) {
      int child;
      while (fscanf(f, "%d", &child) == 1) bytes += TreeRssBytes(child);
      fclose(f);
    }
  }
  return bytes;
}

bool IsLoopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1";
}

}  // namespace

Worker::Worker(ev::default_loop& loop, WorkerOptions options)
    : loop_(loop), options_(std::move(options)) {
  if (options_.id.empty()) {
    char host[256] = "localhost";
    gethostname(host, sizeof(host) - 1);
    options_.id = std::string(host) + ":" + std::to_string(getpid());
  }
  std::random_device random;
  char token[33];
  snprintf(token, sizeof(token), "%08x%08x%08x%08x", random(), random(), random(), random());
  incarnation_ = token;
  id_lock_timer_.set(loop_);
  id_lock_timer_.set<Worker, &Worker::OnIdLockTimer>(this);
  heartbeat_.set(loop_);
  heartbeat_.set<Worker, &Worker::OnHeartbeatTimer>(this);
  reconnect_.set(loop_);
  reconnect_.set<Worker, &Worker::OnReconnectTimer>(this);
  shutdown_timer_.set(loop_);
  shutdown_timer_.set<Worker, &Worker::OnShutdownTimer>(this);
  register_retry_.set(loop_);
  register_retry_.set<Worker, &Worker::OnRegisterRetry>(this);
  live_report_timer_.set(loop_);
  live_report_timer_.set<Worker, &Worker::OnLiveReportTimer>(this);
  for (ev::sig* s : {&sigterm_, &sigint_, &sigquit_}) {
    s->set(loop_);
    s->set<Worker, &Worker::OnSignal>(this);
  }
}

Worker::~Worker() = default;

bool Worker::Init(std::string* error) {
  id_lock_ = IdLock::Open(options_.host + ":" + std::to_string(options_.port), options_.id, error);
  if (!id_lock_) return false;
  options_.adapter.id_lock = id_lock_->fd();
  for (const std::string& name : options_.adapters) {
    auto info = std::find_if(Adapters().begin(), Adapters().end(),
                             [&](const AdapterInfo& a) { return a.name == name; });
    if (info == Adapters().end()) {
      *error = "unknown adapter '" + name + "' (known: command, ruby)";
      return false;
    }
    auto adapter = info->make(loop_, options_.adapter, error);
    if (!adapter) {
      *error = "adapter " + name + ": " + *error;
      return false;
    }
    adapter->set_on_health([this] { OnHealthChanged(); });
    adapters_.push_back(std::move(adapter));
  }
  return true;
}

int Worker::Run() {
  sigterm_.start(SIGTERM);
  sigint_.start(SIGINT);
  sigquit_.start(SIGQUIT);
  heartbeat_.start(options_.heartbeat_ms / 1000.0, options_.heartbeat_ms / 1000.0);
  OnIdLockTimer(id_lock_timer_, 0);
  loop_.run(0);
  return exit_status_;
}

void Worker::OnIdLockTimer(ev::timer&, int) {
  if (id_lock_->TryAcquire()) return Connect();
  // A second process under a live worker's id waits for it to end, rather than taking its
  // jobs away while they run; after a crash this wait is the time its shims take to kill.
  if (Clock::now() - id_lock_logged_ > std::chrono::seconds(10)) {
    id_lock_logged_ = Clock::now();
    Log("waiting: " + id_lock_->Holder() + " still holds worker id '" + options_.id + "' at " +
        options_.host + ":" + std::to_string(options_.port));
  }
  id_lock_timer_.start(0.02, 0);
}

// ---- connections ----

void Worker::Connect() {
  for (auto* slot : {&control_, &fetch_}) {
    *slot = std::make_unique<client::SchedulerConnection>(loop_);
    Connection* c = slot->get();
    c->Connect(
        options_.host, options_.port, options_.access,
        [this, c](bool ok, const std::string& error) { OnConnected(c, ok, error); },
        [this, c] { OnDisconnected(c); });
  }
}

void Worker::OnConnected(Connection* c, bool ok, const std::string& error) {
  if (!ok) {
    bool nobody = error.find("refused") != std::string::npos;
    bool member = !options_.cluster.empty();
    bool first = !spawned_ && !ever_connected_;
    bool again = member && !SchedulerRunning();  // a cluster member that died starts again
    // (A scheduler this worker starts is plain: one reached over TLS is someone else's.)
    if (nobody && (first || again) && options_.spawn_scheduler && IsLoopback(options_.host) &&
        !options_.access.tls && c == control_.get()) {
      spawned_ = SpawnScheduler();
    } else if (c == control_.get()) {
      Log("cannot connect to " + options_.host + ":" + std::to_string(options_.port) + ": " +
          error);
    }
    return ScheduleReconnect();
  }
  ever_connected_ = true;
  reconnect_delay_ms_ = 100;
  if (c == control_.get()) {
    Log("connected to " + options_.host + ":" + std::to_string(options_.port));
    Register();
  } else {
    Fetch();
  }
}

void Worker::OnDisconnected(Connection* c) {
  if (c == fetch_.get()) fetching_ = false;
  if (c == control_.get()) {
    registered_ = false;
    if (!stopping_) Log("lost the scheduler; reconnecting");
  }
  ScheduleReconnect();
}

void Worker::ScheduleReconnect() {
  if (reconnect_.is_active() || (stopping_ && running_.empty() && reports_.empty())) return;
  reconnect_.start(reconnect_delay_ms_ / 1000.0, 0);
  reconnect_delay_ms_ = std::min(reconnect_delay_ms_ * 2, 5000);  // backoff up to 5 s
}

void Worker::OnReconnectTimer(ev::timer&, int) {
  // Both connections start over: drop whichever survived.
  control_.reset();
  fetch_.reset();
  registered_ = false;
  fetching_ = false;
  Connect();
}

bool Worker::SchedulerRunning() {
  if (scheduler_pid_ <= 0) return false;
  // Reaped here, or already by the loop's SIGCHLD handling (then: no such child).
  if (waitpid(scheduler_pid_, nullptr, WNOHANG) == 0) return true;
  scheduler_pid_ = 0;
  return false;
}

bool Worker::SpawnScheduler() {
  std::string bin = options_.scheduler_bin;
  if (bin.empty()) {
    std::error_code ec;
    bin = (std::filesystem::read_symlink("/proc/self/exe", ec).parent_path() / "desaster-scheduler")
              .string();
  }
  std::string log = options_.data_dir + ".log";
  Log("no scheduler answers on " + options_.host + ":" + std::to_string(options_.port) +
      "; starting " + bin + " (data in " + options_.data_dir + ", log in " + log + ")");
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    setsid();  // it outlives this worker: it is the machine's scheduler now
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    std::vector<std::string> args = {
        bin,          "--bind",         options_.host, "--port", std::to_string(options_.port),
        "--data-dir", options_.data_dir};
    if (!options_.cluster.empty()) {
      std::string advertise = options_.cluster_advertise.empty()
                                  ? options_.host + ":" + std::to_string(options_.port)
                                  : options_.cluster_advertise;
      args.insert(args.end(),
                  {"--cluster", options_.cluster, "--advertise", advertise,
                   "--cluster-never-master", options_.cluster_master ? "false" : "true"});
    }
    args.insert(args.end(), options_.scheduler_args.begin(), options_.scheduler_args.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    fprintf(stderr, "cannot run %s: %s\n", bin.c_str(), strerror(errno));
    _exit(127);
  }
  scheduler_pid_ = pid;
  Log("spawned desaster-scheduler pid " + std::to_string(pid));
  return true;
}

void Worker::Send(Connection* c, const std::vector<std::string>& argv,
                  std::function<void(redisReply*)> on_reply) {
  if (c) return c->Send(argv, std::move(on_reply));
  if (on_reply) on_reply(nullptr);
}

// ---- registration, heartbeats ----

std::string Worker::Health() const {
  std::string problems;
  for (const auto& a : adapters_) {
    if (std::string p = a->problem(); !p.empty()) {
      problems += (problems.empty() ? "" : "; ") + std::string(a->name()) + ": " + p;
    }
  }
  return problems;
}

void Worker::OnHealthChanged() {
  std::string health = Health();
  Log(health.empty() ? "healthy again: taking jobs" : "unhealthy, taking no jobs: " + health);
  Heartbeat();  // the scheduler (WORKER.LIST, the UI) learns of it now
  Fetch();
}

std::vector<std::string> Worker::AdapterNames() const {
  std::vector<std::string> names;
  for (const auto& a : adapters_) names.emplace_back(a->name());
  return names;
}

void Worker::Register() {
  char host[256] = "localhost";
  gethostname(host, sizeof(host) - 1);
  Send(control_.get(),
       {"WORKER.REGISTER",
        options_.id,
        "HOST",
        host,
        "PID",
        std::to_string(getpid()),
        "ADAPTERS",
        Join(AdapterNames()),
        "CAPABILITIES",
        Join(options_.capabilities),
        "LABELS",
        Join(options_.labels),
        "CONCURRENCY",
        std::to_string(options_.concurrency),
        "QUEUES",
        Join(options_.queues),
        "INCARNATION",
        incarnation_,
        "HEALTH",
        Health()},
       [this](redisReply* r) {
         if (!r || r->type == REDIS_REPLY_ERROR) {
           Log("register failed: " + Text(r));
           return;
         }
         registered_ = true;
         Log("registered as " + options_.id + " for queues " + Join(options_.queues));
         Heartbeat();  // renews the leases it held across a reconnect at once
         FlushReports();
         Fetch();
       });
}

void Worker::OnHeartbeatTimer(ev::timer&, int) {
  StopUnrenewedJobs();
  Heartbeat();
  FlushReports();  // those a passing error sent back
}

void Worker::Heartbeat() {
  if (!registered_) return;
  // The leases to renew: jobs it runs, and finished ones whose outcome is still to be sent. A
  // job it gave up is left out, so its lease runs out and another run starts.
  std::vector<std::string> held;
  for (const auto& [id, r] : running_) {
    if (!r.abandoned) held.push_back(id);
  }
  for (const PendingReport& report : reports_) held.push_back(report.argv[1]);
  Clock::time_point sent = Clock::now();
  std::vector<std::string> beat = {
      "WORKER.HEARTBEAT", options_.id,  "LEASE", std::to_string(options_.lease_ms),
      "INCARNATION",      incarnation_, "JOBS",  Join(held),
      "HEALTH",           Health()};
  bool stats = send_stats_;
  if (stats) {
    for (const auto& [name, value] : {std::pair<const char*, int64_t>{"RSS", TreeRssBytes()},
                                      {"PROCESSED", processed_},
                                      {"FAILED", failed_}}) {
      beat.insert(beat.end(), {name, std::to_string(value)});
    }
  }
  Send(control_.get(), beat, [this, sent, stats](redisReply* r) {
    if (!r) return;
    if (r->type == REDIS_REPLY_ERROR) {
      if (Text(r).starts_with("NOWORKER")) Register();  // the scheduler restarted
      if (Text(r).starts_with("STALEWORKER")) OnReplaced(Text(r));
      if (stats && Text(r).starts_with("ERR syntax")) {
        Log("the scheduler takes no RSS and job counts in heartbeats: not sending them");
        send_stats_ = false;
        Heartbeat();  // the leases, renewed now
      }
      return;
    }
    renewed_ = std::max(renewed_, sent);
    auto f = Fields(r);
    // The scheduler owns the queue assignment (WORKER.ATTACH/DETACH); remember it so a
    // re-registration after a scheduler restart keeps it.
    if (const redisReply* q = f["queues"]) {
      std::vector<std::string> queues;
      for (size_t i = 0; i < q->elements; i++) queues.push_back(Text(q->element[i]));
      if (queues != options_.queues) {
        Log("queues now " + Join(queues));
        options_.queues = std::move(queues);
      }
    }
    if (const redisReply* k = f["kill"]) {
      for (size_t i = 0; i < k->elements; i++) {
        auto it = running_.find(Text(k->element[i]));
        if (it != running_.end() && it->second.run && !it->second.killing) {
          Log("killing job " + it->first);
          it->second.killing = true;
          it->second.run->Kill(options_.kill_grace_ms);
        }
      }
    }
    if (const redisReply* q = f["quiet"]; q && (q->integer != 0) != quiet_) {
      quiet_ = q->integer != 0;
      Log(quiet_ ? "quiet: finishing running jobs, taking no new ones (WORKER.QUIET)"
                 : "taking jobs again (WORKER.QUIET OFF)");
    }
    if (const redisReply* s = f["stop"]; s && s->integer) BeginShutdown("WORKER.STOP");
    if (const redisReply* again = f["register"]; again && again->integer) Register();
  });
}

// ---- jobs ----

void Worker::StopUnrenewedJobs() {
  // A lease lasts lease_ms from the later of the fetch that took the job and the last renewing
  // heartbeat (both counted from when they were sent, so never later than the scheduler's
  // clock). The job must be dead, its grace period included, a heartbeat before then.
  auto lease = std::chrono::milliseconds(options_.lease_ms);
  auto margin = std::chrono::milliseconds(options_.heartbeat_ms);
  Clock::time_point now = Clock::now();
  for (auto& [id, r] : running_) {
    if (r.abandoned || !r.run) continue;
    auto left = std::max(r.leased, renewed_) + lease - margin - now;
    auto grace = std::chrono::milliseconds(options_.kill_grace_ms);
    if (left > grace) continue;
    int grace_ms = static_cast<int>(
        std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(left).count()));
    Abandon(r, grace_ms, "its lease was not renewed (scheduler unreachable)");
  }
}

void Worker::Abandon(Running& r, int grace_ms, const std::string& why) {
  Log("stopping job " + r.job.id + ": " + why + "; it runs again from its queue");
  r.abandoned = true;
  r.run->Kill(grace_ms);
}

void Worker::OnReplaced(const std::string& error) {
  Log("exiting: " + error);
  exit_status_ = 1;
  for (auto& [id, r] : running_) {
    if (!r.abandoned && r.run) Abandon(r, 0, "another process took over this worker's id");
  }
  stopping_ = true;
  registered_ = false;
  reports_.clear();  // the scheduler refuses them from a replaced incarnation
  MaybeExit();
}

void Worker::Fetch() {
  if (!registered_ || fetching_ || stopping_ || !fetch_ || !fetch_->connected() ||
      static_cast<int>(running_.size()) >= options_.concurrency || !Health().empty()) {
    return;
  }
  fetching_ = true;
  Clock::time_point sent = Clock::now();
  Send(fetch_.get(),
       {"JOB.FETCH", options_.id, "BLOCK", "1000", "LEASE", std::to_string(options_.lease_ms)},
       [this, sent](redisReply* r) {
         fetching_ = false;
         if (!r) return;  // disconnected: the reconnect fetches again
         if (r->type == REDIS_REPLY_ERROR) {
           Log("fetch: " + Text(r));
           if (Text(r).starts_with("NOWORKER")) Register();
           return;
         }
         if (r->type == REDIS_REPLY_ARRAY) {
           auto f = Fields(r);
           StartJob({Text(f["id"]), Text(f["payload"])}, sent);
         }
         Fetch();
       });
}

void Worker::StartJob(JobSpec job, Clock::time_point leased) {
  auto adapter = std::find_if(adapters_.begin(), adapters_.end(),
                              [&](const auto& a) { return a->Accepts(job); });
  std::string id = job.id;
  if (adapter == adapters_.end()) {
    return Report(id, Outcome::Failed("NoAdapter",
                                      "no adapter of this worker (" + Join(AdapterNames()) +
                                          ") accepts the job's payload",
                                      true));
  }
  running_[id].job = job;
  running_[id].leased = leased;
  RunObserver observer;
  observer.output = [this, id](std::string_view data) {
    if (auto it = running_.find(id); it != running_.end()) {
      std::string& output = it->second.output;
      output.append(data);
      if (output.size() > kLiveOutputKept) output.erase(0, output.size() - kLiveOutputKept);
      ScheduleLiveReport();
    }
  };
  observer.progress = [this, id](double percent, std::string_view message) {
    if (auto it = running_.find(id); it != running_.end()) {
      it->second.progress.emplace(percent, message);
      ScheduleLiveReport();
    }
  };
  auto run = (*adapter)->Start(
      job,
      [this, id](Outcome o) {
        if (!running_[id].abandoned) Report(id, o);
        running_.erase(id);
        Fetch();
        MaybeExit();
      },
      std::move(observer));
  auto it = running_.find(id);
  if (it != running_.end()) it->second.run = std::move(run);
}

void Worker::Report(const std::string& id, const Outcome& o) {
  std::vector<std::string> argv;
  if (o.ok) {
    processed_++;
    argv = {"JOB.ACK", id, "WORKER", options_.id, "RESULT", o.result};
  } else if (o.not_started) {
    argv = {"JOB.RELEASE", id, "WORKER", options_.id};
  } else {
    argv = {"JOB.FAIL", id,        "WORKER",    options_.id, "ERROR",  o.error_class,
            "MESSAGE",  o.message, "BACKTRACE", o.backtrace, "RESULT", o.result};
    if (o.permanent) argv.push_back("DEAD");
    failed_++;
    Log("job " + id + " failed: " + o.error_class + ": " + o.message);
  }
  reports_.push_back({next_report_++, std::move(argv)});
  FlushReports();
}

void Worker::FlushReports() {
  if (!registered_ || !control_ || !control_->connected()) return;
  for (PendingReport& report : reports_) {
    if (report.sent) continue;
    report.sent = true;
    Send(control_.get(), report.argv,
         [this, seq = report.seq](redisReply* r) { OnReportReply(seq, r); });
  }
}

void Worker::OnReportReply(uint64_t seq, redisReply* r) {
  auto it = std::find_if(reports_.begin(), reports_.end(),
                         [seq](const PendingReport& report) { return report.seq == seq; });
  if (it == reports_.end()) return;
  // No reply: the scheduler may or may not have committed it (a master killed mid-write). It
  // goes again after the next registration; a second ACK of a finished job answers 0.
  if (!r) {
    it->sent = false;
    return;
  }
  if (r->type == REDIS_REPLY_ERROR) {
    std::string error = Text(r);
    bool passing = error.starts_with("READONLY") || error.starts_with("LOADING") ||
                   error.starts_with("MISCONF") || error.starts_with("TRYAGAIN");
    if (passing) {
      it->sent = false;  // sent again with the next heartbeat
      return;
    }
    Log("the scheduler refused " + it->argv[0] + " of job " + it->argv[1] + ": " + error);
  }
  reports_.erase(it);
  MaybeExit();
}

void Worker::ScheduleLiveReport() {
  if (live_reports_ && !live_report_timer_.is_active()) live_report_timer_.start(0.25, 0);
}

void Worker::OnLiveReportTimer(ev::timer&, int) {
  if (!registered_ || !control_ || !control_->connected()) return;
  for (auto& [id, r] : running_) {
    if (r.output.empty() && !r.progress) continue;
    std::vector<std::string> argv = {"JOB.REPORT", id, "WORKER", options_.id};
    if (!r.output.empty()) argv.insert(argv.end(), {"OUTPUT", std::exchange(r.output, {})});
    if (r.progress) {
      char percent[32];
      snprintf(percent, sizeof(percent), "%g", r.progress->first);
      argv.insert(argv.end(), {"PROGRESS", percent, "MESSAGE", r.progress->second});
      r.progress.reset();
    }
    Send(control_.get(), argv, [this](redisReply* reply) {
      if (reply && reply->type == REDIS_REPLY_ERROR &&
          Text(reply).starts_with("ERR unknown command") && live_reports_) {
        Log("the scheduler takes no JOB.REPORT: not sending jobs' output and progress");
        live_reports_ = false;
      }
    });
  }
}

// ---- stopping ----

void Worker::OnSignal(ev::sig& w, int) {
  if (w.signum == SIGQUIT) {
    Log("SIGQUIT: exiting now; the leases bring running jobs back to their queues");
    _exit(0);  // children die with us (PDEATHSIG)
  }
  BeginShutdown(w.signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

void Worker::BeginShutdown(const char* why) {
  if (stopping_) return;
  stopping_ = true;
  Log(std::string(why) + ": finishing " + std::to_string(running_.size()) +
      " running job(s), at most " + std::to_string(options_.shutdown_timeout_s) + " s");
  shutdown_timer_.start(options_.shutdown_timeout_s, 0);
  MaybeExit();
}

void Worker::OnShutdownTimer(ev::timer&, int) {
  Log("shutdown timeout: exiting; the leases bring unfinished jobs back to their queues");
  _exit(0);
}

void Worker::MaybeExit() {
  // The last outcomes must be answered first (across a reconnect if need be, within the
  // shutdown timeout): one that never arrives makes its job run again.
  if (!stopping_ || !running_.empty() || !reports_.empty()) return;
  loop_.break_loop(ev::ALL);
}

}  // namespace desaster::worker
