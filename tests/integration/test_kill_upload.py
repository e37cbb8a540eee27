"""A client killed mid-upload never publishes a truncated file.

In stream mode a killed client's data connection ends with a FIN just like
a finished upload, and the kernel closes a dead process's sockets one after
the other, the data socket (opened last) first. The server tells the two
apart by the control connection (src/server/transfer.c). These tests kill
real clients with SIGKILL mid-upload, 20 times each: curl, lftp and a raw
Python socket client, and lftp and the raw client again declaring the size
first with ALLO (whose declared count a killed client never reaches, so
the watch still decides), the five at once, first over loopback and then
through a relay that delays every byte, FIN and reset of each direction by
20 ms (the kernel here has no sch_netem, so the link delay is a user-space
relay on 127.0.0.2 in front of both the control port and the passive
ports; EPSV makes the clients connect their data to the relay's address).
Nothing may be published under the final name, the bytes stay in the
hidden partial, a resume completes the file and the server goes on serving.
"""
import heapq
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from daemon import free_port_range  # noqa: E402
from harness import (KILLED_CLIENT_SERVER, Control, Server,  # noqa: E402
                     client_env, wait_for)

ROUNDS = 20
SIZE = 8 * 1024 * 1024
STARTED = 256 * 1024        # bytes in the partial before the kill
DELAY = 0.020               # one-way delay of the relay, seconds
PORTS = 24                  # passive ports (3 clients at once, with room)
RELAY_HOST = "127.0.0.2"
PARTIAL = ".rftpd-partial."
KINDS = ("curl", "lftp", "raw", "lftp-allo", "raw-allo")

# The raw client: logs in, EPSV, STOR, then sends 16 KiB every 5 ms until
# it is killed (control socket opened first, so on the lower descriptor,
# like curl and lftp). With a fifth argument it declares the file's size
# with ALLO first (the declaration a killed client never fulfils).
RAW_CLIENT = r"""
import socket, sys, time
host, port, name, src = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
allo = len(sys.argv) > 5
c = socket.create_connection((host, port))
f = c.makefile("rb")
def reply():
    line = f.readline()
    while line[3:4] == b"-":
        line = f.readline()
    return line
def cmd(s):
    c.sendall(s.encode() + b"\r\n")
    return reply()
reply()
cmd("USER alice"); cmd("PASS alice-pw"); cmd("TYPE I")
r = cmd("EPSV")
dport = int(r.split(b"(|||")[1].split(b"|")[0])
d = socket.create_connection((host, dport))
if allo:
    import os
    assert cmd("ALLO %d" % os.path.getsize(src)).startswith(b"200")
assert cmd("STOR " + name).startswith(b"150")
with open(src, "rb") as s:
    while True:
        b = s.read(16384)
        if not b:
            break
        d.sendall(b)
        time.sleep(0.005)
d.close()
reply()
"""


