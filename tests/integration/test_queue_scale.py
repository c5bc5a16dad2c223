#!/usr/bin/python3
"""Search, filter, sort and pagination over a big queue: DESASTER_QUEUE_JOBS jobs (default one
million) of ~300-byte resque payloads. Checks every answer against the known data and prints
each query's latency (the numbers the queue issue asks to report)."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ServerTest, Timings, as_map, main, pipe  # noqa: E402

N = int(os.environ.get("DESASTER_QUEUE_JOBS", "1000000"))
CLASSES = 20
CUSTOMERS = 1000
KEY = "resque:queue:big"


def payload(i):
    base = {"class": f"Class{i % CLASSES}", "args": [i, f"customer-{i % CUSTOMERS}"]}
    pad = 300 - len(json.dumps(base)) - len(', "pad": ""') - 2
    base["pad"] = "x" * max(0, pad)
    return json.dumps(base, separators=(",", ":"))


class QueueScaleTest(ServerTest):
    def test_queries_over_a_big_queue(self):
        r = self.r
        started = time.perf_counter()
        batch = 1000
        pipe(self.server, (["RPUSH", KEY, *[payload(i) for i in range(s, min(N, s + batch))]]
                           for s in range(0, N, batch)))
        load_s = time.perf_counter() - started
        self.assertEqual(r.llen(KEY), N)
        timings = Timings(r)
        timings.note(f"{N} jobs loaded with RPUSH in {load_s:.1f} s")

        def jobs_of(reply):
            m = as_map(reply)
            return m["total"], [as_map(j) for j in m["jobs"]]

        total, jobs = jobs_of(timings.run("first page (dispatch order, 50)", "QUEUE.JOBS", KEY,
                                    "LIMIT", 50))
        self.assertEqual(total, N)
        self.assertEqual([j["position"] for j in jobs], list(range(50)))
        deep = N - 100
        total, jobs = jobs_of(timings.run(f"page at offset {deep}", "QUEUE.JOBS", KEY, "OFFSET", deep,
                                    "LIMIT", 50))
        self.assertEqual([json.loads(j["payload"])["args"][0] for j in jobs],
                         list(range(deep, deep + 50)))
        total, jobs = jobs_of(timings.run("substring search, 50 of its matches", "QUEUE.JOBS", KEY,
                                    "MATCH", 'customer-123"', "LIMIT", 50))
        self.assertEqual(total, len(range(123, N, CUSTOMERS)))
        self.assertTrue(all(b'customer-123"' in j["payload"] for j in jobs))
        total, jobs = jobs_of(timings.run("class filter", "QUEUE.JOBS", KEY, "CLASS", "Class7",
                                    "LIMIT", 50))
        self.assertEqual(total, len(range(7, N, CLASSES)))
        self.assertTrue(all(j["class"] == b"Class7" for j in jobs))
        middle = len(range(7, N, CLASSES)) // 2
        total, jobs = jobs_of(timings.run("class filter, a page in the middle", "QUEUE.JOBS", KEY,
                                    "CLASS", "Class7", "OFFSET", middle, "LIMIT", 50))
        self.assertEqual(json.loads(jobs[0]["payload"])["args"][0], 7 + middle * CLASSES)
        total, jobs = jobs_of(timings.run("args filter", "QUEUE.JOBS", KEY, "ARGS",
                                    '"customer-999"', "LIMIT", 10))
        self.assertEqual(total, len(range(999, N, CUSTOMERS)))
        total, jobs = jobs_of(timings.run("sort by class", "QUEUE.JOBS", KEY, "SORT", "class",
                                    "LIMIT", 50))
        self.assertTrue(all(j["class"] == b"Class0" for j in jobs))
        total, jobs = jobs_of(timings.run("sort by enqueue time, newest first", "QUEUE.JOBS", KEY,
                                    "SORT", "enqueued", "DESC", "LIMIT", 50))
        self.assertEqual(json.loads(jobs[0]["payload"])["args"][0], N - 1)
        total, jobs = jobs_of(timings.run("sort by ETA, last page", "QUEUE.JOBS", KEY, "SORT", "eta",
                                    "DESC", "LIMIT", 20))
        self.assertEqual(total, N)
        self.assertEqual(len(timings.run("LRANGE 0 49", "LRANGE", KEY, 0, 49)), 50)
        self.assertEqual(json.loads(timings.run("LINDEX -1", "LINDEX", KEY, -1))["args"][0], N - 1)
        moved = timings.run("JOB.MOVE WHERE class (bulk)", "JOB.MOVE", "resque:queue:other", "WHERE",
                      KEY, "CLASS", "Class3")
        self.assertEqual(moved, len(range(3, N, CLASSES)))
        deleted = timings.run("JOB.DELETE WHERE class (bulk)", "JOB.DELETE", "WHERE", KEY, "CLASS",
                        "Class19")
        self.assertEqual(deleted, len(range(19, N, CLASSES)))
        self.assertEqual(r.llen(KEY), N - moved - deleted)
        t = time.perf_counter()
        self.assertEqual(json.loads(r.lpop(KEY))["args"][0], 0)
        timings.note(f"LPOP after the bulk changes: {(time.perf_counter() - t) * 1000:.1f} ms")
        # More jobs than a clear takes in one slice: each slice is its own deletion in the
        # store, and a reload from the store must find none of them and all of the moved ones.
        left = r.llen(KEY)
        t = time.perf_counter()
        self.assertEqual(r.unlink(KEY), 1)
        timings.note(f"UNLINK of the {left} jobs left: {(time.perf_counter() - t) * 1000:.1f} ms")
        self.assertEqual(r.llen(KEY), 0)
        r.execute_command("DEBUG", "RELOAD")
        self.assertEqual(r.llen(KEY), 0)
        self.assertEqual(r.llen("resque:queue:other"), moved)
        timings.print()


if __name__ == "__main__":
    main()
