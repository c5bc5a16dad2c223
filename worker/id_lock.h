// One process per worker id on a host. A job of a worker that died is given out again as soon
// as a new process registers under the dead one's id; its old run must be gone by then, or the
// job runs twice at once. The lock makes that so: it is held by the worker and by the shim of
// every job it starts (process.h), so it is free only once the worker and every process its
// jobs started are gone, and a new process under the id registers only after taking it.
#pragma once

#include <memory>
#include <string>

namespace desaster::worker {

class IdLock {
 public:
  // The lock of worker `id` at the scheduler `scheduler` (workers of different schedulers are
  // different workers), as a file in $XDG_RUNTIME_DIR/desaster, or /tmp/desaster-<uid>.
  // nullptr with *error when the file cannot be created.
  static std::unique_ptr<IdLock> Open(const std::string& scheduler, const std::string& id,
                                      std::string* error);
  ~IdLock();

  // Takes the lock if it is free; true once this process holds it.
  bool TryAcquire();
  // Who holds it, for a log line: another live worker, or what a dead one left running.
  std::string Holder() const;
  // The descriptor a shim keeps open (and so holds the lock) until its job's tree is gone.
  int fd() const { return fd_; }

 private:
  explicit IdLock(int fd) : fd_(fd) {}
  int fd_;
  bool held_ = false;
};

}  // namespace desaster::worker
