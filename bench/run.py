#!/usr/bin/python3
"""relayftpd side by side with vsftpd and pure-ftpd, and its relay against
uploading straight to the relay's target; every row of issue 10.

`make bench` builds relayftpd optimised (build-bench/) and runs this file;
`bench/run.py --help` lists the options (--only ROW..., --reps N, --quick).
What it does:

1. Installs vsftpd with apt-get when it is missing and it runs as root
   (otherwise it prints the apt-get line and skips it). Debian's vsftpd and
   pure-ftpd packages conflict (both provide ftp-server), and the test suite
   needs vsftpd, so pure-ftpd is never installed: unless /usr/sbin/pure-ftpd
   exists, `apt-get download pure-ftpd` fetches the package and its binary
   is unpacked into build-bench/pure-ftpd/ (its libraries are those of the
   system; a missing one is named).
2. Builds the client, bench/ftpclient.c (raw sockets, one process, a few
   system calls per transfer), with the system cc into build-bench/bench/.
3. Starts the three servers on 127.0.0.1, each on a free port, with the same
   user and password (a temporary system account) and homes on tmpfs
   (/dev/shm, as the issue measured), twice: once with any passive port,
   once with a 40-port passive range. No server logs per transfer. The
   relay rows start one more relayftpd whose mirror has one target, a
   vsftpd on loopback, and compare with the same client uploading straight
   to that vsftpd.
4. Runs every row with the servers interleaved within each repetition and
   reports medians, relayftpd's ratio to the best anchor, the issue's
   target and whether it is met. Every byte is checked: the client compares
   what it downloads with the reference, and run.py checks the SHA-256 of
   every stored or mirrored file outside the timed part; a server that
   loses or corrupts bytes fails the row instead of winning. The relay
   rows also say where the CPU went (CpuMeter: the machine, the relaying
   relayftpd and the client, during the client's timed window).

Everything it starts is stopped at the end, on an error and on Ctrl-C, by
process id; the temporary account and folder are removed. Every wait is
bounded. Timing belongs here, never in tests/.
"""
import argparse
import datetime
import hashlib
import os
import platform
import resource
import re
import select
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

from daemon import free_port_range, read_text  # noqa: E402
from mirror_peers import (SystemUser, VsftpdPeer, _Daemon,  # noqa: E402
                          free_port)

KIB = 1024
MIB = 1024 * 1024
VSFTPD = "/usr/sbin/vsftpd"
PUREFTPD = "/usr/sbin/pure-ftpd"
PUREFTPD_LIBS = "libcap2 libcrypt1 libpam0g libsodium23 libssl3"
SERVERS = ("relayftpd", "vsftpd", "pure-ftpd")
ANCHORS = ("vsftpd", "pure-ftpd")
CLIENT_SRC = os.path.join(HERE, "ftpclient.c")
NULL_SRC = os.path.join(HERE, "nullftpd.c")
PASV_RANGE = 40


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
    real port is read from its "listening on" line), log_level warn; no
    mirror unless mirror (a dict of [target:down] keys) is given; run_as
    the benchmark account when started as root."""

    name = "relayftpd"

    def __init__(self, binary, folder, user, password, account, extra,
                 pasv=None, mirror=None, mirror_extra=None):
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
                "max_clients": "512",
                "max_clients_per_ip": "512"}
        if pasv is not None:
            opts["passive_ports"] = "%d-%d" % pasv
        if account is not None:
            opts["run_as"] = account.name
        opts.update(extra)
        with open(self.config, "w") as f:
            f.write("[server]\n")
            for k, v in opts.items():
                f.write("%s = %s\n" % (k, v))
            if mirror is not None:
                f.write("\n[mirror]\nqueue = queue.db\n")
                for k, v in (mirror_extra or {}).items():
                    f.write("%s = %s\n" % (k, v))
                f.write("\n[target:down]\n")
                for k, v in mirror.items():
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
    pasv = None
    max_rate = 0  # local_max_rate (bytes/s per session), 0: none

    def _write_config(self):
        lo, hi = self.pasv or (0, 0)
        lines = [
            "listen=YES", "listen_ipv6=NO", "listen_address=127.0.0.1",
            "listen_port=%d" % self.port, "background=NO",
            "anonymous_enable=NO", "local_enable=YES", "write_enable=YES",
            "local_umask=022", "local_root=%s" % self.root,
            "seccomp_sandbox=NO", "isolate=NO", "isolate_network=NO",
            "secure_chroot_dir=%s" % self.empty,
            "pam_service_name=vsftpd", "userlist_enable=NO",
            "tcp_wrappers=NO", "use_localtime=NO",
            "pasv_enable=YES", "pasv_min_port=%d" % lo,
            "pasv_max_port=%d" % hi, "max_clients=0", "max_per_ip=0",
            "xferlog_enable=NO", "log_ftp_protocol=NO",
            "idle_session_timeout=120", "data_connection_timeout=60",
        ]
        if self.max_rate:
            lines.append("local_max_rate=%d" % self.max_rate)
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")

    @property
    def home(self):
        return self.root


class PureFtpd(Daemon):
    """pure-ftpd in the foreground (no -B) on 127.0.0.1:<free port>:
    unix (shadow + crypt(3)) logins of the benchmark account, whose home
    is the login folder; no anonymous, no DNS look-ups, no syslog, room
    for 512 sessions and 100,000-entry listings; pasv: a passive port
    range."""

    name = "pure-ftpd"

    def __init__(self, binary, folder, account, pasv=None):
        self.binary = binary
        self.pasv = pasv
        self.folder = folder
        self.home = account.home
        self.out_path = os.path.join(folder, "pure-ftpd.out")
        self.port = None

    def start(self, timeout=15):
        deadline = time.monotonic() + timeout
        while True:
            self.port = free_port()
            mark = len(read_text(self.out_path))
            cmd = [self.binary, "-S", "127.0.0.1,%d" % self.port,
                   "-l", "unix", "-E", "-H", "-f", "none",
                   "-c", "512", "-C", "512", "-L", "100000:8",
                   "-U", "133:022"]
            if self.pasv is not None:
                cmd += ["-p", "%d:%d" % self.pasv]
            self._spawn(cmd, self.out_path)
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


class NullFtpd(Daemon):
    """bench/nullftpd.c: the least a server can do for an upload (it
    creates and writes the file, nothing else; one passive listener kept
    for the whole session, so an EPSV costs it no socket, where servers
    open one each). Not a server: the small-STOR rows' ceiling on this
    host."""

    name = "nullftpd"

    def __init__(self, binary, folder, owner):
        self.binary = binary
        self.home = os.path.join(folder, "home")
        os.makedirs(self.home)
        chown(self.home, owner)
        self.port_file = os.path.join(folder, "port")
        self.out_path = os.path.join(folder, "nullftpd.out")
        self.port = None

    def start(self, timeout=15):
        self._spawn([self.binary, "-s", self.home, self.port_file],
                    self.out_path)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            text = read_text(self.port_file).strip()
            if text.isdigit() and banner(int(text)).startswith("220"):
                self.port = int(text)
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("nullftpd did not start:\n%s" %
                           read_text(self.out_path))


# ---------------------------------------------------------------- client

def build_client(out_dir, src=CLIENT_SRC):
    """bench/ftpclient.c (or src: bench/nullftpd.c) with the system cc into
    out_dir (rebuilt when the source is newer); the path of the binary."""
    os.makedirs(out_dir, exist_ok=True)
    binary = os.path.join(out_dir, os.path.basename(src)[:-2])
    if os.path.exists(binary) and \
            os.path.getmtime(binary) >= os.path.getmtime(src):
        return binary
    cmd = ["cc", "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror",
           "-pthread", "-o", binary, src]
    log("building %s: %s" % (os.path.basename(src), " ".join(cmd)))
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        sys.exit("bench: cannot build %s:\n%s" % (src, r.stderr))
    return binary


def parse_kv(line):
    out = {}
    for word in line.split():
        k, sep, v = word.partition("=")
        if not sep:
            continue
        try:
            out[k] = float(v)
        except ValueError:
            out[k] = v
    return out


class Target:
    """What the client knows of one running server."""

    def __init__(self, name, port, user, password, home, owner, proc):
        self.name = name
        self.port = port
        self.user = user
        self.password = password
        self.home = home
        self.owner = owner      # (uid, gid) for files placed in the home
        self.proc = proc        # the listening process (memory row)

    def path(self, *rel):
        return os.path.join(self.home, *rel)

    def mkdir(self, rel):
        """A fresh folder in the home (made on disk, outside any timing);
        its files are the client's to write."""
        path = self.path(rel)
        if os.path.isdir(path):
            shutil.rmtree(path)
        os.makedirs(path)
        chown(path, self.owner)
        return path


