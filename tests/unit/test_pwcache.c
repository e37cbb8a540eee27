/*
 * test_pwcache.c - the verified-credential cache (common/pwcache.h) and the
 * user store's use of it (userdb_verify in common/users.h).
 *
 * The cache answers yes only for the same name, stored hash and password
 * within the TTL (an injected clock moves time); it holds at most its
 * capacity, forgetting the least recently used; an entry bound to another
 * hash is dropped, and a reload drops users who are gone or whose hash
 * changed; ttl 0 remembers nothing. Through the store: a wrong password is
 * never remembered and never accepted, a users.ini edit that changes a hash
 * or removes a user takes effect at the next login, and ttl 0 makes every
 * login pay argon2id again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/limits.h"
#include "common/pwcache.h"
#include "common/users.h"
#include "fixture.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define H1 "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA"
#define H2 "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$BBBBBBBBBBBBBBBBBBBBBB"

static uint64_t fake_now;

static uint64_t
fake_clock(void)
{
	return fake_now;
}

static struct pwcache *
cache(size_t entries, uint64_t ttl)
{
	struct pwcache *c;

	fake_now = 1000;
	c = pwcache_new(entries, ttl, fake_clock);
	assert_non_null(c);
	return c;
}

static void
test_hit_and_misses(void **state)
{
	struct pwcache *c = cache(16, 300);

	(void)state;
	assert_int_equal(pwcache_check(c, "alice", H1, "pw"), 0);
	assert_int_equal(pwcache_store(c, "alice", H1, "pw"), 0);
	assert_int_equal(pwcache_check(c, "alice", H1, "pw"), 1);
	/* Another password, a prefix of it, another user with the same
	 * password and hash: all miss. */
	assert_int_equal(pwcache_check(c, "alice", H1, "pw2"), 0);
	assert_int_equal(pwcache_check(c, "alice", H1, "p"), 0);
	assert_int_equal(pwcache_check(c, "alice", H1, ""), 0);
	assert_int_equal(pwcache_check(c, "bob", H1, "pw"), 0);
	assert_int_equal(pwcache_check(c, "alic", H1, "pw"), 0);
	/* Wrong guesses leave the real user's entry in place. */
	assert_int_equal(pwcache_check(c, "alice", H1, "pw"), 1);
	assert_int_equal(pwcache_count(c), 1);
	/* A new password for the same user replaces the old entry. */
	assert_int_equal(pwcache_store(c, "alice", H1, "new"), 0);
	assert_int_equal(pwcache_count(c), 1);
	assert_int_equal(pwcache_check(c, "alice", H1, "pw"), 0);
	assert_int_equal(pwcache_check(c, "alice", H1, "new"), 1);
	pwcache_free(c);
}

static void
test_ttl_expiry(void **state)
{
	struct pwcache *c = cache(16, 300);

	(void)state;
	assert_int_equal(pwcache_store(c, "alice", H1, "pw"), 0);
	fake_now += 299;
	assert_int_equal(pwcache_check(c, "alice", H1, "pw"), 1);
	/* A hit does not extend the entry: the TTL runs from the check. */
	fake_now += 1;
	assert_int_equal(pwcache_check(c, "alice", H1, "pw"), 0);
	assert_int_equal(pwcache_count(c), 0);
	/* Stored again after a full check, it lives again. */
	assert_int_equal(pwcache_store(c, "alice", H1, "pw"), 0);
	assert_int_equal(pwcache_check(c, "alice", H1, "pw"), 1);
	/* A clock that goes back never makes an entry young. */
	fake_now -= 10;
	assert_int_equal(pwcache_check(c, "alice", H1, "pw"), 0);
	pwcache_free(c);
}

