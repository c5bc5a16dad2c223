// Client dialects (DESIGN.md §7): which keys a queue library uses as queues, which end of them is
// the head, and where its payloads keep the job class and arguments. The server backs every key
// a dialect claims with a Queue, so resque, Sidekiq and RQ keep working unchanged.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace desaster {

struct Dialect {
  std::string name;           // "resque", "sidekiq", "rq", "native"
  std::string queue_prefix;   // keys starting with it are queues ("" for native: none)
  std::string queues_set;     // the set the library lists its queues in ("" if none)
  bool head_left = true;      // pops take from the left (resque LPOP) or the right (Sidekiq BRPOP)
  bool json_payloads = true;  // payloads are JSON objects with "class" and "args"
  std::string workers_set;    // the set the library registers its workers in ("" if none)
  std::string failed_list;    // the list its workers push failure records to ("" if none)
  // A worker's key is this and its id (a member of workers_set) while it runs a job: the job
  // as JSON {"queue", "run_at", "payload"}, deleted when the job is done ("" if none).
  std::string running_prefix;
  // The counters of a worker's processed and failed jobs are these and its name (as its
  // failure records name it), incremented as each job ends ("" if none).
  std::string processed_prefix, failed_prefix;
  // RQ: a job's hash is job_prefix and its id (with "origin", "description", "enqueued_at",
  // "started_at", "ended_at"); when a run ends its id is added to the sorted set
  // finished_prefix or failed_registry_prefix and its queue's name ("" if none).
  std::string job_prefix, finished_prefix, failed_registry_prefix;
  bool retries_itself = false;  // the library re-runs its failed jobs (Sidekiq's retry set):
                                // the server never retries them too

  // The queue's short name as the library knows it ("default" for "resque:queue:default").
  std::string_view ShortName(std::string_view key) const { return key.substr(queue_prefix.size()); }
};

// What a JSON job payload says about itself. Fields are empty when absent or not JSON.
struct PayloadFields {
  std::string klass;  // "class" (or Sidekiq's ActiveJob "wrapped")
  std::string args;   // "args" as raw JSON text
};
PayloadFields ParsePayload(std::string_view payload);

// The top-level `field` of a JSON object: a string's unescaped value, anything else as its JSON
// text. nullopt when absent or not JSON.
std::optional<std::string> JsonField(std::string_view json, std::string_view field);

// A digest of the JSON text `json` that every encoding of the same value shares: object members
// in any order, strings however escaped, numbers however written (1, 1.0, 1e0). A library that
// reads a job and writes it back (node-resque's Lua script, through cjson) changes all three.
// nullopt when `json` is not JSON.
std::optional<uint64_t> JsonDigest(std::string_view json);

// A time as Ruby and Python libraries write them, in ms since the epoch: "2026-11-30T03:40:00Z",
// "2026-11-30 03:40:00 +0100", "2026-11-30T03:40:00.123+01:00", resque's failed_at
// "2026/11/30 03:40:00 UTC". nullopt for anything else, and for zone names other than UTC/GMT
// ("CET" is ambiguous).
std::optional<int64_t> ParseLibraryTime(std::string_view text);

// The dialects in effect, from the server's --dialects option.
class Dialects {
 public:
  // `spec`: comma-separated "name" or "name:namespace" (resque's namespace defaults to
  // "resque", Sidekiq's to none). Returns nullopt with *error on an unknown name.
  static std::optional<Dialects> Parse(std::string_view spec, std::string* error);

  // resque, sidekiq and rq with their default namespaces.
  static Dialects Default();

  // The dialect claiming `key`, or nullptr.
  const Dialect* Match(std::string_view key) const;
  // The dialect whose failure list `key` is, or nullptr.
  const Dialect* MatchFailedList(std::string_view key) const;
  // Which of a dialect's worker keys `key` is (running_prefix, processed_prefix or
  // failed_prefix and a name): the dialect and *kind, or nullptr.
  enum class WorkerKey { kRunning, kProcessed, kFailed };
  const Dialect* MatchWorkerKey(std::string_view key, WorkerKey* kind) const;
  // The dialect whose finished (*finished true) or failed registry `key` is, or nullptr.
  const Dialect* MatchRegistry(std::string_view key, bool* finished) const;
  // Native queues (created by QUEUE.CREATE or JOB.PUSH on any key).
  static const Dialect& Native();
  const std::vector<Dialect>& all() const { return dialects_; }

 private:
  std::vector<Dialect> dialects_;
};

}  // namespace desaster
