#include "server/net/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>

#include "net/stream.h"
#include "server/clock.h"
#include "server/command/dispatch.h"
#include "server/command/script_engine.h"
#include "server/log.h"

namespace desaster {
namespace {

std::string AddressOf(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
    port = ntohs(a->sin6_port);
  }
  return std::string(host) + ":" + std::to_string(port);
}

// Protected mode's one reply before it closes the connection, Redis' own words.
constexpr std::string_view kProtectedModeError =
    "-DENIED Redis is running in protected mode because protected mode is enabled and no "
    "password is set for the default user. In this mode connections are only accepted from the "
    "loopback interface. If you want to connect from external computers to Redis you may adopt "
    "one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG "
    "SET protected-mode no' from the loopback interface by connecting to Redis from the same "
    "host the server is running, however MAKE SURE Redis is not publicly accessible from "
    "internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively "
    "you can just disable the protected mode by editing the Redis configuration file, and "
    "setting the protected mode option to 'no', and then restarting the server. 3) If you "
    "started the server manually just for testing, restart it with the '--protected-mode no' "
    "option. 4) Setup a an authentication password for the default user. NOTE: You only need "
    "to do one of the above things in order for the server to start accepting connections from "
    "the outside.\r\n";

// Whether a peer is local as Redis' protected mode counts it: 127.0.0.1 or ::1 exactly (other
// loopback addresses, and IPv4-mapped ones, are not), or a unix socket.
bool IsLoopback(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_UNIX) return true;
  if (ss.ss_family == AF_INET) {
    return reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
  }
  if (ss.ss_family == AF_INET6) {
    const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(&a);
  }
  return false;
}

// Whether the command (a table entry, or nullptr) is `name` ("client|reply" for a subcommand).
bool Is(const CommandSpec* spec, std::string_view name) { return spec && spec->name == name; }

// Empties a connection's buffer (input, output, a parsed argument). It keeps its memory for the
// next burst up to this size; one that a burst grew past it (a pipeline's replies, a big value)
// gives the memory back: a client that once asked for much does not hold it for as long as it stays
// connected.
constexpr size_t kBufferKeptBytes = 1 << 20;
void ClearBuffer(std::string* buffer) {
  buffer->clear();
  if (buffer->capacity() > kBufferKeptBytes) std::string().swap(*buffer);
}

}  // namespace

struct Server::Connection {
  // libev calls these; they forward to the server.
  void Readable(ev::io&, int) { server->OnReadable(this); }
  void Writable(ev::io&, int) { server->OnWritable(this); }
  void BlockTimeout(ev::timer&, int) { server->OnBlockTimeout(this); }

  Server* server = nullptr;
  Client client;
  bool executing = false;   // inside ProcessCommand (a long script may let the loop run meanwhile)
  bool held = false;        // had uncommitted replies when a script became busy: wait for it
  bool input_held = false;  // a cluster master unsure of its lease left its input unread
  std::unique_ptr<net::Stream> stream;  // plain, or TLS from the TLS port
  ev::io read_watcher, write_watcher;
  ev::timer block_timer;
  resp::RequestParser parser;
  std::string input;
  size_t input_pos = 0;          // bytes of `input` already consumed
  size_t committed = 0;          // bytes of client.output that may be written
  uint64_t output_base = 0;      // bytes of output cleared from client.output before its start
  size_t sent = 0;               // bytes of client.output already written
  int64_t soft_limit_since = 0;  // when the pub/sub soft output limit was first exceeded
  bool closed = false;
  bool pending = false;
  std::vector<std::string> argv;
  bool argv_waiting = false;  // `argv` is parsed and waits (Route::kAfterLinks, kNoMaster)
  // Cluster replica: the connection to the master that runs this client's commands.
  std::unique_ptr<ForwardLink> link;
  bool forward_multi = false;   // a MULTI went to the master: all follows it up to EXEC/DISCARD
  bool waiting_master = false;  // in waiting_master_
  bool paused = false;          // in paused_: its command waits for CLIENT PAUSE to end
};

Server::Server(ServerState* state, CommitPipeline* commit)
    : state_(state), commit_(commit), loop_(EVFLAG_AUTO) {
  state_->on_output = [this](Client* client) {
    if (Connection* c = FindConnection(client->id)) MarkPending(c);
  };
  accept_watcher_.set(loop_);
  accept_watcher_.set<Server, &Server::OnAccept>(this);
  tls_accept_watcher_.set(loop_);
  tls_accept_watcher_.set<Server, &Server::OnAccept>(this);
  sentinel_accept_watcher_.set(loop_);
  sentinel_accept_watcher_.set<Server, &Server::OnAccept>(this);
  before_sleep_.set(loop_);
  before_sleep_.set<Server, &Server::OnBeforeSleep>(this);
  cron_.set(loop_);
  cron_.set<Server, &Server::OnCron>(this);
  sigterm_.set(loop_);
  sigterm_.set<Server, &Server::OnSignal>(this);
  sigint_.set(loop_);
  sigint_.set<Server, &Server::OnSignal>(this);
  load_step_.set(loop_);
  load_step_.set<Server, &Server::OnLoadStep>(this);
  compress_step_.set(loop_);
  compress_step_.set<Server, &Server::OnCompressStep>(this);
  queue_timer_.set(loop_);
  queue_timer_.set<Server, &Server::OnQueueTimer>(this);
  pause_timer_.set(loop_);
  pause_timer_.set<Server, &Server::OnPauseEnd>(this);
  // Only wakes the loop: its before-sleep stage takes the outcomes.
  commit_done_.set(loop_);
  commit_done_.set<&Server::OnCommitDone>();
  cluster_wake_.set(loop_);
  cluster_wake_.set<&Server::OnCommitDone>();
  commits_ = std::make_unique<CommitQueue>(
      commit, state_->options.commit_thread, [this] { commit_done_.send(); },
      state_->release_thread_heap);
  state_->serve_while_busy = [this](size_t finished_mutations) {
    if (!busy_) {
      busy_ = true;
      // Commands that finished before the script may have their writes committed, and then
      // their replies may leave. If that fails, those replies (and all that wait for a commit)
      // wait for the script to end, when the failure is handled.
      if (finished_mutations > 0) {
        Submit(state_->keyspace.TakeMutations(finished_mutations), SyncEachBatch(), false);
      }
      commits_->WaitIdle();
      TakeCommitted();
      if (!commit_error_.empty()) {
        Log(LogLevel::kWarning, "commit before a busy script failed: {}", commit_error_);
        auto hold = [this](uint64_t id) {
          if (Connection* c = FindConnection(id)) c->held = true;
        };
        for (uint64_t id : pending_) hold(id);
        for (const Awaiting& a : awaiting_) hold(a.client_id);
      }
    }
    loop_.run(ev::NOWAIT);
  };
  state_->open_snapshot = [this] { return commit_->Snapshot(); };
  helper_done_.set(loop_);
  helper_done_.set<&Server::OnCommitDone>();  // only wakes the loop: see OnBeforeSleep
  state_->snapshot_page_read = [this] {
    snapshot_pages_ready_ = true;
    helper_done_.send();
  };
  state_->completed_search_done = [this] {
    completed_searches_ready_ = true;
    helper_done_.send();
  };
  state_->reload = [this](std::string* error) {
    if (!state_->write_error.empty()) {
      *error = "the data directory is not writable (" + state_->write_error + ")";
      return false;
    }
    if (!CommitNow(error)) return false;
    ReloadFromStore();
    return true;
  };
}

