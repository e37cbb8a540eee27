"""Abuse resistance: a 100 KB command line, a flood of 500 connections and
a client that never reads its download each leave the server answering
other clients promptly."""
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


if __name__ == "__main__":
    unittest.main(verbosity=2)
