/*
 * test_config_entries.c - the config and the users given as entries in
 * memory (what the library's config builder records) instead of files:
 * inifile_feed (common/inifile.h), config_load_entries (common/config.h),
 * users_set_from_entries and userdb_open_set (common/users.h), and
 * users_crypto_init run once per process from several threads.
 *
 * Each test runs in its own folder (fixture.h), made the current working
 * directory: relative paths in entries resolve against the cwd, so the same
 * lines written to a file in that folder must give the same config. The
 * tests compare entries with files line for line (the config structs
 * whole, the error messages with the file name swapped for the builder's).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/inifile.h"
#include "common/users.h"
#include "fixture.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The name the builder passes for its "file". */
#define NAME "rftpd_config"

struct entries_fixture {
	struct config_fixture *cf; /* folder, errors, the entries' config */
	struct config *file_cfg;   /* the same lines loaded from a file */
	struct buf file_errs;
	char old_cwd[PATH_MAX];
};

static int
setup(void **state)
{
	struct entries_fixture *f = calloc(1, sizeof(*f));
	void *cf = NULL;

	if (f == NULL)
		return -1;
	*state = f;
	buf_init(&f->file_errs, 64 * 1024);
	f->file_cfg = calloc(1, sizeof(*f->file_cfg));
	if (f->file_cfg == NULL ||
	    getcwd(f->old_cwd, sizeof(f->old_cwd)) == NULL)
		return -1;
	if (config_fixture_setup(&cf, "cfgentries", 0) != 0) {
		f->cf = cf;
		return -1;
	}
	f->cf = cf;
	return chdir(f->cf->dir);
}

static int
teardown(void **state)
{
	struct entries_fixture *f = *state;
	void *cf = f->cf;
	int rc = 0;

	if (f->old_cwd[0] != '\0' && chdir(f->old_cwd) != 0)
		rc = -1;
	if (cf != NULL && config_fixture_teardown(&cf) != 0)
		rc = -1;
	buf_free(&f->file_errs);
	free(f->file_cfg);
	free(f);
	return rc;
}

/*
 * Writes e[0..n) as an INI file, a "[section]" line before each change of
 * section, and sets each entry's line to its key's line in that file (so
 * entries and file name the same lines). Returns the text (caller frees).
 */
static char *
entries_to_file(struct inifile_entry *e, size_t n)
{
	struct buf text;
	const char *prev = NULL;
	int line = 0;
	char *out;

	buf_init(&text, 64 * 1024);
	for (size_t i = 0; i < n; i++) {
		if (prev == NULL || strcmp(prev, e[i].section) != 0) {
			buf_printf(&text, "[%s]\n", e[i].section);
			line++;
		}
		prev = e[i].section;
		buf_printf(&text, "%s = %s\n", e[i].key, e[i].value);
		e[i].line = ++line;
	}
	out = strdup(buf_str(&text));
	buf_free(&text);
	assert_non_null(out);
	return out;
}

/* Loads e from entries into f->cf->cfg (errors in f->cf->errs) and from a
 * file of the same lines into f->file_cfg (errors in f->file_errs, with
 * the file's path replaced by NAME). Returns config_load_entries' result;
 * fails the test if config_load's differs. */
static int
load_both(struct entries_fixture *f, struct inifile_entry *e, size_t n)
{
	char *text = entries_to_file(e, n);
	char path[PATH_MAX];
	int rc_entries, rc_file;

	fixture_write_file(
	    f->cf->dir, "relayftpd.ini", text, path, sizeof(path));
	free(text);
	buf_reset(&f->file_errs);
	rc_file = config_load(path, f->file_cfg, &f->file_errs);
	buf_reset(&f->cf->errs);
	rc_entries = config_load_entries(NAME, e, n, f->cf->cfg, &f->cf->errs);
	assert_int_equal(rc_entries, rc_file);
	/* The file's messages as the builder's: PATH: becomes NAME: */
	{
		struct buf swapped;
		const char *s = buf_str(&f->file_errs);
		size_t plen = strlen(path);

		buf_init(&swapped, 64 * 1024);
		while (*s != '\0') {
			if (strncmp(s, path, plen) == 0 && s[plen] == ':') {
				buf_adds(&swapped, NAME);
				s += plen;
			} else {
				buf_add(&swapped, s, 1);
				s++;
			}
		}
		buf_reset(&f->file_errs);
		buf_adds(&f->file_errs, buf_str(&swapped));
		buf_free(&swapped);
	}
	return rc_entries;
}

