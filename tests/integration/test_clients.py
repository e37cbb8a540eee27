"""Real FTP clients against the real relayftpd: curl, lftp and ftplib.

Each test starts its own server (harness.Server) on an ephemeral loopback
port and drives it with an unmodified client, then checks the result on
disk, byte for byte. Interrupted uploads are made the way they happen in
practice (a client dying mid-transfer) and then resumed with the client's
own resume option (curl -C -, lftp put -c), which must continue the hidden
partial rather than publish a torn file.

Every subprocess has a timeout and every wait is a bounded poll.
"""
import ftplib
import io
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (KILLED_CLIENT_SERVER, Control, Server,  # noqa: E402
                     client_env, make_cert, wait_for)

CURL = "/usr/bin/curl"
LFTP = "/usr/bin/lftp"
WPUT = "/usr/bin/wput"
TNFTP = "/usr/bin/tnftp"
INETUTILS_FTP = "/usr/bin/inetutils-ftp"
RCLONE = "/usr/bin/rclone"
NCFTPPUT = "/usr/bin/ncftpput"
NCFTPGET = "/usr/bin/ncftpget"
PARTIAL_PREFIX = ".rftpd-partial."
MB = 1024 * 1024


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def tree(root):
    """{relative path: bytes} for files and {relative path} for folders."""
    files, dirs = {}, set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for d in dirnames:
            dirs.add(os.path.normpath(os.path.join(rel, d)))
        for f in filenames:
            files[os.path.normpath(os.path.join(rel, f))] = read(
                os.path.join(dirpath, f))
    return files, dirs


def make_partial(srv, name, data, nbytes, user="alice", password=None):
    """Starts STOR name, sends nbytes of data, then drops the client the
    way a crash does (control connection reset first, then the data
    connection). Waits until the server has abandoned the upload and
    returns the partial's path. The final name must not exist."""
    if password is None:
        password = srv.users[user]["password"]
    home = srv.home(user)
    folder, leaf = os.path.split(name.lstrip("/"))
    ppath = os.path.join(home, folder, PARTIAL_PREFIX + leaf)
    marker = "upload of /%s not complete" % name.lstrip("/")
    before = srv.log_text().count(marker)
    c = Control(srv.port)
    c.login(user, password)
    code, text = c.cmd("TYPE I")
    assert code == 200, text
    d = c.epsv()
    code, text = c.cmd("STOR " + name)
    assert code == 150, text
    d.sendall(data[:nbytes])
    ok = wait_for(lambda: os.path.exists(ppath) and
                  os.path.getsize(ppath) == nbytes, timeout=10)
    assert ok, "partial never reached %d bytes" % nbytes
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                      struct.pack("ii", 1, 0))
    c.close()
    d.close()
    ok = wait_for(lambda: srv.log_text().count(marker) > before, timeout=10)
    assert ok, "server did not abandon the upload:\n" + srv.log_text()
    return ppath


class ClientTest(unittest.TestCase):
    users = None
    server = None

    def setUp(self):
        self.srv = Server(users=self.users, server=self.server)
        self.home = self.srv.home("alice")
        self.work = tempfile.mkdtemp(prefix="rftp-clients-")
        self.env = client_env(self.work)
        self.addCleanup(shutil.rmtree, self.work, True)
        self.addCleanup(shutil.rmtree, self.srv.tmp, True)
        self.rng = random.Random(self.id())

    def tearDown(self):
        # A crash or an unclean exit of the server fails the test.
        self.srv.stop(check=True)

    def rand(self, n):
        return self.rng.randbytes(n)

    def local(self, *parts):
        return os.path.join(self.work, *parts)

    def homepath(self, *parts):
        return os.path.join(self.home, *parts)

    def log_count(self, needle):
        return self.srv.log_text().count(needle)


