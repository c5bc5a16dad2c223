#!/usr/bin/python3
"""The wire protocol: inline and multibulk requests, pipelining, limits, bad input, RESP3."""
import os
import random
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import RawConnection, Reply, ServerTest, main, wait_for  # noqa: E402


def read_until_closed(sock):
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


class ProtocolTest(ServerTest):
    def test_inline_commands_as_telnet_sends_them(self):
        c = self.connect()
        c.send(b'SET greeting "hello world"\r\nGET greeting\nPING\r\n')
        self.assertEqual(c.read(), Reply("+", "OK"))
        self.assertEqual(c.read(), Reply("$", b"hello world"))
        self.assertEqual(c.read(), Reply("+", "PONG"))

    def test_pipeline_of_thousands_answers_in_order(self):
        c = self.connect()
        c.send(b"".join(RawConnection.encode("RPUSH", "l", str(i)) for i in range(5000)))
        for i in range(5000):
            self.assertEqual(c.read(), Reply(":", i + 1))
        self.assertEqual(self.r.llen("l"), 5000)

    def test_pipelines_over_a_big_keyspace_split_anywhere(self):
        # Past 65536 keys the server looks ahead in a pipeline to prefetch its keys: whatever the
        # look-ahead sees (requests cut anywhere, binary keys, SELECT, one-argument commands),
        # every request still gets its own answer.
        c = self.connect()
        keys = 70000
        c.send(b"".join(RawConnection.encode("MSET", *[x for i in range(s, s + 1000)
                                                       for x in (f"key:{i}", f"v{i}")])
                        for s in range(0, keys, 1000)))
        for _ in range(keys // 1000):
            self.assertEqual(c.read(), Reply("+", "OK"))
        rng = random.Random(7)
        dbs = [{f"key:{i}".encode(): f"v{i}".encode() for i in range(keys)}, {}]
        db, wire, expected = 0, [], []
        for n in range(3000):
            key = rng.choice([f"key:{rng.randrange(keys * 2)}".encode(), b"bin\r\n\x00" + bytes([n % 7])])
            op = rng.choice(["SET", "GET", "GET", "DEL", "PING", "SELECT"])
            if op == "SET":
                wire.append(RawConnection.encode("SET", key, b"n%d" % n))
                dbs[db][key] = b"n%d" % n
                expected.append(Reply("+", "OK"))
            elif op == "GET":
                wire.append(RawConnection.encode("GET", key))
                expected.append(Reply("$", dbs[db].get(key)))
            elif op == "DEL":
                wire.append(RawConnection.encode("DEL", key))
                expected.append(Reply(":", int(dbs[db].pop(key, None) is not None)))
            elif op == "PING":
                wire.append(RawConnection.encode("PING"))
                expected.append(Reply("+", "PONG"))
            else:
                db = rng.randrange(2)
                wire.append(RawConnection.encode("SELECT", db))
                expected.append(Reply("+", "OK"))
        # Groups of requests, each sent whole or cut in two at any byte.
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start = 0
        while start < len(wire):
            end = start + rng.randrange(1, 40)
            group = b"".join(wire[start:end])
            cut = rng.choice([len(group), rng.randrange(len(group))])
            c.send(group[:cut])
            c.send(group[cut:])
            start = end
        for i, want in enumerate(expected):
            self.assertEqual(c.read(), want, f"reply {i}")

    def test_binary_safe_keys_and_values(self):
        key, value = b"k\x00\r\n\xff", b"\x00\x01\r\n\x06\x16"
        c = self.connect()
        self.assertEqual(c.call("SET", key, value), Reply("+", "OK"))
        self.assertEqual(c.call("GET", key), Reply("$", value))
        self.assertEqual(c.call("EXISTS", b"k"), Reply(":", 0))

    def assertProtocolError(self, payload, message):
        """The client gets the error and is disconnected; the server keeps serving others."""
        self.r.set("survivor", "yes")
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        s.sendall(payload)
        self.assertEqual(read_until_closed(s), b"-ERR Protocol error: " + message + b"\r\n")
        s.close()
        self.assertEqual(self.r.get("survivor"), b"yes")

    def test_protocol_errors_close_only_the_offender(self):
        self.assertProtocolError(b"*abc\r\n", b"invalid multibulk length")
        self.assertProtocolError(b"*1\r\n+PING\r\n", b"expected '$', got '+'")
        self.assertProtocolError(b"*1\r\n$-2\r\n", b"invalid bulk length")
        self.assertProtocolError(b'GET "open\r\n', b"unbalanced quotes in request")
        self.assertProtocolError(b"*99999999999\r\n", b"invalid multibulk length")

    def test_huge_claimed_lengths_are_refused_without_allocating(self):
        # 512 MB + 1 is over proto-max-bulk-len.
        self.assertProtocolError(b"*1\r\n$536870913\r\n", b"invalid bulk length")
        self.assertProtocolError(b"*1\r\n$" + b"9" * 30 + b"\r\n", b"invalid bulk length")
        self.assertProtocolError(b"x" * 70000, b"too big inline request")

    def test_random_garbage_never_hurts_the_server(self):
        rng = random.Random(7)
        for _ in range(200):
            s = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
            junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
            s.sendall(junk)
            s.shutdown(socket.SHUT_WR)
            read_until_closed(s)
            s.close()
        self.assertTrue(self.r.ping())

    def test_query_buffer_limit_disconnects(self):
        self.r.config_set("client-query-buffer-limit", str(1024 * 1024))
        try:
            s = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
            s.sendall(b"*2\r\n$4\r\nECHO\r\n$3000000\r\n")
            try:
                s.sendall(b"a" * 2_000_000)
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.assertEqual(read_until_closed(s), b"")
            s.close()
        finally:
            self.r.config_set("client-query-buffer-limit", str(1024 * 1024 * 1024))
        self.assertTrue(self.r.ping())

    def test_large_value_round_trip(self):
        value = os.urandom(8 * 1024 * 1024)
        self.r.set("big", value)
        self.assertEqual(self.r.get("big"), value)

    def test_resp3_after_hello_3_and_back(self):
        c = self.connect()
        hello = c.call("HELLO", "3")
        self.assertEqual(hello.kind, "%")
        fields = {k.value: v for k, v in hello.value}
        self.assertEqual(fields[b"proto"], Reply(":", 3))
        self.assertEqual(fields[b"version"], Reply("$", b"7.0.15"))
        c.call("HSET", "h", "f", "v")
        self.assertEqual(c.call("HGETALL", "h"), Reply("%", [(Reply("$", b"f"), Reply("$", b"v"))]))
        self.assertEqual(c.call("GET", "missing"), Reply("nil", None))
        c.call("ZADD", "z", "1.5", "m")
        self.assertEqual(c.call("ZSCORE", "z", "m"), Reply(",", "1.5"))
        self.assertEqual(c.call("SMEMBERS", "nothing"), Reply("~", []))
        self.assertEqual(c.call("HELLO", "2").kind, "*")
        self.assertEqual(c.call("GET", "missing"), Reply("$", None))
        self.assertEqual(c.call("HELLO", "4"), Reply("-", "NOPROTO unsupported protocol version"))

    def test_thousands_of_concurrent_clients(self):
        socks = [socket.create_connection(("127.0.0.1", self.server.port), timeout=20)
                 for _ in range(2000)]
        try:
            for s in socks:
                s.sendall(b"PING\r\n")
            for s in socks:
                buf = b""
                while not buf.endswith(b"\r\n"):
                    buf += s.recv(16)
                self.assertEqual(buf, b"+PONG\r\n")
            self.assertGreaterEqual(int(self.r.info("clients")["connected_clients"]), 2001)
        finally:
            for s in socks:
                s.close()
        wait_for(lambda: int(self.r.info("clients")["connected_clients"]) == 1,
                 what="closed clients to be forgotten")

    def test_unread_large_reply_does_not_stall_others(self):
        # 10 MB is more than the socket buffers hold, so the server must park the rest of
        # the reply and keep serving other clients until this one reads.
        self.r.rpush("many", *[b"x" * 1000 for _ in range(10000)])
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=20)
        s.sendall(RawConnection.encode("LRANGE", "many", "0", "-1"))
        wait_for(lambda: self.r.ping() and int(self.r.info("stats")["total_net_output_bytes"]) > 1_000_000,
                 what="the server to start sending")
        self.assertEqual(self.r.set("other", "served"), True)
        expected = len(b"*10000\r\n") + 10000 * len(b"$1000\r\n" + b"x" * 1000 + b"\r\n")
        got = 0
        while got < expected:
            chunk = s.recv(1 << 16)
            self.assertTrue(chunk, "connection closed early")
            got += len(chunk)
        self.assertEqual(got, expected)
        s.close()

if __name__ == "__main__":
    main()
