#!/usr/bin/python3
"""One client must not crash, freeze or wedge the server: a regression test for each sample of
the bug classes that the command fuzzer (fuzz_commands.py) looks for. Where Redis has the
command, the same scenario runs against Debian's redis-server and both outcomes must agree."""
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import RawConnection, RedisServer, Reply, Scheduler, main, wait_for  # noqa: E402

# A script's result nests as deep as the Lua stack allows (about 8000 arrays); the test's reader
# recurses once per level.
sys.setrecursionlimit(50000)

BUSY = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."


class SideBySide(unittest.TestCase):
    """A desaster-scheduler and a redis-server for the whole class, both flushed between tests."""

    @classmethod
    def setUpClass(cls):
        cls.desaster = Scheduler()
        cls.redis = RedisServer()
        cls.desaster.wait_loaded()

    @classmethod
    def tearDownClass(cls):
        cls.desaster.stop()
        cls.redis.stop()

    def setUp(self):
        for server in (self.desaster, self.redis):
            c = self.connect(server)
            c.call("FLUSHALL")
            c.call("SCRIPT", "FLUSH")
            c.call("CONFIG", "SET", "lua-time-limit", "5000")

    def connect(self, server, timeout=20):
        c = RawConnection(server.port, timeout=timeout)
        self.addCleanup(c.close)
        return c

    def both(self, scenario):
        """Runs scenario(connect) on each server (connect() opens a connection to it) and
        asserts that both return the same; returns desaster's result."""
        results = {}
        for name, server in (("redis", self.redis), ("desaster", self.desaster)):
            results[name] = scenario(lambda s=server: self.connect(s))
        self.assertEqual(results["desaster"], results["redis"])
        return results["desaster"]

    def assertAlive(self):
        """The server still answers, and its data survived (a key written by every test)."""
        c = self.connect(self.desaster)
        self.assertEqual(c.call("SET", "alive", "yes"), Reply("+", "OK"))
        self.assertEqual(c.call("GET", "alive"), Reply("$", b"yes"))


