#!/usr/bin/env python3
"""The queue at scale: what the start-up walk and the admin's status read
of it, and that their answers stay right.

- The start-up walk asked the queue, for each file on record at a
  target, whether a delete, an rmdir or a rename still queued takes it
  off the target (queue_takes_away): six look-ups or more a file, 38 s
  for a million files before the mirror caught up. It now reads those
  jobs once a home and target (queue_away_load) and asks only for the
  files one of them lies at or above. What it queues must not change:
  checked here on a home where each kind of such job is parked.

No timings are asserted (the commit messages say what was measured).
"""
import os
import re
import sqlite3
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from daemon import free_port  # noqa: E402
from harness import wait_for  # noqa: E402
from mirror_targets import MirrorServer  # noqa: E402

DONE = re.compile(r"mirror catch-up: (\d+) pushes queued|"
                  r"start-up walk of the homes done, nothing to queue")
DELETE, RENAME, MKDIR, RMDIR, PUT = 1, 2, 3, 4, 0


class WalkTakesAwayTest(unittest.TestCase):
    def setUp(self):
        # A target nobody listens on: every job waits, parked.
        self.srv = MirrorServer(
            mirror={"retry_initial": "600", "retry_max": "600",
                    "watch": "off"},
            targets={"t": {"url": "ftp://u:p@127.0.0.1:%d/" % free_port()}},
            start=False)
        self.addCleanup(self.srv.cleanup)
        self.home = self.srv.home("alice")
        os.makedirs(self.home, exist_ok=True)
        self.srv.start()
        self.walks = self.wait_walk(0)
        self.srv.stop()
        self.queue = os.path.join(self.srv.tmp, "relayftpd-queue.db")

    def wait_walk(self, before):
        """Waits for walk number before + 1 to end: its pushes queued."""
        self.assertTrue(wait_for(
            lambda: len(DONE.findall(self.srv.log_text())) > before,
            timeout=120), self.srv.log_text()[-3000:])
        return len(DONE.findall(self.srv.log_text()))

    def write(self, rel, data=b"x"):
        p = os.path.join(self.home, rel.lstrip("/"))
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        return os.stat(p)

    def test_walk_queues_what_parked_jobs_take_away(self):
        # Files on record at the target as they are now, which the home
        # holds again after a parked job that takes them off (another
        # program restored them, times kept), and files nothing takes.
        on_record = ["/d/a.bin", "/e/sub/b.bin", "/f/c.bin", "/h/y.bin",
                     "/k/z.bin", "/dd/a.bin", "/r/keep.bin",
                     "/p/q.bin"]
        jobs = [  # (op, path, arg), oldest first
            (DELETE, "/d/a.bin", ""),        # the file itself
            (RMDIR, "/e", ""),               # a folder above it
            (RENAME, "/f", "/g"),            # a folder above, moved away
            (RENAME, "/h/x.bin", "/h/y.bin"),  # a rename into it
            (DELETE, "/d", ""),              # "/dd" is not under "/d"
            (DELETE, "/r/gone.bin", ""),     # a sibling only
            (DELETE, "/p/q.bin", ""),
            (PUT, "/p/q.bin", ""),           # a put after: it delivers
        ] + [(MKDIR, "/d", "")] * 1100       # folders made after
        rows = []
        for rel in on_record:
            st = self.write(rel)
            rows.append(("t", "alice", rel, st.st_size, st.st_mtime_ns))
        with sqlite3.connect(self.queue) as db:
            db.executemany("INSERT INTO pushed(target, user, path, size, "
                           "mtime_ns) VALUES(?, ?, ?, ?, ?)", rows)
            db.executemany(
                "INSERT INTO jobs(target, user, home, path, op, arg, "
                "created_ms, state) VALUES('t', 'alice', ?, ?, ?, ?, 1, "
                "'failed')", [(self.home, p, op, a) for op, p, a in jobs])
        before = self.puts()
        self.srv.start()
        self.wait_walk(self.walks)
        queued = {path for i, path in self.puts() if (i, path) not in before}
        # /d/a.bin under its own delete and "/d"'s; /e/sub/b.bin under
        # the rmdir of /e; /f/c.bin under /f moved to /g.
        self.assertEqual(queued, {"/d/a.bin", "/e/sub/b.bin", "/f/c.bin"},
                         self.srv.log_text()[-3000:])
        self.assertIn("mirror catch-up: 3 pushes queued",
                      self.srv.log_text())

    def puts(self):
        with sqlite3.connect(self.queue) as db:
            return set(db.execute(
                "SELECT id, path FROM jobs WHERE op=0 AND target='t'"))


if __name__ == "__main__":
    unittest.main()
