#include "cluster/membership.h"

#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "server/clock.h"
#include "server/log.h"
#include "server/store/files.h"

namespace desaster {
namespace {

constexpr const char* kIdentityFile = "CLUSTER";

struct Identity {
  std::string cluster_name, cluster_id, node_id;
};

std::string IdentityPath(const std::string& dir) { return dir + "/" + kIdentityFile; }

// False when the directory has no identity file.
bool ReadIdentity(const std::string& dir, Identity* id) {
  std::ifstream in(IdentityPath(dir));
  if (!in) return false;
  std::string word;
  while (in >> word) {
    if (word == "cluster") in >> id->cluster_name >> id->cluster_id;
    if (word == "node") in >> id->node_id;
  }
  return true;
}

bool WriteIdentity(const std::string& dir, const Identity& id, std::string* error) {
  return ReplaceFile(
      IdentityPath(dir),
      fmt::format("cluster {} {}\nnode {}\n", id.cluster_name, id.cluster_id, id.node_id), 0644,
      error);
}

std::string RandomId() {
  std::random_device rd;
  std::uniform_int_distribution<uint64_t> dist;
  char buf[17];
  snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(dist(rd)));
  return buf;
}

// Whether the data directory holds a store (LevelDB's CURRENT file).
bool HoldsData(const std::string& dir) {
  return std::filesystem::exists(std::filesystem::path(dir) / "CURRENT");
}

}  // namespace

bool ParseClusterUrl(const std::string& url, ClusterOptions* options, std::string* error) {
  std::string scheme;
  if (url.starts_with("etcd://")) {
    scheme = "http://";
  } else if (url.starts_with("etcds://")) {
    scheme = "https://";
  } else {
    *error = "--cluster must look like etcd://HOST:PORT[,HOST:PORT...]/NAME";
    return false;
  }
  std::string rest = url.substr(url.find("://") + 3);
  size_t slash = rest.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == rest.size()) {
    *error = "--cluster needs endpoints and a cluster name: etcd://HOST:PORT/NAME";
    return false;
  }
  options->name = rest.substr(slash + 1);
  for (char c : options->name) {
    if (!isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      *error = "the cluster name may hold letters, digits, '-', '_' and '.' only";
      return false;
    }
  }
  std::stringstream hosts(rest.substr(0, slash));
  std::string host;
  options->etcd.endpoints.clear();
  while (std::getline(hosts, host, ',')) {
    if (host.empty() || host.find(':') == std::string::npos) {
      *error = "each etcd endpoint needs HOST:PORT, got '" + host + "'";
      return false;
    }
    options->etcd.endpoints.push_back(scheme + host);
  }
  return true;
}

bool CheckSingleNodeDirectory(const Options& options, std::string* error) {
  Identity id;
  if (!ReadIdentity(options.data_dir, &id)) return true;
  if (options.cluster_convert) {
    std::filesystem::remove(IdentityPath(options.data_dir));
    Log(LogLevel::kWarning, "{} left cluster {}: it is a single node's now", options.data_dir,
        id.cluster_name);
    return true;
  }
  *error = options.data_dir + " belongs to cluster " + id.cluster_name +
           ": start it with --cluster, or with --cluster-convert to use it as a single node";
  return false;
}

bool JoinCluster(const Options& options, ClusterOptions* cluster, std::string* error) {
  if (!ParseClusterUrl(options.cluster, cluster, error)) return false;
  cluster->etcd.cacert = options.cluster_cacert;
  if (!options.cluster_user.empty()) {
    size_t colon = options.cluster_user.find(':');
    cluster->etcd.user = options.cluster_user.substr(0, colon);
    if (colon != std::string::npos) cluster->etcd.password = options.cluster_user.substr(colon + 1);
  }
  cluster->lease_ttl_s = options.cluster_lease_ttl;
  cluster->never_master = options.cluster_never_master;

  // The cluster's id: made by the first node that finds none.
  ClusterKeys keys(cluster->name);
  Etcd etcd(cluster->etcd);
  std::string cluster_id;
  for (int64_t warned = 0;;) {
    EtcdTxn txn;
    txn.compare.push_back(EtcdTxn::Compare::Created(keys.prefix + "id", 0));
    txn.success.push_back(EtcdTxn::Op::Put(keys.prefix + "id", RandomId()));
    txn.failure.push_back(EtcdTxn::Op::Range(keys.prefix + "id"));
    EtcdTxnResult result;
    std::string why;
    Etcd::Status status = etcd.Txn(txn, &result, &why);
    if (status == Etcd::Status::kOk) {
      if (result.succeeded) continue;  // made it: read it back
      if (!result.ranges.empty() && !result.ranges[0].empty()) {
        cluster_id = result.ranges[0][0].value;
        break;
      }
    }
    // etcd may be starting or electing (wait for it), but refused credentials stay refused,
    // and so does a certificate this node cannot verify.
    bool refused = status == Etcd::Status::kFailed &&
                   (why.find("authentication failed") != std::string::npos ||
                    why.find("permission denied") != std::string::npos ||
                    why.find("user name is empty") != std::string::npos);
    bool unverified =
        status == Etcd::Status::kUnknown &&
        (why.find("certificate") != std::string::npos || why.find("SSL") != std::string::npos);
    if (refused || unverified) {
      *error = fmt::format(
          "cluster: etcd refused this node: {} (see --cluster-user and "
          "--cluster-cacert)",
          why);
      return false;
    }
    if (MonotonicUs() - warned > 10000000) {
      Log(LogLevel::kWarning, "cluster: waiting for etcd ({})", why);
      warned = MonotonicUs();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }

  Identity id;
  if (ReadIdentity(options.data_dir, &id)) {
    if (id.cluster_name != cluster->name || id.cluster_id != cluster_id) {
      *error = options.data_dir + " belongs to cluster " + id.cluster_name + " (id " +
               id.cluster_id + "), not to " + cluster->name + " (id " + cluster_id +
               "): give this node an empty data directory";
      return false;
    }
  } else if (HoldsData(options.data_dir)) {
    // Its data is not in the log, so no other node could ever have it.
    *error = options.data_dir +
             " holds a single node's data: a cluster node starts with an "
             "empty data directory (move the data with desaster-migrate)";
    return false;
  }
  cluster->node_id = id.node_id.empty() ? RandomId() : id.node_id;
  cluster->cluster_id = cluster_id;
  cluster->advertise = options.advertise;
  return true;
}

bool RecordMembership(const std::string& data_dir, const ClusterOptions& cluster,
                      std::string* error) {
  return WriteIdentity(data_dir, Identity{cluster.name, cluster.cluster_id, cluster.node_id},
                       error);
}

}  // namespace desaster
