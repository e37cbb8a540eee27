#!/usr/bin/env python3
"""A stream copy's kept connection to a target that stopped answering
while it sat idle (README "Mirror: pushed while it arrives"; issue 10).

Its kept connections are closed after stream_keep_idle = 10 s (100 s by
default; long enough to freeze a target first): the test waits for the line that says so, not for a time.
"""
import ftplib
import io
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import wait_for  # noqa: E402
from mirror_targets import MirrorServer, PyftpdTarget  # noqa: E402
from test_mirror_stream import MIB, payload  # noqa: E402


class StreamSpareIdleTest(unittest.TestCase):
    """A kept connection to a target that stopped answering while it sat
    idle is closed without waiting for that target: its goodbye held the
    thread that starts every copy for libcurl's 60 s response timeout, so
    no upload streamed to any target meanwhile, and a stop waited as long
    (found by a review). Waits for the kept connections' idle close."""

    def test_idle_connection_to_a_frozen_target_holds_nothing(self):
        a, b = PyftpdTarget(), PyftpdTarget()
        self.addCleanup(a.cleanup)
        self.addCleanup(b.cleanup)
        srv = MirrorServer(
            users={"u1": {"password": "pw1"}},
            mirror={"retry_initial": "1", "retry_max": "1", "watch": "off",
                    "stream_min_size": "1M", "workers_per_target": "1",
                    "stream_keep_idle": "10"},
            targets={"a": a.target("/base"), "b": b.target("/base")})
        self.addCleanup(srv.cleanup)
        self.addCleanup(srv.stop, check=False)
        def pushed_streamed(target, name):
            return any("mirror push target=%s " % target in line and
                       "/u1/%s " % name in line and
                       "(sent while it arrived)" in line
                       for line in srv.log_text().splitlines())

        def upload(name, seed):
            # Paced: the upload lasts past the copies' start. A session
            # each: the harness's idle timeout is shorter than the wait.
            f = ftplib.FTP()
            f.connect("127.0.0.1", srv.port, timeout=30)
            self.addCleanup(f.close)
            f.login("u1", "pw1")
            f.voidcmd("TYPE I")
            f.storbinary("STOR " + name, io.BytesIO(payload(seed, 4 * MIB)),
                         64 * 1024, lambda block: time.sleep(0.02))
            f.quit()

        upload("x1.bin", 1)
        self.assertTrue(wait_for(lambda: pushed_streamed("a", "x1.bin") and
                                 pushed_streamed("b", "x1.bin"),
                                 timeout=30), srv.log_text()[-3000:])
        os.kill(a.proc.pid, signal.SIGSTOP)
        frozen_at = len(srv.log_text())
        self.addCleanup(lambda: a.proc.poll() is None and
                        os.kill(a.proc.pid, signal.SIGCONT))
        # The kept connections are closed once idle stream_keep_idle,
        # at the starter's next look (1 s), and the log says so before
        # the goodbye: the frozen target's one is what the test is about.
        closing = "mirror stream target=a: a kept connection unused for "
        self.assertNotIn(closing, srv.log_text()[:frozen_at],
                         "closed before the target was frozen: the test "
                         "tested nothing")
        self.assertTrue(wait_for(lambda: closing in srv.log_text(),
                                 timeout=30), srv.log_text()[-3000:])
        upload("x2.bin", 2)
        self.assertTrue(wait_for(lambda: pushed_streamed("b", "x2.bin"),
                                 timeout=30),
                        "the healthy target's copy did not stream:\n" +
                        srv.log_text()[-3000:])
        # The harness's bounded stop: one that waits is a failure.
        self.assertEqual(srv.stop(check=True), 0)


if __name__ == "__main__":
    unittest.main()
