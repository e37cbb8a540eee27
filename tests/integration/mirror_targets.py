"""Helpers for the mirror tests: downstream FTP targets and bounded waits.

MirrorServer   a harness.Server whose relayftpd.ini also has a [mirror]
               section and one [target:NAME] section per target; it can be
               killed with SIGKILL and restarted on the same config/queue,
               and runs `relayftpd mirror status|retry`.
PyftpdTarget   a pyftpdlib FTP server in a child process (a daemon.Daemon;
               Debian's python3-pyftpdlib) rooted at a temp folder; it can be
               stopped and restarted on the same port, throttled, and made
               "faulty": the first K non-empty uploads lose their last byte.
relay_target   a second relayftpd (harness.Server) with a user "mirror",
               used as a downstream target.
TargetsMixin   pyftpd() / relay() for a test case: a target stopped at the
               test's cleanup.
wait_files / no_temp_files / tmp_files
               bounded polls over a target folder.

Nothing here waits longer than its timeout; every subprocess is bounded.
"""
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import daemon  # noqa: E402
from daemon import Daemon, read_text  # noqa: E402
from harness import BINARY, Server  # noqa: E402

PYTHON = "/usr/bin/python3"
TMP_PREFIX = ".rftpd-tmp."
PARTIAL_PREFIX = ".rftpd-partial."


# --------------------------------------------------------------- relayftpd

class MirrorServer(Server):
    """relayftpd with mirror targets.

    mirror:  {key: value} for [mirror] (queue, retry_initial, retry_max,
             workers_per_target, max_attempts).
    targets: {name: {key: value}} for [target:NAME] (url, user, password,
             password_file, verify, layout, include, exclude, ...).
    sections: other sections, as Server's ({"admin": {"listen": ...}}).
    """

    def __init__(self, users=None, server=None, mirror=None, targets=None,
                 start=True, sections=None):
        self.mirror_opts = dict(mirror or {})
        self.targets = {k: dict(v) for k, v in (targets or {}).items()}
        super().__init__(users=users, server=server, start=start,
                         sections=sections)

    def write_config(self):
        super().write_config()
        lines = []
        if self.mirror_opts:
            lines.append("")
            lines.append("[mirror]")
            for key, value in self.mirror_opts.items():
                lines.append("%s = %s" % (key, value))
        for name, spec in self.targets.items():
            lines.append("")
            lines.append("[target:%s]" % name)
            for key, value in spec.items():
                lines.append("%s = %s" % (key, value))
        with open(self.config_path, "a") as f:
            f.write("\n".join(lines) + "\n")

    def config_text(self):
        with open(self.config_path) as f:
            return f.read()

    def kill9(self):
        """SIGKILL the server (no cleanup at all) and forget the process."""
        return self.kill()

    def alive(self):
        return self.running()

    # `relayftpd mirror ...`
    def mirror_cmd(self, *args, timeout=30):
        return subprocess.run(
            [BINARY, "mirror"] + list(args), capture_output=True, text=True,
            timeout=timeout, stdin=subprocess.DEVNULL)

    def status_raw(self):
        return self.mirror_cmd("status", "--config", self.config_path)

    def status(self):
        """{target: {state, queued, running, failed, oldest_age,
        pushed_files, pushed_bytes, last_error}}; raises AssertionError with
        the output if the command fails or a line does not parse."""
        r = self.status_raw()
        if r.returncode != 0:
            raise AssertionError(
                "mirror status --config %s: exit %d\nstdout: %s\nstderr: %s"
                % (self.config_path, r.returncode, r.stdout, r.stderr))
        return parse_status(r.stdout)

    def retry(self, target=None):
        args = ["retry", "--config", self.config_path]
        if target is not None:
            args.append(target)
        return self.mirror_cmd(*args)

    def pushes(self):
        return parse_pushes(self.log_text())


STATUS_KEYS = ("state", "queued", "running", "failed", "oldest_age",
               "pushed_files", "pushed_bytes", "last_error")
_STATUS_HEAD = re.compile(
    r'^target (?P<name>[^:\s]+): (?P<rest>.*) last_error="(?P<err>.*)"\s*$')


