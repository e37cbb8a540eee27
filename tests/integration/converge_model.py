"""The model of the mirror's convergence tests (test_converge.py over FTP
targets, test_converge_kinds.py over sftp, s3 and exec targets and changes
made by other programs): a seeded generator of FTP operations chosen from
the home as it is on disk, applied over several sessions of one user, with
outages, `mirror retry`, pauses and kill -9 of the source mixed in, and the
tree helpers that compare a home with a target.

A Run asks its case for the fault injection: case.a (the source, a
mirror_targets.MirrorServer), case.outage() (one target down or up again),
case.restart_a() (start the source again after a kill -9), and
case.assertIsNotNone (a unittest.TestCase). Subclasses add operations of
their own with extra_step()/extra_apply() and may veto names with
safe_path().
"""
import ftplib
import io
import os
import random
import socket
import threading
import time

from harness import wait_for
from mirror_targets import MirrorServer, PARTIAL_PREFIX, TMP_PREFIX

# Sessions of each seed's user that the operations are spread over.
SESSIONS = 3
# The FTP operations (the rest are faults that the run itself applies).
FTP_KINDS = ("STOR", "APPE", "DELE", "RENAME", "MKD", "RMD")

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

    def folder_move(self, dirs):
        """(a folder, a new path for it outside itself)."""
        src = self.rng.choice(dirs[1:])
        dst = self.new_path([d for d in dirs
                             if d != src and not d.startswith(src + "/")])
        return src, dst

    def data(self):
        n = self.rng.choice([0, 1, 7, 100, 1000, 3000])
        return self.rng.randbytes(n)

    # -- one step

    def extra_apply(self, op):
        """A subclass's own operations: their outcome, or None."""
        return None

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
            return ("RENAME",) + self.folder_move(dirs)
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
        """Applies an operation of FTP_KINDS (or of a subclass's
        extra_apply, which returns its outcome or None) and returns its
        outcome; a cut connection raises."""
        self.client = self.pick.choice(self.clients)
        f = self.client.ftp
        kind = op[0]
        done = self.extra_apply(op)
        if done is not None:
            return done
        try:
            if kind in ("STOR", "APPE"):
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
                self.log.append("%d %s" % (i, case.outage()))
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
                " ".join("<%d bytes>" % len(x) if isinstance(x, bytes)
                         else repr(x) for x in op),
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


def source(tmp, user_prefix, nusers, targets, **mirror):
    """The source of a convergence test, started: users USER_PREFIX000...
    (seed_user), its queue in tmp, jobs parked after two attempts, the
    shortest retry delays, two workers per target; mirror: more [mirror]
    keys."""
    opts = {"queue": os.path.join(tmp, "queue.db"),
            "retry_initial": "1", "retry_max": "1",
            "max_attempts": "2", "workers_per_target": "2"}
    opts.update(mirror)
    users = dict(seed_user(user_prefix, k) for k in range(nusers))
    return MirrorServer(users={u: {"password": pw} for u, pw in users.items()},
                        mirror=opts, targets=targets)


def restart(a):
    """Starts the source a again on its queue if a kill -9 stopped it."""
    if a.alive():
        return
    if a.proc is not None:
        a.kill9()
    a.start()


def seed_user(user_prefix, k):
    """(name, password) of the k-th seed's user of a source."""
    return "%s%03d" % (user_prefix, k), "pw-%03d" % k


def seeds_from_env(prefix, fixed):
    """The seeds to run: PREFIX_SEED (one, to replay it), PREFIX_SEEDS=N
    (N random ones, for a long run), else fixed (ctest's)."""
    one = os.environ.get(prefix + "_SEED")
    if one:
        return [int(one)]
    many = os.environ.get(prefix + "_SEEDS")
    if many:
        sysrand = random.SystemRandom()
        return [sysrand.randrange(1, 2 ** 31) for _ in range(int(many))]
    return list(fixed)


def idle(a, names):
    """(True if nothing of targets names is queued, running or parked in
    `mirror status` of a, the status)."""
    st = a.status()
    return all(st[t]["queued"] == 0 and st[t]["running"] == 0 and
               st[t]["failed"] == 0 for t in names), st


def wait_converged(a, names, diffs, timeout=60, between=None):
    """Requeues parked jobs (`mirror retry`: they wait for the admin) until
    the queue of targets names is idle and diffs() ({target: [difference
    lines]}) finds none; between() runs after each look. Returns (True or
    False, the last differences, the last status); bounded by timeout."""
    deadline = time.monotonic() + timeout
    last, st = {}, {}
    while time.monotonic() < deadline:
        a.retry()
        ok, st = idle(a, names)
        last = diffs()
        if ok and not any(last.values()):
            return True, last, st
        wait_for(lambda: idle(a, names)[0], timeout=3, interval=0.1)
        if between is not None:
            between()
    return False, last, st


def temp_files(root):
    """The mirror's temporary copies (.rftpd-tmp.*) left under root."""
    return sorted(os.path.join(d, f) for d, _, fs in os.walk(root)
                  for f in fs if f.startswith(TMP_PREFIX))
