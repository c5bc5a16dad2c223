#include "cluster/node.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "cluster/log_entry.h"
#include "server/clock.h"
#include "server/log.h"
#include "server/store/level_store.h"

namespace desaster {

std::string ClusterKeys::log(uint64_t lsn) const {
  return fmt::format("{}{:020}", log_prefix(), lsn);
}

uint64_t ClusterKeys::LsnOf(const std::string& key) const {
  const std::string p = log_prefix();
  if (key.size() != p.size() + 20 || !key.starts_with(p)) return 0;
  uint64_t lsn = 0;
  for (char c : std::string_view(key).substr(p.size())) {
    if (c < '0' || c > '9') return 0;
    lsn = lsn * 10 + static_cast<uint64_t>(c - '0');
  }
  return lsn;
}

ClusterNode::ClusterNode(ClusterOptions options)
    : options_(std::move(options)), keys_(options_.name) {}

void ClusterNode::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    restart_watch_ = true;
  }
  session_wake_.notify_all();
  if (session_.joinable()) session_.join();
  if (watch_.joinable()) watch_.join();
  if (int64_t lease = lease_id_.exchange(0); lease != 0) {
    lease_deadline_us_ = 0;
    std::string error;
    Etcd etcd(options_.etcd);
    if (etcd.Revoke(lease, &error) != Etcd::Status::kOk) {
      Log(LogLevel::kWarning, "cluster: could not revoke the lease: {}", error);
    }
  }
}

void ClusterNode::Start(uint64_t from_lsn, std::function<void()> wake) {
  wake_ = std::move(wake);
  from_lsn_ = from_lsn;
  loop_seen_us_ = MonotonicUs();
  session_ = std::thread([this] { RunSession(); });
  watch_ = std::thread([this] { RunWatch(); });
}

std::vector<ClusterEvent> ClusterNode::TakeEvents() {
  std::lock_guard lock(mu_);
  std::vector<ClusterEvent> out;
  for (auto& [generation, event] : events_) {
    // A lost lease matters whichever watch is current.
    if (generation == generation_ || event.kind == ClusterEvent::Kind::kLeaseLost) {
      out.push_back(std::move(event));
    }
  }
  events_.clear();
  return out;
}

void ClusterNode::Push(ClusterEvent event, uint64_t generation) {
  {
    std::lock_guard lock(mu_);
    events_.emplace_back(generation, std::move(event));
  }
  wake_();
}

void ClusterNode::Resync(uint64_t from_lsn) {
  std::lock_guard lock(mu_);
  generation_++;
  from_lsn_ = from_lsn;
  events_.clear();
  restart_watch_ = true;
}

void ClusterNode::Campaign() {
  {
    std::lock_guard lock(mu_);
    campaign_ = true;
  }
  session_wake_.notify_all();
}

void ClusterNode::Resign() {
  {
    std::lock_guard lock(mu_);
    resign_ = true;
  }
  session_wake_.notify_all();
}

void ClusterNode::Tick() { loop_seen_us_.store(MonotonicUs(), std::memory_order_relaxed); }

bool ClusterNode::LeaseHeld() const { return MonotonicUs() < lease_deadline_us_.load(); }

// Frequent renewals keep the proof of the lease fresh: an etcd leader election (during which
// nothing is renewed) must fit in what is left of the TTL for the master to keep serving.
constexpr int64_t kKeepalivesPerTtl = 8;

