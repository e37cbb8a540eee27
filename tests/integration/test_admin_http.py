#!/usr/bin/env python3
"""The admin HTTP listener ([admin]; issue 11), black-box.

Every endpoint through Python's http.client and curl against the real
binary:

- GET /, /metrics (`promtool check metrics` passes on the real output),
  /api/status (the names the page relies on), the security headers on
  every answer;
- refusals: 404, 405 (with Allow), 400 for bad query numbers and for a
  malformed request line, 413 for a body over 8 KiB (declared or
  chunked), 404 for an unknown target; OPTIONS (200 with Allow) and
  absolute-form targets taken;
- without a token: loopback works, a foreign Host is refused (DNS
  rebinding), and POST /api/retry needs X-Relayftpd-Request: 1, a
  matching Origin and no cross-site Sec-Fetch-Site;
- with token_file: no token or a wrong one gets 401 + WWW-Authenticate,
  the page's files stay public, the right token works;
- the numbers: after ftplib logins, uploads and a download, /api/status
  and /metrics count exactly those; uploads to a stopped target park
  (max_attempts = 1), the jobs page shows them, and POST /api/retry
  requeues them so they reach the target once it is up;
- names with " \\ <script> &, control characters and invalid UTF-8 (a
  file dropped in the home, queued by the watcher) come out as JSON that json.loads
  takes, and /metrics stays valid;
- a bounded flood (2,000 requests from 64 threads, 200 connections that
  send nothing, slowloris clients trickling headers) leaves FTP and
  /metrics answering;
- clients that fill max_connections trickling a header a byte at a time,
  never silent for the timeout, are closed once the timeout passes
  without a whole request, and a client with the token gets in (found
  from outside: they held every slot for as long as they trickled);
- `relayftpd check` names the line of each [admin] mistake;
- HTTPS with [admin] cert/key, and an IPv6 listen address.
"""
import ftplib
import http.client
import io
import json
import os
import shutil
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import BINARY, Server, make_cert, wait_for  # noqa: E402
from mirror_targets import MirrorServer, PyftpdTarget, wait_files  # noqa: E402

TOKEN = "s3cret-token_with.chars"
CSRF = {"X-Relayftpd-Request": "1"}


def admin_port(srv):
    assert srv.admin_url, "no 'admin listening on' line"
    return int(srv.admin_url.rstrip("/").rsplit(":", 1)[1])


def request(port, method, path, headers=None, body=None, source=None,
            host="127.0.0.1", context=None, timeout=10):
    """(status, {lower-case header: value}, body bytes)."""
    if context is not None:
        c = http.client.HTTPSConnection(host, port, timeout=timeout,
                                        context=context)
    else:
        c = http.client.HTTPConnection(
            host, port, timeout=timeout,
            source_address=None if source is None else (source, 0))
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        c.close()


def get_json(port, path, headers=None):
    status, hdrs, data = request(port, "GET", path, headers)
    assert status == 200, (status, data)
    assert hdrs["content-type"] == "application/json", hdrs
    return json.loads(data.decode("utf-8"))


def metric_values(text):
    """{sample name with labels: float value} of a /metrics text."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def promtool_check(test, text):
    r = subprocess.run(["promtool", "check", "metrics"], input=text,
                       capture_output=True, text=True, timeout=60)
    test.assertEqual(r.returncode, 0, "promtool: %s%s\n%s" %
                     (r.stdout, r.stderr, text))


def raw_exchange(port, data, timeout=10):
    """Sends raw bytes and reads until the server closes or times out;
    returns what it answered."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


def raw_request(port, line, headers=b"Host: 127.0.0.1\r\n", body=b""):
    """Sends one request whose line is line (bytes, exactly as given: an
    absolute-form target, "*") and returns (status, {lower-case header:
    value}, body bytes) of the answer."""
    out = raw_exchange(port, line + b"\r\n" + headers +
                       b"Connection: close\r\n\r\n" + body)
    head, _, data = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {}
    for h in lines[1:]:
        k, _, v = h.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return int(lines[0].split(" ")[1]), hdrs, data


def admin_server(admin, mirror=None, targets=None, start=True):
    """A relayftpd with [admin] keys admin (listen defaults to loopback
    port 0), and a mirror when targets are given."""
    keys = {"listen": "127.0.0.1:0"}
    keys.update(admin)
    if targets:
        srv = MirrorServer(mirror=mirror, targets=targets, start=False)
    else:
        srv = Server(start=False)
    srv.sections = {"admin": keys}
    srv.write_config()
    if start:
        srv.start()
    return srv


