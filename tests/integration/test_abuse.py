"""Abuse resistance: a 100 KB command line, a flood of 500 connections and
a client that never reads its download each leave the server answering
other clients promptly; slow-loris clients (a command line trickled a byte
at a time, a connection that never logs in, an upload trickled below
data_min_rate) are cut off; over-deep and over-long paths are refused."""
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Control, Server, recv_all  # noqa: E402


class AbuseTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(server={"max_clients": "40",
                                 "max_clients_per_ip": "40",
                                 "data_timeout": "3",
                                 "login_fail_delay_ms": "0"})
        home = cls.srv.home("alice")
        os.makedirs(home, exist_ok=True)
        with open(os.path.join(home, "big.bin"), "wb") as f:
            f.truncate(256 * 1024 * 1024)  # sparse: reads as zeros

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()

    def assert_serving(self, srv=None):
        """Another client logs in and lists within a few seconds."""
        t0 = time.monotonic()
        with Control((srv or self.srv).port) as c:
            c.login()
            data = c.epsv()
            self.assertEqual(c.cmd("NLST")[0], 150)
            self.assertIn(b"big.bin", recv_all(data))
            self.assertEqual(c.reply()[0], 226)
        self.assertLess(time.monotonic() - t0, 10)

    def test_100k_line(self):
        with Control(self.srv.port) as c:
            c.send(b"NOOP " + b"A" * 100 * 1024 + b"\r\n")
            code, _ = c.reply()
            self.assertEqual(code, 500)
            self.assertEqual(c.cmd("NOOP")[0], 200)
        self.assert_serving()

    def test_flood_of_500_connections(self):
        # A server of its own: no session of another test may free a slot
        # in the middle of the flood.
        srv = Server(server={"max_clients": "40",
                             "max_clients_per_ip": "40"})
        self.addCleanup(srv.cleanup)
        os.makedirs(srv.home("alice"), exist_ok=True)
        with open(os.path.join(srv.home("alice"), "big.bin"), "wb"):
            pass
        socks, refused = [], 0
        try:
            for _ in range(500):
                s = socket.create_connection(("127.0.0.1", srv.port),
                                             timeout=10)
                socks.append(s)
            # Beyond max_clients every extra connection got 421 and was
            # closed; the first 40 hold their slots.
            for s in socks[40:]:
                s.settimeout(10)
                if s.recv(64).startswith(b"421"):
                    refused += 1
        finally:
            for s in socks:
                s.close()
        self.assertEqual(refused, 460)
        deadline = time.monotonic() + 15
        while True:  # slots free up as the server sees the closes
            try:
                self.assert_serving(srv)
                break
            except (AssertionError, EOFError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        srv.stop()  # and it still stops cleanly

    def test_client_that_never_reads(self):
        stuck = Control(self.srv.port)
        stuck.login()
        data = stuck.epsv()
        data.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.assertEqual(stuck.cmd("RETR big.bin")[0], 150)
        # It never reads; others are served meanwhile.
        self.assert_serving()
        # The stalled transfer ends after data_timeout with 426.
        stuck.timeout = 30
        code, text = stuck.reply()
        self.assertEqual(code, 426, text)
        self.assertEqual(stuck.cmd("NOOP")[0], 200)
        data.close()
        stuck.close()


class SlowLorisTest(unittest.TestCase):
    """Deadlines that a trickle of bytes does not extend."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(server={"idle_timeout": "3", "login_timeout": "4",
                                 "data_timeout": "2", "data_min_rate": "1000",
                                 "login_fail_delay_ms": "0"})

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()

    def trickle_until_closed(self, sock, payload, limit):
        """Sends payload one byte every 0.2 s until the server closes;
        returns (seconds taken, bytes the server sent)."""
        t0 = time.monotonic()
        got = b""
        sock.settimeout(0.2)
        for i in range(int(limit / 0.2)):
            try:
                sock.send(payload[i % len(payload):i % len(payload) + 1])
            except OSError:
                break
            try:
                chunk = sock.recv(1000)
                if not chunk:
                    break
                got += chunk
            except socket.timeout:
                pass
            except OSError:
                break
        return time.monotonic() - t0, got

    def test_command_line_trickle_is_cut(self):
        with Control(self.srv.port) as c:
            c.login()
            # One byte every 0.2 s never completes a line; without the
            # whole-line deadline every byte would restart idle_timeout.
            took, got = self.trickle_until_closed(c.sock, b"NOOPNOOP", 20)
        self.assertIn(b"421 Timeout", got)
        self.assertLess(took, 20, "never closed")
        self.assertIn("idle timeout", self.srv.log_text())

    def repeat_until_closed(self, line, limit=20):
        """Sends line every 0.5 s on a fresh connection that never logs
        in, until the server closes it (at most limit seconds); returns
        what the server sent."""
        c = Control(self.srv.port)
        c.sock.settimeout(1)
        got = b""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                c.sock.sendall(line)
                chunk = c.sock.recv(1000)
            except socket.timeout:
                continue
            except OSError:
                break
            if not chunk:
                break
            got += chunk
            time.sleep(0.5)
        c.close()
        return got

    def test_no_login_within_login_timeout(self):
        # NOOPs keep the connection from being idle, but it never logs in.
        got = self.repeat_until_closed(b"NOOP\r\n")
        self.assertIn(b"421 Login timeout", got)
        self.assertIn("no login within login_timeout", self.srv.log_text())

    def test_rein_does_not_extend_login_timeout(self):
        got = self.repeat_until_closed(b"REIN\r\n")
        self.assertIn(b"421 Login timeout", got)

    def test_steady_slow_download_above_min_rate_goes_on(self):
        # A client that reads 40,000 B/s, far above data_min_rate (1000),
        # but slower than a third of the server's send buffer per
        # data_timeout (2 s): poll never said "writable" within the
        # timeout and the download got 426 (found from outside).
        size = 8 * 1024 * 1024
        with Control(self.srv.port, timeout=30) as c:
            c.login()  # makes the home
            with open(os.path.join(self.srv.home("alice"), "big.bin"),
                      "wb") as f:
                f.write(os.urandom(size))
            c.cmd("TYPE I")
            data = c.epsv()
            self.assertEqual(c.cmd("RETR big.bin")[0], 150)
            got = 0
            deadline = time.monotonic() + 7
            data.settimeout(10)
            while time.monotonic() < deadline:  # 7 s at 40,000 B/s
                chunk = data.recv(4000)
                if not chunk:
                    break
                got += len(chunk)
                time.sleep(0.1)
            while True:  # then the rest at once
                chunk = data.recv(1 << 20)
                if not chunk:
                    break
                got += len(chunk)
            data.close()
            code, text = c.reply()
            self.assertEqual(code, 226, text)
            self.assertEqual(got, size)

    def test_upload_trickle_below_min_rate_is_cut(self):
        with Control(self.srv.port, timeout=30) as c:
            c.login()
            data = c.epsv()
            self.assertEqual(c.cmd("STOR slow.bin")[0], 150)
            # 1 byte every 0.2 s: far under 1000 B/s, yet never silent
            # for data_timeout.
            took, _ = self.trickle_until_closed(data, b"z", 20)
            code, text = c.reply()
            data.close()
            self.assertEqual(code, 426, text)
            self.assertIn("too slow", text)
            self.assertLess(took, 20)
            self.assertFalse(os.path.exists(
                os.path.join(self.srv.home("alice"), "slow.bin")))
            self.assertEqual(c.cmd("NOOP")[0], 200)


class PathLimitTest(unittest.TestCase):
    def test_deep_and_long_paths_refused(self):
        with Server() as srv, Control(srv.port) as c:
            c.login()
            deep = "/".join(["d"] * 300)  # over RFTP_PATH_DEPTH_MAX (256)
            code, text = c.cmd("MKD " + deep)
            self.assertEqual(code, 553, text)
            code, text = c.cmd("CWD " + "/".join(["x" * 200] * 30))
            self.assertEqual(code, 553, text)  # over RFTP_PATH_MAX
            self.assertEqual(os.listdir(srv.home("alice")), [])
            self.assertEqual(c.cmd("NOOP")[0], 200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
