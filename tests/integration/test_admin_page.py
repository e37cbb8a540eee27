"""The live status page (GET / of the admin listener) in headless Chromium.

Chromium is Debian's package, started --headless --no-sandbox --disable-gpu
and driven through the DevTools protocol (browser.Browser); every check
reads the DOM the way a user reads the page, through the stable hooks of
src/admin/assets/app.js: [data-target][data-state], [data-received-path],
[data-job-path][data-job-state], [data-push-path], #conn[data-conn].

RealDaemonTest: relayftpd with [admin] listen = 127.0.0.1:0 and a token,
one mirror target on a closed port. The page asks for the token; a file
with a hostile name goes up with ftplib; the page shows it received, the
target backing off or failing with its error, the job queued; the
screenshot is kept. Then pyftpdlib starts on that port: the file arrives
byte for byte and the page shows the target up, the queue empty; a
bigger upload to the (throttled) target shows as a push in flight with a
progress bar, until it is delivered. And,
without a token: a job parked after max_attempts shows a Retry button;
clicking it requeues the job through the browser's own POST (which the
listener's cross-site checks let through) and the file is delivered.

MockPageTest: the same page served by admin_mock.AdminMock (the files
straight from src/admin/assets/, JSON the test controls) for what the
daemon cannot be made to show on demand: markup and script in every
server-supplied string stay text, all three target states, progress bars,
pagination and the target filter (the queries the page sends), the retry
button (its POST carries X-Relayftpd-Request and the token), a refused
token asks again, a server that goes away is shown as such, and a 390 px
phone needs no sideways scrolling.

Screenshots go to $RFTP_ARTIFACTS, else <build>/test-artifacts (next to
$RELAYFTPD). Run time: about 30 s.
"""
import ftplib
import io
import json
import os
import re
import secrets
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from admin_mock import AdminMock, job, status, target  # noqa: E402
from browser import Browser, missing  # noqa: E402
from harness import BINARY, wait_for  # noqa: E402
from mirror_targets import (MirrorServer, PyftpdTarget,  # noqa: E402
                            free_port, wait_files)

ARTIFACTS = os.environ.get("RFTP_ARTIFACTS") or os.path.join(
    os.path.dirname(os.path.abspath(BINARY)), "test-artifacts")

# One JavaScript expression: what the page shows, as plain data.
FACTS_JS = r"""(() => {
  const all = (sel) => Array.from(document.querySelectorAll(sel));
  const count = (card, key) => {
    const n = card.querySelector('[data-count="' + key + '"]');
    return n ? n.textContent : null;
  };
  return {
    conn: document.getElementById('conn').getAttribute('data-conn'),
    auth: !document.getElementById('auth').hidden,
    authError: document.getElementById('auth-error').hidden ? '' :
      document.getElementById('auth-error').textContent,
    targets: Object.fromEntries(all('[data-target]').map((c) => [
      c.getAttribute('data-target'), {
        state: c.getAttribute('data-state'),
        badge: c.querySelector('.badge').textContent,
        queued: count(c, 'queued'), running: count(c, 'running'),
        parked: count(c, 'parked'),
        error: (c.querySelector('[data-last-error] p') || {}).textContent || '',
        errorPast: !!c.querySelector('[data-last-error].past'),
        retry: !!c.querySelector('button[data-retry]'),
        text: c.textContent}])),
    received: all('[data-received-path]').map((r) => ({
      path: r.getAttribute('data-received-path'),
      user: r.getAttribute('data-received-user'),
      text: r.querySelector('td.path').textContent,
      ctl: r.querySelectorAll('td.path .ctl').length,
      size: r.querySelector('td.num').textContent})),
    jobs: all('[data-job-path]').map((r) => ({
      path: r.getAttribute('data-job-path'),
      state: r.getAttribute('data-job-state'),
      target: r.getAttribute('data-job-target')})),
    jobsEmpty: !document.getElementById('jobs-empty').hidden,
    jobRange: document.getElementById('job-range').textContent,
    pushes: all('[data-push-path]').map((p) => {
      const bar = p.querySelector('progress');
      return {path: p.getAttribute('data-push-path'),
              target: p.getAttribute('data-push-target'),
              value: bar.hasAttribute('value') ? bar.value : null,
              max: bar.hasAttribute('max') ? bar.max : null,
              info: p.querySelector('.push-info').textContent};
    }),
    version: document.getElementById('version').textContent,
    title: document.title,
    injected: all('body img:not(.brand img), script:not([src="app.js"]), ' +
                  '[onerror], [onclick], iframe, svg:not([data-ok])').length,
    pwned: window.pwned || null,
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
  };
})()"""