def rst(sock):
    """Close with a reset (SO_LINGER 0), as the kernel does for a reset."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class DelayRelay:
    """Forwards TCP connections accepted on RELAY_HOST:port to
    127.0.0.1:port, every byte, FIN and reset DELAY seconds after it
    arrived, in arrival order across all connections (one thread, one
    time-ordered queue), so two connections' closes keep their order and
    their gap. Stops by itself when stop() is called or after 300 s."""

    def __init__(self, ports):
        # select(2), not epoll: epoll_wait counts its timeout in whole
        # milliseconds (Python rounds it up), so a gap of 50 us between
        # two connections' closes left the relay as 1 ms or more, which
        # no link does and which outlasts the server's watch at rest
        # (1 ms). select takes microseconds; the relay has few
        # descriptors.
        self.sel = selectors.SelectSelector()
        self.events = []   # (due, seq, action, args)
        self.seq = 0
        self.stopped = threading.Event()
        self.listeners = {}
        for local, remote in ports:
            ls = socket.socket()
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind((RELAY_HOST, local))
            ls.listen(16)
            ls.setblocking(False)
            if local == 0:
                self.port = ls.getsockname()[1]
            self.sel.register(ls, selectors.EVENT_READ, ("accept", remote))
            self.listeners[ls] = remote
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def stop(self):
        self.stopped.set()
        self.thread.join(timeout=10)
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()
        self.sel.close()

    def _later(self, action, *args):
        self.seq += 1
        heapq.heappush(self.events,
                       (time.monotonic() + DELAY, self.seq, action, args))

    def _accept(self, ls, remote):
        try:
            a, _ = ls.accept()
        except OSError:
            return
        try:
            b = socket.create_connection(("127.0.0.1", remote), timeout=5)
        except OSError:
            rst(a)
            return
        pair = {"socks": (a, b), "fins": 0}
        for s in (a, b):
            s.settimeout(10)  # sends are blocking, bounded
        self.sel.register(a, selectors.EVENT_READ, ("pipe", (b, pair)))
        self.sel.register(b, selectors.EVENT_READ, ("pipe", (a, pair)))

    def _read(self, src, arg):
        dst, pair = arg
        try:
            data = src.recv(262144)
        except OSError:
            data = None        # reset
        if data:
            self._later("send", dst, data)
            return
        self.sel.unregister(src)
        self._later("rst" if data is None else "fin", dst, pair)

    def _do(self, action, args):
        if action == "send":
            dst, data = args
            try:
                dst.sendall(data)
            except OSError:
                pass
            return
        dst, pair = args
        if action == "fin":
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            pair["fins"] += 1
            if pair["fins"] < 2:
                return
            for s in pair["socks"]:
                s.close()
            return
        # A reset arrived: pass it on, drop both sides.
        for s in pair["socks"]:
            try:
                self.sel.unregister(s)
            except (KeyError, ValueError):
                pass
            if s is dst:
                rst(s)
            else:
                s.close()

    def _run(self):
        end = time.monotonic() + 300
        while not self.stopped.is_set() and time.monotonic() < end:
            timeout = 0.05
            if self.events:
                timeout = max(0.0, min(timeout,
                                       self.events[0][0] - time.monotonic()))
            for key, _ in self.sel.select(timeout):
                kind, arg = key.data
                if kind == "accept":
                    self._accept(key.fileobj, arg)
                else:
                    self._read(key.fileobj, arg)
            now = time.monotonic()
            while self.events and self.events[0][0] <= now:
                _, _, action, args = heapq.heappop(self.events)
                self._do(action, args)


class KillMidUploadTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lo, cls.hi = free_port_range(PORTS, ("127.0.0.1", RELAY_HOST))
        # The cap of the watch after a data FIN raised as harness.py
        # says: these 120 kills are where it was measured.
        cls.srv = Server(server=dict(KILLED_CLIENT_SERVER, **{
            "passive_ports": "%d-%d" % (cls.lo, cls.hi),
            "max_clients_per_ip": "64",
        }))
        cls.src = os.path.join(cls.srv.tmp, "source.bin")
        cls.data = os.urandom(SIZE)
        with open(cls.src, "wb") as f:
            f.write(cls.data)
        cls.raw = os.path.join(cls.srv.tmp, "raw_client.py")
        with open(cls.raw, "w") as f:
            f.write(RAW_CLIENT)
        cls.env = client_env(cls.srv.tmp)
        cls.env["no_proxy"] = "*"

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()

    def argv(self, kind, host, port, name):
        if kind == "curl":
            return ["curl", "-sS", "--limit-rate", "2M", "-T", self.src,
                    "ftp://alice:alice-pw@%s:%d/%s" % (host, port, name)]
        if kind in ("lftp", "lftp-allo"):
            # lftp-allo declares the size first (ALLO), as lftp does with
            # ftp:use-allo: the declared count is never reached.
            return ["lftp", "-c",
                    "set net:limit-rate 2M; set ftp:ssl-allow no; "
                    "set ftp:prefer-epsv yes; set net:max-retries 1; "
                    "set ftp:use-allo %s; "
                    "open -u alice,alice-pw ftp://%s:%d; put %s -o %s" %
                    ("yes" if kind == "lftp-allo" else "no", host, port,
                     self.src, name)]
        return [sys.executable, self.raw, host, str(port), name,
                self.src] + (["allo"] if kind == "raw-allo" else [])

    def kill_round(self, kind, host, port, name, errors):
        home = self.srv.home("alice")
        partial = os.path.join(home, PARTIAL + name)
        final = os.path.join(home, name)
        proc = subprocess.Popen(self.argv(kind, host, port, name),
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=self.env)
        try:
            grew = wait_for(lambda: os.path.exists(partial) and
                            os.path.getsize(partial) > STARTED, timeout=20)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        if not grew:
            errors.append("%s: upload never started" % name)
            return
        # The server's verdict on this upload, whichever it is.
        ended = wait_for(lambda: ("upload of /%s not complete" % name) in
                         self.srv.log_text() or
                         ("received /%s " % name) in self.srv.log_text(),
                         timeout=15)
        if not ended:
            errors.append("%s: the server never ended the upload" % name)
        if os.path.exists(final):
            errors.append("%s: published after the client was killed "
                          "(%d bytes)" % (name, os.path.getsize(final)))
            return
        if not os.path.exists(partial):
            errors.append("%s: the partial is gone" % name)
            return
        with open(partial, "rb") as f:
            got = f.read()
        if not 0 < len(got) < SIZE or got != self.data[:len(got)]:
            errors.append("%s: partial of %d bytes is not a prefix of the "
                          "upload" % (name, len(got)))

    def kill_all(self, host, port, tag):
        """ROUNDS kills of each client (KINDS), all at once."""
        errors = []

        def worker(kind):
            try:
                for i in range(ROUNDS):
                    self.kill_round(kind, host, port,
                                    "%s-%s-%d.bin" % (tag, kind, i), errors)
            except Exception as e:  # reported below
                errors.append("%s: %r" % (kind, e))

        threads = [threading.Thread(target=worker, args=(k,), daemon=True)
                   for k in KINDS]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        self.assertFalse(any(t.is_alive() for t in threads), "stuck")
        self.assertEqual(errors, [])
        self.assert_still_serving(host, port, tag)

    def assert_still_serving(self, host, port, tag):
        # A whole upload through the same path still publishes, and a
        # killed upload resumes: curl -C - asks SIZE (the partial's) and
        # APPE continues it.
        name = "%s-curl-0.bin" % tag
        out = subprocess.run(
            ["curl", "-sS", "-C", "-", "-T", self.src,
             "ftp://alice:alice-pw@%s:%d/%s" % (host, port, name)],
            capture_output=True, timeout=60, env=self.env)
        self.assertEqual(out.returncode, 0, out.stderr)
        home = self.srv.home("alice")
        with open(os.path.join(home, name), "rb") as f:
            self.assertEqual(f.read(), self.data)
        self.assertFalse(os.path.exists(os.path.join(home, PARTIAL + name)))
        with Control(self.srv.port) as c:
            c.login()
            self.assertEqual(c.store(tag + "-after.txt", b"still here\n")[0],
                             226)
        with open(os.path.join(home, tag + "-after.txt"), "rb") as f:
            self.assertEqual(f.read(), b"still here\n")

    def test_killed_clients_over_loopback_never_publish(self):
        self.kill_all("127.0.0.1", self.srv.port, "lo")

    def test_killed_clients_over_20ms_link_never_publish(self):
        relay = DelayRelay([(0, self.srv.port)] +
                           [(p, p) for p in range(self.lo, self.hi + 1)])
        try:
            # The relay really delays: a command's round trip through it
            # cannot take less than the two one-way delays.
            with Control(relay.port, host=RELAY_HOST) as c:
                c.login()
                t0 = time.monotonic()
                self.assertEqual(c.cmd("NOOP")[0], 200)
                self.assertGreaterEqual(time.monotonic() - t0, 2 * DELAY)
            self.kill_all(RELAY_HOST, relay.port, "wan")
        finally:
            relay.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
