"""The issue's "done means", end to end in one test.

relayftpd A mirrors to two downstream servers: pyftpdlib (p) and a second
relayftpd (r). A folder tree goes up with `lftp mirror -R`; target p is
down during the upload (the plug pulled), and relayftpd A is killed with
SIGKILL right after the upload, with pushes still queued or in flight. A
restarts on the same queue, p comes back on its port: both targets end up
with an exact copy of the tree, no temporary files, nothing failed. Also
checks that a burst of small files reuses connections instead of paying a
login per file.
"""
import io
import os
import sys
import unittest

import pycurl

sys.path.insert(0, os.path.dirname(__file__))
from mirror_targets import (free_port, list_files,  # noqa: E402
                            relay_dir, relay_target_spec)
from test_mirror import MirrorTest, prefixed  # noqa: E402

KB = 1024


class DoneMeansTest(MirrorTest):
    def test_tree_reaches_both_targets_through_outage_and_crash(self):
        port = free_port()
        p = self.pyftpd(port=port)
        b = self.relay()
        a = self.mirror_server(
            mirror={"retry_initial": "1", "retry_max": "2",
                    "workers_per_target": "2"},
            targets={"p": p.target("/base"),
                     "r": relay_target_spec(b, "/base")})
        tree = {}
        for i in range(30):
            tree["small/s%02d.txt" % i] = self.rand(self.rng.randrange(0,
                                                                       2000))
        for i in range(6):
            tree["a/b/c/deep%d.bin" % i] = self.rand(
                self.rng.randrange(1, 300 * KB))
        tree["top.bin"] = self.rand(900 * KB)
        tree["with space/caf\u00e9.txt"] = b"utf-8 name\n"
        self.make_tree(self.local("tree"), tree)

        p.stop()  # the plug is pulled on one target
        self.lftp(a, "mirror -R %s /tree" % self.local("tree"), timeout=180)
        want = prefixed("tree", tree)
        # The other target is not held up by the dead one.
        self.assertArrived(relay_dir(b, "base", "alice"), want, a, "r",
                           what="relayftpd target while p is down")
        st = a.status()
        self.assertGreater(st["p"]["queued"] + st["p"]["running"], 0, st)

        a.kill9()  # and on relayftpd itself, jobs still queued
        p.start(port=port)
        a.start()
        self.assertArrived(p.dir("base", "alice"), want, a, "p",
                           timeout=120, what="pyftpdlib target after both")
        st = self.assertDrained(a, "p", "r")
        for name in ("p", "r"):
            self.assertEqual(st[name]["failed"], 0, st)
        self.assertNoTemp(p.root)
        self.assertNoTemp(relay_dir(b))
        self.assertEqual(
            list_files(p.dir("base", "alice")),
            sorted(want))

        # Connection reuse: r received 38 files over 2 workers; logins are
        # per worker connection (plus a few reconnects), not per file.
        logins = b.log_text().count("logged in as mirror")
        self.assertLessEqual(logins, 12, "logins at r: %d" % logins)

        # libcurl as the uploading client (through pycurl): arrives too.
        data = self.rand(200 * KB)
        c = pycurl.Curl()
        c.setopt(pycurl.URL, "ftp://alice:alice-pw@127.0.0.1:%d/lib/"
                 "curl.bin" % a.port)
        c.setopt(pycurl.UPLOAD, 1)
        c.setopt(pycurl.FTP_CREATE_MISSING_DIRS, 1)
        c.setopt(pycurl.READDATA, io.BytesIO(data))
        c.setopt(pycurl.INFILESIZE, len(data))
        c.setopt(pycurl.TIMEOUT, 60)
        c.perform()
        self.assertEqual(c.getinfo(pycurl.RESPONSE_CODE), 226)
        c.close()
        for root, name in ((p.dir("base", "alice"), "p"),
                           (relay_dir(b, "base", "alice"), "r")):
            self.assertArrived(root, {"lib/curl.bin": data}, a, name,
                               what="libcurl upload")


if __name__ == "__main__":
    unittest.main(verbosity=2)
