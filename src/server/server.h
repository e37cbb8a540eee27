/*
 * server.h - the listening daemon: sockets, signals, the session pool.
 *
 * Owns: binding the configured addresses, printing "listening on ADDR:PORT",
 * accepting connections, enforcing max_clients and max_clients_per_ip with
 * 421, handing connections to a bounded pool of session threads, SIGHUP
 * reloads and a clean shutdown on SIGTERM/SIGINT. It does not speak FTP:
 * session.c does.
 */
#ifndef RFTP_SERVER_H
#define RFTP_SERVER_H

#include "common/config.h"
#include "common/upload_sink.h"

#include <stdint.h>

struct userdb;
struct accounts;
struct xferlog;
struct tls_server;
struct stats;

/* What sessions share. Read-only after start except where a lock says. */
struct server {
	struct config cfg;
	struct upload_sink sink; /* where completed uploads are reported */
	struct userdb *users;
	struct accounts *accounts;
	struct xferlog *xferlog;
	int stop_fd;       /* eventfd: readable once shutdown starts */
	struct bans *bans; /* login failures per address */
	struct pool *pool;
	struct pasvpool *pasv;  /* passive_ports, shared by all sessions */
	struct tls_server *tls; /* NULL: no [tls] cert, FTPS off */
	/* The daemon's counters (stats.h); NULL: not counted. Sessions
	 * bump them where each event is decided. */
	struct stats *stats;
};

/* Runs until SIGTERM/SIGINT. sink (may be NULL) hears of every completed
 * upload before the client's 226. stats (may be NULL; the caller's, it
 * must outlive the call) gets the sessions' counters and the bans in
 * force. Returns the process exit status. */
int server_run(const struct config *cfg, const struct upload_sink *sink,
    struct stats *stats);
/*
 * Gives the pages of the calling session thread's stack below the caller's
 * frame back to the kernel (they read as zero when used again). A session
 * calls it when it goes idle, so the depth a login, a listing or a
 * transfer once reached is not kept by a session that only waits. Does
 * nothing outside a session thread.
 */
void server_release_stack(void);

#endif
