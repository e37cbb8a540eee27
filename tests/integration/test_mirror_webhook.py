"""The mirror's webhook targets (url = http:// or https://).

A receiver in this process (http.server, threaded, on 127.0.0.1:0) checks
the X-Relayftpd-Signature of every request (HMAC-SHA256 of the body under
the secret_file), answers 500 to the first requests and 200 afterwards,
and can hang a request (read it, never answer) or be down (connection
refused). Clients are curl and ftplib, with names that break naive JSON or
URL code (" \\ % _ * spaces, UTF-8, a byte that is not UTF-8).

Covered: mode = notify: every event (put with size and SHA-256 of the
file, rename with old_path, delete) arrives at least once, in order per
path, with an id that is the same at every retry of its job; a receiver
down, then answering 500, then 200; a hanging receiver fails the attempt
after `timeout` and the event is sent again; mode = put: the exact bytes
at URL/USER/PATH (percent-encoded), DELETE, rename as DELETE + PUT, and
nothing lost across kill -9 of relayftpd while a request is in flight
(notify mode with curl and lftp uploads, and put mode);
https with a self-signed certificate through ca_file (and refused without
it); `check` refusing keys of the wrong kind.

Every wait is bounded; the receiver's hangs end by themselves.
"""
import base64
import calendar
import email.utils
import ftplib
import hashlib
import hmac
import http.client
import http.server
import io
import json
import os
import ssl
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import BINARY, make_cert, wait_for  # noqa: E402
from mirror_targets import wait_status  # noqa: E402
from test_mirror import FAST_RETRY, MirrorTest  # noqa: E402

SECRET = "s3cret-for-the-webhook-test"

# Names a receiver must get exactly (ftplib sends them as UTF-8).
NAMES = ['q"uote.txt', 'back\\slash.txt', 'per%cent_under*star.txt',
         'sp ace and -dash.txt', 'ünïcödé €.txt']


class Receiver:
    """A webhook receiver. fail_first: that many requests get fail_status
    (500; after the signature check), with a Retry-After of retry_after
    (a string, or a function called at each answer that returns one; None:
    no header). hang: requests hang (read, then no answer) until
    release() or 30 s. drip_first: that many requests are read and
    answered "200 OK", whose body then comes a byte every 0.5 s until
    release() or 30 s (not recorded as accepted). Records every request (attempts) and the accepted
    ones (events: JSON bodies for POST; store: PUT bodies by path)."""

    def __init__(self, secret=SECRET, fail_first=0, tls=None, port=0,
                 drip_first=0):
        self.secret = secret.encode() if secret else None
        self.fail_first = fail_first
        self.drip_first = drip_first
        self.lock = threading.Lock()
        self.attempts = []   # (method, path, event id) of every request
        self.times = []      # time.monotonic() of each attempt's arrival
        self.fail_status = 500
        self.retry_after = None
        self.events = []     # accepted JSON events, in order
        self.store = {}      # mode = put: path -> bytes
        self.log = []        # accepted (method, path, event id)
        self.bad_signatures = []
        self.cut_bodies = []  # requests whose body ended short
        self.auth = set()    # Authorization headers seen
        self.queries = set()  # query strings of accepted requests
        self.hang = False
        self.hanging = 0     # requests hanging now
        self.released = threading.Event()
        self.tls = tls
        self.httpd = None
        self.thread = None
        self.start(port)

    def start(self, port=0):
        rcv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _body(self):
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _answer(self, code, text=b"", headers=None):
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def _handle(self):
                body = self._body()
                if len(body) < int(self.headers.get("Content-Length") or 0):
                    # The sender left mid-body (killed, or its timeout):
                    # no request to answer, and its signature, over the
                    # whole body, cannot match the part read: not a
                    # signature refused.
                    with rcv.lock:
                        rcv.cut_bodies.append(self.path)
                    self.close_connection = True
                    return
                eid = self.headers.get("X-Relayftpd-Event-Id")
                with rcv.lock:
                    rcv.attempts.append((self.command, self.path, eid))
                    rcv.times.append(time.monotonic())
                    rcv.auth.add(self.headers.get("Authorization"))
                    hang = rcv.hang
                    if hang:
                        rcv.hanging += 1
                if hang:
                    rcv.released.wait(30)
                    with rcv.lock:
                        rcv.hanging -= 1
                    self.close_connection = True
                    return
                with rcv.lock:
                    drip = rcv.drip_first > 0
                    if drip:
                        rcv.drip_first -= 1
                if drip:
                    # No length: the body runs until the connection ends.
                    self.send_response(200)
                    self.end_headers()
                    self.close_connection = True
                    for _ in range(60):
                        try:
                            self.wfile.write(b".")
                            self.wfile.flush()
                        except OSError:
                            return
                        if rcv.released.wait(0.5):
                            return
                    return
                if rcv.secret is not None:
                    want = "sha256=" + hmac.new(
                        rcv.secret, body, hashlib.sha256).hexdigest()
                    got = self.headers.get("X-Relayftpd-Signature", "")
                    if not hmac.compare_digest(want, got):
                        with rcv.lock:
                            rcv.bad_signatures.append((self.path, got))
                        self._answer(401, b"bad signature")
                        return
                with rcv.lock:
                    if rcv.fail_first > 0:
                        rcv.fail_first -= 1
                        fail = True
                    else:
                        fail = False
                    status, after = rcv.fail_status, rcv.retry_after
                if fail:
                    if callable(after):
                        after = after()
                    self._answer(status, b"try again later",
                                 {"Retry-After": after} if after else None)
                    return
                with rcv.lock:
                    rcv.log.append((self.command, self.path, eid))
                    if self.command == "POST":
                        rcv.events.append(json.loads(body))
                    path, _, query = self.path.partition("?")
                    rcv.queries.add(query)
                    if self.command == "PUT":
                        rcv.store[urllib.parse.unquote_to_bytes(
                            path)] = body
                    elif self.command == "DELETE":
                        rcv.store.pop(urllib.parse.unquote_to_bytes(
                            path), None)
                self._answer(200, b"ok")

            do_POST = _handle
            do_PUT = _handle
            do_DELETE = _handle

        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        if self.tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self.tls)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket,
                                                server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(10)
            self.httpd = None

    def release(self):
        with self.lock:
            self.hang = False
        self.released.set()

    def url(self, path="/hook"):
        scheme = "https" if self.tls is not None else "http"
        return "%s://127.0.0.1:%d%s" % (scheme, self.port, path)

    def snapshot(self):
        with self.lock:
            return (list(self.events), dict(self.store), list(self.log),
                    list(self.attempts))


