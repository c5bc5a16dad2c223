#!/usr/bin/python3
"""Queues as first-class objects: dialect keys behind the list commands, disciplines, unique
queues, pause/resume, delayed jobs, the native QUEUE.*/JOB.* API and its errors."""
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redis  # noqa: E402
from harness import Scheduler, ServerTest, as_map, data_dir, main, wait_for  # noqa: E402


def job(klass, *args):
    return json.dumps({"class": klass, "args": list(args), "queue": "q"})


class DialectQueueTest(ServerTest):
    def test_resque_keys_are_queues_that_answer_list_commands(self):
        r = self.r
        self.assertEqual(r.rpush("resque:queue:mail", job("A", 1), job("B", 2), job("C", 3)), 3)
        self.assertEqual(r.type("resque:queue:mail"), b"list")
        self.assertEqual(r.object("encoding", "resque:queue:mail"), b"queue")
        self.assertEqual(r.llen("resque:queue:mail"), 3)
        self.assertEqual(json.loads(r.lindex("resque:queue:mail", 0))["class"], "A")
        self.assertEqual(r.lrem("resque:queue:mail", 0, job("B", 2)), 1)
        self.assertEqual([json.loads(x)["class"] for x in r.lrange("resque:queue:mail", 0, -1)],
                         ["A", "C"])
        self.assertEqual(json.loads(r.lpop("resque:queue:mail"))["class"], "A")
        self.assertIn(b"resque:queue:mail", r.execute_command("QUEUE.LIST"))
        info = as_map(r.execute_command("QUEUE.INFO", "resque:queue:mail"))
        self.assertEqual(info["dialect"], b"resque")
        self.assertEqual(info["name"], b"mail")
        self.assertEqual(info["taken"], 1)
        # Emptied, the key is gone as a Redis list would be; the queue stays.
        r.lpop("resque:queue:mail")
        self.assertEqual(r.exists("resque:queue:mail"), 0)
        self.assertIn(b"resque:queue:mail", r.execute_command("QUEUE.LIST"))

    def test_sidekiq_queues_pop_from_the_right_and_list_in_that_order(self):
        r = self.r
        r.execute_command("QUEUE.CONFIG", "queue:default", "DISCIPLINE", "prio")
        r.lpush("queue:default", job("Low"))
        r.execute_command("JOB.PUSH", "queue:default", job("High"), "PRIORITY", "9")
        r.lpush("queue:default", job("Low2"))
        # Sidekiq reads the right end first: the next job is the last element.
        self.assertEqual([json.loads(x)["class"] for x in r.lrange("queue:default", 0, -1)],
                         ["Low2", "Low", "High"])
        self.assertEqual(json.loads(r.brpop("queue:default", 1)[1])["class"], "High")
        self.assertEqual(json.loads(r.rpop("queue:default"))["class"], "Low")

    def test_a_head_push_is_a_requeue_ahead_of_the_queue(self):
        r = self.r
        r.rpush("resque:queue:q", "a", "b")
        r.lpush("resque:queue:q", "retry-me")
        self.assertEqual(r.lrange("resque:queue:q", 0, -1), [b"retry-me", b"a", b"b"])

    def test_plain_keys_stay_plain_lists_and_queue_keys_refuse_rename_and_expiry(self):
        r = self.r
        r.rpush("plain", "x")
        self.assertEqual(r.object("encoding", "plain"), b"quicklist")
        r.rpush("resque:queue:q", "x")
        self.assertError(lambda: r.rename("resque:queue:q", "elsewhere"),
                         "rename does not apply to queue keys: a queue's jobs move with JOB.MOVE")
        self.assertError(lambda: r.rename("plain", "resque:queue:other"),
                         "rename does not apply to queue keys: a queue's jobs move with JOB.MOVE")
        self.assertError(lambda: r.expire("resque:queue:q", 100),
                         "queue keys do not expire: their jobs are kept until taken "
                         "(QUEUE.CLEAR empties a queue)")
        self.assertEqual(r.llen("resque:queue:q"), 1)
        r.delete("resque:queue:q")  # DEL empties it, as with a list
        self.assertEqual(r.llen("resque:queue:q"), 0)
        r.set("queue:taken", "a string")  # a dialect key holding another type keeps it
        with self.assertRaises(redis.ResponseError):
            r.lpush("queue:taken", "x")

    def test_blocked_pop_waits_for_a_push_and_for_resume(self):
        r = self.r
        r.execute_command("QUEUE.PAUSE", "queue:critical")
        r.lpush("queue:critical", job("Urgent"))
        self.assertEqual(r.llen("queue:critical"), 1)
        self.assertIsNone(r.rpop("queue:critical"))  # paused: accepts pushes, hands out nothing
        got = {}
        t = threading.Thread(
            target=lambda: got.setdefault("v", self.server.client().brpop("queue:critical", 10)))
        t.start()
        wait_for(lambda: self.r.info("clients")["blocked_clients"] == 1, what="a blocked client")
        r.execute_command("QUEUE.RESUME", "queue:critical")
        t.join(10)
        self.assertEqual(json.loads(got["v"][1])["class"], "Urgent")

    def test_unique_queue_drops_duplicates(self):
        r = self.r
        r.execute_command("QUEUE.CONFIG", "resque:queue:u", "UNIQUE", "yes")
        self.assertEqual(r.rpush("resque:queue:u", "same", "same", "other"), 2)
        self.assertIsNone(r.execute_command("JOB.PUSH", "resque:queue:u", "same"))
        self.assertIsNotNone(r.execute_command("JOB.PUSH", "resque:queue:u", "same", "UNIQUE", "k"))
        self.assertIsNone(r.execute_command("JOB.PUSH", "resque:queue:u", "x", "UNIQUE", "k"))
        r.lpop("resque:queue:u")  # "same" leaves: it may be queued again
        self.assertEqual(r.rpush("resque:queue:u", "same"), 3)
        self.assertEqual(as_map(r.execute_command("QUEUE.INFO", "resque:queue:u"))["duplicates"],
                         3)
        # Unique by a payload field: same arguments, different enqueue metadata, one job.
        r.execute_command("QUEUE.CREATE", "resque:queue:by", "UNIQUE", "yes", "UNIQUE_BY", "args")
        r.rpush("resque:queue:by", json.dumps({"class": "Sync", "args": [1], "at": 1}),
                json.dumps({"class": "Sync", "args": [1], "at": 2}),
                json.dumps({"class": "Sync", "args": [2], "at": 3}))
        self.assertEqual(r.llen("resque:queue:by"), 2)


