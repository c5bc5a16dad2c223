// libFuzzer target: arbitrary bytes through the request parser, fed in arbitrary chunkings.
// The parser must never crash, read out of bounds or allocate what a header merely claims; the
// look-ahead (PeekKeys) must only report keys inside what it was given.
#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "resp/parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t chunk = 1 + data[0] % 16;  // first byte picks the chunk size
  resp::RequestParser parser(resp::ParseLimits{1 << 20, 1024, 4096});
  std::string buffer;
  std::vector<std::string> args;
  std::string error;
  for (size_t off = 1; off < size; off += chunk) {
    buffer.append(reinterpret_cast<const char*>(data) + off, std::min(chunk, size - off));
    while (!buffer.empty()) {
      std::array<std::string_view, 16> keys;
      size_t peeked = resp::PeekKeys(buffer.data(), buffer.size(), keys);
      if (peeked > keys.size()) __builtin_trap();
      for (size_t i = 0; i < peeked; i++) {
        if (keys[i].data() < buffer.data() ||
            keys[i].data() + keys[i].size() > buffer.data() + buffer.size()) {
          __builtin_trap();
        }
      }
      size_t consumed = 0;
      auto status = parser.Parse(buffer.data(), buffer.size(), &consumed, &args, &error);
      if (consumed > buffer.size()) __builtin_trap();
      buffer.erase(0, consumed);
      if (status == resp::RequestParser::Status::kError) return 0;
      if (status == resp::RequestParser::Status::kIncomplete) break;
    }
  }
  return 0;
}
