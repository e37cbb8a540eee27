"""An outsider's attacks on relayftpd set up as an admin would (a passive
range, quotas of bytes and files, log_level info), checked by what the
client is answered and what the admin reads in the log: every refusal
leaves a line that names the user, the command, the path and why.

Run: RELAYFTPD=build/relayftpd python3 tests/integration/test_outsider.py
"""
import concurrent.futures
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from daemon import free_port_range  # noqa: E402
from harness import Control, Server, make_cert, wait_for  # noqa: E402


class OutsiderCase(unittest.TestCase):
    """One server per class, as an admin sets it up (FTPS offered, and
    required of tls-user); alice's home made before the first login."""

    MORE_USERS = {}
    MORE_SERVER = {}

    @classmethod
    def setUpClass(cls):
        cls.certdir = tempfile.mkdtemp(prefix="rftp-outsider-")
        cls.cert, cls.key = make_cert(cls.certdir)
        users = {"alice": {"password": "alice-pw", "quota_bytes": "1M",
                           "quota_files": "50"},
                 "tls-user": {"password": "tls-pw",
                              "require_login_tls": "on",
                              "require_data_tls": "on"}}
        users.update(cls.MORE_USERS)
        cls.srv = Server(
            users=users,
            server=dict({"passive_ports": "%d-%d" % free_port_range(
                             41, ("0.0.0.0", "127.0.0.1")),
                         "max_clients": "200", "max_clients_per_ip": "200",
                         "log_level": "info"}, **cls.MORE_SERVER),
            sections={"tls": {"cert": cls.cert, "key": cls.key}})
        cls.home = cls.srv.home("alice")
        os.makedirs(cls.home, exist_ok=True)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.srv.stop(check=True)
        finally:
            cls.srv.cleanup()
            shutil.rmtree(cls.certdir, True)

    def session(self):
        c = Control(self.srv.port)
        self.addCleanup(c.close)
        c.login()
        return c

    def log_line(self, needle):
        """The log's last line holding needle, waited for (10 s)."""
        def find():
            hits = [line for line in self.srv.log_text().splitlines()
                    if needle in line]
            return hits[-1] if hits else None
        line = wait_for(find, timeout=10)
        self.assertIsNotNone(line, "no log line with %r in:\n%s" %
                             (needle, self.srv.log_text()[-3000:]))
        return line


class RefusalLogTests(OutsiderCase):
    """A 550 for permission (a DELE, RMD, RNFR or MKD of the home), a name
    that exists, a folder not empty or a name that is not a plain file
    left no log line at all: only a path that is not there was logged
    (src/server/reply.c, log_refused). An admin asked why a client's
    command failed, or looking for someone trying to remove the home,
    found "logged in" and "closed" only."""


    def test_each_refusal_of_a_path_is_logged(self):
        os.makedirs(os.path.join(self.home, "full"), exist_ok=True)
        with open(os.path.join(self.home, "full", "in.txt"), "wb") as f:
            f.write(b"x")
        c = self.session()
        cases = [("DELE", "/", 550, "Permission denied", "(/)"),
                 ("RMD", "..", 550, "Permission denied", "(/)"),
                 ("RNFR", ".", 550, "Permission denied", "(/)"),
                 ("MKD", "/", 550, "Permission denied", "(/)"),
                 ("MKD", "full", 550, "File exists", "(/full)"),
                 ("RMD", "full", 550, "Directory not empty", "(/full)"),
                 ("SIZE", "full", 550, "Is a directory", "(/full)"),
                 ("HASH", "full", 550, "Not a plain file", "(/full)"),
                 ("MDTM", "full", 550, "Not a plain file", "(/full)")]
        for verb, path, code, why, where in cases:
            got, text = c.cmd("%s %s" % (verb, path))
            self.assertEqual(got, code, text)
            self.assertIn(why, text)
        for verb, path, code, why, where in cases:
            line = self.log_line('%s "%s" refused: %s' % (verb, path, why))
            self.assertIn(" alice] ", line)
            self.assertIn(" info ", line)
            self.assertIn(where, line)
        # The home is still there, and so is what it holds.
        self.assertTrue(os.path.isfile(os.path.join(self.home, "full",
                                                    "in.txt")))
        self.assertEqual(c.cmd("NOOP")[0], 200)

    def test_a_loop_of_them_is_not_a_flood(self):
        # 200 pipelined DELEs of the home: the first 16 lines and one
        # that says the rest are not logged, as for missing paths.
        c = self.session()
        n = 200
        c.send(b"".join(b"DELE /\r\n" for _ in range(n)) + b"NOOP\r\n")
        for _ in range(n):
            self.assertEqual(c.reply()[0], 550)
        self.assertEqual(c.reply()[0], 200)
        self.log_line("further refusals of other paths are not logged")
        sid = self.log_line("further refusals of other paths").split(
            "[", 1)[1].split()[0]
        lines = [line for line in self.srv.log_text().splitlines()
                 if '[%s ' % sid in line and 'DELE "/" refused' in line]
        self.assertEqual(len(lines), 17, "\n".join(lines))


class SequenceLogTests(OutsiderCase):
    """A command before the login (530), out of sequence (503 RNTO
    without RNFR, PBSZ or PROT before AUTH TLS, 533 CCC in clear text),
    not implemented (502 SMNT) or with a level or type the server has not
    (504 TYPE, MODE, STRU, AUTH, PROT) was refused with no log line:
    a scanner's probes left only "connected" and "closed"."""


    def test_each_refused_command_is_logged(self):
        c = Control(self.srv.port)
        self.addCleanup(c.close)
        before = [("LIST", 530, "command before login refused: LIST"),
                  ("STAT x", 530, "command before login refused: STAT"),
                  ("PASS x", 503,
                   "command out of sequence refused: PASS (Login with "
                   "USER first.)"),
                  ("AUTH FOO", 504, "argument refused: AUTH (not TLS)"),
                  ("CCC", 533, "command out of sequence refused: CCC"),
                  ("PROT P", 503, "command out of sequence refused: PROT")]
        for cmd, code, _ in before:
            self.assertEqual(c.cmd(cmd)[0], code, cmd)
        c.login()
        after = [("TYPE X", 504, "argument refused: TYPE (not A or I)"),
                 ("MODE B", 504, "argument refused: MODE (not S)"),
                 ("STRU R", 504, "argument refused: STRU (not F)"),
                 ("RNTO x", 503,
                  "command out of sequence refused: RNTO (Send RNFR "
                  "first.)"),
                 ("PBSZ 0", 503, "command out of sequence refused: PBSZ"),
                 ("SMNT /", 502, "unimplemented command refused: SMNT")]
        for cmd, code, _ in after:
            self.assertEqual(c.cmd(cmd)[0], code, cmd)
        for _, _, needle in before:
            self.assertIn(" -] ", self.log_line(needle))
        for _, _, needle in after:
            self.assertIn(" alice] ", self.log_line(needle))
        # A password sent out of sequence is not in the log.
        self.assertNotIn("PASS x", self.srv.log_text())
        self.assertEqual(c.cmd("NOOP")[0], 200)


