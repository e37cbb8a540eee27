"""The man pages stay in step with the code (man/relayftpd.8,
man/relayftpd.ini.5, man/librelayftpd.3).

relayftpd.ini(5) documents every key of every config table, in its own
section: the tables are read from the C sources (every
`static const struct ..._def NAME_keys[]` array in src/, each entry's first
string literal; the users file's keys from users.c's strcmp(key, "...")
chain), so a key added to the code without a line in the page fails here,
and so does a page line for a key the code does not have. A new table must
be mapped to its section below. relayftpd(8) carries every usage line of
`relayftpd --help` in its SYNOPSIS and every signal the daemon handles
(main.c's blocked set) in SIGNALS. librelayftpd(3)'s SYNOPSIS has a
`.Fn`/`.Fo` line for exactly the functions include/relayftpd.h declares
(one missing, or one the header no longer has, fails). All pages are
`mandoc -Tlint` clean
(style level; a page it cannot find for a cross-reference excepted, since
that depends on what this machine has installed).
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import BINARY  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PAGE8 = os.path.join(REPO, "man", "relayftpd.8")
PAGE5 = os.path.join(REPO, "man", "relayftpd.ini.5")
PAGE3 = os.path.join(REPO, "man", "librelayftpd.3")
HEADER = os.path.join(REPO, "include", "relayftpd.h")
# Table name prefix (NAME_keys) -> the page's section for it.
SECTIONS = {"server": "server", "tls": "tls", "mirror": "mirror",
            "admin": "admin", "target": "target:NAME"}
USERS_SECTION = "USERS FILE"


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def strip_comments(c):
    c = re.sub(r"/\*.*?\*/", " ", c, flags=re.S)
    return re.sub(r"//[^\n]*", " ", c)


def code_tables():
    """{section: set(keys)} from every NAME_keys[] table in src/."""
    tables = {}
    files = glob.glob(os.path.join(REPO, "src", "**", "*.c"),
                      recursive=True)
    table_re = re.compile(
        r"static\s+const\s+struct\s+\w+\s+(\w+)_keys\s*\[\s*\]\s*=\s*\{"
        r"(.*?)\n\};", re.S)
    # An entry starts with "{ " or a macro "NAME(" before its name.
    entry_re = re.compile(r"(?:\{|\b[A-Z][A-Z0-9_]*\()\s*\"([a-z0-9_]+)\"")
    for path in files:
        for m in table_re.finditer(strip_comments(read(path))):
            name, body = m.group(1), m.group(2)
            if name not in SECTIONS:
                raise AssertionError(
                    "%s: table %s_keys is not mapped to a section of "
                    "relayftpd.ini(5) in %s" % (path, name, __file__))
            keys = set(entry_re.findall(body))
            assert keys, "%s: no keys read from %s_keys" % (path, name)
            tables.setdefault(SECTIONS[name], set()).update(keys)
    return tables


def user_keys():
    """The keys users.c's on_key accepts: its strcmp(key, "...") chain."""
    src = strip_comments(read(os.path.join(REPO, "src", "common",
                                           "users.c")))
    m = re.search(r"\non_key\(.*?\n\}\n", src, re.S)
    assert m, "users.c: on_key not found"
    keys = set(re.findall(r"strcmp\(key,\s*\"([a-z0-9_]+)\"\)", m.group(0)))
    assert keys, "users.c: no keys read from on_key"
    return keys


def page_keys(text):
    """{section: set(keys)}: `.It Cm KEY No = ...` items under each
    `.Ss [SECTION] section` heading, and under `.Sh USERS FILE`."""
    out = {}
    section = None
    for line in text.splitlines():
        m = re.match(r"\.Ss \[([^\]]+)\] section$", line)
        if m:
            section = m.group(1)
            continue
        if line.startswith(".Sh "):
            section = line[4:].strip()
            continue
        m = re.match(r"\.It Cm ([a-z0-9_]+) No = ", line)
        if m and section is not None:
            out.setdefault(section, set()).add(m.group(1))
    return out


def header_functions():
    """Every function the public header declares: rftpd_NAME( outside
    comments, not a type's name (`enum rftpd_auth (*authenticate)(`)."""
    text = strip_comments(read(HEADER))
    return set(re.findall(
        r"(?<!enum )(?<!struct )\b(rftpd_[a-z0-9_]+)\s*\((?!\s*\*)", text))


