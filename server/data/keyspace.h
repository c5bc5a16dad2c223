// The keyspace: numbered databases of keys with expiry, plus the bookkeeping that hangs off key
// changes (WATCH invalidation, blocked clients waiting for a key).
//
// Every state change goes through a mutating method of Database. Each one changes memory,
// records a Mutation for the commit stage (unless the keyspace is applying mutations itself, as
// recovery and replicas do), invalidates WATCHes of the key and signals clients blocked on it.
// Callers check types first: the mutating methods assume the key holds the right type or none.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "compat/dialect.h"
#include "compat/redact.h"
#include "server/data/dict.h"
#include "server/data/notify.h"
#include "server/data/value.h"
#include "server/queue/completion.h"
#include "server/queue/job_table.h"
#include "server/queue/metrics.h"
#include "server/queue/queue.h"
#include "server/queue/schedule.h"
#include "server/store/mutation.h"

namespace desaster {

class Keyspace;

// A client's WATCH state: set when any watched key changes.
struct WatchFlag {
  bool dirty = false;
};

class Database {
 public:
  Database(Keyspace* keyspace, int index) : keyspace_(keyspace), index_(index), stored_as_(index) {}
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  int index() const { return index_; }  // the number clients SELECT
  // The number its records are stored under: SWAPDB changes index(), never this, so a swap
  // rewrites no record.
  int stored_as() const { return stored_as_; }
  size_t size() const { return keys_.size(); }
  size_t expiring() const { return expires_.size(); }

  // The live value of `key`, or nullptr. A key found expired is deleted on the way (lazy expiry).
  const Value* Find(std::string_view key);
  // The live value of `key` without counting as an access (OBJECT IDLETIME), or nullptr.
  const Value* Peek(std::string_view key) const;
  // Starts loading what looking up `keys` will read (Dict::Prefetch).
  void Prefetch(std::span<const std::string_view> keys) const { keys_.Prefetch(keys); }
  // Whether `v` (the raw value of `key`) has not reached its expiry time.
  bool IsLive(std::string_view key, const Value& v) const;
  // True when `key` is still stored but its time has passed (WATCH treats that as a change).
  bool HasExpired(std::string_view key) const;

  void SetString(std::string_view key, std::string value, bool keep_ttl);
  // Writes `bytes` into the string at `key` from `offset`, in place (SETRANGE; APPEND writes at
  // the end), zero-filling a gap and creating the key; its TTL stays. The caller checked that
  // `key` holds a string or nothing. A big string's change is recorded as the chunks it touches
  // (kSetRange), so the cost of a small edit does not grow with the string. Returns the length.
  size_t WriteRange(std::string_view key, size_t offset, std::string_view bytes);
  bool Delete(std::string_view key);
  // A time at or before now deletes the key, as Redis does. The key must exist.
  void ExpireAt(std::string_view key, int64_t at_ms);
  bool Persist(std::string_view key);

  void ListPush(std::string_view key, bool left, std::string_view element);
  std::string ListPop(std::string_view key, bool left);  // the list must exist
  void ListSet(std::string_view key, size_t index, std::string_view element);
  void ListInsert(std::string_view key, size_t index, std::string_view element);
  void ListRemove(std::string_view key, size_t index);

  // Sets a field; returns whether it is new. `seq`: its place in the hash's insertion order when
  // replaying one (Hash::Set), 0 to take the next.
  bool HashSet(std::string_view key, std::string_view field, std::string_view value,
               uint64_t seq = 0);
  bool HashDelete(std::string_view key, std::string_view field);

  bool SetAdd(std::string_view key, std::string_view member);  // added?
  bool SetRemove(std::string_view key, std::string_view member);

  void ZAdd(std::string_view key, std::string_view member, double score);
  bool ZRemove(std::string_view key, std::string_view member);

  void StreamAdd(std::string_view key, StreamId id, std::vector<std::string> fields);
  bool StreamDelete(std::string_view key, StreamId id);
  // Restores a stream's counters (recovery), creating the stream if needed.
  void StreamSetMeta(std::string_view key, const StreamMeta& meta);
  // Consumer groups of the stream at `key`, which must exist (the group too, but for
  // StreamGroupSet, which creates or updates it).
  void StreamGroupSet(std::string_view key, std::string_view group, StreamId last_delivered,
                      int64_t entries_read);
  void StreamGroupDelete(std::string_view key, std::string_view group);
  // Adds a consumer, seen now; false when it exists.
  bool StreamConsumerAdd(std::string_view key, std::string_view group, std::string_view consumer);
  // Deletes a consumer and its pending entries; returns how many it had.
  size_t StreamConsumerDelete(std::string_view key, std::string_view group,
                              std::string_view consumer);
  // Marks the consumer seen now (XINFO's idle time); not durable, as in Redis' RDB.
  void StreamConsumerSeen(std::string_view key, std::string_view group, std::string_view consumer);
  // Entry `id` is pending as `p` says, for `p.consumer` (which must exist), whoever had it.
  void StreamPendingSet(std::string_view key, std::string_view group, StreamId id, StreamPending p);
  bool StreamPendingDelete(std::string_view key, std::string_view group, StreamId id);

