/*
 * test_mirror_config.c - the [mirror] and [target:NAME] sections of
 * relayftpd.ini (common/config.h) and config_target.
 *
 * Every test writes its files into its own folder (fixture.h), removed in
 * the teardown. Covers: every [mirror] key and the defaults (the queue beside
 * the config, a relative queue path resolved against the config's folder);
 * every target key and the target defaults; password_file read relative to
 * the config (first line, line ending stripped); errors naming
 * "FILE:LINE: key 'NAME'" for bad values and unknown keys, a target without
 * url, bad target names, too many targets and retry_max below
 * retry_initial; URLs longer than inih's 200-byte line; config_target;
 * the sftp keys (known_hosts, host_key_sha256 as ssh-keygen prints it,
 * host_key_verify, private_key, public_key, passphrase_file): an sftp target
 * without a host key check is refused unless host_key_verify = off, both
 * checks at once, off with a key, sftp keys on FTP targets and bad values
 * are refused at their line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/buf.h"
#include "fixture.h"
#include "common/config.h"
#include "common/limits.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Room for a config with RFTP_TARGETS_MAX + 1 short targets or one long
 * URL. */
#define TEXT_MAX (16 * 1024)

static int
setup(void **state)
{
	return config_fixture_setup(state, "mirror-config", TEXT_MAX);
}

static void
load_ok(struct config_fixture *f, const char *text)
{
	char path[PATH_MAX];

	if (config_fixture_load(f, text, path, sizeof(path)) != 0)
		fail_msg("config refused:\n%s\n--- errors:\n%s", text,
		    buf_str(&f->errs));
	assert_string_equal(buf_str(&f->errs), "");
}

/* The config is refused with an error at line naming key. */
static void
expect_refused(
    struct config_fixture *f, const char *text, int line, const char *key)
{
	char path[PATH_MAX];

	if (config_fixture_load(f, text, path, sizeof(path)) == 0)
		fail_msg("config accepted:\n%s", text);
	fixture_expect_error_at(&f->errs, path, line, key);
}

/* --- [mirror] -------------------------------------------------------------- */

static void
test_mirror_all_keys(void **state)
{
	struct config_fixture *f = *state;
	const struct mirror_config *m = &f->cfg->mirror;

	load_ok(f,
	    "[mirror]\n"
	    "queue = /var/lib/relayftpd/queue.db\n"
	    "retry_initial = 5\n"
	    "retry_max = 600\n"
	    "workers_per_target = 4\n"
	    "max_attempts = 10\n");
	assert_string_equal(m->queue, "/var/lib/relayftpd/queue.db");
	assert_int_equal(m->retry_initial, 5);
	assert_int_equal(m->retry_max, 600);
	assert_int_equal(m->workers_per_target, 4);
	assert_int_equal(m->max_attempts, 10);
	assert_int_equal(m->ntargets, 0);
}

static void
test_mirror_defaults(void **state)
{
	struct config_fixture *f = *state;
	const struct mirror_config *m = &f->cfg->mirror;
	char want[PATH_MAX + 32];

	fixture_join(want, sizeof(want), f->dir, "relayftpd-queue.db");
	/* No [mirror] section at all. */
	load_ok(f, "[server]\nmax_clients = 5\n");
	assert_int_equal(m->retry_initial, 1);
	assert_int_equal(m->retry_max, 300);
	assert_int_equal(m->workers_per_target, 4);
	assert_int_equal(m->max_attempts, 0);
	assert_string_equal(m->queue, want);
	assert_int_equal(m->ntargets, 0);
	/* A [mirror] section without queue keeps the default too. */
	load_ok(f, "[mirror]\nretry_max = 30\n");
	assert_string_equal(m->queue, want);
	assert_int_equal(m->retry_initial, 1);
	assert_int_equal(m->retry_max, 30);
	/* config_defaults leaves the queue to config_load (it needs the
	 * config's folder) but sets the numbers. */
	config_defaults(f->cfg);
	assert_int_equal(m->retry_initial, 1);
	assert_int_equal(m->retry_max, 300);
	assert_int_equal(m->workers_per_target, 4);
	assert_int_equal(m->max_attempts, 0);
}

