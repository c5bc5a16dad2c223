#include "server/command/lua_struct.h"

extern "C" {
#include <lauxlib.h>
#include <lua.h>
}

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace desaster {

namespace {

// Format: '>' big endian, '<' little endian, '=' native, '![n]' maximum alignment (n a power
// of 2, default 8), 'x' a zero byte, 'b'/'B' signed/unsigned char, 'h'/'H' short, 'l'/'L'
// long, 'T' size_t, 'i[n]'/'I[n]' integer of n bytes (default 4, at most 32), 'f' float, 'd'
// double, 's' zero-terminated string, 'c[n]' n chars (packing c0: the whole string; unpacking
// c0: the previous number is the length), ' ' ignored.
constexpr int kMaxIntSize = 32;
constexpr int kMaxAlign = 8;  // double's alignment on the platforms Redis runs on

struct Options {
  bool little = true;  // x86-64 and arm64: native is little endian
  int align = 1;
};

size_t Number(lua_State* L, const char** fmt, size_t fallback) {
  if (!std::isdigit(static_cast<unsigned char>(**fmt))) return fallback;
  size_t n = 0;
  do {
    int digit = *(*fmt)++ - '0';
    if (n > (INT_MAX - static_cast<size_t>(digit)) / 10) luaL_error(L, "integral size overflow");
    n = n * 10 + static_cast<size_t>(digit);
  } while (std::isdigit(static_cast<unsigned char>(**fmt)));
  return n;
}

bool IsInteger(char opt) {
  return std::string_view("bBhHlLTiI").find(opt) != std::string_view::npos;
}

bool PowerOfTwo(size_t n) { return n > 0 && (n & (n - 1)) == 0; }

// The size of option `opt` (reading its number from *fmt).
size_t SizeOf(lua_State* L, char opt, const char** fmt) {
  switch (opt) {
    case 'B':
    case 'b':
      return 1;
    case 'H':
    case 'h':
      return sizeof(short);
    case 'L':
    case 'l':
      return sizeof(long);
    case 'T':
      return sizeof(size_t);
    case 'f':
      return sizeof(float);
    case 'd':
      return sizeof(double);
    case 'x':
      return 1;
    case 'c':
      return Number(L, fmt, 1);
    case 'i':
    case 'I': {
      size_t n = Number(L, fmt, sizeof(int));
      if (n > kMaxIntSize) {
        luaL_error(L, "integral size %d is larger than limit of %d", static_cast<int>(n),
                   kMaxIntSize);
      }
      return n;
    }
    case 's':
    case ' ':
    case '<':
    case '>':
    case '=':
    case '!':
      return 0;
    default: {
      const char* msg = lua_pushfstring(L, "invalid format option '%c'", opt);
      return static_cast<size_t>(luaL_argerror(L, 1, msg));
    }
  }
}

// Padding before an option of `size` at offset `len`.
size_t Padding(size_t len, const Options& o, char opt, size_t size) {
  if (size == 0 || opt == 'c') return 0;
  if (size > static_cast<size_t>(o.align)) size = static_cast<size_t>(o.align);
  return (size - (len & (size - 1))) & (size - 1);
}

// The options that set up the format rather than hold data.
void Control(lua_State* L, char opt, const char** fmt, Options* o) {
  switch (opt) {
    case ' ':
      return;
    case '>':
      o->little = false;
      return;
    case '<':
      o->little = true;
      return;
    case '=':
      o->little = true;
      return;
    case '!': {
      size_t a = Number(L, fmt, kMaxAlign);
      if (!PowerOfTwo(a)) luaL_error(L, "alignment %d is not a power of 2", static_cast<int>(a));
      o->align = static_cast<int>(a);
      return;
    }
    default:
      return;
  }
}

void PutInteger(lua_State* L, std::string* out, int arg, bool little, size_t size) {
  lua_Number n = luaL_checknumber(L, arg);
  // Negative numbers wrap as 64-bit two's complement; bytes past the eighth are zero (as in
  // Redis, whose struct.c shifts the value out).
  uint64_t value =
      n < 0 ? static_cast<uint64_t>(static_cast<int64_t>(n)) : static_cast<uint64_t>(n);
  char buf[kMaxIntSize];
  for (size_t i = 0; i < size; i++) {
    buf[little ? i : size - 1 - i] = i < 8 ? static_cast<char>((value >> (8 * i)) & 0xff) : '\0';
  }
  out->append(buf, size);
}

// Bytes past the eighth are ignored, as Redis' struct.c shifts them out.
lua_Number GetInteger(const char* data, bool little, bool is_signed, size_t size) {
  uint64_t value = 0;
  for (size_t i = 0; i < size && i < 8; i++) {
    unsigned char byte = static_cast<unsigned char>(data[little ? i : size - 1 - i]);
    value |= static_cast<uint64_t>(byte) << (8 * i);
  }
  if (!is_signed) return static_cast<lua_Number>(value);
  if (size < 8 && (value & (uint64_t{1} << (size * 8 - 1)))) value |= ~uint64_t{0} << (size * 8);
  return static_cast<lua_Number>(static_cast<int64_t>(value));
}

template <class T>
void PutFloat(std::string* out, T v, bool little) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));
  if (!little) std::reverse(buf, buf + sizeof(T));
  out->append(buf, sizeof(T));
}