  // Moves the value (and its TTL) of `from` to `to`, replacing `to`. `from` must exist.
  void Rename(std::string_view from, std::string_view to);
  // Copies the value (and its TTL) of `from` to `to` in `dst`, replacing it. `from` must exist.
  void CopyTo(std::string_view from, Database& dst, std::string_view to);
  void Flush();
  // Signals a change of `key` without changing it: blocked clients re-run their command.
  void Touch(std::string_view key) { Changed(key); }
  // Backdates the last access of `key` by `idle_ms` (RESTORE IDLETIME); not part of the durable
  // state, as access times are not in Redis' RDB either. The key must exist.
  void SetIdle(std::string_view key, int64_t idle_ms);

  // One step of a SCAN over raw entries (expired ones included; check IsLive).
  template <class F>
  uint64_t Scan(uint64_t cursor, F&& fn) const {
    return keys_.Scan(cursor, fn);
  }
  template <class F>
  void ForEach(F&& fn) const {
    keys_.ForEach(fn);
  }
  // A random live key, or false when the database is empty.
  bool RandomKey(std::string* out);
  // Deletes up to `budget` keys whose time has come; returns how many.
  size_t ExpireDue(size_t budget);

  // ---- Queues (server/queue/queue.h). A queue key's Value exists while it has ready jobs. ----

  // The queue registered at `key`, or nullptr.
  Queue* FindQueue(std::string_view key);
  // The queue at `key`, registering one with the default configuration when a dialect claims
  // the key (only if the key holds no other type).
  Queue* QueueForPush(std::string_view key);
  // Registers a queue (or reconfigures an existing one); false with *error on a bad config.
  Queue* CreateQueue(std::string_view key, QueueConfig config, std::string* error);
  bool ConfigureQueue(Queue* q, QueueConfig config, std::string* error);
  // Deletes `q` with its configuration and all its jobs.
  void DropQueue(Queue* q);
  // Which jobs of a queue ClearQueue deletes: the ready ones; those and the scheduled ones; or
  // every job, running ones (leased to workers) too.
  enum class JobsOf { kReady, kWaiting, kAll };
  // Deletes those jobs of `q`; returns how many.
  size_t ClearQueue(Queue* q, JobsOf which);
  const std::map<std::string, std::unique_ptr<Queue>, std::less<>>& queues() const {
    return queues_;
  }

  // What a push says about the job; the database fills in id, order and enqueue time.
  struct JobSpec {
    std::string_view payload;  // copied into the job: it need only outlive the PushJob call
    std::string flow = {}, capability = {}, unique_key = {};
    int32_t priority = 0;
    int64_t run_at_ms = 0;  // > now: scheduled
    uint32_t attempts = 0;
    bool front = false;  // ahead of the jobs of its flow/band (a requeue)
    uint64_t id = 0;     // a retry keeps its job's id; 0: a new one
  };
  // Adds a job to `q`; nullptr when `q` is unique and the job's unique key is queued already.
  Job* PushJob(Queue* q, JobSpec spec);
  // Takes the job a head pop gets (the discipline's pick); nullptr when none is available now
  // (empty, paused, or rate-limited: then blocked clients are woken when one may be).
  std::unique_ptr<Job> PopJob(Queue* q);
  // Takes a job (ready or scheduled) out of its queue, wherever it is.
  std::unique_ptr<Job> RemoveJob(Job* job);
  // Deletes jobs (each named once) as RemoveJob would, recorded as one mutation per queue
  // (kJobsDelete) and with each queue's key updated once at the end: clearing a queue of a
  // million jobs holds up every client meanwhile. With kLater the id table is not shrunk
  // (ClearQueue removes slice by slice and shrinks it once at the end).
  void RemoveJobs(std::span<Job* const> jobs,
                  JobTable::Shrinking shrinking = JobTable::Shrinking::kNow);
  // Changes a job in place (priority, flow, capability, payload, state/run_at) and re-files it.
  // A scheduled job it makes ready is enqueued from then on (or from when it fell due).
  template <class Change>
  void UpdateJob(Job* job, Change change) {
    Unfile(job);
    bool scheduled = job->state == JobState::kScheduled;
    change(*job);
    if (scheduled && job->state == JobState::kReady) EnqueuedNow(job);
    Refile(job);
  }
  void MoveJob(Job* job, Queue* dest);
  Job* FindJob(uint64_t id);
  // ---- Leases: jobs handed to native workers (JOB.FETCH) ----

