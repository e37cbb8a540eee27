"""sftp targets under attack: hostile names, host keys, key logins.

Against a real OpenSSH sshd (internal-sftp) as the downstream target:

- names: uploads named with '"', '\\', spaces, a leading '-', '*', '%',
  "'", '~' and UTF-8 (files and folders), then renamed and deleted with
  propagate_renames/propagate_deletes on, end on the target under exactly
  their own names and nowhere else: the target's whole tree is compared,
  a folder outside the target's base stays empty, and the log shows the
  target's own rename and delete did it. The same round runs over FTP (a
  second relayftpd and pyftpdlib: RNFR/RNTO/DELE carry names verbatim);
- the attack of issue 8: a folder "x" is mirrored, then a file named
  'x" /<abs path on the target> /f' is uploaded and renamed. Before the
  quoting fix the rename command's quoted path ended at the '"' and the
  target moved the folder "x" to the absolute path;
- host keys: host_key_sha256 of another key refuses the push and keeps the
  job (mirror status shows it queued with the reason), the right one
  delivers it after a restart; known_hosts with another key for the host,
  or without the host, refuses (and the file is not changed: no "trust on
  first use"), and once the admin puts the right line in, the kept job is
  delivered; an sftp target without a host key check is an error for
  `relayftpd check` and at start, unless host_key_verify = off, which
  `check` and the daemon report as a warning;
- key logins: an sshd that accepts only public keys takes private_key
  (public key derived), and a passphrase-protected key with public_key and
  passphrase_file; a password-only target is refused there and keeps its
  job;
- hung servers: one that stops answering mid-session (its processes
  stopped) or never sends its SSH banner fails the push within the
  target's timeout, not libssh2's 60 s or the 15 s connect timeout, the
  retry delivers once it answers, and the daemon's exit finds no libssh2
  session lost (make test-asan); a client's pause and a long listing are
  no hang;
- a server that holds its reply to one request (sftp_stall.py behind
  sshd: the file's CLOSE, the stat that verifies it, the RENAME that
  publishes it, a folder's MKDIR) fails the push within the target's
  timeout with a line naming the step, the retry delivers the file once
  and whole, and SIGTERM meanwhile ends the daemon at once; a CLOSE
  answered with a failure fails the push (the copy may not be whole);
- a full target (a 1 MiB tmpfs): the push fails saying its server
  stopped taking the file (not libcurl's bare "Error in the SSH layer"),
  its part is removed, a smaller file after it arrives at once; one out
  of inodes names that among the causes of OpenSSH's nameless failure.

Runs as root (it makes a temporary local account for sshd, like
test_mirror_more.py); skips and says why otherwise. Debian: openssh-server,
openssh-client, passwd, python3-pyftpdlib. About 20 s, and 70 s for a hung sftp
server (its error names the timeout).
"""
import io
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import BINARY, mount_tmpfs, wait_for  # noqa: E402
from mirror_targets import (  # noqa: E402
    log_field,
    MirrorServer, list_files, relay_dir, relay_target_spec, sigterm_timed,
    wait_status)
import mirror_peers  # noqa: E402
from mirror_peers import (  # noqa: E402
    SshdPeer, make_tree_dir, sha256_fingerprint, ssh_keygen)
import test_mirror_more as tmm  # noqa: E402
from test_mirror_exec import children_of  # noqa: E402

# watch off: uploads reach the mirror once, through FTP. Two attempts
# before parking: the attack test needs a failed push (old code) to step
# aside for the rename that follows it.
MIRROR = {"watch": "off", "retry_initial": "1", "retry_max": "2",
          "max_attempts": "2"}
# Kept jobs must stay queued while the test looks at them.
KEEP = {"watch": "off", "retry_initial": "1", "retry_max": "2"}

UTF8 = "caf\u00e9 \u65e5\u672c \U0001F4C1"


class SftpBase(tmm.Base):

    def setUp(self):
        super().setUp()
        self.user = self.system_user(mirror_peers.SSHD,
                                     mirror_peers.SSH_KEYGEN)
        self.data = os.path.join(self.user.home, "data")
        make_tree_dir(self.data, owner=self.user)
        # Somewhere the target account may write, outside every base:
        # nothing may ever land here.
        self.outside = os.path.join(self.data, "outside")
        make_tree_dir(self.outside, owner=self.user)

    def sshd(self, **kw):
        s = SshdPeer(self.user, **kw)
        self.addCleanup(s.cleanup)
        return s

    def base(self, name="base"):
        b = os.path.join(self.data, name)
        make_tree_dir(b, owner=self.user)
        return b

    def one_worker(self, sshd, timeout):
        """A daemon mirroring to sshd (its folder base) with the target's
        timeout, one worker, no express lane, retries after 1 to 2 s;
        (alice's folder on the target, the daemon, a session of alice's).
        """
        base = self.base()
        spec = {"url": sshd.url(base), "timeout": str(timeout),
                "host_key_sha256": sshd.host_key_sha256()}
        srv = self.mirror_server({"s": spec}, mirror={
            "watch": "off", "workers_per_target": "1",
            "express_max_size": "0", "retry_initial": "1",
            "retry_max": "2"})
        return os.path.join(base, "alice"), srv, self.ftp(srv)

    def first_file(self, dest, srv, f):
        """a.bin, 100 bytes, uploaded and on the target; {name: bytes}."""
        files = {"a.bin": self.rand(100)}
        self.put(f, "/a.bin", files["a.bin"])
        self.assertArrived(dest, files, srv)
        return files

    def tree(self, root):
        """Every file and folder under root, relative, sorted."""
        out = []
        for dirpath, dirs, files in os.walk(root):
            for n in dirs:
                out.append(os.path.relpath(os.path.join(dirpath, n),
                                           root) + "/")
            for n in files:
                out.append(os.path.relpath(os.path.join(dirpath, n), root))
        return sorted(out)

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()

    def wait_status_of(self, srv, name, pred, timeout=30):
        st = wait_status(srv, lambda s: name in s and pred(s[name]),
                         timeout=timeout)
        if name not in st or not pred(st[name]):
            self.fail("status of %s never matched: %s%s" %
                      (name, st.get(name), self.diag(srv)))
        return st[name]


# ----------------------------------------------------------- hostile names