class DisciplineTest(ServerTest):
    def test_prio_orders_by_priority(self):
        r = self.r
        r.execute_command("QUEUE.CREATE", "work", "DISCIPLINE", "prio")
        for name, prio in [("a", 1), ("b", 5), ("c", 1), ("d", -2), ("e", 5)]:
            r.execute_command("JOB.PUSH", "work", name, "PRIORITY", prio)
        self.assertEqual([r.lpop("work") for _ in range(5)], [b"b", b"e", b"a", b"c", b"d"])

    def test_sfq_serves_a_quiet_class_within_one_round_of_a_flood(self):
        r = self.r
        r.execute_command("QUEUE.CONFIG", "resque:queue:shared", "DISCIPLINE", "sfq")
        r.rpush("resque:queue:shared", *[job("Noisy", i) for i in range(2000)])
        r.rpush("resque:queue:shared", job("Quiet"))
        first = [json.loads(r.lpop("resque:queue:shared"))["class"] for _ in range(2)]
        self.assertIn("Quiet", first)
        # LRANGE shows the same order the pops follow.
        listed = [json.loads(x)["class"] for x in r.lrange("resque:queue:shared", 0, 3)]
        popped = [json.loads(r.lpop("resque:queue:shared"))["class"] for _ in range(4)]
        self.assertEqual(listed, popped)

    def test_drr_weights(self):
        r = self.r
        r.execute_command("QUEUE.CREATE", "tenants", "DISCIPLINE", "drr", "PARAM", "weight.gold",
                          "3")
        for i in range(200):
            r.execute_command("JOB.PUSH", "tenants", f"g{i}", "FLOW", "gold")
            r.execute_command("JOB.PUSH", "tenants", f"b{i}", "FLOW", "bronze")
        first = [r.lpop("tenants")[:1] for _ in range(200)]
        self.assertEqual(first.count(b"g"), 150)
        self.assertEqual(first.count(b"b"), 50)

    def drain_tokens(self, queue):
        """Pops until the queue holds its jobs back; returns how many it handed out."""
        handed_out = 0
        while self.r.lpop(queue) is not None:
            handed_out += 1
        return handed_out

    def test_htb_holds_a_measured_rate_within_five_percent(self):
        r = self.r
        # A burst of a second's tokens lets the consumers catch up after a loaded machine stalls
        # them or the server (CI under ASan measured 38/s with a burst of 8: a stall of about
        # 450 ms). The bucket is emptied right before the measured window, so the burst adds
        # nothing to the count.
        rate, burst = 40, 40
        r.execute_command("QUEUE.CREATE", "limited", "DISCIPLINE", "htb", "PARAM", "rate",
                          str(rate), "PARAM", "burst", str(burst))
        r.execute_command("JOB.PUSH", "limited", "warmup")
        self.assertEqual(r.blpop("limited", 5)[1], b"warmup")  # a blocked pop takes a token
        r.rpush("limited", *[f"j{i}" for i in range(1000)])
        # Over rate: once the rest of the burst is spent, pops come back empty (a token or two
        # may arrive meanwhile).
        self.assertLess(self.drain_tokens("limited"), burst + 3)
        # While it holds jobs back the queue says when the next may go: on a queue slow enough
        # (a token per 2 s) that no token can arrive between the empty pop and the question.
        r.execute_command("QUEUE.CREATE", "slow", "DISCIPLINE", "htb", "PARAM", "rate", "0.5",
                          "PARAM", "burst", "1")
        r.rpush("slow", "first", "second")
        self.assertEqual(r.lpop("slow"), b"first")
        self.assertIsNone(r.lpop("slow"))
        asked = time.time() * 1000
        available = as_map(r.execute_command("QUEUE.INFO", "slow"))["next_available_at"]
        self.assertIsNotNone(available)
        self.assertGreater(available, asked)
        self.assertLessEqual(available, asked + 2000 + 50)
        # Three blocked consumers take jobs as fast as the queue lets them, for a 5 s window.
        taken = []
        consumers = [self.server.client() for _ in range(3)]
        for c in consumers:
            c.ping()

        def consume(c):
            end = time.monotonic() + 5
            while time.monotonic() < end:
                got = c.blpop("limited", 1)
                if got:
                    taken.append(time.monotonic())
        threads = [threading.Thread(target=consume, args=(c,)) for c in consumers]
        self.drain_tokens("limited")
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        window = [t for t in taken if t - start <= 5]
        measured = len(window) / 5
        taken.sort()
        gaps = [b - a for a, b in zip(taken, taken[1:])]
        report = (f"htb: configured {rate}/s, measured {measured:.1f}/s over 5 s, "
                  f"longest gap between jobs {max(gaps, default=0) * 1000:.0f} ms")
        print(report, file=sys.stderr)
        self.assertLess(abs(measured - rate) / rate, 0.05, report)

    def test_switching_discipline_keeps_every_job(self):
        r = self.r
        r.rpush("resque:queue:sw", *[job(f"K{i % 3}", i) for i in range(300)])
        for d in ["sfq", "drr", "prio", "htb", "fifo"]:
            r.execute_command("QUEUE.CONFIG", "resque:queue:sw", "DISCIPLINE", d)
            self.assertEqual(r.llen("resque:queue:sw"), 300)
        # Back on fifo, every job is in its push order.
        self.assertEqual([json.loads(x)["args"][0] for x in r.lrange("resque:queue:sw", 0, -1)],
                         list(range(300)))

    def test_bad_configuration_is_refused_and_changes_nothing(self):
        r = self.r
        r.execute_command("QUEUE.CREATE", "cfg", "DISCIPLINE", "sfq")
        self.assertError(lambda: r.execute_command("QUEUE.CONFIG", "cfg", "DISCIPLINE", "lifo"),
                         "unknown discipline 'lifo' (known: fifo prio sfq drr htb)")
        self.assertError(
            lambda: r.execute_command("QUEUE.CONFIG", "cfg", "PARAM", "buckets", "zero"),
            "parameter 'buckets' must be a number >= 1, got 'zero'")
        self.assertError(
            lambda: r.execute_command("QUEUE.CONFIG", "cfg", "DISCIPLINE", "htb", "PARAM",
                                      "class.a", "rate=1,parent=ghost"),
            "htb class 'a' has an unknown parent 'ghost'")
        self.assertEqual(as_map(r.execute_command("QUEUE.CONFIG", "cfg"))["discipline"], b"sfq")
        self.assertError(lambda: r.execute_command("QUEUE.CREATE", "cfg"),
                         "queue 'cfg' exists (QUEUE.CONFIG changes it)")
        self.assertError(lambda: r.execute_command("QUEUE.INFO", "nothing"),
                         "no such queue 'nothing' (QUEUE.CREATE makes one)")
        r.set("str", "x")
        self.assertError(lambda: r.execute_command("JOB.PUSH", "str", "p"),
                         "WRONGTYPE Operation against a key holding the wrong kind of value")
        self.assertError(lambda: r.execute_command("JOB.PUSH", "cfg", "p", "DELAY", "-1"),
                         "DELAY must be an integer >= 0")
        self.assertError(lambda: r.execute_command("JOB.INFO", "zz"), "invalid job id 'zz'")


