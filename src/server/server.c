/*
 * server.c - sockets, the accept thread and the bounded pool of session
 * threads.
 *
 * An accept thread owns the listening sockets; it polls them and the stop
 * eventfd, so a stop ends it without a signal. Accepted connections are
 * checked against
 * max_clients and max_clients_per_ip under the pool lock: beyond either the
 * client gets "421" and is closed at once. Otherwise the connection joins a
 * queue served by worker threads, created on demand up to max_clients and
 * reused afterwards. server_stop writes the stop eventfd, which the accept
 * thread and every session poll, then joins them all: no thread outlives
 * it.
 *
 * A worker's stack is RFTP_THREAD_STACK of address space, but only the
 * pages it touches cost memory; server_release_stack lets an idle session
 * give back those a deep call once touched.
 */
#include "server/server.h"

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/stats.h"
#include "common/thread.h"
#include "common/users.h"
#include "common/users_source.h"
#include "server/ban.h"
#include "server/pasvpool.h"
#include "server/privdrop.h"
#include "server/quota.h"
#include "server/session.h"
#include "server/tls.h"
#include "server/xferlog.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
	int fd;
	uint64_t id;
	struct sockaddr_storage peer;
	int implicit; /* came to an implicit FTPS port */
};

struct pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct server *srv;
	pthread_t *threads;
	size_t nthreads, idle, max;
	struct conn *queue; /* ring of max entries */
	size_t qhead, qlen;
	size_t active;                  /* queued + running sessions */
	struct sockaddr_storage *peers; /* one per active slot, for per-IP */
	int stopping;
};

/*
 * One client for max_clients_per_ip: an IPv4 address however it came (a
 * dual-stack listen address shows it v4-mapped, an IPv4 implicit_listen
 * address as AF_INET: counted apart, it had twice the limit). An IPv6
 * address is a client of its own, as vsftpd and pure-ftpd count: the
 * devices of one LAN share its /64 (the login bans count per /64, where
 * one host's guesses are the concern).
 */
static int
same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	unsigned char ka[16], kb[16];

	ban_addr_key(a, 1, ka);
	ban_addr_key(b, 1, kb);
	return memcmp(ka, kb, sizeof(ka)) == 0;
}

/* Slot bookkeeping for per-IP counts: peers[0..active) are live. */
static void
pool_release(struct pool *p, const struct sockaddr_storage *peer)
{
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->active; i++) {
		if (same_host(&p->peers[i], peer)) {
			p->peers[i] = p->peers[p->active - 1];
			break;
		}
	}
	p->active--;
	pthread_mutex_unlock(&p->lock);
}

/* This worker's stack: its lowest usable address (above the guard) and
 * its top; NULL in other threads, where server_release_stack does
 * nothing. */
static __thread char *stack_lo, *stack_hi;

static void
note_stack(void)
{
	pthread_attr_t a;
	void *addr;
	size_t size, guard;

	if (pthread_getattr_np(pthread_self(), &a) != 0)
		return;
	if (pthread_attr_getstack(&a, &addr, &size) == 0 &&
	    pthread_attr_getguardsize(&a, &guard) == 0 && guard < size) {
		stack_lo = (char *)addr + guard;
		stack_hi = (char *)addr + size;
	}
	pthread_attr_destroy(&a);
}

/*
 * Everything below this function's frame is dead: the madvise call needs a
 * few dozen bytes of it (more under a sanitizer's interceptors), and no
 * signal handler runs in a worker (all signals are blocked). The margin
 * covers both. The frame address is the real stack even where a sanitizer
 * moves locals elsewhere; one outside the stack does nothing.
 */
#define STACK_KEEP_BELOW 1024

