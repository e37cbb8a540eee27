#!/usr/bin/env python3
"""A target whose file system ignores letter case holds one file for two
of a home's names.

A NAS share (SMB, exFAT, NTFS behind the target's server) takes "a.txt"
for "A.txt". A home on Linux holds both; the mirror pushed both, the
second over the first one's copy, and a delete of "a.txt" then removed
the only copy there of "A.txt", which the home still has (found from
outside, a pyftpdlib target on an exFAT image): the target ended empty,
`mirror status` said nothing. Now the mirror learns at its first verified
push that the target ignores case (the copy's temporary name asked in the
other case); a name whose twin already holds the name there (also
"x/y" beside "X/y") is not pushed (logged as an error, on show in
`mirror status`, not retried), a delete of a name beside its twin keeps
the twin's copy and pushes the twin again, a rename from or to a twin
is pushed as its new name (RNFR moved the twin's copy, RNTO replaced
it), a folder "X" where the target holds the file "x", and a name with
a character such file systems refuse (':' '?' '*'), are dropped at their
first refusal with the name and the reason (they were retried for ever),
and case-only renames still reach the target.

The target: pyftpdlib over a real exFAT file system (exfatprogs'
mkfs.exfat, exfat-fuse on a loop device); skipped where this process may
not set up a loop device or a FUSE mount (not root, no /dev/fuse).
"""
import errno
import ftplib
import io
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from faults import Faults  # noqa: E402
import mirror_peers  # noqa: E402
import test_mirror_more  # noqa: E402
from harness import wait_for  # noqa: E402
from mirror_peers import VsftpdPeer, make_tree_dir  # noqa: E402
from mirror_targets import (  # noqa: E402
    MirrorServer, PyftpdTarget, drained, no_temp_files, wait_status)
from test_mirror_sftp import SftpBase  # noqa: E402


def _run(*cmd):
    return subprocess.run(list(cmd), capture_output=True, text=True,
                          timeout=30, stdin=subprocess.DEVNULL)


def exfat_root(case, folder, owner=None):
    """Mounts a new 16 MiB exFAT file system on folder (empty) for the
    test case, unmounted at its cleanup; skips the test where it cannot
    be. owner: a mirror_peers.SystemUser whose files they all are (and
    who may reach them: allow_other)."""
    for tool in ("mkfs.exfat", "mount.exfat-fuse", "losetup"):
        if shutil.which(tool) is None:
            case.skipTest("%s is not installed (exfatprogs, exfat-fuse)"
                          % tool)
    if os.geteuid() != 0 or not os.path.exists("/dev/fuse"):
        case.skipTest("needs root and /dev/fuse for an exFAT mount")
    img = folder.rstrip("/") + ".img"
    with open(img, "wb") as f:
        f.truncate(16 << 20)
    case.addCleanup(os.remove, img)
    r = _run("mkfs.exfat", img)
    if r.returncode != 0:
        case.skipTest("mkfs.exfat: %s" % r.stderr.strip())
    r = _run("losetup", "-f", "--show", img)
    if r.returncode != 0:
        case.skipTest("losetup: %s" % r.stderr.strip())
    loop = r.stdout.strip()
    case.addCleanup(_run, "losetup", "-d", loop)
    opts = []
    if owner is not None:
        opts = ["-o", "allow_other,uid=%d,gid=%d" % (owner.uid, owner.gid)]
    r = _run("mount.exfat-fuse", *opts, loop, folder)
    if r.returncode != 0:
        case.skipTest("mount.exfat-fuse: %s" % r.stderr.strip())
    case.addCleanup(_run, "umount", folder)
    # Ignores case indeed (else this test tests nothing).
    with open(os.path.join(folder, "Probe"), "w") as f:
        f.write("x")
    assert os.path.exists(os.path.join(folder, "PROBE"))
    os.remove(os.path.join(folder, "Probe"))


