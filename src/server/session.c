/*
 * session.c - the life of one control connection.
 *
 * Reads lines with a bounded buffer (an over-long line is answered with 500
 * and skipped, the session goes on), hands each to the dispatcher, enforces
 * the idle timeout with 421, and on every way out runs one destructor that
 * closes the data channel, leaves the user's account and closes the socket.
 * An unfinished upload is rolled back by the transfer code before control
 * returns here, so the destructor never sees one.
 */
#include "server/session.h"
#include "server/transfer.h"

#include "common/stats.h"
#include "common/fnv.h"
#include "common/clock.h"
#include "common/log.h"
#include "server/cmdparse.h"
#include "server/cmdtable.h"
#include "server/datachan.h"
#include "server/pasvpool.h"
#include "server/quota.h"
#include "server/server.h"
#include "server/upload.h"
#include "server/reply.h"
#include "server/ban.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

long
session_ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (long)(t1.tv_sec - t0->tv_sec) * 1000 +
	    (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

const char *
session_change_name(enum change_op op)
{
	switch (op) {
	case CHANGE_PUT:
		return "upload";
	case CHANGE_DELETE:
		return "delete";
	case CHANGE_RENAME:
		return "rename";
	case CHANGE_MKDIR:
		return "folder creation";
	case CHANGE_RMDIR:
		return "folder removal";
	case CHANGE_TIME:
		return "new modification time";
	}
	return "change";
}

/*
 * The mirror's fair share (upload_sink.h) is between clients: a client is
 * a user at an address. Not the session: a script that connects once per
 * file would be a new client each time and always go first. The same
 * across sessions and restarts (the queue keeps flows); never 0, which is
 * every change seen outside the server. FNV-1a, 64 bits.
 */
static uint64_t
session_flow(const struct session *s)
{
	/* Each part with its NUL, as stored flows were made (test_fnv.c
	 * pins two). */
	uint64_t h =
	    fnv1a64(FNV1A64_INIT, s->user.name, strlen(s->user.name) + 1);

	h = fnv1a64(h, s->peer_ip, strlen(s->peer_ip) + 1);
	h &= INT64_MAX;
	return h != 0 ? h : 1;
}

int
session_change_begin(struct session *s, enum change_op op, const char *path,
    const char *new_path, struct change_token *tok)
{
	struct upload_event ev = { op, s->user.name, s->user.home,
		s->user.mirror, path, new_path, 0, 0, s->peer_ip,
		session_flow(s) };

	tok->held = 0;
	if (s->srv->sink.begin == NULL)
		return 0;
	if (s->srv->sink.begin(s->srv->sink.ctx, &ev, tok) == 0)
		return 0;
	slog(s, LOG_ERR, "the mirror could not record the coming %s of %s",
	    session_change_name(op), path);
	stats_add(s->srv->stats, STAT_QUEUE_UNRECORDED, 1);
	return -1;
}

int
session_change_end(struct session *s, struct change_token *tok,
    enum change_op op, const char *path, const char *new_path, int happened,
    uint64_t size)
{
	struct upload_event ev = { op, s->user.name, s->user.home,
		s->user.mirror, path, new_path, size, 0, s->peer_ip,
		session_flow(s) };

	if (s->srv->sink.end == NULL || !tok->held)
		return 0;
	if (s->srv->sink.end(s->srv->sink.ctx, tok, happened ? &ev : NULL) == 0)
		return 0;
	slog(s, LOG_ERR, "the mirror could not record the %s of %s",
	    session_change_name(op), path);
	stats_add(s->srv->stats, STAT_QUEUE_UNRECORDED, 1);
	return -1;
}

void *
session_stream_begin(
    struct session *s, const char *path, int fd, uint64_t declared)
{
	struct upload_event ev = { CHANGE_PUT, s->user.name, s->user.home,
		s->user.mirror, path, NULL, declared, 0, s->peer_ip,
		session_flow(s) };

	if (s->srv->sink.stream_begin == NULL)
		return NULL;
	return s->srv->sink.stream_begin(s->srv->sink.ctx, &ev, fd);
}

void
session_stream_grew(struct session *s, uint64_t size)
{
	if (s->xfer_stream != NULL && s->srv->sink.stream_grew != NULL)
		s->srv->sink.stream_grew(
		    s->srv->sink.ctx, s->xfer_stream, size);
}

void
session_stream_end(struct session *s, void *h, int complete, uint64_t size)
{
	if (h != NULL && s->srv->sink.stream_end != NULL)
		s->srv->sink.stream_end(s->srv->sink.ctx, h, complete, size);
}

static const char *const sess_state_names[] = {
	[SESS_GREETED] = "greeted",
	[SESS_NEED_PASS] = "need-pass",
	[SESS_LOGGED_IN] = "logged-in",
	[SESS_CLOSING] = "closing",
};

const char *
session_state_name(enum sess_state st)
{
	switch (st) {
	case SESS_GREETED:
	case SESS_NEED_PASS:
	case SESS_LOGGED_IN:
	case SESS_CLOSING:
		return sess_state_names[st];
	}
	return "?";
}

void
session_enter_state(struct session *s, enum sess_state to)
{
	if (s->state == to)
		return;
	/* OpenSMTPD's smtp_enter_state: every change in one place, traced. */
	slog(s, LOG_DEBUG, "session %s -> %s", session_state_name(s->state),
	    session_state_name(to));
	s->state = to;
}

void
session_upload_home(const struct session *s, struct upload_home *h)
{
	h->root_fd = s->root_fd;
	h->account = s->account;
	h->max_entries_per_folder = s->user.max_entries_per_folder;
	h->fsync = s->srv->cfg.fsync_uploads;
	h->may_replace = (s->user.perms & PERM_DELETE) != 0;
	h->may_append = (s->user.perms & PERM_APPEND) != 0;
}

/* Makes *p (holding *cap bytes) want bytes long. Returns 0, or -1 with
 * *p unchanged when there is no memory. */
static int
resize(char **p, size_t *cap, size_t want)
{
	char *n = realloc(*p, want);

	if (n == NULL)
		return -1;
	*p = n;
	*cap = want;
	return 0;
}

/*
 * Copies vpath into *dst (*cap bytes), growing it to fit: paths are kept
 * in buffers sized to them, not RFTP_PATH_MAX each, as most are short and
 * an idle session should cost little. A path that does not fit the limit
 * is an error, never a shorter path.
 */
static int
keep_path(char **dst, size_t *cap, const char *vpath)
{
	size_t n = strlen(vpath);

	if (n >= RFTP_PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (n + 1 > *cap && resize(dst, cap, n + 1) < 0) {
		errno = ENOMEM;
		return -1;
	}
	memcpy(*dst, vpath, n + 1);
	return 0;
}

int
session_keep_cwd(struct session *s, const char *vpath)
{
	return keep_path(&s->cwd, &s->cwdcap, vpath);
}

int
session_keep_rnfr(struct session *s, const char *vpath)
{
	return keep_path(&s->rnfr, &s->rnfrcap, vpath);
}

void
session_reset_cwd(struct session *s)
{
	/* session_run made it at least 2 bytes. */
	memcpy(s->cwd, "/", 2);
}

void
session_dc_reset(struct session *s)
{
	if (s->dc_early_fd >= 0)
		close(s->dc_early_fd);
	s->dc_early_fd = -1;
	pasvpool_close(s->srv->pasv, s->dc_listen_fd, s->dc_listen_port);
	s->dc_listen_fd = -1;
	dc_enter_state(s, DC_NONE);
}

void
session_logout(struct session *s)
{
	if (s->account != NULL)
		account_leave(s->srv->accounts, s->account);
	s->account = NULL;
	if (s->root_fd >= 0)
		close(s->root_fd);
	s->root_fd = -1;
	/* The destructor logs out a closing session: it stays closing. */
	if (s->state != SESS_CLOSING)
		session_enter_state(s, SESS_GREETED);
	s->user.name[0] = '\0';
	s->have_rnfr = 0;
	s->rest = 0;
	s->have_allo = 0;
	session_reset_cwd(s);
}

/* Receives what is there (non-blocking) into the input buffer. Returns -1
 * when the connection is closed or failed. */
static int
fill_input(struct session *s)
{
	ssize_t n;

	/* A long line: the buffer grows, by doubling, up to the line limit. */
	if (s->inlen >= s->incap && s->incap < RFTP_LINE_MAX) {
		size_t want =
		    s->incap * 2 < RFTP_LINE_MAX ? s->incap * 2 : RFTP_LINE_MAX;

		if (resize(&s->in, &s->incap, want) < 0) {
			slog(s, LOG_ERR, "no memory for a command line");
			s->ctrl_eof = 1;
			return -1;
		}
	}
	if (s->inlen >= RFTP_LINE_MAX) {
		/* Full with no newline: keep only what decides the skip. */
		s->discarding = 1;
		s->inlen = 0;
	}
	if (s->ctrl_ssl != NULL) {
		size_t got = 0;
		enum tls_io r = tls_read(
		    s->ctrl_ssl, s->in + s->inlen, s->incap - s->inlen, &got);

		if (r == TLS_IO_OK)
			s->inlen += got;
		else if (r != TLS_IO_WANT_READ && r != TLS_IO_WANT_WRITE) {
			s->ctrl_eof = 1;
			return -1;
		}
		return 0;
	}
	n = recv(
	    s->ctrl_fd, s->in + s->inlen, s->incap - s->inlen, MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		s->ctrl_eof = 1;
		return -1;
	}
	if (n > 0)
		s->inlen += (size_t)n;
	return 0;
}

/*
 * Takes one complete line out of the input buffer into s->line (without
 * LF, with room for a NUL after it). Returns its length, -1 if no complete
 * line is buffered, or -2 when there is no memory for it (logged). A line
 * that overflowed the buffer is skipped and reported with 500.
 */
static long
take_line(struct session *s)
{
	char *nl;
	size_t len;

	for (;;) {
		nl = memchr(s->in, '\n', s->inlen);
		if (nl == NULL)
			return -1;
		len = (size_t)(nl - s->in);
		if (!s->discarding && len + 1 > s->linecap &&
		    resize(&s->line, &s->linecap, len + 1) < 0) {
			slog(s, LOG_ERR, "no memory for a command line");
			return -2;
		}
		if (!s->discarding)
			memcpy(s->line, s->in, len);
		memmove(s->in, nl + 1, s->inlen - len - 1);
		s->inlen -= len + 1;
		if (!s->discarding)
			return (long)len;
		s->discarding = 0;
		session_log_capped(s, &s->bad_cmds, LOG_INFO,
		    "refused commands", "command line over %d bytes refused",
		    RFTP_LINE_MAX);
		reply(s, 500, "Command line too long.");
	}
}

/*
 * Whether the whole buffered line at off has the verb want (bare: and no
 * argument): 1 or 0 with *end past its LF, or -1 if no whole line starts
 * there.
 */
static int
line_is(const struct session *s, size_t off, const char *want, int bare,
    size_t *end)
{
	char line[RFTP_LINE_MAX + 1];
	char verb[CMD_VERB_MAX];
	const char *arg;
	const char *nl = memchr(s->in + off, '\n', s->inlen - off);
	size_t n;

	if (nl == NULL)
		return -1;
	*end = (size_t)(nl - s->in) + 1;
	n = *end - off - 1;
	memcpy(line, s->in + off, n);
	n = cmd_clean(line, n);
	return cmd_split(line, n, verb, &arg) == LINE_OK &&
	    strcmp(verb, want) == 0 && (!bare || arg[0] == '\0');
}

/* Takes the buffered bytes [off, end) out, the rest kept in order. */
static void
drop_line(struct session *s, size_t off, size_t end)
{
	memmove(s->in + off, s->in + end, s->inlen - end);
	s->inlen -= end - off;
}

/*
 * Finds a complete ABOR line anywhere among the buffered lines and takes it
 * out, leaving the others in their order. Returns 1 if one was found.
 */
static int
take_abor(struct session *s)
{
	size_t off = 0, end;
	int skip = s->discarding; /* the first "line" ends an over-long one */

	while (off < s->inlen) {
		int r = line_is(s, off, "ABOR", 0, &end);

		if (r < 0)
			return 0;
		if (r == 1 && !skip) {
			drop_line(s, off, end);
			return 1;
		}
		skip = 0;
		off = end;
	}
	return 0;
}

/*
 * Answers the STATs (without an argument) that come first among the
 * buffered lines during a file transfer with the transfer's status (RFC 959
 * 4.1.3: "the server responds with the status of the operation in
 * progress"), and takes them out. Only first ones: a line before a STAT is
 * answered after the transfer, and its reply must come before the STAT's.
 * A STAT with a path is a listing: it waits its turn like any command, and
 * so do lines pipelined behind the transfer's command (xfer_behind). The
 * first "line" of a session discarding an over-long one is its end: never
 * a STAT.
 */
static void
answer_stat(struct session *s)
{
	size_t end;

	while (s->xfer_what != NULL && !s->xfer_behind && !s->discarding &&
	    line_is(s, 0, "STAT", 1, &end) == 1) {
		drop_line(s, 0, end);
		reply_start(s, 213, "Status of the transfer in progress:");
		reply_line(s, " %s, %llu bytes so far", s->xfer_what,
		    (unsigned long long)s->xfer_bytes);
		reply(s, 213, "End of status");
	}
}

enum ctrl_event
session_wait_abor(struct session *s, int readable)
{
	if (readable && session_can_read(s) && fill_input(s) < 0)
		return CTRL_DEAD;
	return take_abor(s) ? CTRL_ABORT : CTRL_QUIET;
}

int
session_has_lines(const struct session *s)
{
	return s->inlen > 0 && memchr(s->in, '\n', s->inlen) != NULL;
}

/* A buffer full of complete lines is not read further during a transfer:
 * fill_input would drop it as one over-long line. They wait their turn. */
int
session_can_read(const struct session *s)
{
	return s->inlen < RFTP_LINE_MAX || !session_has_lines(s);
}

/*
 * The client closed its side of the control connection during a transfer:
 * a client killed mid-upload does that too, so it ends a clear-text upload
 * (its data FIN proves nothing, finwatch.c). Over a TLS data connection
 * the transfer's end is proven by close_notify, which a killed client
 * never sends, and a download (xfer_out) has nothing to judge (a client
 * killed mid-download leaves nothing behind): those go on, so a client
 * that sent QUIT and shut its side down gets its file and both replies
 * (RFC 959: QUIT waits for the transfer), as from vsftpd.
 */
int
session_half_close_goes_on(const struct session *s)
{
	return s->xfer_tls || s->xfer_out;
}

static void
half_close_ok(struct session *s)
{
	if (!s->ctrl_halfclosed)
		slog(s, LOG_INFO, "%s",
		    s->xfer_tls ? "control connection closed by the client "
		                  "during a TLS transfer: the transfer goes on "
		                  "(its close_notify decides)" :
		                  "control connection closed by the client "
		                  "during a download: the download goes on");
	s->ctrl_halfclosed = 1;
	s->ctrl_eof = 0; /* its lines are answered after the transfer */
}

enum ctrl_event
session_check_control(struct session *s, long timeout_us)
{
	struct pollfd pf[2];
	struct timespec wait = { 0, 0 };

	/* Bytes TLS already decrypted do not wake poll: look now. */
	int pending = s->ctrl_ssl != NULL && tls_pending(s->ctrl_ssl) > 0;

	if (s->ctrl_halfclosed && session_half_close_goes_on(s))
		pending = 0; /* all was read when the half-close came */

	/* Microseconds, not poll's milliseconds: the wait after an upload's
	 * data FIN is usually far below one millisecond (transfer.c). */
	if (!pending && timeout_us > 0) {
		wait.tv_sec = timeout_us / 1000000;
		wait.tv_nsec = (timeout_us % 1000000) * 1000;
	}
	/* Negative: poll ignores it (half-closed, nothing more to come). */
	pf[0].fd = s->ctrl_halfclosed && session_half_close_goes_on(s) ?
	    -1 :
	    s->ctrl_fd;
	pf[0].events = session_can_read(s) ? POLLIN | POLLRDHUP : POLLRDHUP;
	pf[0].revents = 0;
	pf[1].fd = s->srv->stop_fd;
	pf[1].events = POLLIN;
	if (ppoll(pf, 2, &wait, NULL) < 0)
		return errno == EINTR ? CTRL_QUIET : CTRL_DEAD;
	if (pf[1].revents & POLLIN)
		return CTRL_DEAD;
	if (pf[0].revents & (POLLERR | POLLHUP | POLLNVAL))
		return CTRL_DEAD;
	if ((pf[0].revents & POLLRDHUP) && session_half_close_goes_on(s)) {
		int avail = 0;

		/* Over TLS, only the bytes before the end are read (a QUIT,
		 * answered after the transfer as any line during one), never
		 * the end itself: OpenSSL fails a connection whose end it
		 * reads without close_notify, and the replies still have to
		 * go out through it. */
		if (session_can_read(s) &&
		    ioctl(s->ctrl_fd, FIONREAD, &avail) == 0 && avail > 0)
			(void)fill_input(s);
		half_close_ok(s);
		return take_abor(s) ? CTRL_ABORT : CTRL_QUIET;
	}
	if (((pf[0].revents & POLLIN) || pending) && session_can_read(s) &&
	    fill_input(s) < 0)
		return CTRL_DEAD;
	if (pf[0].revents & POLLRDHUP)
		return CTRL_DEAD;
	/*
	 * ABOR acts during a transfer (RFC 959 4.1.3) wherever it sits
	 * among the lines already received ("NOOP\r\nABOR\r\n" in one
	 * packet): it is answered at once (426, 226), and the lines before
	 * and after it wait in the buffer and are answered afterwards, in
	 * their order. A STAT first in line is answered at once too.
	 */
	answer_stat(s);
	return take_abor(s) ? CTRL_ABORT : CTRL_QUIET;
}

static void timeout_line(struct session *s, const char *what);

enum read_result {
	READ_LINE,
	READ_TIMEOUT,
	READ_LOGIN_TIMEOUT,
	READ_CLOSED,
	READ_STOP,
};

/*
 * Waits for one whole command line. The idle timeout runs from the start of
 * the wait, not from the last byte: a client trickling one byte at a time
 * (slow-loris) is closed like a silent one. Before login, login_timeout
 * counts from the connection, so nobody holds a slot without logging in.
 */
/*
 * The session has waited RFTP_IDLE_TRIM_MS for a command: it gives back
 * what a deep or long command left behind, so a thousand idle sessions
 * cost little. A failed shrink keeps the bigger buffer, which still works.
 */
static void
idle_trim(struct session *s)
{
	if (s->incap > RFTP_LINE_BUF_MIN && s->inlen <= RFTP_LINE_BUF_MIN &&
	    resize(&s->in, &s->incap, RFTP_LINE_BUF_MIN) < 0)
		slog(s, LOG_DEBUG, "input buffer not shrunk");
	if (s->linecap > RFTP_LINE_BUF_MIN &&
	    resize(&s->line, &s->linecap, RFTP_LINE_BUF_MIN) < 0)
		slog(s, LOG_DEBUG, "line buffer not shrunk");
	if (!s->have_rnfr) {
		free(s->rnfr);
		s->rnfr = NULL;
		s->rnfrcap = 0;
	}
	xfer_pipe_release(s);
	server_release_stack();
	s->trimmed = 1;
}

/* Sends replies left waiting in the socket (MSG_MORE, reply.c): setting
 * TCP_NODELAY pushes what is queued (tcp(7)). */
static void
push_corked(struct session *s)
{
	int one = 1;

	if (!s->corked)
		return;
	s->corked = 0;
	(void)setsockopt(
	    s->ctrl_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/*
 * A passive listener no transfer command came for within data_timeout is
 * closed and its port given back to the pool. The ports are shared: 20
 * sessions that sent EPSV and then only NOOP kept a 20-port range from
 * every other session for as long as they liked (each waiter got 425).
 * A client sends its transfer command right after PASV; one that comes
 * later gets 425 and sends PASV again, as after a data timeout.
 */
static void
pasv_expired(struct session *s)
{
	slog(s, LOG_INFO,
	    "passive port %u given back: no transfer command within "
	    "data_timeout (%llu s)",
	    (unsigned)s->dc_listen_port,
	    (unsigned long long)s->srv->cfg.data_timeout);
	session_dc_reset(s);
}

static enum read_result
read_line(struct session *s, size_t *len)
{
	long idle_ms = (long)s->srv->cfg.idle_timeout * 1000;
	long login_ms = (long)s->srv->cfg.login_timeout * 1000;
	struct timespec t0;
	int weed = 1; /* the passive listener is watched (dc_weed) */

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pf[3];
		long n, left, login_left;
		nfds_t npf = 2;

		/* Pipelined lines do not extend login_timeout either. */
		if (s->state != SESS_LOGGED_IN &&
		    session_ms_since(&s->started) >= login_ms)
			return READ_LOGIN_TIMEOUT;
		n = take_line(s);
		if (n >= 0) {
			*len = (size_t)n;
			s->trimmed = 0;
			return READ_LINE;
		}
		if (n == -2)
			return READ_CLOSED;
		if (s->ctrl_eof)
			return READ_CLOSED;
		if (s->ctrl_ssl != NULL && tls_pending(s->ctrl_ssl) > 0) {
			if (fill_input(s) < 0)
				return READ_CLOSED;
			continue;
		}
		left = idle_ms - session_ms_since(&t0);
		if (left <= 0)
			return READ_TIMEOUT;
		if (s->dc_listen_fd >= 0) {
			long pasv_left = (long)s->srv->cfg.data_timeout * 1000 -
			    session_ms_since(&s->dc_listen_t0);

			if (pasv_left <= 0) {
				pasv_expired(s);
				continue;
			}
			if (pasv_left < left)
				left = pasv_left;
		}
		if (!s->trimmed) {
			long trim_left =
			    RFTP_IDLE_TRIM_MS - session_ms_since(&t0);

			if (trim_left <= 0) {
				idle_trim(s);
				continue;
			}
			if (trim_left < left)
				left = trim_left;
		}
		if (s->state != SESS_LOGGED_IN) {
			login_left = login_ms - session_ms_since(&s->started);
			if (login_left <= 0)
				return READ_LOGIN_TIMEOUT;
			if (login_left < left)
				left = login_left;
		}
		/* No reply may wait for a command that is not coming. */
		push_corked(s);
		pf[0].fd = s->ctrl_fd;
		pf[0].events = POLLIN;
		pf[1].fd = s->srv->stop_fd;
		pf[1].events = POLLIN;
		/* Between PASV and the transfer command, what connects to the
		 * passive port is taken as it comes (dc_weed): strangers'
		 * connections left queued there kept the client's out. */
		if (weed && s->dc_listen_fd >= 0 && s->dc_early_fd < 0) {
			pf[2].fd = s->dc_listen_fd;
			pf[2].events = POLLIN;
			pf[2].revents = 0;
			npf = 3;
		}
		n = poll(pf, npf, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return READ_CLOSED;
		if (n == 0)
			continue; /* the deadlines above decide */
		if (pf[1].revents & POLLIN)
			return READ_STOP;
		if (npf == 3 && pf[2].revents != 0 && dc_weed(s) < 0)
			weed = 0; /* accept fails: leave them to dc_open */
		if (pf[0].revents != 0 && fill_input(s) < 0)
			return READ_CLOSED;
	}
}

static void
set_prefix(struct session *s)
{
	snprintf(s->prefix, sizeof(s->prefix), "[%llu %s %s]",
	    (unsigned long long)s->id, s->peer_ip,
	    s->user.name[0] != '\0' ? s->user.name : "-");
}

/*
 * The debug trace of a command line. Any line that may hold a password is
 * traced masked: PASS in any case or spacing (cmd_split), and a mistyped
 * verb ("PAS <password>", the password alone).
 */
static void
trace_line(struct session *s, const char *verb, const char *arg)
{
	const char *shown;

	if (cmd_trace_whole(verb)) {
		slog(s, LOG_DEBUG, "-> %s %s", verb, arg);
		return;
	}
	shown = cmd_verb_shown(s, verb);
	slog(s, LOG_DEBUG, "-> %s%s",
	    shown != NULL ? shown : "(a line not shown)",
	    shown != NULL && arg[0] != '\0' ? " ****" : "");
}

static void
session_loop(struct session *s, int implicit_tls)
{
	char verb[CMD_VERB_MAX];
	const char *arg;
	enum line_err split;
	size_t len;

	if (implicit_tls && session_start_tls(s) < 0)
		return;
	reply(s, 220, "relayftpd ready.");
	while (s->state != SESS_CLOSING && !s->ctrl_eof) {
		enum sess_state before = s->state;

		switch (read_line(s, &len)) {
		case READ_LINE:
			break;
		case READ_TIMEOUT:
			timeout_line(s, "idle timeout");
			reply(s, 421,
			    "Timeout (%llu seconds): closing control "
			    "connection.",
			    (unsigned long long)s->srv->cfg.idle_timeout);
			return;
		case READ_LOGIN_TIMEOUT:
			timeout_line(s, "no login within login_timeout");
			reply(s, 421,
			    "Login timeout (%llu seconds): closing control "
			    "connection.",
			    (unsigned long long)s->srv->cfg.login_timeout);
			return;
		case READ_STOP:
			reply(s, 421, "Server shutting down.");
			return;
		case READ_CLOSED:
			return;
		}
		/* s->line stays put until the next read_line: arg points in. */
		len = cmd_clean(s->line, len);
		split = cmd_split(s->line, len, verb, &arg);
		switch (split) {
		case LINE_OK:
			break;
		case LINE_EMPTY:
			/* As vsftpd and pure-ftpd (measured): no reply. A
			 * client that sends a bare line end (a keep-alive)
			 * would read a 500 as the reply to its next command. */
			continue;
		case LINE_NUL:
		case LINE_BADVERB:
			/* Commands too: they end a pending rename or ALLO,
			 * as cmd_dispatch's do. */
			s->have_rnfr = 0;
			s->have_allo = 0;
			session_bad_command(s,
			    split == LINE_NUL ? "command with a NUL byte" :
			                        "malformed command",
			    "", "");
			reply(s, 500, "%s",
			    split == LINE_NUL ? "NUL byte in command." :
			                        "Syntax error, command "
			                        "unrecognized.");
			continue;
		}
		if (log_enabled(LOG_DEBUG))
			trace_line(s, verb, arg);
		cmd_dispatch(s, verb, arg);
		if (s->state != before)
			set_prefix(s);
	}
}

/* Logs the count of capped lines of kind the budget left out (0: none);
 * counted under capped_lock, logged after it. */
static void
capped_dropped_log(uint64_t dropped, enum capped_kind kind)
{
	const char *what = "refusal lines of sessions";
	char more[128] = "";

	switch (kind) {
	case CAPPED_OWN_WARN:
		what = "refusal warnings of sessions";
		snprintf(more, sizeof(more),
		    ", %d of a kind from one user or anonymous address, %d "
		    "from all anonymous ones (%d of a kind)",
		    RFTP_WARN_SOURCE_PER_SECOND, RFTP_WARN_ANON_PER_SECOND,
		    RFTP_WARN_ANON_KIND_PER_SECOND);
		break;
	case CAPPED_STRANGER:
		what = "warnings of strangers' connections (or of sessions "
		       "not logged in)";
		break;
	case CAPPED_INFO:
		/* Lines of sessions whose "connected" line was left out
		 * (timeout_line, a failed handshake) are counted here too. */
		snprintf(more, sizeof(more),
		    ", or their session's \"connected\" line was not logged");
		break;
	case CAPPED_REFUSED:
		what = "refused connections";
		snprintf(more, sizeof(more), ", %d from one address",
		    RFTP_REFUSED_LOG_PER_ADDRESS);
		break;
	}
	if (dropped > 0)
		log_warn("%llu %s not logged: over %d a second from all "
		         "sessions%s",
		    (unsigned long long)dropped, what,
		    RFTP_CAPPED_LOG_PER_SECOND, more);
}

/* Refills b, a bucket of burst lines refilled at rate a second, to now
 * (clock_mono_ms()); its lines left, in thousandths. Under capped_lock:
 * a thread that read the clock before another but locked after it saw
 * time go back, and the unsigned difference, huge, refilled a whole
 * burst (found by a review: four clients at once had 1,347 lines logged
 * in 3 s). */
static uint64_t
bucket_fill(
    struct capped_bucket *b, uint64_t now, uint64_t burst, uint64_t rate)
{
	const uint64_t full = burst * 1000;
	uint64_t ms = now > b->at_ms ? now - b->at_ms : 0;

	/* rate lines a second: as many thousandths of a line a
	 * millisecond. */
	b->milli = ms >= full / rate ? full : b->milli + ms * rate;
	if (b->milli > full)
		b->milli = full;
	b->at_ms = now;
	return b->milli;
}

/* Counts one line of b left out at now. Under capped_lock. */
static void
capped_drop(struct capped_bucket *b, uint64_t now)
{
	if (b->dropped++ == 0)
		b->dropped_ms = now;
}

/* Whether one more capped line of kind fits the server's budget for
 * lines of that kind: each kind has its own, so a flood of unknown
 * commands (info) or of a stranger's connections to passive ports cannot
 * spend the one of a logged-in client's bounce attempts. src and anon,
 * if not NULL, are buckets the line must fit too (warn_budget); fresh,
 * if not NULL (the line's source was quiet of its kind lately), is the
 * reserve the line takes from when the server's budget is spent: sources
 * looping spent it all, and a quiet one's first line was only counted. A line left out is counted once, in kind's "not logged".
 * Under capped_lock; *dropped is the count the caller logs
 * (capped_dropped_log) once it has let the lock go. */
static int
capped_take(struct server *srv, enum capped_kind kind,
    struct capped_bucket *src, struct capped_bucket *anon,
    struct capped_bucket *fresh, uint64_t now, uint64_t *dropped,
    int *took_fresh)
{
	struct capped_bucket *b = &srv->capped[kind];
	struct capped_bucket *from = b;
	int ok;

	/* Every bucket refilled before any is asked: each keeps its own
	 * clock. */
	ok = bucket_fill(b, now, RFTP_CAPPED_LOG_BURST,
	         RFTP_CAPPED_LOG_PER_SECOND) >= 1000;
	if (!ok && fresh != NULL &&
	    bucket_fill(fresh, now, RFTP_WARN_FRESH_BURST,
	        RFTP_WARN_FRESH_PER_SECOND) >= 1000) {
		from = fresh;
		ok = 1;
	}
	if (src != NULL)
		ok &= bucket_fill(src, now, RFTP_WARN_SOURCE_BURST,
		          RFTP_WARN_SOURCE_PER_SECOND) >= 1000;
	/* An anonymous line fits its kind's bucket and the one of all
	 * kinds: each kind its half of the anonymous half, so neither one
	 * kind hides another nor two kinds the named users'. */
	if (anon != NULL) {
		ok &= bucket_fill(anon, now, RFTP_WARN_ANON_KIND_BURST,
		          RFTP_WARN_ANON_KIND_PER_SECOND) >= 1000;
		ok &=
		    bucket_fill(&srv->warn_anon_all, now, RFTP_WARN_ANON_BURST,
		        RFTP_WARN_ANON_PER_SECOND) >= 1000;
	}
	*took_fresh = ok && from == fresh;
	if (ok) {
		from->milli -= 1000;
		if (src != NULL)
			src->milli -= 1000;
		if (anon != NULL) {
			anon->milli -= 1000;
			srv->warn_anon_all.milli -= 1000;
		}
		*dropped = b->dropped;
		b->dropped = 0;
	} else {
		*dropped = 0;
		capped_drop(b, now);
	}
	return ok;
}

int
session_capped_budget(struct server *srv, enum capped_kind kind)
{
	uint64_t dropped;
	int ok, took_fresh;

	pthread_mutex_lock(&srv->capped_lock);
	ok = capped_take(srv, kind, NULL, NULL, NULL, clock_mono_ms(), &dropped,
	    &took_fresh);
	pthread_mutex_unlock(&srv->capped_lock);
	capped_dropped_log(dropped, kind);
	return ok;
}

/* Whether the pair e (found, or taken back from a ghost) is quiet of its
 * kind at now: it asked for no line in the time its burst takes to
 * refill, and took no line of the reserve in RFTP_WARN_FRESH_AGAIN_S (a
 * bucket's at_ms is its last ask: a source the server's budget keeps
 * from logging refills all the same, so full is no sign of quiet). */
static int
warn_quiet(const struct warn_source *e, uint64_t now)
{
	return now >= e->bucket.at_ms &&
	    now - e->bucket.at_ms >= (uint64_t)RFTP_WARN_SOURCE_BURST * 1000 /
	        RFTP_WARN_SOURCE_PER_SECOND &&
	    (e->fresh_ms == 0 ||
	        now + 1 - e->fresh_ms >=
	            (uint64_t)RFTP_WARN_FRESH_AGAIN_S * 1000);
}

/* The hash a pair's ghost is kept by; never 0 (an empty way). */
static uint64_t
warn_ghost_hash(const unsigned char *key, size_t key_len)
{
	uint64_t h = fnv1a64(FNV1A64_INIT, key, key_len);

	return h != 0 ? h : 1;
}

/* Keeps e's state (a named pair pushed out of warn_seen) in its ghost
 * set, in place of an empty way or the one least recently heard of.
 * Under capped_lock. */
static void
warn_ghost_keep(struct server *srv, const struct warn_source *e)
{
	uint64_t h = warn_ghost_hash(e->key, e->key_len);
	struct warn_ghost *set = srv->warn_ghost[h % RFTP_WARN_GHOST_SETS];
	struct warn_ghost *g = &set[0];

	for (size_t i = 0; i < RFTP_WARN_GHOST_WAYS; i++) {
		if (set[i].hash == 0 || set[i].hash == h) {
			g = &set[i];
			break;
		}
		if (set[i].bucket.at_ms < g->bucket.at_ms)
			g = &set[i];
	}
	g->hash = h;
	g->bucket = e->bucket;
	g->fresh_ms = e->fresh_ms;
}

/* Into e (a named pair just made), the state its ghost kept, if any,
 * which is then forgotten; 1 if there was one. Under capped_lock. */
static int
warn_ghost_take(struct server *srv, struct warn_source *e)
{
	uint64_t h = warn_ghost_hash(e->key, e->key_len);
	struct warn_ghost *set = srv->warn_ghost[h % RFTP_WARN_GHOST_SETS];

	for (size_t i = 0; i < RFTP_WARN_GHOST_WAYS; i++) {
		if (set[i].hash == h) {
			e->bucket = set[i].bucket;
			e->fresh_ms = set[i].fresh_ms;
			set[i].hash = 0;
			return 1;
		}
	}
	return 0;
}

/* The bucket of the source of a logged-in client's warning of one kind
 * (a user's name; an anonymous login's address, IPv6 by its /64, as the
 * bans count, since anyone may log in anonymously), found in seen (one
 * of RFTP_WARN_SOURCES slots, the named or the anonymous table), made if
 * new in the slot of the source least recently heard of, full. For named
 * pairs (srv not NULL) the one pushed out is kept as a ghost, and a new
 * one takes its ghost's state back: more than 64 pairs looping each came
 * back with a full burst and quiet. *quiet: whether it is new or
 * warn_quiet. Under capped_lock. */
static struct capped_bucket *
warn_source(struct server *srv, struct warn_source *seen,
    const unsigned char *key, size_t key_len, uint64_t now, int *quiet,
    struct warn_source **entry)
{
	struct warn_source *oldest = &seen[0];

	for (size_t i = 0; i < RFTP_WARN_SOURCES; i++) {
		struct warn_source *e = &seen[i];

		if (e->key_len == key_len &&
		    memcmp(e->key, key, key_len) == 0) {
			*quiet = warn_quiet(e, now);
			*entry = e;
			return &e->bucket;
		}
		if (oldest->key_len != 0 &&
		    (e->key_len == 0 || e->bucket.at_ms < oldest->bucket.at_ms))
			oldest = e;
	}
	if (srv != NULL && oldest->key_len != 0)
		warn_ghost_keep(srv, oldest);
	memcpy(oldest->key, key, key_len);
	oldest->key_len = key_len;
	*entry = oldest;
	if (srv != NULL && warn_ghost_take(srv, oldest)) {
		*quiet = warn_quiet(oldest, now);
		return &oldest->bucket;
	}
	oldest->bucket.at_ms = now;
	oldest->bucket.milli = (uint64_t)RFTP_WARN_SOURCE_BURST * 1000;
	oldest->fresh_ms = 0;
	*quiet = 1;
	return &oldest->bucket;
}

/* The bucket of all anonymous logins' warnings of kind (warn_budget's
 * hash of its name), made if new in the slot of the kind least recently
 * heard of, full. One a kind, as a source's: anonymous bounces from many
 * addresses spent the one bucket of all kinds, and an anonymous login's
 * warning that its home cannot be counted was only counted. Under
 * capped_lock. */
static struct capped_bucket *
anon_bucket(struct server *srv, uint64_t kind, uint64_t now)
{
	struct warn_anon *oldest = &srv->warn_anon[0];

	for (size_t i = 0; i < RFTP_WARN_ANON_KINDS; i++) {
		struct warn_anon *e = &srv->warn_anon[i];

		if (e->used && e->kind == kind)
			return &e->bucket;
		if (oldest->used &&
		    (!e->used || e->bucket.at_ms < oldest->bucket.at_ms))
			oldest = e;
	}
	oldest->kind = kind;
	oldest->used = 1;
	oldest->bucket.at_ms = now;
	oldest->bucket.milli = (uint64_t)RFTP_WARN_ANON_KIND_BURST * 1000;
	return &oldest->bucket;
}

/* session_capped_budget for a logged-in client's own warning
 * (CAPPED_OWN_WARN) of the kind what names ("refused PORT/EPRT",
 * "warnings that the home was not counted"), which must fit the bucket of its source and kind too, and
 * if anonymous, the one of all anonymous logins of that kind: one client
 * reconnecting with PORTs to a third host spent the whole budget, and
 * another user's bounce, or a quota warning, was only counted; and with
 * one bucket a source, a user's own bounce flood hid that user's quota
 * warnings. */
static int
warn_budget(struct session *s, const char *what)
{
	struct server *srv = s->srv;
	unsigned char key[sizeof(srv->warn_seen[0].key)];
	/* The kind by its name, not the string's address: the same name
	 * in two files may be two strings. Our own names, no client's
	 * input, so FNV's collisions are no one's to choose. */
	uint64_t kind = fnv1a64_str(FNV1A64_INIT, what);
	size_t key_len;
	int anon =
	    srv->cfg.anonymous && strcmp(s->user.name, USERS_ANON_SECTION) == 0;
	struct capped_bucket *src;
	struct warn_source *entry;
	uint64_t now, dropped;
	int ok, quiet, took_fresh;

	key[0] = anon ? 'a' : 'u';
	memcpy(key + 1, &kind, sizeof(kind));
	key_len = 1 + sizeof(kind);
	if (anon) {
		ban_addr_key(&s->peer, 0, key + key_len);
		key_len += 16;
	} else {
		size_t n = strnlen(s->user.name, RFTP_USER_MAX);

		memcpy(key + key_len, s->user.name, n);
		key_len += n;
	}
	pthread_mutex_lock(&srv->capped_lock);
	now = clock_mono_ms();
	/* Anonymous addresses in a table of their own: a new one for each
	 * address pushed named users' pairs out, each back with a full
	 * burst. */
	src = anon ?
	    warn_source(
	        NULL, srv->warn_seen_anon, key, key_len, now, &quiet, &entry) :
	    warn_source(srv, srv->warn_seen, key, key_len, now, &quiet, &entry);
	/* The reserve for named users quiet of the kind only: an
	 * anonymous source is new with each address, and would spend it. */
	ok = capped_take(srv, CAPPED_OWN_WARN, src,
	    anon ? anon_bucket(srv, kind, now) : NULL,
	    !anon && quiet ? &srv->warn_fresh : NULL, now, &dropped,
	    &took_fresh);
	/* One line of the reserve a RFTP_WARN_FRESH_AGAIN_S for a pair:
	 * users pausing 4 s between lines were quiet each time. */
	if (took_fresh)
		entry->fresh_ms = now + 1; /* 0 is none */
	pthread_mutex_unlock(&srv->capped_lock);
	capped_dropped_log(dropped, CAPPED_OWN_WARN);
	return ok;
}

/* Whether e has counts not said yet. */
static int
conn_pending(const struct conn_seen *e)
{
	return e->connects + e->closes + e->logins > 0;
}

/* The slot of the address key (ban_addr_key's) in conn_seen, made if new
 * in the one of the address least recently heard of; that address's
 * counts not said yet go to conn_other's, said as its own would have
 * been. Under capped_lock. */
static struct conn_seen *
conn_slot(struct server *srv, const unsigned char key[16], const char *ip,
    uint64_t now)
{
	struct conn_seen *oldest = &srv->conn_seen[0];

	for (size_t i = 0; i < RFTP_CONN_ADDRS; i++) {
		struct conn_seen *e = &srv->conn_seen[i];

		if (e->used && memcmp(e->key, key, 16) == 0)
			return e;
		if (oldest->used &&
		    (!e->used || e->bucket.at_ms < oldest->bucket.at_ms))
			oldest = e;
	}
	if (oldest->used && conn_pending(oldest)) {
		struct conn_seen *o = &srv->conn_other;

		if (!conn_pending(o))
			o->since_ms = oldest->since_ms;
		else if (oldest->since_ms < o->since_ms)
			o->since_ms = oldest->since_ms;
		o->connects += oldest->connects;
		o->closes += oldest->closes;
		o->logins += oldest->logins;
		srv->conn_other_addrs++;
	}
	memset(oldest, 0, sizeof(*oldest));
	memcpy(oldest->key, key, 16);
	oldest->used = 1;
	snprintf(oldest->ip, sizeof(oldest->ip), "%s", ip);
	oldest->bucket.at_ms = now;
	oldest->bucket.milli = (uint64_t)RFTP_CONN_LOG_BURST * 1000;
	return oldest;
}

/* A count of connections and closes not logged, to be said once the
 * lock is let go. */
struct conn_said {
	char who[96];
	uint64_t connects, closes, logins, ms;
};

/* Moves e's counts into out (and clears them) if there are some and
 * RFTP_CONN_SUMMARY_S have passed since the first of them, or if all
 * (a stop); 1 if it did. Under capped_lock. */
static int
conn_due(struct conn_seen *e, const char *who, uint64_t now, int all,
    struct conn_said *out)
{
	if (!conn_pending(e))
		return 0;
	if (!all &&
	    (now < e->since_ms ||
	        now - e->since_ms < (uint64_t)RFTP_CONN_SUMMARY_S * 1000))
		return 0;
	snprintf(out->who, sizeof(out->who), "%s", who);
	out->connects = e->connects;
	out->closes = e->closes;
	out->logins = e->logins;
	out->ms = now > e->since_ms ? now - e->since_ms : 0;
	e->connects = e->closes = e->logins = 0;
	return 1;
}

/* conn_due for the addresses pushed out of the table. */
static int
conn_other_due(struct server *srv, uint64_t now, int all, struct conn_said *out)
{
	char who[96];

	/* Evictions, not addresses: one address may have been pushed
	 * out many times. */
	snprintf(who, sizeof(who),
	    "addresses no longer remembered (pushed out %llu times)",
	    (unsigned long long)srv->conn_other_addrs);
	if (!conn_due(&srv->conn_other, who, now, all, out))
		return 0;
	srv->conn_other_addrs = 0;
	return 1;
}

static void
conn_said_log(const struct conn_said *c)
{
	char logins[64] = "";

	if (c->logins > 0)
		snprintf(logins, sizeof(logins), ", nor %llu anonymous logins",
		    (unsigned long long)c->logins);
	/* Seconds rounded up: "in the last 0 s" would read as none. */
	log_info("%s: %llu more connections and %llu closes in the last %llu "
	         "s not logged one by one%s (over %d then %d a second from "
	         "one address, %d then %d from all)",
	    c->who, (unsigned long long)c->connects,
	    (unsigned long long)c->closes,
	    (unsigned long long)((c->ms + 999) / 1000), logins,
	    RFTP_CONN_LOG_BURST, RFTP_CONN_LOG_PER_SECOND,
	    RFTP_CAPPED_LOG_BURST, RFTP_CAPPED_LOG_PER_SECOND);
}

void
session_capped_count(struct server *srv, enum capped_kind kind)
{
	pthread_mutex_lock(&srv->capped_lock);
	capped_drop(&srv->capped[kind], clock_mono_ms());
	pthread_mutex_unlock(&srv->capped_lock);
}

/* The line of s closed by a timeout (what: "idle timeout", "no login
 * within login_timeout"): written only with its session's "connected"
 * line or a named user's login line, else counted in "N refusal lines
 * of sessions not logged". Many connections held open from many
 * addresses (max_clients of them, a short login_timeout) each had it
 * written, hundreds a second beyond the connected lines' budget; a
 * fail2ban filter needs none of them (the failed logins' lines are
 * kept). */
static void
timeout_line(struct session *s, const char *what)
{
	if (s->conn_logged || s->login_logged)
		slog(s, LOG_INFO, "%s", what);
	else
		session_capped_count(s->srv, CAPPED_INFO);
}

/* Counts conn_budget says at most in one call. */
#define CONN_SAID_MAX 4

/* What conn_budget is asked of. */
enum conn_line {
	CONN_OPEN,  /* the "connected" line: on the address's budget */
	CONN_CLOSE, /* "closed": with the connected or a named login's */
	CONN_ANON,  /* an anonymous login's: with the connected one only */
};

/* Whether s's "connected" line (CONN_OPEN) may be written, or counts it;
 * for its "closed" line or an anonymous login's, counts it unless the
 * connected one (or a named user's login line) was written. Says the
 * address's counts (and the other addresses') once RFTP_CONN_SUMMARY_S
 * have passed since the first of them. */
static int
conn_budget(struct session *s, enum conn_line what)
{
	struct server *srv = s->srv;
	unsigned char key[16];
	struct conn_said said[CONN_SAID_MAX];
	size_t nsaid = 0;
	struct conn_seen *e;
	uint64_t now;
	int ok;

	ban_addr_key(&s->peer, 0, key);
	pthread_mutex_lock(&srv->capped_lock);
	now = clock_mono_ms();
	e = conn_slot(srv, key, s->peer_ip, now);
	if (what != CONN_OPEN) {
		ok = s->conn_logged || s->login_logged;
	} else {
		/* Both refilled before either is asked: each keeps its own
		 * clock. */
		ok = bucket_fill(&e->bucket, now, RFTP_CONN_LOG_BURST,
		         RFTP_CONN_LOG_PER_SECOND) >= 1000;
		ok &= bucket_fill(&srv->conn_all, now, RFTP_CAPPED_LOG_BURST,
		          RFTP_CAPPED_LOG_PER_SECOND) >= 1000;
		if (ok) {
			e->bucket.milli -= 1000;
			srv->conn_all.milli -= 1000;
		}
	}
	if (!ok) {
		if (!conn_pending(e))
			e->since_ms = now;
		switch (what) {
		case CONN_OPEN:
			e->connects++;
			break;
		case CONN_CLOSE:
			e->closes++;
			break;
		case CONN_ANON:
			e->logins++;
			break;
		}
	}
	/* Any address's count that is due, not only this one's: an
	 * address that stopped would wait for its next connection. A few
	 * a call (the rest at the next), the lines written unlocked. */
	for (size_t i = 0; i < RFTP_CONN_ADDRS && nsaid + 1 < CONN_SAID_MAX;
	     i++) {
		struct conn_seen *o = &srv->conn_seen[i];

		if (o->used && conn_due(o, o->ip, now, 0, &said[nsaid]))
			nsaid++;
	}
	if (conn_other_due(srv, now, 0, &said[nsaid]))
		nsaid++;
	pthread_mutex_unlock(&srv->capped_lock);
	for (size_t i = 0; i < nsaid; i++)
		conn_said_log(&said[i]);
	return ok;
}

int
session_login_logged(struct session *s)
{
	/* A named user's login is logged as before: its account is the
	 * admin's, and the line is the audit of who came in. */
	if (!s->srv->cfg.anonymous ||
	    strcmp(s->user.name, USERS_ANON_SECTION) != 0) {
		/* Its "closed" line with it, even if the connected one was
		 * left out (a flood from its address): the admin saw the user
		 * come in, and must see the session end and what it moved.
		 * One line a named login, as the login's own. */
		s->login_logged = 1;
		return 1;
	}
	return conn_budget(s, CONN_ANON);
}

/* The ms from now until e's count is due, for session_conn_counts_due;
 * UINT64_MAX if it has none. */
static uint64_t
conn_due_in(const struct conn_seen *e, uint64_t now)
{
	uint64_t at = e->since_ms + (uint64_t)RFTP_CONN_SUMMARY_S * 1000;

	if (!conn_pending(e))
		return UINT64_MAX;
	return at > now ? at - now : 0;
}

int
session_conn_counts_due(struct server *srv)
{
	struct conn_said said[RFTP_CONN_ADDRS + 1];
	uint64_t dropped[RFTP_CAPPED_KINDS] = { 0 };
	size_t nsaid = 0;
	uint64_t now, next = UINT64_MAX;

	pthread_mutex_lock(&srv->capped_lock);
	now = clock_mono_ms();
	/* The kinds' counts too: a line counted by another budget than its
	 * kind's (a failed handshake or a timeout of a session whose
	 * "connected" line was left out) leaves its kind's bucket full, so
	 * no line of the kind may come to say the count; a flood of them
	 * on a quiet server had it said only at the stop. */
	for (size_t i = 0; i < RFTP_CAPPED_KINDS; i++) {
		struct capped_bucket *b = &srv->capped[i];
		uint64_t at =
		    b->dropped_ms + (uint64_t)RFTP_CONN_SUMMARY_S * 1000;

		if (b->dropped == 0)
			continue;
		if (now >= at) {
			dropped[i] = b->dropped;
			b->dropped = 0;
		} else if (at - now < next) {
			next = at - now;
		}
	}
	for (size_t i = 0; i < RFTP_CONN_ADDRS; i++) {
		struct conn_seen *e = &srv->conn_seen[i];
		uint64_t in;

		if (!e->used)
			continue;
		if (conn_due(e, e->ip, now, 0, &said[nsaid])) {
			nsaid++;
			continue;
		}
		in = conn_due_in(e, now);
		if (in < next)
			next = in;
	}
	if (conn_other_due(srv, now, 0, &said[nsaid])) {
		nsaid++;
	} else {
		uint64_t in = conn_due_in(&srv->conn_other, now);

		if (in < next)
			next = in;
	}
	pthread_mutex_unlock(&srv->capped_lock);
	for (size_t i = 0; i < RFTP_CAPPED_KINDS; i++)
		capped_dropped_log(dropped[i], (enum capped_kind)i);
	for (size_t i = 0; i < nsaid; i++)
		conn_said_log(&said[i]);
	/* None pending: look again in RFTP_CONN_SUMMARY_S all the same, as
	 * a session may leave one out after this look (the last
	 * connection's), with no accept to wake the caller after it. */
	if (next == UINT64_MAX)
		return RFTP_CONN_SUMMARY_S * 1000;
	/* At least 1 ms: a count due now is said by the next call, with no
	 * loop spinning on a clock that has not moved. */
	return next < 1 ? 1 : (int)(next > INT_MAX ? INT_MAX : next);
}

void
session_log_capped_flush(struct server *srv)
{
	uint64_t dropped[RFTP_CAPPED_KINDS];
	struct conn_said said[RFTP_CONN_ADDRS + 1];
	size_t nsaid = 0;
	uint64_t now;

	pthread_mutex_lock(&srv->capped_lock);
	for (size_t i = 0; i < RFTP_CAPPED_KINDS; i++) {
		dropped[i] = srv->capped[i].dropped;
		srv->capped[i].dropped = 0;
	}
	/* At a stop, every count not said yet: none is lost. */
	now = clock_mono_ms();
	for (size_t i = 0; i < RFTP_CONN_ADDRS; i++) {
		struct conn_seen *e = &srv->conn_seen[i];

		if (e->used && conn_due(e, e->ip, now, 1, &said[nsaid]))
			nsaid++;
	}
	if (conn_other_due(srv, now, 1, &said[nsaid]))
		nsaid++;
	pthread_mutex_unlock(&srv->capped_lock);
	for (size_t i = 0; i < RFTP_CAPPED_KINDS; i++)
		capped_dropped_log(dropped[i], (enum capped_kind)i);
	for (size_t i = 0; i < nsaid; i++)
		conn_said_log(&said[i]);
}

__attribute__((format(printf, 6, 0))) static void
capped_vlog(struct session *s, unsigned *count, int level,
    enum capped_kind kind, const char *what, const char *fmt, va_list ap)
{
	char line[1024];

	if (*count > RFTP_BAD_CMDS_LOGGED)
		return;
	/* Counted for the session's cap whether or not the server's budget
	 * lets it be written: a session past its 16 stays quiet. */
	if (!(kind == CAPPED_OWN_WARN ? warn_budget(s, what) :
	                                session_capped_budget(s->srv, kind))) {
		(*count)++;
		return;
	}
	vsnprintf(line, sizeof(line), fmt, ap);
	if (*count < RFTP_BAD_CMDS_LOGGED)
		slog(s, level, "%s", line);
	else
		slog(s, level, "%s; this session's further %s are not logged",
		    line, what);
	(*count)++;
}

void
session_log_capped(struct session *s, unsigned *count, int level,
    const char *kind, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	/* A warning before a login is anyone's to cause (a clear-text
	 * USER of a name that needs TLS). */
	capped_vlog(s, count, level,
	    level > LOG_WARN               ? CAPPED_INFO :
	        s->state == SESS_LOGGED_IN ? CAPPED_OWN_WARN :
	                                     CAPPED_STRANGER,
	    kind, fmt, ap);
	va_end(ap);
}

void
session_log_stranger(
    struct session *s, unsigned *count, const char *kind, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	capped_vlog(s, count, LOG_WARN, CAPPED_STRANGER, kind, fmt, ap);
	va_end(ap);
}

void
session_bad_command(
    struct session *s, const char *what, const char *verb, const char *why)
{
	session_log_capped(s, &s->bad_cmds, LOG_INFO, "refused commands",
	    "%s refused%s%s%s%s%s", what, verb[0] ? ": " : "", verb,
	    why[0] ? " (" : "", why, why[0] ? ")" : "");
}

int
session_start_tls(struct session *s)
{
	char err[256];
	enum tls_hs hs;
	long ms = (long)s->srv->cfg.login_timeout * 1000;

	/* Before login the handshake has what is left of login_timeout
	 * (seconds from connecting to a login), not a fresh one: AUTH TLS
	 * late, then half a handshake, held a slot twice as long. */
	if (s->state != SESS_LOGGED_IN) {
		ms -= session_ms_since(&s->started);
		if (ms <= 0) {
			timeout_line(
			    s, "no login within login_timeout (at AUTH TLS)");
			s->ctrl_eof = 1;
			return -1;
		}
	}
	hs = tls_handshake(s->srv->tls, s->ctrl_fd, s->sid_ctx, 0, 0, (int)ms,
	    s->srv->stop_fd, &s->ctrl_ssl, err, sizeof(err));
	if (hs != TLS_HS_OK) {
		/* With the session's "connected" line only (conn_budget's
		 * budget of an address): a client sending garbage for a
		 * handshake in a loop, no login needed, had a line written a
		 * connection, 4,000 a second. The rest are counted in "N
		 * refusal lines of sessions not logged". */
		if (s->conn_logged)
			slog(s, LOG_INFO,
			    "TLS on the control connection failed: %s", err);
		else
			session_capped_count(s->srv, CAPPED_INFO);
		s->ctrl_eof = 1;
		return -1;
	}
	tls_describe(s->ctrl_ssl, err, sizeof(err));
	slog(s, LOG_INFO, "control connection: %s", err);
	return 0;
}

int
session_requires_login_tls(struct session *s, const struct user *u)
{
	if (u != NULL && u->require_login_tls >= 0)
		return u->require_login_tls;
	return s->srv->cfg.tls.require_login_tls;
}

int
session_requires_data_tls(struct session *s)
{
	if (s->state == SESS_LOGGED_IN && s->user.require_data_tls >= 0)
		return s->user.require_data_tls;
	return s->srv->cfg.tls.require_data_tls;
}

void
session_run(struct server *srv, int fd, uint64_t id, int implicit_tls)
{
	struct session *s = calloc(1, sizeof(*s));
	int one = 1;

	if (s != NULL) {
		s->in = malloc(RFTP_LINE_BUF_MIN);
		s->line = malloc(RFTP_LINE_BUF_MIN);
		s->cwd = malloc(2);
	}
	if (s == NULL || s->in == NULL || s->line == NULL || s->cwd == NULL) {
		log_err(
		    "[%llu] no memory for a session", (unsigned long long)id);
		if (s != NULL) {
			free(s->in);
			free(s->line);
			free(s->cwd);
		}
		free(s);
		close(fd);
		return;
	}
	s->incap = s->linecap = RFTP_LINE_BUF_MIN;
	s->cwdcap = 2;
	session_reset_cwd(s);
	s->srv = srv;
	s->id = id;
	s->ctrl_fd = fd;
	s->root_fd = -1;
	s->dc_listen_fd = -1;
	s->dc_early_fd = -1;
	s->upipe[0] = s->upipe[1] = -1;
	s->hash_algo = HASH_SHA256;
	s->mlst_facts = FACT_ALL;
	clock_gettime(CLOCK_MONOTONIC, &s->started);
	tls_new_sid_ctx(s->sid_ctx);
	/* RFC 4217 implicit mode: data is protected from the start. */
	s->pbsz = s->prot_p = implicit_tls;
	s->peer_len = sizeof(s->peer);
	s->local_len = sizeof(s->local);
	getpeername(fd, (struct sockaddr *)&s->peer, &s->peer_len);
	getsockname(fd, (struct sockaddr *)&s->local, &s->local_len);
	log_addr_text(
	    (const struct sockaddr *)&s->peer, s->peer_ip, sizeof(s->peer_ip));
	set_prefix(s);
	/* Urgent data (the Telnet Synch before ABOR) stays in the stream,
	 * where cmd_clean drops the IAC bytes. */
	setsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* On a budget per address: a script connecting in a loop had two
	 * lines written a connection; the rest are counted and said. */
	s->conn_logged = conn_budget(s, CONN_OPEN);
	if (s->conn_logged)
		slog(s, LOG_INFO, "connected%s",
		    implicit_tls ? " (implicit TLS)" : "");
	stats_gauge_add(srv->stats, STAT_SESSIONS_OPEN, 1);
	session_loop(s, implicit_tls);
	session_enter_state(s, SESS_CLOSING);
	if (conn_budget(s, CONN_CLOSE))
		slog(s, LOG_INFO,
		    "closed: %llu files in (%llu bytes), %llu files out (%llu "
		    "bytes)",
		    (unsigned long long)s->files_in,
		    (unsigned long long)s->bytes_in,
		    (unsigned long long)s->files_out,
		    (unsigned long long)s->bytes_out);
	session_dc_reset(s);
	xfer_pipe_release(s);
	session_logout(s);
	if (s->ctrl_ssl != NULL)
		tls_close(s->ctrl_ssl);
	close(fd);
	free(s->in);
	free(s->line);
	free(s->rnfr);
	free(s->cwd);
	free(s);
	/* Last: the session holds nothing any more. */
	stats_gauge_add(srv->stats, STAT_SESSIONS_OPEN, -1);
}
