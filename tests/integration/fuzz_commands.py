#!/usr/bin/python3
"""The command fuzzer: drives every command of desaster's command table with adversarial
arguments, built from the grammar that COMMAND DOCS serves (the command table's own; this file
holds none), and checks that no client can crash, freeze or wedge the server.

A run is a series of sessions, each from its own seed:
  compare     one connection, only commands redis-server has, plain keys; the same sequence
              runs on Debian's redis-server, and every reply's kind (error or not, and its RESP
              type) must agree;
  native      one connection on desaster alone: every command, dialect queue keys, and ids taken
              from earlier replies (job, failure, worker ids), so the native API gets past its
              argument checks;
  concurrent  several connections at once on desaster, blocking commands among writers.
After every session: the server is alive; PING on a probe connection was never delayed more
than max(100 ms, 2 x redis-server's delay on the same sequence) x DESASTER_FUZZ_SLOWDOWN; RSS is
under DESASTER_FUZZ_MAX_RSS_MB; DEBUG RELOAD (a load from LevelDB) leaves DEBUG DIGEST as it was.
After the run: a restart gives the same digest, and every command that is not excluded answered
at least DESASTER_FUZZ_MIN_OK times without an error (commands still short of that get native
sessions of their own first, for up to a third of the run's time: random calls rarely get some
of them right, and the assertion must not hang on luck).

The server runs with --appendfsync no: PING replies wait for the commit of writes made in the
same loop iteration, and the probe measures what commands cost the loop, not the disk.

Environment: DESASTER_FUZZ_SECONDS (default 90), DESASTER_FUZZ_SEED (default: random; printed),
DESASTER_FUZZ_ONLY=<session> or <first>-<last> (replay sessions of a seed: a
session starts from the data the ones before it left), DESASTER_FUZZ_SLOWDOWN (default 1;
scripts/test sets it for the sanitizer build), DESASTER_FUZZ_MIN_OK (default 3),
DESASTER_FUZZ_MAX_RSS_MB (default 1024, x the slowdown).
"""
import hashlib
import os
import random
import re
import socket
import sys
import threading
import time

# Scripts return values nested as deep as the Lua stack allows; the reader recurses per level,
# also in the concurrent sessions' threads.
sys.setrecursionlimit(100000)
threading.stack_size(256 << 20)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (SANITIZER_REPORTS, RawConnection, RedisServer, Reply, Scheduler,  # noqa: E402
                     crc64, wait_for)

# What the fuzzer never sends, and why (reviewed; everything else in the table is driven).
EXCLUDED = {
    "shutdown": "stops the server",
    "monitor": "turns the connection into a stream of every command (test_server.py)",
    "client|kill": "may close the probe's or the fuzzer's own connection",
    "client|reply": "OFF and SKIP drop the replies the fuzzer waits for (test_hardening.py)",
}
FUZZ_USERS = ["fz1", "fz2", "fz 3", ""]
# ACL SETUSER's rules, good and bad (the fuzzer gives them to users of its own only).
ACL_RULES = ["on", "off", ">pw", "<pw", "#" + "a" * 64, "#abc", "nopass", "resetpass", "~k*",
             "%R~k1", "%W~k2", "%X~k", "allkeys", "resetkeys", "&ch*", "allchannels",
             "resetchannels", "+@read", "-@all", "+@all", "-@dangerous", "+@nosuch", "+get",
             "-set", "+config|get", "+select|0", "+config|get|x", "(+set ~k2)", "(~k1", "bogus",
             "reset", "clearselectors", ""]
# Forms of a command that are out, by their first argument.
EXCLUDED_FORMS = {
    ("debug", "SLEEP"): "stalls the loop by design",
    ("debug", "RELOAD"): "the fuzzer runs it itself between sessions",
}
# Driven, but never expected to answer without an error, and why.
NEVER_OK = {
    "script|kill": "succeeds only while a script runs past lua-time-limit (test_hardening.py)",
    "config|rewrite": "the servers run without a configuration file, which both refuse",
    "acl|load": "the servers run without an ACL file, which both refuse (test_acl.py loads one)",
    "acl|save": "likewise (test_acl.py saves one)",
    "failover": "a single node has no replicas to hand over to (test_cluster.py hands over)",
    "snapshot.open": "a single node is in no cluster (test_cluster.py copies stores)",
    "snapshot.read": "needs SNAPSHOT.OPEN, which needs a cluster",
    "forwarded": "only a cluster's master takes a replica's link (test_cluster.py forwards)",
    "sentinel|master": "a single node watches no master (test_cluster.py asks a cluster)",
    "sentinel|replicas": "likewise",
    "sentinel|slaves": "likewise",
    "sentinel|sentinels": "likewise",
    "function|kill": "succeeds only while a function runs past lua-time-limit "
                     "(test_functions.py)",
}
# Driven, but not in compared sessions: their answers depend on what cannot be the same on
# both servers.
NOT_COMPARED = {
    "bgsave": "Redis answers by the state of its forked child, which desaster has none of",
    "save": "likewise (refused while Redis' child runs)",
    "debug": "Redis refuses DEBUG unless its configuration enables it",
    "sort": "Redis 7.0 checks errno after strtod without clearing it first: an out-of-range "
            "number read earlier can make it refuse a sort it would do (desaster sorts)",
    "sort_ro": "likewise",
    "client|tracking": "REDIRECT names client ids, which differ between the servers "
                       "(test_tracking.py compares whole tracking sessions)",
    "acl|genpass": "random by design",
    "function|list": "each server lists libraries and functions in its hash tables' order "
                     "(test_functions.py compares them sorted)",
    "function|dump": "Redis compresses the code with LZF, desaster does not (each restores the "
                     "other's: test_functions.py)",
    "acl|log": "entries carry their age and the client's details (test_acl.py compares the rest)",
    "acl|cat": "desaster has commands of its own, and lacks a few (test_acl.py compares those "
               "both have)",
    "acl|list": "Redis lists single commands in its hash table's order (test_acl.py compares "
                "them as sets)",
    "acl|getuser": "likewise",
    "lcs": "desaster refuses a table of more than 2^24 cells (a 10 kB string against another), "
           "which Redis fills for a second",
}
# Connection-state commands: they run on a side connection of their own (subscribed mode, one
# reply per channel), with PUBLISH on the main one reaching them.
PUBSUB_MODE = {"subscribe", "unsubscribe", "psubscribe", "punsubscribe"}
# CONFIG SET touches only these: port, bind, dir, requirepass, maxclients, timeout and the
# limits would end or wedge the run itself, not find a bug.
CONFIG_PARAMETERS = ["slowlog-max-len", "slowlog-log-slower-than", "notify-keyspace-events",
                     "tls-protocols", "tls-auth-clients", "tls-session-cache-size",
                     "no-such-parameter"]

