// Server options: command line, optional config file (same names), and CONFIG GET/SET.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "net/tls.h"

namespace desaster {

struct Options {
  std::string bind = "127.0.0.1";
  int port = 6379;
  int databases = 16;
  std::string data_dir = "./data";
  std::string requirepass;
  long long maxclients = 10000;
  int timeout_s = 0;  // close idle clients after this many seconds; 0: never
  std::string loglevel = "notice";
  long long proto_max_bulk_len = 512LL * 1024 * 1024;
  long long client_query_buffer_limit = 1024LL * 1024 * 1024;
  // Pub/sub clients' output: hard 32 MB, soft 8 MB for 60 s (normal clients have no limit).
  long long output_limit_pubsub_hard = 32LL * 1024 * 1024;
  long long output_limit_pubsub_soft = 8LL * 1024 * 1024;
  int output_limit_pubsub_soft_s = 60;
  long long slowlog_log_slower_than_us = 10000;
  long long slowlog_max_len = 128;
  // After this long a script is "busy": other clients get -BUSY and SCRIPT KILL may stop it.
  long long lua_time_limit_ms = 5000;
  // Bytes the Lua state may hold (scripts and their data); an allocation past it fails, and the
  // script gets Lua's "not enough memory" error instead of the server running out.
  long long lua_memory_limit = 1LL << 30;
  std::string appendfsync = "always";  // commit policy: always | everysec | no
  // The batches of bulk writers are written and synced on a helper thread while the loop runs the
  // next commands (bulk loads 1.05-1.5x faster; docs/PERSISTENCE.md has the measurements).
  bool commit_thread = true;
  // New heap memory is populated a chunk at a time instead of a page fault per page
  // (server/heap.h).
  bool populate_heap = true;
  // LevelDB tuning (see docs/PERSISTENCE.md for how the defaults were chosen).
  size_t store_cache_mb = 32;
  size_t store_write_buffer_mb = 4;
  size_t store_block_kb = 16;
  bool store_compression = true;
  // Client libraries whose queue keys are backed by queues: "name" or "name:namespace".
  std::string dialects = "resque,sidekiq,rq";
  // The failed store keeps at most this many failures per database; the oldest go first.
  size_t failed_max = 1000000;
  // The completed store (COMPLETED.*) keeps at most this many jobs that succeeded per database
  // (0: none), none for longer than completed_ttl_s seconds (0: no age limit), with the values
  // named by any of the comma-separated completed_redact words redacted.
  size_t completed_max = 100000;
  long long completed_ttl_s = 7 * 24 * 3600;
  std::string completed_redact;
  // Job metrics (METRICS.*) keep this many of the busiest classes and queues per database
  // apart; the others are counted together as "(other)".
  size_t metrics_top = 25;
  // A waiting job's payload is kept compressed in memory once it has waited this many
  // milliseconds (or, when delayed, has that long still to wait); -1: never. A minute: a job
  // popped sooner never pays for its compression, nor its pop for a decompression
  // (docs/QUEUES.md, "Memory").
  long long payload_compression_delay_ms = 60000;
  // Retries after a failed first run, for queues that set no RETRY of their own (0: the server
  // never re-runs a failed job; a person can, from the failed store).
  long long retry = 24;
  // Cluster mode (docs/CLUSTER.md): etcd://host:port[,host:port...]/NAME; empty: a single node.
  std::string cluster;
  std::string advertise;      // host:port clients and other nodes reach this node at
  int cluster_lease_ttl = 2;  // seconds; a dead master is replaced after about this long
  bool cluster_never_master = false;
  bool cluster_forward = true;
  int sentinel_port = 0;  // cluster mode: where Redis Sentinel's protocol is answered (0: nowhere)
                          // // replicas forward clients' commands to the master (else -READONLY)
  // Log entries kept for nodes that are behind; one further behind bootstraps from a snapshot.
  long long cluster_log_retain = 100000;
  std::string cluster_cacert;      // CA for https etcd endpoints
  std::string cluster_user;        // etcd authentication: user:password
  bool cluster_convert = false;    // let a cluster node's data directory become a single node's
  int notify_keyspace_events = 0;  // event classes (server/data/notify.h)
  // While there is no password, refuse clients from anywhere but 127.0.0.1, ::1 and unix
  // sockets (Redis' protected mode).
  bool protected_mode = true;
  // ACL users are loaded from this file at start and by ACL LOAD, written by ACL SAVE; empty:
  // none (ACL LOAD and SAVE refuse).
  std::string aclfile;
  long long acllog_max_len = 128;  // ACL LOG keeps this many entries
  // Who may run DEBUG: "yes" (everyone), "no" (nobody), "local" (connections from 127.0.0.1,
  // ::1 or a unix socket).
  std::string enable_debug_command = "local";
  // Clients speak TLS on this port, with these settings (0: no TLS port). CONFIG SET of a tls-*
  // setting applies to the connections accepted after it.
  int tls_port = 0;
  net::TlsSettings tls;
  // Cluster mode: nodes reach each other (forwarding, store copies) and clients reach them
  // through Sentinel over TLS: a node advertises its TLS port, and its Sentinel port speaks TLS.
  bool tls_cluster = false;
  // The certificate this node presents when it connects to another (default: tls-cert-file).
  std::string tls_client_cert_file, tls_client_key_file, tls_client_key_file_pass;
  // Redis parameters desaster keeps without acting on them (CONFIG SET), by name.
  std::map<std::string, std::string> redis_parameters;
};

// How this node connects to the others of a TLS cluster: its client certificate, checked
// against the same CAs as its clients'.
net::TlsSettings ClusterClientTls(const Options& options);

// Parses argv (and --config FILE). Returns false after printing help or an error; `*exit_code`
// then says how the process should exit.
bool ParseOptions(int argc, char** argv, Options* options, int* exit_code);

// A parameter CONFIG GET/SET knows: its name and how to read and change it.
struct ConfigParam {
  std::string name;
  std::function<std::string()> get;
  // Returns an error message, or empty on success. Null for read-only parameters.
  std::function<std::string(const std::string&)> set;
  // Why a read-only parameter cannot be set ("can't set immutable config").
  std::string refusal = "can't set immutable config";
};
std::vector<ConfigParam> ConfigParams(Options* options);

}  // namespace desaster
