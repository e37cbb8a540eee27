/*
 * transfer.c - the data-connection loops. See transfer.h.
 *
 * The data socket is non-blocking; whenever it would block we poll it
 * together with the control socket and the stop eventfd, so ABOR (RFC 959
 * 4.1.3), a dead control connection and shutdown are seen even when the
 * client stalls. While data flows freely the control channel is looked at
 * every few blocks, which keeps the per-block cost to the one syscall.
 *
 * An upload "ended cleanly" only if recv() returned 0 (FIN, not RST) and
 * the control connection is still open and did not send ABOR: in stream
 * mode a client killed mid-upload also closes its data connection, and only
 * the control connection tells the two apart (finwatch.c decides).
 *
 * A clear-text binary upload is spliced: socket -> pipe -> file, with no
 * copy through user space; each piece is charged to the quota while it
 * sits in the pipe, before it reaches the file.
 *
 * Under TLS (PROT P) the same loops run over SSL_read/SSL_write, and an
 * upload is complete only when the client sent close_notify: a bare FIN
 * under TLS may be a truncation (RFC 8446 6.1), so it is treated like a
 * reset and the partial kept for a resume. close_notify is a deliberate
 * act of a live client, so it needs no watch after it. Downloads end with
 * our own close_notify, which tells the client it has every byte.
 *
 * A transfer that moves less than data_min_rate bytes per second over a
 * whole data_timeout window is stopped: a trickle keeps poll() from ever
 * timing out, and would otherwise hold a session thread forever.
 */
#include "server/transfer.h"

#include "common/limits.h"
#include "common/log.h"
#include "common/tcpinfo.h"
#include "server/datachan.h"
#include "server/finwatch.h"
#include "server/quota.h"
#include "server/server.h"
#include "server/session.h"
#include "server/tls.h"
#include "server/reply.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Look at the control channel every this many blocks while data flows. */
#define CTRL_CHECK_EVERY 16

static enum xfer_result
ctrl_to_result(enum ctrl_event ev)
{
	switch (ev) {
	case CTRL_QUIET:
		return XFER_OK;
	case CTRL_ABORT:
		return XFER_ABORTED;
	case CTRL_DEAD:
		return XFER_CTRL_DEAD;
	}
	return XFER_CTRL_DEAD;
}

static void
rate_start(struct xfer_rate *r)
{
	clock_gettime(CLOCK_MONOTONIC, &r->t0);
	r->bytes = 0;
	r->user_checked = r->t0.tv_sec;
}

/*
 * A user removed from users.ini ended their session at its next command
 * on files, but a transfer under way went on for as long as the client
 * sent: an upload of hours, published with 226 and mirrored, by an
 * account the admin had just taken out (found from outside). Looked at
 * once a second while data moves; a change other than the removal waits
 * for the next command (s->user_gen is left for it to see), as the
 * quota's new value already applies to the bytes as they come. A file
 * being written is not waited for here (a command waits up to 5 s): the
 * look a second later reads it once it keeps still.
 */
static enum xfer_result
user_still_there(struct session *s, struct xfer_rate *r, time_t now)
{
	uint64_t gen = s->user_gen;

	if (!s->user_in_db || now == r->user_checked)
		return XFER_OK;
	r->user_checked = now;
	if (userdb_recheck_nowait(s->srv->users, &s->user, &gen) != USER_GONE)
		return XFER_OK;
	s->user_gen = gen;
	slog(s, LOG_INFO, "user removed in users.ini: transfer stopped");
	return XFER_USER_GONE;
}

/*
 * Counts n more bytes (0: just look at the clock); XFER_TOO_SLOW when a
 * window of at least data_timeout seconds moved less than data_min_rate
 * per second of it. Called on every wake-up, not only when bytes arrive:
 * under TLS a trickled record wakes poll without yielding any bytes.
 */