RANDOM_MEMBERS = {"srandmember", "hrandfield", "zrandmember"}
PLAIN_KEYS = ["k1", "k2", "k3", "{t}a", "{t}b", "\x00bin\xff"]
DIALECT_KEYS = ["resque:queue:fz", "queue:fz", "rq:queue:fz", "nq1", "nq2"]
# Native sessions aim half of a family's keys at a key of its type that the preamble makes.
FAMILY_KEYS = {"list": ["nl1"], "hash": ["nh1"], "set": ["nset1"], "sorted-set": ["nz1"],
               "stream": ["ns1"], "string": ["nstr1"], "queue": ["nq1", "nq2"],
               "job": ["nq1", "nq2"], "geo": ["nz1"], "hyperloglog": ["nhll1"]}
WORKERS = ["w1", "w2", "w-restarted"]

INTEGERS = ["0", "1", "-1", "2", "3", "10", "100", "-100", "2147483647", "2147483648",
            "-2147483649", "9223372036854775807", "-9223372036854775808", "9223372036854775808",
            "18446744073709551616", "abc", "", "1.5", "0x10", " 1", "+1", "-0", "4294967296"]
DOUBLES = ["0", "1", "-1", "1.5", "-1.5", "inf", "-inf", "+inf", "nan", "1e308", "-1e308",
           "1e400", "abc", "", "0.000001", "9223372036854775807", "(1"]
TIMEOUTS = ["0.01", "0.02", "0.05", "-1", "abc", "1e400", "nan", "-0.01"]
# (A wait past the end of time blocks for good: test_hardening.py checks that one.)
BLOCK_MS = ["1", "10", "20", "-1", "abc", "-9223372036854775808", "18446744073709551616"]
PATTERNS = ["*", "k*", "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", "[", "[a-", "\\", "?", "k[1-3]",
            "*" * 200 + "x", "a*" * 60 + "b", "[^k]*", "resque:*"]
STREAM_IDS = ["0", "0-1", "1-1", "*", "$", "+", "-", "18446744073709551615-18446744073709551615",
              "abc", "-1", "1-", "(0-1", ">"]
# Consumer groups and consumers: a few names, so that calls meet the groups others made.
GROUP_NAMES = ["g1", "g2", "\x00g"]
CONSUMER_NAMES = ["c1", "c2", ""]
RANGES = ["-inf", "+inf", "(1", "[a", "-", "+", "1", "abc", "(", "[", "0", "(-inf", "nan"]
STRINGS = ["", "v", "xyz", "1", "-1", "3.14", "\x00\xff\r\n", "x" * 10000,
           '{"class":"Add","args":[1,2]}', '{"class":', "[[[[[[[[[[[[[[[[[[[[", "né"]
SCRIPTS = [
    "return 1",
    "return redis.call('get', KEYS[1])",
    "return redis.call('set', KEYS[1], ARGV[1])",
    "return redis.pcall('incr', KEYS[1])",
    "return {1, 2, {3, 'x'}, redis.status_reply('ok')}",
    "local t = {} local x = t for i = 1, 20000 do x[1] = {} x = x[1] end return t",
    "local t = {} t[1] = t return t",
    "return setmetatable({}, {__index = function() error('boom') end})",
    "return cjson.decode(ARGV[1])",
    "return cjson.encode({a = {b = {c = ARGV[1]}}})",
    "return cmsgpack.unpack(cmsgpack.pack({1, {2, {3}}, 'x'}))",
    "rawset(redis, 'call', nil) return 1",
    "getmetatable('').__index = {} return 1",
    "return loadstring(string.dump(function() return 1 end))",
    "return redis.call('keys', '*a*a*a*a*a*a*a*a*a*a*a*a*b')",
    "error({err = 'custom error'})",
    "return redis.error_reply('my error')",
    "local s = string.rep('x', 100000) return #s",
    "return pcall(function() return redis.call('lpush', KEYS[1], 'a') end)",
    "x = 1",
]
SCRIPT_SHAS = [hashlib.sha1(s.encode()).hexdigest() for s in SCRIPTS] + [
    "0000000000000000000000000000000000000000", "abc"]
