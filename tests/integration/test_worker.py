#!/usr/bin/python3
"""desaster-worker as real processes against a real scheduler: command and ruby adapters,
failure records, reliable fetch across a SIGKILL, attach/detach at runtime, capability routing,
JOB.KILL, graceful SIGTERM, and a worker that starts its own scheduler."""
import ctypes
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redis  # noqa: E402
from harness import Scheduler, ServerTest, TcpProxy, Worker, as_map, main, wait_for  # noqa: E402


def command(*argv, **extra):
    return json.dumps({"argv": list(argv), **extra})


def lines_of(path):
    """The complete lines a job has written to path so far (none if it is not there yet)."""
    try:
        with open(path) as f:
            return f.read().split("\n")[:-1]
    except FileNotFoundError:
        return []


def marked(mark):
    """Pids of live processes whose environment carries DESASTER_MARK=mark."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                environ = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if f"DESASTER_MARK={mark}".encode() in environ and state != "Z":
            pids.append(int(pid))
    return pids


def running_id(r, queue):
    """The id of the job of `queue` some worker runs now, or None."""
    for w in r.execute_command("WORKER.LIST"):
        for j in as_map(w)["jobs"]:
            if as_map(j)["queue"] == queue.encode():
                return as_map(j)["id"].decode()
    return None


def steal_descriptor(pid, fd):
    """A duplicate of process `pid`'s descriptor `fd` (pidfd_getfd: the same open file, and so
    the same flock)."""
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        copy = libc.syscall(438, pidfd, fd, 0)  # SYS_pidfd_getfd
        if copy < 0:
            raise OSError(ctypes.get_errno(), f"pidfd_getfd of {pid}'s descriptor {fd}")
        return copy
    finally:
        os.close(pidfd)


class WorkerTest(ServerTest):
    def worker(self, *extra, **kw):
        w = Worker(self.server.port, *extra, **kw)
        self.addCleanup(w.stop)
        w.wait_registered()
        return w

    def push(self, queue, payload, *options):
        return self.r.execute_command("JOB.PUSH", queue, payload, *options).decode()

    def finished(self, job_id, timeout=20):
        """JOB.INFO of a job once it is done or failed."""
        def done():
            info = self.r.execute_command("JOB.INFO", job_id)
            info = info and as_map(info)
            return info if info and info["state"] in (b"done", b"failed") else None
        return wait_for(done, timeout=timeout, what=f"job {job_id} to finish")

    def running(self, job_id):
        wait_for(lambda: as_map(self.r.execute_command("JOB.INFO", job_id))["state"] == b"running",
                 what=f"job {job_id} to start")

    def test_command_jobs_succeed_and_fail_with_their_records(self):
        self.worker("--queues", "cmd", "--concurrency", "2", "--id", "w-cmd")
        ok = self.push("cmd", command("sh", "-c", "echo out; echo err >&2"))
        bad = self.push("cmd", command("sh", "-c", "echo broken >&2; exit 3"))
        info = self.finished(ok)
        self.assertEqual(info["state"], b"done")
        self.assertEqual(info["worker"], b"w-cmd")
        result = json.loads(info["result"])
        self.assertEqual((result["exit"], result["stdout"], result["stderr"]), (0, "out\n", "err\n"))
        (f,) = wait_for(lambda: [as_map(x) for x in
                                 as_map(self.r.execute_command("FAILED.LIST"))["failures"]],
                        what="the failure")
        # The job waits for its retry under its own id.
        bad_info = as_map(self.r.execute_command("JOB.INFO", bad))
        self.assertEqual((bad_info["state"], bad_info["attempts"]), (b"scheduled", 1))
        self.assertEqual((f["error"], f["message"]), (b"ExitStatus", b"exited with status 3"))
        self.assertEqual(f["backtrace"], b"broken\n")  # stderr, where a program says why
        self.assertEqual(f["state"], b"retrying")  # the default policy retries it
        # Bad input is a failure with a reason, not a crash; no retry can fix it: dead at once.
        nonsense = self.push("cmd", json.dumps({"command": "rm -rf /"}))
        self.assertEqual(self.finished(nonsense)["state"], b"failed")
        self.push("cmd", "not json at all")
        rows = wait_for(lambda: [as_map(x) for x in as_map(self.r.execute_command(
            "FAILED.LIST", "ERROR", "NoAdapter"))["failures"]], what="the unrunnable job")
        self.assertEqual((rows[0]["state"], rows[0]["message"]),
                         (b"dead", b"no adapter of this worker (command) accepts the job's payload"))
        (bad_command,) = [as_map(x) for x in as_map(self.r.execute_command(
            "FAILED.LIST", "ERROR", "BadCommand"))["failures"]]
        self.assertEqual((bad_command["state"], bad_command["message"]), (b"dead",
                         b'"command" runs through a shell only with "shell": true (or use argv)'))

    def test_ruby_adapter_boots_once_and_serves_a_resque_queue(self):
        tmp = tempfile.mkdtemp(prefix="desaster-ruby-app-")
        boots, done = os.path.join(tmp, "boots"), os.path.join(tmp, "done")
        boot = os.path.join(tmp, "boot.rb")
        with open(boot, "w") as f:
            f.write(f"""
