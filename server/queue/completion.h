// Completed jobs: what the completed store keeps of each job that ran to success, so that a
// person can find it among many, see its whole life and run it again.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace desaster {

struct Completion {
  uint64_t job = 0;         // the job's id (the record's key)
  std::string queue;        // the key of the queue it came from
  std::string payload;      // as its client pushed it, unless redacted
  std::string klass;        // its class, from the payload (its arguments are read from it when
                            // shown: a million completions do not keep them twice)
  std::string worker;       // the worker that ran it
  std::string result;       // what the run reported (a command's output, a return value)
  int64_t enqueued_ms = 0;  // when it was last pushed or became due (a retry is pushed again);
                            // 0: not known (a resque worker's run of a job popped unseen)
  int64_t started_ms = 0;   // when the run that succeeded began
  int64_t finished_ms = 0;  // when it succeeded
  uint32_t attempt = 1;     // the run that succeeded: 1, the first
  bool redacted = false;    // secrets were taken out of payload and result: it cannot rerun

  int64_t duration_ms() const { return finished_ms - started_ms; }
  // How long it was in its queue before the run that succeeded, if known.
  std::optional<int64_t> wait_ms() const {
    return enqueued_ms ? std::optional(started_ms - enqueued_ms) : std::nullopt;
  }

  std::string Encode() const;  // everything but `job`
  static bool Decode(std::string_view record, Completion* out);
};

}  // namespace desaster