# FUNCTION LOAD's libraries: one the preambles load (a function that writes, one that only
# reads), and ones that break each rule of the header and of redis.register_function.
LIBRARIES = [
    "#!lua name=fz\n"
    "redis.register_function('fz_write', function(k, a) return redis.call('set', k[1], a[1]) end)\n"
    "redis.register_function{function_name='fz_read', flags={'no-writes'}, "
    "callback=function(k) return redis.call('get', k[1]) end}",
    "#!lua name=fz2\nredis.register_function('fz_loop', function() local t = {} t[1] = t "
    "return t end)",
    "#!lua name=fz\nredis.register_function('fz_write', 5)",
    "#!lua name=bad-name\nredis.register_function('f', function() end)",
    "#!lua\nx", "no header", "#!lua name=x\nredis.call('get', 'x')", "#!lua name=x\nx = 1",
]  # not one that loops: FUNCTION LOAD holds the server its 500 ms by design (test_functions.py)
FUNCTIONS = ["fz_write", "fz_read", "fz_loop", "nosuch", ""]
CONFIG_VALUES = ["0", "1", "128", "-1", "10000", "abc", "", "9223372036854775807", "KEA",
                 "AKEnm", "Kx"]
SCHEDULES = ["s1", "s2", "k1"]
# Native sessions start from these, so that ids (job, failure, worker) exist to be found in
# replies and used: a worker, a queue, a leased job, a failure.
NATIVE_PREAMBLE = [
    ["worker.register", "WORKER.REGISTER", "w1", "QUEUES", "nq1,nq2", "ADAPTERS", "command"],
    ["queue.create", "QUEUE.CREATE", "nq2", "DISCIPLINE", "sfq"],
    ["job.push", "JOB.PUSH", "nq1", '{"class":"Add","args":[1,2]}'],
    ["job.push", "JOB.PUSH", "nq1", '{"class":"Add","args":[3]}', "DELAY", "60000"],
    ["job.push", "JOB.PUSH", "nq2", '{"class":"Sub","args":[]}', "PRIORITY", "5"],
    ["job.fetch", "JOB.FETCH", "w1"],
    # Enough jobs long enough for a dictionary: they wait compressed (payload-compression-delay
    # 0), and the session's commands read, move and delete them that way.
    ["rpush", "RPUSH", "nq1", *[f'{{"class":"Mail","args":[{i},"user{i * 7919}@example.com",'
                                f'{{"campaign":"c{i * 31}"}}]}}' for i in range(10)]],
    ["schedule.set", "SCHEDULE.SET", "s1", "CRON", "0 3 * * *", "QUEUE", "nq1", "PAYLOAD", "{}"],
    ["xadd", "XADD", "ns1", "*", "field", "value"],
    ["xgroup|create", "XGROUP", "CREATE", "ns1", "g1", "0"],
    ["xreadgroup", "XREADGROUP", "GROUP", "g1", "c1", "STREAMS", "ns1", ">"],
    ["rpush", "RPUSH", "nl1", "a", "b", "c"],
    ["hset", "HSET", "nh1", "f1", "v1", "f2", "2"],
    ["sadd", "SADD", "nset1", "m1", "m2", "3"],
    ["zadd", "ZADD", "nz1", "1", "m1", "2", "m2"],
    ["set", "SET", "nstr1", "10"],
    ["pfadd", "PFADD", "nhll1", "a", "b"],
    ["script|load", "SCRIPT", "LOAD", SCRIPTS[0]],
    ["script|load", "SCRIPT", "LOAD", SCRIPTS[1]],
    ["function|load", "FUNCTION", "LOAD", "REPLACE", LIBRARIES[0]],
    # A failure as an unchanged resque worker records one; its id is then found in the list.
    ["rpush", "RPUSH", "resque:failed",
     '{"failed_at":"2026/12/04 10:00:00 UTC","payload":{"class":"Add","args":[1]},'
     '"exception":"RuntimeError","error":"boom","backtrace":[],"worker":"h:1:q","queue":"q"}'],
    ["failed.list", "FAILED.LIST", "LIMIT", "5"],
]

# What a top-up session of a command sends around it, for commands that succeed only in a
# state random calls seldom leave behind. An import's offset is recorded only while an import
# of that source is active; the top-up ends it again, so the server does not stay in import
# mode (no retries, no expiry) for the rest of the run.
TOP_UP_AROUND = {
    "client|caching": ([["client|tracking", "CLIENT", "TRACKING", "ON", "OPTIN"]],
                       [["client|tracking", "CLIENT", "TRACKING", "OFF"]]),
    "import.offset": ([["import.start", "IMPORT.START", "src-a"]],
                      [["import.finish", "IMPORT.FINISH"]]),
    # Alone, they only ever answer "without MULTI": one MULTI before makes the first succeed.
    "discard": ([["multi", "MULTI"]], []),
    "exec": ([["multi", "MULTI"]], []),
}


def kind_of(reply):
    """What the compared sessions compare: the RESP type, and for errors only that."""
    if reply is None:
        return "timeout"
    return reply.kind


# DUMP payloads seen in replies (both servers' encodings), for RESTORE.
PAYLOADS = []


def serialized_value(rng, forge):
    """A RESTORE payload: one a DUMP returned, cut short, or (with `forge`) with bytes of its
    value changed under a valid checksum, so that the decoder, not the checksum, meets them.
    Forged payloads stay out of compared sessions: Redis checks payloads only shallowly unless
    sanitize-dump-payload is on, so the two servers may disagree about them."""
    if not PAYLOADS or rng.random() < 0.15:
        return rng.choice(STRINGS)
    payload = rng.choice(PAYLOADS)
    roll = rng.random()
    if roll < 0.5 or len(payload) <= 10:  # FUNCTION DUMP of no library: a footer only
        return payload
    if roll < 0.65 or not forge:
        return payload[:rng.randrange(len(payload))]
    body = bytearray(payload[:-10])
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(body))
        body[i] = rng.choice([0, 0xff, 0x80, 0x81, 0xc3, rng.randrange(256)])
    if rng.random() < 0.3:
        del body[rng.randrange(len(body)):]
    footer = payload[-10:-8]
    return bytes(body) + footer + crc64(bytes(body) + footer).to_bytes(8, "little")


