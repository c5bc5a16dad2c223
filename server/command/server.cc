// Connection and server commands: PING, HELLO, AUTH, SELECT, INFO, CONFIG, CLIENT, COMMAND,
// MONITOR, SLOWLOG, DEBUG, SHUTDOWN and the persistence commands tools call.
#include <fmt/format.h>
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <thread>

#include "server/clock.h"
#include "server/command/context.h"
#include "server/command/dispatch.h"
#include "server/command/registry.h"
#include "server/data/digest.h"
#include "server/log.h"
#include "server/queue/payload.h"
#include "server/version.h"

namespace desaster {
namespace {

void Ping(CommandContext& ctx) {
  if (ctx.args.size() > 2) return ctx.WrongArgs();
  // A RESP2 connection in subscribed state gets ["pong", message] as Redis sends it.
  if (ctx.client.protocol == 2 && ctx.client.subscriptions() > 0) {
    ctx.reply.Array(2);
    ctx.reply.Bulk("pong");
    ctx.reply.Bulk(ctx.args.size() == 2 ? ctx.args[1] : "");
    return;
  }
  if (ctx.args.size() == 2) return ctx.reply.Bulk(ctx.args[1]);
  ctx.reply.Simple("PONG");
}

void Echo(CommandContext& ctx) { ctx.reply.Bulk(ctx.args[1]); }

// ROLE: a cluster replica names its master; a master lists its replicas. The offset is the
// last log entry applied.
void Role(CommandContext& ctx) {
  const ClusterStatus& c = ctx.server.cluster;
  if (ctx.client.sentinel) {  // a Sentinel names the masters it watches
    ctx.reply.Array(2);
    ctx.reply.Bulk("sentinel");
    ctx.reply.Array(1);
    return ctx.reply.Bulk(c.name);
  }
  if (!c.enabled || c.master) {
    ctx.reply.Array(3);
    ctx.reply.Bulk("master");
    ctx.reply.Integer(static_cast<long long>(c.enabled ? c.applied : ctx.server.committed_lsn));
    ctx.reply.Array(c.peers.size());
    for (const auto& [id, peer] : c.peers) {
      auto [host, port] = SplitAddress(peer.addr);
      ctx.reply.Array(3);
      ctx.reply.Bulk(host);
      ctx.reply.Bulk(port);
      ctx.reply.Bulk(std::to_string(peer.applied));
    }
    return;
  }
  auto [host, port] = SplitAddress(c.master_addr);
  ctx.reply.Array(5);
  ctx.reply.Bulk("slave");
  ctx.reply.Bulk(host);
  ctx.reply.Integer(atoll(port.c_str()));
  ctx.reply.Bulk(c.master_addr.empty() ? "connect" : "connected");
  ctx.reply.Integer(static_cast<long long>(c.applied));
}

// WAIT numreplicas timeout: how many replicas hold (durably) every write acknowledged to
// anyone before the WAIT, once that is numreplicas or the timeout (ms, 0: none) passed.
// Replicas report what they applied a few times a second: a WAIT takes that long.
void Wait(CommandContext& ctx) {
  long long wanted, timeout;
  if (!ParseInt64(ctx.args[1], &wanted)) return ctx.Error(err::kNotInteger);
  if (!ParseInt64(ctx.args[2], &timeout)) {
    return ctx.Error("ERR timeout is not an integer or out of range");
  }
  if (timeout < 0) return ctx.Error("ERR timeout is negative");
  const ClusterStatus& c = ctx.server.cluster;
  if (c.enabled && !c.master) return ctx.Error("ERR WAIT cannot be used with replica instances.");
  // A single node is a master without replicas: as Redis, it waits out the timeout.
  if (ctx.block_mode == BlockMode::kAllowed) ctx.client.wait_index = c.applied;
  long long acked = 0;
  for (const auto& [id, peer] : c.peers) acked += peer.applied >= ctx.client.wait_index ? 1 : 0;
  if (acked >= wanted || ctx.block_mode == BlockMode::kNever) return ctx.reply.Integer(acked);
  ctx.Block({std::string(kReplicationKey)}, ctx.DeadlineAfterMs(timeout), TimeoutReply::kRunAgain);
}

// FAILOVER: a cluster master hands over to another node (the others campaign first). Redis'
// TO, FORCE, ABORT and TIMEOUT pick and steer one replica; here etcd's election picks.
void Failover(CommandContext& ctx) {
  const ClusterStatus& c = ctx.server.cluster;
  if (ctx.args.size() > 1) return ctx.Error("ERR FAILOVER takes no options on desaster");
  if (!c.enabled) return ctx.Error("ERR FAILOVER requires connected replicas.");
  if (!c.master) return ctx.Error("ERR FAILOVER is not valid when server is a replica.");
  if (c.peers.empty()) return ctx.Error("ERR FAILOVER requires connected replicas.");
  ctx.server.failover_requested = true;
  ctx.reply.Ok();
}

// FORWARDED cluster-id epoch: the hand-shake of a replica's connection for one of its clients
// (cluster/forward.h). Only the master of that epoch takes it; any other node closes the
// connection before the commands pipelined behind it run, so a command is never passed on
// twice nor run by a node that no longer leads.
void Forwarded(CommandContext& ctx) {
  if (ctx.args.size() > 4) return ctx.WrongArgs();
  const ClusterStatus& c = ctx.server.cluster;
  long long epoch;
  if (!c.enabled || ctx.args[1] != c.cluster_id) {
    ctx.client.close_after_reply = true;
    return ctx.Error("ERR FORWARDED: not a node of this cluster");
  }
  if (!ParseInt64(ctx.args[2], &epoch) || !c.master || epoch != c.epoch) {
    ctx.client.close_after_reply = true;
    return ctx.Error(
        fmt::format("READONLY FORWARDED: this node is not the master of epoch {}", ctx.args[2]));
  }
  // The client's user on the replica, which checked it first: the master checks it again
  // (the nodes share their users through the log).
  AclUser* user = ctx.args.size() == 4 ? ctx.server.acl.Find(ctx.args[3]) : nullptr;
  if (ctx.args.size() == 4 && (!user || !user->enabled)) {
    ctx.client.close_after_reply = true;
    return ctx.Error("ERR FORWARDED: no user '" + ctx.args[3] + "' here");
  }
  if (user) ctx.client.user = user;
  ctx.client.authenticated = true;
  ctx.reply.Ok();
}

// CLUSTER.STATUS: the cluster as this node sees it through etcd, for desaster-web: the master,
// every live node with how far it applied the log, this node's etcd session, the history of
// masters (kept in the log). A single node answers {enabled: 0}.
void ClusterStatusCommand(CommandContext& ctx) {
  const ClusterStatus& c = ctx.server.cluster;
  auto& r = ctx.reply;
  if (!c.enabled) {
    r.Map(1);
    return r.Field("enabled", 0);
  }
  r.Map(9);
  r.Field("enabled", 1);
  r.Field("name", c.name);
  r.Field("node", c.node_id);
  r.Field("role", c.master ? "master" : "replica");
  r.Field("epoch", c.epoch);
  r.Field("session", c.session_alive ? "ok" : "lost");
  r.Bulk("master");
  if (c.master_addr.empty()) {
    r.NullBulk();
  } else {
    r.Map(2);
    r.Field("id", c.master_id);
    r.Field("address", c.master_addr);
  }
  // Every node, this one first; how far behind the furthest one each is.
  uint64_t head = c.applied;
  for (const auto& [id, peer] : c.peers) head = std::max(head, peer.applied);
  r.Bulk("nodes");
  r.Array(c.peers.size() + 1);
  auto node = [&](const std::string& id, const std::string& address, uint64_t applied,
                  const std::string& sentinel, int64_t reported_ms) {
    r.Map(7);
    r.Field("id", id);
    r.Field("address", address);
    r.Field("role", id == c.master_id && !c.master_addr.empty() ? "master" : "replica");
    r.Field("applied", applied);
    r.Field("lag", head - applied);
    r.Field("sentinel", sentinel);
    r.FieldOrNull("reported", reported_ms);
  };
  node(c.node_id, c.advertise, c.applied, c.sentinel, 0);
  for (const auto& [id, peer] : c.peers) {
    node(id, peer.addr, peer.applied, peer.sentinel, peer.updated_ms);
  }
  const auto& history = ctx.keyspace().master_history();
  r.Bulk("history");
  r.Array(history.size());
  for (auto it = history.rbegin(); it != history.rend(); ++it) {
    r.Map(4);
    r.Field("epoch", it->epoch);
    r.Field("node", it->node);
    r.Field("address", it->address);
    r.Field("since", it->since_ms);
  }
}

void Time(CommandContext& ctx) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  ctx.reply.Array(2);
  ctx.reply.Bulk(std::to_string(us / 1000000));
  ctx.reply.Bulk(std::to_string(us % 1000000));
}

void Quit(CommandContext& ctx) {
  ctx.reply.Ok();
  ctx.client.close_after_reply = true;
}

void Select(CommandContext& ctx) {
  long long idx;
  if (!ParseInt64(ctx.args[1], &idx)) return ctx.Error(err::kNotInteger);
  if (idx < 0 || idx >= ctx.keyspace().databases()) return ctx.Error(err::kDbIndex);
  ctx.client.db = static_cast<int>(idx);
  ctx.reply.Ok();
}

constexpr std::string_view kWrongPass =
    "WRONGPASS invalid username-password pair or user is disabled.";

// Checks credentials for AUTH and HELLO: the connection runs as that user from now on. A
// refusal is answered, recorded in ACL LOG, and false.
bool Authenticate(CommandContext& ctx, const std::string& user, const std::string& password) {
  AclUser* u = ctx.server.acl.Authenticate(user, password);
  if (u == nullptr) {
    int64_t now = UnixMs();
    ctx.server.acl.Log({.reason = AclDenial::kAuth,
                        .context = ctx.client.in_multi ? "multi" : "toplevel",
                        .object = ctx.args[0],
                        .username = user,
                        .updated_ms = now,
                        .client_info = ClientLine(ctx.client)},
                       static_cast<size_t>(ctx.server.options.acllog_max_len));
    ctx.Error(kWrongPass);
    return false;
  }
  ctx.client.user = u;
  ctx.client.authenticated = true;
  return true;
}

void Auth(CommandContext& ctx) {
  if (ctx.args.size() > 3) return ctx.Error(err::kSyntax);
  if (ctx.args.size() == 2 && ctx.server.acl.default_user()->nopass) {
    return ctx.Error(
        "ERR AUTH <password> called without any password configured for the default user. Are "
        "you sure your configuration is correct?");
  }
  std::string user = ctx.args.size() == 3 ? ctx.args[1] : "default";
  if (Authenticate(ctx, user, ctx.args.back())) ctx.reply.Ok();
}

bool ValidClientName(const std::string& name) {
  for (char c : name) {
    if (c < '!' || c > '~') return false;
  }
  return true;
}

void Hello(CommandContext& ctx) {
  int protocol = ctx.client.protocol;
  size_t i = 1;
  if (ctx.args.size() >= 2) {
    long long v;
    if (!ParseInt64(ctx.args[1], &v)) {
      return ctx.Error("ERR Protocol version is not an integer or out of range");
    }
    if (v < 2 || v > 3) return ctx.Error("NOPROTO unsupported protocol version");
    protocol = static_cast<int>(v);
    i = 2;
  }
  std::string name;
  bool set_name = false;
  for (; i < ctx.args.size(); i++) {
    if (ctx.Is(i, "AUTH") && i + 2 < ctx.args.size()) {
      if (!Authenticate(ctx, ctx.args[i + 1], ctx.args[i + 2])) return;
      i += 2;
    } else if (ctx.Is(i, "SETNAME") && i + 1 < ctx.args.size()) {
      name = ctx.args[++i];
      if (!ValidClientName(name)) {
        return ctx.Error("ERR Client names cannot contain spaces, newlines or special characters.");
      }
      set_name = true;
    } else {
      return ctx.Error("ERR Syntax error in HELLO option '" + ctx.args[i] + "'");
    }
  }
  if (ctx.server.acl.AuthRequired() && !ctx.client.authenticated) {
    return ctx.Error(
        "NOAUTH HELLO must be called with the client already authenticated, "
        "otherwise the HELLO AUTH <user> <pass> option can be used to "
        "authenticate the client and select the RESP protocol version at the same "
        "time");
  }
  if (set_name) ctx.client.name = name;
  ctx.client.protocol = protocol;
  ctx.reply.set_protocol(protocol);
  ctx.reply.Map(7);
  ctx.reply.Bulk("server");
  ctx.reply.Bulk("redis");
  ctx.reply.Bulk("version");
  ctx.reply.Bulk(kRedisVersion);
  ctx.reply.Bulk("proto");
  ctx.reply.Integer(protocol);
  ctx.reply.Bulk("id");
  ctx.reply.Integer(static_cast<long long>(ctx.client.id));
  ctx.reply.Bulk("mode");
  ctx.reply.Bulk("standalone");
  ctx.reply.Bulk("role");
  ctx.reply.Bulk("master");
  ctx.reply.Bulk("modules");
  ctx.reply.Array(0);
}

void Reset(CommandContext& ctx) {
  Client& c = ctx.client;
  c.in_multi = false;
  c.multi_error = false;
  c.queued.clear();
  UnwatchAll(ctx.server, c);
  std::vector<std::string> channels(c.channels.begin(), c.channels.end());
  for (const auto& ch : channels) {
    std::erase(ctx.server.channels[ch], &c);
    if (ctx.server.channels[ch].empty()) ctx.server.channels.erase(ch);
  }
  std::vector<std::string> patterns(c.patterns.begin(), c.patterns.end());
  for (const auto& p : patterns) {
    std::erase(ctx.server.patterns[p], &c);
    if (ctx.server.patterns[p].empty()) ctx.server.patterns.erase(p);
  }
  c.channels.clear();
  c.patterns.clear();
  if (c.monitor) {
    c.monitor = false;
    std::erase(ctx.server.monitors, &c);
  }
  ctx.server.tracking.Disable(c);
  c.db = 0;
  c.protocol = 2;
  ctx.reply.set_protocol(2);
  c.name.clear();
  c.reply_mode = ReplyMode::kOn;
  c.user = ctx.server.acl.default_user();
  c.authenticated = !ctx.server.acl.AuthRequired();
  ctx.reply.Simple("RESET");
}

// ---- INFO ----

std::string HumanBytes(uint64_t n) {
  // As Redis' bytesToHuman: two decimals in the largest unit up to P, bytes beyond.
  if (n < 1024) return fmt::format("{}B", n);
  double scaled = static_cast<double>(n);
  for (char unit : std::string_view("KMGTP")) {
    scaled /= 1024;
    if (scaled < 1024) return fmt::format("{:.2f}{}", scaled, unit);
  }
  return fmt::format("{}B", n);
}

uint64_t RssBytes() {
  long pages = 0, resident = 0;
  FILE* f = fopen("/proc/self/statm", "r");
  if (f) {
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    fclose(f);
  }
  return static_cast<uint64_t>(resident) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

std::string InfoSection(CommandContext& ctx, const std::string& name) {
  ServerState& s = ctx.server;
  std::string out;
  auto line = [&out](std::string_view k, const std::string& v) {
    out.append(k);
    out.push_back(':');
    out.append(v);
    out.append("\r\n");
  };
  auto num = [&line](std::string_view k, auto v) { line(k, std::to_string(v)); };
  int64_t uptime_s = (UnixMs() - s.start_ms) / 1000;
  if (name == "server") {
    out = "# Server\r\n";
    line("redis_version", std::string(kRedisVersion));
    line("desaster_version", std::string(kDesasterVersion));
    line("redis_mode", "standalone");
    line("os", "Linux");
    line("arch_bits", "64");
    line("multiplexing_api", "epoll");
    num("process_id", getpid());
    num("tcp_port", s.options.port);
    num("uptime_in_seconds", uptime_s);
    num("uptime_in_days", uptime_s / 86400);
    line("executable", "desaster-scheduler");
  } else if (name == "clients") {
    out = "# Clients\r\n";
    size_t blocked = 0, pubsub = 0;
    for (const auto& [id, c] : s.clients) {
      blocked += c->blocked;
      pubsub += c->subscriptions() > 0;
    }
    num("connected_clients", s.clients.size());
    num("maxclients", s.options.maxclients);
    num("blocked_clients", blocked);
    num("pubsub_clients", pubsub);
    num("tracking_clients", s.tracking.clients());
  } else if (name == "memory") {
    out = "# Memory\r\n";
    uint64_t used = s.UsedMemory(), rss = RssBytes();
    s.stats.used_memory_peak = std::max(s.stats.used_memory_peak, used);
    num("used_memory", used);
    line("used_memory_human", HumanBytes(used));
    num("used_memory_rss", rss);
    line("used_memory_rss_human", HumanBytes(rss));
    num("used_memory_peak", s.stats.used_memory_peak);
    line("used_memory_peak_human", HumanBytes(s.stats.used_memory_peak));
    auto ratio = [](uint64_t a, uint64_t b) {
      return static_cast<double>(a) / static_cast<double>(std::max<uint64_t>(1, b));
    };
    line("used_memory_peak_perc",
         fmt::format("{:.2f}%", 100 * ratio(used, s.stats.used_memory_peak)));
    uint64_t system = static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) *
                      static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    num("total_system_memory", system);
    line("total_system_memory_human", HumanBytes(system));
    num("maxmemory", s.maxmemory);
    line("maxmemory_human", HumanBytes(s.maxmemory));
    line("maxmemory_policy", "noeviction");
    // What monitoring reads to tell a heap that holds more than it uses (Redis: RSS / used).
    line("mem_fragmentation_ratio", fmt::format("{:.2f}", ratio(rss, used)));
    num("mem_fragmentation_bytes", static_cast<long long>(rss) - static_cast<long long>(used));
    line("mem_allocator", s.allocator);
    // Waiting jobs' payloads kept compressed (payload-compression-delay).
    const PayloadCompressionStats& compressed = CompressionStats();
    num("compressed_payloads", compressed.payloads);
    num("compressed_payloads_bytes", compressed.stored_bytes);
    num("compressed_payloads_original_bytes", compressed.original_bytes);
  } else if (name == "persistence") {
    out = "# Persistence\r\n";
    num("loading", s.loading ? 1 : 0);
    line("store_engine", s.store_engine);
    line("store_fsync", s.options.appendfsync);
    num("store_committed_lsn", s.committed_lsn);
    num("store_last_commit_time", s.last_commit_unix_s);
    line("store_last_write_status", s.write_error.empty() ? "ok" : "err");
    line("store_last_write_error", s.write_error);
    num("store_commits", s.stats.commits);
    num("store_commits_overlapped", s.stats.commits_overlapped);
    size_t completed = 0, archived = 0;
    for (int i = 0; i < s.keyspace.databases(); i++) {
      completed += s.keyspace.db(i).completion_order().size();
      archived += s.keyspace.db(i).archived_completions();
    }
    num("completed_jobs", completed);
    num("completed_archived", archived);  // their payload and result only on disk
    num("rdb_changes_since_last_save", 0);
    num("rdb_bgsave_in_progress", 0);
    num("rdb_last_save_time", s.last_save_unix_s);
    line("rdb_last_bgsave_status", s.write_error.empty() ? "ok" : "err");
    num("aof_enabled", 0);
    num("aof_rewrite_in_progress", 0);
    line("aof_last_write_status", s.write_error.empty() ? "ok" : "err");
  } else if (name == "stats") {
    out = "# Stats\r\n";
    num("total_connections_received", s.stats.connections_received);
    num("total_commands_processed", s.stats.commands_processed);
    num("instantaneous_ops_per_sec", 0);
    num("total_net_input_bytes", s.stats.net_input_bytes);
    num("total_net_output_bytes", s.stats.net_output_bytes);
    num("rejected_connections", s.stats.rejected_connections);
    num("expired_keys", ctx.keyspace().expired_keys());
    num("evicted_keys", 0);
    num("keyspace_hits", s.stats.keyspace_hits);
    num("keyspace_misses", s.stats.keyspace_misses);
    num("pubsub_channels", s.channels.size());
    num("pubsub_patterns", s.patterns.size());
    num("tracking_total_keys", s.tracking.keys());
    num("tracking_total_items", s.tracking.items());
    num("tracking_total_prefixes", s.tracking.prefixes());
    num("total_error_replies", s.stats.error_replies);
    if (s.cluster.enabled) num("cluster_forwarded_commands", s.stats.forwarded_commands);
  } else if (name == "replication") {
    out = "# Replication\r\n";
    const ClusterStatus& c = s.cluster;
    bool master = !c.enabled || c.master;
    line("role", master ? "master" : "slave");
    if (!master) {
      auto [host, port] = SplitAddress(c.master_addr);
      line("master_host", host);
      line("master_port", port);
      line("master_link_status", c.master_addr.empty() ? "down" : "up");
      num("slave_repl_offset", c.applied);
      num("slave_read_only", 1);
    }
    num("connected_slaves", master ? c.peers.size() : 0);
    if (master) {
      int i = 0;
      for (const auto& [id, peer] : c.peers) {
        auto [host, port] = SplitAddress(peer.addr);
        line(fmt::format("slave{}", i++),
             fmt::format("ip={},port={},state=online,offset={},lag={}", host, port, peer.applied,
                         // Seconds since it reported, while it is behind (a caught-up replica
                         // of an idle master has nothing new to report).
                         peer.applied >= c.applied ? 0 : (UnixMs() - peer.updated_ms) / 1000));
      }
    }
    if (c.enabled) {
      line("cluster_node_id", c.node_id);
      num("cluster_epoch", c.epoch);
      if (c.master) num("cluster_log_start", c.log_start);
    }
    num("master_repl_offset", c.enabled ? c.applied : s.committed_lsn);
  } else if (name == "cpu") {
    out = "# CPU\r\n";
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    char buf[64];
    snprintf(buf, sizeof(buf), "%ld.%06ld", static_cast<long>(ru.ru_stime.tv_sec),
             static_cast<long>(ru.ru_stime.tv_usec));
    line("used_cpu_sys", buf);
    snprintf(buf, sizeof(buf), "%ld.%06ld", static_cast<long>(ru.ru_utime.tv_sec),
             static_cast<long>(ru.ru_utime.tv_usec));
    line("used_cpu_user", buf);
  } else if (name == "modules") {
    out = "# Modules\r\n";
  } else if (name == "errorstats") {
    out = "# Errorstats\r\n";
  } else if (name == "cluster") {
    out = "# Cluster\r\n";
    num("cluster_enabled", 0);
  } else if (name == "keyspace") {
    out = "# Keyspace\r\n";
    for (int i = 0; i < ctx.keyspace().databases(); i++) {
      Database& db = ctx.keyspace().db(i);
      if (db.size() == 0) continue;
      line("db" + std::to_string(i), "keys=" + std::to_string(db.size()) + ",expires=" +
                                         std::to_string(db.expiring()) + ",avg_ttl=0");
    }
  } else if (name == "commandstats") {
    out = "# Commandstats\r\n";
    std::map<std::string, const CommandStats*> by_name;
    for (const auto& [spec, st] : s.stats.commands) by_name[spec->name] = &st;
    for (const auto& [cmd, stats] : by_name) {
      const CommandStats& st = *stats;
      if (st.calls == 0 && st.rejected == 0 && st.failed == 0) continue;
      char buf[192];
      snprintf(buf, sizeof(buf),
               "calls=%llu,usec=%llu,usec_per_call=%.2f,rejected_calls=%llu,failed_calls=%llu",
               static_cast<unsigned long long>(st.calls), static_cast<unsigned long long>(st.usec),
               st.calls ? static_cast<double>(st.usec) / static_cast<double>(st.calls) : 0.0,
               static_cast<unsigned long long>(st.rejected),
               static_cast<unsigned long long>(st.failed));
      line("cmdstat_" + cmd, buf);
    }
  }
  return out;
}

void Info(CommandContext& ctx) {
  static const char* kDefault[] = {"server",     "clients",     "memory",  "persistence",
                                   "stats",      "replication", "cpu",     "modules",
                                   "errorstats", "cluster",     "keyspace"};
  std::vector<std::string> sections;
  for (size_t i = 1; i < ctx.args.size(); i++) {
    std::string s = Lower(ctx.args[i]);
    if (s == "all" || s == "everything" || s == "default") {
      for (const char* d : kDefault) sections.push_back(d);
      if (s != "default") sections.push_back("commandstats");
    } else {
      sections.push_back(s);
    }
  }
  if (sections.empty()) sections.assign(std::begin(kDefault), std::end(kDefault));
  std::string text;
  for (const auto& name : sections) {
    std::string part = InfoSection(ctx, name);
    if (part.empty()) continue;
    if (!text.empty()) text.append("\r\n");
    text.append(part);
  }
  ctx.reply.Verbatim(text);
}

// ---- CONFIG ----

void ConfigGet(CommandContext& ctx) {
  auto params = ConfigParams(&ctx.server.options);
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& p : params) {
    for (size_t i = 2; i < ctx.args.size(); i++) {
      if (GlobMatch(Lower(ctx.args[i]), p.name)) {
        out.emplace_back(p.name, p.get());
        break;
      }
    }
  }
  ctx.reply.Map(out.size());
  for (const auto& [k, v] : out) {
    ctx.reply.Bulk(k);
    ctx.reply.Bulk(v);
  }
}

