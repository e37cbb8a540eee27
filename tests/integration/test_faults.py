#!/usr/bin/env python3
"""System calls that fail under the daemon (faultshim.c makes them):
each gets a correct reply and a log line, and the daemon goes on serving
once the condition ends. Runs in a few seconds.
"""
import os
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from faults import Faults  # noqa: E402
from harness import Control, Server, wait_for  # noqa: E402


def tasks(pid):
    return len(os.listdir("/proc/%d/task" % pid))


def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class SessionThreadTest(unittest.TestCase):
    """No thread for a new session (RLIMIT_NPROC, memory): the client
    waited for a greeting that came only once some other session had
    ended, perhaps hours later, its connection queued with no thread to
    take it (found by fault injection). Now it gets 421 at once and the
    others are served as before."""

    def test_no_thread_is_421_and_others_go_on(self):
        inj = Faults(self)
        srv = inj.start(lambda: Server(server={"max_clients": "8"}))
        self.addCleanup(srv.cleanup)
        first = Control(srv.port)
        self.addCleanup(first.close)
        first.login()
        before = (fds(srv.proc.pid), tasks(srv.proc.pid))
        inj.arm("pthread_create 11 0 1")
        try:
            c = Control(srv.port, timeout=10)
        except socket.timeout:
            self.fail("no reply without a session thread\n" +
                      srv.log_text()[-2000:])
        finally:
            inj.disarm()
        self.addCleanup(c.close)
        self.assertEqual(c.greeting[0], 421, c.greeting)
        self.assertEqual(c.sock.recv(100), b"")  # closed
        self.assertTrue(wait_for(lambda: "refused: cannot start a session "
                                 "thread: Resource temporarily unavailable"
                                 in srv.log_text(), timeout=10),
                        srv.log_text()[-2000:])
        # The session already in and a new one are served.
        self.assertEqual(first.cmd("PWD")[0], 257)
        again = Control(srv.port)
        self.addCleanup(again.close)
        again.login()
        self.assertEqual(again.cmd("QUIT")[0], 221)
        first.close()
        # Nothing kept of the refused one: once the sessions ended, the
        # daemon holds what it held with one session in.
        self.assertTrue(wait_for(
            lambda: fds(srv.proc.pid) <= before[0] - 1, timeout=10),
            (before, fds(srv.proc.pid)))
        self.assertLessEqual(tasks(srv.proc.pid), before[1] + 1)


if __name__ == "__main__":
    unittest.main()
