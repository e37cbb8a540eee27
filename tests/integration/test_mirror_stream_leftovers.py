#!/usr/bin/env python3
"""Copies of uploads pushed while they arrive (stream_min_size) that cannot
be used must not stay on the target (README "Pushed while it arrives": "A
copy that cannot be used ... is removed and the file pushed as always";
"one a crash leaves is ... removed at the next start").

A pyftpdlib target, stream_min_size = 1M, a client that uploads 12 MiB in
pieces (so the copy starts while the upload arrives). What a user of the
target must see in each case: the file arrives with its exact bytes, and
no temporary copy (.rftpd-tmp.*) is left anywhere on the target.

- the target goes away while the copy is being sent (its connection
  breaks, and the copy's removal finds the target down), then comes back:
  the upload completes and is pushed as any other;
- relayftpd is killed (kill -9) mid-stream and restarts while the target
  is down; the target comes back later; also with six copies of long names
  at once (more records than one read of them held);
- a folder rename queued before the upload (propagate_renames) that
  reaches the target after the upload began, and one made by another
  session while the copy is being written (the upload is published under
  the new name): the copy lies at the top of the target's folder, out of
  the rename's way, and is removed; the file arrives whole.

Runs in ~25 s (each wait for a copy to go is bounded at 15 s).
"""
import ftplib
import io
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import wait_for  # noqa: E402
from mirror_targets import MirrorServer, PyftpdTarget  # noqa: E402
from test_mirror_stream import (MIB, SIZE, payload, start_client,  # noqa
                                temps)


