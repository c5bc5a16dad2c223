#include "worker/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

namespace desaster::worker {

namespace {

// The shim's signal flags (set by its handlers, read by its loop).
volatile sig_atomic_t child_changed = 0, term_requested = 0;
void OnShimSignal(int signum) { (signum == SIGCHLD ? child_changed : term_requested) = 1; }

// Every live or unreaped descendant of `pid`, parents before their children.
void Descendants(pid_t pid, std::vector<pid_t>* out) {
  std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  DIR* dir = opendir(tasks.c_str());
  if (!dir) return;
  std::vector<pid_t> children;
  while (dirent* task = readdir(dir)) {
    if (task->d_name[0] == '.') continue;
    FILE* f = fopen((tasks + "/" + task->d_name + "/children").c_str(), "re");
    if (!f) continue;
    int child;
    while (fscanf(f, "%d", &child) == 1) children.push_back(child);
    fclose(f);
  }
  closedir(dir);
  for (pid_t child : children) {
    out->push_back(child);
    Descendants(child, out);
  }
}

void SignalDescendants(int signum) {
  std::vector<pid_t> tree;
  Descendants(getpid(), &tree);
  for (pid_t p : tree) kill(p, signum);
}

// SIGKILLs everything below the shim until nothing is left. The shim is a child subreaper, so
// whatever a killed process leaves behind (even a double-forked daemon) becomes the shim's
// child and is found by the next round; a SIGKILLed process cannot fork again.
void KillDescendants(pid_t job, int* job_status) {
  for (;;) {
    SignalDescendants(SIGKILL);
    int status;
    pid_t gone = waitpid(-1, &status, 0);
    if (gone < 0 && errno == ECHILD) return;
    if (gone == job) *job_status = status;
  }
}

// Ends the shim the way the job ended, so the worker reads the job's own exit.
[[noreturn]] void ExitAs(int status) {
  if (WIFSIGNALED(status)) {
    rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);  // the job's signal, not a core of the shim
    signal(WTERMSIG(status), SIG_DFL);
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_UNBLOCK, &all, nullptr);
    raise(WTERMSIG(status));
  }
  _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128);
}

// The process between the worker and a job: it starts the job, forwards the worker's SIGTERM
// to the job's whole tree, and when the job ends, or the worker closes the lifeline (a kill
// after the grace period, or the worker died, however), kills everything the job started.
// Runs in the worker's fork: `lifeline` and `held` (or -1) are its only descriptors besides
// the job's stdio.
[[noreturn]] void RunShim(int lifeline, int held, char** argv, char** envp, const char* cwd) {
  setpgid(0, 0);  // a terminal's Ctrl-C is for the worker, which decides what its jobs get
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  struct sigaction on_signal = {};
  on_signal.sa_handler = OnShimSignal;
  sigaction(SIGCHLD, &on_signal, nullptr);
  sigaction(SIGTERM, &on_signal, nullptr);
  for (int ignored : {SIGINT, SIGQUIT, SIGHUP}) signal(ignored, SIG_IGN);
  sigset_t handled, during_wait;
  sigemptyset(&handled);
  sigaddset(&handled, SIGCHLD);
  sigaddset(&handled, SIGTERM);
  sigprocmask(SIG_BLOCK, &handled, &during_wait);

  pid_t shim = getpid();
  pid_t job = fork();
  if (job < 0) _exit(127);
  if (job == 0) {
    close(lifeline);
    if (held >= 0) close(held);
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // if the shim itself is killed, its job goes with it
    if (getppid() != shim) _exit(127);
    for (int reset : {SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGPIPE}) signal(reset, SIG_DFL);
    sigprocmask(SIG_SETMASK, &during_wait, nullptr);
    if (cwd && chdir(cwd) != 0) {
      dprintf(2, "cannot change to %s: %s\n", cwd, strerror(errno));
      _exit(126);
    }
    execvpe(argv[0], argv, envp);
    dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  // Only the job and its descendants hold its output pipes: the worker sees them close when
  // the last of them is gone.
  int null = open("/dev/null", O_RDWR);
  for (int fd = 0; fd < 3; fd++) dup2(null, fd);
  if (null > 2) close(null);

  int job_status = 0;
  for (;;) {
    pollfd watch = {lifeline, POLLIN, 0};
    int ready = ppoll(&watch, 1, nullptr, &during_wait);
    if (term_requested) {
      term_requested = 0;
      SignalDescendants(SIGTERM);
    }
    if (child_changed) {
      child_changed = 0;
      int status;
      pid_t gone;
      bool job_ended = false;
      while ((gone = waitpid(-1, &status, WNOHANG)) > 0) {
        if (gone == job) job_status = status, job_ended = true;
      }
      if (job_ended) {
        KillDescendants(job, &job_status);  // what it left behind
        ExitAs(job_status);
      }
    }
    if (ready > 0) {  // the lifeline closed: kill now
      job_status = W_EXITCODE(0, SIGKILL);
      KillDescendants(job, &job_status);
      ExitAs(job_status);
    }
  }
}

}  // namespace

