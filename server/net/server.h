// The network layer: a libev loop that accepts clients, reads and parses requests, hands each
// command to the dispatcher, commits the iteration's mutations and only then writes replies.
#pragma once

#include <ev++.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "resp/parser.h"
#include "server/command/server_state.h"
#include "server/store/commit.h"

namespace desaster {

class Server {
 public:
  Server(ServerState* state, CommitPipeline* commit);
  ~Server();

  // Binds and listens on options.bind:options.port (port 0 picks a free one). False on error.
  bool Listen(std::string* error);
  int port() const { return port_; }
  // Loads the durable state (answering -LOADING meanwhile), then serves until SHUTDOWN, SIGTERM
  // or SIGINT.
  void Run();

 private:
  struct Connection;

  void OnAccept(ev::io& w, int revents);
  void OnReadable(Connection* c);
  void OnWritable(Connection* c);
  void OnBlockTimeout(Connection* c);
  void OnBeforeSleep(ev::prepare& w, int revents);
  void OnCron(ev::timer& w, int revents);
  void OnSignal(ev::sig& w, int revents);
  void OnLoadStep(ev::idle& w, int revents);
  // Delayed jobs fall due and rate-limited queues may hand out jobs again: on time, not on the
  // next cron tick.
  void OnQueueTimer(ev::timer& w, int revents);
  void ArmQueueTimer();

  // Commits the mutations recorded since the last commit as one batch.
  bool CommitPending(std::string* error);
  // A commit failed: memory is rebuilt from what is durable, clients whose replies depended on
  // the lost batch are disconnected, and writes are refused until a probe write succeeds.
  void OnCommitFailure(const std::string& error);
  void ReloadFromStore();

  // Parses and runs as many complete commands as the input holds (stops while blocked).
  void ProcessInput(Connection* c);
  void MarkPending(Connection* c);
  // Writes committed output; closes the connection when it asked to be closed.
  void Flush(Connection* c);
  void ReleaseWhileBusy();
  void Close(Connection* c);
  bool OverOutputLimit(Connection* c);

  ServerState* state_;
  CommitPipeline* commit_;
  ev::dynamic_loop loop_;
  ev::io accept_watcher_;
  ev::prepare before_sleep_;
  ev::timer cron_;
  ev::timer queue_timer_;
  int64_t queue_timer_at_ms_ = 0;  // when queue_timer_ fires (0: not armed)
  ev::sig sigterm_, sigint_;
  ev::idle load_step_;
  std::unique_ptr<StateLoader> loader_;
  int64_t load_started_us_ = 0;
  int64_t last_flush_ms_ = 0, last_probe_ms_ = 0;
  uint64_t flushed_lsn_ = 0;
  int listen_fd_ = -1;
  int port_ = 0;
  uint64_t next_client_id_ = 1;
  uint64_t next_lsn_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> connections_;
  std::vector<uint64_t> pending_;  // connections with output or resumable input
  std::vector<uint64_t> closed_;   // closed connections, deleted at the end of the iteration
  std::vector<char> read_buffer_ = std::vector<char>(64 * 1024);
  bool commit_failed_ = false;
  bool busy_ = false;  // a busy script is letting the loop serve others
};

}  // namespace desaster
