// SNAPSHOT.*: a copy of this node's store for a cluster node that fell too far behind the log
// to catch up by replaying it (docs/CLUSTER.md). The copy is consistent as of one commit, holds
// its log index, and is read in pages over an ordinary connection, each page on a helper thread
// while the loop serves others; it lives as long as the connection that opened it.
#include "server/command/context.h"
#include "server/command/registry.h"

namespace desaster {
namespace {

// A page: about this many bytes of records.
constexpr size_t kPageBytes = 1 << 20;

// SNAPSHOT.OPEN cluster-id -> the log index the snapshot covers.
void SnapshotOpen(CommandContext& ctx) {
  const ClusterStatus& cluster = ctx.server.cluster;
  if (!cluster.enabled) return ctx.Error("ERR this node is not in a cluster");
  // The cluster's id is the password between nodes: only a node of the cluster knows it.
  if (ctx.args[1] != cluster.cluster_id) return ctx.Error("ERR wrong cluster id");
  std::unique_ptr<StoreSnapshot> snapshot =
      ctx.server.open_snapshot ? ctx.server.open_snapshot() : nullptr;
  if (!snapshot) return ctx.Error("ERR this node keeps no store to copy");
  ctx.reply.Integer(static_cast<long long>(snapshot->log_index()));
  ctx.server.snapshots[ctx.client.id] = std::make_unique<SnapshotCopy>(std::move(snapshot));
}

void ReplyPage(CommandContext& ctx, const SnapshotCopy::Page& records) {
  ctx.reply.Array(2 * records.size());
  for (const auto& [key, value] : records) {
    ctx.reply.Bulk(key);
    ctx.reply.Bulk(value);
  }
}

// SNAPSHOT.READ after -> key, value, key, value... following key `after` ("" at first); an
// empty array once everything was read.
void SnapshotRead(CommandContext& ctx) {
  auto it = ctx.server.snapshots.find(ctx.client.id);
  if (it == ctx.server.snapshots.end()) return ctx.Error("ERR no snapshot open: SNAPSHOT.OPEN");
  SnapshotCopy& copy = *it->second;
  const std::string& after = ctx.args[1];
  if (!copy.Reading(after)) {
    if (ctx.block_mode == BlockMode::kNever) {  // in MULTI: no waiting, read it here
      SnapshotCopy::Page records;
      copy.Take();
      copy.snapshot().Read(after, kPageBytes, &records);
      return ReplyPage(ctx, records);
    }
    copy.StartRead(after, kPageBytes, ctx.server.snapshot_page_read);
  }
  if (!copy.Ready() && ctx.block_mode != BlockMode::kNever) {
    return ctx.Block({std::string(kSnapshotKey)}, 0, TimeoutReply::kNullArray);
  }
  ReplyPage(ctx, copy.Take());
}

void SnapshotClose(CommandContext& ctx) {
  ctx.reply.Integer(ctx.server.snapshots.erase(ctx.client.id));
}

}  // namespace

void RegisterSnapshotCommands(CommandRegistry* r) {
  using namespace cmd;
  r->Group("cluster")
      .Add("snapshot.open", 2, kAdmin | kNoScript | kLocal, {}, SnapshotOpen,
           "Open a copy of this node's store for another node of the cluster")
      .Args("cluster-id")
      .Add("snapshot.read", 2, kAdmin | kNoScript | kLocal, {}, SnapshotRead,
           "Read the next page of the open snapshot")
      .Args("after")
      .Add("snapshot.close", 1, kAdmin | kNoScript | kLocal, {}, SnapshotClose,
           "Release the open snapshot")
      .Args("");
}

}  // namespace desaster
