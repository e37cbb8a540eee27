#!/usr/bin/env python3
"""mirror resync and listings against big or hostile FTP targets (README
"Mirror"): what one folder's listing may cost the resync process, and
which failures of a listing are tried again another way.

Found here and fixed: resync held a folder's raw listing and 272 bytes
an entry (a target listing a million names made it take 299 MB); an
MLSD that stalled midway was listed again with LIST -a, LIST and
libcurl's LIST; a push to a target that never read the small file it
was sent failed with "FTP response timeout" alone.
"""
import os
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pyftpdlib.handlers import (  # noqa: E402
    DTPHandler, FTPHandler)

import test_mirror_hostile_more  # noqa: E402
from harness import binary_is_sanitized, wait_for  # noqa: E402
from test_mirror_hostile_more import (  # noqa: E402
    HostileFtp, ONE_WORKER, many_names)

BINARY = test_mirror_hostile_more.test_mirror_more.BINARY
MB = 1024 * 1024




class ResyncBoundsTest(test_mirror_hostile_more.test_mirror_more.Base):

    def hostile(self, handler=FTPHandler):
        h = HostileFtp(handler)
        self.addCleanup(h.stop)
        return h

    def assert_rss_bounded(self, rss):
        # An ASan build's RSS is its shadow and quarantine as much as
        # resync's own (115 MiB there for the 48 of a plain build).
        if not binary_is_sanitized():
            self.assertLess(rss, 100 * 1024, "resync took %d KiB" % rss)

    def resync(self, srv, target):
        """Runs mirror resync; (returncode, stdout, stderr, peak RSS in
        KiB) of that process alone (wait4's rusage)."""
        with tempfile.TemporaryFile("w+") as out, \
                tempfile.TemporaryFile("w+") as err:
            p = subprocess.Popen(
                [BINARY, "mirror", "resync", "--config", srv.config_path,
                 target], stdout=out, stderr=err,
                stdin=subprocess.DEVNULL)
            # Reaped here, not by Popen.wait: wait4 gives its rusage.
            # A resync that hangs is killed after 300 s.
            watchdog = threading.Timer(300, p.kill)
            watchdog.start()
            try:
                _, status, ru = os.wait4(p.pid, 0)
            finally:
                watchdog.cancel()
            p.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            err.seek(0)
            return p.returncode, out.read(), err.read(), ru.ru_maxrss

    def folder_of(self, n, files):
        h = self.hostile(many_names(n))
        srv = self.mirror_server({"h": h.target("/base")}, prefill=files,
                                 mirror=ONE_WORKER)
        os.makedirs(h.dir("base", "alice"), exist_ok=True)
        return h, srv

    def test_a_listing_of_a_million_costs_resync_bounded_memory(self):
        # The target lists 1,000,000 names in alice's folder (31 MB of
        # MLSD). resync held the raw listing and 272 bytes an entry:
        # 270 MB of peak RSS here. It now reads MLSD line by line and
        # packs the names (16 bytes an entry plus the name).
        h, srv = self.folder_of(1000000, {"z0012345": b"y", "new": b"n"})
        rc, out, err, rss = self.resync(srv, "h")
        self.assertEqual(rc, 0, err)
        self.assertTrue(h.seen, "resync listed nothing")
        self.assertIn("resync h: 2 files compared,", out)
        self.assertNotIn("z0012345", out)
        print("resync of a listing of 1,000,000: peak RSS %d MiB"
              % (rss // 1024))
        self.assert_rss_bounded(rss)

    def test_a_folder_past_the_bound_fails_resync_saying_so(self):
        # One entry past RFTP_RESYNC_ENTRIES_MAX (1,000,000): resync
        # stops, naming the folder and the bound, and exits 1, rather
        # than compare against a listing it did not keep whole.
        h, srv = self.folder_of(1000001, {"z0012345": b"y"})
        rc, out, err, rss = self.resync(srv, "h")
        self.assertEqual(rc, 1, out + err)
        self.assertIn("the listing of /alice on h has more than 1000000 "
                      "entries or 64 MiB of names", err)
        self.assertNotIn("queued", out)
        self.assert_rss_bounded(rss)

    def test_an_mlsd_that_stalls_midway_is_not_listed_again(self):
        # MLSD sends a line and then nothing, its data connection open:
        # the target's timeout (2 s) fails it. resync then listed the
        # folder again with LIST -a (and LIST, and libcurl's LIST): a
        # target flooding each was up to three 256 MiB listings in one
        # run. Only a refused MLSD (5xx) is tried as LIST now.
        class StallDTP(DTPHandler):
            def close_when_done(self):
                if self.cmd != "MLSD":
                    DTPHandler.close_when_done(self)

        class Stall(FTPHandler):
            dtp_handler = StallDTP

            def ftp_MLSD(self, path):
                self.seen.append("MLSD")
                self.push_dtp_data(b"type=file;size=1; a\r\n",
                                   cmd="MLSD")

            def ftp_LIST(self, path):
                self.seen.append("LIST")
                FTPHandler.ftp_LIST(self, path)
        h = self.hostile(Stall)
        srv = self.mirror_server({"h": h.target("/base", timeout="2")},
                                 prefill={"a": b"x"}, mirror=ONE_WORKER)
        os.makedirs(h.dir("base", "alice"), exist_ok=True)
        rc, out, err, _ = self.resync(srv, "h")
        self.assertEqual(rc, 1, out + err)
        self.assertIn("MLSD", h.seen)
        self.assertNotIn("LIST", h.seen, err)
        self.assertIn("list /alice", err)

    def test_a_refused_mlsd_is_listed_with_list(self):
        # A 500 to MLSD (a server without it): LIST -a lists the folder.
        class NoMlsd(FTPHandler):
            def ftp_MLSD(self, path):
                self.seen.append("MLSD")
                self.respond("500 Command \"MLSD\" not understood.")

            def ftp_LIST(self, path):
                self.seen.append("LIST")
                FTPHandler.ftp_LIST(self, path)
        h = self.hostile(NoMlsd)
        srv = self.mirror_server({"h": h.target("/base")},
                                 prefill={"a": b"x", "b": b"y"},
                                 mirror=ONE_WORKER)
        os.makedirs(h.dir("base", "alice"), exist_ok=True)
        with open(h.dir("base", "alice", "a"), "wb") as f:
            f.write(b"x")
        rc, out, err, _ = self.resync(srv, "h")
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(h.seen[:2], ["MLSD", "LIST"])
        self.assertNotIn("/alice/a", out)

    def test_an_mlsd_answered_450_fails_the_listing(self):
        # A 450 to MLSD (a busy target, "try later"): libcurl takes a
        # 450 to a listing for an empty one, so resync compared alice's
        # files against nothing and pushed a, there already, again. A
        # 4xx to MLSD is no listing and no refusal of MLSD: the listing
        # fails, naming the folder, and LIST is not tried.
        class Busy(FTPHandler):
            def ftp_MLSD(self, path):
                self.seen.append("MLSD")
                self.respond("450 Too busy, try later.")

            def ftp_LIST(self, path):
                self.seen.append("LIST")
                FTPHandler.ftp_LIST(self, path)
        h = self.hostile(Busy)
        srv = self.mirror_server({"h": h.target("/base")},
                                 prefill={"a": b"x"}, mirror=ONE_WORKER)
        os.makedirs(h.dir("base", "alice"), exist_ok=True)
        with open(h.dir("base", "alice", "a"), "wb") as f:
            f.write(b"x")
        rc, out, err, _ = self.resync(srv, "h")
        self.assertEqual(rc, 1, out + err)
        self.assertNotIn("/alice/a", out)
        self.assertIn("list /alice", err)
        self.assertIn("450", err)
        self.assertEqual(h.seen, ["MLSD"])

    def test_a_list_answered_450_fails_the_listing(self):
        # A target without MLSD (500) that answers LIST with 450 (busy,
        # "try later"): libcurl takes a 450 to LIST for an empty
        # listing, so resync compared alice's files against nothing and
        # queued a, there already, again. The listing now fails, naming
        # the folder and the reply.
        class BusyList(FTPHandler):
            def ftp_MLSD(self, path):
                self.seen.append("MLSD")
                self.respond("500 Command \"MLSD\" not understood.")

            def ftp_LIST(self, path):
                self.seen.append("LIST")
                self.respond("450 Too busy, try later.")
        h = self.hostile(BusyList)
        srv = self.mirror_server({"h": h.target("/base")},
                                 prefill={"a": b"x"}, mirror=ONE_WORKER)
        os.makedirs(h.dir("base", "alice"), exist_ok=True)
        with open(h.dir("base", "alice", "a"), "wb") as f:
            f.write(b"x")
        rc, out, err, _ = self.resync(srv, "h")
        self.assertEqual(rc, 1, out + err)
        self.assertNotIn("/alice/a", out)
        self.assertIn("list /alice: the target answered LIST with "
                      "\"450 Too busy, try later.\"", err)
        self.assertIn("LIST", h.seen)

    def test_an_mlsd_failing_midway_is_not_listed_again(self):
        # MLSD sends part of the folder's entries, then 551 instead of
        # 226. Its entries had reached the listing line by line, and
        # the 5xx was taken for "no MLSD": LIST -a listed the folder
        # again, each entry twice, and MLSD was never asked again. A
        # 5xx after entries is a listing that failed: no LIST, and the
        # next listing asks MLSD again.
        class FailDTP(DTPHandler):
            def close(self):
                if (self.cmd == "MLSD" and self._resp and
                        self._resp[0].startswith("226")):
                    self._resp = ("551 Listing failed midway.",
                                  self._resp[1])
                DTPHandler.close(self)

        class Midway(FTPHandler):
            dtp_handler = FailDTP

            def ftp_MLSD(self, path):
                self.seen.append("MLSD")
                self.push_dtp_data(b"type=file;size=1; a\r\n",
                                   cmd="MLSD")

            def ftp_LIST(self, path):
                self.seen.append("LIST")
                FTPHandler.ftp_LIST(self, path)
        h = self.hostile(Midway)
        srv = self.mirror_server({"h": h.target("/base")},
                                 prefill={"a": b"x", "b": b"y"},
                                 mirror=ONE_WORKER)
        os.makedirs(h.dir("base", "alice"), exist_ok=True)
        for name in ("a", "b"):
            with open(h.dir("base", "alice", name), "wb") as f:
                f.write(b"x" if name == "a" else b"y")
        rc, out, err, _ = self.resync(srv, "h")
        self.assertEqual(rc, 1, out + err)
        self.assertIn("list /alice: the target's MLSD ended with "
                      "\"551 Listing failed midway.\" after part of its "
                      "listing", err)
        self.assertEqual(h.seen, ["MLSD"])
        self.assertNotIn("/alice/", out)

    def test_a_target_that_never_reads_the_upload_is_named(self):
        # The target takes STOR (150) and its data connection, and then
        # neither reads it nor answers: the 4 KiB file fits in the
        # sockets' buffers, libcurl sends it whole and waits for the
        # 226. The admin read "upload: FTP response timeout" and looked
        # at the relay or the link; the error now says the whole file
        # went out and the target never answered.
        class Deaf(FTPHandler):
            def ftp_STOR(self, file, mode="w"):
                self.seen.append("STOR")
                self.respond("150 Ok to send data.")
        h = self.hostile(Deaf)
        srv = self.mirror_server({"h": h.target("/base", timeout="2")},
                                 mirror=ONE_WORKER)
        self.put(self.ftp(srv), "/a.bin", self.rand(4096))
        self.assertTrue(wait_for(lambda: self.log_lines(
            srv, "mirror push failed target=h path=/alice/a.bin"),
            timeout=60), self.diag(srv))
        line = self.log_lines(srv, "mirror push failed target=h")[0]
        self.assertIn("STOR", h.seen)
        self.assertIn("sent the whole file (4096 bytes) and the target "
                      "never confirmed it", line)
        self.assertEqual(self.log_lines(srv, "mirror push target=h"), [])
        self.assertTrue(srv.alive())


    def test_an_empty_file_whose_stor_gets_no_answer_is_not_said_sent(self):
        # The target never answers STOR at all (no 150): nothing went
        # out. An empty file's range is whole before a byte is sent, so
        # the error said "sent the whole file (0 bytes) and the target
        # never confirmed it", pointing the admin at a data connection
        # that was never opened.
        class Mute(FTPHandler):
            def ftp_STOR(self, file, mode="w"):
                self.seen.append("STOR")
        h = self.hostile(Mute)
        srv = self.mirror_server({"h": h.target("/base", timeout="2")},
                                 mirror=ONE_WORKER)
        self.put(self.ftp(srv), "/e.bin", b"")
        self.assertTrue(wait_for(lambda: self.log_lines(
            srv, "mirror push failed target=h path=/alice/e.bin"),
            timeout=60), self.diag(srv))
        line = self.log_lines(srv, "mirror push failed target=h")[0]
        self.assertIn("STOR", h.seen)
        self.assertIn("timeout", line)
        self.assertNotIn("sent the whole file", line)
        self.assertTrue(srv.alive())

if __name__ == "__main__":
    unittest.main()
