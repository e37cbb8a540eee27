"""s3:// targets against a service in trouble or with other ETags
(fake_s3.py), beyond test_mirror_s3.py:

  - 503 SlowDown on object writes (AWS's throttling): the target backs
    off and every file lands, none parked or dropped as refused;
  - a service whose single-part ETag is not the MD5 of the bytes (SSE-KMS
    or SSE-C on AWS, S3-compatible services that encrypt) and that keeps
    no SHA-256 checksum, with verify = hash: each file lands once and is
    delivered (verified by size), and a copy damaged as it is stored (its
    ETag then other than the PUT's answer) is still caught and sent again;
  - a service whose ETags are MD5s, that checks neither the checksum nor
    the signed payload hash: a copy damaged on receipt (the PUT answered
    with the damaged bytes' MD5) is caught and sent again, not passed on
    its size;
  - multipart uploads with verify = hash: a part damaged on receipt is
    caught by its ETag and sent again (that part alone), parts the
    service put together in another order are caught by the whole's
    ETag (read back and found other), a good upload passes with no read
    back, an SSE-KMS-like bucket's (ETags that are not MD5s) still
    lands, and a service whose whole's ETag is made another way than
    S3's has its first object read back and later ones pass on their
    parts;
  - a listing whose continuation tokens go round (A, B, A, or a round of
    40): a folder's rename fails at the first repeat, not after 100,000
    pages;
  - answers whose tags carry a namespace and white space, and whose
    IsTruncated is " True ": every file lands, stale uploads are aborted,
    a folder's rename moves every key, past the first page.

Every wait is bounded.
"""
import email.utils
import hashlib
import os
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fake_s3  # noqa: E402
from harness import wait_for  # noqa: E402
import test_mirror_s3 as tms  # noqa: E402

KB = 1024


class S3Hostile(tms.S3Test):

    def test_a_listing_whose_tokens_go_round_fails_at_once(self):
        # ListObjectsV2 going on from A, then B, then A again: only a
        # token equal to the one just asked was caught, so a folder's
        # rename listed the same two pages up to 100,000 times, the job
        # held all along.
        self.stuck_listing_renamed(
            "cycle", "list cam/alice/pics/: the service goes on from a "
            "continuation token it was asked from before (page 3)", 20,
            {"pics/a.jpg": self.rand(900), "pics/b.jpg": self.rand(700)})

    def test_a_listing_whose_tokens_go_round_40_fails_at_once(self):
        # A round of 40 tokens (c0 ... c39, c0): only the last 16 tokens
        # asked were remembered, so the rename listed the same 40 pages
        # over and over, up to 100,000 requests, the job held. Page 41
        # goes on from c0, asked from on page 2.
        self.stuck_listing_renamed(
            40, "list cam/alice/pics/: the service goes on from a "
            "continuation token it was asked from before (page 41)", 45,
            {"pics/a.jpg": self.rand(900), "pics/b.jpg": self.rand(700)})

    def test_answers_with_namespaces_and_spaces_in_tags(self):
        # Every answer's tags written <Key xmlns="..." > and </Key\n>,
        # IsTruncated " True " (XML allows both): a stale upload of the
        # key was not seen in the list (left billing), the start's
        # UploadId was not found (the push failed over and over), a
        # folder's listing ended at its first page (" True " taken for
        # false) and its keys were not found, so its rename moved none.
        s3 = self.s3()
        s3.loose_xml(True)
        a = self.mirror_server(
            mirror=dict(tms.FAST_RETRY),
            targets={"s": s3.target("cam", multipart_threshold="5M",
                                    part_size="5M",
                                    propagate_renames="on")})
        stale = s3.open_upload("cam/alice/pics/big.bin", {1: b"old part"})
        files = {"pics/f%d.bin" % i: self.rand(700 + i) for i in range(5)}
        files["pics/big.bin"] = self.rand(6 * tms.MB + 7)
        self.ftp_upload(a, files)
        self.assertObjects(s3, {"cam/alice/" + k: v
                                for k, v in files.items()}, a, timeout=60,
                           what="loose xml")
        self.assertNotIn(stale, s3.open_uploads())
        self.ftp_rename(a, "/pics", "/photos")
        want = {"cam/alice/photos/" + k[len("pics/"):]: v
                for k, v in files.items()}
        self.assertTrue(wait_for(lambda: s3.objects() == want, timeout=30,
                                 interval=0.1),
                        "%s\n%s" % (sorted(s3.objects()),
                                    a.log_text()[-3000:]))
        self.assertDrained(a, "s")
        self.assertEqual(s3.open_uploads(), {}, "parts left billing")

    def test_slowdown_503_backs_off_and_loses_nothing(self):
        s3 = self.s3()
        a = self.hash_server(s3)
        s3.fail_next(6, 503, msg="Please reduce your request rate.")
        files = {"t/f%02d.bin" % i: self.rand(10 * KB) for i in range(8)}
        self.ftp_upload(a, files)
        want = {"alice/" + k: v for k, v in files.items()}
        self.assertObjects(s3, want, a, timeout=90, what="after SlowDown")
        st = self.assertDrained(a, "s")
        self.assertEqual(st["s"]["failed"], 0, st)
        log = a.log_text()
        # Asked again in the push, or (3 on one PUT) a failed attempt.
        self.assertRegex(log, r"HTTP 503|the PUT answered 503: asked again")
        self.assertNotIn("dropped", log)
        self.assertNotIn("refused this file", log)

    def test_etag_that_is_not_the_md5(self):
        # The service's ETag is 32 hex digits but not the bytes' MD5 (as
        # AWS's for SSE-KMS and SSE-C objects), the same in the PUT's
        # answer and in HEAD, and it keeps no SHA-256 checksum.
        self.kms_service()
        s3 = self.s3()
        a = self.hash_server(s3)
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
        puts = self.puts(s3)
        self.assertEqual(len(puts), len(files) + 1, puts)

    def test_copy_damaged_on_receipt_by_an_md5_service(self):
        # A service whose ETags are MD5s, that keeps no SHA-256 checksum
        # and checks neither it nor the signed payload hash on receipt
        # (S3-compatible services that only sign-check the headers): a
        # body damaged on the way in is stored, and the PUT is answered
        # with the MD5 of the damaged bytes. That ETag is the PUT's
        # answer and not the file's MD5, but the service has shown its
        # ETags are MD5s: verify = hash must catch it, not pass it on
        # its size.
        damage = {"n": 0}
        self.md5_service_that_checks_nothing(damage)
        s3 = self.s3()
        a = self.hash_server(s3)
        first = {"m/f00.bin": self.rand(3 * KB)}
        self.ftp_upload(a, first)
        self.assertObjects(s3, {"alice/m/f00.bin": first["m/f00.bin"]}, a,
                           timeout=30, what="first")
        damage["n"] = 1
        second = {"m/f01.bin": self.rand(3 * KB)}
        self.ftp_upload(a, second)
        want = {"alice/" + k: v for k, v in dict(first, **second).items()}
        self.assertObjects(s3, want, a, timeout=30, what="damaged")
        st = self.assertDrained(a, "s", timeout=30)
        self.assertEqual(st["s"]["failed"], 0, st)
        self.assertEqual(damage["n"], 0)
        self.assertIn("digest differs", a.log_text())
        puts = self.puts(s3)
        self.assertEqual(len(puts), 3, puts)

    def md5_service_that_checks_nothing(self, damage):
        """fake_s3 with MD5 ETags that keeps no checksum and checks
        neither it nor the signed payload hash: while damage["n"] > 0 a
        PUT's body has its last bit flipped on receipt (and n counts
        down). Restored at cleanup."""
        store = fake_s3._Handler._store
        put = fake_s3._Handler._put

        def no_checksum(self_, bucket, key, data, etag, sha_b64):
            return store(self_, bucket, key, data, etag, None)

        def on_receipt(self_, bucket, key, body):
            del self_.headers["x-amz-checksum-sha256"]  # not checked
            if body and "x-amz-copy-source" not in self_.headers:
                with self_.st.lock:
                    hit = damage["n"] > 0
                    damage["n"] -= 1 if hit else 0
                if hit:
                    body = body[:-1] + bytes([body[-1] ^ 0x01])
            return put(self_, bucket, key, body)
        fake_s3._Handler._store = no_checksum
        fake_s3._Handler._put = on_receipt
        self.addCleanup(setattr, fake_s3._Handler, "_store", store)
        self.addCleanup(setattr, fake_s3._Handler, "_put", put)

    def test_first_copy_damaged_on_receipt_by_an_md5_service(self):
        # As test_copy_damaged_on_receipt_by_an_md5_service, but the
        # damaged copy is the first file of the run: nothing is known
        # of the bucket's ETags yet. It passed on its size; it must be
        # caught and sent again.
        damage = {"n": 1}
        self.md5_service_that_checks_nothing(damage)
        s3 = self.s3()
        a = self.hash_server(s3)
        first = {"m/f00.bin": self.rand(3 * KB)}
        self.ftp_upload(a, first)
        self.assertObjects(s3, {"alice/m/f00.bin": first["m/f00.bin"]}, a,
                           timeout=30, what="first, damaged")
        st = self.assertDrained(a, "s", timeout=30)
        self.assertEqual(st["s"]["failed"], 0, st)
        self.assertEqual(damage["n"], 0)
        self.assertIn("digest differs", a.log_text())
        self.assertNotIn("verify=size", a.log_text())
        puts = self.puts(s3)
        self.assertEqual(len(puts), 2, puts)

    def test_bucket_turning_to_kms_while_running(self):
        # A bucket whose ETags were MD5s turns to SSE-KMS (ETags no
        # longer MD5s, no checksum kept) while the daemon runs: its
        # files failed verify, sent again every retry, until a restart.
        # Now each lands, once.
        self.md5_service_that_checks_nothing({"n": 0})
        s3 = self.s3()
        a = self.hash_server(s3)
        first = {"m/f00.bin": self.rand(3 * KB)}
        self.ftp_upload(a, first)
        self.assertObjects(s3, {"alice/m/f00.bin": first["m/f00.bin"]}, a,
                           timeout=30, what="md5")
        self.assertDrained(a, "s", timeout=30)
        self.kms_etags()
        later = {"m/f%02d.bin" % i: self.rand(3 * KB) for i in (1, 2)}
        self.ftp_upload(a, later)
        want = {"alice/" + k: v for k, v in dict(first, **later).items()}
        self.assertObjects(s3, want, a, timeout=30, what="turned to kms")
        st = self.assertDrained(a, "s", timeout=30)
        self.assertEqual(st["s"]["failed"], 0, st)
        self.assertNotIn("digest differs", a.log_text())
        self.assertIn("the bucket's ETags are no longer MD5s", a.log_text())
        puts = self.puts(s3)
        self.assertEqual(len(puts), 3, puts)

    def kms_service(self):
        """fake_s3 whose single-part ETags are not the MD5 of the bytes
        (keyed, as SSE-KMS's) and that keeps no SHA-256 checksum: each
        first file of a run is read back. Restored at cleanup."""
        self.kms_etags()
        store = fake_s3._Handler._store

        def no_checksum(self_, bucket, key, data, etag, sha_b64):
            return store(self_, bucket, key, data, etag, None)
        fake_s3._Handler._store = no_checksum
        self.addCleanup(setattr, fake_s3._Handler, "_store", store)

    def kms_etags(self):
        """fake_s3's ETags from now on are not the MD5 of the bytes
        (keyed, as SSE-KMS's). Restored at cleanup."""
        real_md5 = fake_s3.hashlib.md5

        class Shim:
            def __getattr__(self, name):
                return getattr(hashlib, name)

            @staticmethod
            def md5(data=b""):
                return real_md5(b"kms-" + data)
        fake_s3.hashlib = Shim()
        self.addCleanup(setattr, fake_s3, "hashlib", hashlib)

    def hash_server(self, s3, **target):
        """A relay that retries fast and pushes to s3 as target "s" with
        verify = hash (and target's other keys)."""
        return self.mirror_server(
            mirror=dict(tms.FAST_RETRY),
            targets={"s": s3.target("", verify="hash", **target)})

    def puts(self, s3):
        """The PUT requests s3 was sent."""
        return [r for r in s3.requests() if r[0] == "PUT"]

    def test_kms_bucket_whose_objects_cannot_be_read_back(self):
        # SSE-KMS with a role that may PUT and HEAD but not decrypt (no
        # kms:Decrypt, or a write-only policy): the read back is
        # answered 403. The copy cannot be compared; each file must
        # still land once and be delivered, checked by its size, and the
        # log must say why and what to grant; not refused for ever, the
        # file sent again at each retry and the target paused.
        self.kms_service()
        s3 = self.s3()
        s3.deny_reads(True)
        a = self.hash_server(s3)
        files = {"w/f%02d.bin" % i: self.rand(3 * KB) for i in range(3)}
        self.ftp_upload(a, files)
        want = {"alice/" + k: v for k, v in files.items()}
        self.assertObjects(s3, want, a, timeout=30, what="write-only")
        st = self.assertDrained(a, "s", timeout=30)
        self.assertEqual(st["s"]["failed"], 0, st)
        log = a.log_text()
        self.assertIn("could not be read back", log)
        self.assertIn("s3:GetObject", log)
        self.assertNotIn("refused this file", log)
        puts = self.puts(s3)
        self.assertEqual(len(puts), len(files), puts)

    def test_first_file_read_back_over_a_slow_link(self):
        # The read back is the whole object: over a link slower than
        # size / timeout it cannot be whole within timeout seconds, as
        # a reply's answer must. A 1 MiB first file read back at
        # 128 KiB/s (8 s) with timeout = 2 failed verify at every
        # retry ("no whole answer within 2 s"), the file sent again
        # each time, for ever. It must land once and be delivered.
        self.kms_service()
        s3 = self.s3()
        s3.read_rate(128 * KB)
        a = self.hash_server(s3, timeout="2")
        files = {"big/f00.bin": self.rand(1024 * KB)}
        self.ftp_upload(a, files)
        want = {"alice/" + k: v for k, v in files.items()}
        self.assertObjects(s3, want, a, timeout=60, what="slow read")
        st = self.assertDrained(a, "s", timeout=60)
        self.assertEqual(st["s"]["failed"], 0, st)
        log = a.log_text()
        self.assertIn("read back whole and the same", log)
        self.assertNotIn("no whole answer", log)
        puts = self.puts(s3)
        self.assertEqual(len(puts), 1, puts)

    def test_read_back_longer_than_the_file_ends_at_its_size(self):
        # A GET answered 200 with more bytes than the file (a proxy's
        # page appended, a body without end): the copy differs, the
        # read back stops at the file's size + 1, and the file is sent
        # again, not hashed for ever.
        self.kms_service()
        s3 = self.s3()
        get = fake_s3._Handler._reply
        extra = {"n": 1}

        def padded(self_, status, body=b"", headers=None):
            if self_.command == "GET" and status == 200 and \
                    "ETag" in (headers or {}) and extra["n"] > 0:
                extra["n"] -= 1
                body = body + b" " * (64 * 1024 * 1024)
            return get(self_, status, body, headers)
        fake_s3._Handler._reply = padded
        self.addCleanup(setattr, fake_s3._Handler, "_reply", get)
        a = self.hash_server(s3)
        files = {"p/f00.bin": self.rand(3 * KB)}
        self.ftp_upload(a, files)
        want = {"alice/" + k: v for k, v in files.items()}
        self.assertObjects(s3, want, a, timeout=30, what="padded")
        st = self.assertDrained(a, "s", timeout=30)
        self.assertEqual(st["s"]["failed"], 0, st)
        self.assertIn("digest differs", a.log_text())
        puts = self.puts(s3)
        self.assertEqual(len(puts), 2, puts)


