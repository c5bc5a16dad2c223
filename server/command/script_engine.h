// Lua scripting as Redis 7.0 does it: one Lua 5.1 interpreter for the server, scripts cached by
// their SHA1, redis.call/redis.pcall running commands through the normal command path (so a
// script's writes are recorded as their effects, never re-run on recovery), and Redis' rules
// for converting replies between RESP and Lua.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

struct lua_State;
struct lua_Debug;

namespace desaster {

class CommandContext;
class ServerState;
struct Client;

class ScriptEngine {
 public:
  explicit ScriptEngine(ServerState* server);
  ~ScriptEngine();
  ScriptEngine(const ScriptEngine&) = delete;
  ScriptEngine& operator=(const ScriptEngine&) = delete;

  // Compiles `body` and caches it under its SHA1 (lower-case hex). False with *error (Redis'
  // text) when it does not compile.
  bool Load(std::string_view body, std::string* sha, std::string* error);
  bool Exists(std::string_view sha) const;
  void Flush();

  // Runs the cached script `sha` for the calling command (EVAL/EVALSHA and their _RO forms):
  // KEYS and ARGV from the arguments, the result converted to the caller's protocol.
  void Run(CommandContext& ctx, const std::string& sha, size_t numkeys, size_t first_key,
           bool read_only);

 private:
  static int Call(lua_State* L);
  static int PCall(lua_State* L);
  static int CallGeneric(lua_State* L, bool raise);
  static int SetResp(lua_State* L);
  // Runs one redis.call/pcall with the arguments on the Lua stack: leaves the command's reply in
  // call_reply_, or a refusal in call_error_. Makes no Lua value, so it cannot raise.
  void RunCommand(lua_State* L);
  // Runs every kHookInstructions instructions: past lua-time-limit it lets other clients in
  // (they get -BUSY), and it stops the script when SCRIPT KILL asked to.
  static void BusyHook(lua_State* L, lua_Debug* ar);
  // Raises the kill error in the script's own code, and makes every later line and instruction
  // raise it again, so no pcall or coroutine can catch it for good.
  void StopKilledScript(lua_State* L, lua_Debug* ar);
  // Lua's allocator: counts the state's bytes and refuses growth past lua-memory-limit.
  static void* Allocate(void* engine, void* block, size_t old_size, size_t new_size);

  ServerState* server_;
  lua_State* lua_ = nullptr;
  std::unordered_map<std::string, int> scripts_;  // sha -> registry reference of the function
  const Client* caller_ = nullptr;  // the client running the script: its line goes to ACL LOG
  bool read_only_ = false;          // the running script came from EVAL_RO/EVALSHA_RO
  int script_resp_ = 2;             // what redis.setresp chose for the running script
  bool killing_ = false;            // SCRIPT KILL stops the running script
  std::unique_ptr<Client> script_client_;  // the client redis.call runs commands as
  std::vector<std::string> call_argv_;     // RunCommand's arguments, reply and refusal:
  std::string call_reply_, call_error_;    // here so that a Lua error leaks none of them
  int64_t started_ms_ = 0;                 // when the running script started (monotonic)
  size_t mutations_before_ = 0;            // pending mutations when it started
  std::string running_sha_;
  size_t lua_bytes_ = 0;  // what the Lua state holds now
};

}  // namespace desaster
