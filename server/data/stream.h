// A stream: entries ordered by ID, each a flat list of field/value pairs, plus the counters
// Redis keeps (the last ID ever generated, entries added, the highest deleted ID) so that IDs
// never go backwards even after deletions, and its consumer groups.
#pragma once

#include <cstdint>
#include <map>
#include <set>
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

// An entry a consumer group delivered and no one acknowledged yet (XACK).
struct StreamPending {
  std::string consumer;
  int64_t delivery_ms = 0;  // last delivery, ms since the epoch
  uint64_t deliveries = 1;
  std::string Encode() const;
  static bool Decode(std::string_view bytes, StreamPending* out);
};

struct StreamConsumer {
  int64_t seen_ms = 0;         // last read or claim; not durable (a restart starts it afresh)
  std::set<StreamId> pending;  // its entries of the group's pending list
};

// A consumer group (XGROUP CREATE): where its next delivery starts, how many entries it read
// (-1: unknown, as after XDEL in what it has not read), its pending entries and consumers.
struct StreamGroup {
  StreamId last_delivered;
  int64_t entries_read = -1;
  std::map<StreamId, StreamPending> pending;
  std::map<std::string, StreamConsumer, std::less<>> consumers;
  // last_delivered and entries_read; the rest has records of its own.
  std::string EncodeState() const;
  static bool DecodeState(std::string_view bytes, StreamGroup* out);
};

struct Stream {
  std::map<StreamId, std::vector<std::string>> entries;
  StreamMeta meta;
  std::map<std::string, StreamGroup, std::less<>> groups;  // by name, bytewise as Redis
};

// How many entries were added to `s` up to `id` (a group's entries-read), or -1 when that
// cannot be known (an entry deleted from the middle, an ID between the first and the last):
// Redis' estimate, which a group's lag and entries-read must agree with.
int64_t EntriesUpTo(const Stream& s, StreamId id);

// Field/value lists as one byte string (length-prefixed items), for mutations and the store.
std::string EncodeFields(const std::vector<std::string>& fields);
std::vector<std::string> DecodeFields(std::string_view bytes);

}  // namespace desaster
