/*
 * server.h - the listening server: sockets, the session pool, its life.
 *
 * Owns: binding the configured addresses, accepting connections in a
 * thread of its own, enforcing max_clients and max_clients_per_ip with
 * 421, handing connections to a bounded pool of session threads, reloading
 * users and a clean, bounded stop. It does not speak FTP (session.c does),
 * and it neither handles signals nor prints: the daemon (src/cli/) and the
 * library (src/lib/) decide what a signal or a bound port means. An object:
 * a process may run several.
 */
#ifndef RFTP_SERVER_H
#define RFTP_SERVER_H

#include "common/buf.h"
#include "common/config.h"
#include "common/upload_sink.h"
#include "common/users.h"

#include <stdatomic.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>

struct userdb;
struct accounts;
struct xferlog;
struct tls_server;
struct stats;
struct user;

/* What a login hook (the library's authenticate callback) decides. */
enum server_auth_verdict {
	SERVER_AUTH_DENY,
	SERVER_AUTH_ALLOW, /* *out is the user, home and rights */
	SERVER_AUTH_PASS,  /* the users file decides */
};

/* Asked at PASS before the users file, on the session's thread. */
struct server_auth {
	enum server_auth_verdict (*fn)(void *ctx, const char *user,
	    const char *password, const char *peer_ip, int tls,
	    struct user *out);
	void *ctx;
};

/* An upload that ended without a published file (the library's
 * upload_aborted): told after the session has given it up. */
struct server_notice {
	void (*upload_aborted)(void *ctx, const char *user, const char *home,
	    const char *path, uint64_t received, const char *peer_ip);
	void *ctx;
};

/* What a server is made with besides its config. Each may be NULL. */
struct server_opts {
	const struct upload_sink *sink; /* hears of every change in a home */
	struct stats *stats;            /* must outlive the server */
	const struct server_auth *auth;
	const struct server_notice *notice;
	/* The user store to use instead of opening cfg->users_file (the
	 * library's built users); the server closes it. */
	struct userdb *users;
	/* Without users: run on the users file as server_new reads it,
	 * before it is served (server_new fails if it refuses), and on
	 * every reload (userdb_open_checked). NULL: parsing only. */
	userdb_check_fn users_check;
	void *users_check_ctx;
	/* Without users: where the lines of a users file server_new refuses
	 * go instead of the log (the daemon prints them as its start's
	 * check does, once). NULL: logged. */
	struct buf *users_errs;
};

/* What sessions share. Read-only after start except where a lock says. */
/* What the budgets of capped lines are for (struct server's capped[];
 * session_log_capped, session_capped_budget). */
enum capped_kind {
	CAPPED_OWN_WARN, /* a logged-in client's own: a bounce, a quota */
	CAPPED_STRANGER, /* warnings anyone can cause, logged in or not */
	CAPPED_INFO,     /* refusals: unknown commands, paths, ... */
	CAPPED_REFUSED,  /* connections refused before a session (server.c) */
};
#define RFTP_CAPPED_KINDS 4

