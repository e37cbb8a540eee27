"""FTPS (RFC 4217) against the real relayftpd with real clients.

Each class starts its own server with a fresh self-signed certificate
(harness.make_cert) and drives it with curl --ssl-reqd, lftp with
ftp:ssl-force, Python's ftplib.FTP_TLS and raw sockets. What is asserted is
what a user sees: bytes on disk and downloaded, reply codes and texts.

Covered here: explicit and implicit TLS; TLS 1.2 and TLS 1.3 uploads of
several MiB (the session-ticket pitfall that truncates uploads on other
servers); clear-text login and data refused when required, with per-user
overrides; PBSZ/PROT/CCC rules; the data connection must resume the
control connection's TLS session (a stranger's TLS on the passive port gets
nothing; a client that cannot resume is told what to change); an upload
whose TLS ends without close_notify is never answered 226.
(libcurl under PROT P: test_libcurl runs its whole battery with RFTP_TLS=1.)

Every subprocess has a timeout and every wait is bounded.
"""
import ftplib
import hashlib
import io
import os
import random
import socket
import struct
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (Control, Server, client_env, make_cert,  # noqa: E402
                     port_listener, wait_for)

CURL = "/usr/bin/curl"
LFTP = "/usr/bin/lftp"
MB = 1024 * 1024
PARTIAL_PREFIX = ".rftpd-partial."


def read(path):
    with open(path, "rb") as f:
        return f.read()


def client_context(cafile, max_version=None):
    ctx = ssl.create_default_context(cafile=cafile)
    if max_version is not None:
        ctx.maximum_version = max_version
    return ctx


def read_tls(raw, ctx, session=None, limit=1 << 20):
    """What a TLS client on socket raw reads until the end (at most limit
    bytes); b"" or what came before a TLS error or a reset."""
    got = b""
    try:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1",
                             session=session) as t:
            t.settimeout(10)
            while len(got) < limit:
                chunk = t.recv(65536)
                if not chunk:
                    break
                got += chunk
    except (ssl.SSLError, OSError):
        pass
    return got


class ReusingFTP_TLS(ftplib.FTP_TLS):
    """FTP_TLS that resumes the control connection's TLS session on data
    connections, as curl, lftp and FileZilla do (stock ftplib does not)."""

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(
                conn, server_hostname=self.host, session=self.sock.session)
        return conn, size


class FtpsCase(unittest.TestCase):
    tls = {}
    users = None
    server_opts = {}

    @classmethod
    def setUpClass(cls):
        cls.certdir = tempfile.mkdtemp(prefix="rftp-cert-")
        cls.cert, cls.key = make_cert(cls.certdir)
        tls = {"cert": cls.cert, "key": cls.key}
        tls.update(cls.tls)
        opts = {"log_level": "debug"}
        opts.update(cls.server_opts)
        cls.srv = Server(users=cls.users, server=opts,
                         sections={"tls": tls})
        cls.env = client_env(cls.srv.tmp)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()
        subprocess.run(["rm", "-rf", cls.certdir], timeout=30)

    def home(self, *parts, user="alice"):
        return os.path.join(self.srv.home(user), *parts)

    def curl(self, *args, ok=True, timeout=90):
        cmd = [CURL, "-sS", "--max-time", str(timeout - 10),
               "--cacert", self.cert] + list(args)
        r = subprocess.run(cmd, capture_output=True, timeout=timeout,
                           env=self.env)
        if ok:
            self.assertEqual(r.returncode, 0, "%s failed: %s\n%s" % (
                cmd, r.stderr.decode(errors="replace"),
                self.srv.log_text()[-3000:]))
        return r

    def lftp(self, script, timeout=120, ok=True, user="alice",
             password="alice-pw", port=None):
        prelude = ("set cmd:fail-exit yes; set net:max-retries 1; "
                   "set net:timeout 10; set net:reconnect-interval-base 1; "
                   "set ftp:ssl-force true; set ftp:ssl-protect-data true; "
                   "set ftp:ssl-protect-list true; "
                   "set ssl:ca-file %s; set ssl:check-hostname no; "
                   "set xfer:clobber on; "
                   "open -u %s,%s ftp://127.0.0.1:%d; " %
                   (self.cert, user, password, port or self.srv.port))
        r = subprocess.run([LFTP, "-c", prelude + script],
                           capture_output=True, timeout=timeout,
                           env=self.env, stdin=subprocess.DEVNULL)
        if ok:
            self.assertEqual(r.returncode, 0, "lftp %r failed:\n%s\n%s\n%s"
                             % (script, r.stdout.decode(errors="replace"),
                                r.stderr.decode(errors="replace"),
                                self.srv.log_text()[-3000:]))
        return r

    def ftp_tls(self, cls=ReusingFTP_TLS, login=True, prot_p=True,
                max_version=None, user="alice", password="alice-pw"):
        f = cls(context=client_context(self.cert, max_version), timeout=20)
        f.connect("127.0.0.1", self.srv.port)
        self.addCleanup(f.close)
        if login:
            f.login(user, password)  # FTP_TLS.login sends AUTH TLS first
            if prot_p:
                f.prot_p()
        return f

    def data_file(self, name, size, seed):
        path = os.path.join(self.srv.tmp, name)
        rnd = random.Random(seed)
        data = rnd.randbytes(size)
        with open(path, "wb") as f:
            f.write(data)
        return path, data


