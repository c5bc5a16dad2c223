// prio: strict priority bands. A job waits while any job of a higher priority is ready; inside a
// band, push order.
#include <map>

#include "server/queue/discipline.h"

namespace desaster {
namespace {

class Prio : public Discipline {
 public:
  void Enqueue(Job* job) override {
    bands_[job->priority].Insert(job);
    size_++;
  }
  void Remove(const Job* job) override {
    auto it = bands_.find(job->priority);
    if (it == bands_.end() || !it->second.Remove(job)) return;
    size_--;
    if (it->second.empty()) bands_.erase(it);
  }
  Job* Peek(int64_t) override { return bands_.empty() ? nullptr : bands_.begin()->second.Front(); }
  void Take(Job* job, int64_t) override { Remove(job); }
  void ForEachInOrder(const std::function<bool(Job*)>& visit, size_t skip) const override {
    auto fn = Skipping(skip, visit);
    for (const auto& [priority, band] : bands_) {
      if (!band.ForEach(fn)) return;
    }
  }
  size_t size() const override { return size_; }

 private:
  std::map<int32_t, JobFifo, std::greater<>> bands_;  // highest priority first
  size_t size_ = 0;
};

}  // namespace

std::unique_ptr<Discipline> MakePrio(const Params& params, std::string* error) {
  if (!OnlyParams(params, "prio", {}, error)) return nullptr;
  return std::make_unique<Prio>();
}

}  // namespace desaster