void ClusterNode::RunSession() {
  Etcd etcd(options_.etcd);
  std::string error;
  const int64_t ttl_us = options_.lease_ttl_s * 1000000;
  // etcd counts the TTL from when it renews the lease, after the request left: counting from
  // the send is safe but for clock rate differences, which the margin covers.
  const int64_t margin_us = std::min<int64_t>(100000, ttl_us / 10);
  int64_t lease = 0;
  int64_t next_keepalive_us = 0;
  int64_t next_grant_us = 0;
  bool watchdog_fired = false;
  auto lose_lease = [&](const char* why) {
    Log(LogLevel::kWarning, "cluster: lease {:x} lost: {}", lease, why);
    lease = 0;
    lease_id_ = 0;
    lease_deadline_us_ = 0;
    Push(ClusterEvent{ClusterEvent::Kind::kLeaseLost, 0, {}, 0, 0}, 0);
  };
  std::unique_lock lock(mu_);
  while (!stopping_) {
    int64_t wait_us = (lease == 0 ? next_grant_us : next_keepalive_us) - MonotonicUs();
    session_wake_.wait_for(lock, std::chrono::microseconds(std::max<int64_t>(0, wait_us)), [&] {
      return stopping_.load() || (campaign_ && lease != 0) || resign_;
    });
    if (stopping_) break;
    // A campaign waits for a lease to hang the leader key on.
    bool campaign = lease != 0 && std::exchange(campaign_, false);
    bool resign = std::exchange(resign_, false);
    lock.unlock();
    if (resign && lease != 0) {
      int64_t revoked = lease;
      lose_lease("resigned");
      if (etcd.Revoke(revoked, &error) != Etcd::Status::kOk) {
        Log(LogLevel::kWarning, "cluster: could not revoke lease: {}", error);
      }
    }
    if (lease == 0 && !resign && MonotonicUs() >= next_grant_us) {
      int64_t sent = MonotonicUs();
      next_grant_us = sent + 100000;
      int64_t granted = 0;
      if (etcd.Grant(options_.lease_ttl_s, &lease, &granted, &error) == Etcd::Status::kOk) {
        lease_id_ = lease;
        lease_deadline_us_ = sent + granted * 1000000 - margin_us;
        next_keepalive_us = sent + granted * 1000000 / kKeepalivesPerTtl;
        Log(LogLevel::kVerbose, "cluster: lease {:x} granted for {} s", lease, granted);
      } else {
        lease = 0;
        Log(LogLevel::kVerbose, "cluster: no lease: {}", error);
      }
    }
    if (lease != 0 && campaign) {
      EtcdTxn txn;
      txn.compare.push_back(EtcdTxn::Compare::Created(keys_.leader(), 0));
      txn.success.push_back(
          EtcdTxn::Op::Put(keys_.leader(), options_.node_id + " " + options_.advertise, lease));
      EtcdTxnResult result;
      // Won or lost, the watch reports the leader key it made or found.
      if (etcd.Txn(txn, &result, &error) != Etcd::Status::kOk) {
        Log(LogLevel::kVerbose, "cluster: campaign failed: {}", error);
      }
    }
    if (lease != 0 && MonotonicUs() >= next_keepalive_us) {
      if (MonotonicUs() - loop_seen_us_.load() > options_.watchdog_ms * 1000) {
        if (!watchdog_fired) {
          Log(LogLevel::kWarning,
              "cluster: the event loop has not run for {} ms: no longer renewing the lease",
              options_.watchdog_ms);
        }
        watchdog_fired = true;
        next_keepalive_us = MonotonicUs() + 100000;
      } else {
        watchdog_fired = false;
        int64_t sent = MonotonicUs();
        int64_t ttl = 0;
        Etcd::Status s = etcd.KeepAlive(lease, &ttl, &error);
        if (s == Etcd::Status::kOk && ttl > 0) {
          lease_deadline_us_ = sent + ttl * 1000000 - margin_us;
          next_keepalive_us = sent + ttl * 1000000 / kKeepalivesPerTtl;
        } else if (s == Etcd::Status::kOk) {
          lose_lease("expired in etcd");
        } else {
          Log(LogLevel::kVerbose, "cluster: keepalive failed: {}", error);
          next_keepalive_us = MonotonicUs() + 100000;
        }
      }
    }
    lock.lock();
  }
}