Server::~Server() {
  // Waits for pages being read and searches, whose threads wake this loop.
  state_->snapshots.clear();
  state_->completed_searches.clear();
  for (auto& [id, c] : connections_) {
    c->read_watcher.stop();
    c->write_watcher.stop();
    c->block_timer.stop();
    close(c->client.fd);
  }
  for (int fd : {listen_fd_, tls_fd_, sentinel_fd_}) {
    if (fd >= 0) close(fd);
  }
}

namespace {

// A listening socket on bind:port (port 0 picks a free one, stored in *port); -1 on error.
int ListenOn(const std::string& bind, int* port, std::string* error) {
  sockaddr_storage ss{};
  socklen_t len;
  if (bind.find(':') != std::string::npos) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<uint16_t>(*port));
    if (inet_pton(AF_INET6, bind.c_str(), &a->sin6_addr) != 1) {
      *error = "invalid bind address " + bind;
      return -1;
    }
    len = sizeof(sockaddr_in6);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<uint16_t>(*port));
    if (inet_pton(AF_INET, bind.c_str(), &a->sin_addr) != 1) {
      *error = "invalid bind address " + bind;
      return -1;
    }
    len = sizeof(sockaddr_in);
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || listen(fd, 511) != 0) {
    *error = "cannot listen on " + bind + ":" + std::to_string(*port) + ": " + strerror(errno);
    close(fd);
    return -1;
  }
  sockaddr_storage bound{};
  socklen_t blen = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &blen);
  *port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return fd;
}

}  // namespace

bool Server::Listen(std::string* error) {
  const Options& o = state_->options;
  port_ = o.port;
  listen_fd_ = ListenOn(o.bind, &port_, error);
  if (listen_fd_ < 0) return false;
  accept_watcher_.start(listen_fd_, ev::READ);
  if (o.tls_port > 0) {
    tls_port_ = o.tls_port;
    tls_fd_ = ListenOn(o.bind, &tls_port_, error);
    if (tls_fd_ < 0) return false;
    tls_accept_watcher_.start(tls_fd_, ev::READ);
  }
  if (!o.cluster.empty() && o.sentinel_port > 0) {
    sentinel_port_ = o.sentinel_port;
    sentinel_fd_ = ListenOn(o.bind, &sentinel_port_, error);
    if (sentinel_fd_ < 0) return false;
    sentinel_accept_watcher_.start(sentinel_fd_, ev::READ);
  }
  return true;
}

void Server::AttachCluster(ClusterNode* node, ClusterCommit* commit) {
  cluster_ = node;
  cluster_commit_ = commit;
  state_->cluster.enabled = true;
  state_->cluster.node_id = node->options().node_id;
  state_->cluster.cluster_id = node->options().cluster_id;
  state_->cluster.name = node->options().name;
  state_->cluster.advertise = node->options().advertise;
  state_->cluster.sentinel = node->options().sentinel;
  state_->keyspace.set_replica(true);
}

void Server::Run() {
  signal(SIGPIPE, SIG_IGN);
  before_sleep_.start();
  cron_.start(0.1, 0.1);
  sigterm_.start(SIGTERM);
  sigint_.start(SIGINT);
  // Clients may connect while the dataset loads; they get -LOADING until it is done.
  loader_ = commit_->NewLoader();
  state_->loading = true;
  load_started_us_ = MonotonicUs();
  load_step_.start();
  Log(LogLevel::kNotice, "Ready to accept connections on {}:{}{}", state_->options.bind, port_,
      tls_port_ ? fmt::format(" (TLS on port {})", tls_port_) : "");
  commit_done_.start();
  cluster_wake_.start();
  helper_done_.start();
  loop_.run();
  commits_->WaitIdle();
  std::string error;
  if (!commit_->Flush(&error)) Log(LogLevel::kWarning, "final sync failed: {}", error);
  if (cluster_) cluster_->Stop();
  Log(LogLevel::kNotice, "desaster-scheduler is now ready to exit, bye bye...");
}

void Server::OnLoadStep(ev::idle&, int) {
  uint64_t before = loader_->records();
  bool done = loader_->Step(&state_->keyspace, 50000);
  if (loader_->records() / 1000000 != before / 1000000) {
    Log(LogLevel::kNotice, "loading: {} records so far", loader_->records());
  }
  if (!done) return;
  load_step_.stop();
  state_->loading = false;
  state_->keyspace.MergeFailedRuns();
  AdoptAclUsers();
  AdoptFunctions();
  next_lsn_ = loader_->lsn() + 1;
  state_->committed_lsn = flushed_lsn_ = loader_->lsn();
  if (cluster_) {
    state_->cluster.applied = log_head_ = loader_->log_index();
    log_next_ = log_head_ + 1;
    cluster_->Start(log_next_, [this] { cluster_wake_.send(); });
  }
  Log(LogLevel::kNotice, "DB loaded from disk: {} keys ({} records) in {:.3f} seconds",
      loader_->keys(), loader_->records(),
      static_cast<double>(MonotonicUs() - load_started_us_) / 1e6);
  loader_.reset();
}

bool Server::SyncEachBatch() const { return state_->options.appendfsync == "always"; }

void Server::SubmitPending() {
  if (!state_->keyspace.HasMutations()) return;
  if (state_->read_only()) {
    // Nothing a replica runs may change its state (Keyspace::replica); if something did, the
    // log would overwrite it, so it is dropped here rather than made durable.
    Log(LogLevel::kWarning, "cluster: a replica recorded {} mutations; dropped",
        state_->keyspace.pending_mutations());
    state_->keyspace.RecycleMutations(state_->keyspace.TakeMutations());
    return;
  }
  if (cluster_) {
    // An append takes milliseconds: the loop never waits for it. Batches made meanwhile queue
    // up behind it and go into the log together, as the next entry.
    Submit(state_->keyspace.TakeMutations(), true, true);
    return;
  }
  // One batch committing and one queued behind it keep the helper busy; running further ahead
  // would only hold more memory (a bulk load: 508 instead of 492 bytes per job at 16 in flight).
  constexpr size_t kMaxInFlight = 2;
  if (commits_->in_flight() >= kMaxInFlight) commits_->WaitIdle();
  // Running the next commands during the commit pays when the clients keep writing without
  // waiting for their replies (bulk loads, imports): many mutations for each client served.
  // Clients that wait for their replies (one command each, or a pipeline of a few) are
  // committed for right here: with a hand-over per batch they split into groups that take
  // turns, each sync covering fewer of them than if all waited for one (docs/PERSISTENCE.md).
  constexpr size_t kOverlapPerClient = 64;
  bool background = state_->keyspace.pending_mutations() >=
                    kOverlapPerClient * std::max<size_t>(1, pending_.size());
  Submit(state_->keyspace.TakeMutations(), SyncEachBatch(), background);
}

