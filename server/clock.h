// Time sources: wall-clock milliseconds for expiry and timestamps, a monotonic clock for
// measuring durations.
#pragma once

#include <chrono>
#include <cstdint>

namespace desaster {

inline int64_t UnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline int64_t MonotonicUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace desaster
