#!/usr/bin/python3
"""scripts/run, the README's first command, as a user meets it: it refuses a port another server
holds instead of running beside it, and Ctrl-C stops the worker first, then the rest."""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ROOT, RedisServer, main, wait_for  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RunScriptTest(unittest.TestCase):
    def start(self, port, web_port):
        data = tempfile.mkdtemp(prefix="desaster-run-")
        self.log = open(os.path.join(data, "out"), "w+")
        env = {**os.environ, "DESASTER_SKIP_SETUP": "1", "DESASTER_PORT": str(port),
               "DESASTER_WEB_PORT": str(web_port), "DESASTER_DATA_DIR": os.path.join(data, "d")}
        proc = subprocess.Popen([os.path.join(ROOT, "scripts", "run")], env=env,
                                stdout=self.log, stderr=subprocess.STDOUT)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        return proc

    def output(self):
        with open(self.log.name) as f:
            return f.read()

    def test_a_port_another_server_holds_is_refused(self):
        redis = RedisServer()
        self.addCleanup(redis.stop)
        proc = self.start(redis.port, free_port())
        self.assertEqual(proc.wait(30), 1)
        self.assertIn(f"port {redis.port} on 127.0.0.1 is taken", self.output())
        self.assertNotIn("desaster is running", self.output())

    def test_ctrl_c_stops_the_worker_first_then_the_rest(self):
        port = free_port()
        proc = self.start(port, free_port())
        wait_for(lambda: "registered as" in self.output() and "serving http" in self.output(),
                 timeout=60, what="scheduler, worker and web UI")
        self.assertIn("desaster is running", self.output())
        # The banner's commands work pasted as they are (the comments included).
        commands = [line.strip() for line in self.output().splitlines()
                    if line.strip().startswith("redis-cli")]
        self.assertEqual(len(commands), 5)
        for command in commands:
            ran = subprocess.run(["bash", "-c", command], stdin=subprocess.DEVNULL,
                                 capture_output=True, text=True, timeout=10)
            self.assertEqual((ran.returncode, ran.stderr), (0, ""), command)
            self.assertNotIn("ERR", ran.stdout, command)
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        self.assertEqual(proc.wait(60), 130)
        self.assertLess(time.monotonic() - started, 15)
        out = self.output()
        # The worker stopped while the scheduler still answered: its last reports went through.
        self.assertLess(out.index("SIGTERM: finishing"), out.index("Received SIGTERM"))
        self.assertNotIn("error", out.split("SIGTERM: finishing")[1].lower())
        left = subprocess.run(["pgrep", "-f", f"127.0.0.1:{port}"], capture_output=True, text=True)
        self.assertEqual(left.stdout.strip(), "")


if __name__ == "__main__":
    main()
