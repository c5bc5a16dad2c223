"""Jobs for the RQ conformance run."""
import os
import time

import redis

counters = redis.Redis.from_url(os.environ["REDIS_URL"])


def add(x, y):
    return x + y


def flaky(i):
    """Fails on the first attempt; RQ's Retry runs it again."""
    if counters.incr(f"conformance:flaky:{i}") < 2:
        raise RuntimeError(f"flaky {i}")
    return i


def doomed():
    counters.incr("conformance:doomed-attempts")
    raise RuntimeError("doomed")


def sleep(seconds):
    time.sleep(seconds)
