// desaster-worker: runs jobs from a desaster scheduler with its adapters.
#include <fcntl.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <filesystem>
#include <iostream>

#include "client/command_line.h"
#include "client/scheduler_connection.h"
#include "worker/worker.h"

namespace po = boost::program_options;
using namespace desaster::worker;

namespace {

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    std::string item = s.substr(start, comma - start);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  // Descriptors 0-2 are open (on /dev/null if the caller closed them), so no pipe a job's shim
  // sets up can land on them.
  for (int fd = open("/dev/null", O_RDWR); fd >= 0; fd = open("/dev/null", O_RDWR)) {
    if (fd > 2) {
      close(fd);
      break;
    }
  }
  WorkerOptions o;
  std::string scheduler = "127.0.0.1:6379", queues = "default", adapters = "command";
  std::string capabilities, labels;
  po::options_description desc(
      "desaster-worker: fetches jobs from a desaster scheduler and runs them.\n"
      "With no scheduler answering on a loopback address it starts one (data in --data-dir),\n"
      "so `desaster-worker --queues default` is a complete single-machine setup.\n\nOptions");
  // clang-format off
  desc.add_options()
    ("help,h", "show this help")
    ("scheduler", po::value(&scheduler)->default_value(scheduler), "host:port of the scheduler")
    ("id", po::value(&o.id), "worker id (default host:pid)")
    ("queues,q", po::value(&queues)->default_value(queues),
     "queue keys to work, in priority order, comma-separated (the scheduler may change them: "
     "WORKER.ATTACH/DETACH)")
    ("concurrency,c", po::value(&o.concurrency)->default_value(o.concurrency),
     "jobs run at once")
    ("adapters", po::value(&adapters)->default_value(adapters),
     "adapters to enable: command, ruby")
    ("capabilities", po::value(&capabilities), "extra capabilities to announce (jobs pushed "
     "with CAPABILITY x go only to workers announcing x)")
    ("labels", po::value(&labels), "labels shown in WORKER.LIST")
    ("ruby-boot", po::value(&o.adapter.ruby_boot),
     "ruby adapter: a boot file to require, or a Rails app directory (config/environment.rb)")
    ("ruby-runner", po::value(&o.adapter.ruby_runner), "ruby adapter: path of runner.rb "
     "(default: next to this program, or worker/ruby/runner.rb in the source tree)")
    ("max-output", po::value(&o.adapter.max_output)->default_value(o.adapter.max_output),
     "bytes of stdout/stderr kept per command job")
    ("lease-ms", po::value(&o.lease_ms)->default_value(o.lease_ms),
     "a job whose worker goes silent this long returns to its queue")
    ("heartbeat-ms", po::value(&o.heartbeat_ms)->default_value(o.heartbeat_ms),
     "how often the worker checks in (and learns of kills and queue changes)")
    ("kill-grace-ms", po::value(&o.kill_grace_ms)->default_value(o.kill_grace_ms),
     "JOB.KILL: TERM, then KILL after this long")
    ("shutdown-timeout", po::value(&o.shutdown_timeout_s)->default_value(o.shutdown_timeout_s),
     "SIGTERM: seconds to finish running jobs before exiting (SIGQUIT exits at once)")
    ("spawn-scheduler", po::value(&o.spawn_scheduler)->default_value(o.spawn_scheduler),
     "start a scheduler when none answers on a loopback address")
    ("scheduler-bin", po::value(&o.scheduler_bin), "the desaster-scheduler to start "
     "(default: next to this program)")
    ("data-dir", po::value(&o.data_dir)->default_value(o.data_dir),
     "data directory of a scheduler this worker starts")
    ("cluster", po::value(&o.cluster), "etcd://HOST:PORT[,...]/NAME: the scheduler this worker "
     "starts (and starts again whenever it is gone) is a member of that cluster, and passes "
     "the worker's commands to the cluster's master")
    ("cluster-master", po::value(&o.cluster_master)->default_value(o.cluster_master),
     "cluster mode: the local scheduler may become the master (true | false)")
    ("cluster-advertise", po::value(&o.cluster_advertise), "cluster mode: HOST:PORT where "
     "other nodes reach the local scheduler (default: --scheduler)")
    ("scheduler-arg", po::value(&o.scheduler_args)->composing(),
     "an argument for the scheduler this worker starts (repeat it: --scheduler-arg=--appendfsync "
     "--scheduler-arg=everysec)");
  // clang-format on
  desaster::client::SchedulerAccessOptions access(&desc);
  if (auto exit_status = desaster::client::ParseCommandLine("desaster-worker", argc, argv, desc)) {
    return *exit_status;
  }
  std::string error;
  if (auto resolved = access.Resolve(&error)) {
    o.access = std::move(*resolved);
  } else {
    std::cerr << "desaster-worker: " << error << "\n";
    return 1;
  }
  if (!desaster::client::ParseHostPort(scheduler, &o.host, &o.port)) {
    std::cerr << "desaster-worker: --scheduler takes host:port, not '" << scheduler << "'\n";
    return 1;
  }
  o.queues = SplitList(queues);
  o.adapters = SplitList(adapters);
  o.capabilities = SplitList(capabilities);
  o.labels = SplitList(labels);
  if (o.concurrency < 1) {
    std::cerr << "desaster-worker: --concurrency must be at least 1\n";
    return 1;
  }
  if (o.adapter.ruby_runner.empty()) {
    std::error_code ec;
    auto dir = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();
    for (auto candidate : {dir / "runner.rb", dir / ".." / "worker" / "ruby" / "runner.rb",
                           std::filesystem::path(DESASTER_SOURCE_DIR) / "worker/ruby/runner.rb"}) {
      if (std::filesystem::exists(candidate, ec)) {
        o.adapter.ruby_runner = candidate.string();
        break;
      }
    }
  }
  signal(SIGPIPE, SIG_IGN);
  ev::default_loop loop;
  Worker worker(loop, std::move(o));
  if (!worker.Init(&error)) {
    std::cerr << "desaster-worker: " << error << "\n";
    return 1;
  }
  return worker.Run();
}
