// Event counts in fixed time buckets over a sliding window: a ring whose buckets are reused as
// time moves on, so memory is fixed and old counts age out without a sweep.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace desaster {

class CounterSeries {
 public:
  // A window of `buckets` buckets of `bucket_ms` each.
  CounterSeries(size_t buckets, int64_t bucket_ms);

  void Add(int64_t now_ms, uint64_t n = 1);
  // The counts of the last `count` buckets (at most the window), oldest first, the last one being
  // the bucket `now_ms` falls in; zero where nothing was counted.
  std::vector<uint64_t> Last(int64_t now_ms, size_t count) const;
  // The sum over the whole window ending with now's bucket.
  uint64_t Sum(int64_t now_ms) const;

  size_t buckets() const { return counts_.size(); }
  int64_t bucket_ms() const { return bucket_ms_; }

 private:
  int64_t bucket_ms_;
  std::vector<uint64_t> counts_;
  std::vector<int64_t> bucket_of_;  // which bucket number each slot counts now
};

// What the server did with jobs over time: per second for the last hour and per minute for the
// last day (QUEUE.STATS, the dashboard's charts). In memory only.
struct Throughput {
  enum Event { kEnqueued, kDequeued, kFailed, kEvents };
  static constexpr const char* kNames[kEvents] = {"enqueued", "dequeued", "failed"};

  void Count(Event e, int64_t now_ms) {
    seconds[e].Add(now_ms);
    minutes[e].Add(now_ms);
    totals[e]++;
  }

  CounterSeries seconds[kEvents] = {{3600, 1000}, {3600, 1000}, {3600, 1000}};
  CounterSeries minutes[kEvents] = {{1440, 60000}, {1440, 60000}, {1440, 60000}};
  uint64_t totals[kEvents] = {};  // since start
};

}  // namespace desaster
