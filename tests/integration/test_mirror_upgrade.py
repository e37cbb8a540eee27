#!/usr/bin/env python3
"""Queue files written by older versions, taken over.

An admin upgrades relayftpd while jobs wait in the queue (a target was
down). The file has the tables of that version: before the fair share,
jobs without flow, vstart and vfinish, targets without vclock; before
tags broke ties, the fair share's index jobs_fair on (start, id). The new
daemon must add what is missing (one ALTER each, then the indexes), drop
the index it no longer reads, push the jobs that waited, and push new
uploads from sessions as well; `mirror status` must read the file. Checked
from outside: the files on a pyftpdlib target, and the file's columns and
indexes afterwards, and the pushes' records (with the inode the older
tables lack). Runs in ~2 s.
"""
import ftplib
import io
import os
import sqlite3
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import wait_for  # noqa: E402
from mirror_targets import MirrorServer, PyftpdTarget  # noqa: E402

# The tables of the queue before the fair share (queue_schema.c then).
OLD_SCHEMA = """
PRAGMA journal_mode=WAL;
CREATE TABLE jobs (
 id INTEGER PRIMARY KEY AUTOINCREMENT,
 target TEXT NOT NULL, user TEXT NOT NULL, home TEXT NOT NULL,
 path TEXT NOT NULL,
 op INTEGER NOT NULL DEFAULT 0,
 recovered INTEGER NOT NULL DEFAULT 0,
 tried INTEGER NOT NULL DEFAULT 0,
 arg TEXT NOT NULL DEFAULT '',
 state TEXT NOT NULL DEFAULT 'queued',
 attempts INTEGER NOT NULL DEFAULT 0,
 next_ms INTEGER NOT NULL DEFAULT 0,
 created_ms INTEGER NOT NULL,
 last_error TEXT NOT NULL DEFAULT '');
CREATE INDEX jobs_due ON jobs(target, state, next_ms);
CREATE INDEX jobs_path ON jobs(target, user, path);
CREATE INDEX jobs_arg ON jobs(target, user, arg);
CREATE TABLE targets (
 name TEXT PRIMARY KEY,
 files INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0,
 failing_since_ms INTEGER NOT NULL DEFAULT 0,
 backoff_until_ms INTEGER NOT NULL DEFAULT 0,
 last_error TEXT NOT NULL DEFAULT '',
 last_error_ms INTEGER NOT NULL DEFAULT 0,
 last_ok_ms INTEGER NOT NULL DEFAULT 0);
CREATE TABLE pushed (
 target TEXT NOT NULL, user TEXT NOT NULL, path TEXT NOT NULL,
 size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
 PRIMARY KEY(target, user, path));
CREATE TABLE uploads (
 target TEXT NOT NULL, key TEXT NOT NULL, upload_id TEXT NOT NULL,
 created_ms INTEGER NOT NULL,
 PRIMARY KEY(target, key, upload_id));
"""

# The tables of the version whose claims took the earliest start, then the
# oldest (queue_schema.c then): the fair share's columns and jobs_fair.
FAIR_SCHEMA = OLD_SCHEMA + """
ALTER TABLE jobs ADD COLUMN flow INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN vstart INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN vfinish INTEGER NOT NULL DEFAULT 0;
ALTER TABLE targets ADD COLUMN vclock INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_fair ON jobs(target, state, vstart, id);
CREATE INDEX jobs_flowstate ON jobs(target, flow, state, vfinish);
"""

# Names of the old jobs: quoting and LIKE characters, a space, UTF-8.
OLD = ["/old/a b.txt", "/old/q\"t%_.bin", "/old/\u00fcml\u00e4ut",
       "/old/-dash"]


