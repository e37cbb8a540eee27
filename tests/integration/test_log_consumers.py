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

fail2ban: dist/fail2ban/relayftpd.conf, run by the real fail2ban-regex
on a log a running server wrote, finds each failed login exactly once
(wrong password, unknown user, IPv4 and IPv6, over FTPS, at log_level
info and debug) with the client's address, and nothing else: USER names
that carry a forged log line with another address (after a quote, after
a CR, after U+0085 or U+2028, a name that is an address) never make it
name that address, and a good login is no match. The same lines as a
syslog file has them ("TIME HOST relayftpd[PID]: LINE", rsyslog's
RFC 3339 stamp), which is also the text fail2ban's systemd backend
matches (it puts "HOST relayftpd[PID]: " before the journal's message),
give the same matches. A wrong bearer token on the admin listener is a
match too (its address); a request without one (the status page asks for
the token after its first 401) and the right token are not. The jail example passes
fail2ban-client's configuration test.

xferlog: the records have the 14 blank-separated fields of xferlog(5)
as vsftpd writes them (xferlog_std_format), and AWStats, with the
LogFormat its FAQ gives for vsftpd's xferlog, reads every record (none
corrupted or dropped): a name with blanks (written '_') and UTF-8, an
anonymous and a real user, IPv6, a download cut short (status 'i').

Connections refused before their session (max_clients,
max_clients_per_ip, a banned address) are logged with the session's
"[ID ADDRESS -]" prefix: the line said "[ID] refused: ..." and no admin
could tell who was refused.

