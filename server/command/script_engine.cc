#include "server/command/script_engine.h"

extern "C" {
#include <lauxlib.h>
#include <lua-bitop.h>
#include <lua-cjson.h>
#include <lua.h>
#include <lualib.h>
}

#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "server/clock.h"
#include "server/command/context.h"
#include "server/command/dispatch.h"
#include "server/command/lua_cmsgpack.h"
#include "server/command/lua_struct.h"
#include "server/log.h"

namespace desaster {
namespace {

constexpr const char* kEngineKey = "desaster.engine";
// The chunk name of the prelude: its functions (the error handler among them) are the engine's,
// and SCRIPT KILL never stops one half-way.
constexpr const char* kPreludeName = "=desaster";
// Where a script's result waits for its conversion to a reply.
constexpr const char* kResultKey = "desaster.result";
// Where a function's keys and arguments wait to be passed to it.
constexpr const char* kKeysKey = "desaster.keys";
constexpr const char* kArgsKey = "desaster.args";
// How often (in VM instructions) a running script checks the time and SCRIPT KILL: about every
// 0.1 ms of pure Lua.
constexpr int kHookInstructions = 1000;

// Run once at start, in the real globals (with the debug library): the error handler that turns
// any error into {err=, source=, line=} as Redis 7.0.15 has it, and the sandbox scripts run in.
//
// No script ever sees the real globals. Each run gets a fresh environment whose reads fall
// through to `base` (the allowed functions, and read-only proxies of the libraries) and whose
// writes fail, so no script can define, replace or remove anything another script sees. The
// escape hatches of stock Lua 5.1 are closed as Redis closes them: getfenv, setfenv and newproxy
// do not exist; rawset and setmetatable refuse read-only tables; loadstring and load compile
// text only, into the running script's environment; the string metatable is read-only.
constexpr const char* kPrelude = R"lua(
local dbg, G = debug, _G
local real_setmetatable, real_getmetatable = setmetatable, getmetatable
local real_rawset, real_rawget, real_next, real_pairs = rawset, rawget, next, pairs
local real_loadstring, real_setfenv, real_type, real_error = loadstring, setfenv, type, error
local real_concat, real_byte = table.concat, string.byte

__redis__err__handler = function(err)
  -- Report the innermost frame of the user's script, past redis.call and the protections.
  local level, i = 2, nil
  while true do
    local f = dbg.getinfo(level, 'nSl')
    if not f then break end
    if f.source == '@user_script' or f.source == '@user_function' then i = f break end
    level = level + 1
  end
  if real_type(err) ~= 'table' then err = {err = 'ERR ' .. tostring(err)} end
  if i then
    err['source'] = i.source
    err['line'] = i.currentline
  end
  return err
end
redis.error_reply = function(e)
  if real_type(e) ~= 'string' then real_error('wrong number or type of arguments') end
  if string.sub(e, 1, 1) == '-' then e = string.sub(e, 2) end
  return {err = e}
end
redis.status_reply = function(s)
  if real_type(s) ~= 'string' then real_error('wrong number or type of arguments') end
  return {ok = s}
end

local READONLY = 'Attempt to modify a readonly table'
local function refuse() real_error(READONLY, 2) end
-- The table a read-only proxy stands for (its metatable's __readonly), or nil.
local function target_of(t)
  local mt = dbg.getmetatable(t)
  if real_type(mt) ~= 'table' then return nil end
  return real_rawget(mt, '__readonly')
end
local function readonly(t)
  return real_setmetatable({}, {__index = t, __newindex = refuse, __metatable = false,
                                __readonly = t})
end

local base = {}
for _, name in ipairs({'assert', 'error', 'ipairs', 'pcall', 'rawequal', 'rawget', 'select',
                       'tonumber', 'tostring', 'type', 'unpack', 'xpcall',
                       'gcinfo', 'getmetatable', '_VERSION'}) do
  base[name] = G[name]
end
-- A script may collect, but not stop the collector for every script after it (as Redis', it
-- answers 0).
base.collectgarbage = function(opt, arg)
  if opt == 'stop' then return 0 end
  return collectgarbage(opt, arg)
end
for _, name in ipairs({'redis', 'cjson', 'cmsgpack', 'struct', 'bit', 'string', 'table', 'math',
                       'coroutine'}) do
  base[name] = readonly(G[name])
end
base.rawset = function(t, k, v)
  if target_of(t) then real_error(READONLY, 0) end
  return real_rawset(t, k, v)
end
base.setmetatable = function(t, mt)
  if target_of(t) then real_error(READONLY, 0) end
  return real_setmetatable(t, mt)
end
-- Iterating a proxy iterates what it stands for, as over Redis' read-only tables.
base.next = function(t, k) return real_next(target_of(t) or t, k) end
base.pairs = function(t) return real_pairs(target_of(t) or t) end
-- getmetatable('') sees a read-only copy; the real one stays the engine's.
local string_meta = dbg.getmetatable('')
string_meta.__metatable = readonly(string_meta)

local running = {}  -- running.env: the environment of the script that runs now
local function compile(text, name)
  if real_type(text) == 'string' and real_byte(text, 1) == 27 then
    return nil, "unexpected symbol near 'char(27)'"
  end
  local f, e = real_loadstring(text, name)
  if f then real_setfenv(f, running.env) end
  return f, e
end
base.loadstring = compile
base.load = function(reader, name)
  local parts = {}
  while true do
    local part = reader()
    if part == nil or part == '' then break end
    parts[#parts + 1] = part
  end
  return compile(real_concat(parts), name or '=(load)')
end

-- The metatable of a read-only view of what `source()` returns, where reading a missing name
-- fails, as Redis' error metatable makes it fail.
local function strict_meta(source)
  return {
    __index = function(_, n)
      local v = source()[n]
      if v == nil then
        real_error("Script attempted to access nonexistent global variable '" .. tostring(n) .. "'", 2)
      end
      return v
    end,
    __newindex = refuse,
    __metatable = false,
  }
end
local env_meta = strict_meta(function() return base end)
env_meta.__readonly = base
-- A fresh environment for one run of a script.
__redis__new_env = function(keys, argv)
  local env = real_setmetatable({KEYS = keys, ARGV = argv}, env_meta)
  real_rawset(env, '_G', env)
  running.env = env
  return env
end

-- FUNCTION's libraries all run in one environment, read-only as Redis' globals are, whose reads
-- go to `function_api`: while a library's code runs to register its functions, only what that
-- needs (redis.register_function, redis.log and its levels); while a function runs, what a
-- script sees. The callbacks keep the environment, so they see what is current when called.
local function strict(source) return real_setmetatable({}, strict_meta(source)) end
local load_redis = {register_function = redis.register_function, log = redis.log,
  LOG_DEBUG = redis.LOG_DEBUG, LOG_VERBOSE = redis.LOG_VERBOSE, LOG_NOTICE = redis.LOG_NOTICE,
  LOG_WARNING = redis.LOG_WARNING}
local load_api = {redis = strict(function() return load_redis end)}
local function_api = base
local function_env = strict(function() return function_api end)
__redis__function_env = function(loading)
  function_api = loading and load_api or base
  running.env = function_env
  return function_env
end
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

// Pushes {err = msg} (msg without a leading '-', with "ERR " when it has no code). Holds nothing
// that a Lua error (out of memory) would leak.
void PushErrorTable(lua_State* L, std::string_view msg) {
  bool has_code = false;
  if (!msg.empty() && msg[0] == '-') {
    msg.remove_prefix(1);
    has_code = true;
  } else {
    size_t sp = msg.find(' ');
    has_code = sp != std::string_view::npos && sp > 0;
    for (size_t i = 0; has_code && i < sp; i++) has_code = msg[i] >= 'A' && msg[i] <= 'Z';
  }
  lua_newtable(L);
  if (has_code) {
    lua_pushlstring(L, msg.data(), msg.size());
  } else {
    lua_pushliteral(L, "ERR ");
    lua_pushlstring(L, msg.data(), msg.size());
    lua_concat(L, 2);
  }
  lua_setfield(L, -2, "err");
}

// Converts the RESP reply at `data[*pos]` (one whole reply, as the server wrote it) to a Lua value
// on the stack, by Redis' rules. Holds nothing that a Lua error would leak.
void PushReply(lua_State* L, std::string_view data, size_t* pos) {
  // Replies nest only a few levels, but a deep one must not overflow the Lua stack.
  if (!lua_checkstack(L, 4)) return PushErrorTable(L, "reached lua stack limit");
  size_t eol = data.find("\r\n", *pos);
  char type = data[*pos];
  std::string_view line = data.substr(*pos + 1, eol - *pos - 1);
  *pos = eol + 2;
  auto count = [&] {
    long long n = 0;
    ParseInt64(line, &n);
    return n;
  };
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
      lua_newtable(L);
      lua_pushlstring(L, line.data(), line.size());
      lua_setfield(L, -2, "err");
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
      lua_createtable(L, static_cast<int>(std::min<long long>(n, INT_MAX)), 0);
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
        lua_rawset(L, -3);
      }
      lua_setfield(L, -2, type == '%' ? "map" : "set");
      return;
    }
    case ',': {
      double d = 0;
      ParseDouble(line, &d);
      lua_newtable(L);
      lua_pushnumber(L, d);
      lua_setfield(L, -2, "double");
      return;
    }
    case '#':
      lua_pushboolean(L, line == "t");
      return;
  }
  lua_pushnil(L);  // '_' (RESP3 null)
}

// Writes the Lua value at the top of the stack as a reply, by Redis 7.0's rules: tables are read
// raw (a metamethod never runs, so it cannot fail), and a value nested deeper than the Lua stack
// allows becomes an error element. Booleans follow the protocol the script chose with
// redis.setresp (`script_resp`), not the client's. Runs under lua_cpcall (ConvertResult):
// converting a number to a string may raise "not enough memory".
void WriteLuaValue(lua_State* L, resp::ReplyWriter& w, int script_resp) {
  if (!lua_checkstack(L, 4)) return w.Error("ERR reached lua stack limit");
  auto raw_field = [L](const char* name) {
    lua_pushstring(L, name);
    lua_rawget(L, -2);
  };
  auto raw_field_at = [L](int index, const char* name) {  // of the table at `index`
    lua_pushstring(L, name);
    lua_rawget(L, index - 1);
  };
  auto view = [L](int index) {
    size_t len;
    const char* s = lua_tolstring(L, index, &len);
    return std::string_view(s, len);
  };
  // A status line or a number as a reply line holds them: newlines become spaces.
  auto one_line = [&](int index) {
    std::string text(view(index));
    for (char& c : text) c = (c == '\r' || c == '\n') ? ' ' : c;
    return text;
  };
  switch (lua_type(L, -1)) {
    case LUA_TSTRING:
      return w.Bulk(view(-1));
    case LUA_TBOOLEAN:
      if (script_resp >= 3 && w.protocol() >= 3) return w.Boolean(lua_toboolean(L, -1));
      return lua_toboolean(L, -1) ? w.Integer(1) : w.NullBulk();
    case LUA_TNUMBER:
      return w.Integer(static_cast<long long>(lua_tonumber(L, -1)));
    case LUA_TTABLE: {
      raw_field("err");
      if (lua_type(L, -1) == LUA_TSTRING) {
        std::string_view msg = view(-1);
        if (!msg.empty() && msg[0] == '-') msg.remove_prefix(1);
        w.ErrorVerbatim(msg);  // newlines become spaces
        return lua_pop(L, 1);
      }
      lua_pop(L, 1);
      raw_field("ok");
      if (lua_type(L, -1) == LUA_TSTRING) {
        std::string status = one_line(-1);  // nothing below can raise a Lua error
        lua_pop(L, 1);
        return w.Simple(status);
      }
      lua_pop(L, 1);
      raw_field("double");
      if (lua_type(L, -1) == LUA_TNUMBER) {
        double d = lua_tonumber(L, -1);
        lua_pop(L, 1);
        return w.Double(d);
      }
      lua_pop(L, 1);
      raw_field("big_number");
      if (lua_type(L, -1) == LUA_TSTRING) {
        std::string digits = one_line(-1);
        lua_pop(L, 1);
        return w.BigNumber(digits);
      }
      lua_pop(L, 1);
      raw_field("verbatim_string");
      if (lua_type(L, -1) == LUA_TTABLE) {
        raw_field("format");
        raw_field_at(-2, "string");
        if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING) {
          std::string format(view(-2)), text(view(-1));
          lua_pop(L, 3);
          return w.Verbatim(text, format);
        }
        lua_pop(L, 2);
      }
      lua_pop(L, 1);
      // A RESP3 map ({map = {k = v}}) or set ({set = {member = true}}), in the table's order.
      for (bool map : {true, false}) {
        raw_field(map ? "map" : "set");
        if (lua_type(L, -1) != LUA_TTABLE) {
          lua_pop(L, 1);
          continue;
        }
        size_t n = 0;
        for (lua_pushnil(L); lua_next(L, -2) != 0; lua_pop(L, 1)) n++;
        map ? w.Map(n) : w.Set(n);
        for (lua_pushnil(L); lua_next(L, -2) != 0; lua_pop(L, 1)) {
          lua_pushvalue(L, -2);
          WriteLuaValue(L, w, script_resp);
          lua_pop(L, 1);
          if (map) WriteLuaValue(L, w, script_resp);
        }
        return lua_pop(L, 1);
      }
      // An array: elements 1..n up to the first nil.
      size_t n = 0;
      while (true) {
        lua_rawgeti(L, -1, static_cast<int>(n + 1));
        bool end = lua_isnil(L, -1);
        lua_pop(L, 1);
        if (end || n == INT_MAX - 1) break;
        n++;
      }
      w.Array(n);
      for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, static_cast<int>(i));
        WriteLuaValue(L, w, script_resp);
        lua_pop(L, 1);
      }
      return;
    }
    default:
      return w.NullBulk();
  }
}