class NamesTest(SftpBase):

    def server(self, sshd, base):
        spec = {"url": sshd.url(base), "verify": "size",
                "host_key_sha256": sshd.host_key_sha256(),
                "propagate_deletes": "on", "propagate_renames": "on"}
        return self.mirror_server({"s": spec}, mirror=MIRROR)

    def settle(self, srv, f, dest):
        """Waits until everything before now reached the target: a marker
        uploaded last arrives, and nothing is queued or running."""
        marker = self.rand(33)
        self.put(f, "/zz-marker", marker)
        self.assertArrived(dest, {"zz-marker": marker}, srv)
        self.assertDrained(srv)
        f.delete("/zz-marker")
        self.assertGone(os.path.join(dest, "zz-marker"), srv)
        self.assertDrained(srv)

    def test_the_attack_moves_nothing(self):
        """Issue 8: the upload 'x" ABS /f' (the folders on the way made
        with MKD, as any user may) must not move the folder "x" to ABS."""
        sshd = self.sshd()
        base = self.base()
        dest = os.path.join(base, "alice")
        srv = self.server(sshd, base)
        f = self.ftp(srv)
        payload = b"ssh-ed25519 AAAA attacker\n"
        f.mkd("/x")
        self.put(f, "/x/authorized_keys", payload)
        self.assertArrived(dest, {"x/authorized_keys": payload}, srv, sshd)
        stolen = os.path.join(self.outside, "stolen")
        evil = 'x" %s /f' % stolen
        folder = ""
        for part in evil.split("/")[:-1]:
            folder += "/" + part
            f.mkd(folder)
        data = self.rand(1000)
        self.put(f, "/" + evil, data)
        self.settle(srv, f, dest)
        self.assertEqual(self.tree(self.outside), [],
                         "the target wrote outside its base" +
                         self.diag(srv, sshd))
        self.assertEqual(list_files(self.data),
                         ["base/alice/" + evil,
                          "base/alice/x/authorized_keys"],
                         self.diag(srv, sshd))
        # And through the rename quote command.
        f.rename("/" + evil, "/" + evil[:-1] + "g")
        self.settle(srv, f, dest)
        self.assertEqual(self.tree(self.outside), [],
                         "the target wrote outside its base" +
                         self.diag(srv, sshd))
        self.assertEqual(list_files(self.data),
                         ["base/alice/" + evil[:-1] + "g",
                          "base/alice/x/authorized_keys"],
                         self.diag(srv, sshd))
        self.assertEqual(self.read(os.path.join(dest, evil[:-1] + "g")),
                         data)
        self.assertEqual(self.log_lines(srv, "mirror push failed"), [])

    def test_hostile_names_arrive_exactly(self):
        sshd = self.sshd()
        base = self.base()
        srv = self.server(sshd, base)
        hostile_round(self, srv, os.path.join(base, "alice"), sshd)
        self.assertEqual(self.tree(self.outside), [],
                         "the target wrote outside its base")
        self.assertEqual(sorted(os.listdir(self.data)), ["base", "outside"])
        self.assertEqual(sorted(os.listdir(base)), ["alice"])


    def test_empty_file_arrives(self):
        # libcurl gives a 0-byte SFTP file as of unknown size (-1): the
        # verify of an empty upload failed for ever and backed the whole
        # target off (found by an outside battery). The files after it
        # arrive at once, and so does it.
        sshd = self.sshd()
        base = self.base()
        srv = self.server(sshd, base)
        f = self.ftp(srv)
        want = {"empty.txt": b""}
        self.put(f, "/empty.txt", b"")
        for i in range(5):
            want["after%d.txt" % i] = self.rand(100)
            self.put(f, "/after%d.txt" % i, want["after%d.txt" % i])
        self.assertArrived(os.path.join(base, "alice"), want, srv)
        self.assertDrained(srv)
        self.assertNotIn("verify: target has -1 bytes", srv.log_text())

    def test_folders_made_or_said_why_not(self):
        # Each level was made with a "*mkdir" that ignores every error:
        # a folder under a URL folder not made yet, or where the target
        # holds a file by its name, was logged as made and its job
        # dropped (found by an outside battery).
        sshd = self.sshd()
        parent = self.base()
        base = os.path.join(parent, "not-yet")   # the URL's folder
        srv = self.server(sshd, base)
        f = self.ftp(srv)
        f.mkd("/D")
        f.mkd("/D/in")
        self.assertTrue(wait_for(
            lambda: os.path.isdir(os.path.join(base, "alice", "D", "in")),
            timeout=30), self.diag(srv))
        self.assertDrained(srv)
        # A file in the folder's place on the target: said, not dropped.
        with open(os.path.join(base, "alice", "Blocked"), "w") as fh:
            fh.write("stale\n")
        f.mkd("/Blocked")
        st = self.wait_status_of(
            srv, "s", lambda s: "no folder there after mkdir" in
            s.get("last_error", ""))
        self.assertGreaterEqual(st["queued"] + st["failed"], 1, st)
        self.assertIn("mirror push failed target=s path=/alice/Blocked",
                      srv.log_text())
        self.assertNotIn("mirror mkdir target=s path=/alice/Blocked",
                         srv.log_text())


class TooLongPathSftpTest(SftpBase):
    """A home path that, under the target's folder, passes the 4,095
    bytes a target path may have: no retry changes the length, and with
    max_attempts 0 (the default) the job was retried every backoff for
    ever and the target shown failing. Now parked at once, the reason
    in `mirror status`, and the target's other jobs go on."""

    def test_path_too_long_for_the_target_parks_at_once(self):
        s = self.sshd()
        b = self.base()
        spec = {"url": s.url(b), "host_key_sha256": s.host_key_sha256()}
        srv = self.mirror_server({"s": spec}, mirror={
            "watch": "off", "retry_initial": "1", "retry_max": "2"})
        f = self.ftp(srv)
        deep = ""
        for i in range(16):
            deep += "/d%02d" % i + "x" * 249
            f.mkd(deep)
        self.put(f, "/other", b"o")
        self.assertArrived(os.path.join(b, "alice"), {"other": b"o"}, srv)
        st = self.wait_status_of(srv, "s", lambda t: t["failed"] == 1,
                                 timeout=20)
        self.assertIn("path too long for the target", st["last_error"])
        self.assertIn("no retry changes that", st["last_error"])
        self.assertNotEqual(st["state"], "failing", st)
        lines = self.log_lines(srv, "mirror push failed target=s ")
        self.assertEqual(len(lines), 1, self.diag(srv))
        self.assertIn("attempt=1", lines[0])
        self.assertIn("parked", lines[0])
        more = self.rand(20)
        self.put(f, "/more", more)
        self.assertArrived(os.path.join(b, "alice"), {"more": more}, srv)
        self.assertEqual(len(self.log_lines(
            srv, "mirror push failed target=s ")), 1, self.diag(srv))


class FolderRenameSftpTest(SftpBase):

    def test_folder_renamed_onto_an_empty_folder_then_replaced(self):
        # RNFR /d, RNTO /e over an empty folder e (the home replaces it;
        # OpenSSH refuses), then /e removed and uploaded as a file, all
        # while the target was down. The empty folder e was removed on
        # the target only if the home still had a folder at /e when the
        # rename's turn came: here a file, so the rename was repaired by
        # pushing the new name, and d stayed on the target for good
        # (found by test_converge_kinds.py).
        sshd = self.sshd()
        base = self.base()
        dest = os.path.join(base, "alice")
        srv = self.mirror_server(
            {"s": {"url": sshd.url(base), "verify": "size",
                   "host_key_sha256": sshd.host_key_sha256(),
                   "propagate_deletes": "on",
                   "propagate_renames": "on"}}, mirror=KEEP)
        f = self.ftp(srv)
        f.mkd("/d")
        f.mkd("/e")
        self.assertTrue(wait_for(
            lambda: os.path.isdir(os.path.join(dest, "e")), timeout=30),
            self.diag(srv))
        self.assertDrained(srv)
        sshd.stop()
        f.rename("/d", "/e")
        f.rmd("/e")
        self.put(f, "/e", b"a file now")
        sshd.start(port=sshd.port)
        self.assertDrained(srv, timeout=60)
        self.assertEqual(self.tree(dest), ["e"], self.diag(srv))
        self.assertEqual(self.read(os.path.join(dest, "e")), b"a file now")


