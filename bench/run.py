#!/usr/bin/python3
"""relayftpd side by side with vsftpd and pure-ftpd, reported as ratios.

`make bench` builds relayftpd optimised (build-bench/) and runs this file;
`bench/run.py --help` lists the sizes and counts. What it does:

1. Installs vsftpd with apt-get when it is missing and it runs as root
   (otherwise it prints the apt-get line and skips it). Debian's vsftpd and
   pure-ftpd packages conflict (both provide ftp-server), and the test suite
   needs vsftpd, so pure-ftpd is never installed: unless /usr/sbin/pure-ftpd
   exists, `apt-get download pure-ftpd` fetches the package and its binary
   is unpacked into build-bench/pure-ftpd/ (its libraries are those of the
   system; a missing one is named).
2. Starts the three servers on 127.0.0.1, each on a free port, with the same
   user and password (a temporary system account) and a fresh home in one
   temporary folder (one filesystem). No server logs per transfer; relayftpd
   has no mirror targets, so its mirror is not started.
3. Runs the same workloads against each server with one client, libcurl
   through pycurl, interleaving the servers within every repetition, and
   takes the median of the repetitions. Every transfer is verified (size
   and SHA-256, computed outside the timed part): a server that loses or
   corrupts bytes fails instead of winning.
4. Prints one table (ratios > 1: relayftpd faster); --out FILE also saves it.

Everything it starts is stopped at the end, on an error and on Ctrl-C, by
process id; the temporary account and folder are removed. Every wait is
bounded. Timing belongs here, never in tests/.
"""
import argparse
import datetime
import hashlib
import io
import os
import platform
import pwd
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.dont_write_bytecode = True     # leave tests/ untouched
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

from daemon import read_text  # noqa: E402
from mirror_peers import (SystemUser, VsftpdPeer, _Daemon,  # noqa: E402
                          free_port)

try:
    import pycurl
except ImportError:
    sys.exit("bench: needs pycurl (Debian: apt-get install python3-pycurl); "
             "run it with /usr/bin/python3")

MIB = 1024 * 1024
VSFTPD = "/usr/sbin/vsftpd"
PUREFTPD = "/usr/sbin/pure-ftpd"
PUREFTPD_LIBS = "libcap2 libcrypt1 libpam0g libsodium23 libssl3"
SERVERS = ("relayftpd", "vsftpd", "pure-ftpd")
MARKER = "bench-marker.txt"


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


class BenchError(Exception):
    """A workload that failed (a transfer error or a verification
    mismatch) for one server."""


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(4 * MIB)
            if not chunk:
                return h.hexdigest()
            h.update(chunk)


def write_random(path, size):
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, 4 * MIB)
            f.write(os.urandom(n))
            left -= n


# ---------------------------------------------------------------- packages

