#pragma once

namespace desaster {
// Reported as redis_version: client libraries gate features on it (see
// shared/reference/clients.md): it must be purely numeric, start with a digit below 10 and be
// at least 6.2.0. We implement Redis 7.0's command semantics, so we say so.
inline constexpr const char* kRedisVersion = "7.0.15";
inline constexpr const char* kDesasterVersion = "0.1.0";
}  // namespace desaster