class UploadRefusalLogTests(OutsiderCase):
    """An upload refused for its name being a folder (553), for a name
    another session is uploading (450, and a DELE of it), for a REST that does not match
    what is there (554), or for the bytes an APPE would copy past
    quota_bytes (552), and a RETR with a REST past the file's end (554),
    left no log line: the admin asked why a client's upload failed had
    "logged in" and "closed" only."""

    MORE_USERS = {"over": {"password": "over-pw", "quota_bytes": "1K"}}

    def test_each_upload_refusal_is_logged(self):
        os.makedirs(os.path.join(self.home, "folder"), exist_ok=True)
        with open(os.path.join(self.home, "three.txt"), "wb") as f:
            f.write(b"abc")
        # Past its quota before it is counted (files placed by other
        # means count): an APPE's copy of the file cannot fit.
        os.makedirs(self.srv.home("over"), exist_ok=True)
        with open(os.path.join(self.srv.home("over"), "big.bin"),
                  "wb") as f:
            f.write(b"x" * 4096)
        c = self.session()
        code, text = c.store("folder", b"x")
        self.assertEqual(code, 553, text)
        self.assertEqual(c.cmd("REST 10")[0], 350)
        code, text = c.store("new.bin", b"x")
        self.assertEqual(code, 554, text)
        self.assertEqual(c.cmd("REST 10")[0], 350)
        code, text = c.cmd("RETR three.txt")
        self.assertEqual(code, 554, text)
        # A name another session is uploading.
        other = self.session()
        d = other.epsv()
        self.addCleanup(d.close)
        self.assertEqual(other.cmd("STOR busy.bin")[0], 150)
        d.sendall(b"x")
        self.assertTrue(wait_for(lambda: os.path.exists(
            os.path.join(self.home, ".rftpd-partial.busy.bin")), 5))
        code, text = c.store("busy.bin", b"y")
        self.assertEqual(code, 450, text)
        code, text = c.cmd("DELE busy.bin")
        self.assertEqual(code, 450, text)
        d.close()
        self.assertEqual(other.reply()[0], 226)
        o = Control(self.srv.port)
        self.addCleanup(o.close)
        o.login("over", "over-pw")
        code, text = o.store("big.bin", b"y", verb="APPE")
        self.assertEqual(code, 552, text)
        for needle in ['STOR "folder" refused: Is a directory (/folder)',
                       'STOR "new.bin" refused: REST',
                       'RETR "three.txt" refused: REST',
                       'STOR "busy.bin" refused: being uploaded by another',
                       'DELE "busy.bin" refused: being uploaded by another',
                       "upload of /big.bin refused: byte quota"]:
            self.log_line(needle)
        self.assertEqual(c.cmd("NOOP")[0], 200)


class RefusalFloodTests(OutsiderCase):
    """One write of 1,000 pipelined commands refused for their path (a
    reserved or too long name, a CR in it), a quota (quota_files, ALLO),
    a permission (a read-only user's DELE, SITE CHMOD, MDTM set; SITE
    CHMOD of the home) wrote 1,000 log lines: a client could fill the
    admin's disk at the speed of its link. Each kind is capped as refused
    commands are: 16 lines, then one saying the rest are not logged."""

    MORE_USERS = {"full": {"password": "full-pw", "quota_files": "1",
                           "quota_bytes": "1K"},
                  "reader": {"password": "reader-pw", "permissions": "ro"}}
    N = 1000

    def flood(self, user, line):
        os.makedirs(self.srv.home(user), exist_ok=True)
        with open(os.path.join(self.srv.home(user), "f"), "wb") as f:
            f.write(b"x")
        c = Control(self.srv.port, timeout=30)
        self.addCleanup(c.close)
        c.login(user, user + "-pw")
        c.send(line * self.N + b"NOOP\r\n")
        codes = set()
        for _ in range(self.N):
            codes.add(c.reply()[0])
        self.assertEqual(c.reply()[0], 200)
        return codes

    def session_lines(self, needle):
        lines = [line for line in self.srv.log_text().splitlines()
                 if needle in line]
        sids = {line.split("[", 1)[1].split()[0] for line in lines}
        self.assertEqual(len(sids), 1, lines[:3])
        return lines

    def check(self, user, line, code, needle):
        self.assertEqual(self.flood(user, line), {code})
        # Its last line, written before the NOOP's reply was.
        self.assertIn(needle, self.log_line("are not logged"))
        lines = self.session_lines(needle)
        self.assertEqual(len(lines), 17, "%d lines of %r" %
                         (len(lines), needle))
        self.assertIn("are not logged", lines[-1])

    # (user, the line sent N times, its reply, the log line's text)
    CASES = [("alice", b"SIZE .rftpd-partial.x\r\n", 550,
              "path refused (Reserved file name)"),
             ("alice", b"MKD a\rb\r\n", 553,
              "path refused (Invalid character in path)"),
             ("full", b"MKD new\r\n", 552, "/new refused: file quota"),
             ("full", b"ALLO 99999\r\n", 552,
              "ALLO 99999 refused: over full's quota_bytes"),
             ("reader", b"DELE f\r\n", 550, "DELE refused: permission"),
             ("full", b"SITE CHMOD 700 /\r\n", 550,
              "SITE CHMOD of the home refused"),
             ("alice", b"LIST\r\n", 425,
              "command out of sequence refused: LIST"),
             ("alice", b"NOOP " + b"a" * 9000 + b"\r\n", 500,
              "command line over 8192 bytes refused")]

    def test_data_connections_that_fail_are_capped(self):
        # PORT to a port where no one listens, then LIST, 1,000 times in
        # one write: each connect is refused at once, and each wrote
        # "data connection failed or timed out" (1,000 lines).
        t = socket.socket()
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        t.close()
        line = ("PORT 127,0,0,1,%d,%d\r\nLIST\r\n" %
                (port >> 8, port & 255)).encode()
        c = Control(self.srv.port, timeout=60)
        self.addCleanup(c.close)
        c.login()
        c.send(line * self.N + b"NOOP\r\n")
        # PORT's 200, LIST's 150 and its 425, then the NOOP's 200.
        codes = [c.reply()[0] for _ in range(3 * self.N + 1)]
        self.assertEqual(codes.count(425), self.N)
        self.assertEqual(set(codes), {150, 200, 425})
        self.assertIn("data connection failed or timed out",
                      self.log_line("further data connection failures"))
        lines = self.session_lines("data connection failed or timed out")
        self.assertEqual(len(lines), 17, "%d lines" % len(lines))

    def test_each_kind_is_capped(self):
        for user, line, code, needle in self.CASES:
            with self.subTest(needle):
                self.check(user, line, code, needle)