static void
test_mirror_queue_relative(void **state)
{
	struct config_fixture *f = *state;
	char want[PATH_MAX + 32], sub[PATH_MAX + 32], path[PATH_MAX];

	load_ok(f, "[mirror]\nqueue = state/q.db\n");
	fixture_join(want, sizeof(want), f->dir, "state/q.db");
	assert_string_equal(f->cfg->mirror.queue, want);

	/* Relative to the config's folder, not the working directory, and
	 * through the config's real path. */
	fixture_join(sub, sizeof(sub), f->dir, "etc");
	assert_int_equal(mkdir(sub, 0700), 0);
	fixture_write_file(f->dir, "etc/relayftpd.ini",
	    "[mirror]\nqueue = q.db\n", path, sizeof(path));
	buf_reset(&f->errs);
	assert_int_equal(chdir("/"), 0);
	if (config_load(path, f->cfg, &f->errs) != 0)
		fail_msg("%s", buf_str(&f->errs));
	fixture_join(want, sizeof(want), sub, "q.db");
	assert_string_equal(f->cfg->mirror.queue, want);
	/* And the default sits beside that config. */
	fixture_write_file(f->dir, "etc/relayftpd.ini",
	    "[mirror]\nmax_attempts = 1\n", path, sizeof(path));
	buf_reset(&f->errs);
	assert_int_equal(config_load(path, f->cfg, &f->errs), 0);
	fixture_join(want, sizeof(want), sub, "relayftpd-queue.db");
	assert_string_equal(f->cfg->mirror.queue, want);
}

/* An empty queue value must not leave the queue path empty: SQLite opens
 * "" as a private temporary database deleted on close, so every queued job
 * would silently vanish at the next restart. Refusing the value or keeping
 * the default are both fine. */
static void
test_mirror_queue_empty(void **state)
{
	struct config_fixture *f = *state;
	char path[PATH_MAX];
	int rc =
	    config_fixture_load(f, "[mirror]\nqueue =\n", path, sizeof(path));

	if (rc != 0) {
		fixture_expect_error_at(&f->errs, path, 2, "queue");
		return;
	}
	if (f->cfg->mirror.queue[0] != '/')
		fail_msg("queue = (empty) accepted with queue path \"%s\"",
		    f->cfg->mirror.queue);
}

static void
test_mirror_bad_values(void **state)
{
	struct config_fixture *f = *state;
	static const char *const cases[][2] = {
		{ "retry_initial", "0" },
		{ "retry_initial", "86401" },
		{ "retry_max", "0" },
		{ "retry_max", "604801" },
		{ "workers_per_target", "0" },
		{ "workers_per_target", "65" },
		{ "max_attempts", "1000001" },
		{ "max_attempts", "-1" },
		{ "max_attempts", "ten" },
		{ "retry_initial", "" },
	};
	char text[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "[mirror]\n\n%s = %s\n",
		    cases[i][0], cases[i][1]);
		expect_refused(f, text, 3, cases[i][0]);
	}
	/* The bounds themselves are valid. */
	load_ok(f,
	    "[mirror]\nretry_initial = 86400\nretry_max = 604800\n"
	    "workers_per_target = 64\nmax_attempts = 1000000\n");
	assert_int_equal(f->cfg->mirror.workers_per_target, 64);
	load_ok(f,
	    "[mirror]\nretry_initial = 1\nretry_max = 1\n"
	    "workers_per_target = 1\nmax_attempts = 0\n");
	assert_int_equal(f->cfg->mirror.retry_max, 1);
}

static void
test_mirror_watch_pending_max(void **state)
{
	struct config_fixture *f = *state;

	load_ok(f, "[mirror]\nretry_max = 30\n");
	assert_int_equal(f->cfg->mirror.watch_pending_max, 250000);
	load_ok(f, "[mirror]\nwatch_pending_max = 1\n");
	assert_int_equal(f->cfg->mirror.watch_pending_max, 1);
	load_ok(f, "[mirror]\nwatch_pending_max = 100000000\n");
	assert_int_equal(f->cfg->mirror.watch_pending_max, 100000000);
	expect_refused(
	    f, "[mirror]\n\nwatch_pending_max = 0\n", 3, "watch_pending_max");
	expect_refused(f, "[mirror]\n\nwatch_pending_max = 100000001\n", 3,
	    "watch_pending_max");
}

static void
test_mirror_unknown_key(void **state)
{
	struct config_fixture *f = *state;

	expect_refused(
	    f, "[mirror]\nretry_initial = 2\ncolour = blue\n", 3, "colour");
	fixture_expect_text(&f->errs, "[mirror]");
	/* A [server] key is not a [mirror] key. */
	expect_refused(f, "[mirror]\nmax_clients = 3\n", 2, "max_clients");
}

static void
test_mirror_retry_max_below_initial(void **state)
{
	struct config_fixture *f = *state;
	char path[PATH_MAX];

	assert_int_equal(config_fixture_load(f,
	                     "[mirror]\n"
	                     "retry_initial = 60\n"
	                     "retry_max = 30\n",
	                     path, sizeof(path)),
	    -1);
	fixture_expect_text(&f->errs, "retry_max");
	fixture_expect_text(&f->errs, "retry_initial");
	/* config.h: every problem names file, line and key. */
	fixture_expect_error_at(&f->errs, path, 3, "retry_max");
	/* Equal is fine; so is a retry_max that only the default exceeds. */
	load_ok(f, "[mirror]\nretry_initial = 60\nretry_max = 60\n");
	load_ok(f, "[mirror]\nretry_initial = 300\n");
}