class CurlTest(ClientTest):
    server = KILLED_CLIENT_SERVER  # test_upload_resume_after_killed_curl

    def curl(self, *args, ok=True, timeout=90):
        cmd = [CURL, "-sS", "--max-time", str(timeout - 10)] + list(args)
        r = subprocess.run(cmd, capture_output=True, timeout=timeout,
                           env=self.env)
        if ok:
            self.assertEqual(
                r.returncode, 0, "%s failed: %s\n%s" %
                (cmd, r.stderr.decode(errors="replace"),
                 self.srv.log_text()[-3000:]))
        return r

    def url(self, path):
        return self.srv.url(path=path)

    def test_upload_create_dirs_download_roundtrip(self):
        data = self.rand(5 * MB)
        src = self.local("five.bin")
        write(src, data)
        self.curl("--ftp-create-dirs", "-T", src,
                  self.url("/deep/er/deepest/five.bin"))
        stored = self.homepath("deep", "er", "deepest", "five.bin")
        self.assertEqual(read(stored), data)
        self.assertEqual(
            [n for n in os.listdir(os.path.dirname(stored))], ["five.bin"])
        out = self.local("back.bin")
        self.curl("-o", out, self.url("/deep/er/deepest/five.bin"))
        self.assertEqual(read(out), data)

    def test_listing_and_names(self):
        files = {"one.txt": b"1", "two words.bin": self.rand(1234),
                 "caf\u00e9.txt": b"utf8 name\n", "empty": b""}
        for name, body in files.items():
            write(self.homepath("dir", name), body)
        os.makedirs(self.homepath("dir", "sub"))
        r = self.curl(self.url("/dir/"))
        lines = r.stdout.decode("utf-8").splitlines()
        self.assertEqual(len(lines), len(files) + 1, lines)
        seen = {}
        for line in lines:
            m = re.match(r"^([d-][rwx-]{9})\s+\d+\s+\S+\s+\S+\s+(\d+)\s+"
                         r"\w{3}\s+\d+\s+(?:\d\d:\d\d|\d{4})\s(.+)$", line)
            self.assertIsNotNone(m, "unparsable LIST line %r" % line)
            seen[m.group(3)] = (m.group(1)[0], int(m.group(2)))
        for name, body in files.items():
            self.assertEqual(seen[name], ("-", len(body)))
        self.assertEqual(seen["sub"][0], "d")
        r = self.curl("-l", self.url("/dir/"))
        names = r.stdout.decode("utf-8").splitlines()
        self.assertEqual(sorted(names), sorted(list(files) + ["sub"]))

    def test_download_resume(self):
        data = self.rand(3 * MB + 17)
        write(self.homepath("r.bin"), data)
        out = self.local("r.bin")
        self.curl("-o", out, self.url("/r.bin"))
        self.assertEqual(read(out), data)
        for cut in (1, 65536, 2 * MB + 5):
            with open(out, "r+b") as f:
                f.truncate(cut)
            before = self.log_count("sent /r.bin (%d bytes)" %
                                    (len(data) - cut))
            self.curl("-C", "-", "-o", out, self.url("/r.bin"))
            self.assertEqual(read(out), data, "resume from %d" % cut)
            # Only the tail went over the wire.
            self.assertEqual(
                self.log_count("sent /r.bin (%d bytes)" % (len(data) - cut)),
                before + 1, self.srv.log_text()[-2000:])

    def test_quote_dele(self):
        write(self.homepath("x"), b"doomed")
        write(self.homepath("keep"), b"stays")
        r = self.curl("-Q", "DELE x", "-l", self.url("/"))
        self.assertFalse(os.path.exists(self.homepath("x")))
        self.assertEqual(r.stdout.decode().split(), ["keep"])
        # A quote command the server refuses fails the transfer.
        r = self.curl("-Q", "DELE x", self.url("/"), ok=False)
        self.assertEqual(r.returncode, 21, r.stderr)  # CURLE_QUOTE_ERROR
        self.assertTrue(os.path.exists(self.homepath("keep")))

    def active_roundtrip(self, *flags):
        data = self.rand(MB + 3)
        src = self.local("act.bin")
        write(src, data)
        r = self.curl("-v", "--ftp-port", "127.0.0.1", *flags, "-T", src,
                      self.url("/act.bin"))
        err = r.stderr.decode(errors="replace")
        self.assertEqual(read(self.homepath("act.bin")), data)
        out = self.local("act.back")
        self.curl("-P", "127.0.0.1", *flags, "-o", out, self.url("/act.bin"))
        self.assertEqual(read(out), data)
        return err

    def test_active_mode_eprt(self):
        err = self.active_roundtrip()
        self.assertIn("> EPRT |1|127.0.0.1|", err)
        self.assertNotIn("> EPSV", err)

    def test_active_mode_port(self):
        err = self.active_roundtrip("--disable-eprt")
        self.assertIn("> PORT 127,0,0,1,", err)
        self.assertNotIn("> EPRT", err)

    def passive_roundtrip(self, *flags):
        data = self.rand(2 * MB + 1)
        src = self.local("pas.bin")
        write(src, data)
        r = self.curl("-v", *flags, "-T", src, self.url("/pas.bin"))
        self.assertEqual(read(self.homepath("pas.bin")), data)
        out = self.local("pas.back")
        r2 = self.curl("-v", *flags, "-o", out, self.url("/pas.bin"))
        self.assertEqual(read(out), data)
        r3 = self.curl(*flags, self.url("/"))
        self.assertIn(" pas.bin", r3.stdout.decode())
        return r.stderr.decode(errors="replace") + r2.stderr.decode(
            errors="replace")

    def test_epsv(self):
        err = self.passive_roundtrip("--ftp-pasv")
        self.assertIn("> EPSV", err)
        self.assertNotIn("> PASV", err)

    def test_pasv(self):
        err = self.passive_roundtrip("--disable-epsv")
        self.assertIn("> PASV", err)
        self.assertNotIn("> EPSV", err)

    def assert_unpublished(self, name):
        self.assertFalse(os.path.exists(self.homepath(name)))
        listing = self.curl(self.url("/")).stdout.decode()
        names = self.curl("-l", self.url("/")).stdout.decode().splitlines()
        self.assertNotIn(name, listing)
        self.assertNotIn(name, names)
        self.assertNotIn(PARTIAL_PREFIX, listing)
        r = self.curl("-o", self.local("nope"), self.url("/" + name),
                      ok=False)
        self.assertEqual(r.returncode, 78, r.stderr)  # REMOTE_FILE_NOT_FOUND

    def test_upload_resume_after_crash(self):
        data = self.rand(4 * MB + 999)
        src = self.local("resume.bin")
        write(src, data)
        half = len(data) // 2 + 12345
        ppath = make_partial(self.srv, "resume.bin", data, half)
        self.assertEqual(read(ppath), data[:half])
        self.assert_unpublished("resume.bin")
        # SIZE reports the bytes received so far; curl continues from them.
        r = self.curl("-v", "-C", "-", "-T", src, self.url("/resume.bin"))
        err = r.stderr.decode(errors="replace")
        self.assertIn("< 213 %d" % half, err)
        self.assertEqual(read(self.homepath("resume.bin")), data)
        self.assertFalse(os.path.exists(ppath))
        self.assertIn("received /resume.bin (%d bytes, %d total)" %
                      (len(data) - half, len(data)), self.srv.log_text())

    def test_upload_resume_after_killed_curl(self):
        data = self.rand(6 * MB)
        src = self.local("killed.bin")
        write(src, data)
        ppath = self.homepath(PARTIAL_PREFIX + "killed.bin")
        cmd = [CURL, "-sS", "--max-time", "60", "--limit-rate", "400K",
               "-T", src, self.url("/killed.bin")]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=self.env)
        try:
            grew = wait_for(lambda: os.path.exists(ppath) and
                            os.path.getsize(ppath) >= 300 * 1024,
                            timeout=20)
            self.assertTrue(grew, "upload never started")
            self.assertFalse(os.path.exists(self.homepath("killed.bin")))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        self.assertTrue(wait_for(
            lambda: "upload of /killed.bin not complete" in
            self.srv.log_text(), timeout=10), self.srv.log_text())
        self.assert_unpublished("killed.bin")
        have = os.path.getsize(ppath)
        self.assertGreater(have, 0)
        self.assertLess(have, len(data))
        self.assertEqual(read(ppath), data[:have])
        self.curl("-C", "-", "-T", src, self.url("/killed.bin"))
        self.assertEqual(read(self.homepath("killed.bin")), data)
        self.assertFalse(os.path.exists(ppath))
        self.assertIn("received /killed.bin (%d bytes, %d total)" %
                      (len(data) - have, len(data)), self.srv.log_text())


