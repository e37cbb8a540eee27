"""Memory and time per session stay bounded whatever the client does.

- A client that pipelines thousands of commands with big replies (HELP,
  STAT, FEAT) and never reads them loses its session once a reply write has
  stalled for idle_timeout (before a login, login_timeout): the slot of a
  max_clients = 1 server is free again, and the log says why.
- LIST, NLST and MLSD stream a 400,000-entry folder: several clients that
  open a LIST and never read keep the server's RSS within a small bound,
  and full reads return every name exactly once.
"""
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Control, Server, recv_all, wait_for  # noqa: E402

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
    # Thousands of commands, as many as the kernel takes in 3 s.
    s.setblocking(False)
    sent, deadline = 0, time.monotonic() + 3
    while sent < 3000 and time.monotonic() < deadline:
        try:
            s.send(PIPELINE)
            sent += 1
        except BlockingIOError:
            time.sleep(0.05)
    return s, sent


def greeted(port):
    """True if a new client gets the 220 greeting (a free slot)."""
    try:
        with Control(port, timeout=3) as c:
            return c.greeting[0] == 220
    except (OSError, EOFError, ValueError, TimeoutError):
        return False


class PipelineHogTest(unittest.TestCase):
    def run_hog(self, login, reason):
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
            lambda: "replies not read within %s" % reason in srv.log_text(),
            timeout=5), srv.log_text())
        print("hog sent %d pipelines; slot free after %.1f s" %
              (sent, time.monotonic() - t0))

    def test_pipelining_hog_before_login(self):
        self.run_hog(False, "login_timeout (2 s)")

    def test_pipelining_hog_after_login(self):
        self.run_hog(True, "idle_timeout (3 s)")


if __name__ == "__main__":
    unittest.main(verbosity=2)
