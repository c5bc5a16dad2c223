// Scripting commands: EVAL, EVALSHA (and _RO forms), SCRIPT.
#include "server/command/context.h"
#include "server/command/dispatch.h"
#include "server/command/registry.h"
#include "server/command/script_engine.h"

namespace desaster {
namespace {

std::optional<size_t> NumKeys(CommandContext& ctx) {
  long long n;
  if (!ParseInt64(ctx.args[2], &n)) {
    ctx.Error(err::kNotInteger);
    return std::nullopt;
  }
  if (n < 0) {
    ctx.Error("ERR Number of keys can't be negative");
    return std::nullopt;
  }
  if (static_cast<unsigned long long>(n) > ctx.args.size() - 3) {
    ctx.Error("ERR Number of keys can't be greater than number of args");
    return std::nullopt;
  }
  return static_cast<size_t>(n);
}

void EvalGeneric(CommandContext& ctx, bool by_sha, bool read_only) {
  auto numkeys = NumKeys(ctx);
  if (!numkeys) return;
  ScriptEngine& engine = *ctx.server.scripts;
  std::string sha;
  if (by_sha) {
    sha = Lower(ctx.args[1]);
    if (!engine.Exists(sha)) return ctx.Error("NOSCRIPT No matching script. Please use EVAL.");
  } else {
    std::string error;
    if (!engine.Load(ctx.args[1], &sha, &error)) return ctx.Error(error);
  }
  engine.Run(ctx, sha, *numkeys, 3, read_only);
}
void Eval(CommandContext& ctx) { EvalGeneric(ctx, false, false); }
void EvalSha(CommandContext& ctx) { EvalGeneric(ctx, true, false); }
void EvalRo(CommandContext& ctx) { EvalGeneric(ctx, false, true); }
void EvalShaRo(CommandContext& ctx) { EvalGeneric(ctx, true, true); }

void ScriptLoad(CommandContext& ctx) {
  std::string sha, error;
  if (!ctx.server.scripts->Load(ctx.args[2], &sha, &error)) return ctx.Error(error);
  ctx.reply.Bulk(sha);
}

void ScriptExists(CommandContext& ctx) {
  ctx.reply.Array(ctx.args.size() - 2);
  for (size_t i = 2; i < ctx.args.size(); i++) {
    ctx.reply.Integer(ctx.server.scripts->Exists(Lower(ctx.args[i])) ? 1 : 0);
  }
}

void ScriptFlush(CommandContext& ctx) {
  if (ctx.args.size() > 3 || (ctx.args.size() == 3 && !ctx.Is(2, "ASYNC") && !ctx.Is(2, "SYNC"))) {
    return ctx.Error("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
  }
  ctx.server.scripts->Flush();
  ctx.reply.Ok();
}

void ScriptKill(CommandContext& ctx) {
  ServerState& s = ctx.server;
  if (!s.script_busy) return ctx.Error("NOTBUSY No scripts in execution right now.");
  if (s.script_wrote) {
    return ctx.Error(
        "UNKILLABLE Sorry the script already executed write commands against the dataset. You "
        "can either wait the script termination or kill the server in a hard way using the "
        "SHUTDOWN NOSAVE command.");
  }
  if (!s.scripts->running_function().empty()) return ctx.Error(kBusyFunctionError);
  s.script_kill_requested = true;
  ctx.reply.Ok();
}

void ScriptHelp(CommandContext& ctx) {
  ctx.ReplyHelp({"EXISTS <sha1> [<sha1> ...]", "    Return information about a script's existence.",
                 "FLUSH [ASYNC|SYNC]", "    Flush the Lua scripts cache.", "KILL",
                 "    Kill the currently executing Lua script.", "LOAD <script>",
                 "    Load a script into the scripts cache without executing it."});
}

}  // namespace

void RegisterScriptingCommands(CommandRegistry* r) {
  using namespace cmd;
  r->Group("scripting")
      .Add("eval", -3, kNoScript | kMayReplicate, {}, Eval, "Run a Lua script")
      .Args("script numkeys:integer [key...] [arg...]")
      .Keys("RW ACCESS UPDATE")
      .Add("evalsha", -3, kNoScript | kMayReplicate, {}, EvalSha,
           "Run a cached Lua script by its SHA1")
      .Args("sha1 numkeys:integer [key...] [arg...]")
      .Keys("RW ACCESS UPDATE")
      .Add("eval_ro", -3, kNoScript | kReadOnly, {}, EvalRo, "Run a read-only Lua script")
      .Args("script numkeys:integer [key...] [arg...]")
      .Add("evalsha_ro", -3, kNoScript | kReadOnly, {}, EvalShaRo,
           "Run a cached read-only Lua script")
      .Args("sha1 numkeys:integer [key...] [arg...]")
      .Add("script", -2, kNoScript, {}, nullptr, "Manage the script cache")
      .Sub("load", 3, kNoScript, {}, ScriptLoad, "Cache a script")
      .Args("script")
      .Sub("exists", -3, kNoScript, {}, ScriptExists, "Whether scripts are cached")
      .Args("sha1...")
      .Sub("flush", -2, kNoScript, {}, ScriptFlush, "Empty the script cache")
      .Args("[ASYNC|SYNC]")
      .Sub("kill", 2, kNoScript | kAllowBusy, {}, ScriptKill, "Stop the running script")
      .Args("")
      .Sub("help", 2, kNoScript, {}, ScriptHelp, "Show help")
      .Args("");
}

}  // namespace desaster
