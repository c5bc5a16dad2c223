// Writes DUMP payloads that every Redis from 5.0 to 7.4 restores: the oldest encoding of each
// type (plain lists, sets and hashes, binary-scored sorted sets, version-1 streams) and RDB
// version 9 in the footer, since a Redis refuses payloads newer than itself.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "rdb/object.h"

namespace desaster::rdb {

// The RDB version a payload claims (Redis 5.0's).
constexpr int kDumpVersion = 9;

// The DUMP payload of `o`. A hash's field expiries and a stream's consumer groups are not
// written: the encodings Redis 5.0 reads have no place for them.
std::string EncodeDump(const Object& o);

// FUNCTION DUMP's payload: each library's code after the function opcode, then the footer with
// RDB version 10 (Redis 7.0's, the first with functions).
std::string EncodeFunctions(const std::vector<std::string_view>& codes);

// Pieces of the format, for writers of compact encodings (and tests that build them).
void AppendLength(std::string* out, uint64_t n);
void AppendString(std::string* out, std::string_view s);
// A listpack of `items`; items that are canonical decimal integers are stored as integers, as
// Redis stores them.
std::string EncodeListpack(const std::vector<std::string>& items);
// The type byte, value and footer around an already encoded value (`version` in the footer).
std::string DumpFrame(uint8_t type, std::string_view value, int version = kDumpVersion);

}  // namespace desaster::rdb
