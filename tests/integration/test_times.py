"""File times, end to end (issue 7, "Timestamps, end to end").

On relayftpd itself, with real clients:
- ftplib sets times with MFMT (draft-somers-ftp-mfxx: "213 Modify=...;
  path"), both forms of SITE UTIME (lftp's "TIME path" and the
  five-argument "path ATIME MTIME CTIME UTC") and the two-argument MDTM
  (ncftp), on hostile names (spaces, '"', '\\', leading '-', '%', '*',
  UTF-8); MDTM reads them back and os.stat agrees; bad times get 501, a
  missing file 550, a folder 550; FEAT and HELP list MFMT; CLNT gets 200;
- a read-only user gets 550 for every form and the file keeps its time;
- curl sets a time with a post-quote MFMT and keeps it with --remote-time;
- lftp `mirror -R` then `mirror` back keeps every file's time (os.stat);
- tnftp sets one with `quote MFMT`, reads it with `modtime` and keeps it
  on `get`.

Downstream, the copy carries the file's time, not the push's:
- lftp `mirror -R` through relayftpd: the relayftpd target's copies have
  the source files' times;
- a relayftpd target (MFMT from its FEAT); an MFMT after the file was
  pushed reaches the target as a time-only job (no second upload); after
  a restart the catch-up does not push the file again;
- a target that cannot set times (pyftpdlib without its "T" permission:
  MFMT listed but refused, no SITE UTIME, no MDTM with a time): the file
  arrives and the log says "mirror target p cannot set times" once;
- vsftpd 3.0.3 (Debian 12): no MFMT, no SITE UTIME, but the two-argument
  MDTM (its mdtm_write, on by default) sets times, read back once;
- OpenSSH's sftp (libcurl's "mtime" quote).

The vsftpd and sshd tests need root (a temporary local account) and skip
otherwise. Every wait is a bounded poll.
"""
import datetime
import ftplib
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Server, wait_for  # noqa: E402
from mirror_targets import (  # noqa: E402
    log_field,
    MirrorServer, PyftpdTarget, drained, read, relay_dir, relay_target,
    relay_target_spec, wait_files, wait_status, write)
import mirror_peers  # noqa: E402
from mirror_peers import (  # noqa: E402
    SshdPeer, VsftpdPeer, make_tree_dir)

CURL = "/usr/bin/curl"
LFTP = "/usr/bin/lftp"
TNFTP = "/usr/bin/tnftp"

# 2020-01-02 03:04:05 UTC and friends (date -u -d ... +%s).
T1, T1S = 1577934245, "20200102030405"
T2, T2S = 1623053350, "20210607080910"
T3, T3S = 1046602861, "20030302110101"
A3, A3S = 946684800, "20000101000000"
T4, T4S = 1262304000, "20100101000000"

HOSTILE = ['-a "q" x.txt', "caf\u00e9 \u20ac.txt", "back\\slash % _ *.bin",
           "two  spaces .txt"]


def mtime(path):
    return int(os.stat(path).st_mtime)