class LuaTest(SideBySide):
    def test_a_result_nested_past_the_lua_stack_is_an_error_and_the_next_write_works(self):
        deep = "local t={} local x=t for i=1,100000 do x[1]={} x=x[1] end return t"

        def scenario(connect):
            c = connect()
            reply = c.call("EVAL", deep, "0")
            depth = 0
            while reply.kind == "*":
                depth += 1
                self.assertEqual(len(reply.value), 1)
                reply = reply.value[0]
            return reply, depth > 100, c.call("SET", "k", "v"), c.call("GET", "k")

        reply, deep_enough, *_ = self.both(scenario)
        self.assertEqual(reply, Reply("-", "ERR reached lua stack limit"))
        self.assertTrue(deep_enough)
        self.assertAlive()

    def test_metamethods_of_a_returned_table_never_run(self):
        scripts = [
            "return setmetatable({}, {__index=function() error('boom') end})",
            "return setmetatable({1, 2}, {__index=function() error('boom') end})",
            "return setmetatable({}, {__index=function(t, k) return {err='from index'} end})",
            "local t = {} t[1] = t return t",  # a cycle: nested until the stack limit
        ]
        for script in scripts:
            with self.subTest(script=script):
                self.both(lambda connect: str(connect().call("EVAL", script, "0"))[:200])
        self.assertAlive()

    def test_the_sandbox_matches_redis_and_no_script_changes_what_another_sees(self):
        attempts = [
            "getfenv(0).redis = nil return 1",
            "setfenv(redis.call, {}) return 1",
            "_G.redis = nil return 1",
            "redis = nil return 1",
            "rawset(redis, 'call', function() return 'evil' end) return 1",
            "rawset(_G, 'x', 1) return 1",
            "setmetatable(_G, {}) return 1",
            "getmetatable('').__index = {upper = function() return 'evil' end} return 1",
            "string.upper = function() return 'evil' end return 1",
            "rawset(string, 'upper', function() return 'evil' end) return 1",
            "x = 5 return x",
            "return type(newproxy)",
            "return loadstring(string.dump(function() return 1 end))",
            "local f = loadstring('evil_global = 1') return pcall(f)",
            "local f = loadstring('return redis') return type(f())",
            "local n = 0 for k, v in pairs(redis) do n = n + 1 end return n > 5",
            "local n = 0 for k, v in pairs(_G) do n = n + 1 end return n > 20",
            "return type(next(string))",
            "return collectgarbage('stop')",
        ]
        for script in attempts:
            with self.subTest(script=script):
                def scenario(connect):
                    reply = connect().call("EVAL", script, "0")
                    # Error texts name the script's SHA, the same on both servers.
                    return reply.kind, str(reply.value)[:60]
                self.both(scenario)
        # Whatever those scripts tried, another client's scripts still see the real API.
        def after(connect):
            c = connect()
            return [c.call("EVAL", "return redis.call('ping')", "0"),
                    c.call("EVAL", "return ('a'):upper() .. string.upper('b')", "0"),
                    c.call("EVAL", "return type(evil_global)", "0")]
        self.assertEqual(self.both(after)[:2], [Reply("+", "PONG"), Reply("$", b"AB")])

    def test_bytecode_is_refused(self):
        def scenario(connect):
            c = connect()
            return [c.call("EVAL", b"\x1bLuaQ\x00\x01\x04\x08\x04\x08\x00", "0"),
                    c.call("SCRIPT", "LOAD", b"\x1bLua"),
                    c.call("EVAL", "return loadstring(string.dump(function() return 1 end))",
                           "0")]
        replies = self.both(scenario)
        self.assertEqual(replies[0].kind, "-")
        self.assertIn("unexpected symbol near 'char(27)'", replies[0].value)
        self.assertAlive()

    def start_busy_script(self, server, script):
        c = self.connect(server)
        c.call("CONFIG", "SET", "lua-time-limit", "100")
        runner = self.connect(server)
        started = time.monotonic()
        runner.send(RawConnection.encode("EVAL", script, "0"))
        probe = self.connect(server)
        wait_for(lambda: probe.call("PING").kind == "-", timeout=10, what="BUSY")
        return runner, probe, time.monotonic() - started

    def test_busy_is_reported_at_the_time_limit_and_script_kill_stops_a_pcall_loop(self):
        scripts = [
            "while true do pcall(function() local i = 0 while true do i = i + 1 end end) end",
            "while true do pcall(redis.call, 'ping') end",
            "local co = coroutine.wrap(function() while true do end end) "
            "while true do pcall(co) end",
        ]
        for script in scripts:
            with self.subTest(script=script):
                runner, probe, busy_after = self.start_busy_script(self.desaster, script)
                # lua-time-limit is 100 ms; allow for a slow (sanitizer) build.
                self.assertLess(busy_after, 1.5)
                self.assertEqual(probe.call("PING"), Reply("-", BUSY))
                self.assertEqual(probe.call("SCRIPT", "KILL"), Reply("+", "OK"))
                reply = runner.read()
                self.assertEqual(reply.kind, "-")
                self.assertTrue(reply.value.startswith(
                    "ERR Script killed by user with SCRIPT KILL..."), reply)
                self.assertEqual(probe.call("PING"), Reply("+", "PONG"))
        self.assertAlive()

    def test_while_busy_transactions_are_accepted_and_aborted_as_in_redis(self):
        script = "local i = 0 while true do i = i + 1 end"

        def scenario(connect):
            server = self.redis if connect().sock.getpeername()[1] == self.redis.port \
                else self.desaster
            runner, probe, _ = self.start_busy_script(server, script)
            c = connect()
            replies = [c.call(*cmd) for cmd in (
                ["MULTI"], ["SET", "a", "b"], ["EXEC"], ["WATCH", "x"], ["UNWATCH"],
                ["DISCARD"], ["RESET"], ["CLIENT", "ID"], ["MULTI"], ["DISCARD"])]
            probe.call("SCRIPT", "KILL")
            runner.read()
            return replies

        replies = self.both(scenario)
        self.assertEqual(replies[2].value,
                         "EXECABORT Transaction discarded because of: " + BUSY)


