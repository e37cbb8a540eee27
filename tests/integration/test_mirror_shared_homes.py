"""Homes that share folders, on the mirror side (README "Mirror": a change
made through the server in a folder several users' homes hold is queued
for each of them).

An admin whose home holds alice's (admin: <srv>, alice: <srv>/alice),
each with a target of its own; two accounts on one home; a rename across
the boundary of the nested home; the excludes of one user's target left
to that user; two sessions of two users changing each other's folder in
a loop (the change locks of both are taken in one order: no deadlock);
a home named through a symlink.

Targets are pyftpdlib (mirror_targets.PyftpdTarget) with deletes and
renames propagated, so a target's folder of a user must end equal to
that user's home, files byte for byte and folders. Every wait is bounded.
"""
import ftplib
import io
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from faults import Faults  # noqa: E402
from mirror_targets import (  # noqa: E402
    MirrorServer, TargetsMixin, drained, tree, wait_status)

FAST_RETRY = {"retry_initial": "1", "retry_max": "2"}
PROPAGATE = {"propagate_deletes": "on", "propagate_renames": "on"}


class SharedHomesTest(TargetsMixin, unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rftp-shared-homes-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.rng = random.Random(self.id())

    def rand(self, n):
        return self.rng.randbytes(n)

    def server(self, users, targets):
        for spec in users.values():
            os.makedirs(spec["home"], exist_ok=True)
        a = MirrorServer(users=users, mirror=FAST_RETRY, targets=targets)
        self.addCleanup(a.cleanup)
        self.addCleanup(lambda: a.proc is not None and a.stop(check=True))
        return a

    def login(self, srv, user):
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", srv.port, timeout=30)
        ftp.login(user, srv.users[user]["password"])
        self.addCleanup(self._quit, ftp)
        return ftp

    @staticmethod
    def _quit(ftp):
        try:
            ftp.quit()
        except (OSError, EOFError, ftplib.Error):
            ftp.close()

    @staticmethod
    def put(ftp, path, data):
        ftp.storbinary("STOR " + path, io.BytesIO(data))

    def admin_alice(self, alice_target=None):
        """admin (home <srv>, target ta) and alice (home <srv>/alice,
        target tb)."""
        p = self.pyftpd()
        srv_home = os.path.join(self.tmp, "srv")
        users = {
            "admin": {"password": "admin-pw", "home": srv_home,
                      "mirror": "ta"},
            "alice": {"password": "alice-pw",
                      "home": os.path.join(srv_home, "alice"),
                      "mirror": "tb"},
        }
        targets = {"ta": p.target("/ta", **PROPAGATE),
                   "tb": p.target("/tb", **dict(PROPAGATE,
                                                **(alice_target or {})))}
        a = self.server(users, targets)
        return p, a, srv_home

    def assertMirrors(self, srv, pairs, timeout=60, skip=None):
        """Waits until each (home, target folder) pair holds the same tree
        (files byte for byte, folders); skip(rel) leaves names out of the
        home's side (a target's excludes)."""
        def same(home, there):
            want = {k: v for k, v in tree(home).items()
                    if skip is None or not skip(k)}
            try:
                return want == tree(there)
            except FileNotFoundError:
                return False  # a push's temporary name, gone meanwhile

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = wait_status(srv, drained(), timeout=5)
            if drained()(st) and all(same(h, t) for h, t in pairs):
                return
            time.sleep(0.1)
        for home, there in pairs:
            want = {k: v for k, v in tree(home).items()
                    if skip is None or not skip(k)}
            got = tree(there)
            self.assertEqual(
                sorted(want), sorted(got),
                "target %s differs from home %s\n%s" %
                (there, home, srv.log_text()[-3000:]))
            for k in want:
                self.assertEqual(want[k], got[k], "bytes of %s" % k)

    def test_admin_and_alice_change_the_shared_folder(self):
        p, a, srv_home = self.admin_alice()
        alice_home = os.path.join(srv_home, "alice")
        adm = self.login(a, "admin")
        ali = self.login(a, "alice")
        # The admin in alice's folder.
        self.put(adm, "/alice/a.bin", self.rand(3000))
        adm.mkd("/alice/sub")
        self.put(adm, "/alice/sub/b.bin", self.rand(2000))
        self.put(adm, "/alice/gone.bin", self.rand(1000))
        adm.rename("/alice/a.bin", "/alice/a2.bin")
        adm.rename("/alice/sub", "/alice/sub2")
        adm.delete("/alice/gone.bin")
        adm.mkd("/alice/empty")
        adm.mkd("/alice/rm")
        adm.rmd("/alice/rm")
        # alice in her own.
        self.put(ali, "/c.bin", self.rand(4000))
        self.put(ali, "/d.bin", self.rand(500))
        ali.rename("/c.bin", "/c2.bin")
        ali.delete("/d.bin")
        ali.mkd("/mine")
        self.put(ali, "/mine/e.bin", self.rand(700))
        ali.rename("/sub2/b.bin", "/mine/b.bin")
        self.put(adm, "/top.bin", self.rand(600))
        self.assertMirrors(a, [(srv_home, p.dir("ta", "admin")),
                               (alice_home, p.dir("tb", "alice"))])
        self.assertIn("mine/b.bin", tree(p.dir("tb", "alice")))

    def test_nested_home_with_a_neighbour_between(self):
        """alice's home <h>/alice holds bob's (<h>/alice/bob); carol's
        <h>/alice.old sorts between them byte by byte ('.' before '/'):
        the server decides when it reads the users whether any home
        holds another, and must still see that alice's holds bob's."""
        p = self.pyftpd()
        h = os.path.join(self.tmp, "h")
        users = {
            "alice": {"password": "alice-pw",
                      "home": os.path.join(h, "alice"), "mirror": "ta"},
            "carol": {"password": "carol-pw",
                      "home": os.path.join(h, "alice.old"), "mirror": "tc"},
            "bob": {"password": "bob-pw",
                    "home": os.path.join(h, "alice", "bob"), "mirror": "tb"},
        }
        a = self.server(users, {"ta": p.target("/ta", **PROPAGATE),
                                "tb": p.target("/tb", **PROPAGATE),
                                "tc": p.target("/tc", **PROPAGATE)})
        ali = self.login(a, "alice")
        self.put(ali, "/bob/f.bin", self.rand(900))
        self.assertMirrors(a, [(os.path.join(h, "alice"),
                                p.dir("ta", "alice")),
                               (os.path.join(h, "alice", "bob"),
                                p.dir("tb", "bob"))])
        self.assertEqual(sorted(tree(p.dir("tb", "bob"))), ["f.bin"])

    def test_two_accounts_on_one_home(self):
        p = self.pyftpd()
        home = os.path.join(self.tmp, "shared")
        users = {"u1": {"password": "u1-pw", "home": home, "mirror": "t1"},
                 "u2": {"password": "u2-pw", "home": home, "mirror": "t2"}}
        a = self.server(users, {"t1": p.target("/t1", **PROPAGATE),
                                "t2": p.target("/t2", **PROPAGATE)})
        one, two = self.login(a, "u1"), self.login(a, "u2")
        self.put(one, "/x.bin", self.rand(1500))
        self.put(two, "/y.bin", self.rand(2500))
        two.rename("/x.bin", "/x2.bin")
        one.delete("/y.bin")
        one.mkd("/d")
        self.put(two, "/d/z.bin", self.rand(100))
        one.rename("/d", "/d2")
        self.assertMirrors(a, [(home, p.dir("t1", "u1")),
                               (home, p.dir("t2", "u2"))])

    def test_rename_across_the_nested_home(self):
        p, a, srv_home = self.admin_alice()
        alice_home = os.path.join(srv_home, "alice")
        adm = self.login(a, "admin")
        self.put(adm, "/alice/out.bin", self.rand(1200))
        self.put(adm, "/in.bin", self.rand(1300))
        self.assertMirrors(a, [(srv_home, p.dir("ta", "admin")),
                               (alice_home, p.dir("tb", "alice"))])
        # Out of alice's home: a delete for her; into it: a put.
        adm.rename("/alice/out.bin", "/out.bin")
        adm.rename("/in.bin", "/alice/in.bin")
        self.assertMirrors(a, [(srv_home, p.dir("ta", "admin")),
                               (alice_home, p.dir("tb", "alice"))])
        self.assertEqual(sorted(tree(p.dir("tb", "alice"))), ["in.bin"])
        # A folder renamed into it: alice's home is walked for its files.
        adm.mkd("/fold")
        self.put(adm, "/fold/f.bin", self.rand(1400))
        self.assertMirrors(a, [(srv_home, p.dir("ta", "admin"))])
        adm.rename("/fold", "/alice/fold")
        self.assertMirrors(a, [(srv_home, p.dir("ta", "admin")),
                               (alice_home, p.dir("tb", "alice"))])

    def test_folder_renamed_out_of_the_nested_home(self):
        """A folder the admin renames out of alice's home leaves her
        target as a file so renamed does: its files and folders are
        deleted there, and the admin's target gets it at its new name."""
        p, a, srv_home = self.admin_alice()
        alice_home = os.path.join(srv_home, "alice")
        adm = self.login(a, "admin")
        adm.mkd("/alice/sub")
        adm.mkd("/alice/sub/deep")
        self.put(adm, "/alice/sub/f1.bin", self.rand(1500))
        self.put(adm, "/alice/sub/deep/f2.bin", self.rand(2500))
        self.put(adm, "/alice/keep.bin", self.rand(700))
        self.assertMirrors(a, [(srv_home, p.dir("ta", "admin")),
                               (alice_home, p.dir("tb", "alice"))])
        self.assertIn("sub/deep/f2.bin", tree(p.dir("tb", "alice")))
        adm.rename("/alice/sub", "/elsewhere")
        self.assertMirrors(a, [(srv_home, p.dir("ta", "admin")),
                               (alice_home, p.dir("tb", "alice"))])
        self.assertEqual(sorted(tree(p.dir("tb", "alice"))), ["keep.bin"])
        self.assertIn("elsewhere/deep/f2.bin", tree(p.dir("ta", "admin")))

    def test_folder_renamed_out_with_a_folder_that_cannot_be_read(self):
        """A folder the admin renames out of alice's home, holding a
        folder the daemon cannot open at that moment: the files pushed
        from it leave her target all the same (the queue knows them),
        the log says which folder could not be read, and her target
        ends as her home is (no folder left there that its removal
        cannot take)."""
        inj = Faults(self)
        self.server = (lambda orig: lambda users, targets: inj.start(
            lambda: orig(users, targets)))(self.server)
        p, a, srv_home = self.admin_alice()
        alice_home = os.path.join(srv_home, "alice")
        adm = self.login(a, "admin")
        adm.mkd("/alice/sub")
        adm.mkd("/alice/sub/shut-x7")
        adm.mkd("/alice/sub/shut-x7/inner")
        self.put(adm, "/alice/sub/f1.bin", self.rand(1500))
        self.put(adm, "/alice/sub/shut-x7/f2.bin", self.rand(2500))
        self.put(adm, "/alice/sub/shut-x7/inner/f3.bin", self.rand(900))
        self.put(adm, "/alice/keep.bin", self.rand(700))
        self.assertMirrors(a, [(srv_home, p.dir("ta", "admin")),
                               (alice_home, p.dir("tb", "alice"))])
        self.assertIn("sub/shut-x7/inner/f3.bin", tree(p.dir("tb", "alice")))
        # Only the walk's open of the folder (a name, from its parent).
        inj.arm("openat 13 0 -1 shut-x7")
        adm.rename("/alice/sub", "/elsewhere")
        inj.disarm()
        self.assertMirrors(a, [(srv_home, p.dir("ta", "admin")),
                               (alice_home, p.dir("tb", "alice"))])
        self.assertEqual(sorted(tree(p.dir("tb", "alice"))), ["keep.bin"])
        self.assertIn("elsewhere/shut-x7/inner/f3.bin",
                      tree(p.dir("ta", "admin")))
        lines = [ln for ln in a.log_text().splitlines()
                 if "cannot be read here" in ln]
        self.assertEqual(len(lines), 1, a.log_text()[-3000:])
        self.assertIn("/sub/shut-x7", lines[0])
        self.assertIn("[alice]", lines[0])

    def test_folder_renamed_out_with_a_folder_that_cannot_be_listed(self):
        """A folder the admin renames out of alice's home, holding a
        folder that opens but whose listing fails (a mount of another
        file system that answers EIO or EACCES to getdents: a stale NFS
        or a FUSE mount): the files pushed from it leave her target
        all the same, as for a folder that cannot be opened, and the
        log names it."""
        inj = Faults(self)
        self.server = (lambda orig: lambda users, targets: inj.start(
            lambda: orig(users, targets)))(self.server)
        p, a, srv_home = self.admin_alice()
        alice_home = os.path.join(srv_home, "alice")
        adm = self.login(a, "admin")
        adm.mkd("/alice/sub")
        adm.mkd("/alice/sub/mnt-q4")
        adm.mkd("/alice/sub/mnt-q4/inner")
        self.put(adm, "/alice/sub/f1.bin", self.rand(1500))
        self.put(adm, "/alice/sub/mnt-q4/f2.bin", self.rand(2500))
        self.put(adm, "/alice/sub/mnt-q4/inner/f3.bin", self.rand(900))
        self.put(adm, "/alice/keep.bin", self.rand(700))
        self.assertMirrors(a, [(srv_home, p.dir("ta", "admin")),
                               (alice_home, p.dir("tb", "alice"))])
        self.assertIn("sub/mnt-q4/inner/f3.bin", tree(p.dir("tb", "alice")))
        # The folder's listing (readdir of its descriptor) fails.
        inj.arm("readdir 5 0 -1 mnt-q4")
        adm.rename("/alice/sub", "/elsewhere")
        inj.disarm()
        self.assertMirrors(a, [(srv_home, p.dir("ta", "admin")),
                               (alice_home, p.dir("tb", "alice"))])
        self.assertEqual(sorted(tree(p.dir("tb", "alice"))), ["keep.bin"])
        self.assertIn("elsewhere/mnt-q4/inner/f3.bin",
                      tree(p.dir("ta", "admin")))
        lines = [ln for ln in a.log_text().splitlines()
                 if "cannot be read here" in ln]
        self.assertEqual(len(lines), 1, a.log_text()[-3000:])
        self.assertIn("/sub/mnt-q4", lines[0])
        self.assertIn("Input/output error", lines[0])

    def test_folder_renamed_out_whose_listing_fails_at_its_end(self):
        """As above, the listing failing only at its end, after the
        walk found what the folder holds: each file and folder leaves
        her target once, and no removal of a folder already removed
        asks the admin to do it by hand."""
        inj = Faults(self)
        self.server = (lambda orig: lambda users, targets: inj.start(
            lambda: orig(users, targets)))(self.server)
        p, a, srv_home = self.admin_alice()
        alice_home = os.path.join(srv_home, "alice")
        adm = self.login(a, "admin")
        adm.mkd("/alice/sub")
        adm.mkd("/alice/sub/mnt-q5")
        adm.mkd("/alice/sub/mnt-q5/inner")
        self.put(adm, "/alice/sub/mnt-q5/f2.bin", self.rand(2500))
        self.put(adm, "/alice/sub/mnt-q5/inner/f3.bin", self.rand(900))
        self.put(adm, "/alice/keep.bin", self.rand(700))
        self.assertMirrors(a, [(srv_home, p.dir("ta", "admin")),
                               (alice_home, p.dir("tb", "alice"))])
        # The walk's readdir calls below mnt-q5: its 4 entries and end,
        # and inner's 3 and end nested in them; the 9th, always
        # mnt-q5's end, fails.
        inj.arm("readdir 5 8 1 mnt-q5")
        adm.rename("/alice/sub", "/elsewhere")
        inj.disarm()
        self.assertMirrors(a, [(srv_home, p.dir("ta", "admin")),
                               (alice_home, p.dir("tb", "alice"))])
        self.assertEqual(sorted(tree(p.dir("tb", "alice"))), ["keep.bin"])
        text = a.log_text()
        self.assertRegex(text, r"FAULT readdir\(\S*/alice/sub/mnt-q5\)")
        self.assertEqual(len([ln for ln in text.splitlines()
                              if "cannot be read here" in ln]), 1, text)
        self.assertNotIn("remove it there by hand", text)
        self.assertEqual(text.count(
            "mirror rmdir target=tb path=/alice/sub/mnt-q5/inner\n"), 1,
            text)
        self.assertEqual(text.count(
            "mirror delete target=tb path=/alice/sub/mnt-q5/f2.bin"), 1)

    def test_folder_renamed_out_and_back_while_the_target_is_down(self):
        """A folder the admin renames out of alice's home and back again
        while her target is down: the deletes queued for her target
        when it left run once the target answers, and the files the
        folder brought back reach her target again after them (the
        walk of her home that its return asks for must not take the
        files on record there for files the target will keep)."""
        p, a, srv_home = self.admin_alice()
        alice_home = os.path.join(srv_home, "alice")
        adm = self.login(a, "admin")
        adm.mkd("/alice/sub")
        adm.mkd("/alice/sub/deep")
        self.put(adm, "/alice/sub/f1.bin", self.rand(1500))
        self.put(adm, "/alice/sub/deep/f2.bin", self.rand(2500))
        self.assertMirrors(a, [(srv_home, p.dir("ta", "admin")),
                               (alice_home, p.dir("tb", "alice"))])
        p.stop()
        adm.rename("/alice/sub", "/elsewhere")
        adm.rename("/elsewhere", "/alice/sub")
        p.start()
        self.assertMirrors(a, [(srv_home, p.dir("ta", "admin")),
                               (alice_home, p.dir("tb", "alice"))])
        self.assertIn("sub/deep/f2.bin", tree(p.dir("tb", "alice")))

    def test_empty_folders_of_a_folder_renamed_into_the_nested_home(self):
        """A folder the admin renames into alice's home brings its empty
        folders to her target too (the walk of her home its arrival asks
        for pushes files only), and so does its return after a rename
        out of her home removed them there."""
        p, a, srv_home = self.admin_alice()
        alice_home = os.path.join(srv_home, "alice")
        adm = self.login(a, "admin")
        adm.mkd("/alice/keep")
        adm.mkd("/out")
        adm.mkd("/out/empty")
        adm.mkd("/out/d")
        adm.mkd("/out/d/empty2")
        self.put(adm, "/out/f1.bin", self.rand(1500))
        self.assertMirrors(a, [(srv_home, p.dir("ta", "admin")),
                               (alice_home, p.dir("tb", "alice"))])
        adm.rename("/out", "/alice/in")
        self.assertMirrors(a, [(srv_home, p.dir("ta", "admin")),
                               (alice_home, p.dir("tb", "alice"))])
        self.assertIn("in/d/empty2", tree(p.dir("tb", "alice")))
        p.stop()
        adm.rename("/alice/in", "/elsewhere")
        adm.rename("/elsewhere", "/alice/in")
        p.start()
        self.assertMirrors(a, [(srv_home, p.dir("ta", "admin")),
                               (alice_home, p.dir("tb", "alice"))])
        self.assertIn("in/empty", tree(p.dir("tb", "alice")))

    def test_files_another_program_writes_in_the_shared_folder(self):
        """Files another program writes into alice's folder (no FTP: the
        watcher sees them) are the admin's files too: both targets get
        them, whichever home the folder's one inotify watch went to."""
        p, a, srv_home = self.admin_alice()
        alice_home = os.path.join(srv_home, "alice")
        adm = self.login(a, "admin")
        # A folder made through the server, so both homes know it.
        adm.mkd("/alice/in")
        self.assertMirrors(a, [(srv_home, p.dir("ta", "admin")),
                               (alice_home, p.dir("tb", "alice"))])
        for rel in ("w1.bin", os.path.join("in", "w2.bin")):
            with open(os.path.join(alice_home, rel), "wb") as f:
                f.write(self.rand(1700))
        # The watcher's debounce, then the pushes.
        self.assertMirrors(a, [(srv_home, p.dir("ta", "admin")),
                               (alice_home, p.dir("tb", "alice"))],
                           timeout=30)
        self.assertIn(os.path.join("alice", "in", "w2.bin"),
                      tree(p.dir("ta", "admin")))

    def test_path_too_long_in_the_admins_home(self):
        """alice's file whose path is 4093 bytes: in the admin's home,
        /alice in front, it is longer than a path may be (4095). Her
        target gets it all the same, and the log says the admin's
        targets do not (it said nothing). The targets are commands that
        write down each event's user, path length and size."""
        rec = os.path.join(self.tmp, "runs.txt")
        prog = os.path.join(self.tmp, "on-event")
        with open(prog, "w") as f:
            f.write('#!/bin/sh\nprintf "%s %s %s %s\\n" '
                    '"$RELAYFTPD_EVENT" "$RELAYFTPD_USER" '
                    '"${#RELAYFTPD_PATH}" "$RELAYFTPD_SIZE" >> "$1"\n')
        os.chmod(prog, 0o755)
        srv_home = os.path.join(self.tmp, "srv")
        users = {
            "admin": {"password": "admin-pw", "home": srv_home,
                      "mirror": "ta"},
            "alice": {"password": "alice-pw",
                      "home": os.path.join(srv_home, "alice"),
                      "mirror": "tb"},
        }
        cmd = {"url": "exec:" + prog, "args": rec}
        a = self.server(users, {"ta": dict(cmd), "tb": dict(cmd)})
        ali = self.login(a, "alice")
        length = 0
        for i in range(16):
            name = "d%02d" % i + "x" * 247
            ali.mkd(name)
            ali.cwd(name)
            length += 1 + len(name)
        leaf = "f" * (4093 - length - 1)
        self.put(ali, leaf, self.rand(1234))
        want = "put alice 4093 1234"
        deadline = time.monotonic() + 30
        while True:
            runs = open(rec).read() if os.path.exists(rec) else ""
            said = "is not queued for [admin]" in a.log_text()
            if want in runs.splitlines() and said:
                break
            self.assertLess(time.monotonic(), deadline,
                            "runs: %r, said: %s\n%s" %
                            (runs, said, a.log_text()[-3000:]))
            time.sleep(0.1)
        self.assertNotIn("admin", runs)

    def test_upload_whose_folder_was_renamed_into_a_home(self):
        """The admin's upload into /x, whose folder another session
        renames into alice's home while the bytes arrive, is published
        as /alice/x/f.bin: alice's targets get it too, though the walk
        the rename asked of her home ran before it was there."""
        p, a, srv_home = self.admin_alice()
        alice_home = os.path.join(srv_home, "alice")
        adm, other = self.login(a, "admin"), self.login(a, "admin")
        adm.mkd("/x")
        self.put(adm, "/x/m.bin", self.rand(500))
        data = self.rand(64 * 1024)
        adm.voidcmd("TYPE I")
        conn = adm.transfercmd("STOR /x/f.bin")
        conn.sendall(data[:1000])
        other.rename("/x", "/alice/x")
        # The walk of alice's home the rename asked for has passed /x.
        deadline = time.monotonic() + 30
        while "x/m.bin" not in tree(p.dir("tb", "alice")):
            self.assertLess(time.monotonic(), deadline,
                            "m.bin never reached alice's target")
            time.sleep(0.05)
        conn.sendall(data[1000:])
        conn.close()
        adm.voidresp()
        self.assertIn("x/f.bin", tree(alice_home))
        self.assertMirrors(a, [(srv_home, p.dir("ta", "admin")),
                               (alice_home, p.dir("tb", "alice"))],
                           timeout=30)

    def test_nested_home_added_while_the_admin_uploads_into_it(self):
        """users.ini gains alice, whose home is the admin's /alice, and
        is read again (SIGHUP) while the admin's upload into /alice is
        under way: once published, the file is alice's too."""
        p = self.pyftpd()
        srv_home = os.path.join(self.tmp, "srv")
        alice_home = os.path.join(srv_home, "alice")
        os.makedirs(alice_home)
        users = {"admin": {"password": "admin-pw", "home": srv_home,
                           "mirror": "ta"}}
        a = self.server(users, {"ta": p.target("/ta", **PROPAGATE),
                                "tb": p.target("/tb", **PROPAGATE)})
        adm = self.login(a, "admin")
        self.put(adm, "/alice/before.bin", self.rand(900))
        data = self.rand(256 * 1024)
        adm.voidcmd("TYPE I")
        conn = adm.transfercmd("STOR /alice/during.bin")
        conn.sendall(data[:1000])
        a.users["alice"] = {"password": "alice-pw", "home": alice_home,
                            "mirror": "tb"}
        a.write_users()
        os.kill(a.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 30
        while "[alice]" not in a.log_text():
            self.assertLess(time.monotonic(), deadline,
                            "alice never watched\n" + a.log_text()[-3000:])
            time.sleep(0.05)
        conn.sendall(data[1000:])
        conn.close()
        adm.voidresp()
        self.assertMirrors(a, [(srv_home, p.dir("ta", "admin")),
                               (alice_home, p.dir("tb", "alice"))],
                           timeout=30)

    def test_home_named_through_a_symlink(self):
        """alice's home is named by a link to <srv>/alice: the same
        folder, so the admin's changes there are hers too."""
        p = self.pyftpd()
        srv_home = os.path.join(self.tmp, "srv")
        alice_real = os.path.join(srv_home, "alice")
        os.makedirs(alice_real)
        link = os.path.join(self.tmp, "alice-link")
        os.symlink(alice_real, link)
        users = {
            "admin": {"password": "admin-pw", "home": srv_home,
                      "mirror": "ta"},
            "alice": {"password": "alice-pw", "home": link,
                      "mirror": "tb"},
        }
        a = self.server(users, {"ta": p.target("/ta", **PROPAGATE),
                                "tb": p.target("/tb", **PROPAGATE)})
        adm = self.login(a, "admin")
        self.put(adm, "/alice/s.bin", self.rand(1100))
        self.put(adm, "/alice/t.bin", self.rand(1200))
        self.assertMirrors(a, [(srv_home, p.dir("ta", "admin")),
                               (alice_real, p.dir("tb", "alice"))])
        adm.rename("/alice/s.bin", "/alice/s2.bin")
        adm.delete("/alice/t.bin")
        self.assertMirrors(a, [(srv_home, p.dir("ta", "admin")),
                               (alice_real, p.dir("tb", "alice"))])
        self.assertEqual(sorted(tree(p.dir("tb", "alice"))), ["s2.bin"])

    def test_home_made_later_named_otherwise(self):
        """Homes not made yet when the server started, named otherwise
        than their real path (a trailing slash; through a link to the
        admin's folder): made later by the admin's MKD, the admin's
        changes in them are still their users' too."""
        p = self.pyftpd()
        srv_home = os.path.join(self.tmp, "srv")
        os.makedirs(srv_home)
        link = os.path.join(self.tmp, "link")
        os.symlink(srv_home, link)
        users = {
            "admin": {"password": "admin-pw", "home": srv_home,
                      "mirror": "ta"},
            "alice": {"password": "alice-pw",
                      "home": os.path.join(srv_home, "alice") + "/",
                      "mirror": "tb"},
            "bob": {"password": "bob-pw",
                    "home": os.path.join(link, "bob"), "mirror": "tc"},
        }
        a = MirrorServer(users=users, mirror=FAST_RETRY, targets={
            "ta": p.target("/ta", **PROPAGATE),
            "tb": p.target("/tb", **PROPAGATE),
            "tc": p.target("/tc", **PROPAGATE)})
        self.addCleanup(a.cleanup)
        self.addCleanup(lambda: a.proc is not None and a.stop(check=True))
        adm = self.login(a, "admin")
        for who in ("alice", "bob"):
            adm.mkd("/" + who)
            self.put(adm, "/%s/k.bin" % who, self.rand(900))
            self.put(adm, "/%s/gone.bin" % who, self.rand(300))
            adm.delete("/%s/gone.bin" % who)
        self.assertMirrors(a, [
            (srv_home, p.dir("ta", "admin")),
            (os.path.join(srv_home, "alice"), p.dir("tb", "alice")),
            (os.path.join(srv_home, "bob"), p.dir("tc", "bob"))])
        self.assertEqual(sorted(tree(p.dir("tb", "alice"))), ["k.bin"])
        self.assertEqual(sorted(tree(p.dir("tc", "bob"))), ["k.bin"])

    def test_through_a_link_in_the_admins_home(self):
        """/cur in the admin's home is a link to alice's home (fsgate
        follows links that stay inside): the admin's rename and delete
        of /cur/v.bin are alice's too."""
        p, a, srv_home = self.admin_alice()
        alice_home = os.path.join(srv_home, "alice")
        os.symlink("alice", os.path.join(srv_home, "cur"))
        adm = self.login(a, "admin")
        self.put(adm, "/cur/v.bin", self.rand(700))
        self.put(adm, "/cur/u.bin", self.rand(800))
        self.assertMirrors(a, [(alice_home, p.dir("tb", "alice"))])
        adm.rename("/cur/v.bin", "/cur/w.bin")
        adm.delete("/cur/u.bin")
        self.assertMirrors(a, [(alice_home, p.dir("tb", "alice"))],
                           timeout=30)
        self.assertEqual(sorted(tree(p.dir("tb", "alice"))), ["w.bin"])

    def test_excludes_of_one_user_stay_that_users(self):
        p, a, srv_home = self.admin_alice({"exclude": "*.tmp"})
        alice_home = os.path.join(srv_home, "alice")
        adm = self.login(a, "admin")
        self.put(adm, "/alice/k.tmp", self.rand(800))
        self.put(adm, "/alice/k.bin", self.rand(900))
        self.assertMirrors(a, [(srv_home, p.dir("ta", "admin"))])
        self.assertMirrors(a, [(alice_home, p.dir("tb", "alice"))],
                           skip=lambda rel: rel.endswith(".tmp"))
        self.assertIn(os.path.join("alice", "k.tmp"),
                      tree(p.dir("ta", "admin")))
        self.assertNotIn("k.tmp", tree(p.dir("tb", "alice")))

    def test_two_users_in_each_others_folders_in_a_loop(self):
        """Each change takes both users' change locks: taken own first,
        two sessions acting in the shared folder at once would wait for
        each other for good."""
        p, a, srv_home = self.admin_alice()
        alice_home = os.path.join(srv_home, "alice")
        rounds = 40
        errors = []

        def run(user, prefix):
            try:
                ftp = ftplib.FTP()
                ftp.connect("127.0.0.1", a.port, timeout=30)
                ftp.login(user, a.users[user]["password"])
                rng = random.Random(user)
                for i in range(rounds):
                    name = "%s%s-%d" % (prefix, user, i)
                    self.put(ftp, name + ".bin", rng.randbytes(200 + i))
                    ftp.rename(name + ".bin", name + ".r")
                    if i % 2:
                        ftp.delete(name + ".r")
                ftp.quit()
            except Exception as e:  # reported by the main thread
                errors.append("%s: %r" % (user, e))

        threads = [threading.Thread(target=run, args=("admin", "/alice/")),
                   threading.Thread(target=run, args=("alice", "/"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertFalse([t for t in threads if t.is_alive()],
                         "sessions hung (a deadlock?)\n%s" %
                         a.log_text()[-3000:])
        self.assertEqual(errors, [])
        self.assertEqual(len(os.listdir(alice_home)), rounds)
        self.assertMirrors(a, [(srv_home, p.dir("ta", "admin")),
                               (alice_home, p.dir("tb", "alice"))])


if __name__ == "__main__":
    unittest.main()
