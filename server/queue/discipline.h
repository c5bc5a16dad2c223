// Disciplines decide which ready job of a queue goes next (DESIGN.md §5). A queue owns its jobs
// and hands them to its discipline while they are ready; the discipline only orders them.
//
// Adding a discipline = one new file here and one line in the table in discipline.cc.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/queue/job.h"

namespace desaster {

using Params = std::map<std::string, std::string, std::less<>>;

// The jobs of one flow or band in ascending Job::order. Removal anywhere is O(log n): it leaves
// a hole that pops skip and that is compacted away once holes outnumber jobs. A job costs 8
// bytes here: the line holds pointers and reads each job's order through it.
class JobFifo {
 public:
  void Insert(Job* job);
  bool Remove(const Job* job);
  Job* Front() const;  // nullptr when empty
  size_t size() const { return items_.size() - holes_; }
  bool empty() const { return size() == 0; }
  // Visits jobs in order, skipping `skip` of them, until `fn` returns false; returns false when
  // stopped by `fn`.
  bool ForEach(const std::function<bool(Job*)>& fn, size_t skip = 0) const;
  // Walks the jobs in order from a position (0: the front) that the caller keeps, so replaying
  // a round robin over several flows stays linear: returns the job at or after *pos and moves
  // *pos past it; nullptr at the end.
  Job* Next(size_t* pos) const;
  bool HasFrom(size_t pos) const { return Next(&pos) != nullptr; }

 private:
  // A job, or the hole a removed job left, which keeps that job's order so that the line stays
  // sorted for searches. A Job is aligned, so a hole is told by its low bit; its order fits in
  // the other 63 (Job::kOrderLimit).
  class Entry {
   public:
    explicit Entry(Job* job) : bits_(reinterpret_cast<uintptr_t>(job)) {}
    static Entry Hole(int64_t order) { return Entry((static_cast<uint64_t>(order) << 1) | 1); }
    Job* job() const { return bits_ & 1 ? nullptr : reinterpret_cast<Job*>(bits_); }
    int64_t order() const { return bits_ & 1 ? static_cast<int64_t>(bits_) >> 1 : job()->order; }

   private:
    explicit Entry(uint64_t bits) : bits_(bits) {}
    uint64_t bits_;
  };

  void Compact();

  std::deque<Entry> items_;
  size_t holes_ = 0;
};

class Discipline {
 public:
  virtual ~Discipline() = default;

  // Adds a ready job. Flow-based disciplines read job->flow, which the queue resolves first.
  virtual void Enqueue(Job* job) = 0;
  // Removes a ready job wherever it is.
  virtual void Remove(const Job* job) = 0;
  // The job a pop takes now, or nullptr: empty, or every job is held back by a rate limit until
  // NextAvailableMs().
  virtual Job* Peek(int64_t now_ms) = 0;
  // Takes the job Peek() just returned: removes it and advances round-robin and token state.
  virtual void Take(Job* job, int64_t now_ms) = 0;
  // Visits ready jobs in the order pops would take them if no rate limit held any back, after
  // passing over the first `skip`, until `fn` returns false.
  virtual void ForEachInOrder(const std::function<bool(Job*)>& fn, size_t skip = 0) const = 0;
  virtual size_t size() const = 0;
  // After Peek() returned nullptr with jobs queued: when the next one may become available.
  virtual int64_t NextAvailableMs(int64_t now_ms) const { return now_ms; }
  // The rate limit (jobs/s) that applies to `job`, for the ETA; 0: none.
  virtual double RateFor(const Job*) const { return 0; }
};

// Wraps a visitor so it ignores the first `skip` jobs: for disciplines that cannot skip faster.
inline std::function<bool(Job*)> Skipping(size_t skip, const std::function<bool(Job*)>& fn) {
  if (skip == 0) return fn;
  return [skip, &fn](Job* job) mutable { return skip > 0 ? (skip--, true) : fn(job); };
}

struct DisciplineInfo {
  std::string_view name;
  bool uses_flows;  // whether Enqueue reads job->flow
  std::string_view summary;
  std::unique_ptr<Discipline> (*make)(const Params& params, std::string* error);
};

// Every discipline, in the order QUEUE.CONFIG's help lists them.
const std::vector<DisciplineInfo>& Disciplines();
const DisciplineInfo* FindDiscipline(std::string_view name);

// Parameter readers shared by the disciplines: absent -> `fallback`; malformed or out of range
// -> nullopt with *error naming the parameter.
std::optional<double> NumberParam(const Params& params, std::string_view name, double fallback,
                                  double min, std::string* error);

// Refuses parameters other than `known` ("fifo takes no parameters", "unknown sfq parameter").
bool OnlyParams(const Params& params, std::string_view discipline,
                std::initializer_list<std::string_view> known, std::string* error);

// Round robin over the non-empty members of a collection (SFQ buckets, DRR flows, HTB classes):
// the shared bookkeeping of "whose turn is it".
template <class Member>
class RoundRobin {
 public:
  void Activate(Member* m) { ring_.push_back(m); }
  void Deactivate(Member* m) { std::erase(ring_, m); }
  Member* Current() const { return ring_.empty() ? nullptr : ring_.front(); }
  void Rotate() {
    if (!ring_.empty()) {
      ring_.push_back(ring_.front());
      ring_.pop_front();
    }
  }
  const std::deque<Member*>& ring() const { return ring_; }
  bool empty() const { return ring_.empty(); }

 private:
  std::deque<Member*> ring_;
};

}  // namespace desaster
