/*
 * embed.c - an FTP server inside a program, with librelayftpd.
 *
 * Serves DIR on 127.0.0.1 (a free port, printed), lets in any user whose
 * password is the name spelled backwards (the program's own user check),
 * and prints each completed upload. Build:
 *   cc embed.c $(pkg-config --cflags --libs relayftpd) -o embed
 * Run: ./embed DIR [SECONDS]  (until SIGINT/SIGTERM, or that many seconds)
 */
#include <relayftpd.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *home;

static enum rftpd_auth
authenticate(void *ud, const struct rftpd_login *in, struct rftpd_grant *g)
{
	size_t n = strlen(in->user);

	(void)ud;
	if (n == 0 || strlen(in->password) != n)
		return RFTPD_AUTH_DENY;
	for (size_t i = 0; i < n; i++)
		if (in->user[i] != in->password[n - 1 - i])
			return RFTPD_AUTH_DENY;
	snprintf(g->home, sizeof(g->home), "%s", home);
	g->perms = RFTPD_PERM_RW;
	return RFTPD_AUTH_ALLOW;
}

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
	struct rftpd_error err;
	rftpd_config *cfg = rftpd_config_new();
	rftpd_server *srv;
	sigset_t sigs;
	int sig;

	if (argc < 2 || cfg == NULL)
		return 2;
	home = argv[1];
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	rftpd_config_set(cfg, "server", "listen", "127.0.0.1:0");
	srv = rftpd_server_new(cfg, &err);
	rftpd_config_free(cfg);
	if (srv == NULL || rftpd_server_set_callbacks(srv, &cb, sizeof(cb)) ||
	    rftpd_server_start(srv, &err) < 0) {
		fprintf(stderr, "embed: %s\n", err.message);
		rftpd_server_free(srv);
		return 1;
	}
	printf("serving %s on 127.0.0.1:%d\n", home, rftpd_server_port(srv, 0));
	fflush(stdout);
	if (argc > 2)
		alarm((unsigned)atoi(argv[2]));
	sigwait(&sigs, &sig);
	rftpd_server_free(srv);
	return 0;
}
