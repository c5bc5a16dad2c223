# Jobs for the Sidekiq conformance run. Every job records what it did in Redis so the driver
# can check that each one ran exactly as Sidekiq reports.
require "sidekiq"

Redis.sadd_returns_boolean = false  # silences redis-rb 4.8's notice on every Sidekiq push

Sidekiq.configure_server do |config|
  # Poll the schedule and retry sets every second (and skip the long initial wait) so the run
  # is short; the code paths are Sidekiq's own.
  config.options[:poll_interval_average] = 1
end

class HelloJob
  include Sidekiq::Worker
  def perform(i)
    Sidekiq.redis { |r| r.sadd("conformance:hello", i.to_s) }
  end
end

class ScheduledJob
  include Sidekiq::Worker
  def perform(i)
    Sidekiq.redis { |r| r.sadd("conformance:scheduled", i.to_s) }
  end
end

# Fails on its first attempt and succeeds on the retry Sidekiq schedules.
class FlakyJob
  include Sidekiq::Worker
  sidekiq_options retry: 3
  sidekiq_retry_in { 1 }
  def perform(i)
    attempts = Sidekiq.redis { |r| r.incr("conformance:flaky:#{i}") }
    raise "flaky #{i}, attempt #{attempts}" if attempts < 2
    Sidekiq.redis { |r| r.sadd("conformance:flaky-done", i.to_s) }
  end
end

# Always fails: one retry, then the dead set.
class DoomedJob
  include Sidekiq::Worker
  sidekiq_options retry: 1
  sidekiq_retry_in { 1 }
  def perform
    Sidekiq.redis { |r| r.incr("conformance:doomed-attempts") }
    raise "doomed"
  end
end