  // Who holds a lease: a worker id, and which process under that id (empty: not told).
  struct Lessee {
    std::string_view id, incarnation;
  };
  // Leases the next job of `q` a worker may take: the discipline's pick when `eligible` accepts
  // it, else the first eligible job in dispatch order. nullptr when none (or paused/limited).
  Job* LeaseNext(Queue* q, const std::function<bool(const Job&)>& eligible, const Lessee& worker,
                 int64_t lease_ms);
  // Keeps the leases `worker` (that very incarnation) holds alive until `until_ms`, or only
  // those of them in `only` (in memory: a restart grants a grace period).
  // Every running job's lease lasts until at least now + the restart grace: a new master's
  // workers get the time a restart gives them to check in.
  void GraceLeases();
  void ExtendLeases(const Lessee& worker, int64_t until_ms,
                    const std::set<uint64_t>* only = nullptr);
  // The jobs leased under `worker`'s id by another incarnation (a process that died and was
  // restarted under the same id) go back to their queues now; returns how many.
  size_t ReleaseLeases(const Lessee& worker);
  // A leased job goes back to the head of its queue with `attempts` (JOB.RELEASE: a job its
  // worker could not start keeps its count).
  void Unlease(Job* job, uint32_t attempts);
  // Jobs whose lease ran out go back to the head of their queue, one attempt more; returns how
  // many. A job whose worker was lost on its last allowed attempt is dead ("WorkerLost").
  size_t ExpireLeases(size_t budget);

  // What a running job told along the way (JOB.REPORT): the tail of its output and its
  // progress. In memory on this node only, never stored or replicated: a failover loses it
  // (the job's result keeps its final output). Dropped when its job leaves, reset when the job
  // is leased again.
  struct LiveOutput {
    std::string tail;     // the last kLiveOutputKept bytes of output
    uint64_t total = 0;   // bytes of output so far: the tail ends there
    double percent = -1;  // progress from 0 to 100; < 0: none reported
    std::string message;  // what the job said it is doing
    int64_t updated_ms = 0;
  };
  static constexpr size_t kLiveOutputKept = 64 * 1024;
  // Adds `output` to leased job `job`'s record, made on first use.
  LiveOutput& ReportOutput(uint64_t job, std::string_view output);
  const LiveOutput* FindLiveOutput(uint64_t job) const;

  template <class F>
  void ForEachLeased(F&& fn) const {
    for (const auto& [until, id] : leases_) {
      if (!fn(jobs_.Find(id))) return;
    }
  }

  // Visits the scheduled jobs of `q` in run-at order until `fn` returns false.
  template <class F>
  void ForEachScheduled(const Queue* q, F&& fn) const {
    if (q->scheduled() == 0) return;
    for (const auto& [at, id] : scheduled_) {
      const Job* job = jobs_.Find(id);
      if (job->queue == q && !fn(const_cast<Job*>(job))) return;
    }
  }
  // Makes due scheduled jobs ready, at most `budget`; returns how many.
  size_t PromoteDue(size_t budget);
  // ---- Recurring schedules (server/queue/schedule.h) ----

  // Creates or replaces a schedule (it fires from now on); false with *error on a bad cron
  // expression or time zone.
  bool SetSchedule(Schedule schedule, std::string* error);
  bool DeleteSchedule(std::string_view name);
  const std::map<std::string, Schedule, std::less<>>& schedules() const { return schedules_; }
  // Pushes the schedule's job now (nullptr: a duplicate in a unique queue, or the queue's key
  // holds another type).
  Job* RunSchedule(const Schedule& schedule);
  // Fires schedules whose time has come, at most `budget`; returns how many.
  size_t FireDueSchedules(size_t budget);

  // ---- The failed store (server/queue/failure.h) ----

  // How many runs `payload` gets in `q`: its own "retry" limit, else the queue's policy, else
  // the server's.
  uint32_t MaxAttempts(const Queue& q, std::string_view payload) const;
  // A failure record of `job` (still in its queue) as of now, for its run number `attempt`;
  // the caller fills in the error.
  Failure FailureOf(const Job& job, uint32_t attempt) const;
  // Records a failure and applies its queue's retry policy: while attempts remain the job is
  // pushed back to its queue to run after the backoff (state retrying), else it is dead.
  // Fills in the id; returns the stored failure.
  // `retry` false: the job can never succeed, so it is dead at once. `ready_ms`: when the job
  // whose run failed was made ready (0: not known), for the metrics' wait.
  Failure* RecordFailure(Failure failure, bool retry = true, int64_t ready_ms = 0);
  Failure* FindFailure(uint64_t id);
  // Pushes the failed job back to its queue now (cancelling a pending retry); false when its
  // queue's key holds another type.
  bool RetryFailure(Failure* f);
  // A pending retry is cancelled: its job is deleted and the failure is dead.
  bool CancelRetry(Failure* f);
  // Deletes the record (and a pending retry with it).
  void RemoveFailure(Failure* f);
  const std::map<uint64_t, Failure>& failures() const { return failures_; }
  // How many failures are in state `s` (kept as failures come, change and go).
  size_t FailureCount(FailureState s) const { return failure_counts_[static_cast<size_t>(s)]; }
  // Data directories written before one record per job held one per failed run: merges each
  // job's runs (a chain of retry jobs, or a resque job's reports of one payload) into one.
  // Does nothing unless such records were loaded.
  void MergeFailedRuns();
  // At most this many failures are kept; the oldest go first.
  void set_failed_max(size_t n) { failed_max_ = n; }

  // ---- The completed store (server/queue/completion.h) ----

