"""What one push costs on the wire, seen from a vsftpd target's protocol log.

A push names its temporary copy by its absolute path on the target (STOR
/login/base/alice/d/.rftpd-tmp...), as the rename and time commands around
it already do, so it walks no folders: the old code sent four CWD per file
(back to the login folder, then base, alice, d). Where a folder is missing
on the target (removed there by hand) the absolute STOR fails and the
folder walk with MKD does the push: the file still arrives. The size check
is one SIZE command, without libcurl's "REST 0" probe, and one more of the
final name in the rename's request; no NOOP goes before the STOR. Against
a target that refuses SIZE, MLSD and SITE UTIME, the refusals cost no
login: each worker keeps its one connection; and what one worker learns
of such a target (no SIZE, no MLSD), its other workers and its express
lane know at once. Runs in ~20 s.
"""
import os
import shutil
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import mirror_peers  # noqa: E402
import test_mirror_more  # noqa: E402
from mirror_peers import VsftpdPeer  # noqa: E402
from pyftpdlib.handlers import FTPHandler  # noqa: E402
from test_mirror_hostile_more import HostileFtp  # noqa: E402

FILES = 12


class PushCostTest(test_mirror_more.Base):

    def setUp(self):
        super().setUp()
        self.user = self.system_user(mirror_peers.VSFTPD)

    def commands(self, v, verb):
        """The verb's commands vsftpd logged (log_ftp_protocol)."""
        return [line for line in v.log_text().splitlines()
                if 'FTP command: ' in line and
                ('"%s ' % verb in line or '"%s"' % verb in line)]

    def one_connection(self, v):
        """relayftpd mirroring to v over one connection, whose commands
        are counted: one worker, no express lane (test_mirror_express.py),
        which is a second one."""
        return self.mirror_server(
            {"v": v.target("/base")},
            mirror={"watch": "off", "workers_per_target": "1",
                    "express_max_size": "0"})

    def test_pushes_walk_no_folders_and_missing_folders_are_made(self):
        v = VsftpdPeer(self.user)
        self.addCleanup(v.cleanup)
        srv = self.one_connection(v)
        dest = v.dir("base", "alice")
        f = self.ftp(srv)
        f.mkd("/d")
        files = {"d/f%02d.bin" % i: self.rand(self.rng.randrange(1, 5000))
                 for i in range(FILES)}
        # Names a URL or a command line could mangle.
        files["d/sp ace %_*.bin"] = self.rand(77)
        files["d/-dash \u00e9.bin"] = self.rand(88)
        for rel, data in files.items():
            self.put(f, "/" + rel, data)
        self.assertArrived(dest, files, srv, v)
        self.assertNoTemp(v.root)
        self.assertDrained(srv)
        cwd = self.commands(v, "CWD")
        stor = self.commands(v, "STOR")
        self.assertEqual(len(stor), len(files), stor)
        # No folder walk per file (old code: 72 for these 14 files). The
        # MKD job of /d walks once, making what is missing on the way
        # (CWD, MKD, CWD for base, alice and d) and back to the login
        # folder: at most 7, whatever the number of files.
        self.assertLessEqual(len(cwd), 7, "\n".join(cwd))
        # The size check is one SIZE a file, its reply read by the
        # mirror: no "REST 0" probe, which libcurl adds to a request
        # without body (old code: one a file); and one of the final name
        # in the rename's request (an RNTO answered 250 proves nothing);
        # and once for the worker, after its first copy, that copy's
        # name in the other letter case (does the target ignore case?).
        self.assertEqual(len(self.commands(v, "SIZE")), 2 * len(files) + 1,
                         v.log_text()[-2000:])
        self.assertEqual(self.commands(v, "REST"), [])
        # No NOOP before each STOR (old code: one a file, to keep libcurl
        # 7.88 from sleeping 1 s when a target on loopback answers the
        # EPSV at once; the push now runs libcurl on past that). A round
        # trip a file on a distant target.
        self.assertEqual(self.commands(v, "NOOP"), [])

        # The folder is gone on the target: the absolute STOR fails, the
        # walk makes it again and the file arrives.
        shutil.rmtree(os.path.join(dest, "d"))
        more = {"d/again.bin": self.rand(3000)}
        self.put(f, "/d/again.bin", more["d/again.bin"])
        self.assertArrived(dest, more, srv, v)
        self.assertNoTemp(v.root)
        self.assertDrained(srv)
        self.assertTrue(self.commands(v, "MKD"), v.log_text()[-2000:])
        self.assertEqual(self.pushes(srv, "v", "/alice/d/again.bin")[0]
                         ["attempts"], 1)

    def test_a_target_that_refuses_size_is_asked_once(self):
        # vsftpd without SIZE in cmds_allowed answers it "550 Permission
        # denied.": the verify takes the copy's size from its folder's
        # listing. Each push asked SIZE twice more before it listed (a
        # QUOTE of its own, then libcurl's), each refused.
        v = VsftpdPeer(self.user, extra=[test_mirror_more.VSFTPD_NO_SIZE])
        self.addCleanup(v.cleanup)
        srv = self.one_connection(v)
        dest = v.dir("base", "alice")
        f = self.ftp(srv)
        files = {"f%02d.bin" % i: self.rand(self.rng.randrange(1, 5000))
                 for i in range(FILES)}
        for rel, data in files.items():
            self.put(f, "/" + rel, data)
        self.assertArrived(dest, files, srv, v)
        self.assertNoTemp(v.root)
        self.assertDrained(srv)
        for rel in files:
            push = self.pushes(srv, "v", "/alice/" + rel)
            self.assertEqual(len(push), 1, self.diag(srv, v))
            self.assertEqual(push[0]["attempts"], 1, push[0]["line"])
        # SIZE is refused for the first copy (twice: a QUOTE, then
        # libcurl's), whose listing shows it, and asked once of that copy
        # in the other letter case (does the target ignore case?); every
        # later push lists at once (old code: six SIZE a push: with the
        # upload, the QUOTE, libcurl's, and three in the publish's size
        # check of the final name, all refused).
        self.assertLessEqual(len(self.commands(v, "SIZE")), 3,
                             v.log_text()[-3000:])
        self.assertEqual(len(self.commands(v, "LIST")), len(files),
                         v.log_text()[-3000:])
        # vsftpd refuses MLSD too: asked once, not before each listing;
        # each refusal (libcurl's SIZE, MLSD) also cost a new login.
        self.assertLessEqual(len(self.commands(v, "MLSD")), 1,
                             v.log_text()[-3000:])
        # One login for the one connection: each refusal (the verify's
        # SIZE, MLSD, SITE UTIME when the time method is learnt) used to
        # make libcurl close it (old code: 4 logins for these 12 files).
        self.assertEqual(len(self.commands(v, "USER")), 1,
                         v.log_text()[-3000:])

    def test_workers_keep_their_connections_to_a_target_without_size(self):
        # The default four workers and the express lane, each learning
        # on its own connection that vsftpd refuses SIZE, MLSD and SITE
        # UTIME: every refusal closed the worker's connection (old code:
        # 20 logins and 46 CWD for 6 pushes). Now a connection each.
        v = VsftpdPeer(self.user, extra=[test_mirror_more.VSFTPD_NO_SIZE])
        self.addCleanup(v.cleanup)
        srv = self.mirror_server({"v": v.target("/base")},
                                 mirror={"watch": "off"})
        dest = v.dir("base", "alice")
        f = self.ftp(srv)
        files = {"w%d.bin" % i: self.rand(self.rng.randrange(1, 5000))
                 for i in range(6)}
        for rel, data in files.items():
            self.put(f, "/" + rel, data)
        self.assertArrived(dest, files, srv, v)
        self.assertNoTemp(v.root)
        self.assertDrained(srv)
        for rel in files:
            push = self.pushes(srv, "v", "/alice/" + rel)
            self.assertEqual(len(push), 1, self.diag(srv, v))
            self.assertEqual(push[0]["attempts"], 1, push[0]["line"])
        # workers_per_target (4) and the express lane: one login each.
        self.assertLessEqual(len(self.commands(v, "USER")), 5,
                             v.log_text()[-3000:])


