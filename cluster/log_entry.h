// The entries of the replicated log (DESIGN.md §10): what a master appends to etcd under
// log/<lsn> and every replica applies in LSN order. An entry holds the mutations of one commit
// group (the batches the master committed together), or, for a group bigger than etcd accepts in
// one request, a part of them: parts take consecutive LSNs and the last is marked final.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "server/store/mutation.h"

namespace desaster {

// The format this build writes. A replica refuses an entry of a newer format rather than
// misapply it. Format 2 added compressed groups; format 1 entries are still read.
inline constexpr uint8_t kLogFormat = 2;

struct LogEntry {
  uint8_t format = kLogFormat;
  bool final = true;        // the group's last part (a group in one entry: that entry)
  bool compressed = false;  // the group's payload is zstd-compressed (said by each of its parts)
  uint64_t epoch = 0;       // of the master that appended it
  std::string payload;      // this part of the group's payload
};

std::string EncodeLogEntry(const LogEntry& entry);
// Nullopt when `bytes` is not a well-formed entry (its format may be newer: see `format`).
std::optional<LogEntry> DecodeLogEntry(std::string_view bytes);

// The mutations of `batches`, in order, as one payload.
std::string EncodeMutations(std::span<const Batch> batches);
// Nullopt when `payload` is damaged or names a database outside [0, databases).
std::optional<std::vector<Mutation>> DecodeMutations(std::string_view payload, int databases);

// A commit group as log entries: the mutations of `batches`, compressed when that makes them
// smaller (etcd's throughput is in bytes), in entries of at most `max_bytes` of payload each.
std::vector<LogEntry> EncodeGroup(std::span<const Batch> batches, uint64_t epoch, size_t max_bytes);

// A complete group as the log holds it.
struct LogGroup {
  bool compressed = false;
  std::string payload;
};
// The mutations of `group`; nullopt when it is damaged (see DecodeMutations).
std::optional<std::vector<Mutation>> DecodeGroup(const LogGroup& group, int databases);

// Reassembles groups from entries in LSN order. Parts of a group that a later epoch's entry
// follows were never acknowledged (their master died mid-group) and are dropped.
class GroupAssembler {
 public:
  // Takes the entry at the next LSN; returns the complete group when `entry` ends one.
  std::optional<LogGroup> Add(LogEntry entry);
  // Forgets an incomplete group (a resync starts again at a group boundary).
  void Reset() {
    parts_.clear();
    epoch_ = 0;
  }
  bool incomplete() const { return !parts_.empty(); }

 private:
  std::string parts_;
  uint64_t epoch_ = 0;
};

}  // namespace desaster
