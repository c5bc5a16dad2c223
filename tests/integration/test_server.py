#!/usr/bin/python3
"""Server and connection commands, options, and the process itself."""
import os
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redis  # noqa: E402
from harness import (SCHEDULER, RawConnection, RedisServer, Reply, Scheduler, ServerTest,  # noqa: E402
                     main, read_line, wait_for)


def plain(reply):
    """A reply as plain Python: arrays, sets and maps as lists (sets sorted), text as str."""
    if reply.kind in "*~%":
        items = [plain(r) for r in reply.value]
        return sorted(items) if reply.kind == "~" else items
    return reply.value.decode() if isinstance(reply.value, bytes) else reply.value


def every_command(port):
    """COMMAND's reply as plain Python: the info of every command and of every subcommand."""
    c = RawConnection(port)
    try:
        reply = plain(c.call("COMMAND"))
    finally:
        c.close()
    out = []

    def walk(info):
        out.append(info)
        for sub in info[9]:
            walk(sub)
    for info in reply:
        walk(info)
    return out


def redis_client(port):
    return redis.Redis(port=port, decode_responses=True)


def command_flags(port):
    """Every command's and subcommand's flags, by name."""
    return {info[0]: info[2] for info in every_command(port)}


def key_specs(port):
    """Every command's and subcommand's key specs, by name. Redis' free-text "notes" on a few
    of them are documentation, not what they say, and are left out."""
    return {info[0]: [{spec[i]: spec[i + 1] for i in range(0, len(spec), 2) if spec[i] != "notes"}
                      for spec in info[8]] for info in every_command(port)}


