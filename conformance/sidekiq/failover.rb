# Sidekiq 6.4 through failovers (tests/integration/test_cluster_clients.py). Pushes jobs
# numbered 0, 1, 2, ... on QUEUE until OUT/stop appears, appending each number whose push was
# acknowledged to OUT/acked; a real `sidekiq` process (started again whenever it exits, as a
# supervisor would) runs them, each appending its number to OUT/done.
require_relative "failover_app"

out = ENV.fetch("OUT")
queue = ENV.fetch("QUEUE")
log = File.join(out, "worker.log")
start = -> { spawn("sidekiq", "-r", File.join(__dir__, "failover_app.rb"), "-c", "2", "-q", queue, out: log, err: log) }
pid = start.call
Signal.trap("TERM") do
  Process.kill("TERM", pid)
  exit
end
restart_if_gone = lambda do
  if Process.wait(pid, Process::WNOHANG)
    puts "sidekiq exited (#{$?.exitstatus}); starting it again"
    pid = start.call
  end
end
n = 0
File.open(File.join(out, "acked"), "a") do |acked|
  acked.sync = true
  until File.exist?(File.join(out, "stop"))
    begin
      RecordJob.set(queue: queue).perform_async(n)
      acked.puts(n)
    rescue StandardError => e
      puts "push #{n}: #{e.class}: #{e.message}"
    end
    n += 1
    restart_if_gone.call
    sleep 0.05
  end
end
File.write(File.join(out, "stopped"), "")
loop do
  restart_if_gone.call
  sleep 0.2
end