  // What the store keeps: at most `max` jobs (0: none), none that finished more than `ttl_ms`
  // ago (0: no age limit), their secrets redacted by `redactor`.
  struct CompletedPolicy {
    size_t max = 100000;
    int64_t ttl_ms = 7LL * 24 * 3600 * 1000;
    Redactor redactor;
  };
  void set_completed_policy(CompletedPolicy policy) { completed_policy_ = std::move(policy); }
  // What takes secrets out of what jobs tell (completed jobs, running jobs' output).
  const Redactor& redactor() const { return completed_policy_.redactor; }
  // A leased job succeeded (JOB.ACK): it leaves its queue for the completed store, where the
  // oldest completions make room for it. (A resque worker's successful run goes there too:
  // LibraryRunEnded.)
  void Complete(std::unique_ptr<Job> job, std::string result);
  // The completion of `job` as memory holds it: its payload and result may be only in the
  // archive (archived): WithBody reads them.
  const Completion* FindCompletion(uint64_t job) const;
  // `c` with its payload and result: `c` while memory holds them, else a copy in *scratch with
  // them read back from the archive; nullptr if the archive has no readable record of it.
  const Completion* WithBody(const Completion& c, Completion* scratch) const;
  // How many completions keep their payload and result only in the archive.
  size_t archived_completions() const { return archived_completions_; }
  void RemoveCompletion(uint64_t job);
  // (finished_ms, job id) of every completion, oldest first.
  const std::set<std::pair<int64_t, uint64_t>>& completion_order() const {
    return completion_order_;
  }
  // Pushes the completed job's payload to its queue again, as a new job; nullptr when it was
  // redacted, its payload cannot be read back, its queue's key holds another type, or a unique
  // queue holds it already.
  Job* RerunCompletion(const Completion& c);
  // Drops completions beyond the policy's limits (count and age), oldest first, at most
  // `budget`; returns how many.
  size_t TrimCompletions(size_t budget);
  // The failure record of job `id` (its failed runs), if it has one.
  const Failure* FailureOfJob(uint64_t id) const;

  // ---- Runs of library workers (resque's), seen in the key a worker keeps its job in ----

  // A worker of `d` started the job `job` (the JSON its running key now holds). A job of that
  // queue with the same payload popped a moment before is the one it runs (its id and wait).
  void LibraryRunStarted(const Dialect& d, std::string_view key, std::string_view job);
  // That key is gone: the job is done. The metrics count it as the library counted it: failed
  // when the worker pushed a failure record for it (counted then) or counted it failed,
  // processed when it counted it processed only; a processed one goes to the completed store.
  void LibraryRunEnded(std::string_view key);
  // A failure record of `worker` (as its records name it) arrived: its run failed. Returns
  // when that run started (0: not known).
  int64_t LibraryRunFailed(const Dialect& d, std::string_view worker);
  // The worker changed its count of processed (or `failed`) jobs.
  void LibraryRunCounted(const Dialect& d, std::string_view worker, bool failed);
  // An RQ worker added job `id` to a finished (`succeeded`) or failed registry: its run ended,
  // as the job's hash tells. A finished one goes to the completed store.
  void RegistryRunEnded(const Dialect& d, std::string_view id, bool succeeded);

  // ---- Job metrics (server/queue/metrics.h): counted as runs end, stored by FlushMetrics ----

  Metrics& metrics() { return metrics_; }
  const Metrics& metrics() const { return metrics_; }
  // Records the metric cells changed since the last call (and drops those past retention).
  void FlushMetrics();

  // When the next scheduled job or schedule is due, or a rate-limited queue may hand out a job
  // (0: never).
  int64_t NextQueueTimerMs() const;
  // Wakes clients blocked on rate-limited queues whose time has come.
  void WakeThrottled();
  size_t jobs() const { return jobs_.size(); }
  // Jobs ever added to this database (pushed, moved in, loaded).
  uint64_t jobs_added() const { return jobs_added_; }

  // ---- Payloads kept compressed in memory (server/queue/payload.h) ----

  struct CompressionRound {
    size_t compressed = 0;  // payloads compressed
    size_t pending = 0;     // waiting jobs a later round may compress (too young, or samples)
  };
  // Compresses the payloads of the waiting jobs in the next `max_slots` slots of the job
  // table that have waited `after_ms` (a delayed job: that have that long still to wait).
  // Returns true once the round has passed every slot; the next call starts another.
  bool CompressPayloads(int64_t after_ms, size_t max_slots, CompressionRound* round);

 private:
  friend class Keyspace;

