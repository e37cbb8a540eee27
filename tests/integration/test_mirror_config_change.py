#!/usr/bin/env python3
"""relayftpd.ini edited, or a home moved, while jobs wait.

An admin's target is down, uploads wait in the queue for it, and the admin
edits relayftpd.ini before the next start: takes the target out (maybe the
last one), renames it. The jobs must not vanish unseen: the start's log and
`mirror status` say how many wait for a target the config no longer has,
and adding it back pushes them. Checked from outside: the log, the
command's output and the files on a pyftpdlib target. A home moved away
while its jobs wait is waited for, not dropped (HomeMovedTest). Runs in
~10 s.
"""
import ftplib
import io
import os
import signal
import socket
import sqlite3
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from daemon import free_port  # noqa: E402
from harness import Server, wait_for  # noqa: E402
from mirror_targets import (MirrorServer, PyftpdTarget,  # noqa: E402
                            wait_files, wait_status)

FILES = {"a.bin": b"a" * 100, "b.bin": b"b" * 200}


def upload(srv, files=FILES):
    """files ({name: bytes}) uploaded by u1 (password pw1) to srv."""
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", srv.port, timeout=20)
    ftp.login("u1", "pw1")
    for path, data in files.items():
        ftp.storbinary("STOR /" + path, io.BytesIO(data))
    ftp.quit()


def mirror_server(test, spec, start=True, **mirror):
    """relayftpd with user u1 (pw1) and one target 'p' (spec), retries
    every second, the watcher off, mirror's extra [mirror] keys; stopped
    and removed at test's cleanup."""
    opts = {"retry_initial": "1", "retry_max": "1", "watch": "off"}
    opts.update(mirror)
    srv = MirrorServer(users={"u1": {"password": "pw1"}}, mirror=opts,
                       targets={"p": spec}, start=start)
    test.addCleanup(srv.cleanup)
    return srv


def mirror_none_reloaded(case, srv):
    """u1's mirror set to none in users.ini, reloaded by srv."""
    srv.users["u1"]["mirror"] = "none"
    srv.write_users()
    srv.proc.send_signal(signal.SIGHUP)
    case.assertTrue(wait_for(
        lambda: "users.ini reloaded" in srv.log_text(), timeout=10),
        srv.log_text()[-2000:])


