#include "server/queue/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "server/queue/record.h"

namespace desaster {
namespace {
constexpr uint64_t kExact = 32;                    // values below are their own bucket
constexpr int kSubBits = 4;                        // 16 buckets per power of two above
constexpr uint16_t kBuckets = 32 + (64 - 5) * 16;  // up to 2^64
}  // namespace

uint16_t Histogram::BucketOf(uint64_t value) {
  if (value < kExact) return static_cast<uint16_t>(value);
  int exponent = 63 - std::countl_zero(value);  // 5 and up
  uint64_t sub = (value >> (exponent - kSubBits)) & 15;
  return static_cast<uint16_t>(kExact + (exponent - 5) * 16 + sub);
}

uint64_t Histogram::Middle(uint16_t bucket) {
  if (bucket < kExact) return bucket;
  int exponent = (bucket - kExact) / 16 + 5;
  uint64_t sub = (bucket - kExact) % 16;
  uint64_t width = uint64_t{1} << (exponent - kSubBits);
  return ((16 + sub) << (exponent - kSubBits)) + width / 2;
}

void Histogram::Add(uint64_t value, uint64_t n) {
  if (n == 0) return;
  uint16_t b = BucketOf(value);
  auto it = std::lower_bound(buckets_.begin(), buckets_.end(), b,
                             [](const auto& e, uint16_t key) { return e.first < key; });
  if (it != buckets_.end() && it->first == b) {
    it->second += n;
  } else {
    buckets_.insert(it, {b, n});
  }
  count_ += n;
  max_ = std::max(max_, value);
}

void Histogram::Merge(const Histogram& other) {
  if (other.empty()) return;
  std::vector<std::pair<uint16_t, uint64_t>> merged;
  merged.reserve(buckets_.size() + other.buckets_.size());
  auto a = buckets_.cbegin(), b = other.buckets_.cbegin();
  while (a != buckets_.cend() || b != other.buckets_.end()) {
    if (b == other.buckets_.end() || (a != buckets_.cend() && a->first < b->first)) {
      merged.push_back(*a++);
    } else if (a == buckets_.cend() || b->first < a->first) {
      merged.push_back(*b++);
    } else {
      merged.emplace_back(a->first, a->second + b->second);
      ++a, ++b;
    }
  }
  buckets_ = std::move(merged);
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
}

uint64_t Histogram::Quantile(double q) const {
  if (count_ == 0) return 0;
  auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (const auto& [bucket, n] : buckets_) {
    seen += n;
    if (seen >= rank) return std::min(Middle(bucket), max_);
  }
  return max_;
}

void Histogram::Encode(std::string* out) const {
  record::PutVarint(out, buckets_.size());
  uint16_t previous = 0;
  for (const auto& [bucket, n] : buckets_) {
    record::PutVarint(out, bucket - previous);  // buckets ascend: small deltas
    record::PutVarint(out, n);
    previous = bucket;
  }
  record::PutVarint(out, max_);
}

bool Histogram::Decode(std::string_view* in) {
  record::Reader r(*in);
  uint64_t size = r.Varint();
  if (!r.ok() || size > kBuckets) return false;
  Histogram h;
  uint64_t bucket = 0;
  for (uint64_t i = 0; i < size; i++) {
    uint64_t delta = r.Varint();
    uint64_t n = r.Varint();
    if (!r.ok() || (i > 0 && delta == 0) || delta >= kBuckets - bucket || n == 0) return false;
    bucket += delta;
    if (h.count_ + n < h.count_) return false;  // counts cannot overflow
    h.buckets_.emplace_back(static_cast<uint16_t>(bucket), n);
    h.count_ += n;
  }
  h.max_ = r.Varint();
  if (!r.ok() || (h.count_ > 0 && BucketOf(h.max_) != h.buckets_.back().first)) return false;
  *in = r.Rest();
  *this = std::move(h);
  return true;
}

}  // namespace desaster
