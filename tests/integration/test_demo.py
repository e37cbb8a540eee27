"""A new user's first hour: `make run` and the README, word for word.

The README's command blocks marked `<!-- demo-test: NAME -->` are run
verbatim with bash against the real demo (scripts/run-demo.sh, the recipe
of `make run`) in a copy of the repository's demo files, in the order a
reader meets them: the certificate command, the "try it" block (plain and
FTPS uploads, lftp, mirror status) and the add-a-user block (hash, append,
log in without a restart). Files must arrive on the demo target; deletes
and renames are mirrored there too. Stopping: Ctrl-C on `make run` in a
terminal (a pty here), SIGINT to the process group and SIGTERM to the
script all stop both servers cleanly with exit 0.

The demo listens on its fixed ports (2121, 2122; its status page on
2180), as the README says, so
this test fails with a clear message if something else holds them.
"""
import ftplib
import hashlib
import os
import pty
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import port_free  # noqa: E402
from harness import BINARY, wait_for  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEMO_PORT, TARGET_PORT, ADMIN_PORT = 2121, 2122, 2180


def readme_blocks():
    """{name: [command lines]} of the README's marked ```sh blocks; a line
    ending in a backslash continues on the next."""
    text = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
    blocks = {}
    for m in re.finditer(r"<!-- demo-test: ([a-z-]+) -->\n```sh\n(.*?)```",
                         text, re.S):
        lines, cur = [], ""
        for ln in m.group(2).splitlines():
            cur += ln
            if cur.endswith("\\"):
                cur = cur[:-1] + " "
                continue
            if cur.strip():
                lines.append(cur)
            cur = ""
        blocks[m.group(1)] = lines
    return blocks


