#!/usr/bin/env python3
"""A stream copy to a target that takes longer than a minute for its 226
(README "Mirror: pushed while it arrives"; the target key `timeout`).

A file of its own: it waits out a 226 held 70 s. Runs in ~80 s.
"""
import ftplib
import io
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import wait_for  # noqa: E402
from mirror_targets import MirrorServer, PyftpdTarget  # noqa: E402
from test_mirror_stream import MIB, payload  # noqa: E402

HELD_S = 70


class SlowVerdictTest(unittest.TestCase):
    """A target that scans each file before its 226 (timeout = 120 on
    it): the worker that took the upload's job waited for the stream copy
    only a fixed minute without a byte, then sent the whole file again and
    threw the copy away, the double transfer the target's `timeout` is
    there to end (found by a review). It now waits as long as the copy
    may wait for its 226."""

    def test_a_copy_waiting_for_a_late_226_is_taken(self):
        p = PyftpdTarget(slow_226=(".rftpd-tmp.", HELD_S))
        self.addCleanup(p.cleanup)
        srv = MirrorServer(
            users={"u1": {"password": "pw1"}},
            mirror={"retry_initial": "1", "retry_max": "1", "watch": "off",
                    "stream_min_size": "1M", "workers_per_target": "1"},
            targets={"p": p.target("/base", timeout="120")})
        self.addCleanup(srv.cleanup)
        self.addCleanup(srv.stop, check=False)
        data = payload(1, 4 * MIB)
        f = ftplib.FTP()
        f.connect("127.0.0.1", srv.port, timeout=30)
        self.addCleanup(f.close)
        f.login("u1", "pw1")
        f.voidcmd("TYPE I")
        # Paced: the copy starts while the upload runs.
        f.storbinary("STOR x.bin", io.BytesIO(data), 64 * 1024,
                     lambda block: time.sleep(0.02))
        f.quit()
        final = os.path.join(p.dir("base", "u1"), "x.bin")
        self.assertTrue(wait_for(lambda: os.path.exists(final) and
                                 os.path.getsize(final) == len(data),
                                 timeout=HELD_S + 40),
                        srv.log_text()[-3000:])
        with open(final, "rb") as g:
            self.assertEqual(g.read(), data)
        self.assertEqual(len(p.faults()), 1, p.faults())
        # Sent once: the copy, taken when its 226 came.
        stors = [ln for ln in p.log_text().splitlines() if " STOR " in ln]
        self.assertEqual(len(stors), 1, "\n".join(stors))
        self.assertTrue(any("mirror push target=p " in ln and
                            "(sent while it arrived)" in ln
                            for ln in srv.log_text().splitlines()),
                        srv.log_text()[-3000:])
        self.assertEqual(srv.stop(check=True), 0)


if __name__ == "__main__":
    unittest.main()