def chown(path, owner):
    if owner is not None:
        os.chown(path, *owner)


class Client:
    """Runs bench/ftpclient against one target; run() returns the parsed
    key=value line, or raises BenchError with the client's complaint."""

    def __init__(self, binary):
        self.binary = binary

    def argv(self, t, mode, args, folder=None, ref=None, watch=None,
             wait_each=False, until_eof=False, source=None, rate=None,
             allo=False, publish=False):
        cmd = [self.binary, "-p", str(t.port), "-u", t.user, "-P",
               t.password]
        if allo:
            cmd.append("-A")
        if publish:
            cmd.append("-T")
        if folder is not None:
            cmd += ["-d", folder]
        if ref is not None:
            cmd += ["-r", ref]
        if watch is not None:
            cmd += ["-w", watch]
        if wait_each:
            cmd.append("-W")
        if until_eof:
            cmd.append("-S")
        if source is not None:
            cmd += ["-s", source]
        if rate is not None:
            cmd += ["-R", str(rate)]
        return cmd + [mode] + [str(a) for a in args]

    def run(self, t, mode, args, timeout=900, **kw):
        cmd = self.argv(t, mode, args, **kw)
        try:
            r = subprocess.run(cmd, capture_output=True, text=True,
                               timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise BenchError("%s %s: no end after %d s" % (mode, args,
                                                            timeout))
        if r.returncode != 0:
            raise BenchError("%s %s: %s" % (
                mode, " ".join(map(str, args)),
                " | ".join(r.stderr.strip().splitlines()[-3:])))
        lines = r.stdout.strip().splitlines()
        out = parse_kv(lines[-1] if lines else "")
        # What went wrong in transfers that were counted as failed.
        warn = r.stderr.strip().splitlines()
        if warn:
            out["warning"] = warn[0]
        return out

    def start(self, t, mode, args, **kw):
        """The client as a background process (stdin and stdout piped)."""
        return subprocess.Popen(self.argv(t, mode, args, **kw),
                                stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, bufsize=0)


def read_line(proc, deadline):
    """The next stdout line of a background client; '' at its end or at
    the deadline."""
    buf = b""
    while time.monotonic() < deadline:
        r, _, _ = select.select([proc.stdout], [], [], 0.2)
        if r:
            ch = os.read(proc.stdout.fileno(), 1)
            if not ch:
                return buf.decode()
            if ch == b"\n":
                return buf.decode()
            buf += ch
        elif proc.poll() is not None:
            break
    return buf.decode()


def finish(proc, what, timeout=900):
    """Wait (bounded) for a background client; its parsed result line."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=10)
        raise BenchError("%s: no end after %d s" % (what, timeout))
    if proc.returncode != 0:
        raise BenchError("%s: %s" % (what, " | ".join(
            err.decode(errors="replace").strip().splitlines()[-3:])))
    lines = out.decode().strip().splitlines()
    return parse_kv(lines[-1] if lines else "")


def stop_proc(proc):
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


# ---------------------------------------------------------------- data

class Data:
    """Reference files: small.bin (8 MiB, the 4 KiB and 64 KiB files are
    slices of it) and big.bin (the large transfers). File i of SIZE bytes
    holds the reference's bytes at (i * SIZE) mod its length, as the
    client writes and checks them."""

    def __init__(self, folder, args):
        self.small = os.path.join(folder, "small.bin")
        write_random(self.small, 8 * MIB)
        with open(self.small, "rb") as f:
            self.small_bytes = f.read()
        self.big = os.path.join(folder, "big.bin")
        self.big_size = args.big_mib * MIB
        write_random(self.big, self.big_size)
        self.big_sha = sha256_file(self.big)
        self.relay_big = args.relay_big_mib * MIB
        if self.big_size % self.relay_big:
            sys.exit("bench: --relay-big-mib must divide --big-mib")
        with open(self.big, "rb") as f:
            self.relay_big_sha = sha256(f.read(self.relay_big))

    def slice(self, i, size):
        off = (i * size) % len(self.small_bytes)
        return self.small_bytes[off:off + size]

    def place(self, t, args):
        """What the download rows read, in t's home (untimed)."""
        d = t.mkdir("small-src")
        for i in range(args.small_count):
            p = os.path.join(d, "f%05d.bin" % i)
            with open(p, "wb") as f:
                f.write(self.slice(i, args.small_kib * KIB))
            chown(p, t.owner)
        # One inode for every home (one tmpfs): no 1 GiB copy each.
        p = os.path.join(t.mkdir("big-src"), "f00000.bin")
        os.link(self.big, p)
        chown(p, t.owner)
        d = t.mkdir("list")
        for i in range(args.list_entries):
            p = os.path.join(d, "ent-%05d" % i)
            with open(p, "wb"):
                pass
        for i in range(args.list_entries):
            chown(os.path.join(d, "ent-%05d" % i), t.owner)


def check_slices(folder, prefix, count, size, data, index=None):
    """Every file folder/<prefix>NNNNN.bin is slice index(i) of the
    reference, by SHA-256; BenchError on the first that is not."""
    for i in range(count):
        p = os.path.join(folder, "%s%05d.bin" % (prefix, i))
        want = data.slice(index(i) if index else i, size)
        try:
            with open(p, "rb") as f:
                got = f.read()
        except OSError as e:
            raise BenchError("%s not stored: %s" % (p, e))
        if sha256(got) != sha256(want):
            raise BenchError("%s: %d bytes, SHA-256 differs from what "
                             "the client sent" % (p, len(got)))


def check_big(path, size, digest):
    try:
        st = os.stat(path)
    except OSError as e:
        raise BenchError("%s not stored: %s" % (path, e))
    if st.st_size != size or sha256_file(path) != digest:
        raise BenchError("%s stored with %d bytes or a wrong SHA-256, "
                         "want %d" % (path, st.st_size, size))


# ---------------------------------------------------------------- rows

class Ctx:
    """What every row needs: the client, the data, the options, the
    targets by server (main and with the passive range) and, for the relay
    rows, the relaying relayftpd and its vsftpd target."""

    def __init__(self, client, data, args):
        self.client = client
        self.data = data
        self.args = args
        self.main = {}
        self.ranged = {}
        self.ceiling = None     # Target: bench/nullftpd (ceiling rows)
        self.relay = None       # Target: relayftpd with a mirror target
        self.down = None        # Target: the vsftpd it mirrors to
        # The same over slow links: a vsftpd that takes at most
        # --paced-mbps a session, and the relayftpd that mirrors to it.
        self.relay_paced = None
        self.down_paced = None

    def down_dir(self, folder, paced=False):
        """Where the mirror puts the relay's folder (layout user)."""
        down = self.down_paced if paced else self.down
        return os.path.join(down.home, "base", self.relay.user, folder)


def check_clients(folder, k, m, size, data, allow_missing=False):
    """The parallel row's files cKKK-NNNNN.bin: client k's file j is slice
    k * m + j; missing ones are allowed only when transfers failed."""
    for c in range(k):
        for j in range(m):
            p = os.path.join(folder, "c%03d-%05d.bin" % (c, j))
            if allow_missing and not os.path.exists(p):
                continue
            with open(p, "rb") as f:
                got = f.read()
            if got != data.slice(c * m + j, size):
                raise BenchError("%s: %d bytes differ from what the "
                                 "client sent" % (p, len(got)))


def wl_stor_small(ctx, t, rep, allo=False):
    a = ctx.args
    folder = "su%s-%d" % ("a" if allo else "", rep)
    t.mkdir(folder)
    r = ctx.client.run(t, "stor", [a.small_count, a.small_kib * KIB],
                       folder=folder, ref=ctx.data.small, allo=allo)
    check_slices(t.path(folder), "f", a.small_count, a.small_kib * KIB,
                 ctx.data)
    shutil.rmtree(t.path(folder))
    return r["rate"], r


def wl_stor_small_allo(ctx, t, rep):
    return wl_stor_small(ctx, t, rep, allo=True)


def wl_retr_small(ctx, t, rep):
    a = ctx.args
    r = ctx.client.run(t, "retr", [a.small_count, a.small_kib * KIB],
                       folder="small-src", ref=ctx.data.small)
    return r["rate"], r


def wl_logins(ctx, t, rep):
    r = ctx.client.run(t, "logins", [ctx.args.logins])
    return r["rate"], r


def wl_parallel(ctx, t, rep):
    a = ctx.args
    folder = "par-%d" % rep
    t.mkdir(folder)
    r = ctx.client.run(t, "parallel", [a.parallel, a.parallel_files,
                                       a.parallel_kib * KIB],
                       folder=folder, ref=ctx.data.small)
    check_clients(t.path(folder), a.parallel, a.parallel_files,
                  a.parallel_kib * KIB, ctx.data,
                  allow_missing=r["failed"] > 0)
    shutil.rmtree(t.path(folder))
    return r["mbps"], r


def wl_stor_big(ctx, t, rep):
    folder = "bu-%d" % rep
    t.mkdir(folder)
    d = ctx.data
    r = ctx.client.run(t, "stor", [1, d.big_size], folder=folder,
                       ref=d.big)
    check_big(t.path(folder, "f00000.bin"), d.big_size, d.big_sha)
    shutil.rmtree(t.path(folder))
    return r["mbps"], r


def wl_retr_big(ctx, t, rep):
    d = ctx.data
    r = ctx.client.run(t, "retr", [1, d.big_size], folder="big-src",
                       ref=d.big)
    return r["mbps"], r


def wl_listing(cmd):
    def fn(ctx, t, rep):
        r = ctx.client.run(t, "list", [cmd, "list"])
        if r["matched"] != ctx.args.list_entries:
            raise BenchError("%s list: %d entries, want %d" % (
                cmd, r["matched"], ctx.args.list_entries))
        return r["seconds"] * 1000.0, r
    return fn


def pss_kib(pid):
    """PSS of one process in KiB (/proc/PID/smaps_rollup)."""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def process_tree(root):
    """root and all its descendants (vsftpd and pure-ftpd fork per
    session)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def tree_pss(root):
    pids = process_tree(root)
    return sum(pss_kib(p) for p in pids), len(pids)


def wl_memory(ctx, t, rep):
    """N idle logged-in sessions: the server's PSS (summed over its
    processes) after they logged in minus before, per session."""
    n = ctx.args.idle
    before, nb = tree_pss(t.proc.pid)
    p = ctx.client.start(t, "idle", [n])
    try:
        line = read_line(p, time.monotonic() + 600)
        if not line.startswith("ready"):
            stop_proc(p)
            raise BenchError("idle sessions: %s" % " | ".join(
                p.stderr.read().decode(errors="replace").strip()
                .splitlines()[-3:]))
        after, na = tree_pss(t.proc.pid)
        finish(p, "idle")  # closes its stdin: the sessions QUIT
    finally:
        stop_proc(p)
    per = (after - before) / n
    return per, {"pss_before_kib": before, "pss_after_kib": after,
                 "processes": na - nb}


# --- relay rows: one server (the relaying relayftpd), compared with the
# same client uploading straight to its target.

def relay_dirs(ctx, folder, paced=False):
    """The folder in the relay's home and where it appears on the
    target (made beforehand so the client can watch it)."""
    (ctx.relay_paced if paced else ctx.relay).mkdir(folder)
    down = ctx.down_dir(folder, paced)
    if os.path.isdir(down):
        shutil.rmtree(down)
    os.makedirs(down)
    chown(down, ctx.down.owner)
    return down


def wait_files(folder, names, timeout):
    """Bounded poll until every name is in folder; BenchError if not."""
    deadline = time.monotonic() + timeout
    while True:
        missing = [n for n in names
                   if not os.path.exists(os.path.join(folder, n))]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise BenchError("%d of %d files never reached %s (%s, ...)"
                             % (len(missing), len(names), folder,
                                missing[0]))
        time.sleep(0.05)


# The warm-up's file that streams (above the default stream_min_size).
WARM_STREAM = 16 * MIB
# The loaded probe's cap: it normally stops when the load ends, long before.
PROBE_CAP = 20000
# The loaded rows' clients are distinct hosts, as 32 devices and a 33rd
# would be: client k of the load connects from LOAD_SOURCE + k, the probe
# from PROBE_SOURCE (loopback: the whole of 127/8 is this machine). One
# account for all: relayftpd's fair share is per user and address.
LOAD_SOURCE = "127.0.1.1"
PROBE_SOURCE = "127.0.2.1"


def warm_workers(ctx, relay, paced, big=False):
    """Every mirror worker's connection up (and logged in: a vsftpd login
    checks a yescrypt hash, ~50 ms) before a relay row is timed: files
    back to back, each waking an idle worker while the first ones log in,
    twice as many as there are workers. Before each row, not once: while
    the other servers are measured the relay sits idle for minutes, and
    libcurl does not reuse a connection idle for more than 118 s
    (CURLOPT_MAXAGE_CONN), so the first push of each worker would log in
    again inside the row's first run."""
    n = 2 * int(ctx.args.mirror_extra.get("workers_per_target", 4))
    down = relay_dirs(ctx, "warm", paced)
    ctx.client.run(relay, "stor", [n, 4 * KIB], folder="warm",
                   ref=ctx.data.small, watch=down)
    if big:
        # A copy pushed while its upload arrives has a connection of its
        # own, kept for the next copy (stream.c SPARE_IDLE_MS) as the
        # workers keep theirs: one file above the default stream_min_size
        # (8 MiB) logs it in before the row.
        size = min(WARM_STREAM, ctx.data.big_size)
        down = relay_dirs(ctx, "warm-big", paced)
        ctx.client.run(relay, "stor", [1, size], folder="warm-big",
                       ref=ctx.data.big, watch=down)


