// The `cmsgpack` library Redis gives scripts (pack/unpack), on Debian's msgpack-c.
#pragma once

struct lua_State;

namespace desaster {

// Pushes the cmsgpack module table {pack = ..., unpack = ...}.
int OpenCmsgpack(lua_State* L);

}  // namespace desaster
