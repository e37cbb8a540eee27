"""Log files for logrotate: [server] log_file and xferlog, reopened on
SIGUSR1 (src/common/log.c, src/server/xferlog.c, server.c's signalfd).

With log_file set the log lines go to that file, not stderr. Rotation is
what logrotate does: rename both files, send SIGUSR1; relayftpd creates
them again under their configured names, the next lines and transfer
records go there and the renamed files stop growing (no line lost before
the signal either). The shipped dist/relayftpd.logrotate, pointed at a
test folder with its postrotate signal sent to the test's pid, rotates a
running daemon with the real logrotate. Rotations in the middle of many
parallel uploads lose and tear no transfer record. SIGUSR1 with neither file set
changes nothing (it used to kill the daemon: SIGUSR1's default action).
As root with run_as, a folder run_as cannot write keeps the lines going
to the renamed file, and the log says why.

Every wait is bounded (wait_for).
"""
import ftplib
import io
import os
import pwd
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Control, Server, wait_for  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SNIPPET = os.path.join(REPO, "dist", "relayftpd.logrotate")
USERS = {"alice": {"password": "alice-pw"}, "bob": {"password": "bob-pw"}}
# An admin's file name: blanks, quotes, a backslash, UTF-8.
NAME = 'r\u00e9sum\u00e9 "q" \\ 1.txt'


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def upload(srv, user, name, data=b"x" * 100):
    ftp = ftplib.FTP(encoding="utf-8")
    ftp.connect("127.0.0.1", srv.port, timeout=20)
    try:
        ftp.login(user, USERS[user]["password"])
        reply = ftp.storbinary("STOR " + name, io.BytesIO(data))
        ftp.quit()
    finally:
        ftp.close()
    assert reply.startswith("226"), reply