class OwnFolderSftpTest(SftpBase):

    def test_own_folder_at_a_file_name_parks_the_job(self):
        # A folder of the target's own at a home file's name: OpenSSH
        # refuses the rename of the copy onto it ("Operation failed"),
        # the job is parked at once naming the place, other files go on
        # (a file refused in its copy, as by a folder closed to writes,
        # is not probed: test_mirror_more TargetOwnFolderTest).
        sshd = self.sshd()
        base = self.base()
        dest = os.path.join(base, "alice")
        make_tree_dir(dest, owner=self.user)
        make_tree_dir(os.path.join(dest, "report"), owner=self.user)
        srv = self.mirror_server(
            {"s": {"url": sshd.url(base), "verify": "size",
                   "host_key_sha256": sshd.host_key_sha256()}}, mirror=KEEP)
        f = self.ftp(srv)
        self.put(f, "/report", b"r" * 500)
        self.put(f, "/other", b"o" * 40)
        st = self.wait_status_of(srv, "s", lambda s: s["failed"] == 1)
        self.assertIn("holds a folder of its own at sftp://", st["last_error"])
        self.assertIn("/base/alice/report", st["last_error"])
        self.assertNotIn("@", st["last_error"])
        # libcurl's words for the refused rename, and what they may mean:
        # the taken name first, not only a full disk (said so since
        # 12096fe, the folder named just before).
        self.assertIn("(rename: rename command failed: Operation failed: "
                      "the sftp server names no cause: the new name taken "
                      "(a folder there", st["last_error"])
        self.assertDrained(srv)
        self.assertEqual(self.tree(dest), ["other", "report/"],
                         self.diag(srv))
        os.rmdir(os.path.join(dest, "report"))
        r = srv.retry("s")
        self.assertEqual((r.returncode, r.stdout.strip()),
                         (0, "requeued 1 parked jobs"), r.stderr)
        self.assertTrue(wait_for(lambda: os.path.isfile(
            os.path.join(dest, "report")), timeout=30), self.diag(srv))
        self.assertDrained(srv)
        self.assertEqual(self.read(os.path.join(dest, "report")), b"r" * 500)

    def test_own_folder_at_a_long_path_still_says_why(self):
        # The reason is one 512-byte line: the place (URL and path) and
        # libcurl's words did not fit for a 150-byte name, and the job
        # was parked with no reason at all ("attempt=1: ; parked as
        # failed", found in a review). A shorter reason is given then.
        sshd = self.sshd()
        base = self.base()
        dest = os.path.join(base, "alice")
        long_name = "r" * 150
        deep = "/".join(c * 200 for c in "deq")
        make_tree_dir(dest, owner=self.user)
        for folder in (long_name, "d" * 200, "d" * 200 + "/" + "e" * 200,
                       deep):
            make_tree_dir(os.path.join(dest, folder), owner=self.user)
        srv = self.mirror_server(
            {"s": {"url": sshd.url(base), "verify": "size",
                   "host_key_sha256": sshd.host_key_sha256()}}, mirror=KEEP)
        f = self.ftp(srv)
        self.put(f, "/" + long_name, b"r" * 50)
        f.mkd("/" + "d" * 200)
        f.mkd("/" + "/".join(c * 200 for c in "de"))
        self.put(f, "/" + deep, b"q" * 50)
        self.wait_status_of(srv, "s", lambda s: s["failed"] == 2)
        lines = self.log_lines(srv, "mirror push failed")
        self.assertEqual(len(lines), 2, self.diag(srv))
        for line in lines:
            self.assertIn(" attempt=1: target s holds a folder of its own "
                          "at ", line)
            self.assertIn("then `relayftpd mirror retry s`", line)
        self.assertIn("at sftp://127.0.0.1:%d%s/alice/%s, where" %
                      (sshd.port, base, long_name),
                      self.log_lines(srv, "mirror push failed",
                                     "path=/alice/" + long_name)[0])
        self.assertDrained(srv)
        self.assertEqual(self.tree(dest),
                         sorted([long_name + "/", "d" * 200 + "/",
                                 "d" * 200 + "/" + "e" * 200 + "/",
                                 deep + "/"]), self.diag(srv))


