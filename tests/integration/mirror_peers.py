"""Third-party downstream servers for the mirror tests (test_mirror_more.py).

SystemUser   a throw-away local account with a password (useradd +
             chpasswd, removed with userdel): OpenSSH and vsftpd both log
             in real accounts.
SshdPeer     OpenSSH's sshd (Debian: openssh-server) in the foreground
             (-D -e) on 127.0.0.1:<free port>, with a temporary ed25519
             host key, password authentication without PAM (sshd checks
             /etc/shadow itself), or only public keys listed in a given
             authorized_keys file, and the internal-sftp subsystem. It
             gives its host key as an admin would write it in relayftpd's
             host_key_sha256 (ssh-keygen -l) or known_hosts.
ssh_keygen(path, passphrase="")
             a new ed25519 key pair at path / path.pub.
VsftpdPeer   vsftpd (Debian: vsftpd) in the foreground on
             127.0.0.1:<free port>, local users via PAM service "vsftpd",
             rooted at a temporary folder (local_root); optionally explicit
             FTPS with a self-signed certificate (openssl req), optionally
             with TLS capped at 1.2 (OPENSSL_CONF for the vsftpd process).
ProftpdPeer  proftpd (Debian: proftpd-core) standalone in the foreground,
             that account's /etc/shadow password, chrooted to a temporary
             folder, mod_digest's HASH on.
PureftpdPeer pure-ftpd in the foreground as bench/run.py starts it, chrooted
             to the account's home. Both conflict with vsftpd (ftp-server):
             scripts/deps.sh test unpacks them into tests/.debs.
missing_binaries(...) / need_root()
             reasons to skip.
system_user_for(test, prefix, *binaries)
             a SystemUser with a fresh home for one unittest test,
             removed at its cleanup, or the test skipped saying why.

Every process started here is stopped by its owner (stop()/cleanup()),
by process id; every wait is bounded (daemon.Daemon does both).
"""
import grp
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from daemon import Daemon, free_port, read_text  # noqa: E402

SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = "/usr/bin/ssh-keygen"
VSFTPD = "/usr/sbin/vsftpd"
OPENSSL = "/usr/bin/openssl"
USERADD = "/usr/sbin/useradd"
USERDEL = "/usr/sbin/userdel"
CHPASSWD = "/usr/sbin/chpasswd"

# Which Debian package provides each binary (for skip messages).
PACKAGES = {
    "sshd": "openssh-server",
    "ssh-keygen": "openssh-client",
    "vsftpd": "vsftpd",
    "openssl": "openssl",
    "useradd": "passwd",
    "userdel": "passwd",
    "chpasswd": "passwd",
}

ACCOUNT_COMMENT = "relayftpd test account"
ACCOUNT_PREFIX = "rftpm"


def missing_binaries(*paths):
    """'' if all exist, else a skip reason naming the Debian packages."""
    gone = [p for p in paths if not os.access(p, os.X_OK)]
    if not gone:
        return ""
    pkgs = sorted({PACKAGES.get(os.path.basename(p), "?") for p in gone})
    return "missing %s (Debian: apt-get install %s)" % (
        ", ".join(gone), " ".join(pkgs))


def need_root():
    """'' when running as root, else a skip reason."""
    if os.geteuid() != 0:
        return ("needs root: creates a temporary local account for "
                "sshd/vsftpd password logins")
    return ""


def _run(cmd, **kw):
    kw.setdefault("timeout", 30)
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    if "input" not in kw:
        kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(cmd, **kw)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_accounts():
    """Accounts this module made in a run that died before its cleanup:
    name rftpm<pid>x..., our comment, and that pid no longer alive."""
    for pw in pwd.getpwall():
        if not pw.pw_name.startswith(ACCOUNT_PREFIX) or \
                pw.pw_gecos != ACCOUNT_COMMENT:
            continue
        digits = pw.pw_name[len(ACCOUNT_PREFIX):].split("x", 1)[0]
        if digits.isdigit() and not _pid_alive(int(digits)):
            _run([USERDEL, "-f", pw.pw_name])


def make_tree_dir(path, owner=None, mode=0o755):
    """mkdir -p with mode (the peers' daemons drop to the account, so every
    parent of their folders must be traversable)."""
    os.makedirs(path, exist_ok=True)
    os.chmod(path, mode)
    if owner is not None:
        os.chown(path, owner.uid, owner.gid)


