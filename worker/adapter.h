// Adapters run jobs for desaster-worker (DESIGN.md §2). Each one turns a job into a running
// process and reports one Outcome when it ends.
//
// Adding an adapter = one new file here and one line in the table in adapter.cc.
#pragma once

#include <ev++.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace desaster::worker {

// What the scheduler handed out (JOB.FETCH).
struct JobSpec {
  std::string id, payload;
};

struct Outcome {
  bool ok = false;
  std::string result;       // JSON text: exit status, output, ...
  std::string error_class;  // failures: "ExitStatus", "Killed", "Timeout", the job's exception
  std::string message, backtrace;
  bool permanent = false;  // no run of this job can succeed (a payload no adapter can run)
  // The job never started (its adapter's application failed to boot): it goes back to its
  // queue as it was, no attempt counted.
  bool not_started = false;

  // A job that failed before it could run.
  static Outcome Failed(std::string error_class, std::string message, bool permanent) {
    Outcome o;
    o.error_class = std::move(error_class);
    o.message = std::move(message);
    o.permanent = permanent;
    return o;
  }
  static Outcome NotStarted(std::string why) {
    Outcome o = Failed("NotStarted", std::move(why), false);
    o.not_started = true;
    return o;
  }
};

// What a job tells while it runs, besides its end: its output as it comes, and the progress it
// reports (from 0 to 100, with what it is doing). Either may be empty: nobody listens.
struct RunObserver {
  std::function<void(std::string_view)> output;
  std::function<void(double percent, std::string_view message)> progress;
};

// A job while it runs.
class Run {
 public:
  virtual ~Run() = default;
  // Stops it: TERM now, KILL after `grace_ms`. Its Outcome then says "Killed".
  virtual void Kill(int grace_ms) = 0;
};

struct AdapterOptions {
  std::string ruby_boot;          // ruby: a boot file, or a Rails app directory
  std::string ruby_runner;        // ruby: path of runner.rb
  size_t max_output = 64 * 1024;  // bytes of stdout/stderr kept per job
  int id_lock = -1;               // the worker's IdLock descriptor, held by every process's shim
};

class Adapter {
 public:
  virtual ~Adapter() = default;
  virtual std::string_view name() const = 0;
  // Whether this adapter is the one for `job` (the payload says how it wants to run).
  virtual bool Accepts(const JobSpec& job) const = 0;
  // Starts `job`; `done` is called exactly once when it ends, `observer` hears from it while it
  // runs. A job that cannot start ends at once: `done` runs before Start returns, and Start
  // returns nullptr.
  virtual std::unique_ptr<Run> Start(const JobSpec& job, std::function<void(Outcome)> done,
                                     RunObserver observer) = 0;
  // Why the adapter cannot run jobs now ("" when it can): its application failed to boot. It
  // tries again by itself, and calls the health callback whenever this changes.
  virtual std::string problem() const { return ""; }
  void set_on_health(std::function<void()> f) { on_health_ = std::move(f); }

 protected:
  void HealthChanged() {
    if (on_health_) on_health_();
  }

 private:
  std::function<void()> on_health_;
};

struct AdapterInfo {
  std::string_view name;
  std::unique_ptr<Adapter> (*make)(ev::loop_ref loop, const AdapterOptions& options,
                                   std::string* error);
};
const std::vector<AdapterInfo>& Adapters();

}  // namespace desaster::worker
