#include "server/command/lua_cmsgpack.h"

extern "C" {
#include <lauxlib.h>
#include <lua.h>
}
#include <msgpack.h>

#include <cmath>
#include <cstdint>

namespace desaster {
namespace {

constexpr int kMaxNesting = 16;  // as Redis' lua_cmsgpack: deeper values pack as nil

// Redis' rule: a table whose keys are exactly 1..n is an array; anything else is a map.
bool IsArray(lua_State* L, int index, size_t* n) {
  size_t count = 0;
  lua_Number max = 0;
  lua_pushnil(L);
  while (lua_next(L, index) != 0) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TNUMBER) {
      lua_pop(L, 1);
      return false;
    }
    lua_Number k = lua_tonumber(L, -1);
    if (k <= 0 || std::floor(k) != k) {
      lua_pop(L, 1);
      return false;
    }
    if (k > max) max = k;
    count++;
  }
  *n = count;
  return max == static_cast<lua_Number>(count);
}

void Pack(lua_State* L, int index, msgpack_packer* pk, int depth) {
  if (index < 0) index = lua_gettop(L) + index + 1;
  switch (lua_type(L, index)) {
    case LUA_TSTRING: {
      size_t len;
      const char* s = lua_tolstring(L, index, &len);
      msgpack_pack_str(pk, len);
      msgpack_pack_str_body(pk, s, len);
      return;
    }
    case LUA_TBOOLEAN:
      lua_toboolean(L, index) ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
      return;
    case LUA_TNUMBER: {
      lua_Number n = lua_tonumber(L, index);
      if (std::floor(n) == n && n >= -9.2233720368547758e18 && n < 9.2233720368547758e18) {
        msgpack_pack_int64(pk, static_cast<int64_t>(n));
      } else if (static_cast<double>(static_cast<float>(n)) == n) {
        msgpack_pack_float(pk, static_cast<float>(n));
      } else {
        msgpack_pack_double(pk, n);
      }
      return;
    }
    case LUA_TTABLE: {
      if (depth >= kMaxNesting) {
        msgpack_pack_nil(pk);
        return;
      }
      size_t n = 0;
      if (IsArray(L, index, &n)) {
        msgpack_pack_array(pk, n);
        for (size_t i = 1; i <= n; i++) {
          lua_rawgeti(L, index, static_cast<int>(i));
          Pack(L, -1, pk, depth + 1);
          lua_pop(L, 1);
        }
        return;
      }
      size_t pairs = 0;
      lua_pushnil(L);
      while (lua_next(L, index) != 0) {
        lua_pop(L, 1);
        pairs++;
      }
      msgpack_pack_map(pk, pairs);
      lua_pushnil(L);
      while (lua_next(L, index) != 0) {
        Pack(L, -2, pk, depth + 1);
        Pack(L, -1, pk, depth + 1);
        lua_pop(L, 1);
      }
      return;
    }
    default:
      msgpack_pack_nil(pk);
      return;
  }
}

void PushObject(lua_State* L, const msgpack_object& o) {
  switch (o.type) {
    case MSGPACK_OBJECT_NIL:
      lua_pushnil(L);
      return;
    case MSGPACK_OBJECT_BOOLEAN:
      lua_pushboolean(L, o.via.boolean);
      return;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
      lua_pushnumber(L, static_cast<lua_Number>(o.via.u64));
      return;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
      lua_pushnumber(L, static_cast<lua_Number>(o.via.i64));
      return;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
      lua_pushnumber(L, o.via.f64);
      return;
    case MSGPACK_OBJECT_STR:
      lua_pushlstring(L, o.via.str.ptr, o.via.str.size);
      return;
    case MSGPACK_OBJECT_BIN:
      lua_pushlstring(L, o.via.bin.ptr, o.via.bin.size);
      return;
    case MSGPACK_OBJECT_ARRAY:
      lua_createtable(L, static_cast<int>(o.via.array.size), 0);
      for (uint32_t i = 0; i < o.via.array.size; i++) {
        PushObject(L, o.via.array.ptr[i]);
        lua_rawseti(L, -2, static_cast<int>(i + 1));
      }
      return;
    case MSGPACK_OBJECT_MAP:
      lua_createtable(L, 0, static_cast<int>(o.via.map.size));
      for (uint32_t i = 0; i < o.via.map.size; i++) {
        PushObject(L, o.via.map.ptr[i].key);
        PushObject(L, o.via.map.ptr[i].val);
        lua_settable(L, -3);
      }
      return;
    default:
      lua_pushnil(L);
      return;  // EXT: not produced by Redis' cmsgpack either
  }
}

int PackLua(lua_State* L) {
  int argc = lua_gettop(L);
  if (argc == 0) return luaL_argerror(L, 0, "MessagePack pack needs input.");
  msgpack_sbuffer buffer;
  msgpack_sbuffer_init(&buffer);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &buffer, msgpack_sbuffer_write);
  for (int i = 1; i <= argc; i++) Pack(L, i, &pk, 0);
  lua_pushlstring(L, buffer.data, buffer.size);
  msgpack_sbuffer_destroy(&buffer);
  return 1;
}

// Decodes every object of the input; returns how many it pushed, or -1 with *error set.
int UnpackAll(lua_State* L, const char* data, size_t len, const char** error) {
  msgpack_unpacked result;
  msgpack_unpacked_init(&result);
  size_t offset = 0;
  int pushed = 0;
  while (offset < len) {
    msgpack_unpack_return ret = msgpack_unpack_next(&result, data, len, &offset);
    if (ret == MSGPACK_UNPACK_SUCCESS) {
      luaL_checkstack(L, 1, "too many values to unpack");
      PushObject(L, result.data);
      pushed++;
      continue;
    }
    *error =
        ret == MSGPACK_UNPACK_CONTINUE ? "Missing bytes in input." : "Bad data format in input.";
    pushed = -1;
    break;
  }
  msgpack_unpacked_destroy(&result);
  return pushed;
}

int UnpackLua(lua_State* L) {
  size_t len;
  const char* data = luaL_checklstring(L, 1, &len);
  const char* error = nullptr;
  int pushed = UnpackAll(L, data, len, &error);
  if (pushed < 0) return luaL_error(L, "%s", error);  // msgpack's buffers are freed by now
  return pushed;
}

}  // namespace

int OpenCmsgpack(lua_State* L) {
  lua_newtable(L);
  lua_pushcfunction(L, PackLua);
  lua_setfield(L, -2, "pack");
  lua_pushcfunction(L, UnpackLua);
  lua_setfield(L, -2, "unpack");
  return 1;
}

}  // namespace desaster