class S3RetryAfter(tms.S3Test):
    """503 SlowDown with a Retry-After (RFC 9110 section 10.2.3): the
    target's next attempt waits at least that long, at most retry_max,
    measured from the service's own request times. The PUT is answered so
    at each of its tries in the push (asked again there within 5 s), so
    the push fails and the target's wait is measured; a Retry-After past
    5 s is not waited in the push, one answer is enough."""

    def _gap_after_503(self, retry_after, retry_max, name, status=503,
                       tries=3):
        s3 = self.s3()
        a = self.mirror_server(
            mirror={"retry_initial": "1", "retry_max": retry_max},
            targets={"s": s3.target("", verify="size")})
        s3.fail_next(tries, status, msg="Please reduce your request rate.",
                     retry_after=retry_after)
        self.ftp_upload(a, {name: b"slow down"})
        self.assertObjects(s3, {"alice/" + name: b"slow down"}, a,
                           timeout=90, what="after SlowDown")
        puts = [t for t, m, p, _ in s3.request_times()
                if m == "PUT" and p.endswith("/alice/" + name)]
        self.assertGreaterEqual(len(puts), tries + 1, s3.request_times())
        return puts[tries] - puts[tries - 1], a

    def test_retry_after_seconds_is_waited(self):
        # Before: retried on the backoff's own 1-1.5 s.
        gap, a = self._gap_after_503("3", "60", "secs.bin")
        self.assertGreaterEqual(gap, 2.95, a.log_text()[-3000:])
        self.assertLess(gap, 30, a.log_text()[-3000:])
        said = "the service asked to wait 3 s (Retry-After)"
        self.assertIn(said, a.log_text())
        self.assertIn(said, a.status()["s"]["last_error"])

    def test_retry_after_http_date_is_waited(self):
        # RFC 9110 section 10.2.3's other form: a date 5 s ahead, made
        # at the answer (4 to 5 s once libcurl takes whole seconds).
        def ahead():
            return email.utils.formatdate(time.time() + 5, usegmt=True)
        gap, a = self._gap_after_503(ahead, "60", "date.bin")
        self.assertGreaterEqual(gap, 3.9, a.log_text()[-3000:])
        self.assertLess(gap, 30, a.log_text()[-3000:])
        self.assertIn("(Retry-After)", a.log_text())

    def test_retry_after_huge_is_held_to_retry_max(self):
        gap, a = self._gap_after_503("99999999", "4", "huge.bin", tries=1)
        self.assertGreaterEqual(gap, 3.95, a.log_text()[-3000:])
        self.assertLess(gap, 20, a.log_text()[-3000:])
        self.assertIn("the service asked to wait 99999999 s (Retry-After): "
                      "held to retry_max, 4 s", a.log_text())

    def test_429_alone_with_retry_after_is_waited(self):
        # A proxy's 429 with no 503 before it: the pause asked.
        gap, a = self._gap_after_503("3", "60", "r429.bin", status=429)
        self.assertGreaterEqual(gap, 2.95, a.log_text()[-3000:])
        self.assertLess(gap, 30, a.log_text()[-3000:])
        self.assertIn("the service asked to wait 3 s (Retry-After)",
                      a.log_text())

    def test_retry_after_saturated_reads_for_an_admin(self):
        gap, a = self._gap_after_503("99999999999999999999", "4", "sat.bin",
                                     tries=1)
        self.assertGreaterEqual(gap, 3.95, a.log_text()[-3000:])
        said = ("the service asked to wait more than retry_max "
                "(Retry-After too large to count): held to retry_max, 4 s")
        self.assertIn(said, a.log_text())
        self.assertNotIn("9223372036854775807", a.log_text())

    def test_retry_after_zero_negative_or_garbage_keeps_the_backoff(self):
        # "30 seconds": libcurl read its digits, a 30 s pause.
        for value, name in (("0", "zero.bin"), ("-5", "neg.bin"),
                            ("soon", "soon.bin"),
                            ("30 seconds", "words.bin")):
            with self.subTest(value=value):
                gap, a = self._gap_after_503(value, "60", name)
                self.assertGreaterEqual(gap, 0.9, a.log_text()[-3000:])
                # Far from the 30 s "30 seconds" was waited (a loaded
                # host may delay the backoff's 1-1.5 s).
                self.assertLess(gap, 10, a.log_text()[-3000:])
                self.assertNotIn("Retry-After", a.log_text())

    def test_503_without_retry_after_keeps_the_backoff(self):
        gap, a = self._gap_after_503(None, "60", "none.bin")
        self.assertLess(gap, 2.9, a.log_text()[-3000:])
        self.assertIn("HTTP 503 SlowDown", a.log_text())
        self.assertNotIn("Retry-After", a.log_text())


class S3Multipart(tms.S3Test):
    """A target that sends in parts, verify = hash (multipart_threshold
    5M, part_size 5M: 11 MiB + 123 bytes go in 3 parts). No tests."""

    SIZE = 11 * tms.MB + 123

    def big_target(self, s3):
        return self.mirror_server(
            mirror=dict(tms.FAST_RETRY),
            targets={"s": s3.target("", verify="hash",
                                    multipart_threshold="5M",
                                    part_size="5M")})

    def part_puts(self, s3):
        return [r for r in s3.requests()
                if r[0] == "PUT" and "uploadId" in r[2]]

    def uploads_started(self, s3):
        return [r for r in s3.requests()
                if r[0] == "POST" and r[2].startswith("uploads")]