void
server_release_stack(void)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t frame = (uintptr_t)__builtin_frame_address(0);
	uintptr_t end;

	if (stack_lo == NULL || frame <= (uintptr_t)stack_lo ||
	    frame >= (uintptr_t)stack_hi)
		return;
	end = (frame - STACK_KEEP_BELOW) & ~(page - 1);
	if (end <= (uintptr_t)stack_lo)
		return;
	if (madvise(stack_lo, end - (uintptr_t)stack_lo, MADV_DONTNEED) < 0)
		log_debug("madvise of an idle stack: %s", strerror(errno));
}

/* The bans gauge, read when the counters are (bans end by time, so no
 * event could keep a stored value right). */
static int64_t
bans_gauge(void *ctx)
{
	return (int64_t)bans_active(ctx);
}

static void *
worker_main(void *arg)
{
	struct pool *p = arg;

	note_stack();
	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct conn c;

		while (p->qlen == 0 && !p->stopping)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->qlen == 0 && p->stopping)
			break;
		c = p->queue[p->qhead];
		p->qhead = (p->qhead + 1) % p->max;
		p->qlen--;
		p->idle--;
		pthread_mutex_unlock(&p->lock);
		session_run(p->srv, c.fd, c.id, c.implicit);
		pool_release(p, &c.peer);
		pthread_mutex_lock(&p->lock);
		p->idle++;
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static struct pool *
pool_new(struct server *srv, size_t max)
{
	struct pool *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->srv = srv;
	p->max = max;
	p->threads = calloc(max, sizeof(*p->threads));
	p->queue = calloc(max, sizeof(*p->queue));
	p->peers = calloc(max, sizeof(*p->peers));
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	if (p->threads == NULL || p->queue == NULL || p->peers == NULL) {
		free(p->threads);
		free(p->queue);
		free(p->peers);
		free(p);
		return NULL;
	}
	return p;
}

static void
pool_free(struct pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->stopping = 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (size_t i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	/* Connections queued but never served are closed unanswered. */
	while (p->qlen > 0) {
		close(p->queue[p->qhead].fd);
		p->qhead = (p->qhead + 1) % p->max;
		p->qlen--;
	}
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p->threads);
	free(p->queue);
	free(p->peers);
	free(p);
}

