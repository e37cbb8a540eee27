/*
 * embed.c - an FTP server inside a program, with librelayftpd: serves DIR
 * on 127.0.0.1 (a free port, printed) until SIGINT or SIGTERM, to any user
 * whose password is the name spelled backwards; prints each upload.
 *   cc embed.c $(pkg-config --cflags --libs relayftpd) -o embed
 */
#include <relayftpd.h>

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char home[PATH_MAX]; /* absolute, as a grant's home must be */

static enum rftpd_auth
authenticate(void *ud, const struct rftpd_login *in, struct rftpd_grant *g)
{
	size_t n = strlen(in->user), i = 0;

	(void)ud;
	while (i < n && in->password[i] == in->user[n - 1 - i])
		i++;
	if (n == 0 || i < n || in->password[n] != '\0')
		return RFTPD_AUTH_DENY;
	snprintf(g->home, sizeof(g->home), "%s", home);
	g->perms = RFTPD_PERM_RW;
	return RFTPD_AUTH_ALLOW;
}

/* On the session's thread, before the client is told 226. */
static void
upload_complete(void *ud, const struct rftpd_upload *up)
{
	(void)ud;
	printf("received %s from %s: %llu bytes, sha256 %s\n", up->path,
	    up->user, (unsigned long long)up->size, up->sha256);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	struct rftpd_callbacks cb = { .authenticate = authenticate,
		.upload_complete = upload_complete,
		.want_sha256 = 1 };
	struct rftpd_error err = { .message = "cannot start" };
	rftpd_config *cfg = rftpd_config_new();
	rftpd_server *srv = NULL;
	sigset_t sigs;
	int sig;

	if (argc != 2 || realpath(argv[1], home) == NULL) {
		fputs("usage: embed DIR (an existing folder)\n", stderr);
		return 2;
	}
	/* Blocked before the library's threads start; sigwait takes them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	if (rftpd_config_set(cfg, "server", "listen", "127.0.0.1:0") == 0)
		srv = rftpd_server_new(cfg, &err);
	rftpd_config_free(cfg);
	if (srv == NULL ||
	    rftpd_server_set_callbacks(srv, &cb, sizeof(cb)) < 0 ||
	    rftpd_server_start(srv, &err) < 0) {
		fprintf(stderr, "embed: %s\n", err.message);
		rftpd_server_free(srv);
		return 1;
	}
	printf("serving %s on 127.0.0.1:%d\n", home, rftpd_server_port(srv, 0));
	fflush(stdout);
	sigwait(&sigs, &sig);
	rftpd_server_free(srv);
	return 0;
}