class ConfigChangeTest(unittest.TestCase):

    def queued_for_down_target(self, queue="queue.db"):
        """A server whose target 'p' is down, stopped with FILES queued for
        it (nothing listens on p's port). queue None: the default queue
        beside the config."""
        down = "ftp://127.0.0.1:%d/base" % free_port()
        srv = mirror_server(self, {"url": down, "user": "puser",
                                   "password": "ppass"}, start=False)
        if queue is not None:
            srv.mirror_opts["queue"] = os.path.join(srv.tmp, queue)
            srv.write_config()
        srv.start()
        upload(srv)
        st = wait_status(srv, lambda s: s["p"]["queued"] == len(FILES),
                         timeout=20)
        self.assertEqual(st["p"]["queued"], len(FILES), st)
        srv.stop()
        return srv

    def test_last_target_taken_out_says_its_jobs(self):
        srv = self.queued_for_down_target()
        spec = srv.targets.pop("p")
        srv.write_config()
        srv.start()
        said = "mirror: %d jobs of target 'p', which %s no longer has" % (
            len(FILES), srv.config_path)
        self.assertTrue(wait_for(lambda: said in srv.log_text(),
                                 timeout=10), srv.log_text()[-2000:])
        r = srv.status_raw()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("no targets configured", r.stdout)
        self.assertIn(said, r.stderr)
        srv.stop()

        # The advice holds: the target added back gets the files.
        p = PyftpdTarget()
        self.addCleanup(p.cleanup)
        spec.update(p.target("/base"))
        srv.targets["p"] = spec
        srv.write_config()
        srv.start()
        self.assertEqual(wait_files(p.dir("base", "u1"), FILES, timeout=30),
                         {}, srv.log_text()[-2000:])

    def test_renamed_target_status_says_the_old_names_jobs(self):
        srv = self.queued_for_down_target()
        srv.targets = {"q": srv.targets["p"]}
        srv.write_config()
        r = srv.status_raw()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("target q: ", r.stdout)
        self.assertNotIn("target p: ", r.stdout)
        self.assertIn("mirror: %d jobs of target 'p', which %s no longer "
                      "has" % (len(FILES), srv.config_path), r.stderr)

    def test_queue_moved_says_the_jobs_left_in_the_old_file(self):
        # The admin points [mirror] queue at /var/lib/relayftpd (README,
        # systemd) while jobs wait in the default queue beside the config.
        srv = self.queued_for_down_target(queue=None)
        old = os.path.join(srv.tmp, "relayftpd-queue.db")
        self.assertTrue(os.path.exists(old))
        srv.mirror_opts["queue"] = os.path.join(srv.tmp, "moved.db")
        srv.write_config()
        srv.start()
        said = ("mirror: %s, the queue %s used before its [mirror] queue "
                "named %s, still holds %d jobs" % (
                    old, srv.config_path, srv.mirror_opts["queue"],
                    len(FILES)))
        self.assertTrue(wait_for(lambda: said in srv.log_text(),
                                 timeout=10), srv.log_text()[-2000:])
        srv.stop()

        # Set back, as the line says: the jobs are there, and the line is
        # not (the config uses that file).
        del srv.mirror_opts["queue"]
        srv.write_config()
        srv.start()
        st = wait_status(srv, lambda s: s["p"]["queued"] +
                         s["p"]["running"] == len(FILES), timeout=10)
        self.assertEqual(st["p"]["queued"] + st["p"]["running"],
                         len(FILES), st)
        self.assertEqual(srv.log_text().count(said), 1)

    def test_parked_jobs_are_said_after_the_cause_is_mended(self):
        # A wrong password parked the jobs (max_attempts = 1); the admin
        # mends it and restarts: the parked ones do not go by themselves,
        # and the start says so, with the command that sends them.
        p = PyftpdTarget()
        self.addCleanup(p.cleanup)
        srv = mirror_server(self, p.target("/base", password="wrong"),
                            max_attempts="1")
        upload(srv)
        st = wait_status(srv, lambda s: s["p"]["failed"] == len(FILES),
                         timeout=20)
        self.assertEqual(st["p"]["failed"], len(FILES), st)
        srv.stop()
        srv.targets["p"]["password"] = p.password
        srv.write_config()
        srv.start()
        said = ("mirror target p: %d jobs parked as failed are not pushed "
                "until 'relayftpd mirror retry p' queues them again" %
                len(FILES))
        self.assertTrue(wait_for(lambda: said in srv.log_text(),
                                 timeout=10), srv.log_text()[-2000:])
        r = srv.retry("p")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(wait_files(p.dir("base", "u1"), FILES, timeout=20),
                         {}, srv.log_text()[-2000:])

    def pushed_and_stopped(self):
        """A pyftpdlib target and a server (stopped) that pushed FILES to
        its /base."""
        p = PyftpdTarget()
        self.addCleanup(p.cleanup)
        srv = mirror_server(self, p.target("/base"))
        upload(srv)
        self.assertEqual(wait_files(p.dir("base", "u1"), FILES, timeout=20),
                         {}, srv.log_text()[-2000:])
        srv.stop()
        return p, srv

    def test_url_changed_says_the_files_pushed_before(self):
        # The files went to /base; the admin points the target at another
        # folder (or server). The record of what was pushed is of the old
        # place: the start says so, and resync sends them to the new one.
        p, srv = self.pushed_and_stopped()
        # A new password is the same place: nothing said.
        srv.targets["p"]["url"] = p.url("/base", credentials=True)
        srv.write_config()
        srv.start()
        srv.stop()
        self.assertNotIn("when relayftpd last ran", srv.log_text())
        srv.targets["p"] = p.target("/other")
        srv.write_config()
        srv.start()
        said = ("mirror target p: it pushed to %s user %s when relayftpd "
                "last ran and pushes to %s user %s now: the %d files pushed "
                "before are not pushed again; 'relayftpd mirror resync p'" % (
                    p.url("/base"), p.user, p.url("/other"), p.user,
                    len(FILES)))
        self.assertTrue(wait_for(lambda: said in srv.log_text(),
                                 timeout=10), srv.log_text()[-2000:])
        r = srv.mirror_cmd("resync", "--config", srv.config_path, "p")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(wait_files(p.dir("other", "u1"), FILES,
                                    timeout=20), {}, srv.log_text()[-2000:])
        # Said once: the new place is the one on record now.
        srv.stop()
        srv.start()
        srv.stop()
        self.assertEqual(srv.log_text().count(said), 1)

    def test_url_change_is_said_again_after_a_start_that_failed(self):
        # The start with the new url fails after the mirror opened its
        # queue (its FTP port taken: an old instance still stopping, an
        # address not up yet at boot); the admin mends that and starts
        # again. That start must still say the target moved: the one
        # that failed recorded the new place, and no later start said a
        # word, while the files pushed before never reached it.
        p, srv = self.pushed_and_stopped()
        srv.targets["p"] = p.target("/other")
        busy = socket.socket()
        self.addCleanup(busy.close)
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        srv.server_opts["listen"] = "127.0.0.1:%d" % busy.getsockname()[1]
        srv.write_config()
        with self.assertRaises(RuntimeError):
            srv.start()
        busy.close()
        del srv.server_opts["listen"]
        srv.write_config()
        before = srv.log_text().count("when relayftpd last ran")
        srv.start()
        said = ("mirror target p: it pushed to %s user %s when relayftpd "
                "last ran and pushes to %s user %s now" % (
                    p.url("/base"), p.user, p.url("/other"), p.user))
        self.assertTrue(wait_for(
            lambda: srv.log_text().count(said) == before + 1, timeout=10),
            srv.log_text()[-3000:])
        # Said until a start ran: not at the next one.
        srv.stop()
        srv.start()
        srv.stop()
        self.assertEqual(srv.log_text().count(said), before + 1)

    def test_url_with_a_trailing_slash_is_the_same_place(self):
        # "ftp://h/base/" pushes where "ftp://h/base" did (the transports
        # cut the '/'): a start told the admin who added one that the
        # target had moved and its files were not pushed again.
        p, srv = self.pushed_and_stopped()
        srv.targets["p"]["url"] = p.url("/base/")
        srv.write_config()
        srv.start()
        srv.stop()
        # A place an older server recorded with the '/' is the same too.
        db = sqlite3.connect(os.path.join(srv.tmp, "relayftpd-queue.db"))
        with db:
            n = db.execute("UPDATE target_places SET place=? WHERE name='p'",
                           (p.url("/base//"),)).rowcount
        db.close()
        self.assertEqual(n, 1)
        srv.targets["p"]["url"] = p.url("/base")
        srv.write_config()
        srv.start()
        srv.stop()
        self.assertNotIn("when relayftpd last ran", srv.log_text())

    def test_target_account_changed_says_the_files_pushed_before(self):
        # The target is moved to another account of the same FTP server
        # (each user rooted in its own folder, as most servers do): the
        # files pushed to the first are on record as pushed, and the
        # second never got them, without a word.
        down = Server(users={"m1": {"password": "pw"},
                             "m2": {"password": "pw"}})
        self.addCleanup(down.cleanup)
        url = "ftp://127.0.0.1:%d/base" % down.port
        srv = mirror_server(self, {"url": url, "user": "m1",
                                   "password": "pw"})
        upload(srv)
        self.assertEqual(wait_files(os.path.join(
            down.home("m1"), "base", "u1"), FILES, timeout=20), {},
            srv.log_text()[-2000:])
        srv.stop()
        srv.targets["p"]["user"] = "m2"
        srv.write_config()
        srv.start()
        said = ("mirror target p: it pushed to %s user m1 when relayftpd "
                "last ran and pushes to %s user m2 now" % (url, url))
        self.assertTrue(wait_for(lambda: said in srv.log_text(),
                                 timeout=10), srv.log_text()[-2000:])
        r = srv.mirror_cmd("resync", "--config", srv.config_path, "p")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(wait_files(os.path.join(
            down.home("m2"), "base", "u1"), FILES, timeout=20), {},
            srv.log_text()[-2000:])

    def routed_while_down(self):
        """A server whose target 'p' (a pyftpdlib, stopped) has FILES
        waiting; the target is started again before the return."""
        p = PyftpdTarget()
        self.addCleanup(p.cleanup)
        srv = mirror_server(self, p.target("/base"))
        p.stop()
        upload(srv)
        st = wait_status(srv, lambda s: s["p"]["queued"] +
                         s["p"]["running"] == len(FILES), timeout=20)
        self.assertEqual(st["p"]["queued"] + st["p"]["running"],
                         len(FILES), st)
        return p, srv

    def test_exclude_set_while_jobs_wait_leaves_them_out(self):
        p, srv = self.routed_while_down()
        srv.stop()
        srv.targets["p"]["exclude"] = "b.bin"
        srv.write_config()
        p.start()
        srv.start()
        self.assertEqual(wait_files(p.dir("base", "u1"),
                                    {"a.bin": FILES["a.bin"]}, timeout=20),
                         {}, srv.log_text()[-2000:])
        self.assertTrue(wait_for(
            lambda: "mirror skip target=p path=/u1/b.bin: left out by the "
            "target's include or exclude" in srv.log_text(), timeout=10),
            srv.log_text()[-2000:])
        self.assertFalse(os.path.exists(p.dir("base", "u1", "b.bin")))

    def test_mirror_none_reloaded_while_jobs_wait_leaves_them_out(self):
        p, srv = self.routed_while_down()
        mirror_none_reloaded(self, srv)
        p.start()
        st = wait_status(srv, lambda s: s["p"]["queued"] +
                         s["p"]["running"] == 0, timeout=20)
        self.assertEqual(st["p"]["queued"] + st["p"]["running"], 0, st)
        self.assertEqual(srv.log_text().count(
            "path=/u1/%s: the user's mirror in users.ini no longer names "
            "this target" % "a.bin"), 1, srv.log_text()[-2000:])
        self.assertEqual(os.listdir(p.root), [])