bool ClusterNode::ReadLog(Etcd* etcd, uint64_t generation, uint64_t* next_lsn, int64_t* revision,
                          std::string* error) {
  uint64_t from_lsn = *next_lsn;
  const std::string end = Etcd::PrefixEnd(keys_.log_prefix());
  auto push_entries = [&](const std::vector<EtcdKeyValue>& kvs) {
    for (const EtcdKeyValue& kv : kvs) {
      uint64_t lsn = keys_.LsnOf(kv.key);
      if (lsn < from_lsn) continue;
      Push(ClusterEvent{ClusterEvent::Kind::kEntry, lsn, kv.value, 0, 0}, generation);
      from_lsn = lsn + 1;
    }
  };
  // Pages first; the last read takes the rest and the leader key at one revision, from which
  // the watch continues.
  while (true) {
    std::vector<EtcdKeyValue> kvs;
    bool more = false;
    if (etcd->Range(keys_.log(from_lsn), end, 64, &kvs, revision, &more, error) !=
        Etcd::Status::kOk) {
      return false;
    }
    if (!more) break;
    push_entries(kvs);
    if (restart_watch_ || stopping_) return false;
  }
  EtcdTxn txn;
  txn.success.push_back(EtcdTxn::Op::Range(keys_.leader()));
  txn.success.push_back(EtcdTxn::Op::Range(keys_.log(from_lsn), end));
  EtcdTxnResult result;
  if (etcd->Txn(txn, &result, error) != Etcd::Status::kOk || result.ranges.size() != 2) {
    return false;
  }
  push_entries(result.ranges[1]);
  ClusterEvent leader{ClusterEvent::Kind::kLeader, 0, {}, 0, 0};
  if (!result.ranges[0].empty()) {
    leader.value = result.ranges[0][0].value;
    leader.epoch = result.ranges[0][0].create_revision;
    leader.lease = result.ranges[0][0].lease;
  }
  Push(std::move(leader), generation);
  *revision = result.revision;
  *next_lsn = from_lsn;
  return true;
}

void ClusterNode::RunWatch() {
  Etcd etcd(options_.etcd);
  std::string error, last_error;
  uint64_t generation = 0, next_lsn = 0;
  int64_t revision = 0;
  bool read = true;
  auto pause = [&] {
    std::unique_lock lock(mu_);
    session_wake_.wait_for(lock, std::chrono::milliseconds(100), [&] { return stopping_.load(); });
  };
  while (!stopping_) {
    {
      std::lock_guard lock(mu_);
      if (generation != generation_ || next_lsn == 0) {
        generation = generation_;
        next_lsn = from_lsn_;
        read = true;
      }
      restart_watch_ = false;
    }
    if (read) {
      if (!ReadLog(&etcd, generation, &next_lsn, &revision, &error)) {
        if (error != last_error) Log(LogLevel::kWarning, "cluster: reading the log: {}", error);
        last_error = error;
        pause();
        continue;
      }
      read = false;
    }
    Etcd::Status s = etcd.Watch(
        keys_.prefix, Etcd::PrefixEnd(keys_.prefix), revision + 1,
        [&](const Etcd::WatchMessage& m) {
          if (m.canceled) {
            // History before compact_revision is gone: read the log again from where we are.
            if (m.compact_revision > 0) read = true;
            return false;
          }
          for (const auto& e : m.events) {
            revision = std::max(revision, e.kv.mod_revision);
            if (e.kv.key == keys_.leader()) {
              ClusterEvent leader{ClusterEvent::Kind::kLeader, 0, {}, 0, 0};
              if (!e.deleted) {
                leader.value = e.kv.value;
                leader.epoch = e.kv.create_revision;
                leader.lease = e.kv.lease;
              }
              Push(std::move(leader), generation);
            } else if (uint64_t lsn = keys_.LsnOf(e.kv.key); lsn >= next_lsn && !e.deleted) {
              Push(ClusterEvent{ClusterEvent::Kind::kEntry, lsn, e.kv.value, 0, 0}, generation);
              next_lsn = lsn + 1;
            }
          }
          if (m.events.empty()) revision = std::max(revision, m.revision);  // progress
          return true;
        },
        &restart_watch_, &error);
    if (stopping_ || restart_watch_) continue;
    if (read && s == Etcd::Status::kOk) continue;
    if (error != last_error) Log(LogLevel::kWarning, "cluster: watch: {}", error);
    last_error = error;
    pause();
  }
}