class CaseBlindTargetTest(unittest.TestCase):

    def setUp(self):
        self.p = PyftpdTarget(start=False)
        self.addCleanup(self.p.cleanup)
        exfat_root(self, self.p.root)
        self.p.start()
        # Stopped before the file system is unmounted (cleanups run
        # last in, first out).
        self.addCleanup(self.p.stop)
        self.start_mirror()

    def start_mirror(self):
        """relayftpd with the user alice mirrored to self.p."""
        self.srv = MirrorServer(
            users={"alice": {"password": "pw"}},
            mirror={"retry_initial": "1", "retry_max": "5",
                    "watch": "off"},
            targets={"p": self.p.target(
                "/base", propagate_deletes="on", propagate_renames="on")})
        self.addCleanup(self.srv.cleanup)

    def session(self):
        f = ftplib.FTP()
        f.connect("127.0.0.1", self.srv.port, timeout=30)
        f.login("alice", "pw")
        self.addCleanup(f.close)
        return f

    def mount_alive(self):
        """Skips the test where the target's exFAT mount is gone: its FUSE
        driver (exfat-fuse, a process of its own) died under the test,
        which then read ENOTCONN ("Transport endpoint is not connected")
        from every path (twice in some 15 runs of make test, on a loaded
        host: a crash of that driver, which relayftpd reaches only
        through the FTP server above it; the cause was not found).
        os.walk would take it for an empty folder."""
        try:
            os.stat(self.p.root)
        except OSError as e:
            if e.errno == errno.ENOTCONN:
                self.skipTest("the target's exFAT mount died under the "
                              "test (exfat-fuse: %s)" % e)
            raise

    def target_files(self):
        """{path under the user's folder: bytes} on the target."""
        self.mount_alive()
        top = self.p.dir("base", "alice")
        out = {}
        for d, _, files in os.walk(top):
            for n in files:
                try:
                    with open(os.path.join(d, n), "rb") as f:
                        out[os.path.relpath(os.path.join(d, n), top)] = \
                            f.read()
                except OSError as e:
                    if e.errno == errno.ENOTCONN:
                        self.mount_alive()
                    if not isinstance(e, (FileNotFoundError,
                                          IsADirectoryError)):
                        raise
                    # Removed while this looks (a push's temporary copy,
                    # a delete; or replaced by a folder of that name in
                    # another case).
                    pass
        return out

    def restart_streaming(self):
        """Restarts relayftpd sending uploads of 64 KiB or more while
        they arrive (stream_min_size)."""
        self.srv.stop()
        self.srv.mirror_opts["stream_min_size"] = "64K"
        self.srv.write_config()
        self.srv.start()

    def put(self, f, name, data):
        """STOR name (data), then waits until the mirror is idle."""
        f.storbinary("STOR " + name, io.BytesIO(data))
        self.drain()

    def wait_target(self, want):
        """Waits until the target holds want ({path: bytes}) and the
        mirror is idle, with no job parked; returns the target's
        status."""
        self.assertTrue(wait_for(
            lambda: self.target_files() == want, timeout=15),
            (self.target_files(), self.srv.log_text()[-3000:]))
        st = self.drain()
        self.assertEqual(self.target_files(), want,
                         self.srv.log_text()[-3000:])
        self.assertEqual(st["failed"], 0, st)
        return st

    def restart_after(self, files, there):
        """Puts files ({name: bytes}, in order), checks that the target
        holds there, restarts relayftpd (its target's letter case not
        known again) and returns a new session."""
        f = self.session()
        for name, data in files.items():
            self.put(f, name, data)
        self.assertEqual(self.target_files(), there,
                         self.srv.log_text()[-3000:])
        f.close()
        self.srv.stop()
        self.srv.start()
        return self.session()

    def drain(self):
        st = wait_status(self.srv, drained("p"), timeout=30)
        if (st["p"]["queued"], st["p"]["running"]) != (0, 0):
            self.mount_alive()  # pushes fail into a dead mount
        self.assertEqual((st["p"]["queued"], st["p"]["running"]), (0, 0),
                         self.srv.log_text()[-3000:])
        return st["p"]

    def test_two_names_one_case_keep_the_first_copy(self):
        f = self.session()
        f.storbinary("STOR A.txt", io.BytesIO(b"upper\n"))
        self.drain()
        f.storbinary("STOR a.txt", io.BytesIO(b"lower, other bytes\n"))
        st = self.drain()
        log = self.srv.log_text()
        # The first copy stays as it was; the second name is refused
        # once, saying which name and why, and shown in status.
        self.assertEqual(self.target_files(), {"A.txt": b"upper\n"}, log)
        self.assertIn("mirror push failed target=p path=/alice/a.txt "
                      "attempt=1: the target does not tell /alice/a.txt "
                      "from /alice/A.txt (it ignores letter case)", log)
        self.assertEqual(log.count("path=/alice/a.txt attempt="), 1, log)
        self.assertIn("ignores letter case", st["last_error"])
        self.assertEqual(st["failed"], 0)
        # The user deletes a.txt: A.txt's copy stays, with its bytes.
        f.delete("a.txt")
        self.assertTrue(wait_for(
            lambda: "mirror delete target=p path=/alice/a.txt: not deleted"
            in self.srv.log_text(), timeout=15),
            self.srv.log_text()[-3000:])
        self.drain()
        self.assertEqual(self.target_files(), {"A.txt": b"upper\n"},
                         self.srv.log_text()[-3000:])
        # Alone now, a.txt comes again and is mirrored.
        f.delete("A.txt")
        self.assertTrue(wait_for(
            lambda: "mirror delete target=p path=/alice/A.txt attempts="
            in self.srv.log_text(), timeout=15),
            self.srv.log_text()[-3000:])
        f.storbinary("STOR a.txt", io.BytesIO(b"lower again\n"))
        self.drain()
        self.assertEqual(self.target_files(), {"a.txt": b"lower again\n"},
                         self.srv.log_text()[-3000:])

    def sent(self, name):
        """How many whole copies of name the target was sent."""
        return len([line for line in self.p.log_text().splitlines()
                    if "STOR " in line and name + " completed=1" in line])

    def test_dropped_twin_is_not_sent_again_at_each_start(self):
        # a.txt is dropped beside A.txt. The start-up walk found it
        # not pushed and queued it at every start; the target's case
        # not known yet, its bytes went to a temporary copy whose
        # verify learnt the case, and it was dropped again: sent once a
        # start, an error logged once a start.
        f = self.session()
        self.put(f, "A.txt", b"upper\n")
        self.put(f, "a.txt", b"lower, other bytes\n")
        f.close()
        self.assertEqual(self.sent("a.txt"), 0, self.p.log_text())
        for _ in range(2):
            self.srv.stop()
            self.srv.start()
            self.put(self.session(), "c.txt", b"learns the case\n")
        log = self.srv.log_text()
        self.assertEqual(self.target_files(),
                         {"A.txt": b"upper\n", "c.txt": b"learns the case\n"},
                         log[-3000:])
        self.assertEqual(self.sent("a.txt"), 0, self.p.log_text())
        self.assertEqual(log.count("path=/alice/a.txt attempt="), 1,
                         log[-3000:])
        # A.txt removed by another program while the daemon is down: a.txt
        # may hold the name now, and the next start's walk sends it.
        self.srv.stop()
        os.remove(os.path.join(self.srv.home("alice"), "A.txt"))
        self.srv.start()
        self.wait_target({"a.txt": b"lower, other bytes\n",
                          "c.txt": b"learns the case\n"})

    def test_a_long_folder_read_holds_up_no_upload(self):
        # Each push reads the folders of its path in the home for names
        # that differ only in case. It read them under the user's change
        # lock, which every upload, MKD or DELE of the user takes: with
        # a folder of 99,500 names another session's uploads waited 38 ms
        # each (7 ms on a target that tells cases apart). The fault
        # library holds the read of one folder until the test lets go.
        self.srv.stop()
        inj = Faults(self)
        inj.start(self.start_mirror)
        a = self.session()
        self.put(a, "first.txt", b"1\n")
        self.assertIn("ignores letter case", self.srv.log_text())
        a.mkd("slowdir")
        self.drain()
        inj.arm("readdir -25000 0 1 slowdir")
        a.storbinary("STOR slowdir/x.txt", io.BytesIO(b"x\n"))
        self.assertTrue(wait_for(
            lambda: "FAULT readdir(" in self.srv.log_text(), timeout=15),
            self.srv.log_text()[-3000:])
        # Another session of the user publishes while the read is held.
        b = self.session()
        b.storbinary("STOR b.txt", io.BytesIO(b"b\n"))
        self.assertNotIn("let go", self.srv.log_text())
        inj.disarm()
        self.wait_target({"first.txt": b"1\n", "slowdir/x.txt": b"x\n",
                          "b.txt": b"b\n"})
        self.assertIn("let go", self.srv.log_text())

    def test_deleted_twin_gives_the_name_to_the_other(self):
        # The second name first sent (not known to be a twin then:
        # A.txt's push finds a.txt's copy there) and the first deleted:
        # the name's copy is the one the home keeps.
        f = self.session()
        f.storbinary("STOR a.txt", io.BytesIO(b"lower\n"))
        self.drain()
        f.storbinary("STOR A.txt", io.BytesIO(b"upper, kept\n"))
        self.drain()
        self.assertEqual(self.target_files(), {"a.txt": b"lower\n"},
                         self.srv.log_text()[-3000:])
        # The name's holder still takes its new versions (A.txt sorts
        # first, but its copy is not there).
        f.storbinary("STOR a.txt", io.BytesIO(b"lower, version 2\n"))
        self.drain()
        self.assertEqual(self.target_files(),
                         {"a.txt": b"lower, version 2\n"},
                         self.srv.log_text()[-3000:])
        f.delete("a.txt")
        self.assertTrue(wait_for(
            lambda: self.target_files() == {"A.txt": b"upper, kept\n"},
            timeout=15), (self.target_files(),
                          self.srv.log_text()[-3000:]))
        self.drain()
        self.assertEqual(self.target_files(), {"A.txt": b"upper, kept\n"})

    def test_not_known_yet_after_a_restart(self):
        # The target's case is learnt again after a restart: the first
        # push then is the twin's, and its copy must still not get the
        # name.
        f = self.session()
        f.storbinary("STOR Report.pdf", io.BytesIO(b"first report\n"))
        self.drain()
        f.close()
        self.srv.stop()
        self.srv.start()
        f = self.session()
        f.storbinary("STOR report.PDF", io.BytesIO(b"another file\n"))
        self.assertTrue(wait_for(
            lambda: "path=/alice/report.PDF attempt=1: the target does "
            "not tell this name from /alice/Report.pdf" in
            self.srv.log_text(), timeout=15), self.srv.log_text()[-3000:])
        self.drain()
        self.assertEqual(self.target_files(),
                         {"Report.pdf": b"first report\n"},
                         self.srv.log_text()[-3000:])

    def test_twin_dropped_after_a_restart_is_not_sent_again(self):
        # Dropped by the verify that learnt the case (the first push
        # after a restart): sent once then, never at the next start.
        f = self.restart_after({"Report.pdf": b"first report\n"},
                               {"Report.pdf": b"first report\n"})
        self.put(f, "report.PDF", b"another file\n")
        self.assertEqual(self.sent("report.PDF"), 1, self.p.log_text())
        f.close()
        self.srv.stop()
        self.srv.start()
        self.put(self.session(), "c.txt", b"learns the case\n")
        self.assertEqual(self.target_files(),
                         {"Report.pdf": b"first report\n",
                          "c.txt": b"learns the case\n"})
        self.assertEqual(self.sent("report.PDF"), 1, self.p.log_text())

    def test_streamed_twin_not_known_yet_keeps_off_the_copy(self):
        # After a restart the target's case is learnt by the twin's own
        # copy, sent while it arrived (stream_min_size, 8M by default),
        # whose verify was its connection's first request: it learnt
        # nothing, and video.MP4 replaced Video.mp4's copy there.
        f = self.session()
        f.storbinary("STOR Video.mp4", io.BytesIO(b"first video\n"))
        self.drain()
        f.close()
        self.restart_streaming()
        f = self.session()
        f.storbinary("STOR video.MP4", io.BytesIO(b"v" * (512 << 10)))
        self.assertTrue(wait_for(
            lambda: "path=/alice/video.MP4 attempt=1: the target does "
            "not tell" in self.srv.log_text(), timeout=15),
            (self.target_files().keys(), self.srv.log_text()[-3000:]))
        self.drain()
        self.assertEqual(self.target_files(),
                         {"Video.mp4": b"first video\n"})
        # Sent once: refused its name, the copy was not pushed whole a
        # second time only to be refused again.
        sent = [line for line in self.p.log_text().splitlines()
                if "STOR " in line and "video.MP4 completed=1" in line]
        self.assertEqual(len(sent), 1, (sent, self.srv.log_text()[-3000:]))

    def test_case_only_renames_reach_the_target(self):
        f = self.session()
        f.storbinary("STOR a.txt", io.BytesIO(b"one\n"))
        f.mkd("Dir")
        f.storbinary("STOR Dir/in.txt", io.BytesIO(b"in\n"))
        self.drain()
        f.rename("a.txt", "A.txt")
        f.rename("Dir", "dir")
        self.drain()
        self.assertEqual(self.target_files(),
                         {"A.txt": b"one\n", "dir/in.txt": b"in\n"},
                         self.srv.log_text()[-3000:])
        self.assertEqual(sorted(os.listdir(self.p.dir("base", "alice"))),
                         ["A.txt", "dir"])
        # Moved there by the rename, not pushed again.
        log = self.srv.log_text()
        self.assertEqual(log.count("mirror push target=p path=/alice/A.txt"),
                         0, log[-3000:])
        self.assertNotIn("is pushed again", log)

    def test_folder_where_a_file_holds_the_name_holds_up_nothing(self):
        # The home has the file "x" and the folder "X" (with a file): on
        # the target "X" is the file. Its MKD was refused at every retry
        # and paused the whole target; now both jobs are dropped once,
        # saying why, and the target's other files go on.
        f = self.session()
        f.storbinary("STOR x", io.BytesIO(b"file x\n"))
        self.drain()
        f.mkd("X")
        f.storbinary("STOR X/y", io.BytesIO(b"y\n"))
        for i in range(10):
            f.storbinary("STOR z%d.txt" % i, io.BytesIO(b"z %d\n" % i))
        st = self.drain()
        log = self.srv.log_text()
        self.assertEqual(st["failed"], 0, log[-3000:])
        self.assertEqual(st["state"], "up", st)
        want = {"x": b"file x\n"}
        want.update({"z%d.txt" % i: b"z %d\n" % i for i in range(10)})
        self.assertEqual(self.target_files(), want, log[-3000:])
        for path in ("/alice/X", "/alice/X/y"):
            self.assertEqual(log.count("path=%s attempt=" % path), 1, log)
        self.assertIn("path=/alice/X attempt=1: the target does not tell "
                      "/alice/X from /alice/x (it ignores letter case)", log)
        # The file x deleted, the folder takes the name with its file
        # (the delete pushed "/X" as a file again, and its MKD was
        # refused for ever by the file x kept there).
        f.delete("x")
        self.assertTrue(wait_for(
            lambda: "X/y" in self.target_files(), timeout=15),
            self.srv.log_text()[-3000:])
        st = self.drain()
        del want["x"]
        want["X/y"] = b"y\n"
        self.assertEqual(self.target_files(), want,
                         self.srv.log_text()[-3000:])
        self.assertEqual((st["failed"], st["state"]), (0, "up"), st)

    def test_own_folder_in_another_case_parks_the_file(self):
        # A folder of the target's own, "REPORT", holds the name of the
        # home's file "report" there. The probe of a refused file's name
        # compared the listing's names in their case: the folder went
        # unseen and the file was refused and tried again for ever (4
        # tries in 15 s). Now it is parked at its first refusal, named,
        # and `mirror retry` sends it once the folder is moved.
        f = self.session()
        self.put(f, "first", b"1")
        d = self.p.dir("base", "alice")
        os.makedirs(os.path.join(d, "REPORT"))
        with open(os.path.join(d, "REPORT", "keep.txt"), "wb") as g:
            g.write(b"the target's own")
        f.storbinary("STOR report", io.BytesIO(b"r" * 100))
        st = wait_status(self.srv, lambda s: s["p"]["failed"] == 1,
                         timeout=15)["p"]
        log = self.srv.log_text()
        self.assertEqual((st["failed"], st["queued"]), (1, 0),
                         log[-3000:])
        self.assertIn("holds a folder of its own at", st["last_error"])
        self.assertIn("/base/alice/report", st["last_error"])
        self.assertEqual(log.count("path=/alice/report attempt="), 1, log)
        self.assertIn("parked as failed", log)
        self.put(f, "more", b"m")
        self.assertEqual(self.target_files(),
                         {"first": b"1", "more": b"m",
                          "REPORT/keep.txt": b"the target's own"})
        shutil.rmtree(os.path.join(d, "REPORT"))
        r = self.srv.retry("p")
        self.assertEqual((r.returncode, r.stdout.strip()),
                         (0, "requeued 1 parked jobs"), r.stderr)
        self.wait_target({"first": b"1", "more": b"m", "report": b"r" * 100})

    def test_names_the_target_refuses_are_named_and_not_retried(self):
        # exFAT takes no ':', '?' or '*' (exfat-fuse says "No such file
        # or directory"): such pushes were refused at every retry, for
        # ever, and mirror status gave the 550 without a name.
        f = self.session()
        f.storbinary("STOR first.txt", io.BytesIO(b"first\n"))
        self.drain()
        bad = ["12:30:00.jpg", "why?.txt", "star*.txt"]
        for name in bad:
            f.storbinary("STOR " + name, io.BytesIO(b"bad\n"))
        f.mkd("d")
        f.storbinary("STOR d/ok.txt", io.BytesIO(b"ok\n"))
        st = self.drain()
        log = self.srv.log_text()
        self.assertEqual(self.target_files(),
                         {"first.txt": b"first\n", "d/ok.txt": b"ok\n"},
                         log[-3000:])
        for name, what in zip(bad, ("':'", "'?'", "'*'")):
            self.assertEqual(log.count("path=/alice/%s attempt=" % name), 1,
                             log[-3000:])
            self.assertIn("path=/alice/%s attempt=1: the name /alice/%s "
                          "holds %s, which the target refuses" %
                          (name, name, what), log)
        self.assertEqual(st["failed"], 0)
        self.assertIn("which the target refuses", st["last_error"])
        self.assertIn("/alice/", st["last_error"])

    def test_renames_beside_a_twin_move_no_twin_copy(self):
        # A.txt holds the name; a.txt was not pushed for it. Renamed,
        # a.txt's RNFR moved A.txt's copy to c.txt (c.txt there had
        # A.txt's bytes, A.txt was gone); b.txt renamed to a.txt
        # replaced A.txt's copy by RNTO. Found from outside.
        f = self.session()
        f.storbinary("STOR A.txt", io.BytesIO(b"upper\n"))
        self.drain()
        f.storbinary("STOR a.txt", io.BytesIO(b"lower\n"))
        f.storbinary("STOR b.txt", io.BytesIO(b"bee\n"))
        self.drain()
        f.rename("a.txt", "c.txt")
        self.drain()
        self.assertEqual(self.target_files(),
                         {"A.txt": b"upper\n", "c.txt": b"lower\n",
                          "b.txt": b"bee\n"}, self.srv.log_text()[-3000:])
        f.rename("b.txt", "a.txt")
        self.drain()
        log = self.srv.log_text()
        # A.txt keeps its copy; a.txt cannot be there, and the log says
        # so (b.txt's copy stays, as with renames off).
        self.assertEqual(self.target_files()["A.txt"], b"upper\n", log)
        self.assertNotIn("a.txt", self.target_files(), log)
        self.assertIn("mirror push failed target=p path=/alice/b.txt "
                      "attempt=1: the target does not tell /alice/a.txt "
                      "from /alice/A.txt", log)

    def test_rename_onto_a_twin_right_after_a_restart(self):
        # A.txt holds the name, b.txt is there too. After a restart no
        # push has learnt yet that the target ignores case, and the
        # first job is b.txt renamed to a.txt: its RNTO replaced A.txt's
        # copy with b.txt's bytes, which the home keeps apart.
        both = {"A.txt": b"upper\n", "b.txt": b"bee\n"}
        f = self.restart_after(both, both)
        f.rename("b.txt", "a.txt")
        self.assertTrue(wait_for(
            lambda: "path=/alice/b.txt to=/alice/a.txt" in
            self.srv.log_text() or "path=/alice/b.txt attempt=" in
            self.srv.log_text(), timeout=15), self.srv.log_text()[-3000:])
        st = self.drain()
        log = self.srv.log_text()
        # A.txt keeps its copy; a.txt cannot be there (b.txt's copy
        # went first, as RNFR would have moved it: the case was not
        # known yet), and the log says why.
        self.assertEqual(self.target_files(), {"A.txt": b"upper\n"}, log)
        self.assertIn("mirror push failed target=p path=/alice/b.txt "
                      "attempt=1: the target does not tell this name "
                      "from /alice/A.txt", log)
        self.assertEqual(st["failed"], 0, st)

    def target_folders(self):
        """The folders under the user's folder on the target."""
        self.mount_alive()
        top = self.p.dir("base", "alice")
        return sorted(os.path.relpath(os.path.join(d, n), top)
                      for d, dirs, _ in os.walk(top) for n in dirs)

    def twin_folders(self):
        """Makes the folders X (with f1, pushed) and x, one folder on a
        target that ignores case; returns the session."""
        f = self.session()
        f.mkd("X")
        self.put(f, "X/f1", b"one\n")
        f.mkd("x")
        return f

    def test_folder_renamed_beside_its_twin(self):
        # "X" (with f1) and "x" (with f2 and sub/g) are one folder
        # there; x renamed to y went out as RNFR x, which moved the
        # whole folder: X's f1 to y/f1, X gone from the target (found
        # from outside).
        f = self.twin_folders()
        f.mkd("x/sub")
        self.put(f, "x/f2", b"two\n")
        self.put(f, "x/sub/g", b"gee\n")
        f.rename("x", "y")
        st = self.wait_target({"X/f1": b"one\n", "y/f2": b"two\n",
                               "y/sub/g": b"gee\n"})
        self.assertEqual(self.target_folders(), ["X", "y", "y/sub"],
                         self.srv.log_text()[-3000:])
        self.assertEqual(st["state"], "up", st)

    def test_folder_renamed_beside_its_twin_then_changed(self):
        # x renamed to y beside X, then y/f2 deleted before the rename
        # ran (it waits for x/h's push, the target down meanwhile): the
        # old name's copies were found by walking the home's y, which no
        # longer had f2, so x/f2's copy (in X there) stayed on the
        # target for good.
        f = self.twin_folders()
        f.mkd("x/sub")
        self.put(f, "x/f2", b"two\n")
        self.put(f, "x/sub/g", b"gee\n")
        self.p.stop()
        f.storbinary("STOR x/h", io.BytesIO(b"aitch\n"))
        self.assertTrue(wait_for(
            lambda: "path=/alice/x/h attempt=1" in self.srv.log_text(),
            timeout=15), self.srv.log_text()[-3000:])
        f.rename("x", "y")
        f.delete("y/f2")
        self.p.start()
        self.wait_target({"X/f1": b"one\n", "y/sub/g": b"gee\n",
                          "y/h": b"aitch\n"})

    def test_rename_beside_a_twin_then_deleted_right_after_a_restart(self):
        # As CaseTellingTargetTest's: the renamed name's copy there is
        # its twin's, deleted with the old name and pushed again.
        for old, keep in (("a.txt", "A.txt"), ("A.txt", "a.txt")):
            with self.subTest(renamed=old):
                f = self.session()
                self.put(f, "A.txt", b"A.txt\n")
                self.put(f, "a.txt", b"a.txt\n")
                self.assertEqual(self.target_files(), {"A.txt": b"A.txt\n"},
                                 self.srv.log_text()[-3000:])
                f.close()
                self.srv.stop()
                self.srv.start()
                f = self.session()
                self.p.stop()
                f.rename(old, "c.txt")
                f.delete("c.txt")
                self.p.start()
                self.assertTrue(wait_for(
                    lambda: list(self.target_files().values()) ==
                    [keep.encode() + b"\n"], timeout=15),
                    (self.target_files(), self.srv.log_text()[-3000:]))
                self.drain()
                f.delete(keep)
                self.wait_target({})

    def test_rename_beside_a_twin_onto_a_refused_name_right_after_a_restart(
            self):
        # After a restart (the target's case not known yet) another
        # program puts a.txt beside A.txt, whose copy holds the name
        # there; a client renames a.txt to a name the target refuses.
        # The old name's copy (A.txt's) went first, and the twin was
        # queued again only after a push of the new name that worked:
        # the refused push left the target without A.txt for good.
        f = self.restart_after({"A.txt": b"upper\n"}, {"A.txt": b"upper\n"})
        self.assertTrue(wait_for(
            lambda: "start-up walk of the homes done" in
            self.srv.log_text(), timeout=15), self.srv.log_text()[-3000:])
        with open(os.path.join(self.srv.home("alice"), "a.txt"), "wb") as h:
            h.write(b"lower\n")
        f.rename("a.txt", "12:30.txt")
        self.assertTrue(wait_for(
            lambda: "path=/alice/a.txt attempt=" in self.srv.log_text() or
            "path=/alice/a.txt to=/alice/12:30.txt" in self.srv.log_text(),
            timeout=15), self.srv.log_text()[-3000:])
        self.wait_target({"A.txt": b"upper\n"})

    def test_folder_renamed_beside_its_twin_right_after_a_restart(self):
        # The same as the first thing after a restart: no push has
        # learnt yet in this run that the target ignores case, so the
        # folder is renamed there (on a target that tells cases apart
        # that is right, CaseTellingTargetTest), and here it takes X's
        # file along, as README says.
        f = self.twin_folders()
        f = self.restart_after({"x/f2": b"two\n"},
                               {"X/f1": b"one\n", "X/f2": b"two\n"})
        f.rename("x", "y")
        st = self.wait_target({"y/f1": b"one\n", "y/f2": b"two\n"})
        self.assertEqual(st["state"], "up", st)

    def test_folder_removed_beside_its_twin_right_after_a_restart(self):
        # Its case not known yet, RMD x is sent and refused ("550
        # Directory not empty": X's file is in it there); the log told
        # the admin to remove it by hand, which would delete X/f1.
        self.twin_folders().close()
        self.srv.stop()
        self.srv.start()
        f = self.session()
        f.rmd("x")
        self.assertTrue(wait_for(
            lambda: "mirror rmdir target=p path=/alice/x" in
            self.srv.log_text() or "path=/alice/x: rmdir" in
            self.srv.log_text(), timeout=15), self.srv.log_text()[-3000:])
        st = self.drain()
        log = self.srv.log_text()
        self.assertEqual(self.target_files(), {"X/f1": b"one\n"}, log)
        self.assertNotIn("by hand", log)
        self.assertIn("mirror rmdir target=p path=/alice/x: not removed: "
                      "the target keeps it beside /alice/X", log)
        self.assertEqual((st["failed"], st["state"]), (0, "up"), st)

    def test_holder_folder_renamed_beside_its_twin(self):
        # The same, the folder that made the name there renamed: its
        # files go with it, x's stay under the name.
        f = self.twin_folders()
        self.put(f, "x/f2", b"two\n")
        f.rename("X", "y")
        st = self.wait_target({"X/f2": b"two\n", "y/f1": b"one\n"})
        self.assertEqual(st["state"], "up", st)

    def test_renamed_holder_gives_the_name_to_its_twin(self):
        # A.txt holds the name; a.txt was not pushed for it. The user
        # renames A.txt away (as README says: rename one of the two to
        # have both mirrored): A.txt's copy moved to c.txt, and a.txt
        # never came, the name free there (found from outside).
        f = self.session()
        self.put(f, "A.txt", b"upper\n")
        self.put(f, "a.txt", b"lower\n")
        self.assertEqual(self.target_files(), {"A.txt": b"upper\n"},
                         self.srv.log_text()[-3000:])
        f.rename("A.txt", "c.txt")
        self.wait_target({"a.txt": b"lower\n", "c.txt": b"upper\n"})

    def test_streamed_twin_leaves_no_copy_there(self):
        # a.txt beside A.txt, large enough to be sent while it arrived:
        # its push is dropped before its bytes go, and the copy sent
        # meanwhile (a temporary name on the target, the upload held
        # open) waited ten minutes for a taker that never came.
        self.restart_streaming()
        f = self.session()
        f.storbinary("STOR A.txt", io.BytesIO(b"upper\n"))
        self.drain()
        f.storbinary("STOR a.txt", io.BytesIO(b"x" * (512 << 10)))
        self.assertTrue(wait_for(
            lambda: "path=/alice/a.txt attempt=1: the target does not "
            "tell" in self.srv.log_text(), timeout=15),
            self.srv.log_text()[-3000:])
        self.drain()
        # The copy was sent (else this tests nothing), and is gone.
        self.assertTrue(wait_for(
            lambda: "rftpd-tmp." in self.p.log_text() and
            "a.txt completed=1" in self.p.log_text(), timeout=15),
            self.p.log_text()[-3000:])
        top = self.p.dir("base")
        self.assertEqual(no_temp_files(top, timeout=15), [],
                         self.srv.log_text()[-3000:])
        self.assertEqual(self.target_files(), {"A.txt": b"upper\n"})

    def test_a_link_is_no_twin(self):
        # The mirror never follows a symbolic link, so a link "A.txt"
        # never holds the name there; a.txt beside it was dropped for it
        # all the same, and its delete kept its copy there for good.
        f = self.session()
        f.storbinary("STOR first.txt", io.BytesIO(b"first\n"))
        self.drain()
        home = self.srv.home("alice")
        os.symlink("first.txt", os.path.join(home, "A.txt"))
        f.storbinary("STOR a.txt", io.BytesIO(b"lower\n"))
        st = self.drain()
        self.assertEqual(self.target_files(),
                         {"first.txt": b"first\n", "a.txt": b"lower\n"},
                         self.srv.log_text()[-3000:])
        self.assertEqual(st["failed"], 0, st)
        f.delete("a.txt")
        self.assertTrue(wait_for(
            lambda: "a.txt" not in self.target_files(), timeout=15),
            self.srv.log_text()[-3000:])
        st = self.drain()
        self.assertEqual(self.target_files(), {"first.txt": b"first\n"},
                         self.srv.log_text()[-3000:])
        self.assertEqual(st["failed"], 0, st)

    def test_folder_removed_beside_its_twin_keeps_the_twin(self):
        # "e" and "x" made and removed beside the home's folders "E"
        # (empty) and "X" (with a file): RMD "e" removed E there, and
        # RMD "x" was refused for X's file, with a word to remove the
        # folder by hand (found from outside).
        f = self.session()
        f.mkd("E")
        f.mkd("X")
        f.storbinary("STOR X/y", io.BytesIO(b"upper y\n"))
        self.drain()
        f.mkd("e")
        f.mkd("x")
        self.drain()
        f.rmd("e")
        f.rmd("x")
        st = self.drain()
        log = self.srv.log_text()
        self.assertEqual(sorted(os.listdir(self.p.dir("base", "alice"))),
                         ["E", "X"], log[-3000:])
        self.assertEqual(self.target_files(), {"X/y": b"upper y\n"}, log)
        self.assertIn("mirror rmdir target=p path=/alice/e: not removed: "
                      "the target does not tell it from /alice/E", log)
        self.assertNotIn("by hand", log)
        self.assertEqual(st["failed"], 0, st)

    def test_same_name_in_folders_that_differ_in_case(self):
        # "X/y" and "x/y" are one file on the target ("X" and "x" are
        # one folder there): x/y replaced X/y's copy, and its delete
        # removed it (found from outside).
        f = self.session()
        f.mkd("X")
        f.storbinary("STOR X/y", io.BytesIO(b"upper y\n"))
        self.drain()
        f.mkd("x")
        f.storbinary("STOR x/y", io.BytesIO(b"lower y\n"))
        f.storbinary("STOR x/z", io.BytesIO(b"z, alone\n"))
        self.drain()
        log = self.srv.log_text()
        self.assertIn("path=/alice/x/y attempt=1: the target does not tell "
                      "/alice/x/y from /alice/X/y", log)
        self.assertEqual(self.target_files(),
                         {"X/y": b"upper y\n", "X/z": b"z, alone\n"}, log)
        f.delete("x/y")
        self.assertTrue(wait_for(
            lambda: "mirror delete target=p path=/alice/x/y: not deleted"
            in self.srv.log_text(), timeout=15),
            self.srv.log_text()[-3000:])
        self.drain()
        self.assertEqual(self.target_files(),
                         {"X/y": b"upper y\n", "X/z": b"z, alone\n"},
                         self.srv.log_text()[-3000:])