class ReconnectFloodTests(OutsiderCase):
    """Each session logs 16 refusals of a kind, then one line saying the
    rest are not: a client that reconnects after each 16 had the server
    write 19 lines a connection (86,000 lines, 7 MB, in 3 s from one
    address). All sessions together log at most a burst of 200 such
    lines, then 50 a second, and a later line says how many were not
    logged."""

    # The strangers' test holds 36 passive ports from its PASVs through
    # its knocks: on a loaded host (make test's other files, ASan) the
    # knocks took more than 30 s, and the sessions' idle_timeout and
    # their listeners' data_timeout (30 s here) ended them first.
    MORE_SERVER = {"idle_timeout": "300", "data_timeout": "300"}
    BURST, RATE = 200, 50  # RFTP_CAPPED_LOG_BURST, _PER_SECOND

    def test_reconnecting_does_not_flood_the_log(self):
        needle = "unknown command refused: XXXX"
        before = self.srv.log_text().count(needle)
        t0 = time.monotonic()
        n = self.flood(3)
        seconds = time.monotonic() - t0
        self.assertGreater(n, 50, "too few connections to tell")
        logged = self.srv.log_text().count(needle) - before
        self.assertLessEqual(logged, self.BURST + self.RATE * (seconds + 1),
                             "%d lines from %d connections in %.1f s" %
                             (logged, n, seconds))

        # A refusal in a later second writes the count of those left out.
        def said():
            c = Control(self.srv.port)
            try:
                c.send(b"XXXX\r\n")
                c.reply()
            finally:
                c.close()
            return "refusal lines of sessions not logged" in \
                self.srv.log_text()
        self.assertTrue(wait_for(said, timeout=5),
                        self.srv.log_text()[-2000:])

    def flood(self, seconds, stop=None):
        """Connections of 20 unknown commands each, one after another,
        for seconds (or until stop is set); their count."""
        t0 = time.monotonic()
        n = 0
        while n < 5000 and time.monotonic() - t0 < seconds and \
                not (stop is not None and stop.is_set()):
            s = socket.create_connection(("127.0.0.1", self.srv.port),
                                         timeout=10)
            s.sendall(b"XXXX\r\n" * 20 + b"QUIT\r\n")
            # Read to the server's close: every reply was sent, so every
            # line the server meant to write is written.
            while s.recv(65536):
                pass
            s.close()
            n += 1
        return n

    def test_sessions_at_once_do_not_overfill_the_budget(self):
        # Four clients flooding at once: the budget's clock was read
        # before its lock, so a thread that read it first and locked it
        # second saw time run backwards, the unsigned difference huge:
        # a full burst refilled.
        needle = "unknown command refused: XXXX"
        before = self.srv.log_text().count(needle)
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            counts = list(ex.map(lambda _: self.flood(3), range(4)))
        seconds = time.monotonic() - t0
        self.assertGreater(sum(counts), 50, "too few connections to tell")
        logged = self.srv.log_text().count(needle) - before
        self.assertLessEqual(logged, self.BURST + self.RATE * (seconds + 1),
                             "%d lines from %d connections in %.1f s" %
                             (logged, sum(counts), seconds))

    def test_a_flood_of_refusals_does_not_hide_a_bounce(self):
        # A stranger's flood of unknown commands takes every line of the
        # budget; a logged-in client's PORT to a third host (RFC 2577
        # section 3) must still be logged, as before the budget.
        stop = threading.Event()
        with concurrent.futures.ThreadPoolExecutor(1) as ex:
            fut = ex.submit(self.flood, 10, stop)
            try:
                time.sleep(0.3)  # the budget spent: 200 lines at most
                c = self.session()
                before = self.srv.log_text().count(
                    "PORT/EPRT to a foreign address refused")
                for i in range(5):
                    code, text = c.cmd("PORT 192,0,2,%d,4,1" % (i + 1))
                    self.assertEqual(code // 100, 5, text)
            finally:
                stop.set()
                fut.result()

        def logged():
            return self.srv.log_text().count(
                "PORT/EPRT to a foreign address refused") - before
        wait_for(lambda: logged() >= 5, timeout=5)
        self.assertEqual(logged(), 5, self.srv.log_text()[-2000:])

    def passive_session(self):
        """A logged-in session with a passive port open: (control, port)."""
        c = Control(self.srv.port)
        self.addCleanup(c.close)
        c.login()
        code, text = c.cmd("PASV")
        self.assertEqual(code, 227, text)
        nums = text.split("(")[1].split(")")[0].split(",")
        return c, int(nums[4]) * 256 + int(nums[5])

    def test_strangers_on_passive_ports_do_not_hide_a_bounce(self):
        # A stranger (127.0.0.2) connecting to other sessions' passive
        # ports writes a warning each time (17 a session): with the
        # warnings' budget shared, that noise hid a logged-in client's
        # PORT to a third host (RFC 2577 section 3), sent while it went on.
        needle = "passive data connection from a foreign address refused"
        bounce = "PORT/EPRT to a foreign address refused"
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            victims = list(ex.map(lambda _: self.passive_session(),
                                  range(36)))
        c = self.session()
        before = self.srv.log_text().count(needle)
        b0 = self.srv.log_text().count(bounce)

        knocked, failed = [0], []

        def knock(port):
            # 20 connections, one that timed out tried again until 120 s
            # are spent: on a loaded host (the listener's backlog full,
            # its SYN dropped and sent again) a timeout must not end
            # this port's knocks, or the budget is never spent. A
            # refusal means the listener is gone: the knocks end there.
            deadline = time.monotonic() + 120
            done = 0
            while done < 20 and time.monotonic() < deadline:
                try:
                    socket.create_connection(
                        ("127.0.0.1", port), timeout=10,
                        source_address=("127.0.0.2", 0)).close()
                except ConnectionRefusedError as e:
                    failed.append("%d: %s" % (port, e))
                    return
                except OSError as e:
                    failed.append("%d: %s" % (port, e))
                    continue
                done += 1
                knocked[0] += 1
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(36) as ex:
            futs = [ex.submit(knock, port) for v, port in victims]
            # The budget spent, the stranger still knocking: five PORTs
            # in one write.
            self.assertTrue(wait_for(
                lambda: self.srv.log_text().count(needle) - before >=
                self.BURST, timeout=120, interval=0.01),
                "%d stranger lines of %d knocks in %.1f s; %d failed "
                "connects (%s)\n%s" % (
                    self.srv.log_text().count(needle) - before, knocked[0],
                    time.monotonic() - t0, len(failed), failed[:3],
                    self.srv.log_text()[-3000:]))
            c.send("".join("PORT 192,0,2,%d,4,1\r\n" % (i + 1)
                           for i in range(5)).encode())
            for _ in range(5):
                code, text = c.reply()
                self.assertEqual(code // 100, 5, text)
            going = sum(not f.done() for f in futs)
            for f in futs:
                f.result()
        for v, port in victims:
            # Its reply comes after every connection was taken.
            self.assertEqual(v.cmd("NOOP")[0], 200)
        seconds = time.monotonic() - t0
        self.assertGreater(going, 0, "the stranger had ended: no test")
        # The stranger's warnings stay bounded all the same.
        strangers = self.srv.log_text().count(needle) - before
        self.assertLessEqual(strangers, self.BURST + self.RATE *
                             (seconds + 1))

        def logged():
            return self.srv.log_text().count(bounce) - b0
        wait_for(lambda: logged() >= 5, timeout=5)
        self.assertEqual(logged(), 5, self.srv.log_text()[-2000:])


class RefusedFloodTests(unittest.TestCase):
    """A connection refused before its session (max_clients_per_ip
    reached, an address banned) wrote a line each, uncounted: a client
    holding its share of connections and reconnecting in a loop had the
    server write one line per connection, as fast as it connected. They
    are bounded as the sessions' refusals are (200, then 50 a second,
    and a count of the rest), and one address to 5 lines a second."""

    PER_ADDRESS = 5  # RFTP_REFUSED_LOG_PER_ADDRESS

    def setUp(self):
        self.srv = Server(server={"max_clients_per_ip": "2",
                                  "log_level": "info"})
        self.addCleanup(self.srv.cleanup)
        self.addCleanup(self.srv.stop)

    def knock(self, n):
        """n connections from 127.0.0.3, each read to its 421 and close;
        the seconds they took."""
        t0 = time.monotonic()
        for _ in range(n):
            s = socket.create_connection(
                ("127.0.0.1", self.srv.port), timeout=10,
                source_address=("127.0.0.3", 0))
            try:
                data = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                self.assertTrue(data.startswith(b"421 "), data)
            finally:
                s.close()
        return time.monotonic() - t0

    def test_refused_connections_do_not_flood_the_log(self):
        for _ in range(2):  # the address's share, held
            c = Control(self.srv.port, source="127.0.0.3")
            self.addCleanup(c.close)
        needle = "refused: max_clients_per_ip (2) reached"
        # Each line is written before its 421 is sent.
        seconds = self.knock(2000)
        logged = self.srv.log_text().count(needle)
        self.assertGreaterEqual(logged, self.PER_ADDRESS)
        # One address has at most 5 lines a second of the budget's 50
        # (seconds of the clock: 0.1 s may touch two).
        self.assertLessEqual(logged, self.PER_ADDRESS * (int(seconds) + 2),
                             "%d lines in %.1f s" % (logged, seconds))

        # A refusal in a later second says how many were not logged.
        def said():
            self.knock(1)
            return "refused connections not logged" in self.srv.log_text()
        self.assertTrue(wait_for(said, timeout=5),
                        self.srv.log_text()[-2000:])

    def test_one_address_looping_does_not_hide_a_full_server(self):
        """One address at its max_clients_per_ip reconnecting in a loop
        spent the refusals' budget, so that the server then full
        (max_clients) refused others unlogged: the refusals a server's
        state causes have a budget of their own."""
        self.srv.stop()
        self.srv = Server(server={"max_clients_per_ip": "2",
                                  "max_clients": "4",
                                  "log_level": "info"})
        self.addCleanup(self.srv.cleanup)
        self.addCleanup(self.srv.stop)
        for _ in range(2):  # 127.0.0.3's share, held
            c = Control(self.srv.port, source="127.0.0.3")
            self.addCleanup(c.close)
        self.knock(400)  # the budget spent
        stop = threading.Event()
        errors = []

        def loop():
            try:
                deadline = time.monotonic() + 20
                while not stop.is_set() and time.monotonic() < deadline:
                    self.knock(1)
            except Exception as e:  # noqa: BLE001
                errors.append(e)
        flood = threading.Thread(target=loop)
        flood.start()
        try:
            for _ in range(2):  # the server full
                c = Control(self.srv.port, source="127.0.0.4")
                self.addCleanup(c.close)
            s = socket.create_connection(
                ("127.0.0.1", self.srv.port), timeout=10,
                source_address=("127.0.0.5", 0))
            try:
                self.assertTrue(s.recv(4096).startswith(b"421 "))
            finally:
                s.close()
            needle = "127.0.0.5 -] refused: max_clients (4) reached"
            seen = wait_for(lambda: needle in self.srv.log_text(), 3)
        finally:
            stop.set()
            flood.join(30)
        self.assertEqual(errors, [])
        self.assertTrue(seen, self.srv.log_text()[-1500:])


SUMMARY = re.compile(
    r" (\S+): (\d+) more connections and (\d+) closes in the last "
    r"\d+ s not logged one by one")


def repeat_for(act, seconds, most):
    """Calls act() for seconds, at most most times; (the calls made, the
    seconds they took)."""
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < seconds and n < most:
        act()
        n += 1
    return n, time.monotonic() - t0


def refusals_counted(text):
    """The lines the log's "N refusal lines of sessions not logged"
    lines count, all of them added."""
    needle = " refusal lines of sessions not logged"
    return sum(int(line.split(needle)[0].split()[-1])
               for line in text.splitlines() if needle in line)


class ConnectFloodTests(unittest.TestCase):
    """Each session wrote "connected" and "closed" with no budget: a
    script connecting and sending QUIT in a loop from one address had
    14,104 lines written in 2 s (700 KB a second of log). An address has
    20 such connections logged, then 2 a second; the rest are counted,
    and a line a 10 s (and one at a stop) says how many."""

    BURST, RATE = 20, 2  # RFTP_CONN_LOG_BURST, _PER_SECOND

    def setUp(self):
        self.srv = Server(users={"alice": {"password": "alice-pw"},
                                 "anonymous": {}},
                          server={"anonymous": "on", "max_clients": "200",
                                  "max_clients_per_ip": "200",
                                  "log_level": "info"}, start=False)
        self.addCleanup(self.srv.cleanup)
        for user in ("alice", "anonymous"):
            os.makedirs(self.srv.home(user), exist_ok=True)
        self.srv.start()

    def connect_quit(self, source):
        c = Control(self.srv.port, source=source)
        try:
            self.assertEqual(c.cmd("QUIT")[0], 221)
        finally:
            c.close()

    def test_connect_quit_flood_is_summarised_not_logged(self):
        flood, quiet = "127.0.0.5", "127.0.0.6"
        n, seconds = repeat_for(lambda: self.connect_quit(flood), 2, 20000)
        self.assertGreater(n, 200, "too few connections to tell")
        # An address quiet till now still has its lines.
        self.connect_quit(quiet)
        self.assertTrue(wait_for(
            lambda: "%s -] closed:" % quiet in self.srv.log_text()),
            self.srv.log_text()[-2000:])
        self.assertIn(" %s -] connected" % quiet, self.srv.log_text())

        # Once 10 s have passed since the first connection left out, the
        # next connection, from any address, has the count said.
        def summarised():
            self.connect_quit(quiet)
            return SUMMARY.search(self.srv.log_text())
        self.assertTrue(wait_for(summarised, timeout=20, interval=0.5),
                        self.srv.log_text()[-2000:])
        # Each session ends after its 221: a stop joins them all and
        # says every count not said yet.
        self.srv.stop(check=True)
        text = self.srv.log_text()
        lines = [ln for ln in text.splitlines() if " %s " % flood in ln]
        connected = sum(1 for ln in lines if ln.endswith("-] connected"))
        closed = sum(1 for ln in lines if "-] closed:" in ln)
        said = [m.groups() for m in map(SUMMARY.search, text.splitlines())
                if m]
        self.assertTrue(all(w == flood for w, _, _ in said), said)
        self.assertEqual(connected + sum(int(c) for _, c, _ in said), n,
                         said)
        self.assertEqual(closed + sum(int(x) for _, _, x in said), n,
                         said)
        bound = self.BURST + self.RATE * (int(seconds) + 2)
        self.assertLessEqual(connected, bound,
                             "%d lines for %d connections in %.1f s" %
                             (connected, n, seconds))
        # The address's lines: its connections and closes logged, and
        # one count a 10 s and at the stop.
        self.assertLessEqual(len(lines), 2 * bound + 2,
                             "\n".join(lines[-20:]))

    def test_a_flood_that_stops_has_its_count_said_unasked(self):
        # A flood that stops, and no connection after it: the count was
        # said at the next connection from anywhere, or at the stop, so
        # on a quiet server the admin read that thousands of connections
        # were left out only hours later (or never before a restart).
        # It is said 10 s after the first left out, connection or not.
        flood = "127.0.0.5"
        n, _ = repeat_for(lambda: self.connect_quit(flood), 1, 20000)
        self.assertGreater(n, 100, "too few connections to tell")
        said = wait_for(lambda: SUMMARY.search(self.srv.log_text()),
                        timeout=20, interval=0.5)
        self.assertTrue(said, "no count line 20 s after the flood: " +
                        self.srv.log_text()[-1000:])
        m = SUMMARY.search(self.srv.log_text())
        self.assertEqual(m.group(1), flood)
        self.srv.stop(check=True)
        text = self.srv.log_text()
        connected = sum(1 for ln in text.splitlines()
                        if ln.endswith(" %s -] connected" % flood))
        self.assertEqual(connected + sum(
            int(c) for _, c, _ in SUMMARY.findall(text)), n)

    def test_many_addresses_are_bounded_and_counted(self):
        # 400 addresses in turn, more than the 64 remembered: each one
        # back is new, with a burst of its own, so all addresses' 200
        # then 50 a second bound the lines; the counts of those pushed
        # out are said together, as evictions, not as more addresses
        # than there were ("51866 other addresses" for 400).
        sources = ["127.0.%d.%d" % (i // 200, 10 + i % 200)
                   for i in range(400)]
        turn = iter(range(40000))
        n, seconds = repeat_for(lambda: self.connect_quit(
            sources[next(turn) % len(sources)]), 3, 40000)
        self.srv.stop(check=True)
        text = self.srv.log_text()
        connected = sum(1 for ln in text.splitlines()
                        if ln.endswith("-] connected"))
        said = [m.groups() for m in map(SUMMARY.search, text.splitlines())
                if m]
        self.assertLessEqual(connected, 200 + 50 * (int(seconds) + 2),
                             "%d lines for %d connections in %.1f s" %
                             (connected, n, seconds))
        self.assertEqual(connected + sum(int(c) for _, c, _ in said), n)
        claimed = [int(m.group(1)) for m in re.finditer(
            r" info (\d+) other addresses: ", text)]
        self.assertTrue(all(k <= len(sources) for k in claimed), claimed)
        self.assertTrue(any("no longer remembered" in line for line in
                            text.splitlines() if "one by one" in line),
                        "no count of addresses pushed out: no test")

    def test_anonymous_logins_in_a_loop_are_counted_not_logged(self):
        # Anyone may log in anonymously: its "logged in as anonymous"
        # was a line a connection, beside the connected one. It is
        # written with its connected line only, the rest counted; a
        # named user's login line is written as before.
        flood = "127.0.0.5"

        def anonymous():
            c = Control(self.srv.port, source=flood)
            try:
                c.login("anonymous", "me@example.org")
                self.assertEqual(c.cmd("QUIT")[0], 221)
            finally:
                c.close()
        n, seconds = repeat_for(anonymous, 2, 20000)
        self.assertGreater(n, 200, "too few logins to tell")
        c = Control(self.srv.port, source=flood)
        try:
            c.login()
            self.assertEqual(c.cmd("QUIT")[0], 221)
        finally:
            c.close()
        self.srv.stop(check=True)
        text = self.srv.log_text()
        logged = text.count(" %s -] logged in as anonymous" % flood)
        counted = sum(int(m.group(1)) for m in re.finditer(
            r"not logged one by one, nor (\d+) anonymous logins", text))
        self.assertLessEqual(logged, self.BURST + self.RATE *
                             (int(seconds) + 2),
                             "%d lines for %d logins in %.1f s" %
                             (logged, n, seconds))
        self.assertEqual(logged + counted, n,
                         "%d logged, %d counted" % (logged, counted))
        self.assertIn(" %s -] logged in as alice" % flood, text)

    def alice_after_flood(self, flood, act):
        """Connects from flood in a loop till the address's budget is
        spent, then runs act(c) in a session of flood's that logs in as
        alice; retried (at most 5 times) while a refill of the budget
        gave alice's session its connected line. Returns its id."""
        n = 0
        for _ in range(5):
            t0 = time.monotonic()
            while time.monotonic() - t0 < 1 and n < 40000:
                self.connect_quit(flood)
                n += 1
            self.assertGreater(n, 100, "too few connections to tell")
            c = Control(self.srv.port, source=flood)
            try:
                c.login()
                act(c)
            finally:
                c.close()
            text = self.srv.log_text()
            sids = re.findall(r"\[(\S+) %s -\] logged in as alice" %
                              re.escape(flood), text)
            self.assertTrue(sids, text[-2000:])
            if "[%s %s -] connected" % (sids[-1], flood) not in text:
                return sids[-1]
        self.fail("alice's connected line was written 5 times: no test")

    def test_a_named_session_after_a_flood_has_its_closed_line(self):
        # A session whose "connected" line the flood's budget left out
        # logs in as alice and uploads: her login line is written, and
        # so must be its "closed" line, the one that says what the
        # session moved (it was counted, so alice was seen to come in
        # and never to leave).
        flood = "127.0.0.5"

        def upload(c):
            d = socket.create_connection(("127.0.0.1", c.epsv_port()),
                                         timeout=10,
                                         source_address=(flood, 0))
            try:
                self.assertEqual(c.cmd("STOR a.bin")[0], 150)
                d.sendall(b"x" * 1000)
            finally:
                d.close()
            self.assertEqual(c.reply()[0], 226)
            self.assertEqual(c.cmd("QUIT")[0], 221)
        sid = self.alice_after_flood(flood, upload)
        self.srv.stop(check=True)
        text = self.srv.log_text()
        closed = [ln for ln in text.splitlines()
                  if "[%s %s alice] closed:" % (sid, flood) in ln]
        self.assertEqual(len(closed), 1, text[-2000:])
        self.assertIn("closed: 1 files in (1000 bytes)", closed[0])


class LoginTimeoutFloodTests(unittest.TestCase):
    """Connections held open with no login each wrote "no login within
    login_timeout" on no budget: 300 clients from many addresses with
    login_timeout 1 had 3,142 such lines written in 10 s beside the 703
    connected lines the budget allows. The line is written with its
    session's "connected" line only, the rest counted."""

    NEEDLE = "no login within login_timeout"

    def setUp(self):
        self.srv = Server(server={"max_clients": "300",
                                  "max_clients_per_ip": "300",
                                  "login_timeout": "1",
                                  "log_level": "info"})
        self.addCleanup(self.srv.cleanup)

    def hold(self, source, n):
        """Opens n connections from source at once, each read till the
        server closes it (its 421 at login_timeout); returns the number
        answered 421."""
        socks = []
        try:
            for _ in range(n):
                socks.append(socket.create_connection(
                    ("127.0.0.1", self.srv.port), timeout=15,
                    source_address=(source, 0)))
            got = 0
            for sk in socks:
                data = b""
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline:
                    chunk = sk.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                got += b"421 Login timeout" in data
            return got
        finally:
            for sk in socks:
                sk.close()

    def test_connections_held_with_no_login_are_counted_not_logged(self):
        flood = "127.0.0.9"
        n = 150
        t0 = time.monotonic()
        self.assertEqual(self.hold(flood, n), n)
        seconds = time.monotonic() - t0
        self.srv.stop(check=True)
        text = self.srv.log_text()
        logged = text.count(" %s -] %s" % (flood, self.NEEDLE))
        connected = sum(1 for ln in text.splitlines()
                        if ln.endswith(" %s -] connected" % flood))
        counted = refusals_counted(text)
        self.assertLessEqual(logged, 20 + 2 * (int(seconds) + 2),
                             "%d lines for %d connections in %.1f s" %
                             (logged, n, seconds))
        self.assertEqual(logged, connected)
        self.assertEqual(logged + counted, n,
                         "%d logged, %d counted" % (logged, counted))

    def counted(self):
        return refusals_counted(self.srv.log_text())

    def test_their_count_is_said_on_a_quiet_server(self):
        """The count of the lines left out was said only with the next
        line of its kind, which none of these is, or at the stop: after
        such a flood on a server no one else uses, the log said nothing
        of them until the restart. It is said RFTP_CONN_SUMMARY_S (10 s)
        after the first left out, unasked."""
        flood = "127.0.0.10"
        n = 150
        self.assertEqual(self.hold(flood, n), n)
        logged = self.srv.log_text().count(" %s -] %s" % (flood,
                                                          self.NEEDLE))
        self.assertLess(logged, n)
        self.assertTrue(wait_for(lambda: self.counted() == n - logged,
                                 timeout=30),
                        "%d logged, %d counted of %d\n%s" % (
                            logged, self.counted(), n,
                            self.srv.log_text()[-2000:]))
        # Said once: the stop finds nothing left to say.
        self.srv.stop(check=True)
        self.assertEqual(self.counted(), n - logged)


class TlsGarbageFloodTests(unittest.TestCase):
    """A failed TLS handshake on the control connection wrote a line on
    no budget: a client sending AUTH TLS then garbage in a loop, no
    login needed, had one written a connection (8,014 in 2 s). It is
    written with the session's "connected" line (20, then 2 a second,
    an address) and the rest counted in "N refusal lines of sessions not
    logged"."""

    NEEDLE = "TLS on the control connection failed"

    def setUp(self):
        self.certdir = tempfile.mkdtemp(prefix="rftp-outsider-")
        self.addCleanup(shutil.rmtree, self.certdir, True)
        cert, key = make_cert(self.certdir)
        self.srv = Server(server={"max_clients": "200",
                                  "max_clients_per_ip": "200",
                                  "log_level": "info"},
                          sections={"tls": {"cert": cert, "key": key}})
        self.addCleanup(self.srv.cleanup)

    def garbage(self, source):
        c = Control(self.srv.port, source=source)
        try:
            self.assertEqual(c.cmd("AUTH TLS")[0], 234)
            c.sock.sendall(b"\x16\x03\x01\x00\x05garbage")
            # The server's alert, or its close: the handshake is over.
            try:
                while c.sock.recv(4096):
                    pass
            except OSError:
                pass
        finally:
            c.close()

    def test_handshake_garbage_in_a_loop_is_counted_not_logged(self):
        flood, quiet = "127.0.0.7", "127.0.0.8"
        n, seconds = repeat_for(lambda: self.garbage(flood), 2, 20000)
        self.assertGreater(n, 200, "too few connections to tell")
        self.garbage(quiet)
        self.assertTrue(wait_for(
            lambda: " %s -] %s" % (quiet, self.NEEDLE) in
            self.srv.log_text()), self.srv.log_text()[-2000:])
        # The stop joins every session and says the count left.
        self.srv.stop(check=True)
        text = self.srv.log_text()
        logged = text.count(" %s -] %s" % (flood, self.NEEDLE))
        counted = refusals_counted(text)
        self.assertLessEqual(logged, 20 + 2 * (int(seconds) + 2),
                             "%d lines for %d connections in %.1f s" %
                             (logged, n, seconds))
        self.assertEqual(logged + counted, n,
                         "%d logged, %d counted" % (logged, counted))


class BounceFairnessTests(unittest.TestCase):
    """A logged-in client's warnings (a PORT to a third host, RFC 2577
    section 3; a quota not checkable) had one budget for all clients:
    one client reconnecting in a loop with PORTs to a third host spent
    it, and another user's bounce was then only counted. One user, or
    one anonymous address, has a burst of 20 lines then 5 a second, all
    anonymous logins together 100 then 25 a second, all clients 200 then
    50 a second as before; every line left out is counted once."""

    BOUNCE = "PORT/EPRT to a foreign address refused"
    LOGGED = 17  # a session's 16 and the one saying the rest are not

    def setUp(self):
        self.srv = Server(
            users={"alice": {"password": "alice-pw"},
                   "mallory": {"password": "mallory-pw"},
                   "anonymous": {}},
            server={"anonymous": "on", "max_clients": "200",
                    "max_clients_per_ip": "200", "log_level": "info"},
            start=False)
        self.addCleanup(self.srv.cleanup)
        for user in ("alice", "mallory", "anonymous"):
            os.makedirs(self.srv.home(user), exist_ok=True)
        self.srv.start()
        self.addCleanup(self.srv.stop)

    def loop(self, user, password, sources, stop, seconds=20):
        """Sessions of user from each of sources in turn, each sending 20
        PORTs to a third host, one after another until stop is set;
        their count."""
        n = 0
        deadline = time.monotonic() + seconds
        while not stop.is_set() and time.monotonic() < deadline and \
                n < 5000:
            self.sessions = n
            c = Control(self.srv.port, source=sources[n % len(sources)])
            try:
                c.login(user, password)
                c.send(b"PORT 192,0,2,1,4,1\r\n" * 20 +
                       getattr(self, "loop_more", b"") + b"QUIT\r\n")
                # Read to the server's close: every line the session
                # meant to write is written.
                while c.sock.recv(65536):
                    pass
            finally:
                c.close()
            n += 1
        return n

    def lines(self, needle):
        return [line for line in self.srv.log_text().splitlines()
                if needle in line]

    def while_looping(self, user, password, sources, sessions, act):
        """user loops from sources with bounces (loop); once it had
        sessions of them and a second more, act() runs beside it. The
        loop must still be going then. Returns (the loop's sessions, its
        seconds)."""
        stop = threading.Event()
        self.sessions = 0
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(1) as ex:
            fut = ex.submit(self.loop, user, password, sources, stop)
            try:
                self.assertTrue(wait_for(
                    lambda: self.sessions >= sessions or fut.done(),
                    timeout=60, interval=0.01))
                # A second more of the loop: its refill spent too.
                time.sleep(1)
                act()
                going = not fut.done()
            finally:
                stop.set()
                n = fut.result()
        self.assertTrue(going, "the loop had ended (%d sessions): no test"
                        % n)
        return n, time.monotonic() - t0

    def alice_bounces_while(self, user, password,
                            sources=("127.0.0.3",)):
        """user loops from sources (127.0.0.3) with bounces; alice, from
        127.0.0.1, sends 5 in one write once the old budget's burst of
        200 was spent (17 lines a session) and a second more.
        Returns (alice's lines, the loop's sessions, its seconds)."""
        got = []

        def act():
            # Connected now, as alice's client would, not before the loop.
            c = Control(self.srv.port)
            self.addCleanup(c.close)
            got.append(c)
            c.login()
            c.send(b"PORT 192,0,2,9,4,1\r\n" * 5)
            for _ in range(5):
                code, text = c.reply()
                self.assertEqual(code // 100, 5, text)
        n, seconds = self.while_looping(user, password, sources, 15, act)
        self.assertEqual(got[0].cmd("NOOP")[0], 200)
        return ([line for line in self.lines(self.BOUNCE)
                 if " alice] " in line], n, seconds)

    def assert_counted(self, sessions):
        """After the stop: every bounce line meant (17 a session of the
        loop, alice's 5) logged or counted once in "N refusal warnings
        of sessions not logged"."""
        self.srv.stop()
        logged = len(self.lines(self.BOUNCE))
        counted = sum(int(line.split(" refusal warnings of sessions not "
                                     "logged")[0].split()[-1])
                      for line in self.lines("refusal warnings of "
                                             "sessions not logged"))
        self.assertGreater(counted, 0, "nothing left out: no test")
        self.assertEqual(logged + counted, self.LOGGED * sessions + 5,
                         "%d logged, %d counted, %d sessions" %
                         (logged, counted, sessions))

    def assert_fair(self, user, password, sources=("127.0.0.3",), burst=20,
                    rate=5):
        """alice's 5 bounce lines all logged while user loops from
        sources; user's own within burst at once, then rate a second
        (clock of ms); every line logged or counted once."""
        mine, n, seconds = self.alice_bounces_while(user, password, sources)
        self.assertEqual(len(mine), 5, self.srv.log_text()[-2000:])
        theirs = [line for line in self.lines(self.BOUNCE)
                  if " %s] " % user in line]
        self.assertLessEqual(len(theirs), burst + rate * (seconds + 1),
                             "%d lines from %d sessions in %.1f s" %
                             (len(theirs), n, seconds))
        self.assert_counted(n)

    def test_a_user_looping_does_not_hide_another_users_bounce(self):
        self.assert_fair("mallory", "mallory-pw")

    def test_anonymous_looping_does_not_hide_another_users_bounce(self):
        self.assert_fair("anonymous", "me@example.org")

    def test_anonymous_from_many_addresses_does_not_hide_a_bounce(self):
        # A new address for each session: each is a new source, with a
        # burst of its own; all anonymous ones together have half the
        # budget, so a named user's line still has the other half, and
        # of it a kind half again (50 then 12 a second).
        sources = ["127.0.%d.%d" % (i // 200, 10 + i % 200)
                   for i in range(400)]
        self.assert_fair("anonymous", "me@example.org", sources,
                         burst=50, rate=12)

    def test_anonymous_addresses_do_not_refill_a_users_burst(self):
        # Anonymous sources (an address each) and named ones shared the
        # 64 slots of remembered sources: anonymous logins from many
        # addresses (an IPv6 /48 holds 65,536 /64s) pushed mallory's
        # slot out between her sessions, and each one came back with a
        # full burst of 20: her 5 a second did not hold.
        sources = ["127.0.%d.%d" % (i // 200, 10 + i % 200)
                   for i in range(400)]
        stop = threading.Event()
        with concurrent.futures.ThreadPoolExecutor(1) as ex:
            fut = ex.submit(self.loop, "anonymous", "me@example.org",
                            sources, stop)
            try:
                self.assertTrue(wait_for(
                    lambda: self.sessions >= 20 or fut.done(),
                    timeout=60, interval=0.01))
                t0 = time.monotonic()
                for _ in range(4):
                    c = Control(self.srv.port, source="127.0.0.3")
                    try:
                        c.login("mallory", "mallory-pw")
                        c.send(b"PORT 192,0,2,1,4,1\r\n" * 20 +
                               b"QUIT\r\n")
                        while c.sock.recv(65536):
                            pass
                    finally:
                        c.close()
                    # Her pause, shorter than the 4 s that make a user
                    # quiet, long enough for 64 anonymous addresses
                    # (the loop makes over 1,000 sessions a second, and
                    # ends at 5,000).
                    time.sleep(0.3)
                seconds = time.monotonic() - t0
                going = not fut.done()
            finally:
                stop.set()
                n = fut.result()
        self.assertTrue(going, "the loop had ended (%d sessions): no test"
                        % n)
        theirs = [line for line in self.lines(self.BOUNCE)
                  if " mallory] " in line]
        self.assertLessEqual(len(theirs), 20 + 5 * (seconds + 1),
                             "%d lines in %.1f s beside %d anonymous "
                             "sessions" % (len(theirs), seconds, n))


RUN_AS = "nobody"


def uncountable_server(test, users, uncounted, server=None):
    """A started Server run as RUN_AS (root needed, else test skipped)
    whose users in uncounted have a home holding a folder of mode 000:
    the count cannot read it once root is dropped, so every new name is
    refused with a quota warning (cmd_fs.c NEW_UNKNOWN); the other
    users' homes are made and given to RUN_AS. Cleanups registered on
    test."""
    if os.geteuid() != 0:
        test.skipTest("needs root: a folder the server cannot read "
                      "needs run_as (root reads a mode-000 one)")
    import pwd
    pw = pwd.getpwnam(RUN_AS)
    opts = {"max_clients": "200", "max_clients_per_ip": "200",
            "log_level": "info", "run_as": RUN_AS}
    opts.update(server or {})
    srv = Server(users=users, server=opts, start=False)
    test.addCleanup(srv.cleanup)
    for u in users:
        home = srv.home(u)
        if u in uncounted:
            os.makedirs(os.path.join(home, "hidden"))
            os.chmod(os.path.join(home, "hidden"), 0)
        else:
            os.makedirs(home, exist_ok=True)
        os.chown(home, pw.pw_uid, pw.pw_gid)
    os.chmod(srv.tmp, 0o711)
    os.chmod(os.path.dirname(srv.home(next(iter(users)))), 0o711)
    srv.start()
    test.addCleanup(srv.stop)
    return srv


def mkds_refused(test, user, password):
    """A session of user on test.srv sending five MKDs in one write, each
    answered 552 (a home the count cannot read: a quota warning each)."""
    c = Control(test.srv.port)
    test.addCleanup(c.close)
    c.login(user, password)
    c.send(b"".join(b"MKD new%d\r\n" % i for i in range(5)))
    for _ in range(5):
        code, text = c.reply()
        test.assertEqual(code, 552, text)


class OwnBounceQuotaTests(unittest.TestCase):
    """A user's own bounce flood shared one bucket with that user's
    quota warnings (session.c warn_budget keyed the source only): alice
    reconnecting with PORTs to a third host hid that her home cannot be
    counted for the quota, a warning the admin must act on. Each source
    now has a bucket per kind of warning."""

    QUOTA = "refused: the home was not counted completely for the quota"

    def setUp(self):
        self.srv = uncountable_server(
            self, {"alice": {"password": "alice-pw", "quota_bytes": "1M"}},
            {"alice"})

    loop = BounceFairnessTests.loop
    lines = BounceFairnessTests.lines
    while_looping = BounceFairnessTests.while_looping

    def test_own_bounce_flood_does_not_hide_own_quota_warning(self):
        def act():
            mkds_refused(self, "alice", "alice-pw")
        # alice's burst of 20 spent (17 lines a session), then a second
        # more of the loop: 5 lines of refill spent too.
        n, seconds = self.while_looping("alice", "alice-pw", ("127.0.0.3",),
                                        3, act)
        # Her bounces still within their own 20, then 5 a second.
        bounded_and_heard(self, 20, 5, n, seconds, " alice] ")

    def test_quota_refusals_do_not_hide_the_home_not_counted(self):
        # 20 ALLOs past quota_bytes (refusals at info, no count needed),
        # then a MKD that needs the count: they shared one counter of a
        # session's 16 lines, so the warning that the home cannot be
        # counted, the one an admin must act on, was never logged.
        c = Control(self.srv.port)
        self.addCleanup(c.close)
        c.login("alice", "alice-pw")
        c.send(b"ALLO 2000000\r\n" * 20 + b"MKD new\r\n")
        for _ in range(20):
            code, text = c.reply()
            self.assertEqual(code, 552, text)
        code, text = c.reply()
        self.assertEqual(code, 552, text)
        self.assertIn("could not be counted", text)
        self.assertEqual(c.cmd("NOOP")[0], 200)
        allo = [line for line in self.lines("ALLO 2000000 refused")
                if " alice] " in line]
        # A session's 16 and the line saying the rest are not logged.
        self.assertEqual(len(allo), BounceFairnessTests.LOGGED,
                         "the ALLOs' own cap: no test")
        mine = [line for line in self.lines(self.QUOTA)
                if " alice] " in line]
        self.assertEqual(len(mine), 1, self.srv.log_text()[-2000:])

    def test_logins_in_a_loop_say_the_home_not_counted_once(self):
        # Each login with no other session of alice's counts her home
        # anew, and the count's warning was logged each time: a client
        # reconnecting in a loop wrote one line a login. The server now
        # remembers the reason beyond her last session: the first
        # login's line, then none while the reason stays (a reminder
        # after 60 s, past this test).
        needle = "usage of the home of alice cannot be counted"
        n = 0
        deadline = time.monotonic() + 20
        while n < 100 and time.monotonic() < deadline:
            c = Control(self.srv.port)
            try:
                c.login("alice", "alice-pw")
                c.send(b"QUIT\r\n")
                while c.sock.recv(65536):
                    pass
            finally:
                c.close()
            n += 1
        self.assertEqual(n, 100, "the loop did not end: no test")
        # A last session that needs the count: its refusal is answered
        # after the login's count, so the line is written by then.
        c = Control(self.srv.port)
        self.addCleanup(c.close)
        c.login("alice", "alice-pw")
        code, text = c.cmd("MKD new")
        self.assertEqual(code, 552, text)
        self.assertEqual(len(self.lines(needle)), 1,
                         "%d logins\n%s" % (n + 1,
                                             self.srv.log_text()[-1500:]))


def bounded_and_heard(test, burst, rate, n, seconds, who):
    """After n looping sessions in seconds: the bounce lines flooded past
    burst yet stayed within burst then rate a second, and the five quota
    warnings of the session whose log prefix ends with who were logged."""
    bounces = test.lines(BounceFairnessTests.BOUNCE)
    test.assertGreater(len(bounces), burst, "no flood: no test")
    test.assertLessEqual(len(bounces), burst + rate * (seconds + 1),
                         "%d lines from %d sessions in %.1f s" %
                         (len(bounces), n, seconds))
    mine = [line for line in test.lines(OwnBounceQuotaTests.QUOTA)
            if who in line]
    test.assertEqual(len(mine), 5, "%d bounce lines from %d sessions\n%s"
                     % (len(bounces), n, test.srv.log_text()[-2000:]))


class AnonBounceQuotaTests(unittest.TestCase):
    """All anonymous logins shared one bucket of warnings (100 lines then
    25 a second) whatever their kind: anonymous bounces from many
    addresses spent it, and an anonymous login's warning that its home
    cannot be counted for the quota was only counted, never logged. Each
    kind now has half of it (50 then 12 a second), and all kinds
    together the 100 then 25 a second, half the budget of all clients,
    so the named users keep the other half."""

    QUOTA = OwnBounceQuotaTests.QUOTA

    def setUp(self):
        self.srv = uncountable_server(
            self, {"anonymous": {"permissions": "rw", "quota_bytes": "1M"},
                   "alice": {"password": "alice-pw"}},
            {"anonymous"}, {"anonymous": "on"})

    loop = BounceFairnessTests.loop
    lines = BounceFairnessTests.lines
    while_looping = BounceFairnessTests.while_looping

    def test_anonymous_bounces_do_not_hide_an_anonymous_quota_warning(self):
        def act():
            mkds_refused(self, "anonymous", "me@example.org")
        # A new address for each session (as BounceFairnessTests): the
        # anonymous bounces' burst of 50 spent by the 3rd session (17
        # lines each), then a second more of the loop: its refill spent
        # too.
        sources = ["127.0.%d.%d" % (i // 200, 10 + i % 200)
                   for i in range(400)]
        n, seconds = self.while_looping("anonymous", "me@example.org",
                                        sources, 15, act)
        # All anonymous bounces still within their kind's 50, then 12 a
        # second (half of all anonymous logins' 100 then 25).
        bounded_and_heard(self, 50, 12, n, seconds, " 127.0.0.1 anonymous] ")


    def test_anonymous_floods_of_two_kinds_do_not_hide_a_users_warnings(
            self):
        # Anonymous loops from many addresses with bounces and MKDs in a
        # home not counted: each kind had 100 then 25 a second of all
        # anonymous ones, the two the whole budget of all clients (200
        # then 50), and alice's warnings past the reserve's one were
        # only counted. All anonymous ones have half of it now.
        self.loop_more = b"".join(b"MKD n%d\r\n" % k for k in range(20))
        got = []

        def act():
            c = Control(self.srv.port)
            self.addCleanup(c.close)
            got.append(c)
            c.login("alice", "alice-pw")
            c.send(b"PORT 192,0,2,9,4,1\r\n" * 5)
            for _ in range(5):
                code, text = c.reply()
                self.assertEqual(code // 100, 5, text)
        sources = ["127.0.%d.%d" % (i // 200, 10 + i % 200)
                   for i in range(400)]
        n, seconds = self.while_looping("anonymous", "me@example.org",
                                        sources, 15, act)
        self.assertEqual(got[0].cmd("NOOP")[0], 200)
        anon = [line for line in self.lines(BounceFairnessTests.BOUNCE) +
                self.lines(self.QUOTA) if " anonymous] " in line]
        mine = [line for line in self.lines(BounceFairnessTests.BOUNCE)
                if " alice] " in line]
        self.assertGreater(len(anon), 100, "no flood: no test")
        self.assertEqual(len(mine), 5, "%d anonymous lines from %d sessions"
                         " in %.1f s" % (len(anon), n, seconds))
        self.assertLessEqual(len(anon), 100 + 25 * (seconds + 1),
                             "%d lines from %d sessions in %.1f s" %
                             (len(anon), n, seconds))


class FreshSourceTests(unittest.TestCase):
    """Five or more users looping with warnings of two kinds (bounces,
    a home not counted: 20 then 5 a second of each, each) spent the
    whole budget of all clients (200 then 50 a second), and a quiet
    user's first warning was only counted. A user that logged no
    warning of the kind lately now has a small reserve beside it."""

    LOOPERS = 10
    # More than the 64 pairs of a user and a kind remembered (two kinds
    # each: 160).
    MANY = 80
    PAUSERS = 20
    def setUp(self):
        self.users = ["loop%d" % i for i in range(self.MANY)]
        users = {u: {"password": "pw", "quota_bytes": "1M"}
                 for u in self.users}
        users["alice"] = {"password": "alice-pw"}
        self.pausers = ["pause%d" % i for i in range(self.PAUSERS)]
        for u in self.pausers + ["bob", "carol"]:
            users[u] = {"password": "pw"}
        # The loopers' every MKD is refused with a quota warning.
        self.srv = uncountable_server(self, users, set(self.users))

    lines = BounceFairnessTests.lines

    def loop(self, user, source, stop, counts, i, most=2000):
        """Sessions of user from source, each with 20 PORTs to a third
        host and 20 MKDs (both warnings), until stop (60 s, most at
        most)."""
        deadline = time.monotonic() + 60
        while not stop.is_set() and time.monotonic() < deadline and \
                counts[i] < most:
            c = Control(self.srv.port, source=source)
            try:
                c.login(user, "pw")
                c.send(b"PORT 192,0,2,1,4,1\r\n" * 20 +
                       b"".join(b"MKD n%d\r\n" % k for k in range(20)) +
                       b"QUIT\r\n")
                while c.sock.recv(65536):
                    pass
            finally:
                c.close()
            counts[i] += 1

    def test_looping_users_do_not_hide_a_quiet_users_first_warning(self):
        self.alice_after(self.users[:self.LOOPERS])

    def test_many_users_looping_do_not_hide_a_quiet_users_first_warning(
            self):
        # 80 users, two kinds each, took each other's slots: each came
        # back new, with a full burst and quiet, and took the reserve.
        self.alice_after(self.users)

    def alice_after(self, loopers):
        """alice's first PORT to a third host, once loopers each had
        their burst spent, must be logged."""
        stop = threading.Event()
        counts = [0] * len(loopers)
        with concurrent.futures.ThreadPoolExecutor(len(loopers)) as ex:
            futs = [ex.submit(self.loop, u, "127.0.0.%d" % (10 + i), stop,
                              counts, i)
                    for i, u in enumerate(loopers)]
            try:
                # Each had its burst spent (34 lines a session, 40 of
                # burst), then a second more: the refill spent too.
                self.assertTrue(wait_for(
                    lambda: min(counts) >= 3 or any(f.done() for f in futs),
                    timeout=60, interval=0.01))
                time.sleep(1)
                before = len(self.lines(BounceFairnessTests.BOUNCE))
                c = Control(self.srv.port)
                self.addCleanup(c.close)
                c.login("alice", "alice-pw")
                code, text = c.cmd("PORT 192,0,2,9,4,1")
                self.assertEqual(code // 100, 5, text)
                self.assertEqual(c.cmd("NOOP")[0], 200)
                going = not any(f.done() for f in futs)
            finally:
                stop.set()
                for f in futs:
                    f.result()
        self.assertTrue(going, "a loop had ended: no test")
        self.srv.stop()
        counted = sum(int(line.split(" refusal warnings of sessions not "
                                     "logged")[0].split()[-1])
                      for line in self.lines("refusal warnings of "
                                             "sessions not logged"))
        self.assertGreater(counted, 0, "nothing left out: no test")
        mine = [line for line in self.lines(BounceFairnessTests.BOUNCE)
                if " alice] " in line]
        self.assertEqual(len(mine), 1, "%d bounce lines before alice's, %d "
                         "sessions, %d not logged" %
                         (before, sum(counts), counted))


    def test_users_pausing_do_not_spend_the_reserve(self):
        # A user that asked for no line of a kind in 4 s may take one
        # from the reserve (10, then 2 a second): 20 users each sending
        # one PORT to a third host every 4.1 s, while the loopers spend
        # the budget, were quiet each time and spent it, and a quiet
        # user's first line was only logged if the budget had one then
        # (alice's, bob's and carol's together: 1 of 3 runs). A pair
        # now takes one reserve line a minute.
        stop = threading.Event()
        counts = [0] * self.LOOPERS
        sent = [0] * self.PAUSERS

        def pause(i):
            deadline = time.monotonic() + 60
            while not stop.is_set() and time.monotonic() < deadline:
                c = Control(self.srv.port, source="127.0.1.%d" % (1 + i))
                try:
                    c.login(self.pausers[i], "pw")
                    code, text = c.cmd("PORT 192,0,2,1,4,1")
                    self.assertEqual(code // 100, 5, text)
                    sent[i] += 1
                    c.cmd("QUIT")
                finally:
                    c.close()
                # The attacker's pace: just past the 4 s of quiet.
                stop.wait(4.1)

        with concurrent.futures.ThreadPoolExecutor(
                self.LOOPERS + self.PAUSERS) as ex:
            # 12 s of loops: 1,000 sessions a second or more.
            futs = [ex.submit(self.loop, u, "127.0.0.%d" % (10 + i), stop,
                              counts, i, 6000)
                    for i, u in enumerate(self.users[:self.LOOPERS])]
            pfuts = []
            try:
                self.assertTrue(wait_for(
                    lambda: min(counts) >= 3 or any(f.done() for f in futs),
                    timeout=60, interval=0.01))
                pfuts = [ex.submit(pause, i) for i in range(self.PAUSERS)]
                # Three rounds of the pausers: at 0, 4.1 and 8.2 s.
                self.assertTrue(wait_for(
                    lambda: min(sent) >= 3 or any(f.done() for f in pfuts),
                    timeout=60, interval=0.01))
                for user, pw in (("alice", "alice-pw"), ("bob", "pw"),
                                 ("carol", "pw")):
                    c = Control(self.srv.port)
                    self.addCleanup(c.close)
                    c.login(user, pw)
                    code, text = c.cmd("PORT 192,0,2,9,4,1")
                    self.assertEqual(code // 100, 5, text)
                    self.assertEqual(c.cmd("NOOP")[0], 200)
                going = not any(f.done() for f in futs)
            finally:
                stop.set()
                for f in futs + pfuts:
                    f.result()
        self.assertTrue(going, "a loop had ended: no test")
        self.srv.stop()
        theirs = [line for line in self.lines(BounceFairnessTests.BOUNCE)
                  if " pause" in line]
        quiet = [line for line in self.lines(BounceFairnessTests.BOUNCE)
                 if " alice] " in line or " bob] " in line or
                 " carol] " in line]
        self.assertEqual(len(quiet), 3, "%d of the pausers' %d lines logged, "
                         "%d loop sessions" % (len(theirs), sum(sent),
                                               sum(counts)))


if __name__ == "__main__":
    unittest.main()
