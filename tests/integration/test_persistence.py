#!/usr/bin/python3
"""Durability: restarts, TTLs across restarts, -LOADING, DEBUG RELOAD, refused data dirs."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redis  # noqa: E402
from harness import SCHEDULER, RawConnection, Reply, Scheduler, data_dir, main, wait_for  # noqa: E402


def fill_every_type(r):
    r.set("s", b"bin\x00ary")
    r.rpush("l", *[f"e{i}" for i in range(100)])
    r.linsert("l", "BEFORE", "e50", "inserted")
    r.lset("l", 0, "first")
    r.lrem("l", 1, "e10")
    r.hset("h", mapping={"f1": "v1", "f2": "v2"})
    r.sadd("set", "a", "b", "c")
    r.zadd("z", {"m1": 1.5, "m2": -3})
    r.set("ttl", "v", ex=1000)
    r.execute_command("SELECT", "3")
    r.set("in-db3", "x")
    r.execute_command("SELECT", "0")
    r.rename("h", "h2")
    r.copy("set", "set-copy")


class PersistenceTest(unittest.TestCase):
    def setUp(self):
        self.data = data_dir(self, "persist")

    def start(self, *extra):
        s = Scheduler(*extra, data_dir=self.data)
        self.addCleanup(s.stop)
        s.wait_loaded()
        return s

    def test_every_type_survives_a_restart_and_a_kill(self):
        for stop in ("stop", "kill"):
            s = self.start()
            r = s.client()
            r.flushall()
            fill_every_type(r)
            digest = r.execute_command("DEBUG", "DIGEST")
            r.close()
            getattr(s, stop)()
            s = self.start()
            r = s.client()
            self.assertEqual(r.execute_command("DEBUG", "DIGEST"), digest, stop)
            self.assertEqual(r.get("s"), b"bin\x00ary")
            self.assertEqual(r.lrange("l", 0, 2), [b"first", b"e1", b"e2"])
            self.assertEqual(r.llen("l"), 100)
            self.assertEqual(r.hgetall("h2"), {b"f1": b"v1", b"f2": b"v2"})
            self.assertEqual(r.zrange("z", 0, -1, withscores=True), [(b"m2", -3.0), (b"m1", 1.5)])
            self.assertGreater(r.ttl("ttl"), 990)
            self.assertEqual(s.client(db=3).get("in-db3"), b"x")
            self.assertEqual(r.smembers("set-copy"), {b"a", b"b", b"c"})
            r.close()
            s.stop()

    def test_jobs_deleted_together_stay_deleted_after_a_kill(self):
        # DEL, LTRIM and JOB.DELETE of many jobs write one record of their ids per queue: what
        # they acknowledged is gone after a SIGKILL, and what they kept is there.
        s = self.start()
        r = s.client()
        pipe = r.pipeline(transaction=False)
        for i in range(20000):
            pipe.rpush("resque:queue:cleared", f"job{i}")
            pipe.rpush("resque:queue:trimmed", f"job{i}")
        pipe.execute()
        ids = [r.execute_command("JOB.PUSH", f"named{i % 3}", f"n{i}").decode() for i in range(30)]
        self.assertEqual(r.delete("resque:queue:cleared"), 1)
        self.assertEqual(r.ltrim("resque:queue:trimmed", 100, 199), True)
        self.assertEqual(r.execute_command("JOB.DELETE", *ids[:20], ids[0]), 20)
        digest = r.execute_command("DEBUG", "DIGEST")
        r.close()
        s.kill()
        s = self.start()
        r = s.client()
        self.assertEqual(r.execute_command("DEBUG", "DIGEST"), digest)
        self.assertEqual(r.llen("resque:queue:cleared"), 0)
        self.assertEqual(r.lrange("resque:queue:trimmed", 0, -1),
                         [f"job{i}".encode() for i in range(100, 200)])
        self.assertEqual([r.execute_command("JOB.INFO", i) is None for i in ids],
                         [True] * 20 + [False] * 10)
        r.close()

    def test_swapped_databases_stay_swapped_across_kills_and_keep_writing(self):
        # SWAPDB writes one record (the map); the keys stay where they are stored. After a kill
        # each database is under its new number, writes after the swap land in the right one,
        # and a second swap and a copy between the two are kept too.
        s = self.start()
        zero, one = s.client(db=0), s.client(db=1)
        fill_every_type(zero)
        zero.rpush("resque:queue:mail", '{"class":"Mail","args":[1]}')
        zero.xadd("events", {"f": "v"}, id="1-1")
        zero.xgroup_create("events", "g", id="0")
        one.set("only-in-one", "1", ex=1000)
        digests = [c.execute_command("DEBUG", "DIGEST") for c in (zero, one)]
        zero.swapdb(0, 1)
        self.assertEqual(zero.get("only-in-one"), b"1")
        self.assertEqual(one.llen("resque:queue:mail"), 1)
        zero.set("written-after", "a")  # into the database stored as 1
        zero.rpush("popped", "a", "b", "c")
        zero.rpop("popped")  # a pop is loaded back by the database it is stored under
        one.hset("h3", "f", "v")        # into the one stored as 0
        swapped = [c.execute_command("DEBUG", "DIGEST") for c in (zero, one)]
        self.assertNotEqual(swapped, digests)
        s.kill()
        s = self.start()
        zero, one = s.client(db=0), s.client(db=1)
        self.assertEqual([c.execute_command("DEBUG", "DIGEST") for c in (zero, one)], swapped)
        self.assertGreater(zero.ttl("only-in-one"), 990)
        self.assertEqual(zero.lrange("popped", 0, -1), [b"a", b"b"])
        self.assertEqual(one.lrange("l", 0, 1), [b"first", b"e1"])
        self.assertEqual(one.xinfo_groups("events")[0]["name"], b"g")
        self.assertEqual(one.lpop("resque:queue:mail"), b'{"class":"Mail","args":[1]}')
        one.execute_command("SWAPDB", "1", "0")
        one.copy("written-after", "copied", destination_db=0)
        final = [c.execute_command("DEBUG", "DIGEST") for c in (zero, one)]
        s.kill()
        s = self.start()
        zero, one = s.client(db=0), s.client(db=1)
        self.assertEqual([c.execute_command("DEBUG", "DIGEST") for c in (zero, one)], final)
        # Swapped back: each number names its first database again, with what came since.
        self.assertEqual(one.get("written-after"), b"a")
        self.assertEqual(zero.get("copied"), b"a")
        self.assertEqual(one.get("only-in-one"), b"1")
        self.assertEqual(zero.hget("h3", "f"), b"v")
        self.assertEqual(one.execute_command("DEBUG", "RELOAD"), b"OK")
        self.assertEqual([c.execute_command("DEBUG", "DIGEST") for c in (zero, one)], final)

    def test_expired_keys_are_not_resurrected(self):
        s = self.start()
        r = s.client()
        r.set("short", "v", px=200)
        r.set("long", "v", ex=100)
        r.close()
        s.kill()
        s = self.start()
        r = s.client()
        wait_for(lambda: r.pttl("short") == -2, what="the short TTL to pass")
        self.assertIsNone(r.get("short"))
        self.assertEqual(r.get("long"), b"v")
        wait_for(lambda: r.dbsize() == 1, what="active expiry to delete it from disk too")
        r.close()
        s.stop()
        s = self.start()
        self.assertEqual(s.client().keys("*"), [b"long"])

    def test_debug_reload_matches_memory(self):
        s = self.start()
        r = s.client()
        fill_every_type(r)
        self.assertTrue(r.execute_command("DEBUG", "RELOAD"))
        self.assertEqual(r.llen("l"), 100)

    def test_clients_get_loading_until_the_dataset_is_in_memory(self):
        s = self.start()
        # Hash fields: one record each, however they were written (pushes share records).
        proto = b"".join(RawConnection.encode("HSET", f"big{i % 50}", f"f{i}", "x" * 20)
                         for i in range(1_500_000))
        out = subprocess.run(["redis-cli", "-p", str(s.port), "--pipe"], input=proto,
                             capture_output=True, timeout=300).stdout.decode()
        self.assertIn("errors: 0", out)
        s.stop()
        s = Scheduler(data_dir=self.data)
        self.addCleanup(s.stop)
        c = RawConnection(s.port)
        self.addCleanup(c.close)
        first = c.call("HLEN", "big0")
        self.assertEqual(first, Reply("-", "LOADING Redis is loading the dataset in memory"))
        # Health checks ping: they must not report ready before the data is there.
        self.assertEqual(c.call("PING"),
                         Reply("-", "LOADING Redis is loading the dataset in memory"))
        self.assertIn(b"loading:1", c.call("INFO", "persistence").value)
        wait_for(lambda: c.call("HLEN", "big0") == Reply(":", 30000), timeout=60,
                 what="the dataset to load")
        self.assertIn("DB loaded from disk: 50 keys (1500000 records)", s.log_text())

    def assertStartRefused(self, message):
        out = subprocess.run([SCHEDULER, "--port", "0", "--data-dir", self.data],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 1)
        self.assertIn(message, out.stderr)

    def test_foreign_and_corrupt_data_dirs_are_refused_and_kept(self):
        os.makedirs(self.data)
        with open(os.path.join(self.data, "thesis.tex"), "w") as f:
            f.write("precious")
        self.assertStartRefused("holds no desaster data")
        self.assertTrue(os.path.exists(os.path.join(self.data, "thesis.tex")))

        shutil.rmtree(self.data)
        s = self.start()
        s.client().set("k", "v")
        s.stop()
        with open(os.path.join(self.data, "CURRENT"), "w") as f:
            f.write("MANIFEST-999999\n")
        self.assertStartRefused("cannot open the data in")
        self.assertTrue(os.listdir(self.data))

    def test_fsync_policies_all_persist_a_clean_shutdown(self):
        for policy in ("always", "everysec", "no"):
            s = self.start("--appendfsync", policy)
            r = s.client()
            r.set("policy", policy)
            self.assertEqual(r.info("persistence")["store_fsync"], policy)
            r.close()
            s.stop()
            s = self.start()
            self.assertEqual(s.client().get("policy"), policy.encode())
            s.stop()


    def test_bulk_writers_commit_on_the_helper_and_waiting_clients_on_the_loop(self):
        bulk = b"".join(RawConnection.encode("RPUSH", "resque:queue:bulk",
                                             *[f"job{i}-{k}" for k in range(1000)])
                        for i in range(100))
        for helper in ("true", "false"):
            with self.subTest(commit_thread=helper):
                self.data = data_dir(self, f"bulk-{helper}")
                s = self.start("--commit-thread", helper)
                r = s.client()
                # 50 clients that wait for the replies to their 16 pushes before sending more:
                # at most 16 writes per client in an iteration, committed on the loop.
                subprocess.run(["redis-benchmark", "-p", str(s.port), "-c", "50", "-P", "16",
                                "-n", "20000", "-q", "RPUSH", "resque:queue:waiting", "job"],
                               capture_output=True, check=True, timeout=120)
                self.assertEqual(r.llen("resque:queue:waiting"), 20000)
                stats = r.info("persistence")
                self.assertGreater(stats["store_commits"], 0)
                self.assertEqual(stats["store_commits_overlapped"], 0)
                # One client sending without waiting: 1000 writes a command, on the helper.
                out = subprocess.run(["redis-cli", "-p", str(s.port), "--pipe"], input=bulk,
                                     capture_output=True, check=True, timeout=120).stdout
                self.assertIn(b"errors: 0", out)
                self.assertEqual(r.llen("resque:queue:bulk"), 100000)
                overlapped = r.info("persistence")["store_commits_overlapped"]
                if helper == "true":
                    self.assertGreater(overlapped, 0)
                else:
                    self.assertEqual(overlapped, 0)
                r.close()
                s.stop()
                s = self.start()
                self.assertEqual(s.client().llen("resque:queue:bulk"), 100000)
                s.stop()


class DiskFullTest(unittest.TestCase):
    """A real full filesystem: a small tmpfs this test mounts (CI runs as root)."""

    def setUp(self):
        self.mnt = tempfile.mkdtemp(prefix="desaster-tmpfs-")
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", self.mnt], check=True)
        self.addCleanup(shutil.rmtree, self.mnt, True)
        self.addCleanup(subprocess.run, ["umount", "-l", self.mnt])

    def test_full_disk_refuses_writes_serves_reads_and_recovers(self):
        for mode in ("yes", "no"):  # commits on the helper thread, and on the loop
            with self.subTest(commit_thread=mode):
                # A 1 MB write buffer keeps logs and the spare log small beside the 8 MB disk.
                self.fill_and_recover(os.path.join(self.mnt, f"data-{mode}"),
                                      "--commit-thread", mode, "--store-write-buffer-mb", "1")

    def fill_and_recover(self, data, *extra):
        s = Scheduler(*extra, data_dir=data)
        self.addCleanup(s.stop)
        s.wait_loaded()
        r = s.client()
        acked = {}
        for i in range(20):
            r.set(f"before{i}", f"v{i}")
            acked[f"before{i}"] = f"v{i}".encode()
        # Leave about 1 MB free, then write until the store cannot keep up.
        filler = os.path.join(self.mnt, "filler")
        free = shutil.disk_usage(self.mnt).free
        with open(filler, "wb") as f:
            f.write(b"\0" * max(0, free - 1024 * 1024))
        # Values that do not compress: 200 of them outgrow the whole disk whenever LevelDB
        # flushes and deletes its logs (64 KiB of repeated bytes shrank to about 3 KB in a table,
        # and whether the disk filled depended on where the spare log was when the filler was
        # made).
        refused = None
        for i in range(200):
            value = os.urandom(65536)
            try:
                r.set(f"big{i}", value)
                acked[f"big{i}"] = value
            except redis.ConnectionError:
                r = s.client()  # the failed batch's client is dropped, its write not applied
            except redis.ResponseError as e:
                refused = str(e)
                break
        self.assertIsNotNone(refused, "writes were never refused")
        self.assertIn("MISCONF Errors writing to the data directory", "MISCONF " + refused)
        self.assertEqual(r.info("persistence")["store_last_write_status"], "err")
        for key, v in acked.items():  # reads go on, and nothing acknowledged is lost
            self.assertEqual(r.get(key), v, key)

        os.remove(filler)
        wait_for(lambda: r.info("persistence")["store_last_write_status"] == "ok", timeout=20,
                 what="writes to be accepted again")
        self.assertTrue(r.set("after", "recovered"))
        acked["after"] = b"recovered"
        r.close()
        s.stop()
        s2 = Scheduler(*extra, data_dir=data)
        self.addCleanup(s2.stop)
        s2.wait_loaded()
        r = s2.client()
        for key, v in acked.items():
            self.assertEqual(r.get(key), v, key)
        self.assertEqual(r.dbsize(), len(acked))
        r.close()
        s2.stop()


if __name__ == "__main__":
    main()
