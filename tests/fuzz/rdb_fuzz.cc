// libFuzzer target: arbitrary bytes through the RDB reader, as a DUMP payload or a FUNCTION
// RESTORE payload (given a valid footer, so that the decoder and not the checksum meets them:
// both are open to clients) and as the body of an RDB file. Neither may crash, read out of bounds
// or allocate what a length merely claims; whatever decodes must encode and decode again to the
// same value.
#include <cstdint>
#include <string>
#include <vector>

#include "rdb/crc64.h"
#include "rdb/reader.h"
#include "rdb/writer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string error;
  if (data[0] & 1) {
    std::string body(input);
    desaster::rdb::Object o;
    if (!desaster::rdb::DecodeDump(
            desaster::rdb::DumpFrame(static_cast<uint8_t>(data[0] >> 1), body, 11), &o, &error)) {
      return 0;
    }
    desaster::rdb::Object again;
    if (!desaster::rdb::DecodeDump(desaster::rdb::EncodeDump(o), &again, &error)) __builtin_trap();
    if (again.type != o.type || again.string != o.string || again.elements != o.elements ||
        again.fields != o.fields || again.stream.entries.size() != o.stream.entries.size()) {
      __builtin_trap();
    }
  } else if (data[0] & 2) {
    // A FUNCTION RESTORE payload: the code of whatever libraries decode comes back the same.
    std::string payload(input);
    payload.append("\x0a\x00", 2);  // RDB version 10
    uint64_t crc = desaster::rdb::Crc64(0, payload);
    for (int i = 0; i < 8; i++) payload.push_back(static_cast<char>(crc >> (8 * i)));
    std::vector<std::string> codes, again;
    if (!desaster::rdb::DecodeFunctions(payload, &codes, &error)) return 0;
    std::vector<std::string_view> views(codes.begin(), codes.end());
    if (!desaster::rdb::DecodeFunctions(desaster::rdb::EncodeFunctions(views), &again, &error) ||
        again != codes) {
      __builtin_trap();
    }
  } else {
    std::string file = "REDIS0011" + std::string(input);
    desaster::rdb::FileReader reader(file);
    desaster::rdb::Record r;
    while (reader.Next(&r)) {
    }
  }
  return 0;
}
