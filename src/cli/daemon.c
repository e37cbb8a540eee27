/*
 * daemon.c - the daemon's signals, printed lines and systemd states around
 * the engine (daemon.h).
 *
 * SIGTERM, SIGINT, SIGHUP and SIGUSR1 are blocked from the first line of
 * main, so every thread inherits the mask and they are read here, from a
 * signalfd, by the main thread alone: no handler runs in a random thread,
 * and a logrotate's SIGUSR1 during the start cannot kill the process.
 */
#include "cli/daemon.h"

#include "cli/svcnotify.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/target_diff.h"
#include "common/users_source.h"
#include "lib/engine.h"
#include "server/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

static void
daemon_sigset(sigset_t *sigs)
{
	sigemptyset(sigs);
	sigaddset(sigs, SIGTERM);
	sigaddset(sigs, SIGINT);
	sigaddset(sigs, SIGHUP);
	sigaddset(sigs, SIGUSR1);
}

void
daemon_block_signals(void)
{
	sigset_t sigs;

	daemon_sigset(&sigs);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
}

/* "listening on ADDR:PORT" for each bound port: the contract scripts and
 * tests read to learn the real port. */
static void
print_listening(struct server *srv)
{
	for (unsigned i = 0; i < server_nports(srv); i++) {
		struct sockaddr_storage ss;
		char host[INET6_ADDRSTRLEN];
		int implicit;

		if (server_address(srv, i, &ss, &implicit) < 0)
			continue;
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

			inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
			printf("listening on %s:%u%s\n", host,
			    ntohs(s4->sin_port),
			    implicit ? " (implicit FTPS)" : "");
		} else {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

			inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
			printf("listening on [%s]:%u%s\n", host,
			    ntohs(s6->sin6_port),
			    implicit ? " (implicit FTPS)" : "");
		}
	}
	fflush(stdout);
}

/* The watchdog's keep-alive (WatchdogSec=): every half interval, as
 * sd_watchdog_enabled(3) advises, and at once when that much has passed
 * (a reload took it), however often signals come. next_ms: when the next
 * one is due (CLOCK_MONOTONIC); returns the poll timeout until then. */
static int
watchdog_tick(unsigned long long half_ms, int64_t *next_ms)
{
	int64_t now = (int64_t)clock_mono_ms();

	if (now >= *next_ms) {
		svcnotify_watchdog();
		*next_ms = now + (int64_t)half_ms;
	}
	return (int)(*next_ms - now);
}

/* The line at *at of a diff (target_diff, config_diff: lines ending in
 * '\n') and its length; *at moves past it. NULL at the end. */
static const char *
diff_line(const char **at, int *len)
{
	const char *line = *at;

	if (*line == '\0')
		return NULL;
	*len = (int)strcspn(line, "\n");
	*at = line + *len + (line[*len] == '\n');
	return line;
}

/* Appends item (len bytes) to note (used of notelen), after lead for the
 * first item of a list, else after ", "; what does not fit is left out. */
static void
note_add(char *note, size_t notelen, size_t *used, int first, const char *lead,
    int len, const char *item)
{
	int w = snprintf(note + *used, notelen - *used, "%s%.*s",
	    first ? lead : ", ", len, item);

	if (w > 0 && (size_t)w < notelen - *used)
		*used += (size_t)w;
}

/*
 * SIGHUP re-reads users.ini only: the targets' workers are built once, at
 * start. An admin who added a target to relayftpd.ini, or mended one's
 * host or password, and sent SIGHUP saw the target in `mirror status`
 * and nothing arriving, without a word (found from outside). Says, one
 * log line each, which targets the file now adds, changes or removes
 * that the running daemon does not apply, and puts them in note (for
 * systemd's STATUS=), or "" when it applies them all.
 */
