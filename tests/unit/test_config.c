/*
 * test_config.c - relayftpd.ini (common/config.h), users.ini (common/users.h)
 * and the checked number parsers they share (common/numparse.h).
 *
 * Every test writes its files into its own folder (fixture.h), removed in
 * the teardown. Covers: a valid config and the defaults; errors naming
 * "FILE:LINE: key 'NAME'" for unknown keys, unknown sections and a bad value
 * of every typed key; [tls] keys and the rule that requiring TLS needs a
 * cert; relative paths resolved against the file's folder;
 * listen parsing (IPv6 in brackets, port 0); lines longer than inih's
 * 200-byte limit loading whole; users.ini validation (argon2id only,
 * required keys, quotas with suffixes, permissions, mirror lists, per-user
 * TLS overrides, section names); and parse_u64/parse_size/parse_port_range/parse_bool/
 * parse_list_next including the UINT64_MAX boundaries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/buf.h"
#include "fixture.h"
#include "common/config.h"
#include "common/numparse.h"
#include "common/users.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A whole argon2id string (its salt and hash made up): users.c refuses one
 * libsodium cannot read; the password itself is checked at login. */
#define HASH                                                     \
	"$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$" \
	"aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"

/* Room for a config built around two PATH_MAX values. */
#define TEXT_MAX (3 * PATH_MAX)

static int
setup(void **state)
{
	return config_fixture_setup(state, "config", 0);
}

static unsigned
port_of(const struct listen_addr *la)
{
	if (la->ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&la->ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&la->ss)->sin_port);
}

/* --- relayftpd.ini ------------------------------------------------------- */

static void
test_config_valid(void **state)
{
	struct config_fixture *f = *state;
	struct config *c = f->cfg;
	char path[PATH_MAX], want[PATH_MAX + 32];

	if (config_fixture_load(f,
	        "; relayftpd test config\n"
	        "[server]\n"
	        "listen = 127.0.0.1:2121, [::1]:2122\n"
	        "users_file = /etc/relayftpd/users.ini\n"
	        "max_clients = 10\n"
	        "max_clients_per_ip = 2\n"
	        "passive_ports = 50000-50100\n"
	        "passive_address = 192.0.2.1\n"
	        "idle_timeout = 60\n"
	        "data_timeout = 20\n"
	        "xferlog = xfer.log\n"
	        "anonymous = yes\n"
	        "login_fail_delay_ms = 0\n"
	        "password_cache_ttl = 0\n"
	        "fsync_uploads = off\n"
	        "log_level = debug\n",
	        path, sizeof(path)) != 0)
		fail_msg("valid config refused:\n%s", buf_str(&f->errs));
	assert_string_equal(buf_str(&f->errs), "");
	assert_string_equal(c->path, path);
	assert_string_equal(c->dir, f->dir);
	assert_int_equal(c->nlisten, 2);
	assert_string_equal(c->listen[0].text, "127.0.0.1:2121");
	assert_int_equal(c->listen[0].ss.ss_family, AF_INET);
	assert_int_equal(port_of(&c->listen[0]), 2121);
	assert_string_equal(c->listen[1].text, "[::1]:2122");
	assert_int_equal(c->listen[1].ss.ss_family, AF_INET6);
	assert_int_equal(port_of(&c->listen[1]), 2122);
	assert_string_equal(c->users_file, "/etc/relayftpd/users.ini");
	assert_int_equal(c->max_clients, 10);
	assert_int_equal(c->max_clients_per_ip, 2);
	assert_int_equal(c->pasv_lo, 50000);
	assert_int_equal(c->pasv_hi, 50100);
	assert_string_equal(c->passive_address, "192.0.2.1");
	assert_int_equal(c->idle_timeout, 60);
	assert_int_equal(c->data_timeout, 20);
	snprintf(want, sizeof(want), "%s/xfer.log", f->dir);
	assert_string_equal(c->xferlog, want);
	assert_int_equal(c->anonymous, 1);
	assert_int_equal(c->login_fail_delay_ms, 0);
	assert_int_equal(c->password_cache_ttl, 0);
	assert_int_equal(c->fsync_uploads, 0);
	assert_int_equal(c->log_level, LOG_DEBUG);
}

static void
test_config_defaults(void **state)
{
	struct config_fixture *f = *state;
	struct config *c = f->cfg;
	char path[PATH_MAX], want[PATH_MAX + 32];

	assert_int_equal(
	    config_fixture_load(f, "[server]\n", path, sizeof(path)), 0);
	assert_int_equal(c->nlisten, 1);
	assert_string_equal(c->listen[0].text, "127.0.0.1:2121");
	snprintf(want, sizeof(want), "%s/users.ini", f->dir);
	assert_string_equal(c->users_file, want);
	assert_int_equal(c->max_clients, RFTP_DEFAULT_MAX_CLIENTS);
	assert_int_equal(c->max_clients_per_ip, RFTP_DEFAULT_MAX_PER_IP);
	assert_int_equal(c->idle_timeout, RFTP_DEFAULT_IDLE_TIMEOUT);
	assert_int_equal(c->data_timeout, RFTP_DEFAULT_DATA_TIMEOUT);
	assert_int_equal(
	    c->login_fail_delay_ms, RFTP_DEFAULT_LOGIN_FAIL_DELAY_MS);
	assert_int_equal(c->password_cache_ttl, RFTP_DEFAULT_PWCACHE_TTL);
	assert_int_equal(c->pasv_lo, 0);
	assert_int_equal(c->pasv_hi, 0);
	assert_string_equal(c->xferlog, "");
	assert_int_equal(c->anonymous, 0);
	assert_int_equal(c->log_level, LOG_INFO);

	/* Empty is the default, as the man page says (it was refused). */
	assert_int_equal(
	    config_fixture_load(f, "[server]\npassive_ports = 50000-50100\n",
	        path, sizeof(path)),
	    0);
	assert_int_equal(config_fixture_load(f, "[server]\npassive_ports =\n",
	                     path, sizeof(path)),
	    0);
	assert_int_equal(c->pasv_lo, 0);
	assert_int_equal(c->pasv_hi, 0);

	/* an empty file is valid too; a missing one is not */
	assert_int_equal(config_fixture_load(f, "", path, sizeof(path)), 0);
	buf_reset(&f->errs);
	snprintf(want, sizeof(want), "%s/absent.ini", f->dir);
	assert_int_equal(config_load(want, c, &f->errs), -1);
	fixture_expect_text(&f->errs, "absent.ini");
}

static void
test_config_unknown_key(void **state)
{
	struct config_fixture *f = *state;
	char path[PATH_MAX];

	assert_int_equal(config_fixture_load(f,
	                     "[server]\n"
	                     "max_clients = 5\n"
	                     "\n"
	                     "; a comment\n"
	                     "bogus_key = 1\n"
	                     "max_clients_per_ip = 2\n",
	                     path, sizeof(path)),
	    -1);
	fixture_expect_error_at(&f->errs, path, 5, "bogus_key");
	fixture_expect_text(&f->errs, "unknown key");
	/* one line per problem: nothing about the good keys */
	assert_null(strstr(buf_str(&f->errs), "max_clients"));
}

