#!/usr/bin/env python3
"""Files a target refuses hold up none of their client's other files.

A target may refuse some files and take others: a quota, a name rule, a
program that says no to one kind of file. A refusal used to back the
whole target off like a dead link; the refused jobs were then due again
together with the target, first in their client's line, so that as many
refused files as the target has workers kept every later file of that
client from the target for ever (found by an outside test: four files a
target answered 553 stopped all of one client's later uploads).

Now a refused job waits alone, and the target goes on with the others.
A pyftpdlib target that answers 553 to a STOR of any name holding "bad";
alice uploads six such files, then six good ones: the good ones all
arrive, long before a refused job is asked again, and the refused ones
are retried (the log says the target refused them), never published.
A target that takes the bytes and then answers 550 instead of 226 (a
quota counted at the end, a scanner) refuses the file the same way.
A command target refuses an event by exiting 65 (EX_DATAERR): the same.
Many refusals in a row still pause the target (a full disk refuses every
file): with twenty refused files before the good ones, the good ones
arrive after the pauses, ahead of the refused ones' next turn.
"""
import ftplib
import io
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import wait_for  # noqa: E402
from mirror_targets import MirrorServer, PyftpdTarget  # noqa: E402


def copying_command(case, prefix, head):
    """An exec: target's program in a new temporary folder: the shell
    lines head ("{dir}" in it: that folder), then a copy of the file into
    the folder's "out". Returns (folder, out, program)."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    case.addCleanup(shutil.rmtree, tmp, True)
    out = os.path.join(tmp, "out")
    os.mkdir(out)
    prog = os.path.join(tmp, "deliver.sh")
    with open(prog, "w") as f:
        f.write("#!/bin/sh\n" + head.format(dir=tmp) +
                'cp "$RELAYFTPD_FILE" "%s/${RELAYFTPD_PATH##*/}"\n' % out)
    os.chmod(prog, 0o755)
    return tmp, out, prog


def session(case, srv, user):
    """A logged-in ftplib session of user (password "pw") to srv."""
    f = ftplib.FTP()
    f.connect("127.0.0.1", srv.port, timeout=30)
    f.login(user, "pw")
    case.addCleanup(f.close)
    return f


class RefusedFilesTest(unittest.TestCase):

    def setup(self, retry_initial, after=False):
        """A target refusing names holding "bad" (after the transfer if
        after), a relayftpd mirroring to it, and alice's session."""
        p = PyftpdTarget(refuse="" if after else "bad",
                         refuse_after="bad" if after else "")
        self.addCleanup(p.cleanup)
        # A refused job is asked again after 2 x retry_initial at the
        # earliest, a paused target after retry_initial.
        srv = MirrorServer(
            users={"alice": {"password": "pw"}},
            mirror={"retry_initial": str(retry_initial), "retry_max": "60",
                    "workers_per_target": "4", "watch": "off"},
            targets={"p": p.target("/base")})
        self.addCleanup(srv.cleanup)
        return p, srv, session(self, srv, "alice")

    def run_case(self, nbad, retry_initial, timeout, after=False):
        p, srv, f = self.setup(retry_initial, after)
        for i in range(nbad):
            f.storbinary("STOR bad%d.txt" % i, io.BytesIO(b"bad %d" % i))
        want = {}
        for i in range(6):
            data = b"good %d\n" % i
            f.storbinary("STOR good%d.txt" % i, io.BytesIO(data))
            want["good%d.txt" % i] = data
        root = p.dir("base", "alice")

        def arrived():
            for name, data in want.items():
                try:
                    with open(os.path.join(root, name), "rb") as g:
                        if g.read() != data:
                            return False
                except OSError:
                    return False
            return True
        # The whole log on failure: what held the good files back is
        # usually near its start.
        self.assertTrue(wait_for(arrived, timeout=timeout),
                        srv.log_text()[-20000:])
        self.assertIn("the target refused this file", srv.log_text())
        names = os.listdir(root)
        self.assertFalse([n for n in names if "bad" in n], names)

    def test_few_refused_files(self):
        # Fewer refusals in a row than pause the target: the good files
        # go at once, well within the 30 s a failure used to cost.
        self.run_case(6, 30, 20)

    def test_refused_after_the_transfer(self):
        # The target takes the bytes and answers 550 where 226 was due:
        # libcurl calls that a partial file, and it backed the whole
        # target off like a dead link.
        self.run_case(6, 30, 20, after=True)

    def test_a_refusal_since_the_last_delivery_is_current(self):
        # Up and delivering, but refusing a file since: `mirror status`
        # says its error is current, as the status page does (a review
        # found "past", as if the target had recovered from it).
        p, srv, f = self.setup(30)
        f.storbinary("STOR good.txt", io.BytesIO(b"good\n"))
        good = os.path.join(p.dir("base", "alice"), "good.txt")
        self.assertTrue(wait_for(lambda: os.path.exists(good), timeout=20),
                        srv.log_text()[-3000:])
        f.storbinary("STOR bad.txt", io.BytesIO(b"bad\n"))
        self.assertTrue(wait_for(
            lambda: srv.status()["p"]["last_error"] != '""', timeout=20),
            srv.log_text()[-3000:])
        st = srv.status()["p"]
        self.assertEqual(st["state"], "up", st)
        self.assertEqual(st["extra"].get("error"), "current", st)

    def test_many_refused_files(self):
        # Twenty refused in a row pause the target twice (8 and 16: 5 to
        # 7.5 s, then 10 to 15 s); then the good files go first.
        self.run_case(20, 5, 40)


