"""Passive ports under load: a 20-port range must serve a busy server.

Each data connection the server closes first leaves its port in TIME_WAIT
for 60 s; a server that binds passive listeners without SO_REUSEADDR, or
walks the range with bind() per PASV, answers "425" once a few hundred
transfers have gone through. relayftpd hands passive ports out of an
in-process pool: a port is busy only while one of its listeners is open,
and a PASV/EPSV that finds every port listening waits for one to free.

Each test: 32 ftplib clients at once, each doing 100 store+fetch pairs of
small files (bytes checked), then an lftp `mirror -R` of 2,000 files, all
through the same 20 ports; not one 425 may be seen by any client (ftplib
raises on it, lftp's debug log shows it) nor be logged by the server.
The second test shares the range between EPSV and PASV clients.

Smaller tests pin the pool's rules one by one: a PASV that finds every
port listening waits and gets the first port given back (the old code
answered 425 at once); it gives up with 425 and a log line after
data_timeout; a port another program listens on is skipped and logged,
and a range held entirely by others fails at once, logged.
"""
import ftplib
import os
import random
import re
import select
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import free_port_range, port_free  # noqa: E402
from harness import BINARY, Control, Server  # noqa: E402

LFTP = "/usr/bin/lftp"
PORTS = 20
CLIENTS = 32
PAIRS = 100
MIRROR_FILES = 2000


class EpsvFTP(ftplib.FTP):
    """ftplib sends PASV on IPv4; this client uses EPSV (RFC 2428)."""

    def makepasv(self):
        return ftplib.parse229(self.sendcmd("EPSV"), self.sock.getpeername())


def client_env(tmp):
    env = dict(os.environ)
    env["HOME"] = tmp
    env["LC_ALL"] = "C.UTF-8"
    for key in ("ftp_proxy", "FTP_PROXY", "all_proxy", "ALL_PROXY"):
        env.pop(key, None)
    return env


class PassiveLoadTest(unittest.TestCase):

    def setUp(self):
        self.lo, self.hi = free_port_range(PORTS, ("0.0.0.0", "127.0.0.1"))
        self.srv = Server(server={
            "passive_ports": "%d-%d" % (self.lo, self.hi),
            "max_clients": "100",
            "max_clients_per_ip": "100",
            "data_timeout": "20",
        }, users={"alice": {"password": "alice-pw",
                            "max_sessions": "100"}})
        self.addCleanup(self.srv.cleanup)

    def session_worker(self, idx, epsv, errors, counts):
        cls = EpsvFTP if epsv else ftplib.FTP
        rng = random.Random(idx)
        ftp = cls()
        try:
            ftp.connect("127.0.0.1", self.srv.port, timeout=60)
            ftp.login("alice", "alice-pw")
            for i in range(PAIRS):
                name = "c%02d-%03d.bin" % (idx, i)
                body = rng.randbytes(rng.randrange(1, 600))
                ftp.storbinary("STOR " + name, _Reader(body))
                got = bytearray()
                ftp.retrbinary("RETR " + name, got.extend)
                if bytes(got) != body:
                    errors.append("%s: fetched bytes differ" % name)
                counts[idx] += 1
            ftp.quit()
        except ftplib.all_errors as e:
            errors.append("client %d (%s): %s" % (
                idx, "EPSV" if epsv else "PASV", e))
        finally:
            ftp.close()

    def run_load(self, epsv_of):
        errors, counts = [], [0] * CLIENTS
        threads = [threading.Thread(target=self.session_worker,
                                    args=(i, epsv_of(i), errors, counts))
                   for i in range(CLIENTS)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=240)
        alive = [t for t in threads if t.is_alive()]
        print("%d clients x %d store+fetch pairs over %d ports: %.1f s" % (
            CLIENTS, PAIRS, PORTS, time.monotonic() - t0), file=sys.stderr)
        self.assertEqual(alive, [], "clients still running")
        n425 = [e for e in errors if "425" in e]
        self.assertEqual(n425, [], "425 replies:\n" + "\n".join(n425[:10]))
        self.assertEqual(errors, [], "\n".join(errors[:10]))
        self.assertEqual(sum(counts), CLIENTS * PAIRS)
        home = self.srv.home("alice")
        self.assertEqual(len([n for n in os.listdir(home)
                              if n.startswith("c")]), CLIENTS * PAIRS)

    def run_mirror(self, epsv):
        tmp = os.path.join(self.srv.tmp, "lftp")
        src = os.path.join(tmp, "src")
        made = {}
        for i in range(MIRROR_FILES):
            rel = os.path.join("d%02d" % (i % 20), "f%04d.txt" % i)
            os.makedirs(os.path.join(src, os.path.dirname(rel)),
                        exist_ok=True)
            body = b"file %d\n" % i * (1 + i % 7)
            with open(os.path.join(src, rel), "wb") as f:
                f.write(body)
            made[rel] = body
        debug = os.path.join(tmp, "lftp-debug.log")
        script = ("set cmd:fail-exit yes; set ftp:ssl-allow no; "
                  "set net:max-retries 1; set net:timeout 20; "
                  "set ftp:passive-mode on; set ftp:prefer-epsv %s; "
                  "debug -o %s 4; "
                  "open -u alice,alice-pw ftp://127.0.0.1:%d; "
                  "mirror -R %s tree" % ("yes" if epsv else "no", debug,
                                         self.srv.port, src))
        t0 = time.monotonic()
        r = subprocess.run([LFTP, "-c", script], capture_output=True,
                           timeout=240, env=client_env(tmp),
                           stdin=subprocess.DEVNULL)
        print("lftp mirror -R of %d files: %.1f s" % (
            MIRROR_FILES, time.monotonic() - t0), file=sys.stderr)
        with open(debug, "rb") as f:
            log = f.read().decode(errors="replace")
        bad = [line for line in log.splitlines() if "<--- 425" in line]
        self.assertEqual(bad, [], "lftp saw 425:\n" + "\n".join(bad[:10]))
        self.assertEqual(r.returncode, 0, "lftp failed:\n%s\n%s" % (
            r.stdout.decode(errors="replace"),
            r.stderr.decode(errors="replace")[-3000:]))
        # lftp used the mode asked for: 229 answers EPSV, 227 PASV.
        want = "<--- 229 " if epsv else "<--- 227 "
        self.assertGreater(log.count(want), MIRROR_FILES,
                           "lftp did not use %s" % want)
        root = os.path.join(self.srv.home("alice"), "tree")
        for rel, body in made.items():
            with open(os.path.join(root, rel), "rb") as f:
                self.assertEqual(f.read(), body, rel)

    def check_server_log(self):
        log = self.srv.log_text()
        self.assertNotIn("no free passive port", log)
        self.assertNotIn("data connection failed or timed out", log)

    def test_pasv_32_clients_then_lftp_mirror(self):
        self.run_load(lambda i: False)
        self.run_mirror(epsv=False)
        self.check_server_log()

    def test_epsv_and_pasv_share_the_range(self):
        self.run_load(lambda i: i % 2 == 1)
        self.run_mirror(epsv=True)
        self.check_server_log()


