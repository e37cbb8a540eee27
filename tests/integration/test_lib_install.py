"""librelayftpd as a program that embeds it gets it: installed by `make
install`, found through pkg-config, linked and run.

The install command is the Makefile's own (`make -n install`, run as
printed against this build, as test_install.py does) into a temporary
DESTDIR. Then, from the installed tree only:
  - the library: lib/librelayftpd.so -> .so.MAJOR -> .so.VERSION, its
    SONAME librelayftpd.so.MAJOR (readelf -d), the header and
    lib/pkgconfig/relayftpd.pc, whose --modversion is project()'s VERSION
    in CMakeLists.txt (and the installed header's RFTPD_VERSION_* say the
    same), and whose prefix is where it was installed (relocatable);
  - the installed share/doc/relayftpd/examples/embed.c is built with the
    build line written in its own header comment (`cc embed.c
    $(pkg-config --cflags --libs relayftpd) -o embed`, PKG_CONFIG_PATH
    pointing into DESTDIR) and run with LD_LIBRARY_PATH at the installed
    lib/ (its memory map shows that copy loaded), serving a folder named
    relative to its working directory;
  - Python's ftplib logs in as bob/bob (the example's rule: the password
    is the name reversed) and uploads a file whose name has blanks, a %
    and UTF-8: the bytes on disk are the sent ones, and the program's line
    "received /NAME from bob: N bytes, sha256 HEX" is already printed when
    ftplib gets 226 (upload_complete runs before the 226), with the right
    size and SHA-256;
  - a wrong password gets 530 (bob/bobx, alice/alice), alice/ecila 230;
  - SIGTERM stops the program with exit status 0.
README's "Embedding" quotes the example: each line of its C block (its
/* ... */ placeholders left out) is a line of examples/embed.c.
"""
import filecmp
import ftplib
import hashlib
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import BINARY, wait_for  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.dirname(os.path.abspath(BINARY))
PREFIX = "/usr/local"


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def project_version():
    m = re.search(r"^project\(relayftpd VERSION (\d+\.\d+\.\d+)\b",
                  read(os.path.join(REPO, "CMakeLists.txt")), re.M)
    assert m, "CMakeLists.txt: no project(relayftpd VERSION x.y.z)"
    return m.group(1)


def sanitizer_flags():
    """An ASan build's library needs its runtime loaded first: a program
    linking it is built with the same -fsanitize (plain builds: none)."""
    cache = read(os.path.join(BUILD, "CMakeCache.txt"))
    if re.search(r"^RELAYFTPD_SANITIZE:BOOL=(ON|1|TRUE)$", cache, re.M):
        return " -fsanitize=address,undefined"
    return ""


class LibInstallTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rftp-libinstall-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.root = os.path.join(self.tmp, "root")
        self.prefix = os.path.join(self.root, PREFIX.lstrip("/"))
        self.libdir = os.path.join(self.prefix, "lib")
        self.pcdir = os.path.join(self.libdir, "pkgconfig")
        self.env = dict(os.environ, PKG_CONFIG_PATH=self.pcdir)
        self.make_install()

    def make_install(self):
        """Runs the Makefile's install command (as test_install.py)."""
        r = subprocess.run(
            ["make", "-n", "--no-print-directory", "install",
             "PREFIX=" + PREFIX, "DESTDIR=" + self.root, "BUILD=" + BUILD],
            cwd=REPO, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = [line for line in r.stdout.splitlines()
                 if "cmake --install" in line]
        self.assertEqual(len(lines), 1, r.stdout)
        r = subprocess.run(["sh", "-c", lines[0]], cwd=REPO,
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def pkg_config(self, *args):
        r = subprocess.run(["pkg-config"] + list(args) + ["relayftpd"],
                           env=self.env, capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.strip()

    def test_installed_library_header_and_pc(self):
        version = project_version()
        major = version.split(".")[0]
        real = "librelayftpd.so." + version
        self.assertEqual(os.readlink(os.path.join(self.libdir,
                                                  "librelayftpd.so")),
                         "librelayftpd.so." + major)
        self.assertEqual(os.readlink(os.path.join(
            self.libdir, "librelayftpd.so." + major)), real)
        path = os.path.join(self.libdir, real)
        self.assertTrue(os.path.isfile(path) and not os.path.islink(path))
        r = subprocess.run(["readelf", "-d", path], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(
            re.findall(r"\(SONAME\)\s+Library soname: \[([^\]]+)\]",
                       r.stdout), ["librelayftpd.so." + major])
        header = os.path.join(self.prefix, "include", "relayftpd.h")
        self.assertTrue(filecmp.cmp(header, os.path.join(
            REPO, "include", "relayftpd.h"), shallow=False))
        macros = dict(re.findall(r"#define RFTPD_VERSION_(MAJOR|MINOR|PATCH)"
                                 r"\s+(\d+)", read(header)))
        self.assertEqual("%s.%s.%s" % (macros["MAJOR"], macros["MINOR"],
                                       macros["PATCH"]), version)
        self.assertEqual(self.pkg_config("--modversion"), version)
        # Relocatable: the prefix is where the .pc was installed, under
        # DESTDIR, not the build's or PREFIX itself.
        for var, want in (("prefix", self.prefix), ("libdir", self.libdir),
                          ("includedir",
                           os.path.join(self.prefix, "include"))):
            got = self.pkg_config("--variable=" + var)
            self.assertEqual(os.path.realpath(got), os.path.realpath(want),
                             var)

    def build_example(self):
        """The installed example, built with its own documented line."""
        folder = os.path.join(self.prefix, "share", "doc", "relayftpd",
                              "examples")
        src = os.path.join(folder, "embed.c")
        self.assertTrue(filecmp.cmp(src, os.path.join(
            REPO, "examples", "embed.c"), shallow=False))
        m = re.search(r"^ \*\s+(cc embed\.c .*-o embed)\s*$", read(src),
                      re.M)
        self.assertIsNotNone(m, "no build line in embed.c's comment")
        self.assertIn("$(pkg-config --cflags --libs relayftpd)", m.group(1))
        cmd = m.group(1) + sanitizer_flags()
        r = subprocess.run(["sh", "-c", cmd], cwd=folder, env=self.env,
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, cmd + "\n" + r.stderr)
        exe = os.path.join(folder, "embed")
        r = subprocess.run(["readelf", "-d", exe], capture_output=True,
                           text=True, timeout=30)
        self.assertIn("Shared library: [librelayftpd.so.%s]" %
                      project_version().split(".")[0], r.stdout)
        return exe

    def test_example_built_from_install_serves_and_reports(self):
        exe = self.build_example()
        home = os.path.join(self.tmp, "home")
        os.mkdir(home)
        out_path = os.path.join(self.tmp, "embed.out")
        err_path = os.path.join(self.tmp, "embed.err")
        env = dict(os.environ, LD_LIBRARY_PATH=self.libdir)
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            # DIR as a user types it, relative: grants need it absolute.
            proc = subprocess.Popen([exe, "home"], cwd=self.tmp, env=env,
                                    stdout=out, stderr=err)

        def stop():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
        self.addCleanup(stop)

        serving = re.compile(r"^serving (.+) on 127\.0\.0\.1:(\d+)$", re.M)
        self.assertTrue(
            wait_for(lambda: serving.search(read(out_path)) or
                     proc.poll() is not None, timeout=60),
            "no serving line")
        m = serving.search(read(out_path))
        self.assertIsNotNone(m, read(out_path) + read(err_path))
        self.assertEqual(m.group(1), os.path.realpath(home))
        port = int(m.group(2))
        # The library, not the build's copy, is the one mapped.
        with open("/proc/%d/maps" % proc.pid) as f:
            maps = f.read()
        self.assertIn(os.path.realpath(os.path.join(
            self.libdir, "librelayftpd.so." + project_version())), maps)

        name = "cam 1 \u00fc %d-\u2603.bin"
        data = os.urandom(300 * 1024 + 7)
        ftp = ftplib.FTP(timeout=30, encoding="utf-8")
        ftp.connect("127.0.0.1", port)
        self.assertTrue(ftp.login("bob", "bob").startswith("230"))
        reply = ftp.storbinary("STOR " + name, io.BytesIO(data))
        self.assertTrue(reply.startswith("226"), reply)
        # upload_complete ran (and flushed) before the 226: no waiting.
        lines = re.findall(r"^received .*$", read(out_path), re.M)
        self.assertEqual(lines, [
            "received /%s from bob: %d bytes, sha256 %s" %
            (name, len(data), hashlib.sha256(data).hexdigest())])
        ftp.quit()
        with open(os.path.join(home, name), "rb") as f:
            self.assertEqual(f.read(), data)

        # The rule is the name reversed, not the name itself.
        for user, password in (("bob", "bobx"), ("alice", "alice")):
            ftp = ftplib.FTP(timeout=30, encoding="utf-8")
            ftp.connect("127.0.0.1", port)
            with self.assertRaises(ftplib.error_perm) as cm:
                ftp.login(user, password)
            self.assertTrue(str(cm.exception).startswith("530"),
                            cm.exception)
            ftp.close()
        ftp = ftplib.FTP(timeout=30, encoding="utf-8")
        ftp.connect("127.0.0.1", port)
        self.assertTrue(ftp.login("alice", "ecila").startswith("230"))
        ftp.quit()

        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=60), 0, read(err_path))
        self.assertEqual(len(re.findall(r"^received ", read(out_path),
                                        re.M)), 1)


class ReadmeQuoteTest(unittest.TestCase):

    def test_readme_quotes_the_example(self):
        readme = read(os.path.join(REPO, "README.md"))
        m = re.search(r"^## Embedding.*?^```c\n(.*?)^```$", readme,
                      re.S | re.M)
        self.assertIsNotNone(m, "README: no C block under ## Embedding")
        example = {line.strip() for line in
                   read(os.path.join(REPO, "examples", "embed.c"))
                   .splitlines()}
        quoted = [re.sub(r"/\*.*?\*/", "", line).strip()
                  for line in m.group(1).splitlines()]
        quoted = [line for line in quoted if line]
        self.assertGreater(len(quoted), 20)
        self.assertEqual([line for line in quoted if line not in example],
                         [], "README lines not in examples/embed.c")


if __name__ == "__main__":
    unittest.main(verbosity=2)
