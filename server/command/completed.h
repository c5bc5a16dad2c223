// What JOB.INFO shows of a job that left its queue (server/command/completed.cc).
#pragma once

#include <cstdint>

#include "server/command/context.h"

namespace desaster {

// Replies job `id` as the stores keep it: succeeded (state "done", from the completed store) or
// dead (state "failed", from the failed store), each with "runs", its life: every run with
// attempt, worker, start, end, duration and outcome ("done", or the failed run's error class).
// False, replying nothing, when neither store holds it for the client's user.
bool ReplyFinishedJob(CommandContext& ctx, uint64_t id);

}  // namespace desaster
