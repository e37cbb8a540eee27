#!/usr/bin/python3
"""LIST (and MLSD) of a 10,000-entry folder: relayftpd, vsftpd, pure-ftpd.

Each server gets the same folder (N files of 0-9 bytes, names of 12-40
bytes) in its home on tmpfs; one raw-socket client per server times the
listing from the command to the 226 (data connection set up before the
clock starts), REPEAT times, interleaved, and prints the medians and the
server's CPU time per listing (its process tree, from /proc). Checks
that every listing holds N entries. Needs root (bench/run.py's servers).

usage: /usr/bin/python3 scripts/list_speed.py [--binary build/relayftpd] [-n 10000] [-r 5]
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ftpraw import Ftp  # noqa: E402
from perfpeers import Peers  # noqa: E402


def fill(folder, n, owner):
    d = os.path.join(folder, "big")
    os.makedirs(d)
    for i in range(n):
        name = "entry-%05d-%s.dat" % (i, "x" * (i % 29))
        with open(os.path.join(d, name), "wb") as f:
            f.write(b"z" * (i % 10))
        os.chown(os.path.join(d, name), *owner)
    os.chown(d, *owner)


TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu(pid):
    """CPU seconds (user + system) of pid and its living descendants, and
    of the children they reaped (the forked sessions of vsftpd and
    pure-ftpd that ended); relayftpd's threads are in its own."""
    total = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15]) / TICK
            for t in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/children" % (p, t)) as f:
                    todo += [int(x) for x in f.read().split()]
        except OSError:
            continue
    return total


def timed(c, verb, n, pid=None):
    d = c.pasv()
    cpu0 = tree_cpu(pid) if pid else 0
    t0 = time.perf_counter()
    c.sock.sendall(verb.encode() + b"\r\n")
    code, text = c.reply()
    if code not in (125, 150):
        raise RuntimeError(text)
    got = []
    while True:
        chunk = d.recv(1 << 20)
        if not chunk:
            break
        got.append(chunk)
    d.close()
    c.expect(226)
    dt = time.perf_counter() - t0
    lines = b"".join(got).count(b"\r\n")
    if lines < n:
        raise RuntimeError("%s: %d lines, wanted %d" % (verb, lines, n))
    if pid:
        return dt, tree_cpu(pid) - cpu0
    return dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "build",
        "relayftpd"))
    ap.add_argument("-n", type=int, default=10000)
    ap.add_argument("-r", "--repeat", type=int, default=5)
    args = ap.parse_args()
    with Peers(os.path.abspath(args.binary)) as p:
        conns = {}
        pids = {t.name: d.proc.pid for t, d in zip(p.targets, p.daemons)}
        for t in p.targets:
            fill(t.home, args.n, t.owner)
            conns[t.name] = Ftp(t.port, t.user, t.password)
            conns[t.name].cmd("CWD big", 250)
        for verb in ("LIST", "MLSD", "NLST"):
            res, cpu = {}, {}
            for rep in range(args.repeat + 1):
                for name, c in conns.items():
                    if verb == "MLSD" and name == "vsftpd":
                        continue
                    dt, used = timed(c, verb, args.n, pids[name])
                    if rep > 0:  # the first run warms the caches
                        res.setdefault(name, []).append(dt)
                        cpu.setdefault(name, []).append(used)
            for name, v in res.items():
                # Server CPU per listing: what a loaded machine (other
                # jobs) disturbs least; clock ticks, so averaged.
                print("%-5s %-10s median %.4f s  (min %.4f, max %.4f)  "
                      "server CPU %.4f s" % (
                          verb, name, statistics.median(v), min(v), max(v),
                          sum(cpu[name]) / len(cpu[name])))
        for c in conns.values():
            c.close()


if __name__ == "__main__":
    main()