class RequiredTlsTests(FtpsCase):
    """[tls] requires TLS for logins and data; alice follows the server,
    legacy may log in in clear (per-user override), strict requires TLS
    and protected data from the user side too."""
    tls = {"require_login_tls": "on", "require_data_tls": "on",
           "implicit_listen": "127.0.0.1:0"}
    users = {"alice": {"password": "alice-pw"},
             "legacy": {"password": "legacy-pw", "require_login_tls": "off",
                        "require_data_tls": "off"}}

    def test_curl_tls13_multi_mib_upload_and_download(self):
        path, data = self.data_file("c13.bin", 6 * MB + 17, 1)
        self.curl("--ssl-reqd", "--tlsv1.3", "-T", path,
                  self.srv.url(path="/c13.bin"))
        self.assertEqual(hashlib.sha256(read(self.home("c13.bin")))
                         .hexdigest(), hashlib.sha256(data).hexdigest())
        out = os.path.join(self.srv.tmp, "c13.back")
        self.curl("--ssl-reqd", "--tlsv1.3", "-o", out,
                  self.srv.url(path="/c13.bin"))
        self.assertEqual(read(out), data)
        log = self.srv.log_text()
        self.assertIn("data connection: TLSv1.3", log)
        self.assertIn("(resumed)", log)

    def test_curl_many_transfers_on_one_control_connection(self):
        # curl (OpenSSL) uses a TLS 1.3 session once: its second data
        # connection resumes only with the fresh ticket the server sends
        # on the control connection after each data handshake.
        log_start = len(self.srv.log_text())
        args = ["--ssl-reqd", "--tlsv1.3"]
        blobs = {}
        for i in range(4):
            path, data = self.data_file("m%d.bin" % i, 200000 + i, 10 + i)
            blobs["m%d.bin" % i] = data
            args += ["-T", path, self.srv.url(path="/m%d.bin" % i)]
        self.curl(*args)
        for name, data in blobs.items():
            self.assertEqual(read(self.home(name)), data)
        out = self.curl("--ssl-reqd", "--tlsv1.3", self.srv.url(path="/"),
                        self.srv.url(path="/m0.bin"),
                        self.srv.url(path="/m1.bin"))
        self.assertTrue(out.stdout.endswith(blobs["m0.bin"] +
                                            blobs["m1.bin"]))
        self.assertNotIn("did not resume", self.srv.log_text()[log_start:])

    def test_curl_tls12_upload(self):
        path, data = self.data_file("c12.bin", 3 * MB + 5, 2)
        self.curl("--ssl-reqd", "--tls-max", "1.2", "-T", path,
                  self.srv.url(path="/c12.bin"))
        self.assertEqual(read(self.home("c12.bin")), data)
        self.assertIn("data connection: TLSv1.2", self.srv.log_text())

    def test_curl_resume_under_tls(self):
        path, data = self.data_file("cr.bin", 2 * MB, 3)
        with open(self.home(PARTIAL_PREFIX + "cr.bin"), "wb") as f:
            f.write(data[:700000])
        self.curl("--ssl-reqd", "-C", "-", "-T", path,
                  self.srv.url(path="/cr.bin"))
        self.assertEqual(read(self.home("cr.bin")), data)

    def test_lftp_ssl_force_put_get_mirror(self):
        path, data = self.data_file("l.bin", 5 * MB + 3, 4)
        src = os.path.join(self.srv.tmp, "tree")
        os.makedirs(os.path.join(src, "sub"), exist_ok=True)
        with open(os.path.join(src, "sub", "x.txt"), "wb") as f:
            f.write(b"x" * 1000)
        back = os.path.join(self.srv.tmp, "l.back")
        log_start = len(self.srv.log_text())
        self.lftp("put %s -o l.bin; get l.bin -o %s; mirror -R %s tree; "
                  "cls -1 tree/sub" % (path, back, src))
        self.assertEqual(read(self.home("l.bin")), data)
        self.assertEqual(read(back), data)
        self.assertEqual(read(self.home("tree", "sub", "x.txt")),
                         b"x" * 1000)
        # lftp (GnuTLS) negotiates TLS 1.3 here: the multi-MiB put above
        # is the TLS 1.3 upload case.
        log = self.srv.log_text()[log_start:]
        self.assertIn("control connection: TLSv1.3", log)
        self.assertIn("data connection: TLSv1.3", log)

    def test_ftplib_reusing_client_transfers(self):
        f = self.ftp_tls()
        payload = random.Random(5).randbytes(2 * MB + 9)
        f.storbinary("STOR py.bin", io.BytesIO(payload))
        self.assertEqual(read(self.home("py.bin")), payload)
        got = io.BytesIO()
        f.retrbinary("RETR py.bin", got.write)
        self.assertEqual(got.getvalue(), payload)
        self.assertIn("py.bin", f.nlst())

    def test_ftplib_tls12(self):
        f = self.ftp_tls(max_version=ssl.TLSVersion.TLSv1_2)
        f.storbinary("STOR py12.bin", io.BytesIO(b"twelve" * 1000))
        self.assertEqual(read(self.home("py12.bin")), b"twelve" * 1000)

    def test_stock_ftplib_cannot_resume_is_told_what_to_change(self):
        # Python's ftplib does not resume the session on data connections.
        f = self.ftp_tls(cls=ftplib.FTP_TLS)
        # ftplib fails on its side of the data connection (the server
        # drops it after the handshake) or reads our 425 first; either
        # way the 425 is the reply on the control connection.
        try:
            f.storbinary("STOR stock.bin", io.BytesIO(b"data"))
            text = "stored without resuming the TLS session"
        except ftplib.error_temp as e:
            text = str(e)
        except OSError:  # ssl.SSLError and BrokenPipeError included
            try:
                text = "no error reply: " + f.getresp()
            except ftplib.error_temp as e:
                text = str(e)
        self.assertTrue(str(text).startswith("425"), text)
        self.assertIn("require_session_reuse", str(text))
        self.assertFalse(os.path.exists(self.home("stock.bin")))
        self.assertIn("did not resume", self.srv.log_text())
        f.voidcmd("NOOP")  # the session goes on

    def test_plain_login_refused_530(self):
        with Control(self.srv.port) as c:
            code, text = c.cmd("USER alice")
            self.assertEqual(code, 530, text)
            self.assertIn("AUTH TLS", text)
            # Unknown names get the same answer: nothing to enumerate.
            code2, text2 = c.cmd("USER nobody-here")
            self.assertEqual((code2, text2), (code, text))
        r = self.curl(self.srv.url(path="/"), ok=False)
        self.assertEqual(r.returncode, 67, r.stderr)

    def test_pipelined_clear_text_users_do_not_flood_the_log(self):
        # USER has no delay: 2,000 refused clear-text USERs in one write
        # logged 2,000 lines (a few MB a second from one connection).
        # The first ones are logged, then one line says the rest are not.
        n = 2000
        with Control(self.srv.port) as c:
            c.send(b"USER tls-flooder\r\n" * n)
            for i in range(n):
                self.assertEqual(c.reply()[0], 530, i)
            self.assertEqual(c.cmd("NOOP")[0], 200)
        lines = [ln for ln in self.srv.log_text().splitlines()
                 if "clear-text login refused for 'tls-flooder'" in ln]
        self.assertGreater(len(lines), 1)
        self.assertLess(len(lines), 50)
        self.assertIn("further clear-text logins are not logged", lines[-1])

    def test_per_user_override_allows_clear_text(self):
        with Control(self.srv.port) as c:
            c.login("legacy", "legacy-pw")
            data = c.epsv()
            self.assertEqual(c.cmd("STOR clear.txt")[0], 150)
            data.sendall(b"in the clear")
            data.close()
            self.assertEqual(c.reply()[0], 226)
        self.assertEqual(read(self.home("clear.txt", user="legacy")),
                         b"in the clear")

    def test_clear_data_refused_521_and_prot_c_534(self):
        f = self.ftp_tls(prot_p=False)
        f.sendcmd("PBSZ 0")
        with self.assertRaises(ftplib.error_perm) as cm:
            f.sendcmd("PROT C")
        self.assertTrue(str(cm.exception).startswith("534"))
        with self.assertRaises(ftplib.error_perm) as cm:
            f.nlst()
        self.assertTrue(str(cm.exception).startswith("521"), cm.exception)
        f.prot_p()
        f.storbinary("STOR after.txt", io.BytesIO(b"ok"))
        self.assertEqual(read(self.home("after.txt")), b"ok")

    def test_implicit_tls_port(self):
        path, data = self.data_file("imp.bin", MB + 1, 6)
        url = "ftps://alice:alice-pw@127.0.0.1:%d/imp.bin" % \
            self.srv.implicit_port
        self.curl("-T", path, url)
        self.assertEqual(read(self.home("imp.bin")), data)
        out = os.path.join(self.srv.tmp, "imp.back")
        self.curl("-o", out, url)
        self.assertEqual(read(out), data)
        # A clear-text client on the implicit port gets no greeting.
        s = socket.create_connection(("127.0.0.1", self.srv.implicit_port),
                                     timeout=5)
        s.sendall(b"USER alice\r\n")
        s.settimeout(5)
        try:
            got = s.recv(100)
        except (ConnectionResetError, socket.timeout):
            got = b""
        s.close()
        self.assertFalse(got.startswith(b"220"), got)

    def stranger_on_the_port(self, name, data):
        """A PROT P client sends PASV and RETR name (holding data); a
        stranger on the same host (the address check passes) connects to
        the port first and speaks TLS, with a session of its own. Returns
        (client, port, what the stranger read)."""
        with open(self.home(name), "wb") as f:
            f.write(data)
        f = self.ftp_tls()
        f.sendcmd("TYPE I")
        host, port = ftplib.parse227(f.sendcmd("PASV"))
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        f.putcmd("RETR " + name)
        self.assertTrue(f.getresp().startswith("150"))
        return f, port, read_tls(raw, client_context(self.cert))

    def test_stranger_tls_on_passive_port_gets_nothing(self):
        secret = b"canary-" + os.urandom(32).hex().encode()
        f, port, got = self.stranger_on_the_port("secret.txt", secret)
        self.assertNotIn(b"canary", got)
        self.assertIn("did not resume", self.srv.log_text())
        # Nor does it cost the client its transfer (it answered 425
        # here): the port still listens, and the client's own connection,
        # which resumes the session, gets the file.
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.assertEqual(read_tls(raw, f.context, f.sock.session), secret)
        self.assertTrue(f.voidresp().startswith("226"))

    def test_stalled_stranger_on_passive_port_gives_way(self):
        # A stranger at the client's address that connected to the port
        # first and then stayed silent, or sent a byte and stopped, held
        # the handshake until data_timeout, and the client got 425. Its
        # handshake now gives way to the client's own connection after
        # 2 s.
        for first in (b"", b"\x16"):
            name = "stall%d.txt" % len(first)
            data = b"kept-" + os.urandom(16).hex().encode()
            f = self.ftp_tls()
            with open(self.home(name), "wb") as fh:
                fh.write(data)
            f.sendcmd("TYPE I")
            _, port = ftplib.parse227(f.sendcmd("PASV"))
            stranger = socket.create_connection(("127.0.0.1", port),
                                                timeout=10)
            self.addCleanup(stranger.close)
            stranger.sendall(first)
            f.putcmd("RETR " + name)
            self.assertTrue(f.getresp().startswith("150"))
            raw = socket.create_connection(("127.0.0.1", port), timeout=10)
            self.assertEqual(read_tls(raw, f.context, f.sock.session), data,
                             self.srv.log_text()[-2000:])
            self.assertTrue(f.voidresp().startswith("226"))
            # The stranger got nothing, not even a reply to its byte.
            stranger.settimeout(5)
            self.assertEqual(stranger.recv(100), b"")
            f.quit()
        self.assertEqual(self.srv.log_text().count(
            "the first from the client's address stalled"), 2)

    def test_abor_during_a_stalled_data_handshake(self):
        # A connection from the client's address that stays silent in
        # its TLS handshake (a stranger behind the client's NAT; a client
        # that hung): ABOR ends the wait at once with 426 and 226, as it
        # does while no connection came. It was not read until the
        # handshake timed out (data_timeout): 425, then 225. A control
        # connection reset meanwhile ends it too.
        for leave in (False, True):
            f = self.ftp_tls()
            with open(self.home("abor.txt"), "wb") as fh:
                fh.write(b"abor")
            f.sendcmd("TYPE I")
            _, port = ftplib.parse227(f.sendcmd("PASV"))
            silent = socket.create_connection(("127.0.0.1", port),
                                              timeout=10)
            self.addCleanup(silent.close)
            f.putcmd("RETR abor.txt")
            self.assertTrue(f.getresp().startswith("150"))
            if leave:  # reset: killed, or its host gone
                f.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                  struct.pack("ii", 1, 0))
                f.file.close()  # it holds the socket open otherwise
                f.sock.close()
                self.assertTrue(wait_for(
                    lambda: "the client left during the handshake" in
                    self.srv.log_text(), timeout=5),
                    self.srv.log_text()[-2000:])
                continue
            f.putcmd("ABOR")
            self.assertEqual(f.getline()[:3], "426")
            self.assertEqual(f.getline()[:3], "226")
            f.voidcmd("NOOP")  # the session goes on
            f.quit()

    def test_stranger_tls_after_the_grace_leaves_the_425(self):
        # A client that cannot resume (stock ftplib) still gets its 425
        # with the hint, once no other connection came within the
        # server's short grace (2 s), not after data_timeout.
        t0 = time.monotonic()
        f, _, got = self.stranger_on_the_port("kept.txt", b"kept")
        self.assertEqual(got, b"")
        with self.assertRaises(ftplib.error_temp) as cm:
            f.voidresp()
        self.assertTrue(str(cm.exception).startswith("425"), cm.exception)
        self.assertIn("require_session_reuse", str(cm.exception))
        self.assertLess(time.monotonic() - t0, 15)
        f.voidcmd("NOOP")  # the session goes on

    def test_upload_cut_without_close_notify_is_not_226(self):
        f = self.ftp_tls()
        f.sendcmd("TYPE I")
        conn, _ = f.ntransfercmd("STOR cut.bin")
        conn.sendall(b"y" * 300000)
        # Close the TCP connection under TLS without close_notify, as a
        # truncation attack or a crashed client does.
        raw = socket.socket(fileno=conn.detach())
        raw.close()
        with self.assertRaises(ftplib.error_temp) as cm:
            f.voidresp()
        self.assertTrue(str(cm.exception).startswith("426"), cm.exception)
        self.assertFalse(os.path.exists(self.home("cut.bin")))
        self.assertTrue(wait_for(lambda: "without close_notify" in
                                 self.srv.log_text(), timeout=10))
        f.voidcmd("NOOP")


    def test_quit_and_half_close_during_an_upload(self):
        # RFC 959: QUIT during a transfer lets it end and then answers.
        # A client that sent QUIT and shut its side of the control
        # connection down mid-upload had its whole upload thrown away
        # (426), where vsftpd stores it: over TLS the data's close_notify
        # proves the end, so the control side's FIN proves nothing
        # (found by an outside battery).
        # Three ways: QUIT and the end in one segment; QUIT read by the
        # server before the end comes (the end alone must not be read:
        # OpenSSL would fail the connection and no reply would go out);
        # the end without QUIT.
        rnd = random.Random(7)
        for i, (quit, pause) in enumerate(((True, 0), (True, 0.5),
                                           (False, 0))):
            name = "halfclosed%d.bin" % i
            data = rnd.randbytes(2000000)
            before = self.srv.log_text().count("during a TLS transfer")
            f = self.ftp_tls()
            f.sendcmd("TYPE I")
            conn, _ = f.ntransfercmd("STOR " + name)
            conn.sendall(data[:500000])
            if quit:
                f.sock.sendall(b"QUIT\r\n")
            time.sleep(pause)  # two wake-ups of the server, not one
            raw = socket.socket(fileno=os.dup(f.sock.fileno()))
            raw.shutdown(socket.SHUT_WR)
            raw.close()
            self.assertTrue(wait_for(
                lambda: self.srv.log_text().count("during a TLS transfer")
                > before, timeout=10), name)
            conn.sendall(data[500000:])
            conn.unwrap()
            conn.close()
            self.assertTrue(f.getresp().startswith("226"), name)
            if quit:
                self.assertTrue(f.getresp().startswith("221"), name)
            self.assertEqual(read(self.home(name)), data)

    def test_quit_and_half_close_before_the_data_connection(self):
        # The same, while the server is still waiting for the data
        # connection (active mode: it connects to us): the wait ended at
        # the control side's FIN with 426, read that FIN through OpenSSL
        # and broke the session (the client got a decode_error alert),
        # and the upload was lost (found by review).
        data = random.Random(8).randbytes(100000)
        f = self.ftp_tls()
        f.sendcmd("TYPE I")
        ls, port_cmd = port_listener(self)
        f.sendcmd(port_cmd)
        f.sock.sendall(b"STOR before-data.bin\r\nQUIT\r\n")
        raw = socket.socket(fileno=os.dup(f.sock.fileno()))
        raw.shutdown(socket.SHUT_WR)
        raw.close()
        d, _ = ls.accept()
        d = f.context.wrap_socket(d, server_side=False,
                                  server_hostname="127.0.0.1",
                                  session=f.sock.session)
        d.sendall(data)
        d.unwrap()
        d.close()
        self.assertTrue(f.getresp().startswith("150"))
        self.assertTrue(f.getresp().startswith("226"))
        self.assertTrue(f.getresp().startswith("221"))
        self.assertEqual(read(self.home("before-data.bin")), data)


