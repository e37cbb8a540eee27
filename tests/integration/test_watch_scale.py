"""The mirror watcher under a huge folder moved into a home (watch = on).

- 100,000 files moved into a home in one rename are all queued (counted
  with `mirror status`, the target being down so the jobs stay) within a
  bounded time: the old watcher compared every new file with the whole
  pending list (quadratic: minutes of CPU).
- Over watch_pending_max the watcher logs it and queues further files at
  once instead of after the debounce: every file still gets its job.
- SIGTERM while the watcher works through a moved-in folder of 100,000
  files (handing due files to the mirror, or inside the folder scan itself)
  exits within a few seconds; after a restart the mirror's start-up
  catch-up queues every file the stopped watcher had not reached.
- SIGTERM inside that start-up walk: its log line says it was cut short
  and how many it queued; the next start queues exactly the rest.
- More events than the kernel's inotify queue holds (IN_Q_OVERFLOW, the
  daemon stopped while files are written): every file is still queued,
  and a folder made while events were lost is watched (they waited for
  the next start).
- The start in a home of 20,000 files: the watcher finds the folders to
  watch (before the FTP listener opens) from the folder's entry types,
  without a stat of every file (a stat each held the start 15 s for a
  home of 1,000,000 files). Counted with strace on the main thread.
"""
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import subprocess
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import BINARY, STRACE, make_big_folder, wait_for  # noqa: E402
from mirror_targets import MirrorServer, jobs_waiting  # noqa: E402


