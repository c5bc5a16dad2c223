// command: runs a native program. The payload says what:
//   {"argv": ["convert", "in.png", "out.jpg"], "env": {"K": "V"}, "cwd": "/tmp", "timeout": 60}
//   {"command": "gzip -9 *.log", "shell": true}      (only with "shell": true is a shell used)
// Exit status 0 acks the job; anything else fails it. The result holds the exit status and the
// captured stdout/stderr (bounded by --max-output). Output is also passed on as it comes, and a
// line "desaster-progress <percent> [what it is doing]" on stdout reports progress.
#include <nlohmann/json.hpp>

#include "worker/adapter.h"
#include "worker/process.h"

namespace desaster::worker {
namespace {

using nlohmann::json;

class CommandRun : public Run {
 public:
  CommandRun(ev::loop_ref loop) : timer_(loop) {}
  void Kill(int grace_ms) override {
    killed_ = true;
    process_->Kill(grace_ms);
  }

  std::unique_ptr<Process> process_;
  ev::timer timer_;
  bool killed_ = false, timed_out_ = false;
  std::string stdout_line_;  // stdout since its last newline, for progress lines

  // Passes `data` on, and the progress lines of stdout.
  void OnOutput(const RunObserver& observer, bool err, std::string_view data) {
    if (observer.output) observer.output(data);
    if (err || !observer.progress) return;
    stdout_line_.append(data);
    size_t nl;
    while ((nl = stdout_line_.find('\n')) != std::string::npos) {
      ReportProgress(std::string_view(stdout_line_).substr(0, nl), observer);
      stdout_line_.erase(0, nl + 1);
    }
    if (stdout_line_.size() > 4096) stdout_line_.clear();  // too long to be a progress line
  }

  static void ReportProgress(std::string_view line, const RunObserver& observer) {
    constexpr std::string_view kPrefix = "desaster-progress ";
    if (!line.starts_with(kPrefix)) return;
    std::string rest(line.substr(kPrefix.size()));
    char* end = nullptr;
    double percent = strtod(rest.c_str(), &end);
    if (end == rest.c_str() || !(percent >= 0 && percent <= 100)) return;
    std::string_view message(end);
    while (!message.empty() && (message.front() == ' ' || message.back() == '\r')) {
      message.front() == ' ' ? message.remove_prefix(1) : message.remove_suffix(1);
    }
    observer.progress(percent, message);
  }

  void OnTimeout(ev::timer&, int) {
    timed_out_ = true;
    process_->Kill(5000);
  }
};

class CommandAdapter : public Adapter {
 public:
  CommandAdapter(ev::loop_ref loop, const AdapterOptions& o) : loop_(loop), options_(o) {}
  std::string_view name() const override { return "command"; }

  bool Accepts(const JobSpec& job) const override {
    json j = json::parse(job.payload, nullptr, false);
    return j.is_object() &&
           (j.contains("argv") || j.contains("command") || j.value("adapter", "") == "command");
  }

  std::unique_ptr<Run> Start(const JobSpec& job, std::function<void(Outcome)> done,
                             RunObserver observer) override {
    ProcessSpec spec;
    spec.max_output = options_.max_output;
    spec.shim_holds = options_.id_lock;
    double timeout = 0;
    std::string problem = Parse(job.payload, &spec, &timeout);
    // A payload that says nothing runnable never will; a process that could not be started
    // (no pipes or processes left) may start next time.
    bool unrunnable = !problem.empty();
    auto run = std::make_unique<CommandRun>(loop_);
    if (problem.empty()) {
      CommandRun* r = run.get();
      spec.on_output = [r, observer = std::move(observer)](bool err, std::string_view data) {
        r->OnOutput(observer, err, data);
      };
      run->process_ = Process::Start(
          loop_, spec,
          [r, done](ProcessExit e) {
            r->timer_.stop();
            Outcome o;
            o.result = json{{"exit", e.status},
                            {"signal", e.signal},
                            {"stdout", e.out},
                            {"stderr", e.err},
                            {"truncated", e.truncated}}
                           .dump(-1, ' ', false, json::error_handler_t::replace);
            o.ok = e.status == 0 && !r->killed_ && !r->timed_out_;
            if (r->killed_) {
              o.error_class = "Killed";
              o.message = "killed on request (JOB.KILL)";
            } else if (r->timed_out_) {
              o.error_class = "Timeout";
              o.message = "ran longer than its timeout";
            } else if (!o.ok) {
              o.error_class = "ExitStatus";
              o.message = e.signal ? "killed by signal " + std::to_string(e.signal)
                                   : "exited with status " + std::to_string(e.status);
              o.backtrace = e.err;
            }
            done(std::move(o));
          },
          nullptr, &problem);
      if (run->process_ && timeout > 0) {
        run->timer_.set<CommandRun, &CommandRun::OnTimeout>(r);
        run->timer_.start(timeout, 0);
      }
    }
    if (!problem.empty()) {
      done(Outcome::Failed("BadCommand", problem, unrunnable));
      return nullptr;
    }
    return run;
  }

 private:
  // Fills `spec` from the payload; returns what is wrong with it, or "".
  static std::string Parse(const std::string& payload, ProcessSpec* spec, double* timeout) {
    json j = json::parse(payload, nullptr, false);
    if (!j.is_object()) return "the payload is not a JSON object";
    if (j.contains("argv")) {
      if (!j["argv"].is_array() || j["argv"].empty()) return "argv must be a non-empty array";
      for (const auto& a : j["argv"]) {
        if (!a.is_string()) return "argv must hold strings";
        spec->argv.push_back(a);
      }
    } else if (j.contains("command") && j["command"].is_string()) {
      if (!j.value("shell", false)) {
        return "\"command\" runs through a shell only with \"shell\": true (or use argv)";
      }
      spec->argv = {"/bin/sh", "-c", j["command"]};
    } else {
      return "the payload needs argv (an array) or command with shell: true";
    }
    if (j.contains("env")) {
      if (!j["env"].is_object()) return "env must be an object";
      for (const auto& [k, v] : j["env"].items()) {
        if (!v.is_string()) return "env values must be strings";
        spec->env[k] = v;
      }
    }
    if (j.contains("cwd")) {
      if (!j["cwd"].is_string()) return "cwd must be a string";
      spec->cwd = j["cwd"];
    }
    if (j.contains("timeout")) {
      if (!j["timeout"].is_number() || j["timeout"].get<double>() <= 0) {
        return "timeout must be a positive number of seconds";
      }
      *timeout = j["timeout"];
    }
    return "";
  }

  ev::loop_ref loop_;
  AdapterOptions options_;
};

}  // namespace

std::unique_ptr<Adapter> MakeCommandAdapter(ev::loop_ref loop, const AdapterOptions& options,
                                            std::string*) {
  return std::make_unique<CommandAdapter>(loop, options);
}

}  // namespace desaster::worker