class StreamLeftoverTest(unittest.TestCase):

    def start(self, retry="1", **mirror):
        self.p = PyftpdTarget()
        self.addCleanup(self.p.cleanup)
        opts = {"retry_initial": retry, "retry_max": retry, "watch": "off",
                "stream_min_size": "1M"}
        opts.update(mirror)
        self.srv = MirrorServer(
            users={"u1": {"password": "pw1"}}, mirror=opts,
            targets={"p": self.p.target("/base",
                                        propagate_renames="on")})
        self.addCleanup(self.srv.cleanup)
        self.addCleanup(self.srv.stop, check=False)
        self.root = self.p.dir("base", "u1")

    def client(self, name, pause=0.05):
        return start_client(self, self.srv, name, pause)

    def ftp(self):
        f = ftplib.FTP()
        f.connect("127.0.0.1", self.srv.port, timeout=30)
        f.login("u1", "pw1")
        self.addCleanup(f.close)
        return f

    def read_until(self, proc, want, timeout=60):
        for _ in range(100000):
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith(want):
                return
        self.fail("client never said %r: %s" % (
            want, proc.stderr.read()[-2000:]))

    def diag(self):
        return "temps: %s\nlog:\n%s" % (temps(self.p.dir("base")),
                                        self.srv.log_text()[-4000:])

    def wait_log(self, text, timeout=30):
        self.assertTrue(wait_for(lambda: text in self.srv.log_text(),
                                 timeout=timeout, interval=0.05),
                        "never logged %r\n%s" % (text, self.diag()))

    def assert_arrived(self, rel, data, timeout=60):
        final = os.path.join(self.root, rel)
        self.assertTrue(wait_for(
            lambda: os.path.exists(final) and
            os.path.getsize(final) == len(data), timeout=timeout),
            self.diag())
        with open(final, "rb") as f:
            self.assertEqual(f.read(), data)

    def assert_no_temps(self):
        self.assertTrue(wait_for(lambda: not temps(self.p.dir("base")),
                                 timeout=15),
                        "a temporary copy stays on the target: " +
                        self.diag())

    def copy_started(self):
        """Waits for a copy of 1 MiB or more on the target."""
        self.assertTrue(wait_for(
            lambda: any(v >= MIB
                        for v in temps(self.p.dir("base")).values()),
            timeout=20, interval=0.02), self.diag())

    def crash_restart_while_down(self, procs):
        """kill -9 with the copies on the target, a start while the
        target is down, then the target back: a new upload arrives and
        no copy is left."""
        self.srv.kill9()
        for proc in procs:
            proc.wait(timeout=30)
        self.assertTrue(temps(self.p.dir("base")))
        self.p.stop()
        self.srv.start()
        f = self.ftp()
        f.storbinary("STOR after.txt", io.BytesIO(b"after\n"))
        # That worker has started (and met the target down).
        self.wait_log("mirror push failed target=p path=/u1/after.txt")
        self.p.start()
        self.assert_arrived("after.txt", b"after\n")
        self.assert_no_temps()

    def test_target_gone_mid_stream_leaves_no_copy(self):
        self.start()
        proc = self.client("gone.bin", pause=0.1)
        self.read_until(proc, "sent %d" % (SIZE // 4))
        self.assertTrue(wait_for(
            lambda: any(v >= MIB for v in temps(self.p.dir("base")).values()),
            timeout=20, interval=0.02), self.diag())
        self.p.stop()
        self.wait_log("not pushed while it arrived")
        self.read_until(proc, "226")
        self.assertEqual(proc.wait(timeout=30), 0)
        # The job's own push finds the target down too (so the copy's
        # removal, attempted before, did as well); then it comes back.
        self.wait_log("mirror push failed target=p path=/u1/gone.bin")
        self.p.start()
        self.assert_arrived("gone.bin", payload(3))
        self.assert_no_temps()

    def test_crash_then_start_while_target_down(self):
        # One worker: the start-up removal of the crash's copy runs before
        # it takes any job.
        self.start(workers_per_target="1")
        proc = self.client("crash.bin", pause=0.1)
        self.read_until(proc, "sent %d" % (SIZE // 3))
        self.assertTrue(wait_for(
            lambda: any(v >= MIB for v in temps(self.p.dir("base")).values()),
            timeout=20, interval=0.02), self.diag())
        self.crash_restart_while_down([proc])

    def test_crash_leaves_many_copies_all_removed(self):
        # Six copies with long names: their records in the queue file
        # (over 1 KiB) once did not fit the sweep's list, which failed at
        # every start ("another row available") and left them all.
        self.start(workers_per_target="6")
        names = ["long-%d-%s.bin" % (i, "n" * 190) for i in range(6)]
        procs = []
        for n in names:
            # Started one by one: each start writes the client's script
            # anew, under a client still reading it.
            procs.append(self.client(n, pause=0.1))
            self.read_until(procs[-1], "sent ")
        for proc in procs:
            self.read_until(proc, "sent %d" % (SIZE // 4))
        self.assertTrue(wait_for(
            lambda: sum(1 for v in temps(self.p.dir("base")).values()
                        if v >= MIB) == len(names),
            timeout=30, interval=0.05), self.diag())
        self.crash_restart_while_down(procs)
        self.assertNotIn("another row available", self.srv.log_text())

    def copy_then(self, change):
        """A file sent while it arrived, then changed (change(ftp))
        before its job ran: one worker, busy with a slow push."""
        self.p = PyftpdTarget(read_limit=400000)
        self.addCleanup(self.p.cleanup)
        self.srv = MirrorServer(
            users={"u1": {"password": "pw1"}},
            mirror={"retry_initial": "1", "retry_max": "2", "watch": "off",
                    "workers_per_target": "1", "stream_min_size": "1M"},
            targets={"p": self.p.target("/base")})
        self.addCleanup(self.srv.cleanup)
        self.root = self.p.dir("base", "u1")
        f = self.ftp()
        # About 2 s of push for the one worker.
        f.storbinary("STOR blocker.bin", io.BytesIO(os.urandom(900 * 1024)))
        big = os.urandom(1200 * 1024)
        conn = f.transfercmd("STOR x.bin")
        conn.sendall(big[:1100 * 1024])
        # Its copy is on its way to the target.
        self.assertTrue(wait_for(
            lambda: any(k.endswith("x.bin")
                        for k in temps(self.p.dir("base"))),
            timeout=20, interval=0.02), self.diag())
        conn.sendall(big[1100 * 1024:])
        conn.close()
        self.assertTrue(f.voidresp().startswith("226"))
        change(f)
        self.wait_log("is of a file no longer there")
        self.assert_no_temps()

    def test_copy_of_a_replaced_upload_goes(self):
        # The job pushes the new file; the copy of the old one, which no
        # job takes, used to wait ten minutes on the target (found by an
        # outside battery).
        self.copy_then(lambda f: f.storbinary(
            "STOR x.bin", io.BytesIO(b"new small content")))
        self.assert_arrived("x.bin", b"new small content")

    def test_copy_of_a_deleted_upload_goes(self):
        self.copy_then(lambda f: f.delete("x.bin"))
        self.assertFalse(os.path.exists(os.path.join(self.root, "x.bin")))

    def test_folder_renamed_on_target_after_copy_written(self):
        self.start(retry="8")
        f = self.ftp()
        f.mkd("A")
        f.storbinary("STOR A/x.txt", io.BytesIO(b"x\n"))
        self.assert_arrived("A/x.txt", b"x\n")
        # The rename meets the target down: held back 8 s (retry).
        self.p.stop()
        f.rename("A", "B")
        self.wait_log("mirror push failed target=p")
        self.p.start()
        f.mkd("A")
        proc = self.client("A/big.bin")
        # While the rename of A waits for the target, a copy written into
        # the target's A would be carried to B by it: none is started
        # (the file is pushed once complete), and the end state is the
        # home's.
        self.read_until(proc, "226")
        self.assertEqual(proc.wait(timeout=30), 0)
        self.assert_arrived("B/x.txt", b"x\n")
        self.assert_arrived("A/big.bin", payload(3))
        self.assert_no_temps()


    def test_folder_renamed_during_upload(self):
        # Another session renames the upload's folder while the copy is
        # being written: the upload is published as B/big.bin, its copy
        # (named for A/big.bin) is of no use and removed at once, the
        # rename reaches the target, and the file is pushed whole.
        self.start()
        f = self.ftp()
        f.mkd("A")
        f.storbinary("STOR A/x.txt", io.BytesIO(b"x\n"))
        self.assert_arrived("A/x.txt", b"x\n")
        proc = self.client("A/big.bin", pause=0.1)
        self.read_until(proc, "sent %d" % (SIZE // 4))
        self.copy_started()
        self.ftp().rename("A", "B")
        self.read_until(proc, "226")
        self.assertEqual(proc.wait(timeout=30), 0)
        self.assert_arrived("B/big.bin", payload(3))
        self.assert_arrived("B/x.txt", b"x\n")
        self.assertFalse(os.path.exists(os.path.join(self.root, "A")))
        self.assert_no_temps()
        self.assertTrue(wait_for(
            lambda: "under another name" in self.srv.log_text(),
            timeout=10), self.srv.log_text()[-3000:])


if __name__ == "__main__":
    unittest.main()