  Value* FindForWrite(std::string_view key);
  // The group `group` of the stream at `key`; both must exist.
  StreamGroup& Group(std::string_view key, std::string_view group);
  // Applies one of the consumer-group mutations (Keyspace::Apply).
  void ApplyGroupChange(const Mutation& m);
  Value& Upsert(std::string_view key, ValueType type);  // creates an empty value of `type`
  void EraseKey(std::string_view key);
  void SetExpireIndex(std::string_view key, int64_t old_at, int64_t new_at);
  void DropIfEmpty(std::string_view key, const Value& v);
  void Record(Mutation::Op op, std::string_view key, std::string_view arg = {},
              std::string_view arg2 = {}, int64_t num = 0, bool flag = false, double score = 0);
  void Changed(std::string_view key);
  Queue* RegisterQueue(std::string_view key, const Dialect* dialect);
  const Dialect* DialectOf(std::string_view key) const;
  // Adds the Value of a queue key that got ready jobs, or drops it when it has none left.
  void SyncQueueKey(Queue* q);
  void RecordJob(const Job& job);
  // Takes a job out of its queue's ready/scheduled bookkeeping, or puts it back.
  void Unfile(Job* job);
  void Refile(Job* job);
  // A job made ready waits from now, or from when it was due if that was earlier: its queue's
  // latency and the metrics' wait start there.
  void EnqueuedNow(Job* job);
  std::vector<Job*> LeasesOf(std::string_view worker) const;
  // Drops a failure record; a pending retry of it stays queued, unlinked.
  void EraseFailure(Failure* f);
  // A leased job whose worker is gone goes back to its queue (or, out of attempts, dead).
  void ReturnLeasedJob(Job* job, std::string why);
  Job* InsertJob(Queue* q, std::unique_ptr<Job> job);
  // Forgets a job already out of its queue's bookkeeping, recording its deletion.
  std::unique_ptr<Job> EraseJob(Job* job);
  // EraseJob but for the record of its deletion and its queue's key, which the caller sees to
  // (and, with kLater, the job table's shrinking).
  std::unique_ptr<Job> ForgetJob(Job* job,
                                 JobTable::Shrinking shrinking = JobTable::Shrinking::kNow);
  void ApplyJobPut(std::string_view key, uint64_t id, std::string_view record);
  void DropAllQueues();
  // Stores a schedule in memory and in the timer index, recording it unless applying.
  void PutSchedule(Schedule schedule);
  // Stores a failure (replacing one with its id), recording it unless applying.
  Failure* PutFailure(Failure failure);
  // A retry job reached its queue's ready jobs or left: its failure is retried or dead.
  void RetryJobReady(uint64_t job_id);
  void RetryJobGone(uint64_t job_id);
  // The discipline's pick of `q` now; when a rate limit holds every job back, notes when to
  // wake the clients blocked on it.
  Job* PeekJob(Queue* q);
  // The queue a failed or completed job runs again in (created if needed); nullptr if `key`
  // holds another type.
  Queue* QueueToRunAgain(std::string_view key);
  // Stores a completion (replacing one of its job), recording it unless applying.
  void PutCompletion(Completion c);
  // The archive reported a write of job `job`'s completion durable: once every write of it
  // is, memory lets go of its payload and result.
  void CompletionStored(uint64_t job);
  // A run succeeded: its completion, redacted as the policy says, takes the oldest one's
  // place when the store is full.
  void StoreCompletion(Completion c);
  // A job leaves `q` for a worker of a library whose runs are seen (resque, RQ): remembered
  // until its run claims it (LibraryRunStarted, RegistryRunEnded).
  void NotePopped(const Queue& q, const Job& job);

