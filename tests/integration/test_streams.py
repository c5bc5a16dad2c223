#!/usr/bin/python3
"""Streams: generated IDs, XREAD BLOCK wake-ups, the RQ and BullMQ patterns, durability."""
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Reply, Scheduler, ServerTest, data_dir, main, wait_for  # noqa: E402


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


class StreamDurabilityTest(unittest.TestCase):
    def test_streams_and_their_last_id_survive_a_kill(self):
        data = data_dir(self, "streams")
        s = Scheduler(data_dir=data)
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


if __name__ == "__main__":
    main()
