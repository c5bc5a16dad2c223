# desaster-worker's ruby adapter, the Ruby side: boots the application once (a boot file, or a
# Rails app's config/environment.rb), then runs each job resque-style, Klass.perform(*args), in a
# forked child, so no job pays the boot again and a crashing job cannot take this process down.
#
# Protocol with the worker, one JSON object per line:
#   in  (stdin):  {"id": "...", "class": "Klass", "args": [...]}
#   out (stdout): {"booted": pid} once; {"id": ..., "pid": child} when a job starts;
#                 {"id": ..., "ok": true} or {"id": ..., "ok": false, "error": class,
#                 "message": ..., "backtrace": ...} when it ends.
require "json"

protocol = $stdout.dup
protocol.sync = true
$stdout.reopen($stderr)  # what the application prints must not mix with the protocol
lock = Mutex.new
emit = ->(message) { lock.synchronize { protocol.puts(JSON.generate(message)) } }

boot = ARGV[0].to_s
if File.directory?(boot)
  Dir.chdir(boot)
  require File.join(File.expand_path(boot), "config", "environment")
elsif !boot.empty?
  require File.expand_path(boot)
end
emit.call(booted: Process.pid)

while (line = $stdin.gets)
  job = JSON.parse(line)
  reader, writer = IO.pipe
  pid = fork do
    reader.close
    $stdin.reopen(File::NULL)
    Signal.trap("TERM", "DEFAULT")
    begin
      Object.const_get(job["class"]).perform(*job["args"])
      exit!(0)
    rescue Exception => e # rubocop:disable Lint/RescueException -- a job's failure, whatever it is
      writer.write(JSON.generate(error: e.class.to_s, message: e.message.to_s,
                                 backtrace: (e.backtrace || []).join("\n")))
      writer.close
      exit!(1)
    end
  end
  writer.close
  emit.call(id: job["id"], pid: pid)
  Thread.new(job["id"], pid, reader) do |id, child, failure_pipe|
    failure = failure_pipe.read
    failure_pipe.close
    _, status = Process.wait2(child)
    if status.success?
      emit.call(id: id, ok: true)
    elsif !failure.empty?
      emit.call({ id: id, ok: false }.merge(JSON.parse(failure)))
    else
      emit.call(id: id, ok: false, error: "Killed",
                message: "the job's process ended by signal #{status.termsig || '?'}")
    end
  end
end
