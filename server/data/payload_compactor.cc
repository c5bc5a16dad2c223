#include "server/data/payload_compactor.h"

#include <algorithm>

#include "server/clock.h"

namespace desaster {
namespace {

// A round over a million jobs that finds nothing to do still reads each of them (about 0.1 s of
// the loop's idle time): rounds start at most once a second, or once `after_ms`, if longer.
constexpr int64_t kMinRoundGapMs = 1000;
// Slots visited between looks at the clock.
constexpr size_t kSlotsPerCheck = 256;

}  // namespace

uint64_t PayloadCompactor::Activity() const {
  uint64_t added = 0;
  for (int i = 0; i < keyspace_->databases(); i++) added += keyspace_->db(i).jobs_added();
  return added + CompressionStats().decompressed_in_place;
}

bool PayloadCompactor::Due(int64_t now_ms, int64_t after_ms) const {
  if (in_round_) return true;
  if (now_ms - round_started_ms_ < std::max(after_ms, kMinRoundGapMs)) return false;
  return last_.pending > 0 || Activity() != activity_at_start_;
}

bool PayloadCompactor::Step(int64_t after_ms, int64_t budget_us) {
  int64_t deadline = MonotonicUs() + budget_us;
  if (!in_round_) {
    in_round_ = true;
    db_ = 0;
    round_ = {};
    round_started_ms_ = keyspace_->now_ms();
    activity_at_start_ = Activity();
  }
  while (db_ < keyspace_->databases()) {
    if (keyspace_->db(db_).CompressPayloads(after_ms, kSlotsPerCheck, &round_)) db_++;
    if (MonotonicUs() >= deadline && db_ < keyspace_->databases()) return false;
  }
  in_round_ = false;
  last_ = round_;
  return true;
}

}  // namespace desaster
