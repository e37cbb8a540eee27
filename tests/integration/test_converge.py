#!/usr/bin/env python3
"""Model-based convergence test of the mirror (issue 8 section 5).

One relayftpd source ("A") mirrors to two FTP targets at once: a second
relayftpd ("R") and pyftpdlib ("P"), with propagate_deletes and
propagate_renames on, max_attempts = 2 (jobs park quickly) and the
shortest retry delays. For each seed a random sequence of operations runs
against a fresh user of A (one user per seed, so the servers are started
once for all seeds):

  STOR (new file, overwrite), APPE, DELE (also of names that are not
  there), RNFR/RNTO of files and of folders (over existing files, into
  other folders), MKD, RMD (also of folders that are not empty),
  with names made of `_ % " ' \\`, spaces, mixed case and UTF-8,
  spread over three sessions of the user from three loopback addresses
  (three clients of the mirror's fair share, so unrelated jobs are pushed
  out of the order they were made),
  interleaved with: P stopped and started again (an outage), `relayftpd
  mirror retry`, short pauses (the workers run concurrently with the
  client), and kill -9 of A at a random moment inside an operation (then
  A is started again on the same queue and the client logs in again).

The operations are chosen from the home as it is on disk (after a kill the
outcome of the interrupted command is unknown, so the disk is the model).
After the sequence: P is up, `mirror retry` requeues what was parked, and
the test waits (bounded) until the queue is idle; then every target's tree
must equal the home's tree exactly: the same folders (empty ones too: MKD
and RMD are mirrored), the same files with the same bytes, and no
temporary files (.rftpd-tmp.*). A mismatch prints the seed, the
differences and the operation log.

Fixed seeds run in ctest. A long run with random seeds:

  RELAYFTPD_CONVERGE_SEEDS=200 python3 tests/integration/test_converge.py
  (optional: RELAYFTPD_CONVERGE_OPS=500, RELAYFTPD_CONVERGE_SEED=1234 to
  replay one seed, RELAYFTPD_CONVERGE_WATCH=off to run without the inotify
  watcher, so that only the server's own reports drive the mirror)
"""
import ftplib
import os
import random
import shutil
import socket
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import wait_for  # noqa: E402
from mirror_targets import (MirrorServer, PyftpdTarget, relay_target,  # noqa: E402,E501
                            relay_target_spec, relay_dir, TMP_PREFIX,
                            PARTIAL_PREFIX)

FIXED_SEEDS = list(range(1, 21))
# Sessions of each seed's user that the operations are spread over.
SESSIONS = 3
OPS = int(os.environ.get("RELAYFTPD_CONVERGE_OPS", "200"))

# Names chosen to break quoting, LIKE patterns and case folding.
NAMES = ["a", "B", "b", "c_d", "c%d", "cxd", 'q"t', "it's", "back\\sl",
         "sp ace", "Photos", "photos", "Photos_old", "\u00fcml\u00e4ut",
         "\u65e5\u672c", "-dash", "x.txt", "Y.TXT"]
MAX_DEPTH = 3


def home_tree(root):
    """{rel: bytes or None (folder)} of a home or target folder; upload
    partials of the source are not part of it."""
    tree = {}
    if not os.path.isdir(root):
        return tree
    for dirpath, dirs, files in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        for d in dirs:
            tree[os.path.normpath(os.path.join(rel_dir, d))] = None
        for f in files:
            if f.startswith(PARTIAL_PREFIX):
                continue
            try:
                with open(os.path.join(dirpath, f), "rb") as fh:
                    data = fh.read()
            except (FileNotFoundError, IsADirectoryError):
                # Renamed or removed between the listing and the read
                # (a push publishing its temporary copy): the tree is
                # polled until it settles, so this look just misses it.
                continue
            tree[os.path.normpath(os.path.join(rel_dir, f))] = data
    return tree


