#!/usr/bin/python3
"""scripts/bench end to end, as small as it goes: every kind of row at two durability levels,
against the scheduler under test and Debian's redis-server. The numbers of such a run mean
nothing (other tests run beside it); what is checked is that every row is measured on both
servers, that the table's ratios are the ratios of its numbers, and that the bench leaves no
server behind."""
import os
import re
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ROOT, main  # noqa: E402

BENCH = os.path.join(ROOT, "scripts", "bench")
LEVELS = ("always", "off")
JOBS = 2000


def processes_mentioning(text):
    """Command lines of running processes that contain `text`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and pid != str(os.getpid()):
            found.append(cmdline)
    return found


def table(text, column):
    """The rows (lists of cells) of the bench's table that has a column named `column`."""
    found = {}
    header = None
    lines = text.splitlines()
    for line, following in zip(lines, lines[1:] + [""]):
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if following.startswith("|---"):  # a header: its separator line follows
            header = tuple(cells)
            found[header] = []
        elif not cells[0].startswith("---"):
            found[header].append(cells)
    (rows,) = [rows for header, rows in found.items() if column in header]
    return rows


class BenchTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="desaster-bench-")
        cls.out = os.path.join(cls.workdir, "results.md")
        cls.bench = subprocess.run(
            [BENCH, "--quick", "--rounds", "1", "--requests", "2000", "--sizes", str(JOBS),
             "--policies", ",".join(LEVELS), "--settle", "0", "--out", cls.out,
             "--workdir", cls.workdir],
            capture_output=True, text=True, timeout=280)

    @classmethod
    def tearDownClass(cls):
        subprocess.run(["rm", "-rf", cls.workdir])

    def results(self):
        self.assertEqual(self.bench.returncode, 0, self.bench.stderr[-3000:])
        with open(self.out) as f:
            return f.read()

    def assertRatio(self, cell, numerator, denominator):
        """`cell` ("1.23x", rounded to 2 places) is numerator / denominator, both printed rounded
        to whole numbers: it lies within what those roundings allow."""
        n, d = float(numerator), float(denominator)
        low, high = (n - 0.5) / (d + 0.5) - 0.005, (n + 0.5) / (d - 0.5) + 0.005
        self.assertTrue(low <= float(cell.rstrip("x")) <= high,
                        f"{cell} is not {numerator} / {denominator}")

    def test_every_row_is_measured_on_both_servers(self):
        text = self.results()
        self.assertRegex(text, r"Machine: .*: \d+ cores .*first write to a fresh page \d+\.\d µs; Redis server v=")
        rows = table(text, "redis ops/s")
        measured = {(r[0], r[1], r[2], r[3].split()[0]) for r in rows}
        for level in LEVELS:
            for pipeline in ("1", "16"):
                for command in ("RPUSH", "LPOP"):
                    self.assertIn((level, "queue", pipeline, command), measured)
            for command in ("SET", "GET", "LPUSH", "LPOP", "HSET", "ZADD"):
                self.assertIn((level, "generic", "16", command), measured)
            for command in ("SET", "HSET"):
                self.assertIn((level, "generic, random keys", "16", command), measured)
            for mode in ("LPOP", "BRPOP", "FETCH"):
                self.assertIn((level, "lifecycle", "1", mode), measured)
            for pipeline in ("1", "16"):
                for command in ("RPUSH", "LPOP"):
                    self.assertIn((level, "queue, TLS", pipeline, command), measured)
            for command in ("SET", "GET"):
                self.assertIn((level, "generic, TLS", "16", command), measured)
        for level, label, pipeline, command, redis_ops, desaster_ops, ratio, *rest in rows:
            redis_cpu, desaster_cpu = rest[-2:]
            with self.subTest(row=(level, label, pipeline, command)):
                self.assertGreater(float(desaster_ops), 0)
                self.assertGreaterEqual(float(desaster_cpu), 0)
                if command == "FETCH":  # desaster's own worker path: nothing to compare
                    self.assertEqual((redis_ops, ratio, redis_cpu), ("—", "—", "—"))
                    continue
                self.assertGreater(float(redis_ops), 0)
                self.assertGreaterEqual(float(redis_cpu), 0)
                self.assertRatio(ratio, desaster_ops, redis_ops)
        # CPU per operation, each server's own (clock ticks of 10 ms make a small run's rows
        # coarse): both did measurable work over the run.
        for column in (-2, -1):
            self.assertGreater(sum(float(r[column]) for r in rows if r[column] != "—"), 0)

    def test_tls_rows_compare_each_server_with_itself(self):
        rows = table(self.results(), "desaster TLS/plain")
        self.assertEqual({(r[0], r[1], r[2], r[3].split()[0]) for r in rows},
                         {(level, label, pipeline, command) for level in LEVELS
                          for label, pipeline, command in [
                              ("queue", "1", "RPUSH"), ("queue", "1", "LPOP"),
                              ("queue", "16", "RPUSH"), ("queue", "16", "LPOP"),
                              ("generic", "16", "SET"), ("generic", "16", "GET")]})
        for row in rows:
            with self.subTest(row=row[:4]):
                self.assertTrue(all(float(cell.rstrip("x")) > 0 for cell in row[4:]))

    def test_push_to_wake_is_measured_on_both_servers(self):
        rows = table(self.results(), "desaster p50")
        self.assertEqual([r[0] for r in rows], list(LEVELS))
        for level, *cells in rows:
            redis_p50, desaster_p50, redis_p99, desaster_p99 = map(float, cells[:4])
            with self.subTest(level=level):
                self.assertTrue(0 < redis_p50 <= redis_p99)
                self.assertTrue(0 < desaster_p50 <= desaster_p99)
                # Ratios of numbers printed to a microsecond, themselves rounded to 2 places.
                for cell, d, r in ((cells[4], desaster_p50, redis_p50),
                                   (cells[5], desaster_p99, redis_p99)):
                    low, high = (d - 0.0005) / (r + 0.0005), (d + 0.0005) / (r - 0.0005)
                    self.assertTrue(low - 0.005 <= float(cell.rstrip("x")) <= high + 0.005,
                                    f"{cell} is not {d} / {r}")

    def test_tail_latency_is_measured_on_both_servers_with_their_background_work(self):
        rows = table(self.results(), "background")
        self.assertEqual([(r[0], r[1]) for r in rows], [("1", "redis"), ("1", "desaster")])
        for _, kind, ops, p50, p99, worst, background in rows:
            with self.subTest(server=kind):
                self.assertGreater(float(ops), 0)
                self.assertTrue(0 < float(p50) <= float(p99) <= float(worst))
                self.assertRegex(background, r"^\d+ AOF rewrites$" if kind == "redis"
                                 else r"^\d+ flushes, \d+ compactions, \d+ files moved$")

    def test_scaling_rows_hold_every_job_after_the_restart(self):
        # The bench itself exits with an error when a restart comes back with fewer jobs.
        rows = table(self.results(), "redis B/job")
        self.assertEqual([tuple(r[:3]) for r in rows],
                         [(level, str(JOBS), payload) for level in LEVELS
                          for payload in ("resque", "varied")])
        for (level, _, payload, redis_bytes, desaster_bytes, ratio, desaster_idle, ratio_idle,
             redis_s, desaster_s, *rates) in rows:
            with self.subTest(level=level, payload=payload):
                self.assertGreater(float(redis_bytes), 0)
                self.assertRatio(ratio, desaster_bytes, redis_bytes)
                # Against redis-server's size measured again at the same later moment.
                self.assertRegex(desaster_idle, r"^-?\d+$")
                self.assertRegex(ratio_idle, r"^-?\d+\.\d\dx$")
                self.assertGreater(float(redis_s), 0)
                self.assertGreater(float(desaster_s), 0)
                for cell in rates:  # "redis / desaster (ratio)"
                    redis_rate, desaster_rate = map(float, re.match(r"(\S+) / (\S+) ", cell).groups())
                    self.assertGreater(redis_rate, 0)
                    self.assertGreater(desaster_rate, 0)

    def test_no_server_outlives_the_bench(self):
        self.results()
        self.assertEqual(processes_mentioning(self.workdir), [])

    def test_the_migration_row_moves_every_job(self):
        out = os.path.join(self.workdir, "migrate.md")
        run = subprocess.run([BENCH, "--only", "migrate", "--sizes", str(JOBS), "--settle", "0",
                              "--out", out, "--workdir", self.workdir],
                             capture_output=True, text=True, timeout=280)
        self.assertEqual(run.returncode, 0, run.stderr[-3000:])
        with open(out) as f:
            rows = [line.strip().strip("|").split("|") for line in f if re.match(r"\| \d", line)]
        self.assertEqual(len(rows), 1)
        jobs, mb, redis_s, migrate_s, ratio, load_s, rate, mbs, commands, pause_ms = \
            [c.strip() for c in rows[0]]
        self.assertEqual(jobs, str(JOBS))
        self.assertGreater(float(redis_s), 0)
        self.assertGreater(float(load_s), 0)
        self.assertGreaterEqual(int(pause_ms), 0)
        m, r = float(migrate_s), float(redis_s)  # printed rounded to 0.01 s
        low, high = (m - 0.005) / (r + 0.005) - 0.005, (m + 0.005) / max(r - 0.005, 1e-9) + 0.005
        self.assertTrue(low <= float(ratio.rstrip("x")) <= high, f"{ratio} is not {m} / {r}")
        self.assertEqual(processes_mentioning(self.workdir), [])

    def test_an_unknown_durability_level_is_refused(self):
        bad = subprocess.run([BENCH, "--policies", "always,sometimes"], capture_output=True,
                             text=True, timeout=30)
        self.assertEqual(bad.returncode, 2)
        self.assertIn("unknown durability level sometimes (always, everysec, no, off)", bad.stderr)


if __name__ == "__main__":
    main()