class JobApiTest(ServerTest):
    def test_push_info_update_move_delete(self):
        r = self.r
        jid = r.execute_command("JOB.PUSH", "resque:queue:a", job("Report", 7), "PRIORITY", "3",
                                "CAPABILITY", "gpu").decode()
        info = as_map(r.execute_command("JOB.INFO", jid))
        self.assertEqual(info["class"], b"Report")
        self.assertEqual(info["args"], b"[7]")
        self.assertEqual(info["priority"], 3)
        self.assertEqual(info["capability"], b"gpu")
        self.assertEqual(info["position"], 0)
        self.assertEqual(info["state"], b"ready")
        self.assertEqual(r.execute_command("JOB.UPDATE", jid, "SET", "PRIORITY", "8", "FLOW", "t1"),
                         1)
        info = as_map(r.execute_command("JOB.INFO", jid))
        self.assertEqual((info["priority"], info["flow"]), (8, b"t1"))
        self.assertEqual(r.execute_command("JOB.MOVE", "resque:queue:b", jid), 1)
        self.assertEqual(as_map(r.execute_command("JOB.INFO", jid))["queue"], b"resque:queue:b")
        self.assertEqual(r.llen("resque:queue:a"), 0)
        self.assertEqual(r.llen("resque:queue:b"), 1)
        self.assertEqual(r.execute_command("JOB.DELETE", jid, "0000000000000001"), 1)
        self.assertIsNone(r.execute_command("JOB.INFO", jid))

    def test_bulk_actions_by_query(self):
        r = self.r
        r.rpush("resque:queue:in", *[job("Keep" if i % 4 else "Move", i) for i in range(100)])
        self.assertEqual(r.execute_command("JOB.MOVE", "resque:queue:out", "WHERE",
                                           "resque:queue:in", "CLASS", "Move"), 25)
        self.assertEqual(r.llen("resque:queue:out"), 25)
        nines = len([i for i in range(100) if i % 4 and "9" in str(i)])
        self.assertEqual(r.execute_command("JOB.UPDATE", "WHERE", "resque:queue:in", "ARGS", "9",
                                           "SET", "PRIORITY", "1"), nines)
        self.assertEqual(r.execute_command("JOB.DELETE", "WHERE", "resque:queue:in", "PRIORITY",
                                           "1", "1"), nines)
        self.assertEqual(r.llen("resque:queue:in"), 75 - nines)

    def test_delayed_jobs_run_on_time_and_run_now(self):
        r = self.r
        now_ms = int(time.time() * 1000)
        later = r.execute_command("JOB.PUSH", "resque:queue:d", "later", "DELAY", "600000")
        soon = r.execute_command("JOB.PUSH", "resque:queue:d", "soon", "AT", now_ms + 300)
        self.assertEqual(r.llen("resque:queue:d"), 0)
        info = as_map(r.execute_command("QUEUE.INFO", "resque:queue:d"))
        self.assertEqual(info["scheduled"], 2)
        got = r.blpop("resque:queue:d", 5)
        fired = int(time.time() * 1000)
        self.assertEqual(got[1], b"soon")
        self.assertGreaterEqual(fired, now_ms + 300 - 5)
        self.assertLess(fired, now_ms + 300 + 250)
        self.assertIsNone(r.execute_command("JOB.INFO", soon))
        self.assertEqual(r.execute_command("JOB.RUN", later), 1)
        self.assertEqual(r.lpop("resque:queue:d"), b"later")

    def test_queue_jobs_searches_sorts_and_pages(self):
        r = self.r
        r.execute_command("QUEUE.CREATE", "s", "DISCIPLINE", "prio")
        for i in range(50):
            r.execute_command("JOB.PUSH", "s", job("Even" if i % 2 == 0 else "Odd", i),
                              "PRIORITY", i % 5)
        r.execute_command("JOB.PUSH", "s", job("Later"), "DELAY", "100000")
        page = as_map(r.execute_command("QUEUE.JOBS", "s", "LIMIT", "10"))
        self.assertEqual(page["total"], 51)
        jobs = [as_map(j) for j in page["jobs"]]
        self.assertEqual([j["position"] for j in jobs], list(range(10)))
        self.assertTrue(all(j["priority"] == 4 for j in jobs))
        odd = as_map(r.execute_command("QUEUE.JOBS", "s", "CLASS", "Odd", "SORT", "enqueued",
                                       "DESC", "OFFSET", "2", "LIMIT", "3"))
        self.assertEqual(odd["total"], 25)
        self.assertEqual([json.loads(as_map(j)["payload"])["args"][0] for j in odd["jobs"]],
                         [45, 43, 41])
        # A job's flow defaults to its class.
        self.assertEqual(as_map(r.execute_command("QUEUE.JOBS", "s", "FLOW", "Odd"))["total"], 25)
        self.assertEqual(as_map(r.execute_command("QUEUE.JOBS", "s", "FLOW", "Odd", "CLASS",
                                                  "Even"))["total"], 0)
        sched = as_map(r.execute_command("QUEUE.JOBS", "s", "STATE", "scheduled"))
        self.assertEqual([as_map(j)["class"] for j in sched["jobs"]], [b"Later"])
        self.assertError(lambda: r.execute_command("QUEUE.JOBS", "s", "SORT", "size"),
                         "SORT must be DISPATCH, ENQUEUED, PRIORITY, ETA, CLASS or ID")
        self.assertError(lambda: r.execute_command("QUEUE.JOBS", "s", "LIMIT", "100000"),
                         "LIMIT must be an integer from 0 to 10000")


