"""systemd integration: the sd_notify protocol and the installed unit
(src/server/svcnotify.c, dist/relayftpd.service.in, dist/install.cmake).

The daemon is started with $NOTIFY_SOCKET naming an AF_UNIX datagram socket
this test listens on, as systemd's manager does for Type=notify: READY=1
arrives once the port answers 220 (and a connection made right after it is
served), sent by the daemon's own pid (NotifyAccess=main); SIGHUP brings
RELOADING=1 with MONOTONIC_USEC, then READY=1 once the users file was read
again (a user added before the signal logs in); SIGTERM brings STOPPING=1
and a clean exit. Started as root with run_as, the notifications still
arrive after the drop. A $NOTIFY_SOCKET nobody listens on changes nothing.

The unit is installed with `cmake --install --prefix TMP/usr` (so its
ExecStart names a binary that exists, which `systemd-analyze verify` wants)
and verified with the installed man pages on MANPATH (verify runs `man` for
each Documentation= page). The daemon then runs under the unit's
CapabilityBoundingSet and NoNewPrivileges (setpriv) with run_as, and still
serves uploads: the hardening does not break the drop to run_as.

Every wait is bounded (socket timeouts, wait_for).
"""
import ftplib
import io
import os
import pwd
import re
import shutil
import shlex
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import BINARY, Control, Server, wait_for  # noqa: E402

BUILD = os.path.dirname(os.path.abspath(BINARY))
RUN_AS = "nobody"


class NotifyServer(Server):
    """A Server started with extra environment (NOTIFY_SOCKET) and an
    optional command prefix (setpriv)."""

    def __init__(self, env=None, prefix=(), **kw):
        self.extra_env = env or {}
        self.prefix = list(prefix)
        super().__init__(start=False, **kw)

    def _spawn(self, cmd, env=None, pipe_stdout=False):
        env = dict(os.environ)
        env.update(self.extra_env)
        super()._spawn(self.prefix + cmd, env=env, pipe_stdout=pipe_stdout)


class NotifySocket:
    """The manager's end: a datagram socket at path, with SO_PASSCRED so
    each message carries its sender's pid."""

    def __init__(self, folder):
        self.path = os.path.join(folder, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o666)  # as /run/systemd/notify: run_as too

    def close(self):
        self.sock.close()

    def recv(self, timeout=15):
        """(pid, {KEY: VALUE}) of the next message; TimeoutError if none
        comes within timeout."""
        self.sock.settimeout(timeout)
        data, anc, _, _ = self.sock.recvmsg(
            4096, socket.CMSG_SPACE(struct.calcsize("3i")))
        pid = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and \
                    kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("3i", payload[:12])[0]
        fields = dict(line.split("=", 1)
                      for line in data.decode().split("\n") if line)
        return pid, fields

    def pending(self):
        """Messages already queued, without waiting."""
        out = []
        self.sock.setblocking(False)
        try:
            while True:
                data = self.sock.recv(4096)
                out.append(data.decode())
        except BlockingIOError:
            pass
        return out


def greeting(port):
    with Control(port) as c:
        return c.greeting[0]


class NotifyTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rftp-notify-")
        os.chmod(self.tmp, 0o755)
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.ns = NotifySocket(self.tmp)
        self.addCleanup(self.ns.close)

    def server(self, **kw):
        srv = NotifyServer(env={"NOTIFY_SOCKET": self.ns.path}, **kw)
        self.addCleanup(srv.cleanup)
        return srv

    def test_ready_reload_stopping(self):
        srv = self.server(users={"alice": {"password": "alice-pw"}})
        srv.start()
        pid, msg = self.ns.recv()
        self.assertEqual(msg.get("READY"), "1", msg)
        self.assertEqual(pid, srv.proc.pid)
        # Ready means serving: the port answers at once.
        self.assertEqual(greeting(srv.port), 220)

        # A user added, then SIGHUP: RELOADING=1 with the monotonic time
        # the reload began, then READY=1 once bob can log in.
        srv.users["bob"] = {"password": "bob-pw"}
        srv.write_users()
        before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        srv.proc.send_signal(signal.SIGHUP)
        pid, msg = self.ns.recv()
        after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.assertEqual(msg.get("RELOADING"), "1", msg)
        self.assertEqual(pid, srv.proc.pid)
        usec = int(msg["MONOTONIC_USEC"])
        self.assertTrue(before <= usec <= after, (before, usec, after))
        pid, msg = self.ns.recv()
        self.assertEqual(msg.get("READY"), "1", msg)
        self.assertEqual(msg.get("STATUS"), "users file reloaded", msg)
        with Control(srv.port) as c:
            c.login("bob", "bob-pw")

        # A broken edit: still READY=1 (the last good set is served), but
        # STATUS= says it was not taken: `systemctl reload` succeeds and
        # nothing but the log told the admin (found from outside).
        with open(srv.users_path, "a") as f:
            f.write("[carol]\nquota_bytes = lots\n")
        srv.proc.send_signal(signal.SIGHUP)
        self.assertEqual(self.ns.recv()[1].get("RELOADING"), "1")
        pid, msg = self.ns.recv()
        self.assertEqual(msg.get("READY"), "1", msg)
        self.assertIn("NOT reloaded", msg.get("STATUS", ""), msg)
        with Control(srv.port) as c:
            c.login("bob", "bob-pw")

        srv.proc.send_signal(signal.SIGTERM)
        pid, msg = self.ns.recv()
        self.assertEqual(msg.get("STOPPING"), "1", msg)
        self.assertEqual(srv.proc.wait(timeout=15), 0, srv.log_text())
        self.assertEqual(self.ns.pending(), [])

    def test_reload_status_names_what_relayftpd_ini_changes_wait_for(self):
        # SIGHUP re-reads users.ini only: STATUS= (what `systemctl
        # status` shows) lists the targets and the settings of
        # relayftpd.ini that a restart would apply, each list after its
        # lead and its items apart by ", ".
        srv = self.server(users={"alice": {"password": "alice-pw"}})
        srv.start()
        self.assertEqual(self.ns.recv()[1].get("READY"), "1")
        srv.server_opts["idle_timeout"] = "31"
        srv.server_opts["data_timeout"] = "11"
        srv.sections["target:t"] = {"url": "ftp://127.0.0.1:9/"}
        srv.sections["target:u"] = {"url": "ftp://127.0.0.1:9/u"}
        srv.write_config()
        srv.proc.send_signal(signal.SIGHUP)
        self.assertEqual(self.ns.recv()[1].get("RELOADING"), "1")
        pid, msg = self.ns.recv()
        self.assertEqual(msg.get("READY"), "1", msg)
        self.assertRegex(
            msg.get("STATUS", ""),
            r"^users file reloaded; targets of relayftpd\.ini NOT applied "
            r"until a restart: [tu] added, [tu] added; settings of "
            r"relayftpd\.ini NOT applied until a restart: "
            r"\[server\] \w+_timeout, \[server\] \w+_timeout$")

    def test_ready_after_dropping_to_run_as(self):
        if os.geteuid() != 0:
            self.skipTest("needs root: the daemon must start as root")
        srv = self.server(server={"run_as": RUN_AS})
        os.chmod(srv.tmp, 0o711)
        os.makedirs(srv.home("alice"))
        pw = pwd.getpwnam(RUN_AS)
        os.chown(srv.home("alice"), pw.pw_uid, pw.pw_gid)
        srv.start()
        pid, msg = self.ns.recv()
        self.assertEqual(msg.get("READY"), "1", msg)
        self.assertIn("dropped root: running as %s" % RUN_AS,
                      srv.log_text())
        self.assertEqual(greeting(srv.port), 220)
        srv.proc.send_signal(signal.SIGHUP)
        self.assertEqual(self.ns.recv()[1].get("RELOADING"), "1")
        self.assertEqual(self.ns.recv()[1].get("READY"), "1")
        srv.stop()
        self.assertEqual(self.ns.recv(timeout=1)[1].get("STOPPING"), "1")

    def test_watchdog_keepalive(self):
        # WatchdogSec= in a drop-in: systemd passes WATCHDOG_USEC and
        # kills the service when no WATCHDOG=1 comes within it. None was
        # ever sent, so such a unit was killed every interval (found from
        # outside). Now: every half interval, from READY=1 on, across a
        # reload, until STOPPING=1.
        srv = NotifyServer(env={"NOTIFY_SOCKET": self.ns.path,
                                "WATCHDOG_USEC": "1000000"})
        self.addCleanup(srv.cleanup)
        srv.start()

        def messages(seconds):
            out, end = [], time.monotonic() + seconds
            while time.monotonic() < end:
                try:
                    pid, msg = self.ns.recv(
                        timeout=max(0.01, end - time.monotonic()))
                except (TimeoutError, socket.timeout):
                    break
                self.assertEqual(pid, srv.proc.pid)
                out.append((time.monotonic(), msg))
            return out

        got = messages(3.2)
        self.assertEqual(got[0][1].get("READY"), "1", got)
        pings = [t for t, m in got if m.get("WATCHDOG") == "1"]
        # 0.5 s apart: 6 or 7 in 3.2 s; never a gap near the 1 s limit.
        self.assertGreaterEqual(len(pings), 5, got)
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        self.assertLess(max(gaps), 0.8, gaps)
        srv.proc.send_signal(signal.SIGHUP)
        got = messages(2.2)
        kinds = [m for _, m in got if m.get("WATCHDOG") != "1"]
        self.assertEqual([k.get("RELOADING") or k.get("READY")
                          for k in kinds], ["1", "1"], got)
        self.assertGreaterEqual(
            len([m for _, m in got if m.get("WATCHDOG") == "1"]), 3, got)
        self.assertIn("systemd watchdog: WATCHDOG=1 every 500 ms",
                      srv.log_text())
        self.assertEqual(srv.stop(), 0)

    def test_watchdog_of_another_process_is_not_ours(self):
        # WATCHDOG_PID names the process the watchdog is for
        # (sd_watchdog_enabled(3)): a variable inherited from a parent
        # is not this daemon's to answer.
        srv = NotifyServer(env={"NOTIFY_SOCKET": self.ns.path,
                                "WATCHDOG_USEC": "200000",
                                "WATCHDOG_PID": "1"})
        self.addCleanup(srv.cleanup)
        srv.start()
        self.assertEqual(self.ns.recv()[1].get("READY"), "1")
        time.sleep(0.5)
        self.assertEqual(self.ns.pending(), [])
        self.assertEqual(srv.stop(), 0)

    def test_unreachable_notify_socket_changes_nothing(self):
        srv = NotifyServer(
            env={"NOTIFY_SOCKET": os.path.join(self.tmp, "nobody-here")})
        self.addCleanup(srv.cleanup)
        srv.start()
        self.assertEqual(greeting(srv.port), 220)
        srv.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(
            lambda: "reloaded" in srv.log_text(), timeout=10),
            srv.log_text())
        self.assertEqual(greeting(srv.port), 220)
        self.assertEqual(srv.stop(), 0)


