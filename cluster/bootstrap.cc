#include "cluster/bootstrap.h"

#include <fmt/format.h>
#include <hiredis/hiredis.h>
#include <leveldb/db.h>
#include <leveldb/write_batch.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <thread>

#include "server/clock.h"
#include "server/log.h"
#include "server/store/level_store.h"

namespace desaster {
namespace {

namespace fs = std::filesystem;

struct Peer {
  std::string id, addr;
  uint64_t applied = 0;
};

struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

Reply Command(redisContext* c, const std::vector<std::string>& argv) {
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const auto& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  return Reply(static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(args.size()), args.data(), lens.data())));
}

// The last log entry the store in `dir` covers (0 when there is no store yet); false when the
// store is there but cannot be opened (another process holds it, it is damaged).
bool StoredLogIndex(const std::string& dir, uint64_t* index, std::string* error) {
  *index = 0;
  if (!fs::exists(fs::path(dir) / "CURRENT")) return true;
  auto store = LevelStore::Open(StoreOptions{.dir = dir}, error);
  if (!store) return false;
  *index = store->NewLoader()->log_index();
  return true;
}

// Keeps a registration of this node alive while it copies: the master keeps the log after the
// copy's index for it.
class Registration {
 public:
  Registration(const ClusterOptions& cluster, Etcd* etcd) : cluster_(cluster), etcd_(etcd) {}
  ~Registration() {
    std::string error;
    if (lease_) etcd_->Revoke(lease_, &error);
  }
  void Register(uint64_t applied) {
    std::string error;
    int64_t ttl = 0;
    if (lease_ == 0 && etcd_->Grant(10, &lease_, &ttl, &error) != Etcd::Status::kOk) return;
    EtcdTxn txn;
    txn.success.push_back(EtcdTxn::Op::Put(
        ClusterKeys(cluster_.name).node(cluster_.node_id),
        NodeRecord{cluster_.advertise, applied, cluster_.sentinel}.Encode(), lease_));
    EtcdTxnResult result;
    etcd_->Txn(txn, &result, &error);
    renewed_us_ = MonotonicUs();
  }
  void KeepAlive() {
    if (lease_ == 0 || MonotonicUs() - renewed_us_ < 1000000) return;
    std::string error;
    int64_t ttl = 0;
    etcd_->KeepAlive(lease_, &ttl, &error);
    renewed_us_ = MonotonicUs();
  }

 private:
  const ClusterOptions& cluster_;
  Etcd* etcd_;
  int64_t lease_ = 0;
  int64_t renewed_us_ = 0;
};

// Copies `peer`'s store into `dir` (made anew). Returns the copy's log index, 0 on failure.
uint64_t CopyFrom(const Peer& peer, const Options& options, const ClusterOptions& cluster,
                  uint64_t needed_from, Registration* registration, const std::string& dir,
                  std::string* error) {
  size_t colon = peer.addr.rfind(':');
  if (colon == std::string::npos) {
    *error = "it registered no address";
    return 0;
  }
  timeval timeout{10, 0};
  std::unique_ptr<redisContext, void (*)(redisContext*)> c(
      redisConnectWithTimeout(peer.addr.substr(0, colon).c_str(),
                              atoi(peer.addr.c_str() + colon + 1), timeout),
      redisFree);
  if (!c || c->err) {
    *error = c ? c->errstr : "out of memory";
    return 0;
  }
  redisSetTimeout(c.get(), timeout);
  if (!options.requirepass.empty()) Command(c.get(), {"AUTH", options.requirepass});
  Reply open = Command(c.get(), {"SNAPSHOT.OPEN", cluster.cluster_id});
  if (!open || open->type != REDIS_REPLY_INTEGER) {
    *error = open && open->type == REDIS_REPLY_ERROR ? open->str : "no answer to SNAPSHOT.OPEN";
    return 0;
  }
  uint64_t index = static_cast<uint64_t>(open->integer);
  if (index + 1 < needed_from) {
    *error = "its store is behind the log too";
    return 0;
  }
  registration->Register(index);

  fs::remove_all(dir);
  leveldb::Options db_options;
  db_options.create_if_missing = true;
  leveldb::DB* raw = nullptr;
  leveldb::Status st = leveldb::DB::Open(db_options, dir, &raw);
  if (!st.ok()) {
    *error = st.ToString();
    return 0;
  }
  std::unique_ptr<leveldb::DB> db(raw);
  std::string after;
  uint64_t records = 0;
  while (true) {
    Reply page = Command(c.get(), {"SNAPSHOT.READ", after});
    if (!page || page->type != REDIS_REPLY_ARRAY) {
      *error = page && page->type == REDIS_REPLY_ERROR ? page->str : "the copy broke off";
      return 0;
    }
    if (page->elements == 0) break;
    leveldb::WriteBatch batch;
    for (size_t i = 0; i + 1 < page->elements; i += 2) {
      const redisReply* k = page->element[i];
      const redisReply* v = page->element[i + 1];
      batch.Put(leveldb::Slice(k->str, k->len), leveldb::Slice(v->str, v->len));
    }
    after.assign(page->element[page->elements - 2]->str, page->element[page->elements - 2]->len);
    if (!(st = db->Write(leveldb::WriteOptions(), &batch)).ok()) {
      *error = st.ToString();
      return 0;
    }
    records += page->elements / 2;
    registration->KeepAlive();
  }
  leveldb::WriteOptions sync;
  sync.sync = true;
  leveldb::WriteBatch none;
  db->Write(sync, &none);
  Command(c.get(), {"SNAPSHOT.CLOSE"});
  Log(LogLevel::kNotice, "bootstrap: copied {} records (log entry {}) from node {} at {}", records,
      index, peer.id, peer.addr);
  return index;
}

}  // namespace