def relay_latency(ctx, rep, load, each=True):
    """Idle: the probe uploads lat_count files one at a time and waits for
    each on the target before the next. With load, parallel clients (the
    32-client row's workload) upload and download through the same
    relayftpd, and the probe uploads from their start until they end (its
    stdin is closed then; at most PROBE_CAP files), so every sample meets
    the load: one at a time as when idle (each), or back to back while a
    thread of the client stamps each arrival (not each: then the probe is
    a 33rd loading client, and its samples include the wait behind its own
    earlier files). The load's clients and the probe connect from
    addresses of their own (LOAD_SOURCE, PROBE_SOURCE)."""
    a = ctx.args
    folder = "lat-%s-%d" % (("load" if each else "burst") if load
                            else "idle", rep)
    down = relay_dirs(ctx, folder)
    lp = pp = None
    info = {}
    size = a.parallel_kib * KIB
    try:
        if not load:
            r = ctx.client.run(ctx.relay, "stor", [a.lat_count, 4 * KIB],
                               folder=folder, ref=ctx.data.small,
                               watch=down, wait_each=True)
        else:
            lf = "load-%d" % rep
            ldown = relay_dirs(ctx, lf)
            lp = ctx.client.start(ctx.relay, "parallel",
                                  [a.parallel, a.parallel_files, size],
                                  folder=lf, ref=ctx.data.small,
                                  source=LOAD_SOURCE)
            if read_line(lp, time.monotonic() + 300) != "started":
                stop_proc(lp)
                raise BenchError("load did not start: %s" % " | ".join(
                    lp.stderr.read().decode(errors="replace").strip()
                    .splitlines()[-3:]))
            pp = ctx.client.start(ctx.relay, "stor", [PROBE_CAP, 4 * KIB],
                                  folder=folder, ref=ctx.data.small,
                                  watch=down, wait_each=each,
                                  until_eof=True, source=PROBE_SOURCE)
            lr = finish(lp, "load")
            info["probe_outlived_load"] = pp.poll() is None
            r = finish(pp, "probe")     # closes its stdin: it stops
            if lr["failed"]:
                raise BenchError("load: %d failed transfers"
                                 % lr["failed"])
            info["load_mbps"] = lr["mbps"]
            names = ["c%03d-%05d.bin" % (c, j) for c in range(a.parallel)
                     for j in range(a.parallel_files)]
            wait_files(ldown, names, 600)
            check_clients(ldown, a.parallel, a.parallel_files, size,
                          ctx.data)
    finally:
        stop_proc(lp)
        stop_proc(pp)
    n = int(r["files"])
    check_slices(down, "f", n, 4 * KIB, ctx.data)
    check_slices(ctx.relay.path(folder), "f", n, 4 * KIB, ctx.data)
    r.update(info)
    return {"relayftpd": (r["relay_p99_ms"], r)}