void Server::Submit(std::vector<Mutation> mutations, bool sync, bool background,
                    uint64_t log_index) {
  state_->stats.commits++;
  if (commits_->Submit(Batch{next_lsn_++, std::move(mutations), log_index}, sync, background)) {
    state_->stats.commits_overlapped++;
  }
}

void Server::TakeCommitted() {
  for (CommitQueue::Outcome& outcome : commits_->TakeOutcomes()) {
    for (Batch& batch : outcome.spent) {
      state_->keyspace.RecycleMutations(std::move(batch.mutations));
    }
    if (!commit_error_.empty()) continue;  // nothing after a failure counts
    if (!outcome.ok) {
      commit_error_ = outcome.error;
      continue;
    }
    state_->committed_lsn = outcome.lsn;
    state_->last_commit_unix_s = UnixMs() / 1000;
    // A master's offset is what it appended (its store follows, and registers what it holds:
    // ClusterCommit); a replica's, the entries it applied and stored.
    if (cluster_ && state_->cluster.master) {
      state_->cluster.applied = cluster_commit_->appended();
    } else if (cluster_ && outcome.spent.back().log_index > 0) {
      state_->cluster.applied = outcome.spent.back().log_index;
      cluster_->set_applied(state_->cluster.applied);
    }
  }
  while (!awaiting_.empty() && awaiting_.front().lsn <= state_->committed_lsn) {
    Awaiting a = awaiting_.front();
    awaiting_.pop_front();
    Connection* c = FindConnection(a.client_id);
    if (!c) continue;
    if (a.end > c->output_base) {
      c->committed = std::max(c->committed, static_cast<size_t>(a.end - c->output_base));
    }
    Flush(c);
  }
}

bool Server::CommitNow(std::string* error) {
  SubmitPending();
  commits_->WaitIdle();
  TakeCommitted();
  if (commit_error_.empty()) return true;
  *error = commit_error_;
  HandleCommitFailure();
  return false;
}

void Server::HandleCommitFailure() {
  if (cluster_) return StepDown(std::exchange(commit_error_, {}));
  commits_->WaitIdle();
  TakeCommitted();  // what was submitted after the failure failed too
  std::string error = std::exchange(commit_error_, {});
  Log(LogLevel::kWarning,
      "commit failed: {}. Refusing writes until the data directory is writable; restoring the "
      "last committed state",
      error);
  state_->write_error = error;
  // Every reply still waiting depended on a batch that is lost.
  auto close = [this](uint64_t id) {
    if (Connection* c = FindConnection(id)) Close(c);
  };
  for (const Awaiting& a : awaiting_) close(a.client_id);
  for (uint64_t id : pending_) close(id);
  awaiting_.clear();
  pending_.clear();
  next_lsn_ = state_->committed_lsn + 1;  // the lost LSNs were never durable
  ReloadFromStore();
}

void Server::RestartCompletedSearches() {
  if (state_->completed_searches.empty()) return;
  state_->completed_searches.clear();
  completed_searches_ready_ = true;  // their clients' commands run again: see OnBeforeSleep
}

uint64_t Server::ReloadFromStore() {
  // A search under way counts on memory keeping what it cannot see on disk.
  RestartCompletedSearches();
  Mutation flush;
  flush.op = Mutation::Op::kFlushAll;
  state_->keyspace.Apply(flush);
  flush.op = Mutation::Op::kFunctionFlush;  // node state, not data, but in the store too
  state_->keyspace.Apply(flush);
  state_->keyspace.workers().clear();  // not data (FLUSHALL keeps it), but in the store too
  auto loader = commit_->NewLoader();
  while (!loader->Step(&state_->keyspace, 1 << 20)) {
  }
  AdoptAclUsers();
  AdoptFunctions();
  return loader->log_index();
}

void Server::AdoptFunctions() {
  state_->scripts->AdoptLibraries(state_->keyspace.function_libraries());
}

void Server::AdoptAclUsers() {
  const std::string& users = state_->keyspace.acl_users();
  std::string error;
  if (!users.empty() && !state_->ReplaceUsers(users, &error)) {
    Log(LogLevel::kWarning, "cluster: the ACL users of the log are refused here: {}", error);
  }
}

void Server::OnAccept(ev::io& w, int) {
  bool sentinel = w.fd == sentinel_fd_;
  bool tls = w.fd == tls_fd_ || (sentinel && state_->options.tls_cluster);
  while (true) {
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    int fd = accept4(w.fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or a transient error: try again on the next event
    if (sentinel && !SentinelHealthy()) {
      // A connection error is what makes Sentinel clients ask the next sentinel.
      close(fd);
      continue;
    }
    state_->stats.connections_received++;
    bool full = static_cast<long long>(connections_.size()) >= state_->options.maxclients;
    bool loopback = IsLoopback(ss);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto conn = std::make_unique<Connection>();
    Connection* c = conn.get();
    c->parser = resp::RequestParser(
        resp::ParseLimits{state_->options.proto_max_bulk_len, 1024LL * 1024, 64 * 1024});
    Client& cl = c->client;
    cl.id = next_client_id_++;
    cl.fd = fd;
    cl.addr = AddressOf(ss);
    sockaddr_storage local{};
    socklen_t llen = sizeof(local);
    getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen);
    cl.laddr = AddressOf(local);
    cl.created_ms = cl.last_interaction_ms = UnixMs();
    cl.user = state_->acl.default_user();
    cl.authenticated = !state_->acl.AuthRequired();
    cl.local = loopback;
    cl.sentinel = sentinel;
    c->server = this;
    c->stream = tls ? net::TlsServerStream(fd, state_->tls_context) : net::PlainStream(fd);
    c->read_watcher.set(loop_);
    c->read_watcher.set<Connection, &Connection::Readable>(c);
    c->read_watcher.start(fd, ev::READ);
    c->write_watcher.set(loop_);
    c->write_watcher.set<Connection, &Connection::Writable>(c);
    c->write_watcher.set(fd, ev::WRITE);
    c->block_timer.set(loop_);
    c->block_timer.set<Connection, &Connection::BlockTimeout>(c);
    state_->clients[cl.id] = &cl;
    connections_[cl.id] = std::move(conn);
    // Refusals are replies, so that a TLS client reads them after its handshake.
    if (full) {
      Refuse(c, "-ERR max number of clients reached\r\n");
    } else if (!sentinel && state_->options.protected_mode && state_->acl.default_user()->nopass &&
               !loopback) {
      Refuse(c, kProtectedModeError);
    }
  }
}

void Server::Refuse(Connection* c, std::string_view message) {
  state_->stats.rejected_connections++;
  c->client.output.assign(message);
  c->committed = c->client.output.size();
  c->client.close_after_reply = true;
  Flush(c);
}