/* Each bad value is reported at its line with its key, and the file is
 * refused. */
static void
test_config_bad_values(void **state)
{
	static const struct {
		const char *line, *key;
	} cases[] = {
		{ "max_clients = 0", "max_clients" },
		{ "max_clients = 100001", "max_clients" },
		{ "max_clients = -1", "max_clients" },
		{ "max_clients = 10x", "max_clients" },
		{ "max_clients = 18446744073709551616", "max_clients" },
		{ "max_clients =", "max_clients" },
		{ "max_clients_per_ip = 0", "max_clients_per_ip" },
		{ "passive_ports = 10-5", "passive_ports" },
		{ "passive_ports = 0-5", "passive_ports" },
		{ "passive_ports = 50000-70000", "passive_ports" },
		{ "passive_ports = many", "passive_ports" },
		{ "listen = garbage", "listen" },
		{ "listen = 127.0.0.1", "listen" },
		{ "listen = 127.0.0.1:", "listen" },
		{ "listen = 127.0.0.1:65536", "listen" },
		{ "listen = 300.0.0.1:21", "listen" },
		{ "listen = ::1:21", "listen" },
		{ "listen = [::1]21", "listen" },
		{ "listen = localhost:21", "listen" },
		{ "listen = 127.0.0.1:21, junk", "listen" },
		{ "listen =", "listen" },
		{ "anonymous = maybe", "anonymous" },
		{ "anonymous = 2", "anonymous" },
		{ "fsync_uploads = sometimes", "fsync_uploads" },
		{ "log_level = verbose", "log_level" },
		{ "log_level =", "log_level" },
		{ "passive_address = ::1", "passive_address" },
		{ "passive_address = 10.0.0", "passive_address" },
		{ "idle_timeout = 0", "idle_timeout" },
		{ "idle_timeout = 86401", "idle_timeout" },
		{ "data_timeout = 3601", "data_timeout" },
		{ "login_fail_delay_ms = 60001", "login_fail_delay_ms" },
		{ "password_cache_ttl = 86401", "password_cache_ttl" },
		{ "password_cache_ttl = -1", "password_cache_ttl" },
		{ "password_cache_ttl = 5m", "password_cache_ttl" },
		{ "umask = 22a", "umask" },
		{ "umask = 0800", "umask" },
		{ "umask = 01000", "umask" },
		{ "umask = -1", "umask" },
		{ "run_as = bad user", "run_as" },
		{ "run_as = ../root", "run_as" },
		{ "login_timeout = 0", "login_timeout" },
		{ "data_min_rate = fast", "data_min_rate" },
	};
	struct config_fixture *f = *state;
	char path[PATH_MAX], text[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text),
		    "[server]\nmax_clients = 7\n%s\nidle_timeout = 9\n",
		    cases[i].line);
		if (config_fixture_load(f, text, path, sizeof(path)) != -1)
			fail_msg("'%s' accepted", cases[i].line);
		fixture_expect_error_at(&f->errs, path, 3, cases[i].key);
	}
}

/* Every problem is reported, not just the first. */
static void
test_config_all_errors_reported(void **state)
{
	struct config_fixture *f = *state;
	char path[PATH_MAX];

	assert_int_equal(config_fixture_load(f,
	                     "[server]\n"
	                     "max_clients = 0\n"
	                     "anonymous = maybe\n"
	                     "log_level = loud\n",
	                     path, sizeof(path)),
	    -1);
	fixture_expect_error_at(&f->errs, path, 2, "max_clients");
	fixture_expect_error_at(&f->errs, path, 3, "anonymous");
	fixture_expect_error_at(&f->errs, path, 4, "log_level");
}

/* [tls]: the keys, their defaults, and the rules that need a cert. */
static void
test_config_tls(void **state)
{
	struct config_fixture *f = *state;
	char path[PATH_MAX], text[TEXT_MAX], cert[PATH_MAX + 16];

	/* No [tls]: FTPS off, session reuse required by default. */
	fixture_write_file(f->dir, "a.ini",
	    "[server]\numask = 027\nrun_as = ftp-user\n", path, sizeof(path));
	assert_int_equal(config_load(path, f->cfg, &f->errs), 0);
	assert_string_equal(f->cfg->tls.cert, "");
	assert_int_equal(f->cfg->tls.require_session_reuse, 1);
	assert_string_equal(f->cfg->tls.min_version, "1.2");
	assert_int_equal(f->cfg->umask, 027);
	assert_string_equal(f->cfg->run_as, "ftp-user");

	/* Everything set; relative paths from the config's folder. */
	fixture_write_file(f->dir, "b.ini",
	    "[server]\n"
	    "[tls]\n"
	    "cert = c.pem\n"
	    "key = /etc/k.pem\n"
	    "min_version = 1.3\n"
	    "ciphers = HIGH:!aNULL\n"
	    "ciphersuites = TLS_AES_256_GCM_SHA384\n"
	    "require_login_tls = on\n"
	    "require_data_tls = yes\n"
	    "require_session_reuse = off\n"
	    "implicit_listen = 127.0.0.1:990, [::1]:990\n",
	    path, sizeof(path));
	buf_reset(&f->errs);
	assert_int_equal(config_load(path, f->cfg, &f->errs), 0);
	snprintf(cert, sizeof(cert), "%s/c.pem", f->dir);
	assert_string_equal(f->cfg->tls.cert, cert);
	assert_string_equal(f->cfg->tls.key, "/etc/k.pem");
	assert_string_equal(f->cfg->tls.min_version, "1.3");
	assert_string_equal(f->cfg->tls.ciphers, "HIGH:!aNULL");
	assert_int_equal(f->cfg->tls.require_login_tls, 1);
	assert_int_equal(f->cfg->tls.require_data_tls, 1);
	assert_int_equal(f->cfg->tls.require_session_reuse, 0);
	assert_int_equal(f->cfg->tls.nimplicit, 2);

	/* Bad values name their line and key. */
	fixture_write_file(f->dir, "c.ini",
	    "[tls]\n"
	    "cert = c.pem\n"
	    "min_version = 1.1\n"
	    "implicit_listen = nowhere\n"
	    "require_data_tls = maybe\n"
	    "tls_frobnicate = 1\n",
	    path, sizeof(path));
	buf_reset(&f->errs);
	assert_int_equal(config_load(path, f->cfg, &f->errs), -1);
	fixture_expect_error_at(&f->errs, path, 3, "min_version");
	fixture_expect_error_at(&f->errs, path, 4, "implicit_listen");
	fixture_expect_error_at(&f->errs, path, 5, "require_data_tls");
	fixture_expect_error_at(&f->errs, path, 6, "tls_frobnicate");

	/* Requiring TLS without a certificate is an error at the section. */
	snprintf(text, sizeof(text),
	    "[server]\nlisten = 127.0.0.1:21\n[tls]\nrequire_login_tls = on\n");
	fixture_write_file(f->dir, "d.ini", text, path, sizeof(path));
	buf_reset(&f->errs);
	assert_int_equal(config_load(path, f->cfg, &f->errs), -1);
	fixture_expect_error_at(&f->errs, path, 4, "cert");
}