def parse_status(text):
    """{target: {state, queued, running, failed, oldest_age (int seconds),
    pushed_files, pushed_bytes, last_error, extra}} from `mirror status`.

    The contract's line is
      target NAME: state=S queued=N running=N failed=N oldest_age=Ns
                   pushed_files=N pushed_bytes=N last_error="..."
    Fields the contract does not name are tolerated and kept in
    d["extra"] (e.g. failing_since=...); a missing field, or a contract
    field out of order, fails."""
    out = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        m = _STATUS_HEAD.match(line)
        fields, order = {}, []
        for tok in m.group("rest").split() if m else []:
            key, eq, value = tok.partition("=")
            if not eq:
                m = None
                break
            fields[key] = value
            order.append(key)
        if m:
            fields["last_error"] = '"%s"' % m.group("err")
            order.append("last_error")
        known = [k for k in order if k in STATUS_KEYS]
        if not m or known != list(STATUS_KEYS) or \
                not fields["oldest_age"].endswith("s") or \
                not fields["last_error"].startswith('"'):
            raise AssertionError("mirror status line does not match the "
                                 "contract: %r\nwhole output:\n%s" %
                                 (line, text))
        d = {"extra": {k: v for k, v in fields.items()
                       if k not in STATUS_KEYS}}
        d["state"] = fields["state"]
        d["last_error"] = fields["last_error"][1:-1]
        try:
            for key in ("queued", "running", "failed", "pushed_files",
                        "pushed_bytes"):
                d[key] = int(fields[key])
            d["oldest_age"] = int(fields["oldest_age"][:-1])
        except ValueError:
            raise AssertionError("mirror status: not a number in %r" % line)
        out[m.group("name")] = d
    return out


PUSH_RE = re.compile(r"mirror push.*?target=(?P<target>\S+) "
                     r"path=(?P<path>\"(?:[^\"\\]|\\.)*\"|\S+) "
                     r"bytes=(?P<bytes>\d+)")


def log_field(path):
    """path as a mirror log line writes it (src/mirror/logpath.c): as it
    is, or quoted with '"', '\\' and control bytes escaped when it holds
    one of them or a blank."""
    if len(path) <= 512 and not any(c <= " " or c in '"\\\x7f'
                                    for c in path):
        return path
    out = ""
    for c in path:
        if c in '"\\':
            out += "\\" + c
        elif c < " " or c == "\x7f":
            out += "\\x%02x" % ord(c)
        else:
            out += c
    return '"' + out + '"'


def log_path(field):
    """A path= field of a mirror log line as the path it names: quoted
    ones (a blank, '"', '\\' or a control byte in the name) unescaped."""
    if not field.startswith('"'):
        return field
    return re.sub(r"\\x([0-9a-f]{2})|\\(.)",
                  lambda m: chr(int(m.group(1), 16)) if m.group(1)
                  else m.group(2), field[1:-1])


def parse_pushes(log):
    """[{target, path, bytes, attempts, verify, line}] from the server log."""
    out = []
    for line in log.splitlines():
        m = PUSH_RE.search(line)
        if not m:
            continue
        d = m.groupdict()
        d["path"] = log_path(d["path"])
        d["bytes"] = int(d["bytes"])
        a = re.search(r"\battempts=(\d+)", line)
        v = re.search(r"\bverify=(\w+)", line)
        d["attempts"] = int(a.group(1)) if a else None
        d["verify"] = v.group(1) if v else None
        d["line"] = line
        out.append(d)
    return out


def sigterm_timed(srv, timeout=30):
    """SIGTERM to srv; (exit code or None if still running after timeout,
    seconds it took)."""
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    try:
        rc = srv.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        rc = None
    return rc, time.monotonic() - t0


def jobs_waiting(srv, target):
    """The jobs of target not done yet (queued, running or parked), as
    `mirror status` counts them."""
    st = srv.status()[target]
    return st["queued"] + st["running"] + st["failed"]


