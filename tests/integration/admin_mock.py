"""A stand-in for relayftpd's admin listener, for testing the status page.

AdminMock serves the page's files straight from src/admin/assets/ (so the
page is tested as written, without a build) and answers GET /api/status
with JSON the test controls, in the shape of the contract in the plan of
issue 11 (/work/wt/OPS.md, copied into README "Status page"):
  - status: a dict (or a callable returning one) without "jobs"; jobs: the
    whole queue as a list of job dicts; the mock cuts the page the query
    asks for (?target=&offset=&limit=, limit default 50, max 500, or
    ?after=ID: the jobs past that id, with next_after) the way
    the daemon does;
  - token: when set, /api/status and /api/retry need
    "Authorization: Bearer TOKEN" (401 with WWW-Authenticate otherwise);
  - port: 0 (ephemeral), or the port of a stopped mock (a restart);
  - POST /api/retry needs "X-Relayftpd-Request: 1" (403 otherwise) and is
    recorded in self.retries as {"target", "headers"}; every request is in
    self.requests as (method, path, headers).
It runs in a thread on 127.0.0.1:<ephemeral>; stop() ends it. Run as a
script it serves demo_status() on an ephemeral port (printed) for a
look at the page (python3 tests/integration/admin_mock.py), or takes the
README's screenshots (--screenshot docs/status-page.png
docs/status-page-phone.png).
"""
import copy
import http.server
import json
import os
import sys
import threading
import urllib.parse

ASSETS = os.path.normpath(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "admin",
    "assets"))
TYPES = {".html": "text/html; charset=utf-8",
         ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8",
         ".svg": "image/svg+xml"}


class AdminMock:
    def __init__(self, status=None, jobs=None, token=None, port=0):
        self.status = status if status is not None else {}
        self.jobs = list(jobs or [])
        self.token = token
        self.retries = []
        self.requests = []
        self.requeued = 0
        self.lock = threading.Lock()
        mock = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                mock._handle(self, "GET")

            def do_POST(self):
                mock._handle(self, "POST")

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port),
                                                     Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d/" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def set(self, status=None, jobs=None):
        with self.lock:
            if status is not None:
                self.status = status
            if jobs is not None:
                self.jobs = list(jobs)

    # -- answers

    def _send(self, h, code, body, ctype, extra=None):
        h.send_response(code)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.send_header("Cache-Control", "no-store")
        for k, v in (extra or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)

    def _json(self, h, code, obj, extra=None):
        self._send(h, code, json.dumps(obj).encode(), "application/json",
                   extra)

    def _authorized(self, h):
        if self.token is None:
            return True
        if h.headers.get("Authorization") == "Bearer " + self.token:
            return True
        self._json(h, 401, {"error": "authentication required"},
                   {"WWW-Authenticate": 'Bearer realm="relayftpd"'})
        return False

    def _handle(self, h, method):
        url = urllib.parse.urlsplit(h.path)
        query = urllib.parse.parse_qs(url.query)
        with self.lock:
            self.requests.append((method, h.path, dict(h.headers)))
        if method == "GET" and url.path in ("/", "/index.html", "/app.js",
                                            "/style.css", "/favicon.svg"):
            name = "index.html" if url.path == "/" else url.path[1:]
            with open(os.path.join(ASSETS, name), "rb") as f:
                body = f.read()
            self._send(h, 200, body, TYPES[os.path.splitext(name)[1]])
        elif url.path == "/api/status" and method == "GET":
            if self._authorized(h):
                self._json(h, 200, self._status(query))
        elif url.path == "/api/retry" and method == "POST":
            if h.headers.get("X-Relayftpd-Request") != "1":
                self._json(h, 403, {"error": "missing X-Relayftpd-Request"})
            elif self._authorized(h):
                target = query.get("target", [None])[0]
                with self.lock:
                    self.retries.append({"target": target,
                                         "headers": dict(h.headers)})
                self._json(h, 200, {"requeued": self.requeued,
                                    "target": target})
        else:
            self._json(h, 404, {"error": "not found"})

    def _status(self, query):
        with self.lock:
            st = self.status() if callable(self.status) else self.status
            st = copy.deepcopy(st)
            jobs = copy.deepcopy(self.jobs)
        target = query.get("target", [None])[0]
        offset = int(query.get("offset", ["0"])[0])
        limit = min(500, int(query.get("limit", ["50"])[0]))
        after = query.get("after", [None])[0]
        if target:
            jobs = [j for j in jobs if j["target"] == target]
        total = len(jobs)
        if after is not None:
            # The daemon's cursor: the jobs past that id, offset unknown.
            jobs = [j for j in jobs if j.get("id", 0) > int(after)]
            after, offset = int(after), None
        page = jobs[offset or 0:(offset or 0) + limit]
        more = len(jobs) > (offset or 0) + limit
        st["jobs"] = {"target": target, "offset": offset, "after": after,
                      "limit": limit, "total": total, "items": page,
                      "next_after": page[-1].get("id") if more else None}
        return st


# ------------------------------------------------------------------ data

def target(name, state="up", **kw):
    """One entry of "targets" with every contract field."""
    t = {"name": name, "url": "ftp://127.0.0.1:2122/", "state": state,
         "queued": 0, "running": 0, "parked": 0, "oldest_age_s": 0,
         "attempts": 0, "successes": 0, "failures": 0, "verify_failures": 0,
         "bytes_pushed": 0, "last_error": "", "last_error_at": None,
         "last_ok_at": None, "failing_since": None, "retry_at": None}
    t.update(kw)
    return t


