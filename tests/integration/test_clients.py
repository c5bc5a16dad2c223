#!/usr/bin/python3
"""Real clients against the real server: redis-cli, hiredis, redis-py's iterators."""
import os
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ServerTest, main  # noqa: E402

HIREDIS_CLIENT = os.environ.get("DESASTER_HIREDIS_CLIENT")


class ClientsTest(ServerTest):
    def test_redis_cli_basics_and_resp3(self):
        self.assertEqual(self.server.cli("PING").strip(), "PONG")
        self.assertEqual(self.server.cli("SET", "k", "v").strip(), "OK")
        self.assertEqual(self.server.cli("--raw", "GET", "k").strip(), "v")
        self.server.cli("HSET", "h", "f", "v")
        self.assertEqual(self.server.cli("-3", "--no-raw", "HGETALL", "h").strip(), '1# "f" => "v"')
        self.assertIn("(error) ERR unknown command 'NOSUCH'", self.server.cli("--no-raw", "NOSUCH"))

    def test_redis_cli_pipe_mass_insertion(self):
        proto = b"".join(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\nv\r\n" % (len(k), k)
                         for k in (f"mass:{i}".encode() for i in range(20000)))
        out = subprocess.run(["redis-cli", "-p", str(self.server.port), "--pipe"], input=proto,
                             capture_output=True, timeout=60).stdout.decode()
        self.assertIn("errors: 0, replies: 20000", out)
        self.assertEqual(self.r.dbsize(), 20000)

    def test_redis_cli_interactive_input_lines(self):
        out = self.server.cli(input=b'SET "a key" "a value"\nGET "a key"\n')
        self.assertEqual(out.split(), ["OK", "a", "value"])

    def test_hiredis(self):
        self.assertTrue(HIREDIS_CLIENT, "DESASTER_HIREDIS_CLIENT is not set")
        out = subprocess.run([HIREDIS_CLIENT, str(self.server.port)], capture_output=True,
                             text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("7 passed, 0 failed", out.stdout)

    def test_scan_returns_every_key_while_others_write(self):
        # SCAN's guarantee: keys present from start to end are returned, even as the table grows.
        self.r.mset({f"stable:{i}": i for i in range(5000)})
        stop = threading.Event()

        def churn():
            w = self.server.client()
            i = 0
            while not stop.is_set():
                w.set(f"churn:{i}", i)
                if i % 3 == 0:
                    w.delete(f"churn:{i - 3}")
                i += 1

        t = threading.Thread(target=churn)
        t.start()
        try:
            seen = set(self.r.scan_iter(match="stable:*", count=100))
        finally:
            stop.set()
            t.join()
        self.assertEqual(len(seen), 5000)

    def test_collection_scans_as_sidekiq_uses_them(self):
        self.r.sadd("processes", *[f"host:{i}" for i in range(1000)])
        self.assertEqual(len(set(self.r.sscan_iter("processes"))), 1000)
        self.r.zadd("retry", {f'{{"jid":"{i}"}}': i for i in range(500)})
        hits = list(self.r.zscan_iter("retry", match='*"jid":"42"*', count=100))
        self.assertEqual(hits, [(b'{"jid":"42"}', 42.0)])
        self.r.hset("h", mapping={f"f{i}": i for i in range(300)})
        self.assertEqual(len(dict(self.r.hscan_iter("h"))), 300)


if __name__ == "__main__":
    main()
