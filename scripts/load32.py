#!/usr/bin/python3
"""32 clients at once, each uploading and downloading 50 files of 64 KiB.

Issue 10's row: relayftpd against vsftpd (pure-ftpd drops clients at this
load and is left out unless --servers names it), with the passive ports
free or in a range of --range ports (40 in the issue). Each client is a
process of its own (no GIL between them) with one control connection:
for every file PASV + STOR, then PASV + RETR, the bytes checked. Prints
per server: aggregate MB/s (both directions, from the start barrier to
the last client's end), p50/p99 per file for uploads and for downloads
separately (another helper reworks the upload's close), failures, and
the server's CPU time. Every wait is bounded (socket timeouts).

usage: /usr/bin/python3 scripts/load32.py [--binary build/relayftpd]
           [--clients 32] [--files 50] [--size 65536] [--range 40]
           [--repeat 3] [--servers relayftpd,vsftpd] [--set KEY=VALUE]
Needs root (bench/run.py's servers log in a temporary system account).
"""
import argparse
import multiprocessing as mp
import os
import random
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ftpraw import Ftp  # noqa: E402
from list_speed import tree_cpu  # noqa: E402
import perfpeers  # noqa: E402


def free_range(n):
    """A base port with n free ports after it, in 10000-32000 (below the
    ephemeral range, where other tests' clients come from)."""
    for _ in range(200):
        base = random.randint(10000, 32000 - n)
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                s.bind(("127.0.0.1", p))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no %d free ports in a row" % n)


def client(t, files, size, barrier, out, idx):
    up, down, failed = [], [], 0
    data = os.urandom(size)
    try:
        c = Ftp(t.port, t.user, t.password, timeout=60)
        barrier.wait(60)
        for i in range(files):
            name = "c%02d-f%03d.bin" % (idx, i)
            try:
                t0 = time.perf_counter()
                c.store(name, data)
                t1 = time.perf_counter()
                got = c.fetch("RETR " + name)
                t2 = time.perf_counter()
                if got != data:
                    raise RuntimeError("%s: %d bytes back, not the same"
                                       % (name, len(got)))
                up.append(t1 - t0)
                down.append(t2 - t1)
            except (OSError, RuntimeError, EOFError) as e:
                failed += 1
                print("client %d file %d: %s" % (idx, i, e),
                      file=sys.stderr)
                c.close()
                c = Ftp(t.port, t.user, t.password, timeout=60)
        c.close()
    except Exception as e:  # noqa: BLE001 - reported, counted
        print("client %d: %s" % (idx, e), file=sys.stderr)
        failed += files - len(up)
    out.put((up, down, failed, time.perf_counter()))


def run_once(t, pid, args):
    barrier = mp.Barrier(args.clients + 1)
    out = mp.Queue()
    procs = [mp.Process(target=client,
                        args=(t, args.files, args.size, barrier, out, i))
             for i in range(args.clients)]
    for p in procs:
        p.start()
    barrier.wait(60)
    cpu0 = tree_cpu(pid)
    t0 = time.perf_counter()
    res = [out.get(timeout=600) for _ in procs]
    cpu = tree_cpu(pid) - cpu0
    for p in procs:
        p.join(30)
    end = max(r[3] for r in res)
    up = sorted(x for r in res for x in r[0])
    down = sorted(x for r in res for x in r[1])
    failed = sum(r[2] for r in res)
    moved = (len(up) + len(down)) * args.size
    return moved / (end - t0) / 1e6, up, down, failed, cpu


def pct(v, q):
    if not v:
        return float("nan")
    return v[min(len(v) - 1, int(q * len(v)))] * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "build",
        "relayftpd"))
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--files", type=int, default=50)
    ap.add_argument("--size", type=int, default=64 * 1024)
    ap.add_argument("--range", type=int, default=0,
                    help="passive ports in a range of this many (0: any)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--servers", default="relayftpd,vsftpd")
    ap.add_argument("--set", action="append", default=[],
                    help="relayftpd [server] KEY=VALUE (repeatable)")
    args = ap.parse_args()
    names = tuple(args.servers.split(","))
    extra = {"max_clients": "128", "max_clients_per_ip": "64"}
    for kv in args.set:
        k, v = kv.split("=", 1)
        extra[k] = v
    pasv = None
    if args.range:
        base = free_range(args.range)
        pasv = (base, base + args.range - 1)
        extra["passive_ports"] = "%d-%d" % pasv
    with perfpeers.Peers(os.path.abspath(args.binary), names, extra,
                         pasv=pasv) as p:
        pids = {t.name: d.proc.pid for t, d in zip(p.targets, p.daemons)}
        rows = {}
        for rep in range(args.repeat):
            for t in p.targets:
                r = run_once(t, pids[t.name], args)
                rows.setdefault(t.name, []).append(r)
                print("%-10s run %d: %.1f MB/s, up p99 %.1f ms, down p99 "
                      "%.1f ms, %d failed, server CPU %.2f s" % (
                          t.name, rep + 1, r[0], pct(r[1], 0.99),
                          pct(r[2], 0.99), r[3], r[4]), file=sys.stderr)
        print("%d clients x %d x %d bytes up + down, passive %s, "
              "median of %d" % (args.clients, args.files, args.size,
                                "%d-%d" % pasv if pasv else "any",
                                args.repeat))
        for name, rs in rows.items():
            mbs = statistics.median(r[0] for r in rs)
            up = sorted(x for r in rs for x in r[1])
            down = sorted(x for r in rs for x in r[2])
            print("%-10s %7.1f MB/s  up p50 %5.1f p99 %6.1f ms  down p50 "
                  "%5.1f p99 %6.1f ms  failed %d  CPU %.2f s/run" % (
                      name, mbs, pct(up, 0.5), pct(up, 0.99),
                      pct(down, 0.5), pct(down, 0.99),
                      sum(r[3] for r in rs),
                      statistics.median(r[4] for r in rs)))


if __name__ == "__main__":
    main()
