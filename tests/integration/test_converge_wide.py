#!/usr/bin/env python3
"""The convergence model (converge_model.Run) widened: operations and
faults test_converge.py and test_converge_kinds.py do not use.

One source ("A") whose homes nest: an admin (wadmin) whose home holds
each seed's user's home (<srv>/w000, <srv>/w001, ...). The users' files go
to two FTP targets, a second relayftpd ("r") and vsftpd ("v", a real
third-party server on a local account); the admin's to a folder of its
own on r ("adm"), so every change a user makes is owed to two homes'
targets. All with propagate_deletes and propagate_renames on, uploads of
64 KiB or more streamed to the targets while they arrive.

Operations, besides the model's STOR, APPE, DELE, renames, MKD, RMD:

  REST + STOR into an existing file at an offset inside it;
  DELE then STOR of the same name at once (no pause between);
  RNFR/RNTO of a folder over another, existing folder;
  MKD of a nested chain, and the removal of a whole tree over FTP
  (DELE of each file, RMD from the bottom up);
  uploads of 100-300 KiB (streamed);
  files written or appended to in the home by another program (the
  inotify watcher's work; only files are written, nothing is removed
  behind the server's back, so the trees must still be equal);
  the admin's session changing the user's folder from above (STOR,
  rename, DELE under /wNNN);
  SIGHUP (a reload) mid-run;
  names with `" \\ % _ *`, spaces (a trailing one too), a leading `-`,
  UTF-8 and case twins (u/U with umlaut).

Faults: kill -9 of A inside a random operation, inside a folder rename,
inside a streamed upload, and just after a restart (during the start-up
walk of the homes); r killed -9 and started again on its port; vsftpd
stopped and started again on its port.

After each seed: every target up, `mirror retry` until idle, then r and v
hold the user's home exactly (folders and bytes), and r's adm folder
holds the admin's home exactly (all users' folders so far); no temporary
copies. A mismatch prints the seed, the differences and the operation log.

Fixed seeds run here (under 3 minutes of wall time on an idle machine).
RELAYFTPD_WIDE_SEED=N replays one seed, RELAYFTPD_WIDE_SEEDS=N runs N
random ones, RELAYFTPD_WIDE_OPS sets the operations per seed,
RELAYFTPD_WIDE_VERBOSE=1 prints each seed's operations,
RELAYFTPD_WIDE_LOG=FILE keeps the source's whole log of a seed that does
not converge.

Debian: vsftpd, passwd (the test runs as root; it skips otherwise).
"""
import ftplib
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import converge_model  # noqa: E402
from harness import wait_for  # noqa: E402
from converge_model import (Client, Run, diff_trees, home_tree,  # noqa: E402
                            restart, seeds_from_env, temp_files,
                            wait_converged)
import mirror_peers  # noqa: E402
from mirror_peers import SshdPeer, VsftpdPeer, make_tree_dir  # noqa: E402
from fake_s3 import FakeS3  # noqa: E402
from test_converge_kinds import COMMAND as KEEP_TREE  # noqa: E402
from mirror_targets import (MirrorServer, free_port,  # noqa: E402
                            relay_target, relay_target_spec, relay_dir)

FIXED_SEEDS = [101, 102, 103]
OPS = int(os.environ.get("RELAYFTPD_WIDE_OPS", "70"))
ADMIN = "wadmin"
S3_PREFIX = "mirror"
TARGETS = ("r", "v", "adm", "sftp", "s3", "exec")
BOTH = {"propagate_deletes": "on", "propagate_renames": "on"}
NAMES = converge_model.NAMES + [
    "st*r", "*", "%_", "sp ace ", "-", "--x", "\u00c4rger",
    "\u00e4rger", "q\"t\\b"]


class PortVsftpd(VsftpdPeer):
    """vsftpd that starts again on the port it had (an outage, not a
    move)."""

    def start(self, timeout=15):
        if self.port is None:
            return super().start(timeout)
        self._launch(
            lambda: self._spawn(self._command(), env=self._env()),
            lambda deadline: self._poll_ready(
                lambda: self._banner().startswith("220"), deadline),
            timeout)
        return self