/* --- [target:NAME] --------------------------------------------------------- */

static void
test_target_all_keys(void **state)
{
	struct config_fixture *f = *state;
	const struct mirror_config *m = &f->cfg->mirror;
	const struct target_config *a, *b;

	load_ok(f,
	    "[server]\n"
	    "max_clients = 4\n"
	    "[target:a]\n"
	    "url = ftps://backup.example.net:990/in\n"
	    "user = mirror\n"
	    "password = pa ss:w@rd\n"
	    "verify = hash\n"
	    "layout = flat\n"
	    "include = *.pdf, *.txt ; documents only\n"
	    "exclude = *.tmp, *.part\n"
	    "propagate_deletes = yes\n"
	    "propagate_renames = on\n"
	    "tls_verify = off\n"
	    "[target:b.2@x_y-z]\n"
	    "url = ftp://h2/\n");
	assert_int_equal(m->ntargets, 2);
	a = &m->targets[0];
	assert_string_equal(a->name, "a");
	assert_string_equal(a->url, "ftps://backup.example.net:990/in");
	assert_string_equal(a->user, "mirror");
	assert_string_equal(a->password, "pa ss:w@rd");
	assert_int_equal(a->verify, VERIFY_HASH);
	assert_int_equal(a->flat, 1);
	assert_string_equal(a->include, "*.pdf, *.txt");
	assert_string_equal(a->exclude, "*.tmp, *.part");
	assert_int_equal(a->propagate_deletes, 1);
	assert_int_equal(a->propagate_renames, 1);
	assert_int_equal(a->tls_verify, 0);
	/* The second has only a url: every other key has its default. */
	b = &m->targets[1];
	assert_string_equal(b->name, "b.2@x_y-z");
	assert_string_equal(b->url, "ftp://h2/");
	assert_string_equal(b->user, "");
	assert_string_equal(b->password, "");
	assert_int_equal(b->verify, VERIFY_SIZE);
	assert_int_equal(b->flat, 0);
	assert_string_equal(b->include, "");
	assert_string_equal(b->exclude, "");
	assert_int_equal(b->propagate_deletes, 0);
	assert_int_equal(b->propagate_renames, 0);
	assert_int_equal(b->tls_verify, 1);
	assert_int_equal(b->host_key_verify, 1);
	assert_string_equal(b->known_hosts, "");
	assert_string_equal(b->host_key_sha256, "");
	assert_string_equal(b->private_key, "");
	assert_string_equal(b->public_key, "");
	assert_string_equal(b->passphrase, "");
}

/* --- [target:NAME] sftp host keys and key logins --------------------------- */

/* ssh-keygen -lf of a real ed25519 key: 43 base64 characters. */
#define FP "uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s"

static void
test_target_sftp_keys(void **state)
{
	struct config_fixture *f = *state;
	const struct target_config *t = &f->cfg->mirror.targets[0];
	char kh[PATH_MAX], key[PATH_MAX], pub[PATH_MAX], pp[PATH_MAX];
	char want[PATH_MAX + 32];

	fixture_write_file(f->dir, "known_hosts",
	    "[127.0.0.1]:2222 ssh-ed25519 AAAA\n", kh, sizeof(kh));
	fixture_write_file(f->dir, "id",
	    "-----BEGIN OPENSSH PRIVATE KEY-----\n", key, sizeof(key));
	fixture_write_file(
	    f->dir, "id.pub", "ssh-ed25519 AAAA x\n", pub, sizeof(pub));
	fixture_write_file(
	    f->dir, "id.pass", "pass phrase\nignored\n", pp, sizeof(pp));
	/* Relative to the config's folder, whatever the working folder. */
	assert_int_equal(chdir("/"), 0);
	load_ok(f,
	    "[target:a]\n"
	    "url = sftp://m@h:2222/in\n"
	    "known_hosts = known_hosts\n"
	    "private_key = id\n"
	    "public_key = id.pub\n"
	    "passphrase_file = id.pass\n");
	assert_string_equal(t->known_hosts, kh);
	assert_string_equal(t->host_key_sha256, "");
	assert_int_equal(t->host_key_verify, 1);
	assert_string_equal(t->private_key, key);
	assert_string_equal(t->public_key, pub);
	assert_string_equal(t->passphrase, "pass phrase");

	/* The fingerprint as ssh-keygen prints it, with or without the
	 * "SHA256:" and a base64 '=' pad: stored bare. */
	load_ok(f, "[target:a]\nurl = sftp://h/\nhost_key_sha256 = " FP "\n");
	assert_string_equal(t->host_key_sha256, FP);
	load_ok(f,
	    "[target:a]\nurl = sftp://h/\nhost_key_sha256 = SHA256:" FP "\n");
	assert_string_equal(t->host_key_sha256, FP);
	load_ok(
	    f, "[target:a]\nurl = sftp://h/\nhost_key_sha256 = " FP "= ; x\n");
	assert_string_equal(t->host_key_sha256, FP);
	assert_string_equal(t->known_hosts, "");

	/* Explicitly unchecked: accepted (main and the mirror warn). */
	load_ok(f, "[target:a]\nurl = sftp://h/\nhost_key_verify = off\n");
	assert_int_equal(t->host_key_verify, 0);

	/* A known_hosts path longer than inih's 200-byte line loads. */
	{
		char dir[PATH_MAX], rel[300], path[PATH_MAX];
		size_t n = 0;

		memset(rel, 'k', 250);
		rel[250] = '\0';
		fixture_join(dir, sizeof(dir), f->dir, rel);
		assert_int_equal(mkdir(dir, 0700), 0);
		n = strlen(rel);
		snprintf(rel + n, sizeof(rel) - n, "/kh");
		fixture_write_file(f->dir, rel, "x\n", path, sizeof(path));
		snprintf(f->text, TEXT_MAX,
		    "[target:a]\nurl = sftp://h/\nknown_hosts = %s\n", rel);
		load_ok(f, f->text);
		assert_string_equal(t->known_hosts, path);
	}
	snprintf(want, sizeof(want), "%s/known_hosts", f->dir);
	assert_string_equal(kh, want);
}

