"""Real queue libraries through failovers of a cluster (docs/CLUSTER.md): RQ, Sidekiq,
node-resque and BullMQ, each configured once with the nodes' Sentinel ports and once with one
node's plain address, produce and consume while masters are killed (SIGKILL) at random moments
under that load. (Celery 5.2, Debian 12's, is not among them: its worker stops consuming after
its broker connection drops, a defect of that version fixed in Celery 5.4; docs/CLUSTER.md.)

Each library's client (conformance/<library>/failover.*) numbers its jobs: what it enqueued
with an acknowledgement is in OUT/acked, what ran is in OUT/done (one line per run). Nothing
else is the oracle. BullMQ fetches reliably (a job is moved to an active list under a lock):
nothing acknowledged may be lost, nothing may run twice. Sidekiq (BRPOP), RQ (BLPOP) and
node-resque (a script that pops) take a job and then run it: a pop in flight when the master died is lost, so they may lose at most (their consumers x
kills) jobs, listed by number, and run at most as many twice.

DESASTER_CLIENT_FAILOVERS sets how many masters are killed (default 5);
DESASTER_CLIENT_LIBRARIES=sidekiq,rq runs only those.
"""
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from harness import EtcdCluster, main, redis, wait_for
from test_cluster import Cluster, lines_of

KILLS = int(os.environ.get("DESASTER_CLIENT_FAILOVERS", "5"))
CONFORMANCE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "conformance")
# library: (command, consumers fetching at once, fetches reliably)
LIBRARIES = {
    "rq": (["/usr/bin/python3", os.path.join(CONFORMANCE, "rq", "failover.py")], 1, False),
    "sidekiq": (["ruby", os.path.join(CONFORMANCE, "sidekiq", "failover.rb")], 2, False),
    "node-resque": (["node", os.path.join(CONFORMANCE, "node", "failover_node_resque.js")], 1,
                    False),
    "bullmq": (["node", os.path.join(CONFORMANCE, "node", "failover_bullmq.js")], 2, True),
}


