"""What the Python conformance scripts share: report-or-fail checks, polling with a deadline,
and running a library's real worker process for the duration of a run."""
import contextlib
import subprocess
import sys
import tempfile
import time


def check(what, ok):
    """Prints `ok: what`, or exits the script with `FAILED: what` (a failed conformance run)."""
    if not ok:
        sys.exit(f"FAILED: {what}")
    print(f"ok: {what}")


def wait_for(what, predicate, timeout=120):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            sys.exit(f"FAILED: timed out waiting for {what}")
        time.sleep(0.1)


@contextlib.contextmanager
def worker(argv, cwd, env=None):
    """Runs a library's worker (its output goes to a temporary log) and stops it with SIGTERM,
    as an operator would, when the block ends."""
    with tempfile.NamedTemporaryFile(prefix="conformance-worker-", suffix=".log") as log:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
