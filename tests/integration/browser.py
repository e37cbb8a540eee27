"""Headless Chromium driven through the DevTools protocol, for page tests.

Browser starts Debian's chromium (--headless --no-sandbox --disable-gpu)
with --remote-debugging-pipe: DevTools messages are NUL-terminated JSON on
the child's fds 3 (commands in) and 4 (answers and events out), so no port
and no websocket library are needed. It opens one tab; the test then
navigates, evaluates JavaScript (js / wait_js), sets the viewport (phone
widths), and takes screenshots (PNG bytes). Uncaught JavaScript exceptions
of the page are collected in self.exceptions, console errors in
self.console_errors.

Every wait is bounded; close() (or the with block) stops the process by
its id and removes its profile folder.
"""
import base64
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time

CHROMIUM = "/usr/bin/chromium"


def missing():
    """'' when Chromium is there, else a skip reason."""
    if os.access(CHROMIUM, os.X_OK):
        return ""
    return "missing %s (Debian: apt-get install chromium)" % CHROMIUM


def _high_fd(fd):
    """fd moved to a number >= 10 (the old one closed)."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return high


class BrowserError(Exception):
    pass


class Browser:
    def __init__(self, width=1280, height=900, timeout=30):
        self.tmp = tempfile.mkdtemp(prefix="rftp-chromium-")
        self.exceptions = []
        self.console_errors = []
        self._next_id = 0
        self._buf = b""
        self.session = None
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        # The child's ends move to fds >= 10, so that placing them on 3
        # and 4 below can never close one of them.
        to_child_r, from_child_w = (_high_fd(to_child_r),
                                    _high_fd(from_child_w))
        env = dict(os.environ)
        env["HOME"] = self.tmp  # nothing of the real home is read or written
        for key in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY",
                    "HTTPS_PROXY", "ALL_PROXY"):
            env.pop(key, None)
        args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                "--remote-debugging-pipe", "--user-data-dir=" +
                os.path.join(self.tmp, "profile"),
                "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking",
                "--disable-sync", "--disable-component-update",
                "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
                "--no-proxy-server", "--disable-dev-shm-usage",
                "--window-size=%d,%d" % (width, height), "about:blank"]
        # fds 3 and 4 are the protocol's; bash (dash takes one-digit fds
        # only) puts the pipe ends there and closes the originals.
        script = 'exec "$@" 3<&%d 4>&%d %d<&- %d>&-' % (
            to_child_r, from_child_w, to_child_r, from_child_w)
        self.log_path = os.path.join(self.tmp, "chromium.log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            ["/bin/bash", "-c", script, "bash"] + args, stdin=subprocess.DEVNULL,
            stdout=self._log, stderr=subprocess.STDOUT, env=env,
            pass_fds=(to_child_r, from_child_w), start_new_session=True)
        os.close(to_child_r)
        os.close(from_child_w)
        try:
            target = self.call("Target.createTarget", {"url": "about:blank"},
                               timeout=timeout, session=False)["targetId"]
            self.session = self.call(
                "Target.attachToTarget", {"targetId": target,
                                          "flatten": True},
                timeout=timeout, session=False)["sessionId"]
            self.call("Page.enable")
            self.call("Runtime.enable")
            self.viewport(width, height)
        except Exception:
            self.close()
            raise

    # -- protocol

    def _read_message(self, deadline):
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("no answer from chromium in time")
            r, _, _ = select.select([self._from_child], [], [], min(left, 0.5))
            if r:
                chunk = os.read(self._from_child, 1 << 20)
                if not chunk:
                    raise BrowserError("chromium closed its pipe:\n" +
                                       self.log_text())
                self._buf += chunk
            elif self.proc.poll() is not None:
                raise BrowserError("chromium exited (%s):\n%s" % (
                    self.proc.returncode, self.log_text()))
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def _event(self, msg):
        method = msg.get("method")
        params = msg.get("params", {})
        if method == "Runtime.exceptionThrown":
            d = params.get("exceptionDetails", {})
            self.exceptions.append(
                (d.get("exception") or {}).get("description") or
                d.get("text", "?"))
        elif method == "Runtime.consoleAPICalled" and \
                params.get("type") == "error":
            self.console_errors.append(" ".join(
                str(a.get("value", a.get("description", "")))
                for a in params.get("args", [])))

    def call(self, method, params=None, timeout=30, session=True):
        """Sends one command and returns its result (BrowserError if it
        fails or no answer comes in time); events met on the way are
        recorded."""
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            n = os.write(self._to_child, data)
            data = data[n:]
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError("%s: %s" % (method, reply["error"]))
                return reply.get("result", {})
            self._event(reply)

    # -- page

    def viewport(self, width, height, mobile=False):
        self.call("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1,
            "mobile": mobile})

    def navigate(self, url, timeout=30):
        """Loads url and waits (bounded) until the document has loaded."""
        res = self.call("Page.navigate", {"url": url}, timeout=timeout)
        if res.get("errorText"):
            raise BrowserError("navigate %s: %s" % (url, res["errorText"]))
        if not self.wait_js("document.readyState === 'complete'", timeout):
            raise BrowserError("%s did not finish loading" % url)

    def js(self, expression, timeout=30):
        """The value of a JavaScript expression (JSON-able; promises are
        awaited); an exception in it is a BrowserError."""
        res = self.call("Runtime.evaluate", {
            "expression": expression, "returnByValue": True,
            "awaitPromise": True}, timeout=timeout)
        if "exceptionDetails" in res:
            d = res["exceptionDetails"]
            raise BrowserError("%s: %s" % (expression, (
                d.get("exception") or {}).get("description", d.get("text"))))
        return res.get("result", {}).get("value")

    def wait_js(self, expression, timeout=15, interval=0.1):
        """Polls the expression until it is truthy; returns its last
        value (check it in the caller)."""
        deadline = time.monotonic() + timeout
        value = self.js(expression)
        while not value and time.monotonic() < deadline:
            time.sleep(interval)
            value = self.js(expression)
        return value

    def screenshot(self, path=None, full_page=True):
        """PNG bytes of the page (the whole page unless full_page is
        false), also written to path when given."""
        params = {"format": "png"}
        if full_page:
            size = self.js("[document.documentElement.scrollWidth, "
                           "document.documentElement.scrollHeight]")
            params["captureBeyondViewport"] = True
            params["clip"] = {"x": 0, "y": 0, "width": size[0],
                              "height": size[1], "scale": 1}
        data = base64.b64decode(
            self.call("Page.captureScreenshot", params)["data"])
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
        return data

    # -- process

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.call("Browser.close", timeout=5, session=False)
                self.proc.wait(timeout=10)
            except Exception:
                pass
            if self.proc.poll() is None:
                # Its own process group (start_new_session): the renderer
                # and GPU helpers go with it.
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        for fd in (self._to_child, self._from_child):
            try:
                os.close(fd)
            except OSError:
                pass
        self._to_child = self._from_child = -1
        self._log.close()
        self.proc = None
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
