"""LIST and NLST with wildcards: ftp's mget, mdelete and `ls *.jpg`.

The classic ftp client's `mget *.txt` sends `NLST *.txt` and fetches each
name the server lists; `ls *.jpg` sends `LIST *.jpg`. relayftpd answered
both with `550 No such file or directory` (found by an outside battery),
where vsftpd and pure-ftpd list the matching names. A name that exists is
still listed as itself, wildcards and all (a file called `star*?[x]`);
only the last part of a path is a pattern; names starting with "." match
only a pattern that starts with one, as in the shell; MLSD takes no
patterns (RFC 3659); nothing matching is an empty listing; a pattern
never reaches out of the home; a pattern of many stars over a folder
of long names ends (glibc's fnmatch would take exponential time); and a
pattern that costs too much over a folder is stopped with 451.
"""
import ftplib
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Server  # noqa: E402

FILES = ["apple.txt", "banana.txt", "cherry.jpg", "img_01.jpg",
         "img_1.jpg", ".hidden.txt", "star*?[x]", "caf\u00e9.txt",
         "-dash.txt", "space name.txt"]


class ListPatternTest(unittest.TestCase):

    def setUp(self):
        self.srv = Server(users={"alice": {"password": "alice-pw"}})
        self.addCleanup(self.srv.cleanup)
        home = self.srv.home("alice")
        os.makedirs(os.path.join(home, "sub", "deeper"))
        for name in FILES:
            with open(os.path.join(home, name), "wb") as f:
                f.write(name.encode("utf-8"))
        for name in ("a.log", "b.log", "c.txt"):
            with open(os.path.join(home, "sub", name), "wb") as f:
                f.write(b"x")
        os.makedirs(os.path.join(home, "dir.txt"))
        self.ftp = ftplib.FTP()
        self.ftp.encoding = "utf-8"
        self.ftp.connect("127.0.0.1", self.srv.port, timeout=30)
        self.ftp.login("alice", "alice-pw")
        self.addCleanup(self.ftp.close)

    def nlst(self, arg):
        return sorted(self.ftp.nlst(arg))

    def listed(self, arg):
        lines = []
        self.ftp.retrlines("LIST " + arg, lines.append)
        return sorted(line.split(None, 8)[8] for line in lines)

    def test_nlst_pattern_lists_the_matching_names(self):
        self.assertEqual(self.nlst("*.txt"),
                         sorted(["apple.txt", "banana.txt", "caf\u00e9.txt",
                                 "-dash.txt", "space name.txt", "dir.txt"]))
        self.assertEqual(self.nlst("img_??.jpg"), ["img_01.jpg"])
        self.assertEqual(self.nlst("[ab]*"), ["apple.txt", "banana.txt"])
        self.assertEqual(self.nlst("caf?.txt"), ["caf\u00e9.txt"])
        # mget fetches what NLST named.
        for name in self.nlst("*an*"):
            chunks = []
            self.ftp.retrbinary("RETR " + name, chunks.append)
            self.assertEqual(b"".join(chunks), name.encode("utf-8"))

    def test_list_pattern_with_options_and_folder(self):
        self.assertEqual(self.listed("*.jpg"),
                         ["cherry.jpg", "img_01.jpg", "img_1.jpg"])
        self.assertEqual(self.listed("-la *an*"), ["banana.txt"])
        self.assertEqual(self.listed("sub/*.log"), ["a.log", "b.log"])
        self.ftp.cwd("sub")
        self.assertEqual(self.listed("../ch*"), ["cherry.jpg"])

    def test_nlst_names_keep_the_folder_part(self):
        # As ls sub/*.log prints them: mget then fetches sub/a.log, not
        # a.log from the current folder (found by a review).
        self.assertEqual(self.nlst("sub/*.log"), ["sub/a.log", "sub/b.log"])
        self.assertEqual(self.nlst("/sub/?.txt"), ["/sub/c.txt"])
        for name in self.nlst("sub/*.log"):
            chunks = []
            self.ftp.retrbinary("RETR " + name, chunks.append)
            self.assertEqual(b"".join(chunks), b"x")
        # LIST shows names, as ls -l does in a folder's listing.
        self.assertEqual(self.listed("sub/*.log"), ["a.log", "b.log"])

    def test_nlst_of_a_file_path_keeps_the_folder_part(self):
        # A file named by a path is listed as the path given, as vsftpd
        # does: mget sub/a.log fetched the current folder's a.log, or
        # failed (it said "a.log").
        self.assertEqual(self.nlst("sub/a.log"), ["sub/a.log"])
        self.assertEqual(self.nlst("/sub/c.txt"), ["/sub/c.txt"])
        self.assertEqual(self.nlst("sub/../apple.txt"), ["sub/../apple.txt"])
        self.assertEqual(self.nlst("apple.txt"), ["apple.txt"])
        # A folder's names stay names.
        self.assertEqual(self.nlst("sub"),
                         ["a.log", "b.log", "c.txt", "deeper"])
        self.ftp.cwd("sub")
        self.assertEqual(self.nlst("../space name.txt"), ["../space name.txt"])
        self.assertEqual(self.nlst("a.log"), ["a.log"])

    def test_hidden_names_need_a_dot(self):
        self.assertNotIn(".hidden.txt", self.nlst("*"))
        self.assertEqual(self.nlst(".h*"), [".hidden.txt"])

    def test_existing_name_with_wildcards_is_itself(self):
        self.assertEqual(self.nlst("star*?[x]"), ["star*?[x]"])

    def test_no_match_is_an_empty_listing(self):
        self.assertEqual(self.nlst("*.pdf"), [])
        self.assertEqual(self.listed("*.pdf"), [])

    def test_refused_where_a_pattern_is_not_taken(self):
        # MLSD: no patterns (RFC 3659 7.1); a pattern in a folder part
        # of the path; a pattern under a missing folder.
        for cmd in ("MLSD *.txt", "NLST */a.log", "LIST nowhere/*.txt"):
            with self.assertRaises(ftplib.error_perm, msg=cmd) as cm:
                self.ftp.retrlines(cmd, lambda line: None)
            self.assertTrue(str(cm.exception).startswith("550"),
                            (cmd, str(cm.exception)))

    def test_pattern_stays_in_the_home(self):
        # ".." stops at the home, as for every path.
        self.assertEqual(self.nlst("../../../*.jpg"),
                         ["../../../cherry.jpg", "../../../img_01.jpg",
                          "../../../img_1.jpg"])
        self.assertEqual(self.nlst("/../e*"), [])

    def folder_of_long_names(self, folder, n, digits, length):
        """folder in the home with n empty files named by a number of
        digits digits, then a's up to length bytes."""
        path = os.path.join(self.srv.home("alice"), folder)
        os.makedirs(path)
        for i in range(n):
            name = ("%0*d" % (digits, i)) + "a" * (length - digits)
            open(os.path.join(path, name), "wb").close()

    def test_many_stars_over_long_names_end(self):
        self.folder_of_long_names("long", 200, 3, 243)
        self.assertEqual(self.nlst("long/" + "*a" * 120 + "*b"), [])
        self.assertEqual(len(self.nlst("long/*a*a*a")), 200)
        self.assertEqual(self.nlst("long/" + "[" * 200 + "x"), [])

    def test_a_costly_pattern_is_stopped_with_a_reason(self):
        # "*" then 60 sets: each name costs 60 x its length in steps. Over
        # 100,000 names of 250 bytes that was 16 s of CPU for an empty
        # answer (found from outside); the listing stops with 451 and a
        # log line once the pattern has cost more than the bound.
        self.folder_of_long_names("costly", 2000, 4, 250)
        costly = "costly/*" + "[!Q]" * 60 + "Q"
        with self.assertRaises(ftplib.error_temp) as cm:
            self.ftp.nlst(costly)
        self.assertTrue(str(cm.exception).startswith("451 Pattern too "
                                                     "costly"),
                        str(cm.exception))
        self.assertIn("listing of /costly with the pattern *[!Q]",
                      self.srv.log_text())
        self.assertIn("stopped: it took", self.srv.log_text())
        # STAT lists over the control connection: its last line says so
        # (it said "213 End of status", as after a whole listing).
        resp = self.ftp.sendcmd("STAT " + costly)
        self.assertTrue(resp.splitlines()[-1].startswith(
            "213 End of status (listing stopped: pattern too costly"),
            resp[-300:])
        # The session goes on, and patterns of ordinary cost over the
        # same folder are answered in full: plain ones, and sets of many
        # members, which are a table each.
        self.assertEqual(len(self.nlst("costly/*a")), 2000)
        self.assertEqual(len(self.nlst("costly/0[0-9]??a*")), 1000)
        self.assertEqual(len(self.nlst("costly/*[" + "bcdefghij" * 20 +
                                       "a]")), 2000)
        self.assertEqual(self.listed("costly/*[!a]"), [])


if __name__ == "__main__":
    unittest.main()
