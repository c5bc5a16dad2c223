// ruby: runs resque-style jobs ({"class": "Klass", "args": [...]}) in a Ruby process that booted
// the application once (worker/ruby/runner.rb) and forks a child per job.
#include <signal.h>

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
  RubyAdapter(ev::loop_ref loop, const AdapterOptions& o) : loop_(loop), options_(o) {}
  std::string_view name() const override { return "ruby"; }

  bool Accepts(const JobSpec& job) const override {
    json j = json::parse(job.payload, nullptr, false);
    return j.is_object() && j.contains("class") && !j.contains("argv");
  }

  // Boots the runner (once; again only if it died).
  bool Boot(std::string* error) {
    if (runner_ && runner_->running()) return true;
    ProcessSpec spec;
    spec.argv = {"ruby", options_.ruby_runner, options_.ruby_boot};
    spec.stdin_pipe = true;
    runner_ = Process::Start(
        loop_, spec, [this](ProcessExit e) { OnRunnerExit(std::move(e)); },
        [this](std::string_view line) { OnLine(line); }, error);
    return runner_ != nullptr;
  }

  std::unique_ptr<Run> Start(const JobSpec& job, std::function<void(Outcome)> done) override {
    json j = json::parse(job.payload, nullptr, false);
    if (!j.is_object() || !j.contains("class") || !j["class"].is_string()) {
      done(Outcome::Failed(
          "BadJob", "a ruby job's payload is {\"class\": \"Klass\", \"args\": [...]}", true));
      return nullptr;
    }
    if (std::string error; !Boot(&error)) {
      done(Outcome::Failed("BadJob", "cannot start ruby: " + error, false));
      return nullptr;
    }
    json args = j.contains("args") && j["args"].is_array() ? j["args"] : json::array();
    running_[job.id] = {std::move(done), 0, false};
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
    pid_t pid;
    bool killed;
  };

  void OnLine(std::string_view line) {
    json m = json::parse(line, nullptr, false);
    if (!m.is_object()) return;
    if (m.contains("booted")) return;  // the app is up; jobs already queued on stdin run now
    std::string id = m.value("id", "");
    auto it = running_.find(id);
    if (it == running_.end()) return;
    if (m.contains("pid")) {
      it->second.pid = m["pid"];
      return;
    }
    Outcome o;
    o.ok = m.value("ok", false);
    if (!o.ok) {
      o.error_class = it->second.killed ? "Killed" : m.value("error", "Error");
      o.message = m.value("message", "");
      o.backtrace = m.value("backtrace", "");
    }
    auto done = std::move(it->second.done);
    running_.erase(it);
    done(std::move(o));
  }

  void OnRunnerExit(ProcessExit e) {
    // The Ruby process died (a boot error, or killed): its jobs failed; the next job boots it
    // again.
    std::string why = e.err.empty() ? "the ruby runner exited" : e.err;
    auto running = std::move(running_);
    running_.clear();
    for (auto& [id, r] : running) r.done(Outcome{false, "", "RunnerDied", why, ""});
  }

  ev::loop_ref loop_;
  AdapterOptions options_;
  std::unique_ptr<Process> runner_;
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
