"""A fake S3-compatible service for the mirror's s3:// tests.

Every request's AWS Signature Version 4 is checked exactly as AWS
specifies it (canonical request, string to sign, signing key: "Signature
Version 4 signing process" and S3's "Authenticating Requests: Using the
Authorization Header"); sigv4_self_test() checks this code against AWS's
published example vectors before any server starts. The payload hash the
client signed (x-amz-content-sha256) must be the SHA-256 of the body it
sent, and x-amz-checksum-sha256, when given, must match too.

Served (path style, /BUCKET/KEY): PUT object (and copy with
x-amz-copy-source), HEAD, GET, DELETE, the multipart calls (initiate,
upload part, complete, abort, list uploads) and ListObjectsV2 paginated at
page_size keys. Fault injection: fail_next(n, status, skip) answers n
object writes, after skip more, with that status (and a Retry-After
header when retry_after is given: RFC 9110 section 10.2.3, seconds or an
HTTP-date, or a function that makes one at each answer); short_next(n) stores the next n objects
one byte short (a copy that verify must catch), flip_next(n) with the
last bit flipped (same size: for verify = hash); stall_next(n, secs, skip)
holds n writes without an answer for secs (bounded); deny_prefix(p)
answers writes under the key prefix p 403 AccessDenied; list_uploads = False
answers ListMultipartUploads 501, as services without it do;
copy_lost(part) answers copies of source keys holding part 404;
endless_next(n) answers writes with a body without end; cut_next(n, skip)
drops the connection halfway through the body of the next n writes; copy_empty(n)
answers copies 200 with nothing copied; damage_parts(n, skip) flips the
last bit of the next n upload parts after skip more, on receipt (the part
answered with the damaged bytes' ETag, as a service that checks neither
the signed payload hash nor a checksum); kms_etags(True) answers ETags that
are not MD5s (keyed, as AWS's for SSE-KMS objects: single, part and
multipart ones) and keeps no SHA-256 checksum; whole_other_etags(True)
answers multipart ETags md5(b"x" + parts' MD5s)-N, not S3's formula
(the parts' ETags still their MD5s); complete_bare(True) answers the
completion's ETag without quotes; parts_bare(True) answers upload parts'
ETags bare and in upper case; head_etag(True) answers HEAD of a
multipart object with another ETag than its completion's;
complete_lost(n) makes the next n completed uploads' objects but answers
them 503 (an answer lost on the way: asked again, the upload is gone);
complete_error(n, code) answers the next n completions 200 with an
<Error> body, making nothing; start_lost(n) makes the next n
multipart starts' uploads but drops their answers; complete_dropped(n)
makes the next n completions' objects but drops their answers.
ListMultipartUploads pages as AWS's (max-uploads, key-marker,
upload-id-marker); uploads_page(n) makes its pages n at most,
uploads_unsorted(True) lists them in the order made (as S3 directory
buckets), uploads_endless(mode) says "more" for ever,
later_pages_fail(n, status, code) refuses n pages after a first;
abort_fail(n, status, code) refuses the next n aborts;
list_stuck(True) answers ListObjectsV2's first page for ever
(list_stuck("cycle"): with tokens that go round, A, B, A);
long_tokens(n) makes ListObjectsV2's continuation tokens n bytes of
base64 (the state encoded in them, as Ceph's and MinIO's can be);
cdata(True) writes a multipart start's Key and UploadId as CDATA;
long_upload_ids(n) makes new uploads' ids n bytes long.
clock_skew(secs) runs the service's clock (Initiated, Date) secs off this
host's; no_date(True) sends no Date header.
damage_in_transit(n, skip) flips the last bit of the next n PUT bodies
(objects and parts, not copies) after skip more as they arrive, before
any check (a link that damaged them: answered 400
XAmzContentSHA256Mismatch, or BadDigest with checksum_only).
before_body(fn) calls fn(method, key, query) once for each PUT that asks
"Expect: 100-continue" (libcurl asks it of a body over 1 MiB), before the
100 goes, so before the client reads any byte of the body (a local
program that rewrites the file then: the body is not the bytes signed).
object_gets() counts the
GETs of objects (read backs), listings apart.

FakeS3 runs in a thread of the test process on 127.0.0.1 (port 0 the first
time, the same port after stop()/start()) and stops at stop().
"""
import base64
import datetime
import email.utils
import errno
import hashlib
import hmac
import re
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

from daemon import free_port

ACCESS_KEY = "AKIDRELAYFTPDTEST"
ENDLESS_MAX_S = 120  # the longest an endless answer runs
SECRET_KEY = "s3cr3t/K7MDENG+bPxRfiCYEXAMPLEKEY"
REGION = "us-east-1"
# The end of the refusal of a body whose SHA-256 is not the one signed.
PAYLOAD_MISMATCH = " is not the body's SHA-256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


# ------------------------------------------------------------------ SigV4

def uri_encode(s, keep_slash=False):
    """URI-encode as SigV4 says: unreserved A-Z a-z 0-9 - . _ ~ kept,
    everything else %XX upper case ('/' kept in object key paths)."""
    safe = "-._~" + ("/" if keep_slash else "")
    return urllib.parse.quote(s, safe=safe)


def canonical_query(raw_query):
    """The canonical query string of a raw query: each name and value
    decoded then URI-encoded, sorted by name (then value)."""
    if not raw_query:
        return ""
    pairs = []
    for part in raw_query.split("&"):
        if part == "":
            continue
        name, _, value = part.partition("=")
        pairs.append((uri_encode(urllib.parse.unquote(name)),
                      uri_encode(urllib.parse.unquote(value))))
    pairs.sort()
    return "&".join("%s=%s" % p for p in pairs)


def canonical_request(method, raw_path, raw_query, headers, signed,
                      payload_hash):
    """headers: {lower-case name: value}; signed: lower-case names in
    the order of SignedHeaders. S3 encodes the path once (no double
    encoding, no normalisation)."""
    path = uri_encode(urllib.parse.unquote(raw_path), keep_slash=True)
    lines = []
    for name in signed:
        value = " ".join(headers.get(name, "").strip().split())
        lines.append("%s:%s\n" % (name, value))
    return "\n".join([method, path, canonical_query(raw_query),
                      "".join(lines), ";".join(signed), payload_hash])


def string_to_sign(amz_date, scope, creq):
    return "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                      hashlib.sha256(creq.encode()).hexdigest()])


