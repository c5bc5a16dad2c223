#!/usr/bin/python3
"""MULTI/EXEC/DISCARD/WATCH, including invalidation by other clients, FLUSHALL and expiry."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Reply, ServerTest, main, wait_for  # noqa: E402

OK, QUEUED = Reply("+", "OK"), Reply("+", "QUEUED")


class TransactionTest(ServerTest):
    def test_exec_runs_queued_commands_and_keeps_going_after_runtime_errors(self):
        c = self.connect()
        self.assertEqual(c.call("MULTI"), OK)
        self.assertEqual(c.call("SET", "s", "x"), QUEUED)
        self.assertEqual(c.call("INCR", "s"), QUEUED)
        self.assertEqual(c.call("RPUSH", "l", "a"), QUEUED)
        self.assertEqual(c.call("EXEC"), Reply("*", [
            OK, Reply("-", "ERR value is not an integer or out of range"), Reply(":", 1)]))
        self.assertEqual(self.r.lrange("l", 0, -1), [b"a"])

    def test_queue_time_errors_abort_the_whole_transaction(self):
        c = self.connect()
        c.call("MULTI")
        c.call("SET", "a", "1")
        self.assertEqual(c.call("NOPE"),
                         Reply("-", "ERR unknown command 'NOPE', with args beginning with: "))
        self.assertEqual(c.call("GET"),
                         Reply("-", "ERR wrong number of arguments for 'get' command"))
        self.assertEqual(c.call("EXEC"), Reply(
            "-", "EXECABORT Transaction discarded because of previous errors."))
        self.assertIsNone(self.r.get("a"))

    def test_state_errors(self):
        c = self.connect()
        self.assertEqual(c.call("EXEC"), Reply("-", "ERR EXEC without MULTI"))
        self.assertEqual(c.call("DISCARD"), Reply("-", "ERR DISCARD without MULTI"))
        c.call("MULTI")
        self.assertEqual(c.call("MULTI"), Reply("-", "ERR MULTI calls can not be nested"))
        self.assertEqual(c.call("WATCH", "k"), Reply("-", "ERR WATCH inside MULTI is not allowed"))
        self.assertEqual(c.call("DISCARD"), OK)
        self.assertEqual(c.call("PING"), Reply("+", "PONG"))

    def test_watch_detects_a_write_by_another_client(self):
        c = self.connect()
        self.r.set("balance", "10")
        c.call("WATCH", "balance")
        self.r.incr("balance")
        c.call("MULTI")
        c.call("SET", "balance", "0")
        self.assertEqual(c.call("EXEC"), Reply("*", None))
        self.assertEqual(self.r.get("balance"), b"11")

    def test_watch_without_interference_executes(self):
        c = self.connect()
        c.call("WATCH", "k", "other")
        self.r.set("unrelated", "1")
        c.call("MULTI")
        c.call("SET", "k", "v")
        self.assertEqual(c.call("EXEC"), Reply("*", [OK]))

    def test_watch_is_invalidated_by_flushall_and_by_expiry(self):
        c = self.connect()
        self.r.set("k", "v")
        c.call("WATCH", "k")
        self.r.flushall()
        c.call("MULTI")
        self.assertEqual(c.call("EXEC"), Reply("*", None))

        self.r.set("k", "v", px=100)
        c.call("WATCH", "k")
        wait_for(lambda: self.r.pttl("k") == -2, what="k to expire")
        c.call("MULTI")
        c.call("SET", "x", "1")
        self.assertEqual(c.call("EXEC"), Reply("*", None))
        self.assertIsNone(self.r.get("x"))

    def test_discard_and_unwatch_forget_the_watch(self):
        c = self.connect()
        c.call("WATCH", "k")
        self.assertEqual(c.call("UNWATCH"), OK)
        self.r.set("k", "changed")
        c.call("MULTI")
        c.call("GET", "k")
        self.assertEqual(c.call("EXEC"), Reply("*", [Reply("$", b"changed")]))

    def test_watch_in_another_database_is_not_touched(self):
        c = self.connect()
        c.call("WATCH", "k")
        other = self.server.client(db=1)
        other.set("k", "v")
        c.call("MULTI")
        c.call("PING")
        self.assertEqual(c.call("EXEC"), Reply("*", [Reply("+", "PONG")]))

    def test_redis_py_optimistic_locking_as_rq_does(self):
        self.r.set("counter", 0)
        with self.r.pipeline() as pipe:
            for _ in range(20):
                pipe.watch("counter")
                value = int(pipe.get("counter"))
                pipe.multi()
                pipe.set("counter", value + 1)
                pipe.execute()
        self.assertEqual(self.r.get("counter"), b"20")


if __name__ == "__main__":
    main()
