#!/usr/bin/python3
"""The completed store: jobs native and resque workers finished with success are kept durably
(bounded by completed-max and completed-ttl), searched, sorted and paged by COMPLETED.LIST,
shown with their life by JOB.INFO, run again or removed; secrets are redacted when configured."""
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redis  # noqa: E402
from harness import RawConnection, Scheduler, ServerTest, as_map, data_dir, main, wait_for  # noqa: E402


def job(klass, *args):
    return json.dumps({"class": klass, "args": list(args)})


def page(reply):
    """COMPLETED.LIST's reply: (total, [job maps])."""
    m = as_map(reply)
    return m["total"], [as_map(j) for j in m["jobs"]]


class CompletedTest(ServerTest):
    def run_job(self, queue, payload, result="ok", worker="w"):
        """Pushes a job, has `worker` take it and acknowledge it; returns its id."""
        r = self.r
        r.execute_command("WORKER.REGISTER", worker, "QUEUES", queue)
        pushed = r.execute_command("JOB.PUSH", queue, payload).decode()
        fetched = as_map(r.execute_command("JOB.FETCH", worker))["id"].decode()
        self.assertEqual(fetched, pushed)
        self.assertEqual(r.execute_command("JOB.ACK", pushed, "WORKER", worker, "RESULT", result), 1)
        return pushed

    def ids(self, *args):
        return [j["id"].decode() for j in page(self.r.execute_command("COMPLETED.LIST", *args))[1]]

    def test_finished_jobs_are_listed_newest_first_and_found_by_every_filter(self):
        a = self.run_job("mail", job("Mailer", "ann@example.com"), "sent 1", worker="w1")
        b = self.run_job("mail", job("Digest", 7), "sent 40", worker="w2")
        c = self.run_job("bills", job("Invoice", 12), "total 99.50", worker="w1")
        total, jobs = page(self.r.execute_command("COMPLETED.LIST"))
        self.assertEqual(total, 3)
        self.assertEqual([j["id"].decode() for j in jobs], [c, b, a])
        first = jobs[2]
        self.assertEqual((first["queue"], first["class"], first["args"], first["worker"],
                          first["result"], first["attempt"], first["redacted"]),
                         (b"mail", b"Mailer", b'["ann@example.com"]', b"w1", b"sent 1", 1, 0))
        self.assertLessEqual(first["enqueued_at"], first["started_at"])
        self.assertLessEqual(first["started_at"], first["finished_at"])
        self.assertEqual(first["duration"], first["finished_at"] - first["started_at"])
        self.assertEqual(self.ids("QUEUE", "mail"), [b, a])
        self.assertEqual(self.ids("CLASS", "Invoice"), [c])
        self.assertEqual(self.ids("WORKER", "w1"), [c, a])
        self.assertEqual(self.ids("MATCH", "99.50"), [c])     # in the result
        self.assertEqual(self.ids("MATCH", "example.com"), [a])  # in the arguments
        self.assertEqual(self.ids("MATCH", b), [b])           # its id
        self.assertEqual(self.ids("SORT", "CLASS"), [b, c, a])
        self.assertEqual(self.ids("SORT", "FINISHED_AT", "ASC", "OFFSET", "1", "LIMIT", "1"), [b])
        self.assertEqual(self.ids("OFFSET", "2", "LIMIT", "5"), [a])
        since = first["finished_at"]
        self.assertEqual(set(self.ids("SINCE", since)), {a, b, c})
        self.assertEqual(self.ids("UNTIL", since - 1), [])
        info = as_map(self.r.execute_command("COMPLETED.INFO", b))
        self.assertEqual((info["class"], info["result"]), (b"Digest", b"sent 40"))
        self.assertIsNone(self.r.execute_command("COMPLETED.INFO", "00000000000000ff"))

    def test_duration_sorts_and_filters(self):
        r = self.r
        r.execute_command("WORKER.REGISTER", "w", "QUEUES", "slow")
        slow = r.execute_command("JOB.PUSH", "slow", job("Slow")).decode()
        fast = r.execute_command("JOB.PUSH", "slow", job("Fast")).decode()
        self.assertEqual(as_map(r.execute_command("JOB.FETCH", "w"))["id"].decode(), slow)
        started = time.monotonic()
        wait_for(lambda: time.monotonic() - started > 0.3, what="the slow job's run to last")
        self.assertEqual(as_map(r.execute_command("JOB.FETCH", "w"))["id"].decode(), fast)
        r.execute_command("JOB.ACK", fast, "WORKER", "w")
        r.execute_command("JOB.ACK", slow, "WORKER", "w")
        self.assertEqual(self.ids("SORT", "DURATION", "DESC"), [slow, fast])
        self.assertEqual(self.ids("DURATION", "250", "100000"), [slow])
        self.assertEqual(self.ids("DURATION", "0", "250"), [fast])
        self.assertEqual(self.ids("SORT", "WAIT", "DESC"), [fast, slow])  # fast waited 0.3 s

    def test_a_jobs_life_shows_its_failed_runs_and_the_run_that_succeeded(self):
        r = self.r
        r.execute_command("WORKER.REGISTER", "w", "QUEUES", "flaky")
        jid = r.execute_command("JOB.PUSH", "flaky", job("Flaky")).decode()
        r.execute_command("JOB.FETCH", "w")
        r.execute_command("JOB.FAIL", jid, "WORKER", "w", "ERROR", "Timeout", "MESSAGE", "slow db")
        failure = as_map(as_map(r.execute_command("FAILED.LIST", "JOB", jid))["failures"][0])
        self.assertEqual(r.execute_command("FAILED.RETRY", failure["id"]), 1)
        self.assertEqual(as_map(r.execute_command("JOB.FETCH", "w"))["id"].decode(), jid)
        r.execute_command("JOB.ACK", jid, "WORKER", "w", "RESULT", "done at last")
        info = as_map(r.execute_command("JOB.INFO", jid))
        self.assertEqual((info["state"], info["attempt"], info["result"]),
                         (b"done", 2, b"done at last"))
        runs = [as_map(x) for x in info["runs"]]
        self.assertEqual([(x["attempt"], x["outcome"]) for x in runs],
                         [(1, b"Timeout"), (2, b"done")])
        self.assertEqual(runs[0]["message"], b"slow db")
        self.assertEqual(runs[1]["finished_at"], info["finished_at"])
        self.assertLessEqual(runs[0]["finished_at"], runs[1]["started_at"])

    def test_rerun_pushes_a_new_job_and_remove_forgets(self):
        r = self.r
        a = self.run_job("again", job("Report", 1))
        b = self.run_job("again", job("Report", 2))
        rerun = [x.decode() for x in r.execute_command("COMPLETED.RERUN", a)]
        self.assertEqual(len(rerun), 1)
        self.assertNotIn(rerun[0], (a, b))
        self.assertEqual(as_map(r.execute_command("JOB.INFO", rerun[0]))["payload"],
                         job("Report", 1).encode())
        self.assertEqual(len(r.execute_command("COMPLETED.RERUN", "WHERE", "CLASS", "Report")), 2)
        self.assertEqual(r.llen("again"), 3)
        self.assertEqual(r.execute_command("COMPLETED.REMOVE", "WHERE", "MATCH", "[2]"), 1)
        self.assertEqual(self.ids(), [a])
        self.assertEqual(r.execute_command("COMPLETED.REMOVE", a, "00000000000000ff"), 1)
        self.assertEqual(self.ids(), [])
        self.assertIsNone(r.execute_command("JOB.INFO", a))

    def resque_run(self, worker, queue, payload, fail=False, reorder=False):
        """What Ruby resque sends around a job it popped (Resque::Worker#working_on,
        #done_working, Resque::Failure.create): its run in resque:worker:<id>, then its counters.
        `reorder`: the payload written back with its members reversed (as node-resque's Lua
        script may)."""
        r = self.r
        written = json.loads(payload)
        if reorder:
            written = dict(reversed(written.items()))
        r.set(f"resque:worker:{worker}", json.dumps(
            {"queue": queue, "run_at": "2026-12-06T06:00:00Z", "payload": written},
            separators=(",", ":")))
        if fail:
            r.rpush("resque:failed", json.dumps({
                "failed_at": "2026/12/06 06:00:00 UTC", "payload": json.loads(payload),
                "exception": "RuntimeError", "error": "boom", "backtrace": [],
                "worker": worker, "queue": queue}))
            r.incrby(f"resque:stat:failed:{worker}", 1)
        r.incrby(f"resque:stat:processed:{worker}", 1)
        r.delete(f"resque:worker:{worker}")

    def test_resque_workers_successes_are_kept_with_the_popped_jobs_ids(self):
        r = self.r
        worker = "box:4242:mail"
        r.sadd("resque:workers", worker)
        # (As Ruby's JSON.generate writes them, as resque pushes them.)
        mail = json.dumps({"class": "Mailer", "args": ["ann@example.com"]}, separators=(",", ":"))
        broken = json.dumps({"class": "Broken", "args": [1]}, separators=(",", ":"))
        r.rpush("resque:queue:mail", mail, broken, mail)
        queued = [as_map(j)["id"].decode()
                  for j in as_map(r.execute_command("QUEUE.JOBS", "resque:queue:mail"))["jobs"]]
        pushed = time.monotonic()
        wait_for(lambda: time.monotonic() - pushed > 0.2, what="the jobs to wait 200 ms")
        for i, expected in enumerate((mail, broken, mail)):
            self.assertEqual(r.lpop("resque:queue:mail").decode(), expected)
            self.resque_run(worker, "mail", expected, fail=expected == broken, reorder=i == 2)
        # The two successes, each with the id it had in its queue (equal payloads pair in pop
        # order), its worker and how long it waited; the failure is in the failed store only.
        self.assertEqual(self.ids(), [queued[2], queued[0]])
        first = as_map(r.execute_command("COMPLETED.INFO", queued[0]))
        self.assertEqual((first["queue"], first["class"], first["payload"], first["worker"],
                          first["result"], first["attempt"]),
                         (b"resque:queue:mail", b"Mailer", mail.encode(), worker.encode(), b"", 1))
        self.assertGreaterEqual(first["wait"], 200)
        self.assertEqual(first["wait"], first["started_at"] - first["enqueued_at"])
        self.assertEqual(as_map(r.execute_command("JOB.INFO", queued[2]))["state"], b"done")
        self.assertEqual(as_map(r.execute_command("FAILED.LIST"))["total"], 1)
        # A run whose job was not seen popped (pushed and popped before the worker registered,
        # or a restart between) is kept under a new id, its wait unknown.
        r.srem("resque:workers", worker)
        r.rpush("resque:queue:mail", job("Unseen"))
        r.lpop("resque:queue:mail")
        r.sadd("resque:workers", worker)
        self.resque_run(worker, "mail", job("Unseen"))
        unseen = page(r.execute_command("COMPLETED.LIST", "CLASS", "Unseen"))[1][0]
        self.assertNotIn(unseen["id"].decode(), queued)
        self.assertEqual((unseen["enqueued_at"], unseen["wait"]), (None, None))
        self.assertEqual(self.ids("SORT", "WAIT")[0], unseen["id"].decode())
        # Run again: back into the resque queue, where a resque worker finds it.
        self.assertEqual(len(r.execute_command("COMPLETED.RERUN", queued[0])), 1)
        self.assertEqual(r.lrange("resque:queue:mail", 0, -1), [mail.encode()])
        # A run its worker counted neither way is no completion; one no worker ran neither.
        r.set(f"resque:worker:{worker}", json.dumps({"queue": "mail", "payload": {"class": "Lost"}}))
        r.delete(f"resque:worker:{worker}")
        r.set("resque:worker:nobody:1:q", json.dumps({"queue": "q", "payload": {"class": "X"}}))
        r.incrby("resque:stat:processed:nobody:1:q", 1)
        r.delete("resque:worker:nobody:1:q")
        self.assertEqual(len(self.ids()), 3)

    def test_rq_workers_finished_jobs_are_kept_with_rqs_own_times(self):
        """What RQ sends around a job: its hash, its id pushed to the queue, popped by a worker,
        the hash's times and worker, then the id filed in the finished (or failed) registry."""
        r = self.r

        def enqueue(rq_id, description):
            r.hset(f"rq:job:{rq_id}", mapping={
                "origin": "smoke", "description": description, "status": "queued",
                "enqueued_at": "2026-12-06T06:00:00.000000Z"})
            r.rpush("rq:queue:smoke", rq_id)

        def work(rq_id, registry):
            self.assertEqual(r.lpop("rq:queue:smoke").decode(), rq_id)
            r.hset(f"rq:job:{rq_id}", mapping={
                "started_at": "2026-12-06T06:00:01.250000Z",
                "ended_at": "2026-12-06T06:00:01.750000Z", "worker_name": "rq-box.4242"})
            r.zadd(f"rq:{registry}:smoke", {rq_id: 1})

        enqueue("f1d2", "jobs.add(1, 2)")
        enqueue("dead", "jobs.doomed()")
        queued = [as_map(j)["id"].decode() for j in as_map(r.execute_command(
            "QUEUE.JOBS", "rq:queue:smoke"))["jobs"]]
        work("f1d2", "finished")
        work("dead", "failed")
        (done,) = page(r.execute_command("COMPLETED.LIST"))[1]
        self.assertEqual((done["id"].decode(), done["queue"], done["class"], done["payload"],
                          done["worker"], done["duration"], done["wait"]),
                         (queued[0], b"rq:queue:smoke", b"jobs.add", b"f1d2", b"rq-box.4242",
                          500, 1250))
        self.assertEqual(done["finished_at"] - done["enqueued_at"], 1750)
        # Filed again, it is no new run; run again, its id goes back to its queue, where an RQ
        # worker finds the job's hash.
        r.zadd("rq:finished:smoke", {"f1d2": 2})
        self.assertEqual(page(r.execute_command("COMPLETED.LIST"))[0], 1)
        self.assertEqual(len(r.execute_command("COMPLETED.RERUN", queued[0])), 1)
        self.assertEqual(r.lrange("rq:queue:smoke", 0, -1), [b"f1d2"])

    def test_pops_no_run_claims_are_forgotten_beyond_a_bound(self):
        """Another reader of a resque queue (an app, a script) pops jobs no worker runs: the
        server remembers the last 1,024 pops only."""
        r = self.r
        r.sadd("resque:workers", "box:1:bulk")
        payloads = [json.dumps({"class": "Bulk", "args": [i]}, separators=(",", ":"))
                    for i in range(1500)]
        r.rpush("resque:queue:bulk", *payloads)
        ids = [as_map(j)["id"].decode() for j in as_map(r.execute_command(
            "QUEUE.JOBS", "resque:queue:bulk", "LIMIT", "2000"))["jobs"]]
        self.assertEqual(len(r.lpop("resque:queue:bulk", 1500)), 1500)
        for i in (0, 475, 476, 1499):  # the first 476 pops were forgotten
            self.resque_run("box:1:bulk", "bulk", payloads[i])
        kept = {j["args"]: j["id"].decode() for j in page(r.execute_command("COMPLETED.LIST"))[1]}
        self.assertEqual(kept[b"[476]"], ids[476])
        self.assertEqual(kept[b"[1499]"], ids[1499])
        self.assertNotIn(kept[b"[0]"], ids)
        self.assertNotIn(kept[b"[475]"], ids)

    def test_bad_input_gets_clear_errors(self):
        r = self.r
        self.assertError(lambda: r.execute_command("COMPLETED.LIST", "SORT", "speed"),
                         "SORT must be FINISHED_AT, DURATION, WAIT, QUEUE or CLASS")
        self.assertError(lambda: r.execute_command("COMPLETED.LIST", "DURATION", "5", "1"),
                         "DURATION takes min max in ms (0 <= min <= max)")
        self.assertError(lambda: r.execute_command("COMPLETED.LIST", "LIMIT", "10001"),
                         "LIMIT must be an integer from 0 to 10000")
        self.assertError(lambda: r.execute_command("COMPLETED.LIST", "COLOUR", "red"),
                         "unknown option 'COLOUR'")
        self.assertError(lambda: r.execute_command("COMPLETED.LIST", "MATCH"), "syntax error")
        self.assertError(lambda: r.execute_command("COMPLETED.INFO", "zz"), "invalid job id 'zz'")
        self.assertError(lambda: r.execute_command("COMPLETED.RERUN", "-1"),
                         "invalid job id '-1'")
        self.assertError(lambda: r.execute_command("CONFIG", "SET", "completed-max", "-1"),
                         "CONFIG SET failed (possibly related to argument 'completed-max') - "
                         "argument must be between 0 and 1000000000 inclusive")

    def test_the_failed_store_reads_its_options_as_the_completed_store_does(self):
        r = self.r
        for args, message in [
                (("SORT", "speed"), "SORT must be FAILED_AT, QUEUE or CLASS"),
                (("ATTEMPT", "3", "1"), "ATTEMPT takes min max (0 <= min <= max)"),
                (("attempt", "1", "4294967296"), "ATTEMPT takes min max (0 <= min <= max)"),
                (("FINGERPRINT", "zz"), "invalid fingerprint 'zz'"),
                (("JOB", "zz"), "invalid job id 'zz'"),
                (("STATE", "odd"), "STATE must be RETRYING, RETRIED, DEAD or ALL"),
                (("SINCE", "-1"), "SINCE must be an integer >= 0"),
                (("COLOUR", "red"), "unknown option 'COLOUR'"),
                (("QUEUE", "q", "MATCH"), "syntax error"),
                (("LIMIT", "10001"), "LIMIT must be an integer from 0 to 10000")]:
            self.assertError(lambda: r.execute_command("FAILED.LIST", *args), message)
        # Bulk actions act on every match: they take no paging.
        self.assertError(lambda: r.execute_command("FAILED.RETRY", "WHERE", "LIMIT", "5"),
                         "unknown option 'LIMIT'")
        self.assertError(lambda: r.execute_command("COMPLETED.REMOVE", "WHERE", "SORT", "class"),
                         "unknown option 'SORT'")
        self.assertEqual(as_map(r.execute_command("FAILED.LIST", "STATE", "all", "SORT", "class",
                                                  "DESC", "OFFSET", "0", "LIMIT", "1"))["total"], 0)

    def test_users_see_only_the_completions_of_their_queues(self):
        r = self.r
        self.run_job("mine:q", job("Mine"))
        self.run_job("theirs:q", job("Theirs"))
        r.execute_command("ACL", "SETUSER", "alice", "on", ">pw", "~mine:*", "+@all")
        self.addCleanup(r.execute_command, "ACL", "DELUSER", "alice")
        alice = self.server.client(username="alice", password="pw")
        self.addCleanup(alice.close)
        total, jobs = page(alice.execute_command("COMPLETED.LIST"))
        self.assertEqual((total, [j["class"] for j in jobs]), (1, [b"Mine"]))
        self.assertEqual(alice.execute_command("COMPLETED.REMOVE", "WHERE"), 1)
        self.assertEqual(page(r.execute_command("COMPLETED.LIST"))[0], 1)
        # The store's commands are a category of their own.
        self.assertEqual(sorted(r.execute_command("ACL", "CAT", "completed")),
                         [b"completed.info", b"completed.list", b"completed.remove",
                          b"completed.rerun"])
        r.execute_command("ACL", "SETUSER", "viewer", "on", ">pw", "~*", "+@completed",
                          "-@write")
        self.addCleanup(r.execute_command, "ACL", "DELUSER", "viewer")
        viewer = self.server.client(username="viewer", password="pw")
        self.addCleanup(viewer.close)
        self.assertEqual(page(viewer.execute_command("COMPLETED.LIST"))[0], 1)
        self.assertRaisesRegex(redis.exceptions.NoPermissionError, "completed.rerun",
                               lambda: viewer.execute_command("COMPLETED.RERUN", "WHERE"))


