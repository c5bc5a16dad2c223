#!/usr/bin/python3
"""ACL users (Redis 7.0's model), compared reply by reply with redis-server running beside."""
import json
import os
import socket
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redis  # noqa: E402
from harness import RawConnection, RedisServer, Scheduler, main, wait_for  # noqa: E402
import unittest  # noqa: E402


def outcome(client, *args):
    """A reply, or the error's text, as comparable plain Python."""
    try:
        return client.execute_command(*args)
    except redis.ResponseError as e:
        return "error: " + str(e)


def raw_commands(port):
    """Every command and subcommand the server knows, by name, with its arity."""
    c = RawConnection(port)
    try:
        arity = {}
        for info in c.call("COMMAND").value:
            for command in [info] + info.value[9].value:
                arity[command.value[0].value.decode()] = command.value[1].value
        return arity
    finally:
        c.close()


def commands_in_any_order(getuser):
    """ACL GETUSER's reply with the single commands of each description in a set: Redis lists
    them in its hash table's order."""
    def normal(description):
        words = description.split(" ")
        categories = [w for w in words if "@" in w]
        return categories, sorted(w for w in words if "@" not in w)
    out = list(getuser)
    for i in range(0, len(out), 2):
        if out[i] == "commands":
            out[i + 1] = normal(out[i + 1])
        if out[i] == "selectors":
            out[i + 1] = [commands_in_any_order(s) for s in out[i + 1]]
    return out