/* Zeroes the bytes after the string in s[size]: a field written twice (a
 * default, then a shorter value) keeps bytes of the first after its NUL. */
static void
clear_tail(char *s, size_t size)
{
	size_t n = strnlen(s, size);

	memset(s + n, 0, size - n);
}

/* --- inifile_feed ---------------------------------------------------------- */

struct call_log {
	struct buf b;
};

static void
record(void *ctx, int lineno, const char *section, const char *key,
    const char *value)
{
	struct call_log *l = ctx;

	if (key == NULL)
		buf_printf(&l->b, "%d [%s]%s\n", lineno, section,
		    value == NULL ? "" : " VALUE NOT NULL");
	else
		buf_printf(
		    &l->b, "%d %s.%s=<%s>\n", lineno, section, key, value);
}

/* Headers before the first entry and at each change of section (also back
 * to an earlier one), with the entry's line; values untouched: blanks,
 * ';' and '#' are data here, not comments. */
static void
test_feed_calls(void **state)
{
	static const struct inifile_entry e[] = {
		{ "server", "listen", "127.0.0.1:0", 1 },
		{ "server", "max_clients", " 5 ; not a comment ", 2 },
		{ "target:x", "url", "ftp://h/#frag", 3 },
		{ "server", "anonymous", "", 7 },
		{ NULL, NULL, NULL, 9 },
	};
	struct call_log l;

	(void)state;
	buf_init(&l.b, 4096);
	assert_int_equal(inifile_feed(e, 5, record, &l), 0);
	assert_string_equal(buf_str(&l.b),
	    "1 [server]\n"
	    "1 server.listen=<127.0.0.1:0>\n"
	    "2 server.max_clients=< 5 ; not a comment >\n"
	    "3 [target:x]\n"
	    "3 target:x.url=<ftp://h/#frag>\n"
	    "7 [server]\n"
	    "7 server.anonymous=<>\n"
	    "9 []\n"
	    "9 .=<>\n");
	buf_reset(&l.b);
	assert_int_equal(inifile_feed(e, 0, record, &l), 0);
	assert_string_equal(buf_str(&l.b), "");
	buf_free(&l.b);
}

/* --- config_load_entries --------------------------------------------------- */

/* listen, [mirror] with a relative queue, a [target:x] with a relative
 * password_file, [tls] off and [admin] on: the config is byte for byte the
 * file's but for its path and the target's line (a header's line in a file,
 * the first entry's line here). */
