/*
 * datachan.c - see datachan.h.
 *
 * Passive ports come from the server's pasvpool (one listener per port
 * at a time, waiting for a port when all listen); the listener goes back
 * to the pool as soon as the data connection is accepted. Waiting for the
 * connection polls the stop eventfd too, so shutdown is never held up by a
 * client that never connects.
 */
#include "server/datachan.h"

#include "common/log.h"
#include "common/syserr.h"
#include "server/pasvpool.h"
#include "server/server.h"
#include "server/session.h"
#include "server/tls.h"
#include "server/reply.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static const char *const dc_mode_names[] = {
	[DC_NONE] = "none",
	[DC_PASSIVE] = "passive",
	[DC_ACTIVE] = "active",
};

const char *
dc_mode_name(enum dc_mode m)
{
	switch (m) {
	case DC_NONE:
	case DC_PASSIVE:
	case DC_ACTIVE:
		return dc_mode_names[m];
	}
	return "?";
}

void
dc_enter_state(struct session *s, enum dc_mode to)
{
	if (s->dc_mode == to)
		return;
	slog(s, LOG_DEBUG, "data channel %s -> %s", dc_mode_name(s->dc_mode),
	    dc_mode_name(to));
	s->dc_mode = to;
}

/* Compares the IP part of two addresses, seeing through v4-mapped v6. */
static int
same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	unsigned char ab[16], bb[16];
	size_t al, bl;
	const struct sockaddr_storage *in[2] = { a, b };
	unsigned char *out[2] = { ab, bb };
	size_t *lens[2] = { &al, &bl };

	for (int i = 0; i < 2; i++) {
		if (in[i]->ss_family == AF_INET) {
			memcpy(out[i],
			    &((const struct sockaddr_in *)in[i])->sin_addr, 4);
			*lens[i] = 4;
		} else {
			const struct sockaddr_in6 *s6 =
			    (const struct sockaddr_in6 *)in[i];

			if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
				memcpy(out[i], s6->sin6_addr.s6_addr + 12, 4);
				*lens[i] = 4;
			} else {
				memcpy(out[i], &s6->sin6_addr, 16);
				*lens[i] = 16;
			}
		}
	}
	return al == bl && memcmp(ab, bb, al) == 0;
}

static void
set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

static uint16_t
get_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

int
dc_listen(struct session *s)
{
	const struct config *cfg = &s->srv->cfg;
	/* A second past data_timeout: every port was taken before this
	 * wait began, so each is given back within data_timeout of it
	 * (read_line) unless its transfer starts, and the queue is first
	 * come first served, so a session that holds a port only to hold it
	 * cannot keep this one waiting past its deadline. */
	int wait_ms = (int)cfg->data_timeout * 1000 + 1000;
	uint16_t port = 0;
	int fd;

	session_dc_reset(s);
	fd = pasvpool_listen(
	    s->srv->pasv, &s->local, s->local_len, wait_ms, &port);
	if (fd < 0) {
		int e = errno;

		switch (e) {
		case ETIMEDOUT:
			slog(s, LOG_WARN,
			    "no free passive port in %u-%u: all listening "
			    "for %llu s (the range is too small for the "
			    "sessions between PASV and transfer)",
			    cfg->pasv_lo, cfg->pasv_hi,
			    (unsigned long long)cfg->data_timeout + 1);
			break;
		case EADDRINUSE:
			slog(s, LOG_WARN,
			    "no free passive port in %u-%u: the ports not in "
			    "use by us are held by other programs",
			    cfg->pasv_lo, cfg->pasv_hi);
			break;
		case ECANCELED:
			break;
		default:
			slog(s, LOG_WARN, "cannot open a passive listener: %s",
			    strerror(e));
			break;
		}
		errno = e;
		return -1;
	}
	s->dc_listen_fd = fd;
	s->dc_listen_port = port;
	clock_gettime(CLOCK_MONOTONIC, &s->dc_listen_t0);
	dc_enter_state(s, DC_PASSIVE);
	return port;
}

