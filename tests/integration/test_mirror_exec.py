"""exec: targets: a local command per event (src/mirror/transport_exec.c).

The command under test is a Python script (RUNNER) that records each run
as a JSON line before it does what its mode says: the exact argv and
environment as the kernel handed them over (/proc/self/cmdline and
/proc/self/environ, which Python's own locale set-up cannot touch), its
open descriptors, process group, session, uid and folder. The tests
assert what an admin relies on:

  - argv and env values arrive exactly, one entry each, for names with
    " \\ % _ * $ ; blanks, a leading '-' and UTF-8; the environment holds
    PATH and the RELAYFTPD_* variables and nothing else; stdin is
    /dev/null, no other descriptor is open, the run leads a session and
    a process group of its own; delete and rename are runs with
    RELAYFTPD_EVENT set, mkdir is delivered without a run;
  - a command that fails twice is retried with backoff (mirror status
    shows its error while the job waits, the log says "will retry") and
    delivered on the third run, with one RELAYFTPD_EVENT_ID for all three;
  - a command that hangs is killed at its timeout with its whole process
    group, including a grandchild that ignores SIGTERM; nothing of it is
    left, no zombie child of relayftpd either, and the retry delivers;
  - a command that prints 64 MiB is drained (it finishes), delivered, its
    log is bounded (4 KiB kept, the rest counted) and the daemon's peak
    memory grows by far less than the output;
  - a program missing for a while (an outage) is retried until it is
    back, then run;
  - kill -9 of relayftpd while a command runs: after the restart every
    event is run again and delivered (at-least-once), nothing is lost;
  - with run_as, the command runs as that user;
  - `relayftpd check` names file, line and key for a relative or missing
    program, a bad args list, a key of another kind and args on ftp://.

Every wait is bounded (wait_for / wait_status). Run time about 25 s.
"""
import ftplib
import io
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (BINARY, peak_rss_kib, run_threads,  # noqa: E402
                     wait_for)
from mirror_targets import (MirrorServer, drained, reached,  # noqa: E402
                            wait_status)

RUNNER = textwrap.dedent('''\
    #!/usr/bin/python3
    # A command for exec: targets. argv: RECDIR MODE [what args gives].
    import json, os, subprocess, sys, time

    recdir, mode = sys.argv[1], sys.argv[2]
    runs = os.path.join(recdir, "runs.jsonl")

    def split0(data):
        return [x.decode("utf-8", "surrogateescape")
                for x in data.split(b"\\0")[:-1]]

    with open("/proc/self/cmdline", "rb") as f:
        cmdline = split0(f.read())
    with open("/proc/self/environ", "rb") as f:
        environ = split0(f.read())
    fds = {}
    for name in os.listdir("/proc/self/fd"):
        try:  # the listing's own descriptor is closed by now: skipped
            fds[name] = os.readlink("/proc/self/fd/" + name)
        except OSError:
            pass
    env = dict(e.split("=", 1) for e in environ)
    if "3" in fds:
        fds["3.head"] = os.pread(3, 64, 0).hex()
    try:
        with open(runs) as f:
            before = [json.loads(x) for x in f if x.strip()]
    except FileNotFoundError:
        before = []
    nth = 1 + sum(1 for r in before
                  if r["env"].get("RELAYFTPD_EVENT_ID") ==
                  env.get("RELAYFTPD_EVENT_ID"))
    rec = {"argv": cmdline[2:], "env": env, "environ": environ,
           "fds": fds, "uid": os.getuid(), "gid": os.getgid(),
           "pid": os.getpid(), "pgid": os.getpgid(0), "sid": os.getsid(0),
           "cwd": os.getcwd(), "nth": nth, "mode": mode}
    hang = (mode == "hang" and nth == 1) or \\
        (mode == "hang-once" and not os.path.exists(
            os.path.join(recdir, "hung")))
    if hang:
        import signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        # A grandchild that ignores SIGTERM too: a kill of the command
        # alone, or a SIGTERM alone, would leave it running.
        g = subprocess.Popen(["/bin/sh", "-c", "trap '' TERM; exec sleep 300"],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        rec["grandchild"] = g.pid
        open(os.path.join(recdir, "hung"), "w").close()
    line = (json.dumps(rec) + "\\n").encode()
    fd = os.open(runs, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    os.write(fd, line)
    os.close(fd)
    if hang:
        time.sleep(300)
        sys.exit(0)
    if mode == "wait-go" and nth == 1 and env["RELAYFTPD_EVENT"] == "put":
        # Holds the first put until the test says go (bounded).
        deadline = time.monotonic() + 30
        while not os.path.exists(os.path.join(recdir, "go")) and \
                time.monotonic() < deadline:
            time.sleep(0.05)
    if mode == "fail2" and nth <= 2:
        sys.stderr.write("boom %d\\n" % nth)
        sys.exit(3)
    if mode == "fail2-bytes" and nth <= 2:
        # Latin-1, and a 4-byte character across the 120 bytes kept.
        sys.stderr.buffer.write(b"bad:lat\\xe9n " + b"x" * 108 +
                                "\\U0001f600".encode() + b"\\n")
        sys.exit(3)
    if mode == "flood":
        chunk = b"0123456789abcdef" * 65536  # 1 MiB
        for _ in range(64):
            os.write(1, chunk)
    print("done %s" % env.get("RELAYFTPD_PATH"))
''')

