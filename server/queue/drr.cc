// drr: deficit round robin over exact flows. A flow's turn adds quantum * weight to its deficit
// and it sends one job per unit of deficit, so over a round flows get service in proportion to
// their weights (`weight.<flow>`, default 1) however many jobs each has queued.
#include <cmath>
#include <unordered_map>

#include "server/queue/discipline.h"

namespace desaster {
namespace {

class Drr : public Discipline {
 public:
  Drr(double quantum, Params weights) : quantum_(quantum), weights_(std::move(weights)) {}

  void Enqueue(Job* job) override {
    Flow& f = flows_[job->flow.str()];
    if (f.jobs.empty()) {
      f.deficit = 0;
      f.weight = WeightOf(job->flow.str());
      rr_.Activate(&f);
    }
    f.jobs.Insert(job);
    size_++;
  }

  void Remove(const Job* job) override {
    auto it = flows_.find(job->flow.str());
    if (it == flows_.end() || !it->second.jobs.Remove(job)) return;
    size_--;
    if (it->second.jobs.empty()) Drop(it);
  }

  Job* Peek(int64_t) override {
    // The flow in front may have spent its deficit: pass the turn on (each turn adds at least
    // one job's worth, so this ends).
    while (Flow* f = rr_.Current()) {
      if (f->deficit >= 1) return f->jobs.Front();
      f->deficit += quantum_ * f->weight;
      if (f->deficit >= 1) return f->jobs.Front();
      rr_.Rotate();
    }
    return nullptr;
  }

  void Take(Job* job, int64_t) override {
    Flow* f = rr_.Current();
    f->jobs.Remove(job);
    size_--;
    f->deficit -= 1;
    if (f->jobs.empty()) return Drop(flows_.find(job->flow.str()));
    if (f->deficit < 1) rr_.Rotate();
  }

  void ForEachInOrder(const std::function<bool(Job*)>& visit, size_t skip) const override {
    auto fn = Skipping(skip, visit);
    struct Cursor {
      const Flow* flow;
      size_t next;
      double deficit;
    };
    std::deque<Cursor> ring;
    for (const Flow* f : rr_.ring()) ring.push_back({f, 0, f->deficit});
    while (!ring.empty()) {
      Cursor& c = ring.front();
      if (c.deficit < 1) {
        c.deficit += quantum_ * c.flow->weight;
        if (c.deficit < 1) {
          ring.push_back(c);
          ring.pop_front();
          continue;
        }
      }
      if (!fn(c.flow->jobs.Next(&c.next))) return;
      c.deficit -= 1;
      if (!c.flow->jobs.HasFrom(c.next)) {
        ring.pop_front();
      } else if (c.deficit < 1) {
        ring.push_back(c);
        ring.pop_front();
      }
    }
  }

  size_t size() const override { return size_; }

 private:
  struct Flow {
    JobFifo jobs;
    double deficit = 0;
    double weight = 1;
  };

  double WeightOf(const std::string& flow) const {
    auto it = weights_.find(flow);
    return it == weights_.end() ? 1 : std::stod(it->second);
  }

  void Drop(std::unordered_map<std::string, Flow>::iterator it) {
    rr_.Deactivate(&it->second);
    flows_.erase(it);
  }

  double quantum_;
  Params weights_;  // flow -> weight, validated by MakeDrr
  std::unordered_map<std::string, Flow> flows_;
  RoundRobin<Flow> rr_;
  size_t size_ = 0;
};

}  // namespace

std::unique_ptr<Discipline> MakeDrr(const Params& params, std::string* error) {
  auto quantum = NumberParam(params, "quantum", 1, 0.001, error);
  if (!quantum) return nullptr;
  Params weights;
  for (const auto& [name, value] : params) {
    if (name == "quantum") continue;
    if (!name.starts_with("weight.")) {
      *error = "unknown drr parameter '" + name + "' (expected quantum or weight.<flow>)";
      return nullptr;
    }
    auto w = NumberParam(params, name, 1, 0.001, error);
    if (!w) return nullptr;
    weights[name.substr(7)] = value;
  }
  return std::make_unique<Drr>(*quantum, std::move(weights));
}

}  // namespace desaster
