// A queue: the jobs behind one key, its configuration and its discipline (DESIGN.md §5).
//
// The Queue holds the bookkeeping; Database (server/data/) owns the jobs and is the only one to
// change a queue, so that every change is recorded as a mutation.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "compat/dialect.h"
#include "server/queue/counter_series.h"
#include "server/queue/discipline.h"
#include "server/queue/failure.h"
#include "server/queue/job.h"

namespace desaster {

struct QueueConfig {
  std::string discipline = "fifo";
  Params params;  // the discipline's parameters
  bool paused = false;
  bool unique = false;    // a push whose unique key is queued already is dropped
  std::string unique_by;  // the payload's top-level JSON field that is the key ("": the payload)
  // What happens to the queue's failed jobs; max_attempts 0: the server's --retry.
  RetryPolicy retry{.max_attempts = 0};
  std::string capability;  // what a worker needs to take this queue's jobs ("": nothing)

  std::string Encode() const;
  static bool Decode(std::string_view record, QueueConfig* config);
};

// Jobs taken per second over the last minute: the service rate behind the ETA.
class RateMeter {
 public:
  void Add(int64_t now_ms);
  double PerSecond(int64_t now_ms) const;

 private:
  CounterSeries takes_{60, 1000};
  int64_t first_ms_ = 0;
};

class Queue {
 public:
  Queue(std::string key, const Dialect* dialect);

  const std::string& key() const { return key_; }
  const Dialect& dialect() const { return *dialect_; }
  const QueueConfig& config() const { return config_; }
  const DisciplineInfo& discipline_info() const { return *info_; }
  Discipline& discipline() { return *discipline_; }
  const Discipline& discipline() const { return *discipline_; }

  size_t ready() const { return discipline_->size(); }
  size_t scheduled() const { return scheduled_; }
  size_t running() const { return running_; }
  bool paused() const { return config_.paused; }

  // Validates `config` and builds its discipline, or says why not (nothing changes then).
  std::unique_ptr<Discipline> Build(const QueueConfig& config, std::string* error) const;
  // Switches to `config` with the discipline Build() made; ready jobs keep their order inside
  // each flow/band.
  void Reconfigure(QueueConfig config, std::unique_ptr<Discipline> discipline);

  // The job a head pop takes now (nullptr when paused, empty or rate-limited).
  Job* Peek(int64_t now_ms) { return config_.paused ? nullptr : discipline_->Peek(now_ms); }

  // Bookkeeping Database calls as jobs come and go.
  void AddReady(Job* job);
  void RemoveReady(const Job* job) { discipline_->Remove(job); }
  void CountRunning(int delta) {
    running_ = static_cast<size_t>(static_cast<int64_t>(running_) + delta);
  }
  void CountScheduled(int delta) {
    scheduled_ = static_cast<size_t>(static_cast<int64_t>(scheduled_) + delta);
  }
  // Order values for a push at the tail or the head of its flow.
  int64_t NextOrder(bool front) { return front ? --min_order_ : ++max_order_; }
  void SeenOrder(int64_t order);
  Job* FindUnique(const std::string& key) const;
  void IndexUnique(Job* job);
  void UnindexUnique(const Job* job);
  void CountTaken(int64_t now_ms);

  // The flow a job is fair-queued by: its own, else its payload's class.
  std::string FlowOf(const Job& job) const;
  // A job's class and arguments, empty unless the queue's payloads are JSON jobs; the second
  // form for a payload the caller has read already.
  PayloadFields Fields(const Job& job) const;
  PayloadFields Fields(std::string_view payload) const;

  // Estimated start of the ready job at dispatch `position` (0: next), in ms since the epoch, or
  // nullopt when no estimate exists (paused, or no service measured and no rate limit).
  std::optional<int64_t> Eta(const Job& job, size_t position, int64_t now_ms) const;

  // The unique key of a push to this unique queue: the configured JSON field, or the payload.
  std::string UniqueKeyOf(std::string_view payload) const;

  // The dictionary this queue's waiting jobs are compressed against in memory
  // (Database::CompressPayloads); nullptr until enough of them were sampled.
  PayloadDictionary* payload_dictionary() const { return dictionary_.get(); }
  // Offers a waiting job's payload as a sample; the dictionary is made of the first few.
  void SamplePayload(std::string_view payload);

  uint64_t pushed = 0, taken = 0, duplicates = 0;  // since start
  int64_t last_taken_ms = 0;
  const RateMeter& rate() const { return rate_; }

 private:
  std::string key_;
  const Dialect* dialect_;
  QueueConfig config_;
  const DisciplineInfo* info_;
  std::unique_ptr<Discipline> discipline_;
  size_t scheduled_ = 0;
  size_t running_ = 0;
  int64_t min_order_ = 0, max_order_ = 0;
  std::unordered_map<std::string, Job*> unique_;
  RateMeter rate_;
  PayloadDictionaryRef dictionary_;
  std::string samples_;
  size_t sampled_ = 0;
};

}  // namespace desaster
