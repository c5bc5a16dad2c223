#include "server/queue/job_table.h"

#include <algorithm>
#include <utility>

#include "server/queue/mix.h"

namespace desaster {

namespace {

constexpr size_t kMinCapacity = 16;

// Job ids are a millisecond clock and a counter, so ids made together are consecutive. Runs of
// kRun consecutive ids get neighbouring slots at a pseudo-random place: a burst of pushes (and
// the pops that follow in the same order) touches one cache line per run instead of one per job,
// and runs this short keep linear probing's clusters short.
constexpr unsigned kRunBits = 3;
constexpr uint64_t kRun = uint64_t{1} << kRunBits;

}  // namespace

size_t JobTable::HomeOf(uint64_t id, size_t capacity) {
  return (MixBits(id >> kRunBits) + (id & (kRun - 1))) & (capacity - 1);
}

uint8_t JobTable::StoredDistance(size_t distance) {
  return static_cast<uint8_t>(std::min<size_t>(distance, kFar));
}

size_t JobTable::Distance(size_t i) const {
  if (distance_[i] < kFar) return distance_[i];
  return (i - Home(slots_[i]->id)) & (slots_.size() - 1);
}

size_t JobTable::Locate(uint64_t id) const {
  if (slots_.empty()) return SIZE_MAX;
  size_t mask = slots_.size() - 1;
  for (size_t d = 0, i = Home(id);; d++, i = (i + 1) & mask) {
    if (slots_[i] == nullptr) return SIZE_MAX;
    // Only a job whose home is this id's can be it: the others are passed without reading them.
    if (distance_[i] == StoredDistance(d) && slots_[i]->id == id) return i;
  }
}

Job* JobTable::Find(uint64_t id) const {
  size_t i = Locate(id);
  return i == SIZE_MAX ? nullptr : slots_[i];
}

void JobTable::Insert(std::unique_ptr<Job> job) {
  // At most 3/4 full, so probes stay short and an empty slot always ends them.
  if ((size_ + 1) * 4 > slots_.size() * 3) Rehash(std::max(kMinCapacity, slots_.size() * 2));
  Place(job.release());
  size_++;
}

void JobTable::Place(Job* job) {
  size_t mask = slots_.size() - 1, d = 0, i = Home(job->id);
  for (; slots_[i] != nullptr; d++) i = (i + 1) & mask;
  slots_[i] = job;
  distance_[i] = StoredDistance(d);
}

std::unique_ptr<Job> JobTable::Extract(uint64_t id, Shrinking shrinking) {
  size_t i = Locate(id);
  if (i == SIZE_MAX) return nullptr;
  std::unique_ptr<Job> out(slots_[i]);
  slots_[i] = nullptr;
  size_--;
  // Backward shift: pull later entries of the probe run into the gap when their home allows,
  // so lookups never need tombstones. An entry's distance from its home says whether it may
  // move: its home lies in (gap, j] exactly when that distance is below j - gap.
  size_t mask = slots_.size() - 1;
  for (size_t j = (i + 1) & mask; slots_[j] != nullptr; j = (j + 1) & mask) {
    size_t distance = Distance(j), gap = (j - i) & mask;
    if (distance < gap) continue;
    slots_[i] = std::exchange(slots_[j], nullptr);
    distance_[i] = StoredDistance(distance - gap);
    i = j;
  }
  if (shrinking == Shrinking::kNow) Shrink();
  return out;
}

void JobTable::Shrink() {
  // A drained queue gives its memory back; a table with room left keeps it, so that pops and
  // pushes taking turns do not rehash.
  size_t capacity = slots_.size();
  while (capacity > kMinCapacity && size_ * 8 < capacity) capacity /= 2;
  if (capacity != slots_.size()) Rehash(capacity);
}

void JobTable::Clear() {
  for (Job* job : slots_) delete job;
  slots_.clear();
  slots_.shrink_to_fit();
  distance_.clear();
  distance_.shrink_to_fit();
  size_ = 0;
}

void JobTable::Rehash(size_t capacity) {
  PopulatedVector<Job*> old = std::exchange(slots_, PopulatedVector<Job*>(capacity, nullptr));
  distance_.assign(capacity, 0);
  for (Job* job : old) {
    if (job != nullptr) Place(job);
  }
}

}  // namespace desaster