class ProtocolTests(FtpsCase):
    """TLS offered, not required: the command rules of RFC 4217."""
    tls = {"require_session_reuse": "off"}

    def test_feat_lists_tls(self):
        with Control(self.srv.port) as c:
            code, text = c.cmd("FEAT")
            self.assertEqual(code, 211)
            for feat in (" AUTH TLS", " PBSZ", " PROT"):
                self.assertIn(feat + "\n", text + "\n")

    def test_command_order_and_refusals(self):
        with Control(self.srv.port) as c:
            self.assertEqual(c.cmd("PBSZ 0")[0], 503)
            self.assertEqual(c.cmd("PROT P")[0], 503)
            self.assertEqual(c.cmd("CCC")[0], 533)
            self.assertEqual(c.cmd("AUTH KERBEROS_V4")[0], 504)
            # Clear text is allowed here: log in and list without TLS.
            c.login()
            self.assertEqual(c.cmd("NOOP")[0], 200)
        f = self.ftp_tls(prot_p=False)
        with self.assertRaises(ftplib.error_perm) as cm:
            f.sendcmd("PROT P")  # before PBSZ
        self.assertTrue(str(cm.exception).startswith("503"))
        # RFC 2228: a decimal number (they were answered 200 PBSZ=0).
        for bad in ("abc", "-1", "1x", "99999999999", "4294967296"):
            with self.assertRaises(ftplib.error_perm) as cm:
                f.sendcmd("PBSZ " + bad)
            self.assertTrue(str(cm.exception).startswith("501"), bad)
        self.assertTrue(f.sendcmd("PBSZ 4096").startswith("200 PBSZ=0"))
        f.sendcmd("PBSZ 0")
        for level, code in (("S", "536"), ("E", "536"), ("Q", "504")):
            with self.assertRaises(ftplib.error_perm) as cm:
                f.sendcmd("PROT " + level)
            self.assertTrue(str(cm.exception).startswith(code), level)
        with self.assertRaises(ftplib.error_perm) as cm:
            f.sendcmd("CCC")
        self.assertTrue(str(cm.exception).startswith("534"))
        with self.assertRaises(ftplib.error_perm) as cm:
            f.sendcmd("AUTH TLS")
        self.assertTrue(str(cm.exception).startswith("503"))
        self.assertEqual(f.sendcmd("PROT C")[:3], "200")
        f.storbinary("STOR clear.txt", io.BytesIO(b"clear data"))
        self.assertEqual(read(self.home("clear.txt")), b"clear data")

    def test_pipelined_clear_text_after_auth_is_dropped(self):
        # A command injected behind AUTH TLS in clear text must not run
        # inside the TLS session.
        raw = socket.create_connection(("127.0.0.1", self.srv.port),
                                       timeout=10)
        raw.recv(1000)  # greeting
        raw.sendall(b"AUTH TLS\r\nMKD injected\r\n")
        buf = b""
        while b"\r\n" not in buf:
            chunk = raw.recv(1000)
            if not chunk:
                break
            buf += chunk
        self.assertTrue(buf.startswith(b"234"), buf)
        t = client_context(self.cert).wrap_socket(
            raw, server_hostname="127.0.0.1")
        t.settimeout(10)
        t.sendall(b"USER alice\r\n")
        self.assertTrue(t.recv(1000).startswith(b"331"))
        t.sendall(b"PASS alice-pw\r\n")
        self.assertTrue(t.recv(1000).startswith(b"230"))
        t.sendall(b"NOOP\r\n")
        self.assertTrue(t.recv(1000).startswith(b"200"))
        t.close()
        self.assertFalse(os.path.exists(self.home("injected")))

    def test_auth_after_login_or_user_asks_for_a_new_login(self):
        # RFC 2228 section 3: once AUTH succeeds the user must log in
        # again. A clear-text login went on inside TLS, and a USER sent
        # in clear (by anyone on the path) was the name the encrypted
        # PASS logged into.
        ctx = client_context(self.cert)
        for before in ("login", "user"):
            c = Control(self.srv.port)
            self.addCleanup(c.close)
            if before == "login":
                c.login()
                self.assertEqual(c.cmd("MKD before-auth")[0], 257)
            else:
                self.assertEqual(c.cmd("USER alice")[0], 331)
            self.assertEqual(c.cmd("AUTH TLS")[0], 234, before)
            c.sock = ctx.wrap_socket(c.sock, server_hostname="127.0.0.1")
            code, text = c.cmd("PWD")
            self.assertEqual(code, 530, "%s: %s" % (before, text))
            code, text = c.cmd("PASS alice-pw")
            self.assertEqual(code, 503, "%s: %s" % (before, text))
            c.login()
            self.assertEqual(c.cmd("PWD")[0], 257, before)
        self.assertTrue(os.path.isdir(self.home("before-auth")))

    def test_stock_ftplib_works_when_reuse_is_off(self):
        f = self.ftp_tls(cls=ftplib.FTP_TLS)
        f.storbinary("STOR stock.bin", io.BytesIO(b"s" * 100000))
        self.assertEqual(read(self.home("stock.bin")), b"s" * 100000)
        got = io.BytesIO()
        f.retrbinary("RETR stock.bin", got.write)
        self.assertEqual(got.getvalue(), b"s" * 100000)


