"""What each permission of users.ini allows, by every command that could
do its work (found from outside: each was checked for its own verb only).

- Without `delete`: a STOR over a file (also empty: it truncated the file),
  a REST N + STOR below a file's end and an RNTO onto a file are refused
  (550, the file as it was); a new name is published only while it is
  still free (another program made it meanwhile: 553, that file kept, no
  partial left); an interrupted upload of a new name still resumes.
- Without `rmdir`: an RNTO of a folder onto an empty folder is refused.
- Without `append`: REST at a file's end + STOR is refused, as APPE is.
- With `append` and without `delete`: REST at the end + STOR appends.
- MLST's perm fact says "w" for a file only where STOR may replace it.
"""
import os
import re
import socket
import stat
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ServerCase, wait_for  # noqa: E402


def partial_sizes(home):
    return [os.path.getsize(os.path.join(home, n)) for n in os.listdir(home)
            if n.startswith(".rftpd-partial.")]


def interrupt_upload(test, c, home, lines, data, size):
    """Sends lines (REST first if any; the last a STOR answered 150), then
    data, and once a partial in home holds size bytes resets the data
    connection: an interrupted upload, its bytes kept (a FIN would end
    it)."""
    d = c.epsv()
    for line in lines[:-1]:
        test.assertEqual(c.cmd(line)[0], 350)
    test.assertEqual(c.cmd(lines[-1])[0], 150)
    d.sendall(data)
    test.assertTrue(wait_for(lambda: size in partial_sizes(home),
                             timeout=10), partial_sizes(home))
    d.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    d.close()
    test.assertIn(c.reply()[0], (426, 451))