int
dc_set_active(
    struct session *s, const struct sockaddr_storage *ss, socklen_t len)
{
	session_dc_reset(s);
	/* RFC 2577 section 3: a data connection to a third host turns the
	 * server into a port scanner ("FTP bounce"). */
	if (!same_ip(ss, &s->peer)) {
		/* The first of a session are logged: one write of 5,000
		 * pipelined attempts wrote as many warnings (found from
		 * outside). */
		session_log_capped(s, &s->bounce_refused, LOG_WARN,
		    "refused PORT/EPRT",
		    "PORT/EPRT to a foreign address refused");
		return -1;
	}
	if (get_port(ss) < 1024) {
		session_log_capped(s, &s->bounce_refused, LOG_WARN,
		    "refused PORT/EPRT",
		    "PORT/EPRT to privileged port refused");
		return -1;
	}
	s->dc_addr = *ss;
	s->dc_addr_len = len;
	dc_enter_state(s, DC_ACTIVE);
	return 0;
}

/*
 * Waits for fd to become ready (events) or the deadline, watching for
 * shutdown and the control connection: an ABOR there ends the wait at once
 * (RFC 959 4.1.3; it waited out data_timeout), and so does a client whose
 * control connection was reset (a killed one that had not read our 150).
 * The data socket is looked at first: one that is ready wins. A half-close
 * (FIN) ends the wait as the transfer would end (session.c half_close_ok):
 * for a clear-text upload, whose client may have been killed; not for a
 * download or a TLS transfer, whose client may have sent its command and
 * QUIT and shut its side (printf | nc -N, scripted FTPS clients): the
 * control connection is then no longer watched, and its end never read
 * (over TLS that would break it). Other lines wait in the buffer for their
 * turn. rival_fd (-1: none), a listener, is watched too. Returns 1 ready,
 * 2 rival_fd readable (fd not), 0 timeout, -1 stop or error, -2 ABOR, -3
 * the client left.
 */
static int
wait_ready(
    struct session *s, int fd, short events, int timeout_ms, int rival_fd)
{
	struct pollfd pf[4];
	struct timespec t0;
	int watch = !s->ctrl_halfclosed;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	pf[0].fd = fd;
	pf[0].events = events;
	pf[1].fd = s->srv->stop_fd;
	pf[1].events = POLLIN;
	pf[3].fd = rival_fd;
	pf[3].events = POLLIN;
	for (;;) {
		int n, left, pending;
		enum ctrl_event ev = CTRL_QUIET;

		/* A pipelined ABOR already read, or bytes TLS decrypted
		 * already, do not wake poll. */
		pending = watch && s->ctrl_ssl != NULL &&
		    tls_pending(s->ctrl_ssl) > 0;
		if (session_has_lines(s) || pending)
			ev = session_wait_abor(s, pending);
		if (ev == CTRL_ABORT)
			return -2;
		if (ev == CTRL_DEAD)
			return -3;
		pf[2].fd = watch ? s->ctrl_fd : -1;
		pf[2].events =
		    session_can_read(s) ? POLLIN | POLLRDHUP : POLLRDHUP;
		pf[2].revents = 0;
		left = timeout_ms - (int)session_ms_since(&t0);
		if (left <= 0)
			return 0;
		pf[3].revents = 0;
		n = poll(pf, 4, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || (pf[1].revents & POLLIN))
			return -1;
		if (n == 0)
			return 0;
		if (pf[0].revents)
			return 1;
		if (pf[3].revents & POLLIN)
			return 2;
		if (pf[2].revents & (POLLERR | POLLHUP | POLLNVAL))
			return -3;
		if (pf[2].revents & POLLRDHUP) {
			int avail = 0;

			/* What came before the end (an ABOR in the FIN's
			 * segment), never the end itself: over TLS, OpenSSL
			 * would fail the connection reading it. */
			ev = session_wait_abor(s,
			    session_can_read(s) &&
			        ioctl(s->ctrl_fd, FIONREAD, &avail) == 0 &&
			        avail > 0);
			if (ev == CTRL_ABORT)
				return -2;
			if (ev == CTRL_DEAD || !(s->prot_p || s->xfer_out))
				return -3;
			watch = 0;
			continue;
		}
		if (pf[2].revents & POLLIN) {
			ev = session_wait_abor(s, 1);
			if (ev == CTRL_ABORT)
				return -2;
			if (ev == CTRL_DEAD)
				return -3;
			/* Lines that are not ABOR: answered afterwards. A
			 * full buffer is no longer polled for input. */
		}
	}
}

/* The dc_err of a wait_ready that did not return 1. */
static enum dc_err
wait_err(int r)
{
	return r == -2 ? DC_ERR_ABORTED :
	    r == -3    ? DC_ERR_GONE :
	                 DC_ERR_CONNECT;
}