class ServerCommandsTest(ServerTest):
    def test_info_has_what_client_libraries_check(self):
        info = self.server.cli("INFO")
        version = re.search(r"^redis_version:(\S+)\r?$", info, re.M).group(1)
        self.assertRegex(version, r"^[1-9]\.\d+\.\d+$")  # numeric, first digit < 10 (Sidekiq)
        self.assertGreaterEqual(tuple(map(int, version.split("."))), (6, 2, 0))  # BullMQ
        self.assertIn("maxmemory_policy:noeviction", info)
        self.assertIn("loading:0", info)
        self.r.set("k", "v")
        self.assertEqual(self.r.info("keyspace")["db0"]["keys"], 1)
        self.assertIn("cmdstat_set", self.r.info("commandstats"))
        self.assertEqual(self.r.info("server")["redis_mode"], "standalone")

    def test_info_memory_counts_what_the_heap_holds(self):
        # Sidekiq's and resque's web UIs show used_memory; it read 0 under jemalloc.
        before = self.r.info("memory")["used_memory"]
        self.assertGreater(before, 0)
        p = self.r.pipeline(transaction=False)
        for i in range(20000):
            p.set(f"mem:{i}", "x" * 200)
        p.execute()
        memory = self.r.info("memory")
        self.assertGreater(memory["used_memory"], before + 20000 * 200)
        self.assertGreaterEqual(memory["used_memory_peak"], memory["used_memory"])
        self.assertGreaterEqual(memory["used_memory_rss"], memory["used_memory"])

    def test_info_memory_says_what_redis_says_of_the_settings_and_the_allocator(self):
        # Monitoring reads maxmemory, the fragmentation ratio and the allocator from INFO; they
        # read 0 and "libc" whatever was configured or linked.
        redis = RedisServer()
        self.addCleanup(redis.stop)
        theirs, ours = redis_client(redis.port), self.r
        for r in (theirs, ours):
            r.config_set("maxmemory", "100mb")
        self.addCleanup(ours.config_set, "maxmemory", "0")
        a, b = theirs.info("memory"), ours.info("memory")
        for field in ("maxmemory", "maxmemory_human", "maxmemory_policy", "total_system_memory",
                      "total_system_memory_human"):
            self.assertEqual(b[field], a[field], field)
        self.assertEqual(b["maxmemory"], 100 << 20)
        self.assertAlmostEqual(b["mem_fragmentation_ratio"],
                               b["used_memory_rss"] / b["used_memory"], delta=0.01)
        self.assertEqual(b["mem_fragmentation_bytes"], b["used_memory_rss"] - b["used_memory"])
        self.assertEqual(b["used_memory_peak_perc"],
                         f"{100 * b['used_memory'] / b['used_memory_peak']:.2f}%")
        # Units as Redis names them, up to P; beyond, bytes.
        for limit in ("1023", "1048575", str(2 << 40), str(5000 << 40), str(2 ** 63 - 1),
                      str(2 ** 64 - 1)):
            for r in (theirs, ours):
                r.config_set("maxmemory", limit)
            self.assertEqual(ours.info("memory")["maxmemory_human"],
                             theirs.info("memory")["maxmemory_human"], limit)
        linked = subprocess.run(["ldd", SCHEDULER], capture_output=True, text=True).stdout
        if "libjemalloc" in linked:  # Debian's redis-server uses the same library
            self.assertEqual(b["mem_allocator"], a["mem_allocator"])
        else:  # the sanitizer build: its allocator replaces malloc
            self.assertEqual(b["mem_allocator"], "libc")

    def test_a_connection_gives_back_the_memory_a_burst_took(self):
        value = b"v" * (1 << 20)
        self.r.set("big", value)
        before = self.r.info("memory")["used_memory"]
        # Nothing written (the store's own memory stays out of it): 40 MB of input, and 140 MB
        # of replies at once.
        echoed = b"e" * (40 << 20)
        p = self.r.pipeline(transaction=False)
        p.echo(echoed)
        for _ in range(100):
            p.get("big")
        self.assertEqual(p.execute(), [echoed] + [value] * 100)
        # The same connection, still open, holds buffers for its next burst, not for its last.
        grown = self.r.info("memory")["used_memory"] - before
        self.assertLess(grown, 10 << 20)

    def test_command_list_filters_and_acl_categories(self):
        c = self.connect()
        listed = lambda *filter_by: {r.value for r in c.call("COMMAND", "LIST", *filter_by).value}
        everything = listed()
        self.assertIn(b"config|get", everything)  # subcommands too, as in Redis 7
        self.assertEqual(listed("FILTERBY", "PATTERN", "config*"),
                         {n for n in everything if n.startswith(b"config")})
        pubsub = listed("FILTERBY", "ACLCAT", "pubsub")
        self.assertTrue({b"publish", b"subscribe", b"pubsub|channels"} <= pubsub)
        self.assertNotIn(b"get", pubsub)
        self.assertIn(b"job.fetch", listed("FILTERBY", "ACLCAT", "job"))
        self.assertEqual(listed("FILTERBY", "MODULE", "anything"), set())
        self.assertEqual(c.call("COMMAND", "LIST", "FILTERBY", "ACLCAT"),
                         Reply("-", "ERR syntax error"))
        info = c.call("COMMAND", "INFO", "get").value[0].value
        self.assertEqual({r.value for r in info[6].value}, {"@read", "@fast", "@string"})

    def test_key_specs_say_what_redis_says_of_each_key(self):
        # Where each key is and how the command uses it (read, write, insert, delete...): what
        # cluster clients and ACL key permissions go by. Derived from the argument grammar and
        # the flags each command declares, they must be Redis' for every command both have.
        redis = RedisServer()
        self.addCleanup(redis.stop)
        theirs, ours = key_specs(redis.port), key_specs(self.server.port)
        shared = sorted(set(theirs) & set(ours))
        self.assertGreater(len(shared), 200)
        self.assertGreater(sum(len(theirs[name]) for name in shared), 150)
        # SORT's BY and GET patterns name keys no spec can find: Redis says "unknown" for them
        # and for the STORE destination, which desaster finds after STORE. LCS's two keys are
        # one range to Redis and two key arguments to desaster's grammar (the same keys).
        for name in set(shared) - {"sort", "sort_ro", "lcs"}:
            self.assertEqual(ours[name], theirs[name], name)
        # Keys that move (after a keyword, counted by numkeys) are flagged as Redis flags them.
        movable = lambda port: {name for name, flags in command_flags(port).items()  # noqa: E731
                                if "movablekeys" in flags}
        described = set(shared) - {"sort", "sort_ro"}
        self.assertEqual(movable(self.server.port) & described, movable(redis.port) & described)
        # desaster's own commands: a queue push inserts, a delete removes, a read reads.
        self.assertEqual([spec["flags"] for spec in ours["job.move"]],
                         [["RW", "insert"], ["RW", "delete"]])
        self.assertEqual(ours["queue.jobs"][0]["flags"], ["RO", "access"])

    def test_config_get_and_set(self):
        self.assertEqual(self.r.config_get("maxmemory-policy"), {"maxmemory-policy": "noeviction"})
        self.assertEqual(set(self.r.config_get("max*")),
                         {"maxmemory", "maxmemory-policy", "maxclients", "maxmemory-clients",
                          "maxmemory-eviction-tenacity", "maxmemory-samples"})
        self.r.config_set("timeout", "300")
        self.assertEqual(self.r.config_get("timeout"), {"timeout": "300"})
        self.r.config_set("timeout", "0")
        self.assertError(lambda: self.r.config_set("no-such-thing", "1"),
                         "Unknown option or number of arguments for CONFIG SET - 'no-such-thing'")
        self.assertError(lambda: self.r.config_set("timeout", "soon"),
                         "CONFIG SET failed (possibly related to argument 'timeout') - "
                         "argument couldn't be parsed into an integer")
        c = self.connect()
        self.assertEqual(c.call("CONFIG", "NOPE"),
                         Reply("-", "ERR unknown subcommand 'NOPE'. Try CONFIG HELP."))
        self.assertEqual(c.call("CONFIG"),
                         Reply("-", "ERR wrong number of arguments for 'config' command"))
        self.assertEqual(c.call("CONFIG", "GET"),
                         Reply("-", "ERR wrong number of arguments for 'config|get' command"))

    def test_client_commands_as_rq_and_bullmq_use_them(self):
        c = self.connect()
        self.assertEqual(c.call("CLIENT", "SETNAME", "bull:cXVldWU="), Reply("+", "OK"))
        self.assertEqual(c.call("CLIENT", "GETNAME"), Reply("$", b"bull:cXVldWU="))
        self.assertEqual(c.call("CLIENT", "SETINFO", "LIB-NAME", "ioredis"), Reply("+", "OK"))
        self.assertEqual(c.call("CLIENT", "SETNAME", "has space").kind, "-")
        listing = self.r.client_list()
        named = [x for x in listing if x["name"] == "bull:cXVldWU="]
        self.assertEqual(len(named), 1)
        self.assertRegex(named[0]["addr"], r"^127\.0\.0\.1:\d+$")
        my_id = c.call("CLIENT", "ID").value
        self.assertEqual(self.r.client_kill_filter(_id=my_id), 1)
        with self.assertRaises(ConnectionError):
            c.call("PING")

    def test_client_reply_off_and_skip(self):
        c = self.connect()
        c.send(c.encode("CLIENT", "REPLY", "OFF") + c.encode("SET", "a", "1") +
               c.encode("CLIENT", "REPLY", "ON"))
        self.assertEqual(c.read(), Reply("+", "OK"))  # only ON answers
        c.send(c.encode("CLIENT", "REPLY", "SKIP") + c.encode("SET", "b", "2") + c.encode("GET", "a"))
        self.assertEqual(c.read(), Reply("$", b"1"))
        self.assertEqual(self.r.get("b"), b"2")

    def test_command_introspection(self):
        c = self.connect()
        self.assertGreater(c.call("COMMAND", "COUNT").value, 150)
        info = c.call("COMMAND", "INFO", "get", "nosuch")
        self.assertEqual(info.value[0].value[0], Reply("$", b"get"))
        self.assertEqual(info.value[0].value[1], Reply(":", 2))
        self.assertEqual(info.value[1], Reply("*", None))
        self.assertEqual(c.call("COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"),
                         Reply("*", [Reply("$", b"a"), Reply("$", b"b")]))
        docs = self.server.cli("COMMAND", "DOCS", "lpush")
        self.assertIn("Prepend elements to a list", docs)

    def test_monitor_streams_commands(self):
        m = self.connect()
        self.assertEqual(m.call("MONITOR"), Reply("+", "OK"))
        self.r.set("watched", "a b")
        line = m.read().value
        self.assertRegex(line, r'^\d+\.\d{6} \[0 127\.0\.0\.1:\d+\] "SET" "watched" "a b"$')

    def test_slowlog_records_commands_over_the_threshold(self):
        self.r.config_set("slowlog-log-slower-than", "0")
        self.r.execute_command("SLOWLOG", "RESET")
        self.r.set("slow", "1")
        self.r.config_set("slowlog-log-slower-than", "10000")
        entries = self.r.slowlog_get()
        self.assertTrue(any(e["command"] == b"SET slow 1" for e in entries))

    def test_select_isolates_databases_and_checks_the_index(self):
        a, b = self.server.client(db=0), self.server.client(db=3)
        a.set("k", "zero")
        b.set("k", "three")
        self.assertEqual(a.get("k"), b"zero")
        self.assertEqual(b.dbsize(), 1)
        c = self.connect()
        self.assertEqual(c.call("SELECT", "16"), Reply("-", "ERR DB index is out of range"))
        self.assertEqual(c.call("SELECT", "x"), Reply("-", "ERR value is not an integer or out of range"))

    def test_active_expiry_removes_keys_nobody_reads(self):
        for i in range(300):
            self.r.set(f"tmp{i}", "x", px=50)
        self.r.set("keep", "x")
        wait_for(lambda: self.r.dbsize() == 1, what="expired keys to be collected")
        self.assertGreaterEqual(self.r.info("stats")["expired_keys"], 300)

    def test_denyoom_flags_are_redis_flags(self):
        redis = RedisServer()
        self.addCleanup(redis.stop)
        theirs, ours = command_flags(redis.port), command_flags(self.server.port)
        shared = set(theirs) & set(ours)
        self.assertEqual({n for n in shared if "denyoom" in ours[n]},
                         {n for n in shared if "denyoom" in theirs[n]})

    def test_writes_over_maxmemory_are_refused_as_redis_refuses_them(self):
        # Past maxmemory (1 byte: always past), what may grow memory is refused with -OOM;
        # reads, deletes and CONFIG still run. Compared with redis-server reply by reply.
        redis = RedisServer()
        self.addCleanup(redis.stop)
        steps = [["SET", "k", "v"], ["RPUSH", "l", "a"], ["CONFIG", "SET", "maxmemory", "1"],
                 ["SET", "k", "w"], ["GET", "k"], ["LPOP", "l"], ["DEL", "k"], ["INCR", "n"],
                 ["EVAL", "return redis.call('set', 'x', 'y')", "0"],
                 ["EVAL", "return redis.call('get', 'x')", "0"],
                 ["MULTI"], ["GET", "k"], ["SET", "k", "v"], ["EXEC"],
                 ["CONFIG", "GET", "maxmemory"], ["CONFIG", "SET", "maxmemory", "0"],
                 ["SET", "k", "v"], ["MULTI"], ["SET", "k", "v2"],
                 ["CONFIG", "SET", "maxmemory", "1"], ["EXEC"],
                 ["CONFIG", "SET", "maxmemory", "0"], ["GET", "k"]]
        replies = []
        for port in (redis.port, self.server.port):
            a, b = RawConnection(port), RawConnection(port)  # b changes the setting mid-MULTI
            out = []
            for step in steps:
                conn = b if step[0] == "CONFIG" else a
                reply = conn.call(*step)
                if reply.kind == "-":  # the script's error names its line; the rest is Redis'
                    reply = Reply("-", reply.value.split(" script:")[0])
                out.append(reply)
            replies.append(out)
            a.close()
            b.close()
        self.assertEqual(replies[1], replies[0])
        self.assertIn(Reply("-", "OOM command not allowed when used memory > 'maxmemory'."),
                      replies[1])

    def test_client_pause_write_holds_writes_and_answers_reads(self):
        holder, scripted, other = self.connect(), self.connect(), self.connect()
        self.r.set("k", "old")
        self.r.set("short", "v", px=30)
        self.assertTrue(self.r.client_pause(10000, all=False))
        # A read, then what waits: once the read is answered, the server has read the rest.
        holder.send(holder.encode("GET", "k") + holder.encode("SET", "k", "new") +
                    holder.encode("GET", "k"))
        self.assertEqual(holder.read(), Reply("$", b"old"))
        scripted.send(scripted.encode("GET", "n") +
                      scripted.encode("EVAL", "return redis.call('incr', 'n')", "0"))
        self.assertEqual(scripted.read(), Reply("$", None))
        self.assertEqual(other.call("GET", "k"), Reply("$", b"old"))  # the write waits
        self.assertEqual(other.call("GET", "n"), Reply("$", None))  # a script may write: waits
        # No key expires during the pause: one past its time reads as absent, and stays.
        wait_for(lambda: other.call("GET", "short") == Reply("$", None), timeout=10)
        self.assertEqual(other.call("DBSIZE"), Reply(":", 2))
        self.assertEqual(other.call("CLIENT", "UNPAUSE"), Reply("+", "OK"))
        self.assertEqual(holder.read(), Reply("+", "OK"))
        self.assertEqual(holder.read(), Reply("$", b"new"))
        self.assertEqual(scripted.read(), Reply(":", 1))

    def test_client_pause_all_holds_every_command_until_its_time_is_up(self):
        self.r.execute_command("CLIENT", "PAUSE", "300", "ALL")
        start = time.monotonic()
        c = self.connect()
        self.assertEqual(c.call("CLIENT", "UNPAUSE"), Reply("+", "OK"))  # held like the rest
        self.assertGreaterEqual(time.monotonic() - start, 0.25)
        # A pause during another takes the longer time and the wider mode.
        self.r.execute_command("CLIENT", "PAUSE", "1500", "WRITE")
        start = time.monotonic()
        self.r.execute_command("CLIENT", "PAUSE", "10", "ALL")
        self.assertEqual(c.call("PING"), Reply("+", "PONG"))
        self.assertGreaterEqual(time.monotonic() - start, 1.3)

    def test_client_pause_errors_answer_as_redis_does(self):
        redis = RedisServer()
        self.addCleanup(redis.stop)
        for args in (["abc"], ["-1"], ["10", "FOO"], ["10", "WRITE", "extra"], ["0"],
                     ["0", "write"], ["9223372036854775808"]):
            replies = []
            for port in (redis.port, self.server.port):
                conn = RawConnection(port)
                replies.append(conn.call("CLIENT", "PAUSE", *args))
                conn.close()
            self.assertEqual(replies[1], replies[0], args)

    def test_unknown_commands_and_arity(self):
        c = self.connect()
        self.assertEqual(c.call("FOO", "a", "b"),
                         Reply("-", "ERR unknown command 'FOO', with args beginning with: 'a' 'b' "))
        self.assertEqual(c.call("SET", "k"),
                         Reply("-", "ERR wrong number of arguments for 'set' command"))