static void
test_entries_same_config_as_file(void **state)
{
	struct entries_fixture *f = *state;
	struct inifile_entry e[] = {
		{ "server", "listen", "127.0.0.1:2121, [::1]:0", 0 },
		{ "server", "max_clients", "7", 0 },
		{ "server", "xferlog", "logs/xfer.log", 0 },
		{ "server", "users_file", "u.ini", 0 },
		{ "mirror", "queue", "q/queue.db", 0 },
		{ "mirror", "retry_max", "60", 0 },
		{ "target:x", "url", "ftp://mirror.example:2100/in", 0 },
		{ "target:x", "user", "up \"load\"", 0 },
		{ "target:x", "password_file", "secret.txt", 0 },
		{ "target:x", "include", "*.txt, -a b", 0 },
		{ "target:x", "propagate_deletes", "on", 0 },
		{ "admin", "listen", "127.0.0.1:0", 0 },
		{ "admin", "max_connections", "5", 0 },
	};
	size_t n = sizeof(e) / sizeof(e[0]);
	struct config *c = f->cf->cfg, *fc = f->file_cfg;
	const struct target_config *t;
	char want[PATH_MAX + 32];

	fixture_write_file(f->cf->dir, "secret.txt", "pa ss\n", NULL, 0);
	if (load_both(f, e, n) != 0)
		fail_msg("entries refused:\n%s", buf_str(&f->cf->errs));
	assert_string_equal(buf_str(&f->cf->errs), "");
	assert_string_equal(c->path, NAME);
	assert_string_equal(c->dir, f->cf->dir);
	assert_int_equal(c->nlisten, 2);
	assert_string_equal(c->listen[1].text, "[::1]:0");
	assert_int_equal(c->max_clients, 7);
	snprintf(want, sizeof(want), "%s/logs/xfer.log", f->cf->dir);
	assert_string_equal(c->xferlog, want);
	snprintf(want, sizeof(want), "%s/u.ini", f->cf->dir);
	assert_string_equal(c->users_file, want);
	snprintf(want, sizeof(want), "%s/q/queue.db", f->cf->dir);
	assert_string_equal(c->mirror.queue, want);
	assert_int_equal(c->mirror.retry_max, 60);
	assert_int_equal(c->mirror.ntargets, 1);
	t = config_target(c, "x");
	assert_non_null(t);
	assert_string_equal(t->url, "ftp://mirror.example:2100/in");
	assert_string_equal(t->user, "up \"load\"");
	assert_string_equal(t->password, "pa ss");
	assert_string_equal(t->include, "*.txt, -a b");
	assert_int_equal(t->propagate_deletes, 1);
	assert_int_equal(t->line, e[6].line);
	assert_int_equal(c->admin.enabled, 1);
	assert_string_equal(c->admin.listen.text, "127.0.0.1:0");
	assert_int_equal(c->admin.max_connections, 5);

	/* Everything else too, with the two known differences lined up. */
	assert_int_equal(fc->mirror.targets[0].line, e[6].line - 1);
	fc->mirror.targets[0].line = t->line;
	memcpy(fc->path, c->path, sizeof(fc->path));
	clear_tail(fc->dir, sizeof(fc->dir));
	clear_tail(c->dir, sizeof(c->dir));
	clear_tail(fc->users_file, sizeof(fc->users_file));
	clear_tail(c->users_file, sizeof(c->users_file));
	assert_memory_equal(c, fc, sizeof(*c));
}

/* Without a users_file entry the builder's config has no users file (a
 * file's is users.ini beside it); the default queue is in the cwd. */
static void
test_entries_defaults(void **state)
{
	struct entries_fixture *f = *state;
	struct inifile_entry e[] = {
		{ "server", "max_clients", "3", 0 },
	};
	char want[PATH_MAX + 32];

	assert_int_equal(load_both(f, e, 1), 0);
	assert_string_equal(f->cf->cfg->users_file, "");
	snprintf(want, sizeof(want), "%s/users.ini", f->cf->dir);
	assert_string_equal(f->file_cfg->users_file, want);
	snprintf(want, sizeof(want), "%s/relayftpd-queue.db", f->cf->dir);
	assert_string_equal(f->cf->cfg->mirror.queue, want);

	/* no entries at all: the defaults, valid */
	buf_reset(&f->cf->errs);
	assert_int_equal(
	    config_load_entries(NAME, NULL, 0, f->cf->cfg, &f->cf->errs), 0);
	assert_string_equal(buf_str(&f->cf->errs), "");
	assert_string_equal(f->cf->cfg->users_file, "");
	assert_int_equal(f->cf->cfg->nlisten, 1);
}

/* Each problem reads "NAME:LINE: key 'K': reason" with the entry's line,
 * word for word what the same line in a file says. */
