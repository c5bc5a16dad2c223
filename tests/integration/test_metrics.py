#!/usr/bin/python3
"""Job metrics: runs per queue and per class, with duration and wait percentiles from mergeable
histograms per minute, hour and day (METRICS.TOP, METRICS.RANGE), durable across restarts, the
busiest names kept apart and the rest counted as (other)."""
import json
import math
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redis  # noqa: E402
from harness import Scheduler, ServerTest, as_map, data_dir, main, wait_for  # noqa: E402


def job(klass, *args):
    return json.dumps({"class": klass, "args": list(args)})


def top(r, dimension, *args):
    """METRICS.TOP's series as {name: fields}."""
    reply = as_map(r.execute_command("METRICS.TOP", dimension, *args))
    return {m["name"].decode(): m for m in map(as_map, reply["series"])}


def exact_quantile(values, q):
    """The value of rank ceil(q * n), as the server's histograms define a quantile."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


class MetricsTest(ServerTest):
    def setUp(self):
        super().setUp()
        self.r.execute_command("WORKER.REGISTER", "w", "QUEUES", "reports,mail")

    def run_with_durations(self, queue, klass, durations_ms):
        """Leases one job per duration at once and acknowledges each when its time has passed:
        the server measures each run from its lease to its acknowledgement."""
        r = self.r
        ids = [r.execute_command("JOB.PUSH", queue, job(klass, i)).decode()
               for i in range(len(durations_ms))]
        for _ in ids:
            r.execute_command("JOB.FETCH", "w")
        start = time.monotonic()  # (each run began before: it lasts at least its time)
        for id, ms in sorted(zip(ids, durations_ms), key=lambda p: p[1]):
            # Waiting for a moment, not for a state: the durations are what is measured.
            delay = start + ms / 1000 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.assertEqual(r.execute_command("JOB.ACK", id, "WORKER", "w"), 1)
        return ids

    def completion(self, id):
        """The run as the completed store keeps it: timed by the same clock as the metrics, so a
        busy machine that stretches a run stretches both alike."""
        return as_map(self.r.execute_command("COMPLETED.INFO", id))

    def assertInBucket(self, quantile, exact, what):
        """A histogram's quantile is the middle of the bucket holding the exact value: within
        1/32 of it (and a millisecond of rounding)."""
        self.assertGreaterEqual(quantile, math.floor(exact * 31 / 32), what)
        self.assertLessEqual(quantile, math.ceil(exact * 33 / 32), what)

    def test_percentiles_of_known_durations(self):
        durations = [100 + 40 * i for i in range(20)]  # 100 .. 860 ms
        ids = self.run_with_durations("reports", "Report", durations)
        measured = [self.completion(id)["duration"] for id in ids]
        for took, waited in zip(measured, durations):
            self.assertGreaterEqual(took, waited)
        m = top(self.r, "CLASS")["Report"]
        self.assertEqual((m["processed"], m["failed"]), (20, 0))
        self.assertInBucket(m["duration_p50"], exact_quantile(measured, 0.5), "p50")
        self.assertInBucket(m["duration_p95"], exact_quantile(measured, 0.95), "p95")
        self.assertEqual(m["duration_max"], max(measured), "max")
        # The same run counts for its queue, and any range that holds it gives the same answer.
        q = top(self.r, "QUEUE")["reports"]
        for field in ("processed", "duration_p50", "duration_p95", "duration_max"):
            self.assertEqual(q[field], m[field], field)
        for resolution in ("MINUTE", "HOUR", "DAY"):
            ranged = as_map(self.r.execute_command("METRICS.RANGE", "CLASS", "Report",
                                                   "RESOLUTION", resolution))
            total = as_map(ranged["total"])
            self.assertEqual(ranged["resolution"], resolution.lower().encode())
            self.assertEqual((total["processed"], total["duration_p95"]),
                             (20, m["duration_p95"]), resolution)
            buckets = [as_map(b) for b in ranged["buckets"]]
            self.assertEqual(sum(b["processed"] for b in buckets), 20)
            for b in buckets:
                self.assertEqual(b["start"] % ranged["bucket_ms"], 0)

    def test_failures_count_apart_and_every_series_sums_to_all_runs(self):
        r = self.r
        self.run_with_durations("mail", "Mailer", [0, 0, 0])
        failing = r.execute_command("JOB.PUSH", "mail", job("Mailer", "x")).decode()
        r.execute_command("JOB.FETCH", "w")
        r.execute_command("JOB.FAIL", failing, "WORKER", "w", "ERROR", "Boom", "MESSAGE", "no")
        # A resque worker's failure report counts too; it tells no run time.
        r.rpush("resque:failed", json.dumps({
            "failed_at": "2026/12/06 06:00:00 UTC", "payload": {"class": "Legacy", "args": []},
            "exception": "RuntimeError", "error": "boom", "backtrace": [], "worker": "h:1:q",
            "queue": "legacy"}))
        classes = top(r, "CLASS")
        self.assertEqual((classes["Mailer"]["processed"], classes["Mailer"]["failed"]), (3, 1))
        # (No run time told: its percentiles are null.)
        self.assertEqual((classes["Legacy"]["failed"], classes["Legacy"]["duration_max"]),
                         (1, None))
        everything = as_map(as_map(r.execute_command("METRICS.RANGE", "CLASS", "*"))["total"])
        self.assertEqual((everything["processed"], everything["failed"]), (3, 2))
        self.assertEqual(list(classes), ["Mailer", "Legacy"])  # the most runs first
        self.assertEqual(list(top(r, "CLASS", "LIMIT", 1)), ["Mailer"])

    def test_wait_is_time_ready_in_the_queue_and_a_delayed_job_waits_from_when_it_is_due(self):
        r = self.r
        r.execute_command("JOB.PUSH", "mail", job("Waited"))
        pushed = time.monotonic()
        delayed = r.execute_command("JOB.PUSH", "mail", job("Delayed"), "DELAY", 300).decode()
        wait_for(lambda: time.monotonic() - pushed > 0.4, what="400 ms to pass")
        first = as_map(r.execute_command("JOB.FETCH", "w"))["id"].decode()
        r.execute_command("JOB.ACK", first, "WORKER", "w")
        leased = as_map(r.execute_command("JOB.FETCH", "w"))["id"].decode()
        self.assertEqual(leased, delayed)
        r.execute_command("JOB.ACK", delayed, "WORKER", "w")
        classes = top(r, "CLASS")
        waited = self.completion(first)["wait"]
        self.assertGreaterEqual(waited, 400)
        self.assertEqual(classes["Waited"]["wait_max"], waited, "ready from its push")
        # Due 300 ms after its push, leased after 400: it waited from when it was due.
        pushed_at = self.completion(first)["enqueued_at"]
        due = self.completion(delayed)
        self.assertGreaterEqual(due["enqueued_at"], pushed_at + 300)
        self.assertEqual(classes["Delayed"]["wait_max"], due["wait"])
        # One delayed by an hour and run now waits from then.
        later = r.execute_command("JOB.PUSH", "mail", job("RunNow"), "DELAY", 3600000).decode()
        wait_for(lambda: time.monotonic() - pushed > 0.8, what="400 ms more to pass")
        self.assertEqual(r.execute_command("JOB.RUN", later), 1)
        self.assertEqual(as_map(r.execute_command("JOB.FETCH", "w"))["id"].decode(), later)
        r.execute_command("JOB.ACK", later, "WORKER", "w")
        run_now = self.completion(later)
        self.assertGreaterEqual(run_now["enqueued_at"], pushed_at + 800)
        self.assertEqual(top(r, "CLASS")["RunNow"]["wait_max"], run_now["wait"])

    def test_resque_workers_runs_are_seen_in_the_keys_they_write(self):
        """What Ruby resque sends around a job (Resque::Worker#working_on, #done_working and
        Resque::Failure.create): the run is timed from the SET of the worker's key to its DEL."""
        r = self.r
        worker = "box:4242:mail,bills"
        r.sadd("resque:workers", worker)

        def run(klass, seconds, fail=False):
            job = {"class": klass, "args": [1]}
            r.set(f"resque:worker:{worker}", json.dumps(
                {"queue": "mail", "run_at": "2026-12-06T06:00:00Z", "payload": job}))
            started = time.monotonic()
            wait_for(lambda: time.monotonic() - started >= seconds, what="the job's time")
            if fail:
                r.rpush("resque:failed", json.dumps({
                    "failed_at": "2026/12/06 06:00:00 UTC", "payload": job,
                    "exception": "RuntimeError", "error": "boom", "backtrace": [],
                    "worker": worker, "queue": "mail"}))
                r.incrby(f"resque:stat:failed:{worker}", 1)
            r.incrby(f"resque:stat:processed:{worker}", 1)  # resque counts failed jobs too
            r.delete(f"resque:worker:{worker}")

        def completed():
            return [as_map(j) for j in as_map(r.execute_command("COMPLETED.LIST"))["jobs"]]

        run("Mailer", 0.3)
        run("Mailer", 0.1, fail=True)
        classes = top(r, "CLASS")
        self.assertEqual((classes["Mailer"]["processed"], classes["Mailer"]["failed"]), (1, 1))
        # The successful run is in the completed store, timed alike; the failed run's record
        # knows when it started.
        (succeeded,) = completed()
        failure = as_map(as_map(r.execute_command("FAILED.LIST"))["failures"][0])
        failed_ms = failure["failed_at"] - failure["started_at"]
        self.assertGreaterEqual(succeeded["duration"], 300)
        self.assertGreaterEqual(failed_ms, 100)
        self.assertEqual(classes["Mailer"]["duration_max"], succeeded["duration"], "the longest")
        # (The shorter of two runs is the median.)
        self.assertInBucket(top(r, "QUEUE")["resque:queue:mail"]["duration_p50"], failed_ms, "p50")
        self.assertIsNone(classes["Mailer"]["wait_p95"])  # resque's jobs do not say when pushed
        # ... but the server saw this one pushed and popped just before its run started.
        r.rpush("resque:queue:mail", json.dumps({"class": "Mailer", "args": [1]}))
        pushed = time.monotonic()
        wait_for(lambda: time.monotonic() - pushed >= 0.2, what="the job to wait")
        r.lpop("resque:queue:mail")
        run("Mailer", 0)
        waited = completed()[0]["wait"]
        self.assertGreaterEqual(waited, 200)
        self.assertEqual(top(r, "CLASS")["Mailer"]["wait_max"], waited, "the popped job's wait")
        # Keys of the same shape that are no worker's job are no run.
        r.set("resque:worker:box:4242:mail,bills:started", "2026-12-06T06:00:00Z")
        r.delete("resque:worker:box:4242:mail,bills:started")
        r.set("resque:worker:elsewhere:1:q", json.dumps({"queue": "q", "payload": {"class": "X"}}))
        r.incrby("resque:stat:processed:elsewhere:1:q", 1)
        r.delete("resque:worker:elsewhere:1:q")
        self.assertEqual(list(top(r, "CLASS")), ["Mailer"])

    def test_rq_runs_are_counted_as_rq_files_them_and_bad_job_hashes_do_no_harm(self):
        r = self.r
        r.hset("rq:job:a", mapping={"origin": "smoke", "description": "jobs.add(1, 2)",
                                    "enqueued_at": "2026-12-06T06:00:00.000000Z",
                                    "started_at": "2026-12-06T06:00:01.250000Z",
                                    "ended_at": "2026-12-06T06:00:01.750000Z"})
        r.zadd("rq:finished:smoke", {"a": 1})
        r.zadd("rq:finished:smoke", {"a": 2})  # filed again: not a new run
        # A hash no RQ wrote: times that are no times, a description as long as a payload.
        r.hset("rq:job:evil", mapping={"origin": "smoke", "description": "x" * 100000,
                                       "started_at": "soon", "ended_at": "2026-12-06T06:00:00Z"})
        r.zadd("rq:failed:smoke", {"evil": 1, "no-such-job": 1})
        # Finished, it is a completed job; one that ended before it started ran for no time.
        r.hset("rq:job:back", mapping={"origin": "smoke", "description": "jobs.back()",
                                       "started_at": "2026-12-06T06:00:02Z",
                                       "ended_at": "2026-12-06T06:00:01Z"})
        r.zadd("rq:finished:smoke", {"back": 1})
        back = as_map(as_map(r.execute_command("COMPLETED.LIST", "CLASS", "jobs.back"))["jobs"][0])
        self.assertEqual((back["duration"], back["wait"], back["enqueued_at"]), (0, None, None))
        # Times in the year 2999 are now: it waited and ran for no time, and finished by now.
        r.hset("rq:job:ahead", mapping={"origin": "smoke", "description": "jobs.ahead()",
                                        "enqueued_at": "2999-01-01T00:00:00Z",
                                        "ended_at": "2999-01-01T00:00:01Z"})
        r.zadd("rq:finished:smoke", {"ahead": 1})
        ahead = as_map(as_map(r.execute_command("COMPLETED.LIST", "CLASS", "jobs.ahead"))["jobs"][0])
        self.assertEqual((ahead["duration"], ahead["wait"]), (0, 0))
        self.assertLessEqual(ahead["finished_at"], time.time() * 1000)
        classes = top(r, "CLASS")
        self.assertEqual((classes["jobs.add"]["processed"], classes["jobs.add"]["duration_max"],
                          classes["jobs.add"]["wait_max"]), (1, 500, 1250))
        self.assertEqual((classes["x" * 200]["failed"], classes["x" * 200]["duration_max"]),
                         (1, None))
        self.assertEqual(top(r, "QUEUE")["rq:queue:smoke"]["failed"], 1)

    def test_ranges_and_bad_input(self):
        r = self.r
        self.run_with_durations("mail", "Mailer", [0])
        now = int(time.time() * 1000)
        self.assertEqual(top(r, "QUEUE", "SINCE", now - 1000, "UNTIL", now + 1000).keys(), {"mail"})
        self.assertEqual(top(r, "QUEUE", "SINCE", now + 120000, "UNTIL", now + 240000), {})
        self.assertEqual(as_map(r.execute_command("METRICS.TOP", "QUEUE", "LAST", 86400 * 10))
                         ["resolution"], b"hour")  # the finest that still holds the range
        self.assertEqual(as_map(r.execute_command("METRICS.RANGE", "QUEUE", "nosuch"))["buckets"],
                         [])
        for args, message in [
                (("QUEUES",), "the dimension is QUEUE or CLASS"),
                (("QUEUE", "RESOLUTION", "WEEK"), "RESOLUTION is MINUTE, HOUR or DAY"),
                (("QUEUE", "SINCE", 5, "UNTIL", 4), "SINCE is after UNTIL"),
                (("QUEUE", "LIMIT", 0), "LIMIT must be an integer >= 1"),
                (("QUEUE", "LAST", 0), "LAST must be an integer from 1 to 34560000"),
                (("QUEUE", "SINCE", "soon"), "SINCE must be an integer >= 0"),
                (("QUEUE", "SINCE"), "syntax error"),
                (("QUEUE", "EVERY", 1), "unknown option 'EVERY'")]:
            self.assertError(lambda: r.execute_command("METRICS.TOP", *args), message)
        self.assertError(lambda: r.execute_command("METRICS.RANGE", "QUEUE"),
                         "wrong number of arguments for 'metrics.range' command")
        r.flushdb()
        self.assertEqual(top(r, "QUEUE"), {})  # FLUSHDB forgets a database's metrics

    def test_debug_populate_fills_every_bucket_kept(self):
        r = self.r
        self.assertEqual(r.execute_command("DEBUG", "METRICS-POPULATE", 2), b"OK")
        for last, resolution, buckets in ((3600 * 8, b"minute", 480), (86400 * 30, b"hour", 720),
                                          (86400 * 400, b"day", 400)):
            ranged = as_map(r.execute_command("METRICS.RANGE", "CLASS", "populated:1", "LAST", last))
            self.assertEqual(ranged["resolution"], resolution)
            # Every bucket of the range counted runs (the first may hold only its end).
            self.assertGreaterEqual(len(ranged["buckets"]), buckets)
            total = as_map(ranged["total"])
            self.assertEqual(total["failed"] * 15, total["processed"])  # 1 run in 16 failed
            self.assertLessEqual(total["duration_max"], 60000)
        self.assertEqual(list(top(r, "CLASS")), ["populated:0", "populated:1"])
        self.assertError(lambda: r.execute_command("DEBUG", "METRICS-POPULATE", 0),
                         "METRICS-POPULATE must be an integer from 1 to 1000")

    def test_users_see_the_queues_they_may_read(self):
        r = self.r
        self.run_with_durations("mail", "Mailer", [0])
        self.run_with_durations("reports", "Report", [0])
        r.execute_command("ACL", "SETUSER", "alice", "on", ">pw", "~mail", "+@all")
        self.addCleanup(r.execute_command, "ACL", "DELUSER", "alice")
        alice = self.server.client(username="alice", password="pw")
        self.addCleanup(alice.close)
        self.assertEqual(list(top(alice, "QUEUE")), ["mail"])
        self.assertEqual(as_map(as_map(alice.execute_command("METRICS.RANGE", "QUEUE", "mail"))
                                ["total"])["processed"], 1)
        for args in (("METRICS.RANGE", "QUEUE", "reports"), ("METRICS.RANGE", "QUEUE", "*"),
                     ("METRICS.TOP", "CLASS")):
            self.assertRaises(redis.exceptions.NoPermissionError,
                              lambda: alice.execute_command(*args))
        self.assertEqual(sorted(r.execute_command("ACL", "CAT", "metrics")),
                         [b"metrics.range", b"metrics.top"])
        # A user who may read every queue reads the classes too, with read commands only.
        r.execute_command("ACL", "SETUSER", "viewer", "on", ">pw", "~*", "+@read")
        self.addCleanup(r.execute_command, "ACL", "DELUSER", "viewer")
        viewer = self.server.client(username="viewer", password="pw")
        self.addCleanup(viewer.close)
        self.assertEqual(list(top(viewer, "CLASS")), ["Mailer", "Report"])


