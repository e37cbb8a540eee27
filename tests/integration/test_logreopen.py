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
        self.assertIn("cannot open log_file", srv.log_text())

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


if __name__ == "__main__":
    unittest.main(verbosity=2)