def wait_status(srv, predicate, timeout=60, interval=0.2):
    """Polls `mirror status` until predicate(status dict) is true; returns
    the last status (check predicate again in the caller)."""
    deadline = time.monotonic() + timeout
    st = srv.status()
    while not predicate(st) and time.monotonic() < deadline:
        time.sleep(interval)
        st = srv.status()
    return st


def reached(srv, predicate, timeout=60, interval=0.2):
    """Whether `mirror status` came to satisfy predicate within timeout:
    for assertTrue (wait_status's dict is true whatever it holds)."""
    return bool(predicate(wait_status(srv, predicate, timeout, interval)))


def drained(*names):
    """Predicate for wait_status: these targets (all if none) have nothing
    queued or running."""
    def pred(st):
        keys = names or list(st)
        return all(k in st and st[k]["queued"] == 0 and
                   st[k]["running"] == 0 for k in keys)
    return pred


# ------------------------------------------------------------ pyftpdlib

_PYFTPD_SCRIPT = textwrap.dedent('''\
    import hashlib, json, logging, os, socket, sys, time
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import DTPHandler, FTPHandler
    from pyftpdlib.servers import FTPServer

    cfg = json.loads(sys.argv[1])
    logging.basicConfig(filename=cfg["log"], level=logging.INFO,
                        format="%(asctime)s %(message)s")
    auth = DummyAuthorizer()
    auth.add_user(cfg["user"], cfg["password"], cfg["root"],
                  perm=cfg.get("perm", "elradfmwMT"))
    for folder in cfg.get("no_enter", []):
        auth.override_perm(cfg["user"], os.path.join(cfg["root"], folder),
                           cfg.get("perm", "elradfmwMT").replace("e", ""),
                           recursive=True)

    class Handler(FTPHandler):
        faulty_left = cfg["faulty"]
        proto_cmds = dict(FTPHandler.proto_cmds)
        for name in cfg["hashes"]:
            proto_cmds[name] = dict(
                perm="r", auth=True, arg=True,
                help="Syntax: %s <SP> file-name" % name)

        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            for name in cfg["hashes"]:
                self._extra_feats.append(
                    "HASH SHA-256*" if name == "HASH" else name)

        stray_left = cfg.get("stray_cwd", 0)

        def ftp_CWD(self, path):
            if Handler.stray_left > 0:
                for _ in range(Handler.stray_left):
                    self.push("150 Stray line.\\r\\n")
                Handler.stray_left = 0
                with open(cfg["faultlog"], "a") as f:
                    f.write("stray CWD %s 0\\n" % path)
            return super().ftp_CWD(path)

        busy_left = cfg.get("busy_dele", 0)

        def ftp_DELE(self, path):
            if cfg.get("gone_code") and not os.path.lexists(path):
                self.respond("%s No such file." % cfg["gone_code"])
                return
            if Handler.busy_left > 0:
                Handler.busy_left -= 1
                self.respond("450 Busy, try again later.")
                return
            return super().ftp_DELE(path)

        def ftp_RMD(self, path):
            if cfg.get("gone_code") and not os.path.lexists(path):
                self.respond("%s No such folder." % cfg["gone_code"])
                return
            return super().ftp_RMD(path)

        def ftp_MLSD(self, path):
            # pyftpdlib logs no listing: counted by tests of resync.
            logging.info("listing MLSD %s" % path)
            return super().ftp_MLSD(path)

        def ftp_MFMT(self, path, timeval):
            hold = cfg.get("hold_mfmt")
            if hold and os.path.exists(hold[0]):
                # Once: says it holds, then answers when told to (the
                # whole server waits; at most 30 s).
                os.unlink(hold[0])
                open(hold[1], "w").close()
                deadline = time.monotonic() + 30
                while (not os.path.exists(hold[2]) and
                       time.monotonic() < deadline):
                    time.sleep(0.05)
            return super().ftp_MFMT(path, timeval)

        def ftp_STOR(self, file, mode="w"):
            if (cfg.get("stor_missing") and
                    not os.path.isdir(os.path.dirname(file))):
                self.respond("%s No such folder." % cfg["stor_missing"])
                return
            if cfg["refuse"] and cfg["refuse"] in os.path.basename(file):
                self.respond("553 Refused by this target.")
                return
            return super().ftp_STOR(file, mode)

        damaged = {}  # file -> its size before the fault damaged it

        def ftp_SIZE(self, path):
            if cfg.get("size_prefix") and path in Handler.damaged:
                self.respond("213 %s%d" % (cfg["size_prefix"],
                                           Handler.damaged[path]))
                return
            return super().ftp_SIZE(path)

        rename_noop_left = cfg.get("rename_noop", 0)

        def ftp_RNTO(self, path):
            if Handler.rename_noop_left > 0:
                Handler.rename_noop_left -= 1
                self._rnfr = None
                with open(cfg["faultlog"], "a") as f:
                    f.write("rename-noop %s 0\\n" % path)
                self.respond("250 Renaming ok.")
                return
            r = super().ftp_RNTO(path)
            # A drop box: each file that gets its name is taken away at
            # once, before the client's next command is read.
            if cfg.get("take_renamed") and os.path.isfile(path):
                taken = os.path.join(cfg["root"], "..", "taken")
                os.makedirs(taken, exist_ok=True)
                os.rename(path, os.path.join(
                    taken, "%d-%s" % (len(os.listdir(taken)),
                                      os.path.basename(path))))
            return r

        def on_file_received(self, file):
            # Runs before this session reads its next command, so a client
            # that checks SIZE (or a digest) after 226 sees the damage.
            Handler.damaged.pop(file, None)
            if Handler.faulty_left <= 0:
                return
            size = os.path.getsize(file)
            if size == 0:
                return
            Handler.faulty_left -= 1
            Handler.damaged[file] = size
            with open(file, "r+b") as f:
                if cfg["fault"] == "flip":  # same size, other bytes
                    f.seek(size - 1)
                    last = f.read(1)[0]
                    f.seek(size - 1)
                    f.write(bytes([last ^ 0xFF]))
                else:
                    f.truncate(size - 1)
            with open(cfg["faultlog"], "a") as f:
                f.write("%s %d\\n" % (file, size))

        def _digest(self, path, algo):
            h = hashlib.new(algo)
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 16), b""):
                    h.update(chunk)
            return h.hexdigest()

        def _digest_cmd(self, path, algo):
            if not os.path.isfile(path):
                self.respond("550 No such file.")
                return
            self.respond("250 " + self._digest(path, algo))

        def ftp_XMD5(self, path):
            self._digest_cmd(path, "md5")

        def ftp_XSHA256(self, path):
            self._digest_cmd(path, "sha256")

        def ftp_HASH(self, path):
            # draft-bryan-ftpext-hash: 213 <algo> <start>-<end> <hex> <name>
            if not os.path.isfile(path):
                self.respond("550 No such file.")
                return
            size = os.path.getsize(path)
            self.respond("213 SHA-256 0-%d %s %s" % (
                size, self._digest(path, "sha256"), self.fs.fs2ftp(path)))

    Handler.authorizer = auth
    Handler.banner = "pyftpdlib target ready."
    Handler.timeout = cfg.get("idle_timeout") or 120
    if cfg["read_limit"]:
        # Paces every upload's data connection to read_limit bytes/s
        # (pyftpdlib's ThrottledDTPHandler lets the first 2*limit bytes of
        # a connection through unthrottled, too coarse for small files).
        class DTP(DTPHandler):
            ac_in_buffer_size = 8192
            rate = float(cfg["read_limit"])

            def __init__(self, sock, cmd_channel):
                super().__init__(sock, cmd_channel)
                self._t0 = None
                self._count = 0
                self._pause = None

            def use_sendfile(self):
                return False

            def recv(self, buffer_size):
                chunk = super().recv(buffer_size)
                if not chunk or self._closed:
                    return chunk
                now = time.monotonic()
                if self._t0 is None:
                    self._t0 = now
                self._count += len(chunk)
                delay = self._t0 + self._count / self.rate - now
                if delay > 0.002:
                    def resume():
                        if not self._closed:
                            self.add_channel(events=self.ioloop.READ)
                    self.del_channel()
                    self._pause = self.ioloop.call_later(
                        delay, resume, _errback=self.handle_error)
                return chunk

            def close(self):
                if self._pause is not None and not self._pause.cancelled:
                    self._pause.cancel()
                super().close()
        Handler.dtp_handler = DTP
    if cfg.get("stall_226"):
        # Takes the bytes and never answers: no 226, no error.
        class StallingDTP(Handler.dtp_handler):
            stall_left = 1

            def close(self):
                if (not self._closed and self.receive and
                        StallingDTP.stall_left > 0 and self._resp and
                        self._resp[0].startswith("226") and
                        cfg["stall_226"] in
                        os.path.basename(self.file_obj.name)):
                    StallingDTP.stall_left -= 1
                    self._resp = None
                    with open(cfg["faultlog"], "a") as f:
                        f.write("stall %s 0\\n" % self.file_obj.name)
                super().close()
        Handler.dtp_handler = StallingDTP
    if cfg.get("slow_226"):
        # Takes the bytes and answers late (a target that scans each file
        # before its 226): the first upload of a name holding TEXT.
        class SlowDTP(Handler.dtp_handler):
            slow_left = 1

            def close(self):
                text, secs = cfg["slow_226"]
                if (not self._closed and self.receive and
                        SlowDTP.slow_left > 0 and self._resp and
                        self._resp[0].startswith("226") and
                        text in os.path.basename(self.file_obj.name)):
                    SlowDTP.slow_left -= 1
                    resp, ch = self._resp, self.cmd_channel
                    self._resp = None
                    with open(cfg["faultlog"], "a") as f:
                        f.write("slow %s 0\\n" % self.file_obj.name)
                    self.ioloop.call_later(
                        secs, lambda: ch.connected and ch.respond(*resp),
                        _errback=ch.handle_error)
                super().close()
        Handler.dtp_handler = SlowDTP
    if cfg["refuse_after"]:
        # Takes the bytes, then says no (a quota counted at the end, a
        # scanner that reads the whole file): 550 where 226 was due, and
        # the file is gone.
        class RefusingDTP(Handler.dtp_handler):
            def close(self):
                name = None
                if (not self._closed and self.receive and
                        self.file_obj is not None and self._resp and
                        self._resp[0].startswith("226") and
                        cfg["refuse_after"] in
                        os.path.basename(self.file_obj.name)):
                    name = self.file_obj.name
                    self._resp = ("550 Refused by this target after the "
                                  "transfer.", self._resp[1])
                super().close()
                if name is not None and os.path.exists(name):
                    os.remove(name)
        Handler.dtp_handler = RefusingDTP
    if cfg.get("closed_data"):
        # A firewall before the target that passes the control port and
        # rejects the passive ones: EPSV and PASV name a port held here
        # that never listens, so every data connection is refused.
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        cport = closed.getsockname()[1]

        def closed_epsv(self, line):
            self.respond("229 Entering extended passive mode (|||%d|)."
                         % cport)

        def closed_pasv(self, line):
            self.respond("227 Entering passive mode (127,0,0,1,%d,%d)."
                         % (cport >> 8, cport & 255))
        Handler.ftp_EPSV = closed_epsv
        Handler.ftp_PASV = closed_pasv
    server = FTPServer(("127.0.0.1", cfg["port"]), Handler)
    server.max_cons = 256
    server.max_cons_per_ip = cfg.get("max_cons_per_ip", 0)
    print(server.socket.getsockname()[1], flush=True)
    server.serve_forever(timeout=0.2)
''')


