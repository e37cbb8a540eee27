/*
 * reply.c - see reply.h.
 *
 * Writes never block: the control socket is written with MSG_DONTWAIT
 * (or through TLS) and a client that does not read is given idle_timeout
 * to drain, then the session is marked dead and ends.
 */
#include "server/reply.h"

#include "common/log.h"
#include "server/server.h"
#include "server/session.h"

#include <errno.h>
#include <linux/sockios.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

void
slog(struct session *s, int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!log_enabled((enum log_level)level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_msg((enum log_level)level, "%s %s", s->prefix, msg);
}

/*
 * Reply writes are bounded like reads. The control socket is written
 * without blocking; when the client does not take our replies, the stall
 * clock starts, and the session ends once it has run idle_timeout (before
 * a login also login_timeout from the connection). Only a real drain stops
 * the clock: an empty send queue (the client read and acknowledged
 * everything) or RFTP_CTRL_WRITE_PROGRESS bytes taken since the stall
 * began. A per-send timeout (SO_SNDTIMEO) is not enough: a client that
 * pipelines commands and never reads still lets a few bytes through now
 * and then (its kernel compacts the receive queue and reopens the window),
 * and every such trickle would restart the timeout.
 */
static void
write_progress(struct session *s, size_t n)
{
	if (!s->wstalled)
		return;
	s->wprogress += n;
	if (s->wprogress >= RFTP_CTRL_WRITE_PROGRESS)
		s->wstalled = 0;
}

/* Waits until the control socket takes more (events: POLLOUT, or POLLIN
 * when TLS must read first). Returns 0, or -1 when the deadline passed or
 * the server stops (logged). */
static int
wait_writable(struct session *s, short events)
{
	long idle_ms = (long)s->srv->cfg.idle_timeout * 1000;
	long login_ms = (long)s->srv->cfg.login_timeout * 1000;

	if (!s->wstalled) {
		s->wstalled = 1;
		s->wprogress = 0;
		clock_gettime(CLOCK_MONOTONIC, &s->wstall_t0);
	}
	for (;;) {
		struct pollfd pf[2];
		long left = idle_ms - session_ms_since(&s->wstall_t0);
		int login = 0, n;

		if (s->state != SESS_LOGGED_IN &&
		    login_ms - session_ms_since(&s->started) < left) {
			left = login_ms - session_ms_since(&s->started);
			login = 1;
		}
		if (left <= 0) {
			slog(s, LOG_INFO,
			    "replies not read within %s (%llu s): closing",
			    login ? "login_timeout" : "idle_timeout",
			    (unsigned long long)(login ?
			            s->srv->cfg.login_timeout :
			            s->srv->cfg.idle_timeout));
			return -1;
		}
		pf[0].fd = s->ctrl_fd;
		pf[0].events = events;
		pf[1].fd = s->srv->stop_fd;
		pf[1].events = POLLIN;
		n = poll(pf, 2, (int)left);
		if (n < 0 && errno != EINTR)
			return -1;
		if (n <= 0)
			continue; /* the deadline above decides */
		if (pf[1].revents & POLLIN)
			return -1; /* shutting down */
		return 0;
	}
}

static int send_reply(struct session *s, const char *p, size_t n, int more);

int
session_write(struct session *s, const char *p, size_t n)
{
	return send_reply(s, p, n, 0);
}

/* session_write; more: more of the reply (or the next command's) comes
 * before the session waits for the client, so the bytes may wait in the
 * socket for them (MSG_MORE) and go out in one segment. */
static int
send_reply(struct session *s, const char *p, size_t n, int more)
{
	int queued = 0;
	int flags = MSG_NOSIGNAL | MSG_DONTWAIT | (more ? MSG_MORE : 0);

	if (s->wdead)
		return -1; /* one timeout ends it: no second wait per line */
	/* An empty send queue: the client took everything we wrote. */
	if (s->wstalled && ioctl(s->ctrl_fd, SIOCOUTQ, &queued) == 0 &&
	    queued == 0)
		s->wstalled = 0;
	while (n > 0) {
		short events = POLLOUT;
		size_t put = 0;

		if (s->ctrl_ssl != NULL) {
			enum tls_io r = tls_write(s->ctrl_ssl, p, n, &put);

			if (r == TLS_IO_WANT_READ)
				events = POLLIN;
			else if (r != TLS_IO_OK && r != TLS_IO_WANT_WRITE)
				goto dead;
		} else {
			ssize_t w = send(s->ctrl_fd, p, n, flags);

			if (w < 0 && errno == EINTR)
				continue;
			if (w == 0 ||
			    (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
				goto dead;
			if (w > 0)
				put = (size_t)w;
		}
		if (put > 0) {
			p += put;
			n -= put;
			write_progress(s, put);
			continue;
		}
		if (wait_writable(s, events) < 0)
			goto dead;
	}
	/* A send without MSG_MORE pushed whatever waited before it. */
	if (s->ctrl_ssl == NULL)
		s->corked = more;
	return 0;
dead:
	/* A client that does not take its replies is gone. (A client that
	 * only half-closed, ctrl_eof from reading, still gets its replies.) */
	s->ctrl_eof = 1;
	s->wdead = 1;
	return -1;
}

/*
 * A reply's text never carries CR or LF of its own: a path or name in it
 * (PWD, MLST, a file a local program named "x\r\n226 ...") would end the
 * line early and forge a reply. Each becomes a space, so the line
 * structure of RFC 959 4.2 holds whatever the text.
 */
static void
break_free(char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] == '\r' || p[i] == '\n')
			p[i] = ' ';
}

/*
 * Most replies are short: they are formatted on the stack, and only one
 * longer than that takes a RFTP_REPLY_MAX buffer from the heap for the
 * moment it is sent. So the control path of every session stays shallow
 * (an idle session keeps only the stack pages it used, server.h).
 */
#define REPLY_SHORT 512

static void write_line(struct session *s, const char *head, const char *fmt,
    va_list ap) __attribute__((format(printf, 3, 0)));

/* Sends head + fmt (CR and LF in it made spaces) + CRLF; text past
 * RFTP_REPLY_MAX is cut. */
static void
write_line(struct session *s, const char *head, const char *fmt, va_list ap)
{
	char shortbuf[REPLY_SHORT];
	char *line = shortbuf;
	size_t cap = sizeof(shortbuf), h = strlen(head), n;
	va_list again;
	int m;

	va_copy(again, ap);
	memcpy(line, head, h);
	m = vsnprintf(line + h, cap - h - 2, fmt, ap);
	if (m >= 0 && (size_t)m >= cap - h - 2) {
		char *big = malloc(RFTP_REPLY_MAX);

		if (big != NULL) {
			line = big;
			cap = RFTP_REPLY_MAX;
			memcpy(line, head, h);
			m = vsnprintf(line + h, cap - h - 2, fmt, again);
		}
		/* No memory: the short buffer's cut text still goes out. */
	}
	va_end(again);
	if (m < 0)
		m = 0;
	if ((size_t)m >= cap - h - 2)
		m = (int)(cap - h - 3);
	n = h + (size_t)m;
	break_free(line, n);
	line[n++] = '\r';
	line[n++] = '\n';
	if (h > 0)
		slog(s, LOG_DEBUG, "<- %.*s", (int)(n - 2), line);
	/* A continuation line ("ddd-" or none) is followed by the reply's
	 * last line at once; a quick command's last line by the next
	 * command's reply (cmdtable.c). */
	send_reply(s, line, n, h == 0 || head[3] == '-' || s->cork);
	if (line != shortbuf)
		free(line);
}

static void reply_v(struct session *s, int code, char sep, const char *fmt,
    va_list ap) __attribute__((format(printf, 4, 0)));

/* What reply_v logs a final reply with this code as ("argument refused:
 * REST (why)"), NULL for codes whose handlers log their own line (a 504
 * for PORT's target, a 530 for a login) or that are no refusal. */
static const char *
refusal_kind(int code)
{
	switch (code) {
	case 501:
	case 536:
		return "argument";
	case 502:
		return "unimplemented command";
	case 503:
	case 533:
		return "command out of sequence";
	default:
		return NULL;
	}
}

static void
reply_v(struct session *s, int code, char sep, const char *fmt, va_list ap)
{
	char head[8];

	/* Codes are ours (100-599): "ddd" and a separator always fit. */
	snprintf(head, sizeof(head), "%03d%c", code, sep);
	/* 501, a syntax error in the arguments, and the refusals no handler
	 * logs itself (502 not implemented, 503 and 533 out of sequence, 536
	 * a PROT level TLS has not): the admin sees which command and why,
	 * as for unknown ones (a client's bug or a probe). The argument
	 * itself is not logged: it may be anything. */
	const char *kind = sep == ' ' ? refusal_kind(code) : NULL;

	if (kind != NULL && s->cmd_verb != NULL) {
		char why[256];
		va_list again;

		va_copy(again, ap);
		vsnprintf(why, sizeof(why), fmt, again);
		va_end(again);
		break_free(why, strlen(why));
		session_bad_command(s, kind, s->cmd_verb, why);
	}
	write_line(s, head, fmt, ap);
}

void
reply(struct session *s, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply_v(s, code, ' ', fmt, ap);
	va_end(ap);
}

void
reply_start(struct session *s, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply_v(s, code, '-', fmt, ap);
	va_end(ap);
}

void
reply_line(struct session *s, const char *fmt, ...)
{
	va_list ap;

	/* RFC 959 4.2: a continuation line must not look like "ddd "; the
	 * callers start theirs with a space. */
	va_start(ap, fmt);
	write_line(s, "", fmt, ap);
	va_end(ap);
}

/* At most RFTP_LOG_PATH_MAX bytes of path, "..." after a cut one. */
#define LOG_PATH(p)                                \
	(int)strnlen((p), RFTP_LOG_PATH_MAX), (p), \
	    strlen(p) > RFTP_LOG_PATH_MAX ? "..." : ""

/*
 * A command refused for its path, for the client's reason: a name that
 * is not there (a STOR into a missing folder, a DELE of a name already
 * gone), permission (a DELE or RMD of the home, a folder the admin made
 * read-only), a name that exists, a folder not empty, not a plain file.
 * The client's mistake, but a device that uploads into a folder no one
 * made fails for good, and its admin must see which path and why. The
 * path as the client gave it (what when the command had none: CDUP's
 * ".."), and the one in the home it names. The first ones of a session
 * for each of missing and other paths; a client that asks in a loop is
 * not a flood (session_log_capped).
 */
static void
log_refused(struct session *s, int missing, const char *what, const char *vpath,
    const char *why)
{
	const char *path =
	    s->cmd_arg != NULL && s->cmd_arg[0] != '\0' ? s->cmd_arg : what;

	session_log_capped(s, missing ? &s->missing_refused : &s->path_refused,
	    LOG_INFO,
	    missing ? "refusals of missing paths" : "refusals of other paths",
	    "%s \"%.*s%s\" refused: %s%s%.*s%s%s",
	    s->cmd_verb != NULL ? s->cmd_verb : "-", LOG_PATH(path), why,
	    vpath != NULL ? " (" : "", LOG_PATH(vpath != NULL ? vpath : ""),
	    vpath != NULL ? ")" : "");
}

void
reply_refused_at(struct session *s, int code, const char *what,
    const char *vpath, const char *why)
{
	log_refused(s, 0, what, vpath, why);
	reply(s, code, "%s: %s.", what, why);
}

void
log_refused_at(struct session *s, const char *vpath, const char *why)
{
	log_refused(s, 0, vpath, vpath, why);
}

void
reply_errno(struct session *s, int code, const char *what, int err)
{
	reply_errno_at(s, code, what, NULL, err);
}

void
reply_errno_at(
    struct session *s, int code, const char *what, const char *vpath, int err)
{
	const char *why;
	int admin = 1; /* logged: the admin's to fix, not the client's */

	switch (err) {
	case ENOENT:
		why = "No such file or directory";
		admin = 0;
		break;
	case EACCES:
	case EPERM:
	case EXDEV: /* openat2: the path leads out of the home */
	case ELOOP:
		why = "Permission denied";
		admin = 0;
		break;
	case EEXIST:
		why = "File exists";
		admin = 0;
		break;
	case ENOTDIR:
		why = "Not a directory";
		admin = 0;
		break;
	case EISDIR:
		why = "Is a directory";
		admin = 0;
		break;
	case ENOTEMPTY:
		why = "Directory not empty";
		admin = 0;
		break;
	case ENAMETOOLONG:
		why = "File name too long";
		admin = 0;
		break;
	case ENOSPC:
		code = 452;
		why = "Insufficient storage space";
		break;
	case EDQUOT:
		code = 552;
		why = "Disk quota exceeded";
		admin = 0;
		break;
	case EMFILE:
	case ENFILE:
	case ENOMEM:
	case EAGAIN:
		/* The server's own shortage, not the name's: 451 (RFC 959
		 * "local error in processing") says try again. A 553 made
		 * clients give the name up for good (found from outside,
		 * out of descriptors). */
		code = 451;
		why = strerror(err);
		break;
	default:
		why = strerror(err);
		break;
	}
	if (admin)
		slog(s, LOG_WARN, "%s %s: %s",
		    s->cmd_verb != NULL ? s->cmd_verb : "-",
		    vpath != NULL ? vpath : what, strerror(err));
	else
		log_refused(
		    s, err == ENOENT || err == ENOTDIR, what, vpath, why);
	reply(s, code, "%s: %s.", what, why);
}