class NoTokenTest(unittest.TestCase):
    """Loopback without a token, a mirror with one target "p"."""

    def setUp(self):
        self.p = PyftpdTarget()
        self.addCleanup(self.p.cleanup)
        self.tmp = tempfile.mkdtemp(prefix="rftp-admin-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        # timeout 3: a connection that sends junk is closed after it.
        self.srv = admin_server(
            {"timeout": "3"}, mirror={"queue": os.path.join(self.tmp, "q.db"),
                        "retry_initial": "1", "retry_max": "1",
                        "max_attempts": "1", "watch_debounce_ms": "50"},
            targets={"p": self.p.target("/base")}, start=False)
        self.addCleanup(self.srv.cleanup)
        # Runs first: a sanitizer's report or a crash at SIGTERM fails the test.
        self.addCleanup(self.srv.stop)
        os.makedirs(self.srv.home("alice"))
        self.srv.start()
        self.port = admin_port(self.srv)

    def ftp(self, encoding="utf-8"):
        f = ftplib.FTP()
        f.encoding = encoding
        f.connect("127.0.0.1", self.srv.port, timeout=30)
        f.login("alice", "alice-pw")
        self.addCleanup(f.close)
        return f

    def test_endpoints(self):
        self.assertEqual(self.srv.admin_url,
                         "http://127.0.0.1:%d/" % self.port)
        self.assertIn("unauthenticated", self.srv.log_text())
        for path in ("/", "/metrics", "/api/status"):
            status, hdrs, body = request(self.port, "GET", path)
            self.assertEqual(status, 200, (path, body))
            self.assertEqual(hdrs["cache-control"], "no-store")
            self.assertEqual(hdrs["x-content-type-options"], "nosniff")
            self.assertIn("default-src 'self'",
                          hdrs["content-security-policy"])
        status, hdrs, body = request(self.port, "GET", "/")
        self.assertTrue(hdrs["content-type"].startswith("text/html"))
        self.assertIn(b"<html", body.lower())
        status, hdrs, body = request(self.port, "HEAD", "/metrics")
        self.assertEqual((status, body), (200, b""))
        # /metrics: the format's content type, promtool-valid.
        status, hdrs, body = request(self.port, "GET", "/metrics")
        self.assertEqual(hdrs["content-type"],
                         "text/plain; version=0.0.4; charset=utf-8")
        text = body.decode()
        promtool_check(self, text)
        m = metric_values(text)
        self.assertEqual(m['relayftpd_target_queue_depth{target="p"}'], 0)
        self.assertEqual(m['relayftpd_target_state{target="p",state="up"}'],
                         1)
        self.assertIn('relayftpd_target_relay_latency_seconds_bucket'
                      '{target="p",le="+Inf"}', m)
        # /api/status: the page's names.
        st = get_json(self.port, "/api/status")
        for key in ("version", "now", "started", "uptime_s", "server",
                    "targets", "pushes", "received", "jobs"):
            self.assertIn(key, st)
        t = st["targets"][0]
        self.assertEqual(t["name"], "p")
        self.assertEqual(t["url"], self.p.url("/base"))
        self.assertNotIn(self.p.password, json.dumps(st))
        self.assertEqual(t["state"], "up")
        self.assertEqual(st["jobs"], {"target": None, "offset": 0,
                                      "after": None, "limit": 50,
                                      "total": 0, "items": [],
                                      "next_after": None})
        # curl, as an admin's script would.
        r = subprocess.run(
            ["curl", "-sS", "-f", "-o", "-", "-w", "\n%{http_code}",
             "http://127.0.0.1:%d/api/status?target=p&limit=5" % self.port],
            capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        body, code = r.stdout.rsplit("\n", 1)
        self.assertEqual(code, "200")
        self.assertEqual(json.loads(body)["jobs"]["target"], "p")
        r = subprocess.run(
            ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
             "-X", "POST", "-H", "X-Relayftpd-Request: 1",
             "http://127.0.0.1:%d/api/retry" % self.port],
            capture_output=True, text=True, timeout=30)
        self.assertEqual(r.stdout, "200", r.stderr)

    def test_absolute_form(self):
        # RFC 9112 3.2.2: a server MUST accept an absolute-form target
        # ("GET http://HOST/path"): it was 404 for every path. Its scheme
        # and authority are dropped; its host replaces Host, so without
        # a token it must be loopback (DNS rebinding, as for Host).
        p = self.port
        for target in (b"http://127.0.0.1:%d/api/status" % p,
                       b"HTTP://localhost/api/status?target=p",
                       b"https://[::1]:1/api/status"):
            status, _, body = raw_request(p, b"GET " + target + b" HTTP/1.1")
            self.assertEqual(status, 200, (target, body))
            self.assertIn("targets", json.loads(body))
        status, hdrs, body = raw_request(
            p, b"GET http://127.0.0.1:%d HTTP/1.1" % p)
        self.assertEqual((status, hdrs["content-type"]),
                         (200, "text/html; charset=utf-8"), body)
        status, _, body = raw_request(
            p, b"GET http://127.0.0.1/metrics HTTP/1.1",
            b"Host: 127.0.0.1\r\n")
        self.assertEqual(status, 200, body)
        self.assertIn(b"relayftpd_build_info", body)
        # The target's host is the one checked, whatever Host says.
        status, _, body = raw_request(
            p, b"GET http://evil.example/api/status HTTP/1.1")
        self.assertEqual((status, json.loads(body)),
                         (403, {"error": "host not allowed"}))
        status, _, body = raw_request(
            p, b"POST http://localhost:%d/api/retry HTTP/1.1" % p,
            b"Host: 127.0.0.1\r\nX-Relayftpd-Request: 1\r\n"
            b"Origin: http://localhost:%d\r\nContent-Length: 0\r\n" % p)
        self.assertEqual((status, json.loads(body)),
                         (200, {"requeued": 0, "target": None}))
        # What stays: an unknown path, an escaped '/' in the path.
        for target, code in ((b"http://127.0.0.1/nope", 404),
                             (b"http://127.0.0.1/api%2Fstatus", 404)):
            status, _, body = raw_request(p, b"GET " + target + b" HTTP/1.1")
            self.assertEqual(status, code, (target, body))
        # A malformed absolute URI is 400: another scheme, no authority,
        # an empty host, userinfo, an escape in the host.
        for target in (b"ftp://127.0.0.1/metrics", b"http:/metrics",
                       b"http:metrics", b"http:///metrics",
                       b"http://:80/metrics", b"http://u@127.0.0.1/metrics",
                       b"http://127.0.0.1%2Fx/metrics",
                       b"http://127.0.0.%31/metrics"):
            status, _, body = raw_request(p, b"GET " + target + b" HTTP/1.1")
            self.assertEqual(status, 400, (target, body))
            self.assertTrue(json.loads(body)["error"].startswith(
                "malformed absolute URI"), (target, body))
        # An escape in the scheme or its "//" makes no absolute form
        # (nor an origin form): libmicrohttpd decodes the target, which
        # then read as absolute, its host in Host's place, so a foreign
        # Host passed without a token (200 with the status document).
        for target in (b"%68ttp://127.0.0.1/api/status",
                       b"h%74tp://127.0.0.1/api/status",
                       b"http%3A//127.0.0.1/api/status",
                       b"http:%2F/127.0.0.1/api/status"):
            status, _, body = raw_request(p, b"GET " + target + b" HTTP/1.1",
                                          b"Host: evil.example\r\n")
            self.assertEqual(status, 400, (target, body))
            status, _, body = raw_request(p, b"GET " + target + b" HTTP/1.1")
            self.assertEqual(status, 400, (target, body))
            self.assertEqual(json.loads(body), {
                "error": "malformed absolute URI: an escaped byte in its "
                "scheme or before its host"}, target)

    def test_options(self):
        # RFC 9110 9.3.7: "OPTIONS *" asks what the server takes, OPTIONS
        # on a path what that resource takes: "*" was 404, a path 405.
        p = self.port
        for target, allow in ((b"*", "GET, HEAD, POST, OPTIONS"),
                              (b"/api/status", "GET, HEAD, OPTIONS"),
                              (b"/metrics", "GET, HEAD, OPTIONS"),
                              (b"/", "GET, HEAD, OPTIONS"),
                              (b"/app.js", "GET, HEAD, OPTIONS"),
                              (b"/api/retry", "POST, OPTIONS")):
            status, hdrs, body = raw_request(
                p, b"OPTIONS " + target + b" HTTP/1.1")
            self.assertEqual((status, hdrs.get("allow"), body),
                             (200, allow, b""), target)
            self.assertNotIn("access-control-allow-origin", hdrs)
        # Still: an unknown path, "*" with another method, and OPTIONS
        # does not retry anything (no CSRF header needed, none done).
        for line, code in ((b"OPTIONS /nope HTTP/1.1", 404),
                           (b"OPTIONS /api%2Fstatus HTTP/1.1", 404),
                           (b"GET * HTTP/1.1", 404)):
            self.assertEqual(raw_request(p, line)[0], code, line)
        self.assertEqual(request(p, "OPTIONS", "/api/retry?target=p")[0],
                         200)
        self.assertNotIn("admin: retry", self.srv.log_text())
        # A browser's CORS preflight of another site gets no grant.
        status, hdrs, _ = request(p, "OPTIONS", "/api/retry", {
            "Origin": "http://evil.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-relayftpd-request"})
        self.assertEqual(status, 200)
        self.assertFalse([h for h in hdrs if h.startswith("access-control")])

    def test_unknown_parameters_are_refused(self):
        # A parameter the route does not read was ignored: "?targte=p"
        # (a typo) and "?target%3Dp" (the one key "target=p") answered
        # 200 with every target's jobs, and POST /api/retry?targte=p
        # requeued every target's parked jobs. 400 naming it now; "_"
        # (jQuery's cache buster) is taken everywhere.
        p = self.port
        takes = " (takes target, offset, after, limit, _)"
        for q, name in (("targte=p", "targte"), ("target%3Dp", "target=p"),
                        ("target=p&ofset=5", "ofset"),
                        ("limit=5&x", "x"), ("=1", ""),
                        ("%3Cb%3E=1", "<b>")):
            status, hdrs, body = request(p, "GET", "/api/status?" + q)
            self.assertEqual((status, hdrs["content-type"],
                              json.loads(body)),
                             (400, "application/json",
                              {"error": 'unknown parameter "%s"%s' %
                               (name, takes)}), q)
        self.assertNotIn(b"<b>", request(p, "GET", "/api/status?%3Cb%3E")[2])
        status, _, body = request(p, "GET", "/metrics?format=json")
        self.assertEqual((status, json.loads(body)),
                         (400, {"error": 'unknown parameter "format" '
                                '(takes none but _)'}))
        self.assertEqual(request(p, "HEAD", "/metrics?x=1")[0], 400)
        status, _, body = request(p, "POST", "/api/retry?targte=p", CSRF,
                                  b"")
        self.assertEqual((status, json.loads(body)),
                         (400, {"error": 'unknown parameter "targte" '
                                '(takes target, _)'}))
        status, _, body = request(p, "POST", "/api/retry?target%3Dp", CSRF,
                                  b"")
        self.assertEqual(status, 400, body)
        self.assertNotIn("admin: retry", self.srv.log_text())
        # What stays: the documented parameters, "_" with them or alone
        # (more than once too), a stray '&', the page's files (their
        # bytes depend on no parameter) and the page's own queries.
        doc = get_json(p, "/api/status?target=p&_=1700000000000")
        self.assertEqual([t["name"] for t in doc["targets"]], ["p"])
        for path in ("/api/status?_=1&_=2", "/api/status?target=p&",
                     "/api/status?offset=0&limit=50&target=p",
                     "/api/status?after=0&limit=1", "/metrics?_=1",
                     "/?utm_source=x", "/app.js?v=2"):
            self.assertEqual(request(p, "GET", path)[0], 200, path)
        status, _, body = request(p, "POST", "/api/retry?target=p&_=1",
                                  CSRF, b"")
        self.assertEqual((status, json.loads(body)),
                         (200, {"requeued": 0, "target": "p"}))

    def test_nul_in_path_or_query_is_refused(self):
        # libmicrohttpd decodes %00 into the path (and each query value)
        # and hands it on as a C string: "/app.js%00.txt" read as
        # "/app.js" and was served (200), as was every route with a
        # %00 tail. Each must be refused, never cut at the NUL.
        p = self.port
        for path in ("/app.js%00.txt", "/%00", "/index.html%00x",
                     "/style.css%00", "/favicon.svg%00.png",
                     "/metrics%00", "/api/status%00.json"):
            status, _, body = request(p, "GET", path)
            self.assertEqual(status, 404, (path, body[:80]))
            self.assertEqual(json.loads(body), {"error": "not found"})
        status, _, body = request(p, "POST", "/api/retry%00", CSRF)
        self.assertEqual(status, 404, body)
        # A query value is not cut at a NUL either: not target p, not
        # limit 5.
        status, _, body = request(p, "GET", "/api/status?target=p%00x")
        self.assertEqual(status, 404, body)
        status, _, body = request(p, "GET", "/api/status?limit=5%00")
        self.assertEqual(status, 400, body)
        status, _, body = request(p, "POST", "/api/retry?target=p%00",
                                  CSRF)
        self.assertEqual(status, 404, body)
        # A raw NUL byte in the request line is not a route either.
        out = raw_exchange(p, b"GET /app.js\x00.txt HTTP/1.1\r\n"
                           b"Host: 127.0.0.1\r\n\r\n", timeout=5)
        self.assertFalse(out.startswith(b"HTTP/1.1 200"), out[:200])
        # The routes themselves still answer.
        self.assertEqual(request(p, "GET", "/app.js")[0], 200)
        self.assertEqual(request(p, "GET", "/api/status?limit=5")[0], 200)

    def test_refusals(self):
        p = self.port
        for path in ("/nope", "/api/statusx", "/api", "/metrics/",
                     "/../etc/passwd"):
            status, hdrs, body = request(p, "GET", path)
            self.assertEqual(status, 404, path)
            self.assertEqual(json.loads(body), {"error": "not found"})
        # %2F in a segment is data, not a separator (RFC 3986 2.2, 6.2.2.2):
        # "/api%2Fstatus" is the one segment "api/status", no route. It
        # was decoded into /api/status and answered 200. An escaped
        # unreserved letter is the letter itself.
        for path in ("/api%2fstatus", "/api%2Fstatus", "/api%2Fstatus?x=1",
                     "/api%2fstatus?target=p"):
            status, _, body = request(p, "GET", path)
            self.assertEqual((status, json.loads(body)),
                             (404, {"error": "not found"}), path)
        status, _, body = request(p, "POST", "/api%2Fretry", CSRF, b"")
        self.assertEqual(status, 404, body)
        self.assertEqual(request(p, "GET", "/%61pp.js")[0], 200)
        self.assertEqual(request(p, "GET", "/api/status?target=p%2F")[0],
                         404)
        status, hdrs, _ = request(p, "DELETE", "/api/status")
        self.assertEqual((status, hdrs["allow"]), (405, "GET, HEAD, OPTIONS"))
        status, hdrs, _ = request(p, "POST", "/metrics", CSRF, b"")
        self.assertEqual((status, hdrs["allow"]), (405, "GET, HEAD, OPTIONS"))
        status, hdrs, _ = request(p, "GET", "/api/retry")
        self.assertEqual((status, hdrs["allow"]), (405, "POST, OPTIONS"))
        for q in ("limit=abc", "limit=0", "limit=501", "offset=-1",
                  "offset=1e3", "limit=", "target=", "limit=+5",
                  "offset=99999999999999999999", "after=-1", "after=",
                  "after=x", "after=1&offset=0", "offset=5&after=1",
                  "after=99999999999999999999"):
            status, _, body = request(p, "GET", "/api/status?" + q)
            self.assertEqual(status, 400, (q, body))
        status, _, body = request(p, "GET", "/api/status?target=nope")
        self.assertEqual(status, 404, body)
        # A parameter given twice was taken silently (the first won):
        # refused, naming it, as a bad value is.
        for q, name in (("limit=1&limit=2", "limit"),
                        ("offset=0&limit=5&offset=0", "offset"),
                        ("target=p&target=p", "target"),
                        ("after=1&after=2", "after")):
            status, hdrs, body = request(p, "GET", "/api/status?" + q)
            self.assertEqual((status, hdrs["content-type"],
                              json.loads(body)),
                             (400, "application/json",
                              {"error": name + " given more than once"}), q)
        # A parameter without '=' has no value: it was taken as absent,
        # so "?target" listed (and POST /api/retry?target requeued)
        # every target, and "?after&offset=1" passed where
        # "after=1&offset=1" is refused. Refused as "target=" is.
        for q, name in (("target", "target"), ("limit", "limit"),
                        ("target=p&after", "after"),
                        ("after&offset=1", "after"),
                        ("offset&limit=5", "offset")):
            status, hdrs, body = request(p, "GET", "/api/status?" + q)
            self.assertEqual((status, json.loads(body)),
                             (400, {"error": name + " given without a "
                                    "value"}), q)
        status, _, body = request(p, "POST", "/api/retry?target", CSRF, b"")
        self.assertEqual((status, json.loads(body)),
                         (400, {"error": "target given without a value"}))
        status, _, body = request(p, "POST", "/api/retry?target=p&target=p",
                                  CSRF, b"")
        self.assertEqual((status, json.loads(body)),
                         (400, {"error": "target given more than once"}))
        status, _, body = request(p, "POST", "/api/retry?target=nope", CSRF)
        self.assertEqual(status, 404, body)
        for bad in (b"target=a&x=b", b"x=1", b'{"target": 5}',
                    b'{"target": "p"} x', b'{"other": "p"}',
                    b'{"target": "p\\u0041"}', b"{", b"[]"):
            status, _, body = request(p, "POST", "/api/retry", CSRF, bad)
            self.assertEqual(status, 400, (bad, body))
        for good, target in ((b"target=p", "p"), (b'{"target": null}', None),
                             (b" {} ", None), (b"", None)):
            status, _, body = request(p, "POST", "/api/retry", CSRF, good)
            self.assertEqual((status, json.loads(body)),
                             (200, {"requeued": 0, "target": target}), good)
        # Bodies: 8 KiB is taken, one byte more is 413, declared or
        # chunked, and so is a GET's.
        status, _, body = request(p, "POST", "/api/retry", CSRF,
                                  b" " * 8192)
        self.assertEqual(status, 200, body)
        status, _, body = request(p, "POST", "/api/retry", CSRF,
                                  b" " * 8193)
        self.assertEqual(status, 413, body)
        status, _, body = request(p, "GET", "/metrics", None,
                                  b"x" * 100000)
        self.assertEqual(status, 413, body)
        chunked = (b"POST /api/retry HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   b"X-Relayftpd-Request: 1\r\nConnection: close\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n" +
                   (b"1000\r\n" + b" " * 4096 + b"\r\n") * 5 + b"0\r\n\r\n")
        self.assertTrue(raw_exchange(p, chunked).startswith(
            b"HTTP/1.1 413 "))
        # Malformed requests: 400 from the HTTP parser; a line that is
        # not HTTP at all gets the connection closed. Neither hurts.
        for bad in (b"GET / FOO/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nNo colon\r\n\r\n",
                    b"GET / HTTP/1.1\r\n\r\n",
                    b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Content-Length: x\r\n\r\n"):
            self.assertTrue(raw_exchange(p, bad).startswith(
                b"HTTP/1.1 400 "), bad)
        for junk in (b"GARBAGE\r\n\r\n", b"\x00\xff" * 100 + b"\r\n\r\n"):
            self.assertFalse(raw_exchange(p, junk).startswith(
                b"HTTP/1.1 200"), junk)
        self.assertEqual(request(p, "GET", "/metrics")[0], 200)

    def test_an_unreadable_request_line_is_logged(self):
        # A blank in the target: libmicrohttpd 0.9.75 closes without an
        # answer and without a word to its logger; the log says it, with
        # the count of bytes and never the bytes themselves.
        p = self.port
        bad = b"GET /metrics xSECRETx HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        self.assertEqual(raw_exchange(p, bad), b"")
        said = ("a connection from 127.0.0.1 ended after %d bytes with no "
                "request line libmicrohttpd could read" % len(bad))
        self.assertTrue(wait_for(lambda: said in self.srv.log_text(), 10),
                        self.srv.log_text())
        self.assertNotIn("xSECRETx", self.srv.log_text())
        # One that sends nothing (a browser's preconnect) is not.
        socket.create_connection(("127.0.0.1", p), timeout=10).close()
        self.assertEqual(request(p, "GET", "/metrics")[0], 200)
        self.assertEqual(self.srv.log_text().count("with no request line"),
                         1, self.srv.log_text())

    def test_a_request_line_answered_414_is_logged_once(self):
        """A request line too long for libmicrohttpd's memory is answered
        414 by the library, whose logger says so; the connection's close
        then said it again ("ended after N bytes with no request line"):
        two lines for one connection. Only the library's now."""
        p = self.port
        s = socket.create_connection(("127.0.0.1", p), timeout=10)
        try:
            s.sendall(b"GET /" + b"A" * 200000)
            s.recv(100)
        except OSError:
            pass  # the rest of the line unread: a reset
        finally:
            s.close()
        said = "libmicrohttpd: Error processing request (HTTP response code " \
            "is 414"
        self.assertTrue(wait_for(lambda: said in self.srv.log_text(), 10),
                        self.srv.log_text())
        # Then one that gets no answer: its line, and only its.
        self.assertEqual(raw_exchange(p, b"GARBAGE\r\n\r\n"), b"")
        self.assertTrue(wait_for(
            lambda: "ended after 11 bytes" in self.srv.log_text(), 10),
            self.srv.log_text())
        self.assertEqual(self.srv.log_text().count("with no request line"),
                         1, self.srv.log_text())
        self.assertEqual(self.srv.log_text().count(said), 1)

    def test_a_cut_request_is_logged_once(self):
        """A client that sends part of a request and closes (FIN) had
        two lines, libmicrohttpd's "Connection was closed by remote side
        with incomplete request." (no address) and relayftpd's "ended
        after N bytes with no request line": one line now, with the
        address, for a cut request line, a cut header, and a cut second
        request of a kept-alive connection."""
        p = self.port

        def cut(first, then=None):
            s = socket.create_connection(("127.0.0.1", p), timeout=10)
            try:
                s.sendall(first)
                if then is not None:
                    # The whole answer to the first request, then more.
                    got = b""
                    while b"\r\n\r\n" not in got:
                        got += s.recv(65536)
                    head, body = got.split(b"\r\n\r\n", 1)
                    length = int([h.split(b":")[1] for h in
                                  head.split(b"\r\n")
                                  if h.lower().startswith(
                                      b"content-length:")][0])
                    while len(body) < length:
                        body += s.recv(65536)
                    s.sendall(then)
                s.shutdown(socket.SHUT_WR)
                while s.recv(65536):
                    pass
            finally:
                s.close()

        whole = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        said = [("ended after 8 bytes with no request line",
                 lambda: cut(b"GET /met")),
                ("closed by the client with its request "
                 "incomplete", lambda: cut(whole)),
                ("ended after 7 bytes with no request line",
                 lambda: cut(whole + b"\r\n", b"GET /me"))]
        for needle, run in said:
            with self.subTest(needle):
                before = self.srv.log_text()
                run()
                self.assertTrue(wait_for(
                    lambda: needle in self.srv.log_text(), 10),
                    self.srv.log_text()[len(before):])
                # A marker connection: its line comes after any other
                # line of the one before.
                self.assertEqual(request(p, "GET", "/metrics")[0], 200)
                new = self.srv.log_text()[len(before):]
                lines = [line for line in new.splitlines()
                         if "admin:" in line]
                self.assertEqual(len(lines), 1, new)
                self.assertIn("from 127.0.0.1", lines[0])

    def test_a_cut_request_after_pipelined_ones_is_logged(self):
        """Two whole requests and the start of a third in one write,
        then the client's close: libmicrohttpd reads them all at once,
        so the socket holds nothing unread when the first ends, and the
        cut third was said by no one (the library's line is left out,
        relayftpd counted its bytes as the first request's)."""
        p = self.port
        whole = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        before = self.srv.log_text()
        s = socket.create_connection(("127.0.0.1", p), timeout=10)
        try:
            s.sendall(whole + whole + b"GET /me")
            s.shutdown(socket.SHUT_WR)
            got = b""
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        finally:
            s.close()
        self.assertEqual(got.count(b"HTTP/1.1 200"), 2, got[:300])
        needle = "ended after 7 bytes with no request line"
        self.assertTrue(wait_for(
            lambda: needle in self.srv.log_text(), 5),
            self.srv.log_text()[len(before):])
        # A marker connection: its line comes after any other line of
        # the one before; the cut request is said once, with the address.
        self.assertEqual(request(p, "GET", "/metrics")[0], 200)
        new = self.srv.log_text()[len(before):]
        lines = [line for line in new.splitlines()
                 if "admin:" in line and "127.0.0.1" in line]
        self.assertEqual(len(lines), 1, new)

    def test_a_long_query_is_answered_414(self):
        """A query of many parameters is refused 414 on its request
        line: libmicrohttpd 0.9.75 ran out of its connection's memory
        parsing 500 and answered nothing until the timeout."""
        p = self.port

        def ask(query):
            return raw_exchange(p, ("GET /api/status?%s HTTP/1.1\r\n"
                                    "Host: 127.0.0.1\r\n\r\n" %
                                    query).encode(), timeout=10)

        for n in (65, 500, 2000):
            out = ask("&".join("a%d=%d" % (i, i) for i in range(n)))
            self.assertTrue(out.startswith(b"HTTP/1.1 414 "), (n, out))
            self.assertIn(b'"error":"query too long', out)
        out = ask("limit=5&x=" + "y" * 9000)
        self.assertTrue(out.startswith(b"HTTP/1.1 414 "), out)
        # 64 parameters are read as before (the cache buster "_" may
        # come any number of times; an unknown one is 400).
        status, _, body = request(p, "GET", "/api/status?" + "&".join(
            "_=%d" % i for i in range(63)) + "&limit=5")
        self.assertEqual(status, 200, body)
        # The line names the client (it named no one: found from outside).
        self.assertIn("refused a request from 127.0.0.1 whose query has "
                      "2000 parameter(s)", self.srv.log_text())
        # Refused connections leave no slot taken (4 per address here).
        for _ in range(12):
            self.assertTrue(ask("&" * 100).startswith(b"HTTP/1.1 414 "))
        self.assertEqual(request(p, "GET", "/metrics")[0], 200)
        # Nor does one whose body trickles on: it is ended a second or
        # two after its answer (it held its slot for as long as it sent).
        s = socket.create_connection(("127.0.0.1", p), timeout=10)
        self.addCleanup(s.close)
        s.sendall(("POST /api/retry?%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Content-Length: 1000000\r\n\r\n" %
                   ("&" * 100)).encode())
        ended = None
        t0 = time.monotonic()
        while ended is None and time.monotonic() - t0 < 10:
            try:
                s.sendall(b"x")
            except OSError as e:
                ended = e
            time.sleep(0.2)
        self.assertIsNotNone(ended, "still open after 10 s")
        self.assertNotIn("incomplete upload processing", self.srv.log_text())

    def test_csrf_and_host(self):
        p = self.port
        retry = "/api/retry"
        ok_origin = {"Origin": "http://127.0.0.1:%d" % p}
        cases = [
            ({}, "missing header"),
            ({"X-Relayftpd-Request": "0"}, "missing header"),
            (dict(CSRF, Origin="http://evil.example"), "origin"),
            (dict(CSRF, Origin="null"), "origin"),
            (dict(CSRF, Origin="http://127.0.0.1:%d.evil" % p), "origin"),
            (dict(CSRF, **{"Sec-Fetch-Site": "cross-site"}), "cross-site"),
            (dict(CSRF, **{"Sec-Fetch-Site": "same-site"}), "cross-site"),
            (dict(CSRF, Host="evil.example"), "host"),
            (dict(CSRF, Host="127.0.0.1.evil.example:%d" % p), "host"),
        ]
        for headers, why in cases:
            status, _, body = request(p, "POST", retry, headers)
            self.assertEqual(status, 403, (headers, body))
            self.assertIn(why, json.loads(body)["error"], headers)
        # DNS rebinding reads are refused too.
        status, _, _ = request(p, "GET", "/api/status",
                               {"Host": "rebind.example:%d" % p})
        self.assertEqual(status, 403)
        # Two Host headers (RFC 7230 5.4: 400), whichever comes first:
        # the loopback one must not let the foreign one through.
        for first, second in (("127.0.0.1", "evil.example"),
                              ("evil.example", "127.0.0.1")):
            reply = raw_exchange(p, b"GET /api/status HTTP/1.1\r\n"
                                 b"Host: " + first.encode() + b"\r\n"
                                 b"Host: " + second.encode() + b"\r\n\r\n")
            self.assertTrue(reply.startswith(b"HTTP/1.1 400 "), reply[:80])
        # What the page sends.
        for headers in (dict(CSRF, **ok_origin),
                        dict(CSRF, **ok_origin,
                             **{"Sec-Fetch-Site": "same-origin"}),
                        dict(CSRF, Host="localhost:%d" % p,
                             Origin="http://localhost:%d" % p)):
            status, _, body = request(p, "POST", retry, headers)
            self.assertEqual(status, 200, (headers, body))
            self.assertEqual(json.loads(body),
                             {"requeued": 0, "target": None})
        status, _, body = request(p, "POST", retry + "?target=p", CSRF)
        self.assertEqual(json.loads(body), {"requeued": 0, "target": "p"})
        status, _, body = request(
            p, "POST", retry, dict(CSRF, **{"Content-Type":
                                            "application/json"}),
            b'{"target": "p"}')
        self.assertEqual(json.loads(body), {"requeued": 0, "target": "p"})

    def wait_json(self, path, pred, timeout=30):
        last = {}

        def check():
            last["v"] = get_json(self.port, path)
            return pred(last["v"])
        ok = wait_for(check, timeout=timeout, interval=0.2)
        self.assertTrue(ok, "%s never matched: %s\n%s" % (
            path, json.dumps(last.get("v"), indent=1),
            self.srv.log_text()[-3000:]))
        return last["v"]

    def test_counts_and_retry(self):
        self.p.stop()
        files = {"a.bin": os.urandom(1000), "b.bin": os.urandom(20000),
                 "c.bin": b"c" * 7}
        with self.assertRaises(ftplib.error_perm):
            bad = ftplib.FTP()
            bad.connect("127.0.0.1", self.srv.port, timeout=30)
            try:
                bad.login("alice", "wrong")
            finally:
                bad.close()
        f = self.ftp()
        for name, data in files.items():
            f.storbinary("STOR " + name, io.BytesIO(data))
        got = io.BytesIO()
        f.retrbinary("RETR b.bin", got.write)
        self.assertEqual(got.getvalue(), files["b.bin"])
        st = self.wait_json("/api/status", lambda s:
                            s["targets"][0]["parked"] == 3)
        s = st["server"]
        self.assertEqual((s["logins_ok"], s["logins_failed"]), (1, 1))
        self.assertEqual(s["uploads"], {
            "completed": 3, "aborted": 0,
            "bytes": sum(len(d) for d in files.values())})
        self.assertEqual(s["downloads"], {"completed": 1, "aborted": 0,
                                          "bytes": 20000})
        self.assertEqual(s["sessions_open"], 1)
        self.assertEqual([(r["user"], r["path"], r["size"])
                          for r in st["received"]],
                         [("alice", "/c.bin", 7), ("alice", "/b.bin", 20000),
                          ("alice", "/a.bin", 1000)])
        t = st["targets"][0]
        self.assertEqual((t["queued"], t["running"], t["parked"]), (0, 0, 3))
        self.assertGreaterEqual(t["failures"], 3)
        self.assertNotEqual(t["last_error"], "")
        jobs = st["jobs"]
        self.assertEqual(jobs["total"], 3)
        self.assertEqual(sorted(j["path"] for j in jobs["items"]),
                         ["/a.bin", "/b.bin", "/c.bin"])
        for j in jobs["items"]:
            self.assertEqual((j["target"], j["user"], j["op"], j["parked"],
                              j["attempts"]), ("p", "alice", "put", True, 1))
            self.assertNotEqual(j["last_error"], "")
        page = get_json(self.port, "/api/status?target=p&offset=1&limit=1")
        self.assertEqual((page["jobs"]["total"], len(page["jobs"]["items"])),
                         (3, 1))
        self.assertEqual(page["jobs"]["items"][0]["id"],
                         jobs["items"][1]["id"])
        # The same facts in /metrics.
        m = metric_values(request(self.port, "GET", "/metrics")[2].decode())
        self.assertEqual(m['relayftpd_logins_total{result="ok"}'], 1)
        self.assertEqual(m['relayftpd_logins_total{result="failed"}'], 1)
        self.assertEqual(m['relayftpd_uploads_total{result="completed"}'],
                         3)
        self.assertEqual(m['relayftpd_upload_bytes_total'], 21007)
        self.assertEqual(m['relayftpd_download_bytes_total'], 20000)
        self.assertEqual(m['relayftpd_target_jobs_parked{target="p"}'], 3)
        self.assertEqual(m['relayftpd_target_queue_depth{target="p"}'], 0)
        # The button: requeue, and the files reach the target.
        self.p.start()
        status, _, body = request(self.port, "POST", "/api/retry?target=p",
                                  dict(CSRF, Origin="http://127.0.0.1:%d"
                                       % self.port))
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body), {"requeued": 3, "target": "p"})
        bad = wait_files(self.p.dir("base", "alice"), files, timeout=60)
        self.assertEqual(bad, {}, self.srv.log_text()[-3000:])
        st = self.wait_json("/api/status", lambda s:
                            s["targets"][0]["parked"] == 0 and
                            s["jobs"]["total"] == 0 and
                            s["targets"][0]["successes"] >= 3)
        self.assertEqual(st["targets"][0]["state"], "up")
        m = metric_values(request(self.port, "GET", "/metrics")[2].decode())
        self.assertGreaterEqual(
            m['relayftpd_target_push_successes_total{target="p"}'], 3)
        self.assertEqual(
            m['relayftpd_target_relay_latency_seconds_count{target="p"}'], 3)
        f.quit()
        self.wait_json("/api/status",
                       lambda s: s["server"]["sessions_open"] == 0)

    def test_odd_names(self):
        self.p.stop()
        name = 'q"b\\s <script>&\u00e9.txt'
        f = self.ftp()
        f.storbinary("STOR " + name, io.BytesIO(b"x"))
        # Bytes an FTP client hardly sends: control characters and
        # invalid UTF-8, written into the home by another program (the
        # watcher queues it; CR and LF never make a path: pathnorm.c).
        odd = b"ct\x01\tx\xff\xc0\xafz"
        with open(os.path.join(self.srv.home("alice").encode(), odd),
                  "wb") as g:
            g.write(b"y")
        st = self.wait_json("/api/status",
                            lambda s: s["jobs"]["total"] == 2)
        paths = sorted(j["path"] for j in st["jobs"]["items"])
        self.assertEqual(paths, sorted(["/" + name,
                                        "/ct\x01\tx\ufffd\ufffd\ufffdz"]))
        self.assertEqual(st["received"][0]["path"], "/" + name)
        status, _, raw = request(self.port, "GET", "/api/status")
        self.assertNotIn(b"<script>", raw)
        raw.decode("utf-8")  # strictly valid UTF-8
        promtool_check(self, request(self.port, "GET",
                                     "/metrics")[2].decode())


class TokenTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rftp-admin-tok-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        tf = os.path.join(self.tmp, "token")
        with open(tf, "w") as f:
            f.write("  %s  \n# the rest is ignored\n" % TOKEN)
        os.chmod(tf, 0o600)
        self.srv = admin_server({"token_file": tf})
        self.addCleanup(self.srv.cleanup)
        self.addCleanup(self.srv.stop)  # exit status 0 (see above)
        self.port = admin_port(self.srv)

    def test_token(self):
        p = self.port
        good = {"Authorization": "Bearer " + TOKEN}
        for headers in ({}, {"Authorization": "Bearer"},
                        {"Authorization": "Bearer " + TOKEN + "x"},
                        {"Authorization": "Bearer " + TOKEN[:-1]},
                        {"Authorization": "Basic " + TOKEN},
                        {"Authorization": TOKEN}):
            for method, path, extra in (("GET", "/metrics", {}),
                                        ("GET", "/api/status", {}),
                                        ("POST", "/api/retry", CSRF)):
                status, hdrs, body = request(p, method, path,
                                             dict(headers, **extra))
                self.assertEqual(status, 401, (headers, path, body))
                self.assertTrue(hdrs["www-authenticate"].startswith(
                    "Bearer"))
        # The page's files are public (it asks for the token itself).
        self.assertEqual(request(p, "GET", "/")[0], 200)
        for path in ("/metrics", "/api/status"):
            self.assertEqual(request(p, "GET", path, good)[0], 200, path)
        self.assertEqual(request(p, "GET", "/metrics",
                                 {"Authorization": "bearer  " + TOKEN})[0],
                         200)
        status, _, body = request(p, "POST", "/api/retry", dict(good, **CSRF))
        self.assertEqual((status, json.loads(body)),
                         (200, {"requeued": 0, "target": None}))
        # The token does not lift the CSRF rules.
        self.assertEqual(request(p, "POST", "/api/retry", good)[0], 403)
        r = subprocess.run(
            ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
             "-H", "Authorization: Bearer " + TOKEN,
             "http://127.0.0.1:%d/metrics" % p],
            capture_output=True, text=True, timeout=30)
        self.assertEqual(r.stdout, "200", r.stderr)
        self.assertNotIn("unauthenticated", self.srv.log_text())

    def test_absolute_form_names_any_host(self):
        # With a token the target's host may be any name (a proxy's
        # request): it was 404.
        good = b"Authorization: Bearer %s\r\nHost: admin.example\r\n" % (
            TOKEN.encode())
        status, _, body = raw_request(
            self.port, b"GET http://admin.example:8443/api/status HTTP/1.1",
            good)
        self.assertEqual(status, 200, body)
        status, _, body = raw_request(
            self.port, b"GET http://admin.example/api/status HTTP/1.1")
        self.assertEqual(status, 401, body)

    def test_options_and_the_token(self):
        # "OPTIONS *" is public (it says what the README says); OPTIONS on
        # an API path needs the token as its GET or POST does.
        status, hdrs, _ = raw_request(self.port, b"OPTIONS * HTTP/1.1")
        self.assertEqual((status, hdrs.get("allow")),
                         (200, "GET, HEAD, POST, OPTIONS"))
        self.assertEqual(request(self.port, "OPTIONS", "/api/status")[0],
                         401)
        status, hdrs, _ = request(
            self.port, "OPTIONS", "/api/status",
            {"Authorization": "Bearer " + TOKEN})
        self.assertEqual((status, hdrs.get("allow")),
                         (200, "GET, HEAD, OPTIONS"))

    def test_token_file_saved_by_a_windows_editor(self):
        # Notepad's UTF-8 starts with a byte order mark and ends lines
        # with CRLF: the token is what the admin typed, not the BOM.
        tf = os.path.join(self.tmp, "token-bom")
        with open(tf, "wb") as f:
            f.write(b"\xef\xbb\xbf" + TOKEN.encode() + b"\r\n")
        os.chmod(tf, 0o600)
        srv = admin_server({"token_file": tf})
        self.addCleanup(srv.cleanup)
        self.addCleanup(srv.stop)
        p = admin_port(srv)
        self.assertEqual(request(p, "GET", "/metrics", {
            "Authorization": "Bearer " + TOKEN})[0], 200)
        out = raw_exchange(
            p, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Connection: close\r\nAuthorization: Bearer \xef\xbb\xbf" +
            TOKEN.encode() + b"\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 401"), out)