template <class T>
T GetFloat(const char* data, bool little) {
  char buf[sizeof(T)];
  std::memcpy(buf, data, sizeof(T));
  if (!little) std::reverse(buf, buf + sizeof(T));
  T v;
  std::memcpy(&v, buf, sizeof(T));
  return v;
}

int Pack(lua_State* L) {
  const char* fmt = luaL_checkstring(L, 1);
  Options o;
  int arg = 2;
  std::string out;
  lua_pushnil(L);  // as Redis' buffer marker: a missing argument reads as nil
  while (*fmt) {
    char opt = *fmt++;
    size_t size = SizeOf(L, opt, &fmt);
    out.append(Padding(out.size(), o, opt, size), '\0');
    if (IsInteger(opt)) {
      PutInteger(L, &out, arg++, o.little, size);
      continue;
    }
    switch (opt) {
      case 'x':
        out.push_back('\0');
        break;
      case 'f':
        PutFloat(&out, static_cast<float>(luaL_checknumber(L, arg++)), o.little);
        break;
      case 'd':
        PutFloat(&out, static_cast<double>(luaL_checknumber(L, arg++)), o.little);
        break;
      case 'c':
      case 's': {
        size_t len;
        const char* s = luaL_checklstring(L, arg++, &len);
        if (size == 0) size = len;
        luaL_argcheck(L, len >= size, arg, "string too short");
        out.append(s, size);
        if (opt == 's') out.push_back('\0');
        break;
      }
      default:
        Control(L, opt, &fmt, &o);
    }
  }
  lua_pushlstring(L, out.data(), out.size());
  return 1;
}

int Unpack(lua_State* L) {
  const char* fmt = luaL_checkstring(L, 1);
  size_t len;
  const char* data = luaL_checklstring(L, 2, &len);
  lua_Integer start = luaL_optinteger(L, 3, 1);
  luaL_argcheck(L, start > 0, 3, "offset must be 1 or greater");
  size_t pos = static_cast<size_t>(start) - 1;
  Options o;
  lua_settop(L, 2);
  while (*fmt) {
    char opt = *fmt++;
    size_t size = SizeOf(L, opt, &fmt);
    pos += Padding(pos, o, opt, size);
    luaL_argcheck(L, size <= len && pos <= len - size, 2, "data string too short");
    luaL_checkstack(L, 2, "too many results");
    if (IsInteger(opt)) {
      lua_pushnumber(L, GetInteger(data + pos, o.little, std::islower(opt) != 0, size));
      pos += size;
      continue;
    }
    switch (opt) {
      case 'x':
        break;
      case 'f':
        lua_pushnumber(L, GetFloat<float>(data + pos, o.little));
        break;
      case 'd':
        lua_pushnumber(L, GetFloat<double>(data + pos, o.little));
        break;
      case 'c': {
        if (size == 0) {
          if (lua_gettop(L) == 2 || !lua_isnumber(L, -1)) {
            luaL_error(L, "format 'c0' needs a previous size");
          }
          size = static_cast<size_t>(lua_tonumber(L, -1));
          lua_pop(L, 1);
          luaL_argcheck(L, size <= len && pos <= len - size, 2, "data string too short");
        }
        lua_pushlstring(L, data + pos, size);
        break;
      }
      case 's': {
        const void* end = std::memchr(data + pos, '\0', len - pos);
        if (!end) luaL_error(L, "unfinished string in data");
        size = static_cast<size_t>(static_cast<const char*>(end) - (data + pos)) + 1;
        lua_pushlstring(L, data + pos, size - 1);
        break;
      }
      default:
        Control(L, opt, &fmt, &o);
    }
    pos += size;
  }
  lua_pushinteger(L, static_cast<lua_Integer>(pos) + 1);
  return lua_gettop(L) - 2;
}

int Size(lua_State* L) {
  const char* fmt = luaL_checkstring(L, 1);
  Options o;
  size_t total = 0;
  while (*fmt) {
    char opt = *fmt++;
    size_t size = SizeOf(L, opt, &fmt);
    total += Padding(total, o, opt, size);
    if (opt == 's' || (opt == 'c' && size == 0)) {
      luaL_argerror(L, 1,
                    lua_pushfstring(L, "option '%s' has no fixed size", opt == 's' ? "s" : "c0"));
    } else if (size == 0) {
      Control(L, opt, &fmt, &o);
    }
    total += size;
  }
  lua_pushinteger(L, static_cast<lua_Integer>(total));
  return 1;
}

}  // namespace

int OpenStruct(lua_State* L) {
  static const luaL_Reg kFunctions[] = {
      {"pack", Pack}, {"unpack", Unpack}, {"size", Size}, {nullptr, nullptr}};
  lua_newtable(L);
  luaL_register(L, nullptr, kFunctions);
  return 1;
}

}  // namespace desaster
