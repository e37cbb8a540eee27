"""A client killed mid-upload never publishes a truncated file.

In stream mode a killed client's data connection ends with a FIN just like
a finished upload, and the kernel often closes the data socket before the
control socket. These tests kill real clients (lftp and curl) with SIGKILL
several times and check that nothing is ever published under the final name,
the bytes stay in the hidden partial, and a resume then completes the file.
"""
import os
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Server, wait_for  # noqa: E402

ROUNDS = 4
SIZE = 8 * 1024 * 1024


class KillMidUploadTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server()
        cls.src = os.path.join(cls.srv.tmp, "source.bin")
        with open(cls.src, "wb") as f:
            f.write(os.urandom(SIZE))

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()

    def _kill_round(self, argv, name):
        home = self.srv.home("alice")
        partial = os.path.join(home, ".rftpd-partial." + name)
        final = os.path.join(home, name)
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            grew = wait_for(lambda: os.path.exists(partial) and
                            os.path.getsize(partial) > 256 * 1024,
                            timeout=20)
            self.assertTrue(grew, "upload never started")
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        # The server notices the death at once; give it a bounded moment
        # to finish the session, then the final name must still be absent.
        size = wait_for(lambda: os.path.getsize(partial)
                        if os.path.exists(partial) else 0, timeout=2)
        self.assertFalse(os.path.exists(final),
                         "%s published after the client was killed" % name)
        self.assertGreater(size, 0)
        self.assertLess(size, SIZE)

    def test_lftp_killed_never_publishes(self):
        for i in range(ROUNDS):
            name = "lftp%d.bin" % i
            self._kill_round(
                ["lftp", "-c",
                 "set net:limit-rate 2M; set ftp:ssl-allow no; "
                 "set net:max-retries 1; open -u alice,alice-pw "
                 "ftp://127.0.0.1:%d; put %s -o %s" %
                 (self.srv.port, self.src, name)], name)

    def test_curl_killed_never_publishes_then_resumes(self):
        for i in range(ROUNDS):
            name = "curl%d.bin" % i
            self._kill_round(
                ["curl", "-sS", "--limit-rate", "2M", "-T", self.src,
                 self.srv.url(path="/" + name)], name)
        # curl -C - asks SIZE (the partial's) and APPE continues it.
        out = subprocess.run(
            ["curl", "-sS", "-C", "-", "-T", self.src,
             self.srv.url(path="/curl0.bin")],
            capture_output=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        with open(os.path.join(self.srv.home("alice"), "curl0.bin"),
                  "rb") as f, open(self.src, "rb") as g:
            self.assertEqual(f.read(), g.read())
        self.assertFalse(os.path.exists(os.path.join(
            self.srv.home("alice"), ".rftpd-partial.curl0.bin")))


if __name__ == "__main__":
    unittest.main(verbosity=2)
