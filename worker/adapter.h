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

  // A job that failed before it could run.
  static Outcome Failed(std::string error_class, std::string message, bool permanent) {
    Outcome o;
    o.error_class = std::move(error_class);
    o.message = std::move(message);
    o.permanent = permanent;
    return o;
  }
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
};

class Adapter {
 public:
  virtual ~Adapter() = default;
  virtual std::string_view name() const = 0;
  // Whether this adapter is the one for `job` (the payload says how it wants to run).
  virtual bool Accepts(const JobSpec& job) const = 0;
  // Starts `job`; `done` is called exactly once when it ends. A job that cannot start ends
  // at once: `done` runs before Start returns, and Start returns nullptr.
  virtual std::unique_ptr<Run> Start(const JobSpec& job, std::function<void(Outcome)> done) = 0;
};

struct AdapterInfo {
  std::string_view name;
  std::unique_ptr<Adapter> (*make)(ev::loop_ref loop, const AdapterOptions& options,
                                   std::string* error);
};
const std::vector<AdapterInfo>& Adapters();

}  // namespace desaster::worker
