"""Homes on real file systems at their limits, as an admin meets them.

- a file system mounted on a home after the daemon began watching it (a
  late NFS or disk mount, a bind mount laid over the folder), or on a
  folder inside it, and unmounted again: files other programs write
  into it reach the target;
- a session open while the home's file system is unmounted (umount -l)
  or another is mounted on it: its next command ends it with 421 instead
  of storing files where no one (nor the mirror) sees them, and an
  upload under way then gets 451, not 226;
- a home whose file system is full, of bytes then of inodes: the client
  gets 452 (RFC 959), never 226 for a short file; the partial is kept for
  a resume, which completes once room is made, and only the whole file
  reaches the target; the log names the command and the file; DELE of
  a partial on a home gone read-only says so and keeps it;

Each test mounts what it needs (tmpfs, a loop image) and unmounts it at
cleanup; without the right to mount it skips and says why. Servers listen
on 127.0.0.1 on ephemeral ports; every wait is a bounded poll.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from faults import Faults  # noqa: E402
from harness import (Control, mount_tmpfs, private_mountns,  # noqa: E402
                     wait_for)
from mirror_targets import (  # noqa: E402
    PARTIAL_PREFIX, MirrorServer, TargetsMixin, read, tree, write)


class HomeCase(TargetsMixin, unittest.TestCase):

    def mirrored_home(self):
        """A pyftpdlib target, a relayftpd (not started) whose user alice
        is mirrored to it and watched, and alice's home (made, empty)."""
        p = self.pyftpd()
        srv = MirrorServer(
            users={"alice": {"password": "pw"}},
            mirror={"watch": "on", "watch_debounce_ms": "100"},
            targets={"p": p.target("/base")}, start=False)
        self.addCleanup(srv.cleanup)
        home = srv.home("alice")
        os.makedirs(home)
        return p, srv, home

    def session(self, srv):
        """alice's logged-in control connection, closed at cleanup."""
        c = Control(srv.port)
        self.addCleanup(c.close)
        c.login("alice", "pw")
        return c

    def assert_watched(self, p, srv, home):
        """Files another program writes into alice's home (as its path
        leads now) reach the target, the second after the first: the
        home is watched for good, not found once by a walk."""
        write(os.path.join(home, "sub", "after.txt"), b"after\n")
        got = p.dir("base", "alice", "sub", "after.txt")
        self.assertTrue(wait_for(lambda: os.path.exists(got), timeout=20),
                        srv.log_text()[-3000:])
        self.assertTrue(wait_for(lambda: read(got) == b"after\n",
                                 timeout=10))
        write(os.path.join(home, "sub", "later.txt"), b"later\n")
        self.assertTrue(wait_for(lambda: os.path.exists(
            p.dir("base", "alice", "sub", "later.txt")), timeout=20),
            srv.log_text()[-3000:])

    def store_anew(self, srv, home, name, data):
        """A new login stores name: 226, and the bytes in the home."""
        c = self.session(srv)
        self.assertEqual(c.store(name, data)[0], 226)
        self.assertEqual(read(os.path.join(home, name)), data)
        return c


def umount_lazy(path):
    subprocess.run(["umount", "-l", path], check=True, capture_output=True,
                   timeout=30)