class StringTest(SideBySide):
    def test_offsets_past_the_string_limit_are_refused(self):
        def scenario(connect):
            c = connect()
            c.call("SET", "k", "v")
            c.call("RPUSH", "l", "v", "w", "v")
            return [c.call("LREM", "l", "-9223372036854775808", "v"),
                    c.call("SETRANGE", "k", "9223372036854775807", "A"),
                    c.call("SETRANGE", "k", str(512 * 1024 * 1024), "A"),
                    c.call("SETRANGE", "k", "-1", "A"),
                    c.call("SETRANGE", "k", "9223372036854775807", ""),
                    c.call("GETRANGE", "k", "-9223372036854775808", "9223372036854775807"),
                    c.call("GET", "k")]
        self.both(scenario)
        self.assertAlive()


class SlowLogTest(SideBySide):
    def test_the_slow_log_keeps_arguments_cut_as_redis_does(self):
        def scenario(connect):
            c = connect()
            c.call("CONFIG", "SET", "slowlog-log-slower-than", "0")
            c.call("SLOWLOG", "RESET")
            c.call("ECHO", "x" * 129)
            c.call("DEL", *[f"k{i}" for i in range(40)])
            c.call("DEL", *[f"k{i}" for i in range(32)])
            # Secrets redacted before the cut, whatever their length and position.
            c.call("CONFIG", "SET", "requirepass", "p" * 200)
            c.call("CONFIG", "SET", "requirepass", "")
            c.call("ACL", "SETUSER", "many", "on", *[f"+get|{i}" for i in range(40)])
            c.call("ACL", "DELUSER", "many")
            entries = c.call("SLOWLOG", "GET", "7").value
            c.call("CONFIG", "SET", "slowlog-log-slower-than", "10000")
            # Newest first: ACL DELUSER, SETUSER, the two CONFIG SETs, the 32-argument DEL
            # whole, the 41-argument one cut, then ECHO.
            return [[a.value for a in e.value[3].value] for e in entries]
        logged = self.both(scenario)
        self.assertEqual(logged[6], [b"ECHO", b"x" * 128 + b"... (1 more bytes)"])
        self.assertEqual(logged[5][31], b"... (10 more arguments)")
        self.assertEqual(len(logged[4]), 32)
        self.assertEqual(logged[3], [b"CONFIG", b"SET", b"requirepass", b"(redacted)"])
        self.assertEqual(logged[1][2:], [b"(redacted)"] * 29 + [b"... (13 more arguments)"])
        self.assertAlive()


class BigStringTest(SideBySide):
    def test_small_edits_of_a_huge_string_cost_what_the_edit_does(self):
        # A string of nearly 512 MB (the most a string may hold) grown by one SETRANGE, then
        # edited and appended to: each edit is stored as the chunks it touches, not as the
        # whole value (that took 5 s per edit and held every other client for as long).
        size = 512 * 1024 * 1024 - 100 * 1024

        def scenario(connect):
            c, other = connect(), connect()
            grown = c.call("SETRANGE", "big", str(size - 1), "A")
            started = time.monotonic()
            edits = [c.call("SETRANGE", "big", "0", "B")]
            edits += [c.call("APPEND", "big", "x" * 1000) for _ in range(50)]
            edits.append(other.call("PING"))
            quick = time.monotonic() - started < 2
            ends = [c.call("STRLEN", "big"), c.call("GETRANGE", "big", "0", "1"),
                    c.call("GETRANGE", "big", str(size - 2), str(size + 2))]
            return grown, edits, quick, ends
        self.both(scenario)
        # Durable as it is: a reload rebuilds it from its chunks.
        c = self.connect(self.desaster, timeout=60)
        self.assertEqual(c.call("DEBUG", "RELOAD"), Reply("+", "OK"))
        self.assertEqual(c.call("STRLEN", "big"), Reply(":", size + 50 * 1000))
        self.assertEqual(c.call("GETRANGE", "big", str(size - 2), str(size + 2)),
                         Reply("$", b"\0Axxx"))
        self.assertEqual(c.call("GETRANGE", "big", "0", "1"), Reply("$", b"B\0"))
        self.assertEqual(c.call("DEL", "big"), Reply(":", 1))
        self.assertAlive()


