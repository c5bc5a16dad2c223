// What the sorted set commands share with the families built on sorted sets (GEO).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/command/context.h"

namespace desaster {

// The sorted set at `key`: nullptr when absent (*wrong stays false) or of another type (replies
// WRONGTYPE and sets *wrong).
const ZSet* ZSetAt(CommandContext& ctx, std::string_view key, bool* wrong);

// ZADD's options; the caller checked that they go together.
struct ZAddOptions {
  bool nx = false, xx = false, gt = false, lt = false, ch = false, incr = false;
};

// Reads ZADD's option words from args[2] on into `options` (with `all` false only NX, XX and
// CH, what GEOADD takes); returns the index of the first argument that is none of them.
size_t ParseZAddOptions(CommandContext& ctx, ZAddOptions* options, bool all);

// What ZADD does once its arguments are parsed: replies WRONGTYPE unless `key` holds a sorted
// set or nothing, otherwise adds or updates each (score, member) of `items` in order under
// `options` and replies ZADD's reply.
void ZAddMembers(CommandContext& ctx, const std::string& key, const ZAddOptions& options,
                 const std::vector<std::pair<double, std::string_view>>& items);

}  // namespace desaster