class WatchedHomeMountTest(HomeCase):

    def test_file_system_mounted_on_a_watched_home_is_watched(self):
        """A file system mounted on a home the watcher already watched
        hid the folder its watches were on: files other programs wrote
        into the mount were never mirrored until a restart, and nothing
        said so (an unmount was seen; a mount on top brings no inotify
        event). Now the watcher sees the mount and watches the home
        again."""
        p, srv, home = self.mirrored_home()
        srv.start()
        write(os.path.join(home, "before.txt"), b"before\n")
        self.assertTrue(wait_for(lambda: os.path.exists(
            p.dir("base", "alice", "before.txt")), timeout=20),
            srv.log_text()[-3000:])
        mount_tmpfs(self, home)
        self.assert_watched(p, srv, home)
        self.assertIn("the home of [alice], is another folder now",
                      srv.log_text())

    def test_file_system_mounted_inside_a_watched_home_is_watched(self):
        """A file system mounted on a folder inside a watched home (an
        NFS share on alice/photos) hid the folder its watch was on, and
        its unmount left the folder it uncovered unwatched: files other
        programs wrote there were never mirrored until a restart. Now
        the home is watched again at each."""
        p, srv, home = self.mirrored_home()
        photos = os.path.join(home, "photos")
        os.mkdir(photos)
        srv.start()  # its watches are there once it listens
        mount_tmpfs(self, photos)
        write(os.path.join(photos, "in-mount.jpg"), b"mounted\n")
        self.assertTrue(wait_for(lambda: os.path.exists(
            p.dir("base", "alice", "photos", "in-mount.jpg")), timeout=20),
            srv.log_text()[-3000:])
        umount_lazy(photos)
        write(os.path.join(photos, "under.jpg"), b"uncovered\n")
        self.assertTrue(wait_for(lambda: os.path.exists(
            p.dir("base", "alice", "photos", "under.jpg")), timeout=20),
            srv.log_text()[-3000:])
        self.assertIn("mounted or unmounted at %s, in the home of [alice]"
                      % photos, srv.log_text())

    def test_mount_inside_a_home_moved_since(self):
        """A home holding a mount (an NFS share on alice/photos) moved to
        another folder, users.ini naming it: the unmount later was looked
        for at the mount's old path, outside every home, so the folder it
        uncovered in the moved home was left unwatched and files other
        programs wrote there never reached the target until a restart.
        In a mount namespace of its own: another program's mount between
        the move and the unmount would show the watcher the moved one."""
        private_mountns(self)
        p, srv, home = self.mirrored_home()
        photos = os.path.join(home, "photos")
        os.mkdir(photos)
        srv.start()
        mount_tmpfs(self, photos)
        write(os.path.join(photos, "in-mount.jpg"), b"mounted\n")
        self.assertTrue(wait_for(lambda: os.path.exists(
            p.dir("base", "alice", "photos", "in-mount.jpg")), timeout=20),
            srv.log_text()[-3000:])
        moved = home + "-moved"
        os.rename(home, moved)  # the mount goes along
        photos = os.path.join(moved, "photos")
        self.addCleanup(subprocess.run, ["umount", "-l", photos],
                        capture_output=True, timeout=30)
        srv.users["alice"]["home"] = moved
        srv.write_users()
        self.assert_watched(p, srv, moved)
        umount_lazy(photos)
        write(os.path.join(photos, "under.jpg"), b"uncovered\n")
        self.assertTrue(wait_for(lambda: os.path.exists(
            p.dir("base", "alice", "photos", "under.jpg")), timeout=20),
            srv.log_text()[-3000:])

    def test_file_system_mounted_above_a_watched_home_that_lacks_it(self):
        """A file system mounted on the folder of the homes (a late NFS
        mount of /srv/ftp) that held no folder for alice hid the watched
        home and brought no event: the watcher kept watching the hidden
        folder, and the home made there later (as a first login does)
        was never watched, so files other programs wrote into it never
        reached the targets until a restart."""
        p = self.pyftpd()
        other = tempfile.mkdtemp(prefix="rftp-test-")
        self.addCleanup(shutil.rmtree, other, True)
        srv = MirrorServer(
            users={"alice": {"password": "pw"},
                   "bob": {"password": "pw",
                           "home": os.path.join(other, "bob")}},
            mirror={"watch": "on", "watch_debounce_ms": "100"},
            targets={"p": p.target("/base")}, start=False)
        self.addCleanup(srv.cleanup)
        home, bob = srv.home("alice"), srv.home("bob")
        os.makedirs(home)
        os.makedirs(bob)
        srv.start()
        mount_tmpfs(self, os.path.dirname(home))
        # A mount on bob's home after it: once its file arrives, the
        # watcher has looked at the homes with alice's not there.
        mount_tmpfs(self, bob)
        write(os.path.join(bob, "b.txt"), b"bob\n")
        self.assertTrue(wait_for(lambda: os.path.exists(
            p.dir("base", "bob", "b.txt")), timeout=20),
            srv.log_text()[-3000:])
        self.assert_watched(p, srv, home)
        self.assertIn("the home of [alice], is not there now",
                      srv.log_text())