def build_tree(root, rng):
    """3 levels of folders, 40 files from 0 B to 1 MB, awkward names."""
    folders = ["", "docs", "docs/old notes",
               "docs/old notes/caf\u00e9 \u00e0 deux",
               "media", "media/\u65e5\u672c",
               "media/\u65e5\u672c/level three", "x y z"]
    sizes = [0, 0, 1, 2, 511, 512, 4095, 4096, 4097, 65535, 65536, 65537,
             MB, MB - 1, 300000, 123457, 7, 99, 1000, 250000]
    names = ["caf\u00e9.txt", "with space.bin",
             "na\u00efve r\u00e9sum\u00e9.doc",
             "\u00fcber.dat", "plain", "a.b.c", "UPPER.TXT", "-dash",
             "\u03b1\u03b2\u03b3.bin", "#hash", "100%.txt", "semi;colon"]
    made = {}
    for i in range(40):
        folder = folders[i % len(folders)]
        name = "%02d %s" % (i, names[i % len(names)])
        size = sizes[i % len(sizes)] if i < len(sizes) else rng.randrange(
            0, MB + 1)
        rel = os.path.join(folder, name) if folder else name
        body = rng.randbytes(size)
        write(os.path.join(root, rel), body)
        made[os.path.normpath(rel)] = body
    os.makedirs(os.path.join(root, "empty folder"))
    return made