class NoSizeNoMlsd(FTPHandler):
    """A target without SIZE ("550", as vsftpd without it in
    cmds_allowed) and without MLSD ("500"); seen: every command verb
    it was sent, in order."""

    def pre_process_command(self, line, cmd, arg):
        self.seen.append(cmd)
        super().pre_process_command(line, cmd, arg)

    def ftp_SIZE(self, path):
        self.respond("550 Permission denied.")

    def ftp_MLSD(self, path):
        self.respond("500 Unknown command.")


class SharedLoreTest(test_mirror_more.Base):

    def test_the_workers_of_a_target_learn_its_refusals_once(self):
        # The default four workers and the express lane. Each learnt on
        # its own that the target refuses SIZE and MLSD, and paid the
        # refusals again: what one of them learns, all of them now know.
        h = HostileFtp(NoSizeNoMlsd)
        self.addCleanup(h.stop)
        srv = self.mirror_server({"h": h.target("/base")},
                                 mirror={"watch": "off",
                                         "workers_per_target": "4"})
        dest = h.dir("base", "alice")
        f = self.ftp(srv)
        files = {"s%d.bin" % i: self.rand(self.rng.randrange(1, 5000))
                 for i in range(8)}
        names = sorted(files)
        # The first push learns the refusals (its SIZE, its MLSD) and,
        # by MDTM, whether the target ignores letter case.
        first = {names[0]: files[names[0]]}
        self.put(f, "/" + names[0], files[names[0]])
        self.assertArrived(dest, first, srv)
        self.assertDrained(srv)
        learnt = list(h.seen)
        self.assertEqual(learnt.count("USER"), 1, learnt)
        self.assertEqual(learnt.count("MLSD"), 1, learnt)
        size_first = learnt.count("SIZE")
        self.assertIn(size_first, (1, 2), learnt)
        mdtm_first = learnt.count("MDTM")
        # The other seven go as fast as they come: the other workers
        # take them, each on its own connection.
        for rel in names[1:]:
            self.put(f, "/" + rel, files[rel])
        self.assertArrived(dest, files, srv)
        self.assertNoTemp(h.root)
        self.assertDrained(srv)
        for rel in files:
            push = self.pushes(srv, "h", "/alice/" + rel)
            self.assertEqual(len(push), 1, self.diag(srv))
            self.assertEqual(push[0]["attempts"], 1, push[0]["line"])
        seen = list(h.seen)
        counts = {k: seen.count(k) for k in ("USER", "SIZE", "MLSD", "LIST",
                                        "MDTM")}
        # A measure of sharing only where other workers pushed too.
        self.assertGreaterEqual(counts["USER"], 2, (counts, seen))
        self.assertLessEqual(counts["USER"], 5, (counts, seen))
        # None asks SIZE, MLSD or the case MDTM again (old code: each
        # new worker's first push asked SIZE and MLSD, refused, and two
        # MDTM).
        self.assertEqual((counts["SIZE"], counts["MLSD"], counts["MDTM"]),
                         (size_first, 1, mdtm_first), (counts, seen))
        self.assertEqual(counts["LIST"], len(files), (counts, seen))
        self.assertEqual(len(self.log_lines(
            srv, "mirror target h: the target refuses SIZE")), 1,
            self.diag(srv))

if __name__ == "__main__":
    unittest.main()
