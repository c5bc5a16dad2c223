#include "server/queue/discipline.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace desaster {

std::unique_ptr<Discipline> MakeFifo(const Params&, std::string*);
std::unique_ptr<Discipline> MakePrio(const Params&, std::string*);
std::unique_ptr<Discipline> MakeSfq(const Params&, std::string*);
std::unique_ptr<Discipline> MakeDrr(const Params&, std::string*);
std::unique_ptr<Discipline> MakeHtb(const Params&, std::string*);

const std::vector<DisciplineInfo>& Disciplines() {
  static const std::vector<DisciplineInfo> kAll = {
      {"fifo", false, "first in, first out (Redis list order)", MakeFifo},
      {"prio", false, "strict priority bands (higher first), FIFO inside a band", MakePrio},
      {"sfq", true, "stochastic fairness: flows hashed into buckets served round robin", MakeSfq},
      {"drr", true, "deficit round robin over flows with per-flow weights", MakeDrr},
      {"htb", true, "hierarchical token bucket: rate-limited classes that borrow", MakeHtb},
  };
  return kAll;
}

const DisciplineInfo* FindDiscipline(std::string_view name) {
  for (const auto& d : Disciplines()) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

std::optional<double> NumberParam(const Params& params, std::string_view name, double fallback,
                                  double min, std::string* error) {
  auto it = params.find(name);
  if (it == params.end()) return fallback;
  const std::string& s = it->second;
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || errno != 0 || !std::isfinite(v) || v < min) {
    *error = "parameter '" + std::string(name) + "' must be a number >= " +
             (min == std::floor(min) ? std::to_string(static_cast<long long>(min))
                                     : std::to_string(min)) +
             ", got '" + s + "'";
    return std::nullopt;
  }
  return v;
}

bool OnlyParams(const Params& params, std::string_view discipline,
                std::initializer_list<std::string_view> known, std::string* error) {
  for (const auto& [name, value] : params) {
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    if (known.size() == 0) {
      *error = std::string(discipline) + " takes no parameters";
    } else {
      *error = "unknown " + std::string(discipline) + " parameter '" + name + "' (expected";
      for (std::string_view k : known) error->append(" ").append(k);
      *error += ")";
    }
    return false;
  }
  return true;
}

// ---- JobFifo ----

void JobFifo::Insert(Job* job) {
  // Pushes land at either end; only a reload or a move inserts in the middle.
  if (items_.empty() || items_.back().order() <= job->order) {
    items_.emplace_back(job);
  } else if (items_.front().order() > job->order) {
    items_.emplace_front(job);
  } else {
    auto at = std::upper_bound(items_.begin(), items_.end(), job->order,
                               [](int64_t order, const Entry& e) { return order < e.order(); });
    items_.insert(at, Entry(job));
  }
}

bool JobFifo::Remove(const Job* job) {
  if (items_.empty()) return false;
  // Pops take an end (LPOP, RPOP): only other removals search, which costs cache misses when
  // millions are queued.
  auto at = items_.begin();
  if (items_.back().job() == job) {
    at = items_.end() - 1;
  } else if (at->job() != job) {
    at = std::lower_bound(items_.begin(), items_.end(), job->order,
                          [](const Entry& e, int64_t order) { return e.order() < order; });
  }
  for (; at != items_.end() && at->order() == job->order; ++at) {
    if (at->job() != job) continue;
    *at = Entry::Hole(job->order);
    holes_++;
    while (!items_.empty() && items_.front().job() == nullptr) {
      items_.pop_front();
      holes_--;
    }
    while (!items_.empty() && items_.back().job() == nullptr) {
      items_.pop_back();
      holes_--;
    }
    if (holes_ > 64 && holes_ > items_.size() / 2) Compact();
    return true;
  }
  return false;
}

void JobFifo::Compact() {
  std::erase_if(items_, [](const Entry& e) { return e.job() == nullptr; });
  holes_ = 0;
}

Job* JobFifo::Front() const { return items_.empty() ? nullptr : items_.front().job(); }

bool JobFifo::ForEach(const std::function<bool(Job*)>& fn, size_t skip) const {
  size_t start = 0;
  if (holes_ == 0) {  // no holes: skip by index
    start = std::min(skip, items_.size());
    skip = 0;
  }
  for (size_t i = start; i < items_.size(); i++) {
    Job* job = items_[i].job();
    if (job == nullptr) continue;
    if (skip > 0) {
      skip--;
      continue;
    }
    if (!fn(job)) return false;
  }
  return true;
}

Job* JobFifo::Next(size_t* pos) const {
  while (*pos < items_.size()) {
    if (Job* job = items_[(*pos)++].job()) return job;
  }
  return nullptr;
}

}  // namespace desaster