def signing_key(secret, date, region, service):
    k = hmac.new(("AWS4" + secret).encode(), date.encode(),
                 hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def signature(secret, amz_date, region, service, creq):
    scope = "%s/%s/%s/aws4_request" % (amz_date[:8], region, service)
    sts = string_to_sign(amz_date, scope, creq)
    return hmac.new(signing_key(secret, amz_date[:8], region, service),
                    sts.encode(), hashlib.sha256).hexdigest()


# AWS's published examples: S3 "Examples: Signature Calculations"
# (GET Object with a Range) and the SigV4 test suite's get-vanilla.
AWS_VECTORS = [
    dict(secret="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
         amz_date="20130524T000000Z", region="us-east-1", service="s3",
         method="GET", path="/test.txt", query="",
         headers={"host": "examplebucket.s3.amazonaws.com",
                  "range": "bytes=0-9",
                  "x-amz-content-sha256": EMPTY_SHA256,
                  "x-amz-date": "20130524T000000Z"},
         signed=["host", "range", "x-amz-content-sha256", "x-amz-date"],
         payload=EMPTY_SHA256,
         creq_sha256="7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2d"
                     "c43964946972",
         signature="f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd910"
                   "39c6036bdb41"),
    dict(secret="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
         amz_date="20150830T123600Z", region="us-east-1",
         service="service", method="GET", path="/", query="",
         headers={"host": "example.amazonaws.com",
                  "x-amz-date": "20150830T123600Z"},
         signed=["host", "x-amz-date"], payload=EMPTY_SHA256,
         creq_sha256="bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1"
                     "c25292927e63",
         signature="5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae"
                   "1d763fbf31"),
]


def sigv4_self_test():
    """Raises AssertionError unless this module reproduces AWS's own
    example signatures (and canonical request digests)."""
    for v in AWS_VECTORS:
        creq = canonical_request(v["method"], v["path"], v["query"],
                                 v["headers"], v["signed"], v["payload"])
        got = hashlib.sha256(creq.encode()).hexdigest()
        assert got == v["creq_sha256"], (v["path"], got)
        sig = signature(v["secret"], v["amz_date"], v["region"],
                        v["service"], creq)
        assert sig == v["signature"], (v["path"], sig)


# ------------------------------------------------------------------ server

class _Store:
    def __init__(self):
        self.lock = threading.Lock()
        self.objects = {}    # (bucket, key) -> dict(data, etag, sha256)
        self.uploads = {}    # upload id -> dict(bucket, key, parts)
        self.aborted = []    # upload ids aborted
        self.requests = []   # (method, path, query, status)
        self.times = []      # (time.monotonic(), method, path, status)
        self.bad_signatures = []  # why, for each refused signature
        # why, for each body whose SHA-256 was not the one signed: not a
        # signing error when the file changed in place during its push
        # (a local program rewriting it), as S3 answers it (400).
        self.payload_mismatches = []
        self.bad_digests = 0  # PUTs answered 400 BadDigest
        self.cut_short = 0   # requests whose body ended early
        self.parts_damaged = 0  # upload parts damaged on receipt
        # fail: [count, status, writes to let through first]
        self.faults = {"fail": [0, 500, 0], "short": 0, "flip": 0,
                       "stall": [0, 0.0, 0], "deny": None}
        self.list_uploads = True  # False: 501 NotImplemented
        self.upload_seq = 0  # uploads made so far

    def take_locked(self, name):
        """Whether the next of the counted fault name's uses is due (under
        lock): True once per count set, the count taken down."""
        n = self.faults.get(name, 0)
        if n > 0:
            self.faults[name] = n - 1
        return n > 0

    def take(self, name):
        """take_locked, taking the lock."""
        with self.lock:
            return self.take_locked(name)

    def new_upload_id(self):
        """A new upload id (under lock): 32 hex digits whose first 8
        are the upload's order, so ids sort as they were made."""
        self.upload_seq += 1
        uid = "%08x%s" % (self.upload_seq, uuid.uuid4().hex[8:])
        return uid + "L" * (self.faults.get("long_ids", 0) - len(uid))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeS3/1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def handle_expect_100(self):
        with self.st.lock:
            fn = self.st.faults.get("before_body")
        if fn is not None and self.command == "PUT":
            path, _, query = self.path.partition("?")
            key = urllib.parse.unquote(path).lstrip("/").split("/", 1)[-1]
            fn(self.command, key, query)
        return super().handle_expect_100()

    # -- helpers
    @property
    def st(self):
        return self.server.store

    def send_header(self, keyword, value):
        """As BaseHTTPRequestHandler's, but no Date with no_date."""
        if keyword == "Date":
            with self.st.lock:
                if self.st.faults.get("no_date"):
                    return
        super().send_header(keyword, value)

    def _md5_etag(self, data):
        """The hex ETag of data: its MD5, or with kms_etags a keyed one
        that is not (32 hex digits all the same)."""
        with self.st.lock:
            kms = self.st.faults.get("kms_etags")
        if kms:
            return hashlib.md5(b"kms-key:" + data).hexdigest()
        return hashlib.md5(data).hexdigest()

    def _md5_raw(self, data):
        return bytes.fromhex(self._md5_etag(data))

    def date_time_string(self, timestamp=None):
        """The Date header, date_skew seconds off the clock the uploads'
        Initiated is written by (a proxy in front with its own clock)."""
        with self.st.lock:
            skew = self.st.faults.get("date_skew", 0) + \
                self.st.faults.get("clock_skew", 0)
        return email.utils.formatdate(
            (time.time() if timestamp is None else timestamp) + skew,
            usegmt=True)

    def _reply(self, status, body=b"", headers=None):
        if isinstance(body, str):
            body = body.encode()
        with self.st.lock:
            loose = self.st.faults.get("loose_xml")
        if loose and body.startswith(b"<"):
            body = _loosen(body)
        self._record(status)
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _record(self, status):
        """Records this request (status 0: cut) in requests and times.
        Called before any answer goes, on every path: once the client
        has the answer (and a test sees what it made), the request is in
        the record."""
        with self.st.lock:
            self.st.requests.append((self.command, self._path, self._query,
                                     status))
            self.st.times.append((time.monotonic(), self.command,
                                  self._path, status))

    def _error(self, status, code, msg="", headers=None):
        h = {"Content-Type": "application/xml"}
        h.update(headers or {})
        self._reply(status, "<?xml version=\"1.0\"?><Error><Code>%s</Code>"
                    "<Message>%s</Message></Error>" % (code, escape(msg)),
                    h)

    def _damaged_now(self):
        """Whether this PUT's body is one damage_in_transit damages."""
        with self.st.lock:
            d = self.st.faults.get("damage_in_transit")
            if d is None or d[0] <= 0:
                return False
            if d[1] > 0:
                d[1] -= 1
                return False
            d[0] -= 1
            return True

    def _read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        data = b""
        while len(data) < n:
            chunk = self.rfile.read(min(n - len(data), 1 << 20))
            if not chunk:
                return None  # the client went away mid-body
            data += chunk
        return data

    def _check_signature(self, body):
        """None if the request is signed right, else why not."""
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            return "no SigV4 Authorization"
        fields = {}
        for part in auth[len("AWS4-HMAC-SHA256 "):].split(","):
            k, _, v = part.strip().partition("=")
            fields[k] = v
        try:
            key, date, region, service, term = \
                fields["Credential"].split("/")
            signed = fields["SignedHeaders"].split(";")
            got = fields["Signature"]
        except (KeyError, ValueError):
            return "malformed Authorization"
        if key != ACCESS_KEY or region != REGION or service != "s3" or \
                term != "aws4_request":
            return "wrong credential scope %s" % fields["Credential"]
        for need in ("host", "x-amz-date", "x-amz-content-sha256"):
            if need not in signed:
                return "%s not signed" % need
        amz_date = self.headers.get("x-amz-date", "")
        try:
            when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
        except ValueError:
            return "bad x-amz-date"
        now = datetime.datetime.utcnow()
        if abs((now - when).total_seconds()) > 900 or date != amz_date[:8]:
            return "x-amz-date too far from now"
        payload = self.headers.get("x-amz-content-sha256", "")
        # checksum_only: a service that takes the signed payload hash
        # as written and checks the body against x-amz-checksum-sha256
        # alone (400 BadDigest).
        if payload != "UNSIGNED-PAYLOAD" and \
                not self.st.faults.get("checksum_only") and \
                payload != hashlib.sha256(body).hexdigest():
            return "x-amz-content-sha256 %s%s" % (payload, PAYLOAD_MISMATCH)
        headers = {k.lower(): v for k, v in self.headers.items()}
        creq = canonical_request(self.command, self._path, self._query,
                                 headers, signed, payload)
        want = signature(SECRET_KEY, amz_date, region, service, creq)
        if not hmac.compare_digest(want, got):
            return "signature differs; canonical request:\n" + creq
        return None

    def _dispatch(self):
        raw = self.path
        self._path, _, self._query = raw.partition("?")
        if self.command in ("PUT", "POST") and self._cut_now():
            # Half the body read, then the connection dropped: a
            # link or a load balancer failing mid-request.
            n = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(n // 2)
            self._record(0)
            self.close_connection = True
            return None
        body = self._read_body() if self.command in ("PUT", "POST") else b""
        if body is None:
            # Cut short (a client killed mid-request): nothing to answer,
            # nothing stored, not a signature to judge.
            with self.st.lock:
                self.st.cut_short += 1
            self.close_connection = True
            return None
        if self.command == "PUT" and body and \
                "x-amz-copy-source" not in self.headers and \
                self._damaged_now():
            body = body[:-1] + bytes([body[-1] ^ 0x01])
        why = self._check_signature(body)
        if why is not None and why.endswith(PAYLOAD_MISMATCH):
            with self.st.lock:
                self.st.payload_mismatches.append(why)
            return self._error(400, "XAmzContentSHA256Mismatch", why)
        if why is not None:
            with self.st.lock:
                self.st.bad_signatures.append(why)
            return self._error(403, "SignatureDoesNotMatch", why)
        q = dict(urllib.parse.parse_qsl(self._query, keep_blank_values=True))
        parts = urllib.parse.unquote(self._path).lstrip("/").split("/", 1)
        bucket = parts[0]
        key = parts[1] if len(parts) > 1 else ""
        if bucket != self.server.bucket:
            return self._error(404, "NoSuchBucket", bucket)
        if self.command in ("PUT", "POST") and key:
            with self.st.lock:
                deny = self.st.faults["deny"]
            if deny is not None and key.startswith(deny):
                # A bucket policy's explicit Deny of s3:PutObject on
                # bucket/prefix*, as S3 answers it.
                return self._error(403, "AccessDenied", "Access Denied")
            with self.st.lock:
                f = self.st.faults
                if f["stall"][0] > 0 and f["stall"][2] > 0:
                    f["stall"][2] -= 1
                    stall = 0
                elif f["stall"][0] > 0:
                    f["stall"][0] -= 1
                    stall = f["stall"][1]
                else:
                    stall = 0
                if f["fail"][0] > 0 and f["fail"][2] > 0:
                    f["fail"][2] -= 1
                    fail = 0
                elif f["fail"][0] > 0:
                    f["fail"][0] -= 1
                    fail = f["fail"][1]
                else:
                    fail = 0
                endless = f.get("endless")
                if endless is not None and endless[0] > 0:
                    endless[0] -= 1
                else:
                    endless = None
            if stall:
                self._record(0)  # on record before the silence starts
                time.sleep(stall)
                self.close_connection = True
                return
            if endless is not None:
                return self._endless(endless[1])
            if fail:
                with self.st.lock:
                    msg = self.st.faults.get("fail_msg", "injected")
                    code = self.st.faults.get("fail_code")
                    after = self.st.faults.get("fail_retry_after")
                if callable(after):
                    after = after()
                if code is None:
                    code = "SlowDown" if fail == 503 else "InternalError"
                return self._error(
                    fail, code, msg,
                    {"Retry-After": after} if after else None)
        if not key:
            if self.command == "GET" and "uploads" in q:
                if not self.st.list_uploads:
                    return self._error(501, "NotImplemented")
                return self._list_uploads(bucket, q)
            if self.command == "GET":
                return self._list(bucket, q)
            return self._error(405, "MethodNotAllowed")
        if self.command == "PUT" and "uploadId" in q:
            return self._put_part(q, body)
        if self.command == "PUT":
            return self._put(bucket, key, body)
        if self.command == "POST" and "uploads" in q:
            with self.st.lock:
                uid = self.st.new_upload_id()
                self.st.uploads[uid] = dict(
                    bucket=bucket, key=key, parts={},
                    initiated=time.time() +
                    self.st.faults.get("clock_skew", 0))
                lost = self.st.take_locked("start_lost")
            if lost:
                # Made, then the connection dropped before the answer.
                self._record(0)
                self.close_connection = True
                return None
            with self.st.lock:
                cdata = self.st.faults.get("cdata")
            if cdata:
                # XML 1.0 section 2.7: any text may be a CDATA section.
                return self._reply(
                    200, "<InitiateMultipartUploadResult><Bucket>%s"
                    "</Bucket><Key><![CDATA[%s]]></Key><UploadId>"
                    "<![CDATA[%s]]></UploadId>"
                    "</InitiateMultipartUploadResult>" % (bucket, key, uid))
            return self._reply(200, "<InitiateMultipartUploadResult>"
                               "<Bucket>%s</Bucket><Key>%s</Key><UploadId>"
                               "%s</UploadId></InitiateMultipartUploadResult>"
                               % (bucket, escape(key), uid))
        if self.command == "POST" and "uploadId" in q:
            return self._complete(q["uploadId"], body)
        if self.command == "DELETE" and "uploadId" in q:
            with self.st.lock:
                refuse = self.st.faults.get("abort_fail")
                if refuse is not None and refuse[0] > 0:
                    refuse[0] -= 1
                else:
                    refuse = None
            if refuse is not None:
                return self._error(refuse[1], refuse[2])
            with self.st.lock:
                gone = self.st.uploads.pop(q["uploadId"], None)
                if gone is not None:
                    self.st.aborted.append(q["uploadId"])
            if gone is None:
                return self._error(404, "NoSuchUpload")
            return self._reply(204)
        if self.command == "DELETE":
            with self.st.lock:
                self.st.objects.pop((bucket, key), None)
            return self._reply(204)
        if self.command in ("HEAD", "GET"):
            with self.st.lock:
                obj = self.st.objects.get((bucket, key))
            if obj is None:
                return self._error(404, "NoSuchKey")
            h = {"ETag": obj["etag"]}
            with self.st.lock:
                head_etag = self.st.faults.get("head_etag")
            if head_etag and self.command == "HEAD" and "-" in obj["etag"]:
                # A proxy answering its own ETag for multipart objects.
                h["ETag"] = '"%s-%s"' % (
                    hashlib.md5(b"proxy" + obj["data"][:64]).hexdigest(),
                    obj["etag"].strip('"').split("-")[1])
            with self.st.lock:
                weak = self.st.faults.get("weak_etag")
            if weak and self.command == "HEAD":
                # A proxy that marks the ETag weak (W/"..."), as one that
                # may re-encode the body does.
                h["ETag"] = "W/" + h["ETag"]
            if self.headers.get("x-amz-checksum-mode") == "ENABLED" and \
                    obj["sha256"]:
                h["x-amz-checksum-sha256"] = obj["sha256"]
            with self.st.lock:
                deny_read = self.st.faults.get("deny_read")
                rate = self.st.faults.get("read_rate")
            if self.command == "GET" and deny_read:
                # A role that may write and HEAD but not read the bytes
                # (SSE-KMS without kms:Decrypt), as S3 answers it.
                return self._error(403, "AccessDenied", "Access Denied")
            if self.command == "HEAD":
                self._record(200)
                self.send_response(200)
                for k, v in h.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(obj["data"])))
                self.end_headers()
                return None
            if rate:
                return self._slow_get(obj["data"], h, rate)
            rng = self.headers.get("Range", "")
            with self.st.lock:
                rfail = self.st.faults.get("range_fail")
                if rng and rfail and rfail[0] > 0:
                    rfail[0] -= 1
                else:
                    rfail = None
            if rfail is not None:
                return self._error(rfail[1], "SlowDown", "Please reduce "
                                   "your request rate.",
                                   {"Retry-After": rfail[2]}
                                   if rfail[2] else None)
            with self.st.lock:
                if self.st.faults.get("no_range"):
                    rng = ""  # a service that answers the whole object
            if rng.startswith("bytes="):
                # One range, as S3 serves it: 206 and its bytes.
                a, _, b = rng[6:].partition("-")
                a = int(a)
                b = min(int(b), len(obj["data"]) - 1)
                if a > b:
                    return self._error(416, "InvalidRange")
                with self.st.lock:
                    odd = self.st.faults.get("range_answer")
                n = b - a + 1
                if odd == "more":  # twice the bytes asked, said so
                    b = min(a + 2 * n - 1, len(obj["data"]) - 1)
                elif odd == "fewer":  # half of them, said so
                    b = a + max(1, n // 2) - 1
                elif odd == "other":  # the same count from the start
                    a, b = 0, n - 1
                h["Content-Range"] = "bytes %d-%d/%d" % (
                    a, b, len(obj["data"]))
                return self._reply(206, obj["data"][a:b + 1], h)
            return self._reply(200, obj["data"], h)
        return self._error(405, "MethodNotAllowed")

    def _slow_get(self, data, headers, rate):
        """200 and data at rate bytes/s (a slow link), 1/8 s a chunk."""
        self._record(200)
        self.send_response(200)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        step = max(1, rate // 8)
        for i in range(0, len(data), step):
            try:
                self.wfile.write(data[i:i + step])
                self.wfile.flush()
            except OSError:
                return None
            time.sleep(0.125)
        return None

    def _store(self, bucket, key, data, etag, sha_b64):
        """Stores an object; the faults damage what is kept, and the
        checksum and ETag kept then describe the damaged bytes (as a
        service's own would)."""
        with self.st.lock:
            damaged = False
            if self.st.faults["short"] > 0 and data:
                self.st.faults["short"] -= 1
                data = data[:-1]
                damaged = True
            elif self.st.faults["flip"] > 0 and data:
                self.st.faults["flip"] -= 1
                data = data[:-1] + bytes([data[-1] ^ 0x01])
                damaged = True
            kms = self.st.faults.get("kms_etags")
            if kms:
                sha_b64 = None  # SSE-KMS-like: no checksum kept
            if damaged:
                if sha_b64 is not None:
                    sha_b64 = base64.b64encode(
                        hashlib.sha256(data).digest()).decode()
                if "-" not in etag:
                    etag = '"%s"' % hashlib.md5(
                        (b"kms-key:" if kms else b"") + data).hexdigest()
            self.st.objects[(bucket, key)] = dict(data=data, etag=etag,
                                                  sha256=sha_b64)

    def _cut_now(self):
        """Whether this object write is one cut_next drops mid-body."""
        if not urllib.parse.unquote(self._path).lstrip("/").partition(
                "/")[2]:
            return False
        with self.st.lock:
            cut = self.st.faults.get("cut")
            if cut is None or cut[0] == 0:
                return False
            if cut[1] > 0:
                cut[1] -= 1
                return False
            cut[0] -= 1
            return True

    def _endless(self, drip):
        """200, then a body without end (until the client leaves or
        ENDLESS_MAX_S): blanks 64 KiB at a time, or one byte each drip
        seconds."""
        self._record(200)
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        deadline = time.monotonic() + ENDLESS_MAX_S
        while time.monotonic() < deadline:
            try:
                self.wfile.write(b" " if drip else b" " * 65536)
                self.wfile.flush()
            except OSError:
                return
            time.sleep(drip if drip else 0.001)

    def _put(self, bucket, key, body):
        src = self.headers.get("x-amz-copy-source")
        if src is not None:
            if self.st.take("copy_empty"):
                # 200 and no CopyObjectResult: nothing copied.
                return self._reply(200, "")
            sb, _, sk = urllib.parse.unquote(src).lstrip("/").partition("/")
            with self.st.lock:
                obj = self.st.objects.get((sb, sk))
                lose = self.st.faults.get("copy_lost")
                if obj is not None and lose is not None and lose in sk:
                    if self.st.faults.get("copy_lost_vanish"):
                        del self.st.objects[(sb, sk)]
                    obj = None
                if obj is not None:
                    self.st.objects[(bucket, key)] = dict(obj)
            if obj is None:
                return self._error(404, "NoSuchKey", sk)
            return self._reply(200, "<CopyObjectResult><ETag>%s</ETag>"
                               "</CopyObjectResult>" % escape(obj["etag"]))
        want = self.headers.get("x-amz-checksum-sha256")
        sha_b64 = base64.b64encode(hashlib.sha256(body).digest()).decode()
        if want is not None and want != sha_b64:
            with self.st.lock:
                self.st.bad_digests += 1
            return self._error(400, "BadDigest", "checksum differs")
        etag = '"%s"' % self._md5_etag(body)
        self._store(bucket, key, body, etag, sha_b64 if want else None)
        return self._reply(200, "", {"ETag": etag})

    def _complete_slowly(self, up, etag, secs):
        """AWS's answer to a CompleteMultipartUpload that takes a while:
        200 at once, a blank every 0.5 s while the parts are put
        together (secs), then the result."""
        self._record(200)
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        deadline = time.monotonic() + secs
        try:
            while time.monotonic() < deadline:
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.5)
            self.wfile.write(("<CompleteMultipartUploadResult><Key>%s</Key>"
                              "<ETag>%s</ETag>"
                              "</CompleteMultipartUploadResult>" %
                              (escape(up["key"]), escape(etag))).encode())
        except OSError:
            pass

    def _put_part(self, q, body):
        with self.st.lock:
            dmg = self.st.faults.get("damage_parts")
            hit = False
            if dmg is not None and dmg[0] > 0 and body:
                if dmg[1] > 0:
                    dmg[1] -= 1
                else:
                    dmg[0] -= 1
                    hit = True
            if hit:
                # Damaged on the way in, after the signature (which
                # covers the payload hash, not checked here).
                body = body[:-1] + bytes([body[-1] ^ 0x01])
                self.st.parts_damaged += 1
            up = self.st.uploads.get(q["uploadId"])
            if up is not None:
                up["parts"][int(q.get("partNumber", "0"))] = body
        if up is None:
            return self._error(404, "NoSuchUpload")
        with self.st.lock:
            bare = self.st.faults.get("parts_bare")
        etag = self._md5_etag(body)
        if bare:
            etag = etag.upper()
        return self._reply(200, "", {"ETag": etag if bare else '"%s"' % etag})

    def _complete(self, uid, body):
        import xml.etree.ElementTree as ET
        try:
            root = ET.fromstring(body)
            nums = [int(p.find("PartNumber").text) for p in root]
        except (ET.ParseError, AttributeError, ValueError):
            return self._error(400, "MalformedXML")
        with self.st.lock:
            err = self.st.faults.get("complete_error")
            if err is not None and err[0] > 0 and uid in self.st.uploads:
                err[0] -= 1
            else:
                err = None
        if err is not None and len(err) > 2:
            # 200 and a body of the test's own, making nothing.
            return self._reply(200, err[2],
                               {"Content-Type": "application/xml"})
        if err is not None:
            # AWS: 200 at once, then an error found while it put the
            # parts together; nothing made, the upload still open.
            return self._reply(200, "<?xml version=\"1.0\"?><Error><Code>"
                               "%s</Code><Message>x</Message></Error>"
                               % err[1],
                               {"Content-Type": "application/xml"})
        with self.st.lock:
            up = self.st.uploads.pop(uid, None)
        if up is None:
            return self._error(404, "NoSuchUpload")
        if nums != sorted(nums) or any(n not in up["parts"] for n in nums):
            return self._error(400, "InvalidPart")
        data = b"".join(up["parts"][n] for n in nums)
        md5s = b"".join(self._md5_raw(up["parts"][n]) for n in nums)
        with self.st.lock:
            if self.st.faults.get("whole_other"):
                md5s = b"x" + md5s
        etag = '"%s-%d"' % (self._md5_etag(md5s), len(nums))
        self._store(up["bucket"], up["key"], data, etag, None)
        if self.st.take("complete_lost"):
            # Made, and the answer lost (a proxy's 503 after the
            # service's 200): the upload is no more.
            return self._error(503, "SlowDown", "answer lost")
        if self.st.take("complete_dropped"):
            # Made, then the connection dropped before any answer.
            self._record(0)
            self.close_connection = True
            return None
        with self.st.lock:
            slow = self.st.faults.pop("complete_slow", None)
            if self.st.faults.get("complete_bare"):
                etag = etag.strip('"')  # the answer's; HEAD keeps quotes
        if slow is not None:
            return self._complete_slowly(up, etag, slow)
        body = ("<CompleteMultipartUploadResult><Key>%s</Key><ETag>%s"
                "</ETag></CompleteMultipartUploadResult>"
                % (escape(up["key"]), escape(etag)))
        if self.st.take("complete_cut"):
            # The answer's XML cut short before its ETag (a proxy or a
            # service that dropped the rest): the object is made.
            body = body[:body.index("<ETag>") + 3]
        return self._reply(200, body)

    def _list_uploads(self, bucket, q):
        """ListMultipartUploads as AWS documents it: sorted by key, then
        by initiation (ids here begin with their order, so that
        upload-id-marker compares as AWS says: lexicographically), at
        most max-uploads (1..1000, default and most 1000; the service's
        own page, uploads_page(n), may be smaller) a page, IsTruncated
        and NextKeyMarker/NextUploadIdMarker to go on from with
        key-marker/upload-id-marker. uploads_unsorted(True): in
        initiation order whatever the key, NextKeyMarker an opaque token
        and no NextUploadIdMarker (as S3 directory buckets answer)."""
        prefix = q.get("prefix", "")
        km = q.get("key-marker", "")
        im = q.get("upload-id-marker", "") if km else ""
        with self.st.lock:
            later = self.st.faults.get("later_pages_fail")
            if km and later is not None and later[0] > 0:
                later[0] -= 1
            else:
                later = None
        if later is not None:
            return self._error(later[1], later[2])
        try:
            most = int(q.get("max-uploads", "1000"))
        except ValueError:
            return self._error(400, "InvalidArgument", "max-uploads")
        most = max(1, min(most, 1000))
        with self.st.lock:
            most = min(most, self.st.faults.get("uploads_page", 1000))
            unsorted = self.st.faults.get("uploads_unsorted", False)
            endless = self.st.faults.get("uploads_endless")
            ups = [(uid, u["key"]) for uid, u in self.st.uploads.items()
                   if u["key"].startswith(prefix)]
            when = {uid: u.get("initiated", 0)
                    for uid, u in self.st.uploads.items()}
        if endless is not None:
            # A hostile service: "more" for ever, with one marker
            # ("same") or a new one each page ("new"), and no upload.
            nk = "k-same" if endless == "same" else "k%s" % uuid.uuid4().hex
            return self._reply(
                200, "<ListMultipartUploadsResult><Bucket>%s</Bucket>"
                "<IsTruncated>true</IsTruncated><NextKeyMarker>%s"
                "</NextKeyMarker></ListMultipartUploadsResult>"
                % (bucket, escape(nk)))
        if unsorted:
            ups.sort()
            if km:
                ups = [u for u in ups if u[0] > km[len("opaque-"):]]
        else:
            ups.sort(key=lambda u: (u[1].encode(), u[0]))
            if km:
                ups = [u for u in ups if u[1].encode() > km.encode() or
                       (im and u[1] == km and u[0] > im)]
        page, more = ups[:most], len(ups) > most
        body = "".join("<Upload><Key>%s</Key><UploadId>%s</UploadId>"
                       "<Initiated>%s</Initiated></Upload>"
                       % (escape(k), uid, time.strftime(
                           "%Y-%m-%dT%H:%M:%S.000Z",
                           time.gmtime(when.get(uid, 0))))
                       for uid, k in page)
        nxt = ""
        if more and unsorted:
            nxt = "<NextKeyMarker>opaque-%s</NextKeyMarker>" % page[-1][0]
        elif more:
            nxt = ("<NextKeyMarker>%s</NextKeyMarker><NextUploadIdMarker>"
                   "%s</NextUploadIdMarker>" % (escape(page[-1][1]),
                                                page[-1][0]))
        return self._reply(200, "<ListMultipartUploadsResult><Bucket>%s"
                           "</Bucket><MaxUploads>%d</MaxUploads>"
                           "<IsTruncated>%s</IsTruncated>%s%s"
                           "</ListMultipartUploadsResult>"
                           % (bucket, most, "true" if more else "false",
                              nxt, body))

    def _key_xml(self, key):
        """key as XML text; with char_refs "hex" (s3rver) or "dec"
        (MinIO) its ', " and non-ASCII characters as character
        references, which XML allows in any text."""
        style = self.st.faults.get("char_refs")
        if style is None:
            return escape(key)
        form = "&#x%x;" if style == "hex" else "&#%d;"
        return "".join(form % ord(c) if c in "'\"" or ord(c) > 127
                       else escape(c) for c in key)

    def _list(self, bucket, q):
        if q.get("list-type") != "2":
            return self._error(400, "InvalidArgument", "list-type=2 only")
        prefix = q.get("prefix", "")
        delim = q.get("delimiter", "")
        start = q.get("continuation-token", "")
        with self.st.lock:
            long_tokens = self.st.faults.get("long_tokens")
        if long_tokens and start:
            try:
                start = base64.b64decode(start, validate=True).split(
                    b"\0", 1)[0].decode()
            except ValueError:
                return self._error(400, "InvalidArgument",
                                   "The continuation token provided is "
                                   "incorrect")
        with self.st.lock:
            keys = sorted((k, len(o["data"])) for (b, k), o in
                          self.st.objects.items() if b == bucket and
                          k.startswith(prefix))
        entries = []  # (sort name, xml)
        seen = set()
        for k, size in keys:
            rest = k[len(prefix):]
            if delim and delim in rest:
                cp = prefix + rest.split(delim, 1)[0] + delim
                if cp not in seen:
                    seen.add(cp)
                    entries.append((cp, "<CommonPrefixes><Prefix>%s</Prefix>"
                                    "</CommonPrefixes>" % escape(cp)))
            else:
                entries.append((k, "<Contents><Key>%s</Key><Size>%d</Size>"
                                "</Contents>" % (self._key_xml(k), size)))
        with self.st.lock:
            stuck = self.st.faults.get("list_stuck")
        if stuck == "cycle":
            # Tokens that go round: A, then B, then A again.
            stuck = "cycle-b" if start == "cycle-a" else "cycle-a"
        elif isinstance(stuck, int) and not isinstance(stuck, bool):
            # A round of that many tokens: c0, c1, ..., c(n-1), c0.
            i = int(start[1:]) + 1 if start.startswith("c") else 0
            stuck = "c%d" % (i % stuck)
        elif stuck:
            # Broken or hostile: the first page again, "more" from the
            # token asked (one made up the first time).
            stuck = start or "stuck"
        if stuck:
            page = entries[:self.server.page_size]
            return self._reply(
                200, "<ListBucketResult><Name>%s</Name><IsTruncated>true"
                "</IsTruncated>%s<NextContinuationToken>%s"
                "</NextContinuationToken></ListBucketResult>"
                % (bucket, "".join(x for _, x in page),
                   escape(stuck)),
                {"Content-Type": "application/xml"})
        entries = [e for e in entries if e[0] > start]
        page = entries[:self.server.page_size]
        more = len(entries) > len(page)
        body = "<ListBucketResult><Name>%s</Name><IsTruncated>%s" \
               "</IsTruncated>%s%s</ListBucketResult>" % (
                   bucket, "true" if more else "false",
                   "".join(x for _, x in page),
                   "<NextContinuationToken>%s</NextContinuationToken>"
                   % escape(_token(page[-1][0], long_tokens))
                   if more else "")
        return self._reply(200, body, {"Content-Type": "application/xml"})

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _dispatch


def _token(key, n):
    """The continuation token that goes on after key: key itself, or
    with n, n bytes of base64 (n a multiple of 4) of key's UTF-8, a NUL
    and bytes made from them ('+' and '/' among them, each escaped in a
    query)."""
    if not n:
        return key
    raw = key.encode() + b"\0"
    m = n * 3 // 4
    if len(raw) > m:
        raise ValueError("a token of %d bytes cannot hold %r" % (n, key))
    return base64.b64encode(
        raw + hashlib.shake_256(raw).digest(m - len(raw))).decode()


def _loosen(body):
    """body with what XML allows and S3 services write at times: every
    element's open tag with a namespace and a space, every close tag with
    a space before its '>', IsTruncated "true" as " True " (XML 1.0
    section 3.1; a .NET-made service's boolean)."""
    body = re.sub(rb"<IsTruncated>true</IsTruncated>",
                  b"<IsTruncated> True </IsTruncated>", body)
    body = re.sub(rb"<([A-Za-z][A-Za-z0-9]*)>",
                  rb'<\1 xmlns="http://s3.amazonaws.com/doc/2006-03-01/" >',
                  body)
    return re.sub(rb"</([A-Za-z][A-Za-z0-9]*)>", rb"</\1\n>", body)


class FakeS3:
    """The fake service for bucket; page_size keys per listing page."""

    def __init__(self, bucket="relay-bucket", page_size=2):
        sigv4_self_test()
        self.bucket = bucket
        self.page_size = page_size
        self.store = _Store()
        self.port = 0
        self.httpd = None
        self.thread = None
        self.start()

    def start(self):
        """Starts (again) on the port it had before; the first start
        picks one below the ephemeral range (daemon.free_port), where no
        bind(0) elsewhere on the host takes it while the service is
        stopped for an outage."""
        picked = not self.port
        for _ in range(20):  # bounded: another test may pick it too
            port = free_port() if picked else self.port
            try:
                self.httpd = ThreadingHTTPServer(("127.0.0.1", port),
                                                 _Handler)
                break
            except OSError as e:
                if not picked or e.errno != errno.EADDRINUSE:
                    raise
        else:
            raise RuntimeError("fake S3: no free port in 20 picks")
        self.httpd.daemon_threads = True
        self.httpd.store = self.store
        self.httpd.bucket = self.bucket
        self.httpd.page_size = self.page_size
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(timeout=10)
            self.httpd = None

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def target(self, prefix="mirror", **extra):
        spec = {"url": "s3://%s/%s" % (self.bucket, prefix),
                "endpoint": self.endpoint, "region": REGION,
                "access_key": ACCESS_KEY, "secret_key": SECRET_KEY}
        spec.update(extra)
        return spec

    # -- what the tests look at
    def objects(self):
        with self.store.lock:
            return {k: o["data"] for (b, k), o in self.store.objects.items()}

    def open_uploads(self):
        with self.store.lock:
            return dict(self.store.uploads)

    def bad_signatures(self):
        with self.store.lock:
            return list(self.store.bad_signatures)

    def payload_mismatches(self):
        with self.store.lock:
            return list(self.store.payload_mismatches)

    def requests(self):
        with self.store.lock:
            return list(self.store.requests)

    def fail_next(self, n, status=500, skip=0, msg="injected",
                  retry_after=None, code=None):
        """The next n object writes (PUT/POST) after skip more answer
        status, with msg as the error's <Message>, code as its <Code>
        (by default SlowDown for 503, else InternalError) and, if
        retry_after (a string: seconds or an HTTP-date; or a function
        called at each answer that returns one) is given, that
        Retry-After."""
        with self.store.lock:
            self.store.faults["fail"] = [n, status, skip]
            self.store.faults["fail_msg"] = msg
            self.store.faults["fail_code"] = code
            self.store.faults["fail_retry_after"] = retry_after

    def cut_next(self, n, skip=0):
        """The next n object writes (PUT/POST) after skip more have half
        their body read, then the connection dropped without an answer
        (logged with status 0)."""
        with self.store.lock:
            self.store.faults["cut"] = [n, skip]

    def request_times(self):
        """(time.monotonic(), method, path, status) of each request, in
        order, as requests() (status 0: cut), each taken before its
        answer went."""
        with self.store.lock:
            return list(self.store.times)

    def deny_prefix(self, prefix):
        """Object writes to keys starting with prefix answer 403
        AccessDenied (None: none), as a bucket policy denying PutObject
        on that prefix does."""
        with self.store.lock:
            self.store.faults["deny"] = prefix

    def copy_lost(self, part, vanish=False):
        """Copies whose source key holds part answer 404 NoSuchKey (None:
        none): vanish=True deletes the source first, as a key removed
        between a folder's listing and its copy; False keeps it, as a
        service that cannot copy some names (s3rver and '&' or '+')."""
        with self.store.lock:
            self.store.faults["copy_lost"] = part
            self.store.faults["copy_lost_vanish"] = vanish

    def endless_next(self, n, drip=0):
        """The next n object writes are read whole, then answered 200 and
        a body that never ends (bounded by ENDLESS_MAX_S): blanks as fast
        as they go, or with drip one byte every drip seconds."""
        with self.store.lock:
            self.store.faults["endless"] = [n, drip]

    def complete_slow(self, secs):
        """The next CompleteMultipartUpload answers 200, then a blank
        every 0.5 s for secs seconds, then its result (AWS does so while
        it puts big objects together)."""
        with self.store.lock:
            self.store.faults["complete_slow"] = secs

    def deny_reads(self, on):
        """GET of an object answers 403 AccessDenied (HEAD still works),
        as a role without s3:GetObject's kms:Decrypt on SSE-KMS."""
        with self.store.lock:
            self.store.faults["deny_read"] = on

    def read_rate(self, rate):
        """GET of an object sends its body at rate bytes/s (None: at
        once), as a slow link."""
        with self.store.lock:
            self.store.faults["read_rate"] = rate

    def copy_empty(self, n):
        """The next n copies answer 200 with an empty body and copy
        nothing."""
        with self.store.lock:
            self.store.faults["copy_empty"] = n

    def flip_next(self, n):
        """The next n objects are stored with their last bit flipped
        (same size: only verify = hash can see it)."""
        with self.store.lock:
            self.store.faults["flip"] = n

    def damage_parts(self, n, skip=0):
        """The next n upload parts after skip more are kept with their
        last bit flipped, and answered with the damaged bytes' ETag."""
        with self.store.lock:
            self.store.faults["damage_parts"] = [n, skip]

    def kms_etags(self, on):
        """ETags that are not MD5s (keyed, as SSE-KMS's), no checksum
        kept."""
        with self.store.lock:
            self.store.faults["kms_etags"] = on

    def whole_other_etags(self, on):
        """Multipart ETags that are not the MD5 of the parts' MD5s but
        md5(b"x" + md5s), "-N" (part ETags still their MD5s)."""
        with self.store.lock:
            self.store.faults["whole_other"] = on

    def complete_bare(self, on):
        """CompleteMultipartUpload answers the ETag without its quotes
        (HEAD still has them), as some S3-compatible services do."""
        with self.store.lock:
            self.store.faults["complete_bare"] = on

    def parts_bare(self, on):
        """Upload parts answered with their ETag bare, in upper case (no
        quotes), as some S3-compatible services do."""
        with self.store.lock:
            self.store.faults["parts_bare"] = on

    def head_etag(self, on):
        """HEAD answers multipart objects another ETag than the
        completion did (HEX-N of another MD5), as a proxy rewriting
        it."""
        with self.store.lock:
            self.store.faults["head_etag"] = on

    def complete_cut(self, n):
        """The next n CompleteMultipartUpload answers are 200 with their
        XML cut short before the ETag; the objects are made."""
        with self.store.lock:
            self.store.faults["complete_cut"] = n

    def complete_lost(self, n):
        """The next n CompleteMultipartUploads make their objects (the
        upload then gone) but are answered 503 SlowDown."""
        with self.store.lock:
            self.store.faults["complete_lost"] = n

    def complete_dropped(self, n):
        """The next n completions make their object, then drop the
        connection without an answer (logged with status 0)."""
        with self.store.lock:
            self.store.faults["complete_dropped"] = n

    def start_lost(self, n):
        """The next n multipart starts (CreateMultipartUpload) make
        their upload, then drop the connection without an answer (logged
        with status 0): an answer lost on the way."""
        with self.store.lock:
            self.store.faults["start_lost"] = n

    def complete_error(self, n, code="InternalError", body=None):
        """The next n CompleteMultipartUploads answer 200 with an <Error>
        body of that Code (as AWS may, for InternalError or SlowDown),
        or with body if given (bytes or text as it is); nothing is made
        and the upload stays open."""
        with self.store.lock:
            self.store.faults["complete_error"] = (
                [n, code] if body is None else [n, code, body])

    def weak_etags(self, on):
        """HEAD answers every ETag marked weak, W/"..." (GET and the
        upload's answers keep it strong), as a proxy may."""
        with self.store.lock:
            self.store.faults["weak_etag"] = on

    def object_gets(self):
        """GETs of whole objects (read backs): not listings of the
        bucket, not Range GETs (range_gets)."""
        with self.store.lock:
            return [r for r in self.store.requests
                    if r[0] == "GET" and r[1].strip("/").count("/") >= 1
                    and r[3] != 206]

    def no_range(self, on):
        """GET ignores Range: 200 and the whole object."""
        with self.store.lock:
            self.store.faults["no_range"] = on

    def range_fail(self, n, status=503, retry_after=None):
        """The next n Range GETs answer status (SlowDown), with that
        Retry-After if retry_after (a string) is given."""
        with self.store.lock:
            self.store.faults["range_fail"] = [n, status, retry_after]

    def range_answer(self, mode):
        """A Range GET is answered 206 with other bytes than asked, each
        said in its Content-Range as HTTP allows a service to: "more"
        (twice as many), "fewer" (half), "other" (as many from byte 0);
        None: the range asked."""
        with self.store.lock:
            self.store.faults["range_answer"] = mode

    def range_gets(self):
        """Range GETs of objects answered 206."""
        with self.store.lock:
            return [r for r in self.store.requests
                    if r[0] == "GET" and r[3] == 206]

    def short_next(self, n):
        with self.store.lock:
            self.store.faults["short"] = n

    def stall_next(self, n, secs, skip=0):
        """The next n object writes after skip more get no answer for
        secs, then a closed connection (logged with status 0 as the
        silence starts)."""
        with self.store.lock:
            self.store.faults["stall"] = [n, float(secs), skip]

    def char_refs(self, style):
        """Listings write keys with character references: "hex"
        (&#x27;, as s3rver does), "dec" (&#39;, as MinIO), None: none."""
        with self.store.lock:
            self.store.faults["char_refs"] = style

    def loose_xml(self, on):
        """Answers written with namespaces and white space in every tag
        and IsTruncated " True " (_loosen)."""
        with self.store.lock:
            self.store.faults["loose_xml"] = on

    def uploads_page(self, n):
        """ListMultipartUploads answers at most n uploads a page (AWS:
        1000), whatever max-uploads asks."""
        with self.store.lock:
            self.store.faults["uploads_page"] = n

    def uploads_unsorted(self, on):
        """ListMultipartUploads lists in initiation order, keys mixed,
        with an opaque NextKeyMarker (as S3 directory buckets do)."""
        with self.store.lock:
            self.store.faults["uploads_unsorted"] = on

    def uploads_endless(self, mode):
        """ListMultipartUploads says "more" for ever, its NextKeyMarker
        always one ("same") or a new one each page ("new"); None: off."""
        with self.store.lock:
            self.store.faults["uploads_endless"] = mode

    def later_pages_fail(self, n, status=403, code="AccessDenied"):
        """The next n ListMultipartUploads asked from a key-marker (a
        page after the first) answer status with that Code."""
        with self.store.lock:
            self.store.faults["later_pages_fail"] = [n, status, code]

    def abort_fail(self, n, status=403, code="AccessDenied"):
        """The next n AbortMultipartUploads answer status with that Code,
        the upload left open."""
        with self.store.lock:
            self.store.faults["abort_fail"] = [n, status, code]

    def list_stuck(self, on):
        """ListObjectsV2 answers its first page for ever, IsTruncated
        true and NextContinuationToken the one asked from (on "cycle":
        "cycle-a" first and from "cycle-b", "cycle-b" from "cycle-a";
        on an int n: a round of n tokens, "c0" first, "c(i+1)" from
        "ci" and "c0" again from the last)."""
        with self.store.lock:
            self.store.faults["list_stuck"] = on

    def long_tokens(self, n):
        """ListObjectsV2's continuation tokens n bytes long (a multiple
        of 4: base64 of the key to go on after and bytes made from it);
        0: the key itself, as before."""
        if n % 4:
            raise ValueError("long_tokens: %d is not a multiple of 4" % n)
        with self.store.lock:
            self.store.faults["long_tokens"] = n

    def cdata(self, on):
        """Multipart starts answer their Key and UploadId as CDATA
        sections."""
        with self.store.lock:
            self.store.faults["cdata"] = on

    def long_upload_ids(self, n):
        """New uploads' ids are n bytes long (0: 32, as before)."""
        with self.store.lock:
            self.store.faults["long_ids"] = n

    def date_skew(self, secs):
        """Every answer's Date header secs seconds off the service's
        clock (the one its uploads' Initiated is written by)."""
        with self.store.lock:
            self.store.faults["date_skew"] = secs

    def clock_skew(self, secs):
        """The service's clock secs seconds off this host's: the
        uploads' Initiated (open_upload's too) and the Date written by
        it."""
        with self.store.lock:
            self.store.faults["clock_skew"] = secs

    def no_date(self, on):
        """Answers without a Date header (HTTP asks one of a server with
        a clock; not every service sends it)."""
        with self.store.lock:
            self.store.faults["no_date"] = on

    def checksum_only(self, on):
        """The body checked against x-amz-checksum-sha256 only (400
        BadDigest), never against the signed x-amz-content-sha256."""
        with self.store.lock:
            self.store.faults["checksum_only"] = on

    def bad_digests(self):
        """How many PUTs were answered 400 BadDigest."""
        with self.store.lock:
            return self.store.bad_digests

    def damage_in_transit(self, n, skip=0):
        """The next n PUT bodies with bytes (objects and parts, not
        copies) after skip more have their last bit flipped on arrival,
        before the payload hash and checksum are checked."""
        with self.store.lock:
            self.store.faults["damage_in_transit"] = [n, skip]

    def before_body(self, fn):
        """fn(method, key, query) before each PUT's body (None: no more)."""
        with self.store.lock:
            self.store.faults["before_body"] = fn

    def upload_lists(self):
        """The ListMultipartUploads requests' queries, in order."""
        with self.store.lock:
            return [r[2] for r in self.store.requests
                    if r[0] == "GET" and "uploads" in r[2]]

    def put_object(self, key, data):
        """Stores an object directly (a test's own fixture)."""
        with self.store.lock:
            self.store.objects[(self.bucket, key)] = dict(
                data=data, etag='"%s"' % hashlib.md5(data).hexdigest(),
                sha256=None)

    def open_upload(self, key, parts=None, age=2 * 86400):
        """Starts a multipart upload directly, as a crashed client left
        (age seconds ago: 0, another writer's in progress)."""
        with self.store.lock:
            uid = self.store.new_upload_id()
            self.store.uploads[uid] = dict(
                bucket=self.bucket, key=key, parts=dict(parts or {}),
                initiated=time.time() - age +
                self.store.faults.get("clock_skew", 0))
        return uid
