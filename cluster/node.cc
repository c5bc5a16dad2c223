#include "cluster/node.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <sstream>

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

LeaderRecord LeaderRecord::Decode(std::string_view value) {
  size_t space = value.find(' ');
  if (space == std::string_view::npos) return {std::string(value), ""};
  return {std::string(value.substr(0, space)), std::string(value.substr(space + 1))};
}

std::string NodeRecord::Encode() const {
  return fmt::format("{} {} {}", address, applied, sentinel.empty() ? "-" : sentinel);
}

NodeRecord NodeRecord::Decode(std::string_view value) {
  std::istringstream in{std::string(value)};
  NodeRecord record;
  in >> record.address >> record.applied >> record.sentinel;
  if (record.sentinel == "-") record.sentinel.clear();
  return record;
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

void ClusterNode::TrimLog(uint64_t lsn) {
  if (lsn <= trim_below_.load()) return;
  trim_below_ = lsn;
  session_wake_.notify_all();
}

void ClusterNode::Tick() { loop_seen_us_.store(MonotonicUs(), std::memory_order_relaxed); }

bool ClusterNode::LeaseHeld() const { return MonotonicUs() < lease_deadline_us_.load(); }

// Frequent renewals keep the proof of the lease fresh: an etcd leader election (during which
// nothing is renewed) must fit in what is left of the TTL for the master to keep serving.
constexpr int64_t kKeepalivesPerTtl = 8;
// etcd's history is compacted up to a revision at least this old: a watch further behind is
// cancelled and reads the log again. Short, because the history of a busy log fills etcd's
// quota fast: appends of 16 MB/s with a 1 s window filled a 32 MB quota.
constexpr int64_t kCompactAgeUs = 200000;

// The session thread's state.
struct ClusterNode::Session {
  explicit Session(const EtcdOptions& options) : etcd(options) {}
  Etcd etcd;
  std::string error;
  int64_t lease = 0;
  int64_t next_keepalive_us = 0, next_grant_us = 0;
  bool watchdog_fired = false;
  // What the node key says, under which lease.
  uint64_t registered_applied = 0;
  int64_t registered_lease = 0;
  uint64_t trimmed = 0;                               // the log holds no entry below this
  std::deque<std::pair<int64_t, int64_t>> revisions;  // (when seen, etcd revision)
  int64_t compacted = 0;
  int64_t next_housekeeping_us = 0;
  std::string campaign_lost_to;  // the leader key a campaign last found in its way
};

void ClusterNode::LoseLease(Session* s, const char* why) {
  Log(LogLevel::kWarning, "cluster: lease {:x} lost: {}", s->lease, why);
  s->lease = 0;
  lease_id_ = 0;
  lease_deadline_us_ = 0;
  Push(ClusterEvent{ClusterEvent::Kind::kLeaseLost, 0, {}, 0, 0, {}}, 0);
}

void ClusterNode::RunSession() {
  Session s(options_.etcd);
  std::unique_lock lock(mu_);
  while (!stopping_) {
    int64_t wait_us = (s.lease == 0 ? s.next_grant_us : s.next_keepalive_us) - MonotonicUs();
    session_wake_.wait_for(lock, std::chrono::microseconds(std::max<int64_t>(0, wait_us)), [&] {
      return stopping_.load() || (campaign_ && s.lease != 0) || resign_ ||
             trim_below_.load() > s.trimmed;
    });
    if (stopping_) break;
    // A campaign waits for a lease to hang the leader key on.
    bool campaign = s.lease != 0 && std::exchange(campaign_, false);
    bool resign = std::exchange(resign_, false);
    lock.unlock();
    if (resign && s.lease != 0) {
      int64_t revoked = s.lease;
      LoseLease(&s, "resigned");
      if (s.etcd.Revoke(revoked, &s.error) != Etcd::Status::kOk) {
        Log(LogLevel::kWarning, "cluster: could not revoke lease: {}", s.error);
      }
    }
    if (s.lease == 0 && !resign) Grant(&s);
    if (campaign) Campaign(&s);
    if (s.lease != 0 && MonotonicUs() >= s.next_keepalive_us) KeepAlive(&s);
    if (s.lease != 0) Register(&s);
    if (trim_below_.load() > s.trimmed) Trim(&s);
    if (master_) Housekeep(&s);
    lock.lock();
  }
}

void ClusterNode::Grant(Session* s) {
  if (MonotonicUs() < s->next_grant_us) return;
  int64_t sent = MonotonicUs();
  s->next_grant_us = sent + 100000;
  int64_t granted = 0;
  if (s->etcd.Grant(options_.lease_ttl_s, &s->lease, &granted, &s->error) != Etcd::Status::kOk) {
    s->lease = 0;
    Log(LogLevel::kVerbose, "cluster: no lease: {}", s->error);
    return;
  }
  lease_id_ = s->lease;
  NoteRenewal(s, sent, granted);
  Log(LogLevel::kVerbose, "cluster: lease {:x} granted for {} s", s->lease, granted);
}

void ClusterNode::NoteRenewal(Session* s, int64_t sent_us, int64_t ttl_s) {
  // etcd counts the TTL from when it renews the lease, after the request left: counting from
  // the send is safe but for clock rate differences, which the margin covers.
  const int64_t margin_us = std::min<int64_t>(100000, options_.lease_ttl_s * 100000);
  lease_deadline_us_ = sent_us + ttl_s * 1000000 - margin_us;
  s->next_keepalive_us = sent_us + ttl_s * 1000000 / kKeepalivesPerTtl;
}

void ClusterNode::Campaign(Session* s) {
  // Only under a lease: a leader key without one would never expire, and no node could lead
  // again (its own node neither: a master's key must be under its lease). A resignation asked
  // for in the same turn of the session has just given the lease up; the cron asks again.
  if (s->lease == 0) return;
  EtcdTxn txn;
  txn.compare.push_back(EtcdTxn::Compare::Created(keys_.leader(), 0));
  txn.success.push_back(EtcdTxn::Op::Put(
      keys_.leader(), LeaderRecord{options_.node_id, options_.advertise}.Encode(), s->lease));
  txn.failure.push_back(EtcdTxn::Op::Range(keys_.leader()));
  EtcdTxnResult result;
  // Won or lost, the watch reports the leader key it made or found.
  if (s->etcd.Txn(txn, &result, &s->error) != Etcd::Status::kOk) {
    Log(LogLevel::kVerbose, "cluster: campaign failed: {}", s->error);
    return;
  }
  if (result.succeeded || result.ranges.empty() || result.ranges[0].empty()) return;
  // Lost: said once per key in the way (a node that campaigns on every tick while a stale key
  // stands would otherwise say it ten times a second).
  const EtcdKeyValue& kv = result.ranges[0][0];
  std::string holder =
      fmt::format("node {} (epoch {}, lease {:x})", LeaderRecord::Decode(kv.value).node_id,
                  kv.create_revision, kv.lease);
  if (holder != s->campaign_lost_to) {
    Log(LogLevel::kVerbose, "cluster: campaign lost: the leader key names {}", holder);
    s->campaign_lost_to = std::move(holder);
  }
}

void ClusterNode::KeepAlive(Session* s) {
  if (MonotonicUs() - loop_seen_us_.load() > options_.watchdog_ms * 1000) {
    if (!s->watchdog_fired) {
      Log(LogLevel::kWarning,
          "cluster: the event loop has not run for {} ms: no longer renewing the lease",
          options_.watchdog_ms);
    }
    s->watchdog_fired = true;
    s->next_keepalive_us = MonotonicUs() + 100000;
    return;
  }
  s->watchdog_fired = false;
  int64_t sent = MonotonicUs();
  int64_t ttl = 0;
  Etcd::Status status = s->etcd.KeepAlive(s->lease, &ttl, &s->error);
  if (status == Etcd::Status::kOk && ttl > 0) {
    NoteRenewal(s, sent, ttl);
  } else if (status == Etcd::Status::kOk) {
    LoseLease(s, "expired in etcd");
  } else {
    Log(LogLevel::kVerbose, "cluster: keepalive failed: {}", s->error);
    s->next_keepalive_us = MonotonicUs() + 100000;
  }
}

void ClusterNode::Register(Session* s) {
  uint64_t applied = applied_.load();
  if (s->registered_lease == s->lease && s->registered_applied == applied) return;
  std::string value = NodeRecord{options_.advertise, applied, options_.sentinel}.Encode();
  EtcdTxn txn;
  txn.success.push_back(EtcdTxn::Op::Put(keys_.node(options_.node_id), value, s->lease));
  EtcdTxnResult result;
  if (s->etcd.Txn(txn, &result, &s->error) == Etcd::Status::kOk) {
    s->registered_lease = s->lease;
    s->registered_applied = applied;
    s->revisions.emplace_back(MonotonicUs(), result.revision);
  }
}

void ClusterNode::Trim(Session* s) {
  uint64_t below = trim_below_.load();
  int64_t revision = 0;
  if (s->etcd.Delete(keys_.log_prefix(), keys_.log(below), &revision, &s->error) !=
      Etcd::Status::kOk) {
    Log(LogLevel::kVerbose, "cluster: trimming the log failed: {}", s->error);
    return;
  }
  s->trimmed = below;
  s->revisions.emplace_back(MonotonicUs(), revision);
  Compact(s);
}

void ClusterNode::Compact(Session* s) {
  // The history of what was deleted goes too.
  int64_t compact_to = 0;
  while (!s->revisions.empty() && MonotonicUs() - s->revisions.front().first > kCompactAgeUs) {
    compact_to = s->revisions.front().second;
    s->revisions.pop_front();
  }
  if (compact_to > s->compacted) {
    if (s->etcd.Compact(compact_to, &s->error) == Etcd::Status::kOk) {
      s->compacted = compact_to;
    } else {
      Log(LogLevel::kVerbose, "cluster: compaction failed: {}", s->error);
    }
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
      Push(ClusterEvent{ClusterEvent::Kind::kEntry, lsn, kv.value, 0, 0, {}}, generation);
      from_lsn = lsn + 1;
    }
  };
  // Pages first; the last read takes the rest and the leader key at one revision, from which
  // the watch continues.
  while (true) {
    std::vector<EtcdKeyValue> kvs;
    bool more = false;
    if (etcd->Range(keys_.log(from_lsn), end, 16, &kvs, revision, &more, error) !=
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
  txn.success.push_back(
      EtcdTxn::Op::Range(keys_.nodes_prefix(), Etcd::PrefixEnd(keys_.nodes_prefix())));
  EtcdTxnResult result;
  if (etcd->Txn(txn, &result, error) != Etcd::Status::kOk || result.ranges.size() != 3) {
    return false;
  }
  push_entries(result.ranges[1]);
  Push(ClusterEvent{ClusterEvent::Kind::kNodesReset, 0, {}, 0, 0, {}}, generation);
  for (const EtcdKeyValue& kv : result.ranges[2]) PushNode(kv, false, generation);
  ClusterEvent leader{ClusterEvent::Kind::kLeader, 0, {}, 0, 0, {}};
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

void ClusterNode::Housekeep(Session* s) {
  constexpr int64_t kHousekeepingUs = 5000000;
  // Defragmenting is worth a member's stall only when most of its file is free pages.
  constexpr int64_t kDefragMinBytes = 64 << 20;
  if (MonotonicUs() < s->next_housekeeping_us) return;
  s->next_housekeeping_us = MonotonicUs() + kHousekeepingUs;
  Etcd& etcd = s->etcd;
  std::vector<std::string> alarmed;
  if (etcd.NoSpaceAlarms(&alarmed, &s->error) != Etcd::Status::kOk) return;
  if (!alarmed.empty()) {
    Log(LogLevel::kWarning, "cluster: etcd's space quota is full; compacting and defragmenting");
    std::vector<EtcdKeyValue> kvs;
    int64_t revision = 0;
    if (etcd.Range(keys_.leader(), "", 1, &kvs, &revision, nullptr, &s->error) ==
        Etcd::Status::kOk) {
      s->revisions.assign(1, {0, revision});  // everything up to now
      Compact(s);
    }
    for (size_t m = 0; m < etcd.endpoints(); m++) etcd.Defragment(m, &s->error);
    for (const std::string& member : alarmed) {
      if (etcd.DisarmNoSpace(member, &s->error) != Etcd::Status::kOk) {
        Log(LogLevel::kWarning, "cluster: clearing etcd's NOSPACE alarm failed: {}", s->error);
      }
    }
    return;
  }
  for (size_t m = 0; m < etcd.endpoints(); m++) {
    int64_t size = 0, in_use = 0;
    if (m == append_endpoint_.load() && etcd.endpoints() > 1) continue;
    if (etcd.MemberStatus(m, &size, &in_use, &s->error) != Etcd::Status::kOk) continue;
    if (size > kDefragMinBytes && size > 2 * in_use) {
      Log(LogLevel::kNotice, "cluster: defragmenting etcd member {} ({} MB, {} MB in use)", m,
          size >> 20, in_use >> 20);
      etcd.Defragment(m, &s->error);
      return;  // one member per round
    }
  }
}

void ClusterNode::PushNode(const EtcdKeyValue& kv, bool deleted, uint64_t generation) {
  ClusterEvent e{
      ClusterEvent::Kind::kNode, 0, {}, 0, 0, kv.key.substr(keys_.nodes_prefix().size())};
  if (!deleted) e.value = kv.value;
  Push(std::move(e), generation);
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
              ClusterEvent leader{ClusterEvent::Kind::kLeader, 0, {}, 0, 0, {}};
              if (!e.deleted) {
                leader.value = e.kv.value;
                leader.epoch = e.kv.create_revision;
                leader.lease = e.kv.lease;
              }
              Push(std::move(leader), generation);
            } else if (e.kv.key.starts_with(keys_.nodes_prefix())) {
              PushNode(e.kv, e.deleted, generation);
            } else if (uint64_t lsn = keys_.LsnOf(e.kv.key); lsn >= next_lsn && !e.deleted) {
              Push(ClusterEvent{ClusterEvent::Kind::kEntry, lsn, e.kv.value, 0, 0, {}}, generation);
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
    : node_(node), store_(store), etcd_(node->options().etcd) {
  store_writer_ = std::thread([this] { WriteStore(); });
}

ClusterCommit::~ClusterCommit() {
  {
    std::lock_guard lock(store_mu_);
    stopping_ = true;
  }
  store_cv_.notify_all();
  store_writer_.join();
}

void ClusterCommit::BecomeMaster(int64_t epoch, uint64_t next_index) {
  epoch_ = epoch;
  next_index_ = next_index;
  stored_ = next_index - 1;
  lease_ = node_->lease_id();
  deposed_ = false;
  abandoned_ = false;
}

void ClusterCommit::BecomeReplica() {
  // (The loop reloads from the store next: it must hold every group this master appended and
  // could write; one it could not write is read again from the log.)
  std::string ignored;
  FinishStoreWrite(&ignored);
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
  for (const LogEntry& part :
       EncodeGroup(batches, static_cast<uint64_t>(epoch_), node_->options().max_entry_bytes)) {
    bool appended = Append(next_index_, EncodeLogEntry(part), error);
    node_->set_append_endpoint(etcd_.endpoint());
    if (!appended) {
      deposed_ = true;
      return false;
    }
    next_index_++;
  }
  // The previous group's store write ran during this append; the writes stay in log order, one
  // at a time.
  if (!FinishStoreWrite(error)) {
    // The log has the group and the replicas apply it; this node cannot, so it must not lead.
    *error = "deposed: the local store failed after the append: " + *error;
    deposed_ = true;
    return false;
  }
  // No reply waits for the store: the batches are copied, as the loop reuses them once this
  // returns.
  {
    std::lock_guard lock(store_mu_);
    store_write_ =
        StoreWrite{std::vector<Batch>(batches.begin(), batches.end()), next_index_ - 1, sync};
  }
  store_cv_.notify_all();
  return true;
}

void ClusterCommit::WriteStore() {
  std::unique_lock lock(store_mu_);
  while (true) {
    store_cv_.wait(lock, [this] { return stopping_ || store_write_; });
    if (!store_write_) return;  // stopping, with nothing left to write
    const StoreWrite& write = *store_write_;
    lock.unlock();
    std::string error;
    bool ok = store_->CommitAt(write.group, write.index, write.sync, &error);
    if (ok) {
      stored_ = write.index;
      node_->set_applied(write.index);  // what this node holds durably, for trimming
    } else {
      // (The next commit fails at once; the cause is told here, when it happens.)
      Log(LogLevel::kWarning, "cluster: the local store failed after log entry {}: {}", write.index,
          error);
      deposed_ = true;
    }
    lock.lock();
    if (!ok) store_failed_ = error.empty() ? std::string("the store write failed") : error;
    store_write_.reset();
    store_cv_.notify_all();
  }
}

bool ClusterCommit::FinishStoreWrite(std::string* error) {
  std::unique_lock lock(store_mu_);
  store_cv_.wait(lock, [this] { return !store_write_; });
  if (store_failed_.empty()) return true;
  *error = std::exchange(store_failed_, {});
  return false;
}

// (Each waits for the write in flight: what it reads or syncs is the store as committed.)
bool ClusterCommit::Flush(std::string* error) {
  return FinishStoreWrite(error) && store_->Flush(error);
}
bool ClusterCommit::Probe(std::string* error) {
  return FinishStoreWrite(error) && store_->Probe(error);
}
std::unique_ptr<StateLoader> ClusterCommit::NewLoader() {
  std::string ignored;  // (a failed write deposed this node: the loop reloads what is stored)
  FinishStoreWrite(&ignored);
  return store_->NewLoader();
}
std::string ClusterCommit::engine() const { return store_->engine(); }
std::unique_ptr<StoreSnapshot> ClusterCommit::Snapshot() {
  std::string ignored;
  FinishStoreWrite(&ignored);
  return store_->Snapshot();
}

}  // namespace desaster
