#!/usr/bin/python3
"""FUNCTION and FCALL side by side with redis-server: the same calls, the same replies (errors
included, word for word); libraries durable across kills; payloads of FUNCTION DUMP restored
from one server into the other; a busy function stopped by FUNCTION KILL."""
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redis  # noqa: E402
from differential import sorted_function_list  # noqa: E402
from harness import RawConnection, RedisServer, Reply, Scheduler, data_dir, main, wait_for  # noqa: E402

LIBRARY = """#!lua name=mylib
local function hello(keys, args) return 'hello ' .. (args[1] or 'nobody') end
redis.register_function('hello', hello)
redis.register_function{function_name='getk', description='reads a key', flags={'no-writes'},
                        callback=function(keys) return redis.call('GET', keys[1]) end}
redis.register_function('setk', function(keys, args) return redis.call('SET', keys[1], args[1]) end)
redis.register_function('shapes', function(keys, args)
  return {#keys, #args, 1.5, true, false, {ok='fine'}, redis.pcall('INCR', 'notanumber')}
end)
redis.register_function('resp3', function() redis.setresp(3) return redis.call('HGETALL', 'h') end)
redis.register_function('fails', function() return nosuch.field end)
redis.register_function{function_name='allowoom', callback=function() return 1 end,
                        flags={'allow-oom', 'allow-stale', 'no-cluster', 'allow-cross-slot-keys'}}
"""

# (code, what it shows): libraries Redis refuses, each for another reason.
REFUSED = [
    "no header\nredis.register_function('f', function() end)",
    "#!lua\nredis.register_function('f', function() end)",
    "#!lua name=a name=b\nredis.register_function('f', function() end)",
    "#!lua name=a other=b\nredis.register_function('f', function() end)",
    "#!lua name=bad-name\nredis.register_function('f', function() end)",
    "#!js name=js\nredis.register_function('f', function() end)",
    "#!lua name=nofunctions\nlocal x = 1",
    "#!lua name=syntax\nredis.register_function('f', function() end",
    "#!lua name=atload\nredis.call('GET', 'x')",
    "#!lua name=globals\nx = 1",
    "#!lua name=stringlib\nlocal n = string.len('x')",
    "#!lua name=badname\nredis.register_function('a-b', function() end)",
    "#!lua name=twice\nredis.register_function('f', function() end)\n"
    "redis.register_function('f', function() end)",
    "#!lua name=notfn\nredis.register_function('f', 5)",
    "#!lua name=noargs\nredis.register_function()",
    "#!lua name=notable\nredis.register_function('f')",
    "#!lua name=badflag\nredis.register_function{function_name='f', callback=function() end, "
    "flags={'bogus'}}",
    "#!lua name=flagsnottable\nredis.register_function{function_name='f', "
    "callback=function() end, flags='no-writes'}",
    "#!lua name=nocallback\nredis.register_function{function_name='f'}",
    "#!lua name=noname\nredis.register_function{callback=function() end}",
    "#!lua name=unknownkey\nredis.register_function{function_name='f', callback=function() end, "
    "what=1}",
    "#!lua name=taken\nredis.register_function('hello', function() end)",
    "#!lua name=mylib\nredis.register_function('other', function() end)",
    "#!lua name=raises\nerror('boom')",
    "#!lua name=slow\nwhile true do end",
]


def session(port):
    c = RawConnection(port)
    out = []

    def call(*args):
        out.append(c.call(*args))
        return out[-1]

    call("FUNCTION", "FLUSH")
    call("FUNCTION", "LOAD", LIBRARY)
    for code in REFUSED:
        call("FUNCTION", "LOAD", code)
    call("FUNCTION", "LOAD", "REPLACE", LIBRARY)
    call("FUNCTION", "LOAD", "NOPE", LIBRARY)
    for args in (["hello", "0", "bob"], ["setk", "1", "k", "v"], ["getk", "1", "k"],
                 ["shapes", "2", "a", "b", "c"], ["fails", "0"], ["nosuch", "0"],
                 ["hello", "x"], ["hello", "-1"], ["hello", "5", "a"], ["allowoom", "0"]):
        call("FCALL", *args)
        call("FCALL_RO", *args)
    call("HSET", "h", "f", "v")
    call("FCALL", "resp3", "0")
    c.call("HELLO", "3")  # its reply names the connection's id, which differs
    call("FCALL", "resp3", "0")
    out.append(sorted_function_list(c.call("FUNCTION", "LIST")))
    out.append(sorted_function_list(c.call("FUNCTION", "LIST", "WITHCODE", "LIBRARYNAME", "MY*")))
    call("FUNCTION", "STATS")
    c.call("HELLO", "2")
    out.append(sorted_function_list(c.call("FUNCTION", "LIST", "LIBRARYNAME", "nomatch*")))
    for args in (["LIBRARYNAME"], ["WITHCODE", "WITHCODE"], ["bogus"]):
        call("FUNCTION", "LIST", *args)
    call("FUNCTION", "STATS")
    call("FUNCTION", "KILL")
    call("FUNCTION", "DELETE", "nosuch")
    call("FUNCTION", "FLUSH", "bogus")
    call("FUNCTION", "FLUSH", "ASYNC", "extra")
    call("FUNCTION", "RESTORE", "not a payload")
    call("FUNCTION", "RESTORE", "x", "bogus")
    call("FUNCTION", "RESTORE", "x", "APPEND", "extra")
    call("FUNCTION", "DELETE", "mylib")
    call("FCALL", "hello", "0")
    call("FUNCTION", "STATS")
    c.close()
    return out