class PerUserRequiredTests(FtpsCase):
    """The server lets clear text in; one user insists on TLS."""
    users = {"alice": {"password": "alice-pw"},
             "strict": {"password": "strict-pw", "require_login_tls": "on",
                        "require_data_tls": "on"}}

    def test_strict_user_needs_tls_others_do_not(self):
        with Control(self.srv.port) as c:
            c.login()
        with Control(self.srv.port) as c:
            code, text = c.cmd("USER strict")
            self.assertEqual(code, 530, text)
        f = self.ftp_tls(user="strict", password="strict-pw", prot_p=False)
        f.sendcmd("PBSZ 0")
        with self.assertRaises(ftplib.error_perm) as cm:
            f.nlst()
        self.assertTrue(str(cm.exception).startswith("521"))


class TrickleTests(FtpsCase):
    """data_min_rate under TLS: a record trickled a byte at a time wakes
    the server without ever yielding a decrypted byte."""
    server_opts = {"data_timeout": "2", "data_min_rate": "1000"}

    def test_trickled_tls_record_is_cut(self):
        f = self.ftp_tls()
        f.sendcmd("TYPE I")
        host, port = ftplib.parse229(f.sendcmd("EPSV"), "127.0.0.1")
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        f.putcmd("STOR trickle.bin")
        self.assertTrue(f.getresp().startswith("150"))
        # TLS by hand (memory BIOs), resuming the control session, so the
        # bytes of one application record can be sent one at a time.
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = f.context.wrap_bio(
            inc, out, server_hostname="127.0.0.1", session=f.sock.session)
        raw.settimeout(10)
        for _ in range(50):
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                raw.sendall(out.read())
                chunk = raw.recv(65536)
                if not chunk:
                    break
                inc.write(chunk)
        raw.sendall(out.read())
        tls.write(b"t" * 16000)
        record = out.read()
        self.assertGreater(len(record), 16000)
        raw.settimeout(0.2)
        sent = 0
        for i in range(100):  # 20 s at most; the cut comes after ~2 s
            try:
                raw.send(record[i:i + 1])
                sent += 1
            except OSError:
                break
            try:
                if raw.recv(100) == b"":
                    break
            except socket.timeout:
                pass
            except OSError:
                break
        raw.close()
        self.assertLess(sent, 100, "the trickle was never cut")
        with self.assertRaises(ftplib.error_temp) as cm:
            f.voidresp()
        self.assertTrue(str(cm.exception).startswith("426"), cm.exception)
        self.assertIn("too slow", str(cm.exception))
        f.voidcmd("NOOP")


