"""s3:// targets against the fake S3 service of fake_s3.py.

The fake checks every request's AWS Signature Version 4 (its own code
checked first against AWS's published example signatures), that the
signed payload hash is the real SHA-256 of the body (libcurl 7.88 signs an
upload read through a callback as empty otherwise) and that the query
string was signed in canonical order (7.88 signs it as written). Files
uploaded with curl and ftplib must land as objects byte for byte; deletes
and renames propagate (rename = copy + delete); verify = hash uses the
SHA-256 checksum; a multipart upload over multipart_threshold lands, one
that fails midway is aborted, and a stale one of the same key (a crash's)
is aborted before the next; an outage of the service and a kill -9 of
relayftpd lose nothing; `mirror resync` lists the bucket (paginated).

S3rverTest does the same against the third-party s3rver (npm, installed by
this test into tests/.npm when missing; skipped with the reason when npm
is absent or the install fails), read back with the curl CLI's own SigV4.
s3rver 3 parses SigV4 headers but does not check the signature (its
source says so), lists no multipart uploads (501) and cannot abort one
(405): it proves the request shapes interoperate; the fake proves the
signatures.
"""
import ftplib
import io
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
import fake_s3  # noqa: E402
import test_config  # noqa: E402
from harness import wait_for  # noqa: E402
from test_mirror import MirrorTest  # noqa: E402

KB = 1024
MB = 1024 * KB
FAST_RETRY = {"retry_initial": "1", "retry_max": "2"}


class S3Test(MirrorTest):
    def s3(self, **kw):
        s = fake_s3.FakeS3(**kw)
        self.addCleanup(s.stop)
        # Run before the stop (cleanups go last in, first out): a
        # request the fake refused for its signature is retried, and
        # the test could pass on the retry; no test here signs wrongly
        # on purpose, so none may be refused.
        self.addCleanup(lambda: self.assertSigned(s))
        return s

    def assertObjects(self, s3, want, srv, timeout=60, what=""):
        """Waits (bounded) until every {key: bytes} of want is stored."""
        def ok():
            have = s3.objects()
            return all(have.get(k) == v for k, v in want.items())
        if not wait_for(ok, timeout=timeout, interval=0.1):
            have = s3.objects()
            bad = {k: (len(v), len(have[k]) if k in have else None)
                   for k, v in want.items() if have.get(k) != v}
            self.fail("%s: objects missing or different (want, have "
                      "sizes): %s\nbad signatures: %s\nlog:\n%s" %
                      (what, bad, s3.bad_signatures()[:3],
                       srv.log_text()[-4000:]))

    def ftp_rename(self, srv, old, new):
        """RNFR old, RNTO new as alice, over a session of its own."""
        ftp = ftplib.FTP()
        ftp.encoding = "utf-8"
        ftp.connect("127.0.0.1", srv.port, timeout=30)
        ftp.login("alice", "alice-pw")
        ftp.rename(old, new)
        ftp.quit()

    def assertSigned(self, s3):
        self.assertEqual(s3.bad_signatures(), [],
                         "requests the fake S3 refused")

    def stuck_listing_renamed(self, stuck, said, max_lists, files):
        """A folder's rename while ListObjectsV2 misbehaves (fake_s3's
        list_stuck(stuck)): the listing fails at once, the log saying
        said, in fewer than max_lists lists, and the rename lands once
        the listing is mended."""
        s3 = self.s3()
        a = self.mirror_server(
            mirror=FAST_RETRY,
            targets={"s": s3.target("cam", propagate_renames="on")})
        self.ftp_upload(a, files)
        self.assertObjects(s3, {"cam/alice/" + k: v
                                for k, v in files.items()}, a)
        s3.list_stuck(stuck)
        self.ftp_rename(a, "/pics", "/photos")
        seen = wait_for(lambda: said in a.log_text(), timeout=20,
                        interval=0.1)
        lists = [r for r in s3.requests()
                 if r[0] == "GET" and "list-type" in r[2]]
        self.assertTrue(seen, "%d lists\n%s" % (len(lists),
                                                a.log_text()[-2000:]))
        self.assertLess(len(lists), max_lists)
        s3.list_stuck(False)
        want = {"cam/alice/photos/" + k[len("pics/"):]: v
                for k, v in files.items()}
        self.assertTrue(wait_for(lambda: s3.objects() == want, timeout=30,
                                 interval=0.1),
                        "%s\n%s" % (sorted(s3.objects()),
                                    a.log_text()[-3000:]))
        self.assertDrained(a, "s")


class SigV4Test(unittest.TestCase):
    def test_aws_example_vectors(self):
        # The checker reproduces AWS's own published signatures ...
        fake_s3.sigv4_self_test()
        # ... and refuses a signature off by one character.
        v = dict(fake_s3.AWS_VECTORS[0])
        creq = fake_s3.canonical_request(v["method"], v["path"], "",
                                         v["headers"], v["signed"],
                                         v["payload"])
        sig = fake_s3.signature(v["secret"] + "x", v["amz_date"],
                                v["region"], v["service"], creq)
        self.assertNotEqual(sig, v["signature"])

    def test_canonical_query_sorts(self):
        self.assertEqual(
            fake_s3.canonical_query("uploadId=a%2Fb&partNumber=2"),
            "partNumber=2&uploadId=a%2Fb")
        self.assertEqual(fake_s3.canonical_query("uploads"), "uploads=")


