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
 * the control connection tells the two apart. The kernel closes a dead
 * process's sockets one after the other, often the data socket first, so
 * after the data FIN we watch the control connection for
 * upload_close_grace_ms: the dead client's control FIN lands within it,
 * while a live client is waiting silently for our 226.
 */
#include "server/transfer.h"

#include "common/limits.h"
#include "common/log.h"
#include "server/quota.h"
#include "server/server.h"
#include "server/session.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
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

/* Waits until dfd is ready for events. XFER_OK means ready. */
static enum xfer_result
wait_io(struct session *s, int dfd, short events)
{
	int timeout_ms = (int)s->srv->cfg.data_timeout * 1000;

	for (;;) {
		struct pollfd pf[3];
		int n;

		pf[0].fd = dfd;
		pf[0].events = events;
		pf[1].fd = s->ctrl_fd;
		pf[1].events = POLLIN | POLLRDHUP;
		pf[2].fd = s->srv->stop_fd;
		pf[2].events = POLLIN;
		n = poll(pf, 3, timeout_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return XFER_DATA_ERR;
		if (n == 0)
			return XFER_TIMEOUT;
		if (pf[2].revents & POLLIN)
			return XFER_CTRL_DEAD;
		/* Data first: bytes a client sent before it died or aborted
		 * still reach the partial, so a resume loses nothing. The
		 * loops look at the control channel every few blocks. */
		if (pf[0].revents)
			return XFER_OK;
		if (pf[1].revents) {
			enum xfer_result r =
			    ctrl_to_result(session_check_control(s, 0));

			if (r != XFER_OK)
				return r;
		}
	}
}

static void
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static enum xfer_result
send_all(struct session *s, int dfd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(dfd, p, n, MSG_NOSIGNAL);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			enum xfer_result r = wait_io(s, dfd, POLLOUT);

			if (r != XFER_OK)
				return r;
			continue;
		}
		return XFER_DATA_ERR;
	}
	return XFER_OK;
}

enum xfer_result
xfer_send_mem(struct session *s, int dfd, const char *p, size_t n)
{
	set_nonblock(dfd);
	return send_all(s, dfd, p, n);
}

