#!/usr/bin/env python3
"""A queue file damaged on disk says what SQLite found.

A queue whose pages were damaged in the middle (a disk error, a copy made
while it was written) opens: SQLite reads only its header and schema then.
Every later claim of a job fails, and the log is all the admin has. It
said "queue: claim: not an error" five times a second, because SQLite's
message was read after the ROLLBACK that ended the claim, whose success
resets it (found by an outside battery). Now each claim's failure names the
target and SQLite's own words.
"""
import fcntl
import ftplib
import io
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from faults import Faults  # noqa: E402
from harness import mount_ext4, mount_tmpfs, wait_for  # noqa: E402
from mirror_targets import MirrorServer, PyftpdTarget  # noqa: E402
from test_mirror_refused import session  # noqa: E402


def files_in(folder):
    """{name: bytes} of the files in folder (an exec target's copies)."""
    got = {}
    for name in os.listdir(folder):
        with open(os.path.join(folder, name), "rb") as g:
            got[name] = g.read()
    return got


def fill(path):
    """Writes path until its file system is full. Unbuffered: a buffered
    file keeps what its last flush could not write and raises ENOSPC
    again when it is closed (CI's ASan run, once)."""
    st = os.statvfs(os.path.dirname(path))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        # Big blocks, then smaller ones for what is left of the room.
        for size in (65536, 4096, 512, 1):
            block = b"x" * size
            for _ in range(2 + st.f_blocks * st.f_frsize // size):
                try:
                    if os.write(fd, block) <= 0:
                        break
                except OSError:
                    break
    finally:
        os.close(fd)


def queue_dir(case, prefix):
    """A new folder q for a queue, in a temporary folder removed at
    case's cleanup."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    case.addCleanup(shutil.rmtree, tmp, True)
    qdir = os.path.join(tmp, "q")
    os.mkdir(qdir)
    return qdir


def delivering(tmp, out):
    """An exec target's program, in tmp, that copies each put into the
    folder out under the file's last name."""
    prog = os.path.join(tmp, "deliver.sh")
    with open(prog, "w") as f:
        f.write('#!/bin/sh\n[ "$RELAYFTPD_EVENT" = put ] || exit 0\n'
                'cp "$RELAYFTPD_FILE" "%s/${RELAYFTPD_PATH##*/}"\n'
                % out)
    os.chmod(prog, 0o755)
    return prog


def quiet_server(case, queue, prog="/bin/true", **mirror):
    """A started server of alice (password pw) with its queue at queue
    and one target x, the program prog (by default one that takes
    everything), stopped at case's cleanup."""
    mirror["queue"] = queue
    srv = MirrorServer(users={"alice": {"password": "pw"}}, mirror=mirror,
                       targets={"x": {"url": "exec:" + prog}})
    case.addCleanup(srv.cleanup)
    return srv


def refused_start(case, queue):
    """The error a second server (alice, one target x) on queue, which
    must be refused, started with."""
    second = MirrorServer(
        users={"alice": {"password": "pw"}},
        mirror={"queue": queue, "watch": "off"},
        targets={"x": {"url": "exec:/bin/true"}}, start=False)
    case.addCleanup(second.cleanup)
    with case.assertRaises(RuntimeError) as cm:
        second.start()
    return str(cm.exception)


def failing_target_server(tmp):
    """A MirrorServer, not started (alice, password pw; its queue
    tmp/queue.db), whose one target, x, fails every push: the jobs stay
    queued, due again within a second."""
    prog = os.path.join(tmp, "fail.sh")
    with open(prog, "w") as f:
        f.write("#!/bin/sh\nexit 1\n")
    os.chmod(prog, 0o755)
    return MirrorServer(
        users={"alice": {"password": "pw"}},
        mirror={"queue": os.path.join(tmp, "queue.db"), "watch": "off",
                "retry_initial": "1", "retry_max": "1"},
        targets={"x": {"url": "exec:" + prog}}, start=False)


def store_files(srv, n, size):
    """alice uploads n files of size bytes, f000 .. (n - 1)."""
    f = ftplib.FTP()
    f.connect("127.0.0.1", srv.port, timeout=30)
    f.login("alice", "pw")
    for i in range(n):
        f.storbinary("STOR f%03d" % i, io.BytesIO(b"x" * size))
    f.quit()


class DamagedQueueTest(unittest.TestCase):
    def test_claim_failure_says_why(self):
        tmp = tempfile.mkdtemp(prefix="rftp-qdamage-")
        self.addCleanup(shutil.rmtree, tmp, True)
        queue = os.path.join(tmp, "queue.db")
        srv = failing_target_server(tmp)
        self.addCleanup(srv.cleanup)
        srv.start()
        store_files(srv, 40, 1000)
        srv.stop()
        with open(queue, "r+b") as q:
            data = bytearray(q.read())
            self.assertGreater(len(data), 8192)
            for i in range(4096, len(data), 7):
                data[i] ^= 0x5A
            q.seek(0)
            q.write(data)
        srv.start()
        self.assertTrue(wait_for(
            lambda: "queue: claim for target x:" in srv.log_text(),
            timeout=20), srv.log_text()[-3000:])
        claims = [line for line in srv.log_text().splitlines()
                  if "queue: claim" in line]
        self.assertTrue(claims)
        for line in claims:
            self.assertNotIn("not an error", line)
            self.assertNotIn("another row available", line)


class FailingClaimsTest(unittest.TestCase):
    """A queue file that cannot be written (a failing disk: EIO on the
    WAL) while jobs wait: every worker claims again each second, and each
    failed claim was a log line, 3.6 a second for one target of 4
    workers, for as long as the disk failed (found by a soak: a disk
    filler at 3 a.m.). Now the failure is said once, then once a minute
    with the count of those not said, and its end is said with it."""

    def test_failing_claims_are_said_once_and_their_end(self):
        tmp = tempfile.mkdtemp(prefix="rftp-qclaims-")
        self.addCleanup(shutil.rmtree, tmp, True)
        inj = Faults(self)
        srv = failing_target_server(tmp)
        self.addCleanup(srv.cleanup)
        inj.start(srv.start)
        store_files(srv, 8, 100)
        self.assertTrue(wait_for(lambda: "mirror push failed target=x"
                                 in srv.log_text(), timeout=20),
                        srv.log_text()[-3000:])
        inj.arm("pwrite 5 0 -1 queue.db-wal")
        # Many claims failed (each a FAULT line from the shim).
        self.assertTrue(wait_for(
            lambda: srv.log_text().count("FAULT pwrite") >= 12,
            timeout=30), srv.log_text()[-3000:])
        said = [line for line in srv.log_text().splitlines()
                if "queue: claim" in line]
        self.assertEqual(len(said), 1, "\n".join(said[:20]))
        self.assertIn("queue: claim for target x: commit: disk I/O error",
                      said[0])
        inj.disarm()
        self.assertTrue(wait_for(lambda: "queue: claims work again"
                                 in srv.log_text(), timeout=20),
                        srv.log_text()[-3000:])
        log = srv.log_text()
        faults = log.count("FAULT pwrite")
        again = [line for line in log.splitlines()
                 if "queue: claims work again" in line]
        self.assertEqual(len(again), 1, again)
        # It says how many failed unsaid: the faults made but the first
        # claim's (and the pushes' own writes, if any).
        unsaid = int(again[0].split("(")[1].split()[0])
        self.assertGreaterEqual(unsaid, 6, (again, faults))
        self.assertLessEqual(unsaid, faults)


WAL_LIMIT = 8 << 20  # the queue's journal_size_limit (queue_schema.c)


class WalShrinksTest(unittest.TestCase):
    """A big transaction on the queue (a clock step that moves every
    retry; `mirror retry` of many parked jobs, before it went by a few
    thousand a transaction; here another program's UPDATE of 80,000
    jobs) grew its WAL to the transaction's size, and SQLite keeps a WAL
    at its largest for as long as a connection is open: the daemon's, for
    months (200,000 jobs retried left 32 MB; found by a soak). Now the
    WAL is cut back to 8 MB once a checkpoint has emptied it."""

    def test_wal_is_cut_back_after_a_big_transaction(self):
        tmp = tempfile.mkdtemp(prefix="rftp-qwal-")
        self.addCleanup(shutil.rmtree, tmp, True)
        srv = failing_target_server(tmp)
        self.addCleanup(srv.cleanup)
        srv.start()
        srv.stop()
        queue = os.path.join(tmp, "queue.db")
        db = sqlite3.connect(queue)
        db.executemany(
            "INSERT INTO jobs(target, user, home, path, state, attempts, "
            "created_ms, last_error) VALUES('x', 'alice', ?, ?, 'failed', "
            "3, 1, 'exit 1')",
            ((srv.home("alice"), "/d/f%06d" % i) for i in range(80000)))
        db.commit()
        db.close()
        srv.start()
        # One transaction rewriting every row, while the daemon holds
        # the queue open.
        db = sqlite3.connect(queue)
        db.execute("UPDATE jobs SET last_error=? WHERE target='x'",
                   ("exit 1: " + "x" * 100,))
        db.commit()
        db.close()
        wal = queue + "-wal"
        self.assertGreater(os.path.getsize(wal), WAL_LIMIT)
        r = srv.retry()
        self.assertIn("requeued 80000 parked jobs", r.stdout, r.stderr)
        # The daemon's own writes (uploads) after the checkpoint.
        f = ftplib.FTP()
        f.connect("127.0.0.1", srv.port, timeout=30)
        f.login("alice", "pw")
        self.addCleanup(f.close)
        sizes = []
        for i in range(20):
            f.storbinary("STOR w%02d" % i, io.BytesIO(b"w"))
            sizes.append(os.path.getsize(wal))
            if sizes[-1] <= WAL_LIMIT:
                break
        self.assertLessEqual(sizes[-1], WAL_LIMIT, sizes)


class FullQueueDiskTest(unittest.TestCase):
    """The queue's disk full: changes made in the home whose recording
    comes after them (a rename where renames do not propagate, a file
    another program writes, an APPE, a STOU) were logged "will not be
    mirrored" and never reached the target until a restart, with the
    status healthy; an upload was answered 451 "please upload it again",
    and doing so appended twice (APPE) or made a second file (STOU)
    (found from outside). Now the home is walked again until its changes
    are queued, and the upload gets 226 saying it is not queued yet."""

    def test_changes_lost_by_a_full_queue_reach_the_target(self):
        tmp = tempfile.mkdtemp(prefix="rftp-qfull-")
        self.addCleanup(shutil.rmtree, tmp, True)
        qdir, out = os.path.join(tmp, "q"), os.path.join(tmp, "out")
        os.mkdir(qdir)
        os.mkdir(out)
        mount_tmpfs(self, qdir, "size=2m")
        prog = delivering(tmp, out)
        srv = MirrorServer(
            users={"alice": {"password": "pw"}},
            mirror={"queue": os.path.join(qdir, "queue.db"),
                    "watch": "on", "watch_debounce_ms": "200",
                    "retry_initial": "1", "retry_max": "2"},
            targets={"x": {"url": "exec:" + prog}}, start=False)
        self.addCleanup(srv.cleanup)
        srv.sections = {"admin": {"listen": "127.0.0.1:0"}}
        srv.write_config()
        srv.start()
        home = srv.home("alice")
        f = session(self, srv, "alice")
        f.storbinary("STOR a.txt", io.BytesIO(b"a\n"))
        f.storbinary("STOR log.txt", io.BytesIO(b"line1\n"))
        self.assertTrue(wait_for(lambda: sorted(os.listdir(out)) ==
                                 ["a.txt", "log.txt"], timeout=20),
                        srv.log_text()[-3000:])
        filler = os.path.join(qdir, "filler")
        fill(filler)
        f.rename("a.txt", "b.txt")
        with open(os.path.join(home, "ext.txt"), "wb") as g:
            g.write(b"written by another program\n")
        resp = f.storbinary("APPE log.txt", io.BytesIO(b"line2\n"))
        self.assertTrue(resp.startswith("226 "), resp)
        self.assertIn("not queued for mirroring yet", resp)
        resp = f.storbinary("STOU", io.BytesIO(b"unique\n"))
        self.assertTrue(resp.startswith("226 "), resp)
        # A STOR too: its 451 asked for the bytes again, which a user
        # without delete could not send (the name holds them already).
        new = f.storbinary("STOR new.txt", io.BytesIO(b"new\n"))
        self.assertTrue(new.startswith("226 "), new)
        self.assertIn("not queued for mirroring yet", new)
        unique = re.search(r"unique file name: ([^)]+)\)", resp).group(1)
        # Counted for the admin's monitoring too, once per change the
        # log says could not be recorded (nothing but the log said so).
        with urllib.request.urlopen(srv.admin_url + "metrics",
                                    timeout=10) as r:
            metrics = r.read().decode()
        told = srv.log_text().count("the mirror could not record the ")
        self.assertGreaterEqual(told, 3)
        self.assertIn("\nrelayftpd_queue_unrecorded_total %d\n" % told,
                      metrics)
        self.assertTrue(wait_for(
            lambda: "walked again" in srv.log_text(), timeout=20),
            srv.log_text()[-3000:])
        # Why, for the admin: the log said only "cannot queue a change",
        # not that the queue's file system was full.
        self.assertIn("queue: cannot commit to %s: database or disk is "
                      "full (its file system is full)"
                      % os.path.join(qdir, "queue.db"), srv.log_text())
        os.remove(filler)
        want = {"a.txt": b"a\n", "b.txt": b"a\n",
                "ext.txt": b"written by another program\n",
                "log.txt": b"line1\nline2\n", unique: b"unique\n",
                "new.txt": b"new\n"}
        self.assertTrue(wait_for(lambda: files_in(out) == want, timeout=60),
                        "%s\n%s" % (sorted(os.listdir(out)),
                                     srv.log_text()[-4000:]))
        with open(os.path.join(home, "log.txt"), "rb") as g:
            self.assertEqual(g.read(), b"line1\nline2\n")


class QueueDiskTooSmallForItsJournalTest(unittest.TestCase):

    def test_a_small_queue_disk_keeps_taking_jobs(self):
        """SQLite folds its WAL back into the queue file only at 1,000
        pages (about 4 MB). On a 2 MB file system the WAL of 30 uploads
        and their retries filled it: every write then said "database or
        disk is full" for good, even once the target took files again,
        as the checkpoint that would empty the WAL needs room for the
        queue file to grow (found from outside). Now the WAL gets a
        quarter of the room found at the start, and the log says once
        that the disk is too small."""
        qdir = queue_dir(self, "rftp-qsmall-")
        tmp = os.path.dirname(qdir)
        out = os.path.join(tmp, "out")
        os.mkdir(out)
        mount_tmpfs(self, qdir, "size=2m")
        down = os.path.join(tmp, "down")
        open(down, "w").close()
        prog = os.path.join(tmp, "deliver.sh")
        with open(prog, "w") as f:
            f.write('#!/bin/sh\n[ -e "%s" ] && exit 1\n'
                    '[ "$RELAYFTPD_EVENT" = put ] || exit 0\n'
                    'cp "$RELAYFTPD_FILE" "%s/${RELAYFTPD_PATH##*/}"\n'
                    % (down, out))
        os.chmod(prog, 0o755)
        srv = quiet_server(self, os.path.join(qdir, "queue.db"), prog=prog,
                           watch="off", retry_initial="1", retry_max="1")
        f = session(self, srv, "alice")
        want = {}
        for i in range(30):
            name = "f%03d" % i
            want[name] = name.encode()
            resp = f.storbinary("STOR " + name, io.BytesIO(want[name]))
            self.assertNotIn("not queued", resp)
        # The target failing, each retry writes the queue: about 5 s
        # of them filled the WAL (2 MB) before.
        self.assertTrue(wait_for(
            lambda: "path=/alice/f000 attempt=12:" in srv.log_text(),
            timeout=40), srv.log_text()[-3000:])
        os.remove(down)
        self.assertTrue(wait_for(lambda: files_in(out) == want, timeout=60),
                        "%s\n%s" % (sorted(os.listdir(out)),
                                     srv.log_text()[-3000:]))
        log = srv.log_text()
        self.assertEqual(log.count("too little for the queue's journal"), 1,
                         log[-3000:])
        self.assertNotIn("database or disk is full", log)
        f.close()
        srv.stop(check=False)


class FullQueueDiskResyncTest(unittest.TestCase):

    def test_resync_on_a_full_queue_disk_says_what_it_could_not_queue(self):
        """`mirror resync` with the queue's file system full found the
        files missing on the target, could not queue them, and printed
        "0 queued" and exited 0: a script (or an admin) read the target
        as whole while the files stayed missing for good (found by an
        attack on a full tmpfs). Now each is named, the run exits 1 and
        says to run it again; the next run queues them."""
        tmp = tempfile.mkdtemp(prefix="rftp-qfull-resync-")
        self.addCleanup(shutil.rmtree, tmp, True)
        qdir = os.path.join(tmp, "q")
        os.mkdir(qdir)
        mount_tmpfs(self, qdir, "size=16m")
        p = PyftpdTarget()
        self.addCleanup(p.cleanup)
        srv = MirrorServer(
            users={"alice": {"password": "pw"}},
            mirror={"queue": os.path.join(qdir, "queue.db"),
                    "watch": "off", "retry_initial": "1",
                    "retry_max": "2"},
            targets={"p": p.target("/base")})
        self.addCleanup(srv.cleanup)
        files = {"f%d" % i: b"%d\n" % i for i in range(4)}
        f = session(self, srv, "alice")
        for name, data in files.items():
            f.storbinary("STOR " + name, io.BytesIO(data))
        f.quit()
        there = p.dir("base", "alice")

        def arrived():
            # The folder itself comes with the first push.
            return (os.path.isdir(there) and
                    sorted(os.listdir(there)) == sorted(files))
        self.assertTrue(wait_for(arrived, timeout=20),
                        srv.log_text()[-3000:])
        os.remove(os.path.join(there, "f0"))
        os.remove(os.path.join(there, "f2"))
        filler = os.path.join(qdir, "filler")
        fill(filler)
        r = srv.mirror_cmd("resync", "--config", srv.config_path, "p",
                           timeout=60)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("relayftpd: could not queue /alice/f0\n", r.stderr)
        self.assertIn("relayftpd: could not queue /alice/f2\n", r.stderr)
        self.assertIn("resync p: 2 missing or different files could not "
                      "be queued", r.stderr)
        os.remove(filler)
        r = srv.mirror_cmd("resync", "--config", srv.config_path, "p",
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("4 files compared, 2 queued", r.stdout)
        self.assertTrue(wait_for(arrived, timeout=20),
                        srv.log_text()[-3000:])


class FullQueueDiskAtStartTest(unittest.TestCase):

    def test_start_on_a_full_queue_disk_says_why(self):
        """relayftpd started with its queue's disk full (a reboot with
        /var full) refused to start, rightly, but said "disk I/O error"
        (no room for bytes) or "unable to open database file" (no inode
        for the -wal file): an admin looked for a broken disk or a wrong
        path. Now the message says the file system is full."""
        tmp = tempfile.mkdtemp(prefix="rftp-qstart-")
        self.addCleanup(shutil.rmtree, tmp, True)
        qdir = os.path.join(tmp, "q")
        os.mkdir(qdir)
        mount_tmpfs(self, qdir, "size=1m,nr_inodes=16")
        srv = MirrorServer(
            users={"alice": {"password": "pw"}},
            mirror={"queue": os.path.join(qdir, "queue.db")},
            targets={"x": {"url": "exec:/bin/true"}})
        self.addCleanup(srv.cleanup)
        srv.stop()
        fillers = []
        for i in range(64):  # every inode left
            path = os.path.join(qdir, "f%02d" % i)
            try:
                open(path, "wb").close()
            except OSError:
                break
            fillers.append(path)
        self.assertRaises(RuntimeError, srv.start)
        self.assertIn("queue.db: unable to open database file (its file "
                      "system has no free inodes)", srv.log_text())
        for path in fillers[-4:]:
            os.remove(path)
        with open(fillers[0], "wb", buffering=0) as g:  # every byte left
            for _ in range(300):
                try:
                    g.write(b"\0" * 4096)
                except OSError:
                    break
        self.assertRaises(RuntimeError, srv.start)
        self.assertIn("queue.db: disk I/O error (its file system is full)",
                      srv.log_text())
        os.remove(fillers[0])
        srv.start()


class StatusOfAnUnwritableQueueTest(unittest.TestCase):

    def test_status_says_the_daemon_cannot_write_its_queue(self):
        """The queue's disk full: every change was logged unrecorded and
        counted (relayftpd_queue_unrecorded_total), while `mirror
        status`, which reads the file, said state=up and exited 0, so a
        monitoring script saw a healthy mirror (found from outside). Now
        it says on stderr that the running server cannot write its
        queue and exits 1, until the server writes it again."""
        qdir = queue_dir(self, "rftp-qstat-")
        mount_tmpfs(self, qdir, "size=2m")
        srv = quiet_server(self, os.path.join(qdir, "queue.db"),
                           watch="off")
        f = session(self, srv, "alice")
        f.storbinary("STOR a.txt", io.BytesIO(b"a\n"))
        said = "the running relayftpd cannot write the queue"
        r = srv.status_raw()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn(said, r.stderr)
        filler = os.path.join(qdir, "filler")
        fill(filler)
        resp = f.storbinary("STOR b.txt", io.BytesIO(b"b\n"))
        self.assertIn("not queued for mirroring yet", resp)
        self.assertTrue(wait_for(lambda: said in srv.status_raw().stderr,
                                 timeout=20), srv.log_text()[-3000:])
        r = srv.status_raw()
        self.assertEqual(r.returncode, 1)
        # stdout keeps its lines for scripts.
        self.assertIn("target x: state=up ", r.stdout)
        os.remove(filler)
        # The walk that records b.txt writes the queue again.
        self.assertTrue(wait_for(
            lambda: srv.status_raw().returncode == 0, timeout=30),
            srv.log_text()[-3000:])
        self.assertNotIn(said, srv.status_raw().stderr)
        f.close()
        srv.stop(check=False)


class StatusOfAnUnsyncableQueueTest(unittest.TestCase):

    def test_status_says_the_daemon_cannot_sync_its_queue(self):
        """The queue's disk failing its syncs (fdatasync of the WAL: EIO)
        while its writes still went into the page cache: each upload got
        "not queued for mirroring yet" and the log said "queue: cannot
        sync", but the mark `mirror status` reads was never set (only a
        failed SQLite write set it), so status said state=up and exited
        0. Now a failed sync sets it until a sync succeeds again."""
        tmp = tempfile.mkdtemp(prefix="rftp-qsync-")
        self.addCleanup(shutil.rmtree, tmp, True)
        inj = Faults(self)
        srv = MirrorServer(users={"alice": {"password": "pw"}},
                           mirror={"queue": os.path.join(tmp, "queue.db"),
                                   "watch": "off"},
                           targets={"x": {"url": "exec:/bin/true"}},
                           start=False)
        self.addCleanup(srv.cleanup)
        inj.start(srv.start)
        self.addCleanup(srv.stop, check=False)
        f = session(self, srv, "alice")
        f.storbinary("STOR a.txt", io.BytesIO(b"a\n"))
        said = "the running relayftpd cannot write the queue"
        r = srv.status_raw()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn(said, r.stderr)
        inj.arm("fdatasync 5 0 -1 queue.db-wal")
        resp = f.storbinary("STOR b.txt", io.BytesIO(b"b\n"))
        self.assertIn("not queued for mirroring yet", resp)
        self.assertIn("queue: cannot sync", srv.log_text())
        self.assertTrue(wait_for(lambda: said in srv.status_raw().stderr,
                                 timeout=20), srv.log_text()[-3000:])
        r = srv.status_raw()
        self.assertEqual(r.returncode, 1)
        self.assertIn("target x: state=up ", r.stdout)
        # A probe of the scanner's (every 5 s) has failed too.
        self.assertTrue(wait_for(
            lambda: srv.log_text().count("FAULT fdatasync") >= 3,
            timeout=20), srv.log_text()[-3000:])
        inj.disarm()
        # The walk that records b.txt syncs the queue again.
        self.assertTrue(wait_for(
            lambda: srv.status_raw().returncode == 0, timeout=30),
            srv.log_text()[-3000:])
        self.assertNotIn(said, srv.status_raw().stderr)
        # The probes while it failed are not each an error line.
        log = srv.log_text()
        self.assertEqual(log.count("queue: cannot sync"), 1, log[-3000:])
        self.assertIn("queue.db-wal syncs again", log)
        f.close()


class QueueWritableAgainTest(unittest.TestCase):

    def test_homes_are_walked_once_the_queue_takes_changes(self):
        """The queue's disk full, its homes' changes unrecorded: each
        failed walk doubled the wait before the next (2 s to 60 s), and
        once the admin made room the changes still waited it out before
        reaching the targets (found from outside). Now the scanner sees
        the queue take a write again and walks them at once."""
        qdir = queue_dir(self, "rftp-qagain-")
        out = os.path.join(os.path.dirname(qdir), "out")
        os.mkdir(out)
        mount_tmpfs(self, qdir, "size=2m")
        srv = quiet_server(self, os.path.join(qdir, "queue.db"),
                           prog=delivering(os.path.dirname(qdir), out),
                           watch="off")
        f = session(self, srv, "alice")
        f.storbinary("STOR a.txt", io.BytesIO(b"a\n"))
        self.assertTrue(wait_for(lambda: os.listdir(out) == ["a.txt"],
                                 timeout=20), srv.log_text()[-3000:])
        filler = os.path.join(qdir, "filler")
        fill(filler)
        # Each upload not recorded has the home walked, whose pushes
        # cannot be recorded either: the wait doubles at each.
        want = {"a.txt": b"a\n"}
        for i, wait in enumerate((2, 4, 8, 16, 32)):
            name = "f%d.txt" % i
            want[name] = name.encode()
            resp = f.storbinary("STOR " + name, io.BytesIO(want[name]))
            self.assertIn("not queued for mirroring yet", resp)
            self.assertTrue(wait_for(
                lambda: "walked again in %d s" % wait in srv.log_text(),
                timeout=20), srv.log_text()[-3000:])
        os.remove(filler)
        # Well before the 32 s the scanner waited out.
        self.assertTrue(wait_for(lambda: files_in(out) == want,
                                 timeout=20),
                        "%s\n%s" % (sorted(os.listdir(out)),
                                     srv.log_text()[-3000:]))
        self.assertIn("mirror: the queue takes changes again",
                      srv.log_text())
        f.close()
        srv.stop(check=False)


class UnsettledPushTest(unittest.TestCase):

    def test_a_push_whose_record_failed_is_pushed_again(self):
        """A push done but not recorded (the queue's disk failed or
        filled between the target's answer and the record) left its job
        "running" for the daemon's life: every later change of that file
        was held back behind it, and reached the target only after a
        restart (found by a review: FullQueueDiskTest lost log.txt's
        APPE so, 1 run in 8). Now the next claim that can write queues
        such a job again."""
        tmp = tempfile.mkdtemp(prefix="rftp-qunsettled-")
        self.addCleanup(shutil.rmtree, tmp, True)
        out = os.path.join(tmp, "out")
        os.mkdir(out)
        hold, held, go = (os.path.join(tmp, n) for n in
                          ("hold", "held", "go"))
        # Delivers, then (once) waits for the test to fail the queue's
        # writes before it answers, so that the record fails.
        prog = os.path.join(tmp, "deliver.sh")
        with open(prog, "w") as f:
            f.write('#!/bin/sh\n[ "$RELAYFTPD_EVENT" = put ] || exit 0\n'
                    'cp "$RELAYFTPD_FILE" "%s/${RELAYFTPD_PATH##*/}"\n'
                    'if [ -e %s ]; then\n rm -f %s; touch %s; i=0\n'
                    ' while [ ! -e %s ] && [ $i -lt 300 ]; do\n'
                    '  sleep 0.1; i=$((i+1)); done\nfi\n'
                    % (out, hold, hold, held, go))
        os.chmod(prog, 0o755)
        inj = Faults(self)
        srv = MirrorServer(
            users={"alice": {"password": "pw"}},
            mirror={"queue": os.path.join(tmp, "queue.db"), "watch": "off",
                    "retry_initial": "1", "retry_max": "1"},
            targets={"x": {"url": "exec:" + prog}}, start=False)
        self.addCleanup(srv.cleanup)
        inj.start(srv.start)
        open(hold, "w").close()
        f = session(self, srv, "alice")
        f.storbinary("STOR log.txt", io.BytesIO(b"line1\n"))
        self.assertTrue(wait_for(lambda: os.path.exists(held), timeout=20),
                        srv.log_text()[-3000:])
        inj.arm("pwrite 5 0 -1 queue.db-wal")
        open(go, "w").close()
        self.assertTrue(wait_for(
            lambda: "cannot record the push of /log.txt" in srv.log_text(),
            timeout=20), srv.log_text()[-3000:])
        inj.disarm()
        resp = f.storbinary("STOR log.txt", io.BytesIO(b"line1\nline2\n"))
        self.assertTrue(resp.startswith("226 "), resp)
        self.assertNotIn("not queued", resp)
        self.assertTrue(wait_for(
            lambda: files_in(out) == {"log.txt": b"line1\nline2\n"},
            timeout=20), "%s\n%s" % (files_in(out),
                                      srv.log_text()[-3000:]))
        self.assertIn("queue: 1 job(s) whose outcome could not be written "
                      "are queued again", srv.log_text())
        f.close()
        srv.stop(check=False)

    def test_a_time_change_whose_record_failed_is_sent_again(self):
        """A time change set on the target whose record failed (the
        queue's file took no writes then) left its job "running" for the
        daemon's life, noted nowhere: the file's next upload waited
        behind it and reached the target only after a restart (found by
        review of b777c54, which queued again only the four settles it
        named). Now that job is queued again too."""
        tmp = tempfile.mkdtemp(prefix="rftp-qunsettled-t-")
        self.addCleanup(shutil.rmtree, tmp, True)
        hold, held, go = (os.path.join(tmp, n) for n in
                          ("hold", "held", "go"))
        tgt = PyftpdTarget(hold_mfmt=(hold, held, go))
        self.addCleanup(tgt.stop)
        inj = Faults(self)
        srv = MirrorServer(
            users={"alice": {"password": "pw"}},
            mirror={"queue": os.path.join(tmp, "queue.db"), "watch": "off",
                    "retry_initial": "1", "retry_max": "1"},
            targets={"x": tgt.target()}, start=False)
        self.addCleanup(srv.cleanup)
        inj.start(srv.start)
        f = session(self, srv, "alice")
        f.storbinary("STOR log.txt", io.BytesIO(b"line1\n"))
        copy = tgt.dir("base", "alice", "log.txt")

        def holds(want):
            try:
                with open(copy, "rb") as c:
                    return c.read() == want
            except OSError:
                return False
        self.assertTrue(wait_for(lambda: holds(b"line1\n"), timeout=20),
                        srv.log_text()[-3000:])
        open(hold, "w").close()
        resp = f.sendcmd("MFMT 20200102030405 log.txt")
        self.assertTrue(resp.startswith("213"), resp)
        self.assertTrue(wait_for(lambda: os.path.exists(held), timeout=20),
                        srv.log_text()[-3000:])
        inj.arm("pwrite 5 0 -1 queue.db-wal")
        open(go, "w").close()
        self.assertTrue(wait_for(
            lambda: "cannot record the time of /log.txt" in srv.log_text(),
            timeout=20), srv.log_text()[-3000:])
        inj.disarm()
        resp = f.storbinary("STOR log.txt", io.BytesIO(b"line1\nline2\n"))
        self.assertTrue(resp.startswith("226 "), resp)
        self.assertNotIn("not queued", resp)
        self.assertTrue(wait_for(lambda: holds(b"line1\nline2\n"),
                                 timeout=20), srv.log_text()[-3000:])
        self.assertIn("queue: 1 job(s) whose outcome could not be written "
                      "are queued again", srv.log_text())
        f.close()
        srv.stop(check=False)


    def test_a_rename_whose_record_failed_is_sent_again(self):
        """A rename done on the target whose move of the records of what
        the target holds failed (the queue's file took one write less)
        was settled all the same: the records still named the old name.
        A command target then never got the next rename of that file
        ("never given to the target", a put of the newest name
        instead), and kept the middle name for good beside it. Now the
        rename is queued again like every other settle that failed (at
        least once: the same event, which the program finds done)."""
        tmp = tempfile.mkdtemp(prefix="rftp-qunsettled-r-")
        self.addCleanup(shutil.rmtree, tmp, True)
        out = os.path.join(tmp, "out")
        os.mkdir(out)
        hold, held, go = (os.path.join(tmp, n) for n in
                          ("hold", "held", "go"))
        # Puts copy, renames move (a rename found done is done); the
        # first rename (once) waits for the test to fail a queue write
        # before it answers, so that the records' move fails.
        prog = os.path.join(tmp, "deliver.sh")
        with open(prog, "w") as f:
            f.write('#!/bin/sh\nO="%s"\n'
                    'case "$RELAYFTPD_EVENT" in\n'
                    'put) cp "$RELAYFTPD_FILE" "$O/${RELAYFTPD_PATH##*/}";;\n'
                    'rename) old="$O/${RELAYFTPD_OLD_PATH##*/}"\n'
                    ' [ -e "$old" ] && mv "$old" "$O/${RELAYFTPD_PATH##*/}"\n'
                    ' if [ -e %s ]; then\n  rm -f %s; touch %s; i=0\n'
                    '  while [ ! -e %s ] && [ $i -lt 300 ]; do\n'
                    '   sleep 0.1; i=$((i+1)); done\n fi;;\nesac\n'
                    'exit 0\n' % (out, hold, hold, held, go))
        os.chmod(prog, 0o755)
        inj = Faults(self)
        srv = MirrorServer(
            users={"alice": {"password": "pw"}},
            mirror={"queue": os.path.join(tmp, "queue.db"), "watch": "off",
                    "retry_initial": "1", "retry_max": "1"},
            targets={"x": {"url": "exec:" + prog,
                           "propagate_renames": "on"}}, start=False)
        self.addCleanup(srv.cleanup)
        inj.start(srv.start)
        f = session(self, srv, "alice")
        f.storbinary("STOR a.txt", io.BytesIO(b"data\n"))
        self.assertTrue(wait_for(lambda: files_in(out) == {"a.txt": b"data\n"},
                                 timeout=20), srv.log_text()[-3000:])
        open(hold, "w").close()
        f.rename("a.txt", "b.txt")
        self.assertTrue(wait_for(lambda: os.path.exists(held), timeout=20),
                        srv.log_text()[-3000:])
        # One write fails: the records' move; the job's own end after it
        # goes through.
        inj.arm("pwrite 5 0 1 queue.db-wal")
        open(go, "w").close()
        self.assertTrue(wait_for(
            lambda: "FAULT pwrite(" in srv.log_text() and
            "mirror rename target=x path=/alice/a.txt to=/alice/b.txt "
            "attempts=1"
            in srv.log_text(), timeout=20), srv.log_text()[-3000:])
        inj.disarm()
        f.rename("b.txt", "c.txt")
        self.assertTrue(wait_for(
            lambda: "path=/alice/b.txt to=/alice/c.txt" in srv.log_text() or
            "pushing /alice/c.txt instead" in srv.log_text(), timeout=20),
            srv.log_text()[-3000:])
        self.assertTrue(wait_for(
            lambda: files_in(out) == {"c.txt": b"data\n"}, timeout=20),
            "%s\n%s" % (files_in(out), srv.log_text()[-3000:]))
        self.assertIn("cannot record the rename of /alice/a.txt on x",
                      srv.log_text())
        self.assertIn("queue: 1 job(s) whose outcome could not be written "
                      "are queued again", srv.log_text())
        self.assertNotIn("never given to the target", srv.log_text())
        f.close()
        srv.stop(check=False)


    def test_a_delete_whose_record_failed_is_sent_again(self):
        """A delete done on the target whose removal of the records of
        what the target holds failed (the queue's file took one write
        less) was settled all the same: the records still said the
        target held the name. A file another program then wrote under
        that name and a client renamed before it was queued was given
        to a command target as a rename of a file it no longer had,
        and the new name never arrived. Now the delete is queued again
        like every other settle that failed (at least once: the program
        finds it done), and the rename is a put of the new name."""
        tmp = tempfile.mkdtemp(prefix="rftp-qunsettled-d-")
        self.addCleanup(shutil.rmtree, tmp, True)
        out = os.path.join(tmp, "out")
        os.mkdir(out)
        hold, held, go = (os.path.join(tmp, n) for n in
                          ("hold", "held", "go"))
        # Puts copy, deletes remove, renames move what is there; the
        # first delete (once) waits for the test to fail a queue write
        # before it answers, so that the records' removal fails.
        prog = os.path.join(tmp, "deliver.sh")
        with open(prog, "w") as f:
            f.write('#!/bin/sh\nO="%s"\n'
                    'case "$RELAYFTPD_EVENT" in\n'
                    'put) cp "$RELAYFTPD_FILE" "$O/${RELAYFTPD_PATH##*/}";;\n'
                    'rename) old="$O/${RELAYFTPD_OLD_PATH##*/}"\n'
                    ' [ -e "$old" ] && mv "$old" "$O/${RELAYFTPD_PATH##*/}";;\n'
                    'delete) rm -f "$O/${RELAYFTPD_PATH##*/}"\n'
                    ' if [ -e %s ]; then\n  rm -f %s; touch %s; i=0\n'
                    '  while [ ! -e %s ] && [ $i -lt 300 ]; do\n'
                    '   sleep 0.1; i=$((i+1)); done\n fi;;\nesac\n'
                    'exit 0\n' % (out, hold, hold, held, go))
        os.chmod(prog, 0o755)
        inj = Faults(self)
        srv = MirrorServer(
            users={"alice": {"password": "pw"}},
            mirror={"queue": os.path.join(tmp, "queue.db"), "watch": "off",
                    "retry_initial": "1", "retry_max": "1"},
            targets={"x": {"url": "exec:" + prog,
                           "propagate_deletes": "on",
                           "propagate_renames": "on"}}, start=False)
        self.addCleanup(srv.cleanup)
        inj.start(srv.start)
        f = session(self, srv, "alice")
        f.storbinary("STOR a.txt", io.BytesIO(b"data\n"))
        self.assertTrue(wait_for(lambda: files_in(out) == {"a.txt": b"data\n"},
                                 timeout=20), srv.log_text()[-3000:])
        open(hold, "w").close()
        f.delete("a.txt")
        self.assertTrue(wait_for(lambda: os.path.exists(held), timeout=20),
                        srv.log_text()[-3000:])
        # One write fails: the records' removal.
        inj.arm("pwrite 5 0 1 queue.db-wal")
        open(go, "w").close()
        self.assertTrue(wait_for(
            lambda: "FAULT pwrite(" in srv.log_text(), timeout=20),
            srv.log_text()[-3000:])
        inj.disarm()
        # Another program writes a.txt again (no watcher: not queued),
        # and a client renames it.
        with open(os.path.join(srv.home("alice"), "a.txt"), "wb") as g:
            g.write(b"again\n")
        f.rename("a.txt", "c.txt")
        self.assertTrue(wait_for(
            lambda: files_in(out) == {"c.txt": b"again\n"}, timeout=20),
            "%s\n%s" % (files_in(out), srv.log_text()[-3000:]))
        self.assertIn("cannot record the delete of /alice/a.txt on x",
                      srv.log_text())
        self.assertIn("queue: 1 job(s) whose outcome could not be written "
                      "are queued again", srv.log_text())
        f.close()
        srv.stop(check=False)


    def test_a_rename_out_of_view_whose_record_failed_is_sent_again(self):
        """A file renamed to a name the target does not take (exclude)
        is deleted there by its old name; when the removal of the old
        name's records failed (the queue's file took one write less) the
        job was settled all the same, and the records still said the
        target held the old name. A file another program then wrote
        under it, renamed by a client before it was queued, went to a
        command target as a rename of a file it no longer had: the new
        name never arrived. Now the job is queued again."""
        tmp = tempfile.mkdtemp(prefix="rftp-qunsettled-x-")
        self.addCleanup(shutil.rmtree, tmp, True)
        out = os.path.join(tmp, "out")
        os.mkdir(out)
        hold, held, go = (os.path.join(tmp, n) for n in
                          ("hold", "held", "go"))
        prog = os.path.join(tmp, "deliver.sh")
        with open(prog, "w") as f:
            f.write('#!/bin/sh\nO="%s"\n'
                    'case "$RELAYFTPD_EVENT" in\n'
                    'put) cp "$RELAYFTPD_FILE" "$O/${RELAYFTPD_PATH##*/}";;\n'
                    'rename) old="$O/${RELAYFTPD_OLD_PATH##*/}"\n'
                    ' [ -e "$old" ] && mv "$old" "$O/${RELAYFTPD_PATH##*/}";;\n'
                    'delete) rm -f "$O/${RELAYFTPD_PATH##*/}"\n'
                    ' if [ -e %s ]; then\n  rm -f %s; touch %s; i=0\n'
                    '  while [ ! -e %s ] && [ $i -lt 300 ]; do\n'
                    '   sleep 0.1; i=$((i+1)); done\n fi;;\nesac\n'
                    'exit 0\n' % (out, hold, hold, held, go))
        os.chmod(prog, 0o755)
        inj = Faults(self)
        srv = MirrorServer(
            users={"alice": {"password": "pw"}},
            mirror={"queue": os.path.join(tmp, "queue.db"), "watch": "off",
                    "retry_initial": "1", "retry_max": "1"},
            targets={"x": {"url": "exec:" + prog, "exclude": "*.tmp",
                           "propagate_deletes": "on",
                           "propagate_renames": "on"}}, start=False)
        self.addCleanup(srv.cleanup)
        inj.start(srv.start)
        f = session(self, srv, "alice")
        f.storbinary("STOR a.txt", io.BytesIO(b"data\n"))
        self.assertTrue(wait_for(lambda: files_in(out) == {"a.txt": b"data\n"},
                                 timeout=20), srv.log_text()[-3000:])
        open(hold, "w").close()
        f.rename("a.txt", "a.tmp")
        self.assertTrue(wait_for(lambda: os.path.exists(held), timeout=20),
                        srv.log_text()[-3000:])
        inj.arm("pwrite 5 0 1 queue.db-wal")
        open(go, "w").close()
        self.assertTrue(wait_for(
            lambda: "FAULT pwrite(" in srv.log_text(), timeout=20),
            srv.log_text()[-3000:])
        inj.disarm()
        with open(os.path.join(srv.home("alice"), "a.txt"), "wb") as g:
            g.write(b"again\n")
        f.rename("a.txt", "c.txt")
        self.assertTrue(wait_for(
            lambda: files_in(out) == {"c.txt": b"again\n"}, timeout=20),
            "%s\n%s" % (files_in(out), srv.log_text()[-3000:]))
        self.assertIn("cannot record the delete of /alice/a.txt on x",
                      srv.log_text())
        f.close()
        srv.stop(check=False)


class QueueDiskGoneReadOnlyTest(unittest.TestCase):

    def test_ext4_read_only_after_an_error_is_said(self):
        """The queue's ext4 found an error and was made read-only by the
        kernel (errors=remount-ro): the log said only "queue: cannot
        commit to ...: disk I/O error", since statvfs still says
        read-write (Linux 6.x's emergency_ro), and the admin looked for
        a dead disk (found from outside). Now it says the file system
        is read-only, which a remount or fsck mends."""
        qdir = queue_dir(self, "rftp-qro-")
        fail = mount_ext4(self, qdir)
        queue = os.path.join(qdir, "queue.db")
        srv = quiet_server(self, queue, watch="off")
        f = session(self, srv, "alice")
        f.storbinary("STOR a.txt", io.BytesIO(b"a\n"))
        fail()
        resp = f.storbinary("STOR b.txt", io.BytesIO(b"b\n"))
        self.assertIn("not queued for mirroring yet", resp)
        self.assertIn("queue: cannot commit to %s: disk I/O error (its "
                      "file system is read-only)" % queue, srv.log_text())
        f.close()
        srv.stop(check=False)


class HardLinkedQueueTest(unittest.TestCase):

    def test_second_server_on_the_same_name_is_not_said_a_hard_link(self):
        """relayftpd started twice on one config (a unit and a hand
        start): the second was refused as one whose queue is "another of
        its names (a hard link ...)" since the look for a hard link came
        before the lock file's, and the admin looked for a link that is
        not there. It is the plain "in use" again; no -wal of a name of
        its own is left either way."""
        a = queue_dir(self, "rftp-qsame-")
        queue = os.path.join(a, "queue.db")
        first = quiet_server(self, queue, watch="off")
        err = refused_start(self, queue)
        self.assertIn("the queue %s is in use by another running "
                      "relayftpd (each server needs a [mirror] queue of "
                      "its own)" % queue, err)
        self.assertNotIn("hard link", err)
        self.assertTrue(first.alive())

    def test_second_server_on_another_name_of_the_queue_is_refused(self):
        """A second server whose [mirror] queue is a hard link to a
        running server's queue (another folder, so another lock file)
        started: both pushed the same jobs, each with a WAL of its own
        over the one file (found from outside). It is refused now, as a
        second server on the same name is."""
        a = queue_dir(self, "rftp-qlink-")
        b = os.path.join(os.path.dirname(a), "b")
        os.mkdir(b)
        first = quiet_server(self, os.path.join(a, "queue.db"),
                             watch="off")
        os.link(os.path.join(a, "queue.db"), os.path.join(b, "queue.db"))
        second = MirrorServer(
            users={"alice": {"password": "pw"}},
            mirror={"queue": os.path.join(b, "queue.db"), "watch": "off"},
            targets={"x": {"url": "exec:/bin/true"}}, start=False)
        self.addCleanup(second.cleanup)
        with self.assertRaises(RuntimeError) as cm:
            second.start()
        self.assertIn("the queue %s is in use by another running "
                      "relayftpd under another of its names (a hard link"
                      % os.path.join(b, "queue.db"), str(cm.exception))
        # The first one goes on; `mirror status` through the link says
        # where the queue is served (test_status_through_the_link_...).
        self.assertTrue(first.alive())
        first.stop()
        r = second.status_raw()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("target x: state=up", r.stdout)
        # Once it stopped, the other name may be served.
        second.start()

    def linked_with_a_job(self):
        """A running server (folder a) with one job waiting (w.txt, its
        target failing), and a second one, not started, whose queue is a
        hard link to it in folder b: (first, second, b)."""
        tmp = tempfile.mkdtemp(prefix="rftp-qlinkjob-")
        self.addCleanup(shutil.rmtree, tmp, True)
        a, b = os.path.join(tmp, "a"), os.path.join(tmp, "b")
        os.mkdir(a)
        os.mkdir(b)
        first = failing_target_server(a)
        self.addCleanup(first.cleanup)
        first.start()
        f = session(self, first, "alice")
        f.storbinary("STOR w.txt", io.BytesIO(b"waiting\n"))
        f.quit()
        os.link(os.path.join(a, "queue.db"), os.path.join(b, "queue.db"))
        second = failing_target_server(b)
        self.addCleanup(second.cleanup)
        return first, second, b

    def assert_job_kept(self, first, b):
        """first stopped, the queue read through the name in b still
        holds its waiting job."""
        first.stop()
        db = sqlite3.connect(os.path.join(b, "queue.db"))
        self.addCleanup(db.close)
        self.assertEqual(db.execute(
            "SELECT count(*) FROM jobs WHERE path='/w.txt'").fetchone()[0],
            1)

    def test_refused_start_leaves_no_wal_over_the_queue(self):
        """The refused server had opened the queue through its name first:
        it found the running one's tables only in that one's WAL, made its
        own in a WAL of its name, and left it (the running server holds
        the file, so no checkpoint). When the other name was served after
        the first server stopped, that stale WAL was laid over the queue:
        the first server's waiting job was gone (found by review). Now the
        start is refused before it opens the queue."""
        first, second, b = self.linked_with_a_job()
        with self.assertRaises(RuntimeError):
            second.start()
        self.assert_job_kept(first, b)

    def test_status_through_the_link_neither_reads_nor_spoils(self):
        """`mirror status` through a hard link of a running server's
        queue read the file without that server's WAL (queued=0 with a
        job waiting, exit 0) and left a WAL of its own name, which the
        next open through that name laid over the queue: the waiting job
        was gone (found by review). It now says the queue is served under
        another name and exits 1, reading nothing."""
        first, second, b = self.linked_with_a_job()
        r = second.status_raw()
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("is in use by a running relayftpd under another of "
                      "its names (a hard link)", r.stderr)
        self.assertNotIn("queued=0", r.stdout)
        self.assert_job_kept(first, b)


# A program that churns the host's lock table: it takes LOCKS separate
# record locks on a file of its own, drops them all, and again, for at most
# SECONDS (it ends by itself if the test dies).
CHURN = r"""
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    for i in range(int(sys.argv[3])):
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 2 * i)
    fcntl.lockf(fd, fcntl.LOCK_UN, 0, 0)
"""


def churn(case, folder):
    """Two CHURN programs, files in folder, for at most 300 s: 2 x 1,000
    lock lines (about 70 KiB of /proc/locks) come and go."""
    churners = []
    for i in range(2):
        p = subprocess.Popen(
            [sys.executable, "-c", CHURN,
             os.path.join(folder, "churn%d" % i), "300", "1000"])
        churners.append(p)
        case.addCleanup(p.wait)
        case.addCleanup(p.kill)
    return churners


class BusyLockTableTest(unittest.TestCase):

    def test_status_on_a_busy_host_is_not_told_of_a_hard_link(self):
        """`mirror status` said "in use by a running relayftpd under
        another of its names (a hard link)" and exited 1 for a server on
        its own queue, now and then, on a host whose lock table was busy
        (CI, once; a host running databases or Samba would see it too):
        the queue's locks were read from /proc/locks, which the kernel
        hands out a page at a time, and a lock dropped elsewhere between
        two pages moves the rest up, so one line is skipped: the lock
        file's, read after the queue's. Whether the server holds its
        queue is now asked of the lock file itself (F_OFD_GETLK), which
        never skips."""
        qdir = queue_dir(self, "rftp-qbusy-")
        srv = quiet_server(self, os.path.join(qdir, "queue.db"),
                           watch="off")
        # The old look was wrong in about 1 status of 25 here.
        churners = churn(self, qdir)
        bad = []
        for _ in range(150):
            r = srv.status_raw()
            if r.returncode != 0 or "hard link" in r.stderr:
                bad.append((r.returncode, r.stderr))
        self.assertTrue(all(p.poll() is None for p in churners),
                        "a churner ended early")
        self.assertEqual(bad, [])


    def test_start_through_a_link_on_a_busy_host_opens_nothing(self):
        """A server started on a hard link of a running server's queue was
        refused by the queue's own lock, but its first look for that lock
        read /proc/locks, which skips a line now and then on a busy host:
        then the queue was opened through the link first, with a WAL and
        -shm of that name beside it (the stale-WAL risk of
        test_refused_start_leaves_no_wal_over_the_queue). The look asks
        the file itself now (F_OFD_GETLK): nothing of the link's name is
        ever made."""
        a = queue_dir(self, "rftp-qbusylink-")
        b = os.path.join(os.path.dirname(a), "b")
        os.mkdir(b)
        first = quiet_server(self, os.path.join(a, "queue.db"),
                             watch="off")
        link = os.path.join(b, "queue.db")
        os.link(os.path.join(a, "queue.db"), link)
        churners = churn(self, a)
        # The old look let 1 to 4 starts of 60 open the queue here.
        second = MirrorServer(
            users={"alice": {"password": "pw"}},
            mirror={"queue": link, "watch": "off"},
            targets={"x": {"url": "exec:/bin/true"}}, start=False)
        self.addCleanup(second.cleanup)
        bad = []
        for i in range(60):
            try:
                second.start()
                err = "started"
            except RuntimeError as e:
                err = str(e).strip().splitlines()[-1]
            made = [n for n in os.listdir(b) if n.startswith("queue.db-")]
            if made or "under another of its names (a hard link" not in err:
                bad.append((i, made, err))
            for n in made:
                os.unlink(os.path.join(b, n))
        self.assertTrue(all(p.poll() is None for p in churners),
                        "a churner ended early")
        self.assertEqual(bad, [])
        self.assertTrue(first.alive())

# A program that holds another program's POSIX read lock on each file
# named (LEN bytes from the start; 0: the whole file) until it is killed,
# or for 120 s; says "locked" once it holds them.
HOLD = r"""
import fcntl, os, sys, time
n = int(sys.argv[1])
fds = [os.open(p, os.O_RDONLY) for p in sys.argv[2:]]
for fd in fds:
    fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB, n, 0)
print("locked", flush=True)
time.sleep(120)
"""


class ForeignLocksTest(unittest.TestCase):
    """Another program's lock on the queue or its lock file (a backup
    tool's, or NFS's flock, which is a POSIX lock of the whole file) was
    taken for relayftpd's own marks once they were asked of the files
    with F_OFD_GETLK: `mirror status` said the running server could not
    write its queue, or that a stopped server's queue was another's under
    a hard link, and exited 1 (found by a review). Only an OFD lock of the
    mark's own byte counts now; another lock sends the look to
    /proc/locks."""

    def hold(self, length, *paths):
        p = subprocess.Popen([sys.executable, "-c", HOLD, str(length)]
                             + list(paths), stdout=subprocess.PIPE,
                             text=True)
        self.addCleanup(p.wait)
        self.addCleanup(p.kill)
        self.assertEqual(p.stdout.readline().strip(), "locked")
        return p

    def assert_status_plain(self, srv):
        r = srv.status_raw()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("hard link", r.stderr)
        self.assertNotIn("cannot write", r.stdout + r.stderr)
        self.assertIn("target x: state=up", r.stdout)

    def test_a_lock_of_the_whole_lock_file_is_not_a_mark(self):
        qdir = queue_dir(self, "rftp-qforeign-")
        queue = os.path.join(qdir, "queue.db")
        srv = quiet_server(self, queue, watch="off")
        self.hold(0, queue + ".lock")
        self.assert_status_plain(srv)

    def test_a_lock_on_a_stopped_servers_queue_is_not_a_hard_link(self):
        qdir = queue_dir(self, "rftp-qforeign-")
        queue = os.path.join(qdir, "queue.db")
        srv = quiet_server(self, queue, watch="off")
        srv.stop()
        # Bytes SQLite never locks (its locks lie at 1 GiB).
        self.hold(4096, queue)
        self.assert_status_plain(srv)


class RemovedLockFileTest(unittest.TestCase):

    def test_a_removed_lock_file_is_made_again(self):
        """The queue's lock file alone removed while the server ran (a
        cleaner of the folder): it came back only with the queue itself,
        so a second server on the queue was not refused and `mirror
        status` said the queue was another's under a hard link, exit 1,
        until a restart (found by a review). It is made again at the
        scanner's next look (5 s), and said."""
        qdir = queue_dir(self, "rftp-qlockgone-")
        queue = os.path.join(qdir, "queue.db")
        srv = quiet_server(self, queue, watch="off")
        os.unlink(queue + ".lock")
        self.assertTrue(wait_for(
            lambda: "lock file %s.lock was removed while relayftpd ran: "
            "made again" % queue in srv.log_text(), timeout=30),
            srv.log_text()[-3000:])
        r = srv.status_raw()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("target x: state=up", r.stdout)
        self.assertIn("is in use by another running relayftpd",
                      refused_start(self, queue))
        self.assertTrue(srv.alive())


class RemovedQueueTest(unittest.TestCase):
    """The queue's files removed while the daemon runs (rm of the folder's
    contents, a cleaner): SQLite kept writing into the removed inode, every
    upload got "226 ... not queued for mirroring yet" for as long as the
    daemon ran, and a restart lost every queued job: a delete queued
    before or after the removal never reached the target (found by an
    outside check). Now the scanner writes the queue back from its open
    connection, with its lock file, and says so; nothing is lost."""

    def test_removed_queue_is_written_back_and_nothing_is_lost(self):
        self.remove_and_crash(only_db=False)

    def test_the_lock_is_back_when_the_log_says_so(self):
        """"written back ..., no job lost" was logged before the lock
        file was made again: a script (this file's test above, once under
        load) that read the line and then looked found no lock file, and a
        second relayftpd started on the line's word was not refused. The
        lock file's open is held 300 ms here."""
        tmp = tempfile.mkdtemp(prefix="rftp-qlock-")
        self.addCleanup(shutil.rmtree, tmp, True)
        qdir = os.path.join(tmp, "q")
        os.mkdir(qdir)
        queue = os.path.join(qdir, "queue.db")
        inj = Faults(self)
        srv = inj.start(lambda: MirrorServer(
            users={"alice": {"password": "pw"}},
            mirror={"queue": queue},
            targets={"x": {"url": "exec:/bin/true"}}))
        self.addCleanup(srv.cleanup)
        inj.arm("open -300 0 -1 queue.db.lock")
        for name in os.listdir(qdir):
            os.unlink(os.path.join(qdir, name))
        f = session(self, srv, "alice")
        f.storbinary("STOR b.txt", io.BytesIO(b"b\n"))
        self.assertTrue(wait_for(
            lambda: "written back from the open copy, no job lost" in
            srv.log_text(), timeout=30, interval=0.01),
            srv.log_text()[-3000:])
        with open(queue + ".lock") as lk:
            with self.assertRaises(BlockingIOError):
                fcntl.flock(lk, fcntl.LOCK_EX | fcntl.LOCK_NB)
        inj.disarm()

    def test_queue_db_alone_removed_is_written_back_whole(self):
        """An rm of queue.db alone leaves its -wal and -shm, the open
        connection's: the copy written back was opened with the old WAL's
        pages laid over it, "database disk image is malformed", and every
        later DELE got 451 until a restart (found by review)."""
        self.remove_and_crash(only_db=True)

    def remove_and_crash(self, only_db):
        tmp = tempfile.mkdtemp(prefix="rftp-qgone-")
        self.addCleanup(shutil.rmtree, tmp, True)
        qdir, out = os.path.join(tmp, "q"), os.path.join(tmp, "out")
        os.mkdir(qdir)
        os.mkdir(out)
        block = os.path.join(tmp, "block")
        prog = os.path.join(tmp, "deliver.sh")
        with open(prog, "w") as f:
            f.write('#!/bin/sh\n[ -e "%s" ] && exit 1\n'
                    'n="%s/${RELAYFTPD_PATH##*/}"\n'
                    'case "$RELAYFTPD_EVENT" in\n'
                    'put) cp "$RELAYFTPD_FILE" "$n" ;;\n'
                    'delete) rm -f "$n" ;;\n'
                    'esac\n' % (block, out))
        os.chmod(prog, 0o755)
        queue = os.path.join(qdir, "queue.db")
        srv = MirrorServer(
            users={"alice": {"password": "pw"}},
            mirror={"queue": queue, "retry_initial": "1",
                    "retry_max": "2"},
            targets={"x": {"url": "exec:" + prog,
                           "propagate_deletes": "on"}})
        self.addCleanup(srv.cleanup)

        def session():
            f = ftplib.FTP()
            f.connect("127.0.0.1", srv.port, timeout=30)
            f.login("alice", "pw")
            self.addCleanup(f.close)
            return f
        f = session()
        f.storbinary("STOR d.txt", io.BytesIO(b"d\n"))
        f.storbinary("STOR e.txt", io.BytesIO(b"e\n"))
        self.assertTrue(wait_for(
            lambda: sorted(os.listdir(out)) == ["d.txt", "e.txt"],
            timeout=20), srv.log_text()[-3000:])
        if only_db:
            # A stop checkpoints the WAL into the file: what follows
            # goes into a WAL whose pages lie over the file's.
            f.close()
            srv.stop()
            srv.start()
            f = session()
        open(block, "w").close()  # the target refuses from now on
        f.delete("d.txt")  # queued before the removal
        f.storbinary("STOR a.txt", io.BytesIO(b"a\n"))
        if only_db:
            os.unlink(queue)
        else:
            for name in os.listdir(qdir):
                os.unlink(os.path.join(qdir, name))
        resp = f.storbinary("STOR b.txt", io.BytesIO(b"b\n"))
        if not only_db:
            # Told as not queued (yet): the rescan it asks for writes
            # the queue back first.
            self.assertIn("not queued for mirroring yet", resp)
        self.assertTrue(wait_for(
            lambda: "written back from the open copy, no job lost" in
            srv.log_text(), timeout=30), srv.log_text()[-3000:])
        self.assertTrue(os.path.isfile(queue))
        # Locked again: a second server on this queue is refused.
        with open(queue + ".lock") as lk:
            with self.assertRaises(BlockingIOError):
                fcntl.flock(lk, fcntl.LOCK_EX | fcntl.LOCK_NB)
        resp = f.storbinary("STOR c.txt", io.BytesIO(b"c\n"))
        self.assertEqual(resp, "226 Transfer complete.")
        f.delete("e.txt")  # queued after it
        self.assertNotIn("malformed", srv.log_text())
        # A crash now: the next start has only what is on disk.
        srv.kill9()
        os.unlink(block)
        srv.start()
        want = {"a.txt": b"a\n", "b.txt": b"b\n", "c.txt": b"c\n"}
        self.assertTrue(wait_for(lambda: files_in(out) == want, timeout=60),
                        "%s\n%s" % (sorted(os.listdir(out)),
                                     srv.log_text()[-4000:]))


class ReplacedQueueTest(unittest.TestCase):
    """A queue file put in place of the daemon's while it runs (a backup
    restored): README says it is left alone, the daemon going on with the
    one it opened. But the daemon's WAL, named after the path, stayed
    beside it: the next opener, a restart, read the daemon's later pages
    into the admin's file (its jobs appeared in it; "database disk image
    is malformed" when its pages lay elsewhere; found by review). Now the
    daemon takes its WAL out of the new file's way."""

    def test_replaced_queue_is_left_alone(self):
        tmp = tempfile.mkdtemp(prefix="rftp-qrepl-")
        self.addCleanup(shutil.rmtree, tmp, True)
        qdir = os.path.join(tmp, "q")
        os.mkdir(qdir)
        queue = os.path.join(qdir, "queue.db")
        srv = MirrorServer(
            users={"alice": {"password": "pw"}},
            mirror={"queue": queue},
            targets={"x": {"url": "exec:/bin/false"}})
        self.addCleanup(srv.cleanup)
        srv.stop()  # the queue made, its WAL folded into it
        backup = os.path.join(tmp, "backup.db")
        shutil.copy(queue, backup)
        srv.start()
        f = session(self, srv, "alice")
        f.storbinary("STOR a.txt", io.BytesIO(b"a\n"))
        os.rename(backup, queue)
        self.assertTrue(wait_for(
            lambda: "was replaced by another file" in srv.log_text(),
            timeout=30), srv.log_text()[-3000:])
        # The daemon goes on with the queue it opened.
        self.assertEqual(f.storbinary("STOR b.txt", io.BytesIO(b"b\n")),
                         "226 Transfer complete.")
        f.quit()
        srv.stop()
        db = sqlite3.connect(queue)
        try:
            self.assertEqual(db.execute(
                "SELECT path FROM jobs").fetchall(), [])
        finally:
            db.close()


class PlantedLinkTest(unittest.TestCase):
    """The queue's folder is run_as's (README), the start opens the queue
    and its lock file as root: a symbolic link planted there made root
    create a SQLite database (uploads' names in it) or an empty file at
    any path. None is followed now; the start is refused and says why."""

    def test_links_beside_the_queue_are_not_followed(self):
        tmp = tempfile.mkdtemp(prefix="rftp-qlink-")
        self.addCleanup(shutil.rmtree, tmp, True)
        prog = os.path.join(tmp, "ok.sh")
        with open(prog, "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        os.chmod(prog, 0o755)
        qdir = os.path.join(tmp, "q")
        os.mkdir(qdir)
        queue = os.path.join(qdir, "queue.db")
        victim = os.path.join(tmp, "victim")
        for planted in ("queue.db", "queue.db.lock"):
            link = os.path.join(qdir, planted)
            os.symlink(victim, link)
            srv = MirrorServer(
                users={"alice": {"password": "pw"}},
                mirror={"queue": queue, "watch": "off"},
                targets={"x": {"url": "exec:" + prog}}, start=False)
            self.addCleanup(srv.cleanup)
            with self.assertRaises(RuntimeError):
                srv.start()
            if planted == "queue.db":
                self.assertIn("key 'queue': a symbolic link",
                              srv.log_text())
            else:
                self.assertIn("cannot lock the queue", srv.log_text())
            self.assertFalse(os.path.lexists(victim), planted)
            os.unlink(link)


if __name__ == "__main__":
    unittest.main(verbosity=2)
