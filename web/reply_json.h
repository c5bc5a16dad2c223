// Scheduler replies as JSON. Debian 12's hiredis (0.14) speaks RESP2, which flattens maps into
// [key, value, ...] arrays, so the caller says where a reply holds maps.
#pragma once

#include <hiredis/hiredis.h>

#include <nlohmann/json.hpp>

namespace desaster::web {

enum class Shape {
  kValue,    // strings, integers, null, and arrays of those
  kMap,      // a map (flattened), its values shaped by their field name
  kMapList,  // an array of maps
};

// The JSON form of `reply` (not an error reply). Inside a map, the fields the scheduler's
// native API uses for nested maps (config, params, result, totals, total) and map lists (jobs,
// failures, series, buckets) are shaped accordingly.
nlohmann::json ToJson(const redisReply* reply, Shape shape);

}  // namespace desaster::web
