// A scheduler's membership in a cluster (DESIGN.md §10): its etcd lease, the election of one
// master through the leader key, and the replicated log. Two helper threads talk to etcd so that
// the event loop never waits on it: the session thread keeps the lease alive and campaigns; the
// watch thread follows the leader key and the log and hands what it sees to the loop as events,
// in etcd's order. The master's appends run on the commit thread (ClusterCommit).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cluster/etcd.h"
#include "server/store/commit.h"

namespace desaster {

class LevelStore;

struct ClusterOptions {
  EtcdOptions etcd;
  std::string name;        // the cluster's keys live under /desaster/<name>/
  std::string cluster_id;  // made by the cluster's first node
  std::string node_id;     // this node's, kept in its data directory
  std::string advertise;   // host:port clients reach this node at
  std::string sentinel;    // host:port of its sentinel port (empty: none)
  int64_t lease_ttl_s = 2;
  // The lease is renewed only while the event loop has been seen alive within this long: a
  // loop stuck for good (not a long script, which serves others meanwhile) hands mastership
  // over after at most watchdog + TTL.
  int64_t watchdog_ms = 15000;
  bool never_master = false;
  size_t max_entry_bytes = 1 << 20;  // under etcd's 1.5 MB request limit
};

// The keys of a cluster in etcd.
struct ClusterKeys {
  explicit ClusterKeys(const std::string& name) : prefix("/desaster/" + name + "/") {}
  std::string prefix;
  std::string leader() const { return prefix + "leader"; }
  std::string log_prefix() const { return prefix + "log/"; }
  std::string log(uint64_t lsn) const;
  // The LSN of a log key, or 0 when `key` is not one.
  uint64_t LsnOf(const std::string& key) const;
  // Each live node registers under its lease: "<host:port> <log entry applied durably>".
  std::string nodes_prefix() const { return prefix + "nodes/"; }
  std::string node(const std::string& id) const { return nodes_prefix() + id; }
};

// The values under those keys: the leader key's ("<node id> <host:port>") and each node's
// registration ("<host:port> <the last log entry it holds durably> <sentinel host:port or ->").
struct LeaderRecord {
  std::string node_id, address;
  std::string Encode() const { return node_id + " " + address; }
  static LeaderRecord Decode(std::string_view value);
};
struct NodeRecord {
  std::string address;
  uint64_t applied = 0;
  std::string sentinel;
  std::string Encode() const;
  static NodeRecord Decode(std::string_view value);
};

// What the helper threads tell the loop.
struct ClusterEvent {
  enum class Kind {
    kEntry,       // the log's entry `lsn` is `value`
    kLeader,      // the leader key is `value` ("<node id> <host:port>") of lease `lease`, made at
                  // revision `epoch`; empty value: there is no master
    kLeaseLost,   // this node's lease expired or was revoked: it holds nothing any more
    kNode,        // node `node` registered `value` (a NodeRecord); an empty value: it left
    kNodesReset,  // the nodes that follow (kNode) are all there are
  };
  Kind kind;
  uint64_t lsn = 0;
  std::string value;
  int64_t epoch = 0;
  int64_t lease = 0;
  std::string node;
};

class ClusterNode {
 public:
  explicit ClusterNode(ClusterOptions options);
  ~ClusterNode() { Stop(); }

  const ClusterOptions& options() const { return options_; }
  const ClusterKeys& keys() const { return keys_; }

  // Where clients reach this node, and its sentinel port (empty: none); before Start.
  void set_advertise(std::string address, std::string sentinel) {
    options_.advertise = std::move(address);
    options_.sentinel = std::move(sentinel);
  }
  // Starts the helpers; the watch delivers the log from entry `from_lsn` on, then the leader.
  // `wake` is called (from a helper thread) when events are waiting.
  void Start(uint64_t from_lsn, std::function<void()> wake);
  // Events since the last call, in order. Those of a watch that Resync replaced are dropped.
  std::vector<ClusterEvent> TakeEvents();
  // Follows the log again from `from_lsn` (after the loop rebuilt its state from the store).
  void Resync(uint64_t from_lsn);
  // Campaigns for the leader key once (a kLeader event tells the outcome).
  void Campaign();
  // Revokes the lease: a master hands over at once (SIGTERM, FAILOVER).
  void Resign();
  // Stops the helper threads (no events or wake-ups after it returns) and revokes the lease:
  // leaving on purpose, the leader key (if this node's) goes at once, not after a TTL.
  void Stop();
  // The loop calls this at least every few hundred milliseconds (the watchdog's evidence).
  void Tick();
  // The last log entry this node holds durably: registered for the master to see (INFO
  // replication, WAIT) and to trim the log below.
  void set_applied(uint64_t lsn) { applied_.store(lsn, std::memory_order_relaxed); }
  // The master's housekeeping: deletes the log's entries below `lsn` and compacts etcd's
  // history of them (on the session thread).
  void TrimLog(uint64_t lsn);
  // Whether this node is the master: the master alone keeps etcd's space in check.
  void set_master(bool master) { master_ = master; }
  // The endpoint the master's appends use: maintenance that stalls a member leaves it alone.
  void set_append_endpoint(size_t endpoint) { append_endpoint_ = endpoint; }
  // Whether this node provably holds its lease now: etcd renewed it at or after a moment that
  // is more than TTL (less a margin) ago. Any thread.
  bool LeaseHeld() const;
  // When the lease provably ends (monotonic microseconds; 0: not held).
  int64_t lease_deadline_us() const { return lease_deadline_us_.load(); }
  int64_t lease_id() const { return lease_id_.load(); }