class PyftpdTarget(Daemon):
    """A pyftpdlib server in a child process, rooted at self.root.

    faulty=K: the first K non-empty uploads are damaged after the 226 and
    before the session's next command: fault="truncate" drops the last
    byte, fault="flip" inverts it (same size: only a digest sees it); each
    is recorded in self.faultlog.
    hashes: digest commands to offer (and list in FEAT): any of "XMD5",
    "XSHA256" ("250 <hex>") and "HASH" ("213 SHA-256 0-N <hex> <name>");
    pyftpdlib itself offers none.
    read_limit=B: uploads are throttled to B bytes/s per data connection.
    port: listen there (else an ephemeral port, kept across restarts).
    perm: pyftpdlib's permission letters for the user (without "T",
    MFMT is listed in FEAT but refused: a target that cannot set times).
    refuse: a STOR of a name holding this text gets 553 (a target that
    refuses some files, as a quota or a name rule would).
    refuse_after: such a STOR takes the bytes, then gets 550 instead of
    226, and the file is removed.
    max_cons_per_ip: connections it takes from one address (0: any), as
    hosting providers limit them; one more gets 421 and is closed.
    stray_cwd=N: a confused target: its first CWD is answered with N stray
    "150" lines before the real reply, once (recorded in self.faultlog).
    stor_missing=CODE: a STOR into a folder that is not there gets CODE
    (pyftpdlib says 550; some servers say 451 or 553).
    gone_code=CODE: a DELE or RMD of a name that is not there gets CODE
    (RFC 959 says 550; a server may say 450).
    busy_dele=N: the first N DELEs of a name that is there get 450.
    idle_timeout=S: a session idle S seconds gets "421 Control connection
    timed out." and is closed, as most servers do (else 120).
    size_prefix=TEXT: SIZE of a file faulty damaged answers "213 " TEXT
    and its size before the damage ("213 -10240": not a size, whose
    digits a lax reader takes for one).
    rename_noop=N: the first N RNTOs are answered 250 and rename nothing
    (recorded in self.faultlog).
    take_renamed=True: a drop box: each file renamed is moved at once out
    of the served tree, into self.taken (named "N-name", N counting).
    closed_data=True: the passive ports are closed (a firewall that passes
    the control port only and rejects the rest): EPSV and PASV name a
    port where every connection is refused.
    stall_226=TEXT: the first upload of a name holding TEXT gets its bytes
    taken and no reply at all (a target that hangs before its 226, once;
    recorded in self.faultlog).
    hold_mfmt=(HOLD, HELD, GO): an MFMT while file HOLD exists removes it,
    makes HELD and is answered only once GO exists (30 s at most): a test
    does something while a time change is on its way.
    no_enter: folders (relative to root) the user may not enter (CWD
    answered "550 Not enough privileges."), nor any under them, all else
    as perm allows (an RNFR or MLST by path still works): set before a
    start() to block folders the mirror made.
    slow_226=(TEXT, SECS): the first upload of a name holding TEXT gets its
    226 SECS seconds after its bytes (a target that scans each file first;
    recorded in self.faultlog).
    """

    what = "pyftpdlib target"

    def __init__(self, user="puser", password="ppass", faulty=0,
                 fault="truncate", hashes=(), read_limit=0, port=0,
                 perm="elradfmwMT", refuse="", refuse_after="",
                 max_cons_per_ip=0, stray_cwd=0, stall_226="", slow_226=None,
                 stor_missing="", gone_code="", busy_dele=0,
                 idle_timeout=0, size_prefix="", rename_noop=0,
                 take_renamed=False, closed_data=False, hold_mfmt=None,
                 start=True):
        self._make_tmp("rftp-pyftpd-")
        self.root = os.path.join(self.tmp, "root")
        os.makedirs(self.root)
        self.user = user
        self.password = password
        self.faulty = faulty
        self.fault = fault
        self.hashes = list(hashes)
        self.read_limit = read_limit
        self.perm = perm
        self.refuse = refuse
        self.refuse_after = refuse_after
        self.max_cons_per_ip = max_cons_per_ip
        self.stray_cwd = stray_cwd
        self.stall_226 = stall_226
        self.slow_226 = slow_226
        self.stor_missing = stor_missing
        self.gone_code = gone_code
        self.busy_dele = busy_dele
        self.idle_timeout = idle_timeout
        self.size_prefix = size_prefix
        self.rename_noop = rename_noop
        self.take_renamed = take_renamed
        self.closed_data = closed_data
        self.hold_mfmt = hold_mfmt
        self.no_enter = []
        self.taken = os.path.join(self.tmp, "taken")
        self.port = port or None
        self._want_port = port
        self.log_path = os.path.join(self.tmp, "pyftpd.log")
        self.out_path = os.path.join(self.tmp, "pyftpd.err")
        self.faultlog = os.path.join(self.tmp, "faults.log")
        self.script = os.path.join(self.tmp, "pyftpd_target.py")
        with open(self.script, "w") as f:
            f.write(_PYFTPD_SCRIPT)
        if start:
            self.start()

    def start(self, port=None, timeout=15):
        """Starts (again); by default on the port it had before. The
        first start picks one below the ephemeral range (free_port), so
        that a restart after an outage finds it free: one bind(0) had
        given it to the next bind(0) on the host while this was down."""
        assert self.proc is None, "already running"
        if port is None:
            port = self.port or self._want_port or 0
        picked = not port
        cfg = {"user": self.user, "password": self.password,
               "root": self.root, "port": port, "faulty": self.faulty,
               "fault": self.fault, "hashes": self.hashes,
               "read_limit": self.read_limit, "log": self.log_path,
               "perm": self.perm, "refuse": self.refuse,
               "refuse_after": self.refuse_after,
               "max_cons_per_ip": self.max_cons_per_ip,
               "stray_cwd": self.stray_cwd, "stall_226": self.stall_226,
               "slow_226": self.slow_226,
               "stor_missing": self.stor_missing,
               "gone_code": self.gone_code,
               "busy_dele": self.busy_dele,
               "idle_timeout": self.idle_timeout,
               "size_prefix": self.size_prefix,
               "rename_noop": self.rename_noop,
               "take_renamed": self.take_renamed,
               "closed_data": self.closed_data,
               "hold_mfmt": self.hold_mfmt,
               "no_enter": self.no_enter,
               "faultlog": self.faultlog}

        def ready(deadline):
            text = self._stdout_line(deadline)
            if text.isdigit():
                self.port = int(text)
                return self
            return None

        def spawn():
            if picked:  # another test may have picked the same one
                cfg["port"] = free_port()
            self._spawn([PYTHON, self.script, json.dumps(cfg)],
                        pipe_stdout=True)

        # A fixed port may still be held for a moment (TIME_WAIT is
        # handled by SO_REUSEADDR, a dying previous owner is not).
        return self._launch(
            spawn, ready, timeout, pause=0.2,
            retry_if=lambda text: "Address already in use" in text)

    def faults(self):
        """[(path, original size)] of the uploads truncated so far."""
        try:
            with open(self.faultlog) as f:
                return [tuple(line.rsplit(" ", 1)) for line in f if line]
        except OSError:
            return []

    def log_text(self):
        """pyftpdlib's own log (output() has the process's stderr)."""
        return read_text(self.log_path)

    def url(self, path="/base", credentials=False):
        auth = "%s:%s@" % (self.user, self.password) if credentials else ""
        return "ftp://%s127.0.0.1:%d%s" % (auth, self.port, path)

    def target(self, path="/base", **extra):
        """[target:NAME] keys for this server (credentials as keys)."""
        spec = {"url": self.url(path), "user": self.user,
                "password": self.password}
        spec.update(extra)
        return spec

    def dir(self, *parts):
        return os.path.join(self.root, *parts)


