// Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
#include "server/command/context.h"
#include "server/command/dispatch.h"
#include "server/command/registry.h"

namespace desaster {
namespace {

void Multi(CommandContext& ctx) {
  if (ctx.client.in_multi) return ctx.Error("ERR MULTI calls can not be nested");
  ctx.client.in_multi = true;
  ctx.reply.Ok();
}

void Discard(CommandContext& ctx) {
  if (!ctx.client.in_multi) return ctx.Error("ERR DISCARD without MULTI");
  DiscardTransaction(ctx.server, ctx.client);
  ctx.reply.Ok();
}

// A watched key counts as changed when it was touched, or when it expired after WATCH.
bool WatchedKeysChanged(CommandContext& ctx) {
  Client& c = ctx.client;
  if (c.watch.dirty) return true;
  for (size_t i = 0; i < c.watched.size(); i++) {
    const auto& [db, key] = c.watched[i];
    if (!c.watched_expired[i] && ctx.keyspace().db(db).HasExpired(key)) return true;
  }
  return false;
}

void Exec(CommandContext& ctx) {
  Client& c = ctx.client;
  if (!c.in_multi) return ctx.Error("ERR EXEC without MULTI");
  if (c.multi_error) {
    DiscardTransaction(ctx.server, c);
    return ctx.Error("EXECABORT Transaction discarded because of previous errors.");
  }
  if (WatchedKeysChanged(ctx)) {
    DiscardTransaction(ctx.server, c);
    return ctx.reply.NullArray();
  }
  auto queued = std::move(c.queued);
  DiscardTransaction(ctx.server, c);
  ctx.reply.Array(queued.size());
  for (const auto& argv : queued) {
    std::string error;
    const CommandSpec* spec = ResolveCommand(ctx.server, argv, &error);
    if (spec == nullptr) {
      ctx.Error(error);
      continue;
    }
    // ACL rules may have changed since the command was queued.
    if (AclDenial denial = CheckAccess(ctx.server, c, *spec, argv, "multi");
        denial != AclDenial::kNone) {
      ctx.Error(
          std::string("NOPERM ACLs rules changed between the moment the transaction was "
                      "accumulated and the EXEC call. This command is no longer allowed for the "
                      "following reason: ") +
          (denial == AclDenial::kCommand ? "no permission to execute the command or subcommand"
           : denial == AclDenial::kKey   ? "no permission to touch the specified keys"
                                         : "no permission to access one of the channels used as "
                                           "arguments"));
      continue;
    }
    CallCommand(ctx.server, c, *spec, argv, BlockMode::kNever);
  }
}

void Watch(CommandContext& ctx) {
  Client& c = ctx.client;
  if (c.in_multi) return ctx.Error("ERR WATCH inside MULTI is not allowed");
  for (size_t i = 1; i < ctx.args.size(); i++) {
    std::pair<int, std::string> k(c.db, ctx.args[i]);
    if (std::find(c.watched.begin(), c.watched.end(), k) != c.watched.end()) continue;
    ctx.keyspace().Watch(c.db, ctx.args[i], &c.watch);
    c.watched.push_back(std::move(k));
    c.watched_expired.push_back(ctx.db().HasExpired(ctx.args[i]));
  }
  ctx.reply.Ok();
}

void Unwatch(CommandContext& ctx) {
  UnwatchAll(ctx.server, ctx.client);
  ctx.reply.Ok();
}

}  // namespace

void RegisterTransactionCommands(CommandRegistry* r) {
  using namespace cmd;
  r->Group("transactions")
      .Add("multi", 1, kFast | kNoMulti | kNoScript | kAllowBusy, {}, Multi, "Start a transaction")
      .Args("")
      .Add("exec", 1, kNoMulti | kNoScript, {}, Exec, "Execute the queued commands")
      .Args("")
      .Add("discard", 1, kFast | kNoMulti | kNoScript | kAllowBusy, {}, Discard,
           "Discard the transaction")
      .Args("")
      .Add("watch", -2, kFast | kNoMulti | kNoScript | kAllowBusy, {1, -1, 1}, Watch,
           "Abort the next EXEC if these keys change")
      .Args("key...")
      .Keys("RO")
      .Add("unwatch", 1, kFast | kNoScript | kAllowBusy, {}, Unwatch, "Forget all watched keys")
      .Args("");
}

}  // namespace desaster
