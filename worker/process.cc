#include "worker/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace desaster::worker {

std::unique_ptr<Process> Process::Start(ev::loop_ref loop, const ProcessSpec& spec,
                                        std::function<void(ProcessExit)> on_exit,
                                        std::function<void(std::string_view)> on_line,
                                        std::string* error) {
  if (spec.argv.empty()) {
    *error = "empty argv";
    return nullptr;
  }
  int out[2], err[2], in[2] = {-1, -1};
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0 ||
      (spec.stdin_pipe && pipe2(in, O_CLOEXEC) != 0)) {
    *error = std::string("pipe: ") + strerror(errno);
    return nullptr;
  }
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
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
  pid_t parent = getpid();

  pid_t pid = fork();
  if (pid < 0) {
    *error = std::string("fork: ") + strerror(errno);
    return nullptr;
  }
  if (pid == 0) {
    setpgid(0, 0);  // its own group: a kill reaches what it started too
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the worker died before prctl took effect
    dup2(out[1], 1);
    dup2(err[1], 2);
    if (spec.stdin_pipe) {
      dup2(in[0], 0);
    } else {
      int null = open("/dev/null", O_RDONLY);
      dup2(null, 0);
    }
    if (!spec.cwd.empty() && chdir(spec.cwd.c_str()) != 0) {
      dprintf(2, "cannot change to %s: %s\n", spec.cwd.c_str(), strerror(errno));
      _exit(126);
    }
    signal(SIGPIPE, SIG_DFL);
    execvpe(argv[0], argv.data(), envp.data());
    dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  if (spec.stdin_pipe) close(in[0]);

  std::unique_ptr<Process> p(new Process(loop));
  p->pid_ = pid;
  p->stdin_fd_ = in[1];
  p->max_output_ = spec.max_output;
  p->on_exit_ = std::move(on_exit);
  p->on_line_ = std::move(on_line);
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
  if (running_ && pid_ > 0) kill(-pid_, SIGKILL);
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
  kill(-pid_, SIGTERM);
  kill(pid_, SIGTERM);
  kill_timer_.start(grace_ms / 1000.0, 0);
}

void Process::OnKillTimer(ev::timer&, int) {
  if (running_) {
    kill(-pid_, SIGKILL);
    kill(pid_, SIGKILL);
  }
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
  kill(-pid_, SIGKILL);  // anything it left behind in its group
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