static enum xfer_result
rate_add(struct session *s, struct xfer_rate *r, uint64_t n)
{
	uint64_t min = s->srv->cfg.data_min_rate;
	uint64_t window = s->srv->cfg.data_timeout;
	uint64_t elapsed;
	struct timespec t1;

	enum xfer_result gone;

	r->bytes += n;
	s->xfer_bytes += n;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	gone = user_still_there(s, r, t1.tv_sec);
	if (gone != XFER_OK)
		return gone;
	if (min == 0)
		return XFER_OK;
	elapsed = (uint64_t)(t1.tv_sec - r->t0.tv_sec);
	if (elapsed < window)
		return XFER_OK;
	/* min <= 2^40 (config), elapsed capped: the product fits. */
	if (elapsed > (1u << 20))
		elapsed = 1u << 20;
	if (r->bytes < min * elapsed) {
		slog(s, LOG_INFO,
		    "transfer too slow: %llu bytes in %llu s "
		    "(data_min_rate %llu B/s)",
		    (unsigned long long)r->bytes, (unsigned long long)elapsed,
		    (unsigned long long)min);
		return XFER_TOO_SLOW;
	}
	r->t0 = t1;
	r->bytes = 0;
	return XFER_OK;
}

/* The bytes the peer of fd has acknowledged so far (TCP_INFO); 0 if the
 * kernel does not tell. */
static uint64_t
bytes_acked(int fd)
{
	struct tcp_info ti;

	if (tcpinfo_read(fd, &ti, TCPINFO_THROUGH(tcpi_bytes_acked)) < 0)
		return 0;
	return ti.tcpi_bytes_acked;
}

/*
 * Waits until the data connection is ready for events. XFER_OK: ready.
 *
 * A download waits for room in the socket's send buffer, which poll
 * reports only once about a third of it is free: megabytes, once the
 * kernel has grown it. A client that reads steadily but slower than a
 * third of it per data_timeout (20,000 B/s on loopback, found from
 * outside) got 426 at data_timeout, far above data_min_rate. So a wait
 * that times out while the client acknowledged bytes meanwhile is no
 * stall: those bytes count toward data_min_rate, and the wait goes on.
 */
static enum xfer_result
wait_io(struct session *s, const struct dconn *dc, short events,
    struct xfer_rate *rate)
{
	int timeout_ms = (int)s->srv->cfg.data_timeout * 1000;
	uint64_t acked = (events & POLLOUT) ? bytes_acked(dc->fd) : 0;

