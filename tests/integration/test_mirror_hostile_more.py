#!/usr/bin/env python3
"""FTP targets that attack the relay (README "Mirror"): what
test_mirror_hostile.py does not cover.

The targets are pyftpdlib servers run in this process, each with a
handler whose one command answers as a compromised or broken server
would. What the relay must do whatever a target says: not crash nor
hang, connect nowhere but the target's address, not publish or report a
file pushed that is not there, and tell the admin which target and why.
"""
import os
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pyftpdlib.authorizers import DummyAuthorizer  # noqa: E402
from pyftpdlib.handlers import (  # noqa: E402
    BufferedIteratorProducer, FTPHandler)
from pyftpdlib.servers import FTPServer  # noqa: E402

import test_mirror_more  # noqa: E402
from harness import wait_for  # noqa: E402

MB = 1024 * 1024
ONE_WORKER = {"watch": "off", "workers_per_target": "1",
              "retry_initial": "1", "retry_max": "2",
              "express_max_size": "0"}


class HostileFtp:
    """A pyftpdlib server in a thread of this process, rooted at a
    temporary folder, with the handler class given (a subclass of
    FTPHandler with the attack). seen: what the handler recorded."""

    def __init__(self, handler=FTPHandler):
        self.tmp = tempfile.mkdtemp(prefix="rftp-hostile-")
        self.root = os.path.join(self.tmp, "root")
        os.makedirs(self.root)
        auth = DummyAuthorizer()
        auth.add_user("u", "p", self.root, perm="elradfmwMT")
        self.seen = []
        cls = type("Attack", (handler,), {"authorizer": auth,
                                          "seen": self.seen})
        self.server = FTPServer(("127.0.0.1", 0), cls)
        self.port = self.server.socket.getsockname()[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"timeout": 0.2},
            daemon=True)
        self.thread.start()

    def stop(self):
        self.server.close_all()
        self.thread.join(10)

    def target(self, path="/base", **extra):
        spec = {"url": "ftp://127.0.0.1:%d%s" % (self.port, path),
                "user": "u", "password": "p"}
        spec.update(extra)
        return spec

    def dir(self, *parts):
        return os.path.join(self.root, *parts)