void Server::OnReadable(Connection* c) {
  if (c->closed) return;
  if (c->input_pos > 0 && c->input_pos * 2 >= c->input.size()) {
    c->input.erase(0, c->input_pos);
    c->input_pos = 0;
  }
  // Read into a shared buffer and append what arrived: growing `input` first would zero-fill it.
  // A TLS stream may hold decrypted bytes beyond a full buffer, which no event announces.
  net::Stream& stream = *c->stream;
  ssize_t n = 0;
  bool arrived = false;
  do {
    n = stream.Read(read_buffer_.data(), read_buffer_.size());
    if (n <= 0) break;
    arrived = true;
    c->input.append(read_buffer_.data(), static_cast<size_t>(n));
    state_->stats.net_input_bytes += static_cast<uint64_t>(n);
  } while (stream.buffered());
  int read_errno = errno;
  if (stream.write_wants_read()) Flush(c);  // what the TLS handshake held up
  if (n == 0 || (n < 0 && read_errno != EAGAIN && read_errno != EINTR)) {
    if (n < 0 && stream.tls()) {
      Log(LogLevel::kVerbose, "TLS connection from {} failed: {}", c->client.addr, stream.error());
    }
    return Close(c);
  }
  if (n < 0 && stream.wants_write() && !c->write_watcher.is_active()) c->write_watcher.start();
  if (c->closed || !arrived) return;
  c->client.last_interaction_ms = UnixMs();
  if (c->executing) return;  // its command is still running (a busy script); parse it later
  if (static_cast<long long>(c->input.size() - c->input_pos) >
      state_->options.client_query_buffer_limit) {
    Log(LogLevel::kWarning, "closing client {}: query buffer over the limit", c->client.addr);
    Close(c);
    return;
  }
  ProcessInput(c);
}

bool Server::HasInput(const Connection* c) {
  return c->argv_waiting || c->input_pos < c->input.size();
}

void Server::ProcessInput(Connection* c) {
  Client& cl = c->client;
  std::string error;
  PrefetchKeys(*state_, cl, std::string_view(c->input).substr(c->input_pos));
  // A link holding this much unsent waits for the master to take it before more is parsed.
  constexpr size_t kLinkBacklog = 1 << 20;
  while (!c->closed && !cl.blocked && !cl.close_after_reply && HasInput(c)) {
    if (cluster_ && state_->cluster.master && !cluster_->LeaseHeld()) {
      // Another node may lead by now: nothing is answered (a read could be stale) until etcd
      // renews the lease, or says it is gone.
      if (!c->input_held) held_input_.push_back(cl.id);
      c->input_held = true;
      break;
    }
    if (c->link && c->link->unsent() > kLinkBacklog) break;  // resumed by the link's progress
    if (!c->argv_waiting) {
      size_t consumed = 0;
      auto status = c->parser.Parse(c->input.data() + c->input_pos, c->input.size() - c->input_pos,
                                    &consumed, &c->argv, &error);
      c->input_pos += consumed;
      if (status == resp::RequestParser::Status::kIncomplete) break;
      if (status == resp::RequestParser::Status::kError) {
        resp::ReplyWriter(&cl.output, cl.protocol).Error(error);
        cl.close_after_reply = true;
        Log(LogLevel::kVerbose, "protocol error from {}: {}", cl.addr, error);
        break;
      }
      if (c->argv.empty()) continue;
    }
    c->argv_waiting = false;
    const CommandSpec* spec = nullptr;
    switch (RouteOf(c, &spec)) {
      case Route::kForward:
        Forward(c, spec);
        continue;
      case Route::kNoMaster:
        if (!std::exchange(c->waiting_master, true)) waiting_master_.push_back(cl.id);
        [[fallthrough]];
      case Route::kAfterLinks:
        c->argv_waiting = true;
        break;
      case Route::kLocal: {
        int64_t now = UnixMs();
        if (state_->Postponed(cl, c->argv, now)) {
          c->argv_waiting = true;
          if (!std::exchange(c->paused, true)) paused_.push_back(cl.id);
          break;
        }
        state_->keyspace.set_now_ms(now);
        state_->keyspace.set_holding_expired(state_->Paused(now));
        int protocol = cl.protocol;
        c->executing = true;
        ProcessCommand(*state_, cl, c->argv);
        c->executing = false;
        if (!c->link) continue;
        // What the master keeps per connection follows what ran here: the protocol (HELLO),
        // nothing at all after RESET (a new link starts afresh).
        if (Is(spec, "reset")) {
          c->link->Stop();
          retired_links_.push_back(std::move(c->link));
          c->forward_multi = false;
        } else if (cl.protocol != protocol) {
          c->link->Send({"HELLO", std::to_string(cl.protocol)}, false);
        }
        continue;
      }
    }
    break;
  }
  if (cl.blocked && !c->block_timer.is_active() && cl.block.deadline_ms > 0) {
    double delay = static_cast<double>(cl.block.deadline_ms - UnixMs()) / 1000.0;
    c->block_timer.start(delay > 0 ? delay : 0, 0);
  }
  if (c->link) c->link->Flush();  // what this read forwarded, in one write
  if (c->input_pos == c->input.size()) {
    ClearBuffer(&c->input);
    c->input_pos = 0;
  }
  if (!c->parser.InRequest() && !c->argv_waiting) {
    for (std::string& arg : c->argv) ClearBuffer(&arg);  // the last command's: done with
  }
  MarkPending(c);
}

Server::Route Server::RouteOf(Connection* c, const CommandSpec** spec) {
  if (!cluster_ || state_->cluster.master || !state_->options.cluster_forward ||
      c->client.sentinel) {
    return Route::kLocal;
  }
  std::string ignored;  // an unknown or malformed command: the master says what is wrong
  *spec = ResolveCommand(*state_, c->argv, &ignored);
  // The master runs what a replica forwards as the link's user: this node checks the client's
  // own first, and refuses here what its user may not run.
  size_t position;
  bool refused = *spec != nullptr && c->client.user != nullptr &&
                 state_->acl.Check(*c->client.user, **spec, c->argv, &position) != AclDenial::kNone;
  bool local;
  if (c->link && (c->link->streaming() || c->forward_multi)) {
    // Inside a transaction, or subscribed, the master's view of the connection decides what a
    // command means: only leaving is local.
    local = Is(*spec, "quit") || refused;
  } else {
    local = !c->client.authenticated || refused || (*spec != nullptr && (*spec)->Has(cmd::kLocal));
  }
  if (local) {
    bool answering = c->link && !c->link->streaming() && c->link->outstanding() > 0;
    return answering ? Route::kAfterLinks : Route::kLocal;
  }
  return state_->cluster.master_addr.empty() ? Route::kNoMaster : Route::kForward;
}

