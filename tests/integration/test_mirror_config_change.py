#!/usr/bin/env python3
"""relayftpd.ini edited between a stop and a start while jobs wait.

An admin's target is down, uploads wait in the queue for it, and the admin
edits relayftpd.ini before the next start: takes the target out (maybe the
last one), renames it. The jobs must not vanish unseen: the start's log and
`mirror status` say how many wait for a target the config no longer has,
and adding it back pushes them. Checked from outside: the log, the
command's output and the files on a pyftpdlib target. Runs in ~3 s.
"""
import ftplib
import io
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from daemon import free_port  # noqa: E402
from harness import wait_for  # noqa: E402
from mirror_targets import (MirrorServer, PyftpdTarget,  # noqa: E402
                            wait_files, wait_status)

FILES = {"a.bin": b"a" * 100, "b.bin": b"b" * 200}


class ConfigChangeTest(unittest.TestCase):

    def queued_for_down_target(self, queue="queue.db"):
        """A server whose target 'p' is down, stopped with FILES queued for
        it (nothing listens on p's port). queue None: the default queue
        beside the config."""
        down = "ftp://127.0.0.1:%d/base" % free_port()
        srv = MirrorServer(
            users={"u1": {"password": "pw1"}},
            mirror={"retry_initial": "1", "retry_max": "1",
                    "watch": "off"},
            targets={"p": {"url": down, "user": "puser",
                           "password": "ppass"}}, start=False)
        self.addCleanup(srv.cleanup)
        if queue is not None:
            srv.mirror_opts["queue"] = os.path.join(srv.tmp, queue)
            srv.write_config()
        srv.start()
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", srv.port, timeout=20)
        ftp.login("u1", "pw1")
        for path, data in FILES.items():
            ftp.storbinary("STOR /" + path, io.BytesIO(data))
        ftp.quit()
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


if __name__ == "__main__":
    unittest.main()