static void
say_unapplied_targets(const struct config *cfg, char *note, size_t notelen)
{
	struct config *now = malloc(sizeof(*now));
	struct buf errs, diff;
	const char *line, *at;
	size_t used = 0;
	int n, len;

	note[0] = '\0';
	if (now == NULL) {
		log_warn("SIGHUP: cannot compare %s's targets with the running "
		         "ones: out of memory",
		    cfg->path);
		return;
	}
	buf_init(&errs, 64 * 1024);
	buf_init(&diff, 64 * 1024);
	/* After the drop to run_as the file (or a password_file it names)
	 * may be root's alone, as a file holding the targets' passwords
	 * should be: that it cannot be read now says nothing of a restart,
	 * which reads it as root. Said as what it is, not as a broken file
	 * (every SIGHUP warned "a restart would fail" of a good one). */
	if (geteuid() != 0 && access(cfg->path, R_OK) < 0) {
		log_info("SIGHUP: %s cannot be read by the user relayftpd runs "
		         "as (%s): changes to its targets are not looked at; a "
		         "restart applies them",
		    cfg->path, strerror(errno));
		goto out;
	}
	if (config_load(cfg->path, now, &errs) < 0) {
		const char *e = buf_str(&errs);

		len = (int)strcspn(e, "\n");
		if (geteuid() != 0) {
			log_warn("SIGHUP: %s does not load as the user "
			         "relayftpd runs as (%.*s): changes to its "
			         "targets are not looked at; `relayftpd check` "
			         "as root tells whether a restart would work",
			    cfg->path, len, e);
			fmt_fixed(note, notelen,
			    "; %.300s does not load as the daemon's user (see "
			    "the log)",
			    cfg->path);
			goto out;
		}
		log_warn("SIGHUP: %s does not load (%.*s): the daemon serves "
		         "with the settings of its start; a change there "
		         "needs a restart, once `relayftpd check` passes",
		    cfg->path, len, e);
		fmt_fixed(note, notelen,
		    "; %.300s does not load (see the log): a restart would "
		    "fail",
		    cfg->path);
		goto out;
	}
	n = target_diff(cfg, now, &diff);
	for (at = buf_str(&diff); n != 0 && (line = diff_line(&at, &len));) {
		const char *sp = memchr(line, ' ', (size_t)len);
		const char *what = sp != NULL && strncmp(sp, " added", 6) == 0 ?
		    "not pushed to until a restart" :
		    sp != NULL && strncmp(sp, " removed", 8) == 0 ?
		    "still pushed to until a restart" :
		    "still pushed with the settings of the start until a "
		    "restart";

		log_warn("SIGHUP: %s: target %.*s: %s (SIGHUP re-reads "
		         "users.ini only)",
		    cfg->path, len, line, what);
		note_add(note, notelen, &used, line == buf_str(&diff),
		    "; targets of relayftpd.ini NOT applied until a restart: ",
		    len, line);
	}
	/* The other sections are read once too: an admin who narrowed
	 * passive_ports, set require_login_tls or login_fail_max, or
	 * pointed users_file elsewhere and sent SIGHUP was told only "users
	 * file reloaded", while the start's values stayed in force (found
	 * from outside). Said the same way, one line a key. */
	buf_reset(&diff);
	n = config_diff(cfg, now, &diff);
	for (at = buf_str(&diff); n != 0 && (line = diff_line(&at, &len));) {
		log_warn("SIGHUP: %s: %.*s changed: the value of the start "
		         "stays in force until a restart (SIGHUP re-reads "
		         "users.ini only)",
		    cfg->path, len, line);
		note_add(note, notelen, &used, line == buf_str(&diff),
		    "; settings of relayftpd.ini NOT applied until a restart: ",
		    len, line);
	}
out:
	buf_free(&errs);
	buf_free(&diff);
	free(now);
}

/* Until SIGTERM/SIGINT. 0, or 1 if the signalfd failed. */
static int
signal_loop(struct engine *e, const struct config *cfg, int sfd)
{
	struct server *srv = engine_server(e);
	/* Without WatchdogSec= nothing is sent and the wait has no end. A
	 * half interval is at least 1 ms and fits an int's milliseconds. */
	unsigned long long usec = svcnotify_watchdog_usec();
	unsigned long long half_ms = usec / 2000;
	int64_t next_ms = 0;

	if (usec > 0 && half_ms == 0)
		half_ms = 1;
	if (half_ms > INT_MAX)
		half_ms = INT_MAX;
	if (half_ms > 0)
		log_info("systemd watchdog: WATCHDOG=1 every %llu ms", half_ms);
	for (;;) {
		struct signalfd_siginfo si;
		struct pollfd pfd = { sfd, POLLIN, 0 };
		ssize_t n;
		char note[512];
		int rc, ok;

		rc = poll(&pfd, 1,
		    half_ms > 0 ? watchdog_tick(half_ms, &next_ms) : -1);
		if (rc < 0 && errno != EINTR) {
			log_err("signalfd: poll: %s", strerror(errno));
			return 1;
		}
		if (rc <= 0)
			continue;
		n = read(sfd, &si, sizeof(si));
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(si)) {
			log_err("signalfd: %s",
			    n < 0 ? strerror(errno) : "short read");
			return 1;
		}
		if (si.ssi_signo == SIGHUP) {
			/* A reload may wait up to 10 s for users.ini to keep
			 * still: the interval starts from here. */
			if (half_ms > 0) {
				next_ms = 0;
				(void)watchdog_tick(half_ms, &next_ms);
			}
			svcnotify_reloading();
			log_info(
			    "SIGHUP: reloading %s", users_source_name(cfg));
			ok = server_reload(srv) == 0;
			say_unapplied_targets(cfg, note, sizeof(note));
			svcnotify_reloaded(ok, note);
			continue;
		}
		if (si.ssi_signo == SIGUSR1) {
			/* logrotate renamed the files: write new ones under
			 * the configured names. */
			log_reopen();
			server_reopen_logs(srv);
			continue;
		}
		log_info("signal %u: shutting down", si.ssi_signo);
		return 0;
	}
}

