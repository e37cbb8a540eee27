"""Webhook targets (src/mirror/transport_hook.c) against hostile receivers
and hostile names, beyond test_mirror_webhook.py.

The receiver here is a raw socket server (one thread per connection) so
that it can answer what http.server would not: a redirect to file:// or
to another host, a 200 or a 500 whose body claims 1 GiB and streams it,
an answer that is not HTTP. Asserted:

  - redirects (302 to file:///etc/passwd, 307 to another receiver) are not
    followed: the other receiver gets nothing, the attempt fails with the
    status in `mirror status`, and the event is delivered once the
    receiver answers 200;
  - an answer header line past libcurl's 100 KiB fails the attempt
    saying so, not "Out of memory";
  - a 200 to a PUT before its body was taken (answered at once, the
    connection closed) is a failed attempt saying so, not a delivery;
  - a 1 GiB answer (200 or 500) is cut at 1 MiB: the attempt ends within
    seconds, the daemon's peak memory grows by far less than 1 GiB; the
    200 counts delivered (one POST), the 500 is a failed attempt;
  - names written into the home by another program (bytes that are not
    UTF-8, overlong forms, surrogates, tabs, CR/LF, U+2028, $(...),
    backquotes, a 255-byte name) and a rename between such names give
    bodies that Python's strict json.loads takes, with the exact bytes in
    path_base64 / old_path_base64;
  - mode = put: names with ? # %2F ; CR/LF, a byte that is not UTF-8, a
    255-byte name, "..." and a 3,900-byte path arrive at URL/USER/PATH
    percent-encoded, the url's query kept at the end, bytes exact.

Every wait is bounded.
"""
import base64
import io
import ftplib
import json
import os
import socket
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import wait_for  # noqa: E402
from test_mirror import FAST_RETRY, MirrorTest  # noqa: E402

GIB = 1024 * 1024 * 1024