def closed_port():
    """A loopback port nothing listens on (connections are refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def jobs(srv):
    return jobs_waiting(srv, "down")


class WatchScaleTest(unittest.TestCase):
    def setUp(self):
        base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
        self.tmp = tempfile.mkdtemp(prefix="rftp-watch-scale-", dir=base)
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.home = os.path.join(self.tmp, "home")
        os.makedirs(self.home)

    def server(self, **mirror):
        opts = {"watch": "on", "watch_debounce_ms": "200",
                # The target is down: jobs stay queued to be counted.
                "retry_initial": "3600", "retry_max": "3600",
                # Beside the home (tmpfs when there is one): this measures
                # the watcher, not the disk's fsync per job.
                "queue": os.path.join(self.tmp, "queue.db")}
        opts.update(mirror)
        srv = MirrorServer(
            users={"alice": {"password": "alice-pw", "home": self.home}},
            mirror=opts,
            targets={"down": {"url": "ftp://u:p@127.0.0.1:%d/" %
                              closed_port()}})
        self.addCleanup(srv.cleanup)
        return srv

    def move_in(self, n):
        staging = os.path.join(self.tmp, "staging")
        t0 = time.monotonic()
        make_big_folder(staging, n, b"x")
        print("made %d files in %.1f s" % (n, time.monotonic() - t0))
        os.rename(staging, os.path.join(self.home, "moved"))

    def wait_all_queued(self, srv, n, timeout):
        t0 = time.monotonic()
        ok = wait_for(lambda: jobs(srv) >= n, timeout=timeout, interval=1)
        got = jobs(srv)
        self.assertTrue(ok, "%d of %d files queued after %d s\n%s" %
                        (got, n, timeout, srv.log_text()[-3000:]))
        self.assertEqual(got, n)
        print("%d files queued in %.1f s" % (n, time.monotonic() - t0))

    def test_start_does_not_stat_every_file(self):
        if STRACE is None:
            self.skipTest("strace is not installed")
        n = 20000
        make_big_folder(os.path.join(self.home, "cam"), n, b"x")
        os.makedirs(os.path.join(self.home, "cam", "sub"))
        srv = self.server()
        srv.stop()
        trace = os.path.join(self.tmp, "trace")
        log = os.path.join(self.tmp, "start.log")
        with open(log, "wb") as out:
            p = subprocess.Popen(
                [STRACE, "-f", "-o", trace, "-e",
                 "trace=newfstatat,fstatat64,statx,stat,lstat",
                 BINARY, "--config", srv.config_path],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out)

            def watching():
                with open(log, errors="replace") as f:
                    return "mirror watcher:" in f.read()
            try:
                ok = wait_for(watching, timeout=90, interval=0.2)
            finally:
                # SIGTERM to relayftpd (the first pid of the trace):
                # strace ends with it.
                with open(trace) as f:
                    lines = f.read().splitlines()
                main = lines[0].split()[0]
                os.kill(int(main), signal.SIGTERM)
                p.wait(timeout=60)
        with open(log, errors="replace") as f:
            text = f.read()
        self.assertTrue(ok, text[-2000:])
        # Both folders are watched (home, cam, cam/sub).
        self.assertIn("mirror watcher: 3 folders in 1 homes", text)
        with open(trace) as f:
            lines = f.read().splitlines()
        stats = [ln for ln in lines if ln.split()[0] == main and
                 re.search(r'"f\d{6}"', ln)]
        print("files stat'ed by the main thread at start: %d of %d"
              % (len(stats), n))
        self.assertLess(len(stats), n // 100)

    def test_rename_of_100k_files(self):
        srv = self.server()
        self.move_in(100000)
        self.wait_all_queued(srv, 100000, 240)

    def test_over_watch_pending_max(self):
        srv = self.server(watch_pending_max="500")
        self.move_in(5000)
        self.wait_all_queued(srv, 5000, 120)
        self.assertIn("over watch_pending_max (500)", srv.log_text())

    def sigterm_while_busy(self, n, **mirror):
        srv = self.server(**mirror)
        self.move_in(n)
        # The watcher is at work: some jobs exist, far from all.
        self.assertTrue(wait_for(lambda: jobs(srv) > 0, timeout=60,
                                 interval=0.2), srv.log_text()[-3000:])
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        code = srv.proc.wait(timeout=30)
        took = time.monotonic() - t0
        srv.stop()
        print("exit %d %.1f s after SIGTERM, %d jobs then" %
              (code, took, jobs(srv)))
        self.assertEqual(code, 0)
        self.assertLess(took, 5)
        return srv

    def test_sigterm_while_due_files_are_queued(self):
        srv = self.sigterm_while_busy(100000)
        # Nothing is lost: the start-up catch-up queues the rest.
        srv.start()
        self.wait_all_queued(srv, 100000, 240)

    def test_sigterm_inside_the_start_up_walk(self):
        """A start-up walk cut by SIGTERM says so and how far it got (it
        said "done, nothing to queue"); the next start queues the rest."""
        n = 100000
        make_big_folder(os.path.join(self.home, "before"), n, b"x")
        srv = self.server()
        self.assertTrue(wait_for(lambda: jobs(srv) > 0, timeout=60,
                                 interval=0.2), srv.log_text()[-3000:])
        srv.proc.send_signal(signal.SIGTERM)
        self.assertEqual(srv.proc.wait(timeout=30), 0)
        srv.stop()
        first = jobs(srv)
        log = srv.log_text()
        self.assertNotIn("walk of the homes done", log)
        self.assertIn("start-up walk of the homes cut short by the "
                      "shutdown, %d pushes queued; the next start walks "
                      "them again" % first, log)
        self.assertLess(first, n)
        srv.start()
        self.wait_all_queued(srv, n, 240)
        self.assertIn("mirror catch-up: %d pushes queued" % (n - first),
                      srv.log_text())

    def test_inotify_queue_overflow(self):
        with open("/proc/sys/fs/inotify/max_queued_events") as f:
            limit = int(f.read())
        # Two events a file (IN_CREATE, IN_CLOSE_WRITE): past the limit.
        n = limit // 2 + 2000
        srv = self.server()
        folder = os.path.join(self.home, "d")
        os.mkdir(folder)
        # A file in it queued: its watch is there.
        with open(os.path.join(folder, "probe"), "wb") as f:
            f.write(b"p")
        self.assertTrue(wait_for(lambda: jobs(srv) >= 1, timeout=30),
                        srv.log_text()[-3000:])
        srv.proc.send_signal(signal.SIGSTOP)
        try:
            for i in range(n):
                with open(os.path.join(folder, "f%d" % i), "wb") as f:
                    f.write(b"x")
            os.mkdir(os.path.join(self.home, "late"))
        finally:
            srv.proc.send_signal(signal.SIGCONT)
        self.assertTrue(wait_for(
            lambda: "walked again after the overflow" in srv.log_text(),
            timeout=120), srv.log_text()[-3000:])
        # In a folder whose creation event was lost, once the walk is
        # over: only its new watch can see this one.
        with open(os.path.join(self.home, "late", "after"), "wb") as f:
            f.write(b"y")
        self.wait_all_queued(srv, n + 2, 120)

    def test_sigterm_inside_the_scan(self):
        # Over watch_pending_max every file is queued from inside the
        # folder scan itself: the first jobs show the scan is running.
        self.sigterm_while_busy(100000, watch_pending_max="1")


if __name__ == "__main__":
    unittest.main(verbosity=2)
