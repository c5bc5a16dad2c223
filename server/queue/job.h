// A job: one unit of work in a queue, with what the scheduler needs to order, route and show it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "server/queue/packed_string.h"
#include "server/queue/payload.h"

namespace desaster {

class Queue;

enum class JobState : uint8_t {
  kReady,      // in its queue's dispatch order
  kScheduled,  // waits for run_at_ms (delayed job, pending retry)
  kLeased,     // handed to a native worker (lease_owner) until it acks, fails or goes silent
};

struct Job {
  uint64_t id = 0;
  Payload payload;    // 16 bytes instead of std::string's 32: Job fits jemalloc's 80-byte class
  PackedString flow;  // fairness key; empty until a flow-based discipline resolves it
  // Position inside its flow/band: smaller is dispatched first. Inside ±kOrderLimit, which a
  // queue would need 2^62 pushes to leave (JobFifo keeps orders in 63 bits).
  static constexpr int64_t kOrderLimit = int64_t{1} << 62;
  int64_t order = 0;
  int64_t enqueued_ms = 0;  // when it was pushed or, if scheduled, became due: it waits since
  int64_t run_at_ms = 0;    // scheduled jobs: when they become ready
  int32_t priority = 0;     // higher first (prio discipline)
  uint16_t attempts = 0;    // runs that ended without success (saturates; retries stop at 1001)
  JobState state = JobState::kReady;
  Queue* queue = nullptr;  // the queue that holds it (not persisted: the record's key says)

  // Fields few jobs carry live out of line, so a plain queued job stays small (millions of
  // them are queued: scripts/bench's memory rows).
  const std::string& capability() const;   // a worker must have announced it; empty: any
  const std::string& unique_key() const;   // key in the queue's unique index; empty: none
  const std::string& lease_owner() const;  // kLeased: the worker's id
  // kLeased: which process of that worker (a worker restarted under its id is a new one).
  const std::string& lease_incarnation() const;
  int64_t lease_until_ms() const { return extras_ ? extras_->lease_until_ms : 0; }
  void set_capability(std::string c);
  void set_unique_key(std::string k);
  void set_lease(std::string owner, std::string incarnation, int64_t until_ms);
  // A heartbeat extends a lease: only the deadline changes (the owner is not copied).
  void set_lease_until(int64_t until_ms);

  // The persisted record (everything but `id` and `queue`, which the record's key holds).
  std::string Encode() const;
  // Fills a job from Encode()'s output; false when `record` is not one.
  static bool Decode(std::string_view record, Job* job);

 private:
  struct Extras {
    std::string capability, unique_key, lease_owner, lease_incarnation;
    int64_t lease_until_ms = 0;
  };
  // The extras to write, made on first use; dropped again when all of them are empty.
  Extras& extras();
  void DropEmptyExtras();
  std::unique_ptr<Extras> extras_;
};

// Job ids are shown as 16 lower-case hex digits.
// An attempt count as a job keeps it (at most 65535).
inline uint16_t SaturatedAttempts(uint64_t n) {
  return n > UINT16_MAX ? UINT16_MAX : static_cast<uint16_t>(n);
}

std::string FormatJobId(uint64_t id);
bool ParseJobId(std::string_view s, uint64_t* id);
std::string_view JobStateName(JobState s);

}  // namespace desaster
