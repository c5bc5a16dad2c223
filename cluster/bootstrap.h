// Bootstrap: a node whose next log entry is gone (trimmed while it was away or too slow, or a
// new node joining a log that no longer starts at its first entry) copies another node's store
// instead of replaying the log (DESIGN.md §10, docs/CLUSTER.md).
#pragma once

#include <string>

#include "cluster/node.h"
#include "server/config.h"

namespace desaster {

// Before the store opens: when the log lacks entries after what the data directory holds,
// replaces the directory's store by a copy of a live node's (SNAPSHOT.*), registering the
// copy's log index first so that the master keeps the entries after it. Leaves the directory
// alone when the log has what it needs. False with *error only when it should not go on.
bool BootstrapIfBehind(const Options& options, const ClusterOptions& cluster, std::string* error);

}  // namespace desaster
