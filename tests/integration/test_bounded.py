"""Memory and time per session stay bounded whatever the client does.

- A client that pipelines thousands of commands with big replies (HELP,
  STAT, FEAT) and never reads them loses its session once a reply write has
  stalled for idle_timeout (before a login, login_timeout): the slot of a
  max_clients = 1 server is free again, and the log says why; in clear
  before and after login, and under AUTH TLS.
- LIST, NLST and MLSD stream a 400,000-entry folder: several clients that
  open a LIST and never read keep the server's RSS within a small bound,
  and full reads return every name exactly once; over FTPS (PROT P, curl)
  a 20,000-entry folder, many chunks, arrives whole as well.
- A client that sends AUTH TLS late and then half a handshake is closed at
  login_timeout counted from its connect, not from AUTH TLS (the handshake
  had a fresh login_timeout: a stalled client held its slot twice as long).
"""
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import (Control, Server, make_big_folder,  # noqa: E402
                     make_cert, recv_all, rss_kib, wait_for)

PIPELINE = b"HELP\r\nSTAT\r\nFEAT\r\n"


def hog(port, login=False):
    """A control connection with a tiny receive window that pipelines
    commands and never reads a reply after the login."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    buf = b""
    want = [b"220 "]
    if login:
        s.sendall(b"USER alice\r\nPASS alice-pw\r\n")
        want = [b"220 ", b"331 ", b"230 "]
    deadline = time.monotonic() + 10
    while want and time.monotonic() < deadline:
        buf += s.recv(4096)
        while b"\r\n" in buf and want:
            line, buf = buf.split(b"\r\n", 1)
            if line.startswith(want[0]):
                want.pop(0)
    assert not want, "hog could not log in: %r" % buf
    # Commands until the server stops taking them: both ways are full
    # then (the server's replies back up, our commands wait), for a whole
    # second, or the server closed us; bounded at 30 s.
    s.setblocking(False)
    sent, deadline, stalled = 0, time.monotonic() + 30, None
    while time.monotonic() < deadline:
        try:
            s.send(PIPELINE)
            sent += 1
            stalled = None
        except BlockingIOError:
            stalled = stalled or time.monotonic()
            if time.monotonic() - stalled >= 1:
                break
            time.sleep(0.05)
        except OSError:
            break  # the server closed the connection
    return s, sent


# How a session that never reads its replies may end: its reply writes
# stall, or (the same length of time) no new line can be read while they
# do; either way within about one timeout, where the old code kept the
# slot for about 14 x idle_timeout.
ENDED = re.compile(r"replies not read within|idle timeout|"
                   r"no login within login_timeout")


def greeted(port):
    """True if a new client gets the 220 greeting (a free slot)."""
    try:
        with Control(port, timeout=3) as c:
            return c.greeting[0] == 220
    except (OSError, EOFError, ValueError, TimeoutError):
        return False


class PipelineHogTest(unittest.TestCase):
    def run_hog(self, login):
        srv = Server(server={"max_clients": "1", "max_clients_per_ip": "1",
                             "idle_timeout": "3", "login_timeout": "2"})
        self.addCleanup(srv.cleanup)
        os.makedirs(srv.home("alice"), exist_ok=True)
        t0 = time.monotonic()
        sock, sent = hog(srv.port, login)
        self.addCleanup(sock.close)
        self.assertGreater(sent, 100)
        # The only slot is held; it must come back within a few timeouts
        # (the old code held it for about 14 x idle_timeout).
        self.assertTrue(wait_for(lambda: greeted(srv.port), timeout=20,
                                 interval=0.5),
                        "slot still held after %.0f s\n%s" %
                        (time.monotonic() - t0, srv.log_text()))
        self.assertTrue(wait_for(
            lambda: ENDED.search(srv.log_text()), timeout=5),
            srv.log_text())
        self.assertLess(time.monotonic() - t0, 20, srv.log_text())
        print("hog sent %d pipelines; slot free after %.1f s" %
              (sent, time.monotonic() - t0))

    def test_pipelining_hog_before_login(self):
        self.run_hog(False)

    def test_pipelining_hog_after_login(self):
        self.run_hog(True)

    def test_pipelining_hog_under_tls(self):
        # The same over AUTH TLS: reply writes go through SSL_write on a
        # non-blocking socket, bounded the same way.
        certdir = tempfile.mkdtemp(prefix="rftp-cert-")
        self.addCleanup(shutil.rmtree, certdir, True)
        cert, key = make_cert(certdir)
        srv = Server(server={"max_clients": "1", "max_clients_per_ip": "1",
                             "idle_timeout": "3", "login_timeout": "2"},
                     sections={"tls": {"cert": cert, "key": key}})
        self.addCleanup(srv.cleanup)
        os.makedirs(srv.home("alice"), exist_ok=True)
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        raw.settimeout(10)
        raw.connect(("127.0.0.1", srv.port))
        self.addCleanup(raw.close)
        f = raw.makefile("rb")
        self.assertTrue(f.readline().startswith(b"220 "))
        raw.sendall(b"AUTH TLS\r\n")
        self.assertTrue(f.readline().startswith(b"234 "))
        ctx = ssl.create_default_context(cafile=cert)
        tls = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        self.addCleanup(tls.close)
        tls.sendall(b"USER alice\r\nPASS alice-pw\r\n")
        buf = b""
        deadline = time.monotonic() + 10
        while b"230 " not in buf and time.monotonic() < deadline:
            buf += tls.recv(4096)
        self.assertIn(b"230 ", buf)
        t0 = time.monotonic()
        tls.setblocking(False)
        # Keep the commands coming until the server gives up on us (bounded
        # at 30 s): a client that stopped sending would meet the idle
        # timeout instead once the server's send buffer had taken every
        # reply, which on a busy machine can happen before it fills.
        sent, deadline, stalled = 0, time.monotonic() + 30, None
        while time.monotonic() < deadline:
            try:
                tls.send(PIPELINE)
                sent += 1
                stalled = None
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError,
                    BlockingIOError):
                stalled = stalled or time.monotonic()
                if time.monotonic() - stalled >= 1:
                    break
                time.sleep(0.05)
            except (OSError, ssl.SSLError):
                break  # the server closed the connection
        self.assertGreater(sent, 100)
        self.assertTrue(wait_for(lambda: greeted(srv.port), timeout=20,
                                 interval=0.5),
                        "slot still held\n" + srv.log_text())
        self.assertTrue(wait_for(
            lambda: ENDED.search(srv.log_text()), timeout=5),
            srv.log_text())
        self.assertLess(time.monotonic() - t0, 20, srv.log_text())
        print("TLS hog sent %d pipelines; slot free after %.1f s" %
              (sent, time.monotonic() - t0))


N_ENTRIES = 400000


def has_bytes(sock):
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
    except BlockingIOError:
        return False


def half_client_hello():
    """The first half of a real TLS ClientHello."""
    ctx = ssl.create_default_context()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="127.0.0.1")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = out.read()
    return hello[:len(hello) // 2]


class LateTlsHandshakeTest(unittest.TestCase):
    def test_auth_tls_late_keeps_login_timeout(self):
        certdir = tempfile.mkdtemp(prefix="rftp-cert-")
        self.addCleanup(shutil.rmtree, certdir, True)
        cert, key = make_cert(certdir)
        srv = Server(server={"login_timeout": "3", "idle_timeout": "30"},
                     sections={"tls": {"cert": cert, "key": key}})
        self.addCleanup(srv.cleanup)
        raw = socket.create_connection(("127.0.0.1", srv.port), timeout=15)
        self.addCleanup(raw.close)
        t0 = time.monotonic()
        f = raw.makefile("rb")
        self.assertTrue(f.readline().startswith(b"220 "))
        time.sleep(2.0)  # the client's own pause, not a wait for the server
        raw.sendall(b"AUTH TLS\r\n")
        self.assertTrue(f.readline().startswith(b"234 "))
        raw.sendall(half_client_hello())
        # The server closes it: at 3 s from the connect (a fresh
        # login_timeout from AUTH TLS would be 5 s).
        while raw.recv(4096):
            pass
        took = time.monotonic() - t0
        self.assertLess(took, 4.3, srv.log_text())
        self.assertGreaterEqual(took, 2.9)
        self.assertTrue(wait_for(lambda: "TLS on the control connection "
                                 "failed" in srv.log_text(), timeout=5),
                        srv.log_text())


class StreamedListingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
        cls.home = tempfile.mkdtemp(prefix="rftp-biglist-", dir=base)
        cls.addClassCleanup(shutil.rmtree, cls.home, ignore_errors=True)
        t0 = time.monotonic()
        make_big_folder(os.path.join(cls.home, "big"), N_ENTRIES)
        print("made %d entries in %.1f s" % (N_ENTRIES,
                                             time.monotonic() - t0))
        # data_timeout long enough that unread listings stay blocked
        # while memory is measured.
        cls.srv = Server(users={"alice": {"password": "alice-pw",
                                          "home": cls.home}},
                         server={"data_timeout": "120",
                                 "max_clients": "20",
                                 "max_clients_per_ip": "20"})
        cls.addClassCleanup(cls.srv.cleanup)

    def read_listing(self, verb):
        with Control(self.srv.port, timeout=60) as c:
            c.login()
            data = c.epsv()
            self.assertEqual(c.cmd(verb + " big")[0], 150)
            body = recv_all(data, timeout=60)
            self.assertEqual(c.reply()[0], 226)
        self.assertTrue(body.endswith(b"\r\n"))
        return body[:-2].decode().split("\r\n")

    def check_names(self, names):
        self.assertEqual(len(names), N_ENTRIES)
        self.assertEqual(set(names),
                         {"f%06d" % i for i in range(N_ENTRIES)})

    def test_full_nlst(self):
        self.check_names([line.rsplit("/", 1)[-1]
                          for line in self.read_listing("NLST")])

    def test_full_list(self):
        self.check_names([line.split()[-1]
                          for line in self.read_listing("LIST")])

    def test_full_mlsd(self):
        lines = self.read_listing("MLSD")
        self.check_names([line.split(" ", 1)[1] for line in lines
                          if "type=cdir;" not in line])

    def test_unread_listings_keep_memory_bounded(self):
        pid = self.srv.proc.pid
        with Control(self.srv.port) as c:  # warm: threads, TLS-free path
            c.login()
        before = rss_kib(pid)
        clients = []
        try:
            for i in range(6):
                c = Control(self.srv.port, timeout=60)
                clients.append(c)
                c.login()
                data = c.epsv()
                data.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                clients.append(data)
                self.assertEqual(
                    c.cmd(("LIST", "MLSD", "NLST")[i % 3] + " big")[0], 150)
                # Streaming started: some bytes wait in our socket.
                self.assertTrue(wait_for(lambda: has_bytes(data),
                                         timeout=30))
            # The highest RSS over a few samples while all six wait.
            peak = before
            for _ in range(10):
                peak = max(peak, rss_kib(pid))
                time.sleep(0.1)
        finally:
            for c in clients:
                c.close()
        print("RSS %d kB before, peak %d kB with 6 unread listings of "
              "%d entries" % (before, peak, N_ENTRIES))
        self.assertLess(peak - before, 20 * 1024)
        # The server goes on serving.
        with Control(self.srv.port) as c:
            c.login()
            self.assertEqual(c.cmd("NOOP")[0], 200)

    def test_unread_listing_times_out_and_abor_stops_one(self):
        # data_timeout and ABOR apply to a streamed listing as to a
        # download.
        srv = Server(users={"alice": {"password": "alice-pw",
                                      "home": self.home}},
                     server={"data_timeout": "2"})
        self.addCleanup(srv.cleanup)
        with Control(srv.port, timeout=30) as c:
            c.login()
            data = c.epsv()
            data.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            self.assertEqual(c.cmd("LIST big")[0], 150)
            code, text = c.reply()
            self.assertEqual(code, 426, text)
            data.close()
            data = c.epsv()
            self.assertEqual(c.cmd("MLSD big")[0], 150)
            self.assertTrue(wait_for(lambda: has_bytes(data), timeout=10))
            c.send("ABOR")
            self.assertEqual(c.reply()[0], 426)
            self.assertEqual(c.reply()[0], 226)
            data.close()
            self.assertEqual(c.cmd("NOOP")[0], 200)
        # Each stopped listing is logged with why, as a stopped download
        # is (a listing that timed out left no line at all).
        log = srv.log_text()
        self.assertIn("listing of /big stopped: the data connection timed "
                      "out: data_timeout\n", log)
        self.assertIn("listing of /big stopped: ABOR", log)



class TlsStreamedListingTest(unittest.TestCase):
    N = 20000

    @classmethod
    def setUpClass(cls):
        cls.certdir = tempfile.mkdtemp(prefix="rftp-cert-")
        cls.addClassCleanup(shutil.rmtree, cls.certdir, ignore_errors=True)
        cls.cert, key = make_cert(cls.certdir)
        cls.srv = Server(server={"log_level": "debug"},
                         sections={"tls": {"cert": cls.cert, "key": key}})
        cls.addClassCleanup(cls.srv.cleanup)
        make_big_folder(os.path.join(cls.srv.home("alice"), "big"), cls.N)

    def curl(self, *args):
        env = {k: v for k, v in os.environ.items() if "proxy" not in
               k.lower()}
        r = subprocess.run(
            ["/usr/bin/curl", "-sS", "--max-time", "60", "--ssl-reqd",
             "--cacert", self.cert] + list(args) +
            [self.srv.url(path="/big/")],
            capture_output=True, timeout=90, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.endswith(b"\r\n") or
                        r.stdout.endswith(b"\n"))
        return r.stdout.decode().splitlines()

    def check(self, names):
        self.assertEqual(len(names), self.N)
        self.assertEqual(set(names), {"f%06d" % i for i in range(self.N)})

    def test_nlst_list_mlsd_under_prot_p(self):
        self.check(self.curl("-l"))
        self.check([line.split()[-1] for line in self.curl()])
        self.check([line.split(" ", 1)[1] for line in self.curl("-X", "MLSD")
                    if "type=cdir;" not in line])
        self.assertIn("data connection: TLS", self.srv.log_text())


if __name__ == "__main__":
    unittest.main(verbosity=2)
