// fifo: one line, in push order. With only tail pushes and head pops this is a Redis list.
#include "server/queue/discipline.h"

namespace desaster {
namespace {

class Fifo : public Discipline {
 public:
  void Enqueue(Job* job) override { jobs_.Insert(job); }
  void Remove(const Job* job) override { jobs_.Remove(job); }
  Job* Peek(int64_t) override { return jobs_.Front(); }
  void Take(Job* job, int64_t) override { jobs_.Remove(job); }
  void ForEachInOrder(const std::function<bool(Job*)>& fn, size_t skip) const override {
    jobs_.ForEach(fn, skip);
  }
  size_t size() const override { return jobs_.size(); }

 private:
  JobFifo jobs_;
};

}  // namespace

std::unique_ptr<Discipline> MakeFifo(const Params& params, std::string* error) {
  if (!OnlyParams(params, "fifo", {}, error)) return nullptr;
  return std::make_unique<Fifo>();
}

}  // namespace desaster
