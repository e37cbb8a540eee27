"""A minimal raw-socket FTP client for the speed scripts: no library
between the timer and the server. Every call is bounded by the socket
timeout."""
import re
import socket


class Ftp:
    def __init__(self, port, user, password, timeout=30):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buf = b""
        self.expect(220)
        self.cmd("USER " + user, 331)
        self.cmd("PASS " + password, 230)
        self.cmd("TYPE I", 200)

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("closed; have %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def reply(self):
        first = self.line()
        if first[3:4] == "-":
            while True:
                line = self.line()
                if line[:3] == first[:3] and line[3:4] == " ":
                    break
        return int(first[:3]), first

    def expect(self, code):
        got, text = self.reply()
        if got != code:
            raise RuntimeError("wanted %d, got %s" % (code, text))
        return text

    def cmd(self, line, code):
        self.sock.sendall(line.encode() + b"\r\n")
        return self.expect(code)

    def pasv(self):
        text = self.cmd("PASV", 227)
        n = [int(x) for x in re.search(r"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)",
                                       text).groups()]
        s = socket.create_connection(("127.0.0.1", n[4] * 256 + n[5]),
                                     timeout=self.timeout)
        return s

    def fetch(self, verb):
        """verb over a fresh PASV connection: the bytes received."""
        d = self.pasv()
        self.sock.sendall(verb.encode() + b"\r\n")
        code, text = self.reply()
        if code not in (125, 150):
            d.close()
            raise RuntimeError("%s: %s" % (verb, text))
        parts = []
        while True:
            chunk = d.recv(1 << 20)
            if not chunk:
                break
            parts.append(chunk)
        d.close()
        self.expect(226)
        return b"".join(parts)

    def store(self, name, data):
        d = self.pasv()
        self.sock.sendall(("STOR %s\r\n" % name).encode())
        code, text = self.reply()
        if code not in (125, 150):
            d.close()
            raise RuntimeError("STOR: %s" % text)
        d.sendall(data)
        d.close()
        self.expect(226)

    def close(self):
        try:
            self.sock.sendall(b"QUIT\r\n")
            self.reply()
        except OSError:
            pass
        self.sock.close()
