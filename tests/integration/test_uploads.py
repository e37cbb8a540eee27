"""Upload integrity: atomic publication, interrupted uploads, resumes,
concurrent writers.

The rules under test (src/server/upload.h, transfer.c): an upload's bytes
go to a hidden ".rftpd-partial.NAME" beside NAME and are renamed over NAME
only when the data connection ended with a FIN while the control connection
was still alive. Anything else (client killed, RST on the data connection,
control closed first) leaves NAME untouched and keeps the partial hidden
for a later REST N + STOR / APPE. Readers see the old file or the new one,
never a mix. Two writers of one name never interleave: the second is told
450.

Every wait is a bounded poll; every socket and subprocess has a timeout.
"""
import ftplib
import io
import os
import random
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (KILLED_CLIENT_SERVER, Control, Server,  # noqa: E402
                     recv_all, wait_for)

CURL = "/usr/bin/curl"
PARTIAL_PREFIX = ".rftpd-partial."
KB = 1024
MB = 1024 * 1024


def read(path):
    with open(path, "rb") as f:
        return f.read()


def rst_close(sock):
    """Closes sock with a TCP RST instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                    struct.pack("ii", 1, 0))
    sock.close()


def session(srv, user="alice"):
    c = Control(srv.port)
    c.login(user, srv.users[user]["password"])
    code, text = c.cmd("TYPE I")
    assert code == 200, text
    return c


def retr(c, name):
    """RETR over EPSV. Returns (final code, bytes or None)."""
    d = c.epsv()
    code, text = c.cmd("RETR " + name)
    if code != 150:
        d.close()
        return code, None
    data = recv_all(d)
    code, text = c.reply()
    return code, data if code == 226 else None


def listing(c, verb, arg=""):
    d = c.epsv()
    code, text = c.cmd(verb + (" " + arg if arg else ""))
    assert code == 150, text
    data = recv_all(d)
    code, text = c.reply()
    assert code == 226, text
    return data.decode("utf-8")


def start_stor(c, name, verb="STOR"):
    """Returns the data socket of a started upload (150 received)."""
    d = c.epsv()
    code, text = c.cmd(verb + " " + name)
    assert code == 150, (code, text)
    return d


def wait_size(path, n, timeout=10):
    return wait_for(lambda: os.path.exists(path) and
                    os.path.getsize(path) >= n, timeout=timeout)


class UploadTest(unittest.TestCase):
    users = None
    server = None

    def setUp(self):
        self.srv = Server(users=self.users, server=self.server)
        self.addCleanup(shutil.rmtree, self.srv.tmp, True)
        self.home = self.srv.home("alice")
        self.work = tempfile.mkdtemp(prefix="rftp-uploads-")
        self.addCleanup(shutil.rmtree, self.work, True)
        self.rng = random.Random(self.id())

    def tearDown(self):
        self.srv.stop(check=True)

    def rand(self, n):
        return self.rng.randbytes(n)

    def hp(self, *parts):
        return os.path.join(self.home, *parts)

    def ctrl(self, user="alice"):
        c = session(self.srv, user)
        self.addCleanup(c.close)
        return c

    def wait_abandoned(self, vpath, before=0):
        marker = "upload of %s not complete" % vpath
        ok = wait_for(lambda: self.srv.log_text().count(marker) > before,
                      timeout=10)
        self.assertTrue(ok, "upload of %s not abandoned:\n%s" %
                        (vpath, self.srv.log_text()[-3000:]))

    def assert_never_published(self, name, window=1.0):
        """name does not appear on disk within a short window, nor in any
        listing; the partial stays hidden and RETR says 550."""
        appeared = wait_for(lambda: os.path.exists(self.hp(name)),
                            timeout=window)
        self.assertFalse(appeared, "%s was published" % name)
        c = self.ctrl()
        for verb in ("LIST", "NLST", "MLSD"):
            text = listing(c, verb)
            self.assertNotIn(name, text, verb)
            self.assertNotIn(PARTIAL_PREFIX, text, verb)
        code, _ = retr(c, name)
        self.assertEqual(code, 550)
        code, _ = retr(c, PARTIAL_PREFIX + name)
        self.assertEqual(code, 550)
        code, text = c.cmd("MLST " + name)
        self.assertEqual(code, 550, text)
        self.assertFalse(os.path.exists(self.hp(name)))

    def make_partial(self, name, data, n):
        """An upload of data that died after n bytes (client crash)."""
        c = session(self.srv)
        d = start_stor(c, name)
        d.sendall(data[:n])
        self.assertTrue(wait_size(self.hp(PARTIAL_PREFIX + name), n))
        rst_close(c.sock)
        d.close()
        self.wait_abandoned("/" + name)
        self.assertEqual(read(self.hp(PARTIAL_PREFIX + name)), data[:n])


class InterruptedUploadTest(UploadTest):
    server = KILLED_CLIENT_SERVER  # test_killed_curl_publishes_nothing

    def test_killed_curl_publishes_nothing(self):
        data = self.rand(8 * MB)
        src = os.path.join(self.work, "big.bin")
        with open(src, "wb") as f:
            f.write(data)
        ppath = self.hp(PARTIAL_PREFIX + "k.bin")
        proc = subprocess.Popen(
            [CURL, "-sS", "--max-time", "60", "--limit-rate", "200K",
             "-T", src, self.srv.url(path="/k.bin")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=dict(os.environ, no_proxy="*"))
        try:
            started = wait_for(lambda: os.path.exists(ppath) and
                               os.path.getsize(ppath) > 0, timeout=20)
            self.assertTrue(started, "upload never reached the partial")
            self.assertFalse(os.path.exists(self.hp("k.bin")))
            # Hidden while in progress too.
            c = self.ctrl()
            for verb in ("LIST", "NLST", "MLSD"):
                self.assertNotIn("k.bin", listing(c, verb))
            self.assertEqual(retr(c, "k.bin")[0], 550)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        self.assertEqual(proc.returncode, -signal.SIGKILL)
        self.wait_abandoned("/k.bin")
        self.assert_never_published("k.bin")
        have = os.path.getsize(ppath)
        self.assertGreater(have, 0)
        self.assertLess(have, len(data))
        self.assertEqual(read(ppath), data[:have])

    def test_rmd_of_a_folder_holding_only_partials(self):
        # A folder that lists as empty but holds an interrupted upload's
        # hidden partial answered RMD with 550 "not empty", for ever, so
        # a client's recursive delete could not finish (found from
        # outside). The kept partial goes with the folder now; one being
        # written keeps both.
        data = self.rand(200 * KB)
        c = self.ctrl()
        self.assertEqual(c.cmd("MKD d")[0], 257)
        k = session(self.srv)
        d = start_stor(k, "d/x.bin")
        d.sendall(data[:100 * KB])
        self.assertTrue(wait_size(self.hp("d", PARTIAL_PREFIX + "x.bin"),
                                  100 * KB))
        rst_close(k.sock)
        d.close()
        self.wait_abandoned("/d/x.bin")
        self.assertTrue(os.path.exists(self.hp("d", PARTIAL_PREFIX +
                                               "x.bin")))
        self.assertEqual(listing(c, "NLST", "d").strip(), "")
        # Beside a file it stays: RMD of a folder not empty changes
        # nothing, and the upload can still resume (a review found the
        # partial removed and the 550 sent after).
        self.assertEqual(c.store("d/keep.txt", b"k")[0], 226)
        code, text = c.cmd("RMD d")
        self.assertEqual(code, 550, text)
        self.assertEqual(c.cmd("SIZE d/x.bin"), (213, "213 %d" % (100 * KB)))
        self.assertEqual(c.cmd("DELE d/keep.txt")[0], 250)
        code, text = c.cmd("RMD d")
        self.assertEqual(code, 250, text)
        self.assertFalse(os.path.exists(self.hp("d")))
        self.assertIn("removed 1 interrupted upload in /d for RMD",
                      self.srv.log_text())
        # A partial a session is writing: RMD refused, nothing removed.
        self.assertEqual(c.cmd("MKD e")[0], 257)
        w = self.ctrl()
        d = start_stor(w, "e/y.bin")
        d.sendall(data[:50 * KB])
        self.assertTrue(wait_size(self.hp("e", PARTIAL_PREFIX + "y.bin"),
                                  50 * KB))
        code, text = c.cmd("RMD e")
        self.assertEqual(code, 550, text)
        self.assertTrue(os.path.exists(self.hp("e", PARTIAL_PREFIX +
                                               "y.bin")))
        d.sendall(data[50 * KB:])
        d.close()
        self.assertEqual(w.reply()[0], 226)
        self.assertEqual(read(self.hp("e", "y.bin")), data)

    def test_dele_of_an_interrupted_upload(self):
        # SIZE shows an interrupted upload's bytes for a resume; DELE of
        # that name removed its partial but answered 550 and logged
        # nothing (found from outside). A folder of the same name made
        # since keeps the partial.
        data = self.rand(100 * KB)
        self.make_partial("i.bin", data, 40 * KB)
        c = self.ctrl()
        self.assertEqual(c.cmd("SIZE i.bin"), (213, "213 %d" % (40 * KB)))
        code, text = c.cmd("DELE i.bin")
        self.assertEqual(code, 250, text)
        self.assertFalse(os.path.exists(self.hp(PARTIAL_PREFIX + "i.bin")))
        self.assertIn("deleted the interrupted upload of /i.bin",
                      self.srv.log_text())
        self.assertEqual(c.cmd("DELE i.bin")[0], 550)
        self.make_partial("j.bin", data, 30 * KB)
        self.assertEqual(c.cmd("MKD j.bin")[0], 257)
        code, text = c.cmd("DELE j.bin")
        self.assertEqual(code, 550, text)
        self.assertEqual(read(self.hp(PARTIAL_PREFIX + "j.bin")),
                         data[:30 * KB])

    def test_a_partials_name_is_not_allowed_for_a_new_name(self):
        # Making a name the server keeps for uploads in progress is 553
        # ("file name not allowed", RFC 959), not 550 "No such file"
        # (found from outside); reading one is still 550: no client sees
        # a partial. Nothing is made.
        c = self.ctrl()
        with open(self.hp("a.bin"), "wb") as f:
            f.write(b"a")
        name = PARTIAL_PREFIX + "x.bin"
        for cmd in ("STOR ", "APPE ", "STOU ", "MKD ", "MKD sub/"):
            code, text = c.cmd(cmd + name)
            self.assertEqual(code, 553, (cmd, text))
            self.assertIn("names starting with " + PARTIAL_PREFIX, text)
        self.assertEqual(c.cmd("RNFR a.bin")[0], 350)
        code, text = c.cmd("RNTO " + name)
        self.assertEqual(code, 553, text)
        for cmd in ("SIZE ", "DELE ", "MDTM ", "RNFR "):
            self.assertEqual(c.cmd(cmd + name)[0], 550, cmd)
        # STOU adds ".XXXXXXXX" to its argument: ".rftpd-partial" would
        # have made a partial's name, stored and pushed but never
        # readable, and taken for another name's interrupted upload
        # (found by a review).
        self.assertEqual(c.cmd("MKD sub")[0], 257)
        for arg in (".rftpd-partial", "sub/.rftpd-partial",
                    ".rftpd-partial/"):
            code, text = c.store(arg, b"secret", "STOU")
            self.assertEqual(code, 553, (arg, text))
            self.assertIn("names starting with " + PARTIAL_PREFIX, text)
        self.assertEqual(sorted(os.listdir(self.home)), ["a.bin", "sub"])
        self.assertEqual(os.listdir(self.hp("sub")), [])

    def test_data_rst_with_control_open_is_426(self):
        data = self.rand(MB)
        c = self.ctrl()
        d = start_stor(c, "r.bin")
        d.sendall(data[:300 * KB])
        self.assertTrue(wait_size(self.hp(PARTIAL_PREFIX + "r.bin"),
                                  300 * KB))
        rst_close(d)
        code, text = c.reply()
        self.assertEqual(code, 426, text)
        # The session goes on.
        self.assertEqual(c.cmd("NOOP")[0], 200)
        self.assert_never_published("r.bin")
        self.assertEqual(read(self.hp(PARTIAL_PREFIX + "r.bin")),
                         data[:300 * KB])
        # And SIZE reports what arrived, for a resume.
        self.assertEqual(c.cmd("SIZE r.bin"), (213, "213 %d" % (300 * KB)))

    def test_control_closed_before_data_fin_publishes_nothing(self):
        data = self.rand(MB)
        c = session(self.srv)
        d = start_stor(c, "f.bin")
        d.sendall(data)
        self.assertTrue(wait_size(self.hp(PARTIAL_PREFIX + "f.bin"),
                                  len(data)))
        c.close()          # FIN on control first ...
        d.shutdown(socket.SHUT_WR)  # ... then a clean FIN on data
        d.close()
        self.wait_abandoned("/f.bin")
        self.assert_never_published("f.bin")
        # Every byte arrived, yet it stays a partial: a client that dies
        # right after its last write must not publish.
        self.assertEqual(read(self.hp(PARTIAL_PREFIX + "f.bin")), data)

    def test_clean_close_publishes(self):
        # The control case of the three above.
        data = self.rand(MB)
        c = self.ctrl()
        d = start_stor(c, "ok.bin")
        d.sendall(data)
        d.close()
        self.assertEqual(c.reply()[0], 226)
        self.assertEqual(read(self.hp("ok.bin")), data)
        self.assertFalse(os.path.exists(self.hp(PARTIAL_PREFIX + "ok.bin")))

    def test_interrupted_replace_keeps_old_file(self):
        old = b"old contents\n" * 1000
        os.makedirs(self.home, exist_ok=True)
        with open(self.hp("keep.bin"), "wb") as f:
            f.write(old)
        data = self.rand(MB)
        self.make_partial("keep.bin", data, 400 * KB)
        self.assertEqual(read(self.hp("keep.bin")), old)
        c = self.ctrl()
        self.assertEqual(retr(c, "keep.bin"), (226, old))
        # SIZE is what RETR sends (RFC 3659 4): it answered the partial's
        # 400 KiB, and curl took a download that ended there for a whole
        # one (found from outside).
        self.assertEqual(c.cmd("SIZE keep.bin"), (213, "213 %d" % len(old)))
        tmp = tempfile.mkdtemp(prefix="rftp-size-")
        self.addCleanup(shutil.rmtree, tmp, True)
        r = subprocess.run(
            [CURL, "-sS", "-o", os.path.join(tmp, "got.bin"),
             "ftp://alice:%s@127.0.0.1:%d/keep.bin"
             % (self.srv.users["alice"]["password"], self.srv.port)],
            capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(read(os.path.join(tmp, "got.bin")), old)
        # A client that knows where its upload stopped still continues it.
        d = c.epsv()
        self.assertEqual(c.cmd("REST %d" % (400 * KB))[0], 350)
        self.assertEqual(c.cmd("STOR keep.bin")[0], 150)
        d.sendall(data[400 * KB:])
        d.close()
        self.assertEqual(c.reply()[0], 226)
        self.assertEqual(read(self.hp("keep.bin")), data)
        self.assertEqual(c.cmd("SIZE keep.bin"), (213, "213 %d" % MB))


class CloseOrderTest(UploadTest):
    """The data FIN arriving first, the control connection dying right
    after: libcurl's order when an upload is aborted from its read
    callback, and a killed client's whose data socket has the lower fd.
    The server watches the control connection for upload_close_grace_ms
    after the data FIN; a generous grace here keeps the test independent
    of scheduling. The watch at rest (1 ms plus the min RTT) is what the
    real-client kill tests meet on a calm host; they raise the cap to
    50 ms too (harness.KILLED_CLIENT_SERVER), so no test relies on the
    default 5 ms cap on a loaded host."""
    server = {"upload_close_grace_ms": "300"}

    def test_data_fin_then_control_close_publishes_nothing(self):
        data = self.rand(256 * KB)
        for i in range(8):
            name = "order%d.bin" % i
            c = session(self.srv)
            d = start_stor(c, name)
            d.sendall(data[:100 * KB])
            self.assertTrue(wait_size(self.hp(PARTIAL_PREFIX + name),
                                      100 * KB))
            d.close()
            if i % 2:
                rst_close(c.sock)
            else:
                c.close()
            self.wait_abandoned("/" + name)
            self.assertFalse(os.path.exists(self.hp(name)), name)
        self.assert_never_published("order0.bin")
        self.assertEqual(sorted(os.listdir(self.home)), sorted(
            PARTIAL_PREFIX + "order%d.bin" % i for i in range(8)))

    def test_live_client_still_publishes(self):
        data = self.rand(300 * KB)
        c = self.ctrl()
        # Waiting silently for the 226.
        d = start_stor(c, "quiet.bin")
        d.sendall(data)
        d.close()
        self.assertEqual(c.reply()[0], 226)
        self.assertEqual(read(self.hp("quiet.bin")), data)
        # Sending the next command before reading the 226 (pipelining):
        # a live control connection, so the upload is complete.
        d = start_stor(c, "eager.bin")
        d.sendall(data)
        d.close()
        c.send("NOOP")
        self.assertEqual(c.reply()[0], 226)
        self.assertEqual(c.reply()[0], 200)
        self.assertEqual(read(self.hp("eager.bin")), data)


class AtomicReplaceTest(UploadTest):

    def test_readers_see_old_or_new_never_a_mix(self):
        v1, v2 = b"A" * MB, b"B" * MB
        c = self.ctrl()
        d = start_stor(c, "v.bin")
        d.sendall(v1)
        d.close()
        self.assertEqual(c.reply()[0], 226)
        self.assertEqual(read(self.hp("v.bin")), v1)

        seen, errors, stop = [], [], threading.Event()

        def reader():
            try:
                r = session(self.srv)
                deadline = time.monotonic() + 60
                while not stop.is_set() and time.monotonic() < deadline:
                    code, body = retr(r, "v.bin")
                    seen.append((code, body == v1, body == v2))
                r.close()
            except Exception as e:  # reported below
                errors.append(repr(e))

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        reader_c = self.ctrl()
        up = self.ctrl()
        d = start_stor(up, "v.bin")
        chunk = 32 * KB
        ppath = self.hp(PARTIAL_PREFIX + "v.bin")
        for i in range(0, len(v2), chunk):
            d.sendall(v2[i:i + chunk])
            self.assertTrue(wait_size(ppath, i + chunk))
            self.assertEqual(retr(reader_c, "v.bin"), (226, v1),
                             "after %d bytes of v2" % (i + chunk))
        d.close()
        self.assertEqual(up.reply()[0], 226)
        for _ in range(3):
            self.assertEqual(retr(reader_c, "v.bin"), (226, v2))
        stop.set()
        t.join(timeout=30)
        self.assertFalse(t.is_alive())
        self.assertEqual(errors, [])
        self.assertGreater(len(seen), 0)
        kinds = []
        for code, is_v1, is_v2 in seen:
            self.assertEqual(code, 226)
            self.assertTrue(is_v1 or is_v2, "a download was a mix")
            kinds.append(1 if is_v1 else 2)
        # Once the new version is visible the old one never comes back.
        self.assertEqual(kinds, sorted(kinds))
        self.assertEqual(read(self.hp("v.bin")), v2)
        self.assertEqual(os.listdir(self.home), ["v.bin"])


class RestTest(UploadTest):

    def test_rest_mismatch_554_then_exact_rest_completes(self):
        data = self.rand(MB + 555)
        n = 300 * KB + 3
        self.make_partial("m.bin", data, n)
        ppath = self.hp(PARTIAL_PREFIX + "m.bin")
        st = os.stat(ppath)
        c = self.ctrl()
        self.assertEqual(c.cmd("SIZE m.bin"), (213, "213 %d" % n))
        for bad in (n + 7, n + 1):
            d = c.epsv()
            self.assertEqual(c.cmd("REST %d" % bad)[0], 350)
            code, text = c.cmd("STOR m.bin")
            d.close()
            self.assertEqual(code, 554, text)
            self.assertIn("%d" % n, text)  # names the size to resume from
            self.assertEqual(read(ppath), data[:n])
            self.assertEqual(os.stat(ppath).st_mtime_ns, st.st_mtime_ns)
            self.assertFalse(os.path.exists(self.hp("m.bin")))
        d = c.epsv()
        self.assertEqual(c.cmd("REST %d" % n)[0], 350)
        code, text = c.cmd("STOR m.bin")
        self.assertEqual(code, 150, text)
        d.sendall(data[n:])
        d.close()
        code, text = c.reply()
        self.assertEqual(code, 226, text)
        self.assertEqual(read(self.hp("m.bin")), data)
        self.assertFalse(os.path.exists(ppath))
        self.assertEqual(c.cmd("SIZE m.bin"), (213, "213 %d" % len(data)))

    def test_rest_below_the_partial_resends_its_tail(self):
        """wput resumes from 512 bytes or more before the end SIZE told
        (its Debian build backs off so), and resends them: REST below
        the bytes received cuts the partial back there, as vsftpd writes
        from the offset over the old bytes. Each was a 554 for ever: the
        upload could never be resumed."""
        data = self.rand(MB + 555)
        n = 300 * KB + 3
        c = self.ctrl()
        # The last: a file shorter than the partial; the old tail goes.
        for name, rest, sent in (("a.bin", n - 512, data[n - 512:]),
                                 ("b.bin", 1, data[1:]),
                                 ("c.bin", n - 1, data[n - 1:]),
                                 ("d.bin", 100, b"tail")):
            self.make_partial(name, data, n)
            d = c.epsv()
            self.assertEqual(c.cmd("REST %d" % rest)[0], 350)
            code, text = c.cmd("STOR " + name)
            self.assertEqual(code, 150, text)
            d.sendall(sent)
            d.close()
            code, text = c.reply()
            self.assertEqual(code, 226, text)
            self.assertEqual(read(self.hp(name)), data[:rest] + sent, name)
            self.assertFalse(os.path.exists(self.hp(PARTIAL_PREFIX + name)))
            self.assertIn("received /%s (%d bytes, %d total)" %
                          (name, len(sent), rest + len(sent)),
                          self.srv.log_text())

    def test_plain_stor_restarts_and_appe_continues(self):
        data = self.rand(600 * KB)
        self.make_partial("s.bin", data, 100 * KB)
        c = self.ctrl()
        other = self.rand(50 * KB)
        d = start_stor(c, "s.bin")  # no REST: start over
        d.sendall(other)
        d.close()
        self.assertEqual(c.reply()[0], 226)
        self.assertEqual(read(self.hp("s.bin")), other)
        self.assertFalse(os.path.exists(self.hp(PARTIAL_PREFIX + "s.bin")))

        self.make_partial("t.bin", data, 100 * KB)
        d = start_stor(c, "t.bin", verb="APPE")
        d.sendall(data[100 * KB:])
        d.close()
        self.assertEqual(c.reply()[0], 226)
        self.assertEqual(read(self.hp("t.bin")), data)

        self.make_partial("u.bin", data, 100 * KB)
        d = c.epsv()
        self.assertEqual(c.cmd("REST 0")[0], 350)
        self.assertEqual(c.cmd("STOR u.bin")[0], 150)
        d.sendall(other)
        d.close()
        self.assertEqual(c.reply()[0], 226)
        self.assertEqual(read(self.hp("u.bin")), other)

    def test_rest_then_appe_must_name_the_end(self):
        """APPE appends at the end: REST elsewhere is a 554 (it was
        ignored, and one past the end answered 226)."""
        c = self.ctrl()
        d = start_stor(c, "f.txt")
        d.sendall(b"0123456789")
        d.close()
        self.assertEqual(c.reply()[0], 226)
        for bad in (5, 100):
            d = c.epsv()
            self.assertEqual(c.cmd("REST %d" % bad)[0], 350)
            code, text = c.cmd("APPE f.txt")
            d.close()
            self.assertEqual(code, 554, text)
            self.assertIn("after the 10 bytes", text)
        self.assertEqual(read(self.hp("f.txt")), b"0123456789")
        self.assertEqual(os.listdir(self.home), ["f.txt"])
        d = c.epsv()
        self.assertEqual(c.cmd("REST 10")[0], 350)
        self.assertEqual(c.cmd("APPE f.txt")[0], 150)
        d.sendall(b"ab")
        d.close()
        self.assertEqual(c.reply()[0], 226)
        self.assertEqual(read(self.hp("f.txt")), b"0123456789ab")
        # An interrupted upload: APPE continues it from its own end.
        data = self.rand(40 * KB)
        self.make_partial("g.bin", data, 10 * KB)
        d = c.epsv()
        self.assertEqual(c.cmd("REST %d" % (5 * KB))[0], 350)
        code, text = c.cmd("APPE g.bin")
        d.close()
        self.assertEqual(code, 554, text)
        self.assertEqual(read(self.hp(PARTIAL_PREFIX + "g.bin")),
                         data[:10 * KB])

    def test_rest_holds_for_the_next_transfer_only(self):
        """REST is followed immediately by its transfer (RFC 959): a
        command in between ends it. It outlived a CWD, a listing, a
        refused STOR, and a later upload of new bytes was written from
        that offset over the old ones, with 226 (found from outside);
        a download started at the offset."""
        old, new = b"OLDOLDOLD\n", b"new content\n"
        c = self.ctrl()

        def put_old():
            with open(self.hp("f.txt"), "wb") as f:
                f.write(old)

        def stor_after(between):
            put_old()
            self.assertEqual(c.cmd("REST 3")[0], 350)
            for line, want in between:
                if line in ("NLST", "LIST", "MLSD"):
                    d = c.epsv()
                    self.assertEqual(c.cmd(line)[0], 150)
                    recv_all(d)
                    d.close()
                    self.assertEqual(c.reply()[0], 226)
                else:
                    self.assertEqual(c.cmd(line)[0], want, line)
            d = start_stor(c, "f.txt")
            d.sendall(new)
            d.close()
            self.assertEqual(c.reply()[0], 226)
            return read(self.hp("f.txt"))

        for between in ([("NLST", 226)], [("CWD /", 250), ("NOOP", 200)],
                        [("STOR", 501)], [("MLST f.txt", 250)],
                        [("REST junk", 501)]):
            self.assertEqual(stor_after(between), new, between)
        # A listing between REST and RETR: the download starts at 0.
        put_old()
        self.assertEqual(c.cmd("REST 3")[0], 350)
        d = c.epsv()
        self.assertEqual(c.cmd("LIST")[0], 150)
        recv_all(d)
        d.close()
        self.assertEqual(c.reply()[0], 226)
        d = c.epsv()
        self.assertEqual(c.cmd("RETR f.txt")[0], 150)
        self.assertEqual(recv_all(d), old)
        d.close()
        self.assertEqual(c.reply()[0], 226)
        # The data connection's setup in between keeps it (clients send
        # REST before or after EPSV and TYPE): a resume still resumes.
        put_old()
        self.assertEqual(c.cmd("REST 3")[0], 350)
        self.assertEqual(c.cmd("TYPE I")[0], 200)
        d = c.epsv()
        self.assertEqual(c.cmd("RETR f.txt")[0], 150)
        self.assertEqual(recv_all(d), old[3:])
        d.close()
        self.assertEqual(c.reply()[0], 226)


class DiskErrorTest(UploadTest):
    def test_a_disk_error_is_said_in_the_log(self):
        """An upload the disk stopped: the log says the disk's error (a
        full disk was logged as if the quota had stopped it, found from
        outside). Here the file size limit (RLIMIT_FSIZE) stands in for a
        full disk: write(2) fails with what fits written."""
        c = self.ctrl()
        resource.prlimit(self.srv.proc.pid, resource.RLIMIT_FSIZE,
                         (4096, resource.RLIM_INFINITY))
        try:
            code, text = c.store("big.bin", self.rand(64 * KB))
        finally:
            resource.prlimit(self.srv.proc.pid, resource.RLIMIT_FSIZE,
                             (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        self.assertEqual(code, 451, text)
        self.assertIn("File too large", text)
        self.assertTrue(wait_for(
            lambda: "upload of /big.bin not complete after" in
            self.srv.log_text(), timeout=10))
        line = [x for x in self.srv.log_text().splitlines()
                if "upload of /big.bin not complete" in x][0]
        self.assertIn("(File too large)", line)
        self.assertNotIn("quota", line)


class InterruptedAppeTest(UploadTest):
    server = {"data_timeout": "2"}

    def test_interrupted_appe_leaves_the_file_and_the_next_appe_works(self):
        # An APPE onto a published file that is cut (or gets no data
        # connection) leaves the file as it was and no partial: SIZE
        # says the file's size, and the next APPE from there appends to
        # it. Kept, the partial was taken for an interrupted replace and
        # every later APPE of the name was refused with 554.
        base, more = self.rand(1000), self.rand(700)
        c = self.ctrl()
        d = start_stor(c, "log.txt")
        d.sendall(base)
        d.close()
        self.assertEqual(c.reply()[0], 226)
        ppath = self.hp(PARTIAL_PREFIX + "log.txt")
        d = start_stor(c, "log.txt", verb="APPE")
        d.sendall(more[:200])
        self.assertTrue(wait_size(ppath, 1200))
        rst_close(d)
        self.assertIn(c.reply()[0], (426, 451))
        code, text = c.cmd("EPSV")
        self.assertEqual(code, 229, text)
        self.assertEqual(c.cmd("APPE log.txt")[0], 150)
        self.assertEqual(c.reply()[0], 425)  # no data connection came
        # Removed after the 425 went out (before the next command).
        self.assertTrue(wait_for(lambda: not os.path.exists(ppath),
                                 timeout=10))
        self.assertEqual(read(self.hp("log.txt")), base)
        self.assertEqual(c.cmd("SIZE log.txt"), (213, "213 1000"))
        d = start_stor(c, "log.txt", verb="APPE")
        d.sendall(more)
        d.close()
        self.assertEqual(c.reply()[0], 226)
        self.assertEqual(read(self.hp("log.txt")), base + more)
        self.assertEqual(os.listdir(self.home), ["log.txt"])


class SameNameTest(UploadTest):

    def test_second_writer_gets_450(self):
        a, b = self.rand(MB), self.rand(MB)
        first, second = self.ctrl(), self.ctrl()
        da = start_stor(first, "same.bin")
        da.sendall(a[:200 * KB])
        self.assertTrue(wait_size(self.hp(PARTIAL_PREFIX + "same.bin"),
                                  200 * KB))
        db = second.epsv()
        code, text = second.cmd("STOR same.bin")
        db.close()
        self.assertEqual(code, 450, text)
        for cmd in ("APPE same.bin",):
            db = second.epsv()
            code, text = second.cmd(cmd)
            db.close()
            self.assertEqual(code, 450, text)
        # The refused attempts did not disturb the first writer.
        da.sendall(a[200 * KB:])
        da.close()
        self.assertEqual(first.reply()[0], 226)
        self.assertEqual(read(self.hp("same.bin")), a)
        # Once the first is done the name is free again.
        db = start_stor(second, "same.bin")
        db.sendall(b)
        db.close()
        self.assertEqual(second.reply()[0], 226)
        self.assertEqual(read(self.hp("same.bin")), b)
        self.assertEqual(os.listdir(self.home), ["same.bin"])

    def test_simultaneous_writers_one_complete_result(self):
        contents = [self.rand(2 * MB), self.rand(2 * MB)]
        barrier = threading.Barrier(2, timeout=20)
        results = [None, None]

        def writer(i):
            try:
                c = session(self.srv)
                d = c.epsv()
                barrier.wait()
                code, text = c.cmd("STOR race.bin")
                if code == 150:
                    d.sendall(contents[i])
                    d.close()
                    code, text = c.reply()
                else:
                    d.close()
                results[i] = (code, text)
                c.close()
            except Exception as e:
                results[i] = (None, repr(e))

        threads = [threading.Thread(target=writer, args=(i,), daemon=True)
                   for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
            self.assertFalse(t.is_alive())
        codes = [r[0] for r in results]
        for code, text in results:
            self.assertIn(code, (226, 450), text)
        self.assertIn(226, codes)
        final = read(self.hp("race.bin"))
        self.assertIn(final, contents)
        if codes.count(226) == 1:
            self.assertEqual(final, contents[codes.index(226)])
        self.assertEqual(os.listdir(self.home), ["race.bin"])


class SharedHomeTest(UploadTest):
    """Two accounts on one home (a camera's and a viewer's): an upload
    one writes is a partial the other sees (SIZE shows its bytes for a
    resume, as for a session of the same user) and cannot remove or
    join while it is written."""

    def setUp(self):
        self.shared = tempfile.mkdtemp(prefix="rftp-uploads-shared-")
        self.addCleanup(shutil.rmtree, self.shared, True)
        self.users = {"alice": {"password": "alice-pw",
                                "home": self.shared},
                      "cam": {"password": "cam-pw", "home": self.shared}}
        super().setUp()

    def test_dele_of_a_partial_being_written_is_450(self):
        data = self.rand(MB)
        cam, alice = self.ctrl("cam"), self.ctrl()
        d = start_stor(cam, "pic.jpg")
        d.sendall(data[:100 * KB])
        self.assertTrue(wait_size(self.hp(PARTIAL_PREFIX + "pic.jpg"),
                                  100 * KB))
        code, text = alice.cmd("SIZE pic.jpg")
        self.assertEqual(code, 213, text)
        # Not "550 No such file" for the name SIZE just showed: it is
        # there, being written (README: such a partial answers 450).
        code, text = alice.cmd("DELE pic.jpg")
        self.assertEqual(code, 450, text)
        self.assertIn("being uploaded", text)
        d.sendall(data[100 * KB:])
        d.close()
        self.assertEqual(cam.reply()[0], 226)
        self.assertEqual(read(self.hp("pic.jpg")), data)
        # Once published, alice may delete it.
        self.assertEqual(alice.cmd("DELE pic.jpg")[0], 250)
        self.assertEqual(os.listdir(self.home), [])


class NameBecameFolderTest(UploadTest):

    def test_folder_made_at_the_name_during_upload_is_553(self):
        # Another session makes a folder where the upload is to land: the
        # upload cannot be published there, for good (553, the name not
        # allowed), not "try again" (451); nor resumed (the name is a
        # folder), so its partial goes too.
        data = self.rand(300 * KB)
        up, other = self.ctrl(), self.ctrl()
        d = start_stor(up, "x.bin")
        d.sendall(data[:100 * KB])
        self.assertTrue(wait_size(self.hp(PARTIAL_PREFIX + "x.bin"),
                                  100 * KB))
        self.assertEqual(other.cmd("MKD x.bin")[0], 257)
        d.sendall(data[100 * KB:])
        d.close()
        code, text = up.reply()
        self.assertEqual(code, 553, text)
        self.assertIn("folder", text)
        self.assertTrue(os.path.isdir(self.hp("x.bin")))
        self.assertFalse(os.path.exists(self.hp(PARTIAL_PREFIX + "x.bin")))
        self.assertIn("upload of /x.bin not complete after %d bytes; "
                      "removed (the name is a folder now)" % len(data),
                      self.srv.log_text())
        self.assertEqual(up.cmd("NOOP")[0], 200)


class PlantedPartialTest(UploadTest):

    def test_fifo_at_the_partial_name_never_hangs(self):
        """A local program leaves a FIFO where an upload's hidden partial
        goes. Opening it read-only without O_NONBLOCK would wait for a
        writer forever, under the user's names lock (every session of
        the user with it): the STOR is refused instead, DELE answers, and
        the session goes on."""
        c = self.ctrl()  # the home is made at the first login
        os.mkfifo(self.hp(PARTIAL_PREFIX + "f.bin"))
        d = c.epsv()
        code, text = c.cmd("STOR f.bin")
        d.close()
        self.assertIn(code // 100, (4, 5), text)
        other = self.ctrl()
        self.assertEqual(other.cmd("NOOP")[0], 200)
        code, text = other.cmd("DELE f.bin")
        self.assertIn(code // 100, (2, 4, 5), text)
        self.assertEqual(c.cmd("NOOP")[0], 200)
        self.assertFalse(os.path.exists(self.hp("f.bin")))


class ConcurrencyTest(UploadTest):
    users = {"alice": {"password": "alice-pw"},
             "bob": {"password": "bob-pw"},
             "carol": {"password": "carol-pw"}}
    server = {"max_clients": "64", "max_clients_per_ip": "64"}

    def test_24_clients_at_once(self):
        n = 24
        names = ["alice", "bob", "carol"]
        files = [self.rand(512 * KB) for _ in range(n)]
        barrier = threading.Barrier(n, timeout=30)
        errors = [None] * n
        done = [False] * n

        def client(i):
            user = names[i % len(names)]
            try:
                ftp = ftplib.FTP()
                ftp.connect("127.0.0.1", self.srv.port, timeout=30)
                ftp.login(user, self.srv.users[user]["password"])
                barrier.wait()
                name = "client-%02d.bin" % i
                resp = ftp.storbinary("STOR " + name,
                                      io.BytesIO(files[i]), 32 * KB)
                if not resp.startswith("226"):
                    raise AssertionError("STOR: " + resp)
                buf = io.BytesIO()
                resp = ftp.retrbinary("RETR " + name, buf.write)
                if not resp.startswith("226"):
                    raise AssertionError("RETR: " + resp)
                if buf.getvalue() != files[i]:
                    raise AssertionError("downloaded bytes differ")
                if ftp.size(name) != len(files[i]):
                    raise AssertionError("SIZE differs")
                ftp.quit()
                done[i] = True
            except Exception as e:
                errors[i] = "%s: %r" % (user, e)
                try:
                    barrier.abort()
                except Exception:
                    pass

        threads = [threading.Thread(target=client, args=(i,), daemon=True)
                   for i in range(n)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=max(1.0, 80 - (time.monotonic() - t0)))
        self.assertFalse(any(t.is_alive() for t in threads), "hung client")
        self.assertEqual([e for e in errors if e], [],
                         self.srv.log_text()[-3000:])
        self.assertTrue(all(done))
        for i in range(n):
            user = names[i % len(names)]
            path = os.path.join(self.srv.home(user), "client-%02d.bin" % i)
            self.assertEqual(read(path), files[i], path)
        for user in names:
            for f in os.listdir(self.srv.home(user)):
                self.assertFalse(f.startswith(PARTIAL_PREFIX), f)


if __name__ == "__main__":
    unittest.main()