def peak_rss_kb(pid):
    """The process's peak resident memory (VmHWM), in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM for %d" % pid)


class MoreHostileTest(test_mirror_more.Base):

    def hostile(self, handler=FTPHandler):
        h = HostileFtp(handler)
        self.addCleanup(h.stop)
        return h

    def push_one(self, h, data, name="a.bin", **spec):
        srv = self.mirror_server({"h": h.target("/base", **spec)},
                                 mirror=ONE_WORKER)
        self.put(self.ftp(srv), "/" + name, data)
        return srv

    def test_a_reply_of_a_megabyte_is_named_in_the_error(self):
        # SIZE answered with a 1 MB multi-line reply: libcurl stops
        # reading at 300 KiB and ends the connection. The error said
        # "the connection to the target ended before its reply came (its
        # server stopped ...)": the admin looked for a crash or a network
        # cut. It now says the target sent too much; the daemon goes on
        # and nothing is reported pushed.
        class Big(FTPHandler):
            def ftp_SIZE(self, path):
                self.seen.append("SIZE")
                self.push("213-" + "x" * 1000 + "\r\n")
                for _ in range(1000):
                    self.push(" " + "y" * 1000 + "\r\n")
                return super().ftp_SIZE(path)
        h = self.hostile(Big)
        srv = self.push_one(h, self.rand(1000))
        why = ("the target sent a reply longer than any FTP server sends "
               "for one command")
        self.assertTrue(wait_for(lambda: self.log_lines(
            srv, "mirror push failed target=h path=/alice/a.bin"),
            timeout=30), self.diag(srv))
        line = self.log_lines(srv, "mirror push failed target=h")[0]
        self.assertIn(why, line)
        self.assertNotIn("server stopped", line)
        self.assertTrue(wait_for(lambda: why in srv.status()["h"][
            "last_error"], timeout=10), srv.status_raw().stdout)
        self.assertEqual(self.log_lines(srv, "mirror push target=h"), [])
        self.assertTrue(srv.alive())


    def test_a_listing_of_100_mb_costs_the_daemon_no_more_memory(self):
        # A target that refuses SIZE (550) is verified from its folder's
        # listing; this one answers that MLSD with 100 MB of entries
        # (never the copy's). The daemon read the whole listing into
        # memory first (up to 256 MiB a worker, workers_per_target of
        # them at once; 42 MB more here, 200 MB with a 400 MB listing).
        # It now reads it line by line (6 MB more here, the upload's
        # session included); the push fails saying the copy is not
        # there.
        line = b"type=file;size=1; " + b"f" * 100 + b"\r\n"
        chunk = line * (MB // len(line))

        class Flood(FTPHandler):
            def ftp_SIZE(self, path):
                self.respond("550 Permission denied.")

            def ftp_MLSD(self, path):
                self.seen.append("MLSD")
                self.push_dtp_data(BufferedIteratorProducer(
                    iter([chunk] * 100)), isproducer=True, cmd="MLSD")
        h = self.hostile(Flood)
        srv = self.mirror_server({"h": h.target("/base")},
                                 mirror=ONE_WORKER)
        before = peak_rss_kb(srv.proc.pid)
        self.put(self.ftp(srv), "/a.bin", self.rand(1000))
        self.assertTrue(wait_for(lambda: self.log_lines(
            srv, "mirror push failed target=h path=/alice/a.bin"),
            timeout=60), self.diag(srv))
        grown = peak_rss_kb(srv.proc.pid) - before
        self.assertTrue(h.seen, "the verify listed nothing")
        line = self.log_lines(srv, "mirror push failed target=h")[0]
        self.assertIn("its folder's listing lacks it", line)
        self.assertEqual(self.log_lines(srv, "mirror push target=h"), [])
        self.assertLess(grown, 16 * 1024, "the daemon grew by %d KiB "
                        "reading a 100 MB listing" % grown)

    def test_resync_against_a_listing_of_half_a_million(self):
        # A folder of 2,000 files here; the target lists 500,000 others
        # in it (a hostile target, or a big folder). resync looked for
        # each file by walking the whole listing: 2,000 x 500,000 name
        # comparisons (3,000 against 1,000,000 took 96 s). It now
        # sorts the listing once and searches it.
        n = 500000

        class Many(FTPHandler):
            def ftp_MLSD(self, path):
                self.seen.append(path)

                def lines():
                    for k in range(0, n, 10000):
                        yield b"".join(b"type=file;size=1; z%07d\r\n" % i
                                       for i in range(k, k + 10000))
                self.push_dtp_data(BufferedIteratorProducer(lines()),
                                   isproducer=True, cmd="MLSD")
        h = self.hostile(Many)
        files = {"f%05d" % i: b"x" for i in range(2000)}
        files["z0012345"] = b"y"  # listed there with its size
        srv = self.mirror_server({"h": h.target("/base")}, prefill=files,
                                 mirror=ONE_WORKER)
        os.makedirs(h.dir("base", "alice"), exist_ok=True)
        t0 = time.monotonic()
        r = srv.mirror_cmd("resync", "--config", srv.config_path, "h",
                           timeout=120)
        took = time.monotonic() - t0
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(h.seen, "resync listed nothing")
        # (Files the daemon's start-up walk queued are not queued again.)
        self.assertIn("resync h: 2001 files compared,", r.stdout)
        self.assertNotIn("z0012345", r.stdout)
        # Old code: 33 s here; now 3 s, most of it the target's Python.
        self.assertLess(took, 15, "resync took %.1f s" % took)


if __name__ == "__main__":
    unittest.main()