def sha(data):
    return hashlib.sha256(data).hexdigest()


class WebhookTest(MirrorTest):

    def receiver(self, **kw):
        r = Receiver(**kw)
        self.addCleanup(r.stop)
        self.addCleanup(r.release)
        # A request refused for its signature (401) is retried and the
        # test could pass on the retry; every target here has the
        # receiver's secret, so none may be refused (checked first of the
        # clean-ups, which go last in, first out).
        self.addCleanup(lambda: self.assertEqual(
            r.bad_signatures, [], "requests the receiver refused"))
        return r

    def secret_file(self):
        path = os.path.join(self.tmp, "hook.secret")
        with open(path, "w") as f:
            f.write(SECRET + "\n")
        return path

    def hook_server(self, url, **target):
        spec = {"url": url, "secret_file": self.secret_file(),
                "propagate_deletes": "on", "propagate_renames": "on"}
        spec.update(target)
        return self.mirror_server(mirror=dict(FAST_RETRY), targets={
            "h": spec})

    def wait_events(self, rcv, pred, a, timeout=60, what=""):
        ok = wait_for(lambda: pred(rcv.snapshot()), timeout=timeout,
                      interval=0.1)
        if not ok:
            ev, store, log, att = rcv.snapshot()
            self.fail("%s: not delivered in %ds\nevents: %s\nstore: %s\n"
                      "attempts: %s\nstatus: %s\nlog:\n%s" %
                      (what, timeout, ev, sorted(store), att[-20:],
                       a.status_raw().stdout, a.log_text()[-4000:]))

    # ------------------------------------------------------------ notify

    def test_notify_events_signed_retried_in_order(self):
        rcv = self.receiver(fail_first=0)
        port = rcv.port
        rcv.stop()  # down: connections refused at first
        a = self.hook_server(rcv.url())
        files = {n: self.rand(1000 + i) for i, n in enumerate(NAMES)}
        files["d i r/in side.bin"] = self.rand(70000)
        self.ftp_upload(a, files)
        curl_data = self.rand(5000)
        src = self.local("curl src.bin")
        with open(src, "wb") as f:
            f.write(curl_data)
        self.curl("-T", src, "ftp://alice:alice-pw@127.0.0.1:%d/"
                  "curl%%20%%22up%%22%%25.bin" % a.port)
        files['curl "up"%.bin'] = curl_data
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", a.port, timeout=30)
        ftp.login("alice", "alice-pw")
        # Put and deleted before the receiver could hear of it: the queue
        # coalesces (the bytes are gone), the delete is still told.
        ftp.storbinary("STOR /doomed.txt", io.BytesIO(b"x"))
        ftp.delete("/doomed.txt")
        # A name that is not UTF-8, with a control character: still valid
        # JSON, U+FFFD in "path", exact in "path_base64". (0xff would be
        # telnet's IAC on the control connection.)
        ftp.encoding = "latin-1"
        raw = self.rand(77)
        raw_name = b"/bad\xfe\x01name.bin"
        ftp.storbinary("STOR " + raw_name.decode("latin-1"),
                       io.BytesIO(raw))
        ftp.quit()
        # Down for a while (attempts refused), then 500 for a while, then
        # 200.
        self.assertTrue(wait_for(
            lambda: a.status()["h"]["last_error"] not in ("", "-"),
            timeout=30), a.status_raw().stdout)
        rcv.fail_first = 4
        rcv.start(port)

        def complete(snap):
            ev = snap[0]
            puts = {e["path"] for e in ev if e["event"] == "put"}
            dels = [e for e in ev if e["event"] == "delete"]
            return all("/" + n in puts for n in files) and dels and \
                any(base64.b64decode(e["path_base64"]) == raw_name
                    for e in ev)
        self.wait_events(rcv, complete, a, what="notify events")
        self.assertDrained(a, "h")
        ev, _, log, att = rcv.snapshot()
        self.assertEqual(rcv.bad_signatures, [])
        self.assertEqual(rcv.fail_first, 0)  # the 500s were answered
        self.assertGreater(len(att), len(log))  # so some were retried
        by_path = {}
        for e in ev:
            self.assertEqual(e["user"], "alice", e)
            by_path.setdefault(e["path"], []).append(e)
            if "\ufffd" not in e["path"]:
                self.assertEqual(base64.b64decode(e["path_base64"]),
                                 e["path"].encode(), e)
        for rel, data in files.items():
            puts = [e for e in by_path["/" + rel] if e["event"] == "put"]
            self.assertTrue(puts, rel)
            for e in puts:
                self.assertEqual(e["size"], len(data), e)
                self.assertEqual(e["sha256"], sha(data), e)
                self.assertIsNone(e["old_path"], e)
        got = [e for e in ev
               if base64.b64decode(e["path_base64"]) == raw_name]
        self.assertEqual(got[0]["sha256"], sha(raw))
        self.assertEqual(got[0]["path"], "/bad\ufffd\x01name.bin")
        self.assertEqual([e["event"] for e in by_path["/doomed.txt"]],
                         ["delete"] * len(by_path["/doomed.txt"]))
        # One chain on one path, told while the receiver answers 500
        # again: put, then rename (queued behind the put), then delete.
        rcv.fail_first = 3
        chain = self.rand(3333)
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", a.port, timeout=30)
        ftp.login("alice", "alice-pw")
        ftp.storbinary("STOR /chain*1.txt", io.BytesIO(chain))
        ftp.rename("/chain*1.txt", "/chain \\2.txt")
        self.wait_events(rcv, lambda s: any(
            e["event"] == "rename" for e in s[0]), a, what="rename")
        ftp.delete("/chain \\2.txt")
        ftp.quit()
        self.wait_events(rcv, lambda s: any(
            e["path"] == "/chain \\2.txt" and e["event"] == "delete"
            for e in s[0]), a, what="delete")
        self.assertDrained(a, "h")
        ev, _, log, att = rcv.snapshot()
        self.assertEqual(rcv.bad_signatures, [])
        self.assertEqual(rcv.fail_first, 0)
        kinds = []
        for e in ev:
            if e["path"] in ("/chain*1.txt", "/chain \\2.txt"):
                step = (e["event"], e["path"], e["old_path"], e["id"])
                if not kinds or kinds[-1] != step:
                    kinds.append(step)
        self.assertEqual([k[:3] for k in kinds], [
            ("put", "/chain*1.txt", None),
            ("rename", "/chain \\2.txt", "/chain*1.txt"),
            ("delete", "/chain \\2.txt", None)], kinds)
        put_chain = [e for e in ev if e["path"] == "/chain*1.txt"][0]
        self.assertEqual(put_chain["sha256"], sha(chain))
        self.assertEqual(put_chain["size"], len(chain))
        # Each id names one event: every repeat carries the same body.
        seen = {}
        for e in ev:
            self.assertEqual(seen.setdefault(e["id"], e), e)
        self.assertEqual(len({k[3] for k in kinds}), 3, kinds)

    def test_hanging_receiver_times_out_and_is_retried(self):
        rcv = self.receiver()
        rcv.hang = True
        a = self.hook_server(rcv.url(), timeout="2")
        data = self.rand(4321)
        self.ftp_upload(a, {"slow.bin": data})
        self.assertTrue(wait_for(lambda: rcv.hanging > 0, timeout=30),
                        a.log_text()[-3000:])
        # The attempt fails by itself (timeout = 2 s) while the receiver
        # still hangs: status says so, and the job is still queued.
        st = wait_status(a, lambda s: "time" in s["h"]["last_error"].lower(),
                         timeout=30)
        self.assertIn("time", st["h"]["last_error"].lower(), st)
        self.assertEqual(st["h"]["failed"], 0, st)
        with rcv.lock:
            rcv.hang = False
        self.wait_events(rcv, lambda s: any(
            e["path"] == "/slow.bin" for e in s[0]), a, what="after hang")
        self.assertDrained(a, "h")
        ev, _, _, att = rcv.snapshot()
        ids = [i for m, p, i in att if m == "POST"]
        got = [e for e in ev if e["path"] == "/slow.bin"][0]
        # The hung request and the delivered one are the same event.
        self.assertGreaterEqual(ids.count(got["id"]), 2, att)
        self.assertEqual(got["sha256"], sha(data))
        rcv.release()

    def test_put_answer_dripped_times_out(self):
        # mode = put: the receiver takes the body, answers "200 OK" and
        # then its body a byte every 0.5 s. Only the 1 MiB answer cap
        # bounded that (days at this rate; found from outside): the
        # whole answer must now come within timeout of the body's end,
        # and the retry delivers the file.
        rcv = self.receiver(drip_first=1)
        a = self.hook_server(rcv.url(), mode="put", timeout="2")
        data = self.rand(3000)
        self.ftp_upload(a, {"drip.bin": data})
        self.assertTrue(wait_for(lambda: "put: timed out: no whole answer "
                                 "within 2 s" in a.log_text(), timeout=20),
                        a.log_text()[-3000:])
        self.wait_events(rcv, lambda s: s[1].get(b"/hook/alice/drip.bin") ==
                         data, a, what="after the dripped answer")
        self.assertDrained(a, "h")
        self.assertEqual(rcv.drip_first, 0)

    def test_notify_events_across_kill9(self):
        # Camera-style clients (curl and lftp) upload; the receiver holds
        # the first request; relayftpd is killed with -9 and restarted:
        # every upload's event still arrives, with its size and SHA-256,
        # and the event cut short is sent again under the same id.
        rcv = self.receiver()
        rcv.hang = True
        a = self.hook_server(rcv.url())
        files = {}
        for i, name in enumerate(("cam 1.jpg", "cam-2 \"q\".jpg")):
            data = self.rand(20000 + i)
            src = self.local("c%d.bin" % i)
            with open(src, "wb") as f:
                f.write(data)
            self.curl("-T", src, "ftp://alice:alice-pw@127.0.0.1:%d/%s" %
                      (a.port, urllib.parse.quote(name)))
            files[name] = data
        scan = self.rand(300000)
        lsrc = self.local("scan.pdf")
        with open(lsrc, "wb") as f:
            f.write(scan)
        self.lftp(a, "put %s -o /scan.pdf" % lsrc)
        files["scan.pdf"] = scan
        self.assertTrue(wait_for(lambda: rcv.hanging > 0, timeout=30),
                        a.log_text()[-3000:])
        _, _, _, held = rcv.snapshot()
        cut = [i for m, p, i in held if m == "POST"]
        a.kill9()
        rcv.release()
        a.start()

        def all_told(snap):
            got = {e["path"]: e for e in snap[0] if e["event"] == "put"}
            return all("/" + n in got and
                       got["/" + n]["sha256"] == sha(d) and
                       got["/" + n]["size"] == len(d)
                       for n, d in files.items())
        self.wait_events(rcv, all_told, a, what="notify after kill -9")
        self.assertDrained(a, "h")
        self.assertEqual(rcv.bad_signatures, [])
        ev, _, _, _ = rcv.snapshot()
        # The request the kill cut short was told again, same id.
        self.assertTrue(cut, held)
        self.assertIn(cut[0], [e["id"] for e in ev])

    # --------------------------------------------------------------- put

    def test_put_mode_exact_bytes_across_kill9(self):
        rcv = self.receiver(fail_first=2)
        rcv.hang = True
        a = self.hook_server(rcv.url("/up/load/?via=relay"), mode="put")
        files = {n: self.rand(1000 * (i + 1)) for i, n in enumerate(NAMES)}
        files["empty.bin"] = b""
        files["big/three MiB.bin"] = self.rand(3 * 1024 * 1024 + 5)
        self.ftp_upload(a, files)
        # A request is in flight (the receiver holds it): kill -9.
        self.assertTrue(wait_for(lambda: rcv.hanging > 0, timeout=30),
                        a.log_text()[-3000:])
        a.kill9()
        rcv.release()
        a.start()

        def key(rel):
            return ("/up/load/alice/" + rel).encode()

        def stored(snap):
            return all(snap[1].get(key(r)) == d for r, d in files.items())
        self.wait_events(rcv, stored, a, what="put mode after kill -9")
        self.assertDrained(a, "h")
        self.assertEqual(rcv.bad_signatures, [])
        # The path segments were percent-encoded on the wire.
        _, _, log, _ = rcv.snapshot()
        wire = {p.partition("?")[0] for m, p, _ in log if m == "PUT"}
        self.assertEqual(rcv.queries, {"via=relay"})
        self.assertIn("/up/load/alice/q%22uote.txt", wire)
        self.assertIn("/up/load/alice/per%25cent_under%2Astar.txt", wire)
        # A rename is DELETE of the old name and PUT of the new; a delete
        # is DELETE.
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", a.port, timeout=30)
        ftp.login("alice", "alice-pw")
        ftp.rename("/" + NAMES[0], "/re named.txt")
        ftp.delete("/" + NAMES[1])
        ftp.quit()
        want = dict(files)
        want["re named.txt"] = want.pop(NAMES[0])
        del want[NAMES[1]]

        def exact(snap):
            return snap[1] == {key(r): d for r, d in want.items()}
        self.wait_events(rcv, exact, a, what="put mode rename/delete")
        self.assertDrained(a, "h")

    # ------------------------------------------------------------- https

    # ------------------------------------------------------ Retry-After

    def _gap_after_503(self, retry_after, retry_max, name, status=503):
        """One 503 (or status) with retry_after as its Retry-After to the
        first POST of a target whose retry_initial is 1: the seconds
        between that attempt's arrival and the next one's, measured at
        the receiver, and the daemon."""
        rcv = self.receiver(fail_first=1)
        rcv.fail_status = status
        rcv.retry_after = retry_after
        a = self.mirror_server(
            mirror={"retry_initial": "1", "retry_max": retry_max},
            targets={"h": {"url": rcv.url(),
                           "secret_file": self.secret_file()}})
        self.ftp_upload(a, {name: b"x"})
        self.wait_events(rcv, lambda s: any(
            e["path"] == "/" + name for e in s[0]), a, timeout=90,
            what="after a 503")
        with rcv.lock:
            posts = [t for t, (m, _, _) in zip(rcv.times, rcv.attempts)
                     if m == "POST"]
        self.assertGreaterEqual(len(posts), 2, a.log_text()[-3000:])
        return posts[1] - posts[0], a

    def test_retry_after_seconds_is_waited(self):
        # Before: retried on the backoff's own 1-1.5 s.
        gap, a = self._gap_after_503("3", "60", "ra_secs.txt")
        self.assertGreaterEqual(gap, 2.95, a.log_text()[-3000:])
        self.assertLess(gap, 30, a.log_text()[-3000:])
        said = "the service asked to wait 3 s (Retry-After)"
        self.assertIn(said, a.log_text())
        self.assertIn(said, a.status()["h"]["last_error"])

    def test_retry_after_http_date_is_waited(self):
        # RFC 9110 section 10.2.3's other form: a date 5 s ahead, made
        # at the answer (4 to 5 s once libcurl takes whole seconds).
        def ahead():
            return email.utils.formatdate(time.time() + 5, usegmt=True)
        gap, a = self._gap_after_503(ahead, "60", "ra_date.txt")
        self.assertGreaterEqual(gap, 3.9, a.log_text()[-3000:])
        self.assertLess(gap, 30, a.log_text()[-3000:])
        self.assertIn("(Retry-After)", a.log_text())

    def test_retry_after_huge_is_held_to_retry_max(self):
        # A hostile receiver's pause of three years: retry_max (4 s)
        # holds, and no less than it.
        gap, a = self._gap_after_503("99999999", "4", "ra_huge.txt")
        self.assertGreaterEqual(gap, 3.95, a.log_text()[-3000:])
        self.assertLess(gap, 20, a.log_text()[-3000:])
        self.assertIn("the service asked to wait 99999999 s (Retry-After): "
                      "held to retry_max, 4 s", a.log_text())

    def test_retry_after_past_any_integer_is_held_to_retry_max(self):
        # 10^23 s: libcurl 7.88 reads a number past 2^63 as no header,
        # and the target was asked again after its bare 1 s backoff.
        gap, a = self._gap_after_503("99999999999999999999999", "4",
                                     "ra_over.txt")
        self.assertGreaterEqual(gap, 3.95, a.log_text()[-3000:])
        self.assertLess(gap, 20, a.log_text()[-3000:])
        self.assertIn("held to retry_max, 4 s", a.log_text())

    def _resting_after_503(self, retry_after, retry_max, name):
        """A target whose receiver answers every POST 503 with
        retry_after as its Retry-After, and an [admin] listener: the
        daemon once the first answer's failure is recorded, the
        monotonic time of that attempt, and the listener's port."""
        rcv = self.receiver(fail_first=1000)
        rcv.fail_status = 503
        rcv.retry_after = retry_after
        a = self.mirror_server(
            mirror={"retry_initial": "1", "retry_max": retry_max},
            targets={"h": {"url": rcv.url(),
                           "secret_file": self.secret_file()}},
            sections={"admin": {"listen": "127.0.0.1:0"}})
        self.assertIsNotNone(a.admin_url, a.log_text()[-3000:])
        port = int(a.admin_url.rstrip("/").rsplit(":", 1)[1])
        self.ftp_upload(a, {name: b"x"})
        self.assertTrue(wait_for(lambda: "(Retry-After" in a.log_text(),
                                 timeout=60), a.log_text()[-3000:])
        with rcv.lock:
            first = rcv.times[0]
        return a, rcv, first, port

    def _api_status(self, port):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            c.request("GET", "/api/status")
            r = c.getresponse()
            body = r.read()
            self.assertEqual(r.status, 200, body)
        finally:
            c.close()
        return {t["name"]: t for t in json.loads(body)["targets"]}

    def test_retry_after_past_any_integer_reads_for_an_admin(self):
        # 10^20 s saturates in the reading at 2^63 - 1: shown as "asked
        # to wait 9223372036854775807 s", a number the service never
        # sent, in the log, `mirror status` and /api/status alike.
        a, _, _, port = self._resting_after_503(
            "99999999999999999999", "30", "ra_sat.txt")
        said = ("the service asked to wait more than retry_max "
                "(Retry-After too large to count): held to retry_max, "
                "30 s")
        log = a.log_text()
        self.assertIn(said, log, log[-3000:])
        self.assertNotIn("9223372036854775807", log)
        self.assertIn(said, a.status()["h"]["last_error"])
        self.assertIn(said, self._api_status(port)["h"]["last_error"])

    def test_retry_after_moves_retry_at_in_api_status(self):
        # The admin listener's retry_at, read over HTTP: the asked 30 s
        # (not the 1 s backoff) from the failed attempt.
        a, rcv, _, port = self._resting_after_503("30", "60", "ra_at.txt")
        failed = time.time()
        t = self._api_status(port)["h"]
        self.assertIsNotNone(t["retry_at"], t)
        at = calendar.timegm(time.strptime(t["retry_at"],
                                           "%Y-%m-%dT%H:%M:%SZ"))
        # Whole seconds; the failure was seen up to a few seconds ago.
        self.assertGreaterEqual(at, failed + 30 - 8, t)
        self.assertLessEqual(at, failed + 30 + 1, t)
        with rcv.lock:
            self.assertEqual(len(rcv.attempts), 1, rcv.attempts)

    def test_retry_after_not_cut_by_a_parallel_failure(self):
        # Two workers' requests in flight: the first answered 503 with
        # Retry-After: 10, the second 503 without it half a second later.
        # The second failure set the target's rest to its own backoff
        # step (2-3 s), cutting the pause the service had asked for.
        rcv = self.receiver(fail_first=2)
        rcv.fail_status = 503
        calls = []

        def after():
            with rcv.lock:
                calls.append(1)
                first = len(calls) == 1
            if first:
                # Answered once the other worker's request is in too.
                wait_for(lambda: len(rcv.attempts) >= 2, timeout=10)
                return "10"
            time.sleep(0.5)
            return None
        rcv.retry_after = after
        a = self.mirror_server(
            mirror={"retry_initial": "1", "retry_max": "60",
                    "workers_per_target": "2"},
            targets={"h": {"url": rcv.url(),
                           "secret_file": self.secret_file()}})
        self.ftp_upload(a, {"par_a.txt": b"a", "par_b.txt": b"b"})
        self.wait_events(rcv, lambda s: len(s[0]) >= 2, a, timeout=90,
                         what="after two 503s")
        with rcv.lock:
            posts = [t for t, (m, _, _) in zip(rcv.times, rcv.attempts)
                     if m == "POST"]
        self.assertGreaterEqual(len(posts), 3, a.log_text()[-3000:])
        self.assertEqual(len(calls), 2, a.log_text()[-3000:])
        # The failures' answers came by posts[1] + 0.5 s; the next try
        # waits the 10 s asked from the first answer, near posts[1].
        self.assertGreaterEqual(posts[2] - posts[1], 9.0,
                                a.log_text()[-3000:])

    def test_429_alone_with_retry_after_is_waited(self):
        # A 429 with no 503 before it: the pause asked, as for a 503.
        gap, a = self._gap_after_503("3", "60", "ra_429.txt", status=429)
        self.assertGreaterEqual(gap, 2.95, a.log_text()[-3000:])
        self.assertLess(gap, 30, a.log_text()[-3000:])
        self.assertIn("HTTP 429", a.log_text())
        self.assertIn("the service asked to wait 3 s (Retry-After)",
                      a.log_text())

    def _assert_plain_backoff(self, retry_after, name):
        # No pause asked: the backoff's own 1-1.5 s (retry_initial 1),
        # not 0, and nothing about Retry-After above debug.
        gap, a = self._gap_after_503(retry_after, "60", name)
        self.assertGreaterEqual(gap, 0.9, a.log_text()[-3000:])
        self.assertLess(gap, 2.9, a.log_text()[-3000:])
        self.assertIn("HTTP 503", a.log_text())
        self.assertNotIn("Retry-After", a.log_text())
        self.assertTrue(a.alive())

    def test_retry_after_zero_keeps_the_backoff(self):
        self._assert_plain_backoff("0", "ra_zero.txt")

    def test_retry_after_past_date_keeps_the_backoff(self):
        self._assert_plain_backoff(
            lambda: email.utils.formatdate(time.time() - 3600, usegmt=True),
            "ra_past.txt")

    def test_retry_after_negative_keeps_the_backoff(self):
        self._assert_plain_backoff("-5", "ra_neg.txt")

    def test_retry_after_garbage_keeps_the_backoff(self):
        self._assert_plain_backoff("soon", "ra_soon.txt")

    def test_retry_after_with_a_number_then_words_keeps_the_backoff(self):
        # Neither seconds nor a date: libcurl reads the digits at its
        # start, and "30 seconds" held the target 30 s, logged as the
        # service's ask; "1e3" was logged as an ask of 1 s.
        self._assert_plain_backoff("30 seconds", "ra_words.txt")
        self._assert_plain_backoff("1e3", "ra_exp.txt")

    def test_retry_after_on_the_express_lane_rests_the_target(self):
        # The one worker is held by a 200 whose body drips; the small
        # file then goes by the express lane and is answered 503 with
        # Retry-After: 5. Its next attempt, whoever makes it, waits the
        # 5 s asked (the lane's own rest is a 1 s backoff step).
        rcv = self.receiver(fail_first=1, drip_first=1)
        rcv.fail_status = 503
        rcv.retry_after = "5"
        a = self.mirror_server(
            mirror={"retry_initial": "1", "retry_max": "60",
                    "workers_per_target": "1"},
            targets={"h": {"url": rcv.url(),
                           "secret_file": self.secret_file()}})
        self.ftp_upload(a, {"big.txt": b"B" * 1000})
        self.assertTrue(wait_for(lambda: len(rcv.snapshot()[3]) >= 1,
                                 timeout=60), a.log_text()[-3000:])
        self.ftp_upload(a, {"small.txt": b"s"})
        self.wait_events(rcv, lambda s: any(
            e["path"] == "/small.txt" for e in s[0]), a, timeout=90,
            what="small.txt after a 503 on the lane")
        rcv.release()
        with rcv.lock:
            # The big file's event is the first request's (dripping).
            big = rcv.attempts[0][2]
            small = [t for t, (m, _, e) in zip(rcv.times, rcv.attempts)
                     if m == "POST" and e != big]
        self.assertGreaterEqual(len(small), 2, rcv.attempts)
        self.assertGreaterEqual(small[1] - small[0], 4.95,
                                a.log_text()[-3000:])
        self.assertIn("the service asked to wait 5 s (Retry-After)",
                      a.log_text())

    def test_503_without_retry_after_keeps_the_backoff(self):
        # No header: the backoff's own 1-1.5 s, as before.
        gap, a = self._gap_after_503(None, "60", "ra_none.txt")
        self.assertLess(gap, 2.9, a.log_text()[-3000:])
        self.assertIn("HTTP 503", a.log_text())
        self.assertNotIn("Retry-After", a.log_text())

    def test_https_with_ca_file(self):
        cert, key = make_cert(self.tmp, "hook")
        rcv = self.receiver(tls=(cert, key))
        login = rcv.url().replace("https://", "https://hook:pw%20x@")
        a = self.mirror_server(mirror=dict(FAST_RETRY), targets={
            "ok": {"url": login, "secret_file": self.secret_file(),
                   "ca_file": cert, "tls_verify": "on"},
            "noca": {"url": rcv.url("/untrusted"),
                     "secret_file": self.secret_file()}})
        data = self.rand(999)
        self.ftp_upload(a, {"tls.bin": data})
        self.wait_events(rcv, lambda s: any(
            e["path"] == "/tls.bin" for e in s[0]), a, what="https")
        self.assertDrained(a, "ok")
        # Without ca_file the self-signed certificate is refused: the
        # event stays queued with the reason shown.
        st = wait_status(a, lambda s: s["noca"]["last_error"] not in
                         ("", "-"), timeout=30)
        self.assertIn("certificate", st["noca"]["last_error"].lower(), st)
        self.assertEqual(st["noca"]["queued"] + st["noca"]["running"], 1,
                         st)
        self.assertTrue(all(e["target"] == "ok" for e in rcv.events))
        # HTTP basic auth from the URL's login (percent-decoded).
        self.assertIn("Basic " + base64.b64encode(b"hook:pw x").decode(),
                      rcv.auth)

    # ------------------------------------------------------------- check

    def check(self, spec):
        cfg = os.path.join(self.tmp, "check.ini")
        users = os.path.join(self.tmp, "users.ini")
        with open(users, "w") as f:
            f.write("")
        with open(cfg, "w") as f:
            f.write("[server]\nlisten = 127.0.0.1:0\nusers_file = %s\n\n"
                    "[target:h]\n" % users)
            for k, v in spec.items():
                f.write("%s = %s\n" % (k, v))
        r = subprocess.run([BINARY, "check", "--config", cfg],
                           capture_output=True, text=True, timeout=30,
                           stdin=subprocess.DEVNULL)
        return cfg, r

    def test_check_refuses_keys_of_another_kind(self):
        secret = self.secret_file()
        # Lines: [target:h] is line 5, its keys 6, 7, ...
        good = {"url": "https://127.0.0.1:1/h", "mode": "put",
                "secret_file": secret, "timeout": "5", "tls_verify": "on",
                "layout": "flat"}
        cfg, r = self.check(good)
        self.assertEqual(r.returncode, 0, (r.stdout, r.stderr))
        for spec, line, key in (
                ({"url": "ftp://u:p@127.0.0.1:21/", "mode": "put"}, 7,
                 "mode"),
                ({"url": "sftp://u:p@127.0.0.1/", "host_key_verify": "off",
                  "secret_file": secret}, 8, "secret_file"),
                ({"url": "http://127.0.0.1:1/h", "verify": "hash"}, 7,
                 "verify"),
                ({"url": "http://127.0.0.1:1/h", "explicit_tls": "on"}, 7,
                 "explicit_tls"),
                ({"url": "http://127.0.0.1:1/h", "mode": "tell"}, 7,
                 "mode"),
                ({"url": "http://127.0.0.1:1/h", "timeout": "0"}, 7,
                 "timeout")):
            cfg, r = self.check(spec)
            out = r.stdout + r.stderr
            self.assertNotEqual(r.returncode, 0, (spec, out))
            self.assertIn("%s:%d: key '%s'" % (cfg, line, key), out,
                          (spec, out))


if __name__ == "__main__":
    unittest.main()