static void
test_entries_errors(void **state)
{
	struct entries_fixture *f = *state;
	struct inifile_entry unknown[] = {
		{ "server", "max_clients", "3", 0 },
		{ "server", "bogus_key", "1", 0 },
	};
	struct inifile_entry bad[] = {
		{ "server", "listen", "127.0.0.1:0", 0 },
		{ "server", "max_clients", "0", 0 },
		{ "mirror", "retry_initial", "1O", 0 },
	};
	struct inifile_entry section[] = {
		{ "srever", "listen", "127.0.0.1:0", 0 },
	};
	struct inifile_entry cross[] = {
		{ "mirror", "retry_initial", "50", 0 },
		{ "mirror", "retry_max", "10", 0 },
		{ "tls", "require_login_tls", "on", 0 },
		{ "admin", "listen", "192.0.2.1:8080", 0 },
	};

	assert_int_equal(load_both(f, unknown, 2), -1);
	assert_string_equal(buf_str(&f->cf->errs),
	    NAME ":3: key 'bogus_key': unknown key in [server]\n");
	assert_string_equal(buf_str(&f->cf->errs), buf_str(&f->file_errs));

	assert_int_equal(load_both(f, bad, 3), -1);
	assert_string_equal(buf_str(&f->cf->errs),
	    NAME ":3: key 'max_clients': out of range (got '0')\n" NAME
	         ":5: key 'retry_initial': expected a whole number (got "
	         "'1O')\n");
	assert_string_equal(buf_str(&f->cf->errs), buf_str(&f->file_errs));

	assert_int_equal(load_both(f, section, 1), -1);
	fixture_expect_error_at(&f->cf->errs, NAME, 2, "listen");
	fixture_expect_text(&f->cf->errs, "unknown section [srever]");
	assert_string_equal(buf_str(&f->cf->errs), buf_str(&f->file_errs));

	/* the rules checked once all keys are in, shared with files */
	assert_int_equal(load_both(f, cross, 4), -1);
	fixture_expect_error_at(&f->cf->errs, NAME, 3, "retry_max");
	fixture_expect_error_at(&f->cf->errs, NAME, 5, "cert");
	fixture_expect_error_at(&f->cf->errs, NAME, 7, "listen");
	fixture_expect_text(&f->cf->errs, "not a loopback address");
	assert_string_equal(buf_str(&f->cf->errs), buf_str(&f->file_errs));
}

/* A target without url is named at its first entry's line (a file names
 * its header's); other problems of targets at their entry's line. */
static void
test_entries_target_errors(void **state)
{
	struct entries_fixture *f = *state;
	struct inifile_entry e[] = {
		{ "server", "max_clients", "3", 11 },
		{ "target:x", "user", "u", 12 },
		{ "target:x", "verify", "maybe", 13 },
		{ "target:bad name", "url", "ftp://h/", 14 },
		{ "target:y", "url", "gopher://h/", 15 },
	};

	buf_reset(&f->cf->errs);
	assert_int_equal(
	    config_load_entries(NAME, e, 5, f->cf->cfg, &f->cf->errs), -1);
	fixture_expect_text(
	    &f->cf->errs, NAME ":12: target [target:x] has no url\n");
	fixture_expect_error_at(&f->cf->errs, NAME, 13, "verify");
	fixture_expect_text(
	    &f->cf->errs, NAME ":14: invalid target name [target:bad name]");
	fixture_expect_error_at(&f->cf->errs, NAME, 15, "url");
	assert_null(strstr(buf_str(&f->cf->errs), ":11:"));
}

/* A name that does not fit cfg->path is refused, not cut. */
static void
test_entries_long_name(void **state)
{
	struct entries_fixture *f = *state;
	char *name = malloc(PATH_MAX + 1);

	assert_non_null(name);
	memset(name, 'n', PATH_MAX);
	name[PATH_MAX] = '\0';
	buf_reset(&f->cf->errs);
	assert_int_equal(
	    config_load_entries(name, NULL, 0, f->cf->cfg, &f->cf->errs), -1);
	fixture_expect_text(&f->cf->errs, "config name too long");
	free(name);
}

/* --- users from entries ---------------------------------------------------- */

/* A whole argon2id string (users.c refuses a cut or damaged one). */
#define HASH                                                     \
	"$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$" \
	"aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"

