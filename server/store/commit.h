// The commit stage (DESIGN.md §4): makes each event-loop iteration's batch of mutations durable
// before any reply that depends on it is released, and rebuilds the keyspace from what is
// durable (at start, and after a failed commit).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "server/data/keyspace.h"
#include "server/store/mutation.h"

namespace desaster {

// Streams durable state into a keyspace a bounded amount at a time.
class StateLoader {
 public:
  virtual ~StateLoader() = default;
  // Applies up to `budget` records to `keyspace`; returns true once everything is loaded.
  virtual bool Step(Keyspace* keyspace, size_t budget) = 0;
  virtual uint64_t keys() const = 0;
  virtual uint64_t records() const = 0;
  // An LSN at or above that of every batch in the loaded state (0 when nothing was ever
  // committed); the batches committed after loading continue above it.
  virtual uint64_t lsn() const = 0;
  // Cluster mode: the last log entry the loaded state covers exactly (0: none).
  virtual uint64_t log_index() const { return 0; }
};

// A consistent copy of the durable state as of one commit, read a page at a time: what a
// cluster node that fell too far behind copies from another (DESIGN.md §10).
class StoreSnapshot {
 public:
  virtual ~StoreSnapshot() = default;
  // The last log entry the snapshot covers (cluster mode).
  virtual uint64_t log_index() const = 0;
  // Appends the records after key `after` (empty: from the first), about `max_bytes` of them,
  // to *records as key/value pairs. Returns false when there were none left.
  virtual bool Read(const std::string& after, size_t max_bytes,
                    std::vector<std::pair<std::string, std::string>>* records) = 0;
};

class CommitPipeline {
 public:
  virtual ~CommitPipeline() = default;
  // Makes `batches` (consecutive, in LSN order) durable as one write, synced to disk when `sync`.
  // Returns false with *error set when it could not; the caller must then not acknowledge their
  // writes. After a failure every Commit fails until Probe succeeds, so nothing committed later
  // can stand on a batch that was lost.
  virtual bool Commit(std::span<const Batch> batches, bool sync, std::string* error) = 0;
  // Syncs everything committed so far (the `everysec` policy calls this once a second).
  virtual bool Flush(std::string* error) = 0;
  // After a failure: whether a synced write succeeds again.
  virtual bool Probe(std::string* error) = 0;
  // A loader of the durable state. Loading resets what the pipeline knows of the keyspace, so
  // the keyspace must be empty when the loader starts.
  virtual std::unique_ptr<StateLoader> NewLoader() = 0;
  // "leveldb", "none", ...: for INFO.
  virtual std::string engine() const = 0;
  // A snapshot of what is committed now; nullptr when the pipeline keeps nothing.
  virtual std::unique_ptr<StoreSnapshot> Snapshot() { return nullptr; }
};

// Keeps nothing: the in-memory keyspace is the only copy. For tests of the layers above.
class VolatileCommit : public CommitPipeline {
 public:
  bool Commit(std::span<const Batch>, bool, std::string*) override { return true; }
  bool Flush(std::string*) override { return true; }
  bool Probe(std::string*) override { return true; }
  std::unique_ptr<StateLoader> NewLoader() override;
  std::string engine() const override { return "none"; }
};

}  // namespace desaster
