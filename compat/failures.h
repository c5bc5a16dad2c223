// How client libraries write down failed jobs, and how a retry is marked in a payload.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "compat/dialect.h"
#include "server/queue/failure.h"

namespace desaster {

// A resque failure entry, as resque (and node-resque) RPUSH it to <ns>:failed:
//   {"failed_at":"2026/11/30 03:40:00 UTC","payload":{"class":..,"args":[..]},
//    "exception":"RuntimeError","error":"message","backtrace":[..],"worker":"host:pid:q",
//    "queue":"default"}
// `queue_prefix` turns the short queue name into its key. nullopt when `entry` is not one.
std::optional<Failure> ParseResqueFailure(std::string_view entry, const Dialect& dialect,
                                          int64_t now_ms);

// The payload with its retry count set ("retry_count": n, the way Sidekiq counts), so the next
// failure knows its attempt number. Non-JSON payloads come back unchanged.
std::string MarkRetry(std::string_view payload, uint32_t retries);

// A payload's own retry limit: "retry": false -> 1 run, "retry": n -> n + 1 runs (n retries).
std::optional<uint32_t> PayloadMaxAttempts(std::string_view payload);

}  // namespace desaster