  Keyspace* keyspace_;
  int index_;
  int stored_as_;
  Dict<Value> keys_;
  std::set<std::pair<int64_t, std::string>> expires_;  // (expire_at_ms, key)
  std::map<std::string, std::unique_ptr<Queue>, std::less<>> queues_;
  JobTable jobs_;
  uint64_t jobs_added_ = 0;
  size_t compression_cursor_ = 0;  // the job table's slot CompressPayloads goes on from
  std::set<std::pair<int64_t, uint64_t>> scheduled_;     // (run_at_ms, job id)
  std::set<std::pair<int64_t, std::string>> throttled_;  // (when, queue key): wake then
  std::map<std::string, Schedule, std::less<>> schedules_;
  std::set<std::pair<int64_t, std::string>> schedule_times_;  // (next_run_ms, name)
  std::map<uint64_t, Failure> failures_;                      // by id: oldest first
  size_t failure_counts_[3] = {};                             // by FailureState
  std::unordered_map<uint64_t, uint64_t> retry_jobs_;         // scheduled retry job -> failure
  std::unordered_map<std::string, uint64_t> failure_of_job_;  // Failure::JobKey() -> failure
  bool per_run_failures_ = false;  // loaded records of the old format: MergeFailedRuns has work
  std::set<std::pair<int64_t, uint64_t>> leases_;  // (lease_until_ms, job id)
  size_t failed_max_ = 1000000;
  std::unordered_map<uint64_t, LiveOutput> live_output_;     // by job id: leased jobs
  std::unordered_map<uint64_t, Completion> completions_;     // by job id
  std::set<std::pair<int64_t, uint64_t>> completion_order_;  // (finished_ms, job id)
  size_t archived_completions_ = 0;
  CompletedPolicy completed_policy_;
  Metrics metrics_;
  struct LibraryRun {
    int64_t started_ms = 0;
    std::string queue, klass, payload;
    std::string worker;                      // running_prefix + the name (library_run_keys_)
    size_t name_from = 0;                    // where the name starts in `worker`
    uint64_t job = 0;                        // the popped job it runs (0: not known)
    int64_t enqueued_ms = 0;                 // since when that job waited (0: not known)
    bool recorded_failure = false;           // counted in the metrics with its failure record
    bool processed = false, failed = false;  // which of its counters the worker changed
  };
  // The run of `worker`, named as its failure records and counters name it (Ruby resque: its
  // id; node-resque: the "worker" its running key's job names). nullptr if none.
  LibraryRun* FindLibraryRun(const Dialect& d, std::string_view worker);
  // By running key; in memory only (a restart forgets the runs in flight: they are not counted).
  std::unordered_map<std::string, LibraryRun> library_runs_;
  std::unordered_map<std::string, std::string> library_run_keys_;  // LibraryRun::worker -> key
  static constexpr size_t kLibraryRunsMax = 10000;                 // workers running at once
  // Jobs popped from queues whose workers report their runs, oldest first, until a run claims
  // one. Not persisted; a pop whose run never starts (another reader) ages out.
  struct PoppedJob {
    size_t key;  // PoppedKey(queue, payload)
    uint64_t id;
    int64_t enqueued_ms;
  };
  std::deque<PoppedJob> popped_;
  static constexpr size_t kPoppedMax = 1024;
  // The oldest popped job of `queue` with this payload, no longer remembered; nullopt if none.
  std::optional<PoppedJob> ClaimPopped(std::string_view queue, std::string_view payload);
};

// What WAIT blocks on: replicas' progress, signalled when a replica reports it. A key of this
// name that a client made is only ever woken for nothing.
inline constexpr std::string_view kReplicationKey{"\0replication", 12};
// What SNAPSHOT.READ blocks on while its page is read: signalled when a page is ready.
inline constexpr std::string_view kSnapshotKey{"\0snapshot", 9};
// What COMPLETED.* MATCH blocks on while archived completions are searched: signalled when a
// search is done.
inline constexpr std::string_view kCompletedSearchKey{"\0completed-search", 17};

class Keyspace {
 public:
  explicit Keyspace(int databases);

  int databases() const { return static_cast<int>(dbs_.size()); }
  Database& db(int i) { return *dbs_[static_cast<size_t>(i)]; }
  const Database& db(int i) const { return *dbs_[static_cast<size_t>(i)]; }
  // The database whose records are stored under `stored_as` (what mutations name).
  Database& StoredAs(int stored_as);

  // Where completions are durable. With an archive, the payload and result of a completion
  // leave memory once it is stored (ArchiveStoredCompletions) and are read back when asked
  // for; without one, memory keeps them.
  void set_completion_archive(CompletionArchive* archive) { completion_archive_ = archive; }
  CompletionArchive* completion_archive() const { return completion_archive_; }
  // Lets go of the payload and result of each completion the archive reported stored since
  // the last call (unless it was put again since).
  void ArchiveStoredCompletions();

  // SWAPDB: databases `a` and `b` trade numbers (their clients, watchers and blocked clients
  // see the other's keys from now on); recorded as one mutation, no record is rewritten.
  void SwapDatabases(int a, int b);
  // Which stored database each number names (u16 each, big-endian), for the store.
  std::string DatabaseMap() const;
  // Takes the map a store kept (before its records are loaded); a map of another number of
  // databases, or not a permutation, is ignored: false.
  bool SetDatabaseMap(std::string_view map);

  // The time commands see; set once per command so a command sees one consistent "now".
  int64_t now_ms() const { return now_ms_; }
  // A replica's keyspace changes only by what the master replicates (Apply): a key found expired
  // reads as absent but stays until the master's delete arrives.
  bool replica() const { return replica_; }
  void set_replica(bool replica) { replica_ = replica; }
  // Likewise while CLIENT PAUSE holds clients: expired keys read as absent and stay.
  bool holding_expired() const { return replica_ || holding_expired_; }
  void set_holding_expired(bool hold) { holding_expired_ = hold; }
  void set_now_ms(int64_t ms) { now_ms_ = ms; }

  // Told of every key that changes, in any database, and (nullptr) of every flush (FLUSHDB,
  // FLUSHALL: once), for client-side caching (server/command/tracking.h).
  using ChangeListener = std::function<void(const std::string_view* key)>;
  void set_change_listener(ChangeListener listener) { change_listener_ = std::move(listener); }

  // Redis' encoding limits (hash-max-listpack-*, set-max-intset-entries): how far a hash stays
  // in insertion order and a set of integers in numeric order (server/data/hash.h, set.h).
  const Hash::Limits& hash_limits() const { return hash_limits_; }
  const Set::Limits& set_limits() const { return set_limits_; }
  void set_encoding_limits(Hash::Limits hash, Set::Limits set) {
    hash_limits_ = hash;
    set_limits_ = set;
  }