static void
test_config_unknown_section(void **state)
{
	struct config_fixture *f = *state;
	char path[PATH_MAX];

	assert_int_equal(config_fixture_load(f,
	                     "[server]\n"
	                     "max_clients = 5\n"
	                     "[mirror]\n"
	                     "target = x\n",
	                     path, sizeof(path)),
	    -1);
	fixture_expect_error_at(&f->errs, path, 4, "target");
	fixture_expect_text(&f->errs, "[mirror]");

	/* keys before any section belong to no known section */
	assert_int_equal(config_fixture_load(f, "max_clients = 5\n[server]\n",
	                     path, sizeof(path)),
	    -1);
	fixture_expect_error_at(&f->errs, path, 1, "max_clients");
}

static void
test_config_syntax_error(void **state)
{
	struct config_fixture *f = *state;
	char path[PATH_MAX];

	assert_int_equal(config_fixture_load(f,
	                     "[server]\n"
	                     "max_clients = 5\n"
	                     "this line has no equals sign\n",
	                     path, sizeof(path)),
	    -1);
	fixture_expect_error_at(&f->errs, path, 3, NULL);
}

/*
 * A config in a folder so deep that "DIR/users.ini" and
 * "DIR/relayftpd-queue.db" pass PATH_MAX: the defaults are refused, never
 * cut to a shorter path ("DIR/users.in") that would name another file.
 * An explicit users_file and queue make the same config valid.
 */
static void
test_config_default_paths_too_long(void **state)
{
	struct config_fixture *f = *state;
	char deep[PATH_MAX], name[200], path[PATH_MAX];
	size_t len = strlen(f->dir);

	memset(name, 'd', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_int_equal(fmt_fixed(deep, sizeof(deep), "%s", f->dir), 0);
	/* Grow to 4090 bytes (PATH_MAX 4096): "DIR/c" still fits. */
	while (len < 4090) {
		size_t part = 4090 - len - 1 < sizeof(name) - 1 ?
		    4090 - len - 1 :
		    sizeof(name) - 1;

		deep[len++] = '/';
		memcpy(deep + len, name, part);
		len += part;
		deep[len] = '\0';
		assert_int_equal(mkdir(deep, 0700), 0);
	}
	assert_int_equal(strlen(deep), 4090);
	fixture_write_file(deep, "c", "[server]\n", path, sizeof(path));
	buf_reset(&f->errs);
	assert_int_equal(config_load(path, f->cfg, &f->errs), -1);
	fixture_expect_text(&f->errs, "too long for the default users.ini");
	fixture_expect_text(
	    &f->errs, "too long for the default relayftpd-queue.db");
	assert_string_equal(f->cfg->users_file, "");

	fixture_write_file(deep, "c",
	    "[server]\nusers_file = /etc/u.ini\n[mirror]\nqueue = /q.db\n",
	    path, sizeof(path));
	buf_reset(&f->errs);
	assert_int_equal(config_load(path, f->cfg, &f->errs), 0);
	assert_string_equal(buf_str(&f->errs), "");
	assert_string_equal(f->cfg->users_file, "/etc/u.ini");
	assert_string_equal(f->cfg->mirror.queue, "/q.db");
}

static void
test_config_relative_paths(void **state)
{
	struct config_fixture *f = *state;
	struct config *c = f->cfg;
	char path[PATH_MAX], want[PATH_MAX + 32], sub[PATH_MAX + 32],
	    via[PATH_MAX + 64];

	assert_int_equal(config_fixture_load(f,
	                     "[server]\n"
	                     "users_file = users.ini\n"
	                     "xferlog = logs/xfer.log\n",
	                     path, sizeof(path)),
	    0);
	snprintf(want, sizeof(want), "%s/users.ini", f->dir);
	assert_string_equal(c->users_file, want);
	snprintf(want, sizeof(want), "%s/logs/xfer.log", f->dir);
	assert_string_equal(c->xferlog, want);

	/* loaded through a roundabout path: the base is the real folder */
	snprintf(sub, sizeof(sub), "%s/sub", f->dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(via, sizeof(via), "%s/sub/../relayftpd.ini", f->dir);
	buf_reset(&f->errs);
	assert_int_equal(config_load(via, c, &f->errs), 0);
	assert_string_equal(c->path, path);
	assert_string_equal(c->dir, f->dir);
	snprintf(want, sizeof(want), "%s/users.ini", f->dir);
	assert_string_equal(c->users_file, want);

	/* an empty xferlog turns the log off */
	assert_int_equal(
	    config_fixture_load(f, "[server]\nxferlog =\n", path, sizeof(path)),
	    0);
	assert_string_equal(c->xferlog, "");

	/* config_resolve_path itself */
	assert_int_equal(
	    config_resolve_path("/etc/r", "u.ini", want, sizeof(want)), 0);
	assert_string_equal(want, "/etc/r/u.ini");
	assert_int_equal(
	    config_resolve_path("/etc/r", "/abs/u.ini", want, sizeof(want)), 0);
	assert_string_equal(want, "/abs/u.ini");
	assert_int_equal(config_resolve_path("/etc/r", "u.ini", want, 12), -1);
}

static void
test_config_parse_listen(void **state)
{
	static const char *const bad[] = {
		"",
		"127.0.0.1",
		"127.0.0.1:",
		":21",
		"127.0.0.1:21x",
		"127.0.0.1:-1",
		"127.0.0.1:65536",
		"[::1]",
		"[::1]:",
		"[::1:21",
		"[::1]21",
		"[]:21",
		"[127.0.0.1]:21",
		"::1:21",
		"host.example:21",
		"[::1]:2121:",
	};
	struct listen_addr la;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&la.ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&la.ss;
	char ip[INET6_ADDRSTRLEN], longtext[128];

	(void)state;
	assert_int_equal(config_parse_listen("[::1]:21", &la), 0);
	assert_int_equal(la.ss.ss_family, AF_INET6);
	assert_int_equal(la.len, sizeof(struct sockaddr_in6));
	assert_int_equal(ntohs(s6->sin6_port), 21);
	assert_non_null(inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip)));
	assert_string_equal(ip, "::1");
	assert_string_equal(la.text, "[::1]:21");

	assert_int_equal(config_parse_listen("[::]:2121", &la), 0);
	assert_int_equal(la.ss.ss_family, AF_INET6);
	assert_int_equal(ntohs(s6->sin6_port), 2121);

	/* port 0: the kernel picks one (tests rely on it) */
	assert_int_equal(config_parse_listen("127.0.0.1:0", &la), 0);
	assert_int_equal(la.ss.ss_family, AF_INET);
	assert_int_equal(la.len, sizeof(struct sockaddr_in));
	assert_int_equal(ntohs(s4->sin_port), 0);
	assert_int_equal(ntohl(s4->sin_addr.s_addr), 0x7f000001);
	assert_string_equal(la.text, "127.0.0.1:0");

	assert_int_equal(config_parse_listen("0.0.0.0:65535", &la), 0);
	assert_int_equal(ntohs(s4->sin_port), 65535);
	assert_int_equal(s4->sin_addr.s_addr, 0);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (config_parse_listen(bad[i], &la) == 0)
			fail_msg("listen '%s' accepted", bad[i]);
	/* longer than the text field */
	memset(longtext, '0', sizeof(longtext));
	memcpy(longtext, "127.0.0.1:", 10);
	longtext[sizeof(longtext) - 1] = '\0';
	assert_int_equal(config_parse_listen(longtext, &la), -1);
}