class S3MultipartVerify(S3Multipart):
    """verify = hash on objects sent in parts."""

    def test_part_damaged_on_receipt_is_sent_again(self):
        # The second part's last bit is flipped on receipt by a service
        # that checks neither the signed payload hash nor a checksum; it
        # answers the damaged bytes' MD5. Checked by size alone, the
        # damaged object was kept and delivered.
        s3 = self.s3()
        s3.damage_parts(1, skip=1)
        a = self.big_target(s3)
        data = self.rand(self.SIZE)
        self.ftp_upload(a, {"d/big.bin": data})
        self.assertObjects(s3, {"alice/d/big.bin": data}, a, timeout=90,
                           what="part damaged")
        st = self.assertDrained(a, "s", timeout=60)
        self.assertEqual(st["s"]["failed"], 0, st)
        self.assertEqual(s3.store.parts_damaged, 1)
        log = a.log_text()
        self.assertIn("upload part 2 of alice/d/big.bin: the service's "
                      "ETag", log)
        self.assertIn("sending the part again", log)
        # That part alone again: one upload, 3 + 1 part PUTs, no read
        # back.
        self.assertEqual(len(self.uploads_started(s3)), 1, s3.requests())
        self.assertEqual(len(self.part_puts(s3)), 4, s3.requests())
        self.assertEqual(s3.object_gets(), [])
        self.assertEqual(s3.open_uploads(), {})

    def test_good_multipart_passes_on_its_etag_with_no_read_back(self):
        s3 = self.s3()
        a = self.big_target(s3)
        data = self.rand(self.SIZE)
        self.ftp_upload(a, {"g/big.bin": data})
        self.assertObjects(s3, {"alice/g/big.bin": data}, a, timeout=90,
                           what="good multipart")
        st = self.assertDrained(a, "s", timeout=60)
        self.assertEqual(st["s"]["failed"], 0, st)
        log = a.log_text()
        self.assertIn("ETag of the parts' MD5s", log)
        self.assertRegex(log, r"mirror push target=s path=\S*big\.bin "
                         r".* verify=hash(?! \(target offers no digest)")
        self.assertEqual(s3.object_gets(), [])
        self.assertEqual(len(self.part_puts(s3)), 3, s3.requests())

    def test_parts_put_together_in_another_order_are_sent_again(self):
        # Each part arrives whole, but the service puts parts 1 and 2
        # (both 5 MiB) together the other way round: the same size, the
        # completion's ETag is not the one of the parts sent.
        s3 = self.s3()
        complete = fake_s3._Handler._complete
        swap = {"n": 1}

        def swapped(self_, uid, body):
            with self_.st.lock:
                up = self_.st.uploads.get(uid)
                if up is not None and swap["n"] > 0 and 2 in up["parts"]:
                    swap["n"] -= 1
                    p = up["parts"]
                    p[1], p[2] = p[2], p[1]
            return complete(self_, uid, body)
        fake_s3._Handler._complete = swapped
        self.addCleanup(setattr, fake_s3._Handler, "_complete", complete)
        a = self.big_target(s3)
        data = self.rand(self.SIZE)
        self.ftp_upload(a, {"o/big.bin": data})
        self.assertObjects(s3, {"alice/o/big.bin": data}, a, timeout=120,
                           what="parts swapped")
        st = self.assertDrained(a, "s", timeout=60)
        self.assertEqual(swap["n"], 0)
        log = a.log_text()
        self.assertRegex(log, r"complete multipart upload alice/o/big\.bin: "
                         r"the service's ETag \"[0-9a-f]{32}-3\" is not "
                         r"\"[0-9a-f]{32}-3\", the one of the parts sent")
        # Read back (the whole's ETag may be made another way), found
        # other than the file, and sent again.
        self.assertIn("digest differs", log)
        self.assertEqual(len(s3.object_gets()), 1, s3.object_gets())
        self.assertEqual(len(self.uploads_started(s3)), 2, s3.requests())
        self.assertEqual(st["s"]["failed"], 0, st)

    def test_kms_bucket_multipart_still_lands(self):
        # ETags that are not MD5s (SSE-KMS), parts' and the whole's, and
        # no checksum: the first object is read back once and found the
        # same, later ones pass on their size; none fails or loops.
        s3 = self.s3()
        s3.kms_etags(True)
        a = self.big_target(s3)
        first = self.rand(self.SIZE)
        self.ftp_upload(a, {"k/one.bin": first})
        self.assertObjects(s3, {"alice/k/one.bin": first}, a, timeout=90,
                           what="kms first")
        self.assertDrained(a, "s", timeout=60)
        second = self.rand(self.SIZE)
        self.ftp_upload(a, {"k/two.bin": second})
        self.assertObjects(s3, {"alice/k/one.bin": first,
                                "alice/k/two.bin": second}, a, timeout=90,
                           what="kms second")
        st = self.assertDrained(a, "s", timeout=60)
        self.assertEqual(st["s"]["failed"], 0, st)
        log = a.log_text()
        self.assertNotIn("digest differs", log)
        self.assertNotIn("the one of the parts sent", log)
        self.assertIn("read back whole and the same", log)
        # The first was compared byte for byte (read back): the log says
        # hash, not size; the second was checked by its size alone.
        self.assertRegex(log, r"mirror push target=s path=\S*one\.bin "
                         r".* verify=hash(?! \(target offers no digest)")
        self.assertRegex(log, r"mirror push target=s path=\S*two\.bin "
                         r".* verify=size")
        # One read back in the run, one upload per file.
        self.assertEqual(len(s3.object_gets()), 1, s3.object_gets())
        self.assertEqual(len(self.uploads_started(s3)), 2, s3.requests())

    def test_kms_bucket_without_read_back_sends_each_part_once(self):
        # SSE-KMS ETags and a role that may not read the objects back
        # (GET answers 403): the first file's part 1 goes twice (its
        # ETag not its MD5, twice), then the bucket must be remembered
        # for ETags that are not MD5s, as a read back found the same
        # would have it: the second file's parts go once each. Before,
        # part 1 of every multipart file went twice.
        s3 = self.s3()
        s3.kms_etags(True)
        s3.deny_reads(True)
        a = self.big_target(s3)
        first = self.rand(self.SIZE)
        self.ftp_upload(a, {"r/one.bin": first})
        self.assertObjects(s3, {"alice/r/one.bin": first}, a, timeout=90,
                           what="kms no read first")
        self.assertDrained(a, "s", timeout=60)
        self.assertEqual(len(self.part_puts(s3)), 4, s3.requests())
        second = self.rand(self.SIZE)
        self.ftp_upload(a, {"r/two.bin": second})
        self.assertObjects(s3, {"alice/r/one.bin": first,
                                "alice/r/two.bin": second}, a, timeout=90,
                           what="kms no read second")
        st = self.assertDrained(a, "s", timeout=60)
        self.assertEqual(st["s"]["failed"], 0, st)
        self.assertEqual(len(self.part_puts(s3)), 4 + 3, s3.requests())
        self.assertEqual(len(self.uploads_started(s3)), 2, s3.requests())
        log = a.log_text()
        self.assertNotIn("digest differs", log)
        # Said once: what verify this bucket gets from now on.
        self.assertEqual(log.count("verify is size only in this bucket "
                                   "from now on"), 1, log)
        self.assertRegex(log, r"mirror push target=s path=\S*two\.bin "
                         r".* verify=size")

    def test_bucket_leaving_kms_has_its_parts_checked_again(self):
        # A bucket remembered for ETags that are not MD5s (SSE-KMS, read
        # back refused) whose encryption is turned off while the daemon
        # runs, with only multipart files coming: its parts' ETags are
        # their MD5s again, and part 2 of the next file is damaged on
        # receipt. Nothing looked at the parts of a bucket remembered so,
        # and nothing learned otherwise (only a single part's MD5 ETag
        # did): the damaged copy was delivered on its size. Now part 1's
        # ETag is compared with its MD5: the bucket is known again, the
        # damaged part sent again, the copy right.
        s3 = self.s3()
        s3.kms_etags(True)
        s3.deny_reads(True)
        a = self.big_target(s3)
        first = self.rand(self.SIZE)
        self.ftp_upload(a, {"k/one.bin": first})
        self.assertObjects(s3, {"alice/k/one.bin": first}, a, timeout=60,
                           what="kms first")
        self.assertDrained(a, "s", timeout=40)
        s3.kms_etags(False)
        s3.damage_parts(1, skip=1)
        second = self.rand(self.SIZE)
        self.ftp_upload(a, {"k/two.bin": second})
        self.assertObjects(s3, {"alice/k/one.bin": first,
                                "alice/k/two.bin": second}, a, timeout=60,
                           what="kms turned off, part 2 damaged")
        st = self.assertDrained(a, "s", timeout=40)
        self.assertEqual(st["s"]["failed"], 0, st)
        log = a.log_text()
        self.assertIn("the bucket's ETags are MD5s again", log)
        self.assertRegex(log, r"mirror push target=s path=\S*two\.bin "
                         r".* verify=hash")
        # The first file's part 1 twice (not its MD5), the second's
        # part 2 twice (damaged once).
        self.assertEqual(len(self.part_puts(s3)), 4 + 4, s3.requests())

    def test_whole_etag_of_another_formula_is_read_back_once(self):
        # Part ETags are their MD5s, the whole's is md5(b"x" + MD5s)-N,
        # not S3's formula (AWS calls it opaque; a proxy may rewrite
        # it). Compared with S3's formula, every multipart push failed
        # for ever. Now the first object is read back and found the
        # same, the bucket remembered: the second lands with no read
        # back, its parts still checked.
        s3 = self.s3()
        s3.whole_other_etags(True)
        a = self.big_target(s3)
        first = self.rand(self.SIZE)
        self.ftp_upload(a, {"w/one.bin": first})
        self.assertObjects(s3, {"alice/w/one.bin": first}, a, timeout=60,
                           what="whole other first")
        self.assertDrained(a, "s", timeout=60)
        s3.damage_parts(1, skip=1)
        second = self.rand(self.SIZE)
        self.ftp_upload(a, {"w/two.bin": second})
        self.assertObjects(s3, {"alice/w/one.bin": first,
                                "alice/w/two.bin": second}, a,
                           timeout=60, what="whole other second")
        st = self.assertDrained(a, "s", timeout=60)
        self.assertEqual(st["s"]["failed"], 0, st)
        log = a.log_text()
        self.assertNotIn("digest differs", log)
        self.assertEqual(log.count("multipart ETags are not MD5-of-MD5s"),
                         1, log)
        # The second file's damaged part was still caught and sent again.
        self.assertEqual(s3.store.parts_damaged, 1)
        self.assertIn("upload part 2 of alice/w/two.bin: the service's "
                      "ETag", log)
        # One read back in the run (the first file), one upload per file,
        # 3 + 3 + 1 part PUTs, none left open.
        self.assertEqual(len(s3.object_gets()), 1, s3.object_gets())
        self.assertEqual(len(self.uploads_started(s3)), 2, s3.requests())
        self.assertEqual(len(self.part_puts(s3)), 7, s3.requests())
        self.assertEqual(s3.open_uploads(), {})
        self.assertRegex(log, r"mirror push target=s path=\S*two\.bin "
                         r".* verify=hash")

    def test_parts_swapped_in_a_bucket_of_another_formula(self):
        # A bucket known for whole ETags made another way (the first
        # object read back and found the same): the whole's ETag is no
        # longer compared. The second object's parts 1 and 2 (5 MiB
        # each) are put together the other way round: each part's ETag
        # was its MD5, the size is right. It passed and was delivered
        # swapped; now the start of each part is read back (Range GET)
        # and the swap caught, the file sent again.
        self.parts_swapped(None)

    def test_parts_swapped_caught_when_range_answered_with_more(self):
        # The same at a service that answers a Range GET with twice the
        # bytes asked: the first 4 KiB are compared, the rest cut.
        self.parts_swapped("more")

    def parts_swapped(self, mode):
        s3 = self.s3()
        s3.whole_other_etags(True)
        s3.range_answer(mode)
        a = self.big_target(s3)
        first = self.rand(self.SIZE)
        self.ftp_upload(a, {"x/one.bin": first})
        self.assertObjects(s3, {"alice/x/one.bin": first}, a, timeout=90,
                           what="other formula first")
        self.assertDrained(a, "s", timeout=60)
        complete = fake_s3._Handler._complete
        swap = {"n": 1}

        def swapped(self_, uid, body):
            with self_.st.lock:
                up = self_.st.uploads.get(uid)
                if up is not None and swap["n"] > 0 and 2 in up["parts"]:
                    swap["n"] -= 1
                    p = up["parts"]
                    p[1], p[2] = p[2], p[1]
            return complete(self_, uid, body)
        fake_s3._Handler._complete = swapped
        self.addCleanup(setattr, fake_s3._Handler, "_complete", complete)
        second = self.rand(self.SIZE)
        self.ftp_upload(a, {"x/two.bin": second})
        self.assertObjects(s3, {"alice/x/one.bin": first,
                                "alice/x/two.bin": second}, a, timeout=120,
                           what="other formula, parts swapped")
        st = self.assertDrained(a, "s", timeout=60)
        self.assertEqual(swap["n"], 0)
        self.assertEqual(st["s"]["failed"], 0, st)
        log = a.log_text()
        self.assertIn("(part 1's start) are not the file's there", log)
        self.assertIn("digest differs", log)
        # One whole read back in the run (the first file); the second
        # sent twice.
        self.assertEqual(len(s3.object_gets()), 1, s3.object_gets())
        self.assertEqual(len(self.uploads_started(s3)), 3, s3.requests())

    def test_other_formula_bucket_without_range_still_lands(self):
        # The same bucket at a service that answers a Range GET with the
        # whole object (200): the part starts cannot be compared; the
        # parts' ETags and the size stand, said once, and the file is
        # delivered once, not failed for ever.
        s3 = self.s3()
        s3.whole_other_etags(True)
        s3.no_range(True)
        a = self.big_target(s3)
        files = {}
        for name in ("one", "two"):
            files["alice/n/%s.bin" % name] = self.rand(self.SIZE)
            self.ftp_upload(a, {"n/%s.bin" % name:
                                files["alice/n/%s.bin" % name]})
            self.assertObjects(s3, dict(files), a, timeout=90,
                               what="no range " + name)
            st = self.assertDrained(a, "s", timeout=60)
        self.assertEqual(st["s"]["failed"], 0, st)
        log = a.log_text()
        self.assertNotIn("digest differs", log)
        self.assertIn("could not be read back: no Range GET", log)
        self.assertEqual(len(self.uploads_started(s3)), 2, s3.requests())

    def other_range_still_lands(self, mode):
        # A bucket of another whole-ETag formula whose service answers a
        # Range GET 206 with other bytes than asked, each said in its
        # Content-Range. The copies are good: each file is delivered
        # once, never "digest differs" nor a push failed for ever.
        s3 = self.s3()
        s3.whole_other_etags(True)
        s3.range_answer(mode)
        a = self.big_target(s3)
        files = {}
        for name in ("one", "two"):
            files["alice/r/%s.bin" % name] = self.rand(self.SIZE)
            self.ftp_upload(a, {"r/%s.bin" % name:
                                files["alice/r/%s.bin" % name]})
            self.assertObjects(s3, dict(files), a, timeout=40,
                               what="range %s %s" % (mode, name))
            st = self.assertDrained(a, "s", timeout=40)
        self.assertEqual(st["s"]["failed"], 0, st)
        log = a.log_text()
        self.assertNotIn("digest differs", log)
        self.assertNotIn("verify (read back a part's start)", log)
        self.assertEqual(len(self.uploads_started(s3)), 2, s3.requests())
        # The second file's parts were sampled: 3 Range GETs.
        self.assertEqual(len(s3.range_gets()), 3, s3.range_gets())

    def test_range_answered_with_more_bytes_still_lands(self):
        self.other_range_still_lands("more")

    def test_range_answered_with_fewer_bytes_still_lands(self):
        self.other_range_still_lands("fewer")

    def test_range_answered_from_elsewhere_still_lands(self):
        self.other_range_still_lands("other")

    def test_part_start_read_back_throttled_is_asked_again(self):
        # In a bucket of another whole-ETag formula the second file's
        # first two Range GETs answer 503 SlowDown. Each failed the push
        # and the whole file went again (with thousands of parts, one
        # GET each, a service failing one request in thousands had big
        # files sent over and over); now the GET is asked again, and
        # the file goes once.
        s3 = self.s3()
        s3.whole_other_etags(True)
        a = self.big_target(s3)
        first = self.rand(self.SIZE)
        self.ftp_upload(a, {"t/one.bin": first})
        self.assertObjects(s3, {"alice/t/one.bin": first}, a, timeout=60,
                           what="throttled first")
        self.assertDrained(a, "s", timeout=40)
        s3.range_fail(2, 503)
        second = self.rand(self.SIZE)
        self.ftp_upload(a, {"t/two.bin": second})
        self.assertObjects(s3, {"alice/t/one.bin": first,
                                "alice/t/two.bin": second}, a, timeout=60,
                           what="throttled second")
        st = self.assertDrained(a, "s", timeout=40)
        self.assertEqual(st["s"]["failed"], 0, st)
        log = a.log_text()
        self.assertNotIn("push failed", log)
        self.assertIn("trying again (2 of 3)", log)
        self.assertEqual(len(self.uploads_started(s3)), 2, s3.requests())
        self.assertEqual(len(s3.range_gets()), 3, s3.range_gets())
        throttled = [r for r in s3.requests()
                     if r[0] == "GET" and r[3] == 503]
        self.assertEqual(len(throttled), 2, throttled)

    def _range_gets_after_throttle(self, n, retry_after, mirror):
        """In a bucket of another whole-ETag formula (verify reads back
        each part's start), the second file's next n Range GETs answer
        503 SlowDown with retry_after: the (time, status) of every Range
        GET of it, at the service, and the daemon."""
        s3 = self.s3()
        s3.whole_other_etags(True)
        a = self.mirror_server(
            mirror=mirror,
            targets={"s": s3.target("", verify="hash",
                                    multipart_threshold="5M",
                                    part_size="5M")})
        first = self.rand(self.SIZE)
        self.ftp_upload(a, {"t/one.bin": first})
        self.assertObjects(s3, {"alice/t/one.bin": first}, a, timeout=60,
                           what="first")
        self.assertDrained(a, "s", timeout=40)
        with s3.store.lock:
            seen = len(s3.store.times)
        s3.range_fail(n, 503, retry_after=retry_after)
        second = self.rand(self.SIZE)
        self.ftp_upload(a, {"t/two.bin": second})
        self.assertObjects(s3, {"alice/t/one.bin": first,
                                "alice/t/two.bin": second}, a, timeout=90,
                           what="throttled second")
        self.assertDrained(a, "s", timeout=40)
        gets = [(t, st) for t, m, p, st in s3.request_times()[seen:]
                if m == "GET" and p.endswith("/alice/t/two.bin")]
        return gets, a, s3

    def _asked_again_after(self, retry_after, retry_max, least):
        """The file's first Range GET answered 503 with retry_after:
        the next one came least seconds later or more. (a, s3)."""
        gets, a, s3 = self._range_gets_after_throttle(
            1, retry_after, {"retry_initial": "1", "retry_max": retry_max})
        self.assertGreaterEqual(len(gets), 2, gets)
        self.assertEqual(gets[0][1], 503, gets)
        self.assertGreaterEqual(gets[1][0] - gets[0][0], least,
                                a.log_text()[-3000:])
        return a, s3

    def test_part_start_read_back_waits_the_asked_pause(self):
        # Retry-After: 3 on the first Range GET: it was asked again 250
        # ms later whatever the service said. Now 3 s later, in the same
        # push (the file goes once).
        a, s3 = self._asked_again_after("3", "60", 2.95)
        self.assertEqual(len(self.uploads_started(s3)), 2, s3.requests())
        self.assertNotIn("push failed", a.log_text())

    def test_part_start_read_back_asked_a_long_pause_rests_the_target(self):
        # Retry-After: 20 (longer than is waited inside a push): the
        # read back ends, and the target rests what was asked, held to
        # retry_max (6 s), before any request of the file again.
        a, _ = self._asked_again_after("20", "6", 5.9)
        self.assertIn("the service asked to wait 20 s (Retry-After): "
                      "held to retry_max, 6 s", a.log_text())

    def test_completion_answer_cut_short_is_checked_at_head(self):
        # The completion is answered 200 with its XML cut before the
        # ETag. Taken for "ETags of a form not known here", the whole
        # went unchecked (size only, and a swap passed): now HEAD's
        # ETag is compared with the parts' HEX-3 instead. A good object
        # passes with no read back; the second, its parts swapped at
        # completion and its answer cut too, is read back and sent
        # again.
        s3 = self.s3()
        s3.complete_cut(2)
        a = self.big_target(s3)
        first = self.rand(self.SIZE)
        self.ftp_upload(a, {"c/one.bin": first})
        self.assertObjects(s3, {"alice/c/one.bin": first}, a, timeout=90,
                           what="cut first")
        self.assertDrained(a, "s", timeout=60)
        log = a.log_text()
        self.assertIn("ETag of the parts' MD5s", log)
        self.assertNotIn("form not known here", log)
        self.assertRegex(log, r"mirror push target=s path=\S*one\.bin "
                         r".* verify=hash(?! \(target offers no digest)")
        self.assertEqual(s3.object_gets(), [])
        complete = fake_s3._Handler._complete
        swap = {"n": 1}

        def swapped(self_, uid, body):
            with self_.st.lock:
                up = self_.st.uploads.get(uid)
                if up is not None and swap["n"] > 0 and 2 in up["parts"]:
                    swap["n"] -= 1
                    p = up["parts"]
                    p[1], p[2] = p[2], p[1]
            return complete(self_, uid, body)
        fake_s3._Handler._complete = swapped
        self.addCleanup(setattr, fake_s3._Handler, "_complete", complete)
        second = self.rand(self.SIZE)
        self.ftp_upload(a, {"c/two.bin": second})
        self.assertObjects(s3, {"alice/c/one.bin": first,
                                "alice/c/two.bin": second}, a, timeout=120,
                           what="cut, parts swapped")
        st = self.assertDrained(a, "s", timeout=60)
        self.assertEqual(st["s"]["failed"], 0, st)
        log = a.log_text()
        self.assertIn("the completion answered no ETag", log)
        self.assertIn("digest differs", log)
        self.assertEqual(len(self.uploads_started(s3)), 3, s3.requests())

    def test_completion_cut_in_a_bucket_of_another_formula_learns_nothing(self):
        # A bucket of another whole-ETag formula; two.bin's completion
        # answer is cut before its ETag. With nothing to compare HEAD's
        # ETag with, the object was read back and the bucket taken for
        # one whose proxy rewrites ETags at HEAD: the log said so, and
        # HEAD's ETag was never compared there again, so three.bin, whose
        # HEAD ETag a proxy does rewrite, went unread. Now two.bin is read
        # back for itself alone and three.bin is read back too.
        s3 = self.s3()
        s3.whole_other_etags(True)
        a = self.big_target(s3)
        files = {}
        for name in ("one", "two", "three"):
            if name == "two":
                s3.complete_cut(1)
            if name == "three":
                s3.head_etag(True)
            files["alice/c/%s.bin" % name] = self.rand(self.SIZE)
            self.ftp_upload(a, {"c/%s.bin" % name:
                                files["alice/c/%s.bin" % name]})
            self.assertObjects(s3, dict(files), a, timeout=40,
                               what="cut " + name)
            st = self.assertDrained(a, "s", timeout=40)
        self.assertEqual(st["s"]["failed"], 0, st)
        log = a.log_text()
        self.assertNotIn("digest differs", log)
        self.assertRegex(log, r"verify alice/c/three\.bin: read back whole "
                         r"and the same, though its ETag at HEAD")
        self.assertNotRegex(log, r"verify alice/c/two\.bin: read back "
                            r"whole and the same, though its ETag at HEAD")
        # one (the formula), two (its completion cut), three (HEAD's).
        self.assertEqual(len(s3.object_gets()), 3, s3.object_gets())
        self.assertEqual(len(self.uploads_started(s3)), 3, s3.requests())

    def test_completion_etag_without_quotes_still_lands(self):
        # The completion answers HEX-3, HEAD "HEX-3": the same ETag
        # written two ways, not another object. Compared byte for byte,
        # verify said the digest differs at every attempt.
        s3 = self.s3()
        s3.complete_bare(True)
        a = self.big_target(s3)
        data = self.rand(self.SIZE)
        self.ftp_upload(a, {"q/big.bin": data})
        self.assertObjects(s3, {"alice/q/big.bin": data}, a, timeout=60,
                           what="bare completion ETag")
        st = self.assertDrained(a, "s", timeout=60)
        self.assertEqual(st["s"]["failed"], 0, st)
        log = a.log_text()
        self.assertNotIn("digest differs", log)
        self.assertNotIn("push failed", log)
        self.assertIn("ETag of the parts' MD5s", log)
        self.assertEqual(len(self.uploads_started(s3)), 1, s3.requests())
        self.assertEqual(s3.object_gets(), [])

    def test_part_damaged_with_bare_etags_is_sent_again(self):
        # Part ETags answered bare and in upper case (no quotes): still
        # the MD5s of the parts. Taken for a form not known here, the
        # object was checked by its size alone and a part damaged on
        # receipt was delivered.
        s3 = self.s3()
        s3.parts_bare(True)
        s3.damage_parts(1, skip=1)
        a = self.big_target(s3)
        data = self.rand(self.SIZE)
        self.ftp_upload(a, {"b/big.bin": data})
        self.assertObjects(s3, {"alice/b/big.bin": data}, a, timeout=60,
                           what="bare part ETags, part damaged")
        st = self.assertDrained(a, "s", timeout=60)
        self.assertEqual(st["s"]["failed"], 0, st)
        self.assertEqual(s3.store.parts_damaged, 1)
        log = a.log_text()
        self.assertIn("upload part 2 of alice/b/big.bin: the service's "
                      "ETag", log)
        self.assertIn("ETag of the parts' MD5s", log)
        self.assertNotIn("form not known here", log)
        self.assertEqual(len(self.uploads_started(s3)), 1, s3.requests())
        self.assertEqual(len(self.part_puts(s3)), 4, s3.requests())
        self.assertEqual(s3.object_gets(), [])

    def test_head_etag_rewritten_is_read_back_once(self):
        # HEAD answers another ETag than the completion did (a proxy
        # rewriting it): compared byte for byte, verify said the digest
        # differs at every attempt. Now the first object is read back
        # and found the same, the bucket remembered: the second lands
        # with no read back.
        s3 = self.s3()
        s3.head_etag(True)
        a = self.big_target(s3)
        first = self.rand(self.SIZE)
        self.ftp_upload(a, {"h/one.bin": first})
        self.assertObjects(s3, {"alice/h/one.bin": first}, a, timeout=60,
                           what="head etag first")
        self.assertDrained(a, "s", timeout=60)
        second = self.rand(self.SIZE)
        self.ftp_upload(a, {"h/two.bin": second})
        self.assertObjects(s3, {"alice/h/one.bin": first,
                                "alice/h/two.bin": second}, a,
                           timeout=60, what="head etag second")
        st = self.assertDrained(a, "s", timeout=60)
        self.assertEqual(st["s"]["failed"], 0, st)
        log = a.log_text()
        self.assertNotIn("push failed", log)
        self.assertEqual(log.count("answers another ETag at HEAD"), 1, log)
        self.assertEqual(len(s3.object_gets()), 1, s3.object_gets())
        self.assertEqual(len(self.uploads_started(s3)), 2, s3.requests())
        self.assertRegex(log, r"mirror push target=s path=\S*two\.bin "
                         r".* verify=hash")

    def test_weak_etag_at_head_is_read_back_once(self):
        # HEAD answers W/"HEX-3" where the completion answered "HEX-3"
        # (a proxy marking ETags weak): not the completion's ETag as
        # written, so the first object is read back whole and found the
        # same, the bucket remembered for it, and the second passes with
        # no read back. Never failed for ever, never sent twice.
        s3 = self.s3()
        s3.weak_etags(True)
        a = self.big_target(s3)
        first = self.rand(self.SIZE)
        self.ftp_upload(a, {"v/one.bin": first})
        self.assertObjects(s3, {"alice/v/one.bin": first}, a, timeout=90,
                           what="weak first")
        self.assertDrained(a, "s", timeout=60)
        second = self.rand(self.SIZE)
        self.ftp_upload(a, {"v/two.bin": second})
        self.assertObjects(s3, {"alice/v/one.bin": first,
                                "alice/v/two.bin": second}, a, timeout=90,
                           what="weak second")
        st = self.assertDrained(a, "s", timeout=60)
        self.assertEqual(st["s"]["failed"], 0, st)
        log = a.log_text()
        self.assertNotIn("digest differs", log)
        self.assertNotIn("push failed", log)
        self.assertEqual(log.count("answers another ETag at HEAD"), 1, log)
        self.assertEqual(len(s3.object_gets()), 1, s3.object_gets())
        self.assertEqual(len(self.uploads_started(s3)), 2, s3.requests())
        self.assertEqual(len(self.part_puts(s3)), 6, s3.requests())
        self.assertRegex(log, r"mirror push target=s path=\S*one\.bin "
                         r".* verify=hash(?! \(target offers no digest)")

    def test_weak_etag_at_head_of_a_single_part(self):
        # A single part whose HEAD ETag is W/"MD5": delivered once, and
        # the log says what was checked (the size: a weak ETag does not
        # promise the bytes), not refused and not sent again.
        s3 = self.s3()
        s3.weak_etags(True)
        a = self.mirror_server(
            mirror=dict(tms.FAST_RETRY),
            targets={"s": s3.target("", verify="hash")})
        store = fake_s3._Handler._store

        def no_checksum(self_, bucket, key, data, etag, sha_b64):
            return store(self_, bucket, key, data, etag, None)
        fake_s3._Handler._store = no_checksum
        self.addCleanup(setattr, fake_s3._Handler, "_store", store)
        files = {"v/s%02d.bin" % i: self.rand(3 * KB) for i in range(2)}
        self.ftp_upload(a, files)
        want = {"alice/" + k: v for k, v in files.items()}
        self.assertObjects(s3, want, a, timeout=30, what="weak single")
        st = self.assertDrained(a, "s", timeout=30)
        self.assertEqual(st["s"]["failed"], 0, st)
        log = a.log_text()
        self.assertNotIn("digest differs", log)
        puts = [r for r in s3.requests() if r[0] == "PUT"]
        self.assertEqual(len(puts), len(files), puts)
        self.assertRegex(log, r"mirror push target=s path=\S*s00\.bin "
                         r".* verify=size \(target offers no digest")

    def test_etags_of_another_form_leave_the_size(self):
        # A service whose ETags are neither MD5s nor "HEX-N" (here
        # base64-like, as some S3-compatible stores answer): nothing to
        # compare, so the size stands and the log says so; no copy is
        # refused for it, none read back.
        s3 = self.s3()
        s3.kms_etags(True)
        etag = fake_s3._Handler._md5_etag

        def other_form(self_, data):
            return "v2:" + etag(self_, data)[:20]
        fake_s3._Handler._md5_etag = other_form
        self.addCleanup(setattr, fake_s3._Handler, "_md5_etag", etag)
        raw = fake_s3._Handler._md5_raw
        fake_s3._Handler._md5_raw = lambda self_, data: data[:16]
        self.addCleanup(setattr, fake_s3._Handler, "_md5_raw", raw)
        a = self.big_target(s3)
        data = self.rand(self.SIZE)
        self.ftp_upload(a, {"f/big.bin": data})
        self.assertObjects(s3, {"alice/f/big.bin": data}, a, timeout=90,
                           what="other form")
        st = self.assertDrained(a, "s", timeout=60)
        self.assertEqual(st["s"]["failed"], 0, st)
        log = a.log_text()
        self.assertEqual(log.count("multipart ETags are in a form not "
                                   "known here"), 1, log)
        # The odd ETag quoted is part 1's, not HEAD's whole-object one
        # (it quoted HEAD's, found by h46).
        self.assertRegex(log, r"form not known here: part 1's ETag \"?"
                         r"v2:[^;\s]+; no SHA-256")
        self.assertIn("verify=size (target offers no digest", log)
        self.assertEqual(s3.object_gets(), [])
        self.assertEqual(len(self.part_puts(s3)), 3, s3.requests())