class QueueStatsAndCapabilityTest(ServerTest):
    def test_stats_count_enqueued_dequeued_and_failed_jobs_per_bucket(self):
        r = self.r
        before = as_map(r.execute_command("QUEUE.STATS", "SECONDS", "60"))
        for i in range(5):
            r.rpush("resque:queue:st", job("A", i))
        r.lpop("resque:queue:st")
        r.lpop("resque:queue:st")
        r.rpush("resque:failed", json.dumps({"queue": "st", "payload": {"class": "A", "args": []},
                                             "exception": "E", "error": "boom"}))
        stats = as_map(r.execute_command("QUEUE.STATS", "SECONDS", "60"))
        self.assertEqual(stats["bucket_ms"], 1000)
        self.assertEqual(len(stats["enqueued"]), 60)
        totals, old = as_map(stats["totals"]), as_map(before["totals"])
        # The failure's automatic retry is an enqueue too.
        self.assertEqual(totals["enqueued"] - old["enqueued"], 6)
        self.assertEqual(totals["dequeued"] - old["dequeued"], 2)
        self.assertEqual(totals["failed"] - old["failed"], 1)
        # The per-second buckets gained exactly this test's events (the class's server is younger
        # than the 60 s window, so nothing aged out in between).
        for event, n in (("enqueued", 6), ("dequeued", 2), ("failed", 1)):
            self.assertEqual(sum(stats[event]) - sum(before[event]), n, event)
        minutes = as_map(r.execute_command("QUEUE.STATS", "MINUTES", "1440"))
        self.assertEqual(len(minutes["enqueued"]), 1440)
        self.assertGreaterEqual(minutes["enqueued"][-1] + minutes["enqueued"][-2], 6)
        self.assertError(lambda: r.execute_command("QUEUE.STATS", "SECONDS", "3601"),
                         "SECONDS must be an integer from 1 to 3600")
        self.assertError(lambda: r.execute_command("QUEUE.STATS", "HOURS", "1"), "syntax error")

    def test_a_queue_capability_keeps_its_jobs_from_workers_without_it(self):
        r = self.r
        r.execute_command("QUEUE.CREATE", "gpu", "CAPABILITY", "cuda")
        self.assertEqual(as_map(r.execute_command("QUEUE.CONFIG", "gpu"))["capability"], b"cuda")
        r.execute_command("JOB.PUSH", "gpu", job("Train"))
        r.execute_command("WORKER.REGISTER", "plain", "QUEUES", "gpu")
        r.execute_command("WORKER.REGISTER", "big", "QUEUES", "gpu", "CAPABILITIES", "cuda")
        self.assertIsNone(r.execute_command("JOB.FETCH", "plain"))
        self.assertEqual(as_map(r.execute_command("JOB.FETCH", "big"))["class"], b"Train")
        r.execute_command("QUEUE.CONFIG", "gpu", "CAPABILITY", "")
        r.execute_command("JOB.PUSH", "gpu", job("Small"))
        self.assertEqual(as_map(r.execute_command("JOB.FETCH", "plain"))["class"], b"Small")


