"""exec: targets under the names and programs an attacker brings
(src/mirror/transport_exec.c), beyond test_mirror_exec.py:

  - names written into the home by another program (the watcher queues
    them): bytes that are not UTF-8, tabs, CR/LF, `$(...)`, backquotes,
    `;`, a leading `--`: argv, RELAYFTPD_PATH and RELAYFTPD_FILE hold
    the exact bytes;
  - a path of about 4,000 bytes (16 folders of 250-byte names), whose
    absolute local path is longer than PATH_MAX: %p and RELAYFTPD_PATH
    are exact, and RELAYFTPD_FILE is the file's path, never a cut one;
  - a command that exits while a child of its own session (setsid)
    keeps its output pipe open: the run ends within the grace, delivered;
  - args whose item grows past 8 KiB only with one event's long path
    (two %p in it): that event waits alone, the others run at once;
  - a child left in the run's group is killed when the program exits.

Every wait is bounded (wait_for / wait_status).
"""
import io
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import wait_for  # noqa: E402
import test_mirror_exec as tme  # noqa: E402
from test_mirror_exec import read_runs  # noqa: E402


class Base(unittest.TestCase):
    """test_mirror_exec's set-up (the class itself is not imported, so
    that its tests do not run here again)."""
    make = tme.ExecTargetTest.make
    kill_leftovers = tme.ExecTargetTest.kill_leftovers
    ftp = tme.ExecTargetTest.ftp
    upload = tme.ExecTargetTest.upload
    wait_drained = tme.ExecTargetTest.wait_drained


class LongPathTest(Base):

    def test_path_longer_than_path_max_locally(self):
        srv = self.make("ok", args="%p", propagate_deletes="on")
        srv.start()
        f = self.ftp(srv)
        path = ""
        for i in range(16):
            path += "/" + "d" * 248 + "%02d" % i
            f.mkd(path)
        name = path + "/" + "f" * 60 + ".txt"
        home = srv.home("alice")
        self.assertGreater(len(home + name), 4096)
        f.storbinary("STOR " + name, io.BytesIO(b"deep bytes\n"))
        self.assertTrue(wait_for(lambda: len(read_runs(self.recdir)) >= 1,
                                 timeout=30), srv.log_text()[-3000:])
        self.wait_drained(srv)
        f.delete(name)
        f.quit()
        self.assertTrue(wait_for(lambda: len(read_runs(self.recdir)) >= 2,
                                 timeout=30), srv.log_text()[-3000:])
        self.wait_drained(srv)
        put, dele = read_runs(self.recdir)
        for run in (put, dele):
            self.assertEqual(run["argv"][2:], [name])
            self.assertEqual(run["env"]["RELAYFTPD_PATH"], name)
            # The file's path, not "" (which says: deleted while its
            # run was prepared) and not a cut name.
            self.assertEqual(len(run["env"]["RELAYFTPD_FILE"]),
                             len(home + name))
            self.assertEqual(run["env"]["RELAYFTPD_FILE"], home + name)
        self.assertEqual(put["env"]["RELAYFTPD_EVENT"], "put")
        self.assertEqual(dele["env"]["RELAYFTPD_EVENT"], "delete")


    def test_watched_names_of_any_bytes_arrive_exactly(self):
        srv = self.make("ok", args='%p "--name=%p" -- %u')
        srv.start()
        self.assertTrue(wait_for(lambda: "start-up walk of the homes done"
                                 in srv.log_text(), timeout=30))
        home = srv.home("alice").encode()
        names = [b"/bad\xff\xfe.bin", b"/overlong\xc0\xaf.bin",
                 b"/tab\there.bin", b"/$(id)`id`;x y.bin",
                 b'/q"\\b%p%%_*.bin', b"/--", b"/-rf",
                 b"/" + b"n" * 255]
        for n in names:
            with open(home + n, "wb") as f:
                f.write(b"data " + n)
        self.assertTrue(wait_for(
            lambda: len(read_runs(self.recdir)) >= len(names), timeout=30),
            (read_runs(self.recdir), srv.log_text()[-3000:]))
        self.wait_drained(srv)
        got = {}
        for r in read_runs(self.recdir):
            p = r["env"]["RELAYFTPD_PATH"].encode("utf-8",
                                                  "surrogateescape")
            got[p] = r
        self.assertEqual(sorted(got), sorted(names))
        for n, r in got.items():
            s = n.decode("utf-8", "surrogateescape")
            self.assertEqual(r["argv"][2:], [s, "--name=" + s, "--",
                                             "alice"])
            self.assertEqual(r["env"]["RELAYFTPD_FILE"],
                             (home + n).decode("utf-8", "surrogateescape"))



