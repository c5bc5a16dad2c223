// sfq: stochastic fairness queueing. Jobs are hashed by flow into buckets that are served round
// robin, `quantum` jobs per turn, so a flood from one flow delays another flow by at most one
// round. Two flows may share a bucket; `perturb` (seconds) re-salts the hash periodically so
// such a collision does not last.
#include <unordered_map>

#include "server/queue/discipline.h"

namespace desaster {
namespace {

class Sfq : public Discipline {
 public:
  Sfq(size_t buckets, size_t quantum, int64_t perturb_ms)
      : buckets_(buckets), quantum_(quantum), perturb_ms_(perturb_ms) {}

  void Enqueue(Job* job) override {
    Bucket& b = table_[BucketOf(job->flow)];
    if (b.jobs.empty()) {
      b.served = 0;
      rr_.Activate(&b);
    }
    b.jobs.Insert(job);
    size_++;
  }

  void Remove(const Job* job) override {
    auto it = table_.find(BucketOf(job->flow));
    if (it == table_.end() || !it->second.jobs.Remove(job)) return;
    size_--;
    if (it->second.jobs.empty()) Drop(it);
  }

  Job* Peek(int64_t now_ms) override {
    if (perturb_ms_ > 0 && now_ms >= next_perturb_ms_) Perturb(now_ms);
    Bucket* b = rr_.Current();
    return b ? b->jobs.Front() : nullptr;
  }

  void Take(Job* job, int64_t) override {
    Bucket* b = rr_.Current();
    b->jobs.Remove(job);
    size_--;
    if (b->jobs.empty()) return Drop(table_.find(BucketOf(job->flow)));
    if (++b->served >= quantum_) {
      b->served = 0;
      rr_.Rotate();
    }
  }

  void ForEachInOrder(const std::function<bool(Job*)>& visit, size_t skip) const override {
    auto fn = Skipping(skip, visit);
    // Replays the round robin on cursors, without touching the real state.
    struct Cursor {
      const Bucket* bucket;
      size_t next;
      size_t served;
    };
    std::deque<Cursor> ring;
    for (const Bucket* b : rr_.ring()) ring.push_back({b, 0, b->served});
    while (!ring.empty()) {
      Cursor& c = ring.front();
      if (!fn(c.bucket->jobs.Next(&c.next))) return;
      if (!c.bucket->jobs.HasFrom(c.next)) {
        ring.pop_front();
      } else if (++c.served >= quantum_) {
        c.served = 0;
        ring.push_back(c);
        ring.pop_front();
      }
    }
  }

  size_t size() const override { return size_; }

 private:
  struct Bucket {
    JobFifo jobs;
    size_t served = 0;  // jobs taken in the current turn
  };

  size_t BucketOf(std::string_view flow) const {
    return (std::hash<std::string_view>{}(flow) ^ salt_) % buckets_;
  }

  void Drop(std::unordered_map<size_t, Bucket>::iterator it) {
    rr_.Deactivate(&it->second);
    table_.erase(it);
  }

  // New salt: flows are redistributed; each flow keeps its own order.
  void Perturb(int64_t now_ms) {
    next_perturb_ms_ = now_ms + perturb_ms_;
    std::vector<Job*> jobs;
    ForEachInOrder(
        [&](Job* job) {
          jobs.push_back(job);
          return true;
        },
        0);
    table_ = {};
    rr_ = {};
    size_ = 0;
    salt_ = std::hash<int64_t>{}(now_ms)*0x9E3779B97F4A7C15ULL;
    for (Job* job : jobs) Enqueue(job);
  }

  size_t buckets_, quantum_;
  int64_t perturb_ms_, next_perturb_ms_ = 0;
  size_t salt_ = 0;
  std::unordered_map<size_t, Bucket> table_;
  RoundRobin<Bucket> rr_;
  size_t size_ = 0;
};

}  // namespace

std::unique_ptr<Discipline> MakeSfq(const Params& params, std::string* error) {
  if (!OnlyParams(params, "sfq", {"buckets", "quantum", "perturb"}, error)) return nullptr;
  auto buckets = NumberParam(params, "buckets", 1024, 1, error);
  auto quantum = buckets ? NumberParam(params, "quantum", 1, 1, error) : std::nullopt;
  auto perturb = quantum ? NumberParam(params, "perturb", 0, 0, error) : std::nullopt;
  if (!perturb) return nullptr;
  return std::make_unique<Sfq>(static_cast<size_t>(*buckets), static_cast<size_t>(*quantum),
                               static_cast<int64_t>(*perturb * 1000));
}

}  // namespace desaster