/* An sftp target that checks no host key is an error, at the section's
 * line, unless host_key_verify = off is written. */
static void
test_target_sftp_needs_host_key(void **state)
{
	struct config_fixture *f = *state;

	expect_refused(f,
	    "[server]\nmax_clients = 4\n[target:s]\nurl = sftp://h/\n"
	    "user = m\n",
	    3, "known_hosts");
	fixture_expect_text(&f->errs, "host_key_verify = off");
	fixture_expect_text(&f->errs, "[target:s]");
	/* host_key_verify = on is the default, not a host key. */
	expect_refused(f, "[target:s]\nurl = sftp://h/\nhost_key_verify = on\n",
	    1, "known_hosts");
	/* FTP targets are not concerned. */
	load_ok(f, "[target:f]\nurl = ftp://h/\n[target:g]\nurl = ftps://h/\n");
}

static void
test_target_sftp_bad_combinations(void **state)
{
	struct config_fixture *f = *state;
	char kh[PATH_MAX], key[PATH_MAX];

	fixture_write_file(f->dir, "kh", "x\n", kh, sizeof(kh));
	fixture_write_file(f->dir, "id", "x\n", key, sizeof(key));
	/* Both: libcurl would check only the fingerprint. */
	expect_refused(f,
	    "[target:s]\nurl = sftp://h/\nknown_hosts = kh\n"
	    "host_key_sha256 = " FP "\n",
	    4, "host_key_sha256");
	fixture_expect_text(&f->errs, "not both");
	/* Off and a key to check. */
	expect_refused(f,
	    "[target:s]\nurl = sftp://h/\nhost_key_sha256 = " FP "\n"
	    "host_key_verify = off\n",
	    4, "host_key_verify");
	/* sftp-only keys on an FTP target, at the first one's line. */
	expect_refused(f,
	    "[target:f]\nurl = ftp://h/\nuser = u\nknown_hosts = kh\n"
	    "private_key = id\n",
	    4, "known_hosts");
	fixture_expect_text(&f->errs, "only for sftp:// targets");
	expect_refused(f,
	    "[target:f]\nhost_key_verify = off\nurl = ftps://h/\n", 2,
	    "host_key_verify");
	/* The url may come last: the rule still applies. */
	expect_refused(
	    f, "[target:s]\nuser = u\nurl = sftp://h/\n", 1, "known_hosts");
	/* A public key or a passphrase without the private key. */
	expect_refused(f,
	    "[target:s]\nurl = sftp://h/\nknown_hosts = kh\n"
	    "public_key = id\n",
	    4, "public_key");
	fixture_expect_text(&f->errs, "needs private_key");
}

