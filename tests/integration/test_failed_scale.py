#!/usr/bin/python3
"""The failed store at scale: DESASTER_FAILURES resque failure entries (default 100,000) pushed
to resque:failed the way resque workers write them, then searched, filtered, grouped, sorted,
paged and acted on in bulk. Every answer is checked against the generated data; each query's
latency is printed (the numbers the failed-jobs issue asks to report)."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ServerTest, Timings, as_map, main, pipe  # noqa: E402

N = int(os.environ.get("DESASTER_FAILURES", "100000"))
QUEUES = ["mail", "billing", "reports", "sync"]
ERRORS = [("Net::ReadTimeout", "timed out after {} s"), ("ArgumentError", "invoice {} has no customer"),
          ("ActiveRecord::RecordNotFound", "Couldn't find User with 'id'={}")]


def entry(i):
    queue = QUEUES[i % len(QUEUES)]
    error, message = ERRORS[i % len(ERRORS)]
    return json.dumps({
        "failed_at": "2026/11/30 03:40:00 UTC",
        "payload": {"class": f"Job{i % 7}", "args": [i, f"tenant-{i % 100}"]},
        "exception": error, "error": message.format(i),
        "backtrace": [f"app/jobs/job{i % 7}.rb:{10 + i % 5}:in `perform'", "resque/job.rb:1"],
        "worker": f"host-{i % 3}:100{i % 3}:{queue}", "queue": queue})


class FailedScaleTest(ServerTest):
    def test_queries_over_many_failures(self):
        r = self.r
        for q in QUEUES:  # no automatic retries here: every failure stays as it was recorded
            r.execute_command("QUEUE.CONFIG", f"resque:queue:{q}", "RETRY", "0")
        started = time.perf_counter()
        pipe(self.server, (["RPUSH", "resque:failed", *[entry(i) for i in range(s, min(N, s + 500))]]
                           for s in range(0, N, 500)))
        timings = Timings(r)
        timings.note(f"{N} failures recorded from resque:failed pushes in "
                  f"{time.perf_counter() - started:.1f} s")
        self.assertEqual(r.llen("resque:failed"), N)

        def page(reply):
            m = as_map(reply)
            return m["total"], [as_map(f) for f in m["failures"]]

        total, rows = page(timings.run("newest page (50)", "FAILED.LIST", "LIMIT", 50))
        self.assertEqual(total, N)
        self.assertEqual(json.loads(rows[0]["args"])[0], N - 1)
        self.assertTrue(all(f["state"] == b"dead" for f in rows))
        total, rows = page(timings.run("search the backtrace", "FAILED.LIST", "MATCH", "job3.rb:12",
                                 "LIMIT", 20))
        self.assertEqual(total, len([i for i in range(N) if i % 7 == 3 and i % 5 == 2]))
        total, rows = page(timings.run("search the message", "FAILED.LIST", "MATCH", "invoice 4242 ",
                                 "LIMIT", 20))
        self.assertEqual(total, 1 if 4242 < N and 4242 % 3 == 1 else 0)
        total, rows = page(timings.run("filter queue + error class", "FAILED.LIST", "QUEUE",
                                 "resque:queue:billing", "ERROR", "ArgumentError", "LIMIT", 20))
        self.assertEqual(total, len([i for i in range(N) if i % 4 == 1 and i % 3 == 1]))
        billing = len([i for i in range(5, N, 7) if i % 4 == 1])  # sorts first of the queues
        total, rows = page(timings.run("filter class, sort by queue, a page", "FAILED.LIST", "CLASS",
                                 "Job5", "SORT", "queue", "OFFSET", billing - 50, "LIMIT", 100))
        self.assertEqual(total, len(range(5, N, 7)))
        self.assertEqual([f["queue"] for f in rows],
                         [b"resque:queue:billing"] * 50 + [b"resque:queue:mail"] * 50)
        since = as_map(r.execute_command("FAILED.LIST", "LIMIT", 1))["failures"]
        newest = as_map(since[0])["failed_at"]
        total, _ = page(timings.run("time range", "FAILED.LIST", "SINCE", newest - 1000, "LIMIT", 10))
        self.assertGreater(total, 0)
        groups = [as_map(g) for g in timings.run("group by fingerprint", "FAILED.GROUPS", "BY",
                                           "fingerprint")]
        # Fingerprint = queue x class x error x normalised message: 4 x 7 x 3 combinations that
        # occur (i mod 84 picks one), every message differing only in its number.
        self.assertEqual(len(groups), 84)
        self.assertEqual(sum(g["count"] for g in groups), N)
        by_queue = [as_map(g) for g in timings.run("group by queue", "FAILED.GROUPS", "BY", "queue")]
        self.assertEqual(sorted(g["group"] for g in by_queue),
                         sorted(f"resque:queue:{q}".encode() for q in QUEUES))
        fp = groups[0]["fingerprint"]
        retried = timings.run("retry a whole group", "FAILED.RETRY", "WHERE", "FINGERPRINT", fp)
        self.assertEqual(retried, groups[0]["count"])
        queue = groups[0]["queue"]
        self.assertEqual(r.llen(queue), retried)
        removed = timings.run("remove by query (one class)", "FAILED.REMOVE", "WHERE", "CLASS", "Job6")
        self.assertEqual(removed, len(range(6, N, 7)))
        total, _ = page(r.execute_command("FAILED.LIST", "LIMIT", 0))
        self.assertEqual(total, N - removed)
        timings.print()


if __name__ == "__main__":
    main()