class NoCertTests(unittest.TestCase):
    def test_auth_without_cert_is_502_and_feat_silent(self):
        with Server() as srv, Control(srv.port) as c:
            self.assertEqual(c.cmd("AUTH TLS")[0], 502)
            code, text = c.cmd("FEAT")
            self.assertNotIn("AUTH TLS", text)
            c.login()


class SessionCacheTests(FtpsCase):
    """A logged-in client's TLS session stays resumable while its control
    connection lives, whatever other handshakes the server makes."""
    # The client's control connection idles while the strangers shake
    # hands (a minute under ASan): idle_timeout must not end it first.
    server_opts = {"log_level": "info", "max_clients": "128",
                   "max_clients_per_ip": "64", "idle_timeout": "600"}

    def test_strangers_handshakes_do_not_evict_a_session(self):
        # OpenSSL's server cache kept the last 20,480 sessions: strangers
        # that only shook hands (AUTH TLS, QUIT; about 20 s of them from
        # one address) pushed out the session of a client that resumes
        # by session ID (TLS 1.2 without tickets, as Java's clients),
        # and every transfer of that client then got 425 (found from
        # outside).
        ctx = client_context(self.cert, ssl.TLSVersion.TLSv1_2)
        ctx.options |= ssl.OP_NO_TICKET
        f = ReusingFTP_TLS(context=ctx, timeout=20)
        f.connect("127.0.0.1", self.srv.port)
        self.addCleanup(f.close)
        f.login("alice", "alice-pw")
        f.prot_p()
        with open(self.home("kept.txt"), "wb") as fh:
            fh.write(b"kept")
        self.assertEqual(f.nlst(), ["kept.txt"])

        stranger = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        stranger.check_hostname = False
        stranger.verify_mode = ssl.CERT_NONE
        stranger.maximum_version = ssl.TLSVersion.TLSv1_2
        stranger.options |= ssl.OP_NO_TICKET

        def shake(n):
            done = 0
            deadline = time.monotonic() + 240
            for _ in range(n):
                if time.monotonic() > deadline:
                    break
                try:
                    with socket.create_connection(
                            ("127.0.0.1", self.srv.port), timeout=10) as a:
                        a.recv(100)
                        a.sendall(b"AUTH TLS\r\n")
                        a.recv(100)
                        with stranger.wrap_socket(a) as s:
                            s.sendall(b"QUIT\r\n")
                            s.recv(100)
                    done += 1
                except OSError:
                    pass
            return done

        results = []
        threads = [threading.Thread(
            target=lambda: results.append(shake(5250))) for _ in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(300)
        self.assertGreater(sum(results), 20480, results)
        # Still the same control connection: its listing works.
        self.assertEqual(f.nlst(), ["kept.txt"],
                         self.srv.log_text()[-2000:])
        f.quit()


if __name__ == "__main__":
    unittest.main()