struct server {
	struct config cfg;
	struct upload_sink sink; /* where completed uploads are reported */
	struct userdb *users;
	struct accounts *accounts;
	struct xferlog *xferlog;
	int stop_fd; /* eventfd: readable once shutdown starts */
	/* Set with stop_fd, for work that looks at a flag rather than a
	 * descriptor (a HASH of a big file: hash_fd). */
	atomic_int stopping;
	/* Set once a clear-text USER of a name that needs TLS, with no
	 * [tls] cert, has been logged (cmd_auth.c): a configuration error,
	 * said once at warning level, not on the budget of strangers'
	 * warnings, which a stranger's flood spends. */
	atomic_int nocert_said;
	struct server_auth auth;     /* fn NULL: the users file only */
	struct server_notice notice; /* upload_aborted NULL: nobody */
	struct bans *bans;           /* login failures per address */
	struct pool *pool;
	struct pasvpool *pasv;  /* passive_ports, shared by all sessions */
	struct tls_server *tls; /* NULL: no [tls] cert, FTPS off */
	/* The daemon's counters (stats.h); NULL: not counted. Sessions
	 * bump them where each event is decided. */
	struct stats *stats;
	/* The budgets of all sessions' capped lines (session_log_capped: a
	 * token bucket of RFTP_CAPPED_LOG_BURST lines, refilled at
	 * RFTP_CAPPED_LOG_PER_SECOND), under capped_lock: a count per
	 * session is no bound for a client that reconnects. One for each
	 * kind of session.c's enum capped_kind: a logged-in client's own
	 * warnings (a bounce, a quota), the warnings anyone can cause (a
	 * stranger on a passive port, a session not logged in), the rest,
	 * and connections refused before a session: neither a flood of
	 * unknown commands nor a stranger's knocking on passive ports may
	 * hide a bounce attempt. */
	pthread_mutex_t capped_lock;
	struct capped_bucket {
		uint64_t at_ms;   /* clock_mono_ms() of the last refill */
		uint64_t milli;   /* lines left, in thousandths */
		uint64_t dropped; /* not logged since the last line said */
		/* clock_mono_ms() of the first of dropped: its count is due
		 * RFTP_CONN_SUMMARY_S later (session_conn_counts_due) */
		uint64_t dropped_ms;
	} capped[RFTP_CAPPED_KINDS];
	/* Under capped_lock too: the sources of logged-in clients'
	 * warnings lately (session.c's warn_budget: a user, or an
	 * anonymous login's address, and the kind of warning), each with
	 * a bucket of its own, and one for all anonymous logins together,
	 * so that one client reconnecting in a loop, or anonymous ones
	 * from many addresses, cannot spend all of CAPPED_OWN_WARN's
	 * budget, and a user's bounces cannot spend their quota
	 * warnings'. */
	struct warn_source {
		/* 'u', the kind's 8-byte hash and the user's name, or 'a',
		 * the hash and ban_addr_key's 16 bytes; key_len bytes of it
		 * are the key. */
		unsigned char key[1 + 8 + RFTP_USER_MAX];
		size_t key_len;
		struct capped_bucket bucket; /* its dropped unused */
		/* clock_mono_ms() + 1 of its last line from warn_fresh, 0
		 * if none: one a RFTP_WARN_FRESH_AGAIN_S, or users pausing
		 * 4 s between their lines spent the reserve. */
		uint64_t fresh_ms;
	} warn_seen[RFTP_WARN_SOURCES];
	/* Named users' pairs pushed out of warn_seen: their bucket and
	 * fresh_ms, by hash (fnv1a64 of the key; 0 is an empty way), in
	 * the set of hash % RFTP_WARN_GHOST_SETS, taken back when the pair
	 * is heard of again. Without them, more than 64 pairs looping each
	 * came back new: a full burst, and quiet, so they spent the
	 * reserve. */
	struct warn_ghost {
		uint64_t hash;
		struct capped_bucket bucket; /* its dropped unused */
		uint64_t fresh_ms;
	} warn_ghost[RFTP_WARN_GHOST_SETS][RFTP_WARN_GHOST_WAYS];
	/* The same for anonymous logins' addresses, apart: in one table,
	 * anonymous logins from many addresses pushed a named user's pair
	 * out between two of her sessions, and each came back with a full
	 * burst (20 lines a session where 5 a second was meant). */
	struct warn_source warn_seen_anon[RFTP_WARN_SOURCES];
	/* All anonymous logins' warnings, a bucket per kind (the last
	 * RFTP_WARN_ANON_KINDS kinds heard of): with one for all kinds,
	 * anonymous bounces from many addresses hid an anonymous login's
	 * warning that its home cannot be counted. */
	struct warn_anon {
		uint64_t kind; /* warn_budget's hash of the kind's name */
		int used;
		struct capped_bucket bucket; /* its dropped unused */
	} warn_anon[RFTP_WARN_ANON_KINDS];
	/* All anonymous logins' warnings of every kind together
	 * (RFTP_WARN_ANON_BURST, half of CAPPED_OWN_WARN's): with only a
	 * bucket a kind, floods of two kinds took the whole budget, and a
	 * named user's warnings were only counted. */
	struct capped_bucket warn_anon_all; /* its dropped unused */
	/* The reserve of named users quiet of a kind lately
	 * (RFTP_WARN_FRESH_BURST): users looping with warnings spent all of
	 * capped[CAPPED_OWN_WARN], and a quiet user's first was only
	 * counted. */
	struct capped_bucket warn_fresh; /* its dropped unused */
	/* Under capped_lock too: the addresses that connected lately
	 * (session.c's conn_budget; ban_addr_key's 16 bytes, IPv6 by its
	 * /64), each with a budget of "connected" lines and the counts of
	 * its connections and closes not logged one by one since since_ms,
	 * said in one line RFTP_CONN_SUMMARY_S later: a script connecting
	 * in a loop had two lines written a connection, 700 KB a second. */
	struct conn_seen {
		unsigned char key[16];
		int used;
		char ip[48];                 /* the text of its first peer */
		struct capped_bucket bucket; /* its dropped unused */
		uint64_t since_ms; /* the first left out since the last said */
		uint64_t connects; /* connections not logged since since_ms */
		uint64_t closes;   /* closes not logged since since_ms */
		uint64_t logins;   /* anonymous logins not logged since */
	} conn_seen[RFTP_CONN_ADDRS];
	/* All addresses' "connected" lines together: many addresses each
	 * within its burst are no bound. */
	struct capped_bucket conn_all; /* its dropped unused */
	/* The counts of addresses pushed out of conn_seen (addrs: times)
	 * since other.since_ms, said as their own would have been. */
	struct conn_seen conn_other;
	uint64_t conn_other_addrs;
	/* The addresses whose connections were refused lately, with the
	 * lines each had this second (log_refused; the accept thread's
	 * only): one address refused in a loop cannot spend all of
	 * CAPPED_REFUSED's budget. */
	struct refused_seen {
		struct sockaddr_storage peer;
		uint64_t second; /* clock_mono_ms() / 1000 of lines */
		unsigned lines;
		int used;
	} refused_seen[RFTP_REFUSED_ADDRS];
	/* Owned by server.c: the listening sockets and the accept thread. */
	int lfd[2 * RFTP_LISTEN_MAX];
	int limplicit[2 * RFTP_LISTEN_MAX];
	unsigned nl;
	int spare;        /* kept for shedding at EMFILE */
	uint64_t shed;    /* connections refused for lack of descriptors */
	uint64_t starved; /* accepts failed for the kernel's memory */
	pthread_t acceptor;
	int accepting; /* the accept thread runs (join it) */
	int stopped;
};

