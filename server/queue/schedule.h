// A recurring schedule: a cron expression that pushes a job into a queue each time it fires.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "server/queue/cron.h"

namespace desaster {

struct Schedule {
  std::string name;
  std::string cron;      // as given (CronExpression::Parse)
  std::string timezone;  // IANA name; empty: UTC
  std::string queue;     // key of the queue the jobs go to
  std::string payload;
  std::string flow, capability;
  int32_t priority = 0;
  bool paused = false;
  int64_t created_ms = 0;
  int64_t last_run_ms = 0;  // when it last fired (0: never)

  // Derived from the above, not persisted.
  std::optional<CronExpression> expression;
  int64_t next_run_ms = 0;  // 0: paused or never again

  // Parses `cron` in `timezone` into `expression`; false with *error when either is bad.
  bool Compile(std::string* error);
  // Sets next_run_ms from the last run (or creation), so a run missed while the server was down
  // happens once at start.
  void Plan();

  std::string Encode() const;
  static bool Decode(std::string_view record, Schedule* out);
};

}  // namespace desaster
