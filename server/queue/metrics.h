// Job metrics: how many runs of each class and each queue succeeded and failed, how long they
// ran and how long they waited, per minute, hour and day. Cells hold mergeable histograms, so
// any range is answered from summed counts. Space is bounded: each dimension keeps its `top`
// busiest names apart and counts the rest in one "(other)" series; cells age out after their
// resolution's retention. The owner persists the cells Flush() reports and feeds stored cells
// back through Apply() (recovery, replicas).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "server/queue/histogram.h"

namespace desaster {

enum class MetricDimension : uint8_t { kQueue, kClass };

struct MetricResolution {
  char code;  // in stored records
  const char* name;
  int64_t bucket_ms;
  int64_t kept_ms;  // cells older than this are dropped
};
inline constexpr int64_t kHourMs = 3600 * 1000;
inline constexpr std::array<MetricResolution, 3> kMetricResolutions = {{
    {'m', "minute", 60 * 1000, 8 * kHourMs},
    {'h', "hour", kHourMs, 35 * 24 * kHourMs},
    {'d', "day", 24 * kHourMs, 400 * 24 * kHourMs},
}};

// What one bucket of one series counted.
struct MetricCell {
  uint64_t processed = 0;  // runs that succeeded
  uint64_t failed = 0;     // runs that failed (each retry's failure counts)
  Histogram duration;      // ms from a run's start to its end
  Histogram wait;          // ms a job was ready before its run started

  void Merge(const MetricCell& other);
  std::string Encode() const;
  static bool Decode(std::string_view record, MetricCell* out);
};

// Names one cell: the series (dimension, name), the resolution (index into kMetricResolutions)
// and the bucket's start.
struct MetricCellKey {
  MetricDimension dimension = MetricDimension::kQueue;
  std::string name;
  size_t resolution = 0;
  int64_t start_ms = 0;

  auto operator<=>(const MetricCellKey&) const = default;
  // Dimension and resolution as two characters (a stored record's tag); false for others.
  std::string Tag() const;
  static bool FromTag(std::string_view tag, MetricCellKey* key);
};

// One run that ended. A duration or wait that is not known (a run reported by a resque worker)
// is left out.
struct MetricRun {
  std::string_view queue, klass;
  bool succeeded = false;
  std::optional<int64_t> duration_ms, wait_ms;
};

class Metrics {
 public:
  // Runs of names beyond the busiest `top` of a dimension are counted under this name.
  static constexpr std::string_view kOther = "(other)";
  // Longer names (a class is what a payload says) are cut to this many bytes.
  static constexpr size_t kMaxName = 200;

  void set_top(size_t top) { top_ = top; }

  void Count(const MetricRun& run, int64_t now_ms);
  // Reports every cell changed since the last Flush (`cell` is null for a cell that is gone),
  // dropping cells older than their retention first.
  void Flush(int64_t now_ms,
             const std::function<void(const MetricCellKey&, const MetricCell*)>& emit);
  // Sets (or with null, removes) a stored cell, as recovery and replicas do; not reported by
  // Flush.
  void Apply(const MetricCellKey& key, const MetricCell* cell);
  void Clear();

  struct Total {
    std::string name;
    MetricCell cell;
  };
  // Each series' sum over buckets starting in [from_ms, until_ms], busiest first.
  std::vector<Total> Totals(MetricDimension d, size_t resolution, int64_t from_ms,
                            int64_t until_ms) const;
  // The buckets of series `name` (every series summed when empty) starting in
  // [from_ms, until_ms] that counted something, oldest first.
  std::map<int64_t, MetricCell> Range(MetricDimension d, std::string_view name, size_t resolution,
                                      int64_t from_ms, int64_t until_ms) const;
  // The names of a dimension's series.
  std::vector<std::string> Names(MetricDimension d) const;
  // The finest resolution that still holds `from_ms`.
  static size_t ResolutionFor(int64_t from_ms, int64_t now_ms);

 private:
  struct Series {
    std::array<std::map<int64_t, MetricCell>, kMetricResolutions.size()> cells;
    uint64_t weight = 0;  // runs in the kept hour cells: what ranks the busiest
  };
  using Table = std::map<std::string, Series, std::less<>>;
  static constexpr size_t kRanked = 1;  // the resolution that ranks series (hours)

  // The series a run of `name` counts in: its own, or (other) while it is not among the busiest.
  Table::iterator SeriesFor(MetricDimension d, std::string_view name);
  uint64_t& Candidate(MetricDimension d, std::string_view name);
  void CountIn(MetricDimension d, std::string_view name, const MetricRun& run, int64_t now_ms);
  void FoldIntoOther(MetricDimension d, Table::iterator it);
  void Forget(MetricDimension d, const std::string& name, size_t resolution, int64_t start_ms);

  size_t top_ = 25;
  std::array<Table, 2> tables_;
  // Names waiting for a place among the busiest, with runs counted for them (at most `top_`:
  // the least counted makes room, as the space-saving algorithm does).
  std::array<std::unordered_map<std::string, uint64_t>, 2> candidates_;
  std::set<MetricCellKey> changed_, removed_;
};

}  // namespace desaster