# ------------------------------------------------------- relayftpd target

RELAY_USER = "mirror"
RELAY_PASSWORD = "mirror-pw"


def relay_target(**kw):
    """A second relayftpd with user "mirror"; use as a downstream target."""
    return Server(users={RELAY_USER: {"password": RELAY_PASSWORD}}, **kw)


class TargetsMixin:
    """For a unittest.TestCase: downstream targets made by a test and
    stopped at its cleanup (cleanups run in reverse order, so a relayftpd
    made after its targets stops before them)."""

    def pyftpd(self, **kw):
        t = PyftpdTarget(**kw)
        self.addCleanup(t.cleanup)
        return t

    def relay(self):
        b = relay_target()
        self.addCleanup(b.cleanup)
        return b


def relay_target_spec(srv, path="/base", **extra):
    """[target:NAME] keys for a relayftpd target (credentials in the URL)."""
    spec = {"url": "ftp://%s:%s@127.0.0.1:%d%s" % (
        RELAY_USER, RELAY_PASSWORD, srv.port, path)}
    spec.update(extra)
    return spec


def relay_dir(srv, *parts):
    return os.path.join(srv.home(RELAY_USER), *parts)


# ------------------------------------------------------------------ misc

# The tests import it from here.
free_port = daemon.free_port