class DeleteRoutedAwayTest(unittest.TestCase):
    """A delete queued while the target was down is routed as it would be
    queued now, like a put: one queued before the admin excluded the
    file, or took the user's mirroring to that target away, deleted the
    copy the target kept (no delete of an excluded file is queued, as
    rsync --exclude keeps such files on the receiver; found from
    outside). Now it is skipped and said."""

    def deleted_while_down(self):
        """FILES on a pyftpdlib target 'p' that deletes propagate to,
        then b.bin deleted in the home while p was down; p is started
        again before the return."""
        p = PyftpdTarget()
        self.addCleanup(p.cleanup)
        spec = p.target("/base")
        spec["propagate_deletes"] = "on"
        srv = mirror_server(self, spec)
        upload(srv)
        self.assertEqual(wait_files(p.dir("base", "u1"), FILES,
                                    timeout=20), {},
                         srv.log_text()[-2000:])
        p.stop()
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", srv.port, timeout=20)
        ftp.login("u1", "pw1")
        ftp.delete("/b.bin")
        ftp.quit()
        st = wait_status(srv, lambda s: s["p"]["queued"] +
                         s["p"]["running"] == 1, timeout=20)
        self.assertEqual(st["p"]["queued"] + st["p"]["running"], 1, st)
        return p, srv

    def assert_kept(self, p, srv, why):
        st = wait_status(srv, lambda s: s["p"]["queued"] +
                         s["p"]["running"] == 0, timeout=20)
        self.assertEqual(st["p"]["queued"] + st["p"]["running"], 0, st)
        self.assertEqual(wait_files(p.dir("base", "u1"), FILES,
                                    timeout=5), {}, srv.log_text()[-2000:])
        self.assertIn("mirror skip target=p path=/u1/b.bin: " + why,
                      srv.log_text())
        self.assertNotIn("mirror delete target=p", srv.log_text())

    def kept_after_restart_with(self, key, value, why):
        """The delete waits, relayftpd restarts with p's key set to
        value, and the target keeps b.bin, the log saying why."""
        p, srv = self.deleted_while_down()
        srv.stop()
        srv.targets["p"][key] = value
        srv.write_config()
        p.start()
        srv.start()
        self.assert_kept(p, srv, why)

    def test_delete_of_a_file_excluded_since_is_not_pushed(self):
        self.kept_after_restart_with(
            "exclude", "b.bin", "left out by the target's include or "
            "exclude, set since it was queued")

    def test_delete_queued_before_deletes_were_turned_off(self):
        self.kept_after_restart_with(
            "propagate_deletes", "off", "propagate_deletes turned off "
            "since it was queued")

    def test_delete_of_a_user_no_longer_mirrored_is_not_pushed(self):
        p, srv = self.deleted_while_down()
        mirror_none_reloaded(self, srv)
        p.start()
        self.assert_kept(p, srv, "the user's mirror in users.ini no "
                         "longer names this target")


