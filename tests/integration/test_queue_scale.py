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
- `mirror status`, /api/status and /metrics counted every job of each
  target at each call (0.35 s of CPU at a million jobs). The queue now
  keeps the counts, by triggers in the transactions that change the jobs:
  checked here against a full count after random changes, kill -9 and
  restarts, and on a queue made before the counts existed.

No timings are asserted (the commit messages say what was measured).
"""
import ftplib
import io
import os
import random
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


class StatusCountsTest(unittest.TestCase):
    def setUp(self):
        # Two targets nobody listens on: jobs wait, are tried, parked.
        self.srv = MirrorServer(
            mirror={"retry_initial": "1", "retry_max": "1",
                    "max_attempts": "2", "watch": "off"},
            targets={name: {"url": "ftp://u:p@127.0.0.1:%d/" % free_port(),
                            "propagate_deletes": "on",
                            "propagate_renames": "on"}
                     for name in ("a", "b")})
        self.addCleanup(self.srv.cleanup)
        self.queue = os.path.join(self.srv.tmp, "relayftpd-queue.db")
        self.rnd = random.Random(24)

    def full_count(self):
        with sqlite3.connect(self.queue, timeout=30) as db:
            rows = db.execute("SELECT target, state, count(*) FROM jobs "
                              "GROUP BY 1, 2").fetchall()
        want = {t: {"queued": 0, "running": 0, "failed": 0}
                for t in ("a", "b")}
        for target, state, n in rows:
            if state in want.get(target, {}):
                want[target][state] = n
        return want

    def shown(self):
        st = self.srv.status()
        return {t: {k: st[t][k] for k in ("queued", "running", "failed")}
                for t in ("a", "b")}

    def assertCounts(self, why):
        """With no daemon writing: what status says is a full count."""
        want = self.full_count()
        self.assertEqual(self.shown(), want, why)
        self.assertGreater(sum(sum(v.values()) for v in want.values()), 0)

    def changes(self, n):
        f = ftplib.FTP()
        f.connect("127.0.0.1", self.srv.port, timeout=30)
        f.login("alice", self.srv.users["alice"]["password"])
        names = []
        for _ in range(n):
            r = self.rnd.random()
            if r < 0.5 or not names:
                name = "/f%d.bin" % self.rnd.randrange(10 ** 6)
                f.storbinary("STOR " + name, io.BytesIO(b"x" * 10))
                names.append(name)
            elif r < 0.75:
                f.delete(names.pop(self.rnd.randrange(len(names))))
            else:
                old = names.pop(self.rnd.randrange(len(names)))
                new = "/r%d.bin" % self.rnd.randrange(10 ** 6)
                f.rename(old, new)
                names.append(new)
        f.quit()

    def test_counts_match_a_full_count_after_changes_and_kill9(self):
        self.changes(60)
        self.srv.kill9()
        self.assertCounts("after kill -9")
        self.srv.start()
        self.changes(60)
        # Some parked by now (two attempts a second apart), some not.
        self.assertTrue(wait_for(
            lambda: self.srv.status()["a"]["failed"] > 0, timeout=30))
        r = self.srv.retry("a")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.changes(30)
        self.srv.kill9()
        self.assertCounts("after retry, changes and kill -9")
        self.srv.start()
        self.srv.stop()
        self.assertCounts("after a restart (running jobs queued again)")

    def test_a_queue_made_before_the_counts_is_counted(self):
        self.changes(40)
        self.srv.stop()
        # As a version before the counts left it, and jobs written by
        # one (the triggers gone with the table's set-up).
        with sqlite3.connect(self.queue) as db:
            for trig in ("jc_i", "jc_d", "jc_u"):
                db.execute("DROP TRIGGER %s" % trig)
            db.execute("DROP TABLE jc")
            db.execute("UPDATE jobs SET state='failed' WHERE id IN "
                       "(SELECT id FROM jobs WHERE target='b' LIMIT 5)")
        # status opens a view, which counts (it takes no write lock).
        self.assertCounts("a view of an older queue")
        self.srv.start()
        self.srv.stop()
        self.assertCounts("set up by the daemon")
        with sqlite3.connect(self.queue) as db:
            self.assertEqual(db.execute(
                "SELECT count(*) FROM sqlite_master WHERE type='trigger' "
                "AND name LIKE 'jc_%'").fetchone()[0], 3)


if __name__ == "__main__":
    unittest.main()
