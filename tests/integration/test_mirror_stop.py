#!/usr/bin/env python3
"""SIGTERM stops the daemon at once, even when a target stopped answering.

A worker keeps its connection to the target between pushes. At shutdown
libcurl says QUIT on it and waits for the answer: a target whose host
froze (here: a pyftpdlib target stopped with SIGSTOP after one push) held
the daemon for the FTP response timeout, 60 s, past systemd's stop
timeout (TimeoutStopSec=30s), with the FTP port closed all along and the
log saying "stopped" a minute before the process ended (found by an
outside test). The connection is now ended first at shutdown, so the
goodbye fails at once: the daemon exits within a few seconds.

After a kill -9, `mirror status` still shows the jobs that were in flight
as running (they are redone at the next start); it now says on stderr
that no running relayftpd holds the queue, and says nothing of the kind
while one does.
"""
import ftplib
import io
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import wait_for  # noqa: E402
from mirror_targets import (MirrorServer, PyftpdTarget,  # noqa: E402
                            sigterm_timed)


def mirror_with_upload(case, name, data, **target_opts):
    """A pyftpdlib target and a relayftpd mirroring to it, both removed at
    case's cleanup, after alice uploaded name holding data."""
    p = PyftpdTarget(**target_opts)
    case.addCleanup(p.cleanup)
    srv = MirrorServer(users={"alice": {"password": "pw"}},
                       mirror={"watch": "off"},
                       targets={"p": p.target("/base")})
    case.addCleanup(srv.cleanup)
    f = ftplib.FTP()
    f.connect("127.0.0.1", srv.port, timeout=30)
    f.login("alice", "pw")
    f.storbinary("STOR " + name, io.BytesIO(data))
    f.quit()
    return p, srv


class FrozenTargetStopTest(unittest.TestCase):

    def test_sigterm_with_a_frozen_target(self):
        p, srv = mirror_with_upload(self, "warm.txt", b"warm")
        path = p.dir("base", "alice", "warm.txt")
        self.assertTrue(wait_for(lambda: os.path.exists(path), timeout=20),
                        srv.log_text()[-3000:])
        # The target's host freezes; the worker's connection stays open.
        p.proc.send_signal(signal.SIGSTOP)
        self.addCleanup(p.proc.send_signal, signal.SIGCONT)
        time.sleep(0.5)
        rc, took = sigterm_timed(srv)
        self.assertEqual(rc, 0, "still running %.1f s after SIGTERM\n%s" %
                         (took, srv.log_text()[-3000:]))
        self.assertLess(took, 10, srv.log_text()[-3000:])



class StatusWithoutDaemonTest(unittest.TestCase):

    def test_status_says_when_no_daemon_holds_the_queue(self):
        # A target that takes 20 kB/s: the push stays in flight.
        _, srv = mirror_with_upload(self, "slow.bin", b"s" * 400000,
                                    read_limit=20000)
        self.assertTrue(wait_for(
            lambda: srv.status()["p"]["running"] == 1, timeout=20))
        r = srv.status_raw()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("no running relayftpd", r.stderr)
        srv.kill9()
        r = srv.status_raw()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("running=1", r.stdout)
        self.assertIn("no running relayftpd holds this queue", r.stderr)


if __name__ == "__main__":
    unittest.main()
