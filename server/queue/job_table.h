// Jobs by id, owned: an open-addressing table of Job pointers (linear probing, backward-shift
// deletion). A queued job costs 9-24 bytes here, against about 40 in an unordered_map node and
// bucket, and millions of jobs are queued (scripts/bench's memory rows).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "server/populated.h"
#include "server/queue/job.h"

namespace desaster {

class JobTable {
 public:
  JobTable() = default;
  ~JobTable() { Clear(); }
  JobTable(const JobTable&) = delete;
  JobTable& operator=(const JobTable&) = delete;

  // Takes the job; its id must not be in the table yet.
  void Insert(std::unique_ptr<Job> job);
  // The job with `id`, or nullptr.
  Job* Find(uint64_t id) const;
  // A hint that `id` is looked up soon: the cache starts fetching the slot where its probe
  // starts.
  void Prefetch(uint64_t id) const {
    if (slots_.empty()) return;
    size_t home = Home(id);
    __builtin_prefetch(&slots_[home]);
    __builtin_prefetch(&distance_[home]);
  }
  // Whether Extract gives memory back as the table empties. kLater suits removing many jobs
  // at once, which would otherwise move the survivors at every halving: call Shrink after.
  enum class Shrinking { kNow, kLater };
  // Removes the job with `id` and hands it back (nullptr when absent).
  std::unique_ptr<Job> Extract(uint64_t id, Shrinking shrinking = Shrinking::kNow);
  // Gives memory back if the table is mostly empty (what Extract does with kNow).
  void Shrink();
  // Deletes every job.
  void Clear();
  size_t size() const { return size_; }
  // The slots the table holds (its memory: 9 bytes each).
  size_t capacity() const { return slots_.size(); }

  // Calls fn(job) for each job in slots [from, from + n) and returns the slot to go on from: 0
  // once the last slot was visited. fn must not insert or remove jobs; between calls jobs move
  // between slots, so a round of calls may visit a job twice or miss it (as Redis' SCAN does
  // across a rehash).
  template <typename Fn>
  size_t VisitSlots(size_t from, size_t n, Fn&& fn) const {
    size_t end = std::min(slots_.size(), from + n);
    for (size_t i = from; i < end; i++) {
      if (slots_[i]) fn(slots_[i]);
    }
    return end == slots_.size() ? 0 : end;
  }

  // The slot where the probe for `id` starts in a table of `capacity` slots (a power of two).
  // Ids with the same home at one capacity share it at every smaller one. Public so tests can
  // build long probe runs.
  static size_t HomeOf(uint64_t id, size_t capacity);

 private:
  // Distances from home at or past this are not stored: the job's id says.
  static constexpr uint8_t kFar = 255;
  static uint8_t StoredDistance(size_t distance);

  size_t Home(uint64_t id) const { return HomeOf(id, slots_.size()); }
  // How far the job in slot `i` sits past its home.
  size_t Distance(size_t i) const;
  // The slot holding `id`, or SIZE_MAX.
  size_t Locate(uint64_t id) const;
  // Puts the job in the first free slot from its home; the table has one.
  void Place(Job* job);
  void Rehash(size_t capacity);

  PopulatedVector<Job*> slots_;  // nullptr: empty; the size is a power of two (or zero)
  // Each slot's distance from its job's home (StoredDistance), so probes and deletions pass
  // other jobs without reading them: every read is a cache miss once millions are queued.
  PopulatedVector<uint8_t> distance_;
  size_t size_ = 0;
};

}  // namespace desaster