class StalledReplySftpTest(SftpBase):
    """A target whose sftp server takes a request and never answers it
    (a disk or mount that does not finish: here sftp_stall.py behind
    sshd drops that one reply, the session answers everything else).
    Each step of a push is bounded by the target's timeout (5 s) and
    says which step stalled; the held reply to the file's CLOSE was said
    to be libcurl's low-speed limit: "the target took less than 1024 B/s
    for 5 s (min_rate, timeout): a link or server too slow for it". The
    retry delivers each file once, whole, with no temporary copy left.
    About 40 s."""

    def test_each_step_never_answered_fails_within_the_timeout(self):
        sshd = self.sshd(stall=True)
        dest, srv, f = self.one_worker(sshd, 5)
        files = self.first_file(dest, srv, f)
        # (hold, file, the words its failure must say)
        steps = [("close", "c.bin", "upload: the target did not answer "
                  "the close of ."),
                 ("stat", "s.bin", "verify: the target did not answer"),
                 ("mkdir", "d/m.bin", "mkdir: the target did not answer")]
        for kind, name, words in steps:
            with self.subTest(kind=kind):
                sshd.stall_hold(kind)
                files[name] = self.rand(100)
                if "/" in name:
                    f.mkd("/" + os.path.dirname(name))
                before = len(self.log_lines(srv, "mirror push failed"))
                self.put(f, "/" + name, files[name])
                t0 = time.monotonic()
                # The timeout, a second of libcurl's polling, slack.
                failed = wait_for(lambda: len(self.log_lines(
                    srv, "mirror push failed")) > before, timeout=15)
                took = time.monotonic() - t0
                lines = self.log_lines(srv, "mirror push failed")
                self.assertTrue(failed, "no failure: ended after %.1f s"
                                "\n%s" % (took, srv.log_text()[-2000:]))
                self.assertEqual(sshd.stall_held()[-1].split()[:2],
                                 ["held", kind])
                self.assertIn(words, lines[-1])
                self.assertIn("5 s", lines[-1])
                self.assertIn("attempt=1", lines[-1])
                self.assertArrived(dest, files, srv)
        self.assertNoTemp(dest)
        self.assertEqual(self.tree(dest), sorted(list(files) + ["d/"]))
        # One failure a hold: no retry failed again.
        self.assertEqual(len(self.log_lines(srv, "mirror push failed")),
                         len(steps))
        # A clean exit (make test-asan: no libssh2 session of the three
        # cut connections lost).
        self.assertEqual(srv.stop(), 0, srv.log_text()[-2000:])

    def test_a_rename_done_and_never_answered_is_published_once(self):
        """The server does the rename that publishes the copy and its
        reply never comes: the attempt failed at the timeout ("rename:
        the target did not answer in time"), and the retry uploaded the
        file again, removed the final name and renamed again: a watcher
        there saw the file appear, vanish and appear again, and could
        take it twice (found by a review). The rename is found done on
        a new connection (the temporary name gone, the final one of the
        pushed size): published in the same attempt, one rename, one
        upload, one push line. About 10 s."""
        sshd = self.sshd(stall=True)
        dest, srv, f = self.one_worker(sshd, 5)
        files = self.first_file(dest, srv, f)
        renames = sshd.stall_seen("rename")
        sshd.stall_hold("rename")
        files["r.bin"] = self.rand(100)
        self.put(f, "/r.bin", files["r.bin"])
        self.assertTrue(wait_for(lambda: self.log_lines(
            srv, "mirror push target=s path=/alice/r.bin"), timeout=20),
            srv.log_text()[-3000:])
        self.assertArrived(dest, files, srv)
        self.assertEqual(sshd.stall_held()[-1].split()[:2],
                         ["held", "rename"])
        lost = self.log_lines(srv, "path=/alice/r.bin", "the target did "
                              "the rename but its answer was lost")
        self.assertEqual(len(lost), 1, srv.log_text()[-3000:])
        self.assertIn("did not answer in time", lost[0])
        self.assertEqual(self.log_lines(srv, "mirror push failed"), [],
                         srv.log_text()[-3000:])
        self.assertEqual(len(self.log_lines(
            srv, "mirror push target=s path=/alice/r.bin")), 1)
        # One rename: the final name never went away again. One
        # attempt (no failure logged), so one upload.
        self.assertEqual(sshd.stall_seen("rename") - renames, 1)
        self.assertNoTemp(dest)
        self.assertEqual(srv.stop(), 0, srv.log_text()[-2000:])

    def test_a_close_answered_with_an_error_is_not_published(self):
        """The server answers the file's CLOSE with a failure (NFS or a
        FUSE mount reporting a write-back error at close): the copy may
        not be whole. libcurl notes it only in its verbose text and ends
        the upload OK, and the push was verified, published and recorded
        delivered at its first attempt. It fails now, and the retry
        delivers. About 5 s."""
        sshd = self.sshd(stall=True)
        dest, srv, f = self.one_worker(sshd, 5)
        files = self.first_file(dest, srv, f)
        sshd.stall_fail("close")
        files["b.bin"] = self.rand(1000)
        self.put(f, "/b.bin", files["b.bin"])
        self.assertArrived(dest, files, srv)
        self.assertEqual(sshd.stall_held(), ["failed close"])
        lines = self.log_lines(srv, "mirror push failed", "b.bin")
        self.assertEqual(len(lines), 1, srv.log_text()[-2000:])
        self.assertIn("attempt=1: upload: the target's sftp server "
                      "answered the close of the file with an error",
                      lines[0])
        self.assertEqual(len(self.log_lines(
            srv, "mirror push target=s path=/alice/b.bin")), 1)
        self.assertNoTemp(dest)

    def test_a_time_never_answered_is_said_and_counted(self):
        """The file's SETSTAT (its time) never answered: the push took
        the whole timeout more with no line saying so, and its duration
        left that wait out. A line names the step now, and the push
        line's duration counts it. About 10 s."""
        sshd = self.sshd(stall=True)
        dest, srv, f = self.one_worker(sshd, 5)
        files = self.first_file(dest, srv, f)
        sshd.stall_hold("setstat")
        files["t.bin"] = self.rand(100)
        self.put(f, "/t.bin", files["t.bin"])
        self.assertArrived(dest, files, srv)
        self.assertTrue(wait_for(lambda: self.log_lines(
            srv, "mirror time target=s path=/alice/t.bin mtime="),
            timeout=20), srv.log_text()[-3000:])
        self.assertEqual(sshd.stall_held()[-1].split()[:2],
                         ["held", "setstat"])
        said = self.log_lines(srv, "mirror time target=s path=/alice/t.bin",
                              "did not answer")
        self.assertEqual(len(said), 1, srv.log_text()[-3000:])
        self.assertIn("5 s", said[0])
        push = self.log_lines(srv, "mirror push target=s path=/alice/t.bin")
        self.assertEqual(len(push), 1, srv.log_text()[-3000:])
        took = float(push[0].split("duration=")[1].split("s ")[0])
        self.assertGreaterEqual(took, 4.5, push[0])
        self.assertNoTemp(dest)

    def test_sigterm_while_a_time_is_held_keeps_it_to_set(self):
        """SIGTERM while the file's SETSTAT waits for its reply: the
        stop shuts the socket, libssh2 fails the step and libcurl says
        it as a refused quote ("Attempt to set SFTP stats failed:
        Unknown error in libssh2"), so the time was logged refused and
        never set again (the copy kept the push's time). Now a cut, not
        a refusal: the time job set after the restart. About 5 s."""
        sshd = self.sshd(stall=True)
        base = self.base()
        dest = os.path.join(base, "alice")
        spec = {"url": sshd.url(base), "timeout": "60",
                "host_key_sha256": sshd.host_key_sha256()}
        srv = self.mirror_server({"s": spec}, mirror=dict(
            KEEP, workers_per_target="1", express_max_size="0"))
        f = self.ftp(srv)
        sshd.stall_hold("setstat")
        self.put(f, "/a.bin", b"a")
        f.close()
        src = os.path.join(srv.home("alice"), "a.bin")
        self.assertTrue(wait_for(sshd.stall_held, timeout=20),
                        srv.log_text()[-2000:])
        rc, _ = sigterm_timed(srv, timeout=30)
        self.assertEqual(rc, 0, srv.log_text()[-2000:])
        self.assertEqual(self.log_lines(
            srv, "path=/alice/a.bin: set time: Attempt to set SFTP stats"),
            [], srv.log_text()[-2000:])
        srv.start()
        self.assertTrue(wait_for(lambda: self.log_lines(
            srv, "mirror time target=s path=/alice/a.bin mtime="),
            timeout=20), srv.log_text()[-2000:])
        self.assertEqual(
            int(os.stat(os.path.join(dest, "a.bin")).st_mtime),
            int(os.stat(src).st_mtime))

    def test_sigterm_while_a_reply_is_held(self):
        """timeout 60: the daemon's stop cuts the wait, it does not sit
        it out, and exits cleanly. About 10 s."""
        for kind in ("close", "rename"):
            with self.subTest(kind=kind):
                sshd = self.sshd(stall=True)
                base = self.base("base-" + kind)
                spec = {"url": sshd.url(base), "timeout": "60",
                        "host_key_sha256": sshd.host_key_sha256()}
                srv = self.mirror_server({"s": spec}, mirror=KEEP)
                f = self.ftp(srv)
                sshd.stall_hold(kind)
                self.put(f, "/a.bin", b"a")
                self.assertTrue(wait_for(sshd.stall_held, timeout=20),
                                srv.log_text()[-2000:])
                rc, took = sigterm_timed(srv, timeout=30)
                # 0: a clean exit (make test-asan: nothing of libssh2's
                # session lost at the cut).
                self.assertEqual(rc, 0, srv.log_text()[-2000:])
                self.assertLess(took, 5)