static void
test_config_listen_list(void **state)
{
	struct config_fixture *f = *state;
	struct config *c = f->cfg;
	char path[PATH_MAX];

	assert_int_equal(
	    config_fixture_load(f, "[server]\nlisten = [::1]:21, 127.0.0.1:0\n",
	        path, sizeof(path)),
	    0);
	assert_int_equal(c->nlisten, 2);
	assert_int_equal(c->listen[0].ss.ss_family, AF_INET6);
	assert_int_equal(port_of(&c->listen[0]), 21);
	assert_int_equal(c->listen[1].ss.ss_family, AF_INET);
	assert_int_equal(port_of(&c->listen[1]), 0);

	/* a second listen line is refused, not a silent replacement */
	assert_int_equal(config_fixture_load(f,
	                     "[server]\nlisten = 127.0.0.1:1, 127.0.0.1:2\n"
	                     "listen = 127.0.0.1:3\n",
	                     path, sizeof(path)),
	    -1);

	/* at most RFTP_LISTEN_MAX (8) */
	assert_int_equal(config_fixture_load(f,
	                     "[server]\nlisten = 127.0.0.1:1 127.0.0.1:2 "
	                     "127.0.0.1:3 127.0.0.1:4 127.0.0.1:5 127.0.0.1:6 "
	                     "127.0.0.1:7 127.0.0.1:8 127.0.0.1:9\n",
	                     path, sizeof(path)),
	    -1);
	fixture_expect_error_at(&f->errs, path, 2, "listen");
}

/* Builds "/DIR/" + 3 long components + "/x.log": about 800 bytes. */
static void
long_path(struct config_fixture *f, char *out, size_t outlen)
{
	char comp[241];
	int n;

	memset(comp, 'p', sizeof(comp) - 1);
	comp[sizeof(comp) - 1] = '\0';
	comp[0] = 'A';
	comp[sizeof(comp) - 2] = 'Z';
	n = snprintf(
	    out, outlen, "%s/%s/%s1/%s2/x.log", f->dir, comp, comp, comp);
	assert_true(n > 0 && (size_t)n < outlen);
	assert_true(strlen(out) > 700);
}

/* inih's 200-byte line limit must not split a long value: it loads whole,
 * and the line numbers of what follows stay right. */
static void
test_config_long_lines(void **state)
{
	struct config_fixture *f = *state;
	struct config *c = f->cfg;
	char path[PATH_MAX], lp[PATH_MAX], rel[PATH_MAX + 32];
	char *text = malloc(TEXT_MAX);
	static const char *const v6[] = {
		"[2001:0db8:0000:0000:0000:0000:0000:0001]:2121",
		"[2001:0db8:0000:0000:0000:0000:0000:0002]:2122",
		"[2001:0db8:0000:0000:0000:0000:0000:0003]:2123",
		"[2001:0db8:0000:0000:0000:0000:0000:0004]:2124",
		"[2001:0db8:0000:0000:0000:0000:0000:0005]:2125",
		"[2001:0db8:0000:0000:0000:0000:0000:0006]:2126",
		"[2001:0db8:0000:0000:0000:0000:0000:0007]:2127",
		"[2001:0db8:0000:0000:0000:0000:0000:0008]:2128",
	};

	assert_non_null(text);
	long_path(f, lp, sizeof(lp));
	snprintf(text, TEXT_MAX,
	    "[server]\n"
	    "xferlog = %s\n"
	    "listen = %s, %s, %s, %s, %s, %s, %s, %s\n"
	    "max_clients = 3\n",
	    lp, v6[0], v6[1], v6[2], v6[3], v6[4], v6[5], v6[6], v6[7]);
	if (config_fixture_load(f, text, path, sizeof(path)) != 0)
		fail_msg("long lines refused:\n%s", buf_str(&f->errs));
	assert_string_equal(c->xferlog, lp);
	assert_int_equal(c->nlisten, 8);
	for (unsigned i = 0; i < 8; i++) {
		assert_string_equal(c->listen[i].text, v6[i]);
		assert_int_equal(port_of(&c->listen[i]), 2121 + i);
	}
	assert_int_equal(c->max_clients, 3);

	/* a long relative path resolves against the folder, whole */
	snprintf(text, TEXT_MAX, "[server]\nxferlog = %s\n",
	    lp + strlen(f->dir) + 1);
	assert_int_equal(config_fixture_load(f, text, path, sizeof(path)), 0);
	snprintf(rel, sizeof(rel), "%s", lp);
	assert_string_equal(c->xferlog, rel);

	/* an error after a long line names the right line */
	snprintf(text, TEXT_MAX,
	    "[server]\n"
	    "xferlog = %s\n"
	    "max_clients = 1\n"
	    "xferlog = %s\n"
	    "nope = 1\n",
	    lp, lp);
	assert_int_equal(config_fixture_load(f, text, path, sizeof(path)), -1);
	fixture_expect_error_at(&f->errs, path, 5, "nope");

	/* a long bad value is reported at its line too */
	snprintf(text, TEXT_MAX, "[server]\n\nlisten = %s, %s, %s, %s, junk\n",
	    v6[0], v6[1], v6[2], v6[3]);
	assert_int_equal(config_fixture_load(f, text, path, sizeof(path)), -1);
	fixture_expect_error_at(&f->errs, path, 3, "listen");

	/* a long line with no key at all is an error at its line */
	memset(text, 'x', 300);
	snprintf(text + 300, TEXT_MAX - 300, "\n");
	memcpy(text, "[server]\nmax_clients = 2\n", 25);
	assert_int_equal(config_fixture_load(f, text, path, sizeof(path)), -1);
	fixture_expect_error_at(&f->errs, path, 3, NULL);
	free(text);
}

/* A comment line longer than inih's limit (an admin's note, a commented-out
 * URL) is still a comment. */
static void
test_config_long_comment_line(void **state)
{
	struct config_fixture *f = *state;
	struct config *c = f->cfg;
	char path[PATH_MAX], text[1024], note[400];

	memset(note, '-', sizeof(note) - 1);
	note[sizeof(note) - 1] = '\0';
	note[0] = ';';
	snprintf(text, sizeof(text), "[server]\n%s\nmax_clients = 4\n", note);
	if (config_fixture_load(f, text, path, sizeof(path)) != 0)
		fail_msg("long comment line refused:\n%s", buf_str(&f->errs));
	assert_int_equal(c->max_clients, 4);
	note[0] = '#';
	snprintf(text, sizeof(text), "[server]\n%s\nmax_clients = 5\n", note);
	if (config_fixture_load(f, text, path, sizeof(path)) != 0)
		fail_msg("long comment line refused:\n%s", buf_str(&f->errs));
	assert_int_equal(c->max_clients, 5);
}