void Server::Forward(Connection* c, const CommandSpec* spec) {
  Client& cl = c->client;
  if (!c->link) {
    uint64_t id = cl.id;
    ForwardLink::Handler handler;
    handler.reply = [this, id](std::string_view reply) {
      if (Connection* c = FindConnection(id)) Relay(c, reply);
    };
    handler.progress = [this, id] {
      Connection* c = FindConnection(id);
      if (!c || c->closed) return;
      Flush(c);  // the replies of this read, in one write
      if (!c->executing && HasInput(c)) ProcessInput(c);
    };
    handler.hello = [this, id] {
      const ClusterStatus& status = state_->cluster;
      Connection* c = FindConnection(id);
      // The master runs the client's commands as its user here (when it changes later, the
      // commands pass this node's check as the new user and the master's as the first).
      std::string user = c && c->client.user ? c->client.user->name : "default";
      std::vector<std::vector<std::string>> setup = {
          {"FORWARDED", status.cluster_id, std::to_string(status.epoch), user}};
      if (c && c->client.protocol != 2) {
        setup.push_back({"HELLO", std::to_string(c->client.protocol)});
      }
      if (c && !c->client.name.empty()) setup.push_back({"CLIENT", "SETNAME", c->client.name});
      return setup;
    };
    handler.unreachable = [this, id](const std::string& why) {
      Connection* c = FindConnection(id);
      if (!c || c->closed) return;
      // Nothing reached the old master: the commands wait for the next one (MasterChanged).
      Log(LogLevel::kVerbose, "cluster: client {} waits for a master: {}", c->client.addr, why);
      const ClusterStatus& status = state_->cluster;
      if (!status.master && !status.master_addr.empty() &&
          status.master_addr != c->link->address()) {
        c->link->Retarget(status.master_addr);
      }
    };
    handler.closed = [this, id](const std::string& why) {
      Connection* c = FindConnection(id);
      if (!c || c->closed) return;
      Log(LogLevel::kVerbose, "cluster: closing client {}: {}", c->client.addr, why);
      DrainAndClose(c);
    };
    c->link =
        std::make_unique<ForwardLink>(loop_.raw_loop, std::move(handler), state_->cluster_tls);
    c->link->Open(state_->cluster.master_addr);
  }
  state_->stats.forwarded_commands++;
  cl.last_command = c->argv[0];
  c->link->Send(c->argv, true);
  // Commands after which the master speaks unasked, or answers nothing: replies are no longer
  // counted, and everything goes to the master.
  if (Is(spec, "multi")) {
    c->forward_multi = true;
  } else if (Is(spec, "exec") || Is(spec, "discard")) {
    c->forward_multi = false;
  } else if (Is(spec, "subscribe") || Is(spec, "psubscribe") || Is(spec, "client|reply")) {
    c->link->Stream();
  }
}

void Server::Relay(Connection* c, std::string_view reply) {
  if (c->closed) return;
  std::string& out = c->client.output;
  // The master's reply is durable there: it leaves at once, unless a local reply before it
  // still waits for this node's commit.
  bool released = c->committed == out.size();
  out.append(reply);
  if (released) {
    c->committed = out.size();  // written by the link's progress call, after this read
  } else {
    MarkPending(c);
  }
}

void Server::DrainAndClose(Connection* c) {
  c->read_watcher.stop();
  c->client.close_after_reply = true;
  MarkPending(c);
}

void Server::MasterChanged() {
  ClusterStatus& status = state_->cluster;
  if (!status.master_addr.empty()) {
    status.master_since_ms = UnixMs();
    if (!status.last_master_addr.empty() && status.last_master_addr != status.master_addr) {
      // What a Sentinel announces when it moved the master (clients such as ioredis listen).
      auto [old_host, old_port] = SplitAddress(status.last_master_addr);
      auto [new_host, new_port] = SplitAddress(status.master_addr);
      PublishMessage(
          *state_, "+switch-master",
          fmt::format("{} {} {} {} {}", status.name, old_host, old_port, new_host, new_port));
    }
    status.last_master_addr = status.master_addr;
  }
  for (auto& [id, c] : connections_) {
    if (!c->link || c->closed) continue;
    if (!c->link->connected() && !status.master) {
      // Nothing reached the old master: on to the new one, or wait for one.
      if (!status.master_addr.empty()) c->link->Retarget(status.master_addr);
      continue;
    }
    c->link->Stop();
    DrainAndClose(c.get());
  }
  if (state_->cluster.master_addr.empty() && !state_->cluster.master) return;
  for (uint64_t id : std::exchange(waiting_master_, {})) {
    Connection* c = FindConnection(id);
    if (!c || c->closed) continue;
    c->waiting_master = false;
    if (!c->executing) ProcessInput(c);
  }
}

void Server::ResumeIfUnpaused() {
  if (state_->pause == ServerState::Pause::kOff && paused_.empty()) return;  // no clock read
  int64_t now = UnixMs();
  if (state_->Paused(now)) {
    // Wakes the loop when the pause ends, for the clients it holds.
    if (!paused_.empty() && pause_timer_at_ms_ != state_->pause_end_ms) {
      pause_timer_at_ms_ = state_->pause_end_ms;
      pause_timer_.start(static_cast<double>(state_->pause_end_ms - now) / 1000.0, 0);
    }
    return;
  }
  state_->pause = ServerState::Pause::kOff;  // its time is up: later iterations skip the clock
  pause_timer_.stop();
  pause_timer_at_ms_ = 0;
  state_->keyspace.set_holding_expired(false);
  for (uint64_t id : std::exchange(paused_, {})) {
    Connection* c = FindConnection(id);
    if (!c || c->closed) continue;
    c->paused = false;
    if (!c->executing) ProcessInput(c);
  }
}

void Server::MarkPending(Connection* c) {
  if (c->closed) return;
  if (!c->client.blocked) c->block_timer.stop();
  if (!c->pending) {
    c->pending = true;
    pending_.push_back(c->client.id);
  }
}

void Server::OnBlockTimeout(Connection* c) {
  state_->keyspace.set_now_ms(UnixMs());
  UnblockClient(*state_, c->client, true);
  MarkPending(c);
}

void Server::OnBeforeSleep(ev::prepare&, int) {
  if (cluster_) cluster_->Tick();
  if (state_->script_busy) return ReleaseWhileBusy();
  if (cluster_) {
    HandleClusterEvents();
    if (state_->cluster.master) CheckLease();
  }
  busy_ = false;
  state_->CheckMemory();
  ResumeIfUnpaused();
  // 1. Clients unblocked during this iteration may have pipelined commands waiting.
  for (size_t i = 0; i < pending_.size(); i++) {
    Connection* c = FindConnection(pending_[i]);
    if (c && !c->closed && !c->client.blocked && HasInput(c)) ProcessInput(c);
  }
  // A page of a snapshot was read: its reader's SNAPSHOT.READ runs again and answers.
  if (snapshot_pages_ready_.exchange(false)) {
    state_->keyspace.Signal(kSnapshotKey);
    ServeReadyKeys(*state_);
  }
  // A search of archived completions is done: its client's command runs again and answers.
  if (completed_searches_ready_.exchange(false)) {
    state_->keyspace.Signal(kCompletedSearchKey);
    ServeReadyKeys(*state_);
  }
  state_->tracking.Broadcast();
  if (state_->shutdown_requested) FlushMetrics();  // at most kMetricsFlushMs are lost otherwise
  // 2. The iteration's mutations are submitted as one batch. Its replies may leave once every
  //    batch submitted so far is committed: they may show state that any of them holds.
  SubmitPending();
  for (uint64_t id : pending_) {
    Connection* c = FindConnection(id);
    if (!c) continue;
    c->pending = false;
    c->held = false;
    awaiting_.push_back({next_lsn_ - 1, id, c->output_base + c->client.output.size()});
  }
  pending_.clear();
  // 3. Release the replies whose batches are committed (with the inline queue: all of them;
  //    before a shutdown: all of them too).
  if (state_->shutdown_requested) commits_->WaitIdle();
  TakeCommitted();
  if (!commit_error_.empty()) HandleCommitFailure();
  // FAILOVER's own reply leaves first.
  if (state_->failover_requested && awaiting_.empty()) HandOver();
  for (uint64_t id : closed_) connections_.erase(id);
  closed_.clear();
  retired_links_.clear();
  ArmQueueTimer();
  if (state_->shutdown_requested) {
    Log(LogLevel::kNotice, "User requested shutdown...");
    loop_.break_loop(ev::ALL);
  }
}