# An application whose boot is expensive: half a second of CPU before it can run a job.
t = Process.clock_gettime(Process::CLOCK_MONOTONIC)
x = 0
x += 1 while Process.clock_gettime(Process::CLOCK_MONOTONIC) - t < 0.5
File.open({boots!r}, "a") {{ |f| f.puts Process.pid }}
puts "the application booted"  # the runner's output, no job's
class Archive
  def self.perform(n, who) File.open({done!r}, "a") {{ |f| f.puts "#{{n}} #{{who}}" }} end
end
class Broken
  def self.perform(id) raise KeyError, "no account #{{id}}" end
end
class Halfway
  def self.perform(go)
    puts "preparing"
    $stderr.puts "warming up"
    system("echo", "from a child")
    Desaster.progress(25, "a quarter done")
    sleep 0.05 until File.exist?(go)
    puts "finished"
  end
end
""")
        started = time.monotonic()
        self.worker("--queues", "resque:queue:archive", "--adapters", "ruby", "--ruby-boot", boot,
                    "--concurrency", "4")
        # An unchanged resque producer: RPUSH to resque:queue:archive.
        jobs = 30
        self.r.rpush("resque:queue:archive",
                     *[json.dumps({"class": "Archive", "args": [i, "resque"]}) for i in range(jobs)])
        wait_for(lambda: len(lines_of(done)) == jobs,
                 timeout=30, what="the archive jobs")
        elapsed = time.monotonic() - started
        self.assertEqual(len(lines_of(boots)), 1)  # booted once for 30 jobs
        print(f"ruby adapter: {jobs} jobs with one 0.5 s boot in {elapsed:.2f} s", file=sys.stderr)
        self.assertLess(elapsed, jobs * 0.5 / 2)  # far below a boot per job
        self.r.rpush("resque:queue:archive", json.dumps({"class": "Broken", "args": [7]}))
        failure = wait_for(lambda: as_map(self.r.execute_command("FAILED.LIST"))["failures"],
                           what="the ruby failure")
        f = as_map(failure[0])
        self.assertEqual((f["error"], f["message"], f["class"]), (b"KeyError", b"no account 7", b"Broken"))
        self.assertIn(b"boot.rb", f["backtrace"])
        # A job reports its progress through the runner (Desaster.progress), and what it (and
        # what it starts) prints is its own output, seen as it comes and kept as its result.
        go = os.path.join(tmp, "go")
        job = self.push("resque:queue:archive", json.dumps({"class": "Halfway", "args": [go]}))
        printed = b"preparing\nwarming up\nfrom a child\n"
        seen = wait_for(lambda: (lambda o: o if o and o["progress"] and o["output"] == printed
                                 else None)(self.output(job)), what="the ruby job's output")
        self.assertEqual((seen["progress"], seen["message"]), (b"25", b"a quarter done"))
        open(go, "w").close()
        info = self.finished(job)
        self.assertEqual(info["state"], b"done")
        self.assertEqual(json.loads(info["result"]), {
            "output": "preparing\nwarming up\nfrom a child\nfinished\n", "truncated": False})

    def test_an_application_that_fails_to_boot_costs_no_job_an_attempt(self):
        # A bad deploy: the app raises while it loads. The worker takes no jobs, says why in
        # WORKER.LIST, and boots again with backoff until the app is fixed.
        tmp = tempfile.mkdtemp(prefix="desaster-boot-")
        fixed, done, boot = (os.path.join(tmp, n) for n in ("fixed", "done", "boot.rb"))
        with open(boot, "w") as f:
            f.write(f"""
raise "bad deploy: no #{{File.basename({fixed!r})}} yet" unless File.exist?({fixed!r})
class Work
  def self.perform(n) File.open({done!r}, "a") {{ |f| f.puts n }} end
