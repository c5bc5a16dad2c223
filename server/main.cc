// desaster-scheduler: the job-queue server.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "cluster/bootstrap.h"
#include "cluster/membership.h"
#include "cluster/node.h"
#include "server/command/registry.h"
#include "server/command/server_state.h"
#include "server/config.h"
#include "server/heap.h"
#include "server/log.h"
#include "server/net/server.h"
#include "server/populated.h"
#include "server/store/level_store.h"

namespace {

using namespace desaster;

// Runs the server until it stops; *restart says it should start over (a cluster node that must
// copy another node's store first).
int Serve(int argc, char** argv, bool* restart) {
  Options options;
  int exit_code = 0;
  if (!ParseOptions(argc, argv, &options, &exit_code)) return exit_code;
  SetLogLevel(options.loglevel);
  std::string error;
  if (options.populate_heap) {
    if (PopulateHeapGrowth(&error)) {
      PopulateBigArrays();
    } else {
      Log(LogLevel::kVerbose, "heap memory is faulted in a page at a time: {}", error);
    }
  }

  // Each client is a file descriptor: raise the soft limit to fit maxclients, as Redis does.
  struct rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    rlim_t want = static_cast<rlim_t>(options.maxclients) + 64;
    if (lim.rlim_cur < want) {
      lim.rlim_cur = std::min(want, lim.rlim_max);
      setrlimit(RLIMIT_NOFILE, &lim);
      if (lim.rlim_cur < want) {
        Log(LogLevel::kWarning, "open files limit is {}: fewer than maxclients {} can connect",
            lim.rlim_cur, options.maxclients);
      }
    }
  }

  // Cluster mode: joined before the store opens, so a directory of the wrong kind is refused
  // untouched.
  std::unique_ptr<ClusterNode> cluster;
  if (!options.cluster.empty()) {
    ClusterOptions cluster_options;
    if (!JoinCluster(options, &cluster_options, &error) ||
        !BootstrapIfBehind(options, cluster_options, &error)) {
      Log(LogLevel::kWarning, "{}", error);
      return 1;
    }
    cluster = std::make_unique<ClusterNode>(std::move(cluster_options));
    options.commit_thread = true;  // appends must never hold up the loop
  } else if (!CheckSingleNodeDirectory(options, &error)) {
    Log(LogLevel::kWarning, "{}", error);
    return 1;
  }

  ServerState state(&options, 0);
  std::string dialect_error;
  state.keyspace.set_dialects(*Dialects::Parse(options.dialects, &dialect_error));
  RegisterAllCommands(&state.registry);
  if (!state.ApplyTls(&error)) {
    Log(LogLevel::kWarning, "Failed to configure TLS: {}", error);
    return 1;
  }
  if (!options.aclfile.empty() && !state.acl.LoadFile(options.aclfile, &error)) {
    Log(LogLevel::kWarning, "Aborting because of ACL errors: {}", error);
    return 1;
  }
#ifdef DESASTER_JEMALLOC
  state.allocated_bytes = HeapAllocatedBytes;  // the C library's count knows nothing of jemalloc
  state.release_thread_heap = ReleaseThreadHeap;
  state.allocator = HeapAllocatorName();
#endif
  auto store = LevelStore::Open(StoreOptions{.dir = options.data_dir,
                                             .block_cache_mb = options.store_cache_mb,
                                             .write_buffer_mb = options.store_write_buffer_mb,
                                             .block_kb = options.store_block_kb,
                                             .compression = options.store_compression},
                                &error);
  if (!store) {
    Log(LogLevel::kWarning, "{}", error);
    return 1;
  }
  if (cluster && !RecordMembership(options.data_dir, cluster->options(), &error)) {
    Log(LogLevel::kWarning, "{}", error);
    return 1;
  }
  state.store_engine = store->engine();
  state.keyspace.set_completion_archive(store.get());  // completions' bodies live on disk
  std::unique_ptr<ClusterCommit> cluster_commit;
  if (cluster) cluster_commit = std::make_unique<ClusterCommit>(cluster.get(), store.get());
  Server server(&state, cluster ? static_cast<CommitPipeline*>(cluster_commit.get()) : store.get());
  if (!server.Listen(&error)) {
    Log(LogLevel::kWarning, "{}", error);
    return 1;
  }
  if (cluster) {
    // Where other nodes, and clients told by Sentinel, reach this node.
    int port = options.tls_cluster ? server.tls_port() : server.port();
    std::string advertise =
        options.advertise.empty() ? options.bind + ":" + std::to_string(port) : options.advertise;
    std::string sentinel;
    if (server.sentinel_port() != 0) {
      sentinel =
          advertise.substr(0, advertise.rfind(':') + 1) + std::to_string(server.sentinel_port());
    }
    cluster->set_advertise(advertise, sentinel);
    server.AttachCluster(cluster.get(), cluster_commit.get());
  }
  server.Run();
  *restart = state.restart_requested;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bool restart = false;
  int code = Serve(argc, argv, &restart);
  if (restart) {
    // Everything is closed (store, sockets, the cluster's lease): the same program again.
    execv("/proc/self/exe", argv);
    perror("desaster-scheduler: restarting failed");
    return 1;
  }
  return code;
}
