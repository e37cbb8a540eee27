#!/usr/bin/env python3
"""Active mode (PORT/EPRT) keeps working when the server's own TIME_WAITs
fill the ephemeral port range.

Each active data connection is made from the control connection's
address (so a client, or a firewall before it, sees the host it talks
to), and the server closes it first after a download or a listing, which
leaves that connection in TIME_WAIT for 60 s. The old code bound the
data socket to the address with port 0 before connecting: bind picks a
port no other socket holds, TIME_WAITs included, so once a busy server's
active transfers had left the range full (about 470 a second on a
default range) every PORT/EPRT transfer got 425. The port is now picked
by connect, for the destination (IP_BIND_ADDRESS_NO_PORT), which may
reuse a port whose TIME_WAIT is towards another client port.

The test runs the server and the client in a network namespace of its
own whose ip_local_port_range holds 30 ports, and makes 60 active
listings from 127.0.0.2 (the data connections must come from there).
It needs root (the namespace) and skips without it.
"""
import os
import shutil
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Control, Server, private_netns, recv_all  # noqa: E402

IP = shutil.which("ip")
RANGE = (40000, 40029)  # 30 ephemeral ports in the namespace
TRANSFERS = 60


def run(*args):
    subprocess.run(args, check=True, capture_output=True, timeout=30)


@unittest.skipUnless(os.geteuid() == 0 and IP, "needs root and ip(8)")
class ActivePortsTest(unittest.TestCase):

    def setUp(self):
        """A network namespace with loopback up and a 30-port ephemeral
        range; this thread (and the processes it starts) moves into it
        until the test ends."""
        self.ns = private_netns(self, "rftp-active")
        run(IP, "netns", "exec", self.ns, "sysctl", "-qw",
            "net.ipv4.ip_local_port_range=%d %d" % RANGE)
        self.srv = Server(server={"listen": "0.0.0.0:0",
                                  "data_timeout": "3"})
        self.addCleanup(self.srv.cleanup)

    def test_active_listings_past_the_ephemeral_range(self):
        c = Control(self.srv.port, host="127.0.0.2", timeout=10,
                    source="127.0.0.1")
        self.addCleanup(c.close)
        c.login()
        for i in range(TRANSFERS):
            ls = socket.socket()
            ls.bind(("127.0.0.1", 0))
            ls.listen(1)
            ls.settimeout(10)
            p = ls.getsockname()[1]
            setup = ("PORT 127,0,0,1,%d,%d" % (p >> 8, p & 255) if i % 2
                     else "EPRT |1|127.0.0.1|%d|" % p)
            try:
                code, text = c.cmd(setup)
                self.assertEqual(code, 200, text)
                code, text = c.cmd("LIST")
                self.assertEqual(code, 150, "transfer %d: %s" % (i, text))
                code, text = c.reply()
                # 425 here: the server could not open the connection.
                self.assertEqual(code, 226, "transfer %d: %s" % (i, text))
                d, addr = ls.accept()
                recv_all(d, timeout=10)
                d.close()
                self.assertEqual(addr[0], "127.0.0.2", "transfer %d" % i)
            finally:
                ls.close()
        self.assertEqual(c.cmd("NOOP")[0], 200)


if __name__ == "__main__":
    unittest.main()