def wl_relay_lat_idle(ctx, rep):
    return relay_latency(ctx, rep, False)


def wl_relay_lat_load(ctx, rep):
    return relay_latency(ctx, rep, True)


def wl_relay_lat_burst(ctx, rep):
    return relay_latency(ctx, rep, True, each=False)


class CpuMeter:
    """CPU time spent during the timed part of one phase of a relay row,
    read from the kernel's counters: the whole machine (/proc/stat: every
    CPU's busy time, the target's processes and the kernel's softirq work
    included) and the relay's relayftpd process (all its threads: sessions
    and mirror workers), sampled every few milliseconds while the client
    runs and cut at the client's timed window (its t0_mono, then seconds
    or complete_seconds), so that logins (argon2id, yescrypt: a large
    share of a short phase) stay out; and the client's own (its rusage,
    logins included, which cost a client next to nothing). Idle and
    iowait are not busy; the rest is the target's and the kernel's, and a
    little of run.py's own, the sampling included. A phase that keeps
    every CPU busy cannot go faster unless this work per file shrinks:
    NCPU / (CPU per file) is its bound."""

    HZ = os.sysconf("SC_CLK_TCK")
    EVERY = 0.004

    def __init__(self, pid):
        self.pid = pid
        self.samples = []
        self.stop = None

    @staticmethod
    def machine():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal ...
        return (sum(v[:8]) - v[3] - v[4]) / CpuMeter.HZ

    def process(self):
        if self.pid is None:
            return 0.0
        try:
            with open("/proc/%d/stat" % self.pid) as f:
                f = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(f[11]) + int(f[12])) / self.HZ

    @staticmethod
    def children():
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    def sample(self):
        self.samples.append((time.monotonic(), self.machine(),
                             self.process()))

    def run(self):
        while not self.stop.wait(self.EVERY):
            self.sample()

    def __enter__(self):
        import threading
        self.client0 = self.children()
        self.stop = threading.Event()
        self.sample()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.sample()
        self.client = self.children() - self.client0
        return False

    def at(self, t):
        """(busy, relayftpd) at time t, interpolated between samples."""
        s = self.samples
        if t <= s[0][0]:
            return s[0][1:]
        for a, b in zip(s, s[1:]):
            if a[0] <= t <= b[0]:
                k = (t - a[0]) / (b[0] - a[0]) if b[0] > a[0] else 0.0
                return tuple(x + k * (y - x) for x, y in
                             zip(a[1:], b[1:]))
        return s[-1][1:]

    def result(self, r):
        """The CPU of the client's timed window, from its output r."""
        t0 = r.get("t0_mono")
        length = r.get("complete_seconds", r.get("seconds"))
        if t0 is None or length is None:
            return {}
        (b0, p0), (b1, p1) = self.at(t0), self.at(t0 + length)
        return {"cpu_wall_s": length, "cpu_busy_s": b1 - b0,
                "cpu_relayftpd_s": p1 - p0, "cpu_client_s": self.client}


