// Durable file writes the store makes beside LevelDB's own files.
#pragma once

#include <string>
#include <string_view>

namespace desaster {

// Writes all of `data` at `fd`'s position, retrying short writes; false with errno set.
bool WriteAll(int fd, std::string_view data);

// Closes `fd` and leaves errno as it was, so the error that made a caller give up is reported.
void CloseKeepingErrno(int fd);

// Syncs directory `dir`, so that the names made or renamed in it last; false with errno set.
bool SyncDirectory(const std::string& dir);

// Replaces the file at `path` with `data` (creating it with `mode`) so that a crash leaves the
// old file or the new one, whole: `path`.tmp is written and synced, renamed over `path`, and the
// directory synced. False with *error ("cannot <step> <file>: <reason>").
bool ReplaceFile(const std::string& path, std::string_view data, int mode, std::string* error);

}  // namespace desaster