def read(path):
    with open(path, "rb") as f:
        return f.read()


def tree(root):
    """{relative path: bytes} of every file under root, and None for
    every folder (empty ones too): a tree to compare with another."""
    out = {}
    for d, dirs, files in os.walk(root):
        rel = os.path.relpath(d, root)
        for name in dirs:
            out[os.path.normpath(os.path.join(rel, name))] = None
        for name in files:
            out[os.path.normpath(os.path.join(rel, name))] = read(
                os.path.join(d, name))
    return out


def write(path, data):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def tmp_files(root):
    """Paths of mirror temp files (.rftpd-tmp.*) and relayftpd partials of
    them anywhere under root."""
    found = []
    for dirpath, _, filenames in os.walk(root):
        for f in filenames:
            if TMP_PREFIX in f:
                found.append(os.path.join(dirpath, f))
    return sorted(found)


def no_temp_files(root, timeout=10):
    """Polls (bounded) until no temp file is left under root; returns the
    ones still there (empty list = clean)."""
    deadline = time.monotonic() + timeout
    left = tmp_files(root)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = tmp_files(root)
    return left


def missing_files(root, expected):
    """{rel: why} for the entries of expected ({rel: bytes}) that are not
    (yet) under root with exactly those bytes."""
    bad = {}
    for rel, data in expected.items():
        path = os.path.join(root, rel)
        try:
            st = os.stat(path)
        except OSError:
            bad[rel] = "absent"
            continue
        if st.st_size != len(data):
            bad[rel] = "size %d, want %d" % (st.st_size, len(data))
            continue
        try:
            got = read(path)
        except OSError as e:
            bad[rel] = str(e)
            continue
        if got != data:
            bad[rel] = "content differs (%d bytes)" % len(got)
    return bad