void ConfigSet(CommandContext& ctx) {
  if (ctx.args.size() % 2 != 0) return ctx.WrongArgs();
  auto params = ConfigParams(&ctx.server.options);
  // Validate every parameter name first so a bad one changes nothing.
  std::vector<const ConfigParam*> targets;
  for (size_t i = 2; i < ctx.args.size(); i += 2) {
    std::string name = Lower(ctx.args[i]);
    auto it = std::find_if(params.begin(), params.end(),
                           [&](const ConfigParam& p) { return p.name == name; });
    if (it == params.end()) {
      return ctx.Error("ERR Unknown option or number of arguments for CONFIG SET - '" +
                       ctx.args[i] + "'");
    }
    for (size_t j = 2; j < i; j += 2) {
      if (Lower(ctx.args[j]) == name) {
        return ctx.Error("ERR CONFIG SET failed (possibly related to argument '" + ctx.args[i] +
                         "') - duplicate parameter");
      }
    }
    if (!it->set) {
      return ctx.Error("ERR CONFIG SET failed (possibly related to argument '" + ctx.args[i] +
                       "') - " + it->refusal);
    }
    targets.push_back(&*it);
  }
  net::TlsSettings tls_before = ctx.server.options.tls;
  for (size_t i = 0; i < targets.size(); i++) {
    std::string error = targets[i]->set(ctx.args[3 + 2 * i]);
    if (!error.empty()) {
      return ctx.Error("ERR CONFIG SET failed (possibly related to argument '" +
                       ctx.args[2 + 2 * i] + "') - " + error);
    }
  }
  if (std::string error; !ctx.server.ApplyTls(&error)) {
    ctx.server.options.tls = tls_before;  // the port goes on with what it had
    Log(LogLevel::kWarning, "Failed applying the new TLS configuration: {}", error);
    auto tls_arg = std::find_if(targets.begin(), targets.end(),
                                [](const ConfigParam* p) { return p->name.starts_with("tls-"); });
    return ctx.Error("ERR CONFIG SET failed (possibly related to argument '" + (*tls_arg)->name +
                     "') - Unable to update TLS configuration: " + error);
  }
  ctx.server.ApplyOptions();
  ctx.reply.Ok();
}

