// Failed jobs: what the FailedStore keeps of each failure, how failures are grouped, and the
// retry policy that decides when (and whether) a failed job runs again.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace desaster {

enum class FailureState : uint8_t {
  kRetrying,  // a retry is scheduled (Failure::retry_job, retry_at_ms)
  kRetried,   // the job went back to its queue (automatically or by FAILED.RETRY)
  kDead,      // out of attempts, or its retry was cancelled: waits for a person
};
std::string_view FailureStateName(FailureState s);
std::optional<FailureState> ParseFailureState(std::string_view s);

// One failed job: its latest failure, with the runs that failed before it in `history`. A
// job's runs share one record, so counts and lists are of jobs, not of attempts.
struct Failure {
  uint64_t id = 0;      // changes with each new failure of the job: ids follow failure time
  std::string queue;    // the key of the queue the job came from
  std::string payload;  // the job exactly as its client pushed it (what a retry pushes)
  std::string klass;    // the job class
  std::string args;     // the arguments as JSON text
  std::string error_class, message, backtrace;  // backtrace: one frame per line
  std::string worker;
  int64_t started_at_ms = 0;  // when the failed run began (0: unknown, as for resque's reports)
  int64_t failed_at_ms = 0;
  uint32_t attempt = 1;  // 1: the first run failed
  FailureState state = FailureState::kDead;
  uint64_t retry_job = 0;  // kRetrying: the scheduled job that retries it
  int64_t retry_at_ms = 0;
  uint64_t job = 0;  // the job that failed (0: unknown, as for failures resque workers report)
  // The job's earlier failed runs, oldest first (the most recent kHistoryKept of them).
  struct Attempt {
    int64_t started_at_ms = 0;
    int64_t failed_at_ms = 0;
    uint32_t attempt = 0;
    std::string error_class, message, worker;
  };
  std::vector<Attempt> history;
  static constexpr size_t kHistoryKept = 30;

  // The key that is the same for every failed run of one job: its id, or for jobs whose
  // failures arrive without one (resque workers' reports) its queue and exact payload.
  std::string JobKey() const;
  // Takes `earlier`'s failures into this record's history (this one being the newer).
  void Follow(Failure&& earlier);

  // Failures of one (queue, class, error class, normalised message) share a fingerprint, so a
  // thousand identical failures show as one group.
  uint64_t Fingerprint() const;

  std::string Encode() const;  // everything but `id`
  static bool Decode(std::string_view record, Failure* out);
  // Whether `record` was written when the store kept a record per failed run (format 1), so
  // that a load must merge records into one per job.
  static bool IsPerRunRecord(std::string_view record);
};

// The message with what varies between occurrences of one error (numbers, hex ids, quoted
// values) replaced by placeholders: "User 42 not found" -> "User N not found".
std::string NormalizeMessage(std::string_view message);

// When a failed job is retried. Kept in a queue's configuration (QUEUE.CONFIG RETRY/BACKOFF)
// and overridable per job ("retry" in a JSON payload: false or a number of attempts).
struct RetryPolicy {
  enum class Backoff { kPolynomial, kExponential, kFixed };
  uint32_t max_attempts = 25;  // runs in all, the first included; 1: no retry
  Backoff backoff = Backoff::kPolynomial;
  double fixed_seconds = 0;  // kFixed

  // The delay before run `attempt + 1` after run `attempt` failed (attempt >= 1):
  //   polynomial (default, Sidekiq's): n^4 + 15 + rand(0..9) * (n + 1) seconds, n = attempt - 1
  //   exponential (Oban's):            15 + 2^n seconds, plus up to 10% jitter
  //   fixed:                           fixed_seconds
  int64_t DelayMs(uint32_t attempt, std::mt19937_64& rng) const;

  // "poly", "exp" or a number of seconds; false on anything else.
  bool ParseBackoff(std::string_view s);
  std::string BackoffName() const;
};

}  // namespace desaster
