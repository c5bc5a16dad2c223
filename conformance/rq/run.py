#!/usr/bin/python3
"""RQ 1.13 (Debian's python3-rq) against the server at REDIS_URL: enqueue every way RQ offers,
run the real forking `rq worker --with-scheduler`, and check each job through RQ's own API.
Exits non-zero with the reason on the first mismatch."""
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import redis  # noqa: E402
from rq import Queue, Retry, Worker  # noqa: E402
from rq.registry import FailedJobRegistry, FinishedJobRegistry, ScheduledJobRegistry  # noqa: E402

import jobs  # noqa: E402
from checks import check, wait_for, worker  # noqa: E402

URL = os.environ["REDIS_URL"]


def as_map(flat):
    return {flat[i].decode(): flat[i + 1] for i in range(0, len(flat), 2)}


r = redis.Redis.from_url(URL)
r.flushdb()
q = Queue("smoke", connection=r)
adds = [q.enqueue(jobs.add, i, i) for i in range(150)]
adds += q.enqueue_many([Queue.prepare_data(jobs.add, (i, i)) for i in range(150, 190)])
later = [q.enqueue_in(timedelta(seconds=1), jobs.add, i, 1) for i in range(10)]
at = [q.enqueue_at(datetime.now(timezone.utc) + timedelta(seconds=1), jobs.add, i, 2) for i in range(5)]
parent = q.enqueue(jobs.add, 1000, 0)
children = [q.enqueue(jobs.add, i, 3, depends_on=parent) for i in range(5)]
flakies = [q.enqueue(jobs.flaky, i, retry=Retry(max=2, interval=1)) for i in range(5)]
sleeper = q.enqueue(jobs.sleep, 0.3)
dead = q.enqueue(jobs.doomed, retry=Retry(max=1))
check("jobs queued (position of the last one)", q.get_job_position(dead) == len(q) - 1)
check("scheduled jobs wait in the scheduled registry", len(ScheduledJobRegistry(queue=q)) == 15)

with worker(["rq", "worker", "smoke", "--with-scheduler", "--url", URL], cwd=HERE,
            env=dict(os.environ, PYTHONPATH=HERE)):
    every = adds + later + at + [parent] + children + flakies + [sleeper]
    wait_for("every job to finish", lambda: all(j.get_status(refresh=True) == "finished" for j in every))
    wait_for("the doomed job to fail for good", lambda: dead.get_status(refresh=True) == "failed")
    check("190 add results", [j.result for j in adds] == [2 * i for i in range(190)])
    check("enqueue_in and enqueue_at results",
          [j.result for j in later] == [i + 1 for i in range(10)] and
          [j.result for j in at] == [i + 2 for i in range(5)])
    check("dependents ran after their parent", [j.result for j in children] == [i + 3 for i in range(5)])
    check("flaky jobs succeeded on a retry", [j.result for j in flakies] == list(range(5)))
    check("the doomed job ran twice and is in the failed registry",
          r.get("conformance:doomed-attempts") == b"2" and dead.id in FailedJobRegistry(queue=q).get_job_ids())
    check("finished registry holds the finished jobs", len(FinishedJobRegistry(queue=q)) >= 200)
    check("the worker is registered", len(Worker.all(connection=r)) == 1)
    check("queue empty", q.is_empty())
    if "desaster_version" in r.info("server"):
        # desaster counts each run in its job metrics when RQ files the job as finished or
        # failed, timed by the job's own started_at and ended_at (a failed run RQ retries is
        # filed nowhere: not counted).
        series = [as_map(s) for s in as_map(r.execute_command("METRICS.TOP", "CLASS"))["series"]]
        runs = {s["name"].decode(): (s["processed"], s["failed"]) for s in series}
        check(f"runs by class: {runs}", runs == {"jobs.add": (211, 0), "jobs.flaky": (5, 0),
                                                 "jobs.sleep": (1, 0), "jobs.doomed": (0, 1)})
        slept = [s for s in series if s["name"] == b"jobs.sleep"][0]
        check(f"a run of 0.3 s took 0.3 s ({slept['duration_max']} ms)",
              300 <= slept["duration_max"] < 2000)
        queue = as_map(as_map(r.execute_command("METRICS.RANGE", "QUEUE", "rq:queue:smoke"))["total"])
        check("the queue's runs are the classes' runs",
              (queue["processed"], queue["failed"]) == (217, 1))
        # Each finished job is in the completed store under the id it had in the queue, with the
        # worker and the times RQ wrote in its hash.
        completed = as_map(r.execute_command("COMPLETED.LIST", "LIMIT", 1000))
        done = [as_map(j) for j in completed["jobs"]]
        check(f"217 completed jobs ({completed['total']})", completed["total"] == 217)
        check("each by its worker, with its wait",
              all(j["worker"] and j["wait"] is not None and j["wait"] >= 0 for j in done))
    q.enqueue(jobs.add, 0, 0)
    q.empty()  # RQ's Lua script
    check("Queue.empty() removes queued jobs", len(q) == 0)
    # Every script is gone (as on a node that never saw them): redis-py answers NOSCRIPT by
    # loading the script again.
    r.script_flush()
    q.enqueue(jobs.add, 0, 0)
    q.empty()
    check("Queue.empty() after SCRIPT FLUSH", len(q) == 0)
    info = subprocess.run(["rq", "info", "--url", URL], capture_output=True, text=True, timeout=60)
    check("rq info runs", info.returncode == 0 and "smoke" in info.stdout)
print("rq conformance passed")
