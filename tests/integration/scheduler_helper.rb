# What the Ruby integration tests share: starting a real desaster-scheduler on a free port (it
# picks the port and logs it) and polling with a deadline.
require "fileutils"
require "minitest"
require "redis"
require "redis/namespace"
require "tmpdir"

SCHEDULER = ENV.fetch("DESASTER_SCHEDULER") { File.expand_path("../../build/desaster-scheduler", __dir__) }

module SchedulerHelper
  # Polls the block until it returns a truthy value, or raises after `timeout` seconds.
  def wait_for(what, timeout: 20)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
    loop do
      value = yield
      return value if value
      raise "timed out waiting for #{what}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
      sleep 0.01
    end
  end

  # Starts a scheduler on the data in `dir` (with `options`); returns [pid, connected Redis
  # client] once loaded.
  def start_scheduler(dir, *options)
    log = File.join(dir, "log-#{rand(1 << 30)}")
    pid = spawn(SCHEDULER, "--port", "0", "--data-dir", File.join(dir, "data"), *options,
                out: log, err: log)
    port = wait_for("desaster-scheduler to listen") do
      raise "desaster-scheduler exited:\n#{File.read(log)}" if Process.wait(pid, Process::WNOHANG)
      File.read(log)[/Ready to accept connections on [^ ]+:(\d+)/, 1]
    end.to_i
    redis = Redis.new(host: "127.0.0.1", port: port)
    wait_for("loading") { redis.info("persistence")["loading"] == "0" }
    [pid, redis]
  end

  def stop_scheduler(pid, redis)
    redis&.close
    Process.kill("TERM", pid)
    Process.wait(pid)
  end
end

# A test case with a fresh scheduler per test, @redis connected to it and @resque the
# resque-namespaced view most resque-shaped tests want.
class SchedulerTestCase < Minitest::Test
  include SchedulerHelper

  def setup
    @dir = Dir.mktmpdir("desaster-ruby-")
    @pid, @redis = start_scheduler(@dir)
    @resque = Redis::Namespace.new(:resque, redis: @redis)
  end

  def teardown
    stop_scheduler(@pid, @redis)
    FileUtils.rm_rf(@dir)
  end
end
