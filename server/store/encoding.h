// How the keyspace is laid out in LevelDB. Element-granular: one hash field, set member or zset
// member per record, and one run of list elements (below), so a push or a field update is at
// most one Put, never a rewrite of the whole value. Integers are big-endian so LevelDB's bytewise
// order is numeric order, and a key's records are contiguous (its key length precedes its bytes, so
// "ab" never prefixes "abc").
//
//   "\0format"                             -> "desaster-store 5" (4: before hash fields' order,
//                                             3: before big strings' chunks, 2: before job runs,
//                                             1: before list runs)
//   "\0lsn"                                -> read, never written: the LSN reservation of stores
//                                             made before it moved to DESASTER-LSN (int64)
//   "\0log-index"                          -> cluster mode: the last log entry applied (int64)
//   "\0database-map"                       -> SWAPDB: the stored database of each number
//   'e' db:u16 klen:u32 key tag:u8 suffix  -> element record, by tag:
//       's' string  suffix empty                          value: the string
//       'c' a string edited in chunks (SETRANGE, APPEND past kStringChunk bytes):
//                   suffix empty                          value: its length (int64)
//                   suffix: chunk index (u32)             value: the bytes from index *
//                                                         kStringChunk; a chunk without a record,
//                                                         and a short one's rest, are zeros
//       'l' list    suffix empty: the list's trim          value: varints dead_front, dead_back
//                   suffix: position (int64, sign flipped) value: one element
//                   suffix: position, count (u32, >= 2)    value: a run of `count` elements,
//                                                                 each varint length + bytes
//       'H' hash    suffix: field                         value: varint seq, then the field's
//                                                         value (seq: its place in a compact
//                                                         hash's insertion order, 0 in a table:
//                                                         server/data/hash.h)
//       'S' set     suffix: member                        value: empty
//       'z' zset    suffix: member                        value: score (IEEE-754, 8 bytes)
//       'X' stream  suffix empty: the stream's counters   value: StreamMeta::Encode
//                   suffix: entry ID (16 bytes)           value: EncodeFields(field/values)
//       'G' a stream's consumer group, suffix glen:u32 group, then
//                   0x00                                  value: StreamGroup::EncodeState
//                   0x01 consumer                         value: empty
//                   0x02 entry ID (16 bytes)              value: StreamPending::Encode
//                   (so a group's records load before its stream's entries, its state before
//                   its consumers, and they before their pending entries)
//   'q' db:u16 klen:u32 key 0x00           -> queue configuration (QueueConfig::Encode)
//   'q' db:u16 klen:u32 key 0x01 id:u64    -> one job's record (Job::Encode)
//   'q' db:u16 klen:u32 key 0x01 first:u64 'd'
//                                          -> a job run's dead map: bit i set, job i is gone
//   'q' db:u16 klen:u32 key 0x01 first:u64 'r'
//                                          -> a job run: jobs a commit added to the queue
//                                             (EncodeJobRun), the first with id `first`
//   'c' db:u16 klen:u32 name               -> recurring schedule (Schedule::Encode)
//   'w' db:u16 klen:u32 id                 -> a registered native worker (Keyspace::Worker::Encode)
//   'm' epoch:i64                          -> cluster mode: a master's term (EncodeMasterTerm)
//   'i'                                    -> desaster-migrate's import (Keyspace::Import::Encode)
//   'l' name                               -> a FUNCTION library: its code (kFunctionLoad)
//   'f' db:u16 id:u64                      -> failed job (Failure::Encode)
//   'd' db:u16 id:u64                      -> completed job, by its id (Completion::Encode)
//   'x' db:u16 klen:u32 key                -> expiry, ms since the epoch (int64)
//   't' db:u16 nlen:u32 series tag:2 start:i64 -> a job metrics cell (MetricCell::Encode);
//                                              tag: MetricCellKey::Tag
//
// Beside LevelDB's files, DESASTER-LSN holds the LSN reservation: a decimal LSN at or above every
// committed batch's, replaced atomically (rename) once per kLsnReserve batches. After a restart,
// batches are numbered above it. It is not a record because a record sits in the table LevelDB
// flushes together with the records written around it, and that table then spans from the
// record's key to theirs. Keys that only grow (job ids, RPUSH) or only shrink (LPUSH) flush into
// tables that overlap nothing and sink without ever being rewritten; one such spanning table, on
// either side, overlaps every table flushed after it, and each compaction then rewrites them all.
// For the same reason a new store flushes its format record into a table of its own.
//
// A list's records are runs: the elements one commit pushes onto the same end of a list share a
// record (up to kRunMaxElements or kRunMaxBytes), so a pipelined or busy queue costs LevelDB one
// insert per run instead of one per element. A pop from a run that keeps other elements leaves
// the record alone and counts the element dead instead: the trim record says how many elements
// at the front of the first run and at the back of the last run are gone. A run is rewritten
// only by a change inside it (LSET, LINSERT, LREM: bounded by the run's size) and before a push
// would put a run beyond one with dead elements (the trim describes only the outer runs).
//
// A queue's jobs are runs too: the jobs one commit adds to a queue (kJobRunMinJobs or more) share
// a record, in id order. A job of a run that is taken, or changes (a lease, a retry, a move),
// is marked in the run's dead map, and a change is written as the job's own record; the run's
// record and dead map are deleted with its last live job. Every id a queue has a record for
// (live or dead in a run, or its own) is at most the highest id ever written to the queue, so a
// job above it is new to the store: it joins the commit's run, and if it is taken in the same
// commit nothing is written at all. Runs sort among the jobs' own records by id, so a load
// meets a queue's jobs in about the order they were pushed and appends each (a queue inserts in
// the middle at a cost that grows with its length). A run's bytes stay on disk until its last job
// is taken: a FIFO queue frees runs in order, a priority queue may keep a run for one low-priority
// job.
//
// List positions are sparse (new runs step by kListGap) so an insert in the middle usually takes
// the midpoint of its neighbours; only when no room is left is the list renumbered. A list that
// has no records starts at ListBase of the batch's LSN, so a list emptied and filled again (a work
// queue) writes keys above those of its earlier lives, whose records and tombstones LevelDB may
// still hold: its tables then overlap none of theirs and need no compaction to sink.
#pragma once

