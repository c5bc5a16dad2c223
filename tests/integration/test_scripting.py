#!/usr/bin/python3
"""Lua scripting: caching, the redis.* API, cjson/bit, the sandbox, MULTI, durability of effects."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redis  # noqa: E402
from harness import RawConnection, Reply, Scheduler, ServerTest, data_dir, main, wait_for  # noqa: E402

# Sidekiq 6.4's scheduled-job poller (shared/reference/clients.md).
SIDEKIQ_ZPOPBYSCORE = """
local key, now = KEYS[1], ARGV[1]
local jobs = redis.call("zrangebyscore", key, "-inf", now, "limit", 0, 1)
if jobs[1] then
  redis.call("zrem", key, jobs[1])
  return jobs[1]
end
"""

# node-resque's popAndStoreJob, in shape: LPOP a job, decode it, store who works on it.
POP_AND_STORE = """
local job = redis.call('lpop', KEYS[1])
if not job then return nil end
local payload = cjson.decode(job)
redis.call('set', KEYS[2], cjson.encode({queue = ARGV[1], payload = payload, run_at = ARGV[2]}))
return job
"""


class ScriptingTest(ServerTest):
    def test_sidekiq_poller_via_redis_py_script_object(self):
        # redis-py's Script sends EVALSHA first, gets NOSCRIPT, loads, and retries.
        self.r.script_flush()
        zpop = self.r.register_script(SIDEKIQ_ZPOPBYSCORE)
        self.r.zadd("schedule", {"job-a": 100, "job-b": 200, "job-c": 300})
        self.assertEqual(zpop(keys=["schedule"], args=[250]), b"job-a")
        self.assertEqual(zpop(keys=["schedule"], args=[250]), b"job-b")
        self.assertIsNone(zpop(keys=["schedule"], args=[250]))
        self.assertEqual(self.r.zrange("schedule", 0, -1), [b"job-c"])

    def test_node_resque_pop_and_store_with_cjson(self):
        self.r.rpush("resque:queue:q", json.dumps({"class": "Add", "args": [1, 2]}))
        job = self.r.eval(POP_AND_STORE, 2, "resque:queue:q", "resque:worker:w1", "q", "123")
        self.assertEqual(json.loads(job)["class"], "Add")
        stored = json.loads(self.r.get("resque:worker:w1"))
        self.assertEqual(stored["payload"]["args"], [1, 2])
        self.assertEqual(stored["queue"], "q")
        self.assertIsNone(self.r.eval(POP_AND_STORE, 2, "resque:queue:q", "w", "q", "1"))

    def test_eval_caches_for_evalsha_and_script_commands(self):
        c = self.connect()
        body = "return ARGV[1] .. '!'"
        sha = c.call("SCRIPT", "LOAD", body).value.decode()
        self.assertEqual(len(sha), 40)
        c.call("SCRIPT", "FLUSH")
        self.assertEqual(c.call("EVALSHA", sha, "0", "x"),
                         Reply("-", "NOSCRIPT No matching script. Please use EVAL."))
        self.assertEqual(c.call("EVAL", body, "0", "hi"), Reply("$", b"hi!"))
        self.assertEqual(c.call("EVALSHA", sha.upper(), "0", "again"), Reply("$", b"again!"))
        self.assertEqual(c.call("SCRIPT", "EXISTS", sha, "0" * 40),
                         Reply("*", [Reply(":", 1), Reply(":", 0)]))

    def test_sandbox(self):
        for name in ("os", "io", "loadfile", "dofile", "require", "debug", "print"):
            with self.assertRaises(redis.ResponseError) as cm:
                self.r.eval(f"return {name}", 0)
            self.assertIn(f"nonexistent global variable '{name}'", str(cm.exception))
        for assignment in ("redis = nil", "x = 1", "redis.call = nil", "string.rep = nil",
                           "cjson.encode = tostring"):
            with self.assertRaises(redis.ResponseError) as cm:
                self.r.eval(assignment, 0)
            self.assertIn("Attempt to modify a readonly table", str(cm.exception), assignment)
        self.assertEqual(self.r.eval("return redis.call('PING')", 0), b"PONG")
        self.assertEqual(self.r.eval("return bit.band(12, 10)", 0), 8)

    def test_conversions_and_resp3(self):
        c = self.connect()
        self.assertEqual(c.call("EVAL", "return {1, 2.7, 'x', {ok='fine'}, {err='E bad'}}", "0"),
                         Reply("*", [Reply(":", 1), Reply(":", 2), Reply("$", b"x"),
                                     Reply("+", "fine"), Reply("-", "E bad")]))
        c.call("HSET", "h", "f", "v")
        script = "redis.setresp(3) local m = redis.call('HGETALL', KEYS[1]) return m['map']['f']"
        self.assertEqual(c.call("EVAL", script, "1", "h"), Reply("$", b"v"))
        self.assertEqual(c.call("EVAL", "return redis.call('GET', 'missing')", "0"), Reply("$", None))

    def test_cmsgpack_reads_job_options_packed_outside_lua(self):
        # BullMQ packs job options with msgpack in Node and reads them with cmsgpack.unpack:
        # {"attempts": 3, "backoff": {"type": "exponential", "delay": 300}, "lifo": false}
        packed = (b"\x83\xa8attempts\x03\xa7backoff\x82\xa4type\xabexponential\xa5delay"
                  b"\xcd\x01\x2c\xa4lifo\xc2")
        script = ("local o = cmsgpack.unpack(ARGV[1]) "
                  "return {o.attempts, o.backoff.type, o.backoff.delay, tostring(o.lifo)}")
        self.assertEqual(self.r.eval(script, 0, packed), [3, b"exponential", 300, b"false"])
        self.assertEqual(self.r.eval("return cmsgpack.pack({1, 'a'})", 0), b"\x92\x01\xa1a")

    def test_read_only_scripts_refuse_writes(self):
        with self.assertRaises(redis.ResponseError) as cm:
            self.r.eval_ro("return redis.call('SET', KEYS[1], 'v')", 1, "k")
        self.assertIn("Write commands are not allowed from read-only scripts", str(cm.exception))
        self.r.set("k", "v")
        self.assertEqual(self.r.eval_ro("return redis.call('GET', KEYS[1])", 1, "k"), b"v")

    def test_eval_inside_multi_as_bullmq_flow_producer(self):
        c = self.connect()
        c.call("MULTI")
        c.call("EVAL", "return redis.call('RPUSH', KEYS[1], ARGV[1])", "1", "flow", "parent")
        c.call("EVAL", "return redis.call('RPUSH', KEYS[1], ARGV[1])", "1", "flow", "child")
        self.assertEqual(c.call("EXEC"), Reply("*", [Reply(":", 1), Reply(":", 2)]))

    def test_monitor_marks_script_commands_with_lua(self):
        m = self.connect()
        m.call("MONITOR")
        self.r.eval("return redis.call('SET', KEYS[1], 'v')", 1, "mk")
        # As in Redis, a command reaches MONITOR after it ran: the script's SET comes first.
        self.assertRegex(m.read().value, r'\[0 lua\] "SET" "mk" "v"$')
        self.assertIn('"EVAL"', m.read().value)


class StructTest(ServerTest):
    """struct.pack/unpack/size, replies and errors compared with Debian's redis-server."""

    SCRIPTS = [
        "return struct.pack('>I2', 258)",
        "return struct.pack('<i4 h b B', -2, 513, -1, 255)",
        "return struct.pack('>l', -2)",
        "return struct.pack('<i16', -3)",
        "return struct.pack('<I16', 3)",
        "return struct.pack('!4 b i4 x d', 1, 7, 1.5)",
        "return struct.pack('>f', 0.25)",
        "return struct.pack('c3 s c0', 'abcdef', 'zt', 'whole')",
        "return {struct.unpack('>I2', '\\001\\002')}",
        "return {struct.unpack('<i4', struct.pack('<i4', -123456))}",
        "return {struct.unpack('<i16', struct.pack('<i16', -3))}",
        "return {struct.unpack('<I3 B', struct.pack('<I3 B', 70000, 9), 1)}",
        "return {struct.unpack('>h', 'xx\\255\\254', 3)}",
        "return {struct.unpack('B c0', struct.pack('B c0', 3, 'abc'))}",
        "return {struct.unpack('s s', 'ab\\000cd\\000')}",
        "return {struct.unpack('!8 b d', struct.pack('!8 b d', 1, 2.5))}",
        "return tostring(struct.unpack('>d', struct.pack('>d', -0.125)))",
        "return struct.size('!4 b i4 h')",
        "return struct.size('>I16 c5 x')",
        "return struct.pack('z', 1)",
        "return struct.pack('i33', 1)",
        "return struct.pack('!3 i', 1)",
        "return struct.pack('c5', 'abc')",
        "return struct.pack('i')",
        "return {struct.unpack('i4', 'abc')}",
        "return {struct.unpack('s', 'abc')}",
        "return {struct.unpack('c0', 'abc')}",
        "return {struct.unpack('b', 'a', 0)}",
        "return struct.size('s')",
        "return struct.size('c0')",
        "return struct.pack('i99999999999', 1)",
        "struct.pack = nil return 1",
    ]

    def test_struct_matches_redis(self):
        from harness import RedisServer
        redis_server = RedisServer()
        self.addCleanup(redis_server.stop)
        theirs = redis_server.client()

        def outcome(client, body):
            try:
                return ("ok", client.eval(body, 0))
            except redis.ResponseError as e:
                # The script's sha and Redis' source position ("user_script:1:") vary.
                text = str(e).split(" script: ")[0]
                return ("error", text.replace("user_script:1: ", ""))

        for body in self.SCRIPTS:
            self.assertEqual(outcome(self.r, body), outcome(theirs, body), body)


