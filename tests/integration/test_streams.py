#!/usr/bin/python3
"""Streams: generated IDs, XREAD BLOCK wake-ups, the RQ and BullMQ patterns, consumer groups
through redis-py's API, and durability: a group's pending entries across SIGKILLs.

  DESASTER_STREAM_KILLS=N   kill cycles of the consumer-group crash test (default 8)
"""
import os
import random
import signal
import struct
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redis  # noqa: E402
from harness import (Reply, Scheduler, ServerTest, crc64, data_dir, main,  # noqa: E402
                     ruby_side_by_side, wait_for)

KILLS = int(os.environ.get("DESASTER_STREAM_KILLS", "8"))


class StreamTest(ServerTest):
    def test_generated_ids_increase(self):
        ids = [self.r.xadd("s", {"n": i}) for i in range(50)]
        parsed = [tuple(map(int, i.split(b"-"))) for i in ids]
        self.assertEqual(parsed, sorted(parsed))
        self.assertEqual(len(set(parsed)), 50)
        self.assertEqual(self.r.xlen("s"), 50)

    def test_xread_block_on_dollar_wakes_on_xadd(self):
        c = self.connect()
        c.send(c.encode("XREAD", "BLOCK", "0", "STREAMS", "events", "$"))
        wait_for(lambda: int(self.r.info("clients")["blocked_clients"]) == 1, what="XREAD to block")
        self.r.xadd("other", {"x": 1})  # another key must not wake it
        new_id = self.r.xadd("events", {"event": "completed", "jobId": "7"})
        reply = c.read()
        self.assertEqual(reply.value[0].value[0], Reply("$", b"events"))
        entry = reply.value[0].value[1].value[0]
        self.assertEqual(entry.value[0], Reply("$", new_id))
        self.assertEqual(c.call("XREAD", "BLOCK", "50", "STREAMS", "events", new_id),
                         Reply("*", None))

    def test_bullmq_queue_events_loop_continues_from_the_last_id(self):
        seen = []

        def listen():
            r = self.server.client()
            last = "$"
            while len(seen) < 20:
                res = r.xread({"bull:q:events": last}, block=10000)
                for _, entries in res:
                    for entry_id, fields in entries:
                        seen.append(fields[b"n"])
                        last = entry_id

        t = threading.Thread(target=listen)
        t.start()
        wait_for(lambda: int(self.r.info("clients")["blocked_clients"]) == 1, what="the listener")
        for n in range(20):
            self.r.xadd("bull:q:events", {"n": n}, maxlen=10000, approximate=True)
        t.join(20)
        self.assertEqual(seen, [str(n).encode() for n in range(20)])

    def test_rq_results_pattern(self):
        for n in range(30):
            self.r.xadd("rq:results:job1", {"type": "1", "n": n}, maxlen=10, approximate=True)
        # `~` trims whole nodes only, so the stream keeps at least 10 entries.
        self.assertGreaterEqual(self.r.xlen("rq:results:job1"), 10)
        last = self.r.xrevrange("rq:results:job1", "+", "-", count=1)
        self.assertEqual(last[0][1][b"n"], b"29")
        before = self.r.xlen("rq:results:job1")
        self.assertEqual(self.r.xtrim("rq:results:job1", maxlen=10, approximate=False), before - 10)
        self.assertEqual(self.r.xlen("rq:results:job1"), 10)

    def test_resp3_xread_is_a_map(self):
        c = self.connect()
        c.call("HELLO", "3")
        c.call("XADD", "s", "1-1", "f", "v")
        reply = c.call("XREAD", "STREAMS", "s", "0")
        self.assertEqual(reply.kind, "%")
        self.assertEqual(reply.value[0][0], Reply("$", b"s"))


