#include "server/queue/metrics.h"

#include <catch2/catch.hpp>
#include <random>

#include "server/queue/record.h"

using namespace desaster;

namespace {

MetricCell Cell(std::initializer_list<uint64_t> durations, uint64_t failed = 0) {
  MetricCell c;
  c.processed = durations.size();
  c.failed = failed;
  for (uint64_t d : durations) {
    c.duration.Add(d);
    c.wait.Add(d / 2);
  }
  return c;
}

MetricRun Run(std::string_view queue, std::string_view klass, int64_t duration, bool ok = true) {
  return {.queue = queue, .klass = klass, .succeeded = ok, .duration_ms = duration, .wait_ms = 1};
}

// The cells a Flush reports, by key (null: removed).
std::map<MetricCellKey, std::optional<MetricCell>> Flushed(Metrics& m, int64_t now) {
  std::map<MetricCellKey, std::optional<MetricCell>> out;
  m.Flush(now, [&](const MetricCellKey& k, const MetricCell* c) {
    out[k] = c ? std::optional(*c) : std::nullopt;
  });
  return out;
}

}  // namespace

TEST_CASE("histogram quantiles are within a bucket of the exact ones") {
  Histogram h;
  std::vector<uint64_t> values;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 10000; i++) values.push_back(rng() % 5000000);
  for (uint64_t v : values) h.Add(v);
  std::sort(values.begin(), values.end());
  for (double q : {0.01, 0.5, 0.95, 0.99, 1.0}) {
    auto exact = static_cast<double>(values[static_cast<size_t>(std::ceil(q * 10000)) - 1]);
    CHECK(std::abs(static_cast<double>(h.Quantile(q)) - exact) <= exact / 32 + 1);
  }
  CHECK(h.max() == values.back());
  CHECK(h.count() == 10000);
  Histogram small;
  for (uint64_t v : {0, 3, 3, 31}) small.Add(v);
  CHECK((small.Quantile(0.25) == 0 && small.Quantile(0.5) == 3 && small.Quantile(1) == 31));
  CHECK(Histogram().Quantile(0.5) == 0);
  Histogram huge;
  huge.Add(UINT64_MAX);
  CHECK(huge.Quantile(0.5) >= UINT64_MAX - UINT64_MAX / 32);  // the middle of the top bucket
}

TEST_CASE("merged histograms equal one that counted everything") {
  Histogram a, b, all;
  for (uint64_t v = 0; v < 3000; v += 7) (v % 2 ? a : b).Add(v), all.Add(v);
  a.Merge(b);
  CHECK(a == all);
  CHECK(a.count() == all.count());
  CHECK(a.Quantile(0.95) == all.Quantile(0.95));
}

TEST_CASE("metric cells round trip, and damaged ones are refused") {
  MetricCell c = Cell({1, 20, 300, 4000, 1ULL << 40}, 3);
  MetricCell d;
  REQUIRE(MetricCell::Decode(c.Encode(), &d));
  CHECK(d.Encode() == c.Encode());
  CHECK((d.processed == 5 && d.failed == 3 && d.duration == c.duration && d.wait == c.wait));
  std::string record = c.Encode();
  for (size_t n = 0; n < record.size(); n++)
    CHECK_FALSE(MetricCell::Decode(record.substr(0, n), &d));
  CHECK_FALSE(MetricCell::Decode(record + "x", &d));
  std::string wrong_max = MetricCell{}.Encode();
  wrong_max[3] = 5;  // an empty duration histogram whose max is 5
  CHECK_FALSE(MetricCell::Decode(wrong_max, &d));
  // A bucket delta that wraps around to an earlier bucket (39 after 40), with a max (46) in
  // that bucket: refused, not taken for a histogram out of order.
  std::string wrapping(1, '\1');
  for (uint64_t v : {uint64_t{2}, uint64_t{0}, uint64_t{2}, uint64_t{40}, uint64_t{1}, UINT64_MAX,
                     uint64_t{1}, uint64_t{46}, uint64_t{0}, uint64_t{0}}) {
    record::PutVarint(&wrapping, v);  // processed, failed, durations (2 buckets, max), waits
  }
  CHECK_FALSE(MetricCell::Decode(wrapping, &d));
  MetricCellKey key{.name = "q", .start_ms = 60000};
  REQUIRE(MetricCellKey::FromTag("ch", &key));
  CHECK((key.dimension == MetricDimension::kClass && key.resolution == 1 && key.Tag() == "ch"));
  CHECK_FALSE(MetricCellKey::FromTag("xh", &key));
  CHECK_FALSE(MetricCellKey::FromTag("cm!", &key));
}