class SystemUser:
    """A local account rftpm<pid>x<hex> with a random password.

    home is not created by useradd (-M); the caller makes the folders it
    needs and chowns them (make_tree_dir(..., owner=user))."""

    def __init__(self, home):
        _remove_stale_accounts()
        self.name = "%s%dx%s" % (ACCOUNT_PREFIX, os.getpid(),
                                 secrets.token_hex(3))
        self.password = "Pw-" + secrets.token_hex(8)
        self.home = home
        r = _run([USERADD, "-M", "-d", home, "-s", "/bin/bash",
                  "-c", ACCOUNT_COMMENT, self.name])
        if r.returncode != 0:
            raise RuntimeError("useradd %s: %s" % (self.name, r.stderr))
        self.created = True
        try:
            r = _run([CHPASSWD],
                     input="%s:%s\n" % (self.name, self.password))
            if r.returncode != 0:
                raise RuntimeError("chpasswd: %s" % r.stderr)
            pw = pwd.getpwnam(self.name)
            self.uid, self.gid = pw.pw_uid, pw.pw_gid
        except BaseException:
            self.remove()
            raise

    def remove(self, timeout=10):
        """userdel; waits (bounded) for the account's processes (sshd or
        vsftpd sessions of a client that just left) to end first."""
        if not getattr(self, "created", False):
            return
        deadline = time.monotonic() + timeout
        while True:
            r = _run([USERDEL, self.name])
            if r.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if r.returncode != 0:
            _run([USERDEL, "-f", self.name])
        self.created = False



def system_user_for(test, prefix, *binaries):
    """A SystemUser for test (a unittest.TestCase) whose home is a fresh
    folder named with prefix, owned by it; both are removed at the test's
    cleanup. Skips the test, saying why, when one of binaries is missing,
    when not root, or when the account tools are missing (in that order)."""
    why = (missing_binaries(*binaries) or need_root() or
           missing_binaries(USERADD, USERDEL, CHPASSWD))
    if why:
        test.skipTest(why)
    home = tempfile.mkdtemp(prefix=prefix)
    test.addCleanup(shutil.rmtree, home, True)
    user = SystemUser(home)
    test.addCleanup(user.remove)
    make_tree_dir(home, owner=user)
    return user

class _Daemon(Daemon):
    """A foreground daemon with its stderr/stdout in out_path (the shared
    daemon.Daemon; bench/run.py subclasses it under this name)."""


def ssh_keygen(path, passphrase="", comment="relayftpd-test"):
    """A new ed25519 key pair: path (private, OpenSSH format, encrypted
    when passphrase is given) and path + ".pub"."""
    r = _run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", passphrase, "-C",
              comment, "-f", path])
    if r.returncode != 0:
        raise RuntimeError("ssh-keygen: %s" % r.stderr)
    return path


def sha256_fingerprint(pub_path):
    """The fingerprint as `ssh-keygen -l -E sha256 -f KEY.pub` prints it:
    "SHA256:<43 base64 characters>"."""
    r = _run([SSH_KEYGEN, "-l", "-E", "sha256", "-f", pub_path])
    if r.returncode != 0:
        raise RuntimeError("ssh-keygen -l: %s" % r.stderr)
    return r.stdout.split()[1]