def refuses(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except OSError:
        return True


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


class DemoTest(unittest.TestCase):

    def setUp(self):
        for port in (DEMO_PORT, TARGET_PORT, ADMIN_PORT):
            self.assertTrue(port_free(port, reuse=True), "port %d is in use: stop "
                            "whatever holds it (a running `make run`?)"
                            % port)
        self.tmp = tempfile.mkdtemp(prefix="rftp-demo-")
        # What `make run` uses, laid out as in the repository; the binary
        # is the one under test.
        for name in ("README.md", "Makefile", "relayftpd.ini.example",
                     "users.ini.example"):
            shutil.copy(os.path.join(REPO, name), self.tmp)
        shutil.copytree(os.path.join(REPO, "examples"),
                        os.path.join(self.tmp, "examples"))
        os.mkdir(os.path.join(self.tmp, "scripts"))
        shutil.copy(os.path.join(REPO, "scripts", "run-demo.sh"),
                    os.path.join(self.tmp, "scripts"))
        os.mkdir(os.path.join(self.tmp, "build"))
        os.symlink(os.path.abspath(BINARY),
                   os.path.join(self.tmp, "build", "relayftpd"))
        self.proc = None

    def tearDown(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            self.out.close()
        # Nothing of the demo may outlive it: every process working in
        # the copy (a server in a terminal's job of its own included).
        for pid in os.listdir("/proc"):
            try:
                if pid.isdigit() and os.readlink(
                        "/proc/%s/cwd" % pid).startswith(self.tmp):
                    os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def start_script(self):
        self.out = open(self.path("run.out"), "wb")
        self.proc = subprocess.Popen(
            ["scripts/run-demo.sh", "build/relayftpd"], cwd=self.tmp,
            stdin=subprocess.DEVNULL, stdout=self.out,
            stderr=subprocess.STDOUT, start_new_session=True)
        ok = wait_for(lambda: "listening on 127.0.0.1:2121" in
                      read(self.path("run.out"))
                      or self.proc.poll() is not None, timeout=60)
        text = read(self.path("run.out"))
        self.assertTrue(ok and self.proc.poll() is None,
                        "demo did not start:\n" + text)

    def run_block(self, name, timeout=60):
        """Types the block's lines into one bash, as a reader does in one
        terminal (variables carry over); each must exit 0. Returns each
        line's output."""
        sh = subprocess.Popen(["bash"], cwd=self.tmp, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
        outs = []
        try:
            for line in readme_blocks()[name]:
                if line.startswith("ls demo/target/"):
                    # A reader types slower than the mirror pushes; the
                    # test waits for the push it is about to look at.
                    folder = self.path(line.split()[1])
                    wait_for(lambda: os.path.isdir(folder), timeout=30)
                sh.stdin.write(line.encode() + b"\necho __RC=$?\n")
                sh.stdin.flush()
                out, deadline = b"", time.monotonic() + timeout
                while time.monotonic() < deadline:
                    m = re.search(rb"__RC=(\d+)\n", out)
                    if m:
                        break
                    r, _, _ = select.select([sh.stdout], [], [], 0.5)
                    if r:
                        data = os.read(sh.stdout.fileno(), 65536)
                        if not data:
                            break
                        out += data
                self.assertTrue(m, "README command hung: %s\n%s"
                                % (line, out.decode(errors="replace")))
                text = out[:m.start()].decode(errors="replace")
                self.assertEqual(m.group(1), b"0", "README command failed: "
                                 "%s\n%s" % (line, text))
                outs.append(text)
        finally:
            sh.stdin.close()
            sh.wait(timeout=10)
        return outs

    def assert_arrives(self, rel, src, timeout=30):
        dst = self.path("demo", "target", "incoming", rel)
        ok = wait_for(lambda: os.path.isfile(dst) and sha(dst) == sha(src),
                      timeout=timeout)
        self.assertTrue(ok, "%s did not arrive on the demo target" % rel)

    def stop_log_ok(self, server_log=None):
        """Both servers logged a clean stop and their ports are closed."""
        if server_log is None:
            server_log = read(self.path("run.out"))
        target_log = read(self.path("demo", "target.log"))
        for name, text in (("server", server_log), ("target", target_log)):
            self.assertIn("info stopped", text, name + ":\n" + text[-2000:])
        self.assertTrue(refuses(DEMO_PORT) and refuses(TARGET_PORT) and
                        refuses(ADMIN_PORT))

    def test_readme_word_for_word(self):
        blocks = readme_blocks()
        self.assertEqual(set(blocks), {"cert", "try", "add-user"}, blocks)
        # The README's certificate command first, so the demo serves the
        # certificate a reader would make (make run keeps existing ones).
        self.run_block("cert")
        cert_hash = sha(self.path("cert.pem"))
        self.start_script()
        self.assertEqual(sha(self.path("cert.pem")), cert_hash)
        for name in ("relayftpd.ini", "users.ini"):
            self.assertTrue(os.path.isfile(self.path(name)), name)
        out = self.run_block("try")
        readme = self.path("README.md")
        # Plain and FTPS uploads (the FTPS one checks the certificate
        # against cert.pem, no -k) are stored and mirrored.
        self.assertEqual(sha(self.path("demo", "home", "demo", "README.md")),
                         sha(readme))
        self.assertEqual(sha(self.path("demo", "home", "demo", "secret.md")),
                         sha(readme))
        self.assert_arrives("demo/README.md", readme)
        self.assert_arrives("demo/secret.md", readme)
        self.assertIn("README.md", out[1])          # curl's listing
        self.assertIn("README.md", out[3])          # lftp's
        self.assertRegex(out[5], r"target local: state=up ")
        # The status page's metrics count the two uploads.
        self.assertIn('relayftpd_uploads_total{result="completed"} 2',
                      out[6])
        self.assertIn("admin listening on http://127.0.0.1:2180/",
                      read(self.path("run.out")))

        # Add a user, word for word, and log in without a restart.
        self.run_block("add-user")
        self.assertEqual(
            sha(self.path("demo", "home", "alice", "README.md")), sha(readme))
        self.assert_arrives("alice/README.md", readme)

        # Deletes and renames reach the demo target too.
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", DEMO_PORT, timeout=10)
        ftp.login("demo", "demo")
        ftp.rename("secret.md", "renamed.md")
        ftp.delete("README.md")
        ftp.quit()
        tgt = self.path("demo", "target", "incoming", "demo")
        ok = wait_for(lambda: sorted(os.listdir(tgt)) == ["renamed.md"],
                      timeout=30)
        self.assertTrue(ok, os.listdir(tgt))

        # SIGTERM to the script (what a service manager sends): exit 0,
        # both servers stopped cleanly.
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(timeout=30), 0)
        self.stop_log_ok()

    def test_sigint_to_the_group(self):
        # Ctrl-C without a terminal: SIGINT reaches every process of the
        # group (script, demo server, target).
        self.start_script()
        os.killpg(self.proc.pid, signal.SIGINT)
        self.assertEqual(self.proc.wait(timeout=30), 0)
        self.stop_log_ok()
        self.assertNotIn("Error", read(self.path("run.out")))

    def test_ctrl_c_on_make_run_in_a_terminal(self):
        # `make run` in a terminal, and the user presses Ctrl-C: make
        # exits 0, with no "make: *** ... Error" line. (-o build: the
        # binary under test is already built.)
        pid, fd = pty.fork()
        if pid == 0:
            os.chdir(self.tmp)
            os.execvp("make", ["make", "-o", "build", "run"])
        out = b""
        deadline = time.monotonic() + 60
        while b"listening on 127.0.0.1:2121" not in out and \
                time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.5)
            if r:
                try:
                    out += os.read(fd, 4096)
                except OSError:
                    break
        self.assertIn(b"listening on 127.0.0.1:2121", out, out.decode())
        os.write(fd, b"\x03")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.5)
            if r:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    break
                if not data:
                    break
                out += data
        _, status = os.waitpid(pid, 0)
        os.close(fd)
        text = out.decode(errors="replace")
        self.assertTrue(os.WIFEXITED(status), "make died: %r\n%s"
                        % (status, text))
        self.assertEqual(os.WEXITSTATUS(status), 0, text)
        self.assertNotIn("Error", text)
        self.stop_log_ok(text)


if __name__ == "__main__":
    unittest.main(verbosity=2)