int Sha1HexLua(lua_State* L) {
  if (lua_gettop(L) != 1) return luaL_error(L, "wrong number of arguments");
  size_t len;
  const char* s = lua_tolstring(L, 1, &len);
  char hex[41];
  Sha1Hex(std::string_view(s ? s : "", s ? len : 0)).copy(hex, 40);
  lua_pushlstring(L, hex, 40);
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
  set_fn("setresp", &ScriptEngine::SetResp);
  set_fn("sha1hex", Sha1HexLua);
  set_fn("log", LogLua);
  set_fn("register_function", &ScriptEngine::RegisterFunction);
  const std::pair<const char*, int> constants[] = {
      {"LOG_DEBUG", 0}, {"LOG_VERBOSE", 1}, {"LOG_NOTICE", 2}, {"LOG_WARNING", 3}};
  for (const auto& [name, value] : constants) {
    lua_pushinteger(L, value);
    lua_setfield(L, -2, name);
  }
  lua_setglobal(L, "redis");
  if (luaL_loadbuffer(L, kPrelude, strlen(kPrelude), kPreludeName) != 0 ||
      lua_pcall(L, 0, 0, 0) != 0) {
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
  if (server_->cluster.master) server_->keyspace.RecordNodeState(Mutation::Op::kScriptFlush);
}

bool ScriptEngine::Load(std::string_view body, std::string* sha, std::string* error) {
  *sha = Sha1Hex(body);
  if (scripts_.count(*sha)) return true;
  // Scripts are text: a binary chunk could make the VM read and write memory at will.
  if (!body.empty() && body[0] == LUA_SIGNATURE[0]) {
    *error =
        "ERR Error compiling script (new function): user_script:1: unexpected symbol near "
        "'char(27)'";
    return false;
  }
  if (luaL_loadbuffer(lua_, body.data(), body.size(), "@user_script") != 0) {
    *error = std::string("ERR Error compiling script (new function): ") + lua_tostring(lua_, -1);
    lua_pop(lua_, 1);
    return false;
  }
  scripts_[*sha] = luaL_ref(lua_, LUA_REGISTRYINDEX);
  if (server_->cluster.master) server_->keyspace.RecordNodeState(Mutation::Op::kScriptLoad, body);
  return true;
}

int ScriptEngine::SetResp(lua_State* L) {
  int v = static_cast<int>(luaL_checknumber(L, 1));
  if (v != 2 && v != 3) return luaL_error(L, "RESP version must be 2 or 3.");
  EngineOf(L)->script_resp_ = v;
  return 0;
}

int ScriptEngine::Call(lua_State* L) { return CallGeneric(L, true); }
int ScriptEngine::PCall(lua_State* L) { return CallGeneric(L, false); }

int ScriptEngine::CallGeneric(lua_State* L, bool raise) {
  // Lua errors longjmp: the command runs (C++) before any Lua value is made, and what the
  // conversion needs lives in the engine, so an error leaks nothing.
  ScriptEngine* self = EngineOf(L);
  self->call_error_.clear();
  self->call_reply_.clear();
  self->RunCommand(L);
  if (!self->call_error_.empty()) {
    PushErrorTable(L, self->call_error_);
    if (raise) return lua_error(L);
    return 1;
  }
  if (self->call_reply_.empty()) {
    lua_pushboolean(L, 0);  // CLIENT REPLY cannot be set from a script; a command without reply
    return 1;
  }
  if (self->call_reply_[0] == '-' && raise) {
    PushErrorTable(L, std::string_view(self->call_reply_).substr(0, self->call_reply_.size() - 2));
    return lua_error(L);
  }
  size_t pos = 0;
  PushReply(L, self->call_reply_, &pos);
  return 1;
}

void ScriptEngine::RunCommand(lua_State* L) {
  int argc = lua_gettop(L);
  if (argc == 0) {
    call_error_ = "Please specify at least one argument for this redis lib call";
    return;
  }
  call_argv_.resize(static_cast<size_t>(argc));
  for (int i = 1; i <= argc; i++) {
    int t = lua_type(L, i);
    std::string& arg = call_argv_[static_cast<size_t>(i - 1)];
    if (t == LUA_TNUMBER) {
      arg = resp::FormatDouble(lua_tonumber(L, i));
    } else if (t == LUA_TSTRING) {
      size_t len;
      const char* s = lua_tolstring(L, i, &len);
      arg.assign(s, len);
    } else {
      call_error_ = "Lua redis lib command arguments must be strings or integers";
      return;
    }
  }
  ServerState& server = *server_;
  if (server.registry.Find(call_argv_[0]) == nullptr) {
    call_error_ = "Unknown Redis command called from script";
    return;
  }
  std::string error;
  const CommandSpec* spec = ResolveCommand(server, call_argv_, &error);
  if (spec == nullptr) {
    call_error_ = "Wrong number of args calling Redis command from script";
  } else if (spec->Has(cmd::kNoScript)) {
    call_error_ = "This Redis command is not allowed from script";
  } else if (AclDenial denial =
                 CheckAccess(server, *script_client_, *spec, call_argv_, "lua", caller_);
             denial != AclDenial::kNone) {
    call_error_ = std::string("The user executing the script ") +
                  (denial == AclDenial::kCommand ? "can't run this command or subcommand"
                   : denial == AclDenial::kKey
                       ? "can't access at least one of the keys mentioned in the command arguments"
                       : "can't publish to the channel mentioned in the command");
  } else if (read_only_ && spec->Has(cmd::kWrite)) {
    call_error_ = "ERR Write commands are not allowed from read-only scripts.";
  } else if (server.read_only() && spec->Has(cmd::kWrite)) {
    call_error_ = kReadOnlyError;
  } else if (!server.write_error.empty() && spec->Has(cmd::kWrite)) {
    call_error_ = "MISCONF Errors writing to the data directory (" + server.write_error + ")";
  } else if (server.over_maxmemory && spec->Has(cmd::kDenyOom)) {
    call_error_ = kOomError;
  }
  if (!call_error_.empty()) return;
  Client& c = *script_client_;
  c.protocol = script_resp_;
  c.output.clear();
  CallCommand(server, c, *spec, call_argv_, BlockMode::kNever);
  if (caller_ && spec->Has(cmd::kReadOnly)) server.tracking.Remember(*caller_, *spec, call_argv_);
  call_reply_.swap(c.output);
}

void ScriptEngine::BusyHook(lua_State* L, lua_Debug* ar) {
  ScriptEngine* self = EngineOf(L);
  ServerState& s = *self->server_;
  if (self->killing_) return self->StopKilledScript(L, ar);
  int64_t elapsed = MonotonicUs() / 1000 - self->started_ms_;
  if (elapsed < s.options.lua_time_limit_ms) return;
  if (!s.script_busy) {
    Log(LogLevel::kWarning,
        "Slow script detected: still in execution after {} milliseconds. You can try killing "
        "the script using the SCRIPT KILL command. Script SHA1 is: {}",
        elapsed, self->running_name_);
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
    Log(LogLevel::kNotice, "Lua script killed by user with SCRIPT KILL.");
    self->killing_ = true;
    self->StopKilledScript(L, ar);
  }
}

void ScriptEngine::StopKilledScript(lua_State* L, lua_Debug* ar) {
  // From now on the hook runs on every line and every instruction, of this thread and of any
  // coroutine: a pcall (or coroutine.resume) that catches the error is back in the script's code
  // at once, and raises it again, until it leaves the script.
  lua_sethook(L, &ScriptEngine::BusyHook, LUA_MASKLINE | LUA_MASKCOUNT, 1);
  lua_getinfo(L, "S", ar);
  if (strcmp(ar->source, kPreludeName) == 0) return;  // the error handler must finish
  PushErrorTable(L, "ERR Script killed by user with SCRIPT KILL...");
  lua_error(L);
}

namespace {

// What ScriptEngine::Execute hands to the protected steps below through lua_cpcall.
struct RunStep {
  const CommandContext* ctx;
  size_t numkeys, first_key;
  int function_ref;
  bool function;              // FCALL: the keys and arguments are its parameters
  resp::ReplyWriter* writer;  // ConvertResult: where the reply goes
  int script_resp;
};

// An EVAL script gets a fresh environment with its KEYS and ARGV; a function gets them as its
// two parameters (left in the registry for Execute to push) and runs in the functions'
// environment.
int PrepareRun(lua_State* L) {
  const auto& step = *static_cast<const RunStep*>(lua_touserdata(L, 1));
  const std::vector<std::string>& args = step.ctx->args;
  lua_getglobal(L, step.function ? "__redis__function_env" : "__redis__new_env");
  auto push_array = [&](size_t from, size_t count) {
    lua_createtable(L, static_cast<int>(count), 0);
    for (size_t i = 0; i < count; i++) {
      lua_pushlstring(L, args[from + i].data(), args[from + i].size());
      lua_rawseti(L, -2, static_cast<int>(i + 1));
    }
  };
  if (step.function) {
    lua_pushboolean(L, 0);
    lua_call(L, 1, 0);
    push_array(step.first_key, step.numkeys);
    lua_setfield(L, LUA_REGISTRYINDEX, kKeysKey);
    push_array(step.first_key + step.numkeys, args.size() - step.first_key - step.numkeys);
    lua_setfield(L, LUA_REGISTRYINDEX, kArgsKey);
    return 0;
  }
  push_array(step.first_key, step.numkeys);
  push_array(step.first_key + step.numkeys, args.size() - step.first_key - step.numkeys);
  lua_call(L, 2, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, step.function_ref);
  lua_insert(L, -2);
  lua_setfenv(L, -2);
  return 0;
}

// Writes the result the script returned (left in the registry) as the reply.
int ConvertResult(lua_State* L) {
  const auto& step = *static_cast<const RunStep*>(lua_touserdata(L, 1));
  lua_getfield(L, LUA_REGISTRYINDEX, kResultKey);
  WriteLuaValue(L, *step.writer, step.script_resp);
  return 0;
}

}  // namespace

void ScriptEngine::Run(CommandContext& ctx, const std::string& sha, size_t numkeys,
                       size_t first_key, bool read_only) {
  Execute(ctx, scripts_.at(sha), sha, false, numkeys, first_key, read_only);
}

void ScriptEngine::CallFunction(CommandContext& ctx, const Function& f, size_t numkeys,
                                bool read_only) {
  Execute(ctx, f.ref, f.name, true, numkeys, 3, read_only || (f.flags & kNoWrites));
}

void ScriptEngine::Execute(CommandContext& ctx, int ref, std::string_view name, bool function,
                           size_t numkeys, size_t first_key, bool read_only) {
  lua_State* L = lua_;
  std::string reply;
  resp::ReplyWriter writer(&reply, ctx.client.protocol);
  RunStep step{&ctx, numkeys, first_key, ref, function, &writer, 2};
  if (lua_cpcall(L, PrepareRun, &step) != 0) {
    lua_pop(L, 1);
    lua_gc(L, LUA_GCCOLLECT, 0);
    return ctx.Error("ERR not enough memory to run the script");
  }
  read_only_ = read_only;
  script_resp_ = 2;
  script_client_->db = ctx.client.db;
  script_client_->user = ctx.client.user;
  caller_ = &ctx.client;
  running_command_ = &ctx.args;
  started_ms_ = MonotonicUs() / 1000;
  mutations_before_ = server_->keyspace.pending_mutations();
  running_name_ = name;
  running_is_function_ = function;
  lua_sethook(L, &ScriptEngine::BusyHook, LUA_MASKCOUNT, kHookInstructions);
  lua_getglobal(L, "__redis__err__handler");
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  if (function) {
    lua_getfield(L, LUA_REGISTRYINDEX, kKeysKey);
    lua_getfield(L, LUA_REGISTRYINDEX, kArgsKey);
  }
  int status = lua_pcall(L, function ? 2 : 0, 1, function ? -4 : -2);
  lua_sethook(L, nullptr, 0, 0);
  caller_ = nullptr;
  running_command_ = nullptr;
  script_client_->user = nullptr;  // the caller's user may be removed before the next script
  killing_ = false;
  server_->script_busy = server_->script_kill_requested = server_->script_wrote = false;
  if (function) {
    lua_pushnil(L);
    lua_setfield(L, LUA_REGISTRYINDEX, kKeysKey);
    lua_pushnil(L);
    lua_setfield(L, LUA_REGISTRYINDEX, kArgsKey);
  }
  if (status != 0) {
    std::string msg = "ERR unknown error", source = "?", line = "?";
    if (lua_istable(L, -1)) {
      auto field = [&](const char* field_name, std::string* out) {
        lua_pushstring(L, field_name);
        lua_rawget(L, -2);
        if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER) {
          size_t len;
          const char* text = lua_tolstring(L, -1, &len);
          out->assign(text, len);
        }
        lua_pop(L, 1);
      };
      field("err", &msg);
      field("source", &source);
      field("line", &line);
    } else if (lua_isstring(L, -1)) {
      msg = std::string("ERR ") + lua_tostring(L, -1);
    }
    lua_pop(L, 2);  // error object, handler
    // What a failed script built is garbage now: collect it, so a script that ran out of
    // memory leaves room for the next.
    if (status == LUA_ERRMEM) lua_gc(L, LUA_GCCOLLECT, 0);
    if (!msg.empty() && msg[0] == '-') msg.erase(0, 1);
    return ctx.reply.ErrorVerbatim(msg + " script: " + std::string(name) + ", on " + source + ":" +
                                   line + ".");
  }
  lua_setfield(L, LUA_REGISTRYINDEX, kResultKey);
  lua_pop(L, 1);  // handler
  step.script_resp = script_resp_;
  int converted = lua_cpcall(L, ConvertResult, &step);
  if (converted != 0) lua_pop(L, 1);
  lua_pushnil(L);
  lua_setfield(L, LUA_REGISTRYINDEX, kResultKey);
  if (converted != 0) {
    lua_gc(L, LUA_GCCOLLECT, 0);
    return ctx.Error("ERR not enough memory to convert the script's result");
  }
  ctx.reply.buffer()->append(reply);
  lua_gc(L, LUA_GCSTEP, 1);
}