	for (;;) {
		struct pollfd pf[3];
		enum xfer_result r;
		int n;

		r = rate_add(s, rate, 0);
		if (r != XFER_OK)
			return r;
		/* Decrypted bytes already buffered, and lines already in the
		 * session's buffer (an ABOR pipelined behind another command),
		 * do not wake poll: look at them first. */
		if ((s->ctrl_ssl != NULL && tls_pending(s->ctrl_ssl) > 0) ||
		    session_has_lines(s)) {
			r = ctrl_to_result(session_check_control(s, 0));
			if (r != XFER_OK)
				return r;
		}
		if ((events & POLLIN) && dc->ssl != NULL &&
		    tls_pending(dc->ssl) > 0)
			return XFER_OK;
		pf[0].fd = dc->fd;
		pf[0].events = events;
		/* Negative: ignored (half-closed during a TLS transfer). */
		pf[1].fd = s->ctrl_halfclosed && session_half_close_goes_on(s) ?
		    -1 :
		    s->ctrl_fd;
		pf[1].events =
		    session_can_read(s) ? POLLIN | POLLRDHUP : POLLRDHUP;
		pf[2].fd = s->srv->stop_fd;
		pf[2].events = POLLIN;
		n = poll(pf, 3, timeout_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return XFER_DATA_ERR;
		if (n == 0) {
			uint64_t now =
			    (events & POLLOUT) ? bytes_acked(dc->fd) : 0;

			if (now <= acked)
				return XFER_TIMEOUT;
			rate->bytes += now - acked;
			acked = now;
			continue;
		}
		if (pf[2].revents & POLLIN)
			return XFER_CTRL_DEAD;
		/* Data first: bytes a client sent before it died or aborted
		 * still reach the partial, so a resume loses nothing. The
		 * loops look at the control channel every few blocks. */
		if (pf[0].revents)
			return XFER_OK;
		if (pf[1].revents) {
			r = ctrl_to_result(session_check_control(s, 0));
			if (r != XFER_OK)
				return r;
		}
	}
}

static void
set_nonblock(int fd)
{
	int one = 1;

	/* FIONBIO sets O_NONBLOCK alone: one call, not F_GETFL + F_SETFL. */
	(void)ioctl(fd, FIONBIO, &one);
}

/* One send on the data connection: bytes written, or 0 with *events set
 * to what to wait for, or -1 on failure. */
static ssize_t
dc_send(const struct dconn *dc, const char *p, size_t n, short *events)
{
	ssize_t w;

	*events = POLLOUT;
	if (dc->ssl != NULL) {
		size_t put = 0;

		switch (tls_write(dc->ssl, p, n, &put)) {
		case TLS_IO_OK:
			return (ssize_t)put;
		case TLS_IO_WANT_READ:
			*events = POLLIN;
			return 0;
		case TLS_IO_WANT_WRITE:
			return 0;
		case TLS_IO_CLOSED:
		case TLS_IO_EOF:
		case TLS_IO_ERR:
			return -1;
		}
		return -1; /* never clear text on a TLS connection */
	}
	w = send(dc->fd, p, n, MSG_NOSIGNAL);
	if (w < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	return w == 0 ? -1 : w;
}

static enum xfer_result
send_all(struct session *s, const struct dconn *dc, const char *p, size_t n,
    struct xfer_rate *rate)
{
	while (n > 0) {
		short events;
		ssize_t w = dc_send(dc, p, n, &events);
		enum xfer_result r;

		if (w > 0) {
			p += w;
			n -= (size_t)w;
			r = rate_add(s, rate, (uint64_t)w);
		} else if (w == 0) {
			r = wait_io(s, dc, events, rate);
		} else {
			r = XFER_DATA_ERR;
		}
		if (r != XFER_OK)
			return r;
	}
	return XFER_OK;
}

void
xfer_stream_start(
    struct xfer_stream *x, struct session *s, const struct dconn *dc)
{
	x->s = s;
	x->dc = dc;
	x->writes = 0;
	x->result = XFER_OK;
	rate_start(&x->rate);
	set_nonblock(dc->fd);
}

int
xfer_stream_write(void *ctx, const char *p, size_t n)
{
	struct xfer_stream *x = ctx;

	if (x->result != XFER_OK)
		return -1;
	x->result = send_all(x->s, x->dc, p, n, &x->rate);
	/* While the client reads freely, wait_io never runs: look at the
	 * control channel for ABOR every few pieces. */
	if (x->result == XFER_OK && ++x->writes % CTRL_CHECK_EVERY == 0)
		x->result = ctrl_to_result(session_check_control(x->s, 0));
	return x->result == XFER_OK ? 0 : -1;
}

static enum xfer_result
send_binary(struct session *s, int dfd, int ffd, uint64_t offset, uint64_t size,
    uint64_t *sent, int *err, struct xfer_rate *rate)
{
	off_t off = (off_t)offset;
	unsigned blocks = 0;
	const struct dconn dc = { dfd, NULL, 0 };

	while ((uint64_t)off < size) {
		size_t want = RFTP_SENDFILE_CHUNK;
		ssize_t n;

		if (size - (uint64_t)off < want)
			want = (size_t)(size - (uint64_t)off);
		n = sendfile(dfd, ffd, &off, want);
		if (n > 0) {
			enum xfer_result rr = rate_add(s, rate, (uint64_t)n);

			if (rr != XFER_OK)
				return rr;
			*sent += (uint64_t)n;
			if (++blocks % CTRL_CHECK_EVERY == 0) {
				enum xfer_result r =
				    ctrl_to_result(session_check_control(s, 0));

				if (r != XFER_OK)
					return r;
			}
			continue;
		}
		if (n == 0)
			break; /* the file shrank under us: send what is */
		if (errno == EAGAIN || errno == EINTR) {
			enum xfer_result r = wait_io(s, &dc, POLLOUT, rate);

			if (r != XFER_OK)
				return r;
			continue;
		}
		if (errno == EPIPE || errno == ECONNRESET)
			return XFER_DATA_ERR;
		*err = errno;
		return XFER_DISK_ERR;
	}
	return XFER_OK;
}

/* Read-and-send, for what sendfile cannot do: TYPE A, where LF becomes
 * CRLF (RFC 959 3.1.1.1) and an existing CRLF stays, and TLS. */
static enum xfer_result
send_buffered(struct session *s, const struct dconn *dc, int ffd,
    uint64_t offset, uint64_t *sent, int *err, struct xfer_rate *rate)
{
	char *in = malloc(RFTP_XFER_BUF / 2), *out = malloc(RFTP_XFER_BUF);
	enum xfer_result r = XFER_OK;
	char prev = '\0';
	off_t off = (off_t)offset;
	unsigned blocks = 0;

	if (in == NULL || out == NULL) {
		*err = ENOMEM;
		r = XFER_DISK_ERR;
		goto done;
	}
	for (;;) {
		ssize_t n = pread(ffd, in, RFTP_XFER_BUF / 2, off);
		size_t o = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*err = errno;
			r = XFER_DISK_ERR;
			break;
		}
		if (n == 0)
			break;
		off += n;
		if (!s->ascii) {
			memcpy(out, in, (size_t)n);
			o = (size_t)n;
		} else {
			for (ssize_t i = 0; i < n; i++) {
				if (in[i] == '\n' && prev != '\r')
					out[o++] = '\r';
				out[o++] = in[i];
				prev = in[i];
			}
		}
		r = send_all(s, dc, out, o, rate);
		if (r != XFER_OK)
			break;
		*sent += (uint64_t)n;
		if (++blocks % CTRL_CHECK_EVERY == 0) {
			r = ctrl_to_result(session_check_control(s, 0));
			if (r != XFER_OK)
				break;
		}
	}
done:
	free(in);
	free(out);
	return r;
}

/* The transfer STAT reports (session_check_control) starts, or ends
 * (what NULL). */
static void
xfer_mark(struct session *s, const char *what)
{
	s->xfer_what = what;
	s->xfer_bytes = 0;
}

enum xfer_result
xfer_send_file(struct session *s, const struct dconn *dc, int ffd,
    uint64_t offset, uint64_t *sent, int *err)
{
	struct stat st;
	struct xfer_rate rate;
	enum xfer_result r;

	*sent = 0;
	if (fstat(ffd, &st) < 0) {
		*err = errno;
		return XFER_DISK_ERR;
	}
	rate_start(&rate);
	set_nonblock(dc->fd);
	xfer_mark(s, "sending");
	if (s->ascii || dc->ssl != NULL)
		r = send_buffered(s, dc, ffd, offset, sent, err, &rate);
	else
		r = send_binary(s, dc->fd, ffd, offset, (uint64_t)st.st_size,
		    sent, err, &rate);
	xfer_mark(s, NULL);
	return r;
}

/* Writes the n bytes at p; *done counts what reached the file, also on
 * failure: a disk that fills takes part of a block first (a short write),
 * and that part stays in the partial kept for a resume. 0, or -1 with
 * errno. */
static int
write_all(int fd, const char *p, size_t n, size_t *done)
{
	*done = 0;
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
		*done += (size_t)w;
	}
	return 0;
}

