"""Login bans over IPv6: counted per /64 prefix, held against a flood.

The ban table counts IPv6 failures per /64 (tests/unit/test_ban.c covers
many addresses of one /64 and a flood of 100,000 /64s). Over the wire every
IPv6 loopback client is ::1, so this checks what can be seen from outside:
login_fail_max failures from [::1] ban it (421 at connect and at PASS,
logged as a ban of the whole /64), while IPv4 clients of the same server,
a different key, still log in.
"""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Control, Server, have_ipv6_loopback  # noqa: E402


@unittest.skipUnless(have_ipv6_loopback(), "no IPv6 loopback")
class Ipv6BanTest(unittest.TestCase):

    def setUp(self):
        self.srv = Server(server={"listen": "127.0.0.1:0, [::1]:0",
                                  "login_fail_max": "3",
                                  "login_fail_window": "60",
                                  "login_ban_time": "120",
                                  "login_fail_delay_ms": "0"}, start=False)
        self.addCleanup(self.srv.cleanup)
        # The harness writes its own listen line first; ours replaces it.
        with open(self.srv.config_path) as f:
            text = f.read().replace("listen = 127.0.0.1:0\n", "", 1)
        with open(self.srv.config_path, "w") as f:
            f.write(text)
        self.srv.start()
        line = self.srv._stdout_line(time.monotonic() + 10)
        self.assertTrue(line.startswith("listening on [::1]:"), line)
        self.port6 = int(line.rsplit(":", 1)[1])

    def control6(self):
        return Control(self.port6, host="::1")

    def test_ban_over_ipv6_holds_and_spares_ipv4(self):
        early = self.control6()  # open before the ban
        self.addCleanup(early.close)
        self.assertEqual(early.cmd("USER alice")[0], 331)
        for expect in (530, 530, 421):
            with self.control6() as c:
                self.assertEqual(c.greeting[0], 220)
                c.cmd("USER alice")
                code, text = c.cmd("PASS wrong")
                self.assertEqual(code, expect, text)
        # Every new IPv6 connection is refused at connect, many times.
        for _ in range(20):
            with self.control6() as c:
                self.assertEqual(c.greeting[0], 421, c.greeting)
        # The connection opened before cannot guess on, even right.
        self.assertEqual(early.cmd("PASS alice-pw")[0], 421)
        # IPv4 is another key: unaffected.
        with Control(self.srv.port) as c:
            self.assertEqual(c.greeting[0], 220)
            c.login()
        self.assertIn("address (its whole /64) banned", self.srv.log_text())


if __name__ == "__main__":
    unittest.main(verbosity=2)
