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
// `queue_prefix` turns the short queue name into its key. The failure's payload is the entry's
// "payload" exactly as written (resque re-encodes the job it popped, byte for byte the same),
// so a retry pushes what the client pushed. nullopt when `entry` is not one.
// `keep_failed_at`: the failure happened elsewhere (an import): its own "failed_at" is its time
// when it names UTC or a numeric offset, rather than `now_ms`.
std::optional<Failure> ParseResqueFailure(std::string_view entry, const Dialect& dialect,
                                          int64_t now_ms, bool keep_failed_at = false);

// The payload without the "retry_count" field older servers added to a retried job (other
// payloads come back unchanged).
std::string WithoutRetryCount(std::string_view payload);

// A payload's own retry limit: "retry": false -> 1 run, "retry": n -> n + 1 runs (n retries).
std::optional<uint32_t> PayloadMaxAttempts(std::string_view payload);

}  // namespace desaster