/* TYPE A upload: CRLF becomes LF. A CR at the end of a block is held until
 * the next block shows whether an LF follows. Returns the new length. */
static size_t
ascii_to_unix(char *p, size_t n, int *held_cr, char *carry)
{
	size_t w = 0, i = 0;

	*carry = '\0';
	if (*held_cr) {
		*held_cr = 0;
		if (n == 0 || p[0] != '\n')
			*carry = '\r';
	}
	for (; i < n; i++) {
		if (p[i] == '\r') {
			if (i + 1 == n) {
				*held_cr = 1;
				break;
			}
			if (p[i + 1] == '\n')
				continue;
		}
		p[w++] = p[i];
	}
	return w;
}

enum rx {
	RX_DATA, /* *got bytes arrived */
	RX_WAIT, /* nothing yet: wait for *events */
	RX_END,  /* clean end: FIN, or TLS close_notify */
	RX_CUT,  /* TLS ended by a bare FIN: maybe truncated */
	RX_ERR,  /* reset or error */
};

static enum rx
dc_recv(const struct dconn *dc, char *p, size_t n, size_t *got, short *events)
{
	ssize_t r;

	*events = POLLIN;
	*got = 0;
	if (dc->ssl != NULL) {
		switch (tls_read(dc->ssl, p, n, got)) {
		case TLS_IO_OK:
			return RX_DATA;
		case TLS_IO_WANT_READ:
			return RX_WAIT;
		case TLS_IO_WANT_WRITE:
			*events = POLLOUT;
			return RX_WAIT;
		case TLS_IO_CLOSED:
			return RX_END;
		case TLS_IO_EOF:
			return RX_CUT;
		case TLS_IO_ERR:
			return RX_ERR;
		}
		return RX_ERR;
	}
	r = recv(dc->fd, p, n, 0);
	if (r > 0) {
		*got = (size_t)r;
		return RX_DATA;
	}
	if (r == 0)
		return RX_END;
	return errno == EAGAIN || errno == EINTR ? RX_WAIT : RX_ERR;
}

