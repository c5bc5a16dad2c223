// The commit stage (DESIGN.md §4): makes each event-loop iteration's batch of mutations durable
// before any reply that depends on it is released.
#pragma once

#include <string>

#include "server/store/mutation.h"

namespace desaster {

class CommitPipeline {
 public:
  virtual ~CommitPipeline() = default;
  // Makes `batch` durable under the configured sync policy. Returns false with *error set when
  // it could not; the caller must then not acknowledge the batch's writes.
  virtual bool Commit(const Batch& batch, std::string* error) = 0;
};

// Keeps nothing: the in-memory keyspace is the only copy. Used until the LevelDB stage exists
// and by tests of the layers above it.
class VolatileCommit : public CommitPipeline {
 public:
  bool Commit(const Batch&, std::string*) override { return true; }
};

}  // namespace desaster