def client_env(tmp):
    env = dict(os.environ)
    env["HOME"] = tmp
    env["LC_ALL"] = "C.UTF-8"
    env["TZ"] = "Europe/Berlin"  # local time must not leak into UTC times
    for key in ("http_proxy", "https_proxy", "ftp_proxy", "all_proxy",
                "HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "ALL_PROXY"):
        env.pop(key, None)
    env["no_proxy"] = "*"
    return env


class ClientTimesTest(unittest.TestCase):
    """relayftpd alone, driven by ftplib, curl, lftp and tnftp."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rftp-times-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.env = client_env(self.tmp)
        self.srv = Server(users={"alice": {"password": "alice-pw"},
                                 "bob": {"password": "bob-pw",
                                         "permissions": "ro"}})
        self.addCleanup(self.srv.cleanup)
        self.addCleanup(self.srv.stop)

    def ftp(self, user="alice", password="alice-pw"):
        f = ftplib.FTP()
        f.encoding = "utf-8"
        f.connect("127.0.0.1", self.srv.port, timeout=30)
        f.login(user, password)
        self.addCleanup(f.close)
        return f

    def home(self, *parts):
        return os.path.join(self.srv.home("alice"), *parts)

    def code(self, f, line):
        try:
            return f.sendcmd(line)
        except ftplib.Error as e:
            return str(e)

    def test_ftplib_sets_and_reads_times(self):
        f = self.ftp()
        for name in HOSTILE:
            f.storbinary("STOR " + name, io.BytesIO(b"data of " +
                                                    name.encode()))
            path = self.home(name)
            self.assertEqual(f.sendcmd("MFMT %s %s" % (T1S, name)),
                             "213 Modify=%s; %s" % (T1S, name))
            self.assertEqual(mtime(path), T1, name)
            self.assertEqual(f.sendcmd("MDTM " + name), "213 " + T1S)
            # lftp's SITE UTIME: the time first.
            self.assertTrue(f.sendcmd("SITE UTIME %s %s" % (T2S, name))
                            .startswith("200"))
            self.assertEqual(mtime(path), T2, name)
            # The five-argument form: atime, mtime, ctime, "UTC".
            self.assertTrue(f.sendcmd("SITE UTIME %s %s %s %s UTC" % (
                name, A3S, T3S, A3S)).startswith("200"))
            st = os.stat(path)
            self.assertEqual((int(st.st_mtime), int(st.st_atime)),
                             (T3, A3), name)
            # ncftp's two-argument MDTM sets; one argument reads.
            self.assertTrue(f.sendcmd("MDTM %s %s" % (T4S, name))
                            .startswith("213"))
            self.assertEqual(mtime(path), T4, name)
            self.assertEqual(f.sendcmd("MDTM " + name), "213 " + T4S)
        # Fractions of a second, and an absolute path in a folder.
        f.mkd("/d -x")
        f.storbinary("STOR /d -x/f", io.BytesIO(b"f"))
        self.assertEqual(f.sendcmd("MFMT %s.250 /d -x/f" % T1S),
                         "213 Modify=%s.250; /d -x/f" % T1S)
        self.assertEqual(os.stat(self.home("d -x", "f")).st_mtime_ns,
                         T1 * 10**9 + 250 * 10**6)

    def test_far_times_said_as_the_file_system_kept_them(self):
        # MFMT took a year of 1 to 3 digits and MDTM, MLST and MLSD then
        # wrote it with 11 or 13 digits (a time-val has 14); on ext4,
        # which keeps 1901 to 2446, MFMT answered the time asked, not the
        # one kept (found by an outside battery). Now every reply says
        # the time on disk, in 14 digits, whatever the file system.
        homes = [self.srv.home("alice")]
        if os.access("/dev/shm", os.W_OK):  # tmpfs keeps any year
            shm = tempfile.mkdtemp(prefix="rftp-times-", dir="/dev/shm")
            self.addCleanup(shutil.rmtree, shm, True)
            homes.append(shm)
        for home in homes:
            f = self.ftp()
            base = os.path.relpath(home, self.srv.home("alice"))
            if base != ".":
                # The tmpfs folder, through a second user.
                self.srv.users["carol"] = {"password": "carol-pw",
                                           "home": home}
                self.srv.write_users()
                f = self.ftp("carol", "carol-pw")
            f.storbinary("STOR far", io.BytesIO(b"x"))
            for asked in ("00010101000000", "09990101000000",
                          "16010101000000", "19000101000000",
                          "99991231235959"):
                reply = f.sendcmd("MFMT %s far" % asked)
                self.assertRegex(reply, r"^213 Modify=\d{14}; far$")
                kept = reply[11:25]
                st = os.stat(os.path.join(home, "far"))
                on_disk = datetime.datetime(1, 1, 1) + datetime.timedelta(
                    seconds=st.st_mtime_ns // 10**9 + 62135596800)
                self.assertEqual(kept, on_disk.strftime("%Y%m%d%H%M%S")
                                 .rjust(14, "0"), (home, asked))
                self.assertEqual(f.sendcmd("MDTM far"), "213 " + kept)
                facts = f.sendcmd("MLST far").split("\n")[1]
                self.assertIn("modify=%s;" % kept, facts)
            f.quit()

    def test_bad_times_missing_files_and_folders(self):
        f = self.ftp()
        f.storbinary("STOR keep.txt", io.BytesIO(b"k"))
        os.utime(self.home("keep.txt"), (T1, T1))
        for line in ("MFMT 20201302030405 keep.txt",  # month 13
                     "MFMT 20230229000000 keep.txt",  # not a leap year
                     "MFMT 20200102030460x keep.txt",
                     "MFMT keep.txt",
                     "MFMT " + T2S,
                     "MDTM 20200132000000 keep.txt",
                     "SITE UTIME 20201302030405 keep.txt",
                     "SITE UTIME keep.txt 20200101000000 20201399000000 "
                     "20200101000000 UTC",
                     "SITE UTIME"):
            self.assertTrue(self.code(f, line).startswith("501"),
                            "%s: %s" % (line, self.code(f, line)))
        self.assertEqual(mtime(self.home("keep.txt")), T1)
        for line in ("MFMT %s nope.txt" % T2S,
                     "MDTM %s nope.txt" % T2S,
                     "SITE UTIME %s nope.txt" % T2S,
                     "MFMT %s ../../../../etc/passwd" % T2S,
                     "MFMT %s /" % T2S):
            self.assertTrue(self.code(f, line).startswith("550"),
                            "%s: %s" % (line, self.code(f, line)))
        # A symlink out of the home, and a FIFO: refused, nothing touched.
        canary = os.path.join(self.tmp, "canary.txt")
        write(canary, b"outside")
        os.utime(canary, (T1, T1))
        os.symlink(canary, self.home("out"))
        os.mkfifo(self.home("fifo"))
        for line in ("MFMT %s out" % T2S, "SITE UTIME %s out" % T2S,
                     "MDTM %s out" % T2S, "MFMT %s fifo" % T2S):
            self.assertTrue(self.code(f, line).startswith("550"),
                            "%s: %s" % (line, self.code(f, line)))
        self.assertEqual(mtime(canary), T1)
        self.assertIn("Not a plain file", self.code(f, "MFMT %s fifo" % T2S))
        # The FIFO is told alike everywhere: SIZE said "Is a directory",
        # MLST "type=file" where MLSD says special, and LIST showed it
        # as a plain file (found by an outside battery).
        self.assertIn("Not a plain file", self.code(f, "SIZE fifo"))
        self.assertTrue(self.code(f, "SIZE fifo").startswith("550"))
        self.assertIn("type=OS.unix=special;", f.sendcmd("MLST fifo"))
        # Its perm fact offers no RETR, which refuses it.
        perm = re.search(r"perm=([a-z]*);", f.sendcmd("MLST fifo"))
        self.assertNotIn("r", perm.group(1))
        with self.assertRaises(ftplib.error_perm) as cm:
            f.retrbinary("RETR fifo", lambda b: None)
        self.assertTrue(str(cm.exception).startswith("550"), cm.exception)
        lines = []
        f.retrlines("LIST", lines.append)
        self.assertTrue([ln for ln in lines if ln.endswith(" fifo") and
                         ln.startswith("p")], lines)
        # A name that only starts with digits is read, never a 550 for
        # "20..." nor a time set.
        f.storbinary("STOR 2020 report.pdf", io.BytesIO(b"r"))
        os.utime(self.home("2020 report.pdf"), (T3, T3))
        self.assertEqual(f.sendcmd("MDTM 2020 report.pdf"), "213 " + T3S)
        feat = f.sendcmd("FEAT")
        self.assertIn("\n MFMT\n", feat.replace("\r", ""))
        self.assertIn("MFMT", f.sendcmd("HELP MFMT"))
        self.assertIn("UTIME", f.sendcmd("SITE HELP"))
        self.assertTrue(f.sendcmd("CLNT test client 1.0").startswith("200"))

    def test_clnt_before_login(self):
        f = ftplib.FTP()
        f.connect("127.0.0.1", self.srv.port, timeout=30)
        self.addCleanup(f.close)
        self.assertTrue(f.sendcmd("CLNT ftplib").startswith("200"))

    def test_read_only_user_cannot_set_times(self):
        write(os.path.join(self.srv.home("bob"), "ro.txt"), b"ro")
        os.utime(os.path.join(self.srv.home("bob"), "ro.txt"), (T1, T1))
        f = self.ftp("bob", "bob-pw")
        for line in ("MFMT %s ro.txt" % T2S, "MDTM %s ro.txt" % T2S,
                     "SITE UTIME %s ro.txt" % T2S,
                     "SITE UTIME ro.txt %s %s %s UTC" % (T2S, T2S, T2S)):
            self.assertTrue(self.code(f, line).startswith("550"),
                            "%s: %s" % (line, self.code(f, line)))
        self.assertEqual(mtime(os.path.join(self.srv.home("bob"),
                                            "ro.txt")), T1)
        self.assertEqual(f.sendcmd("MDTM ro.txt"), "213 " + T1S)

    def test_curl_sets_and_keeps_times(self):
        src = os.path.join(self.tmp, "up.bin")
        write(src, b"curl bytes\n" * 100)
        url = "ftp://alice:alice-pw@127.0.0.1:%d/" % self.srv.port
        # A post-quote ("-" prefix) runs after the upload.
        r = subprocess.run(
            [CURL, "-sS", "--max-time", "30", "-T", src,
             url + "a%20%22b%22.bin", "-Q", "-MFMT %s /a \"b\".bin" % T2S],
            capture_output=True, env=self.env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(mtime(self.home('a "b".bin')), T2)
        out = os.path.join(self.tmp, "down.bin")
        r = subprocess.run(
            [CURL, "-sS", "--max-time", "30", "--remote-time", "-o", out,
             url + "a%20%22b%22.bin"],
            capture_output=True, env=self.env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(read(out), read(src))
        self.assertEqual(mtime(out), T2)

    def test_lftp_mirror_round_trip_keeps_times(self):
        src = os.path.join(self.tmp, "src")
        files = {"a.txt": T1, "sub/b.bin": T2, "sub/-c d.txt": T3,
                 "caf\u00e9/\u20ac.txt": T4, 'q"uote.txt': A3}
        for rel, t in files.items():
            write(os.path.join(src, rel), rel.encode() * 50)
            os.utime(os.path.join(src, rel), (t, t))
        back = os.path.join(self.tmp, "back")
        script = ("set cmd:fail-exit yes; set ftp:ssl-allow no; "
                  "set net:max-retries 1; set net:timeout 10; "
                  "open -u alice,alice-pw ftp://127.0.0.1:%d; "
                  "mirror -R %s /tree; mirror /tree %s" %
                  (self.srv.port, src, back))
        r = subprocess.run([LFTP, "-c", script], capture_output=True,
                           env=self.env, timeout=120,
                           stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
        for rel, t in files.items():
            self.assertEqual(mtime(self.home("tree", rel)), t,
                             "on relayftpd: " + rel)
            self.assertEqual(read(os.path.join(back, rel)),
                             read(os.path.join(src, rel)))
            self.assertEqual(mtime(os.path.join(back, rel)), t,
                             "back from relayftpd: " + rel)
        self.assertIn("set the modification time of /tree/sub/-c d.txt",
                      self.srv.log_text())

    def test_tnftp_sets_reads_and_keeps_times(self):
        f = self.ftp()
        f.storbinary("STOR t n.txt", io.BytesIO(b"tnftp"))
        f.close()
        script = ("user alice alice-pw\n"
                  "quote MFMT %s t n.txt\n"
                  "modtime \"t n.txt\"\n"
                  "get \"t n.txt\" got.txt\n"
                  "bye\n" % T2S)
        r = subprocess.run([TNFTP, "-n", "-v", "127.0.0.1",
                            str(self.srv.port)], input=script.encode(),
                           capture_output=True, cwd=self.tmp, env=self.env,
                           timeout=60)
        out = r.stdout.decode(errors="replace")
        self.assertEqual(r.returncode, 0, out + r.stderr.decode())
        self.assertIn("213 Modify=%s; t n.txt" % T2S, out)
        # modtime prints the MDTM answer (UTC) in the local zone.
        self.assertIn("07 Jun 2021 10:09:10 +0200", out)
        self.assertEqual(mtime(self.home("t n.txt")), T2)
        self.assertEqual(mtime(os.path.join(self.tmp, "got.txt")), T2)


# ------------------------------------------------------------ downstream

FAST = {"retry_initial": "1", "retry_max": "2", "watch": "off"}


class MirrorTimesBase(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rftp-times-m-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def mirror_server(self, targets):
        srv = MirrorServer(users={"alice": {"password": "alice-pw"}},
                           mirror=dict(FAST), targets=targets, start=False)
        self.addCleanup(srv.cleanup)
        os.makedirs(srv.home("alice"), exist_ok=True)
        srv.start()
        self.addCleanup(self._stop, srv)
        return srv

    @staticmethod
    def _stop(srv):
        if srv.proc is not None:
            srv.stop(check=True)

    def ftp(self, srv):
        f = ftplib.FTP()
        f.encoding = "utf-8"
        f.connect("127.0.0.1", srv.port, timeout=30)
        f.login("alice", "alice-pw")
        self.addCleanup(f.close)
        return f

    def system_user(self, *binaries):
        """A system account for this test (mirror_peers.system_user_for):
        skips when root, the account tools or binaries are missing."""
        return mirror_peers.system_user_for(self, "rftp-times-acct-",
                                            *binaries)

    def lines(self, srv, *needles):
        return [line for line in srv.log_text().splitlines()
                if all(n in line for n in needles)]

    def pushes(self, srv, target, path):
        return self.lines(srv, "mirror push target=%s path=%s " %
                          (target, log_field(path)))

    def assertTime(self, path, want, srv, timeout=40):
        def ok():
            try:
                return mtime(path) == want
            except OSError:
                return False
        if not wait_for(ok, timeout=timeout, interval=0.1):
            have = mtime(path) if os.path.exists(path) else "missing"
            self.fail("%s: time %s, want %s\nlog:\n%s" % (
                path, have, want, srv.log_text()[-4000:]))

    def assertDrained(self, srv, *names):
        st = wait_status(srv, drained(*names), timeout=40)
        self.assertTrue(drained(*names)(st), "%s\n%s" % (
            st, srv.log_text()[-3000:]))

    def upload_then_mfmt(self, srv, name, data, when):
        """STOR then MFMT at once: the time folds into the queued push or
        follows it as a time job; either way the copy must get it."""
        f = self.ftp(srv)
        f.storbinary("STOR " + name, io.BytesIO(data))
        self.assertTrue(f.sendcmd("MFMT %s %s" % (when, name))
                        .startswith("213"))
        return f

    def first_pushes(self, srv, target, name):
        """Pushes of name after upload_then_mfmt: one, or two when the
        MFMT landed while the first push was reading the file (the worker
        cannot tell a new time from new bytes of the same size, so it
        pushes again rather than risk stale bytes). Returns the count."""
        n = len(self.pushes(srv, target, "/alice/" + name))
        self.assertIn(n, (1, 2), srv.log_text()[-3000:])
        if n == 2:
            self.assertTrue(self.lines(
                srv, "/alice/%s changed while it was pushed to %s" %
                (name, target)), srv.log_text()[-3000:])
        return n

    def times_reach(self, srv, target, dest, name="t -x \"q\" \u00e9.txt"):
        """The common path for one target: the copy gets the time set
        right after the upload, then a time set after the push, without
        a second upload."""
        data = b"times " * 1000
        f = self.upload_then_mfmt(srv, name, data, T1S)
        copy = os.path.join(dest, name)
        self.assertEqual(wait_files(dest, {name: data}, timeout=40), {},
                         srv.log_text()[-3000:])
        self.assertTime(copy, T1, srv)
        self.assertDrained(srv, target)
        pushed = self.first_pushes(srv, target, name)
        # Long after the push: a time-only job reaches the target.
        self.assertTrue(f.sendcmd("MFMT %s %s" % (T2S, name))
                        .startswith("213"))
        self.assertTime(copy, T2, srv)
        self.assertDrained(srv, target)
        self.assertEqual(read(copy), data)
        self.assertEqual(len(self.pushes(srv, target, "/alice/" + name)),
                         pushed,
                         "a time change must not upload the file again")
        self.assertEqual(len(self.lines(
            srv, "mirror time target=%s path=%s mtime=%s" %
            (target, log_field("/alice/" + name), T2S))), 1,
            srv.log_text()[-3000:])
        self.assertEqual(self.lines(srv, "cannot set times"), [])


class RelayAndCannotTest(MirrorTimesBase):

    def test_relay_target_and_a_target_that_cannot(self):
        r = relay_target()
        self.addCleanup(r.cleanup)
        p = PyftpdTarget(perm="elradfmwM")  # no "T": MFMT refused
        self.addCleanup(p.cleanup)
        srv = self.mirror_server({"r": relay_target_spec(r, "/base"),
                                  "p": p.target("/base")})
        name = "r -x \"q\" \u00e9.txt"
        data = b"relay " * 500
        f = self.upload_then_mfmt(srv, name, data, T1S)
        f.storbinary("STOR second.bin", io.BytesIO(b"2" * 77))
        rdest = relay_dir(r, "base", "alice")
        pdest = p.dir("base", "alice")
        want = {name: data, "second.bin": b"2" * 77}
        for dest in (rdest, pdest):
            self.assertEqual(wait_files(dest, want, timeout=40), {},
                             srv.log_text()[-3000:])
        self.assertTime(os.path.join(rdest, name), T1, srv)
        self.assertDrained(srv, "r", "p")
        pushed = {t: self.first_pushes(srv, t, name) for t in ("r", "p")}
        # The target that cannot: said once, the files are there anyway.
        said = self.lines(srv, "mirror target p cannot set times")
        self.assertEqual(len(said), 1, srv.log_text()[-3000:])
        self.assertEqual(self.lines(srv, "mirror target r cannot"), [])
        # After the push: the time alone travels.
        self.assertTrue(f.sendcmd("MFMT %s %s" % (T2S, name))
                        .startswith("213"))
        self.assertTime(os.path.join(rdest, name), T2, srv)
        self.assertDrained(srv, "r", "p")
        for t in ("r", "p"):
            self.assertEqual(len(self.pushes(srv, t, "/alice/" + name)),
                             pushed[t], t)
        self.assertEqual(read(os.path.join(pdest, name)), data)
        f.close()
        # A restart: the catch-up compares (size, time) with what the
        # targets hold; the file whose time changed is not pushed again,
        # only a file written while relayftpd was down is.
        srv.stop()
        mark = len(srv.log_text())
        write(os.path.join(srv.home("alice"), "while-down.txt"), b"down")
        srv.start()
        self.assertEqual(wait_files(rdest, {"while-down.txt": b"down"},
                                    timeout=40), {})
        ok = wait_for(lambda: "mirror catch-up:" in srv.log_text()[mark:],
                      timeout=20)
        self.assertTrue(ok, srv.log_text()[mark:])
        m = re.search(r"mirror catch-up: (\d+) pushes queued",
                      srv.log_text()[mark:])
        self.assertEqual(m.group(1), "2", srv.log_text()[mark:])
        self.assertDrained(srv, "r", "p")
        for t in ("r", "p"):
            self.assertEqual(len(self.pushes(srv, t, "/alice/" + name)),
                             pushed[t], t)

    def test_relay_target_common_path(self):
        r = relay_target()
        self.addCleanup(r.cleanup)
        srv = self.mirror_server({"r": relay_target_spec(r, "/base")})
        self.times_reach(srv, "r", relay_dir(r, "base", "alice"))


class LftpThroughTheRelayTest(MirrorTimesBase):
    """The issue's "done means": lftp `mirror -R` keeps file times on
    relayftpd and on its targets."""

    def test_lftp_mirror_r_times_reach_the_target(self):
        r = relay_target()
        self.addCleanup(r.cleanup)
        srv = self.mirror_server({"r": relay_target_spec(r, "/base")})
        src = os.path.join(self.tmp, "src")
        files = {"a.txt": T1, "d/-b c.bin": T2, "d/e/caf\u00e9.txt": T3}
        for rel, t in files.items():
            write(os.path.join(src, rel), rel.encode() * 300)
            os.utime(os.path.join(src, rel), (t, t))
        script = ("set cmd:fail-exit yes; set ftp:ssl-allow no; "
                  "set net:max-retries 1; set net:timeout 10; "
                  "open -u alice,alice-pw ftp://127.0.0.1:%d; "
                  "mirror -R %s /m" % (srv.port, src))
        res = subprocess.run([LFTP, "-c", script], capture_output=True,
                             env=client_env(self.tmp), timeout=120,
                             stdin=subprocess.DEVNULL)
        self.assertEqual(res.returncode, 0,
                         res.stderr.decode(errors="replace"))
        dest = relay_dir(r, "base", "alice", "m")
        want = {rel: read(os.path.join(src, rel)) for rel in files}
        self.assertEqual(wait_files(dest, want, timeout=40), {},
                         srv.log_text()[-3000:])
        for rel, t in files.items():
            self.assertEqual(mtime(os.path.join(srv.home("alice"), "m",
                                                rel)), t, rel)
            self.assertTime(os.path.join(dest, rel), t, srv)


class VsftpdTimesTest(MirrorTimesBase):
    """vsftpd 3.0.3 lists no MFMT and answers SITE UTIME with 500, but its
    MDTM takes a time first (mdtm_write, default YES): the mirror learns
    that, reads the time back once, and uses it."""

    def test_vsftpd_target(self):
        user = self.system_user(mirror_peers.VSFTPD)
        v = VsftpdPeer(user)
        self.addCleanup(v.cleanup)
        # What vsftpd itself offers, asked directly.
        write(v.dir("probe.txt"), b"p")
        os.chown(v.dir("probe.txt"), user.uid, user.gid)
        f = ftplib.FTP()
        f.connect("127.0.0.1", v.port, timeout=30)
        self.addCleanup(f.close)
        f.login(user.name, user.password)
        self.assertNotIn("MFMT", f.sendcmd("FEAT"))
        for line in ("MFMT %s probe.txt" % T1S,
                     "SITE UTIME %s probe.txt" % T1S):
            with self.assertRaises(ftplib.error_perm, msg=line):
                f.sendcmd(line)
        self.assertTrue(f.sendcmd("MDTM %s probe.txt" % T3S)
                        .startswith("213"))
        self.assertEqual(mtime(v.dir("probe.txt")), T3)
        f.quit()
        srv = self.mirror_server({"v": v.target("/base")})
        self.times_reach(srv, "v", v.dir("base", "alice"))


class SftpTimesTest(MirrorTimesBase):

    def test_sftp_target(self):
        user = self.system_user(mirror_peers.SSHD, mirror_peers.SSH_KEYGEN)
        sshd = SshdPeer(user)
        self.addCleanup(sshd.cleanup)
        data_dir = os.path.join(sshd.tmp, "data")
        make_tree_dir(data_dir, owner=user)
        base = os.path.join(data_dir, "base")
        srv = self.mirror_server({"s": {
            "url": sshd.url(base),
            "host_key_sha256": sshd.host_key_sha256()}})
        # '"' and '\\' too: every quote command (put, rename, mtime)
        # escapes them the same way.
        self.times_reach(srv, "s", os.path.join(base, "alice"),
                         name="s -x % * \" \\ \u00e9.txt")


if __name__ == "__main__":
    unittest.main(verbosity=2)
