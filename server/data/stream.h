// A stream: entries ordered by ID, each a flat list of field/value pairs, plus the counters
// Redis keeps (the last ID ever generated, entries added, the highest deleted ID) so that IDs
// never go backwards even after deletions.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace desaster {

struct StreamId {
  uint64_t ms = 0, seq = 0;
  auto operator<=>(const StreamId&) const = default;
  std::string ToString() const { return std::to_string(ms) + "-" + std::to_string(seq); }
  // 16 bytes, big-endian: sorts like the ID (used in mutations and LevelDB keys).
  std::string Encode() const;
  static StreamId Decode(std::string_view bytes);
};

struct StreamMeta {
  StreamId last_id;
  uint64_t entries_added = 0;
  StreamId max_deleted;
  std::string Encode() const;
  static StreamMeta Decode(std::string_view bytes);
};

struct Stream {
  std::map<StreamId, std::vector<std::string>> entries;
  StreamMeta meta;
};

// Field/value lists as one byte string (length-prefixed items), for mutations and the store.
std::string EncodeFields(const std::vector<std::string>& fields);
std::vector<std::string> DecodeFields(std::string_view bytes);

}  // namespace desaster
