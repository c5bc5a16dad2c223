// State shared by all commands: the keyspace, the command table, connected clients, pub/sub
// subscriptions, statistics. Owned by the server; knows nothing about sockets.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "server/command/access_control.h"
#include "server/command/client.h"
#include "server/command/registry.h"
#include "server/command/tracking.h"
#include "server/config.h"
#include "server/data/keyspace.h"
#include "server/store/commit.h"

namespace desaster {

struct CommandStats {
  uint64_t calls = 0;
  uint64_t usec = 0;
  uint64_t rejected = 0;  // refused before running (arity, auth, ...)
  uint64_t failed = 0;    // ran and answered an error
};

struct SlowLogEntry {
  uint64_t id;
  int64_t unix_s;
  int64_t duration_us;
  std::vector<std::string> argv;
  std::string addr, name;
};

struct Stats {
  uint64_t connections_received = 0;
  uint64_t commands_processed = 0;
  uint64_t rejected_connections = 0;
  uint64_t keyspace_hits = 0;
  uint64_t keyspace_misses = 0;
  uint64_t net_input_bytes = 0;
  uint64_t net_output_bytes = 0;
  uint64_t pubsub_messages = 0;
  uint64_t error_replies = 0;
  uint64_t forwarded_commands = 0;  // a cluster replica passed to the master
  uint64_t commits = 0;             // batches handed to the store
  uint64_t commits_overlapped = 0;  // of those, committed on the helper while the loop ran on
  uint64_t used_memory_peak = 0;    // the most INFO has seen the heap hold
  // By command (subcommands have their own spec): a pointer lookup on every call, not a
  // string comparison; INFO commandstats sorts by name when it prints.
  std::unordered_map<const CommandSpec*, CommandStats> commands;
};

class ScriptEngine;

// A snapshot being copied to another node, a page at a time, each read on a helper thread.
class SnapshotCopy {
 public:
  using Page = std::vector<std::pair<std::string, std::string>>;
  explicit SnapshotCopy(std::unique_ptr<StoreSnapshot> snapshot) : snapshot_(std::move(snapshot)) {}
  ~SnapshotCopy() { Join(); }
  StoreSnapshot& snapshot() { return *snapshot_; }

  // Reads the page after key `after` (about `max_bytes`) on a helper thread, which calls `done`
  // once Ready.
  void StartRead(const std::string& after, size_t max_bytes, std::function<void()> done) {
    Take();
    after_ = after;
    reading_ = true;
    reader_ = std::thread([this, after, max_bytes, done = std::move(done)] {
      snapshot_->Read(after, max_bytes, &page_);
      ready_.store(true, std::memory_order_release);
      if (done) done();
    });
  }
  // Whether the page after `after` is being read, and whether it is there to take.
  bool Reading(const std::string& after) const { return reading_ && after_ == after; }
  bool Ready() const { return ready_.load(std::memory_order_acquire); }
  // The page read (waiting for it if need be); nothing is being read after this.
  Page Take() {
    Join();
    reading_ = false;
    ready_ = false;
    return std::exchange(page_, {});
  }

 private:
  void Join() {
    if (reader_.joinable()) reader_.join();
  }
  std::unique_ptr<StoreSnapshot> snapshot_;
  std::string after_;
  bool reading_ = false;
  std::atomic<bool> ready_{false};
  Page page_;           // written by the reader until ready_
  std::thread reader_;  // (last: joined before the rest goes)
};

// A search of the payloads and results of a database's archived completions (COMPLETED.* MATCH)
// on a helper thread, while the client that asked waits.
class CompletionSearch {
 public:
  // Searches `db` of `archive` for `text`; the thread calls `done` once Ready.
  CompletionSearch(CompletionArchive* archive, int db, std::string text, std::function<void()> done)
      : db_(db), text_(std::move(text)) {
    searcher_ = std::thread([this, archive, done = std::move(done)] {
      hits_ = SearchArchive(*archive, db_, text_, stop_);
      ready_.store(true, std::memory_order_release);
      if (done) done();
    });
  }
  ~CompletionSearch() {
    stop_ = true;
    searcher_.join();
  }
  // Whether it searches database `db` for `text`.
  bool Searches(int db, std::string_view text) const { return db == db_ && text == text_; }
  bool Ready() const { return ready_.load(std::memory_order_acquire); }
  // The ids found; only once Ready.
  std::unordered_set<uint64_t> TakeHits() { return std::move(hits_); }