class Session:
    """Generates commands from the grammar for one seed."""

    def __init__(self, docs, rng, keys, only_these, harvest):
        self.docs, self.rng, self.keys = docs, rng, keys
        self.minimal = False  # this command leaves out every optional argument
        self.only = only_these  # the commands redis-server has, for compared sessions
        self.harvest = harvest  # values seen in earlier replies (native sessions)
        self.numkeys = None
        self.names = sorted(n for n in docs if self.allowed(n))

    def allowed(self, name):
        if name in EXCLUDED:
            return False
        if self.only is not None and (name not in self.only or name in NOT_COMPARED):
            return False
        return True

    def pick(self, pool):
        if self.harvest and self.rng.random() < 0.3:
            return self.rng.choice(self.harvest)
        return self.rng.choice(pool)

    def value(self, arg, command, token):
        name, kind = arg["name"], arg["type"]
        rng = self.rng
        if kind == "key":
            family = FAMILY_KEYS.get(self.docs[command].get("group"))
            if self.only is None and family and rng.random() < 0.5:
                return rng.choice(family)
            return rng.choice(self.keys)
        if token == "BLOCK":
            return rng.choice(BLOCK_MS)
        if name == "timeout" and command == "client|pause":
            # Short pauses only: a long one would hold the probe's PING (ALL) past the bound.
            return rng.choice(["0", "1", "5", "-1", "abc", "9223372036854775808"])
        if name == "timeout" and kind == "integer":  # WAIT's, in milliseconds (0: for good)
            return rng.choice(["1", "10", "-1", "abc", "-9223372036854775808"])
        if name == "timeout":
            return rng.choice(TIMEOUTS)
        if name == "count" and command in RANDOM_MEMBERS and self.only is not None:
            # A huge negative count makes redis-server build a reply of that many elements
            # (desaster refuses one past 2^24): it would stall, or the kernel would kill it.
            return rng.choice(["-3", "-1", "0", "1", "2", "10", "9223372036854775807",
                               "-9223372036854775808", "abc"])
        if self.only is not None and (name in ("seconds", "milliseconds", "ttl") or
                                      kind == "unix-time"):
            # A key that expires during a compared session would expire on one server and not
            # the other: past (deleted at once) or far away only.
            now = int(time.time())
            return rng.choice(["-1", "0", "100000", "9223372036854775807", "abc", str(now - 10),
                               str(now + 100000), str((now + 100000) * 1000)])
        if name == "numkeys":
            n = rng.choice([1, 1, 2, 3, 0, -1, 100])
            self.numkeys = n
            return str(n)
        if name == "script":
            return rng.choice(SCRIPTS)
        if name == "function":
            return rng.choice(FUNCTIONS)
        if name == "function-code":
            return rng.choice(LIBRARIES)
        if name in ("library-name", "library-name-pattern"):
            return rng.choice(["fz", "fz2", "nosuch", "f*", "*"])
        if name == "sha1":
            # The preamble loads the first two scripts; other shas are mostly unknown.
            return rng.choice(SCRIPT_SHAS[:2] if rng.random() < 0.5 else SCRIPT_SHAS)
        if name == "value" and command == "config|set":
            return rng.choice(CONFIG_VALUES)
        if name == "name" and command.startswith("schedule."):
            return rng.choice(SCHEDULES)
        if name == "parameter":
            return rng.choice(CONFIG_PARAMETERS) if command == "config|set" else \
                rng.choice(["*", "slowlog-*", "maxmemory", "a*a*a*a*a*a*a*b"])
        if name == "index" and rng.random() < 0.7:
            return rng.choice(["0", "1", "-1", "2"])  # an element that exists, most of the time
        if name == "username" and command.startswith("acl|"):
            # Never rules for the default user: "off" or "-@all" would lock the fuzzer out.
            return rng.choice(FUZZ_USERS if command == "acl|setuser" else
                              FUZZ_USERS + ["default"])
        if name == "username":
            return rng.choice(["default", "nobody", ""])
        if name == "rule":
            return rng.choice(ACL_RULES)
        if name in ("db", "index", "destination-db"):
            return rng.choice(["0", "1", "15", "16", "-1", "abc"])
        if name in ("command-name", "command"):
            return rng.choice(self.names + ["nosuchcommand", "GET", "config|get"])
        if name == "id" and command.startswith(("job.", "failed.", "completed.")) and \
                self.harvest and rng.random() < 0.6:
            return rng.choice(self.harvest)  # a job or failure id seen in a reply
        if name in ("worker", "host") or (name == "id" and command.startswith("worker.")):
            return rng.choice(WORKERS)
        if name in ("id", "lastid", "last-id", "max-deleted-id") and command.startswith("x"):
            return rng.choice(STREAM_IDS)
        if name == "encoding" and command.startswith("bitfield"):
            return rng.choice(["u8", "i16", "i64", "u63", "u64", "i65", "u0", "x8", ""])
        if name == "offset" and (command.startswith("bitfield") or command.endswith("bit")):
            # A bit far out grows the string to reach it, up to 512 MB at once, as in Redis
            # (test_families.py sets one): the allocation alone outlasts the stall bound.
            # Past the limit, offsets are refused.
            forms = ["0", "1", "7", "8", "100", "100000", "-1", "4294967296",
                     "9223372036854775807", "abc", ""]
            if command.startswith("bitfield"):
                forms += ["#0", "#1", "#-1", "#4294967296", "#"]
            return rng.choice(forms)
        if name == "group" and command.startswith("x"):
            return rng.choice(GROUP_NAMES)
        if name == "consumer" and command.startswith("x"):
            return rng.choice(CONSUMER_NAMES)
        if name in ("start", "end") and command.startswith("x"):
            return rng.choice(STREAM_IDS)
        if name in ("min", "max") and command.startswith("z"):
            return rng.choice(RANGES)
        if name in ("start", "stop") and command == "zrange":
            return rng.choice(RANGES + INTEGERS[:8])
        if name in ("longitude", "latitude"):
            return rng.choice(["13.361389", "-122.27652", "0", "180", "-180", "85.05112878",
                               "-85.05112879", "181", "1e308", "-inf", "nan", "abc", ""])
        if name in ("radius", "width", "height"):
            return rng.choice(["0", "1", "100", "5000", "20000000", "1e308", "inf", "-1",
                               "abc"])
        if name == "subcommand" and command == "pfdebug":
            return rng.choice(["GETREG", "DECODE", "ENCODING", "TODENSE", "NOPE"])
        if name == "discipline":
            return rng.choice(["fifo", "prio", "sfq", "drr", "htb", "bogus"])
        if name == "backoff":
            return rng.choice(["poly", "exp", "5", "-1", "bogus"])
        if name == "cron":
            return rng.choice(["* * * * *", "*/2 * * * * *", "61 * * * *", "abc", "0 3 * * *"])
        if name == "zone":
            return rng.choice(["UTC", "Europe/Berlin", "Nowhere/Atlantis", "../../etc/passwd"])
        if name == "payload":
            return rng.choice(STRINGS)
        if name == "source" and command.startswith("import."):
            return rng.choice(["src-a", "src-a", "src-a", "src-b", "", "a b", "x" * 257])
        if name == "serialized-value":
            return serialized_value(rng, forge=self.only is None)
        if name == "section":
            return rng.choice(["server", "all", "everything", "keyspace", "persistence", "x"])
        if name in ("channel", "message"):
            return rng.choice(["ch", "news.tech", "", "x" * 1000])
        if name == "protover":
            return rng.choice(["2", "3", "4", "-1", "abc"])
        if name == "threshold":
            return rng.choice(INTEGERS[:10] + STREAM_IDS[:4])
        if kind == "integer":
            return self.pick(INTEGERS)
        if kind == "double":
            return rng.choice(DOUBLES)
        if kind == "pattern":
            return rng.choice(PATTERNS)
        if kind == "unix-time":
            now = int(time.time())
            return rng.choice([str(now + 100), str(now * 1000 + 100000), "0", "-1", "abc",
                               "9223372036854775807", str(now - 100)])
        return self.pick(STRINGS + self.keys)

    def args(self, spec, command, out):
        """Appends arguments for a list of argument specs."""
        for arg in spec:
            flags = arg.get("flags", [])
            if "optional" in flags and (self.minimal or self.rng.random() < 0.5):
                continue
            times, counted = 1, False
            if "multiple" in flags:
                times = self.rng.choice([1, 1, 2, 3])
                if arg["type"] == "key" and self.numkeys is not None:
                    if 0 <= self.numkeys <= 3 and self.rng.random() < 0.9:
                        times = max(self.numkeys, 1 if "optional" not in flags else 0)
                    self.numkeys = None
                    counted = True
            start, first_end = len(out), None
            for _ in range(times):
                self.one(arg, command, out)
                if first_end is None:
                    first_end = len(out)
            # The same value named twice (a job id, a key, a member): a command must act on it
            # once or twice as the command says, never on what its first mention freed.
            if "multiple" in flags and not counted and first_end is not None and \
                    first_end > start and self.rng.random() < 0.2:
                out.extend(out[start:first_end])

    def one(self, arg, command, out):
        token = arg.get("token")
        if token is not None:
            out.append(token if self.rng.random() < 0.9 else token.lower())
        kind = arg["type"]
        if kind == "pure-token":
            return
        if kind == "oneof":
            self.one(self.rng.choice(arg["arguments"]), command, out)
        elif kind == "block":
            self.args(arg["arguments"], command, out)
        else:
            out.append(self.value(arg, command, token))

    def command(self):
        name = self.rng.choice(self.names)
        doc = self.docs[name]
        words = name.split("|")
        argv = list(words)
        self.numkeys = None
        self.minimal = self.rng.random() < 0.25
        self.args(doc.get("arguments", []), name, argv)
        # Now and then an argument too many or too few, or raw garbage.
        r = self.rng.random()
        if r < 0.03 and len(argv) > len(words):
            argv.pop()
        elif r < 0.06:
            argv.append(self.rng.choice(STRINGS[:4]))
        if (name, argv[1].upper() if len(argv) > 1 else None) in EXCLUDED_FORMS:
            return self.command()
        return name, argv


    def commands(self, n):
        """n commands; a MULTI it draws is often followed by a well-formed transaction (random
        commands alone rarely reach an EXEC that runs)."""
        out = []
        while len(out) < n:
            name, argv = self.command()
            out.append((name, argv))
            if name == "multi" and self.rng.random() < 0.7:
                out += [self.command() for _ in range(self.rng.randint(1, 3))]
                end = "exec" if self.rng.random() < 0.8 else "discard"
                out.append((end, [end]))
        return out