class S3PartAskedAgain(S3Multipart):
    """A part PUT answered 500/502/503/504, 408 or 429, or cut on the
    way, is asked again (3 times at most), not the whole file."""

    def part_statuses(self, s3):
        """{part number: [status of each PUT of it, in order]}."""
        got = {}
        for r in s3.requests():
            if r[0] == "PUT" and "uploadId" in r[2]:
                q = urllib.parse.parse_qs(r[2])
                got.setdefault(int(q["partNumber"][0]), []).append(r[3])
        return got

    def aborts(self, s3):
        return [r for r in s3.requests()
                if r[0] == "DELETE" and "uploadId" in r[2]]

    def deliver(self, s3, a, name, what):
        data = self.rand(self.SIZE)
        self.ftp_upload(a, {name: data})
        self.assertObjects(s3, {"alice/" + name: data}, a, timeout=90,
                           what=what)
        st = self.assertDrained(a, "s", timeout=60)
        self.assertEqual(st["s"]["failed"], 0, st)
        self.assertEqual(s3.open_uploads(), {})
        return a.log_text()

    def assertPart2AskedAgainAlone(self, s3, log, first):
        """One upload, no abort, no failed push: part 2 answered first
        (a status, 0 for a cut), then 200; parts 1 and 3 sent once."""
        self.assertNotIn("push failed", log)
        self.assertEqual(self.part_statuses(s3),
                         {1: [200], 2: [first, 200], 3: [200]},
                         s3.requests())
        self.assertEqual(len(self.uploads_started(s3)), 1, s3.requests())
        self.assertEqual(self.aborts(s3), [])

    def test_part_answered_503_is_asked_again_alone(self):
        # Before: the upload was aborted and all 3 parts went again.
        s3 = self.s3()
        a = self.big_target(s3)
        s3.fail_next(1, 503, skip=2, msg="Please reduce your request rate.")
        log = self.deliver(s3, a, "r/big.bin", "part 2 throttled")
        self.assertIn("part 2 answered 503: asked again (2 of 3)", log)
        self.assertPart2AskedAgainAlone(s3, log, 503)

    def test_part_cut_mid_body_is_asked_again_alone(self):
        # The connection dropped halfway through part 2's body.
        s3 = self.s3()
        a = self.big_target(s3)
        s3.cut_next(1, skip=2)
        log = self.deliver(s3, a, "c/big.bin", "part 2 cut")
        self.assertRegex(log, r"part 2 cut \([^)]*\): asked again "
                         r"\(2 of 3\)")
        self.assertPart2AskedAgainAlone(s3, log, 0)

    def test_part_answered_503_three_times_aborts_and_goes_again(self):
        s3 = self.s3()
        a = self.big_target(s3)
        s3.fail_next(3, 503, skip=2)
        log = self.deliver(s3, a, "t/big.bin", "part 2 throttled 3 times")
        self.assertIn("part 2 answered 503: asked again (2 of 3)", log)
        self.assertIn("part 2 answered 503: asked again (3 of 3)", log)
        self.assertEqual(log.count("push failed"), 1, log)
        # The first upload: part 2 asked 3 times, then aborted; the
        # second: each part once.
        self.assertEqual(self.part_statuses(s3),
                         {1: [200, 200], 2: [503, 503, 503, 200],
                          3: [200]}, s3.requests())
        self.assertEqual(len(self.uploads_started(s3)), 2, s3.requests())
        self.assertEqual(len(self.aborts(s3)), 1, s3.requests())

    def test_part_failing_every_try_says_which_part_and_how_many_tries(self):
        # Part 2 cut at each of its 3 tries: the push fails, and the
        # error (log, mirror status) says which part of how many and
        # that it had 3 tries. Before: "upload part: Send failure: ...",
        # read as one failure of some part.
        s3 = self.s3()
        a = self.big_target(s3)
        s3.cut_next(3, skip=2)
        log = self.deliver(s3, a, "x/big.bin", "part 2 cut 3 times")
        self.assertEqual(self.part_statuses(s3),
                         {1: [200, 200], 2: [0, 0, 0, 200], 3: [200]},
                         s3.requests())
        self.assertEqual(log.count("push failed"), 1, log)
        self.assertRegex(log, r"push failed.*upload part 2 of 3: .*"
                         r" \(3 tries\)")
        last = a.status()["s"]["last_error"]
        self.assertRegex(last, r"^upload part 2 of 3: .* \(3 tries\)", last)
        # A completion failing each try says its tries too.
        s3.fail_next(3, 503, skip=4)
        log = self.deliver(s3, a, "y/big.bin", "completion 503 3 times")
        self.assertRegex(log, r"push failed.*complete multipart upload "
                         r"\S*y/big\.bin: HTTP 503 SlowDown.* \(3 tries\)")

    def test_part_answered_429_408_or_timeout_is_asked_again_alone(self):
        # 429 (too many requests: a proxy's or an S3-compatible
        # service's throttling) and 408 (request timeout) are a service
        # busy for a moment, not a refusal: the part alone goes again,
        # after the 429's Retry-After. Before, both aborted the upload
        # and all 3 parts went again. AWS tells its request timeout (a
        # part's body that came too slowly) as 400 RequestTimeout: the
        # same (it too aborted the upload and sent the file again).
        for status, code, name in ((429, None, "q/big.bin"),
                                   (408, None, "o/big.bin"),
                                   (400, "RequestTimeout", "t/big.bin")):
            with self.subTest(status=status):
                s3 = self.s3()
                a = self.big_target(s3)
                s3.fail_next(1, status, skip=2, msg="Slow down", code=code,
                             retry_after="1" if status == 429 else None)
                log = self.deliver(s3, a, name, "part 2 %d" % status)
                self.assertIn("part 2 answered %d: asked again (2 of 3)"
                              % status, log)
                self.assertPart2AskedAgainAlone(s3, log, status)
                if status == 429:
                    puts = [t for t, m, p, st in s3.request_times()
                            if m == "PUT" and st in (429, 200)]
                    self.assertEqual(len(puts), 4, s3.request_times())
                    self.assertGreaterEqual(puts[2] - puts[1], 0.95, log)
                a.stop()

    def test_part_answered_403_is_not_asked_again(self):
        # A refusal is not passing: the upload is aborted at once, as
        # before, and the file goes again at the next attempt.
        s3 = self.s3()
        a = self.big_target(s3)
        s3.fail_next(1, 403, skip=2)
        log = self.deliver(s3, a, "f/big.bin", "part 2 refused")
        self.assertNotIn("asked again", log)
        self.assertEqual(self.part_statuses(s3),
                         {1: [200, 200], 2: [403, 200], 3: [200]},
                         s3.requests())
        self.assertEqual(len(self.uploads_started(s3)), 2, s3.requests())
        self.assertEqual(len(self.aborts(s3)), 1, s3.requests())

    def test_part_503_retry_after_is_waited_then_asked_again(self):
        s3 = self.s3()
        a = self.big_target(s3)
        s3.fail_next(1, 503, skip=2, retry_after="2")
        log = self.deliver(s3, a, "w/big.bin", "part 2 Retry-After 2")
        self.assertIn("part 2 answered 503: asked again (2 of 3)", log)
        self.assertEqual(len(self.uploads_started(s3)), 1, s3.requests())
        puts = [t for t, m, p, st in s3.request_times()
                if m == "PUT" and st in (503, 200)]
        # Initiate is a POST: part 1, part 2's 503, part 2, part 3.
        self.assertEqual(len(puts), 4, s3.request_times())
        self.assertGreaterEqual(puts[2] - puts[1], 1.95, log[-3000:])

    def test_part_503_retry_after_past_the_bound_fails_the_push(self):
        # 60 s is not waited inside one part's PUT: the push fails, and
        # the worker's backoff (retry_max 2 s here) waits it.
        s3 = self.s3()
        a = self.big_target(s3)
        s3.fail_next(1, 503, skip=2, retry_after="60")
        log = self.deliver(s3, a, "l/big.bin", "part 2 Retry-After 60")
        self.assertNotIn("asked again", log)
        self.assertIn("(Retry-After)", log)
        self.assertEqual(len(self.uploads_started(s3)), 2, s3.requests())
        self.assertEqual(len(self.aborts(s3)), 1, s3.requests())

    def test_abort_after_a_retry_after_waits_the_pause(self):
        # Part 2 answered 503 with Retry-After at each try: the abort's
        # DELETE waits the pause asked (1 s, within the push), or with
        # 60 s (past the push's 5 s) is left to the next attempt, which
        # the target holds back (retry_max 2 s here). Before: the DELETE
        # went at once, into the service that asked to be left alone.
        for after, least, name in (("1", 0.95, "a1/big.bin"),
                                   ("60", 1.9, "a6/big.bin")):
            with self.subTest(retry_after=after):
                s3 = self.s3()
                a = self.big_target(s3)
                s3.fail_next(3 if after == "1" else 1, 503, skip=2,
                             retry_after=after)
                self.deliver(s3, a, name, "abort after Retry-After")
                times = s3.request_times()
                last503 = max(t for t, m, p, st in times if st == 503)
                deletes = [t for t, m, p, st in times if m == "DELETE"]
                self.assertEqual(len(deletes), 1, times)
                self.assertGreaterEqual(deletes[0] - last503, least, times)
                self.assertEqual(len(self.uploads_started(s3)), 2, times)
                a.stop()

    def test_pause_waited_before_the_abort_is_not_waited_again(self):
        # Part 2 answered 503 with Retry-After 4 at each try: the abort
        # waits those 4 s, and the target's next attempt follows after
        # its backoff step alone (retry_initial 1: 1 to 1.5 s), not
        # after the 4 s again. Before: 4 s more (retry_max 30 here).
        s3 = self.s3()
        a = self.mirror_server(
            mirror={"retry_initial": "1", "retry_max": "30"},
            targets={"s": s3.target("", verify="hash",
                                    multipart_threshold="5M",
                                    part_size="5M")})
        s3.fail_next(3, 503, skip=2, retry_after="4")
        log = self.deliver(s3, a, "wo/big.bin", "abort after Retry-After 4")
        times = s3.request_times()
        last503 = max(t for t, m, p, st in times if st == 503)
        delete = [t for t, m, p, st in times if m == "DELETE"]
        self.assertEqual(len(delete), 1, times)
        self.assertGreaterEqual(delete[0] - last503, 3.95, times)
        # The next attempt's first request (its list of the key's
        # uploads).
        nxt = [t for t, m, p, st in times if t > delete[0]]
        self.assertTrue(nxt, times)
        self.assertLess(nxt[0] - delete[0], 3.0, times)
        self.assertEqual(len(self.uploads_started(s3)), 2, times)
        self.assertIn("waited the 4 s the service asked (Retry-After) "
                      "before aborting", log)

    def completions(self, s3):
        """Statuses of the CompleteMultipartUpload POSTs, in order."""
        return [r[3] for r in s3.requests()
                if r[0] == "POST" and "uploadId" in r[2]]

    def test_completion_answered_503_is_asked_again(self):
        # Initiate, 3 parts, then the completion answered 503 once.
        # Before: the upload was aborted and all 3 parts went again (2
        # uploads); AWS asks that a failed completion be retried.
        s3 = self.s3()
        a = self.big_target(s3)
        s3.fail_next(1, 503, skip=4)
        log = self.deliver(s3, a, "k/big.bin", "completion throttled")
        self.assertEqual(len(self.uploads_started(s3)), 1, s3.requests())
        self.assertEqual(self.part_statuses(s3),
                         {1: [200], 2: [200], 3: [200]}, s3.requests())
        self.assertEqual(self.completions(s3), [503, 200], s3.requests())
        self.assertEqual(self.aborts(s3), [])
        self.assertNotIn("push failed", log)
        self.assertIn("big.bin: the completion answered 503: asked again "
                      "(2 of 3)", log)
        self.assertEqual(s3.object_gets(), [])

    def test_completion_answered_503_three_times_aborts_and_goes_again(self):
        s3 = self.s3()
        a = self.big_target(s3)
        s3.fail_next(3, 503, skip=4)
        log = self.deliver(s3, a, "v/big.bin", "completion 503 3 times")
        # The first upload: its completion asked 3 times, then aborted;
        # the second: each part once, completed.
        self.assertEqual(len(self.uploads_started(s3)), 2, s3.requests())
        self.assertEqual(self.part_statuses(s3),
                         {1: [200, 200], 2: [200, 200], 3: [200, 200]},
                         s3.requests())
        self.assertEqual(self.completions(s3), [503, 503, 503, 200],
                         s3.requests())
        self.assertEqual(len(self.aborts(s3)), 1, s3.requests())
        self.assertEqual(log.count("push failed"), 1, log)
        self.assertIn("the completion answered 503: asked again (3 of 3)",
                      log)

    def test_completion_made_but_answer_lost_is_verified_not_sent_again(self):
        # The completion makes the object but is answered 503; asked
        # again, the upload is gone (404 NoSuchUpload). Taken for done,
        # its ETag unknown: HEAD's ETag is compared with the parts' and
        # the file is delivered once. Before: aborted (404 too) and the
        # whole file sent again.
        s3 = self.s3()
        s3.complete_lost(1)
        a = self.big_target(s3)
        log = self.deliver(s3, a, "n/big.bin", "completion answer lost")
        self.assertEqual(len(self.uploads_started(s3)), 1, s3.requests())
        self.assertEqual(self.part_statuses(s3),
                         {1: [200], 2: [200], 3: [200]}, s3.requests())
        self.assertEqual(self.completions(s3), [503, 404], s3.requests())
        self.assertEqual(self.aborts(s3), [])
        self.assertNotIn("push failed", log)
        self.assertIn("the completion answered 503: asked again (2 of 3)",
                      log)
        self.assertIn("the completion asked again answered 404 "
                      "NoSuchUpload: taken for done", log)
        self.assertIn("ETag of the parts' MD5s", log)
        self.assertRegex(log, r"mirror push target=s path=\S*big\.bin "
                         r".* verify=hash(?! \(target offers no digest)")
        self.assertEqual(s3.object_gets(), [])

    def test_completion_dropped_before_its_answer_is_not_sent_again(self):
        # The completion makes the object, then its (reused) connection
        # drops before any answer: libcurl asks it again by itself on a
        # new connection, answered 404 NoSuchUpload. Taken for done and
        # verified, as when the push asks again. Before: the push failed
        # on that 404 and the whole file went again (2 uploads, 6 parts).
        s3 = self.s3()
        s3.complete_dropped(1)
        a = self.big_target(s3)
        log = self.deliver(s3, a, "cd/big.bin", "completion dropped")
        self.assertEqual(len(self.uploads_started(s3)), 1, s3.requests())
        self.assertEqual(self.part_statuses(s3),
                         {1: [200], 2: [200], 3: [200]}, s3.requests())
        self.assertEqual(self.completions(s3), [0, 404], s3.requests())
        self.assertEqual(self.aborts(s3), [])
        self.assertNotIn("push failed", log)
        self.assertIn("the completion asked again answered 404 "
                      "NoSuchUpload: taken for done", log)
        self.assertEqual(s3.object_gets(), [])

    def test_completion_lost_and_object_wrong_fails_the_push(self):
        # The completion is answered 503 and makes nothing (another
        # client aborted the upload meanwhile): asked again, 404
        # NoSuchUpload. Verify finds no object, the push fails and the
        # file goes again, as before: never a missing object delivered.
        s3 = self.s3()
        a = self.big_target(s3)
        complete = fake_s3._Handler._complete
        gone = {"n": 1}

        def vanish(self_, uid, body):
            with self_.st.lock:
                if gone["n"] > 0:
                    gone["n"] -= 1
                    self_.st.uploads.pop(uid, None)
                    hit = True
                else:
                    hit = False
            if hit:
                return self_._error(503, "SlowDown", "gone")
            return complete(self_, uid, body)
        fake_s3._Handler._complete = vanish
        self.addCleanup(setattr, fake_s3._Handler, "_complete", complete)
        log = self.deliver(s3, a, "m/big.bin", "completion lost, nothing")
        self.assertEqual(self.completions(s3), [503, 404, 200],
                         s3.requests())
        self.assertEqual(len(self.uploads_started(s3)), 2, s3.requests())
        self.assertEqual(log.count("push failed"), 1, log)
        self.assertIn("taken for done", log)
        self.assertRegex(log, r"push failed.*verify")

    def test_completion_lost_unverifiable_goes_again(self):
        # verify = none or size: nothing would compare an object taken
        # for done with the parts, so the 404 NoSuchUpload fails the
        # push and the file goes again (no abort: the upload is gone),
        # never a push passed blind. With size, an older object of the
        # same size at the key passed for the new one.
        complete = fake_s3._Handler._complete

        def drop(self_, uid, body):
            # The completion makes nothing: the upload is gone (another
            # client aborted it), the answer a 503.
            with self_.st.lock:
                hit = self_.st.faults.get("complete_lost", 0) > 0
                if hit:
                    self_.st.faults["complete_lost"] -= 1
                    self_.st.uploads.pop(uid, None)
            if hit:
                return self_._error(503, "SlowDown", "gone")
            return complete(self_, uid, body)
        fake_s3._Handler._complete = drop
        self.addCleanup(setattr, fake_s3._Handler, "_complete", complete)
        for verify, name in (("none", "e/big.bin"), ("size", "z/big.bin")):
            with self.subTest(verify=verify):
                s3 = self.s3()
                s3.put_object("alice/" + name, self.rand(self.SIZE))
                s3.complete_lost(1)
                a = self.mirror_server(
                    mirror=dict(tms.FAST_RETRY),
                    targets={"s": s3.target("", verify=verify,
                                            multipart_threshold="5M",
                                            part_size="5M")})
                log = self.deliver(s3, a, name, "lost, verify " + verify)
                self.assertEqual(self.completions(s3), [503, 404, 200],
                                 s3.requests())
                self.assertEqual(len(self.uploads_started(s3)), 2,
                                 s3.requests())
                self.assertEqual(self.aborts(s3), [])
                self.assertEqual(log.count("push failed"), 1, log)
                self.assertIn("verify cannot compare the object with the "
                              "parts sent", log)
                a.stop()

    def test_completion_answered_200_internal_error_is_asked_again(self):
        # AWS may answer a completion 200 and then <Error> InternalError
        # (or SlowDown), to be retried. Before: aborted, and all 3 parts
        # went again (2 uploads).
        s3 = self.s3()
        a = self.big_target(s3)
        s3.complete_error(1, "InternalError")
        log = self.deliver(s3, a, "i/big.bin", "completion 200 error")
        self.assertEqual(len(self.uploads_started(s3)), 1, s3.requests())
        self.assertEqual(self.part_statuses(s3),
                         {1: [200], 2: [200], 3: [200]}, s3.requests())
        self.assertEqual(self.completions(s3), [200, 200], s3.requests())
        self.assertEqual(self.aborts(s3), [])
        self.assertNotIn("push failed", log)
        self.assertIn("big.bin: the completion answered 200 InternalError: "
                      "asked again (2 of 3)", log)

    def test_completion_answered_200_refusal_is_not_asked_again(self):
        # Another Code in the 200's <Error> is a refusal, as before:
        # aborted, the file goes again; the error says which.
        s3 = self.s3()
        a = self.big_target(s3)
        s3.complete_error(1, "InvalidPart")
        log = self.deliver(s3, a, "j/big.bin", "completion 200 refusal")
        self.assertNotIn("asked again", log)
        self.assertEqual(self.completions(s3), [200, 200], s3.requests())
        self.assertEqual(len(self.uploads_started(s3)), 2, s3.requests())
        self.assertEqual(len(self.aborts(s3)), 1, s3.requests())
        self.assertIn("the service answered an error: InvalidPart: x", log)

    def test_completion_answered_403_is_not_asked_again(self):
        s3 = self.s3()
        a = self.big_target(s3)
        s3.fail_next(1, 403, skip=4)
        log = self.deliver(s3, a, "g/big.bin", "completion refused")
        self.assertNotIn("asked again", log)
        self.assertEqual(self.completions(s3), [403, 200], s3.requests())
        self.assertEqual(len(self.uploads_started(s3)), 2, s3.requests())
        self.assertEqual(len(self.aborts(s3)), 1, s3.requests())

    def test_a_refused_abort_holds_back_no_later_push(self):
        # Aborts answered 403 (an IAM policy without
        # s3:AbortMultipartUpload) and a push failed after its start:
        # its recorded upload could not be aborted, and every later
        # attempt failed on that ("cannot abort the earlier multipart
        # upload"): the file was never delivered.
        s3 = self.s3()
        s3.abort_fail(1000, 403, "AccessDenied")
        s3.fail_next(1, 403, skip=2)  # part 2 refused: the push fails
        a = self.big_target(s3)
        data = self.rand(self.SIZE)
        self.ftp_upload(a, {"x/big.bin": data})
        self.assertObjects(s3, {"alice/x/big.bin": data}, a, timeout=30,
                           what="past a refused abort")
        st = self.assertDrained(a, "s", timeout=60)
        self.assertEqual(st["s"]["failed"], 0, st)
        first = [r for r in self.uploads_started(s3)]
        self.assertEqual(len(first), 2, s3.requests())
        left = list(s3.open_uploads())
        self.assertEqual(len(left), 1, left)
        log = a.log_text()
        self.assertNotIn("cannot abort the earlier", log)
        self.assertIn("the service refuses to abort multipart upload %s "
                      "of alice/x/big.bin (HTTP 403): it stays open, "
                      "recorded, asked again at the key's next push; "
                      "this push goes on" % left[0], log)

    def completion_without_result(self, body):
        """A completion answered 200 and body, nothing made, verify =
        none (nothing else looks at the object): once the push is
        logged, the object must be there whole. Before: logged
        delivered at once, no object, the upload left open."""
        s3 = self.s3()
        a = self.mirror_server(
            mirror=dict(tms.FAST_RETRY),
            targets={"s": s3.target("", verify="none",
                                    multipart_threshold="5M",
                                    part_size="5M")})
        s3.complete_error(1, body=body)
        data = self.rand(self.SIZE)
        self.ftp_upload(a, {"w/big.bin": data})
        self.assertTrue(wait_for(
            lambda: "mirror push target=s path=/alice/w/big.bin" in
            a.log_text(), timeout=60, interval=0.05), a.log_text()[-3000:])
        self.assertTrue(s3.objects().get("alice/w/big.bin") == data,
                        a.log_text()[-3000:])
        self.assertEqual(s3.open_uploads(), {})
        self.assertEqual(self.completions(s3), [200, 200], s3.requests())
        return a.log_text()

    def test_completion_200_error_with_a_namespace_is_not_done(self):
        log = self.completion_without_result(
            '<?xml version="1.0"?><Error xmlns="http://s3.amazonaws.com/'
            'doc/2006-03-01/"><Code>InternalError</Code></Error>')
        self.assertIn("the completion answered 200 InternalError: asked "
                      "again (2 of 3)", log)

    def test_completion_200_error_cut_short_is_not_done(self):
        log = self.completion_without_result(
            '<?xml version="1.0"?><Error><Code>InternalErr')
        self.assertIn("the completion answered 200 an error cut short: "
                      "asked again (2 of 3)", log)

    def test_completion_200_without_a_body_is_not_done(self):
        log = self.completion_without_result("")
        self.assertIn("the completion answered 200 without its result: "
                      "asked again (2 of 3)", log)

    def test_fake_s3_records_each_request_before_answering_it(self):
        # fake_s3 recorded a cut write, a HEAD and a slow completion
        # only after answering (the completion once its last byte had
        # gone) and never in request_times(): a test reading the record
        # as soon as the object appeared could miss them.
        s3 = self.s3()
        a = self.big_target(s3)
        s3.cut_next(1, skip=2)
        s3.complete_slow(2)
        self.deliver(s3, a, "d/big.bin", "cut part, slow completion")
        seen = [(m, st) for _, m, p, st in s3.request_times()
                if p.endswith("/d/big.bin")]
        self.assertEqual(seen[:7], [("POST", 200), ("PUT", 200),
                                    ("PUT", 0), ("PUT", 200), ("PUT", 200),
                                    ("POST", 200), ("HEAD", 200)],
                         s3.request_times())
        self.assertEqual(len(s3.request_times()), len(s3.requests()))
        # The completion is on record from its first byte: 2 s of blanks
        # before the HEAD that follows its answer.
        t = [t for t, _, p, _ in s3.request_times()
             if p.endswith("/d/big.bin")]
        self.assertGreaterEqual(t[6] - t[5], 1.9, s3.request_times())

    def test_fake_s3_records_a_stalled_write_before_its_silence(self):
        # stall_next held a write without an answer, then closed the
        # connection, and never recorded it: a test counting the PUTs
        # (or waiting to see the stalled one) found none.
        s3 = self.s3()
        a = self.big_target(s3)
        s3.stall_next(1, 2)
        data = self.rand(100 * KB)
        self.ftp_upload(a, {"st.bin": data})
        seen = wait_for(lambda: [st for _, m, p, st in s3.request_times()
                                 if p.endswith("/alice/st.bin")] == [0],
                        timeout=30, interval=0.05)
        self.assertTrue(seen, s3.request_times())
        self.assertObjects(s3, {"alice/st.bin": data}, a, timeout=60,
                           what="PUT stalled")
        self.assertEqual(self.single_puts(s3, "st.bin"), [0, 200],
                         s3.requests())
        self.assertEqual(len(s3.request_times()), len(s3.requests()))

    def test_multipart_start_answered_503_is_asked_again(self):
        # CreateMultipartUpload answered 503 (or 500): asked again in
        # the push, as a part is. Before: the push failed and the
        # worker's backoff sent the file later (2 attempts).
        for status, name in ((503, "s5/big.bin"), (500, "s0/big.bin")):
            with self.subTest(status=status):
                s3 = self.s3()
                a = self.big_target(s3)
                s3.fail_next(1, status)
                log = self.deliver(s3, a, name, "start %d" % status)
                self.assertEqual([r[3] for r in self.uploads_started(s3)],
                                 [status, 200], s3.requests())
                self.assertEqual(self.part_statuses(s3),
                                 {1: [200], 2: [200], 3: [200]},
                                 s3.requests())
                self.assertEqual(self.aborts(s3), [])
                self.assertNotIn("push failed", log)
                self.assertIn("big.bin: the multipart start answered %d: "
                              "asked again (2 of 3)" % status, log)
                a.stop()

    def test_multipart_start_answer_lost_leaves_no_upload(self):
        # CreateMultipartUpload made an upload but its answer was lost
        # (the connection cut): asked again, another upload is made and
        # used. Once, libcurl asks again by itself (the connection was
        # reused); twice, the push does (ask_again). Before: each lost
        # one, recorded nowhere, stayed open on the bucket (its parts
        # billed) until the key's next multipart push. A start that
        # went well lists the uploads once (before it), as before.
        for lost, name in ((1, "l1/big.bin"), (2, "l2/big.bin"),
                           (0, "l0/big.bin")):
            with self.subTest(lost=lost):
                s3 = self.s3()
                a = self.big_target(s3)
                s3.start_lost(lost)
                log = self.deliver(s3, a, name, "start answer lost")
                started = self.uploads_started(s3)
                self.assertEqual([r[3] for r in started],
                                 [0] * lost + [200], s3.requests())
                self.assertEqual(self.part_statuses(s3),
                                 {1: [200], 2: [200], 3: [200]},
                                 s3.requests())
                self.assertEqual(len(self.aborts(s3)), lost, s3.requests())
                lists = [r for r in s3.requests()
                         if r[0] == "GET" and "uploads" in r[2]]
                self.assertEqual(len(lists), 2 if lost else 1,
                                 s3.requests())
                self.assertNotIn("push failed", log)
                if lost == 2:
                    self.assertRegex(log, r"big\.bin: the multipart start "
                                     r"cut \([^)]*\): asked again "
                                     r"\(2 of 3\)")
                a.stop()

    def test_start_answer_lost_spares_another_writers_upload(self):
        # Another writer of the key (a second relayftpd) has a multipart
        # upload of it in progress, started seconds ago; our start's
        # answer is lost once (libcurl asks again) or twice (the push
        # does). The uploads our lost starts made are aborted; the other
        # writer's is left. Before: every listed upload of the key but
        # ours was aborted, whatever its age, the other writer's too.
        for lost, name in ((1, "w1/big.bin"), (2, "w2/big.bin")):
            with self.subTest(lost=lost):
                s3 = self.s3()
                a = self.big_target(s3)
                other = s3.open_upload("alice/" + name,
                                       {1: b"x" * (5 * tms.MB)}, age=5)
                s3.start_lost(lost)
                data = self.rand(self.SIZE)
                self.ftp_upload(a, {name: data})
                self.assertObjects(s3, {"alice/" + name: data}, a,
                                   timeout=90, what="start answer lost")
                st = self.assertDrained(a, "s", timeout=60)
                self.assertEqual(st["s"]["failed"], 0, st)
                self.assertEqual(len(self.aborts(s3)), lost,
                                 s3.requests())
                self.assertNotIn(other, s3.store.aborted)
                self.assertEqual(list(s3.open_uploads()), [other])
                self.assertNotIn("push failed", a.log_text())
                a.stop()

    def test_start_answer_lost_with_a_date_of_another_clock(self):
        # The answers' Date is written by a clock 40 s behind the one
        # that dates the uploads (a proxy in front, nginx writing its
        # own Date); another writer's upload of the key started 40 s
        # ago. The start's answer is lost twice. Before: the window
        # taken from the Date fell on the other writer's upload, which
        # was aborted, and our two lost ones were left open.
        s3 = self.s3()
        s3.date_skew(-40)
        a = self.big_target(s3)
        name = "sk/big.bin"
        other = s3.open_upload("alice/" + name, {1: b"x" * (5 * tms.MB)},
                               age=40)
        s3.start_lost(2)
        data = self.rand(self.SIZE)
        self.ftp_upload(a, {name: data})
        self.assertObjects(s3, {"alice/" + name: data}, a, timeout=90,
                           what="start answer lost, Date of another clock")
        st = self.assertDrained(a, "s", timeout=60)
        self.assertEqual(st["s"]["failed"], 0, st)
        self.assertNotIn(other, s3.store.aborted)
        self.assertEqual(list(s3.open_uploads()), [other])
        self.assertEqual(len(self.aborts(s3)), 2, s3.requests())

    def test_start_answer_lost_without_a_date_with_this_clock_off(self):
        # The service sends no Date and its clock is 40 s ahead of this
        # host's (or its Date is 40 s behind the clock of its uploads);
        # another writer's upload of the key started 40 s ago; the
        # start's answer is lost twice; the service lists a page of
        # "page" uploads, so ours may come on a later page than the
        # lost ones. Before, with pages of 1: the lost ones' pages were
        # judged by this clock (or the Date), the other writer's upload
        # aborted and ours left.
        for page, date in ((1000, None), (1, None), (1, -40)):
            with self.subTest(page=page, date=date):
                s3 = self.s3()
                if date is None:
                    s3.clock_skew(40)
                    s3.no_date(True)
                else:
                    s3.date_skew(date)
                s3.uploads_page(page)
                a = self.big_target(s3)
                name = "nd/big%d%s.bin" % (page, date)
                other = s3.open_upload("alice/" + name,
                                       {1: b"x" * (5 * tms.MB)}, age=40)
                s3.start_lost(2)
                data = self.rand(self.SIZE)
                self.ftp_upload(a, {name: data})
                self.assertObjects(s3, {"alice/" + name: data}, a,
                                   timeout=90, what="no Date, clock off")
                st = self.assertDrained(a, "s", timeout=60)
                self.assertEqual(st["s"]["failed"], 0, st)
                self.assertNotIn(other, s3.store.aborted)
                self.assertEqual(list(s3.open_uploads()), [other])
                self.assertEqual(len(self.aborts(s3)), 2, s3.requests())
                a.stop()

    def test_start_answer_lost_lists_the_pages_after_ours_once(self):
        # Pages of 1; the key's name begins 12 other keys' (a prefix
        # list holds their uploads too, listed after ours); the start's
        # answer lost once. abort_lost_starts read the list up to our
        # upload's page, judging that page and every later one, then
        # read it all again from page 1: the later pages twice (100
        # such pages: 200 requests). Now the second reading stops at
        # ours.
        s3 = self.s3()
        s3.uploads_page(1)
        a = self.big_target(s3)
        name = "pg/big.bin"
        others = [s3.open_upload("alice/%s.%02d" % (name, i),
                                 {1: b"x"}, age=0) for i in range(12)]
        s3.start_lost(1)
        data = self.rand(self.SIZE)
        self.ftp_upload(a, {name: data})
        self.assertObjects(s3, {"alice/" + name: data}, a, timeout=90,
                           what="start lost, 12 keys after")
        st = self.assertDrained(a, "s", timeout=60)
        self.assertEqual(st["s"]["failed"], 0, st)
        self.assertEqual(sorted(s3.open_uploads()), sorted(others))
        # The lost start's upload alone aborted.
        self.assertEqual(len(self.aborts(s3)), 1, s3.requests())
        # The push's start: the 12 other keys' pages (the stale
        # uploads' look); after the lost start: 14 pages (the lost
        # upload, ours, the 12) then the 2 up to ours again. Before:
        # 40, the 14 read twice.
        lists = s3.upload_lists()
        self.assertLessEqual(len(lists), 12 + 14 + 2, lists)

    def single_puts(self, s3, name):
        """Statuses of the single-part PUTs of alice/name, in order."""
        return [r[3] for r in s3.requests()
                if r[0] == "PUT" and r[1].endswith("/alice/" + name)
                and "uploadId" not in r[2]]

    def test_single_put_answered_503_or_cut_is_asked_again(self):
        # A file under multipart_threshold, its one PUT answered 503 or
        # cut mid-body: asked again in the push, the file read again
        # from its start. Before: the push failed, the worker sent it
        # later.
        for fault, first, name in (("503", 503, "p5.bin"),
                                   ("cut", 0, "pc.bin")):
            with self.subTest(fault=fault):
                s3 = self.s3()
                a = self.big_target(s3)
                if fault == "cut":
                    s3.cut_next(1)
                else:
                    s3.fail_next(1, 503)
                data = self.rand(300 * KB)
                self.ftp_upload(a, {name: data})
                self.assertObjects(s3, {"alice/" + name: data}, a,
                                   timeout=60, what="PUT " + fault)
                st = self.assertDrained(a, "s", timeout=60)
                self.assertEqual(st["s"]["failed"], 0, st)
                log = a.log_text()
                self.assertEqual(self.single_puts(s3, name), [first, 200],
                                 s3.requests())
                self.assertNotIn("push failed", log)
                self.assertRegex(log, name.replace(".", r"\.") +
                                 r": the PUT (answered 503|cut \([^)]*\)):"
                                 r" asked again \(2 of 3\)")
                a.stop()

    def test_single_put_503_retry_after_is_waited_in_the_push(self):
        s3 = self.s3()
        a = self.big_target(s3)
        s3.fail_next(1, 503, retry_after="2")
        data = self.rand(100 * KB)
        self.ftp_upload(a, {"pw.bin": data})
        self.assertObjects(s3, {"alice/pw.bin": data}, a, timeout=60,
                           what="PUT Retry-After 2")
        log = a.log_text()
        self.assertNotIn("push failed", log)
        self.assertIn("the PUT answered 503: asked again (2 of 3)", log)
        puts = [t for t, m, p, st in s3.request_times()
                if m == "PUT" and p.endswith("/alice/pw.bin")]
        self.assertEqual(len(puts), 2, s3.request_times())
        self.assertGreaterEqual(puts[1] - puts[0], 1.95, log[-3000:])

    def test_stop_during_a_single_put_pause_is_not_held(self):
        s3 = self.s3()
        a = self.big_target(s3)
        s3.fail_next(1, 503, retry_after="5")
        self.ftp_upload(a, {"ps.bin": self.rand(100 * KB)})
        said = wait_for(lambda: "asked again (2 of 3)" in a.log_text(),
                        timeout=60, interval=0.05)
        self.assertTrue(said, a.log_text()[-3000:])
        t0 = time.monotonic()
        a.stop()
        self.assertLess(time.monotonic() - t0, 2.5, a.log_text()[-3000:])
        self.assertEqual(self.single_puts(s3, "ps.bin"), [503],
                         s3.requests())

    def test_stop_during_the_pause_is_not_held(self):
        # Part 2 answered 503 with Retry-After 5: a SIGTERM in the pause
        # ends the daemon in far less than those 5 s.
        s3 = self.s3()
        a = self.big_target(s3)
        s3.fail_next(1, 503, skip=2, retry_after="5")
        self.ftp_upload(a, {"s/big.bin": self.rand(self.SIZE)})
        said = wait_for(lambda: "asked again (2 of 3)" in a.log_text(),
                        timeout=60, interval=0.05)
        self.assertTrue(said, a.log_text()[-3000:])
        t0 = time.monotonic()
        a.stop()
        took = time.monotonic() - t0
        self.assertLess(took, 2.5, a.log_text()[-3000:])
        self.assertEqual(self.part_statuses(s3), {1: [200], 2: [503]},
                         s3.requests())



