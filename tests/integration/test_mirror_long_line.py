#!/usr/bin/env python3
"""A file whose path makes a command line longer than the FTP target reads.

pyftpdlib reads 2,048 bytes of a command line (vsftpd about 4 KiB, some
embedded servers 512) and answers a longer one "500 Command too long.",
then the rest of the line as a command of its own (a second 500). A file
whose path on the target is longer than that was retried for ever, each
time with the same 500, and `mirror status` never said why. A stray second
500 left on a kept connection was read as the answer to the next command,
which could fail a file that the target takes.

Now a connection that got a 500 is never used again, and a command line of
the same length refused on a fresh connection too parks the job at once,
with a reason that says the path is too long for the target; `mirror
retry` sends it again. The files after it on the same target arrive.
"""
import os
import shutil
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import wait_for  # noqa: E402
from mirror_targets import read, reached, wait_status, write  # noqa: E402
from test_mirror_more import Base, NO_WATCH  # noqa: E402

# Nine folders of 255-byte names: the target's path of a file in the
# deepest is over 2,300 bytes, past pyftpdlib's 2,048 of a line, and the
# home's (about 2,400 bytes) within PATH_MAX.
DEPTH = 9


class LongLineTest(Base):

    def deep_folder(self, f, top):
        """Makes DEPTH folders of 255-byte names under top on relayftpd;
        returns the deepest's path."""
        path = top
        for i in range(DEPTH):
            path += "/" + chr(ord("a") + i) * 255
            f.mkd(path)
        return path

    def renaming_deep(self):
        """A pyftpdlib target that takes renames and deletes, alice's
        server and session, and a folder past the target's line made in
        the home: (target, alice's folder there, server, session, the
        folder's path)."""
        p = self.pyftpd()
        srv = self.mirror_server(
            {"t": p.target("/base", propagate_deletes="on",
                           propagate_renames="on")}, mirror=NO_WATCH)
        f = self.ftp(srv)
        return p, p.dir("base", "alice"), srv, f, self.deep_folder(f, "")

    def assertSettled(self, srv, p):
        """Target t's queue empty and nothing running."""
        self.assertTrue(reached(
            srv, lambda s: s["t"]["queued"] == 0 and s["t"]["running"] == 0,
            timeout=40), self.diag(srv, p))

    def test_path_too_long_for_the_target_parks_and_others_arrive(self):
        p = self.pyftpd()
        d = p.dir("base", "alice")
        srv = self.mirror_server({"t": p.target("/base")}, mirror=NO_WATCH)
        f = self.ftp(srv)
        deep = self.deep_folder(f, "")
        long_data, ok_data, near = self.rand(300), self.rand(40), self.rand(7)
        self.put(f, deep + "/long.bin", long_data)
        # Right after it on the same target: a file five folders deep,
        # whose command lines fit (about 1,300 bytes), and one at the top.
        parent = "/".join(deep.split("/")[:6])
        self.put(f, parent + "/near.bin", near)
        self.put(f, "/ok.bin", ok_data)
        self.assertArrived(d, {"ok.bin": ok_data,
                               parent.lstrip("/") + "/near.bin": near}, srv)
        st = wait_status(srv, lambda s: s["t"]["failed"] == 1, timeout=40)
        self.assertEqual((st["t"]["failed"], st["t"]["queued"],
                          st["t"]["running"]), (1, 0, 0), self.diag(srv, p))
        self.assertIn("too long for the target", st["t"]["last_error"])
        self.assertIn("mirror retry", st["t"]["last_error"])
        # Parked at its first attempt or its second (one 500 alone
        # decides nothing), and said once.
        lines = self.log_lines(srv, "mirror push failed target=t path=",
                               "long.bin")
        self.assertIn("parked", lines[-1])
        self.assertIn(len(lines), (1, 2), self.diag(srv, p))
        self.assertEqual(len([ln for ln in lines if "parked" in ln]), 1)
        # No file of the deliverable ones failed, and no temporary copy
        # of the long one is left on the target.
        self.assertEqual(self.log_lines(srv, "mirror push failed",
                                        "ok.bin"), [])
        self.assertEqual(self.log_lines(srv, "mirror push failed",
                                        "near.bin"), [])
        self.assertNoTemp(d)
        self.assertFalse(os.path.exists(
            os.path.join(d, deep.lstrip("/"), "long.bin")))
        # `mirror retry` asks again: refused again, parked again.
        r = srv.retry("t")
        self.assertEqual((r.returncode, r.stdout.strip()),
                         (0, "requeued 1 parked jobs"), r.stderr)
        self.assertTrue(reached(
            srv, lambda s: s["t"]["failed"] == 1 and s["t"]["queued"] == 0
            and s["t"]["running"] == 0, timeout=40))
        self.assertEqual(len(self.log_lines(
            srv, "mirror push failed target=t path=", "long.bin",
            "parked")), 2, self.diag(srv, p))
        self.assertEqual(read(os.path.join(d, "ok.bin")), ok_data)

    def test_files_after_it_on_the_same_connection_arrive_first_time(self):
        # One worker and no express lane: the files after the long one
        # go over the connection it used. pyftpdlib's second 500 to the
        # over-long line, unread there, was the answer their first
        # command read, and each failed once ("500 Command \"\" not
        # understood"), or read the next reply for its EPSV's.
        p = self.pyftpd()
        d = p.dir("base", "alice")
        srv = self.mirror_server(
            {"t": p.target("/base")},
            mirror={"watch": "off", "workers_per_target": "1",
                    "express_max_size": "0"})
        f = self.ftp(srv)
        deep = self.deep_folder(f, "")
        self.put(f, deep + "/long.bin", b"L")
        want = {}
        for i in range(3):
            want["f%d.bin" % i] = self.rand(10 + i)
            self.put(f, "/f%d.bin" % i, want["f%d.bin" % i])
        self.assertArrived(d, want, srv)
        self.assertTrue(reached(srv, lambda s: s["t"]["failed"] == 1,
                                timeout=40), self.diag(srv, p))
        for name in want:
            self.assertEqual(self.log_lines(srv, "mirror push failed",
                                            name), [], self.diag(srv, p))
            push = self.pushes(srv, "t", "/alice/" + name)
            self.assertEqual([x["attempts"] for x in push], [1],
                             self.diag(srv, p))

    def test_folders_past_the_line_are_listed_without_a_new_login(self):
        """A refused-rename repair lists each level of the old folder by
        "MLSD /abs/dir". Past pyftpdlib's 2,048 bytes that line was
        answered 500, which ended the connection, and the folder was
        listed again by a walk: a login for each such folder. Once the
        target's lore refuses a line that long, the listing walks at
        once, and so does the removal of such a folder (RMD). Counted
        in pyftpdlib's own log."""
        p = self.pyftpd()
        # The new name is taken on the target (RNTO refused: the
        # repair), and the old folder holds DEPTH levels of 255-byte
        # names, four empty folders at the deepest (past the line).
        d, srv, f = self.renamed_folder_taken(p)
        deep = os.path.join(d, "d1", *[chr(ord("a") + i) * 255
                                       for i in range(DEPTH)])
        for i in range(4):
            os.makedirs(os.path.join(deep, "s%d" % i))
        before_listed = p.log_text().count(" listing MLSD ")
        before = p.log_text()
        f.rename("/d1", "/d2")
        self.assertArrived(d, {"d2/f": b"x", "d2/theirs": b"t"}, srv)
        self.assertDrained(srv)
        # Its folders, empty, are removed, those past the line by a
        # walk (CWD to the parent, "RMD name"): "RMD /abs/dir" was
        # answered 500 (a new login), the MLST after it too, which was
        # taken for the folder gone; it stayed, and so did d1, said to
        # keep files the mirror did not put there. Each of the 13
        # folders and d1 removed once.
        self.assertGone(os.path.join(d, "d1"), srv)
        self.assertEqual(self.log_lines(srv, "the old folder keeps"),
                         [], self.diag(srv, p))
        rmd = [ln for ln in p.log_text().splitlines()
               if " RMD " in ln and ln.endswith(" 250")]
        self.assertEqual(len(rmd), DEPTH + 4 + 1, self.diag(srv, p))
        # Its 14 folders listed by MLSD, those past the line in the
        # folder walked to, but the first of them: its "MLSD /abs/dir"
        # answered 500 teaches the lore (then LIST). Before, each of the
        # 6 was refused so, its connection ended and LIST sent: 8.
        log = p.log_text()
        listed = log.count(" listing MLSD ") - before_listed
        self.assertEqual(listed, 1 + DEPTH + 4 - 1, self.diag(srv, p))
        # Lines refused (each ends its connection, a login more): the
        # first MLSD and RMD past the line; the MLST asked after such an
        # RMD's 500, a byte longer, is not sent. Before, it was, refused
        # too: 7 lines refused and 10 logins. Each shorter RMD after it
        # (of the i and h folders), longer than any line answered, walks
        # too: sent whole, each was refused, 4 lines and 7 or 8 logins
        # (the workers' own logins vary by one).
        log = log[len(before):]
        self.assertEqual(log.count("too long."), 2, self.diag(srv, p))
        self.assertLessEqual(log.count(" USER "), 6, self.diag(srv, p))
    def test_a_second_repair_sends_no_line_refused_before(self):
        """Two refused-rename repairs of old folders past the line, one
        after the other in one daemon: the lines the first learnt too
        long (its MLSD, its first RMD past the line), and those longer
        than any answered, are not sent whole in the second, nor in the
        first after the first RMD refused. Counted in pyftpdlib's log:
        before, the first repair had 4 lines refused (each a login)."""
        p = self.pyftpd()
        d, srv, f = self.renamed_folder_taken(p)
        names = [chr(ord("a") + i) * 255 for i in range(DEPTH)]
        counts = []
        for old, new in (("d1", "d2"), ("d2", "d3")):
            deep = os.path.join(d, old, *names)
            # The target's own file of the first repair moved aside.
            if os.path.exists(os.path.join(d, old, "theirs")):
                os.rename(os.path.join(d, old, "theirs"),
                          os.path.join(d, "theirs." + old))
            for i in range(4):
                os.makedirs(os.path.join(deep, "s%d" % i))
            write(os.path.join(d, new, "theirs"), b"t")
            before = p.log_text()
            f.rename("/" + old, "/" + new)
            self.assertArrived(d, {new + "/f": b"x",
                                   new + "/theirs": b"t"}, srv)
            self.assertDrained(srv)
            self.assertGone(os.path.join(d, old), srv)
            counts.append(p.log_text()[len(before):].count("too long."))
        self.assertEqual(self.log_lines(srv, "the old folder keeps"),
                         [], self.diag(srv, p))
        self.assertEqual(counts, [2, 0], self.diag(srv, p))

    def test_a_path_known_too_long_walks_at_once(self):
        """Once the target's lore says a line is too long for it, the
        upload of a path that long walks at once. It sent "STOR
        /abs/path" first, got 500, ended the connection for it and
        walked on a new one: a command and a login more a push. Counted
        in pyftpdlib's log (it answers each such line "500 Command too
        long.")."""
        p = self.pyftpd()
        srv = self.mirror_server(
            {"t": p.target("/base")},
            mirror={"watch": "off", "workers_per_target": "1",
                    "express_max_size": "0"})
        f = self.ftp(srv)
        deep = self.deep_folder(f, "")
        self.put(f, deep + "/long.bin", b"L")
        self.assertTrue(reached(
            srv, lambda s: s["t"]["failed"] == 1, timeout=40))
        log = p.log_text()
        logins, refused = log.count(" USER "), log.count("too long.")
        # Names longer than long.bin's: lines as long or longer than the
        # one refused.
        for i in range(3):
            self.put(f, "%s/longer%d.bin" % (deep, i), b"x" * (i + 1))
        self.assertTrue(reached(
            srv, lambda s: s["t"]["failed"] == 4 and s["t"]["queued"] == 0
            and s["t"]["running"] == 0, timeout=60), self.diag(srv, p))
        self.assertEqual(len(self.log_lines(
            srv, "mirror push failed", "longer", "too long for the target",
            "parked")), 3, self.diag(srv, p))
        # Each push: the verify's SIZE by the whole path, answered 500
        # and its connection ended. Before: 3 a push (the STOR by the
        # whole path first, and the verify's SIZE asked by quote too).
        log = p.log_text()
        self.assertEqual(log.count("too long.") - refused, 3,
                         self.diag(srv, p))
        self.assertLessEqual(log.count(" USER ") - logins, 3,
                             self.diag(srv, p))
        self.assertNoTemp(p.dir("base", "alice"))

    def test_a_folder_past_the_line_renamed_to_a_short_name(self):
        """A folder whose "RNFR /abs/dir" line is longer than the target
        reads (made there by a walk, one MKD a name) renamed in the home
        to a short name: the rename was answered 500, then parked as a
        path too long for the target, and a file put under the new name
        after it, whose lines fit, waited behind it for good. The rename
        walks to the folder's parent now ("RNFR name", "RNTO /abs/new"),
        after the one 500 that teaches the lore."""
        p, d, srv, f, deep = self.renaming_deep()
        self.assertSettled(srv, p)
        self.assertTrue(os.path.isdir(d + deep))
        refused = p.log_text().count("too long.")
        f.rename(deep, "/short")
        self.put(f, "/short/x", b"x")
        self.assertArrived(d, {"short/x": b"x"}, srv)
        self.assertDrained(srv)
        self.assertFalse(os.path.exists(d + deep))
        self.assertEqual(self.log_lines(srv, "mirror push failed"), [],
                         self.diag(srv, p))
        self.assertLessEqual(p.log_text().count("too long.") - refused, 1,
                             self.diag(srv, p))

    def test_a_folder_past_the_line_gone_from_the_target_renamed(self):
        """The same rename where the target lost the old folder (removed
        there by hand): the walk's CWD into it is refused, which was
        taken for a failed link and asked again the same way for ever,
        and the file under the new name waited behind it. It counts as
        the old name not there now (as RNFR's 550 would), and the
        rename's repair gives the target the new name."""
        p, d, srv, f, deep = self.renaming_deep()
        self.assertSettled(srv, p)
        gone = d + "/".join(deep.split("/")[:DEPTH - 1])
        shutil.rmtree(gone)
        f.rename(deep, "/short")
        self.put(f, "/short/x", b"x")
        self.assertArrived(d, {"short/x": b"x"}, srv)
        self.assertDrained(srv)
        self.assertFalse(os.path.exists(gone))
        self.assertEqual(self.log_lines(srv, "mirror push failed"), [],
                         self.diag(srv, p))

    def block_entry(self, p, deep):
        """Restarts target p with its user refused entry (no "e") to the
        second of deep's folders and all under it on the target, as an
        admin may set a folder: pyftpdlib answers a CWD there "550 Not
        enough privileges.", vsftpd "550 Failed to change directory." as
        for a folder not there."""
        p.stop()
        p.no_enter = [os.path.join("base", "alice",
                                   *deep.strip("/").split("/")[:2])]
        p.start()

    def assertParkedUnenterable(self, srv, p):
        """One job of t parked, saying the folder cannot be entered."""
        self.assertTrue(reached(
            srv, lambda s: s["t"]["failed"] == 1 and s["t"]["queued"] == 0
            and s["t"]["running"] == 0, timeout=40), self.diag(srv, p))
        lines = self.log_lines(srv, "mirror push failed", "parked")
        self.assertEqual(len(lines), 1, self.diag(srv, p))
        self.assertIn("refuses this account entry", lines[0])
        # The worker's own words agree: no room is to be made.
        self.assertNotIn("makes room", lines[0])
        # Counted in the job's path (/alice/a.../b...), not from the
        # login folder through the url's own "base".
        self.assertIn("b" * 255 + " (folder 3 of the job's path)",
                      lines[0])

    def test_a_folder_past_the_line_it_may_not_enter_renamed(self):
        """A folder past the line renamed where the target's user may
        not enter a folder on the rename walk's way: the CWD's 550 was
        taken for the old name not there, the repair pushed the new name
        and the target kept the old folder, which the home has no more.
        The walk's refusal is asked about now (MLST from the parent):
        the folder is there, so the rename is parked saying why."""
        p, d, srv, f, deep = self.renaming_deep()
        self.assertSettled(srv, p)
        self.block_entry(p, deep)
        f.rename(deep, "/short")
        self.assertParkedUnenterable(srv, p)
        self.assertTrue(os.path.isdir(d + deep))
        self.assertFalse(os.path.exists(os.path.join(d, "short")))

    def test_a_folder_past_the_line_it_may_not_enter_removed(self):
        """The same folder, empty, removed in the home: its rmdir walk's
        CWD refused was taken for the folder not there, and the rmdir
        counted done, the folder kept on the target. Parked now."""
        p, d, srv, f, deep = self.renaming_deep()
        self.assertSettled(srv, p)
        self.block_entry(p, deep)
        f.rmd(deep)
        self.assertParkedUnenterable(srv, p)
        self.assertTrue(os.path.isdir(d + deep))

    def test_a_short_folder_moved_past_the_line(self):
        """A folder with a short name moved in the home into a folder
        whose "RNTO /abs/dir/name" line is longer than the target reads:
        the rename walked only to the old name's folder, and sent RNTO
        whole there, so it was parked as a path too long for the
        target, and the target kept the old folder, which the home had
        no more. It walks to the new name's folder now ("RNFR /abs/old",
        "RNTO name")."""
        p, d, srv, f, deep = self.renaming_deep()
        f.mkd("/short")
        self.put(f, "/short/x", b"x")
        self.assertArrived(d, {"short/x": b"x"}, srv)
        self.assertDrained(srv)
        f.rename("/short", deep + "/moved")
        self.assertArrived(d, {deep.lstrip("/") + "/moved/x": b"x"}, srv)
        self.assertDrained(srv)
        self.assertFalse(os.path.exists(os.path.join(d, "short")))
        self.assertEqual(self.log_lines(srv, "mirror push failed"), [],
                         self.diag(srv, p))

    def test_a_folder_past_the_line_moved_beside_it(self):
        """A folder past the line moved into its sibling, also past the
        line ("RNFR /abs/d/one" and "RNTO /abs/d/two/one" both longer
        than the target reads): parked as a path too long for the
        target, the old folder kept there. The rename walks to the
        folder the two names share now ("RNFR one", "RNTO two/one")."""
        p, d, srv, f, deep = self.renaming_deep()
        f.mkd(deep + "/one")
        f.mkd(deep + "/two")
        self.assertTrue(wait_for(
            lambda: os.path.isdir(d + deep + "/two"), timeout=40),
            self.diag(srv, p))
        self.assertDrained(srv)
        f.rename(deep + "/one", deep + "/two/one")
        self.assertTrue(wait_for(
            lambda: os.path.isdir(d + deep + "/two/one"), timeout=40),
            self.diag(srv, p))
        self.assertDrained(srv)
        self.assertFalse(os.path.exists(d + deep + "/one"))
        self.assertEqual(self.log_lines(srv, "mirror push failed"), [],
                         self.diag(srv, p))

    def test_a_line_refused_before_it_was_sent_is_not_taken(self):
        """The lore kept a request's longest line as one the target
        reads where the request was refused before that line was sent:
        a rename whose RNFR got 550 (the file gone there) counted its
        longer RNTO, past pyftpdlib's 2,048 bytes, as taken. A file with
        a shorter line after it was then never told too long: retried
        for ever instead of parked. Only a line answered otherwise than
        500 counts now."""
        p = self.pyftpd()
        d = p.dir("base", "alice")
        srv = self.mirror_server(
            {"t": p.target("/base", propagate_renames="on")},
            mirror={"watch": "off", "workers_per_target": "1",
                    "express_max_size": "0"})
        f = self.ftp(srv)
        deep = self.deep_folder(f, "")
        self.put(f, "/x.bin", b"x")
        self.assertArrived(d, {"x.bin": b"x"}, srv)
        self.assertDrained(srv)
        # Gone from the target: the rename's RNFR gets 550, and its RNTO
        # (a long name in the deepest folder) is never sent.
        os.remove(os.path.join(d, "x.bin"))
        f.rename("/x.bin", deep + "/" + "r" * 60 + ".bin")
        self.assertSettled(srv, p)
        self.assertTrue(self.log_lines(srv, "mirror rename target=t",
                                       "550"), self.diag(srv, p))
        parked = len(self.log_lines(srv, "mirror push failed", "parked"))
        # A file there whose lines are shorter than that RNTO's.
        self.put(f, deep + "/y.bin", b"y")
        self.assertTrue(reached(
            srv, lambda s: s["t"]["failed"] == parked + 1, timeout=40),
            self.diag(srv, p))
        lines = self.log_lines(srv, "mirror push failed", "/y.bin")
        self.assertIn("too long for the target", lines[-1])
        self.assertIn("parked", lines[-1])

    def test_a_deep_folder_within_the_line_is_listed_by_its_path(self):
        """A folder whose "MLSD /abs/dir" line is past 512 bytes but
        within what the target reads is listed by that one line: walked
        to (one CWD a level from the login folder), a repair of an old
        folder D levels deep cost CWDs in the square of D again (13448aa).
        Counted in pyftpdlib's log."""
        depth = 12
        p = self.pyftpd()
        d, srv, f = self.renamed_folder_taken(p)
        # 12 levels of 100-byte names: the deepest's line about 1,250
        # bytes, within pyftpdlib's 2,048.
        os.makedirs(os.path.join(d, "d1", *[chr(ord("a") + i) * 100
                                            for i in range(depth)]))
        before = p.log_text().count(" CWD ")
        f.rename("/d1", "/d2")
        self.assertArrived(d, {"d2/f": b"x", "d2/theirs": b"t"}, srv)
        self.assertDrained(srv)
        self.assertFalse(os.path.exists(os.path.join(d, "d1")))
        log = p.log_text()
        self.assertEqual(log.count(" RMD "), depth + 1, self.diag(srv, p))
        self.assertLessEqual(log.count(" CWD ") - before, 2 * depth,
                             self.diag(srv, p))



if __name__ == "__main__":
    unittest.main()