/*
 * A data connection's TLS handshake on ssl (tls_accept_begin's, on fd),
 * within timeout_ms counted from t0, waiting with wait_ready: an ABOR, or
 * the end of the control connection, ends it at once, as it ends the wait
 * for the connection itself. It waited out data_timeout, deaf to both,
 * while a connection from the client's address (a stranger behind its
 * NAT) stayed silent in its handshake (found from outside). With rival
 * (a listener; -1: none), TLS_HS_RIVAL, the SSL kept, once the rival is
 * readable after the handshake had rival_after_ms. *r: what wait_ready
 * said last (its -2 and -3 come back as TLS_HS_STOPPED, the SSL freed).
 */
static enum tls_hs
run_handshake(struct session *s, SSL *ssl, int fd, const struct timespec *t0,
    int timeout_ms, int rival, int rival_after_ms, int *r, char *err,
    size_t errlen)
{
	struct timespec since;

	*r = 1;
	clock_gettime(CLOCK_MONOTONIC, &since);
	for (;;) {
		short events = 0;
		int left, now, wait;
		enum tls_hs hs = tls_accept_step(ssl, 1,
		    s->srv->cfg.tls.require_session_reuse, &events, err,
		    errlen);

		if (hs != TLS_HS_WANT)
			return hs;
		left = timeout_ms - (int)session_ms_since(t0);
		if (left <= 0) {
			snprintf(err, errlen, "handshake timed out");
			tls_free(ssl);
			return TLS_HS_TIMEOUT;
		}
		now = (int)session_ms_since(&since);
		wait = left;
		if (rival >= 0 && now < rival_after_ms &&
		    rival_after_ms - now < wait)
			wait = rival_after_ms - now;
		*r = wait_ready(s, fd, events, wait,
		    rival >= 0 && now >= rival_after_ms ? rival : -1);
		if (*r == 2)
			return TLS_HS_RIVAL;
		if (*r < 0) {
			snprintf(err, errlen, "%s",
			    *r == -2 ? "ABOR during the handshake" :
			        *r == -3 ?
			               "the client left during the handshake" :
			               "stopped");
			tls_free(ssl);
			return TLS_HS_STOPPED;
		}
	}
}

static enum tls_hs dc_tls(
    struct session *s, struct dconn *dc, int timeout_ms, enum dc_err *why);
static enum tls_hs tls_outcome(struct session *s, struct dconn *dc,
    enum tls_hs hs, SSL *ssl, int r, const char *err, enum dc_err *why);

/* A passive connection from another address than the client's (someone
 * raced for the announced port): closed and logged, the first
 * RFTP_BAD_CMDS_LOGGED of a session, then one line (the listener takes
 * them as they come, as fast as a stranger connects); 1, or 0 if it is the
 * client's address. */
static int
refused_foreign(struct session *s, int fd, const struct sockaddr_storage *from)
{
	if (same_ip(from, &s->peer))
		return 0;
	/* Anyone may knock: a budget of its own (session_log_stranger). */
	session_log_stranger(s, &s->foreign_refused,
	    "passive data connections from foreign addresses",
	    "passive data connection from a foreign address refused");
	close(fd);
	return 1;
}

int
dc_weed(struct session *s)
{
	while (s->dc_listen_fd >= 0 && s->dc_early_fd < 0) {
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);
		int fd = accept4(s->dc_listen_fd, (struct sockaddr *)&from,
		    &flen, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR || errno == ECONNABORTED)
				return 0;
			slog(s, LOG_WARN,
			    "cannot take a passive data connection before "
			    "the transfer command: %s",
			    strerror(errno));
			return -1;
		}
		if (!refused_foreign(s, fd, &from))
			s->dc_early_fd = fd;
	}
	return 0;
}

/*
 * A passive connection from the client's address whose TLS handshake has
 * not ended after this long gives way to the next connection from that
 * address, if one comes: a stranger behind the client's NAT that connects
 * to the announced port first and stays silent (or sends a byte and stops)
 * would otherwise hold the transfer until data_timeout. A client's own
 * handshake, a resumption, takes a round trip or two.
 */
#define PASV_TLS_STALL_MS 2000

/*
 * PROT P on the passive connection dc->fd: the handshake within what is
 * left of timeout_ms since t0, a stalled one given up for the next
 * connection from the client's address (foreign ones are refused and the
 * handshake goes on).
 */
