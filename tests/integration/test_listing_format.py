"""LIST, NLST, MLSD and STAT pinned byte for byte on tricky names.

The listing formats are what clients parse (curl, lftp, FileZilla,
ftplib), so a faster formatter (issue 10) must not change one byte. The
expected lines are computed here from os.stat of every entry, with
Python's own time formatting: the "ls -l" shape of listing.c (mode, links,
"ftp ftp", size in 12 columns, "Mon dd HH:MM" for the last 180 days and
"Mon dd  YYYY" otherwise) and RFC 3659 facts (type, size, modify, perm,
unique). Names: spaces anywhere, quotes, backslash, printf and glob
characters, a leading dash, ";" and "=" (the MLSD fact separators), a tab,
UTF-8, 255 bytes. Times: recent, old, future, the epoch, before it, past
2100. Sizes: 0 to a sparse terabyte. A folder with more links than three
columns hold. A symlink inside the home is listed as what it points to,
one leading out is not listed. The 10,000-entry folder (listed in
directory order, not sorted) must hold exactly the expected lines too.
"""
import os
import stat
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Control, Server, recv_all  # noqa: E402

NOW = time.time()
DAY = 86400
NAMES = {
    # name: (mtime, size)
    "plain.txt": (NOW - DAY, 5),
    "with space.txt": (NOW - 2 * DAY, 0),
    " leading space": (NOW - 3 * DAY, 1),
    "trailing space ": (NOW - 4 * DAY, 12),
    'quote"d': (981158400, 123456),            # 2001-02-03
    "apos'trophe": (0, 7),                     # the epoch
    "back\\slash": (-86400 * 400, 9),         # 1968
    "per%cent%s%n%d": (NOW + 10 * DAY, 3),     # future: shown with year
    "star*?[x]": (7258118400, 4),              # 2200-01-01
    "-leading-dash": (NOW - 170 * DAY, 8),     # recent
    "semi;colon=eq;": (NOW - 200 * DAY, 2),    # older than 180 days
    "tab\there": (NOW - 30, 6),
    "ünïcødé-日本.txt": (NOW - 5 * DAY, 1000000),
    "x" * 251 + ".bin": (NOW - 6 * DAY, 10 ** 12),   # sparse
}
DIRS = {"a dir": NOW - 7 * DAY, "many links": 1234567890}
SUBDIRS = 1002  # "many links" gets 1,004 links: wider than %3lu


def mode_string(m):
    """listing.c's mode_string (no setuid/sticky letters)."""
    out = "d" if stat.S_ISDIR(m) else "l" if stat.S_ISLNK(m) else "-"
    for bit, ch in ((stat.S_IRUSR, "r"), (stat.S_IWUSR, "w"),
                    (stat.S_IXUSR, "x"), (stat.S_IRGRP, "r"),
                    (stat.S_IWGRP, "w"), (stat.S_IXGRP, "x"),
                    (stat.S_IROTH, "r"), (stat.S_IWOTH, "w"),
                    (stat.S_IXOTH, "x")):
        out += ch if m & bit else "-"
    return out


def long_line(st, name, now):
    tm = time.gmtime(st.st_mtime)
    if now - 180 * DAY < st.st_mtime <= now + 3600:
        when = time.strftime("%b %e %H:%M", tm)
    else:
        when = time.strftime("%b %e  %Y", tm)
    return "%s %3d ftp      ftp      %12d %s %s" % (
        mode_string(st.st_mode), st.st_nlink, st.st_size, when, name)


def mlsd_line(st, name, perms):
    kind = "dir" if stat.S_ISDIR(st.st_mode) else "file"
    facts = "type=%s;" % kind
    if kind == "file":
        facts += "size=%d;" % st.st_size
    facts += "modify=%s;" % time.strftime("%Y%m%d%H%M%S",
                                          time.gmtime(st.st_mtime))
    facts += "perm=%s;" % perms[kind]
    facts += "unique=%xU%x;" % (st.st_dev, st.st_ino)
    return facts + " " + name


class ListingFormatTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server()
        cls.home = cls.srv.home("alice")
        cls.top = os.path.join(cls.home, "tricky")
        os.makedirs(cls.top)
        for name, (mtime, size) in NAMES.items():
            p = os.path.join(cls.top, name)
            with open(p, "wb") as f:
                f.truncate(size)
            os.chmod(p, 0o640 if size % 2 else 0o755)
            os.utime(p, (mtime, mtime))
        for name, mtime in DIRS.items():
            os.mkdir(os.path.join(cls.top, name))
        for i in range(SUBDIRS):
            os.mkdir(os.path.join(cls.top, "many links", "d%d" % i))
        for name, mtime in DIRS.items():
            os.utime(os.path.join(cls.top, name), (mtime, mtime))
        os.symlink("plain.txt", os.path.join(cls.top, "link in"))
        os.symlink("/etc/passwd", os.path.join(cls.top, "link out"))
        cls.big = os.path.join(cls.home, "big")
        os.makedirs(cls.big)
        for i in range(10000):
            name = "entry %05d %s.dat" % (i, "é" * (i % 7))
            with open(os.path.join(cls.big, name), "wb") as f:
                f.write(b"z" * (i % 13))

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()

    def expected(self, folder, kind, perms=None):
        lines = {}
        now = time.time()
        for name in os.listdir(folder):
            p = os.path.join(folder, name)
            if os.path.islink(p) and not os.path.realpath(p).startswith(
                    os.path.realpath(self.home) + os.sep):
                continue
            st = os.stat(p)
            if kind == "LIST":
                lines[name] = long_line(st, name, now)
            elif kind == "NLST":
                lines[name] = name
            else:
                lines[name] = mlsd_line(st, name, perms)
        return lines

    def fetch(self, c, verb):
        d = c.epsv()
        code, text = c.cmd(verb)
        self.assertEqual(code, 150, text)
        body = recv_all(d, timeout=30)
        self.assertEqual(c.reply()[0], 226)
        text = body.decode("utf-8")
        self.assertTrue(text.endswith("\r\n"))
        return text[:-2].split("\r\n")

    def perms(self, c):
        """The perm facts of this user, as MLST of a file and a folder says
        (their mapping from users.ini is test_protocol's)."""
        out = {}
        for kind, path in (("file", "/tricky/plain.txt"),
                           ("dir", "/tricky/a dir")):
            code, text = c.cmd("MLST " + path)
            self.assertEqual(code, 250, text)
            fact = [f for f in text.split("\n")[1].split(";")
                    if f.startswith("perm=")]
            out[kind] = fact[0][5:]
        return out

    def test_tricky_names_sorted(self):
        with Control(self.srv.port) as c:
            c.login()
            perms = self.perms(c)
            self.assertEqual(c.cmd("CWD /tricky")[0], 250)
            for verb in ("LIST", "NLST", "MLSD"):
                want = self.expected(self.top, verb, perms)
                got = self.fetch(c, verb)
                if verb == "MLSD":
                    cdir = mlsd_line(os.stat(self.top), ".", perms)
                    self.assertEqual(got[0], cdir.replace(
                        "type=dir;", "type=cdir;"))
                    got = got[1:]
                # Sorted by name (bytes) for a small folder.
                names = sorted(want, key=lambda n: n.encode())
                self.assertEqual(got, [want[n] for n in names], verb)
            # STAT <path>: the same long lines on the control connection.
            c.send("STAT .")
            lines = []
            while True:
                line = c._line()
                lines.append(line)
                if line.startswith("213 "):
                    break
            want = self.expected(self.top, "LIST")
            names = sorted(want, key=lambda n: n.encode())
            self.assertEqual(lines[1:-1], [want[n] for n in names])
            # One file: LIST names it alone.
            got = self.fetch(c, "LIST " + 'quote"d')
            self.assertEqual(got, [self.expected(self.top, "LIST")
                                   ['quote"d']])

    def test_some_facts_only(self):
        with Control(self.srv.port) as c:
            c.login()
            self.assertEqual(c.cmd("OPTS MLST size;unique;")[0], 200)
            self.assertEqual(c.cmd("CWD /tricky")[0], 250)
            got = self.fetch(c, "MLSD")
            st = os.stat(os.path.join(self.top, "star*?[x]"))
            self.assertIn("size=%d;unique=%xU%x; star*?[x]" % (
                st.st_size, st.st_dev, st.st_ino), got)
            st = os.stat(os.path.join(self.top, "a dir"))
            self.assertIn("unique=%xU%x; a dir" % (st.st_dev, st.st_ino),
                          got)

    def test_ten_thousand_entries(self):
        with Control(self.srv.port) as c:
            c.login()
            perms = self.perms(c)
            self.assertEqual(c.cmd("CWD /big")[0], 250)
            for verb in ("LIST", "NLST", "MLSD"):
                want = self.expected(self.big, verb, perms)
                got = self.fetch(c, verb)
                if verb == "MLSD":
                    got = got[1:]
                self.assertEqual(len(got), 10000, verb)
                self.assertEqual(sorted(got), sorted(want.values()), verb)


if __name__ == "__main__":
    unittest.main(verbosity=2)
