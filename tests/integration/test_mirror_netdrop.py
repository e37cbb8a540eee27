#!/usr/bin/env python3
"""A kept mirror connection whose flow a NAT or firewall drops silently
(README "keepalive").

A worker keeps its logged-in connection to a target between pushes. Idle,
it sent nothing, so a NAT or stateful firewall that forgets idle flows
(or lost its state) dropped it without a word: the next push sent its
first command into the void and waited out the 60 s response timeout,
logged as a failed attempt ("server response timeout") of a target that
was fine. Kept connections now send TCP keepalive probes: they keep the
flow alive, and one dropped anyway is found dead while idle, so the next
push opens a new connection at once.

The daemon and a pyftpdlib target run in a network namespace of the
test's own (also an OpenSSH sftp target); nftables there drops the kept
connection's packets, as a NAT that forgot it. Needs root, ip(8) and nft(8); skips without them.
"""
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import test_mirror_more  # noqa: E402
import test_mirror_sftp  # noqa: E402
from harness import private_netns, wait_for  # noqa: E402
from mirror_targets import PyftpdTarget  # noqa: E402
from test_mirror_webhook import Receiver  # noqa: E402

NFT = shutil.which("nft")
SS = shutil.which("ss")
ONE_WORKER = {"watch": "off", "workers_per_target": "1",
              "retry_initial": "1", "retry_max": "2",
              "express_max_size": "0"}


def run(*args):
    return subprocess.run(args, check=True, capture_output=True,
                          timeout=30, text=True).stdout


def kept(port, *options):
    """The lines of ss(8) for the established connections to
    127.0.0.1:port (the daemon's to a target: the local port is the
    second field's)."""
    out = run(SS, "-Htn", *options, "state", "established",
              "dst", "127.0.0.1:%d" % port)
    return [ln for ln in out.splitlines() if ln.strip()]


def drop_kept(case, port):
    """Drops the packets of the daemon's one connection to port both
    ways, as a NAT that forgot it, and waits until the daemon ends it:
    its keepalive probes go unanswered (old code: it stayed established,
    and the next push waited 60 s for nothing)."""
    ports = [ln.split()[2].rsplit(":", 1)[1] for ln in kept(port)]
    case.assertEqual(len(ports), 1, ports)
    run(NFT, "add", "table", "inet", "rftp")
    run(NFT, "add", "chain", "inet", "rftp", "in",
        "{ type filter hook input priority 0; }")
    for way in ("sport", "dport"):
        run(NFT, "add", "rule", "inet", "rftp", "in", "tcp", way, ports[0],
            "drop")
    case.assertTrue(wait_for(lambda: kept(port) == [], timeout=30,
                             interval=0.2), kept(port, "-o"))


@unittest.skipUnless(NFT and SS, "needs nft(8) and ss(8)")
class KeptConnectionDroppedTest(test_mirror_more.Base):

    def setUp(self):
        super().setUp()
        private_netns(self, "rftp-netdrop")
        self.p = PyftpdTarget()
        self.addCleanup(self.p.stop)

    def kept(self, *options):
        return kept(self.p.port, *options)

    def push_one(self, srv, f, name):
        data = {name: self.rand(1000)}
        self.put(f, "/" + name, data[name])
        self.assertArrived(self.p.dir("base", "alice"), data, srv, self.p,
                           timeout=30)

    def test_a_kept_connection_sends_keepalives(self):
        # The default: the idle connection has its keepalive timer on
        # (old code: no timer at all, and nothing sent while idle).
        srv = self.mirror_server({"p": self.p.target("/base")},
                                 mirror=ONE_WORKER)
        self.push_one(srv, self.ftp(srv), "a.bin")
        self.assertTrue(wait_for(lambda: any(
            "timer:(keepalive," in ln for ln in self.kept("-o")),
            timeout=10), self.kept("-o"))

    def test_a_dropped_kept_connection_costs_no_attempt(self):
        target = dict(self.p.target("/base"), keepalive="1")
        srv = self.mirror_server({"p": target}, mirror=ONE_WORKER)
        f = self.ftp(srv)
        self.push_one(srv, f, "a.bin")
        drop_kept(self, self.p.port)
        self.push_one(srv, f, "b.bin")
        self.assertEqual(self.log_lines(srv, "mirror push failed"), [],
                         srv.log_text()[-2000:])


@unittest.skipUnless(NFT and SS, "needs nft(8) and ss(8)")
class KeptSftpConnectionDroppedTest(test_mirror_sftp.SftpBase):
    """The same with an OpenSSH sftp target."""

    def setUp(self):
        private_netns(self, "rftp-netdrop")
        super().setUp()

    def test_a_dropped_kept_connection_costs_no_attempt(self):
        sshd = self.sshd()
        base = self.base()
        spec = {"url": sshd.url(base), "keepalive": "1",
                "host_key_sha256": sshd.host_key_sha256()}
        srv = self.mirror_server({"s": spec}, mirror=ONE_WORKER)
        f = self.ftp(srv)
        files = {"a.bin": self.rand(100)}
        self.put(f, "/a.bin", files["a.bin"])
        self.assertArrived(os.path.join(base, "alice"), files, srv)
        drop_kept(self, sshd.port)
        files["b.bin"] = self.rand(100)
        self.put(f, "/b.bin", files["b.bin"])
        self.assertArrived(os.path.join(base, "alice"), files, srv,
                           timeout=30)
        self.assertEqual(self.log_lines(srv, "mirror push failed"), [],
                         srv.log_text()[-2000:])

@unittest.skipUnless(NFT and SS, "needs nft(8) and ss(8)")
class KeptHttpConnectionDroppedTest(test_mirror_more.Base):
    """The same with a webhook (HTTP/1.1, its connection kept between
    requests): the request sent on the dropped connection waited out
    the target's timeout (60 s) and failed."""

    def setUp(self):
        super().setUp()
        private_netns(self, "rftp-netdrop")
        self.rcv = Receiver(secret=None)
        self.addCleanup(self.rcv.stop)

    def events(self):
        return [e["path"] for e in self.rcv.snapshot()[0]]

    def test_a_dropped_kept_connection_costs_no_attempt(self):
        srv = self.mirror_server({"h": {"url": self.rcv.url(),
                                        "keepalive": "1"}},
                                 mirror=ONE_WORKER)
        f = self.ftp(srv)
        self.put(f, "/a.bin", self.rand(100))
        self.assertTrue(wait_for(lambda: self.events() == ["/a.bin"],
                                 timeout=30), srv.log_text()[-2000:])
        drop_kept(self, self.rcv.port)
        self.put(f, "/b.bin", self.rand(100))
        self.assertTrue(wait_for(lambda: len(self.events()) == 2,
                                 timeout=30), srv.log_text()[-2000:])
        self.assertEqual(self.events(), ["/a.bin", "/b.bin"])
        self.assertEqual(self.log_lines(srv, "mirror push failed"), [],
                         srv.log_text()[-2000:])


if __name__ == "__main__":
    unittest.main()
