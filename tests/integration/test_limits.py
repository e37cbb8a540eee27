"""Connection limits and quotas, over the wire.

max_clients / max_clients_per_ip refuse with 421 at connect; max_sessions
refuses with 421 at PASS; quota_bytes and quota_files are enforced across
all sessions of a user (552), count the files already in the home, and never
leave a partial or a published file behind for a refused upload.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Control, Server, ServerCase,  # noqa: E402
                     have_ipv6_loopback, make_cert, wait_for)

K = 1024
M = 1024 * 1024
PARTIAL = ".rftpd-partial."


def try_connect(port, source=None):
    """Connects and reads the greeting. Returns (code, text, control)."""
    c = Control(port, source=source)
    return c.greeting[0], c.greeting[1], c


def closed_by_server(c, timeout=5):
    """True if the server closes the connection (EOF or reset) in time."""
    c.sock.settimeout(timeout)
    try:
        while True:
            data = c.sock.recv(4096)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def payload(n, seed=b"x"):
    return (seed * n)[:n]


def tree_usage(root):
    """(bytes, files) of regular files under root, partials included."""
    total = files = 0
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            st = os.lstat(os.path.join(dirpath, name))
            total += st.st_size
            files += 1
    return total, files


def partials(root):
    found = []
    for dirpath, _, filenames in os.walk(root):
        found += [os.path.join(dirpath, n) for n in filenames
                  if n.startswith(PARTIAL)]
    return found


class LimitsBase(ServerCase):

    def setUp(self):
        super().setUp()
        self.prepare()
        self.srv.start()

    def prepare(self):
        """Runs before the server starts (files placed on disk)."""

    def tearDown(self):
        self.assertIsNone(self.srv.proc.poll(), self.srv.log_text())
        self.srv.stop(check=True)

    def wait_admitted(self, timeout=10, source=None):
        """Connects until greeted with 220 (a freed slot may take a moment
        to be seen); returns that connection."""
        deadline = time.monotonic() + timeout
        while True:
            code, text, c = try_connect(self.srv.port, source)
            self.addCleanup(c.close)
            if code == 220:
                return c
            self.assertEqual(code, 421, text)
            c.close()
            self.assertLess(time.monotonic(), deadline, "no slot freed")
            time.sleep(0.05)

    def assert_stored(self, c, name, data):
        code, text = c.store(name, data)
        self.assertEqual(code, 226, "%s: %s\n%s" % (name, text,
                                                     self.srv.log_text()))
        path = os.path.join(self.home, name)
        self.assertEqual(os.path.getsize(path), len(data))

    def assert_refused(self, c, name, data):
        existed = os.path.exists(os.path.join(self.home, name))
        code, text = c.store(name, data)
        self.assertEqual(code, 552, "%s: %s" % (name, text))
        if not existed:
            self.assertFalse(os.path.exists(os.path.join(self.home, name)),
                             "%s published after 552" % name)
        # No partial stays behind (bounded: the server may clean up just
        # after replying).
        self.assertTrue(wait_for(lambda: partials(self.home) == [], 5),
                        partials(self.home))


class MaxClientsTest(LimitsBase):
    server_opts = {"max_clients": "3"}

    def test_fourth_client_refused_then_admitted_after_quit(self):
        sessions = [self.connect() for _ in range(3)]
        code, text, c4 = try_connect(self.srv.port)
        self.addCleanup(c4.close)
        self.assertEqual(code, 421, text)
        self.assertTrue(closed_by_server(c4), "421 without closing")
        # The three are unaffected.
        for c in sessions:
            self.assertEqual(c.cmd("NOOP")[0], 200)
        self.assertEqual(sessions[0].cmd("QUIT")[0], 221)

        c5 = self.wait_admitted()
        c5.login()
        self.assertEqual(c5.cmd("PWD")[0], 257)
        code, text, c6 = try_connect(self.srv.port)
        self.addCleanup(c6.close)
        self.assertEqual(code, 421, "limit gone after a reuse: " + text)

    def test_unauthenticated_connections_count(self):
        held = []
        for _ in range(3):
            code, text, c = try_connect(self.srv.port)
            self.addCleanup(c.close)
            self.assertEqual(code, 220, text)
            held.append(c)
        code, text, c4 = try_connect(self.srv.port)
        self.addCleanup(c4.close)
        self.assertEqual(code, 421, text)

    def test_abrupt_disconnect_frees_slot(self):
        cs = [self.connect() for _ in range(3)]
        cs[1].sock.close()  # no QUIT
        self.wait_admitted().login()


class MaxPerIpTest(LimitsBase):
    server_opts = {"max_clients": "10", "max_clients_per_ip": "2"}

    def test_third_from_same_ip_refused(self):
        a = self.connect()
        b = self.connect()
        code, text, c = try_connect(self.srv.port)
        self.addCleanup(c.close)
        self.assertEqual(code, 421, text)
        self.assertTrue(closed_by_server(c))
        self.assertEqual(a.cmd("NOOP")[0], 200)
        self.assertEqual(b.cmd("QUIT")[0], 221)
        self.wait_admitted().login()
        code, text, d = try_connect(self.srv.port)
        self.addCleanup(d.close)
        self.assertEqual(code, 421, text)

    def test_other_ip_not_counted(self):
        try:
            probe = socket.socket()
            probe.bind(("127.0.0.2", 0))
            probe.close()
        except OSError:
            self.skipTest("127.0.0.2 is not usable here")
        self.connect()
        self.connect()
        code, text, c = try_connect(self.srv.port, source="127.0.0.2")
        self.addCleanup(c.close)
        self.assertEqual(code, 220, text)
        code, text, d = try_connect(self.srv.port, source="127.0.0.2")
        self.addCleanup(d.close)
        self.assertEqual(code, 220, text)
        code, text, e = try_connect(self.srv.port, source="127.0.0.2")
        self.addCleanup(e.close)
        self.assertEqual(code, 421, text)


@unittest.skipUnless(have_ipv6_loopback(), "no IPv6 loopback")
class MaxPerIpAcrossListenersTest(unittest.TestCase):
    """An IPv4 client is one client on every listener: a dual-stack
    listen address shows it v4-mapped, an IPv4 implicit_listen address
    as IPv4, and the two were counted apart (twice max_clients_per_ip)."""

    def test_v4_mapped_and_ipv4_are_one_client(self):
        tmp = tempfile.mkdtemp(prefix="rftp-cert-")
        self.addCleanup(shutil.rmtree, tmp, True)
        cert, key = make_cert(tmp)
        srv = Server(server={"listen": "[::]:0", "max_clients": "10",
                             "max_clients_per_ip": "2"},
                     sections={"tls": {"cert": cert, "key": key,
                                       "implicit_listen": "127.0.0.1:0"}})
        self.addCleanup(srv.cleanup)
        held = []
        for _ in range(2):
            code, text, c = try_connect(srv.port)  # 127.0.0.1, v4-mapped
            self.addCleanup(c.close)
            self.assertEqual(code, 220, text)
            held.append(c)
        raw = socket.create_connection(("127.0.0.1", srv.implicit_port),
                                       timeout=10)
        self.addCleanup(raw.close)
        # Refused before any TLS: the 421 comes in clear, then the close.
        got = b""
        try:
            while not got.endswith(b"\n"):
                chunk = raw.recv(200)
                if not chunk:
                    break
                got += chunk
        except socket.timeout:
            pass
        self.assertTrue(got.startswith(b"421"), got)
        for c in held:
            self.assertEqual(c.cmd("NOOP")[0], 200)


class MaxSessionsTest(LimitsBase):
    users = {"alice": {"password": "alice-pw", "max_sessions": "1"},
             "bob": {"password": "bob-pw"}}

    def test_second_login_refused(self):
        a = self.connect()
        c = Control(self.srv.port)
        self.addCleanup(c.close)
        self.assertEqual(c.cmd("USER alice")[0], 331)
        code, text = c.cmd("PASS alice-pw")
        self.assertEqual(code, 421, text)
        self.assertTrue(closed_by_server(c), "421 at PASS without closing")
        # The first session is intact, other users are unaffected.
        self.assertEqual(a.cmd("PWD")[0], 257)
        self.connect("bob")
        # After the first leaves, alice can log in again.
        self.assertEqual(a.cmd("QUIT")[0], 221)

        def login_ok():
            c = Control(self.srv.port)
            try:
                c.cmd("USER alice")
                code, _ = c.cmd("PASS alice-pw")
            finally:
                c.close()
            time.sleep(0 if code == 230 else 0.05)
            return code == 230
        self.assertTrue(wait_for(login_ok, 10))

    def test_wrong_password_is_530_not_421(self):
        self.connect()
        c = Control(self.srv.port)
        self.addCleanup(c.close)
        c.cmd("USER alice")
        self.assertEqual(c.cmd("PASS wrong")[0], 530)


class QuotaBytesTest(LimitsBase):
    users = {"alice": {"password": "alice-pw", "quota_bytes": "1M"}}

    def test_over_quota_upload_refused_and_rolled_back(self):
        c = self.connect()
        self.assert_stored(c, "a.bin", payload(600 * K, b"a"))
        self.assert_refused(c, "b.bin", payload(600 * K, b"b"))
        self.assertLessEqual(tree_usage(self.home)[0], M)
        # The refused bytes are not counted any more.
        self.assert_stored(c, "c.bin", payload(300 * K, b"c"))
        self.assertEqual(c.cmd("NOOP")[0], 200)

    def test_quota_shared_by_sessions_of_one_user(self):
        a = self.connect()
        b = self.connect()
        self.assert_stored(a, "a.bin", payload(600 * K))
        self.assert_refused(b, "b.bin", payload(600 * K))
        self.assert_stored(b, "b.bin", payload(400 * K))
        self.assert_refused(a, "c.bin", payload(100 * K))

    def test_quota_survives_reconnect(self):
        a = self.connect()
        self.assert_stored(a, "a.bin", payload(600 * K))
        self.assertEqual(a.cmd("QUIT")[0], 221)
        a.close()
        b = self.connect()
        self.assert_refused(b, "b.bin", payload(600 * K))

    def test_exact_fit(self):
        c = self.connect()
        self.assert_stored(c, "a.bin", payload(M - 10))
        self.assert_stored(c, "b.bin", payload(10))
        self.assert_refused(c, "c.bin", payload(1))

    def test_dele_frees_quota(self):
        c = self.connect()
        self.assert_stored(c, "a.bin", payload(600 * K))
        self.assert_refused(c, "b.bin", payload(600 * K))
        self.assertEqual(c.cmd("DELE a.bin")[0], 250)
        self.assert_stored(c, "b.bin", payload(600 * K))
        # Renaming does not change usage either way.
        self.assertEqual(c.cmd("RNFR b.bin")[0], 350)
        self.assertEqual(c.cmd("RNTO d.bin")[0], 250)
        self.assert_refused(c, "e.bin", payload(600 * K))
        self.assert_stored(c, "e.bin", payload(400 * K))

    def test_overwrite_does_not_double_count(self):
        c = self.connect()
        self.assert_stored(c, "same.bin", payload(600 * K, b"1"))
        self.assert_stored(c, "same.bin", payload(600 * K, b"2"))
        with open(os.path.join(self.home, "same.bin"), "rb") as f:
            self.assertEqual(f.read(1), b"2")
        # 600K in use: 300K more fits, then 200K more does not.
        self.assert_stored(c, "other.bin", payload(300 * K))
        self.assert_refused(c, "big.bin", payload(200 * K))

    def test_appe_counts(self):
        c = self.connect()
        self.assert_stored(c, "log.bin", payload(600 * K))
        code, text = c.store("log.bin", payload(600 * K), "APPE")
        self.assertEqual(code, 552, text)
        self.assertEqual(os.path.getsize(os.path.join(self.home, "log.bin")),
                         600 * K, "a refused APPE changed the file")
        self.assertTrue(wait_for(lambda: partials(self.home) == [], 5))
        code, text = c.store("log.bin", payload(100 * K), "APPE")
        self.assertEqual(code, 226, text)

    def test_concurrent_uploads_share_quota(self):
        n, size = 4, 400 * K
        sessions = [self.connect() for _ in range(n)]
        datas = []
        for i, c in enumerate(sessions):
            d = c.epsv()
            self.addCleanup(d.close)
            code, text = c.cmd("STOR f%d.bin" % i)
            self.assertEqual(code, 150, text)
            datas.append(d)
        start = threading.Barrier(n)
        errors = []

        def push(d):
            try:
                start.wait(10)
                d.sendall(payload(size))
            except OSError as e:
                errors.append(e)
            finally:
                d.close()
        threads = [threading.Thread(target=push, args=(d,)) for d in datas]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
            self.assertFalse(t.is_alive(), "upload thread stuck")
        codes = [c.reply()[0] for c in sessions]
        self.assertLessEqual(codes.count(226), 2, codes)
        self.assertEqual(codes.count(226) + codes.count(552), n, codes)
        for i, code in enumerate(codes):
            path = os.path.join(self.home, "f%d.bin" % i)
            if code == 226:
                self.assertEqual(os.path.getsize(path), size)
            else:
                self.assertFalse(os.path.exists(path))
        self.assertTrue(wait_for(lambda: partials(self.home) == [], 5))
        used = tree_usage(self.home)[0]
        self.assertLessEqual(used, M)
        # What the server counts matches the disk: the remaining room is
        # usable, and not more.
        room = M - used
        c = sessions[0]
        if room >= 2:
            self.assert_stored(c, "fill.bin", payload(room - 1))
        self.assert_refused(c, "over.bin", payload(2))


class QuotaFilesTest(LimitsBase):
    users = {"alice": {"password": "alice-pw", "quota_files": "2"}}

    def test_third_file_refused(self):
        c = self.connect()
        self.assert_stored(c, "one", b"1")
        self.assert_stored(c, "two", b"2")
        self.assert_refused(c, "three", b"3")
        self.assertEqual(c.cmd("DELE one")[0], 250)
        self.assert_stored(c, "three", b"3")
        self.assert_refused(c, "four", b"4")
        self.assertEqual(sorted(os.listdir(self.home)), ["three", "two"])

    def test_overwrite_is_not_a_new_file(self):
        c = self.connect()
        self.assert_stored(c, "one", b"1")
        self.assert_stored(c, "two", b"2")
        # At the limit, replacing an existing name keeps the count at 2.
        self.assert_stored(c, "two", b"22")
        self.assert_refused(c, "three", b"3")

    def test_shared_between_sessions(self):
        a = self.connect()
        b = self.connect()
        self.assert_stored(a, "one", b"1")
        self.assert_stored(b, "two", b"2")
        self.assert_refused(a, "three", b"3")
        self.assert_refused(b, "three", b"3")


class QuotaOneHomeTwoUsersTest(LimitsBase):
    """Two accounts on one home (a camera's and a second uploader's), each
    with a quota: the home's usage is one, whoever wrote it."""
    users = {"alice": {"password": "alice-pw", "quota_bytes": "1M",
                       "quota_files": "3"},
             "cam": {"password": "cam-pw", "quota_bytes": "1M",
                     "quota_files": "3"}}

    def prepare(self):
        os.makedirs(self.home)
        self.srv.users["cam"]["home"] = self.home
        self.srv.write_users()

    def test_both_users_fill_one_quota(self):
        a = self.connect()
        b = self.connect("cam")
        self.assert_stored(a, "a.bin", payload(600 * K))
        # cam's quota sees alice's 600K: 600K more would end at 1.2M.
        self.assert_refused(b, "b.bin", payload(600 * K))
        self.assert_stored(b, "b.bin", payload(400 * K))
        self.assert_refused(a, "c.bin", payload(100 * K))
        self.assertLessEqual(tree_usage(self.home)[0], M)
        # A delete by one frees room for the other.
        self.assertEqual(a.cmd("DELE b.bin")[0], 250)
        self.assert_stored(b, "c.bin", payload(400 * K))
        self.assert_stored(a, "d", b"d")
        # Entries too: a.bin, c.bin, d are 3.
        self.assert_refused(b, "e", b"e")

    def test_files_removed_outside_count_at_the_next_first_login(self):
        # README: usage is counted at the first login, so what other
        # programs did meanwhile counts. alice's session stays open
        # (a viewer's) while cam's camera fills the home, a program
        # clears it, and cam logs in again: cam was refused 552 for
        # the bytes no longer there, for as long as alice stayed.
        a = self.connect()
        b = self.connect("cam")
        self.assert_stored(b, "big.bin", payload(900 * K))
        self.assertEqual(b.cmd("QUIT")[0], 221)
        self.assertTrue(closed_by_server(b))
        os.remove(os.path.join(self.home, "big.bin"))
        b = self.connect("cam")
        self.assert_stored(b, "next.bin", payload(600 * K))
        self.assertEqual(a.cmd("NOOP")[0], 200)