class S3PutTest(S3Test):
    def test_uploads_land_as_objects_and_changes_propagate(self):
        s3 = self.s3()
        a = self.mirror_server(
            mirror=FAST_RETRY,
            targets={"s": s3.target("cam", verify="hash",
                                    propagate_deletes="on",
                                    propagate_renames="on")})
        files = {"a.txt": b"hello\n", "empty.bin": b"",
                 "dir one/caf\u00e9 50% +x.bin": self.rand(300 * KB),
                 "-lead/q\"uo\\te*_.txt": self.rand(1000),
                 "pics/a.jpg": self.rand(900),
                 "pics/sub/b.jpg": self.rand(800)}
        # Two copies damaged at the same size: verify = hash sees it (the
        # SHA-256 checksum, then the ETag MD5 when no checksum is kept).
        s3.flip_next(2)
        self.ftp_upload(a, files)
        # lftp as a scanner would.
        lpath = self.local("scan.pdf")
        scan = self.rand(5000)
        with open(lpath, "wb") as f:
            f.write(scan)
        self.lftp(a, "put %s -o /scan.pdf" % lpath)
        # curl as the camera: an upload with a folder made on the way.
        path = self.local("snap.jpg")
        data = self.rand(70 * KB)
        with open(path, "wb") as f:
            f.write(data)
        self.curl("--ftp-create-dirs", "-T", path,
                  "ftp://alice:alice-pw@127.0.0.1:%d/cam1/2026/" % a.port)
        want = {"cam/alice/" + k: v for k, v in files.items()}
        want["cam/alice/cam1/2026/snap.jpg"] = data
        want["cam/alice/scan.pdf"] = scan
        self.assertObjects(s3, want, a, what="uploads")
        self.assertDrained(a, "s")
        self.assertSigned(s3)
        log = a.log_text()
        self.assertIn("SHA-256 checksum", log)
        self.assertIn("digest differs", log)  # the flipped copies
        # Every PUT was signed over its real body: the fake compares the
        # signed hash with the bytes (an empty-body hash would be refused).
        puts = [r for r in s3.requests() if r[0] == "PUT"]
        self.assertGreaterEqual(len(puts), len(want))

        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", a.port, timeout=30)
        ftp.login("alice", "alice-pw")
        ftp.delete("a.txt")
        ftp.rename("/dir one/caf\u00e9 50% +x.bin", "/renamed.bin")
        ftp.rename("/pics", "/photos")  # a folder: each key moves
        ftp.quit()

        def changed():
            o = s3.objects()
            return ("cam/alice/a.txt" not in o and
                    "cam/alice/dir one/caf\u00e9 50% +x.bin" not in o and
                    "cam/alice/renamed.bin" in o and
                    not any(k.startswith("cam/alice/pics/") for k in o) and
                    o.get("cam/alice/photos/sub/b.jpg") ==
                    files["pics/sub/b.jpg"] and
                    o.get("cam/alice/photos/a.jpg") == files["pics/a.jpg"])
        self.assertTrue(wait_for(changed, timeout=30, interval=0.1),
                        "%s\n%s" % (sorted(s3.objects()),
                                    a.log_text()[-3000:]))
        self.assertEqual(s3.objects()["cam/alice/renamed.bin"],
                         files["dir one/caf\u00e9 50% +x.bin"])
        self.assertDrained(a, "s")
        self.assertSigned(s3)

    def test_rename_onto_itself_keeps_the_object(self):
        # RNFR f, RNTO f changes nothing in the home, but the rename, a
        # copy then a delete of the old key, deleted the object (found
        # by test_converge_kinds.py).
        s3 = self.s3()
        a = self.mirror_server(
            mirror=FAST_RETRY,
            targets={"s": s3.target("cam", propagate_deletes="on",
                                    propagate_renames="on")})
        data = self.rand(1000)
        self.ftp_upload(a, {"d/same.bin": data})
        self.assertObjects(s3, {"cam/alice/d/same.bin": data}, a)
        self.ftp_rename(a, "/d/same.bin", "/d/same.bin")
        self.assertTrue(wait_for(lambda: "mirror rename target=s" in
                                 a.log_text(), timeout=30), a.log_text())
        self.assertDrained(a, "s")
        self.assertEqual(s3.objects().get("cam/alice/d/same.bin"), data,
                         a.log_text()[-3000:])

    def test_faults_outage_and_kill9_lose_nothing(self):
        s3 = self.s3()
        a = self.mirror_server(
            mirror=dict(FAST_RETRY, queue="queue.db"),
            targets={"s": s3.target("", verify="size")})
        # A write left without an answer (then the connection closed),
        # 500s, then a copy stored one byte short: retried, then right.
        s3.stall_next(1, 3)
        s3.fail_next(2, 500)
        s3.short_next(1)
        first = {"f0.bin": self.rand(50 * KB)}
        self.ftp_upload(a, first)
        self.assertObjects(s3, {"alice/f0.bin": first["f0.bin"]}, a,
                           what="after 500s and a short copy")
        self.assertIn("expected", a.log_text())  # verify caught the short
        # What the admin sees never shows the secret.
        shown = a.status_raw().stdout
        self.assertNotIn(fake_s3.SECRET_KEY, shown)
        # Outage: the service down while files arrive, and relayftpd
        # killed with SIGKILL meanwhile.
        s3.stop()
        files = {"o/f%02d.bin" % i: self.rand(20 * KB) for i in range(12)}
        self.ftp_upload(a, files)
        a.kill9()
        a.start()
        s3.start()
        want = {"alice/" + k: v for k, v in files.items()}
        self.assertObjects(s3, want, a, timeout=90,
                           what="after an outage and a kill -9")
        st = self.assertDrained(a, "s")
        self.assertEqual(st["s"]["failed"], 0, st)
        self.assertSigned(s3)


    def test_hostile_error_text_stays_one_quoted_field(self):
        # The service's <Message> and the file's name reach the error
        # `mirror status` shows: control bytes there played escape
        # sequences on the admin's terminal, and a line break forged a
        # status line of its own (found by an outside battery). They are
        # kept as '?', and a '"' or '\\' in the field is escaped.
        s3 = self.s3()
        a = self.mirror_server(
            mirror={"retry_initial": "30", "retry_max": "60"},
            targets={"s": s3.target("", verify="size")})
        # U+2028 is a line break to Python's splitlines (and JavaScript).
        s3.fail_next(5, 500, msg="bad\x1b]0;PWNED\x07\x1b[2J\n\u2028"
                     "target fake: state=up \"q\" \\ end")
        self.ftp_upload(a, {"e\x1bvil.txt": b"x"})
        self.assertTrue(wait_for(
            lambda: a.status()["s"]["last_error"] not in ("", "-"),
            timeout=30),
            a.log_text()[-3000:])
        out = a.status_raw().stdout
        self.assertEqual(len(out.splitlines()), 1, repr(out))
        for c in ("\x1b", "\x07"):
            self.assertNotIn(c, out)
        # The PUT asked 3 times in the push: its tries follow the text.
        self.assertIn('state=up \\"q\\" \\\\ end (3 tries)"', out)
        self.assertIn("e?vil.txt", out)
        self.assertIn("bad?]0;PWNED??[2J??target fake", out)