void ConfigResetStat(CommandContext& ctx) {
  ctx.server.stats = Stats{};
  ctx.reply.Ok();
}

void ConfigRewrite(CommandContext& ctx) {
  ctx.Error("ERR The server is running without a config file");
}

// ---- CLIENT ----

void ClientId(CommandContext& ctx) { ctx.reply.Integer(static_cast<long long>(ctx.client.id)); }

void ClientSetName(CommandContext& ctx) {
  if (!ValidClientName(ctx.args[2])) {
    return ctx.Error("ERR Client names cannot contain spaces, newlines or special characters.");
  }
  ctx.client.name = ctx.args[2];
  ctx.reply.Ok();
}

void ClientGetName(CommandContext& ctx) {
  ctx.client.name.empty() ? ctx.reply.NullBulk() : ctx.reply.Bulk(ctx.client.name);
}

void ClientList(CommandContext& ctx) {
  // One filter at most, as in Redis: CLIENT LIST [TYPE type | ID id...].
  std::vector<uint64_t> ids;
  bool type_pubsub = false, type_filter = false, id_filter = false;
  if (ctx.args.size() == 4 && ctx.Is(2, "TYPE")) {
    std::string t = Lower(ctx.args[3]);
    if (t != "normal" && t != "pubsub" && t != "master" && t != "replica" && t != "slave") {
      return ctx.Error("ERR Unknown client type '" + ctx.args[3] + "'");
    }
    type_filter = true;
    type_pubsub = t == "pubsub";
  } else if (ctx.args.size() >= 4 && ctx.Is(2, "ID")) {
    id_filter = true;
    for (size_t i = 3; i < ctx.args.size(); i++) {
      long long id;
      if (!ParseInt64(ctx.args[i], &id)) return ctx.Error("ERR Invalid client ID");
      if (id > 0) ids.push_back(static_cast<uint64_t>(id));  // no client has another id
    }
  } else if (ctx.args.size() != 2) {
    return ctx.Error(err::kSyntax);
  }
  std::vector<const Client*> clients;
  for (const auto& [id, c] : ctx.server.clients) clients.push_back(c);
  std::sort(clients.begin(), clients.end(),
            [](const Client* a, const Client* b) { return a->id < b->id; });
  std::string text;
  for (const Client* c : clients) {
    if (id_filter && std::find(ids.begin(), ids.end(), c->id) == ids.end()) continue;
    if (type_filter && type_pubsub != (c->subscriptions() > 0)) continue;
    text += ClientLine(*c) + "\n";
  }
  ctx.reply.Verbatim(text);
}

void ClientInfo(CommandContext& ctx) { ctx.reply.Verbatim(ClientLine(ctx.client) + "\n"); }

void ClientKill(CommandContext& ctx) {
  ServerState& s = ctx.server;
  if (ctx.args.size() == 3) {  // old form: CLIENT KILL addr:port
    for (auto& [id, c] : s.clients) {
      if (c->addr == ctx.args[2]) {
        c->close_after_reply = true;
        if (s.on_output) s.on_output(c);
        return ctx.reply.Ok();
      }
    }
    return ctx.Error("ERR No such client");
  }
  if (ctx.args.size() % 2 != 0) return ctx.Error(err::kSyntax);
  long long filter_id = 0;
  std::string addr, laddr, type;
  const AclUser* user = nullptr;
  bool skipme = true;
  for (size_t i = 2; i + 1 < ctx.args.size(); i += 2) {
    const std::string& v = ctx.args[i + 1];
    if (ctx.Is(i, "ID")) {
      if (!ParseInt64(v, &filter_id) || filter_id <= 0)
        return ctx.Error("ERR client-id should be greater than 0");
    } else if (ctx.Is(i, "ADDR")) {
      addr = v;
    } else if (ctx.Is(i, "LADDR")) {
      laddr = v;
    } else if (ctx.Is(i, "TYPE")) {
      type = Lower(v);
      if (type != "normal" && type != "pubsub" && type != "master" && type != "replica" &&
          type != "slave") {
        return ctx.Error("ERR Unknown client type '" + v + "'");
      }
    } else if (ctx.Is(i, "USER")) {
      user = s.acl.Find(v);
      if (user == nullptr) return ctx.Error("ERR No such user '" + v + "'");
    } else if (ctx.Is(i, "SKIPME")) {
      if (Lower(v) != "yes" && Lower(v) != "no") return ctx.Error(err::kSyntax);
      skipme = Lower(v) == "yes";
    } else {
      return ctx.Error(err::kSyntax);
    }
  }
  long long killed = 0;
  for (auto& [id, c] : s.clients) {
    if (filter_id && c->id != static_cast<uint64_t>(filter_id)) continue;
    if (!addr.empty() && c->addr != addr) continue;
    if (!laddr.empty() && c->laddr != laddr) continue;
    if (user && c->user != user) continue;
    if (!type.empty() && (type == "pubsub") != (c->subscriptions() > 0)) continue;
    if (!type.empty() && type != "pubsub" && type != "normal") continue;
    if (skipme && c == &ctx.client) continue;
    c->close_after_reply = true;
    if (s.on_output) s.on_output(c);
    killed++;
  }
  ctx.reply.Integer(killed);
}