void Server::ReleaseWhileBusy() {
  // Nothing is committed while a script runs; only replies that depend on no uncommitted state
  // (-BUSY and the like, for connections that had nothing waiting) may leave.
  std::vector<uint64_t> keep;
  for (uint64_t id : pending_) {
    Connection* c = FindConnection(id);
    if (!c) continue;
    if (c->held || c->executing) {
      keep.push_back(id);
      continue;
    }
    c->pending = false;
    c->committed = c->client.output.size();
    Flush(c);
  }
  pending_ = std::move(keep);
}

bool Server::OverOutputLimit(Connection* c) {
  if (c->client.subscriptions() == 0) return false;  // normal clients: no limit, as Redis
  const Options& o = state_->options;
  long long size = static_cast<long long>(c->client.output.size() - c->sent);
  if (o.output_limit_pubsub_hard > 0 && size > o.output_limit_pubsub_hard) return true;
  if (o.output_limit_pubsub_soft > 0 && size > o.output_limit_pubsub_soft) {
    int64_t now = UnixMs();
    if (c->soft_limit_since == 0) c->soft_limit_since = now;
    return now - c->soft_limit_since > o.output_limit_pubsub_soft_s * 1000LL;
  }
  c->soft_limit_since = 0;
  return false;
}

void Server::Flush(Connection* c) {
  if (c->closed) return;
  if (OverOutputLimit(c)) {
    Log(LogLevel::kWarning, "closing client {}: output buffer over the pub/sub limit",
        c->client.addr);
    Close(c);
    return;
  }
  std::string& out = c->client.output;
  while (c->sent < c->committed) {
    ssize_t n = c->stream->Write(out.data() + c->sent, c->committed - c->sent);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) break;
      Close(c);
      return;
    }
    c->sent += static_cast<size_t>(n);
    state_->stats.net_output_bytes += static_cast<uint64_t>(n);
  }
  if (c->sent == out.size()) {
    c->output_base += out.size();
    ClearBuffer(&out);
    c->sent = c->committed = 0;
  }
  // A client that reads slowly holds back its master's replies, not this node's memory.
  constexpr size_t kRelayBacklog = 4 << 20;
  if (c->link) c->link->PauseReading(out.size() - c->sent > kRelayBacklog);
  if (c->sent < c->committed) {
    // A TLS write waiting to read first is retried by the next read.
    if (c->stream->write_wants_read()) {
      c->write_watcher.stop();
    } else if (!c->write_watcher.is_active()) {
      c->write_watcher.start();
    }
    return;
  }
  if (!c->stream->wants_write()) c->write_watcher.stop();
  // Only once the last reply (QUIT's, the protocol error) is out: it may still await a commit.
  if (c->client.close_after_reply && out.empty()) Close(c);
}

void Server::OnWritable(Connection* c) {
  if (c->stream->wants_write()) OnReadable(c);  // a TLS read waited to write
  Flush(c);
}

Server::Connection* Server::FindConnection(uint64_t id) {
  auto it = connections_.find(id);
  return it == connections_.end() ? nullptr : it->second.get();
}

void Server::Close(Connection* c) {
  if (c->closed) return;
  c->closed = true;
  c->read_watcher.stop();
  c->write_watcher.stop();
  c->block_timer.stop();
  if (c->link) c->link->Stop();
  ForgetClient(*state_, c->client);
  net::CloseStream(&c->stream, &c->client.fd);
  // Deleted at the end of the before-sleep stage: a caller may still hold `c`.
  closed_.push_back(c->client.id);
}

void Server::OnCron(ev::timer&, int) {
  int64_t now = UnixMs();
  state_->keyspace.set_now_ms(now);
  if (state_->loading || state_->script_busy) return;  // nothing may change under a script
  std::string error;
  if (cluster_ && state_->cluster.master && MayChangeState()) TrimLog();
  // No master known: keep trying (a campaign may have failed). Named master but not leading:
  // the record is from before this node stepped down, and whether it is still in etcd or not,
  // no one leads on it; the campaign's compare makes trying harmless while it is there.
  ClusterStatus& status = state_->cluster;
  if (cluster_ && caught_up_ && !status.master &&
      (status.master_addr.empty() || status.master_id == status.node_id)) {
    MayCampaign();
  }
  // A node that stepped down campaigns only once it has read the log back: say so when that
  // takes long (after etcd lost its quorum, no node led while all of them waited).
  if (!cluster_ || caught_up_ || status.master) {
    not_caught_up_logged_us_ = 0;
  } else if (not_caught_up_logged_us_ == 0) {
    not_caught_up_logged_us_ = MonotonicUs();  // the wait starts
  } else if (MonotonicUs() - not_caught_up_logged_us_ > 10000000) {
    Log(LogLevel::kVerbose, "cluster: not campaigning yet: the log is still being read back");
    not_caught_up_logged_us_ = MonotonicUs();
  }
  // Completions stored since leave memory, unless a search is under way (it must find in
  // memory what it did not see on disk). A search is taken by its client's command when that
  // runs again: one whose client no longer waits for it (unblocked, gone) never will be.
  if (std::erase_if(state_->completed_searches, [this](const auto& search) {
        Connection* c = FindConnection(search.first);
        return !c || !c->client.blocked;
      })) {
    completed_searches_ready_ = true;  // a turn for those waiting for one: see OnBeforeSleep
  }
  if (state_->completed_searches.empty()) state_->keyspace.ArchiveStoredCompletions();
  if (!state_->write_error.empty()) {
    if (now - last_probe_ms_ >= 1000) {
      last_probe_ms_ = now;
      commits_->WaitIdle();
      RestartCompletedSearches();  // the probe may reopen the store under them
      if (commit_->Probe(&error)) {
        Log(LogLevel::kNotice, "the data directory is writable again: accepting writes");
        state_->write_error.clear();
      }
    }
  } else if (MayChangeState() && !state_->keyspace.import().active && state_->active_expire &&
             !state_->Paused(now)) {
    // Active expiry: a bounded amount of work per tick so the loop stays responsive. Not
    // while an import follows its source: the source's DELs expire its keys.
    for (int i = 0; i < state_->keyspace.databases(); i++) state_->keyspace.db(i).ExpireDue(1000);
  }
  if (now - metrics_flushed_ms_ >= kMetricsFlushMs) FlushMetrics();
  if (state_->options.appendfsync == "everysec" && now - last_flush_ms_ >= 1000 &&
      flushed_lsn_ != state_->committed_lsn) {
    last_flush_ms_ = now;
    uint64_t lsn = state_->committed_lsn;
    commits_->WaitIdle();
    if (commit_->Flush(&error)) {
      flushed_lsn_ = lsn;
    } else {
      Log(LogLevel::kWarning, "sync failed: {}", error);
      state_->write_error = error;
    }
  }
  if (state_->keyspace.HasReadyKeys() && MayChangeState()) ServeReadyKeys(*state_);
  if (cluster_) state_->cluster.session_alive = cluster_->LeaseHeld();
  if (sentinel_fd_ >= 0 && !SentinelHealthy()) {
    for (auto& [id, c] : connections_) {
      if (c->client.sentinel) Close(c.get());
    }
  }
  int64_t compress_after = state_->options.payload_compression_delay_ms;
  if (compress_after >= 0 && !compress_step_.is_active() && compactor_.Due(now, compress_after)) {
    compress_step_.start();
  }
  int timeout = state_->options.timeout_s;
  if (timeout > 0) {
    for (auto& [id, c] : connections_) {
      Client& cl = c->client;
      if (c->closed || cl.blocked || cl.subscriptions() > 0 || cl.monitor) continue;
      if (now - cl.last_interaction_ms > timeout * 1000LL) Close(c.get());
    }
  }
}