def artifact(name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    return os.path.join(ARTIFACTS, name)


class PageCase(unittest.TestCase):
    def setUp(self):
        reason = missing()
        if reason:
            self.skipTest(reason)

    def browser(self, width=1280, height=900):
        b = Browser(width, height)
        self.addCleanup(b.close)
        return b

    def facts(self, b):
        return b.js(FACTS_JS)

    def wait_facts(self, b, predicate, timeout=20, what="the page"):
        """Polls the page's facts until predicate(facts) holds; fails
        with the last facts otherwise. Returns them."""
        deadline = time.monotonic() + timeout
        f = self.facts(b)
        while not predicate(f) and time.monotonic() < deadline:
            time.sleep(0.2)
            f = self.facts(b)
        if not predicate(f):
            self.fail("%s never showed up; the page shows:\n%s" % (
                what, json.dumps(f, indent=1, ensure_ascii=False)[:6000]))
        return f

    def assertNoScriptErrors(self, b):
        self.assertEqual(b.exceptions, [], "uncaught exceptions in the page")
        # Collected by Browser too, and looked at nowhere before: a
        # failure the page caught and logged with console.error.
        self.assertEqual(b.console_errors, [], "console errors of the page")


# ------------------------------------------------------------ real daemon

class AdminServer(MirrorServer):
    """relayftpd with an [admin] section; start() reads both the FTP and
    the admin listening lines. A binary that does not know [admin] makes
    start() skip the test (the listener is not built in yet)."""

    def __init__(self, admin, **kw):
        super().__init__(start=False, **kw)
        self.sections = {"admin": dict(admin)}
        self.write_config()
        self.admin_url = None

    def start(self, timeout=15):
        self._spawn([BINARY, "--config", self.config_path], pipe_stdout=True)
        deadline = time.monotonic() + timeout
        self.port = self.admin_url = None
        lines = []
        while (self.port is None or self.admin_url is None) and \
                len(lines) < 8:
            text = self._stdout_line(deadline)
            if not text:
                break
            lines.append(text)
            m = re.match(r"admin listening on (https?://127\.0\.0\.1:\d+/)$",
                         text)
            if m:
                self.admin_url = m.group(1)
            elif text.startswith("listening on 127.0.0.1:"):
                self.port = int(text.rsplit(":", 1)[1])
        if self.port is not None and self.admin_url is not None:
            return self
        self.stop(check=False)
        log = self.log_text()
        if "unknown section [admin]" in log:
            raise unittest.SkipTest(
                "this relayftpd has no admin listener ([admin] is an unknown "
                "section): the page test needs branch ops-http merged")
        raise RuntimeError("relayftpd did not print both listening lines: "
                           "%r\n%s" % (lines, log))


# A name an attacker would choose: markup, quotes, a backslash, UTF-8.
HOSTILE = 'rapport "Q4" <img src=x onerror="window.pwned=1">\\caf\u00e9.bin'


class RealDaemonTest(PageCase):
    def test_upload_with_target_down_then_delivered(self):
        token = secrets.token_urlsafe(24)
        dead_port = free_port()  # nothing listens here until pyftpdlib does
        srv = AdminServer(
            admin={"listen": "127.0.0.1:0"},
            mirror={"retry_initial": "1", "retry_max": "2"},
            targets={"backup": {"url": "ftp://127.0.0.1:%d/base" % dead_port,
                                "user": "puser", "password": "ppass"}})
        self.addCleanup(srv.cleanup)
        token_file = os.path.join(srv.tmp, "admin.token")
        with open(os.open(token_file, os.O_WRONLY | os.O_CREAT, 0o600),
                  "w") as f:
            f.write(token + "\n")
        srv.sections["admin"]["token_file"] = token_file
        srv.write_config()
        srv.start()

        # The API itself refuses a request without the token.
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(srv.admin_url + "api/status", timeout=10)
        self.assertEqual(cm.exception.code, 401)

        b = self.browser()
        b.navigate(srv.admin_url)
        f = self.wait_facts(b, lambda f: f["auth"], what="the token prompt")
        self.assertEqual(f["targets"], {})
        # A wrong token is refused and asked for again.
        b.js("document.getElementById('token').value = 'wrong-token';"
             "document.getElementById('auth-form').requestSubmit(); 1")
        self.wait_facts(b, lambda f: f["auth"] and f["authError"],
                        what="the refusal of a wrong token")
        b.js("document.getElementById('token').value = %s;"
             "document.getElementById('auth-form').requestSubmit(); 1"
             % json.dumps(token))
        f = self.wait_facts(b, lambda f: not f["auth"] and "backup" in
                            f["targets"], what="the page after the token")
        self.assertEqual(b.js("sessionStorage.getItem('relayftpd.token')"),
                         token)

        data = os.urandom(70000)
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", srv.port, timeout=30)
        ftp.login("alice", "alice-pw")
        ftp.mkd("/in")
        ftp.storbinary("STOR /in/" + HOSTILE, io.BytesIO(data))
        ftp.quit()
        path = "/in/" + HOSTILE

        f = self.wait_facts(
            b, lambda f: any(r["path"] == path for r in f["received"]) and
            f["targets"]["backup"]["state"] in ("backoff", "failing") and
            f["targets"]["backup"]["error"] and
            any(j["path"] == path and j["state"] == "queued"
                for j in f["jobs"]),
            timeout=30, what="the upload received, target down, job queued")
        got = [r for r in f["received"] if r["path"] == path][0]
        self.assertEqual(got["user"], "alice")
        self.assertEqual(got["text"], path)  # shown as text, as sent
        self.assertEqual(got["size"], "68.4 KiB")
        t = f["targets"]["backup"]
        self.assertIn(t["badge"], ("backing off", "failing"))
        # The MKD of /in is a job too: the card counts every job listed.
        self.assertEqual(t["queued"], str(len(f["jobs"])), f)
        self.assertEqual({j["target"] for j in f["jobs"]}, {"backup"})
        self.assertNotIn("ppass", t["text"])  # no credentials on the page
        self.assertEqual(f["injected"], 0, f)
        self.assertIsNone(f["pwned"])
        self.assertEqual(f["conn"], "live")
        b.screenshot(artifact("admin-page.png"))
        b.viewport(390, 844, mobile=True)
        f = self.wait_facts(b, lambda f: f["innerWidth"] == 390,
                            what="the phone viewport")
        self.assertLessEqual(f["scrollWidth"], 390, "sideways scrolling")
        b.screenshot(artifact("admin-page-phone.png"))
        b.viewport(1280, 900)

        # The target comes up on its port: the job is pushed, and the page
        # says so without a reload.
        # It reads at most 512 KiB/s, so a bigger push later is seen in
        # flight.
        peer = PyftpdTarget(port=dead_port, read_limit=512 * 1024)
        self.addCleanup(peer.cleanup)
        self.assertEqual(wait_files(peer.dir("base", "alice"),
                                    {"in/" + HOSTILE: data}, timeout=60), {})
        f = self.wait_facts(
            b, lambda f: f["targets"]["backup"]["state"] == "up" and
            f["targets"]["backup"]["queued"] == "0" and
            f["targets"]["backup"]["running"] == "0" and
            not f["jobs"] and f["jobsEmpty"],
            timeout=30, what="the target up with an empty queue")
        self.assertTrue(any(r["path"] == path for r in f["received"]))
        self.assertEqual(f["conn"], "live")
        b.screenshot(artifact("admin-page-delivered.png"))

        # A push in flight: a progress bar with bytes done of the total.
        big = os.urandom(3 * 1024 * 1024)  # about 6 s at 512 KiB/s
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", srv.port, timeout=30)
        ftp.login("alice", "alice-pw")
        ftp.storbinary("STOR /big.bin", io.BytesIO(big))
        ftp.quit()
        # (bytes_done counts what was handed to the socket: on loopback
        # the kernel's buffers take most of the file at once, so the bar
        # may already be full while the target still reads.)
        f = self.wait_facts(
            b, lambda f: any(p["path"] == "/big.bin" and p["value"] and
                             p["max"] == len(big) for p in f["pushes"]),
            timeout=30, what="the push of /big.bin in flight")
        push = [p for p in f["pushes"] if p["path"] == "/big.bin"][0]
        self.assertEqual(push["target"], "backup")
        self.assertIn("of 3.0 MiB", push["info"])
        b.screenshot(artifact("admin-page-pushing.png"))
        self.assertEqual(wait_files(peer.dir("base", "alice"),
                                    {"big.bin": big}, timeout=60), {})
        self.wait_facts(b, lambda f: not f["pushes"] and not f["jobs"],
                        timeout=30, what="the push finished")
        self.assertNoScriptErrors(b)
        srv.stop(check=True)


    def test_retry_button_requeues_parked_job(self):
        """No token (loopback): the browser's own POST, with the Origin
        and Sec-Fetch-Site it adds, passes the listener's CSRF checks."""
        dead_port = free_port()
        srv = AdminServer(
            admin={"listen": "127.0.0.1:0"},
            mirror={"retry_initial": "1", "retry_max": "2",
                    "max_attempts": "1"},
            targets={"backup": {"url": "ftp://127.0.0.1:%d/base" % dead_port,
                                "user": "puser", "password": "ppass"}})
        self.addCleanup(srv.cleanup)
        srv.start()
        b = self.browser()
        b.navigate(srv.admin_url)
        data = os.urandom(3000)
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", srv.port, timeout=30)
        ftp.login("alice", "alice-pw")
        ftp.storbinary("STOR /parked.bin", io.BytesIO(data))
        ftp.quit()
        f = self.wait_facts(
            b, lambda f: f["targets"]["backup"]["retry"] and
            f["targets"]["backup"]["parked"] == "1" and
            [(j["path"], j["state"]) for j in f["jobs"]] ==
            [("/parked.bin", "parked")],
            timeout=30, what="the job parked with a Retry button")
        self.assertEqual(f["targets"]["backup"]["queued"], "0")

        peer = PyftpdTarget(port=dead_port)
        self.addCleanup(peer.cleanup)
        b.js("document.querySelector('button[data-retry=\"backup\"]')"
             ".click(); 1")
        self.assertTrue(b.wait_js(
            "document.getElementById('toast').textContent === "
            "'Requeued 1 job for backup.'"), b.js(
            "document.getElementById('toast').textContent"))
        self.assertEqual(wait_files(peer.dir("base", "alice"),
                                    {"parked.bin": data}, timeout=60), {})
        f = self.wait_facts(
            b, lambda f: f["targets"]["backup"]["state"] == "up" and
            f["targets"]["backup"]["parked"] == "0" and
            not f["targets"]["backup"]["retry"] and not f["jobs"],
            timeout=30, what="the target up, nothing parked")
        self.assertNoScriptErrors(b)
        srv.stop(check=True)


    def test_a_token_beyond_ascii_unlocks_the_page(self):
        # token_file is UTF-8 and check takes any byte but a control one;
        # fetch sends a header's characters as Latin-1 bytes and refuses
        # any beyond U+00FF. With "\u00f6" the page sent one byte and the
        # right token was "refused"; with "\u20ac" nothing left the page,
        # which said the server was unreachable (found from outside).
        token = "s3cret-t\u00f6ken\u20ac"
        srv = AdminServer(admin={"listen": "127.0.0.1:0"})
        self.addCleanup(srv.cleanup)
        token_file = os.path.join(srv.tmp, "admin.token")
        with open(os.open(token_file, os.O_WRONLY | os.O_CREAT, 0o600),
                  "w", encoding="utf-8") as f:
            f.write(token + "\n")
        srv.sections["admin"]["token_file"] = token_file
        srv.write_config()
        srv.start()
        b = self.browser()
        b.navigate(srv.admin_url)
        self.wait_facts(b, lambda f: f["auth"], what="the token prompt")
        for wrong in ("s3cret-t\u00f6ken", "s3cret-t\u00f6ken\u20ac!"):
            b.js("document.getElementById('token').value = %s;"
                 "document.getElementById('auth-form').requestSubmit(); 1"
                 % json.dumps(wrong))
            f = self.wait_facts(b, lambda f: f["auth"] and f["authError"],
                                what="the refusal of a wrong token")
            self.assertEqual(f["authError"], "That token was refused.")
            b.js("document.getElementById('auth-error').hidden = true; 1")
        b.js("document.getElementById('token').value = %s;"
             "document.getElementById('auth-form').requestSubmit(); 1"
             % json.dumps(token))
        f = self.wait_facts(b, lambda f: not f["auth"] and
                            f["conn"] == "live",
                            what="the page after the token")
        self.assertNoScriptErrors(b)
        srv.stop(check=True)


# ------------------------------------------------------------ mock server

class MockPageTest(PageCase):
    def mock(self, *args, **kw):
        m = AdminMock(*args, **kw)
        self.addCleanup(m.stop)
        return m

    def test_hostile_names_stay_text_and_states_are_shown(self):
        evil = ['<script>window.pwned=1</script>.txt',
                '"><img src=x onerror="window.pwned=2">',
                "it's \\ \"quoted\" & <b>bold</b>",
                "line\nbreak\ttab\u0007bell",
                "\u65e5\u672c\u8a9e/\u00fcml\u00e4ut \u202eevil.exe",
                "<svg onload=\"window.pwned=3\">",
                "nel\u0085x\u2028y\u2029z"]
        received = [{"time": "2026-12-01T12:59:%02dZ" % i, "user": "u<%d>" % i,
                     "path": "/" + name, "size": 1000 * i}
                    for i, name in enumerate(evil)]
        targets = [
            target("ok", "up", queued=0, last_ok_at="2026-12-01T12:59:00Z"),
            target("slow<i>", "backoff", queued=2, oldest_age_s=75,
                   last_error="<b>550</b> " + evil[1],
                   last_error_at="2026-12-01T12:59:50Z",
                   retry_at="2026-12-01T13:00:05Z"),
            target("down", "failing", queued=1, parked=3,
                   last_error="connect: refused",
                   last_error_at="2026-12-01T12:58:00Z",
                   failing_since="2026-12-01T11:00:00Z"),
            # Every job parked: no next try to show (retry_at null).
            target("stuck", "failing", queued=0, parked=2,
                   last_error="553 refused",
                   last_error_at="2026-12-01T12:58:00Z",
                   failing_since="2026-12-01T12:00:00Z")]
        pushes = [{"target": "ok", "user": "alice", "path": "/" + evil[0],
                   "bytes_done": 1024, "bytes_total": 4096,
                   "started": "2026-12-01T12:59:58Z"},
                  {"target": "ok", "user": "alice", "path": "/unknown-size",
                   "bytes_done": 10, "bytes_total": 0, "started": None}]
        jobs = [job(1, "slow<i>", "/" + evil[2]),
                job(2, "down", "/" + evil[3], parked=True, attempts=9,
                    last_error=evil[0]),
                job(3, "down", "/" + evil[4], running=True)]
        # A target whose queue facts could not be read (null).
        targets.append(target("unread", None, queued=None, running=None,
                              parked=None, oldest_age_s=None))
        m = self.mock(status(targets, pushes, received), jobs)
        b = self.browser()
        b.navigate(m.url)
        f = self.wait_facts(b, lambda f: len(f["targets"]) == 5 and
                            len(f["received"]) == len(evil))
        unread = f["targets"].pop("unread")
        self.assertEqual((unread["state"], unread["badge"], unread["queued"],
                          unread["parked"]), ("unknown", "unknown", "\u2013",
                                              "\u2013"))
        self.assertEqual([r["path"] for r in f["received"]],
                         ["/" + n for n in evil])
        self.assertEqual([r["user"] for r in f["received"]],
                         ["u<%d>" % i for i in range(len(evil))])
        # Shown as text; control characters and bidi overrides as marked
        # escapes ("evil.exe" cannot be turned into "exe.live").
        self.assertEqual(f["received"][0]["text"], "/" + evil[0])
        self.assertEqual(f["received"][3]["text"],
                         "/line\\nbreak\\ttab\\x07bell")
        self.assertEqual(f["received"][3]["ctl"], 3)
        self.assertEqual(f["received"][4]["text"],
                         "/\u65e5\u672c\u8a9e/\u00fcml\u00e4ut U+202Eevil.exe")
        # C1 controls and line separators too (a blank box or a blank).
        self.assertEqual(f["received"][6]["text"],
                         "/nel\\x85xU+2028yU+2029z")
        self.assertEqual(f["received"][6]["ctl"], 3)
        self.assertEqual(f["injected"], 0, f)
        self.assertIsNone(f["pwned"])
        self.assertEqual({k: v["state"] for k, v in f["targets"].items()},
                         {"ok": "up", "slow<i>": "backoff", "down": "failing",
                          "stuck": "failing"})
        self.assertEqual({k: v["badge"] for k, v in f["targets"].items()},
                         {"ok": "up", "slow<i>": "backing off",
                          "down": "failing", "stuck": "failing"})
        self.assertIn("parked: nothing is tried until Retry",
                      f["targets"]["stuck"]["text"])
        self.assertNotIn("retrying now", f["targets"]["stuck"]["text"])
        self.assertEqual(f["targets"]["slow<i>"]["error"],
                         "<b>550</b> " + evil[1])
        self.assertIn("next try in 5 s", f["targets"]["slow<i>"]["text"])
        self.assertIn("1 min 15 s", f["targets"]["slow<i>"]["text"])
        self.assertEqual(
            {k: v["retry"] for k, v in f["targets"].items()},
            {"ok": False, "slow<i>": False, "down": True, "stuck": True})
        self.assertEqual([(j["path"], j["state"]) for j in f["jobs"]],
                         [("/" + evil[2], "queued"), ("/" + evil[3], "parked"),
                          ("/" + evil[4], "running")])
        self.assertEqual(f["pushes"][0]["path"], "/" + evil[0])
        self.assertEqual((f["pushes"][0]["value"], f["pushes"][0]["max"]),
                         (1024, 4096))
        self.assertTrue(f["pushes"][0]["info"].startswith(
            "25% \u00b7 1.0 KiB of 4.0 KiB"), f["pushes"][0])
        self.assertIsNone(f["pushes"][1]["value"])  # unknown total
        self.assertEqual(f["version"], "v0.1.0")
        self.assertTrue(f["title"].startswith("\u26a0 3 queued"), f["title"])
        b.screenshot(artifact("admin-page-mock.png"))
        self.assertNoScriptErrors(b)

    def choose_target(self, b, name):
        b.js("(() => { const s = document.getElementById('job-target');"
             "s.value = %s; s.dispatchEvent(new Event('change')); })()"
             % json.dumps(name))

    def test_pages_and_filter_send_the_right_queries(self):
        jobs = [job(i, "a" if i % 3 else "b", "/f%03d" % i)
                for i in range(120)]
        m = self.mock(status([target("a", "backoff", queued=80),
                              target("b", "backoff", queued=40)]), jobs)
        b = self.browser()
        b.navigate(m.url)
        f = self.wait_facts(b, lambda f: len(f["jobs"]) == 50)
        self.assertEqual(f["jobs"][0]["path"], "/f000")
        self.assertEqual(f["jobRange"], "1\u201350 of 120")
        b.js("document.getElementById('job-next').click(); 1")
        f = self.wait_facts(b, lambda f: f["jobs"] and
                            f["jobs"][0]["path"] == "/f050")
        b.js("document.getElementById('job-next').click(); 1")
        f = self.wait_facts(b, lambda f: len(f["jobs"]) == 20)
        self.assertEqual(f["jobRange"], "101\u2013120 of 120")
        self.assertTrue(b.js("document.getElementById('job-next').disabled"))
        # The filter starts again at the first page of that target.
        self.choose_target(b, "b")
        f = self.wait_facts(b, lambda f: f["jobs"] and
                            {j["target"] for j in f["jobs"]} == {"b"})
        self.assertEqual(len(f["jobs"]), 40)
        self.assertEqual(f["jobRange"], "1\u201340 of 40")
        paths = [r[1] for r in m.requests if r[1].startswith("/api/status")]
        self.assertIn("/api/status?offset=50&limit=50", paths)
        self.assertIn("/api/status?offset=100&limit=50", paths)
        self.assertIn("/api/status?offset=0&limit=50&target=b", paths)
        # The queue shrinks under the last page: the page follows it.
        self.choose_target(b, "")
        for want in ("1\u201350", "51\u2013100", "101\u2013120"):
            self.wait_facts(b, lambda f: f["jobRange"] == want + " of 120")
            b.js("document.getElementById('job-next').click(); 1")
        m.set(jobs=jobs[:60])
        f = self.wait_facts(b, lambda f: f["jobRange"] == "51\u201360 of 60")
        self.assertNoScriptErrors(b)

    def test_an_error_since_the_last_delivery_is_news(self):
        # Up, but refusing one file since its last delivery: the error is
        # the news, not history (found from outside: it was shown muted
        # as "earlier error" while the refusals went on). One that
        # delivered after its error keeps it muted.
        targets = [
            target("refusing", "up", parked=1,
                   last_error="553 refused by a name rule",
                   last_error_at="2026-12-01T12:59:30Z",
                   last_ok_at="2026-12-01T12:59:00Z"),
            target("healed", "up", last_error="connect: refused",
                   last_error_at="2026-12-01T12:50:00Z",
                   last_ok_at="2026-12-01T12:59:00Z"),
            target("never", "up", last_error="550 denied",
                   last_error_at="2026-12-01T12:50:00Z"),
            # The same second as the delivery: maybe the later event.
            target("tie", "up", last_error="553 refused",
                   last_error_at="2026-12-01T12:59:00Z",
                   last_ok_at="2026-12-01T12:59:00Z"),
            # No time known for either: nothing says it is over.
            target("untimed", "up", last_error="553 refused")]
        m = self.mock(status(targets))
        b = self.browser()
        b.navigate(m.url)
        f = self.wait_facts(b, lambda f: len(f["targets"]) == 5)
        self.assertEqual({k: v["errorPast"] for k, v in f["targets"].items()},
                         {"refusing": False, "healed": True, "never": False,
                          "tie": False, "untimed": False})
        self.assertIn("last error", f["targets"]["refusing"]["text"])
        self.assertIn("earlier error", f["targets"]["healed"]["text"])
        self.assertNoScriptErrors(b)

    def test_token_prompt_and_retry_button(self):
        token = "t0k\"en<with>odd&chars"
        m = self.mock(status([target("down", "failing", parked=2,
                                     last_error="550 denied")]),
                      [job(1, "down", "/x", parked=True)], token=token)
        m.requeued = 2
        b = self.browser()
        b.navigate(m.url)
        f = self.wait_facts(b, lambda f: f["auth"] and f["conn"] == "locked")
        self.assertEqual(f["targets"], {})
        b.js("document.getElementById('token').value = 'nope';"
             "document.getElementById('auth-form').requestSubmit(); 1")
        f = self.wait_facts(b, lambda f: f["authError"])
        self.assertEqual(f["authError"], "That token was refused.")
        b.js("document.getElementById('token').value = %s;"
             "document.getElementById('auth-form').requestSubmit(); 1"
             % json.dumps(token))
        f = self.wait_facts(b, lambda f: not f["auth"] and
                            f["targets"].get("down", {}).get("retry"))
        since = len(m.requests)
        # Kept for this tab: a reload needs no prompt.
        b.navigate(m.url)
        f = self.wait_facts(b, lambda f: f["targets"].get("down"))
        self.assertFalse(f["auth"])
        b.js("document.querySelector('button[data-retry=\"down\"]').click(); 1")
        self.assertTrue(wait_for(lambda: m.retries, timeout=10))
        r = m.retries[0]
        self.assertEqual(r["target"], "down")
        self.assertEqual(r["headers"].get("X-Relayftpd-Request"), "1")
        self.assertEqual(r["headers"].get("Authorization"), "Bearer " + token)
        self.assertTrue(b.wait_js(
            "!document.getElementById('toast').hidden && document."
            "getElementById('toast').textContent === "
            "'Requeued 2 jobs for down.'"))
        # Retry all: no target in the query.
        b.js("document.getElementById('retry-all').click(); 1")
        self.assertTrue(wait_for(lambda: len(m.retries) == 2, timeout=10))
        self.assertIsNone(m.retries[1]["target"])
        # Every API request since carried the token; the files were
        # fetched without it (they are public).
        for method, path, headers in m.requests[since:]:
            if path.startswith("/api/"):
                self.assertEqual(headers.get("Authorization"),
                                 "Bearer " + token, path)
            else:
                self.assertNotIn("Authorization", headers, path)
        self.assertNoScriptErrors(b)

    def test_server_gone_then_back(self):
        m = self.mock(status([target("a")]))
        b = self.browser()
        b.navigate(m.url)
        self.wait_facts(b, lambda f: f["conn"] == "live" and f["targets"])
        port = m.port
        m.stop()
        f = self.wait_facts(b, lambda f: f["conn"] == "stale", timeout=20)
        self.assertIn("a", f["targets"])  # the last facts stay on screen
        self.assertIn("retry in", b.js(
            "document.getElementById('conn').textContent"))
        # Back on the same address (a restarted daemon): live again, with
        # its new facts, without a reload.
        self.mock(status([target("b", "backoff")]), port=port)
        f = self.wait_facts(b, lambda f: f["conn"] == "live" and
                            list(f["targets"]) == ["b"], timeout=20)
        self.assertNoScriptErrors(b)

    def test_phone_width_needs_no_sideways_scrolling(self):
        long = "/" + "very-long-folder-name-without-any-break/" * 4 + \
            "x" * 120 + ".bin"
        m = self.mock(status(
            [target("a-target-with-a-long-name-" * 3, "failing", queued=3,
                    parked=1, last_error="E" * 300,
                    last_error_at="2026-12-01T12:00:00Z",
                    url="ftp://" + "h" * 150 + "/")],
            [{"target": "x", "user": "u", "path": long, "bytes_done": 5,
              "bytes_total": 10, "started": None}],
            [{"time": "2026-12-01T12:00:00Z", "user": "alice", "path": long,
              "size": 123456789}]),
            [job(1, "x", long, last_error="F" * 200)])
        b = self.browser(390, 844)
        b.viewport(390, 844, mobile=True)
        b.navigate(m.url)
        f = self.wait_facts(b, lambda f: f["received"] and f["jobs"])
        self.assertEqual(f["innerWidth"], 390)
        self.assertLessEqual(f["scrollWidth"], 390, "sideways scrolling")
        self.assertEqual(f["received"][0]["size"], "118 MiB")
        b.screenshot(artifact("admin-page-mock-phone.png"))
        self.assertNoScriptErrors(b)


if __name__ == "__main__":
    unittest.main(verbosity=2)
