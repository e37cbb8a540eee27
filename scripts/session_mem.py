#!/usr/bin/env python3
"""Memory of idle logged-in sessions, per kind of mapping.

Starts relayftpd (build/relayftpd or $RELAYFTPD) with max_clients = N,
logs in one session to warm up, reads /proc/PID/smaps, opens N logged-in
sessions more, reads it again and prints the PSS delta per session, split
by what the memory is: thread stacks, malloc arenas (the main heap and the
per-thread ones), and the rest. Used to find what an idle session costs
(issue 10: <= 32 KiB PSS each); the 1,000-session integration test prints
the total the same way.

usage: scripts/session_mem.py [N] [--full-hash]
  --full-hash: users.ini gets the production argon2id cost (relayftpd
  passwd), so the login's deepest path is the one a real server runs.
"""
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import harness  # noqa: E402
from harness import Control, Server  # noqa: E402
from test_many_sessions import Clients, cheap_hash  # noqa: E402


def smaps_groups(pid):
    """{group: pss kB} from /proc/PID/smaps."""
    groups = {}
    cur = None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5 and ":" not in parts[0]:
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                size = hi - lo
                name = parts[5] if len(parts) > 5 else ""
                if name == "[heap]":
                    cur = "main heap"
                elif name.startswith("["):
                    cur = name
                elif name:
                    cur = "files"
                elif parts[1].startswith("---"):
                    cur = "guard/reserved"
                elif size % (64 << 20) == 0 or (size < (64 << 20) and
                                                lo % (64 << 20) == 0):
                    cur = "thread arenas"
                else:
                    cur = "thread stacks + other anon"
                continue
            if parts[0] == "Pss:":
                groups[cur] = groups.get(cur, 0) + int(parts[1])
    return groups


def report(title, before, after, n):
    print("== %s" % title)
    total = 0
    for k in sorted(set(before) | set(after)):
        d = after.get(k, 0) - before.get(k, 0)
        total += d
        if d or k in ("main heap", "thread arenas"):
            print("%-28s %8.2f KiB/session  (%d -> %d KiB)" % (
                k, d / n, before.get(k, 0), after.get(k, 0)))
    print("%-28s %8.2f KiB/session" % ("total PSS", total / n))


def main():
    n = 1000
    full = "--full-hash" in sys.argv
    for a in sys.argv[1:]:
        if a.isdigit():
            n = int(a)
    if not full:
        harness._hash_cache["alice-pw"] = cheap_hash("alice-pw")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n * 2 + 200),
                                                hard))
    srv = Server(server={"max_clients": str(n + 1),
                         "max_clients_per_ip": str(n + 1),
                         "idle_timeout": "300", "login_timeout": "300"},
                 users={"alice": {"password": "alice-pw"}})
    try:
        pid = srv.proc.pid
        with Control(srv.port) as c:
            c.login()
            c.cmd("NOOP")
        before = smaps_groups(pid)
        clients = Clients()
        socks = []
        for _ in range(0, n, 100):
            batch = clients.connect(srv.port, min(100, n - len(socks)))
            assert clients.expect(batch, 220, timeout=120) == {}
            clients.send(batch, b"USER alice\r\nPASS alice-pw\r\n")
            assert clients.expect(batch, 331, timeout=60) == {}
            assert clients.expect(batch, 230, timeout=600) == {}
            socks += batch
        clients.send(socks, b"NOOP\r\n")
        assert clients.expect(socks, 200) == {}
        report("right after NOOP", before, smaps_groups(pid), n)
        # A script, not a test: a fixed pause is fine here. Past it every
        # session has been idle for a while (RFTP_IDLE_TRIM_MS).
        time.sleep(1)
        report("idle for 1 s", before, smaps_groups(pid), n)
        clients.send(socks, b"QUIT\r\n")
        clients.expect(socks, 221)
        clients.close()
    finally:
        srv.cleanup()


if __name__ == "__main__":
    main()