class LftpTest(ClientTest):

    def lftp(self, script, timeout=120, ok=True):
        prelude = ("set cmd:fail-exit yes; set ftp:ssl-allow no; "
                   "set net:max-retries 1; set net:timeout 10; "
                   "set net:reconnect-interval-base 1; "
                   "set ftp:passive-mode on; set file:charset utf-8; "
                   "set xfer:clobber on; "
                   "open -u alice,alice-pw ftp://127.0.0.1:%d; " %
                   self.srv.port)
        r = subprocess.run([LFTP, "-c", prelude + script],
                           capture_output=True, timeout=timeout,
                           env=self.env, stdin=subprocess.DEVNULL)
        if ok:
            self.assertEqual(
                r.returncode, 0, "lftp %r failed:\n%s\n%s\n%s" %
                (script, r.stdout.decode(errors="replace"),
                 r.stderr.decode(errors="replace"),
                 self.srv.log_text()[-3000:]))
        return r

    def test_mirror_roundtrip(self):
        src = self.local("src")
        made = build_tree(src, self.rng)
        self.assertEqual(len(made), 40)
        self.lftp("mirror -R %s remote" % src)
        want = tree(src)
        self.assertEqual(want[0], made)
        got = tree(self.homepath("remote"))
        self.assertEqual(sorted(got[0]), sorted(want[0]))
        for rel in want[0]:
            self.assertEqual(got[0][rel], want[0][rel], rel)
        self.assertEqual(got[1], want[1])
        # Nothing left behind: no partials anywhere in the home.
        for dirpath, _, filenames in os.walk(self.home):
            for f in filenames:
                self.assertFalse(f.startswith(PARTIAL_PREFIX),
                                 os.path.join(dirpath, f))
        back = self.local("back")
        self.lftp("mirror remote %s" % back)
        got = tree(back)
        self.assertEqual(sorted(got[0]), sorted(want[0]))
        for rel in want[0]:
            self.assertEqual(got[0][rel], want[0][rel], rel)
        self.assertEqual(got[1], want[1])

    def test_mirror_with_declared_sizes(self):
        # lftp's ftp:use-allo sends ALLO <size> before each STOR: every
        # file of the tree, awkward names and empty files included, then
        # ends on the declaration instead of the watch (test_allo.py).
        src = self.local("src")
        build_tree(src, self.rng)
        want = tree(src)
        self.lftp("set ftp:use-allo yes; mirror -R %s remote" % src)
        self.assertEqual(tree(self.homepath("remote")), want)
        lines = [ln for ln in self.srv.log_text().splitlines()
                 if "] received " in ln]
        self.assertEqual(len(lines), len(want[0]))
        undeclared = [ln for ln in lines if "as ALLO declared" not in ln]
        self.assertEqual(undeclared, [])

    def test_mirror_continue_idempotent(self):
        src = self.local("src")
        build_tree(src, self.rng)
        want = tree(src)
        self.lftp("mirror -R --continue %s remote" % src)
        self.assertEqual(tree(self.homepath("remote")), want)
        received = self.log_count("] received ")
        self.assertEqual(received, len(want[0]))
        self.lftp("mirror -R --continue %s remote" % src)
        self.assertEqual(tree(self.homepath("remote")), want)
        self.assertEqual(self.log_count("] received "), received,
                         "second mirror uploaded again:\n" +
                         self.srv.log_text()[-3000:])

    def test_put_continue_after_crash(self):
        data = self.rand(3 * MB + 5)
        src = self.local("big file.bin")
        write(src, data)
        have = MB + 77
        ppath = make_partial(self.srv, "big file.bin", data, have)
        self.assertFalse(os.path.exists(self.homepath("big file.bin")))
        r = self.lftp("ls")
        self.assertNotIn("big file.bin", r.stdout.decode())
        self.lftp('put -c "%s" -o "big file.bin"' % src)
        self.assertEqual(read(self.homepath("big file.bin")), data)
        self.assertFalse(os.path.exists(ppath))
        self.assertIn("received /big file.bin (%d bytes, %d total)" %
                      (len(data) - have, len(data)), self.srv.log_text())

    def test_put_continue_nothing_to_resume(self):
        # put -c of a name with no partial and no file: a plain upload.
        data = self.rand(200000)
        src = self.local("fresh.bin")
        write(src, data)
        self.lftp('put -c "%s" -o fresh.bin' % src)
        self.assertEqual(read(self.homepath("fresh.bin")), data)