static void
test_target_sftp_bad_values(void **state)
{
	struct config_fixture *f = *state;
	static const char *const cases[][2] = {
		{ "host_key_sha256", "" },
		{ "host_key_sha256",
		    "uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2" },
		{ "host_key_sha256", FP "A" },
		{ "host_key_sha256", FP "==" },
		{ "host_key_sha256", "SHA256:" },
		{ "host_key_sha256", "MD5:" FP },
		{ "host_key_sha256",
		    "uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2-" },
		{ "host_key_sha256", "b8:6a:0e:1c:3a:2f:7e:5d:9b:1a:0c:4f:6e" },
		{ "host_key_verify", "perhaps" },
		{ "known_hosts", "no-such-file" },
		{ "known_hosts", "" },
		{ "private_key", "no-such-key" },
		{ "public_key", "no-such-key.pub" },
		{ "passphrase_file", "no-such-file" },
	};
	char text[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text),
		    "[target:a]\nurl = sftp://h/\n%s = %s\n"
		    "host_key_verify = off\n",
		    cases[i][0], cases[i][1]);
		if (strcmp(cases[i][0], "host_key_verify") == 0)
			snprintf(text, sizeof(text),
			    "[target:a]\nurl = sftp://h/\n%s = %s\n",
			    cases[i][0], cases[i][1]);
		expect_refused(f, text, 3, cases[i][0]);
	}
}

static void
test_target_enum_values(void **state)
{
	struct config_fixture *f = *state;
	const struct target_config *t = &f->cfg->mirror.targets[0];

	load_ok(
	    f, "[target:a]\nurl = ftp://h/\nverify = none\nlayout = user\n");
	assert_int_equal(t->verify, VERIFY_NONE);
	assert_int_equal(t->flat, 0);
	load_ok(
	    f, "[target:a]\nurl = ftp://h/\nverify = size\nlayout = flat\n");
	assert_int_equal(t->verify, VERIFY_SIZE);
	assert_int_equal(t->flat, 1);
}

static void
test_target_section_repeated(void **state)
{
	struct config_fixture *f = *state;
	const struct mirror_config *m = &f->cfg->mirror;

	load_ok(f,
	    "[target:a]\n"
	    "url = ftp://h/\n"
	    "[mirror]\n"
	    "retry_initial = 2\n"
	    "[target:a]\n"
	    "verify = hash\n");
	assert_int_equal(m->ntargets, 1);
	assert_string_equal(m->targets[0].url, "ftp://h/");
	assert_int_equal(m->targets[0].verify, VERIFY_HASH);
}

static void
test_target_password_file(void **state)
{
	struct config_fixture *f = *state;
	const struct target_config *t = &f->cfg->mirror.targets[0];
	char sub[PATH_MAX + 32], secret[PATH_MAX], text[PATH_MAX + 128];

	fixture_join(sub, sizeof(sub), f->dir, "secrets");
	assert_int_equal(mkdir(sub, 0700), 0);
	fixture_write_file(f->dir, "secrets/a.pw", "s3cr et!\nsecond line\n",
	    secret, sizeof(secret));
	/* Relative to the config's folder, whatever the working folder. */
	assert_int_equal(chdir("/"), 0);
	load_ok(f,
	    "[target:a]\nurl = ftp://h/\n"
	    "password_file = secrets/a.pw\n");
	assert_string_equal(t->password, "s3cr et!");

	/* CRLF and a file without a final newline. */
	fixture_write_file(
	    f->dir, "secrets/a.pw", "crlf\r\n", secret, sizeof(secret));
	load_ok(f,
	    "[target:a]\nurl = ftp://h/\n"
	    "password_file = secrets/a.pw\n");
	assert_string_equal(t->password, "crlf");
	fixture_write_file(
	    f->dir, "secrets/a.pw", "nonl", secret, sizeof(secret));
	/* An absolute path is used as it is. */
	snprintf(text, sizeof(text),
	    "[target:a]\nurl = ftp://h/\npassword_file = %s\n", secret);
	load_ok(f, text);
	assert_string_equal(t->password, "nonl");

	/* A missing file is an error on its line. */
	expect_refused(f,
	    "[target:a]\nurl = ftp://h/\npassword_file = secrets/none.pw\n", 3,
	    "password_file");
}

/* A secret longer than the password field must be refused, as the same
 * value in password = is, not cut silently (the target would then reject
 * the login with a password nobody wrote). */
static void
test_target_password_file_too_long(void **state)
{
	struct config_fixture *f = *state;
	char line[sizeof(f->cfg->mirror.targets[0].password) + 46];
	char secret[PATH_MAX], text[sizeof(line) + 64];

	memset(line, 'p', sizeof(line) - 2);
	line[sizeof(line) - 2] = '\n';
	line[sizeof(line) - 1] = '\0';
	/* Sanity: the same secret inline is refused. */
	snprintf(text, sizeof(text),
	    "[target:a]\nurl = ftp://h/\npassword = %s", line);
	expect_refused(f, text, 3, "password");

	fixture_write_file(f->dir, "a.pw", line, secret, sizeof(secret));
	expect_refused(f, "[target:a]\nurl = ftp://h/\npassword_file = a.pw\n",
	    3, "password_file");
}

