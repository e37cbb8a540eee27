"""What an idle session gives back, it gets again when work comes.

A session that waits for its next command longer than RFTP_IDLE_TRIM_MS
(100 ms) gives back the memory a deep or long command used: the stack
pages below its waiting frame, a command buffer grown for a long line, a
rename source nobody waits for (issue 10: idle sessions cost at most 32
KiB, test_many_sessions measures it). Paths and lines live in buffers
sized to them. None of that may change what a client sees:

- long command lines (up to the 8 KiB limit) work before and after an idle
  pause, sent whole or trickled in pieces; a longer one is still 500 and
  the session goes on;
- the current folder of a deep, long path survives idle pauses (PWD);
- RNFR, an idle pause, RNTO still renames;
- replies longer than the short stack buffer (a PWD of a 3,000-byte path,
  a STAT header naming it) arrive whole.

The pauses are idleness the server must see (0.3 s, three times the trim
delay); the assertions are about replies and bytes on disk only.
"""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Control, Server  # noqa: E402

IDLE = 0.3  # > RFTP_IDLE_TRIM_MS


def quote(path):
    """RFC 959 appendix II: a quote in a PWD/MKD reply is doubled."""
    return '"%s"' % path.replace('"', '""')


class IdleSessionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server()
        cls.home = cls.srv.home("alice")
        # 14 levels of 200-byte names with a quote, a space and UTF-8:
        # a 2,800-byte path, past any short buffer.
        parts = []
        for i in range(14):
            parts.append(('%02d say "hi" ü ' % i).ljust(200, "x"))
        cls.parts = parts
        os.makedirs(os.path.join(cls.home, *parts))

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()

    def test_long_lines_before_and_after_idle(self):
        name = "n" * 250
        with Control(self.srv.port) as c:
            c.login()
            # A 3,800-byte path that does not exist: the 550 names it,
            # a reply far longer than the short stack buffer.
            long_arg = "/".join([name] * 15)
            for trickle in (False, True):
                time.sleep(IDLE)
                line = ("SIZE /" + long_arg + "\r\n").encode()
                if trickle:
                    for i in range(0, len(line), 1000):
                        c.send(line[i:i + 1000])
                        time.sleep(0.01)
                else:
                    c.send(line)
                code, text = c.reply()
                self.assertEqual(code, 550, text[:200])
                self.assertIn("/" + long_arg, text)
            # 8,180 bytes, just under the limit: still one command.
            time.sleep(IDLE)
            c.send("NOOP " + "y" * 8175)
            self.assertEqual(c.reply()[0], 200)
            time.sleep(IDLE)
            # Past the limit: refused, the session goes on.
            c.send("NOOP " + "z" * 9000)
            self.assertEqual(c.reply()[0], 500)
            self.assertEqual(c.cmd("NOOP")[0], 200)
            time.sleep(IDLE)
            self.assertEqual(c.cmd("NOOP")[0], 200)

    def test_deep_cwd_survives_idle(self):
        path = "/" + "/".join(self.parts)
        with Control(self.srv.port) as c:
            c.login()
            code, text = c.cmd("CWD " + path)
            self.assertEqual(code, 250, text)
            time.sleep(IDLE)
            code, text = c.cmd("PWD")
            self.assertEqual(code, 257)
            self.assertEqual(text, "257 %s is the current directory." %
                             quote(path))
            # The STAT header names the folder: a long multi-line start.
            code, text = c.cmd("STAT .")
            self.assertEqual(code, 213, text[:200])
            self.assertEqual(text.split("\n")[0],
                             "213-Status of %s:" % path)
            time.sleep(IDLE)
            self.assertEqual(c.cmd("CDUP")[0], 250)
            self.assertEqual(c.cmd("PWD")[1],
                             "257 %s is the current directory." %
                             quote(path.rsplit("/", 1)[0]))
            # A new login starts at / again.
            self.assertEqual(c.cmd("REIN")[0], 220)
            c.login()
            self.assertEqual(c.cmd("PWD")[1],
                             '257 "/" is the current directory.')

    def test_rename_across_idle(self):
        src = os.path.join(self.home, "before idle.txt")
        with open(src, "wb") as f:
            f.write(b"kept")
        with Control(self.srv.port) as c:
            c.login()
            self.assertEqual(c.cmd("RNFR before idle.txt")[0], 350)
            time.sleep(IDLE)
            code, text = c.cmd("RNTO after idle.txt")
            self.assertEqual(code, 250, text)
            # The source is not kept for a second RNTO.
            time.sleep(IDLE)
            self.assertEqual(c.cmd("RNTO again.txt")[0], 503)
        self.assertFalse(os.path.exists(src))
        with open(os.path.join(self.home, "after idle.txt"), "rb") as f:
            self.assertEqual(f.read(), b"kept")


if __name__ == "__main__":
    unittest.main(verbosity=2)
