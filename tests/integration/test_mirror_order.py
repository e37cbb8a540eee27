#!/usr/bin/env python3
"""The mirror's ordering rules, one deterministic case each (issue 8
section 5; test_converge.py is the random counterpart).

A pyftpdlib target "p" with propagate_deletes and propagate_renames on. The
target is stopped while the events are queued, then started again, so the
order the queue keeps (not the timing of the workers) decides the result:

- a new upload is not merged into an older queued upload of its path when
  a rename into that path was queued between them (the target used to end
  with the renamed file's old bytes under the name, and an empty queue);
- an upload whose folder another session renames during the transfer
  (watch = off, so only the server reports it) reaches the target under
  the folder's new name;
- a delete parked after max_attempts = 1 holds back a newer upload of the
  same name, so `relayftpd mirror retry` can never replay the delete over
  the newer file;
- MKD and RMD reach the target (empty folders included);
- an upload whose folder a program replaced by a file before its push
  (ENOTDIR on the source) is forgotten and the home scanned again, not
  failed for ever;
- a push parked after its temporary copy reached the target (the target
  refused the rename and the delete) leaves no temporary copy behind once
  `mirror retry` runs it again after its file was deleted (the retry used
  to reset the attempts that told the worker a copy might be there).
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
from mirror_targets import (MirrorServer, PyftpdTarget, drained,  # noqa: E402
                            no_temp_files, read, tree, wait_files,
                            wait_status)

PROPAGATE = {"propagate_deletes": "on", "propagate_renames": "on"}


class OrderTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rftp-order-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def start(self, mirror=None, watch="on", perm=None):
        self.p = PyftpdTarget(**({"perm": perm} if perm else {}))
        self.addCleanup(self.p.cleanup)
        opts = {"queue": os.path.join(self.tmp, "queue.db"),
                "retry_initial": "1", "retry_max": "1", "watch": watch}
        opts.update(mirror or {})
        self.a = MirrorServer(mirror=opts,
                              targets={"p": self.p.target("/base",
                                                          **PROPAGATE)})
        self.addCleanup(self.a.cleanup)
        self.root = self.p.dir("base", "alice")

    def ftp(self):
        f = ftplib.FTP()
        f.encoding = "utf-8"
        f.connect("127.0.0.1", self.a.port, timeout=30)
        f.login("alice", "alice-pw")
        self.addCleanup(f.close)
        return f

    def drain(self, timeout=60):
        st = wait_status(self.a, drained("p"), timeout=timeout)
        self.assertTrue(drained("p")(st), "not drained: %s\n%s" %
                        (st, self.a.log_text()[-3000:]))
        return st

    def arrived(self, files, timeout=60):
        bad = wait_files(self.root, files, timeout=timeout)
        self.assertEqual(bad, {}, "at %s: %s\n%s" % (
            self.root, bad, self.a.log_text()[-3000:]))

    def tree(self, root):
        return tree(root)

    def test_put_not_merged_across_rename(self):
        # A long first backoff: the second upload surely finds the first
        # one's job waiting (queued), which is when it used to merge.
        self.start(mirror={"retry_initial": "4", "retry_max": "4"})
        f = self.ftp()
        f.storbinary("STOR B", io.BytesIO(b"old B"))
        self.arrived({"B": b"old B"})
        self.drain()
        self.p.stop()
        f.storbinary("STOR A", io.BytesIO(b"first A"))
        f.sendcmd("RNFR B")
        f.voidcmd("RNTO A")
        st = wait_status(self.a, lambda s: s["p"]["state"] == "backoff" and
                         s["p"]["running"] == 0, timeout=30)
        self.assertEqual(st["p"]["state"], "backoff", st)
        f.storbinary("STOR A", io.BytesIO(b"newest A"))
        self.p.start()
        self.drain()
        self.arrived({"A": b"newest A"})
        self.assertFalse(os.path.exists(os.path.join(self.root, "B")))
        self.assertEqual(self.tree(self.root), self.tree(self.a.home("alice")))

    def test_upload_into_renamed_folder(self):
        self.start(watch="off")
        f, g = self.ftp(), self.ftp()
        f.mkd("/d")
        f.voidcmd("TYPE I")
        data = os.urandom(64 * 1024)
        conn = f.transfercmd("STOR /d/f.bin")
        conn.sendall(data[:1000])
        # Another session renames the folder while the upload runs.
        g.sendcmd("RNFR /d")
        g.voidcmd("RNTO /e")
        conn.sendall(data[1000:])
        conn.close()
        f.voidresp()
        self.assertEqual(read(os.path.join(self.a.home("alice"), "e",
                                           "f.bin")), data)
        self.arrived({"e/f.bin": data})
        self.drain()
        self.assertFalse(os.path.exists(os.path.join(self.root, "d")))
        self.assertEqual(self.tree(self.root), self.tree(self.a.home("alice")))

    def test_source_folder_replaced_by_file(self):
        # An upload's job waits while the target is down; meanwhile a
        # program (not the server: watch = off, so no job tells of it)
        # replaces its folder by a file of the same name. Opening the
        # source then fails with ENOTDIR, which is "gone", like ENOENT:
        # the job is forgotten and the home scanned again, so the file
        # reaches the target. The push used to fail with "Not a
        # directory" for ever (retried, parked, retried).
        # The second attempt 5 s after the first: the target is back by
        # then (with 1 s, under ASan on a loaded host, it came while the
        # target was still down, could not remove a copy there and
        # parked the job: two attempts).
        self.start(watch="off", mirror={"max_attempts": "2",
                                        "retry_initial": "5",
                                        "retry_max": "5"})
        self.p.stop()
        home = self.a.home("alice")
        # The folder, too, is a program's: no job makes it on the target
        # (a folder there would be another matter: a file cannot replace
        # it by a rename).
        os.makedirs(os.path.join(home, "d"))
        f = self.ftp()
        f.storbinary("STOR /d/f", io.BytesIO(b"in the folder"))
        # The job is tried (the target is down: it waits) before the
        # folder is replaced; a first attempt that ran between the
        # replacement's two steps would find neither and its rescan
        # nothing, and with watch = off nothing else would tell.
        st = wait_status(self.a, lambda s: s["p"]["last_error"] not in
                         ('""', '"-"'), timeout=30)
        self.assertNotIn(st["p"]["last_error"], ('""', '"-"'), st)
        shutil.rmtree(os.path.join(home, "d"))
        with open(os.path.join(home, "d"), "wb") as out:
            out.write(b"a file now")
        self.p.start()
        self.arrived({"d": b"a file now"})
        st = self.drain()
        self.assertEqual(st["p"]["failed"], 0, st)
        self.assertEqual(self.tree(self.root), self.tree(home))

    def test_parked_delete_holds_back_newer_upload(self):
        self.start(mirror={"max_attempts": "1"})
        f = self.ftp()
        f.storbinary("STOR x", io.BytesIO(b"version 1"))
        self.arrived({"x": b"version 1"})
        self.drain()
        self.p.stop()
        f.delete("x")
        st = wait_status(self.a, lambda s: s["p"]["failed"] == 1, timeout=30)
        self.assertEqual(st["p"]["failed"], 1, st)
        self.p.start()
        f.storbinary("STOR x", io.BytesIO(b"version 2"))
        # The old order let the upload overtake the parked delete; give it
        # the chance (a bounded wait; arriving now is allowed either way).
        wait_for(lambda: os.path.exists(os.path.join(self.root, "x")) and
                 read(os.path.join(self.root, "x")) == b"version 2",
                 timeout=4)
        r = self.a.retry()
        self.assertEqual(r.returncode, 0, r.stderr)
        st = wait_status(self.a, lambda s: drained("p")(s) and
                         s["p"]["failed"] == 0, timeout=30)
        self.assertEqual((st["p"]["queued"], st["p"]["failed"]), (0, 0), st)
        self.arrived({"x": b"version 2"})
        self.assertEqual(self.tree(self.root), self.tree(self.a.home("alice")))

    def test_mkd_rmd_mirrored(self):
        self.start()
        f = self.ftp()
        f.mkd("/empty")
        f.mkd("/gone")
        f.mkd("/gone/sub")
        self.drain()
        self.assertTrue(wait_for(lambda: os.path.isdir(
            os.path.join(self.root, "gone", "sub")), timeout=20))
        f.rmd("/gone/sub")
        f.rmd("/gone")
        self.drain()
        self.assertTrue(wait_for(lambda: not os.path.exists(
            os.path.join(self.root, "gone")), timeout=20))
        self.assertTrue(os.path.isdir(os.path.join(self.root, "empty")))
        self.assertEqual(no_temp_files(self.p.root), [])
        self.assertEqual(self.tree(self.root), self.tree(self.a.home("alice")))

    def test_parked_push_temp_removed_after_retry(self):
        # No "d" (delete) and no "f" (rename): the copy is stored under its
        # temporary name, then neither published nor removed.
        self.start(mirror={"max_attempts": "1"}, perm="elrawmMT")
        f = self.ftp()
        f.storbinary("STOR gone.bin", io.BytesIO(b"x" * 3000))
        st = wait_status(self.a, lambda s: s["p"]["failed"] == 1, timeout=30)
        self.assertEqual(st["p"]["failed"], 1, st)
        self.assertEqual(len(no_temp_files(self.p.root, timeout=0)), 1,
                         "the refused publish left no temporary copy")
        f.delete("gone.bin")
        self.p.stop()
        self.p.perm = "elradfmwMT"
        self.p.start()
        r = self.a.retry()
        self.assertEqual(r.returncode, 0, r.stderr)
        st = wait_status(self.a, lambda s: drained("p")(s) and
                         s["p"]["failed"] == 0, timeout=30)
        self.assertEqual((st["p"]["queued"], st["p"]["failed"]), (0, 0), st)
        self.assertEqual(no_temp_files(self.p.root), [],
                         self.a.log_text()[-3000:])
        self.assertEqual(self.tree(self.root), self.tree(self.a.home("alice")))


if __name__ == "__main__":
    unittest.main()