/* An inline "; comment" is stripped whether the line is shorter or longer
 * than inih's limit: the same setting must not change meaning with its
 * length. */
static void
test_config_long_line_inline_comment(void **state)
{
	struct config_fixture *f = *state;
	struct config *c = f->cfg;
	char path[PATH_MAX], lp[PATH_MAX];
	char *text = malloc(TEXT_MAX);

	assert_non_null(text);
	assert_int_equal(config_fixture_load(f,
	                     "[server]\nxferlog = /var/log/x.log ; note\n",
	                     path, sizeof(path)),
	    0);
	assert_string_equal(c->xferlog, "/var/log/x.log");

	long_path(f, lp, sizeof(lp));
	snprintf(text, TEXT_MAX, "[server]\nxferlog = %s ; note\n", lp);
	assert_int_equal(config_fixture_load(f, text, path, sizeof(path)), 0);
	free(text);
	if (strcmp(c->xferlog, lp) != 0)
		fail_msg(
		    "long xferlog line loaded as '...%s' (%zu bytes), want "
		    "'...%s' (%zu bytes)",
		    c->xferlog + strlen(c->xferlog) - 16, strlen(c->xferlog),
		    lp + strlen(lp) - 16, strlen(lp));
}

/* --- users.ini ----------------------------------------------------------- */

static struct user_set *
load_users(
    struct config_fixture *f, const char *text, char *path, size_t pathlen)
{
	fixture_write_file(f->dir, "users.ini", text, path, pathlen);
	buf_reset(&f->errs);
	return users_set_load(path, &f->errs);
}

/* Loads text that must be valid and copies user name out of it. */
static void
lookup_user(struct config_fixture *f, const char *text, const char *name,
    struct user *u)
{
	char path[PATH_MAX];
	struct userdb *db;
	int rc;

	fixture_write_file(f->dir, "users.ini", text, path, sizeof(path));
	buf_reset(&f->errs);
	db = userdb_open(path, 0, &f->errs);
	if (db == NULL)
		fail_msg("users file refused:\n%s", buf_str(&f->errs));
	rc = userdb_lookup(db, name, u);
	userdb_close(db);
	if (rc != 0)
		fail_msg("user '%s' not found", name);
}

/* users text must be refused with an error at line about key. */
static void
expect_users_error(
    struct config_fixture *f, const char *text, int line, const char *key)
{
	char path[PATH_MAX];
	struct user_set *set = load_users(f, text, path, sizeof(path));

	if (set != NULL) {
		users_set_free(set);
		fail_msg("users file accepted:\n%s", text);
	}
	fixture_expect_error_at(&f->errs, path, line, key);
}

static void
test_users_valid(void **state)
{
	static const char text[] = "; users\n"
	                           "[alice]\n"
	                           "password = " HASH "\n"
	                           "home = /srv/ftp/alice\n"
	                           "quota_bytes = 10M\n"
	                           "quota_files = 100\n"
	                           "permissions = read, write\n"
	                           "max_sessions = 2\n"
	                           "mirror = a, b\n"
	                           "\n"
	                           "[bob.smith@example]\n"
	                           "password = " HASH "\n"
	                           "home = bob\n"
	                           "permissions = ro\n"
	                           "mirror = none\n"
	                           "\n"
	                           "[anonymous]\n"
	                           "home = /srv/ftp/pub\n"
	                           "permissions = ro\n";
	struct config_fixture *f = *state;
	struct user u;
	char path[PATH_MAX], want[PATH_MAX + 32];
	struct user_set *set = load_users(f, text, path, sizeof(path));

	if (set == NULL)
		fail_msg("valid users file refused:\n%s", buf_str(&f->errs));
	assert_int_equal(users_set_count(set), 3);
	assert_string_equal(buf_str(&f->errs), "");
	users_set_free(set);

	lookup_user(f, text, "alice", &u);
	assert_string_equal(u.name, "alice");
	assert_string_equal(u.hash, HASH);
	assert_string_equal(u.home, "/srv/ftp/alice");
	assert_int_equal(u.quota_bytes, 10ULL * 1024 * 1024);
	assert_int_equal(u.quota_files, 100);
	assert_int_equal(u.perms, PERM_READ | PERM_WRITE);
	assert_int_equal(u.max_sessions, 2);
	assert_string_equal(u.mirror, "a, b");

	/* relative home against the users file's folder; defaults */
	lookup_user(f, text, "bob.smith@example", &u);
	snprintf(want, sizeof(want), "%s/bob", f->dir);
	assert_string_equal(u.home, want);
	assert_int_equal(u.perms, PERM_RO);
	assert_string_equal(u.mirror, "none");
	assert_int_equal(u.quota_bytes, 0);
	assert_int_equal(u.quota_files, 0);
	assert_int_equal(u.max_sessions, 0);

	/* the anonymous section needs no password */
	lookup_user(f, text, USERS_ANON_SECTION, &u);
	assert_string_equal(u.hash, "");
	assert_string_equal(u.home, "/srv/ftp/pub");
}

static void
test_users_default_perms(void **state)
{
	struct config_fixture *f = *state;
	struct user u;

	lookup_user(
	    f, "[carol]\npassword = " HASH "\nhome = /h\n", "carol", &u);
	assert_int_equal(u.perms, PERM_RW);
	assert_string_equal(u.mirror, "");
}

/* Without a permissions key, users may do everything and the anonymous
 * section may only read. */
static void
test_users_default_perms_anonymous(void **state)
{
	struct config_fixture *f = *state;
	struct user u;
	char path[PATH_MAX];
	struct user_set *set;
	static const char text[] = "[anonymous]\nhome = /srv/pub\n"
	                           "[kay]\npassword = " HASH "\nhome = /h\n";

	lookup_user(f, text, USERS_ANON_SECTION, &u);
	assert_int_equal(u.perms, PERM_RO);
	lookup_user(f, text, "kay", &u);
	assert_int_equal(u.perms, PERM_RW);
	set = load_users(f, text, path, sizeof(path));
	assert_non_null(set);
	assert_true(users_set_has(set, USERS_ANON_SECTION));
	assert_true(users_set_has(set, "kay"));
	assert_false(users_set_has(set, "ka"));
	assert_false(users_set_has(set, "nobody"));
	users_set_free(set);
}

static void
test_users_password_rules(void **state)
{
	static const char *const refused[] = {
		"secret",
		"$argon2i$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA",
		"$2y$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
		"{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=",
		"argon2id$v=19",
		"$ARGON2ID$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA",
		/* Cut, or too short a salt and hash: no password would ever
		 * match, and the admin heard nothing (found from outside). */
		"$argon2id$v=19$m=65536,t=2,p=1$C1XusTb1A",
		"$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$",
		"$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA",
		"$argon2id$v=19$m=65536,t=2$c2FsdHNhbHRzYWx0c2FsdA$"
		"aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
	};
	struct config_fixture *f = *state;
	char text[512];

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		snprintf(text, sizeof(text),
		    "[dave]\nhome = /h\n\npassword = %s\n", refused[i]);
		expect_users_error(f, text, 4, "password");
		fixture_expect_text(&f->errs, "argon2id");
	}
}

