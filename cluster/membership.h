// How a scheduler joins a cluster at start: the --cluster option's endpoints and name, and the
// identity its data directory keeps (which cluster it belongs to, and its own node id), checked
// against the cluster's id in etcd so that a directory never joins a cluster it was not part of.
#pragma once

#include <string>

#include "cluster/node.h"
#include "server/config.h"

namespace desaster {

// Parses "etcd://HOST:PORT[,HOST:PORT...]/NAME" (etcds:// for TLS) into options->etcd and
// options->name. False with *error saying what is wrong.
bool ParseClusterUrl(const std::string& url, ClusterOptions* options, std::string* error);

// The whole of joining: parses the options, reads or creates the cluster's id in etcd (waiting
// for etcd to answer), and checks the data directory's identity. A directory that holds
// single-node data, or another cluster's, is refused.
bool JoinCluster(const Options& options, ClusterOptions* cluster, std::string* error);

// Writes the identity JoinCluster settled on into the data directory (once the store is open
// there: a store refuses to open in a directory that holds anything else).
bool RecordMembership(const std::string& data_dir, const ClusterOptions& cluster,
                      std::string* error);

// Single-node mode: false with *error when the data directory belongs to a cluster, unless
// `options.cluster_convert` makes it a single node's.
bool CheckSingleNodeDirectory(const Options& options, std::string* error);

}  // namespace desaster
