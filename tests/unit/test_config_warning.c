/*
 * test_config_warning.c - a configuration warning of a session is not on
 * the budget of hostile input (server/session.c, cmd_auth.c).
 *
 * A clear-text USER of a name users.ini says needs TLS, on a server with
 * no [tls] cert, is a configuration error the admin must see ("[tls] has
 * no cert: this user cannot log in"). It was on the budget of the warnings
 * anyone can cause (a stranger's connection to a passive port), so a
 * stranger knocking on passive ports left it only counted. The daemon's
 * start and reload refuse such a users.ini, so the line needs a server
 * made without those checks: here server_new with no users_check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/config.h"
#include "common/log.h"
#include "common/users.h"
#include "server/server.h"
#include "fixture.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* What the server logged, counted by the route's callback. */
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned foreign_lines;   /* strangers' warnings */
static unsigned nocert_warnings; /* the configuration warning, at LOG_WARN */

static void
on_line(void *ctx, enum log_level level, const char *line)
{
	(void)ctx;
	pthread_mutex_lock(&seen_lock);
	if (strstr(line, "passive data connection from a foreign address") !=
	    NULL)
		foreign_lines++;
	if (level == LOG_WARN && strstr(line, "[tls] has no cert") != NULL)
		nocert_warnings++;
	pthread_mutex_unlock(&seen_lock);
}

static unsigned
seen(unsigned *counter)
{
	unsigned n;

	pthread_mutex_lock(&seen_lock);
	n = *counter;
	pthread_mutex_unlock(&seen_lock);
	return n;
}

static uint64_t
now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static int
connect_from(const char *source, int port)
{
	struct sockaddr_in src, dst;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	/* No assert: the knocking threads call it too. */
	if (fd < 0)
		return -1;
	memset(&src, 0, sizeof(src));
	src.sin_family = AF_INET;
	if (inet_pton(AF_INET, source, &src.sin_addr) != 1 ||
	    bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
		close(fd);
		return -1;
	}
	memset(&dst, 0, sizeof(dst));
	dst.sin_family = AF_INET;
	dst.sin_port = htons((uint16_t)port);
	dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One reply's code (its last line's); its text into text. -1 at EOF. */
static int
reply(int fd, char *text, size_t textlen)
{
	size_t n = 0;

	for (;;) {
		char c;

		if (recv(fd, &c, 1, 0) != 1)
			return -1;
		if (n + 1 < textlen)
			text[n++] = c;
		text[n] = '\0';
		if (c != '\n')
			continue;
		if (n >= 4 && text[3] == ' ')
			return atoi(text);
		n = 0;
	}
}

static int
cmd(int fd, const char *line, char *text, size_t textlen)
{
	size_t len = strlen(line);

	if (send(fd, line, len, MSG_NOSIGNAL) != (ssize_t)len)
		return -1;
	return reply(fd, text, textlen);
}

/* Connections of 127.0.0.2 to a session's passive port: fewer than its
 * accept queue (pasvpool.c's 16), whose overflow had the knocks wait for
 * a SYN resent a second later, and the budget refill meanwhile. */
#define KNOCKS 12
/* Loops of knock_loop at once: one left gaps (a new session's login)
 * in which the budget refilled a line, and the warning came through. */
#define KNOCKERS 3

struct knocker {
	int port;
	atomic_int stop;
	atomic_int done; /* a loop ended */
	atomic_uint sessions;
};

/* One anonymous session with a passive port that 127.0.0.2 connects to
 * KNOCKS times (a warning each); returns once the session took them
 * all. 0, or -1. */