static void
test_target_bad_values(void **state)
{
	struct config_fixture *f = *state;
	static const char *const cases[][2] = {
		{ "url", "gopher://h/" },
		{ "url", "file:///etc/" },
		{ "url", "h:21" },
		{ "url", "" },
		{ "url", "ftp://h/in\tbox/" },
		/* libcurl decodes the path first: every push was dropped as
		 * a name no retry can send. */
		{ "url", "ftp://h/in%09box/" },
		{ "url", "ftps://h/a%1fb/" },
		{ "url", "sftp://h/x%00/" },
		/* A host or port libcurl refuses at every push, for ever. */
		{ "url", "ftp://h:99999/" },
		{ "url", "ftp://h:0/" },
		{ "url", "ftps://h:21x/" },
		{ "url", "http://u@[::1/x" },
		{ "url", "ftp://[::1]x/" },
		{ "url", "ftp:///x" },
		{ "url", "sftp://u:p@/x" },
		{ "verify", "bogus" },
		{ "verify", "" },
		{ "layout", "bogus" },
		{ "tls_verify", "maybe" },
		{ "propagate_deletes", "2" },
		{ "propagate_renames", "sometimes" },
		{ "colour", "blue" },
	};
	char text[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* A good url first, so only the key under test is wrong. */
		snprintf(text, sizeof(text),
		    "[target:a]\nurl = ftp://h/\n%s = %s\n", cases[i][0],
		    cases[i][1]);
		expect_refused(f, text, 3, cases[i][0]);
	}
	fixture_expect_text(&f->errs, "unknown key");
}

static void
test_target_without_url(void **state)
{
	struct config_fixture *f = *state;
	char path[PATH_MAX];

	assert_int_equal(config_fixture_load(f,
	                     "[target:good]\n"
	                     "url = ftp://h/\n"
	                     "[target:nourl]\n"
	                     "user = x\n"
	                     "verify = hash\n",
	                     path, sizeof(path)),
	    -1);
	fixture_expect_text(&f->errs, "[target:nourl]");
	fixture_expect_text(&f->errs, "no url");
	if (strstr(buf_str(&f->errs), "[target:good]") != NULL)
		fail_msg("the good target is blamed:\n%s", buf_str(&f->errs));
	/* The line is the section's (or its first key's). */
	{
		char at3[PATH_MAX + 16], at4[PATH_MAX + 16];

		snprintf(at3, sizeof(at3), "%s:3: ", path);
		snprintf(at4, sizeof(at4), "%s:4: ", path);
		if (strstr(buf_str(&f->errs), at3) == NULL &&
		    strstr(buf_str(&f->errs), at4) == NULL)
			fail_msg(
			    "no error at line 3 or 4:\n%s", buf_str(&f->errs));
	}
}

/* A [target:NAME] section whose keys are all commented out is a target
 * without url too, not a section to ignore. */
static void
test_target_empty_section(void **state)
{
	struct config_fixture *f = *state;
	char path[PATH_MAX];

	if (config_fixture_load(f,
	        "[target:a]\n"
	        "url = ftp://h/\n"
	        "[target:empty]\n"
	        "; url = ftp://later/\n",
	        path, sizeof(path)) == 0)
		fail_msg("[target:empty] without url accepted (%u targets)",
		    f->cfg->mirror.ntargets);
	fixture_expect_text(&f->errs, "[target:empty]");
}

static void
test_target_bad_names(void **state)
{
	struct config_fixture *f = *state;
	static const char *const names[] = {
		"bad name!",
		"none",
		"",
		"a/b",
		"a:b",
	};
	char text[256];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(text, sizeof(text),
		    "[target:ok]\nurl = ftp://h/\n[target:%s]\nurl = ftp://h/\n",
		    names[i]);
		expect_refused(f, text, 4, NULL);
		fixture_expect_text(&f->errs, "invalid target name");
		snprintf(text, sizeof(text), "[target:%s]", names[i]);
		fixture_expect_text(&f->errs, text);
		assert_null(config_target(f->cfg, names[i]));
	}
	/* The longest name inih keeps whole is fine. */
	load_ok(f,
	    "[target:abcdefghijklmnopqrstuvwxyz0123456789ABCDEF]\n"
	    "url = ftp://h/\n");
	assert_non_null(config_target(
	    f->cfg, "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF"));
}