void ClientSetInfo(CommandContext& ctx) {
  const std::string& v = ctx.args[3];
  for (char c : v) {
    if (c < '!' || c > '~') {
      return ctx.Error("ERR " + Lower(ctx.args[2]) +
                       " cannot contain spaces, newlines or special characters.");
    }
  }
  if (ctx.Is(2, "LIB-NAME")) {
    ctx.client.lib_name = v;
  } else if (ctx.Is(2, "LIB-VER")) {
    ctx.client.lib_ver = v;
  } else {
    return ctx.Error("ERR Unrecognized option '" + ctx.args[2] + "'");
  }
  ctx.reply.Ok();
}

// CLIENT UNBLOCK id [TIMEOUT|ERROR]: a client blocked in a command gets its timeout reply (or
// an error) now; 1 when there was one to unblock.
void ClientUnblock(CommandContext& ctx) {
  auto id = ctx.Int(2);
  if (!id) return;
  bool error = false;
  if (ctx.args.size() == 4) {
    if (ctx.Is(3, "ERROR")) {
      error = true;
    } else if (!ctx.Is(3, "TIMEOUT")) {
      return ctx.Error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
    }
  } else if (ctx.args.size() > 4) {
    return ctx.Error(err::kSyntax);
  }
  Client* target = *id >= 0 ? ctx.server.FindClient(static_cast<uint64_t>(*id)) : nullptr;
  if (!target || !target->blocked) return ctx.reply.Integer(0);
  UnblockClient(ctx.server, *target, !error);  // TIMEOUT: the reply a timeout gives
  if (error) {
    resp::ReplyWriter(&target->output, target->protocol)
        .Error("UNBLOCKED client unblocked via CLIENT UNBLOCK");
    if (ctx.server.on_output) ctx.server.on_output(target);
  }
  ctx.reply.Integer(1);
}

// CLIENT PAUSE timeout [WRITE|ALL]: for `timeout` ms, clients' commands (or those that may
// write) wait unanswered; a pause during another extends it to the longer time and the wider
// mode, as in Redis. Keys do not expire meanwhile (a failover's new master sees what the old
// one held).
void ClientPause(CommandContext& ctx) {
  if (ctx.args.size() > 4) return ctx.SubcommandSyntaxError();
  auto mode = ServerState::Pause::kAll;
  if (ctx.args.size() == 4) {
    if (ctx.Is(3, "WRITE")) {
      mode = ServerState::Pause::kWritesOnly;
    } else if (!ctx.Is(3, "ALL")) {
      return ctx.Error("ERR CLIENT PAUSE mode must be WRITE or ALL");
    }
  }
  auto ms = ctx.Int(2, "ERR timeout is not an integer or out of range");
  if (!ms) return;
  if (*ms < 0) return ctx.Error("ERR timeout is negative");
  int64_t end = *ms > LLONG_MAX - ctx.now_ms() ? LLONG_MAX : ctx.now_ms() + *ms;
  ServerState& s = ctx.server;
  if (s.Paused(ctx.now_ms())) {
    s.pause = std::max(s.pause, mode);
    s.pause_end_ms = std::max(s.pause_end_ms, end);
  } else {
    s.pause = mode;
    s.pause_end_ms = end;
  }
  ctx.reply.Ok();
}

void ClientUnpause(CommandContext& ctx) {
  ctx.server.pause = ServerState::Pause::kOff;
  ctx.reply.Ok();
}

// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p]... [BCAST] [OPTIN] [OPTOUT] [NOLOOP], with
// Redis' checks and in its order (server/command/tracking.h).
void ClientTracking(CommandContext& ctx) {
  TrackingMode mode;
  std::vector<std::string> prefixes;
  for (size_t j = 3; j < ctx.args.size(); j++) {
    bool more = j + 1 < ctx.args.size();
    if (ctx.Is(j, "REDIRECT") && more) {
      if (mode.redirect != 0) {
        return ctx.Error("ERR A client can only redirect to a single other client");
      }
      auto id = ctx.Int(++j);
      if (!id) return;
      if (*id <= 0 || !ctx.server.FindClient(static_cast<uint64_t>(*id))) {
        return ctx.Error("ERR The client ID you want redirect to does not exist");
      }
      mode.redirect = static_cast<uint64_t>(*id);
    } else if (ctx.Is(j, "BCAST")) {
      mode.bcast = true;
    } else if (ctx.Is(j, "OPTIN")) {
      mode.optin = true;
    } else if (ctx.Is(j, "OPTOUT")) {
      mode.optout = true;
    } else if (ctx.Is(j, "NOLOOP")) {
      mode.noloop = true;
    } else if (ctx.Is(j, "PREFIX") && more) {
      prefixes.push_back(ctx.args[++j]);
    } else {
      return ctx.Error(err::kSyntax);
    }
  }
  Client& c = ctx.client;
  if (ctx.Is(2, "OFF")) {
    ctx.server.tracking.Disable(c);
    return ctx.reply.Ok();
  }
  if (!ctx.Is(2, "ON")) return ctx.Error(err::kSyntax);
  if (!mode.bcast && !prefixes.empty()) {
    return ctx.Error("ERR PREFIX option requires BCAST mode to be enabled");
  }
  if (c.tracking.on && c.tracking.bcast != mode.bcast) {
    return ctx.Error(
        "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and "
        "then re-enabling it with a different mode.");
  }
  if (mode.bcast && (mode.optin || mode.optout)) {
    return ctx.Error("ERR OPTIN and OPTOUT are not compatible with BCAST");
  }
  if (mode.optin && mode.optout) {
    return ctx.Error("ERR You can't specify both OPTIN mode and OPTOUT mode");
  }
  if ((mode.optin && c.tracking.optout) || (mode.optout && c.tracking.optin)) {
    return ctx.Error(
        "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and "
        "then re-enabling it with a different mode.");
  }
  std::string error;
  if (!ctx.server.tracking.Enable(c, mode, prefixes, &error)) return ctx.Error(error);
  ctx.reply.Ok();
}

void ClientTrackingInfo(CommandContext& ctx) {
  const TrackingMode& m = ctx.client.tracking;
  std::vector<std::string_view> flags{m.on ? "on" : "off"};
  if (m.bcast) flags.push_back("bcast");
  if (m.optin) flags.push_back("optin");
  if (m.optin && m.caching) flags.push_back("caching-yes");
  if (m.optout) flags.push_back("optout");
  if (m.optout && m.caching) flags.push_back("caching-no");
  if (m.noloop) flags.push_back("noloop");
  if (m.broken_redirect) flags.push_back("broken_redirect");
  ctx.reply.Map(3);
  ctx.reply.Bulk("flags");
  ctx.reply.Set(flags.size());
  for (std::string_view f : flags) ctx.reply.Bulk(f);
  ctx.reply.Field("redirect", m.on ? static_cast<long long>(m.redirect) : -1LL);
  ctx.reply.Bulk("prefixes");
  ctx.reply.Array(m.prefixes.size());
  for (const std::string& p : m.prefixes) ctx.reply.Bulk(p);
}

void ClientGetRedir(CommandContext& ctx) {
  const TrackingMode& m = ctx.client.tracking;
  ctx.reply.Integer(m.on ? static_cast<long long>(m.redirect) : -1LL);
}

void ClientHelp(CommandContext& ctx) {
  ctx.ReplyHelp({"CACHING (YES|NO)",
                 "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
                 "GETREDIR",
                 "    Return the client ID we are redirecting to when tracking is enabled.",
                 "GETNAME",
                 "    Return the name of the current connection.",
                 "ID",
                 "    Return the ID of the current connection.",
                 "INFO",
                 "    Return information about the current client connection.",
                 "KILL <option> <value> [<option> <value> [...]]",
                 "    Kill connections (ADDR, LADDR, ID, TYPE, USER, SKIPME).",
                 "LIST [TYPE (NORMAL|MASTER|REPLICA|PUBSUB)] [ID id ...]",
                 "    Return information about client connections.",
                 "NO-EVICT (ON|OFF)",
                 "    Accepted: desaster evicts no client.",
                 "PAUSE <timeout> [WRITE|ALL]",
                 "    Suspend all, or just write, clients for <timeout> milliseconds.",
                 "REPLY (ON|OFF|SKIP)",
                 "    Control the replies sent to the current connection.",
                 "SETINFO <attr> <value>",
                 "    Set LIB-NAME or LIB-VER.",
                 "SETNAME <name>",
                 "    Assign the name <name> to the current connection.",
                 "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
                 "         [OPTIN] [OPTOUT] [NOLOOP]",
                 "    Control server assisted client side caching.",
                 "TRACKINGINFO",
                 "    Report tracking status for the current connection.",
                 "UNPAUSE",
                 "    Stop the current client pause, resuming traffic.",
                 "UNBLOCK <clientid> [TIMEOUT|ERROR]",
                 "    Unblock the specified blocked client."});
}

// CLIENT CACHING YES (OPTIN) or NO (OPTOUT): whether the next command's keys are tracked.
void ClientCaching(CommandContext& ctx) {
  TrackingMode& m = ctx.client.tracking;
  if (!m.on) {
    return ctx.Error(
        "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN "
        "or OPTOUT mode enabled");
  }
  if (ctx.Is(2, "YES")) {
    if (!m.optin) {
      return ctx.Error(
          "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.");
    }
  } else if (ctx.Is(2, "NO")) {
    if (!m.optout) {
      return ctx.Error(
          "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.");
    }
  } else {
    return ctx.Error(err::kSyntax);
  }
  m.caching = true;
  ctx.reply.Ok();
}

