"""Privileges: [server] run_as and umask (src/server/privdrop.c, main.c).

The rules under test: started as root with run_as, relayftpd binds its
listeners, then drops to that user for good (groups, gid, uid; every
thread), so what it creates belongs to run_as; the mirror queue it opened
as root still takes jobs after the drop. Started as root without run_as it
says so once in the log. An unknown run_as stops it before it serves, and
`relayftpd check` reports it. Not root, it may only run as run_as itself.
umask is applied process-wide: uploads are created 0666 and folders 0777
minus the umask (022 by default).

Every server is started with a different umask inherited from this test
(os.umask around start), so a server that ignored its configured umask
would show the wrong modes. Needs root (CI runs the suite as root); each
test is skipped with the reason otherwise. Every wait is bounded.
"""
import ftplib
import io
import os
import pwd
import signal
import stat
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import BINARY, Server, wait_for  # noqa: E402
from mirror_targets import (  # noqa: E402
    MirrorServer, PyftpdTarget, wait_files)

NOT_ROOT = "needs root: the daemon must start as root to drop to run_as"
RUN_AS = "nobody"
OTHER_USER = "daemon"  # any existing account other than RUN_AS
ROOT_WARNING = "running as root without run_as"


def status_ids(path):
    """{"Uid": [r, e, s, fs], "Gid": [...], "Groups": [...]} of a /proc
    status file."""
    ids = {}
    with open(path) as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("Uid", "Gid", "Groups"):
                ids[key] = [int(x) for x in rest.split()]
    return ids


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


