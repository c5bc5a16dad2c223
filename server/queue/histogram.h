// A histogram of non-negative integers (durations in milliseconds) that can be added to another
// exactly: a minute's histograms summed give the hour's, so percentiles over any range come from
// counts, never from averaging percentiles. Buckets are log-linear: values below 32 are exact,
// above that each power of two splits into 16 buckets, so a quantile is off by at most 1/32 of
// the value. Only buckets that counted something are kept.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace desaster {

class Histogram {
 public:
  void Add(uint64_t value, uint64_t n = 1);
  void Merge(const Histogram& other);

  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  bool empty() const { return count_ == 0; }
  // The value at quantile `q` (0 < q <= 1): the middle of the bucket holding the value of rank
  // ceil(q * count), never above max(); 0 when empty.
  uint64_t Quantile(double q) const;

  void Encode(std::string* out) const;
  // Reads what Encode wrote from the front of *in, consuming it; false on a damaged record.
  bool Decode(std::string_view* in);

  bool operator==(const Histogram& o) const { return buckets_ == o.buckets_ && max_ == o.max_; }

 private:
  static uint16_t BucketOf(uint64_t value);
  static uint64_t Middle(uint16_t bucket);

  std::vector<std::pair<uint16_t, uint64_t>> buckets_;  // (bucket, count), by bucket
  uint64_t count_ = 0;
  uint64_t max_ = 0;
};

}  // namespace desaster
