// ruby: runs resque-style jobs ({"class": "Klass", "args": [...]}) in a Ruby process that booted
// the application once (worker/ruby/runner.rb) and forks a child per job. A job's result is what
// it printed, stdout and stderr together: {"output": text, "truncated": bool}.
#include <signal.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "worker/adapter.h"
#include "worker/process.h"

namespace desaster::worker {
namespace {

using nlohmann::json;

class RubyAdapter;

class RubyRun : public Run {
 public:
  RubyRun(RubyAdapter* adapter, std::string id) : adapter_(adapter), id_(std::move(id)) {}
  ~RubyRun() override;
  void Kill(int grace_ms) override;

 private:
  RubyAdapter* adapter_;
  std::string id_;
};

class RubyAdapter : public Adapter {
 public:
  RubyAdapter(ev::loop_ref loop, const AdapterOptions& o) : loop_(loop), options_(o) {
    reboot_.set(loop_);
    reboot_.set<RubyAdapter, &RubyAdapter::OnRebootTimer>(this);
  }
  std::string_view name() const override { return "ruby"; }
  std::string problem() const override { return problem_; }

  bool Accepts(const JobSpec& job) const override {
    json j = json::parse(job.payload, nullptr, false);
    return j.is_object() && j.contains("class") && !j.contains("argv");
  }

  // Boots the runner (once; again only if it died).
  bool Boot(std::string* error) {
    if (runner_ && runner_->running()) return true;
    booted_ = false;
    ProcessSpec spec;
    spec.argv = {"ruby", options_.ruby_runner, options_.ruby_boot};
    spec.stdin_pipe = true;
    spec.shim_holds = options_.id_lock;
    runner_ = Process::Start(
        loop_, spec, [this](ProcessExit e) { OnRunnerExit(std::move(e)); },
        [this](std::string_view line) { OnLine(line); }, error);
    return runner_ != nullptr;
  }

  std::unique_ptr<Run> Start(const JobSpec& job, std::function<void(Outcome)> done,
                             RunObserver observer) override {
    json j = json::parse(job.payload, nullptr, false);
    if (!j.is_object() || !j.contains("class") || !j["class"].is_string()) {
      done(Outcome::Failed(
          "BadJob", "a ruby job's payload is {\"class\": \"Klass\", \"args\": [...]}", true));
      return nullptr;
    }
    if (!problem_.empty()) {  // the worker fetched it just before the boot failed
      done(Outcome::NotStarted(problem_));
      return nullptr;
    }
    if (std::string error; !Boot(&error)) {
      done(Outcome::Failed("BadJob", "cannot start ruby: " + error, false));
      return nullptr;
    }
    json args = j.contains("args") && j["args"].is_array() ? j["args"] : json::array();
    running_[job.id] = {std::move(done), std::move(observer), 0, false, {}, false};
    runner_->Write(json{{"id", job.id}, {"class", j["class"]}, {"args", args}}.dump() + "\n");
    return std::make_unique<RubyRun>(this, job.id);
  }

  void Kill(const std::string& id, int grace_ms) {
    auto it = running_.find(id);
    if (it == running_.end()) return;
    it->second.killed = true;
    if (it->second.pid > 0) {
      kill(-it->second.pid, SIGTERM);  // the job's process group (runner.rb)
      auto timer = std::make_unique<ev::timer>(loop_);
      timer->set<RubyAdapter, &RubyAdapter::OnKillTimer>(this);
      timer->start(grace_ms / 1000.0, 0);
      kill_timers_[timer.get()] = it->second.pid;
      timers_.push_back(std::move(timer));
    }
  }

  // The grace period is over: KILL (harmless if the group is gone: ESRCH).
  void OnKillTimer(ev::timer& w, int) {
    kill(-kill_timers_[&w], SIGKILL);
    kill_timers_.erase(&w);
    std::erase_if(timers_, [&](const auto& t) { return t.get() == &w; });
  }

 private:
  struct Running {
    std::function<void(Outcome)> done;
    RunObserver observer;
    pid_t pid;
    bool killed;
    std::string output;  // the first max_output bytes of what it printed
    bool truncated;      // it printed more
  };

