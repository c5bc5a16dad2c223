#!/usr/bin/python3
"""TLS on the scheduler's --tls-port: real clients (redis-cli, redis-py, redis-rb) connect with
rediss://, client certificates and protocol versions are enforced as redis-server enforces them
(both run side by side with the same certificates), certificates rotate with CONFIG SET, and
hostile handshakes cost the server nothing."""
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redis  # noqa: E402
from harness import (SCHEDULER, CertificateAuthority, RedisServer, Scheduler, Web,  # noqa: E402
                     Worker, as_map, free_port, main, read_line, wait_for)
import unittest  # noqa: E402


def tls_settings(cert, key, ca):
    return ["--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file", ca]


class TlsTest(unittest.TestCase):
    """One desaster-scheduler and one redis-server, both with a TLS port, certificates from the
    same CA, and protected mode on (the tests connect from 127.0.0.1)."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="desaster-tls-")
        cls.ca = CertificateAuthority(cls.dir)
        cls.server_cert, cls.server_key = cls.ca.issue("server")
        cls.client_cert, cls.client_key = cls.ca.issue("client", san=None)
        cls.rogue_ca = CertificateAuthority(cls.dir, "rogue CA")
        cls.rogue_cert, cls.rogue_key = cls.rogue_ca.issue("rogue", san=None)
        settings = tls_settings(cls.server_cert, cls.server_key, cls.ca.cert)
        cls.ours = Scheduler("--tls-port", str(free_port()), *settings)
        cls.ours.wait_loaded()
        cls.ours.tls_port = int(cls.ours.client().config_get("tls-port")["tls-port"])
        redis_tls_port = free_port()
        cls.redis = RedisServer("--tls-port", str(redis_tls_port), *settings)
        cls.redis.tls_port = redis_tls_port
        cls.servers = (cls.redis, cls.ours)

    @classmethod
    def tearDownClass(cls):
        cls.redis.stop()
        cls.ours.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def setUp(self):
        for s in self.servers:
            admin = s.client()
            admin.config_set("tls-auth-clients", "yes")
            admin.config_set("tls-protocols", "TLSv1.2 TLSv1.3")
            admin.flushall()
            admin.close()

    def tls_client(self, server, cert=True, **kw):
        """redis-py over TLS, with the client certificate unless `cert` is False."""
        url = f"rediss://127.0.0.1:{server.tls_port}"
        extra = {"ssl_certfile": self.client_cert, "ssl_keyfile": self.client_key} if cert else {}
        client = redis.from_url(url, ssl_ca_certs=self.ca.cert, socket_timeout=30, **extra, **kw)
        self.addCleanup(client.close)
        return client

    def handshake(self, port, cert=None, key=None, max_version=None, source="127.0.0.1"):
        """PING over a fresh TLS connection: the reply, or "refused" when the handshake or the
        first exchange fails."""
        context = ssl.create_default_context(cafile=self.ca.cert)
        if cert:
            context.load_cert_chain(cert, key)
        if max_version:
            context.maximum_version = max_version
        raw = socket.create_connection(("127.0.0.1", port), timeout=10,
                                       source_address=(source, 0))
        try:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.sendall(b"PING\r\n")
                reply = read_line(s)
                return reply.decode() if reply else "refused"
        except (ssl.SSLError, ConnectionError):
            return "refused"
        finally:
            raw.close()

    def test_redis_cli_over_tls_shares_the_plain_ports_data(self):
        tls = ["--tls", "--cacert", self.ca.cert, "--cert", self.client_cert, "--key",
               self.client_key, "-p", str(self.ours.tls_port)]
        run = lambda *args: subprocess.run(["redis-cli", *tls, *args], capture_output=True,
                                           timeout=30).stdout.decode().strip()
        self.assertEqual(run("RPUSH", "resque:queue:mail", '{"class":"Mail","args":[1]}'), "1")
        self.assertEqual(self.ours.client().lrange("resque:queue:mail", 0, -1),
                         [b'{"class":"Mail","args":[1]}'])
        self.ours.client().set("from-plain", "yes")
        self.assertEqual(run("GET", "from-plain"), "yes")

    def test_redis_py_rediss_pipelines_big_values_and_pubsub(self):
        r = self.tls_client(self.ours)
        pipe = r.pipeline(transaction=False)
        for i in range(20000):
            pipe.rpush("numbers", i)
        self.assertEqual(pipe.execute()[-1], 20000)
        self.assertEqual(r.lrange("numbers", 19998, -1), [b"19998", b"19999"])
        # Bigger than any TLS record and any read: the value crosses many of both intact.
        big = os.urandom(5 << 20)
        r.set("big", big)
        self.assertEqual(r.get("big"), big)
        self.assertEqual(self.ours.client().strlen("big"), len(big))
        sub = self.tls_client(self.ours).pubsub()
        sub.subscribe("news")
        wait_for(lambda: sub.get_message(timeout=0.1) is not None, what="the subscription")
        self.assertEqual(self.ours.client().publish("news", "over TLS"), 1)
        message = wait_for(lambda: sub.get_message(timeout=0.1), what="the message")
        self.assertEqual(message["data"], b"over TLS")
        sub.close()

    def test_many_tls_clients_at_once(self):
        errors = []

        def work(n):
            try:
                r = redis.from_url(f"rediss://127.0.0.1:{self.ours.tls_port}",
                                   ssl_ca_certs=self.ca.cert, ssl_certfile=self.client_cert,
                                   ssl_keyfile=self.client_key, socket_timeout=30)
                for i in range(200):
                    r.incr(f"counter:{n % 4}")
                r.close()
            except Exception as e:  # reported below, with the others
                errors.append(e)
        threads = [threading.Thread(target=work, args=(n,)) for n in range(24)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(sum(int(self.ours.client().get(f"counter:{n}")) for n in range(4)),
                         24 * 200)

    def test_redis_rb_rediss(self):
        script = """
            require "redis"
            require "openssl"
            port, ca, cert, key = ARGV
            r = Redis.new(url: "rediss://127.0.0.1:#{port}",
                          ssl_params: {ca_file: ca,
                                       cert: OpenSSL::X509::Certificate.new(File.read(cert)),
                                       key: OpenSSL::PKey.read(File.read(key))})
            r.rpush("resque:queue:default", '{"class":"Hello","args":["tls"]}')
            r.sadd("resque:queues", "default")
            puts r.lpop("resque:queue:default")
            puts r.smembers("resque:queues").inspect
        """
        out = subprocess.run(["ruby", "-e", script, str(self.ours.tls_port), self.ca.cert,
                              self.client_cert, self.client_key],
                             capture_output=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr.decode())
        self.assertEqual(out.stdout.decode().splitlines(),
                         ['{"class":"Hello","args":["tls"]}', '["default"]'])

    def test_client_certificates_are_checked_as_redis_checks_them(self):
        attempts = {"none": (None, None), "ours": (self.client_cert, self.client_key),
                    "rogue": (self.rogue_cert, self.rogue_key)}
        expected = {"yes": {"none": "refused", "ours": "+PONG\r\n", "rogue": "refused"},
                    "optional": {"none": "+PONG\r\n", "ours": "+PONG\r\n", "rogue": "refused"},
                    "no": {"none": "+PONG\r\n", "ours": "+PONG\r\n", "rogue": "+PONG\r\n"}}
        for mode, outcomes in expected.items():
            for s in self.servers:
                s.client().config_set("tls-auth-clients", mode)
                seen = {name: self.handshake(s.tls_port, *files)
                        for name, files in attempts.items()}
                self.assertEqual(seen, outcomes, f"{mode} on {type(s).__name__}")

    def test_protocol_versions(self):
        for s in self.servers:
            s.client().config_set("tls-protocols", "TLSv1.3")
            self.assertEqual(self.handshake(s.tls_port, self.client_cert, self.client_key,
                                            max_version=ssl.TLSVersion.TLSv1_2), "refused")
            self.assertEqual(self.handshake(s.tls_port, self.client_cert, self.client_key),
                             "+PONG\r\n")
        self.assertEqual(
            self.ours.client().config_get("tls-protocols"), {"tls-protocols": "TLSv1.3"})
        with self.assertRaisesRegex(redis.ResponseError, "invalid tls-protocols value: SSLv3"):
            self.ours.client().config_set("tls-protocols", "SSLv3")
        self.assertEqual(
            self.ours.client().config_get("tls-protocols"), {"tls-protocols": "TLSv1.3"})

    def test_certificates_rotate_with_config_set(self):
        admin = self.ours.client(decode_responses=True)
        before = self.tls_client(self.ours)
        before.set("k", "v")
        cert2, key2 = self.ca.issue("server2")
        # Certificate and key change together, in one CONFIG SET (as in Redis).
        pair = lambda cert, key: admin.execute_command("CONFIG", "SET", "tls-cert-file", cert,
                                                       "tls-key-file", key)
        pair(cert2, key2)
        self.addCleanup(pair, self.server_cert, self.server_key)

        def presented():
            context = ssl.create_default_context(cafile=self.ca.cert)
            context.load_cert_chain(self.client_cert, self.client_key)
            with socket.create_connection(("127.0.0.1", self.ours.tls_port), timeout=10) as raw:
                with context.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                    return dict(x[0] for x in s.getpeercert()["subject"])["commonName"]
        self.assertEqual(presented(), "server2")
        self.assertEqual(before.get("k"), b"v")  # connections keep what they were made with
        # A change that cannot work is refused, and the port goes on with what it had.
        with self.assertRaisesRegex(redis.ResponseError,
                                    "Unable to update TLS configuration: cannot load tls-cert-file"):
            admin.config_set("tls-cert-file", os.path.join(self.dir, "missing.crt"))
        with self.assertRaisesRegex(redis.ResponseError, "key values mismatch"):
            admin.config_set("tls-key-file", self.client_key)
        self.assertEqual(admin.config_get("tls-cert-file"), {"tls-cert-file": cert2})
        self.assertEqual(admin.config_get("tls-key-file"), {"tls-key-file": key2})
        self.assertEqual(presented(), "server2")

    def test_key_passphrase_is_redacted_in_the_slowlog(self):
        r = self.ours.client(decode_responses=True)
        r.config_set("slowlog-log-slower-than", 0)
        r.slowlog_reset()
        r.config_set("tls-key-file-pass", "hunter2")  # the key has none: it is not used
        r.config_set("tls-key-file-pass", "")
        r.config_set("slowlog-log-slower-than", 10000)
        r.response_callbacks.pop("SLOWLOG GET", None)
        logged = [e[3] for e in r.execute_command("SLOWLOG", "GET", "20")]
        self.assertIn(["CONFIG", "SET", "tls-key-file-pass", "(redacted)"], logged)
        self.assertNotIn("hunter2", str(logged))

    def test_protected_mode_answers_over_tls_as_redis_does(self):
        replies = [self.handshake(s.tls_port, self.client_cert, self.client_key,
                                  source="127.0.0.2") for s in self.servers]
        self.assertTrue(replies[0].startswith("-DENIED Redis is running in protected mode"))
        self.assertEqual(replies[1], replies[0])

    def test_hostile_handshakes_cost_nothing(self):
        port = self.ours.tls_port
        admin = self.ours.client()
        baseline = admin.info("clients")["connected_clients"]
        # Plain RESP to the TLS port, and TLS to the plain port: closed, not answered.
        for target, data in ((port, b"PING\r\n"), (port, os.urandom(4096)),
                             (port, b"\x16\x03\x01\xff\xff" + b"A" * 100)):
            with socket.create_connection(("127.0.0.1", target), timeout=10) as s:
                s.sendall(data)
                try:
                    self.assertNotIn(b"PONG", s.recv(4096))
                except ConnectionResetError:
                    pass
        context = ssl.create_default_context(cafile=self.ca.cert)
        with socket.create_connection(("127.0.0.1", self.ours.port), timeout=10) as raw:
            with self.assertRaises((ssl.SSLError, ConnectionError)):
                context.wrap_socket(raw, server_hostname="127.0.0.1")
        # Half a ClientHello, left hanging, and handshakes dropped half-way: meanwhile others
        # are served.
        stalled = socket.create_connection(("127.0.0.1", port), timeout=10)
        stalled.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        context = ssl.create_default_context(cafile=self.ca.cert)
        for _ in range(50):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                hello = ssl.MemoryBIO()
                tls = context.wrap_bio(ssl.MemoryBIO(), hello, server_hostname="127.0.0.1")
                with self.assertRaises(ssl.SSLWantReadError):
                    tls.do_handshake()
                raw.sendall(hello.read())
                self.assertTrue(raw.recv(1))  # the server's hello, unanswered
        served = self.tls_client(self.ours)
        self.assertEqual(served.ping(), True)
        served.connection_pool.disconnect()
        stalled.close()
        # (Clients of earlier tests that are collected meanwhile leave too.)
        wait_for(lambda: admin.info("clients")["connected_clients"] <= baseline,
                 what="the hostile connections to be gone")

    def test_worker_and_web_log_in_over_tls_as_named_users(self):
        admin = self.ours.client(decode_responses=True)
        admin.execute_command("ACL", "SETUSER", "runner", "on", ">runner-pw", "~*", "&*",
                              "+@runner")
        admin.execute_command("ACL", "SETUSER", "dashboard", "on", ">dash-pw", "~*", "&*",
                              "+@all")
        self.addCleanup(admin.execute_command, "ACL", "DELUSER", "runner", "dashboard")
        admin.execute_command("ACL", "LOG", "RESET")
        password_file = os.path.join(self.dir, "runner.pw")
        with open(password_file, "w") as f:
            f.write("runner-pw\n")
        tls = ["--tls", "--tls-ca-cert-file", self.ca.cert, "--tls-cert-file", self.client_cert,
               "--tls-key-file", self.client_key]
        worker = Worker(self.ours.tls_port, "--queues", "tlsq", "--id", "w-tls", *tls,
                        "--scheduler-user", "runner", "--scheduler-password-file", password_file)
        self.addCleanup(worker.stop)
        worker.wait_registered()
        job = admin.execute_command("JOB.PUSH", "tlsq", '{"argv": ["sh", "-c", "echo hi"]}')

        def finished():
            info = as_map(self.ours.client().execute_command("JOB.INFO", job))
            return info if info["state"] in (b"done", b"failed") else None
        info = wait_for(finished, what="the job to run")
        self.assertEqual((info["state"], info["worker"]), (b"done", b"w-tls"))
        # A worker needs nothing beyond @runner.
        self.assertEqual([e for e in admin.execute_command("ACL", "LOG")], [])
        web = Web(self.ours.tls_port, *tls,
                  env={"DESASTER_SCHEDULER_USER": "dashboard",
                       "DESASTER_SCHEDULER_PASSWORD": "dash-pw"})
        self.addCleanup(web.stop)

        def queues():
            try:
                with urllib.request.urlopen(web.url + "/api/queues", timeout=10) as response:
                    return [q["key"] for q in json.load(response)["result"]]
            except urllib.error.HTTPError as e:  # 503 until it is connected
                self.assertEqual(e.code, 503)
                return []
        wait_for(lambda: "tlsq" in queues(), what="the web daemon to list the queue")
        who = [c for c in admin.client_list() if c["user"] in ("runner", "dashboard")]
        self.assertEqual(sorted({c["user"] for c in who}), ["dashboard", "runner"])
        # Neither shows its password to `ps`.
        for process in (worker, web):
            with open(f"/proc/{process.proc.pid}/cmdline", "rb") as f:
                self.assertNotIn(b"-pw", f.read())

    def test_web_ui_over_https(self):
        web = Web(self.ours.port, "--https-cert-file", self.server_cert, "--https-key-file",
                  self.server_key, "--password", "s3cret")
        self.addCleanup(web.stop)
        self.assertTrue(web.url.startswith("https://127.0.0.1:"))
        context = ssl.create_default_context(cafile=self.ca.cert)
        with urllib.request.urlopen(web.url + "/api/session", context=context,
                                    timeout=10) as response:
            self.assertEqual(json.load(response)["login_required"], True)
        login = urllib.request.Request(web.url + "/api/login", method="POST",
                                       data=json.dumps({"password": "s3cret"}).encode(),
                                       headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(login, context=context, timeout=10) as response:
            self.assertIn("; Secure", response.headers["Set-Cookie"])
        # The built-in app comes over HTTPS too; plain HTTP to the port gets no answer.
        with urllib.request.urlopen(web.url + "/", context=context, timeout=10) as response:
            self.assertIn(b"<html", response.read().lower())
        host, port = web.url.removeprefix("https://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(b"GET /api/session HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            try:
                self.assertNotIn(b"HTTP/1.1 200", s.recv(4096))
            except ConnectionResetError:
                pass

    def test_a_worker_with_a_wrong_password_says_so_and_starts_nothing(self):
        admin = self.ours.client()
        admin.execute_command("ACL", "SETUSER", "gatekeeper", "on", ">right", "+@all")
        self.addCleanup(admin.execute_command, "ACL", "DELUSER", "gatekeeper")
        password_file = os.path.join(self.dir, "wrong.pw")
        with open(password_file, "w") as f:
            f.write("not-it\n")
        worker = Worker(self.ours.tls_port, "--tls", "--tls-ca-cert-file", self.ca.cert,
                        "--tls-cert-file", self.client_cert, "--tls-key-file", self.client_key,
                        "--scheduler-user", "gatekeeper", "--scheduler-password-file", password_file)
        self.addCleanup(worker.stop)
        wait_for(lambda: "WRONGPASS" in worker.log_text(), what="the worker to report WRONGPASS")
        self.assertNotIn("no scheduler answers", worker.log_text())
        self.assertIsNone(worker.proc.poll())  # it keeps trying, as for a scheduler that is down

    def test_startup_refuses_unusable_settings(self):
        wrong_pass_cert, wrong_pass_key = self.ca.issue("locked", passphrase="s3cret")
        cases = [
            (["--tls-key-file", self.server_key], "TLS needs tls-cert-file and tls-key-file"),
            ([*tls_settings(self.server_cert, self.client_key, self.ca.cert)],
             "key values mismatch"),
            (["--tls-cert-file", self.server_cert, "--tls-key-file", self.server_key],
             "tls-auth-clients yes needs tls-ca-cert-file or tls-ca-cert-dir"),
            ([*tls_settings(wrong_pass_cert, wrong_pass_key, self.ca.cert),
              "--tls-key-file-pass", "wrong"], "cannot load tls-key-file"),
            ([*tls_settings(self.server_cert, self.server_key, self.ca.cert),
              "--tls-protocols", "TLSv9"], "invalid tls-protocols value: TLSv9"),
            ([*tls_settings(self.server_cert, self.server_key, self.ca.cert),
              "--tls-ciphers", "NOT-A-CIPHER"], "invalid tls-ciphers"),
        ]
        data = tempfile.mkdtemp(prefix="desaster-tls-data-")
        self.addCleanup(shutil.rmtree, data, True)
        for args, message in cases:
            out = subprocess.run([SCHEDULER, "--port", "0", "--data-dir", data, "--tls-port",
                                  str(free_port()), *args], capture_output=True, timeout=30)
            self.assertEqual(out.returncode, 1, args)
            self.assertIn(message, out.stdout.decode() + out.stderr.decode(), args)
        # The right passphrase opens the key.
        locked = Scheduler("--tls-port", str(free_port()),
                           *tls_settings(wrong_pass_cert, wrong_pass_key, self.ca.cert),
                           "--tls-key-file-pass", "s3cret", "--tls-auth-clients", "no")
        try:
            port = int(locked.client().config_get("tls-port")["tls-port"])
            self.assertEqual(self.handshake(port), "+PONG\r\n")
        finally:
            locked.stop()


if __name__ == "__main__":
    main()
