"""librelayftpd's boundary: what the shared library exports is exactly what
include/relayftpd.h declares, and the header stands on its own.

  - `nm -D --defined-only` of the built librelayftpd.so lists exactly the
    functions the header declares (every `rftpd_NAME(` outside comments),
    each as a function (T): a symbol of a static layer, of a bundled
    dependency or a global variable leaking out fails, and so does a
    declared function the library lacks. Only the symbols a linker may
    define itself (_init, _fini, _edata, _end, __bss_start) are ignored.
  - The header alone (included twice, first and only) compiles as C99 with
    -Wall -Wextra -Wpedantic -Wstrict-prototypes -Werror, and a C99
    program calling rftpd_version links against the library and prints
    the project's version.
  - The same as C++ (g++, -std=c++11, the same warnings): it compiles,
    links (so its declarations have C linkage) and runs. Skipped with a
    message if g++ is not installed.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import BINARY  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.dirname(os.path.abspath(BINARY))
HEADER = os.path.join(REPO, "include", "relayftpd.h")
LIBRARY = os.path.join(BUILD, "librelayftpd.so")
# What ld may put in .dynsym on its own (older binutils did).
LINKER_DEFINED = {"_init", "_fini", "_edata", "_end", "__bss_start"}
WARNINGS = ["-Wall", "-Wextra", "-Wpedantic", "-Werror"]

PROGRAM = r"""#include <relayftpd.h>
#include <relayftpd.h> /* the include guard */
#include <stdio.h>

int
main(void)
{
	rftpd_config *cfg = rftpd_config_new();
	int ok = cfg != NULL;

	rftpd_config_free(cfg);
	printf("%s %d\n", rftpd_version(), ok);
	return 0;
}
"""


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def declared():
    """Every rftpd_NAME( of the header, comments left out: the name of a
    function, not a type (`enum rftpd_auth (*authenticate)(...)`)."""
    text = re.sub(r"/\*.*?\*/", " ", read(HEADER), flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    return set(re.findall(
        r"(?<!enum )(?<!struct )\b(rftpd_[a-z0-9_]+)\s*\((?!\s*\*)", text))


def exported():
    """{name: nm type letter} of the library's defined dynamic symbols."""
    r = subprocess.run(["nm", "-D", "--defined-only", LIBRARY],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = {}
    for line in r.stdout.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        kind, name = fields[-2], fields[-1].split("@")[0]
        if name not in LINKER_DEFINED:
            out[name] = kind
    return out


def project_version():
    m = re.search(r"^project\(relayftpd VERSION (\d+\.\d+\.\d+)\b",
                  read(os.path.join(REPO, "CMakeLists.txt")), re.M)
    assert m, "CMakeLists.txt: no project(relayftpd VERSION x.y.z)"
    return m.group(1)


def sanitizer_flags():
    """An ASan build's library needs its runtime first (as in
    test_lib_install.py)."""
    cache = read(os.path.join(BUILD, "CMakeCache.txt"))
    if re.search(r"^RELAYFTPD_SANITIZE:BOOL=(ON|1|TRUE)$", cache, re.M):
        return ["-fsanitize=address,undefined"]
    return []


class LibSymbolsTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rftp-libsym-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def test_exports_are_the_header_functions(self):
        header = declared()
        # The parse found the API, not a stray word or two.
        self.assertGreaterEqual(len(header), 15, sorted(header))
        self.assertIn("rftpd_server_new", header)
        symbols = exported()
        self.assertEqual(sorted(set(symbols) - header), [],
                         "exported by librelayftpd.so but not in "
                         "include/relayftpd.h")
        self.assertEqual(sorted(header - set(symbols)), [],
                         "declared in include/relayftpd.h but not exported")
        self.assertEqual({n: k for n, k in symbols.items() if k != "T"}, {},
                         "exported, but not as functions")

    def build_and_run(self, compiler, std, suffix, extra=()):
        src = os.path.join(self.tmp, "prog" + suffix)
        with open(src, "w") as f:
            f.write(PROGRAM)
        flags = [compiler, "-std=" + std] + WARNINGS + list(extra)
        # The header alone first: nothing but it in a translation unit.
        only = os.path.join(self.tmp, "only" + suffix)
        with open(only, "w") as f:
            f.write("#include <relayftpd.h>\n")
        r = subprocess.run(flags + ["-fsyntax-only", "-I",
                                    os.path.join(REPO, "include"), only],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        exe = os.path.join(self.tmp, "prog")
        r = subprocess.run(
            flags + sanitizer_flags() +
            ["-I", os.path.join(REPO, "include"), src, "-o", exe,
             "-L", BUILD, "-lrelayftpd"],
            capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = subprocess.run([exe], env=dict(os.environ,
                                           LD_LIBRARY_PATH=BUILD),
                           capture_output=True, text=True, timeout=60)
        self.assertEqual((r.returncode, r.stdout),
                         (0, project_version() + " 1\n"), r.stderr)

    def test_header_is_self_contained_c99(self):
        self.build_and_run("cc", "c99", ".c", ["-Wstrict-prototypes"])

    def test_header_is_usable_from_cplusplus(self):
        if shutil.which("g++") is None:
            self.skipTest("g++ is not installed: the C++ check is skipped")
        self.build_and_run("g++", "c++11", ".cpp")


if __name__ == "__main__":
    unittest.main(verbosity=2)