class FunctionTest(unittest.TestCase):
    def servers(self, **kwargs):
        redis_server, ours = RedisServer(), Scheduler(**kwargs)
        self.addCleanup(redis_server.stop)
        self.addCleanup(ours.stop)
        ours.wait_loaded()
        return redis_server, ours

    def test_functions_answer_as_redis_does(self):
        redis_server, ours = self.servers()
        theirs, mine = session(redis_server.port), session(ours.port)
        self.assertEqual(len(mine), len(theirs))
        for i, (a, b) in enumerate(zip(theirs, mine)):
            self.assertEqual(b, a, f"reply {i}")
        self.assertIn(Reply("$", b"hello bob"), mine)
        self.assertIn(Reply("-", "ERR Error registering functions: ERR FUNCTION LOAD timeout"), mine)

    def test_libraries_survive_kills_and_payloads_cross_servers(self):
        data = data_dir(self, "functions")
        redis_server = RedisServer()
        self.addCleanup(redis_server.stop)
        theirs = redis.Redis(port=redis_server.port)
        ours = Scheduler(data_dir=data)
        try:
            ours.wait_loaded()
            mine = redis.Redis(port=ours.port)
            self.assertEqual(mine.function_load(LIBRARY), b"mylib")
            mine.function_load("#!lua name=second\nredis.register_function('two', "
                               "function() return 2 end)")
            mine.function_load("#!lua name=gone\nredis.register_function('g', function() end)")
            self.assertTrue(mine.function_delete("gone"))
            listing = sorted_listing_of(mine)
        finally:
            ours.kill()
        ours = Scheduler(data_dir=data)
        try:
            ours.wait_loaded()
            mine = redis.Redis(port=ours.port)
            self.assertEqual(sorted_listing_of(mine), listing)
            self.assertEqual(mine.fcall("two", 0), 2)
            self.assertEqual(mine.fcall("hello", 0, "again"), b"hello again")
            # Desaster's payload into Redis, and Redis' own back into desaster.
            payload = mine.function_dump()
            self.assertTrue(theirs.function_restore(payload))
            self.assertEqual(sorted_listing_of(theirs), listing)
            with self.assertRaisesRegex(redis.ResponseError, "already exists"):
                theirs.function_restore(payload)
            theirs.function_load("#!lua name=fromredis\nredis.register_function('three', "
                                 "function() return 3 end)")
            self.assertTrue(mine.function_restore(theirs.function_dump(), "REPLACE"))
            self.assertEqual(mine.fcall("three", 0), 3)
            self.assertTrue(mine.function_restore(payload, "FLUSH"))
            self.assertEqual(sorted_listing_of(mine), listing)
            mine.execute_command("DEBUG", "RELOAD")
            self.assertEqual(sorted_listing_of(mine), listing)
            self.assertTrue(mine.function_flush())
        finally:
            ours.kill()
        ours = Scheduler(data_dir=data)
        self.addCleanup(ours.stop)
        ours.wait_loaded()
        self.assertEqual(redis.Redis(port=ours.port).function_list(), [])

    def test_a_busy_function_is_stopped_by_function_kill(self):
        answers = []
        for server in self.servers():
            c = redis.Redis(port=server.port)
            c.config_set("lua-time-limit", 50)
            c.function_load("#!lua name=busy\nredis.register_function{function_name='spin', "
                            "callback=function() while true do end end, flags={'no-writes'}}")
            runner = RawConnection(server.port)
            self.addCleanup(runner.close)
            runner.send(runner.encode("FCALL", "spin", "0"))
            other = RawConnection(server.port)
            self.addCleanup(other.close)
            wait_for(lambda: other.call("PING").kind == "-", what="the function to be busy")
            seen = [other.call("PING"), other.call("SCRIPT", "KILL")]
            stats = other.call("FUNCTION", "STATS")
            running = dict((k.value, v) for k, v in zip(stats.value[0::2], stats.value[1::2]))
            details = running[b"running_script"].value
            seen.append(details[:4])  # name and command; the duration differs
            seen.append(other.call("FUNCTION", "KILL"))
            seen.append(runner.read())
            seen.append(other.call("PING"))
            answers.append(seen)
        self.assertEqual(answers[1], answers[0])
        self.assertEqual(answers[1][-1], Reply("+", "PONG"))


def sorted_listing_of(client):
    """FUNCTION LIST WITHCODE through redis-py, libraries and their functions sorted."""
    libraries = []
    for library in client.function_list(withcode=True):
        fields = dict(zip(library[0::2], library[1::2]))
        fields[b"functions"] = sorted(fields[b"functions"], key=repr)
        libraries.append(repr(sorted(fields.items())))
    return sorted(libraries)


if __name__ == "__main__":
    main()