class PreexistingFilesTest(LimitsBase):
    # quota_files counts folders too: old and old/deeper are 2 of the 6.
    users = {"alice": {"password": "alice-pw", "quota_bytes": "1M",
                       "quota_files": "6"}}

    def prepare(self):
        os.makedirs(os.path.join(self.home, "old", "deeper"))
        with open(os.path.join(self.home, "old", "a.bin"), "wb") as f:
            f.write(payload(500 * K))
        with open(os.path.join(self.home, "old", "deeper", "b.bin"),
                  "wb") as f:
            f.write(payload(400 * K))

    def test_files_on_disk_count(self):
        c = self.connect()
        self.assert_refused(c, "new.bin", payload(200 * K))
        self.assert_stored(c, "new.bin", payload(100 * K))
        # 2 folders and 3 files now, limit 6.
        self.assert_stored(c, "tiny", b"t")
        self.assert_refused(c, "tiny2", b"t")
        # Deleting a file placed by the admin frees its bytes.
        self.assertEqual(c.cmd("DELE old/a.bin")[0], 250)
        self.assert_stored(c, "big.bin", payload(450 * K))


class PreexistingFileCountTest(LimitsBase):
    users = {"alice": {"password": "alice-pw", "quota_files": "2"}}

    def prepare(self):
        os.makedirs(self.home)
        for name in ("x", "y"):
            with open(os.path.join(self.home, name), "wb") as f:
                f.write(b"z")

    def test_files_on_disk_count(self):
        c = self.connect()
        self.assert_refused(c, "new", b"n")