static void
test_users_missing_keys(void **state)
{
	struct config_fixture *f = *state;

	/* reported at the section header */
	expect_users_error(f, "[erin]\nhome = /h\n", 1, NULL);
	fixture_expect_text(&f->errs, "[erin] has no password");
	expect_users_error(f, "[erin]\npassword = " HASH "\n", 1, NULL);
	fixture_expect_text(&f->errs, "[erin] has no home");
	expect_users_error(f, "[anonymous]\npermissions = ro\n", 1, NULL);
	fixture_expect_text(&f->errs, "[anonymous] has no home");
	expect_users_error(
	    f, "[erin]\npassword = " HASH "\nhome =\n", 3, "home");
	/* a second user's problem does not hide behind a good first one */
	expect_users_error(f,
	    "[ok]\npassword = " HASH "\nhome = /h\n"
	    "[frank]\nhome = /h\n",
	    4, NULL);
	fixture_expect_text(&f->errs, "[frank] has no password");
	/* a user with no keys at all is not silently dropped */
	expect_users_error(f, "[gina]\n; nothing yet\n", 1, NULL);
	fixture_expect_text(&f->errs, "[gina] has no password");
}

/* A second section of a user, or a key given twice, would merge or
 * override unseen: an appended "[alice]" took over alice's account with
 * the first section's permissions kept (found from outside). */
static void
test_users_twice_refused(void **state)
{
	struct config_fixture *f = *state;

	expect_users_error(f,
	    "[alice]\npassword = " HASH "\nhome = /a\npermissions = ro\n"
	    "[bob]\npassword = " HASH "\nhome = /b\n"
	    "[alice]\npassword = " HASH "\nhome = /evil\n",
	    8, NULL);
	fixture_expect_text(
	    &f->errs, "user [alice] again (its section is at line 1)");
	/* One error for the section, none for each of its keys. */
	assert_null(strstr(buf_str(&f->errs), "given twice"));
	expect_users_error(f,
	    "[alice]\npassword = " HASH "\nhome = /a\npermissions = ro\n"
	    "permissions = rw\n",
	    5, "permissions");
	fixture_expect_text(&f->errs, "given twice for [alice]");
	expect_users_error(f,
	    "[alice]\npassword = " HASH "\nhome = /a\nhome = /b\n", 4, "home");
}

/* Many users: each is found under its own name (the lookup is a hash
 * table, no longer a scan per section and per login). */
static void
test_users_many(void **state)
{
	struct config_fixture *f = *state;
	enum {
		N = 5000
	};
	struct buf text;
	char path[PATH_MAX], name[32];
	struct userdb *db;
	struct user u;

	buf_init(&text, 1024 * 1024);
	for (int i = 0; i < N; i++)
		assert_true(buf_printf(&text,
		                "[user%d]\npassword = " HASH
		                "\nhome = /h/%d\nquota_files = %d\n",
		                i, i, i) >= 0);
	fixture_write_file(
	    f->dir, "users.ini", buf_str(&text), path, sizeof(path));
	buf_free(&text);
	buf_reset(&f->errs);
	db = userdb_open(path, 0, &f->errs);
	if (db == NULL)
		fail_msg("users file refused:\n%s", buf_str(&f->errs));
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "user%d", i);
		assert_int_equal(userdb_lookup(db, name, &u), 0);
		assert_string_equal(u.name, name);
		assert_int_equal(u.quota_files, (uint64_t)i);
	}
	assert_int_equal(userdb_lookup(db, "user5000", &u), -1);
	assert_int_equal(userdb_lookup(db, "user", &u), -1);
	assert_int_equal(userdb_lookup(db, "", &u), -1);
	userdb_close(db);
}

static void
test_users_unknown_key(void **state)
{
	struct config_fixture *f = *state;

	expect_users_error(f,
	    "[gina]\npassword = " HASH "\nhome = /h\ncolour = blue\n", 4,
	    "colour");
	fixture_expect_text(&f->errs, "unknown key");
}

/* require_login_tls / require_data_tls: unset (-1) follows [tls]. */
static void
test_users_tls_overrides(void **state)
{
	struct config_fixture *f = *state;
	struct user u;
	static const char text[] = "[a]\npassword = " HASH "\nhome = /h\n"
	                           "require_login_tls = on\n"
	                           "require_data_tls = off\n"
	                           "[b]\npassword = " HASH "\nhome = /h\n";

	lookup_user(f, text, "a", &u);
	assert_int_equal(u.require_login_tls, 1);
	assert_int_equal(u.require_data_tls, 0);
	lookup_user(f, text, "b", &u);
	assert_int_equal(u.require_login_tls, -1);
	assert_int_equal(u.require_data_tls, -1);
	expect_users_error(f,
	    "[c]\npassword = " HASH "\nhome = /h\nrequire_data_tls = 2\n", 4,
	    "require_data_tls");
}

static void
test_users_quota(void **state)
{
	static const struct {
		const char *text;
		uint64_t bytes;
	} sizes[] = {
		{ "0", 0 },
		{ "1", 1 },
		{ "1K", 1024ULL },
		{ "1k", 1024ULL },
		{ "10M", 10ULL * 1024 * 1024 },
		{ "2G", 2ULL * 1024 * 1024 * 1024 },
		{ "3T", 3ULL << 40 },
		{ "123456789", 123456789ULL },
	};
	static const char *const bad[] = { "12X", "-1", "1.5G", "G", "1 K",
		"1KB", "", "18446744073709551616" };
	struct config_fixture *f = *state;
	struct user u;
	char text[512];

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(text, sizeof(text),
		    "[hank]\npassword = " HASH "\nhome = /h\n"
		    "quota_bytes = %s\nquota_files = 7\n",
		    sizes[i].text);
		lookup_user(f, text, "hank", &u);
		if (u.quota_bytes != sizes[i].bytes)
			fail_msg("quota_bytes = %s gave %llu", sizes[i].text,
			    (unsigned long long)u.quota_bytes);
		assert_int_equal(u.quota_files, 7);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text),
		    "[hank]\npassword = " HASH "\nhome = /h\n"
		    "quota_bytes = %s\n",
		    bad[i]);
		expect_users_error(f, text, 4, "quota_bytes");
	}
	/* quota_files is a count: no suffixes */
	expect_users_error(f,
	    "[hank]\npassword = " HASH "\nhome = /h\nquota_files = 1K\n", 4,
	    "quota_files");
	expect_users_error(f,
	    "[hank]\npassword = " HASH "\nhome = /h\nmax_sessions = 100001\n",
	    4, "max_sessions");
}

