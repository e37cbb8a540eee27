#!/usr/bin/env python3
"""The mirror's fair share between sessions, as a user sees it downstream
(issue 10; README "Mirror: fair share").

A pyftpdlib target "p" (propagate_deletes and propagate_renames on) is
stopped while two clients (sessions of the same user from two loopback
addresses, 127.0.0.2 and 127.0.0.3) queue their changes, then
started again on the same port, so the order the queue hands the jobs out
(not the timing of the uploads) decides what arrives first. The order of
arrival is the order of the "mirror push target=p path=..." lines in
relayftpd's log (written as each push is verified, before it is settled).

- a burst of 300 files from one client does not hold back another
  client's single file (same user, another address): it is among the
  first few pushes (the old queue, oldest first, pushed it last); the
  burst's client cannot jump its own backlog by opening a new session per
  file (a client is a user at an address, not a session);
- two sessions that each queued a backlog are pushed interleaved, not one
  after the other;
- related jobs keep their order across sessions: a delete and a rename by
  session B of files that session A uploaded (all queued while the target
  was down) never overtake A's puts, so the target ends equal to the home.

workers_per_target = 2 everywhere: with more workers than a session has
jobs, every order looks fair, and with 2 the log's order of pushes is still
the order of the claims give or take one (two workers claim side by side),
while two pushes at once can still reorder related jobs if the queue let
them both run (part 3).

watch = off: only the sessions report changes (no watcher event can add a
job of flow 0 to the picture); retry_initial/retry_max = 1 keep the
target's backoff short so the test is fast once the target is back.
"""
import ftplib
import io
import os
import re
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mirror_targets import (  # noqa: E402
    log_field, log_path, MirrorServer, PyftpdTarget, drained, tree, wait_files,
    wait_status)

PROPAGATE = {"propagate_deletes": "on", "propagate_renames": "on"}
WORKERS = 2

# Names with blanks, % _ " * \, a leading -, UTF-8: the parser below takes
# the whole path up to " bytes=", so blanks in names are kept.
NASTY = ["with space.bin", "100% done.bin", "under_score_.bin",
         'quote"d.bin', "-leading-dash.bin", "caf\u00e9 \u65e5\u672c.bin",
         "star*.bin", "back\\slash.bin", "  two leading blanks.bin",
         "%2e%2e.bin"]

PUSH_LINE = re.compile(r"mirror push target=p path=(?P<path>.*?) "
                       r"bytes=(?P<bytes>\d+) duration=")


class FairShareTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rftp-fair-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.p = PyftpdTarget()
        self.addCleanup(self.p.cleanup)
        self.a = MirrorServer(
            mirror={"queue": os.path.join(self.tmp, "queue.db"),
                    "retry_initial": "1", "retry_max": "1",
                    "workers_per_target": str(WORKERS), "watch": "off"},
            targets={"p": self.p.target("/base", **PROPAGATE)})
        self.addCleanup(self.a.cleanup)
        self.root = self.p.dir("base", "alice")
        self.home = self.a.home("alice")

    def outage(self, *folders):
        """Makes folders (home and target) while the target is up, then
        stops the target: its port is kept, nothing listens there until
        self.p.start(). The folders exist downstream before the backlog,
        so no queued MKD holds a whole folder's files back (with one in
        the backlog, the worker retrying it leaves every file below it
        blocked, and the old oldest-first queue then ran the other
        session's file first for that reason alone)."""
        f = self.session()
        for folder in folders:
            f.mkd(folder)
        st = wait_status(self.a, drained("p"), timeout=30)
        self.assertTrue(drained("p")(st), "not drained: %s" % st)
        for folder in folders:
            self.assertTrue(os.path.isdir(self.p.dir("base", "alice",
                                                     folder.strip("/"))),
                            folder)
        f.quit()
        self.p.stop()

    def session(self, source="127.0.0.1"):
        """A new FTP session (a new control connection) of alice, from the
        loopback address source (its data connections too): a client of
        the fair share is a user at an address."""
        f = ftplib.FTP()
        f.encoding = "utf-8"
        f.connect("127.0.0.1", self.a.port, timeout=30,
                  source_address=(source, 0))
        f.login("alice", "alice-pw")
        self.addCleanup(f.close)
        return f

    def upload(self, f, folder, names, tag):
        """STOR each name into folder; returns {rel path: bytes}. Every
        file's bytes are its own."""
        out = {}
        for i, name in enumerate(names):
            line = "%s %d %s\n" % (tag, i, name)
            data = line.encode("utf-8") * (i % 7 + 1)
            f.storbinary("STOR %s/%s" % (folder, name), io.BytesIO(data))
            out[(folder + "/" + name).lstrip("/")] = data
        return out

    def backlog(self, jobs):
        """Waits until at least jobs jobs wait for the (down) target and
        its workers rest in backoff: the backlog exists before any push."""
        st = wait_status(self.a, lambda s: s["p"]["queued"] +
                         s["p"]["running"] >= jobs, timeout=30)
        self.assertGreaterEqual(st["p"]["queued"] + st["p"]["running"],
                                jobs, st)
        self.assertEqual(st["p"]["pushed_files"], 0, st)

    def come_back(self, files, timeout=90):
        """Starts the target, waits for files and a drained queue; returns
        the pushed paths (home-relative, "burst/x") in log order."""
        self.p.start()
        bad = wait_files(self.root, files, timeout=timeout)
        self.assertEqual(bad, {}, "at %s: %s\n%s" % (
            self.root, dict(list(bad.items())[:10]),
            self.a.log_text()[-3000:]))
        st = wait_status(self.a, drained("p"), timeout=timeout)
        self.assertTrue(drained("p")(st), "not drained: %s" % st)
        self.assertEqual(st["p"]["failed"], 0, st)
        pushed = []
        for line in self.a.log_text().splitlines():
            m = PUSH_LINE.search(line)
            if m:
                path = log_path(m.group("path"))
                self.assertTrue(path.startswith("/alice/"), line)
                pushed.append(path[len("/alice/"):])
        return pushed

    def tree(self, root):
        return tree(root)

    def test_burst_does_not_hold_back_another_session(self):
        self.outage("/burst", "/late", "/again")
        a, b = self.session("127.0.0.2"), self.session("127.0.0.3")
        names = NASTY + ["f%03d.bin" % i for i in range(300 - len(NASTY))]
        files = self.upload(a, "/burst", names, "A")
        # The burst's client again, one new session per file (a script
        # running curl -T per file): still the same client, so these
        # wait behind its burst instead of going first.
        for i in range(3):
            files.update(self.upload(self.session("127.0.0.2"), "/again",
                                     ["n%d.bin" % i], "A%d" % i))
        # Same user at another address: another client.
        files.update(self.upload(b, "/late", ["b.bin"], "B"))
        self.assertEqual(len(files), 304)
        self.backlog(304)
        pushed = self.come_back(files)
        self.assertEqual(sorted(pushed), sorted(files),
                         "each file pushed once")
        again = [pushed.index("again/n%d.bin" % i) for i in range(3)]
        self.assertTrue(min(again) >= 250,
                        "a client's new sessions jumped its own burst: "
                        "pushes #%s of 304" % [i + 1 for i in again])
        limit = 2 * WORKERS + 2
        self.assertIn("late/b.bin", pushed[:limit],
                      "session B's one file was not among the first %d "
                      "pushes (behind session A's burst of 300): it was "
                      "push #%d; the first %d pushes: %s" % (
                          limit, pushed.index("late/b.bin") + 1, limit,
                          pushed[:limit]))
        self.assertEqual(self.tree(self.root), self.tree(self.home))

    def test_two_backlogs_interleaved(self):
        self.outage("/a", "/b")
        a, b = self.session("127.0.0.2"), self.session("127.0.0.3")
        files = self.upload(a, "/a", ["a%02d.bin" % i for i in range(40)],
                            "A")
        files.update(self.upload(b, "/b", ["b%02d.bin" % i
                                           for i in range(40)], "B"))
        self.backlog(80)
        pushed = self.come_back(files)
        self.assertEqual(sorted(pushed), sorted(files),
                         "each file pushed once")
        first = pushed[:20]
        na = sum(1 for p in first if p.startswith("a/"))
        nb = sum(1 for p in first if p.startswith("b/"))
        self.assertTrue(na >= 8 and nb >= 8,
                        "the first 20 pushes are not shared between the "
                        "two sessions (A %d, B %d, want 8 each at least): "
                        "%s" % (na, nb, first))
        self.assertEqual(self.tree(self.root), self.tree(self.home))

    def test_related_jobs_keep_order_across_sessions(self):
        self.outage("/x")
        a, b = self.session("127.0.0.2"), self.session("127.0.0.3")
        names = ["f%03d.bin" % i for i in range(100)] + NASTY[:4]
        files = self.upload(a, "/x", names, "A")
        a.storbinary("STOR /x/last.bin", io.BytesIO(b"last of A"))
        # Session B (a new flow) changes what A queued: a delete of A's
        # last file and renames of two others, all while the target is
        # down, so each of B's jobs waits behind A's jobs of the same
        # paths; the fair share would otherwise run B's first.
        b.delete("/x/last.bin")
        b.sendcmd("RNFR /x/f007.bin")
        b.voidcmd("RNTO /x/renamed 007.bin")
        b.sendcmd("RNFR /x/" + NASTY[1])
        b.voidcmd("RNTO /x/moved " + NASTY[1])
        files["x/renamed 007.bin"] = files.pop("x/f007.bin")
        files["x/moved " + NASTY[1]] = files.pop("x/" + NASTY[1])
        self.backlog(100)
        self.come_back(files)
        # What the log shows of the same paths: a push of A's file, if it
        # ran at all (a put whose file is gone by then is skipped), comes
        # before B's delete or rename of it.
        log = self.a.log_text().splitlines()
        for path, after in (("x/last.bin", "mirror delete target=p "),
                            ("x/f007.bin", "mirror rename target=p "),
                            ("x/" + NASTY[1], "mirror rename target=p ")):
            put = [i for i, line in enumerate(log)
                   if "mirror push target=p path=%s bytes=" %
                   log_field("/alice/" + path) in line]
            field = log_field("/alice/" + path)
            then = [i for i, line in enumerate(log)
                    if after + "path=%s " % field in line or
                    after + "path=%s:" % field in line]
            self.assertTrue(not put or not then or put[-1] < then[0],
                            "B's %sof /%s ran before A's push of it:\n%s" %
                            (after, path, "\n".join(
                                log[j] for j in sorted(put + then))))
        want = self.tree(self.home)
        self.assertNotIn("x/last.bin", want)
        self.assertIn("x/renamed 007.bin", want)
        got = self.tree(self.root)
        self.assertEqual(
            got, want, "target differs from the home: only on the target "
            "%s, only in the home %s, other bytes %s" % (
                sorted(set(got) - set(want)), sorted(set(want) - set(got)),
                sorted(k for k in set(got) & set(want)
                       if got[k] != want[k])))


if __name__ == "__main__":
    unittest.main()
