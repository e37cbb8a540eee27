"""make install (CMakeLists.txt install rules, dist/install.cmake, the
Makefile's install target): PREFIX and DESTDIR are honoured.

The install command is the Makefile's own (`make -n install PREFIX=...
DESTDIR=...` prints it; it is run as printed, against the build this test
belongs to, so the build is not redone while other tests use it). The
files under DESTDIR are exactly the expected list, nothing lands outside
it, the installed daemon runs, the man pages and logrotate snippet are the
sources' (the library's files are checked by test_lib_install.py), and the unit names the installed binary and the configuration
under PREFIX/etc (/etc for PREFIX=/usr, as a distribution package wants).
"""
import filecmp
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import BINARY  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.dirname(os.path.abspath(BINARY))


def expected(prefix, etc):
    p = prefix.lstrip("/")
    return sorted([
        p + "/sbin/relayftpd",
        p + "/lib/librelayftpd.so",
        p + "/lib/librelayftpd.so.0",
        p + "/lib/librelayftpd.so.0.1.0",
        p + "/lib/pkgconfig/relayftpd.pc",
        p + "/include/relayftpd.h",
        p + "/share/man/man3/librelayftpd.3",
        p + "/share/doc/relayftpd/examples/embed.c",
        p + "/lib/systemd/system/relayftpd.service",
        p + "/share/man/man8/relayftpd.8",
        p + "/share/man/man5/relayftpd.ini.5",
        p + "/share/doc/relayftpd/relayftpd.ini.example",
        p + "/share/doc/relayftpd/users.ini.example",
        p + "/share/doc/relayftpd/README.md",
        p + "/share/doc/relayftpd/SECURITY.md",
        p + "/share/doc/relayftpd/fail2ban/relayftpd.conf",
        p + "/share/doc/relayftpd/fail2ban/relayftpd.jail",
        etc.lstrip("/") + "/logrotate.d/relayftpd",
    ])


def tree(root):
    out = []
    for folder, _, files in os.walk(root):
        for name in files:
            out.append(os.path.relpath(os.path.join(folder, name), root))
    return sorted(out)


class InstallTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rftp-install-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def make_install(self, prefix, destdir):
        """Runs the Makefile's install command for prefix and destdir."""
        r = subprocess.run(
            ["make", "-n", "--no-print-directory", "install",
             "PREFIX=" + prefix, "DESTDIR=" + destdir, "BUILD=" + BUILD],
            cwd=REPO, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = [line for line in r.stdout.splitlines()
                 if "cmake --install" in line]
        self.assertEqual(len(lines), 1, r.stdout)
        cmd = lines[0]
        self.assertIn('DESTDIR="%s"' % destdir, cmd)
        self.assertIn('--prefix "%s"' % prefix, cmd)
        r = subprocess.run(["sh", "-c", cmd], cwd=REPO, capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r.stdout

    def check_common(self, root, prefix, etc):
        self.assertEqual(tree(root), expected(prefix, etc))
        binary = os.path.join(root, prefix.lstrip("/"), "sbin", "relayftpd")
        self.assertTrue(os.stat(binary).st_mode & stat.S_IXUSR)
        out = subprocess.run([binary, "--version"], capture_output=True,
                             text=True, timeout=30)
        self.assertEqual(out.returncode, 0)
        self.assertTrue(out.stdout.startswith("relayftpd "), out.stdout)
        for section, page in (("man8", "relayftpd.8"),
                              ("man5", "relayftpd.ini.5"),
                              ("man3", "librelayftpd.3")):
            self.assertTrue(filecmp.cmp(
                os.path.join(REPO, "man", page),
                os.path.join(root, prefix.lstrip("/"), "share", "man",
                             section, page), shallow=False))
        self.assertTrue(filecmp.cmp(
            os.path.join(REPO, "dist", "relayftpd.logrotate"),
            os.path.join(root, etc.lstrip("/"), "logrotate.d", "relayftpd"),
            shallow=False))
        with open(os.path.join(root, prefix.lstrip("/"), "lib", "systemd",
                               "system", "relayftpd.service")) as f:
            unit = f.read()
        self.assertNotRegex(unit, r"@[A-Z_]+@")  # every placeholder filled
        # Quoted as systemd splits it: a blank in the prefix stays in
        # the one word.
        self.assertIn('\nExecStart="%s/sbin/relayftpd" --config '
                      '"%s/relayftpd/relayftpd.ini"\n' % (prefix, etc), unit)

    def test_prefix_usr_local_with_destdir(self):
        root = os.path.join(self.tmp, "pkg root")  # a blank in DESTDIR
        out = self.make_install("/usr/local", root)
        self.check_common(root, "/usr/local", "/usr/local/etc")
        # Every file cmake reports is under DESTDIR, and it reports each
        # file installed there (no line of its output: nothing checked).
        reported = [line.split(": ", 1)[1] for line in out.splitlines()
                    if line.startswith(("-- Installing: ",
                                        "-- Up-to-date: "))]
        for path in reported:
            self.assertTrue(path.startswith(root + "/"), path)
        self.assertEqual(sorted(os.path.relpath(path, root)
                                for path in reported), tree(root), out)

    def test_prefix_usr_puts_config_files_in_etc(self):
        root = os.path.join(self.tmp, "root")
        self.make_install("/usr", root)
        self.check_common(root, "/usr", "/etc")

    def test_other_prefix(self):
        root = os.path.join(self.tmp, "root")
        self.make_install("/opt/relay ftpd", root)
        self.check_common(root, "/opt/relay ftpd", "/opt/relay ftpd/etc")


if __name__ == "__main__":
    unittest.main(verbosity=2)