class ScriptMemoryTest(ServerTest):
    def test_a_script_past_lua_memory_limit_gets_an_error_and_the_server_goes_on(self):
        r = self.r
        r.config_set("lua-memory-limit", str(32 * 1024 * 1024))
        r.set("kept", "yes")
        hog = "local t = {} for i = 1, 1e8 do t[i] = string.rep('x', 64) .. i end return #t"
        with self.assertRaises(redis.ResponseError) as cm:
            r.eval(hog, 0)
        self.assertIn("not enough memory", str(cm.exception))
        # The state collected the garbage: scripts, cached ones too, run on.
        self.assertEqual(r.eval("return redis.call('GET', KEYS[1])", 1, "kept"), b"yes")
        self.assertEqual(r.eval("local t = {} for i = 1, 1000 do t[i] = i end return #t", 0),
                         1000)
        self.assertEqual(r.config_get("lua-memory-limit"), {"lua-memory-limit": "33554432"})
        self.assertError(lambda: r.config_set("lua-memory-limit", "10"),
                         "CONFIG SET failed (possibly related to argument 'lua-memory-limit') - "
                         "argument must be between 1048576 and 1099511627776 inclusive")


class BusyScriptTest(unittest.TestCase):
    """A script past lua-time-limit: others get -BUSY, SCRIPT KILL or SHUTDOWN NOSAVE end it."""

    def setUp(self):
        self.data = data_dir(self, "busy")
        self.s = Scheduler(data_dir=self.data)
        self.addCleanup(lambda: self.s.stop())
        self.r = self.s.client()
        self.r.config_set("lua-time-limit", "100")
        self.r.set("before", "1")

    def start_script(self, body):
        c = RawConnection(self.s.port, timeout=30)
        self.addCleanup(c.close)
        c.send(c.encode("EVAL", body, "0"))
        other = RawConnection(self.s.port)
        self.addCleanup(other.close)
        busy = Reply("-", "BUSY Redis is busy running a script. You can only call SCRIPT KILL or "
                          "SHUTDOWN NOSAVE.")
        wait_for(lambda: other.call("GET", "before") == busy, what="-BUSY")
        return c, other

    def test_script_kill_stops_a_read_only_script(self):
        c, other = self.start_script("while true do end")
        self.assertEqual(other.call("SCRIPT", "KILL"), Reply("+", "OK"))
        killed = c.read()
        self.assertEqual(killed.kind, "-")
        self.assertTrue(killed.value.startswith("ERR Script killed by user with SCRIPT KILL..."))
        self.assertEqual(other.call("GET", "before"), Reply("$", b"1"))
        self.assertEqual(other.call("SCRIPT", "KILL"),
                         Reply("-", "NOTBUSY No scripts in execution right now."))

    def test_a_script_that_wrote_is_unkillable_and_shutdown_nosave_drops_its_effects(self):
        c, other = self.start_script("redis.call('SET', 'partial', 'x') while true do end")
        self.assertTrue(other.call("SCRIPT", "KILL").value.startswith("UNKILLABLE"))
        other.send(other.encode("SHUTDOWN", "NOSAVE"))
        self.assertEqual(self.s.proc.wait(10), 0)
        self.s.stop()
        self.s = Scheduler(data_dir=self.data)
        self.s.wait_loaded()
        r = self.s.client()
        self.assertEqual(r.get("before"), b"1")
        self.assertIsNone(r.get("partial"))  # a script's effects are all or nothing
        r.close()


class ScriptDurabilityTest(unittest.TestCase):
    def test_script_effects_survive_sigkill(self):
        data = data_dir(self, "script")
        s = Scheduler(data_dir=data)
        s.wait_loaded()  # (it listens before it has opened its data)
        r = s.client()
        r.eval("for i = 1, 100 do redis.call('RPUSH', KEYS[1], i) end "
               "redis.call('HSET', KEYS[2], 'n', 100) return 1", 2, "list", "hash")
        r.close()
        s.kill()
        s = Scheduler(data_dir=data)
        self.addCleanup(s.stop)
        s.wait_loaded()
        r = s.client()
        self.assertEqual(r.llen("list"), 100)
        self.assertEqual(r.hget("hash", "n"), b"100")
        r.close()


if __name__ == "__main__":
    main()