/* The end of an upload's data stream seen at *fin after got bytes (the
 * client declared *declared, if not NULL): complete only if the control
 * side lives (see the top of the file). */
static enum xfer_result
upload_end(struct session *s, const struct dconn *dc,
    const struct timespec *fin, uint64_t got, const uint64_t *declared)
{
	return ctrl_to_result(dc->ssl != NULL ?
	        session_check_control(s, 0) :
	        finwatch_after_fin(s, fin, got, declared));
}

/*
 * Moves the n bytes waiting in the pipe into ffd; *moved counts what
 * reached the file. A filesystem that cannot splice (EINVAL) gets them
 * through a buffer, allocated here on first need (*buf, freed by the
 * caller). 0, or -1 with errno.
 */
static int
drain_pipe(int pipe_rd, int ffd, size_t n, char **buf, size_t *moved)
{
	*moved = 0;
	while (*moved < n) {
		ssize_t w =
		    splice(pipe_rd, NULL, ffd, NULL, n - *moved, SPLICE_F_MOVE);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EINVAL) {
			size_t want = n - *moved < RFTP_XFER_BUF ?
			    n - *moved :
			    RFTP_XFER_BUF;
			ssize_t r;
			size_t wrote = 0;

			if (*buf == NULL &&
			    (*buf = malloc(RFTP_XFER_BUF)) == NULL)
				return -1;
			r = read(pipe_rd, *buf, want);
			if (r <= 0)
				return -1;
			if (write_all(ffd, *buf, (size_t)r, &wrote) < 0) {
				*moved += wrote;
				return -1;
			}
			w = r;
		}
		if (w <= 0)
			return -1;
		*moved += (size_t)w;
	}
	return 0;
}

/*
 * The session's splice pipe (s->upipe), made at its first upload and kept
 * while uploads follow each other: a pipe, its resize and its close were
 * five system calls of every small upload. The idle trim (session.c)
 * releases it, so an idle session holds none of the per-user pipe budget.
 * 0, or -1 (errno) if no pipe could be made.
 */
