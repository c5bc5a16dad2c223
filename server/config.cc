#include "server/config.h"

#include <boost/program_options.hpp>
#include <climits>
#include <fstream>
#include <iostream>

#include "compat/dialect.h"
#include "server/version.h"

namespace desaster {

namespace po = boost::program_options;

bool ParseOptions(int argc, char** argv, Options* o, int* exit_code) {
  po::options_description desc(
      "desaster-scheduler: a durable job-queue server that speaks the Redis protocol.\n\n"
      "Usage: desaster-scheduler [options]\n"
      "Connect with: redis-cli -p PORT\n\nOptions");
  std::string config_file;
  // clang-format off
  desc.add_options()
    ("help,h", "show this help and exit")
    ("version,v", "print the version and exit")
    ("config", po::value(&config_file), "read options from FILE (lines of `name = value`, "
                                         "same names as below; command line wins)")
    ("bind", po::value(&o->bind)->default_value(o->bind), "address to listen on")
    ("port,p", po::value(&o->port)->default_value(o->port), "TCP port (0: pick a free port "
                                                             "and print it)")
    ("databases", po::value(&o->databases)->default_value(o->databases),
     "number of databases (SELECT 0..N-1)")
    ("data-dir", po::value(&o->data_dir)->default_value(o->data_dir),
     "directory for persistent data")
    ("requirepass", po::value(&o->requirepass), "password clients must AUTH with")
    ("maxclients", po::value(&o->maxclients)->default_value(o->maxclients),
     "maximum simultaneous clients")
    ("timeout", po::value(&o->timeout_s)->default_value(o->timeout_s),
     "close clients idle for this many seconds (0: never)")
    ("loglevel", po::value(&o->loglevel)->default_value(o->loglevel),
     "debug | verbose | notice | warning")
    ("proto-max-bulk-len", po::value(&o->proto_max_bulk_len)->default_value(
        o->proto_max_bulk_len), "largest bulk string a client may send, in bytes")
    ("client-query-buffer-limit", po::value(&o->client_query_buffer_limit)->default_value(
        o->client_query_buffer_limit), "largest unprocessed input per client, in bytes")
    ("appendfsync", po::value(&o->appendfsync)->default_value(o->appendfsync),
     "when acknowledged writes reach the disk: always (sync before replying), everysec "
     "(sync once a second), no (leave it to the OS)")
    ("commit-thread", po::value(&o->commit_thread)->default_value(o->commit_thread),
     "write and sync big batches (bulk loads, deep pipelines) on a helper thread while the "
     "next commands run (true | false)")
    ("populate-heap", po::value(&o->populate_heap)->default_value(o->populate_heap),
     "map new heap memory in 4 MB chunks populated "
     "at once instead of a page fault per page: "
     "faster queue growth and restarts, at most 4 MB resident ahead (true | false)")
    ("store-cache-mb", po::value(&o->store_cache_mb)->default_value(o->store_cache_mb),
     "LevelDB block cache, in MB")
    ("store-write-buffer-mb", po::value(&o->store_write_buffer_mb)->default_value(
        o->store_write_buffer_mb), "LevelDB write buffer (memtable), in MB")
    ("store-block-kb", po::value(&o->store_block_kb)->default_value(o->store_block_kb),
     "LevelDB table block size, in KB")
    ("store-compression", po::value(&o->store_compression)->default_value(o->store_compression),
     "compress LevelDB blocks with snappy (true | false)")
    ("failed-max", po::value(&o->failed_max)->default_value(o->failed_max),
     "failures kept per database (FAILED.*); the oldest are dropped first")
    ("retry", po::value(&o->retry)->default_value(o->retry),
     "automatic retries of a failed job (with backoff) for queues without a RETRY of their own; "
     "0: none (resque's own behaviour). Sidekiq's jobs are retried by Sidekiq, never by the "
     "server")
    ("dialects", po::value(&o->dialects)->default_value(o->dialects),
     "queue libraries whose queue keys become queues, comma-separated, each as name or "
     "name:namespace (resque: resque:queue:*, sidekiq: queue:*, rq: rq:queue:*; "
     "\"resque:myapp\" means myapp:queue:*; empty: none)")
    ("cluster", po::value(&o->cluster),
     "run as a node of a cluster: etcd://HOST:PORT[,HOST:PORT...]/NAME (etcds:// for TLS). "
     "The nodes elect one master through etcd; see docs/CLUSTER.md")
    ("advertise", po::value(&o->advertise),
     "cluster mode: HOST:PORT clients and other nodes reach this node at (default: "
     "bind:port)")
    ("cluster-lease-ttl", po::value(&o->cluster_lease_ttl)->default_value(o->cluster_lease_ttl),
     "cluster mode: seconds a silent master keeps its place (etcd's minimum: 1.5x its election "
     "timeout)")
    ("cluster-never-master", po::value(&o->cluster_never_master)->default_value(
        o->cluster_never_master), "cluster mode: this node only replicates (true | false)")
    ("cluster-forward", po::value(&o->cluster_forward)->default_value(o->cluster_forward),
     "cluster mode: a replica passes its clients' commands to the master (true), or serves "
     "reads itself and answers writes with -READONLY (false)")
    ("sentinel-port", po::value(&o->sentinel_port)->default_value(o->sentinel_port),
     "cluster mode: answer Redis Sentinel's protocol on this port (26379 is Sentinel's own), "
     "naming the cluster's master; 0: not at all")
    ("cluster-log-retain", po::value(&o->cluster_log_retain)->default_value(
        o->cluster_log_retain), "cluster mode: log entries kept for nodes that fall behind (one "
        "further behind copies another node's store instead)")
    ("cluster-cacert", po::value(&o->cluster_cacert), "cluster mode: CA file for etcds://")
    ("cluster-user", po::value(&o->cluster_user),
     "cluster mode: USER:PASSWORD when etcd's authentication is enabled")
    ("cluster-convert", po::bool_switch(&o->cluster_convert),
     "start a cluster node's data directory as a single node (it then leaves the cluster for "
     "good) instead of refusing it");
  // clang-format on
  try {
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, desc), vm);
    if (vm.count("help")) {
      std::cout << desc << "\n";
      *exit_code = 0;
      return false;
    }
    if (vm.count("version")) {
      std::cout << "desaster-scheduler " << kDesasterVersion << " (redis " << kRedisVersion
                << " compatible)\n";
      *exit_code = 0;
      return false;
    }
    if (vm.count("config")) {
      std::ifstream in(vm["config"].as<std::string>());
      if (!in) {
        std::cerr << "cannot read config file " << vm["config"].as<std::string>() << "\n";
        *exit_code = 1;
        return false;
      }
      po::store(po::parse_config_file(in, desc), vm);
    }
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "desaster-scheduler: " << e.what() << "\nTry --help.\n";
    *exit_code = 1;
    return false;
  }
  if (o->databases < 1 || o->databases > 1024) {
    std::cerr << "desaster-scheduler: --databases must be between 1 and 1024\n";
    *exit_code = 1;
    return false;
  }
  std::string dialect_error;
  if (!Dialects::Parse(o->dialects, &dialect_error)) {
    std::cerr << "desaster-scheduler: --dialects: " << dialect_error << "\n";
    *exit_code = 1;
    return false;
  }
  if (o->appendfsync != "always" && o->appendfsync != "everysec" && o->appendfsync != "no") {
    std::cerr << "desaster-scheduler: --appendfsync must be always, everysec or no\n";
    *exit_code = 1;
    return false;
  }
  if (o->retry < 0 || o->retry > 1000) {
    std::cerr << "desaster-scheduler: --retry must be between 0 and 1000\n";
    *exit_code = 1;
    return false;
  }
  if (o->cluster_lease_ttl < 1 || o->cluster_lease_ttl > 3600) {
    std::cerr << "desaster-scheduler: --cluster-lease-ttl must be between 1 and 3600 seconds\n";
    *exit_code = 1;
    return false;
  }
  if (o->sentinel_port < 0 || o->sentinel_port > 65535 ||
      (o->sentinel_port > 0 && o->cluster.empty())) {
    std::cerr << "desaster-scheduler: --sentinel-port needs --cluster and a port (0-65535)\n";
    *exit_code = 1;
    return false;
  }
  if (o->cluster_log_retain < 1) {
    std::cerr << "desaster-scheduler: --cluster-log-retain must be at least 1\n";
    *exit_code = 1;
    return false;
  }
  return true;
}

