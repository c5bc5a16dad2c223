#!/usr/bin/python3
"""desaster-migrate against Debian's redis-server: RDB files, the live replica path with
producers and consumers as the oracle (killed and resumed, and with a tiny replica output
buffer on the source), resque data whose numbers must survive, and a source that refuses
PSYNC."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (SCHEDULER, RedisServer, Scheduler, as_map, data_dir, main,  # noqa: E402
                     wait_for)
from test_rdb import fill, read  # noqa: E402

MIGRATE = os.environ.get("DESASTER_MIGRATE",
                         os.path.join(os.path.dirname(SCHEDULER), "desaster-migrate"))
# The sanitizer build runs everything several times slower.
SCALE = int(os.environ.get("DESASTER_MIGRATE_JOBS", "20000"))


class Migrate:
    """desaster-migrate in the background, its JSON progress lines collected."""

    def __init__(self, source, target, *extra, password=None):
        self.spool = tempfile.mkdtemp(prefix="migrate-spool-")
        auth = f":{password}@" if password else ""
        self.proc = subprocess.Popen(
            [MIGRATE, "--from", f"redis://{auth}127.0.0.1:{source.port}",
             "--to", f"redis://127.0.0.1:{target.port}", "--progress", "json",
             "--spool", self.spool, *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.events = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stderr:
            try:
                self.events.append(json.loads(line))
            except ValueError:
                self.events.append({"text": line})

    def wait(self, timeout=120):
        rc = self.proc.wait(timeout=timeout)
        self.reader.join(timeout=10)
        self.proc.stderr.close()
        return rc

    def event(self, name):
        return next((e for e in self.events if e.get("event") == name), None)

    def kill(self, sig):
        self.proc.send_signal(sig)
        return self.wait()


def run_migrate(source, target, *extra, timeout=120, password=None):
    m = Migrate(source, target, *extra, password=password)
    rc = m.wait(timeout)
    return rc, m


class Traffic:
    """Producers that push numbered jobs and consumers that pop them, as a queue library's
    clients would, against the source. Every acknowledged push and every pop is logged: the
    oracle. They run until the migration's cutover disconnects them (--kill-clients)."""

    def __init__(self, port, key, push, pop, producers=2, consumers=2, rate=1000):
        """`rate`: pushes a second per producer (None: as fast as they go, which takes a core
        from the tests running beside this one)."""
        self.port, self.key, self.push, self.pop, self.rate = port, key, push, pop, rate
        self.acked, self.consumed, self.lock = [], [], threading.Lock()
        self.threads = [threading.Thread(target=self._produce, args=(p,)) for p in range(producers)]
        self.threads += [threading.Thread(target=self._consume) for _ in range(consumers)]
        for t in self.threads:
            t.start()

    def _client(self):
        import redis
        return redis.Redis(port=self.port, socket_timeout=120)

    def _produce(self, p):
        r = self._client()
        n, started, pace = 0, time.monotonic(), threading.Event()
        try:
            while True:
                job = f"p{p}-{n}"
                getattr(r, self.push)(self.key, job)
                with self.lock:
                    self.acked.append(job)
                n += 1
                if self.rate:
                    pace.wait(max(0.0, n / self.rate - (time.monotonic() - started)))
        except Exception:
            pass

    def _consume(self):
        r = self._client()
        try:
            while True:
                got = getattr(r, self.pop)(self.key, timeout=1)
                if got:
                    with self.lock:
                        self.consumed.append(got[1].decode())
        except Exception:
            pass

    def join(self):
        for t in self.threads:
            t.join(timeout=60)
            assert not t.is_alive(), "a client of the source did not stop"


