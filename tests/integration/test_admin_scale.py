#!/usr/bin/env python3
"""What the admin's tools cost on a big queue, seen from outside.

A queue with a few thousand waiting jobs (a target down while uploads went
on: the state of a big install, made small) is read by `relayftpd mirror
status` under strace, which records what the command asks of the queue's
files:

- it takes no write lock: every open of the queue (this command, the
  admin listener's connection, `mirror retry`) ran an upgrade of rows
  written by versions before `tried`, an UPDATE that scans every job
  under the queue's write lock. At 2.7 million jobs (20 targets, 134,000
  files waiting) that held the lock 0.5 s a call with the queue in the
  page cache, while the daemon's uploads and pushes waited to record
  theirs: a monitoring script running `mirror status` stalled the
  uploads it watched;
- it reads a small part of the queue: the oldest job's age was a scan of
  every job of the target. At 2.7 million jobs, 20 targets: `mirror
  status` 9 s, GET /api/status and /metrics 4 to 12 s each (the listener
  has one thread), and a restart listened for FTP only after 9 s (the
  start reads each target's state the same way).

No timings are asserted: what is counted is the lock taken and the bytes
read (strace -y names each descriptor's file). Runs in a few seconds.
"""
import http.client
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from daemon import free_port  # noqa: E402
from harness import BINARY, STRACE, wait_for  # noqa: E402
from mirror_targets import MirrorServer  # noqa: E402

JOBS = 5000
# Long paths, as real trees have: a job's row is then much larger than
# its entries in the indexes a count reads.
LONG = "/" + "/".join(["folder-of-a-camera-upload"] * 6)