class ConsumerGroupTest(ServerTest):
    def test_a_group_through_redis_py(self):
        r = self.r
        self.assertTrue(r.xgroup_create("jobs", "workers", id="$", mkstream=True))
        with self.assertRaisesRegex(redis.ResponseError, "BUSYGROUP"):
            r.xgroup_create("jobs", "workers", id="$")
        ids = [r.xadd("jobs", {"n": n}) for n in range(5)]
        got = r.xreadgroup("workers", "alice", {"jobs": ">"}, count=3)
        self.assertEqual([e[0] for e in got[0][1]], ids[:3])
        got = r.xreadgroup("workers", "bob", {"jobs": ">"})
        self.assertEqual([e[0] for e in got[0][1]], ids[3:])
        self.assertEqual(r.xreadgroup("workers", "bob", {"jobs": ">"}), [])
        self.assertEqual(r.xack("jobs", "workers", ids[0], ids[3], "9-9"), 2)
        summary = r.xpending("jobs", "workers")
        self.assertEqual((summary["pending"], summary["min"], summary["max"]),
                         (3, ids[1], ids[4]))
        self.assertEqual(sorted((c["name"], c["pending"]) for c in summary["consumers"]),
                         [(b"alice", 2), (b"bob", 1)])
        detail = r.xpending_range("jobs", "workers", "-", "+", 10, consumername="alice")
        self.assertEqual([(d["message_id"], d["times_delivered"]) for d in detail],
                         [(ids[1], 1), (ids[2], 1)])
        # Alice's history: her pending entries, each delivered once more.
        history = r.xreadgroup("workers", "alice", {"jobs": "0"})
        self.assertEqual([e[0] for e in history[0][1]], ids[1:3])
        self.assertEqual(r.xpending_range("jobs", "workers", ids[1], ids[1], 1)[0]["times_delivered"], 2)
        # Bob takes over what Alice holds; then an idle-time claim finds nothing fresh enough.
        claimed = r.xclaim("jobs", "workers", "bob", 0, [ids[1]])
        self.assertEqual(claimed[0][0], ids[1])
        self.assertEqual(r.xclaim("jobs", "workers", "carol", 3600000, [ids[2]]), [])
        cursor, entries, deleted = r.xautoclaim("jobs", "workers", "carol", 0, "0-0", count=10,
                                                justid=False)[:3]
        self.assertEqual((cursor, [e[0] for e in entries], deleted),
                         (b"0-0", [ids[1], ids[2], ids[4]], []))
        groups = r.xinfo_groups("jobs")
        self.assertEqual((groups[0]["name"], groups[0]["consumers"], groups[0]["pending"],
                          groups[0]["last-delivered-id"], groups[0]["lag"]),
                         (b"workers", 3, 3, ids[4], 0))
        consumers = {c["name"]: c["pending"] for c in r.xinfo_consumers("jobs", "workers")}
        self.assertEqual(consumers, {b"alice": 0, b"bob": 0, b"carol": 3})
        self.assertEqual(r.xgroup_delconsumer("jobs", "workers", "carol"), 3)
        self.assertEqual(r.xpending("jobs", "workers")["pending"], 0)
        self.assertEqual(r.xgroup_destroy("jobs", "workers"), 1)
        with self.assertRaisesRegex(redis.ResponseError, "NOGROUP"):
            r.xreadgroup("workers", "alice", {"jobs": ">"})

    def test_a_restored_delivery_time_at_either_end_of_time_is_answered_sanely(self):
        # A DUMP payload may carry any delivery time: idle times saturate, nothing overflows.
        r = self.r
        r.xadd("s", {"f": "v"}, id="1-0")
        r.xadd("s", {"f": "v"}, id="2-0")
        r.xgroup_create("s", "g", id="0")
        r.xreadgroup("g", "c", {"s": ">"})
        payload = r.dump("s")
        raw = struct.pack(">QQ", 2, 0)  # entry 2-0's ID, first in the group's pending list
        at = payload.index(raw) + len(raw)
        for when, idle in ((-(2 ** 63), 2 ** 63 - 1), (2 ** 63 - 1, 0)):
            body = payload[:at] + struct.pack("<q", when) + payload[at + 8:-8]
            r.restore("t", 0, body + struct.pack("<Q", crc64(body)), replace=True)
            pending = {p["message_id"]: p["time_since_delivered"]
                       for p in r.xpending_range("t", "g", "-", "+", 10)}
            self.assertEqual(pending[b"2-0"], idle)
            self.assertEqual(len(r.xpending_range("t", "g", "-", "+", 10, idle=1)),
                             2 if idle else 1)
            claimed = r.xautoclaim("t", "g", "d", 3600000, "0-0", justid=True)  # the IDs
            self.assertEqual(claimed, [b"2-0"] if idle else [])

    def test_blocked_consumers_of_a_group_share_new_entries(self):
        self.r.xgroup_create("work", "g", id="$", mkstream=True)
        conns = [self.connect(), self.connect()]
        for n, c in enumerate(conns):
            c.send(c.encode("XREADGROUP", "GROUP", "g", f"c{n}", "BLOCK", "0", "STREAMS", "work",
                            ">"))
        wait_for(lambda: int(self.r.info("clients")["blocked_clients"]) == 2, what="two readers")
        first = self.r.xadd("work", {"n": 1})
        # One reader gets it; the other stays blocked until the next entry.
        wait_for(lambda: int(self.r.info("clients")["blocked_clients"]) == 1, what="one wake-up")
        second = self.r.xadd("work", {"n": 2})
        got = sorted(c.read().value[0].value[1].value[0].value[0].value for c in conns)
        self.assertEqual(got, sorted([first, second]))
        self.assertEqual(self.r.xpending("work", "g")["pending"], 2)

    def test_a_blocked_reader_learns_its_group_is_gone(self):
        self.r.xgroup_create("work", "g", id="$", mkstream=True)
        c = self.connect()
        c.send(c.encode("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "work", ">"))
        wait_for(lambda: int(self.r.info("clients")["blocked_clients"]) == 1, what="the reader")
        self.r.xgroup_destroy("work", "g")
        self.assertEqual(c.read(), Reply("-", "NOGROUP the consumer group this client was "
                                              "blocked on no longer exists"))


# The same consumer-group calls through redis-rb's API, printed as JSON (idle times as
# recent/old), so that desaster's results can be compared with redis-server's.
RUBY_GROUPS = r"""
require "redis"
require "json"
r = Redis.new(port: ARGV[0].to_i)
r.flushall
out = []
out << r.xgroup(:create, "s", "g", "$", mkstream: true)
ids = (1..4).map { |n| r.xadd("s", { "n" => n.to_s }, id: "#{n}-0") }
out << r.xreadgroup("g", "c1", "s", ">", count: 3)
out << r.xreadgroup("g", "c2", "s", ">")
out << r.xack("s", "g", ids[0], "9-9")
p = r.xpending("s", "g")
out << [p["size"], p["min_entry_id"], p["max_entry_id"], p["consumers"]]
out << r.xpending("s", "g", "-", "+", 10).map { |e| [e["entry_id"], e["consumer"], e["count"]] }
out << r.xclaim("s", "g", "c3", 0, ids[1], justid: true)
out << r.xautoclaim("s", "g", "c3", 0, "0-0", count: 2)
out << r.xinfo(:groups, "s").map { |g| g.reject { |k, _| k == "lag" && g[k].nil? } }
out << r.xinfo(:consumers, "s", "g").map { |c| [c["name"], c["pending"], c["idle"] < 60000] }
out << r.xgroup(:delconsumer, "s", "g", "c3")
out << r.xgroup(:destroy, "s", "g")
begin
  r.xreadgroup("g", "c1", "s", ">")
rescue Redis::CommandError => e
  out << e.message
end
puts JSON.generate(out)
"""


class ConsumerGroupRubyTest(unittest.TestCase):
    def test_redis_rb_sees_what_it_sees_on_redis_server(self):
        self.assertIn('"NOGROUP', ruby_side_by_side(self, RUBY_GROUPS))


class StreamDurabilityTest(unittest.TestCase):
    def test_streams_and_their_last_id_survive_a_kill(self):
        data = data_dir(self, "streams")
        s = Scheduler(data_dir=data)
        s.wait_loaded()  # (it listens before it has opened its data)
        r = s.client()
        for n in range(5):
            r.xadd("kept", {"n": n}, id=f"{n + 1}-0")
        r.xadd("emptied", {"a": 1}, id="100-5")
        r.xdel("emptied", "100-5")
        info = r.xinfo_stream("emptied")
        r.close()
        s.kill()
        s = Scheduler(data_dir=data)
        self.addCleanup(s.stop)
        s.wait_loaded()
        r = s.client()
        self.assertEqual([e[0] for e in r.xrange("kept")], [f"{n + 1}-0".encode() for n in range(5)])
        self.assertEqual(r.xlen("emptied"), 0)
        after = r.xinfo_stream("emptied")
        self.assertEqual(after["last-generated-id"], info["last-generated-id"])
        self.assertEqual(after["entries-added"], 1)
        with self.assertRaises(Exception):
            r.xadd("emptied", {"b": 2}, id="100-5")  # IDs never go back, even across a restart
        self.assertEqual(r.xadd("emptied", {"b": 2}, id="100-*"), b"100-6")
        r.close()

    def test_a_groups_pending_entries_survive_kills_at_any_moment(self):
        # Consumers read, acknowledge and claim while the server is SIGKILLed at random moments.
        # After each restart: an entry whose XACK was answered is never pending again, one
        # delivered and not acknowledged is still pending (to the consumer that got it), and
        # ">" never hands out an entry delivered before. Only the command in flight at the
        # kill may have gone either way.
        data = data_dir(self, "groups")
        rng = random.Random(1205)
        added, delivered, acked = [], {}, set()  # delivered: id -> consumer
        s = Scheduler(data_dir=data)
        s.wait_loaded()
        s.client().xgroup_create("q", "g", id="0", mkstream=True)
        for cycle in range(KILLS):
            r = redis.Redis(port=s.port, socket_timeout=10)
            killer = threading.Timer(rng.uniform(0.05, 0.4), os.kill, (s.proc.pid, signal.SIGKILL))
            killer.start()
            inflight = None
            try:
                while True:
                    op = rng.choice(["add", "add", "read", "read", "ack", "claim"])
                    inflight = op, None
                    if op == "add":
                        added.append(r.xadd("q", {"n": len(added)}))
                    elif op == "read":
                        consumer = rng.choice(["c1", "c2"])
                        for _, entries in r.xreadgroup("g", consumer, {"q": ">"}, count=5):
                            for entry_id, _ in entries:
                                self.assertFalse(entry_id in delivered, f"{entry_id} delivered twice")
                                delivered[entry_id] = consumer
                    elif op == "ack":
                        mine = sorted(set(delivered) - acked)
                        batch = rng.sample(mine, min(len(mine), rng.randint(1, 4)))
                        if batch:
                            inflight = op, batch
                            self.assertEqual(r.xack("q", "g", *batch), len(batch))
                            acked.update(batch)
                    else:
                        mine = sorted(set(delivered) - acked)
                        if mine:
                            entry_id = rng.choice(mine)
                            inflight = op, entry_id
                            self.assertEqual(len(r.xclaim("q", "g", "c3", 0, [entry_id])), 1)
                            delivered[entry_id] = "c3"
                    inflight = None
            except redis.ConnectionError:
                pass
            killer.join()
            s.proc.wait()
            s = Scheduler(data_dir=data)
            s.wait_loaded()
            r = s.client()
            op, arg = inflight or (None, None)
            entries = [e[0] for e in r.xrange("q")]
            if op == "add" and len(entries) == len(added) + 1:
                added.append(entries[-1])  # the XADD in flight was committed
            self.assertEqual(entries, added)
            pending = {p["message_id"]: p["consumer"].decode()
                       for p in r.xpending_range("q", "g", "-", "+", 1000000)}
            unsure = set(arg) if op == "ack" else {arg} if op == "claim" else set()
            for entry_id in acked - unsure:
                self.assertFalse(entry_id in pending, f"acknowledged {entry_id} is pending again")
            for entry_id, consumer in delivered.items():
                if entry_id in acked or entry_id in unsure:
                    continue
                self.assertEqual(pending.get(entry_id), consumer, f"{entry_id} lost its owner")
            # A read in flight may have been delivered: its entries are pending, never seen.
            newer = set(pending) - set(delivered)
            if op == "read":
                delivered.update({i: pending[i] for i in newer})
            else:
                self.assertEqual(newer, set())
            if op == "ack":
                acked.update(i for i in unsure if i not in pending)
            if op == "claim":
                delivered[arg] = pending.get(arg, delivered[arg])
            last = r.xinfo_groups("q")[0]["last-delivered-id"]
            if delivered:
                self.assertGreaterEqual(tuple(map(int, last.split(b"-"))),
                                        max(tuple(map(int, i.split(b"-"))) for i in delivered))
            r.close()
        s.stop()
        print(f"{KILLS} kills: {len(added)} entries, {len(delivered)} delivered, "
              f"{len(acked)} acknowledged; none lost, none back", file=sys.stderr)


if __name__ == "__main__":
    main()