 private:
  struct Session;
  void RunSession();
  // The session thread's steps.
  void Grant(Session* s);
  void Campaign(Session* s);
  void KeepAlive(Session* s);
  void NoteRenewal(Session* s, int64_t sent_us, int64_t ttl_s);
  void LoseLease(Session* s, const char* why);
  // Puts the node key when its applied entry or the lease changed.
  void Register(Session* s);
  void Trim(Session* s);
  // Compacts etcd's history up to a revision old enough.
  void Compact(Session* s);
  // Every few seconds on the master: a member whose quota filled (NOSPACE) is compacted,
  // defragmented and its alarm cleared; a member whose file is mostly free pages is
  // defragmented, one at a time, never the one appends go to.
  void Housekeep(Session* s);
  void RunWatch();
  // Pushes the log from entry *next_lsn to its end and then the leader key, as of *revision;
  // *next_lsn is then the entry after the last. False with *error when etcd could not be read.
  bool ReadLog(Etcd* etcd, uint64_t generation, uint64_t* next_lsn, int64_t* revision,
               std::string* error);
  void Push(ClusterEvent event, uint64_t generation);
  void PushNode(const EtcdKeyValue& kv, bool deleted, uint64_t generation);

  ClusterOptions options_;
  ClusterKeys keys_;
  std::function<void()> wake_;

  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> lease_deadline_us_{0};
  std::atomic<int64_t> lease_id_{0};
  std::atomic<int64_t> loop_seen_us_{0};
  std::atomic<uint64_t> applied_{0};
  std::atomic<uint64_t> trim_below_{0};
  std::atomic<bool> master_{false};
  std::atomic<size_t> append_endpoint_{0};

  std::mutex mu_;
  std::condition_variable session_wake_;
  bool campaign_ = false, resign_ = false;
  std::vector<std::pair<uint64_t, ClusterEvent>> events_;  // with the watch generation
  uint64_t generation_ = 0;                                // of the current watch
  uint64_t from_lsn_ = 1;
  std::atomic<bool> restart_watch_{false};

  std::thread session_, watch_;
};

// The commit pipeline of a cluster node. On a master, a commit group is first appended to the
// log in etcd, guarded by the epoch; the commit is then done (the log holds the group durably),
// and the group is written to the local store with its log index while the next group is
// appended. On a replica, the batches (entries it applied) go to the store with theirs. An
// append that fails, or whose outcome stays unknown while the lease lasts, deposes the master,
// and so does a failed store write (found by the next commit): the commit fails, and so does
// every later one until the loop makes it a replica again.
class ClusterCommit : public CommitPipeline {
 public:
  ClusterCommit(ClusterNode* node, LevelStore* store);
  // Finishes the store write in flight.
  ~ClusterCommit() override;

  // While the commit queue is idle: appends continue at log entry `next_index` under `epoch`.
  void BecomeMaster(int64_t epoch, uint64_t next_index);
  // While the commit queue is idle: the store has every group appended so far, and batches
  // go to the store only.
  void BecomeReplica();
  // Any thread: an append still retrying gives up (the loop is stepping down), and every
  // commit fails until BecomeReplica.
  void Abandon() { abandoned_ = true; }
  bool deposed() const { return deposed_.load(); }
  // The last log entry this master appended: what the log holds of it.
  uint64_t appended() const { return next_index_.load() - 1; }
  // The last log entry this master appended and wrote to its own store (its store writes
  // trail its appends by up to one group).
  uint64_t stored() const { return stored_.load(); }

  bool Commit(std::span<const Batch> batches, bool sync, std::string* error) override;
  bool Flush(std::string* error) override;
  bool Probe(std::string* error) override;
  std::unique_ptr<StateLoader> NewLoader() override;
  std::string engine() const override;
  std::unique_ptr<StoreSnapshot> Snapshot() override;

 private:
  // Appends `value` as log entry `lsn`; false (with *error) when this node is deposed.
  bool Append(uint64_t lsn, const std::string& value, std::string* error);
  // Waits for the store write of the last appended group; false (with *error) if it failed.
  bool FinishStoreWrite(std::string* error);
  // The store writer's thread: writes each group handed to it, one at a time.
  void WriteStore();

  ClusterNode* node_;
  LevelStore* store_;
  Etcd etcd_;          // used on the commit thread only
  int64_t epoch_ = 0;  // 0: a replica
  int64_t lease_ = 0;  // the lease the leader key hangs on
  std::atomic<uint64_t> next_index_{1};
  std::atomic<uint64_t> stored_{0};
  std::atomic<bool> deposed_{false};
  std::atomic<bool> abandoned_{false};
  // The master's store writes run on one thread for the node's life (a thread started per
  // group cost the master a quarter of its CPU: each exit unmaps the stack the kernel then
  // shoots down on every core). Guarded by store_mu_, from the commit thread, snapshot readers
  // and the writer.
  struct StoreWrite {
    std::vector<Batch> group;
    uint64_t index = 0;
    bool sync = false;
  };
  std::mutex store_mu_;
  std::condition_variable store_cv_;
  std::optional<StoreWrite> store_write_;  // handed to the writer, not finished yet
  std::string store_failed_;               // why the last write failed; empty: it did not
  bool stopping_ = false;
  std::thread store_writer_;  // (last: started once the rest is there)
};

}  // namespace desaster
