"""The control connection keeps its line structure and sees ABOR in time.

- Names a local program gave a CR or LF ("a\\r\\n226 fake", "b\\nc") never
  reach the control connection raw (STAT <path>) nor the listings (LIST,
  NLST, MLSD): they are left out, with a log line, and no reply is forged.
- An ABOR pipelined behind another command ("NOOP\\r\\nABOR\\r\\n" in one
  send) during a RETR that the client does not read is seen at once: 426,
  226, then the NOOP's 200 (ABOR is urgent, RFC 959 4.1.3; the lines before
  it are answered after it, in order). The same when the ABOR came in the
  same packet as the RETR.
- An ABOR while the server waits for the data connection (the client never
  opens it) is answered at once (426, 226), not at data_timeout.
- A STAT sent during a transfer, first in line, is answered at once with
  the transfer's status (RFC 959 4.1.3), and the transfer goes on; a STAT
  behind another line waits its turn.
"""
import os
import re
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import (Control, Server, recv_all,  # noqa: E402
                     wait_for)

EVIL = ["a\r\n226 fake", "b\nc", "d\re"]
LONG_LINE = re.compile(r"^[-dl][-rwx]{9} +\d+ ftp +ftp +\d+ \w{3} [ \d]\d "
                       r"[ \d]\d[:\d]\d\d (.+)$")


def raw_lines(c, until):
    """Reads whole CRLF lines from Control c until one starts with until;
    returns them (any bare CR or LF stays inside its line)."""
    lines = []
    while True:
        line = c._line()
        lines.append(line)
        if line.startswith(until):
            return lines


class CrLfNamesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server()
        home = cls.srv.home("alice")
        os.makedirs(os.path.join(home, "sub"))
        for name in EVIL + ["plain.txt"]:
            with open(os.path.join(home, name), "wb") as f:
                f.write(b"x")
        with open(os.path.join(home, "sub", "a\r\n226 fake2"), "wb"):
            pass

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()

    def listing(self, c, verb):
        data = c.epsv()
        self.assertEqual(c.cmd(verb)[0], 150)
        body = recv_all(data).decode("utf-8", errors="replace")
        self.assertEqual(c.reply()[0], 226)
        self.assertTrue(body.endswith("\r\n"), repr(body))
        lines = body[:-2].split("\r\n")
        for line in lines:
            self.assertNotIn("\r", line, repr(body))
            self.assertNotIn("\n", line, repr(body))
        return lines

    def test_stat_path(self):
        with Control(self.srv.port) as c:
            c.login()
            c.send("STAT .")
            c.send("NOOP")
            lines = raw_lines(c, "200 ")
        # The whole exchange: the STAT reply, then the NOOP's 200; no
        # line a name made up.
        self.assertEqual(lines[0], "213-Status of /:", lines)
        self.assertEqual(lines[-2], "213 End of status", lines)
        names = []
        for line in lines[1:-2]:
            m = LONG_LINE.match(line)
            self.assertIsNotNone(m, "forged or broken line %r in %r" %
                                 (line, lines))
            names.append(m.group(1))
        self.assertEqual(sorted(names), ["plain.txt", "sub"])
        for line in lines:
            self.assertNotIn("\r", line)
            self.assertNotIn("\n", line)
        self.assertTrue(wait_for(
            lambda: "names holding CR or LF not shown" in self.srv.log_text(),
            timeout=5))

    def test_stat_sub(self):
        with Control(self.srv.port) as c:
            c.login()
            c.send("STAT sub")
            c.send("NOOP")
            lines = raw_lines(c, "200 ")
            self.assertEqual(lines, ["213-Status of /sub:",
                                     "213 End of status", lines[-1]])

    def test_list_nlst_mlsd(self):
        with Control(self.srv.port) as c:
            c.login()
            nlst = self.listing(c, "NLST")
            self.assertEqual(sorted(nlst), ["plain.txt", "sub"])
            names = []
            for line in self.listing(c, "LIST"):
                m = LONG_LINE.match(line)
                self.assertIsNotNone(m, line)
                names.append(m.group(1))
            self.assertEqual(sorted(names), ["plain.txt", "sub"])
            mlsd = self.listing(c, "MLSD")
            names = sorted(line.split(" ", 1)[1] for line in mlsd
                           if "type=cdir" not in line)
            self.assertEqual(names, ["plain.txt", "sub"])
            self.assertEqual(c.cmd("NOOP")[0], 200)


class PipelinedAborTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # data_timeout far above the reply waits: a missed ABOR shows as
        # a timeout of the test, not as a data timeout's 426.
        cls.srv = Server(server={"data_timeout": "60"})
        home = cls.srv.home("alice")
        os.makedirs(home)
        with open(os.path.join(home, "big.bin"), "wb") as f:
            f.truncate(1 << 30)  # sparse

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()

    def start_stalled_retr(self, c, tail=b""):
        data = c.epsv()
        data.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.send(b"RETR big.bin\r\n" + tail)
        self.assertEqual(c.reply()[0], 150)
        return data

    def test_noop_abor_in_one_send(self):
        with Control(self.srv.port) as c:
            c.login()
            data = self.start_stalled_retr(c)
            # The server is blocked on a data connection nobody reads.
            data.recv(1024)
            c.send(b"NOOP\r\nABOR\r\n")
            code, text = c.reply()
            self.assertEqual(code, 426, text)
            code, text = c.reply()
            self.assertEqual(code, 226, text)
            self.assertEqual(c.reply()[0], 200)  # the NOOP, after
            data.close()
            self.assertEqual(c.cmd("NOOP")[0], 200)

    def test_abor_in_the_retr_packet(self):
        with Control(self.srv.port) as c:
            c.login()
            data = self.start_stalled_retr(c, b"NOOP\r\nABOR\r\n")
            code, text = c.reply()
            self.assertEqual(code, 426, text)
            self.assertEqual(c.reply()[0], 226)
            self.assertEqual(c.reply()[0], 200)
            data.close()
            self.assertEqual(c.cmd("NOOP")[0], 200)

    def test_abor_before_the_data_connection(self):
        # Found from outside: while the server waited for the client to
        # open the data connection, ABOR was answered only at
        # data_timeout (60 s here), with 425 and 225.
        for verb in ("RETR big.bin", "STOR never.bin"):
            with Control(self.srv.port) as c:
                c.login()
                code, text = c.cmd("EPSV")
                self.assertEqual(code, 229, text)
                c.send(verb.encode() + b"\r\n")
                self.assertEqual(c.reply()[0], 150)
                t0 = time.monotonic()
                c.send(b"NOOP\r\nABOR\r\n")
                self.assertEqual(c.reply()[0], 426, verb)
                self.assertEqual(c.reply()[0], 226, verb)
                self.assertEqual(c.reply()[0], 200)  # the NOOP, after
                self.assertLess(time.monotonic() - t0, 5)
                self.assertEqual(c.cmd("NOOP")[0], 200)
        self.assertFalse(os.path.exists(
            os.path.join(self.srv.home("alice"), "never.bin")))
        self.assertIn("data connection not awaited: ABOR",
                      self.srv.log_text())

    def test_half_close_before_the_data_connection(self):
        # "RETR f", "QUIT" and a half-close in one go (printf | nc -N):
        # the wait for the data connection ended at the control side's
        # FIN with 426 and nothing was sent, and then a big download was
        # cut at the transfer's first look at the control connection,
        # with a clean end a script would take for the whole file (found
        # by review). A download goes on: the file, 226 and 221. Passive
        # mode, the data connection made once the server saw the FIN.
        body = os.urandom(8 << 20)
        with open(os.path.join(self.srv.home("alice"), "hc.bin"),
                  "wb") as f:
            f.write(body)
        with Control(self.srv.port) as c:
            c.login()
            port = c.epsv_port()
            c.send(b"TYPE I\r\nRETR hc.bin\r\nQUIT\r\n")
            c.sock.shutdown(socket.SHUT_WR)
            self.assertEqual([c.reply()[0] for _ in range(2)], [200, 150])
            d = socket.create_connection(("127.0.0.1", port), timeout=10)
            got = recv_all(d, 30)
            self.assertEqual(len(got), len(body))
            self.assertEqual(got, body)
            self.assertEqual([c.reply()[0] for _ in range(2)], [226, 221])

    def test_half_close_before_an_upload_ends_it(self):
        # A clear-text upload's client that closed its side may have been
        # killed (finwatch.c): the wait ends at once, nothing is stored.
        with Control(self.srv.port) as c:
            c.login()
            code, text = c.cmd("EPSV")
            self.assertEqual(code, 229, text)
            c.send(b"STOR hc-up.bin\r\n")
            self.assertEqual(c.reply()[0], 150)
            t0 = time.monotonic()
            c.sock.shutdown(socket.SHUT_WR)
            self.assertEqual(c.reply()[0], 426)
            self.assertLess(time.monotonic() - t0, 30)
        self.assertFalse(os.path.exists(
            os.path.join(self.srv.home("alice"), "hc-up.bin")))

    def test_abor_in_the_fins_segment(self):
        # ABOR and the half-close in one segment: the wait read nothing
        # once it saw the FIN and answered at data_timeout (found by
        # review).
        with Control(self.srv.port) as c:
            c.login()
            self.assertEqual(c.cmd("EPSV")[0], 229)
            c.send(b"RETR big.bin\r\n")
            self.assertEqual(c.reply()[0], 150)
            c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
            c.sock.send(b"ABOR\r\n")
            c.sock.shutdown(socket.SHUT_WR)  # sends what the cork held
            t0 = time.monotonic()
            self.assertEqual(c.reply()[0], 426)
            self.assertEqual(c.reply()[0], 226)
            self.assertLess(time.monotonic() - t0, 30)

    def test_stat_during_a_stalled_retr(self):
        # RFC 959 4.1.3: STAT during a transfer is answered at once with
        # the transfer's status; it was answered only at data_timeout.
        with Control(self.srv.port) as c:
            c.login()
            data = self.start_stalled_retr(c)
            data.recv(1024)
            c.send(b"STAT\r\n")
            lines = raw_lines(c, "213 ")
            self.assertTrue(lines[0].startswith("213-"), lines)
            m = re.search(r"sending, (\d+) bytes so far", " ".join(lines))
            self.assertIsNotNone(m, lines)
            self.assertGreater(int(m.group(1)), 0)
            self.assertLess(int(m.group(1)), 1 << 30)
            # The transfer goes on: ABOR still stops it, then the session
            # serves as before.
            c.send(b"ABOR\r\n")
            self.assertEqual(c.reply()[0], 426)
            self.assertEqual(c.reply()[0], 226)
            data.close()
            self.assertEqual(c.cmd("NOOP")[0], 200)

    def test_stat_pipelined_behind_retr_keeps_its_turn(self):
        # "RETR f\r\nSTAT\r\n" in one send: the STAT was sent before the
        # transfer began, so a client pairing replies in order expects
        # the transfer's 226 first; it got 150, 213, 226 (found by
        # review) and took the 213 for the RETR's.
        with open(os.path.join(self.srv.home("alice"), "mid.bin"),
                  "wb") as f:
            f.truncate(64 << 20)
        with Control(self.srv.port) as c:
            c.login()
            data = c.epsv()
            c.send(b"RETR mid.bin\r\nSTAT\r\n")
            self.assertEqual(c.reply()[0], 150)
            # The data is not read yet: the server's sends block, and it
            # looks at the control connection meanwhile. Nothing may come
            # there before the transfer ends.
            c.sock.settimeout(1.5)
            with self.assertRaises(socket.timeout):
                c.sock.recv(1024)
            c.sock.settimeout(30)
            self.assertEqual(len(recv_all(data, 30)), 64 << 20)
            self.assertEqual(c.reply()[0], 226)
            self.assertEqual(c.reply()[0], 211)  # STAT, no transfer now
            self.assertEqual(c.cmd("NOOP")[0], 200)

    def test_stat_after_the_150_is_answered_during_the_transfer(self):
        # A STAT sent once the 150 came, before the data connection: the
        # client saw the transfer begin, so it is answered during it (the
        # pipelined rule above took it for one sent before).
        with Control(self.srv.port) as c:
            c.login()
            port = c.epsv_port()
            c.send(b"RETR big.bin\r\n")
            self.assertEqual(c.reply()[0], 150)
            c.send(b"STAT\r\n")
            # The server reads it while it waits for the data connection
            # (the case that went wrong; either order must work).
            time.sleep(0.3)
            data = socket.socket()
            data.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            data.connect(("127.0.0.1", port))
            data.recv(1024)
            lines = raw_lines(c, "213 ")
            self.assertTrue(lines[0].startswith("213-"), lines)
            c.send(b"ABOR\r\n")
            self.assertEqual(c.reply()[0], 426)
            self.assertEqual(c.reply()[0], 226)
            data.close()
            self.assertEqual(c.cmd("NOOP")[0], 200)

    def test_stat_during_a_stalled_stor(self):
        with Control(self.srv.port) as c:
            c.login()
            data = c.epsv()
            c.send(b"STOR part.bin\r\n")
            self.assertEqual(c.reply()[0], 150)
            data.sendall(b"x" * 100000)
            # The server has taken them all once STAT counts them.
            seen = []

            def counted():
                c.send(b"STAT\r\n")
                lines = raw_lines(c, "213 ")
                seen.append(lines)
                m = re.search(r"receiving, (\d+) bytes so far",
                              " ".join(lines))
                return m is not None and int(m.group(1)) == 100000
            self.assertTrue(wait_for(counted, timeout=10), seen[-1:])
            # A line before a STAT keeps its turn: NOOP, then STAT, both
            # answered after the transfer, in their order.
            c.send(b"NOOP\r\nSTAT\r\n")
            data.close()
            self.assertEqual(c.reply()[0], 226)
            self.assertEqual(c.reply()[0], 200)
            lines = raw_lines(c, "211 ")
            self.assertTrue(lines[0].startswith("211-"), lines)
            self.assertEqual(
                os.path.getsize(os.path.join(self.srv.home("alice"),
                                             "part.bin")), 100000)


if __name__ == "__main__":
    unittest.main(verbosity=2)
