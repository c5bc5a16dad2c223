// The CRC-64 Redis puts at the end of RDB files and DUMP payloads (Jones polynomial,
// reflected, initial value 0): crc64(0, "123456789") == 0xe9c6d914c4b8d9ca.
#pragma once

#include <cstdint>
#include <string_view>

namespace desaster::rdb {

// Continues the checksum `crc` over `bytes`.
uint64_t Crc64(uint64_t crc, std::string_view bytes);

}  // namespace desaster::rdb