class MetricsStoreTest(unittest.TestCase):
    """Configuration changes and restarts: each test starts its own server."""

    def scheduler(self, data, *args):
        s = Scheduler(*args, data_dir=data)
        self.addCleanup(s.stop)
        s.wait_loaded()
        return s

    def test_metrics_survive_a_restart(self):
        data = data_dir(self, "metrics")
        s = self.scheduler(data)
        r = s.client()
        r.execute_command("WORKER.REGISTER", "w", "QUEUES", "q")
        for i in range(3):
            id = r.execute_command("JOB.PUSH", "q", job("Kept", i)).decode()
            r.execute_command("JOB.FETCH", "w")
            r.execute_command("JOB.ACK", id, "WORKER", "w")
        before = {d: top(r, d) for d in ("QUEUE", "CLASS")}
        self.assertEqual(before["CLASS"]["Kept"]["processed"], 3)
        s.stop()
        r = self.scheduler(data).client()
        self.assertEqual({d: top(r, d) for d in ("QUEUE", "CLASS")}, before)

    def test_beyond_the_busiest_names_runs_count_as_other(self):
        s = self.scheduler(data_dir(self, "top"), "--metrics-top", "2")
        r = s.client()
        r.execute_command("WORKER.REGISTER", "w", "QUEUES", "q")

        def run(klass, n):
            for i in range(n):
                id = r.execute_command("JOB.PUSH", "q", job(klass, i)).decode()
                r.execute_command("JOB.FETCH", "w")
                r.execute_command("JOB.ACK", id, "WORKER", "w")

        run("A", 5)
        run("B", 2)
        run("C", 1)
        counts = lambda: {n: m["processed"] for n, m in top(r, "CLASS").items()}
        self.assertEqual(counts(), {"A": 5, "B": 2, "(other)": 1})
        run("C", 2)  # three runs outrun B's two: B's history goes to (other), C gets a place
        self.assertEqual(counts(), {"A": 5, "C": 1, "(other)": 4})
        r.config_set("metrics-top", "0")
        run("D", 1)
        self.assertEqual(counts()["(other)"], 5)
        self.assertError = ServerTest.assertError.__get__(self)
        self.assertError(lambda: r.config_set("metrics-top", "1001"),
                         "CONFIG SET failed (possibly related to argument 'metrics-top') - "
                         "argument must be between 0 and 1000 inclusive")


if __name__ == "__main__":
    main()