class S3UploadListEndless(S3Multipart):
    """A service whose list of multipart uploads says "more" for ever
    (IsTruncated true): the pages followed are bounded, and the push
    lands all the same."""

    def test_a_list_that_goes_on_from_where_it_was_is_left(self):
        # NextKeyMarker the one just asked: asked once more, then left.
        s3 = self.s3()
        s3.uploads_endless("same")
        a = self.big_target(s3)
        data = self.rand(self.SIZE)
        self.ftp_upload(a, {"e/big.bin": data})
        self.assertObjects(s3, {"alice/e/big.bin": data}, a, timeout=90,
                           what="endless list, same marker")
        st = self.assertDrained(a, "s", timeout=60)
        self.assertEqual(st["s"]["failed"], 0, st)
        self.assertEqual(len(s3.upload_lists()), 2, s3.upload_lists())
        self.assertIn("alice/e/big.bin: the service's list of multipart "
                      "uploads goes on after page 2 with the markers it "
                      "was asked from", a.log_text())

    def test_a_list_that_goes_on_for_ever_is_left_after_100_pages(self):
        # A new NextKeyMarker each page, no upload in any: 100 pages
        # (S3_UPLOAD_PAGES_MAX), then the push goes on.
        s3 = self.s3()
        s3.uploads_endless("new")
        a = self.big_target(s3)
        data = self.rand(self.SIZE)
        self.ftp_upload(a, {"e/big.bin": data})
        self.assertObjects(s3, {"alice/e/big.bin": data}, a, timeout=90,
                           what="endless list, new markers")
        st = self.assertDrained(a, "s", timeout=60)
        self.assertEqual(st["s"]["failed"], 0, st)
        self.assertEqual(len(s3.upload_lists()), 100)
        self.assertIn("alice/e/big.bin: the service's list of multipart "
                      "uploads goes on past 100 pages", a.log_text())