def _descendants(root):
    """The pids of root's children, theirs, and so on (from /proc)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        # The parent's pid is the second field after the command's ")".
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo and len(out) < 10000:
        for pid in children.get(todo.pop(), []):
            out.append(pid)
            todo.append(pid)
    return out


class SshdPeer(_Daemon):
    """sshd -D -e on 127.0.0.1:<free port> for one SystemUser, sftp via
    internal-sftp. Password logins, or with authorized_keys=FILE only the
    public keys in FILE (no password). Files live where the sftp URL path
    says (absolute); make them writable by the user. stall=True serves
    sftp through sftp_stall.py instead: stall_hold(kind) then holds the
    reply to the next request of that kind (see there)."""

    what = "sshd"

    def __init__(self, user, start=True, authorized_keys=None,
                 stall=False):
        self.user = user
        self._make_tmp("rftp-sshd-", mode=0o755)
        self.subsystem = "internal-sftp"
        if stall:
            # Copies the user can read and a folder the user can write,
            # wherever the checkout lives.
            self.stall_dir = os.path.join(self.tmp, "stall")
            os.makedirs(self.stall_dir)
            os.chown(self.stall_dir, user.uid, user.gid)
            script = os.path.join(self.tmp, "sftp_stall.py")
            shutil.copyfile(os.path.join(os.path.dirname(
                os.path.abspath(__file__)), "sftp_stall.py"), script)
            os.chmod(script, 0o755)
            self.subsystem = "%s %s %s" % (sys.executable, script,
                                           self.stall_dir)
        self.authorized_keys = None
        if authorized_keys is not None:
            # sshd reads it as the user: a copy where the user can.
            self.authorized_keys = os.path.join(self.tmp, "authorized_keys")
            shutil.copyfile(authorized_keys, self.authorized_keys)
            os.chmod(self.authorized_keys, 0o644)
        self.hostkey = os.path.join(self.tmp, "ssh_host_ed25519_key")
        self.config = os.path.join(self.tmp, "sshd_config")
        self.out_path = os.path.join(self.tmp, "sshd.log")
        self.port = None
        ssh_keygen(self.hostkey)
        if start:
            self.start()

    def _auth_lines(self):
        if self.authorized_keys is None:
            return ["PasswordAuthentication yes",
                    "KbdInteractiveAuthentication no",
                    "PubkeyAuthentication no"]
        return ["PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "AuthenticationMethods publickey",
                "AuthorizedKeysFile %s" % self.authorized_keys]

    def _write_config(self):
        with open(self.config, "w") as f:
            f.write("\n".join([
                "ListenAddress 127.0.0.1:%d" % self.port,
                "HostKey %s" % self.hostkey,
                "PidFile %s" % os.path.join(self.tmp, "sshd.pid"),
                # Without PAM sshd checks the password against
                # /etc/shadow itself: no pam_loginuid etc. to trip over
                # in a container.
                "UsePAM no",
            ] + self._auth_lines() + [
                "PermitRootLogin no",
                "StrictModes no",
                "AllowUsers %s" % self.user.name,
                "Subsystem sftp %s" % self.subsystem,
                "LogLevel VERBOSE",
                "MaxStartups 100",
                "",
            ]))

    def start(self, timeout=15, port=None):
        """Starts sshd on a free port, or on port (the same one again
        after a stop: an outage that the target's url outlives)."""
        # The privilege separation folder, normally made by the init
        # system when the service starts.
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)

        def spawn():
            self.port = port or free_port()
            self._write_config()
            self._spawn([SSHD, "-D", "-e", "-f", self.config])

        def ready(deadline):
            want = "Server listening on 127.0.0.1 port %d." % self.port
            return self._poll_ready(
                lambda: want in self.output()[self.start_mark:], deadline)

        self._launch(spawn, ready, timeout,
                     retry_if=lambda text: "Address already in use" in text)
        return self

    def cleanup(self):
        """Stops sshd and its session processes too: a session whose
        client's packets a test dropped (test_mirror_netdrop) waits out
        TCP's retries, and outlived the test by minutes."""
        pids = _descendants(self.proc.pid) if self.running() else []
        try:
            super().cleanup()
        finally:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass

    def url(self, path, password=True):
        """sftp URL with the credentials (password=False: the user name
        only); path is absolute."""
        if not password:
            return "sftp://%s@127.0.0.1:%d%s" % (
                self.user.name, self.port, path)
        return "sftp://%s:%s@127.0.0.1:%d%s" % (
            self.user.name, self.user.password, self.port, path)

    def stall_hold(self, kind):
        """Arms sftp_stall.py: the next request of kind ("close",
        "rename", "stat", ...) in any session gets no reply."""
        with open(os.path.join(self.stall_dir, "hold-" + kind), "w"):
            pass

    def stall_fail(self, kind):
        """Arms sftp_stall.py: the next request of kind is carried out
        and answered with a failure status."""
        with open(os.path.join(self.stall_dir, "fail-" + kind), "w"):
            pass

    def stall_held(self):
        """The holds and failures taken so far: ["held close 7",
        "failed close", ...]."""
        try:
            with open(os.path.join(self.stall_dir, "log")) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def stall_seen(self, kind):
        """How many requests of kind sftp_stall.py passed on (held or
        not), over every session."""
        try:
            with open(os.path.join(self.stall_dir, "seen")) as f:
                return f.read().splitlines().count(kind)
        except FileNotFoundError:
            return 0

    def host_key_sha256(self):
        """The host key's fingerprint as ssh-keygen -l prints it."""
        return sha256_fingerprint(self.hostkey + ".pub")

    def known_hosts_line(self):
        """This server's line for an OpenSSH known_hosts file (the host
        is written [127.0.0.1]:PORT, as ssh writes a non-22 port)."""
        with open(self.hostkey + ".pub") as f:
            keytype, blob = f.read().split()[:2]
        return "[127.0.0.1]:%d %s %s\n" % (self.port, keytype, blob)