TEST_CASE("runs are counted per queue and class in every resolution, and flushed once") {
  Metrics m;
  int64_t t = 10 * kHourMs + 5;
  m.Count(Run("mail", "Mailer", 100), t);
  m.Count(Run("mail", "Mailer", 300, false), t + 60000);
  m.Count(Run("mail", "", 50), t);
  auto totals = m.Totals(MetricDimension::kQueue, 0, t - 1, t + 60000);
  REQUIRE(totals.size() == 1);
  CHECK((totals[0].name == "mail" && totals[0].cell.processed == 2 && totals[0].cell.failed == 1));
  CHECK(totals[0].cell.duration.Quantile(0.5) == 102);  // the middle of 100's bucket, [100, 104)
  auto classes = m.Totals(MetricDimension::kClass, 1, t, t);
  REQUIRE(classes.size() == 2);
  CHECK((classes[0].name == "Mailer" && classes[1].name == "(unknown)"));
  auto minutes = m.Range(MetricDimension::kClass, "Mailer", 0, t, t + 60000);
  CHECK(minutes.size() == 2);
  CHECK(m.Range(MetricDimension::kClass, "", 2, 0, t + kHourMs).begin()->second.processed == 2);
  auto flushed = Flushed(m, t + 60000);
  CHECK(flushed.size() == 4 + 4 + 3);  // mail and Mailer ran in two minutes, (unknown) in one
  CHECK(Flushed(m, t + 60000).empty());
}

TEST_CASE("a name as long as a payload can make it is cut") {
  Metrics m;
  std::string huge(100000, 'x');
  m.Count(Run(huge, huge, 1), 0);
  for (auto d : {MetricDimension::kQueue, MetricDimension::kClass}) {
    auto totals = m.Totals(d, 0, 0, 0);
    REQUIRE(totals.size() == 1);
    CHECK(totals[0].name == huge.substr(0, Metrics::kMaxName));
  }
}

TEST_CASE("a run before the epoch counts in the bucket that holds it") {
  Metrics m;
  m.Count(Run("q", "A", 1), -90000);  // 1:30 before: the minute from -120000
  auto minutes = m.Range(MetricDimension::kQueue, "q", 0, -90000, -90000);
  REQUIRE(minutes.size() == 1);
  CHECK(minutes.begin()->first == -120000);
}

TEST_CASE("cells past their retention are dropped and reported gone") {
  Metrics m;
  m.Count(Run("q", "A", 5), 0);
  Flushed(m, 0);
  auto later = Flushed(m, kMetricResolutions[0].kept_ms + 60000);
  CHECK(later.size() == 2);  // the minute cells of queue and class
  for (const auto& [key, cell] : later) CHECK((key.resolution == 0 && !cell));
  CHECK(m.Range(MetricDimension::kQueue, "q", 0, 0, INT64_MAX).empty());
  CHECK(m.Range(MetricDimension::kQueue, "q", 1, 0, INT64_MAX).size() == 1);
}

TEST_CASE("beyond the busiest `top`, names count as (other) until they outrun the lightest") {
  Metrics m;
  m.set_top(2);
  for (int i = 0; i < 5; i++) m.Count(Run("q", "Heavy", 1), 0);
  for (int i = 0; i < 2; i++) m.Count(Run("q", "Light", 1), 0);
  m.Count(Run("q", "New", 1), 0);  // no place: counted under (other)
  auto names = [&] {
    std::vector<std::string> out;
    for (auto& t : m.Totals(MetricDimension::kClass, 1, 0, 0))
      out.push_back(t.name + "=" + std::to_string(t.cell.processed));
    return out;
  };
  CHECK(names() == std::vector<std::string>{"Heavy=5", "Light=2", "(other)=1"});
  m.Count(Run("q", "New", 1), 0);
  m.Count(Run("q", "New", 1), 0);  // 3 runs > Light's 2: Light goes to (other)
  CHECK(names() == std::vector<std::string>{"Heavy=5", "(other)=4", "New=1"});
  // Nothing is lost: the sum over every series is every run.
  CHECK(m.Range(MetricDimension::kClass, "", 1, 0, 0).begin()->second.processed == 10);
  auto flushed = Flushed(m, 0);
  for (size_t r = 0; r < 3; r++) CHECK(!flushed.at({MetricDimension::kClass, "Light", r, 0}));
  // The queue dimension did not need a place for anyone.
  CHECK(m.Totals(MetricDimension::kQueue, 0, 0, 0).size() == 1);
}

TEST_CASE("applied cells rebuild the series they came from") {
  Metrics master, replica;
  master.Count(Run("q", "A", 10), 0);
  master.Count(Run("q", "B", 20, false), 0);
  master.Flush(0, [&](const MetricCellKey& k, const MetricCell* c) { replica.Apply(k, c); });
  for (auto d : {MetricDimension::kQueue, MetricDimension::kClass}) {
    for (size_t r = 0; r < 3; r++) {
      auto a = master.Totals(d, r, 0, 0), b = replica.Totals(d, r, 0, 0);
      REQUIRE(a.size() == b.size());
      for (size_t i = 0; i < a.size(); i++)
        CHECK((a[i].name == b[i].name && a[i].cell.Encode() == b[i].cell.Encode()));
    }
  }
  CHECK(Flushed(replica, 0).empty());  // applied cells are stored already
  master.Clear();
  CHECK(master.Totals(MetricDimension::kQueue, 0, 0, 0).empty());
}
