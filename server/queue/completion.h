// Completed jobs: what the completed store keeps of each job that ran to success, so that a
// person can find it among many, see its whole life and run it again.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

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
  // Payload and result are only in the archive (CompletionArchive), not in memory: the
  // store's bounded in-memory index holds the rest.
  bool archived = false;
  uint32_t unstored = 0;  // puts of it the archive has not reported stored yet (in memory only)

  int64_t duration_ms() const { return finished_ms - started_ms; }
  // How long it was in its queue before the run that succeeded, if known.
  std::optional<int64_t> wait_ms() const {
    return enqueued_ms ? std::optional(started_ms - enqueued_ms) : std::nullopt;
  }

  // Whether its payload or its result contains `text` (what a search looks for in them).
  bool BodyContains(std::string_view text) const {
    return payload.find(text) != std::string::npos || result.find(text) != std::string::npos;
  }

  std::string Encode() const;  // everything but `job`
  // Without `body`, payload and result are skipped (left empty).
  static bool Decode(std::string_view record, Completion* out, bool body = true);
};

// Where the completed store's records are durable (server/store/level_store.h): what a
// completion's payload and result are read back from once memory no longer holds them, so that
// memory holds an index of the completions and disk their bodies. Safe to call from any thread.
class CompletionArchive {
 public:
  virtual ~CompletionArchive() = default;
  // The stored record (Completion::Encode) of job `job`'s completion in database `db`; false if
  // there is none.
  virtual bool Read(int db, uint64_t job, std::string* record) = 0;
  // Passes each completion stored in database `db` as of the call to `visit(job, record)`, in
  // id order, until `visit` returns false.
  virtual void Scan(int db, const std::function<bool(uint64_t, std::string_view)>& visit) = 0;
  // The completions (database, job) written since the last call: one entry per write, reported
  // once it is durable.
  virtual std::vector<std::pair<int, uint64_t>> TakeStored() = 0;
};

// The ids of the completions stored in database `db` of `archive` whose payload or result
// contains `text`. Stops early, with what it found so far, once `stop` is set.
std::unordered_set<uint64_t> SearchArchive(CompletionArchive& archive, int db,
                                           std::string_view text, const std::atomic<bool>& stop);

}  // namespace desaster