class QuotaOnReloadTest(LimitsBase):
    users = {"alice": {"password": "alice-pw"}}

    def prepare(self):
        os.makedirs(self.home)
        with open(os.path.join(self.home, "old.bin"), "wb") as f:
            f.write(payload(900 * K))

    def test_quota_added_by_reload_counts_existing_files(self):
        a = self.connect()
        self.assert_stored(a, "free.bin", payload(50 * K))
        self.srv.users["alice"]["quota_bytes"] = "1M"
        self.srv.write_users()
        b = self.connect()  # this login sees the new users.ini
        self.assert_refused(b, "x.bin", payload(200 * K))
        # The session from before the reload does not upload past it: its
        # account changed, and its next command ends it (once the edit
        # has kept still a second, which that command waits for).
        code, text = a.store("y.bin", payload(200 * K))
        self.assertEqual(code, 421, text)
        self.assertFalse(os.path.exists(os.path.join(self.home, "y.bin")))
        self.assert_stored(b, "z.bin", payload(50 * K))

    def test_quota_removed_and_put_back_counts_again(self):
        """A quota that comes back is counted anew at the next login, also
        while a session from before keeps the user's account: what another
        program wrote meanwhile counts (it was taken as the count from the
        first login: 3.9 MB on disk under 1 MiB)."""
        self.srv.users["alice"]["quota_bytes"] = "1M"
        self.srv.write_users()
        a = self.connect()  # counted: 900 K of 1 M
        self.srv.users["alice"]["quota_bytes"] = "0"
        self.srv.write_users()
        b = self.connect()  # no quota now
        b.close()
        with open(os.path.join(self.home, "ext.bin"), "wb") as f:
            f.write(payload(3000 * K))
        self.srv.users["alice"]["quota_bytes"] = "1M"
        self.srv.write_users()
        d = self.connect()
        self.assert_refused(d, "more.bin", payload(50 * K))
        code, text = d.cmd("STAT")
        self.assertIn("Quota: %d of 1048576 bytes" % (3900 * K), text)
        a.close()


