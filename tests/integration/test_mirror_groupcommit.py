"""The queue's group commit, seen from the system calls of the daemon.

Every completed upload is in the queue, on disk, before its 226: between
the session's commit (its write to the queue's WAL) and the 226 it sends,
a sync of the WAL completes (in any thread: sessions that commit while a
sync runs share the next one). And the disk pays for that and nothing
else: the workers' bookkeeping (claim, done, what the target holds) is
redone from the queue after a crash, so it is never synced on its own.
The old code synced the WAL about four times per upload (the enqueue,
the claim, the record of the push, the job's deletion); now at most once.

The daemon is traced with strace (-f -y: each descriptor with its path);
the test skips where strace is missing or cannot attach. Runs in ~15 s.
"""
import ftplib
import io
import os
import re
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import trace_syscalls  # noqa: E402
from mirror_targets import drained, wait_files, wait_status  # noqa: E402
from test_mirror import MirrorTest  # noqa: E402

SESSIONS = 8
FILES = 12

LINE = re.compile(r"^(\d+)\s+(.*)$")
CALL = re.compile(r"^(\w+)\((\d+)<([^>]*)>")
RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>.*= (-?\d+)")


def parse(lines):
    """Events in the order strace saw them end: (pid, kind, detail).
    kind: "walwrite" (a write to the WAL), "walsync" (a sync of the WAL
    that returned 0), "226" (a 226 reply sent)."""
    pending = {}  # pid -> kind of its unfinished WAL sync
    out = []
    for raw in lines:
        m = LINE.match(raw)
        if m is None:
            continue
        pid, rest = int(m.group(1)), m.group(2)
        r = RESUMED.match(rest)
        if r is not None:
            if pending.pop(pid, None) and r.group(2) == "0":
                out.append((pid, "walsync", rest))
            continue
        c = CALL.match(rest)
        if c is None:
            continue
        name, path = c.group(1), c.group(3)
        wal = path.endswith("-wal")
        if name in ("fsync", "fdatasync") and wal:
            if rest.endswith("<unfinished ...>"):
                pending[pid] = True
            elif rest.rstrip().endswith("= 0"):
                out.append((pid, "walsync", rest))
        elif name in ("write", "pwrite64") and wal:
            out.append((pid, "walwrite", rest))
        elif name == "sendto" and '"226 ' in rest:
            out.append((pid, "226", rest))
    return out


class GroupCommitTest(MirrorTest):

    def upload_all(self, srv, sessions, files):
        data = {}
        errors = []

        def one(k):
            try:
                f = ftplib.FTP()
                f.connect("127.0.0.1", srv.port, timeout=30)
                f.login("alice", "alice-pw")
                f.mkd("/s%d" % k)
                for i in range(files):
                    body = data["s%d/f%02d.bin" % (k, i)]
                    r = f.storbinary("STOR /s%d/f%02d.bin" % (k, i),
                                     io.BytesIO(body))
                    self.assertTrue(r.startswith("226"), r)
                f.quit()
            except Exception as e:  # reported by the main thread
                errors.append(repr(e))

        for k in range(sessions):
            for i in range(files):
                data["s%d/f%02d.bin" % (k, i)] = self.rand(
                    self.rng.randrange(1, 9000))
        threads = [threading.Thread(target=one, args=(k,))
                   for k in range(sessions)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        self.assertEqual(errors, [])
        self.assertFalse(any(t.is_alive() for t in threads))
        return data

    def check_durable_before_226(self, events):
        """Each 226: a WAL sync ended after its thread's last WAL write."""
        last_write = {}  # pid -> index of its last WAL write
        last_sync = -1
        n226 = 0
        for i, (pid, kind, detail) in enumerate(events):
            if kind == "walwrite":
                last_write[pid] = i
            elif kind == "walsync":
                last_sync = i
            elif kind == "226":
                n226 += 1
                self.assertIn(pid, last_write,
                              "226 with no queue write: %s" % detail)
                self.assertGreater(
                    last_sync, last_write[pid],
                    "226 sent before its job was synced: %s" % detail)
        return n226

    def test_each_226_waits_for_a_sync_and_workers_never_sync(self):
        p = self.pyftpd()
        srv = self.mirror_server(
            mirror={"watch": "off", "workers_per_target": "4"},
            targets={"p": p.target("/base")},
            server={"upload_close_grace_ms": "0"})
        path = self.local("strace.txt")
        stop = trace_syscalls(self, srv.proc.pid, ("write", "pwrite64",
                                                   "fsync", "fdatasync",
                                                   "sendto"), path)
        data = self.upload_all(srv, SESSIONS, FILES)
        uploads = SESSIONS * FILES
        self.assertFalse(wait_files(os.path.join(p.root, "base", "alice"),
                                    data, timeout=90))
        self.assertTrue(drained()(wait_status(srv, drained(), timeout=30)))
        stop()
        with open(path, errors="replace") as f:
            events = parse(f.read().splitlines())
        n226 = self.check_durable_before_226(events)
        self.assertEqual(n226, uploads)
        syncs = sum(1 for e in events if e[1] == "walsync")
        # At most one sync per upload and per MKD (an intent, written
        # ahead), plus SQLite's own at its checkpoints (a few); the old
        # code paid about four per upload.
        bound = uploads + SESSIONS + 16
        self.assertLessEqual(syncs, bound,
                             "%d WAL syncs for %d uploads" % (syncs, uploads))
        print("%d uploads, %d WAL syncs" % (uploads, syncs), file=sys.stderr)

    def test_queue_survives_kill_after_226(self):
        """The jobs of every 226 are in the queue file after SIGKILL with
        no worker able to push (target down): a restart delivers them."""
        p = self.pyftpd()
        port = p.port
        p.stop()
        srv = self.mirror_server(
            mirror={"watch": "off", "retry_initial": "1", "retry_max": "1"},
            targets={"p": p.target("/base")},
            server={"upload_close_grace_ms": "0"})
        data = self.upload_all(srv, 4, 6)
        srv.kill9()
        # The queue file itself holds a job for each 226 (the catch-up
        # at the next start would find the files too: look first).
        st = srv.status()
        # One job per upload and one per MKD.
        self.assertEqual(st["p"]["queued"] + st["p"]["running"],
                         len(data) + 4, st)
        p.start()
        self.assertEqual(p.port, port)
        srv.start()
        self.assertFalse(wait_files(os.path.join(p.root, "base", "alice"),
                                    data, timeout=90))


if __name__ == "__main__":
    unittest.main()
