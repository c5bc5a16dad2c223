#!/usr/bin/python3
"""Redis 7.0 command families beyond what the queue libraries use (issue 27), through redis-py's
and redis-rb's own APIs; the differential test compares the replies with redis-server's."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redis  # noqa: E402
from harness import (RawConnection, RedisServer, Reply, Scheduler, ServerTest,  # noqa: E402
                     data_dir, main, ruby_side_by_side, wait_for)

# The same bitmap calls through redis-rb, printed as JSON, for desaster and redis-server.
RUBY_BITMAPS = r"""
require "redis"
require "json"
r = Redis.new(port: ARGV[0].to_i)
r.flushall
out = []
out << r.setbit("b", 7, 1) << r.setbit("b", 1000, 1) << r.getbit("b", 1000)
out << r.bitcount("b") << r.bitcount("b", 0, 0) << r.bitpos("b", 1) << r.bitpos("b", 0)
out << r.bitop("or", "c", "b", "nokey") << r.strlen("c")
out << r.bitfield("f", "SET", "i8", "#1", -100, "INCRBY", "i8", "#1", -100, "OVERFLOW", "SAT",
                  "INCRBY", "u4", 0, 100, "GET", "u16", 0)
out << r.bitfield_ro("f", "GET", "i8", "#1")
puts JSON.generate(out)
"""

# Geo calls through redis-rb (its geo helpers and the commands it passes through).
RUBY_GEO = r"""
require "redis"
require "json"
r = Redis.new(port: ARGV[0].to_i)
r.flushall
out = []
out << r.geoadd("Sicily", 13.361389, 38.115556, "Palermo", 15.087269, 37.502669, "Catania")
out << r.geoadd("Sicily", [13.583333, 37.316667, "Agrigento"])
out << r.geodist("Sicily", "Palermo", "Catania", "km") << r.geohash("Sicily", ["Palermo", "nope"])
out << r.geopos("Sicily", ["Catania", "nope"])
out << r.georadius("Sicily", 15, 37, 200, "km", "WITHDIST", sort: "asc")
out << r.georadiusbymember("Sicily", "Agrigento", 100, "km", "WITHCOORD", "WITHHASH", count: 2)
out << r.call("GEOSEARCH", "Sicily", "FROMLONLAT", 15, 37, "BYBOX", 400, 400, "km", "DESC",
              "WITHDIST")
out << r.call("GEOSEARCHSTORE", "near", "Sicily", "FROMMEMBER", "Palermo", "BYRADIUS", 150,
              "km", "STOREDIST") << r.zrange("near", 0, -1, with_scores: true)
begin
  r.geoadd("Sicily", 200, 100, "Nowhere")
rescue Redis::CommandError => e
  out << e.message