class PermissionsTest(ServerCase):
    users = {
        # A drop box: makes and renames, never removes or extends.
        "alice": {"password": "alice-pw",
                  "permissions": "read write mkdir rename"},
        "app": {"password": "app-pw",
                "permissions": "read write append"},
    }

    def setUp(self):
        super().setUp()
        self.srv.start()
        self.addCleanup(self.srv.stop)

    def path(self, user, name):
        return os.path.join(self.srv.home(user), name)

    def read(self, user, name):
        with open(self.path(user, name), "rb") as f:
            return f.read()

    def partials(self, user):
        return [n for n in os.listdir(self.srv.home(user))
                if n.startswith(".rftpd-partial.")]

    def assertRefused(self, reply, why):
        code, text = reply
        self.assertEqual(code, 550, text)
        self.assertIn(why, text)

    def test_without_delete_nothing_is_replaced(self):
        c = self.connect()
        self.assertEqual(c.store("keep.db", b"precious")[0], 226)
        self.assertEqual(c.store("other", b"junk")[0], 226)
        needs = "replacing it needs the delete permission"
        self.assertRefused(c.store("keep.db", b"overwritten"), needs)
        self.assertRefused(c.store("keep.db", b""), needs)
        self.assertEqual(c.cmd("REST 3")[0], 350)
        self.assertRefused(c.store("keep.db", b"XX"), needs)
        self.assertEqual(c.cmd("RNFR other")[0], 350)
        self.assertRefused(c.cmd("RNTO keep.db"), needs)
        self.assertEqual(self.read("alice", "keep.db"), b"precious")
        self.assertEqual(self.read("alice", "other"), b"junk")
        self.assertEqual(c.cmd("DELE keep.db")[0], 550)
        # What the drop box may do still works: new names, renames to
        # free names, folders.
        self.assertEqual(c.cmd("RNFR other")[0], 350)
        self.assertEqual(c.cmd("RNTO moved")[0], 250)
        self.assertEqual(c.cmd("MKD d1")[0], 257)
        self.assertEqual(self.partials("alice"), [])
        self.assertIn("refused: it exists, and replacing it needs the "
                      "delete permission", self.srv.log_text())

    def test_without_rmdir_no_folder_is_replaced(self):
        c = self.connect()
        for name in ("src", "empty"):
            self.assertEqual(c.cmd("MKD " + name)[0], 257)
        self.assertEqual(c.store("src/f", b"x")[0], 226)
        self.assertEqual(c.cmd("RNFR src")[0], 350)
        self.assertRefused(c.cmd("RNTO empty"),
                           "replacing it needs the rmdir permission")
        self.assertTrue(os.path.isdir(self.path("alice", "empty")))
        self.assertEqual(self.read("alice", "src/f"), b"x")

    def test_without_append_rest_at_the_end_is_refused(self):
        c = self.connect()
        self.assertEqual(c.store("log.txt", b"hello")[0], 226)
        self.assertEqual(c.cmd("REST 5")[0], 350)
        self.assertRefused(c.store("log.txt", b" world"),
                           "appending to it needs the append permission")
        self.assertEqual(c.store("log.txt", b" world", verb="APPE")[0], 550)
        self.assertEqual(self.read("alice", "log.txt"), b"hello")

    def test_append_without_delete(self):
        c = self.connect("app")
        self.assertEqual(c.store("log.txt", b"hello")[0], 226)
        self.assertEqual(c.cmd("REST 5")[0], 350)
        self.assertEqual(c.store("log.txt", b" world")[0], 226)
        self.assertEqual(c.store("log.txt", b"!", verb="APPE")[0], 226)
        self.assertEqual(self.read("app", "log.txt"), b"hello world!")
        self.assertEqual(c.cmd("REST 2")[0], 350)
        self.assertRefused(c.store("log.txt", b"XX"),
                           "replacing it needs the delete permission")
        self.assertEqual(self.read("app", "log.txt"), b"hello world!")

    def test_a_name_made_during_the_upload_is_kept(self):
        c = self.connect()
        d = c.epsv()
        self.assertEqual(c.cmd("STOR race.bin")[0], 150)
        d.sendall(b"mine" * 1000)
        # The partial exists (the server has the bytes), then another
        # program makes the name.
        self.assertTrue(wait_for(lambda: self.partials("alice"), timeout=10))
        with open(self.path("alice", "race.bin"), "wb") as f:
            f.write(b"theirs")
        d.close()
        code, text = c.reply()
        self.assertEqual(code, 553, text)
        self.assertEqual(self.read("alice", "race.bin"), b"theirs")
        self.assertTrue(wait_for(lambda: not self.partials("alice"),
                                 timeout=10), self.partials("alice"))

    def test_an_interrupted_new_upload_resumes_without_delete(self):
        c = self.connect()
        interrupt_upload(self, c, self.srv.home("alice"), ["STOR big.bin"],
                         b"a" * 5000, 5000)
        code, text = c.cmd("SIZE big.bin")
        self.assertEqual((code, text.strip()), (213, "213 5000"))
        self.assertEqual(c.cmd("REST 5000")[0], 350)
        self.assertEqual(c.store("big.bin", b"b" * 3000)[0], 226)
        self.assertEqual(self.read("alice", "big.bin"),
                         b"a" * 5000 + b"b" * 3000)

    def test_mlst_w_only_where_stor_may_replace(self):
        def perm(user):
            c = self.connect(user)
            self.assertEqual(c.store("f", b"x")[0], 226)
            code, text = c.cmd("MLST f")
            self.assertEqual(code, 250, text)
            return re.search(r"perm=([a-z]*);", text).group(1)

        self.assertEqual(perm("alice"), "rf")
        self.assertEqual(perm("app"), "ra")