// ---- ClusterCommit ----

ClusterCommit::ClusterCommit(ClusterNode* node, LevelStore* store)
    : node_(node), store_(store), etcd_(node->options().etcd) {}

void ClusterCommit::BecomeMaster(int64_t epoch, uint64_t next_index) {
  epoch_ = epoch;
  next_index_ = next_index;
  lease_ = node_->lease_id();
  deposed_ = false;
  abandoned_ = false;
}

void ClusterCommit::BecomeReplica() {
  epoch_ = 0;
  deposed_ = false;
  abandoned_ = false;
}

bool ClusterCommit::Append(uint64_t lsn, const std::string& value, std::string* error) {
  const ClusterKeys& keys = node_->keys();
  EtcdTxn txn;
  txn.compare.push_back(EtcdTxn::Compare::Created(keys.leader(), epoch_));
  txn.compare.push_back(EtcdTxn::Compare::Created(keys.log(lsn), 0));
  txn.success.push_back(EtcdTxn::Op::Put(keys.log(lsn), value));
  txn.failure.push_back(EtcdTxn::Op::Range(keys.leader()));
  txn.failure.push_back(EtcdTxn::Op::Range(keys.log(lsn)));
  // The entry's absence makes the append idempotent: after an unknown outcome the same
  // transaction either lands or finds the entry an earlier attempt wrote.
  while (true) {
    EtcdTxnResult result;
    std::string why;
    Etcd::Status s = etcd_.Txn(txn, &result, &why);
    if (s == Etcd::Status::kOk) {
      if (result.succeeded) return true;
      if (result.ranges.size() == 2 && !result.ranges[1].empty() &&
          result.ranges[1][0].value == value) {
        return true;
      }
      bool leader_changed = result.ranges.empty() || result.ranges[0].empty() ||
                            result.ranges[0][0].create_revision != epoch_;
      *error = leader_changed ? "deposed: the leader key changed"
                              : fmt::format("deposed: log entry {} was written by another", lsn);
      return false;
    }
    // Unresolved (etcd electing a leader, a member gone): the same transaction again, for as
    // long as the lease lives and the loop has not given up on this master.
    if (abandoned_ || node_->lease_id() != lease_) {
      *error = "deposed: the lease ended with an append unresolved (" + why + ")";
      return false;
    }
    Log(LogLevel::kVerbose, "cluster: append of entry {} unresolved, retrying: {}", lsn, why);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

bool ClusterCommit::Commit(std::span<const Batch> batches, bool sync, std::string* error) {
  if (epoch_ == 0) return store_->Commit(batches, sync, error);
  if (deposed_ || abandoned_) {
    *error = "deposed";
    return false;
  }
  for (const LogEntry& part : SplitGroup(EncodeMutations(batches), static_cast<uint64_t>(epoch_),
                                         node_->options().max_entry_bytes)) {
    if (!Append(next_index_, EncodeLogEntry(part), error)) {
      deposed_ = true;
      return false;
    }
    next_index_++;
  }
  if (!store_->CommitAt(batches, next_index_ - 1, sync, error)) {
    // The log has the group and the replicas apply it; this node cannot, so it must not lead.
    *error = "deposed: the local store failed after the append: " + *error;
    deposed_ = true;
    return false;
  }
  return true;
}

bool ClusterCommit::Flush(std::string* error) { return store_->Flush(error); }
bool ClusterCommit::Probe(std::string* error) { return store_->Probe(error); }
std::unique_ptr<StateLoader> ClusterCommit::NewLoader() { return store_->NewLoader(); }
std::string ClusterCommit::engine() const { return store_->engine(); }

}  // namespace desaster
