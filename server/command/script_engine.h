// Lua scripting as Redis 7.0 does it: one Lua 5.1 interpreter for the server, scripts cached by
// their SHA1, redis.call/redis.pcall running commands through the normal command path (so a
// script's writes are recorded as their effects, never re-run on recovery), and Redis' rules
// for converting replies between RESP and Lua. Also FUNCTION's libraries: named functions a
// library's code registers when it loads, called by FCALL.
#pragma once

#include <cstdint>
#include <map>
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

  // ---- Functions ----

  // A function's flags, as redis.register_function takes them (Redis' script flags).
  enum FunctionFlag : uint32_t {
    kNoWrites = 1 << 0,
    kAllowOom = 1 << 1,
    kAllowStale = 1 << 2,
    kNoCluster = 1 << 3,
    kAllowCrossSlot = 1 << 4,
  };
  // Each flag's name, in Redis' order (FUNCTION LIST).
  static const std::vector<std::pair<FunctionFlag, std::string_view>>& FunctionFlagNames();
  struct Function {
    std::string name;
    std::string description;
    bool has_description = false;
    uint32_t flags = 0;
    int ref = -2;  // the callback, in the Lua registry (LUA_NOREF while none)
  };
  struct Library {
    std::string name;
    std::string code;  // as loaded: the "#!lua name=..." line, then the Lua code
    std::vector<Function> functions;
  };

  // FUNCTION LOAD: compiles `code` (a "#!lua name=<library>" line, then Lua that registers
  // functions with redis.register_function) and runs it, with `timeout_ms` (0: none) to
  // register. With `replace` a library of the same name is replaced. On success *name is the
  // library's; else *error says why, in Redis' words, and nothing changed.
  bool LoadLibrary(std::string_view code, bool replace, int64_t timeout_ms, std::string* name,
                   std::string* error);
  // FUNCTION RESTORE: libraries from `codes`, all or none: added (kAppend: an existing name is
  // an error), replacing those of the same name (kReplace), or instead of all (kFlush).
  enum class RestorePolicy { kAppend, kReplace, kFlush };
  bool RestoreLibraries(const std::vector<std::string>& codes, RestorePolicy policy,
                        std::string* error);
  bool DeleteLibrary(std::string_view name);
  void FlushLibraries();
  // Compiles what the store or the master holds, replacing whatever was loaded; a library that
  // does not load here is left out, and said so in the log.
  void AdoptLibraries(const std::map<std::string, std::string>& libraries);
  const std::map<std::string, Library>& libraries() const { return libraries_; }
  // The function called `name`, or nullptr.
  const Function* FindFunction(std::string_view name) const;
  // Runs `f` for FCALL/FCALL_RO: keys are args[3, 3 + numkeys), the rest its arguments.
  void CallFunction(CommandContext& ctx, const Function& f, size_t numkeys, bool read_only);

  // What runs now (FUNCTION STATS, the BUSY errors): a function's name, or "" for an EVAL
  // script or nothing; the command that called it and since when (monotonic ms).
  bool running() const { return caller_ != nullptr; }
  std::string_view running_function() const {
    return running_is_function_ ? std::string_view(running_name_) : std::string_view();
  }
  const std::vector<std::string>* running_command() const { return running_command_; }
  int64_t started_ms() const { return started_ms_; }

 private:
  static int Call(lua_State* L);
  static int PCall(lua_State* L);
  static int CallGeneric(lua_State* L, bool raise);
  static int SetResp(lua_State* L);
  static int RegisterFunction(lua_State* L);
  // Reads redis.register_function's arguments into registering_ (an error into register_error_).
  void ReadRegistration(lua_State* L);
  // Compiles library code and runs it to register its functions into *out; false with *error.
  bool CompileLibrary(std::string_view body, int64_t timeout_ms, Library* out, std::string* error);
  void Release(Library& library);
  // Parses and compiles `code` as FUNCTION LOAD checks it, but installs nothing: the name of
  // a loaded library is an error unless `replace`.
  bool PrepareLibrary(std::string_view code, bool replace, int64_t timeout_ms, Library* out,
                      std::string* error);
  // Installs `incoming` by `policy`; fails (installing nothing, releasing `incoming`) when a
  // library (kAppend) or a function name would be taken twice.
  bool Install(std::vector<Library> incoming, RestorePolicy policy, std::string* error);
  // Runs `ref` for EVAL (`name`: its sha) or FCALL (`function`: the function's name).
  void Execute(CommandContext& ctx, int ref, std::string_view name, bool function, size_t numkeys,
               size_t first_key, bool read_only);
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
  std::string running_name_;               // the running script's sha, or function's name
  bool running_is_function_ = false;
  const std::vector<std::string>* running_command_ = nullptr;
  std::map<std::string, Library> libraries_;
  std::unordered_map<std::string, std::pair<std::string, size_t>> functions_;  // name -> where
  Library* loading_ = nullptr;    // the library whose code runs to register its functions
  int64_t load_deadline_ms_ = 0;  // when it must be done (0: never)
  Function registering_;          // redis.register_function's arguments, as read so far
  std::string register_error_;
  size_t lua_bytes_ = 0;  // what the Lua state holds now
};

}  // namespace desaster
