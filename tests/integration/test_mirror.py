"""The mirror end to end: relayftpd pushes every completed upload on to
downstream FTP servers.

Targets are a pyftpdlib server in a child process (mirror_targets.
PyftpdTarget: no HASH, can be stopped/restarted on its port, throttled, or
made to truncate uploads) and a second relayftpd (user "mirror"; offers
HASH/XSHA256). Clients are the curl and lftp CLIs and ftplib. Each test
starts its own servers on ephemeral loopback ports.

Covered: delivery byte for byte under both layouts and never a partial file
under a final name; per-user routing (mirror = a, b / none / no key) and
include/exclude; a target outage (jobs wait, then all arrive); kill -9 of
relayftpd while pushes are in flight (jobs survive, in-flight pushes are
redone, no temp file is left); the job is durable before the client's 226;
size verification catching truncated uploads; parking after max_attempts
and `mirror retry`; several uploads of one path (the newest wins);
verify = hash against a target with XSHA256, with only XMD5 or only HASH,
with none (falls back to size), and catching same-size damage;
propagate_deletes / propagate_renames on and off; `mirror status`.

Every wait is a bounded poll, every subprocess has a timeout. A wait for
files fails early when the target's queue has been empty for LOST_AFTER
seconds (a lost job). RFTP_KEEP=DIR keeps each test's relayftpd folder
(config, log, queue) under DIR for a post-mortem.
"""
import calendar
import ftplib
import io
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import BINARY, client_env, wait_for  # noqa: E402
from mirror_targets import (  # noqa: E402
    MirrorServer, RELAY_USER, TargetsMixin, count_present, drained,
    free_port, in_flight, list_files, missing_files, no_temp_files, read,
    relay_dir, relay_target_spec, settle_running, wait_status, write)

CURL = "/usr/bin/curl"
LFTP = "/usr/bin/lftp"
KB = 1024
MB = 1024 * KB

# assertArrived: a target's queue empty this long with files missing = lost.
LOST_AFTER = 3

# Short backoff so an outage ends quickly in tests (integer seconds).
FAST_RETRY = {"retry_initial": "1", "retry_max": "2"}


def iso_seconds(text):
    """2026-12-01T13:00:00Z as seconds since the epoch (fails otherwise)."""
    return calendar.timegm(time.strptime(text or "", "%Y-%m-%dT%H:%M:%SZ"))


def has_error(target_status):
    """A last_error is shown (status prints "-" or "" when there is none)."""
    return target_status["last_error"] not in ("", "-")


def prefixed(prefix, files):
    """{rel: data} with every rel put under prefix (a relative folder)."""
    return {os.path.join(prefix, rel): data for rel, data in files.items()}


