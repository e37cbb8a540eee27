"""ALLO: a client that declares its upload's size needs no watch.

In stream mode a data FIN ends every upload, a finished one and one whose
client was killed, and relayftpd watches the control connection after it
(src/server/finwatch.c). A client that first declares the size with ALLO
(RFC 959 4.1.3) proves its own end: an upload from byte 0 whose FIN comes
after exactly the declared count is complete at once ("as ALLO declared"
in the log), and any other count gets the watch as before. These tests
check what a user sees (reply codes, bytes on disk, the log line) and that
the declaration covers only what it can speak for: the next upload, from
byte 0, in binary.
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Control, Server, recv_all, wait_for  # noqa: E402

PARTIAL = ".rftpd-partial."
MARK = ", as ALLO declared)"


class AlloTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(users={
            "alice": {"password": "alice-pw"},
            "quoted": {"password": "quoted-pw", "quota_bytes": "64K"},
        })
        os.makedirs(cls.srv.home("alice"), exist_ok=True)
        os.makedirs(cls.srv.home("quoted"), exist_ok=True)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()

    def session(self, user="alice"):
        c = Control(self.srv.port)
        self.addCleanup(c.close)
        c.login(user, self.srv.users[user]["password"])
        self.assertEqual(c.cmd("TYPE I")[0], 200)
        return c

    def received_line(self, name):
        """The server's last "received" line for /name (waits for one)."""
        key = "received /%s (" % name
        self.assertTrue(wait_for(lambda: key in self.srv.log_text(),
                                 timeout=10), "no received line for " + name)
        return [line for line in self.srv.log_text().splitlines()
                if key in line][-1]

    def on_disk(self, name):
        with open(os.path.join(self.srv.home("alice"), name), "rb") as f:
            return f.read()

    def test_declared_count_ends_the_upload(self):
        c = self.session()
        data = os.urandom(70000)
        code, text = c.cmd("ALLO %d" % len(data))
        self.assertEqual(code, 200, text)
        self.assertEqual(c.store("declared.bin", data)[0], 226)
        self.assertEqual(self.on_disk("declared.bin"), data)
        self.assertIn(MARK, self.received_line("declared.bin"))

    def test_pipelined_allo_and_stor(self):
        # The declaration and the STOR in one write, as bench/ftpclient -A
        # sends them: two replies, in order.
        c = self.session()
        data = b"pipelined\n" * 400
        d = c.epsv()
        c.send("ALLO %d\r\nSTOR pipelined.txt" % len(data))
        self.assertEqual(c.reply()[0], 200)
        self.assertEqual(c.reply()[0], 150)
        d.sendall(data)
        d.close()
        self.assertEqual(c.reply()[0], 226)
        self.assertEqual(self.on_disk("pipelined.txt"), data)
        self.assertIn(MARK, self.received_line("pipelined.txt"))

    def test_other_counts_get_the_watch(self):
        # Fewer or more bytes than declared: still a complete upload of a
        # live client, decided by the watch, not by the declaration.
        c = self.session()
        for name, sent in (("fewer.bin", 999), ("more.bin", 1001)):
            data = os.urandom(sent)
            self.assertEqual(c.cmd("ALLO 1000")[0], 200)
            self.assertEqual(c.store(name, data)[0], 226)
            self.assertEqual(self.on_disk(name), data)
            self.assertNotIn(MARK, self.received_line(name))

    def test_declaration_is_for_the_next_upload_only(self):
        c = self.session()
        data = os.urandom(4096)
        # A listing in between uses it up.
        self.assertEqual(c.cmd("ALLO 4096")[0], 200)
        d = c.epsv()
        self.assertEqual(c.cmd("NLST")[0], 150)
        recv_all(d)
        d.close()
        self.assertEqual(c.reply()[0], 226)
        self.assertEqual(c.store("after-list.bin", data)[0], 226)
        self.assertNotIn(MARK, self.received_line("after-list.bin"))
        # So does a refused upload.
        self.assertEqual(c.cmd("ALLO 4096")[0], 200)
        self.assertEqual(c.store("no-such-folder/x.bin", data)[0], 553)
        self.assertEqual(c.store("after-refusal.bin", data)[0], 226)
        self.assertNotIn(MARK, self.received_line("after-refusal.bin"))
        # Any command but the transfer parameters ends it (RFC 959: ALLO
        # "shall be followed by a STORe or APPEnd command").
        for between in ("CWD /", "NOOP", "SIZE after-list.bin", "ABOR"):
            self.assertEqual(c.cmd("ALLO 4096")[0], 200)
            c.cmd(between)
            self.assertEqual(c.store("after-other.bin", data)[0], 226)
            self.assertNotIn(MARK, self.received_line("after-other.bin"),
                             between)
        # The transfer parameters (and EPSV, which store() sends) keep it.
        self.assertEqual(c.cmd("ALLO 4096")[0], 200)
        self.assertEqual(c.cmd("TYPE I")[0], 200)
        self.assertEqual(c.cmd("REST 0")[0], 350)
        self.assertEqual(c.store("after-params.bin", data)[0], 226)
        self.assertIn(MARK, self.received_line("after-params.bin"))
        # And a declaration used by one upload is not there for the next.
        self.assertEqual(c.cmd("ALLO 4096")[0], 200)
        self.assertEqual(c.store("first.bin", data)[0], 226)
        self.assertIn(MARK, self.received_line("first.bin"))
        self.assertEqual(c.store("second.bin", data)[0], 226)
        self.assertNotIn(MARK, self.received_line("second.bin"))

    def test_stor_refused_by_the_dispatcher_uses_up_the_declaration(self):
        # "ALLO is for the next upload, tried or not" (cmd_xfer.c): a STOR
        # refused before its handler runs (501: no name) is that upload
        # too, so the declaration must not carry over to a later STOR of
        # another file that happens to end after the same count.
        c = self.session()
        data = os.urandom(4096)
        self.assertEqual(c.cmd("ALLO 4096")[0], 200)
        self.assertEqual(c.cmd("STOR")[0], 501)
        self.assertEqual(c.store("after-501.bin", data)[0], 226)
        self.assertEqual(self.on_disk("after-501.bin"), data)
        self.assertNotIn(MARK, self.received_line("after-501.bin"))

    def test_resume_append_and_ascii_are_not_covered(self):
        # A resume's count could be the file's or the rest's, APPE adds
        # to what is there, and TYPE A changes the count on the way: the
        # watch decides those.
        c = self.session()
        first = os.urandom(3000)
        self.assertEqual(c.store("resumed.bin", first)[0], 226)
        rest = os.urandom(1000)
        self.assertEqual(c.cmd("REST 3000")[0], 350)
        self.assertEqual(c.cmd("ALLO 1000")[0], 200)
        self.assertEqual(c.store("resumed.bin", rest)[0], 226)
        self.assertEqual(self.on_disk("resumed.bin"), first + rest)
        self.assertNotIn(MARK, self.received_line("resumed.bin"))

        self.assertEqual(c.store("appended.bin", first)[0], 226)
        self.assertEqual(c.cmd("ALLO 1000")[0], 200)
        self.assertEqual(c.store("appended.bin", rest, verb="APPE")[0], 226)
        self.assertEqual(self.on_disk("appended.bin"), first + rest)
        lines = [line for line in self.srv.log_text().splitlines()
                 if "received /appended.bin (" in line]
        self.assertEqual(len(lines), 2)
        self.assertFalse(any(MARK in line for line in lines))

        text = b"one\r\ntwo\r\n"
        self.assertEqual(c.cmd("TYPE A")[0], 200)
        self.assertEqual(c.cmd("ALLO %d" % len(text))[0], 200)
        self.assertEqual(c.store("ascii.txt", text)[0], 226)
        self.assertEqual(self.on_disk("ascii.txt"), b"one\ntwo\n")
        self.assertNotIn(MARK, self.received_line("ascii.txt"))

    def test_dead_control_is_still_seen_first(self):
        # Every declared byte sent, but the control connection closed
        # before the data FIN: the look at the control connection comes
        # before the declaration, so nothing is published and the bytes
        # stay in the partial for a resume.
        c = self.session()
        data = os.urandom(8192)
        self.assertEqual(c.cmd("ALLO %d" % len(data))[0], 200)
        d = c.epsv()
        self.assertEqual(c.cmd("STOR gone.bin")[0], 150)
        d.sendall(data)
        c.close()
        d.close()
        self.assertTrue(wait_for(
            lambda: "upload of /gone.bin not complete" in
            self.srv.log_text(), timeout=10))
        home = self.srv.home("alice")
        self.assertFalse(os.path.exists(os.path.join(home, "gone.bin")))
        with open(os.path.join(home, PARTIAL + "gone.bin"), "rb") as f:
            self.assertEqual(f.read(), data)

    def test_size_beyond_the_disk_is_refused(self):
        # No quota, but no file system here has 4 EiB free: refused before
        # a byte is sent, as pure-ftpd does, with a log line that says why
        # (it was taken with 200 and the STOR failed at the disk's end).
        c = self.session()
        code, text = c.cmd("ALLO %d" % (1 << 62))
        self.assertEqual(code, 552, text)
        self.assertIn("disk space", text)
        self.assertTrue(wait_for(
            lambda: "ALLO %d refused: the home's file system has" % (1 << 62)
            in self.srv.log_text(), timeout=10))
        # It declared nothing: the next upload gets the watch, as without.
        data = os.urandom(3000)
        self.assertEqual(c.store("after_refused.bin", data)[0], 226)
        self.assertEqual(self.on_disk("after_refused.bin"), data)
        self.assertNotIn(MARK, self.received_line("after_refused.bin"))
        # What fits the disk is noted as before.
        self.assertEqual(c.cmd("ALLO %d" % len(data))[0], 200)

    def test_unreadable_and_over_quota_sizes(self):
        c = self.session()
        self.assertEqual(c.cmd("ALLO")[0], 202)
        self.assertEqual(c.cmd("ALLO lots")[0], 501)
        self.assertEqual(c.cmd("ALLO 99999999999999999999")[0], 501)
        self.assertEqual(c.cmd("ALLO 100 R 10")[0], 200)
        self.assertEqual(c.cmd("ALLO 100 r 10")[0], 200)
        # RFC 959's form and nothing else: "R" needs its record size, and
        # nothing else may follow the count.
        for bad in ("ALLO 5 garbage", "ALLO 5 R", "ALLO 5 R x",
                    "ALLO  10", "ALLO 10 "):
            self.assertEqual(c.cmd(bad)[0], 501, bad)
        # A declaration that cannot fit the quota is refused before a
        # byte is sent, and declares nothing.
        q = self.session("quoted")
        code, text = q.cmd("ALLO %d" % (1 << 20))
        self.assertEqual(code, 552, text)
        data = os.urandom(1 << 20)
        d = q.epsv()
        self.assertEqual(q.cmd("STOR big.bin")[0], 150)
        try:
            d.sendall(data)
        except OSError:
            pass  # the server stops reading at the quota
        d.close()
        self.assertEqual(q.reply()[0], 552)
        self.assertFalse(os.path.exists(
            os.path.join(self.srv.home("quoted"), "big.bin")))
        # One that fits works as for anyone.
        small = os.urandom(1000)
        self.assertEqual(q.cmd("ALLO 1000")[0], 200)
        self.assertEqual(q.store("small.bin", small)[0], 226)
        with open(os.path.join(self.srv.home("quoted"), "small.bin"),
                  "rb") as f:
            self.assertEqual(f.read(), small)
        # A replace needs room only for the difference, declared or not:
        # with 50 KiB stored of 64, a new 50 KiB file does not fit but
        # one replacing the 50 KiB file does (ALLO once refused it while
        # the STOR that followed was taken).
        old = os.urandom(50 * 1024)
        self.assertEqual(q.store("photo.jpg", old)[0], 226)
        new = os.urandom(50 * 1024)
        code, text = q.cmd("ALLO %d" % len(new))
        self.assertEqual(code, 200, text)
        self.assertEqual(q.store("photo.jpg", new)[0], 226)
        with open(os.path.join(self.srv.home("quoted"), "photo.jpg"),
                  "rb") as f:
            self.assertEqual(f.read(), new)
        self.assertIn("/photo.jpg (51200 bytes, 51200 total, as ALLO "
                      "declared)", self.srv.log_text())
        self.assertEqual(q.cmd("ALLO %d" % len(new))[0], 200)
        self.assertEqual(q.store("other.jpg", new)[0], 552)


if __name__ == "__main__":
    unittest.main(verbosity=2)