def answers(port, timeout=5):
    """True if an FTP server on port sends its 220 greeting in time."""
    try:
        with socket.create_connection(("127.0.0.1", port),
                                      timeout=timeout) as sock:
            return sock.recv(4).startswith(b"220")
    except OSError:
        return False


def diff_trees(want, got):
    lines = []
    for rel in sorted(set(want) | set(got), key=lambda s: s.encode()):
        w, g = want.get(rel, "absent"), got.get(rel, "absent")
        if w == g:
            continue

        def show(v):
            if v is None:
                return "folder"
            if v == "absent":
                return "absent"
            return "%d bytes %r" % (len(v), v[:12])
        lines.append("  %r: home %s, target %s" % (rel, show(w), show(g)))
    return lines


class Client:
    """An ftplib session on A that reconnects after A was restarted."""

    def __init__(self, srv, user, password, source="127.0.0.1"):
        self.srv, self.user, self.password = srv, user, password
        self.source = source
        self.ftp = None

    def connect(self):
        self.close()
        f = ftplib.FTP()
        f.encoding = "utf-8"
        f.connect("127.0.0.1", self.srv.port, timeout=20,
                  source_address=(self.source, 0))
        f.login(self.user, self.password)
        f.voidcmd("TYPE I")
        self.ftp = f

    def close(self):
        if self.ftp is not None:
            try:
                self.ftp.close()
            except OSError:
                pass
        self.ftp = None