void Server::OnCompressStep(ev::idle&, int) {
  // A slice keeps a request that arrives meanwhile waiting at most this long.
  constexpr int64_t kSliceUs = 200;
  int64_t after = state_->options.payload_compression_delay_ms;
  // A busy script lets the loop serve other clients; commands are not over then.
  if (state_->loading || state_->script_busy || after < 0) {
    compress_step_.stop();
    return;
  }
  state_->keyspace.set_now_ms(UnixMs());
  if (!compactor_.Step(after, kSliceUs)) return;
  compress_step_.stop();
  // The plain payloads' pages go back to the kernel now rather than over jemalloc's decay time
  // (10 s). Purging costs milliseconds: only after a round that freed much.
  constexpr size_t kReleaseAfter = 10000;
  if (state_->release_thread_heap && compactor_.last_compressed() >= kReleaseAfter) {
    state_->release_thread_heap();
  }
}

void Server::FlushMetrics() {
  int64_t now = UnixMs();
  if (!state_->write_error.empty() || !MayChangeState() || state_->Paused(now)) return;
  metrics_flushed_ms_ = now;
  state_->keyspace.set_now_ms(now);
  for (int i = 0; i < state_->keyspace.databases(); i++) state_->keyspace.db(i).FlushMetrics();
}

bool Server::SentinelHealthy() const { return cluster_ != nullptr && cluster_->LeaseHeld(); }

bool Server::MayChangeState() {
  return cluster_ == nullptr || (state_->cluster.master && cluster_->LeaseHeld());
}

void Server::ArmQueueTimer() {
  if (state_->loading || !MayChangeState()) return;
  int64_t next = 0;
  for (int i = 0; i < state_->keyspace.databases(); i++) {
    int64_t at = state_->keyspace.db(i).NextQueueTimerMs();
    if (at && (next == 0 || at < next)) next = at;
  }
  if (next == 0 || (queue_timer_at_ms_ && queue_timer_at_ms_ <= next)) return;
  queue_timer_at_ms_ = next;
  queue_timer_.stop();
  queue_timer_.start(std::max<double>(0, static_cast<double>(next - UnixMs()) / 1000.0), 0);
}

void Server::OnQueueTimer(ev::timer&, int) {
  queue_timer_at_ms_ = 0;
  if (state_->script_busy) return;  // nothing may change under a script; re-armed after it
  if (!MayChangeState()) return;    // re-armed when this node leads
  if (!state_->write_error.empty()) {
    // Writes are refused: try again when the cron's probe may have cleared the error.
    queue_timer_at_ms_ = UnixMs() + 1000;
    queue_timer_.start(1.0, 0);
    return;
  }
  state_->keyspace.set_now_ms(UnixMs());
  state_->keyspace.RunDueWork(10000, 1000);  // bounded: what is left re-arms the timer
  if (state_->keyspace.HasReadyKeys()) ServeReadyKeys(*state_);
}

void Server::OnSignal(ev::sig& w, int) {
  Log(LogLevel::kNotice, "Received {}, scheduling shutdown...",
      w.signum == SIGTERM ? "SIGTERM" : "SIGINT");
  // The before-sleep stage of this iteration commits, flushes and then stops the loop.
  state_->shutdown_requested = true;
}

// ---- cluster mode (DESIGN.md §10) ----

void Server::HandleClusterEvents() {
  for (ClusterEvent& e : cluster_->TakeEvents()) cluster_events_.push_back(std::move(e));
  // A replica catching up on a long log still answers its clients in between.
  int64_t deadline_us = MonotonicUs() + 20000;
  while (!cluster_events_.empty() && MonotonicUs() < deadline_us) {
    ClusterEvent e = std::move(cluster_events_.front());
    cluster_events_.pop_front();
    switch (e.kind) {
      case ClusterEvent::Kind::kEntry: {
        log_head_ = std::max(log_head_, e.lsn);
        if (state_->cluster.master || halted_ || e.lsn < log_next_) break;  // its own, or seen
        if (e.lsn > log_next_) {
          // Trimmed while this node was away or slow: it starts over, copying another node's
          // store (cluster/bootstrap.h) before it follows the log again.
          Log(LogLevel::kWarning,
              "cluster: log entry {} is gone (the next is {}): restarting to copy another "
              "node's store",
              log_next_, e.lsn);
          halted_ = true;
          state_->shutdown_requested = state_->restart_requested = true;
          break;
        }
        log_next_++;
        std::optional<LogEntry> entry = DecodeLogEntry(e.value);
        if (!entry) {
          Halt(
              fmt::format("log entry {} is damaged or of a newer format ({}); refusing to apply "
                          "it: upgrade this node",
                          e.lsn, e.value.empty() ? 0 : static_cast<uint8_t>(e.value[0])));
          break;
        }
        if (std::optional<LogGroup> group = groups_.Add(std::move(*entry))) {
          ApplyGroup(e.lsn, *group);
        }
        break;
      }
      case ClusterEvent::Kind::kLeader:
        HandleLeader(e);
        break;
      case ClusterEvent::Kind::kLeaseLost:
        if (state_->cluster.master) StepDown("the lease was lost");
        break;
      case ClusterEvent::Kind::kNodesReset:
        state_->cluster.peers.clear();
        break;
      case ClusterEvent::Kind::kNode:
        if (e.node == state_->cluster.node_id) break;
        if (e.value.empty()) {
          if (auto it = state_->cluster.peers.find(e.node); it != state_->cluster.peers.end()) {
            departed_[e.node] = {it->second.applied, UnixMs()};
            state_->cluster.peers.erase(it);
          }
        } else {
          NodeRecord node = NodeRecord::Decode(e.value);
          state_->cluster.peers[e.node] = {node.address, node.applied, node.sentinel, UnixMs()};
          departed_.erase(e.node);
        }
        if (state_->cluster.master && MayChangeState()) TrimLog();  // what the nodes need moved
        state_->keyspace.Signal(kReplicationKey);                   // WAIT
        if (state_->keyspace.HasReadyKeys()) ServeReadyKeys(*state_);
        break;
    }
  }
  if (!cluster_events_.empty()) cluster_wake_.send();  // the rest on the next iteration
}