class ArgsTooLongTest(Base):

    def test_item_too_long_for_one_path_holds_up_no_other(self):
        # Two %p in one item: a 3,000-byte path makes it longer than an
        # item may be (8 KiB). That event can never run; the others
        # must not wait for its retries (backoff 8 s here).
        srv = self.make("ok", args='"%p|%p|%p"',
                        mirror={"retry_initial": "8", "retry_max": "8"})
        srv.start()
        f = self.ftp(srv)
        path = ""
        for i in range(12):
            path += "/" + "d" * 248 + "%02d" % i
            f.mkd(path)
        f.storbinary("STOR " + path + "/long.txt", io.BytesIO(b"l"))
        self.assertTrue(wait_for(lambda: "args: an expanded item is too "
                                 "long" in srv.log_text(), timeout=30))
        t0 = time.monotonic()
        f.storbinary("STOR short.txt", io.BytesIO(b"s"))
        f.quit()
        self.assertTrue(wait_for(lambda: len(read_runs(self.recdir)) >= 1,
                                 timeout=30), srv.log_text()[-2000:])
        took = time.monotonic() - t0
        self.assertEqual(read_runs(self.recdir)[0]["argv"][2],
                         "/short.txt|/short.txt|/short.txt")
        self.assertLess(took, 4, "the other event waited %.1f s" % took)
        self.assertIn("(the target refused this file", srv.log_text())


FORKER = """#!/bin/sh
# Exits at once, leaving a child that holds the output pipe: in the run's
# process group (MODE group) or in a session of its own (MODE session).
echo "$$" > "$1/parent"
if [ "$2" = group ]; then
    sleep 60 &
    echo "$!" > "$1/child"
else
    setsid sleep 60 &
    # Until it has its session (bounded): an exit before would see it
    # killed with the group, which is not the case tested.
    i=0
    while [ "$(cut -d' ' -f6 /proc/$!/stat)" = "$$" ] && [ $i -lt 200 ]; do
        sleep 0.05; i=$((i + 1))
    done
    echo "$!" > "$1/child"
fi
echo started
exit 0
"""


class LeftChildTest(Base):

    def run_forker(self, mode):
        srv = self.make("unused", timeout="30")
        with open(self.prog, "w") as f:
            f.write(FORKER)
        srv.targets["cmd"]["args"] = "%s %s" % (self.recdir, mode)
        srv.write_config()
        srv.start()
        t0 = time.monotonic()
        self.upload(srv, "f.txt", b"f")
        self.wait_drained(srv)
        took = time.monotonic() - t0
        with open(os.path.join(self.recdir, "child")) as f:
            child = int(f.read())
        self.addCleanup(self.kill_pid, child)
        self.assertEqual([p["path"] for p in srv.pushes()],
                         ["/alice/f.txt"])
        self.assertIn("output: started", srv.log_text())
        return child, took

    def kill_pid(self, pid):
        if tme.alive(pid):
            os.kill(pid, signal.SIGKILL)

    def test_child_left_in_the_group_is_killed_at_once(self):
        child, took = self.run_forker("group")
        self.assertTrue(wait_for(lambda: not tme.alive(child), timeout=5))
        # Not the 30 s timeout, nor the 2 s grace.
        self.assertLess(took, 5)

    def test_child_in_its_own_session_holds_the_run_for_the_grace(self):
        child, took = self.run_forker("session")
        # Left to run (it left the group on purpose, as README says);
        # the run ended after the 2 s grace, not the 30 s timeout.
        self.assertTrue(tme.alive(child))
        self.assertLess(took, 10)


if __name__ == "__main__":
    unittest.main()