class RefusingCommandTest(unittest.TestCase):
    """A command target refuses one event by exiting 65 (EX_DATAERR);
    any other failure is the target's, as before."""

    def test_exit_65_refuses_one_file(self):
        _, out, prog = copying_command(
            self, "rftp-refuse-",
            'case "$RELAYFTPD_PATH" in *bad*) echo no; exit 65;; esac\n')
        srv = MirrorServer(
            users={"alice": {"password": "pw"}},
            mirror={"retry_initial": "30", "retry_max": "60",
                    "workers_per_target": "2", "watch": "off"},
            targets={"cmd": {"url": "exec:" + prog}})
        self.addCleanup(srv.cleanup)
        f = session(self, srv, "alice")
        for i in range(4):
            f.storbinary("STOR bad%d.txt" % i, io.BytesIO(b"bad"))
        for i in range(4):
            f.storbinary("STOR good%d.txt" % i, io.BytesIO(b"good %d" % i))
        want = {"good%d.txt" % i for i in range(4)}
        self.assertTrue(wait_for(lambda: set(os.listdir(out)) == want,
                                 timeout=20),
                        srv.log_text()[-3000:])
        self.assertIn("the target refused this file", srv.log_text())


class UnreadableFileTest(unittest.TestCase):
    """A queued file that cannot be read here when its turn comes (made a
    symbolic link by another program, or not readable by run_as): its
    push failed as if the target had, the target was paused and every
    user's pushes waited, for longer at each retry (found from outside).
    Now the job waits alone and the target goes on."""

    def test_a_file_unreadable_here_holds_up_no_other(self):
        # The first file holds the one worker until the gate opens, so
        # that bad.txt waits in the queue while it is made a link.
        tmp, out, prog = copying_command(
            self, "rftp-unreadable-",
            'case "$RELAYFTPD_PATH" in *first*)\n'
            '  i=0; while [ ! -e "{dir}/gate" ] && [ $i -lt 300 ]; do\n'
            '    sleep 0.1; i=$((i+1)); done;; esac\n')
        gate = os.path.join(tmp, "gate")
        srv = MirrorServer(
            users={"alice": {"password": "pw"}, "bob": {"password": "pw"}},
            mirror={"retry_initial": "30", "retry_max": "60",
                    "workers_per_target": "1", "express_max_size": "0",
                    "watch": "off"},
            targets={"cmd": {"url": "exec:" + prog}})
        self.addCleanup(srv.cleanup)
        sessions = {u: session(self, srv, u) for u in ("alice", "bob")}
        sessions["alice"].storbinary("STOR first.txt", io.BytesIO(b"1"))
        sessions["alice"].storbinary("STOR bad.txt", io.BytesIO(b"bad"))
        bad = os.path.join(srv.home("alice"), "bad.txt")
        os.remove(bad)
        os.symlink("/etc/hostname", bad)
        with open(gate, "w"):
            pass
        self.assertTrue(wait_for(
            lambda: "path=/alice/bad.txt attempt=1" in srv.log_text(),
            timeout=20), srv.log_text()[-3000:])
        self.assertIn("symbolic link, which the mirror does not follow",
                      srv.log_text())
        # Another user's file goes at once, not after the 30 s pause
        # that a target failure costs.
        sessions["bob"].storbinary("STOR good.txt", io.BytesIO(b"good"))
        self.assertTrue(wait_for(
            lambda: os.path.exists(os.path.join(out, "good.txt")),
            timeout=15), srv.log_text()[-3000:])
        st = srv.status()["cmd"]
        self.assertEqual(st["state"], "up", st)
        self.assertEqual(st["queued"], 1, st)  # bad.txt, waiting alone
        self.assertEqual(sorted(os.listdir(out)), ["first.txt", "good.txt"])


if __name__ == "__main__":
    unittest.main()