def pasv_port(text):
    m = re.search(r"\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)", text)
    assert m, text
    return int(m.group(5)) * 256 + int(m.group(6))


def store(c, port, name, body):
    """STOR name through an announced passive port; returns the reply."""
    code, text = c.cmd("TYPE I")
    assert code == 200, text
    c.send("STOR " + name)
    data = socket.create_connection(("127.0.0.1", port), timeout=10)
    code, text = c.reply()
    assert code == 150, text
    data.sendall(body)
    data.close()
    return c.reply()


class PoolRulesTest(unittest.TestCase):

    def server(self, ports, **opts):
        lo, hi = free_port_range(ports, ("0.0.0.0", "127.0.0.1"))
        server = {"passive_ports": "%d-%d" % (lo, hi), "log_level": os.environ.get("RFTP_LOG", "info")}
        server.update(opts)
        srv = Server(server=server)
        self.addCleanup(srv.cleanup)
        return srv, lo, hi

    def control(self, srv):
        c = Control(srv.port, timeout=30)
        self.addCleanup(c.close)
        c.login()
        return c

    def test_pasv_waits_for_a_port_given_back(self):
        srv, lo, hi = self.server(2)
        a, b, c = self.control(srv), self.control(srv), self.control(srv)
        code, text = a.cmd("PASV")
        self.assertEqual(code, 227, text)
        port_a = pasv_port(text)
        code, text = b.cmd("PASV")
        self.assertEqual(code, 227, text)
        self.assertEqual({port_a, pasv_port(text)}, {lo, hi})
        # Both ports listen: c's PASV must wait, not fail.
        c.send("PASV")
        ready, _, _ = select.select([c.sock], [], [], 1.0)
        if ready:
            self.fail("PASV answered while every port listened: %r" %
                      (c.reply(),))
        # a's data connection is accepted: its port is given back, to c.
        code, text = store(a, port_a, "a.bin", b"from a")
        self.assertEqual(code, 226, text)
        code, text = c.reply()
        self.assertEqual(code, 227, text)
        port_c = pasv_port(text)
        self.assertEqual(port_c, port_a)
        code, text = store(c, port_c, "c.bin", b"from c")
        self.assertEqual(code, 226, text)
        with open(os.path.join(srv.home("alice"), "c.bin"), "rb") as f:
            self.assertEqual(f.read(), b"from c")
        # b's setup was never disturbed.
        code, text = b.cmd("RETR a.bin")
        self.assertEqual(code, 150, text)

    def test_wait_is_bounded_by_data_timeout(self):
        # a holds the port past the wait's bound: a STOR sent late waits
        # data_timeout for its data connection, which never comes.
        srv, lo, hi = self.server(1, data_timeout="4")
        a, b = self.control(srv), self.control(srv)
        code, text = a.cmd("PASV")
        self.assertEqual(code, 227, text)
        t0 = time.monotonic()
        b.send("PASV")
        time.sleep(2.0)
        a.send("STOR late.bin")
        code, text = b.reply()
        self.assertEqual(code, 425, text)
        # data_timeout and a second (the given-back bound of a's own
        # listener, 4 s, lies within it; its STOR's wait does not).
        self.assertGreaterEqual(time.monotonic() - t0, 4.5)
        self.assertIn("no free passive port in %d-%d: all listening" %
                      (lo, hi), srv.log_text())
        code, text = a.reply()
        self.assertEqual(code, 150, text)
        code, text = a.reply()
        self.assertEqual(code, 425, text)
        # The port is free again: b gets it.
        code, text = b.cmd("PASV")
        self.assertEqual(code, 227, text)
        self.assertEqual(pasv_port(text), lo)

    def test_idle_listener_given_back(self):
        # Sessions that sent PASV/EPSV and then only NOOP held every
        # port of the range for as long as they liked: each other
        # session's PASV waited data_timeout and got 425 (found by an
        # outside battery: 20 such sessions kept a 20-port range).
        srv, lo, hi = self.server(2, data_timeout="2")
        holders = [self.control(srv), self.control(srv)]
        held = set()
        for h in holders:
            code, text = h.cmd("EPSV")
            self.assertEqual(code, 229, text)
            held.add(int(re.search(r"\|\|\|(\d+)\|", text).group(1)))
        self.assertEqual(held, {lo, hi})
        c = self.control(srv)
        c.send("PASV")
        # The holders keep their sessions busy the whole time.
        deadline = time.monotonic() + 10
        got = None
        while got is None and time.monotonic() < deadline:
            for h in holders:
                self.assertEqual(h.cmd("NOOP")[0], 200)
            if select.select([c.sock], [], [], 0.3)[0]:
                got = c.reply()
        self.assertIsNotNone(got, "PASV not answered within 10 s")
        code, text = got
        self.assertEqual(code, 227, text)
        code, text = store(c, pasv_port(text), "c.bin", b"from c")
        self.assertEqual(code, 226, text)
        with open(os.path.join(srv.home("alice"), "c.bin"), "rb") as f:
            self.assertEqual(f.read(), b"from c")
        self.assertIn("given back: no transfer command within "
                      "data_timeout (2 s)", srv.log_text())
        # A holder's late transfer command is told to set up again, once
        # its own listener is given back too: c took the first port
        # given back, maybe holders[1]'s (bounded wait, the holders kept
        # busy as above).
        deadline = time.monotonic() + 10
        while srv.log_text().count("given back: no transfer command") < 2 \
                and time.monotonic() < deadline:
            for h in holders:
                self.assertEqual(h.cmd("NOOP")[0], 200)
            time.sleep(0.2)
        self.assertEqual(srv.log_text().count(
            "given back: no transfer command"), 2, srv.log_text())
        code, text = holders[0].cmd("LIST")
        self.assertEqual(code, 425, text)

    def test_port_held_by_another_program_is_skipped(self):
        srv, lo, hi = self.server(3)
        squatter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(squatter.close)
        squatter.bind(("127.0.0.1", lo + 1))
        squatter.listen(1)
        c = self.control(srv)
        used = set()
        for i in range(8):
            code, text = c.cmd("PASV")
            self.assertEqual(code, 227, text)
            port = pasv_port(text)
            used.add(port)
            code, text = store(c, port, "f%d" % i, b"%d" % i)
            self.assertEqual(code, 226, text)
        self.assertEqual(used, {lo, hi})
        self.assertIn("passive port %d is in use by another program" %
                      (lo + 1), srv.log_text())

    def test_range_held_by_others_fails_at_once(self):
        # data_timeout far beyond the control connection's 30 s: a PASV
        # that waited for it would time the test out.
        srv, lo, hi = self.server(2, data_timeout="300")
        held = []
        for port in (lo, hi):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.addCleanup(s.close)
            s.bind(("127.0.0.1", port))
            s.listen(1)
            held.append(s)
        c = self.control(srv)
        code, text = c.cmd("PASV")
        self.assertEqual(code, 425, text)
        self.assertIn("held by other programs", srv.log_text())
        code, text = c.cmd("EPSV")
        self.assertEqual(code, 425, text)

    def test_range_in_the_ephemeral_range_is_warned_of(self):
        # A range inside ip_local_port_range shares its ports with every
        # outgoing connection on the host: the admin is told at start,
        # with the sysctl that reserves it. free_port_range picks below
        # that range: no warning there.
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            eph_lo, eph_hi = (int(x) for x in f.read().split())
        with open("/proc/sys/net/ipv4/ip_local_reserved_ports") as f:
            if f.read().strip():
                self.skipTest("ports are reserved on this host")
        if eph_hi - eph_lo < 100:
            self.skipTest("ephemeral range too small")
        rng = random.Random()
        for _ in range(200):
            lo = rng.randrange(eph_lo, eph_hi - 5)
            if all(port_free(p, ("0.0.0.0", "127.0.0.1"))
                   for p in range(lo, lo + 5)):
                break
        else:
            self.skipTest("no 5 free ports in the ephemeral range")
        srv = Server(server={"passive_ports": "%d-%d" % (lo, lo + 4)})
        self.addCleanup(srv.cleanup)
        c = self.control(srv)
        code, text = c.cmd("PASV")
        self.assertEqual(code, 227, text)
        want = ("passive_ports %d-%d: 5 of its 5 ports lie in the kernel's "
                "ephemeral range %d-%d" % (lo, lo + 4, eph_lo, eph_hi))
        self.assertIn(want, srv.log_text())
        self.assertIn("net.ipv4.ip_local_reserved_ports=%d-%d" %
                      (lo, lo + 4), srv.log_text())
        r = subprocess.run([BINARY, "check", "--config", srv.config_path],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("key 'passive_ports': warning: " + want, r.stderr)
        below, _, _ = self.server(5)
        c = self.control(below)
        code, text = c.cmd("PASV")
        self.assertEqual(code, 227, text)
        self.assertNotIn("ephemeral range", below.log_text())
        r = subprocess.run([BINARY, "check", "--config", below.config_path],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("passive_ports", r.stderr)


def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


class DualStackPoolTest(unittest.TestCase):
    """IPv6 EPSV and IPv4 PASV clients draw from the same pool: a port
    listening for one is busy for the other, and given back to it."""

    @unittest.skipUnless(have_ipv6_loopback(), "no IPv6 loopback")
    def test_ipv6_epsv_and_ipv4_pasv_share_one_port(self):
        lo, hi = free_port_range(1, ("0.0.0.0", "127.0.0.1"))
        srv = Server(server={"listen": "127.0.0.1:0, [::1]:0",
                             "passive_ports": "%d-%d" % (lo, hi)},
                     start=False)
        self.addCleanup(srv.cleanup)
        with open(srv.config_path) as f:
            text = f.read().replace("listen = 127.0.0.1:0\n", "", 1)
        with open(srv.config_path, "w") as f:
            f.write(text)
        srv.start()
        line = srv._stdout_line(time.monotonic() + 10)
        self.assertTrue(line.startswith("listening on [::1]:"), line)
        v6 = Control(int(line.rsplit(":", 1)[1]), host="::1", timeout=30)
        self.addCleanup(v6.close)
        v6.login()
        v4 = Control(srv.port, timeout=30)
        self.addCleanup(v4.close)
        v4.login()
        code, text = v6.cmd("EPSV")
        self.assertEqual(code, 229, text)
        port = int(text.split("(|||")[1].split("|")[0])
        self.assertEqual(port, lo)
        v4.send("PASV")
        ready, _, _ = select.select([v4.sock], [], [], 1.0)
        if ready:
            self.fail("PASV answered while the port listened for EPSV: "
                      "%r" % (v4.reply(),))
        self.assertEqual(v6.cmd("TYPE I")[0], 200)
        v6.send("STOR six.bin")
        data = socket.create_connection(("::1", port), timeout=10)
        self.assertEqual(v6.reply()[0], 150)
        data.sendall(b"over IPv6")
        data.close()
        self.assertEqual(v6.reply()[0], 226)
        code, text = v4.reply()
        self.assertEqual(code, 227, text)
        self.assertEqual(pasv_port(text), lo)
        code, text = store(v4, lo, "four.bin", b"over IPv4")
        self.assertEqual(code, 226, text)
        home = srv.home("alice")
        for name, body in (("six.bin", b"over IPv6"),
                           ("four.bin", b"over IPv4")):
            with open(os.path.join(home, name), "rb") as f:
                self.assertEqual(f.read(), body)


class _Reader:
    """storbinary reads from a file-like object; this one serves bytes."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def read(self, n):
        chunk = self.data[self.pos:self.pos + n]
        self.pos += len(chunk)
        return chunk


if __name__ == "__main__":
    unittest.main(verbosity=2)