class S3NameTest(S3Test):
    def latin1_setup(self):
        """A fake S3 target "s" (prefix cam, deletes on), relayftpd, and
        alice's FTP session that sends names as Latin-1 bytes."""
        s3 = self.s3()
        a = self.mirror_server(
            mirror=FAST_RETRY,
            targets={"s": s3.target("cam", propagate_deletes="on")})
        ftp = ftplib.FTP(encoding="latin-1")
        ftp.connect("127.0.0.1", a.port, timeout=30)
        ftp.login("alice", "alice-pw")
        return s3, a, ftp

    def assertResyncSendsNothing(self, a):
        r = a.mirror_cmd("resync", "--config", a.config_path, "s",
                         timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("0 queued", r.stdout)

    def test_name_not_utf8_lands_with_its_bytes_escaped(self):
        # An older device names a file in Latin-1: "caf\xe9.bin" is not
        # UTF-8, which S3 keys must be (AWS refuses such a request, for
        # ever). Its bytes that are not UTF-8 are written into the key as
        # %XX, so it is delivered, and deleted, under that name.
        s3, a, ftp = self.latin1_setup()
        data = self.rand(3000)
        ftp.storbinary("STOR caf\xe9 %41.bin", io.BytesIO(data))
        ftp.storbinary("STOR gone\x80.bin", io.BytesIO(b"x"))
        # A '%' before two hex digits is escaped too (%25): every %XX of
        # a key is an escape, so no two names share one.
        self.assertObjects(s3, {"cam/alice/caf%E9 %2541.bin": data,
                                "cam/alice/gone%80.bin": b"x"}, a,
                           what="names that are not UTF-8")
        ftp.delete("gone\x80.bin")
        ftp.quit()
        self.assertTrue(wait_for(
            lambda: "cam/alice/gone%80.bin" not in s3.objects(),
            timeout=60, interval=0.1), a.log_text()[-3000:])
        self.assertEqual(s3.objects(),
                         {"cam/alice/caf%E9 %2541.bin": data})
        self.assertDrained(a, "s")
        # Read back by a resync as the name it stands for: nothing to send.
        self.assertResyncSendsNothing(a)
        self.assertSigned(s3)

    def test_two_names_never_share_a_key(self):
        # "caf%E9.txt" typed as text and a Latin-1 "caf\xe9.txt" were one
        # object: the second push overwrote the first's copy, and a
        # delete of one took the other's (found from outside).
        s3, a, ftp = self.latin1_setup()
        ftp.storbinary("STOR caf%E9.txt", io.BytesIO(b"A" * 100))
        ftp.storbinary("STOR caf\xe9.txt", io.BytesIO(b"B" * 100))
        self.assertObjects(s3, {"cam/alice/caf%25E9.txt": b"A" * 100,
                                "cam/alice/caf%E9.txt": b"B" * 100}, a)
        ftp.delete("caf\xe9.txt")
        ftp.quit()
        self.assertTrue(wait_for(
            lambda: "cam/alice/caf%E9.txt" not in s3.objects(),
            timeout=60, interval=0.1), a.log_text()[-3000:])
        self.assertEqual(s3.objects(), {"cam/alice/caf%25E9.txt": b"A" * 100})
        self.assertDrained(a, "s")
        # A resync reads the keys back as the names they stand for: it
        # finds the file there and sends nothing.
        before = len(s3.requests())
        self.assertResyncSendsNothing(a)
        self.assertEqual([q for q in s3.requests()[before:]
                          if q[0] in ("PUT", "DELETE")], [])

    def test_a_key_too_long_is_dropped_not_retried(self):
        # A key over S3's 1,024 bytes can never be sent: it was retried
        # for ever, each failure pausing the whole target (found from
        # outside). Now it is dropped and logged, and the next file goes
        # at once (retry_initial = 30: a pause would hold it 30 s).
        s3 = self.s3()
        a = self.mirror_server(
            mirror={"retry_initial": "30", "retry_max": "300"},
            targets={"s": s3.target("cam")})
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", a.port, timeout=30)
        ftp.login("alice", "alice-pw")
        path = ""
        for k in range(5):
            path += "/" + chr(ord("a") + k) * 230
            ftp.mkd(path)
        ftp.storbinary("STOR %s/long.txt" % path, io.BytesIO(b"L"))
        ftp.storbinary("STOR small.txt", io.BytesIO(b"S"))
        ftp.quit()
        self.assertObjects(s3, {"cam/alice/small.txt": b"S"}, a, timeout=15)
        self.assertTrue(wait_for(lambda: "dropped: no retry can send it"
                                 in a.log_text(), timeout=15),
                        a.log_text()[-3000:])
        self.assertIn("longer than S3's 1024 bytes", a.log_text())
        self.assertDrained(a, "s")


class S3RefusedObjectTest(S3Test):
    def test_a_key_a_policy_denies_holds_up_no_other_file(self):
        # A bucket policy denying PutObject under one prefix answers 403
        # AccessDenied for those keys alone. Each such answer paused the
        # whole target, so every other file waited out the backoff
        # (retry_initial = 30 here; found from outside). Now the refusal
        # is that job's: it waits alone and the others go at once.
        s3 = self.s3()
        a = self.mirror_server(
            mirror={"retry_initial": "30", "retry_max": "300"},
            targets={"s": s3.target("cam")})
        s3.deny_prefix("cam/alice/private/")
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", a.port, timeout=30)
        ftp.login("alice", "alice-pw")
        ftp.mkd("private")
        ftp.storbinary("STOR private/x.bin", io.BytesIO(b"X" * 100))
        self.assertTrue(wait_for(lambda: "AccessDenied" in a.log_text(),
                                 timeout=15), a.log_text()[-3000:])
        pub = {"cam/alice/pub%d.bin" % i: self.rand(3000 + i)
               for i in range(3)}
        for key, data in pub.items():
            ftp.storbinary("STOR " + key.rsplit("/", 1)[1],
                           io.BytesIO(data))
        ftp.quit()
        self.assertObjects(s3, pub, a, timeout=10,
                           what="the files after a denied key")
        self.assertNotIn("cam/alice/private/x.bin", s3.objects())
        self.assertIn("the target refused this file", a.log_text())
        st = a.status()["s"]
        self.assertEqual((st["queued"], st["failed"]), (1, 0), st)

    def test_a_policy_denying_every_key_loses_nothing(self):
        # Every key refused (an IAM policy without PutObject): each job
        # waits alone, the refusals still pause the target, and once the
        # policy allows writes everything lands.
        s3 = self.s3()
        a = self.mirror_server(mirror=FAST_RETRY,
                               targets={"s": s3.target("cam")})
        s3.deny_prefix("")
        files = {"f%d.bin" % i: self.rand(2000 + i) for i in range(6)}
        self.ftp_upload(a, files)
        self.assertTrue(wait_for(
            lambda: a.log_text().count("AccessDenied") >= 6, timeout=30),
            a.log_text()[-3000:])
        self.assertEqual(s3.objects(), {})
        s3.deny_prefix(None)
        self.assertObjects(s3, {"cam/alice/" + k: v
                                for k, v in files.items()}, a, timeout=60)
        st = self.assertDrained(a, "s")
        self.assertEqual(st["s"]["failed"], 0, st)


class S3FolderRenameTest(S3Test):
    def _rename_with_lost_copies(self, vanish):
        # A folder's rename copies each key under it, then deletes it. A
        # copy answered 404 (the key deleted between the listing and the
        # copy, or a service that cannot copy the name: s3rver and '&')
        # stopped the walk and the repair deleted one key named like the
        # folder: the keys not yet moved stayed under the old name for
        # good, and the new name lacked them (found from outside). Now
        # the others move, the lost ones go, and the home gives the new
        # name's files again.
        s3 = self.s3()
        a = self.mirror_server(
            mirror=FAST_RETRY,
            targets={"s": s3.target("cam", propagate_renames="on",
                                    propagate_deletes="on")})
        files = {"pics/a&b.jpg": self.rand(900),
                 "pics/c.jpg": self.rand(700),
                 "pics/sub/d+e.jpg": self.rand(800),
                 "pics/sub/f.jpg": self.rand(600)}
        self.ftp_upload(a, files)
        self.assertObjects(s3, {"cam/alice/" + k: v
                                for k, v in files.items()}, a)
        s3.copy_lost("&", vanish=vanish)
        self.ftp_rename(a, "/pics", "/photos")
        want = {"cam/alice/photos/" + k[len("pics/"):]: v
                for k, v in files.items()}

        def moved():
            o = s3.objects()
            return (not any(k.startswith("cam/alice/pics/") for k in o)
                    and all(o.get(k) == v for k, v in want.items()))
        self.assertTrue(wait_for(moved, timeout=30, interval=0.1),
                        "%s\n%s\n%s" % (sorted(s3.objects()),
                                        s3.requests()[-30:],
                                        a.log_text()[-3000:]))
        self.assertDrained(a, "s")
        self.assertEqual(sorted(s3.objects()), sorted(want))
        log = a.log_text()
        # The line names the key whose copy failed, not its new name.
        self.assertIn("cam/alice/pics/a&b.jpg", log)

    def test_a_copy_the_service_cannot_make_moves_the_rest(self):
        self._rename_with_lost_copies(vanish=False)

    def test_a_key_gone_between_listing_and_copy_moves_the_rest(self):
        self._rename_with_lost_copies(vanish=True)

    def test_a_listing_stuck_on_its_token_fails_at_once(self):
        # ListObjectsV2 saying "more" from the very token asked: the
        # folder's rename listed it page after page (up to 100,000
        # requests, the keys gathered again each time), the job held.
        self.stuck_listing_renamed(
            True, "list cam/alice/pics/: the service goes on from the "
            "continuation token it was asked from (page 2)", 10,
            {"pics/a.jpg": self.rand(900), "pics/b.jpg": self.rand(700),
             "pics/c.jpg": self.rand(800)})

class S3ListingCharRefTest(S3Test):
    def test_keys_listed_with_character_references_move(self):
        # s3rver writes ' in a listed key as &#x27; (MinIO as &#39;),
        # which XML allows: the hex form was taken as it stood, so a
        # folder's rename copied and deleted keys that do not exist and
        # the objects stayed under the old name for good (found by
        # test_converge_kinds.py against s3rver).
        for style in ("hex", "dec"):
            with self.subTest(style=style):
                s3 = self.s3()
                s3.char_refs(style)
                a = self.mirror_server(
                    mirror=FAST_RETRY,
                    targets={"s": s3.target(
                        "cam", propagate_renames="on",
                        propagate_deletes="on")})
                files = {"it's/a \"q\".jpg": self.rand(900),
                         "it's/caf\u00e9 \U0001F4C1.jpg": self.rand(700)}
                self.ftp_upload(a, files)
                self.assertObjects(s3, {"cam/alice/" + k: v
                                        for k, v in files.items()}, a)
                self.ftp_rename(a, "/it's", "/moved")
                want = {"cam/alice/moved/" + k[len("it's/"):]: v
                        for k, v in files.items()}
                self.assertTrue(wait_for(lambda: s3.objects() == want,
                                         timeout=30, interval=0.1),
                                "%s\n%s" % (sorted(s3.objects()),
                                             a.log_text()[-3000:]))
                self.assertDrained(a, "s")
                a.stop()


class S3HostileAnswerTest(S3Test):
    """A service (or a proxy before it) whose answers never end, or whose
    copy answers 200 and copies nothing (found from outside)."""

    def _endless(self, drip, want, **target):
        s3 = self.s3()
        a = self.mirror_server(
            mirror={"retry_initial": "1", "retry_max": "2",
                    "workers_per_target": "1", "express_max_size": "0"},
            targets={"s": s3.target("cam", **target)})
        s3.endless_next(1, drip=drip)
        data = self.rand(5000)
        t0 = time.monotonic()
        self.ftp_upload(a, {"a.bin": data})
        # The attempt fails (it held the worker for good), says why,
        # and the retry delivers.
        self.assertObjects(s3, {"cam/alice/a.bin": data}, a, timeout=60)
        self.assertLess(time.monotonic() - t0, 60)
        self.assertIn(want, a.log_text())
        self.assertDrained(a, "s")

    def test_a_body_without_end_fails_at_its_bound(self):
        self._endless(0, "the answer is longer than 4 MiB")

    def test_an_answer_dripped_fails_at_the_timeout(self):
        self._endless(0.5, "no whole answer within 3 s of the request",
                      timeout="3")

    def test_a_copy_without_its_result_deletes_nothing(self):
        # 200 with no CopyObjectResult was taken as the copy: the old
        # key was then deleted, and the bucket held neither name while
        # the queue had the new one as delivered.
        s3 = self.s3()
        a = self.mirror_server(
            mirror=FAST_RETRY,
            targets={"s": s3.target("cam", propagate_renames="on")})
        data = self.rand(3000)
        self.ftp_upload(a, {"a.bin": data})
        self.assertObjects(s3, {"cam/alice/a.bin": data}, a)
        s3.copy_empty(1)
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", a.port, timeout=30)
        ftp.login("alice", "alice-pw")
        ftp.rename("a.bin", "b.bin")
        ftp.quit()
        self.assertObjects(s3, {"cam/alice/b.bin": data}, a, timeout=30)
        self.assertDrained(a, "s")
        self.assertEqual(sorted(s3.objects()), ["cam/alice/b.bin"])
        self.assertIn("the service answered no copy result", a.log_text())


class S3MultipartTest(S3Test):
    def test_multipart_lands_aborts_on_failure_and_stale_ids(self):
        s3 = self.s3()
        a = self.mirror_server(
            mirror=FAST_RETRY,
            targets={"s": s3.target("big", multipart_threshold="5M",
                                    part_size="5M", verify="hash")})
        # A crash left an unfinished upload of this key: aborted first.
        stale = s3.open_upload("big/alice/big.bin", {1: b"old part"})
        data = self.rand(11 * MB + 123)
        # The second part's PUT fails at each of its 3 tries (after the
        # initiate and the first part): that upload is aborted, and the
        # next attempt starts over and lands.
        s3.fail_next(3, 500, skip=2)
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", a.port, timeout=30)
        ftp.login("alice", "alice-pw")
        ftp.storbinary("STOR big.bin", io.BytesIO(data))
        ftp.quit()
        self.assertObjects(s3, {"big/alice/big.bin": data}, a, timeout=90,
                           what="multipart")
        self.assertDrained(a, "s")
        self.assertSigned(s3)
        self.assertEqual(s3.open_uploads(), {}, "parts left billing")
        self.assertIn(stale, s3.store.aborted)
        # and the one that failed midway, aborted where it failed
        self.assertGreaterEqual(len(s3.store.aborted), 2, s3.store.aborted)
        # Canonical query order: parts were PUT with partNumber before
        # uploadId (what the fake's signature check also insists on).
        parts = [r for r in s3.requests() if r[0] == "PUT" and
                 "uploadId" in r[2]]
        self.assertGreaterEqual(len(parts), 3)
        for r in parts:
            self.assertTrue(r[2].startswith("partNumber="), r)
        self.assertIn("multipart upload", a.log_text())


    def multipart_past_stale(self, s3, key, stale):
        """Pushes big.bin as a multipart upload; the stale uploads of
        its key must all be aborted, the others' left. The lists."""
        others = {u: v["key"] for u, v in s3.open_uploads().items()
                  if u not in stale}
        a = self.mirror_server(
            mirror=FAST_RETRY,
            targets={"s": s3.target("big", multipart_threshold="5M",
                                    part_size="5M")})
        data = self.rand(6 * MB + 7)
        self.ftp_upload(a, {"big.bin": data})
        self.assertObjects(s3, {key: data}, a, timeout=90,
                           what="multipart past stale uploads")
        self.assertDrained(a, "s")
        left = s3.open_uploads()
        self.assertEqual(sorted(u for u in stale if u in left), [],
                         "stale uploads of the key left billing")
        self.assertEqual({u: v["key"] for u, v in left.items()}, others)
        return s3.upload_lists()

    def test_stale_uploads_past_the_first_page_are_aborted(self):
        # 2,000 open uploads of other keys that begin with the key's
        # name (big.bin1..big.bin2000), the key's stale one made last,
        # at a service that lists uploads in the order they were made
        # (as S3 directory buckets do): it is on the third page of
        # 1,000. Only the first page was read; it stayed for ever.
        s3 = self.s3()
        s3.uploads_unsorted(True)
        key = "big/alice/big.bin"
        for i in range(1, 2001):
            s3.open_upload("%s%d" % (key, i))
        stale = [s3.open_upload(key, {1: b"old part"})]
        lists = self.multipart_past_stale(s3, key, stale)
        self.assertEqual(len(lists), 3, lists)
        self.assertIn("key-marker=opaque-", lists[1])
        self.assertNotIn("upload-id-marker", lists[1])

    def test_another_writers_upload_in_progress_is_left(self):
        # Another writer of the key (a second relayftpd mirroring to the
        # bucket) has a multipart upload of it in progress, started just
        # now; a stale one of two days ago is there too. Every upload the
        # service listed was aborted before our start, the other
        # writer's with it (its next part failing on NoSuchUpload, and
        # its own next push then aborting ours). Only the old one goes.
        s3 = self.s3()
        key = "big/alice/big.bin"
        stale = [s3.open_upload(key, {1: b"old part"})]
        other = s3.open_upload(key, {1: b"x" * (5 * MB)}, age=0)
        self.multipart_past_stale(s3, key, stale)
        self.assertNotIn(other, s3.store.aborted)
        self.assertEqual(list(s3.open_uploads()), [other])

    def test_a_keys_own_stale_uploads_past_a_page_are_aborted(self):
        # Sorted by key as AWS sorts them, the key's own uploads come
        # first; more of them than a page holds (here a page of 10, 25
        # of them) went on past the first.
        s3 = self.s3()
        s3.uploads_page(10)
        key = "big/alice/big.bin"
        s3.open_upload(key + "1")
        stale = [s3.open_upload(key) for _ in range(25)]
        s3.open_upload(key + "0")
        lists = self.multipart_past_stale(s3, key, stale)
        self.assertEqual(len(lists), 3, lists)
        # Both markers, as AWS says, from the last page's Next...
        self.assertIn("upload-id-marker=%s" % stale[9], lists[1])
        self.assertIn("key-marker=big%2Falice%2Fbig.bin&", lists[1])

    def test_a_completion_that_sends_blanks_for_a_while_lands_once(self):
        # AWS answers a CompleteMultipartUpload of a big object with 200
        # and a blank now and then until the parts are put together,
        # minutes for big objects: a trickle under min_rate, past the
        # target's timeout. Taken for a stall, the finished upload
        # failed and every part went again at each retry.
        s3 = self.s3()
        a = self.mirror_server(
            mirror=FAST_RETRY,
            targets={"s": s3.target("big", multipart_threshold="5M",
                                    part_size="5M", timeout="2")})
        s3.complete_slow(5)
        data = self.rand(6 * MB + 7)
        self.ftp_upload(a, {"big.bin": data})
        self.assertObjects(s3, {"big/alice/big.bin": data}, a, timeout=90,
                           what="multipart completed slowly")
        self.assertDrained(a, "s")
        completes = [r for r in s3.requests() if r[0] == "POST" and
                     "uploadId" in r[2]]
        self.assertEqual(len(completes), 1, (completes, a.log_text()[-2000:]))
        self.assertNotIn("will retry", a.log_text())


class S3MultipartCrashTest(S3Test):
    def test_kill9_mid_multipart_aborts_the_recorded_upload(self):
        s3 = self.s3()
        # The service cannot list uploads: only the queue's record can
        # find what the killed attempt left.
        s3.store.list_uploads = False
        a = self.mirror_server(
            mirror=dict(FAST_RETRY, queue="queue.db"),
            targets={"s": s3.target("big", multipart_threshold="5M",
                                    part_size="5M")})
        data = self.rand(10 * MB + 7)
        # Initiate and part 1 pass, part 2 hangs: relayftpd is mid-upload.
        s3.stall_next(1, 30, skip=2)
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", a.port, timeout=30)
        ftp.login("alice", "alice-pw")
        ftp.storbinary("STOR big.bin", io.BytesIO(data))
        ftp.quit()

        def one_part():
            ups = s3.open_uploads()
            return [u for u, v in ups.items() if 1 in v["parts"]]
        left = wait_for(one_part, timeout=30, interval=0.05)
        self.assertTrue(left, a.log_text()[-3000:])
        a.kill9()
        db = sqlite3.connect(os.path.join(a.tmp, "queue.db"))
        try:
            rows = db.execute("SELECT target, key, upload_id FROM uploads"
                              ).fetchall()
        finally:
            db.close()
        self.assertEqual(rows, [("s", "big/alice/big.bin", left[0])])
        a.start()
        self.assertObjects(s3, {"big/alice/big.bin": data}, a, timeout=90,
                           what="after kill -9 mid multipart")
        self.assertDrained(a, "s")
        self.assertIn(left[0], s3.store.aborted)
        self.assertEqual(s3.open_uploads(), {}, "parts left billing")
        self.assertSigned(s3)

    def test_stop_mid_multipart_aborts_at_restart(self):
        # A stop (SIGTERM) mid-upload: the abort it tries is cut by the
        # stop too, so the queue keeps the upload's record; at restart
        # the job, still queued, aborts that upload before it sends the
        # file again. The service cannot list uploads: the record alone
        # finds it.
        s3 = self.s3()
        s3.store.list_uploads = False
        a = self.mirror_server(
            mirror=dict(FAST_RETRY, queue="queue.db"),
            targets={"s": s3.target("big", multipart_threshold="5M",
                                    part_size="5M")})
        data = self.rand(10 * MB + 7)
        s3.stall_next(1, 30, skip=2)
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", a.port, timeout=30)
        ftp.login("alice", "alice-pw")
        ftp.storbinary("STOR big.bin", io.BytesIO(data))
        ftp.quit()

        def one_part():
            ups = s3.open_uploads()
            return [u for u, v in ups.items() if 1 in v["parts"]]
        left = wait_for(one_part, timeout=30, interval=0.05)
        self.assertTrue(left, a.log_text()[-3000:])
        a.stop()
        a.start()
        self.assertObjects(s3, {"big/alice/big.bin": data}, a, timeout=90,
                           what="after a stop mid multipart")
        self.assertDrained(a, "s")
        self.assertIn(left[0], s3.store.aborted)
        self.assertEqual(s3.open_uploads(), {}, "parts left billing")

    def test_kill9_mid_multipart_then_file_gone_aborts(self):
        # As above, but the file is deleted (by a program) before the
        # restart: no push of the key will ever come again, so the job
        # that ends without one must abort what the killed attempt left
        # (the recorded id, and what the service lists), or its parts
        # bill the owner for good.
        s3 = self.s3()
        s3.store.list_uploads = True
        a = self.mirror_server(
            mirror=dict(FAST_RETRY, queue="queue.db", watch="off"),
            targets={"s": s3.target("big", multipart_threshold="5M",
                                    part_size="5M")})
        data = self.rand(10 * MB + 7)
        s3.stall_next(1, 30, skip=2)
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", a.port, timeout=30)
        ftp.login("alice", "alice-pw")
        ftp.storbinary("STOR big.bin", io.BytesIO(data))
        ftp.quit()

        def one_part():
            ups = s3.open_uploads()
            return [u for u, v in ups.items() if 1 in v["parts"]]
        left = wait_for(one_part, timeout=30, interval=0.05)
        self.assertTrue(left, a.log_text()[-3000:])
        a.kill9()
        os.unlink(os.path.join(a.home("alice"), "big.bin"))
        a.start()
        self.assertTrue(wait_for(lambda: left[0] in s3.store.aborted,
                                 timeout=60, interval=0.1),
                        "the killed upload was never aborted\n" +
                        a.log_text()[-3000:])
        self.assertDrained(a, "s")
        self.assertEqual(s3.open_uploads(), {}, "parts left billing")
        db = sqlite3.connect(os.path.join(a.tmp, "queue.db"))
        try:
            rows = db.execute("SELECT * FROM uploads").fetchall()
        finally:
            db.close()
        self.assertEqual(rows, [])
        self.assertEqual(s3.objects(), {})
        self.assertSigned(s3)


class S3ResyncTest(S3Test):
    def paged_bucket(self, count, name):
        """A service listing 2 keys a page, COUNT files named d/NAME % i
        and top.txt uploaded to it; (service, daemon, objects wanted)."""
        s3 = self.s3(page_size=2)
        a = self.mirror_server(mirror=FAST_RETRY,
                               targets={"s": s3.target("c")})
        files = {"d/" + name % i: self.rand(100 + i) for i in range(count)}
        files["top.txt"] = b"top\n"
        self.ftp_upload(a, files)
        want = {"c/alice/" + k: v for k, v in files.items()}
        self.assertObjects(s3, want, a, what="uploads")
        self.assertDrained(a, "s")
        return s3, a, want

    def test_resync_lists_paginated_and_pushes_what_is_missing(self):
        s3, a, want = self.paged_bucket(7, "k%d.txt")
        # The bucket loses two objects and one is damaged (another size).
        with s3.store.lock:
            del s3.store.objects[(s3.bucket, "c/alice/d/k1.txt")]
            del s3.store.objects[(s3.bucket, "c/alice/d/k6.txt")]
            s3.store.objects[(s3.bucket, "c/alice/d/k3.txt")]["data"] = b"x"
        before = len(s3.requests())
        r = a.mirror_cmd("resync", "--config", a.config_path, "s",
                         timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("3 queued", r.stdout)
        self.assertObjects(s3, want, a, what="resync")
        self.assertDrained(a, "s")
        self.assertSigned(s3)
        reqs = s3.requests()[before:]
        lists = [r for r in reqs if r[0] == "GET" and "list-type=2" in r[2]]
        # Listed page after page (2 keys a page) with canonical queries.
        self.assertTrue(any("continuation-token=" in r[2] for r in lists),
                        lists)
        for r in lists:
            self.assertTrue(r[2].startswith("continuation-token=") or
                            r[2].startswith("delimiter="), r)
        put = sorted(r[1] for r in reqs if r[0] == "PUT")
        self.assertEqual(put, ["/%s/c/alice/d/k%d.txt" % (s3.bucket, i)
                               for i in (1, 3, 6)])

    def test_resync_lists_with_long_continuation_tokens(self):
        # Tokens of 4 and 10 KiB (a service that encodes its state in
        # them): a token over 2,047 bytes failed the listing ("truncated
        # without a continuation token that fits here"), so resync could
        # list no folder of more than a page.
        s3, a, want = self.paged_bucket(13, "k%02d.txt")
        for n in (4096, 10240):
            with self.subTest(token_bytes=n):
                s3.long_tokens(n)
                # Three objects lost, on three pages of d/.
                with s3.store.lock:
                    for i in (1, 6, 11):
                        s3.store.objects.pop(
                            (s3.bucket, "c/alice/d/k%02d.txt" % i), None)
                before = len(s3.requests())
                r = a.mirror_cmd("resync", "--config", a.config_path, "s",
                                 timeout=60)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertIn("3 queued", r.stdout)
                self.assertObjects(s3, want, a, what="resync")
                self.assertDrained(a, "s")
                reqs = s3.requests()[before:]
                tokens = [urllib.parse.parse_qs(r[2]).get(
                    "continuation-token", [""])[0] for r in reqs
                    if r[0] == "GET" and "list-type=2" in r[2]]
                # d/'s 10 keys left, 2 a page: 4 pages asked from a
                # token.
                self.assertEqual(
                    sorted(len(t) for t in tokens if t), [n] * 4,
                    a.log_text()[-2000:])
                put = sorted(r[1] for r in reqs if r[0] == "PUT")
                self.assertEqual(put, ["/%s/c/alice/d/k%02d.txt" %
                                       (s3.bucket, i) for i in (1, 6, 11)])
        # Past the bound (16 KiB): the listing fails, saying why.
        s3.long_tokens(20480)
        r = a.mirror_cmd("resync", "--config", a.config_path, "s",
                         timeout=60)
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("list c/alice/d/: truncated without a continuation "
                      "token that fits here (16,384 bytes)", r.stderr)
        s3.long_tokens(0)


class S3CheckTest(unittest.TestCase):
    """`relayftpd check` on the s3 keys: file, line and key named (the
    helpers of test_config's CheckTest, not its tests)."""
    setUp = test_config.CheckTest.setUp
    write = test_config.CheckTest.write
    write_config = test_config.CheckTest.write_config
    write_users = test_config.CheckTest.write_users
    check = test_config.CheckTest.check
    assert_reported = test_config.CheckTest.assert_reported

    def test_s3_keys_checked_per_kind(self):
        with open(os.path.join(self.tmp, "secret.txt"), "w") as f:
            f.write("s3cr3t\n")
        self.write_config([
            "[target:s]",                          # 4
            "url = s3://my-bucket/in",             # 5
            "endpoint = http://127.0.0.1:9000",    # 6
            "access_key = AK",                     # 7
            "secret_key_file = secret.txt",        # 8
            "part_size = 8M",                      # 9
            "multipart_threshold = 1G",            # 10
            "path_style = off",                    # 11
            "verify = hash",                       # 12
        ])
        code, out = self.check()
        self.assertEqual(code, 0, out)
        bad = [
            (["[target:s]", "url = s3://my-bucket", "access_key = AK",
              "secret_key = S", "password = x"], 8, "password"),
            (["[target:f]", "url = ftp://h/", "region = eu-west-1"], 6,
             "region"),
            (["[target:s]", "url = s3://my-bucket", "access_key = AK"], 4,
             "secret_key"),
            (["[target:s]", "url = s3://B_ad", "access_key = AK",
              "secret_key = S"], 4, "url"),
            (["[target:s]", "url = s3://b-1", "access_key = AK",
              "secret_key = S", "part_size = 1M"], 8, "part_size"),
            # No single PUT over 5G: a larger threshold would send one.
            (["[target:s]", "url = s3://b-1", "access_key = AK",
              "secret_key = S", "multipart_threshold = 6G"], 8,
             "multipart_threshold"),
            (["[target:s]", "url = s3://b-1", "access_key = AK",
              "secret_key = S", "endpoint = http://h/path"], 8, "endpoint"),
            (["[target:s]", "url = s3://b-1", "access_key = AK",
              "secret_key_file = nope.txt"], 7, "secret_key_file"),
            (["[target:s]", "url = s3://b-1", "access_key = AK",
              "secret_key = S", "region = us:east"], 8, "region"),
        ]
        for extra, line, key in bad:
            self.write_config(extra)
            code, out = self.check()
            self.assertNotEqual(code, 0, (extra, out))
            self.assert_reported(out, self.cfg, line, key)


# ------------------------------------------------------------ s3rver

HERE = os.path.dirname(os.path.abspath(__file__))
NPM_DIR = os.path.join(os.path.dirname(HERE), ".npm")
S3RVER_BIN = os.path.join(NPM_DIR, "node_modules", ".bin", "s3rver")


def install_s3rver():
    """None once tests/.npm has s3rver 3 (npm install, only when missing;
    the npm registry is the only network used), else why not."""
    if os.path.exists(S3RVER_BIN):
        return None
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        return "npm/node not installed (scripts/deps.sh test installs npm)"
    try:
        r = subprocess.run([npm, "install", "--prefix", NPM_DIR,
                            "--no-audit", "--no-fund", "s3rver@3"],
                           capture_output=True, text=True, timeout=300,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return "npm install s3rver@3 took over 300 s"
    if r.returncode != 0 or not os.path.exists(S3RVER_BIN):
        return "npm install s3rver@3 failed: %s" % r.stderr[-500:]
    return None


class S3rver:
    """s3rver (the npm package) on 127.0.0.1, bucket relay-bucket; port
    0 the first time, the same port after stop()/start()."""
    BUCKET = "relay-bucket"

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "s3rver-data")
        os.makedirs(self.dir, exist_ok=True)
        self.port = 0
        self.proc = None
        self.start()

    def start(self, timeout=60):
        """Starts it and waits for its "listening on" line. Its output
        goes to a file, read whole at each look: a pipe read line by line
        after select() could leave the line in Python's buffer, unseen,
        and a pipe nobody reads after the start could fill and stall it."""
        self.log = os.path.join(self.dir, "..", "s3rver-%d.log" %
                                time.monotonic_ns())
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [S3RVER_BIN, "-d", self.dir, "-a", "127.0.0.1", "-p",
                 str(self.port), "--no-vhost-buckets", "--configure-bucket",
                 self.BUCKET], stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)",
                          self.output())
            if m:
                self.port = int(m.group(1))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        code = self.proc.poll()
        seen = self.output()
        self.stop()
        raise AssertionError("s3rver did not start in %ds (exit status %s):"
                             " %r" % (timeout, code, seen))

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self.proc = None

    def output(self):
        """What s3rver printed so far."""
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def target(self, prefix, **extra):
        spec = {"url": "s3://%s/%s" % (self.BUCKET, prefix),
                "endpoint": "http://127.0.0.1:%d" % self.port,
                "access_key": "S3RVER", "secret_key": "S3RVER"}
        spec.update(extra)
        return spec

    def get(self, key, env=None):
        """The object's bytes fetched with the curl CLI (SigV4), or None."""
        url = "http://127.0.0.1:%d/%s/%s" % (
            self.port, self.BUCKET, urllib.parse.quote(key, safe="/-._~"))
        r = subprocess.run(
            ["curl", "-sS", "--fail", "--max-time", "20", "--aws-sigv4",
             "aws:amz:us-east-1:s3", "--user", "S3RVER:S3RVER", "-H",
             "x-amz-content-sha256: " + fake_s3.EMPTY_SHA256, url],
            capture_output=True, timeout=30, env=env,
            stdin=subprocess.DEVNULL)
        return r.stdout if r.returncode == 0 else None


