"""A job with nothing left to push removes its temporary copy on the target
even when its attempts were reset.

A push cut by an outage can leave `.rftpd-tmp.<job>.<name>` on the target
(its own clean-up fails: the target is down). If the file is then deleted
or moved in the home, the job has nothing to push and must delete that
copy. The old code did so only when the job had failed attempts on record;
`mirror retry` (and a new upload of a parked path) resets them, and the
copy stayed on the target for good, carried along by later renames of its
folder (seen in test_converge). Runs in ~5 s.
"""
import ftplib
import io
import os
import sqlite3
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import wait_for  # noqa: E402
from mirror_targets import drained, tmp_files, wait_status  # noqa: E402
from test_mirror import MirrorTest  # noqa: E402


class SkipDiscardTest(MirrorTest):

    def test_skipped_job_removes_its_copy_after_retry(self):
        p = self.pyftpd()
        p.stop()
        srv = self.mirror_server(
            mirror={"watch": "off", "max_attempts": "1",
                    "retry_initial": "1", "retry_max": "1"},
            targets={"p": p.target("/base")})
        home = srv.home("alice")
        f = ftplib.FTP()
        f.connect("127.0.0.1", srv.port, timeout=30)
        f.login("alice", "alice-pw")
        f.storbinary("STOR /gone file.bin", io.BytesIO(self.rand(5000)))
        f.quit()
        # The target is down: the job fails once and is parked.
        self.assertTrue(wait_for(
            lambda: srv.status()["p"]["failed"] == 1, timeout=30),
            srv.status())
        srv.stop()
        db = sqlite3.connect(srv.mirror_opts.get("queue") or
                             os.path.join(srv.tmp, "relayftpd-queue.db"))
        (job,), = db.execute(
            "SELECT id FROM jobs WHERE path='/gone file.bin'").fetchall()
        db.close()
        # What an attempt cut by the outage leaves on the target.
        tdir = os.path.join(p.root, "base", "alice")
        os.makedirs(tdir, exist_ok=True)
        planted = os.path.join(tdir, ".rftpd-tmp.%d.gone file.bin" % job)
        with open(planted, "wb") as out:
            out.write(b"partial")
        # The admin retries (attempts reset); the file leaves the home.
        r = srv.retry()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        os.unlink(os.path.join(home, "gone file.bin"))
        p.start()
        srv.start()
        self.assertTrue(drained()(wait_status(srv, drained(), timeout=30)))
        self.assertTrue(wait_for(lambda: tmp_files(p.root) == [],
                                 timeout=10),
                        "left on the target: %s" % tmp_files(p.root))
        self.assertFalse(os.path.exists(os.path.join(tdir, "gone file.bin")))


if __name__ == "__main__":
    unittest.main()
