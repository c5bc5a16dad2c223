#include "server/command/script_engine.h"

extern "C" {
#include <lauxlib.h>
#include <lua-bitop.h>
#include <lua-cjson.h>
#include <lua.h>
#include <lualib.h>
}
#include <openssl/evp.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "server/clock.h"
#include "server/command/context.h"
#include "server/command/dispatch.h"
#include "server/command/lua_cmsgpack.h"
#include "server/command/lua_struct.h"
#include "server/log.h"

namespace desaster {
namespace {

constexpr const char* kEngineKey = "desaster.engine";

// Run once at start: the error handler that turns any error into {err=, source=, line=}, and
// the read-only environment scripts run in, both as Redis 7.0.15 has them.
constexpr const char* kPrelude = R"lua(
local dbg = debug
__redis__err__handler = function(err)
  -- Report the innermost frame of the user's script, past redis.call and the protections.
  local level, i = 2, nil
  while true do
    local f = dbg.getinfo(level, 'nSl')
    if not f then break end
    if f.source == '@user_script' then i = f break end
    level = level + 1
  end
  if type(err) ~= 'table' then err = {err = 'ERR ' .. tostring(err)} end
  if i then
    err['source'] = i.source
    err['line'] = i.currentline
  end
  return err
end
redis.error_reply = function(e)
  if type(e) ~= 'string' then error('wrong number or type of arguments') end
  if string.sub(e, 1, 1) == '-' then e = string.sub(e, 2) end
  return {err = e}
end
redis.status_reply = function(s)
  if type(s) ~= 'string' then error('wrong number or type of arguments') end
  return {ok = s}
end
-- Scripts run in an empty, read-only environment that falls through to the real globals, so
-- no script can define, replace or remove a global; the libraries are read-only too.
local function readonly(t)
  return setmetatable({}, {
    __index = t,
    __newindex = function() error('Attempt to modify a readonly table', 2) end,
    __metatable = false,
  })
end
local globals = _G
for _, name in ipairs({'redis', 'cjson', 'cmsgpack', 'struct', 'bit', 'string', 'table', 'math'}) do
  globals[name] = readonly(globals[name])
end
__redis__script_env = setmetatable({}, {
  __index = function(_, n)
    local v = rawget(globals, n)
    if v == nil then
      error("Script attempted to access nonexistent global variable '" .. tostring(n) .. "'", 2)
    end
    return v
  end,
  __newindex = function() error('Attempt to modify a readonly table', 2) end,
  __metatable = false,
})
)lua";

ScriptEngine* EngineOf(lua_State* L) {
  lua_getfield(L, LUA_REGISTRYINDEX, kEngineKey);
  auto* engine = static_cast<ScriptEngine*>(lua_touserdata(L, -1));
  lua_pop(L, 1);
  return engine;
}

void OpenLibrary(lua_State* L, lua_CFunction open, const char* name) {
  lua_pushcfunction(L, open);
  lua_pushstring(L, name);
  lua_call(L, 1, 0);
}

// Pushes {err = msg} (msg without a leading '-', with "ERR " when it has no code).
void PushErrorTable(lua_State* L, std::string msg) {
  if (!msg.empty() && msg[0] == '-') {
    msg.erase(0, 1);
  } else {
    size_t sp = msg.find(' ');
    bool has_code = sp != std::string::npos && sp > 0;
    for (size_t i = 0; has_code && i < sp; i++) has_code = msg[i] >= 'A' && msg[i] <= 'Z';
    if (!has_code) msg = "ERR " + msg;
  }
  lua_newtable(L);
  lua_pushlstring(L, msg.data(), msg.size());
  lua_setfield(L, -2, "err");
}

// Converts one RESP reply at `data[*pos]` to a Lua value on the stack (Redis' rules).
void PushReply(lua_State* L, const std::string& data, size_t* pos) {
  size_t eol = data.find("\r\n", *pos);
  char type = data[*pos];
  std::string line = data.substr(*pos + 1, eol - *pos - 1);
  *pos = eol + 2;
  auto count = [&] { return strtoll(line.c_str(), nullptr, 10); };
  switch (type) {
    case ':':
      lua_pushnumber(L, static_cast<lua_Number>(count()));
      return;
    case '+':
      lua_newtable(L);
      lua_pushlstring(L, line.data(), line.size());
      lua_setfield(L, -2, "ok");
      return;
    case '-':
      PushErrorTable(L, "-" + line);
      return;
    case '$':
    case '=': {
      long long n = count();
      if (n < 0) return lua_pushboolean(L, 0);
      size_t start = *pos, len = static_cast<size_t>(n);
      if (type == '=') start += 4, len -= 4;  // "txt:"
      lua_pushlstring(L, data.data() + start, len);
      *pos += static_cast<size_t>(n) + 2;
      return;
    }
    case '*':
    case '>': {
      long long n = count();
      if (n < 0) return lua_pushboolean(L, 0);
      lua_createtable(L, static_cast<int>(n), 0);
      for (long long i = 1; i <= n; i++) {
        PushReply(L, data, pos);
        lua_rawseti(L, -2, static_cast<int>(i));
      }
      return;
    }
    case '%':
    case '~': {  // RESP3 map / set: {map = {k = v}} / {set = {member = true}}
      long long n = count();
      lua_newtable(L);
      lua_newtable(L);
      for (long long i = 0; i < n; i++) {
        PushReply(L, data, pos);
        if (type == '%') {
          PushReply(L, data, pos);
        } else {
          lua_pushboolean(L, 1);
        }
        lua_settable(L, -3);
      }
      lua_setfield(L, -2, type == '%' ? "map" : "set");
      return;
    }
    case ',':
      lua_newtable(L);
      lua_pushnumber(L, strtod(line.c_str(), nullptr));
      lua_setfield(L, -2, "double");
      return;
    case '#':
      lua_pushboolean(L, line == "t");
      return;
    case '_':
      lua_pushnil(L);
      return;
  }
  lua_pushnil(L);
}

// Writes the Lua value at the top of the stack as a reply (Redis' Lua -> RESP rules). Booleans
// follow the protocol the script chose with redis.setresp (`script_resp`), not the client's.
void WriteLuaValue(lua_State* L, resp::ReplyWriter& w, int script_resp, int depth = 0) {
  switch (lua_type(L, -1)) {
    case LUA_TSTRING: {
      size_t len;
      const char* s = lua_tolstring(L, -1, &len);
      w.Bulk(std::string_view(s, len));
      return;
    }
    case LUA_TBOOLEAN:
      if (script_resp >= 3 && w.protocol() >= 3) return w.Boolean(lua_toboolean(L, -1));
      return lua_toboolean(L, -1) ? w.Integer(1) : w.NullBulk();
    case LUA_TNUMBER:
      return w.Integer(static_cast<long long>(lua_tonumber(L, -1)));
    case LUA_TTABLE: {
      if (depth > 1000) return w.Error("ERR reached lua stack limit");
      lua_getfield(L, -1, "err");
      if (lua_type(L, -1) == LUA_TSTRING) {
        size_t len;
        const char* s = lua_tolstring(L, -1, &len);
        std::string msg(s, len);
        lua_pop(L, 1);
        if (!msg.empty() && msg[0] == '-') msg.erase(0, 1);
        return w.ErrorVerbatim(msg);
      }
      lua_pop(L, 1);
      lua_getfield(L, -1, "ok");
      if (lua_type(L, -1) == LUA_TSTRING) {
        size_t len;
        const char* s = lua_tolstring(L, -1, &len);
        std::string status(s, len);
        lua_pop(L, 1);
        for (char& c : status) c = (c == '\r' || c == '\n') ? ' ' : c;
        return w.Simple(status);
      }
      lua_pop(L, 1);
      lua_getfield(L, -1, "double");
      if (lua_type(L, -1) == LUA_TNUMBER) {
        double d = lua_tonumber(L, -1);
        lua_pop(L, 1);
        return w.Double(d);
      }
      lua_pop(L, 1);
      // An array: elements 1..n up to the first nil.
      size_t n = 0;
      while (true) {
        lua_rawgeti(L, -1, static_cast<int>(n + 1));
        bool end = lua_isnil(L, -1);
        lua_pop(L, 1);
        if (end) break;
        n++;
      }
      w.Array(n);
      for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, static_cast<int>(i));
        WriteLuaValue(L, w, script_resp, depth + 1);
        lua_pop(L, 1);
      }
      return;
    }
    default:
      return w.NullBulk();
  }
}

