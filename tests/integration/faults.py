"""Fault injection for the integration tests: faultshim.c, built here
with the system's C compiler, preloaded into relayftpd, makes chosen
system calls fail (see faultshim.c for the control file's lines).

    inj = Faults(case)              # skips the test without a compiler
    srv = inj.start(lambda: Server(...))
    inj.arm("pthread_create 11 0 1")  # the next thread creation: EAGAIN
    ...
    inj.disarm()
"""
import atexit
import os
import shutil
import subprocess
import tempfile

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                   "faultshim.c")
_built = {}


def shim():
    """The shim's path, built once per test process; None without cc."""
    if "so" not in _built:
        cc = shutil.which("cc") or shutil.which("gcc")
        out = None
        if cc is not None:
            folder = tempfile.mkdtemp(prefix="rftp-faultshim-")
            atexit.register(shutil.rmtree, folder, True)
            out = os.path.join(folder, "faultshim.so")
            r = subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", out,
                                SRC, "-ldl", "-lpthread"],
                               capture_output=True, timeout=120)
            if r.returncode != 0:
                raise RuntimeError("faultshim.c: %s" % r.stderr.decode())
        _built["so"] = out
    return _built["so"]


def with_env(env, start):
    """start() with env added to the process environment (a daemon
    started in it inherits it), which is then put back."""
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return start()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class Faults:
    def __init__(self, case):
        so = shim()
        if so is None:
            case.skipTest("no C compiler to build faultshim.c")
        self.so = so
        self.tmp = tempfile.mkdtemp(prefix="rftp-faults-")
        case.addCleanup(shutil.rmtree, self.tmp, True)
        self.ctl = os.path.join(self.tmp, "faults")
        self.armed = 0

    def start(self, start):
        """start() (which starts a daemon) with the shim preloaded."""
        return with_env({
            "LD_PRELOAD": self.so, "RFTP_FAULT_FILE": self.ctl,
            # An ASan build must not insist on coming first.
            "ASAN_OPTIONS": ":".join(filter(None, [
                os.environ.get("ASAN_OPTIONS"),
                "verify_asan_link_order=0"]))}, start)

    def arm(self, *rules):
        """Replaces the rules (their counts start over)."""
        tmp = self.ctl + ".new"
        self.armed += 1
        with open(tmp, "w") as f:
            # The text changes even for the same rules: counts restart.
            f.write("\n".join(("#%d" % self.armed,) + rules) + "\n")
        os.replace(tmp, self.ctl)

    def disarm(self):
        try:
            os.unlink(self.ctl)
        except FileNotFoundError:
            pass
