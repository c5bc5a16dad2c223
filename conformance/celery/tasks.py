"""Tasks for the Celery conformance run (redis broker and result backend at REDIS_URL)."""
import os

import redis
from celery import Celery

URL = os.environ["REDIS_URL"]
app = Celery("conformance", broker=URL, backend=URL)
app.conf.update(worker_prefetch_multiplier=1, result_expires=3600, worker_hijack_root_logger=False)
counters = redis.Redis.from_url(URL)


@app.task
def add(x, y):
    return x + y


@app.task(bind=True, max_retries=3)
def flaky(self, i):
    """Fails on the first attempt; Celery's own retry runs it again a second later."""
    if counters.incr(f"conformance:flaky:{i}") < 2:
        raise self.retry(countdown=1)
    return i


@app.task(autoretry_for=(RuntimeError,), max_retries=1, default_retry_delay=1)
def doomed():
    counters.incr("conformance:doomed-attempts")
    raise RuntimeError("doomed")