class AppendWithoutDeleteTest(ServerCase):
    """Ways around a missing delete permission through what append,
    rename, rmdir or delete alone allow (found by review)."""
    users = {
        "app": {"password": "app-pw",
                "permissions": "read write append rename"},
        "ao": {"password": "ao-pw", "permissions": "read append"},
        "dr": {"password": "dr-pw",
               "permissions": "read write delete rename"},
        "rr": {"password": "rr-pw",
               "permissions": "read write rmdir rename mkdir"},
    }

    def setUp(self):
        super().setUp()
        for user in self.users:
            os.makedirs(self.srv.home(user))
        self.srv.start()
        self.addCleanup(self.srv.stop)

    def path(self, user, name):
        return os.path.join(self.srv.home(user), name)

    def contents(self, user):
        out = {}
        for name in os.listdir(self.srv.home(user)):
            with open(self.path(user, name), "rb") as f:
                out[name] = f.read()
        return out

    def test_a_file_swapped_in_during_an_append_is_kept(self):
        c = self.connect("app")
        self.assertEqual(c.store("log.txt", b"hello")[0], 226)
        self.assertEqual(c.store("victim", b"PRECIOUS")[0], 226)
        for verb in ("REST", "APPE"):
            d = c.epsv()
            if verb == "REST":
                self.assertEqual(c.cmd("REST 5")[0], 350)
                self.assertEqual(c.cmd("STOR log.txt")[0], 150)
            else:
                self.assertEqual(c.cmd("APPE log.txt")[0], 150)
            d.sendall(b" world")
            self.assertTrue(wait_for(lambda: any(
                n.startswith(".rftpd-partial.") and os.path.getsize(
                    self.path("app", n)) == 11
                for n in os.listdir(self.srv.home("app"))), timeout=10))
            # Another session moves the log away and the victim in.
            c2 = self.connect("app")
            for frm, to in (("log.txt", "old.txt"), ("victim", "log.txt")):
                self.assertEqual(c2.cmd("RNFR " + frm)[0], 350)
                self.assertEqual(c2.cmd("RNTO " + to)[0], 250)
            d.close()
            code, text = c.reply()
            self.assertEqual(code, 553, text)
            self.assertIn("another took its name", text)
            self.assertEqual(self.contents("app"),
                             {"old.txt": b"hello", "log.txt": b"PRECIOUS"})
            # Back for the next round.
            for frm, to in (("log.txt", "victim"), ("old.txt", "log.txt")):
                self.assertEqual(c2.cmd("RNFR " + frm)[0], 350)
                self.assertEqual(c2.cmd("RNTO " + to)[0], 250)

    def start_append(self, c, name, data):
        """An APPE of name whose bytes have arrived, its data connection
        still open; returns the data socket."""
        size = os.path.getsize(self.path("app", name)) + len(data)
        d = c.epsv()
        self.assertEqual(c.cmd("APPE " + name)[0], 150)
        d.sendall(data)
        self.assertTrue(wait_for(lambda: any(
            n.startswith(".rftpd-partial.") and os.path.getsize(
                self.path("app", n)) == size
            for n in os.listdir(self.srv.home("app"))), timeout=10))
        return d

    def test_an_inode_freed_during_an_append_is_not_taken_for_its_file(self):
        """The file an append began from is held open: its inode cannot
        be given to a new file that a rename then puts under the name
        (on ext4 one was, and the append replaced it; tmpfs never reuses
        an inode number soon, so there only the 553 is checked)."""
        a, b = self.connect("app"), self.connect("app")
        self.assertEqual(a.store("f", b"original\n")[0], 226)
        ino = os.stat(self.path("app", "f")).st_ino
        d = self.start_append(a, "f", b"A\n")
        self.assertEqual(b.cmd("RNFR f")[0], 350)
        self.assertEqual(b.cmd("RNTO g")[0], 250)
        self.assertEqual(b.store("g", b"B\n", verb="APPE")[0], 226)
        victims = {}
        for i in range(40):
            name = "h%d" % i
            victims[name] = b"precious %d\n" % i
            self.assertEqual(b.store(name, victims[name])[0], 226)
            if os.stat(self.path("app", name)).st_ino == ino:
                break
        self.assertEqual(b.cmd("RNFR " + name)[0], 350)
        self.assertEqual(b.cmd("RNTO f")[0], 250)
        d.close()
        self.assertEqual(a.reply()[0], 553)
        have = set(self.contents("app").values())
        for data in victims.values():
            self.assertIn(data, have)

    def test_bytes_another_program_writes_during_an_append_are_kept(self):
        c = self.connect("app")
        self.assertEqual(c.store("log", b"one\n")[0], 226)
        d = self.start_append(c, "log", b"mine\n")
        with open(self.path("app", "log"), "ab") as f:
            f.write(b"theirs\n")
        d.close()
        code, text = c.reply()
        self.assertEqual(code, 553, text)
        self.assertEqual(self.contents("app"), {"log": b"one\ntheirs\n"})

    def test_an_old_partial_is_not_published_over_a_renamed_file(self):
        c = self.connect("app")
        self.assertEqual(c.store("victim", b"PRECIOUS")[0], 226)
        interrupt_upload(self, c, self.srv.home("app"), ["STOR n"],
                         b"J" * 8, 8)
        self.assertEqual(c.cmd("RNFR victim")[0], 350)
        self.assertEqual(c.cmd("RNTO n")[0], 250)
        # An append at the file's end: the junk partial, which only a
        # replace could publish, is dropped (it would block every append
        # for good), and the append is of the file itself.
        self.assertEqual(c.cmd("REST 8")[0], 350)
        code, text = c.store("n", b"+")
        self.assertEqual(code, 226, text)
        self.assertEqual(self.contents("app"), {"n": b"PRECIOUS+"})
        self.assertIn("dropped the interrupted upload of 8 bytes beside /n",
                      self.srv.log_text())
        # Below the end it is a replace: refused.
        self.assertEqual(c.cmd("REST 3")[0], 350)
        code, text = c.store("n", b"XX")
        self.assertEqual(code, 550, text)
        self.assertEqual(self.contents("app"), {"n": b"PRECIOUS+"})

    def test_an_interrupted_append_leaves_no_partial(self):
        c = self.connect("app")
        self.assertEqual(c.store("log.txt", b"hello")[0], 226)
        interrupt_upload(self, c, self.srv.home("app"),
                         ["REST 5", "STOR log.txt"], b" wor", 9)
        # Nothing was left that only a replace could resume: APPE goes on
        # from the file.
        self.assertEqual(c.store("log.txt", b" world", verb="APPE")[0], 226)
        self.assertEqual(self.contents("app"), {"log.txt": b"hello world"})

    def test_appe_over_a_fifo_or_link_needs_delete(self):
        with open(self.path("ao", "target"), "wb") as f:
            f.write(b"T")
        os.mkfifo(self.path("ao", "pipe"))
        os.symlink("target", self.path("ao", "link"))
        c = self.connect("ao")
        for name in ("pipe", "link"):
            code, text = c.store(name, b"x", verb="APPE")
            self.assertEqual(code, 550, text)
        self.assertTrue(stat.S_ISFIFO(os.lstat(self.path("ao", "pipe")).st_mode))
        self.assertTrue(os.path.islink(self.path("ao", "link")))

    def test_each_replace_needs_only_its_own_permission(self):
        c = self.connect("dr")  # delete, no rmdir: a file over a file
        self.assertEqual(c.store("a", b"new")[0], 226)
        self.assertEqual(c.store("b", b"old")[0], 226)
        self.assertEqual(c.cmd("RNFR a")[0], 350)
        self.assertEqual(c.cmd("RNTO b")[0], 250)
        c = self.connect("rr")  # rmdir, no delete: a folder over a folder
        for name in ("src", "empty"):
            self.assertEqual(c.cmd("MKD " + name)[0], 257)
        self.assertEqual(c.cmd("RNFR src")[0], 350)
        self.assertEqual(c.cmd("RNTO empty")[0], 250)


class ReadWriteUserTest(ServerCase):
    """rw, the default: every replace works as before."""

    def test_replaces(self):
        self.srv.start()
        self.addCleanup(self.srv.stop)
        c = self.connect()
        for data in (b"one", b"", b"three"):
            self.assertEqual(c.store("f", data)[0], 226)
        self.assertEqual(c.cmd("REST 2")[0], 350)
        self.assertEqual(c.store("f", b"XX")[0], 226)
        self.assertEqual(c.store("g", b"gee")[0], 226)
        self.assertEqual(c.cmd("RNFR g")[0], 350)
        self.assertEqual(c.cmd("RNTO f")[0], 250)
        with open(os.path.join(self.home, "f"), "rb") as f:
            self.assertEqual(f.read(), b"gee")
        code, text = c.cmd("MLST f")
        self.assertIn("perm=rwadf;", text)


if __name__ == "__main__":
    unittest.main(verbosity=2)