/*
 * Loads the users (or takes opts->users), sets up TLS, the xferlog and the
 * pools; binds nothing. NULL with the reason in err.
 */
struct server *server_new(const struct config *cfg,
    const struct server_opts *opts, char *err, size_t errlen);
/*
 * Binds every listen and implicit_listen address, drops root to run_as
 * if set, and starts accepting in a thread of its own. Returns once every
 * port accepts connections (the kernel queues them from listen() on). 0,
 * or -1 with the reason in err and nothing bound. Once per server.
 */
int server_start(struct server *srv, char *err, size_t errlen);
/* The bound addresses: listen ones, then implicit_listen ones. */
unsigned server_nports(const struct server *srv);
/* The i-th bound address into *out; 0, or -1 past the end. *implicit: 1
 * for an implicit FTPS port. */
int server_address(const struct server *srv, unsigned i,
    struct sockaddr_storage *out, int *implicit);
/* Re-reads the users file now (SIGHUP). 0, or -1 (the old users stay). */
int server_reload(struct server *srv);
/* The user store the server logs in against (common/users.h): the mirror's
 * watcher shares it, so both have the same users. It lives as long as
 * the server. */
struct userdb *server_users(struct server *srv);
/* Opens xferlog again (logrotate; the log itself is log.h's). */
void server_reopen_logs(struct server *srv);
/*
 * Stops accepting, tells every session to end (stop_fd), wakes a PASV
 * waiting for a port, and joins the accept thread and every session
 * thread: none outlives this call. Idempotent; a server never started
 * is only marked stopped.
 */
void server_stop(struct server *srv);
/* Stops it if needed and frees it; NULL is a no-op. */
void server_free(struct server *srv);
/*
 * Gives the pages of the calling session thread's stack below the caller's
 * frame back to the kernel (they read as zero when used again). A session
 * calls it when it goes idle, so the depth a login, a listing or a
 * transfer once reached is not kept by a session that only waits. Does
 * nothing outside a session thread.
 */
void server_release_stack(void);

#endif
