"""Security checks over the wire that no other test file makes (issue 4).

- Data-port theft: a second local address (127.0.0.2; Linux routes all of
  127/8 to lo) races the real client for its PASV/EPSV port. It must get
  no byte of a download and put no byte into an upload, and the real
  client's transfer still completes. A control connection from 127.0.0.2
  cannot aim PORT/EPRT at 127.0.0.1 (test_protocol.py covers a foreign
  10.x address and privileged ports from the client's own address).
- User enumeration: an unknown user and a known user with a wrong password
  get byte-identical PASS replies, USER replies of the same form, and the
  same time to the 530 (both run one argon2id verification).
- Path arguments with NUL, CR or LF inside, a folder swapped for a link to
  another user's home while a session sits in it, and renames across the
  home boundary in both directions. test_traversal.py covers the rest of
  path confinement (../, absolute paths, links planted beforehand, SITE
  CHMOD and RNFR/RNTO on escape paths).

Every test checks the reply code and the filesystem: canaries unchanged,
nothing created where it must not be.
"""
import hashlib
import os
import socket
import stat
import statistics
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Control, Server, recv_all, wait_for  # noqa: E402

TIMEOUT = 10
ATTACKER = "127.0.0.2"
PASV_REFUSED = "passive data connection from a foreign address refused"
PORT_REFUSED = "PORT/EPRT to a foreign address refused"