static void
test_users_permissions(void **state)
{
	static const struct {
		const char *text;
		unsigned perms;
	} good[] = {
		{ "ro", PERM_RO },
		{ "rw", PERM_RW },
		{ "read, write", PERM_READ | PERM_WRITE },
		{ "read write append", PERM_READ | PERM_WRITE | PERM_APPEND },
		{ "read,delete,rename", PERM_READ | PERM_DELETE | PERM_RENAME },
		{ "mkdir, rmdir", PERM_MKDIR | PERM_RMDIR },
		{ "read, write, append, delete, rename, mkdir, rmdir",
		    PERM_RW },
	};
	static const char *const bad[] = { "fly", "read, fly", "ro, write",
		"READ", "read;write", "readwrite" };
	struct config_fixture *f = *state;
	struct user u;
	char text[512];
	unsigned perms;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(users_parse_perms(good[i].text, &perms), 0);
		assert_int_equal(perms, good[i].perms);
		snprintf(text, sizeof(text),
		    "[ivy]\npassword = " HASH "\nhome = /h\npermissions = %s\n",
		    good[i].text);
		lookup_user(f, text, "ivy", &u);
		assert_int_equal(u.perms, good[i].perms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (users_parse_perms(bad[i], &perms) == 0)
			fail_msg("permissions '%s' accepted", bad[i]);
		snprintf(text, sizeof(text),
		    "[ivy]\npassword = " HASH "\nhome = /h\npermissions = %s\n",
		    bad[i]);
		expect_users_error(f, text, 4, "permissions");
	}
}

static void
test_users_mirror(void **state)
{
	static const char *const good[] = { "a, b", "none", "a",
		"backup-1 backup_2,eu.example@x" };
	static const char *const bad[] = { "bad name!", "a, none", "a/b",
		"caf\xc3\xa9", "" };
	struct config_fixture *f = *state;
	struct user u;
	char text[2048], list[1024];
	size_t len = 0;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text),
		    "[jo]\npassword = " HASH "\nhome = /h\nmirror = %s\n",
		    good[i]);
		lookup_user(f, text, "jo", &u);
		assert_string_equal(u.mirror, good[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text),
		    "[jo]\npassword = " HASH "\nhome = /h\nmirror = %s\n",
		    bad[i]);
		expect_users_error(f, text, 4, "mirror");
	}

	/* a list longer than inih's line limit loads intact, not split:
	 * 25 names of 14 bytes = 400 bytes */
	for (int i = 0; i < 25; i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len,
		    "%smirror-target%02d", i > 0 ? ", " : "", i);
	assert_true(len > 200 && len < sizeof(u.mirror));
	snprintf(text, sizeof(text),
	    "[jo]\npassword = " HASH "\nhome = /h\nmirror = %s\n", list);
	lookup_user(f, text, "jo", &u);
	assert_string_equal(u.mirror, list);

	/* more than RFTP_MIRROR_NAMES_MAX (32) names */
	len = 0;
	for (int i = 0; i < 33; i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len,
		    "%sm%02d", i > 0 ? "," : "", i);
	snprintf(text, sizeof(text),
	    "[jo]\npassword = " HASH "\nhome = /h\nmirror = %s\n", list);
	expect_users_error(f, text, 4, "mirror");
}

/* RFTP_USER_MAX (49) bytes: the longest section name inih keeps. */
#define NAME49 "uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu"

static void
test_users_section_names(void **state)
{
	static const char *const bad[] = { "bad user", "bad/user", "a:b",
		"caf\xc3\xa9", "" };
	struct config_fixture *f = *state;
	char text[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text),
		    "[%s]\npassword = " HASH "\nhome = /h\n", bad[i]);
		expect_users_error(f, text, 2, NULL);
		fixture_expect_text(&f->errs, "invalid user name");
	}
	/* keys before any section */
	expect_users_error(
	    f, "home = /h\n[ok]\npassword = " HASH "\n", 1, NULL);
}

/* RFTP_USER_MAX (49) bytes is the longest name: it must load under its
 * whole name, and one byte more must be refused, not cut short. */
static void
test_users_long_names(void **state)
{
	struct config_fixture *f = *state;
	struct user u;
	char text[512];

	assert_int_equal(strlen(NAME49), RFTP_USER_MAX);
	lookup_user(
	    f, "[" NAME49 "]\npassword = " HASH "\nhome = /h\n", NAME49, &u);
	assert_string_equal(u.name, NAME49);

	snprintf(text, sizeof(text), "[%sX]\npassword = " HASH "\nhome = /h\n",
	    NAME49);
	expect_users_error(f, text, 1, NULL);
	fixture_expect_text(&f->errs, "section name longer than 49 bytes");
}

/* Two users whose long names share a prefix stay two users: one must never
 * take the other's password or home. */
static void
test_users_long_names_distinct(void **state)
{
	struct config_fixture *f = *state;
	struct user u;
	char text[1024], path[PATH_MAX], a[RFTP_USER_MAX + 1],
	    b[RFTP_USER_MAX + 1];
	struct user_set *set;
	size_t count;

	snprintf(a, sizeof(a), "%.45sAAAA", NAME49);
	snprintf(b, sizeof(b), "%.45sBBBB", NAME49);
	snprintf(text, sizeof(text),
	    "[%s]\npassword = " HASH "\nhome = /home/a\n"
	    "[%s]\npassword = " HASH "\nhome = /home/b\n",
	    a, b);
	set = load_users(f, text, path, sizeof(path));
	if (set == NULL)
		fail_msg("refused:\n%s", buf_str(&f->errs));
	count = users_set_count(set);
	users_set_free(set);
	assert_int_equal(count, 2);
	lookup_user(f, text, a, &u);
	assert_string_equal(u.home, "/home/a");
	lookup_user(f, text, b, &u);
	assert_string_equal(u.home, "/home/b");
}

/* --- numparse ------------------------------------------------------------ */