def need_client(case, path, package):
    """Skips case when the client path is missing: scripts/deps.sh test
    installs its Debian package (CI runs it), so it is missing only
    where that package cannot be installed."""
    if not os.access(path, os.X_OK):
        case.skipTest("%s is not installed (Debian package %s; "
                      "scripts/deps.sh test)" % (path, package))


class WputTest(ClientTest):
    """wput, a command-line uploader whose selling point is resuming."""

    def wput(self, *args, timeout=60):
        need_client(self, WPUT, "wput")
        # --tries=1: a failure is reported, not retried every 10 s.
        cmd = [WPUT, "--tries=1", "--timeout=10"] + list(args)
        return subprocess.run(cmd, capture_output=True, timeout=timeout,
                              env=self.env, stdin=subprocess.DEVNULL,
                              cwd=self.work)

    def test_resume_after_crash(self):
        """wput resumes from 512 bytes or more before the size SIZE
        tells, and sends them again: it got 554 at every try, for good
        (vsftpd writes them over the old ones), and its partial stayed."""
        data = self.rand(2 * MB + 99)
        src = self.local("w.bin")
        write(src, data)
        have = MB + 4321
        ppath = make_partial(self.srv, "w.bin", data, have)
        r = self.wput("w.bin", self.srv.url(path="/w.bin"))
        out = (r.stdout + r.stderr).decode(errors="replace")
        self.assertEqual(r.returncode, 0, out + self.srv.log_text()[-3000:])
        self.assertEqual(read(self.homepath("w.bin")), data)
        self.assertFalse(os.path.exists(ppath))
        m = re.search(r"\] received /w\.bin \((\d+) bytes, %d total\)" %
                      len(data), self.srv.log_text())
        self.assertIsNotNone(m, self.srv.log_text()[-3000:])
        # A resume: the bytes sent again are a tail, not the file.
        self.assertLess(int(m.group(1)), len(data) - MB)