class CaseTellingTargetTest(unittest.TestCase):
    """The same mirror to a target that tells letter cases apart (a
    plain folder): both twins are there, and a rename beside one is a
    rename there too."""

    session = CaseBlindTargetTest.session
    mount_alive = CaseBlindTargetTest.mount_alive
    target_files = CaseBlindTargetTest.target_files
    put = CaseBlindTargetTest.put
    drain = CaseBlindTargetTest.drain
    restart_after = CaseBlindTargetTest.restart_after
    wait_target = CaseBlindTargetTest.wait_target
    target_folders = CaseBlindTargetTest.target_folders
    start_mirror = CaseBlindTargetTest.start_mirror

    def setUp(self):
        self.p = PyftpdTarget()
        self.addCleanup(self.p.cleanup)
        self.start_mirror()

    def test_rename_beside_a_twin_right_after_a_restart(self):
        # Its case not known yet after the restart, the rename is pushed
        # as its new name (the target might ignore case); learnt that it
        # does not, the old name's copy goes, as RNFR would have moved
        # it: no stale a.txt left there.
        both = {"A.txt": b"upper\n", "a.txt": b"lower\n"}
        f = self.restart_after(both, both)
        f.rename("a.txt", "c.txt")
        self.wait_target({"A.txt": b"upper\n", "c.txt": b"lower\n"})
        self.assertIn("which the target may not tell", self.srv.log_text())
        # Its record moved too: the delete of c.txt removes the copy.
        f.delete("c.txt")
        self.wait_target({"A.txt": b"upper\n"})

    def test_rename_beside_a_twin_then_deleted_right_after_a_restart(self):
        # The rename pushed as its new name, which the home no longer
        # has when it runs (deleted while the target was down): the push
        # is skipped, nothing learns the target's case, and a.txt's copy
        # stayed there for good (found by a review).
        both = {"A.txt": b"upper\n", "a.txt": b"lower\n"}
        f = self.restart_after(both, both)
        self.p.stop()
        f.rename("a.txt", "c.txt")
        f.delete("c.txt")
        self.p.start()
        self.wait_target({"A.txt": b"upper\n"})

    def test_folder_renamed_beside_its_twin_right_after_a_restart(self):
        # Its case not known yet, the rename is made as a delete of the
        # old name's copies and a push of the new folder: here too the
        # target ends as the home (x gone, X kept with its file).
        f = self.session()
        f.mkd("X")
        f.mkd("x")
        f = self.restart_after({"X/f1": b"one\n", "x/f2": b"two\n"},
                               {"X/f1": b"one\n", "x/f2": b"two\n"})
        f.rename("x", "y")
        self.wait_target({"X/f1": b"one\n", "y/f2": b"two\n"})
        self.assertTrue(wait_for(
            lambda: self.target_folders() == ["X", "y"], timeout=15),
            (self.target_folders(), self.srv.log_text()[-3000:]))

    def test_folder_renamed_onto_a_twins_name_then_changed(self):
        # After a restart (the target's case not known yet), x renamed
        # to B beside the home's b, then B/f1 renamed to B/g, all while
        # the target was down. The rename was made as deletes of the
        # copies the home's B names (x/g: none there) and a push of B:
        # x/f1 and x stayed on the target for good (found by
        # test_converge). The rename is right here.
        f = self.session()
        f.mkd("b")
        f.mkd("x")
        f = self.restart_after({"x/f1": b"one\n"}, {"x/f1": b"one\n"})
        self.p.stop()
        f.rename("x", "B")
        f.rename("B/f1", "B/g")
        self.p.start()
        self.wait_target({"B/g": b"one\n"})
        self.assertTrue(wait_for(
            lambda: self.target_folders() == ["B", "b"], timeout=15),
            (self.target_folders(), self.srv.log_text()[-3000:]))