FLOOD_BYTES = 64 * 1024 * 1024
WEIRD = '-x "q" \\b %p_*$;y z \u00fc.txt'


def read_runs(recdir):
    try:
        with open(os.path.join(recdir, "runs.jsonl")) as f:
            return [json.loads(x) for x in f if x.strip()]
    except FileNotFoundError:
        return []


def proc_state(pid):
    """The state letter of pid ('Z' zombie), None if it does not exist."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def alive(pid):
    return proc_state(pid) not in (None, "Z")


def group_members(pgid):
    """Live processes in process group pgid."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(name))
    return out


def children_of(ppid):
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == ppid:
            out.append((int(name), fields[0]))
    return out


class ExecTargetTest(unittest.TestCase):

    def make(self, mode, server=None, mirror=None, args="", **target):
        """A MirrorServer (not started) with target "cmd" running RUNNER
        in mode; its records go to self.recdir."""
        mopts = {"retry_initial": "1", "retry_max": "2"}
        mopts.update(mirror or {})
        srv = MirrorServer(server=server, mirror=mopts, start=False)
        self.addCleanup(srv.cleanup)
        os.chmod(srv.tmp, 0o711)
        bindir = os.path.join(srv.tmp, "bin")
        os.mkdir(bindir)
        os.chmod(bindir, 0o755)
        self.recdir = os.path.join(srv.tmp, "rec")
        os.mkdir(self.recdir)
        os.chmod(self.recdir, 0o777)
        self.addCleanup(self.kill_leftovers)
        prog = os.path.join(bindir, "on-event")
        with open(prog, "w") as f:
            f.write(RUNNER)
        os.chmod(prog, 0o755)
        self.prog = prog
        spec = {"url": "exec:" + prog,
                "args": ("%s %s %s" % (self.recdir, mode, args)).strip()}
        spec.update(target)
        srv.targets = {"cmd": spec}
        os.makedirs(srv.home("alice"), exist_ok=True)
        srv.write_config()
        return srv

    def kill_leftovers(self):
        """Runs that a kill -9 of relayftpd orphaned (they sleep)."""
        for r in read_runs(self.recdir):
            for pid in (r.get("grandchild"), r["pid"]):
                if pid and alive(pid):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass

    def ftp(self, srv):
        f = ftplib.FTP()
        f.connect("127.0.0.1", srv.port, timeout=10)
        f.login("alice", "alice-pw")
        self.addCleanup(f.close)
        return f

    def upload(self, srv, name, data):
        f = self.ftp(srv)
        f.storbinary("STOR " + name, io.BytesIO(data))
        f.quit()

    def wait_drained(self, srv, timeout=60):
        st = wait_status(srv, drained("cmd"), timeout=timeout)
        self.assertTrue(drained("cmd")(st), (st, srv.log_text()))
        return st

    # -- argv, environment, descriptors, events

    def test_exact_argv_env_and_events(self):
        srv = self.make("ok", args='%p "u=%u" %s "a b" lit\\"q %%p ""',
                        propagate_deletes="on", propagate_renames="on")
        srv.start()
        home = srv.home("alice")
        data = b"exact bytes\n"
        f = self.ftp(srv)
        f.mkd("d")
        f.storbinary("STOR d/" + WEIRD, io.BytesIO(data))
        self.assertTrue(wait_for(lambda: len(read_runs(self.recdir)) >= 1,
                                 timeout=30), srv.log_text())
        self.wait_drained(srv)
        f.rename("d/" + WEIRD, "d/-new " + WEIRD)
        self.assertTrue(wait_for(lambda: len(read_runs(self.recdir)) >= 2,
                                 timeout=30), srv.log_text())
        f.delete("d/-new " + WEIRD)
        self.assertTrue(wait_for(lambda: len(read_runs(self.recdir)) >= 3,
                                 timeout=30), srv.log_text())
        self.wait_drained(srv)
        f.quit()
        runs = read_runs(self.recdir)
        # mkdir d: delivered without a run.
        self.assertEqual([r["env"]["RELAYFTPD_EVENT"] for r in runs],
                         ["put", "rename", "delete"], runs)
        put, ren, dele = runs
        path = "/d/" + WEIRD
        newp = "/d/-new " + WEIRD
        import hashlib
        self.assertEqual(put["argv"], [
            self.recdir, "ok", path, "u=alice", str(len(data)), "a b",
            'lit"q', "%p", ""])
        ids = [r["env"]["RELAYFTPD_EVENT_ID"] for r in runs]
        for i in ids:
            self.assertTrue(i.isdigit(), ids)
        self.assertEqual(len(set(ids)), 3, ids)
        self.assertEqual(put["env"], {
            "PATH": "/usr/bin:/bin",
            "RELAYFTPD_EVENT": "put",
            "RELAYFTPD_EVENT_ID": ids[0],
            "RELAYFTPD_USER": "alice",
            "RELAYFTPD_PATH": path,
            "RELAYFTPD_FILE": home + path,
            "RELAYFTPD_OLD_PATH": "",
            "RELAYFTPD_SIZE": str(len(data)),
            "RELAYFTPD_SHA256": hashlib.sha256(data).hexdigest(),
            "RELAYFTPD_FD": "3",
        })
        # No variable twice, none beside these.
        self.assertEqual(len(put["environ"]), len(put["env"]))
        self.assertEqual(ren["env"]["RELAYFTPD_PATH"], newp)
        self.assertEqual(ren["env"]["RELAYFTPD_OLD_PATH"], path)
        self.assertEqual(ren["env"]["RELAYFTPD_FILE"], home + newp)
        self.assertEqual(ren["argv"][2:5], [newp, "u=alice", ""])
        self.assertEqual(dele["env"]["RELAYFTPD_PATH"], newp)
        self.assertEqual(dele["env"]["RELAYFTPD_OLD_PATH"], "")
        self.assertEqual(dele["env"]["RELAYFTPD_SIZE"], "")
        # The put's file on descriptor 3, read-only, from its start: a
        # name (RELAYFTPD_FILE) may be pointed elsewhere by a program
        # that writes into the home before the command opens it.
        self.assertEqual(put["fds"].pop("3"), home + path)
        self.assertEqual(put["fds"].pop("3.head"), data.hex())
        self.assertEqual(ren["env"]["RELAYFTPD_FD"], "")
        for r in runs:
            self.assertEqual(sorted(r["fds"]), ["0", "1", "2"], r["fds"])
            self.assertEqual(r["fds"]["0"], "/dev/null")
            self.assertTrue(r["fds"]["1"].startswith("pipe:"), r["fds"])
            self.assertEqual(r["pgid"], r["pid"])
            self.assertEqual(r["sid"], r["pid"])
            self.assertEqual(r["cwd"], "/")
        log = srv.log_text()
        self.assertIn("mirror exec target=cmd event=put", log)
        self.assertIn("output: done " + path.replace("\\", "\\x5c"), log)
        self.assertEqual(children_of(srv.proc.pid), [])

    def test_watched_names_with_line_breaks(self):
        # Another program writes names with LF or CR into the home (a
        # command target takes any name). The watcher dropped them in
        # silence, a folder so named was never watched, and only the
        # next start's catch-up sent them (found by an outside battery).
        srv = self.make("ok", mirror={"watch": "on",
                                      "watch_debounce_ms": "100"})
        srv.start()
        # After the start-up walk, which would find them too.
        self.assertTrue(wait_for(lambda: "start-up walk of the homes done"
                                 in srv.log_text(), timeout=30))
        home = srv.home("alice").encode()
        os.mkdir(home + b"/dir\nx")
        # A file made in it before its watch is found by the walk of the
        # new folder; one made after, by the watch.
        names = [b"/plain.txt", b"/nl\nname.txt", b"/cr\rname.txt",
                 b"/dir\nx/inner.txt"]
        for n in names:
            with open(home + n, "wb") as f:
                f.write(b"data " + n)
        self.assertTrue(wait_for(lambda: len(read_runs(self.recdir)) >= 4,
                                 timeout=30),
                        (read_runs(self.recdir), srv.log_text()[-3000:]))
        self.wait_drained(srv)
        got = sorted(r["env"]["RELAYFTPD_PATH"] for r in read_runs(
            self.recdir))
        self.assertEqual(got, sorted(n.decode() for n in names))

    # -- failures, backoff

    def test_rename_of_a_file_never_given_is_a_put(self):
        # Another program writes a file and a client renames it before
        # the watcher's quiet time ends: no put of the old name is
        # queued, and the watcher, finding the rename's job, leaves the
        # new name to it. The command was told "renamed" of a file it
        # never had, exited 0, and never got the file (found by
        # test_converge_kinds.py; a server refuses such a rename and
        # gets the new name's bytes instead).
        srv = self.make("fail2", mirror={"watch": "on",
                                         "watch_debounce_ms": "1500",
                                         "retry_initial": "2",
                                         "retry_max": "4"},
                        propagate_renames="on")
        srv.start()
        self.assertTrue(wait_for(lambda: "start-up walk of the homes done"
                                 in srv.log_text(), timeout=30))
        # Logged in first: on a loaded host an argon2id login took 1.6 s
        # (CI), longer than the quiet time, and the watcher queued the
        # put of local.txt before the rename came.
        f = self.ftp(srv)
        with open(os.path.join(srv.home("alice"), "local.txt"), "wb") as g:
            g.write(b"written here")
        f.sendcmd("RNFR local.txt")
        f.voidcmd("RNTO renamed.txt")
        # fail2: the job's first two runs fail, so it waits two backoff
        # steps (2 s, then 4 s) while the watcher's quiet time of the new
        # name ends.
        self.wait_drained(srv)
        done = [r for r in read_runs(self.recdir) if r["nth"] == 3]
        self.assertEqual([(r["env"]["RELAYFTPD_EVENT"],
                           r["env"]["RELAYFTPD_PATH"]) for r in done],
                         [("put", "/renamed.txt")], srv.log_text())
        self.assertEqual(done[0]["fds"]["3.head"], b"written here".hex())
        self.assertIn("never given to the target; pushing "
                      "/alice/renamed.txt instead", srv.log_text())

    def test_a_copy_written_while_sent_is_still_renamed_away(self):
        # A command takes a put at once: when the file is written while
        # it runs, the push fails ("written while it was sent") but the
        # command has a copy. The file is then renamed and the new name
        # replaced by another file, so the put of the old name is
        # skipped; its rename must still tell the command, or it keeps
        # the old name for ever (it was told the new name's put
        # instead, as if it never had the old one).
        srv = self.make("wait-go", mirror={"watch": "off"},
                        propagate_renames="on", propagate_deletes="on")
        srv.start()
        f = self.ftp(srv)
        f.storbinary("STOR f.txt", io.BytesIO(b"first bytes"))
        self.assertTrue(wait_for(lambda: any(
            r["env"]["RELAYFTPD_PATH"] == "/f.txt"
            for r in read_runs(self.recdir)), timeout=30))
        with open(os.path.join(srv.home("alice"), "f.txt"), "ab") as g:
            g.write(b" and more")  # another program, while it is sent
        f.rename("f.txt", "g.txt")
        f.storbinary("STOR x.txt", io.BytesIO(b"x"))
        f.rename("x.txt", "g.txt")
        open(os.path.join(self.recdir, "go"), "w").close()
        self.wait_drained(srv)
        log = srv.log_text()
        self.assertIn("path=/alice/f.txt attempt=1: the file was written "
                      "while it was sent", log)
        told = [(r["env"]["RELAYFTPD_EVENT"], r["env"]["RELAYFTPD_PATH"])
                for r in read_runs(self.recdir)
                if r["env"]["RELAYFTPD_OLD_PATH"] == "/f.txt" or
                r["env"]["RELAYFTPD_EVENT"] == "delete"]
        self.assertEqual(told, [("rename", "/g.txt")], log)

    def test_bytes_written_after_a_rename_still_queued_arrive(self):
        # A client renames a file, then another program appends to it
        # while the rename's job still waits for the target: the watcher
        # took that job for one that delivers the file, but a rename
        # moves the copy the target has, without the appended bytes,
        # which never arrived (found by test_converge_kinds.py).
        srv = self.make("fail2", mirror={"watch": "on",
                                         "watch_debounce_ms": "200"},
                        propagate_renames="on")
        srv.start()
        self.assertTrue(wait_for(lambda: "start-up walk of the homes done"
                                 in srv.log_text(), timeout=30))
        self.upload(srv, "a.txt", b"uploaded")
        self.wait_drained(srv)
        f = self.ftp(srv)
        f.rename("a.txt", "b.txt")
        with open(os.path.join(srv.home("alice"), "b.txt"), "ab") as g:
            g.write(b" and appended here")
        # fail2: the rename's first two runs fail, so it waits two
        # backoff steps (1 s, then 2 s) while the watcher's quiet time
        # of the append (0.2 s) ends.
        self.wait_drained(srv)
        puts = [r["env"]["RELAYFTPD_SIZE"] for r in read_runs(self.recdir)
                if r["nth"] == 3 and r["env"]["RELAYFTPD_PATH"] == "/b.txt"
                and r["env"]["RELAYFTPD_EVENT"] == "put"]
        self.assertEqual(puts, [str(len(b"uploaded and appended here"))],
                         srv.log_text())

    def test_a_commands_bytes_in_errors_stay_text(self):
        # A command's Latin-1 output reached `mirror status` raw, and its
        # first line was cut at 120 bytes inside a character (found by a
        # review): both are written \xNN now, in the status and the log.
        srv = self.make("fail2-bytes")
        srv.start()
        self.upload(srv, "g.txt", b"x")
        seen = []

        def failed_shown():
            raw = subprocess.run(
                [BINARY, "mirror", "status", "--config", srv.config_path],
                capture_output=True, timeout=30,
                stdin=subprocess.DEVNULL).stdout
            seen[:] = [raw]
            return b"exit=3" in raw
        self.assertTrue(wait_for(failed_shown, timeout=30),
                        (seen, srv.log_text()[-2000:]))
        text = seen[0].decode("utf-8")
        # The status quotes the error: its backslashes are doubled.
        self.assertIn(r"bad:lat\\xe9n xxx", text)
        self.assertIn(r"xxx\\xf0\\x9f", text)
        self.assertRegex(srv.log_text(), r"command exit=3: bad:lat\\xe9n "
                         r"x{108}\\xf0\\x9f; will retry")
        self.wait_drained(srv)
        with open(srv.out_path, "rb") as f:
            f.read().decode("utf-8")

    def test_sigterm_does_not_wait_for_a_big_files_digest(self):
        # A put's SHA-256 is computed before the command runs: a shutdown
        # waited for it, 65 s for a file of 24 GiB (found from outside).
        srv = self.make("ok", mirror={"watch": "on",
                                      "watch_debounce_ms": "100"})
        srv.start()
        home = srv.home("alice")
        with open(os.path.join(home, "big.bin"), "wb") as f:
            f.truncate(32 << 30)  # sparse: read as zeros, at CPU speed
        self.assertTrue(wait_for(
            lambda: wait_status(srv, lambda s: True)["cmd"]["running"] > 0,
            timeout=30), srv.log_text()[-2000:])
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        self.assertEqual(srv.proc.wait(timeout=300), 0)
        self.assertLess(time.monotonic() - t0, 15, srv.log_text()[-2000:])
        self.assertEqual(read_runs(self.recdir), [])
        # Not lost: in the queue for the next start (a claimed job goes
        # back to the queue then).
        st = srv.status()["cmd"]
        self.assertEqual(st["queued"] + st["running"], 1, st)

    def test_file_deleted_during_its_digest_has_no_file_path(self):
        # Deleted while its SHA-256 was read: RELAYFTPD_FILE was what
        # /proc says of the open file, "HOME/big.bin (deleted)", a name
        # another file of the home may have. It is empty now.
        srv = self.make("ok", mirror={"watch": "on",
                                      "watch_debounce_ms": "100"})
        srv.start()
        home = srv.home("alice")
        path = os.path.join(home, "big.bin")
        with open(path, "wb") as f:
            f.truncate(8 << 30)  # sparse: read as zeros, at CPU speed
        self.assertTrue(wait_for(
            lambda: wait_status(srv, lambda s: True)["cmd"]["running"] > 0,
            timeout=30), srv.log_text()[-2000:])
        os.remove(path)
        with open(path + " (deleted)", "wb") as f:
            f.write(b"another file")

        def run_of_big():
            return [r for r in read_runs(self.recdir)
                    if r["env"]["RELAYFTPD_PATH"] == "/big.bin"]
        self.assertTrue(wait_for(run_of_big, timeout=120),
                        srv.log_text()[-2000:])
        self.assertEqual(run_of_big()[0]["env"]["RELAYFTPD_FILE"], "")

    def test_uploads_are_not_taken_for_files_being_written(self):
        """While a command is being started, its process holds a copy of
        every descriptor of the daemon until its exec, a session's
        upload being written among them. A worker that checked then
        whether the file it was to push had a writer was told yes: the
        push of an upload its client had finished failed with "another
        program has it open for writing" and waited a retry (found by a
        soak: 10 to 17 of these 400 small uploads, on every target of
        the daemon, not only the command's). Two clients upload while
        four workers start /bin/true for each file: no push is taken
        for one of a file being written."""
        srv = MirrorServer(mirror={"retry_initial": "1", "retry_max": "2",
                                   "workers_per_target": "4"},
                           targets={"cmd": {"url": "exec:/bin/true"}},
                           start=False)
        self.addCleanup(srv.cleanup)
        os.makedirs(srv.home("alice"), exist_ok=True)
        srv.start()

        def client(k):
            f = self.ftp(srv)
            for i in range(200):
                f.storbinary("STOR c%d-%03d" % (k, i),
                             io.BytesIO(b"x" * 1000))
            f.quit()
        self.assertEqual(run_threads(client, 2), [])
        self.wait_drained(srv)
        self.assertEqual([line for line in srv.log_text().splitlines()
                          if "open for writing" in line], [])
        self.assertEqual(len(srv.pushes()), 400)

    def test_fails_twice_then_delivered_with_backoff(self):
        srv = self.make("fail2", args="%p")
        srv.start()
        self.upload(srv, "f.txt", b"retry me")
        # Between the runs the job waits with the command's error shown.
        st = wait_status(srv, lambda s: "exit=3" in s["cmd"]["last_error"],
                         timeout=30)
        self.assertIn("boom", st["cmd"]["last_error"], st)
        self.assertEqual(st["cmd"]["queued"] + st["cmd"]["running"], 1, st)
        self.wait_drained(srv)
        runs = read_runs(self.recdir)
        self.assertEqual([r["nth"] for r in runs], [1, 2, 3], runs)
        self.assertEqual(len({r["env"]["RELAYFTPD_EVENT_ID"]
                              for r in runs}), 1, runs)
        log = srv.log_text()
        for n in (1, 2):
            self.assertRegex(log, r"mirror push failed target=cmd "
                             r"path=/alice/f.txt attempt=%d: command exit=3"
                             r": boom %d; will retry" % (n, n))
        pushes = [p for p in srv.pushes() if p["target"] == "cmd"]
        self.assertEqual([(p["path"], p["attempts"]) for p in pushes],
                         [("/alice/f.txt", 3)], log)
        self.assertIn("output: boom 1", log)
        # A command is not asked back: its start line says so (it said
        # "verify size", the key's default, which no push ever did).
        self.assertIn("mirror target cmd: 4 workers and an express lane, "
                      "verify none", log)
        self.assertIn("attempts=3 verify=none", log)

    def test_program_gone_then_back(self):
        # An outage of the receiver: the program is missing for a while
        # (a package upgrade); the event waits and is run once it is back.
        srv = self.make("ok", args="%p")
        srv.start()
        away = self.prog + ".away"
        os.rename(self.prog, away)
        self.upload(srv, "o.txt", b"outage")
        st = wait_status(srv, lambda s: "cannot run" in
                         s["cmd"]["last_error"], timeout=30)
        self.assertIn("No such file", st["cmd"]["last_error"], st)
        self.assertEqual(st["cmd"]["queued"] + st["cmd"]["running"], 1, st)
        self.assertEqual(read_runs(self.recdir), [])
        os.rename(away, self.prog)
        self.wait_drained(srv)
        runs = read_runs(self.recdir)
        self.assertEqual([r["env"]["RELAYFTPD_PATH"] for r in runs],
                         ["/o.txt"])

    def test_program_missing_at_start_is_said_then_run(self):
        # The same, with the program missing when relayftpd starts:
        # `check` refuses that, the start goes on (the program may come
        # with the upgrade), but said nothing of it until the first
        # push failed.
        srv = self.make("ok", args="%p")
        away = self.prog + ".away"
        os.rename(self.prog, away)
        srv.start()
        self.assertIn("key 'url': warning: [target:cmd]: %s is not an "
                      "executable file: its pushes fail, and are retried, "
                      "until it is" % self.prog, srv.log_text())
        self.upload(srv, "m.txt", b"missing")
        self.assertTrue(reached(
            srv, lambda s: "cannot run" in s["cmd"]["last_error"],
            timeout=30), srv.log_text()[-3000:])
        os.rename(away, self.prog)
        self.wait_drained(srv)
        self.assertEqual([r["env"]["RELAYFTPD_PATH"]
                          for r in read_runs(self.recdir)], ["/m.txt"])

    def test_hang_killed_at_timeout_with_its_group(self):
        srv = self.make("hang", timeout="2")
        srv.start()
        self.upload(srv, "h.txt", b"hang")
        self.assertTrue(wait_for(lambda: len(read_runs(self.recdir)) >= 1,
                                 timeout=30), srv.log_text())
        first = read_runs(self.recdir)[0]
        self.assertTrue(alive(first["grandchild"]))
        self.wait_drained(srv)
        runs = read_runs(self.recdir)
        self.assertEqual([r["nth"] for r in runs], [1, 2], runs)
        self.assertTrue(wait_for(lambda: not alive(first["pid"]) and
                                 not alive(first["grandchild"]),
                                 timeout=10))
        self.assertEqual(group_members(first["pgid"]), [])
        self.assertEqual(children_of(srv.proc.pid), [])
        self.assertRegex(srv.log_text(),
                         r"mirror push failed target=cmd path=/alice/h.txt "
                         r"attempt=1: command timed out after 2s \(its "
                         r"process group was killed\); will retry")

    def test_flood_is_drained_bounded_and_delivered(self):
        srv = self.make("flood")
        srv.start()
        pid = srv.proc.pid
        before = peak_rss_kib(pid)
        log_before = len(srv.log_text())
        self.upload(srv, "big.txt", b"x")
        self.assertTrue(wait_for(lambda: len(read_runs(self.recdir)) >= 1,
                                 timeout=30), srv.log_text())
        self.wait_drained(srv)
        log = srv.log_text()
        self.assertIn("output=%d bytes" % (FLOOD_BYTES + len(
            "done /big.txt\n")), log)
        self.assertIn("output: %d more bytes dropped (the first 4096 are "
                      "logged)" % (FLOOD_BYTES + len("done /big.txt\n") -
                                   4096), log)
        self.assertEqual([p["path"] for p in srv.pushes()],
                         ["/alice/big.txt"])
        # Its first 4 KiB hold no line break: one log line, cut and marked.
        self.assertIn("output: 0123456789abcdef0123", log)
        self.assertIn(" [line cut]", log)
        # The log holds 4 KiB of it, escaped and prefixed: far below 1 MiB.
        self.assertLess(len(log) - log_before, 64 * 1024)
        grown = peak_rss_kib(pid) - before
        self.assertLess(grown, 16 * 1024, "peak RSS grew by %d KiB" % grown)

    # -- crash

    def test_kill9_mid_run_runs_again(self):
        srv = self.make("hang-once", args="%p", timeout="300")
        srv.start()
        names = ["a.txt", "b.txt", "c.txt"]
        f = self.ftp(srv)
        for n in names:
            f.storbinary("STOR " + n, io.BytesIO(n.encode()))
        f.quit()
        # The runs that hang, not the first recorded: the workers run the
        # three at once, so one that found the hang taken may write its
        # record first, and two may both find it free (the recorder's
        # check and its mark are not one step). After the restart the
        # mark is there: no run hangs again.
        def hanging():
            return [r for r in read_runs(self.recdir) if "grandchild" in r]

        self.assertTrue(wait_for(lambda: len(hanging()) >= 1, timeout=30),
                        srv.log_text())
        srv.kill9()
        srv.start()
        self.wait_drained(srv)
        # Each file arrives; one whose run ended between its push's log
        # line and the queue's settle when the kill came is run again
        # (at least once), so a name may be logged twice.
        pushed = sorted(set(p["path"] for p in srv.pushes()))
        self.assertEqual(pushed, ["/alice/" + n for n in names])
        runs = read_runs(self.recdir)
        for hung in hanging():
            again = [r for r in runs if r["env"]["RELAYFTPD_EVENT_ID"] ==
                     hung["env"]["RELAYFTPD_EVENT_ID"]]
            self.assertEqual(len(again), 2, runs)
            self.assertEqual(again[1]["env"]["RELAYFTPD_PATH"],
                             hung["env"]["RELAYFTPD_PATH"])

    # -- run_as

    def test_runs_as_run_as(self):
        if os.geteuid() != 0:
            self.skipTest("needs root: the daemon must drop to run_as")
        pw = pwd.getpwnam("nobody")
        srv = self.make("ok", server={"run_as": "nobody"})
        os.chown(srv.home("alice"), pw.pw_uid, pw.pw_gid)
        srv.start()
        self.upload(srv, "r.txt", b"as nobody")
        self.wait_drained(srv)
        runs = read_runs(self.recdir)
        self.assertEqual(len(runs), 1, srv.log_text())
        self.assertEqual((runs[0]["uid"], runs[0]["gid"]),
                         (pw.pw_uid, pw.pw_gid))


    def test_jobs_waiting_at_start_run_as_run_as(self):
        # Jobs left in the queue by an outage are due the moment the
        # pushers start, which must be after the drop to run_as (once the
        # FTP ports are bound), never in the moment before it as root.
        if os.geteuid() != 0:
            self.skipTest("needs root: the daemon must drop to run_as")
        pw = pwd.getpwnam("nobody")
        srv = self.make("ok", server={"run_as": "nobody"},
                        mirror={"retry_initial": "1", "retry_max": "1"})
        os.chown(srv.home("alice"), pw.pw_uid, pw.pw_gid)
        away = self.prog + ".away"
        os.rename(self.prog, away)
        srv.start()
        for i in range(5):
            self.upload(srv, "w%d.txt" % i, b"waiting %d" % i)
        self.assertTrue(reached(
            srv, lambda s: "cannot run" in s["cmd"]["last_error"],
            timeout=30), srv.log_text()[-3000:])
        srv.stop()
        os.rename(away, self.prog)
        # Due again 1 s after their failure (retry_max): by the time the
        # new process has started, every one is.
        srv.start()
        wait_for(lambda: len(read_runs(self.recdir)) >= 5, timeout=60)
        self.wait_drained(srv)
        runs = read_runs(self.recdir)
        self.assertEqual(len(runs), 5, srv.log_text())
        self.assertEqual({(r["uid"], r["gid"]) for r in runs},
                         {(pw.pw_uid, pw.pw_gid)}, srv.log_text())