def relay_vs_direct(ctx, rep, count, size, ref, tag, check, paced=False,
                    allo=False, ceiling=False):
    """paced: over the slow links (the client sends at most --paced-mbps,
    the target takes at most that), both ways; allo: the client declares
    each size (ALLO) to relayftpd and to the target alike; ceiling: also
    straight to the target with each file published as the mirror
    publishes it (a temporary name, SIZE, RNFR + RNTO + SIZE + MDTM with
    a time:
    the work on the target of any verifying relay, without the relay),
    from as many sessions at once as the mirror has workers."""
    out = {}
    order = ["relayftpd", "direct"] + (["ceiling"] if ceiling else [])
    relay = ctx.relay_paced if paced else ctx.relay
    target = ctx.down_paced if paced else ctx.down
    rate = ctx.args.paced_mbps * 1000000 if paced else None
    if rep % 2:
        order.reverse()
    for who in order:
        folder = "%s-%s-%d" % (tag, who, rep)
        if who == "relayftpd":
            down = relay_dirs(ctx, folder, paced)
            with CpuMeter(relay.proc.pid) as cpu:
                r = ctx.client.run(relay, "stor", [count, size],
                                   folder=folder, ref=ref, watch=down,
                                   rate=rate, allo=allo)
            r.update(cpu.result(r))
            check(down)
            check(relay.path(folder))
            shutil.rmtree(relay.path(folder))
            out[who] = (r["complete_rate"] if count > 1
                        else r["complete_mbps"], r)
        elif who == "ceiling":
            # As many sessions as the mirror has workers for the target,
            # all at once: the pushes' own concurrency, on the same CPUs.
            # A failure here is the ceiling's alone: the row keeps what
            # relayftpd and the direct client did.
            k = int(ctx.args.mirror_extra.get("workers_per_target", 4))
            m = -(-count // k)
            target.mkdir(folder)
            down = target.path(folder)
            try:
                with CpuMeter(None) as cpu:
                    r = ctx.client.run(target, "pstor", [k, m, size],
                                       folder=folder, ref=ref, allo=allo,
                                       publish=True)
                r.update(cpu.result(r))
                if r.get("failed"):
                    raise BenchError("%d uploads failed" % r["failed"])
                check_clients(down, k, m, size, ctx.data)
                out[who] = (r["rate"], r)
            except BenchError as e:
                log("ceiling of %s: not measured: %s" % (tag, e))
        else:
            target.mkdir(folder)
            down = target.path(folder)
            with CpuMeter(None) as cpu:
                r = ctx.client.run(target, "stor", [count, size],
                                   folder=folder, ref=ref, rate=rate,
                                   allo=allo)
            r.update(cpu.result(r))
            check(down)
            out[who] = (r["rate"] if count > 1 else r["mbps"], r)
        shutil.rmtree(down)
    return out


def wl_relay_small(ctx, rep, allo=False):
    a = ctx.args
    return relay_vs_direct(
        ctx, rep, a.relay_count, 4 * KIB, ctx.data.small,
        "rsa" if allo else "rs",
        lambda d: check_slices(d, "f", a.relay_count, 4 * KIB, ctx.data),
        allo=allo, ceiling=True)


def wl_relay_small_allo(ctx, rep):
    return wl_relay_small(ctx, rep, allo=True)


def wl_relay_big(ctx, rep):
    d = ctx.data
    return relay_vs_direct(
        ctx, rep, 1, d.relay_big, d.big, "rb",
        lambda f: check_big(os.path.join(f, "f00000.bin"), d.relay_big,
                            d.relay_big_sha))


def wl_relay_big_paced(ctx, rep):
    d = ctx.data
    return relay_vs_direct(
        ctx, rep, 1, d.relay_big, d.big, "rp",
        lambda f: check_big(os.path.join(f, "f00000.bin"), d.relay_big,
                            d.relay_big_sha), paced=True)


class Row:
    """One row: fn(ctx, target, rep) -> (value, details) per server, or
    for relay rows fn(ctx, rep) -> {column: (value, details)}."""

    def __init__(self, key, label, unit, fn, better="high", vs=ANCHORS,
                 target=None, variant="main", relay=False, reps=None,
                 skip=(), ceiling=False):
        self.key = key
        self.label = label
        self.unit = unit
        self.fn = fn
        self.better = better    # "high" or "low"
        self.vs = vs            # anchors the target is measured against
        self.target = target    # (kind, number), see meets()
        self.variant = variant  # "main" or "ranged" servers
        self.relay = relay
        self.reps = reps        # None: --reps
        self.skip = skip        # servers that cannot run it (and why)
        # Also measured: what this host allows at best (bench/nullftpd;
        # for relay rows, the target's side of a verifying relay).
        self.ceiling = ceiling


def rows(args):
    a = args
    par = "%d clients at once, %d x %d KiB up + down each" % (
        a.parallel, a.parallel_files, a.parallel_kib)
    return [
        # First, on servers that have not served yet: later rows leave
        # freed memory in relayftpd's heap that idle sessions would reuse.
        Row("memory", "idle logged-in session, %d held" % a.idle,
            "KiB PSS each", wl_memory, better="low", reps=1,
            target=("max", 32)),
        Row("stor_small", "%d x %d KiB STOR over one session"
            % (a.small_count, a.small_kib), "files/s", wl_stor_small,
            vs=("pure-ftpd",), target=("ratio", 1.5), ceiling=True),
        # The same, from a client that declares each size first (ALLO,
        # RFC 959, pipelined with the STOR; lftp's ftp:use-allo): then a
        # data FIN after the declared count is the end the client
        # announced, and relayftpd publishes without watching the
        # control connection (src/server/finwatch.c).
        Row("stor_small_allo", "%d x %d KiB STOR over one session, each "
            "size declared first (ALLO)" % (a.small_count, a.small_kib),
            "files/s", wl_stor_small_allo, vs=("pure-ftpd",),
            target=("ratio", 1.5), ceiling=True),
        Row("logins", "login + QUIT loop (%d)" % a.logins, "logins/s",
            wl_logins, vs=("vsftpd",), target=("ratio", 1.0)),
        Row("parallel", par, "MB/s", wl_parallel, vs=("vsftpd",),
            target=("parallel", 1.5)),
        Row("parallel_range", par + ", %d-port passive range" % PASV_RANGE,
            "MB/s", wl_parallel, vs=("vsftpd",), target=("parallel", 1.5),
            variant="ranged"),
        Row("stor_big", "%s STOR" % size_name(a.big_mib), "MB/s",
            wl_stor_big, target=("ratio", 1.3), reps=a.big_reps),
        Row("retr_big", "%s RETR" % size_name(a.big_mib), "MB/s",
            wl_retr_big, target=("ratio", 1.0), reps=a.big_reps),
        Row("list", "LIST of %d entries" % a.list_entries, "ms",
            wl_listing("LIST"), better="low", vs=("pure-ftpd",),
            target=("ratio", 1.0)),
        Row("mlsd", "MLSD of %d entries" % a.list_entries, "ms",
            wl_listing("MLSD"), better="low", vs=("pure-ftpd",),
            target=("ratio", 1.0),
            skip={"vsftpd": "vsftpd 3.0.3 has no MLSD"}),
        Row("retr_small", "%d x %d KiB RETR over one session"
            % (a.small_count, a.small_kib), "files/s", wl_retr_small,
            target=("ratio", 1.0)),
        Row("relay_latency", "relay: 226 -> complete on the target, idle "
            "target (%d x 4 KiB, one at a time)" % a.lat_count,
            "ms p99", wl_relay_lat_idle, better="low", relay=True,
            target=("max", 10)),
        Row("relay_latency_load", "relay: 226 -> complete on the target "
            "while %d clients upload (4 KiB, one at a time while they run)"
            % a.parallel, "ms p99", wl_relay_lat_load,
            better="low", relay=True, target=("max", 50)),
        # Not a target of the issue: what a 33rd client that itself
        # uploads back to back waits, its own backlog included.
        Row("relay_latency_burst", "relay: 226 -> complete on the target "
            "while %d clients upload (4 KiB files back to back while they "
            "run)" % a.parallel, "ms p99", wl_relay_lat_burst,
            better="low", relay=True),
        Row("relay_small", "relay: %d x 4 KiB until all are on the target"
            % a.relay_count, "files/s", wl_relay_small, relay=True,
            target=("ratio", 0.8), ceiling=True),
        Row("relay_small_allo", "relay: %d x 4 KiB until all are on the "
            "target, each size declared first (ALLO)" % a.relay_count,
            "files/s", wl_relay_small_allo, relay=True,
            target=("ratio", 0.8), ceiling=True),
        Row("relay_big", "relay: one %s, client start -> complete on the "
            "target" % size_name(a.relay_big_mib), "MB/s", wl_relay_big,
            relay=True, target=("ratio", 0.8), reps=a.big_reps),
        Row("relay_big_paced", "relay: one %s over %d MB/s links (the "
            "client sends, the target takes at most that), client start -> "
            "complete on the target" % (size_name(a.relay_big_mib),
                                        a.paced_mbps), "MB/s",
            wl_relay_big_paced, relay=True, target=("ratio", 0.8)),
    ]


def size_name(mib):
    return "%d GiB" % (mib // 1024) if mib % 1024 == 0 else "%d MiB" % mib


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
        "# relayftpd benchmark (issue 10), %s UTC" % datetime.datetime.now(
            datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "",
        "- machine: %s, %d CPU(s), %d MiB RAM, Linux %s; relayftpd %s "
        "(Release build), vsftpd %s, pure-ftpd %s; client: bench/"
        "ftpclient.c (raw sockets, one process; threads for the parallel "
        "rows)"
        % (cpu_model(), os.cpu_count() or 0, mem_mib(), platform.release(),
           git_rev(), package_version("vsftpd"),
           pureftpd_version(pure_binary)),
        "- median of %d run(s) (the memory row: 1; the rows of one big "
        "file: %d); servers interleaved "
        "within each run; ratio = relayftpd against the best of the anchors "
        "named in the target (> 1: relayftpd faster or smaller); load "
        "average at the start: %.2f" % (args.reps, args.big_reps, load),
        "- homes, queue and data on tmpfs (%s), as the issue measured; "
        "loopback only; client and servers share the CPUs; no server logs "
        "per transfer; MB = 10^6 bytes" % args.tmpdir,
        "- logins: relayftpd checks argon2id (m=64 MiB, t=2; its "
        "verified-credential cache, if built in, serves repeats), vsftpd "
        "(PAM) and pure-ftpd (unix) check the system account with crypt(3)"
        "%s" % (" (%s here)" % scheme if scheme != "n/a" else ""),
        "- memory: PSS (/proc/PID/smaps_rollup) of the server's process "
        "and all its children after %d idle logged-in sessions minus "
        "before, per session" % args.idle,
        "- relay rows: one more relayftpd whose mirror has one target, a "
        "vsftpd on 127.0.0.1 (no logs); \"complete on the target\" = the "
        "client's inotify watch on the target folder sees the final name "
        "arrive (IN_MOVED_TO, the mirror's rename from its temporary name, "
        "or IN_CLOSE_WRITE) and fstatat shows the full size; the content "
        "is then checked by SHA-256; in the rows \"while %d clients "
        "upload\" the clients and the probe are distinct hosts (one "
        "loopback address each: %s + k, probe %s), one account" % (
            args.parallel, LOAD_SOURCE, PROBE_SOURCE),
    ]
    if args.extra:
        lines.append("- relayftpd with %s" % ", ".join(
            "%s = %s" % kv for kv in args.extra.items()))
    if args.mirror_extra:
        lines.append("- the relay rows' relayftpd with [mirror] %s" %
                     ", ".join("%s = %s" % kv
                               for kv in args.mirror_extra.items()))
    for name, why in skipped.items():
        lines.append("- %s skipped: %s" % (name, why))
    return lines


def mem_mib():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // MIB
    except (ValueError, OSError):
        return 0


def fmt(v):
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return v
    if v >= 100:
        return "{:,.0f}".format(v)
    return "%.1f" % v if v >= 10 else "%.2f" % v


def median_of(samples, key):
    vals = [d[key] for _, d in samples if key in d]
    return statistics.median(vals) if vals else None


class Outcome:
    """The medians of one row and its verdict."""

    def __init__(self, row, samples, failed):
        self.row = row
        self.samples = samples   # column -> [(value, details)]
        self.failed = failed     # column -> why
        self.value = {c: statistics.median(v for v, _ in s)
                      for c, s in samples.items() if s and c not in failed}

    def cell(self, col):
        if col in self.failed:
            return self.failed[col]
        if col in self.row.skip:
            return "n/a (%s)" % self.row.skip[col]
        if col not in self.value:
            return "n/a"
        v = fmt(self.value[col])
        s = self.samples[col]
        if self.row.key.startswith("parallel"):
            v += " (p99 %s ms, %d failed)" % (
                fmt(median_of(s, "p99_ms")),
                sum(d.get("failed", 0) for _, d in s))
        if self.row.key.startswith("relay_latency"):
            v = "p50 %s, p99 %s" % (fmt(median_of(s, "relay_p50_ms")), v)
        if self.row.key in ("relay_small", "relay_small_allo",
                            "relay_big", "relay_big_paced") and \
                col == "relayftpd":
            # Where the time goes: the uploads themselves, or the push.
            v += " (its uploads alone: %s %s)" % (
                fmt(median_of(s, "rate" if self.row.key.startswith(
                    "relay_small") else "mbps")), self.row.unit)
        if self.row.key in ("relay_latency_load", "relay_latency_burst"):
            # The probe's files should all meet the load.
            v += " (%s probe files a run under a load of %s MB/s)" % (
                fmt(median_of(s, "files")), fmt(median_of(s, "load_mbps")))
        return v

    def reference(self):
        """(value, name) of the best comparison column, or (None, '')."""
        if self.row.relay:
            v = self.value.get("direct")
            return (v, "direct") if v is not None else (None, "")
        got = [(self.value[a], a) for a in self.row.vs if a in self.value]
        if not got:
            got = [(self.value[a], a) for a in ANCHORS if a in self.value]
        if not got:
            return None, ""
        pick = max if self.row.better == "high" else min
        return pick(got)

    def ratio(self):
        mine = self.value.get("relayftpd")
        ref, _ = self.reference()
        if mine is None or ref is None or mine == 0 or ref == 0:
            return None
        return mine / ref if self.row.better == "high" else ref / mine

    def target_text(self):
        if self.row.target is None:
            return "none (shown for what it tells)"
        kind, n = self.row.target
        _, who = self.reference()
        if kind == "max":
            return "<= %s %s" % (fmt(n), self.row.unit.split()[0])
        if kind == "parallel":
            return ">= %.1f x %s, p99 <= 20 ms, 0 failed" % (n, who or "?")
        return ">= %.1f x %s" % (n, who or "?")

    def verdict(self):
        """'yes', 'NO (how far)' or 'n/a'."""
        if self.row.target is None:
            return "-"
        kind, n = self.row.target
        mine = self.value.get("relayftpd")
        if mine is None:
            return "n/a"
        if kind == "max":
            if mine <= n:
                return "yes"
            return "NO (%s over, %.0f %%)" % (fmt(mine - n),
                                               100.0 * (mine - n) / n)
        r = self.ratio()
        if r is None:
            return "n/a"
        misses = []
        if r < n:
            misses.append("%.0f %% short" % (100.0 * (n - r) / n))
        if kind == "parallel":
            s = self.samples["relayftpd"]
            p99 = median_of(s, "p99_ms")
            failed = sum(d.get("failed", 0) for _, d in s)
            if p99 is not None and p99 > 20:
                misses.append("p99 %s ms" % fmt(p99))
            if failed:
                misses.append("%d failed" % failed)
        return "yes" if not misses else "NO (%s)" % ", ".join(misses)


def tables(outcomes):
    out = []
    anchors = [o for o in outcomes if not o.row.relay]
    relays = [o for o in outcomes if o.row.relay]
    if anchors:
        out += ["| row | unit | relayftpd | vsftpd | pure-ftpd | ratio "
                "| target | met |",
                "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |"]
        for o in anchors:
            r = o.ratio()
            out.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                o.row.label, o.row.unit, o.cell("relayftpd"),
                o.cell("vsftpd"), o.cell("pure-ftpd"),
                "%.2f" % r if r is not None else "n/a", o.target_text(),
                o.verdict()))
    if relays:
        if out:
            out.append("")
        out += ["| relay row | unit | through relayftpd | straight to the "
                "target | ratio | target | met |",
                "| --- | --- | ---: | ---: | ---: | --- | --- |"]
        for o in relays:
            r = o.ratio()
            out.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                o.row.label, o.row.unit, o.cell("relayftpd"),
                o.cell("direct") if not o.row.key.startswith(
                    "relay_latency") else "-",
                "%.2f" % r if r is not None else "-", o.target_text(),
                o.verdict()))
    return out