class MountElsewhereTest(HomeCase):

    def test_a_mount_elsewhere_opens_no_home(self):
        """Every mount or unmount anywhere (containers start and stop
        thousands) made the watcher open every watched home: its cost grew
        with the homes, and one hung home (a hard NFS mount whose server
        is gone) would have held every user's watch. Only the homes a
        mount on their way came or went at are looked at now; seen here by
        the opens of bob's home, which the fault library logs."""
        inj = Faults(self)
        p = self.pyftpd()
        srv = MirrorServer(
            users={"alice": {"password": "pw"}, "bob": {"password": "pw"}},
            mirror={"watch": "on", "watch_debounce_ms": "100"},
            targets={"p": p.target("/base")}, start=False)
        self.addCleanup(srv.cleanup)
        for user in ("alice", "bob"):
            os.makedirs(srv.home(user))
        photos = os.path.join(srv.home("alice"), "photos")
        os.mkdir(photos)
        elsewhere = tempfile.mkdtemp(prefix="rftp-test-")
        self.addCleanup(shutil.rmtree, elsewhere, True)
        # Found by the start-up walk, not by a watch whose quiet time
        # could end after the fault is armed.
        write(os.path.join(srv.home("bob"), "b.txt"), b"b\n")
        inj.start(srv.start)
        # bob's push is over: nothing of the mirror opens his home now.
        self.assertTrue(wait_for(lambda: os.path.exists(
            p.dir("base", "bob", "b.txt")), timeout=20),
            srv.log_text()[-3000:])
        inj.arm("open -1 0 -1 " + srv.home("bob"))
        try:
            mount_tmpfs(self, elsewhere)
            # One the watcher must act on, after the first: the mark
            # that both were looked at.
            mount_tmpfs(self, photos)
            self.assertTrue(wait_for(lambda: "in the home of [alice]" in
                                     srv.log_text(), timeout=20),
                            srv.log_text()[-3000:])
        finally:
            inj.disarm()
        self.assertNotIn("FAULT open(%s" % srv.home("bob"), srv.log_text())


class SessionHomeMountTest(HomeCase):

    def test_session_ends_when_its_home_is_unmounted_or_covered(self):
        """A session logged in before its home's file system was
        unmounted (umount -l), or before another was mounted on the home,
        kept writing into the folder it had opened at login: its uploads
        got 226 and were in no folder anyone saw, never mirrored ("no
        longer in the home"), and lost with the detached file system
        once the session ended. Now its next command on files gets 421
        and the client's new login works in the home as it is."""
        p, srv, home = self.mirrored_home()
        mount_tmpfs(self, home)
        srv.start()
        first = self.store_anew(srv, home, "a.txt", b"a\n")
        self.assertTrue(wait_for(lambda: os.path.exists(
            p.dir("base", "alice", "a.txt")), timeout=20))
        umount_lazy(home)
        code, text = first.store("b.txt", b"b\n")
        self.assertEqual(code, 421, text)
        self.assertIn("is another folder now", srv.log_text())
        second = self.store_anew(srv, home, "b.txt", b"b\n")
        # Pushed before the mount below hides it (the push of a file
        # hidden so waits for the unmount: an ASan run was that slow).
        self.assertTrue(wait_for(lambda: os.path.exists(
            p.dir("base", "alice", "b.txt")), timeout=20),
            srv.log_text()[-3000:])
        # A file system mounted on the home under an open session.
        mount_tmpfs(self, home)
        code, text = second.store("c.txt", b"c\n")
        self.assertEqual(code, 421, text)
        self.store_anew(srv, home, "c.txt", b"c\n")
        for name in ("b.txt", "c.txt"):
            got = p.dir("base", "alice", name)
            self.assertTrue(wait_for(lambda: os.path.exists(got),
                                     timeout=20),
                            "%s\n%s" % (name, srv.log_text()[-3000:]))

    def test_upload_under_way_when_its_home_is_unmounted(self):
        """An upload whose home's file system was unmounted (umount -l)
        while its bytes came was published in the detached folder and
        answered 226: the file was in no folder anyone saw. Now it gets
        451 saying so, and a new login stores it in the home."""
        p, srv, home = self.mirrored_home()
        mount_tmpfs(self, home)
        srv.start()
        c = self.session(srv)
        d = c.epsv()
        self.assertEqual(c.cmd("STOR late.txt")[0], 150)
        d.sendall(b"first half\n")
        part = os.path.join(home, PARTIAL_PREFIX + "late.txt")
        self.assertTrue(wait_for(lambda: os.path.exists(part)))
        umount_lazy(home)
        d.sendall(b"second half\n")
        d.close()
        code, text = c.reply()
        self.assertEqual(code, 451, text)
        self.assertIn("home folder changed", text)
        self.assertIn("removed (the home's folder changed", srv.log_text())
        self.store_anew(srv, home, "late.txt", b"again\n")
        got = p.dir("base", "alice", "late.txt")
        self.assertTrue(wait_for(lambda: os.path.exists(got), timeout=20),
                        srv.log_text()[-3000:])


