// FUNCTION and FCALL: libraries of Lua functions, as Redis 7.0 has them. The script engine
// compiles and runs them (server/command/script_engine.h); the keyspace keeps each library's
// code, so libraries are durable and reach every cluster node like data.
#include "rdb/reader.h"
#include "rdb/writer.h"
#include "server/clock.h"
#include "server/command/context.h"
#include "server/command/dispatch.h"
#include "server/command/registry.h"
#include "server/command/script_engine.h"

namespace desaster {
namespace {

// FUNCTION LOAD's time for a library's code to register its functions, as Redis'.
constexpr int64_t kLoadTimeoutMs = 500;

void FCallGeneric(CommandContext& ctx, bool read_only) {
  ScriptEngine& engine = *ctx.server.scripts;
  const ScriptEngine::Function* f = engine.FindFunction(ctx.args[1]);
  if (f == nullptr) return ctx.Error("ERR Function not found");
  long long numkeys;
  if (!ParseInt64(ctx.args[2], &numkeys)) return ctx.Error("ERR Bad number of keys provided");
  if (numkeys > static_cast<long long>(ctx.args.size() - 3)) {
    return ctx.Error("ERR Number of keys can't be greater than number of args");
  }
  if (numkeys < 0) return ctx.Error("ERR Number of keys can't be negative");
  // What a function may do is what its flags say, checked before it runs, as Redis does.
  bool writes = !(f->flags & ScriptEngine::kNoWrites);
  if (writes && ctx.server.read_only()) {
    return ctx.Error("READONLY Can not run script with write flag on readonly replica");
  }
  if (writes && !ctx.server.write_error.empty()) {
    return ctx.Error("MISCONF Errors writing to the data directory (" + ctx.server.write_error +
                     "). Writable scripts are blocked. Use 'no-writes' flag for read only "
                     "scripts.");
  }
  if (writes && read_only) {
    return ctx.Error("ERR Can not execute a script with write flag using *_ro command.");
  }
  if (writes && !(f->flags & ScriptEngine::kAllowOom) && ctx.server.over_maxmemory) {
    return ctx.Error(
        "OOM allow-oom flag is not set on the script, can not run it when used memory > "
        "'maxmemory'");
  }
  engine.CallFunction(ctx, *f, static_cast<size_t>(numkeys), read_only);
}
void FCall(CommandContext& ctx) { FCallGeneric(ctx, false); }
void FCallRo(CommandContext& ctx) { FCallGeneric(ctx, true); }

void FunctionLoad(CommandContext& ctx) {
  bool replace = false;
  size_t code = 2;
  for (; code < ctx.args.size() - 1; code++) {
    if (!ctx.Is(code, "REPLACE")) return ctx.Error("ERR Unknown option given: " + ctx.args[code]);
    replace = true;
  }
  std::string name, error;
  ScriptEngine& engine = *ctx.server.scripts;
  if (!engine.LoadLibrary(ctx.args[code], replace, kLoadTimeoutMs, &name, &error)) {
    return ctx.Error("ERR " + error);
  }
  ctx.keyspace().SetFunctionLibrary(name, ctx.args[code]);
  ctx.reply.Bulk(name);
}

void FunctionDelete(CommandContext& ctx) {
  if (!ctx.server.scripts->DeleteLibrary(ctx.args[2])) return ctx.Error("ERR Library not found");
  ctx.keyspace().DeleteFunctionLibrary(ctx.args[2]);
  ctx.reply.Ok();
}

void FunctionFlush(CommandContext& ctx) {
  if (ctx.args.size() > 3) return ctx.SubcommandSyntaxError();
  if (ctx.args.size() == 3 && !ctx.Is(2, "ASYNC") && !ctx.Is(2, "SYNC")) {
    return ctx.Error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
  }
  ctx.server.scripts->FlushLibraries();
  ctx.keyspace().FlushFunctionLibraries();
  ctx.reply.Ok();
}

// FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE]
void FunctionList(CommandContext& ctx) {
  bool with_code = false;
  std::optional<std::string> pattern;
  for (size_t i = 2; i < ctx.args.size(); i++) {
    if (!with_code && ctx.Is(i, "WITHCODE")) {
      with_code = true;
    } else if (!pattern && ctx.Is(i, "LIBRARYNAME")) {
      if (i + 1 >= ctx.args.size()) return ctx.Error("ERR library name argument was not given");
      pattern = ctx.args[++i];
    } else {
      return ctx.Error("ERR Unknown argument " + ctx.args[i]);
    }
  }
  std::vector<const ScriptEngine::Library*> shown;
  for (const auto& [name, library] : ctx.server.scripts->libraries()) {
    if (!pattern || GlobMatch(*pattern, name, true)) shown.push_back(&library);
  }
  ctx.reply.Array(shown.size());
  for (const ScriptEngine::Library* library : shown) {
    ctx.reply.Map(with_code ? 4 : 3);
    ctx.reply.Bulk("library_name");
    ctx.reply.Bulk(library->name);
    ctx.reply.Bulk("engine");
    ctx.reply.Bulk("LUA");
    ctx.reply.Bulk("functions");
    ctx.reply.Array(library->functions.size());
    for (const ScriptEngine::Function& f : library->functions) {
      ctx.reply.Map(3);
      ctx.reply.Bulk("name");
      ctx.reply.Bulk(f.name);
      ctx.reply.Bulk("description");
      f.has_description ? ctx.reply.Bulk(f.description) : ctx.reply.NullBulk();
      ctx.reply.Bulk("flags");
      std::vector<std::string_view> flags;
      for (const auto& [flag, word] : ScriptEngine::FunctionFlagNames()) {
        if (f.flags & flag) flags.push_back(word);
      }
      ctx.reply.Set(flags.size());
      for (std::string_view word : flags) ctx.reply.Simple(word);
    }
    if (with_code) {
      ctx.reply.Bulk("library_code");
      ctx.reply.Bulk(library->code);
    }
  }
}

void FunctionDump(CommandContext& ctx) {
  std::vector<std::string_view> codes;
  for (const auto& [name, library] : ctx.server.scripts->libraries()) codes.push_back(library.code);
  ctx.reply.Bulk(rdb::EncodeFunctions(codes));
}

// FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE]
void FunctionRestore(CommandContext& ctx) {
  if (ctx.args.size() > 4) return ctx.SubcommandSyntaxError();
  using Policy = ScriptEngine::RestorePolicy;
  Policy policy = Policy::kAppend;
  if (ctx.args.size() == 4) {
    if (ctx.Is(3, "APPEND")) {
      policy = Policy::kAppend;
    } else if (ctx.Is(3, "REPLACE")) {
      policy = Policy::kReplace;
    } else if (ctx.Is(3, "FLUSH")) {
      policy = Policy::kFlush;
    } else {
      return ctx.Error(
          "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.");
    }
  }
  std::vector<std::string> codes;
  std::string error;
  ScriptEngine& engine = *ctx.server.scripts;
  if (!rdb::DecodeFunctions(ctx.args[2], &codes, &error) ||
      !engine.RestoreLibraries(codes, policy, &error)) {
    return ctx.Error("ERR " + error);
  }
  if (policy == Policy::kFlush) ctx.keyspace().FlushFunctionLibraries();
  for (const auto& [name, library] : engine.libraries()) {
    auto stored = ctx.keyspace().function_libraries().find(name);
    if (stored == ctx.keyspace().function_libraries().end() || stored->second != library.code) {
      ctx.keyspace().SetFunctionLibrary(name, library.code);
    }
  }
  ctx.reply.Ok();
}

void FunctionStats(CommandContext& ctx) {
  ScriptEngine& engine = *ctx.server.scripts;
  if (engine.running() && engine.running_function().empty()) return ctx.Error(kBusyScriptError);
  ctx.reply.Map(2);
  ctx.reply.Bulk("running_script");
  if (!engine.running()) {
    ctx.reply.NullBulk();
  } else {
    ctx.reply.Map(3);
    ctx.reply.Bulk("name");
    ctx.reply.Bulk(engine.running_function());
    ctx.reply.Bulk("command");
    const std::vector<std::string>& command = *engine.running_command();
    ctx.reply.Array(command.size());
    for (const std::string& arg : command) ctx.reply.Bulk(arg);
    ctx.reply.Field("duration_ms", MonotonicUs() / 1000 - engine.started_ms());
  }
  size_t functions = 0;
  for (const auto& [name, library] : engine.libraries()) functions += library.functions.size();
  ctx.reply.Bulk("engines");
  ctx.reply.Map(1);
  ctx.reply.Bulk("LUA");
  ctx.reply.Map(2);
  ctx.reply.Field("libraries_count", static_cast<long long>(engine.libraries().size()));
  ctx.reply.Field("functions_count", static_cast<long long>(functions));
}

void FunctionKill(CommandContext& ctx) {
  ServerState& s = ctx.server;
  if (!s.script_busy) return ctx.Error("NOTBUSY No scripts in execution right now.");
  if (s.script_wrote) {
    return ctx.Error(
        "UNKILLABLE Sorry the script already executed write commands against the dataset. You "
        "can either wait the script termination or kill the server in a hard way using the "
        "SHUTDOWN NOSAVE command.");
  }
  if (s.scripts->running_function().empty()) return ctx.Error(kBusyScriptError);
  s.script_kill_requested = true;
  ctx.reply.Ok();
}

void FunctionHelp(CommandContext& ctx) {
  ctx.ReplyHelp({"LOAD [REPLACE] <FUNCTION CODE>",
                 "    Create a new library with the given library name and code.",
                 "DELETE <LIBRARY NAME>", "    Delete the given library.",
                 "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
                 "    Return general information on all the libraries, their functions and, "
                 "with WITHCODE, their code.",
                 "STATS",
                 "    Return the function running now (its name, command and duration) and the "
                 "engines' libraries and functions.",
                 "KILL", "    Kill the current running function.", "FLUSH [ASYNC|SYNC]",
                 "    Delete all the libraries.", "DUMP",
                 "    Return a serialized payload of the libraries, for FUNCTION RESTORE.",
                 "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
                 "    Restore the libraries of a payload (default APPEND: an existing library "
                 "of the same name is an error; REPLACE replaces it; FLUSH deletes all first)."});
}

}  // namespace

void RegisterFunctionCommands(CommandRegistry* r) {
  using namespace cmd;
  r->Group("scripting")
      .Add("fcall", -3, kNoScript | kMayReplicate, {}, FCall, "Call a function")
      .Args("function numkeys:integer [key...] [arg...]")
      .Keys("RW ACCESS UPDATE")
      .Add("fcall_ro", -3, kNoScript | kReadOnly, {}, FCallRo, "Call a read-only function")
      .Args("function numkeys:integer [key...] [arg...]")
      .Add("function", -2, kNoScript, {}, nullptr, "Manage function libraries")
      .Sub("load", -3, kWrite | kDenyOom | kNoScript, {}, FunctionLoad, "Load a library")
      .Args("[REPLACE] function-code")
      .Sub("delete", 3, kWrite | kNoScript, {}, FunctionDelete, "Delete a library")
      .Args("library-name")
      .Sub("flush", -2, kWrite | kNoScript, {}, FunctionFlush, "Delete every library")
      .Args("[ASYNC|SYNC]")
      .Sub("list", -2, kNoScript, {}, FunctionList, "The libraries and their functions")
      .Args("[LIBRARYNAME library-name-pattern:pattern] [WITHCODE]")
      .Sub("dump", 2, kNoScript, {}, FunctionDump, "A payload of every library")
      .Args("")
      .Sub("restore", -3, kWrite | kDenyOom | kNoScript, {}, FunctionRestore,
           "Load the libraries of a payload")
      .Args("serialized-value [FLUSH|APPEND|REPLACE]")
      .Sub("stats", 2, kNoScript | kAllowBusy, {}, FunctionStats,
           "The running function and the libraries' counts")
      .Args("")
      .Sub("kill", 2, kNoScript | kAllowBusy, {}, FunctionKill, "Stop the running function")
      .Args("")
      .Sub("help", 2, kNoScript, {}, FunctionHelp, "Show help")
      .Args("");
}

}  // namespace desaster
