// A Redis value as RDB files and DUMP payloads carry it, with its encoding (listpack, ziplist,
// intset, quicklist, ...) already undone: what the value is, not how Redis kept it in memory.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace desaster::rdb {

enum class Type : uint8_t { kString, kList, kSet, kZSet, kHash, kStream };

// The opcode before a FUNCTION library's code, in RDB files and FUNCTION DUMP payloads.
inline constexpr uint8_t kOpcodeFunction = 245;

struct StreamId {
  uint64_t ms = 0, seq = 0;
  auto operator<=>(const StreamId&) const = default;
};

struct StreamEntry {
  StreamId id;
  std::vector<std::string> fields;  // field, value, field, value, ...
};

// An entry a consumer group delivered and no one acknowledged.
struct StreamPending {
  StreamId id;
  int64_t delivery_ms = 0;
  uint64_t deliveries = 0;
  std::string consumer;
};

struct StreamConsumer {
  std::string name;
  int64_t seen_ms = 0;
};

struct StreamGroup {
  std::string name;
  StreamId last_delivered;
  // -1: unknown; nullopt: not in the format (streams before version 2), to be estimated
  std::optional<int64_t> entries_read;
  std::vector<StreamPending> pending;  // in ID order, each with its consumer
  std::vector<StreamConsumer> consumers;
};

struct Stream {
  std::vector<StreamEntry> entries;  // in ID order, deleted entries left out
  StreamId last_id, max_deleted;
  uint64_t entries_added = 0;
  std::vector<StreamGroup> groups;
};

struct Object {
  Type type = Type::kString;
  std::string string;                                       // kString
  std::vector<std::string> elements;                        // kList (head first), kSet
  std::vector<std::pair<std::string, std::string>> fields;  // kHash
  // kHash from Redis 7.4: each field's absolute expiry in ms (0: none), parallel to `fields`;
  // empty when no field expires.
  std::vector<int64_t> field_expires;
  std::vector<std::pair<std::string, double>> members;  // kZSet: member, score
  Stream stream;                                        // kStream
};

}  // namespace desaster::rdb
