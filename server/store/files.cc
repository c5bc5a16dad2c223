#include "server/store/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace desaster {

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

void CloseKeepingErrno(int fd) {
  int saved = errno;
  close(fd);
  errno = saved;
}

bool SyncDirectory(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = fsync(fd) == 0;
  CloseKeepingErrno(fd);
  return ok;
}

bool ReplaceFile(const std::string& path, std::string_view data, int mode, std::string* error) {
  std::string temp = path + ".tmp";
  auto fail = [&](const std::string& what) {
    *error = "cannot " + what + ": " + std::strerror(errno);
    return false;
  };
  int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return fail("create " + temp);
  bool written = WriteAll(fd, data) && fsync(fd) == 0;
  CloseKeepingErrno(fd);
  if (!written) return fail("write " + temp);
  if (rename(temp.c_str(), path.c_str()) != 0) return fail("rename " + temp + " to " + path);
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (!SyncDirectory(dir.empty() ? "." : dir)) return fail("sync " + dir);
  return true;
}

}  // namespace desaster
