// METRICS.*: job metrics per queue and per class (server/queue/metrics.h). TOP ranks a
// dimension's series over a time range; RANGE is one series (or all of them summed) bucket by
// bucket, for charts. Percentiles come from the buckets' summed histograms.
#include <algorithm>
#include <climits>

#include "server/command/registry.h"
#include "server/command/store_query.h"

namespace desaster {
namespace {

constexpr int64_t kLastMax = 400LL * 24 * 3600;  // seconds: the day cells' retention

struct MetricsQuery {
  MetricDimension dimension = MetricDimension::kQueue;
  int64_t since_ms = 0, until_ms = 0;
  std::optional<size_t> resolution;
  size_t limit = SIZE_MAX;
};

// QUEUE or CLASS at args[1], then the options from args[first]; nullopt after an error reply.
std::optional<MetricsQuery> ParseMetricsQuery(CommandContext& ctx, size_t first) {
  MetricsQuery q;
  if (ctx.Is(1, "CLASS")) {
    // A class's runs are counted over every queue: they are not for a user who may not read
    // one of them (or those counted as "(other)").
    if (ctx.KeysRestricted()) {
      for (const std::string& queue : ctx.db().metrics().Names(MetricDimension::kQueue)) {
        if (!ctx.MayAccess(queue, false)) {
          ctx.Error(
              "NOPERM metrics by class count runs of every queue, and this user may not "
              "read queue '" +
              queue + "'");
          return std::nullopt;
        }
      }
    }
    q.dimension = MetricDimension::kClass;
  } else if (!ctx.Is(1, "QUEUE")) {
    ctx.Error("ERR the dimension is QUEUE or CLASS");
    return std::nullopt;
  }
  int64_t now = ctx.now_ms();
  q.since_ms = now - kHourMs;
  q.until_ms = now;
  bool ok = ReadStoreOptions(ctx, first, {}, nullptr, [&](size_t& i) {
    if (ctx.Is(i, "SINCE") || ctx.Is(i, "UNTIL")) {
      auto ms = ctx.OptionInt(i, 0);
      if (!ms) return OptionRead::kError;
      (ctx.Is(i, "SINCE") ? q.since_ms : q.until_ms) = *ms;
    } else if (ctx.Is(i, "LAST")) {
      auto seconds = ctx.OptionInt(i, 1, kLastMax);
      if (!seconds) return OptionRead::kError;
      q.since_ms = now - *seconds * 1000;
      q.until_ms = now;
    } else if (ctx.Is(i, "RESOLUTION")) {
      auto r = std::find_if(kMetricResolutions.begin(), kMetricResolutions.end(),
                            [&](const MetricResolution& res) { return ctx.Is(i + 1, res.name); });
      if (r == kMetricResolutions.end()) {
        ctx.Error("ERR RESOLUTION is MINUTE, HOUR or DAY");
        return OptionRead::kError;
      }
      q.resolution = static_cast<size_t>(r - kMetricResolutions.begin());
    } else if (ctx.Is(i, "LIMIT")) {
      auto n = ctx.OptionInt(i, 1);
      if (!n) return OptionRead::kError;
      q.limit = static_cast<size_t>(*n);
    } else {
      return OptionRead::kNone;
    }
    return OptionRead::kRead;
  });
  if (!ok) return std::nullopt;
  if (q.since_ms > q.until_ms) {
    ctx.Error("ERR SINCE is after UNTIL");
    return std::nullopt;
  }
  return q;
}

size_t ResolutionOf(CommandContext& ctx, const MetricsQuery& q) {
  return q.resolution.value_or(Metrics::ResolutionFor(q.since_ms, ctx.now_ms()));
}

// The cell's counts and percentiles, as fields of the map being written; percentiles are null
// where no run told that time (a resque run's wait, a resque worker's own failure report).
void ReplyCellFields(CommandContext& ctx, const MetricCell& c) {
  auto& r = ctx.reply;
  r.Field("processed", c.processed);
  r.Field("failed", c.failed);
  for (auto [name, h] : {std::pair<std::string_view, const Histogram*>{"duration", &c.duration},
                         {"wait", &c.wait}}) {
    for (auto [suffix, value] : {std::pair<std::string_view, uint64_t>{"_p50", h->Quantile(0.5)},
                                 {"_p95", h->Quantile(0.95)},
                                 {"_max", h->max()}}) {
      r.FieldOrNull(std::string(name) + std::string(suffix),
                    h->empty() ? std::nullopt : std::optional(value));
    }
  }
}
constexpr size_t kCellFields = 8;

void ReplyRangeHeader(CommandContext& ctx, const MetricsQuery& q, size_t resolution,
                      size_t fields) {
  auto& r = ctx.reply;
  r.Map(4 + fields);
  r.Field("resolution", kMetricResolutions[resolution].name);
  r.Field("bucket_ms", kMetricResolutions[resolution].bucket_ms);
  r.Field("since", q.since_ms);
  r.Field("until", q.until_ms);
}

void MetricsTop(CommandContext& ctx) {
  auto q = ParseMetricsQuery(ctx, 2);
  if (!q) return;
  size_t resolution = ResolutionOf(ctx, *q);
  std::vector<Metrics::Total> totals =
      ctx.db().metrics().Totals(q->dimension, resolution, q->since_ms, q->until_ms);
  if (q->dimension == MetricDimension::kQueue && ctx.KeysRestricted()) {
    std::erase_if(totals, [&](const Metrics::Total& t) { return !ctx.MayAccess(t.name, false); });
  }
  if (totals.size() > q->limit) totals.resize(q->limit);
  ReplyRangeHeader(ctx, *q, resolution, 1);
  ctx.reply.Bulk("series");
  ctx.reply.Array(totals.size());
  for (const Metrics::Total& t : totals) {
    ctx.reply.Map(1 + kCellFields);
    ctx.reply.Field("name", t.name);
    ReplyCellFields(ctx, t.cell);
  }
}

void MetricsRange(CommandContext& ctx) {
  auto q = ParseMetricsQuery(ctx, 3);
  if (!q) return;
  const std::string& name = ctx.args[2];
  bool all = name == "*";
  if (q->dimension == MetricDimension::kQueue && ctx.KeysRestricted()) {
    for (const std::string& queue :
         all ? ctx.db().metrics().Names(MetricDimension::kQueue) : std::vector{name}) {
      if (!ctx.MayAccess(queue, false)) return ctx.Error(err::kNoKeyPermission);
    }
  }
  size_t resolution = ResolutionOf(ctx, *q);
  std::map<int64_t, MetricCell> buckets = ctx.db().metrics().Range(
      q->dimension, all ? std::string_view() : name, resolution, q->since_ms, q->until_ms);
  MetricCell total;
  for (const auto& [start, cell] : buckets) total.Merge(cell);
  ReplyRangeHeader(ctx, *q, resolution, 2);
  ctx.reply.Bulk("total");
  ctx.reply.Map(kCellFields);
  ReplyCellFields(ctx, total);
  ctx.reply.Bulk("buckets");
  ctx.reply.Array(buckets.size());
  for (const auto& [start, cell] : buckets) {
    ctx.reply.Map(1 + kCellFields);
    ctx.reply.Field("start", start);
    ReplyCellFields(ctx, cell);
  }
}

}  // namespace

void RegisterMetricsCommands(CommandRegistry* r) {
  using namespace cmd;
  const std::string range =
      "[SINCE ms:integer] [UNTIL ms:integer] [LAST seconds:integer] [RESOLUTION "
      "(MINUTE|HOUR|DAY)]";
  r->Group("metrics")
      .Add("metrics.top", -2, kReadOnly, {}, MetricsTop,
           "The queues or classes with the most runs in a time range, with their counts and "
           "percentiles")
      .Args("(QUEUE|CLASS) " + range + " [LIMIT limit:integer]")
      .Add("metrics.range", -3, kReadOnly, {}, MetricsRange,
           "One queue's or class's runs (* : all of them) bucket by bucket over a time range")
      .Args("(QUEUE|CLASS) name " + range);
}

}  // namespace desaster