  void OnLine(std::string_view line) {
    json m = json::parse(line, nullptr, false);
    if (!m.is_object()) return;
    if (m.contains("booted")) {  // the app is up; jobs already queued on stdin run now
      booted_ = true;
      boot_delay_ms_ = kFirstBootDelayMs;
      if (!problem_.empty()) {
        problem_.clear();
        HealthChanged();
      }
      return;
    }
    std::string id = m.value("id", "");
    auto it = running_.find(id);
    if (it == running_.end()) return;
    if (m.contains("pid")) {
      it->second.pid = m["pid"];
      return;
    }
    Running& run = it->second;
    if (m.contains("progress")) {  // Desaster.progress in the job (runner.rb)
      if (m["progress"].is_number() && run.observer.progress) {
        run.observer.progress(m["progress"].get<double>(), m.value("message", ""));
      }
      return;
    }
    if (m.contains("output")) {
      if (!m["output"].is_string()) return;
      const std::string& text = m["output"].get_ref<const std::string&>();
      if (run.observer.output) run.observer.output(text);
      size_t room = options_.max_output - std::min(options_.max_output, run.output.size());
      run.output.append(text, 0, room);
      run.truncated |= text.size() > room;
      return;
    }
    Outcome o;
    o.ok = m.value("ok", false);
    o.result = json{{"output", run.output}, {"truncated", run.truncated}}.dump(
        -1, ' ', false, json::error_handler_t::replace);
    if (!o.ok) {
      o.error_class = run.killed ? "Killed" : m.value("error", "Error");
      o.message = m.value("message", "");
      o.backtrace = m.value("backtrace", "");
    }
    auto done = std::move(run.done);
    running_.erase(it);
    done(std::move(o));
  }

  void OnRunnerExit(ProcessExit e) {
    auto running = std::move(running_);
    running_.clear();
    if (!booted_) {
      // The application failed to boot (a bad deploy): no job ran, none is charged an attempt.
      // The worker takes no jobs until a boot, retried with backoff, succeeds.
      problem_ = "boot failed: " + ErrorLine(e);
      for (auto& [id, r] : running) r.done(Outcome::NotStarted(problem_));
      reboot_.start(boot_delay_ms_ / 1000.0, 0);
      boot_delay_ms_ = std::min(boot_delay_ms_ * 2, kMaxBootDelayMs);
      return HealthChanged();
    }
    // The booted process died (killed, out of memory): its jobs failed; the next job boots it
    // again.
    std::string why = e.err.empty() ? "the ruby runner exited" : e.err;
    for (auto& [id, r] : running) r.done(Outcome::Failed("RunnerDied", why, false));
  }

  void OnRebootTimer(ev::timer&, int) {
    if (std::string error; !Boot(&error)) {
      problem_ = "cannot start ruby: " + error;
      reboot_.start(boot_delay_ms_ / 1000.0, 0);
    }
  }

  // What Ruby said about the boot's failure: its last line that is not a backtrace frame.
  static std::string ErrorLine(const ProcessExit& e) {
    std::string line;
    size_t start = 0;
    while (start < e.err.size()) {
      size_t end = e.err.find('\n', start);
      if (end == std::string::npos) end = e.err.size();
      if (end > start && e.err[start] != '\t') line = e.err.substr(start, end - start);
      start = end + 1;
    }
    if (line.empty()) {
      return e.signal ? "killed by signal " + std::to_string(e.signal)
                      : "exited with status " + std::to_string(e.status);
    }
    return line.size() > 500 ? line.substr(0, 500) + "..." : line;
  }

  static constexpr int kFirstBootDelayMs = 500, kMaxBootDelayMs = 60000;

  ev::loop_ref loop_;
  AdapterOptions options_;
  std::unique_ptr<Process> runner_;
  bool booted_ = false;  // the runner said the application is loaded
  std::string problem_;  // why no job can run now ("": they can)
  int boot_delay_ms_ = kFirstBootDelayMs;
  ev::timer reboot_;
  std::map<std::string, Running> running_;
  std::map<ev::timer*, pid_t> kill_timers_;
  std::vector<std::unique_ptr<ev::timer>> timers_;
};

RubyRun::~RubyRun() = default;
void RubyRun::Kill(int grace_ms) { adapter_->Kill(id_, grace_ms); }

}  // namespace

std::unique_ptr<Adapter> MakeRubyAdapter(ev::loop_ref loop, const AdapterOptions& options,
                                         std::string* error) {
  auto adapter = std::make_unique<RubyAdapter>(loop, options);
  // Boot now, so the first job does not pay for it and a broken boot file shows at start.
  if (!adapter->Boot(error)) return nullptr;
  return adapter;
}

}  // namespace desaster::worker