class FullDiskSftpTest(SftpBase):

    def test_a_full_target_says_so_and_keeps_no_part(self):
        # A file larger than the room left on the target (a 1 MiB
        # tmpfs): OpenSSH answers the write that does not fit with a
        # failure, which libcurl 7.88 reports as a bare "Error in the
        # SSH layer", and the part written stayed under the temporary
        # name, taking the room: a smaller file after it never arrived
        # (found from outside). Now the reason says what happened, the
        # part is removed, the small file arrives at once, and the big
        # one once the target has room again.
        sshd = self.sshd()
        base = self.base()
        mount_tmpfs(self, base, "size=1m,mode=0755,uid=%d,gid=%d" %
                    (self.user.uid, self.user.gid))
        dest = os.path.join(base, "alice")
        srv = self.mirror_server(
            {"s": {"url": sshd.url(base), "verify": "size",
                   "host_key_sha256": sshd.host_key_sha256()}},
            mirror=dict(KEEP, max_attempts="1"))
        f = self.ftp(srv)
        big = self.rand(3 * 1024 * 1024)
        self.put(f, "/big", big)
        st = self.wait_status_of(srv, "s", lambda s: s["failed"] == 1)
        self.assertIn("the target's sftp server stopped taking the file "
                      "after", st["last_error"])
        self.assertIn("refused a write (a full disk or a quota there)",
                      st["last_error"])
        self.assertDrained(srv)
        self.assertEqual(self.tree(dest), [], self.diag(srv, sshd))
        small = self.rand(300 * 1024)
        self.put(f, "/small", small)
        self.assertArrived(dest, {"small": small}, srv, sshd, timeout=20)
        self.assertEqual(self.log_lines(srv, "mirror push failed",
                                        "path=/alice/small"), [])
        subprocess.run(["mount", "-o", "remount,size=8m", base],
                       check=True, timeout=30)
        r = srv.retry("s")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertArrived(dest, {"small": small, "big": big}, srv, sshd)
        self.assertDrained(srv)
        self.assertEqual(self.tree(dest), ["big", "small"])


    def test_a_target_out_of_inodes_says_so(self):
        # A new file and a folder where the target's inodes are all
        # taken: OpenSSH answers ENOSPC with its nameless SSH_FX_FAILURE,
        # and the reason read "upload: Creating the dir/file failed:
        # Operation failed", and for the folder "a file by its name on
        # the target, or no permission" (found from outside).
        sshd = self.sshd()
        base = self.base()
        mount_tmpfs(self, base, "size=4m,nr_inodes=4,mode=0755,uid=%d,"
                    "gid=%d" % (self.user.uid, self.user.gid))
        dest = os.path.join(base, "alice")
        make_tree_dir(dest, owner=self.user)
        # The root, alice and these two: none left.
        for name in ("filler1", "filler2"):
            with open(os.path.join(base, name), "w"):
                pass
        srv = self.mirror_server(
            {"s": {"url": sshd.url(base), "verify": "size",
                   "host_key_sha256": sshd.host_key_sha256()}},
            mirror=dict(KEEP, max_attempts="1"))
        f = self.ftp(srv)
        data = self.rand(100)
        self.put(f, "/f", data)
        st = self.wait_status_of(srv, "s", lambda s: s["failed"] == 1)
        self.assertEqual(
            st["last_error"],
            "upload: Creating the dir/file failed: Operation failed: the "
            "sftp server's answer for a failure it does not name: a full "
            "disk or inode table, a quota, or a read-only file system "
            "there")
        f.mkd("/D")
        st = self.wait_status_of(srv, "s", lambda s: s["failed"] == 2)
        self.assertIn("no folder there after mkdir (a file by its name on "
                      "the target, no permission, or a full disk or inode "
                      "table there)", st["last_error"])
        subprocess.run(["mount", "-o", "remount,nr_inodes=64", base],
                       check=True, timeout=30)
        r = srv.retry("s")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertArrived(dest, {"f": data}, srv, sshd)
        self.assertDrained(srv)
        self.assertEqual(self.tree(dest), ["D/", "f"])


class StreamSftpTest(SftpBase):
    """An upload pushed while it arrives (stream_min_size) to an sftp
    target: the size is not known when the sftp write starts (libcurl
    sends until the reader ends); the copy is published with the file's
    exact bytes under a name with a blank and UTF-8, nothing else is left
    in the folder."""

    def test_streamed_upload_arrives_exactly(self):
        sshd = self.sshd()
        base = self.base()
        spec = {"url": sshd.url(base), "verify": "size",
                "host_key_sha256": sshd.host_key_sha256()}
        srv = self.mirror_server(
            {"s": spec}, mirror=dict(KEEP, stream_min_size="1M"))
        f = self.ftp(srv)
        name = "big " + UTF8 + ".bin"
        data = self.rand(6 * 1024 * 1024)
        f.encoding = "utf-8"
        # Slow enough (about 1 s) for the copy to start while it arrives.
        f.storbinary("STOR /" + name, io.BytesIO(data), blocksize=65536,
                     callback=lambda _: time.sleep(0.01))
        dest = os.path.join(base, "alice")
        self.assertArrived(dest, {name: data}, srv)
        self.assertEqual(self.tree(dest), [name])
        self.assertTrue(self.log_lines(srv, "(sent while it arrived)"),
                        self.diag(srv))

    def test_a_client_pausing_longer_than_the_timeout_is_no_stall(self):
        """The copy's upload waits for the client's bytes: a pause of
        the client (here 6 s, the target's timeout 3) is not the
        target's silence, and the copy still goes while it arrives."""
        sshd = self.sshd()
        base = self.base()
        spec = {"url": sshd.url(base), "timeout": "3",
                "host_key_sha256": sshd.host_key_sha256()}
        srv = self.mirror_server(
            {"s": spec}, mirror=dict(KEEP, stream_min_size="1M"))
        f = self.ftp(srv)
        data = self.rand(3 * 1024 * 1024)
        sent = [0]

        def pace(block):
            sent[0] += len(block)
            if sent[0] == 2 * 1024 * 1024:
                time.sleep(6)

        f.storbinary("STOR /paused.bin", io.BytesIO(data), blocksize=65536,
                     callback=pace)
        dest = os.path.join(base, "alice")
        self.assertArrived(dest, {"paused.bin": data}, srv)
        self.assertFalse(self.log_lines(srv, "did not answer in time"),
                         self.diag(srv))
        self.assertTrue(self.log_lines(srv, "(sent while it arrived)"),
                        self.diag(srv))

    def test_a_client_pausing_before_its_end_is_no_stall(self):
        """A pause after the client's last byte, before it closes the
        data connection (a program streamed through a pipe that takes a
        while to exit): the copy's upload waits at the end for it, and
        that wait is the client's, not the target's silence either."""
        sshd = self.sshd()
        base = self.base()
        spec = {"url": sshd.url(base), "timeout": "3",
                "host_key_sha256": sshd.host_key_sha256()}
        srv = self.mirror_server(
            {"s": spec}, mirror=dict(KEEP, stream_min_size="1M"))
        f = self.ftp(srv)
        data = self.rand(2 * 1024 * 1024)
        sent = [0]

        def pace(block):
            sent[0] += len(block)
            if sent[0] == len(data):
                time.sleep(6)

        f.storbinary("STOR /ends-late.bin", io.BytesIO(data),
                     blocksize=65536, callback=pace)
        dest = os.path.join(base, "alice")
        self.assertArrived(dest, {"ends-late.bin": data}, srv)
        self.assertFalse(self.log_lines(srv, "did not answer in time"),
                         self.diag(srv))
        self.assertTrue(self.log_lines(srv, "(sent while it arrived)"),
                        self.diag(srv))