class WideRun(Run):

    def __init__(self, case, seed, user, password):
        super().__init__(case, seed, user, password)
        self.admin = Client(case.a, ADMIN, case.admin_password)
        self.clients_all = self.clients + [self.admin]

    def new_path(self, dirs):
        parent = self.rng.choice(dirs)
        if parent.count("/") >= converge_model.MAX_DEPTH:
            parent = "/"
        name = self.rng.choice(NAMES)
        return parent.rstrip("/") + "/" + name

    def step(self, i):
        dirs, files = self.listing()
        r = self.rng.random()
        if r < 0.05 and files:
            f = self.rng.choice(files)
            size = os.path.getsize(self.home + f)
            return ("RESTSTOR", f, self.rng.randrange(size + 1),
                    self.data())
        if r < 0.10 and files:
            return ("DELSTOR", self.rng.choice(files), self.data())
        if r < 0.15 and len(dirs) > 2:
            src = self.rng.choice(dirs[1:])
            others = [d for d in dirs[1:] if not d.startswith(src + "/")
                      and not src.startswith(d + "/") and d != src]
            if others:
                return ("RENAME", src, self.rng.choice(others))
        if r < 0.19:
            base = self.new_path(["/"])
            return ("NESTMKD", [base, base + "/n",
                                base + "/n/" + self.rng.choice(NAMES)])
        if r < 0.22 and len(dirs) > 1:
            return ("RMTREE", self.rng.choice(dirs[1:]))
        if r < 0.25:
            return ("STOR", self.new_path(dirs),
                    self.rng.randbytes(self.rng.randrange(100, 300) * 1024))
        if r < 0.31:
            if files and self.rng.random() < 0.4:
                return ("LWRITE", self.rng.choice(files), self.data(),
                        self.rng.random() < 0.5)
            return ("LWRITE", self.new_path(dirs), self.data(), False)
        if r < 0.36:
            r2 = self.rng.random()
            if files and r2 < 0.4:
                return ("ADMIN_RENAME", self.rng.choice(files),
                        self.new_path(dirs))
            if files and r2 < 0.6:
                return ("ADMIN_DELE", self.rng.choice(files))
            return ("ADMIN_STOR", self.new_path(dirs), self.data())
        if r < 0.38:
            return ("RELOAD",)
        if r < 0.40 and len(dirs) > 1:
            return ("KILLOP", ("RENAME",) + self.folder_move(dirs),
                    self.rng.random() * 0.02)
        if r < 0.42:
            return ("KILLOP", ("STOR", self.new_path(dirs),
                               self.rng.randbytes(400 * 1024)),
                    0.05 + self.rng.random() * 0.2)
        if r < 0.44:
            return ("KILLSTART", self.rng.random() * 0.3)
        if r < 0.46:
            return ("TKILL",)
        if r < 0.48:
            return ("VOUTAGE",)
        if r < 0.50:
            return ("DISKFULL",)
        return super().step(i)

    def ftp_path(self, path):
        """The admin's name of a path of the user's home."""
        return "/" + self.user + path

    def extra_apply(self, op):
        kind = op[0]
        f = self.client.ftp
        if kind == "RESTSTOR":
            f.storbinary("STOR " + op[1], io.BytesIO(op[3]), rest=op[2])
            return "ok"
        if kind == "DELSTOR":
            f.voidcmd("DELE " + op[1])
            f.storbinary("STOR " + op[1], io.BytesIO(op[2]))
            return "ok"
        if kind == "NESTMKD":
            for p in op[1]:
                f.voidcmd("MKD " + p)
            return "ok"
        if kind == "RMTREE":
            top = self.home + op[1]
            for d, subdirs, files in os.walk(top, topdown=False):
                rel = "/" + os.path.relpath(d, self.home)
                for name in files:
                    f.voidcmd("DELE " + rel + "/" + name)
                f.voidcmd("RMD " + rel)
            return "ok"
        if kind == "LWRITE":
            with open(self.home + op[1], "ab" if op[3] else "wb") as fh:
                fh.write(op[2])
            return "ok"
        if kind.startswith("ADMIN_"):
            a = self.admin.ftp
            if kind == "ADMIN_STOR":
                a.storbinary("STOR " + self.ftp_path(op[1]),
                             io.BytesIO(op[2]))
            elif kind == "ADMIN_DELE":
                a.voidcmd("DELE " + self.ftp_path(op[1]))
            else:
                a.sendcmd("RNFR " + self.ftp_path(op[1]))
                a.voidcmd("RNTO " + self.ftp_path(op[2]))
            return "ok"
        return None

    def run(self, nops):
        case = self.case
        for c in self.clients_all:
            c.connect()
        for i in range(nops):
            op = self.step(i)
            kind = op[0]
            note = ""
            if kind == "RELOAD":
                if case.a.alive():
                    os.kill(case.a.proc.pid, signal.SIGHUP)
                self.log.append("%d SIGHUP" % i)
                continue
            if kind == "TKILL":
                case.r.kill()
                case.r.start()
                self.log.append("%d r killed -9 and started" % i)
                continue
            if kind == "DISKFULL":
                self.log.append("%d %s" % (i, case.disk_full()))
                continue
            if kind == "VOUTAGE":
                self.log.append("%d %s" % (i, case.outage()))
                continue
            if kind == "KILLSTART":
                case.a.kill9()
                case.a.start()
                t = threading.Timer(op[1], case.a.kill9)
                t.start()
                t.join()
                restart(case.a)
                self.log.append("%d kill -9, start, kill -9 after %.3fs, "
                                "start" % (i, op[1]))
                for c in self.clients_all:
                    c.connect()
                continue
            if kind in ("OUTAGE", "RETRY", "PAUSE"):
                # The model's: its outage is of vsftpd here.
                if kind == "OUTAGE":
                    op = ("PAUSE", 0.02)
                if kind == "RETRY":
                    case.a.retry()
                    self.log.append("%d retry" % i)
                else:
                    time.sleep(op[1])
                continue
            kill = None
            if kind == "KILL":
                kill = threading.Timer(op[1], case.a.kill9)
                op = ("STOR", self.new_path(self.listing()[0]), self.data())
            elif kind == "KILLOP":
                kill = threading.Timer(op[2], case.a.kill9)
                op = op[1]
            if kill is not None:
                kill.start()
                note = " [kill -9]"
            self.client = self.pick.choice(self.clients)
            try:
                outcome = self.apply(op)
            except Exception as e:  # noqa: BLE001 - a cut or a refusal
                outcome = "%s %s" % (type(e).__name__, str(e)[:40])
            if kill is not None:
                kill.join()
            self.log.append("%d %s %s%s" % (
                i, " ".join("<%d bytes>" % len(x) if isinstance(x, bytes)
                            else repr(x) for x in op), outcome, note))
            if not case.a.alive():
                case.assertIsNotNone(
                    kill, "relayftpd died by itself after %r:\n%s" % (
                        self.log[-1], case.a.log_text()[-4000:]))
                restart(case.a)
                for c in self.clients_all:
                    c.connect()
        for c in self.clients_all:
            c.close()

    def apply(self, op):
        # Run.apply picks a client itself; keep the one run() chose, and
        # let the model's refusals (550 and such) be outcomes.
        pick = self.pick
        chosen = self.client

        class Same:
            def choice(self, _):
                return chosen
        self.pick = Same()
        try:
            return super().apply(op)
        finally:
            self.pick = pick