  // Keyspace notifications: the event classes turned on (notify-keyspace-events), and where
  // an event of one of them goes.
  using Notifier = std::function<void(int db, std::string_view event, std::string_view key)>;
  int notify_classes() const { return notify_classes_; }
  void set_notify_classes(int classes) { notify_classes_ = classes; }
  void set_notifier(Notifier notifier) { notifier_ = std::move(notifier); }
  // Announces `event` of class `cls` (server/data/notify.h) on `key`, if that class is on.
  // Nothing is announced while changes are applied (loading, a replica following the log):
  // events come from the commands that made the changes.
  void Notify(int db, int cls, std::string_view event, std::string_view key) {
    if ((notify_classes_ & cls) && recording_ && notifier_) notifier_(db, event, key);
  }
  // A lookup found no `key`: announced when a read-only command looked. Returns nullptr.
  const Value* Missed(int db, std::string_view key) {
    if (reading_) Notify(db, event::kKeyMiss, "keymiss", key);
    return nullptr;
  }
  // While a command that only reads runs, a key it looks for and does not find is announced
  // ("keymiss"), as Redis' read lookups do.
  void set_reading(bool reading) { reading_ = reading; }
  // Whether keys created from now on are announced as "new" (not while a STORE replaces one).
  bool announce_new() const { return announce_new_; }
  void set_announce_new(bool announce) { announce_new_ = announce; }
  void NotifyNew(int db, std::string_view key) {
    if (announce_new_) Notify(db, event::kNew, "new", key);
  }

  // Mutations recorded since the last TakeMutations().
  bool HasMutations() const { return !pending_.empty(); }
  size_t pending_mutations() const { return pending_.size(); }
  std::vector<Mutation> TakeMutations() { return std::exchange(pending_, {}); }
  // Hands a committed batch's vector back, so the next iteration records into memory that is
  // already allocated instead of growing a new vector (a pipelined burst records hundreds).
  void RecycleMutations(std::vector<Mutation> spent) {
    constexpr size_t kKeepCapacity = 1 << 14;  // a one-off huge batch is not kept
    if (!pending_.empty() || spent.capacity() > kKeepCapacity) return;
    spent.clear();
    pending_ = std::move(spent);
  }
  // The first `count` recorded mutations (those of commands that finished before a script).
  std::vector<Mutation> TakeMutations(size_t count) {
    std::vector<Mutation> head(
        std::make_move_iterator(pending_.begin()),
        std::make_move_iterator(pending_.begin() + static_cast<ptrdiff_t>(count)));
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(count));
    return head;
  }
  // Records a change of what a node keeps beside the data, for the replicas of a cluster: the
  // script cache (kScriptLoad of `arg`, or kScriptFlush), the ACL users (kAclUsers).
  void RecordNodeState(Mutation::Op op, std::string_view arg = {}) { db(0).Record(op, {}, arg); }
  // A cluster's ACL users as the log (or the store) last set them, as an ACL file holds them;
  // empty when none was set. The server adopts them (ServerState::ReplaceUsers).
  const std::string& acl_users() const { return acl_users_; }
  // FUNCTION's libraries by name, with their code as FUNCTION LOAD took it: durable and
  // replicated like the data; the script engine compiles them (server/command/script_engine.h).
  const std::map<std::string, std::string>& function_libraries() const {
    return function_libraries_;
  }
  void SetFunctionLibrary(std::string_view name, std::string_view code);
  void DeleteFunctionLibrary(std::string_view name);
  void FlushFunctionLibraries();
  // Applies a mutation without recording it (recovery, replication).
  void Apply(const Mutation& m);

  void FlushAll();

  // WATCH support: `flag->dirty` becomes true when `key` in `db` changes.
  void Watch(int db, std::string_view key, WatchFlag* flag);
  void Unwatch(int db, std::string_view key, WatchFlag* flag);

  // Blocking support: clients (by id) wait for a key in FIFO order; a change to a key with
  // waiters marks it ready, and the server serves ready keys after each command.
  void Block(int db, std::string_view key, uint64_t client);
  void Unblock(int db, std::string_view key, uint64_t client);
  std::vector<uint64_t> Waiters(int db, std::string_view key) const;
  // Wakes the clients blocked on `key` in every database: a name that stands for something
  // other than a value (kReplicationKey: what replicas applied).
  void Signal(std::string_view key) {
    for (int db = 0; db < databases(); db++) Touched(db, key);
  }
  std::vector<std::pair<int, std::string>> TakeReadyKeys() { return std::exchange(ready_, {}); }
  bool HasReadyKeys() const { return !ready_.empty(); }

  // Does in every database what the clock has made due by now_ms(), at most `jobs` jobs of
  // each kind and `schedules` schedules per database: delayed jobs become ready, schedules fire,
  // jobs whose lease ran out go back to their queues, throttled queues wake.
  void RunDueWork(size_t jobs, size_t schedules);

  std::mt19937_64& rng() { return rng_; }
  // Runs a failed job gets in queues that set no RETRY of their own (the server's --retry + 1).
  uint32_t default_max_attempts() const { return default_max_attempts_; }
  void set_default_max_attempts(uint32_t n) { default_max_attempts_ = n; }
  // Merges failure records that a data directory from before one-record-per-job holds for
  // each failed run into one record per job, in every database (run after loading).
  void MergeFailedRuns() {
    for (auto& db : dbs_) db->MergeFailedRuns();
  }
  Throughput& throughput() { return throughput_; }

