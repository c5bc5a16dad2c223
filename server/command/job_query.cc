#include "server/command/job_query.h"

#include <algorithm>
#include <climits>
#include <cstring>

namespace desaster {
namespace {

bool ParseSort(std::string_view s, JobQuery::Sort* out) {
  static const std::pair<std::string_view, JobQuery::Sort> kSorts[] = {
      {"dispatch", JobQuery::Sort::kDispatch}, {"enqueued", JobQuery::Sort::kEnqueued},
      {"priority", JobQuery::Sort::kPriority}, {"eta", JobQuery::Sort::kEta},
      {"class", JobQuery::Sort::kClass},       {"id", JobQuery::Sort::kId},
  };
  for (const auto& [name, sort] : kSorts) {
    if (Lower(s) == name) return *out = sort, true;
  }
  return false;
}

bool Contains(std::string_view haystack, std::string_view needle) {
  return needle.empty() || haystack.find(needle) != std::string_view::npos;
}

bool Matches(const JobQuery& q, const Queue& queue, const Job& job, int64_t now_ms) {
  // The filters that need no payload first.
  if (q.min_priority && job.priority < *q.min_priority) return false;
  if (q.max_priority && job.priority > *q.max_priority) return false;
  int64_t age = now_ms - job.enqueued_ms;
  if (q.min_age_ms && age < *q.min_age_ms) return false;
  if (q.max_age_ms && age > *q.max_age_ms) return false;
  if (!q.capability.empty() && job.capability() != q.capability) return false;
  bool flow_from_class = !q.flow.empty() && job.flow.empty();
  if (!flow_from_class && !q.flow.empty() && job.flow != q.flow) return false;
  if (q.match.empty() && q.klass.empty() && q.args.empty() && !flow_from_class) return true;
  // A search reads every job of a backlog: read once, and compressed ones stay compressed.
  thread_local std::string scratch;
  std::string_view payload = job.payload.Read(&scratch);
  if (!q.match.empty() && !Contains(payload, q.match) &&
      FormatJobId(job.id).find(q.match) == std::string::npos) {
    return false;
  }
  // A class or argument the payload does not even contain cannot match: skip the parse.
  if (!Contains(payload, q.klass) || !Contains(payload, q.args)) return false;
  if (q.klass.empty() && q.args.empty() && !flow_from_class) return true;
  // Parsed once for the class, the args, or a flow that defaults to the class.
  PayloadFields f = queue.Fields(payload);
  if (flow_from_class && f.klass != q.flow) return false;
  return (q.klass.empty() || f.klass == q.klass) && Contains(f.args, q.args);
}

bool HasFilters(const JobQuery& q) {
  return !q.match.empty() || !q.klass.empty() || !q.args.empty() || !q.flow.empty() ||
         !q.capability.empty() || q.min_priority || q.max_priority || q.min_age_ms || q.max_age_ms;
}

}  // namespace

std::optional<JobQuery> ParseJobQuery(CommandContext& ctx, size_t first, bool paging) {
  JobQuery q;
  const auto& a = ctx.args;
  for (size_t i = first; i < a.size(); i++) {
    bool has_value = i + 1 < a.size();
    // The option's integer value; moves past it.
    auto number = [&](long long min, long long max) {
      auto v = ctx.OptionInt(i, min, max);
      if (v) i++;
      return v;
    };
    if (!has_value) return ctx.Error(err::kSyntax), std::nullopt;
    if (ctx.Is(i, "STATE")) {
      i++;
      if (ctx.Is(i, "READY")) {
        q.state = JobQuery::State::kReady;
      } else if (ctx.Is(i, "SCHEDULED")) {
        q.state = JobQuery::State::kScheduled;
      } else if (ctx.Is(i, "RUNNING")) {
        q.state = JobQuery::State::kRunning;
      } else if (ctx.Is(i, "ALL")) {
        q.state = JobQuery::State::kAll;
      } else {
        return ctx.Error("ERR STATE must be READY, RUNNING, SCHEDULED or ALL"), std::nullopt;
      }
    } else if (ctx.Is(i, "MATCH")) {
      q.match = a[++i];
    } else if (ctx.Is(i, "CLASS")) {
      q.klass = a[++i];
    } else if (ctx.Is(i, "ARGS")) {
      q.args = a[++i];
    } else if (ctx.Is(i, "FLOW")) {
      q.flow = a[++i];
    } else if (ctx.Is(i, "CAPABILITY")) {
      q.capability = a[++i];
    } else if (ctx.Is(i, "PRIORITY")) {
      if (i + 2 >= a.size()) return ctx.Error(err::kSyntax), std::nullopt;
      auto lo = number(INT32_MIN, INT32_MAX);
      if (!lo) return std::nullopt;
      auto hi = number(INT32_MIN, INT32_MAX);
      if (!hi) return std::nullopt;
      q.min_priority = static_cast<int32_t>(*lo);
      q.max_priority = static_cast<int32_t>(*hi);
    } else if (ctx.Is(i, "MINAGE") || ctx.Is(i, "MAXAGE")) {
      bool min = ctx.Is(i, "MINAGE");
      auto v = number(0, LLONG_MAX);
      if (!v) return std::nullopt;
      (min ? q.min_age_ms : q.max_age_ms) = *v;
    } else if (paging && ctx.Is(i, "SORT")) {
      if (!ParseSort(a[++i], &q.sort)) {
        return ctx.Error("ERR SORT must be DISPATCH, ENQUEUED, PRIORITY, ETA, CLASS or ID"),
               std::nullopt;
      }
      if (i + 1 < a.size() && (ctx.Is(i + 1, "ASC") || ctx.Is(i + 1, "DESC"))) {
        q.descending = ctx.Is(++i, "DESC");
      }
    } else if (paging && ctx.Is(i, "OFFSET")) {
      auto v = number(0, LLONG_MAX);
      if (!v) return std::nullopt;
      q.offset = static_cast<size_t>(*v);
    } else if (paging && ctx.Is(i, "LIMIT")) {
      auto v = number(0, 10000);
      if (!v) return std::nullopt;
      q.limit = static_cast<size_t>(*v);
    } else {
      return ctx.Error("ERR unknown option '" + a[i] + "'" +
                       (paging ? "" : " (SORT, OFFSET and LIMIT do not apply here)")),
             std::nullopt;
    }
  }
  return q;
}

JobQueryResult RunJobQuery(Database& db, Queue& q, const JobQuery& query, int64_t now_ms) {
  JobQueryResult out;
  using State = JobQuery::State;
  bool want_ready = query.state == State::kAll || query.state == State::kReady;
  bool want_running = query.state == State::kAll || query.state == State::kRunning;
  bool want_scheduled = query.state == State::kAll || query.state == State::kScheduled;
  bool filtered = HasFilters(query);
  // Jobs outside dispatch order: running ones (leased to workers), then scheduled ones by time.
  auto for_each_other = [&](const std::function<bool(Job*)>& fn) {
    bool go = true;
    if (want_running && q.running() > 0) {
      db.ForEachLeased([&](Job* job) { return job->queue != &q || (go = fn(job)); });
    }
    if (go && want_scheduled) db.ForEachScheduled(&q, fn);
  };

  // The common case, a page of the queue as it will run, walks only the page.
  if (!filtered && query.sort == JobQuery::Sort::kDispatch && !query.descending) {
    out.total = (want_ready ? q.ready() : 0) + (want_running ? q.running() : 0) +
                (want_scheduled ? q.scheduled() : 0);
    size_t position = query.offset;
    if (want_ready && query.offset < q.ready()) {
      q.discipline().ForEachInOrder(
          [&](Job* job) {
            out.rows.push_back({job, position++});
            return out.rows.size() < query.limit;
          },
          query.offset);
    }
    size_t skip = !want_ready                ? query.offset
                  : query.offset > q.ready() ? query.offset - q.ready()
                                             : 0;
    if (out.rows.size() < query.limit) {
      for_each_other([&](Job* job) {
        if (skip > 0) return skip--, true;
        out.rows.push_back({job, SIZE_MAX});
        return out.rows.size() < query.limit;
      });
    }
    return out;
  }

  std::vector<JobRow> rows;
  if (want_ready) {
    size_t position = 0;
    q.discipline().ForEachInOrder(
        [&](Job* job) {
          if (Matches(query, q, *job, now_ms)) {
            rows.push_back({job, position});
          }
          position++;
          return true;
        },
        0);
  }
  for_each_other([&](Job* job) {
    if (Matches(query, q, *job, now_ms)) rows.push_back({job, SIZE_MAX});
    return true;
  });
  out.total = rows.size();
  size_t end = std::min(rows.size(), query.offset + query.limit);
  if (query.offset >= rows.size()) return out;

  // Sort keys that cost a computation are computed once per row, not per comparison.
  // Scheduled jobs go after ready ones in ETA order.
  std::vector<std::string> classes;
  std::vector<int64_t> etas;
  if (query.sort == JobQuery::Sort::kClass) {
    for (auto& r : rows) classes.push_back(q.Fields(*r.job).klass);
  } else if (query.sort == JobQuery::Sort::kEta) {
    for (auto& r : rows) {
      etas.push_back(r.position == SIZE_MAX
                         ? r.job->run_at_ms
                         : q.Eta(*r.job, r.position, now_ms).value_or(INT64_MAX));
    }
  }
  std::vector<size_t> index(rows.size());
  for (size_t i = 0; i < index.size(); i++) index[i] = i;
  auto less = [&](size_t x, size_t y) {
    const JobRow &a = rows[x], &b = rows[y];
    switch (query.sort) {
      case JobQuery::Sort::kDispatch:
        return a.position != b.position ? a.position < b.position
                                        : a.job->run_at_ms < b.job->run_at_ms;
      case JobQuery::Sort::kEnqueued:
        return a.job->enqueued_ms != b.job->enqueued_ms ? a.job->enqueued_ms < b.job->enqueued_ms
                                                        : a.job->id < b.job->id;
      case JobQuery::Sort::kPriority:
        return a.job->priority != b.job->priority ? a.job->priority < b.job->priority
                                                  : a.job->id < b.job->id;
      case JobQuery::Sort::kEta:
        return etas[x] != etas[y] ? etas[x] < etas[y] : a.job->id < b.job->id;
      case JobQuery::Sort::kClass:
        return classes[x] != classes[y] ? classes[x] < classes[y] : a.job->id < b.job->id;
      case JobQuery::Sort::kId:
        return a.job->id < b.job->id;
    }
    return false;
  };
  auto ordered = [&](size_t x, size_t y) { return query.descending ? less(y, x) : less(x, y); };
  std::partial_sort(index.begin(), index.begin() + static_cast<ptrdiff_t>(end), index.end(),
                    ordered);
  for (size_t i = query.offset; i < end; i++) out.rows.push_back(rows[index[i]]);
  return out;
}

void ReplyJob(CommandContext& ctx, const JobRow& row) {
  const Job& job = *row.job;
  const Queue& q = *job.queue;
  PayloadFields f = q.Fields(job);
  auto& r = ctx.reply;
  r.Map(17);
  r.Field("id", FormatJobId(job.id));
  r.Field("queue", q.key());
  r.Field("state", JobStateName(job.state));
  bool ready = row.position != SIZE_MAX;
  r.Bulk("position");
  ready ? r.Integer(static_cast<long long>(row.position)) : r.NullBulk();
  auto eta = ready ? q.Eta(job, row.position, ctx.now_ms()) : job.run_at_ms;
  r.FieldOrNull("eta", eta.value_or(0));
  r.Field("class", f.klass);
  r.Field("args", f.args);
  std::string scratch;  // listing a job leaves it compressed
  r.Field("payload", job.payload.Read(&scratch));
  r.Field("flow", job.flow.empty() ? std::string_view(f.klass)
                                   : job.flow.view());  // as FlowOf, without a reparse
  r.Field("priority", job.priority);
  r.Field("capability", job.capability());
  r.Field("unique", job.unique_key());
  r.Field("attempts", job.attempts);
  r.Field("enqueued_at", job.enqueued_ms);
  r.FieldOrNull("run_at", job.state == JobState::kScheduled ? job.run_at_ms : 0);
  r.FieldOrNull("started_at", job.state == JobState::kLeased ? job.run_at_ms : 0);
  r.Field("worker", job.lease_owner());  // running jobs: who runs it
}

}  // namespace desaster