class _FtpPeer(_Daemon):
    """What the FTP peers below share: a login folder self.root owned by
    the SystemUser, start() on a free port until its 220 banner (the
    subclass gives _command() for self.port, its _env() and the words
    of a port taken, busy), url()/target()/dir()."""

    busy = "in use"

    def _env(self):
        return None

    def start(self, timeout=15):
        def spawn():
            self.port = free_port()
            self._spawn(self._command(), env=self._env())

        self._launch(
            spawn,
            lambda deadline: self._poll_ready(
                lambda: self._banner().startswith("220"), deadline),
            timeout, retry_if=lambda text: self.busy in text)
        return self

    def _banner(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port),
                                          timeout=2) as s:
                return s.recv(512).decode(errors="replace")
        except OSError:
            return ""

    def url(self, path="/base"):
        """ftp URL (credentials go in the target's user/password keys);
        path is relative to the login folder self.root."""
        return "ftp://127.0.0.1:%d%s" % (self.port, path)

    def target(self, path="/base", **extra):
        spec = {"url": self.url(path), "user": self.user.name,
                "password": self.user.password}
        spec.update(extra)
        return spec

    def dir(self, *parts):
        return os.path.join(self.root, *parts)


class VsftpdPeer(_FtpPeer):
    """vsftpd on 127.0.0.1:<free port> for one SystemUser, whose login
    folder is self.root (local_root). tls=True: explicit FTPS only (logins
    and data must use TLS), self-signed certificate for CN=localhost.
    tls_max="TLSv1.2" caps the protocol through OPENSSL_CONF. extra:
    more configuration lines ("cmds_allowed=...")."""

    what = "vsftpd"

    def __init__(self, user, tls=False, tls_max=None, extra=(), start=True):
        self.user = user
        self.tls = tls
        self.tls_max = tls_max
        self.extra = list(extra)
        self._make_tmp("rftp-vsftpd-", mode=0o755)
        self.root = os.path.join(self.tmp, "root")
        make_tree_dir(self.root, owner=user)
        # secure_chroot_dir: empty, not writable by the user.
        self.empty = os.path.join(self.tmp, "empty")
        make_tree_dir(self.empty)
        self.config = os.path.join(self.tmp, "vsftpd.conf")
        self.out_path = os.path.join(self.tmp, "vsftpd.out")
        self.log_path = os.path.join(self.tmp, "vsftpd.log")
        self.cert = os.path.join(self.tmp, "cert.pem")
        self.key = os.path.join(self.tmp, "key.pem")
        self.port = None
        if tls:
            r = _run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048",
                      "-nodes", "-keyout", self.key, "-out", self.cert,
                      "-days", "1", "-subj", "/CN=localhost"], timeout=60)
            if r.returncode != 0:
                raise RuntimeError("openssl req: %s" % r.stderr)
            os.chmod(self.key, 0o600)
        if start:
            self.start()

    def _write_config(self):
        lines = [
            "listen=YES",
            "listen_ipv6=NO",
            "listen_address=127.0.0.1",
            "listen_port=%d" % self.port,
            "background=NO",
            "anonymous_enable=NO",
            "local_enable=YES",
            "write_enable=YES",
            "local_umask=022",
            "local_root=%s" % self.root,
            # No seccomp filter and no namespaces: both fail in some
            # containers and neither is what is under test.
            "seccomp_sandbox=NO",
            "isolate=NO",
            "isolate_network=NO",
            "secure_chroot_dir=%s" % self.empty,
            "pam_service_name=vsftpd",
            "userlist_enable=NO",
            "tcp_wrappers=NO",
            "use_localtime=NO",
            # PASV on any free port (pasv_min_port=0): no fixed range that
            # a test running in parallel could hold.
            "pasv_enable=YES",
            "pasv_min_port=0",
            "pasv_max_port=0",
            "xferlog_enable=YES",
            "vsftpd_log_file=%s" % self.log_path,
            "log_ftp_protocol=YES",
            "idle_session_timeout=120",
            "data_connection_timeout=60",
        ]
        if self.tls:
            lines += [
                "ssl_enable=YES",
                "rsa_cert_file=%s" % self.cert,
                "rsa_private_key_file=%s" % self.key,
                "force_local_logins_ssl=YES",
                "force_local_data_ssl=YES",
                "require_ssl_reuse=NO",
                # vsftpd 3.0.3's default, DES-CBC3-SHA, is gone from
                # OpenSSL 3.
                "ssl_ciphers=HIGH",
                "debug_ssl=YES",
            ]
        lines += self.extra
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")

    def _env(self):
        env = dict(os.environ)
        if self.tls_max:
            conf = os.path.join(self.tmp, "openssl.cnf")
            with open(conf, "w") as f:
                f.write("openssl_conf = init\n\n[init]\n"
                        "ssl_conf = ssl_sect\n\n[ssl_sect]\n"
                        "system_default = sys_default\n\n[sys_default]\n"
                        "MaxProtocol = %s\n" % self.tls_max)
            env["OPENSSL_CONF"] = conf
        return env

    busy = "could not bind"

    def _command(self):
        self._write_config()
        return [VSFTPD, self.config]

    def log_text(self):
        """vsftpd's own log (output() has what the process printed)."""
        return read_text(self.log_path)