class FtpNamesTest(tmm.Base):
    """The same names through the FTP quote commands (RNFR/RNTO, DELE),
    to a second relayftpd and to pyftpdlib: sent verbatim, never split."""

    def test_hostile_names_to_ftp_targets(self):
        relay = self.relay()
        pyftpd = self.pyftpd()
        extra = {"propagate_deletes": "on", "propagate_renames": "on"}
        srv = self.mirror_server(
            {"r": relay_target_spec(relay, **extra),
             "p": pyftpd.target(**extra)}, mirror=MIRROR)
        hostile_round(self, srv, {"r": relay_dir(relay, "base", "alice"),
                                  "p": pyftpd.dir("base", "alice")})


def hostile_round(test, srv, dests, *peers):
    """Uploads the hostile names (files and a folder), renames and deletes
    some with propagation on, and checks that each target's tree
    (dests: one folder, or {target: folder}) is exactly the home's."""
    if isinstance(dests, str):
        dests = {"s": dests}
    f = test.ftp(srv)
    names = ['q"uote', '"', '""', 'back\\slash', 'ends-in-backslash\\',
             '\\', 'two  spaces and tail', '-rf', '--help', '*', '*rm',
             '100%', '%2F%22%25', "it's", "'", '~', UTF8,
             'a\\" "b', 'x" -rf "']
    folder = 'd "q\\ *%% ' + UTF8
    files = {n: test.rand(100 + i) for i, n in enumerate(names)}
    files[folder + "/in \"side\\"] = test.rand(77)
    files[folder + "/-" + UTF8] = test.rand(78)
    f.mkd("/" + folder)
    for rel, data in files.items():
        test.put(f, "/" + rel, data)
    for dest in dests.values():
        test.assertArrived(dest, files, srv, *peers)
    test.assertDrained(srv)

    # Renames and deletes carry the names through the other quote
    # commands (rename of a file and of a folder, rm / DELE).
    renames = {'q"uote': 'renamed" -f "g',
               "back\\slash": "-back\\\\slash\"",
               folder: 'd2 \\"' + UTF8 + '\\'}
    gone = ('*', '"', 'ends-in-backslash\\', '%2F%22%25')
    for old, new in renames.items():
        f.rename("/" + old, "/" + new)
    for name in gone:
        f.delete("/" + name)
    want = {}
    for rel, data in files.items():
        top, _, rest = rel.partition("/")
        if top in gone:
            continue
        top = renames.get(top, top)
        want[top + ("/" + rest if rest else "")] = data
    # Everything before the marker has reached the targets once it has
    # and nothing is queued or running.
    marker = test.rand(33)
    test.put(f, "/zz-marker", marker)
    for dest in dests.values():
        test.assertArrived(dest, {"zz-marker": marker}, srv, *peers)
    test.assertDrained(srv)
    want["zz-marker"] = marker
    for name, dest in dests.items():
        test.assertEqual(list_files(dest), sorted(want),
                         name + test.diag(srv, *peers))
        # Done by the target's own rename and delete, not worked around.
        for old, new in renames.items():
            test.assertEqual(len(test.log_lines(
                srv, "mirror rename target=%s path=%s to=%s "
                % (name, log_field("/alice/" + old),
                   log_field("/alice/" + new)))), 1,
                old + test.diag(srv, *peers))
        for old in gone:
            test.assertEqual(len(test.log_lines(
                srv, "mirror delete target=%s path=%s attempts="
                % (name, log_field("/alice/" + old)))), 1,
                old + test.diag(srv, *peers))
        for rel, data in want.items():
            with open(os.path.join(dest, rel), "rb") as fh:
                test.assertEqual(fh.read(), data, rel)
    test.assertEqual(test.log_lines(srv, "mirror push failed"), [])


# --------------------------------------------------------------- host keys

