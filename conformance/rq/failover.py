#!/usr/bin/python3
"""RQ through failovers (tests/integration/test_cluster_clients.py). Enqueues jobs numbered 0,
1, 2, ... on QUEUE until OUT/stop appears, appending each number whose enqueue was acknowledged
to OUT/acked; a real `rq worker` (started again whenever it exits, as a supervisor would) runs
them, each job appending its number to OUT/done. Reaches the server through Sentinel (SENTINELS
host:port,... and MASTER_NAME) or at REDIS_URL."""
import os
import signal
import subprocess
import sys
import time

import redis
from redis.sentinel import Sentinel
from rq import Queue

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import failover_jobs  # noqa: E402

OUT, QUEUE = os.environ["OUT"], os.environ["QUEUE"]
if os.environ.get("SENTINELS"):
    sentinels = [(host, int(port)) for host, port in
                 (a.rsplit(":", 1) for a in os.environ["SENTINELS"].split(","))]
    name = os.environ["MASTER_NAME"]
    connection = Sentinel(sentinels, socket_timeout=5).master_for(name, socket_timeout=5)
    settings = (f"SENTINEL = {{'INSTANCES': {sentinels!r}, 'MASTER_NAME': {name!r}, "
                f"'SOCKET_TIMEOUT': 5}}\n")
else:
    connection = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=5)
    settings = f"REDIS_URL = {os.environ['REDIS_URL']!r}\n"
with open(os.path.join(OUT, "rq_settings.py"), "w") as f:
    f.write(settings)

worker_log = open(os.path.join(OUT, "worker.log"), "a")


def start_worker():
    return subprocess.Popen(["rq", "worker", "-c", "rq_settings", QUEUE], cwd=OUT,
                            env=dict(os.environ, PYTHONPATH=f"{OUT}:{HERE}"),
                            stdout=worker_log, stderr=subprocess.STDOUT)


worker = start_worker()
signal.signal(signal.SIGTERM, lambda *_: (worker.terminate(), worker.wait(), sys.exit(0)))
queue = Queue(QUEUE, connection=connection)
done = os.path.join(OUT, "done")
n = 0
with open(os.path.join(OUT, "acked"), "a", buffering=1) as acked:
    while not os.path.exists(os.path.join(OUT, "stop")):
        try:
            queue.enqueue(failover_jobs.record, done, n)
            acked.write(f"{n}\n")
        except redis.RedisError as e:
            print(f"enqueue {n}: {e!r}", flush=True)
        n += 1
        if worker.poll() is not None:
            print(f"rq worker exited ({worker.returncode}); starting it again", flush=True)
            worker = start_worker()
        time.sleep(0.05)
open(os.path.join(OUT, "stopped"), "w").close()
while True:
    if worker.poll() is not None:
        print(f"rq worker exited ({worker.returncode}); starting it again", flush=True)
        worker = start_worker()
    time.sleep(0.2)