class ClassicFtpTest(ClientTest):
    """The classic ftp command (tnftp, inetutils-ftp) run from a script,
    as cron jobs do: a here-document on stdin."""

    def ftp(self, path, package, script, cwd):
        need_client(self, path, package)
        text = "user alice alice-pw\nprompt off\n" + script + "quit\n"
        if path == INETUTILS_FTP:  # its "prompt" toggles; no argument
            text = text.replace("prompt off", "prompt")
        r = subprocess.run([path, "-n", "-v", "127.0.0.1",
                            str(self.srv.port)], input=text.encode(),
                           capture_output=True, timeout=60, env=self.env,
                           cwd=cwd)
        out = (r.stdout + r.stderr).decode(errors="replace")
        self.assertEqual(r.returncode, 0, out)
        return out

    def test_mget_of_a_path_fetches_that_file(self):
        """mget sub/y.txt lists the name with NLST and fetches what it
        is told: told "y.txt", it fetched the current folder's y.txt
        (another file), where vsftpd says "sub/y.txt"."""
        write(self.homepath("sub", "y.txt"), b"the one asked for")
        write(self.homepath("sub", "z 1.txt"), b"z")
        write(self.homepath("y.txt"), b"another file")
        for path, package in ((TNFTP, "tnftp"),
                              (INETUTILS_FTP, "inetutils-ftp")):
            cwd = self.local(package)
            os.makedirs(os.path.join(cwd, "sub"))
            out = self.ftp(path, package, "mget sub/y.txt\n"
                           "mget sub/z*\n", cwd)
            self.assertEqual(read(os.path.join(cwd, "sub", "y.txt")),
                             b"the one asked for", out)
            self.assertEqual(read(os.path.join(cwd, "sub", "z 1.txt")),
                             b"z", out)
            self.assertEqual(sorted(os.listdir(cwd)), ["sub"], out)


class RcloneTest(ClientTest):
    """rclone with an on-the-fly :ftp: remote (no config file), as in
    scripts: copy, check, sync again (nothing to do), times, moves and
    removals."""

    def rclone(self, *args, ok=True):
        need_client(self, RCLONE, "rclone")
        env = dict(self.env)
        env["RCLONE_CONFIG"] = "/dev/null"
        r = subprocess.run([RCLONE, "--retries", "1",
                            "--low-level-retries", "1", "--contimeout",
                            "10s", "--timeout", "20s"] + list(args),
                           capture_output=True, timeout=90, env=env,
                           stdin=subprocess.DEVNULL)
        out = (r.stdout + r.stderr).decode(errors="replace")
        if ok:
            self.assertEqual(r.returncode, 0, "rclone %s:\n%s\n%s" % (
                args, out, self.srv.log_text()[-3000:]))
        return out

    def remote(self, path, user="alice", **opts):
        # The password obscured, as rclone takes it; once, so that every
        # remote of the test is the same (a move between two is then
        # the server's rename, not a copy and a delete per file).
        if not hasattr(self, "obscured"):
            self.obscured = subprocess.run(
                [RCLONE, "obscure", self.srv.users[user]["password"]],
                capture_output=True, text=True, timeout=30,
                check=True).stdout.strip()
        keys = ["host=127.0.0.1", "port=%d" % self.srv.port,
                "user=" + user, "pass=" + self.obscured]
        keys += ["%s=%s" % kv for kv in opts.items()]
        return ":ftp,%s:%s" % (",".join(keys), path)

    def test_copy_check_sync_times_moves(self):
        need_client(self, RCLONE, "rclone")
        src = self.local("src")
        build_tree(src, self.rng)
        old = 1262304000  # 2010-01-01, kept by MFMT
        os.utime(os.path.join(src, "00 caf\u00e9.txt"), (old, old))
        self.rclone("copy", "--create-empty-src-dirs", src, self.remote("r"))
        self.assertTrue(tree(self.homepath("r")) == tree(src))
        self.assertEqual(
            os.stat(self.homepath("r", "00 caf\u00e9.txt")).st_mtime, old)
        out = self.rclone("check", src, self.remote("r"))
        self.assertIn("0 differences found", out)
        received = self.log_count("] received ")
        out = self.rclone("sync", "-v", "--create-empty-src-dirs", src,
                          self.remote("r"))
        self.assertIn("There was nothing to transfer", out)
        self.assertEqual(self.log_count("] received "), received)
        self.rclone("moveto", self.remote("r/docs"), self.remote("moved"))
        self.assertIn("renamed /r/docs to /moved", self.srv.log_text())
        self.assertFalse(os.path.exists(self.homepath("r", "docs")))
        self.assertTrue(tree(self.homepath("moved")) ==
                        tree(os.path.join(src, "docs")))
        self.rclone("purge", self.remote("moved"))
        self.rclone("rmdir", self.remote("r/empty folder"))
        self.assertEqual(sorted(os.listdir(self.home)), ["r"])
        shutil.rmtree(os.path.join(src, "docs"))
        os.rmdir(os.path.join(src, "empty folder"))
        self.assertTrue(tree(self.homepath("r")) == tree(src))


