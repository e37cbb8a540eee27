#!/usr/bin/env python3
"""The mirror's start-up walk of a home whose deepest files have paths
longer than 4,095 bytes (written by another program while the daemon was
down; the server itself never makes such a path).

The walk cannot name them (its paths are at most 4,095 bytes): they are
not mirrored, and the admin must read so in the log, once per walk of the
home, with how many were left out and where, not one line per file. They
used to be skipped without a word. So must the watcher's walk of such a
folder moved into a home while the daemon runs.

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
from harness import wait_for  # noqa: E402
from mirror_targets import MirrorServer, jobs_waiting  # noqa: E402

LEVEL = "d" * 240  # a folder name; 16 of them: a path of 3,856 bytes
LEVELS = 16
LONG = "f" * 250  # a file name whose path there passes 4,095 bytes


def make_deep(home, first=None):
    """Folders LEVELS deep under home (the first named first, if given) (opened by descriptor: the path is
    past what one syscall takes), with an "ok" file, three files and one
    folder whose paths are too long; returns the deep folder's path
    in the home."""
    fd = os.open(home, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for i in range(LEVELS):
            name = first if i == 0 and first is not None else LEVEL
            os.mkdir(name, dir_fd=fd)
            sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = sub
        for name in ("ok", LONG + "1", LONG + "2", LONG + "3"):
            f = os.open(name, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
            os.write(f, name.encode()[:10])
            os.close(f)
        os.mkdir("g" * 250, dir_fd=fd)
    finally:
        os.close(fd)
    return "/" + "/".join([first or LEVEL] + [LEVEL] * (LEVELS - 1))


class LongPathsTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rftp-long-paths-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def test_walk_says_what_it_left_out(self):
        home = os.path.join(self.tmp, "home")
        os.makedirs(home)
        with open(os.path.join(home, "top.txt"), "wb") as f:
            f.write(b"top\n")
        deep = make_deep(home)
        srv = MirrorServer(
            users={"alice": {"password": "alice-pw", "home": home}},
            mirror={"watch": "off", "retry_initial": "3600",
                    "retry_max": "3600"},
            # Nothing listens there: the jobs stay to be counted.
            targets={"down": {"url": "ftp://u:p@127.0.0.1:%d/" %
                              free_port()}})
        self.addCleanup(srv.cleanup)
        self.assertTrue(wait_for(lambda: "mirror catch-up: " in
                                 srv.log_text(), timeout=60, interval=0.1),
                        srv.log_text()[-3000:])
        log = srv.log_text()
        # top.txt and the deep "ok": what fits is queued.
        self.assertEqual(jobs_waiting(srv, "down"), 2, log[-3000:])
        lines = [ln for ln in log.splitlines()
                 if "left out" in ln and "alice" in ln]
        self.assertEqual(len(lines), 1, log[-3000:])
        m = re.search(r"left out (\d+) entries whose path there is longer "
                      r"than 4095 bytes \(the first in (\S+)\)", lines[0])
        self.assertIsNotNone(m, lines[0])
        self.assertEqual(m.group(1), "4", lines[0])
        self.assertTrue(deep.startswith(m.group(2).rstrip(".")),
                        lines[0][:400])
        self.assertIn(home, lines[0])

    def test_watcher_says_what_it_left_out(self):
        """A folder with such files moved into a watched home: the
        watcher queues what fits and says once what it left out."""
        home = os.path.join(self.tmp, "home")
        outside = os.path.join(self.tmp, "outside")
        os.makedirs(home)
        os.makedirs(outside)
        srv = MirrorServer(
            users={"alice": {"password": "alice-pw", "home": home}},
            mirror={"watch": "on", "watch_debounce_ms": "100",
                    "retry_initial": "3600", "retry_max": "3600"},
            targets={"down": {"url": "ftp://u:p@127.0.0.1:%d/" %
                              free_port()}})
        self.addCleanup(srv.cleanup)
        # Watched, and the start-up walk done (it would say the moved
        # folder's too).
        self.assertTrue(wait_for(lambda: "mirror watcher: " in
                                 srv.log_text() and
                                 "start-up walk of the homes done" in
                                 srv.log_text(), timeout=60, interval=0.1),
                        srv.log_text()[-3000:])
        moved = "m" * len(LEVEL)  # the paths there as make_deep's
        deep = make_deep(outside, first=moved)
        os.rename(os.path.join(outside, moved), os.path.join(home, moved))
        # The deep "ok" is what fits.
        self.assertTrue(wait_for(lambda: jobs_waiting(srv, "down") == 1,
                                 timeout=60, interval=0.1),
                        srv.log_text()[-3000:])
        self.assertTrue(wait_for(lambda: "left out" in srv.log_text(),
                                 timeout=30, interval=0.1),
                        srv.log_text()[-3000:])
        log = srv.log_text()
        lines = [ln for ln in log.splitlines() if "left out" in ln]
        self.assertEqual(len(lines), 1, log[-3000:])
        self.assertIn("mirror watcher: the walk of /" + moved, lines[0])
        m = re.search(r"left out (\d+) entries whose path there is longer "
                      r"than 4095 bytes \(the first in (\S+)\)", lines[0])
        self.assertIsNotNone(m, lines[0])
        self.assertEqual(m.group(1), "4", lines[0])
        self.assertTrue(deep.startswith(m.group(2).rstrip(".")),
                        lines[0][:400])
        self.assertIn(home, lines[0])

    def test_watcher_events_say_what_they_left_out(self):
        """Files written in a watched folder whose path is about 3,900
        bytes, with names that take their paths past 4,095: the watcher
        queues the one that fits and says so of the others once, at
        once, then no more than once a minute with the count (the rest at
        its stop), not one line each."""
        home = os.path.join(self.tmp, "home")
        os.makedirs(home)
        fd = os.open(home, os.O_RDONLY | os.O_DIRECTORY)
        for _ in range(LEVELS):
            os.mkdir(LEVEL, dir_fd=fd)
            sub = os.open(LEVEL, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = sub
        self.addCleanup(os.close, fd)
        srv = MirrorServer(
            users={"alice": {"password": "alice-pw", "home": home}},
            mirror={"watch": "on", "watch_debounce_ms": "100",
                    "retry_initial": "3600", "retry_max": "3600"},
            targets={"down": {"url": "ftp://u:p@127.0.0.1:%d/" %
                              free_port()}})
        self.addCleanup(srv.cleanup)
        self.assertTrue(wait_for(lambda: "mirror watcher: " in
                                 srv.log_text() and
                                 "start-up walk of the homes done" in
                                 srv.log_text(), timeout=60, interval=0.1),
                        srv.log_text()[-3000:])
        n = 200
        for i in range(n):
            f = os.open(LONG[:-3] + "%03d" % i,
                        os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
            os.close(f)
        f = os.open("ok", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(f, b"ok")
        os.close(f)
        # The events come in order: the "ok" queued, all were handled.
        self.assertTrue(wait_for(lambda: jobs_waiting(srv, "down") == 1,
                                 timeout=60, interval=0.1),
                        srv.log_text()[-3000:])
        pat = re.compile(r"mirror watcher: left out (\d+) changes to files "
                         r"or folders whose path is longer than 4095 bytes "
                         r"or more than 256 folders deep \(the first (\d+) "
                         r"bytes long, in (\S+) in the home (\S+) of alice"
                         r"\): they are not mirrored")
        lines = [ln for ln in srv.log_text().splitlines()
                 if "left out" in ln]
        self.assertEqual(len(lines), 1, lines)
        m = pat.search(lines[0])
        self.assertIsNotNone(m, lines[0][:600])
        self.assertEqual(m.group(1), "1", lines[0][:600])
        deep = "/" + "/".join([LEVEL] * LEVELS)
        self.assertEqual(m.group(2), str(len(deep) + 1 + len(LONG)))
        self.assertTrue(deep.startswith(m.group(3).rstrip(".")),
                        lines[0][:600])
        self.assertEqual(m.group(4), home)
        # The others are said at the stop, in one line.
        srv.stop()
        counts = [int(pat.search(ln).group(1))
                  for ln in srv.log_text().splitlines()
                  if "left out" in ln]
        self.assertEqual(counts, [1, n - 1])


if __name__ == "__main__":
    unittest.main(verbosity=2)