void Server::CheckLease() {
  if (!cluster_->LeaseHeld()) {
    // etcd may be electing a leader of its own (it then renews every lease), or unreachable
    // from here. A master that stays unsure steps down so its clients look elsewhere.
    int64_t now = MonotonicUs();
    if (lease_doubt_since_us_ == 0) lease_doubt_since_us_ = now;
    int64_t bound_us = std::max<int64_t>(5000000, 3 * cluster_->options().lease_ttl_s * 1000000);
    if (now - lease_doubt_since_us_ > bound_us) {
      StepDown(fmt::format("the lease could not be renewed for {} s", bound_us / 1000000));
    }
    return;
  }
  lease_doubt_since_us_ = 0;
  for (uint64_t id : std::exchange(held_input_, {})) {
    Connection* c = FindConnection(id);
    if (!c || c->closed) continue;
    c->input_held = false;
    ProcessInput(c);
  }
}

void Server::TrimLog() {
  // Every live node still needs the entries after what it applied, and so does a node that
  // left a short while ago (a restart, a host's reboot): it catches up from the log instead of
  // copying a whole store. None needs more than the retention keeps (one further behind
  // bootstraps), and the newest entry always stays.
  constexpr int64_t kKeepForDepartedMs = 10 * 60 * 1000;
  uint64_t head = state_->cluster.applied;
  uint64_t needed = std::min(head, cluster_commit_->stored());  // this master's own store too
  for (const auto& [id, peer] : state_->cluster.peers) needed = std::min(needed, peer.applied);
  int64_t now = UnixMs();
  std::erase_if(departed_,
                [&](const auto& entry) { return now - entry.second.left_ms > kKeepForDepartedMs; });
  for (const auto& [id, node] : departed_) needed = std::min(needed, node.applied);
  uint64_t retain = static_cast<uint64_t>(state_->options.cluster_log_retain);
  if (head > retain) needed = std::max(needed, head - retain);
  uint64_t below = std::min(needed + 1, head);
  state_->cluster.log_start = below;
  if (below > 1) cluster_->TrimLog(below);
}

void Server::MayCampaign() {
  if (halted_ || cluster_->options().never_master || MonotonicUs() < sit_out_until_us_) return;
  cluster_->Campaign();
}

void Server::HandOver() {
  state_->failover_requested = false;
  if (!state_->cluster.master) return;
  // The others get the first chance to win the campaign this starts.
  sit_out_until_us_ = MonotonicUs() + 2 * cluster_->options().lease_ttl_s * 1000000;
  StepDown("FAILOVER: handing over to another node");
}

void Server::HandleLeader(const ClusterEvent& e) {
  std::string master = state_->cluster.master_addr;
  int64_t epoch = state_->cluster.epoch;
  UpdateRole(e);
  if (state_->cluster.master_addr != master || state_->cluster.epoch != epoch) MasterChanged();
}

void Server::UpdateRole(const ClusterEvent& e) {
  ClusterStatus& status = state_->cluster;
  caught_up_ = true;  // the watch tells the leader after the log it read
  if (e.value.empty()) {
    status.master_addr.clear();
    if (status.master) return StepDown("the leader key is gone");
    // Every entry before the key's deletion has been applied: caught up, this node may lead.
    MayCampaign();
    return;
  }
  LeaderRecord leader = LeaderRecord::Decode(e.value);
  status.master_addr = leader.address;
  status.master_id = leader.node_id;
  status.epoch = e.epoch;
  // Its own key from before it stepped down is not a mandate: the lease it hangs on is being
  // revoked.
  bool ours = leader.node_id == status.node_id && e.lease == cluster_->lease_id() && e.lease != 0 &&
              e.epoch != deposed_epoch_;
  if (ours && !status.master) return BecomeMaster(e.epoch);
  if (!ours && status.master) StepDown("another node leads now");
}

void Server::ApplyGroup(uint64_t lsn, const LogGroup& group) {
  std::optional<std::vector<Mutation>> mutations = DecodeGroup(group, state_->keyspace.databases());
  if (!mutations) return Halt(fmt::format("the group ending at log entry {} is damaged", lsn));
  state_->keyspace.set_now_ms(UnixMs());
  for (const Mutation& m : *mutations) {
    std::string sha, error;
    if (m.op == Mutation::Op::kScriptLoad) {
      state_->scripts->Load(m.arg, &sha, &error);
    } else if (m.op == Mutation::Op::kScriptFlush) {
      state_->scripts->Flush();
    } else {
      state_->keyspace.Apply(m);
      if (m.op == Mutation::Op::kAclUsers) AdoptAclUsers();
      if (m.op == Mutation::Op::kFunctionLoad || m.op == Mutation::Op::kFunctionDelete ||
          m.op == Mutation::Op::kFunctionFlush) {
        AdoptFunctions();
      }
    }
  }
  state_->cluster.applied = lsn;
  Submit(std::move(*mutations), SyncEachBatch(), true, lsn);
}

void Server::BecomeMaster(int64_t epoch) {
  // What the replica applied is durable before the first append builds on it; a group the
  // previous master left incomplete was never acknowledged and is dropped.
  commits_->WaitIdle();
  TakeCommitted();
  if (!commit_error_.empty()) return StepDown(std::exchange(commit_error_, {}));
  groups_.Reset();
  cluster_commit_->BecomeMaster(epoch, log_head_ + 1);
  state_->cluster.master = true;
  state_->cluster.epoch = epoch;
  cluster_->set_master(true);
  state_->keyspace.set_replica(false);
  state_->keyspace.set_now_ms(UnixMs());
  for (int i = 0; i < state_->keyspace.databases(); i++) state_->keyspace.db(i).GraceLeases();
  // Its workers were seen by the old master: they check in here within a heartbeat.
  for (auto& [id, w] : state_->keyspace.workers()) w.last_seen_ms = UnixMs();
  state_->keyspace.RecordMasterTerm(
      {epoch, state_->cluster.node_id, state_->cluster.advertise, UnixMs()});
  Log(LogLevel::kNotice, "cluster: this node is the master now (epoch {}, log at entry {})", epoch,
      log_head_);
}

void Server::StepDown(const std::string& why) {
  bool was_master = state_->cluster.master;
  if (was_master) deposed_epoch_ = state_->cluster.epoch;
  Log(LogLevel::kWarning, "cluster: {}{}", was_master ? "stepping down: " : "reloading: ", why);
  state_->cluster.master = false;
  cluster_->set_master(false);
  // Replies waiting for an append may never be acknowledged, and any other reply could show
  // state the log does not hold: every client goes, and Sentinel-aware ones look again.
  for (auto& [id, c] : connections_) Close(c.get());
  awaiting_.clear();
  pending_.clear();
  held_input_.clear();
  lease_doubt_since_us_ = 0;
  cluster_commit_->Abandon();
  commits_->WaitIdle();
  TakeCommitted();
  commit_error_.clear();
  state_->keyspace.RecycleMutations(state_->keyspace.TakeMutations());
  cluster_commit_->BecomeReplica();
  next_lsn_ = state_->committed_lsn + 1;
  state_->keyspace.set_replica(true);
  uint64_t index = ReloadFromStore();
  state_->cluster.applied = index;
  log_next_ = index + 1;
  groups_.Reset();
  cluster_events_.clear();  // of the watch that Resync replaces
  caught_up_ = false;
  if (was_master) cluster_->Resign();
  cluster_->Resync(log_next_);
}

void Server::Halt(const std::string& why) {
  Log(LogLevel::kWarning, "cluster: no longer following the log: {}", why);
  halted_ = true;
}

}  // namespace desaster