// ---- Functions ----

namespace {

constexpr std::string_view kBadName =
    "Library names can only contain letters, numbers, or underscores(_) and must be at least one "
    "character long";

// Letters, digits and underscores, at least one: what Redis allows for library and function
// names.
bool ValidName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

// A library's "#!<engine> name=<name>" line, as Redis reads it: the engine, the name, and the
// code after the line (from its newline on).
struct LibraryHeader {
  std::string engine, name;
  std::string_view body;
};
bool ParseHeader(std::string_view code, LibraryHeader* out, std::string* error) {
  if (!code.starts_with("#!")) {
    *error = "Missing library metadata";
    return false;
  }
  size_t end = code.find('\n');
  if (end == std::string_view::npos) {
    *error = "Invalid library metadata";
    return false;
  }
  std::vector<std::string_view> parts;
  std::string_view line = code.substr(0, end);
  for (size_t i = 0; i < line.size();) {
    size_t start = line.find_first_not_of(" \t\r", i);
    if (start == std::string_view::npos) break;
    size_t stop = line.find_first_of(" \t\r", start);
    if (stop == std::string_view::npos) stop = line.size();
    parts.push_back(line.substr(start, stop - start));
    i = stop;
  }
  out->engine = std::string(parts[0].substr(2));
  bool named = false;
  for (size_t i = 1; i < parts.size(); i++) {
    if (parts[i].size() >= 5 && EqualIgnoringCase(parts[i].substr(0, 5), "name=")) {
      if (named) {
        *error = "Invalid metadata value, name argument was given multiple times";
        return false;
      }
      out->name = std::string(parts[i].substr(5));
      named = true;
      continue;
    }
    *error = "Invalid metadata value given: " + std::string(parts[i]);
    return false;
  }
  if (!named) {
    *error = "Library name was not given";
    return false;
  }
  out->body = code.substr(end);
  return true;
}

// Stops a library's code that runs past its time to register (FUNCTION LOAD's 500 ms).
void LoadHook(lua_State* L, lua_Debug*);

}  // namespace

