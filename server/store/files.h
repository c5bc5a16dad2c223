// Durable file writes the store makes beside LevelDB's own files.
#pragma once

#include <string>
#include <string_view>

namespace desaster {

// Writes all of `data` at `fd`'s position, retrying short writes; false with errno set.
bool WriteAll(int fd, std::string_view data);

// Syncs directory `dir`, so that the names made or renamed in it last; false with errno set.
bool SyncDirectory(const std::string& dir);

}  // namespace desaster
