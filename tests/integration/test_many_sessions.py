"""1,000 logged-in sessions at once, and the file descriptor budget.

A thread per session must stay cheap enough that max_clients = 1000 is an
ordinary setting on a small machine: every one of 1,000 logged-in idle
sessions still answers NOOP, the 1,001st connection gets 421, and the
memory each idle session costs (PSS delta of the server from
/proc/PID/smaps_rollup, divided by 1,000) is printed in the test output,
and once the sessions have been idle a moment their anonymous memory must
be at most 32 KiB each (scripts/session_mem.py shows what it is made of).

The server also checks its descriptor limit at start: it raises the soft
RLIMIT_NOFILE to the hard one (the 1,000 sessions are served by a server
started with the common soft limit of 1024), and says clearly when
max_clients cannot be served within the hard limit. When descriptors do
run out, a new client gets 421 at once instead of a hang (the old accept
loop spun on EMFILE), and the sessions already in go on.

Logins use a real argon2id hash with libsodium's minimum cost (made here
through ctypes), so 1,000 logins take no minutes of CPU; the password path
is the one production uses.
"""
import ctypes
import ctypes.util
import json
import os
import resource
import selectors
import socket
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Control, Server, wait_for  # noqa: E402

SESSIONS = 1000
BATCH = 100
# What an idle logged-in session may cost (issue 10); measured about 25.
IDLE_SESSION_KIB = 32


def cheap_hash(password):
    """argon2id at libsodium's minimum cost (crypto_pwhash_str)."""
    lib = ctypes.CDLL(ctypes.util.find_library("sodium"))
    lib.sodium_init()
    out = ctypes.create_string_buffer(128)
    pw = password.encode()
    ops = lib.crypto_pwhash_opslimit_min
    ops.restype = ctypes.c_ulonglong
    mem = lib.crypto_pwhash_memlimit_min
    mem.restype = ctypes.c_size_t
    lib.crypto_pwhash_str_alg.argtypes = [
        ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulonglong,
        ctypes.c_ulonglong, ctypes.c_size_t, ctypes.c_int]
    alg = lib.crypto_pwhash_alg_argon2id13()
    rc = lib.crypto_pwhash_str_alg(out, pw, len(pw), ops(), mem(), alg)
    assert rc == 0
    text = out.value.decode()
    assert text.startswith("$argon2id$"), text
    return text


def smaps(pid):
    """{'Rss': kB, 'Pss': kB, ...} of a process."""
    vals = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                vals[parts[0].rstrip(":")] = int(parts[1])
    return vals


def proc_limit(pid, name):
    """(soft, hard) of a limit from /proc/PID/limits."""
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith(name):
                soft, hard = line[len(name):].split()[:2]
                return int(soft), int(hard)
    raise AssertionError("no %s in limits" % name)


