# Failed jobs with a resque-shaped worker: it pops with LPOP and, when a job raises, writes the
# failure to resque:failed exactly as Resque::Failure::Redis#save does. Nothing in it knows about
# desaster; the server records each failure, retries it with the queue's backoff, and moves a job
# that keeps failing to the dead set.
require "minitest/autorun"
require "json"
require "tmpdir"
require "redis"
require "redis/namespace"

Redis.sadd_returns_boolean = false

require_relative "scheduler_helper"

# The job classes. FlakyJob fails its first two runs; AlwaysFails always does.
class FlakyJob
  def self.perform(redis, key)
    raise IOError, "connection reset by peer (run #{redis.incr(key)})" if redis.get(key).to_i < 2
  end
end

class AlwaysFails
  def self.perform(_redis, id)
    raise ArgumentError, "invoice #{id} has no customer"
  end
end

# What a resque worker does for one job (Resque::Worker#perform + Resque::Failure::Redis#save).
def work_one(redis, resque, queue, worker_id)
  payload = resque.lpop("queue:#{queue}") or return nil
  job = JSON.parse(payload)
  begin
    Object.const_get(job["class"]).perform(redis, *job["args"])
    resque.incr("stat:processed")
    [:ok, job]
  rescue StandardError => e
    resque.rpush("failed", JSON.generate(
      "failed_at" => Time.now.strftime("%Y/%m/%d %H:%M:%S %Z"), "payload" => job,
      "exception" => e.class.to_s, "error" => e.message, "backtrace" => e.backtrace,
      "worker" => worker_id, "queue" => queue))
    resque.incr("stat:failed")
    [:failed, job]
  end
end

class ResqueFailureTest < SchedulerTestCase

  def failed_jobs(*filters)
    reply = @redis.call("FAILED.LIST", *filters, "LIMIT", "1000").each_slice(2).to_h
    reply["failures"].map { |f| f.each_slice(2).to_h }
  end

  def enqueue(queue, klass, *args)
    @resque.sadd("queues", queue)
    @resque.rpush("queue:#{queue}", JSON.generate("class" => klass, "args" => args))
  end

  def test_failures_are_recorded_retried_with_backoff_and_end_dead
    # A short test policy: 3 retries, 0.2 s apart.
    @redis.call("QUEUE.CONFIG", "resque:queue:billing", "RETRY", "3", "BACKOFF", "0.2")
    enqueue("billing", "FlakyJob", "flaky:1")
    enqueue("billing", "AlwaysFails", 17)
    outcomes = []
    wait_for("the flaky job to succeed and the other to die", timeout: 30) do
      while (result = work_one(@redis, @resque, "billing", "host:#{Process.pid}:billing"))
        outcomes << result
      end
      outcomes.count { |o, _| o == :ok } == 1 && failed_jobs("STATE", "dead").size == 1
    end
    # Unchanged resque tooling sees every failure in resque:failed.
    assert_equal 6, @resque.llen("failed")
    first = JSON.parse(@resque.lindex("failed", 0))
    assert_equal "IOError", first["exception"]
    # FlakyJob: failed twice, then ran (its third run carried retry_count 2).
    flaky = failed_jobs("CLASS", "FlakyJob").sort_by { |f| f["attempt"] }
    assert_equal [1, 2], flaky.map { |f| f["attempt"] }
    assert_equal %w[retried retried], flaky.map { |f| f["state"] }
    ok_job = outcomes.find { |o, _| o == :ok }[1]
    assert_equal 2, ok_job["retry_count"]
    # AlwaysFails: 4 runs (1 + 3 retries), the last one dead; one fingerprint for all four.
    dead = failed_jobs("CLASS", "AlwaysFails").sort_by { |f| f["attempt"] }
    assert_equal [1, 2, 3, 4], dead.map { |f| f["attempt"] }
    assert_equal %w[retried retried retried dead], dead.map { |f| f["state"] }
    assert_equal 1, dead.map { |f| f["fingerprint"] }.uniq.size
    assert_equal "invoice 17 has no customer", dead.last["message"]
    assert_equal "ArgumentError", dead.last["error"]
    assert_includes dead.last["backtrace"], "resque_failure_test.rb"
    assert_equal "resque:queue:billing", dead.last["queue"]
    groups = @redis.call("FAILED.GROUPS", "BY", "fingerprint").map { |g| g.each_slice(2).to_h }
    assert_equal [4, 2], groups.map { |g| g["count"] }
    # The backoff between a failure and its retry is the policy's 0.2 s; the dead one has none.
    assert_equal [200, 200, 200], dead.first(3).map { |f| f["retry_at"] - f["failed_at"] }
    assert_nil @redis.call("FAILED.INFO", dead.last["id"]).each_slice(2).to_h["retry_at"]
    # A person retries the dead one by its group; it runs (and fails) once more.
    assert_equal 1, @redis.call("FAILED.RETRY", "WHERE", "STATE", "dead", "FINGERPRINT",
                                dead.last["fingerprint"])
    assert_equal :failed, work_one(@redis, @resque, "billing", "w")[0]
  end

  def test_default_policy_backs_off_polynomially
    enqueue("mail", "AlwaysFails", 1)
    assert_equal :failed, work_one(@redis, @resque, "mail", "w")[0]
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
    assert_equal 1, @resque.llen("queue:mail")
  end

  def test_pending_retries_survive_a_restart
    @redis.call("QUEUE.CONFIG", "resque:queue:reports", "RETRY", "5", "BACKOFF", "1.5")
    enqueue("reports", "AlwaysFails", 3)
    assert_equal :failed, work_one(@redis, @resque, "reports", "w")[0]
    (f,) = failed_jobs
    stop_scheduler(@pid, @redis)
    @pid, @redis = start_scheduler(@dir)
    @resque = Redis::Namespace.new(:resque, redis: @redis)
    (again,) = failed_jobs
    assert_equal f["id"], again["id"]
    assert_equal "retrying", again["state"]
    payload = wait_for("the retry after the restart") { @resque.lpop("queue:reports") }
    assert_operator Time.now.to_f * 1000, :>=, f["retry_at"]
    assert_equal 1, JSON.parse(payload)["retry_count"]
    # It fails again; cancelling that pending retry makes it dead and deletes the retry job.
    @resque.rpush("queue:reports", payload)
    assert_equal :failed, work_one(@redis, @resque, "reports", "w")[0]
    pending = failed_jobs("STATE", "retrying")
    assert_equal [2], pending.map { |p| p["attempt"] }
    assert_equal 1, @redis.call("FAILED.CANCEL", pending[0]["id"])
    assert_equal "dead", failed_jobs("STATE", "dead")[0]["state"]
    jobs = @redis.call("QUEUE.JOBS", "resque:queue:reports").each_slice(2).to_h
    assert_equal 0, jobs["total"]
  end
end
