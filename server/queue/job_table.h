// Jobs by id, owned: an open-addressing table of Job pointers (linear probing, backward-shift
// deletion). A queued job costs 8-21 bytes here, against about 40 in an unordered_map node and
// bucket, and millions of jobs are queued (scripts/bench's memory rows).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

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
  // Removes the job with `id` and hands it back (nullptr when absent).
  std::unique_ptr<Job> Extract(uint64_t id);
  // Deletes every job.
  void Clear();
  size_t size() const { return size_; }

 private:
  size_t Home(uint64_t id) const;
  // The slot holding `id`, or SIZE_MAX.
  size_t Locate(uint64_t id) const;
  void Rehash(size_t capacity);

  std::vector<Job*> slots_;  // nullptr: empty; the size is a power of two (or zero)
  size_t size_ = 0;
};

}  // namespace desaster