class UpgradeTest(unittest.TestCase):

    def test_old_queue_is_taken_over(self):
        self.take_over(OLD_SCHEMA)

    def test_queue_of_the_first_fair_share_is_taken_over(self):
        self.take_over(FAIR_SCHEMA)

    def take_over(self, schema):
        p = PyftpdTarget()
        self.addCleanup(p.cleanup)
        srv = MirrorServer(
            users={"u1": {"password": "pw1"}},
            mirror={"queue": "PLACEHOLDER", "retry_initial": "1",
                    "retry_max": "1", "watch": "off"},
            targets={"p": p.target("/base")}, start=False)
        self.addCleanup(srv.cleanup)
        queue = os.path.join(srv.tmp, "queue.db")
        srv.mirror_opts["queue"] = queue
        srv.write_config()
        home = srv.home("u1")
        want = {}
        for k, path in enumerate(OLD):
            full = home + path
            os.makedirs(os.path.dirname(full), exist_ok=True)
            data = ("old file %d\n" % k).encode() * (k + 1)
            with open(full, "wb") as f:
                f.write(data)
            want[path] = data
        db = sqlite3.connect(queue)
        db.executescript(schema)
        now = int(time.time() * 1000)
        db.executemany(
            "INSERT INTO jobs(target, user, home, path, created_ms) "
            "VALUES('p', 'u1', ?, ?, ?)",
            [(home, path, now) for path in OLD])
        db.commit()
        db.close()

        srv.start()
        self.addCleanup(srv.stop, check=False)
        ftp = ftplib.FTP()
        ftp.encoding = "utf-8"
        ftp.connect("127.0.0.1", srv.port, timeout=20)
        ftp.login("u1", "pw1")
        for k in range(3):
            data = ("new file %d\n" % k).encode() * 50
            path = "/new/%d.bin" % k
            if k == 0:
                ftp.mkd("/new")
            ftp.storbinary("STOR " + path, io.BytesIO(data))
            want[path] = data
        ftp.quit()

        root = p.dir("base", "u1")

        def arrived():
            for path, data in want.items():
                full = root + path
                try:
                    with open(full, "rb") as f:
                        if f.read() != data:
                            return False
                except OSError:
                    return False
            return True

        ok = wait_for(arrived, timeout=30, interval=0.1)
        self.assertTrue(ok, "not all files on the target: %s\nlog:\n%s" % (
            sorted(os.path.relpath(os.path.join(d, f), root)
                   for d, _, fs in os.walk(root) for f in fs),
            srv.log_text()[-3000:]))
        self.assertTrue(wait_for(
            lambda: srv.status()["p"]["queued"] == 0 and
            srv.status()["p"]["running"] == 0, timeout=20),
            srv.status_raw().stdout)

        db = sqlite3.connect(queue)
        cols = {r[1] for r in db.execute("PRAGMA table_info(jobs)")}
        tcols = {r[1] for r in db.execute("PRAGMA table_info(targets)")}
        # Every push recorded the file's inode (a file renamed over a
        # pushed one with its size and time is told apart by it).
        inos = [r[0] for r in db.execute("SELECT ino FROM pushed")]
        idx = {r[0] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type='index'")}
        # The claims' look (queue.c first_free) reads the jobs in their
        # order through the index, never sorting them all at each claim.
        plan = " ".join(str(r[-1]) for r in db.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM jobs WHERE target=?1 AND "
            "state=?2 AND +next_ms<=?3 ORDER BY vstart, vtag, id",
            ("p", "queued", 0)))
        db.close()
        self.assertIn("jobs_share", plan)
        self.assertNotIn("TEMP B-TREE", plan)
        self.assertTrue(
            {"flow", "vstart", "vfinish", "vtag", "sparse"} <= cols, cols)
        self.assertTrue({"vclock", "stime"} <= tcols, tcols)
        self.assertEqual(len(inos), len(want), inos)
        self.assertNotIn(0, inos)
        self.assertTrue({"jobs_share", "jobs_flowstate"} <= idx, idx)
        self.assertNotIn("jobs_fair", idx)
        # Renames' new names: a partial index of renames replaces the index
        # of every job's arg.
        self.assertIn("jobs_rename", idx)
        self.assertNotIn("jobs_arg", idx)
        self.assertNotIn("queue: claim", srv.log_text())


if __name__ == "__main__":
    unittest.main()
