// The `struct` library Redis gives scripts: struct.pack(fmt, ...), struct.unpack(fmt, data
// [, pos]) and struct.size(fmt), with the format language of Roberto Ierusalimschy's struct.c
// as Redis 7.0 ships it (checked side by side with redis-server in test_scripting.py).
#pragma once

struct lua_State;

namespace desaster {

// Pushes the struct module table {pack = ..., unpack = ..., size = ...}.
int OpenStruct(lua_State* L);

}  // namespace desaster
