#include "server/queue/counter_series.h"

#include <algorithm>

namespace desaster {

CounterSeries::CounterSeries(size_t buckets, int64_t bucket_ms)
    : bucket_ms_(bucket_ms), counts_(buckets), bucket_of_(buckets, -1) {}

void CounterSeries::Add(int64_t now_ms, uint64_t n) {
  int64_t bucket = now_ms / bucket_ms_;
  size_t slot = static_cast<size_t>(bucket % static_cast<int64_t>(counts_.size()));
  if (bucket_of_[slot] != bucket) {
    bucket_of_[slot] = bucket;
    counts_[slot] = 0;
  }
  counts_[slot] += n;
}

std::vector<uint64_t> CounterSeries::Last(int64_t now_ms, size_t count) const {
  count = std::min(count, counts_.size());
  std::vector<uint64_t> out(count);
  int64_t last = now_ms / bucket_ms_;
  for (size_t i = 0; i < count; i++) {
    int64_t bucket = last - static_cast<int64_t>(count - 1 - i);
    size_t slot = static_cast<size_t>(bucket % static_cast<int64_t>(counts_.size()));
    out[i] = bucket_of_[slot] == bucket ? counts_[slot] : 0;
  }
  return out;
}

uint64_t CounterSeries::Sum(int64_t now_ms) const {
  int64_t last = now_ms / bucket_ms_, window = static_cast<int64_t>(counts_.size());
  uint64_t total = 0;
  for (size_t i = 0; i < counts_.size(); i++) {
    if (bucket_of_[i] >= 0 && last - bucket_of_[i] < window) total += counts_[i];
  }
  return total;
}

}  // namespace desaster
