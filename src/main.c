/*
 * main.c - the command line: every mode of the daemon's one binary.
 * Everything else lives in the libraries.
 *
 *   relayftpd --config FILE                  serve in the foreground
 *   relayftpd check --config FILE            validate relayftpd.ini and users.ini
 *   relayftpd passwd                         print an argon2id hash for users.ini
 *   relayftpd mirror status --config FILE    per target: state, queue, errors
 *   relayftpd mirror retry --config FILE [TARGET]   queue parked jobs again
 *   relayftpd mirror resync --config FILE TARGET    queue what TARGET lacks
 *   relayftpd --help | --version
 */
#include "cli/daemon.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/users.h"
#include "common/users_source.h"
#include "lib/engine.h"
#include "mirror/mirror.h"
#include "server/pasvpool.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

static const char usage[] =
    "usage: relayftpd --config FILE\n"
    "       relayftpd check --config FILE\n"
    "       relayftpd passwd\n"
    "       relayftpd mirror status --config FILE\n"
    "       relayftpd mirror retry --config FILE [TARGET]\n"
    "       relayftpd mirror resync --config FILE TARGET\n"
    "\n"
    "  --config FILE   run the FTP server in the foreground with this\n"
    "                  relayftpd.ini; logs go to stderr (or to [server]\n"
    "                  log_file), and once bound it prints 'listening on\n"
    "                  ADDR:PORT' for each address ('... (implicit FTPS)'\n"
    "                  for [tls] implicit_listen).\n"
    "                  SIGTERM/SIGINT stop it; SIGHUP re-reads users.ini\n"
    "                  (not relayftpd.ini: the targets it adds or changes\n"
    "                  are logged and wait for a restart);\n"
    "                  SIGUSR1 reopens log_file and xferlog (logrotate).\n"
    "                  Under systemd (Type=notify) it reports READY=1 once\n"
    "                  bound, RELOADING=1 on SIGHUP, STOPPING=1, and\n"
    "                  WATCHDOG=1 every half WatchdogSec= if one is set.\n"
    "                  With [admin] listen, it also serves the status page,\n"
    "                  /metrics and /api/status there and prints 'admin\n"
    "                  listening on http://ADDR:PORT/' first.\n"
    "  check           validate the config and its users file; each problem\n"
    "                  is printed as FILE:LINE: key 'KEY': reason. Settings\n"
    "                  that are valid but unsafe (an sftp target with\n"
    "                  host_key_verify = off) are printed the same way as\n"
    "                  warnings and do not fail the check. It also requires\n"
    "                  the program of an exec: target to be executable\n"
    "                  (the daemon starts without it and retries).\n"
    "  passwd          read a password from stdin (no echo on a terminal)\n"
    "                  and print its argon2id hash for users.ini.\n"
    "  mirror status   per downstream target: state, queued/running/failed\n"
    "                  jobs, oldest job age, files and bytes pushed, last\n"
    "                  error with its time and whether it is current or\n"
    "                  past.\n"
    "  mirror retry    queue the jobs parked after max_attempts again (all\n"
    "                  targets, or TARGET); later changes of their paths\n"
    "                  wait behind them until then.\n"
    "  mirror resync   list TARGET, compare it with the homes (name and\n"
    "                  size) and queue what is missing or different; the\n"
    "                  running daemon pushes it. exec: and webhook (http,\n"
    "                  https) targets keep no tree to list: they catch up\n"
    "                  from the queue only.\n"
    "  -h, --help      this text; --version: the version.\n";

static int
read_password(char *out, size_t outlen, const char *prompt)
{
	struct termios old, quiet;
	int tty = isatty(STDIN_FILENO);
	size_t n;

	if (tty) {
		fputs(prompt, stderr);
		tcgetattr(STDIN_FILENO, &old);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	if (fgets(out, (int)outlen, stdin) == NULL)
		out[0] = '\0';
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputs("\n", stderr);
	}
	n = strlen(out);
	/* A line longer than out: hashing its start would print a hash the
	 * whole password never matches. */
	if (n == outlen - 1 && out[n - 1] != '\n') {
		int c = getc(stdin);

		if (c == '\r')
			c = getc(stdin);
		if (c != EOF && c != '\n') {
			explicit_bzero(out, outlen);
			return -2;
		}
	}
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		out[--n] = '\0';
	return n > 0 ? 0 : -1;
}

