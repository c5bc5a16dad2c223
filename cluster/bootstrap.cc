#include "cluster/bootstrap.h"

#include <fmt/format.h>
#include <hiredis/hiredis.h>
#include <leveldb/db.h>
#include <leveldb/write_batch.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <thread>

#include "client/scheduler_connection.h"
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

// A connection to another node on a loop of its own: one command at a time, each answered
// within 10 seconds or failed.
class PeerLink {
 public:
  PeerLink() : connection_(loop_) {}

  bool Connect(const std::string& address, const client::SchedulerAccess& access,
               std::string* error) {
    std::string host;
    int port = 0;
    if (!client::ParseHostPort(address, &host, &port)) {
      *error = "it registered no address";
      return false;
    }
    bool done = false, up = false;
    connection_.Connect(
        host, port, access,
        [&](bool ok, const std::string& why) {
          done = true;
          up = ok;
          if (!ok) *error = why;
        },
        [] {});
    return Wait(&done, error) && up;
  }

  // Sends `argv` and hands its reply to `use`; false with *error when none came.
  bool Call(const std::vector<std::string>& argv, const std::function<void(const redisReply&)>& use,
            std::string* error) {
    bool done = false, answered = false;
    connection_.Send(argv, [&](redisReply* reply) {
      done = true;
      if (!reply) return void(*error = "the connection broke off");
      answered = true;
      use(*reply);
    });
    return Wait(&done, error) && answered;
  }

 private:
  static void Tick(ev::timer&, int) {}

  bool Wait(const bool* done, std::string* error) {
    ev::timer tick(loop_);  // wakes the loop to look at the clock
    tick.set<&PeerLink::Tick>();
    tick.start(0.1, 0.1);
    int64_t deadline = MonotonicUs() + 10000000;
    while (!*done) {
      if (MonotonicUs() > deadline) {
        *error = "no answer within 10 s";
        return false;
      }
      loop_.run(ev::ONCE);
    }
    return true;
  }

  ev::dynamic_loop loop_;
  client::SchedulerConnection connection_;
};

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
uint64_t CopyFrom(const Peer& peer, const Options& options,
                  const std::shared_ptr<net::TlsContext>& tls, const ClusterOptions& cluster,
                  uint64_t needed_from, Registration* registration, const std::string& dir,
                  std::string* error) {
  PeerLink link;
  client::SchedulerAccess access{.user = "", .password = options.requirepass, .tls = tls};
  if (!link.Connect(peer.addr, access, error)) return 0;
  uint64_t index = 0;
  std::string refusal = "no answer to SNAPSHOT.OPEN";
  if (!link.Call(
          {"SNAPSHOT.OPEN", cluster.cluster_id},
          [&](const redisReply& open) {
            if (open.type == REDIS_REPLY_INTEGER) {
              index = static_cast<uint64_t>(open.integer);
              refusal.clear();
            } else if (open.type == REDIS_REPLY_ERROR) {
              refusal.assign(open.str, open.len);
            }
          },
          error)) {
    return 0;
  }
  if (!refusal.empty()) {
    *error = refusal;
    return 0;
  }
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
  for (bool more = true; more;) {
    std::string failure;
    bool called = link.Call(
        {"SNAPSHOT.READ", after},
        [&](const redisReply& page) {
          if (page.type != REDIS_REPLY_ARRAY) {
            failure = page.type == REDIS_REPLY_ERROR ? std::string(page.str, page.len)
                                                     : "the copy broke off";
            return;
          }
          more = page.elements > 0;
          if (!more) return;
          leveldb::WriteBatch batch;
          for (size_t i = 0; i + 1 < page.elements; i += 2) {
            const redisReply* k = page.element[i];
            const redisReply* v = page.element[i + 1];
            batch.Put(leveldb::Slice(k->str, k->len), leveldb::Slice(v->str, v->len));
          }
          after.assign(page.element[page.elements - 2]->str, page.element[page.elements - 2]->len);
          if (!(st = db->Write(leveldb::WriteOptions(), &batch)).ok()) failure = st.ToString();
          records += page.elements / 2;
        },
        error);
    if (!called) return 0;
    if (!failure.empty()) {
      *error = failure;
      return 0;
    }
    registration->KeepAlive();
  }
  leveldb::WriteOptions sync;
  sync.sync = true;
  leveldb::WriteBatch none;
  db->Write(sync, &none);
  std::string ignored;
  link.Call(
      {"SNAPSHOT.CLOSE"}, [](const redisReply&) {}, &ignored);
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
  std::shared_ptr<net::TlsContext> tls;
  if (options.tls_cluster &&
      !(tls = net::TlsContext::ForClient(ClusterClientTls(options), error))) {
    return false;
  }
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
      uint64_t index = CopyFrom(peer, options, tls, cluster, from, &registration, copy, &why);
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