static void
test_parse_u64(void **state)
{
	static const char *const bad[] = { "", "-1", "+1", " 1", "1 ", "0x10",
		"1.5", "1e3", "12a", "18446744073709551616",
		"99999999999999999999", "184467440737095516150" };
	uint64_t v = 42;

	(void)state;
	assert_int_equal(parse_u64("0", UINT64_MAX, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(parse_u64("000123", UINT64_MAX, &v), 0);
	assert_int_equal(v, 123);
	assert_int_equal(parse_u64("18446744073709551615", UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(parse_u64("18446744073709551614", UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX - 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 42;
		if (parse_u64(bad[i], UINT64_MAX, &v) == 0)
			fail_msg("parse_u64('%s') accepted", bad[i]);
		assert_int_equal(v, 42);
	}
	assert_int_equal(parse_u64(NULL, UINT64_MAX, &v), -1);

	/* max is inclusive */
	assert_int_equal(parse_u64("255", 255, &v), 0);
	assert_int_equal(v, 255);
	assert_int_equal(parse_u64("256", 255, &v), -1);
	assert_int_equal(parse_u64("65535", 65535, &v), 0);
	assert_int_equal(parse_u64("65536", 65535, &v), -1);
	assert_int_equal(
	    parse_u64("18446744073709551615", UINT64_MAX - 1, &v), -1);
	assert_int_equal(parse_u64("9223372036854775807", INT64_MAX, &v), 0);
	assert_int_equal(parse_u64("9223372036854775808", INT64_MAX, &v), -1);
}

/* A single digit above a small max (max < 9) must be refused too. */
static void
test_parse_u64_small_max(void **state)
{
	uint64_t v = 42;

	(void)state;
	assert_int_equal(parse_u64("2", 2, &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(parse_u64("0", 0, &v), 0);
	assert_int_equal(v, 0);
	for (uint64_t max = 0; max < 9; max++) {
		for (unsigned d = (unsigned)max + 1; d <= 9; d++) {
			char s[3] = { (char)('0' + d), '\0', '\0' };

			v = 42;
			if (parse_u64(s, max, &v) == 0)
				fail_msg("parse_u64('%s', max %llu) accepted "
				         "as %llu",
				    s, (unsigned long long)max,
				    (unsigned long long)v);
			/* with a leading zero as well */
			s[0] = '0';
			s[1] = (char)('0' + d);
			if (parse_u64(s, max, &v) == 0)
				fail_msg("parse_u64('%s', max %llu) accepted "
				         "as %llu",
				    s, (unsigned long long)max,
				    (unsigned long long)v);
		}
	}
}

static void
test_parse_size(void **state)
{
	static const struct {
		const char *s;
		uint64_t v;
	} good[] = {
		{ "0", 0 },
		{ "0K", 0 },
		{ "7", 7 },
		{ "1K", 1ULL << 10 },
		{ "1k", 1ULL << 10 },
		{ "10M", 10ULL << 20 },
		{ "10m", 10ULL << 20 },
		{ "2G", 2ULL << 30 },
		{ "2g", 2ULL << 30 },
		{ "1T", 1ULL << 40 },
		{ "18446744073709551615", UINT64_MAX },
		{ "18014398509481983K", 18014398509481983ULL << 10 },
		{ "17592186044415M", 17592186044415ULL << 20 },
		{ "17179869183G", 17179869183ULL << 30 },
		{ "16777215T", 16777215ULL << 40 },
	};
	static const char *const bad[] = { "", "K", "12X", "1KB", "1.5G", "-1K",
		"1 K", " 1K", "1KK", "18446744073709551616",
		"18014398509481984K", "17592186044416M", "17179869184G",
		"16777216T", "123456789012345678901234567890123" };
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (parse_size(good[i].s, &v) != 0)
			fail_msg("parse_size('%s') refused", good[i].s);
		if (v != good[i].v)
			fail_msg("parse_size('%s') = %llu", good[i].s,
			    (unsigned long long)v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse_size(bad[i], &v) == 0)
			fail_msg("parse_size('%s') accepted as %llu", bad[i],
			    (unsigned long long)v);
	assert_int_equal(parse_size(NULL, &v), -1);
}

static void
test_parse_port_range(void **state)
{
	static const char *const bad[] = { "", "0", "0-5", "10-5", "5-", "-5",
		"-", "65536", "65535-65536", "1-2-3", "a-b", " 1-2", "1 -2",
		"1- 2", "50000-", "99999999999999999999-1" };
	uint16_t lo = 0, hi = 0;

	(void)state;
	assert_int_equal(parse_port_range("50000-50100", &lo, &hi), 0);
	assert_int_equal(lo, 50000);
	assert_int_equal(hi, 50100);
	assert_int_equal(parse_port_range("21", &lo, &hi), 0);
	assert_int_equal(lo, 21);
	assert_int_equal(hi, 21);
	assert_int_equal(parse_port_range("1-65535", &lo, &hi), 0);
	assert_int_equal(lo, 1);
	assert_int_equal(hi, 65535);
	assert_int_equal(parse_port_range("7-7", &lo, &hi), 0);
	assert_int_equal(lo, 7);
	assert_int_equal(hi, 7);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse_port_range(bad[i], &lo, &hi) == 0)
			fail_msg("parse_port_range('%s') accepted", bad[i]);
}

static void
test_parse_bool(void **state)
{
	static const char *const yes[] = { "yes", "on", "true", "1", "YES",
		"On", "TRUE" };
	static const char *const no[] = { "no", "off", "false", "0", "NO",
		"Off", "False" };
	static const char *const bad[] = { "", "maybe", "2", "yess", " yes",
		"yes ", "y", "n", "00" };
	int b;

	(void)state;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		b = -1;
		assert_int_equal(parse_bool(yes[i], &b), 0);
		assert_int_equal(b, 1);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		b = -1;
		assert_int_equal(parse_bool(no[i], &b), 0);
		assert_int_equal(b, 0);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse_bool(bad[i], &b) == 0)
			fail_msg("parse_bool('%s') accepted", bad[i]);
}

static void
test_parse_list_next(void **state)
{
	const char *cur;
	char item[8];

	(void)state;
	cur = "a, b c";
	assert_int_equal(parse_list_next(&cur, item, sizeof(item)), 1);
	assert_string_equal(item, "a");
	assert_int_equal(parse_list_next(&cur, item, sizeof(item)), 1);
	assert_string_equal(item, "b");
	assert_int_equal(parse_list_next(&cur, item, sizeof(item)), 1);
	assert_string_equal(item, "c");
	assert_int_equal(parse_list_next(&cur, item, sizeof(item)), 0);
	assert_int_equal(parse_list_next(&cur, item, sizeof(item)), 0);

	cur = ",, \t one,,\ttwo , ,";
	assert_int_equal(parse_list_next(&cur, item, sizeof(item)), 1);
	assert_string_equal(item, "one");
	assert_int_equal(parse_list_next(&cur, item, sizeof(item)), 1);
	assert_string_equal(item, "two");
	assert_int_equal(parse_list_next(&cur, item, sizeof(item)), 0);

	cur = "";
	assert_int_equal(parse_list_next(&cur, item, sizeof(item)), 0);
	cur = " , \t";
	assert_int_equal(parse_list_next(&cur, item, sizeof(item)), 0);

	/* itemlen - 1 bytes fit, itemlen do not */
	cur = "1234567 x";
	assert_int_equal(parse_list_next(&cur, item, sizeof(item)), 1);
	assert_string_equal(item, "1234567");
	cur = "12345678 x";
	assert_int_equal(parse_list_next(&cur, item, sizeof(item)), -1);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, config_fixture_teardown)
	const struct CMUnitTest tests[] = {
		T(test_config_valid),
		T(test_config_defaults),
		T(test_config_unknown_key),
		T(test_config_bad_values),
		T(test_config_all_errors_reported),
		T(test_config_unknown_section),
		T(test_config_tls),
		T(test_config_syntax_error),
		T(test_config_relative_paths),
		T(test_config_default_paths_too_long),
		cmocka_unit_test(test_config_parse_listen),
		T(test_config_listen_list),
		T(test_config_long_lines),
		T(test_config_long_comment_line),
		T(test_config_long_line_inline_comment),
		T(test_users_valid),
		T(test_users_default_perms),
		T(test_users_default_perms_anonymous),
		T(test_users_password_rules),
		T(test_users_missing_keys),
		T(test_users_twice_refused),
		T(test_users_many),
		T(test_users_unknown_key),
		T(test_users_tls_overrides),
		T(test_users_quota),
		T(test_users_permissions),
		T(test_users_mirror),
		T(test_users_section_names),
		T(test_users_long_names),
		T(test_users_long_names_distinct),
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_parse_u64_small_max),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_parse_port_range),
		cmocka_unit_test(test_parse_bool),
		cmocka_unit_test(test_parse_list_next),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
