# desaster-worker's ruby adapter, the Ruby side: boots the application once (a boot file, or a
# Rails app's config/environment.rb), then runs each job resque-style, Klass.perform(*args), in a
# forked child, so no job pays the boot again and a crashing job cannot take this process down.
#
# Protocol with the worker, one JSON object per line:
#   in  (stdin):  {"id": "...", "class": "Klass", "args": [...]}
#   out (stdout): {"booted": pid} once; {"id": ..., "pid": child} when a job starts;
#                 {"id": ..., "output": text} as the job prints (its stdout and stderr);
#                 {"id": ..., "progress": percent, "message": text} when it calls
#                 Desaster.progress; {"id": ..., "ok": true} or {"id": ..., "ok": false,
#                 "error": class, "message": ..., "backtrace": ...} when it ends, after its
#                 output.
require "fiddle"
require "json"

# prctl(PR_SET_CHILD_SUBREAPER, 1): orphans of the process's tree become its children, not
# init's, so it can find and kill everything a job started, even what left its process group.
PR_SET_CHILD_SUBREAPER = 36
PRCTL = Fiddle::Function.new(Fiddle::Handle::DEFAULT["prctl"],
                             [Fiddle::TYPE_INT] + [Fiddle::TYPE_LONG] * 4, Fiddle::TYPE_INT)

# Every process below `pid`, parents before their children.
def descendants(pid)
  Dir.glob("/proc/#{pid}/task/*/children").flat_map do |list|
    File.read(list).split.map(&:to_i).flat_map { |child| [child, *descendants(child)] }
  rescue SystemCallError
    []
  end
end

# SIGKILLs what the job started until nothing is left: a SIGKILLed process cannot fork, and
# what it leaves behind becomes this subreaper's child, found by the next round.
def kill_descendants
  loop do
    descendants(Process.pid).each do |process|
      Process.kill(:KILL, process)
    rescue SystemCallError
      nil # gone already
    end
    Process.wait(-1)
  end
rescue Errno::ECHILD
  nil
end

protocol = $stdout.dup
protocol.sync = true
$stdout.reopen($stderr)  # what the application prints must not mix with the protocol
$stdout.sync = true
lock = Mutex.new
emit = ->(message) { lock.synchronize { protocol.puts(JSON.generate(message)) } }

# What a job may call while it runs: Desaster.progress(42, "resizing") shows how far it is in
# desaster-web. One write per report: the pipe keeps it whole among the runner's own lines.
module Desaster
  class << self
    attr_accessor :channel, :job_id

    def progress(percent, message = "")
      return unless channel && job_id

      percent = Float(percent).clamp(0.0, 100.0)
      channel.write("#{JSON.generate(id: job_id, progress: percent, message: message.to_s[0, 500])}\n")
    end
  end
end
Desaster.channel = protocol

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
  output, output_writer = IO.pipe # what the job prints, and what it starts
  pid = fork do
    Process.setpgid(0, 0) # the job's own group: a kill reaches what it started too
    PRCTL.call(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    reader.close
    output.close
    $stdin.reopen(File::NULL)
    $stdout.reopen(output_writer)
    $stderr.reopen(output_writer)
    $stderr.sync = true
    Desaster.job_id = job["id"]
    Signal.trap("TERM") do # JOB.KILL: the job and everything it started end
      kill_descendants
      Signal.trap("TERM", "DEFAULT")
      Process.kill(:TERM, Process.pid)
    end
    status = 0
    begin
      Object.const_get(job["class"]).perform(*job["args"])
    rescue Exception => e # rubocop:disable Lint/RescueException -- a job's failure, whatever it is
      writer.write(JSON.generate(error: e.class.to_s, message: e.message.to_s,
                                 backtrace: (e.backtrace || []).join("\n")))
      writer.close
      status = 1
    end
    kill_descendants # what the job left running ends with it
    exit!(status)
  end
  writer.close
  output_writer.close
  begin
    Process.setpgid(pid, pid) # set on both sides: a kill may come before the child runs
  rescue SystemCallError
    nil # the child got there first, or has already exited
  end
  emit.call(id: job["id"], pid: pid)
  Thread.new(job["id"], pid, reader, output) do |id, child, failure_pipe, output_pipe|
    failure_reader = Thread.new { failure_pipe.read }
    output_reader = Thread.new do
      # As it comes, in the pipe's chunks (a character cut in two by a chunk's end is shown
      # as a replacement character).
      loop { emit.call(id: id, output: output_pipe.readpartial(65_536).force_encoding("UTF-8").scrub) }
    rescue EOFError, IOError
      nil
    end
    _, status = Process.wait2(child)
    begin
      Process.kill(:KILL, -child) # what the job left running in its group ends with it
    rescue SystemCallError
      nil
    end
    # A process that left the group may still hold the pipes open: do not wait on them for ever.
    failure = failure_reader.join(5)&.value || ""
    failure_pipe.close
    output_reader.join(5)
    output_pipe.close # (ends a reader still waiting)
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
