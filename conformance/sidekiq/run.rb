# Sidekiq 6.4 (Debian's ruby-sidekiq) against the server at REDIS_URL: enqueue, run the real
# `sidekiq` process, and check through Sidekiq's own API that every job ran as reported.
# Exits non-zero with the reason on the first mismatch.
require "sidekiq"
require "sidekiq/api"
require "sidekiq/web"
require "rack"
require "rack/session/cookie"
require_relative "app"

def wait_for(what, timeout: 60)
  deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
  loop do
    return if yield
    abort "timed out after #{timeout}s waiting for #{what}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
    sleep 0.1
  end
end

def check(what)
  ok = yield
  abort "FAILED: #{what}" unless ok
  puts "ok: #{what}"
end

Sidekiq.redis(&:flushdb)
150.times { |i| HelloJob.perform_async(i) }
Sidekiq::Client.push_bulk("class" => HelloJob, "args" => (150...190).map { |i| [i] })
10.times { |i| ScheduledJob.perform_in(1, i) }
5.times { |i| FlakyJob.perform_async(i) }
DoomedJob.perform_async
check("190 + 5 + 1 jobs queued") { Sidekiq::Queue.new("default").size == 196 }
check("10 jobs scheduled") { Sidekiq::ScheduledSet.new.size == 10 }

here = File.expand_path(__dir__)
log = File.join(ENV.fetch("TMPDIR", "/tmp"), "sidekiq-conformance-#{Process.pid}.log")
pid = spawn("sidekiq", "-r", File.join(here, "app.rb"), "-c", "5", "-q", "default",
            out: log, err: log)
begin
  redis = ->(&block) { Sidekiq.redis(&block) }
  wait_for("every job to finish") do
    redis.call { |r| r.scard("conformance:hello") } == 190 &&
      redis.call { |r| r.scard("conformance:scheduled") } == 10 &&
      redis.call { |r| r.scard("conformance:flaky-done") } == 5 &&
      Sidekiq::DeadSet.new.size == 1 &&
      # Sidekiq flushes its counters with the heartbeat, every 5 seconds.
      Sidekiq::Stats.new.failed == 7
  end
  check("the worker process is registered") { Sidekiq::ProcessSet.new.size == 1 }
  stats = Sidekiq::Stats.new
  check("processed counts the successes (#{stats.processed})") { stats.processed >= 205 }
  check("failed counts 5 flaky + 2 doomed attempts (#{stats.failed})") { stats.failed == 7 }
  check("queue drained") { Sidekiq::Queue.new("default").size.zero? }
  check("no retries pending") { Sidekiq::RetrySet.new.size.zero? }
  check("nothing left scheduled") { Sidekiq::ScheduledSet.new.size.zero? }
  dead = Sidekiq::DeadSet.new.first
  check("the dead job is DoomedJob after 2 attempts") do
    dead.klass == "DoomedJob" && redis.call { |r| r.get("conformance:doomed-attempts") } == "2"
  end
  check("each flaky job ran twice") do
    (0...5).all? { |i| redis.call { |r| r.get("conformance:flaky:#{i}") } == "2" }
  end
  check("history is recorded") { Sidekiq::Stats::History.new(1).processed.values.sum >= 205 }
  # Every script is gone (as on a node that never saw them): the scheduled poller's EVALSHA gets
  # NOSCRIPT, and Sidekiq loads its script again.
  redis.call { |r| r.script(:flush) }
  ScheduledJob.perform_in(1, 100)
  wait_for("a scheduled job to run after SCRIPT FLUSH") do
    redis.call { |r| r.sismember("conformance:scheduled", "100") }
  end
  web = Rack::Builder.new do
    use Rack::Session::Cookie, secret: "conformance" * 8
    run Sidekiq::Web
  end
  %w[/ /busy /queues /queues/default /retries /scheduled /morgue /stats /stats/queues].each do |path|
    response = Rack::MockRequest.new(web).get(path)
    check("Sidekiq::Web #{path} renders (#{response.status})") { response.status == 200 }
  end
  dashboard = Rack::MockRequest.new(web).get("/").body
  check("the dashboard shows the server's redis_version") { dashboard.include?("7.0.15") }
ensure
  Process.kill("TERM", pid)
  Process.wait(pid)
end
puts "sidekiq conformance passed"