static void
test_users_entries_valid(void **state)
{
	struct entries_fixture *f = *state;
	const struct inifile_entry e[] = {
		{ "alice", "password", HASH, 1 },
		{ "alice", "home", "homes/alice", 2 },
		{ "alice", "permissions", "read, write", 3 },
		{ "alice", "quota_bytes", "10M", 4 },
		{ "alice", "mirror", "a, b", 5 },
		{ "anonymous", "home", "/srv/pub", 6 },
	};
	struct user_set *set;
	struct user got, *u = &got;
	char want[PATH_MAX + 32];

	buf_reset(&f->cf->errs);
	set = users_set_from_entries(NAME, e, 6, &f->cf->errs);
	if (set == NULL)
		fail_msg("users refused:\n%s", buf_str(&f->cf->errs));
	assert_string_equal(buf_str(&f->cf->errs), "");
	assert_int_equal(users_set_count(set), 2);
	users_set_get(set, 0, u);
	assert_string_equal(u->name, "alice");
	assert_string_equal(u->hash, HASH);
	snprintf(want, sizeof(want), "%s/homes/alice", f->cf->dir);
	assert_string_equal(u->home, want);
	assert_int_equal(u->perms, PERM_READ | PERM_WRITE);
	assert_int_equal(u->quota_bytes, 10ULL * 1024 * 1024);
	assert_string_equal(u->mirror, "a, b");
	assert_int_equal(u->line, 1);
	users_set_get(set, 1, u);
	assert_string_equal(u->name, USERS_ANON_SECTION);
	assert_string_equal(u->home, "/srv/pub");
	assert_int_equal(u->perms, PERM_RO);
	users_set_free(set);

	/* no entries: a valid set of no users */
	set = users_set_from_entries(NAME, NULL, 0, &f->cf->errs);
	assert_non_null(set);
	assert_int_equal(users_set_count(set), 0);
	assert_string_equal(buf_str(&f->cf->errs), "");
	users_set_free(set);
}

static void
test_users_entries_errors(void **state)
{
	struct entries_fixture *f = *state;
	const struct inifile_entry e[] = {
		{ "alice", "password", HASH, 4 },
		{ "alice", "home", "/srv/a", 5 },
		{ "bob", "password", HASH, 8 },
		{ "bob", "permissions", "rw", 9 },
		{ "carol", "home", "/srv/c", 10 },
		{ "carol", "password", "plain", 11 },
		{ "carol", "quota_bytes", "lots", 12 },
		{ "bad name", "home", "/srv/d", 13 },
		{ "dave", "home", "/srv/e", 14 },
		{ "dave", "password",
		    "$argon2id$v=19$m=65536,t=2,p=1$C1XusTb1A", 15 },
	};
	struct user_set *set;

	buf_reset(&f->cf->errs);
	set = users_set_from_entries(NAME, e, 10, &f->cf->errs);
	assert_null(set);
	fixture_expect_text(&f->cf->errs, NAME ":8: user [bob] has no home\n");
	fixture_expect_error_at(&f->cf->errs, NAME, 11, "password");
	fixture_expect_text(&f->cf->errs, "must be an argon2id hash");
	fixture_expect_error_at(&f->cf->errs, NAME, 12, "quota_bytes");
	fixture_expect_text(
	    &f->cf->errs, NAME ":13: invalid user name [bad name]");
	/* A cut hash no password would ever match. */
	fixture_expect_error_at(&f->cf->errs, NAME, 15, "password");
	fixture_expect_text(&f->cf->errs, "not a whole argon2id hash");
	/* nothing about alice, nor about bob's password */
	assert_null(strstr(buf_str(&f->cf->errs), ":4:"));
	assert_null(strstr(buf_str(&f->cf->errs), "[bob] has no password"));
}

/* --- userdb_open_set and users_crypto_init --------------------------------- */

struct init_arg {
	pthread_barrier_t *start;
	int rc;
};