const std::vector<std::pair<ScriptEngine::FunctionFlag, std::string_view>>&
ScriptEngine::FunctionFlagNames() {
  static const std::vector<std::pair<FunctionFlag, std::string_view>> names = {
      {kNoWrites, "no-writes"},
      {kAllowOom, "allow-oom"},
      {kAllowStale, "allow-stale"},
      {kNoCluster, "no-cluster"},
      {kAllowCrossSlot, "allow-cross-slot-keys"}};
  return names;
}

int ScriptEngine::RegisterFunction(lua_State* L) {
  ScriptEngine* self = EngineOf(L);
  self->register_error_.clear();
  if (self->loading_ == nullptr) {
    self->register_error_ = "redis.register_function can only be called on FUNCTION LOAD command";
  } else {
    self->ReadRegistration(L);
  }
  if (!self->register_error_.empty()) {
    if (self->registering_.ref != LUA_NOREF)
      luaL_unref(L, LUA_REGISTRYINDEX, self->registering_.ref);
    self->registering_ = Function{};
    PushErrorTable(L, self->register_error_);
    return lua_error(L);
  }
  self->loading_->functions.push_back(std::move(self->registering_));
  self->registering_ = Function{};
  return 0;
}

// Lua errors longjmp: the arguments are read into the engine's own members, never into locals
// that an error would leak.
void ScriptEngine::ReadRegistration(lua_State* L) {
  Function& f = registering_;
  f = Function{};
  f.ref = LUA_NOREF;
  std::string& error = register_error_;
  auto string_at = [L](int index, std::string* out) {
    if (!lua_isstring(L, index)) return false;
    size_t len;
    const char* text = lua_tolstring(L, index, &len);
    out->assign(text, len);
    return true;
  };
  int argc = lua_gettop(L);
  if (argc < 1 || argc > 2) {
    error = "wrong number of arguments to redis.register_function";
  } else if (argc == 2) {
    if (!string_at(1, &f.name)) {
      error = "first argument to redis.register_function must be a string";
    } else if (!lua_isfunction(L, 2)) {
      error = "second argument to redis.register_function must be a function";
    } else {
      f.ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
  } else if (!lua_istable(L, 1)) {
    error =
        "calling redis.register_function with a single argument is only applicable to Lua table "
        "(representing named arguments).";
  } else {
    bool named = false;
    lua_pushnil(L);
    while (error.empty() && lua_next(L, 1) != 0) {
      // A number key is "unknown" to Redis (it reads it as a string); read as one here, it
      // would turn into a string key and lose lua_next its place.
      if (lua_type(L, -2) != LUA_TSTRING) {
        error = lua_type(L, -2) == LUA_TNUMBER
                    ? "unknown argument given to redis.register_function"
                    : "named argument key given to redis.register_function is not a string";
        break;
      }
      std::string_view key(lua_tostring(L, -2));
      if (EqualIgnoringCase(key, "function_name")) {
        named = string_at(-1, &f.name);
        if (!named)
          error = "function_name argument given to redis.register_function must be a string";
      } else if (EqualIgnoringCase(key, "description")) {
        f.has_description = string_at(-1, &f.description);
        if (!f.has_description) {
          error = "description argument given to redis.register_function must be a string";
        }
      } else if (EqualIgnoringCase(key, "callback")) {
        if (!lua_isfunction(L, -1)) {
          error = "callback argument given to redis.register_function must be a function";
        } else {
          if (f.ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, f.ref);
          f.ref = luaL_ref(L, LUA_REGISTRYINDEX);
          continue;  // luaL_ref took the value
        }
      } else if (EqualIgnoringCase(key, "flags")) {
        if (!lua_istable(L, -1)) {
          error =
              "flags argument to redis.register_function must be a table representing function "
              "flags";
        } else {
          f.flags = 0;
          for (int i = 1; error.empty(); i++) {
            lua_rawgeti(L, -1, i);
            if (lua_isnil(L, -1)) {
              lua_pop(L, 1);
              break;
            }
            const auto& names = FunctionFlagNames();
            auto it = std::find_if(names.begin(), names.end(), [&](const auto& n) {
              return lua_type(L, -1) == LUA_TSTRING &&
                     EqualIgnoringCase(n.second, lua_tostring(L, -1));
            });
            if (it == names.end()) {
              error = "unknown flag given";
            } else {
              f.flags |= it->first;
            }
            lua_pop(L, 1);
          }
        }
      } else {
        error = "unknown argument given to redis.register_function";
      }
      lua_pop(L, 1);
    }
    if (error.empty() && !named) {
      error = "redis.register_function must get a function name argument";
    } else if (error.empty() && f.ref == LUA_NOREF) {
      error = "redis.register_function must get a callback argument";
    }
  }
  if (!error.empty()) return;
  if (!ValidName(f.name)) {
    error = kBadName;
    return;
  }
  for (const Function& other : loading_->functions) {
    if (other.name == f.name) error = "Function already exists in the library";
  }
}

namespace {

void LoadHook(lua_State* L, lua_Debug*) {
  lua_getfield(L, LUA_REGISTRYINDEX, "desaster.load-deadline");
  int64_t deadline = static_cast<int64_t>(lua_tonumber(L, -1));
  lua_pop(L, 1);
  if (deadline == 0 || MonotonicUs() / 1000 <= deadline) return;
  lua_sethook(L, LoadHook, LUA_MASKLINE, 0);        // every line from now on raises it again
  PushErrorTable(L, "-ERR FUNCTION LOAD timeout");  // "FUNCTION" is no error code
  lua_error(L);
}

}  // namespace

bool ScriptEngine::CompileLibrary(std::string_view body, int64_t timeout_ms, Library* out,
                                  std::string* error) {
  lua_State* L = lua_;
  if (!body.empty() && body[0] == LUA_SIGNATURE[0]) {  // text only, as for scripts
    *error = "Error compiling function: user_function:1: unexpected symbol near 'char(27)'";
    return false;
  }
  if (luaL_loadbuffer(L, body.data(), body.size(), "@user_function") != 0) {
    *error = std::string("Error compiling function: ") + lua_tostring(L, -1);
    lua_pop(L, 1);
    return false;
  }
  lua_getglobal(L, "__redis__function_env");
  lua_pushboolean(L, 1);
  if (lua_pcall(L, 1, 1, 0) != 0) {
    lua_pop(L, 2);  // the error, the chunk
    *error = "Error registering functions: ERR not enough memory";
    return false;
  }
  lua_setfenv(L, -2);
  lua_pushnumber(L, static_cast<lua_Number>(timeout_ms ? MonotonicUs() / 1000 + timeout_ms : 0));
  lua_setfield(L, LUA_REGISTRYINDEX, "desaster.load-deadline");
  loading_ = out;
  lua_sethook(L, LoadHook, LUA_MASKCOUNT, 100000);
  int status = lua_pcall(L, 0, 0, 0);
  lua_sethook(L, nullptr, 0, 0);
  loading_ = nullptr;
  lua_getglobal(L, "__redis__function_env");
  lua_pushboolean(L, 0);
  lua_pcall(L, 1, 0, 0);  // leaves the runtime API in place for whatever runs next
  if (status == 0) return true;
  std::string msg = "ERR unknown error";
  if (lua_isstring(L, -1)) {
    msg = std::string("ERR ") + lua_tostring(L, -1);
  } else if (lua_istable(L, -1)) {
    lua_pushstring(L, "err");
    lua_rawget(L, -2);
    if (lua_isstring(L, -1)) msg = lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  *error = "Error registering functions: " + msg;
  Release(*out);
  return false;
}

void ScriptEngine::Release(Library& library) {
  for (Function& f : library.functions) luaL_unref(lua_, LUA_REGISTRYINDEX, f.ref);
  library.functions.clear();
}

bool ScriptEngine::PrepareLibrary(std::string_view code, bool replace, int64_t timeout_ms,
                                  Library* out, std::string* error) {
  LibraryHeader header;
  if (!ParseHeader(code, &header, error)) return false;
  if (!ValidName(header.name)) {
    *error = kBadName;
    return false;
  }
  if (!EqualIgnoringCase(header.engine, "LUA")) {
    *error = "Engine '" + header.engine + "' not found";
    return false;
  }
  if (!replace && libraries_.contains(header.name)) {
    *error = "Library '" + header.name + "' already exists";
    return false;
  }
  out->name = header.name;
  out->code = std::string(code);
  if (!CompileLibrary(header.body, timeout_ms, out, error)) return false;
  if (out->functions.empty()) {
    *error = "No functions registered";
    return false;
  }
  return true;
}

bool ScriptEngine::Install(std::vector<Library> incoming, RestorePolicy policy,
                           std::string* error) {
  // Every function name once, among the libraries that stay and those that come.
  std::unordered_map<std::string_view, const Library*> owner;
  for (const Library& l : incoming) {
    if (policy == RestorePolicy::kAppend && libraries_.contains(l.name) && error->empty()) {
      *error = "Library " + l.name + " already exists";
    }
  }
  auto staying = [&](const std::string& library) {
    return policy != RestorePolicy::kFlush &&
           !std::any_of(incoming.begin(), incoming.end(),
                        [&](const Library& l) { return l.name == library; });
  };
  for (const auto& [name, l] : libraries_) {
    if (!staying(name)) continue;
    for (const Function& f : l.functions) owner.emplace(f.name, &l);
  }
  for (const Library& l : incoming) {
    for (const Function& f : l.functions) {
      if (error->empty() && !owner.emplace(f.name, &l).second) {
        *error = "Function " + f.name + " already exists";
      }
    }
  }
  if (!error->empty()) {
    for (Library& l : incoming) Release(l);
    return false;
  }
  if (policy == RestorePolicy::kFlush) FlushLibraries();
  for (Library& l : incoming) {
    auto it = libraries_.find(l.name);
    if (it != libraries_.end()) Release(it->second);
    libraries_.insert_or_assign(l.name, std::move(l));
  }
  functions_.clear();
  for (const auto& [name, l] : libraries_) {
    for (size_t i = 0; i < l.functions.size(); i++) functions_[l.functions[i].name] = {name, i};
  }
  return true;
}

bool ScriptEngine::LoadLibrary(std::string_view code, bool replace, int64_t timeout_ms,
                               std::string* name, std::string* error) {
  std::vector<Library> incoming(1);
  if (!PrepareLibrary(code, replace, timeout_ms, &incoming[0], error)) return false;
  *name = incoming[0].name;
  return Install(std::move(incoming), RestorePolicy::kReplace, error);
}

bool ScriptEngine::RestoreLibraries(const std::vector<std::string>& codes, RestorePolicy policy,
                                    std::string* error) {
  std::vector<Library> incoming;
  auto release_all = [&] {
    for (Library& l : incoming) Release(l);
  };
  for (const std::string& code : codes) {
    Library l;
    // A payload's libraries are checked among themselves as FUNCTION LOAD checks one.
    if (!PrepareLibrary(code, true, 0, &l, error)) {
      release_all();
      return false;
    }
    bool twice = std::any_of(incoming.begin(), incoming.end(),
                             [&](const Library& other) { return other.name == l.name; });
    incoming.push_back(std::move(l));
    if (twice) {
      *error = "Library '" + incoming.back().name + "' already exists";
      release_all();
      return false;
    }
  }
  return Install(std::move(incoming), policy, error);
}

bool ScriptEngine::DeleteLibrary(std::string_view name) {
  auto it = libraries_.find(std::string(name));
  if (it == libraries_.end()) return false;
  for (const Function& f : it->second.functions) functions_.erase(f.name);
  Release(it->second);
  libraries_.erase(it);
  return true;
}

void ScriptEngine::FlushLibraries() {
  for (auto& [name, l] : libraries_) Release(l);
  libraries_.clear();
  functions_.clear();
}

void ScriptEngine::AdoptLibraries(const std::map<std::string, std::string>& libraries) {
  FlushLibraries();
  for (const auto& [name, code] : libraries) {
    std::string loaded, error;
    if (!LoadLibrary(code, false, 0, &loaded, &error)) {
      Log(LogLevel::kWarning, "function library {} does not load here: {}", name, error);
    }
  }
}

const ScriptEngine::Function* ScriptEngine::FindFunction(std::string_view name) const {
  auto it = functions_.find(std::string(name));
  if (it == functions_.end()) return nullptr;
  return &libraries_.at(it->second.first).functions[it->second.second];
}

}  // namespace desaster
