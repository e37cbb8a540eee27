"""relayftpd, vsftpd and pure-ftpd side by side for the scripts in this
folder (list_speed.py, load32.py): the servers and their set-up are
bench/run.py's (same account, same options, homes on one filesystem); this
module only starts them together and hands out what a raw client needs.
Needs root (a temporary system account logs in to vsftpd and pure-ftpd)
and /usr/bin/python3 (bench/run.py imports pycurl).
"""
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(REPO, "bench"))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import run as bench  # noqa: E402
from mirror_peers import SystemUser  # noqa: E402


class RangedVsftpd(bench.Vsftpd):
    """bench/run.py's vsftpd, with passive ports in self.pasv if set."""

    pasv = None

    def _write_config(self):
        super()._write_config()
        if not self.pasv:
            return
        with open(self.config) as f:
            text = f.read()
        text = text.replace("pasv_min_port=0", "pasv_min_port=%d" %
                            self.pasv[0])
        text = text.replace("pasv_max_port=0", "pasv_max_port=%d" %
                            self.pasv[1])
        with open(self.config, "w") as f:
            f.write(text)


class Peers:
    """with Peers(binary, names, extra) as p: p.targets is a list of
    bench.Target (name, port, user, password, home, owner)."""

    def __init__(self, binary, names=("relayftpd", "vsftpd", "pure-ftpd"),
                 extra=None, tmpdir="/dev/shm", pasv=None):
        """pasv: (lo, hi) passive ports for vsftpd and pure-ftpd (relayftpd
        takes its passive_ports from extra)."""
        self.pasv = pasv
        self.binary = binary
        self.names = names
        self.extra = extra or {}
        self.tmpdir = tmpdir if os.path.isdir(tmpdir) else None
        self.daemons = []
        self.targets = []
        self.account = None
        self.work = None

    def __enter__(self):
        self.work = tempfile.mkdtemp(prefix="rftp-perf-", dir=self.tmpdir)
        os.chmod(self.work, 0o755)
        tempfile.tempdir = self.work
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self):
        self.account = SystemUser(os.path.join(self.work, "pure-ftpd", "home"))
        os.makedirs(self.account.home)
        os.chown(self.account.home, self.account.uid, self.account.gid)
        a = self.account
        owner = (a.uid, a.gid)
        for name in self.names:
            if name == "relayftpd":
                d = bench.Relayftpd(self.binary,
                                    os.path.join(self.work, name), a.name,
                                    a.password, a, self.extra)
            elif name == "vsftpd":
                if bench.ensure_vsftpd():
                    continue
                d = RangedVsftpd(a, start=False)
                d.pasv = self.pasv
            else:
                binary, why = bench.ensure_pureftpd("/tmp/rftp-pure-cache")
                if binary is None:
                    print("pure-ftpd skipped: %s" % why, file=sys.stderr)
                    continue
                d = bench.PureFtpd(binary, os.path.join(self.work, name), a)
                if self.pasv:
                    print("pure-ftpd keeps bench/run.py's passive range",
                          file=sys.stderr)
            self.daemons.append(d)
            d.start()
            self.targets.append(bench.Target(name, d.port, a.name,
                                             a.password, d.home, owner))

    def __exit__(self, *exc):
        for d in self.daemons:
            try:
                d.stop()
            except Exception as e:  # noqa: BLE001 - stop the others too
                print("stopping %s: %s" % (d.name, e), file=sys.stderr)
        if self.account is not None:
            self.account.remove()
        tempfile.tempdir = None
        if self.work:
            shutil.rmtree(self.work, ignore_errors=True)