/* Problems gathered by the loaders, one per line, on stderr (journald
 * under systemd): a key or a user name is the admin's bytes, and one
 * that is not UTF-8 or holds a control byte is written '?' there, as in
 * the log (log_defang), so that each line stays one line of text. */
void
daemon_put_errors(const struct buf *errs)
{
	const char *p = buf_str(errs);

	while (*p != '\0') {
		char line[1024];
		size_t n = strcspn(p, "\n");
		size_t k = n < sizeof(line) - 1 ? n : sizeof(line) - 1;

		memcpy(line, p, k);
		log_defang(line, k);
		fputs(log_stderr_priority(LOG_ERR), stderr);
		fwrite(line, 1, k, stderr);
		fputc('\n', stderr);
		p += n;
		if (*p == '\n')
			p++;
	}
}

int
daemon_run(const struct config *cfg)
{
	sigset_t sigs;
	struct engine *e;
	struct engine_opts opts;
	struct buf users_errs;
	char err[1024];
	int sfd, rc;

	log_set_level(cfg->log_level);
	/* As root, before the drop: /var/log may be root's. Its reopen on
	 * SIGUSR1 runs as run_as, which must be able to create the file in
	 * that folder (relayftpd(8), LOGS). */
	if (cfg->log_file[0] != '\0' &&
	    log_open_file(cfg->log_file, err, sizeof(err)) < 0) {
		fprintf(stderr,
		    "%srelayftpd: not started: cannot open log_file %s: %s\n",
		    log_stderr_priority(LOG_ERR), cfg->log_file, err);
		return 1;
	}
	/* Before the mirror creates its queue and before any upload: files
	 * are created 0666 and folders 0777, so this decides their modes.
	 * The root warning and the drop to run_as are privdrop.c's. */
	umask((mode_t)cfg->umask);
	/* The engine's threads block SIGPIPE (a write to a closed socket
	 * fails with EPIPE there); this is for the daemon's own. */
	signal(SIGPIPE, SIG_IGN);
	/* A log line past the file size limit (LimitFSIZE, ulimit -f) fails
	 * with EFBIG, as on a full disk (log.c says the loss), instead of
	 * killing the daemon; the engine's threads block it. */
	signal(SIGXFSZ, SIG_IGN);
	daemon_sigset(&sigs);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (sfd < 0) {
		int err_no = errno;

		log_err("signalfd: %s", strerror(err_no));
		if (cfg->log_file[0] != '\0')
			fprintf(stderr,
			    "%srelayftpd: not started: signalfd: %s\n",
			    log_stderr_priority(LOG_ERR), strerror(err_no));
		return 1;
	}
	buf_init(&users_errs, 1024 * 1024);
	memset(&opts, 0, sizeof(opts));
	opts.users_errs = &users_errs;
	e = engine_new(cfg, &opts, err, sizeof(err));
	if (e == NULL && buf_str(&users_errs)[0] != '\0') {
		/* A users.ini changed since main.c's check, refused by the
		 * server's own: said as that check says it, each line once,
		 * then the same end (the server's log line and the one
		 * below said it twice, with no end). */
		if (cfg->log_file[0] != '\0')
			log_lines(LOG_ERR,
			    "cannot load users: ", buf_str(&users_errs));
		daemon_put_errors(&users_errs);
		fprintf(stderr,
		    "%srelayftpd: not started: fix the lines above\n",
		    log_stderr_priority(LOG_ERR));
		buf_free(&users_errs);
		svcnotify_stopping();
		close(sfd);
		return 1;
	}
	buf_free(&users_errs);
	if (e == NULL || engine_start(e, err, sizeof(err)) < 0) {
		log_err("%s", err);
		/* With log_file the line above went there only: under systemd
		 * the journal would show a bare exit status. */
		if (cfg->log_file[0] != '\0')
			fprintf(stderr,
			    "%srelayftpd: not started: %s (log_file %s "
			    "has the details)\n",
			    log_stderr_priority(LOG_ERR), err, cfg->log_file);
		svcnotify_stopping();
		engine_free(e);
		close(sfd);
		return 1;
	}
	if (engine_admin_port(e) > 0) {
		printf("admin listening on %s\n", engine_admin_url(e));
		fflush(stdout);
	}
	print_listening(engine_server(e));
	/* Every port accepts connections (the kernel queues them from
	 * listen() on), so a unit ordered after us can connect at once. */
	svcnotify_ready();
	rc = signal_loop(e, cfg, sfd);
	svcnotify_stopping();
	engine_free(e);
	close(sfd);
	return rc;
}
