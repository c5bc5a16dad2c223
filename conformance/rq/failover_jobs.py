"""The job of the RQ failover run (failover.py)."""


def record(path, n):
    with open(path, "a") as f:
        f.write(f"{n}\n")
