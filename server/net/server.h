// The network layer: a libev loop that accepts clients, reads and parses requests, hands each
// command to the dispatcher, commits the iteration's mutations and only then writes replies.
#pragma once

#include <ev++.h>

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "cluster/forward.h"
#include "cluster/log_entry.h"
#include "cluster/node.h"
#include "resp/parser.h"
#include "server/command/server_state.h"
#include "server/data/payload_compactor.h"
#include "server/store/commit.h"
#include "server/store/commit_queue.h"

namespace desaster {

class Server {
 public:
  Server(ServerState* state, CommitPipeline* commit);
  ~Server();

  // Binds and listens on options.bind:options.port (port 0 picks a free one). False on error.
  // Also on options.tls_port (when not 0) for clients that speak TLS, and in cluster mode on
  // options.sentinel_port (when not 0) for Redis Sentinel's commands.
  bool Listen(std::string* error);
  int port() const { return port_; }
  int tls_port() const { return tls_port_; }
  int sentinel_port() const { return sentinel_port_; }
  // Cluster mode (DESIGN.md §10): `commit` (the pipeline given to the constructor) appends to
  // the log while this node is the master. Before Run.
  void AttachCluster(ClusterNode* node, ClusterCommit* commit);
  // Loads the durable state (answering -LOADING meanwhile), then serves until SHUTDOWN, SIGTERM
  // or SIGINT.
  void Run();

 private:
  struct Connection;

  void OnAccept(ev::io& w, int revents);
  // Whether this node's Sentinel answers can be trusted: its etcd session is alive. Otherwise
  // its sentinel port turns clients away (they then ask another node's).
  bool SentinelHealthy() const;
  void OnReadable(Connection* c);
  void OnWritable(Connection* c);
  void OnBlockTimeout(Connection* c);
  void OnBeforeSleep(ev::prepare& w, int revents);
  void OnCron(ev::timer& w, int revents);
  void OnSignal(ev::sig& w, int revents);
  void OnLoadStep(ev::idle& w, int revents);
  // A slice of the round that compresses waiting jobs' payloads, while the loop is idle.
  void OnCompressStep(ev::idle& w, int revents);
  static void OnCommitDone(ev::async&, int) {}
  // Whether each batch is synced before its replies leave (appendfsync always).
  bool SyncEachBatch() const;
  // Delayed jobs fall due and rate-limited queues may hand out jobs again: on time, not on the
  // next cron tick.
  void OnQueueTimer(ev::timer& w, int revents);
  // The loop wakes when a CLIENT PAUSE ends; the before-sleep stage resumes the clients.
  void OnPauseEnd(ev::timer&, int) {}
  // Runs the commands CLIENT PAUSE held once it is over (UNPAUSE, or its time is up).
  void ResumeIfUnpaused();
  void ArmQueueTimer();
  // Whether timers may change state: not on a cluster replica, whose state changes only by the
  // log, nor on a master that cannot prove it still leads.
  bool MayChangeState();
  // Stores the job metrics counted since the last time (a master's, while writes are accepted).
  void FlushMetrics();
  static constexpr int64_t kMetricsFlushMs = 2000;

  // Cluster mode: handles what the cluster threads saw, in order: log entries are applied (on
  // a replica), leader changes make this node master or depose it.
  void HandleClusterEvents();
  void HandleLeader(const ClusterEvent& event);
  // What the leader key says: this node becomes master, steps down, or follows another.
  void UpdateRole(const ClusterEvent& event);
  // The master deletes the log entries no live node needs any more.
  void TrimLog();
  // Campaigns unless this node may not lead (never-master, halted, handing over).
  void MayCampaign();
  // FAILOVER: the master steps down and lets another node win.
  void HandOver();
  // A master runs commands only while it provably holds its lease: input waits meanwhile, and
  // runs once etcd renews it. Too long in doubt, the master steps down.
  void CheckLease();
  // Applies the complete group that log entry `lsn` ends and commits it to the store.
  void ApplyGroup(uint64_t lsn, const LogGroup& group);
  // This node's campaign won, and every entry before it is applied: it serves as master.
  void BecomeMaster(int64_t epoch);
  // This node no longer leads (or a replica's commit failed): every client is disconnected,
  // the keyspace is rebuilt from the store and the log is followed from there.
  void StepDown(const std::string& why);
  // Stops following the log: an entry this build cannot apply.
  void Halt(const std::string& why);

  // Submits the mutations recorded since the last submission as one batch.
  void SubmitPending();
  // Submits `mutations` as the next batch (CommitQueue::Submit) and counts it for INFO;
  // `log_index`: the cluster log entry it applies (a replica's).
  void Submit(std::vector<Mutation> mutations, bool sync, bool background, uint64_t log_index = 0);
  // Takes the commit queue's outcomes: advances committed_lsn and releases the replies that
  // waited for it. A failure is left in commit_error_ for HandleCommitFailure.
  void TakeCommitted();
  // Submits what is pending and waits until all of it is committed; false (after handling the
  // failure) when a commit failed.
  bool CommitNow(std::string* error);
  // A commit failed: clients whose replies waited for it (or for a later batch) are
  // disconnected, memory is rebuilt from what is durable, and writes are refused until a probe
  // write succeeds.
  void HandleCommitFailure();
  // Drops the searches of archived completions under way: their clients' commands run again,
  // with new searches.
  void RestartCompletedSearches();
  // Rebuilds the keyspace from the store; returns the log index it covers (cluster mode).
  uint64_t ReloadFromStore();
  // Cluster mode: the ACL users the log (or the store) holds become this node's.
  void AdoptAclUsers();
  // The script engine compiles the function libraries the keyspace holds (after a load, and
  // when the master's log changes them).
  void AdoptFunctions();