class SftpCaseBlindTest(SftpBase):
    """The same over sftp: OpenSSH's internal-sftp on an exFAT folder."""

    def test_sftp_twin_is_not_published_nor_deleted(self):
        sshd = self.sshd()
        nas = os.path.join(self.data, "nas")
        make_tree_dir(nas, owner=self.user)
        exfat_root(self, nas, owner=self.user)
        srv = self.mirror_server(
            {"s": {"url": sshd.url(nas), "verify": "size",
                   "host_key_sha256": sshd.host_key_sha256(),
                   "propagate_deletes": "on"}},
            mirror={"watch": "off", "retry_initial": "1",
                    "retry_max": "2"})
        f = self.ftp(srv)
        dest = os.path.join(nas, "alice")
        self.put(f, "/Photo.JPG", b"the photo")
        self.assertArrived(dest, {"Photo.JPG": b"the photo"}, srv)
        self.put(f, "/photo.jpg", b"another photo, other bytes")
        self.assertTrue(wait_for(
            lambda: "path=/alice/photo.jpg attempt=1: the target does not "
            "tell /alice/photo.jpg from /alice/Photo.JPG" in srv.log_text(),
            timeout=20), self.diag(srv))
        self.assertDrained(srv)
        f.delete("/photo.jpg")
        self.assertTrue(wait_for(
            lambda: "mirror delete target=s path=/alice/photo.jpg: not "
            "deleted" in srv.log_text(), timeout=20), self.diag(srv))
        self.assertDrained(srv)
        self.assertEqual(sorted(os.listdir(dest)), ["Photo.JPG"])
        with open(os.path.join(dest, "Photo.JPG"), "rb") as g:
            self.assertEqual(g.read(), b"the photo")