static enum tls_hs
passive_tls(struct session *s, struct dconn *dc, const struct timespec *t0,
    int timeout_ms, enum dc_err *why)
{
	struct timespec since;
	char err[256];
	enum tls_hs hs;
	int rival = s->dc_listen_fd, r = 1;
	SSL *ssl = tls_accept_begin(
	    s->srv->tls, dc->fd, s->sid_ctx, 1, err, sizeof(err));

	if (ssl == NULL)
		return tls_outcome(s, dc, TLS_HS_FAILED, NULL, 1, err, why);
	clock_gettime(CLOCK_MONOTONIC, &since);
	for (;;) {
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);
		int fd;

		hs = run_handshake(s, ssl, dc->fd, t0, timeout_ms, rival,
		    PASV_TLS_STALL_MS - (int)session_ms_since(&since), &r, err,
		    sizeof(err));
		if (hs != TLS_HS_RIVAL)
			break;
		fd = accept4(
		    rival, (struct sockaddr *)&from, &flen, SOCK_CLOEXEC);
		if (fd < 0) {
			/* Out of descriptors, say: the listener would stay
			 * readable; the handshake goes on alone. */
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				rival = -1;
			continue;
		}
		if (refused_foreign(s, fd, &from))
			continue;
		slog(s, LOG_WARN,
		    "passive data connection: the TLS handshake of the first "
		    "from the client's address stalled for %d ms; taking the "
		    "next one",
		    (int)session_ms_since(&since));
		tls_free(ssl); /* no close_notify for a stranger */
		close(dc->fd);
		dc->fd = fd;
		ssl = tls_accept_begin(
		    s->srv->tls, dc->fd, s->sid_ctx, 1, err, sizeof(err));
		if (ssl == NULL) {
			hs = TLS_HS_FAILED;
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &since);
	}
	return tls_outcome(
	    s, dc, hs, hs == TLS_HS_OK ? ssl : NULL, r, err, why);
}

/*
 * Accepts the client's data connection on the session's listener into
 * dc->fd, with its TLS under PROT P; -1 with *why set if none came.
 *
 * Under PROT P the connection is the client's only once it resumed the
 * control connection's session (require_session_reuse). Another program
 * at the client's address (a host behind the same NAT) that connects to
 * the announced port first and fails that check gets nothing, and must
 * not cost the client its transfer: the listener stays open, and the
 * client's own connection, which arrives at once after the reply, is
 * taken next. A client that cannot resume (Python's ftplib) gets its 425
 * once no other connection came within PASV_TLS_AGAIN_MS. A stranger that
 * connects and then stalls gives way to the next connection from the
 * client's address after PASV_TLS_STALL_MS (passive_tls).
 */
#define PASV_TLS_AGAIN_MS 2000

static int
open_passive(
    struct session *s, struct dconn *dc, int timeout_ms, enum dc_err *why)
{
	struct timespec t0;
	int deadline_ms = timeout_ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (dc->fd < 0) {
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);
		int left = deadline_ms - (int)session_ms_since(&t0);
		int fd, r, again_ms;
		enum tls_hs hs;

		if (left <= 0)
			break;
		if (s->dc_early_fd >= 0) {
			/* Taken before the command came (dc_weed). */
			fd = s->dc_early_fd;
			s->dc_early_fd = -1;
		} else {
			/* The listener does not block (pasvpool.c): a
			 * connection already there costs no poll. The accepted
			 * socket blocks, as SOCK_NONBLOCK is not asked for. */
			fd = accept4(s->dc_listen_fd, (struct sockaddr *)&from,
			    &flen, SOCK_CLOEXEC);
			if (fd < 0 && syserr_lacking(errno)) {
				/* Short of descriptors or memory (the server's own
				 * lack): the connection stays queued and the wait
				 * below returned at once: the session spun
				 * until data_timeout, then said "timed out"
				 * (found by fault injection). */
				dc->err = errno;
				*why = DC_ERR_LOCAL;
				break;
			}
			if (fd < 0) {
				r = wait_ready(
				    s, s->dc_listen_fd, POLLIN, left, -1);
				/* After a failed handshake, its reason stays. */
				if (r < 0 || (r == 0 && *why == DC_ERR_NONE))
					*why = wait_err(r);
				if (r <= 0)
					break;
				continue;
			}
			if (refused_foreign(s, fd, &from))
				continue;
		}
		dc->fd = fd;
		if (!s->prot_p)
			break;
		/* The handshake has what is left of data_timeout, as a
		 * connection that came late would have had. */
		hs = passive_tls(s, dc, &t0, timeout_ms, why);
		if (hs != TLS_HS_FAILED && hs != TLS_HS_NO_REUSE)
			break; /* done, timed out or stopped */
		again_ms = (int)session_ms_since(&t0) + PASV_TLS_AGAIN_MS;
		if (deadline_ms > again_ms)
			deadline_ms = again_ms;
		slog(s, LOG_INFO,
		    "passive data connection: waiting up to %d ms for "
		    "another from the client's address",
		    PASV_TLS_AGAIN_MS);
	}
	/* The port is free for the next PASV as soon as we have our
	 * connection: the listener is not needed for it. */
	if (dc->fd >= 0) {
		pasvpool_close(
		    s->srv->pasv, s->dc_listen_fd, s->dc_listen_port);
		s->dc_listen_fd = -1;
		if (s->prot_p)
			s->xfer_tls = 1;
	}
	return dc->fd;
}