end
puts JSON.generate(out)
"""

# Small hashes in insertion order and intsets in numeric order through redis-rb: resque's own
# tests read a worker's hash and expect the fields in the order they were set.
RUBY_ORDERS = r"""
require "redis"
require "json"
r = Redis.new(port: ARGV[0].to_i)
r.flushall
out = []
r.hset("worker", "started", "today")
r.hset("worker", "queue", "jobs")
r.mapped_hmset("worker", "payload" => "{}", "run_at" => "now")
r.hdel("worker", "queue")
r.hset("worker", "queue", "again")
out << r.hgetall("worker") << r.hkeys("worker") << r.hvals("worker")
r.sadd("ids", [30, -2, 7, 100000, 0])
out << r.smembers("ids") << r.sunion("ids", "none") << r.sdiff("ids", "none")
out << r.object("encoding", "worker") << r.object("encoding", "ids")
puts JSON.generate(out)
"""


class GeoTest(ServerTest):
    def test_geo_through_redis_py(self):
        r = redis.Redis(port=self.server.port, decode_responses=True)
        self.assertEqual(r.geoadd("Sicily", [13.361389, 38.115556, "Palermo",
                                             15.087269, 37.502669, "Catania"]), 2)
        self.assertEqual(r.geoadd("Sicily", [13.361389, 38.115556, "Palermo"], xx=True, ch=True), 0)
        self.assertEqual(r.geodist("Sicily", "Palermo", "Catania"), 166274.1516)
        self.assertEqual(r.geodist("Sicily", "Palermo", "Catania", "km"), 166.2742)
        self.assertIsNone(r.geodist("Sicily", "Palermo", "nope"))
        self.assertEqual(r.geohash("Sicily", "Palermo", "Catania", "nope"),
                         ["sqc8b49rny0", "sqdtr74hyu0", None])
        (lon, lat), missing = r.geopos("Sicily", "Palermo", "nope")
        self.assertEqual((round(lon, 6), round(lat, 6), missing), (13.361389, 38.115556, None))
        self.assertEqual(r.georadius("Sicily", 15, 37, 200, "km", withdist=True, sort="ASC"),
                         [["Catania", 56.4413], ["Palermo", 190.4424]])
        self.assertEqual(r.geosearch("Sicily", longitude=15, latitude=37, radius=100, unit="km"),
                         ["Catania"])
        self.assertEqual(r.geosearch("Sicily", member="Palermo", width=400, height=400, unit="km",
                                     sort="DESC"), ["Catania", "Palermo"])
        self.assertEqual(r.geosearch("Sicily", longitude=15, latitude=37, radius=200, unit="km",
                                     count=1, any=True), ["Palermo"])  # the first found, not the nearest
        self.assertEqual(r.geosearchstore("near", "Sicily", longitude=15, latitude=37, radius=200,
                                          unit="km", storedist=True), 2)
        self.assertEqual(r.zrange("near", 0, -1, withscores=True),
                         [("Catania", 56.4412578701582), ("Palermo", 190.44242984775784)])
        self.assertEqual(r.georadius("Sicily", 15, 37, 200, "km", store="stored"), 2)
        self.assertEqual(r.zscore("stored", "Palermo"), r.zscore("Sicily", "Palermo"))
        with self.assertRaisesRegex(Exception, "invalid longitude,latitude pair 200.000000,100.000000"):
            r.geoadd("Sicily", [200, 100, "Nowhere"])
        with self.assertRaisesRegex(Exception, "could not decode requested zset member"):
            r.geosearch("Sicily", member="nope", radius=1, unit="km")
        with self.assertRaisesRegex(Exception, "unsupported unit provided"):
            r.execute_command("GEODIST", "Sicily", "Palermo", "Catania", "parsec")

    def test_geo_sets_survive_a_restart_and_answer_resp3_doubles_as_redis(self):
        data = data_dir(self, "geo")
        s = Scheduler(data_dir=data)
        try:
            s.wait_loaded()
            c = redis.Redis(port=s.port, decode_responses=True)
            c.geoadd("places", [2.3522, 48.8566, "Paris", -0.1276, 51.5072, "London",
                                13.405, 52.52, "Berlin"])
        finally:
            s.stop()
        s = Scheduler(data_dir=data)
        self.addCleanup(s.stop)
        s.wait_loaded()
        c = redis.Redis(port=s.port, decode_responses=True)
        self.assertEqual(c.geosearch("places", member="Paris", radius=1000, unit="km", sort="ASC"),
                         ["Paris", "London", "Berlin"])
        # GEOPOS answers RESP3 doubles with Redis' digits (a long double printed with %.17Lf).
        redis_server = RedisServer()
        self.addCleanup(redis_server.stop)
        replies = []
        for port in (redis_server.port, s.port):
            conn = RawConnection(port)
            conn.call("HELLO", "3")
            conn.call("GEOADD", "resp3", "2.3522", "48.8566", "Paris")
            replies.append([conn.call("GEOPOS", "resp3", "Paris", "nope"),
                            conn.call("GEOSEARCH", "resp3", "FROMLONLAT", "2", "48", "BYRADIUS",
                                      "100", "km", "WITHCOORD", "WITHDIST", "WITHHASH")])
            conn.close()
        self.assertEqual(replies[1], replies[0])
        self.assertEqual(replies[1][0].value[0].value[0], Reply(",", "2.35219806432723999"))


# HyperLogLog calls through redis-rb.
RUBY_HLL = r"""
require "redis"
require "json"
r = Redis.new(port: ARGV[0].to_i)
r.flushall
out = []
out << r.pfadd("visitors", %w[alice bob carol]) << r.pfadd("visitors", "alice")
out << r.pfadd("others", (1..5000).map(&:to_s)) << r.pfcount("visitors") << r.pfcount("others")
out << r.pfcount("visitors", "others") << r.pfmerge("all", "visitors", "others")
out << r.pfcount("all") << r.get("all").unpack1("H*") << r.get("visitors").unpack1("H*")
puts JSON.generate(out)
"""


class HyperLogLogTest(unittest.TestCase):
    def test_hlls_are_redis_hlls_byte_for_byte(self):
        redis_server, ours = RedisServer(), Scheduler()
        self.addCleanup(redis_server.stop)
        self.addCleanup(ours.stop)
        ours.wait_loaded()
        clients = [redis.Redis(port=s.port) for s in (redis_server, ours)]
        for c in clients:
            self.assertEqual(c.pfadd("small", "a", "b", "c"), 1)
            self.assertEqual(c.pfadd("small", "a"), 0)
            for start in range(0, 100000, 5000):
                c.pfadd("big", *range(start, start + 5000))
            c.pfmerge("both", "small", "big")
        counts = [(c.pfcount("small"), c.pfcount("big"), c.pfcount("both"), c.pfcount("small", "big"))
                  for c in clients]
        self.assertEqual(counts[1], counts[0])
        self.assertEqual(counts[1][0], 3)
        self.assertLess(abs(counts[1][1] - 100000), 2000)  # HyperLogLog's promise: about 0.81%
        for key in ("small", "big", "both"):
            self.assertEqual(clients[1].get(key), clients[0].get(key), key)  # the cache too
        self.assertEqual([c.execute_command("PFDEBUG", "ENCODING", "big") for c in clients],
                         [b"dense", b"dense"])
        # A Redis HLL comes over as it is and counts the same here.
        clients[0].pfadd("from-redis", *range(700))
        payload = clients[0].dump("from-redis")
        clients[1].restore("from-redis", 0, payload)
        self.assertEqual(clients[1].pfcount("from-redis"), clients[0].pfcount("from-redis"))
        self.assertEqual(clients[1].pfadd("from-redis", "one more"),
                         clients[0].pfadd("from-redis", "one more"))
        self.assertEqual(clients[1].get("from-redis"), clients[0].get("from-redis"))
        # A string that is not an HLL, and one whose sparse opcodes are corrupt.
        for c in clients:
            c.set("text", "hello")
            # sparse, cache invalid, one VAL opcode covering 1 of the 16384 registers
            c.set("corrupt", b"HYLL\x01\x00\x00\x00" + b"\x00" * 7 + b"\x80" + b"\x80")
        for c in clients:
            with self.assertRaisesRegex(Exception, "Key is not a valid HyperLogLog string value"):
                c.pfadd("text", "a")
            with self.assertRaisesRegex(Exception, "Corrupted HLL object detected"):
                c.pfcount("corrupt")
        self.assertEqual(clients[1].execute_command("PFSELFTEST"), b"OK")

    def test_an_hll_survives_a_restart_and_pfadd_keeps_its_ttl(self):
        data = data_dir(self, "hll")
        s = Scheduler(data_dir=data)
        try:
            s.wait_loaded()
            c = redis.Redis(port=s.port)
            c.pfadd("sparse", "x", "y")
            c.pfadd("dense", *range(3000))
            c.expire("dense", 1000)
            c.pfadd("dense", "late")
            self.assertGreater(c.ttl("dense"), 0)
            before = {k: (c.pfcount(k), c.get(k)) for k in ("sparse", "dense")}
        finally:
            s.stop()
        s = Scheduler(data_dir=data)
        self.addCleanup(s.stop)
        s.wait_loaded()
        c = redis.Redis(port=s.port)
        self.assertEqual({k: (c.pfcount(k), c.get(k)) for k in ("sparse", "dense")}, before)
        self.assertGreater(c.ttl("dense"), 0)


class BitmapTest(ServerTest):
    def test_bitmaps_through_redis_py(self):
        r = self.r
        self.assertEqual(r.setbit("visits", 123456, 1), 0)
        self.assertEqual(r.setbit("visits", 123456, 1), 1)
        self.assertEqual(r.getbit("visits", 123456), 1)
        self.assertEqual(r.strlen("visits"), 123456 // 8 + 1)
        self.assertEqual(r.bitcount("visits"), 1)
        self.assertEqual(r.bitpos("visits", 1), 123456)
        r.setbit("other", 3, 1)
        self.assertEqual(r.bitop("AND", "both", "visits", "other"), 123456 // 8 + 1)
        self.assertEqual(r.bitcount("both"), 0)
        self.assertEqual(r.bitop("OR", "either", "visits", "other"), 123456 // 8 + 1)
        self.assertEqual(r.bitcount("either"), 2)
        field = r.bitfield("counters")
        self.assertEqual(field.incrby("u8", "#0", 250).incrby("u8", "#0", 10)
                         .overflow("SAT").incrby("u8", "#1", 300).execute(), [250, 4, 255])
        # (Debian's redis-py has no bitfield_ro yet.)
        self.assertEqual(r.execute_command("BITFIELD_RO", "counters", "GET", "u8", 8, "GET", "u8", 0),
                         [255, 4])
        # BITPOS passes over whole words: the first bit is found wherever it is.
        for pos in (0, 9, 63, 64, 4003, 7998, 7999):
            r.set("ones", b"\xff" * 1000)
            r.setbit("ones", pos, 0)
            r.set("zeros", b"\x00" * 1000)
            r.setbit("zeros", pos, 1)
            self.assertEqual((r.bitpos("zeros", 1), r.bitpos("ones", 0)), (pos, pos))
            self.assertEqual(r.bitpos("zeros", 1, pos // 8 + 1), -1)
            self.assertEqual(r.bitcount("zeros", pos // 8, -1), 1)
        r.set("ones", b"\xff" * 1000)
        self.assertEqual(r.bitpos("ones", 0, 0, 998), -1)  # an end given: none there
        self.assertEqual(r.bitpos("ones", 0, 0), 8000)  # none given: the first bit after it
        with self.assertRaisesRegex(Exception, "bit offset is not an integer or out of range"):
            r.setbit("visits", 2 ** 32, 1)

    def test_a_bit_set_far_out_in_a_big_bitmap_survives_a_restart(self):
        # 64 MB of bitmap; the set bits are written as the chunks they touch, not as the string.
        data = data_dir(self, "bitmaps")
        s = Scheduler(data_dir=data)
        s.wait_loaded()
        r = s.client()
        for offset in (5, 64 * 1024 * 8 + 1, 512 * 1024 * 1024 - 1):
            r.setbit("big", offset, 1)
        r.bitfield("big").set("u16", 100, 0xBEEF).execute()
        r.close()
        s.kill()
        s = Scheduler(data_dir=data)
        self.addCleanup(s.stop)
        s.wait_loaded()
        r = s.client()
        self.assertEqual(r.strlen("big"), 64 * 1024 * 1024)
        self.assertEqual([r.getbit("big", o) for o in (5, 64 * 1024 * 8 + 1, 512 * 1024 * 1024 - 1)],
                         [1, 1, 1])
        self.assertEqual(r.execute_command("BITFIELD_RO", "big", "GET", "u16", 100), [0xBEEF])
        self.assertEqual(r.bitcount("big"), 3 + bin(0xBEEF).count("1"))
        r.close()


# CONFIG parameters compared by whether a value is accepted, not by the error text: desaster
# lacks the feature (TLS, active defragmentation), and says so.
UNSUPPORTED = {"tls-port", "tls-cluster", "tls-replication", "activedefrag"}
# Not compared, and why.
CONFIG_SKIPPED = {
    "bind": "where each server listens", "port": "likewise", "dir": "each its own directory",
    "requirepass": "would lock the test out", "appendfsync": "desaster's own default (always)",
    "save": "the test servers' command lines differ", "appendonly": "likewise",
    "proc-title-template": "desaster sets no process title: any text is kept",
    "maxmemory-policy": "desaster never evicts: only noeviction is accepted",
    "enable-debug-command": "DEBUG is enabled in desaster (the security issue restricts it)",
    "daemonize": "how the test runs redis-server", "pidfile": "likewise",
}
CONFIG_VALUES = ["maybe", "-1", "0", "1", "1gb", "1KB", "YES", "no", "100", "",
                 "99999999999999999999", "-2001 0 0", "0 0 2000", "50 99", "10%"]


class SortTest(ServerTest):
    def test_sort_by_other_keys_and_store_into_a_queue(self):
        r = self.r
        r.rpush("ids", 3, 1, 2)
        r.mset({"prio_1": 30, "prio_2": 10, "prio_3": 20})
        r.hset("job_1", "name", "alpha")
        r.hset("job_2", "name", "beta")
        self.assertEqual(r.sort("ids"), [b"1", b"2", b"3"])
        self.assertEqual(r.sort("ids", by="prio_*", get=["#", "job_*->name"]),
                         [b"2", b"beta", b"3", None, b"1", b"alpha"])
        self.assertEqual(r.sort("ids", by="nosort", desc=True), [b"2", b"1", b"3"])
        self.assertEqual(r.sort("ids", start=1, num=1, desc=True), [b"2"])
        # Stored into a resque queue's key, the sorted elements become its jobs.
        self.assertEqual(r.sort("ids", by="prio_*", store="resque:queue:sorted"), 3)
        self.assertEqual(r.lrange("resque:queue:sorted", 0, -1), [b"2", b"3", b"1"])
        self.assertEqual(r.execute_command("QUEUE.INFO", "resque:queue:sorted")[0:2],
                         [b"key", b"resque:queue:sorted"])
        with self.assertRaisesRegex(redis.ResponseError, "can't be converted into double"):
            r.rpush("words", "a", "b")
            r.sort("words")


class EncodingOrderTest(unittest.TestCase):
    """Redis 7.0's orders that clients see: a small hash in insertion order, a set of integers in
    numeric order, each until it becomes a hash table (server/data/hash.h, set.h)."""

    @staticmethod
    def ordered(client):
        """`client` with set replies as the server sent them (redis-py makes Python sets)."""
        for name in ("SMEMBERS", "SUNION", "SDIFF", "SINTER"):
            client.set_response_callback(name, lambda reply, **options: reply)
        return client

    def replies(self, client):
        c = self.ordered(client)
        c.config_set("hash-max-listpack-entries", 4)
        c.config_set("set-max-intset-entries", 4)
        out = []
        c.hset("h", mapping={"zz": 1, "aa": 2, "mm": 3})
        c.hdel("h", "aa")
        c.hset("h", "aa", 4)
        c.hset("h", "zz", 5)  # an update keeps its place
        out += [c.hgetall("h"), c.hkeys("h"), c.hvals("h"), c.hscan("h", 0, count=1),
                c.object("encoding", "h")]
        c.hset("long", "f", "x" * 65)  # past hash-max-listpack-value
        c.hset("h", "fifth", 6)  # past hash-max-listpack-entries
        c.hdel("h", "fifth", "zz")
        out += [c.object("encoding", "long"), c.object("encoding", "h"), c.hlen("h")]
        c.sadd("ints", 10, -5, 300, 2)
        out += [c.smembers("ints"), c.sscan("ints", 0, count=1), c.object("encoding", "ints"),
                c.sunion("ints", "ints"), c.sdiff("ints", "none"), c.sinter("ints", "ints")]
        c.sadd("ints", "010")  # not how Redis writes 10: another member, and no integer
        c.srem("ints", "010")
        c.sadd("more", 1, 2, 3, 4)
        c.sadd("more", 5)  # past set-max-intset-entries
        out += [c.object("encoding", "ints"), c.object("encoding", "more"), c.scard("more")]
        c.execute_command("SINTERSTORE", "dst", "ints", "ints")
        out += [c.smembers("dst"), c.object("encoding", "dst")]
        return out

    def test_small_hashes_and_intsets_read_in_redis_order(self):
        redis_server, ours = RedisServer(), Scheduler()
        self.addCleanup(redis_server.stop)
        self.addCleanup(ours.stop)
        ours.wait_loaded()
        theirs, mine = (self.replies(redis.Redis(port=s.port)) for s in (redis_server, ours))
        self.assertEqual(mine, theirs)
        self.assertEqual(mine[1], [b"zz", b"mm", b"aa"])
        self.assertEqual(mine[8], [b"-5", b"2", b"10", b"300"])  # smembers, numeric order

    def test_a_small_hash_keeps_its_order_through_kills_and_debug_reload(self):
        data = data_dir(self, "orders")
        s = Scheduler(data_dir=data)
        try:
            s.wait_loaded()
            c = redis.Redis(port=s.port)
            c.hset("h", mapping={"zz": 1, "aa": 2, "mm": 3})
            c.hdel("h", "aa")
            c.hset("h", mapping={"bb": 4, "aa": 5})
            c.hset("h", "zz", 6)
            c.sadd("ints", 300, -5, 2)
            before = c.hgetall("h")
            self.assertEqual(list(before), [b"zz", b"mm", b"bb", b"aa"])
            c.execute_command("DEBUG", "RELOAD")
            self.assertEqual(list(c.hgetall("h").items()), list(before.items()))
        finally:
            s.kill()
        s = Scheduler(data_dir=data)
        self.addCleanup(s.stop)
        s.wait_loaded()
        c = self.ordered(redis.Redis(port=s.port))
        self.assertEqual(list(c.hgetall("h").items()), list(before.items()))
        self.assertEqual(c.smembers("ints"), [b"-5", b"2", b"300"])
        c.hset("h", "new", 7)  # after a restart new fields still go last
        self.assertEqual(list(c.hgetall("h"))[-1], b"new")

    def test_redis_rb_reads_hashes_and_intsets_in_redis_order(self):
        out = ruby_side_by_side(self, RUBY_ORDERS)
        self.assertIn('{"started":"today","payload":"{}","run_at":"now","queue":"again"}', out)
        self.assertIn('["-2","0","7","30","100000"]', out)


class ClientTest(unittest.TestCase):
    def test_unblock_and_the_tracking_answers_are_redis_answers(self):
        answers = []
        for server in (RedisServer(), Scheduler()):
            self.addCleanup(server.stop)
            if isinstance(server, Scheduler):
                server.wait_loaded()
            c, blocked = RawConnection(server.port), RawConnection(server.port)
            self.addCleanup(c.close)
            self.addCleanup(blocked.close)
            target = str(blocked.call("CLIENT", "ID").value)
            seen = []
            for reason in ("TIMEOUT", "ERROR"):
                blocked.send(blocked.encode("BLPOP", "nothing", "0"))
                wait_for(lambda: c.call("CLIENT", "UNBLOCK", target, reason).value == 1,
                         what="the client to block and be unblocked")
                seen.append(blocked.read())
            seen += [c.call(*cmd) for cmd in (
                ["CLIENT", "UNBLOCK", target], ["CLIENT", "UNBLOCK", target, "FOO"],
                ["CLIENT", "UNBLOCK", "x"], ["CLIENT", "GETREDIR"], ["CLIENT", "TRACKINGINFO"],
                ["CLIENT", "CACHING", "YES"], ["CLIENT", "TRACKING", "OFF"],
                ["CLIENT", "TRACKING", "MAYBE"])]
            seen.append(blocked.call("PING"))  # the unblocked client goes on
            answers.append(seen)
        self.assertEqual(answers[1], answers[0])


class DebugTest(unittest.TestCase):
    def test_debug_protocol_and_digest_value_answer_as_redis_does(self):
        # Client test suites read each RESP3 type from DEBUG PROTOCOL; RESP2 gets them degraded.
        types = ["string", "integer", "double", "bignum", "null", "array", "set", "map",
                 "attrib", "push", "verbatim", "true", "false", "nope"]
        answers = []
        for server in (RedisServer("--enable-debug-command", "yes"), Scheduler()):
            self.addCleanup(server.stop)
            if isinstance(server, Scheduler):
                server.wait_loaded()
            seen = []
            for protocol in (2, 3):
                c = RawConnection(server.port)
                self.addCleanup(c.close)
                if protocol == 3:
                    c.call("HELLO", "3")
                for t in types:
                    seen.append(c.call("DEBUG", "PROTOCOL", t))
                    if t == "push" and protocol == 3:
                        seen.append(c.read())  # the reply after the push
            c.call("SET", "k", "v")
            digests = c.call("DEBUG", "DIGEST-VALUE", "k", "nokey").value
            seen.append([len(d.value) > 0 and set(d.value) != {"0"} for d in digests])
            answers.append(seen)
        self.assertEqual(answers[1], answers[0])


class ActiveExpiryTest(ServerTest):
    def test_debug_set_active_expire_0_leaves_expired_keys_to_be_found(self):
        # As Redis test suites use it: an expired key stays counted until something reads it.
        self.r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0")
        self.addCleanup(lambda: self.server.client().execute_command("DEBUG", "SET-ACTIVE-EXPIRE",
                                                                     "1"))
        self.r.set("brief", "v", px=20)
        end = time.monotonic() + 0.5  # several of the cron's expiry rounds
        while time.monotonic() < end:
            self.assertEqual(self.r.dbsize(), 1)
        self.assertIsNone(self.r.get("brief"))
        self.assertEqual(self.r.dbsize(), 0)
        self.r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "1")
        self.r.set("brief", "v", px=20)
        wait_for(lambda: self.r.dbsize() == 0, what="the cron to expire the key")


class LcsTest(ServerTest):
    def test_lcs_through_redis_py_and_its_limit(self):
        r = self.r
        r.mset({"a": "ohmytext", "b": "mynewtext"})
        self.assertEqual(r.execute_command("LCS", "a", "b"), b"mytext")
        self.assertEqual(r.execute_command("LCS", "a", "b", "LEN"), 6)
        self.assertEqual(r.execute_command("LCS", "a", "b", "IDX", "MINMATCHLEN", "4",
                                           "WITHMATCHLEN"),
                         [b"matches", [[[4, 7], [5, 8], 4]], b"len", 6])
        # A table past desaster's limit is refused at once rather than filled for seconds.
        r.mset({"long1": "x" * 5000, "long2": "y" * 5000})
        with self.assertRaisesRegex(redis.ResponseError, "transient memory for LCS exceeds 64 MB"):
            r.execute_command("LCS", "long1", "long2")


class MemoryTest(ServerTest):
    def test_memory_usage_samples_and_stats_count_keys(self):
        r = self.r
        r.rpush("resque:queue:uniform", *[f"job-{n:06}" for n in range(2000)])
        r.hset("h", mapping={f"f{n:04}": "v" * 10 for n in range(2000)})
        r.rpush("small", "x")
        usage = lambda key, *s: r.execute_command("MEMORY", "USAGE", key, *s)  # noqa: E731
        for key in ("resque:queue:uniform", "h"):
            # Equal elements: five of them, scaled, say what all of them say.
            self.assertEqual(usage(key), usage(key, "SAMPLES", 0))
            self.assertGreater(usage(key), 2000 * 10)
        self.assertLess(usage("small"), usage("resque:queue:uniform") / 1000)
        self.assertIsNone(usage("nokey"))
        stats = r.memory_stats()
        self.assertEqual(stats["keys.count"], r.dbsize())
        self.assertLessEqual(stats["dataset.bytes"], stats["total.allocated"])


class ConfigTest(unittest.TestCase):
    def test_every_redis_parameter_is_kept_checked_and_answered_as_redis_answers(self):
        servers = [RedisServer(), Scheduler()]
        self.addCleanup(servers[0].stop)
        self.addCleanup(servers[1].stop)
        servers[1].wait_loaded()
        conns = [redis.Redis(port=srv.port, decode_responses=True) for srv in servers]
        names = set(conns[0].config_get("*"))
        self.assertEqual(names - set(conns[1].config_get("*")), set())

        def set_(c, name, value):
            try:
                c.config_set(name, value)
                return "OK"
            except redis.ResponseError as e:
                return str(e)
        compared = 0
        for name in sorted(names - set(CONFIG_SKIPPED)):
            default = conns[0].config_get(name)[name]
            for value in [default] + CONFIG_VALUES:
                if name == "maxmemory-clients" and value == "99999999999999999999":
                    continue  # Redis 7.0 reads it as "1%"
                results = [set_(c, name, value) for c in conns]
                values = [c.config_get(name)[name] for c in conns]
                with self.subTest(name=name, value=value):
                    if name in UNSUPPORTED:
                        self.assertEqual([r == "OK" for r in results], [True] * 2 if value == default else [results[0] == "OK", False])
                    else:
                        self.assertEqual(results[1], results[0])
                        self.assertEqual(values[1], values[0])
                compared += 1
            for c in conns:
                set_(c, name, default)
        print(f"CONFIG SET: {len(names)} Redis 7.0 parameters, {compared} values compared",
              file=sys.stderr)


class RubyFamiliesTest(unittest.TestCase):
    def test_redis_rb_bitmaps_match_redis_server(self):
        self.assertIn("[0,0,1", ruby_side_by_side(self, RUBY_BITMAPS))

    def test_redis_rb_hyperloglog_matches_redis_server(self):
        self.assertIn("[true,false,true,3,", ruby_side_by_side(self, RUBY_HLL))

    def test_redis_rb_geo_matches_redis_server(self):
        self.assertIn('"166.2742"', ruby_side_by_side(self, RUBY_GEO))


if __name__ == "__main__":
    main()