int SetResp(lua_State* L) {
  int v = static_cast<int>(luaL_checknumber(L, 1));
  if (v != 2 && v != 3) return luaL_error(L, "RESP version must be 2 or 3.");
  lua_pushinteger(L, v);
  lua_setfield(L, LUA_REGISTRYINDEX, "desaster.resp");
  return 0;
}

int Sha1HexLua(lua_State* L) {
  if (lua_gettop(L) != 1) return luaL_error(L, "wrong number of arguments");
  size_t len;
  const char* s = lua_tolstring(L, 1, &len);
  std::string hex = ScriptEngine::Sha1Hex(std::string_view(s ? s : "", s ? len : 0));
  lua_pushlstring(L, hex.data(), hex.size());
  return 1;
}

int LogLua(lua_State* L) {
  int argc = lua_gettop(L);
  if (argc < 2) return luaL_error(L, "redis.log() requires two arguments or more.");
  if (!lua_isnumber(L, 1)) return luaL_error(L, "First argument must be a number (log level).");
  int level = static_cast<int>(lua_tonumber(L, 1));
  std::string msg;
  for (int i = 2; i <= argc; i++) {
    size_t len;
    const char* s = lua_tolstring(L, i, &len);
    if (!s) continue;
    if (i > 2) msg.push_back(' ');
    msg.append(s, len);
  }
  static const LogLevel levels[] = {LogLevel::kDebug, LogLevel::kVerbose, LogLevel::kNotice,
                                    LogLevel::kWarning};
  Log(levels[std::min(std::max(level, 0), 3)], "script: {}", msg);
  return 0;
}

}  // namespace

