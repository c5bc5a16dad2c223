# Failed jobs with resque's own job format and two forking resque-style workers: each pops with
# LPOP, forks a child per job, and when a job raises writes the failure to resque:failed
# exactly as Resque::Failure::Redis#save does. Nothing in them knows about desaster; the server
# keeps one failure record per job, retries it with the queue's backoff (pushing the client's
# bytes unchanged, so Resque.dequeue still finds it), and moves a job that keeps failing to the
# dead.
require "minitest/autorun"
require "json"
require "tmpdir"
require "redis"
require "redis/namespace"

Redis.sadd_returns_boolean = false

require_relative "scheduler_helper"

# resque is not a Debian package; these are its encoding and its queue operations, byte for
# byte (Resque.encode is JSON.dump; Resque.push and Job.destroy's LREM use it).
module ResqueFormat
  def self.encode(object) = JSON.dump(object)
  def self.push(resque, queue, klass, *args)
    resque.sadd("queues", queue)
    resque.rpush("queue:#{queue}", encode(class: klass.to_s, args: args))
  end

  # Resque.dequeue(klass, *args): removes every queued copy of that exact job.
  def self.dequeue(resque, queue, klass, *args)
    resque.lrem("queue:#{queue}", 0, encode(class: klass.to_s, args: args))
  end

  # Resque.info's numbers.
  def self.info(resque)
    { processed: resque.get("stat:processed").to_i, failed: resque.llen("failed"),
      failed_stat: resque.get("stat:failed").to_i }
  end
end

# The job classes. FlakyJob fails its first two runs; AlwaysFails always does.
class FlakyJob
  def self.perform(redis, key, _options)
    raise IOError, "connection reset by peer (run #{redis.incr(key)})" if redis.get(key).to_i < 2
  end
end

class AlwaysFails
  def self.perform(_redis, id, _options)
    raise ArgumentError, "invoice #{id} has no customer"
  end
end

# A forking resque worker (Resque::Worker#work's loop): pops, forks a child that performs the
# job, records a failure the child reports. Each popped payload is logged to `seen`.
def resque_worker(port, queue, name, seen)
  fork do
    redis = Redis.new(host: "127.0.0.1", port: port)
    resque = Redis::Namespace.new(:resque, redis: redis)
    until redis.get("test:stop")
      payload = resque.lpop("queue:#{queue}")
      next sleep(0.01) unless payload

      File.open(seen, "a") { |f| f.puts(payload) }
      job = JSON.parse(payload)
      reader, writer = IO.pipe
      child = fork do
        reader.close
        Object.const_get(job["class"]).perform(Redis.new(host: "127.0.0.1", port: port), *job["args"])
        exit!(0)
      rescue StandardError => e
        writer.write(JSON.dump([e.class.to_s, e.message, e.backtrace]))
        exit!(1)
      end
      writer.close
      failure = reader.read
      Process.wait(child)
      if failure.empty?
        resque.incr("stat:processed")
      else
        exception, message, backtrace = JSON.parse(failure)
        resque.rpush("failed", ResqueFormat.encode(
          failed_at: Time.now.utc.strftime("%Y/%m/%d %H:%M:%S %Z"), payload: job,
          exception: exception, error: message, backtrace: backtrace,
          worker: "#{name}:#{Process.pid}:#{queue}", queue: queue))
        resque.incr("stat:failed")
      end
    end
    exit!(0)
  end
end