class QuotaFilesLoweredTest(LimitsBase):
    """quota_files lowered by a reload below what the home holds: a
    replace adds no file and is taken (it was 552, while DELE then STOR
    of the same name worked); a new name is still refused."""
    users = {"alice": {"password": "alice-pw"}}

    def prepare(self):
        os.makedirs(self.home)
        for name in ("a", "b", "c", "d"):
            with open(os.path.join(self.home, name), "wb") as f:
                f.write(b"old")

    def lower(self):
        self.srv.users["alice"]["quota_files"] = "2"
        self.srv.write_users()
        return self.connect()  # this login sees the new users.ini

    def test_replace_over_the_lowered_quota(self):
        c = self.lower()
        self.assert_stored(c, "a", b"new a")
        self.assert_stored(c, "a", b"newer a")
        with open(os.path.join(self.home, "a"), "rb") as f:
            self.assertEqual(f.read(), b"newer a")
        self.assert_refused(c, "e", b"e")
        # A rename over a name adds none either.
        self.assertEqual(c.cmd("RNFR d")[0], 350)
        self.assertEqual(c.cmd("RNTO c")[0], 250)
        self.assertEqual(c.cmd("RNFR c")[0], 350)
        self.assertEqual(c.cmd("RNTO d")[0], 250)
        self.assertEqual(sorted(os.listdir(self.home)), ["a", "b", "d"])
        self.assert_stored(c, "d", b"new d")
        self.assert_refused(c, "c", b"c")  # a new name: 4 of 2
        self.assertEqual(sorted(os.listdir(self.home)), ["a", "b", "d"])
        code, text = c.cmd("STAT")
        self.assertIn("3 of 2 files and folders", text)

    def test_one_replace_at_a_time_past_the_quota(self):
        """The partial of a replace is a name more while it runs: past
        the quota, one replace of the home at a time may have one."""
        c = self.lower()
        d = self.connect()
        data = c.epsv()
        code, text = c.cmd("STOR a")
        self.assertEqual(code, 150, text)
        data.sendall(b"first")
        self.assertTrue(wait_for(lambda: len(partials(self.home)) == 1, 5))
        code, text = d.store("b", b"second")
        self.assertEqual(code, 552, text)
        data.close()
        self.assertEqual(c.reply()[0], 226)
        self.assertEqual(partials(self.home), [])
        self.assert_stored(d, "b", b"second")
        self.assertEqual(len(os.listdir(self.home)), 4)


