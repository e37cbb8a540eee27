#!/usr/bin/env python3
"""Retries survive the wall clock being set back (README "Mirror:
retries").

A retry's due time and a target's pause are wall-clock times, stored so
that they outlive a restart. Set the clock back (an NTP step after a boot
with a clock ahead, an admin's `date`) and each waited the step on top of
its delay: on the old code a target down for a few seconds before a step
of an hour back got nothing for an hour. relayftpd runs under libfaketime
(Debian's), whose offset file this test rewrites; the target is a real
pyftpdlib that is down, then up. Runs in ~20 s.
"""
import calendar
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import test_mirror_more  # noqa: E402
from faults import with_env  # noqa: E402
from harness import wait_for  # noqa: E402
from mirror_targets import PyftpdTarget  # noqa: E402

FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
HOUR = 3600
RETRY = {"watch": "off", "retry_initial": "1", "retry_max": "3"}


class ClockSetBackTest(test_mirror_more.Base):

    def setUp(self):
        super().setUp()
        if not os.path.exists(FAKETIME):
            self.skipTest("libfaketime is not installed (scripts/deps.sh "
                          "test installs it)")
        self.offset_file = os.path.join(self.tmp, "faketime")
        self.set_offset(0)
        self.p = PyftpdTarget()
        self.addCleanup(self.p.stop)
        self.port = self.p.port
        self.p.stop()

    def set_offset(self, seconds):
        """The daemon's wall clock: real time plus seconds (libfaketime
        reads the file again at most once a second)."""
        tmp = self.offset_file + ".new"
        with open(tmp, "w") as f:
            f.write("%+d\n" % seconds)
        os.replace(tmp, self.offset_file)

    def under_faketime(self, start):
        """start() with the daemon under libfaketime: only its wall clock
        moves (not the monotonic one, nor the files' times)."""
        env = {"LD_PRELOAD": FAKETIME,
               "FAKETIME_TIMESTAMP_FILE": self.offset_file,
               "FAKETIME_CACHE_DURATION": "1",
               "FAKETIME_DONT_FAKE_MONOTONIC": "1",
               # Without it, libfaketime 0.9.10 ends every timed wait on
               # a monotonic condition at once, and the daemon spins.
               "FAKETIME_FORCE_MONOTONIC_FIX": "0",
               "NO_FAKE_STAT": "1",
               # An ASan build must not insist on coming first.
               "ASAN_OPTIONS": ":".join(filter(None, [
                   os.environ.get("ASAN_OPTIONS"),
                   "verify_asan_link_order=0"]))}
        return with_env(env, start)

    def failed_pushes(self, srv):
        return len(self.log_lines(srv, "mirror push failed", "/a.bin"))

    def upload_to_a_down_target(self):
        srv = self.under_faketime(lambda: self.mirror_server(
            {"p": self.p.target("/base")}, mirror=RETRY))
        self.data = self.rand(5000)
        self.put(self.ftp(srv), "/a.bin", self.data)
        # Two failures: the job and the target wait a delay out.
        self.assertTrue(wait_for(lambda: self.failed_pushes(srv) >= 2,
                                 timeout=20), srv.log_text()[-2000:])
        return srv

    def assertDelivered(self, srv):
        """Once the target is up again, within retry_max (3 s) and some."""
        self.p.start(port=self.port)
        self.assertArrived(self.p.dir("base", "alice"),
                           {"a.bin": self.data}, srv, self.p, timeout=15)

    def clock_seen_back(self, srv):
        """Whether the daemon's clock is an hour back: the time of its
        log line for a new connection, made now."""
        mark = len(srv.log_text())
        self.ftp(srv).quit()
        lines = [ln for ln in srv.log_text()[mark:].splitlines()
                 if ln.endswith("] connected")]
        return bool(lines) and time.time() - iso_seconds(lines[0]) > HOUR / 2

    def test_a_step_back_while_running_moves_the_retries_with_it(self):
        srv = self.upload_to_a_down_target()
        self.set_offset(-HOUR)
        self.assertTrue(wait_for(lambda: self.clock_seen_back(srv),
                                 timeout=15, interval=0.3),
                        srv.log_text()[-2000:])
        # Seen from that clock, the waiting job was queued "in the
        # future": its age is 0, never negative (old code: -3599 s).
        st = self.under_faketime(srv.status)["p"]
        self.assertEqual((st["queued"], st["oldest_age"]), (1, 0), st)
        # Once a worker saw the step, the failing spell's start moved
        # with it: not after that clock's now.
        self.assertTrue(wait_for(lambda: self.log_lines(
            srv, "the system clock was set back"), timeout=15),
            srv.log_text()[-2000:])
        st = self.under_faketime(srv.status)["p"]
        since = calendar.timegm(time.strptime(
            st["extra"]["failing_since"], "%Y-%m-%dT%H:%M:%SZ"))
        self.assertLess(since, time.time() - HOUR + 60, st)
        # The workers wait out the backoff rather than spin (the waits are
        # on the monotonic clock; a review found them ending at once
        # under libfaketime's default for such waits).
        cpu = cpu_seconds(srv.proc.pid)
        time.sleep(2)
        self.assertLess(cpu_seconds(srv.proc.pid) - cpu, 0.5)
        self.assertDelivered(srv)
        # One step, said once.
        self.assertEqual(
            len(self.log_lines(srv, "the system clock was set back")), 1,
            srv.log_text()[-3000:])

    def test_a_step_back_while_stopped_holds_retries_to_retry_max(self):
        srv = self.upload_to_a_down_target()
        # Stopped just after a failure: the job waits its delay out (one
        # in flight would be redone at once after the start).
        n = self.failed_pushes(srv)
        self.assertTrue(wait_for(lambda: self.failed_pushes(srv) > n,
                                 timeout=20), srv.log_text()[-2000:])
        srv.stop()
        self.set_offset(-HOUR)
        # The restart reads the step from the stored due times.
        self.under_faketime(srv.start)
        self.assertDelivered(srv)
        self.assertTrue(self.log_lines(srv, "further ahead than retry_max"),
                        srv.log_text()[-2000:])
        # The job kept its history: not redone as new.
        self.assertGreaterEqual(
            self.pushes(srv, "p", "/alice/a.bin")[-1]["attempts"], 3)

    def test_a_step_back_while_a_worker_rests_holds_it_no_longer(self):
        # A target that takes one connection from here: the second
        # worker's login is refused while the first sends a file, and it
        # rests a backoff step (5 to 7.5 s) of its own. The clock is set
        # back an hour meanwhile; the target then takes any number of
        # connections. The old rest was a wall-clock time that no step
        # moved: the worker rested the hour, and the target's files went
        # one at a time.
        rate = 32 * 1024
        p = PyftpdTarget(read_limit=rate, max_cons_per_ip=1)
        self.addCleanup(p.stop)
        srv = self.under_faketime(lambda: self.mirror_server(
            {"p": p.target("/base")},
            mirror={"watch": "off", "workers_per_target": "2",
                    "retry_initial": "5", "retry_max": "8",
                    "express_max_size": "0", "stream_min_size": "1G"}))
        d = p.dir("base", "alice")
        f = self.ftp(srv)
        files = {"big.bin": self.rand(4 * rate), "s.bin": self.rand(100)}
        self.put(f, "/big.bin", files["big.bin"])
        self.assertTrue(wait_for(lambda: tmp_names(d), timeout=20),
                        srv.log_text()[-2000:])
        self.put(f, "/s.bin", files["s.bin"])
        self.assertTrue(wait_for(lambda: self.log_lines(
            srv, "a worker's connection was refused while"), timeout=20),
            srv.log_text()[-2000:])
        self.set_offset(-HOUR)
        self.assertTrue(wait_for(lambda: self.log_lines(
            srv, "the system clock was set back"), timeout=20),
            srv.log_text()[-2000:])
        self.assertArrived(d, files, srv, p, timeout=30)
        # The provider lifts its limit.
        port = p.port
        p.stop()
        p.max_cons_per_ip = 0
        p.start(port=port)
        more = {"c.bin": self.rand(10 * rate), "e.bin": self.rand(10 * rate)}
        for name, data in more.items():
            self.put(f, "/" + name, data)
        # Both workers send: both copies on the target at once (old code:
        # one worker rested the hour, the other sent them in turn).
        self.assertTrue(wait_for(lambda: len(tmp_names(d)) == 2,
                                 timeout=40, interval=0.2),
                        srv.log_text()[-3000:])
        self.assertArrived(d, more, srv, p, timeout=40)


def tmp_names(root):
    """The push copies (.rftpd-tmp.*) in folder root."""
    return [n for n in os.listdir(root) if n.startswith(".rftpd-tmp.")] \
        if os.path.isdir(root) else []


def cpu_seconds(pid):
    """User and system CPU time of a process so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def iso_seconds(line):
    """The epoch seconds of a log line's time ("2026-12-04T07:16:22.376Z
    ...")."""
    return calendar.timegm(time.strptime(line[:19], "%Y-%m-%dT%H:%M:%S"))


if __name__ == "__main__":
    unittest.main()