static int
upload_pipe(struct session *s)
{
	int pfd[2], chunk;

	if (s->upipe[0] >= 0)
		return 0;
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -1;
	/* A bigger pipe moves more per call; the default (64 KiB) still
	 * works when the per-user pipe budget is spent. */
	(void)fcntl(pfd[1], F_SETPIPE_SZ, RFTP_SPLICE_PIPE);
	chunk = fcntl(pfd[1], F_GETPIPE_SZ);
	if (chunk <= 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	s->upipe[0] = pfd[0];
	s->upipe[1] = pfd[1];
	s->upipe_chunk = chunk;
	return 0;
}

void
xfer_pipe_release(struct session *s)
{
	if (s->upipe[0] < 0)
		return;
	close(s->upipe[0]);
	close(s->upipe[1]);
	s->upipe[0] = s->upipe[1] = -1;
	s->upipe_chunk = 0;
}

/*
 * The clear-text binary receive loop: splice(2) from the data socket into
 * a pipe and from the pipe into the file, so the bytes never cross into
 * user space (one copy fewer than recv + write). Each piece is charged to
 * the quota after it sits in the pipe and before it reaches the file, so
 * the bytes on disk never exceed the quota. -1 (errno) if no pipe could be
 * made: the caller uses the buffered loop.
 */
static int
recv_spliced(struct session *s, const struct dconn *dc, int ffd,
    struct account *acct, uint64_t credit, const uint64_t *declared,
    uint64_t *received, int *err, enum xfer_result *out)
{
	enum xfer_result r = XFER_OK, stop = XFER_OK;
	unsigned blocks = 0;
	struct xfer_rate rate;
	char *buf = NULL; /* drain_pipe's, only if it falls back */
	int pfd[2], chunk;

	if (upload_pipe(s) < 0)
		return -1;
	pfd[0] = s->upipe[0];
	pfd[1] = s->upipe[1];
	chunk = s->upipe_chunk;
	rate_start(&rate);
	set_nonblock(dc->fd);
	for (;;) {
		size_t moved = 0;
		ssize_t n = splice(dc->fd, NULL, pfd[1], NULL, (size_t)chunk,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			r = wait_io(s, dc, POLLIN, &rate);
			if (r != XFER_OK)
				break;
			continue;
		}
		if (n < 0) {
			r = XFER_DATA_ERR; /* RST: never a complete upload */
			break;
		}
		if (n == 0) {
			struct timespec fin;

			clock_gettime(CLOCK_MONOTONIC, &fin);
			r = upload_end(s, dc, &fin, *received, declared);
			break;
		}
		/* ABOR or death while data flows: this piece is still
		 * written, then the loop stops. */
		if (++blocks % CTRL_CHECK_EVERY == 0)
			stop = ctrl_to_result(session_check_control(s, 0));
		stop = stop != XFER_OK ? stop : rate_add(s, &rate, (uint64_t)n);
		if (acct != NULL &&
		    account_add_bytes(acct, (uint64_t)n, credit) < 0) {
			r = XFER_QUOTA; /* the piece dies with the pipe */
			break;
		}
		if (drain_pipe(pfd[0], ffd, (size_t)n, &buf, &moved) < 0) {
			*err = errno;
			/* Only what reached the file stays counted. */
			if (acct != NULL) {
				account_sub(acct, (uint64_t)n - moved, 0);
				account_written(acct, (uint64_t)n);
			}
			*received += moved;
			r = XFER_DISK_ERR;
			break;
		}
		if (acct != NULL)
			account_written(acct, (uint64_t)n);
		*received += (uint64_t)n;
		session_stream_grew(s, *received);
		if (stop != XFER_OK) {
			r = stop;
			break;
		}
	}
	/* Only a pipe known to be empty serves the next upload: every piece
	 * of a clean end was drained; a stop may have left one in it. Nor
	 * is a pipe kept that came out small (the per-user pipe budget was
	 * spent): the next upload may get a full one. */
	if (r != XFER_OK || chunk < RFTP_SPLICE_PIPE)
		xfer_pipe_release(s);
	free(buf);
	*out = r;
	return 0;
}

static enum xfer_result recv_file(struct session *s, const struct dconn *dc,
    int ffd, struct account *acct, uint64_t credit, const uint64_t *declared,
    uint64_t *received, int *err);

enum xfer_result
xfer_recv_file(struct session *s, const struct dconn *dc, int ffd,
    struct account *acct, uint64_t credit, const uint64_t *declared,
    uint64_t *received, int *err)
{
	enum xfer_result r;

	xfer_mark(s, "receiving");
	r = recv_file(s, dc, ffd, acct, credit, declared, received, err);
	xfer_mark(s, NULL);
	return r;
}

static enum xfer_result
recv_file(struct session *s, const struct dconn *dc, int ffd,
    struct account *acct, uint64_t credit, const uint64_t *declared,
    uint64_t *received, int *err)
{
	char *block;
	enum xfer_result r = XFER_OK, stop = XFER_OK;
	int held_cr = 0;
	unsigned blocks = 0;
	struct xfer_rate rate;

	*received = 0;
	if (dc->ssl == NULL && !s->ascii &&
	    recv_spliced(
	        s, dc, ffd, acct, credit, declared, received, err, &r) == 0)
		return r;
	block = malloc(RFTP_XFER_BUF);
	if (block == NULL) {
		*err = ENOMEM;
		return XFER_DISK_ERR;
	}
	rate_start(&rate);
	set_nonblock(dc->fd);
	for (;;) {
		size_t n = 0, len, wrote = 0, done = 0;
		short events;
		char carry = '\0';
		enum rx x = dc_recv(dc, block, RFTP_XFER_BUF, &n, &events);

		if (x == RX_WAIT) {
			r = wait_io(s, dc, events, &rate);
			if (r != XFER_OK)
				break;
			continue;
		}
		if (x == RX_ERR) {
			r = XFER_DATA_ERR; /* RST: never a complete upload */
			break;
		}
		if (x == RX_CUT) {
			slog(s, LOG_WARN,
			    "TLS data connection ended without close_notify "
			    "after %llu bytes: not counted as complete",
			    (unsigned long long)*received);
			r = XFER_DATA_ERR;
			break;
		}
		if (x == RX_END) {
			/* FIN (or close_notify). Complete only if the control
			 * side lives. */
			struct timespec fin;

			clock_gettime(CLOCK_MONOTONIC, &fin);
			if (held_cr) {
				held_cr = 0;
				carry = '\r';
			}
			r = upload_end(s, dc, &fin, *received, declared);
			if (r == XFER_OK && carry != '\0') {
				if (acct != NULL &&
				    account_add_bytes(acct, 1, credit))
					r = XFER_QUOTA;
				else if (write_all(ffd, &carry, 1, &wrote) <
				    0) {
					*err = errno;
					/* Charged, not written. */
					if (acct != NULL)
						account_sub(acct, 1, 0);
					r = XFER_DISK_ERR;
				} else
					*received += 1;
				if (r != XFER_QUOTA && acct != NULL)
					account_written(acct, 1);
			}
			break;
		}
		/* ABOR or death while data flows: this block is still
		 * written, then the loop stops. */
		if (++blocks % CTRL_CHECK_EVERY == 0)
			stop = ctrl_to_result(session_check_control(s, 0));
		stop = stop != XFER_OK ? stop : rate_add(s, &rate, n);
		len = n;
		if (s->ascii)
			len = ascii_to_unix(block, len, &held_cr, &carry);
		if (acct != NULL &&
		    account_add_bytes(acct, len + (carry != '\0'), credit) <
		        0) {
			r = XFER_QUOTA;
			break;
		}
		if ((carry != '\0' && write_all(ffd, &carry, 1, &wrote) < 0) ||
		    write_all(ffd, block, len, &done) < 0) {
			*err = errno;
			/* Only what reached the file stays counted: the whole
			 * block was given back after a short write, and the
			 * part of it kept in the partial went uncounted (a
			 * full disk, found from outside). */
			if (acct != NULL) {
				account_sub(acct,
				    len + (carry != '\0') - wrote - done, 0);
				account_written(acct, len + (carry != '\0'));
			}
			*received += wrote + done;
			r = XFER_DISK_ERR;
			break;
		}
		if (acct != NULL)
			account_written(acct, len + (carry != '\0'));
		*received += len + (carry != '\0');
		session_stream_grew(s, *received);
		if (stop != XFER_OK) {
			r = stop;
			break;
		}
	}
	free(block);
	return r;
}
