#!/usr/bin/python3
"""Crash safety: writers on many connections while the server is killed with SIGKILL at random
moments, again and again. After every restart each acknowledged write must be there, no
acknowledged pop may come back, and expired keys stay gone. The pushes and pops go to resque
queue keys, so every one is a job in a Queue: single pushes get records of their own, a bulk
push shares a job run, and pops from it mark it in the run's dead map. Only the one command
per connection that was in flight at the kill may have gone either way. Large values and a
1 MB write buffer make LevelDB start new write-ahead logs often: under appendfsync always each
one is a spare written ahead (server/store/log_space.h), so kills land in logs that end in
zeros.

  DESASTER_CRASH_KILLS=N   kill cycles (default 20)
"""
import os
import random
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redis  # noqa: E402
from harness import Scheduler, data_dir, main, wait_for  # noqa: E402

KILLS = int(os.environ.get("DESASTER_CRASH_KILLS", "20"))
WRITERS = 8
BULK = 600  # values in one RPUSH: over the threshold for a background commit (64 per client
#             served in one loop iteration; the eight writers may all be served in one)
BIG = b"b" * 65536


class Model:
    """What one writer knows was acknowledged, and what it had in flight at the kill."""

    def __init__(self, n):
        self.n = n
        self.queue = []        # acknowledged list contents, in order
        self.next_value = 0
        self.fields = set()    # acknowledged hash fields
        self.members = set()   # acknowledged zset members
        self.counter = 0       # last acknowledged INCR reply
        self.big = None        # number of the last acknowledged large value
        self.expiring = {}     # key -> absolute expiry (s) of acknowledged SET PX
        self.durable = set()   # keys set with a long EX
        self.inflight = None   # (op, arg) sent without a reply
        self.checked = 0       # acknowledged writes verified so far

    def run(self, port, stop):
        r = redis.Redis(port=port, socket_timeout=10)
        rng = random.Random(self.n * 7919 + self.next_value)
        try:
            while not stop.is_set():
                op = rng.choice(["rpush", "rpush", "rpush", "lpop", "hset", "hset", "zadd",
                                 "incr", "incr", "setpx", "setex", "bulk", "big"])
                v = self.next_value
                self.inflight = (op, v)
                if op == "rpush":
                    r.rpush(f"resque:queue:crash{self.n}", v)
                    self.queue.append(v)
                    self.next_value += 1
                elif op == "bulk":  # a batch big enough for the commit thread to take
                    values = list(range(v, v + BULK))
                    r.rpush(f"resque:queue:crash{self.n}", *values)
                    self.queue += values
                    self.next_value += BULK
                elif op == "lpop":
                    got = r.lpop(f"resque:queue:crash{self.n}")
                    expected = self.queue.pop(0) if self.queue else None
                    assert (got and int(got)) == expected, (got, expected)
                elif op == "hset":
                    r.hset(f"crash:h:{self.n}", f"f{v}", v)
                    self.fields.add(f"f{v}".encode())
                    self.next_value += 1
                elif op == "zadd":
                    r.zadd(f"crash:z:{self.n}", {f"m{v}": v})
                    self.members.add(f"m{v}".encode())
                    self.next_value += 1
                elif op == "incr":
                    self.counter = r.incr(f"crash:c:{self.n}")
                elif op == "setpx":
                    key = f"crash:e:{self.n}:{v}"
                    r.set(key, "x", px=300)
                    self.expiring[key] = time.time() + 0.3
                    self.next_value += 1
                elif op == "big":
                    r.set(f"crash:b:{self.n}", f"{v}:".encode() + BIG)
                    self.big = v
                    self.next_value += 1
                elif op == "setex":
                    key = f"crash:t:{self.n}:{v}"
                    r.set(key, "x", ex=3600)
                    self.durable.add(key)
                    self.next_value += 1
                self.inflight = None
        except (redis.ConnectionError, redis.TimeoutError):
            pass  # killed: self.inflight holds the command that may or may not have happened
        finally:
            r.close()

    def verify(self, r, test):
        op, v = self.inflight or (None, None)
        actual = [int(x) for x in r.lrange(f"resque:queue:crash{self.n}", 0, -1)]
        candidates = [self.queue]
        if op == "rpush":
            candidates.append(self.queue + [v])
        if op == "bulk":
            candidates.append(self.queue + list(range(v, v + BULK)))
        if op == "lpop":
            candidates.append(self.queue[1:])
        test.assertIn(actual, candidates, f"writer {self.n}: list after restart")
        if op in ("rpush", "bulk") and actual != self.queue:
            self.next_value = actual[-1] + 1
        self.queue = actual

        fields = set(r.hkeys(f"crash:h:{self.n}"))
        extra = {f"f{v}".encode()} if op == "hset" else set()
        test.assertTrue(self.fields <= fields <= self.fields | extra, f"writer {self.n}: hash")
        members = set(r.zrange(f"crash:z:{self.n}", 0, -1))
        extra = {f"m{v}".encode()} if op == "zadd" else set()
        test.assertTrue(self.members <= members <= self.members | extra, f"writer {self.n}: zset")
        counter = int(r.get(f"crash:c:{self.n}") or 0)
        test.assertIn(counter, (self.counter, self.counter + 1) if op == "incr" else (self.counter,))
        big = r.get(f"crash:b:{self.n}")
        big_number = int(big.split(b":", 1)[0]) if big else None
        test.assertIn(big_number, (self.big, v) if op == "big" else (self.big,), "large value")
        if big:
            test.assertEqual(big, f"{big_number}:".encode() + BIG, f"writer {self.n}: large value")
        self.big = big_number
        for key in self.durable:
            test.assertGreater(r.ttl(key), 0, key)
        # Expired keys must not come back: wait until every acknowledged deadline has passed.
        if self.expiring:
            time.sleep(max(0.0, max(self.expiring.values()) - time.time()))
            test.assertEqual(r.exists(*self.expiring), 0, f"writer {self.n}: expired keys")
        self.checked += len(self.queue) + len(self.fields) + len(self.members) + self.counter + \
            len(self.durable) + len(self.expiring) + (self.big is not None)
        self.fields, self.members, self.counter = fields, members, counter
        self.expiring = {}
        self.inflight = None