def ensure_vsftpd():
    """Install vsftpd if missing (as root); '' or why it cannot run."""
    if os.access(VSFTPD, os.X_OK):
        return ""
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", "vsftpd"]
    if os.geteuid() != 0:
        log("vsftpd is missing; as root run: apt-get update && %s"
            % " ".join(cmd))
        return "not installed (apt-get install vsftpd)"
    log("installing vsftpd (note: on a host with an init system Debian "
        "also starts its own vsftpd service on port 21)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        subprocess.run(["apt-get", "update", "-qq"], env=env, timeout=300,
                       stdin=subprocess.DEVNULL)
        subprocess.run(cmd, env=env, timeout=600, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pass
    if not os.access(VSFTPD, os.X_OK):
        return "apt-get install vsftpd failed"
    return ""


def ensure_pureftpd(cache):
    """(binary, '') or (None, why). Never installs the package: it would
    remove vsftpd (Conflicts: ftp-server). Fetches it with apt-get download
    and unpacks it under cache instead."""
    if os.access(PUREFTPD, os.X_OK):
        return PUREFTPD, ""
    binary = os.path.join(cache, "usr", "sbin", "pure-ftpd")
    if not os.access(binary, os.X_OK):
        dl = os.path.join(cache, "deb")
        os.makedirs(dl, exist_ok=True)
        log("fetching pure-ftpd: apt-get download pure-ftpd (unpacked "
            "into %s, not installed)" % cache)
        try:
            r = subprocess.run(["apt-get", "download", "pure-ftpd"], cwd=dl,
                               capture_output=True, text=True, timeout=300,
                               stdin=subprocess.DEVNULL)
            debs = sorted(f for f in os.listdir(dl) if f.endswith(".deb"))
            if r.returncode != 0 or not debs:
                return None, ("apt-get download pure-ftpd failed (%s); "
                              "try apt-get update first"
                              % r.stderr.strip().splitlines()[-1:])
            r = subprocess.run(["dpkg-deb", "-x",
                                os.path.join(dl, debs[-1]), cache],
                               capture_output=True, text=True, timeout=60)
            if r.returncode != 0:
                return None, "dpkg-deb -x failed: %s" % r.stderr.strip()
        except (OSError, subprocess.TimeoutExpired) as e:
            return None, "cannot fetch pure-ftpd: %s" % e
    try:
        r = subprocess.run(["ldd", binary], capture_output=True, text=True,
                           timeout=30)
        if "not found" in r.stdout:
            return None, ("libraries missing (%s); apt-get install %s"
                          % ", ".join(l.split()[0] for l in
                                      r.stdout.splitlines()
                                      if "not found" in l), PUREFTPD_LIBS)
    except (OSError, subprocess.TimeoutExpired):
        pass
    return binary, ""


# ---------------------------------------------------------------- servers

class Daemon(_Daemon):
    """A foreground server whose output goes to a file; stop() by pid
    (SIGTERM, then SIGKILL after 10 s) comes from the tests' peers."""

    name = "?"
    err = None

    def _spawn(self, cmd, stdout_path, stderr_path=None):
        self.out = open(stdout_path, "ab")
        err = self.out
        if stderr_path is not None:
            self.err = open(stderr_path, "ab")
            err = self.err
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=err,
                                     stdin=subprocess.DEVNULL)

    def stop(self):
        super().stop()
        if self.err is not None:
            self.err.close()
            self.err = None


def banner(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            return s.recv(512).decode(errors="replace")
    except OSError:
        return ""


class Relayftpd(Daemon):
    """relayftpd with a temporary relayftpd.ini + users.ini, port 0 (the
    real port is read from its "listening on" line), log_level warn, no
    mirror targets; run_as the benchmark account when started as root."""

    name = "relayftpd"

    def __init__(self, binary, folder, user, password, account, extra):
        self.binary = binary
        self.folder = folder
        self.user = user
        self.password = password
        self.home = os.path.join(folder, "home")
        os.makedirs(self.home)
        os.chmod(folder, 0o755)
        if account is not None:
            os.chown(self.home, account.uid, account.gid)
        hashed = subprocess.run([binary, "passwd"], input=password + "\n",
                                capture_output=True, text=True, timeout=30,
                                check=True).stdout.strip()
        self.config = os.path.join(folder, "relayftpd.ini")
        opts = {"listen": "127.0.0.1:0",
                "users_file": "users.ini",
                "log_level": "warn",
                "max_clients": "64",
                "max_clients_per_ip": "32"}
        if account is not None:
            opts["run_as"] = account.name
        opts.update(extra)
        with open(self.config, "w") as f:
            f.write("[server]\n")
            for k, v in opts.items():
                f.write("%s = %s\n" % (k, v))
        with open(os.path.join(folder, "users.ini"), "w") as f:
            f.write("[%s]\npassword = %s\nhome = %s\npermissions = rw\n"
                    % (user, hashed, self.home))
        self.out_path = os.path.join(folder, "stdout.txt")
        self.err_path = os.path.join(folder, "stderr.txt")
        self.port = None

    def start(self, timeout=15):
        self._spawn([self.binary, "--config", self.config], self.out_path,
                    self.err_path)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)",
                          read_text(self.out_path))
            if m:
                self.port = int(m.group(1))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        text = read_text(self.err_path)
        self.stop()
        raise RuntimeError("relayftpd did not start:\n%s" % text)


class Vsftpd(VsftpdPeer):
    """The integration tests' vsftpd (foreground, local_root, no seccomp or
    namespaces), without its protocol and transfer logs: no server in the
    benchmark logs per command or per transfer."""

    name = "vsftpd"

    def _write_config(self):
        lines = [
            "listen=YES", "listen_ipv6=NO", "listen_address=127.0.0.1",
            "listen_port=%d" % self.port, "background=NO",
            "anonymous_enable=NO", "local_enable=YES", "write_enable=YES",
            "local_umask=022", "local_root=%s" % self.root,
            "seccomp_sandbox=NO", "isolate=NO", "isolate_network=NO",
            "secure_chroot_dir=%s" % self.empty,
            "pam_service_name=vsftpd", "userlist_enable=NO",
            "tcp_wrappers=NO", "use_localtime=NO",
            "pasv_enable=YES", "pasv_min_port=0", "pasv_max_port=0",
            "xferlog_enable=NO", "log_ftp_protocol=NO",
            "idle_session_timeout=120", "data_connection_timeout=60",
        ]
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")

    @property
    def home(self):
        return self.root


