#!/usr/bin/python3
"""Celery 5.2 (Debian's python3-celery, kombu's redis transport and the redis result backend)
against the server at REDIS_URL: enqueue, run the real prefork worker, and check every result
as Celery reports it. Exits non-zero with the reason on the first mismatch."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from celery.result import ResultSet  # noqa: E402

import tasks  # noqa: E402
from checks import check, worker  # noqa: E402

tasks.counters.flushdb()
with worker([sys.executable, "-m", "celery", "-A", "tasks", "worker", "-c", "4", "-P", "prefork",
             "--loglevel=INFO", "-n", "conformance@%h"], cwd=HERE):
    adds = ResultSet([tasks.add.delay(i, i) for i in range(190)])
    later = [tasks.add.apply_async((i, 1), countdown=1 + i % 3) for i in range(10)]
    flakies = [tasks.flaky.delay(i) for i in range(5)]
    dead = tasks.doomed.delay()

    replies = tasks.app.control.ping(timeout=10)
    for _ in range(30):
        if replies:
            break
        replies = tasks.app.control.ping(timeout=1)
    check(f"the worker answers control.ping ({len(replies)} replies)", len(replies) == 1)
    stats = tasks.app.control.inspect(timeout=5).stats()
    check("inspect().stats() describes the worker", stats and list(stats.values())[0]["pool"]["max-concurrency"] == 4)

    check("190 delay() results", adds.join(timeout=120) == [2 * i for i in range(190)])
    check("10 countdown results", [r.get(timeout=60) for r in later] == [i + 1 for i in range(10)])
    check("5 flaky tasks succeed after a retry", [r.get(timeout=60) for r in flakies] == list(range(5)))
    check("each flaky task ran twice",
          all(tasks.counters.get(f"conformance:flaky:{i}") == b"2" for i in range(5)))
    try:
        dead.get(timeout=60)
        check("the doomed task fails", False)
    except RuntimeError:
        pass
    check("the doomed task is FAILURE after 2 attempts",
          dead.state == "FAILURE" and tasks.counters.get("conformance:doomed-attempts") == b"2")
print("celery conformance passed")
