// What the worker commands (workers.cc) share with the job commands that native workers send
// (JOB.FETCH in jobs.cc).
#pragma once

#include <cstdint>
#include <string>

#include "server/command/context.h"

namespace desaster {

// How long a leased job stays a worker's without a heartbeat, unless it asks otherwise.
inline constexpr int64_t kDefaultLeaseMs = 30000;
// A lease is how long a dead worker's job stays away from its queue: a day at the most.
inline constexpr int64_t kMaxLeaseMs = 24LL * 3600 * 1000;

// The registered native worker `id`, or nullptr after replying NOWORKER (it registers again).
Keyspace::Worker* WorkerNamed(CommandContext& ctx, const std::string& id);

}  // namespace desaster