static void
test_target_too_many(void **state)
{
	struct config_fixture *f = *state;
	size_t len = 0;
	int n;

	/* Exactly RFTP_TARGETS_MAX: accepted. */
	for (int i = 0; i < RFTP_TARGETS_MAX; i++) {
		n = snprintf(f->text + len, TEXT_MAX - len,
		    "[target:t%02d]\nurl = ftp://h%d/\n", i, i);
		assert_true(n > 0 && (size_t)n < TEXT_MAX - len);
		len += (size_t)n;
	}
	load_ok(f, f->text);
	assert_int_equal(f->cfg->mirror.ntargets, RFTP_TARGETS_MAX);
	assert_non_null(config_target(f->cfg, "t00"));
	assert_non_null(config_target(f->cfg, "t31"));

	/* One more: refused at the extra target's line. */
	n = snprintf(f->text + len, TEXT_MAX - len,
	    "[target:extra]\nurl = ftp://extra/\n");
	assert_true(n > 0 && (size_t)n < TEXT_MAX - len);
	expect_refused(f, f->text, 2 * RFTP_TARGETS_MAX + 2, NULL);
	fixture_expect_text(&f->errs, "more than 32 targets");
	assert_int_equal(f->cfg->mirror.ntargets, RFTP_TARGETS_MAX);
	assert_null(config_target(f->cfg, "extra"));
}

static void
test_target_long_url(void **state)
{
	struct config_fixture *f = *state;
	char url[sizeof(f->cfg->mirror.targets[0].url) + 64];
	size_t ulen;

	/* Longer than inih's 200-byte line: loads whole. */
	snprintf(url, sizeof(url), "ftp://user:pw@backup.example.net/");
	ulen = strlen(url);
	memset(url + ulen, 'd', 600 - ulen);
	url[600] = '\0';
	snprintf(
	    f->text, TEXT_MAX, "[target:a]\nurl = %s\nverify = hash\n", url);
	load_ok(f, f->text);
	assert_string_equal(f->cfg->mirror.targets[0].url, url);
	assert_int_equal(f->cfg->mirror.targets[0].verify, VERIFY_HASH);

	/* Longer than the field: refused, not cut. */
	memset(url + ulen, 'd', sizeof(url) - 1 - ulen);
	url[sizeof(url) - 1] = '\0';
	snprintf(f->text, TEXT_MAX, "[target:a]\nurl = %s\n", url);
	expect_refused(f, f->text, 2, "url");
}

static void
test_config_target(void **state)
{
	struct config_fixture *f = *state;
	const struct target_config *t;

	load_ok(
	    f, "[target:a]\nurl = ftp://ha/\n[target:b]\nurl = ftp://hb/\n");
	t = config_target(f->cfg, "a");
	assert_non_null(t);
	assert_ptr_equal(t, &f->cfg->mirror.targets[0]);
	assert_string_equal(t->url, "ftp://ha/");
	t = config_target(f->cfg, "b");
	assert_non_null(t);
	assert_string_equal(t->url, "ftp://hb/");
	assert_null(config_target(f->cfg, "c"));
	assert_null(config_target(f->cfg, ""));
	assert_null(config_target(f->cfg, "ab"));
	assert_null(config_target(f->cfg, "none"));
	/* No targets at all. */
	load_ok(f, "[mirror]\n");
	assert_null(config_target(f->cfg, "a"));
}

/* --- webhooks (http://, https://) ----------------------------------------- */

static void
test_target_webhook_keys(void **state)
{
	struct config_fixture *f = *state;
	const struct target_config *t = &f->cfg->mirror.targets[0];
	char secret[PATH_MAX];

	/* Defaults: notify, unsigned, 60 s. */
	load_ok(f, "[target:h]\nurl = http://127.0.0.1:8080/hook\n");
	assert_int_equal(t->hook_put, 0);
	assert_string_equal(t->hook_secret, "");
	assert_int_equal(t->timeout, 60);
	fixture_write_file(f->dir, "hook.secret", "k3y with spaces\r\n", secret,
	    sizeof(secret));
	load_ok(f,
	    "[target:h]\nurl = https://hooks.example/x\nmode = put\n"
	    "secret_file = hook.secret\ntimeout = 5\nca_file =\n"
	    "tls_verify = on\nlayout = flat\n");
	assert_int_equal(t->hook_put, 1);
	assert_string_equal(t->hook_secret, "k3y with spaces");
	assert_int_equal(t->timeout, 5);
	load_ok(f, "[target:h]\nurl = https://h/\nmode = notify\n");
	assert_int_equal(t->hook_put, 0);
	/* An escaped control byte is the receiver's business over HTTP,
	 * and an FTP path may hold escaped bytes libcurl sends. */
	load_ok(f, "[target:h]\nurl = https://h/a%0Ab\n");
	load_ok(f, "[target:f]\nurl = ftp://h/in%20box%7F%2Fx/\n");
	load_ok(f, "[target:f]\nurl = ftp://u:pa:ss@h:65535/x\n");
	/* An escaped byte in the login or an IPv6 zone is not a path's. */
	load_ok(f, "[target:f]\nurl = ftp://u:p%1Fw@h/base\n");
	load_ok(f, "[target:f]\nurl = ftp://[fe80::1%12]/base\n");
	load_ok(f, "[target:f]\nurl = ftps://[::1]:990\n");
	load_ok(f, "[target:h]\nurl = http://[fe80::1%25eth0]:8080/hook\n");

	/* Bad values, and keys of another kind, name their line and key. */
	expect_refused(
	    f, "[target:h]\nurl = http://h/\nmode = post\n", 3, "mode");
	expect_refused(
	    f, "[target:h]\nurl = http://h/\ntimeout = 0\n", 3, "timeout");
	expect_refused(
	    f, "[target:h]\nurl = http://h/\ntimeout = 86401\n", 3, "timeout");
	fixture_write_file(
	    f->dir, "empty.secret", "\n", secret, sizeof(secret));
	expect_refused(f,
	    "[target:h]\nurl = http://h/\nsecret_file = empty.secret\n", 3,
	    "secret_file");
	expect_refused(f,
	    "[target:h]\nurl = http://h/\nsecret_file = none.secret\n", 3,
	    "secret_file");
	expect_refused(
	    f, "[target:h]\nurl = http://h/\nverify = hash\n", 3, "verify");
	expect_refused(f, "[target:h]\nurl = http://h/\nexplicit_tls = on\n", 3,
	    "explicit_tls");
	expect_refused(
	    f, "[target:a]\nmode = put\nurl = ftp://h/\n", 2, "mode");
}

