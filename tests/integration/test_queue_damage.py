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
import ftplib
import io
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import wait_for  # noqa: E402
from mirror_targets import MirrorServer  # noqa: E402


class DamagedQueueTest(unittest.TestCase):
    def test_claim_failure_says_why(self):
        tmp = tempfile.mkdtemp(prefix="rftp-qdamage-")
        self.addCleanup(shutil.rmtree, tmp, True)
        # A target that fails every push: the jobs stay queued.
        prog = os.path.join(tmp, "fail.sh")
        with open(prog, "w") as f:
            f.write("#!/bin/sh\nexit 1\n")
        os.chmod(prog, 0o755)
        queue = os.path.join(tmp, "queue.db")
        srv = MirrorServer(
            users={"alice": {"password": "pw"}},
            mirror={"queue": queue, "watch": "off", "retry_initial": "1",
                    "retry_max": "1"},
            targets={"x": {"url": "exec:" + prog}})
        self.addCleanup(srv.cleanup)
        f = ftplib.FTP()
        f.connect("127.0.0.1", srv.port, timeout=30)
        f.login("alice", "pw")
        for i in range(40):
            f.storbinary("STOR f%03d" % i, io.BytesIO(b"x" * 1000))
        f.quit()
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


if __name__ == "__main__":
    unittest.main(verbosity=2)
