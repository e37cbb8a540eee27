"""Quota holes (issue 8, section 3), over the wire.

- A replace racing a delete of the same name: the commit accounts for what
  the name holds at the moment of the rename (under the user's names lock),
  never for the size it saw when the upload began. Per round, the bytes on
  disk stay within quota_bytes and STAT's usage equals the disk.
- The login count sees everything: folders nested deeper than 256 levels
  with paths over 4,096 bytes count; a folder the server cannot read (run_as
  drops root's rights; root itself reads a mode-000 folder) makes writes fail
  closed (552 and a log line naming the folder) until a later login counts
  the home completely; and another user's login is not held behind a
  400,000-entry count (proved while that count is visibly in progress in
  /proc), while a second login of the counted user waits for the numbers.
- Folders count toward quota_files; max_entries_per_folder caps the names a
  folder may hold against STOR, STOU, APPE, MKD and RNTO of new names, and
  lends one name at a time to a replace's partial; a refused upload makes
  no partial;
- A replace that never ends (a reset mid-data, an APPE whose data
  connection never comes) keeps for a resume only the part of its partial
  that fits beside the file it was to replace: the home stays within
  quota_bytes, quota_files and the folder cap at rest;
- A disk that fills mid-upload leaves the usage equal to the disk;
  `check` reports a bad value as FILE:LINE: key.

Trees deeper than PATH_MAX are built and inspected through relative
descriptors (dir_fd), as the server must. Every wait is bounded. About 35 s,
most of it making and removing the 400,000 files.
"""
import ctypes
import os
import pwd
import re
import resource
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BINARY, Control, ServerCase, hash_password,  # noqa: E402
                     run_threads, trace_syscalls, wait_for)

K = 1024
PARTIAL = ".rftpd-partial."
RUN_AS = "nobody"


def payload(n, seed=b"q"):
    return (seed * n)[:n]


def disk_usage(root):
    """(bytes of regular files, files + folders) under root, partials
    included, walked by descriptors so depth and path length do not
    matter."""
    total = entries = 0
    stack = [os.open(root, os.O_RDONLY | os.O_DIRECTORY)]
    while stack:
        fd = stack.pop()
        try:
            for e in os.scandir(fd):
                st = e.stat(follow_symlinks=False)
                entries += 1
                if e.is_dir(follow_symlinks=False):
                    stack.append(os.open(e.name, os.O_RDONLY |
                                         os.O_DIRECTORY, dir_fd=fd))
                elif e.is_file(follow_symlinks=False):
                    total += st.st_size
                else:
                    entries -= 1  # symlinks and others are not counted
        finally:
            os.close(fd)
    return total, entries


def partials(root):
    return [n for _, _, names in os.walk(root) for n in names
            if n.startswith(PARTIAL)]


def stat_usage(c):
    """(bytes, entries) from STAT's quota line."""
    code, text = c.cmd("STAT")
    assert code == 211, text
    m = re.search(r"Quota: (\d+) of \d+ bytes, (\d+) of \d+ files", text)
    assert m, text
    return int(m.group(1)), int(m.group(2))


