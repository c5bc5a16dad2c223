// SENTINEL: Redis Sentinel's answers about the one master it watches, the cluster's (named as
// the cluster), taken from what this node knows through etcd: the leader key, the nodes'
// registrations. Client libraries' own Sentinel support then finds the master unchanged. The
// fields and their order are Redis Sentinel's; numbers are bulk strings, as it sends them.
#include "server/clock.h"
#include "server/command/context.h"
#include "server/command/registry.h"

namespace desaster {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

void ReplyFields(CommandContext& ctx, const Fields& fields) {
  ctx.reply.Map(fields.size());
  for (const auto& [name, value] : fields) ctx.reply.Field(name, value);
}

// The master Sentinel names: the current one, or while an election runs the last one known
// (down), as a Sentinel names the old master until a failover ends. Empty: none ever known.
std::string MasterAddress(const ClusterStatus& c) {
  return c.master_addr.empty() ? c.last_master_addr : c.master_addr;
}

// Fields every instance starts with: the link a Sentinel keeps to it is always fresh here, as
// the node learns of changes through etcd's watch, not by pinging.
Fields InstanceFields(const ServerState& s, const std::string& name, const std::string& address,
                      const std::string& runid, const std::string& flags) {
  auto [host, port] = SplitAddress(address);
  int64_t down_after_ms = s.options.cluster_lease_ttl * 1000LL;
  return {{"name", name},
          {"ip", host},
          {"port", port},
          {"runid", runid},
          {"flags", flags},
          {"link-pending-commands", "0"},
          {"link-refcount", "1"},
          {"last-ping-sent", "0"},
          {"last-ok-ping-reply", "0"},
          {"last-ping-reply", "0"},
          {"down-after-milliseconds", std::to_string(down_after_ms)}};
}

// The cluster's replicas: every live node but the master, this one included.
std::vector<std::pair<std::string, const ClusterStatus::Peer*>> Replicas(const ClusterStatus& c) {
  std::vector<std::pair<std::string, const ClusterStatus::Peer*>> out;
  if (c.node_id != c.master_id) out.emplace_back(c.node_id, nullptr);
  for (const auto& [id, peer] : c.peers) {
    if (id != c.master_id) out.emplace_back(id, &peer);
  }
  return out;
}

// The other sentinels: the other live nodes that answer on a sentinel port.
size_t OtherSentinels(const ClusterStatus& c) {
  size_t n = 0;
  for (const auto& [id, peer] : c.peers) n += peer.sentinel.empty() ? 0 : 1;
  return n;
}

void ReplyMaster(CommandContext& ctx) {
  const ServerState& s = ctx.server;
  const ClusterStatus& c = s.cluster;
  bool down = c.master_addr.empty();
  Fields f = InstanceFields(s, c.name, MasterAddress(c), c.master_id,
                            down ? "s_down,o_down,master" : "master");
  int64_t now = UnixMs();
  size_t sentinels = OtherSentinels(c);
  f.insert(f.end(), {{"info-refresh", "0"},
                     {"role-reported", "master"},
                     {"role-reported-time", std::to_string(down ? 0 : now - c.master_since_ms)},
                     {"config-epoch", std::to_string(c.epoch)},
                     {"num-slaves", std::to_string(Replicas(c).size())},
                     {"num-other-sentinels", std::to_string(sentinels)},
                     {"quorum", std::to_string((sentinels + 1) / 2 + 1)},
                     {"failover-timeout", std::to_string(s.options.cluster_lease_ttl * 3000LL)},
                     {"parallel-syncs", "1"}});
  ReplyFields(ctx, f);
}

// True when `name` is the cluster's; otherwise replies as Sentinel does to an unknown name.
bool KnownMaster(CommandContext& ctx, const std::string& name) {
  const ClusterStatus& c = ctx.server.cluster;
  if (c.enabled && name == c.name && !MasterAddress(c).empty()) return true;
  ctx.Error("ERR No such master with that name");
  return false;
}

void SentinelMasters(CommandContext& ctx) {
  const ClusterStatus& c = ctx.server.cluster;
  if (!c.enabled || MasterAddress(c).empty()) return ctx.reply.Array(0);
  ctx.reply.Array(1);
  ReplyMaster(ctx);
}

void SentinelMaster(CommandContext& ctx) {
  if (KnownMaster(ctx, ctx.args[2])) ReplyMaster(ctx);
}

void SentinelGetMasterAddrByName(CommandContext& ctx) {
  const ClusterStatus& c = ctx.server.cluster;
  if (!c.enabled || ctx.args[2] != c.name || MasterAddress(c).empty()) {
    return ctx.reply.NullArray();
  }
  auto [host, port] = SplitAddress(MasterAddress(c));
  ctx.reply.Array(2);
  ctx.reply.Bulk(host);
  ctx.reply.Bulk(port);
}

void SentinelReplicas(CommandContext& ctx) {
  if (!KnownMaster(ctx, ctx.args[2])) return;
  const ServerState& s = ctx.server;
  const ClusterStatus& c = s.cluster;
  auto [master_host, master_port] = SplitAddress(MasterAddress(c));
  auto replicas = Replicas(c);
  ctx.reply.Array(replicas.size());
  for (const auto& [id, peer] : replicas) {
    // This node is not among its peers: its own address is the advertised one.
    const std::string& address = peer ? peer->addr : c.advertise;
    uint64_t applied = peer ? peer->applied : c.applied;
    Fields f = InstanceFields(s, address, address, id, "slave");
    f.insert(f.end(), {{"info-refresh", "0"},
                       {"role-reported", "slave"},
                       {"role-reported-time", "0"},
                       {"master-link-down-time", "0"},
                       {"master-link-status", c.master_addr.empty() ? "err" : "ok"},
                       {"master-host", master_host},
                       {"master-port", master_port},
                       {"slave-priority", "100"},
                       {"slave-repl-offset", std::to_string(applied)},
                       {"replica-announced", "1"}});
    ReplyFields(ctx, f);
  }
}

void SentinelSentinels(CommandContext& ctx) {
  if (!KnownMaster(ctx, ctx.args[2])) return;
  const ClusterStatus& c = ctx.server.cluster;
  ctx.reply.Array(OtherSentinels(c));
  for (const auto& [id, peer] : c.peers) {
    if (peer.sentinel.empty()) continue;
    Fields f = InstanceFields(ctx.server, id, peer.sentinel, id, "sentinel");
    f.insert(f.end(),
             {{"last-hello-message", "0"}, {"voted-leader", "?"}, {"voted-leader-epoch", "0"}});
    ReplyFields(ctx, f);
  }
}

void SentinelMyId(CommandContext& ctx) { ctx.reply.Bulk(ctx.server.cluster.node_id); }

void SentinelHelp(CommandContext& ctx) {
  ctx.ReplyHelp({"GET-MASTER-ADDR-BY-NAME <master-name>",
                 "    Return the ip and port number of the master with that name.",
                 "MASTER <master-name>", "    Show the state and info of the specified master.",
                 "MASTERS", "    Show a list of monitored masters and their state.", "MYID",
                 "    Return the ID of the Sentinel instance.", "REPLICAS <master-name>",
                 "    Show a list of replicas for this master and their state.",
                 "SENTINELS <master-name>",
                 "    Show a list of Sentinel instances for this master and their state.",
                 "The master is the cluster's, named as the cluster."});
}

}  // namespace