void ClientNoEvict(CommandContext& ctx) {
  if (!ctx.Is(2, "ON") && !ctx.Is(2, "OFF")) return ctx.Error(err::kSyntax);
  ctx.reply.Ok();
}

void ClientReply(CommandContext& ctx) {
  if (ctx.Is(2, "ON")) {
    ctx.client.reply_mode = ReplyMode::kOn;
    // The call began with replies off, so its writer discards; this answer must go out.
    resp::ReplyWriter(&ctx.client.output, ctx.client.protocol).Ok();
  } else if (ctx.Is(2, "OFF")) {
    ctx.client.reply_mode = ReplyMode::kOff;
  } else if (ctx.Is(2, "SKIP")) {
    if (ctx.client.reply_mode != ReplyMode::kOff) ctx.client.reply_mode = ReplyMode::kSkipNext;
  } else {
    ctx.Error(err::kSyntax);
  }
}

// ---- COMMAND ----

// Where a command's arguments begin in argv: after its name, and a subcommand's name too.
int FirstArgument(const CommandSpec& c) { return c.name.find('|') == std::string::npos ? 1 : 2; }

std::vector<std::string> FlagNames(const CommandSpec& c) {
  std::vector<std::string> out;
  if (c.Has(cmd::kWrite)) out.push_back("write");
  if (c.Has(cmd::kReadOnly)) out.push_back("readonly");
  if (c.Has(cmd::kDenyOom)) out.push_back("denyoom");
  if (c.Has(cmd::kAdmin)) out.push_back("admin");
  if (c.Has(cmd::kPubSub)) out.push_back("pubsub");
  if (c.Has(cmd::kNoScript)) out.push_back("noscript");
  if (c.Has(cmd::kBlocking)) out.push_back("blocking");
  if (c.Has(cmd::kFast)) out.push_back("fast");
  if (c.Has(cmd::kNoAuth)) out.push_back("no_auth");
  if (c.Has(cmd::kLoading)) out.push_back("loading");
  // Keys whose positions depend on the call (after a keyword, or counted by numkeys): the
  // legacy first/last/step cannot say where they are.
  auto searches = KeySearches(c.args, FirstArgument(c));
  if (std::any_of(searches.begin(), searches.end(),
                  [](const KeySearch& k) { return k.keynum || !k.keyword.empty(); })) {
    out.push_back("movablekeys");
  }
  return out;
}

// A command's ACL categories ("read", "string", ...), in the order ACL CAT lists them.
std::vector<std::string_view> AclCategories(const CommandSpec& c) {
  std::vector<std::string_view> out;
  for (size_t i = 0; i < std::size(category::kNames); i++) {
    if (c.categories & (uint64_t{1} << i)) out.push_back(category::kNames[i]);
  }
  return out;
}

// Redis 7's key specifications: for each key argument, how it is used and where it is.
void ReplyKeySpecs(CommandContext& ctx, const CommandSpec& c) {
  std::vector<KeySearch> searches = KeySearches(c.args, FirstArgument(c));
  auto& r = ctx.reply;
  r.Array(searches.size());
  for (size_t i = 0; i < searches.size(); i++) {
    const KeySearch& k = searches[i];
    std::vector<std::string> flags = DeclaredKeyFlags(c, i);
    r.Map(3);
    r.Bulk("flags");
    r.Set(flags.size());
    for (const auto& f : flags) r.Simple(f);
    r.Bulk("begin_search");
    r.Map(2);
    r.Field("type", k.keyword.empty() ? "index" : "keyword");
    r.Bulk("spec");
    if (k.keyword.empty()) {
      r.Map(1);
      r.Field("index", k.index);
    } else {
      r.Map(2);
      r.Field("keyword", k.keyword);
      r.Field("startfrom", k.index);
    }
    r.Bulk("find_keys");
    r.Map(2);
    r.Field("type", k.keynum ? "keynum" : "range");
    r.Bulk("spec");
    r.Map(3);
    if (k.keynum) {
      r.Field("keynumidx", k.keynumidx);
      r.Field("firstkey", k.firstkey);
      r.Field("keystep", k.keystep);
    } else {
      r.Field("lastkey", k.lastkey);
      r.Field("keystep", k.keystep);
      r.Field("limit", k.limit);
    }
  }
}

void ReplyCommandInfo(CommandContext& ctx, const CommandSpec& c) {
  ctx.reply.Array(10);
  ctx.reply.Bulk(c.name);
  ctx.reply.Integer(c.arity);
  auto flags = FlagNames(c);
  ctx.reply.Set(flags.size());
  for (const auto& f : flags) ctx.reply.Simple(f);
  ctx.reply.Integer(c.keys.first);
  ctx.reply.Integer(c.keys.last);
  ctx.reply.Integer(c.keys.step);
  auto categories = AclCategories(c);
  ctx.reply.Set(categories.size());
  for (auto category : categories) ctx.reply.Simple(std::string("@").append(category));
  ctx.reply.Set(0);  // tips
  ReplyKeySpecs(ctx, c);
  ctx.reply.Array(c.subcommands.size());
  for (const auto& sub : c.subcommands) ReplyCommandInfo(ctx, sub);
}

// One argument as COMMAND DOCS describes it (Redis 7's fields).
void ReplyArgDoc(CommandContext& ctx, const ArgSpec& a) {
  std::vector<std::string_view> flags;
  if (a.optional) flags.push_back("optional");
  if (a.multiple) flags.push_back("multiple");
  bool nested = !a.children.empty(), tokened = !a.token.empty();
  ctx.reply.Map(2 + (tokened ? 1 : 0) + (flags.empty() ? 0 : 1) + (nested ? 1 : 0));
  ctx.reply.Field("name", a.name);
  ctx.reply.Field("type", a.TypeName());
  if (tokened) ctx.reply.Field("token", a.token);
  if (!flags.empty()) {
    ctx.reply.Bulk("flags");
    ctx.reply.Set(flags.size());
    for (auto f : flags) ctx.reply.Simple(f);
  }
  if (nested) {
    ctx.reply.Bulk("arguments");
    ctx.reply.Array(a.children.size());
    for (const ArgSpec& child : a.children) ReplyArgDoc(ctx, child);
  }
}

void ReplyCommandDoc(CommandContext& ctx, const CommandSpec& c) {
  bool has_args = !c.args.empty();
  ctx.reply.Map(4 + (has_args ? 1 : 0) + (c.subcommands.empty() ? 0 : 1));
  ctx.reply.Bulk("summary");
  ctx.reply.Bulk(c.summary);
  ctx.reply.Bulk("since");
  ctx.reply.Bulk("1.0.0");
  ctx.reply.Bulk("group");
  ctx.reply.Bulk(c.group);
  ctx.reply.Bulk("complexity");
  ctx.reply.Bulk(c.Has(cmd::kFast) ? "O(1)" : "O(N)");
  if (has_args) {
    ctx.reply.Bulk("arguments");
    ctx.reply.Array(c.args.size());
    for (const ArgSpec& a : c.args) ReplyArgDoc(ctx, a);
  }
  if (c.subcommands.empty()) return;
  ctx.reply.Bulk("subcommands");
  ctx.reply.Map(c.subcommands.size());
  for (const auto& sub : c.subcommands) {
    ctx.reply.Bulk(sub.name);
    ReplyCommandDoc(ctx, sub);
  }
}

void Command(CommandContext& ctx) {
  const auto& all = ctx.server.registry.all();
  ctx.reply.Array(all.size());
  for (const auto& c : all) ReplyCommandInfo(ctx, c);
}

void CommandCount(CommandContext& ctx) {
  ctx.reply.Integer(static_cast<long long>(ctx.server.registry.all().size()));
}

// COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]: every command and
// subcommand ("config|get"), as in Redis.
void CommandList(CommandContext& ctx) {
  std::function<bool(const CommandSpec&)> keep = [](const CommandSpec&) { return true; };
  if (ctx.args.size() != 2) {
    if (ctx.args.size() != 5 || !ctx.Is(2, "FILTERBY")) return ctx.Error(err::kSyntax);
    const std::string& value = ctx.args[4];
    if (ctx.Is(3, "MODULE")) {
      keep = [](const CommandSpec&) { return false; };  // desaster loads no modules
    } else if (ctx.Is(3, "ACLCAT")) {
      keep = [&value](const CommandSpec& c) {
        auto categories = AclCategories(c);
        return std::find(categories.begin(), categories.end(), Lower(value)) != categories.end();
      };
    } else if (ctx.Is(3, "PATTERN")) {
      keep = [&value](const CommandSpec& c) { return GlobMatch(value, c.name, true); };
    } else {
      return ctx.Error(err::kSyntax);
    }
  }
  std::vector<const std::string*> names;
  for (const auto& c : ctx.server.registry.all()) {
    if (keep(c)) names.push_back(&c.name);
    for (const auto& sub : c.subcommands) {
      if (keep(sub)) names.push_back(&sub.name);
    }
  }
  ctx.reply.Array(names.size());
  for (const std::string* name : names) ctx.reply.Bulk(*name);
}

void CommandInfo(CommandContext& ctx) {
  if (ctx.args.size() == 2) return Command(ctx);
  ctx.reply.Array(ctx.args.size() - 2);
  for (size_t i = 2; i < ctx.args.size(); i++) {
    const CommandSpec* c = ctx.server.registry.Find(ctx.args[i]);
    c ? ReplyCommandInfo(ctx, *c) : ctx.reply.NullArray();
  }
}

void CommandDocs(CommandContext& ctx) {
  std::vector<const CommandSpec*> specs;
  if (ctx.args.size() == 2) {
    for (const auto& c : ctx.server.registry.all()) specs.push_back(&c);
  } else {
    for (size_t i = 2; i < ctx.args.size(); i++) {
      if (const CommandSpec* c = ctx.server.registry.Find(ctx.args[i])) specs.push_back(c);
    }
  }
  ctx.reply.Map(specs.size());
  for (const CommandSpec* c : specs) {
    ctx.reply.Bulk(c->name);
    ReplyCommandDoc(ctx, *c);
  }
}