class QuotaFilesFullReplaceTest(LimitsBase):
    """A home at quota_files exactly (not past it): a replace's partial
    takes the one entry past the quota a replace may; a second replace
    at the same time must not take the loan meant for homes past the
    quota (a reload), which put two names past quota_files on disk."""
    users = {"alice": {"password": "alice-pw", "quota_files": "2"}}

    def prepare(self):
        os.makedirs(self.home)
        for name in ("a", "b"):
            with open(os.path.join(self.home, name), "wb") as f:
                f.write(b"old")

    def test_second_replace_at_the_quota_is_refused(self):
        c = self.connect()
        d = self.connect()
        data = c.epsv()
        code, text = c.cmd("STOR a")
        self.assertEqual(code, 150, text)
        data.sendall(b"first")
        self.assertTrue(wait_for(lambda: len(partials(self.home)) == 1, 5))
        ddata = d.epsv()
        code, text = d.cmd("STOR b")
        if code == 150:
            ddata.sendall(b"second")
            on_disk = len(os.listdir(self.home))
            ddata.close()
            d.reply()
        else:
            ddata.close()
            on_disk = len(os.listdir(self.home))
        data.close()
        self.assertEqual(c.reply()[0], 226)
        # 2 files and one partial at most: quota_files + 1.
        self.assertEqual(code, 552, text)
        self.assertLessEqual(on_disk, 3)
        self.assertEqual(partials(self.home), [])
        self.assert_stored(d, "b", b"second")
        self.assertEqual(sorted(os.listdir(self.home)), ["a", "b"])