def ceiling_table(outcomes):
    """Each target against what this host allows at best in the same run:
    a target above its ceiling is out of reach for any server here."""
    rows_ = [o for o in outcomes if o.row.ceiling and "ceiling" in o.value
             and o.row.target is not None]
    if not rows_:
        return []
    out = ["", "Ceilings, measured in the same run: for the STOR rows "
           "bench/nullftpd, which only creates and writes each file (no "
           "partial name, lock, rename, quota, log or watch; one passive "
           "listener for the whole session, where servers open one for "
           "each EPSV); for the relay rows "
           "the same client straight to the target from as many sessions "
           "at once as the mirror has workers for it, each file published "
           "as the mirror publishes it (a temporary name, SIZE, then RNFR "
           "+ RNTO + SIZE + MDTM with a time in one write): the target's "
           "side of "
           "any "
           "verifying relay, without the relay.", "",
           "| row | unit | target | ceiling | relayftpd | relayftpd "
           "/ ceiling | the target is |",
           "| --- | --- | ---: | ---: | ---: | ---: | --- |"]
    for o in rows_:
        kind, n = o.row.target
        ref, who = o.reference()
        ceil = o.value["ceiling"]
        mine = o.value.get("relayftpd")
        if ref is None:
            continue
        want = n * ref
        # "ceiling of:" first: a line of this table never begins as
        # the row's own line does.
        out.append("| ceiling of: %s | %s | %s (%s x %s) | %s | %s | %s "
                   "| %s |" % (
            o.row.label, o.row.unit, fmt(want), fmt(n), who, fmt(ceil),
            fmt(mine) if mine is not None else "n/a",
            "%.2f" % (mine / ceil) if mine and ceil else "n/a",
            ("above the ceiling: out of reach on this host" if
             not o.row.relay else "above the ceiling: out of reach for "
             "this protocol and this many connections to the target")
            if want > ceil else "within the ceiling"))
    return out


def cpu_table(outcomes):
    """Where the relay rows' CPU went (CpuMeter): per file (per MB for one
    file), and the rate the machine's CPUs would allow if they did only
    that work. The relay does the upload's work and the push's; when its
    bound is below the target, the target is out of reach until that work
    shrinks."""
    ncpu = os.cpu_count() or 1
    out = []
    for o in outcomes:
        if not o.row.relay or o.row.key.startswith("relay_latency"):
            continue
        per_mb = not o.row.key.startswith("relay_small")
        for col in ("relayftpd", "direct", "ceiling"):
            s = o.samples.get(col)
            if not s or median_of(s, "cpu_busy_s") is None:
                continue
            # pstor (the ceiling) counts "done" transfers, stor "files".
            n = [d.get("files", d.get("done", 0)) if not per_mb else
                 d.get("bytes", 0) / 1e6 for _, d in s]
            n = statistics.median(n) if n else 0
            if not n:
                continue

            def per(key):
                v = median_of(s, key)
                return 1000.0 * v / n if v is not None else None
            busy, relay, client = (per("cpu_busy_s"),
                                   per("cpu_relayftpd_s"),
                                   per("cpu_client_s"))
            wall = median_of(s, "cpu_wall_s")
            # A window of a few samples (one 16 MiB file straight to the
            # target: some 20 ms) can fall between the meter's 4 ms
            # samples and read less busy time than the processes
            # measured themselves (rusage, exact): 0.00, and a bound of
            # n/a (CI's ASan stage, once). Their sum is the floor.
            if busy is not None:
                busy = max(busy, (relay or 0) + (client or 0))
            if not out:
                out = ["", "Where the CPU goes in the relay rows (busy time "
                       "of all %d CPUs from /proc/stat, sampled every 4 ms "
                       "and cut at the client's timed window, logins left "
                       "out, and never less than relayftpd and the client "
                       "measured themselves; relayftpd: its process, every thread; client: "
                       "bench/ftpclient's whole run; the rest: the target, "
                       "the kernel's own threads and run.py), in CPU-ms "
                       "per file (per MB for one file), and the rate the "
                       "CPUs would allow if busy with only this work:"
                       % ncpu, "",
                       "| row | phase | CPU busy | relayftpd | client | "
                       "the rest | CPUs busy | bound |",
                       "| --- | --- | ---: | ---: | ---: | ---: | ---: | "
                       "---: |"]
            rest = busy - (relay or 0) - (client or 0)
            # "CPU of:" first: a line of this table never begins as
            # the row's own line does.
            out.append("| CPU of: %s | %s | %s | %s | %s | %s | %.2f of %d "
                       "| %s %s |" % (
                           o.row.label, col, fmt(busy),
                           fmt(relay) if col == "relayftpd" else "-",
                           fmt(client), fmt(rest),
                           median_of(s, "cpu_busy_s") / wall if wall else 0,
                           ncpu, fmt(ncpu * 1000.0 / busy) if busy else
                           "n/a", o.row.unit))
    return out