// COMMAND GETKEYS and GETKEYSANDFLAGS: the keys of a call, and with `flags` how it uses each.
void GetKeysGeneric(CommandContext& ctx, bool flags) {
  std::vector<std::string> argv(ctx.args.begin() + 2, ctx.args.end());
  const CommandSpec* c = ctx.server.registry.Find(argv[0]);
  if (c == nullptr) return ctx.Error("ERR Invalid command specified");
  std::string error;
  const CommandSpec* spec = ResolveCommand(ctx.server, argv, &error);
  if (spec == nullptr) return ctx.Error("ERR Invalid number of arguments specified for command");
  // Whether `args` hold a key, and whether one must be there.
  std::function<bool(const std::vector<ArgSpec>&, bool)> has_keys = [&](const auto& args,
                                                                        bool required) {
    return std::any_of(args.begin(), args.end(), [&](const ArgSpec& a) {
      if (required && a.optional) return false;
      return a.type == ArgSpec::Type::kKey || has_keys(a.children, required);
    });
  };
  if (!has_keys(spec->args, false)) return ctx.Error("ERR The command has no key arguments");
  // Like Redis' key specs, the keys where they stand, whatever the options after them say; no
  // key found is an error, unless the command may have none (EVAL).
  std::vector<size_t> positions, key_args;
  int first_arg = spec == c ? 1 : 2;
  FindKeys(spec->args, argv, first_arg, &positions, &key_args);
  if (positions.empty() && has_keys(spec->args, true)) {
    return ctx.Error("ERR Invalid arguments specified for command");
  }
  // A key argument Redis finds by position whose range lies outside the call (PFMERGE with no
  // source) makes the whole call invalid to Redis, as its key specs' bounds check says.
  const int argc = static_cast<int>(argv.size());
  for (const KeySearch& k : KeySearches(spec->args, first_arg)) {
    if (!k.keyword.empty() || k.keynum) continue;
    int first = k.index;
    int last = k.lastkey >= 0 ? first + k.lastkey
               : k.limit      ? first + (argc - first) / k.limit + k.lastkey
                              : argc + k.lastkey;
    if (last >= argc || last < first || first >= argc) {
      return ctx.Error("ERR Invalid arguments specified for command");
    }
  }
  ctx.reply.Array(positions.size());
  for (size_t k = 0; k < positions.size(); k++) {
    if (!flags) {
      ctx.reply.Bulk(argv[positions[k]]);
      continue;
    }
    ctx.reply.Array(2);
    ctx.reply.Bulk(argv[positions[k]]);
    std::vector<std::string> words = CallKeyFlags(*spec, key_args[k], argv);
    ctx.reply.Set(words.size());
    for (const std::string& w : words) ctx.reply.Simple(w);
  }
}
void CommandGetKeys(CommandContext& ctx) { GetKeysGeneric(ctx, false); }
void CommandGetKeysAndFlags(CommandContext& ctx) { GetKeysGeneric(ctx, true); }

// ---- MEMORY, LOLWUT ----

// About what `v` costs the heap: its bytes and a per-element overhead of the structures that
// hold them (not measured per allocation, as Redis does not either). Containers are judged by
// their first `samples` elements (0: all), scaled to their length, as Redis samples them, so
// a MEMORY USAGE of a million-job queue does not walk the queue.
uint64_t ApproximateBytes(const Value& v, size_t samples) {
  constexpr uint64_t kValue = 48;  // the value and its dictionary entry
  if (v.type() == ValueType::kString) return kValue + v.str().size();
  size_t limit = samples == 0 ? SIZE_MAX : samples, seen = 0;
  uint64_t bytes = 0, extra = 0;
  auto add = [&](uint64_t element) {
    bytes += element;
    return ++seen < limit;  // whether to go on
  };
  switch (v.type()) {
    case ValueType::kList:
      for (const auto& e : v.list()) {
        if (!add(e.size() + 16)) break;
      }
      break;
    case ValueType::kHash:
    case ValueType::kSet: {
      // Bucket by bucket from the start of the table, until enough were seen.
      uint64_t cursor = 0;
      do {
        cursor = v.type() == ValueType::kHash
                     ? v.hash().Scan(cursor,
                                     [&](std::string_view f, const std::string& x) {
                                       add(f.size() + x.size() + 32);
                                     })
                     : v.set().Scan(cursor,
                                    [&](std::string_view m, const Unit&) { add(m.size() + 24); });
      } while (cursor != 0 && seen < limit);
      break;
    }
    case ValueType::kZSet:
      for (const auto& [score, member] : v.zset()) {
        if (!add(member.size() + 48)) break;
      }
      break;
    case ValueType::kStream:
      for (const auto& [id, fields] : v.stream().entries) {
        uint64_t entry = 48;
        for (const auto& f : fields) entry += f.size() + 8;
        if (!add(entry)) break;
      }
      for (const auto& [name, g] : v.stream().groups) {
        extra += name.size() + 64 + g.pending.size() * 64;
      }
      break;
    case ValueType::kQueue:
      v.queue()->discipline().ForEachInOrder([&](Job* job) {
        return add(job->payload.view().size() + 96);  // a job's record and its index entries
      });
      break;
    case ValueType::kString:
      break;
  }
  size_t length = v.Length();
  if (seen > 0 && length > seen) bytes = bytes / seen * length;
  return kValue + bytes + extra;
}

// MEMORY USAGE key [SAMPLES count]: 5 elements sampled by default, as in Redis; 0 for all.
void MemoryUsage(CommandContext& ctx) {
  long long samples = 5;
  if (ctx.args.size() == 5 && ctx.Is(3, "SAMPLES")) {
    auto n = ctx.Int(4);
    if (!n) return;
    if (*n < 0) return ctx.Error(err::kSyntax);
    samples = *n;
  } else if (ctx.args.size() != 3) {
    return ctx.Error(err::kSyntax);
  }
  const Value* v = ctx.db().Peek(ctx.args[2]);
  if (!v) return ctx.reply.NullBulk();
  uint64_t bytes = ApproximateBytes(*v, static_cast<size_t>(samples)) + ctx.args[2].size();
  ctx.reply.Integer(static_cast<long long>(bytes));
}

// What MEMORY STATS and MEMORY DOCTOR report: the heap, what of it is not the data (replies
// waiting in clients' buffers), and the keys. Counters only: no walk over the keys.
struct MemoryPicture {
  uint64_t allocated, rss, peak, overhead = 0, keys = 0;
  uint64_t dataset() const { return allocated > overhead ? allocated - overhead : 0; }
};

MemoryPicture Picture(CommandContext& ctx) {
  ServerState& s = ctx.server;
  MemoryPicture m{s.UsedMemory(), RssBytes(), 0};
  s.stats.used_memory_peak = std::max(s.stats.used_memory_peak, m.allocated);
  m.peak = s.stats.used_memory_peak;
  for (const auto& [id, c] : s.clients) m.overhead += c->output.capacity();
  for (int i = 0; i < ctx.keyspace().databases(); i++) m.keys += ctx.keyspace().db(i).size();
  return m;
}

void MemoryStats(CommandContext& ctx) {
  MemoryPicture m = Picture(ctx);
  auto& r = ctx.reply;
  r.Map(12);
  r.Field("peak.allocated", static_cast<long long>(m.peak));
  r.Field("total.allocated", static_cast<long long>(m.allocated));
  r.Field("startup.allocated", 0LL);
  r.Field("overhead.total", static_cast<long long>(m.overhead));
  r.Field("keys.count", static_cast<long long>(m.keys));
  r.Field("keys.bytes-per-key", static_cast<long long>(m.keys ? m.dataset() / m.keys : 0));
  r.Field("dataset.bytes", static_cast<long long>(m.dataset()));
  auto percent = [](uint64_t part, uint64_t whole) {
    return whole ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0;
  };
  r.Bulk("dataset.percentage");
  r.Double(percent(m.dataset(), m.allocated));
  r.Bulk("peak.percentage");
  r.Double(percent(m.allocated, m.peak));
  r.Field("allocator.resident", static_cast<long long>(m.rss));
  r.Bulk("fragmentation");
  r.Double(m.allocated ? static_cast<double>(m.rss) / static_cast<double>(m.allocated) : 0);
  r.Field("fragmentation.bytes",
          static_cast<long long>(m.rss) - static_cast<long long>(m.allocated));
}

void MemoryDoctor(CommandContext& ctx) {
  MemoryPicture m = Picture(ctx);
  ctx.reply.Verbatim(fmt::format(
      "desaster holds {} keys in about {} of data; the heap has {} allocated ({} at its peak) and "
      "the process {} resident. Every write is in LevelDB as well: a restart loads it from there, "
      "so memory never holds the only copy.\n",
      m.keys, HumanBytes(m.dataset()), HumanBytes(m.allocated), HumanBytes(m.peak),
      HumanBytes(m.rss)));
}

void MemoryMallocStats(CommandContext& ctx) {
  MemoryPicture m = Picture(ctx);
  ctx.reply.Verbatim(
      fmt::format("allocated: {}\nresident: {}\npeak allocated: {}\n", m.allocated, m.rss, m.peak));
}

// MEMORY PURGE: the allocator gives back what it can on its own; nothing to ask of it.
void MemoryPurge(CommandContext& ctx) { ctx.reply.Ok(); }

void MemoryHelp(CommandContext& ctx) {
  ctx.ReplyHelp({"DOCTOR", "    Return memory problems reports.", "MALLOC-STATS",
                 "    Return internal statistics report from the memory allocator.", "PURGE",
                 "    Attempt to purge dirty pages for reclamation by the allocator.", "STATS",
                 "    Return information about the memory usage of the server.",
                 "USAGE <key> [SAMPLES <count>]",
                 "    Return memory in bytes used by <key> and its value."});
}

// LOLWUT [VERSION v]: Redis draws computer art here; desaster says what it is.
void Lolwut(CommandContext& ctx) {
  // Redis takes further arguments as the art's parameters; only VERSION's number is checked.
  if (ctx.args.size() >= 3 && ctx.Is(1, "VERSION") && !ctx.Int(2)) return;
  ctx.reply.Verbatim(fmt::format(
      "desaster: a job-queue server that speaks Redis' protocol and never loses a job.\n"
      "desaster ver. {}, Redis ver. {}\n",
      kDesasterVersion, kRedisVersion));
}

// ---- MONITOR, SLOWLOG, persistence, DEBUG, SHUTDOWN ----

void Monitor(CommandContext& ctx) {
  if (ctx.client.in_multi) return ctx.Error("ERR MONITOR isn't allowed in transactions");
  if (!ctx.client.monitor) {
    ctx.client.monitor = true;
    ctx.server.monitors.push_back(&ctx.client);
  }
  ctx.reply.Ok();
}

