"""The one base for every process the integration tests start.

Daemon owns what harness.Server (relayftpd), mirror_targets.PyftpdTarget
and mirror_peers' SshdPeer and VsftpdPeer (and bench/run.py's servers,
through mirror_peers._Daemon) have in common:
  - a temporary folder (self.tmp), removed by cleanup();
  - the process's output appended to a file (self.out_path, output());
  - a start with a bounded wait for readiness, tried again on a new port
    when another test took it (_launch, _stdout_line, _poll_ready);
  - a stop by process id: SIGTERM, a bounded wait, SIGKILL after it
    (_terminate, stop, kill), optionally checking for a clean exit.
Nothing here waits longer than its timeout.
"""
import atexit
import errno
import fcntl
import os
import random
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time


def read_text(path):
    """The file's text ('' if it cannot be read), bad UTF-8 replaced."""
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def _below_ephemeral():
    """(lo, hi) of the ports tests pick for themselves: 10000 up to just
    below the kernel's ephemeral range, which bind(0) and connect() hand
    out to every other process on the host."""
    hi = 32000
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            hi = min(hi, int(f.read().split()[0]) - 1)
    except (OSError, ValueError, IndexError):
        pass
    return 10000, max(hi, 10001)


# Ports this process picked, each held until it exits by a lock on its
# byte of one file shared by every test process on the host (_reserve).
_PORT_LOCKS = os.path.join(tempfile.gettempdir(), "relayftpd-test-ports")
_port_lock_fd = None
_ports_mine = set()


def _reserve(lo, n):
    """True if ports lo .. lo+n-1 are now this process's for its life:
    none picked by it before, none held by another test process. Two
    tests that picked the same free port at once (1 in about 22,000 a
    pick) both found it free and the second met the first's server, or
    a "nothing listens here" target came to life. Record locks (one
    byte a port) go with their process however it ends, so none goes
    stale. Without the file (a read-only /tmp) ports are only
    checked, as before."""
    global _port_lock_fd
    if any(p in _ports_mine for p in range(lo, lo + n)):
        return False
    if _port_lock_fd is None:
        try:
            _port_lock_fd = os.open(_PORT_LOCKS, os.O_RDWR | os.O_CREAT,
                                    0o666)
            # Every account the tests run as takes its ports here too.
            if os.fstat(_port_lock_fd).st_uid == os.geteuid():
                os.fchmod(_port_lock_fd, 0o666)
        except OSError:
            _port_lock_fd = -1
    if _port_lock_fd >= 0:
        try:
            fcntl.lockf(_port_lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB, n, lo)
        except OSError as e:
            if e.errno in (errno.EACCES, errno.EAGAIN):
                return False
            raise
    _ports_mine.update(range(lo, lo + n))
    return True


def free_port():
    """A loopback port nothing listens on now, from below the ephemeral
    range, that no other test process picked (_reserve). A port bound on
    0 and released was one the kernel hands to the next bind(0) anywhere
    on the host (another test's server): a peer stopped for an outage
    and started again on it, or a "nothing listens here" target, then
    met a stranger, or could not start (on a busy host with a
    port-churning neighbour, 3 of 3 runs of test_mirror.py CrashTest).
    Below the range only tests that pick their ports meet, and they
    take turns."""
    lo, hi = _below_ephemeral()
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(lo, hi)
        if port_free(port) and _reserve(port, 1):
            return port
    raise RuntimeError("no free port in %d-%d" % (lo, hi))


def port_free(port, hosts=("127.0.0.1",), reuse=False):
    """True if the TCP port can be bound on every address of hosts now
    (reuse: with SO_REUSEADDR, so a port in TIME_WAIT counts as free)."""
    for host in hosts:
        s = socket.socket()
        try:
            if reuse:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_port_range(n, hosts=("127.0.0.1",)):
    """(lo, hi): n consecutive ports free on hosts, from a random base in
    10000-32000 (below the kernel's ephemeral range, so no outgoing
    connection lands in it; other tests pick theirs at the same time,
    and _reserve keeps them apart)."""
    first, last = _below_ephemeral()
    rng = random.Random()
    for _ in range(200):
        lo = rng.randrange(first, last - n)
        if (all(port_free(p, hosts) for p in range(lo, lo + n)) and
                _reserve(lo, n)):
            return lo, lo + n - 1
    raise RuntimeError("no free range of %d ports in %d-%d" %
                       (n, first, last))