def spread_table(outcomes):
    """min-max of the runs, to judge how far a ratio can be trusted."""
    out = ["", "Run-to-run spread (slowest - fastest run):", "",
           "| row | column: min - max |", "| --- | --- |"]
    for o in outcomes:
        cells = []
        for col, s in o.samples.items():
            if len(s) > 1:
                vals = [v for v, _ in s]
                cells.append("%s %s - %s" % (col, fmt(min(vals)),
                                             fmt(max(vals))))
        if cells:
            out.append("| %s | %s |" % (o.row.label, "; ".join(cells)))
    return out


# ---------------------------------------------------------------- main

def parse_args(keys):
    p = argparse.ArgumentParser(
        description="relayftpd vs vsftpd vs pure-ftpd on loopback, and "
        "its relay vs uploading straight to its target (issue 10)")
    p.add_argument("--binary", default=os.path.join(REPO, "build-bench",
                                                    "relayftpd"),
                   help="relayftpd binary (default: build-bench/relayftpd)")
    p.add_argument("--only", nargs="+", metavar="ROW", choices=keys,
                   help="run only these rows: %s" % " ".join(keys))
    p.add_argument("--reps", type=int, default=None,
                   help="repetitions per row; the median is reported (3)")
    p.add_argument("--big-reps", type=int, default=None,
                   help="repetitions of the rows of one big file (1 GiB "
                   "STOR and RETR, the unpaced relay of 256 MiB), whose "
                   "runs swing "
                   "more than the others: their pages come from the page "
                   "allocator, on a VM from the host at first touch (7)")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: small counts and sizes, 1 repetition "
                   "(options given still win)")
    sizes = [("small_count", "small files per session (2000)"),
             ("small_kib", "size of each small file in KiB (4)"),
             ("logins", "login + QUIT per run (100)"),
             ("parallel", "clients at once (32)"),
             ("parallel_files", "files each client uploads and downloads "
              "(50)"),
             ("parallel_kib", "their size in KiB (64)"),
             ("big_mib", "the large STOR/RETR in MiB (1024)"),
             ("list_entries", "entries listed by LIST and MLSD (10000)"),
             ("idle", "idle sessions of the memory row (200)"),
             ("lat_count", "files of the idle relay latency row (200)"),
             ("relay_count", "small files of the relay rate row (1000)"),
             ("relay_big_mib", "the relay's large file in MiB (256)"),
             ("paced_mbps", "the slow links' speed in MB/s (100)")]
    for name, what in sizes:
        p.add_argument("--" + name.replace("_", "-"), type=int,
                       default=None, help=what)
    p.add_argument("--servers", default=",".join(SERVERS),
                   help="comma-separated subset of %s" % ",".join(SERVERS))
    p.add_argument("--relayftpd-set", action="append", default=[],
                   metavar="KEY=VALUE",
                   help="extra [server] key for relayftpd (repeatable), "
                   "e.g. upload_close_grace_ms=0")
    p.add_argument("--mirror-set", action="append", default=[],
                   metavar="KEY=VALUE",
                   help="extra [mirror] key for the relay rows' relayftpd "
                   "(repeatable), e.g. workers_per_target=8")
    p.add_argument("--cache", default=os.path.join(REPO, "build-bench",
                                                   "pure-ftpd"),
                   help="where a fetched pure-ftpd package is unpacked "
                   "(default: build-bench/pure-ftpd)")
    p.add_argument("--tmpdir", default=None,
                   help="folder for the data and homes (default: /dev/shm "
                   "when it is a tmpfs, else $TMPDIR)")
    p.add_argument("--out", default=None,
                   help="also save the tables as markdown in this file")
    a = p.parse_args()
    full = {"small_count": 2000, "small_kib": 4, "logins": 100,
            "parallel": 32, "parallel_files": 50, "parallel_kib": 64,
            "big_mib": 1024, "list_entries": 10000, "idle": 200,
            "lat_count": 200, "relay_count": 1000, "relay_big_mib": 256,
            "paced_mbps": 100, "reps": 3, "big_reps": 7}
    quick = dict(full, small_count=200, logins=20, parallel=8,
                 parallel_files=10, big_mib=64, list_entries=1000, idle=20,
                 lat_count=30, relay_count=100, relay_big_mib=16, reps=1,
                 big_reps=1)
    for k, v in (quick if a.quick else full).items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    for k in full:
        if getattr(a, k) < 1:
            p.error("--%s must be at least 1" % k.replace("_", "-"))
    if 8 * MIB % (a.small_kib * KIB) or 8 * MIB % (a.parallel_kib * KIB):
        p.error("--small-kib and --parallel-kib must divide 8192")
    if a.big_mib % a.relay_big_mib:
        p.error("--relay-big-mib must divide --big-mib")
    if a.small_count > 99999 or a.list_entries > 99999 or \
            a.parallel > 999:
        p.error("at most 99999 files and 999 clients")
    servers = [s.strip() for s in a.servers.split(",") if s.strip()]
    bad = [s for s in servers if s not in SERVERS]
    if bad:
        p.error("unknown server(s): %s" % ", ".join(bad))
    a.servers = servers
    a.extra, a.mirror_extra = {}, {}
    for opt, kvs, into in (("--relayftpd-set", a.relayftpd_set, a.extra),
                           ("--mirror-set", a.mirror_set, a.mirror_extra)):
        for kv in kvs:
            k, sep, v = kv.partition("=")
            if not sep:
                p.error("%s wants KEY=VALUE, got %r" % (opt, kv))
            into[k.strip()] = v.strip()
    if a.tmpdir is None:
        a.tmpdir = "/dev/shm" if os.path.isdir("/dev/shm") else \
            tempfile.gettempdir()
    return a


def on_sigterm(signum, frame):
    raise KeyboardInterrupt


def pick_pasv_range():
    """PASV_RANGE free ports (daemon.free_port_range)."""
    return free_port_range(PASV_RANGE)

def start_server(name, variant, args, work, user, password, account,
                 pure_binary, pasv, daemons, mirror=None):
    """One server; its Target (or raises RuntimeError/OSError)."""
    folder = os.path.join(work, "%s-%s" % (name, variant))
    os.makedirs(folder)
    if name == "relayftpd":
        d = Relayftpd(args.binary, folder, user, password, account,
                      args.extra, pasv=pasv, mirror=mirror,
                      mirror_extra=args.mirror_extra)
    elif name == "vsftpd":
        d = Vsftpd(account, start=False)
        d.pasv = pasv
    else:
        d = PureFtpd(pure_binary, folder, account, pasv=pasv)
    d.name = name
    daemons.append(d)
    d.start()
    owner = (account.uid, account.gid) if account else None
    log("%s (%s) on 127.0.0.1:%d, home %s" % (name, variant, d.port,
                                               d.home))
    target = Target(name, d.port, user, password, d.home, owner, d.proc)
    if mirror is not None:
        target.config = d.config  # for `relayftpd mirror status`
    return target


STATUS_COUNTS = re.compile(r"queued=(\d+) running=(\d+)")


def drain(ctx, relay, timeout=300):
    """Waits until relay's mirror queue is empty (`relayftpd mirror
    status`), so that a relay row never measures the backlog an earlier
    row left (32 clients upload faster than one target takes 64 KiB files
    one by one). Bounded: a queue still busy after timeout is a FAIL."""
    if relay is None or getattr(relay, "config", None) is None:
        return
    deadline = time.monotonic() + timeout
    t0 = time.monotonic()
    while time.monotonic() < deadline:
        r = subprocess.run([ctx.args.binary, "mirror", "status", "--config",
                            relay.config], capture_output=True, text=True,
                           timeout=60, stdin=subprocess.DEVNULL)
        counts = STATUS_COUNTS.findall(r.stdout)
        if r.returncode == 0 and counts and \
                all(q == "0" and n == "0" for q, n in counts):
            if time.monotonic() - t0 > 1:
                log("relay queue drained in %.1f s" %
                    (time.monotonic() - t0))
            return
        time.sleep(0.2)
    raise BenchError("the relay's queue did not drain within %d s" %
                     timeout)