def synopsis_functions(text):
    """The functions of a page's SYNOPSIS: its .Fn and .Fo lines."""
    m = re.search(r"^\.Sh SYNOPSIS\n(.*?)^\.Sh ", text, re.S | re.M)
    assert m, "no SYNOPSIS section"
    return set(re.findall(r"^\.F[no] (\w+)", m.group(1), re.M))


def render(path):
    r = subprocess.run(["mandoc", "-Tascii", path], capture_output=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    # Overstrike (bold, underline) out: "X\bX" -> "X", "_\bX" -> "X".
    return re.sub(r".\x08", "", r.stdout.decode("utf-8", errors="replace"))


def section_text(rendered, name):
    m = re.search(r"^%s\n(.*?)(?=^[A-Z][A-Z ]+$)" % re.escape(name),
                  rendered, re.S | re.M)
    assert m, "no %s section" % name
    return m.group(1)


class ManPageTest(unittest.TestCase):

    def test_every_config_key_is_in_the_page(self):
        code = code_tables()
        for section in ("server", "tls", "mirror", "target:NAME"):
            self.assertIn(section, code, "table of [%s] not found" % section)
        code[USERS_SECTION] = user_keys()
        page = page_keys(read(PAGE5))
        for section, keys in sorted(code.items()):
            documented = page.get(section, set())
            self.assertEqual(
                sorted(keys - documented), [],
                "keys of [%s] in the code but not in relayftpd.ini(5)" %
                section)
            self.assertEqual(
                sorted(documented - keys), [],
                "keys of [%s] in relayftpd.ini(5) but not in the code" %
                section)
        # A section the page documents but the code has no table for
        # would slip through the loop above: say which.
        extra = set(page) - set(code) - {"FILES", "EXAMPLES"}
        self.assertEqual(sorted(extra), [])

    def test_synopsis_matches_help(self):
        out = subprocess.run([BINARY, "--help"], capture_output=True,
                             text=True, timeout=30)
        self.assertEqual(out.returncode, 0)
        usage = [re.sub(r"^usage:\s*", "", line).strip()
                 for line in out.stdout.splitlines()
                 if re.match(r"^(usage:)?\s+relayftpd ", line)]
        self.assertGreaterEqual(len(usage), 6, out.stdout)
        synopsis = [" ".join(line.split()).lower() for line in
                    section_text(render(PAGE8), "SYNOPSIS").splitlines()]
        for line in usage:
            self.assertIn(" ".join(line.split()).lower(), synopsis)
        options = set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)",
                                 out.stdout))
        page = render(PAGE8)
        for opt in options:
            self.assertIn(opt, page, opt)

    def test_every_handled_signal_is_in_the_page(self):
        # The daemon reads its signals in src/cli/daemon.c (the library
        # handles none).
        main = strip_comments(read(os.path.join(REPO, "src", "cli", "daemon.c")))
        sigs = set(re.findall(r"sigaddset\(&?\w+,\s*(SIG[A-Z0-9]+)\)", main))
        self.assertIn("SIGUSR1", sigs)
        signals = section_text(render(PAGE8), "SIGNALS")
        for sig in sigs:
            self.assertIn(sig, signals)
        self.assertTrue("SIGUSR1" in read(os.path.join(REPO, "README.md")),
                        "README.md does not say what SIGUSR1 does")

    def test_every_library_function_is_in_librelayftpd_3(self):
        header = header_functions()
        self.assertGreaterEqual(len(header), 15, sorted(header))
        page = synopsis_functions(read(PAGE3))
        self.assertEqual(sorted(header - page), [],
                         "declared in relayftpd.h, not in librelayftpd(3)")
        self.assertEqual(sorted(page - header), [],
                         "in librelayftpd(3), not declared in relayftpd.h")

    def test_mandoc_lint_is_clean(self):
        if shutil.which("mandoc") is None:
            self.fail("mandoc is not installed (scripts/deps.sh test)")
        for page in (PAGE8, PAGE5, PAGE3):
            r = subprocess.run(["mandoc", "-Tlint", "-W", "style", page],
                               capture_output=True, text=True, timeout=60)
            problems = [
                line for line in (r.stdout + r.stderr).splitlines()
                if "referenced manual not found" not in line and
                "mandoc.db" not in line]
            self.assertEqual(problems, [], page)


if __name__ == "__main__":
    unittest.main(verbosity=2)