class Client:
    """One library's failover client, with its directory of acked/done numbers."""

    def __init__(self, test, library, how, env):
        self.library, self.how = library, how
        self.command, self.consumers, self.reliable = LIBRARIES[library]
        self.out = tempfile.mkdtemp(prefix=f"failover-{library}-{how}-")
        test.addCleanup(shutil.rmtree, self.out, True)
        self.log = open(os.path.join(self.out, "client.log"), "w")
        self.proc = subprocess.Popen(
            self.command, stdout=self.log, stderr=subprocess.STDOUT,
            env=dict(os.environ, OUT=self.out, QUEUE=f"{library}-{how}", **env))
        test.addCleanup(self.stop)

    def acked(self):
        return set(map(int, lines_of(os.path.join(self.out, "acked"))))

    def runs(self):
        return list(map(int, lines_of(os.path.join(self.out, "done"))))

    def tail(self):
        text = ""
        for name in ("client.log", "worker.log"):
            try:
                with open(os.path.join(self.out, name), errors="replace") as f:
                    text += f"--- {name}:\n" + "\n".join(f.read().splitlines()[-80:]) + "\n"
            except FileNotFoundError:
                pass
        return text

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class ClientsThroughFailoversTest(unittest.TestCase):
    def test_queue_libraries_keep_working_through_master_kills(self):
        etcd = EtcdCluster(3)
        self.addCleanup(etcd.stop)
        c = Cluster(self, etcd, name="apps", forward=True, sentinel=True)
        m = c.master()
        plain = next(i for i, n in enumerate(c.nodes) if n is not m)
        sentinel_env = {"SENTINELS": ",".join(f"127.0.0.1:{p}" for p in c.sentinel_ports),
                        "MASTER_NAME": "apps"}
        plain_env = {"REDIS_URL": f"redis://127.0.0.1:{c.ports[plain]}/0"}
        only = os.environ.get("DESASTER_CLIENT_LIBRARIES")  # to look at some more closely
        clients = [Client(self, library, how, env) for library in LIBRARIES
                   if not only or library in only.split(",")
                   for how, env in (("sentinel", sentinel_env), ("plain", plain_env))]

        def connections():
            """Every node's CLIENT LIST, for a failure's message."""
            out = []
            for n in c.nodes:
                try:
                    with n.client(socket_timeout=2) as r:
                        listed = r.execute_command("CLIENT", "LIST").decode()
                except (redis.RedisError, OSError) as e:
                    listed = repr(e)
                out.append(f"--- CLIENT LIST of {n.port}:\n{listed}")
            return "\n".join(out)

        def progress(client, at_least):
            if client.proc.poll() is not None:
                raise AssertionError(f"{client.library} ({client.how}) exited\n{client.tail()}")
            return len(client.runs()) >= at_least

        def all_progress(step):
            marks = [len(cl.runs()) + step for cl in clients]
            for cl, mark in zip(clients, marks):
                try:
                    wait_for(lambda: progress(cl, mark), timeout=90,
                             what=f"{cl.library} ({cl.how}) to run {step} more jobs")
                except AssertionError as e:
                    raise AssertionError(f"{e}\n{cl.tail()}\n{c.logs()}\n{connections()}") from None

        all_progress(5)
        rng = random.Random(1206)
        for kill in range(KILLS):
            # At a random moment of the load: after a random number of further jobs.
            all_progress(rng.randint(1, 10))
            m = c.master()
            i = c.nodes.index(m)
            m.kill()
            c.master(other_than=m, timeout=30)
            c.restart(i)
        all_progress(5)  # every client works with the last master
        for cl in clients:
            open(os.path.join(cl.out, "stop"), "w").close()
        for cl in clients:
            wait_for(lambda: os.path.exists(os.path.join(cl.out, "stopped")), timeout=60,
                     what=f"{cl.library} ({cl.how}) to stop producing")

        def drained(cl):
            # Everything acknowledged ran, or (a fetcher that may lose pops) nothing ran for 3 s.
            runs = len(cl.runs())
            if cl.acked() <= set(cl.runs()):
                return True
            if cl.reliable:
                return False
            time.sleep(3)
            return len(cl.runs()) == runs
        for cl in clients:
            # A consumer slowed by a loaded machine (RQ forks a process per job) may still be
            # working off its backlog: 90 s more whenever it has run jobs in the last 90 s, up
            # to 5 minutes in all.
            deadline = time.monotonic() + 300
            while True:
                before = len(cl.runs())
                try:
                    wait_for(lambda: drained(cl), timeout=90,
                             what=f"{cl.library} ({cl.how}) to run what it acknowledged")
                    break
                except AssertionError as e:
                    missing = len(cl.acked() - set(cl.runs()))
                    if len(cl.runs()) == before or time.monotonic() > deadline:
                        raise AssertionError(f"{e}: {missing} acknowledged jobs not run, "
                                             f"{len(cl.runs()) - before} runs in the last 90 s")
                    print(f"{cl.library} ({cl.how}): {missing} acknowledged jobs still to run",
                          file=sys.stderr)
        report = []
        failures = []
        for cl in clients:
            acked, runs = cl.acked(), cl.runs()
            lost = sorted(acked - set(runs))
            twice = sorted(n for n in set(runs) if runs.count(n) > 1)
            bound = 0 if cl.reliable else cl.consumers * KILLS
            report.append(f"{cl.library} ({cl.how}): {len(acked)} acknowledged, {len(runs)} runs,"
                          f" lost {lost}, run twice {twice} (allowed: {bound} each)")
            if len(lost) > bound or len(twice) > bound:
                failures.append(f"{report[-1]}\n{cl.tail()}")
        print(f"{KILLS} masters killed under load:\n  " + "\n  ".join(report), file=sys.stderr)
        self.assertEqual(failures, [])


if __name__ == "__main__":
    main()