class FloodTest(unittest.TestCase):
    """Bounded abuse from other loopback addresses while 127.0.0.1 checks
    that FTP and /metrics keep answering."""

    def setUp(self):
        self.srv = admin_server({"max_connections": "32", "timeout": "3"})
        self.addCleanup(self.srv.cleanup)
        self.addCleanup(self.srv.stop)  # exit status 0 (see above)
        self.port = admin_port(self.srv)

    def test_flood(self):
        p = self.port
        stop = threading.Event()
        results = {"ok": 0, "refused": 0}
        lock = threading.Lock()
        idle = []
        # 200 connections that never send a byte.
        for i in range(200):
            try:
                idle.append(socket.create_connection(
                    ("127.0.0.1", p), timeout=5,
                    source_address=("127.0.0.2", 0)))
            except OSError:
                pass
        self.addCleanup(lambda: [s.close() for s in idle])

        def slowloris(n):
            socks = []
            try:
                for _ in range(n):
                    try:
                        s = socket.create_connection(
                            ("127.0.0.1", p), timeout=5,
                            source_address=("127.0.0.3", 0))
                        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
                        socks.append(s)
                    except OSError:
                        pass
                for _ in range(40):  # bounded: at most ~8 s
                    if stop.is_set():
                        break
                    for s in socks:
                        try:
                            s.sendall(b"X-a: b\r\n")
                        except OSError:
                            pass
                    time.sleep(0.2)
            finally:
                for s in socks:
                    s.close()

        def flooder(k):
            for _ in range(2000 // 64 + 1):
                try:
                    status = request(p, "GET", "/metrics" if k % 2 else
                                     "/api/status",
                                     source="127.0.0.%d" % (4 + k % 4),
                                     timeout=10)[0]
                    key = "ok" if status == 200 else "refused"
                except OSError:
                    key = "refused"
                with lock:
                    results[key] += 1

        slow = threading.Thread(target=slowloris, args=(20,))
        slow.start()
        workers = [threading.Thread(target=flooder, args=(k,))
                   for k in range(64)]
        for w in workers:
            w.start()
        # Meanwhile, from 127.0.0.1: /metrics (a few tries: a slot frees
        # as soon as a flood request is answered) and an FTP login.
        got = wait_for(lambda: _try_status(p) == 200, timeout=30,
                       interval=0.1)
        self.assertTrue(got, "no /metrics during the flood")
        f = ftplib.FTP()
        f.connect("127.0.0.1", self.srv.port, timeout=30)
        f.login("alice", "alice-pw")
        # A data connection too: an upload, then a listing that shows it
        # (nlst() returns a list or raises, never None).
        self.assertTrue(f.storbinary(
            "STOR flood.txt", io.BytesIO(b"during the flood")).startswith(
                "226"))
        self.assertIn("flood.txt", f.nlst())
        f.quit()
        with open(os.path.join(self.srv.home("alice"), "flood.txt"),
                  "rb") as fh:
            self.assertEqual(fh.read(), b"during the flood")
        for w in workers:
            w.join(timeout=120)
            self.assertFalse(w.is_alive())
        stop.set()
        slow.join(timeout=30)
        self.assertGreater(results["ok"], 0, results)
        self.assertEqual(results["ok"] + results["refused"],
                         64 * (2000 // 64 + 1))
        for s in idle:
            s.close()
        self.assertTrue(wait_for(lambda: _try_status(p) == 200,
                                 timeout=30, interval=0.1))
        promtool_check(self, request(p, "GET", "/metrics")[2].decode())
        self.assertTrue(self.srv.running())

    def test_answers_at_once_when_a_flood_of_connections_ends(self):
        # 300 connections from 300 addresses (past max_connections and
        # its per-address share) that send half a request line, then
        # closed: the admin must answer at once after, not
        # only once libmicrohttpd's idle timeout (10 s) has worn the
        # backlog of dead connections down (epoll mode accepted from a
        # full backlog only at its timeout ticks: 24 s and more).
        srv = admin_server({})
        self.addCleanup(srv.cleanup)
        self.addCleanup(srv.stop)
        p = admin_port(srv)
        socks = []
        self.addCleanup(lambda: [s.close() for s in socks])
        for i in range(300):
            s = socket.socket()
            s.settimeout(5)
            s.bind(("127.0.%d.%d" % (1 + i // 250, 1 + i % 250), 0))
            s.connect(("127.0.0.1", p))
            s.sendall(b"GET / HTTP/1.1\r\nHo")
            socks.append(s)
        for s in socks:
            s.close()
        t0 = time.monotonic()
        def answered():
            try:
                return request(p, "GET", "/metrics", timeout=1)[0] == 200
            except OSError:
                return False

        got = wait_for(answered, timeout=20, interval=0.05)
        took = time.monotonic() - t0
        self.assertTrue(got, "no /metrics 20 s after the flood ended")
        self.assertLess(took, 5, "/metrics answered %.1f s after the "
                        "flood ended" % took)
        f = ftplib.FTP()
        f.connect("127.0.0.1", srv.port, timeout=30)
        f.login("alice", "alice-pw")
        f.quit()

    def test_sigterm_is_prompt_while_connections_wait_past_the_limit(self):
        # 100 half-requests from 100 addresses: 32 (max_connections) are
        # taken, the rest wait in the listen backlog. SIGTERM must stop
        # the daemon at once, not after the admin timeout (30 s here):
        # libmicrohttpd, at its limit, no longer polls the listen socket
        # its stop wakes it through (9.5 s with timeout 10, 29.6 s with
        # 30; systemd kills a daemon whose stop takes too long).
        srv = admin_server({"timeout": "30"})
        self.addCleanup(srv.cleanup)
        p = admin_port(srv)
        socks = []
        self.addCleanup(lambda: [s.close() for s in socks])
        fd_dir = "/proc/%d/fd" % srv.proc.pid

        def sockets():
            n = 0
            for name in os.listdir(fd_dir):
                try:
                    if os.readlink(os.path.join(fd_dir, name)).startswith(
                            "socket:"):
                        n += 1
                except OSError:
                    pass
            return n

        before = sockets()
        for i in range(100):
            s = socket.socket()
            s.settimeout(5)
            s.bind(("127.0.3.%d" % (1 + i), 0))
            s.connect(("127.0.0.1", p))
            s.sendall(b"GET / HTTP/1.1\r\nHo")
            socks.append(s)
        # The event: the listener holds its 32 (each is two descriptors,
        # the library's and the sweeper's duplicate).
        self.assertTrue(wait_for(lambda: sockets() >= before + 64,
                                 timeout=20, interval=0.05),
                        "the listener took %d sockets, not 64" %
                        (sockets() - before))
        t0 = time.monotonic()
        code = srv.stop(timeout=45)
        took = time.monotonic() - t0
        self.assertEqual(code, 0)
        self.assertLess(took, 5, "SIGTERM took %.1f s with 68 admin "
                        "connections waiting in the backlog" % took)


def hold_slots(test, port, first, more):
    """Four connections from 127.0.0.2-5 (the slots of max_connections 4,
    one per address) that send first, then more every 0.5 s, never 2 s
    silent, for about 15 s (bounded). Returns (sockets, the trickling
    thread); both end with the test."""
    socks = []
    for k in range(4):
        s = socket.create_connection(
            ("127.0.0.1", port), timeout=5,
            source_address=("127.0.0.%d" % (2 + k), 0))
        s.sendall(first)
        socks.append(s)
    test.addCleanup(lambda: [s.close() for s in socks])
    stop = threading.Event()

    def trickle():
        for _ in range(30):
            if stop.is_set():
                return
            for s in socks:
                try:
                    s.sendall(more)
                except OSError:
                    pass
            time.sleep(0.5)

    t = threading.Thread(target=trickle)
    t.start()
    test.addCleanup(t.join)
    test.addCleanup(stop.set)
    return socks, t


class TrickleTest(unittest.TestCase):

    def test_trickled_headers_free_their_slots(self):
        tmp = tempfile.mkdtemp(prefix="rftp-admin-trickle-")
        self.addCleanup(shutil.rmtree, tmp, True)
        tf = os.path.join(tmp, "token")
        with open(tf, "w") as f:
            f.write(TOKEN + "\n")
        os.chmod(tf, 0o600)
        # 4 slots, one per address; 2 s of silence closes a connection.
        srv = admin_server({"token_file": tf, "max_connections": "4",
                            "timeout": "2"})
        self.addCleanup(srv.cleanup)
        self.addCleanup(srv.stop)
        p = admin_port(srv)
        socks, t = hold_slots(self, p, b"GET /metrics HTTP/1.1\r\nX-", b"a")
        # Every slot is taken (the four connected first); the request
        # waits in the listen queue until a slot frees.
        t0 = time.monotonic()
        status = request(p, "GET", "/metrics",
                         {"Authorization": "Bearer " + TOKEN},
                         source="127.0.0.9", timeout=12)[0]
        self.assertEqual(status, 200)
        # Served while the trickle still goes on (it lasts ~15 s).
        self.assertTrue(t.is_alive())
        self.assertLess(time.monotonic() - t0, 12)
        for s in socks:
            s.settimeout(10)
            try:
                self.assertEqual(s.recv(100), b"")
            except ConnectionResetError:
                pass
        self.assertIn("sent no whole request within 2 s", srv.log_text())


class RetryNowTest(unittest.TestCase):
    """Found from outside: the button requeued the parked jobs, but the
    workers still waited out the target's backoff (up to retry_max):
    an admin who mended the target and pressed Retry saw nothing
    happen for minutes. And what the status said of a target that
    answered again, or whose jobs were all parked, or across a restart,
    was not so."""

    def start(self, **mirror):
        """A relayftpd whose mirror has one pyftpdlib target "p", down;
        the FTP session of alice on it."""
        self.p = PyftpdTarget()
        self.addCleanup(self.p.cleanup)
        tmp = tempfile.mkdtemp(prefix="rftp-admin-retry-")
        self.addCleanup(shutil.rmtree, tmp, True)
        self.queue = os.path.join(tmp, "q.db")
        keys = {"queue": self.queue, "watch_debounce_ms": "50"}
        keys.update(mirror)
        self.srv = admin_server({}, mirror=keys,
                                targets={"p": self.p.target("/base")},
                                start=False)
        self.addCleanup(self.srv.cleanup)
        self.addCleanup(self.srv.stop)
        os.makedirs(self.srv.home("alice"))
        self.srv.start()
        self.port = admin_port(self.srv)
        self.p.stop()
        self.f = self.login()

    def login(self):
        f = ftplib.FTP()
        f.connect("127.0.0.1", self.srv.port, timeout=30)
        f.login("alice", "alice-pw")
        self.addCleanup(f.close)
        return f

    def target(self):
        return get_json(self.port, "/api/status")["targets"][0]

    def wait_target(self, pred, timeout=30):
        self.assertTrue(wait_for(lambda: pred(self.target()),
                                 timeout=timeout, interval=0.2),
                        (self.target(), self.srv.log_text()[-2000:]))

    def retry(self, requeued):
        status, _, body = request(self.port, "POST", "/api/retry?target=p",
                                  CSRF)
        self.assertEqual((status, json.loads(body)),
                         (200, {"requeued": requeued, "target": "p"}))

    def test_retry_ends_the_backoff(self):
        self.start(retry_initial="120", retry_max="120", max_attempts="1")
        files = {"a.bin": os.urandom(3000)}
        self.f.storbinary("STOR a.bin", io.BytesIO(files["a.bin"]))
        self.wait_target(lambda t: t["parked"] == 1)
        # Every job parked: nothing is tried until a retry, so there is
        # no time of a next try to show (it showed a past one).
        self.assertEqual(self.target()["retry_at"], None)
        self.p.start()
        self.retry(1)
        # Well before the 120 s backoff ends.
        bad = wait_files(self.p.dir("base", "alice"), files, timeout=30)
        self.assertEqual(bad, {}, self.srv.log_text()[-3000:])

    def test_retry_with_nothing_parked_ends_the_backoff(self):
        # The jobs waiting out the backoff are due at once too: the
        # retry answered 200 and they waited the whole backoff.
        self.start(retry_initial="120", retry_max="120", max_attempts="5")
        files = {"b.bin": os.urandom(3000)}
        self.f.storbinary("STOR b.bin", io.BytesIO(files["b.bin"]))
        self.wait_target(lambda t: t["failures"] >= 1 and
                         t["state"] == "backoff" and t["parked"] == 0)
        self.assertIsNotNone(self.target()["retry_at"])
        self.p.start()
        self.retry(0)
        self.assertNotEqual(self.target()["state"], "backoff")
        bad = wait_files(self.p.dir("base", "alice"), files, timeout=30)
        self.assertEqual(bad, {}, self.srv.log_text()[-3000:])
        self.wait_target(lambda t: t["state"] == "up")

    def test_up_again_after_a_folder_job(self):
        # Only a file's push cleared the stored state: a target back up
        # whose only job was a folder stayed "failing" in /api/status,
        # /metrics and `mirror status` until its next file.
        self.start(retry_initial="1", retry_max="1", max_attempts="50")
        self.f.mkd("d1")
        self.wait_target(lambda t: t["failures"] >= 1)
        self.p.start()
        self.assertTrue(wait_for(lambda: os.path.isdir(
            self.p.dir("base", "alice", "d1")), timeout=30))
        self.wait_target(lambda t: t["state"] == "up" and
                         t["failing_since"] is None and t["queued"] == 0)
        self.assertIn('relayftpd_target_state{target="p",state="up"} 1',
                      request(self.port, "GET", "/metrics")[2].decode())

    def test_failing_since_survives_a_restart(self):
        self.start(retry_initial="1", retry_max="1", max_attempts="50")
        self.f.storbinary("STOR c.bin", io.BytesIO(b"c" * 100))
        self.wait_target(lambda t: t["failing_since"] is not None)
        since = self.target()["failing_since"]
        self.f.close()
        self.srv.stop()
        self.srv.start()
        self.port = admin_port(self.srv)
        self.wait_target(lambda t: t["failures"] >= 1)
        # The outage began before the restart, not at its first failure
        # after it.
        self.assertEqual(self.target()["failing_since"], since)

    def test_retry_while_another_program_holds_the_queue(self):
        # The admin listener has one thread: a retry waiting SQLite's
        # 10 s for the lock held /metrics as long.
        self.start()
        self.p.start()
        db = sqlite3.connect(self.queue, isolation_level=None, timeout=30)
        self.addCleanup(db.close)
        db.execute("BEGIN IMMEDIATE")
        t0 = time.monotonic()
        status, _, body = request(self.port, "POST", "/api/retry", CSRF,
                                  timeout=30)
        waited = time.monotonic() - t0
        self.assertEqual(status, 503, body)
        self.assertIn(b"lock", body)
        self.assertLess(waited, 5)
        db.execute("ROLLBACK")
        status, _, body = request(self.port, "POST", "/api/retry", CSRF)
        self.assertEqual(status, 200, body)


class SlowBodyAndFramingTest(unittest.TestCase):
    """Found from outside: a body trickled a byte at a time held its slot
    (the deadline stopped at the headers), so max_connections such
    clients locked the admin out, token or not; a chunked body was read
    to its end (1 GB) before its 413; framing that RFC 9112 answers with
    400 and a close (two Content-Length, Transfer-Encoding with
    Content-Length, a coding other than chunked) was served or left
    hanging; a token followed by a blank was refused."""

    def setUp(self):
        tmp = tempfile.mkdtemp(prefix="rftp-admin-body-")
        self.addCleanup(shutil.rmtree, tmp, True)
        tf = os.path.join(tmp, "token")
        with open(tf, "w") as f:
            f.write(TOKEN + "\n")
        os.chmod(tf, 0o600)
        self.srv = admin_server({"token_file": tf, "max_connections": "4",
                                 "timeout": "2"})
        self.addCleanup(self.srv.cleanup)
        self.addCleanup(self.srv.stop)
        self.port = admin_port(self.srv)

    def test_trickled_bodies_free_their_slots(self):
        p = self.port
        # "/" is public: no token needed to hold a slot.
        socks, t = hold_slots(self, p, b"GET / HTTP/1.1\r\nHost: 127.0.0.1"
                              b"\r\nTransfer-Encoding: chunked\r\n\r\n",
                              b"1\r\na\r\n")
        status = request(p, "GET", "/metrics",
                         {"Authorization": "Bearer " + TOKEN},
                         source="127.0.0.9", timeout=12)[0]
        self.assertEqual(status, 200)
        self.assertTrue(t.is_alive())
        for s in socks:
            s.settimeout(10)
            try:
                while s.recv(65536):
                    pass
            except ConnectionResetError:
                pass
        self.assertIn("sent no whole request within 2 s",
                      self.srv.log_text())

    def test_a_chunked_body_over_the_bound_is_not_read_to_its_end(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        self.addCleanup(s.close)
        s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n" % 65536 + b"a" * 65536 + b"\r\n"
        sent = 0
        try:
            for _ in range(4096):  # at most 256 MiB
                s.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.assertLess(sent, 64 << 20)
        got = b""
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                got += b
        except (ConnectionResetError, socket.timeout):
            pass
        if got:  # the 413 itself may be lost to the reset
            self.assertTrue(got.startswith(b"HTTP/1.1 413"), got[:200])
        self.assertTrue(wait_for(
            lambda: "admin: closed a connection from 127.0.0.1 whose body "
            "passed" in self.srv.log_text(), timeout=10))

    def test_framing_answered_400_and_closed(self):
        tok = b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
        follow = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n" + tok + \
            b"\r\n"
        for head in (b"Content-Length: 0\r\nContent-Length: " +
                     str(len(follow)).encode() + b"\r\n",
                     b"Content-Length: 0\r\n"
                     b"Transfer-Encoding: chunked\r\n",
                     b"Transfer-Encoding: chunked, gzip\r\n",
                     b"Transfer-Encoding: xchunked\r\n",
                     b"Transfer-Encoding: chunked\r\n"
                     b"Transfer-Encoding: identity\r\n"):
            t0 = time.monotonic()
            out = raw_exchange(
                self.port, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + tok + head + b"\r\n" + b"0\r\n\r\n" + follow)
            self.assertTrue(out.startswith(b"HTTP/1.1 400"), (head, out))
            # One answer, then the close: the pipelined GET is not served.
            self.assertEqual(out.count(b"HTTP/1.1 "), 1, (head, out))
            self.assertLess(time.monotonic() - t0, 1.5, head)

    def test_blanks_around_the_token(self):
        for value in (TOKEN + " ", TOKEN + "\t", " " + TOKEN + "  "):
            out = raw_exchange(
                self.port, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Connection: close\r\nAuthorization: Bearer " +
                value.encode() + b"\r\n\r\n")
            self.assertTrue(out.startswith(b"HTTP/1.1 200"), (value, out))


class UnauthenticatedWarningTest(unittest.TestCase):

    def test_names_the_port_bound(self):
        srv = admin_server({})
        self.addCleanup(srv.cleanup)
        self.addCleanup(srv.stop)
        # The warning names the port bound, not the configured 0.
        self.assertIn("unauthenticated", srv.log_text())
        self.assertNotIn(":0 is unauthenticated", srv.log_text())
        self.assertIn(srv.admin_url, srv.log_text())


def _try_status(port):
    try:
        return request(port, "GET", "/metrics", timeout=5)[0]
    except OSError:
        return None


class ConfigTest(unittest.TestCase):
    """`relayftpd check` names the line of each [admin] mistake."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rftp-admin-cfg-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.srv = Server(start=False)
        self.addCleanup(self.srv.cleanup)

    def check(self, admin_lines):
        with open(self.srv.config_path) as f:
            base = [ln for ln in f.read().splitlines()]
        text = "\n".join(base + ["[admin]"] + admin_lines) + "\n"
        path = os.path.join(self.tmp, "c.ini")
        with open(path, "w") as f:
            f.write(text)
        first = len(base) + 2  # the line of admin_lines[0]
        r = subprocess.run([BINARY, "check", "--config", path],
                           capture_output=True, text=True, timeout=30)
        return r, path, first

    def test_errors(self):
        empty = os.path.join(self.tmp, "empty")
        open(empty, "w").close()
        blank = os.path.join(self.tmp, "blank")
        with open(blank, "w") as f:
            f.write("   \n")
        long_ = os.path.join(self.tmp, "long")
        with open(long_, "w") as f:
            f.write("x" * 300 + "\n")
        ctrl = os.path.join(self.tmp, "ctrl")
        with open(ctrl, "w") as f:
            f.write("abc\x1bdef\n")
        cases = [
            (["listen = 0.0.0.0:2180"], 0, "listen", "token_file"),
            (["listen = [::]:2180"], 0, "listen", "token_file"),
            (["listen = 127.0.0.1"], 0, "listen", "ADDR:PORT"),
            (["listen = localhost:2180"], 0, "listen", "ADDR:PORT"),
            (["listen = 127.0.0.1:0", "token_file = missing"], 1,
             "token_file", "cannot read"),
            (["listen = 127.0.0.1:0", "token_file = " + empty], 1,
             "token_file", "empty"),
            (["listen = 127.0.0.1:0", "token_file = " + blank], 1,
             "token_file", "empty"),
            (["listen = 127.0.0.1:0", "token_file = " + long_], 1,
             "token_file", "longer"),
            (["listen = 127.0.0.1:0", "token_file = " + ctrl], 1,
             "token_file", "control byte"),
            (["listen = 127.0.0.1:0", "cert = x.pem"], 1, "cert", "both"),
            (["listen = 127.0.0.1:0", "cert = x.pem", "key = y.pem"], 2,
             "cert", "cannot read"),
            (["max_connections = 0"], 0, "max_connections", "range"),
            (["timeout = 99999"], 0, "timeout", "range"),
            (["colour = blue"], 0, "colour", "unknown key"),
        ]
        for lines, at, key, why in cases:
            r, path, first = self.check(lines)
            self.assertEqual(r.returncode, 1, (lines, r.stdout))
            self.assertIn("%s:%d: key '%s'" % (os.path.realpath(path),
                                                first + at, key),
                          r.stderr, lines)
            self.assertIn(why, r.stderr, lines)

    def test_certificate_and_key_load_and_match(self):
        # check said OK for any readable files, and the start then failed
        # with "in use, not an address of this host, or a bad certificate
        # or key": the admin did not know which file to fix.
        cert, key = make_cert(self.tmp, "a")
        cert2, key2 = make_cert(self.tmp, "b")
        junk = os.path.join(self.tmp, "junk.pem")
        with open(junk, "w") as f:
            f.write("not a PEM file\n")
        locked = os.path.join(self.tmp, "locked-key.pem")
        subprocess.run(["openssl", "pkey", "-in", key, "-out", locked,
                        "-aes256", "-passout", "pass:secret"],
                       check=True, capture_output=True, timeout=60)
        cases = [
            (junk, key, "cert", "holds no PEM certificate"),
            (key, key, "cert", "holds no PEM certificate"),
            (cert, junk, "key", "holds no PEM private key"),
            (cert, cert, "key", "holds no PEM private key"),
            (cert, locked, "key", "pass phrase"),
            (cert, key2, "key", "is not the key of the certificate"),
        ]
        for c, k, bad, why in cases:
            lines = ["listen = 127.0.0.1:0", "cert = " + c, "key = " + k]
            r, path, first = self.check(lines)
            self.assertEqual(r.returncode, 1, (lines, r.stdout))
            # Each at its own line: cert = at first + 1, key = next.
            self.assertIn("%s:%d: key '%s'" % (os.path.realpath(path),
                                                first + (1 if bad == "cert"
                                                         else 2), bad),
                          r.stderr, lines)
            self.assertIn(why, r.stderr, lines)
            # The start says the same, not a guess among three causes.
            r = subprocess.run([BINARY, "--config", path],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 1, (lines, r.stdout))
            self.assertIn(why, r.stderr, lines)
            self.assertNotIn("listening on", r.stdout, lines)
        for c, k in ((cert, key), (cert2, key2)):
            r, _, _ = self.check(["listen = 127.0.0.1:0", "cert = " + c,
                                  "key = " + k])
            self.assertEqual(r.returncode, 0, r.stderr)

    def test_valid(self):
        tf = os.path.join(self.tmp, "token")
        with open(tf, "w") as f:
            f.write(TOKEN + "\n")
        os.chmod(tf, 0o644)
        for lines in (["listen = 127.0.0.1:2180"], ["listen = [::1]:0"],
                      ["listen ="], [],
                      ["listen = 0.0.0.0:0", "token_file = " + tf,
                       "max_connections = 4", "timeout = 1"]):
            r, path, _ = self.check(lines)
            self.assertEqual(r.returncode, 0, (lines, r.stderr))
        # Valid, with a warning: the token is readable by others.
        self.assertIn("key 'token_file': warning", r.stderr)
        # And one more: a token on an address others reach, over plain
        # HTTP, crosses the network in clear in every request (nothing
        # said it, at check or at start; found from outside).
        self.assertIn("key 'listen' of [admin]: warning: 0.0.0.0:0 is not "
                      "loopback and has no cert", r.stderr)
        os.chmod(tf, 0o600)
        cert, key = make_cert(self.tmp, "w")
        for lines in (["listen = 127.0.0.1:0", "token_file = " + tf],
                      ["listen = 0.0.0.0:0", "token_file = " + tf,
                       "cert = " + cert, "key = " + key]):
            r, path, _ = self.check(lines)
            self.assertEqual(r.returncode, 0, (lines, r.stderr))
            self.assertNotIn("warning", r.stderr, lines)
        # A short token can be guessed: the listener answers thousands of
        # wrong ones a second, with no ban (found from outside).
        short = os.path.join(self.tmp, "short")
        with open(os.open(short, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write("letmein-2026\n")
        r, path, _ = self.check(["listen = 127.0.0.1:0",
                                 "token_file = " + short])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("key 'token_file': warning: the token is shorter "
                      "than 16 characters", r.stderr)
        r, path, _ = self.check(["listen = 0.0.0.0:0",
                                 "token_file = " + short])
        srv = subprocess.Popen([BINARY, "--config", path],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
        try:
            self.assertIn("admin listening on", srv.stdout.readline())
        finally:
            srv.terminate()
            _, err = srv.communicate(timeout=30)
        self.assertIn("is plain HTTP on an address others reach", err)
        self.assertIn("token is shorter than 16 characters", err)


class TransportTest(unittest.TestCase):

    def test_https(self):
        tmp = tempfile.mkdtemp(prefix="rftp-admin-tls-")
        self.addCleanup(shutil.rmtree, tmp, True)
        cert, key = make_cert(tmp, "admin")
        srv = admin_server({"cert": cert, "key": key})
        self.addCleanup(srv.cleanup)
        self.addCleanup(srv.stop)  # exit status 0 (see above)
        port = admin_port(srv)
        self.assertEqual(srv.admin_url, "https://127.0.0.1:%d/" % port)
        ctx = ssl.create_default_context(cafile=cert)
        status, hdrs, body = request(port, "GET", "/metrics", context=ctx)
        self.assertEqual(status, 200)
        r = subprocess.run(
            ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
             "--cacert", cert, "-X", "POST", "-H", "X-Relayftpd-Request: 1",
             "-H", "Origin: https://127.0.0.1:%d" % port,
             "https://127.0.0.1:%d/api/retry" % port],
            capture_output=True, text=True, timeout=30)
        self.assertEqual(r.stdout, "200", r.stderr)
        # A query too long for libmicrohttpd ends the connection (no
        # clear-text answer inside TLS) instead of holding it unanswered.
        with self.assertRaises((http.client.RemoteDisconnected,
                                ConnectionResetError)):
            request(port, "GET", "/metrics?" + "&" * 600, context=ctx)
        # Plain HTTP on the HTTPS port gets nothing useful.
        self.assertFalse(raw_exchange(
            port, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
            timeout=5).startswith(b"HTTP/1.1 200"))

    def test_bad_certificate(self):
        tmp = tempfile.mkdtemp(prefix="rftp-admin-badtls-")
        self.addCleanup(shutil.rmtree, tmp, True)
        for name in ("c.pem", "k.pem"):
            with open(os.path.join(tmp, name), "w") as f:
                f.write("not a PEM file\n")
        srv = admin_server({"cert": os.path.join(tmp, "c.pem"),
                            "key": os.path.join(tmp, "k.pem")}, start=False)
        self.addCleanup(srv.cleanup)
        r = subprocess.run([BINARY, "--config", srv.config_path],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("key 'cert': %s holds no PEM certificate" %
                      os.path.join(tmp, "c.pem"), r.stderr)
        self.assertNotIn("listening on", r.stdout)

    def test_ipv6(self):
        try:
            socket.create_server(("::1", 0), family=socket.AF_INET6).close()
        except OSError:
            self.skipTest("no IPv6 loopback")
        srv = admin_server({"listen": "[::1]:0"})
        self.addCleanup(srv.cleanup)
        self.addCleanup(srv.stop)  # exit status 0 (see above)
        self.assertTrue(srv.admin_url.startswith("http://[::1]:"),
                        srv.admin_url)
        port = int(srv.admin_url.rstrip("/").rsplit(":", 1)[1])
        status, _, _ = request(port, "GET", "/metrics", host="::1",
                               headers={"Host": "[::1]:%d" % port})
        self.assertEqual(status, 200)


if __name__ == "__main__":
    unittest.main()