def run_rows(ctx, selected):
    outcomes = []
    for row in selected:
        reps = row.reps or ctx.args.reps
        samples, failed = {}, {}
        if row.relay:
            if ctx.relay is None:
                continue
            paced = row.key == "relay_big_paced"
            try:
                warm_workers(ctx, ctx.relay_paced if paced else ctx.relay,
                             paced, big=row.key in ("relay_big",
                                                    "relay_big_paced"))
            except BenchError as e:
                log("%s: warm-up failed (the first run may log in): %s"
                    % (row.key, e))
            for rep in range(reps):
                try:
                    drain(ctx, ctx.relay)
                    drain(ctx, getattr(ctx, "relay_paced", None))
                    got = row.fn(ctx, rep)
                except BenchError as e:
                    log("%s: FAILED: %s" % (row.key, e))
                    failed["relayftpd"] = "FAIL"
                    break
                for col, (v, d) in got.items():
                    samples.setdefault(col, []).append((v, d))
                    log("%s / %s run %d: %s %s" % (row.key, col, rep + 1,
                                                   fmt(v), row.unit))
            outcomes.append(Outcome(row, samples, failed))
            continue
        pool = ctx.main if row.variant == "main" else ctx.ranged
        targets = [t for n, t in pool.items() if n not in row.skip]
        if not targets:
            continue
        if row.ceiling and ctx.ceiling is not None:
            targets.append(ctx.ceiling)
        for t in targets:
            samples[t.name] = []
        for rep in range(reps):
            # Rotate who goes first, so no server always runs right
            # after the same neighbour.
            k = rep % len(targets)
            for t in targets[k:] + targets[:k]:
                if t.name in failed:
                    continue
                try:
                    v, d = row.fn(ctx, t, rep)
                except BenchError as e:
                    log("%s / %s: FAILED: %s" % (row.key, t.name, e))
                    failed[t.name] = "FAIL"
                    continue
                samples[t.name].append((v, d))
                extra = ""
                if "p99_ms" in d and row.key.startswith("parallel"):
                    extra = " (p99 %s ms, %d failed)" % (fmt(d["p99_ms"]),
                                                        d["failed"])
                    if d["failed"] and "warning" in d:
                        extra += "; first: %s" % d["warning"]
                log("%s / %s run %d: %s %s%s" % (row.key, t.name, rep + 1,
                                                 fmt(v), row.unit, extra))
        outcomes.append(Outcome(row, samples, failed))
    return outcomes


def main():
    all_keys = [r.key for r in rows(argparse.Namespace(
        small_count=0, small_kib=0, logins=0, parallel=0,
        parallel_files=0, parallel_kib=0, big_mib=1024, list_entries=0,
        idle=0, lat_count=0, relay_count=0, relay_big_mib=1024,
        paced_mbps=0, big_reps=1))]
    args = parse_args(all_keys)
    signal.signal(signal.SIGTERM, on_sigterm)
    if not os.access(args.binary, os.X_OK):
        sys.exit("bench: no relayftpd binary at %s (make bench builds it)"
                 % args.binary)
    if os.geteuid() != 0:
        sys.exit("bench: run it as root: it makes a temporary system "
                 "account that vsftpd and pure-ftpd log in, and relayftpd "
                 "runs as it")
    selected = [r for r in rows(args)
                if args.only is None or r.key in args.only]
    client = Client(build_client(os.path.join(os.path.dirname(
        os.path.abspath(args.binary)), "bench")))
    skipped = {}
    pure_binary = None
    for s in SERVERS:
        if s not in args.servers:
            skipped[s] = "not selected (--servers)"
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
    need_relay = any(r.relay for r in selected)
    if need_relay and not os.access(VSFTPD, os.X_OK):
        log("relay rows skipped: their target is a vsftpd")
        need_relay = False
        selected = [r for r in selected if not r.relay]

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
        os.chmod(data_dir, 0o755)
        data = Data(data_dir, args)
        # Its home is pure-ftpd's login folder; vsftpd also needs it to
        # exist (it changes into it before local_root).
        account = SystemUser(os.path.join(work, "pure-ftpd", "home"))
        os.makedirs(account.home)
        os.chown(account.home, account.uid, account.gid)
        user, password = account.name, account.password
        ctx = Ctx(client, data, args)
        variants = set(r.variant for r in selected if not r.relay)
        pasv = pick_pasv_range() if "ranged" in variants else None
        for variant in ("main", "ranged"):
            if variant not in variants:
                continue
            pool = ctx.main if variant == "main" else ctx.ranged
            for name in args.servers:
                if name in skipped:
                    continue
                try:
                    t = start_server(name, variant, args, work, user,
                                     password, account, pure_binary,
                                     pasv if variant == "ranged" else None,
                                     daemons)
                except (RuntimeError, OSError) as e:
                    log("%s: %s" % (name, e))
                    skipped[name] = "did not start (%s)" % \
                        str(e).splitlines()[0]
                    continue
                if variant == "main" and name not in pool:
                    data.place(t, args)
                pool[name] = t
        if need_relay and "relayftpd" not in skipped:
            d = Vsftpd(account, start=False)
            d.name = "vsftpd-target"
            daemons.append(d)
            d.start()
            ctx.down = Target("direct", d.port, user, password, d.home,
                              (account.uid, account.gid), d.proc)
            base = os.path.join(d.home, "base", user)
            os.makedirs(base)
            for p in (os.path.dirname(base), base):
                chown(p, ctx.down.owner)
            ctx.relay = start_server(
                "relayftpd", "relay", args, work, user, password, account,
                None, None, daemons,
                mirror={"url": "ftp://127.0.0.1:%d/base" % d.port,
                        "user": user, "password": password})
            log("relay target: vsftpd on 127.0.0.1:%d" % d.port)
        if need_relay and "relayftpd" not in skipped and any(
                r.key == "relay_big_paced" for r in selected):
            d = Vsftpd(account, start=False)
            d.name = "vsftpd-target-paced"
            d.max_rate = args.paced_mbps * 1000000
            daemons.append(d)
            d.start()
            ctx.down_paced = Target("direct", d.port, user, password,
                                    d.home, (account.uid, account.gid),
                                    d.proc)
            base = os.path.join(d.home, "base", user)
            os.makedirs(base)
            for p in (os.path.dirname(base), base):
                chown(p, ctx.down.owner)
            ctx.relay_paced = start_server(
                "relayftpd", "relay-paced", args, work, user, password,
                account, None, None, daemons,
                mirror={"url": "ftp://127.0.0.1:%d/base" % d.port,
                        "user": user, "password": password})
            log("paced relay target: vsftpd on 127.0.0.1:%d, at most %d "
                "MB/s a session" % (d.port, args.paced_mbps))
        if any(r.ceiling and not r.relay for r in selected):
            folder = os.path.join(work, "nullftpd")
            os.makedirs(folder)
            d = NullFtpd(build_client(os.path.dirname(client.binary),
                                      NULL_SRC), folder,
                         (account.uid, account.gid))
            daemons.append(d)
            d.start()
            ctx.ceiling = Target("ceiling", d.port, user, password, d.home,
                                 (account.uid, account.gid), d.proc)
            log("ceiling: bench/nullftpd on 127.0.0.1:%d" % d.port)
        if not ctx.main and not ctx.ranged and ctx.relay is None:
            sys.exit("bench: no server could be started")

        outcomes = run_rows(ctx, selected)
        scheme = shadow_scheme(account.name)
        text = header(args, skipped, scheme, pure_binary, load) + [""] + \
            tables(outcomes) + ceiling_table(outcomes) + \
            cpu_table(outcomes)
        if args.reps > 1:
            text += spread_table(outcomes)
        print("\n".join(text))
        if args.out:
            with open(args.out, "w") as f:
                f.write("\n".join(text) + "\n")
            log("saved %s" % args.out)
        return 1 if any(o.failed for o in outcomes) else 0
    except BenchError as e:
        log("FAILED: %s" % e)
        return 1
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