class RandomMembersTest(SideBySide):
    def test_counts_are_checked_as_in_redis(self):
        def scenario(connect):
            c = connect()
            c.call("HSET", "h", "a", "1")
            return [c.call("SRANDMEMBER", "absent", "9223372036854775807"),
                    c.call("SRANDMEMBER", "absent", "-9223372036854775808"),
                    c.call("HRANDFIELD", "h", "9223372036854775807"),
                    c.call("HRANDFIELD", "h", "9223372036854775807", "WITHVALUES"),
                    c.call("ZRANDMEMBER", "absent", "-4611686018427387904", "WITHSCORES")]
        self.both(scenario)

    def test_a_reply_with_billions_of_repeats_is_refused_not_built(self):
        # Redis builds it: -4611686018427387903 grew redis-server past 20 GB until the kernel
        # killed it (and desaster to 12 GB before this bound).
        c = self.connect(self.desaster)
        c.call("HSET", "h", "a", "1")
        reply = c.call("HRANDFIELD", "h", "-4611686018427387903", "WITHVALUES")
        self.assertEqual(reply.kind, "-")
        self.assertIn("out of range", reply.value)
        self.assertEqual(len(c.call("SRANDMEMBER", "h2", "-16777216").value or []), 0)
        c.call("SADD", "s", "m")
        self.assertEqual(len(c.call("SRANDMEMBER", "s", "-1000").value), 1000)
        self.assertAlive()


class LeaseTest(SideBySide):
    def test_a_lease_past_a_day_is_refused(self):
        # now + 2^63-1 overflowed; a lease that long would also keep a dead worker's job away
        # from its queue for good.
        c = self.connect(self.desaster)
        c.call("WORKER.REGISTER", "w", "QUEUES", "q")
        c.call("JOB.PUSH", "q", "{}")
        for command in (["WORKER.HEARTBEAT", "w", "LEASE", "9223372036854775807"],
                        ["JOB.FETCH", "w", "LEASE", "86400001"]):
            self.assertEqual(c.call(*command),
                             Reply("-", "ERR LEASE must be from 1 to 86400000 ms"))
        job = c.call("JOB.FETCH", "w", "LEASE", "86400000")  # a day is allowed
        self.assertEqual(job.kind, "*")
        self.assertIn(Reply("$", b"id"), job.value)
        self.assertAlive()


class EmptyQueueKeyTest(SideBySide):
    def test_a_queue_without_ready_jobs_keeps_its_key_from_other_types(self):
        # Found by the long fuzz run (seed 1512, session 21026): a queue whose jobs were all
        # delayed or running had no key, HSETNX made a hash there, and the next ready job sat
        # in the queue but not under its key, coming back as a list after a reload.
        c = self.connect(self.desaster)
        c.call("JOB.PUSH", "nq", "later", "DELAY", "60000")
        self.assertEqual(c.call("TYPE", "nq"), Reply("+", "none"))  # as an empty list
        wrong = Reply("-", "WRONGTYPE Operation against a key holding the wrong kind of value")
        for write in (["HSETNX", "nq", "f", "v"], ["SADD", "nq", "m"], ["ZADD", "nq", "1", "m"],
                      ["XADD", "nq", "*", "f", "v"], ["APPEND", "nq", "x"], ["INCR", "nq"]):
            self.assertEqual(c.call(*write), wrong, write)
        self.assertEqual(c.call("GET", "nq"), Reply("$", None))  # reads see no key
        ready = c.call("JOB.PUSH", "nq", "now").value
        self.assertEqual(c.call("LRANGE", "nq", "0", "-1"), Reply("*", [Reply("$", b"now")]))
        self.assertEqual(c.call("JOB.DELETE", ready), Reply(":", 1))
        # SET replaces whatever a key holds, a list included: here, the queue and its jobs.
        self.assertEqual(c.call("SET", "nq", "v"), Reply("+", "OK"))
        self.assertEqual(c.call("QUEUE.LIST", "MATCH", "nq"), Reply("*", []))
        before = c.call("DEBUG", "DIGEST")
        self.assertEqual(c.call("DEBUG", "RELOAD"), Reply("+", "OK"))
        self.assertEqual(c.call("DEBUG", "DIGEST"), before)
        self.assertEqual(c.call("GET", "nq"), Reply("$", b"v"))
        self.assertAlive()


