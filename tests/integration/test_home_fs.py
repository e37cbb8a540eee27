"""Homes on real file systems at their limits, as an admin meets them.

- a file system mounted on a home after the daemon began watching it (a
  late NFS or disk mount, a bind mount laid over the folder): files other
  programs write into it reach the target;

Each test mounts what it needs (tmpfs, a loop image) and unmounts it at
cleanup; without the right to mount it skips and says why. Servers listen
on 127.0.0.1 on ephemeral ports; every wait is a bounded poll.
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import mount_tmpfs, wait_for  # noqa: E402
from mirror_targets import (  # noqa: E402
    MirrorServer, TargetsMixin, read, write)


class WatchedHomeMountTest(TargetsMixin, unittest.TestCase):

    def test_file_system_mounted_on_a_watched_home_is_watched(self):
        """A file system mounted on a home the watcher already watched
        hid the folder its watches were on: files other programs wrote
        into the mount were never mirrored until a restart, and nothing
        said so (an unmount was seen; a mount on top brings no inotify
        event). Now the watcher sees the mount and watches the home
        again."""
        p = self.pyftpd()
        srv = MirrorServer(
            users={"alice": {"password": "pw"}},
            mirror={"watch": "on", "watch_debounce_ms": "100"},
            targets={"p": p.target("/base")}, start=False)
        self.addCleanup(srv.cleanup)
        home = srv.home("alice")
        os.makedirs(home)
        srv.start()
        write(os.path.join(home, "before.txt"), b"before\n")
        self.assertTrue(wait_for(lambda: os.path.exists(
            p.dir("base", "alice", "before.txt")), timeout=20),
            srv.log_text()[-3000:])
        mount_tmpfs(self, home)
        write(os.path.join(home, "sub", "after.txt"), b"after\n")
        got = p.dir("base", "alice", "sub", "after.txt")
        self.assertTrue(wait_for(lambda: os.path.exists(got), timeout=20),
                        srv.log_text()[-3000:])
        self.assertTrue(wait_for(lambda: read(got) == b"after\n",
                                 timeout=10))
        self.assertIn("the home of [alice], is another folder now",
                      srv.log_text())
        # Watched for good, not found once by a walk.
        write(os.path.join(home, "sub", "later.txt"), b"later\n")
        self.assertTrue(wait_for(lambda: os.path.exists(
            p.dir("base", "alice", "sub", "later.txt")), timeout=20),
            srv.log_text()[-3000:])


if __name__ == "__main__":
    unittest.main()