class CrashTest(unittest.TestCase):
    def test_acknowledged_writes_survive_repeated_sigkill(self):
        data = data_dir(self, "crash")
        models = [Model(n) for n in range(WRITERS)]
        rng = random.Random(2026)

        # A process crash loses nothing acknowledged under any policy (the OS keeps what was
        # written); the cycles alternate the commit modes: replies released by a helper thread
        # after its write, and by the loop after its own.
        modes = [("--appendfsync", "always", "--commit-thread", "true"),
                 ("--appendfsync", "no", "--commit-thread", "false"),
                 ("--appendfsync", "everysec", "--commit-thread", "true"),
                 ("--appendfsync", "always", "--commit-thread", "false")]
        modes = [mode + ("--store-write-buffer-mb", "1") for mode in modes]

        def restart_and_verify(cycle=0):
            server = Scheduler(*modes[cycle % len(modes)], data_dir=data)
            server.wait_loaded()
            r = server.client()
            for m in models:
                m.verify(r, self)
            r.close()
            return server

        for cycle in range(KILLS):
            server = restart_and_verify(cycle)
            try:
                stop = threading.Event()
                threads = [threading.Thread(target=m.run, args=(server.port, stop)) for m in models]
                for t in threads:
                    t.start()
                wait_for(lambda: sum(m.next_value for m in models) > 50 * (cycle + 1),
                         what="some writes")
                time.sleep(rng.uniform(0.05, 0.5))  # a random moment to kill, not a sync point
            finally:
                server.kill()
            stop.set()
            for t in threads:
                t.join(30)
        restart_and_verify().stop()
        checked = sum(m.checked for m in models)
        print(f"\ncrash test: {KILLS} kills, {checked} acknowledged writes checked "
              "(every restart re-checks all of them)", flush=True)
        self.assertGreater(checked, 1000)


if __name__ == "__main__":
    main()