class ConvergeWideTest(unittest.TestCase):

    def setUp(self):
        self.seeds = seeds_from_env("RELAYFTPD_WIDE", FIXED_SEEDS)
        self.tmp = tempfile.mkdtemp(prefix="rftp-wide-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        account = mirror_peers.system_user_for(
            self, "rftp-wide-v-", mirror_peers.VSFTPD, mirror_peers.SSHD)
        self.v = PortVsftpd(account)
        self.addCleanup(self.v.cleanup)
        make_tree_dir(self.v.dir("base"), owner=account)
        self.r = relay_target(
            server={"listen": "127.0.0.1:%d" % free_port()}, start=False)
        self.addCleanup(self.r.cleanup)
        # r's account folder on a small file system of its own, so that
        # a filler file can make r's disk full (a fault of its own).
        self.r_disk = relay_dir(self.r)
        os.makedirs(self.r_disk, exist_ok=True)
        self.filler = None
        m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96m",
                            "tmpfs", self.r_disk], capture_output=True,
                           text=True)
        if m.returncode == 0:
            self.addCleanup(subprocess.run, ["umount", "-l", self.r_disk])
            self.filler = os.path.join(self.r_disk, ".filler")
        else:
            sys.stderr.write("no disk-full fault (mount: %s)\n" %
                             m.stderr.strip())
        self.r.start()
        # The other kinds: sftp (OpenSSH, on the same account), the fake
        # S3 service, and the exec command of test_converge_kinds.
        self.sftp_base = os.path.join(account.home, "sbase")
        make_tree_dir(self.sftp_base, owner=account)
        self.sshd = SshdPeer(account)
        self.addCleanup(self.sshd.cleanup)
        self.s3 = FakeS3()
        self.addCleanup(self.s3.stop)
        # Before the stop (clean-ups go last in, first out): a request
        # refused for its signature is retried, so convergence alone
        # would not show a signature wrong for some requests.
        self.addCleanup(lambda: self.assertEqual(
            self.s3.bad_signatures(), [], "requests the fake S3 refused"))
        self.out = os.path.join(self.tmp, "exec")
        for sub in ("tree", "tmp"):
            os.makedirs(os.path.join(self.out, sub))
        prog = os.path.join(self.tmp, "keep-tree")
        with open(prog, "w") as f:
            f.write(KEEP_TREE)
        os.chmod(prog, 0o755)
        self.outages = 0
        self.srv = os.path.join(self.tmp, "srv")
        os.makedirs(self.srv)
        self.admin_password = "pw-admin"
        users = {ADMIN: {"password": self.admin_password,
                         "home": self.srv, "mirror": "adm"}}
        for k in range(len(self.seeds)):
            name = "w%03d" % k
            os.makedirs(os.path.join(self.srv, name))
            users[name] = {"password": "pw-%03d" % k,
                           "home": os.path.join(self.srv, name),
                           "mirror": "r, v, sftp, s3, exec"}
        self.a = MirrorServer(
            users=users,
            mirror={"queue": os.path.join(self.tmp, "queue.db"),
                    "retry_initial": "1", "retry_max": "1",
                    "max_attempts": "2", "workers_per_target": "2",
                    "stream_min_size": "64K", "watch_debounce_ms": "100"},
            targets={"r": relay_target_spec(self.r, "/base", **BOTH),
                     "v": self.v.target("/base", **BOTH),
                     "adm": relay_target_spec(self.r, "/adm", **BOTH),
                     "sftp": dict(url=self.sshd.url(self.sftp_base),
                                  host_key_sha256=self.sshd.host_key_sha256(),
                                  **BOTH),
                     "s3": self.s3.target(S3_PREFIX, **BOTH),
                     "exec": dict(url="exec:" + prog, args=self.out,
                                  **BOTH)})
        self.addCleanup(self.a.cleanup)

    def outage(self):
        """One target, chosen in turn, down or up again: what the log
        says."""
        name = ("v", "sftp", "s3", "exec")[self.outages % 4]
        self.outages += 1
        if name == "v":
            if self.v.running():
                self.v.stop()
                return "v down"
            self.v.start()
            return "v up"
        if name == "sftp":
            if self.sshd.running():
                self.sshd.stop()
                return "sftp down"
            self.sshd.start(port=self.sshd.port)
            return "sftp up"
        if name == "s3":
            if self.s3.httpd is not None:
                self.s3.stop()
                return "s3 down"
            self.s3.start()
            return "s3 up"
        flag = os.path.join(self.out, ".down")
        if os.path.exists(flag):
            os.unlink(flag)
            return "exec up"
        open(flag, "w").close()
        return "exec down"

    def disk_full(self):
        """r's disk filled up, or the filler removed: what the log says."""
        if self.filler is None:
            return "no disk-full fault"
        if os.path.exists(self.filler):
            os.unlink(self.filler)
            return "r disk freed"
        chunk = b"\0" * (1 << 20)
        with open(self.filler, "wb", buffering=0) as f:
            for _ in range(200):
                try:
                    f.write(chunk)
                except OSError:
                    break
            # The last bytes of a block, too.
            for _ in range(1024):
                try:
                    f.write(b"\0" * 1024)
                except OSError:
                    break
        return "r disk full"

    def restart_a(self):
        restart(self.a)

    def converge(self, run, k):
        if not self.v.running():
            self.v.start()
        if not self.r.running():
            self.r.start()
        if not self.sshd.running():
            self.sshd.start(port=self.sshd.port)
        if self.s3.httpd is None:
            self.s3.start()
        flag = os.path.join(self.out, ".down")
        if os.path.exists(flag):
            os.unlink(flag)
        if self.filler is not None and os.path.exists(self.filler):
            os.unlink(self.filler)
        restart(self.a)
        trees = {"r": relay_dir(self.r, "base", run.user),
                 "v": self.v.dir("base", run.user),
                 "sftp": os.path.join(self.sftp_base, run.user),
                 "exec": os.path.join(self.out, "tree", run.user),
                 "adm": relay_dir(self.r, "adm", ADMIN)}

        def diffs():
            home = home_tree(run.home)
            out = {n: diff_trees(home, home_tree(trees[n]))
                   for n in ("r", "v", "sftp")}
            # s3 and exec keep files only (README).
            files = {k: v for k, v in home.items() if v is not None}
            head = "%s/%s/" % (S3_PREFIX, run.user)
            objects = {k[len(head):]: v
                       for k, v in self.s3.objects().items()
                       if k.startswith(head)}
            out["s3"] = diff_trees(files, objects)
            out["exec"] = diff_trees(files, {
                k: v for k, v in home_tree(trees["exec"]).items()
                if v is not None})
            # The admin's home holds every seed's user's home. The test
            # made those folders itself, before the start (another
            # program: not mirrored until a file lands in them, as the
            # README says), so the bare top folders are left out, and
            # so are the homes of the seeds still to run.
            later = {"w%03d" % j for j in range(k + 1, len(self.seeds))}

            def adm_view(tree):
                return {rel: v for rel, v in tree.items()
                        if rel.split("/")[0] not in later and
                        not (v is None and "/" not in rel and
                             rel.startswith("w"))}
            out["adm"] = diff_trees(adm_view(home_tree(self.srv)),
                                    adm_view(home_tree(trees["adm"])))
            return out
        ok, last, st = wait_converged(self.a, TARGETS, diffs,
                                      timeout=90)
        if not ok:
            keep = os.environ.get("RELAYFTPD_WIDE_LOG")
            if keep:
                with open(keep, "w") as f:
                    f.write(self.a.log_text())
            self.fail("seed %d did not converge (status %s):\n%s\n--- ops:"
                      "\n%s\n--- log tail:\n%s" % (
                          run.seed, st,
                          "\n".join("%s:\n%s" % (n, "\n".join(d[:40]))
                                    for n, d in last.items()),
                          "\n".join(run.log),
                          "\n".join(self.a.log_text().splitlines()[-80:])))
        for name, root in trees.items():
            self.assertEqual(temp_files(root), [],
                             "seed %d: %s" % (run.seed, name))
        self.assertEqual(self.s3.open_uploads(), {}, "seed %d" % run.seed)

    def test_random_sequences_converge(self):
        t0 = time.monotonic()
        for k, seed in enumerate(self.seeds):
            user = "w%03d" % k
            run = WideRun(self, seed, user, "pw-%03d" % k)
            t1 = time.monotonic()
            run.run(OPS)
            t2 = time.monotonic()
            self.converge(run, k)
            text = "\n".join(run.log)
            if os.environ.get("RELAYFTPD_WIDE_VERBOSE"):
                sys.stderr.write(text + "\n")
            sys.stderr.write(
                "seed %d: %d ops (%.1fs), %d entries, %d kills of A, "
                "%d start-up kills, %d kills of r, %d outages, "
                "%d reloads, %d disk-full, converged in %.1fs (%.1fs total)\n" % (
                    seed, OPS, t2 - t1, len(home_tree(run.home)),
                    text.count("kill -9]"), text.count("kill -9 after"),
                    text.count("r killed"), text.count(" down"),
                    text.count("SIGHUP"), text.count("disk full"),
                    time.monotonic() - t2,
                    time.monotonic() - t0))
        self.a.stop(check=True)
        for text in ("AddressSanitizer", "runtime error:", "LeakSanitizer"):
            self.assertNotIn(text, self.a.log_text())


