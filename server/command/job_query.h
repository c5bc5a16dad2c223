// Finding jobs: the filter, sort and page options shared by QUEUE.JOBS and the bulk forms of the
// JOB.* commands (JOB.DELETE WHERE <queue> <filters>), and the one way a job is shown.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "server/command/context.h"

namespace desaster {

struct JobQuery {
  enum class State { kAll, kReady, kRunning, kScheduled };
  enum class Sort { kDispatch, kEnqueued, kPriority, kEta, kClass, kId };

  State state = State::kAll;
  std::string match;       // substring of the payload or the id
  std::string klass;       // exact job class
  std::string args;        // substring of the arguments (JSON text)
  std::string flow;        // exact flow
  std::string capability;  // exact required capability
  std::optional<int32_t> min_priority, max_priority;
  std::optional<int64_t> min_age_ms, max_age_ms;  // since enqueue

  Sort sort = Sort::kDispatch;
  bool descending = false;
  size_t offset = 0;
  size_t limit = 100;
};

// The grammar of the filters (kJobFilterSyntax) and of SORT, OFFSET and LIMIT
// (kJobPagingSyntax), for the command table.
inline constexpr std::string_view kJobFilterSyntax =
    "[STATE (READY|SCHEDULED|RUNNING|ALL)] [MATCH text] [CLASS class] [ARGS text] [FLOW flow] "
    "[CAPABILITY capability] [PRIORITY min:integer max:integer] [MINAGE ms:integer] "
    "[MAXAGE ms:integer]";
inline constexpr std::string_view kJobPagingSyntax =
    "[SORT (DISPATCH|ENQUEUED|PRIORITY|ETA|CLASS|ID) [ASC|DESC]] [OFFSET offset:integer] "
    "[LIMIT limit:integer]";
// The jobs a bulk command acts on: ids, or every match of the filters in a queue.
inline std::string JobTargetSyntax() {
  return "(id...|WHERE queue:key " + std::string(kJobFilterSyntax) + ")";
}

// Parses the options from args[first] on. `paging`: SORT, OFFSET and LIMIT are allowed (the
// bulk forms act on every match). Replies the error and returns nullopt on bad input.
std::optional<JobQuery> ParseJobQuery(CommandContext& ctx, size_t first, bool paging);

struct JobRow {
  Job* job;
  size_t position;  // in dispatch order (ready jobs); SIZE_MAX for scheduled ones
};

struct JobQueryResult {
  size_t total = 0;  // matches before paging
  std::vector<JobRow> rows;
};

// Runs `query` over the jobs of `q`. Without filters, dispatch order only walks the page.
JobQueryResult RunJobQuery(Database& db, Queue& q, const JobQuery& query, int64_t now_ms);

// A job as a map: id, queue, state, position, eta, class, args, payload, flow, priority,
// capability, unique, attempts, enqueued_at, run_at.
void ReplyJob(CommandContext& ctx, const JobRow& row);

}  // namespace desaster