def snapshot(root):
    """Every entry under root: type, mode, size, digest or link target."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            entry = [stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode),
                     st.st_mtime_ns]
            if stat.S_ISLNK(st.st_mode):
                entry.append(os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    entry.append(hashlib.sha256(f.read()).hexdigest())
            out[os.path.relpath(path, root)] = tuple(entry)
    return out


def secret_bytes(tag, size):
    token = ("%s-%s\n" % (tag, uuid.uuid4().hex)).encode()
    return (token * (size // len(token) + 1))[:size]


def write_file(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def attacker_connect(port):
    """A TCP connection to 127.0.0.1:port from 127.0.0.2."""
    return socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT,
                                    source_address=(ATTACKER, 0))


def drain(sock, timeout=TIMEOUT):
    """Bytes the peer sends until it closes (or resets) the connection."""
    sock.settimeout(timeout)
    got = b""
    try:
        while True:
            chunk = sock.recv(1 << 16)
            if not chunk:
                break
            got += chunk
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    return got


def passive_port(ctl, verb):
    code, text = ctl.cmd(verb)
    if verb == "EPSV":
        assert code == 229, text
        return int(text.split("(|||")[1].split("|")[0])
    assert code == 227, text
    nums = text.split("(")[1].split(")")[0].split(",")
    assert nums[:4] == ["127", "0", "0", "1"], text
    return int(nums[4]) * 256 + int(nums[5])


class DataPortTheftTest(unittest.TestCase):
    """Someone else connecting to the announced passive port."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server()
        cls.home = cls.srv.home("alice")
        os.makedirs(cls.home, exist_ok=True)
        cls.canary = secret_bytes("CANARY", 300 * 1024)
        write_file(os.path.join(cls.home, "canary.bin"), cls.canary)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.srv.stop()  # asserts a clean exit
        finally:
            cls.srv.cleanup()

    def setUp(self):
        self.ctl = Control(self.srv.port, timeout=TIMEOUT)
        self.addCleanup(self.ctl.close)
        self.ctl.login()
        self.assertEqual(self.ctl.cmd("TYPE I")[0], 200)

    def refusals(self):
        return self.srv.log_text().count(PASV_REFUSED)

    def client_data(self, port):
        return socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)

    def check_canary_unchanged(self):
        with open(os.path.join(self.home, "canary.bin"), "rb") as f:
            self.assertEqual(f.read(), self.canary)

    def retr_with_thief(self, verb, client_first_queued):
        before = self.refusals()
        port = passive_port(self.ctl, verb)
        thief = attacker_connect(port)
        # Either both connections wait in the accept queue (what curl and
        # lftp do: connect right after the 227/229), or the real client
        # connects only after the server has turned the thief away.
        real = self.client_data(port) if client_first_queued else None
        code, text = self.ctl.cmd("RETR canary.bin")
        self.assertEqual(code, 150, text)
        # The server takes the thief first (it connected first) and must
        # close it without a byte: reading it to its end is bounded.
        stolen = drain(thief)
        self.assertEqual(len(stolen), 0, "the thief received bytes")
        self.assertTrue(wait_for(lambda: self.refusals() > before),
                        "no refusal logged:\n" + self.srv.log_text())
        if real is None:
            real = self.client_data(port)
        data = recv_all(real, timeout=TIMEOUT)
        code, text = self.ctl.reply()
        self.assertEqual(code, 226, text)
        self.assertEqual(len(data), len(self.canary))
        self.assertEqual(data, self.canary)
        self.assertEqual(self.refusals(), before + 1)
        self.check_canary_unchanged()
        # The port was for one transfer: connecting to it afterwards
        # yields nothing either.
        try:
            late = attacker_connect(port)
        except OSError:
            late = None
        if late is not None:
            self.assertEqual(self.ctl.cmd("NOOP")[0], 200)
            late.shutdown(socket.SHUT_WR)
            self.assertEqual(drain(late), b"")

    def test_epsv_retr_thief_refused_then_client_served(self):
        self.retr_with_thief("EPSV", client_first_queued=False)

    def test_pasv_retr_thief_and_client_both_queued(self):
        self.retr_with_thief("PASV", client_first_queued=True)

    def test_epsv_retr_both_queued(self):
        self.retr_with_thief("EPSV", client_first_queued=True)

    def test_foreign_connections_held_on_the_port_do_not_block_the_client(
            self):
        # Anyone can connect to the passive range. Connections from a
        # foreign address held open on the announced port filled its
        # accept queue (a backlog of 1) before the transfer command, so
        # the client's own connect went unanswered (SYNs dropped) until
        # data_timeout: clients that connect before sending RETR (curl,
        # lftp) never got to send it. Foreign ones are turned away as
        # they come, so the client's connection gets in at once.
        port = passive_port(self.ctl, "EPSV")
        held = []
        self.addCleanup(lambda: [h.close() for h in held])
        for _ in range(40):
            h = socket.socket()
            h.setblocking(False)
            h.bind((ATTACKER, 0))
            h.connect_ex(("127.0.0.1", port))
            held.append(h)
        time.sleep(0.5)
        t0 = time.monotonic()
        real = socket.create_connection(("127.0.0.1", port), timeout=4)
        self.assertLess(time.monotonic() - t0, 2.0)
        code, text = self.ctl.cmd("RETR canary.bin")
        self.assertEqual(code, 150, text)
        self.assertEqual(recv_all(real, timeout=TIMEOUT), self.canary)
        self.assertEqual(self.ctl.reply()[0], 226)
        # Not one of them got a byte (one whose connect never completed
        # has nothing to read either).
        for h in held:
            h.setblocking(True)
            try:
                got = drain(h, timeout=2)
            except OSError:
                got = b""
            self.assertEqual(got, b"")

    def stor_with_thief(self, verb, name):
        before = self.refusals()
        port = passive_port(self.ctl, verb)
        thief = attacker_connect(port)
        # The thief's whole "upload" is sent before the transfer command;
        # not one byte of it may land in the file. The server may have
        # turned the thief away already (it takes what connects to the
        # port as it comes): then its send or shutdown fails.
        try:
            thief.sendall(secret_bytes("EVIL", 16 * 1024))
            thief.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        real = self.client_data(port)
        code, text = self.ctl.cmd("STOR " + name)
        self.assertEqual(code, 150, text)
        good = secret_bytes("GOOD", 200 * 1024)
        try:
            real.sendall(good)
        except OSError as e:
            sent_error = e  # reported below, after the file's contents
        else:
            sent_error = None
        real.close()
        code, text = self.ctl.reply()
        path = os.path.join(self.home, name)
        stored = b""
        if os.path.exists(path):
            with open(path, "rb") as f:
                stored = f.read()
        self.assertFalse(b"EVIL-" in stored, "the thief's bytes were stored "
                         "(%d bytes on disk)" % len(stored))
        self.assertIsNone(sent_error, "the client could not upload")
        self.assertEqual(code, 226, text)
        self.assertEqual(len(stored), len(good))
        self.assertEqual(stored, good)
        self.assertEqual(drain(thief), b"")
        self.assertGreater(self.refusals(), before,
                           "thief not refused:\n" + self.srv.log_text())
        self.check_canary_unchanged()
        # The server answers SIZE with the client's size.
        self.assertEqual(self.ctl.cmd("SIZE " + name),
                         (213, "213 %d" % len(good)))

    def test_epsv_stor_thief_bytes_never_stored(self):
        self.stor_with_thief("EPSV", "up-epsv.bin")

    def test_pasv_stor_thief_bytes_never_stored(self):
        self.stor_with_thief("PASV", "up-pasv.bin")