class FolderRenameOntoTakenNameTest(unittest.TestCase):
    """What the random runs above found (a target disk full and kill -9
    of the source, an empty folder left on the target under a name the
    home had renamed away), made deterministic: a folder renamed where
    the target already holds a folder with files by the new name. RNTO
    is refused there ("Directory not empty"); the mirror pushes the new
    name instead and must remove the old folder, files and all, as the
    rename would have."""

    def test_old_folder_goes_from_the_target(self):
        tmp = tempfile.mkdtemp(prefix="rftp-wide-taken-")
        self.addCleanup(shutil.rmtree, tmp, True)
        r = relay_target()
        self.addCleanup(r.cleanup)
        a = MirrorServer(
            users={"u": {"password": "pw"}},
            mirror={"queue": os.path.join(tmp, "q.db"),
                    "retry_initial": "1", "retry_max": "1"},
            targets={"r": relay_target_spec(r, "/base", **BOTH)})
        self.addCleanup(a.cleanup)
        self.addCleanup(lambda: a.proc is not None and a.stop(check=True))
        there = relay_dir(r, "base", "u")
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", a.port, timeout=30)
        ftp.login("u", "pw")
        self.addCleanup(ftp.close)
        ftp.mkd("/d1")
        ftp.mkd("/d1/sub")
        ftp.storbinary("STOR /d1/f", io.BytesIO(b"f" * 10))
        ftp.storbinary("STOR /d1/sub/g", io.BytesIO(b"g" * 20))
        self.assertTrue(wait_for(lambda: home_tree(there) == home_tree(
            a.home("u")), timeout=60), home_tree(there))
        # The target holds d2 with a file of its own.
        os.makedirs(os.path.join(there, "d2"))
        with open(os.path.join(there, "d2", "theirs"), "wb") as f:
            f.write(b"t")
        ftp.rename("/d1", "/d2")

        def settled():
            got = home_tree(there)
            return "d2/f" in got and "d2/sub/g" in got and \
                not any(k == "d1" or k.startswith("d1/") for k in got)
        ok = wait_for(settled, timeout=60)
        self.assertTrue(ok, "target: %s\n%s" % (
            sorted(home_tree(there)), a.log_text()[-3000:]))
        got = home_tree(there)
        self.assertEqual(got["d2/f"], b"f" * 10)
        self.assertEqual(got["d2/sub/g"], b"g" * 20)

    def test_the_targets_own_files_in_the_old_folder_stay(self):
        """The same rename where the target also holds a file of its own in
        the old folder (not the mirror's: the target's, or a case twin's
        on a target that ignores case): the mirror's files go, that one
        stays with its folder, and the log says so."""
        tmp = tempfile.mkdtemp(prefix="rftp-wide-taken-")
        self.addCleanup(shutil.rmtree, tmp, True)
        r = relay_target()
        self.addCleanup(r.cleanup)
        a = MirrorServer(
            users={"u": {"password": "pw"}},
            mirror={"queue": os.path.join(tmp, "q.db"),
                    "retry_initial": "1", "retry_max": "1"},
            targets={"r": relay_target_spec(r, "/base", **BOTH)})
        self.addCleanup(a.cleanup)
        self.addCleanup(lambda: a.proc is not None and a.stop(check=True))
        there = relay_dir(r, "base", "u")
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", a.port, timeout=30)
        ftp.login("u", "pw")
        self.addCleanup(ftp.close)
        ftp.mkd("/d1")
        ftp.mkd("/d1/sub")
        ftp.storbinary("STOR /d1/f", io.BytesIO(b"f" * 10))
        ftp.storbinary("STOR /d1/sub/g", io.BytesIO(b"g" * 20))
        self.assertTrue(wait_for(lambda: home_tree(there) == home_tree(
            a.home("u")), timeout=60), home_tree(there))
        os.makedirs(os.path.join(there, "d2"))
        with open(os.path.join(there, "d2", "theirs"), "wb") as f:
            f.write(b"t")
        with open(os.path.join(there, "d1", "sub", "mine"), "wb") as f:
            f.write(b"the target's own")
        ftp.rename("/d1", "/d2")

        def settled():
            got = home_tree(there)
            return "d2/f" in got and "d2/sub/g" in got and \
                "d1/f" not in got and "d1/sub/g" not in got
        ok = wait_for(settled, timeout=60)
        self.assertTrue(ok, "target: %s\n%s" % (
            sorted(home_tree(there)), a.log_text()[-3000:]))
        got = home_tree(there)
        self.assertEqual(got.get("d1/sub/mine"), b"the target's own",
                         sorted(got))
        self.assertEqual(got["d2/f"], b"f" * 10)
        self.assertIn("warn mirror target=r path=/u/d1: the old folder "
                      "keeps files the mirror did not put there; remove "
                      "it there by hand", a.log_text())

    def test_old_folder_goes_when_the_new_name_became_a_file(self):
        """The same rename while the target is down, after which the home
        removes the new folder and stores a file by its name: when the
        target comes back, the rename is refused (its d2 holds a file of
        its own) and the old folder must still go from the target, whatever
        the new name is in the home now."""
        tmp = tempfile.mkdtemp(prefix="rftp-wide-taken-")
        self.addCleanup(shutil.rmtree, tmp, True)
        # Its own port, to start again on (an outage, not a move).
        r = relay_target(
            server={"listen": "127.0.0.1:%d" % free_port()}, start=False)
        r.start()
        self.addCleanup(r.cleanup)
        a = MirrorServer(
            users={"u": {"password": "pw"}},
            mirror={"queue": os.path.join(tmp, "q.db"),
                    "retry_initial": "1", "retry_max": "1"},
            targets={"r": relay_target_spec(r, "/base", **BOTH)})
        self.addCleanup(a.cleanup)
        self.addCleanup(lambda: a.proc is not None and a.stop(check=True))
        there = relay_dir(r, "base", "u")
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", a.port, timeout=30)
        ftp.login("u", "pw")
        self.addCleanup(ftp.close)
        ftp.mkd("/d1")
        ftp.mkd("/d1/sub")
        ftp.storbinary("STOR /d1/f", io.BytesIO(b"f" * 10))
        ftp.storbinary("STOR /d1/sub/g", io.BytesIO(b"g" * 20))
        self.assertTrue(wait_for(lambda: home_tree(there) == home_tree(
            a.home("u")), timeout=60), home_tree(there))
        os.makedirs(os.path.join(there, "d2"))
        with open(os.path.join(there, "d2", "theirs"), "wb") as f:
            f.write(b"t")
        r.kill()
        ftp.rename("/d1", "/d2")
        ftp.delete("/d2/sub/g")
        ftp.rmd("/d2/sub")
        ftp.delete("/d2/f")
        ftp.rmd("/d2")
        ftp.storbinary("STOR /d2", io.BytesIO(b"n" * 5))
        r.start()

        def old_gone():
            return not any(k == "d1" or k.startswith("d1/")
                           for k in home_tree(there))
        ok = wait_for(old_gone, timeout=60)
        self.assertTrue(ok, "target: %s\n%s" % (
            sorted(home_tree(there)), a.log_text()[-3000:]))
        # Theirs is untouched: the target's own d2 is not the home's.
        self.assertEqual(home_tree(there).get("d2/theirs"), b"t")


if __name__ == "__main__":
    unittest.main()