class CompletedStoreTest(unittest.TestCase):
    """Configuration changes here: each test starts its own server."""

    assertError = ServerTest.assertError

    def scheduler(self, data, *args):
        s = Scheduler(*args, data_dir=data)
        self.addCleanup(s.stop)
        s.wait_loaded()
        return s

    def test_completions_survive_a_restart_and_the_limits_bound_them(self):
        data = data_dir(self, "completed")
        s = self.scheduler(data, "--completed-max", "3")
        r = s.client()
        r.execute_command("WORKER.REGISTER", "w", "QUEUES", "q")
        ids = []
        for i in range(5):
            ids.append(r.execute_command("JOB.PUSH", "q", job("Count", i)).decode())
            r.execute_command("JOB.FETCH", "w")
            r.execute_command("JOB.ACK", ids[-1], "WORKER", "w", "RESULT", f"r{i}")
        listed = lambda c: [j["id"].decode() for j in page(c.execute_command("COMPLETED.LIST"))[1]]
        self.assertEqual(listed(r), ids[:1:-1])  # the newest three
        self.assertIsNone(r.execute_command("JOB.INFO", ids[0]))
        s.stop()
        s = self.scheduler(data, "--completed-max", "3")
        r = s.client()
        self.assertEqual(listed(r), ids[:1:-1])
        self.assertEqual(as_map(r.execute_command("JOB.INFO", ids[4]))["result"], b"r4")
        # A lower maximum drops the oldest; an age limit drops every one older than it.
        r.config_set("completed-max", "2")
        wait_for(lambda: listed(r) == ids[:2:-1], what="the oldest completion to go")
        r.config_set("completed-ttl", "1")
        wait_for(lambda: listed(r) == [], timeout=10, what="the completions to age out")
        s.stop()
        s = self.scheduler(data)
        self.assertEqual(listed(s.client()), [])

    def test_secrets_are_redacted_and_a_redacted_job_cannot_rerun(self):
        s = self.scheduler(data_dir(self, "redact"), "--completed-redact", "password, token")
        r = s.client()
        r.execute_command("WORKER.REGISTER", "w", "QUEUES", "q")
        payload = json.dumps({"class": "Login", "args": [{"user": "ann", "Password": "hunter2",
                                                          "nested": {"api_token": "t0k"}}]})
        jid = r.execute_command("JOB.PUSH", "q", payload).decode()
        plain = r.execute_command("JOB.PUSH", "q", job("Plain", 1)).decode()
        r.execute_command("JOB.FETCH", "w")
        r.execute_command("JOB.ACK", jid, "WORKER", "w", "RESULT",
                          "logged in with password=hunter2 token: 'abc def' user=ann")
        r.execute_command("JOB.FETCH", "w")
        r.execute_command("JOB.ACK", plain, "WORKER", "w", "RESULT", "fine")
        done = as_map(r.execute_command("COMPLETED.INFO", jid))
        self.assertEqual(done["redacted"], 1)
        self.assertEqual(json.loads(done["payload"]),
                         {"class": "Login", "args": [{"user": "ann", "Password": "[REDACTED]",
                                                      "nested": {"api_token": "[REDACTED]"}}]})
        self.assertEqual(done["result"],
                         b"logged in with password=[REDACTED] token: '[REDACTED]' user=ann")
        self.assertNotIn(b"hunter2", done["args"])
        kept = as_map(r.execute_command("COMPLETED.INFO", plain))
        self.assertEqual((kept["redacted"], kept["payload"]), (0, job("Plain", 1).encode()))
        self.assertError(lambda: r.execute_command("COMPLETED.RERUN", jid, plain),
                         f"job {jid} was stored with its secrets redacted: it cannot run again")
        self.assertEqual(len(r.execute_command("COMPLETED.RERUN", "WHERE")), 1)  # the plain one
        # Removed only from what the store keeps: the queued job carried the secret as pushed.
        self.assertEqual(r.llen("q"), 1)
        # A running job's output is read without its secrets too.
        running = as_map(r.execute_command("JOB.FETCH", "w"))["id"]
        self.assertEqual(r.execute_command("JOB.REPORT", running, "WORKER", "w", "OUTPUT",
                                           "connecting with password=hunter2\n"), 1)
        self.assertEqual(as_map(r.execute_command("JOB.OUTPUT", running))["output"],
                         b"connecting with password=[REDACTED]\n")

    def test_memory_keeps_an_index_and_the_payloads_and_results_stay_on_disk(self):
        data = data_dir(self, "archive")
        s = self.scheduler(data)
        r = s.client()
        persistence = lambda: r.info("persistence")
        # 60 MB of payloads and results, well beyond what LevelDB holds in memory (its memtables).
        n, filler = 20000, "x" * 1500
        r.execute_command("WORKER.REGISTER", "w", "QUEUES", "q")
        before = r.info("memory")["used_memory"]
        loader = s.client()  # its buffers, grown by the pipelines, go with it
        pipe = loader.pipeline(transaction=False)
        for i in range(n):
            pipe.execute_command("JOB.PUSH", "q", job("Big", i, f"token-{i:05d}-", filler))
        ids = [j.decode() for j in pipe.execute()]
        for i, jid in enumerate(ids):
            pipe.execute_command("JOB.FETCH", "w")
            pipe.execute_command("JOB.ACK", jid, "WORKER", "w", "RESULT", f"result-{i:05d}-{filler}")
        pipe.execute()
        loader.connection_pool.disconnect()
        # Once stored, every completion's payload and result leave memory: 3 kB a job.
        wait_for(lambda: persistence()["completed_archived"] == n, what="the bodies to leave memory")
        self.assertEqual(persistence()["completed_jobs"], n)
        wait_for(lambda: r.info("clients")["connected_clients"] == 1, what="the loader to go")
        grown = r.info("memory")["used_memory"] - before
        self.assertLess(grown, n * 1000, "memory holds an index, not the bodies")
        # Read back from disk when shown, searched on disk, run again with their payload.
        info = as_map(r.execute_command("COMPLETED.INFO", ids[1234]))
        self.assertEqual((info["payload"], info["result"]),
                         (job("Big", 1234, "token-01234-", filler).encode(),
                          f"result-01234-{filler}".encode()))
        self.assertEqual(json.loads(info["args"])[1], "token-01234-")
        self.assertEqual(as_map(r.execute_command("JOB.INFO", ids[7]))["result"],
                         f"result-00007-{filler}".encode())
        listed = lambda *a: [j["id"].decode() for j in page(r.execute_command("COMPLETED.LIST", *a))[1]]
        self.assertEqual(listed("MATCH", "token-00042-"), [ids[42]])    # a payload on disk
        self.assertEqual(listed("MATCH", "result-01999-"), [ids[1999]])  # a result on disk
        self.assertEqual(listed("MATCH", "token-000", "LIMIT", "1000"), ids[99::-1])
        self.assertEqual(listed("MATCH", "no such text"), [])
        # A completion still in memory and those on disk are found by one search.
        late = self.run_late_job(r, job("Late", "token-00042-"))
        self.assertEqual(set(listed("MATCH", "token-00042-")), {ids[42], late})
        # Searches asked at once take turns (two run at a time); every one is answered.
        searchers = [RawConnection(s.port) for _ in range(6)]
        for i, c in enumerate(searchers):
            self.addCleanup(c.close)
            c.send(RawConnection.encode("COMPLETED.LIST", "MATCH", f"token-{i:05d}-"))
        for i, c in enumerate(searchers):
            found = c.read().value  # RESP2: total, its count, jobs, the job maps
            self.assertEqual((found[0].value, found[1].value), (b"total", 1))
        # A client that leaves while it searches frees its turn for the next.
        leaving = RawConnection(s.port)
        leaving.send(RawConnection.encode("COMPLETED.LIST", "MATCH", "token-00001-"))
        leaving.close()
        self.assertEqual(listed("MATCH", "result-00002-"), [ids[2]])
        # MULTI cannot wait for a helper thread: it searches in place, with the same answer.
        multi = r.pipeline(transaction=True)
        multi.execute_command("COMPLETED.LIST", "MATCH", "result-00500-")
        self.assertEqual([j["id"].decode() for j in page(multi.execute()[0])[1]], [ids[500]])
        # Run again from disk: the new job carries the stored payload.
        rerun = r.execute_command("COMPLETED.RERUN", "WHERE", "MATCH", "token-00003-")
        self.assertEqual(len(rerun), 1)
        self.assertEqual(as_map(r.execute_command("JOB.INFO", rerun[0]))["payload"],
                         job("Big", 3, "token-00003-", filler).encode())
        self.assertEqual(r.execute_command("COMPLETED.REMOVE", "WHERE", "MATCH", "token-0001"), 10)
        self.assertEqual(listed("MATCH", "token-0001"), [])
        # A restart loads the index only.
        s.stop()
        s = self.scheduler(data)
        r = s.client()
        self.assertEqual(r.info("persistence")["completed_archived"], n - 10 + 1)
        self.assertEqual(as_map(r.execute_command("COMPLETED.INFO", ids[1999]))["result"],
                         f"result-01999-{filler}".encode())
        self.assertEqual(listed("MATCH", "token-00042-"), [late, ids[42]])

    def run_late_job(self, r, payload):
        jid = r.execute_command("JOB.PUSH", "q", payload).decode()
        self.assertEqual(as_map(r.execute_command("JOB.FETCH", "w"))["id"].decode(), jid)
        r.execute_command("JOB.ACK", jid, "WORKER", "w", "RESULT", "late")
        return jid

    def test_a_zero_maximum_keeps_nothing(self):
        s = self.scheduler(data_dir(self, "nothing"), "--completed-max", "0")
        r = s.client()
        r.execute_command("WORKER.REGISTER", "w", "QUEUES", "q")
        jid = r.execute_command("JOB.PUSH", "q", job("Gone")).decode()
        r.execute_command("JOB.FETCH", "w")
        self.assertEqual(r.execute_command("JOB.ACK", jid, "WORKER", "w"), 1)
        self.assertEqual(page(r.execute_command("COMPLETED.LIST"))[0], 0)
        self.assertIsNone(r.execute_command("JOB.INFO", jid))


if __name__ == "__main__":
    main()
