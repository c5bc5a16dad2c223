#include "worker/id_lock.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace desaster::worker {
namespace {

// The lock directory: private to the user, so no one else can hold a worker's lock.
std::string LockDirectory() {
  const char* runtime = getenv("XDG_RUNTIME_DIR");
  if (runtime && *runtime) return std::string(runtime) + "/desaster";
  return "/tmp/desaster-" + std::to_string(getuid());
}

// A file name for any id: ids may hold '/' or be longer than a name may be.
std::string LockName(const std::string& scheduler, const std::string& id) {
  uint64_t hash = 14695981039346656037ull;  // FNV-1a: stable across builds and versions
  for (char c : scheduler + '\0' + id) {
    hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  }
  char name[40];
  snprintf(name, sizeof(name), "worker-%016llx.lock", static_cast<unsigned long long>(hash));
  return name;
}

}  // namespace

std::unique_ptr<IdLock> IdLock::Open(const std::string& scheduler, const std::string& id,
                                     std::string* error) {
  std::string dir = LockDirectory();
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    *error = "cannot create " + dir + ": " + strerror(errno);
    return nullptr;
  }
  struct stat st;
  if (lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid()) {
    *error = dir + " is not a directory of this user: another user could hold its locks";
    return nullptr;
  }
  std::string path = dir + "/" + LockName(scheduler, id);
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    *error = "cannot open " + path + ": " + strerror(errno);
    return nullptr;
  }
  return std::unique_ptr<IdLock>(new IdLock(fd));
}

IdLock::~IdLock() { close(fd_); }

bool IdLock::TryAcquire() {
  if (held_) return true;
  if (flock(fd_, LOCK_EX | LOCK_NB) != 0) return false;
  held_ = true;
  // The holder's pid, for the log line of a process that waits (Holder()); nothing else.
  std::string pid = std::to_string(getpid()) + "\n";
  [[maybe_unused]] bool written =
      ftruncate(fd_, 0) == 0 && pwrite(fd_, pid.data(), pid.size(), 0) > 0;
  return true;
}

std::string IdLock::Holder() const {
  char text[32] = {};
  ssize_t n = pread(fd_, text, sizeof(text) - 1, 0);
  long pid = n > 0 ? strtol(text, nullptr, 10) : 0;
  if (pid <= 0) return "another process";
  if (kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM) {
    return "desaster-worker pid " + std::to_string(pid) + " (or the jobs it started)";
  }
  return "the jobs of desaster-worker pid " + std::to_string(pid) + ", which is gone,";
}

}  // namespace desaster::worker