class AclSideBySideTest(unittest.TestCase):
    """One redis-server and one desaster-scheduler, each with an ACL file of its own."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="desaster-acl-")
        cls.files = [os.path.join(cls.dir, name) for name in ("redis.acl", "desaster.acl")]
        for f in cls.files:
            open(f, "w").close()
        cls.redis = RedisServer("--aclfile", cls.files[0], "--enable-debug-command", "local",
                                "--protected-mode", "no")
        cls.ours = Scheduler("--aclfile", cls.files[1], "--protected-mode", "no")
        cls.ours.wait_loaded()

    @classmethod
    def tearDownClass(cls):
        cls.redis.stop()
        cls.ours.stop()

    def setUp(self):
        self.admins = [redis.Redis(port=s.port, decode_responses=True)
                       for s in (self.redis, self.ours)]
        for r in self.admins:
            self.addCleanup(r.close)
            for user in r.execute_command("ACL", "USERS"):
                if user != "default":
                    r.execute_command("ACL", "DELUSER", user)
            r.execute_command("ACL", "LOG", "RESET")
            r.flushall()


    def both(self, *args):
        """Runs a command on both servers as admin; asserts the same reply and returns it."""
        replies = [outcome(r, *args) for r in self.admins]
        self.assertEqual(replies[1], replies[0], args)
        return replies[1]

    def as_user(self, user, password, **kw):
        clients = [redis.Redis(port=s.port, username=user, password=password,
                               decode_responses=True, **kw) for s in (self.redis, self.ours)]
        for c in clients:
            self.addCleanup(c.close)
        return clients

    def same(self, clients, *args):
        replies = [outcome(c, *args) for c in clients]
        self.assertEqual(replies[1], replies[0], args)
        return replies[1]

    def test_setuser_rules_getuser_and_list_match_redis(self):
        rule_sets = [
            ["on", ">p1", ">p2", "<p1", "~app:*", "%R~ro:*", "%W~wo:*", "&news.*", "+@read"],
            ["on", "nopass", "allkeys", "allchannels", "+@all", "-@dangerous"],
            ["off", "#" + "a" * 64, "resetkeys", "~x", "-@all", "+get", "+set", "+client|id"],
            ["on", ">pw", "~a", "(+get ~b)", "(+set", "~c", "&d)"],
            ["reset", "on", "nopass", "+@all", "-config", "+config|get", "+select|0"],
            ["on", ">x", "~*", "+@all", "clearselectors", "resetchannels", "&a", "&a"],
            ["on", "+@hash", "+@list", "-lpush", "~h:*"],
            ["on", "%R", "%R~", "%r~k", "%WR~k", "%W~w", "~", "&"],
        ]
        for i, rules in enumerate(rule_sets):
            self.both("ACL", "SETUSER", f"u{i}", *rules)
            users = [commands_in_any_order(r.execute_command("ACL", "GETUSER", f"u{i}"))
                     for r in self.admins]
            self.assertEqual(users[1], users[0], rules)
        self.both("ACL", "USERS")
        # Refused rules change nothing, and say why as Redis does.
        for rules in (["+nosuchcommand"], ["+@nosuchcategory"], ["#abc"], ["!" + "b" * 64],
                      ["<never-set"], ["allkeys", "~more"], ["allchannels", "&more"],
                      ["+config|get|x"], ["+get|"], ["(+get", "~x"], ["%X~k"], ["~a b"],
                      ["bogus"], ["-select|0"], ["+client|nosuch"], ["%~k"], ["%"],
                      ["%RR~k"]):
            self.both("ACL", "SETUSER", "u0", *rules)
        self.both("ACL", "SETUSER", "bad name", "on")
        self.both("ACL", "GETUSER", "nobody")
        self.both("ACL", "DELUSER", "default")
        self.both("ACL", "DELUSER", "u1", "u2", "nobody")
        self.both("ACL", "USERS")
        self.both("ACL", "CAT", "nosuch")
        self.both("ACL", "GENPASS", "0")
        self.both("ACL", "GENPASS", "4097")
        self.both("ACL", "GENPASS", "x")
        for bits in ("1", "5", "256", "4096"):
            lengths = [len(r.execute_command("ACL", "GENPASS", bits)) for r in self.admins]
            self.assertEqual(lengths[1], lengths[0])

    def test_categories_and_dryrun_match_redis_for_every_command(self):
        arity = raw_commands(self.redis.port)
        shared = sorted(arity.keys() & raw_commands(self.ours.port).keys())
        ours_only = raw_commands(self.ours.port).keys() - arity.keys()
        redis_categories = self.admins[0].execute_command("ACL", "CAT")
        self.assertEqual(self.admins[1].execute_command("ACL", "CAT")[:len(redis_categories)],
                         redis_categories)
        for category in redis_categories:
            members = [set(r.execute_command("ACL", "CAT", category)) for r in self.admins]
            self.assertEqual(members[1] - ours_only, members[0] & set(shared), category)
        rule_sets = [["+@read"], ["+@all", "-@dangerous"], ["+@write", "-@keyspace"],
                     ["-@all", "+@hash", "+get"], ["+@all", "-@admin", "+config|get"],
                     ["+@fast", "-@connection"], ["+@slow", "+@scripting", "-@pubsub"],
                     ["+@all", "-client", "+client|id"], ["-@all", "+select|0", "+debug|object"]]
        for rules in rule_sets:
            self.both("ACL", "SETUSER", "dry", "reset", "on", "allkeys", "allchannels", *rules)
            descriptions = [r.execute_command("ACL", "GETUSER", "dry")[5] for r in self.admins]
            for name in shared:
                argv = name.split("|")
                argv += ["0"] * max(0, abs(arity[name]) - len(argv))
                replies = [outcome(r, "ACL", "DRYRUN", "dry", *argv) for r in self.admins]
                self.assertEqual(replies[1], replies[0], (rules, name, descriptions))
            self.both("ACL", "DRYRUN", "dry", "select", "1")

    def test_key_and_channel_patterns_match_redis(self):
        self.both("ACL", "SETUSER", "k", "on", ">pw", "%R~r:*", "%W~w:*", "~rw:*", "&ch.*",
                  "+@all", "(~sel:* +get)")
        calls = [
            ["GET", "r:1"], ["SET", "r:1", "v"], ["SET", "w:1", "v"], ["GET", "w:1"],
            ["GET", "rw:1"], ["SET", "rw:1", "v"], ["COPY", "r:1", "w:1"], ["COPY", "w:1", "r:1"],
            ["LMOVE", "r:1", "w:1", "LEFT", "RIGHT"], ["LMOVE", "rw:1", "r:1", "LEFT", "RIGHT"],
            ["RENAME", "rw:1", "w:2"], ["DEL", "r:1"], ["DEL", "w:1"], ["EXISTS", "w:1"],
            ["MSET", "w:1", "a", "rw:2", "b"], ["MSET", "w:1", "a", "r:2", "b"],
            ["GET", "sel:1"], ["SET", "sel:1", "v"], ["SORT", "r:1"], ["SORT_RO", "r:1"],
            ["PUBLISH", "ch.1", "m"], ["PUBLISH", "other", "m"],
            ["SUBSCRIBE", "ch.1", "other"], ["PSUBSCRIBE", "ch.*"], ["PSUBSCRIBE", "ch.1*"],
            ["EVAL", "return 1", "1", "w:1"], ["XREAD", "STREAMS", "r:1", "0"],
            ["ZUNIONSTORE", "w:z", "2", "r:1", "rw:1"], ["ZUNIONSTORE", "r:z", "1", "r:1"],
            ["BITOP", "AND", "w:b", "r:1", "x:1"], ["GEOSEARCHSTORE", "w:g", "r:g", "FROMLONLAT",
                                                    "0", "0", "BYRADIUS", "1", "m"],
        ]
        for argv in calls:
            self.both("ACL", "DRYRUN", "k", *argv)
        users = self.as_user("k", "pw")
        for argv in calls:
            if argv[0] not in ("SUBSCRIBE", "PSUBSCRIBE"):
                self.same(users, *argv)
        log = [r.execute_command("ACL", "LOG", "50") for r in self.admins]
        self.assertEqual(len(log[1]), len(log[0]))
        for ours, theirs in zip(log[1], log[0]):
            for field in ("count", "reason", "context", "object", "username"):
                self.assertEqual(ours[ours.index(field) + 1], theirs[theirs.index(field) + 1])

    def test_auth_hello_whoami_and_failed_logins_match_redis(self):
        self.both("ACL", "SETUSER", "alice", "on", ">wonder", "~*", "+@all")
        self.both("ACL", "SETUSER", "off", "off", ">pw", "+@all")
        conns = [RawConnection(s.port) for s in (self.redis, self.ours)]
        for c in conns:
            self.addCleanup(c.close)

        def raw_both(*args):
            replies = [c.call(*args) for c in conns]
            self.assertEqual(replies[1].kind, replies[0].kind, args)
            if replies[0].kind in "-+:":
                self.assertEqual(replies[1].value, replies[0].value, args)
            return replies[1]

        raw_both("AUTH", "alice", "nope")
        raw_both("AUTH", "nobody", "x")
        raw_both("AUTH", "off", "pw")
        raw_both("AUTH", "only-one-argument")
        raw_both("AUTH", "a", "b", "c")
        raw_both("ACL", "WHOAMI")
        raw_both("AUTH", "alice", "wonder")
        self.assertEqual(raw_both("ACL", "WHOAMI").value, b"alice")
        raw_both("HELLO", "2", "AUTH", "alice", "wrong")
        raw_both("HELLO", "2", "AUTH", "default", "anything")
        self.assertEqual(raw_both("ACL", "WHOAMI").value, b"default")
        self.assertIn(b"user=default", raw_both("CLIENT", "INFO").value)
        log = [r.execute_command("ACL", "LOG") for r in self.admins]
        strip = [[e[:10] for e in entries] for entries in log]  # without age and client info
        self.assertEqual(strip[1], strip[0])
        # The client's line as CLIENT INFO has it (without its newline): which command, as whom.
        def who(info):
            fields = dict(f.split("=", 1) for f in info.split(" "))
            return fields["cmd"], fields["user"], info[-1]
        self.assertEqual([who(e[13]) for e in log[1]], [who(e[13]) for e in log[0]])
        self.assertEqual(len(log[1]), 4)
        # With a password on the default user, a connection must authenticate first.
        self.both("CONFIG", "SET", "requirepass", "secret")
        for r in self.admins:
            self.addCleanup(r.execute_command, "CONFIG", "SET", "requirepass", "")
        fresh = [RawConnection(s.port) for s in (self.redis, self.ours)]
        for c in fresh:
            self.addCleanup(c.close)
        replies = [c.call("GET", "x") for c in fresh]
        self.assertEqual(replies[1].value, replies[0].value)
        replies = [c.call("HELLO", "3") for c in fresh]
        self.assertEqual(replies[1].value, replies[0].value)
        replies = [c.call("AUTH", "secret") for c in fresh]
        self.assertEqual(replies[1].value, replies[0].value)

    def test_transactions_and_scripts_check_permissions_as_redis_does(self):
        self.both("ACL", "SETUSER", "t", "on", ">pw", "~*", "+@all", "-flushall", "-set")
        users = self.as_user("t", "pw")
        pipes = [u.pipeline(transaction=True) for u in users]
        for p in pipes:
            p.get("a")
            p.flushall()
        replies = []
        for p in pipes:
            try:
                replies.append(p.execute())
            except redis.ResponseError as e:
                replies.append(str(e))
        self.assertEqual(replies[1], replies[0])
        # Permissions taken away between MULTI and EXEC refuse the queued command at EXEC.
        raws = [RawConnection(s.port) for s in (self.redis, self.ours)]
        for c in raws:
            self.addCleanup(c.close)
            c.call("AUTH", "t", "pw")
            c.call("MULTI")
            c.call("GET", "a")
            c.call("INCR", "n")
        self.both("ACL", "SETUSER", "t", "-incr")
        execs = [c.call("EXEC") for c in raws]
        self.assertEqual([r.value for r in execs[1].value], [r.value for r in execs[0].value])
        # Scripts run their calls as the user that runs the script.
        for script in ("return redis.call('set', KEYS[1], 'v')",
                       "return redis.pcall('set', KEYS[1], 'v')",
                       "return redis.call('get', KEYS[1])"):
            self.same(users, "EVAL", script, "1", "k")
        self.both("ACL", "SETUSER", "t", "resetkeys", "~k", "+set")
        self.same(users, "EVAL", "return redis.call('set', 'other', 'v')", "0")
        self.same(users, "EVAL", "return redis.pcall('set', 'k', 'v')", "0")
        log = [r.execute_command("ACL", "LOG") for r in self.admins]
        self.assertEqual([e[:10] for e in log[1]], [e[:10] for e in log[0]])

    def test_removed_users_and_revoked_channels_close_connections(self):
        self.both("ACL", "SETUSER", "gone", "on", ">pw", "~*", "&*", "+@all")
        for admin, server in zip(self.admins, (self.redis, self.ours)):
            user = RawConnection(server.port)
            self.addCleanup(user.close)
            self.assertEqual(user.call("AUTH", "gone", "pw").value, "OK")
            admin.execute_command("ACL", "DELUSER", "gone")
            with self.assertRaises((ConnectionError, OSError)):
                user.call("PING")
        self.both("ACL", "SETUSER", "sub", "on", ">pw", "~*", "resetchannels", "&news",
                  "+@all")
        for admin, server in zip(self.admins, (self.redis, self.ours)):
            c = RawConnection(server.port)
            self.addCleanup(c.close)
            c.call("AUTH", "sub", "pw")
            c.call("SUBSCRIBE", "news")
            admin.execute_command("ACL", "SETUSER", "sub", "resetchannels", "&other")
            with self.assertRaises((ConnectionError, OSError)):
                c.read()

    def test_acl_file_save_and_load_as_redis_does(self):
        self.both("ACL", "SETUSER", "saved", "on", ">pw", "~q:*", "&c", "-@all", "+@read",
                  "(+set ~w:*)")
        self.both("ACL", "SAVE")
        texts = [open(f).read() for f in self.files]
        self.assertEqual(texts[1], texts[0])
        self.both("ACL", "SETUSER", "transient", "on")
        self.both("ACL", "LOAD")
        self.both("ACL", "USERS")
        for f in self.files:
            with open(f, "a") as out:
                out.write("user broken on +nosuch\nnotauser\nuser saved on\n")
        replies = [outcome(r, "ACL", "LOAD") for r in self.admins]
        self.assertEqual(replies[1].replace(self.files[1], "FILE"),
                         replies[0].replace(self.files[0], "FILE"))
        self.both("ACL", "USERS")
        for f in self.files:
            with open(f, "w") as out:
                out.write(texts[0])
        # A restart reads the file.
        restarted = Scheduler("--aclfile", self.files[1])
        self.addCleanup(restarted.stop)
        user = redis.Redis(port=restarted.port, username="saved", password="pw")
        self.addCleanup(user.close)
        self.assertIsNone(user.get("q:1"))
        with self.assertRaises(redis.exceptions.NoPermissionError):
            user.set("q:1", "v")
        # Without an ACL file, SAVE and LOAD refuse as Redis does.
        plain = [RedisServer(), Scheduler()]
        for s in plain:
            self.addCleanup(s.stop)
        replies = [outcome(redis.Redis(port=s.port), "ACL", "SAVE") for s in plain]
        self.assertEqual(replies[1], replies[0])

    def test_monitor_and_slowlog_hide_passwords_and_rules(self):
        monitors = [RawConnection(s.port) for s in (self.redis, self.ours)]
        for m in monitors:
            self.addCleanup(m.close)
            m.call("MONITOR")
        secrets = [("AUTH", "secret-1"), ("AUTH", "someone", "secret-2"),
                   ("HELLO", "2", "AUTH", "someone", "secret-3"), ("SET", "a", "b")]
        for r in self.admins:
            r.config_set("slowlog-log-slower-than", 0)
            r.slowlog_reset()
            for args in secrets + [("ACL", "SETUSER", "x", ">secret-4"),
                                   ("CONFIG", "SET", "requirepass", "")]:
                outcome(r, *args)
            r.config_set("slowlog-log-slower-than", 10000)
        for m in monitors:
            lines = [m.read().value for _ in secrets]
            self.assertEqual([line.split("] ", 1)[1] for line in lines],
                             ['"AUTH" "(redacted)"', '"AUTH" "(redacted)" "(redacted)"',
                              '"HELLO" "2" "AUTH" "(redacted)" "(redacted)"', '"SET" "a" "b"'])
        logs = []
        for r in self.admins:
            r.response_callbacks.pop("SLOWLOG GET", None)
            logs.append([e[3] for e in r.execute_command("SLOWLOG", "GET", "20")])
        self.assertEqual(logs[1], logs[0])
        self.assertNotIn("secret", str(logs[1]))

    def test_debug_only_for_local_connections_by_default(self):
        def call_from(address, port, *args):
            with socket.create_connection(("127.0.0.1", port), source_address=(address, 0),
                                          timeout=10) as conn:
                c = RawConnection.__new__(RawConnection)
                c.sock, c.buf = conn, b""
                return c.call(*args)
        replies = [call_from("127.0.0.2", s.port, "DEBUG", "SLEEP", "0")
                   for s in (self.redis, self.ours)]
        self.assertEqual(replies[1].kind, "-")
        self.assertEqual(replies[1].value, replies[0].value)
        self.assertEqual(call_from("127.0.0.1", self.ours.port, "DEBUG", "SLEEP", "0").value,
                         "OK")
        self.assertEqual(self.admins[1].config_get("enable-debug-command"),
                         {"enable-debug-command": "local"})

    def test_runner_category_lets_a_worker_user_take_and_finish_jobs_only(self):
        r = self.admins[1]
        r.execute_command("ACL", "SETUSER", "runner", "on", ">pw", "allkeys", "-@all",
                          "+@runner", "+ping")
        for allowed in (["JOB.FETCH", "w1"], ["JOB.ACK", "1"], ["WORKER.HEARTBEAT", "w1"],
                        ["WORKER.REGISTER", "w1"], ["JOB.FAIL", "1", "ERROR", "E"],
                        ["JOB.RELEASE", "1"], ["PING"]):
            self.assertEqual(r.execute_command("ACL", "DRYRUN", "runner", *allowed), "OK")
        for refused in (["QUEUE.DELETE", "q"], ["JOB.PUSH", "q", "{}"], ["FLUSHALL"],
                        ["WORKER.STOP", "w1"], ["GET", "k"]):
            self.assertIn("no permissions to run",
                          r.execute_command("ACL", "DRYRUN", "runner", *refused))


class KeyFilteringTest(unittest.TestCase):
    """desaster's commands that find keys themselves (QUEUE.LIST, failure searches, jobs and
    failures named by id, bulk actions) act only on the keys their user may access."""

    def setUp(self):
        self.server = Scheduler("--protected-mode", "no")
        self.addCleanup(self.server.stop)
        admin = self.server.client(decode_responses=True)
        self.addCleanup(admin.close)
        self.jobs = {q: admin.execute_command("JOB.PUSH", f"resque:queue:{q}",
                                              json.dumps({"class": "Job", "args": [q]}))
                     for q in ("a1", "b1")}
        for q in ("a1", "b1"):
            admin.rpush("resque:failed", json.dumps({
                "failed_at": "2026/12/05 10:00:00 UTC", "payload": {"class": "Job", "args": [q]},
                "exception": "RuntimeError", "error": f"broke in {q}", "backtrace": [],
                "worker": "w", "queue": q}))
        wait_for(lambda: admin.execute_command("FAILED.COUNTS")[1] == 2, what="the failures")
        self.failures = {f[f.index("queue") + 1].split(":")[-1]: f[f.index("id") + 1]
                         for f in admin.execute_command("FAILED.LIST")[3]}
        admin.execute_command("ACL", "SETUSER", "a-team", "on", ">pw", "~resque:queue:a*", "+@all")
        admin.execute_command("ACL", "SETUSER", "a-viewer", "on", ">pw", "%R~resque:queue:a*",
                              "+@all")
        self.admin = admin

    def as_user(self, name):
        r = self.server.client(username=name, password="pw", decode_responses=True)
        self.addCleanup(r.close)
        return r

    def test_listings_and_searches_show_only_the_users_keys(self):
        r = self.as_user("a-team")
        self.assertEqual(r.execute_command("QUEUE.LIST"), ["resque:queue:a1"])
        listed = r.execute_command("FAILED.LIST")
        self.assertEqual(listed[1], 1)
        self.assertEqual(listed[3][0][listed[3][0].index("queue") + 1], "resque:queue:a1")
        groups = r.execute_command("FAILED.GROUPS", "BY", "queue")
        self.assertEqual([g[g.index("group") + 1] for g in groups], ["resque:queue:a1"])
        self.assertIsNone(r.execute_command("FAILED.INFO", self.failures["b1"]))
        self.assertIsNotNone(r.execute_command("FAILED.INFO", self.failures["a1"]))
        self.assertIsNone(r.execute_command("JOB.INFO", self.jobs["b1"]))
        self.assertIsNotNone(r.execute_command("JOB.INFO", self.jobs["a1"]))
        # A key named as an argument is refused as Redis refuses it.
        with self.assertRaisesRegex(redis.exceptions.NoPermissionError, "keys used as arguments"):
            r.execute_command("QUEUE.JOBS", "resque:queue:b1")

    def test_bulk_actions_touch_only_keys_the_user_may_write(self):
        viewer, team = self.as_user("a-viewer"), self.as_user("a-team")
        # Read access lets the viewer see, not act.
        self.assertEqual(viewer.execute_command("FAILED.LIST")[1], 1)
        self.assertEqual(viewer.execute_command("FAILED.REMOVE", self.failures["a1"]), 0)
        self.assertEqual(viewer.execute_command("JOB.DELETE", self.jobs["a1"]), 0)
        # The team acts on its own queues only, by id or by search.
        self.assertEqual(team.execute_command("JOB.DELETE", self.jobs["a1"], self.jobs["b1"]), 1)
        with self.assertRaisesRegex(redis.ResponseError, "no such queue 'resque:queue:b1'"):
            team.execute_command("JOB.RUN", "WHERE", "resque:queue:b1")
        self.assertEqual(team.execute_command("FAILED.RETRY", "WHERE"), 1)
        self.assertEqual(team.execute_command("FAILED.REMOVE", self.failures["b1"]), 0)
        self.assertEqual(self.admin.llen("resque:queue:b1"), 1)
        self.assertEqual(self.admin.execute_command("FAILED.COUNTS")[1], 2)
        state = lambda q: self.admin.execute_command("FAILED.INFO", self.failures[q])[3]
        self.assertEqual((state("a1"), state("b1")), ("retried", "retrying"))
        # A worker may only register for queues it may write.
        with self.assertRaisesRegex(redis.exceptions.NoPermissionError, "keys used as arguments"):
            team.execute_command("WORKER.REGISTER", "w-b", "QUEUES", "resque:queue:b1")
        self.assertEqual(team.execute_command("WORKER.REGISTER", "w-a", "QUEUES",
                                              "resque:queue:a1"), "OK")


if __name__ == "__main__":
    main()