class EtaTest(ServerTest):
    def test_eta_predicts_start_times_on_a_steady_workload(self):
        """A worker takes 20 jobs/s. After 3 s of measuring, the ETA of the job 30 places back
        must match when it actually starts: the estimator is position / measured service rate."""
        r = self.r
        r.rpush("resque:queue:steady", *[job("Steady", i) for i in range(200)])
        period = 0.05
        next_tick = time.monotonic()

        def take_one():
            nonlocal next_tick
            next_tick += period
            time.sleep(max(0, next_tick - time.monotonic()))  # pacing the workload, not syncing
            return r.lpop("resque:queue:steady")
        for _ in range(60):
            take_one()
        target = as_map(r.execute_command("QUEUE.JOBS", "resque:queue:steady", "OFFSET", "30",
                                          "LIMIT", "1"))["jobs"][0]
        target = as_map(target)
        asked = time.time() * 1000
        predicted = target["eta"]
        while True:
            if take_one() == target["payload"]:
                actual = time.time() * 1000
                break
        error = abs(actual - predicted) / (actual - asked)
        print(f"eta: predicted {predicted - asked:.0f} ms ahead, started after "
              f"{actual - asked:.0f} ms: error {error:.1%}", file=sys.stderr)
        self.assertLess(error, 0.10)