static int
knocked_session(int port)
{
	char text[512];
	int fd = connect_from("127.0.0.1", port);
	unsigned h[6];
	char *p;
	int rc = -1;

	if (fd < 0 || reply(fd, text, sizeof(text)) != 220 ||
	    cmd(fd, "USER anonymous\r\n", text, sizeof(text)) != 331 ||
	    cmd(fd, "PASS me@example.org\r\n", text, sizeof(text)) != 230 ||
	    cmd(fd, "PASV\r\n", text, sizeof(text)) != 227 ||
	    (p = strchr(text, '(')) == NULL ||
	    sscanf(p, "(%u,%u,%u,%u,%u,%u)", &h[0], &h[1], &h[2], &h[3], &h[4],
	        &h[5]) != 6)
		goto out;
	for (int i = 0; i < KNOCKS; i++) {
		int s = connect_from("127.0.0.2", (int)(h[4] * 256 + h[5]));

		if (s >= 0)
			close(s);
	}
	/* NOOP's reply comes after the session took them all. */
	if (cmd(fd, "NOOP\r\n", text, sizeof(text)) == 200)
		rc = 0;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* knocked_session after knocked_session until stop or 20 s. */
static void *
knock_loop(void *arg)
{
	struct knocker *k = arg;
	uint64_t t0 = now_ms();

	while (!atomic_load(&k->stop) && now_ms() - t0 < 20000 &&
	    atomic_load(&k->sessions) < 5000) {
		if (knocked_session(k->port) < 0)
			break;
		atomic_fetch_add(&k->sessions, 1);
	}
	atomic_store(&k->done, 1);
	return NULL;
}

static void
test_stranger_flood_does_not_hide_the_config_warning(void **state)
{
	char dir[PATH_MAX], home[PATH_MAX], users[PATH_MAX], ini[PATH_MAX];
	char text[3 * PATH_MAX + 512], hash[256], err[512];
	struct config *cfg = calloc(1, sizeof(*cfg));
	struct log_route route = { on_line, NULL, LOG_INFO };
	struct sockaddr_storage ss;
	struct server *srv;
	struct buf errs;
	struct knocker k;
	pthread_t t[KNOCKERS];
	int implicit, fd, going;
	uint64_t t0;

	(void)state;
	assert_non_null(cfg);
	assert_int_equal(users_crypto_init(), 0);
	assert_int_equal(users_hash_password("tls-pw", hash, sizeof(hash)), 0);
	assert_int_equal(fixture_tmpdir("nocert", dir, sizeof(dir)), 0);
	fixture_join(home, sizeof(home), dir, "home");
	assert_int_equal(mkdir(home, 0700), 0);
	snprintf(text, sizeof(text),
	    "[anonymous]\nhome = %s\n"
	    "[tls-user]\npassword = %s\nhome = %s\nrequire_login_tls = on\n",
	    home, hash, home);
	fixture_write_file(dir, "users.ini", text, users, sizeof(users));
	snprintf(text, sizeof(text),
	    "[server]\nlisten = 127.0.0.1:0\nusers_file = %s\n"
	    "anonymous = on\nlog_level = info\nmax_clients = 200\n"
	    "max_clients_per_ip = 200\n",
	    users);
	fixture_write_file(dir, "relayftpd.ini", text, ini, sizeof(ini));
	buf_init(&errs, 4096);
	assert_int_equal(config_load(ini, cfg, &errs), 0);
	buf_free(&errs);

	log_route_bind(&route);
	srv = server_new(cfg, NULL, err, sizeof(err));
	assert_non_null(srv);
	assert_int_equal(server_start(srv, err, sizeof(err)), 0);
	assert_int_equal(server_address(srv, 0, &ss, &implicit), 0);
	memset(&k, 0, sizeof(k));
	k.port = ntohs(((struct sockaddr_in *)&ss)->sin_port);

	for (int i = 0; i < KNOCKERS; i++)
		assert_int_equal(
		    pthread_create(&t[i], NULL, knock_loop, &k), 0);
	/* The strangers' budget (200 at once) spent, the knocking going on. */
	t0 = now_ms();
	while (seen(&foreign_lines) < 200 && now_ms() - t0 < 15000)
		usleep(10000);
	fd = connect_from("127.0.0.1", k.port);
	assert_true(fd >= 0);
	assert_int_equal(reply(fd, text, sizeof(text)), 220);
	/* The line a gap between the loops' sessions let the budget refill
	 * taken too, just before the USER (a line every 20 ms). */
	assert_int_equal(knocked_session(k.port), 0);
	assert_int_equal(cmd(fd, "USER tls-user\r\n", text, sizeof(text)), 530);
	/* Its line is written before its reply is sent. */
	going = !atomic_load(&k.done);
	atomic_store(&k.stop, 1);
	for (int i = 0; i < KNOCKERS; i++)
		pthread_join(t[i], NULL);
	close(fd);
	server_stop(srv);
	server_free(srv);
	log_route_bind(NULL);
	fixture_rmtree(dir);
	free(cfg);

	assert_true(going);
	assert_true(seen(&foreign_lines) >= 200);
	assert_int_equal(seen(&nocert_warnings), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_stranger_flood_does_not_hide_the_config_warning),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
