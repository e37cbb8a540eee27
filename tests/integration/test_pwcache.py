"""The verified-credential cache (password_cache_ttl) seen from a real
client (ftplib): a repeated login is accepted by the cache (the debug log
says so), yet an admin's edit of users.ini wins at the next login, whether
it changes a user's password or removes the user, and a wrong password is
refused as before. These edits are made while the old password sits in the
cache, so they show it is invalidated at once; they pass on a server
without the cache too (there is nothing to invalidate), which is the point:
the cache must not change what a login answers."""
import ftplib
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Server, wait_for  # noqa: E402

CACHED = "matched the password cache"
# What users type and attackers try: spaces, quotes, a backslash, UTF-8,
# the characters of patterns and format strings.
OLD_PW = 'old "pw" \\ %s_*'
NEW_PW = "n\u00e9w p\u00e4ss %d 100%"


def login(srv, user, password):
    """Logs in and out with ftplib; returns the 230 reply's text."""
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", srv.port, timeout=10)
    try:
        return ftp.login(user, password)
    finally:
        ftp.close()


class PasswordCacheTest(unittest.TestCase):
    def server(self, ttl="300"):
        return Server(users={"alice": {"password": OLD_PW},
                             "b.o-b_@x": {"password": "bob pw"}},
                      server={"password_cache_ttl": ttl,
                              "log_level": "debug",
                              "login_fail_delay_ms": "0"})

    def cached_logins(self, srv):
        return srv.log_text().count(CACHED)

    def hashed(self, srv, user, password):
        """A login that argon2id decides (no cache line added)."""
        before = self.cached_logins(srv)
        self.assertTrue(login(srv, user, password).startswith("230"))
        self.assertEqual(self.cached_logins(srv), before, srv.log_text())

    def cached(self, srv, user, password):
        """A login that the cache decides (one cache line added)."""
        before = self.cached_logins(srv)
        self.assertTrue(login(srv, user, password).startswith("230"))
        self.assertTrue(wait_for(
            lambda: self.cached_logins(srv) == before + 1, timeout=5),
            srv.log_text())

    def warm(self, srv, user, password):
        """Two logins: the first pays argon2id, the second hits."""
        self.hashed(srv, user, password)
        self.cached(srv, user, password)

    def test_repeated_login_uses_cache(self):
        with self.server() as srv:
            self.warm(srv, "alice", OLD_PW)
            self.warm(srv, "b.o-b_@x", "bob pw")

    def test_password_change_takes_effect_at_once(self):
        with self.server() as srv:
            self.warm(srv, "alice", OLD_PW)
            srv.users["alice"]["password"] = NEW_PW
            srv.write_users()
            with self.assertRaises(ftplib.error_perm) as e:
                login(srv, "alice", OLD_PW)
            self.assertTrue(str(e.exception).startswith("530"))
            # The new password goes through argon2id, then the cache.
            self.warm(srv, "alice", NEW_PW)
            # Setting the old password back needs argon2id once more.
            srv.users["alice"]["password"] = OLD_PW
            srv.write_users()
            with self.assertRaises(ftplib.error_perm):
                login(srv, "alice", NEW_PW)
            self.warm(srv, "alice", OLD_PW)

    def test_removed_user_is_denied_at_once(self):
        with self.server() as srv:
            self.warm(srv, "alice", OLD_PW)
            self.warm(srv, "b.o-b_@x", "bob pw")
            del srv.users["alice"]
            srv.write_users()
            with self.assertRaises(ftplib.error_perm) as e:
                login(srv, "alice", OLD_PW)
            self.assertTrue(str(e.exception).startswith("530"))
            # The other user keeps working (and stays cached).
            self.cached(srv, "b.o-b_@x", "bob pw")

    def test_wrong_password_refused_with_warm_cache(self):
        with self.server() as srv:
            self.warm(srv, "alice", OLD_PW)
            for wrong in (OLD_PW[:-1], OLD_PW + " ", "bob pw", "x",
                          OLD_PW.upper()):
                with self.assertRaises(ftplib.error_perm) as e:
                    login(srv, "alice", wrong)
                self.assertTrue(str(e.exception).startswith("530"))
            # Another user's cached password is not alice's.
            self.warm(srv, "b.o-b_@x", "bob pw")
            with self.assertRaises(ftplib.error_perm):
                login(srv, "alice", "bob pw")
            # The failures did not evict alice's entry.
            self.cached(srv, "alice", OLD_PW)
            self.assertEqual(srv.log_text().count("bad password"), 6)

    def test_ttl_zero_turns_it_off(self):
        with self.server(ttl="0") as srv:
            for _ in range(3):
                self.hashed(srv, "alice", OLD_PW)
            self.assertEqual(srv.log_text().count("logged in as alice"), 3)


if __name__ == "__main__":
    unittest.main()