static void *
init_main(void *p)
{
	struct init_arg *a = p;

	pthread_barrier_wait(a->start);
	a->rc = users_crypto_init();
	return NULL;
}

/* First in the run: the first call of the process races three others;
 * all four, and two more calls after, get 0, and the dummy hash an unknown
 * user is checked against is usable. */
static void
test_crypto_init_threads(void **state)
{
	enum {
		NTHREADS = 4
	};
	pthread_barrier_t start;
	pthread_t tid[NTHREADS];
	struct init_arg args[NTHREADS];

	(void)state;
	assert_int_equal(pthread_barrier_init(&start, NULL, NTHREADS), 0);
	for (int i = 0; i < NTHREADS; i++) {
		args[i].start = &start;
		args[i].rc = 99;
		assert_int_equal(
		    pthread_create(&tid[i], NULL, init_main, &args[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++) {
		assert_int_equal(pthread_join(tid[i], NULL), 0);
		assert_int_equal(args[i].rc, 0);
	}
	pthread_barrier_destroy(&start);
	assert_int_equal(users_crypto_init(), 0);
	assert_int_equal(users_crypto_init(), 0);
	assert_int_equal(users_verify(NULL, "anything", -1), 0);
}

static void
test_userdb_open_set(void **state)
{
	struct entries_fixture *f = *state;
	char hash[256];
	struct inifile_entry e[] = {
		{ "alice", "password", hash, 1 },
		{ "alice", "home", "/srv/alice", 2 },
	};
	struct user_set *set;
	struct userdb *db;
	struct user u;

	assert_int_equal(users_crypto_init(), 0);
	assert_int_equal(
	    users_hash_password("s3cret \"pw\"", hash, sizeof(hash)), 0);
	buf_reset(&f->cf->errs);
	set = users_set_from_entries(NAME, e, 2, &f->cf->errs);
	assert_non_null(set);
	db = userdb_open_set(set, 60, &f->cf->errs);
	assert_non_null(db);

	assert_int_equal(userdb_lookup(db, "alice", &u), 0);
	assert_string_equal(u.home, "/srv/alice");
	assert_string_equal(u.hash, hash);
	assert_int_equal(userdb_lookup(db, "bob", &u), -1);
	assert_int_equal(
	    userdb_verify(db, "alice", NULL, "s3cret \"pw\"", -1), USERS_BAD);
	assert_int_equal(userdb_lookup(db, "alice", &u), 0);
	assert_int_equal(
	    userdb_verify(db, "alice", &u, "wrong", -1), USERS_BAD);
	assert_int_equal(
	    userdb_verify(db, "alice", &u, "s3cret \"pw\"", -1), USERS_HASHED);
	assert_int_equal(
	    userdb_verify(db, "alice", &u, "s3cret \"pw\"", -1), USERS_CACHED);

	/* no file behind it: a reload keeps the set */
	assert_int_equal(userdb_reload(db), 0);
	assert_int_equal(userdb_lookup(db, "alice", &u), 0);
	assert_string_equal(buf_str(&f->cf->errs), "");
	userdb_close(db);

	/* an empty set serves nobody, without errors */
	set = users_set_from_entries(NAME, NULL, 0, &f->cf->errs);
	db = userdb_open_set(set, 0, &f->cf->errs);
	assert_non_null(db);
	assert_int_equal(userdb_lookup(db, "alice", &u), -1);
	assert_int_equal(userdb_verify(db, "alice", NULL, "x", -1), USERS_BAD);
	userdb_close(db);

	/* no set: refused with a message */
	assert_null(userdb_open_set(NULL, 0, &f->cf->errs));
	fixture_expect_text(&f->cf->errs, "no set of users");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		/* first: the first users_crypto_init of the process */
		cmocka_unit_test(test_crypto_init_threads),
		cmocka_unit_test(test_feed_calls),
		cmocka_unit_test_setup_teardown(
		    test_entries_same_config_as_file, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_entries_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_entries_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_entries_target_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_entries_long_name, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_users_entries_valid, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_users_entries_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_userdb_open_set, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