class RcloneTlsTest(RcloneTest):
    """rclone 1.60 (Debian 12's) gives all its connections one TLS
    session cache: with more than one, a data connection may offer
    another connection's session and gets 425 (the same with vsftpd's
    require_ssl_reuse). With --ftp-concurrency 1, as the README says,
    it works with session reuse required."""

    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="rftp-clients-")
        self.addCleanup(shutil.rmtree, self.work, True)
        cert, key = make_cert(self.work)
        self.srv = Server(users={"alice": {"password": "alice-pw"}},
                          sections={"tls": {
                              "cert": cert, "key": key,
                              "require_login_tls": "on",
                              "require_data_tls": "on"}})
        self.addCleanup(shutil.rmtree, self.srv.tmp, True)
        self.home = self.srv.home("alice")
        self.env = client_env(self.work)
        self.rng = random.Random(self.id())

    def remote(self, path, user="alice", **opts):
        return super().remote(path, user, explicit_tls="true",
                              no_check_certificate="true",
                              concurrency="1", **opts)


class NcftpTest(ClientTest):
    """ncftpput and ncftpget, NcFTP's command-line tools."""

    def run_tool(self, *cmd, cwd=None):
        need_client(self, NCFTPPUT, "ncftp")
        r = subprocess.run(list(cmd), capture_output=True, timeout=90,
                           env=self.env, cwd=cwd or self.work,
                           stdin=subprocess.DEVNULL)
        out = (r.stdout + r.stderr).decode(errors="replace")
        self.assertEqual(r.returncode, 0, out + self.srv.log_text()[-3000:])
        return out

    def login(self):
        return ["-u", "alice", "-p", "alice-pw", "-P", str(self.srv.port)]

    def test_recursive_put_and_get(self):
        src = self.local("src")
        build_tree(src, self.rng)
        write(os.path.join(src, "it's \"q\".txt"), b"quotes")
        self.run_tool(NCFTPPUT, *self.login(), "-m", "-R", "127.0.0.1",
                      "/up", src)
        self.assertEqual(tree(self.homepath("up", "src")), tree(src))
        back = self.local("back")
        os.makedirs(back)
        self.run_tool(NCFTPGET, *self.login(), "-R", "127.0.0.1", back,
                      "/up/src")
        self.assertEqual(tree(os.path.join(back, "src")), tree(src))
        # -A appends to the remote file.
        write(self.local("log.txt"), b"second\n")
        write(self.homepath("log.txt"), b"first\n")
        self.run_tool(NCFTPPUT, *self.login(), "-A", "127.0.0.1", "/",
                      self.local("log.txt"))
        self.assertEqual(read(self.homepath("log.txt")), b"first\nsecond\n")