class BounceFromOtherAddressTest(unittest.TestCase):
    """A client on 127.0.0.2 aiming PORT/EPRT at 127.0.0.1."""

    def test_port_eprt_to_other_loopback_address_refused(self):
        with Server() as srv:
            os.makedirs(srv.home("alice"), exist_ok=True)
            write_file(os.path.join(srv.home("alice"), "f.txt"), b"data\n")
            victim = socket.socket()
            victim.bind(("127.0.0.1", 0))
            victim.listen(4)
            victim.setblocking(False)
            self.addCleanup(victim.close)
            vport = victim.getsockname()[1]
            with Control(srv.port, timeout=TIMEOUT, source=ATTACKER) as c:
                c.login()
                code, text = c.cmd("PORT 127,0,0,1,%d,%d" %
                                   (vport >> 8, vport & 0xff))
                self.assertIn(code, (500, 504), text)
                code, text = c.cmd("EPRT |1|127.0.0.1|%d|" % vport)
                self.assertIn(code, (500, 504), text)
                # Nothing set up: the transfer fails without connecting.
                self.assertEqual(c.cmd("RETR f.txt")[0], 425)
                with self.assertRaises(BlockingIOError):
                    victim.accept()
                self.assertEqual(srv.log_text().count(PORT_REFUSED), 2)
                # Its own address works, so the refusal is about the
                # address, not about active mode from 127.0.0.2.
                own = socket.socket()
                own.bind((ATTACKER, 0))
                own.listen(1)
                own.settimeout(TIMEOUT)
                self.addCleanup(own.close)
                oport = own.getsockname()[1]
                code, text = c.cmd("EPRT |1|%s|%d|" % (ATTACKER, oport))
                self.assertEqual(code, 200, text)
                code, text = c.cmd("RETR f.txt")
                self.assertEqual(code, 150, text)
                conn, peer = own.accept()
                self.assertEqual(recv_all(conn), b"data\n")
                self.assertEqual(c.reply()[0], 226)
                with self.assertRaises(BlockingIOError):
                    victim.accept()


    def test_pipelined_bounce_attempts_do_not_flood_the_log(self):
        # Each refused PORT/EPRT was a warning of its own: one write of
        # 5,000 of them wrote 5,000 lines. The first ones are logged, then
        # one line says the rest are not, as for other refused commands.
        n = 2000
        with Server() as srv:
            with Control(srv.port, timeout=TIMEOUT, source=ATTACKER) as c:
                c.login()
                c.send(b"PORT 127,0,0,1,200,1\r\n" * (n // 2) +
                       b"EPRT |1|127.0.0.1|51201|\r\n" * (n // 2))
                for i in range(n):
                    self.assertEqual(c.reply()[0], 504, i)
                self.assertEqual(c.cmd("NOOP")[0], 200)
            log = srv.log_text()
            lines = [ln for ln in log.splitlines() if PORT_REFUSED in ln]
            self.assertGreater(len(lines), 1)
            self.assertLess(len(lines), 50)
            self.assertIn("further refused PORT/EPRT are not logged", log)


class RawControl(Control):
    """Control that keeps every reply line's raw bytes."""

    def __init__(self, port):
        self.raw = []
        super().__init__(port, timeout=TIMEOUT)

    def _raw_line(self):
        line = super()._raw_line()
        self.raw.append(line + b"\r\n")
        return line


class UserEnumerationTest(unittest.TestCase):
    """Unknown users look exactly like known users with a wrong password."""

    DELAY = 0.05
    PAIRS = 12
    ROUNDS = 2  # a second round only if the first one is inconclusive

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(users={"alice": {"password": "alice-pw"},
                                "bob": {"password": "bob-pw"}},
                         server={"login_fail_delay_ms":
                                 str(int(cls.DELAY * 1000)),
                                 "login_fail_max": "0"})

    @classmethod
    def tearDownClass(cls):
        try:
            cls.srv.stop()  # asserts a clean exit
        finally:
            cls.srv.cleanup()

    def attempt(self, user, password):
        """(raw USER reply, raw PASS reply, seconds from PASS to reply,
        raw replies to a PWD and a second PASS)."""
        with RawControl(self.srv.port) as c:
            c.raw.clear()
            c.cmd("USER " + user)
            user_raw = b"".join(c.raw)
            c.raw.clear()
            c.send("PASS " + password)
            t0 = time.monotonic()
            c.reply()
            elapsed = time.monotonic() - t0
            pass_raw = b"".join(c.raw)
            c.raw.clear()
            c.cmd("PWD")
            c.cmd("PASS " + password)
            after = b"".join(c.raw)
        return user_raw, pass_raw, elapsed, after

    def test_replies_identical(self):
        known = self.attempt("alice", "wrong-pw")
        other = self.attempt("bob", "not-bobs")
        unknown = self.attempt("mallory", "wrong-pw")
        longer = self.attempt("nosuchuser", "whatever")
        self.assertEqual(known[1], b"530 Login incorrect.\r\n")
        for probe in (other, unknown, longer):
            self.assertEqual(probe[1], known[1])
            self.assertEqual(probe[3], known[3])
        # USER echoes the name it was given, nothing else differs.
        form = known[0].replace(b"alice", b"NAME")
        self.assertTrue(form.startswith(b"331 "), known[0])
        self.assertEqual(other[0].replace(b"bob", b"NAME"), form)
        self.assertEqual(unknown[0].replace(b"mallory", b"NAME"), form)
        self.assertEqual(longer[0].replace(b"nosuchuser", b"NAME"), form)
        # Nothing the attempts wrote tells the client apart either: the log
        # may say why (it is the admin's), the wire may not.
        log = self.srv.log_text()
        self.assertIn("unknown user", log)
        self.assertIn("bad password", log)

    def measure(self, pairs, deadline):
        bad, unknown = [], []
        for i in range(pairs):
            self.assertLess(time.monotonic(), deadline,
                            "timing samples took too long")
            # ABBA order, so a slow phase of the machine hits both sides.
            order = (("alice", bad), ("nobody%d" % i, unknown))
            if i % 2:
                order = order[::-1]
            for user, sink in order:
                _, pass_raw, elapsed, _ = self.attempt(user, "wrong-pw")
                self.assertEqual(pass_raw, b"530 Login incorrect.\r\n")
                sink.append(elapsed)
        return bad, unknown

    def test_timing_unknown_user_costs_a_hash(self):
        # The unknown-user path verifies against a dummy argon2id hash with
        # the same cost as real ones. Were it skipped, the unknown user's
        # 530 would come after the delay alone, faster by one argon2id
        # verification (tens to hundreds of ms). Medians of interleaved
        # samples, compared relative to that verification's cost, stay
        # stable on a busy machine and still catch a skipped hash.
        deadline = time.monotonic() + 200
        bad, unknown = [], []
        for _ in range(self.ROUNDS):
            b, u = self.measure(self.PAIRS, deadline)
            bad += b
            unknown += u
            med_bad = statistics.median(bad)
            med_unknown = statistics.median(unknown)
            # Cost of the argon2id verification, without the fixed delay.
            work = max(med_bad, med_unknown) - self.DELAY
            diff = abs(med_unknown - med_bad)
            if diff < 0.5 * work:
                break
        summary = ("median bad password %.3f s, unknown user %.3f s, "
                   "hash work %.3f s, %d samples each\nbad: %s\nunknown: %s"
                   % (med_bad, med_unknown, work, len(bad),
                      " ".join("%.3f" % t for t in bad),
                      " ".join("%.3f" % t for t in unknown)))
        print(summary, file=sys.stderr)
        self.assertGreaterEqual(min(bad + unknown), self.DELAY * 0.9,
                                "530 before login_fail_delay_ms\n" + summary)
        self.assertGreater(work, 0.005,
                           "no measurable hash work\n" + summary)
        self.assertLess(diff, 0.5 * work,
                        "unknown users are told apart by timing\n" +
                        summary)


class PathControlCharsTest(unittest.TestCase):
    """NUL, CR and LF inside a path argument."""

    def setUp(self):
        self.srv = Server()
        self.addCleanup(self.srv.cleanup)
        self.home = self.srv.home("alice")
        write_file(os.path.join(self.home, "hello.txt"), b"hello\n")
        write_file(os.path.join(self.home, "sub", "keep.txt"), b"keep\n")
        self.outside = snapshot(self.srv.tmp + "/homes")
        self.ctl = Control(self.srv.port, timeout=TIMEOUT)
        self.addCleanup(self.ctl.close)
        self.ctl.login()

    def send_raw(self, line, upload=False):
        """Sends line (bytes, without CRLF). For an upload verb a passive
        connection is set up first, so an accepted path would really be
        written."""
        data = None
        if upload:
            port = passive_port(self.ctl, "EPSV")
            data = socket.create_connection(("127.0.0.1", port),
                                            timeout=TIMEOUT)
        self.ctl.send(line + b"\r\n")
        code, text = self.ctl.reply()
        if data is not None:
            if code == 150:
                data.sendall(b"should not land\n")
                data.close()
                code, more = self.ctl.reply()
                text += "\n" + more
            data.close()
        return code, text

    def test_nul_cr_in_path_refused_nothing_created(self):
        before = snapshot(self.home)
        probes = []
        for bad in (b"\x00", b"\r", b"\x00\r", b"\r\x00"):
            for name in (b"new" + bad + b"file", b"sub/x" + bad,
                         b"hello.txt" + bad + b"evil",
                         bad + b"/../hello.txt", b"sub" + bad + b"/keep.txt"):
                probes.append(name)
        for name in probes:
            want = (500,) if b"\x00" in name else (501, 550, 553)
            for verb in (b"STOR", b"APPE", b"STOU"):
                if verb == b"STOU" and b"/" in name:
                    continue
                code, text = self.send_raw(verb + b" " + name, upload=True)
                self.assertIn(code, want, "%r -> %s" % (verb + name, text))
            for verb in (b"MKD", b"RMD", b"DELE", b"RNFR", b"CWD",
                         b"SITE CHMOD 600", b"SIZE", b"MDTM", b"RETR"):
                code, text = self.send_raw(verb + b" " + name)
                self.assertIn(code, want, "%r -> %s" % (verb + name, text))
            self.assertEqual(self.ctl.cmd("RNFR hello.txt")[0], 350)
            code, text = self.send_raw(b"RNTO " + name)
            self.assertIn(code, want, "RNTO %r -> %s" % (name, text))
        self.assertEqual(self.ctl.cmd("PWD"),
                         (257, '257 "/" is the current directory.'))
        self.assertEqual(snapshot(self.home), before)
        self.assertEqual(snapshot(self.srv.tmp + "/homes"), self.outside)
        self.assertIn("NUL byte", self.ctl.cmd("MKD a\x00b")[1])

    def test_lf_ends_the_line(self):
        # A bare LF ends a command line (clients send either): whatever
        # follows it is the next command, never part of the path.
        before = snapshot(self.home)
        self.ctl.send(b"MKD lf1\nlf2\r\n")
        self.assertEqual(self.ctl.reply(), (257, '257 "/lf1" created.'))
        self.assertEqual(self.ctl.reply()[0], 500)
        self.ctl.send(b"DELE missing\nhello.txt\r\n")
        self.assertEqual(self.ctl.reply()[0], 550)
        self.assertEqual(self.ctl.reply()[0], 500)
        self.assertEqual(self.ctl.cmd("NOOP")[0], 200)
        after = snapshot(self.home)
        self.assertEqual(set(after) - set(before), {"lf1"})
        self.assertTrue(stat.S_ISDIR(after["lf1"][0]))
        for key in before:
            self.assertEqual(after[key], before[key], key)
        self.assertEqual([k for k in after if "\n" in k or "\r" in k], [])


class CrossUserTest(unittest.TestCase):
    """What test_traversal.py does not: a folder swapped for a link while a
    session sits in it, and renames across the boundary both ways."""

    def setUp(self):
        self.srv = Server(users={"alice": {"password": "alice-pw"},
                                 "bob": {"password": "bob-pw"}})
        self.addCleanup(self.srv.cleanup)
        self.alice = self.srv.home("alice")
        self.bob = self.srv.home("bob")
        self.bob_secret = secret_bytes("BOB", 4096)
        write_file(os.path.join(self.bob, "bob.txt"), self.bob_secret)
        write_file(os.path.join(self.alice, "hello.txt"), b"hello\n")
        write_file(os.path.join(self.alice, "sub", "inner.txt"), b"in\n")

    def session(self, user):
        c = Control(self.srv.port, timeout=TIMEOUT)
        self.addCleanup(c.close)
        c.login(user, self.srv.users[user]["password"])
        self.assertEqual(c.cmd("TYPE I")[0], 200)
        return c

    def data(self, c, line, payload=None):
        port = passive_port(c, "EPSV")
        d = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        code, text = c.cmd(line)
        if code != 150:
            d.close()
            return code, text, None
        if payload is not None:
            d.sendall(payload)
            d.close()
            got = None
        else:
            got = recv_all(d)
        code, more = c.reply()
        return code, text + "\n" + more, got

    def test_cwd_swapped_for_link_to_other_home(self):
        c = self.session("alice")
        self.assertEqual(c.cmd("CWD sub")[0], 250)
        bob_before = snapshot(self.bob)
        # Out of band (a local process of alice's, say): her current folder
        # becomes a link into bob's home, absolute and relative.
        sub = os.path.join(self.alice, "sub")
        os.rename(sub, os.path.join(self.alice, "sub.orig"))
        for target in (self.bob, "../bob"):
            if os.path.lexists(sub):
                os.unlink(sub)
            os.symlink(target, sub)
            code, text, got = self.data(c, "RETR bob.txt")
            self.assertEqual(code, 550, text)
            code, text, got = self.data(c, "LIST")
            self.assertIn(code, (226, 550), text)
            if got is not None:
                self.assertNotIn(b"bob.txt", got)
            for line in ("SIZE bob.txt", "MDTM bob.txt", "DELE bob.txt",
                         "RNFR bob.txt", "SITE CHMOD 666 bob.txt",
                         "MKD planted", "RMD planted", "HASH bob.txt"):
                self.assertEqual(c.cmd(line)[0], 550, line)
            for verb in ("STOR", "APPE"):
                code, text, _ = self.data(c, "%s bob.txt" % verb, b"alice!")
                self.assertIn(code, (550, 553), text)
                code, text, _ = self.data(c, "%s new.txt" % verb, b"alice!")
                self.assertIn(code, (550, 553), text)
            self.assertEqual(c.cmd("RNFR /hello.txt")[0], 350)
            self.assertIn(c.cmd("RNTO moved.txt")[0], (550, 553))
            self.assertEqual(snapshot(self.bob), bob_before)
        # Back in her own tree everything works again.
        self.assertEqual(c.cmd("CWD /")[0], 250)
        code, _, got = self.data(c, "RETR hello.txt")
        self.assertEqual((code, got), (226, b"hello\n"))
        self.assertTrue(os.path.isfile(os.path.join(self.alice,
                                                    "hello.txt")))
        with open(os.path.join(self.bob, "bob.txt"), "rb") as f:
            self.assertEqual(f.read(), self.bob_secret)

    def test_rename_across_homes_refused(self):
        alice_before = snapshot(self.alice)
        bob_before = snapshot(self.bob)
        a = self.session("alice")
        for dest in ("../bob/stolen.txt", "/../bob/stolen.txt",
                     "../../homes/bob/stolen.txt",
                     os.path.join(self.bob, "stolen.txt"),
                     "../bob/bob.txt"):
            self.assertEqual(a.cmd("RNFR hello.txt")[0], 350)
            code, text = a.cmd("RNTO " + dest)
            self.assertIn(code, (550, 553), "%s -> %s" % (dest, text))
        for src in ("../bob/bob.txt", "/../bob/bob.txt",
                    os.path.join(self.bob, "bob.txt"), "../bob"):
            code, text = a.cmd("RNFR " + src)
            self.assertEqual(code, 550, "%s -> %s" % (src, text))
            self.assertEqual(a.cmd("RNTO stolen.txt")[0], 503)
        b = self.session("bob")
        for dest in ("../alice/from-bob.txt", "/../alice/hello.txt",
                     os.path.join(self.alice, "from-bob.txt")):
            self.assertEqual(b.cmd("RNFR bob.txt")[0], 350)
            code, text = b.cmd("RNTO " + dest)
            self.assertIn(code, (550, 553), "%s -> %s" % (dest, text))
        self.assertEqual(snapshot(self.alice), alice_before)
        self.assertEqual(snapshot(self.bob), bob_before)
        self.assertFalse(os.path.exists(os.path.join(self.srv.tmp, "homes",
                                                     "stolen.txt")))
        # The rename itself works inside a home.
        self.assertEqual(a.cmd("RNFR hello.txt")[0], 350)
        self.assertEqual(a.cmd("RNTO renamed.txt")[0], 250)
        self.assertTrue(os.path.isfile(os.path.join(self.alice,
                                                    "renamed.txt")))


if __name__ == "__main__":
    unittest.main(verbosity=2)