class OutOfDescriptorsTest(LimitsBase):
    """A server out of descriptors when an upload creates its file: 451
    (try again), not 553, which clients take as a name refused for good
    (found from outside). The next upload, with descriptors back, works."""

    def test_upload_without_descriptors_is_451(self):
        c = self.wait_admitted()
        c.login()
        pid = str(self.srv.proc.pid)
        d = c.epsv()
        # Every descriptor the server holds now is all it may hold: the
        # upload's file cannot be opened.
        with open("/proc/%s/limits" % pid) as f:
            soft = [line.split()[3] for line in f
                    if line.startswith("Max open files")][0]
        n = len(os.listdir("/proc/%s/fd" % pid))
        subprocess.run(["prlimit", "--pid", pid,
                        "--nofile=%d:" % n], check=True, timeout=10)
        try:
            code, text = c.cmd("STOR f.txt")
        finally:
            subprocess.run(["prlimit", "--pid", pid, "--nofile=%s:" % soft],
                           check=True, timeout=10)
        d.close()
        self.assertEqual(code, 451, text)
        self.assertIn("Too many open files", text)
        self.assertFalse(os.path.exists(os.path.join(self.home, "f.txt")))
        self.assert_stored(c, "f.txt", b"after")


if __name__ == "__main__":
    unittest.main()
