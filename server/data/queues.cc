// Database's queue operations: the only code that changes queues and jobs, so that each change
// is recorded as a mutation (kQueueConfig, kQueueDrop, kJobPut, kJobDelete), WATCHes of the key
// are invalidated and clients blocked on it are woken.
#include <algorithm>
#include <cassert>
#include <functional>
#include <utility>

#include "compat/failures.h"
#include "server/data/keyspace.h"
#include "server/data/notify.h"
#include "server/queue/record.h"

namespace desaster {

size_t ReadyJobs(const QueueRef& ref) { return ref.queue->ready(); }

namespace {
// What pairs a popped job with the library run that starts it: its queue and its payload (as
// a JSON value: the worker may write it back encoded otherwise).
size_t PoppedKey(std::string_view queue, std::string_view payload) {
  std::hash<std::string_view> text;
  return JsonDigest(payload).value_or(text(payload)) * 31 + text(queue);
}
}  // namespace

// How long a job leased before a restart waits for its worker to check in again.
constexpr int64_t kLeaseGraceMs = 30000;

uint64_t Keyspace::NextJobId() {
  // Milliseconds in the high bits, a counter in the low 16: ids sort by creation time.
  uint64_t time_based = static_cast<uint64_t>(now_ms_) << 16;
  last_job_id_ = std::max(last_job_id_ + 1, time_based);
  return last_job_id_;
}

Queue* Database::FindQueue(std::string_view key) {
  auto it = queues_.find(key);
  return it == queues_.end() ? nullptr : it->second.get();
}

const Dialect* Database::DialectOf(std::string_view key) const {
  const Dialect* d = keyspace_->dialects().Match(key);
  return d ? d : &Dialects::Native();
}

Queue* Database::RegisterQueue(std::string_view key, const Dialect* dialect) {
  auto q = std::make_unique<Queue>(std::string(key), dialect);
  Queue* raw = q.get();
  queues_.emplace(std::string(key), std::move(q));
  return raw;
}

Queue* Database::QueueForPush(std::string_view key) {
  if (Queue* q = FindQueue(key)) return q;
  if (!keyspace_->dialects().Match(key)) return nullptr;
  const Value* v = Find(key);
  if (v && v->type() != ValueType::kQueue) return nullptr;  // a plain value keeps its type
  Queue* q = RegisterQueue(key, DialectOf(key));
  Record(Mutation::Op::kQueueConfig, key, q->config().Encode());
  return q;
}

Queue* Database::CreateQueue(std::string_view key, QueueConfig config, std::string* error) {
  Queue* q = FindQueue(key);
  bool created = q == nullptr;
  if (created) q = RegisterQueue(key, DialectOf(key));
  if (ConfigureQueue(q, std::move(config), error)) return q;
  if (created) queues_.erase(std::string(key));
  return nullptr;
}

bool Database::ConfigureQueue(Queue* q, QueueConfig config, std::string* error) {
  auto discipline = q->Build(config, error);
  if (!discipline) return false;
  Record(Mutation::Op::kQueueConfig, q->key(), config.Encode());
  q->Reconfigure(std::move(config), std::move(discipline));
  Changed(q->key());  // resumed, or a new discipline: blocked pops may get a job now
  return true;
}

void Database::DropQueue(Queue* q) {
  // Running jobs go too, as their records do: a worker's JOB.ACK then finds no such job, where
  // it would otherwise find a job whose queue is gone.
  ClearQueue(q, JobsOf::kAll);
  std::string key = q->key();
  Record(Mutation::Op::kQueueDrop, key);
  queues_.erase(key);
  Changed(key);
}

Job* Database::LeaseNext(Queue* q, const std::function<bool(const Job&)>& eligible,
                         const Lessee& worker, int64_t lease_ms) {
  int64_t now = keyspace_->now_ms();
  Job* pick = PeekJob(q);
  if (!pick) return nullptr;
  if (eligible(*pick)) {
    q->discipline().Take(pick, now);  // the discipline's own pick: its round robin moves on
  } else {
    pick = nullptr;
    q->discipline().ForEachInOrder([&](Job* j) { return eligible(*j) ? (pick = j, false) : true; },
                                   0);
    if (!pick) return nullptr;
    q->RemoveReady(pick);
  }
  q->CountTaken(now);
  keyspace_->throughput().Count(Throughput::kDequeued, now);
  q->UnindexUnique(pick);
  pick->state = JobState::kLeased;
  pick->set_lease(std::string(worker.id), std::string(worker.incarnation), now + lease_ms);
  pick->run_at_ms = now;         // when it started
  live_output_.erase(pick->id);  // a new run tells its own story
  Refile(pick);
  return pick;
}

std::vector<Job*> Database::LeasesOf(std::string_view worker) const {
  std::vector<Job*> mine;
  ForEachLeased([&](Job* j) {
    if (j->lease_owner() == worker) mine.push_back(j);
    return true;
  });
  return mine;
}

void Database::ExtendLeases(const Lessee& worker, int64_t until_ms,
                            const std::set<uint64_t>* only) {
  for (Job* j : LeasesOf(worker.id)) {
    if (j->lease_incarnation() != worker.incarnation) continue;  // its dead predecessor's
    if (only && !only->count(j->id)) continue;
    leases_.erase({j->lease_until_ms(), j->id});
    j->set_lease_until(std::max(j->lease_until_ms(), until_ms));
    leases_.emplace(j->lease_until_ms(), j->id);
  }
}

void Database::GraceLeases() {
  std::set<std::pair<int64_t, uint64_t>> graced;
  for (auto [until, id] : leases_) {
    Job* j = FindJob(id);
    j->set_lease_until(std::max(until, keyspace_->now_ms() + kLeaseGraceMs));
    graced.emplace(j->lease_until_ms(), id);
  }
  leases_ = std::move(graced);
}

size_t Database::ReleaseLeases(const Lessee& worker) {
  size_t n = 0;
  for (Job* j : LeasesOf(worker.id)) {
    if (j->lease_incarnation() == worker.incarnation) continue;
    ReturnLeasedJob(j, "its worker " + j->lease_owner() + " restarted while running it");
    n++;
  }
  return n;
}

size_t Database::ExpireLeases(size_t budget) {
  size_t n = 0;
  while (n < budget && !leases_.empty() && leases_.begin()->first <= keyspace_->now_ms()) {
    Job* job = FindJob(leases_.begin()->second);
    ReturnLeasedJob(job, "its worker " + job->lease_owner() + " went silent while running it");
    n++;
  }
  return n;
}

void Database::Unlease(Job* job, uint32_t attempts) {
  UpdateJob(job, [&](Job& j) {
    j.state = JobState::kReady;
    j.attempts = SaturatedAttempts(attempts);
    j.order = j.queue->NextOrder(true);  // it was next when it left: it is next again
    j.set_lease("", "", 0);
    j.run_at_ms = 0;
  });
}

void Database::ReturnLeasedJob(Job* job, std::string why) {
  uint32_t attempt = job->attempts + 1U;
  if (attempt < MaxAttempts(*job->queue, job->payload)) return Unlease(job, attempt);
  // A job that took its worker down run after run: it goes to the dead, not round again.
  Failure f = FailureOf(*job, attempt);
  f.error_class = "WorkerLost";
  f.message = std::move(why);
  int64_t ready_ms = job->enqueued_ms;
  RemoveJob(job);
  RecordFailure(std::move(f), true, ready_ms);
}

Database::LiveOutput& Database::ReportOutput(uint64_t job, std::string_view output) {
  LiveOutput& live = live_output_[job];
  if (output.size() >= kLiveOutputKept) {
    live.tail.assign(output.substr(output.size() - kLiveOutputKept));
  } else {
    size_t over = live.tail.size() + output.size();
    if (over > kLiveOutputKept) live.tail.erase(0, over - kLiveOutputKept);
    live.tail.append(output);
  }
  live.total += output.size();
  live.updated_ms = keyspace_->now_ms();
  return live;
}

const Database::LiveOutput* Database::FindLiveOutput(uint64_t job) const {
  auto it = live_output_.find(job);
  return it == live_output_.end() ? nullptr : &it->second;
}

// ---- the completed store ----

void Database::Complete(std::unique_ptr<Job> job, std::string result) {
  PayloadFields fields = job->queue->Fields(*job);
  int64_t now = keyspace_->now_ms();
  metrics_.Count({.queue = job->queue->key(),
                  .klass = fields.klass,
                  .succeeded = true,
                  .duration_ms = now - job->run_at_ms,  // a lease starts its run there
                  .wait_ms = job->run_at_ms - job->enqueued_ms},
                 now);
  if (completed_policy_.max == 0) return;
  StoreCompletion({.job = job->id,
                   .queue = job->queue->key(),
                   .payload = job->payload.str(),
                   .klass = std::move(fields.klass),
                   .worker = job->lease_owner(),
                   .result = std::move(result),
                   .enqueued_ms = job->enqueued_ms,
                   .started_ms = job->run_at_ms,  // a lease starts its run there
                   .finished_ms = now,
                   .attempt = job->attempts + 1U,
                   .redacted = false});
}

void Database::StoreCompletion(Completion c) {
  if (completed_policy_.max == 0) return;
  if (const Redactor& redactor = completed_policy_.redactor; redactor.enabled()) {
    bool changed[3];
    c.payload = redactor.Redact(c.payload, &changed[0]);
    c.result = redactor.Redact(c.result, &changed[1]);
    c.klass = redactor.Redact(c.klass, &changed[2]);
    c.redacted = changed[0] || changed[1] || changed[2];
  }
  PutCompletion(std::move(c));
  TrimCompletions(1);  // the one over the limit now; the queue timer takes any others
}

void Database::PutCompletion(Completion c) {
  if (keyspace_->recording_) {
    Record(Mutation::Op::kCompletionPut, {}, c.Encode(), {}, static_cast<int64_t>(c.job));
  }
  if (auto old = completions_.find(c.job); old != completions_.end()) {
    completion_order_.erase({old->second.finished_ms, c.job});
    archived_completions_ -= old->second.archived;
    c.unstored += old->second.unstored;  // the archive reports those writes still
  }
  // A completion loaded from the store arrives archived; any other the store writes, and the
  // archive reports it once that write is durable.
  if (!c.archived && keyspace_->completion_archive()) c.unstored++;
  archived_completions_ += c.archived;
  completion_order_.emplace(c.finished_ms, c.job);
  keyspace_->SeenJobId(c.job);
  completions_[c.job] = std::move(c);
}

void Database::CompletionStored(uint64_t job) {
  auto it = completions_.find(job);
  if (it == completions_.end() || it->second.unstored == 0) return;  // gone, or reloaded since
  Completion& c = it->second;
  if (--c.unstored > 0 || c.archived) return;
  c.archived = true;
  archived_completions_++;
  std::string().swap(c.payload);
  std::string().swap(c.result);
}

const Completion* Database::FindCompletion(uint64_t job) const {
  auto it = completions_.find(job);
  return it == completions_.end() ? nullptr : &it->second;
}

const Completion* Database::WithBody(const Completion& c, Completion* scratch) const {
  if (!c.archived) return &c;
  std::string record;
  Completion stored;
  if (!keyspace_->completion_archive()->Read(stored_as_, c.job, &record) ||
      !Completion::Decode(record, &stored)) {
    return nullptr;
  }
  *scratch = c;
  scratch->payload = std::move(stored.payload);
  scratch->result = std::move(stored.result);
  return scratch;
}

void Database::RemoveCompletion(uint64_t job) {
  auto it = completions_.find(job);
  if (it == completions_.end()) return;
  Record(Mutation::Op::kCompletionDelete, {}, {}, {}, static_cast<int64_t>(job));
  completion_order_.erase({it->second.finished_ms, job});
  archived_completions_ -= it->second.archived;
  completions_.erase(it);
}

Job* Database::RerunCompletion(const Completion& c) {
  Completion scratch;
  const Completion* whole = WithBody(c, &scratch);
  if (c.redacted || !whole) return nullptr;  // (never an empty job for a payload not found)
  Queue* q = QueueToRunAgain(c.queue);
  return q ? PushJob(q, {.payload = whole->payload}) : nullptr;
}

void Database::LibraryRunStarted(const Dialect& d, std::string_view key, std::string_view job) {
  std::string_view id = key.substr(d.running_prefix.size());
  const Value* workers = Peek(d.workers_set);
  if (!workers || workers->type() != ValueType::kSet || !workers->set().Contains(id)) return;
  auto queue = JsonField(job, "queue");
  auto payload = JsonField(job, "payload");
  if (!queue || !payload) return;
  if (library_runs_.size() >= kLibraryRunsMax && !library_runs_.contains(std::string(key))) return;
  LibraryRunEnded(key);  // a run its worker started over without a DEL ends here
  // node-resque's jobs name their worker as its counters and failure records do; Ruby resque's
  // workers go by their id.
  std::string worker = d.running_prefix + JsonField(job, "worker").value_or(std::string(id));
  library_run_keys_[worker] = key;
  LibraryRun run{.started_ms = keyspace_->now_ms(),
                 .queue = d.queue_prefix + *queue,
                 .klass = ParsePayload(*payload).klass,
                 .payload = *payload,
                 .worker = std::move(worker),
                 .name_from = d.running_prefix.size(),
                 .job = 0,
                 .enqueued_ms = 0,
                 .recorded_failure = false,
                 .processed = false,
                 .failed = false};
  // The worker writes back the payload it read: the job just popped with the same JSON value
  // is this one.
  if (auto popped = ClaimPopped(run.queue, run.payload)) {
    run.job = popped->id;
    run.enqueued_ms = popped->enqueued_ms;
  }
  library_runs_[std::string(key)] = std::move(run);
}

void Database::NotePopped(const Queue& q, const Job& job) {
  const Dialect& d = q.dialect();
  if (d.running_prefix.empty() && d.finished_prefix.empty()) return;  // its runs are not seen
  // No worker of the library is registered: no run will claim it.
  if (!d.workers_set.empty() && !Peek(d.workers_set)) return;
  if (popped_.size() == kPoppedMax) popped_.pop_front();
  popped_.push_back({.key = PoppedKey(q.key(), job.payload.view()),
                     .id = job.id,
                     .enqueued_ms = job.enqueued_ms});
}

std::optional<Database::PoppedJob> Database::ClaimPopped(std::string_view queue,
                                                         std::string_view payload) {
  // Equal payloads pair in pop order.
  auto it = std::ranges::find(popped_, PoppedKey(queue, payload), &PoppedJob::key);
  if (it == popped_.end()) return std::nullopt;
  PoppedJob popped = *it;
  popped_.erase(it);
  return popped;
}

void Database::LibraryRunEnded(std::string_view key) {
  auto it = library_runs_.find(std::string(key));
  if (it == library_runs_.end()) return;
  LibraryRun& run = it->second;
  if (!run.recorded_failure && (run.failed || run.processed)) {
    int64_t now = keyspace_->now_ms();
    metrics_.Count(
        {.queue = run.queue,
         .klass = run.klass,
         .succeeded = !run.failed,
         .duration_ms = now - run.started_ms,
         .wait_ms = run.job ? std::optional(run.started_ms - run.enqueued_ms) : std::nullopt},
        now);
    if (!run.failed) {
      StoreCompletion({.job = run.job ? run.job : keyspace_->NextJobId(),
                       .queue = std::move(run.queue),
                       .payload = std::move(run.payload),
                       .klass = std::string(run.klass),
                       .worker = run.worker.substr(run.name_from),
                       .result = {},  // a resque worker says nothing of a success
                       .enqueued_ms = run.enqueued_ms,
                       .started_ms = run.started_ms,
                       .finished_ms = now,
                       .attempt = 1,
                       .redacted = false});
    }
  }
  if (auto named = library_run_keys_.find(run.worker);
      named != library_run_keys_.end() && named->second == key) {
    library_run_keys_.erase(named);
  }
  library_runs_.erase(it);
}

Database::LibraryRun* Database::FindLibraryRun(const Dialect& d, std::string_view worker) {
  auto named = library_run_keys_.find(d.running_prefix + std::string(worker));
  if (named == library_run_keys_.end()) return nullptr;
  auto it = library_runs_.find(named->second);
  return it == library_runs_.end() ? nullptr : &it->second;
}

int64_t Database::LibraryRunFailed(const Dialect& d, std::string_view worker) {
  LibraryRun* run = FindLibraryRun(d, worker);
  if (!run || run->recorded_failure) return 0;
  run->recorded_failure = true;
  return run->started_ms;
}

void Database::LibraryRunCounted(const Dialect& d, std::string_view worker, bool failed) {
  if (LibraryRun* run = FindLibraryRun(d, worker)) (failed ? run->failed : run->processed) = true;
}

void Database::RegistryRunEnded(const Dialect& d, std::string_view id, bool succeeded) {
  const Value* v = Peek(d.job_prefix + std::string(id));
  if (!v || v->type() != ValueType::kHash) return;
  const Hash& job = v->hash();
  auto field = [&](std::string_view name) {
    const std::string* s = job.Find(name);
    return s ? std::string_view(*s) : std::string_view();
  };
  auto time = [&](std::string_view name) { return ParseLibraryTime(field(name)); };
  std::string_view origin = field("origin"), description = field("description");
  if (origin.empty()) return;
  std::optional<int64_t> started = time("started_at"), ended = time("ended_at"),
                         enqueued = time("enqueued_at");
  std::string queue = d.queue_prefix + std::string(origin);
  MetricRun run{.queue = queue,
                // "jobs.add(1, 2)": the function is the job's class
                .klass = description.substr(0, description.find('(')),
                .succeeded = succeeded,
                .duration_ms = std::nullopt,
                .wait_ms = std::nullopt};
  if (started && ended && *ended >= *started) run.duration_ms = *ended - *started;
  if (started && enqueued) run.wait_ms = *started - *enqueued;
  int64_t now = keyspace_->now_ms();
  metrics_.Count(run, now);
  if (!succeeded) return;
  // The queue held the job's id: the id popped last from it is this run's job. The times are
  // RQ's own; its result is a pickle, not shown.
  // (The hash is anyone's to write: no time lies ahead of now, or of the one after it.)
  auto popped = ClaimPopped(queue, id);
  int64_t finished = std::min(ended.value_or(now), now);
  int64_t began = std::min(started.value_or(finished), finished);
  StoreCompletion({.job = popped ? popped->id : keyspace_->NextJobId(),
                   .queue = std::move(queue),
                   .payload = std::string(id),
                   .klass = std::string(run.klass),
                   .worker = std::string(field("worker_name")),
                   .result = {},
                   .enqueued_ms = enqueued ? std::min(*enqueued, began) : 0,
                   .started_ms = began,
                   .finished_ms = finished,
                   .attempt = 1,
                   .redacted = false});
}

void Database::FlushMetrics() {
  metrics_.Flush(keyspace_->now_ms(), [&](const MetricCellKey& key, const MetricCell* cell) {
    Record(cell ? Mutation::Op::kMetricPut : Mutation::Op::kMetricDelete, key.name,
           cell ? cell->Encode() : std::string(), key.Tag(), key.start_ms);
  });
}

size_t Database::TrimCompletions(size_t budget) {
  const CompletedPolicy& p = completed_policy_;
  int64_t before = p.ttl_ms > 0 ? keyspace_->now_ms() - p.ttl_ms : INT64_MIN;
  size_t n = 0;
  while (n < budget && !completion_order_.empty() &&
         (completions_.size() > p.max || completion_order_.begin()->first < before)) {
    RemoveCompletion(completion_order_.begin()->second);
    n++;
  }
  return n;
}

const Failure* Database::FailureOfJob(uint64_t id) const {
  Failure key;
  key.job = id;
  auto it = failure_of_job_.find(key.JobKey());
  return it == failure_of_job_.end() ? nullptr : &failures_.at(it->second);
}

bool Keyspace::Worker::Has(std::string_view capability) const {
  return std::find(capabilities.begin(), capabilities.end(), capability) != capabilities.end() ||
         std::find(adapters.begin(), adapters.end(), capability) != adapters.end();
}

namespace {
constexpr char kWorkerRecordVersion = 1;
}  // namespace

std::string Keyspace::Worker::Encode() const {
  std::string out(1, kWorkerRecordVersion);
  for (const std::string* s : {&host, &pid, &incarnation, &health}) record::PutString(&out, *s);
  for (const auto* list : {&adapters, &capabilities, &labels, &queues}) {
    record::PutVarint(&out, list->size());
    for (const std::string& item : *list) record::PutString(&out, item);
  }
  record::PutSigned(&out, concurrency);
  record::PutSigned(&out, registered_ms);
  record::PutVarint(&out, kill.size());
  for (uint64_t id : kill) record::PutVarint(&out, id);
  record::PutVarint(&out, (stop ? 1 : 0) | (refresh ? 2 : 0) | (quiet ? 4 : 0));
  return out;
}

bool Keyspace::Worker::Decode(std::string_view data, Worker* out) {
  if (data.empty() || data[0] != kWorkerRecordVersion) return false;
  record::Reader r(data.substr(1));
  for (std::string* s : {&out->host, &out->pid, &out->incarnation, &out->health}) {
    *s = r.String();
  }
  for (auto* list : {&out->adapters, &out->capabilities, &out->labels, &out->queues}) {
    list->clear();
    for (uint64_t n = r.Varint(); r.ok() && n > 0; n--) list->push_back(r.String());
  }
  out->concurrency = static_cast<int>(r.Signed());
  out->registered_ms = r.Signed();
  out->kill.clear();
  for (uint64_t n = r.Varint(); r.ok() && n > 0; n--) out->kill.insert(r.Varint());
  uint64_t flags = r.Varint();
  out->stop = (flags & 1) != 0;
  out->refresh = (flags & 2) != 0;
  out->quiet = (flags & 4) != 0;
  return r.done();
}

void Keyspace::ForgetWorker(std::string_view id) {
  auto it = workers_.find(id);
  if (it == workers_.end()) return;
  db(it->second.db).Record(Mutation::Op::kWorkerDelete, id);
  workers_.erase(it);
}

size_t Database::ClearQueue(Queue* q, JobsOf which) {
  // A slice of jobs at a time, so that the list of a slice's jobs (and the id lists made from
  // it) is memory used again: lists of a million jobs were fresh memory each, which the kernel
  // maps a page per fault as it is first written (half of clearing 1M jobs on the development
  // VM). The id table shrinks once, at the end.
  constexpr size_t kSlice = 64 << 10;
  std::vector<Job*> doomed;
  size_t cleared = 0;
  // `collect` puts up to kSlice of the jobs left into `doomed`; they go until none is left.
  auto remove_in_slices = [&](const std::function<void()>& collect) {
    for (collect(); !doomed.empty(); collect()) {
      RemoveJobs(doomed, JobTable::Shrinking::kLater);
      cleared += doomed.size();
      doomed.clear();
    }
  };
  remove_in_slices([&] {
    q->discipline().ForEachInOrder([&](Job* job) {
      doomed.push_back(job);
      return doomed.size() < kSlice;
    });
  });
  // scheduled_ or leases_, (time, id) in order: a slice goes on after the last entry seen.
  auto remove_from = [&](const std::set<std::pair<int64_t, uint64_t>>& index) {
    std::optional<std::pair<int64_t, uint64_t>> seen;
    remove_in_slices([&] {
      for (auto it = seen ? index.upper_bound(*seen) : index.begin();
           it != index.end() && doomed.size() < kSlice; ++it) {
        if (Job* job = FindJob(it->second); job->queue == q) doomed.push_back(job);
        seen = *it;
      }
    });
  };
  if (which != JobsOf::kReady && q->scheduled() > 0) remove_from(scheduled_);
  if (which == JobsOf::kAll && q->running() > 0) remove_from(leases_);
  jobs_.Shrink();
  return cleared;
}

void Database::RecordJob(const Job& job) {
  if (!keyspace_->recording_) return;
  Mutation m;  // built here so the encoded record moves in instead of being copied
  m.op = Mutation::Op::kJobPut;
  m.db = stored_as_;
  m.num = static_cast<int64_t>(job.id);
  m.key = job.queue->key();
  m.arg = job.Encode();
  keyspace_->pending_.push_back(std::move(m));
}

void Database::SyncQueueKey(Queue* q) {
  Value* v = keys_.Find(q->key());
  if (q->ready() > 0 && v == nullptr) {
    bool inserted;
    Value* nv = keys_.Insert(q->key(), &inserted);
    nv->data = QueueRef{q};
    nv->last_access_ms = keyspace_->now_ms();
    keyspace_->NotifyNew(index_, q->key());
  } else if (q->ready() == 0 && v != nullptr && v->type() == ValueType::kQueue) {
    keys_.Erase(q->key());
  }
}

void Database::Unfile(Job* job) {
  Queue* q = job->queue;
  switch (job->state) {
    case JobState::kReady:
      q->RemoveReady(job);
      break;
    case JobState::kScheduled:
      scheduled_.erase({job->run_at_ms, job->id});
      q->CountScheduled(-1);
      break;
    case JobState::kLeased:
      leases_.erase({job->lease_until_ms(), job->id});
      q->CountRunning(-1);
      break;
  }
  q->UnindexUnique(job);
}

void Database::Refile(Job* job) {
  Queue* q = job->queue;
  q->SeenOrder(job->order);
  q->IndexUnique(job);
  if (job->state == JobState::kScheduled && job->run_at_ms <= keyspace_->now_ms() &&
      keyspace_->recording_) {
    job->state = JobState::kReady;  // due already: no detour through the timer
  }
  switch (job->state) {
    case JobState::kReady:
      q->AddReady(job);
      RetryJobReady(job->id);
      break;
    case JobState::kScheduled:
      scheduled_.emplace(job->run_at_ms, job->id);
      q->CountScheduled(1);
      break;
    case JobState::kLeased:
      if (!keyspace_->recording_) {
        // Loaded after a restart: its worker gets a lease's time to check in again.
        job->set_lease_until(std::max(job->lease_until_ms(), keyspace_->now_ms() + kLeaseGraceMs));
      }
      leases_.emplace(job->lease_until_ms(), job->id);
      q->CountRunning(1);
      break;
  }
  RecordJob(*job);
  SyncQueueKey(q);
  Changed(q->key());
}

Job* Database::InsertJob(Queue* q, std::unique_ptr<Job> job) {
  job->queue = q;
  Job* raw = job.get();
  jobs_.Insert(std::move(job));
  jobs_added_++;
  Refile(raw);
  return raw;
}

Job* Database::PushJob(Queue* q, JobSpec spec) {
  if (q->config().unique && spec.unique_key.empty()) spec.unique_key = q->UniqueKeyOf(spec.payload);
  if (!spec.unique_key.empty() && q->FindUnique(spec.unique_key)) {
    q->duplicates++;
    return nullptr;
  }
  auto job = std::make_unique<Job>();
  job->id = spec.id ? spec.id : keyspace_->NextJobId();
  job->payload = spec.payload;
  job->flow = std::move(spec.flow);
  job->set_capability(std::move(spec.capability));
  job->set_unique_key(std::move(spec.unique_key));
  job->priority = spec.priority;
  job->attempts = SaturatedAttempts(spec.attempts);
  job->order = q->NextOrder(spec.front);
  job->enqueued_ms = keyspace_->now_ms();
  if (spec.run_at_ms > keyspace_->now_ms()) {
    job->state = JobState::kScheduled;
    job->run_at_ms = spec.run_at_ms;
  }
  q->pushed++;
  keyspace_->throughput().Count(Throughput::kEnqueued, keyspace_->now_ms());
  return InsertJob(q, std::move(job));
}

Job* Database::PeekJob(Queue* q) {
  int64_t now = keyspace_->now_ms();
  Job* job = q->Peek(now);
  if (!job && q->ready() > 0 && !q->paused()) {
    // Rate-limited: clients blocked on the queue are woken when a job may go.
    throttled_.emplace(q->discipline().NextAvailableMs(now), q->key());
  }
  return job;
}

std::unique_ptr<Job> Database::PopJob(Queue* q) {
  int64_t now = keyspace_->now_ms();
  Job* job = PeekJob(q);
  if (!job) return nullptr;
  q->discipline().Take(job, now);
  q->CountTaken(now);
  keyspace_->throughput().Count(Throughput::kDequeued, now);
  q->UnindexUnique(job);
  NotePopped(*q, *job);
  return EraseJob(job);
}

std::unique_ptr<Job> Database::RemoveJob(Job* job) {
  Unfile(job);
  return EraseJob(job);
}

void Database::RemoveJobs(std::span<Job* const> jobs, JobTable::Shrinking shrinking) {
  // Each queue's ids, in the order the queues first appear (JOB.DELETE may name a job of a
  // different queue with every id).
  std::vector<std::pair<Queue*, std::vector<uint64_t>>> removed;
  std::unordered_map<Queue*, size_t> slot;
  // Each removal reads its job and the job's slot in the id table: cache misses, once millions
  // are queued. Both are asked for ahead, the job first, so that the misses overlap.
  constexpr size_t kJobAhead = 16, kSlotAhead = 8;
  for (size_t i = 0; i < jobs.size(); i++) {
    if (i + kJobAhead < jobs.size()) __builtin_prefetch(jobs[i + kJobAhead]);
    if (i + kSlotAhead < jobs.size()) jobs_.Prefetch(jobs[i + kSlotAhead]->id);
    Job* job = jobs[i];
    auto [it, fresh] = slot.try_emplace(job->queue, removed.size());
    if (fresh) {
      removed.emplace_back(job->queue, std::vector<uint64_t>());
      // Mostly one queue (a clear): room for all at once, not a copy at every doubling.
      if (removed.size() == 1) removed.back().second.reserve(jobs.size());
    }
    removed[it->second].second.push_back(job->id);
    Unfile(job);
    ForgetJob(job, JobTable::Shrinking::kLater);
  }
  if (shrinking == JobTable::Shrinking::kNow) jobs_.Shrink();
  for (const auto& [q, ids] : removed) {
    Record(Mutation::Op::kJobsDelete, q->key(), EncodeJobIds(ids));
    SyncQueueKey(q);
    Changed(q->key());
  }
}

std::unique_ptr<Job> Database::EraseJob(Job* job) {
  Queue* q = job->queue;
  std::unique_ptr<Job> out = ForgetJob(job);
  Record(Mutation::Op::kJobDelete, q->key(), {}, {}, static_cast<int64_t>(out->id));
  SyncQueueKey(q);
  Changed(q->key());
  return out;
}

std::unique_ptr<Job> Database::ForgetJob(Job* job, JobTable::Shrinking shrinking) {
  RetryJobGone(job->id);
  std::unique_ptr<Job> out = jobs_.Extract(job->id, shrinking);
  live_output_.erase(out->id);
  return out;
}

void Database::MoveJob(Job* job, Queue* dest) {
  if (job->queue == dest) return;
  // A moved retry is still a retry: keep its failure's link across the removal.
  auto link = retry_jobs_.find(job->id);
  std::optional<uint64_t> failure;
  if (link != retry_jobs_.end()) {
    failure = link->second;
    retry_jobs_.erase(link);
  }
  std::unique_ptr<Job> moved = RemoveJob(job);
  if (failure) retry_jobs_[moved->id] = *failure;
  moved->order = dest->NextOrder(false);
  if (dest->config().unique && moved->unique_key().empty()) {
    moved->set_unique_key(dest->UniqueKeyOf(moved->payload));
  }
  if (dest->discipline_info().uses_flows) moved->flow = dest->FlowOf(*moved);
  InsertJob(dest, std::move(moved));
}

Job* Database::FindJob(uint64_t id) { return jobs_.Find(id); }

bool Database::CompressPayloads(int64_t after_ms, size_t max_slots, CompressionRound* round) {
  int64_t now = keyspace_->now_ms();
  compression_cursor_ = jobs_.VisitSlots(compression_cursor_, max_slots, [&](Job* job) {
    // A leased job's worker has just read it, and will report on it soon.
    if (job->state == JobState::kLeased || !job->payload.Compressible()) return;
    // (Compared without overflow: times loaded or imported may be anything.)
    bool waited = job->state == JobState::kScheduled
                      ? job->run_at_ms > now && job->run_at_ms - now >= after_ms
                      : job->enqueued_ms <= now - after_ms;
    Queue* q = job->queue;
    if (!waited || !q->payload_dictionary()) {
      if (waited) q->SamplePayload(job->payload.view());
      round->pending++;
      return;
    }
    round->compressed += job->payload.Compress(q->payload_dictionary());
  });
  return compression_cursor_ == 0;
}

void Database::EnqueuedNow(Job* job) {
  int64_t now = keyspace_->now_ms();
  job->enqueued_ms = job->run_at_ms > 0 ? std::min(job->run_at_ms, now) : now;
}

size_t Database::PromoteDue(size_t budget) {
  size_t n = 0;
  int64_t now = keyspace_->now_ms();
  while (n < budget && !scheduled_.empty() && scheduled_.begin()->first <= now) {
    Job* job = FindJob(scheduled_.begin()->second);
    UpdateJob(job, [](Job& j) { j.state = JobState::kReady; });
    n++;
  }
  return n;
}

int64_t Database::NextQueueTimerMs() const {
  int64_t next = 0;
  auto consider = [&](const auto& index) {
    if (!index.empty() && (next == 0 || index.begin()->first < next)) next = index.begin()->first;
  };
  consider(scheduled_);
  consider(throttled_);
  consider(schedule_times_);
  consider(leases_);
  if (!completion_order_.empty()) {
    // Over the limit (it was lowered): at once. Else when the oldest ages out.
    const CompletedPolicy& p = completed_policy_;
    int64_t due = completions_.size() > p.max ? 1
                  : p.ttl_ms > 0              ? completion_order_.begin()->first + p.ttl_ms
                                              : 0;
    if (due && (next == 0 || due < next)) next = due;
  }
  return next;
}

// ---- schedules ----

void Database::PutSchedule(Schedule schedule) {
  auto old = schedules_.find(schedule.name);
  if (old != schedules_.end()) schedule_times_.erase({old->second.next_run_ms, old->first});
  if (keyspace_->recording_) Record(Mutation::Op::kScheduleSet, schedule.name, schedule.Encode());
  schedule.Plan();
  if (schedule.next_run_ms) schedule_times_.emplace(schedule.next_run_ms, schedule.name);
  std::string name = schedule.name;
  schedules_.insert_or_assign(std::move(name), std::move(schedule));
}

bool Database::SetSchedule(Schedule schedule, std::string* error) {
  if (!schedule.Compile(error)) return false;
  schedule.created_ms = keyspace_->now_ms();
  schedule.last_run_ms = 0;
  PutSchedule(std::move(schedule));
  return true;
}

bool Database::DeleteSchedule(std::string_view name) {
  auto it = schedules_.find(name);
  if (it == schedules_.end()) return false;
  Record(Mutation::Op::kScheduleDelete, name);
  schedule_times_.erase({it->second.next_run_ms, it->first});
  schedules_.erase(it);
  return true;
}

Job* Database::RunSchedule(const Schedule& schedule) {
  Queue* q = QueueForPush(schedule.queue);
  if (!q) {
    const Value* v = Find(schedule.queue);
    if (v) return nullptr;  // the key holds something else now
    q = RegisterQueue(schedule.queue, DialectOf(schedule.queue));
    Record(Mutation::Op::kQueueConfig, schedule.queue, q->config().Encode());
  }
  return PushJob(q, {.payload = schedule.payload,
                     .flow = schedule.flow,
                     .capability = schedule.capability,
                     .priority = schedule.priority});
}

size_t Database::FireDueSchedules(size_t budget) {
  size_t n = 0;
  int64_t now = keyspace_->now_ms();
  while (n < budget && !schedule_times_.empty() && schedule_times_.begin()->first <= now) {
    Schedule s = schedules_.at(schedule_times_.begin()->second);
    RunSchedule(s);
    s.last_run_ms = now;  // a late firing (downtime) runs once, then the plan goes on from now
    PutSchedule(std::move(s));
    n++;
  }
  return n;
}

void Database::WakeThrottled() {
  int64_t now = keyspace_->now_ms();
  while (!throttled_.empty() && throttled_.begin()->first <= now) {
    std::string key = throttled_.begin()->second;
    throttled_.erase(throttled_.begin());
    Changed(key);
  }
}

void Database::ApplyJobPut(std::string_view key, uint64_t id, std::string_view record) {
  auto job = std::make_unique<Job>();
  if (!Job::Decode(record, job.get())) return;
  job->id = id;
  keyspace_->SeenJobId(id);
  Queue* q = FindQueue(key);
  if (!q) q = RegisterQueue(key, DialectOf(key));
  if (Job* old = FindJob(id)) RemoveJob(old);
  InsertJob(q, std::move(job));
}

void Database::DropAllQueues() {
  for (auto& [key, q] : queues_) {
    Value* v = keys_.Find(key);
    if (v && v->type() == ValueType::kQueue) keys_.Erase(key);
  }
  jobs_.Clear();
  scheduled_.clear();
  throttled_.clear();
  queues_.clear();
  schedules_.clear();
  schedule_times_.clear();
  failures_.clear();
  failure_of_job_.clear();
  std::fill(std::begin(failure_counts_), std::end(failure_counts_), 0);
  retry_jobs_.clear();
  leases_.clear();
  live_output_.clear();
  completions_.clear();
  completion_order_.clear();
  archived_completions_ = 0;
  metrics_.Clear();
  library_runs_.clear();
  library_run_keys_.clear();
  popped_.clear();
}

}  // namespace desaster