class VsftpdNoSizeCaseBlindTest(test_mirror_more.Base):
    """vsftpd without SIZE in cmds_allowed on an exFAT folder: it answers
    every SIZE "550 Permission denied.", also the one for the copy's
    name in the other case, which read as "no such name": the target was
    taken to tell cases apart, and photo.jpg replaced Photo.JPG's copy
    there. MDTM asks instead."""

    def test_twin_is_not_published_over_the_copy(self):
        self.twin_is_not_published_over_the_copy(
            test_mirror_more.VSFTPD_NO_SIZE)

    def test_twin_is_not_published_over_the_copy_without_mdtm(self):
        # Nor MDTM allowed: the target was taken to tell cases apart
        # again, and photo.jpg replaced Photo.JPG's copy there. RNFR
        # (which every publish of a copy sends) asks instead.
        self.twin_is_not_published_over_the_copy(
            test_mirror_more.VSFTPD_NO_SIZE.replace("MDTM,", ""))

    def twin_is_not_published_over_the_copy(self, allowed):
        self.user = self.system_user(mirror_peers.VSFTPD)
        v = VsftpdPeer(self.user, extra=[allowed], start=False)
        self.addCleanup(v.cleanup)
        nas = os.path.join(v.root, "nas")
        make_tree_dir(nas, owner=self.user)
        exfat_root(self, nas, owner=self.user)
        v.start()
        self.addCleanup(v.stop)
        srv = self.mirror_server(
            {"v": v.target("/nas")},
            mirror={"watch": "off", "retry_initial": "1", "retry_max": "2"})
        f = self.ftp(srv)
        dest = os.path.join(nas, "alice")
        self.put(f, "/Photo.JPG", b"the photo")
        self.assertArrived(dest, {"Photo.JPG": b"the photo"}, srv, v)
        self.put(f, "/photo.jpg", b"another photo, other bytes")
        self.assertTrue(wait_for(
            lambda: "path=/alice/photo.jpg attempt=1: the target does not "
            "tell /alice/photo.jpg from /alice/Photo.JPG" in srv.log_text(),
            timeout=20), self.diag(srv, v))
        self.assertDrained(srv)
        self.assertEqual(sorted(os.listdir(dest)), ["Photo.JPG"])
        with open(os.path.join(dest, "Photo.JPG"), "rb") as g:
            self.assertEqual(g.read(), b"the photo")


if __name__ == "__main__":
    unittest.main()
