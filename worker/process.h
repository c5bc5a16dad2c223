// A child process on the worker's loop: its stdout and stderr captured up to a bound, its exit
// reported once, killable with TERM then KILL.
//
// Each process runs under a shim (a fork of the worker) that owns its whole process tree: when
// the process ends, when it is killed, or when the worker dies in any way (even SIGKILL), every
// process it started is killed, including ones that changed their process group or session or
// double-forked, since the shim is their subreaper. So a dead worker leaves no job running
// that its lease would hand to another worker. Out of reach: a process that gains privileges to
// leave (setuid), or a service the job asks another daemon (systemd, cron) to start.
#pragma once

#include <ev++.h>
#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace desaster::worker {

struct ProcessSpec {
  std::vector<std::string> argv;           // argv[0] is looked up in PATH
  std::map<std::string, std::string> env;  // added to the worker's environment
  std::string cwd;
  size_t max_output = 64 * 1024;
  bool stdin_pipe = false;  // keep a pipe to the child's stdin (Write())
  // Each chunk read from stdout (`err` false) or stderr, as it arrives (captured as well).
  std::function<void(bool err, std::string_view data)> on_output;
  // A descriptor the shim keeps open until every process below it is gone (a lock it holds
  // for the worker: id_lock.h); the job itself does not get it.
  int shim_holds = -1;
};

struct ProcessExit {
  int status = -1;  // exit code, or -1 when killed by a signal
  int signal = 0;
  std::string out, err;  // captured, truncated at max_output
  bool truncated = false;
};

class Process {
 public:
  // Starts the process; nullptr with *error when it cannot. `on_line` (optional) gets stdout
  // line by line instead of capturing it; `on_exit` is called once.
  static std::unique_ptr<Process> Start(ev::loop_ref loop, const ProcessSpec& spec,
                                        std::function<void(ProcessExit)> on_exit,
                                        std::function<void(std::string_view)> on_line,
                                        std::string* error);
  ~Process();

  pid_t pid() const { return pid_; }
  bool running() const { return running_; }
  void Write(std::string_view data);  // to stdin (stdin_pipe)
  // TERM to the whole process tree now, KILL after `grace_ms`.
  void Kill(int grace_ms);

 private:
  Process(ev::loop_ref loop) : loop_(loop) {}
  void OnChild(ev::child& w, int);
  void OnRead(ev::io& w, int);
  void OnKillTimer(ev::timer&, int);
  void MaybeFinish();
  // Tells the shim to kill the tree at once (it also sees this when the worker dies).
  void CloseLifeline();

  ev::loop_ref loop_;
  pid_t pid_ = -1;
  bool running_ = true;
  int stdin_fd_ = -1, lifeline_fd_ = -1;
  ev::child child_;
  ev::io out_watch_, err_watch_;
  ev::timer kill_timer_;
  ProcessExit exit_;
  bool exited_ = false;
  int open_pipes_ = 0;
  size_t max_output_ = 0;
  std::string line_buffer_;
  std::function<void(ProcessExit)> on_exit_;
  std::function<void(std::string_view)> on_line_;
  std::function<void(bool, std::string_view)> on_output_;
};

}  // namespace desaster::worker