def wait_files(root, expected, timeout=60, interval=0.1):
    """Polls until every rel in expected ({rel: bytes}) is under root with
    exactly those bytes. Returns {} on success, else {rel: why}."""
    deadline = time.monotonic() + timeout
    bad = missing_files(root, expected)
    while bad and time.monotonic() < deadline:
        time.sleep(interval)
        bad = missing_files(root, expected)
    return bad


def count_present(root, expected):
    """How many entries of expected ({rel: bytes}) are under root with the
    right size (stat only: cheap enough to poll)."""
    n = 0
    for rel, data in expected.items():
        try:
            if os.stat(os.path.join(root, rel)).st_size == len(data):
                n += 1
        except OSError:
            pass
    return n


def in_flight(root, window=0.05):
    """Temp files under root that are new or growing over `window` seconds
    (a push in progress, as opposed to a leftover)."""
    def sizes():
        out = {}
        for path in tmp_files(root):
            try:
                out[path] = os.stat(path).st_size
            except OSError:
                pass
        return out
    before = sizes()
    time.sleep(window)
    after = sizes()
    return sorted(p for p, n in after.items() if before.get(p) != n)


def list_files(root):
    """Sorted relative paths of every file under root."""
    out = []
    for dirpath, _, filenames in os.walk(root):
        for f in filenames:
            out.append(os.path.relpath(os.path.join(dirpath, f), root))
    return sorted(out)


def settle_running(srv, names=(), timeout=10):
    """Best effort, bounded: waits until no push of the given targets (all
    if none given) is running. A file appears on a target at the rename,
    a moment before relayftpd logs the push and settles the job; once
    nothing runs, the log has every line for what arrived."""
    def quiet():
        try:
            st = srv.status()
        except AssertionError:
            return False
        return all(v["running"] == 0 for k, v in st.items()
                   if not names or k in names)
    return wait_status_value(quiet, timeout)


def wait_status_value(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False
