"""The mirror pushing to relayftpd's own FTPS, verified.

relayftpd B requires TLS for logins and data, offers explicit FTPS on its
port and implicit FTPS on a second one, with a fresh self-signed
certificate. relayftpd A mirrors alice's uploads to two targets on B:
"e" through ftp:// + explicit_tls, "i" through ftps:// (implicit), both
with tls_verify on against the certificate (ca_file) and verify = hash, so
B's XSHA256 checks every copy. Multi-MiB files under TLS 1.3 must arrive
byte for byte (the TLS 1.3 session-ticket pitfall truncates such uploads
on other servers), with no temporary file left and no failed attempt. A
target without ca_file refuses the self-signed certificate and keeps the
job queued.
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import make_cert  # noqa: E402
from mirror_targets import (RELAY_PASSWORD, RELAY_USER,  # noqa: E402
                            relay_dir, relay_target, wait_status)
from test_mirror import MirrorTest  # noqa: E402

MB = 1024 * 1024


class MirrorFtpsTest(MirrorTest):

    def ftps_relay(self):
        cert, key = make_cert(self.tmp, "target")
        b = relay_target(server={"log_level": "debug"}, sections={"tls": {
            "cert": cert, "key": key, "require_login_tls": "on",
            "require_data_tls": "on", "implicit_listen": "127.0.0.1:0"}})
        self.addCleanup(b.cleanup)
        return b, cert

    def test_push_over_explicit_and_implicit_ftps(self):
        b, cert = self.ftps_relay()
        creds = "%s:%s@127.0.0.1" % (RELAY_USER, RELAY_PASSWORD)
        a = self.mirror_server(
            mirror={"retry_initial": "1", "retry_max": "2"},
            targets={
                "e": {"url": "ftp://%s:%d/explicit" % (creds, b.port),
                      "explicit_tls": "on", "tls_verify": "on",
                      "ca_file": cert, "verify": "hash"},
                "i": {"url": "ftps://%s:%d/implicit" % (creds,
                                                        b.implicit_port),
                      "tls_verify": "on", "ca_file": cert,
                      "verify": "hash"}})
        files = {"big1.bin": self.rand(4 * MB + 3),
                 "big2.bin": self.rand(3 * MB),
                 "dir/small.txt": self.rand(1000)}
        self.ftp_upload(a, files)
        for target, base in (("e", "explicit"), ("i", "implicit")):
            self.assertArrived(relay_dir(b, base, "alice"), files, a, target)
            self.assertNoTemp(relay_dir(b, base))
        self.assertDrained(a, "e", "i")
        for p in self.push_lines(a):
            self.assertEqual(p["verify"], "hash", p["line"])
        self.assertEqual(len(self.push_lines(a)), 2 * len(files))
        self.assertNotIn("mirror push failed", a.log_text())
        # It really was TLS, and the data connections resumed the session.
        blog = b.log_text()
        self.assertIn("control connection: TLSv1.3", blog)
        self.assertIn("(implicit TLS)", blog)
        self.assertIn("(resumed)", blog)
        self.assertNotIn("did not resume", blog)

    def test_self_signed_refused_without_ca_file(self):
        b, _ = self.ftps_relay()
        a = self.mirror_server(
            mirror={"retry_initial": "1", "retry_max": "2"},
            targets={"e": {"url": "ftp://%s:%s@127.0.0.1:%d/base" % (
                RELAY_USER, RELAY_PASSWORD, b.port),
                "explicit_tls": "on", "tls_verify": "on"}})
        self.ftp_upload(a, {"x.txt": b"never pushed"})
        st = wait_status(a, lambda s: "certificate" in
                         (s.get("e", {}).get("last_error") or "").lower(),
                         timeout=30)
        self.assertIn("certificate", st["e"]["last_error"].lower(), st)
        self.assertGreaterEqual(st["e"]["queued"] + st["e"]["running"], 1)
        self.assertFalse(os.path.exists(relay_dir(b, "base", "alice",
                                                  "x.txt")))


if __name__ == "__main__":
    unittest.main(verbosity=2)