def read_docs(port):
    """COMMAND DOCS as {name: doc}, subcommands as "parent|sub", with plain Python values."""
    c = RawConnection(port)
    reply = c.call("COMMAND", "DOCS")
    c.close()

    def plain(r):
        if r.kind in "*~":
            return [plain(x) for x in r.value]
        if r.kind == "$":
            return r.value.decode()
        return r.value

    def as_dict(flat):
        return {flat[i]: flat[i + 1] for i in range(0, len(flat), 2)}

    def doc(flat):
        d = as_dict(flat)
        if "arguments" in d:
            d["arguments"] = [arg(a) for a in d["arguments"]]
        return d

    def arg(flat):
        d = as_dict(flat)
        d["flags"] = [f for f in d.get("flags", [])]
        if "arguments" in d:
            d["arguments"] = [arg(a) for a in d["arguments"]]
        return d

    flat = plain(reply)
    docs = {}
    for name, body in as_dict(flat).items():
        d = doc(body)
        subs = d.pop("subcommands", None)
        if subs:
            for sub, sub_body in as_dict(subs).items():
                docs[sub] = doc(sub_body)
        else:
            docs[name] = d
    return docs


class Probe:
    """Pings on its own connection while a session runs; notes the longest wait."""

    def __init__(self, port):
        self.conn = RawConnection(port, timeout=60)
        self.longest = 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            started = time.monotonic()
            reply = self.conn.call("PING")
            took = time.monotonic() - started
            if reply.kind == "-" and reply.value.startswith("BUSY"):
                took = 0.0  # the time limit of a script is Redis' contract, not a stall
            self.longest = max(self.longest, took)
            self.stop.wait(0.005)

    def finish(self):
        self.stop.set()
        self.thread.join()
        self.conn.close()
        return self.longest


