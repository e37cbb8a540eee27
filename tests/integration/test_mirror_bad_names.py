#!/usr/bin/env python3
"""A name an FTP target can never take holds up nobody else's files.

relayftpd takes any byte in a file name but NUL, CR and LF; libcurl sends
no FTP path with another control byte (a TAB, an ESC, a BEL). A push of
such a file fails the same way at every attempt. It used to back the
whole target off like a dead link, again at each retry: with
retry_initial = 30, another user's files uploaded after it waited half a
minute and more (found by an outside test: with the defaults, a second
user's eight files over 40 s never arrived). Now such a job is dropped at
once, with an error in the log (parked, it would hold back the rename
that gives the file a name the target takes), and the target goes on.

A pyftpdlib target on loopback; u1 uploads three files with control bytes
in their names (and one with DEL, which libcurl sends); then u2 uploads
six files, which must all arrive within 15 s, well inside the 30 s
backoff a failure used to cost; renamed, u1's file arrives.
"""
import ftplib
import io
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import BINARY, wait_for  # noqa: E402
from mirror_targets import (  # noqa: E402
    MirrorServer, PyftpdTarget, relay_dir, relay_target, relay_target_spec)

BAD = ["tab\tx.jpg", "esc\x1bx.jpg", "bel\x07.jpg"]
DEL = "del\x7fx.jpg"