void SlowLogGet(CommandContext& ctx) {
  if (ctx.args.size() > 3) return ctx.SubcommandSyntaxError();
  long long count = 10;
  if (ctx.args.size() == 3) {
    if (!ParseInt64(ctx.args[2], &count) || count < -1) {
      return ctx.Error("ERR count should be greater than or equal to -1");
    }
    if (count == -1) count = static_cast<long long>(ctx.server.slowlog.size());
  }
  size_t n = std::min(ctx.server.slowlog.size(), static_cast<size_t>(count));
  ctx.reply.Array(n);
  for (size_t i = 0; i < n; i++) {
    const SlowLogEntry& e = ctx.server.slowlog[i];
    ctx.reply.Array(6);
    ctx.reply.Integer(static_cast<long long>(e.id));
    ctx.reply.Integer(e.unix_s);
    ctx.reply.Integer(e.duration_us);
    ctx.reply.Array(e.argv.size());
    for (const auto& a : e.argv) ctx.reply.Bulk(a);  // cut when logged (SlowLogArguments)
    ctx.reply.Bulk(e.addr);
    ctx.reply.Bulk(e.name);
  }
}

void SlowLogLen(CommandContext& ctx) {
  ctx.reply.Integer(static_cast<long long>(ctx.server.slowlog.size()));
}

void SlowLogReset(CommandContext& ctx) {
  ctx.server.slowlog.clear();
  ctx.reply.Ok();
}

void LastSave(CommandContext& ctx) { ctx.reply.Integer(ctx.server.last_save_unix_s); }

// Every acknowledged write is already committed by the commit stage, so a snapshot has nothing
// left to make durable: SAVE and BGSAVE only record the time for LASTSAVE.
void Save(CommandContext& ctx) {
  ctx.server.last_save_unix_s = UnixMs() / 1000;
  ctx.reply.Ok();
}
void BgSave(CommandContext& ctx) {
  ctx.server.last_save_unix_s = UnixMs() / 1000;
  ctx.reply.Simple("Background saving started");
}

// DEBUG PROTOCOL type: a sample of each RESP3 type, as Redis answers it, for client tests.
void DebugProtocol(CommandContext& ctx) {
  auto& r = ctx.reply;
  const std::string& type = ctx.args[2];
  auto is = [&](const char* name) { return strcasecmp(type.c_str(), name) == 0; };
  if (is("string")) return r.Bulk("Hello World");
  if (is("integer")) return r.Integer(12345);
  if (is("double")) return r.Double(3.141);
  if (is("bignum")) return r.BigNumber("1234567999999999999999999999999999999");
  if (is("null")) return r.NullBulk();
  if (is("array") || is("set")) {
    is("array") ? r.Array(3) : r.Set(3);
    for (int j = 0; j < 3; j++) r.Integer(j);
    return;
  }
  if (is("map")) {
    r.Map(3);
    for (int j = 0; j < 3; j++) {
      r.Integer(j);
      r.Boolean(j == 1);
    }
    return;
  }
  if (is("attrib")) {
    if (r.protocol() >= 3) {
      r.Attribute(1);
      r.Bulk("key-popularity");
      r.Array(2);
      r.Bulk("key:123");
      r.Integer(90);
    }
    return r.Bulk("Some real reply following the attribute");
  }
  if (is("push")) {
    if (r.protocol() < 3) return ctx.Error("ERR RESP2 is not supported by this command");
    r.Push(2);
    r.Bulk("server-cpu-usage");
    r.Integer(42);
    return r.Bulk("Some real reply following the push reply");
  }
  if (is("true") || is("false")) return r.Boolean(is("true"));
  if (is("verbatim")) return r.Verbatim("This is a verbatim\nstring");
  ctx.Error(
      "ERR Wrong protocol type name. Please use one of the following: "
      "string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false");
}

// DEBUG METRICS-POPULATE n: the metrics a long busy life leaves, as DEBUG POPULATE makes keys
// for benchmarks: n classes (of one queue, "populated") have run in every bucket the metrics
// keep, 16 runs per bucket and resolution, their durations spread over 1 ms to a minute.
void DebugMetricsPopulate(CommandContext& ctx) {
  auto classes = ctx.OptionInt(1, 1, 1000);
  if (!classes) return;
  Metrics& metrics = ctx.db().metrics();
  int64_t now = ctx.now_ms();
  for (long long c = 0; c < *classes; c++) {
    std::string klass = "populated:" + std::to_string(c);
    for (const MetricResolution& res : kMetricResolutions) {
      for (int64_t t = now; t > now - res.kept_ms; t -= res.bucket_ms) {
        for (int64_t run = 0; run < 16; run++) {
          int64_t ms = ((t / res.bucket_ms) * 7919 + run * 104729 + c) % 60000 + 1;
          metrics.Count({.queue = "populated",
                         .klass = klass,
                         .succeeded = run != 0,
                         .duration_ms = ms,
                         .wait_ms = ms / 3},
                        t);
        }
      }
    }
  }
  ctx.reply.Ok();
}

void Debug(CommandContext& ctx) {
  if (ctx.Is(1, "SLEEP") && ctx.args.size() == 3) {
    double seconds;
    if (!ParseDouble(ctx.args[2], &seconds) || seconds < 0) return ctx.Error(err::kNotFloat);
    std::this_thread::sleep_for(std::chrono::microseconds(static_cast<long long>(seconds * 1e6)));
    return ctx.reply.Ok();
  }
  if (ctx.Is(1, "OBJECT") && ctx.args.size() == 3) {
    const Value* v = ctx.db().Find(ctx.args[2]);
    if (!v) return ctx.Error(err::kNoSuchKey);
    char buf[256];
    snprintf(buf, sizeof(buf),
             "Value at:%p refcount:1 encoding:%s serializedlength:0 lru:0 lru_seconds_idle:%lld",
             static_cast<const void*>(v), std::string(TypeName(v->type())).c_str(),
             static_cast<long long>((ctx.now_ms() - v->last_access_ms) / 1000));
    return ctx.reply.Simple(buf);
  }
  if (ctx.Is(1, "DIGEST") && ctx.args.size() == 2) {
    char hex[17];
    snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(Digest(ctx.keyspace())));
    return ctx.reply.Simple(hex);
  }
  if (ctx.Is(1, "RELOAD") && ctx.args.size() == 2) {
    if (ctx.server.read_only())
      return ctx.Error("ERR DEBUG RELOAD on a replica: the log decides its state");
    // Everything is already durable: reload memory from the store and check it is identical.
    // Timers cannot run inside a command, and a load leaves what fell due (a delayed job, a
    // lease) to them: both sides first catch up with the clock, or they would differ by that.
    ctx.keyspace().RunDueWork(SIZE_MAX, SIZE_MAX);
    uint64_t before = Digest(ctx.keyspace());
    std::string error;
    if (!ctx.server.reload || !ctx.server.reload(&error)) {
      return ctx.Error("ERR Error trying to load the data from disk: " + error);
    }
    ctx.keyspace().RunDueWork(SIZE_MAX, SIZE_MAX);
    if (Digest(ctx.keyspace()) != before) {
      return ctx.Error("ERR DEBUG RELOAD: the data loaded from disk differs from memory");
    }
    return ctx.reply.Ok();
  }
  if (ctx.Is(1, "DIGEST-VALUE")) {
    ctx.reply.Array(ctx.args.size() - 2);
    for (size_t i = 2; i < ctx.args.size(); i++) {
      const Value* v = ctx.db().Peek(ctx.args[i]);
      char hex[17];
      snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(v ? DigestOf(*v) : 0));
      ctx.reply.Simple(hex);
    }
    return;
  }
  if (ctx.Is(1, "PROTOCOL") && ctx.args.size() == 3) return DebugProtocol(ctx);
  if (ctx.Is(1, "SET-ACTIVE-EXPIRE") && ctx.args.size() == 3) {
    ctx.server.active_expire = atoi(ctx.args[2].c_str()) != 0;  // as Redis reads it
    return ctx.reply.Ok();
  }
  // Settings of Redis' own internals that tools and test suites set: nothing to change here.
  if ((ctx.Is(1, "QUICKLIST-PACKED-THRESHOLD") || ctx.Is(1, "SET-SKIP-CHECKSUM-VALIDATION")) &&
      ctx.args.size() == 3) {
    return ctx.reply.Ok();
  }
  if (ctx.Is(1, "CHANGE-REPL-ID") && ctx.args.size() == 2) return ctx.reply.Ok();
  if (ctx.Is(1, "METRICS-POPULATE") && ctx.args.size() == 3) return DebugMetricsPopulate(ctx);
  if (ctx.Is(1, "HELP")) {
    return ctx.ReplyHelp(
        {"CHANGE-REPL-ID",
         "    Accepted: desaster has no Redis replication ID.",
         "DIGEST",
         "    A fingerprint of the whole dataset.",
         "DIGEST-VALUE <key> [<key> ...]",
         "    A fingerprint of each value.",
         "METRICS-POPULATE <classes>",
         "    Count runs of <classes> classes into every metrics bucket kept, with "
         "many durations each (for benchmarks).",
         "OBJECT <key>",
         "    Show low level info about the key.",
         "PROTOCOL <type>",
         "    Reply with a sample of a RESP3 type (string, integer, double, "
         "bignum, null, array, set, map, attrib, push, verbatim, true, false).",
         "QUICKLIST-PACKED-THRESHOLD <size>",
         "    Accepted: desaster keeps no quicklists.",
         "RELOAD",
         "    Reload the dataset from disk and check it matches memory.",
         "SET-ACTIVE-EXPIRE <0|1>",
         "    Turn the active expiry of keys off or on.",
         "SET-SKIP-CHECKSUM-VALIDATION <0|1>",
         "    Accepted: RESTORE always checks.",
         "SLEEP <seconds>",
         "    Stop the server for <seconds>."});
  }
  ctx.Error("ERR unknown subcommand '" + ctx.args[1] + "'. Try DEBUG HELP.");
}

void Shutdown(CommandContext& ctx) {
  for (size_t i = 1; i < ctx.args.size(); i++) {
    if (!ctx.Is(i, "NOSAVE") && !ctx.Is(i, "SAVE") && !ctx.Is(i, "NOW") && !ctx.Is(i, "FORCE")) {
      return ctx.Error(err::kSyntax);
    }
  }
  ctx.server.shutdown_requested = true;  // the server stops after this iteration's commit
}

}  // namespace