static void
test_lru_bound(void **state)
{
	struct pwcache *c = cache(4, 300);
	char name[16];

	(void)state;
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "u%d", i);
		assert_int_equal(pwcache_store(c, name, H1, name), 0);
	}
	/* u0 used last: u1 is now the least recently used. */
	assert_int_equal(pwcache_check(c, "u0", H1, "u0"), 1);
	assert_int_equal(pwcache_store(c, "u4", H1, "u4"), 0);
	assert_int_equal(pwcache_count(c), 4);
	assert_int_equal(pwcache_check(c, "u1", H1, "u1"), 0);
	assert_int_equal(pwcache_check(c, "u0", H1, "u0"), 1);
	assert_int_equal(pwcache_check(c, "u4", H1, "u4"), 1);
	/* Many more users than slots: never more than 4, the last 4 hit. */
	for (int i = 5; i < 1000; i++) {
		snprintf(name, sizeof(name), "u%d", i);
		assert_int_equal(pwcache_store(c, name, H1, name), 0);
		assert_true(pwcache_count(c) <= 4);
	}
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "u%d", i);
		assert_int_equal(pwcache_check(c, name, H1, name), i >= 996);
	}
	pwcache_free(c);
}

static void
test_hash_change_never_matches(void **state)
{
	struct pwcache *c = cache(16, 300);

	(void)state;
	assert_int_equal(pwcache_store(c, "alice", H1, "pw"), 0);
	/* users.ini now says H2: the same password must go to argon2id,
	 * and the stale entry is gone, even if H1 came back. */
	assert_int_equal(pwcache_check(c, "alice", H2, "pw"), 0);
	assert_int_equal(pwcache_count(c), 0);
	assert_int_equal(pwcache_check(c, "alice", H1, "pw"), 0);
	pwcache_free(c);
}

/* The users.ini of test_retain: alice unchanged, bob's hash changed,
 * carol removed. */
static const char *
reloaded(void *ctx, const char *name)
{
	(void)ctx;
	if (strcmp(name, "alice") == 0)
		return H1;
	if (strcmp(name, "bob") == 0)
		return H2;
	return NULL;
}

static void
test_retain(void **state)
{
	struct pwcache *c = cache(16, 300);

	(void)state;
	assert_int_equal(pwcache_store(c, "alice", H1, "a"), 0);
	assert_int_equal(pwcache_store(c, "bob", H1, "b"), 0);
	assert_int_equal(pwcache_store(c, "carol", H1, "c"), 0);
	pwcache_retain(c, reloaded, NULL);
	assert_int_equal(pwcache_count(c), 1);
	assert_int_equal(pwcache_check(c, "alice", H1, "a"), 1);
	assert_int_equal(pwcache_check(c, "bob", H1, "b"), 0);
	assert_int_equal(pwcache_check(c, "carol", H1, "c"), 0);
	/* Freed slots are reused. */
	for (int i = 0; i < 40; i++) {
		char name[16];

		snprintf(name, sizeof(name), "n%d", i);
		assert_int_equal(pwcache_store(c, name, H1, "x"), 0);
	}
	assert_int_equal(pwcache_count(c), 16);
	pwcache_free(c);
}

static void
test_off_and_bad_names(void **state)
{
	struct pwcache *c = cache(16, 0);
	char longname[RFTP_USER_MAX + 2];

	(void)state;
	assert_int_equal(pwcache_store(c, "alice", H1, "pw"), -1);
	assert_int_equal(pwcache_check(c, "alice", H1, "pw"), 0);
	assert_int_equal(pwcache_count(c), 0);
	pwcache_free(c);
	/* NULL is an off cache too (what the store holds for ttl 0). */
	assert_int_equal(pwcache_check(NULL, "alice", H1, "pw"), 0);
	assert_int_equal(pwcache_store(NULL, "alice", H1, "pw"), -1);
	assert_null(pwcache_new(0, 300, NULL));

	c = cache(16, 300);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(pwcache_store(c, longname, H1, "pw"), -1);
	assert_int_equal(pwcache_store(c, "", H1, "pw"), -1);
	assert_int_equal(pwcache_check(c, longname, H1, "pw"), 0);
	assert_int_equal(pwcache_count(c), 0);
	pwcache_free(c);
}

struct worker {
	struct pwcache *c;
	int id;
	int wrong_hits;
};

static void *
hammer(void *arg)
{
	struct worker *w = arg;
	char name[16], pw[16];

	for (int i = 0; i < 2000; i++) {
		int u = (i * 7 + w->id) % 24;

		snprintf(name, sizeof(name), "u%d", u);
		snprintf(pw, sizeof(pw), "p%d", u);
		if (i % 3 == 0)
			pwcache_store(w->c, name, H1, pw);
		else
			pwcache_check(w->c, name, H1, pw);
		if (pwcache_check(w->c, name, H1, "wrong"))
			w->wrong_hits++;
	}
	return NULL;
}