class ControlByteNameTest(unittest.TestCase):

    def setUp(self):
        self.p = PyftpdTarget()
        self.addCleanup(self.p.cleanup)
        self.srv = MirrorServer(
            users={"u1": {"password": "pw1"}, "u2": {"password": "pw2"}},
            mirror={"retry_initial": "30", "retry_max": "300",
                    "workers_per_target": "2", "watch": "off"},
            targets={"p": self.p.target("/base")})
        self.addCleanup(self.srv.cleanup)

    def session(self, user, pw, srv=None):
        f = ftplib.FTP()
        f.encoding = "utf-8"
        f.connect("127.0.0.1", (srv or self.srv).port, timeout=30)
        f.login(user, pw)
        self.addCleanup(f.close)
        return f

    def renaming(self, deletes):
        """A server of u1 alone whose target takes renames, and deletes
        where deletes is "on": (target, server, u1's session)."""
        p = PyftpdTarget()
        self.addCleanup(p.cleanup)
        srv = MirrorServer(
            users={"u1": {"password": "pw1"}},
            mirror={"retry_initial": "1", "retry_max": "2",
                    "watch": "off"},
            targets={"p": p.target("/base", propagate_renames="on",
                                   propagate_deletes=deletes)})
        self.addCleanup(srv.cleanup)
        return p, srv, self.session("u1", "pw1", srv)

    def assertSettled(self, srv):
        """Target p's queue empty and nothing running."""
        self.assertTrue(wait_for(lambda: srv.status()["p"]["queued"] == 0
                                 and srv.status()["p"]["running"] == 0,
                                 timeout=15), srv.status())

    def test_name_with_control_byte_holds_up_no_one(self):
        f1 = self.session("u1", "pw1")
        for name in BAD + [DEL]:
            f1.storbinary("STOR " + name, io.BytesIO(b"evil " + name.encode()))
        # One of their pushes has failed (and so backed the target off
        # for 30 s, before the fix) when u2 starts.
        # (Quoted: the names hold control bytes.)
        self.assertTrue(wait_for(
            lambda: "mirror push failed target=p path=\"/u1/" in
            self.srv.log_text(), timeout=20), self.srv.log_text()[-3000:])
        f2 = self.session("u2", "pw2")
        want = {}
        for i in range(6):
            data = b"good %d\n" % i
            f2.storbinary("STOR good%d.txt" % i, io.BytesIO(data))
            want["good%d.txt" % i] = data
        root = self.p.dir("base", "u2")

        def arrived():
            for name, data in want.items():
                path = os.path.join(root, name)
                if not os.path.exists(path):
                    return False
                with open(path, "rb") as f:
                    if f.read() != data:
                        return False
            return True

        self.assertTrue(wait_for(arrived, timeout=15),
                        "u2's files held up: %s\n%s" % (
                            sorted(os.listdir(root)) if os.path.isdir(root)
                            else "no folder", self.srv.log_text()[-3000:]))
        # DEL goes through; the three others are dropped, not retried,
        # and the log says why, once each.
        u1 = self.p.dir("base", "u1")
        with open(os.path.join(u1, DEL), "rb") as f:
            self.assertEqual(f.read(), b"evil " + DEL.encode())
        drop = "does not send in an FTP path; dropped: no retry can send it"
        self.assertTrue(wait_for(
            lambda: self.srv.log_text().count(drop) == len(BAD),
            timeout=15), self.srv.log_text()[-3000:])
        # Renamed to a name the target takes, the file arrives (a parked
        # job would hold that rename back for ever).
        f1.rename(BAD[0], "tab-x.jpg")
        self.assertTrue(wait_for(
            lambda: os.path.exists(os.path.join(u1, "tab-x.jpg")),
            timeout=15), self.srv.log_text()[-3000:])
        with open(os.path.join(u1, "tab-x.jpg"), "rb") as f:
            self.assertEqual(f.read(), b"evil " + BAD[0].encode())
        st = self.srv.status()
        self.assertEqual((st["p"]["failed"], st["p"]["queued"],
                          st["p"]["running"]), (0, 0, 0), st)
        # The drop is on show (it said last_error="-").
        self.assertIn("control character", st["p"]["last_error"], st)
        self.assertEqual(self.srv.log_text().count(drop), len(BAD))
        # A resync says it skips the two left, as for 0xFF; it said
        # "queued ... (missing)" and queued jobs that every push dropped
        # again, at every resync (found from outside).
        r = subprocess.run([BINARY, "mirror", "resync", "--config",
                            self.srv.config_path, "p"], capture_output=True,
                           timeout=60, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        out = r.stdout.decode()
        for name in BAD[1:]:
            shown = name.replace("\x1b", "\\x1b").replace("\x07", "\\x07")
            self.assertIn("skipped /u1/%s: the name holds a control "
                          "character" % shown, out)
        self.assertIn(" 0 queued", out)
        self.assertEqual(self.srv.status()["p"]["queued"], 0)

    def test_renamed_to_a_sendable_name_where_renames_propagate(self):
        """Where renames propagate, a file or folder whose name holds a
        control byte (its push or MKD dropped), renamed to a name the
        target takes, never arrived: the rename was dropped too, for
        its old name, though the drop's error said to rename the file
        to mirror it. Nothing of the mirror's is there by such a name:
        the new name is pushed."""
        p, srv, f = self.renaming("on")
        f.storbinary("STOR " + BAD[1], io.BytesIO(b"one"))
        f.mkd(BAD[0])
        f.storbinary("STOR %s/in" % BAD[0], io.BytesIO(b"two"))
        drop = "does not send in an FTP path; dropped"
        self.assertTrue(wait_for(
            lambda: srv.log_text().count(drop) == 3, timeout=15),
            srv.log_text()[-3000:])
        f.rename(BAD[1], "one.txt")
        f.rename(BAD[0], "folder")
        u1 = p.dir("base", "u1")
        want = {"one.txt": b"one", "folder/in": b"two"}

        def arrived():
            for rel, data in want.items():
                try:
                    with open(os.path.join(u1, rel), "rb") as fh:
                        if fh.read() != data:
                            return False
                except OSError:
                    return False
            return True
        self.assertTrue(wait_for(arrived, timeout=20),
                        srv.log_text()[-3000:])
        self.assertEqual(srv.log_text().count(drop), 3,
                         srv.log_text()[-3000:])
        self.assertSettled(srv)
        self.assertEqual(srv.status()["p"]["failed"], 0)

    def test_renamed_to_a_name_with_a_control_byte(self):
        """Where renames and deletes propagate, a file and a folder on
        the target renamed in the home to a name with a control byte
        stayed there by their old names for good: the rename job was
        dropped whole for its new name. The old names go now, as a
        refused rename's repair removes them; the new name's push is
        dropped and said, as any such push."""
        p, srv, f = self.renaming("on")
        u1 = p.dir("base", "u1")
        f.storbinary("STOR one.txt", io.BytesIO(b"one"))
        f.mkd("folder")
        f.storbinary("STOR folder/in", io.BytesIO(b"two"))
        self.assertTrue(wait_for(
            lambda: os.path.exists(os.path.join(u1, "one.txt")) and
            os.path.exists(os.path.join(u1, "folder", "in")), timeout=15),
            srv.log_text()[-3000:])
        f.rename("one.txt", BAD[1])
        f.rename("folder", BAD[0])
        self.assertTrue(wait_for(
            lambda: os.listdir(u1) == [], timeout=20),
            "%s\n%s" % (os.listdir(u1), srv.log_text()[-3000:]))
        self.assertSettled(srv)
        self.assertEqual(srv.status()["p"]["failed"], 0)

    def test_renamed_to_a_control_byte_kept_where_deletes_do_not(self):
        """Where renames propagate and deletes do not (the target an
        archive), a file renamed in the home to a name with a control
        byte was deleted from the target by its old name, as the repair
        where deletes propagate does: a rename to a name the target does
        not take (an exclude) keeps it there. It stays now, and the new
        name's push is dropped and said."""
        p, srv, f = self.renaming("off")
        u1 = p.dir("base", "u1")
        f.storbinary("STOR one.txt", io.BytesIO(b"one"))
        self.assertTrue(wait_for(
            lambda: os.path.exists(os.path.join(u1, "one.txt")),
            timeout=15), srv.log_text()[-3000:])
        f.rename("one.txt", BAD[1])
        self.assertTrue(wait_for(
            lambda: "dropped: no retry can send it" in srv.log_text(),
            timeout=20), srv.log_text()[-3000:])
        self.assertSettled(srv)
        self.assertEqual(os.listdir(u1), ["one.txt"],
                         srv.log_text()[-3000:])
        with open(os.path.join(u1, "one.txt"), "rb") as fh:
            self.assertEqual(fh.read(), b"one")


class IacNameTest(unittest.TestCase):
    """A name with the byte 0xFF, against an FTP target that reads Telnet
    commands (RFC 854), here a second relayftpd: libcurl sent the byte
    raw, the target took it and the next byte for a command and dropped
    both, so alice's folder ".<FF><FB>X." became ".." there and her
    "bob/secret" overwrote bob's copy, logged as a verified push (found
    from outside). Such a name is now dropped for FTP targets, logged, and
    nothing else is held up."""

    def test_a_name_with_ff_reaches_no_other_folder(self):
        b = relay_target()
        self.addCleanup(b.cleanup)
        srv = MirrorServer(
            users={"alice": {"password": "pw1"}, "bob": {"password": "pw2"}},
            mirror={"retry_initial": "30", "retry_max": "300",
                    "watch": "off"},
            targets={"r": relay_target_spec(b, "/base")})
        self.addCleanup(srv.cleanup)
        secret = os.path.join(relay_dir(b, "base"), "bob", "secret")
        fb = ftplib.FTP()
        fb.connect("127.0.0.1", srv.port, timeout=30)
        fb.login("bob", "pw2")
        self.addCleanup(fb.close)
        fb.storbinary("STOR secret", io.BytesIO(b"bob's own"))
        self.assertTrue(wait_for(lambda: os.path.exists(secret), 15),
                        srv.log_text()[-3000:])
        fa = ftplib.FTP()
        # Latin-1 and IAC doubled by hand (ftplib doubles nothing): the
        # server takes one 0xFF byte from each pair.
        fa.encoding = "latin-1"
        fa.connect("127.0.0.1", srv.port, timeout=30)
        fa.login("alice", "pw1")
        self.addCleanup(fa.close)
        trick = ".\xff\xff\xfbX."
        fa.mkd(trick)
        fa.mkd(trick + "/bob")
        fa.storbinary("STOR %s/bob/secret" % trick, io.BytesIO(b"PWNED"))
        fa.storbinary("STOR a\xff\xffb.txt", io.BytesIO(b"ab"))
        fa.storbinary("STOR ok.txt", io.BytesIO(b"fine"))
        self.assertTrue(os.path.exists(os.path.join(
            srv.home("alice"), ".\xff\xfbX.", "bob", "secret").encode(
                "latin-1")))
        ok = os.path.join(relay_dir(b, "base"), "alice", "ok.txt")
        self.assertTrue(wait_for(
            lambda: os.path.exists(ok) and
            srv.log_text().count("holds the byte 0xFF") >= 4, 15),
            srv.log_text()[-3000:])
        with open(secret, "rb") as f:
            self.assertEqual(f.read(), b"bob's own")
        self.assertEqual(sorted(os.listdir(
            os.path.join(relay_dir(b, "base"), "alice"))), ["ok.txt"])
        st = srv.status()["r"]
        self.assertEqual((st["failed"], st["queued"], st["running"]),
                         (0, 0, 0), st)
        # A resync neither lists their folders there (".." for the
        # target) nor queues them again: it says it skipped them.
        # (Names are printed as their bytes: read as bytes.)
        r = subprocess.run([BINARY, "mirror", "resync", "--config",
                            srv.config_path, "r"], capture_output=True,
                           timeout=60, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # Two files and (resync compares folders too) two folders.
        self.assertEqual(r.stdout.count(b"skipped /alice/"), 4, r.stdout)
        self.assertIn(b"0 queued", r.stdout)


if __name__ == "__main__":
    unittest.main()
