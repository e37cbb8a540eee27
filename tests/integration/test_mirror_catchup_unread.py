#!/usr/bin/env python3
"""The mirror's start-up walk of a home holding folders the daemon cannot
open (their mode; the tests run as root, so faultshim.c makes the walk's
openat of them fail with EACCES).

What they hold is not mirrored, and the admin must read so in the log,
once per walk of the home, with how many, the first and why, not one line
per folder. They used to be passed over without a word.

Runs in ~3 s.
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
from mirror_targets import MirrorServer, jobs_waiting  # noqa: E402


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


class UnreadFoldersTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rftp-unread-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def test_walk_says_which_folders_it_could_not_open(self):
        home = os.path.join(self.tmp, "home")
        write(os.path.join(home, "top.txt"), b"top\n")
        write(os.path.join(home, "open", "ok.txt"), b"ok\n")
        write(os.path.join(home, "shut-x7", "f2.bin"), b"2" * 100)
        write(os.path.join(home, "shut-x7", "inner", "f3.bin"), b"3" * 100)
        write(os.path.join(home, "open", "shut-x7b", "f4.bin"), b"4" * 100)
        inj = Faults(self)
        # The walk's open of each folder named so (from its parent):
        # shut-x7 and open/shut-x7b, two folders, three files left out.
        inj.arm("openat 13 0 -1 shut-x7")
        srv = inj.start(lambda: MirrorServer(
            users={"alice": {"password": "alice-pw", "home": home}},
            mirror={"watch": "off", "retry_initial": "3600",
                    "retry_max": "3600"},
            # Nothing listens there: the jobs stay to be counted.
            targets={"down": {"url": "ftp://u:p@127.0.0.1:%d/" %
                              free_port()}}))
        self.addCleanup(srv.cleanup)
        self.assertTrue(wait_for(lambda: "mirror catch-up: " in
                                 srv.log_text(), timeout=60, interval=0.1),
                        srv.log_text()[-3000:])
        inj.disarm()
        log = srv.log_text()
        # top.txt and open/ok.txt: what could be read is queued.
        self.assertEqual(jobs_waiting(srv, "down"), 2, log[-3000:])
        lines = [ln for ln in log.splitlines()
                 if "could not open" in ln and "alice" in ln]
        self.assertEqual(len(lines), 1, log[-3000:])
        m = re.search(r"could not open (\d+) folders \(the first (\S+): "
                      r"Permission denied\): the files they hold are not "
                      r"mirrored", lines[0])
        self.assertIsNotNone(m, lines[0])
        self.assertEqual(m.group(1), "2", lines[0])
        self.assertIn(m.group(2), ("/shut-x7", "/open/shut-x7b"), lines[0])
        self.assertIn(home, lines[0])

    def test_folder_short_of_descriptors_is_walked_again(self):
        """A folder that could not be opened for want of descriptors
        (EMFILE, once) opens later: the home is walked again and its
        files are queued."""
        home = os.path.join(self.tmp, "home")
        write(os.path.join(home, "top.txt"), b"top\n")
        write(os.path.join(home, "shut-x7", "f2.bin"), b"2" * 100)
        write(os.path.join(home, "shut-x7", "inner", "f3.bin"), b"3" * 100)
        inj = Faults(self)
        inj.arm("openat 24 0 1 shut-x7")
        srv = inj.start(lambda: MirrorServer(
            users={"alice": {"password": "alice-pw", "home": home}},
            mirror={"watch": "off", "retry_initial": "3600",
                    "retry_max": "3600"},
            targets={"down": {"url": "ftp://u:p@127.0.0.1:%d/" %
                              free_port()}}))
        self.addCleanup(srv.cleanup)
        self.assertTrue(wait_for(lambda: jobs_waiting(srv, "down") == 3,
                                 timeout=60, interval=0.1),
                        srv.log_text()[-3000:])
        log = srv.log_text()
        lines = [ln for ln in log.splitlines() if "could not open" in ln]
        self.assertEqual(len(lines), 1, log[-3000:])
        self.assertIn("could not open 1 folders (the first /shut-x7: Too "
                      "many open files)", lines[0])
        self.assertIn("walked again later", lines[0])


if __name__ == "__main__":
    unittest.main(verbosity=2)