class BigQueueTest(unittest.TestCase):
    def setUp(self):
        if STRACE is None:
            self.skipTest("strace is not installed")
        # A target nobody listens on: every job waits.
        srv = MirrorServer(
            mirror={"retry_initial": "600", "retry_max": "600",
                    "watch": "off"},
            targets={name: {"url": "ftp://u:p@127.0.0.1:%d/" % free_port()}
                     for name in ("down", "small")}, start=False)
        self.addCleanup(srv.cleanup)
        self.srv = srv
        os.makedirs(os.path.join(srv.home("alice"), "d"))
        with open(os.path.join(srv.home("alice"), "d", "seed"), "wb") as f:
            f.write(b"seed")
        srv.start()
        # The start-up walk queues the seed; then the daemon stops and
        # the queue is grown as uploads would have grown it.
        self.assertTrue(wait_for(
            lambda: srv.status_raw().stdout.count("queued=1 ") == 2,
            timeout=30),
            srv.status_raw())
        srv.stop()
        self.queue = os.path.join(srv.tmp, "relayftpd-queue.db")
        db = sqlite3.connect(self.queue, isolation_level=None)
        self.addCleanup(db.close)
        cols = [r[1] for r in db.execute("PRAGMA table_info(jobs)")
                if r[1] != "id"]
        seed = dict(zip(cols, db.execute(
            "SELECT %s FROM jobs WHERE target='down'" % ", ".join(cols)
        ).fetchone()))
        db.execute("BEGIN")
        for i in range(JOBS):
            row = dict(seed, path="%s/file-%06d.jpg" % (LONG, i),
                       created_ms=seed["created_ms"] + 1 + i)
            db.execute("INSERT INTO jobs(%s) VALUES(%s)" % (
                ", ".join(cols), ", ".join("?" * len(cols))),
                [row[c] for c in cols])
        # The small target's one job parked, as a version without
        # `tried` left it: tried, with attempts only to tell it.
        db.execute("UPDATE jobs SET state='failed', attempts=3, tried=0 "
                   "WHERE target='small'")
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.db_size = os.path.getsize(self.queue)

    def traced_status(self, calls, command=("status",)):
        """`mirror status` (or command) under strace: (its stdout, the
        trace lines)."""
        out = os.path.join(self.srv.tmp, "status.trace")
        # LeakSanitizer cannot run under ptrace: the ASan build's exit
        # would fail on it, not on the command (make test-asan).
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = ":".join(
            o for o in (env.get("ASAN_OPTIONS", ""), "detect_leaks=0") if o)
        r = subprocess.run(
            [STRACE, "-f", "-y", "-s", "0", "-o", out, "-e",
             "trace=" + ",".join(calls), BINARY, "mirror", command[0],
             "--config", self.srv.config_path] + list(command[1:]),
            capture_output=True, text=True, timeout=60,
            stdin=subprocess.DEVNULL, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out) as f:
            return r.stdout, f.read().splitlines()

    def test_status_takes_no_write_lock(self):
        stdout, trace = self.traced_status(["fcntl", "fcntl64"])
        self.assertIn("queued=%d " % (JOBS + 1), stdout)
        # SQLite's WAL write lock: a write lock on byte 120 of the -shm
        # file (WAL_WRITE_LOCK; the locks of readers are bytes 123-127,
        # the connection's own 128).
        writes = [line for line in trace
                  if "-shm>" in line and "F_WRLCK" in line and
                  re.search(r"l_start=120\b", line)]
        self.assertEqual(writes, [], "\n".join(writes))

    def bytes_read(self, trace):
        done = 0
        for line in trace:
            m = re.search(r"read(?:64)?\(\d+<([^>]*)>.*\) = (\d+)$", line)
            if m and m.group(1).startswith(self.queue):
                done += int(m.group(2))
        return done

    def test_status_reads_a_small_part_of_the_queue(self):
        stdout, trace = self.traced_status(["pread64", "read"])
        self.assertIn("queued=%d " % (JOBS + 1), stdout)
        # The oldest job is the seed, queued before the others.
        age = int(re.search(r" oldest_age=(\d+)s ", stdout).group(1))
        with sqlite3.connect(self.queue) as db:
            seed_ms = db.execute("SELECT min(created_ms) FROM jobs"
                                 ).fetchone()[0]
        self.assertGreaterEqual(age, 0)
        self.assertLessEqual(
            abs(age - (int(time.time() * 1000) - seed_ms) // 1000), 5)
        done = self.bytes_read(trace)
        # The counts read the index entries of the target's jobs (a few
        # dozen bytes each); a scan of the rows read the table, most of
        # the file.
        self.assertLess(done, self.db_size // 4,
                        "read %d of %d bytes" % (done, self.db_size))


    def test_retry_of_every_target_holds_the_write_lock_in_spells(self):
        """`mirror retry` of every target requeued all parked jobs in one
        transaction: 134,000 held the write lock 0.67 s, and a few million
        would hold it past the 10 s the daemon's uploads wait for it
        (their 226 then says "not queued for mirroring yet"). Now a few
        thousand a transaction; every parked job is still requeued."""
        with sqlite3.connect(self.queue) as db:
            db.execute("UPDATE jobs SET state='failed', attempts=3 "
                       "WHERE target='down'")
        stdout, trace = self.traced_status(["fcntl", "fcntl64"],
                                           ("retry",))
        self.assertEqual(stdout, "requeued %d parked jobs\n" % (JOBS + 2))
        spells = [line for line in trace
                  if "-shm>" in line and "F_WRLCK" in line and
                  re.search(r"l_start=120\b", line)]
        # 5,002 jobs: three transactions at least, each of 2,000 at most.
        self.assertGreaterEqual(len(spells), 3, "\n".join(trace[-50:]))
        with sqlite3.connect(self.queue) as db:
            rows = db.execute("SELECT target, state, attempts, count(*) "
                              "FROM jobs GROUP BY 1, 2, 3").fetchall()
        self.assertEqual(sorted(rows), [("down", "queued", 0, JOBS + 1),
                                        ("small", "queued", 0, 1)])

    def test_start_reads_the_queue_once(self):
        """The daemon's start read every job once for each statement that
        wanted the jobs of one state (those left running by a crash, the
        retries a clock step moves, the intents to settle): a scan each,
        0.67 s at 4 million jobs, before the FTP listener opened. Now each
        is a look-up per target. The row upgrade (queue_row_upgrade) was
        one scan more at every start (18 MB read of a 28 MB queue here);
        it is now a look-up in a partial index of the rows it mends, and
        still mends the small target's row, written as an older version
        writes after this one ran (setUp)."""
        # Eight times the jobs: a queue much larger than SQLite's own
        # cache (2 MB), which a second scan would read from otherwise.
        with sqlite3.connect(self.queue) as db:
            cols = [r[1] for r in db.execute("PRAGMA table_info(jobs)")
                    if r[1] not in ("id", "path")]
            for k in range(3):
                db.execute("INSERT INTO jobs(path, %s) SELECT path || '.%d', "
                           "%s FROM jobs" % (", ".join(cols), k,
                                             ", ".join(cols)))
        with sqlite3.connect(self.queue) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = os.path.getsize(self.queue)
        out = os.path.join(self.srv.tmp, "start.trace")
        p = subprocess.Popen(
            [STRACE, "-f", "-y", "-s", "0", "-o", out, "-e",
             "trace=pread64,read", BINARY, "--config",
             self.srv.config_path],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            line = ""
            for _ in range(10):
                line = p.stdout.readline()
                if line.startswith("listening on") or not line:
                    break
            self.assertTrue(line.startswith("listening on"), line)
            with open(out) as f:
                done = self.bytes_read(f.read().splitlines())
        finally:
            # strace's child is the daemon: SIGTERM to it, then both end.
            kids = open("/proc/%d/task/%d/children" % (p.pid, p.pid)
                        ).read().split()
            for k in kids:
                os.kill(int(k), 15)
            p.wait(timeout=30)
            p.stdout.close()
        print("start read %d bytes of a %d-byte queue" % (done, size))
        # A scan reads the table, most of the file; the look-ups read
        # a few pages of each index.
        self.assertLess(done, size // 4, "read %d of %d bytes" % (done, size))
        with sqlite3.connect(self.queue) as db:
            row = db.execute("SELECT state, attempts, tried FROM jobs "
                             "WHERE target='small'").fetchone()
        self.assertEqual(row, ("failed", 3, 1))

    def test_retry_of_one_target_reads_its_jobs_only(self):
        stdout, trace = self.traced_status(["pread64", "read"],
                                           ("retry", "small"))
        self.assertEqual(stdout, "requeued 1 parked jobs\n")
        done = self.bytes_read(trace)
        # Its one job, not the 5,000 of the other target (a scan of
        # every row, and before it the row upgrade's scan, at each open).
        self.assertLess(done, self.db_size // 4,
                        "read %d of %d bytes" % (done, self.db_size))
        with sqlite3.connect(self.queue) as db:
            row = db.execute("SELECT state, attempts, tried FROM jobs "
                             "WHERE target='small'").fetchone()
        # Queued again with a fresh count, still known to have been
        # tried (its temporary copy may be on the target).
        self.assertEqual(row, ("queued", 0, 1))


NTARGETS = 20
MANY = 200000


class AdminQueueCase(unittest.TestCase):
    """A daemon with an admin listener and MANY jobs over NTARGETS
    targets t00.., all down (each target's start-up seed first, then the
    jobs made straight in the queue, interleaved as uploads make them,
    job x's path `PATH/file-x.jpg`)."""
    NTARGETS = NTARGETS
    MANY = MANY
    PATH = LONG

    def setUp(self):
        if STRACE is None:
            self.skipTest("strace is not installed")
        NTARGETS, MANY, LONG = self.NTARGETS, self.MANY, self.PATH
        names = ["t%02d" % i for i in range(NTARGETS)]
        srv = MirrorServer(
            mirror={"retry_initial": "600", "retry_max": "600",
                    "watch": "off"},
            targets={n: {"url": "ftp://u:p@127.0.0.1:%d/" % free_port()}
                     for n in names}, start=False)
        srv.sections = {"admin": {"listen": "127.0.0.1:0"}}
        srv.write_config()
        self.addCleanup(srv.cleanup)
        self.srv = srv
        os.makedirs(os.path.join(srv.home("alice"), "d"))
        with open(os.path.join(srv.home("alice"), "d", "seed"), "wb") as f:
            f.write(b"seed")
        srv.start()
        self.assertTrue(wait_for(
            lambda: srv.status_raw().stdout.count("queued=1 ") == NTARGETS,
            timeout=30), srv.status_raw())
        srv.stop()
        self.queue = os.path.join(srv.tmp, "relayftpd-queue.db")
        with sqlite3.connect(self.queue, isolation_level=None) as db:
            cols = [r[1] for r in db.execute("PRAGMA table_info(jobs)")
                    if r[1] not in ("id", "target", "path", "created_ms")]
            # The targets' jobs interleaved, as uploads make them; t07's
            # last 50 are what its page of offset 9,950 shows.
            db.execute(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 "
                "FROM c WHERE x<%d) INSERT INTO jobs(target, path, "
                "created_ms, %s) SELECT printf('t%%02d', x %% %d), "
                "'%s/file-' || x || '.jpg', j.created_ms + x, %s FROM c, "
                "(SELECT * FROM jobs WHERE target='t00') j" % (
                    MANY, ", ".join(cols), NTARGETS, LONG,
                    ", ".join("j." + c for c in cols)))
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.db_size = os.path.getsize(self.queue)
        srv.start()
        self.addCleanup(srv.stop)
        self.port = int(srv.admin_url.rstrip("/").rsplit(":", 1)[1])

    def get(self, path):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            c.request("GET", path)
            r = c.getresponse()
            data = r.read()
            self.assertEqual(r.status, 200, data)
            return json.loads(data.decode("utf-8"))
        finally:
            c.close()

    def traced_get(self, path):
        """(the JSON of GET path, bytes of the queue the daemon read
        for it), under strace attached to the running daemon."""
        out = os.path.join(self.srv.tmp, "get.trace")
        tr = subprocess.Popen(
            [STRACE, "-f", "-y", "-s", "0", "-o", out, "-e",
             "trace=pread64,read", "-p", str(self.srv.proc.pid)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            # strace says it has attached (to each thread) on stderr.
            line = ""
            for _ in range(200):
                line = tr.stderr.readline()
                if "attached" in line or not line:
                    break
            self.assertIn("attached", line)
            doc = self.get(path)
        finally:
            tr.terminate()
            tr.wait(timeout=30)
            tr.stderr.close()
        done = 0
        with open(out) as f:
            for line in f:
                m = re.search(r"read(?:64)?\(\d+<([^>]*)>.*\) = (\d+)$",
                              line)
                if m and m.group(1).startswith(self.queue):
                    done += int(m.group(2))
        return doc, done


class ManyTargetsTest(AdminQueueCase):
    """GET /api/status?target=NAME on 200,000 jobs over 20 targets, all
    down: the page of one target's jobs and their total must read that
    target's part of the queue, not every job (the count's
    `?4 IS NULL OR target=?4` could use no index: it read the jobs of
    all 20 targets at each call, and the listener has one thread)."""

    def test_one_targets_page_reads_its_jobs_only(self):
        per = MANY // NTARGETS + 1
        # Once before, so both calls find SQLite's own cache alike.
        self.get("/api/status?target=t07&limit=1")
        doc, done = self.traced_get(
            "/api/status?target=t07&offset=%d&limit=50" % (per - 50))
        print("GET /api/status?target=t07 read %d bytes of a %d-byte "
              "queue" % (done, self.db_size))
        jobs = doc["jobs"]
        self.assertEqual((jobs["target"], jobs["total"]), ("t07", per))
        self.assertEqual(len(jobs["items"]), 50)
        self.assertEqual(jobs["items"][-1]["path"],
                         "%s/file-%d.jpg" % (LONG, MANY - 13))
        t07 = [t for t in doc["targets"] if t["name"] == "t07"][0]
        self.assertEqual(t07["queued"], per)
        self.assertLess(done, self.db_size // 4,
                        "read %d of %d bytes" % (done, self.db_size))


class DeepPageTest(AdminQueueCase):
    """The last page of 400,000 jobs, as an admin paging a backlog or a
    script fetching the newest jobs reads it. `offset=N` made SQLite
    step over the N jobs before the page, under the queue's lock (the
    uploads' and pushes' writes wait), at each request; the page's
    `next_after` cursor (`after=ID`) seeks straight to it, and an offset
    past the middle is counted from the newest job."""
    NTARGETS = 1
    MANY = 400000
    PATH = "/d"

    def test_after_cursor_reads_the_page_only(self):
        total = self.MANY + 1  # and the seed
        with sqlite3.connect(self.queue) as db:
            before_last = db.execute(
                "SELECT id FROM jobs ORDER BY id LIMIT 1 OFFSET ?",
                (total - 51,)).fetchone()[0]
        # Once before, so the traced call finds SQLite's cache warm.
        self.get("/api/status?limit=1")
        doc, done = self.traced_get(
            "/api/status?limit=50&after=%d" % before_last)
        print("GET /api/status?after= (the last page) read %d bytes of a "
              "%d-byte queue" % (done, self.db_size))
        jobs = doc["jobs"]
        self.assertEqual(len(jobs["items"]), 50)
        self.assertEqual(jobs["items"][0]["path"],
                         "/d/file-%d.jpg" % (self.MANY - 49))
        self.assertEqual(jobs["items"][-1]["path"],
                         "/d/file-%d.jpg" % self.MANY)
        self.assertEqual((jobs["total"], jobs["offset"], jobs["after"],
                          jobs["next_after"]),
                         (total, None, before_last, None))
        # offset=399,951 read 82 MB of this 143 MB queue.
        self.assertLess(done, self.db_size // 50,
                        "read %d of %d bytes" % (done, self.db_size))
        # The documented offset=N still gives the same page.
        deep = self.get("/api/status?limit=50&offset=%d" % (total - 50))
        self.assertEqual([j["id"] for j in deep["jobs"]["items"]],
                         [j["id"] for j in jobs["items"]])
        self.assertEqual((deep["jobs"]["offset"], deep["jobs"]["after"],
                          deep["jobs"]["next_after"]), (total - 50, None, None))

    def test_last_page_by_offset_reads_the_page_only(self):
        """A script's last page (offset=total-limit) is counted from the
        newest job: it stepped over all 400,000 before it (82 MB of the
        143 MB queue)."""
        total = self.MANY + 1
        self.get("/api/status?limit=1")
        doc, done = self.traced_get(
            "/api/status?limit=50&offset=%d" % (total - 30))
        print("GET /api/status?offset= (the last page) read %d bytes of a "
              "%d-byte queue" % (done, self.db_size))
        jobs = doc["jobs"]
        self.assertEqual([j["path"] for j in jobs["items"]],
                         ["/d/file-%d.jpg" % x
                          for x in range(self.MANY - 29, self.MANY + 1)])
        self.assertEqual((jobs["offset"], jobs["total"], jobs["next_after"]),
                         (total - 30, total, None))
        self.assertLess(done, self.db_size // 50,
                        "read %d of %d bytes" % (done, self.db_size))
        # A page just past the middle, read from the end, is the same
        # as the cursor's, and says a next one follows.
        mid = self.get("/api/status?limit=50&offset=%d" % (total // 2 + 1))
        items = mid["jobs"]["items"]
        self.assertEqual(items[0]["path"],
                         "/d/file-%d.jpg" % (total // 2 + 1))
        self.assertEqual(mid["jobs"]["next_after"], items[-1]["id"])
        by_cursor = self.get("/api/status?limit=50&after=%d" %
                             (items[0]["id"] - 1))
        self.assertEqual([j["id"] for j in by_cursor["jobs"]["items"]],
                         [j["id"] for j in items])
        # From the first page on: each page's next_after is the cursor
        # of the next, the same jobs offset=50 gives.
        first = self.get("/api/status?limit=50")["jobs"]
        self.assertEqual(first["next_after"], first["items"][-1]["id"])
        nxt = self.get("/api/status?limit=50&after=%d" % first["next_after"])
        old = self.get("/api/status?limit=50&offset=50")
        self.assertEqual([j["id"] for j in nxt["jobs"]["items"]],
                         [j["id"] for j in old["jobs"]["items"]])
        self.assertEqual(nxt["jobs"]["next_after"],
                         old["jobs"]["items"][-1]["id"])


if __name__ == "__main__":
    unittest.main()