std::string ScriptEngine::Sha1Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha1(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; i++) {
    out.push_back(hex[digest[i] >> 4]);
    out.push_back(hex[digest[i] & 15]);
  }
  return out;
}

ScriptEngine::ScriptEngine(ServerState* server)
    : server_(server), script_client_(std::make_unique<Client>()) {
  script_client_->addr = "lua";
  script_client_->authenticated = true;
  lua_State* L = lua_ = lua_newstate(&ScriptEngine::Allocate, this);
  OpenLibrary(L, luaopen_base, "");
  OpenLibrary(L, luaopen_table, LUA_TABLIBNAME);
  OpenLibrary(L, luaopen_string, LUA_STRLIBNAME);
  OpenLibrary(L, luaopen_math, LUA_MATHLIBNAME);
  OpenLibrary(L, luaopen_debug, LUA_DBLIBNAME);
  lua_pushcfunction(L, luaopen_cjson);
  lua_call(L, 0, 1);
  lua_setglobal(L, "cjson");
  OpenCmsgpack(L);
  lua_setglobal(L, "cmsgpack");
  OpenStruct(L);
  lua_setglobal(L, "struct");
  lua_pushcfunction(L, luaopen_bit);
  lua_call(L, 0, 1);
  lua_setglobal(L, "bit");
  // No files, no printing to the server's terminal.
  for (const char* name : {"loadfile", "dofile", "print"}) {
    lua_pushnil(L);
    lua_setglobal(L, name);
  }
  lua_pushlightuserdata(L, this);
  lua_setfield(L, LUA_REGISTRYINDEX, kEngineKey);

  lua_newtable(L);
  auto set_fn = [L](const char* name, lua_CFunction fn) {
    lua_pushcfunction(L, fn);
    lua_setfield(L, -2, name);
  };
  set_fn("call", &ScriptEngine::Call);
  set_fn("pcall", &ScriptEngine::PCall);
  set_fn("setresp", SetResp);
  set_fn("sha1hex", Sha1HexLua);
  set_fn("log", LogLua);
  const std::pair<const char*, int> constants[] = {
      {"LOG_DEBUG", 0}, {"LOG_VERBOSE", 1}, {"LOG_NOTICE", 2}, {"LOG_WARNING", 3}};
  for (const auto& [name, value] : constants) {
    lua_pushinteger(L, value);
    lua_setfield(L, -2, name);
  }
  lua_setglobal(L, "redis");
  if (luaL_dostring(L, kPrelude) != 0) {
    Log(LogLevel::kWarning, "script prelude failed: {}", lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  lua_pushnil(L);
  lua_setglobal(L, "debug");  // scripts get no debug library (the prelude kept its own copy)
}

ScriptEngine::~ScriptEngine() { lua_close(lua_); }

void* ScriptEngine::Allocate(void* engine, void* block, size_t old_size, size_t new_size) {
  auto* self = static_cast<ScriptEngine*>(engine);
  if (new_size == 0) {
    std::free(block);
    self->lua_bytes_ -= old_size;
    return nullptr;
  }
  // Only growth may fail (Lua assumes shrinking succeeds); a failure raises LUA_ERRMEM.
  size_t limit = static_cast<size_t>(self->server_->options.lua_memory_limit);
  if (new_size > old_size && self->lua_bytes_ + (new_size - old_size) > limit) return nullptr;
  void* grown = std::realloc(block, new_size);
  if (grown) self->lua_bytes_ = self->lua_bytes_ - old_size + new_size;
  return grown;
}

bool ScriptEngine::Exists(std::string_view sha) const {
  return scripts_.count(std::string(sha)) != 0;
}

void ScriptEngine::Flush() {
  for (const auto& [sha, ref] : scripts_) luaL_unref(lua_, LUA_REGISTRYINDEX, ref);
  scripts_.clear();
}

bool ScriptEngine::Load(std::string_view body, std::string* sha, std::string* error) {
  *sha = Sha1Hex(body);
  if (scripts_.count(*sha)) return true;
  if (luaL_loadbuffer(lua_, body.data(), body.size(), "@user_script") != 0) {
    *error = std::string("ERR Error compiling script (new function): ") + lua_tostring(lua_, -1);
    lua_pop(lua_, 1);
    return false;
  }
  lua_getglobal(lua_, "__redis__script_env");
  lua_setfenv(lua_, -2);
  scripts_[*sha] = luaL_ref(lua_, LUA_REGISTRYINDEX);
  return true;
}

int ScriptEngine::Call(lua_State* L) { return CallGeneric(L, true); }
int ScriptEngine::PCall(lua_State* L) { return CallGeneric(L, false); }

int ScriptEngine::CallGeneric(lua_State* L, bool raise) {
  // lua_error() longjmps: it must run only after every C++ object of the call is destroyed.
  bool failed = RunCommand(L, raise);
  if (failed && raise) return lua_error(L);
  return 1;
}

bool ScriptEngine::RunCommand(lua_State* L, bool raise) {
  ScriptEngine* self = EngineOf(L);
  auto fail = [&](const std::string& msg) {
    PushErrorTable(L, msg);
    return true;
  };
  int argc = lua_gettop(L);
  if (argc == 0) return fail("Please specify at least one argument for this redis lib call");
  std::vector<std::string> argv;
  for (int i = 1; i <= argc; i++) {
    int t = lua_type(L, i);
    if (t == LUA_TNUMBER) {
      argv.push_back(resp::FormatDouble(lua_tonumber(L, i)));
    } else if (t == LUA_TSTRING) {
      size_t len;
      const char* s = lua_tolstring(L, i, &len);
      argv.emplace_back(s, len);
    } else {
      return fail("Lua redis lib command arguments must be strings or integers");
    }
  }
  ServerState& server = *self->server_;
  const CommandSpec* spec = server.registry.Find(argv[0]);
  if (spec == nullptr) return fail("Unknown Redis command called from script");
  std::string error;
  spec = ResolveCommand(server, argv, &error);
  if (spec == nullptr) return fail("Wrong number of args calling Redis command from script");
  if (spec->Has(cmd::kNoScript)) return fail("This Redis command is not allowed from script");
  if (self->read_only_ && spec->Has(cmd::kWrite)) {
    return fail("ERR Write commands are not allowed from read-only scripts.");
  }
  if (!server.write_error.empty() && spec->Has(cmd::kWrite)) {
    return fail("MISCONF Errors writing to the data directory (" + server.write_error + ")");
  }
  Client& c = *self->script_client_;
  lua_getfield(L, LUA_REGISTRYINDEX, "desaster.resp");
  c.protocol = lua_isnumber(L, -1) ? static_cast<int>(lua_tointeger(L, -1)) : 2;
  lua_pop(L, 1);
  c.output.clear();
  CallCommand(server, c, *spec, argv, BlockMode::kNever);
  std::string out;
  out.swap(c.output);
  if (out.empty()) {
    lua_pushboolean(L, 0);
    return false;
  }
  if (out[0] == '-' && raise) return fail(out.substr(0, out.size() - 2));
  size_t pos = 0;
  PushReply(L, out, &pos);
  return false;
}

void ScriptEngine::BusyHook(lua_State* L, lua_Debug*) {
  ScriptEngine* self = EngineOf(L);
  ServerState& s = *self->server_;
  int64_t elapsed = MonotonicUs() / 1000 - self->started_ms_;
  if (elapsed < s.options.lua_time_limit_ms) return;
  if (!s.script_busy) {
    Log(LogLevel::kWarning,
        "Slow script detected: still in execution after {} milliseconds. You can try killing "
        "the script using the SCRIPT KILL command. Script SHA1 is: {}",
        elapsed, self->running_sha_);
    s.script_busy = true;
  }
  s.script_wrote = s.keyspace.pending_mutations() > self->mutations_before_;
  if (s.serve_while_busy) s.serve_while_busy(self->mutations_before_);
  self->mutations_before_ = 0;  // committed by now: what is pending is the script's own
  if (s.shutdown_requested) {
    // SHUTDOWN NOSAVE: stop without committing the script's partial effects.
    Log(LogLevel::kWarning, "SHUTDOWN NOSAVE during a busy script: exiting now");
    std::_Exit(0);
  }
  if (s.script_kill_requested) {
    s.script_kill_requested = false;
    PushErrorTable(L, "ERR Script killed by user with SCRIPT KILL...");
    lua_error(L);
  }
}

void ScriptEngine::Run(CommandContext& ctx, const std::string& sha, size_t numkeys,
                       size_t first_key, bool read_only) {
  lua_State* L = lua_;
  auto set_array = [&](const char* name, size_t from, size_t count) {
    lua_createtable(L, static_cast<int>(count), 0);
    for (size_t i = 0; i < count; i++) {
      const std::string& a = ctx.args[from + i];
      lua_pushlstring(L, a.data(), a.size());
      lua_rawseti(L, -2, static_cast<int>(i + 1));
    }
    lua_setglobal(L, name);  // in the real globals, which scripts read through their env
  };
  set_array("KEYS", first_key, numkeys);
  set_array("ARGV", first_key + numkeys, ctx.args.size() - first_key - numkeys);
  lua_pushinteger(L, 2);
  lua_setfield(L, LUA_REGISTRYINDEX, "desaster.resp");

  read_only_ = read_only;
  script_client_->db = ctx.client.db;

  started_ms_ = MonotonicUs() / 1000;
  mutations_before_ = server_->keyspace.pending_mutations();
  running_sha_ = sha;
  lua_sethook(L, &ScriptEngine::BusyHook, LUA_MASKCOUNT, 10000);
  lua_getglobal(L, "__redis__err__handler");
  lua_rawgeti(L, LUA_REGISTRYINDEX, scripts_.at(sha));
  int status = lua_pcall(L, 0, 1, -2);
  lua_sethook(L, nullptr, 0, 0);
  server_->script_busy = server_->script_kill_requested = server_->script_wrote = false;
  if (status != 0) {
    std::string msg = "ERR unknown error", source = "?", line = "?";
    if (lua_istable(L, -1)) {
      lua_getfield(L, -1, "err");
      if (lua_isstring(L, -1)) msg = lua_tostring(L, -1);
      lua_pop(L, 1);
      lua_getfield(L, -1, "source");
      if (lua_isstring(L, -1)) source = lua_tostring(L, -1);
      lua_pop(L, 1);
      lua_getfield(L, -1, "line");
      if (lua_isstring(L, -1)) line = lua_tostring(L, -1);
      lua_pop(L, 1);
    } else if (lua_isstring(L, -1)) {
      msg = std::string("ERR ") + lua_tostring(L, -1);
    }
    lua_pop(L, 2);  // error object, handler
    // What a failed script built is garbage now: collect it, so a script that ran out of
    // memory leaves room for the next.
    if (status == LUA_ERRMEM) lua_gc(L, LUA_GCCOLLECT, 0);
    return ctx.reply.ErrorVerbatim(msg + " script: " + sha + ", on " + source + ":" + line + ".");
  }
  lua_getfield(L, LUA_REGISTRYINDEX, "desaster.resp");
  int script_resp = static_cast<int>(lua_tointeger(L, -1));
  lua_pop(L, 1);
  WriteLuaValue(L, ctx.reply, script_resp);
  lua_pop(L, 2);  // result, handler
  lua_gc(L, LUA_GCSTEP, 1);
}

}  // namespace desaster
