#!/usr/bin/env python3
"""A burst of connections while the server is busy is queued, not dropped.

The control listener's backlog was 128 whatever max_clients said: when
hundreds of clients connect at once (cameras reconnecting after a network
outage, a load balancer's health checks with the fleet) while the accepting
thread is held up, the kernel queued 129 and dropped the rest's handshake,
which those clients retried after 1 s, 3 s, 7 s ... (found from the
library: 1,000 clients at once under TSan left 600 half-open, waiting out
curl's 120 s). Now the listener asks for the kernel's largest backlog
(net.core.somaxconn caps it).

The daemon is stopped (SIGSTOP) so that it accepts nothing, 300 clients
connect, and the listener's accept queue (ss's Recv-Q) must hold all 300:
a count, not a time.
"""
import os
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Server, wait_for  # noqa: E402

CLIENTS = 300


def accept_queue(port):
    """Recv-Q of the listener on 127.0.0.1:port (connections the kernel
    holds for accept), or -1 if ss shows none."""
    out = subprocess.run(["ss", "-Hltn", "sport = :%d" % port],
                         capture_output=True, text=True, timeout=10).stdout
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[0] == "LISTEN":
            return int(fields[1])
    return -1


def all_stopped(pid):
    """Whether every thread of pid is stopped (state T)."""
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "T":
            return False
    return True


class ListenBacklogTest(unittest.TestCase):

    def test_burst_of_connections_is_queued(self):
        try:
            with open("/proc/sys/net/core/somaxconn") as f:
                somaxconn = int(f.read())
        except OSError:
            self.skipTest("no /proc/sys/net/core/somaxconn")
        if somaxconn < CLIENTS:
            self.skipTest("net.core.somaxconn is %d" % somaxconn)
        srv = Server(server={"max_clients": "400",
                             "max_clients_per_ip": "400"})
        self.addCleanup(srv.cleanup)
        pid = srv.proc.pid
        os.kill(pid, signal.SIGSTOP)
        # kill() returns before every thread has stopped: the acceptor
        # could still take the first connection.
        self.assertTrue(wait_for(lambda: all_stopped(pid), timeout=10))
        socks = []
        try:
            for _ in range(CLIENTS):
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", srv.port))
                socks.append(s)
            # The handshakes complete in the kernel; give them a moment,
            # bounded, until the queue holds them all (or stops growing).
            wait_for(lambda: accept_queue(srv.port) >= CLIENTS,
                     timeout=10, interval=0.1)
            queued = accept_queue(srv.port)
        finally:
            os.kill(pid, signal.SIGCONT)
        self.assertEqual(queued, CLIENTS)
        # And the daemon greets them once it runs again.
        greeted = 0
        deadline = time.monotonic() + 60
        for s in socks:
            s.setblocking(True)
            s.settimeout(max(1.0, deadline - time.monotonic()))
            try:
                if s.recv(4).startswith(b"220"):
                    greeted += 1
            except OSError:
                pass
            s.close()
        self.assertEqual(greeted, CLIENTS)


if __name__ == "__main__":
    unittest.main()