def job(jid, target_name, path, parked=False, **kw):
    j = {"id": jid, "target": target_name, "user": "alice", "op": "put",
         "path": path, "new_path": None, "age_s": 12, "attempts": 0,
         "parked": parked, "last_error": ""}
    j.update(kw)
    return j


def status(targets=(), pushes=(), received=(), **server):
    srv = {"sessions_open": 0, "logins_ok": 0, "logins_failed": 0,
           "uploads": {"completed": 0, "aborted": 0, "bytes": 0},
           "downloads": {"completed": 0, "aborted": 0, "bytes": 0},
           "quota_refused": 0, "bans_active": 0}
    srv.update(server)
    return {"version": "0.1.0", "now": "2026-12-01T13:00:00Z",
            "started": "2026-12-01T09:12:40Z", "uptime_s": 13640,
            "server": srv, "targets": list(targets), "pushes": list(pushes),
            "received": list(received)}


def demo_status():
    """A relay on a busy afternoon: one target fine, one backing off,
    one failing with parked jobs; three pushes in flight."""
    received = []
    names = ["reports/2026-12/daily-sales.csv", "scans/IMG_4821.jpg",
             "incoming/caf\u00e9 men\u00fc \u2013 Dezember.pdf",
             "backup/db-2026-12-01.sql.gz", "logs/app.log",
             "video/keynote-final-v3.mp4", "contracts/\u5951\u7d04\u66f8.docx",
             "scans/IMG_4822.jpg"]
    sizes = [48213, 3481022, 912344, 1523344123, 20480, 734003200, 88110,
             3321004]
    for i in range(10):
        received.append({"time": "2026-12-01T12:%02d:%02dZ" % (
            59 - i * 2, (37 * i) % 60), "user": ["alice", "bob", "scanner"][
            i % 3], "path": "/" + names[i % len(names)],
            "size": sizes[i % len(sizes)]})
    targets = [
        target("backup", "up", url="ftp://backup.example.net/relay/",
               queued=3, running=2, oldest_age_s=4, attempts=1843,
               successes=1841, failures=2, bytes_pushed=58 * 2**30,
               last_ok_at="2026-12-01T12:59:58Z"),
        target("offsite", "backoff", url="ftps://dr.example.org/incoming/",
               queued=6, running=0, oldest_age_s=312, attempts=1202,
               successes=1180, failures=22, bytes_pushed=41 * 2**30,
               last_error="connect: Connection refused (ECONNREFUSED)",
               last_error_at="2026-12-01T12:59:41Z",
               failing_since="2026-12-01T12:54:48Z",
               retry_at="2026-12-01T13:00:09Z",
               last_ok_at="2026-12-01T12:54:40Z"),
        target("partner-sftp", "failing", url="sftp://files.partner.example/in/",
               queued=2, running=0, parked=4, oldest_age_s=7420,
               attempts=310, successes=280, failures=30, verify_failures=1,
               bytes_pushed=3 * 2**30,
               last_error="553 Could not create file: permission denied",
               last_error_at="2026-12-01T12:58:02Z",
               failing_since="2026-12-01T10:56:20Z",
               retry_at="2026-12-01T13:02:00Z"),
    ]
    pushes = [
        {"target": "backup", "user": "scanner",
         "path": "/video/keynote-final-v3.mp4", "bytes_done": 512 * 2**20,
         "bytes_total": 734003200, "started": "2026-12-01T12:59:20Z"},
        {"target": "backup", "user": "alice",
         "path": "/backup/db-2026-12-01.sql.gz", "bytes_done": 301 * 2**20,
         "bytes_total": 1523344123, "started": "2026-12-01T12:59:31Z"},
    ]
    jobs = []
    jid = 9000
    for t in targets:
        for k in range(t["queued"] + t["parked"]):
            jid += 1
            parked = k >= t["queued"]
            jobs.append(job(jid, t["name"], "/" + names[(jid * 7) % len(
                names)], parked=parked, user=["alice", "bob"][jid % 2],
                age_s=t["oldest_age_s"] - k * 3 if t["oldest_age_s"] > k * 3
                else 1, attempts=0 if t["state"] == "up" else 5 + k,
                last_error=t["last_error"]))
    st = status(targets, pushes, received, sessions_open=5, logins_ok=212,
                logins_failed=3,
                uploads={"completed": 1870, "aborted": 4, "bytes": 104 * 2**30},
                downloads={"completed": 96, "aborted": 1, "bytes": 2**30},
                quota_refused=1, bans_active=1)
    return st, jobs


def main(argv):
    """No argument: serve demo_status() until Ctrl-C. --screenshot LAPTOP
    [PHONE]: write the page with demo_status() as PNG, 1280 px wide (and
    390 px, as a phone); docs/status-page.png is made this way."""
    st, jobs = demo_status()
    m = AdminMock(st, jobs)
    try:
        if argv[:1] != ["--screenshot"]:
            print(m.url, flush=True)
            m.thread.join()
            return 0
        from browser import Browser
        with Browser(1280, 900) as b:
            b.navigate(m.url)
            b.wait_js("document.getElementById('conn').dataset.conn "
                      "=== 'live'")
            b.screenshot(argv[1])
            if len(argv) > 2:
                b.viewport(390, 844, mobile=True)
                b.navigate(m.url)
                b.wait_js("document.getElementById('conn').dataset.conn "
                          "=== 'live'")
                b.screenshot(argv[2], full_page=False)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        m.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