 private:
  const int db_;
  const std::string text_;
  std::atomic<bool> stop_{false}, ready_{false};
  std::unordered_set<uint64_t> hits_;  // written by the searcher until ready_
  std::thread searcher_;               // (last: started once the rest is there)
};

// Cluster mode (DESIGN.md §10), as commands report it.
struct ClusterStatus {
  bool enabled = false;
  bool master = false;     // this node leads: it alone executes writes
  std::string name;        // the cluster's, the master's name to Sentinel clients
  std::string cluster_id;  // also what a node shows to copy another's store (SNAPSHOT.OPEN)
  std::string node_id;
  std::string advertise;         // host:port of this node, as clients and other nodes reach it
  std::string sentinel;          // host:port of this node's sentinel port (empty: none)
  std::string master_addr;       // host:port of the master; empty while none is known
  std::string master_id;         // the master's node id
  std::string last_master_addr;  // the last one known: Sentinel names it while none is
  int64_t master_since_ms = 0;   // when this node learned of the current master
  int64_t epoch = 0;             // the master's
  uint64_t applied = 0;          // the last log entry this node applied
  bool session_alive = false;    // etcd renews this node's lease (as of the last cron tick)
  uint64_t log_start = 0;        // a master keeps the log from this entry on (0: not trimmed)
  // The other live nodes, as they registered: where they are, what they applied durably.
  struct Peer {
    std::string addr;
    uint64_t applied = 0;
    std::string sentinel;  // its sentinel port's host:port; empty: none
    int64_t updated_ms = 0;
  };
  std::map<std::string, Peer> peers;  // by node id
};

// "host:port" -> host, port (empty when there is none).
std::pair<std::string, std::string> SplitAddress(const std::string& address);

class ServerState {
 public:
  ServerState(Options* options, int64_t now_ms);
  ~ServerState();
  // Passes the options the keyspace acts on (failed-max, retry) to it: at start and after
  // CONFIG SET.
  void ApplyOptions();
  // Connections of a removed user close once their replies are out; meanwhile they run as an
  // unauthenticated default user, as in Redis.
  void DisconnectUser(const AclUser* user);
  // Subscribers of `user` that may no longer listen to one of their channels close.
  void DisconnectRevokedSubscribers(const AclUser* user);
  // Makes the ACL users those of `text` (a cluster's, from the log or the store) as ACL
  // SETUSER and DELUSER would; false with *error when the text is refused.
  bool ReplaceUsers(const std::string& text, std::string* error);
  // Makes tls_context from options.tls when there is a TLS port and they changed; false with
  // *error (tls_context unchanged) when they are unusable.
  bool ApplyTls(std::string* error);

  Options& options;
  Keyspace keyspace;
  CommandRegistry registry;
  AccessControl acl{&registry};
  Stats stats;
  std::deque<SlowLogEntry> slowlog;
  uint64_t slowlog_next_id = 0;
  int64_t start_ms;
  int64_t last_save_unix_s;
  bool loading = false;
  bool shutdown_requested = false;
  // Keys past their expiry are deleted by the cron as well as when touched (DEBUG
  // SET-ACTIVE-EXPIRE 0 leaves them to be found, as test suites ask of Redis).
  bool active_expire = true;
  bool restart_requested = false;   // with shutdown_requested: the process starts over
  bool failover_requested = false;  // FAILOVER: hand mastership over once its reply is out