class FullHomeTest(HomeCase):

    def test_full_home_refuses_names_the_file_and_resumes(self):
        """A full home was answered 452 as it should, but the log said
        "Cannot create file: No space left on device" and, for MKD, the
        client's relative name: which file or folder, and by which
        command, the admin could not tell. Now it names both."""
        p, srv, home = self.mirrored_home()
        mount_tmpfs(self, home, "size=1m,nr_inodes=24")
        srv.start()
        c = self.session(srv)
        self.assertEqual(c.cmd("MKD sub")[0], 257)
        self.assertEqual(c.cmd("CWD sub")[0], 250)
        data = bytes(range(256)) * (6 << 10)  # 1.5 MiB: past the room
        code, text = c.store("big.bin", data)
        self.assertEqual(code, 452, text)
        part = os.path.join(home, "sub", PARTIAL_PREFIX + "big.bin")
        have = os.path.getsize(part)
        self.assertGreater(have, 0)
        self.assertEqual(data[:have], read(part))
        self.assertEqual(c.cmd("SIZE big.bin"), (213, "213 %d" % have))
        # Inodes: folders until none is left, then a file.
        for i in range(40):
            code, text = c.cmd("MKD d%02d" % i)
            if code != 257:
                break
        self.assertEqual(code, 452, text)
        log = srv.log_text()
        self.assertIn("MKD /sub/d%02d: No space left on device" % i, log)
        self.assertEqual(c.store("small.txt", b"x")[0], 452)
        self.assertIn("STOR /sub/small.txt: No space left on device",
                      srv.log_text())
        # Room again (the admin grows the file system): the session goes
        # on and the resume completes.
        subprocess.run(["mount", "-o", "remount,size=4m,nr_inodes=64",
                        home], check=True, capture_output=True, timeout=30)
        self.assertEqual(c.cmd("NOOP")[0], 200)
        self.assertEqual(c.cmd("REST %d" % have)[0], 350)
        code, text = c.store("big.bin", data[have:])
        self.assertEqual(code, 226, text)
        self.assertFalse(os.path.exists(part))
        self.assertEqual(read(os.path.join(home, "sub", "big.bin")), data)
        got = p.dir("base", "alice", "sub", "big.bin")
        self.assertTrue(wait_for(lambda: os.path.exists(got), timeout=20),
                        srv.log_text()[-3000:])
        self.assertTrue(wait_for(lambda: read(got) == data, timeout=10))
        self.assertEqual(
            [k for k in tree(p.dir("base")) if "partial" in k], [])

    def test_dele_of_a_partial_on_a_read_only_home(self):
        """DELE of an interrupted upload (what a client does to give up
        a resume) on a home remounted read-only answered "250
        Interrupted upload deleted" and logged it, while the partial
        stayed (and kept counting in the quota). Now it is 550 with the
        reason, and the partial goes once the home is writable again."""
        p, srv, home = self.mirrored_home()
        mount_tmpfs(self, home, "size=1m")
        srv.start()
        c = self.session(srv)
        self.assertEqual(c.store("big.bin", b"x" * (3 << 19))[0], 452)
        part = os.path.join(home, PARTIAL_PREFIX + "big.bin")
        have = os.path.getsize(part)
        subprocess.run(["mount", "-o", "remount,ro", home], check=True,
                       capture_output=True, timeout=30)
        code, text = c.cmd("DELE big.bin")
        self.assertEqual((code, text),
                         (550, "550 big.bin: Read-only file system."))
        self.assertNotIn("deleted the interrupted upload", srv.log_text())
        self.assertIn("DELE /big.bin: Read-only file system",
                      srv.log_text())
        self.assertEqual(c.cmd("SIZE big.bin"), (213, "213 %d" % have))
        subprocess.run(["mount", "-o", "remount,rw", home], check=True,
                       capture_output=True, timeout=30)
        self.assertEqual(c.cmd("DELE big.bin"),
                         (250, "250 Interrupted upload deleted."))
        self.assertFalse(os.path.exists(part))


if __name__ == "__main__":
    unittest.main()