class PrivilegeTest(unittest.TestCase):

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest(NOT_ROOT)
        self.pw = pwd.getpwnam(RUN_AS)

    # -- servers

    def prepare(self, srv, home_owner=True):
        """Makes srv's folder traversable by run_as and alice's home
        its own (relayftpd never chowns homes)."""
        self.addCleanup(srv.cleanup)
        os.chmod(srv.tmp, 0o711)
        home = srv.home("alice")
        os.makedirs(home)
        if home_owner:
            os.chown(home, self.pw.pw_uid, self.pw.pw_gid)
        return srv

    def start(self, srv, inherited_umask):
        old = os.umask(inherited_umask)
        try:
            srv.start()
        finally:
            os.umask(old)
        self.addCleanup(self.stop_checked, srv)
        return srv

    def stop_checked(self, srv):
        if srv.proc is not None:
            srv.stop(check=True)

    def upload(self, srv, name, data, mkd=None):
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", srv.port, timeout=20)
        try:
            ftp.login("alice", srv.users["alice"]["password"])
            if mkd is not None:
                ftp.mkd(mkd)
            reply = ftp.storbinary("STOR " + name, io.BytesIO(data))
            ftp.quit()
        finally:
            ftp.close()
        self.assertTrue(reply.startswith("226"), reply)

    def run_binary(self, args, timeout=30, **kw):
        return subprocess.run([BINARY] + args, capture_output=True,
                              text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, **kw)

    # -- run_as

    def test_drop_to_run_as_with_umask_027(self):
        srv = Server(server={"run_as": RUN_AS, "umask": "027"}, start=False)
        xferlog = os.path.join(srv.tmp, "xfer.log")
        srv.server_opts["xferlog"] = xferlog  # root's folder: opened before
        srv.write_config()                    # the drop and kept open
        self.prepare(srv)
        self.start(srv, 0o000)
        pid = srv.proc.pid
        uid, gid = self.pw.pw_uid, self.pw.pw_gid

        # Every thread, every id: real, effective, saved, filesystem.
        main = status_ids("/proc/%d/status" % pid)
        self.assertEqual(main["Uid"], [uid] * 4, main)
        self.assertEqual(main["Gid"], [gid] * 4, main)
        self.assertNotIn(0, main["Groups"], main)
        want_groups = sorted(set(os.getgrouplist(RUN_AS, gid)))
        self.assertEqual(sorted(set(main["Groups"])), want_groups, main)
        for tid in os.listdir("/proc/%d/task" % pid):
            ids = status_ids("/proc/%d/task/%s/status" % (pid, tid))
            self.assertEqual(ids["Uid"], [uid] * 4, (tid, ids))
            self.assertEqual(ids["Gid"], [gid] * 4, (tid, ids))
        self.assertIn("dropped root: running as %s" % RUN_AS,
                      srv.log_text())
        self.assertNotIn(ROOT_WARNING, srv.log_text())

        self.upload(srv, "sub/f.txt", b"hello\n", mkd="sub")
        home = srv.home("alice")
        f = os.path.join(home, "sub", "f.txt")
        st = os.lstat(f)
        self.assertEqual((st.st_uid, st.st_gid), (uid, gid))
        self.assertEqual(mode(f), 0o640)
        d = os.path.join(home, "sub")
        self.assertEqual(os.lstat(d).st_uid, uid)
        self.assertEqual(mode(d), 0o750)
        with open(xferlog) as f:
            self.assertIn("/sub/f.txt", f.read())

    def test_sighup_with_relayftpd_ini_readable_by_root_alone(self):
        # relayftpd.ini holds the targets' passwords: root's alone (0600)
        # is how an admin keeps it. After the drop SIGHUP cannot read it;
        # every SIGHUP warned "does not load ... a restart would fail" of
        # a good file. It says what it is, and users.ini is reloaded.
        srv = self.prepare(Server(server={"run_as": RUN_AS}, start=False))
        self.start(srv, 0o022)
        os.chmod(srv.config_path, 0o600)
        srv.proc.send_signal(signal.SIGHUP)
        said = "cannot be read by the user relayftpd runs as"
        self.assertTrue(wait_for(lambda: said in srv.log_text(),
                                 timeout=10), srv.log_text()[-2000:])
        self.assertIn("SIGHUP: %s %s" % (srv.config_path, said),
                      srv.log_text())
        self.assertNotIn("does not load", srv.log_text())
        self.assertNotIn("a restart would fail", srv.log_text())
        self.upload(srv, "after-hup.txt", b"still serving\n")
        r = self.run_binary(["check", "--config", srv.config_path])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_default_umask_022_after_drop(self):
        srv = self.prepare(Server(server={"run_as": RUN_AS}, start=False))
        self.start(srv, 0o077)
        self.upload(srv, "d/f.txt", b"x" * 1000, mkd="d")
        home = srv.home("alice")
        self.assertEqual(mode(os.path.join(home, "d", "f.txt")), 0o644)
        self.assertEqual(mode(os.path.join(home, "d")), 0o755)
        self.assertEqual(os.lstat(os.path.join(home, "d", "f.txt")).st_uid,
                         self.pw.pw_uid)

    def test_cwd_needs_search_permission(self):
        # CWD into a folder run_as may not search answered 250, and the
        # client's next LIST or STOR there failed (found from outside):
        # chdir(2) refuses it, and so do vsftpd and pure-ftpd. A folder
        # with search alone (--x) may be entered, not listed.
        srv = self.prepare(Server(server={"run_as": RUN_AS}, start=False))
        self.start(srv, 0o022)
        home = srv.home("alice")
        for name, m in (("locked", 0o000), ("readonly", 0o644),
                        ("passage", 0o711)):
            os.mkdir(os.path.join(home, name))
            os.chown(os.path.join(home, name), self.pw.pw_uid,
                     self.pw.pw_gid)
            os.chmod(os.path.join(home, name), m)
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", srv.port, timeout=20)
        self.addCleanup(ftp.close)
        ftp.login("alice", srv.users["alice"]["password"])
        for name in ("locked", "readonly"):
            with self.assertRaises(ftplib.error_perm) as cm:
                ftp.cwd("/" + name)
            self.assertTrue(str(cm.exception).startswith("550"),
                            cm.exception)
            self.assertEqual(ftp.pwd(), "/")
        self.assertTrue(ftp.cwd("/passage").startswith("250"))
        self.assertEqual(ftp.pwd(), "/passage")
        self.assertTrue(ftp.cwd("..").startswith("250"))
        ftp.quit()

    def test_umask_002_group_writable(self):
        # 002 tells 0666/0777 from the old fixed 0644/0755 apart.
        srv = self.prepare(Server(server={"run_as": RUN_AS,
                                          "umask": "002"}, start=False))
        self.start(srv, 0o077)
        self.upload(srv, "g/f.txt", b"group", mkd="g")
        home = srv.home("alice")
        self.assertEqual(mode(os.path.join(home, "g", "f.txt")), 0o664)
        self.assertEqual(mode(os.path.join(home, "g")), 0o775)

    def test_umask_without_the_owners_write_or_read(self):
        """umask 277 leaves an upload 0400 and 777 leaves it 0000: the
        partial is written through the descriptor that created it and
        locked through a read-only one opened by name, which 0000 does
        not allow (the lock then stays with the writing one). Both
        uploads are stored whole, and a second upload replaces the
        first."""
        for umask, want in (("277", 0o400), ("777", 0o000)):
            srv = self.prepare(Server(server={"run_as": RUN_AS,
                                              "umask": umask},
                                      start=False))
            self.start(srv, 0o022)
            data = os.urandom(70000)
            self.upload(srv, "u.bin", data)
            f = os.path.join(srv.home("alice"), "u.bin")
            self.assertEqual(mode(f), want, umask)
            with open(f, "rb") as fh:  # root reads 0000 too
                self.assertEqual(fh.read(), data, umask)
            again = os.urandom(1000)
            self.upload(srv, "u.bin", again)
            with open(f, "rb") as fh:
                self.assertEqual(fh.read(), again, umask)
            self.assertEqual(
                [n for n in os.listdir(srv.home("alice"))
                 if n.startswith(".rftpd-partial.")], [], umask)
            srv.stop(check=True)

    def test_root_without_run_as_warns_once(self):
        srv = self.prepare(Server(start=False), home_owner=False)
        self.start(srv, 0o077)
        self.assertTrue(wait_for(lambda: ROOT_WARNING in srv.log_text(),
                                 timeout=5), srv.log_text())
        self.assertEqual(srv.log_text().count(ROOT_WARNING), 1)
        self.assertEqual(status_ids("/proc/%d/status" % srv.proc.pid)
                         ["Uid"][1], 0)
        # Default umask 022 even though the parent's was 077.
        self.upload(srv, "f.txt", b"root's")
        f = os.path.join(srv.home("alice"), "f.txt")
        self.assertEqual(mode(f), 0o644)
        self.assertEqual(os.lstat(f).st_uid, 0)

    def test_homes_and_users_file_run_as_cannot_use_are_named(self):
        users = {"alice": {"password": "alice-pw"},
                 "bob": {"password": "bob-pw"},
                 "reader": {"password": "reader-pw", "permissions": "read"}}
        srv = self.prepare(Server(users=users, server={"run_as": RUN_AS},
                                  start=False))
        bob = srv.home("bob")
        os.makedirs(bob)                    # root's 0755: not writable
        reader = srv.home("reader")
        os.makedirs(reader)                 # readable: enough for reader
        os.chmod(srv.users_path, 0o600)     # root's only
        self.start(srv, 0o022)
        log = srv.log_text()
        self.assertIn("home %s of user [bob] is not readable and "
                      "writable by run_as %s" % (bob, RUN_AS), log)
        self.assertNotIn("user [alice]", log)
        self.assertNotIn("user [reader]", log)
        self.assertIn("run_as %s cannot read %s" % (RUN_AS, srv.users_path),
                      log)
        # Users loaded as root before the drop still log in.
        self.upload(srv, "ok.txt", b"ok")

    def test_users_file_reload_after_drop(self):
        srv = self.prepare(Server(server={"run_as": RUN_AS}, start=False))
        self.start(srv, 0o022)
        srv.users["bob"] = {"password": "bob-pw"}
        os.makedirs(srv.home("bob"))
        os.chown(srv.home("bob"), self.pw.pw_uid, self.pw.pw_gid)
        srv.write_users()
        srv.proc.send_signal(signal.SIGHUP)
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", srv.port, timeout=20)
        try:
            ftp.login("bob", "bob-pw")  # raises on 530
            ftp.storbinary("STOR b.txt", io.BytesIO(b"bob"))
            ftp.quit()
        finally:
            ftp.close()
        self.assertEqual(os.lstat(os.path.join(srv.home("bob"), "b.txt"))
                         .st_uid, self.pw.pw_uid)

    def test_unknown_run_as_refuses_to_start_and_check_reports_it(self):
        srv = self.prepare(Server(server={"run_as": "no-such-user-rftp"},
                                  start=False))
        r = self.run_binary(["--config", srv.config_path])
        self.assertNotEqual(r.returncode, 0)
        self.assertNotIn("listening on", r.stdout)
        self.assertIn("key 'run_as': no user 'no-such-user-rftp'", r.stderr)
        r = self.run_binary(["check", "--config", srv.config_path])
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("%s: key 'run_as': no user 'no-such-user-rftp' in "
                      "the passwd database" % srv.config_path, r.stderr)
        self.assertNotIn("OK", r.stdout)

    def test_run_as_root_is_refused(self):
        srv = self.prepare(Server(server={"run_as": "root"}, start=False))
        r = self.run_binary(["check", "--config", srv.config_path])
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("key 'run_as': user 'root' has uid 0", r.stderr)

    def test_not_root_runs_only_as_run_as_itself(self):
        uid, gid = self.pw.pw_uid, self.pw.pw_gid
        srv = self.prepare(Server(server={"run_as": OTHER_USER},
                                  start=False))
        # Started as nobody, asked to become someone else: refused.
        r = self.run_binary(["--config", srv.config_path], user=uid,
                            group=gid, extra_groups=[])
        self.assertNotEqual(r.returncode, 0)
        self.assertNotIn("listening on", r.stdout)
        self.assertIn("run_as = %s" % OTHER_USER, r.stderr)
        self.assertIn("not root, and cannot switch users", r.stderr)
        # Started as nobody with run_as = nobody: serves.
        srv.server_opts["run_as"] = RUN_AS
        srv.write_config()
        proc = subprocess.Popen([BINARY, "--config", srv.config_path],
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, user=uid,
                                group=gid, extra_groups=[])
        try:
            out = proc.stdout.readline().decode()
            self.assertTrue(out.startswith("listening on 127.0.0.1:"), out)
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=15)
        self.assertEqual(proc.returncode, 0, err.decode())
        self.assertNotIn(b"dropped root", err)

    # -- the mirror queue after the drop

    def test_mirror_queue_takes_jobs_after_drop(self):
        target = PyftpdTarget()
        self.addCleanup(target.cleanup)
        srv = self.prepare(MirrorServer(
            server={"run_as": RUN_AS, "umask": "027"},
            mirror={"retry_initial": "1", "retry_max": "2"},
            targets={"p": target.target()}, start=False))
        self.start(srv, 0o000)
        queue = os.path.join(srv.tmp, "relayftpd-queue.db")
        for path in (queue, queue + "-wal", queue + "-shm"):
            st = os.lstat(path)
            self.assertEqual((st.st_uid, st.st_gid),
                             (self.pw.pw_uid, self.pw.pw_gid), path)
        files = {"one.bin": os.urandom(3000), "two.bin": os.urandom(70000)}
        for name, data in files.items():
            self.upload(srv, name, data)
        self.assertEqual(wait_files(target.dir("base", "alice"), files,
                                    timeout=60), {}, srv.log_text())
        # `mirror status` (run as root) still reads the queue.
        st = srv.status()
        self.assertIn("p", st)
        # The queue files are still run_as's after root opened them.
        self.assertEqual(os.lstat(queue).st_uid, self.pw.pw_uid)
        code = srv.stop(check=True)
        self.assertEqual(code, 0)
        # A second start (root again, queue already run_as's) works too.
        self.start(srv, 0o000)
        self.upload(srv, "three.bin", b"3" * 10)
        self.assertEqual(wait_files(target.dir("base", "alice"),
                                    {"three.bin": b"3" * 10}, timeout=60),
                         {}, srv.log_text())


if __name__ == "__main__":
    unittest.main(verbosity=2)
