#!/usr/bin/python3
"""Differential test: seeded random command sequences run against Debian's redis-server and
desaster side by side; every reply must match exactly (type and text), except where Redis itself
leaves the order unspecified (set members, hash fields, KEYS), which is compared sorted.

  DESASTER_DIFF_SEEDS=N     number of seeds (default 40)
  DESASTER_DIFF_SEED=S      run only seed S (to reproduce a failure)
  DESASTER_DIFF_FIRST=F     first seed of the range (default 1000)
  DESASTER_DIFF_LENGTH=L    commands per seed (default 400)
"""
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import RawConnection, RedisServer, Reply, Scheduler  # noqa: E402

SCRIPTS = [
    "return redis.call('SET', KEYS[1], ARGV[1])",
    "return redis.call('GET', KEYS[1])",
    "return redis.call('INCR', KEYS[1])",
    "return redis.pcall('INCR', KEYS[1])",
    "return {1, 'two', 3.99, true, false, nil, 5}",
    "return redis.call('LRANGE', KEYS[1], 0, -1)",
    "return redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')",
    "return cjson.encode({redis.call('TYPE', KEYS[1])})",
    "return redis.status_reply('DONE')",
    "return redis.error_reply('MYERR bad')",
    "return x",
    "y = 1",
    "return redis.call('RPUSH', KEYS[1], unpack(ARGV))",
    "return redis.call('SET', KEYS[1])",
    "return redis.call('NOSUCH')",
    "local n = redis.call('LLEN', KEYS[1]) if n > 1 then return redis.call('LPOP', KEYS[1]) end return n",
    "return redis.call('HINCRBY', KEYS[1], 'f', 2)",
    "return bit.bxor(tonumber(ARGV[1]) or 0, 5)",
    "return redis.call('ZADD', KEYS[1], ARGV[1], 'm')",
    "return redis.sha1hex(ARGV[1])",
    "return cmsgpack.pack({ARGV[1], tonumber(ARGV[2]) or ARGV[2], {k = ARGV[1]}, true, 1.5})",
    "local t = cmsgpack.unpack(cmsgpack.pack({a = {1, 2, ARGV[1]}, n = tonumber(ARGV[2]) or -1})) return {t.a[3], t.n}",
    "return cmsgpack.unpack(ARGV[1])",
]

# FUNCTION LOAD's libraries: functions that write and read, one taking a name another library
# has, one refused.
FUNCTION_LIBRARIES = [
    "#!lua name=dlib\n"
    "redis.register_function('dset', function(k, a) return redis.call('SET', k[1], a[1]) end)\n"
    "redis.register_function{function_name='dget', flags={'no-writes'}, "
    "callback=function(k) return redis.call('GET', k[1]) end}",
    "#!lua name=dlib2\nredis.register_function('dhincr', "
    "function(k) return redis.call('HINCRBY', k[1], 'f', 1) end)",
    "#!lua name=dlib2\nredis.register_function('dget', function() return 1 end)",
    "#!lua name=dbad\nredis.register_function('x', 5)",
]

KEYS = ["k0", "k1", "k2", "k3", "k4", "k\x00bin"]
FIELDS = ["f0", "f1", "f2", "f3", ""]
VALUES = ["", "0", "1", "-5", "10", "3.5", "abc", "a" * 50, "9223372036854775807", "1e3", "x y"]
SCORES = ["0", "1", "-1", "2.5", "+inf", "-inf", "(1", "(2.5", "abc", "1e2", "-0"]
LEX = ["-", "+", "[a", "(a", "[b", "(c", "[", "x", "[f1"]
INTS = ["0", "1", "-1", "2", "-2", "3", "5", "-100", "100", "x", "9223372036854775807"]

# Replies whose element order Redis does not define: compared as sorted lists. (A set is in a
# defined order only as an intset, which test_families.py compares; hashes here stay small, and
# a small hash's order, insertion order, is compared.)
UNORDERED = {"smembers", "sinter", "sunion", "sdiff", "keys"}

GEO_POINTS = [[lon, lat, "p%d" % n] for n, (lon, lat) in enumerate(
    [("13.361389", "38.115556"), ("15.087269", "37.502669"), ("-122.27652", "37.805186"), ("0", "0"),
     ("179.999", "85.05"), ("-180", "-85.05112878"), ("2.3522", "48.8566"), ("13.583333", "37.316667"),
     ("12.758489", "38.788135"), ("-0.1276", "51.5072")])]
GEO_MEMBERS = [p[2] for p in GEO_POINTS]
GEO_LONS = ["15", "13.5", "-122.3", "0", "180", "-179.9", "x", "181"]
GEO_LATS = ["37", "38.2", "37.8", "0", "85", "-85", "x", "-86"]
GEO_RADII = ["0", "1", "200", "5000", "100000", "20000000", "-1", "x"]
GEO_UNITS = ["m", "km", "mi", "FT", "parsec"]


def geo_options(rng, may_store):
    options = rng.sample(["WITHDIST", "WITHCOORD", "WITHHASH", "ASC", "DESC", "ANY"], rng.randint(0, 3))
    options += rng.choice([[], [], ["COUNT", "100"], ["COUNT", pick(rng, ["1", "2"]), "ANY"], ["COUNT", pick(rng, ["0", "-1", "x"])]])
    if may_store:
        options += rng.choice([[], [], ["STORE", pick(rng, KEYS)], ["STOREDIST", pick(rng, KEYS)]])
    return rng.sample(options, len(options)) if rng.random() < 0.2 else options