class LogReopenTest(unittest.TestCase):

    def server(self, logdir, **server):
        opts = {"log_file": os.path.join(logdir, "relayftpd.log"),
                "xferlog": os.path.join(logdir, "xferlog")}
        opts.update(server)
        srv = Server(users={k: dict(v) for k, v in USERS.items()},
                     server=opts, start=False)
        self.addCleanup(srv.cleanup)
        return srv

    def logdir(self):
        d = tempfile.mkdtemp(prefix="rftp-logs-")
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def wait_text(self, path, text, timeout=10):
        self.assertTrue(wait_for(lambda: text in read(path),
                                 timeout=timeout),
                        "%r never appeared in %s:\n%s" %
                        (text, path, read(path)))

    def test_sigusr1_after_rename_moves_the_lines_to_new_files(self):
        d = self.logdir()
        log, xfer = os.path.join(d, "relayftpd.log"), os.path.join(d,
                                                                  "xferlog")
        srv = self.server(d)
        srv.start()
        self.wait_text(log, "relayftpd ready")
        # The lines go to the file, not to stderr.
        self.assertNotIn("relayftpd ready", srv.log_text())
        upload(srv, "alice", "before.bin")
        self.wait_text(log, "logged in as alice")
        self.wait_text(xfer, "before.bin")

        os.rename(log, log + ".1")
        os.rename(xfer, xfer + ".1")
        srv.proc.send_signal(signal.SIGUSR1)
        self.wait_text(log, "xferlog %s reopened" % xfer)
        self.assertIn("log_file %s reopened" % log, read(log))
        self.assertTrue(os.path.exists(xfer))
        old_log, old_xfer = read(log + ".1"), read(xfer + ".1")

        upload(srv, "bob", NAME)
        self.wait_text(log, "logged in as bob")
        self.wait_text(xfer, NAME.replace(" ", "_"))
        self.assertNotIn("before.bin", read(xfer))
        self.assertNotIn("logged in as alice", read(log))
        # The renamed files stopped growing.
        self.assertEqual(read(log + ".1"), old_log)
        self.assertEqual(read(xfer + ".1"), old_xfer)
        self.assertIn("logged in as alice", old_log)
        self.assertIn("before.bin", old_xfer)
        self.assertEqual(srv.stop(), 0)
        self.assertIn("stopped", read(log))

    def test_rotations_during_parallel_uploads_lose_no_record(self):
        d = self.logdir()
        xfer = os.path.join(d, "xferlog")
        srv = self.server(d, max_clients_per_ip="64")
        srv.start()
        threads, per_thread, rotations = 4, 25, 5
        errors = []

        def client(n):
            try:
                for i in range(per_thread):
                    upload(srv, "alice" if n % 2 else "bob",
                           "t%d-%03d.bin" % (n, i), b"y" * 2000)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        workers = [threading.Thread(target=client, args=(n,))
                   for n in range(threads)]
        for w in workers:
            w.start()
        for r in range(1, rotations + 1):
            # Rotate once some records landed since the last rotation.
            wait_for(lambda: read(xfer).count("\n") >= 3, timeout=20)
            os.rename(xfer, "%s.%d" % (xfer, r))
            srv.proc.send_signal(signal.SIGUSR1)
            wait_for(lambda: os.path.exists(xfer), timeout=10)
        for w in workers:
            w.join(timeout=120)
            self.assertFalse(w.is_alive())
        self.assertEqual(errors, [])
        records = []
        rotated = ["%s.%d" % (xfer, r) for r in range(1, rotations + 1)]
        for path in rotated:
            # Each rotation happened while the uploads ran.
            self.assertGreaterEqual(read(path).count("\n"), 3, path)
        for path in [xfer] + rotated:
            records += read(path).splitlines()
        names = sorted(line.split()[8] for line in records)
        self.assertEqual(names, sorted(
            "/t%d-%03d.bin" % (n, i)
            for n in range(threads) for i in range(per_thread)))
        for line in records:
            fields = line.split()
            self.assertEqual(len(fields), 18, line)
            self.assertEqual(fields[7], "2000", line)
        self.assertEqual(srv.stop(), 0)

    def test_sigusr1_without_log_files_changes_nothing(self):
        srv = Server(users={"alice": {"password": "alice-pw"}})
        self.addCleanup(srv.cleanup)
        srv.proc.send_signal(signal.SIGUSR1)
        srv.proc.send_signal(signal.SIGUSR1)
        with Control(srv.port) as c:
            c.login()
        self.assertTrue(wait_for(
            lambda: "logged in as alice" in srv.log_text(), timeout=10))
        self.assertTrue(srv.running())
        self.assertNotIn("reopen", srv.log_text())
        self.assertEqual(srv.stop(), 0)

    def test_unopenable_log_file_refuses_to_start(self):
        d = self.logdir()
        srv = self.server(os.path.join(d, "no", "such", "folder"))
        with self.assertRaises(RuntimeError):
            srv.start(timeout=10)
        # Said at its line, as check says it, before anything opens.
        self.assertIn("key 'log_file': its folder does not exist",
                      srv.log_text())

    def test_a_link_planted_in_the_log_folder_is_not_followed(self):
        # The folder is run_as's (reopen creates the files as run_as),
        # the start opens them as root: a link planted there made root
        # append log lines, partly the clients' text, to any file (say
        # /etc/ld.so.preload, which takes each blank-separated word of
        # a USER name as a library to load), or create it.
        d = self.logdir()
        victim = os.path.join(self.logdir(), "victim")
        for key, name in (("log_file", "relayftpd.log"),
                          ("xferlog", "xferlog")):
            for exists in (True, False):
                if exists:
                    with open(victim, "w") as f:
                        f.write("root's\n")
                link = os.path.join(d, name)
                os.symlink(victim, link)
                srv = self.server(d)
                with self.assertRaises(RuntimeError):
                    srv.start(timeout=10)
                self.assertIn("key '%s': a symbolic link" % key,
                              srv.log_text())
                if exists:
                    self.assertEqual(read(victim), "root's\n")
                    os.unlink(victim)
                self.assertFalse(os.path.lexists(victim))
                os.unlink(link)
        # Planted at a rotation: the reopen keeps the files it has.
        log, xfer = os.path.join(d, "relayftpd.log"), os.path.join(d,
                                                                  "xferlog")
        srv = self.server(d)
        srv.start()
        for path in (log, xfer):
            os.rename(path, path + ".1")
            os.symlink(victim, path)
        srv.proc.send_signal(signal.SIGUSR1)
        self.wait_text(log + ".1", "cannot reopen xferlog")
        upload(srv, "alice", "after.bin")
        self.wait_text(xfer + ".1", "after.bin")
        self.assertIn("cannot reopen log_file", read(log + ".1"))
        self.assertFalse(os.path.lexists(victim))
        self.assertEqual(srv.stop(), 0)

    def test_shipped_logrotate_snippet_rotates_a_running_daemon(self):
        if shutil.which("logrotate") is None:
            self.skipTest("logrotate is not installed (scripts/deps.sh test)")
        d = self.logdir()
        log, xfer = os.path.join(d, "relayftpd.log"), os.path.join(d,
                                                                  "xferlog")
        srv = self.server(d)
        srv.start()
        upload(srv, "alice", "before.bin")
        self.wait_text(xfer, "before.bin")
        with open(SNIPPET) as f:
            conf = f.read()
        self.assertIn("/var/log/relayftpd/relayftpd.log", conf)
        self.assertIn("systemctl kill --kill-who=main --signal=USR1 "
                      "relayftpd.service", conf)
        conf = conf.replace("/var/log/relayftpd/", d + "/")
        conf = conf.replace(
            "systemctl kill --kill-who=main --signal=USR1 "
            "relayftpd.service", "kill -USR1 %d" % srv.proc.pid)
        conf_path = os.path.join(d, "logrotate.conf")
        with open(conf_path, "w") as f:
            f.write(conf)
        r = subprocess.run(["logrotate", "-f", "-s",
                            os.path.join(d, "state"), conf_path],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # delaycompress: the newest rotated files stay plain text.
        self.assertIn("before.bin", read(xfer + ".1"))
        self.wait_text(log, "xferlog %s reopened" % xfer)
        upload(srv, "bob", "after.bin")
        self.wait_text(xfer, "after.bin")
        self.assertNotIn("after.bin", read(xfer + ".1"))
        self.assertEqual(srv.stop(), 0)

    def test_reopen_refused_keeps_writing_to_the_old_file(self):
        if os.geteuid() != 0:
            self.skipTest("needs root: the daemon must start as root")
        d = self.logdir()  # root's, 0700: run_as cannot create in it
        os.chmod(d, 0o711)
        log = os.path.join(d, "relayftpd.log")
        srv = self.server(d, run_as="nobody")
        os.chmod(srv.tmp, 0o711)
        pw = pwd.getpwnam("nobody")
        for user in USERS:
            os.makedirs(srv.home(user))
            os.chown(srv.home(user), pw.pw_uid, pw.pw_gid)
        srv.start()
        self.wait_text(log, "dropped root: running as nobody")
        os.rename(log, log + ".1")
        srv.proc.send_signal(signal.SIGUSR1)
        self.wait_text(log + ".1", "cannot reopen log_file %s: Permission "
                       "denied (still writing to the file opened before)"
                       % log)
        self.assertFalse(os.path.exists(log))
        upload(srv, "bob", "after.bin")
        self.wait_text(log + ".1", "logged in as bob")
        self.assertEqual(srv.stop(), 0)


def sighup_pending(pid):
    """Whether SIGHUP waits for the process (its signalfd unread)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("ShdPnd:"):
                mask = int(line.split()[1], 16)
                return bool(mask & (1 << (signal.SIGHUP - 1)))
    return False


class FullDiskLogTest(unittest.TestCase):
    """log_file on a full disk (here the file size limit, RLIMIT_FSIZE,
    which makes write(2) behave as a full disk does: what fits, then
    nothing): a line written in part was left without its end, and the
    next line written once there was room again was glued to it; the lines
    lost were never said (found by an outside battery on a full tmpfs).
    Now every line of the file starts with its time, and the first line
    written again says how many were lost. The daemon lives on: its
    main thread, which logs a SIGHUP, was killed by SIGXFSZ."""

    def test_lines_stay_whole_and_the_loss_is_said(self):
        logdir = tempfile.mkdtemp(prefix="rftp-logs-")
        self.addCleanup(shutil.rmtree, logdir, True)
        log = os.path.join(logdir, "relayftpd.log")
        srv = Server(users={"alice": dict(USERS["alice"])},
                     server={"log_file": log, "log_level": "debug"})
        self.addCleanup(srv.cleanup)

        def sessions(n):
            for _ in range(n):
                c = Control(srv.port)
                c.login("alice", "alice-pw")
                for _ in range(5):
                    c.cmd("NOOP")
                c.close()

        sessions(1)
        # Room for about 40 more lines, not on a line's end.
        size = os.path.getsize(log)
        limit = size + 4096 + 37
        resource.prlimit(srv.proc.pid, resource.RLIMIT_FSIZE,
                         (limit, resource.RLIM_INFINITY))
        sessions(20)
        self.assertEqual(os.path.getsize(log), limit)
        # The main thread logs the reload: past the limit, write(2) there
        # raised SIGXFSZ, whose default action killed the daemon.
        srv.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: not sighup_pending(srv.proc.pid),
                                 timeout=10))
        # Its log line follows the signal's read at once.
        self.assertFalse(wait_for(lambda: srv.proc.poll() is not None,
                                  timeout=2), "the daemon died")
        resource.prlimit(srv.proc.pid, resource.RLIMIT_FSIZE,
                         (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        sessions(2)
        srv.stop()
        with open(log, "rb") as f:
            lines = f.read().split(b"\n")
        self.assertEqual(lines[-1], b"")
        stamp = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
                           rb"(debug|info|warn|error) ")
        # The one line cut by the limit ends there: it starts with its
        # time, or with as much of it as fitted (the limit may fall in
        # the stamp: "2026-12-03T" failed CI once); it is only short.
        # Every other line is whole.
        ends, at = [], 0
        for line in lines:
            at += len(line)
            ends.append(at)
            at += 1
        start = re.compile(rb"^[0-9T:.Z-]*( [a-z]*)?$")
        cut = [i for i, line in enumerate(lines[:-1])
               if not (stamp.match(line) or
                       (ends[i] == limit and start.match(line))) or
               re.search(rb".\d{4}-\d\d-\d\dT\d\d:", line)]
        self.assertEqual([lines[i][:120] for i in cut], [])
        lost = [line for line in lines
                if b"warn log: " in line and b"lines lost" in line]
        self.assertEqual(len(lost), 1, lost)
        self.assertGreater(int(lost[0].split(b"warn log: ")[1].split()[0]),
                           10)


class FullDiskXferlogTest(unittest.TestCase):
    """xferlog on a full disk (RLIMIT_FSIZE standing in, as above): the
    record written in part was glued to the next one written once there
    was room ("... 1 127Sat Dec  5 ..."), which xferlog readers take for
    one broken record, and the records lost were never said (found by
    fault injection). Now the cut record is ended before the next, and
    the log says how many records were lost."""

    RECORD = re.compile(r"^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} \d+ "
                        r"127\.0\.0\.1 10 /f\d b _ i r alice ftp 0 \* c$")

    def test_records_stay_whole_and_the_loss_is_said(self):
        srv = Server(users={"alice": dict(USERS["alice"])}, start=False)
        self.addCleanup(srv.cleanup)
        xferlog = os.path.join(srv.tmp, "xferlog")
        srv.server_opts["xferlog"] = xferlog
        srv.write_config()
        srv.start()
        c = Control(srv.port)
        self.addCleanup(c.close)
        c.login("alice", "alice-pw")
        for i in range(3):
            self.assertEqual(c.store("f%d" % i, b"x" * 10)[0], 226)
        # Room for part of the next record only.
        limit = os.path.getsize(xferlog) + 30
        resource.prlimit(srv.proc.pid, resource.RLIMIT_FSIZE,
                         (limit, resource.RLIM_INFINITY))
        try:
            for i in range(3, 6):
                self.assertEqual(c.store("f%d" % i, b"x" * 10)[0], 226)
        finally:
            resource.prlimit(
                srv.proc.pid, resource.RLIMIT_FSIZE,
                (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        for i in range(6, 8):
            self.assertEqual(c.store("f%d" % i, b"x" * 10)[0], 226)
        with open(xferlog) as f:
            lines = f.read().split("\n")
        self.assertEqual(lines[-1], "")
        whole = [line for line in lines[:-1] if self.RECORD.match(line)]
        others = [line for line in lines[:-1] if not self.RECORD.match(line)]
        self.assertEqual([line.split()[8] for line in whole],
                         ["/f0", "/f1", "/f2", "/f6", "/f7"], lines)
        # The one record cut by the limit, alone on its line.
        self.assertEqual(len(others), 1, lines)
        self.assertEqual(len(others[0]), 30, lines)
        self.assertIn("xferlog %s: 3 records lost before this one (it "
                      "could not be written: disk full or an error)"
                      % xferlog, srv.log_text())


if __name__ == "__main__":
    unittest.main(verbosity=2)