class FtplibTest(ClientTest):

    def connect(self):
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", self.srv.port, timeout=10)
        ftp.encoding = "utf-8"
        self.addCleanup(ftp.close)
        ftp.login("alice", "alice-pw")
        return ftp

    def test_roundtrip_and_file_ops(self):
        ftp = self.connect()
        self.assertEqual(ftp.pwd(), "/")
        data = self.rand(MB + 321)
        resp = ftp.storbinary("STOR f.bin", io.BytesIO(data), 65536)
        self.assertTrue(resp.startswith("226"), resp)
        self.assertEqual(read(self.homepath("f.bin")), data)
        buf = io.BytesIO()
        resp = ftp.retrbinary("RETR f.bin", buf.write)
        self.assertTrue(resp.startswith("226"), resp)
        self.assertEqual(buf.getvalue(), data)
        self.assertEqual(ftp.size("f.bin"), len(data))
        # REST with retrbinary: the exact tail.
        buf = io.BytesIO()
        ftp.retrbinary("RETR f.bin", buf.write, rest=1000)
        self.assertEqual(buf.getvalue(), data[1000:])

        self.assertTrue(ftp.mkd("sub dir").endswith("sub dir"))
        self.assertTrue(os.path.isdir(self.homepath("sub dir")))
        ftp.storbinary("STOR sub dir/caf\u00e9.txt", io.BytesIO(b"hi\n"))
        self.assertEqual(read(self.homepath("sub dir", "caf\u00e9.txt")),
                         b"hi\n")

        facts = dict(ftp.mlsd("", facts=["type", "size", "modify"]))
        # RFC 3659 7.5.1: the listed folder itself may come as type=cdir.
        self.assertEqual(facts.pop(".", {"type": "cdir"})["type"], "cdir")
        self.assertEqual(set(facts), {"f.bin", "sub dir"})
        self.assertEqual(facts["f.bin"]["type"], "file")
        self.assertEqual(int(facts["f.bin"]["size"]), len(data))
        self.assertRegex(facts["f.bin"]["modify"], r"^\d{14}$")
        self.assertEqual(facts["sub dir"]["type"], "dir")
        sub = {n: f for n, f in ftp.mlsd("sub dir") if f["type"] == "file"}
        self.assertEqual(list(sub), ["caf\u00e9.txt"])
        self.assertEqual(sub["caf\u00e9.txt"]["size"], "3")

        self.assertEqual(sorted(ftp.nlst()), ["f.bin", "sub dir"])
        ftp.cwd("sub dir")
        self.assertEqual(ftp.pwd(), "/sub dir")
        self.assertEqual(ftp.nlst(), ["caf\u00e9.txt"])
        ftp.cwd("/")

        resp = ftp.rename("f.bin", "sub dir/g.bin")
        self.assertTrue(resp.startswith("250"), resp)
        self.assertFalse(os.path.exists(self.homepath("f.bin")))
        self.assertEqual(read(self.homepath("sub dir", "g.bin")), data)
        with self.assertRaises(ftplib.error_perm) as cm:
            ftp.size("f.bin")
        self.assertTrue(str(cm.exception).startswith("550"))

        with self.assertRaises(ftplib.error_perm) as cm:
            ftp.rmd("sub dir")  # not empty
        self.assertTrue(str(cm.exception).startswith("550"))
        ftp.delete("sub dir/g.bin")
        ftp.delete("sub dir/caf\u00e9.txt")
        with self.assertRaises(ftplib.error_perm) as cm:
            ftp.delete("sub dir/g.bin")
        self.assertTrue(str(cm.exception).startswith("550"))
        ftp.rmd("sub dir")
        self.assertEqual(os.listdir(self.home), [])
        self.assertEqual(ftp.nlst(), [])
        self.assertTrue(ftp.quit().startswith("221"))

    def test_size_reports_partial(self):
        data = self.rand(700000)
        make_partial(self.srv, "p.bin", data, 250000)
        ftp = self.connect()
        self.assertEqual(ftp.size("p.bin"), 250000)
        self.assertEqual(ftp.nlst(), [])
        self.assertEqual([n for n, f in ftp.mlsd() if f["type"] != "cdir"],
                         [])
        with self.assertRaises(ftplib.error_perm) as cm:
            ftp.retrbinary("RETR p.bin", lambda b: None)
        self.assertTrue(str(cm.exception).startswith("550"))
        # The partial's own name is not reachable either.
        with self.assertRaises(ftplib.error_perm):
            ftp.retrbinary("RETR " + PARTIAL_PREFIX + "p.bin",
                           lambda b: None)
        # APPE continues the partial (what curl -C - -T sends).
        ftp.voidcmd("TYPE I")
        conn = ftp.transfercmd("APPE p.bin")
        conn.sendall(data[250000:])
        conn.close()
        ftp.voidresp()
        self.assertEqual(read(self.homepath("p.bin")), data)


if __name__ == "__main__":
    unittest.main()
