"""The layer rules are enforced, not just written down (STYLE.md).

scripts/check-layers.sh passes on the tree and fails, naming the file, on
each kind of planted violation: a second includer of a one-owner library
header, common/ including server/, server/ including mirror/ and back, and
an include that climbs with "..". The build itself refuses a crossing: a
copy of the tree with server/ including a mirror/ header does not compile.
"""
import os
import shutil
import subprocess
import tempfile
import unittest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHECK = os.path.join(REPO, "scripts", "check-layers.sh")


def check(src):
    return subprocess.run([CHECK, src], capture_output=True, text=True,
                          timeout=60)


class LayersTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rftp-layers-")
        self.src = os.path.join(self.tmp, "src")
        shutil.copytree(os.path.join(REPO, "src"), self.src)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def plant(self, rel, line):
        with open(os.path.join(self.src, rel), "a") as f:
            f.write("\n" + line + "\n")

    def test_tree_passes(self):
        r = check(os.path.join(REPO, "src"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")

    def assert_refused(self, rel, line, why):
        self.plant(rel, line)
        r = check(self.src)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(os.path.join(self.src, rel), r.stderr)
        self.assertIn(why, r.stderr)

    def test_second_curl_includer(self):
        # The libcurl owners are listed (the transports of each kind of
        # target), then "alone".
        self.assert_refused("server/ban.c", "#include <curl/curl.h>",
                            "<curl/curl.h> belongs to mirror/transport_curl.c")

    def test_second_sodium_includer(self):
        self.assert_refused("mirror/queue.c", "#include <sodium.h>",
                            "belongs to common/users.c and common/pwcache.c "
                            "alone")

    def test_second_sqlite_includer(self):
        self.assert_refused("mirror/transport.c", "# include <sqlite3.h>",
                            "belongs to mirror/queue.c alone")

    def test_second_ssl_includer(self):
        self.assert_refused("common/hash.c", "#include <openssl/ssl.h>",
                            "belongs to server/tls.c alone")

    def test_owner_loses_its_include(self):
        path = os.path.join(self.src, "mirror", "queue.c")
        with open(path) as f:
            text = f.read().replace("#include <sqlite3.h>", "")
        with open(path, "w") as f:
            f.write(text)
        r = check(self.src)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("included nowhere", r.stderr)

    def test_common_includes_server(self):
        self.assert_refused("common/buf.c", '#include "server/session.h"',
                            "common/ must not include server/")

    def test_common_includes_mirror(self):
        self.assert_refused("common/log.h", '#include "mirror/queue.h"',
                            "common/ must not include mirror/")

    def test_server_includes_mirror(self):
        self.assert_refused("server/quota.c", '#include "mirror/queue.h"',
                            "server/ must not include mirror/")

    def test_mirror_includes_server(self):
        self.assert_refused("mirror/watcher.c", '#include "server/tls.h"',
                            "mirror/ must not include server/")

    def test_engine_includes_the_daemon(self):
        # The engine serves the library too: the daemon's signals and
        # printing (cli/) stay out of it.
        self.assert_refused("lib/engine.c", '#include "cli/daemon.h"',
                            "lib/ must not include cli/")

    def test_server_includes_the_engine(self):
        self.assert_refused("server/session.c", '#include "lib/engine.h"',
                            "server/ must not include lib/")

    def test_public_header_outside_the_api(self):
        # The engine and the daemon use the internal headers; only the
        # API's implementation includes the public one.
        self.assert_refused("lib/engine.c", '#include "relayftpd.h"',
                            "relayftpd.h (the public API) belongs to "
                            "lib/api.c alone")

    def test_sd_daemon_outside_the_daemon(self):
        self.assert_refused("server/server.c",
                            "#include <systemd/sd-daemon.h>",
                            "belongs to cli/svcnotify.c alone")

    def test_climbing_include(self):
        self.assert_refused("server/ban.c", '#include "../mirror/queue.h"',
                            "climbs with ..")

    def test_build_refuses_a_crossing(self):
        # The real build on a copy of the tree: server/ban.c including a
        # mirror/ header does not compile; untouched, it does.
        for name in ("CMakeLists.txt",):
            shutil.copy(os.path.join(REPO, name), self.tmp)
        # What CMakeLists.txt builds besides src/: the public header, the
        # example and the pkg-config template.
        for name in ("include", "examples", "dist"):
            shutil.copytree(os.path.join(REPO, name),
                            os.path.join(self.tmp, name))
        build = os.path.join(self.tmp, "build")
        r = subprocess.run(["cmake", "-S", self.tmp, "-B", build,
                            "-DRELAYFTPD_TESTS=OFF"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

        def compile_ban():
            # From scratch each time: the planted line can land within the
            # file system's timestamp granularity of the first object.
            obj = os.path.join(build, "CMakeFiles", "rftp_server.dir", "src",
                               "server", "ban.c.o")
            if os.path.exists(obj):
                os.unlink(obj)
            return subprocess.run(["make", "-C", build, "src/server/ban.o"],
                                  capture_output=True, text=True,
                                  timeout=120)
        r = compile_ban()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.plant("server/ban.c", '#include "mirror/queue.h"')
        r = compile_ban()
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("mirror/queue.h", r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
