#!/usr/bin/python3
"""DUMP, RESTORE and MIGRATE between Debian's redis-server and desaster, in both directions,
for every type and every encoding Redis 7.0 writes (small values are listpacks and intsets,
large ones quicklists of several nodes, hash tables and skiplists; strings are integers, raw
or LZF-compressed)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import RedisServer, ServerTest, as_map, main  # noqa: E402


def fill(r):
    """One key per (type, encoding) in `r`; returns the keys by the encoding Redis reports."""
    r.set("str:int", 12345)
    r.set("str:raw", "hello world")
    r.set("str:lzf", "abcdefgh" * 500)  # compressible and long: LZF in DUMP
    r.set("str:bin", bytes(range(256)))
    r.rpush("list:small", "a", "1", "-70000", "")
    r.rpush("list:big", *[f"element-{i}-" + "x" * (i % 300) for i in range(3000)])
    r.sadd("set:intset", 1, -5, 70000, 2 ** 40)
    r.sadd("set:big-intset", *range(300))
    r.sadd("set:hashtable", *[f"m{i}" for i in range(200)])
    r.sadd("set:strings", "a", "b")
    r.zadd("zset:small", {"a": 1, "b": -2.5, "c": float("inf")})
    r.zadd("zset:big", {f"m{i}": i / 7 for i in range(500)})
    r.zadd("zset:long-member", {"m" * 100: 3})
    r.hset("hash:small", mapping={"f": "v", "n": 42})
    r.hset("hash:big", mapping={f"f{i}": "v" * (i % 90) for i in range(600)})
    for i in range(250):
        r.xadd("stream:nodes", {"n": i, "kind": "a" if i % 3 else "b"}, id=f"{1000 + i}-{i % 2}")
    r.xdel("stream:nodes", "1005-1", "1100-0")
    r.xgroup_create("stream:nodes", "workers", id="0")
    r.xreadgroup("workers", "alice", {"stream:nodes": ">"}, count=3)
    r.xadd("stream:mixed", {"a": 1}, id="1-1")
    r.xadd("stream:mixed", {"b": 2, "c": 3}, id="1-2")
    r.expire("str:raw", 1000)
    return {k.decode(): r.object("encoding", k).decode() for k in r.keys("*")}


def read(r, key):
    """Everything a key holds, in a form that compares across servers."""
    t = r.type(key).decode()
    if t == "string":
        return r.get(key)
    if t == "list":
        return r.lrange(key, 0, -1)
    if t == "set":
        return sorted(r.smembers(key))
    if t == "zset":
        return r.zrange(key, 0, -1, withscores=True)
    if t == "hash":
        return sorted(r.hgetall(key).items())
    if t == "stream":
        info = r.xinfo_stream(key)
        groups = [(g["name"], g["last-delivered-id"], g["consumers"], g["pending"])
                  for g in r.xinfo_groups(key)]
        pending = [(g[0], [(p["message_id"], p["consumer"], p["times_delivered"])
                           for p in r.xpending_range(key, g[0], "-", "+", 1000)])
                   for g in groups]
        return r.xrange(key), info["last-generated-id"], info["length"], groups, pending
    return t


class DumpRestoreTest(ServerTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.redis = RedisServer()

    @classmethod
    def tearDownClass(cls):
        cls.redis.stop()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.src = self.redis.client()
        self.src.flushall()

    def tearDown(self):
        self.src.close()
        super().tearDown()

    def test_every_encoding_redis_writes_restores_into_desaster_and_back(self):
        encodings = fill(self.src)
        # Each encoding Redis 7.0 has is present, so each is read.
        self.assertEqual(set(encodings.values()),
                         {"int", "embstr", "raw", "listpack", "quicklist", "intset", "hashtable",
                          "skiplist", "stream"})
        for key in encodings:
            with self.subTest(key=key, encoding=encodings[key]):
                payload = self.src.dump(key)
                self.assertTrue(self.r.restore(key, 0, payload))
                self.assertEqual(read(self.r, key), read(self.src, key))
                # And desaster's own payload restores into Redis with the same value.
                back = self.r.dump(key)
                self.assertTrue(self.src.restore("back:" + key, 0, back))
                self.assertEqual(read(self.src, "back:" + key), read(self.src, key))
        # Stream counters and consumer groups travel (read() compares groups and pending).
        info = self.r.xinfo_stream("stream:nodes")
        self.assertEqual(info["max-deleted-entry-id"], b"1100-0")
        self.assertEqual(info["entries-added"], 250)
        self.assertEqual(self.r.xinfo_groups("stream:nodes"), self.src.xinfo_groups("stream:nodes"))
        self.assertEqual(self.r.xinfo_groups("stream:nodes")[0]["pending"], 3)

    def test_ttl_replace_absttl_and_idletime(self):
        self.src.set("k", "v")
        payload = self.src.dump("k")
        self.r.restore("k", 5000, payload)
        self.assertTrue(4000 < self.r.pttl("k") <= 5000)
        for server in (self.src, self.r):
            self.assertError(lambda: server.restore("k", 0, payload),
                             "BUSYKEY Target key name already exists.")
        self.r.restore("k", 0, payload, replace=True)
        self.assertEqual(self.r.pttl("k"), -1)
        self.r.restore("k", 1, payload, replace=True, absttl=True)  # long past: deleted
        self.assertEqual(self.r.exists("k"), 0)
        self.r.restore("k", 0, payload, idletime=100)
        self.assertGreaterEqual(self.r.object("idletime", "k"), 100)

    def test_bad_payloads_get_redis_errors_and_change_nothing(self):
        self.src.rpush("l", "a", "b")
        good = self.src.dump("l")
        self.r.set("keep", "1")
        cases = [good[:-1] + bytes([good[-1] ^ 1]),  # checksum
                 b"", b"\x00", good[:5],
                 good[:-10] + b"\x0d\x00" + good[-8:]]  # a version newer than 12
        for payload in cases:
            with self.subTest(payload=payload):
                errors = []
                for server in (self.src, self.r):
                    with self.assertRaises(Exception) as cm:
                        server.restore("x", 0, payload)
                    errors.append(str(cm.exception))
                self.assertEqual(errors[0], errors[1])
        self.assertEqual(self.r.keys("*"), [b"keep"])
        self.assertEqual(self.r.ping(), True)

    def test_migrate_from_redis_moves_keys_into_desaster(self):
        fill(self.src)
        keys = sorted(k.decode() for k in self.src.keys("*"))
        expected = {k: read(self.src, k) for k in keys}
        self.src.migrate("127.0.0.1", self.server.port, keys, 0, 5000)
        self.assertEqual(self.src.dbsize(), 0)  # moved, not copied
        self.assertEqual({k: read(self.r, k) for k in keys}, expected)
        self.assertTrue(0 < self.r.ttl("str:raw") <= 1000)

    def test_a_resque_queue_restores_as_a_queue_and_dumps_as_a_list(self):
        jobs = [f'{{"class":"Job","args":[{i}]}}' for i in range(5)]
        self.src.rpush("resque:queue:mail", *jobs)
        self.r.restore("resque:queue:mail", 0, self.src.dump("resque:queue:mail"))
        info = as_map(self.r.execute_command("QUEUE.INFO", "resque:queue:mail"))
        self.assertEqual(int(info["ready"]), 5)
        self.assertEqual(self.r.lpop("resque:queue:mail").decode(), jobs[0])
        # Back out: a queue is the list its clients see.
        self.src.delete("resque:queue:mail")
        self.src.restore("resque:queue:mail", 0, self.r.dump("resque:queue:mail"))
        self.assertEqual([j.decode() for j in self.src.lrange("resque:queue:mail", 0, -1)], jobs[1:])
        # A registered queue takes only a list.
        self.src.set("s", "x")
        with self.assertRaisesRegex(Exception, "only a list payload"):
            self.r.restore("resque:queue:mail", 0, self.src.dump("s"), replace=True)


if __name__ == "__main__":
    main()
