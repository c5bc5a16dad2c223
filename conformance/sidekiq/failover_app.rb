# The Sidekiq failover run's job and connection (failover.rb), for the client and for the
# `sidekiq` process: through Sentinel (SENTINELS host:port,... and MASTER_NAME) or at REDIS_URL.
require "sidekiq"

Redis.sadd_returns_boolean = false

REDIS_CONFIG =
  if ENV["SENTINELS"]
    { url: "redis://#{ENV.fetch('MASTER_NAME')}", role: :master, network_timeout: 5,
      sentinels: ENV["SENTINELS"].split(",").map { |a| h, p = a.split(":"); { host: h, port: p.to_i } } }
  else
    { url: ENV.fetch("REDIS_URL"), network_timeout: 5 }
  end
Sidekiq.configure_server { |config| config.redis = REDIS_CONFIG }
Sidekiq.configure_client { |config| config.redis = REDIS_CONFIG }

# Appends its number to OUT/done.
class RecordJob
  include Sidekiq::Worker
  sidekiq_options retry: false

  def perform(n)
    File.open(File.join(ENV.fetch("OUT"), "done"), "a") { |f| f.puts(n) }
  end
end