class RepeatedIdTest(SideBySide):
    def job_id(self, c, reply):
        """The id in a JOB.FETCH reply."""
        fields = reply.value
        return fields[fields.index(Reply("$", b"id")) + 1].value

    def test_an_id_named_twice_is_acted_on_once(self):
        # JOB.DELETE with the same id twice freed the job and then read it again (a crash under
        # AddressSanitizer, memory corruption without it); the bulk commands of jobs, failures
        # and completed jobs each take an id once however often it is named.
        c = self.connect(self.desaster)
        push = lambda q: c.call("JOB.PUSH", q, '{"class":"C","args":[]}').value  # noqa: E731
        gone, moved, raised = push("rq"), push("rq"), push("rq")
        later = c.call("JOB.PUSH", "rq", "{}", "DELAY", "60000").value
        self.assertEqual(c.call("JOB.DELETE", gone, gone), Reply(":", 1))
        self.assertEqual(c.call("JOB.INFO", gone), Reply("$", None))
        self.assertEqual(c.call("JOB.MOVE", "rq2", moved, moved), Reply(":", 1))
        self.assertEqual(c.call("LRANGE", "rq2", "0", "-1"),
                         Reply("*", [Reply("$", b'{"class":"C","args":[]}')]))
        self.assertEqual(c.call("JOB.UPDATE", raised, raised, "SET", "PRIORITY", "5"), Reply(":", 1))
        self.assertEqual(c.call("JOB.RUN", later, later), Reply(":", 1))
        self.assertEqual(c.call("LLEN", "rq"), Reply(":", 2))

        c.call("WORKER.REGISTER", "w", "QUEUES", "fq")
        failing = push("fq")
        self.assertEqual(self.job_id(c, c.call("JOB.FETCH", "w")), failing)
        c.call("JOB.FAIL", failing, "WORKER", "w", "ERROR", "Boom", "DEAD")
        failures = c.call("FAILED.LIST", "JOB", failing).value
        listed = failures[failures.index(Reply("$", b"failures")) + 1].value[0].value
        failure = listed[listed.index(Reply("$", b"id")) + 1].value
        self.assertEqual(c.call("FAILED.RETRY", failure, failure), Reply(":", 1))
        self.assertEqual(c.call("LLEN", "fq"), Reply(":", 1))
        self.assertEqual(c.call("FAILED.REMOVE", failure, failure), Reply(":", 1))

        done = self.job_id(c, c.call("JOB.FETCH", "w"))
        self.assertEqual(c.call("JOB.ACK", done, "WORKER", "w"), Reply(":", 1))
        rerun = c.call("COMPLETED.RERUN", done, done)
        self.assertEqual(len(rerun.value), 1)
        self.assertEqual(c.call("COMPLETED.REMOVE", done, done), Reply(":", 1))
        self.assertEqual(c.call("COMPLETED.INFO", done), Reply("$", None))
        self.assertAlive()


class ZRangeTest(SideBySide):
    def test_limit_with_a_count_of_minus_one_passes_a_range_by_rank(self):
        # Redis refuses LIMIT without BYSCORE/BYLEX only when its count is not -1.
        def scenario(connect):
            c = connect()
            c.call("ZADD", "z", "1", "a", "2", "b", "3", "c")
            return [c.call("ZRANGE", "z", "0", "-1", "REV", "LIMIT", "2", "-1", "WITHSCORES"),
                    c.call("ZRANGE", "z", "0", "-1", "LIMIT", "0", "5"),
                    c.call("ZRANGESTORE", "d", "z", "0", "1", "LIMIT", "1", "-1")]
        self.both(scenario)


class GlobTest(SideBySide):
    def test_a_backtracking_pattern_does_not_stall_the_server(self):
        pattern = "a*" * 30 + "b"
        key = "a" * 40

        def scenario(connect):
            c = connect()
            c.call("SET", key, "v")
            started = time.monotonic()
            replies = [c.call("KEYS", pattern), c.call("SCAN", "0", "MATCH", pattern),
                       c.call("KEYS", "a*" * 30), c.call("CONFIG", "GET", "a*a*a*a*a*a*a*b")]
            return replies, time.monotonic() - started < 2
        self.both(scenario)