/* --- timeout of ftp, ftps and sftp targets -------------------------------- */

/* The response timeout was 60 s on every ftp, ftps and sftp target: one
 * that scans each file before its 226 failed every attempt, sending the
 * whole file again each time, and the key was refused there. */
static void
test_tree_target_timeout(void **state)
{
	struct config_fixture *f = *state;
	const struct target_config *t = &f->cfg->mirror.targets[0];

	load_ok(f, "[target:a]\nurl = ftp://h/\n");
	assert_int_equal(t->timeout, 60);
	load_ok(f, "[target:a]\nurl = ftps://h/\ntimeout = 600\n");
	assert_int_equal(t->timeout, 600);
	load_ok(f,
	    "[target:a]\nurl = sftp://h/\nhost_key_verify = off\n"
	    "timeout = 5\n");
	assert_int_equal(t->timeout, 5);
	expect_refused(
	    f, "[target:a]\nurl = ftp://h/\ntimeout = 0\n", 3, "timeout");
	expect_refused(
	    f, "[target:a]\nurl = ftp://h/\ntimeout = 86401\n", 3, "timeout");
}

/* --- TCP keepalive (every target that connects) --------------------------------------- */

static void
test_target_keepalive(void **state)
{
	struct config_fixture *f = *state;
	const struct target_config *t = &f->cfg->mirror.targets[0];

	load_ok(f, "[target:a]\nurl = ftp://h/\n");
	assert_int_equal(t->keepalive, 30);
	load_ok(f, "[target:a]\nurl = ftps://h/\nkeepalive = 0\n");
	assert_int_equal(t->keepalive, 0);
	load_ok(f, "[target:a]\nurl = ftp://h/\nkeepalive = 3600\n");
	assert_int_equal(t->keepalive, 3600);
	expect_refused(f, "[target:a]\nurl = ftp://h/\nkeepalive = 3601\n", 3,
	    "keepalive");
	expect_refused(
	    f, "[target:a]\nurl = ftp://h/\nkeepalive = -1\n", 3, "keepalive");
	load_ok(f, "[target:h]\nurl = http://h/\nkeepalive = 5\n");
	assert_int_equal(t->keepalive, 5);
	load_ok(f,
	    "[target:s]\nurl = s3://bkt\naccess_key = k\n"
	    "secret_key = s\nkeepalive = 0\n");
	assert_int_equal(t->keepalive, 0);
	/* A command target opens no connection. */
	expect_refused(f, "[target:e]\nurl = exec:/bin/true\nkeepalive = 5\n",
	    3, "keepalive");
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, config_fixture_teardown)
	const struct CMUnitTest tests[] = {
		T(test_mirror_all_keys),
		T(test_mirror_defaults),
		T(test_mirror_queue_relative),
		T(test_mirror_queue_empty),
		T(test_mirror_bad_values),
		T(test_mirror_watch_pending_max),
		T(test_mirror_unknown_key),
		T(test_mirror_retry_max_below_initial),
		T(test_target_all_keys),
		T(test_target_sftp_keys),
		T(test_target_sftp_needs_host_key),
		T(test_target_sftp_bad_combinations),
		T(test_target_sftp_bad_values),
		T(test_target_enum_values),
		T(test_target_section_repeated),
		T(test_target_password_file),
		T(test_target_password_file_too_long),
		T(test_target_bad_values),
		T(test_target_webhook_keys),
		T(test_target_keepalive),
		T(test_tree_target_timeout),
		T(test_target_without_url),
		T(test_target_empty_section),
		T(test_target_bad_names),
		T(test_target_too_many),
		T(test_target_long_url),
		T(test_config_target),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
