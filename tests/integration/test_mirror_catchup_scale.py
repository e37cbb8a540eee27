#!/usr/bin/env python3
"""The mirror's start-up walk of a home another program filled while the
daemon was down (watch = off, the target down so that the jobs stay to be
counted with `mirror status`).

- Its jobs are recorded in batches and synced together: a walk of 3,000
  new files syncs the queue's WAL a few times, where it synced it once a
  file (200,000 files took minutes, mostly in fdatasync). The syncs are
  counted with the fault library (faultshim.c), which logs each call.
- SIGKILL in the middle of such a walk loses nothing: after a restart
  every file has its job, once (the walk's batches were promised to no
  client; the next walk finds what a crash lost).
- `relayftpd mirror resync` of a target that lost every file syncs the
  queue a few times, not once a file, and queues each file once.

Runs in ~10 s.
"""
import os
import re
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from daemon import free_port  # noqa: E402
from faults import Faults  # noqa: E402
from harness import wait_for  # noqa: E402
from mirror_targets import (  # noqa: E402
    MirrorServer, PyftpdTarget, jobs_waiting)

FOLDERS = 30
PER_FOLDER = 100
FILES = FOLDERS * PER_FOLDER


def jobs(srv):
    return jobs_waiting(srv, "down")


class FilledHome(unittest.TestCase):
    """A home of FOLDERS x PER_FOLDER files written while the daemon was
    down, and a daemon whose one target is down."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rftp-catchup-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.home = os.path.join(self.tmp, "home")
        # Written while the daemon was down: "slowNN" folders, which the
        # fault library can slow the walk's open of.
        for i in range(FOLDERS):
            d = os.path.join(self.home, "slow%02d" % i)
            os.makedirs(d)
            for k in range(PER_FOLDER):
                with open(os.path.join(d, "f%03d" % k), "wb") as f:
                    f.write(b"%d/%d" % (i, k))
        self.inj = Faults(self)

    def server(self):
        srv = self.inj.start(lambda: MirrorServer(
            users={"alice": {"password": "alice-pw", "home": self.home}},
            mirror={"watch": "off", "retry_initial": "3600",
                    "retry_max": "3600"},
            # Nothing listens there: the jobs stay to be counted.
            targets={"down": {"url": "ftp://u:p@127.0.0.1:%d/" %
                              free_port()}}))
        self.addCleanup(srv.cleanup)
        return srv

    def walk_done(self, srv):
        return wait_for(lambda: "mirror catch-up: " in srv.log_text(),
                        timeout=120, interval=0.2)


class StartUpWalkTest(FilledHome):

    def test_walk_syncs_the_queue_once_per_batch(self):
        # Every sync of the WAL is let through 1 ms late and logged.
        self.inj.arm("fdatasync -1 0 -1 queue.db-wal")
        srv = self.server()
        self.assertTrue(self.walk_done(srv), srv.log_text()[-3000:])
        self.inj.disarm()
        self.assertIn("mirror catch-up: %d pushes queued" % FILES,
                      srv.log_text())
        self.assertEqual(jobs(srv), FILES)
        syncs = srv.log_text().count("FAULT fdatasync(")
        print("%d syncs of the WAL for %d files" % (syncs, FILES))
        # Old: one a file (3,000 and more). Now one per 1,024 files and
        # one at the end, with room for SQLite's checkpoints.
        self.assertLess(syncs, FILES // 50, srv.log_text()[-2000:])

    def test_sigkill_mid_walk_every_file_queued_after_restart(self):
        # 200 ms at each folder's open: the walk takes ~6 s.
        self.inj.arm("openat -200 0 -1 slow")
        srv = self.server()
        self.assertTrue(wait_for(lambda: jobs(srv) > 0, timeout=60,
                                 interval=0.2), srv.log_text()[-3000:])
        srv.kill9()
        self.assertNotIn("mirror catch-up: ", srv.log_text())
        first = jobs(srv)
        self.assertLess(first, FILES)
        self.inj.disarm()
        srv.start()
        self.assertTrue(self.walk_done(srv), srv.log_text()[-3000:])
        # Each path once: a second put of a waiting one folds into it.
        self.assertEqual(jobs(srv), FILES)
        self.assertIn("mirror catch-up: %d pushes queued" % (FILES - first),
                      srv.log_text())


class ResyncSyncsTest(FilledHome):
    """A target that lost every file (its disk replaced): resync queued
    each with a sync of its own, minutes of fdatasync for 100,000 files
    on a disk; now synced a batch at a time and at the end."""

    def test_resync_syncs_the_queue_once_per_batch(self):
        # The first start (daemon only, target 'down') makes the queue;
        # the up target joins while the daemon is stopped, so the
        # resync alone finds all the files missing there.
        srv = self.server()
        self.assertTrue(self.walk_done(srv), srv.log_text()[-3000:])
        srv.stop()
        p = PyftpdTarget()
        self.addCleanup(p.cleanup)
        srv.targets["p"] = p.target("/base")
        srv.write_config()
        self.inj.arm("fdatasync -1 0 -1 queue.db-wal")
        r = self.inj.start(lambda: srv.mirror_cmd(
            "resync", "--config", srv.config_path, "p", timeout=120))
        self.inj.disarm()
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr)
        self.assertIn("resync p: %d files compared, %d queued" %
                      (FILES, FILES + FOLDERS), r.stdout)
        # Each sync is logged when held ("-> -1") and let go.
        syncs = len(re.findall(r"^FAULT fdatasync\(.*\) -> ", r.stderr,
                               re.M))
        print("%d syncs of the WAL for a resync of %d files" %
              (syncs, FILES))
        # Old: one a file and folder (3,030). Now one per 1,024 jobs
        # and one at the end, with room for SQLite's checkpoints.
        self.assertGreater(syncs, 0, r.stderr[-2000:])
        self.assertLess(syncs, FILES // 50, r.stderr[-2000:])
        # Every job is in the queue (synced) for the daemon to push.
        self.assertEqual(jobs_waiting(srv, "p"), FILES + FOLDERS)


if __name__ == "__main__":
    unittest.main(verbosity=2)