static void
refuse(int fd, const char *text)
{
	/* Best effort: the client may already be gone. */
	if (send(fd, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("421 not delivered: %s", strerror(errno));
	close(fd);
}

/* Whether peer may have one more refusal line this second
 * (RFTP_REFUSED_LOG_PER_ADDRESS): a client holding its
 * max_clients_per_ip and reconnecting in a loop spent the whole budget,
 * so the server then full (max_clients) or another address banned was
 * refused with no line. The least recently refused address gives its
 * slot to a new one. The accept thread's only. */
static int
refused_address_allows(struct server *srv, const struct sockaddr_storage *peer)
{
	uint64_t now = clock_mono_ms() / 1000;
	struct refused_seen *slot = NULL, *oldest = &srv->refused_seen[0];

	for (size_t i = 0; i < RFTP_REFUSED_ADDRS; i++) {
		struct refused_seen *e = &srv->refused_seen[i];

		if (e->used && same_host(&e->peer, peer)) {
			slot = e;
			break;
		}
		if (!e->used || (oldest->used && e->second < oldest->second))
			oldest = e;
	}
	if (slot == NULL) {
		slot = oldest;
		slot->peer = *peer;
		slot->used = 1;
		slot->lines = 0;
	}
	if (slot->second != now) {
		slot->second = now;
		slot->lines = 0;
	}
	if (slot->lines >= RFTP_REFUSED_LOG_PER_ADDRESS)
		return 0;
	slot->lines++;
	return 1;
}

/* The log line of a connection refused before its session: the
 * session's "[ID ADDRESS -]" prefix, so that an admin (or fail2ban) sees
 * who is refused, as for a session's own lines. On a budget as the
 * sessions' refusals are (session_capped_budget): a client holding its
 * max_clients_per_ip, or a banned one, that reconnects in a loop had a
 * line written per connection, 2,000 in 0.3 s. */
static void
log_refused(struct server *srv, const struct conn *c, enum log_level level,
    const char *why)
{
	char ip[INET6_ADDRSTRLEN];

	if (!refused_address_allows(srv, &c->peer)) {
		/* Counted in the budget's "N refused connections not
		 * logged". */
		session_capped_count(srv, CAPPED_REFUSED);
		return;
	}
	if (!session_capped_budget(srv, CAPPED_REFUSED))
		return;

	log_addr_text((const struct sockaddr *)&c->peer, ip, sizeof(ip));
	log_msg(level, "[%llu %s -] refused: %s", (unsigned long long)c->id, ip,
	    why);
}

/* Queues a connection or refuses it with 421. */
static void
pool_submit(struct server *srv, struct conn *c)
{
	struct pool *p = srv->pool;
	uint64_t per_ip_max = srv->cfg.max_clients_per_ip;
	char why[128];
	size_t same = 0;
	int err;

	pthread_mutex_lock(&p->lock);
	if (p->active >= p->max) {
		pthread_mutex_unlock(&p->lock);
		fmt_fixed(
		    why, sizeof(why), "max_clients (%zu) reached", p->max);
		log_refused(srv, c, LOG_INFO, why);
		refuse(c->fd, "421 Too many users connected, try later.\r\n");
		return;
	}
	for (size_t i = 0; i < p->active; i++)
		same += same_host(&p->peers[i], &c->peer);
	if (same >= per_ip_max) {
		pthread_mutex_unlock(&p->lock);
		fmt_fixed(why, sizeof(why), "max_clients_per_ip (%llu) reached",
		    (unsigned long long)per_ip_max);
		log_refused(srv, c, LOG_INFO, why);
		refuse(c->fd,
		    "421 Too many connections from your address, "
		    "try later.\r\n");
		return;
	}
	if (p->idle <= p->qlen && p->nthreads < p->max) {
		err = thread_start(&p->threads[p->nthreads], RFTP_THREAD_STACK,
		    worker_main, p);
		if (err != 0) {
			/* No thread free to take it: queued, it waited
			 * unanswered until some session ended, which may be
			 * hours (found by fault injection). Refused now, the
			 * client can try again. */
			pthread_mutex_unlock(&p->lock);
			fmt_fixed(why, sizeof(why),
			    "cannot start a session thread: %s", strerror(err));
			log_refused(srv, c, LOG_ERR, why);
			refuse(c->fd,
			    "421 Cannot start a session now, try "
			    "later.\r\n");
			return;
		}
		p->nthreads++;
		p->idle++;
	}
	p->peers[p->active++] = c->peer;
	p->queue[(p->qhead + p->qlen) % p->max] = *c;
	p->qlen++;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

/*
 * Each session holds a few descriptors, so max_clients is only real if
 * RLIMIT_NOFILE allows it: the soft limit (1024 on many systems) is raised
 * to the hard one, and a hard limit still too low is said at start, with
 * the number needed, instead of as EMFILE in the middle of a busy day.
 * Returns the sessions the limit allows at once: max_clients, or fewer,
 * so that sessions never take the descriptors the daemon itself needs
 * (its queue, logs, mirror connections, the admin listener, whose thread
 * spun on a failing accept once sessions had taken them all).
 */
static size_t
check_fd_budget(const struct config *cfg)
{
	struct rlimit rl;
	uint64_t max_clients = cfg->max_clients;
	/* The admin listener's connections are the daemon's too: counted
	 * at their bound beside the reserve, so no flood of them can take
	 * what the sessions were promised. */
	rlim_t admin = 0, others, need;
	uint64_t fit;

	if (cfg->admin.enabled)
		admin = (rlim_t)cfg->admin.max_connections *
		    RFTP_FDS_PER_ADMIN_CONN;
	others = RFTP_FDS_RESERVE + admin;
	need = (rlim_t)max_clients * RFTP_FDS_PER_SESSION + others;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		log_warn("cannot read RLIMIT_NOFILE: %s", strerror(errno));
		return (size_t)max_clients;
	}
	if (rl.rlim_cur < need && rl.rlim_cur != rl.rlim_max) {
		rlim_t old = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			log_warn("cannot raise RLIMIT_NOFILE to %llu: %s",
			    (unsigned long long)rl.rlim_max, strerror(errno));
			rl.rlim_cur = old;
		} else {
			log_info("file descriptor limit raised from %llu to "
			         "%llu",
			    (unsigned long long)old,
			    (unsigned long long)rl.rlim_cur);
		}
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
		return (size_t)max_clients;
	fit = rl.rlim_cur > others + RFTP_FDS_PER_SESSION ?
	    (uint64_t)((rl.rlim_cur - others) / RFTP_FDS_PER_SESSION) :
	    1;
	log_warn("max_clients %llu needs about %llu file descriptors (%llu of "
	         "them for [admin] max_connections) but the limit is %llu: at "
	         "most %llu sessions at once (421 beyond); raise the hard "
	         "limit (ulimit -Hn, systemd LimitNOFILE=) or lower "
	         "max_clients",
	    (unsigned long long)max_clients, (unsigned long long)need,
	    (unsigned long long)admin, (unsigned long long)rl.rlim_cur,
	    (unsigned long long)fit);
	return (size_t)fit;
}

/* The accept thread's wait where trying again at once would spin. */
static void
accept_pause(void)
{
	struct timespec ts = { 0, 100 * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

/*
 * accept() failed for lack of descriptors. The connection stays queued and
 * poll() would report it again at once (a busy loop), so the spare
 * descriptor kept for this is given up to accept it, answer 421 and close
 * it. Returns the new spare (-1 if it could not be taken back yet).
 */
static int
shed_connection(struct server *srv, int lfd, int spare)
{
	int fd;

	if (srv->shed++ % 100 == 0)
		log_warn("out of file descriptors (RLIMIT_NOFILE): new "
		         "connections refused with 421 (%llu so far)",
		    (unsigned long long)srv->shed);
	if (spare >= 0)
		close(spare);
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0)
		refuse(fd, "421 Server busy, try later.\r\n");
	spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (spare < 0 || fd < 0)
		accept_pause(); /* nothing to shed with: no spin on it */
	return spare;
}

/*
 * accept() failed for the kernel's lack of memory (ENOBUFS, ENOMEM): the
 * connection stays queued and poll() reported it again at once, so the
 * accept thread spun on it, with nothing in the log (found by fault
 * injection). Said (the first time and every 100th), and tried again in
 * 0.1 s, as a failed poll is.
 */
static void
accept_starved(struct server *srv, int err)
{
	if (srv->starved++ % 100 == 0)
		log_err("accept: %s: accepting again in 0.1 s (%llu so far)",
		    strerror(err), (unsigned long long)srv->starved);
	accept_pause();
}

static int
open_listener(const struct listen_addr *la, int v6only)
{
	int fd, one = 1;

	fd = socket(la->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (la->ss.ss_family == AF_INET6)
		setsockopt(
		    fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
	/* A large backlog (the kernel caps it at net.core.somaxconn, 4096
	 * by default; glibc's SOMAXCONN was 128 before 2.34): hundreds of clients that connect at once (cameras
	 * back after an outage) while the acceptor is held up are queued,
	 * not dropped to retry their handshake 1, 3, 7 s later. 128 kept
	 * 129 of 300 (test_listen_backlog). */
	if (bind(fd, (const struct sockaddr *)&la->ss, la->len) < 0 ||
	    listen(fd, 4096) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* The accept thread: until stop_fd is written. */
static void *
accept_main(void *arg)
{
	struct server *srv = arg;
	struct pollfd pf[2 * RFTP_LISTEN_MAX + 1];
	uint64_t next_id = 1;

	for (;;) {
		unsigned i, nl = srv->nl;

		for (i = 0; i < nl; i++) {
			pf[i].fd = srv->lfd[i];
			pf[i].events = POLLIN;
		}
		pf[nl].fd = srv->stop_fd;
		pf[nl].events = POLLIN;
		/* Wakes when a count of connections not logged one by one is
		 * due: a flood that stopped had it said only at the next
		 * connection, or at the stop. */
		if (poll(pf, nl + 1, session_conn_counts_due(srv)) < 0) {
			/* EINTR, or ENOMEM (the kernel's, for a moment):
			 * a listener that stopped accepting would look
			 * alive to systemd and to clients, so try again. */
			if (errno != EINTR) {
				log_err("poll: %s: accepting again in 0.1 s",
				    strerror(errno));
				accept_pause();
			}
			continue;
		}
		if (pf[nl].revents & POLLIN)
			break;
		for (i = 0; i < nl; i++) {
			struct conn c;
			socklen_t len = sizeof(c.peer);

			if (!(pf[i].revents & POLLIN))
				continue;
			c.fd = accept4(srv->lfd[i], (struct sockaddr *)&c.peer,
			    &len, SOCK_CLOEXEC);
			if (c.fd < 0 && (errno == EMFILE || errno == ENFILE))
				srv->spare = shed_connection(
				    srv, srv->lfd[i], srv->spare);
			else if (c.fd < 0 &&
			    (errno == ENOBUFS || errno == ENOMEM))
				accept_starved(srv, errno);
			if (c.fd < 0)
				continue;
			c.id = next_id++;
			c.implicit = srv->limplicit[i];
			if (bans_check(srv->bans, &c.peer)) {
				log_refused(srv, &c, LOG_INFO,
				    "address banned after failed logins");
				refuse(c.fd,
				    "421 Too many failed logins from "
				    "your address; try again later.\r\n");
				continue;
			}
			pool_submit(srv, &c);
		}
	}
	return NULL;
}

struct server *
server_new(const struct config *cfg, const struct server_opts *opts, char *err,
    size_t errlen)
{
	struct server *srv = calloc(1, sizeof(*srv));
	struct buf errs;

	if (srv == NULL) {
		fmt_fixed(err, errlen, "out of memory");
		userdb_close(opts != NULL ? opts->users : NULL);
		return NULL;
	}
	srv->cfg = *cfg;
	srv->stop_fd = -1;
	srv->spare = -1;
	pthread_mutex_init(&srv->capped_lock, NULL);
	for (size_t i = 0; i < RFTP_CAPPED_KINDS; i++) {
		srv->capped[i].at_ms = clock_mono_ms();
		srv->capped[i].milli = (uint64_t)RFTP_CAPPED_LOG_BURST * 1000;
	}
	srv->conn_all.at_ms = clock_mono_ms();
	srv->conn_all.milli = (uint64_t)RFTP_CAPPED_LOG_BURST * 1000;
	srv->warn_anon_all.at_ms = clock_mono_ms();
	srv->warn_anon_all.milli = (uint64_t)RFTP_WARN_ANON_BURST * 1000;
	srv->warn_fresh.at_ms = clock_mono_ms();
	srv->warn_fresh.milli = (uint64_t)RFTP_WARN_FRESH_BURST * 1000;
	if (opts != NULL) {
		if (opts->sink != NULL)
			srv->sink = *opts->sink;
		if (opts->auth != NULL)
			srv->auth = *opts->auth;
		if (opts->notice != NULL)
			srv->notice = *opts->notice;
		srv->stats = opts->stats;
		srv->users = opts->users;
	}
	if (srv->users == NULL) {
		buf_init(&errs, 64 * 1024);
		srv->users = users_source_open(cfg,
		    opts != NULL ? opts->users_check : NULL,
		    opts != NULL ? opts->users_check_ctx : NULL, &errs);
		if (srv->users == NULL) {
			/* The first problem; check prints them all. */
			const char *text = buf_str(&errs);

			/* Logged if the caller's buffer cannot take them:
			 * never lost. */
			if (opts == NULL || opts->users_errs == NULL ||
			    buf_adds(opts->users_errs, text) < 0)
				log_lines(LOG_ERR, "cannot load users: ", text);
			fmt_fixed(err, errlen, "cannot load users: %.*s",
			    (int)strcspn(text, "\n"), text);
			buf_free(&errs);
			free(srv);
			return NULL;
		}
		buf_free(&errs);
	}
	srv->accounts = accounts_new();
	srv->bans = bans_new(
	    cfg->login_fail_max, cfg->login_fail_window, cfg->login_ban_time);
	srv->pasv = pasvpool_new(cfg->pasv_lo, cfg->pasv_hi);
	srv->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	srv->pool = pool_new(srv, check_fd_budget(cfg));
	if (srv->accounts == NULL || srv->bans == NULL || srv->pasv == NULL ||
	    srv->stop_fd < 0 || srv->pool == NULL) {
		fmt_fixed(err, errlen, "out of memory or descriptors");
		goto fail;
	}
	if (cfg->xferlog[0] != '\0') {
		srv->xferlog = xferlog_open(cfg->xferlog);
		if (srv->xferlog == NULL) {
			fmt_fixed(err, errlen, "cannot open xferlog %s: %s",
			    cfg->xferlog, strerror(errno));
			goto fail;
		}
	}
	if (cfg->tls.cert[0] != '\0') {
		char why[512];

		srv->tls = tls_server_new(&cfg->tls, why, sizeof(why));
		if (srv->tls == NULL) {
			fmt_fixed(err, errlen, "[tls]: %s", why);
			goto fail;
		}
	}
	stats_gauge_source(srv->stats, STAT_BANS_ACTIVE, bans_gauge, srv->bans);
	srv->stopped = 1; /* until started: a stop has nothing to do */
	return srv;
fail:
	srv->stopped = 1;
	server_free(srv);
	return NULL;
}

/*
 * Stops listening on fd and closes it. A close alone leaves the socket
 * listening in every copy of the descriptor: a host's fork() child that
 * never execs (an embedding program's worker processes) kept the port,
 * so clients connected after the stop and waited for a greeting that
 * never came, and a new server on that port could not bind it (found
 * from outside). shutdown() ends the listening itself, for every copy.
 */
static void
listener_close(int fd)
{
	/* ENOTCONN: never listened (a failed start). */
	if (shutdown(fd, SHUT_RDWR) < 0 && errno != ENOTCONN)
		log_warn(
		    "cannot shut a listening socket down: %s", strerror(errno));
	close(fd);
}

int
server_start(struct server *srv, char *err, size_t errlen)
{
	const struct config *cfg = &srv->cfg;
	int have_v4 = 0, rc;

	if (srv->nl > 0 || srv->accepting) {
		fmt_fixed(err, errlen, "already started");
		return -1;
	}
	srv->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	for (unsigned i = 0; i < cfg->nlisten; i++)
		have_v4 |= cfg->listen[i].ss.ss_family == AF_INET;
	for (unsigned i = 0; i < cfg->nlisten + cfg->tls.nimplicit; i++) {
		int imp = i >= cfg->nlisten;
		const struct listen_addr *la = imp ?
		    &cfg->tls.implicit[i - cfg->nlisten] :
		    &cfg->listen[i];

		srv->lfd[srv->nl] = open_listener(la, have_v4);
		if (srv->lfd[srv->nl] < 0) {
			fmt_fixed(err, errlen, "cannot listen on %s: %s",
			    la->text, strerror(errno));
			goto fail;
		}
		srv->limplicit[srv->nl++] = imp;
	}
	/* Ports below 1024 need root: drop it now, before serving. */
	if (privdrop_apply(cfg) < 0) {
		fmt_fixed(err, errlen, "cannot drop root to run_as %s (logged)",
		    cfg->run_as);
		goto fail;
	}
	if (srv->tls != NULL)
		log_info("FTPS on: TLS %s or newer, login TLS %s, data TLS "
		         "%s, session reuse %s",
		    cfg->tls.min_version,
		    cfg->tls.require_login_tls ? "required" : "optional",
		    cfg->tls.require_data_tls ? "required" : "optional",
		    cfg->tls.require_session_reuse ? "required" : "optional");
	srv->stopped = 0;
	rc = thread_start(&srv->acceptor, 0, accept_main, srv);
	if (rc != 0) {
		fmt_fixed(err, errlen, "cannot start the accept thread: %s",
		    strerror(rc));
		srv->stopped = 1;
		goto fail;
	}
	srv->accepting = 1;
	log_info("relayftpd ready: max_clients %llu, %llu per IP",
	    (unsigned long long)cfg->max_clients,
	    (unsigned long long)cfg->max_clients_per_ip);
	return 0;
fail:
	for (unsigned i = 0; i < srv->nl; i++)
		listener_close(srv->lfd[i]);
	srv->nl = 0;
	return -1;
}

unsigned
server_nports(const struct server *srv)
{
	return srv->nl;
}

int
server_address(const struct server *srv, unsigned i,
    struct sockaddr_storage *out, int *implicit)
{
	socklen_t len = sizeof(*out);

	if (i >= srv->nl ||
	    getsockname(srv->lfd[i], (struct sockaddr *)out, &len) < 0)
		return -1;
	if (implicit != NULL)
		*implicit = srv->limplicit[i];
	return 0;
}

int
server_reload(struct server *srv)
{
	return userdb_reload(srv->users);
}

struct userdb *
server_users(struct server *srv)
{
	return srv->users;
}

void
server_reopen_logs(struct server *srv)
{
	xferlog_reopen(srv->xferlog);
}

void
server_stop(struct server *srv)
{
	uint64_t one = 1;

	if (srv == NULL || srv->stopped)
		return;
	srv->stopped = 1;
	atomic_store(&srv->stopping, 1);
	if (write(srv->stop_fd, &one, sizeof(one)) < 0)
		log_err("cannot signal sessions to stop: %s", strerror(errno));
	if (srv->accepting)
		pthread_join(srv->acceptor, NULL);
	srv->accepting = 0;
	for (unsigned i = 0; i < srv->nl; i++)
		listener_close(srv->lfd[i]);
	srv->nl = 0;
	/* A PASV waiting for a port does not watch stop_fd: wake it. */
	pasvpool_stop(srv->pasv);
	/* Joins every session thread; queued connections are closed. */
	pool_free(srv->pool);
	srv->pool = NULL;
	session_log_capped_flush(srv);
	log_info("stopped");
}

void
server_free(struct server *srv)
{
	if (srv == NULL)
		return;
	server_stop(srv);
	if (srv->pool != NULL)
		pool_free(srv->pool);
	if (srv->spare >= 0)
		close(srv->spare);
	if (srv->stop_fd >= 0)
		close(srv->stop_fd);
	xferlog_close(srv->xferlog);
	accounts_free(srv->accounts);
	/* No reader may be inside bans_gauge once the bans are gone. */
	stats_gauge_source(srv->stats, STAT_BANS_ACTIVE, NULL, NULL);
	stats_gauge_set(srv->stats, STAT_BANS_ACTIVE, 0);
	bans_free(srv->bans);
	pasvpool_free(srv->pasv);
	tls_server_free(srv->tls);
	userdb_close(srv->users);
	pthread_mutex_destroy(&srv->capped_lock);
	free(srv);
}