class Runner:
    def __init__(self, port, timeout):
        self.port, self.timeout = port, timeout
        self.conn = self.connect()
        self.side = None  # the pub/sub connection

    def connect(self):
        return RawConnection(self.port, timeout=self.timeout)

    def run(self, name, argv):
        """Sends one command; its reply, or None when none came in time (reconnects)."""
        if name in PUBSUB_MODE:
            return self.run_subscribed(argv)
        try:
            reply = self.conn.call(*argv)
            while reply.kind == ">":  # an invalidation (CLIENT TRACKING in RESP3): not a reply
                reply = self.conn.read()
        except (socket.timeout, ConnectionError, OSError):
            self.conn.close()
            self.conn = self.connect()
            return None
        if name == "quit":
            self.conn.close()
            self.conn = self.connect()
        return reply

    def run_subscribed(self, argv):
        if self.side is None:
            self.side = RawConnection(self.port, timeout=self.timeout)
        self.side.send(RawConnection.encode(*argv))
        replies = []
        # The first reply always comes (a CLIENT PAUSE may hold it: Redis ends a pause on its
        # next cron tick, up to 100 ms late); further ones (one per channel) follow at once.
        try:
            replies.append(self.side.read())
            self.side.sock.settimeout(0.05)
            while True:
                replies.append(self.side.read())
        except (socket.timeout, ConnectionError, OSError):
            pass
        self.side.sock.settimeout(self.timeout)
        self.side.buf = b""
        return replies[0] if replies else None

    def close(self):
        self.conn.close()
        if self.side:
            self.side.close()


def snapshot(c):
    """Every key of database 0 with its type and contents, read with ordinary commands."""
    read = {"string": ["GET"], "list": ["LRANGE", None, "0", "-1"], "hash": ["HGETALL"],
            "set": ["SMEMBERS"], "zset": ["ZRANGE", None, "0", "-1", "WITHSCORES"],
            "stream": ["XRANGE", None, "-", "+"]}
    out = {}
    for key in c.call("KEYS", "*").value or []:
        kind = c.call("TYPE", key.value).value
        command = read.get(kind)
        if command is None:
            out[key.value] = (kind, None)
            continue
        argv = [key.value if a is None else a for a in command]
        if len(argv) == 1:
            argv.append(key.value)
        value = c.call(*argv)
        if kind in ("set", "hash"):
            value = sorted(repr(v) for v in value.value or [])
        out[key.value] = (kind, repr(value))
    return out


def harvest_from(reply, out):
    """Remembers strings of earlier replies that look like ids, for later arguments."""
    if reply is None:
        return
    if reply.kind in "$+" and isinstance(reply.value, (bytes, str)):
        text = reply.value.decode(errors="replace") if isinstance(reply.value, bytes) \
            else reply.value
        if re.fullmatch(r"[0-9a-f]{16}|[0-9]+-[0-9]+", text) and text not in out:
            out.append(text)
            del out[:-40]
    elif reply.kind in "*~>" and reply.value:
        for r in reply.value[:50]:
            harvest_from(r, out)
    elif reply.kind == "%":
        for k, v in reply.value[:50]:
            harvest_from(v, out)