class PureFtpd(Daemon):
    """pure-ftpd in the foreground (no -B) on 127.0.0.1:<free port>:
    unix (shadow + crypt(3)) logins of the benchmark account, whose home
    is the login folder; no anonymous, no DNS look-ups, no syslog, a
    passive port range."""

    name = "pure-ftpd"

    def __init__(self, binary, folder, account):
        self.binary = binary
        self.folder = folder
        self.home = account.home
        self.out_path = os.path.join(folder, "pure-ftpd.out")
        self.port = None

    def start(self, timeout=15):
        deadline = time.monotonic() + timeout
        while True:
            self.port = free_port()
            mark = len(read_text(self.out_path))
            self._spawn([self.binary, "-S", "127.0.0.1,%d" % self.port,
                         "-l", "unix", "-E", "-H", "-f", "none",
                         "-p", "40000:59999", "-c", "64", "-C", "32",
                         "-U", "133:022"], self.out_path)
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                if banner(self.port).startswith("220"):
                    return
                time.sleep(0.05)
            text = read_text(self.out_path)[mark:]
            self.stop()
            if "in use" in text and time.monotonic() < deadline:
                continue
            raise RuntimeError("pure-ftpd did not start:\n%s" % text)


# ---------------------------------------------------------------- client

class Target:
    """What the client knows of one running server."""

    def __init__(self, name, port, user, password, home, owner):
        self.name = name
        self.port = port
        self.user = user
        self.password = password
        self.home = home
        self.owner = owner      # (uid, gid) for files placed in the home

    def url(self, path=""):
        return "ftp://127.0.0.1:%d/%s" % (self.port, path)

    def place(self, rel, data=None, src=None):
        """Put a file into the home outside any timing (page cache warm)."""
        path = os.path.join(self.home, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if src is not None:
            shutil.copyfile(src, path)
        else:
            with open(path, "wb") as f:
                f.write(data)
        self.chown(path)

    def mkdir(self, rel):
        path = os.path.join(self.home, rel)
        os.makedirs(path, exist_ok=True)
        self.chown(path)

    def chown(self, path):
        if self.owner is not None:
            os.chown(path, *self.owner)


# libcurl 7.88 (Debian 12) sometimes leaves a new passive data connection
# out of its wait set, so a transfer stalls for its whole 1 s poll timeout;
# it shows with several transfers at once (seen against vsftpd and
# pure-ftpd). The client therefore drives every transfer through a multi
# handle and never waits longer than this for a socket.
POLL_CAP = 0.001


def handle(t):
    c = pycurl.Curl()
    c.setopt(pycurl.USERPWD, "%s:%s" % (t.user, t.password))
    c.setopt(pycurl.NOSIGNAL, 1)
    c.setopt(pycurl.CONNECTTIMEOUT, 10)
    c.setopt(pycurl.TIMEOUT, 900)
    c.setopt(pycurl.LOW_SPEED_LIMIT, 1024)
    c.setopt(pycurl.LOW_SPEED_TIME, 30)
    c.setopt(pycurl.BUFFERSIZE, 256 * 1024)
    if hasattr(pycurl, "UPLOAD_BUFFERSIZE"):
        c.setopt(pycurl.UPLOAD_BUFFERSIZE, 256 * 1024)
    return c


def multi():
    m = pycurl.CurlMulti()
    # Keep every idle logged-in connection for the next transfer.
    m.setopt(pycurl.M_MAXCONNECTS, 64)
    return m


def run_all(m, handles, what):
    """Run the prepared transfers of handles at once on multi m; raise
    BenchError on the first curl error. The connections stay in m's cache
    for the next call."""
    for c in handles:
        m.add_handle(c)
    errors = []
    try:
        deadline = time.monotonic() + 960
        active = len(handles)
        while active:
            ret, active = m.perform()
            if ret == pycurl.E_CALL_MULTI_PERFORM or not active:
                continue
            if time.monotonic() > deadline:
                raise BenchError("%s: no end after 960 s" % what)
            m.select(POLL_CAP)
        while True:
            left, _, err = m.info_read()
            errors += err
            if not left:
                break
    finally:
        for c in handles:
            m.remove_handle(c)
    if errors:
        raise BenchError("%s: curl error %d (%s)" % (what, errors[0][1],
                                                     errors[0][2]))


class Client:
    """One FTP client: an easy handle on a multi of its own, so its
    logged-in control connection is reused by every later transfer."""

    def __init__(self, t):
        self.t = t
        self.c = handle(t)
        self.m = multi()

    def close(self):
        self.c.close()
        self.m.close()

    def warm(self):
        prep_login(self.c, self.t)
        run_all(self.m, [self.c], "login")

    def download(self, rel, want=226):
        buf = prep_download(self.c, self.t, rel)
        run_all(self.m, [self.c], "RETR " + rel)
        check_code(self.c, "RETR " + rel, want)
        return buf

    def upload(self, rel, reader, size):
        prep_upload(self.c, self.t, rel, reader, size)
        run_all(self.m, [self.c], "STOR " + rel)
        check_code(self.c, "STOR " + rel, 226)


def prep_login(c, t):
    """Connect and log in only (untimed); later transfers reuse it."""
    c.setopt(pycurl.URL, t.url())
    c.setopt(pycurl.UPLOAD, 0)
    c.setopt(pycurl.NOBODY, 1)


def prep_download(c, t, rel):
    """RETR rel, or LIST for "" (the login folder). Returns the buffer."""
    buf = io.BytesIO()
    c.setopt(pycurl.NOBODY, 0)
    c.setopt(pycurl.UPLOAD, 0)
    c.setopt(pycurl.URL, t.url(rel))
    c.setopt(pycurl.WRITEFUNCTION, buf.write)
    return buf


def prep_upload(c, t, rel, reader, size):
    c.setopt(pycurl.NOBODY, 0)
    c.setopt(pycurl.UPLOAD, 1)
    c.setopt(pycurl.URL, t.url(rel))
    c.setopt(pycurl.READFUNCTION, reader)
    c.setopt(pycurl.INFILESIZE_LARGE, size)


def check_code(c, what, want):
    code = c.getinfo(pycurl.RESPONSE_CODE)
    if code != want:
        raise BenchError("%s: last reply %d, want %d" % (what, code, want))


def new_control(c):
    """Control connections the last transfer had to open: libcurl counts
    the data connection too."""
    return c.getinfo(pycurl.NUM_CONNECTS) - 1


def check_bytes(what, got, size, digest):
    if len(got) != size or sha256(got) != digest:
        raise BenchError("%s: got %d bytes (sha256 %s), want %d (%s)"
                         % (what, len(got), sha256(got)[:12], size,
                            digest[:12]))


def check_stored(t, rel, size, digest):
    path = os.path.join(t.home, rel)
    try:
        st = os.stat(path)
    except OSError as e:
        raise BenchError("%s not stored: %s" % (rel, e))
    if st.st_size != size or sha256_file(path) != digest:
        raise BenchError("%s stored with %d bytes or wrong SHA-256, want %d"
                         % (rel, st.st_size, size))


# ---------------------------------------------------------------- workloads

class Data:
    """The pre-generated files and their digests."""

    def __init__(self, folder, args):
        self.folder = folder
        self.big = os.path.join(folder, "big.bin")
        self.big_size = args.big_mib * MIB
        write_random(self.big, self.big_size)
        self.big_sha = sha256_file(self.big)
        self.small = [os.urandom(args.small_kib * 1024)
                      for _ in range(args.small_count)]
        self.small_sha = [sha256(b) for b in self.small]
        self.par_size = args.parallel_mib * MIB
        self.par = []
        for i in range(args.parallel):
            p = os.path.join(folder, "par-%d.bin" % i)
            write_random(p, self.par_size)
            self.par.append((p, sha256_file(p)))

    def place(self, t):
        t.place("big-dl.bin", src=self.big)
        for i, b in enumerate(self.small):
            t.place("small-src/f%04d.bin" % i, data=b)
        for i, (p, _) in enumerate(self.par):
            t.place("par-%d.bin" % i, src=p)
        t.place(MARKER, data=b"relayftpd benchmark\n")


def wl_upload_big(t, d, args, rep):
    rel = "big-up-%d.bin" % rep
    cl = Client(t)
    try:
        cl.warm()
        with open(d.big, "rb") as f:
            t0 = time.perf_counter()
            cl.upload(rel, f.read, d.big_size)
            dt = time.perf_counter() - t0
    finally:
        cl.close()
    check_stored(t, rel, d.big_size, d.big_sha)
    os.unlink(os.path.join(t.home, rel))
    return d.big_size / MIB / dt


def wl_download_big(t, d, args, rep):
    cl = Client(t)
    try:
        cl.warm()
        t0 = time.perf_counter()
        buf = cl.download("big-dl.bin")
        dt = time.perf_counter() - t0
    finally:
        cl.close()
    check_bytes("big-dl.bin", buf.getbuffer(), d.big_size, d.big_sha)
    return d.big_size / MIB / dt


def wl_upload_small(t, d, args, rep):
    folder = "small-up-%d" % rep
    t.mkdir(folder)
    cl = Client(t)
    new_conns = 0
    try:
        cl.warm()
        t0 = time.perf_counter()
        for i, b in enumerate(d.small):
            cl.upload("%s/f%04d.bin" % (folder, i), io.BytesIO(b).read,
                      len(b))
            new_conns += new_control(cl.c)
        dt = time.perf_counter() - t0
    finally:
        cl.close()
    if new_conns:
        raise BenchError("small uploads opened %d new control connections"
                         % new_conns)
    for i, b in enumerate(d.small):
        check_stored(t, "%s/f%04d.bin" % (folder, i), len(b), d.small_sha[i])
    shutil.rmtree(os.path.join(t.home, folder))
    return len(d.small) / dt


def wl_download_small(t, d, args, rep):
    cl = Client(t)
    got = []
    new_conns = 0
    try:
        cl.warm()
        t0 = time.perf_counter()
        for i in range(len(d.small)):
            got.append(cl.download("small-src/f%04d.bin" % i))
            new_conns += new_control(cl.c)
        dt = time.perf_counter() - t0
    finally:
        cl.close()
    if new_conns:
        raise BenchError("small downloads opened %d new control connections"
                         % new_conns)
    for i, buf in enumerate(got):
        check_bytes("small-src/f%04d.bin" % i, buf.getbuffer(),
                    len(d.small[i]), d.small_sha[i])
    return len(d.small) / dt


def wl_parallel(t, d, args, rep):
    """N clients on one multi handle (one client thread, as libcurl
    intends): all log in first (untimed), then all download at once."""
    n = len(d.par)
    m = multi()
    hs = [handle(t) for _ in range(n)]
    try:
        for c in hs:
            prep_login(c, t)
        run_all(m, hs, "parallel logins")
        bufs = [prep_download(c, t, "par-%d.bin" % i)
                for i, c in enumerate(hs)]
        t0 = time.perf_counter()
        run_all(m, hs, "parallel RETR")
        dt = time.perf_counter() - t0
        for i, c in enumerate(hs):
            check_code(c, "RETR par-%d.bin" % i, 226)
            if new_control(c):
                raise BenchError("parallel client %d logged in again" % i)
    finally:
        for c in hs:
            c.close()
        m.close()
    for i, buf in enumerate(bufs):
        check_bytes("par-%d.bin" % i, buf.getbuffer(), d.par_size,
                    d.par[i][1])
    return n * d.par_size / MIB / dt


def wl_logins(t, d, args, rep):
    """Connect, USER/PASS, LIST, QUIT: one fresh session each time."""
    m = multi()
    t0 = time.perf_counter()
    try:
        for i in range(args.logins):
            c = handle(t)
            try:
                c.setopt(pycurl.FRESH_CONNECT, 1)
                # libcurl then sends QUIT right after the listing, so the
                # last reply is QUIT's 221.
                c.setopt(pycurl.FORBID_REUSE, 1)
                buf = prep_download(c, t, "")
                run_all(m, [c], "login + LIST")
                check_code(c, "login + LIST + QUIT", 221)
                if new_control(c) != 1:
                    raise BenchError("login %d reused a connection" % i)
            finally:
                c.close()
            if MARKER.encode() not in buf.getvalue():
                raise BenchError("LIST after login %d lacks %s" % (i, MARKER))
    finally:
        m.close()
    return args.logins / (time.perf_counter() - t0)


def workloads(args):
    return [
        ("upload 1 x %d MiB" % args.big_mib, "MiB/s", wl_upload_big),
        ("download 1 x %d MiB" % args.big_mib, "MiB/s", wl_download_big),
        ("upload %d x %d KiB, one session" % (args.small_count,
                                              args.small_kib),
         "files/s", wl_upload_small),
        ("download %d x %d KiB, one session" % (args.small_count,
                                                args.small_kib),
         "files/s", wl_download_small),
        ("%d clients x %d MiB download" % (args.parallel,
                                           args.parallel_mib),
         "MiB/s", wl_parallel),
        ("login + LIST + QUIT x %d" % args.logins, "sessions/s", wl_logins),
    ]


# ---------------------------------------------------------------- report

def package_version(pkg):
    try:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg],
                           capture_output=True, text=True, timeout=10)
        return r.stdout.strip() or "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def pureftpd_version(binary):
    if binary is None:
        return "n/a"
    try:
        r = subprocess.run([binary, "--help"], capture_output=True,
                           text=True, timeout=10, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    m = re.search(r"v(\d[\w.]*)", r.stdout + r.stderr)
    return m.group(1) if m else "?"


def git_rev():
    try:
        r = subprocess.run(["git", "-C", REPO, "rev-parse", "--short",
                            "HEAD"], capture_output=True, text=True,
                           timeout=10)
        return r.stdout.strip() or "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def shadow_scheme(account):
    """How the system account's password is hashed (crypt(3) prefix)."""
    schemes = {"$y$": "yescrypt", "$6$": "SHA-512 crypt",
               "$5$": "SHA-256 crypt", "$1$": "MD5 crypt",
               "$gy$": "gost-yescrypt", "$2b$": "bcrypt"}
    try:
        with open("/etc/shadow") as f:
            for line in f:
                name, h = line.split(":")[:2]
                if name == account:
                    for p, s in schemes.items():
                        if h.startswith(p):
                            return s
                    return "crypt(3)"
    except OSError:
        pass
    return "crypt(3)"


def header(args, skipped, scheme, pure_binary, load):
    lines = [
        "# relayftpd benchmark, %s" % datetime.datetime.now().strftime(
            "%Y-%m-%d %H:%M"),
        "",
        "- machine: %s, %d CPU(s), Linux %s; relayftpd %s (Release build), "
        "vsftpd %s, pure-ftpd %s; client: libcurl via pycurl %s"
        % (cpu_model(), os.cpu_count() or 0, platform.release(), git_rev(),
           package_version("vsftpd"), pureftpd_version(pure_binary),
           pycurl.version.split()[0].split("/")[-1]),
        "- median of %d run(s); servers interleaved within each run; ratios "
        "> 1 mean relayftpd is faster; load average at the start: %.2f"
        % (args.repeat, load),
        "- caveats: loopback only, client and servers share the same "
        "machine and its CPUs (the client's own work compresses the "
        "ratios); files are in the page cache; no server logs per "
        "transfer; relayftpd has no mirror targets (its mirror is off)",
        "- transfers are timed on an already logged-in session; the login "
        "row is the cost of a whole session, and it is meant to be slower "
        "for relayftpd: its argon2id password check (m=64 MiB, t=2) is "
        "deliberately expensive, while vsftpd (PAM) and pure-ftpd (unix) "
        "check the system account with crypt(3)%s"
        % (" (%s here)" % scheme if scheme != "n/a" else ""),
    ]
    if "upload_close_grace_ms" in args.extra:
        lines.append("- relayftpd with %s" % ", ".join(
            "%s = %s" % kv for kv in args.extra.items()))
    else:
        lines.append(
            "- relayftpd runs with its defaults%s, so each upload also waits "
            "upload_close_grace_ms = 5 after its data connection closes "
            "(watching for a client that died) before its 226: that is most "
            "of the small-upload time (--relayftpd-set "
            "upload_close_grace_ms=0 measures without it)"
            % ("".join(", %s = %s" % kv for kv in args.extra.items())))
    for name, why in skipped.items():
        lines.append("- %s skipped: %s" % (name, why))
    return lines


def fmt(v):
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return v
    return "%.0f" % v if v >= 100 else "%.1f" % v


def ratio(a, b):
    if not isinstance(a, float) or not isinstance(b, float) or b == 0:
        return "n/a"
    return "%.2f" % (a / b)


def table(rows, results):
    out = ["| workload | relayftpd | vsftpd | pure-ftpd | relayftpd/vsftpd "
           "| relayftpd/pure-ftpd |",
           "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for label, unit, _ in rows:
        r = results[label]
        cells = [fmt(r.get(s)) for s in SERVERS]
        out.append("| %s (%s) | %s | %s | %s | %s | %s |" % (
            label, unit, cells[0], cells[1], cells[2],
            ratio(r.get("relayftpd"), r.get("vsftpd")),
            ratio(r.get("relayftpd"), r.get("pure-ftpd"))))
    return out


# ---------------------------------------------------------------- main

def spread_table(rows, samples):
    """min-max of the runs, to judge how far a ratio can be trusted."""
    out = ["", "Run-to-run spread (slowest - fastest run):", "",
           "| workload | relayftpd | vsftpd | pure-ftpd |",
           "| --- | ---: | ---: | ---: |"]
    for label, unit, _ in rows:
        cells = []
        for srv in SERVERS:
            v = samples[label].get(srv)
            cells.append("%s - %s" % (fmt(min(v)), fmt(max(v))) if v
                         else "n/a")
        out.append("| %s (%s) | %s | %s | %s |" % ((label, unit) +
                                                   tuple(cells)))
    return out


def parse_args():
    p = argparse.ArgumentParser(
        description="relayftpd vs vsftpd vs pure-ftpd on loopback")
    p.add_argument("--binary", default=os.path.join(REPO, "build-bench",
                                                    "relayftpd"),
                   help="relayftpd binary (default: build-bench/relayftpd)")
    p.add_argument("--big-mib", type=int, default=None,
                   help="size of the large upload/download (256)")
    p.add_argument("--small-count", type=int, default=None,
                   help="number of small files (500)")
    p.add_argument("--small-kib", type=int, default=None,
                   help="size of each small file (4)")
    p.add_argument("--parallel", type=int, default=None,
                   help="parallel downloading clients (8)")
    p.add_argument("--parallel-mib", type=int, default=None,
                   help="file size each parallel client downloads (32)")
    p.add_argument("--logins", type=int, default=None,
                   help="login + LIST + QUIT sessions (100)")
    p.add_argument("--repeat", type=int, default=None,
                   help="runs per workload; the median is reported (3)")
    p.add_argument("--quick", action="store_true",
                   help="a smoke test: 32 MiB, 100 small files, 8 x 8 MiB, "
                   "30 logins, 1 run (options given still win)")
    p.add_argument("--servers", default=",".join(SERVERS),
                   help="comma-separated subset of %s" % ",".join(SERVERS))
    p.add_argument("--relayftpd-set", action="append", default=[],
                   metavar="KEY=VALUE",
                   help="extra [server] key for relayftpd (repeatable), "
                   "e.g. upload_close_grace_ms=0")
    p.add_argument("--cache", default=os.path.join(REPO, "build-bench",
                                                   "pure-ftpd"),
                   help="where a fetched pure-ftpd package is unpacked "
                   "(default: build-bench/pure-ftpd)")
    p.add_argument("--tmpdir", default=None,
                   help="folder for the data and homes (default: $TMPDIR)")
    p.add_argument("--out", default=None,
                   help="also save the table as markdown in this file")
    a = p.parse_args()
    full = {"big_mib": 256, "small_count": 500, "small_kib": 4,
            "parallel": 8, "parallel_mib": 32, "logins": 100, "repeat": 3}
    quick = dict(full, big_mib=32, small_count=100, parallel_mib=8,
                 logins=30, repeat=1)
    for k, v in (quick if a.quick else full).items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    servers = [s.strip() for s in a.servers.split(",") if s.strip()]
    bad = [s for s in servers if s not in SERVERS]
    if bad:
        p.error("unknown server(s): %s" % ", ".join(bad))
    a.servers = servers
    a.extra = {}
    for kv in a.relayftpd_set:
        k, sep, v = kv.partition("=")
        if not sep:
            p.error("--relayftpd-set wants KEY=VALUE, got %r" % kv)
        a.extra[k.strip()] = v.strip()
    for n in ("big_mib", "small_count", "small_kib", "parallel",
              "parallel_mib", "logins", "repeat"):
        if getattr(a, n) < 1:
            p.error("--%s must be at least 1" % n.replace("_", "-"))
    return a


def on_sigterm(signum, frame):
    raise KeyboardInterrupt


def main():
    args = parse_args()
    signal.signal(signal.SIGTERM, on_sigterm)
    if not os.access(args.binary, os.X_OK):
        sys.exit("bench: no relayftpd binary at %s (make bench builds it)"
                 % args.binary)
    skipped = {}
    pure_binary = None
    for s in SERVERS:
        if s not in args.servers:
            skipped[s] = "not selected (--servers)"
        elif s != "relayftpd" and os.geteuid() != 0:
            skipped[s] = ("needs root: it logs in a temporary system "
                          "account (run make bench as root)")
        elif s == "vsftpd":
            why = ensure_vsftpd()
            if why:
                skipped[s] = why
        elif s == "pure-ftpd":
            pure_binary, why = ensure_pureftpd(args.cache)
            if why:
                skipped[s] = why
    for s, why in skipped.items():
        if "--servers" not in why:
            log("%s skipped: %s" % (s, why))

    load = os.getloadavg()[0]
    work = tempfile.mkdtemp(prefix="rftp-bench-", dir=args.tmpdir)
    os.chmod(work, 0o755)
    # The vsftpd helper makes its folders with tempfile: keep them in ours.
    tempfile.tempdir = work
    daemons = []
    account = None
    try:
        log("generating data in %s" % work)
        data_dir = os.path.join(work, "data")
        os.makedirs(data_dir)
        data = Data(data_dir, args)
        password = "Bench-" + os.urandom(6).hex()
        user = None
        if os.geteuid() == 0:
            # Its home is pure-ftpd's login folder; vsftpd also needs it to
            # exist (it changes into it before local_root).
            account = SystemUser(os.path.join(work, "pure-ftpd", "home"))
            os.makedirs(account.home)
            os.chown(account.home, account.uid, account.gid)
            user, password = account.name, account.password
        else:
            user = pwd.getpwuid(os.getuid()).pw_name
        owner = (account.uid, account.gid) if account else None
        targets = []
        for name in args.servers:
            if name in skipped:
                continue
            try:
                if name == "relayftpd":
                    d = Relayftpd(args.binary, os.path.join(work, name),
                                  user, password, account, args.extra)
                    daemons.append(d)
                    d.start()
                elif name == "vsftpd":
                    d = Vsftpd(account, start=False)
                    daemons.append(d)
                    d.start()
                else:
                    d = PureFtpd(pure_binary, os.path.join(work, name),
                                 account)
                    daemons.append(d)
                    d.start()
            except (RuntimeError, OSError) as e:
                log("%s: %s" % (name, e))
                skipped[name] = "did not start (%s)" % str(e).splitlines()[0]
                continue
            t = Target(name, d.port, user, password, d.home, owner)
            data.place(t)
            targets.append(t)
            log("%s on 127.0.0.1:%d, home %s" % (name, d.port, d.home))
        if not targets:
            sys.exit("bench: no server could be started")

        rows = workloads(args)
        results = {}
        all_samples = {}
        for label, unit, fn in rows:
            samples = {t.name: [] for t in targets}
            failed = {}
            for rep in range(args.repeat):
                # Rotate who goes first, so no server always runs right
                # after the same neighbour.
                k = rep % len(targets)
                for t in targets[k:] + targets[:k]:
                    if t.name in failed:
                        continue
                    try:
                        v = fn(t, data, args, rep)
                    except BenchError as e:
                        log("%s / %s: FAILED: %s" % (label, t.name, e))
                        failed[t.name] = "FAIL"
                        continue
                    samples[t.name].append(v)
                    log("%s / %s run %d: %s %s" % (label, t.name, rep + 1,
                                                   fmt(v), unit))
            all_samples[label] = samples
            results[label] = {}
            for t in targets:
                results[label][t.name] = failed.get(t.name) or float(
                    statistics.median(samples[t.name]))
        scheme = shadow_scheme(account.name) if account else "n/a"
        text = header(args, skipped, scheme, pure_binary, load) + [""] + \
            table(rows, results)
        if args.repeat > 1:
            text += spread_table(rows, all_samples)
        print("\n".join(text))
        if args.out:
            with open(args.out, "w") as f:
                f.write("\n".join(text) + "\n")
            log("saved %s" % args.out)
        return 1 if any(v == "FAIL" for r in results.values()
                        for v in r.values()) else 0
    except KeyboardInterrupt:
        log("interrupted; stopping the servers")
        return 130
    finally:
        for d in daemons:
            try:
                d.stop()
            except Exception as e:  # keep stopping the others
                log("stopping %s: %s" % (d.name, e))
        if account is not None:
            account.remove()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