# proftpd and pure-ftpd both provide ftp-server and conflict with vsftpd,
# so neither is installed: scripts/deps.sh test fetches their packages with
# apt-get download and unpacks them here (their libraries are installed).
UNPACKED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                        ".debs")


def unpacked_binary(name):
    """/usr/sbin/NAME when installed, else the one unpacked under
    tests/.debs by scripts/deps.sh test."""
    installed = os.path.join("/usr/sbin", name)
    if os.access(installed, os.X_OK):
        return installed
    return os.path.normpath(os.path.join(UNPACKED, "usr", "sbin", name))


PROFTPD = unpacked_binary("proftpd")
PUREFTPD = unpacked_binary("pure-ftpd")
PACKAGES.update({"proftpd": "proftpd-core (scripts/deps.sh test)",
                 "pure-ftpd": "pure-ftpd (scripts/deps.sh test)"})


class ProftpdPeer(_FtpPeer):
    """proftpd 1.3.8 standalone in the foreground (-n) on
    127.0.0.1:<free port> for one SystemUser (its /etc/shadow password),
    chrooted to self.root (DefaultRoot), with mod_digest (HASH, XSHA256)
    loaded. extra: more configuration lines."""

    what = "proftpd"

    def __init__(self, user, extra=(), start=True):
        self.user = user
        self.extra = list(extra)
        self._make_tmp("rftp-proftpd-", mode=0o755)
        self.root = os.path.join(self.tmp, "root")
        make_tree_dir(self.root, owner=user)
        self.config = os.path.join(self.tmp, "proftpd.conf")
        self.out_path = os.path.join(self.tmp, "proftpd.out")
        self.port = None
        if start:
            self.start()

    def _write_config(self):
        modules = os.path.join(os.path.dirname(os.path.dirname(PROFTPD)),
                               "lib", "proftpd")
        lines = [
            "ServerType standalone",
            "DefaultAddress 127.0.0.1",
            "Port %d" % self.port,
            "SocketBindTight on",
            "PidFile %s" % os.path.join(self.tmp, "proftpd.pid"),
            "ScoreboardFile %s" % os.path.join(self.tmp, "scoreboard"),
            "DelayTable none",
            "WtmpLog off",
            "UseIPv6 off",
            "UseReverseDNS off",
            "User %s" % self.user.name,
            "Group %s" % grp.getgrgid(self.user.gid).gr_name,
            "Umask 022",
            "AuthOrder mod_auth_unix.c",
            "UseFtpUsers off",
            "RequireValidShell off",
            "DefaultRoot %s" % self.root,
            "AllowOverwrite on",
            "MaxInstances 60",
            "TimeoutIdle 120",
            "SystemLog %s" % os.path.join(self.tmp, "proftpd.log"),
            "TransferLog none",
            "ModulePath %s" % modules,
            "LoadModule mod_digest.c",
            "<IfModule mod_digest.c>",
            "  DigestEngine on",
            "</IfModule>",
        ] + self.extra
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")

    def _command(self):
        self._write_config()
        return [PROFTPD, "-n", "-q", "-c", self.config]

    def log_text(self):
        return read_text(os.path.join(self.tmp, "proftpd.log"))


