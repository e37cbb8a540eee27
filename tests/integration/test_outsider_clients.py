"""Real clients (lftp) against relayftpd set up as an admin would from the
README: FTPS required, per-user quotas. What is checked is what the user
and the admin see: the client's error, the bytes on disk, and a log line
that says why each refusal happened.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Server, client_env, make_cert, wait_for  # noqa: E402

LFTP = "/usr/bin/lftp"
QUOTA = 1024 * 1024


@unittest.skipUnless(os.access(LFTP, os.X_OK), "needs lftp (Debian: lftp)")
class QuotaRefusalTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.certdir = tempfile.mkdtemp(prefix="rftp-outsider-")
        cls.cert, cls.key = make_cert(cls.certdir)
        cls.srv = Server(
            users={"bob": {"password": "bob-pw", "quota_bytes": "1M"}},
            sections={"tls": {"cert": cls.cert, "key": cls.key,
                              "require_login_tls": "on",
                              "require_data_tls": "on"}})
        os.makedirs(cls.srv.home("bob"), exist_ok=True)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop(check=True)
        cls.srv.cleanup()
        shutil.rmtree(cls.certdir, True)

    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="rftp-outsider-work-")
        self.addCleanup(shutil.rmtree, self.work, True)

    def lftp(self, script):
        prelude = ("set cmd:fail-exit yes; set net:max-retries 1; "
                   "set net:timeout 10; set ftp:ssl-force true; "
                   "set ftp:ssl-protect-data true; set ssl:ca-file %s; "
                   "open -u bob,bob-pw ftp://127.0.0.1:%d; " %
                   (self.cert, self.srv.port))
        return subprocess.run([LFTP, "-c", prelude + script],
                              capture_output=True, timeout=60,
                              env=client_env(self.work),
                              stdin=subprocess.DEVNULL, text=True)

    def test_allo_past_the_quota_is_refused_and_logged(self):
        # lftp's ftp:use-allo declares each file's size first; one past
        # the whole quota is refused before a byte is sent. The admin
        # asked why must find it in the log, as for every other quota
        # stop (it was answered 552 with nothing logged).
        src = os.path.join(self.work, "big.bin")
        with open(src, "wb") as f:
            f.write(os.urandom(QUOTA + 4096))
        r = self.lftp("set ftp:use-allo yes; put %s -o big.bin" % src)
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("552", r.stderr)
        self.assertFalse(os.path.exists(
            os.path.join(self.srv.home("bob"), "big.bin")))
        want = "ALLO %d refused: over bob's quota_bytes of %d" % (
            QUOTA + 4096, QUOTA)
        self.assertTrue(wait_for(lambda: want in self.srv.log_text(),
                                 timeout=10),
                        "no log line %r in:\n%s" %
                        (want, self.srv.log_text()[-2000:]))

    def test_file_exactly_at_the_quota_fits(self):
        src = os.path.join(self.work, "exact.bin")
        data = os.urandom(QUOTA)
        with open(src, "wb") as f:
            f.write(data)
        r = self.lftp("set ftp:use-allo yes; put %s -o exact.bin; "
                      "rm exact.bin" % src)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(wait_for(
            lambda: "received /exact.bin (%d bytes" % QUOTA in
            self.srv.log_text(), timeout=10))


if __name__ == "__main__":
    unittest.main()