class ScheduleTest(ServerTest):
    def test_cron_schedule_fires_on_time_and_survives_a_restart(self):
        data = data_dir(self, "cron")
        s = Scheduler(data_dir=data)
        s.wait_loaded()  # (it listens before it has opened its data)
        r = s.client()
        self.assertEqual(r.execute_command(
            "SCHEDULE.SET", "tick", "CRON", "*/2 * * * * *", "QUEUE", "resque:queue:cron",
            "PAYLOAD", job("Tick"), "TZ", "Europe/Berlin", "PRIORITY", "2"), b"OK")
        info = as_map(r.execute_command("SCHEDULE.INFO", "tick"))
        self.assertEqual(info["next_run_at"] % 2000, 0)
        got = r.blpop("resque:queue:cron", 5)
        taken = time.time() * 1000
        self.assertEqual(json.loads(got[1])["class"], "Tick")
        # The run that made the job came at a 2 s tick and the job reached the waiting client at
        # once. (Its tick may precede SCHEDULE.INFO's next_run_at: on a busy machine the first
        # tick can pass between SCHEDULE.SET and SCHEDULE.INFO.) "At once" allows for a loaded
        # CI machine and the sanitizer build: well within the 2 s period, never a tick late.
        ran = as_map(r.execute_command("SCHEDULE.INFO", "tick"))["last_run_at"]
        self.assertLess(ran % 2000, 1000)
        self.assertLess(abs(taken - ran), 1000)
        s.stop()
        s = Scheduler(data_dir=data)
        self.addCleanup(s.stop)
        s.wait_loaded()
        r = s.client()
        self.assertEqual(r.execute_command("SCHEDULE.LIST"), [b"tick"])
        # Fires again after the restart (and a run missed while down happens once at start).
        got = r.blpop("resque:queue:cron", 5)
        self.assertIsNotNone(got)
        self.assertEqual(r.execute_command("SCHEDULE.DELETE", "tick"), 1)
        r.delete("resque:queue:cron")
        self.assertIsNone(r.blpop("resque:queue:cron", 2.5))

    def test_run_now_and_errors(self):
        r = self.r
        r.execute_command("SCHEDULE.SET", "nightly", "CRON", "0 3 * * *", "QUEUE", "reports",
                          "PAYLOAD", "p", "PAUSED", "yes")
        self.assertIsNone(as_map(r.execute_command("SCHEDULE.INFO", "nightly"))["next_run_at"])
        jid = r.execute_command("SCHEDULE.RUN", "nightly")
        self.assertEqual(as_map(r.execute_command("JOB.INFO", jid))["payload"], b"p")
        self.assertError(lambda: r.execute_command("SCHEDULE.SET", "bad", "CRON", "* *", "QUEUE",
                                                   "q"),
                         "a cron expression has 5 fields (min hour day month weekday), 6 with "
                         "seconds first, or is @hourly/@daily/@weekly/@monthly/@yearly")
        self.assertError(lambda: r.execute_command("SCHEDULE.SET", "bad", "CRON", "* * * * *",
                                                   "QUEUE", "q", "TZ", "Nowhere/City"),
                         "unknown time zone 'Nowhere/City' (an IANA name like Europe/Berlin)")
        self.assertError(lambda: r.execute_command("SCHEDULE.INFO", "bad"),
                         "no such schedule 'bad'")


