// desaster-worker: connects to a scheduler (spawning a local one if none answers), registers
// its adapters, fetches jobs under leases and runs them, heartbeats, and reports each outcome.
#pragma once

#include <ev++.h>

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <string>
#include <vector>

#include "client/scheduler_connection.h"
#include "worker/adapter.h"
#include "worker/id_lock.h"

namespace desaster::worker {

struct WorkerOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  client::SchedulerAccess access;  // login and TLS
  std::string id;                  // default: host:pid
  std::vector<std::string> queues;
  std::vector<std::string> adapters = {"command"};
  std::vector<std::string> capabilities, labels;
  int concurrency = 1;
  int lease_ms = 30000;
  int heartbeat_ms = 1000;
  int kill_grace_ms = 5000;
  int shutdown_timeout_s = 30;
  bool spawn_scheduler = true;  // when no scheduler answers on a loopback address
  std::string scheduler_bin;    // default: desaster-scheduler next to this program
  std::string data_dir = "./data";
  // Cluster mode (etcd://...): the local scheduler this worker starts is a member of that
  // cluster, and is started again whenever it is gone.
  std::string cluster;
  bool cluster_master = false;              // the local scheduler may become master
  std::string cluster_advertise;            // where other nodes reach it (default: --scheduler)
  std::vector<std::string> scheduler_args;  // more arguments for the scheduler it starts
  AdapterOptions adapter;
};

class Worker {
 public:
  Worker(ev::default_loop& loop, WorkerOptions options);
  ~Worker();
  // Creates the adapters; false with *error if one cannot start (a ruby boot that fails).
  bool Init(std::string* error);
  // Runs until stopped (SIGTERM: graceful, SIGQUIT: at once, or WORKER.STOP); returns the
  // exit status (1: another process took over this worker's id).
  int Run();

 private:
  using Connection = client::SchedulerConnection;
  using Clock = std::chrono::steady_clock;
  struct Running {
    JobSpec job;
    std::unique_ptr<worker::Run> run;
    bool killing = false;      // JOB.KILL reached it; its outcome is still to come
    bool abandoned = false;    // its lease may be gone: stopped, and its outcome not reported
    Clock::time_point leased;  // when the JOB.FETCH that leased it was sent
    // Told since the last JOB.REPORT: output (its last kLiveOutputKept bytes) and progress.
    std::string output;
    std::optional<std::pair<double, std::string>> progress;
  };
  static constexpr size_t kLiveOutputKept = 64 * 1024;

  // Connects once this process holds its id's lock (id_lock.h), polling until it does.
  void OnIdLockTimer(ev::timer&, int);
  void Connect();
  void OnConnected(Connection* c, bool ok, const std::string& error);
  void OnDisconnected(Connection* c);
  void ScheduleReconnect();
  void OnReconnectTimer(ev::timer&, int);
  bool SpawnScheduler();
  // Whether the scheduler this worker started still runs.
  bool SchedulerRunning();
  void Register();
  std::vector<std::string> AdapterNames() const;
  // Why it takes no jobs now: its adapters' problems ("" when healthy).
  std::string Health() const;
  void OnHealthChanged();
  void OnRegisterRetry(ev::timer&, int) { Register(); }
  void OnHeartbeatTimer(ev::timer&, int);
  void Heartbeat();
  // Stops the jobs whose lease may run out before a heartbeat renews it: another worker gets
  // them then, and the same job must not run twice.
  void StopUnrenewedJobs();
  void Abandon(Running& r, int grace_ms, const std::string& why);
  void Fetch();
  void StartJob(JobSpec job, Clock::time_point leased);
  void Report(const std::string& id, const Outcome& outcome);
  void FlushReports();
  // The scheduler's answer to report `seq` (nullptr: the connection dropped before it).
  void OnReportReply(uint64_t seq, struct redisReply* r);
  void OnSignal(ev::sig& w, int);
  void BeginShutdown(const char* why);
  void OnShutdownTimer(ev::timer&, int);
  void MaybeExit();
  // Another process registered under this worker's id: its jobs are no longer ours.
  void OnReplaced(const std::string& error);
  // Running jobs' output and progress go to the scheduler (JOB.REPORT) a moment after they
  // come, a report per job; best effort: what a lost connection drops is not sent again.
  void ScheduleLiveReport();
  void OnLiveReportTimer(ev::timer&, int);
  // Sends a command on `c`; `on_reply` gets the reply (nullptr when the connection dropped).
  void Send(Connection* c, const std::vector<std::string>& argv,
            std::function<void(struct redisReply*)> on_reply);

  ev::default_loop& loop_;
  WorkerOptions options_;
  std::unique_ptr<IdLock> id_lock_;
  Clock::time_point id_lock_logged_;  // when the wait for the id's lock was last logged
  std::vector<std::unique_ptr<Adapter>> adapters_;
  std::unique_ptr<Connection> control_, fetch_;
  // This process among all that ever ran under options_.id: leases are held per incarnation.
  std::string incarnation_;
  Clock::time_point renewed_;  // when the last heartbeat that renewed our leases was sent
  int exit_status_ = 0;
  bool registered_ = false, fetching_ = false, stopping_ = false, spawned_ = false;
  // Once a scheduler answered, losing it means it restarts: the worker waits for it rather
  // than starting a second one on its own data directory. A cluster member is the exception:
  // the worker keeps it running (a second start on the same directory finds it locked).
  bool ever_connected_ = false;
  pid_t scheduler_pid_ = 0;  // the scheduler this worker started, until it exits
  int reconnect_delay_ms_ = 100;
  std::map<std::string, Running> running_;
  // An outcome (JOB.ACK/FAIL/RELEASE) stays until the scheduler answers it: sent again after a
  // reconnect, its job's lease renewed meanwhile.
  struct PendingReport {
    uint64_t seq;
    std::vector<std::string> argv;
    bool sent = false;  // and not yet answered
  };
  std::deque<PendingReport> reports_;
  uint64_t next_report_ = 0;
  // Jobs it finished (acknowledged) and failed, reported with its RSS in every heartbeat; a
  // scheduler too old to take them does not get them again.
  int64_t processed_ = 0, failed_ = 0;
  bool send_stats_ = true;
  bool quiet_ = false;        // WORKER.QUIET: the scheduler gives it no new jobs
  bool live_reports_ = true;  // false: the scheduler is too old to take JOB.REPORT
  ev::timer id_lock_timer_, heartbeat_, reconnect_, shutdown_timer_, register_retry_;
  ev::timer live_report_timer_;
  ev::sig sigterm_, sigint_, sigquit_;
};

}  // namespace desaster::worker
