"""Starts real servers for integration tests and hands out real clients.

`Scheduler()` runs build/desaster-scheduler on a free loopback port (it picks the port itself
with --port 0 and logs it); `RedisServer()` runs Debian's redis-server the same way for
side-by-side checks. Both stop their process when the test is done.
"""
import atexit
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, "/usr/lib/python3/dist-packages")
import redis  # noqa: E402  (Debian's python3-redis)

# Tests open thousands of connections; raise the soft limit of open files as far as allowed.
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(_soft, 16384), _hard), _hard))

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEDULER = os.environ.get("DESASTER_SCHEDULER", os.path.join(ROOT, "build", "desaster-scheduler"))


def wait_for(predicate, timeout=10.0, interval=0.01, what="condition"):
    """Polls `predicate` until it returns a truthy value or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


SANITIZER_REPORTS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


class _Process:
    stopped = False
    # Every process started. One whose test failed before it reached stop() (a restart test
    # stops its first server by hand) is stopped when the test program exits, not left running.
    _started = []

    def __new__(cls, *args, **kwargs):
        process = super().__new__(cls)
        _Process._started.append(process)
        return process

    def stop(self):
        if self.stopped:
            return
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        log = self.log_text()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        # Under ASan/UBSan the server reports problems in its log (leaks only at exit).
        for marker in SANITIZER_REPORTS:
            if marker in log:
                raise AssertionError(f"the server reported a sanitizer error:\n{log}")

    def client(self, **kw):
        kw.setdefault("socket_timeout", 30)
        return redis.Redis(host="127.0.0.1", port=self.port, **kw)

    def raw(self):
        """A plain socket, for protocol-level tests."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        return s

    def cli(self, *args, input=None):
        """Runs redis-cli against this server; returns its stdout."""
        out = subprocess.run(["redis-cli", "-p", str(self.port), *args], input=input,
                             capture_output=True, timeout=30)
        return out.stdout.decode()

    def log_text(self):
        with open(self.log.name, "r", errors="replace") as f:
            return f.read()


@atexit.register
def _stop_the_rest():
    for process in _Process._started:
        if hasattr(process, "proc"):  # its start got that far
            try:
                process.stop()
            except AssertionError as e:  # a sanitizer report: shown, though the tests are over
                print(e, file=sys.stderr)


