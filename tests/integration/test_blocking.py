#!/usr/bin/python3
"""Blocking commands: wake-ups, timeouts (fractional), fairness, MULTI/EXEC interplay."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import RawConnection, RedisServer, Reply, ServerTest, main, wait_for  # noqa: E402


class BlockingTest(ServerTest):
    def blocked_clients(self):
        return int(self.r.info("clients")["blocked_clients"])

    def wait_blocked(self, n):
        wait_for(lambda: self.blocked_clients() == n, what=f"{n} blocked clients")

    def test_blpop_wakes_on_push_from_another_client(self):
        c = self.connect()
        c.send(RawConnection.encode("BLPOP", "q1", "q2", "0"))
        self.wait_blocked(1)
        self.r.rpush("q2", "job")
        self.assertEqual(c.read(), Reply("*", [Reply("$", b"q2"), Reply("$", b"job")]))
        self.assertEqual(self.r.exists("q2"), 0)

    def test_swapdb_serves_blocked_clients_and_breaks_watches_as_redis_does(self):
        redis_server = RedisServer()
        self.addCleanup(redis_server.stop)
        outcomes = []
        for port in (redis_server.port, self.server.port):
            blocked, watcher, other = RawConnection(port), RawConnection(port), RawConnection(port)
            other.call("FLUSHALL")
            blocked.call("SELECT", "1")
            blocked.send(blocked.encode("BLPOP", "jobs", "10"))
            wait_for(lambda: "blocked_clients:1" in other.call("INFO", "clients").value.decode())
            other.call("RPUSH", "jobs", "in-db0")
            watcher.call("WATCH", "jobs")  # db 0: the key exists there
            watcher.call("MULTI")
            watcher.call("GET", "jobs")
            other.call("SWAPDB", "0", "1")
            outcomes.append([blocked.read(), watcher.call("EXEC"), other.call("DBSIZE"),
                             other.call("SELECT", "1"), other.call("DBSIZE")])
            for c in (blocked, watcher, other):
                c.close()
        self.assertEqual(outcomes[1], outcomes[0])
        self.assertEqual(outcomes[1][0], Reply("*", [Reply("$", b"jobs"), Reply("$", b"in-db0")]))

    def test_fractional_timeout_expires(self):
        c = self.connect()
        start = time.monotonic()
        self.assertEqual(c.call("BLPOP", "empty", "0.006"), Reply("*", None))
        self.assertEqual(c.call("BZPOPMIN", "empty", "0.05"), Reply("*", None))
        # A timed-out move answers a null array in Redis 7.0, like the pops.
        self.assertEqual(c.call("BLMOVE", "empty", "dst", "LEFT", "LEFT", "0.01"), Reply("*", None))
        self.assertLess(time.monotonic() - start, 2.0)
        self.assertEqual(c.call("BLPOP", "empty", "-1"), Reply("-", "ERR timeout is negative"))
        self.assertEqual(c.call("BLPOP", "empty", "x"),
                         Reply("-", "ERR timeout is not a float or out of range"))

    def test_first_blocked_is_first_served(self):
        clients = [self.connect() for _ in range(3)]
        for i, c in enumerate(clients):
            c.send(RawConnection.encode("BRPOP", "fair", "0"))
            self.wait_blocked(i + 1)
        self.r.lpush("fair", "a", "b", "c")  # list is c b a; BRPOP takes a, then b, then c
        got = [c.read().value[1].value for c in clients]
        self.assertEqual(got, [b"a", b"b", b"c"])

    def test_push_inside_multi_wakes_at_exec(self):
        waiter = self.connect()
        waiter.send(RawConnection.encode("BLPOP", "tx", "0"))
        self.wait_blocked(1)
        tx = self.connect()
        tx.call("MULTI")
        tx.call("RPUSH", "tx", "1")
        tx.call("RPUSH", "tx", "2")
        self.assertEqual(self.blocked_clients(), 1)  # nothing happened before EXEC
        self.assertEqual(tx.call("EXEC"), Reply("*", [Reply(":", 1), Reply(":", 2)]))
        self.assertEqual(waiter.read(), Reply("*", [Reply("$", b"tx"), Reply("$", b"1")]))
        self.assertEqual(self.r.lrange("tx", 0, -1), [b"2"])

    def test_blocking_command_inside_multi_does_not_block(self):
        c = self.connect()
        c.call("MULTI")
        c.call("BLPOP", "nothing", "0")
        self.assertEqual(c.call("EXEC"), Reply("*", [Reply("*", None)]))

    def test_blmove_chain_wakes_every_waiter(self):
        mover, popper = self.connect(), self.connect()
        popper.send(RawConnection.encode("BLPOP", "stage2", "0"))
        self.wait_blocked(1)
        mover.send(RawConnection.encode("BLMOVE", "stage1", "stage2", "LEFT", "RIGHT", "0"))
        self.wait_blocked(2)
        self.r.rpush("stage1", "x")
        self.assertEqual(mover.read(), Reply("$", b"x"))
        self.assertEqual(popper.read(), Reply("*", [Reply("$", b"stage2"), Reply("$", b"x")]))

    def test_bzpopmin_and_blmpop(self):
        z, l = self.connect(), self.connect()
        z.send(RawConnection.encode("BZPOPMIN", "zs", "0"))
        l.send(RawConnection.encode("BLMPOP", "0", "2", "la", "lb", "RIGHT", "COUNT", "2"))
        self.wait_blocked(2)
        self.r.zadd("zs", {"m": 2.5})
        self.r.rpush("lb", "1", "2", "3")
        self.assertEqual(z.read(), Reply("*", [Reply("$", b"zs"), Reply("$", b"m"), Reply("$", b"2.5")]))
        self.assertEqual(l.read(), Reply("*", [Reply("$", b"lb"), Reply("*", [Reply("$", b"3"), Reply("$", b"2")])]))

    def test_pipelined_commands_after_a_block_run_once_it_is_served(self):
        c = self.connect()
        c.send(RawConnection.encode("BLPOP", "p", "0") + RawConnection.encode("SET", "after", "1"))
        self.wait_blocked(1)
        self.assertIsNone(self.r.get("after"))
        self.r.rpush("p", "v")
        self.assertEqual(c.read().kind, "*")
        self.assertEqual(c.read(), Reply("+", "OK"))
        self.assertEqual(self.r.get("after"), b"1")

    def test_disconnected_waiter_loses_nothing(self):
        c = self.connect()
        c.send(RawConnection.encode("BLPOP", "gone", "0"))
        self.wait_blocked(1)
        c.close()
        wait_for(lambda: self.blocked_clients() == 0, what="waiter to be forgotten")
        self.r.rpush("gone", "kept")
        self.assertEqual(self.r.lrange("gone", 0, -1), [b"kept"])

    def test_redis_py_brpop_with_several_keys_as_sidekiq(self):
        result = {}

        def consume():
            result["v"] = self.server.client().brpop(["queue:low", "queue:default"], timeout=5)

        t = threading.Thread(target=consume)
        t.start()
        self.wait_blocked(1)
        self.r.lpush("queue:default", '{"class":"HardWorker"}')
        t.join(10)
        self.assertEqual(result["v"], (b"queue:default", b'{"class":"HardWorker"}'))


if __name__ == "__main__":
    main()