bool BootstrapIfBehind(const Options& options, const ClusterOptions& cluster, std::string* error) {
  ClusterKeys keys(cluster.name);
  Etcd etcd(cluster.etcd);
  uint64_t stored = 0;
  if (!StoredLogIndex(options.data_dir, &stored, error)) return false;
  for (int64_t warned = 0;; std::this_thread::sleep_for(std::chrono::seconds(1))) {
    std::vector<EtcdKeyValue> first, nodes;
    int64_t revision = 0;
    std::string why;
    if (etcd.Range(keys.log_prefix(), Etcd::PrefixEnd(keys.log_prefix()), 1, &first, &revision,
                   nullptr, &why) != Etcd::Status::kOk ||
        etcd.Range(keys.nodes_prefix(), Etcd::PrefixEnd(keys.nodes_prefix()), 0, &nodes, &revision,
                   nullptr, &why) != Etcd::Status::kOk) {
      Log(LogLevel::kWarning, "bootstrap: cannot read etcd: {}", why);
      continue;
    }
    uint64_t from = first.empty() ? 0 : keys.LsnOf(first[0].key);
    if (from <= stored + 1) return true;  // the log continues where the store ends
    if (MonotonicUs() - warned > 10000000) {
      Log(LogLevel::kNotice,
          "bootstrap: this node holds the log up to entry {}, the log starts at {}: copying "
          "another node's store",
          stored, from);
      warned = MonotonicUs();
    }
    std::vector<Peer> peers;
    for (const EtcdKeyValue& kv : nodes) {
      NodeRecord record = NodeRecord::Decode(kv.value);
      Peer p{kv.key.substr(keys.nodes_prefix().size()), record.address, record.applied};
      if (p.id != cluster.node_id && p.applied + 1 >= from) peers.push_back(std::move(p));
    }
    std::sort(peers.begin(), peers.end(),
              [](const Peer& a, const Peer& b) { return a.applied > b.applied; });
    std::string copy = options.data_dir + ".bootstrap";
    Registration registration(cluster, &etcd);
    for (const Peer& peer : peers) {
      uint64_t index = CopyFrom(peer, options, cluster, from, &registration, copy, &why);
      if (index == 0) {
        Log(LogLevel::kWarning, "bootstrap: copying from node {} at {} failed: {}", peer.id,
            peer.addr, why);
        continue;
      }
      std::string old = options.data_dir + ".replaced";
      std::error_code ec;
      fs::remove_all(old, ec);
      if (fs::exists(options.data_dir)) fs::rename(options.data_dir, old, ec);
      if (!ec) fs::rename(copy, options.data_dir, ec);
      if (ec) {
        *error = fmt::format("bootstrap: cannot put the copy in place: {}", ec.message());
        return false;
      }
      fs::remove_all(old, ec);
      return true;
    }
    if (peers.empty()) Log(LogLevel::kWarning, "bootstrap: no live node has a store to copy yet");
  }
}

}  // namespace desaster