def inotify_creates(case, folder):
    """Watches folder for new names (inotify IN_CREATE); returns a function
    that returns the names made there since the last call. Every event is
    queued by the kernel as the name is made, so the names of what the
    server made before its reply are there once the reply is."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    if fd < 0:
        case.skipTest("no inotify: errno %d" % ctypes.get_errno())
    case.addCleanup(os.close, fd)
    if libc.inotify_add_watch(fd, os.fsencode(folder), 0x100) < 0:
        case.skipTest("no inotify watch: errno %d" % ctypes.get_errno())

    def made():
        names = []
        for _ in range(1000):
            try:
                buf = os.read(fd, 65536)
            except BlockingIOError:
                break
            off = 0
            while off < len(buf):
                ln = struct.unpack_from("iIII", buf, off)[3]
                names.append(buf[off + 16:off + 16 + ln].rstrip(b"\0")
                             .decode(errors="replace"))
                off += 16 + ln
        return names
    return made


def make_nested(top, levels, name, data):
    """levels nested folders called name under top, with data in a file at
    the bottom; built relative to descriptors (the path is far beyond
    PATH_MAX)."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(levels):
            os.mkdir(name, dir_fd=fd)
            nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        f = os.open("bottom.bin", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(f, data)
        os.close(f)
    finally:
        os.close(fd)


class Base(ServerCase):

    def setUp(self):
        super().setUp()
        os.makedirs(self.home)
        self.prepare()

    def prepare(self):
        """Runs before the server starts."""

    def start(self):
        self.srv.start()
        self.addCleanup(self.stop_checked)

    def stop_checked(self):
        self.assertIsNone(self.srv.proc.poll(), self.srv.log_text())
        self.srv.stop(check=True)


class ReplaceDeleteRaceTest(Base):
    """quota_bytes = 100K; session a replaces x.bin while session b deletes
    it, at each of three points of the upload."""
    users = {"alice": {"password": "alice-pw", "quota_bytes": "100K"}}
    LIMIT = 100 * K
    ROUNDS = 12

    def setUp(self):
        super().setUp()
        self.start()
        self.a = self.connect()
        self.b = self.connect()

    def assert_consistent(self, where):
        # The server may remove a refused partial just after replying.
        self.assertTrue(wait_for(lambda: partials(self.home) == [], 5),
                        partials(self.home))
        disk = disk_usage(self.home)
        self.assertLessEqual(disk[0], self.LIMIT,
                             "%s: %d bytes on disk for a quota of %d\n%s" %
                             (where, disk[0], self.LIMIT,
                              self.srv.log_text()))
        self.assertEqual(stat_usage(self.a), disk, where)

    def replace_racing_delete(self, point):
        """a replaces x.bin with as many bytes as the credit of the file it
        replaces allows; b deletes x.bin: before the data (0), halfway
        (1), or right as the upload ends, racing the publish (2)."""
        path = os.path.join(self.home, "x.bin")
        if not os.path.exists(path):
            code, text = self.a.store("x.bin", payload(60 * K, b"o"))
            self.assertEqual(code, 226, text)
        size = os.path.getsize(path)
        used = disk_usage(self.home)[0]
        # As many bytes as the transfer lets through: while x.bin is
        # counted, up to the quota plus its credit; once b deleted it
        # (points 0 and 1), its bytes are free too, and the old code let
        # the upload use them again.
        n = self.LIMIT - used + size + (size if point < 2 else 0)
        data = payload(n, b"n")
        d = self.a.epsv()
        code, text = self.a.cmd("STOR x.bin")
        self.assertEqual(code, 150, text)
        try:
            if point == 0:
                self.assertEqual(self.b.cmd("DELE x.bin")[0], 250)
            d.sendall(data[:len(data) // 2])
            if point == 1:
                self.assertEqual(self.b.cmd("DELE x.bin")[0], 250)
            d.sendall(data[len(data) // 2:])
        except OSError:
            pass  # refused mid-way: the server may reset
        finally:
            d.close()
        if point == 2:
            self.b.send("DELE x.bin")
        code, text = self.a.reply()
        self.assertIn(code, (226, 552), text)
        if point == 2:
            self.assertIn(self.b.reply()[0], (250, 550))
        return code

    def test_delete_before_data_gives_no_credit(self):
        for r in range(3):
            code = self.replace_racing_delete(0)
            # The file it was to replace is gone: publishing would leave
            # the home over quota.
            self.assertEqual(code, 552)
            self.assert_consistent("round %d" % r)
        self.assert_log_says_file_gone()

    def test_delete_during_data_gives_no_credit(self):
        for r in range(3):
            self.assertEqual(self.replace_racing_delete(1), 552)
            self.assert_consistent("round %d" % r)
        self.assert_log_says_file_gone()

    def assert_log_says_file_gone(self):
        # x.bin was deleted: the log must not call it left as it was.
        lines = [ln for ln in self.srv.log_text().splitlines()
                 if "upload of /x.bin not complete" in ln]
        self.assertTrue(lines, self.srv.log_text()[-2000:])
        for ln in lines:
            self.assertNotIn("left as it was", ln)

    def test_rounds_at_every_point(self):
        for r in range(self.ROUNDS):
            self.replace_racing_delete(r % 3)
            self.assert_consistent("round %d, point %d" % (r, r % 3))
        # What STAT says is what is usable: fill the room exactly, then
        # one byte more is refused.
        room = self.LIMIT - disk_usage(self.home)[0]
        if room > 0:
            code, text = self.a.store("fill.bin", payload(room))
            self.assertEqual(code, 226, text)
        code, text = self.a.store("over.bin", b"!")
        self.assertEqual(code, 552, text)


class DeepNestingTest(Base):
    """900K hidden at the bottom of 300 nested folders (a path of about
    12,000 bytes), placed by other means before the first login."""
    users = {"alice": {"password": "alice-pw", "quota_bytes": "1M"}}
    LEVELS = 300
    NAME = "n" * 39

    def prepare(self):
        make_nested(self.home, self.LEVELS, self.NAME, payload(900 * K))
        self.start()

    def test_deep_data_counts(self):
        c = self.connect()
        used, entries = stat_usage(c)
        self.assertEqual(used, 900 * K)
        self.assertEqual(entries, self.LEVELS + 1)
        code, text = c.store("more.bin", payload(200 * K))
        self.assertEqual(code, 552, text)
        self.assertFalse(os.path.exists(os.path.join(self.home, "more.bin")))
        code, text = c.store("fits.bin", payload(100 * K))
        self.assertEqual(code, 226, text)
        # Logging in again counts the same.
        c.cmd("QUIT")
        c.close()
        c = self.connect()
        self.assertEqual(stat_usage(c), (1000 * K, self.LEVELS + 2))


class UnreadableFolderTest(Base):
    """900K in a mode-000 folder the user cannot read."""
    users = {"alice": {"password": "alice-pw", "quota_bytes": "1M"}}

    def prepare(self):
        if os.geteuid() != 0:
            self.skipTest("needs root: the server starts as root to drop "
                          "to run_as")
        self.hidden = os.path.join(self.home, "hidden")
        os.mkdir(self.hidden)
        with open(os.path.join(self.hidden, "data.bin"), "wb") as f:
            f.write(payload(900 * K))
        os.chmod(self.hidden, 0)

    def test_unreadable_under_run_as_fails_closed(self):
        pw = pwd.getpwnam(RUN_AS)
        os.chmod(self.srv.tmp, 0o711)
        os.chmod(os.path.dirname(self.home), 0o711)
        os.chown(self.home, pw.pw_uid, pw.pw_gid)
        self.srv.server_opts["run_as"] = RUN_AS
        self.srv.write_config()
        self.start()
        c = self.connect()
        code, text = c.store("small.bin", payload(K))
        self.assertEqual(code, 552, text)
        self.assertIn("could not be counted", text)
        self.assertFalse(os.path.exists(os.path.join(self.home,
                                                     "small.bin")))
        code, text = c.cmd("MKD newdir")
        self.assertEqual(code, 552, text)
        self.assertFalse(os.path.exists(os.path.join(self.home, "newdir")))
        log = self.srv.log_text()
        self.assertRegex(log, r"cannot (read|open) folder /hidden: "
                              r"Permission denied")
        self.assertIn("upload of /small.bin refused", log)
        # Reading still works, and so does removing things.
        self.assertEqual(c.cmd("NOOP")[0], 200)
        # Once the admin makes it readable, the next login counts it all:
        # the 900K now count against the quota.
        os.chmod(self.hidden, 0o755)
        c2 = self.connect()
        code, text = c2.store("big.bin", payload(200 * K))
        self.assertEqual(code, 552, text)
        self.assertNotIn("could not be counted", text)
        code, text = c.store("small.bin", payload(K))
        self.assertEqual(code, 226, text)

    def test_root_reads_mode_000(self):
        # Without run_as the server keeps root's rights: mode 000 hides
        # nothing from it, so the folder is simply counted.
        self.start()
        c = self.connect()
        self.assertEqual(stat_usage(c), (900 * K, 2))
        code, text = c.store("big.bin", payload(200 * K))
        self.assertEqual(code, 552, text)
        self.assertNotIn("could not be counted", text)


class BigHome(Base):
    """alice's home holds FILES files in big/ (on tmpfs when there is
    one: making them on a busy ext4 takes minutes), so that counting it
    takes a while."""
    FILES = 400000

    def setUp(self):
        base = "/dev/shm" if os.path.isdir("/dev/shm") else None
        self.shm = tempfile.mkdtemp(prefix="rftp-quota-", dir=base)
        # rm is much faster than shutil.rmtree on 400,000 names.
        self.addCleanup(subprocess.run, ["rm", "-rf", self.shm],
                        timeout=120)
        self.users = {k: dict(v) for k, v in self.users.items()}
        self.users["alice"]["home"] = os.path.join(self.shm, "alice")
        super().setUp()

    def prepare(self):
        self.big = os.path.join(self.home, "big")
        os.mkdir(self.big)
        fd = os.open(self.big, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.close(os.open("0", os.O_WRONLY | os.O_CREAT, 0o644,
                             dir_fd=fd))
            for i in range(1, self.FILES):
                os.link("0", str(i), src_dir_fd=fd, dst_dir_fd=fd)
        finally:
            os.close(fd)

    def counting(self):
        """True while the server holds a descriptor of big/ (only the count
        of alice's home opens it)."""
        fds = "/proc/%d/fd" % self.srv.proc.pid
        big = os.path.realpath(self.big)
        for n in os.listdir(fds):
            try:
                if os.readlink(os.path.join(fds, n)) == big:
                    return True
            except OSError:
                pass
        return False



class CountOutsideLockTest(BigHome):
    """Anonymous logins (no password hashing, so they take milliseconds)
    must complete while alice's first login is still counting."""
    users = {"alice": {"password": "alice-pw", "quota_files": "1000000"},
             "anonymous": {}}
    server_opts = {"anonymous": "on"}
    ATTEMPTS = 3

    def prepare(self):
        super().prepare()
        os.makedirs(self.srv.home("anonymous"))
        self.start()

    def attempt(self, a1, a2):
        """One first login of alice (two sessions) with an anonymous login
        during its count. Returns whether the count was still running
        after the anonymous login ended (None: the count was over before
        it could be seen at all)."""
        self.assertEqual(a1.cmd("USER alice")[0], 331)
        self.assertEqual(a2.cmd("USER alice")[0], 331)
        a1.send("PASS alice-pw")
        if not wait_for(self.counting, 30, 0.002):
            self.assertEqual(a1.reply()[0], 230)
            self.assertEqual(a2.cmd("PASS alice-pw")[0], 230)
            return None
        # A second first-login of alice joins while the count runs.
        a2.send("PASS alice-pw")
        # Another user logs in and out; the count must still be running
        # afterwards (the old code held the registry lock for the whole
        # count, so this login could only finish after it).
        with Control(self.srv.port) as b:
            self.assertEqual(b.cmd("USER anonymous")[0], 331)
            self.assertEqual(b.cmd("PASS guest@example.org")[0], 230)
            self.assertEqual(b.cmd("QUIT")[0], 221)
        during = self.counting()
        self.assertEqual(a1.reply()[0], 230)
        self.assertEqual(a2.reply()[0], 230)
        self.usages = [stat_usage(a1), stat_usage(a2)]
        return during

    def test_other_login_not_blocked_by_count(self):
        a1 = Control(self.srv.port, timeout=60)
        self.addCleanup(a1.close)
        a2 = Control(self.srv.port, timeout=60)
        self.addCleanup(a2.close)
        results = []
        # A count can end early on a machine that stalls the test: a few
        # attempts, each a fresh count (REIN leaves the account, which
        # then drops). On the old code every attempt says False.
        for _ in range(self.ATTEMPTS):
            results.append(self.attempt(a1, a2))
            if results[-1]:
                break
            self.assertEqual(a1.cmd("REIN")[0], 220)
            self.assertEqual(a2.cmd("REIN")[0], 220)
        self.assertIn(True, results,
                      "no other login completed while alice's home was "
                      "being counted: %r" % results)
        # Both alice logins see the whole count (big/ and its files), not
        # a fresh zero.
        self.assertEqual(self.usages, [(0, self.FILES + 1)] * 2)


class CountDuringUploadTest(BigHome):
    """A quota added by an edit is counted at the next login, while a
    session from before it uploads (its transfer goes on under the old
    rules). The count replaced the usage, and the bytes written during it
    were lost: 40 to 100 MB short of the disk, and a later upload passed
    the quota (found from outside). Byte charges now wait for the count,
    and the count waits for every block charged before it to be written
    (one that landed during it was missing: up to a pipe's 1 MiB), so the
    usage ends equal to the disk."""
    users = {"alice": {"password": "alice-pw"}}
    FILES = 100000

    def prepare(self):
        super().prepare()
        self.start()

    def test_an_upload_during_the_count_is_counted(self):
        x = self.connect()
        self.assertEqual(x.cmd("TYPE I")[0], 200)
        d = x.epsv()
        self.assertEqual(x.cmd("STOR up.bin")[0], 150)
        stop = threading.Event()

        def pump():
            chunk = b"u" * (64 * K)
            for _ in range(6000):  # 375 MiB at most
                if stop.is_set():
                    return
                try:
                    d.sendall(chunk)
                except OSError:
                    return
                time.sleep(0.001)
        t = threading.Thread(target=pump)
        t.start()
        self.addCleanup(t.join, 60)
        self.addCleanup(stop.set)
        self.srv.users["alice"]["quota_bytes"] = "100G"
        self.srv.write_users()
        past = time.time() - 5
        os.utime(self.srv.users_path, (past, past))
        y = Control(self.srv.port, timeout=60)
        self.addCleanup(y.close)
        self.assertEqual(y.cmd("USER alice")[0], 331)
        y.send("PASS alice-pw")
        self.assertTrue(wait_for(self.counting, 30, 0.002),
                        "the count was not seen")
        self.assertEqual(y.reply()[0], 230)
        stop.set()
        t.join(60)
        d.close()
        self.assertEqual(x.reply()[0], 226)
        used, _ = stat_usage(y)
        disk, _ = disk_usage(self.home)
        self.assertEqual(used, disk)


class EntriesQuotaTest(Base):
    users = {"alice": {"password": "alice-pw", "quota_files": "3"}}

    def prepare(self):
        self.start()

    def test_folders_count_toward_quota_files(self):
        c = self.connect()
        self.assertEqual(c.cmd("MKD a")[0], 257)
        self.assertEqual(c.cmd("MKD a/b")[0], 257)
        code, text = c.store("empty", b"")
        self.assertEqual(code, 226, text)
        code, text = c.cmd("MKD c")
        self.assertEqual(code, 552, text)
        self.assertIn("too many files and folders", text)
        self.assertFalse(os.path.exists(os.path.join(self.home, "c")))
        code, text = c.store("empty2", b"")
        self.assertEqual(code, 552, text)
        self.assertIn("quota_files", self.srv.log_text())
        # RMD gives the entry back.
        self.assertEqual(c.cmd("RMD a/b")[0], 250)
        self.assertEqual(c.cmd("MKD c")[0], 257)
        self.assertEqual(c.cmd("MKD d")[0], 552)
        self.assertEqual(stat_usage(c), (0, 3))
        self.assertEqual(disk_usage(self.home), (0, 3))

    def test_refused_uploads_make_no_partial(self):
        """A home at quota_files: a refused upload of a new name makes no
        partial at all. The partial was made first and counted after, so
        each refusal put an entry past quota_files on disk until it was
        removed again (found from outside with inotify; with a replace's
        lent entry the home held quota_files + 2). A resume of a partial
        already there, and counted, still works."""
        c = self.connect()
        for name in ("f0", "f1"):
            self.assertEqual(c.store(name, b"x")[0], 226)
        data = payload(3000, b"r")
        d = c.epsv()
        self.assertEqual(c.cmd("STOR kept.bin")[0], 150)
        d.sendall(data[:1000])
        part = os.path.join(self.home, PARTIAL + "kept.bin")
        self.assertTrue(wait_for(lambda: os.path.exists(part) and
                                 os.path.getsize(part) == 1000, 10))
        vanish(d)
        self.assertEqual(c.reply()[0], 426)
        self.assertEqual(disk_usage(self.home), (1002, 3))
        made = inotify_creates(self, self.home)
        for i in range(5):
            code, text = c.store("new%d" % i, b"y")
            self.assertEqual(code, 552, text)
            code, text = c.store("", b"y", "STOU")
            self.assertEqual(code, 552, text)
        self.assertEqual(made(), [])
        self.assertEqual(c.cmd("REST 1000")[0], 350)
        code, text = c.store("kept.bin", data[1000:])
        self.assertEqual(code, 226, text)
        with open(os.path.join(self.home, "kept.bin"), "rb") as f:
            self.assertEqual(f.read(), data)
        self.assertEqual(made(), [])
        self.assertEqual(stat_usage(c), (3002, 3))
        self.assertEqual(disk_usage(self.home), (3002, 3))


class FolderCapTest(Base):
    users = {"alice": {"password": "alice-pw",
                       "max_entries_per_folder": "3"}}
    NAMES = ['-a "quoted" %_*.bin', "sp ace\\ü.txt"]

    def prepare(self):
        self.start()

    def assert_full(self, code, text):
        self.assertEqual(code, 552, text)
        self.assertIn("Folder full", text)

    def test_cap_holds_for_every_way_to_add_a_name(self):
        c = self.connect()
        for name in self.NAMES:
            code, text = c.store(name, b"x")
            self.assertEqual(code, 226, text)
        self.assertEqual(c.cmd("MKD sub")[0], 257)
        # / holds 3 names now.
        self.assert_full(*c.store("new.bin", b"x"))
        self.assert_full(*c.store("new.bin", b"x", "APPE"))
        self.assert_full(*c.store("", b"x", "STOU"))
        self.assert_full(*c.cmd("MKD other"))
        code, text = c.store("sub/in.bin", b"x")
        self.assertEqual(code, 226, text)
        self.assertEqual(c.cmd("RNFR sub/in.bin")[0], 350)
        self.assert_full(*c.cmd("RNTO moved.bin"))
        self.assertEqual(sorted(os.listdir(self.home)),
                         sorted(self.NAMES + ["sub"]))
        self.assertIn("max_entries_per_folder 3", self.srv.log_text())
        # What does not add a name still works in a full folder.
        code, text = c.store(self.NAMES[0], b"yy")
        self.assertEqual(code, 226, text)
        code, text = c.store(self.NAMES[1], b"z", "APPE")
        self.assertEqual(code, 226, text)
        self.assertEqual(c.cmd("RNFR " + self.NAMES[1])[0], 350)
        self.assertEqual(c.cmd("RNTO renamed.txt")[0], 250)
        # Moving a name out makes room.
        self.assertEqual(c.cmd("RNFR renamed.txt")[0], 350)
        self.assertEqual(c.cmd("RNTO sub/renamed.txt")[0], 250)
        self.assertEqual(c.cmd("MKD other")[0], 257)
        self.assert_full(*c.cmd("MKD more"))
        self.assertEqual(partials(self.home), [])

    def test_one_replace_at_a_time_past_the_cap(self):
        """A replace's partial may take one name past the cap while it
        runs (its file's name goes at the rename), as a replace may take
        one entry past quota_files; a second replace in that folder
        meanwhile is refused. Unchecked, each session's replace added a
        name (found from outside: 10 names in a folder capped at 8)."""
        a, b = self.connect(), self.connect()
        for name in ("f0", "f1", "f2"):
            self.assertEqual(a.store(name, b"old")[0], 226)
        d = a.epsv()
        self.assertEqual(a.cmd("STOR f0")[0], 150)
        d.sendall(b"n" * 1000)
        self.assertTrue(wait_for(lambda: partials(self.home), 10))
        self.assertEqual(len(os.listdir(self.home)), 4)
        self.assert_full(*b.store("f1", b"new"))
        self.assert_full(*b.store("f2", b"new", "APPE"))
        self.assertEqual(len(os.listdir(self.home)), 4)
        d.close()
        self.assertEqual(a.reply()[0], 226)
        # Published: the loan is back, and the next replace has it.
        code, text = b.store("f1", b"new")
        self.assertEqual(code, 226, text)
        self.assertEqual(sorted(os.listdir(self.home)), ["f0", "f1", "f2"])
        with open(os.path.join(self.home, "f0"), "rb") as f:
            self.assertEqual(f.read(), b"n" * 1000)


class BigFolderCapTest(Base):
    """max_entries_per_folder in a big folder. Each new name read the whole
    folder to count it (24 ms of CPU a name at 50,000 entries, under the
    user's names lock: filling a folder was quadratic; found from outside).
    The count is now kept per user across its own changes, and read again
    when anyone else changed the folder (its ctime moved). The cap stays
    exact: with changes from outside, and with sessions racing at it. 300
    names; long names, so that the folder's size does not answer."""
    users = {"alice": {"password": "alice-pw",
                       "max_entries_per_folder": "300"}}
    LONG = "x" * 200

    def prepare(self):
        self.cam = os.path.join(self.home, "cam")
        os.makedirs(self.cam)
        for i in range(250):
            open(os.path.join(self.cam, "%03d%s" % (i, self.LONG)),
                 "wb").close()
        self.start()

    def assert_full(self, code, text):
        self.assertEqual(code, 552, text)
        self.assertIn("Folder full", text)

    def test_the_cap_holds_and_the_folder_is_read_once(self):
        c = self.connect()
        path = os.path.join(self.srv.tmp, "strace.txt")
        stop = trace_syscalls(self, self.srv.proc.pid, ("getdents64",), path)
        made = []
        for i in range(60):
            if i % 2:
                code, text = c.cmd("MKD cam/d%02d" % i)
            else:
                code, text = c.store("cam/f%02d" % i, b"x")
            if code in (226, 257):
                made.append(i)
            else:
                self.assert_full(code, text)
        stop()
        self.assertEqual(made, list(range(50)))
        self.assertEqual(len(os.listdir(self.cam)), 300)
        # The old code read the folder for each of the 60 (each read a
        # few getdents64 calls): now once, at the first.
        with open(path, errors="replace") as f:
            reads = [line for line in f
                     if "getdents64(" in line and "/cam>" in line]
        self.assertGreater(len(reads), 0)
        self.assertLessEqual(len(reads), 8, "".join(reads[:20]))
        # Someone else removes 10 names and adds 5: exactly 5 more fit.
        for i in range(10):
            os.unlink(os.path.join(self.cam, "%03d%s" % (i, self.LONG)))
        for i in range(5):
            open(os.path.join(self.cam, "out%d" % i), "wb").close()
        codes = [c.store("cam/g%d" % i, b"x")[0] for i in range(7)]
        self.assertEqual(codes, [226] * 5 + [552] * 2)
        self.assertEqual(len(os.listdir(self.cam)), 300)
        # Our own removals make room, one name each.
        self.assertEqual(c.cmd("DELE cam/g0")[0], 250)
        self.assertEqual(c.cmd("RMD cam/d01")[0], 250)
        self.assertEqual(c.cmd("MKD cam/h1")[0], 257)
        self.assertEqual(c.store("cam/h2", b"x")[0], 226)
        self.assert_full(*c.cmd("MKD cam/h3"))
        # A replace adds no name; a rename within the folder neither.
        self.assertEqual(c.store("cam/h2", b"yy")[0], 226)
        self.assertEqual(c.cmd("RNFR cam/h2")[0], 350)
        self.assertEqual(c.cmd("RNTO cam/h2b")[0], 250)
        self.assert_full(*c.store("cam/h4", b"x"))
        self.assertEqual(len(os.listdir(self.cam)), 300)
        self.assertEqual(partials(self.home), [])

    def test_sessions_racing_at_the_cap(self):
        for i in range(40):
            os.unlink(os.path.join(self.cam, "%03d%s" % (i, self.LONG)))
        # 210 names: 90 fit; four sessions try 30 each at once.
        conns = [self.connect() for _ in range(4)]
        results = [[] for _ in conns]

        def run(k):
            for i in range(30):
                name = "cam/s%d-%02d" % (k, i)
                if i % 3 == 0:
                    results[k].append(conns[k].cmd("MKD " + name)[0])
                else:
                    results[k].append(conns[k].store(name, b"x")[0])
        self.assertEqual(run_threads(run, 4), [])
        codes = [code for r in results for code in r]
        self.assertEqual(len(codes), 120)
        self.assertEqual(sum(code in (226, 257) for code in codes), 90,
                         codes)
        self.assertTrue(all(code in (226, 257, 552) for code in codes),
                        codes)
        self.assertEqual(len(os.listdir(self.cam)), 300)
        self.assertEqual(partials(self.home), [])


class CoarseCtimeFolderCapTest(BigFolderCapTest):
    """The same cap with the folder on ext2, whose ctime is coarse on
    every kernel (ext4, XFS and tmpfs before Linux 6.13 too): a second
    change within one clock tick leaves it as it was, so the count kept
    must follow every change of the user's own, RNTO and RMD included.
    It missed them: a STOR and a pipelined RNTO into the folder, again and
    again, left 311 and 349 names in a folder capped at 300 (found by a
    review). Needs root (a loop mount); skipped otherwise."""

    def prepare(self):
        if os.geteuid() != 0 or shutil.which("mkfs.ext2") is None:
            self.skipTest("needs root and mkfs.ext2 for a loop mount")
        image = os.path.join(self.srv.tmp, "ext2.img")
        with open(image, "wb") as f:
            f.truncate(64 << 20)
        subprocess.run(["mkfs.ext2", "-q", "-F", "-N", "4096", image],
                       check=True, capture_output=True, timeout=60)
        # The whole home: a rename into the folder must not cross file
        # systems.
        st = os.stat(self.home)
        r = subprocess.run(["mount", "-o", "loop", image, self.home],
                           capture_output=True, timeout=60)
        if r.returncode != 0:
            self.skipTest("cannot loop-mount: %s" % r.stderr[:200])
        self.addCleanup(subprocess.run, ["umount", "-l", self.home],
                        capture_output=True, timeout=60)
        os.chown(self.home, st.st_uid, st.st_gid)
        os.chmod(self.home, st.st_mode & 0o7777)
        shutil.rmtree(os.path.join(self.home, "lost+found"))
        self.cam = os.path.join(self.home, "cam")
        os.makedirs(self.cam)
        for i in range(250):
            open(os.path.join(self.cam, "%03d%s" % (i, self.LONG)),
                 "wb").close()
        os.makedirs(os.path.join(self.home, "other"))
        for i in range(200):
            open(os.path.join(self.home, "other", "g%03d" % i),
                 "wb").close()
        self.start()

    def test_renames_into_the_folder_count(self):
        c = self.connect()
        codes = []
        for i in range(200):
            # Declared (ALLO): published as its data ends; the rename is
            # sent before the 226 comes, so that it lands within the same
            # clock tick as the publish.
            self.assertEqual(c.cmd("ALLO 1")[0], 200)
            d = c.epsv()
            code, text = c.cmd("STOR cam/f%03d" % i)
            if code == 150:
                d.sendall(b"x")
                d.close()
                c.send("RNFR other/g%03d\r\nRNTO cam/g%03d" % (i, i))
                code = c.reply()[0]
            else:
                d.close()
                c.send("RNFR other/g%03d\r\nRNTO cam/g%03d" % (i, i))
            first, second = c.reply()[0], c.reply()[0]
            codes.append((code, first, second))
            if code != 226:
                break
        self.assertLessEqual(len(os.listdir(self.cam)), 300, codes)
        self.assertEqual(len(os.listdir(self.cam)), 300, codes)


def vanish(*socks):
    """Closes with a reset, as a killed client's sockets with unread data
    do: nothing more arrives, no FIN."""
    for sk in socks:
        sk.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                      struct.pack("ii", 1, 0))
        sk.close()


class KeptPartialTest(Base):
    """A replace that never ends leaves a partial for a resume, but the
    home stays within its limits at rest: the partial was lent room
    against the file it was to replace, which stays. (Found from outside:
    a client reset while replacing an 80 KiB file left 140 KiB in a
    100 KiB home, for good; an APPE whose data connection never came
    doubled the file; a replace in a full folder left one name too many.)
    quota_bytes 100K, quota_files 5, max_entries_per_folder 3, data_timeout
    2 s."""
    users = {"alice": {"password": "alice-pw", "quota_bytes": "100K",
                       "quota_files": "5", "max_entries_per_folder": "3"}}
    server_opts = {"data_timeout": "2"}
    LIMIT = 100 * K

    def prepare(self):
        self.start()

    def assert_within(self, where):
        c = self.connect()
        disk = disk_usage(self.home)
        self.assertLessEqual(disk[0], self.LIMIT, "%s: %s\n%s" % (
            where, disk, self.srv.log_text()[-2000:]))
        self.assertLessEqual(disk[1], 5, where)
        self.assertLessEqual(len(os.listdir(self.home)), 3, where)
        self.assertEqual(stat_usage(c), disk, where)

    def test_reset_replace_keeps_what_fits_and_resumes(self):
        c = self.connect()
        self.assertEqual(c.store("big.bin", payload(80 * K, b"o"))[0], 226)
        new = bytes(range(256)) * (60 * K // 256)
        d = c.epsv()
        self.assertEqual(c.cmd("STOR big.bin")[0], 150)
        d.sendall(new[:50 * K])
        self.assertTrue(wait_for(lambda: sum(
            os.path.getsize(os.path.join(self.home, n))
            for n in partials(self.home)) >= 50 * K, 10))
        vanish(d, c.sock)
        self.assertTrue(wait_for(
            lambda: "upload of /big.bin not complete" in
            self.srv.log_text(), 10), self.srv.log_text()[-2000:])
        self.assert_within("after the reset")
        # What is kept is a prefix of what was sent, cut to the room
        # beside the old file, which is whole.
        part = os.path.join(self.home, PARTIAL + "big.bin")
        with open(part, "rb") as f:
            kept = f.read()
        self.assertEqual(len(kept), self.LIMIT - 80 * K)
        self.assertEqual(kept, new[:len(kept)])
        with open(os.path.join(self.home, "big.bin"), "rb") as f:
            self.assertEqual(f.read(), payload(80 * K, b"o"))
        self.assertIn("cut back to what the quota holds",
                      self.srv.log_text())
        # SIZE is the published file's (what RETR sends, RFC 3659), so
        # APPE, which curl -C - would send from there, is refused rather
        # than joined to bytes that end elsewhere; REST at the partial's
        # size and STOR resume it.
        c2 = self.connect()
        code, text = c2.cmd("SIZE big.bin")
        self.assertEqual((code, int(text.split()[1])), (213, 80 * K))
        code, text = c2.store("big.bin", new[80 * K:], "APPE")
        self.assertEqual(code, 554, text)
        self.assertIn("REST %d" % len(kept), text)
        with open(part, "rb") as f:
            self.assertEqual(f.read(), kept)
        self.assertEqual(c2.cmd("REST %d" % len(kept))[0], 350)
        code, text = c2.store("big.bin", new[len(kept):])
        self.assertEqual(code, 226, text)
        with open(os.path.join(self.home, "big.bin"), "rb") as f:
            self.assertEqual(f.read(), new)
        self.assertEqual(partials(self.home), [])
        self.assert_within("after the resume")

    def test_appe_without_data_connection(self):
        c = self.connect()
        self.assertEqual(c.store("big.bin", payload(80 * K, b"o"))[0], 226)
        code, text = c.cmd("EPSV")
        self.assertEqual(code, 229, text)
        # The partial starts as a copy of the file; no data comes.
        self.assertEqual(c.cmd("APPE big.bin")[0], 150)
        self.assertEqual(c.reply()[0], 425)
        self.assert_within("after the 425")
        # Logged after the 425 is sent: waited for, not read at once
        # (under ASan the test read the log first, in CI).
        self.assertTrue(wait_for(
            lambda: "upload of /big.bin not started (no data connection)"
            in self.srv.log_text(), timeout=10), self.srv.log_text())
        # The copy is not cut (a cut copy would make the next APPE
        # continue the file's first bytes only): removed, and the next
        # APPE appends to the whole file.
        self.assertEqual(partials(self.home), [])
        code, text = self.connect().store("big.bin", b"tail", "APPE")
        self.assertEqual(code, 226, text)
        with open(os.path.join(self.home, "big.bin"), "rb") as f:
            self.assertEqual(f.read(), payload(80 * K, b"o") + b"tail")

    def test_appe_over_quota_leaves_the_file(self):
        # The APPE's copy of the file is removed, the file is not: the
        # log said "removed (quota)" alone, which an admin read as the
        # file gone.
        c = self.connect()
        old = payload(80 * K, b"o")
        self.assertEqual(c.store("big.bin", old)[0], 226)
        code, text = c.store("big.bin", payload(30 * K, b"a"), "APPE")
        self.assertEqual(code, 552, text)
        with open(os.path.join(self.home, "big.bin"), "rb") as f:
            self.assertEqual(f.read(), old)
        self.assertEqual(partials(self.home), [])
        self.assert_within("after the APPE")
        lines = [ln for ln in self.srv.log_text().splitlines()
                 if "upload of /big.bin not complete" in ln]
        self.assertEqual(len(lines), 1, self.srv.log_text()[-2000:])
        self.assertIn("removed (quota); the file it was to replace is left "
                      "as it was", lines[0])

    def reset_replace(self, c, name):
        """STOR name, 1,000 bytes sent, then the client vanishes; returns
        once the server gave the upload up: no partial may be left."""
        d = c.epsv()
        self.assertEqual(c.cmd("STOR " + name)[0], 150)
        d.sendall(b"n" * 1000)
        self.assertTrue(wait_for(lambda: partials(self.home), 10))
        vanish(d, c.sock)
        self.assertTrue(wait_for(
            lambda: "upload of /%s not complete" % name in
            self.srv.log_text(), 10), self.srv.log_text()[-2000:])
        self.assertEqual(partials(self.home), [])

    def test_reset_replace_in_full_folder_leaves_no_extra_name(self):
        c = self.connect()
        for name in ("f0", "f1", "f2"):
            self.assertEqual(c.store(name, b"old " + name.encode())[0], 226)
        self.reset_replace(c, "f0")
        self.assert_within("after the reset")
        with open(os.path.join(self.home, "f0"), "rb") as f:
            self.assertEqual(f.read(), b"old f0")

    def test_reset_replace_of_a_link_in_full_folder(self):
        # A link a local program made is replaced as a file is, without
        # the folder's room check; reset, its partial was kept whole and
        # the folder held 4 names under a cap of 3 (found by a review).
        c = self.connect()
        for name in ("f0", "f1"):
            self.assertEqual(c.store(name, b"old " + name.encode())[0], 226)
        os.symlink("f0", os.path.join(self.home, "link"))
        self.reset_replace(c, "link")
        self.assertEqual(sorted(os.listdir(self.home)), ["f0", "f1", "link"])
        self.assert_within("after the reset")


class DiskFullTest(Base):
    """A disk that fills mid-upload: what reached the partial, kept for a
    resume, stays counted. The buffered loop (TYPE A, and every TLS
    upload) gave the whole block back after a short write, so STAT's
    usage fell below the disk by up to a block each time (found from
    outside on a full 1 MiB tmpfs: 947,146 counted, 1,048,576 on disk).
    The file size limit (RLIMIT_FSIZE) stands in for the full disk, as
    in test_uploads: write(2) takes what fits, then fails."""
    users = {"alice": {"password": "alice-pw", "quota_bytes": "100M"}}
    FITS = 100 * K + 7  # not at a block's end

    def prepare(self):
        self.start()

    def test_usage_counts_what_reached_the_disk(self):
        c = self.connect()
        # Counted beside what the upload gives back: the old count also
        # fell below the disk where the partial was then removed.
        self.assertEqual(c.store("base", payload(200 * K))[0], 226)
        for mode in ("A", "I"):
            self.assertEqual(c.cmd("TYPE " + mode)[0], 200)
            resource.prlimit(self.srv.proc.pid, resource.RLIMIT_FSIZE,
                             (self.FITS, resource.RLIM_INFINITY))
            try:
                code, text = c.store("f" + mode, b"abcdefg\n" * (64 * K))
            finally:
                resource.prlimit(
                    self.srv.proc.pid, resource.RLIMIT_FSIZE,
                    (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            self.assertEqual(code, 451, text)
            self.assertIn("File too large", text)
            self.assertEqual(stat_usage(c), disk_usage(self.home), mode)
            part = os.path.join(self.home, PARTIAL + "f" + mode)
            self.assertTrue(os.path.exists(part), mode)
            self.assertEqual(os.path.getsize(part), self.FITS, mode)
        # The resume continues from there, and the count stays exact.
        self.assertEqual(c.cmd("REST %d" % self.FITS)[0], 350)
        code, text = c.store("fI", b"tail")
        self.assertEqual(code, 226, text)
        self.assertEqual(os.path.getsize(os.path.join(self.home, "fI")),
                         self.FITS + 4)
        self.assertEqual(stat_usage(c), disk_usage(self.home))


class CheckKeyTest(unittest.TestCase):
    def test_bad_values_reported_with_file_line_key(self):
        tmp = tempfile.mkdtemp(prefix="rftp-quota-")
        self.addCleanup(shutil.rmtree, tmp, True)
        users = os.path.join(tmp, "users.ini")
        with open(os.path.join(tmp, "relayftpd.ini"), "w") as f:
            f.write("[server]\nlisten = 127.0.0.1:0\n"
                    "users_file = users.ini\n")
        with open(users, "w") as f:
            f.write("\n".join([
                "[alice]",                              # 1
                "password = " + hash_password("pw"),    # 2
                "home = a",                             # 3
                "max_entries_per_folder = lots",        # 4
                "[bob]",                                # 5
                "password = " + hash_password("pw"),    # 6
                "home = b",                             # 7
                "max_entries_per_folder = 1000001",     # 8
                "[carol]",                              # 9
                "password = " + hash_password("pw"),    # 10
                "home = c",                             # 11
                "max_entries_per_folder = 0",           # 12
                ""]))
        r = subprocess.run([BINARY, "check", "--config",
                            os.path.join(tmp, "relayftpd.ini")],
                           capture_output=True, text=True, timeout=30)
        out = r.stdout + r.stderr
        self.assertNotEqual(r.returncode, 0, out)
        real = os.path.realpath(users)
        for line in (4, 8):
            self.assertTrue(
                any("%s:%d: key 'max_entries_per_folder': " % (p, line)
                    in out for p in (users, real)), out)
        self.assertNotIn(":12:", out)


if __name__ == "__main__":
    unittest.main()