def check_oracle(test, traffic, preloaded, desaster, key):
    """After a cutover: every job the source acknowledged is in desaster's queue `key` or was
    consumed from the source, exactly once, and nothing else is."""
    in_desaster = [x.decode() for x in desaster.lrange(key, 0, -1)]
    test.assertEqual(len(set(traffic.consumed)), len(traffic.consumed), "a job popped twice")
    test.assertEqual(len(set(in_desaster)), len(in_desaster), "a job queued twice")
    test.assertFalse(set(in_desaster) & set(traffic.consumed), "a consumed job is back")
    everywhere = set(in_desaster) | set(traffic.consumed)
    test.assertFalse(set(traffic.acked) - everywhere, "an acknowledged job is lost")
    test.assertFalse(everywhere - set(traffic.acked) - set(preloaded), "a job nobody pushed")
    test.assertGreater(len(traffic.acked), 100)
    test.assertGreater(len(traffic.consumed), 100)
    info = as_map(desaster.execute_command("QUEUE.INFO", key))
    test.assertEqual(int(info["ready"]), len(in_desaster))  # a queue, not a plain list
    test.assertEqual(as_map(desaster.execute_command("IMPORT.STATUS"))["active"], 0)


class MigrateTest(unittest.TestCase):
    def setUp(self):
        self.redis = None
        self.desaster = Scheduler()
        self.desaster.wait_loaded()
        self.d = self.desaster.client()

    def tearDown(self):
        self.d.close()
        self.desaster.stop()
        if self.redis:
            self.redis.stop()

    def start_redis(self, *extra):
        # A full sync starts at once, not after Redis' 5 s wait for more replicas to join; the
        # backlog holds what full-speed producers write while desaster-migrate is away (a
        # restarted run resumes within it; past it the source sends a full sync instead).
        self.redis = RedisServer("--repl-diskless-sync-delay", "0", "--repl-backlog-size", "64mb",
                                 *extra)
        self.r = self.redis.client()
        self.addCleanup(self.r.close)

    def test_an_rdb_file_loads_offline(self):
        self.start_redis()
        fill(self.r)
        self.r.save()
        path = os.path.join(self.redis.dir, "dump.rdb")
        proc = subprocess.run([MIGRATE, "--rdb", path, "--to", f"redis://127.0.0.1:{self.desaster.port}",
                               "--progress", "json"], capture_output=True, text=True, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        keys = sorted(k.decode() for k in self.r.keys("*"))
        self.assertEqual(sorted(k.decode() for k in self.d.keys("*")), keys)
        for key in keys:
            with self.subTest(key=key):
                self.assertEqual(read(self.d, key), read(self.r, key))
        self.assertTrue(0 < self.d.ttl("str:raw") <= 1000)
        events = [json.loads(line) for line in proc.stderr.splitlines()]
        loaded = next(e for e in events if e.get("event") == "snapshot loaded")
        # Consumer groups came along: read() compares groups and pending entries.
        self.assertEqual(self.d.xinfo_groups("stream:nodes")[0]["pending"], 3)
        self.assertEqual(loaded["keys"], len(keys))
        self.assertEqual(loaded["rdb_version"], 10)
        self.assertEqual(as_map(self.d.execute_command("IMPORT.STATUS"))["active"], 0)

    def live_migration(self, key, push, pop, interrupt=None, redis_args=(), preload=SCALE,
                       rate=1000):
        """Preloads `preload` jobs, runs traffic, follows the source for a while, optionally
        interrupts desaster-migrate (`interrupt`: a signal) and restarts it, then cuts over and
        checks the oracle: every acknowledged job is in desaster or was consumed, exactly once."""
        self.start_redis(*redis_args)
        preloaded = [f"pre-{i}" for i in range(preload)]
        for i in range(0, preload, 1000):
            getattr(self.r, push)(key, *preloaded[i:i + 1000])
        traffic = Traffic(self.redis.port, key, push, pop, rate=rate)

        def traffic_grows(pushes, pops):
            acked, consumed = len(traffic.acked) + pushes, len(traffic.consumed) + pops
            wait_for(lambda: len(traffic.acked) >= acked and len(traffic.consumed) >= consumed,
                     timeout=60, what="more traffic on the source")
        try:
            traffic_grows(200, 100)  # before the snapshot
            follow = Migrate(self.redis, self.desaster)
            self.follow = follow
            # The snapshot is in and the stream applies: the offset moves.
            wait_for(lambda: int(as_map(self.d.execute_command("IMPORT.STATUS"))["offset"]) > 0,
                     timeout=120, what="the stream to apply")
            first = int(as_map(self.d.execute_command("IMPORT.STATUS"))["offset"])
            wait_for(lambda: int(as_map(self.d.execute_command("IMPORT.STATUS"))["offset"]) > first,
                     timeout=60, what="more of the stream")
            traffic_grows(200, 0)  # while followed
            if interrupt is not None:
                rc = follow.kill(interrupt)
                self.assertIn(rc, (130, -signal.SIGKILL))
            else:
                follow.kill(signal.SIGINT)
            # While nobody follows, the source goes on; the next run resumes with PSYNC.
            offset = int(as_map(self.d.execute_command("IMPORT.STATUS"))["offset"])
            wait_for(lambda: int(self.r.info("replication")["master_repl_offset"]) > offset + 10000,
                     timeout=60, what="the source to move on")
            traffic_grows(200, 0)  # while nobody follows
            rc, cut = run_migrate(self.redis, self.desaster, "--cutover", "--kill-clients",
                                  "--verify", timeout=300)
            self.assertEqual(rc, 0, cut.events[-5:])
            self.assertIsNotNone(cut.event("resumed"), cut.events[:3])
            cutover = cut.event("cutover")
            self.assertEqual(cutover["refused"], "")
            self.assertEqual(cut.event("verified")["differing"], 0)
        finally:
            traffic.join()
        check_oracle(self, traffic, preloaded, self.d, key)
        return cutover

    def test_resque_queue_followed_stopped_and_cut_over(self):
        cutover = self.live_migration("resque:queue:default", "rpush", "blpop")
        print(f"\ncutover pause to ready: {cutover['pause_to_ready_ms']} ms", file=sys.stderr)

    def test_sidekiq_queue_with_desaster_migrate_killed_mid_stream(self):
        self.live_migration("queue:default", "lpush", "brpop", interrupt=signal.SIGKILL)

    def test_rq_queue_through_a_tiny_replica_output_buffer(self):
        # A replica that falls 256 kB behind for a second is dropped by the source: the stream
        # is spooled while the snapshot loads (producers at full speed), so this one never is.
        self.live_migration("rq:queue:default", "rpush", "blpop", interrupt=signal.SIGKILL,
                            redis_args=("--client-output-buffer-limit", "replica 256kb 128kb 1"),
                            preload=SCALE * 50, rate=None)
        spooled = self.follow.event("snapshot loaded")["stream_spooled_bytes"]
        self.assertGreater(spooled, 0)
        print(f"\nstream spooled while the snapshot loaded: {spooled} bytes", file=sys.stderr)
        self.assertNotIn("scheduled to be closed ASAP for overcoming of output buffer limits",
                         self.redis.log_text())

    def test_resque_data_keeps_its_numbers_and_old_failures_do_not_run(self):
        # The source wants a password and sends its snapshot as a file (not diskless).
        self.start_redis("--repl-diskless-sync", "no")
        self.r.config_set("requirepass", "s3cret")
        r = self.r = self.redis.client(password="s3cret")
        self.addCleanup(r.close)
        for q, n in (("mail", 30), ("reports", 5)):
            r.sadd("resque:queues", q)
            r.rpush(f"resque:queue:{q}", *[json.dumps({"class": "Job", "args": [q, i]}) for i in range(n)])
        failures = [json.dumps({"failed_at": f"2026/11/{10 + i:02d} 03:40:00 UTC",
                                "payload": {"class": "Broken", "args": [i]},
                                "exception": "RuntimeError", "error": f"boom {i}",
                                "backtrace": ["a.rb:1"], "worker": "host:1:mail", "queue": "mail"})
                    for i in range(7)]
        r.rpush("resque:failed", *failures)
        r.set("resque:stat:processed", 1234)
        r.set("resque:stat:failed", 7)
        r.sadd("resque:workers", "host:1:mail", "host:2:reports")
        r.set("resque:worker:host:1:mail", json.dumps({"queue": "mail", "run_at": "x",
                                                        "payload": {"class": "Job", "args": [1]}}))
        r.set("resque:worker:host:1:mail:started", "2026-11-30 03:00:00 +0000")
        r.hset("resque:workers:heartbeat", "host:1:mail", "2026-11-30T03:40:00+00:00")
        # resque-scheduler: delayed jobs by timestamp, and recurring schedules.
        r.zadd("resque:delayed_queue_schedule", {"1893456000": 1893456000})
        r.rpush("resque:delayed:1893456000", json.dumps({"class": "Later", "args": [], "queue": "mail"}))
        r.hset("resque:schedules", "nightly", json.dumps({"cron": "0 3 * * *", "class": "Nightly"}))

        def resque_info(c):
            queues = [q.decode() for q in c.smembers("resque:queues")]
            workers = [w.decode() for w in c.smembers("resque:workers")]
            return {"pending": sum(c.llen(f"resque:queue:{q}") for q in queues),
                    "processed": int(c.get("resque:stat:processed") or 0),
                    "queues": len(queues), "workers": len(workers),
                    "working": sum(1 for w in workers if c.exists(f"resque:worker:{w}")),
                    "failed": c.llen("resque:failed"),
                    "delayed": c.zcard("resque:delayed_queue_schedule"),
                    "schedules": c.hlen("resque:schedules")}

        before = resque_info(r)
        rc, m = run_migrate(self.redis, self.desaster, "--cutover", "--verify", password="s3cret")
        self.assertEqual(rc, 0, m.events)
        self.assertEqual(m.event("verified")["differing"], 0)
        self.assertEqual(resque_info(self.d), before)
        counts = as_map(self.d.execute_command("FAILED.COUNTS"))
        self.assertEqual((counts["total"], counts["dead"], counts["retrying"]), (7, 7, 0))
        # At their own time, not the import's.
        listed = self.d.execute_command("FAILED.LIST", "SORT", "failed_at", "ASC", "LIMIT", "1")
        first = as_map(as_map(listed)["failures"][0])
        self.assertEqual(int(first["failed_at"]), 1794282000000)  # 2026-11-10 03:40:00 UTC
        # The import is over: nothing of the old failures is queued to run again.
        self.assertEqual(self.d.llen("resque:queue:mail"), 30)
        # The source's workers came with the data but are not this server's: not shown as live,
        # until one beats again against desaster.
        def health():
            return {as_map(w)["id"].decode(): as_map(w)["health"].decode()
                    for w in self.d.execute_command("WORKER.LIST")}
        self.assertEqual(set(health().values()),
                         {"gone: it worked for the Redis this data was imported from"})
        self.d.hset("resque:workers:heartbeat", "host:1:mail",
                    time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()))
        self.assertEqual(health()["host:1:mail"], "")
        self.assertNotEqual(health()["host:2:reports"], "")

    def test_sidekiq_and_rq_data_arrive_as_their_libraries_keep_it(self):
        self.start_redis()
        r = self.r
        now = time.time()

        def sidekiq_job(jid, **extra):
            return json.dumps({"class": "HardJob", "args": [jid], "jid": jid, "queue": "default",
                               "created_at": now - 100, **extra})
        r.sadd("queues", "default", "mailers")
        r.lpush("queue:default", *[sidekiq_job(f"j{i}") for i in range(40)])
        r.zadd("schedule", {sidekiq_job("later"): now + 3600})
        r.zadd("retry", {sidekiq_job("again", retry_count=2, error_class="RuntimeError",
                                     error_message="boom", failed_at=now - 60): now + 600})
        r.zadd("dead", {sidekiq_job("dead", retry_count=25, error_class="RuntimeError",
                                    error_message="boom", failed_at=now - 3600): now - 3600})
        r.incrby("stat:processed", 500)
        r.incrby("stat:failed", 27)
        # RQ: job hashes, a queue of ids, registries as sorted sets.
        r.sadd("rq:queues", "rq:queue:default")
        for i in range(10):
            r.hset(f"rq:job:id{i}", mapping={"status": "queued", "origin": "default",
                                             "data": b"\x80\x04pickled", "created_at": "2026-12-05T00:00:00.000000Z"})
        r.rpush("rq:queue:default", *[f"id{i}" for i in range(10)])
        r.hset("rq:job:bad", mapping={"status": "failed", "exc_info": "Traceback ..."})
        r.zadd("rq:registry:failed:default", {"bad": now + 86400})
        rc, m = run_migrate(self.redis, self.desaster, "--cutover", "--verify")
        self.assertEqual(rc, 0, m.events)
        self.assertEqual(m.event("verified")["differing"], 0)
        # Their queues are desaster queues, with each library's head where it pops.
        self.assertEqual(int(as_map(self.d.execute_command("QUEUE.INFO", "queue:default"))["ready"]), 40)
        self.assertEqual(json.loads(self.d.rpop("queue:default"))["jid"], "j0")
        self.assertEqual(self.d.lpop("rq:queue:default"), b"id0")
        # Retries and the dead stay the libraries' own (scores kept); the server retries none.
        self.assertEqual(self.d.zscore("retry", sidekiq_job("again", retry_count=2,
                                                            error_class="RuntimeError",
                                                            error_message="boom",
                                                            failed_at=now - 60)), now + 600)
        self.assertEqual(self.d.zcard("dead"), 1)
        self.assertEqual(as_map(self.d.execute_command("FAILED.COUNTS"))["total"], 0)

    def test_a_source_that_lost_the_offset_sends_a_full_sync_and_the_import_starts_over(self):
        self.start_redis("--enable-debug-command", "yes")
        self.r.rpush("resque:queue:q", "a", "b")
        follow = Migrate(self.redis, self.desaster)
        wait_for(lambda: int(as_map(self.d.execute_command("IMPORT.STATUS"))["offset"]) >= 0,
                 what="the snapshot to load")
        self.assertEqual(follow.kill(signal.SIGINT), 130)
        # The history desaster-migrate would continue is gone (as after the source's restart).
        self.r.lpop("resque:queue:q")
        self.r.set("later", "1")
        self.r.execute_command("DEBUG", "CHANGE-REPL-ID")
        rc, m = run_migrate(self.redis, self.desaster, "--cutover", "--verify")
        self.assertEqual(rc, 0, m.events)
        self.assertIsNotNone(m.event("full resync (the source no longer has the offset)"))
        self.assertEqual(m.event("verified")["differing"], 0)
        self.assertEqual(self.d.lrange("resque:queue:q", 0, -1), [b"b"])

    def test_the_import_state_survives_a_sigkill_of_the_server(self):
        # Any bytes name a source (a replication id, "rdb", "scan:host:port", even "-").
        data = data_dir(self, "server")
        self.d.close()
        self.desaster.stop()
        self.desaster = Scheduler(data_dir=data)
        self.desaster.wait_loaded()
        self.d = self.desaster.client()
        for source in ("-", "a b", "x" * 256):
            self.d.execute_command("IMPORT.START", source, "OFFSET", "9223372036854775807",
                                   "RETRY-IMPORTED")
            self.d.close()
            self.desaster.kill()
            self.desaster = Scheduler(data_dir=data)
            self.desaster.wait_loaded()
            self.d = self.desaster.client()
            status = as_map(self.d.execute_command("IMPORT.STATUS"))
            self.assertEqual((status["active"], status["source"], status["offset"],
                              status["retry-imported"]),
                             (1, source.encode(), 9223372036854775807, 1))
        for bad in ("", "x" * 257):
            with self.assertRaises(Exception) as cm:
                self.d.execute_command("IMPORT.START", bad)
            self.assertEqual(str(cm.exception),
                             "the source must name what the data follows (1 to 256 bytes)")
        with self.assertRaises(Exception) as cm:
            self.d.execute_command("IMPORT.START", "s", "OFFSET", "-2")
        self.assertIn("OFFSET", str(cm.exception))

    def test_retry_imported_retries_the_sources_resque_failures(self):
        self.start_redis()
        self.r.rpush("resque:failed", *[json.dumps({
            "failed_at": "2026/11/10 03:40:00 UTC", "payload": {"class": "Broken", "args": [i]},
            "exception": "RuntimeError", "error": "boom", "queue": "mail"}) for i in range(3)])
        self.r.save()
        proc = subprocess.run([MIGRATE, "--rdb", os.path.join(self.redis.dir, "dump.rdb"),
                               "--to", f"redis://127.0.0.1:{self.desaster.port}",
                               "--retry-imported"], capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        counts = as_map(self.d.execute_command("FAILED.COUNTS"))
        self.assertEqual((counts["total"], counts["retrying"]), (3, 3))

    def test_an_active_import_holds_the_servers_own_work(self):
        d = self.d
        d.execute_command("IMPORT.START", "src-1")
        d.set("k", "v", px=20)
        d.execute_command("JOB.PUSH", "nq", "payload", "DELAY", "20")
        # Well past both times, neither the expiry nor the promotion happened: the source's DEL
        # and pop would bring those.
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            self.assertEqual(d.dbsize(), 1)
            self.assertEqual(int(d.info("stats")["expired_keys"]), 0)
            self.assertEqual(int(as_map(d.execute_command("QUEUE.INFO", "nq"))["ready"]), 0)
        for args, error in ((("src-2", "5"), "the active import follows another source: src-1"),
                            (("src-1", "-1"), "the offset -1 is behind the import's own (-1)")):
            with self.assertRaises(Exception) as cm:
                d.execute_command("IMPORT.OFFSET", *args)
            self.assertEqual(str(cm.exception), error)
        d.execute_command("IMPORT.OFFSET", "src-1", "100")
        with self.assertRaises(Exception) as cm:
            d.execute_command("IMPORT.OFFSET", "src-1", "99")
        self.assertEqual(str(cm.exception), "the offset 99 is behind the import's own (100)")
        d.execute_command("IMPORT.FINISH")
        wait_for(lambda: int(d.info("stats")["expired_keys"]) == 1,
                 what="active expiry after the import")
        wait_for(lambda: int(as_map(d.execute_command("QUEUE.INFO", "nq"))["ready"]) == 1,
                 what="the delayed job's promotion after the import")
        status = as_map(d.execute_command("IMPORT.STATUS"))
        self.assertEqual((status["active"], status["offset"]), (0, 100))
        self.assertGreater(status["finished"], 0)
        with self.assertRaises(Exception) as cm:
            d.execute_command("IMPORT.OFFSET", "src-1", "200")
        self.assertEqual(str(cm.exception), "no import is active (IMPORT.START begins one)")

    def test_a_source_that_refuses_psync_is_named_and_copied_by_scan(self):
        self.start_redis("--rename-command", "PSYNC", "", "--rename-command", "SYNC", "")
        fill(self.r)
        rc, m = run_migrate(self.redis, self.desaster)
        self.assertEqual(rc, 1)
        error = m.event("error")["error"]
        self.assertIn("refused PSYNC", error)
        self.assertIn("--scan", error)
        rc, m = run_migrate(self.redis, self.desaster, "--scan", "--verify")
        self.assertEqual(rc, 0, m.events)
        self.assertEqual(m.event("cutover")["keys"], len(self.r.keys("*")))
        for key in (k.decode() for k in self.r.keys("*")):
            self.assertEqual(read(self.d, key), read(self.r, key))

    def test_a_target_with_data_is_refused_and_help_helps(self):
        self.start_redis()
        self.d.set("mine", "1")
        rc, m = run_migrate(self.redis, self.desaster)
        self.assertEqual(rc, 1)
        self.assertIn("--flush-target", m.event("error")["error"])
        self.assertEqual(self.d.get("mine"), b"1")
        self.r.set("theirs", "1")
        self.r.save()
        rdb = [MIGRATE, "--rdb", os.path.join(self.redis.dir, "dump.rdb"),
               "--to", f"redis://127.0.0.1:{self.desaster.port}"]
        refused = subprocess.run(rdb, capture_output=True, text=True, timeout=60)
        self.assertEqual(refused.returncode, 1)
        self.assertIn("holds 1 keys; --flush-target deletes them", refused.stderr)
        self.assertEqual(self.d.keys("*"), [b"mine"])
        flushed = subprocess.run(rdb + ["--flush-target"], capture_output=True, text=True, timeout=60)
        self.assertEqual(flushed.returncode, 0, flushed.stderr)
        self.assertEqual(self.d.keys("*"), [b"theirs"])
        self.d.set("mine", "1")
        help_text = subprocess.run([MIGRATE, "--help"], capture_output=True, text=True).stdout
        for option in ("--from", "--to", "--cutover", "--scan", "--rdb", "--verify", "--dry-run"):
            self.assertIn(option, help_text)
        rc, m = run_migrate(self.redis, self.desaster, "--dry-run", "--flush-target")
        self.assertEqual(rc, 0)
        self.assertEqual(m.event("dry run")["method"], "replica (PSYNC)")
        self.assertEqual(self.d.get("mine"), b"1")


if __name__ == "__main__":
    main()