def unit_key(text, key):
    """Every value of key= in the unit text."""
    return [m.group(1) for m in
            re.finditer(r"^%s=(.*)$" % re.escape(key), text, re.M)]


class UnitTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="rftp-unit-")
        os.chmod(cls.tmp, 0o755)
        # A blank in the prefix: ExecStart must quote its paths.
        cls.prefix = os.path.join(cls.tmp, "relay ftpd")
        env = dict(os.environ)
        env.pop("DESTDIR", None)
        r = subprocess.run(["cmake", "--install", BUILD, "--prefix",
                            cls.prefix], capture_output=True, text=True,
                           timeout=120, env=env)
        if r.returncode != 0:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise AssertionError("install failed:\n" + r.stdout + r.stderr)
        cls.unit = os.path.join(cls.prefix, "lib", "systemd", "system",
                                "relayftpd.service")
        with open(cls.unit) as f:
            cls.text = f.read()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def verify(self, manpath):
        env = dict(os.environ)
        env["MANPATH"] = manpath
        env["SYSTEMD_LOG_LEVEL"] = "notice"
        return subprocess.run(["systemd-analyze", "verify", self.unit],
                              capture_output=True, text=True, timeout=120,
                              env=env, cwd=self.tmp)

    def test_systemd_analyze_verify_passes(self):
        self.assertEqual(unit_key(self.text, "Type"), ["notify"])
        start = shlex.split(unit_key(self.text, "ExecStart")[0])
        self.assertEqual(start[0], os.path.join(self.prefix, "sbin",
                                                "relayftpd"))
        self.assertEqual(start[1:], [
            "--config",
            os.path.join(self.prefix, "etc", "relayftpd", "relayftpd.ini")])
        r = self.verify(os.path.join(self.prefix, "share", "man"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout + r.stderr, "")
        # The check is real: without the installed pages on MANPATH,
        # verify fails on the unit's Documentation= lines.
        r = self.verify(os.path.join(self.tmp, "no-man-here"))
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("relayftpd(8)", r.stdout + r.stderr)

    def test_hardening_is_on(self):
        for key, want in (("ProtectSystem", "strict"),
                          ("PrivateTmp", "yes"),
                          ("NoNewPrivileges", "yes")):
            self.assertEqual(unit_key(self.text, key), [want], key)
        paths = " ".join(unit_key(self.text, "ReadWritePaths")).split()
        for p in ("/srv/ftp", "/var/lib/relayftpd", "/var/log/relayftpd"):
            self.assertIn("-" + p, paths)
        self.assertEqual(unit_key(self.text, "User"), [])
        r = subprocess.run(["systemd-analyze", "security", "--offline=yes",
                            self.unit], capture_output=True, text=True,
                           timeout=120, cwd=self.tmp)
        m = re.search(r"Overall exposure level for relayftpd.service: "
                      r"([0-9.]+)", r.stdout)
        self.assertIsNotNone(m, r.stdout + r.stderr)
        # 10 is an unconfined service; below 4 systemd calls it "OK".
        self.assertLess(float(m.group(1)), 4.0, r.stdout)

    def test_run_as_works_under_the_units_capabilities(self):
        if os.geteuid() != 0:
            self.skipTest("needs root: the daemon must start as root")
        caps = unit_key(self.text, "CapabilityBoundingSet")
        self.assertEqual(len(caps), 1, caps)
        bounding = "-all," + ",".join(
            "+" + c.lower()[len("cap_"):] for c in caps[0].split())
        binary = os.path.join(self.prefix, "sbin", "relayftpd")
        srv = NotifyServer(prefix=["setpriv", "--bounding-set", bounding,
                                   "--inh-caps", "-all", "--no-new-privs"],
                           server={"run_as": RUN_AS})
        self.addCleanup(srv.cleanup)
        os.chmod(srv.tmp, 0o711)
        pw = pwd.getpwnam(RUN_AS)
        os.makedirs(srv.home("alice"))
        os.chown(srv.home("alice"), pw.pw_uid, pw.pw_gid)
        old = harness.BINARY
        harness.BINARY = binary
        try:
            srv.start()
        finally:
            harness.BINARY = old
        log = srv.log_text()
        self.assertIn("dropped root: running as %s" % RUN_AS, log)
        with open("/proc/%d/status" % srv.proc.pid) as f:
            status = f.read()
        self.assertRegex(status, r"NoNewPrivs:\s+1")
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", srv.port, timeout=20)
        try:
            ftp.login("alice", "alice-pw")
            reply = ftp.storbinary("STOR up.bin", io.BytesIO(b"x" * 1000))
            ftp.quit()
        finally:
            ftp.close()
        self.assertTrue(reply.startswith("226"), reply)
        up = os.path.join(srv.home("alice"), "up.bin")
        self.assertEqual(os.stat(up).st_uid, pw.pw_uid)
        self.assertEqual(srv.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