/*
 * The control connection's local address as a source of family, port 0,
 * into *out; its length, or 0 if it has no such form. A dual-stack
 * listener's IPv4 client has a v4-mapped local address, which an IPv4
 * socket takes as the IPv4 address it is; an IPv4 client's EPRT |2| with
 * its v4-mapped address (a client on an IPv6 socket) makes an IPv6
 * socket, which takes the local IPv4 address v4-mapped.
 */
static socklen_t
local_source(
    const struct session *s, sa_family_t family, struct sockaddr_storage *out)
{
	const struct sockaddr_in6 *l6 = (const struct sockaddr_in6 *)&s->local;
	const struct sockaddr_in *l4 = (const struct sockaddr_in *)&s->local;
	struct sockaddr_in *o4 = (struct sockaddr_in *)out;
	struct sockaddr_in6 *o6 = (struct sockaddr_in6 *)out;

	if (s->local.ss_family == family) {
		*out = s->local;
		set_port(out, 0);
		return s->local_len;
	}
	memset(out, 0, sizeof(*out));
	if (family == AF_INET6 && s->local.ss_family == AF_INET) {
		o6->sin6_family = AF_INET6;
		o6->sin6_addr.s6_addr[10] = 0xff;
		o6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(o6->sin6_addr.s6_addr + 12, &l4->sin_addr, 4);
		return sizeof(*o6);
	}
	if (family != AF_INET || s->local.ss_family != AF_INET6 ||
	    !IN6_IS_ADDR_V4MAPPED(&l6->sin6_addr))
		return 0;
	o4->sin_family = AF_INET;
	memcpy(&o4->sin_addr, l6->sin6_addr.s6_addr + 12, 4);
	return sizeof(*o4);
}

