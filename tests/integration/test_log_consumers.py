"""The log as the tools around an FTP daemon read it (src/common/log.c,
src/server/xferlog.c, dist/fail2ban/).

journald: under systemd with log_file empty the lines go to stderr,
which is the journal's stream ($JOURNAL_STREAM names its device:inode).
Each line then starts with its sd-daemon(3) priority ("<3>" error ...
"<7>" debug), which journald takes off and keeps, so `journalctl -p err`
shows the errors and `-p warning` the warnings; a failed start's lines on
stderr (config problems, "not started") are errors too. A stderr that is
not the journal (a file, a terminal; $JOURNAL_STREAM inherited from a
parent but naming another stream) gets the lines as before, without the
prefix. Systemd is not PID 1 in every test machine, so the bytes on
stderr are checked, with $JOURNAL_STREAM set as systemd sets it.

Every wait is bounded (wait_for).
"""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import BINARY, Control, Server, wait_for  # noqa: E402

USERS = {"alice": {"password": "alice-pw"}}
PRIO = {"error": "<3>", "warn": "<4>", "info": "<6>", "debug": "<7>"}


def journal_stream(path):
    st = os.stat(path)
    return "%d:%d" % (st.st_dev, st.st_ino)


class JournalPriorityTest(unittest.TestCase):

    def start(self, stream, **server):
        """A server whose stderr file is (stream=None: is named by
        $JOURNAL_STREAM as systemd does) or is not the journal's."""
        users = {k: dict(v) for k, v in USERS.items()}
        srv = Server(users=users, server=server, start=False)
        self.addCleanup(srv.cleanup)
        # Home is a file: the login logs an error line.
        bad = os.path.join(srv.tmp, "not-a-folder")
        with open(bad, "w") as f:
            f.write("x")
        srv.users["bob"] = {"password": "bob-pw", "home": bad}
        srv.write_users()
        open(srv.out_path, "ab").close()
        old = os.environ.get("JOURNAL_STREAM")
        os.environ["JOURNAL_STREAM"] = (journal_stream(srv.out_path)
                                        if stream is None else stream)
        try:
            srv.start()
        finally:
            if old is None:
                del os.environ["JOURNAL_STREAM"]
            else:
                os.environ["JOURNAL_STREAM"] = old
        return srv

    def exercise(self, srv):
        with Control(srv.port) as c:
            self.assertEqual(c.cmd("USER alice")[0], 331)
            self.assertEqual(c.cmd("PASS wrong")[0], 530)
        with Control(srv.port) as c:
            self.assertEqual(c.cmd("USER bob")[0], 331)
            self.assertEqual(c.cmd("PASS bob-pw")[0], 530)
        self.assertTrue(wait_for(
            lambda: "cannot open home" in srv.log_text(), timeout=10),
            srv.log_text())
        srv.stop()
        return [ln for ln in srv.log_text().split("\n") if ln]

    def test_levels_become_journal_priorities(self):
        srv = self.start(None, log_level="debug")
        lines = self.exercise(srv)
        seen = set()
        for line in lines:
            prio, rest = line[:3], line[3:]
            # "<N>2026-12-05T14:55:35.580Z LEVEL ...": the line as
            # before, after the priority its level says.
            fields = rest.split(" ", 2)
            self.assertEqual(len(fields), 3, line)
            self.assertRegex(fields[0], r"^\d{4}-\d\d-\d\dT[\d:.]+Z$",
                             line)
            self.assertEqual(prio, PRIO[fields[1]], line)
            seen.add(fields[1])
        self.assertEqual(seen, {"error", "info", "debug"} | (
            {"warn"} if os.geteuid() == 0 else set()), lines)
        self.assertTrue(any(ln.startswith("<3>") and "cannot open home"
                            in ln for ln in lines), lines)
        self.assertTrue(any(ln.startswith("<6>") and "login failed for "
                            "'alice': bad password" in ln for ln in lines),
                        lines)

    def test_other_stream_gets_no_prefix(self):
        # A $JOURNAL_STREAM inherited from a parent whose stderr was the
        # journal: this stderr is a file, the lines are plain.
        st = os.stat(os.devnull)
        srv = self.start("%d:%d" % (st.st_dev, st.st_ino))
        lines = self.exercise(srv)
        for line in lines:
            self.assertRegex(line, r"^\d{4}-\d\d-\d\dT", line)

    def test_failed_start_is_an_error(self):
        srv = Server(users={k: dict(v) for k, v in USERS.items()},
                     server={"log_file": "/nonexistent-rftp/x.log"},
                     start=False)
        self.addCleanup(srv.cleanup)
        out = os.path.join(srv.tmp, "stderr")
        with open(out, "wb") as f:
            env = dict(os.environ, JOURNAL_STREAM=journal_stream(out))
            code = subprocess.run(
                [BINARY, "--config", srv.config_path], env=env,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=f, timeout=30).returncode
        self.assertEqual(code, 1)
        with open(out, encoding="utf-8") as f:
            lines = [ln for ln in f.read().split("\n") if ln]
        self.assertTrue(lines)
        self.assertTrue(any("log_file" in ln for ln in lines), lines)
        self.assertTrue(any("not started" in ln for ln in lines), lines)
        for line in lines:
            self.assertTrue(line.startswith("<3>"), lines)


if __name__ == "__main__":
    unittest.main()