class Run:
    """One seed: generates and applies the operations."""

    def __init__(self, case, seed, user, password):
        self.case = case
        self.rng = random.Random(seed)
        self.seed = seed
        self.user = user
        self.home = case.a.home(user)
        # Several sessions of the user from three addresses, each
        # operation on one chosen by a generator of its own (the
        # operations are the seed's as before): each is a client of the
        # mirror's fair share (a user at an address), so unrelated jobs
        # are pushed out of the order they were made in, and related
        # ones must not be.
        self.clients = [Client(case.a, user, password,
                               "127.0.0.%d" % (2 + k))
                        for k in range(SESSIONS)]
        self.pick = random.Random(seed * 7919 + 1)
        self.client = self.clients[0]
        self.log = []

    # -- the home as it is now

    def listing(self):
        dirs, files = ["/"], []
        for rel, data in home_tree(self.home).items():
            (dirs if data is None else files).append("/" + rel)
        return sorted(dirs), sorted(files)

    def new_path(self, dirs):
        parent = self.rng.choice(dirs)
        depth = parent.count("/") if parent != "/" else 0
        if depth >= MAX_DEPTH:
            parent = "/"
        name = self.rng.choice(NAMES)
        return (parent.rstrip("/") + "/" + name) if parent != "/" else \
            "/" + name

    def data(self):
        n = self.rng.choice([0, 1, 7, 100, 1000, 3000])
        return self.rng.randbytes(n)

    # -- one step

    def step(self, i):
        dirs, files = self.listing()
        r = self.rng.random()
        if r < 0.22:
            return ("STOR", self.new_path(dirs), self.data())
        if r < 0.32 and files:
            return ("STOR", self.rng.choice(files), self.data())
        if r < 0.40:
            target = self.rng.choice(files) if files and \
                self.rng.random() < 0.7 else self.new_path(dirs)
            return ("APPE", target, self.data())
        if r < 0.50:
            if files and self.rng.random() < 0.9:
                return ("DELE", self.rng.choice(files))
            return ("DELE", self.new_path(dirs))
        if r < 0.60 and files:
            return ("RENAME", self.rng.choice(files), self.new_path(dirs))
        if r < 0.68 and len(dirs) > 1:
            src = self.rng.choice(dirs[1:])
            dst = self.new_path([d for d in dirs
                                 if d != src and
                                 not d.startswith(src + "/")])
            return ("RENAME", src, dst)
        if r < 0.78:
            return ("MKD", self.new_path(dirs))
        if r < 0.85 and len(dirs) > 1:
            return ("RMD", self.rng.choice(dirs[1:]))
        if r < 0.875:
            return ("OUTAGE",)
        if r < 0.89:
            return ("RETRY",)
        if r < 0.91:
            return ("KILL", self.rng.random() * 0.03)
        return ("PAUSE", self.rng.random() * 0.06)

    def apply(self, op):
        self.client = self.pick.choice(self.clients)
        f = self.client.ftp
        kind = op[0]
        try:
            if kind in ("STOR", "APPE"):
                import io
                f.storbinary("%s %s" % (kind, op[1]), io.BytesIO(op[2]))
            elif kind == "DELE":
                f.voidcmd("DELE " + op[1])
            elif kind == "RENAME":
                f.sendcmd("RNFR " + op[1])
                f.voidcmd("RNTO " + op[2])
            elif kind == "MKD":
                f.voidcmd("MKD " + op[1])
            elif kind == "RMD":
                f.voidcmd("RMD " + op[1])
            return "ok"
        except ftplib.error_perm as e:
            return "refused %s" % str(e)[:40]
        except ftplib.error_temp as e:
            return "temp %s" % str(e)[:40]

    def run(self, nops):
        case = self.case
        for c in self.clients:
            c.connect()
        for i in range(nops):
            op = self.step(i)
            kind = op[0]
            if kind == "OUTAGE":
                case.toggle_p()
                self.log.append("%d P %s" % (i, "up" if case.p.running()
                                                else "down"))
                continue
            if kind == "RETRY":
                r = case.a.retry()
                self.log.append("%d retry: %s" % (i, r.stdout.strip()))
                continue
            if kind == "PAUSE":
                # Lets the workers run between the client's commands.
                time.sleep(op[1])
                continue
            kill = None
            if kind == "KILL":
                # The next operation is cut by a kill -9 after a random
                # delay (inside it, or just after it).
                op2 = self.step(i)
                while op2[0] in ("OUTAGE", "RETRY", "PAUSE", "KILL"):
                    op2 = self.step(i)
                kill = threading.Timer(op[1], case.a.kill9)
                kill.start()
                op = op2
            try:
                outcome = self.apply(op)
            except (OSError, EOFError, ftplib.Error) as e:
                outcome = "cut (%s)" % type(e).__name__
            if kill is not None:
                kill.join()
            self.log.append("%d s%d %s %s" % (
                i, self.clients.index(self.client),
                " ".join(repr(x) if isinstance(x, str) else
                         "<%d bytes>" % len(x) for x in op),
                outcome + (" [kill -9]" if kill is not None else "")))
            if not case.a.alive():
                # Only our kill -9 may stop it: a crash is a failure.
                case.assertIsNotNone(
                    kill, "relayftpd died by itself after %r:\n%s" % (
                        self.log[-1], case.a.log_text()[-4000:]))
                case.restart_a()
                for c in self.clients:
                    c.connect()
        for c in self.clients:
            c.close()


class ConvergeTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        seeds_env = os.environ.get("RELAYFTPD_CONVERGE_SEEDS")
        one = os.environ.get("RELAYFTPD_CONVERGE_SEED")
        if one:
            cls.seeds = [int(one)]
        elif seeds_env:
            sysrand = random.SystemRandom()
            cls.seeds = [sysrand.randrange(1, 2 ** 31)
                         for _ in range(int(seeds_env))]
        else:
            cls.seeds = FIXED_SEEDS
        cls.tmp = tempfile.mkdtemp(prefix="rftp-converge-")
        cls.p = PyftpdTarget()
        cls.r = relay_target()
        users = {"s%03d" % k: {"password": "pw-%03d" % k}
                 for k in range(len(cls.seeds))}
        cls.a = MirrorServer(
            users=users,
            mirror={"queue": os.path.join(cls.tmp, "queue.db"),
                    "retry_initial": "1", "retry_max": "1",
                    "max_attempts": "2", "workers_per_target": "2",
                    "watch": os.environ.get("RELAYFTPD_CONVERGE_WATCH",
                                            "on")},
            targets={
                "p": cls.p.target("/base", propagate_deletes="on",
                                  propagate_renames="on"),
                "r": relay_target_spec(cls.r, "/base",
                                       propagate_deletes="on",
                                       propagate_renames="on")})

    @classmethod
    def tearDownClass(cls):
        for srv in (cls.a, cls.r):
            try:
                srv.stop(check=False)
            finally:
                srv.cleanup()
        cls.p.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # -- fault injection

    @classmethod
    def toggle_p(cls):
        if cls.p.running():
            cls.p.stop()
        else:
            cls.p.start()

    @classmethod
    def restart_a(cls):
        if cls.a.alive():
            return
        if cls.a.proc is not None:
            cls.a.kill9()
        cls.a.start()

    # -- convergence

    def idle(self):
        st = self.a.status()
        return all(st[t]["queued"] == 0 and st[t]["running"] == 0 and
                   st[t]["failed"] == 0 for t in ("p", "r")), st

    def converge(self, run):
        if not self.p.running():
            self.p.start()
        self.restart_a()
        trees = {"p": self.p.dir("base", run.user),
                 "r": relay_dir(self.r, "base", run.user)}
        deadline = time.monotonic() + 60
        last = {}
        while time.monotonic() < deadline:
            # Parked jobs wait for the admin: requeue them.
            self.a.retry()
            ok, st = self.idle()
            home = home_tree(run.home)
            last = {name: diff_trees(home, home_tree(root))
                    for name, root in trees.items()}
            if ok and not any(last.values()):
                return home, trees
            wait_for(lambda: self.idle()[0], timeout=3, interval=0.1)
            # The third-party peer, not relayftpd, has been seen to stop
            # greeting clients on a loaded machine: say so and restart it
            # (relayftpd must then converge all the same).
            if self.p.running() and not answers(self.p.port):
                sys.stderr.write("seed %d: pyftpdlib sends no greeting; "
                                 "restarting it\n%s\n" % (
                                     run.seed, "\n".join(
                                         self.p.log_text().splitlines()[-20:])))
                self.p.kill()
                self.p.start()
        self.fail("seed %d did not converge (status %s):\n%s\n--- ops:\n%s"
                  "\n--- log tail:\n%s\n--- pyftpdlib log tail:\n%s" % (
                      run.seed, self.a.status(),
                      "\n".join("%s:\n%s" % (n, "\n".join(d[:40]))
                                for n, d in last.items()),
                      "\n".join(run.log),
                      "\n".join(self.a.log_text().splitlines()[-60:]),
                      "\n".join(self.p.log_text().splitlines()[-40:])))

    def test_random_sequences_converge(self):
        t0 = time.monotonic()
        for k, seed in enumerate(self.seeds):
            user = "s%03d" % k
            run = Run(self, seed, user, "pw-%03d" % k)
            t1 = time.monotonic()
            run.run(OPS)
            t2 = time.monotonic()
            home, trees = self.converge(run)
            t3 = time.monotonic()
            for name, root in trees.items():
                temps = [os.path.join(d, f) for d, _, fs in os.walk(root)
                         for f in fs if f.startswith(TMP_PREFIX)]
                self.assertEqual(temps, [], "seed %d: %s" % (seed, name))
            sys.stderr.write("seed %d: %d ops (%.1fs), %d entries, %d kills, "
                             "%d outages, converged in %.1fs (%.1fs total)\n"
                             % (seed, OPS, t2 - t1, len(home),
                                sum("kill -9" in x for x in run.log),
                                sum(" P down" in x for x in run.log),
                                t3 - t2, time.monotonic() - t0))
        # A clean exit on SIGTERM, and nothing from the sanitizers (the
        # ASan build runs this test too) over all the restarts.
        self.a.stop(check=True)
        for text in ("AddressSanitizer", "runtime error:", "LeakSanitizer"):
            self.assertNotIn(text, self.a.log_text())


if __name__ == "__main__":
    unittest.main()