void RegisterSentinelCommands(CommandRegistry* r) {
  using namespace cmd;
  uint32_t flags = kAdmin | kLoading | kLocal | kSentinel | kNoScript;
  r->Group("sentinel")
      .Add("sentinel", -2, flags, {}, nullptr, "Redis Sentinel's view of the cluster's master")
      .Sub("masters", 2, flags, {}, SentinelMasters, "The master, with its state")
      .Args("")
      .Sub("master", 3, flags, {}, SentinelMaster, "The master's state")
      .Args("master-name")
      .Sub("get-master-addr-by-name", 3, flags, {}, SentinelGetMasterAddrByName,
           "The master's address")
      .Args("master-name")
      .Sub("replicas", 3, flags, {}, SentinelReplicas, "The master's replicas")
      .Args("master-name")
      .Sub("slaves", 3, flags, {}, SentinelReplicas, "The master's replicas (old name)")
      .Args("master-name")
      .Sub("sentinels", 3, flags, {}, SentinelSentinels, "The other nodes' sentinel ports")
      .Args("master-name")
      .Sub("myid", 2, flags, {}, SentinelMyId, "This node's id")
      .Args("")
      .Sub("help", 2, flags, {}, SentinelHelp, "Show helpful text")
      .Args("");
}

}  // namespace desaster