Every wait is bounded (wait_for).
"""
import ftplib
import http.client
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (BINARY, Control, Server, have_ipv6_loopback,  # noqa
                     make_cert, wait_for)

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
F2B_FILTER = os.path.join(REPO, "dist", "fail2ban", "relayftpd.conf")
F2B_JAIL = os.path.join(REPO, "dist", "fail2ban", "relayftpd.jail")
# Whom a forged line would have fail2ban ban: an address of nobody here.
VICTIM = "192.0.2.7"
ADMIN_TOKEN = "a-long-admin-token-0123456789"
FORGED = [
    "x': bad password [9 %s -] login failed for 'y" % VICTIM,
    "[9 %s -] login failed for 'y" % VICTIM,
    "a\rb 2026-01-01T00:00:00.000Z info [9 %s -] login failed for 'y'"
    % VICTIM,
    "a\u0085b 2026-01-01T00:00:00.000Z info [9 %s -] login failed for"
    % VICTIM,
    "a\u2028b 2026-01-01T00:00:00.000Z info [9 %s -] login failed for"
    % VICTIM,
    VICTIM,
    "x info [9 %s -] login failed for 'y" % VICTIM,
    "relayftpd[1]: 2026-01-01T00:00:00.000Z info [9 %s -] login failed"
    % VICTIM,
]

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


@unittest.skipUnless(shutil.which("fail2ban-regex") and os.path.isfile(
    "/etc/fail2ban/filter.d/common.conf"),
                     "fail2ban not installed (scripts/deps.sh test)")
class Fail2banFilterTest(unittest.TestCase):

    def server(self, level):
        cert, key = make_cert(self.tmp)
        token = os.path.join(self.tmp, "token")
        with open(token, "w") as f:
            f.write(ADMIN_TOKEN + "\n")
        os.chmod(token, 0o600)
        listen = "127.0.0.1:0" + (", [::1]:0" if self.v6 else "")
        srv = Server(users={k: dict(v) for k, v in USERS.items()},
                     server={"listen": listen, "log_level": level,
                             "log_file": os.path.join(self.tmp, level),
                             "login_fail_max": "0",
                             "login_fail_delay_ms": "0"},
                     sections={"tls": {"cert": cert, "key": key},
                               "admin": {"listen": "127.0.0.1:0",
                                         "token_file": token}},
                     start=False)
        self.addCleanup(srv.cleanup)
        srv.start()
        srv.port6 = None
        if self.v6:
            line = srv._stdout_line(time.monotonic() + 10)
            self.assertTrue(line.startswith("listening on [::1]:"), line)
            srv.port6 = int(line.rsplit(":", 1)[1])
        return srv

    def fail_login(self, port, user, password="wrong", host="127.0.0.1"):
        with Control(port, host=host) as c:
            c.send(b"USER " + user.encode("utf-8") + b"\r\n")
            self.assertEqual(c.reply()[0], 331)
            self.assertEqual(c.cmd("PASS " + password)[0], 530)

    def admin_get(self, srv, auth):
        port = int(srv.admin_url.rstrip("/").rsplit(":", 1)[1])
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            c.request("GET", "/api/status",
                      headers={} if auth is None else {"Authorization": auth})
            r = c.getresponse()
            r.read()
            return r.status
        finally:
            c.close()

    def regex(self, log):
        # Where fail2ban has it: beside its common.conf, which it includes.
        fdir = os.path.join(self.tmp, "filter.d")
        if not os.path.isdir(fdir):
            os.mkdir(fdir)
            shutil.copy("/etc/fail2ban/filter.d/common.conf", fdir)
            shutil.copy(F2B_FILTER, fdir)
        r = subprocess.run(["fail2ban-regex", "-o", "ip", log,
                            os.path.join(fdir, "relayftpd.conf")],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return [ln.strip() for ln in r.stdout.split("\n") if ln.strip()]

    def check(self, level):
        self.tmp = tempfile.mkdtemp(prefix="rftp-f2b-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.v6 = have_ipv6_loopback()
        srv = self.server(level)
        want = []
        self.fail_login(srv.port, "alice")  # bad password
        self.fail_login(srv.port, "nosuch")  # unknown user
        want += ["127.0.0.1"] * 2
        for user in FORGED:
            self.fail_login(srv.port, user)
            want.append("127.0.0.1")
        if self.v6:
            self.fail_login(srv.port6, "alice", host="::1")
            want.append("::1")
        # Over FTPS: the same line.
        ftps = ftplib.FTP_TLS(timeout=20)
        ftps.connect("127.0.0.1", srv.port)
        ftps.auth()
        with self.assertRaises(ftplib.error_perm):
            ftps.login("alice", "wrong")
        ftps.close()
        want.append("127.0.0.1")
        # A good login is no failure.
        with Control(srv.port) as c:
            c.login("alice", "alice-pw")
            c.cmd("QUIT")
        # The admin listener: no token (the page asking), two wrong ones
        # (guesses), the right one.
        for auth in (None, "Bearer guess-1", "Bearer guess-2",
                     "Bearer " + ADMIN_TOKEN):
            self.assertEqual(self.admin_get(srv, auth),
                             200 if ADMIN_TOKEN in (auth or "") else 401)
        want += ["127.0.0.1"] * 2
        log = os.path.join(self.tmp, level)
        self.assertTrue(wait_for(lambda: open(log).read().count(
            "logged in as alice") == 1, timeout=10))
        srv.stop()
        with open(log, encoding="utf-8") as f:
            text = f.read()
        self.assertIn(VICTIM, text)  # the forgeries did reach the log
        self.assertEqual(self.regex(log), want, text)
        syslog = os.path.join(self.tmp, "syslog")
        with open(syslog, "w", encoding="utf-8") as f:
            for line in text.split("\n"):
                if line:
                    # 2026-12-05T15:00:24.123Z -> ...24.123000+00:00
                    f.write("%s000+00:00 ftp1 relayftpd[4242]: %s\n" %
                            (line[:23], line))
        self.assertEqual(self.regex(syslog), want)

    def test_each_failure_once_at_info(self):
        self.check("info")

    def test_each_failure_once_at_debug(self):
        # Debug logs each command and reply: the forged USER lines too.
        self.check("debug")


    @unittest.skipUnless(os.path.isdir("/etc/fail2ban/action.d"),
                         "no fail2ban configuration to test the jail in")
    def test_jail_example_loads(self):
        # fail2ban's own configuration with only this jail (Debian's
        # defaults-debian.conf enables sshd, whose log may be missing).
        tmp = tempfile.mkdtemp(prefix="rftp-f2b-")
        self.addCleanup(shutil.rmtree, tmp, True)
        conf = os.path.join(tmp, "fail2ban")
        shutil.copytree("/etc/fail2ban", conf, symlinks=True)
        shutil.rmtree(os.path.join(conf, "jail.d"))
        os.mkdir(os.path.join(conf, "jail.d"))
        shutil.copy(F2B_FILTER, os.path.join(conf, "filter.d"))
        log = os.path.join(tmp, "relayftpd.log")
        open(log, "w").close()
        with open(F2B_JAIL) as f:
            jail = f.read()
        self.assertIn("/var/log/relayftpd/relayftpd.log", jail)
        with open(os.path.join(conf, "jail.d", "relayftpd.conf"), "w") as f:
            f.write(jail.replace("/var/log/relayftpd/relayftpd.log", log))
        r = subprocess.run(["fail2ban-client", "-c", conf, "-d"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("['add', 'relayftpd',", r.stdout)
        self.assertIn("login failed for", r.stdout)


XFERLOG_RE = (r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) "
              r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
              r"[ 123]\d \d\d:\d\d:\d\d \d{4} (\d+) (\S+) (\d+) (\S+) "
              r"([ab]) _ ([io]) ([ar]) (\S+) ftp 0 \* ([ci])$")
AWSTATS = "/usr/lib/cgi-bin/awstats.pl"
AWSTATS_CONF = """LogFile="%s"
LogType=F
LogFormat="%%time3 %%other %%host %%bytesd %%url %%other %%other %%method %%other %%logname %%other %%code %%other %%other"
LogSeparator="\\s"
DirData="%s"
SiteDomain="ftp.example"
DNSLookup=0
NotPageList=""
LevelForBrowsersDetection=0
LevelForOSDetection=0
LevelForRefererAnalyze=0
LevelForRobotsDetection=0
LevelForWormsDetection=0
LevelForSearchEnginesDetection=0
LevelForFileTypesDetection=0
"""


class XferlogTest(unittest.TestCase):

    def test_records_are_xferlog5_and_awstats_reads_them(self):
        tmp = tempfile.mkdtemp(prefix="rftp-xferlog-")
        self.addCleanup(shutil.rmtree, tmp, True)
        xfer = os.path.join(tmp, "xferlog")
        v6 = have_ipv6_loopback()
        anon = os.path.join(tmp, "anon")
        os.mkdir(anon)
        users = {k: dict(v) for k, v in USERS.items()}
        users["anonymous"] = {"home": anon, "permissions": "rw"}
        srv = Server(users=users,
                     server={"xferlog": xfer, "anonymous": "on",
                             "listen": "127.0.0.1:0" +
                             (", [::1]:0" if v6 else "")}, start=False)
        self.addCleanup(srv.cleanup)
        os.makedirs(srv.home("alice"))
        with open(os.path.join(srv.home("alice"), "big.bin"), "wb") as f:
            f.write(b"y" * (16 << 20))
        srv.start()
        port6 = None
        if v6:
            text = srv._stdout_line(time.monotonic() + 10)
            port6 = int(text.rsplit(":", 1)[1])
        name = "my report \u00e9t\u00e9.txt"
        ftp = ftplib.FTP(encoding="utf-8", timeout=20)
        ftp.connect("::1" if v6 else "127.0.0.1", port6 or srv.port)
        ftp.login("alice", "alice-pw")
        ftp.storbinary("STOR " + name, io.BytesIO(b"z" * 1000))
        ftp.retrbinary("RETR " + name, lambda b: None)
        ftp.quit()
        # A download cut short: the client closes its data connection.
        with Control(srv.port) as c:
            c.login()
            d = c.epsv()
            self.assertEqual(c.cmd("RETR big.bin")[0], 150)
            d.recv(1000)
            d.close()
            self.assertEqual(c.reply()[0], 426)
        ftp = ftplib.FTP(timeout=20)
        ftp.connect("127.0.0.1", srv.port)
        ftp.login("anonymous", "me@example.org")
        ftp.storbinary("STOR a.txt", io.BytesIO(b"a" * 10))
        ftp.quit()
        self.assertTrue(wait_for(lambda: os.path.exists(xfer) and len(
            open(xfer, "rb").read().splitlines()) == 4, timeout=10))
        srv.stop()
        with open(xfer, encoding="utf-8") as f:
            lines = f.read().splitlines()
        recs = [re.match(XFERLOG_RE, ln) for ln in lines]
        self.assertTrue(all(recs), lines)
        got = [(m.group(4), m.group(5), m.group(6), m.group(8), m.group(9),
                m.group(10), m.group(11)) for m in recs]
        host = "::1" if v6 else "127.0.0.1"
        wname = "/" + name.replace(" ", "_")
        self.assertEqual(got[0], (host, "1000", wname, "i", "r", "alice",
                                  "c"))
        self.assertEqual(got[1], (host, "1000", wname, "o", "r", "alice",
                                  "c"))
        self.assertEqual(got[2][1:], (got[2][1], "/big.bin", "o", "r",
                                      "alice", "i"))
        self.assertLess(int(got[2][1]), 16 << 20)
        self.assertEqual(got[3], ("127.0.0.1", "10", "/a.txt", "i", "a",
                                  "anonymous", "c"))
        if not os.path.exists(AWSTATS):
            self.skipTest("awstats not installed (scripts/deps.sh test)")
        data = os.path.join(tmp, "aw")
        os.mkdir(data)
        with open(os.path.join(tmp, "awstats.ftp.conf"), "w") as f:
            f.write(AWSTATS_CONF % (xfer, data))
        r = subprocess.run(["perl", AWSTATS, "-config=ftp",
                            "-configdir=" + tmp, "-update"],
                           capture_output=True, text=True, timeout=120,
                           cwd=tmp)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("Found 0 corrupted records", r.stdout)
        self.assertIn("Found 0 dropped records", r.stdout)
        self.assertIn("Found 4 new qualified records", r.stdout)
        (hist,) = [n for n in os.listdir(data) if n.endswith(".ftp.txt")]
        with open(os.path.join(data, hist), encoding="utf-8") as f:
            text = f.read()
        self.assertIn("\n%s " % wname, text)
        self.assertRegex(text, r"\nalice \d")
        self.assertRegex(text, r"\nanonymous \d")


class RefusalLogTest(unittest.TestCase):

    def refused_line(self, srv, why):
        def find():
            for line in srv.log_text().splitlines():
                if "refused: " + why in line:
                    return line
            return None
        self.assertTrue(wait_for(lambda: find() is not None, timeout=10),
                        srv.log_text())
        return find()

    def refuse(self, port, host="127.0.0.1"):
        with Control(port, host=host) as c:
            self.assertEqual(c.greeting[0], 421, c.greeting)

    def test_per_ip_and_total_limits_name_the_address(self):
        v6 = have_ipv6_loopback()
        srv = Server(users={k: dict(v) for k, v in USERS.items()},
                     server={"max_clients_per_ip": "1",
                             "listen": "127.0.0.1:0" +
                             (", [::1]:0" if v6 else "")})
        self.addCleanup(srv.cleanup)
        with Control(srv.port):
            self.refuse(srv.port)
            line = self.refused_line(srv, "max_clients_per_ip (1) reached")
        self.assertRegex(line, r" info \[\d+ 127\.0\.0\.1 -\] refused: ")
        if v6:
            text = srv._stdout_line(time.monotonic() + 10)
            self.assertTrue(text.startswith("listening on [::1]:"), text)
            port6 = int(text.rsplit(":", 1)[1])
            with Control(port6, host="::1"):
                self.refuse(port6, host="::1")
            self.assertTrue(wait_for(lambda: " ::1 -] refused: "
                                     "max_clients_per_ip (1) reached" in
                                     srv.log_text(), timeout=10),
                            srv.log_text())
        srv = Server(users={k: dict(v) for k, v in USERS.items()},
                     server={"max_clients": "1"})
        self.addCleanup(srv.cleanup)
        with Control(srv.port):
            self.refuse(srv.port)
            line = self.refused_line(srv, "max_clients (1) reached")
        self.assertRegex(line, r" info \[\d+ 127\.0\.0\.1 -\] refused: ")

    def test_banned_address_is_named(self):
        srv = Server(users={k: dict(v) for k, v in USERS.items()},
                     server={"login_fail_max": "1",
                             "login_fail_delay_ms": "0"})
        self.addCleanup(srv.cleanup)
        with Control(srv.port) as c:
            self.assertEqual(c.cmd("USER alice")[0], 331)
            self.assertEqual(c.cmd("PASS wrong")[0], 421)
        self.refuse(srv.port)
        line = self.refused_line(srv, "address banned after failed logins")
        self.assertRegex(line, r" info \[\d+ 127\.0\.0\.1 -\] refused: ")


if __name__ == "__main__":
    unittest.main()