static enum xfer_result
send_binary(struct session *s, int dfd, int ffd, uint64_t offset, uint64_t size,
    uint64_t *sent, int *err)
{
	off_t off = (off_t)offset;
	unsigned blocks = 0;

	while ((uint64_t)off < size) {
		size_t want = RFTP_SENDFILE_CHUNK;
		ssize_t n;

		if (size - (uint64_t)off < want)
			want = (size_t)(size - (uint64_t)off);
		n = sendfile(dfd, ffd, &off, want);
		if (n > 0) {
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
			enum xfer_result r = wait_io(s, dfd, POLLOUT);

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

/* TYPE A: LF becomes CRLF (RFC 959 3.1.1.1), an existing CRLF stays. */
static enum xfer_result
send_ascii(struct session *s, int dfd, int ffd, uint64_t offset, uint64_t *sent,
    int *err)
{
	char *in = malloc(RFTP_XFER_BUF / 2), *out = malloc(RFTP_XFER_BUF);
	enum xfer_result r = XFER_OK;
	char prev = '\0';
	off_t off = (off_t)offset;

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
		for (ssize_t i = 0; i < n; i++) {
			if (in[i] == '\n' && prev != '\r')
				out[o++] = '\r';
			out[o++] = in[i];
			prev = in[i];
		}
		r = send_all(s, dfd, out, o);
		if (r != XFER_OK)
			break;
		*sent += (uint64_t)n;
	}
done:
	free(in);
	free(out);
	return r;
}

enum xfer_result
xfer_send_file(struct session *s, int dfd, int ffd, uint64_t offset,
    uint64_t *sent, int *err)
{
	struct stat st;

	*sent = 0;
	if (fstat(ffd, &st) < 0) {
		*err = errno;
		return XFER_DISK_ERR;
	}
	set_nonblock(dfd);
	if (s->ascii)
		return send_ascii(s, dfd, ffd, offset, sent, err);
	return send_binary(
	    s, dfd, ffd, offset, (uint64_t)st.st_size, sent, err);
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
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

enum xfer_result
xfer_recv_file(struct session *s, int dfd, int ffd, struct account *acct,
    uint64_t credit, uint64_t *received, int *err)
{
	char *block = malloc(RFTP_XFER_BUF);
	enum xfer_result r = XFER_OK, stop = XFER_OK;
	int held_cr = 0;
	unsigned blocks = 0;

	*received = 0;
	if (block == NULL) {
		*err = ENOMEM;
		return XFER_DISK_ERR;
	}
	set_nonblock(dfd);
	for (;;) {
		ssize_t n = recv(dfd, block, RFTP_XFER_BUF, 0);
		size_t len;
		char carry = '\0';

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			r = wait_io(s, dfd, POLLIN);
			if (r != XFER_OK)
				break;
			continue;
		}
		if (n < 0) {
			r = XFER_DATA_ERR; /* RST: never a complete upload */
			break;
		}
		if (n == 0) {
			/* FIN. Complete only if the control side lives. */
			if (held_cr) {
				held_cr = 0;
				carry = '\r';
			}
			r = ctrl_to_result(session_check_control(
			    s, (int)s->srv->cfg.upload_close_grace_ms));
			if (r == XFER_OK && carry != '\0') {
				if (acct != NULL &&
				    account_add_bytes(acct, 1, credit))
					r = XFER_QUOTA;
				else if (write_all(ffd, &carry, 1) < 0) {
					*err = errno;
					r = XFER_DISK_ERR;
				} else
					*received += 1;
			}
			break;
		}
		/* ABOR or death while data flows: this block is still
		 * written, then the loop stops. */
		if (++blocks % CTRL_CHECK_EVERY == 0)
			stop = ctrl_to_result(session_check_control(s, 0));
		len = (size_t)n;
		if (s->ascii)
			len = ascii_to_unix(block, len, &held_cr, &carry);
		if (acct != NULL &&
		    account_add_bytes(acct, len + (carry != '\0'), credit) <
		        0) {
			r = XFER_QUOTA;
			break;
		}
		if ((carry != '\0' && write_all(ffd, &carry, 1) < 0) ||
		    write_all(ffd, block, len) < 0) {
			*err = errno;
			/* Only what reached the file stays counted. */
			if (acct != NULL)
				account_sub(acct, len + (carry != '\0'), 0);
			r = XFER_DISK_ERR;
			break;
		}
		*received += len + (carry != '\0');
		if (stop != XFER_OK) {
			r = stop;
			break;
		}
	}
	free(block);
	return r;
}

void
xfer_reply_failure(struct session *s, enum xfer_result r, int err)
{
	switch (r) {
	case XFER_OK:
		break;
	case XFER_ABORTED:
		/* RFC 959 4.1.3 ABOR: 426 for the transfer, then 226. */
		reply(s, 426, "Connection closed; transfer aborted.");
		reply(s, 226, "ABOR command successful.");
		break;
	case XFER_CTRL_DEAD:
		/* Nobody to tell, or shutting down: try once, no more. */
		reply(s, 426,
		    "Transfer aborted: control connection closed "
		    "or server shutting down.");
		break;
	case XFER_DATA_ERR:
		reply(s, 426, "Data connection failed; transfer aborted.");
		break;
	case XFER_TIMEOUT:
		reply(s, 426, "Data connection timed out; transfer aborted.");
		break;
	case XFER_DISK_ERR:
		if (err == ENOSPC)
			reply(s, 452, "Insufficient storage space.");
		else if (err == EDQUOT)
			reply(s, 552, "Disk quota exceeded.");
		else
			reply(s, 451, "Local error: %s.", strerror(err));
		break;
	case XFER_QUOTA:
		reply(s, 552, "Quota exceeded; upload stopped.");
		break;
	}
}
