"""Session and data-channel states are traced at log_level = debug.

Every change of a session's state (greeted, need-pass, logged-in, closing)
and of its data-channel setup (none, passive, active) goes through one
function that logs "from -> to" (OpenSMTPD's smtp_enter_state), so an
admin reading a debug log sees the life of a session in order: USER, PASS,
EPSV, a LIST that consumes the passive setup, PORT, ABOR, REIN, a second
login and QUIT. A failed PASS goes back from need-pass to greeted.
"""
import os
import re
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Control, Server, recv_all, wait_for  # noqa: E402

TRANSITION = re.compile(r"\[(\d+) [^\]]*\] (session|data channel) "
                        r"([a-z-]+) -> ([a-z-]+)$")


def transitions(srv, session_id):
    """The (kind, from, to) lines the log holds for one session, in order."""
    out = []
    for line in srv.log_text().splitlines():
        m = TRANSITION.search(line)
        if m and m.group(1) == session_id:
            out.append((m.group(2), m.group(3), m.group(4)))
    return out


def session_id(srv):
    """The id of the last session that connected."""
    pat = re.compile(r"\[(\d+) 127\.0\.0\.1 -\] connected")
    ids = pat.findall(srv.log_text())
    return ids[-1] if ids else None


class StatesTest(unittest.TestCase):
    def setUp(self):
        self.srv = Server(server={"log_level": "debug"})
        self.addCleanup(self.srv.cleanup)
        self.addCleanup(self.srv.stop)

    def test_life_of_a_session(self):
        with Control(self.srv.port) as c:
            self.assertTrue(wait_for(
                lambda: session_id(self.srv) is not None))
            sid = session_id(self.srv)
            c.login()
            data = c.epsv()
            code, text = c.cmd("LIST")
            self.assertEqual(code, 150, text)
            recv_all(data)
            data.close()
            code, text = c.reply()
            self.assertEqual(code, 226, text)
            # An active setup to the client's own port, then dropped.
            listener = socket.socket()
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            port = listener.getsockname()[1]
            self.addCleanup(listener.close)
            code, text = c.cmd("PORT 127,0,0,1,%d,%d" % (port >> 8,
                                                         port & 255))
            self.assertEqual(code, 200, text)
            code, text = c.cmd("ABOR")
            self.assertEqual(code, 225, text)
            code, text = c.cmd("REIN")
            self.assertEqual(code, 220, text)
            code, text = c.cmd("USER alice")
            self.assertEqual(code, 331, text)
            code, text = c.cmd("PASS wrong")
            self.assertEqual(code, 530, text)
            c.login()
            code, text = c.cmd("QUIT")
            self.assertEqual(code, 221, text)
        want = [
            ("session", "greeted", "need-pass"),
            ("session", "need-pass", "logged-in"),
            ("data channel", "none", "passive"),
            ("data channel", "passive", "none"),
            ("data channel", "none", "active"),
            ("data channel", "active", "none"),
            ("session", "logged-in", "greeted"),
            ("session", "greeted", "need-pass"),
            ("session", "need-pass", "greeted"),
            ("session", "greeted", "need-pass"),
            ("session", "need-pass", "logged-in"),
            ("session", "logged-in", "closing"),
        ]
        ok = wait_for(lambda: transitions(self.srv, sid) == want)
        self.assertTrue(ok, "transitions %r\nlog:\n%s" % (
            transitions(self.srv, sid), self.srv.log_text()))


if __name__ == "__main__":
    unittest.main()