end
""")
        w = self.worker("--queues", "boot", "--adapters", "ruby", "--ruby-boot", boot,
                        "--id", "booter")

        def health():
            for x in self.r.execute_command("WORKER.LIST"):
                if as_map(x)["id"] == b"booter":
                    return as_map(x)["health"].decode()
            return None
        self.assertIn("boot failed: ", wait_for(health, what="the worker to report the boot"))
        self.assertIn("bad deploy: no fixed yet (RuntimeError)", health())
        ids = [self.push("boot", json.dumps({"class": "Work", "args": [i]})) for i in range(3)]
        # A boot attempt after the jobs came: still none of them ran, failed or counted a run.
        retries = w.log_text().count("unhealthy")
        wait_for(lambda: w.log_text().count("unhealthy") > retries, what="another boot attempt")
        states = [as_map(self.r.execute_command("JOB.INFO", i)) for i in ids]
        self.assertEqual({(s["state"], s["attempts"]) for s in states}, {(b"ready", 0)})
        self.assertEqual(as_map(self.r.execute_command("FAILED.COUNTS"))["total"], 0)
        # The fix is deployed: the next boot succeeds and the jobs run.
        open(fixed, "w").close()
        wait_for(lambda: len(lines_of(done)) == 3, timeout=90, what="the jobs after the fix")
        self.assertEqual(wait_for(lambda: health() == "" and "ok"), "ok")

    def test_ruby_adapter_runs_jobs_in_a_real_rails_app_booted_once(self):
        """A Rails 6.1 app made offline from Debian's ruby-rails (../shared/reference/rails.md)."""
        tmp = tempfile.mkdtemp(prefix="desaster-rails-")
        app = os.path.join(tmp, "app")
        subprocess.run(["rails", "new", app, "--minimal", "--skip-bundle", "--skip-git",
                        "--skip-javascript", "--skip-webpack-install", "--skip-active-record"],
                       check=True, capture_output=True, timeout=120)
        with open(os.path.join(app, "Gemfile"), "w") as f:
            f.write("source 'https://rubygems.org'\ngem 'rails', '~> 6.1.7'\n")
        subprocess.run(["bundle", "install", "--local"], cwd=app, check=True, capture_output=True,
                       timeout=120)
        boots, done = os.path.join(tmp, "boots"), os.path.join(tmp, "done")
        with open(os.path.join(app, "config", "initializers", "count_boots.rb"), "w") as f:
            f.write(f"File.open({boots!r}, 'a') {{ |f| f.puts Process.pid }}\n")
        os.makedirs(os.path.join(app, "app", "jobs"), exist_ok=True)
        with open(os.path.join(app, "app", "jobs", "invoice_job.rb"), "w") as f:
            f.write(f"""class InvoiceJob
  def self.perform(id)
    File.open({done!r}, "a") {{ |f| f.puts "#{{id}} #{{Rails.env}} #{{Rails.application.class}}" }}
  end
end
""")
        env = {"RAILS_ENV": "production", "SECRET_KEY_BASE": "test"}
        w = Worker(self.server.port, "--queues", "resque:queue:invoices", "--adapters", "ruby",
                   "--ruby-boot", app, "--concurrency", "2", env=env)
        self.addCleanup(w.stop)
        w.wait_registered()
        self.r.rpush("resque:queue:invoices",
                     *[json.dumps({"class": "InvoiceJob", "args": [i]}) for i in range(10)])
        wait_for(lambda: len(lines_of(done)) == 10,
                 timeout=60, what="the Rails jobs")
        lines = sorted(lines_of(done), key=lambda line: int(line.split()[0]))
        self.assertEqual(lines[3], "3 production App::Application")
        self.assertEqual(len(lines_of(boots)), 1)  # one boot for ten jobs

    def test_a_job_of_a_killed_worker_comes_back_and_completes_elsewhere(self):
        # SIGKILL: the host dies mid-job. SIGQUIT: the worker exits at once by design. Either
        # way the lease brings the job back and another worker completes it.
        for sig in (signal.SIGKILL, signal.SIGQUIT):
            tmp = tempfile.mkdtemp(prefix="desaster-lost-")
            marker = os.path.join(tmp, "ran")
            first = self.worker("--queues", f"crit{sig}", "--id", f"first{sig}")
            job = self.push(f"crit{sig}", command("sh", "-c", f"echo $$ >> {marker}; sleep 1"))
            # A whole line, not just the file: `>>` creates it before echo writes, and a job
            # killed in between would leave no line of its own.
            wait_for(lambda: lines_of(marker), what="the job to start")
            os.kill(first.pid, sig)
            first.proc.wait()
            self.worker("--queues", f"crit{sig}", "--id", f"second{sig}")
            info = self.finished(job, timeout=30)
            self.assertEqual((info["state"], info["worker"]), (b"done", f"second{sig}".encode()))
            self.assertEqual(len(lines_of(marker)), 2)  # ran again, to completion

    def test_a_killed_workers_job_tree_dies_before_its_job_runs_again(self):
        # A job whose grandchildren sleep, one of them escaped into its own session. SIGKILL
        # leaves the worker no chance to act, SIGQUIT makes it exit at once: either way the
        # job's shim sees it gone and kills the tree.
        tmp = tempfile.mkdtemp(prefix="desaster-tree-")
        boot = os.path.join(tmp, "boot.rb")
        with open(boot, "w") as f:
            f.write("""
class Spawner
  def self.perform(mark, log)
    File.open(log, "a") { |f| f.puts Process.clock_gettime(Process::CLOCK_REALTIME) }
    Process.spawn({"DESASTER_MARK" => mark}, "sleep 300")
    Process.spawn({"DESASTER_MARK" => mark}, "setsid sleep 300")
    sleep 300
  end
end
""")
        cases = [(a, s) for a in ("command", "ruby") for s in (signal.SIGKILL, signal.SIGQUIT)]
        for adapter, sig in cases:
            with self.subTest(adapter=adapter, signal=sig.name):
                name = f"{adapter}-{sig.name}"
                mark, log = f"tree-{name}-{os.getpid()}", os.path.join(tmp, f"{name}.log")
                queue = f"tree-{name}"
                if adapter == "command":
                    payload = json.dumps({
                        "command": f"date +%s.%N >> {log}; sleep 300 & setsid sleep 300 & wait",
                        "shell": True, "env": {"DESASTER_MARK": mark}})
                else:
                    payload = json.dumps({"class": "Spawner", "args": [mark, log]})
                args = ["--queues", queue, "--adapters", adapter, "--ruby-boot", boot]
                first = self.worker(*args, "--id", f"{name}-first")
                job = self.push(queue, payload)
                wait_for(lambda: len(marked(mark)) >= 2, what="the job's processes to start")
                os.kill(first.pid, sig)
                first.proc.wait()
                killed = time.time()
                wait_for(lambda: not marked(mark), timeout=2, interval=0.01,
                         what="every process of the job to die")
                gone = time.time()
                print(f"{adapter}: job tree gone {gone - killed:.3f} s after {sig.name}",
                      file=sys.stderr)
                # The lease brings it back to another worker, whose run starts after that. (On
                # a loaded machine the first worker may have missed a renewal and run it twice
                # before: the runs to look at are those after the kill.)
                before = len(lines_of(log))
                self.worker(*args, "--id", f"{name}-second")
                wait_for(lambda: len(lines_of(log)) > before, timeout=20, what="the re-run")
                self.assertGreater(float(lines_of(log)[before]), gone)
                self.assertEqual(wait_for(lambda: running_id(self.r, queue)), job)
                wait_for(lambda: len(marked(mark)) >= 2, what="the re-run's processes")
                self.assertEqual(self.r.execute_command("JOB.KILL", job), 1)
                wait_for(lambda: not marked(mark), what="the killed re-run's processes to die")

    def test_a_worker_killed_in_a_loop_under_one_id_runs_every_job_never_twice_at_once(self):
        # As a supervisor restarts a crashing worker: SIGKILL, then a new process under the
        # same --id. Leases last a minute, so only the restart releasing the dead process's
        # jobs lets them run again in time. A job holds a lock while it runs: a second live run
        # of the same job would find it taken.
        tmp = tempfile.mkdtemp(prefix="desaster-phoenix-")
        done, doubles = os.path.join(tmp, "done"), os.path.join(tmp, "doubles")
        script = (f"exec 9>{tmp}/lock.$N; flock -n 9 || {{ echo $N >> {doubles}; exit 1; }}; "
                  f"sleep 0.0$((N % 7)); echo $N >> {done}")
        jobs = 200
        ids = [self.push("phoenix", json.dumps({"command": script, "shell": True,
                                                "env": {"N": str(i)}})) for i in range(jobs)]
        rng = random.Random(1204)
        kills = 0
        while True:
            w = Worker(self.server.port, "--queues", "phoenix", "--id", "phoenix",
                       "--concurrency", "4", lease_ms=120000)
            self.addCleanup(w.stop)
            w.wait_registered()
            if kills == 12:
                break
            target = min(jobs, len(set(lines_of(done))) + rng.randint(2, 15))
            wait_for(lambda: len(set(lines_of(done))) >= target, timeout=30,
                     what=f"{target} jobs done")
            os.kill(w.pid, signal.SIGKILL)
            w.proc.wait()
            kills += 1
        wait_for(lambda: len(set(lines_of(done))) == jobs, timeout=30, what="every job")
        states = {as_map(self.r.execute_command("JOB.INFO", i))["state"] for i in ids}
        self.assertEqual(states, {b"done"})
        self.assertEqual(lines_of(doubles), [])
        print(f"{jobs} jobs, {kills} SIGKILLs of worker 'phoenix': {len(lines_of(done))} runs "
              "completed, none concurrent with another run of its job", file=sys.stderr)

    def test_a_new_process_under_a_dead_workers_id_waits_until_its_jobs_are_dead(self):
        # Killing a dead worker's job tree takes its shim a moment (long on a loaded machine),
        # and a process restarted under the id must not release the jobs before that. The
        # shim holds the id's lock until its tree is gone; here the test holds the shim's
        # descriptor of it as well, as a shim that is slow to finish would.
        mark = f"slow-death-{os.getpid()}"
        first = self.worker("--queues", "slowdeath", "--id", "slowdeath", lease_ms=120000)
        job = self.push("slowdeath", json.dumps({"argv": ["sleep", "300"],
                                                 "env": {"DESASTER_MARK": mark}}))
        (run,) = wait_for(lambda: marked(mark), what="the job to run")
        with open(f"/proc/{run}/stat") as f:
            shim = int(f.read().rsplit(")", 1)[1].split()[1])
        held = steal_descriptor(shim, 4)
        try:
            os.kill(first.pid, signal.SIGKILL)
            first.proc.wait()
            wait_for(lambda: not marked(mark), what="the shim to kill the job")
            second = Worker(self.server.port, "--queues", "slowdeath", "--id", "slowdeath",
                            lease_ms=120000)
            self.addCleanup(second.stop)
            wait_for(lambda: "waiting:" in second.log_text(), what="the new process to wait")
            self.assertIn(f"the jobs of desaster-worker pid {first.pid}, which is gone, still "
                          "holds worker id 'slowdeath'", second.log_text())
            self.assertNotIn("registered as", second.log_text())
            self.assertEqual(as_map(self.r.execute_command("JOB.INFO", job))["state"],
                             b"running")
        finally:
            os.close(held)
        # The last holder is gone: the new process registers, and the job runs again.
        second.wait_registered()
        (again,) = wait_for(lambda: marked(mark), what="the job to run again")
        self.assertNotEqual(again, run)
        self.assertEqual(as_map(self.r.execute_command("JOB.INFO", job))["attempts"], 1)

    def test_a_second_process_under_a_live_workers_id_waits_for_it_to_exit(self):
        first = self.worker("--queues", "twin", "--id", "twin")
        second = Worker(self.server.port, "--queues", "twin", "--id", "twin")
        self.addCleanup(second.stop)
        wait_for(lambda: "waiting:" in second.log_text(), what="the second process to wait")
        self.assertIn(f"desaster-worker pid {first.pid} (or the jobs it started) still holds",
                      second.log_text())
        job = self.push("twin", command("true"))
        self.assertEqual(self.finished(job)["worker"], b"twin")
        self.assertNotIn("registered as", second.log_text())
        first.stop()
        self.assertEqual(first.proc.returncode, 0)
        second.wait_registered()
        self.assertEqual(self.finished(self.push("twin", command("true")))["worker"], b"twin")

    def test_a_worker_that_cannot_renew_a_lease_stops_the_job_before_it_expires(self):
        mark = f"unrenewed-{os.getpid()}"
        self.worker("--queues", "cut", "--id", "cut-off", lease_ms=3000)
        job = self.push("cut", json.dumps({"argv": ["sleep", "300"], "env": {"DESASTER_MARK": mark}}))
        self.running(job)
        wait_for(lambda: marked(mark), what="the job's process")
        # The scheduler stops answering (as behind a partition): no heartbeat renews the lease.
        os.kill(self.server.proc.pid, signal.SIGSTOP)
        cut = time.monotonic()
        try:
            wait_for(lambda: not marked(mark), timeout=3, what="the worker to stop the job")
            stopped = time.monotonic() - cut
        finally:
            os.kill(self.server.proc.pid, signal.SIGCONT)
        print(f"job stopped {stopped:.2f} s into a 3 s lease without renewal", file=sys.stderr)
        # Its lease runs out on the scheduler, and the job runs again (here, on the same worker).
        wait_for(lambda: marked(mark), timeout=10, what="the job to run again")
        self.assertEqual(as_map(self.r.execute_command("JOB.INFO", job))["attempts"], 1)

    def test_an_outcome_lost_with_its_connection_is_sent_again(self):
        # The worker wrote JOB.ACK and the connection broke before it arrived (a master killed
        # mid-read): the worker resends it after reconnecting, so the job is done and does not
        # run again when its lease runs out.
        proxy = TcpProxy(self.server.port)
        self.addCleanup(proxy.stop)
        tmp = tempfile.mkdtemp(prefix="desaster-resend-")
        marker = os.path.join(tmp, "ran")
        w = Worker(proxy.port, "--queues", "resend", "--id", "resender", lease_ms=2000)
        self.addCleanup(w.stop)
        w.wait_registered()
        proxy.drop_next(b"JOB.ACK")
        job = self.push("resend", command("sh", "-c", f"echo ran >> {marker}"))
        info = self.finished(job)
        self.assertTrue(proxy.dropped.is_set())
        self.assertEqual((info["state"], info["worker"]), (b"done", b"resender"))
        self.assertEqual(lines_of(marker), ["ran"])

    def output(self, job, *args):
        """JOB.OUTPUT of a job as a dict, or None."""
        reply = self.r.execute_command("JOB.OUTPUT", job, *args)
        return reply and as_map(reply)

    def test_a_running_jobs_output_and_progress_are_seen_as_they_come(self):
        go = os.path.join(tempfile.mkdtemp(prefix="desaster-live-"), "go")
        self.worker("--queues", "live", "--id", "talker")
        job = self.push("live", command("sh", "-c", "echo starting; echo warming >&2; "
                                         "echo 'desaster-progress 40 half way there'; "
                                         f"while [ ! -e {go} ]; do sleep 0.05; done; echo done"))
        seen = wait_for(lambda: (lambda o: o if o and o["progress"] and b"warming" in o["output"]
                                 else None)(self.output(job)), what="the job's output")
        self.assertEqual((seen["progress"], seen["message"]), (b"40", b"half way there"))
        self.assertIn(b"starting\n", seen["output"])
        self.assertEqual((seen["from"], seen["total"]), (0, len(seen["output"])))
        # Asked from where the last answer ended: only what is new (nothing yet).
        self.assertEqual(self.output(job, "FROM", seen["total"])["output"], b"")
        self.assertEqual(self.output(job, "FROM", 3)["output"], seen["output"][3:])
        self.assertEqual(self.output(job, "FROM", 10**9)["from"], seen["total"])
        # Reports come from the job's own worker only, and say sensible things.
        r = self.r
        self.assertEqual(r.execute_command("JOB.REPORT", job, "WORKER", "someone", "OUTPUT", "x"), 0)
        self.assertError(lambda: r.execute_command("JOB.REPORT", job, "WORKER", "talker",
                                                   "PROGRESS", "101"),
                         "PROGRESS must be a number from 0 to 100")
        self.assertError(lambda: r.execute_command("JOB.REPORT", job, "PROGRESS", "nan"),
                         "PROGRESS must be a number from 0 to 100")
        self.assertError(lambda: r.execute_command("JOB.REPORT", job, "OUTPUT"), "syntax error")
        self.assertError(lambda: r.execute_command("JOB.OUTPUT", job, "FROM", "-1"),
                         "FROM must be an integer >= 0")
        self.assertError(lambda: r.execute_command("JOB.OUTPUT", "zz"), "invalid job id 'zz'")
        self.assertIsNone(self.output("00000000000000ff"))
        # A report bigger than what is kept leaves its end.
        big = "x" * 70000 + "END"
        self.assertEqual(r.execute_command("JOB.REPORT", job, "WORKER", "talker", "OUTPUT", big), 1)
        kept = self.output(job)
        self.assertEqual((len(kept["output"]), kept["total"] - kept["from"]), (65536, 65536))
        self.assertTrue(kept["output"].endswith(b"END"))
        open(go, "w").close()
        info = self.finished(job)
        self.assertEqual(json.loads(info["result"])["stdout"], "starting\ndesaster-progress 40 "
                                                               "half way there\ndone\n")
        self.assertIsNone(self.output(job))  # what it printed is in its result now

    def test_attach_and_detach_take_effect_without_restart(self):
        self.worker("--queues", "a", "--id", "flexible")
        self.assertEqual(self.r.execute_command("WORKER.ATTACH", "flexible", "b"), 1)
        self.assertEqual(self.finished(self.push("b", command("true")))["worker"], b"flexible")
        self.assertEqual(self.r.execute_command("WORKER.DETACH", "flexible", "a"), 1)
        left = self.push("a", command("true"))
        # A job on b finishing proves the worker fetched after the detach: a's job must wait.
        self.finished(self.push("b", command("true")))
        self.assertEqual(as_map(self.r.execute_command("JOB.INFO", left))["state"], b"ready")
        (w,) = [as_map(x) for x in self.r.execute_command("WORKER.LIST")
                if as_map(x)["id"] == b"flexible"]
        self.assertEqual(w["queues"], [b"b"])
        # Asked again, it registers again: same capabilities, and the queues it has now.
        self.assertEqual(self.r.execute_command("WORKER.REFRESH", "flexible"), b"OK")
        again = wait_for(lambda: [as_map(x) for x in self.r.execute_command("WORKER.LIST")
                                  if as_map(x)["id"] == b"flexible" and
                                  as_map(x)["started_at"] != w["started_at"]],
                         what="the worker to register again")[0]
        self.assertEqual((again["queues"], again["adapters"]), ([b"b"], [b"command"]))

    def listed(self, worker_id):
        (w,) = [as_map(x) for x in self.r.execute_command("WORKER.LIST")
                if as_map(x)["id"] == worker_id.encode()]
        return w

    def test_a_quiet_worker_finishes_its_jobs_and_takes_no_new_ones(self):
        w = self.worker("--queues", "calm", "--id", "calm-1")
        long = self.push("calm", command("sleep", "1"))
        self.running(long)
        self.assertEqual(self.r.execute_command("WORKER.QUIET", "calm-1"), 1)
        self.assertEqual(self.r.execute_command("WORKER.QUIET", "calm-1", "on"), 0)
        wait_for(lambda: "quiet: finishing running jobs" in w.log_text(), what="the worker to hear it")
        waiting = self.push("calm", command("true"))
        self.assertEqual(self.finished(long)["state"], b"done")
        # Heartbeats after the running job ended (it fetches then, were it allowed to): the
        # new job is still waiting.
        seen = self.listed("calm-1")["last_seen"]
        wait_for(lambda: self.listed("calm-1")["last_seen"] > seen + 500, what="two heartbeats")
        self.assertEqual(as_map(self.r.execute_command("JOB.INFO", waiting))["state"], b"ready")
        self.assertEqual(self.listed("calm-1")["quiet"], 1)
        # Quiet is stored: a restart of the scheduler keeps it.
        self.assertEqual(self.r.execute_command("DEBUG", "RELOAD"), b"OK")
        self.assertEqual(self.listed("calm-1")["quiet"], 1)
        self.assertEqual(self.r.execute_command("WORKER.QUIET", "calm-1", "OFF"), 1)
        self.assertEqual(self.finished(waiting)["state"], b"done")
        wait_for(lambda: "taking jobs again" in w.log_text(), what="the worker to hear it")
        self.assertError(lambda: self.r.execute_command("WORKER.QUIET", "calm-1", "MAYBE"),
                         "syntax error")
        self.assertError(lambda: self.r.execute_command("WORKER.QUIET", "nobody"),
                         "NOWORKER unknown worker 'nobody': WORKER.REGISTER first")

    def test_a_quiet_workers_blocked_fetch_waits_and_wakes_when_resumed(self):
        # The scheduler enforces it: a fetch already waiting takes no job while quiet.
        register = lambda incarnation: self.r.execute_command(
            "WORKER.REGISTER", "raw", "QUEUES", "q", "INCARNATION", incarnation)
        register("one")
        self.r.execute_command("WORKER.QUIET", "raw")
        job = self.push("q", "payload")
        self.assertIsNone(self.r.execute_command("JOB.FETCH", "raw"))
        self.assertIsNone(self.r.execute_command("JOB.FETCH", "raw", "BLOCK", "50"))
        # The same process registering again (a reconnect, a failover) is still quiet.
        register("one")
        self.assertEqual(self.listed("raw")["quiet"], 1)
        self.assertIsNone(self.r.execute_command("JOB.FETCH", "raw"))
        fetcher = self.server.client()
        self.addCleanup(fetcher.close)
        result = {}
        t = threading.Thread(target=lambda: result.setdefault(
            "job", fetcher.execute_command("JOB.FETCH", "raw", "BLOCK", "20000")))
        t.start()
        wait_for(lambda: b"cmd=job.fetch" in self.r.execute_command("CLIENT", "LIST"),
                 what="the fetch to block")
        self.assertEqual(self.r.execute_command("WORKER.QUIET", "raw", "OFF"), 1)
        t.join(10)
        self.assertEqual(as_map(result["job"])["id"], job.encode())
        # A stop survives a reconnect too; another process under the id starts afresh.
        self.r.execute_command("WORKER.QUIET", "raw")
        self.r.execute_command("WORKER.STOP", "raw")
        register("one")
        beat = as_map(self.r.execute_command("WORKER.HEARTBEAT", "raw", "INCARNATION", "one"))
        self.assertEqual((beat["quiet"], beat["stop"]), (1, 1))
        register("two")
        beat = as_map(self.r.execute_command("WORKER.HEARTBEAT", "raw", "INCARNATION", "two"))
        self.assertEqual((beat["quiet"], beat["stop"]), (0, 0))

    def test_workers_report_memory_and_job_counts(self):
        self.worker("--queues", "counted", "--id", "counter")
        for argv in (["true"], ["true"], ["false"]):
            self.finished(self.push("counted", json.dumps({"argv": argv, "retry": False})))
        # (The heartbeat after the last outcome carries both counts; one before it, only some.)
        w = wait_for(lambda: (lambda w: w if (w["processed"], w["failed"]) == (2, 1) else None)(
            self.listed("counter")), what="the counts in a heartbeat")
        # Its own process and the children it runs jobs in: a few MB, not nothing, not GBs.
        self.assertGreater(w["rss"], 1 << 20)
        self.assertLess(w["rss"], 1 << 30)
        for bad in (["RSS", "-1"], ["PROCESSED", "x"], ["FAILED", "99999999999999999999"]):
            self.assertError(lambda: self.r.execute_command("WORKER.HEARTBEAT", "counter", *bad),
                             "RSS, PROCESSED and FAILED must be non-negative integers")
        # resque's per-worker counters and a Sidekiq process's RSS and quiet flag, as those
        # libraries write them.
        resque_id = "host-1:4242:mail"
        self.r.sadd("resque:workers", resque_id)
        self.r.set(f"resque:stat:processed:{resque_id}", 17)
        self.r.set(f"resque:stat:failed:{resque_id}", 3)
        self.r.sadd("processes", "box:1:abc")
        self.r.hset("box:1:abc", mapping={"beat": time.time(), "rss": 51200, "quiet": "true",
                                          "info": json.dumps({"hostname": "box", "pid": 1,
                                                              "queues": ["default"]})})
        resque = self.listed(resque_id)
        self.assertEqual((resque["processed"], resque["failed"], resque["rss"]), (17, 3, None))
        sidekiq = self.listed("box:1:abc")
        self.assertEqual((sidekiq["rss"], sidekiq["quiet"], sidekiq["processed"]),
                         (51200 * 1024, 1, None))
        # Values no Sidekiq writes are left out, never overflowed into bytes.
        for rss in ("9223372036854775807", str((1 << 63) // 1024), "-5", "many"):
            self.r.hset("box:1:abc", "rss", rss)
            self.assertIsNone(self.listed("box:1:abc")["rss"], rss)
        self.r.hset("box:1:abc", "rss", str((1 << 63) // 1024 - 1))
        self.assertEqual(self.listed("box:1:abc")["rss"], ((1 << 63) // 1024 - 1) * 1024)

    def test_capability_routing(self):
        self.worker("--queues", "render", "--id", "plain")
        self.worker("--queues", "render", "--id", "gpu-box", "--capabilities", "gpu",
                    "--labels", "rack-7,nvidia")
        (box,) = [as_map(x) for x in self.r.execute_command("WORKER.LIST")
                  if as_map(x)["id"] == b"gpu-box"]
        self.assertEqual((box["capabilities"], box["labels"]), ([b"gpu"], [b"rack-7", b"nvidia"]))
        gpu = [self.push("render", command("true"), "CAPABILITY", "gpu") for _ in range(5)]
        for job in gpu:
            self.assertEqual(self.finished(job)["worker"], b"gpu-box")
        orphan = self.push("render", command("true"), "CAPABILITY", "tpu")
        self.finished(self.push("render", command("true")))
        self.assertEqual(as_map(self.r.execute_command("JOB.INFO", orphan))["state"], b"ready")

    def test_job_kill_stops_a_running_job(self):
        self.r.execute_command("QUEUE.CREATE", "long", "RETRY", "0")
        self.worker("--queues", "long")
        job = self.push("long", command("sleep", "60"))
        self.running(job)
        started = time.monotonic()
        self.assertEqual(self.r.execute_command("JOB.KILL", job), 1)
        self.assertEqual(self.finished(job)["state"], b"failed")
        self.assertLess(time.monotonic() - started, 5)
        (f,) = [as_map(x) for x in as_map(self.r.execute_command("FAILED.LIST"))["failures"]]
        self.assertEqual((f["error"], f["state"]), (b"Killed", b"dead"))
        queued = self.push("long", "x", "DELAY", "99999")
        self.assertError(lambda: self.r.execute_command("JOB.KILL", queued),
                         f"job {queued} is not running (JOB.DELETE removes queued jobs)")

    def test_sigterm_finishes_running_jobs_first(self):
        w = self.worker("--queues", "grace")
        job = self.push("grace", command("sleep", "1"))
        self.running(job)
        w.proc.send_signal(signal.SIGTERM)
        self.assertEqual(w.proc.wait(10), 0)
        self.assertEqual(self.finished(job)["state"], b"done")


class SpawnTest(ServerTest):
    def test_a_worker_with_no_scheduler_starts_one(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        data = os.path.join(tempfile.mkdtemp(prefix="desaster-spawn-"), "data")
        w = Worker(port, "--queues", "default", "--data-dir", data)
        self.addCleanup(w.stop)
        spawned = wait_for(lambda: re.search(r"spawned desaster-scheduler pid (\d+)", w.log_text()),
                           what="the worker to start a scheduler")
        pid = int(spawned.group(1))
        self.addCleanup(lambda: os.kill(pid, signal.SIGTERM))
        w.wait_registered()
        r = redis.Redis(port=port)

        def push():
            try:
                return r.execute_command("JOB.PUSH", "default", command("echo", "no configuration"))
            except redis.BusyLoadingError:  # the new scheduler is still opening its data
                return None
        job = wait_for(push, what="the spawned scheduler to take jobs")
        info = wait_for(lambda: (lambda i: i if i and as_map(i)["state"] == b"done" else None)(
            r.execute_command("JOB.INFO", job)), what="the job")
        self.assertEqual(json.loads(as_map(info)["result"])["stdout"], "no configuration\n")


    def test_a_worker_whose_scheduler_goes_away_waits_for_it(self):
        scheduler = Scheduler()
        self.addCleanup(scheduler.stop)
        scheduler.wait_loaded()
        w = Worker(scheduler.port, "--queues", "default")
        self.addCleanup(w.stop)
        w.wait_registered()
        scheduler.stop()
        wait_for(lambda: w.log_text().count("cannot connect") >= 2,
                 what="the worker to try reconnecting")
        self.assertNotIn("spawned", w.log_text())  # not a second scheduler on other data


if __name__ == "__main__":
    main()
