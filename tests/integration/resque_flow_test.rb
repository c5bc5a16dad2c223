# A resque-shaped flow through Ruby's redis and redis-namespace gems (Debian packages), doing
# what resque 3.0 does on the wire (see shared/reference/clients.md): enqueue with RPUSH, poll
# with LPOP, register workers in sets and hashes, count stats, record failures in
# resque:failed and remove one with LSET "" + LREM "", requeue one, read the web UI's stats.
require "minitest/autorun"
require "json"
require "socket"
require "tmpdir"
require "redis"
require "redis/namespace"

Redis.sadd_returns_boolean = false  # resque 3 counts; silences redis-rb 4.8's deprecation notice

require_relative "scheduler_helper"

class ResqueFlowTest < SchedulerTestCase

  def enqueue(queue, klass, *args)
    @resque.sadd("queues", queue)
    @resque.rpush("queue:#{queue}", JSON.generate("class" => klass, "args" => args))
  end

  def test_enqueue_work_fail_and_retry_like_resque
    200.times { |i| enqueue("default", "HelloJob", i) }
    5.times { |i| enqueue("default", "FlakyJob", i) }
    assert_equal 205, @resque.llen("queue:default")
    assert_equal ["default"], @resque.smembers("queues")
    assert_includes @redis.keys("resque:*"), "resque:queue:default"
    assert_equal "list", @redis.type("resque:queue:default")

    worker = "host:#{Process.pid}:default"
    @resque.pipelined do |p|
      p.sadd("workers", worker)
      p.set("worker:#{worker}:started", Time.now.to_s)
    end
    seconds, _micro = @redis.time
    assert_operator seconds, :>, 1_600_000_000
    assert @resque.set("pruning_dead_workers_in_progress", "1", ex: 60, nx: true)
    refute @resque.set("pruning_dead_workers_in_progress", "1", ex: 60, nx: true)

    queued = @redis.call("QUEUE.JOBS", "resque:queue:default", "LIMIT", "1000")[3]
                   .map { |j| j.each_slice(2).to_h }
    hello_ids = queued.select { |j| j["class"] == "HelloJob" }.map { |j| j["id"] }
    processed = []
    seen_working = false
    while (payload = @resque.lpop("queue:default"))
      job = JSON.parse(payload)
      @resque.set("worker:#{worker}", JSON.generate("queue" => "default", "payload" => job))
      unless seen_working
        # The native API shows the resque worker, its queues and the job it runs.
        listed = @redis.call("WORKER.LIST").map { |w| w.each_slice(2).to_h }
        assert_equal 1, listed.size
        assert_equal ["resque", worker, "host", Process.pid.to_s, ["default"]],
                     listed[0].values_at("kind", "id", "host", "pid", "queues")
        running = listed[0]["jobs"][0].each_slice(2).to_h
        assert_equal "default", running["queue"]
        assert_equal job, JSON.parse(running["payload"])
        seen_working = true
      end
      if job["class"] == "FlakyJob"
        @resque.rpush("failed", JSON.generate("payload" => job, "exception" => "RuntimeError",
                                              "error" => "flaky", "queue" => "default",
                                              "worker" => worker))
        @resque.incr("stat:failed")
      else
        processed << job["args"].first
        @resque.incr("stat:processed")
        @resque.incr("stat:processed:#{worker}")
      end
      @resque.del("worker:#{worker}")
    end
    assert_equal (0...200).to_a, processed
    # The server saw each processed run end: 200 completions, each under the id its job had in
    # the queue (Ruby's JSON writes back the payload it read), with its worker and its wait.
    completed = @redis.call("COMPLETED.LIST", "LIMIT", "1000").each_slice(2).to_h
    assert_equal 200, completed["total"]
    jobs = completed["jobs"].map { |j| j.each_slice(2).to_h }
    assert_equal hello_ids.sort, jobs.map { |j| j["id"] }.sort
    assert(jobs.all? { |j| j["worker"] == worker && j["wait"].is_a?(Integer) && j["wait"] >= 0 })
    assert_equal %w[200 5], @resque.mget("stat:processed", "stat:failed")
    assert_equal 0, @resque.llen("queue:default")
    assert_equal 5, @resque.llen("failed")

    # Resque::Failure.requeue(0): read the record, push its payload back, mark it retried.
    failure = JSON.parse(@resque.lindex("failed", 0))
    @resque.rpush("queue:default", JSON.generate(failure["payload"]))
    @resque.lset("failed", 0, JSON.generate(failure.merge("retried_at" => Time.now.to_s)))
    # Resque::Failure.remove(1): LSET to "" then LREM the "" (empty strings must work).
    @resque.lset("failed", 1, "")
    assert_equal 1, @resque.lrem("failed", 1, "")
    assert_equal 4, @resque.llen("failed")
    assert_equal "FlakyJob", JSON.parse(@resque.lpop("queue:default"))["class"]
    assert JSON.parse(@resque.lindex("failed", 0)).key?("retried_at")

    # What resque-web's stats pages read.
    info = @redis.info
    assert_match(/\A7\.\d+\.\d+\z/, info["redis_version"])
    stats = @redis.keys("resque:stat:*").sort
    assert_equal %W[resque:stat:failed resque:stat:processed resque:stat:processed:#{worker}], stats
    assert_equal 1, @resque.scard("workers")
    @resque.srem("workers", worker)
    assert_equal [], @resque.smembers("workers")
    assert_equal({}, @resque.hgetall("nothing"))
  end

  def test_namespaced_hash_registrations_and_blocking_pop
    @resque.hset("workers:heartbeat", "host:1:default", Time.now.to_i.to_s)
    assert_equal ["host:1:default"], @resque.hgetall("workers:heartbeat").keys
    assert_equal 1, @resque.hlen("workers:heartbeat")
    assert_equal 1, @resque.hdel("workers:heartbeat", "host:1:default")

    other = Redis::Namespace.new(:resque, redis: Redis.new(host: "127.0.0.1", port: @redis.connection[:port]))
    popped = Thread.new { other.blpop("queue:critical", timeout: 5) }
    wait_for("the pop to block") { @redis.info("clients")["blocked_clients"] == "1" }
    enqueue("critical", "UrgentJob")
    assert_equal ["critical"], @resque.smembers("queues")
    key, payload = popped.value
    assert_equal "queue:critical", key
    assert_equal "UrgentJob", JSON.parse(payload)["class"]
  end

  # A resque worker's loop: LPOP until the queue is empty, "performing" each job; returns the
  # classes in the order they ran.
  def work_off(queue)
    done = []
    while (payload = @resque.lpop("queue:#{queue}"))
      done << JSON.parse(payload)["class"]
    end
    done
  end

  # The pops before each SendInvoice job ran, when 1000 BulkImport jobs were queued first.
  def invoice_waits(discipline)
    queue = "shared-#{discipline}"
    @redis.call("QUEUE.CONFIG", "resque:queue:#{queue}", "DISCIPLINE", discipline)
    1000.times { |i| enqueue(queue, "BulkImport", i) }
    5.times { |i| enqueue(queue, "SendInvoice", i) }
    done = work_off(queue)
    assert_equal 1005, done.size
    done.each_index.select { |i| done[i] == "SendInvoice" }
  end

  def test_sfq_keeps_a_flood_from_one_class_from_starving_another
    # With sfq each class gets a turn per round: the k-th invoice runs within 2k pops.
    invoice_waits("sfq").each_with_index { |pops, k| assert_operator pops, :<=, 2 * k + 1 }
    # The same workload on fifo (Redis' behaviour) makes the invoices wait for the whole flood.
    assert_equal [1000, 1001, 1002, 1003, 1004], invoice_waits("fifo")
  end
end