class ResqueFailureTest < SchedulerTestCase
  def failed_jobs(*filters)
    reply = @redis.call("FAILED.LIST", *filters, "LIMIT", "1000").each_slice(2).to_h
    reply["failures"].map { |f| f.each_slice(2).to_h }
  end

  def counts = @redis.call("FAILED.COUNTS").each_slice(2).to_h

  def work(queue)
    port = @redis.connection[:port]
    @seen = File.join(@dir, "seen")
    pids = [resque_worker(port, queue, "a", @seen), resque_worker(port, queue, "b", @seen)]
    yield
  ensure
    @redis.set("test:stop", "1")
    pids&.each { |pid| Process.wait(pid) }
    @redis.del("test:stop")
  end

  # Keys in an order no sorted re-encoding keeps, and text JSON may escape differently.
  OPTIONS = { "zeta" => 1, "alpha" => [true, nil], "note" => "caf\u00e9 \u2603" }.freeze

  def test_retried_jobs_keep_their_bytes_one_record_each_and_resque_numbers_agree
    # A short test policy: 3 retries, 0.2 s apart.
    @redis.call("QUEUE.CONFIG", "resque:queue:billing", "RETRY", "3", "BACKOFF", "0.2")
    ResqueFormat.push(@resque, "billing", FlakyJob, "flaky:1", OPTIONS)
    ResqueFormat.push(@resque, "billing", AlwaysFails, 17, OPTIONS)
    flaky_bytes = ResqueFormat.encode(class: "FlakyJob", args: ["flaky:1", OPTIONS])
    dead_bytes = ResqueFormat.encode(class: "AlwaysFails", args: [17, OPTIONS])
    work("billing") do
      wait_for("the flaky job to succeed and the other to die", timeout: 30) do
        @resque.get("stat:processed").to_i == 1 && counts["dead"] == 1
      end
    end
    # Every run of every job got the bytes its client pushed.
    runs = File.readlines(@seen, chomp: true).tally
    assert_equal({ flaky_bytes => 3, dead_bytes => 4 }, runs)
    # One record per job; its runs are in its history.
    assert_equal({ "total" => 2, "retrying" => 0, "retried" => 1, "dead" => 1 }, counts)
    flaky, dead = %w[FlakyJob AlwaysFails].map { |k| failed_jobs("CLASS", k).first }
    assert_equal [flaky_bytes, dead_bytes], [flaky["payload"], dead["payload"]]
    assert_equal [2, "retried", [1]], [flaky["attempt"], flaky["state"],
                                       flaky["history"].map { |h| h.each_slice(2).to_h["attempt"] }]
    assert_equal [4, "dead", [1, 2, 3]], [dead["attempt"], dead["state"],
                                          dead["history"].map { |h| h.each_slice(2).to_h["attempt"] }]
    assert_equal "invoice 17 has no customer", dead["message"]
    assert_equal "ArgumentError", dead["error"]
    assert_includes dead["backtrace"], "resque_failure_test.rb"
    # resque's numbers stay resque's (a report per failed run), and agree with the records.
    info = ResqueFormat.info(@resque)
    assert_equal({ processed: 1, failed: 6, failed_stat: 6 }, info)
    assert_equal info[:failed], failed_jobs.sum { |f| f["attempt"] }
    # The backoff before the last retry of the dead job was the policy's 0.2 s; dead has none.
    assert_nil dead["retry_at"]
    # A person retries the dead one: it is back in its queue exactly as pushed, so
    # Resque.dequeue finds it and LREM removes it.
    assert_equal 1, @redis.call("FAILED.RETRY", "WHERE", "STATE", "dead")
    assert_equal 1, ResqueFormat.dequeue(@resque, "billing", AlwaysFails, 17, OPTIONS)
    assert_equal 0, @resque.llen("queue:billing")
  end

  def test_retrying_a_group_runs_each_job_once
    @redis.call("QUEUE.CONFIG", "resque:queue:sync", "RETRY", "2", "BACKOFF", "0")
    10.times { |i| ResqueFormat.push(@resque, "sync", AlwaysFails, i, OPTIONS) }
    work("sync") { wait_for("ten dead jobs", timeout: 30) { counts["dead"] == 10 } }
    assert_equal 30, @resque.llen("failed")  # three runs each
    group = @redis.call("FAILED.GROUPS", "BY", "fingerprint").map { |g| g.each_slice(2).to_h }
    assert_equal [10], group.map { |g| g["count"] }
    assert_equal 10, @redis.call("FAILED.RETRY", "WHERE", "FINGERPRINT", group[0]["fingerprint"])
    assert_equal 10, @resque.llen("queue:sync")  # ten jobs, not thirty
    # Retrying again while they wait adds nothing: each is queued once.
    assert_equal 10, @redis.call("FAILED.RETRY", "WHERE", "FINGERPRINT", group[0]["fingerprint"])
    assert_equal 10, @resque.llen("queue:sync")
  end

  def test_default_policy_backs_off_polynomially
    ResqueFormat.push(@resque, "mail", AlwaysFails, 1, OPTIONS)
    work("mail") { wait_for("the failure") { counts["total"] == 1 } }
    (f,) = failed_jobs
    assert_equal "retrying", f["state"]
    delay = f["retry_at"] - f["failed_at"]
    # Attempt 1: 0^4 + 15 + rand(10) * 1 seconds.
    assert_operator delay, :>=, 15_000
    assert_operator delay, :<=, 24_000
    assert_equal 0, @resque.llen("queue:mail")  # waits as a scheduled job, visible natively
    jobs = @redis.call("QUEUE.JOBS", "resque:queue:mail", "STATE", "scheduled").each_slice(2).to_h
    assert_equal 1, jobs["total"]
    # Run it now instead.
    assert_equal 1, @redis.call("FAILED.RETRY", f["id"])
    assert_equal [ResqueFormat.encode(class: "AlwaysFails", args: [1, OPTIONS])],
                 @resque.lrange("queue:mail", 0, -1)
  end

  def test_the_server_wide_retry_switch
    stop_scheduler(@pid, @redis)
    @pid, @redis = start_scheduler(@dir, "--retry", "0")  # resque's own behaviour: no re-runs
    @resque = Redis::Namespace.new(:resque, redis: @redis)
    @redis.call("QUEUE.CONFIG", "resque:queue:kept", "RETRY", "1", "BACKOFF", "0")
    config = @redis.call("QUEUE.CONFIG", "resque:queue:plain").each_slice(2).to_h
    assert_equal [0, 1], [config["retry"], config["retry_default"]]
    ResqueFormat.push(@resque, "plain", AlwaysFails, 1, OPTIONS)
    ResqueFormat.push(@resque, "kept", AlwaysFails, 2, OPTIONS)
    work("plain") { wait_for("the plain failure") { counts["total"] == 1 } }
    assert_equal "dead", failed_jobs.first["state"]
    work("kept") { wait_for("the kept job's two runs") { counts["dead"] == 2 } }
    assert_equal 2, failed_jobs("QUEUE", "resque:queue:kept").first["attempt"]
    # CONFIG SET turns retries back on for queues without their own policy.
    assert_equal "OK", @redis.call("CONFIG", "SET", "retry", "5")
    assert_equal 5, @redis.call("QUEUE.CONFIG", "resque:queue:plain").each_slice(2).to_h["retry"]
    ResqueFormat.push(@resque, "plain", AlwaysFails, 3, OPTIONS)
    work("plain") { wait_for("a retrying failure") { counts["retrying"] == 1 } }
  end

  def test_pending_retries_survive_a_restart
    @redis.call("QUEUE.CONFIG", "resque:queue:reports", "RETRY", "5", "BACKOFF", "1.5")
    ResqueFormat.push(@resque, "reports", AlwaysFails, 3, OPTIONS)
    bytes = ResqueFormat.encode(class: "AlwaysFails", args: [3, OPTIONS])
    work("reports") { wait_for("the failure") { counts["total"] == 1 } }
    (f,) = failed_jobs
    stop_scheduler(@pid, @redis)
    @pid, @redis = start_scheduler(@dir)
    @resque = Redis::Namespace.new(:resque, redis: @redis)
    (again,) = failed_jobs
    assert_equal [f["id"], "retrying"], [again["id"], again["state"]]
    work("reports") { wait_for("the retry after the restart to fail") { failed_jobs.first["attempt"] == 2 } }
    (f2,) = failed_jobs
    assert_operator f2["failed_at"], :>=, f["retry_at"]
    assert_equal [bytes, "retrying", 1], [f2["payload"], f2["state"], f2["history"].size]
    # Cancelling that pending retry makes it dead and deletes the retry job.
    assert_equal 1, @redis.call("FAILED.CANCEL", f2["id"])
    assert_equal "dead", failed_jobs("STATE", "dead")[0]["state"]
    jobs = @redis.call("QUEUE.JOBS", "resque:queue:reports").each_slice(2).to_h
    assert_equal 0, jobs["total"]
  end
end