class WorkerViewTest(ServerTest):
    def test_sidekiq_processes_show_through_worker_list(self):
        """Sidekiq 6.4's heartbeat, as it writes it, makes the process visible natively."""
        r = self.r
        identity = "web-1:4242:0a1b2c3d"
        info = {"hostname": "web-1", "started_at": 1790000000.5, "pid": 4242, "tag": "app",
                "concurrency": 5, "queues": ["critical", "default"], "labels": [],
                "identity": identity}
        r.sadd("processes", identity)
        r.hset(identity, mapping={"info": json.dumps(info), "busy": 1, "beat": time.time(),
                                  "quiet": "false"})
        running = {"queue": "default", "payload": job("HardJob", 1), "run_at": 1790000001}
        r.hset(f"{identity}:workers", "tid-1", json.dumps(running))
        (worker,) = [as_map(w) for w in r.execute_command("WORKER.LIST")]
        self.assertEqual(worker["kind"], b"sidekiq")
        self.assertEqual((worker["host"], worker["pid"]), (b"web-1", b"4242"))
        self.assertEqual(worker["queues"], [b"critical", b"default"])
        (work,) = [as_map(j) for j in worker["jobs"]]
        self.assertEqual(json.loads(work["payload"])["class"], "HardJob")
        self.assertEqual(work["run_at"], b"1790000001")
        self.assertEqual(worker["health"], b"")
        self.assertAlmostEqual(worker["last_seen"] / 1000, time.time(), delta=5)
        # Silent for more than a minute: gone, as Sidekiq itself then drops the process.
        r.hset(identity, "beat", time.time() - 90)
        (worker,) = [as_map(w) for w in r.execute_command("WORKER.LIST")]
        self.assertRegex(worker["health"].decode(), r"^gone: no heartbeat for 9\d s$")


class WorkerIncarnationTest(ServerTest):
    def test_a_worker_restarted_under_its_id_releases_the_old_processes_jobs(self):
        r = self.r
        r.execute_command("QUEUE.CREATE", "crashy", "RETRY", "2")  # three runs in all
        job_id = r.execute_command("JOB.PUSH", "crashy", job("Crash")).decode()
        info = lambda: as_map(r.execute_command("JOB.INFO", job_id))  # noqa: E731
        # The first process of worker w takes the job with a day-long lease.
        r.execute_command("WORKER.REGISTER", "w", "QUEUES", "crashy", "INCARNATION", "p1")
        self.assertEqual(as_map(r.execute_command("JOB.FETCH", "w", "LEASE", "86400000"))["id"],
                         job_id.encode())
        # A reconnect of the same process keeps it (a failover must not re-run live jobs).
        r.execute_command("WORKER.REGISTER", "w", "QUEUES", "crashy", "INCARNATION", "p1")
        self.assertEqual((info()["state"], info()["attempts"]), (b"running", 0))
        # A new process under the same id: the old one's job is back at once, an attempt more.
        r.execute_command("WORKER.REGISTER", "w", "QUEUES", "crashy", "INCARNATION", "p2")
        self.assertEqual((info()["state"], info()["attempts"]), (b"ready", 1))
        # The old process's heartbeats are refused and renew nothing.
        self.assertError(lambda: r.execute_command("WORKER.HEARTBEAT", "w", "INCARNATION", "p1"),
                         "STALEWORKER another process registered as worker 'w'; this one's "
                         "leases are gone")
        r.execute_command("JOB.FETCH", "w", "LEASE", "86400000")
        r.execute_command("WORKER.REGISTER", "w", "QUEUES", "crashy", "INCARNATION", "p3")
        self.assertEqual(info()["attempts"], 2)
        # The third run takes its worker down too: the job is dead, not round again.
        r.execute_command("JOB.FETCH", "w", "LEASE", "86400000")
        r.execute_command("WORKER.REGISTER", "w", "QUEUES", "crashy", "INCARNATION", "p4")
        self.assertEqual((info()["state"], info()["error"]), (b"failed", b"WorkerLost"))
        (f,) = [as_map(x) for x in as_map(r.execute_command("FAILED.LIST"))["failures"]]
        self.assertEqual((f["error"], f["state"], f["attempt"]), (b"WorkerLost", b"dead", 3))
        self.assertEqual(f["message"], b"its worker w restarted while running it")