class Daemon:
    """A child process with its own temporary folder and output file.

    Subclasses set out_path (and usually tmp through _make_tmp) before
    starting, and name what they run in `what` for messages."""

    what = "daemon"
    proc = None
    out = None       # the output file while the process runs
    out_path = None
    tmp = None
    start_mark = 0   # len(output()) when the current start began

    def _make_tmp(self, prefix, mode=None):
        self.tmp = tempfile.mkdtemp(prefix=prefix)
        # Removed when the test process ends too: a test that only stops
        # its peer (to check the exit status) left the folder behind, 180
        # of them in /tmp after one session's runs.
        atexit.register(shutil.rmtree, self.tmp, True)
        if mode is not None:
            os.chmod(self.tmp, mode)
        return self.tmp

    def _spawn(self, cmd, env=None, pipe_stdout=False):
        """Starts cmd with stdin closed. Its stderr, and its stdout unless
        pipe_stdout (then read with _stdout_line), go to out_path."""
        self.out = open(self.out_path, "ab")
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipe_stdout else self.out,
            stderr=self.out if pipe_stdout else subprocess.STDOUT,
            # Unbuffered: a buffered reader could swallow a second line,
            # which select() would then never see.
            bufsize=0, env=env)

    def _stdout_line(self, deadline):
        """The next line on the stdout pipe, stripped; '' when the
        process exits or the deadline passes first."""
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                return self.proc.stdout.readline().decode().strip()
            if self.proc.poll() is not None:
                break
        return ""

    def _poll_ready(self, ready, deadline, interval=0.05):
        """Polls ready() until true; False when the process exits or the
        deadline passes first."""
        while time.monotonic() < deadline:
            if ready():
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(interval)
        return False

    def _launch(self, spawn, ready, timeout, retry_if=None, pause=0.0):
        """spawn() starts the process; ready(deadline) waits (bounded) and
        returns something true once it serves, which is returned. A start
        that fails is stopped; when retry_if(its output) is true (a port
        another test took) and time is left it is tried again (spawn picks
        the port), else RuntimeError carries the output."""
        deadline = time.monotonic() + timeout
        while True:
            self.start_mark = len(self.output())
            spawn()
            result = ready(deadline)
            if result:
                return result
            self.stop()
            text = self.output()[self.start_mark:]
            if retry_if is not None and retry_if(text) and \
                    time.monotonic() < deadline:
                time.sleep(pause)
                continue
            raise RuntimeError("%s did not start:\n%s" % (self.what, text))

    def output(self):
        """Everything the process wrote to out_path so far."""
        return read_text(self.out_path) if self.out_path else ""

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _terminate(self, timeout):
        """SIGTERM (by pid), wait up to timeout, SIGKILL after it; closes
        the pipes and output. Returns (exit code or None if there was no
        process, True if SIGTERM did not stop it)."""
        code, hung = None, False
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    code = self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    hung = True
                    self.proc.kill()
                    self.proc.wait(timeout=5)
            else:
                code = self.proc.returncode
        self._close()
        return code, hung

    def stop(self):
        """SIGTERM, then SIGKILL after 10 s; the port is free on return."""
        return self._terminate(10)[0]

    def kill(self):
        """SIGKILL (no cleanup at all in the process); returns its exit
        code, None if nothing ran."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
        code = self.proc.wait(timeout=10)
        self._close()
        return code

    def _close(self):
        if self.proc is not None:
            for s in (self.proc.stdout, self.proc.stderr):
                if s is not None:
                    s.close()
        self.proc = None
        if self.out is not None:
            self.out.close()
            self.out = None

    def cleanup(self):
        """Stops the process (no exit check) and removes the folder."""
        try:
            self._terminate(10)
        finally:
            if self.tmp is not None:
                shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()
