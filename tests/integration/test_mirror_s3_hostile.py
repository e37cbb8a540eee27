"""s3:// targets against a service in trouble or with other ETags
(fake_s3.py), beyond test_mirror_s3.py:

  - 503 SlowDown on object writes (AWS's throttling): the target backs
    off and every file lands, none parked or dropped as refused;
  - a service whose single-part ETag is not the MD5 of the bytes (SSE-KMS
    or SSE-C on AWS, S3-compatible services that encrypt) and that keeps
    no SHA-256 checksum, with verify = hash: each file lands once and is
    delivered (verified by size), and a copy damaged as it is stored (its
    ETag then other than the PUT's answer) is still caught and sent again.

Every wait is bounded.
"""
import hashlib
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fake_s3  # noqa: E402
import test_mirror_s3 as tms  # noqa: E402

KB = 1024


class S3Hostile(tms.S3Test):

    def test_slowdown_503_backs_off_and_loses_nothing(self):
        s3 = self.s3()
        a = self.mirror_server(
            mirror=dict(tms.FAST_RETRY),
            targets={"s": s3.target("", verify="hash")})
        s3.fail_next(6, 503, msg="Please reduce your request rate.")
        files = {"t/f%02d.bin" % i: self.rand(10 * KB) for i in range(8)}
        self.ftp_upload(a, files)
        want = {"alice/" + k: v for k, v in files.items()}
        self.assertObjects(s3, want, a, timeout=90, what="after SlowDown")
        st = self.assertDrained(a, "s")
        self.assertEqual(st["s"]["failed"], 0, st)
        log = a.log_text()
        self.assertIn("HTTP 503", log)
        self.assertNotIn("dropped", log)
        self.assertNotIn("refused this file", log)


    def test_etag_that_is_not_the_md5(self):
        # The service's ETag is 32 hex digits but not the bytes' MD5 (as
        # AWS's for SSE-KMS and SSE-C objects), the same in the PUT's
        # answer and in HEAD, and it keeps no SHA-256 checksum.
        real_md5 = fake_s3.hashlib.md5

        class Shim:
            def __getattr__(self, name):
                return getattr(hashlib, name)

            @staticmethod
            def md5(data=b""):
                return real_md5(b"kms-" + data)

        fake_s3.hashlib = Shim()
        self.addCleanup(setattr, fake_s3, "hashlib", hashlib)
        store = fake_s3._Handler._store

        def no_checksum(self_, bucket, key, data, etag, sha_b64):
            return store(self_, bucket, key, data, etag, None)
        fake_s3._Handler._store = no_checksum
        self.addCleanup(setattr, fake_s3._Handler, "_store", store)
        s3 = self.s3()
        a = self.mirror_server(
            mirror=dict(tms.FAST_RETRY),
            targets={"s": s3.target("", verify="hash")})
        files = {"k/f%02d.bin" % i: self.rand(3 * KB) for i in range(3)}
        # One copy damaged as it is stored: its ETag is then not the one
        # the PUT was answered with, and verify still catches it.
        s3.flip_next(1)
        self.ftp_upload(a, files)
        want = {"alice/" + k: v for k, v in files.items()}
        self.assertObjects(s3, want, a, timeout=30, what="kms")
        st = self.assertDrained(a, "s", timeout=30)
        self.assertEqual(st["s"]["failed"], 0, st)
        log = a.log_text()
        self.assertIn("size only (the service's ETag is not the MD5 of the "
                      "bytes, and it keeps no SHA-256 checksum)", log)
        self.assertIn("digest differs", log)  # the damaged copy
        # Each file went up once, the damaged one twice: no PUT loop.
        puts = [r for r in s3.requests() if r[0] == "PUT"]
        self.assertEqual(len(puts), len(files) + 1, puts)


if __name__ == "__main__":
    unittest.main()