std::unique_ptr<Process> Process::Start(ev::loop_ref loop, const ProcessSpec& spec,
                                        std::function<void(ProcessExit)> on_exit,
                                        std::function<void(std::string_view)> on_line,
                                        std::string* error) {
  if (spec.argv.empty()) {
    *error = "empty argv";
    return nullptr;
  }
  int out[2], err[2], lifeline[2], in[2] = {-1, -1};
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0 || pipe2(lifeline, O_CLOEXEC) != 0 ||
      (spec.stdin_pipe && pipe2(in, O_CLOEXEC) != 0)) {
    *error = std::string("pipe: ") + strerror(errno);
    return nullptr;
  }
  // Everything the child needs is prepared before fork.
  std::vector<char*> argv;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; e++) {
    std::string entry(*e);
    if (!spec.env.count(entry.substr(0, entry.find('=')))) env_strings.push_back(entry);
  }
  for (const auto& [k, v] : spec.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_t pid = fork();
  if (pid < 0) {
    *error = std::string("fork: ") + strerror(errno);
    return nullptr;
  }
  if (pid == 0) {
    // The worker is single-threaded, so its fork may go on as a program of its own: the shim.
    // The held descriptor first moves above the ones about to be placed at 0-4.
    int held = spec.shim_holds >= 0 ? fcntl(spec.shim_holds, F_DUPFD, 5) : -1;
    dup2(spec.stdin_pipe ? in[0] : open("/dev/null", O_RDONLY), 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    dup2(lifeline[0], 3);
    if (held >= 0) dup2(held, 4);
    close_range(held >= 0 ? 5 : 4, ~0U, 0);  // the worker's connections, other jobs' pipes
    RunShim(3, held >= 0 ? 4 : -1, argv.data(), envp.data(),
            spec.cwd.empty() ? nullptr : spec.cwd.c_str());
  }
  close(lifeline[0]);
  close(out[1]);
  close(err[1]);
  if (spec.stdin_pipe) close(in[0]);

  std::unique_ptr<Process> p(new Process(loop));
  p->pid_ = pid;
  p->stdin_fd_ = in[1];
  p->lifeline_fd_ = lifeline[1];
  p->max_output_ = spec.max_output;
  p->on_exit_ = std::move(on_exit);
  p->on_line_ = std::move(on_line);
  p->on_output_ = spec.on_output;
  p->child_.set(loop);
  p->child_.set<Process, &Process::OnChild>(p.get());
  p->child_.start(pid, 0);
  for (auto [watch, fd] : {std::pair{&p->out_watch_, out[0]}, std::pair{&p->err_watch_, err[0]}}) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    watch->set(loop);
    watch->set<Process, &Process::OnRead>(p.get());
    watch->start(fd, ev::READ);
    p->open_pipes_++;
  }
  p->kill_timer_.set(loop);
  p->kill_timer_.set<Process, &Process::OnKillTimer>(p.get());
  return p;
}

Process::~Process() {
  CloseLifeline();  // the shim kills whatever still runs
  child_.stop();
  for (ev::io* w : {&out_watch_, &err_watch_}) {
    if (w->is_active()) {
      w->stop();
      close(w->fd);
    }
  }
  kill_timer_.stop();
  if (stdin_fd_ >= 0) close(stdin_fd_);
}

void Process::Write(std::string_view data) {
  while (!data.empty() && stdin_fd_ >= 0) {
    ssize_t n = write(stdin_fd_, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

void Process::Kill(int grace_ms) {
  if (!running_) return;
  kill(pid_, SIGTERM);  // the shim passes it to the job's whole tree
  kill_timer_.start(grace_ms / 1000.0, 0);
}

void Process::OnKillTimer(ev::timer&, int) { CloseLifeline(); }

void Process::CloseLifeline() {
  if (lifeline_fd_ < 0) return;
  close(lifeline_fd_);
  lifeline_fd_ = -1;
}

void Process::OnRead(ev::io& w, int) {
  char buf[16384];
  ssize_t n = read(w.fd, buf, sizeof(buf));
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    w.stop();
    close(w.fd);
    open_pipes_--;
    return MaybeFinish();
  }
  std::string_view data(buf, static_cast<size_t>(n));
  if (on_output_) on_output_(&w == &err_watch_, data);
  if (&w == &out_watch_ && on_line_) {
    line_buffer_.append(data);
    size_t nl;
    while ((nl = line_buffer_.find('\n')) != std::string::npos) {
      std::string line = line_buffer_.substr(0, nl);
      line_buffer_.erase(0, nl + 1);
      on_line_(line);
    }
    return;
  }
  std::string& sink = &w == &out_watch_ ? exit_.out : exit_.err;
  size_t room = max_output_ > sink.size() ? max_output_ - sink.size() : 0;
  if (data.size() > room) exit_.truncated = true;
  sink.append(data.substr(0, room));
}

void Process::OnChild(ev::child& w, int) {
  w.stop();
  running_ = false;
  kill_timer_.stop();
  exited_ = true;
  if (WIFEXITED(w.rstatus)) {
    exit_.status = WEXITSTATUS(w.rstatus);
  } else if (WIFSIGNALED(w.rstatus)) {
    exit_.signal = WTERMSIG(w.rstatus);
  }
  CloseLifeline();
  MaybeFinish();
}

void Process::MaybeFinish() {
  // Done once it exited and its pipes are drained (or closed by a grandchild's exit).
  if (!exited_ || open_pipes_ > 0 || !on_exit_) return;
  auto done = std::move(on_exit_);
  on_exit_ = nullptr;
  done(std::move(exit_));
}

}  // namespace desaster::worker