class Fuzzer:
    def __init__(self):
        self.seed = os.environ.get("DESASTER_FUZZ_SEED") or str(random.randrange(1 << 32))
        self.only = os.environ.get("DESASTER_FUZZ_ONLY")
        self.seconds = float(os.environ.get("DESASTER_FUZZ_SECONDS", "90"))
        self.slowdown = float(os.environ.get("DESASTER_FUZZ_SLOWDOWN", "1"))
        self.min_ok = int(os.environ.get("DESASTER_FUZZ_MIN_OK", "3"))
        self.max_rss = float(os.environ.get("DESASTER_FUZZ_MAX_RSS_MB", "1024")) * self.slowdown
        self.reply_timeout = 5 * self.slowdown
        self.ok = {}
        self.executed = 0
        self.longest_stall = 0.0
        self.harvest = []

    def log(self, text):
        print(text, flush=True)

    def fail(self, session, what, commands):
        shown = "\n".join("  " + " ".join(repr(a)[:80] for a in argv) for _, argv in commands)
        # Compared sessions start from FLUSHALL: replaying from the last one rebuilds the data.
        first = session - session % 4 if isinstance(session, int) else session
        raise SystemExit(f"FAIL session {session} (DESASTER_FUZZ_SEED={self.seed} "
                         f"DESASTER_FUZZ_ONLY={first}-{session}): {what}\ncommands:\n{shown}")

    def count(self, name, reply):
        """Notes an execution, and whether it answered without an error (QUEUED is neither)."""
        if reply == Reply("+", "QUEUED"):
            return
        self.executed += 1
        if reply is not None and reply.kind != "-":
            self.ok[name] = self.ok.get(name, 0) + 1

    def run_sequence(self, port, commands, check_ok):
        """Runs commands on one connection with a probe; the replies and the longest PING."""
        probe = Probe(port)
        runner = Runner(port, self.reply_timeout)
        replies = []
        try:
            for name, argv in commands:
                reply = runner.run(name, argv)
                replies.append(reply)
                if check_ok:
                    self.count(name, reply)
                    harvest_from(reply, self.harvest)
                if name in ("dump", "function|dump") and reply is not None and \
                        reply.kind == "$" and reply.value:
                    PAYLOADS.append(reply.value)
                    del PAYLOADS[:-20]
        finally:
            runner.close()
            stall = probe.finish()
        return replies, stall

    def run_concurrent(self, port, sequences):
        probe = Probe(port)
        errors = []

        def worker(commands):
            runner = Runner(port, self.reply_timeout)
            try:
                for name, argv in commands:
                    self.count(name, runner.run(name, argv))
            except Exception as e:  # noqa: BLE001 (reported below, with the seed)
                errors.append(e)
            finally:
                runner.close()
        threads = [threading.Thread(target=worker, args=(s,)) for s in sequences]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return errors, probe.finish()

    def check_server(self, session, commands, stall, bound):
        log = self.desaster.log_text()
        if self.desaster.proc.poll() is not None:
            self.fail(session, "the server died:\n" + log[-3000:], commands)
        for marker in SANITIZER_REPORTS:
            if marker in log:
                self.fail(session, "the server reported:\n" + log[log.index(marker) - 200:][:3000],
                          commands)
        c = RawConnection(self.desaster.port, timeout=60)
        if c.call("PING") != Reply("+", "PONG"):
            self.fail(session, "the server does not answer PING", commands)
        self.longest_stall = max(self.longest_stall, stall)
        if stall > bound:
            self.fail(session, f"PING waited {stall * 1000:.0f} ms (bound {bound * 1000:.0f})",
                      commands)
        with open(f"/proc/{self.desaster.proc.pid}/status") as f:
            rss = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024
        if rss > self.max_rss:
            self.fail(session, f"RSS {rss:.0f} MB over {self.max_rss:.0f}", commands)
        # The digest moves with time by itself (a delayed job becomes ready, a key expires), so
        # a difference counts only if it shows up again on the next tries.
        for attempt in range(5):
            contents = snapshot(c)
            before = c.call("DEBUG", "DIGEST")
            reload = c.call("DEBUG", "RELOAD")
            after = c.call("DEBUG", "DIGEST")
            if reload != Reply("+", "OK") or before == after:
                break
            time.sleep(0.05)
        if reload != Reply("+", "OK") or before != after:
            reloaded = snapshot(c)
            changed = {k: (contents.get(k), reloaded.get(k)) for k in set(contents) | set(reloaded)
                       if contents.get(k) != reloaded.get(k)}
            self.fail(session, f"DEBUG RELOAD changed the data: {before} -> {after} ({reload});"
                      f" keys that differ (before, after): {changed!r:.3000}", commands)
        c.close()

    def short_of_answers(self):
        """The commands that answered without an error fewer than min_ok times so far."""
        return sorted(n for n in self.docs if n not in EXCLUDED and n not in NEVER_OK and
                      self.ok.get(n, 0) < self.min_ok)

    def top_up(self, index, names):
        """A native session of only `names` (commands random calls rarely get right)."""
        rng = random.Random(f"{self.seed}:top-up:{index}")
        gen = Session(self.docs, rng, DIALECT_KEYS + PLAIN_KEYS[:2], None, self.harvest)
        gen.names = names
        before = [p for n in names for p in TOP_UP_AROUND.get(n, ([], []))[0]]
        after = [p for n in names for p in TOP_UP_AROUND.get(n, ([], []))[1]]
        commands = [(p[0], p[1:]) for p in NATIVE_PREAMBLE + before] + gen.commands(40) + \
            [(p[0], p[1:]) for p in after]
        _, stall = self.run_sequence(self.desaster.port, commands, True)
        self.check_server(f"top-up {index}", commands, stall, 0.1 * self.slowdown)

    def session(self, index):
        rng = random.Random(f"{self.seed}:{index}")
        kind = ["compare", "compare", "native", "concurrent"][index % 4]
        if index % 4 == 0:
            self.harvest.clear()  # each block of four starts afresh, so it replays alone
        if kind == "compare":
            gen = Session(self.docs, rng, PLAIN_KEYS, self.redis_commands, None)
            commands = gen.commands(rng.randint(20, 60))
            for server in (self.redis, self.desaster):
                c = RawConnection(server.port)
                c.call("FLUSHALL")
                c.call("SCRIPT", "FLUSH")
                c.call("FUNCTION", "FLUSH")
                # Native and concurrent sessions make users on desaster only.
                c.call("ACL", "DELUSER", *FUZZ_USERS)
                c.close()
            self.align_config()
            redis_replies, redis_stall = self.run_sequence(self.redis.port, commands, False)
            replies, stall = self.run_sequence(self.desaster.port, commands, True)
            for n, (cmd, mine, theirs) in enumerate(zip(commands, replies, redis_replies)):
                if kind_of(mine) != kind_of(theirs):
                    self.fail(index, f"command {n} {cmd[1]!r}: desaster {mine!r:.200} "
                              f"redis-server {theirs!r:.200}", commands[:n + 1])
            bound = max(0.1, 2 * redis_stall) * self.slowdown
        elif kind == "native":
            gen = Session(self.docs, rng, DIALECT_KEYS + PLAIN_KEYS[:2], None, self.harvest)
            preamble = [(p[0], p[1:]) for p in NATIVE_PREAMBLE]
            commands = preamble + gen.commands(rng.randint(20, 60))
            _, stall = self.run_sequence(self.desaster.port, commands, True)
            bound = 0.1 * self.slowdown
        else:
            gen = Session(self.docs, rng, DIALECT_KEYS[:2] + PLAIN_KEYS[:3], None, self.harvest)
            sequences = [gen.commands(rng.randint(10, 30)) for _ in range(3)]
            commands = [c for s in sequences for c in s]
            errors, stall = self.run_concurrent(self.desaster.port, sequences)
            if errors:
                self.fail(index, f"a connection failed: {errors[0]!r}", commands)
            bound = 0.1 * self.slowdown
        self.check_server(index, commands, stall, bound)

    def align_config(self):
        """Gives desaster the configuration redis-server has: native and concurrent sessions
        CONFIG SET desaster alone (notify-keyspace-events then sends one of them messages the
        other does not)."""
        theirs, mine = RawConnection(self.redis.port), RawConnection(self.desaster.port)
        for name in CONFIG_PARAMETERS:
            pair = theirs.call("CONFIG", "GET", name).value or []
            if pair:
                reply = mine.call("CONFIG", "SET", name, pair[1].value)
                assert reply.kind == "+", f"CONFIG SET {name} {pair[1].value!r}: {reply!r}"
        theirs.close()
        mine.close()

    def main(self):
        self.log(f"command fuzzer: seed {self.seed} ({self.seconds:.0f} s; replay with "
                 f"DESASTER_FUZZ_SEED={self.seed})")
        # Jobs are compressed at the first round after they come (a round a second at most).
        self.desaster = Scheduler("--appendfsync", "no", "--payload-compression-delay", "0")
        self.redis = RedisServer()
        try:
            self.desaster.wait_loaded()
            self.docs = read_docs(self.desaster.port)
            self.redis_commands = set(read_docs(self.redis.port))
            if self.only is not None:
                first, _, last = self.only.partition("-")
                for index in range(int(first), int(last or first) + 1):
                    self.session(index)
                self.log("sessions passed")
                return
            deadline = time.monotonic() + self.seconds
            index = 0
            while time.monotonic() < deadline:
                self.session(index)
                index += 1
            # Commands still short of answers get sessions of their own, for a bounded time.
            deadline = time.monotonic() + self.seconds / 3
            top_ups = 0
            while self.short_of_answers() and time.monotonic() < deadline:
                self.top_up(top_ups, self.short_of_answers())
                top_ups += 1
            self.log(f"{top_ups} top-up sessions")
            self.check_restart()
            self.report(index)
        finally:
            self.desaster.stop()
            self.redis.stop()

    def check_restart(self):
        c = RawConnection(self.desaster.port)
        # The sessions met compressed jobs (the last ones' preambles pushed some).
        compressed = wait_for(lambda: int(re.search(
            rb"compressed_payloads:(\d+)", c.call("INFO", "memory").value).group(1)), timeout=10,
            what="compressed payloads")
        self.log(f"{compressed} payloads compressed at the end")
        before = c.call("DEBUG", "DIGEST")
        c.close()
        data = self.desaster.data_dir
        self.desaster.proc.terminate()
        self.desaster.proc.wait(60)
        restarted = Scheduler("--appendfsync", "no", data_dir=data)
        try:
            restarted.wait_loaded()
            c = RawConnection(restarted.port)
            after = c.call("DEBUG", "DIGEST")
            c.close()
        finally:
            restarted.stop()
        if before != after:
            raise SystemExit(f"FAIL (DESASTER_FUZZ_SEED={self.seed}): a restart changed the "
                             f"digest: {before} -> {after}")

    def report(self, sessions):
        expected = sorted(n for n in self.docs if n not in EXCLUDED and n not in NEVER_OK)
        short = self.short_of_answers()
        self.log(f"{sessions} sessions, {self.executed} commands, crashes 0, longest PING "
                 f"stall {self.longest_stall * 1000:.1f} ms")
        if short:
            counts = ", ".join(f"{n}={self.ok.get(n, 0)}" for n in short)
            raise SystemExit(f"FAIL (DESASTER_FUZZ_SEED={self.seed}): fewer than {self.min_ok} "
                             f"answers without an error: {counts}")
        least = min(expected, key=lambda n: self.ok.get(n, 0))
        self.log(f"every one of {len(expected)} commands answered at least {self.min_ok} times "
                 f"without an error (the fewest: {least}, {self.ok.get(least, 0)})")
        self.log("1 passed, 0 failed")


if __name__ == "__main__":
    Fuzzer().main()
