/*
 * test_start_users.c - the users a starting engine serves are the users it
 * checked (lib/engine.c engine_new, server/server.c server_new,
 * common/users.c userdb_open_checked).
 *
 * The daemon's start (main.c load_all) and the library's
 * (rftpd_server_new's config_build) check users.ini, then engine_new makes
 * the server, which reads the file again. A users.ini written in between
 * (an admin's script while the service starts) was served unchecked: a
 * user who requires TLS on a server with no [tls] cert, a home holding the
 * queue. Here the start's steps are driven in order, the file is swapped
 * between the check and engine_new, and the result is what the admin
 * would see: the start refused, naming the problem.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cli/daemon.h"
#include "common/config.h"
#include "common/users.h"
#include "common/users_source.h"
#include "lib/engine.h"
#include "server/server.h"
#include "fixture.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct start {
	char dir[PATH_MAX], home[PATH_MAX], users[PATH_MAX], ini[PATH_MAX];
	char hash[256];
	struct config *cfg;
};

static int
setup(void **state)
{
	struct start *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return -1;
	s->cfg = calloc(1, sizeof(*s->cfg));
	if (s->cfg == NULL || users_crypto_init() < 0 ||
	    users_hash_password("pw", s->hash, sizeof(s->hash)) != 0 ||
	    fixture_tmpdir("startusers", s->dir, sizeof(s->dir)) < 0) {
		free(s->cfg);
		free(s);
		return -1;
	}
	*state = s;
	return 0;
}

static int
teardown(void **state)
{
	struct start *s = *state;

	free(s->cfg);
	return fixture_drop(s, s->dir);
}

/* Writes users.ini as a script would: a new file renamed over it. */
static void
write_users(struct start *s, const char *extra)
{
	char text[2 * PATH_MAX + 512], tmp[PATH_MAX];

	snprintf(text, sizeof(text), "[alice]\npassword = %s\nhome = %s\n%s",
	    s->hash, s->home, extra);
	fixture_write_file(s->dir, "users.ini.new", text, tmp, sizeof(tmp));
	assert_int_equal(rename(tmp, s->users), 0);
}

/* What main.c load_all does before daemon_run: 0 if the start goes on. */
static int
checked_start(struct start *s)
{
	struct user_set *set;
	struct buf errs;
	int rc;

	buf_init(&errs, 64 * 1024);
	assert_int_equal(config_load(s->ini, s->cfg, &errs), 0);
	assert_int_equal(engine_check_config(s->cfg, &errs), 0);
	set = users_source_load(s->cfg, &errs);
	assert_non_null(set);
	rc = engine_check_users(s->cfg, set, &errs);
	users_set_free(set);
	buf_free(&errs);
	return rc;
}

static void
make_files(struct start *s)
{
	char text[PATH_MAX + 512];

	fixture_join(s->home, sizeof(s->home), s->dir, "home");
	assert_int_equal(mkdir(s->home, 0700), 0);
	fixture_join(s->users, sizeof(s->users), s->dir, "users.ini");
	write_users(s, "");
	/* No [tls] cert: a user who requires TLS could never log in. */
	snprintf(text, sizeof(text),
	    "[server]\nlisten = 127.0.0.1:0\nusers_file = %s\n", s->users);
	fixture_write_file(
	    s->dir, "relayftpd.ini", text, s->ini, sizeof(s->ini));
}

static void
test_users_changed_after_the_check_are_checked(void **state)
{
	struct start *s = *state;
	struct engine *e;
	struct user u;
	char err[1024] = "";

	make_files(s);
	assert_int_equal(checked_start(s), 0);
	/* Between the check and the server's own read. */
	write_users(s, "require_login_tls = on\n");
	e = engine_new(s->cfg, NULL, err, sizeof(err));
	if (e != NULL) {
		/* What was served, for the failure's message. */
		int tls = -2;

		if (userdb_lookup(
		        server_users(engine_server(e)), "alice", &u) == 0)
			tls = u.require_login_tls;
		engine_free(e);
		fail_msg("the start served a users.ini it never checked "
		         "(alice require_login_tls = %d, no [tls] cert)",
		    tls);
	}
	assert_non_null(strstr(err, "requires TLS"));
	assert_non_null(strstr(err, s->users));
}

/* The check that refused the start's set still guards each reload. */
static void
test_reload_after_a_checked_start_is_checked(void **state)
{
	struct start *s = *state;
	struct engine *e;
	struct user u;
	char err[1024] = "";

	make_files(s);
	assert_int_equal(checked_start(s), 0);
	e = engine_new(s->cfg, NULL, err, sizeof(err));
	assert_non_null(e);
	write_users(s, "require_login_tls = on\n");
	assert_int_equal(server_reload(engine_server(e)), -1);
	assert_int_equal(
	    userdb_lookup(server_users(engine_server(e)), "alice", &u), 0);
	assert_int_equal(u.require_login_tls, -1);
	engine_free(e);
}

/* The lines of text that hold needle. */
static int
count_lines(const char *text, const char *needle)
{
	int n = 0;

	while (*text != '\0') {
		size_t len = strcspn(text, "\n");
		char line[4096];

		if (len < sizeof(line)) {
			memcpy(line, text, len);
			line[len] = '\0';
			if (strstr(line, needle) != NULL)
				n++;
		}
		text += len;
		if (*text == '\n')
			text++;
	}
	return n;
}

/* The daemon's start with no log_file, the file swapped as above: stderr
 * says each problem once and ends as the start's check does (main.c
 * cmd_run: "not started: fix the lines above"); the problem was printed
 * twice (the server's log line and daemon_run's), with no such end. */
static void
test_daemon_says_the_swapped_users_once(void **state)
{
	struct start *s = *state;
	char out[PATH_MAX], text[16384];
	int fd, saved;
	ssize_t got;

	make_files(s);
	assert_int_equal(checked_start(s), 0);
	write_users(s, "require_login_tls = on\n");
	fixture_join(out, sizeof(out), s->dir, "stderr");
	fd = open(out, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(2);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	/* Fails before serving: the server refuses the users it read. */
	assert_int_equal(daemon_run(s->cfg), 1);
	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	got = pread(fd, text, sizeof(text) - 1, 0);
	close(fd);
	assert_true(got > 0);
	text[got] = '\0';
	if (count_lines(text, "requires TLS") != 1 ||
	    count_lines(text, "not started: fix the lines above") != 1)
		fail_msg("stderr of the start:\n%s", text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_users_changed_after_the_check_are_checked, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_reload_after_a_checked_start_is_checked, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_daemon_says_the_swapped_users_once, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
