// A mutation is the deterministic, logical effect of a command on the keyspace (DESIGN.md §4).
// Persistence, recovery and replication see only mutations, grouped into batches; applying the
// same batches in LSN order to an empty keyspace reproduces the state exactly.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "server/queue/record.h"

namespace desaster {

struct Mutation {
  enum class Op : uint8_t {
    kSetString,       // key = arg; keeps the TTL when `flag` (SET KEEPTTL, SETRANGE, APPEND, INCR)
    kSetRange,        // string key's bytes from `num` are arg (zero-filled up to `num`, created if
                      // absent); the TTL stays. A big string's SETRANGE and APPEND: `num` is a
                      // multiple of kStringChunk, and arg ends at one or at the string's end
    kDelete,          // key
    kExpireAt,        // key expires at `num` ms since the epoch
    kPersist,         // key loses its TTL
    kListPush,        // push arg on the left when `flag`, else on the right
    kListPop,         // pop one element from the left when `flag`, else from the right
    kListSet,         // element at index `num` = arg
    kListInsert,      // insert arg before index `num` (num == length appends)
    kListRemove,      // remove the element at index `num`
    kHashSet,         // field arg = arg2; `num`: its seq in a compact hash (server/data/hash.h)
    kHashDelete,      // field arg
    kSetAdd,          // member arg
    kSetRemove,       // member arg
    kZAdd,            // member arg with `score` (insert or update)
    kZRemove,         // member arg
    kStreamAdd,       // entry with ID arg (StreamId::Encode) and fields arg2 (EncodeFields)
    kStreamDelete,    // entry with ID arg
    kStreamSetMeta,   // the stream's counters = arg (StreamMeta::Encode); recovery only
    kRename,          // key -> arg in the same database, replacing arg
    kCopy,            // key -> arg in database `num`, replacing arg
    kFlushDb,         // every key of `db`
    kFlushAll,        // every key of every database
    kQueueConfig,     // queue `key` exists with configuration arg (QueueConfig::Encode)
    kQueueDrop,       // queue `key`, its configuration and all its jobs are gone
    kJobPut,          // job `num` is in queue `key` as record arg (Job::Encode); replaces it
    kJobDelete,       // job `num` (in queue `key`) is gone
    kScheduleSet,     // schedule named `key` = arg (Schedule::Encode)
    kScheduleDelete,  // schedule named `key` is gone
    kFailurePut,      // failure `num` = arg (Failure::Encode); replaces it
    kFailureDelete,   // failure `num` is gone
    // Cluster mode only, so that replicas' script caches are warm when one takes over. The
    // store keeps no scripts (as Redis keeps none across a restart).
    kScriptLoad,    // the script arg is in the script cache
    kScriptFlush,   // the script cache is empty
    kWorkerPut,     // native worker `key` is registered as arg (Keyspace::Worker::Encode)
    kWorkerDelete,  // native worker `key` is forgotten
    kMasterTerm,    // cluster mode: node `key` leads from epoch `num` on, reached at arg, since
                    // arg2 (ms since the epoch, decimal): the history of masters
    kImportState,   // desaster-migrate's import is arg (Keyspace::Import::Encode)
    // A stream's consumer groups: group arg of stream `key`.
    kStreamGroupPut,        // the group exists with state arg2 (StreamGroup::EncodeState)
    kStreamGroupDelete,     // the group, its consumers and its pending entries are gone
    kStreamConsumerPut,     // consumer arg2 exists
    kStreamConsumerDelete,  // consumer arg2 is gone (its pending entries were deleted before)
    kStreamPendingPut,      // arg2 = entry ID (16 bytes) + StreamPending::Encode
    kStreamPendingDelete,   // arg2 = entry ID (16 bytes)
    // SWAPDB: databases `db` and `num` (as clients number them) trade numbers; arg = which
    // stored database each number names after it (Keyspace::DatabaseMap). Records stay put.
    kSwapDb,
    // Cluster mode: the ACL users are arg, as an ACL file holds them (every user; a node
    // replaces its own with them). Stored, so that a node restarts with the cluster's users.
    kAclUsers,
    // FUNCTION's libraries (node state, stored and replicated, as in Redis' RDB): library `key`
    // holds code arg (replacing it); library `key` is gone; every library is gone.
    kFunctionLoad,
    kFunctionDelete,
    kFunctionFlush,
    kCompletionPut,     // completed job `num` = arg (Completion::Encode); replaces it. `flag`:
                        // read from the store (loading), which keeps its body
    kCompletionDelete,  // completed job `num` is forgotten
    // A job metrics cell (server/queue/metrics.h): series `key`, dimension and resolution arg2
    // (MetricCellKey::Tag), bucket starting at `num` ms = arg (MetricCell::Encode); replaces it.
    kMetricPut,
    kMetricDelete,  // that cell is gone
    // The jobs arg lists (EncodeJobIds) are gone from queue `key`: one mutation for a queue
    // cleared of a million jobs, where kJobDelete each made the clear take a second.
    kJobsDelete,
  };
  // The highest Op: a log entry with a higher one is from a newer version.
  static constexpr Op kLastOp = Op::kJobsDelete;

  Op op;
  bool flag = false;
  int db = 0;
  int64_t num = 0;
  double score = 0;
  std::string key;
  std::string arg;
  std::string arg2;
};

// kJobsDelete's list: each id as its difference from the one before (a zigzag varint), a byte
// or two for ids pushed together.
inline std::string EncodeJobIds(std::span<const uint64_t> ids) {
  std::string out;
  uint64_t previous = 0;
  for (uint64_t id : ids) {
    record::PutSigned(&out, static_cast<int64_t>(id - previous));
    previous = id;
  }
  return out;
}
// The ids EncodeJobIds listed; false (and some ids) when `list` is not such a list.
inline bool DecodeJobIds(std::string_view list, std::vector<uint64_t>* ids) {
  record::Reader r(list);
  ids->reserve(ids->size() + list.size());  // an id takes at least a byte
  uint64_t id = 0;
  while (r.ok() && r.remaining() > 0) {
    id += static_cast<uint64_t>(r.Signed());
    if (r.ok()) ids->push_back(id);
  }
  return r.ok();
}

// A string longer than this is edited (SETRANGE, APPEND) by kSetRange of the chunks an edit
// touches, not rewritten whole: the store keeps such a string in records of this size.
inline constexpr size_t kStringChunk = 64 << 10;

// The mutations of one event-loop iteration, committed together.
struct Batch {
  uint64_t lsn = 0;
  std::vector<Mutation> mutations;
  // Cluster mode: the replicated log's entry (DESIGN.md §10) this batch completes, which the
  // store records with it; 0 outside cluster mode.
  uint64_t log_index = 0;
};

}  // namespace desaster