  // Persistence, as the server reports it. While `write_error` is set the last commit failed:
  // writes are refused (MISCONF) until the store accepts a synced write again.
  std::string store_engine = "none";
  ClusterStatus cluster;
  // A replica refuses writes: the master executes them.
  bool read_only() const { return cluster.enabled && !cluster.master; }
  std::string write_error;
  uint64_t committed_lsn = 0;
  int64_t last_commit_unix_s = 0;
  // A copy of what is committed (SNAPSHOT.OPEN), and those being read, by the client that
  // opened it. A page is read on a helper thread while its reader waits (blocked on
  // kSnapshotKey); `snapshot_page_read` (any thread) says one is ready.
  std::function<std::unique_ptr<StoreSnapshot>()> open_snapshot;
  std::map<uint64_t, std::unique_ptr<SnapshotCopy>> snapshots;
  std::function<void()> snapshot_page_read;
  // Searches of archived completions, by the client that waits for one (blocked on
  // kCompletedSearchKey); `completed_search_done` (any thread) says one finished. While any
  // runs, completions stay in memory as they are (Keyspace::ArchiveStoredCompletions waits), so
  // what a search did not see is what memory still holds.
  std::map<uint64_t, std::unique_ptr<CompletionSearch>> completed_searches;
  std::function<void()> completed_search_done;
  // Commits what is pending, then rebuilds the keyspace from the store (DEBUG RELOAD). False with
  // *error when the commit or the load failed.
  std::function<bool(std::string*)> reload;

  // A script past lua-time-limit: other clients get -BUSY until it ends. The network layer
  // serves them through `serve_while_busy(n)` (one non-blocking pass of the event loop); `n` is
  // how many recorded mutations belong to commands that finished before the script: those may
  // be committed, the script's own never before it ends.
  bool script_busy = false;
  // CLIENT PAUSE: until `pause_end_ms`, commands that may write (kWritesOnly) or all of them
  // wait, unanswered, in their connections.
  enum class Pause { kOff, kWritesOnly, kAll };
  Pause pause = Pause::kOff;
  int64_t pause_end_ms = 0;
  bool Paused(int64_t now_ms) const { return pause != Pause::kOff && now_ms < pause_end_ms; }
  // Whether `argv` from `client` waits now (an EXEC waits if what it runs may write).
  bool Postponed(const Client& client, const std::vector<std::string>& argv, int64_t now_ms) const;
  bool script_kill_requested = false;
  bool script_wrote = false;
  std::function<void(size_t)> serve_while_busy;
  // The requirepass the default user's password was last set from.
  std::string applied_requirepass;
  // What the TLS port's connections use: made from options.tls by ApplyTls (nullptr: no TLS
  // port). A connection keeps the context it was accepted with.
  std::shared_ptr<net::TlsContext> tls_context;
  net::TlsSettings applied_tls;  // what tls_context was made from
  // --tls-cluster: how this node connects to the others (nullptr: plainly).
  std::shared_ptr<net::TlsContext> cluster_tls;
  net::TlsSettings applied_cluster_tls;

  std::unordered_map<uint64_t, Client*> clients;
  std::map<std::string, std::vector<Client*>> channels;  // channel -> subscribers
  std::map<std::string, std::vector<Client*>> patterns;  // pattern -> subscribers
  std::vector<Client*> monitors;
  std::unique_ptr<ScriptEngine> scripts;
  Tracking tracking{this};  // CLIENT TRACKING

  // Called whenever a client (not necessarily the current one) has new output.
  std::function<void(Client*)> on_output;
  // The bytes the heap has handed out (INFO's used_memory), as the binary's allocator counts
  // them; unset, the C library's count is used.
  std::function<uint64_t()> allocated_bytes;
  // Which allocator that is (INFO's mem_allocator).
  std::string allocator = "libc";
  // Gives the kernel back the free memory of the calling thread's share of the heap (a helper
  // thread that went quiet after a burst: server/heap.h); unset, nothing is given back.
  std::function<void()> release_thread_heap;
  // The bytes the heap holds for the dataset and everything else (INFO's used_memory).
  uint64_t UsedMemory() const;
  // maxmemory (0: none), and whether used memory was over it when last checked: then commands
  // that may grow memory (kDenyOom) are refused, as Redis' noeviction policy refuses them.
  uint64_t maxmemory = 0;
  bool over_maxmemory = false;
  // Measures used memory against maxmemory; the loop calls it once per iteration.
  void CheckMemory();
  Client* FindClient(uint64_t id) const {
    auto it = clients.find(id);
    return it == clients.end() ? nullptr : it->second;
  }
};

}  // namespace desaster