class RawReceiver:
    """Accepts connections on 127.0.0.1; reads one request (head and a
    Content-Length body), records it in self.requests, and answers with
    self.behave(n, request) (n counts requests from 0): bytes to send, or
    a callable given the socket."""

    def __init__(self, behave):
        self.behave = behave
        self.requests = []
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def url(self, path="/hook"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def stop(self):
        self.done.set()
        self.thread.join(10)
        self.sock.close()

    def loop(self):
        while not self.done.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            threading.Thread(target=self.serve, args=(c,),
                             daemon=True).start()

    def serve(self, c):
        c.settimeout(30)
        try:
            data = b""
            while b"\r\n\r\n" not in data and len(data) < 65536:
                got = c.recv(65536)
                if not got:
                    return
                data += got
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            hdrs = {}
            for ln in lines[1:]:
                k, _, v = ln.partition(":")
                hdrs[k.strip().lower()] = v.strip()
            want = int(hdrs.get("content-length", "0"))
            while len(body) < want:
                got = c.recv(65536)
                if not got:
                    return
                body += got
            with self.lock:
                n = len(self.requests)
                self.requests.append({"method": method, "path": path,
                                      "headers": hdrs, "body": body})
            answer = self.behave(n, self.requests[n])
            if callable(answer):
                answer(c)
            else:
                c.sendall(answer)
        except OSError:
            pass
        finally:
            c.close()


def http_answer(status, text=b"ok", extra=""):
    return ("HTTP/1.1 %s\r\nContent-Length: %d\r\nConnection: close\r\n%s"
            "\r\n" % (status, len(text), extra)).encode() + text


def streamed(status, claimed=GIB):
    """An answer whose body claims `claimed` bytes and streams them until
    the client hangs up (or 30 s)."""
    def send(c):
        c.sendall(("HTTP/1.1 %s\r\nContent-Length: %d\r\n"
                   "Connection: close\r\n\r\n" % (status, claimed)).encode())
        chunk = b"x" * 65536
        sent, t0 = 0, time.monotonic()
        while sent < claimed and time.monotonic() - t0 < 30:
            c.sendall(chunk)
            sent += len(chunk)
    return send


def vm_hwm_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


class HostileReceiverTest(MirrorTest):

    def receiver(self, behave):
        r = RawReceiver(behave)
        self.addCleanup(r.stop)
        return r

    def hook(self, url, **target):
        spec = {"url": url, "timeout": "10"}
        spec.update(target)
        return self.mirror_server(mirror=dict(FAST_RETRY),
                                  targets={"h": spec})

    def posts(self, rcv):
        with rcv.lock:
            return [r for r in rcv.requests if r["method"] == "POST"]

    def test_redirects_are_not_followed(self):
        other = self.receiver(lambda n, r: http_answer("200 OK"))

        def behave(n, r):
            if n == 0:
                return http_answer("302 Found", b"",
                                   "Location: file:///etc/passwd\r\n")
            if n == 1:
                return http_answer("307 Temporary Redirect", b"",
                                   "Location: %s\r\n" % other.url("/x"))
            return http_answer("200 OK")
        rcv = self.receiver(behave)
        a = self.hook(rcv.url())
        self.ftp_upload(a, {"r.txt": b"redirected?"})
        self.assertTrue(wait_for(lambda: len(self.posts(rcv)) >= 3,
                                 timeout=30), a.log_text()[-3000:])
        self.assertDrained(a, "h")
        self.assertEqual(other.requests, [])
        log = a.log_text()
        self.assertIn("put: HTTP 302", log)
        self.assertIn("put: HTTP 307", log)
        bodies = [json.loads(r["body"]) for r in self.posts(rcv)]
        self.assertEqual({b["path"] for b in bodies}, {"/r.txt"})
        self.assertEqual(len({b["id"] for b in bodies}), 1)

    def check_huge_answer(self, status, posts):
        def behave(n, r):
            return streamed(status) if n == 0 else http_answer("200 OK")
        rcv = self.receiver(behave)
        a = self.hook(rcv.url())
        before = vm_hwm_kib(a.proc.pid)
        t0 = time.monotonic()
        self.ftp_upload(a, {"big-answer.txt": b"x"})
        self.assertTrue(wait_for(lambda: len(self.posts(rcv)) >= posts,
                                 timeout=30), a.log_text()[-3000:])
        took = time.monotonic() - t0
        self.assertDrained(a, "h")
        grown = vm_hwm_kib(a.proc.pid) - before
        self.assertLess(grown, 16 * 1024, "peak RSS grew by %d KiB" % grown)
        self.assertLess(took, 20)
        return rcv, a

    def test_a_200_with_a_1gib_body_is_delivered_once(self):
        # A 2xx is the receiver's word that it has the event, whatever
        # body follows. The relay took a 2xx whose body passed 1 MiB
        # for a failed attempt and sent the event again: a duplicate
        # downstream at every such answer. Reading stops at 1 MiB and
        # the event counts delivered.
        rcv, a = self.check_huge_answer("200 OK", 1)
        self.assertNotIn("the answer is longer than 1 MiB", a.log_text())
        self.assertIn("mirror push target=h path=/", a.log_text())
        self.assertEqual(len(self.posts(rcv)), 1, a.log_text()[-3000:])

    def test_a_500_with_a_1gib_body_is_cut(self):
        rcv, a = self.check_huge_answer("500 Internal Server Error", 2)
        self.assertIn("put: the answer is longer than 1 MiB", a.log_text())

    def test_a_header_line_past_100kib_is_named_not_out_of_memory(self):
        # libcurl 7.88 ends such an answer with CURLE_OUT_OF_MEMORY and
        # no words of its own: mirror status said "put: Out of memory",
        # the daemon's host blamed for the receiver's answer.
        def long_header(c):
            c.sendall(b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * (256 * 1024) +
                      b"\r\nContent-Length: 0\r\n\r\n")

        def behave(n, r):
            return long_header if n == 0 else http_answer("200 OK")
        rcv = self.receiver(behave)
        a = self.hook(rcv.url())
        self.ftp_upload(a, {"l.txt": b"l"})
        self.assertTrue(wait_for(lambda: len(self.posts(rcv)) >= 2,
                                 timeout=30), a.log_text()[-3000:])
        self.assertDrained(a, "h")
        log = a.log_text()
        self.assertIn("mirror push failed target=h path=/alice/l.txt "
                      "attempt=1: put: the answer (HTTP 200) has a header "
                      "line longer than libcurl takes (100 KiB): a broken "
                      "or hostile receiver", log)
        self.assertNotIn("put: Out of memory", log)

    def test_put_answered_before_its_body_is_no_delivery(self):
        # An endpoint that answers 200 to every request at once and
        # closes, the body unread: the push of 20 MiB was logged
        # delivered in 0.03 s (bytes=20971520) and none reached it.
        # Now that is a failed attempt saying so; once the receiver
        # reads the body, the file arrives whole.
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(16)
        lsock.settimeout(0.2)
        self.addCleanup(lsock.close)
        read_body = threading.Event()
        done = threading.Event()
        self.addCleanup(done.set)
        got = []

        def serve(c):
            with c:
                c.settimeout(30)
                data = b""
                while b"\r\n\r\n" not in data and len(data) < 65536:
                    more = c.recv(65536)
                    if not more:
                        return
                    data += more
                head, _, body = data.partition(b"\r\n\r\n")
                if read_body.is_set():
                    want = int([ln.split(b":", 1)[1] for ln in
                                head.split(b"\r\n") if ln.lower().
                                startswith(b"content-length:")][0])
                    while len(body) < want:
                        more = c.recv(65536)
                        if not more:
                            return
                        body += more
                    got.append(body)
                c.sendall(http_answer("200 OK"))

        def loop():
            while not done.is_set():
                try:
                    c, _ = lsock.accept()
                except socket.timeout:
                    continue
                except OSError:
                    return
                threading.Thread(target=serve, args=(c,),
                                 daemon=True).start()
        threading.Thread(target=loop, daemon=True).start()
        a = self.hook("http://127.0.0.1:%d/up" % lsock.getsockname()[1],
                      mode="put")
        data = os.urandom(20 * 1024 * 1024)
        self.ftp_upload(a, {"e.bin": data})
        self.assertTrue(wait_for(
            lambda: "before it took the whole body" in a.log_text(),
            timeout=30), a.log_text()[-3000:])
        # Which attempt says it is a race: the receiver closes with the
        # body unread, so its kernel may reset the connection while the
        # push still sends ("Send failure: Connection reset by peer", a
        # failed attempt too), before libcurl reads the 200.
        self.assertRegex(a.log_text(),
                         r"mirror push failed target=h path=/alice/e.bin "
                         r"attempt=\d+: put: the receiver answered HTTP 200 "
                         r"before it took the whole body \(\d+ of 20971520 "
                         r"bytes sent\)")
        self.assertNotIn("mirror push target=h", a.log_text())
        read_body.set()
        self.assertDrained(a, "h")
        self.assertEqual(got, [data])
        self.assertIn("mirror push target=h path=/alice/e.bin "
                      "bytes=20971520", a.log_text())

    def test_an_answer_that_is_not_http_fails_the_attempt(self):
        def behave(n, r):
            if n == 0:
                return b"SSH-2.0-OpenSSH_9.2\r\n\x00\xff garbage\r\n\r\n"
            return http_answer("200 OK")
        rcv = self.receiver(behave)
        a = self.hook(rcv.url())
        self.ftp_upload(a, {"g.txt": b"g"})
        self.assertTrue(wait_for(lambda: len(self.posts(rcv)) >= 2,
                                 timeout=30), a.log_text()[-3000:])
        self.assertDrained(a, "h")
        self.assertRegex(a.log_text(),
                         r"mirror push failed target=h path=\S*g.txt "
                         r"attempt=1: put: ")

    def test_hostile_names_give_valid_json(self):
        rcv = self.receiver(lambda n, r: http_answer("200 OK"))
        a = self.hook(rcv.url(), propagate_renames="on",
                      propagate_deletes="on")
        a_home = a.home("alice").encode()
        os.makedirs(a_home, exist_ok=True)
        self.assertTrue(wait_for(lambda: "start-up walk of the homes done"
                                 in a.log_text(), timeout=30))
        names = [b"/bad\xff\xfe.bin", b"/overlong\xc0\xaf.bin",
                 b"/surrogate\xed\xa0\x80.bin", b"/tab\there.bin",
                 b"/cr\rlf\n.bin", "/sep\u2028\u2029.bin".encode(),
                 b"/$(id)`id`;x.bin", b'/q"\\b\x7f\x01.bin',
                 b"/-- -x.bin", b"/" + b"n" * 251 + b".bin"]
        for n in names:
            with open(a_home + n, "wb") as f:
                f.write(b"data " + n)
        # And a rename between hostile names over FTP.
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", a.port, timeout=30)
        ftp.login("alice", "alice-pw")
        ftp.storbinary('STOR $(x) "a"\\b.txt', io.BytesIO(b"a"))
        ftp.rename('$(x) "a"\\b.txt', '`y`;\t-- "c".txt')
        ftp.quit()

        def parsed():
            return [json.loads(r["body"].decode("utf-8"))
                    for r in self.posts(rcv)]

        def seen():
            got = {base64.b64decode(e["path_base64"]) for e in parsed()}
            return all(n in got for n in names) and any(
                e["event"] == "rename" for e in parsed())
        self.assertTrue(wait_for(seen, timeout=60),
                        (parsed(), a.log_text()[-3000:]))
        self.assertDrained(a, "h")
        for r in self.posts(rcv):
            # Strict: control characters must be escaped.
            e = json.loads(r["body"].decode("utf-8"), strict=True)
            self.assertEqual(r["headers"]["content-type"],
                             "application/json")
            raw = base64.b64decode(e["path_base64"])
            try:
                self.assertEqual(e["path"], raw.decode("utf-8"))
            except UnicodeDecodeError:
                self.assertIn("\ufffd", e["path"])
        ren = [e for e in parsed() if e["event"] == "rename"]
        self.assertEqual(base64.b64decode(ren[0]["path_base64"]),
                         '/`y`;\t-- "c".txt'.encode())
        self.assertEqual(base64.b64decode(ren[0]["old_path_base64"]),
                         '/$(x) "a"\\b.txt'.encode())


    def test_put_mode_urls_of_hostile_names(self):
        rcv = self.receiver(lambda n, r: http_answer("200 OK"))
        a = self.hook(rcv.url("/in?k=v"), mode="put")
        home = a.home("alice").encode()
        os.makedirs(home, exist_ok=True)
        self.assertTrue(wait_for(lambda: "start-up walk of the homes done"
                                 in a.log_text(), timeout=30))
        names = [b"/q?x=1#frag.bin", b"/%2F..%2Fetc%2Fpasswd",
                 b"/cr\rlf\n;.bin", b"/bad\xff.bin", b"/" + b"n" * 255,
                 b"/..."]
        for n in names:
            with open(home + n, "wb") as f:
                f.write(b"data " + n)
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", a.port, timeout=30)
        ftp.login("alice", "alice-pw")
        deep = ""
        for i in range(15):
            deep += "/" + "d" * 248 + "%02d" % i
            ftp.mkd(deep)
        deep += "/" + "f" * 200
        ftp.storbinary("STOR " + deep, io.BytesIO(b"deep"))
        ftp.quit()
        want = {b"/alice" + n: b"data " + n for n in names}
        want[b"/alice" + deep.encode()] = b"deep"

        def got():
            out = {}
            with rcv.lock:
                for r in rcv.requests:
                    if r["method"] == "PUT":
                        path, _, query = r["path"].partition("?")
                        self.assertEqual(query, "k=v", r["path"][-200:])
                        self.assertTrue(path.startswith("/in/"), path)
                        out[urllib.parse.unquote_to_bytes(path[3:])] = \
                            r["body"]
            return out
        self.assertTrue(wait_for(lambda: all(k in got() for k in want),
                                 timeout=60),
                        (sorted(got()), a.log_text()[-3000:]))
        self.assertDrained(a, "h")
        self.assertEqual({k: got()[k] for k in want}, want)


if __name__ == "__main__":
    unittest.main()