class MirrorTest(TargetsMixin, unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rftp-mirror-test-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.env = client_env(self.tmp)
        self.rng = random.Random(self.id())

    # -- servers, stopped in reverse order of creation

    def mirror_server(self, users=None, mirror=None, targets=None, **kw):
        users = users if users is not None else {
            "alice": {"password": "alice-pw"}}
        a = MirrorServer(users=users, mirror=mirror, targets=targets, **kw)
        self.addCleanup(a.cleanup)
        self.addCleanup(self._keep, a)
        # A clean SIGTERM exit is part of the contract: checked first.
        self.addCleanup(self._stop_checked, a)
        # Fail fast (not after minutes of waiting) if `mirror status` does
        # not work or does not list every configured target.
        st = a.status()
        self.assertEqual(sorted(st), sorted(a.targets), st)
        return a

    def _keep(self, srv):
        """With $RFTP_KEEP=DIR, the server's folder (config, log, queue)
        is copied to DIR/<test id> for a post-mortem."""
        keep = os.environ.get("RFTP_KEEP")
        if keep:
            dest = os.path.join(keep, self.id().split(".", 1)[-1])
            n = 0
            while os.path.exists(dest + (".%d" % n if n else "")):
                n += 1
            shutil.copytree(srv.tmp, dest + (".%d" % n if n else ""),
                            symlinks=True, ignore_dangling_symlinks=True,
                            dirs_exist_ok=True)

    def _stop_checked(self, srv):
        if srv.proc is not None:
            srv.stop(check=True)

    # -- data

    def rand(self, n):
        return self.rng.randbytes(n)

    def local(self, *parts):
        return os.path.join(self.tmp, *parts)

    def make_tree(self, folder, files):
        for rel, data in files.items():
            write(os.path.join(folder, rel), data)

    # -- clients

    def curl(self, *args, ok=True, timeout=90):
        cmd = [CURL, "-sS", "--max-time", str(timeout - 10)] + list(args)
        r = subprocess.run(cmd, capture_output=True, timeout=timeout,
                           env=self.env, stdin=subprocess.DEVNULL)
        if ok:
            self.assertEqual(r.returncode, 0, "%s failed: %s" %
                             (cmd, r.stderr.decode(errors="replace")))
        return r

    def lftp(self, srv, script, user="alice", password="alice-pw",
             timeout=120):
        prelude = ("set cmd:fail-exit yes; set ftp:ssl-allow no; "
                   "set net:max-retries 1; set net:timeout 10; "
                   "set net:reconnect-interval-base 1; "
                   "set ftp:passive-mode on; set xfer:clobber on; "
                   "open -u %s,%s ftp://127.0.0.1:%d; " %
                   (user, password, srv.port))
        r = subprocess.run([LFTP, "-c", prelude + script],
                           capture_output=True, timeout=timeout,
                           env=self.env, stdin=subprocess.DEVNULL)
        self.assertEqual(
            r.returncode, 0, "lftp %r failed:\n%s\n%s\n%s" %
            (script, r.stdout.decode(errors="replace"),
             r.stderr.decode(errors="replace"), srv.log_text()[-3000:]))
        return r

    def ftp_upload(self, srv, files, user="alice", password=None):
        """Uploads {rel: data} with ftplib over one session (MKD as
        needed); each storbinary returns after the server's 226."""
        if password is None:
            password = srv.users[user]["password"]
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", srv.port, timeout=30)
        ftp.login(user, password)
        made = set()
        for rel, data in files.items():
            parts = rel.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/" + "/".join(parts[:i])
                if d not in made:
                    try:
                        ftp.mkd(d)
                    except ftplib.error_perm:
                        pass
                    made.add(d)
            ftp.storbinary("STOR /" + rel, io.BytesIO(data))
        ftp.quit()

    # -- assertions

    def assertArrived(self, root, files, srv, target, timeout=60,
                      what=""):
        """Waits (bounded) until files ({rel: bytes}) are under root byte
        for byte. Fails early, as a lost job, when target's queue stays
        empty (queued=0 running=0) for LOST_AFTER seconds while files are
        still missing: nothing is left that could bring them."""
        deadline = time.monotonic() + timeout
        drained_since = None
        lost = False
        next_status = 0
        bad = missing_files(root, files)
        while bad and time.monotonic() < deadline:
            now = time.monotonic()
            if now >= next_status:
                next_status = now + 0.5
                st = srv.status().get(target)
                if st is not None and st["queued"] == 0 and \
                        st["running"] == 0:
                    drained_since = drained_since or now
                    if now - drained_since >= LOST_AFTER:
                        lost = True
                        break
                else:
                    drained_since = None
            time.sleep(0.1)
            bad = missing_files(root, files)
        if not bad:
            settle_running(srv, (target,))
            return
        if bad:
            shown = dict(list(sorted(bad.items()))[:10])
            try:
                status = srv.status_raw()
                status = status.stdout + status.stderr
            except Exception as e:  # noqa: BLE001 - diagnostics only
                status = repr(e)
            if lost:
                why = ("although %s has had nothing queued or running for "
                       "%ds (jobs lost or parked)" % (target, LOST_AFTER))
            else:
                why = "after %ds" % timeout
            self.fail("%s: %d of %d files not at %s %s: %s\n"
                      "mirror status:\n%s\nserver log (tail):\n%s" %
                      (what or "target " + target, len(bad), len(files),
                       root, why, shown, status, srv.log_text()[-4000:]))

    def assertNoTemp(self, root, timeout=10):
        left = no_temp_files(root, timeout=timeout)
        self.assertEqual(left, [], "mirror temp files left at %s" % root)

    def assertDrained(self, srv, *names, timeout=60):
        st = wait_status(srv, drained(*names), timeout=timeout)
        self.assertTrue(drained(*names)(st),
                        "queue not drained: %s\n%s" %
                        (st, srv.log_text()[-3000:]))
        return st

    def push_lines(self, srv, target=None, path=None):
        return [p for p in srv.pushes()
                if (target is None or p["target"] == target) and
                (path is None or p["path"] == path)]


# ------------------------------------------------------------------ tests

class BasicTest(MirrorTest):

    def test_basic_two_targets(self):
        p = self.pyftpd()
        b = self.relay()
        a = self.mirror_server(
            mirror=FAST_RETRY,
            targets={"p": p.target("/base"),
                     "r": relay_target_spec(b, "/base")})
        # The extended config validates.
        r = subprocess.run([BINARY, "check", "--config", a.config_path],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

        big = self.rand(3 * MB)
        nested = self.rand(54321)
        write(self.local("big.bin"), big)
        write(self.local("nested.txt"), nested)
        files = {"big.bin": big, "sub/deeper/nested.txt": nested}
        p_root = p.dir("base", "alice")
        r_root = relay_dir(b, "base", "alice")

        # Watch the final names while the pushes happen: whenever one
        # exists it must hold the whole file.
        stop = threading.Event()
        seen, torn = [], []

        def watch():
            while not stop.is_set():
                for root in (p_root, r_root):
                    for rel, data in files.items():
                        path = os.path.join(root, rel)
                        try:
                            got = read(path)
                        except OSError:
                            continue
                        seen.append(path)
                        if got != data:
                            torn.append((path, len(got), len(data)))
                time.sleep(0.01)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            self.curl("-T", self.local("big.bin"), a.url(path="/big.bin"))
            self.curl("--ftp-create-dirs", "-T", self.local("nested.txt"),
                      a.url(path="/sub/deeper/nested.txt"))
            self.assertArrived(p_root, files, a, "p", what="pyftpdlib target")
            self.assertArrived(r_root, files, a, "r", what="relayftpd target")
        finally:
            stop.set()
            watcher.join(10)
        self.assertEqual(torn, [], "a final name held a partial file")
        self.assertTrue(seen)
        self.assertNoTemp(p.root)
        self.assertNoTemp(b.home(RELAY_USER))

        # One log line per push, with the contract's fields.
        lines = self.push_lines(a, "p", "/alice/big.bin")
        self.assertTrue(lines, "no 'mirror push' line for p:\n" +
                        a.log_text()[-3000:])
        self.assertEqual(lines[-1]["bytes"], len(big), lines[-1]["line"])
        self.assertEqual(lines[-1]["verify"], "size", lines[-1]["line"])
        self.assertIsNotNone(lines[-1]["attempts"], lines[-1]["line"])
        self.assertGreaterEqual(lines[-1]["attempts"], 1)
        lines = self.push_lines(a, "r", "/alice/sub/deeper/nested.txt")
        self.assertTrue(lines, a.log_text()[-3000:])
        self.assertEqual(lines[-1]["bytes"], len(nested))

        # lftp mirror -R: 10 files over 2 levels of folders.
        tree = {}
        for i in range(4):
            tree["f%d.dat" % i] = self.rand(self.rng.randrange(0, 70000))
        for i in range(3):
            tree["s1/g%d.dat" % i] = self.rand(self.rng.randrange(1, 70000))
            tree["s2/s3/h%d.dat" % i] = self.rand(
                self.rng.randrange(1, 70000))
        self.assertEqual(len(tree), 10)
        self.make_tree(self.local("tree"), tree)
        self.lftp(a, "mirror -R %s /tree" % self.local("tree"))
        want = prefixed("tree", tree)
        self.assertArrived(p_root, want, a, "p",
                           what="pyftpdlib target (lftp)")
        self.assertArrived(r_root, want, a, "r",
                           what="relayftpd target (lftp)")

        st = self.assertDrained(a, "p", "r")
        total = len(big) + len(nested) + sum(map(len, tree.values()))
        for name in ("p", "r"):
            self.assertEqual(st[name]["state"], "up", st)
            self.assertEqual(st[name]["failed"], 0, st)
            self.assertGreaterEqual(st[name]["pushed_files"], 12, st)
            self.assertGreaterEqual(st[name]["pushed_bytes"], total, st)
        self.assertNoTemp(p.root)
        self.assertNoTemp(b.home(RELAY_USER))


class RoutingTest(MirrorTest):

    def test_per_user_targets_and_flat_layout(self):
        p = self.pyftpd()
        b = self.relay()
        pwfile = self.local("p.password")
        write(pwfile, (p.password + "\n").encode())
        users = {
            "bob": {"password": "bob-pw", "mirror": "p"},
            "carol": {"password": "carol-pw", "mirror": "none"},
            "dave": {"password": "dave-pw"},
        }
        a = self.mirror_server(
            users=users, mirror=FAST_RETRY,
            targets={
                "p": p.target("/base"),
                # Same pyftpdlib server, flat layout, password from a file.
                "f": {"url": p.url("/flat"), "user": p.user,
                      "password_file": pwfile, "layout": "flat"},
                "r": relay_target_spec(b, "/base"),
            })
        carol = {"carol-only.txt": self.rand(1000)}
        bob = {"bob-only.txt": self.rand(2000),
               "bdir/bob2.txt": self.rand(3000)}
        dave = {"dave.txt": self.rand(4000),
                "ddir/dave2.txt": self.rand(5000)}
        self.ftp_upload(a, carol, user="carol")
        self.ftp_upload(a, bob, user="bob")
        self.ftp_upload(a, dave, user="dave")

        self.assertArrived(p.dir("base", "bob"), bob, a, "p", what="bob at p")
        self.assertArrived(p.dir("base", "dave"), dave, a, "p",
                           what="dave at p")
        self.assertArrived(relay_dir(b, "base", "dave"), dave, a, "r",
                           what="dave at r")
        self.assertArrived(p.dir("flat"), dave, a, "f",
                           what="dave at f (flat)")
        st = self.assertDrained(a)
        self.assertEqual(sorted(st), ["f", "p", "r"], st)

        # bob: only p. carol: nowhere. flat: no user folder.
        self.assertEqual(list_files(p.dir("flat")), sorted(dave),
                         "flat target holds more than dave's files")
        self.assertEqual(
            list_files(relay_dir(b, "base")),
            sorted(os.path.join("dave", rel) for rel in dave))
        self.assertEqual(
            list_files(p.dir("base")),
            sorted([os.path.join("bob", rel) for rel in bob] +
                   [os.path.join("dave", rel) for rel in dave]))
        self.assertEqual(self.push_lines(a, path="/carol/carol-only.txt"),
                         [])
        for line in self.push_lines(a):
            self.assertFalse(line["path"].startswith("/carol/"), line)
        self.assertEqual(
            sorted(x["target"] for x in self.push_lines(
                a, path="/bob/bob-only.txt")), ["p"])
        self.assertEqual(
            sorted(x["target"] for x in self.push_lines(
                a, path="/dave/dave.txt")), ["f", "p", "r"])
        self.assertNoTemp(p.root)

    def test_include_exclude(self):
        p = self.pyftpd()
        a = self.mirror_server(
            mirror=FAST_RETRY,
            targets={
                "ex": p.target("/ex", exclude="/*.tmp, /skip/*"),
                "in": p.target("/in", include="/keep/*"),
            })
        files = {"a.txt": self.rand(100), "x.tmp": self.rand(200),
                 "skip/s.txt": self.rand(300), "keep/k.txt": self.rand(400)}
        self.ftp_upload(a, files)
        self.assertArrived(p.dir("ex", "alice"),
                           {"a.txt": files["a.txt"],
                            "keep/k.txt": files["keep/k.txt"]}, a, "ex")
        self.assertArrived(p.dir("in", "alice"),
                           {"keep/k.txt": files["keep/k.txt"]}, a, "in")
        self.assertDrained(a)
        self.assertEqual(list_files(p.dir("ex", "alice")),
                         ["a.txt", "keep/k.txt"])
        self.assertEqual(list_files(p.dir("in", "alice")), ["keep/k.txt"])


    def test_names_cannot_forge_log_fields(self):
        # A name is the client's choice: written as it was, it forged the
        # fields after path= ("report.pdf bytes=1 ... verify=hash") and a
        # trailing blank was lost (found by an outside battery). Such a
        # path is now one quoted field.
        p = self.pyftpd()
        a = self.mirror_server(mirror=FAST_RETRY,
                               targets={"p": p.target("/base")})
        forged = "report.pdf bytes=1 duration=0.001s attempts=1 verify=hash"
        files = {forged: self.rand(5000), "trail ": self.rand(10),
                 "trail": self.rand(20), 'q"uote\\d': self.rand(30)}
        self.ftp_upload(a, files)
        self.assertArrived(p.dir("base", "alice"), files, a, "p")
        self.assertDrained(a)
        got = {x["path"]: x["bytes"] for x in self.push_lines(a, "p")}
        self.assertEqual(got, {"/alice/" + k: len(v)
                               for k, v in files.items()})
        self.assertIn('path="/alice/report.pdf bytes=1 duration=0.001s '
                      'attempts=1 verify=hash" bytes=5000 ', a.log_text())


class OutageTest(MirrorTest):

    def test_target_down_then_back(self):
        p = self.pyftpd()
        b = self.relay()
        a = self.mirror_server(
            mirror=FAST_RETRY,
            targets={"p": p.target("/base"),
                     "r": relay_target_spec(b, "/base")})
        port = p.port
        p.stop()
        files = {"f%03d.txt" % i: self.rand(self.rng.randrange(1, 3000))
                 for i in range(200)}
        self.make_tree(self.local("out"), files)
        self.lftp(a, "mirror -R %s /out" % self.local("out"), timeout=180)
        want = prefixed("out", files)

        # r is not held up by p.
        self.assertArrived(relay_dir(b, "base", "alice"), want, a, "r",
                           timeout=90, what="relayftpd target")
        st = a.status()
        self.assertIn("p", st)
        self.assertGreater(st["p"]["queued"], 0, st)
        self.assertTrue(has_error(st["p"]), st)
        self.assertIn(st["p"]["state"], ("backoff", "failing"), st)
        # The error is current and says when it happened.
        self.assertEqual(st["p"]["extra"].get("error"), "current", st)
        failed_at = iso_seconds(st["p"]["extra"].get("last_error_at"))
        self.assertLessEqual(abs(failed_at - time.time()), 300, st)
        self.assertEqual(list_files(p.root), [])

        p.start(port=port)
        self.assertEqual(p.port, port)
        self.assertArrived(p.dir("base", "alice"), want, a, "p", timeout=120,
                           what="pyftpdlib target after the outage")
        self.assertNoTemp(p.root)
        self.assertNoTemp(b.home(RELAY_USER))
        st = self.assertDrained(a, "p", "r")
        st = wait_status(a, lambda s: s["p"]["state"] == "up", timeout=30)
        self.assertEqual(st["p"]["state"], "up", st)
        self.assertEqual(st["p"]["failed"], 0, st)
        self.assertGreaterEqual(st["p"]["pushed_files"], 200, st)
        # Recovered: the last error stays on show with its time, marked
        # past, and a push succeeded after it; r never failed.
        self.assertTrue(has_error(st["p"]), st)
        self.assertEqual(st["p"]["extra"].get("error"), "past", st)
        # (later attempts during the outage moved last_error_at on)
        last_error_at = iso_seconds(st["p"]["extra"]["last_error_at"])
        self.assertGreaterEqual(last_error_at, failed_at, st)
        self.assertGreaterEqual(
            iso_seconds(st["p"]["extra"].get("last_ok_at")), last_error_at,
            st)
        self.assertEqual(st["r"]["extra"].get("error"), "none", st)
        self.assertEqual(st["r"]["extra"].get("last_error_at"), "-", st)
        # The same after a restart of the daemon (the facts are queued).
        a.stop()
        a.start()
        again = a.status()
        self.assertEqual(again["p"]["extra"].get("error"), "past", again)
        self.assertEqual(again["p"]["extra"].get("last_error_at"),
                         st["p"]["extra"]["last_error_at"], again)


class CrashTest(MirrorTest):

    def test_job_durable_before_226(self):
        p = self.pyftpd()
        a = self.mirror_server(mirror=FAST_RETRY,
                               targets={"p": p.target("/base")})
        port = p.port
        p.stop()
        data = self.rand(123456)
        self.ftp_upload(a, {"d/durable.bin": data})
        # The job is in the queue as soon as the client has its 226 (p is
        # down, so it cannot have been pushed and dropped yet): the
        # folder "d" (MKD is mirrored) and the file.
        st = a.status()
        self.assertEqual(st["p"]["queued"] + st["p"]["running"], 2, st)
        a.kill9()  # right after the 226
        p.start(port=port)
        a.start()
        self.assertArrived(p.dir("base", "alice"), {"d/durable.bin": data},
                           a, "p")
        self.assertNoTemp(p.root)

    def test_kill9_during_pushes(self):
        # ~0.6 MB/s per push, 2 pushes at a time: 10 MB take ~8 s.
        p = self.pyftpd(read_limit=600 * KB)
        a = self.mirror_server(
            mirror=dict(FAST_RETRY, queue="queue.db",
                        workers_per_target="2"),
            targets={"p": p.target("/base")})
        files = {"c/f%02d.bin" % i: self.rand(200 * KB) for i in range(50)}
        self.ftp_upload(a, files)
        self.assertTrue(os.path.exists(os.path.join(a.tmp, "queue.db")),
                        "queue = queue.db is not beside the config: %s" %
                        os.listdir(a.tmp))
        root = p.dir("base", "alice")
        kills = []
        for threshold in (0, 15, 30):
            # Kill while a push is in flight (a temp file exists at p) once
            # at least `threshold` files have arrived.
            busy = wait_for(lambda: count_present(root, files) >= threshold
                            and in_flight(p.root), timeout=40, interval=0)
            kills.append((count_present(root, files), len(busy or [])))
            a.kill9()
            a.start()
        self.assertArrived(root, files, a, "p", timeout=120,
                           what="after 3 x kill -9 (kills at %s)" % kills)
        self.assertNoTemp(p.root)
        self.assertEqual(list_files(p.root),
                         sorted(os.path.join("base", "alice", rel)
                                for rel in files))
        st = self.assertDrained(a, "p")
        self.assertEqual(st["p"]["failed"], 0, st)
        # At least one kill hit a push in flight (else the test proved less
        # than it claims).
        self.assertTrue(any(n for _, n in kills), kills)


class VerifyTest(MirrorTest):

    def test_size_verification_retries_truncated_uploads(self):
        p = self.pyftpd(faulty=3)
        a = self.mirror_server(mirror=FAST_RETRY,
                               targets={"p": p.target("/base")})
        files = {"v1.bin": self.rand(10000), "v2.bin": self.rand(20000),
                 "v3.bin": self.rand(30000)}
        self.ftp_upload(a, files)
        self.assertArrived(p.dir("base", "alice"), files, a, "p")
        self.assertEqual(len(p.faults()), 3, p.faults())
        self.assertNoTemp(p.root)
        log = a.log_text()
        self.assertRegex(
            log, r"(?i)verif\w*\W.*(fail|mismatch)|(fail|mismatch)\w*\W.*"
            r"verif", "no verification failure in the log:\n" + log[-3000:])
        lines = self.push_lines(a, "p")
        self.assertEqual(sorted(x["path"] for x in lines),
                         ["/alice/v1.bin", "/alice/v2.bin", "/alice/v3.bin"])
        self.assertGreaterEqual(sum(x["attempts"] or 0 for x in lines), 6,
                                [x["line"] for x in lines])
        st = self.assertDrained(a, "p")
        self.assertEqual(st["p"]["failed"], 0, st)


class ParkingTest(MirrorTest):

    def test_max_attempts_parks_and_retry_requeues(self):
        port = free_port()
        a = self.mirror_server(
            mirror={"retry_initial": "1", "retry_max": "1",
                    "max_attempts": "2"},
            targets={"p": {"url": "ftp://127.0.0.1:%d/base" % port,
                           "user": "puser", "password": "ppass"}})
        files = {"k1.bin": self.rand(1111), "k2.bin": self.rand(2222)}
        self.ftp_upload(a, files)
        st = wait_status(a, lambda s: s["p"]["failed"] == 2, timeout=30)
        self.assertEqual(st["p"]["failed"], 2, st)
        self.assertEqual(st["p"]["queued"], 0, st)
        self.assertTrue(has_error(st["p"]), st)

        # The target comes back: new uploads go through, parked jobs stay
        # parked until `mirror retry`.
        p = self.pyftpd(port=port)
        extra = {"k3.bin": self.rand(3333)}
        self.ftp_upload(a, extra)
        self.assertArrived(p.dir("base", "alice"), extra, a, "p", timeout=30)
        self.assertEqual(list_files(p.dir("base", "alice")), ["k3.bin"])
        st = a.status()
        self.assertEqual(st["p"]["failed"], 2, st)

        r = a.retry("p")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(re.findall(r"\d+", r.stdout), ["2"], r.stdout)
        self.assertArrived(p.dir("base", "alice"), files, a, "p", timeout=30)
        st = self.assertDrained(a, "p")
        self.assertEqual(st["p"]["failed"], 0, st)
        r = a.retry()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(re.findall(r"\d+", r.stdout), ["0"], r.stdout)
        self.assertNoTemp(p.root)


class CoalesceTest(MirrorTest):

    def upload_versions(self, a, rel, versions):
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", a.port, timeout=30)
        ftp.login("alice", "alice-pw")
        for data in versions:
            ftp.storbinary("STOR /" + rel, io.BytesIO(data))
        ftp.quit()

    def test_newest_content_wins(self):
        p = self.pyftpd()
        b = self.relay()
        a = self.mirror_server(
            mirror=FAST_RETRY,
            targets={"p": p.target("/base"),
                     "r": relay_target_spec(b, "/base")})
        # Target up: five quick uploads of one path.
        versions = [self.rand(200 * KB + i) for i in range(5)]
        self.upload_versions(a, "same.bin", versions)
        want = {"same.bin": versions[-1]}
        self.assertArrived(p.dir("base", "alice"), want, a, "p")
        self.assertArrived(relay_dir(b, "base", "alice"), want, a, "r")
        self.assertDrained(a)
        self.assertEqual(read(p.dir("base", "alice", "same.bin")),
                         versions[-1])
        self.assertEqual(read(relay_dir(b, "base", "alice", "same.bin")),
                         versions[-1])

        # Target down: all five are queued before any can run.
        port = p.port
        p.stop()
        versions = [self.rand(100 * KB - i) for i in range(5)]
        self.upload_versions(a, "queued.bin", versions)
        want = {"queued.bin": versions[-1]}
        self.assertArrived(relay_dir(b, "base", "alice"), want, a, "r")
        p.start(port=port)
        self.assertArrived(p.dir("base", "alice"), want, a, "p")
        self.assertDrained(a)
        self.assertEqual(read(p.dir("base", "alice", "queued.bin")),
                         versions[-1])
        self.assertNoTemp(p.root)
        n = len(self.push_lines(a, "p", "/alice/queued.bin"))
        sys.stderr.write("\n[coalesce] pushes of /alice/queued.bin to p: "
                         "%d (5 uploads while p was down)\n" % n)


class HashTest(MirrorTest):

    def test_verify_hash(self):
        p = self.pyftpd()
        b = self.relay()
        a = self.mirror_server(
            mirror=FAST_RETRY,
            targets={"p": p.target("/base", verify="hash"),
                     "r": relay_target_spec(b, "/base", verify="hash")})
        data = self.rand(777777)
        self.ftp_upload(a, {"h.bin": data})
        self.assertArrived(relay_dir(b, "base", "alice"), {"h.bin": data},
                           a, "r")
        self.assertArrived(p.dir("base", "alice"), {"h.bin": data}, a, "p")
        self.assertDrained(a)
        r = self.push_lines(a, "r", "/alice/h.bin")
        self.assertTrue(r, a.log_text()[-3000:])
        self.assertEqual(r[-1]["verify"], "hash", r[-1]["line"])
        self.assertEqual(r[-1]["bytes"], len(data), r[-1]["line"])
        pl = self.push_lines(a, "p", "/alice/h.bin")
        self.assertTrue(pl, a.log_text()[-3000:])
        self.assertEqual(pl[-1]["verify"], "size", pl[-1]["line"])
        fallback = [line for line in a.log_text().splitlines()
                    if re.search(r"(?i)\b(fall|falls|falling|fell)[ -]?"
                                 r"back", line) and
                    re.search(r"(?i)hash|sha|md5", line)]
        self.assertTrue(fallback, "no hash->size fallback logged:\n" +
                        a.log_text()[-3000:])
        self.assertNoTemp(p.root)
        self.assertNoTemp(b.home(RELAY_USER))

    def test_verify_hash_catches_same_size_damage(self):
        # A target with XSHA256 whose first 2 uploads get their last byte
        # inverted: sizes match, only the digest sees it.
        p = self.pyftpd(hashes=["XSHA256"], faulty=2, fault="flip")
        a = self.mirror_server(
            mirror=FAST_RETRY,
            targets={"p": p.target("/base", verify="hash")})
        files = {"x1.bin": self.rand(40000), "x2.bin": self.rand(50000)}
        self.ftp_upload(a, files)
        self.assertArrived(p.dir("base", "alice"), files, a, "p")
        self.assertEqual(len(p.faults()), 2, p.faults())
        self.assertNoTemp(p.root)
        lines = self.push_lines(a, "p")
        self.assertEqual(sorted(x["path"] for x in lines),
                         ["/alice/x1.bin", "/alice/x2.bin"])
        for x in lines:
            self.assertEqual(x["verify"], "hash", x["line"])
        self.assertEqual(sum(x["attempts"] or 0 for x in lines), 4,
                         [x["line"] for x in lines])
        self.assertDrained(a, "p")

    def test_verify_hash_with_xmd5_or_hash_only(self):
        # The contract: verify = hash uses HASH, XSHA256 or XMD5, whichever
        # the target offers.
        m = self.pyftpd(hashes=["XMD5"])
        h = self.pyftpd(hashes=["HASH"])
        a = self.mirror_server(
            mirror=FAST_RETRY,
            targets={"m": m.target("/base", verify="hash"),
                     "h": h.target("/base", verify="hash")})
        data = self.rand(65432)
        self.ftp_upload(a, {"d.bin": data})
        self.assertArrived(m.dir("base", "alice"), {"d.bin": data}, a, "m")
        self.assertArrived(h.dir("base", "alice"), {"d.bin": data}, a, "h")
        self.assertDrained(a)
        for name, cmd in (("m", "XMD5"), ("h", "HASH")):
            with self.subTest(target=name, offers=cmd):
                lines = self.push_lines(a, name, "/alice/d.bin")
                self.assertTrue(lines, a.log_text()[-3000:])
                self.assertEqual(lines[-1]["verify"], "hash",
                                 "target offering only %s: %s" %
                                 (cmd, lines[-1]["line"]))


class PropagateTest(MirrorTest):

    def test_deletes_and_renames(self):
        p = self.pyftpd()
        a = self.mirror_server(
            mirror=FAST_RETRY,
            targets={"on": p.target("/on", propagate_deletes="on",
                                    propagate_renames="on"),
                     "off": p.target("/off")})
        files = {"gone.txt": self.rand(1000), "old.txt": self.rand(2000)}
        self.ftp_upload(a, files)
        self.assertArrived(p.dir("on", "alice"), files, a, "on")
        self.assertArrived(p.dir("off", "alice"), files, a, "off")
        self.assertDrained(a)
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", a.port, timeout=30)
        ftp.login("alice", "alice-pw")
        ftp.delete("gone.txt")
        ftp.rename("old.txt", "new.txt")
        ftp.quit()
        on = p.dir("on", "alice")
        ok = wait_for(lambda: list_files(on) == ["new.txt"], timeout=30,
                      interval=0.1)
        self.assertTrue(ok, "with propagation on: %s\n%s" %
                        (list_files(on), a.log_text()[-3000:]))
        self.assertEqual(read(os.path.join(on, "new.txt")), files["old.txt"])
        self.assertDrained(a)
        # Off by default: nothing is deleted or renamed away at "off".
        off = list_files(p.dir("off", "alice"))
        self.assertIn("gone.txt", off)
        self.assertIn("old.txt", off)
        self.assertNoTemp(p.root)


if __name__ == "__main__":
    unittest.main()
