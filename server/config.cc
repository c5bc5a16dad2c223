#include "server/config.h"

#include <algorithm>
#include <boost/program_options.hpp>
#include <climits>
#include <cmath>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <tuple>

#include "compat/dialect.h"
#include "server/data/notify.h"
#include "server/version.h"

namespace desaster {

namespace po = boost::program_options;

namespace {

// Redis' booleans: yes or no, in any case.
std::optional<bool> ParseYesNo(std::string_view v) {
  if (strcasecmp(std::string(v).c_str(), "yes") == 0) return true;
  if (strcasecmp(std::string(v).c_str(), "no") == 0) return false;
  return std::nullopt;
}

}  // namespace

net::TlsSettings ClusterClientTls(const Options& o) {
  net::TlsSettings s = o.tls;
  if (!o.tls_client_cert_file.empty()) {
    s.cert_file = o.tls_client_cert_file;
    s.key_file = o.tls_client_key_file;
    s.key_file_pass = o.tls_client_key_file_pass;
  }
  return s;
}

bool ParseOptions(int argc, char** argv, Options* o, int* exit_code) {
  po::options_description desc(
      "desaster-scheduler: a durable job-queue server that speaks the Redis protocol.\n\n"
      "Usage: desaster-scheduler [options]\n"
      "Connect with: redis-cli -p PORT\n\nOptions");
  std::string config_file;
  std::string protected_mode;
  std::string tls_prefer_server_ciphers = "no", tls_session_caching = "yes", tls_cluster = "no";
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
    ("protected-mode", po::value(&protected_mode)->default_value("yes"),
     "yes: while there is no requirepass, refuse clients that are not on this host's loopback "
     "(127.0.0.1, ::1) with an explanation, as Redis does; no: accept them")
    ("aclfile", po::value(&o->aclfile), "read ACL users from FILE at start and on ACL LOAD; "
                                        "ACL SAVE writes them there")
    ("enable-debug-command", po::value(&o->enable_debug_command)->default_value(
        o->enable_debug_command), "who may run DEBUG: local (clients on this host's loopback "
                                  "or unix socket), yes (everyone) or no (nobody)")
    ("tls-port", po::value(&o->tls_port)->default_value(o->tls_port),
     "TCP port for clients that speak TLS (0: none); see docs/SECURITY.md")
    ("tls-cert-file", po::value(&o->tls.cert_file), "PEM certificate (chain) the TLS port presents")
    ("tls-key-file", po::value(&o->tls.key_file), "private key of --tls-cert-file")
    ("tls-key-file-pass", po::value(&o->tls.key_file_pass),
     "passphrase of --tls-key-file (better in --config FILE than on the command line)")
    ("tls-ca-cert-file", po::value(&o->tls.ca_cert_file),
     "PEM CA certificates client certificates are checked against")
    ("tls-ca-cert-dir", po::value(&o->tls.ca_cert_dir),
     "directory of hashed CA certificates (c_rehash), likewise")
    ("tls-auth-clients", po::value(&o->tls.auth_clients)->default_value(o->tls.auth_clients),
     "yes: TLS clients need a certificate the CAs signed; optional: checked if sent; no: none "
     "asked for")
    ("tls-protocols", po::value(&o->tls.protocols),
     "TLS versions accepted, e.g. \"TLSv1.2 TLSv1.3\" (default: TLSv1.2 and later)")
    ("tls-ciphers", po::value(&o->tls.ciphers), "TLSv1.2 ciphers, in OpenSSL's list syntax")
    ("tls-ciphersuites", po::value(&o->tls.ciphersuites), "TLSv1.3 cipher suites")
    ("tls-prefer-server-ciphers", po::value(&tls_prefer_server_ciphers)->default_value(
        tls_prefer_server_ciphers), "yes: the server's cipher order wins over the client's")
    ("tls-session-caching", po::value(&tls_session_caching)->default_value(tls_session_caching),
     "yes: clients may resume TLS sessions (a shorter handshake)")
    ("tls-cluster", po::value(&tls_cluster)->default_value(tls_cluster),
     "cluster mode, yes: nodes advertise their TLS port, connect to each other over TLS and "
     "answer Sentinel's protocol over TLS")
    ("tls-client-cert-file", po::value(&o->tls_client_cert_file),
     "the certificate this node presents to other nodes (default: --tls-cert-file)")
    ("tls-client-key-file", po::value(&o->tls_client_key_file),
     "the key of --tls-client-cert-file")
    ("tls-client-key-file-pass", po::value(&o->tls_client_key_file_pass),
     "passphrase of --tls-client-key-file")
    ("tls-session-cache-size", po::value(&o->tls.session_cache_size)->default_value(
        o->tls.session_cache_size), "TLS sessions cached")
    ("tls-session-cache-timeout", po::value(&o->tls.session_cache_timeout_s)->default_value(
        o->tls.session_cache_timeout_s), "seconds a cached TLS session may be resumed")
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
     "write and sync the batches of bulk writers (64+ writes per client in one loop "
     "iteration: redis-cli --pipe, imports) on a helper thread while the next commands run "
     "(true | false)")
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
    ("completed-max", po::value(&o->completed_max)->default_value(o->completed_max),
     "jobs that succeeded kept per database (COMPLETED.*, the web UI's completed jobs); the "
     "oldest are dropped first; 0: none kept")
    ("completed-ttl", po::value(&o->completed_ttl_s)->default_value(o->completed_ttl_s),
     "seconds a completed job is kept; 0: no age limit")
    ("completed-redact", po::value(&o->completed_redact)->default_value(o->completed_redact),
     "comma-separated words: a value named by one of them (a JSON member \"password\", "
     "\"api_token=...\" in text) is stored as [REDACTED] in completed jobs, which then cannot "
     "run again; empty: nothing redacted")
    ("metrics-top", po::value(&o->metrics_top)->default_value(o->metrics_top),
     "job metrics (METRICS.*, the web UI's metrics) keep this many of the busiest classes and "
     "of the busiest queues per database apart; the others are counted as \"(other)\"")
    ("payload-compression-delay",
     po::value(&o->payload_compression_delay_ms)->default_value(o->payload_compression_delay_ms),
     "milliseconds a waiting job's payload stays as it came; after that (or while a delayed job "
     "has that long still to wait) it is kept compressed in memory against a dictionary of its "
     "queue's jobs, in the loop's idle time; -1: never (the store always holds it plain)")
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
  for (auto [name, text, flag] : {
           std::tuple{"protected-mode", &protected_mode, &o->protected_mode},
           std::tuple{"tls-prefer-server-ciphers", &tls_prefer_server_ciphers,
                      &o->tls.prefer_server_ciphers},
           std::tuple{"tls-session-caching", &tls_session_caching, &o->tls.session_caching},
           std::tuple{"tls-cluster", &tls_cluster, &o->tls_cluster},
       }) {
    auto yes = ParseYesNo(*text);
    if (!yes) {
      std::cerr << "desaster-scheduler: --" << name << " must be yes or no\n";
      *exit_code = 1;
      return false;
    }
    *flag = *yes;
  }
  if (o->tls_port < 0 || o->tls_port > 65535) {
    std::cerr << "desaster-scheduler: --tls-port must be between 0 and 65535\n";
    *exit_code = 1;
    return false;
  }
  if (o->tls_cluster && (o->tls_port == 0 || o->cluster.empty())) {
    std::cerr << "desaster-scheduler: --tls-cluster yes needs --cluster and --tls-port\n";
    *exit_code = 1;
    return false;
  }
  if (o->enable_debug_command != "yes" && o->enable_debug_command != "no" &&
      o->enable_debug_command != "local") {
    std::cerr << "desaster-scheduler: --enable-debug-command must be yes, no or local\n";
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
  if (o->payload_compression_delay_ms < -1) {
    std::cerr << "desaster-scheduler: --payload-compression-delay must be -1 (never) or at "
                 "least 0 milliseconds\n";
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

// Strict base-10 integer, as Redis' string2ll.
bool ParseStrictInt(const std::string& v, long long* out) {
  if (v.empty() || v.size() > 20 || isspace(static_cast<unsigned char>(v[0])) || v[0] == '+') {
    return false;
  }
  try {
    size_t used = 0;
    *out = std::stoll(v, &used);
    return used == v.size();
  } catch (const std::exception&) {
    return false;
  }
}

// Redis' memory value: digits with an optional unit (b, k, kb, m, mb, g, gb, any case); an
// empty value is 0. Digits past the 64-bit range saturate, so the range check reports them.
std::optional<unsigned long long> ParseMemory(const std::string& v) {
  size_t digits = 0;
  unsigned long long n = 0;
  for (; digits < v.size() && isdigit(static_cast<unsigned char>(v[digits])); digits++) {
    unsigned d = static_cast<unsigned>(v[digits] - '0');
    n = n > (ULLONG_MAX - d) / 10 ? ULLONG_MAX : n * 10 + d;
  }
  if (digits == 0 && !v.empty()) return std::nullopt;
  std::string unit = v.substr(digits);
  for (char& c : unit) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  static const std::pair<const char*, unsigned long long> kUnits[] = {
      {"", 1},
      {"b", 1},
      {"k", 1000},
      {"kb", 1024},
      {"m", 1000000},
      {"mb", 1024 * 1024},
      {"g", 1000000000ULL},
      {"gb", 1024ULL * 1024 * 1024}};
  for (const auto& [name, factor] : kUnits) {
    if (unit == name) return n > ULLONG_MAX / factor ? ULLONG_MAX : n * factor;
  }
  return std::nullopt;
}

std::string RangeMessage(long long min, long long max) {
  return "argument must be between " + std::to_string(min) + " and " + std::to_string(max) +
         " inclusive";
}

std::string OutOfRange(long long n, long long min, long long max) {
  return n < min || n > max ? RangeMessage(min, max) : "";
}

std::string MemoryError(const std::optional<unsigned long long>& n, long long min, long long max) {
  if (!n) return "argument must be a memory value";
  bool above = *n > static_cast<unsigned long long>(max);
  return above ? RangeMessage(min, max) : OutOfRange(static_cast<long long>(*n), min, max);
}

template <class T>
ConfigParam Number(std::string name, T* field, long long min, long long max) {
  return {std::move(name), [field] { return std::to_string(*field); },
          [field, min, max](const std::string& v) -> std::string {
            long long n;
            if (!ParseStrictInt(v, &n)) return "argument couldn't be parsed into an integer";
            std::string error = OutOfRange(n, min, max);
            if (error.empty()) *field = static_cast<T>(n);
            return error;
          }};
}

// A parameter fixed at start that CONFIG SET accepts only with its current value (Redis can
// change it while running; desaster needs a restart).
ConfigParam Unchangeable(std::string name, std::string value) {
  return {name, [value] { return value; },
          [name, value](const std::string& v) -> std::string {
            if (strcasecmp(v.c_str(), value.c_str()) == 0) return "";
            return "desaster changes this at start only: restart with --" + name + " " + v;
          }};
}

ConfigParam Text(std::string name, std::string* field) {
  return {std::move(name), [field] { return *field; },
          [field](const std::string& v) {
            *field = v;
            return std::string();
          }};
}

ConfigParam YesNo(std::string name, bool* field) {
  return {std::move(name), [field] { return std::string(*field ? "yes" : "no"); },
          [field](const std::string& v) -> std::string {
            auto yes = ParseYesNo(v);
            if (!yes) return "argument must be 'yes' or 'no'";
            *field = *yes;
            return "";
          }};
}

// A size in bytes that desaster applies, given as Redis takes memory values (64mb).
ConfigParam Memory(std::string name, long long* field, long long min) {
  return {std::move(name), [field] { return std::to_string(*field); },
          [field, min](const std::string& v) -> std::string {
            auto n = ParseMemory(v);
            std::string error = MemoryError(n, min, LLONG_MAX);
            if (error.empty()) *field = static_cast<long long>(*n);
            return error;
          }};
}

// client-output-buffer-limit: "class hard soft seconds" for any of normal, replica (slave)
// and pubsub. The pubsub limits are applied; the others are kept (a normal client has no
// limit in desaster, and there are no Redis replicas).
ConfigParam OutputBufferLimits(Options* o) {
  auto text = [o] {
    auto kept = [o](const std::string& client_class, const char* fallback) {
      auto it = o->redis_parameters.find("client-output-buffer-limit " + client_class);
      return it == o->redis_parameters.end() ? std::string(fallback) : it->second;
    };
    return "normal " + kept("normal", "0 0 0") + " slave " +
           kept("slave", "268435456 67108864 60") + " pubsub " +
           std::to_string(o->output_limit_pubsub_hard) + " " +
           std::to_string(o->output_limit_pubsub_soft) + " " +
           std::to_string(o->output_limit_pubsub_soft_s);
  };
  return {"client-output-buffer-limit", text, [o](const std::string& v) -> std::string {
            std::istringstream in(v);
            std::vector<std::string> w{std::istream_iterator<std::string>(in), {}};
            if (w.size() % 4) return "Wrong number of arguments in buffer limit configuration.";
            struct Limit {
              std::string name;
              unsigned long long hard, soft;
              long long seconds;
            };
            std::vector<Limit> limits;
            for (size_t i = 0; i < w.size(); i += 4) {
              std::string name = w[i] == "replica" ? "slave" : w[i];
              if (name != "normal" && name != "slave" && name != "pubsub") {
                return "Invalid client class specified in buffer limit configuration.";
              }
              auto hard = ParseMemory(w[i + 1]), soft = ParseMemory(w[i + 2]);
              long long seconds;
              if (!hard || !soft || !ParseStrictInt(w[i + 3], &seconds) || seconds < 0) {
                return "Error in hard, soft or soft_seconds setting in buffer limit "
                       "configuration.";
              }
              limits.push_back({name, *hard, *soft, seconds});
            }
            for (const Limit& l : limits) {
              if (l.name == "pubsub") {
                o->output_limit_pubsub_hard = static_cast<long long>(l.hard);
                o->output_limit_pubsub_soft = static_cast<long long>(l.soft);
                o->output_limit_pubsub_soft_s = static_cast<int>(l.seconds);
              } else {
                o->redis_parameters["client-output-buffer-limit " + l.name] =
                    std::to_string(l.hard) + " " + std::to_string(l.soft) + " " +
                    std::to_string(l.seconds);
              }
            }
            return "";
          }};
}

// The rest of Redis 7.0's parameters. desaster has no use for them (encoding thresholds,
// replication, cluster and TLS tuning of Redis' own kind), but clients and test harnesses set
// them: each is checked as Redis checks it (type, range, choices), kept, and returned by
// CONFIG GET. Defaults are Redis' own.
enum ParameterKind {
  kBool,            // yes | no
  kInt,             // an integer in [min, max]
  kMemory,          // bytes, with a unit or not (1gb, 100mb, 64k), in [min, max]
  kEnum,            // one of `choices`
  kString,          // anything
  kSave,            // Redis' snapshot points: pairs of integers (desaster always persists)
  kImmutable,       // fixed once a Redis server started
  kProtected,       // refused unless enable-protected-configs (which desaster never sets)
  kUnsupported,     // a feature desaster lacks (TLS, defragmentation): only the default is accepted
  kUnsignedMemory,  // a memory value up to 2^64 - 1
  kHostname,        // letters, digits, hyphens and dots
  kOomScores,       // three integers from -2000 to 2000
  kPercentiles,     // numbers from 0 to 100
  kMemoryOrPercent,  // a memory value, or a percentage up to 100
};

struct RedisParameter {
  const char* name;
  const char* default_value;
  ParameterKind kind;
  long long min = 0, max = 0;
  const char* choices = "";  // kEnum: "a, b, c"
  // kInt, kMemory: a value within range is then brought within these, as Redis does (hz runs
  // at 1 to 500 times a second; a replication backlog has at least 16 kB).
  long long floor = LLONG_MIN, ceiling = LLONG_MAX;
};

constexpr RedisParameter kRedisParameters[] = {
    {"acl-pubsub-default", "resetchannels", kEnum, 0, 0, "allchannels, resetchannels"},
    {"active-defrag-cycle-max", "25", kInt, 1, 99},
    {"active-defrag-cycle-min", "1", kInt, 1, 99},
    {"active-defrag-ignore-bytes", "104857600", kMemory, 1, LLONG_MAX},
    {"active-defrag-max-scan-fields", "1000", kInt, 1, LLONG_MAX},
    {"active-defrag-threshold-lower", "10", kInt, 0, 1000},
    {"active-defrag-threshold-upper", "100", kInt, 0, 1000},
    {"active-expire-effort", "1", kInt, 1, 10},
    {"activedefrag", "no", kUnsupported},
    {"activerehashing", "yes", kBool},
    {"always-show-logo", "no", kImmutable},
    {"aof-disable-auto-gc", "no", kBool},
    {"aof-load-truncated", "yes", kBool},
    {"aof-rewrite-incremental-fsync", "yes", kBool},
    {"aof-timestamp-enabled", "no", kBool},
    {"aof-use-rdb-preamble", "yes", kBool},
    {"aof_rewrite_cpulist", "", kImmutable},
    {"appenddirname", "appendonlydir", kImmutable},
    {"appendfilename", "appendonly.aof", kImmutable},
    {"appendonly", "no", kBool},
    {"auto-aof-rewrite-min-size", "67108864", kMemory, 0, LLONG_MAX},
    {"auto-aof-rewrite-percentage", "100", kInt, 0, INT_MAX},
    {"bgsave_cpulist", "", kImmutable},
    {"bind-source-addr", "", kString},
    {"bio_cpulist", "", kImmutable},
    {"client-output-buffer-limit",
     "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60", kString},
    {"cluster-allow-pubsubshard-when-down", "yes", kBool},
    {"cluster-allow-reads-when-down", "no", kBool},
    {"cluster-allow-replica-migration", "yes", kBool},
    {"cluster-announce-bus-port", "0", kInt, 0, 65535},
    {"cluster-announce-hostname", "", kHostname},
    {"cluster-announce-ip", "", kString},
    {"cluster-announce-port", "0", kInt, 0, 65535},
    {"cluster-announce-tls-port", "0", kInt, 0, 65535},
    {"cluster-config-file", "nodes.conf", kImmutable},
    {"cluster-enabled", "no", kImmutable},
    {"cluster-link-sendbuf-limit", "0", kUnsignedMemory},
    {"cluster-migration-barrier", "1", kInt, 0, INT_MAX},
    {"cluster-node-timeout", "15000", kInt, 0, LLONG_MAX},
    {"cluster-port", "0", kImmutable},
    {"cluster-preferred-endpoint-type", "ip", kEnum, 0, 0, "ip, hostname, unknown-endpoint"},
    {"cluster-replica-no-failover", "no", kBool},
    {"cluster-replica-validity-factor", "10", kInt, 0, INT_MAX},
    {"cluster-require-full-coverage", "yes", kBool},
    {"crash-log-enabled", "yes", kBool},
    {"crash-memcheck-enabled", "yes", kBool},
    {"daemonize", "no", kImmutable},
    {"dbfilename", "dump.rdb", kProtected},
    {"disable-thp", "yes", kImmutable},
    {"dynamic-hz", "yes", kBool},
    {"enable-module-command", "no", kImmutable},
    {"enable-protected-configs", "no", kImmutable},
    {"hash-max-listpack-entries", "512", kInt, 0, LLONG_MAX},
    {"hash-max-listpack-value", "64", kMemory, 0, LLONG_MAX},
    {"hll-sparse-max-bytes", "3000", kMemory, 0, LLONG_MAX},
    {"hz", "10", kInt, 0, INT_MAX, "", 1, 500},
    {"ignore-warnings", "", kString},
    {"io-threads", "1", kImmutable},
    {"io-threads-do-reads", "no", kImmutable},
    {"jemalloc-bg-thread", "yes", kBool},
    {"latency-monitor-threshold", "0", kInt, 0, LLONG_MAX},
    {"latency-tracking", "yes", kBool},
    {"latency-tracking-info-percentiles", "50 99 99.9", kPercentiles},
    {"lazyfree-lazy-eviction", "no", kBool},
    {"lazyfree-lazy-expire", "no", kBool},
    {"lazyfree-lazy-server-del", "no", kBool},
    {"lazyfree-lazy-user-del", "no", kBool},
    {"lazyfree-lazy-user-flush", "no", kBool},
    {"lfu-decay-time", "1", kInt, 0, INT_MAX},
    {"lfu-log-factor", "10", kInt, 0, INT_MAX},
    {"list-compress-depth", "0", kInt, 0, INT_MAX},
    {"list-max-listpack-size", "-2", kInt, INT_MIN, INT_MAX},
    {"logfile", "", kImmutable},
    {"masterauth", "", kString},
    {"masteruser", "", kString},
    {"maxmemory", "0", kUnsignedMemory},
    {"maxmemory-clients", "0", kMemoryOrPercent},
    {"maxmemory-eviction-tenacity", "10", kInt, 0, 100},
    {"maxmemory-policy", "noeviction", kEnum, 0, 0, "noeviction"},
    {"maxmemory-samples", "5", kInt, 1, INT_MAX},
    {"min-replicas-max-lag", "10", kInt, 0, INT_MAX},
    {"min-replicas-to-write", "0", kInt, 0, INT_MAX},
    {"no-appendfsync-on-rewrite", "no", kBool},
    {"oom-score-adj", "no", kEnum, 0, 0, "no, yes, relative, absolute"},
    {"oom-score-adj-values", "0 200 800", kOomScores},
    {"pidfile", "", kImmutable},
    {"proc-title-template", "{title} {listen-addr} {server-mode}", kString},
    {"propagation-error-behavior", "ignore", kEnum, 0, 0, "ignore, panic, panic-on-replicas"},
    {"rdb-del-sync-files", "no", kBool},
    {"rdb-save-incremental-fsync", "yes", kBool},
    {"rdbchecksum", "yes", kImmutable},
    {"rdbcompression", "yes", kBool},
    {"repl-backlog-size", "1048576", kMemory, 1, LLONG_MAX, "", 16384},
    {"repl-backlog-ttl", "3600", kInt, 0, LLONG_MAX},
    {"repl-disable-tcp-nodelay", "no", kBool},
    {"repl-diskless-load", "disabled", kEnum, 0, 0, "disabled, on-empty-db, swapdb"},
    {"repl-diskless-sync", "yes", kBool},
    {"repl-diskless-sync-delay", "5", kInt, 0, INT_MAX},
    {"repl-diskless-sync-max-replicas", "0", kInt, 0, INT_MAX},
    {"repl-ping-replica-period", "10", kInt, 1, INT_MAX},
    {"repl-timeout", "60", kInt, 1, INT_MAX},
    {"replica-announce-ip", "", kString},
    {"replica-announce-port", "0", kInt, 0, 65535},
    {"replica-announced", "yes", kBool},
    {"replica-ignore-disk-write-errors", "no", kBool},
    {"replica-ignore-maxmemory", "yes", kBool},
    {"replica-lazy-flush", "no", kBool},
    {"replica-priority", "100", kInt, 0, INT_MAX},
    {"replica-read-only", "yes", kBool},
    {"replica-serve-stale-data", "yes", kBool},
    {"replicaof", "", kImmutable},
    {"sanitize-dump-payload", "no", kEnum, 0, 0, "no, yes, clients"},
    {"save", "", kSave},
    {"server_cpulist", "", kImmutable},
    {"set-max-intset-entries", "512", kInt, 0, LLONG_MAX},
    {"set-proc-title", "yes", kImmutable},
    {"shutdown-on-sigint", "default", kEnum, 0, 0, "default, save, nosave, now, force"},
    {"shutdown-on-sigterm", "default", kEnum, 0, 0, "default, save, nosave, now, force"},
    {"shutdown-timeout", "10", kInt, 0, INT_MAX},
    {"socket-mark-id", "0", kImmutable},
    {"stop-writes-on-bgsave-error", "yes", kBool},
    {"stream-node-max-bytes", "4096", kMemory, 0, LLONG_MAX},
    {"stream-node-max-entries", "100", kInt, 0, LLONG_MAX},
    {"supervised", "no", kImmutable},
    {"syslog-enabled", "no", kImmutable},
    {"syslog-facility", "local0", kImmutable},
    {"syslog-ident", "redis", kImmutable},
    {"tcp-backlog", "511", kImmutable},
    {"tcp-keepalive", "300", kInt, 0, INT_MAX},
    {"tls-dh-params-file", "", kString},
    {"tls-replication", "no", kUnsupported},
    {"tracking-table-max-keys", "1000000", kInt, 0, LLONG_MAX},
    {"unixsocket", "", kImmutable},
    {"unixsocketperm", "0", kImmutable},
    {"zset-max-listpack-entries", "128", kInt, 0, LLONG_MAX},
    {"zset-max-listpack-value", "64", kMemory, 0, LLONG_MAX},
};

// Redis' older names of parameters: the same setting under both.
constexpr std::pair<const char*, const char*> kAliases[] = {
    {"cluster-slave-no-failover", "cluster-replica-no-failover"},
    {"cluster-slave-validity-factor", "cluster-replica-validity-factor"},
    {"hash-max-ziplist-entries", "hash-max-listpack-entries"},
    {"hash-max-ziplist-value", "hash-max-listpack-value"},
    {"list-max-ziplist-size", "list-max-listpack-size"},
    {"min-slaves-max-lag", "min-replicas-max-lag"},
    {"min-slaves-to-write", "min-replicas-to-write"},
    {"repl-ping-slave-period", "repl-ping-replica-period"},
    {"slave-announce-ip", "replica-announce-ip"},
    {"slave-announce-port", "replica-announce-port"},
    {"slave-ignore-maxmemory", "replica-ignore-maxmemory"},
    {"slave-lazy-flush", "replica-lazy-flush"},
    {"slave-priority", "replica-priority"},
    {"slave-read-only", "replica-read-only"},
    {"slave-serve-stale-data", "replica-serve-stale-data"},
    {"slaveof", "replicaof"},
    {"zset-max-ziplist-entries", "zset-max-listpack-entries"},
    {"zset-max-ziplist-value", "zset-max-listpack-value"},
};

// Checks `v` as Redis checks a parameter of kind `p.kind`; the canonical value (a memory value
// in bytes, a choice in lower case), or an error message.
std::pair<std::string, std::string> Check(const RedisParameter& p, const std::string& v) {
  std::string lower = v;
  for (char& c : lower) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  switch (p.kind) {
    case kBool:
      if (lower != "yes" && lower != "no") return {"", "argument must be 'yes' or 'no'"};
      return {lower, ""};
    case kInt: {
      long long n;
      if (!ParseStrictInt(v, &n)) return {"", "argument couldn't be parsed into an integer"};
      return {std::to_string(std::clamp(n, p.floor, p.ceiling)), OutOfRange(n, p.min, p.max)};
    }
    case kHostname:
      for (char c : v) {
        if (!isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') {
          return {"", "Hostnames may only contain alphanumeric characters, hyphens or dots"};
        }
      }
      return {v, ""};
    case kUnsignedMemory: {
      auto n = ParseMemory(v);
      if (!n) return {"", "argument must be a memory value"};
      return {std::to_string(*n), ""};
    }
    case kMemory: {
      auto n = ParseMemory(v);
      std::string error = MemoryError(n, p.min, p.max);
      if (!error.empty()) return {"", error};
      return {std::to_string(std::clamp(static_cast<long long>(*n), p.floor, p.ceiling)), ""};
    }
    case kMemoryOrPercent: {
      if (!v.empty() && v.back() == '%') {
        long long n;
        if (!ParseStrictInt(v.substr(0, v.size() - 1), &n) || n < 0) {
          return {"", "argument must be a memory or percent value"};
        }
        return {v, n > 100 ? "percentage argument must be less or equal to 100" : ""};
      }
      auto n = ParseMemory(v);
      if (!n) return {"", "argument must be a memory or percent value"};
      return {std::to_string(*n), ""};
    }
    case kOomScores: {
      std::istringstream words(v);
      std::vector<std::string> scores{std::istream_iterator<std::string>(words), {}};
      if (scores.size() != 3) return {"", "wrong number of arguments"};
      for (const std::string& w : scores) {
        long long n;
        if (!ParseStrictInt(w, &n) || n < -2000 || n > 2000) {
          return {"", "Invalid oom-score-adj-values, elements must be between -2000 and 2000."};
        }
      }
      return {v, ""};
    }
    case kPercentiles: {
      std::istringstream words(v);
      for (std::string w; words >> w;) {
        char* end = nullptr;
        double d = strtod(w.c_str(), &end);
        if (*end != '\0' || std::isnan(d))
          return {"", "Invalid latency-tracking-info-percentiles parameters"};
        if (d < 0 || d > 100) {
          return {"",
                  "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"};
        }
      }
      return {v, ""};
    }
    case kEnum: {
      std::string_view choices = p.choices;
      for (size_t start = 0; start <= choices.size();) {
        size_t end = std::min(choices.find(", ", start), choices.size());
        if (choices.substr(start, end - start) == lower) return {lower, ""};
        start = end + 2;
      }
      return {"", "argument(s) must be one of the following: " + std::string(p.choices)};
    }
    case kSave: {
      std::istringstream words(v);
      size_t count = 0;
      for (std::string w; words >> w; count++) {
        long long n;
        if (!ParseStrictInt(w, &n) || n < 0) return {"", "Invalid save parameters"};
      }
      return {v, count % 2 ? "Invalid save parameters" : ""};
    }
    case kUnsupported:
      return {lower, lower == p.default_value ? ""
                                              : "desaster does not support this: only '" +
                                                    std::string(p.default_value) + "' is accepted"};
    case kImmutable:
    case kProtected:  // CONFIG SET refuses these before it checks values
    case kString:
      break;
  }
  return {v, ""};
}

ConfigParam Stored(const RedisParameter& p, Options* o) {
  std::string name = p.name;
  ConfigParam param{name,
                    [o, name, fallback = std::string(p.default_value)] {
                      auto it = o->redis_parameters.find(name);
                      return it == o->redis_parameters.end() ? fallback : it->second;
                    },
                    nullptr};
  if (p.kind == kImmutable || p.kind == kProtected) {
    param.refusal =
        p.kind == kImmutable ? "can't set immutable config" : "can't set protected config";
    return param;
  }
  param.set = [o, name, &p](const std::string& v) {
    auto [value, error] = Check(p, v);
    if (error.empty()) o->redis_parameters[name] = value;
    return error;
  };
  return param;
}

}  // namespace

std::vector<ConfigParam> ConfigParams(Options* o) {
  std::vector<ConfigParam> params = {
      Fixed("bind", o->bind),
      Fixed("port", std::to_string(o->port)),
      Fixed("databases", std::to_string(o->databases)),
      Fixed("dir", o->data_dir),
      {"requirepass", [o] { return o->requirepass; },
       [o](const std::string& v) {
         o->requirepass = v;
         return std::string();
       }},
      Number("maxclients", &o->maxclients, 1, 4294967295LL),
      Number("timeout", &o->timeout_s, 0, INT_MAX),
      {"loglevel", [o] { return o->loglevel; },
       [o](const std::string& v) -> std::string {
         if (v != "debug" && v != "verbose" && v != "notice" && v != "warning") {
           return "argument(s) must be one of the following: debug, verbose, notice, warning";
         }
         o->loglevel = v;
         return "";
       }},
      Memory("proto-max-bulk-len", &o->proto_max_bulk_len, 1024 * 1024),
      Memory("client-query-buffer-limit", &o->client_query_buffer_limit, 1024 * 1024),
      OutputBufferLimits(o),
      Number("slowlog-log-slower-than", &o->slowlog_log_slower_than_us, -1, LLONG_MAX),
      Number("slowlog-max-len", &o->slowlog_max_len, 0, LLONG_MAX),
      Number("lua-time-limit", &o->lua_time_limit_ms, 0, LLONG_MAX),
      Number("busy-reply-threshold", &o->lua_time_limit_ms, 0, LLONG_MAX),
      Number("lua-memory-limit", &o->lua_memory_limit, 1024 * 1024, 1LL << 40),
      Number("retry", &o->retry, 0, 1000),
      Number("payload-compression-delay", &o->payload_compression_delay_ms, -1, LLONG_MAX),
      Number("completed-max", &o->completed_max, 0, 1000000000),
      Number("completed-ttl", &o->completed_ttl_s, 0, 100LL * 365 * 24 * 3600),
      Text("completed-redact", &o->completed_redact),
      Number("metrics-top", &o->metrics_top, 0, 1000),
      Fixed("aclfile", o->aclfile),
      Number("acllog-max-len", &o->acllog_max_len, 0, LLONG_MAX),
      Fixed("enable-debug-command", o->enable_debug_command),
      YesNo("protected-mode", &o->protected_mode),
      Unchangeable("tls-port", std::to_string(o->tls_port)),
      Text("tls-cert-file", &o->tls.cert_file),
      Text("tls-key-file", &o->tls.key_file),
      Text("tls-key-file-pass", &o->tls.key_file_pass),
      Text("tls-ca-cert-file", &o->tls.ca_cert_file),
      Text("tls-ca-cert-dir", &o->tls.ca_cert_dir),
      {"tls-auth-clients", [o] { return o->tls.auth_clients; },
       [o](const std::string& v) -> std::string {
         std::string lower = v;
         for (char& c : lower) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
         if (lower != "yes" && lower != "no" && lower != "optional") {
           return "argument(s) must be one of the following: no, yes, optional";
         }
         o->tls.auth_clients = lower;
         return "";
       }},
      Text("tls-protocols", &o->tls.protocols),
      Text("tls-ciphers", &o->tls.ciphers),
      Text("tls-ciphersuites", &o->tls.ciphersuites),
      YesNo("tls-prefer-server-ciphers", &o->tls.prefer_server_ciphers),
      Unchangeable("tls-cluster", o->tls_cluster ? "yes" : "no"),
      Text("tls-client-cert-file", &o->tls_client_cert_file),
      Text("tls-client-key-file", &o->tls_client_key_file),
      Text("tls-client-key-file-pass", &o->tls_client_key_file_pass),
      YesNo("tls-session-caching", &o->tls.session_caching),
      Number("tls-session-cache-size", &o->tls.session_cache_size, 0, INT_MAX),
      Number("tls-session-cache-timeout", &o->tls.session_cache_timeout_s, 0, INT_MAX),
      {"notify-keyspace-events", [o] { return EventClassesString(o->notify_keyspace_events); },
       [o](const std::string& v) -> std::string {
         auto classes = ParseEventClasses(v);
         if (!classes) return "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.";
         o->notify_keyspace_events = *classes;
         return "";
       }},
      {"appendfsync", [o] { return o->appendfsync; },
       [o](const std::string& v) -> std::string {
         if (v != "always" && v != "everysec" && v != "no") {
           return "argument(s) must be one of the following: always, everysec, no";
         }
         o->appendfsync = v;
         return "";
       }},
  };
  for (const RedisParameter& p : kRedisParameters) params.push_back(Stored(p, o));
  for (const auto& [alias, name] : kAliases) {
    auto it = std::find_if(params.begin(), params.end(),
                           [&](const ConfigParam& c) { return c.name == name; });
    ConfigParam copy = *it;
    copy.name = alias;
    params.push_back(std::move(copy));
  }
  return params;
}

}  // namespace desaster