class S3LongUploadIds(S3Multipart):
    """UploadIds longer than the 1,023 bytes taken (real ones are 40 to
    200): a start's is refused by name and aborted, a listed one of the
    key aborted."""

    def test_a_start_answered_a_long_id_is_refused_and_aborted(self):
        # Before: read into 1,024 bytes, the push failed on "no UploadId
        # in the reply" and each attempt left its upload open for ever.
        s3 = self.s3()
        s3.long_upload_ids(2000)
        a = self.big_target(s3)
        data = self.rand(self.SIZE)
        self.ftp_upload(a, {"l/big.bin": data})
        deadline = time.monotonic() + 60
        while "more than the 1023 taken here" not in a.log_text():
            self.assertLess(time.monotonic(), deadline, a.log_text())
            time.sleep(0.1)
        log = a.log_text()
        self.assertIn("start multipart upload alice/l/big.bin: the "
                      "service's UploadId is 2000 bytes, more than the "
                      "1023 taken here (it begins ", log)
        self.assertNotIn("no UploadId in the reply", log)
        s3.long_upload_ids(0)
        self.assertObjects(s3, {"alice/l/big.bin": data}, a, timeout=90,
                           what="after long upload ids")
        self.assertDrained(a, "s", timeout=60)
        self.assertEqual(s3.open_uploads(), {})
        self.assertTrue([u for u in s3.store.aborted if len(u) == 2000],
                        s3.store.aborted)

    def test_a_start_answered_an_id_past_16k_is_aborted_too(self):
        # 20,000 bytes: its abort's URL did not fit the 16 KiB a
        # request's URL had ("its abort failed": Out of memory), and
        # the upload stayed open.
        s3 = self.s3()
        s3.long_upload_ids(20000)
        a = self.big_target(s3)
        data = self.rand(self.SIZE)
        self.ftp_upload(a, {"l/big.bin": data})
        self.assertTrue(wait_for(
            lambda: [u for u in s3.store.aborted if len(u) == 20000],
            timeout=60, interval=0.05), a.log_text()[-3000:])
        s3.long_upload_ids(0)
        self.assertObjects(s3, {"alice/l/big.bin": data}, a, timeout=90,
                           what="after an id past 16 KiB")
        self.assertDrained(a, "s", timeout=60)
        self.assertEqual(s3.open_uploads(), {})
        self.assertNotIn("its abort failed", a.log_text())

    def test_a_listed_long_id_of_the_key_is_aborted(self):
        # A stale upload of the key with a 2,000-byte id (another client
        # of the service, or this one's before): left for ever before.
        s3 = self.s3()
        s3.long_upload_ids(2000)
        stale = s3.open_upload("alice/l/big.bin", {1: b"old part"})
        s3.long_upload_ids(0)
        a = self.big_target(s3)
        data = self.rand(self.SIZE)
        self.ftp_upload(a, {"l/big.bin": data})
        self.assertObjects(s3, {"alice/l/big.bin": data}, a, timeout=90,
                           what="past a long stale id")
        self.assertDrained(a, "s", timeout=60)
        self.assertEqual(s3.open_uploads(), {})
        self.assertIn(stale, s3.store.aborted)

    def test_a_page_ending_on_a_long_id_goes_on(self):
        # Pages of one upload: page 1 ends on a 2,000-byte id, the
        # NextUploadIdMarker. Before: "goes on after page 1 with a
        # marker too long", the second stale upload left open.
        s3 = self.s3()
        s3.uploads_page(1)
        s3.long_upload_ids(2000)
        stale = [s3.open_upload("alice/l/big.bin", {1: b"old part"})
                 for _ in range(2)]
        s3.long_upload_ids(0)
        a = self.big_target(s3)
        data = self.rand(self.SIZE)
        self.ftp_upload(a, {"l/big.bin": data})
        self.assertObjects(s3, {"alice/l/big.bin": data}, a, timeout=90,
                           what="past pages ending on long ids")
        self.assertDrained(a, "s", timeout=60)
        self.assertEqual(s3.open_uploads(), {}, a.log_text()[-3000:])
        for uid in stale:
            self.assertIn(uid, s3.store.aborted)
        self.assertNotIn("goes on after page", a.log_text())

    def long_id_left_open(self, status, code):
        # A service that lists no uploads (501) and refuses the abort
        # of a start's 2,000-byte id: nothing else would ever name it.
        s3 = self.s3()
        s3.store.list_uploads = False
        s3.long_upload_ids(2000)
        s3.abort_fail(1, status, code)
        a = self.big_target(s3)
        data = self.rand(self.SIZE)
        self.ftp_upload(a, {"l/big.bin": data})
        deadline = time.monotonic() + 60
        while "more than the 1023 taken here" not in a.log_text():
            self.assertLess(time.monotonic(), deadline, a.log_text())
            time.sleep(0.1)
        s3.long_upload_ids(0)
        self.assertObjects(s3, {"alice/l/big.bin": data}, a, timeout=90,
                           what="after a long id left open")
        self.assertDrained(a, "s", timeout=60)
        left = list(s3.open_uploads())
        self.assertEqual([len(u) for u in left], [2000])
        log = a.log_text()
        self.assertIn("its abort failed", log)
        self.assertIn("multipart upload of alice/l/big.bin is left open "
                      "(", log)
        self.assertIn("recorded nowhere: its UploadId is 2000 bytes, more "
                      "than the queue keeps; it follows, to abort it by "
                      "hand", log)
        pieces = []
        for n in (1, 2):
            tag = ("UploadId left open of alice/l/big.bin, piece %d of 2: "
                   % n)
            lines = [ln for ln in log.splitlines() if tag in ln]
            self.assertEqual(len(lines), 1, log[-4000:])
            pieces.append(lines[0].split(tag, 1)[1])
        self.assertEqual("".join(pieces), left[0])
        # The push's error says it failed, not that it was aborted.
        self.assertIn("(it begins %s): its abort failed" % left[0][:40], log)
        return log

    def test_a_long_id_whose_abort_is_refused_is_quoted_whole(self):
        # Before: "its abort failed" and the id's first 40 bytes only.
        log = self.long_id_left_open(403, "AccessDenied")
        self.assertIn("(abort multipart upload alice/l/big.bin: HTTP 403 "
                      "AccessDenied", log)

    def test_a_long_id_the_service_cannot_abort_is_not_said_aborted(self):
        # 405 (s3rver has no abort): before, the push said "aborted".
        log = self.long_id_left_open(405, "MethodNotAllowed")
        self.assertIn("(the service cannot abort it: abort multipart "
                      "upload alice/l/big.bin: HTTP 405 MethodNotAllowed",
                      log)