/* Sessions are threads: concurrent stores, checks and evictions keep the
 * table consistent (ASan/UBSan builds check the memory) and never accept
 * a wrong password. */
static void
test_threads(void **state)
{
	struct pwcache *c = cache(8, 300);
	struct worker w[4];
	pthread_t t[4];

	(void)state;
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ c, i, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, hammer, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].wrong_hits, 0);
	}
	assert_true(pwcache_count(c) <= 8);
	pwcache_free(c);
}

/* users.ini with one user whose password hashes to hash. */
static void
write_users(const char *dir, const char *user, const char *hash, char *path,
    size_t pathlen)
{
	char text[1024], tmp[PATH_MAX];

	/* Checked: gcc -O3 (a Release build) sees dir may not fit. */
	assert_true(
	    snprintf(text, sizeof(text), "[%s]\npassword = %s\nhome = %s\n",
	        user, hash, dir) < (int)sizeof(text));
	/* A new file renamed over the old one, as editors and the tests'
	 * harness do: a new inode, so the store's change check sees it. */
	fixture_write_file(dir, "users.ini.tmp", text, tmp, sizeof(tmp));
	fixture_join(path, pathlen, dir, "users.ini");
	assert_int_equal(rename(tmp, path), 0);
}

static enum users_verdict
login(struct userdb *db, const char *name, const char *password)
{
	struct user u;
	int found = userdb_lookup(db, name, &u) == 0;

	return userdb_verify(db, name, found ? &u : NULL, password, -1);
}

static void
test_store_uses_cache(void **state)
{
	char dir[PATH_MAX], path[PATH_MAX], h1[256], h2[256];
	struct buf errs;
	struct userdb *db;

	(void)state;
	assert_int_equal(users_crypto_init(), 0);
	assert_int_equal(users_hash_password("old pw", h1, sizeof(h1)), 0);
	assert_int_equal(users_hash_password("new pw", h2, sizeof(h2)), 0);
	assert_int_equal(fixture_tmpdir("pwcache", dir, sizeof(dir)), 0);
	write_users(dir, "alice", h1, path, sizeof(path));
	buf_init(&errs, 4096);
	db = userdb_open(path, 300, &errs);
	assert_non_null(db);

	/* A wrong password first: refused, and not remembered. */
	assert_int_equal(login(db, "alice", "new pw"), USERS_BAD);
	assert_int_equal(login(db, "alice", "old pw"), USERS_HASHED);
	assert_int_equal(login(db, "alice", "old pw"), USERS_CACHED);
	assert_int_equal(login(db, "alice", "old pw "), USERS_BAD);
	assert_int_equal(login(db, "nobody", "old pw"), USERS_BAD);

	/* The admin sets a new password: the old one fails at once. */
	write_users(dir, "alice", h2, path, sizeof(path));
	assert_int_equal(login(db, "alice", "old pw"), USERS_BAD);
	assert_int_equal(login(db, "alice", "new pw"), USERS_HASHED);
	assert_int_equal(login(db, "alice", "new pw"), USERS_CACHED);

	/* alice removed (bob in her place): denied at once. */
	write_users(dir, "bob", h2, path, sizeof(path));
	assert_int_equal(login(db, "alice", "new pw"), USERS_BAD);
	/* And re-added with the same hash: argon2id again, not the
	 * entry from before her removal. */
	write_users(dir, "alice", h2, path, sizeof(path));
	assert_int_equal(login(db, "alice", "new pw"), USERS_HASHED);
	userdb_close(db);

	/* password_cache_ttl = 0: every login pays argon2id. */
	db = userdb_open(path, 0, &errs);
	assert_non_null(db);
	assert_int_equal(login(db, "alice", "new pw"), USERS_HASHED);
	assert_int_equal(login(db, "alice", "new pw"), USERS_HASHED);
	userdb_close(db);
	buf_free(&errs);
	assert_int_equal(fixture_rmtree(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hit_and_misses),
		cmocka_unit_test(test_ttl_expiry),
		cmocka_unit_test(test_lru_bound),
		cmocka_unit_test(test_hash_change_never_matches),
		cmocka_unit_test(test_retain),
		cmocka_unit_test(test_off_and_bad_names),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_store_uses_cache),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