// ---- the failed store ----

namespace desaster {

Failure* Database::PutFailure(Failure failure) {
  if (keyspace_->recording_) {
    Record(Mutation::Op::kFailurePut, {}, failure.Encode(), {}, static_cast<int64_t>(failure.id));
  }
  if (failure.state == FailureState::kRetrying) retry_jobs_[failure.retry_job] = failure.id;
  keyspace_->SeenJobId(failure.id);
  uint64_t id = failure.id;
  failure_counts_[static_cast<size_t>(failure.state)]++;
  auto [it, added] = failures_.try_emplace(id);
  if (!added) failure_counts_[static_cast<size_t>(it->second.state)]--;  // replaced
  it->second = std::move(failure);
  failure_of_job_[it->second.JobKey()] = id;
  return &it->second;
}

Queue* Database::QueueToRunAgain(std::string_view key) {
  if (Queue* q = QueueForPush(key)) return q;
  if (Find(key)) return nullptr;  // the key holds another type now
  std::string error;
  return CreateQueue(key, QueueConfig{}, &error);
}

Failure* Database::FindFailure(uint64_t id) {
  auto it = failures_.find(id);
  return it == failures_.end() ? nullptr : &it->second;
}

uint32_t Database::MaxAttempts(const Queue& q, std::string_view payload) const {
  uint32_t configured = q.config().retry.max_attempts;
  return PayloadMaxAttempts(payload).value_or(configured ? configured
                                                         : keyspace_->default_max_attempts());
}

Failure Database::FailureOf(const Job& job, uint32_t attempt) const {
  Failure f;
  f.queue = job.queue->key();
  f.payload = job.payload;
  PayloadFields fields = job.queue->Fields(job);
  f.klass = fields.klass;
  f.args = fields.args;
  f.worker = job.lease_owner();
  if (job.state == JobState::kLeased) f.started_at_ms = job.run_at_ms;  // its run began there
  f.failed_at_ms = keyspace_->now_ms();
  f.attempt = attempt;
  f.job = job.id;
  return f;
}

Failure* Database::RecordFailure(Failure f, bool retry, int64_t ready_ms) {
  f.id = keyspace_->NextJobId();
  keyspace_->throughput().Count(Throughput::kFailed, keyspace_->now_ms());
  bool started = f.started_at_ms > 0;  // a native run; resque's reports tell no start
  MetricRun run{
      .queue = f.queue,
      .klass = f.klass,
      .succeeded = false,
      .duration_ms = started ? std::optional(f.failed_at_ms - f.started_at_ms) : std::nullopt,
      .wait_ms =
          started && ready_ms > 0 ? std::optional(f.started_at_ms - ready_ms) : std::nullopt};
  // At its own time: an imported failure is history.
  metrics_.Count(run, std::min(f.failed_at_ms, keyspace_->now_ms()));
  if (auto prior = failure_of_job_.find(f.JobKey()); prior != failure_of_job_.end()) {
    // The job failed before: one record, the earlier runs in its history.
    Failure earlier = failures_.at(prior->second);
    if (f.job == 0) f.attempt = std::max(f.attempt, earlier.attempt + 1);  // resque's reports
    EraseFailure(&failures_.at(prior->second));  // a pending retry of it stays queued
    f.Follow(std::move(earlier));
  }
  Queue* q = QueueToRunAgain(f.queue);
  f.state = FailureState::kDead;
  if (retry && q && !q->dialect().retries_itself && f.attempt < MaxAttempts(*q, f.payload)) {
    int64_t delay = q->config().retry.DelayMs(f.attempt, keyspace_->rng());
    Job* job = PushJob(q, {.payload = f.payload,
                           .run_at_ms = keyspace_->now_ms() + delay,
                           .attempts = f.attempt,
                           .id = f.job && !FindJob(f.job) ? f.job : 0});
    if (job) {
      f.state =
          job->state == JobState::kScheduled ? FailureState::kRetrying : FailureState::kRetried;
      f.retry_job = job->id;
      f.retry_at_ms = keyspace_->now_ms() + delay;
    }
  }
  Failure* stored = PutFailure(std::move(f));
  while (failures_.size() > failed_max_) RemoveFailure(&failures_.begin()->second);
  return FindFailure(stored->id);
}

bool Database::RetryFailure(Failure* f) {
  if (f->state != FailureState::kDead) {
    if (Job* job = FindJob(f->retry_job)) {
      // Its retry is queued (or running) already: it runs now, and only once.
      if (job->state == JobState::kScheduled) {
        UpdateJob(job, [](Job& j) {
          j.state = JobState::kReady;
          j.run_at_ms = 0;
        });
      }
      return true;
    }
  }
  Queue* q = QueueToRunAgain(f->queue);
  if (!q) return false;
  Failure updated = *f;
  Job* job = PushJob(q, {.payload = f->payload,
                         .attempts = f->attempt,
                         .id = f->job && !FindJob(f->job) ? f->job : 0});
  updated.state = FailureState::kRetried;
  updated.retry_job = job ? job->id : 0;
  updated.retry_at_ms = keyspace_->now_ms();
  PutFailure(std::move(updated));
  return true;
}

bool Database::CancelRetry(Failure* f) {
  if (f->state != FailureState::kRetrying) return false;
  if (Job* job = FindJob(f->retry_job)) RemoveJob(job);  // marks the failure dead
  return true;
}

void Database::EraseFailure(Failure* f) {
  uint64_t id = f->id;
  if (f->state == FailureState::kRetrying) retry_jobs_.erase(f->retry_job);
  if (auto it = failure_of_job_.find(f->JobKey());
      it != failure_of_job_.end() && it->second == id) {
    failure_of_job_.erase(it);
  }
  Record(Mutation::Op::kFailureDelete, {}, {}, {}, static_cast<int64_t>(id));
  failure_counts_[static_cast<size_t>(f->state)]--;
  failures_.erase(id);
}

void Database::RemoveFailure(Failure* f) {
  uint64_t pending = f->state == FailureState::kRetrying ? f->retry_job : 0;
  EraseFailure(f);
  if (Job* job = pending ? FindJob(pending) : nullptr) RemoveJob(job);
}

void Database::MergeFailedRuns() {
  if (!std::exchange(per_run_failures_, false)) return;
  // Old records of one native job form a chain: each run's failure names the retry job that
  // is the next run. Old resque reports of one job differ only in the "retry_count" the server
  // used to add to the payload.
  std::unordered_map<uint64_t, uint64_t> earlier_run;  // retry job -> the failure it retries
  for (const auto& [id, f] : failures_) {
    if (f.retry_job && f.retry_job != f.job) earlier_run[f.retry_job] = id;
  }
  std::map<uint64_t, uint64_t> group_of;  // failure -> the first failure of its job
  std::map<std::pair<std::string, std::string>, uint64_t> first_report;
  for (const auto& [id, f] : failures_) {
    if (f.job) {
      // The earlier run's failure was met before (ids follow time); a damaged chain starts anew.
      auto before = earlier_run.find(f.job);
      auto group = before == earlier_run.end() ? group_of.end() : group_of.find(before->second);
      group_of[id] = group == group_of.end() ? id : group->second;
    } else {
      group_of[id] =
          first_report.try_emplace({f.queue, WithoutRetryCount(f.payload)}, id).first->second;
    }
  }
  std::map<uint64_t, std::vector<uint64_t>> runs;  // first failure -> all, oldest first
  for (const auto& [id, first] : group_of) runs[first].push_back(id);
  for (auto& [first, ids] : runs) {
    const Failure& last = failures_.at(ids.back());
    bool stale_identity = last.job && last.retry_job && last.retry_job != last.job;
    if (ids.size() == 1 && !stale_identity) continue;
    Failure merged = failures_.at(ids[0]);
    for (size_t i = 1; i < ids.size(); i++) {
      Failure next = failures_.at(ids[i]);
      next.Follow(std::move(merged));
      merged = std::move(next);
    }
    // The job's next run is the one whose failure must find this record.
    if (stale_identity) merged.job = merged.retry_job;
    for (uint64_t id : ids) EraseFailure(&failures_.at(id));
    PutFailure(std::move(merged));
  }
}

void Database::RetryJobReady(uint64_t job_id) {
  auto link = retry_jobs_.find(job_id);
  if (link == retry_jobs_.end()) return;
  Failure f = failures_.at(link->second);
  retry_jobs_.erase(link);
  f.state = FailureState::kRetried;
  PutFailure(std::move(f));
}

void Database::RetryJobGone(uint64_t job_id) {
  auto link = retry_jobs_.find(job_id);
  if (link == retry_jobs_.end()) return;
  Failure f = failures_.at(link->second);
  retry_jobs_.erase(link);
  f.state = FailureState::kDead;  // its retry was deleted before it ran
  PutFailure(std::move(f));
}

}  // namespace desaster