class S3StartInCdata(S3Multipart):
    """XML text written as CDATA sections (XML 1.0 section 2.7)."""

    def test_a_start_answered_in_cdata_lands(self):
        # <UploadId><![CDATA[...]]></UploadId>: the id was read with its
        # CDATA markup, every part went 404 NoSuchUpload, the abort too
        # ("aborted"), and each attempt left its upload open.
        s3 = self.s3()
        s3.cdata(True)
        a = self.big_target(s3)
        data = self.rand(self.SIZE)
        self.ftp_upload(a, {"l/big.bin": data})
        self.assertObjects(s3, {"alice/l/big.bin": data}, a, timeout=30,
                           what="start answered in CDATA")
        st = self.assertDrained(a, "s", timeout=60)
        self.assertEqual(st["s"]["failed"], 0, st)
        self.assertEqual(s3.open_uploads(), {})
        self.assertEqual(len(self.uploads_started(s3)), 1, s3.requests())


class S3UploadListRefused(S3Multipart):
    """A list of multipart uploads whose later page fails: refused, it
    is said as such (not as a service that lists nothing) and the push
    goes on; failed for a moment, the push is tried again."""

    def stale_pair(self, s3):
        s3.uploads_page(1)
        return [s3.open_upload("alice/r/big.bin", {1: b"old part"})
                for _ in range(2)]

    def test_a_refused_later_page_is_said_as_such(self):
        # Before: "(the service does not list multipart uploads: only
        # recorded ones are aborted)", though it had listed page 1.
        s3 = self.s3()
        stale = self.stale_pair(s3)
        s3.later_pages_fail(1, 403, "AccessDenied")
        a = self.big_target(s3)
        data = self.rand(self.SIZE)
        self.ftp_upload(a, {"r/big.bin": data})
        self.assertObjects(s3, {"alice/r/big.bin": data}, a, timeout=90,
                           what="past a refused page 2")
        st = self.assertDrained(a, "s", timeout=60)
        self.assertEqual(st["s"]["failed"], 0, st)
        log = a.log_text()
        self.assertIn("alice/r/big.bin: the service refused page 2 of its "
                      "list of multipart uploads (list multipart uploads "
                      ": HTTP 403 AccessDenied", log)
        self.assertIn("uploads of the key listed later are left", log)
        self.assertNotIn("does not list multipart uploads", log)
        self.assertIn(stale[0], s3.store.aborted)
        self.assertEqual(list(s3.open_uploads()), [stale[1]])

    def test_a_later_page_failing_for_a_moment_is_asked_again(self):
        # 500 on page 2: the push fails as on page 1 and its next
        # attempt aborts both.
        s3 = self.s3()
        stale = self.stale_pair(s3)
        s3.later_pages_fail(1, 500, "InternalError")
        a = self.big_target(s3)
        data = self.rand(self.SIZE)
        self.ftp_upload(a, {"r/big.bin": data})
        self.assertObjects(s3, {"alice/r/big.bin": data}, a, timeout=90,
                           what="past a page 2 failing once")
        self.assertDrained(a, "s", timeout=60)
        log = a.log_text()
        self.assertIn("list multipart uploads : HTTP 500 InternalError",
                      log)
        self.assertNotIn("does not list multipart uploads", log)
        self.assertEqual(s3.open_uploads(), {})
        for uid in stale:
            self.assertIn(uid, s3.store.aborted)