class Scheduler(_Process):
    """desaster-scheduler on a free port (or `port`). `data_dir` (default: a fresh one removed
    at stop) lets a test restart a server on the same data."""

    def __init__(self, *extra, data_dir=None, port=0):
        self.dir = tempfile.mkdtemp(prefix="desaster-test-")
        self.data_dir = data_dir or os.path.join(self.dir, "data")
        self.log = open(os.path.join(self.dir, "log"), "w+")
        self.proc = subprocess.Popen(
            [SCHEDULER, "--port", str(port), "--data-dir", self.data_dir, *extra],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.port = int(wait_for(lambda: self._port(), what="desaster-scheduler to listen"))

    def kill(self):
        """SIGKILL: no shutdown, no final sync; then clean up like stop()."""
        self.proc.kill()
        self.proc.wait()
        self.stop()

    def wait_loaded(self, password=None):
        """Polls until the dataset is loaded (INFO answers during loading)."""
        r = self.client(password=password)
        wait_for(lambda: r.info("persistence")["loading"] == 0, timeout=60, what="loading to end")
        r.close()

    def _port(self):
        if self.proc.poll() is not None:
            raise AssertionError("desaster-scheduler exited:\n" + self.log_text())
        m = re.search(r"Ready to accept connections on [^ ]+:(\d+)", self.log_text())
        return m and m.group(1)


WORKER = os.environ.get("DESASTER_WORKER", os.path.join(os.path.dirname(SCHEDULER),
                                                      "desaster-worker"))


class Worker(_Process):
    """desaster-worker connected to `port` (a scheduler's), with fast heartbeats and short
    leases so tests see lost workers' jobs come back quickly."""

    def __init__(self, port, *extra, lease_ms=1500, env=None):
        self.dir = tempfile.mkdtemp(prefix="desaster-worker-")
        self.port = port
        self.log = open(os.path.join(self.dir, "log"), "w+")
        self.proc = subprocess.Popen(
            [WORKER, "--scheduler", f"127.0.0.1:{port}", "--heartbeat-ms", "200", "--lease-ms",
             str(lease_ms), "--kill-grace-ms", "500", *extra],
            stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        self.pid = self.proc.pid

    def wait_registered(self):
        wait_for(lambda: self.proc.poll() is None and "registered as" in self.log_text(),
                 what="the worker to register")


WEB = os.environ.get("DESASTER_WEB", os.path.join(os.path.dirname(SCHEDULER), "desaster-web"))


class Web(_Process):
    """desaster-web for the scheduler on `port`, serving on a free loopback port (`url`)."""

    def __init__(self, port, *extra, env=None):
        """`port` may be a list: the nodes of a cluster, tried in turn."""
        self.dir = tempfile.mkdtemp(prefix="desaster-web-")
        self.port = port
        self.log = open(os.path.join(self.dir, "log"), "w+")
        ports = port if isinstance(port, list) else [port]
        self.proc = subprocess.Popen(
            [WEB, "--scheduler", ",".join(f"127.0.0.1:{p}" for p in ports), "--listen",
             "127.0.0.1:0", *extra],
            stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        self.url = wait_for(self._url, what="desaster-web to listen")

    def _url(self):
        if self.proc.poll() is not None:
            raise AssertionError("desaster-web exited:\n" + self.log_text())
        m = re.search(r"serving (https?://[^/ ]+)/", self.log_text())
        return m and m.group(1)


class RedisServer(_Process):
    """Debian's redis-server on a free port; `extra` arguments are passed on. With
    `sentinel_of` (name, port) it is a Redis Sentinel watching that master instead."""

    def __init__(self, *extra, sentinel_of=None):
        self.dir = tempfile.mkdtemp(prefix="redis-test-")
        self.log = open(os.path.join(self.dir, "log"), "w+")
        # redis-server cannot pick a free port itself; retry on the rare collision.
        for _ in range(20):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
            if sentinel_of:
                conf = os.path.join(self.dir, "sentinel.conf")  # Sentinel rewrites its file
                with open(conf, "w") as f:
                    f.write(f"port {self.port}\nbind 127.0.0.1\ndir {self.dir}\n"
                            f"sentinel monitor {sentinel_of[0]} 127.0.0.1 {sentinel_of[1]} 1\n")
                args = ["redis-server", conf, "--sentinel"]
            else:
                args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                        "--save", "", "--appendonly", "no", "--dir", self.dir, *extra]
            self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
            try:
                wait_for(lambda: self._ready(), timeout=5, what="redis-server")
                return
            except AssertionError:
                self.proc.kill()
                self.proc.wait()
        raise AssertionError("could not start redis-server")

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("redis-server exited")
        try:
            return redis.Redis(port=self.port).ping()
        except redis.ConnectionError:
            return False


def read_line(sock):
    """What a socket sends up to the end of its first line (or until it closes)."""
    out = b""
    while not out.endswith(b"\r\n"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        out += chunk
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fast_dir():
    """/dev/shm when it has room for etcd members (each preallocates a 64 MB write-ahead log;
    a container's /dev/shm may hold just 64 MB), else the temporary directory."""
    try:
        if shutil.disk_usage("/dev/shm").free > (2 << 30):
            return "/dev/shm"
    except OSError:
        pass
    return None


class EtcdMember(_Process):
    """One member of an etcd cluster on loopback, its data on tmpfs where there is room.
    `initial_cluster` names every member as name=peer-url."""

    def __init__(self, name, client_port, peer_port, initial_cluster, heartbeat_ms=100,
                 election_ms=1000, quota_bytes=None, token="desaster-test", tls=None):
        self.dir = tempfile.mkdtemp(prefix=f"etcd-{name}-", dir=fast_dir())
        self.name = name
        self.port = client_port
        self.tls = tls  # (certificate file, key file, CA file) for https clients
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{client_port}"
        self.log = open(os.path.join(self.dir, "log"), "w+")
        args = ["etcd", "--name", name, "--data-dir", os.path.join(self.dir, "data"),
                "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
                "--initial-cluster", initial_cluster, "--initial-cluster-token", token,
                "--heartbeat-interval", str(heartbeat_ms), "--election-timeout", str(election_ms)]
        if quota_bytes:
            args += ["--quota-backend-bytes", str(quota_bytes)]
        if tls:
            args += ["--cert-file", tls[0], "--key-file", tls[1]]
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)

    def call(self, path, body, timeout=2):
        """POSTs a JSON body to the member's v3 gateway; returns the decoded reply."""
        import json
        import urllib.request
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout, context=self._ssl()) as reply:
            return json.load(reply)

    def _ssl(self):
        import ssl
        return ssl.create_default_context(cafile=self.tls[2]) if self.tls else None

    def healthy(self):
        try:
            import urllib.request
            with urllib.request.urlopen(self.url + "/health", timeout=1,
                                        context=self._ssl()) as reply:
                return b'"true"' in reply.read()
        except OSError:
            return False


class TcpProxy:
    """Forwards connections from its own loopback port to `target_port`, until cut(): then
    every connection through it is closed and new ones are closed at once (a partition).
    drop_next(marker) breaks one connection instead: the next bytes a client sends that contain
    `marker` never arrive, and that connection closes (its peer crashed mid-write)."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open = []
        self.is_cut = False
        self.drop_marker = None
        self.dropped = threading.Event()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                if self.is_cut:
                    client.close()
                    continue
                try:
                    upstream = socket.create_connection(("127.0.0.1", self.target_port))
                except OSError:
                    client.close()
                    continue
                self.open += [client, upstream]
            for a, b, ask in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pump, args=(a, b, ask), daemon=True).start()

    def drop_next(self, marker):
        self.drop_marker = marker
        self.dropped.clear()

    def _pump(self, src, dst, asking):
        try:
            while data := src.recv(65536):
                with self.lock:
                    drop = asking and self.drop_marker is not None and self.drop_marker in data
                    if drop:
                        self.drop_marker = None
                if drop:
                    self.dropped.set()
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def cut(self):
        with self.lock:
            self.is_cut = True
            for s in self.open:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.open = []

    def stop(self):
        self.cut()
        self.listener.close()


class CertificateAuthority:
    """A certificate authority made with openssl in `directory` (`cert`: its certificate), which
    issues certificates for tests."""

    def __init__(self, directory, name="desaster test CA"):
        self.dir = directory
        slug = name.replace(" ", "-")
        self.key, self.cert = (os.path.join(directory, f"{slug}.{e}") for e in ("key", "crt"))
        self._openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.key,
                      "-out", self.cert, "-days", "2", "-subj", f"/CN={name}")

    def issue(self, name, san="IP:127.0.0.1,DNS:localhost", passphrase=None):
        """A certificate for `name` (with subjectAltName `san`) and its key: (cert, key) files;
        the key encrypted with `passphrase` when given."""
        key, csr, cert, ext = (os.path.join(self.dir, f"{name}.{e}")
                               for e in ("key", "csr", "crt", "cnf"))
        self._openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
                      "-subj", f"/CN={name}")
        with open(ext, "w") as f:
            f.write(f"subjectAltName={san}\n" if san else "")
        self._openssl("x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key,
                      "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext)
        if passphrase:
            self._openssl("pkey", "-in", key, "-out", key + ".locked", "-aes256", "-passout",
                          f"pass:{passphrase}")
            os.replace(key + ".locked", key)
        return cert, key

    @staticmethod
    def _openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_certificate(directory):
    """A CA and a certificate for 127.0.0.1 it signed: (cert, key, ca) files."""
    ca = CertificateAuthority(directory)
    return (*ca.issue("server", san="IP:127.0.0.1"), ca.cert)


class EtcdCluster:
    """`size` etcd members on loopback. `endpoints` is the --cluster host list."""

    def __init__(self, size=3, **kw):
        ports = [(free_port(), free_port()) for _ in range(size)]
        initial = ",".join(f"e{i}=http://127.0.0.1:{peer}" for i, (_, peer) in enumerate(ports))
        self.members = [EtcdMember(f"e{i}", client, peer, initial, **kw)
                        for i, (client, peer) in enumerate(ports)]
        wait_for(lambda: all(m.healthy() for m in self.members), timeout=30,
                 what="etcd to elect a leader")
        self.endpoints = ",".join(f"127.0.0.1:{m.port}" for m in self.members)

    def leader(self):
        """The member etcd's raft currently has as leader."""
        for m in self.members:
            if m.stopped or m.proc.poll() is not None:
                continue
            try:
                status = m.call("/v3/maintenance/status", {})
            except OSError:
                continue
            if status.get("leader") == status["header"]["member_id"]:
                return m
        return None

    def get(self, key):
        """The value of `key` (str) as bytes, or None; asks any live member."""
        import base64
        for m in self.members:
            if m.stopped or m.proc.poll() is not None:
                continue
            try:
                reply = m.call("/v3/kv/range", {"key": base64.b64encode(key.encode()).decode()})
            except OSError:
                continue
            kvs = reply.get("kvs", [])
            return base64.b64decode(kvs[0]["value"]) if kvs else None
        raise AssertionError("no etcd member answers")

    def stop(self):
        for m in self.members:
            m.stop()


class ServerTest(unittest.TestCase):
    """A test case with one desaster-scheduler for the whole class, flushed between tests."""

    extra_args = ()

    @classmethod
    def setUpClass(cls):
        cls.server = Scheduler(*cls.extra_args)
        # It listens before it has opened its data: commands other than INFO get -LOADING
        # until then (a slow sanitizer build makes that window visible).
        args = list(cls.extra_args)
        password = args[args.index("--requirepass") + 1] if "--requirepass" in args else None
        try:
            cls.server.wait_loaded(password)
        except BaseException:
            cls.server.stop()  # tearDownClass does not run when setUpClass fails
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        self.r = self.server.client()
        self.r.flushall()

    def tearDown(self):
        self.r.close()

    def connect(self, timeout=20):
        """A RawConnection to the server, closed when the test ends."""
        c = RawConnection(self.server.port, timeout=timeout)
        self.addCleanup(c.close)
        return c

    def assertError(self, fn, message):
        """Asserts that `fn()` raises a server error whose text is exactly `message`."""
        with self.assertRaises(redis.ResponseError) as cm:
            fn()
        self.assertEqual(str(cm.exception), message)


def main():
    unittest.main(verbosity=2)


def as_map(flat):
    """A RESP2 map (flat key/value list) as a dict with str keys."""
    return {flat[i].decode(): flat[i + 1] for i in range(0, len(flat), 2)}


def pipe(server, commands, timeout=600):
    """Sends a list of commands (argument lists) through `redis-cli --pipe`, as a bulk load
    would; fails the test if any errored."""
    out = []
    for args in commands:
        out.append(f"*{len(args)}\r\n".encode())
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    done = subprocess.run(["redis-cli", "-p", str(server.port), "--pipe"], input=b"".join(out),
                          capture_output=True, timeout=timeout)
    if b"errors: 0" not in done.stdout:
        raise AssertionError(f"redis-cli --pipe reported errors: {done.stdout!r}")


class Timings:
    """Runs commands and notes how long each took: the report a scale test prints."""

    def __init__(self, client):
        self.client = client
        self.lines = []

    def note(self, line):
        self.lines.append(line)

    def run(self, label, *command):
        started = time.perf_counter()
        result = self.client.execute_command(*command)
        self.note(f"{label}: {(time.perf_counter() - started) * 1000:.1f} ms")
        return result

    def print(self):
        print("\n" + "\n".join(self.lines), file=sys.stderr)


def data_dir(test, name):
    """A fresh data directory path for `test` (its parent removed when the test ends), so a
    test can restart servers on the same data."""
    parent = tempfile.mkdtemp(prefix=f"desaster-{name}-")
    test.addCleanup(shutil.rmtree, parent, True)
    return os.path.join(parent, "data")


class Reply:
    """A typed RESP reply, so tests can tell a status from a bulk string and RESP3 types apart."""

    def __init__(self, kind, value):
        # '+', '-', ':', '$', '*', '%', '~', '>', ',', '#', '=', '|' (an attribute and the reply
        # after it), and 'nil' for RESP3's '_'.
        # RESP2's null bulk and null array stay apart: ('$', None) and ('*', None).
        self.kind = kind
        self.value = value

    def __eq__(self, other):
        if isinstance(other, Reply):
            return self.kind == other.kind and self.value == other.value
        return NotImplemented

    def __repr__(self):
        return f"{self.kind}{self.value!r}"


def crc64(data):
    """Redis' CRC-64 (Jones, reflected), to forge DUMP payloads whose checksum is right."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x95ac9329ac4bc9b5 if crc & 1 else 0)
    return crc


def ruby_side_by_side(test, script):
    """Runs a Ruby script (the server's port is ARGV[0]) against a fresh redis-server and a fresh
    desaster; asserts both runs succeed and printed the same, and returns desaster's output."""
    servers = [RedisServer(), Scheduler()]
    try:
        servers[1].wait_loaded()
        outputs = [subprocess.run(["ruby", "-e", script, str(srv.port)], capture_output=True,
                                  text=True, timeout=60) for srv in servers]
    finally:
        for srv in servers:
            srv.stop()
    for o in outputs:
        test.assertEqual(o.returncode, 0, o.stderr)
    test.assertEqual(outputs[1].stdout, outputs[0].stdout)
    return outputs[1].stdout


class RawConnection:
    """A minimal RESP client over a socket that keeps every reply's exact type and text."""

    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    @staticmethod
    def encode(*args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def call(self, *args):
        self.send(self.encode(*args))
        return self.read()

    def _fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("connection closed")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read(self):
        line = self._line()
        kind, rest = chr(line[0]), line[1:]
        if kind in "+-":
            return Reply(kind, rest.decode(errors="replace"))
        if kind in ":(":
            return Reply(":", int(rest))
        if kind == ",":
            return Reply(",", rest.decode())
        if kind == "#":
            return Reply("#", rest == b"t")
        if kind == "_":
            return Reply("nil", None)
        if kind in "$=":
            n = int(rest)
            return Reply(kind, None) if n < 0 else Reply(kind, self._exact(n))
        if kind in "*~>":
            n = int(rest)
            if n < 0:
                return Reply(kind, None)
            return Reply(kind, [self.read() for _ in range(n)])
        if kind == "%":
            n = int(rest)
            return Reply("%", [(self.read(), self.read()) for _ in range(n)])
        if kind == "|":  # an attribute: its pairs, then the reply it describes
            n = int(rest)
            pairs = [(self.read(), self.read()) for _ in range(n)]
            return Reply("|", (pairs, self.read()))
        raise AssertionError(f"unexpected reply line {line!r}")
