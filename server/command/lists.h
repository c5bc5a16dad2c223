// The list commands' view of a key (a plain list or a queue), for the families that read or
// write whole lists (DUMP and RESTORE).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "server/command/context.h"

namespace desaster {

// The elements of the list or queue at `key`, left to right (what LRANGE key 0 -1 answers);
// empty when the key holds neither.
std::vector<std::string_view> ListElements(CommandContext& ctx, std::string_view key);

// Pushes `elements` to the right end of `key` in order, as RPUSH does: where a dialect claims
// the key they become jobs of its queue, and records pushed to a resque failure list become
// failures. The caller checked that `key` holds a list or nothing.
void RightPushAll(CommandContext& ctx, std::string_view key,
                  const std::vector<std::string>& elements);

}  // namespace desaster