  // Native workers (desaster-worker) that registered, by id. The registry is durable and
  // replicated, so what was asked of a worker (attached queues, kills, a stop) survives a
  // restart and a failover: after changing an entry, SaveWorker records it. Only last_seen_ms
  // is not kept (a loaded or replicated entry was seen when it arrived).
  struct Worker {
    std::string id, host, pid;
    std::string incarnation;  // the registered process (a restart under the same id is new)
    std::string health;       // why it takes no jobs now (an application that failed to boot)
    std::vector<std::string> adapters, capabilities, labels, queues;
    int concurrency = 1;
    int db = 0;
    int64_t registered_ms = 0, last_seen_ms = 0;
    std::set<uint64_t> kill;  // jobs JOB.KILL asked it to stop
    bool stop = false;        // WORKER.STOP: finish running jobs and exit
    bool refresh = false;     // WORKER.REFRESH: register again (with current capabilities)
    bool quiet = false;       // WORKER.QUIET: finish running jobs, fetch no new ones
    // What its last heartbeat reported (not stored: the next heartbeat after a restart tells).
    std::optional<int64_t> rss_bytes, processed, failed;
    bool Has(std::string_view capability) const;
    std::string Encode() const;  // all but id, db and last_seen_ms
    static bool Decode(std::string_view data, Worker* out);
  };
  std::map<std::string, Worker, std::less<>>& workers() { return workers_; }
  // Records the entry of workers() as it is now.
  void SaveWorker(const Worker& w) { db(w.db).Record(Mutation::Op::kWorkerPut, w.id, w.Encode()); }
  // Removes the entry and records that.
  void ForgetWorker(std::string_view id);

  // Cluster mode: who led from which epoch on, newest last (the last kMasterHistory terms).
  struct MasterTerm {
    int64_t epoch = 0;
    std::string node, address;
    int64_t since_ms = 0;
  };
  static constexpr size_t kMasterHistory = 100;
  const std::deque<MasterTerm>& master_history() const { return master_history_; }
  // A new master records its term (replicated and stored like the data).
  void RecordMasterTerm(MasterTerm term);

  // An import from a Redis by desaster-migrate (docs/MIGRATE.md). While one is active the data
  // follows the source: the server runs no retries, promotions, schedules, lease expiry or
  // active expiry of its own, and failure records pushed to a resque failure list are history
  // (dead, at their own time) unless `retry_imported`.
  struct Import {
    bool active = false;
    bool retry_imported = false;
    std::string source;   // the source's replication id
    int64_t offset = -1;  // the source's replication offset the data reflects; -1 while the
                          // snapshot loads. Recorded in the batch of the commands that got there.
    int64_t finished_ms = 0;  // when the last import ended (IMPORT.FINISH); 0: none has
    std::string Encode() const;
    static bool Decode(std::string_view data, Import* out);
  };
  const Import& import() const { return import_; }
  // Recorded, replicated and stored like the data.
  void SetImport(Import import);

  // Which keys are queues of which client library.
  const Dialects& dialects() const { return dialects_; }
  void set_dialects(Dialects d) { dialects_ = std::move(d); }
  // A new job id: increasing, and above every id seen (time-based, so also across restarts).
  uint64_t NextJobId();
  void SeenJobId(uint64_t id) { last_job_id_ = std::max(last_job_id_, id); }
  uint64_t expired_keys() const { return expired_keys_; }

 private:
  friend class Database;
  using Key = std::pair<int, std::string>;

  void Touched(int db, std::string_view key);
  // Every watched key of `db` that exists is about to be removed.
  void TouchedAll(int db);

  std::vector<std::unique_ptr<Database>> dbs_;  // by the number clients SELECT
  std::vector<Database*> stored_;               // by the number records are stored under
  int notify_classes_ = 0;
  ChangeListener change_listener_;
  bool flushing_all_ = false;  // FLUSHALL tells change_listener_ once, not per database
  Hash::Limits hash_limits_;
  Set::Limits set_limits_;
  bool announce_new_ = true;
  bool reading_ = false;
  Notifier notifier_;
  int64_t now_ms_ = 0;
  uint32_t default_max_attempts_ = 25;
  bool recording_ = true;
  bool replica_ = false;
  CompletionArchive* completion_archive_ = nullptr;
  bool holding_expired_ = false;
  std::vector<Mutation> pending_;
  std::map<Key, std::vector<WatchFlag*>> watched_;
  std::map<Key, std::vector<uint64_t>> blocked_;
  std::vector<Key> ready_;
  std::mt19937_64 rng_{std::random_device{}()};
  Throughput throughput_;
  uint64_t expired_keys_ = 0;
  Dialects dialects_;
  uint64_t last_job_id_ = 0;
  std::map<std::string, Worker, std::less<>> workers_;
  std::deque<MasterTerm> master_history_;
  Import import_;
  std::string acl_users_;
  std::map<std::string, std::string> function_libraries_;
};

}  // namespace desaster
