// Runs commands for clients: validation (unknown command, arity, auth, state), MULTI queueing,
// the call itself with statistics, slow log and MONITOR feed, and serving blocked clients.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "server/command/client.h"
#include "server/command/context.h"
#include "server/command/server_state.h"

namespace desaster {

// Finds the command (or subcommand) for argv and checks its arity. On failure returns nullptr
// with Redis' error text in *error.
const CommandSpec* ResolveCommand(const ServerState& server, const std::vector<std::string>& argv,
                                  std::string* error);

// A write sent to a cluster replica, as Redis answers it: clients take it as a sign to look
// for the master.
inline constexpr const char* kReadOnlyError =
    "READONLY You can't write against a read only replica.";
inline constexpr const char* kOomError = "OOM command not allowed when used memory > 'maxmemory'.";
// What other clients get while a script (EVAL) or a function (FCALL) runs past lua-time-limit.
inline constexpr const char* kBusyScriptError =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
inline constexpr const char* kBusyFunctionError =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

// Starts loading the keyspace entries that the complete requests at the start of `input` (a
// client's unparsed input) will look up: the second argument of each, the key of most commands.
// Changes nothing; does nothing while the client's database is small enough to stay in the cache.
void PrefetchKeys(const ServerState& server, const Client& client, std::string_view input);

// Processes one command a client sent. Replies go to client.output.
void ProcessCommand(ServerState& server, Client& client, const std::vector<std::string>& argv);

// Executes an already resolved command; returns true when the client blocked.
bool CallCommand(ServerState& server, Client& client, const CommandSpec& spec,
                 const std::vector<std::string>& argv, BlockMode mode);

// Re-runs clients blocked on keys that changed, oldest first, until no key is ready.
void ServeReadyKeys(ServerState& server);

// Ends a client's block: with its timeout reply when `timed_out`, silently otherwise.
void UnblockClient(ServerState& server, Client& client, bool timed_out);

// Delivers `message` on `channel` to this node's subscribers; returns how many received it.
long long PublishMessage(ServerState& server, const std::string& channel,
                         const std::string& message);

// Drops a disconnecting client from every registry (blocking, WATCH, pub/sub, MONITOR).
void ForgetClient(ServerState& server, Client& client);

// The client's line in CLIENT LIST and CLIENT INFO (and ACL LOG entries), without its newline.
std::string ClientLine(const Client& c);

// Whether the client's ACL user may run `argv` as `spec`; a refusal is recorded in ACL LOG
// under `context` ("toplevel", "multi", "lua"), with `caller`'s client line (a script's
// caller; the client itself when nullptr).
AclDenial CheckAccess(ServerState& server, const Client& client, const CommandSpec& spec,
                      const std::vector<std::string>& argv, std::string_view context,
                      const Client* caller = nullptr);

// Removes every WATCH of a client.
void UnwatchAll(ServerState& server, Client& client);
// Ends the client's transaction: its queued commands and watched keys are forgotten.
void DiscardTransaction(ServerState& server, Client& client);

}  // namespace desaster