  // Parses and runs as many complete commands as the input holds (stops while blocked).
  void ProcessInput(Connection* c);
  // Whether the connection has a command to run: parsed and waiting, or bytes not parsed yet.
  static bool HasInput(const Connection* c);

  // Forwarding (cluster/forward.h): where a cluster replica runs a client's command.
  enum class Route {
    kLocal,       // here: not a replica, a command of the node itself, or not forwarding
    kForward,     // on the master, over the client's link
    kAfterLinks,  // here, once the master answered what was forwarded before it
    kNoMaster,    // on the master, once one is known
  };
  // *spec: the command's table entry (nullptr when unknown or malformed: the master says so).
  Route RouteOf(Connection* c, const CommandSpec** spec);
  // Sends the parsed command to the master, opening the client's link first.
  void Forward(Connection* c, const CommandSpec* spec);
  // A reply from the master: to the client, in order with the local replies before it.
  void Relay(Connection* c, std::string_view reply);
  // The client goes once the replies it has are written (its link closed, its master changed).
  void DrainAndClose(Connection* c);
  // The master changed: linked clients go, and clients waiting for a master go on.
  void MasterChanged();
  void MarkPending(Connection* c);
  // Writes committed output; closes the connection when it asked to be closed.
  void Flush(Connection* c);
  // Sends `message` and closes the connection (refused: too many clients, protected mode).
  void Refuse(Connection* c, std::string_view message);
  void ReleaseWhileBusy();
  void Close(Connection* c);
  // The connection of client `id`, or nullptr once it is gone.
  Connection* FindConnection(uint64_t id);
  bool OverOutputLimit(Connection* c);

  // Output of a client that may leave once the batch `lsn` is committed: up to `end`, counted
  // from the client's first byte of output (Connection::output_base).
  struct Awaiting {
    uint64_t lsn;
    uint64_t client_id;
    uint64_t end;
  };

  ServerState* state_;
  CommitPipeline* commit_;
  ev::dynamic_loop loop_;
  ev::async commit_done_;  // the helper finished a commit: the before-sleep stage takes it
  std::unique_ptr<CommitQueue> commits_;
  std::deque<Awaiting> awaiting_;  // in LSN order
  std::string commit_error_;
  ev::io accept_watcher_;
  ev::prepare before_sleep_;
  ev::timer cron_;
  ev::timer queue_timer_;
  int64_t queue_timer_at_ms_ = 0;  // when queue_timer_ fires (0: not armed)
  ev::sig sigterm_, sigint_;
  ev::idle load_step_;
  ev::idle compress_step_;
  PayloadCompactor compactor_{&state_->keyspace};
  std::unique_ptr<StateLoader> loader_;
  int64_t load_started_us_ = 0;
  int64_t last_flush_ms_ = 0, last_probe_ms_ = 0, metrics_flushed_ms_ = 0;
  uint64_t flushed_lsn_ = 0;
  int listen_fd_ = -1;
  int port_ = 0;
  ev::io tls_accept_watcher_;
  int tls_fd_ = -1;
  int tls_port_ = 0;
  ev::io sentinel_accept_watcher_;
  int sentinel_fd_ = -1;
  int sentinel_port_ = 0;
  uint64_t next_client_id_ = 1;
  uint64_t next_lsn_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> connections_;
  std::vector<uint64_t> pending_;  // connections with output or resumable input
  std::vector<uint64_t> closed_;   // closed connections, deleted at the end of the iteration
  std::vector<char> read_buffer_ = std::vector<char>(64 * 1024);
  bool busy_ = false;  // a busy script is letting the loop serve others

  ClusterNode* cluster_ = nullptr;
  ClusterCommit* cluster_commit_ = nullptr;
  ev::async cluster_wake_;  // events from the cluster threads: the before-sleep stage takes them
  // A helper thread finished a read for a waiting client: a SNAPSHOT.READ page, or a search of
  // archived completions.
  ev::async helper_done_;
  std::atomic<bool> snapshot_pages_ready_{false}, completed_searches_ready_{false};
  GroupAssembler groups_;
  std::deque<ClusterEvent> cluster_events_;  // taken from the cluster, not handled yet
  uint64_t log_next_ = 1;                    // the log entry a replica applies next
  uint64_t log_head_ = 0;                    // the last log entry seen
  bool halted_ = false;                      // stopped following: see the log
  bool caught_up_ = false;                   // has applied the log as of the leader key's state
  int64_t not_caught_up_logged_us_ = 0;      // waiting for caught_up_ since (or last said so)
  int64_t deposed_epoch_ = 0;                // the epoch this node last stepped down from
  std::vector<uint64_t> held_input_;         // connections whose input waits for the lease
  int64_t lease_doubt_since_us_ = 0;         // when the master last became unsure of its lease
  int64_t sit_out_until_us_ = 0;             // after FAILOVER: no campaign before this
  std::vector<uint64_t> waiting_master_;     // connections whose command waits for a master
  std::vector<uint64_t> paused_;             // connections whose command waits for CLIENT PAUSE
  ev::timer pause_timer_;
  int64_t pause_timer_at_ms_ = 0;
  // Nodes that left the registry lately, with the last log entry they held (TrimLog).
  struct Departed {
    uint64_t applied = 0;
    int64_t left_ms = 0;
  };
  std::map<std::string, Departed> departed_;
  // Links dropped while a callback of theirs may be on the stack; deleted after the iteration.
  std::vector<std::unique_ptr<ForwardLink>> retired_links_;
};

}  // namespace desaster