def geo_shape(rng):
    centre = rng.choice([["FROMMEMBER", pick(rng, GEO_MEMBERS + ["nope"])], ["FROMLONLAT", pick(rng, GEO_LONS), pick(rng, GEO_LATS)], []])
    shape = rng.choice([["BYRADIUS", pick(rng, GEO_RADII), pick(rng, GEO_UNITS)],
                        ["BYBOX", pick(rng, GEO_RADII), pick(rng, GEO_RADII), pick(rng, GEO_UNITS)], []])
    parts = [centre, shape]
    rng.shuffle(parts)
    return parts[0] + parts[1]


def pick(rng, xs):
    return rng.choice(xs)


def gen_command(rng):
    k, k2 = pick(rng, KEYS), pick(rng, KEYS)
    v, f, i = pick(rng, VALUES), pick(rng, FIELDS), pick(rng, INTS)
    g, c = pick(rng, ["g1", "g2"]), pick(rng, ["c1", "c2", "c3"])
    gens = [
        # strings
        lambda: ["SET", k, v] + rng.choice([[], ["NX"], ["XX"], ["GET"], ["EX", "100"],
                                             ["PX", "0"], ["KEEPTTL"], ["NX", "XX"], ["EX", "x"],
                                             ["EX", "-1"], ["GET", "NX"], ["EXAT", "99999999999"]]),
        lambda: ["GET", k], lambda: ["SETNX", k, v], lambda: ["SETEX", k, pick(rng, ["100", "0", "-1", "x", "9223372036854775807"]), v],
        lambda: ["GETSET", k, v], lambda: ["GETDEL", k], lambda: ["GETEX", k, "PERSIST"],
        lambda: ["MGET", k, k2, "nokey"], lambda: ["MSET", k, v, k2, v],
        lambda: ["MSETNX", k, v, k2], lambda: ["APPEND", k, v], lambda: ["STRLEN", k],
        lambda: ["INCR", k], lambda: ["DECR", k], lambda: ["INCRBY", k, i], lambda: ["DECRBY", k, i],
        lambda: ["INCRBYFLOAT", k, pick(rng, VALUES + ["1.5", "-0.5", "inf"])],
        lambda: ["GETRANGE", k, i, pick(rng, INTS)], lambda: ["SETRANGE", k, pick(rng, ["0", "3", "-1"]), v],
        # keys
        lambda: ["DEL", k, k2], lambda: ["EXISTS", k, k2, k], lambda: ["TYPE", k],
        lambda: ["RENAME", k, k2], lambda: ["RENAMENX", k, k2], lambda: ["KEYS", pick(rng, ["*", "k?", "k[0-2]", "*bin"])],
        lambda: ["EXPIRE", k, pick(rng, ["100", "-1", "x", "0"])] + rng.choice([[], ["NX"], ["XX"], ["GT"], ["LT"], ["NX", "XX"], ["FOO"]]),
        lambda: ["PEXPIRE", k, "100000"], lambda: ["TTL", k], lambda: ["PERSIST", k],
        lambda: ["EXPIRETIME", k], lambda: ["DBSIZE"], lambda: ["COPY", k, k2] + rng.choice([[], ["REPLACE"], ["DB", "1"], ["DB", "99"]]),
        lambda: ["MOVE", k, pick(rng, ["1", "0", "99", "x"])], lambda: ["SELECT", pick(rng, ["0", "1", "16", "x"])],
        lambda: ["UNLINK", k], lambda: ["SWAPDB", pick(rng, ["0", "1", "1", "x", "16", "-1", "4294967296"]), pick(rng, ["0", "1"])],
        # lists
        lambda: [pick(rng, ["LPUSH", "RPUSH", "LPUSHX", "RPUSHX"]), k, v, pick(rng, VALUES)],
        lambda: [pick(rng, ["LPOP", "RPOP"]), k] + rng.choice([[], [pick(rng, ["0", "1", "3", "-1", "x"])]]),
        lambda: ["LLEN", k], lambda: ["LRANGE", k, i, pick(rng, INTS)], lambda: ["LINDEX", k, i],
        lambda: ["LSET", k, i, v], lambda: ["LINSERT", k, pick(rng, ["BEFORE", "AFTER", "X"]), v, pick(rng, VALUES)],
        lambda: ["LREM", k, i, v], lambda: ["LTRIM", k, i, pick(rng, INTS)],
        lambda: ["LPOS", k, v] + rng.choice([[], ["RANK", i], ["COUNT", pick(rng, ["0", "2", "-1"])], ["MAXLEN", "2"], ["RANK", "-1", "COUNT", "0"]]),
        lambda: ["RPOPLPUSH", k, k2], lambda: ["LMOVE", k, k2, pick(rng, ["LEFT", "RIGHT", "UP"]), pick(rng, ["LEFT", "RIGHT"])],
        lambda: ["LMPOP", pick(rng, ["1", "2", "0", "x"]), k, k2, pick(rng, ["LEFT", "RIGHT"])] + rng.choice([[], ["COUNT", "2"], ["COUNT", "0"]]),
        lambda: ["BLPOP", k, k2, "0.01"], lambda: ["BRPOP", k, "0.01"],
        # hashes
        lambda: ["HSET", k, f, v] + rng.choice([[], [pick(rng, FIELDS), v], [f]]),
        lambda: ["HSETNX", k, f, v], lambda: ["HMSET", k, f, v], lambda: ["HGET", k, f],
        lambda: ["HMGET", k, f, pick(rng, FIELDS)], lambda: ["HGETALL", k], lambda: ["HDEL", k, f, pick(rng, FIELDS)],
        lambda: ["HEXISTS", k, f], lambda: ["HLEN", k], lambda: ["HKEYS", k], lambda: ["HVALS", k],
        lambda: ["HINCRBY", k, f, i], lambda: ["HINCRBYFLOAT", k, f, pick(rng, VALUES)], lambda: ["HSTRLEN", k, f],
        # sets
        lambda: ["SADD", k, v, pick(rng, VALUES)], lambda: ["SREM", k, v], lambda: ["SMEMBERS", k],
        lambda: ["SISMEMBER", k, v], lambda: ["SMISMEMBER", k, v, pick(rng, VALUES)], lambda: ["SCARD", k],
        lambda: ["SMOVE", k, k2, v], lambda: [pick(rng, ["SINTER", "SUNION", "SDIFF"]), k, k2],
        lambda: [pick(rng, ["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]), k, k2, pick(rng, KEYS)],
        lambda: ["SINTERCARD", pick(rng, ["1", "2", "3", "0"]), k, k2] + rng.choice([[], ["LIMIT", "1"], ["LIMIT", "-1"]]),
        lambda: ["SPOP", k, "0"],
        # sorted sets
        lambda: ["ZADD", k] + rng.choice([[], ["NX"], ["XX"], ["GT"], ["LT"], ["CH"], ["INCR"], ["NX", "GT"], ["XX", "CH"]]) + [pick(rng, SCORES[:6] + ["x"]), pick(rng, FIELDS)],
        lambda: ["ZADD", k, "1", "a", "1", "b", "1", "c", "2", "f1"],
        lambda: ["ZINCRBY", k, pick(rng, SCORES[:6]), f], lambda: ["ZREM", k, f, pick(rng, FIELDS)], lambda: ["ZCARD", k],
        lambda: ["ZSCORE", k, f], lambda: ["ZMSCORE", k, f, "a"], lambda: [pick(rng, ["ZRANK", "ZREVRANK"]), k, f],
        lambda: ["ZCOUNT", k, pick(rng, SCORES), pick(rng, SCORES)], lambda: ["ZLEXCOUNT", k, pick(rng, LEX), pick(rng, LEX)],
        lambda: ["ZRANGE", k, i, pick(rng, INTS)] + rng.choice([[], ["WITHSCORES"], ["REV"], ["REV", "WITHSCORES"], ["LIMIT", "0", "1"]]),
        lambda: ["ZRANGE", k, pick(rng, SCORES), pick(rng, SCORES), "BYSCORE"] + rng.choice([[], ["REV"], ["LIMIT", "1", "2"], ["WITHSCORES"], ["REV", "LIMIT", "0", "-1"]]),
        lambda: ["ZRANGE", k, pick(rng, LEX), pick(rng, LEX), "BYLEX"] + rng.choice([[], ["REV"], ["LIMIT", "1", "1"], ["WITHSCORES"]]),
        lambda: [pick(rng, ["ZRANGEBYSCORE", "ZREVRANGEBYSCORE"]), k, pick(rng, SCORES), pick(rng, SCORES)] + rng.choice([[], ["WITHSCORES"], ["LIMIT", "0", "2"]]),
        lambda: [pick(rng, ["ZRANGEBYLEX", "ZREVRANGEBYLEX"]), k, pick(rng, LEX), pick(rng, LEX)],
        lambda: ["ZREVRANGE", k, i, pick(rng, INTS), "WITHSCORES"],
        lambda: ["ZREMRANGEBYRANK", k, i, pick(rng, INTS)], lambda: ["ZREMRANGEBYSCORE", k, pick(rng, SCORES), pick(rng, SCORES)],
        lambda: ["ZREMRANGEBYLEX", k, pick(rng, LEX), pick(rng, LEX)],
        lambda: [pick(rng, ["ZPOPMIN", "ZPOPMAX"]), k] + rng.choice([[], ["2"], ["-1"]]),
        lambda: ["BZPOPMIN", k, k2, "0.01"],
        lambda: ["ZMPOP", pick(rng, ["1", "2"]), k, k2, pick(rng, ["MIN", "MAX", "MID"])] + rng.choice([[], ["COUNT", "2"]]),
        lambda: [pick(rng, ["ZUNIONSTORE", "ZINTERSTORE"]), k, "2", k2, pick(rng, KEYS)] + rng.choice([[], ["WEIGHTS", "2", "3"], ["AGGREGATE", "MAX"], ["AGGREGATE", "X"]]),
        lambda: [pick(rng, ["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"]), k, pick(rng, ["2", "0", "3", "x"]), k2, pick(rng, KEYS)] + rng.choice([[], ["WEIGHTS", "2", "3"], ["AGGREGATE", "MIN"]]),
        lambda: [pick(rng, ["ZUNION", "ZINTER", "ZDIFF"]), "2", k, k2] + rng.choice([[], ["WITHSCORES"], ["WEIGHTS", "1", "x"], ["AGGREGATE", "SUM", "WITHSCORES"]]),
        lambda: ["ZINTERCARD", pick(rng, ["1", "2", "0", "x"]), k, k2] + rng.choice([[], ["LIMIT", pick(rng, ["0", "1", "-1", "x"])], ["WITHSCORES"]]),
        lambda: ["TOUCH", k, k2, k],
        lambda: ["LCS", k, k2] + rng.choice([[], ["LEN"], ["IDX"], ["IDX", "WITHMATCHLEN"], ["IDX", "MINMATCHLEN", pick(rng, ["2", "-1", "x"])], ["LEN", "IDX"], ["FOO"]]),
        lambda: ["MEMORY", "USAGE", k] + rng.choice([[], ["SAMPLES", pick(rng, ["0", "5", "-1", "x"])], ["FOO"]]),
        # SORT without BY nosort (a set's own order is not Redis') and ALPHA only without BY (equal
        # values keep the order the elements were read in, which for sets is not Redis' either)
        lambda: [pick(rng, ["SORT", "SORT_RO"]), k] + rng.choice([[], ["DESC"], ["ALPHA"], ["ALPHA", "DESC"], ["BY", "k*"], ["BY", "k*->f0", "DESC"]])
                + rng.choice([[], ["LIMIT", pick(rng, ["0", "1", "-1", "x"]), pick(rng, ["2", "-1", "0"])]]) + rng.choice([[], ["GET", "#"], ["GET", "k*", "GET", "#"], ["GET", "k*->f1"], ["STORE", k2], ["FOO"]]),
        lambda: ["COMMAND", pick(rng, ["GETKEYS", "GETKEYSANDFLAGS"])] + rng.choice([["LMOVE", k, k2, "LEFT", "RIGHT"], ["SET", k, v], ["ZUNIONSTORE", k, "2", k2, k], ["XREADGROUP", "GROUP", "g", "c", "STREAMS", k, ">"], ["EVAL", "return 1", "1", k], ["BITOP", "AND", k, k2], ["BITOP", pick(rng, ["FOO", k]), k, k2], ["PFMERGE", k] + rng.choice([[], [k2]]), ["BITFIELD", k, "GET", "u8", "0"], ["BITFIELD", k, "OVERFLOW", "SAT", "INCRBY", "u8", "0", "1"], ["SET", k, v, "GET"], ["GET"], ["NOSUCH", k], ["MSET", k, v, k2, v], ["GEORADIUS", k, "1", "2", "3", "m", "WITHDIST", pick(rng, ["STORE", "STOREDIST"]), k2], ["GEOSEARCHSTORE", k, k2, "FROMMEMBER", "m", "BYRADIUS", "1", "m"]]),
        lambda: ["ZRANGESTORE", k, k2, "0", "-1"],
        # iteration and randomness (normalized below), expiry that really elapses
        lambda: ["SCAN*", pick(rng, ["SCAN", "HSCAN", "SSCAN", "ZSCAN"]), k] + rng.choice([[], ["MATCH", "f*"], ["COUNT", "1"], ["TYPE", "list"]]),
        lambda: [pick(rng, ["SRANDMEMBER", "HRANDFIELD", "ZRANDMEMBER"]), k] + rng.choice([[], ["2"], ["-3"], ["0"], ["x"]]),
        lambda: ["RANDOMKEY"],
        lambda: ["SET", k, v, "PX", "1"], lambda: ["PEXPIRE", k, "1"], lambda: ["PSETEX", k, "1", v],
        lambda: ["GETEX", k, pick(rng, ["EX", "PX", "EXAT"]), pick(rng, ["100000", "0", "x"])],
        lambda: ["SUBSTR", k, "0", "2"], lambda: ["SETEX", k, "0", v],
        # streams
        lambda: ["XADD", k] + rng.choice([[], ["NOMKSTREAM"], ["MAXLEN", "2"], ["MAXLEN", "=", "1"], ["MINID", "=", "3"], ["MAXLEN", "~", "1"], ["MAXLEN", "-1"]])
                + [pick(rng, ["1-1", "2", "5-*", "0-0", "x", "3-3", "9-*"]), f, v] + rng.choice([[], [f]]),
        lambda: ["XLEN", k], lambda: ["XRANGE", k, pick(rng, ["-", "1", "(1-1", "2-0", "x"]), pick(rng, ["+", "5", "(5-0"])] + rng.choice([[], ["COUNT", "1"], ["COUNT", "0"]]),
        lambda: ["XREVRANGE", k, pick(rng, ["+", "5"]), pick(rng, ["-", "1-1"])],
        lambda: ["XDEL", k, pick(rng, ["1-1", "2-0", "5-0", "x"])],
        lambda: ["XTRIM", k, pick(rng, ["MAXLEN", "MINID", "FOO"]), pick(rng, ["1", "=", "~"]), pick(rng, ["0", "2", "2-0"])],
        lambda: ["XREAD", "COUNT", pick(rng, ["1", "5"]), "STREAMS", k, pick(rng, ["0", "1-1", "$", "x"])],
        lambda: ["XREAD", "STREAMS", k, k2, "0"],
        # consumer groups (min-idle times are 0 or an hour, so no reply depends on timing)
        lambda: ["XGROUP", "CREATE", k, g, pick(rng, ["$", "0", "1-1", "x", "+"])] + rng.choice([[], ["MKSTREAM"], ["ENTRIESREAD", pick(rng, ["0", "2", "-1", "-2", "x"])], ["FOO"]]),
        lambda: ["XGROUP", "SETID", k, g, pick(rng, ["$", "0", "2-0", "-", "+", "x"])] + rng.choice([[], ["ENTRIESREAD", pick(rng, ["1", "-1", "x"])], ["ENTRIESREAD"]]),
        lambda: ["XGROUP", pick(rng, ["DESTROY", "CREATECONSUMER", "DELCONSUMER", "NOPE"]), k, g] + rng.choice([[], [c]]),
        lambda: ["XREADGROUP", "GROUP", g, c] + rng.choice([[], ["COUNT", pick(rng, ["1", "2", "0", "-1", "x"])], ["NOACK"], ["BLOCK", "10"], ["BLOCK", "-1"]])
                + ["STREAMS", k] + rng.choice([[pick(rng, [">", ">", "0", "1-1", "$", "x"])], [k2, ">", ">"], []]),
        lambda: ["XREADGROUP"] + rng.choice([["COUNT", "1"], ["GROUP", g]]) + ["STREAMS", k, ">"],
        lambda: ["XACK", k, g] + rng.sample(["1-1", "2-0", "3-3", "5-0", "9-0", "x"], rng.randint(1, 3)),
        lambda: ["XPENDING", k, g] + rng.choice([[], ["-", "+", pick(rng, ["10", "1", "0", "-1", "x"])], ["IDLE", pick(rng, ["0", "3600000", "x"]), "(1-1", "+", "5"], ["-", "(5-0", "10", c], ["(+", "+", "1"], ["-", "+"]]),
        lambda: ["XCLAIM", k, g, c, pick(rng, ["0", "3600000", "-5", "x"])] + rng.sample(["1-1", "2-0", "3-3", "5-0", "9-0"], rng.randint(1, 3))
                + rng.choice([[], ["FORCE"], ["JUSTID"], ["FORCE", "JUSTID"], ["RETRYCOUNT", pick(rng, ["3", "x"])], ["IDLE", pick(rng, ["0", "1000000", "-9223372036854775808", "9223372036854775807"])], ["TIME", "1000"], ["LASTID", pick(rng, ["9-0", "x"])], ["BOGUS"]]),
        lambda: ["XAUTOCLAIM", k, g, c, pick(rng, ["0", "3600000", "x"]), pick(rng, ["0", "-", "(1-1", "2-0", "(+", "x"])] + rng.choice([[], ["COUNT", pick(rng, ["1", "2", "0", "x"])], ["JUSTID"], ["FOO"]]),
        lambda: ["XINFO", pick(rng, ["GROUPS", "CONSUMERS", "NOPE"]), k] + rng.choice([[], [g]]),
        lambda: ["XSETID", k, pick(rng, ["9-0", "1-0", "x"])] + rng.choice([[], ["ENTRIESADDED", pick(rng, ["0", "20", "-1"])], ["MAXDELETEDID", pick(rng, ["2-0", "99-0", "x"])], ["FOO", "1"]]),
        # bitmaps
        lambda: ["SETBIT", k, pick(rng, ["0", "7", "8", "100", "-1", "x", "4294967296"]), pick(rng, ["0", "1", "1", "2", "x"])],
        lambda: ["GETBIT", k, pick(rng, ["0", "7", "100", "99999", "-1"])],
        lambda: ["BITCOUNT", k] + rng.choice([[], ["0", "0"], ["0", "-1", "BIT"], ["1", "20", "BIT"], ["-2", "-1", "BYTE"], ["-1", "-5"], ["1", "2", "FOO"], ["1"]]),
        lambda: ["BITPOS", k, pick(rng, ["0", "1", "2"])] + rng.choice([[], ["1"], ["0", "-1"], ["2", "-1", "BIT"], ["0", "5", "BIT"], ["9", "9"], ["x"]]),
        lambda: ["BITOP", pick(rng, ["AND", "OR", "XOR", "NOT", "FOO"]), k, k2] + rng.choice([[], [k], ["nokey"]]),
        lambda: ["BITFIELD", k] + rng.choice([["GET", "u8", "0"], ["SET", "i8", "#1", pick(rng, ["-100", "200", "x"])], ["INCRBY", "u4", "2", pick(rng, ["1", "20", "-20"])],
                                              ["OVERFLOW", pick(rng, ["WRAP", "SAT", "FAIL", "FOO"]), "INCRBY", "i5", "3", "100"], ["GET", pick(rng, ["u64", "i64", "u63", "x1", "i0"]), "0"], ["BAR"], []]),
        lambda: ["BITFIELD_RO", k] + rng.choice([["GET", "u8", "0"], ["GET", "i16", "#1"], ["SET", "u8", "0", "1"], []]),
        # geo: a member's place depends on its name only, so that no two members of GEOADD
        # share a distance; COUNT cuts ties in an unstable order in Redis, so it comes with ANY
        # or above any result's size
        lambda: ["GEOADD", k] + rng.choice([[], ["NX"], ["XX"], ["CH"], ["XX", "CH"], ["NX", "XX"]])
                + [x for p in rng.sample(range(len(GEO_POINTS)), rng.randint(1, 3)) for x in GEO_POINTS[p]],
        lambda: ["GEOADD", k, pick(rng, ["181", "x", "-180"]), pick(rng, ["86", "0", "-85.05112878"]), "bad"],
        lambda: [pick(rng, ["GEOPOS", "GEOHASH"]), k] + rng.sample(GEO_MEMBERS + [f], 3),
        lambda: ["GEODIST", k, pick(rng, GEO_MEMBERS), pick(rng, GEO_MEMBERS + [f])] + rng.choice([[], ["km"], ["MI"], ["ft"], ["parsec"], ["m", "x"]]),
        lambda: [pick(rng, ["GEORADIUS", "GEORADIUS_RO"]), k, pick(rng, GEO_LONS), pick(rng, GEO_LATS), pick(rng, GEO_RADII), pick(rng, GEO_UNITS)] + geo_options(rng, True),
        lambda: [pick(rng, ["GEORADIUSBYMEMBER", "GEORADIUSBYMEMBER_RO"]), k, pick(rng, GEO_MEMBERS), pick(rng, GEO_RADII), pick(rng, GEO_UNITS)] + geo_options(rng, True),
        lambda: ["GEOSEARCH", k] + geo_shape(rng) + geo_options(rng, False),
        lambda: ["GEOSEARCHSTORE", k2, k] + geo_shape(rng) + rng.choice([[], ["STOREDIST"], ["COUNT", "2", "ANY", "STOREDIST"], ["WITHDIST"], ["STORE", k]]),
        # HyperLogLog: values compared byte for byte by GET; a few thousand elements at once
        # make an HLL dense
        lambda: ["PFADD", k] + [str(rng.randint(0, 10 ** rng.randint(1, 5))) for _ in range(rng.choice([0, 1, 3, 20, 3000]))],
        lambda: ["PFCOUNT", k] + rng.choice([[], [k2], [k2, "nokey"]]), lambda: ["PFMERGE", k] + rng.sample(KEYS, rng.randint(0, 2)),
        lambda: ["PFDEBUG", pick(rng, ["ENCODING", "DECODE", "TODENSE", "GETREG", "NOPE"]), k],
        # scripting
        lambda: [pick(rng, ["EVAL", "EVAL", "EVAL_RO"]), pick(rng, SCRIPTS), "1", k, v, pick(rng, VALUES)],
        lambda: ["EVAL", pick(rng, SCRIPTS), pick(rng, ["-1", "3", "x"]), k],
        lambda: ["EVALSHA", pick(rng, ["ffffffffffffffffffffffffffffffffffffffff", "x"]), "0"],
        lambda: ["SCRIPT", pick(rng, ["EXISTS", "NOPE"]), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"],
        # DUMP/RESTORE: each payload goes to both servers (see dump_restore)
        lambda: ["DUMPRESTORE*", k, k2, pick(rng, ["0", "0", "100000", "-1", "x"])]
                + rng.choice([[], ["REPLACE"], ["REPLACE"], ["ABSTTL"], ["IDLETIME", "5"], ["FREQ", "300"], ["REPLACE", "FOO"]])
                + [pick(rng, ["redis", "desaster"])],
        lambda: ["DUMP", k],
        # functions: libraries, calls (keyspace events included), a payload of one server's
        # libraries restored into both (see function_restore)
        lambda: ["FUNCTION", "LOAD"] + rng.choice([[], ["REPLACE"]]) + [pick(rng, FUNCTION_LIBRARIES)],
        lambda: [pick(rng, ["FCALL", "FCALL_RO"]), pick(rng, ["dset", "dget", "dhincr", "nosuch"]),
                 pick(rng, ["1", "1", "0", "2", "x"]), k, v],
        lambda: ["FUNCTION", "DELETE", pick(rng, ["dlib", "dlib2", "nosuch"])],
        lambda: ["FUNCTION", "LIST"] + rng.choice([[], ["WITHCODE"], ["LIBRARYNAME", "dlib*"]]),
        lambda: ["FUNCTION", "STATS"],
        lambda: ["FUNCTIONRESTORE*", pick(rng, ["redis", "desaster"])]
                + rng.choice([[], ["APPEND"], ["REPLACE"], ["FLUSH"]]),
        lambda: ["RESTORE", k, pick(rng, ["0", "-1"]), pick(rng, ["", "x", "\x00\x01abc\x09\x00", v])] + rng.choice([[], ["REPLACE"]]),
        # errors of every kind
        lambda: ["NOSUCHCMD", k], lambda: ["GET"], lambda: ["SET", k], lambda: ["HSET", k, f],
        lambda: ["OBJECT", "NOPE", k], lambda: ["ECHO", v], lambda: ["PING"],
        lambda: ["OBJECT", "ENCODING", k],
    ]
    return rng.choice(gens)()


RANDOM = {"srandmember", "hrandfield", "zrandmember", "spop", "randomkey"}


def idle_times(name, reply):
    """How long ago an entry was delivered or a consumer seen (XPENDING, XINFO CONSUMERS)
    differs by the moments between the two servers' calls: compared as recent or old (the
    generator's idle times are 0 or at least 1000 s)."""
    def bucket(r):
        return Reply(":", "recent" if r.value < 60000 else "old")
    if reply.kind in "*~" and isinstance(reply.value, list):
        items = reply.value
        if (name == "xpending" and len(items) == 4 and items[2].kind == ":"
                and items[0].kind == "$" and items[1].kind == "$"):
            return Reply(reply.kind, items[:2] + [bucket(items[2]), items[3]])
        out = []
        for j, x in enumerate(items):
            if j > 0 and items[j - 1] == Reply("$", b"idle") and x.kind == ":":
                x = bucket(x)
            out.append(idle_times(name, x))
        return Reply(reply.kind, out)
    if reply.kind == "%":
        return Reply("%", [(a, bucket(b) if a == Reply("$", b"idle") else idle_times(name, b))
                           for a, b in reply.value])
    return reply


def sorted_function_list(reply):
    """FUNCTION LIST with libraries and their functions sorted: each server keeps them in its
    own order (Redis in its hash tables')."""
    if reply.kind != "*" or reply.value is None:
        return reply
    libraries = []
    for library in reply.value:
        fields = library.value if library.kind == "%" else \
            list(zip(library.value[0::2], library.value[1::2]))
        fields = [(k, Reply(v.kind, sorted(v.value, key=repr)) if k.value == b"functions" else v)
                  for k, v in fields]
        libraries.append(fields)
    return Reply("*", sorted(libraries, key=repr))


def normalize(cmd, reply):
    name = cmd[0].lower()
    if name == "function" and cmd[1].upper() == "LIST":
        return sorted_function_list(reply)
    if name == "functionrestore*" and reply.kind == "-" and "already exists" in reply.value:
        # Which of several colliding libraries is named follows each server's own order.
        return Reply("-", reply.value.split()[1] + " ... already exists")
    if name in ("xpending", "xinfo"):
        reply = idle_times(name, reply)
    if name == "dump" and reply.kind == "$" and reply.value is not None:
        return Reply("payload", True)  # encodings differ; dump_restore checks what they hold
    if name in RANDOM and reply.kind in "*~" and isinstance(reply.value, list):
        return Reply("count", len(reply.value))  # which members is random; how many is not
    if name in RANDOM and reply.kind == "$":
        return Reply("$", "some member" if reply.value is not None else None)
    if reply.kind in "*~" and isinstance(reply.value, list):
        if name in UNORDERED:
            return Reply("sorted", sorted(repr(x) for x in reply.value))
    if name == "object" and reply.kind in "$+" and reply.value in (b"int", b"embstr", b"raw"):
        return Reply("$", "a string's")  # how Redis stores a string is its own affair
    if name == "object" and reply.kind in "$+" and reply.value == b"skiplist":
        # A sorted set's encoding is estimated from its size (docs/STATUS.md); Redis' also
        # follows from how it was made (a STORE makes a skiplist first, a COPY keeps one).
        return Reply("$", b"listpack")
    if name == "lcs" and reply.kind == "-" and "Insufficient memory" in str(reply.value):
        return Reply("-", "LCS too big")  # each server names its own limit (docs/STATUS.md)
    if name == "memory" and reply.kind == ":":
        return Reply(":", "bytes")  # each server's own account of a value's size
    if name == "ttl" and reply.kind == ":" and reply.value > 0:
        return Reply(":", "positive")
    if name == "expiretime" and reply.kind == ":" and reply.value > 0:
        return Reply(":", "future")
    return reply


def full_scan(conn, cmd):
    """Runs a SCAN-family command to completion; returns the sorted set of what it returned."""
    _, verb, key, *opts = cmd
    args = [verb] + ([] if verb == "SCAN" else [key])
    if verb != "SCAN" and "TYPE" in opts:
        opts = []
    cursor, seen = "0", set()
    for _ in range(10000):
        reply = conn.call(*args, cursor, *opts)
        if reply.kind == "-":
            return reply
        cursor = reply.value[0].value.decode()
        seen.update(repr(x) for x in reply.value[1].value)
        if cursor == "0":
            return Reply("scanned", sorted(seen))
    return Reply("-", "scan did not finish")


def short_expiry(cmd):
    return cmd[0] in ("SET", "PEXPIRE", "PSETEX") and "1" in cmd[2:] and ("PX" in cmd or cmd[0] != "SET")


def dump_restore(conns, cmd):
    """DUMP k on the server `cmd[-1]` names, then RESTORE its payload into k2 on both: each
    server must read the other's encodings (Redis' listpacks, desaster's plain ones) into the
    same value. Returns the replies (DUMP's nil on both when k is absent). A stream always
    comes from Redis: Redis keeps a restored stream in the payload's nodes, and "~" trimming
    removes whole nodes, so a desaster payload (one node) would change what later XTRIMs do
    (test_rdb.py checks that Redis reads desaster's streams)."""
    _, key, dest, ttl, *opts, source = cmd
    if conns[0].call("TYPE", key).value == "stream":
        source = "redis"
    payload = conns[0 if source == "redis" else 1].call("DUMP", key)
    if payload.value is None:
        return [payload, payload]
    return [c.call("RESTORE", dest, ttl, payload.value, *opts) for c in conns]


def function_restore(conns, cmd):
    """FUNCTION DUMP on the server `cmd[1]` names, then FUNCTION RESTORE of its payload (with
    the policy that follows) on both: each server must take the other's payloads (Redis'
    compressed, desaster's plain) as its own."""
    source = conns[0] if cmd[1] == "redis" else conns[1]
    payload = source.call("FUNCTION", "DUMP").value
    return [c.call("FUNCTION", "RESTORE", payload, *cmd[2:]) for c in conns]


def call(conn, cmd):
    if cmd[0] == "SCAN*":
        return full_scan(conn, cmd)
    if short_expiry(cmd):
        # A 1 ms expiry: let it pass on both servers so later commands see the key gone.
        reply = conn.call(*cmd)
        deadline = time.monotonic() + 1
        while conn.call("PTTL", cmd[1]).value not in (-2, -1) and time.monotonic() < deadline:
            pass
        return reply
    return conn.call(*cmd)


# Keyspace notifications are compared after every command, of every class but "expired" (when
# an expiry is noticed depends on each server's timers; test_pubsub.py checks them) and
# "keymiss" (desaster announces the misses of read-only commands' lookups, Redis also those of
# the keys some writes read, docs/STATUS.md).
NOTIFY_CLASSES = "g$lshzetdnKE"


class EventListener:
    """A connection subscribed to every keyspace notification of one server."""

    def __init__(self, port):
        self.conn = RawConnection(port)
        self.conn.call("PSUBSCRIBE", "__key*@*__:*")

    def events(self):
        """The notifications since the last call: a PING's reply comes after every message the
        server queued for this connection before it (all of the commands already answered)."""
        self.conn.send(RawConnection.encode("PING"))
        out = []
        while True:
            reply = self.conn.read()
            if reply.value[0].value == b"pong":
                return out
            out.append((reply.value[2].value, reply.value[3].value))


def expiry_race(events):
    """A 1 ms expiry may be past already when Redis checks it; then it announces "del" where
    desaster announces "expire" (and deletes the key a moment later)."""
    out = []
    for channel, message in events:
        if channel.startswith(b"__keyevent") and channel.endswith(b"__:del"):
            channel = channel[:-len(b"del")] + b"expire"
        if channel.startswith(b"__keyspace") and message == b"del":
            message = b"expire"
        out.append((channel, message))
    return out


def run_seed(seed, length, redis_port, desaster_port):
    rng = random.Random(seed)
    protocol = rng.choice([2, 2, 3])
    conns = [RawConnection(redis_port), RawConnection(desaster_port)]
    listeners = [EventListener(redis_port), EventListener(desaster_port)]
    try:
        for c in conns:
            c.call("FLUSHALL")
            c.call("FUNCTION", "FLUSH")
            c.call("CONFIG", "SET", "notify-keyspace-events", NOTIFY_CLASSES)
            if protocol == 3:
                c.call("HELLO", "3")
        for listener in listeners:
            listener.events()
        history = []
        for n in range(length):
            if rng.random() < 0.05:  # a transaction around a few commands
                body = [c for c in (gen_command(rng) for _ in range(rng.randint(1, 4))) if not c[0].endswith("*") and not short_expiry(c)]
                cmds = [["MULTI"]] + body + [[rng.choice(["EXEC", "EXEC", "DISCARD"])]]
            else:
                cmds = [gen_command(rng)]
            for cmd in cmds:
                history.append(cmd)
                if cmd[0] == "DUMPRESTORE*":
                    replies = dump_restore(conns, cmd)
                elif cmd[0] == "FUNCTIONRESTORE*":
                    replies = function_restore(conns, cmd)
                else:
                    replies = [call(c, cmd) for c in conns]
                if cmd[0] == "EXEC" and len(cmds) > 2:  # normalize each queued command's reply
                    queued = cmds[1:-1]
                    replies = [Reply(r.kind, [normalize(q, x) for q, x in zip(queued, r.value)])
                               if r.kind == "*" and r.value is not None else r for r in replies]
                else:
                    replies = [normalize(cmd, r) for r in replies]
                events = [listener.events() for listener in listeners]
                if short_expiry(cmd):
                    events = [expiry_race(e) for e in events]
                if replies[0] == replies[1] and events[0] != events[1]:
                    replies = [Reply("events", e) for e in events]
                if replies[0] != replies[1]:
                    print(f"MISMATCH seed={seed} step={n} protocol={protocol}")
                    print("  last commands:")
                    for h in history[-int(os.environ.get("DESASTER_DIFF_HISTORY", "8")):]:
                        print("   ", h)
                    print(f"  redis:    {replies[0]!r}")
                    print(f"  desaster: {replies[1]!r}")
                    return False
        # The final state must match too.
        for c in conns:
            c.call("SELECT", "0")
        dumps = []
        for c in conns:
            dump = []
            for key in sorted(x.value for x in c.call("KEYS", "*").value):
                t = c.call("TYPE", key).value
                dump.append((key, t))
            dumps.append(dump)
        if dumps[0] != dumps[1]:
            print(f"FINAL STATE MISMATCH seed={seed}: redis={dumps[0]} desaster={dumps[1]}")
            return False
        return True
    finally:
        for c in conns + [listener.conn for listener in listeners]:
            c.close()


def main():
    seeds = int(os.environ.get("DESASTER_DIFF_SEEDS", "40"))
    length = int(os.environ.get("DESASTER_DIFF_LENGTH", "400"))
    only = os.environ.get("DESASTER_DIFF_SEED")
    redis_server, desaster = RedisServer(), Scheduler()
    try:
        first = int(os.environ.get("DESASTER_DIFF_FIRST", "1000"))
        seed_list = [int(only)] if only else [first + s for s in range(seeds)]
        failed = [s for s in seed_list if not run_seed(s, length, redis_server.port, desaster.port)]
        passed = len(seed_list) - len(failed)
        print(f"differential: {len(seed_list)} seeds x {length} commands")
        print(f"{passed} passed, {len(failed)} failed")
        if failed:
            print("reproduce with DESASTER_DIFF_SEED=" + str(failed[0]))
        return 1 if failed else 0
    finally:
        redis_server.stop()
        desaster.stop()


if __name__ == "__main__":
    sys.exit(main())