class PureftpdPeer(_FtpPeer):
    """pure-ftpd in the foreground on 127.0.0.1:<free port> (as bench/run.py
    starts it): unix logins (shadow + crypt(3)) of one SystemUser, chrooted
    (-A) to its home, which is self.root. extra: more arguments."""

    what = "pure-ftpd"

    def __init__(self, user, extra=(), start=True):
        self.user = user
        self.extra = list(extra)
        self._make_tmp("rftp-pureftpd-", mode=0o755)
        self.root = user.home
        self.out_path = os.path.join(self.tmp, "pure-ftpd.out")
        self.port = None
        if start:
            self.start()

    def _command(self):
        return [PUREFTPD, "-S", "127.0.0.1,%d" % self.port, "-l", "unix",
                "-E", "-H", "-A", "-f", "none", "-U", "133:022"] + self.extra

    def log_text(self):
        return self.output()


class LineCap:
    """A control-connection relay on 127.0.0.1:<ephemeral port> in front
    of an FTP server on upstream_port that answers a command line longer
    than limit bytes (CRLF counted) "500 Command too long." itself, as
    pyftpdlib does past its 2,048 bytes, and passes the rest on: a
    server's own replies, passive ports included (the client connects to
    the server for data, as EPSV names no host). url(path) is the relay's
    URL; close() ends the listener and every connection."""

    def __init__(self, upstream_port, limit=2048, replies=None):
        self.upstream_port = upstream_port
        self.limit = limit
        # replies: {line: line} of the server's reply lines (CRLF and
        # all) to pass on as another, as an odd server would answer.
        self.replies = replies or {}
        self.refused = 0
        self._socks = []
        self._lock = threading.Lock()
        self._lsock = socket.socket()
        self._lsock.bind(("127.0.0.1", 0))
        self._lsock.listen(16)
        self.port = self._lsock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path):
        return "ftp://127.0.0.1:%d%s" % (self.port, path)

    def _keep(self, *socks):
        with self._lock:
            self._socks.extend(socks)

    def _accept(self):
        while True:
            try:
                c, _ = self._lsock.accept()
            except OSError:
                return  # closed
            try:
                u = socket.create_connection(
                    ("127.0.0.1", self.upstream_port), timeout=10)
            except OSError:
                c.close()
                continue
            u.settimeout(None)
            self._keep(c, u)
            threading.Thread(target=self._down, args=(u, c, self.replies),
                             daemon=True).start()
            threading.Thread(target=self._up, args=(c, u),
                             daemon=True).start()

    @staticmethod
    def _shut(*socks):
        """Both ways shut: the other side's thread sees its end."""
        for sk in socks:
            try:
                sk.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    @staticmethod
    def _down(u, c, replies):
        """The server's bytes to the client, as they come (by whole
        lines where replies has some to change)."""
        pending = b""
        try:
            while True:
                data = u.recv(65536)
                if not data:
                    break
                if not replies:
                    c.sendall(data)
                    continue
                pending += data
                end = pending.rfind(b"\n") + 1
                lines, pending = pending[:end], pending[end:]
                c.sendall(b"".join(replies.get(line, line)
                                   for line in lines.splitlines(True)))
        except OSError:
            pass
        LineCap._shut(c, u)

    def _up(self, c, u):
        """The client's lines to the server, each too long answered
        here; a partial line longer than the cap is refused as soon as
        it is (its end then skipped), as a server reading a bounded
        line does."""
        pending, skipping = b"", False
        try:
            while True:
                data = c.recv(65536)
                if not data:
                    break
                pending += data
                while True:
                    end = pending.find(b"\n")
                    if end < 0:
                        if len(pending) > self.limit and not skipping:
                            skipping = True
                            self._refuse(c)
                        if skipping:
                            pending = b""
                        break
                    line, pending = pending[:end + 1], pending[end + 1:]
                    if skipping:
                        skipping = False
                    elif len(line) > self.limit:
                        self._refuse(c)
                    else:
                        u.sendall(line)
        except OSError:
            pass
        LineCap._shut(c, u)

    def _refuse(self, c):
        with self._lock:
            self.refused += 1
        c.sendall(b"500 Command too long.\r\n")

    def close(self):
        self._lsock.close()
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            try:
                s.close()
            except OSError:
                pass