static int
open_active(struct session *s, int timeout_ms, enum dc_err *why)
{
	int fd, err = 0, r, one = 1;
	socklen_t elen = sizeof(err), srclen;
	struct sockaddr_storage src;

	fd = socket(s->dc_addr.ss_family,
	    SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	/* Connect from the control connection's address so the client sees
	 * the data connection coming from the host it talks to (a firewall
	 * or NAT in front of it expects that address). An IPv4 client of a
	 * dual-stack listener got a source the kernel picked by route: on a
	 * host with several addresses, another than the one it connected to
	 * (found from outside). If the bind fails, the kernel's pick. */
	srclen = local_source(s, s->dc_addr.ss_family, &src);
	/* The address only: the port is picked by connect, for this
	 * destination. bind alone takes a port no other socket holds, our
	 * own TIME_WAITs included, and once those filled the ephemeral
	 * range (each active download leaves one for 60 s) every PORT/EPRT
	 * transfer got 425 (found from outside). A kernel without the option
	 * (before 4.2) binds as before. */
	if (srclen > 0 &&
	    setsockopt(
	        fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) < 0)
		slog(s, LOG_DEBUG,
		    "active data connection: IP_BIND_ADDRESS_NO_PORT: %s",
		    strerror(errno));
	if (srclen > 0 && bind(fd, (struct sockaddr *)&src, srclen) < 0)
		slog(s, LOG_DEBUG,
		    "active data connection: cannot bind to the control "
		    "connection's address: %s",
		    strerror(errno));
	if (connect(fd, (struct sockaddr *)&s->dc_addr, s->dc_addr_len) < 0 &&
	    errno != EINPROGRESS)
		goto fail;
	if ((r = wait_ready(s, fd, POLLOUT, timeout_ms, -1)) <= 0) {
		*why = wait_err(r);
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err != 0)
		goto fail;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
fail:
	close(fd);
	return -1;
}

/* PROT P: the server side of the data connection's handshake; on failure
 * the connection is closed and *why set. */
static enum tls_hs
dc_tls(struct session *s, struct dconn *dc, int timeout_ms, enum dc_err *why)
{
	struct timespec t0;
	char err[256];
	enum tls_hs hs;
	int r = 1;
	SSL *ssl = tls_accept_begin(
	    s->srv->tls, dc->fd, s->sid_ctx, 1, err, sizeof(err));

	if (ssl == NULL)
		return tls_outcome(s, dc, TLS_HS_FAILED, NULL, 1, err, why);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	hs = run_handshake(
	    s, ssl, dc->fd, &t0, timeout_ms, -1, 0, &r, err, sizeof(err));
	return tls_outcome(
	    s, dc, hs, hs == TLS_HS_OK ? ssl : NULL, r, err, why);
}

/* What a data connection's handshake came to: on success dc->ssl is ssl;
 * on failure the connection is closed and *why set (r: run_handshake's
 * last wait, whose ABOR or end of the control connection is said as when
 * waiting for the connection). */
static enum tls_hs
tls_outcome(struct session *s, struct dconn *dc, enum tls_hs hs, SSL *ssl,
    int r, const char *err, enum dc_err *why)
{
	char text[256];

	if (hs == TLS_HS_OK) {
		dc->ssl = ssl;
		if (s->ctrl_ssl != NULL)
			tls_renew_ticket(s->ctrl_ssl);
		if (log_enabled(LOG_DEBUG)) {
			tls_describe(dc->ssl, text, sizeof(text));
			slog(s, LOG_DEBUG, "data connection: %s", text);
		}
		return hs;
	}
	*why = hs == TLS_HS_NO_REUSE       ? DC_ERR_NO_REUSE :
	    hs == TLS_HS_STOPPED && r < -1 ? wait_err(r) :
	                                     DC_ERR_TLS;
	slog(s, hs == TLS_HS_NO_REUSE ? LOG_WARN : LOG_INFO,
	    "data connection TLS refused: %s", err);
	close(dc->fd);
	dc->fd = -1;
	return hs;
}

int
dc_open(struct session *s, struct dconn *dc, enum dc_err *why)
{
	int timeout_ms = (int)s->srv->cfg.data_timeout * 1000;
	int fd = -1, tls_done = 0;

	dc->fd = -1;
	dc->ssl = NULL;
	dc->err = 0;
	*why = DC_ERR_NONE;
	switch (s->dc_mode) {
	case DC_NONE:
		slog(s, LOG_INFO, "transfer without PASV/EPSV/PORT/EPRT");
		break;
	case DC_PASSIVE:
		fd = open_passive(s, dc, timeout_ms, why);
		tls_done = 1; /* its TLS is part of taking the connection */
		break;
	case DC_ACTIVE:
		fd = open_active(s, timeout_ms, why);
		break;
	}
	if (fd < 0 && *why == DC_ERR_LOCAL)
		slog(s, LOG_WARN, "data connection not taken: %s",
		    strerror(dc->err));
	else if (fd < 0 && s->dc_mode != DC_NONE)
		session_log_capped(s, &s->dc_failed, LOG_INFO,
		    "data connection failures", "data connection %s",
		    *why == DC_ERR_ABORTED  ? "not awaited: ABOR" :
		        *why == DC_ERR_GONE ? "not awaited: the client left" :
		                              "failed or timed out");
	session_dc_reset(s);
	if (fd < 0) {
		if (*why == DC_ERR_NONE)
			*why = DC_ERR_CONNECT;
		return -1;
	}
	dc->fd = fd;
	if (s->prot_p && !tls_done) {
		if (dc_tls(s, dc, timeout_ms, why) != TLS_HS_OK)
			return -1;
		s->xfer_tls = 1;
	}
	return 0;
}

void
dc_close(struct session *s, struct dconn *dc, int complete)
{
	s->xfer_tls = 0;
	if (dc->ssl != NULL) {
		if (complete)
			tls_close(dc->ssl);
		else
			tls_free(dc->ssl);
	}
	dc->ssl = NULL;
	if (dc->fd >= 0)
		close(dc->fd);
	dc->fd = -1;
}
