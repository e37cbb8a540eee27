"""bench/run.py still runs: a smoke test of `make bench`, no timing asserted.

A few small rows against relayftpd and vsftpd, and the relay rows (a
relayftpd mirroring to a vsftpd), with bench/ftpclient.c built by run.py
into the build folder. The bench checks every byte itself (the client
compares what it downloads, run.py the SHA-256 of every stored and mirrored
file) and reports a row it could not verify as FAIL with exit status 1:
this test asserts exit status 0, no FAIL, a number in relayftpd's
column of every row asked for, and a measured ceiling for each small-file
row that has one (bench/nullftpd.c, built by run.py too). What the numbers are is the bench's business,
never a test's.

Needs root (the bench makes a temporary system account), vsftpd and cc;
otherwise it skips and says why. About 15 s.
"""
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from harness import BINARY  # noqa: E402

RUN = os.path.join(REPO, "bench", "run.py")
ROWS = ["stor_small", "stor_small_allo", "retr_small", "parallel", "list",
        "mlsd", "stor_big", "relay_latency", "relay_latency_load",
        "relay_latency_burst", "relay_small", "relay_small_allo",
        "relay_big", "relay_big_paced"]


class BenchSmoke(unittest.TestCase):

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root (a temporary system account)")
        if not os.access("/usr/sbin/vsftpd", os.X_OK):
            self.skipTest("needs vsftpd (Debian: vsftpd)")
        if shutil.which("cc") is None:
            self.skipTest("needs cc to build bench/ftpclient.c")
        if not os.access(BINARY, os.X_OK):
            self.skipTest("no relayftpd binary at %s" % BINARY)

    def test_rows_run_and_verify(self):
        r = subprocess.run(
            [sys.executable, RUN, "--binary", BINARY, "--quick",
             "--servers", "relayftpd,vsftpd", "--only"] + ROWS +
            ["--small-count", "50", "--big-mib", "16",
             "--relay-big-mib", "16", "--list-entries", "300",
             "--parallel", "4", "--parallel-files", "5",
             # 200: a direct phase of 30 files (~10 ms) could fall
             # between the CPU meter's 4 ms samples and show no busy
             # time (it failed a CI run under ASan).
             "--relay-count", "200", "--lat-count", "5"],
            capture_output=True, text=True, timeout=240,
            stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        self.assertNotIn("FAIL", r.stdout)
        for label in ("50 x 4 KiB STOR over one session",
                      "50 x 4 KiB STOR over one session, each size "
                      "declared first (ALLO)",
                      "50 x 4 KiB RETR over one session",
                      "4 clients at once, 5 x 64 KiB up + down each",
                      "LIST of 300 entries", "MLSD of 300 entries",
                      "16 MiB STOR",
                      "relay: 226 -> complete on the target, idle target",
                      "relay: 226 -> complete on the target while 4 "
                      "clients upload (4 KiB, one at a time",
                      "relay: 226 -> complete on the target while 4 "
                      "clients upload (4 KiB files back to back",
                      "relay: 200 x 4 KiB until all are on the target",
                      "relay: 200 x 4 KiB until all are on the target, "
                      "each size declared first (ALLO)",
                      "relay: one 16 MiB, client start -> complete",
                      "relay: one 16 MiB over 100 MB/s links"):
            # A row's label may begin another's: the ALLO rows are told
            # apart by their ALLO.
            line = [ln for ln in r.stdout.splitlines()
                    if ln.startswith("| " + label) and
                    ("(ALLO)" in ln) == ("(ALLO)" in label)]
            self.assertEqual(len(line), 1, "%s:\n%s" % (label, r.stdout))
            cells = [c.strip() for c in line[0].split("|")]
            # | label | unit | relayftpd | ...: a measured number
            self.assertRegex(cells[3], r"^(p50 [\d.,]+, p99 )?[\d.,]+",
                             line[0])
        # Where the CPU went, for each phase of the relay rate rows: a
        # busy time per file and the bound it sets.
        for label in ("relay: 200 x 4 KiB until all are on the target, "
                      "each size declared first (ALLO)",
                      "relay: one 16 MiB, client start -> complete"):
            for phase in ("relayftpd", "direct"):
                line = [ln for ln in r.stdout.splitlines()
                        if ln.startswith("| CPU of: " + label) and
                        ln.split("|")[2].strip() == phase]
                self.assertEqual(len(line), 1,
                                 "%s %s:\n%s" % (label, phase, r.stdout))
                cells = [c.strip() for c in line[0].split("|")]
                # | row | phase | busy | relayftpd | client | rest |
                # CPUs busy | bound |
                self.assertRegex(cells[3], r"^[\d.,]+$", line[0])
                self.assertRegex(cells[8], r"^[\d.,]+ (files/s|MB/s)$",
                                 line[0])
        # The ceilings of the small-file rows were measured in the same
        # run: bench/nullftpd for the STOR rows, the client publishing
        # straight to the target for the relay rows.
        for label in ("50 x 4 KiB STOR over one session",
                      "50 x 4 KiB STOR over one session, each size "
                      "declared first (ALLO)",
                      "relay: 200 x 4 KiB until all are on the target",
                      "relay: 200 x 4 KiB until all are on the target, "
                      "each size declared first (ALLO)"):
            line = [ln for ln in r.stdout.splitlines()
                    if ln.startswith("| ceiling of: " + label + " |")]
            self.assertEqual(len(line), 1, "%s:\n%s" % (label, r.stdout))
            cells = [c.strip() for c in line[0].split("|")]
            # | row | unit | target | ceiling | relayftpd | ...
            self.assertRegex(cells[4], r"^[\d.,]+$", line[0])
            self.assertRegex(cells[5], r"^[\d.,]+$", line[0])
        # Both parallel clients' counts: nothing failed.
        par = [ln for ln in r.stdout.splitlines() if "clients at once" in ln]
        self.assertTrue(par and re.search(r"\b0 failed\b", par[0]), par)


class CpuTableFloor(unittest.TestCase):
    """A relay row's direct phase short enough to fall between the CPU
    meter's 4 ms samples read 0.00 busy while the client measured its
    own CPU, and its bound read "n/a" (CI's ASan stage, once): the busy
    time is never below what the processes measured themselves."""

    def test_busy_time_is_at_least_the_measured_processes(self):
        spec = importlib.util.spec_from_file_location("bench_run", RUN)
        run = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(run)
        row = run.Row("relay_big", "relay: one 16 MiB, client start -> "
                      "complete", "MB/s", None, relay=True)
        sample = {"bytes": 16e6, "cpu_busy_s": 0.0, "cpu_relayftpd_s": 0.0,
                  "cpu_client_s": 0.009, "cpu_wall_s": 0.02}
        out = run.cpu_table([run.Outcome(row, {"direct": [(1.0, sample)]},
                                         {})])
        cells = [c.strip() for c in out[-1].split("|")]
        # | row | phase | busy | relayftpd | client | rest | CPUs | bound
        self.assertEqual(cells[3], "0.56", out[-1])
        self.assertEqual(cells[6], "0.00", out[-1])
        self.assertRegex(cells[8], r"^[\d.,]+ MB/s$", out[-1])


if __name__ == "__main__":
    unittest.main()