class HomeMovedTest(unittest.TestCase):
    """A user's home gone from its place while jobs wait for a target that
    is down (the watcher off): moved back, or moved on and named in
    users.ini by a reload. The 226s said the files would reach the
    target: they must, without a restart."""

    def away_while_queued(self, files=FILES):
        p = PyftpdTarget()
        self.addCleanup(p.cleanup)
        srv = mirror_server(self, p.target("/base"))
        p.stop()
        upload(srv, files)
        away = os.path.join(srv.tmp, "homes", "u1-away")
        os.rename(srv.home("u1"), away)
        # The target is back, and the jobs are tried while the home is
        # away (the old code dropped them: "mirror skip ... no longer in
        # the home", and its walk of the missing home found nothing): a
        # job finds the home missing, and the others wait with it.
        start = len(srv.log_text())
        p.start()
        self.assertTrue(wait_for(
            lambda: " is not there" in srv.log_text()[start:],
            timeout=20), srv.log_text()[-2000:])
        self.assertNotIn("mirror skip", srv.log_text()[start:])
        self.assertEqual(srv.status()["p"]["queued"], len(files))
        return p, srv, away

    def test_home_back_in_place_gets_its_files_pushed(self):
        p, srv, away = self.away_while_queued()
        os.rename(away, srv.home("u1"))
        self.assertEqual(wait_files(p.dir("base", "u1"), FILES, timeout=15),
                         {}, srv.log_text()[-2000:])
        # Said while it waited, with the reason.
        self.assertIn("the home %s is not there" % srv.home("u1"),
                      srv.log_text())

    def test_missing_home_is_said_once_not_per_job_and_retry(self):
        """50,000 jobs of a home whose disk is not mounted wrote a line
        each per retry (166 a second at retry_max 300, a disk filler:
        found by a soak). Now the home is said once a minute, and its
        jobs wait with the one that found it missing."""
        files = {"f%02d" % i: b"%d" % i for i in range(40)}
        p, srv, away = self.away_while_queued(files)
        queue = os.path.join(srv.tmp, "relayftpd-queue.db")  # the default

        def most_attempts():
            db = sqlite3.connect("file:%s?mode=ro" % queue, uri=True,
                                 timeout=10)
            try:
                return db.execute("SELECT max(attempts) FROM jobs")\
                    .fetchone()[0] or 0
            finally:
                db.close()
        # Three rounds of retries (retry_max = 1).
        self.assertTrue(wait_for(lambda: most_attempts() >= 3, timeout=30),
                        srv.log_text()[-2000:])
        said = [line for line in srv.log_text().splitlines()
                if " is not there" in line]
        self.assertEqual(len(said), 1, "\n".join(said[:10]))
        os.rename(away, srv.home("u1"))
        self.assertEqual(wait_files(p.dir("base", "u1"), files, timeout=30),
                         {}, srv.log_text()[-2000:])

    def test_status_says_the_jobs_wait_for_the_missing_home(self):
        """The target was down, then back, while the home was away:
        `mirror status` kept the old connect error as the target's
        current one (state failing, "connect ... refused") for as long
        as the home was missing, and nothing on the line said why the
        jobs waited: the log's line once a minute was all. Now the line
        names the missing home."""
        p, srv, away = self.away_while_queued()
        home = srv.home("u1")

        def line():
            return srv.status()["p"]
        self.assertTrue(wait_for(
            lambda: "the home %s is not there" % home in
            line()["last_error"], timeout=20),
            "%s\n%s" % (srv.status_raw().stdout, srv.log_text()[-2000:]))
        st = srv.status_raw().stdout
        self.assertIn("error=current", st)
        self.assertNotIn("connect", st)
        os.rename(away, home)
        self.assertEqual(wait_files(p.dir("base", "u1"), FILES, timeout=15),
                         {}, srv.log_text()[-2000:])
        # Over once its files are pushed: the line says so.
        self.assertTrue(wait_for(
            lambda: "error=past" in srv.status_raw().stdout and
            line()["state"] == "up", timeout=20), srv.status_raw().stdout)

    def test_status_with_the_target_down_too_names_both(self):
        """Two users, the target down, u1's home moved away: u2's jobs
        kept failing to connect while u1's found the home missing, and
        each wrote its error alone as the target's last: `mirror status`
        flipped between the two every retry. Both are true: the line
        now says both, whichever job wrote it last."""
        p = PyftpdTarget()
        self.addCleanup(p.cleanup)
        opts = {"retry_initial": "1", "retry_max": "1", "watch": "off"}
        srv = MirrorServer(users={"u1": {"password": "pw1"},
                                  "u2": {"password": "pw2"}},
                           mirror=opts, targets={"p": p.target("/base")})
        self.addCleanup(srv.cleanup)
        p.stop()
        upload(srv)
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", srv.port, timeout=20)
        ftp.login("u2", "pw2")
        ftp.storbinary("STOR /c.bin", io.BytesIO(b"c" * 300))
        ftp.quit()
        os.rename(srv.home("u1"), os.path.join(srv.tmp, "homes", "u1-away"))
        home = srv.home("u1")
        missing = "the home %s is not there" % home

        def last():
            return srv.status()["p"]["last_error"]
        def both():
            line = last()
            return missing in line and "connect" in line
        self.assertTrue(wait_for(both, timeout=20),
            "%s\n%s" % (last(), srv.log_text()[-2000:]))
        # Some retries of both homes' jobs (each second): every line
        # read now names both faults.
        seen = set()
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            line = last()
            seen.add(line)
            self.assertIn(missing, line, sorted(seen))
            self.assertIn("connect", line, sorted(seen))
            time.sleep(0.2)
        self.assertIn("error=current", srv.status_raw().stdout)

    def test_status_drops_the_connect_error_once_the_target_answers(self):
        """As test_status_with_the_target_down_too_names_both, then the
        target comes back and refuses u2's file (553: it answers). The
        connect error is then old news, but every retry of u1's job
        (its home missing) wrote it again with the home's note, so the
        line flipped between the refusal and "connect ...; and the home
        ...": a target shown down that answers."""
        p = PyftpdTarget(refuse="refuse-me")
        self.addCleanup(p.cleanup)
        opts = {"retry_initial": "1", "retry_max": "1", "watch": "off"}
        srv = MirrorServer(users={"u1": {"password": "pw1"},
                                  "u2": {"password": "pw2"}},
                           mirror=opts, targets={"p": p.target("/base")})
        self.addCleanup(srv.cleanup)
        p.stop()
        upload(srv)
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", srv.port, timeout=20)
        ftp.login("u2", "pw2")
        ftp.storbinary("STOR /refuse-me.bin", io.BytesIO(b"c" * 300))
        ftp.quit()
        os.rename(srv.home("u1"), os.path.join(srv.tmp, "homes", "u1-away"))
        missing = "the home %s is not there" % srv.home("u1")

        def last():
            return srv.status()["p"]["last_error"]
        self.assertTrue(wait_for(
            lambda: missing in last() and "connect" in last(), timeout=20),
            "%s\n%s" % (last(), srv.log_text()[-2000:]))
        p.start()
        self.assertTrue(wait_for(lambda: "553" in last(), timeout=20),
            "%s\n%s" % (last(), srv.log_text()[-2000:]))
        # Some retries of both jobs (each second): no line read now
        # says the target cannot be reached.
        seen = set()
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            line = last()
            seen.add(line)
            self.assertNotIn("connect", line, sorted(seen))
            time.sleep(0.2)

    def test_home_moved_then_named_by_a_reload_gets_its_files_pushed(self):
        p, srv, away = self.away_while_queued()
        srv.users["u1"]["home"] = away
        srv.write_users()
        srv.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(
            lambda: "users.ini reloaded" in srv.log_text(), timeout=10),
            srv.log_text()[-2000:])
        self.assertEqual(wait_files(p.dir("base", "u1"), FILES, timeout=15),
                         {}, srv.log_text()[-2000:])