#include <bitset>
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "server/store/mutation.h"

namespace desaster::store {

inline constexpr std::string_view kFormatKey{"\0format", 7};
inline constexpr std::string_view kFormatValue = "desaster-store 5";
// Older formats: they are read as they are, but for their hash fields (kHashV4), which are
// rewritten on open, and marked kFormatValue, so that an older binary refuses them (it would not
// see list or job runs, or hash fields).
inline constexpr std::string_view kFormatValueV1 = "desaster-store 1";
inline constexpr std::string_view kFormatValueV2 = "desaster-store 2";
inline constexpr std::string_view kFormatValueV3 = "desaster-store 3";
inline constexpr std::string_view kFormatValueV4 = "desaster-store 4";
inline constexpr std::string_view kLsnKey{"\0lsn", 4};
inline constexpr std::string_view kLsnFile = "DESASTER-LSN";
// Cluster mode: the last log entry applied (int64), written with the batch that applies it.
inline constexpr std::string_view kLogIndexKey{"\0log-index", 10};
// SWAPDB's map: which stored database each number names (Keyspace::DatabaseMap); absent:
// each its own.
inline constexpr std::string_view kDatabaseMapKey{"\0database-map", 13};
inline constexpr uint64_t kLsnReserve = uint64_t{1} << 20;
inline constexpr int64_t kListGap = int64_t{1} << 20;
inline constexpr size_t kRunMaxElements = 128;
inline constexpr size_t kRunMaxBytes = 16 << 10;
// A job run is never rewritten, so it may be larger than a list's; fewer jobs than the minimum
// are written as records of their own (a run costs the store's memory about 100 bytes).
inline constexpr size_t kJobRunMinJobs = 8;
inline constexpr size_t kJobRunMaxJobs = 128;
inline constexpr size_t kJobRunMaxBytes = 64 << 10;

enum Tag : char {
  kString = 's',
  kChunkedString = 'c',
  kList = 'l',
  kHash = 'H',
  kHashV4 = 'h',  // before format 5: the value alone, no seq
  kSet = 'S',
  kZSet = 'z',
  kStream = 'X',
  kStreamGroup = 'G'
};

// The kinds of a consumer group's records, after its name in the suffix.
enum class GroupRecord : char { kState = 0, kConsumer = 1, kPending = 2 };

// 'e' + db + klen + key: every element record of the key starts with this.
std::string ElementPrefix(int db, std::string_view key);
// 'x' + db + klen + key.
std::string ExpireKey(int db, std::string_view key);
// 'q' + db + klen + key: every record of the queue at `key`.
std::string QueuePrefix(int db, std::string_view key);
std::string QueueConfigKey(int db, std::string_view key);
// Under the queue's QueuePrefix: a job's own record, a job run's record and its dead map.
std::string JobKey(std::string_view queue_prefix, uint64_t id);
std::string JobRunKey(std::string_view queue_prefix, uint64_t first);
std::string JobRunDeadKey(std::string_view queue_prefix, uint64_t first);
std::string ScheduleKey(int db, std::string_view name);
std::string WorkerKey(int db, std::string_view id);
std::string MasterTermKey(int64_t epoch);
// The one record of the import state.
inline constexpr std::string_view kImportKey = "i";
// A FUNCTION library's record, and back (false if `record` is not one).
std::string FunctionLibraryKey(std::string_view name);
bool DecodeFunctionLibraryKey(std::string_view record, std::string_view* name);
inline constexpr std::string_view kFunctionLibraryPrefix = "l";
// The one record of a cluster's ACL users (kAclUsers).
inline constexpr std::string_view kAclUsersKey = "u";
// A kMasterTerm's node, address and start time, as its record holds them.
std::string EncodeMasterTerm(std::string_view node, std::string_view address,
                             std::string_view since_ms);
// The kinds of records kept per database ('e' + db, 'q' + db, ...): what FLUSHDB deletes.
inline constexpr char kDatabaseRecordKinds[] = {'e', 'q', 'c', 'f', 'd', 'x', 't'};
// A job metrics cell's record, and back (false if `record` is not one).
std::string MetricKey(int db, std::string_view series, std::string_view tag, int64_t start_ms);
bool DecodeMetricKey(std::string_view record, int* db, std::string_view* series,
                     std::string_view* tag, int64_t* start_ms);
// The record of failure or completion `id` (`kind` 'f' or 'd').
std::string IdRecordKey(char kind, int db, uint64_t id);
// 'e' + db (or 'x' + db): every record of one database.
std::string DatabasePrefix(char kind, int db);

// Grows with `lsn` by 2^10 pushes' worth of positions per batch, and wraps every 2^32 batches
// (the order it buys is an optimisation, never relied on), so pushes in either direction have
// room for more than 2^42 elements.
inline int64_t ListBase(uint64_t lsn) { return static_cast<int64_t>((lsn & 0xFFFFFFFFu) << 30); }

// A chunked string's chunk `index` (its length record: StringLengthKey), under its ElementPrefix.
std::string StringChunkKey(std::string_view prefix, uint32_t index);
std::string StringLengthKey(std::string_view prefix);
// Parses a chunked string record's suffix: false for the length record (empty) or a malformed one.
bool DecodeStringChunkSuffix(std::string_view suffix, uint32_t* index);

// A consumer group's record under its stream's ElementPrefix: `rest` is the consumer's name
// or the entry's ID; without `kind`, the prefix of all the group's records.
std::string StreamGroupKey(std::string_view prefix, std::string_view group);
std::string StreamGroupKey(std::string_view prefix, std::string_view group, GroupRecord kind,
                           std::string_view rest = {});
// Parses a group record's suffix; false when malformed.
bool DecodeStreamGroupSuffix(std::string_view suffix, std::string_view* group, GroupRecord* kind,
                             std::string_view* rest);

// The record of the run at `pos` holding `count` elements, under the list's ElementPrefix.
std::string ListRunKey(std::string_view prefix, int64_t pos, uint32_t count);
// The list's trim record.
std::string ListTrimKey(std::string_view prefix);
// Parses a list record's suffix: false for the trim record (empty) or a malformed one.
bool DecodeListRunSuffix(std::string_view suffix, int64_t* pos, uint32_t* count);
// A run's record value, and back: `count` elements that point into `value`; false if malformed.
// A run of one is the element itself.
std::string EncodeListRun(const std::deque<std::string_view>& elements);
bool DecodeListRun(std::string_view value, uint32_t count, std::vector<std::string_view>* out);
std::string EncodeListTrim(uint32_t dead_front, uint32_t dead_back);
bool DecodeListTrim(std::string_view value, uint32_t* dead_front, uint32_t* dead_back);

// A job run's record value, and back: jobs in ascending id order, the first with id `first`.
// The records point into the value. DecodeJobRun is false if the value is malformed.
struct RunJob {
  uint64_t id;
  std::string_view record;
};
std::string EncodeJobRun(std::span<const RunJob> jobs);
bool DecodeJobRun(std::string_view value, uint64_t first, std::vector<RunJob>* out);
using DeadMap = std::bitset<kJobRunMaxJobs>;
// The first `count` bits of a dead map, and back (bits past the value's bytes are clear).
std::string EncodeDeadMap(const DeadMap& dead, size_t count);
DeadMap DecodeDeadMap(std::string_view value);

// A hash field's record value (kHash), and back: false if malformed.
std::string EncodeHashField(uint64_t seq, std::string_view value);
bool DecodeHashField(std::string_view record, uint64_t* seq, std::string_view* value);

std::string EncodeInt64(int64_t v);             // 8 bytes, order-preserving for signed values
void AppendInt64(std::string* out, int64_t v);  // EncodeInt64(v) appended to *out
int64_t DecodeInt64(std::string_view s);
std::string EncodeScore(double score);
double DecodeScore(std::string_view s);

struct ElementKey {
  int db = 0;
  std::string_view key;
  char tag = 0;
  std::string_view suffix;
};
// Parses an 'e' record key; false if it is not one.
bool DecodeElementKey(std::string_view record, ElementKey* out);
struct QueueKey {
  enum Kind { kConfig, kJob, kRun, kRunDeadMap };
  int db = 0;
  std::string_view key;
  Kind kind = kConfig;
  uint64_t id = 0;         // kJob: the job's; kRun, kRunDeadMap: the run's first
  size_t prefix_size = 0;  // of the record's QueuePrefix
};
// Parses a 'q' record key; false if it is not one.
bool DecodeQueueKey(std::string_view record, QueueKey* out);
// Parses a record key IdRecordKey(kind, ...) made; false if it is not one.
bool DecodeIdRecordKey(char kind, std::string_view record, int* db, uint64_t* id);
// Parses a 'c' record key; false if it is not one.
bool DecodeScheduleKey(std::string_view record, int* db, std::string_view* name);
// Parses a 'w' record key; false if it is not one.
bool DecodeWorkerKey(std::string_view record, int* db, std::string_view* id);
// Parses an 'm' record into the kMasterTerm it stores; false if it is not one.
bool DecodeMasterTerm(std::string_view record, std::string_view value, Mutation* out);
// Parses an 'x' record key; false if it is not one.
bool DecodeExpireKey(std::string_view record, int* db, std::string_view* key);

}  // namespace desaster::store
