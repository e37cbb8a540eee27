#!/usr/bin/python3
"""An sftp subsystem for SshdPeer(subsystem=...) that stalls on demand:
runs OpenSSH's sftp-server and passes the SFTP packets (RFC draft
filexfer-02: uint32 length, byte type, uint32 id, ...) both ways, but
never sends the reply to a request it was told to hold. A TCP proxy in
front of sshd cannot see inside SSH; this sits behind it.

    sftp_stall.py CTLDIR

A file CTLDIR/hold-KIND (KIND: close, rename, stat, lstat, fstat, mkdir,
remove, open, setstat) arms one hold: the next request of that kind in
any session takes it (the file is renamed away, so one request only) and
its reply is dropped; CTLDIR/log gets "held KIND ID". Every request
of a KIND, held or not, adds a line "KIND" to CTLDIR/seen. CTLDIR/fail-KIND
arms one failure the same way: the request is carried out and its reply
replaced by SSH_FX_FAILURE; the log gets "failed KIND". The session goes
on answering other requests. The process ends when the client's side
closes."""
import os
import struct
import subprocess
import sys
import threading

SFTP_SERVER = "/usr/lib/openssh/sftp-server"
KINDS = {3: "open", 4: "close", 7: "lstat", 8: "fstat", 9: "setstat",
         13: "remove", 14: "mkdir", 17: "stat", 18: "rename"}
EXTENDED = 200


def read_exact(f, n):
    data = b""
    while len(data) < n:
        d = f.read(n - len(data))
        if not d:
            return None
        data += d
    return data


def packets(f):
    while True:
        head = read_exact(f, 4)
        if head is None:
            return
        body = read_exact(f, struct.unpack(">I", head)[0])
        if body is None:
            return
        yield head + body


def kind_of(pkt):
    t = pkt[4]
    if t == EXTENDED and len(pkt) >= 13:
        n = struct.unpack(">I", pkt[9:13])[0]
        name = pkt[13:13 + n]
        return "rename" if name == b"posix-rename@openssh.com" else None
    return KINDS.get(t)


def armed(ctl, name):
    """Whether the test armed ctl/name; taken if so (renamed away: one
    request each arming)."""
    path = os.path.join(ctl, name)
    try:
        os.rename(path, path + ".taken.%d" % os.getpid())
    except OSError:
        return False
    return True


def main():
    ctl = sys.argv[1]
    held = set()
    failed = set()
    lock = threading.Lock()
    child = subprocess.Popen([SFTP_SERVER], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, bufsize=0)
    out = os.fdopen(sys.stdout.fileno(), "wb", buffering=0)
    src = os.fdopen(sys.stdin.fileno(), "rb", buffering=0)

    def replies():
        for pkt in packets(child.stdout):
            rid = pkt[5:9] if pkt[4] != 2 else None
            with lock:
                drop = rid in held
                fail = rid in failed
            if fail:
                msg = b"injected failure"
                body = (bytes([101]) + rid + struct.pack(">I", 4) +
                        struct.pack(">I", len(msg)) + msg +
                        struct.pack(">I", 0))
                pkt = struct.pack(">I", len(body)) + body
            if not drop:
                try:
                    out.write(pkt)
                except OSError:
                    return

    threading.Thread(target=replies, daemon=True).start()
    for pkt in packets(src):
        kind = kind_of(pkt)
        if kind is not None and pkt[4] != 1:
            with open(os.path.join(ctl, "seen"), "a") as f:
                f.write(kind + "\n")
            if armed(ctl, "fail-" + kind):
                with lock:
                    failed.add(pkt[5:9])
                with open(os.path.join(ctl, "log"), "a") as f:
                    f.write("failed %s\n" % kind)
            if armed(ctl, "hold-" + kind):
                with lock:
                    held.add(pkt[5:9])
                with open(os.path.join(ctl, "log"), "a") as f:
                    f.write("held %s %d\n" % (
                        kind, struct.unpack(">I", pkt[5:9])[0]))
        try:
            child.stdin.write(pkt)
        except OSError:
            break
    child.stdin.close()
    child.wait()


if __name__ == "__main__":
    main()
