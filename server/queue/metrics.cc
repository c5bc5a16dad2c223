#include "server/queue/metrics.h"

#include <algorithm>

#include "server/queue/record.h"

namespace desaster {
namespace {
constexpr char kCellVersion = 1;
constexpr char kDimensionCodes[] = {'q', 'c'};
}  // namespace

void MetricCell::Merge(const MetricCell& other) {
  processed += other.processed;
  failed += other.failed;
  duration.Merge(other.duration);
  wait.Merge(other.wait);
}

std::string MetricCell::Encode() const {
  std::string out(1, kCellVersion);
  record::PutVarint(&out, processed);
  record::PutVarint(&out, failed);
  duration.Encode(&out);
  wait.Encode(&out);
  return out;
}

bool MetricCell::Decode(std::string_view data, MetricCell* out) {
  if (data.empty() || data[0] != kCellVersion) return false;
  record::Reader r(data.substr(1));
  MetricCell c;
  c.processed = r.Varint();
  c.failed = r.Varint();
  std::string_view rest = r.Rest();
  if (!r.ok() || !c.duration.Decode(&rest) || !c.wait.Decode(&rest) || !rest.empty()) return false;
  *out = std::move(c);
  return true;
}

std::string MetricCellKey::Tag() const {
  return {kDimensionCodes[static_cast<size_t>(dimension)], kMetricResolutions[resolution].code};
}

bool MetricCellKey::FromTag(std::string_view tag, MetricCellKey* key) {
  if (tag.size() != 2) return false;
  auto d = std::find(std::begin(kDimensionCodes), std::end(kDimensionCodes), tag[0]);
  auto r = std::find_if(kMetricResolutions.begin(), kMetricResolutions.end(),
                        [&](const MetricResolution& res) { return res.code == tag[1]; });
  if (d == std::end(kDimensionCodes) || r == kMetricResolutions.end()) return false;
  key->dimension = static_cast<MetricDimension>(d - std::begin(kDimensionCodes));
  key->resolution = static_cast<size_t>(r - kMetricResolutions.begin());
  return true;
}

std::vector<std::string> Metrics::Names(MetricDimension d) const {
  std::vector<std::string> out;
  for (const auto& [name, series] : tables_[static_cast<size_t>(d)]) out.push_back(name);
  return out;
}

namespace {
// The start of the bucket of `resolution` that holds `t` (before the epoch too).
int64_t BucketStart(int64_t t, size_t resolution) {
  int64_t bucket = kMetricResolutions[resolution].bucket_ms;
  return t - ((t % bucket) + bucket) % bucket;
}
}  // namespace

size_t Metrics::ResolutionFor(int64_t from_ms, int64_t now_ms) {
  for (size_t r = 0; r < kMetricResolutions.size(); r++) {
    if (from_ms >= now_ms - kMetricResolutions[r].kept_ms) return r;
  }
  return kMetricResolutions.size() - 1;
}

void Metrics::Count(const MetricRun& run, int64_t now_ms) {
  CountIn(MetricDimension::kQueue, run.queue.substr(0, kMaxName), run, now_ms);
  CountIn(MetricDimension::kClass, run.klass.empty() ? "(unknown)" : run.klass.substr(0, kMaxName),
          run, now_ms);
}

void Metrics::CountIn(MetricDimension d, std::string_view name, const MetricRun& run,
                      int64_t now_ms) {
  auto it = SeriesFor(d, name);
  Series& s = it->second;
  for (size_t r = 0; r < kMetricResolutions.size(); r++) {
    int64_t start = BucketStart(now_ms, r);
    MetricCell& cell = s.cells[r][start];
    (run.succeeded ? cell.processed : cell.failed)++;
    if (run.duration_ms)
      cell.duration.Add(static_cast<uint64_t>(std::max<int64_t>(0, *run.duration_ms)));
    if (run.wait_ms) cell.wait.Add(static_cast<uint64_t>(std::max<int64_t>(0, *run.wait_ms)));
    changed_.insert({d, it->first, r, start});  // (Flush writes it after any removal of it)
  }
  s.weight++;
}

Metrics::Table::iterator Metrics::SeriesFor(MetricDimension d, std::string_view name) {
  Table& t = tables_[static_cast<size_t>(d)];
  if (auto it = t.find(name); it != t.end()) return it;
  size_t named = t.size() - t.count(kOther);
  if (name == kOther || named < top_) return t.try_emplace(std::string(name)).first;
  // Every place is taken: the run counts under (other) until `name` has had more runs than the
  // lightest series, which then goes to (other) and leaves its place to it.
  uint64_t runs = ++Candidate(d, name);
  auto lightest = t.end();
  for (auto it = t.begin(); it != t.end(); ++it) {
    if (it->first == kOther) continue;
    if (lightest == t.end() || it->second.weight < lightest->second.weight) lightest = it;
  }
  if (lightest != t.end() && runs > lightest->second.weight) {
    FoldIntoOther(d, lightest);
    candidates_[static_cast<size_t>(d)].erase(std::string(name));
    return t.try_emplace(std::string(name)).first;
  }
  return t.try_emplace(std::string(kOther)).first;
}

uint64_t& Metrics::Candidate(MetricDimension d, std::string_view name) {
  auto& candidates = candidates_[static_cast<size_t>(d)];
  std::string key(name);
  auto it = candidates.find(key);
  if (it != candidates.end()) return it->second;
  uint64_t floor = 0;
  if (candidates.size() >= std::max<size_t>(top_, 1)) {
    auto least = std::min_element(candidates.begin(), candidates.end(),
                                  [](const auto& a, const auto& b) { return a.second < b.second; });
    floor = least->second;  // it may have had as many runs as the one it replaces
    candidates.erase(least);
  }
  return candidates.emplace(std::move(key), floor).first->second;
}

void Metrics::FoldIntoOther(MetricDimension d, Table::iterator it) {
  Series& other = tables_[static_cast<size_t>(d)].try_emplace(std::string(kOther)).first->second;
  for (size_t r = 0; r < kMetricResolutions.size(); r++) {
    for (const auto& [start, cell] : it->second.cells[r]) {
      other.cells[r][start].Merge(cell);
      changed_.insert({d, std::string(kOther), r, start});
      Forget(d, it->first, r, start);
    }
  }
  other.weight += it->second.weight;
  tables_[static_cast<size_t>(d)].erase(it);
}

void Metrics::Forget(MetricDimension d, const std::string& name, size_t resolution,
                     int64_t start_ms) {
  MetricCellKey key{d, name, resolution, start_ms};
  changed_.erase(key);
  removed_.insert(std::move(key));
}

void Metrics::Flush(int64_t now_ms,
                    const std::function<void(const MetricCellKey&, const MetricCell*)>& emit) {
  for (size_t d = 0; d < tables_.size(); d++) {
    Table& t = tables_[d];
    for (auto it = t.begin(); it != t.end();) {
      Series& s = it->second;
      bool empty = true;
      for (size_t r = 0; r < kMetricResolutions.size(); r++) {
        auto& cells = s.cells[r];
        int64_t oldest = now_ms - kMetricResolutions[r].kept_ms;
        while (!cells.empty() && cells.begin()->first < oldest) {
          const MetricCell& gone = cells.begin()->second;
          if (r == kRanked) s.weight -= gone.processed + gone.failed;
          Forget(static_cast<MetricDimension>(d), it->first, r, cells.begin()->first);
          cells.erase(cells.begin());
        }
        empty = empty && cells.empty();
      }
      it = empty ? t.erase(it) : std::next(it);  // its place among the busiest is free again
    }
  }
  for (const MetricCellKey& key : removed_) emit(key, nullptr);
  for (const MetricCellKey& key : changed_) {
    const Table& t = tables_[static_cast<size_t>(key.dimension)];
    auto it = t.find(key.name);
    if (it == t.end()) continue;
    auto cell = it->second.cells[key.resolution].find(key.start_ms);
    if (cell != it->second.cells[key.resolution].end()) emit(key, &cell->second);
  }
  removed_.clear();
  changed_.clear();
}

void Metrics::Apply(const MetricCellKey& key, const MetricCell* cell) {
  Table& t = tables_[static_cast<size_t>(key.dimension)];
  auto it = cell ? t.try_emplace(key.name).first : t.find(key.name);
  if (it == t.end()) return;
  Series& s = it->second;
  auto& cells = s.cells[key.resolution];
  auto old = cells.find(key.start_ms);
  if (key.resolution == kRanked && old != cells.end()) {
    s.weight -= old->second.processed + old->second.failed;
  }
  if (cell) {
    if (key.resolution == kRanked) s.weight += cell->processed + cell->failed;
    cells.insert_or_assign(key.start_ms, *cell);
  } else if (old != cells.end()) {
    cells.erase(old);
    bool empty =
        std::all_of(s.cells.begin(), s.cells.end(), [](const auto& c) { return c.empty(); });
    if (empty) t.erase(it);
  }
}

void Metrics::Clear() {
  for (Table& t : tables_) t.clear();
  for (auto& c : candidates_) c.clear();
  changed_.clear();
  removed_.clear();
}

namespace {
// The cells of `cells` whose bucket holds an instant in [from_ms, until_ms].
template <typename Cells>
auto CellsBetween(const Cells& cells, size_t resolution, int64_t from_ms, int64_t until_ms) {
  return std::pair(cells.lower_bound(BucketStart(from_ms, resolution)),
                   cells.upper_bound(until_ms));
}
}  // namespace

std::vector<Metrics::Total> Metrics::Totals(MetricDimension d, size_t resolution, int64_t from_ms,
                                            int64_t until_ms) const {
  std::vector<Total> out;
  for (const auto& [name, s] : tables_[static_cast<size_t>(d)]) {
    Total total{name, {}};
    auto [first, last] = CellsBetween(s.cells[resolution], resolution, from_ms, until_ms);
    for (auto it = first; it != last; ++it) total.cell.Merge(it->second);
    if (total.cell.processed + total.cell.failed > 0) out.push_back(std::move(total));
  }
  std::sort(out.begin(), out.end(), [](const Total& a, const Total& b) {
    uint64_t ra = a.cell.processed + a.cell.failed, rb = b.cell.processed + b.cell.failed;
    return ra != rb ? ra > rb : a.name < b.name;
  });
  return out;
}

std::map<int64_t, MetricCell> Metrics::Range(MetricDimension d, std::string_view name,
                                             size_t resolution, int64_t from_ms,
                                             int64_t until_ms) const {
  std::map<int64_t, MetricCell> out;
  for (const auto& [series, s] : tables_[static_cast<size_t>(d)]) {
    if (!name.empty() && series != name) continue;
    auto [first, last] = CellsBetween(s.cells[resolution], resolution, from_ms, until_ms);
    for (auto it = first; it != last; ++it) out[it->first].Merge(it->second);
  }
  return out;
}

}  // namespace desaster