class RetryPolicyTest(ServerTest):
    def test_sidekiq_jobs_are_retried_by_sidekiq_never_by_the_server(self):
        r = self.r
        payload = json.dumps({"class": "HardJob", "args": [1], "jid": "abc", "retry": True})
        r.lpush("queue:default", payload)  # Sidekiq's queue key
        r.execute_command("WORKER.REGISTER", "w", "QUEUES", "queue:default")
        fetched = as_map(r.execute_command("JOB.FETCH", "w"))["id"]
        self.assertEqual(r.execute_command("JOB.FAIL", fetched, "ERROR", "Boom"), 1)
        (f,) = [as_map(x) for x in as_map(r.execute_command("FAILED.LIST"))["failures"]]
        self.assertEqual((f["state"], f["retry_job"]), (b"dead", None))
        self.assertEqual(r.llen("queue:default"), 0)
        # A resque queue beside it follows the server's default policy.
        r.rpush("resque:queue:default", payload)
        r.execute_command("WORKER.ATTACH", "w", "resque:queue:default")
        fetched = as_map(r.execute_command("JOB.FETCH", "w"))["id"]
        r.execute_command("JOB.FAIL", fetched, "ERROR", "Boom")
        self.assertEqual(as_map(r.execute_command("FAILED.COUNTS"))["retrying"], 1)

    def test_a_failure_marked_dead_is_not_retried(self):
        r = self.r
        r.execute_command("WORKER.REGISTER", "w", "QUEUES", "q")
        job_id = r.execute_command("JOB.PUSH", "q", "not json")
        r.execute_command("JOB.FETCH", "w")
        self.assertEqual(r.execute_command("JOB.FAIL", job_id, "ERROR", "NoAdapter", "DEAD"), 1)
        (f,) = [as_map(x) for x in as_map(r.execute_command("FAILED.LIST"))["failures"]]
        self.assertEqual((f["state"], f["attempt"]), (b"dead", 1))
        self.assertEqual(as_map(r.execute_command("JOB.INFO", job_id))["state"], b"failed")


class QueueDurabilityTest(ServerTest):
    def test_queues_jobs_and_delays_survive_a_restart(self):
        data = data_dir(self, "queues")
        s = Scheduler(data_dir=data)
        s.wait_loaded()  # (it listens before it has opened its data)
        r = s.client()
        r.execute_command("QUEUE.CREATE", "resque:queue:p", "DISCIPLINE", "sfq", "PARAM",
                          "quantum", "2", "PAUSED", "yes")
        r.rpush("resque:queue:p", job("A"), job("B"))
        at = int(time.time() * 1000) + 1500
        r.execute_command("JOB.PUSH", "resque:queue:p", "delayed", "AT", at)
        s.stop()
        s = Scheduler(data_dir=data)
        self.addCleanup(s.stop)
        s.wait_loaded()
        r = s.client()
        config = as_map(r.execute_command("QUEUE.CONFIG", "resque:queue:p"))
        self.assertEqual(config["discipline"], b"sfq")
        self.assertEqual(config["paused"], 1)
        self.assertEqual(r.llen("resque:queue:p"), 2)
        r.execute_command("QUEUE.RESUME", "resque:queue:p")
        wait_for(lambda: r.llen("resque:queue:p") == 3, timeout=10, what="the delayed job")
        self.assertGreaterEqual(int(time.time() * 1000), at)

    def test_deleting_a_queue_takes_its_running_jobs_with_it(self):
        data = data_dir(self, "deleted")
        s = Scheduler(data_dir=data)
        s.wait_loaded()  # (it listens before it has opened its data)
        r = s.client()
        r.execute_command("QUEUE.CREATE", "doomed")
        r.execute_command("WORKER.REGISTER", "w", "QUEUES", "doomed")
        running = r.execute_command("JOB.PUSH", "doomed", job("Running")).decode()
        waiting = r.execute_command("JOB.PUSH", "doomed", job("Waiting")).decode()
        self.assertEqual(as_map(r.execute_command("JOB.FETCH", "w"))["id"].decode(), running)
        self.assertEqual(r.execute_command("QUEUE.DELETE", "doomed"), 1)
        # The worker reports on a job that is gone: nothing to acknowledge, and the server
        # (which used to free the queue under the running job and crash here) goes on.
        self.assertEqual(r.execute_command("JOB.ACK", running), 0)
        self.assertEqual(r.execute_command("JOB.FAIL", running, "ERROR", "Boom"), 0)
        self.assertEqual(r.execute_command("QUEUE.LIST"), [])
        s.stop()
        s = Scheduler(data_dir=data)
        self.addCleanup(s.stop)
        s.wait_loaded()
        r = s.client()
        self.assertEqual(r.execute_command("QUEUE.LIST"), [])
        for gone in (running, waiting):
            self.assertIsNone(r.execute_command("JOB.INFO", gone))


if __name__ == "__main__":
    main()
