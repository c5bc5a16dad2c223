#!/usr/bin/python3
"""Client-side caching (CLIENT TRACKING): the same sessions against redis-server and desaster,
and everything each connection receives, replies and invalidation messages in their order, must
be the same. Through raw RESP (RESP3 pushes, RESP2 redirection) and redis-py's own API."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redis  # noqa: E402
from harness import RawConnection, RedisServer, Reply, Scheduler, main, wait_for  # noqa: E402


class Session:
    """Connections to one server, each with the transcript of all it received."""

    def __init__(self, port):
        self.port = port
        self.conns = {}
        self.transcripts = {}
        self.ids = {}  # client id -> connection name: ids differ between servers

    def open(self, name, resp3=False):
        c = RawConnection(self.port)
        self.conns[name] = c
        self.transcripts[name] = []
        if resp3:
            c.call("HELLO", "3")
        return c

    def do(self, name, *cmd):
        """Sends `cmd` and records its reply, and every message that came before it."""
        c = self.conns[name]
        c.send(c.encode(*cmd))
        while True:
            r = c.read()
            self.transcripts[name].append(r)
            if not self.is_message(r):
                return r

    @staticmethod
    def is_message(r):
        if r.kind == ">":
            return True
        # RESP2: a message on a channel a subscribed client hears
        return (r.kind == "*" and r.value and len(r.value) == 3 and r.value[0].kind == "$"
                and r.value[0].value == b"message")

    def drain(self, name):
        """Whatever `name` was sent meanwhile, up to the answer of a PING."""
        self.do(name, "PING")

    def wait_message(self, name, deadline_s=5):
        """Reads until one message arrived (polling with a deadline: active expiry is timed)."""
        c = self.conns[name]
        c.sock.settimeout(deadline_s)
        r = c.read()
        c.sock.settimeout(10)
        self.transcripts[name].append(r)
        return r

    def close(self, name):
        """Closes `name`'s connection and waits (polling, with a deadline) until the server has
        seen it go, so that what follows meets a server without it."""
        self.conns.pop(name).close()
        gone = [i for i, n in self.ids.items() if n == name]
        probe = RawConnection(self.port)
        try:
            def listed():
                return probe.call("CLIENT", "LIST").value.decode()
            wait_for(lambda: not any(f"id={i} " in listed() for i in gone),
                     what=f"the server to see {name} go")
        finally:
            probe.close()

    def close_all(self):
        for c in self.conns.values():
            c.close()


def client_id(session, name):
    id = session.do(name, "CLIENT", "ID").value
    session.ids[id] = name
    return id


def named_ids(reply, ids):
    """`reply` with the integers that are client ids of `ids` replaced by whose they are."""
    if reply.kind == ":" and reply.value in ids:
        return Reply(":", "id of " + ids[reply.value])
    if isinstance(reply.value, list):
        return Reply(reply.kind, [named_ids(r, ids) if isinstance(r, Reply)
                                  else tuple(named_ids(x, ids) for x in r) for r in reply.value])
    return reply


def default_mode(s):
    s.open("main", resp3=True)
    s.open("other")
    s.do("main", "CLIENT", "TRACKING", "ON")
    s.do("main", "GET", "k1")
    s.do("main", "MGET", "k2", "k3")
    s.do("main", "HGET", "h", "f")
    s.do("other", "SET", "k1", "v")  # main hears of k1
    s.drain("main")
    s.do("other", "SET", "k1", "again")  # forgotten after one message: nothing
    s.do("main", "SET", "k2", "mine")  # its own change: told after the reply
    s.do("other", "HSET", "h", "f", "1")
    s.drain("main")
    s.do("main", "CLIENT", "TRACKING", "ON", "NOLOOP")
    s.do("main", "GET", "k3")
    s.do("main", "SET", "k3", "mine")  # NOLOOP: not told
    s.do("main", "EVAL", "return redis.call('GET', KEYS[1])", "1", "k4")  # a script's read
    s.do("main", "EVAL_RO", "return 1", "1", "k5")  # a read-only script's keys: not tracked
    s.do("other", "MSET", "k4", "x", "k5", "y")
    s.drain("main")
    s.do("main", "CLIENT", "TRACKING", "ON")
    s.do("main", "MULTI")
    s.do("main", "GET", "k6")
    s.do("main", "SET", "k6", "z")
    s.do("main", "EXEC")  # the message follows EXEC's reply
    s.do("main", "GET", "k7")
    s.do("other", "SET", "k7", "v", "PX", "100")  # main hears of the SET, then reads it again
    s.drain("main")
    s.do("main", "GET", "k7")
    s.wait_message("main")  # and hears of its expiry
    s.do("main", "GET", "gone")
    s.do("other", "SELECT", "3")
    s.do("other", "SET", "gone", "in another database")  # keys are names, in any database
    s.drain("main")
    s.do("main", "CLIENT", "TRACKINGINFO")
    s.do("main", "CLIENT", "GETREDIR")
    s.do("main", "GET", "k8")
    s.do("other", "FLUSHALL")  # a null: every key
    s.drain("main")
    s.do("other", "FLUSHDB")
    s.drain("main")
    s.do("main", "CLIENT", "TRACKING", "OFF")
    s.do("main", "GET", "k9")
    s.do("other", "SET", "k9", "v")
    s.drain("main")
    s.do("main", "CLIENT", "TRACKINGINFO")


def redirect_mode(s):
    s.open("sub")
    s.open("tracker")
    s.open("other")
    sub = client_id(s, "sub")
    s.do("tracker", "CLIENT", "TRACKING", "ON", "REDIRECT", sub)
    s.do("sub", "SUBSCRIBE", "__redis__:invalidate")
    s.do("tracker", "GET", "a")
    s.do("tracker", "CLIENT", "GETREDIR")
    s.do("other", "SET", "a", "1")  # a message on __redis__:invalidate
    s.drain("sub")
    s.do("tracker", "GET", "b")
    s.do("other", "FLUSHALL")
    s.drain("sub")
    s.close("sub")  # the client redirected to leaves
    s.do("tracker", "GET", "c")
    s.do("other", "SET", "c", "1")
    s.do("tracker", "CLIENT", "TRACKINGINFO")  # broken_redirect
    # A RESP3 client is told that its redirection broke.
    s.open("sub3")
    s.open("tracker3", resp3=True)
    sub3 = client_id(s, "sub3")
    s.do("tracker3", "CLIENT", "TRACKING", "ON", "REDIRECT", sub3)
    s.do("tracker3", "GET", "d")
    s.close("sub3")
    s.do("other", "SET", "d", "1")
    s.drain("tracker3")
    s.do("tracker3", "CLIENT", "TRACKINGINFO")


def bcast_and_optin(s):
    s.open("bc", resp3=True)
    s.open("loop", resp3=True)
    s.open("opt", resp3=True)
    s.open("out", resp3=True)
    s.open("other")
    s.do("bc", "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "user:", "PREFIX", "item:")
    s.do("loop", "CLIENT", "TRACKING", "ON", "BCAST", "NOLOOP")
    s.do("other", "MSET", "user:2", "a", "user:1", "b", "item:9", "c", "else", "d")
    s.drain("bc")  # user:1 user:2 in one message, item:9 in another
    s.do("loop", "SET", "mine", "1")  # NOLOOP: its own key is left out
    s.do("other", "SET", "theirs", "1")
    s.drain("loop")
    s.drain("bc")
    s.do("bc", "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "user:x")  # overlaps user:
    s.do("bc", "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "a", "PREFIX", "ab")
    s.do("bc", "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "more:")
    s.do("bc", "CLIENT", "TRACKINGINFO")
    s.do("bc", "CLIENT", "TRACKING", "ON")  # BCAST cannot be switched off while on
    s.do("opt", "CLIENT", "TRACKING", "ON", "OPTIN")
    s.do("opt", "GET", "p")  # not tracked
    s.do("opt", "CLIENT", "CACHING", "YES")
    s.do("opt", "GET", "q")  # tracked
    s.do("opt", "GET", "r")  # CACHING held for one command only
    s.do("opt", "CLIENT", "TRACKINGINFO")
    s.do("opt", "CLIENT", "CACHING", "NO")
    s.do("opt", "CLIENT", "TRACKING", "ON", "OPTOUT")
    s.do("out", "CLIENT", "TRACKING", "ON", "OPTOUT")
    s.do("out", "CLIENT", "CACHING", "NO")
    s.do("out", "GET", "p")  # not tracked
    s.do("out", "GET", "s")  # tracked
    s.do("other", "MSET", "p", "1", "q", "1", "r", "1", "s", "1")
    s.drain("opt")
    s.drain("out")
    s.do("other", "FLUSHALL")
    for name in ("bc", "loop", "opt", "out"):
        s.drain(name)
    # Errors, as Redis words them.
    s.do("other", "CLIENT", "CACHING", "YES")
    s.do("other", "CLIENT", "TRACKING", "ON", "PREFIX", "x")
    s.do("other", "CLIENT", "TRACKING", "ON", "BCAST", "OPTIN")
    s.do("other", "CLIENT", "TRACKING", "ON", "OPTIN", "OPTOUT")
    s.do("other", "CLIENT", "TRACKING", "ON", "REDIRECT", "999999")
    s.do("other", "CLIENT", "TRACKING", "ON", "REDIRECT", "x")
    s.do("other", "CLIENT", "TRACKING", "MAYBE")
    s.do("other", "CLIENT", "TRACKING", "ON", "NOSUCH")


def table_limit(s):
    s.open("main", resp3=True)
    s.open("other")
    s.do("other", "CONFIG", "SET", "tracking-table-max-keys", "1")
    s.do("main", "CLIENT", "TRACKING", "ON")
    s.do("main", "GET", "x1")
    s.do("main", "GET", "x2")  # over the limit: one key is forgotten, and main is told
    s.drain("main")
    s.do("other", "CONFIG", "SET", "tracking-table-max-keys", "1000000")


def normalize_eviction(transcript):
    """Which key the limit evicts is chosen at random (by either server)."""
    out = []
    for r in transcript:
        if r.kind == ">" and r.value[1].kind == "*" and r.value[1].value:
            key = r.value[1].value[0].value
            if key in (b"x1", b"x2"):
                r = Reply(">", [r.value[0], Reply("*", [Reply("$", b"x1 or x2")])])
        out.append(r)
    return out


class TrackingTest(unittest.TestCase):
    def setUp(self):
        self.redis = RedisServer()
        self.addCleanup(self.redis.stop)
        self.ours = Scheduler()
        self.addCleanup(self.ours.stop)
        self.ours.wait_loaded()

    def side_by_side(self, scenario, normalize=lambda t: t):
        transcripts = []
        for server in (self.redis, self.ours):
            s = Session(server.port)
            try:
                scenario(s)
                transcripts.append({n: normalize([named_ids(r, s.ids) for r in t])
                                    for n, t in s.transcripts.items()})
            finally:
                s.close_all()
        for name in transcripts[0]:
            self.assertEqual(transcripts[1][name], transcripts[0][name], name)
        return transcripts[1]

    def test_default_mode_tells_each_client_of_the_keys_it_read(self):
        t = self.side_by_side(default_mode)
        pushes = [r for r in t["main"] if r.kind == ">"]
        keys = [p.value[1].value for p in pushes]
        self.assertEqual(keys[:3], [[Reply("$", b"k1")], [Reply("$", b"k2")], [Reply("$", b"h")]])
        self.assertIn(None, keys)  # the flush

    def test_redirection_to_a_resp2_subscriber_and_a_broken_one(self):
        t = self.side_by_side(redirect_mode)
        self.assertTrue(any(Session.is_message(r) for r in t["sub"]))
        self.assertTrue(any(r.kind == ">" and r.value[0].value == b"tracking-redir-broken"
                            for r in t["tracker3"]))

    def test_bcast_prefixes_optin_optout_and_the_errors(self):
        t = self.side_by_side(bcast_and_optin)
        self.assertTrue(any(r.kind == ">" and len(r.value[1].value) == 2 for r in t["bc"]))

    def test_the_table_limit_forgets_keys_and_tells_their_clients(self):
        t = self.side_by_side(table_limit, normalize_eviction)
        self.assertEqual(sum(r.kind == ">" for r in t["main"]), 1)

    def test_info_counts_what_is_tracked(self):
        counts = []
        for server in (self.redis, self.ours):
            s = Session(server.port)
            try:
                s.open("a", resp3=True)
                s.open("b", resp3=True)
                s.do("a", "CLIENT", "TRACKING", "ON")
                s.do("a", "MGET", "k1", "k2")
                s.do("b", "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "p", "PREFIX", "q")
                info = redis.Redis(port=server.port).info()
                counts.append([info[f] for f in ("tracking_clients", "tracking_total_keys",
                                                  "tracking_total_items",
                                                  "tracking_total_prefixes")])
            finally:
                s.close_all()
        self.assertEqual(counts[1], counts[0])
        self.assertEqual(counts[1], [2, 2, 2, 2])


class RedisPyTrackingTest(unittest.TestCase):
    """redis-py's tracking API (RESP2: invalidations reach a pub/sub connection)."""

    def run_with(self, port):
        r = redis.Redis(port=port)
        p = r.pubsub()
        p.subscribe("__redis__:invalidate")
        self.assertEqual(p.get_message(timeout=5)["type"], "subscribe")
        tracker = redis.Redis(port=port, single_connection_client=True)
        target = int(next(c for c in r.client_list() if c["sub"] == "1")["id"])
        tracker.client_tracking_on(clientid=target)
        tracker.get("cached")
        r.set("cached", "new")
        messages = []
        deadline = time.monotonic() + 5
        while not messages and time.monotonic() < deadline:
            m = p.get_message(timeout=0.2)
            if m:
                messages.append((m["type"], m["channel"], m["data"]))
        getredir = tracker.client_getredir()
        trackinginfo = tracker.client_trackinginfo()
        trackinginfo[trackinginfo.index("redirect") + 1] = getredir == target
        tracker.client_tracking_off()
        p.close()
        tracker.close()
        return messages, getredir == target, trackinginfo

    def test_redis_py_redirected_invalidations_match_redis_server(self):
        servers = [RedisServer(), Scheduler()]
        for s in servers:
            self.addCleanup(s.stop)
        servers[1].wait_loaded()
        results = [self.run_with(s.port) for s in servers]
        self.assertEqual(results[1], results[0])
        self.assertEqual(results[1][0], [("message", b"__redis__:invalidate", [b"cached"])])
        self.assertTrue(results[1][1])


if __name__ == "__main__":
    main()