class HostKeyTest(SftpBase):

    def other_key_fp(self):
        k = ssh_keygen(os.path.join(self.tmp, "other_host_key"))
        return sha256_fingerprint(k + ".pub")

    def test_wrong_fingerprint_keeps_the_job_right_one_delivers(self):
        sshd = self.sshd()
        base = self.base()
        dest = os.path.join(base, "alice")
        spec = {"url": sshd.url(base), "host_key_sha256": self.other_key_fp()}
        srv = self.mirror_server({"s": spec}, mirror=KEEP)
        f = self.ftp(srv)
        data = self.rand(5000)
        self.put(f, "/doc.bin", data)
        st = self.wait_status_of(
            srv, "s", lambda t: "fingerprint" in t["last_error"])
        self.assertIn("mismatch sha256 fingerprint", st["last_error"])
        self.assertEqual(st["queued"] + st["running"], 1, st)
        self.assertEqual(st["failed"], 0, st)
        self.assertEqual(self.tree(self.data), ["base/", "outside/"])
        self.assertTrue(self.log_lines(srv, "mirror push failed target=s",
                                       "fingerprint"))
        # The admin writes the right fingerprint, as ssh-keygen -l
        # prints it: the kept job is delivered.
        srv.stop()
        srv.targets["s"]["host_key_sha256"] = sshd.host_key_sha256()
        srv.write_config()
        srv.start()
        self.assertArrived(dest, {"doc.bin": data}, srv, sshd)
        self.assertDrained(srv)

    def test_known_hosts(self):
        sshd = self.sshd()
        other = ssh_keygen(os.path.join(self.tmp, "other_host_key"))
        with open(other + ".pub") as fh:
            other_line = "[127.0.0.1]:%d %s\n" % (
                sshd.port, " ".join(fh.read().split()[:2]))
        texts = {
            "right": sshd.known_hosts_line(),
            # Another key for this host:port: a man in the middle.
            "mismatch": other_line,
            # Only another host: the target is unknown.
            "missing": "127.0.0.2 " +
            sshd.known_hosts_line().split(" ", 1)[1],
        }
        files = {}
        for name, text in texts.items():
            path = os.path.join(self.tmp, name + "_known_hosts")
            with open(path, "w") as fh:
                fh.write(text)
            files[name] = path
        # Debian's ssh writes hashed host names (HashKnownHosts yes).
        hashed = os.path.join(self.tmp, "hashed_known_hosts")
        with open(hashed, "w") as fh:
            fh.write(texts["missing"] + texts["right"])
        r = subprocess.run([mirror_peers.SSH_KEYGEN, "-H", "-f", hashed],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(hashed) as fh:
            self.assertNotIn("127.0.0.1", fh.read())
        files["hashed"] = hashed
        targets = {}
        for name in files:
            targets[name] = {"url": sshd.url(self.base(name)),
                             "known_hosts": files[name]}
        srv = self.mirror_server(targets, mirror=KEEP)
        f = self.ftp(srv)
        data = self.rand(4000)
        self.put(f, "/k.bin", data)
        for name in ("right", "hashed"):
            self.assertArrived(os.path.join(self.data, name, "alice"),
                               {"k.bin": data}, srv, sshd)
        for name, why in (("mismatch", "differs from the key in"),
                          ("missing", "the host is not in")):
            st = self.wait_status_of(srv, name,
                                     lambda t: "host key" in t["last_error"])
            self.assertIn(why, st["last_error"])
            self.assertEqual(st["queued"] + st["running"], 1, st)
            self.assertEqual(self.tree(os.path.join(self.data, name)), [])
        # Refusing never writes the file (no trust on first use).
        for name in ("mismatch", "missing"):
            with open(files[name]) as fh:
                self.assertEqual(fh.read(), texts[name], name)
        # The admin checks the key and adds it: the next attempt reads the
        # file again and delivers the kept job, no restart needed.
        for name in ("mismatch", "missing"):
            with open(files[name], "w") as fh:
                fh.write(sshd.known_hosts_line())
        for name in ("mismatch", "missing"):
            self.assertArrived(os.path.join(self.data, name, "alice"),
                               {"k.bin": data}, srv, sshd)
        self.assertDrained(srv)

    def check(self, srv):
        return subprocess.run([BINARY, "check", "--config", srv.config_path],
                              capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)

    def test_no_host_key_is_an_error_unless_verify_off(self):
        sshd = self.sshd()
        base = self.base()
        spec = {"url": sshd.url(base), "verify": "size"}
        srv = MirrorServer(users={"alice": {"password": "alice-pw"}},
                           mirror=KEEP, targets={"s": spec}, start=False)
        self.addCleanup(srv.cleanup)
        r = self.check(srv)
        self.assertEqual(r.returncode, 1, r)
        section = srv.config_text().splitlines().index("[target:s]") + 1
        self.assertIn("%s:%d: key 'known_hosts': [target:s] is sftp:// "
                      "but checks no host key" % (srv.config_path, section),
                      r.stderr)
        with self.assertRaises(RuntimeError) as cm:
            srv.start()
        self.assertIn("key 'known_hosts'", str(cm.exception))
        self.assertIn("not started", str(cm.exception))

        # Said out loud: accepted, with a warning, and any key passes.
        srv.targets["s"]["host_key_verify"] = "off"
        srv.write_config()
        r = self.check(srv)
        self.assertEqual(r.returncode, 0, r)
        self.assertIn("key 'host_key_verify': warning: off", r.stderr)
        os.makedirs(srv.home("alice"), exist_ok=True)
        srv.start()
        self.addCleanup(self._stop_checked, srv)
        self.assertTrue(self.log_lines(
            srv, "mirror target s: host_key_verify = off"))
        data = self.rand(3000)
        self.put(self.ftp(srv), "/v.bin", data)
        self.assertArrived(os.path.join(base, "alice"), {"v.bin": data},
                           srv, sshd)


# -------------------------------------------------------------- key logins

class KeyLoginTest(SftpBase):

    def test_private_keys(self):
        plain = ssh_keygen(os.path.join(self.tmp, "id_plain"))
        locked = ssh_keygen(os.path.join(self.tmp, "id_locked"),
                            passphrase="correct horse ; battery")
        auth = os.path.join(self.tmp, "authorized_keys")
        with open(auth, "w") as out:
            for k in (plain, locked):
                with open(k + ".pub") as fh:
                    out.write(fh.read())
        sshd = self.sshd(authorized_keys=auth)
        passfile = os.path.join(self.tmp, "passphrase")
        with open(passfile, "w") as fh:
            fh.write("correct horse ; battery\n")
        fp = sshd.host_key_sha256()
        targets = {
            "key": {"url": sshd.url(self.base("key"), password=False),
                    "host_key_sha256": fp, "private_key": plain},
            "locked": {"url": sshd.url(self.base("locked"), password=False),
                       "host_key_sha256": fp, "private_key": locked,
                       "public_key": locked + ".pub",
                       "passphrase_file": passfile},
            # This sshd takes keys only: the password is refused.
            "pw": {"url": sshd.url(self.base("pw")),
                   "host_key_sha256": fp},
        }
        srv = self.mirror_server(targets, mirror=KEEP)
        f = self.ftp(srv)
        data = self.rand(6000)
        self.put(f, "/key.bin", data)
        for name in ("key", "locked"):
            self.assertArrived(os.path.join(self.data, name, "alice"),
                               {"key.bin": data}, srv, sshd)
        st = self.wait_status_of(srv, "pw",
                                 lambda t: t["last_error"] != "")
        self.assertEqual(st["queued"] + st["running"], 1, st)
        self.assertEqual(self.tree(os.path.join(self.data, "pw")), [])
        self.assertTrue(wait_for(
            lambda: "Accepted publickey for %s" % self.user.name
            in sshd.output(), timeout=10), sshd.output()[-2000:])
        self.assertNotIn("Accepted password", sshd.output())


class FarLink:
    """A TCP relay to 127.0.0.1:port that holds each byte delay seconds
    in each direction, as a target far away does (round trip 2 * delay),
    and is otherwise unpaced. Its threads end with the connections."""

    def __init__(self, port, delay):
        self.to = port
        self.delay = delay
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        self.socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        for s in [self.lsock] + self.socks:
            s.close()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
                s = socket.create_connection(("127.0.0.1", self.to),
                                             timeout=10)
            except OSError:
                return
            s.settimeout(None)
            self.socks += [c, s]
            for a, b in ((c, s), (s, c)):
                q = queue.Queue()
                threading.Thread(target=self._rx, args=(a, q),
                                 daemon=True).start()
                threading.Thread(target=self._tx, args=(b, q),
                                 daemon=True).start()

    def _rx(self, a, q):
        while True:
            try:
                d = a.recv(65536)
            except OSError:
                d = b""
            q.put((time.monotonic() + self.delay, d))
            if not d:
                return

    def _tx(self, b, q):
        while True:
            at, d = q.get()
            # The delay line itself, not a wait for an event.
            time.sleep(max(0.0, at - time.monotonic()))
            try:
                if not d:
                    b.shutdown(socket.SHUT_WR)
                    return
                b.sendall(d)
            except OSError:
                return


class HungServerTest(SftpBase):
    """A target whose sftp server hangs with its connection open (a
    session stuck on a dead NFS mount; here its processes are stopped):
    the push fails after libssh2's read timeout (60 s) and the log said
    only "Upload failed: ssh error (0/-9)". It now says the target did not
    answer. Once the server goes on, the retry delivers. About 70 s."""

    def test_a_hung_server_is_named_in_the_error(self):
        sshd = self.sshd()
        base = self.base()
        dest = os.path.join(base, "alice")
        spec = {"url": sshd.url(base),
                "host_key_sha256": sshd.host_key_sha256()}
        srv = self.mirror_server({"s": spec}, mirror={
            "watch": "off", "workers_per_target": "1",
            "express_max_size": "0", "retry_initial": "1",
            "retry_max": "2"})
        f = self.ftp(srv)
        files = {"a.bin": self.rand(100)}
        self.put(f, "/a.bin", files["a.bin"])
        self.assertArrived(dest, files, srv)
        # The session that the worker keeps: sshd's child for it and
        # that child's own (privilege separation).
        hung = [pid for pid, _ in children_of(sshd.proc.pid)]
        hung += [c for pid in hung for c, _ in children_of(pid)]
        self.assertTrue(hung, "no sshd session")
        for pid in hung:
            os.kill(pid, signal.SIGSTOP)
        try:
            files["b.bin"] = self.rand(100)
            self.put(f, "/b.bin", files["b.bin"])
            self.assertTrue(wait_for(lambda: self.log_lines(
                srv, "mirror push failed", "b.bin"), timeout=120),
                srv.log_text()[-2000:])
        finally:
            for pid in hung:
                os.kill(pid, signal.SIGCONT)
        line = self.log_lines(srv, "mirror push failed", "b.bin")[0]
        self.assertIn("the target did not answer in time", line)
        self.assertArrived(dest, files, srv)

    def test_a_hung_server_fails_within_the_targets_timeout(self):
        """The target's timeout (here 4 s) bounds an sftp push as it
        bounds an FTP one: libcurl's low-speed limit is not checked while
        a request waits for the server's answer, and the push waited for
        libssh2's own 60 s. The connection is cut at the stall: libcurl
        7.88's goodbye to a silent server gave up before freeing libssh2's
        session (LeakSanitizer at the daemon's exit, make test-asan, which
        the harness's stop fails on). About 15 s."""
        sshd = self.sshd()
        dest, srv, f = self.one_worker(sshd, 4)
        files = self.first_file(dest, srv, f)
        hung = [pid for pid, _ in children_of(sshd.proc.pid)]
        hung += [c for pid in hung for c, _ in children_of(pid)]
        self.assertTrue(hung, "no sshd session")
        for pid in hung:
            os.kill(pid, signal.SIGSTOP)
        try:
            files["b.bin"] = self.rand(100)
            self.put(f, "/b.bin", files["b.bin"])
            t0 = time.monotonic()
            # 4 s of silence, and a second of libcurl's polling: well
            # under libssh2's 60 s.
            failed = wait_for(lambda: self.log_lines(
                srv, "mirror push failed", "b.bin"), timeout=20)
            took = time.monotonic() - t0
            self.assertTrue(failed, "no failure within 20 s\n" +
                            srv.log_text()[-2000:])
        finally:
            for pid in hung:
                os.kill(pid, signal.SIGCONT)
        line = self.log_lines(srv, "mirror push failed", "b.bin")[0]
        self.assertIn("the target did not answer in time", line)
        self.assertIn("nothing moved for 4 s", line)
        self.assertLess(took, 20)
        # The retry, once the server goes on, delivers.
        self.assertArrived(dest, files, srv)

    def never_speaks(self, timeout):
        """A target that takes the connection and never says a word, not
        even its SSH banner (a server too busy to serve; here a listener
        that never accepts, the kernel's backlog taking each connection):
        the push fails within timeout, the target's, and the retry
        delivers once an sshd answers on that port. The daemon's exit
        then finds nothing of libssh2's sessions lost (make test-asan:
        LeakSanitizer fails the stop)."""
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(8)
        self.addCleanup(lsock.close)
        port = lsock.getsockname()[1]
        sshd = SshdPeer(self.user, start=False)
        self.addCleanup(sshd.cleanup)
        sshd.port = port
        dest, srv, f = self.one_worker(sshd, timeout)
        files = {"a.bin": self.rand(100)}
        t0 = time.monotonic()
        self.put(f, "/a.bin", files["a.bin"])
        failed = wait_for(lambda: self.log_lines(
            srv, "mirror push failed", "a.bin"), timeout=timeout + 20)
        took = time.monotonic() - t0
        self.assertTrue(failed, "no failure within %d s\n" % (timeout + 20) +
                        srv.log_text()[-2000:])
        lsock.close()
        sshd.start(port=port)
        self.assertArrived(dest, files, srv)
        srv.stop()
        return self.log_lines(srv, "mirror push failed", "a.bin")[0], took

    def test_a_server_that_never_speaks_fails_within_the_timeout(self):
        """Timeout 3: libssh2 waited for the banner until libcurl's
        connect timeout, 15 s. About 15 s."""
        line, took = self.never_speaks(3)
        self.assertIn("the target did not answer in time", line)
        self.assertIn("nothing moved for 3 s", line)
        self.assertLess(took, 12)

    def test_a_big_listing_is_no_silence(self):
        """A folder's listing that takes longer than the target's timeout
        (150,000 names, timeout 1) while its server answers all along:
        libcurl's sftp listing moves no byte of its progress, and resync
        failed after 1 s with "list /alice: Callback aborted". The bytes
        of the listing count now. About 20 s."""
        sshd = self.sshd()
        base = self.base()
        dest = os.path.join(base, "alice")
        make_tree_dir(dest, owner=self.user)
        for i in range(150000):
            open(os.path.join(
                dest, "an-old-file-of-the-target-%08d.bin" % i), "w").close()
        spec = {"url": sshd.url(base), "timeout": "1",
                "host_key_sha256": sshd.host_key_sha256()}
        srv = self.mirror_server({"s": spec}, mirror=KEEP)
        f = self.ftp(srv)
        self.put(f, "/one.bin", b"x")
        self.assertArrived(dest, {"one.bin": b"x"}, srv)
        p = subprocess.run([BINARY, "mirror", "resync", "--config",
                            srv.config_path, "s"], capture_output=True,
                           text=True, timeout=300,
                           stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("1 files compared, 0 queued", p.stdout, p.stderr)

    def test_a_far_target_is_no_silence(self):
        """A target 0.2 s away each way (a round trip of 0.4 s) with
        timeout 3: each answer of its login, open and close comes in
        0.4 s, but they move no byte of the file, and the login's dozen
        round trips added up past 3 s: every attempt failed with "did not
        answer in time" and the file never arrived. The server's bytes
        count now. About 15 s."""
        sshd = self.sshd()
        base = self.base()
        dest = os.path.join(base, "alice")
        far = FarLink(sshd.port, 0.2)
        self.addCleanup(far.close)
        spec = {"url": sshd.url(base).replace(
                    ":%d/" % sshd.port, ":%d/" % far.port),
                "timeout": "3",
                "host_key_sha256": sshd.host_key_sha256()}
        srv = self.mirror_server({"s": spec}, mirror={
            "watch": "off", "workers_per_target": "1",
            "express_max_size": "0", "retry_initial": "1",
            "retry_max": "2"})
        f = self.ftp(srv)
        files = {"a.bin": self.rand(1000)}
        self.put(f, "/a.bin", files["a.bin"])
        self.assertArrived(dest, files, srv, timeout=60)
        self.assertEqual(self.log_lines(srv, "mirror push failed"), [])


if __name__ == "__main__":
    unittest.main()