static int
cmd_passwd(void)
{
	char pw[1024], again[1024], hash[256];

	if (users_crypto_init() < 0) {
		fprintf(stderr, "relayftpd: cannot initialise libsodium\n");
		return 1;
	}
	switch (read_password(pw, sizeof(pw), "Password: ")) {
	case 0:
		break;
	case -2:
		fprintf(stderr,
		    "relayftpd: password longer than %zu bytes; choose a "
		    "shorter one\n",
		    sizeof(pw) - 1);
		return 1;
	default:
		fprintf(stderr, "relayftpd: empty password\n");
		return 1;
	}
	if (isatty(STDIN_FILENO)) {
		if (read_password(again, sizeof(again), "Again: ") < 0 ||
		    strcmp(pw, again) != 0) {
			fprintf(stderr, "relayftpd: passwords differ\n");
			return 1;
		}
	}
	if (users_hash_password(pw, hash, sizeof(hash)) != 0) {
		fprintf(stderr, "relayftpd: hashing failed (out of memory?)\n");
		return 1;
	}
	printf("%s\n", hash);
	return 0;
}

/* Loads and validates both files; prints every problem. */
static int
load_all(const char *path, struct config *cfg, int *nusers)
{
	struct buf errs;
	struct user_set *set = NULL;
	int rc = 0;

	buf_init(&errs, 1024 * 1024);
	if (config_load(path, cfg, &errs) < 0) {
		rc = -1;
	} else {
		if (engine_check_config(cfg, &errs) < 0)
			rc = -1;
		if (config_check_outfiles(cfg, 1, &errs) > 0)
			rc = -1;
		/* Users that do not load are not checked further: what
		 * could be said of them would be wrong. */
		set = users_source_load(cfg, &errs);
		if (set == NULL) {
			rc = -1;
		} else {
			*nusers = (int)users_set_count(set);
			if (engine_check_users(cfg, set, &errs) < 0)
				rc = -1;
			else if (rc == 0) {
				/* Valid: only the warnings are said. */
				buf_reset(&errs);
				if (engine_warn_users(cfg, set, &errs) > 0)
					daemon_put_errors(&errs);
			}
			users_set_free(set);
		}
	}
	if (rc < 0)
		daemon_put_errors(&errs);
	buf_free(&errs);
	return rc;
}

/* relayftpd.ini alone: what mirror status and retry need (the queue and
 * the targets). users.ini is not read: a broken one, which the daemon
 * serves through with its last good set, must not hide the queue from
 * the admin. */
static int
load_config(const char *path, struct config *cfg)
{
	struct buf errs;
	int rc;

	buf_init(&errs, 64 * 1024);
	rc = config_load(path, cfg, &errs);
	if (rc < 0)
		daemon_put_errors(&errs);
	buf_free(&errs);
	return rc;
}

static int
cmd_check(const char *path)
{
	struct config cfg;
	int nusers = 0;

	struct buf errs;

	if (load_all(path, &cfg, &nusers) < 0)
		return 1;
	buf_init(&errs, 64 * 1024);
	if (config_targets_check_files(&cfg, &errs, 0) > 0) {
		daemon_put_errors(&errs);
		buf_free(&errs);
		return 1;
	}
	/* Valid, but worth a second look. */
	buf_reset(&errs);
	if (config_warn_foreign_listen(&cfg, &errs) > 0)
		daemon_put_errors(&errs);
	buf_free(&errs);
	{
		char why[512];

		if (pasvpool_overlap_warning(
		        cfg.pasv_lo, cfg.pasv_hi, why, sizeof(why)))
			fprintf(stderr,
			    "%s: key 'passive_ports': warning: %s\n", cfg.path,
			    why);
	}
	for (unsigned i = 0; i < cfg.mirror.ntargets; i++) {
		const struct target_config *t = &cfg.mirror.targets[i];

		if (strncmp(t->url, "sftp://", 7) == 0 && !t->host_key_verify)
			fprintf(stderr,
			    "%s:%d: key 'host_key_verify': warning: off in "
			    "[target:%s]: a man in the middle can read the "
			    "login and the files\n",
			    cfg.path, t->host_key_line, t->name);
	}
	if (cfg.admin.token_file[0] != '\0') {
		struct stat sb;

		if (stat(cfg.admin.token_file, &sb) == 0 &&
		    (sb.st_mode & 077) != 0)
			fprintf(stderr,
			    "%s: key 'token_file': warning: %s can be read by "
			    "group or others (chmod 600 it)\n",
			    cfg.path, cfg.admin.token_file);
		if (strlen(cfg.admin.token) < RFTP_ADMIN_TOKEN_SHORT)
			fprintf(stderr,
			    "%s: key 'token_file': warning: the token is "
			    "shorter than %d characters: the listener answers "
			    "thousands of guesses a second, so it can be "
			    "guessed (openssl rand -hex 16 makes a good one)\n",
			    cfg.path, RFTP_ADMIN_TOKEN_SHORT);
		/* Loopback never leaves the host; any other address sends
		 * the token in every request's clear text. */
		if (cfg.admin.enabled && cfg.admin.cert[0] == '\0' &&
		    !config_is_loopback(&cfg.admin.listen))
			fprintf(stderr,
			    "%s: key 'listen' of [admin]: warning: %s is not "
			    "loopback and has no cert: the bearer token and "
			    "the queue's paths cross the network in clear "
			    "(set cert and key)\n",
			    cfg.path, cfg.admin.listen.text);
	}
	printf("%s: OK (%d users in %s)\n", cfg.path, nusers, cfg.users_file);
	return 0;
}