class ExecCheckTest(unittest.TestCase):
    """`relayftpd check`: exec: keys name file, line and key."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rftp-exec-check-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.cfg = os.path.join(self.tmp, "relayftpd.ini")
        with open(os.path.join(self.tmp, "users.ini"), "w") as f:
            f.write("")
        self.prog = os.path.join(self.tmp, "cmd")
        with open(self.prog, "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        os.chmod(self.prog, 0o755)
        self.plain = os.path.join(self.tmp, "plain")
        with open(self.plain, "w") as f:
            f.write("not executable\n")
        os.chmod(self.plain, 0o644)

    def check(self, target_lines):
        lines = ["[server]", "listen = 127.0.0.1:0",
                 "users_file = users.ini", "[target:t]"] + target_lines
        with open(self.cfg, "w") as f:
            f.write("\n".join(lines) + "\n")
        r = subprocess.run([BINARY, "check", "--config", self.cfg],
                           capture_output=True, text=True, timeout=30,
                           stdin=subprocess.DEVNULL)
        return r.returncode, r.stdout + r.stderr

    def assert_bad(self, target_lines, line, key, words):
        code, out = self.check(target_lines)
        self.assertNotEqual(code, 0, out)
        self.assertIn("%s:%d: key '%s': " % (self.cfg, line, key), out)
        self.assertIn(words, out)

    def test_good(self):
        code, out = self.check(["url = exec:" + self.prog,
                                'args = --file=%p "%u x" %s %%',
                                "timeout = 5", "propagate_deletes = on"])
        self.assertEqual(code, 0, out)

    def test_relative_program(self):
        self.assert_bad(["url = exec:cmd"], 5, "url", "absolute path")

    def test_not_executable(self):
        self.assert_bad(["url = exec:" + self.plain], 5, "url",
                        "not an executable file")
        self.assert_bad(["url = exec:" + self.tmp], 5, "url",
                        "not an executable file")

    def test_bad_args(self):
        self.assert_bad(["url = exec:" + self.prog, 'args = "open'], 6,
                        "args", "not closed")
        self.assert_bad(["url = exec:" + self.prog, "args = %x"], 6,
                        "args", "unknown placeholder")
        self.assert_bad(["url = exec:" + self.prog, "args = a\\b"], 6,
                        "args", "backslash")
        self.assert_bad(["url = exec:" + self.prog, "timeout = 0"], 6,
                        "timeout", "seconds")

    def test_keys_of_other_kinds(self):
        self.assert_bad(["url = exec:" + self.prog, "password = x"], 6,
                        "password", "not for exec: targets")
        self.assert_bad(["url = ftp://h/", "args = %p"], 6, "args",
                        "only for exec: targets")


if __name__ == "__main__":
    unittest.main()