class ProcessTest(ServerTest):
    extra_args = ("--requirepass", "s3cret", "--timeout", "1")

    def setUp(self):
        self.r = self.server.client(password="s3cret")
        self.r.flushall()

    def test_auth_is_required(self):
        c = self.connect()
        self.assertEqual(c.call("GET", "k"), Reply("-", "NOAUTH Authentication required."))
        self.assertEqual(c.call("AUTH", "wrong"), Reply(
            "-", "WRONGPASS invalid username-password pair or user is disabled."))
        self.assertEqual(c.call("AUTH", "s3cret"), Reply("+", "OK"))
        self.assertEqual(c.call("GET", "k"), Reply("$", None))
        d = self.connect()
        self.assertEqual(d.call("HELLO", "3", "AUTH", "default", "s3cret").kind, "%")

    def test_idle_clients_are_closed_after_the_timeout(self):
        c = self.connect()
        c.call("AUTH", "s3cret")

        def closed():
            try:
                c.sock.settimeout(0.2)
                return c.sock.recv(1) == b""
            except (TimeoutError, OSError):
                return False

        wait_for(closed, timeout=10, what="the idle client to be closed")


class LifecycleTest(ServerTest):
    def setUp(self):
        pass

    def tearDown(self):
        pass

    def test_help_and_bad_options(self):
        out = subprocess.run([SCHEDULER, "--help"], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0)
        for option in ("--port", "--bind", "--data-dir", "--requirepass", "--maxclients",
                       "--databases", "--loglevel", "--config"):
            self.assertIn(option, out.stdout)
        bad = subprocess.run([SCHEDULER, "--no-such-option"], capture_output=True, text=True)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("Try --help", bad.stderr)

    def test_protected_mode_refuses_clients_not_on_loopback_as_redis_does(self):
        def ping_from(address, port):
            with socket.create_connection(("127.0.0.1", port), source_address=(address, 0),
                                          timeout=10) as conn:
                conn.sendall(b"*1\r\n$4\r\nPING\r\n")
                return read_line(conn)
        redis_server, ours = RedisServer(), Scheduler()
        self.addCleanup(redis_server.stop)
        self.addCleanup(ours.stop)
        ours.wait_loaded()
        ports = (redis_server.port, ours.port)
        # 127.0.0.2 is this host too, but not the address protected mode trusts.
        denied = [ping_from("127.0.0.2", port) for port in ports]
        self.assertEqual(denied[1], denied[0])
        self.assertTrue(denied[1].startswith(b"-DENIED Redis is running in protected mode"))
        self.assertEqual(ping_from("127.0.0.1", ours.port), b"+PONG\r\n")
        # With a password, clients from anywhere may authenticate.
        for port in ports:
            redis.Redis(port=port).config_set("requirepass", "secret")
        answers = [ping_from("127.0.0.2", port) for port in ports]
        self.assertEqual(answers[1], answers[0])
        self.assertTrue(answers[1].startswith(b"-NOAUTH"))
        for port in ports:
            r = redis.Redis(port=port, password="secret")
            r.config_set("requirepass", "")
            r.config_set("protected-mode", "no")
            self.assertEqual(r.config_get("protected-mode"), {"protected-mode": "no"})
        self.assertEqual([ping_from("127.0.0.2", port) for port in ports], [b"+PONG\r\n"] * 2)
        # The command line says it too.
        opened = Scheduler("--protected-mode", "no")
        self.addCleanup(opened.stop)
        opened.wait_loaded()  # (until then PING answers -LOADING, from anywhere)
        self.assertEqual(ping_from("127.0.0.2", opened.port), b"+PONG\r\n")
        bad = subprocess.run([SCHEDULER, "--protected-mode", "maybe"], capture_output=True,
                             text=True)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("--protected-mode must be yes or no", bad.stderr)

    def test_config_file_sets_options(self):
        path = os.path.join(self.server.dir, "desaster.conf")
        with open(path, "w") as f:
            f.write("databases = 4\nrequirepass = fromfile\n")
        s = Scheduler("--config", path)
        try:
            r = s.client(password="fromfile")
            self.assertEqual(r.config_get("databases"), {"databases": "4"})
        finally:
            s.stop()

    def test_shutdown_command_and_sigterm_stop_the_process(self):
        s = Scheduler()
        c = RawConnection(s.port)
        c.send(c.encode("SHUTDOWN", "NOSAVE"))
        self.assertEqual(s.proc.wait(10), 0)
        c.close()
        s.stop()
        s = Scheduler()
        s.proc.send_signal(signal.SIGTERM)
        self.assertEqual(s.proc.wait(10), 0)
        self.assertIn("Received SIGTERM", s.log_text())
        s.stop()

    def test_maxclients_refuses_extra_connections(self):
        s = Scheduler("--maxclients", "2")
        try:
            a, b = s.client(), s.client()
            a.ping(), b.ping()
            c = RawConnection(s.port)
            self.assertEqual(c.read(), Reply("-", "ERR max number of clients reached"))
            c.close()
            self.assertTrue(a.ping())
        finally:
            s.stop()


if __name__ == "__main__":
    main()