static int
cmd_run(const char *path)
{
	struct config cfg;
	int nusers = 0;

	struct buf errs;

	/* From the first moment: a logrotate's SIGUSR1 during the start
	 * must not kill it, and every thread inherits the mask. */
	daemon_block_signals();
	if (load_all(path, &cfg, &nusers) < 0) {
		fprintf(stderr,
		    "%srelayftpd: not started: fix the lines above\n",
		    log_stderr_priority(LOG_ERR));
		return 1;
	}
	/* Started all the same (the program may come with an upgrade;
	 * its pushes wait in the queue), but said now, not at the first
	 * push. */
	buf_init(&errs, 64 * 1024);
	if (config_targets_check_files(&cfg, &errs, 1) > 0)
		daemon_put_errors(&errs);
	buf_free(&errs);
	return daemon_run(&cfg);
}

enum mode {
	MODE_RUN,
	MODE_CHECK,
	MODE_MIRROR_STATUS,
	MODE_MIRROR_RETRY,
	MODE_MIRROR_RESYNC,
};

int
main(int argc, char **argv)
{
	const char *config = NULL, *target = NULL;
	enum mode mode = MODE_RUN;
	int first = 1;
	struct config cfg;
	int nusers = 0;

	if (argc == 2 && strcmp(argv[1], "passwd") == 0)
		return cmd_passwd();
	if (argc > 1 && strcmp(argv[1], "check") == 0) {
		mode = MODE_CHECK;
		first = 2;
	} else if (argc > 2 && strcmp(argv[1], "mirror") == 0 &&
	    strcmp(argv[2], "status") == 0) {
		mode = MODE_MIRROR_STATUS;
		first = 3;
	} else if (argc > 2 && strcmp(argv[1], "mirror") == 0 &&
	    strcmp(argv[2], "retry") == 0) {
		mode = MODE_MIRROR_RETRY;
		first = 3;
	} else if (argc > 2 && strcmp(argv[1], "mirror") == 0 &&
	    strcmp(argv[2], "resync") == 0) {
		mode = MODE_MIRROR_RESYNC;
		first = 3;
	}
	for (int i = first; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			config = argv[++i];
		} else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			fputs(usage, stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			puts("relayftpd " RELAYFTPD_VERSION);
			return 0;
		} else if ((mode == MODE_MIRROR_RETRY ||
		               mode == MODE_MIRROR_RESYNC) &&
		    target == NULL && argv[i][0] != '-') {
			target = argv[i];
		} else {
			fprintf(stderr,
			    "relayftpd: unknown argument '%s'\n\n%s", argv[i],
			    usage);
			return 2;
		}
	}
	if (config == NULL) {
		fputs(usage, stderr);
		return 2;
	}
	switch (mode) {
	case MODE_RUN:
		return cmd_run(config);
	case MODE_CHECK:
		return cmd_check(config);
	case MODE_MIRROR_STATUS:
	case MODE_MIRROR_RETRY:
		if (load_config(config, &cfg) < 0)
			return 1;
		if (mode == MODE_MIRROR_STATUS)
			return mirror_cli_status(&cfg);
		return mirror_cli_retry(&cfg, target);
	case MODE_MIRROR_RESYNC:
		if (load_all(config, &cfg, &nusers) < 0)
			return 1;
		if (target == NULL) {
			fprintf(stderr,
			    "relayftpd: mirror resync needs a "
			    "TARGET\n");
			return 2;
		}
		return mirror_cli_resync(&cfg, target);
	}
	return 2;
}