class Clients:
    """Many raw control connections driven through one epoll selector."""

    def __init__(self):
        self.sel = selectors.DefaultSelector()
        self.buf = {}

    def connect(self, port, n):
        socks = []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.setblocking(False)
            self.buf[s] = b""
            self.sel.register(s, selectors.EVENT_READ)
            socks.append(s)
        return socks

    def expect(self, socks, code, timeout=60):
        """Waits until every socket has a reply line starting with code;
        returns {sock: other first reply} for those that got another."""
        want = set(socks)
        wrong = {}
        prefix = b"%d " % code

        def scan(s):
            while s in want and b"\r\n" in self.buf[s]:
                line, self.buf[s] = self.buf[s].split(b"\r\n", 1)
                if line.startswith(prefix):
                    want.discard(s)
                elif line[3:4] == b" ":
                    wrong[s] = line.decode(errors="replace")
                    want.discard(s)

        for s in socks:
            scan(s)  # lines that came with an earlier reply
        deadline = time.monotonic() + timeout
        while want and time.monotonic() < deadline:
            for key, _ in self.sel.select(timeout=1):
                s = key.fileobj
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    continue
                if not data:
                    if s in want:
                        wrong[s] = "closed; had %r" % self.buf[s]
                        want.discard(s)
                    self.sel.unregister(s)
                    continue
                self.buf[s] += data
                scan(s)
        for s in want:
            wrong[s] = "no reply in %d s" % timeout
        return wrong

    def send(self, socks, text):
        for s in socks:
            s.setblocking(True)
            s.sendall(text)
            s.setblocking(False)

    def close(self):
        for s in list(self.buf):
            s.close()
        self.sel.close()


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class ManySessionsTest(unittest.TestCase):

    def setUp(self):
        harness._hash_cache["alice-pw"] = cheap_hash("alice-pw")

    def raise_own_limit(self, need):
        """This process holds the client ends: raise its soft limit (after
        the server has started, so the server gets no help from it)."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft >= need:
            return
        if hard != resource.RLIM_INFINITY and hard < need:
            self.skipTest("RLIMIT_NOFILE hard limit %d < %d" % (hard, need))
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
        self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE,
                        (soft, hard))

    def start_with_soft_limit(self, soft_limit, **kw):
        """A Server started with RLIMIT_NOFILE soft = soft_limit (the
        common default is 1024), hard unchanged."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        # What the server asks for SESSIONS (RFTP_FDS_PER_SESSION 9 and
        # RFTP_FDS_RESERVE 128); below it, it serves fewer.
        if hard != resource.RLIM_INFINITY and hard < SESSIONS * 9 + 128:
            self.skipTest("hard RLIMIT_NOFILE %d too low" % hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft_limit, hard))
        try:
            srv = Server(**kw)
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        self.addCleanup(srv.cleanup)
        return srv

    def test_thousand_idle_sessions_answer_noop(self):
        # Started as a service usually is: soft limit 1024, which two
        # descriptors per logged-in session already exceed.
        srv = self.start_with_soft_limit(1024, server={
            "max_clients": str(SESSIONS),
            "max_clients_per_ip": str(SESSIONS),
            "idle_timeout": "300",
            "login_timeout": "300",
        }, users={"alice": {"password": "alice-pw"}})
        self.raise_own_limit(SESSIONS + 200)
        pid = srv.proc.pid
        # Warm up: the first session loads what every session shares.
        with Control(srv.port) as c:
            c.login()
            self.assertEqual(c.cmd("NOOP")[0], 200)
        before = smaps(pid)
        clients = Clients()
        self.addCleanup(clients.close)
        socks = []
        t0 = time.monotonic()
        for _ in range(SESSIONS // BATCH):
            batch = clients.connect(srv.port, BATCH)
            bad = clients.expect(batch, 220)
            self.assertEqual(bad, {}, list(bad.values())[:3])
            clients.send(batch, b"USER alice\r\nPASS alice-pw\r\n")
            bad = clients.expect(batch, 331)
            self.assertEqual(bad, {}, list(bad.values())[:3])
            bad = clients.expect(batch, 230)
            self.assertEqual(bad, {}, list(bad.values())[:3])
            socks += batch
        print("%d sessions logged in: %.1f s" % (
            len(socks), time.monotonic() - t0), file=sys.stderr)
        # One more is refused: max_clients is really 1,000.
        with Control(srv.port) as extra:
            self.assertEqual(extra.greeting[0], 421, extra.greeting[1])
        clients.send(socks, b"NOOP\r\n")
        bad = clients.expect(socks, 200)
        self.assertEqual(bad, {}, "%d sessions did not answer NOOP: %s" % (
            len(bad), list(bad.values())[:3]))
        after = smaps(pid)
        pss = (after["Pss"] - before["Pss"]) / SESSIONS
        rss = (after["Rss"] - before["Rss"]) / SESSIONS
        threads = len(os.listdir("/proc/%d/task" % pid))
        print("memory per logged-in session right after NOOP: %.1f KiB "
              "PSS, %.1f KiB RSS (server PSS %d -> %d KiB, %d threads)" % (
                  pss, rss, before["Pss"], after["Pss"], threads),
              file=sys.stderr)
        self.assertGreaterEqual(threads, SESSIONS)
        # A sanity bound, far above what is measured (see the output):
        # a regression to megabytes per session would show here.
        self.assertLess(pss, 512)
        self.check_idle_memory(pid, before)
        clients.send(socks, b"QUIT\r\n")
        bad = clients.expect(socks, 221)
        self.assertEqual(bad, {}, list(bad.values())[:3])
        clients.close()
        srv.stop()

    def check_idle_memory(self, pid, before):
        """Once idle (RFTP_IDLE_TRIM_MS), a logged-in session costs at most
        IDLE_SESSION_KIB of anonymous memory (issue 10: stack pages a login
        touched are given back, the input buffer is small). Anonymous PSS
        only: the shared libraries' PSS moves with whatever other process
        maps them meanwhile."""
        with open("/proc/%d/maps" % pid) as f:
            if "libasan" in f.read():
                return  # ASan's shadow and fake stacks are not ours
        seen = []

        def idle_enough():
            now = smaps(pid)
            seen.append((now["Pss_Anon"] - before["Pss_Anon"]) / SESSIONS)
            return seen[-1] <= IDLE_SESSION_KIB

        ok = wait_for(idle_enough, timeout=10, interval=0.2)
        print("memory per idle logged-in session: %.1f KiB anonymous PSS "
              "(scripts/session_mem.py splits it by kind)" % seen[-1],
              file=sys.stderr)
        self.assertTrue(ok, "idle sessions still cost %.1f KiB each (at "
                        "most %d wanted)" % (seen[-1], IDLE_SESSION_KIB))

    def test_soft_fd_limit_raised_to_hard(self):
        srv = self.start_with_soft_limit(256, server={
            "max_clients": "1000", "max_clients_per_ip": "1000"})
        got = proc_limit(srv.proc.pid, "Max open files")
        self.assertEqual(got[0], got[1], "soft limit not raised: %s" % (got,))
        self.assertIn("file descriptor limit raised from 256", srv.log_text())
        self.assertNotIn("needs about", srv.log_text())

    def start_with_hard_limit(self, limit, **kw):
        """A Server started under prlimit --nofile=limit:limit."""
        tmpdir = os.environ.get("TMPDIR", "/tmp")
        wrapper = os.path.join(tmpdir, "rftp-prlimit-%d.sh" % os.getpid())
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\nexec /usr/bin/prlimit --nofile=%d:%d "
                    "%s \"$@\"\n" % (limit, limit,
                                      os.path.abspath(harness.BINARY)))
        os.chmod(wrapper, 0o700)
        self.addCleanup(os.unlink, wrapper)
        old = harness.BINARY
        harness.BINARY = wrapper
        try:
            srv = Server(**kw)
        finally:
            harness.BINARY = old
        self.addCleanup(srv.cleanup)
        self.assertTrue(wait_for(
            lambda: "max_clients" in srv.log_text(), timeout=5))
        return srv

    def test_hard_fd_limit_too_low_is_said_at_start(self):
        srv = self.start_with_hard_limit(
            300, server={"max_clients": "1000", "max_clients_per_ip": "1000"},
            sections={"admin": {"listen": "127.0.0.1:0"}})
        log = srv.log_text()
        self.assertIn("max_clients 1000 needs", log)
        # (300 - 128 kept for the daemon - 2 for each of the admin
        # listener's 32 connections) / 9 a session at most.
        self.assertIn("at most 12 sessions at once (421 beyond)", log)
        # It serves what the limit allows, and a new client beyond gets
        # 421 at once. Sessions used to take descriptors until none were
        # left: the admin listener's thread then spun on a failing
        # accept, and its requests timed out (found from outside).
        first = Control(srv.port)
        self.addCleanup(first.close)
        first.login()
        fillers, refused = [], None
        self.addCleanup(lambda: [c.close() for c in fillers])
        for _ in range(400):
            c = Control(srv.port)
            if c.greeting[0] != 220:
                refused = c.greeting
                c.close()
                break
            fillers.append(c)
        self.assertIsNotNone(refused, "never refused")
        self.assertEqual(refused[0], 421, refused)
        self.assertEqual(len(fillers), 11)
        self.assertEqual(first.cmd("NOOP")[0], 200)
        with urllib.request.urlopen(srv.admin_url + "api/status",
                                    timeout=10) as r:
            self.assertEqual(r.status, 200)
            json.loads(r.read())
        for c in fillers:
            c.close()
        fillers.clear()
        # Freed descriptors serve new clients again.
        self.assertTrue(wait_for(lambda: self.greets(srv.port), timeout=10))

    def test_admin_connections_leave_the_sessions_theirs(self):
        # Each admin HTTP connection holds two descriptors (its socket and
        # the sweeper's duplicate), and anyone who reaches the listener
        # may open them, token or not. They were not in the budget: a
        # flood of them took what the sessions had been promised, and
        # every login got 421 (found from outside). Now (300 - 128 - 2 *
        # 64) / 9 = 4 sessions are promised, and kept.
        srv = self.start_with_hard_limit(
            300, server={"max_clients": "1000", "max_clients_per_ip": "1000"},
            sections={"admin": {"listen": "127.0.0.1:0",
                                "max_connections": "64", "timeout": "60"}})
        log = srv.log_text()
        self.assertIn("128 of them for [admin] max_connections", log)
        self.assertIn("at most 4 sessions at once (421 beyond)", log)
        port = int(srv.admin_url.rstrip("/").rsplit(":", 1)[1])
        held = []
        self.addCleanup(lambda: [s.close() for s in held])
        # 16 an address (a quarter of max_connections), silent: each
        # holds its slot for the timeout.
        for k in range(4):
            for _ in range(16):
                held.append(socket.create_connection(
                    ("127.0.0.1", port), timeout=5,
                    source_address=("127.0.0.%d" % (2 + k), 0)))
        self.assertTrue(wait_for(lambda: fd_count(srv.proc.pid) >= 128,
                                 timeout=10), fd_count(srv.proc.pid))
        sessions = []
        self.addCleanup(lambda: [c.close() for c in sessions])
        for i in range(4):
            c = Control(srv.port)
            sessions.append(c)
            self.assertEqual(c.greeting[0], 220, (i, c.greeting))
            c.login()
            self.assertEqual(c.store("f%d" % i, b"x" * 100000)[0], 226)
        for c in sessions:
            self.assertEqual(c.cmd("NOOP")[0], 200)
        self.assertNotIn("out of file descriptors", srv.log_text())

    def greets(self, port):
        with Control(port) as c:
            return c.greeting[0] == 220


if __name__ == "__main__":
    unittest.main(verbosity=2)