class BlockingTest(SideBySide):
    def block(self, connect, *command):
        c = connect()
        c.send(RawConnection.encode(*command))
        probe = connect()
        wait_for(lambda: b"cmd=" + command[0].lower().encode() in
                 probe.call("CLIENT", "LIST").value, what="the client to block")
        return c

    def test_a_wait_past_the_end_of_time_blocks_until_served(self):
        def scenario(connect):
            c = connect()
            waiter = self.block(connect, "XREAD", "BLOCK", "9223372036854775807", "STREAMS", "s",
                                "$")
            c.call("XADD", "s", "1-1", "f", "v")
            return waiter.read()
        self.assertEqual(self.both(scenario),
                         Reply("*", [Reply("*", [Reply("$", b"s"), Reply("*", [Reply("*", [
                             Reply("$", b"1-1"), Reply("*", [Reply("$", b"f"),
                                                            Reply("$", b"v")])])])])]))

    def test_wait_past_the_end_of_time_blocks_and_bad_timeouts_are_refused(self):
        def scenario(connect):
            c = connect()
            self.block(connect, "WAIT", "1", "9223372036854775807")  # no replica ever comes
            return [c.call("WAIT", "0", "9223372036854775807"), c.call("WAIT", "1", "-1"),
                    c.call("WAIT", "1", "1.5"), c.call("WAIT", "x", "0"),
                    c.call("WAIT", "-9223372036854775808", "0"), c.call("PING")]
        replies = self.both(scenario)
        self.assertEqual(replies[0], Reply(":", 0))
        self.assertEqual(replies[-1], Reply("+", "PONG"))

    def test_a_wrong_type_destination_fails_one_waiter_and_the_element_goes_to_the_next(self):
        def scenario(connect):
            c = connect()
            c.call("SET", "dst1", "string")
            first = self.block(connect, "BRPOPLPUSH", "src", "dst1", "0")
            second = self.block(connect, "BRPOPLPUSH", "src", "dst2", "0")
            c.call("LPUSH", "src", "x")
            return [first.read(), second.read(), c.call("LRANGE", "dst2", "0", "-1"),
                    c.call("EXISTS", "src")]
        replies = self.both(scenario)
        self.assertEqual(replies[0].kind, "-")
        self.assertEqual(replies[1], Reply("$", b"x"))

    def test_a_key_that_briefly_holds_another_type_keeps_waiters_blocked(self):
        for command in (["BLPOP", "k", "0"], ["BZPOPMIN", "k", "0"],
                        ["BLMOVE", "k", "d", "LEFT", "RIGHT", "0"]):
            with self.subTest(command=command[0]):
                def scenario(connect):
                    c = connect()
                    c.call("DEL", "k", "d")
                    waiter = self.block(connect, *command)
                    push = ["ZADD", "k", "1", "m"] if command[0] == "BZPOPMIN" \
                        else ["LPUSH", "k", "m"]
                    for cmd in (["MULTI"], push, ["DEL", "k"], ["SET", "k", "x"], ["EXEC"]):
                        c.call(*cmd)
                    c.call("DEL", "k")
                    c.call(*push)
                    return waiter.read()
                self.both(scenario)


class TransactionTest(SideBySide):
    def test_flushall_invalidates_watch_only_on_keys_that_existed(self):
        def scenario(connect):
            c = connect()
            c.call("SET", "present", "1")
            out = []
            for key in ("absent", "present"):
                c.call("WATCH", key)
                other = connect()
                other.call("FLUSHALL")
                c.call("SET", "present", "1")
                c.call("MULTI")
                c.call("PING")
                out.append(c.call("EXEC"))
            return out
        self.both(scenario)

    def test_pubsub_messages_arrive_under_client_reply_off(self):
        def scenario(connect):
            c = connect()
            c.call("HELLO", "3")
            c.send(RawConnection.encode("CLIENT", "REPLY", "OFF"))
            c.send(RawConnection.encode("SUBSCRIBE", "ch"))
            publisher = connect()
            wait_for(lambda: publisher.call("PUBLISH", "ch", "hello").value == 1,
                     what="the subscription")
            c.send(RawConnection.encode("CLIENT", "REPLY", "ON"))
            replies = []
            while True:
                reply = c.read()
                replies.append(reply)
                if reply == Reply("+", "OK"):
                    return replies
        self.both(scenario)


if __name__ == "__main__":
    main()