namespace {

ConfigParam Fixed(std::string name, std::string value) {
  return {std::move(name), [value] { return value; }, nullptr};
}

template <class T>
ConfigParam Number(std::string name, T* field, long long min, long long max) {
  return {std::move(name), [field] { return std::to_string(*field); },
          [field, min, max](const std::string& v) -> std::string {
            try {
              size_t used = 0;
              long long n = std::stoll(v, &used);
              if (used != v.size()) return "argument couldn't be parsed into an integer";
              if (n < min || n > max)
                return "argument must be between " + std::to_string(min) + " and " +
                       std::to_string(max) + " inclusive";
              *field = static_cast<T>(n);
              return "";
            } catch (const std::exception&) {
              return "argument couldn't be parsed into an integer";
            }
          }};
}

}  // namespace

std::vector<ConfigParam> ConfigParams(Options* o) {
  return {
      Fixed("bind", o->bind),
      Fixed("port", std::to_string(o->port)),
      Fixed("databases", std::to_string(o->databases)),
      Fixed("dir", o->data_dir),
      {"requirepass", [o] { return o->requirepass; },
       [o](const std::string& v) {
         o->requirepass = v;
         return std::string();
       }},
      Number("maxclients", &o->maxclients, 1, 1000000),
      Number("timeout", &o->timeout_s, 0, 1 << 30),
      {"loglevel", [o] { return o->loglevel; },
       [o](const std::string& v) -> std::string {
         if (v != "debug" && v != "verbose" && v != "notice" && v != "warning") {
           return "argument(s) must be one of the following: debug, verbose, notice, warning";
         }
         o->loglevel = v;
         return "";
       }},
      Number("proto-max-bulk-len", &o->proto_max_bulk_len, 1024 * 1024, 1LL << 40),
      Number("client-query-buffer-limit", &o->client_query_buffer_limit, 1024 * 1024, 1LL << 40),
      Number("slowlog-log-slower-than", &o->slowlog_log_slower_than_us, -1, LLONG_MAX),
      Number("slowlog-max-len", &o->slowlog_max_len, 0, LLONG_MAX),
      Number("lua-time-limit", &o->lua_time_limit_ms, 0, 1LL << 40),
      Number("busy-reply-threshold", &o->lua_time_limit_ms, 0, 1LL << 40),
      Number("lua-memory-limit", &o->lua_memory_limit, 1024 * 1024, 1LL << 40),
      Number("retry", &o->retry, 0, 1000),
      {"appendfsync", [o] { return o->appendfsync; },
       [o](const std::string& v) -> std::string {
         if (v != "always" && v != "everysec" && v != "no") {
           return "argument(s) must be one of the following: always, everysec, no";
         }
         o->appendfsync = v;
         return "";
       }},
      // Parameters clients and tools read; desaster's answers are fixed by design.
      Fixed("maxmemory", "0"),
      Fixed("maxmemory-policy", "noeviction"),
      Fixed("appendonly", "no"),
      Fixed("save", ""),
      Fixed("notify-keyspace-events", ""),
      Fixed("cluster-enabled", "no"),
      Fixed("hz", "10"),
      Fixed("io-threads", "1"),
  };
}

}  // namespace desaster