void RegisterServerCommands(CommandRegistry* r) {
  using namespace cmd;
  uint32_t conn = kFast | kNoAuth | kLoading;
  r->Group("connection")
      .Add("ping", -1, kFast | kSubscribed | kSentinel, {}, Ping, "Ping the server")
      .Args("[message]")
      .Add("echo", 2, kFast, {}, Echo, "Echo a message")
      .Args("message")
      .Add("quit", -1, conn | kSubscribed | kNoMulti | kLocal | kSentinel, {}, Quit,
           "Close the connection")
      .Args("")
      .Add("select", 2, kFast | kLoading, {}, Select, "Select a database")
      .Args("index:integer")
      .Add("auth", -2, conn | kNoScript | kAllowBusy | kLocal | kSentinel, {}, Auth,
           "Authenticate the connection")
      .Args("[username] password")
      .Add("hello", -1, conn | kNoScript | kAllowBusy | kLocal | kSentinel, {}, Hello,
           "Handshake and choose the protocol")
      .Args("[protover:integer [AUTH username password] [SETNAME clientname]]")
      .Add("reset", 1, conn | kSubscribed | kNoMulti | kNoScript | kAllowBusy | kLocal | kSentinel,
           {}, Reset, "Reset the connection")
      .Args("")
      .Add("client", -2, kAdmin | kSentinel, {}, nullptr, "Inspect and manage client connections")
      .Sub("id", 2, kLocal | kSentinel, {}, ClientId, "This connection's id")
      .Args("")
      .Sub("setname", 3, kSentinel, {}, ClientSetName, "Name this connection")
      .Args("connection-name")
      .Sub("getname", 2, kSentinel, {}, ClientGetName, "This connection's name")
      .Args("")
      .Sub("list", -2, kAdmin | kLocal | kSentinel, {}, ClientList, "List connections")
      .Args("[TYPE (NORMAL|MASTER|REPLICA|PUBSUB)|ID client-id:integer...]")
      .Sub("info", 2, kLocal | kSentinel, {}, ClientInfo, "This connection's details")
      .Args("")
      .Sub("kill", -3, kAdmin | kLocal | kSentinel, {}, ClientKill, "Close connections")
      .Args(
          "(old-format-addr|ID client-id:integer|TYPE (NORMAL|MASTER|SLAVE|REPLICA|PUBSUB)|USER "
          "username|ADDR addr|LADDR laddr|SKIPME (YES|NO))...")
      .Sub("setinfo", 4, kFast | kLoading | kLocal | kSentinel, {}, ClientSetInfo,
           "Set client library name/version")
      .Args("(LIB-NAME|LIB-VER) value")
      .Sub("unblock", -3, kAdmin | kLocal, {}, ClientUnblock, "Unblock a blocked client")
      .Args("client-id:integer [TIMEOUT|ERROR]")
      .Sub("pause", -3, kAdmin, {}, ClientPause, "Hold clients' commands (or writes) a while")
      .Args("timeout:integer [WRITE|ALL]")
      .Sub("unpause", 2, kAdmin, {}, ClientUnpause, "End CLIENT PAUSE")
      .Args("")
      .Sub("tracking", -3, 0, {}, ClientTracking, "Client-side caching: be told of changed keys")
      .Args(
          "(ON|OFF) [REDIRECT client-id:integer] [PREFIX prefix]... [BCAST] [OPTIN] [OPTOUT] "
          "[NOLOOP]")
      .Sub("trackinginfo", 2, 0, {}, ClientTrackingInfo, "Client-side caching state")
      .Args("")
      .Sub("getredir", 2, 0, {}, ClientGetRedir,
           "Where invalidations go (-1: not tracking, 0: this client)")
      .Args("")
      .Sub("caching", 3, 0, {}, ClientCaching, "Client-side caching of the next command")
      .Args("(YES|NO)")
      .Sub("help", 2, kLoading | kLocal, {}, ClientHelp, "Show help")
      .Args("")
      .Sub("no-evict", 3, kAdmin, {}, ClientNoEvict, "Accepted for compatibility")
      .Args("(ON|OFF)")
      .Sub("reply", 3, 0, {}, ClientReply, "Turn replies on or off")
      .Args("(ON|OFF|SKIP)")
      .Group("server")
      .Add("time", 1, kFast | kLoading, {}, Time, "Server time")
      .Args("")
      .Add("role", 1, kFast | kLoading | kLocal | kSentinel, {}, Role,
           "This node's replication role")
      .Args("")
      .Categories("admin dangerous")
      .Add("failover", -1, kAdmin | kNoScript, {}, Failover,
           "Hand mastership over to another node of the cluster")
      .Args("[TO host port [FORCE]] [ABORT] [TIMEOUT milliseconds:integer]")
      .Add("cluster.status", 1, kReadOnly | kLoading | kLocal, {}, ClusterStatusCommand,
           "The cluster as this node sees it: master, nodes, etcd session, masters so far")
      .Args("")
      .Add("forwarded", -3, kFast | kNoAuth | kNoScript | kNoMulti | kLocal, {}, Forwarded,
           "A replica's connection for one of its clients (cluster mode)")
      .Args("cluster-id epoch:integer [user]")
      .Add("wait", 3, 0, {}, Wait, "Wait until replicas hold the writes acknowledged so far")
      .Args("numreplicas:integer timeout:integer")
      .Categories("connection")
      .Add("memory", -2, kReadOnly, {}, nullptr, "Memory usage of keys and of the server")
      .Sub("usage", -3, kReadOnly, {2, 2, 1}, MemoryUsage, "Bytes a key and its value take")
      .Args("key [SAMPLES count:integer]")
      .Keys("RO")
      .Sub("stats", 2, kLocal, {}, MemoryStats, "The heap and the data in it")
      .Args("")
      .Sub("doctor", 2, kLocal, {}, MemoryDoctor, "A report on memory")
      .Args("")
      .Sub("malloc-stats", 2, kLocal, {}, MemoryMallocStats, "The allocator's numbers")
      .Args("")
      .Sub("purge", 2, kLocal, {}, MemoryPurge, "Return free memory to the system")
      .Args("")
      .Sub("help", 2, kLocal, {}, MemoryHelp, "Show help")
      .Args("")
      .Add("lolwut", -1, kReadOnly | kFast, {}, Lolwut, "Say what this server is")
      .Args("[VERSION version:integer]")
      .Add("info", -1, kLoading | kLocal | kSentinel, {}, Info, "Server information and statistics")
      .Args("[section...]")
      .Categories("dangerous")
      .Add("config", -2, kAdmin, {}, nullptr, "Read and change configuration")
      .Sub("get", -3, kAdmin | kLoading | kLocal, {}, ConfigGet, "Read parameters")
      .Args("parameter:pattern...")
      .Sub("set", -4, kAdmin | kLoading | kLocal, {}, ConfigSet, "Change parameters")
      .Args("(parameter value)...")
      .Sub("resetstat", 2, kAdmin | kLoading | kLocal, {}, ConfigResetStat, "Reset statistics")
      .Args("")
      .Sub("rewrite", 2, kAdmin | kLocal, {}, ConfigRewrite, "Write the configuration file")
      .Args("")
      .Add("command", -1, kLoading | kLocal | kSentinel, {}, Command, "Describe commands")
      .Args("")
      .Categories("connection")
      .Sub("count", 2, kLoading | kLocal | kSentinel, {}, CommandCount, "Number of commands")
      .Args("")
      .Categories("connection")
      .Sub("list", -2, kLoading | kLocal | kSentinel, {}, CommandList, "Command names")
      .Args("[FILTERBY (MODULE module-name|ACLCAT category|PATTERN pattern:pattern)]")
      .Categories("connection")
      .Sub("info", -2, kLoading | kLocal | kSentinel, {}, CommandInfo, "Details of commands")
      .Args("[command-name...]")
      .Categories("connection")
      .Sub("docs", -2, kLoading | kLocal | kSentinel, {}, CommandDocs, "Documentation of commands")
      .Args("[command-name...]")
      .Categories("connection")
      .Sub("getkeys", -4, kLoading | kLocal, {}, CommandGetKeys, "Key arguments of a command")
      .Args("command arg...")
      .Categories("connection")
      .Sub("getkeysandflags", -4, kLoading | kLocal, {}, CommandGetKeysAndFlags,
           "Key arguments of a command, with how it uses each")
      .Args("command arg...")
      .Categories("connection")
      .Add("monitor", 1, kAdmin | kNoScript | kLoading | kLocal, {}, Monitor,
           "Stream every command")
      .Args("")
      .Add("slowlog", -2, kAdmin, {}, nullptr, "The slow command log")
      .Sub("get", -2, kAdmin | kLocal, {}, SlowLogGet, "Recent slow commands")
      .Args("[count:integer]")
      .Sub("len", 2, kAdmin | kLocal, {}, SlowLogLen, "Number of entries")
      .Args("")
      .Sub("reset", 2, kAdmin | kLocal, {}, SlowLogReset, "Clear the log")
      .Args("")
      .Add("lastsave", 1, kFast | kLoading | kLocal, {}, LastSave, "Time of the last save")
      .Args("")
      .Categories("admin dangerous")
      .Add("save", 1, kAdmin | kNoScript | kLocal, {}, Save,
           "Save (every write is already durable)")
      .Args("")
      .Add("bgsave", -1, kAdmin | kNoScript | kLocal, {}, BgSave, "Save in the background")
      .Args("[SCHEDULE]")
      .Add("debug", -2, kAdmin | kNoScript | kLocal | kProtected, {}, Debug, "Debugging helpers")
      .Args("(SLEEP seconds:double|OBJECT object|DIGEST|RELOAD|HELP)")
      .Add("shutdown", -1, kAdmin | kNoScript | kLoading | kNoMulti | kLocal, {}, Shutdown,
           "Stop the server")
      .Args("[NOSAVE|SAVE] [NOW] [FORCE] [ABORT]");
}

std::string ClientLine(const Client& c) {
  int64_t now = UnixMs();
  std::string flags;
  if (c.in_multi) flags += 'x';
  if (c.blocked) flags += 'b';
  if (c.tracking.on) flags += 't';
  if (c.tracking.broken_redirect) flags += 'R';
  if (c.tracking.bcast) flags += 'B';
  if (c.subscriptions() > 0) flags += 'P';
  if (c.monitor) flags += 'O';
  if (flags.empty()) flags = "N";
  // Names (of clients and users) have no bound: formatted to their full length.
  std::string line = fmt::format(
      "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub=0 "
      "multi={} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem={} "
      "tot-mem={} events=r cmd={} user={} redir={} resp={}",
      c.id, c.addr, c.laddr, c.fd, c.name, (now - c.created_ms) / 1000,
      (now - c.last_interaction_ms) / 1000, flags, c.db, c.channels.size(), c.patterns.size(),
      c.in_multi ? static_cast<long long>(c.queued.size()) : -1, c.output.size(),
      c.output.size() + 16384, c.last_command, c.user ? c.user->name : "default",
      c.tracking.on ? static_cast<long long>(c.tracking.redirect) : -1LL, c.protocol);
  if (!c.lib_name.empty() || !c.lib_ver.empty()) {
    line += " lib-name=" + c.lib_name + " lib-ver=" + c.lib_ver;
  }
  return line;
}

}  // namespace desaster