def sighup_said(case, srv, said, timeout=10):
    """SIGHUP to srv; waits for the log line said (asserts it came)."""
    before = srv.log_text().count(said)
    srv.proc.send_signal(signal.SIGHUP)
    case.assertTrue(wait_for(
        lambda: srv.log_text().count(said) > before, timeout=timeout),
        srv.log_text()[-3000:])


class ReloadTargetsTest(unittest.TestCase):
    """SIGHUP re-reads users.ini only; the targets' workers are built at
    start. A target added to relayftpd.ini before a SIGHUP was listed by
    `mirror status` as up with its jobs queued, and nothing arrived, not a
    word in the log. The log, `mirror status` and the files on two
    pyftpdlib targets say what the running daemon does and does not
    push, and a restart applies the file."""

    def test_target_added_or_changed_is_said_until_a_restart(self):
        p = PyftpdTarget()
        self.addCleanup(p.cleanup)
        q = PyftpdTarget()
        self.addCleanup(q.cleanup)
        srv = mirror_server(self, p.target("/base"))
        st = srv.status()
        self.assertEqual(st["p"]["extra"].get("daemon"), "pushing", st)
        srv.targets["q"] = q.target("/base")
        srv.targets["p"] = p.target("/other")
        srv.write_config()
        path = srv.config_path
        sighup_said(self, srv, "SIGHUP: %s: target q added: not pushed to "
                    "until a restart (SIGHUP re-reads users.ini only)" % path)
        self.assertIn("SIGHUP: %s: target p changed (url): still pushed with "
                      "the settings of the start until a restart" % path,
                      srv.log_text())
        r = srv.status_raw()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        st = srv.status()
        self.assertEqual(st["q"]["extra"].get("daemon"), "not_pushing", st)
        self.assertEqual(st["p"]["extra"].get("daemon"), "old_settings", st)
        self.assertIn("target q: the running relayftpd does not push to it",
                      r.stderr)
        self.assertIn("target p: the running relayftpd pushes with the "
                      "settings it started with", r.stderr)
        # What the running daemon does: p's old folder, nothing to q.
        upload(srv)
        self.assertEqual(wait_files(p.dir("base", "u1"), FILES, timeout=20),
                         {}, srv.log_text()[-2000:])
        self.assertFalse(os.path.exists(q.dir("base", "u1")))
        # A password is a secret: not in the queue's fingerprint, named in
        # the log (never its value).
        srv.targets["p"] = p.target("/other", password="changed-pw")
        srv.write_config()
        sighup_said(self, srv, "target p changed (url, password)")
        self.assertNotIn("changed-pw", srv.log_text())
        # min_rate (a trickle's bound) went unsaid: the log and `mirror
        # status` said nothing of a change the daemon does not apply.
        srv.targets["p"] = p.target("/base", min_rate="10")
        srv.write_config()
        sighup_said(self, srv, "SIGHUP: %s: target p changed (min_rate): "
                    "still pushed with the settings of the start" % path)
        st = srv.status()
        self.assertEqual(st["p"]["extra"].get("daemon"), "old_settings", st)
        # A broken file: said, and users.ini is still reloaded.
        srv.targets["p"] = p.target("/other")
        with open(path, "a") as f:
            f.write("[nosuchsection]\nkey = 1\n")
        sighup_said(self, srv, "SIGHUP: %s does not load (" % path)
        self.assertIn("users.ini reloaded", srv.log_text())
        srv.write_config()
        # The restart applies it all: q gets the files queued for it.
        srv.stop()
        srv.start()
        st = srv.status()
        self.assertEqual({n: st[n]["extra"].get("daemon") for n in st},
                         {"p": "pushing", "q": "pushing"}, st)
        self.assertEqual(wait_files(q.dir("base", "u1"), FILES, timeout=20),
                         {}, srv.log_text()[-2000:])
        # p's files went to its old folder: the start says so (resync
        # sends them to the new one, test_url_changed_...).
        self.assertIn("when relayftpd last ran", srv.log_text())
        sighup_said(self, srv, "users.ini reloaded")
        self.assertNotIn("NOT applied", srv.log_text())
        srv.stop()
        st = srv.status()
        self.assertEqual(st["p"]["extra"].get("daemon"), "stopped", st)


if __name__ == "__main__":
    unittest.main()
