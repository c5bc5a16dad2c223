#!/usr/bin/python3
"""Runs a queue library's conformance script against Debian's redis-server and against
desaster; both must pass, so a failure is desaster's, not the script's.

  conformance/run.py sidekiq
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))
from harness import RedisServer, Scheduler  # noqa: E402

COMMANDS = {
    "sidekiq": ["ruby", os.path.join(HERE, "sidekiq", "run.rb")],
    "celery": ["/usr/bin/python3", os.path.join(HERE, "celery", "run.py")],
    "rq": ["/usr/bin/python3", os.path.join(HERE, "rq", "run.py")],
    "node-resque": ["node", os.path.join(HERE, "node", "node_resque.js")],
    "bullmq": ["node", os.path.join(HERE, "node", "bullmq.js")],
}


def run(library, server, name):
    env = dict(os.environ, REDIS_URL=f"redis://127.0.0.1:{server.port}/0")
    out = subprocess.run(COMMANDS[library], env=env, capture_output=True, text=True, timeout=600)
    print(f"--- {library} against {name}: exit {out.returncode}")
    print(out.stdout[-4000:])
    if out.returncode != 0:
        print(out.stderr[-4000:])
    return out.returncode == 0


def main():
    library = sys.argv[1]
    results = []
    for name, make in (("redis-server", RedisServer), ("desaster", Scheduler)):
        server = make()
        try:
            results.append(run(library, server, name))
        finally:
            server.stop()
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
