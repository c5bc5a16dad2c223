#!/usr/bin/python3
"""Search, filter, sort and pagination over a big queue: DESASTER_QUEUE_JOBS jobs (default one
million) of ~300-byte resque payloads. Checks every answer against the known data and prints
each query's latency (the numbers the queue issue asks to report)."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ServerTest, main  # noqa: E402

N = int(os.environ.get("DESASTER_QUEUE_JOBS", "1000000"))
CLASSES = 20
CUSTOMERS = 1000
KEY = "resque:queue:big"


def payload(i):
    base = {"class": f"Class{i % CLASSES}", "args": [i, f"customer-{i % CUSTOMERS}"]}
    pad = 300 - len(json.dumps(base)) - len(', "pad": ""') - 2
    base["pad"] = "x" * max(0, pad)
    return json.dumps(base, separators=(",", ":"))


def as_map(flat):
    return {flat[i].decode(): flat[i + 1] for i in range(0, len(flat), 2)}


def resp(*args):
    out = [f"*{len(args)}\r\n".encode()]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class QueueScaleTest(ServerTest):
    def test_queries_over_a_big_queue(self):
        r = self.r
        started = time.perf_counter()
        batch = 1000
        commands = b"".join(resp("RPUSH", KEY, *[payload(i) for i in range(s, min(N, s + batch))])
                            for s in range(0, N, batch))
        out = subprocess.run(["redis-cli", "-p", str(self.server.port), "--pipe"],
                             input=commands, capture_output=True, timeout=600)
        self.assertIn(b"errors: 0", out.stdout)
        load_s = time.perf_counter() - started
        self.assertEqual(r.llen(KEY), N)
        report = [f"{N} jobs loaded with RPUSH in {load_s:.1f} s"]

        def timed(label, *command):
            t = time.perf_counter()
            result = r.execute_command(*command)
            report.append(f"{label}: {(time.perf_counter() - t) * 1000:.1f} ms")
            return result

        def jobs_of(reply):
            m = as_map(reply)
            return m["total"], [as_map(j) for j in m["jobs"]]

        total, jobs = jobs_of(timed("first page (dispatch order, 50)", "QUEUE.JOBS", KEY,
                                    "LIMIT", 50))
        self.assertEqual(total, N)
        self.assertEqual([j["position"] for j in jobs], list(range(50)))
        deep = N - 100
        total, jobs = jobs_of(timed(f"page at offset {deep}", "QUEUE.JOBS", KEY, "OFFSET", deep,
                                    "LIMIT", 50))
        self.assertEqual([json.loads(j["payload"])["args"][0] for j in jobs],
                         list(range(deep, deep + 50)))
        total, jobs = jobs_of(timed("substring search, 50 of its matches", "QUEUE.JOBS", KEY,
                                    "MATCH", 'customer-123"', "LIMIT", 50))
        self.assertEqual(total, len(range(123, N, CUSTOMERS)))
        self.assertTrue(all(b'customer-123"' in j["payload"] for j in jobs))
        total, jobs = jobs_of(timed("class filter", "QUEUE.JOBS", KEY, "CLASS", "Class7",
                                    "LIMIT", 50))
        self.assertEqual(total, len(range(7, N, CLASSES)))
        self.assertTrue(all(j["class"] == b"Class7" for j in jobs))
        total, jobs = jobs_of(timed("class filter, page 100", "QUEUE.JOBS", KEY, "CLASS",
                                    "Class7", "OFFSET", 5000, "LIMIT", 50))
        self.assertEqual(json.loads(jobs[0]["payload"])["args"][0], 7 + 5000 * CLASSES)
        total, jobs = jobs_of(timed("args filter", "QUEUE.JOBS", KEY, "ARGS",
                                    '"customer-999"', "LIMIT", 10))
        self.assertEqual(total, len(range(999, N, CUSTOMERS)))
        total, jobs = jobs_of(timed("sort by class", "QUEUE.JOBS", KEY, "SORT", "class",
                                    "LIMIT", 50))
        self.assertTrue(all(j["class"] == b"Class0" for j in jobs))
        total, jobs = jobs_of(timed("sort by enqueue time, newest first", "QUEUE.JOBS", KEY,
                                    "SORT", "enqueued", "DESC", "LIMIT", 50))
        self.assertEqual(json.loads(jobs[0]["payload"])["args"][0], N - 1)
        total, jobs = jobs_of(timed("sort by ETA, last page", "QUEUE.JOBS", KEY, "SORT", "eta",
                                    "DESC", "LIMIT", 20))
        self.assertEqual(total, N)
        self.assertEqual(len(timed("LRANGE 0 49", "LRANGE", KEY, 0, 49)), 50)
        self.assertEqual(json.loads(timed("LINDEX -1", "LINDEX", KEY, -1))["args"][0], N - 1)
        moved = timed("JOB.MOVE WHERE class (bulk)", "JOB.MOVE", "resque:queue:other", "WHERE",
                      KEY, "CLASS", "Class3")
        self.assertEqual(moved, len(range(3, N, CLASSES)))
        deleted = timed("JOB.DELETE WHERE class (bulk)", "JOB.DELETE", "WHERE", KEY, "CLASS",
                        "Class19")
        self.assertEqual(deleted, len(range(19, N, CLASSES)))
        self.assertEqual(r.llen(KEY), N - moved - deleted)
        t = time.perf_counter()
        self.assertEqual(json.loads(r.lpop(KEY))["args"][0], 0)
        report.append(f"LPOP after the bulk changes: {(time.perf_counter() - t) * 1000:.1f} ms")
        print("\n" + "\n".join(report), file=sys.stderr)


if __name__ == "__main__":
    main()