class S3SourceRewritten(S3Multipart):
    """A local program rewrites a file in place (open 'wb', truncate,
    write) while the mirror pushes it: the request's body is then not the
    bytes hashed, and the service answers 400 XAmzContentSHA256Mismatch.
    That is the file's doing, not the target's."""

    def rewritten_during_push(self, name, size, match, keep_time=False,
                              mismatches=1, s3=None):
        """Uploads name (size bytes); the first PUT that match(key,
        query) takes rewrites the file in the home with other bytes
        before the service reads its body (on s3, a fake made here if
        None), and counts mismatches payload mismatches. Returns (server,
        fake, final bytes)."""
        s3 = s3 if s3 is not None else self.s3()
        a = self.big_target(s3)
        new = self.rand(size)
        path = os.path.join(a.home("alice"), name)
        done = []

        def rewrite(method, key, query):
            if done or not match(key, query):
                return
            done.append(key)
            st = os.stat(path)
            with open(path, "wb") as f:
                f.write(new)
            if keep_time:
                # rsync --inplace -t: the file's time set back to the
                # source's, its size the same: nothing here tells.
                os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))

        s3.before_body(rewrite)
        self.ftp_upload(a, {name: self.rand(size)})
        self.assertObjects(s3, {"alice/" + name: new}, a, timeout=60,
                           what="rewritten during its push")
        st = self.assertDrained(a, "s", timeout=60)
        s3.before_body(None)
        self.assertEqual(done, ["alice/" + name])
        self.assertEqual(len(s3.payload_mismatches()), mismatches,
                         s3.payload_mismatches())
        self.assertEqual(st["s"]["failed"], 0, st)
        self.assertEqual(s3.open_uploads(), {})
        return a, s3, new

    def assertFileBlamed(self, a, name):
        """The log says the file changed, never that the target refused
        or failed; the target never paused."""
        log = a.log_text()
        self.assertIn("path=/alice/%s" % name, log)
        self.assertRegex(log, r"alice/%s.*(written|changed) while it was "
                         r"(sent|pushed)" % name.replace(".", r"\."))
        self.assertNotIn("HTTP 400", log)
        self.assertIn("not of the target: its other jobs go on", log)
        self.assertNotIn("paused", log)
        self.assertNotIn("parked", log)

    def test_single_put_of_a_file_rewritten_meanwhile(self):
        a, s3, new = self.rewritten_during_push(
            "one.bin", 3 * tms.MB, lambda k, q: "uploadId" not in q)
        self.assertFileBlamed(a, "one.bin")

    def test_part_of_a_file_rewritten_meanwhile(self):
        # Part 2's PUT: the file rewritten after part 1 was sent.
        a, s3, new = self.rewritten_during_push(
            "many.bin", self.SIZE, lambda k, q: "partNumber=2&" in q)
        self.assertFileBlamed(a, "many.bin")

    def test_rewritten_with_its_time_kept(self):
        # Size and time as before (rsync --inplace -t): only the
        # service's refusal of the body tells. It was taken for the
        # target's refusal of the push.
        for name, size, match in (
                ("kept1.bin", 3 * tms.MB, lambda k, q: "uploadId" not in q),
                ("kept3.bin", self.SIZE, lambda k, q: "partNumber=3&" in q)):
            with self.subTest(name=name):
                a, s3, new = self.rewritten_during_push(
                    name, size, match, keep_time=True)
                self.assertFileBlamed(a, name)
                a.stop()

    def test_rewritten_on_a_service_checking_the_checksum(self):
        # A service that checks the body against x-amz-checksum-sha256
        # (sent with a single PUT) and not the signed payload hash
        # answers a rewritten file 400 BadDigest: taken for the
        # target's refusal as XAmzContentSHA256Mismatch was.
        s3 = self.s3()
        s3.checksum_only(True)
        a, s3, new = self.rewritten_during_push(
            "sum.bin", 3 * tms.MB, lambda k, q: "uploadId" not in q,
            keep_time=True, mismatches=0, s3=s3)
        self.assertEqual(s3.bad_digests(), 1)
        self.assertFileBlamed(a, "sum.bin")


class S3DamagedInTransit(S3Multipart):
    """A body damaged on the way (the file unchanged: hashed again, its
    bytes are those signed) is answered 400 XAmzContentSHA256Mismatch, or
    BadDigest by a service that checks the checksum: a fault of the link,
    asked again as a cut connection is, not the target's refusal."""

    def damaged_once(self, name, size, skip=0, checksum_only=False):
        """Uploads name (size bytes) with max_attempts 1, the (skip+1)-th
        PUT's body damaged once on arrival; returns the server's log."""
        s3 = self.s3()
        s3.checksum_only(checksum_only)
        s3.damage_in_transit(1, skip)
        a = self.mirror_server(
            mirror=dict(tms.FAST_RETRY, max_attempts="1"),
            targets={"s": s3.target("", verify="hash",
                                    multipart_threshold="5M",
                                    part_size="5M")})
        data = self.rand(size)
        self.ftp_upload(a, {name: data})
        self.assertObjects(s3, {"alice/" + name: data}, a, timeout=30,
                           what="damaged in transit once")
        st = self.assertDrained(a, "s", timeout=30)
        self.assertEqual(st["s"]["failed"], 0, st)
        self.assertEqual(s3.open_uploads(), {})
        self.assertEqual(
            len(s3.payload_mismatches()) + s3.bad_digests(), 1,
            (s3.payload_mismatches(), s3.bad_digests()))
        log = a.log_text()
        self.assertIn("the service read other bytes than were sent: "
                      "damaged in transit? retrying (2 of 3)", log)
        self.assertRegex(log, r"mirror push target=s path=/alice/%s "
                         r"bytes=%d .*attempts=1" %
                         (name.replace(".", r"\."), size))
        self.assertNotIn("mirror push failed", log)
        self.assertNotIn("written while it was sent", log)
        self.assertNotIn("parked", log)
        return log

    def test_single_put_damaged_in_transit_is_sent_again(self):
        self.damaged_once("one.bin", 3 * tms.MB)

    def test_part_damaged_in_transit_is_sent_again(self):
        log = self.damaged_once("many.bin", self.SIZE, skip=1)
        self.assertIn("alice/many.bin: part 2 answered 400 "
                      "XAmzContentSHA256Mismatch: the service read", log)

    def test_damaged_body_answered_bad_digest_is_sent_again(self):
        log = self.damaged_once("sum.bin", 3 * tms.MB, checksum_only=True)
        self.assertIn("alice/sum.bin: the PUT answered 400 BadDigest: the "
                      "service read", log)


if __name__ == "__main__":
    unittest.main()