class S3rverTest(MirrorTest):
    @classmethod
    def setUpClass(cls):
        why = install_s3rver()
        if why is not None:
            raise unittest.SkipTest(why)

    def s3rver(self):
        s = S3rver(self.tmp)
        self.addCleanup(s.stop)
        return s

    def assertStored(self, s, want, srv, timeout=60, what=""):
        def ok():
            return all(s.get(k, self.env) == v for k, v in want.items())
        if not wait_for(ok, timeout=timeout, interval=0.5):
            bad = [k for k, v in want.items() if s.get(k, self.env) != v]
            self.fail("%s: not in s3rver: %s\nlog:\n%s" %
                      (what, bad, srv.log_text()[-4000:]))

    def test_uploads_land_in_s3rver_through_outage_and_kill9(self):
        s = self.s3rver()
        a = self.mirror_server(
            mirror=dict(FAST_RETRY, queue="queue.db"),
            targets={"s": s.target("cam", multipart_threshold="5M",
                                   part_size="5M", verify="hash",
                                   propagate_deletes="on")})
        files = {"caf\u00e9 1.txt": self.rand(3000),
                 "big/large.bin": self.rand(11 * MB + 5)}
        self.ftp_upload(a, files)
        path = self.local("snap.jpg")
        with open(path, "wb") as f:
            f.write(self.rand(40 * KB))
        with open(path, "rb") as f:
            snap = f.read()
        self.curl("-T", path, "ftp://alice:alice-pw@127.0.0.1:%d/" % a.port)
        want = {"cam/alice/" + k: v for k, v in files.items()}
        want["cam/alice/snap.jpg"] = snap
        self.assertStored(s, want, a, what="uploads")
        self.assertDrained(a, "s")
        log = a.log_text()
        # s3rver keeps no SHA-256 checksum: the ETag's MD5, said so.
        self.assertIn("ETag MD5", log)
        self.assertIn("multipart upload", log)

        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", a.port, timeout=30)
        ftp.login("alice", "alice-pw")
        ftp.delete("snap.jpg")
        ftp.quit()
        gone = wait_for(lambda: s.get("cam/alice/snap.jpg", self.env) is None,
                        timeout=30, interval=0.5)
        self.assertTrue(gone, a.log_text()[-3000:])

        # Outage and kill -9: s3rver down, uploads, relayftpd killed.
        s.stop()
        more = {"o/f%d.bin" % i: self.rand(30 * KB) for i in range(4)}
        self.ftp_upload(a, more)
        a.kill9()
        a.start()
        s.start()
        self.assertStored(s, {"cam/alice/" + k: v for k, v in more.items()},
                          a, timeout=90, what="after outage and kill -9")
        st = self.assertDrained(a, "s")
        self.assertEqual(st["s"]["failed"], 0, st)


if __name__ == "__main__":
    unittest.main()
