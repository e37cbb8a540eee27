/*
 * transfer.h - moving bytes over a data connection.
 *
 * Owns: the send and receive loops (sendfile for binary RETR, line-ending
 * conversion for TYPE A, TLS under PROT P, listings streamed piece by
 * piece), data_min_rate, watching the control channel for ABOR and death
 * while they run, the data_timeout, and deciding whether a received stream
 * ended cleanly. It knows nothing of paths or partial files.
 */
#ifndef RFTP_TRANSFER_H
#define RFTP_TRANSFER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct session;
struct account;
struct dconn;

enum xfer_result {
	XFER_OK,        /* all sent, or the upload ended cleanly */
	XFER_ABORTED,   /* ABOR on the control channel */
	XFER_CTRL_DEAD, /* control connection gone (or shutdown) */
	XFER_DATA_ERR,  /* data connection reset or failed */
	XFER_TIMEOUT,   /* no progress within data_timeout */
	XFER_DISK_ERR,  /* read/write of the file failed (errno saved) */
	XFER_QUOTA,     /* the user's byte quota would be exceeded */
	XFER_TOO_SLOW,  /* under data_min_rate for a whole data_timeout */
	XFER_USER_GONE, /* the user was removed from users.ini meanwhile */
};

/* Sends ffd from offset to its end. *sent counts file bytes sent. */
enum xfer_result xfer_send_file(struct session *s, const struct dconn *dc,
    int ffd, uint64_t offset, uint64_t *sent, int *err);
/* data_min_rate bookkeeping: bytes moved since the window opened. */
struct xfer_rate {
	struct timespec t0;
	uint64_t bytes;
	time_t user_checked; /* second of the last users.ini look */
};

/*
 * A stream of pieces onto the data connection (listings, formatted while
 * they are sent): xfer_stream_start, then xfer_stream_write as often as
 * needed. data_timeout, data_min_rate, ABOR and shutdown apply as for a
 * file; each write returns only when its bytes are taken, so memory stays
 * what the caller holds. The struct lives in the caller; nothing to free.
 */
struct xfer_stream {
	struct session *s;
	const struct dconn *dc;
	struct xfer_rate rate;
	unsigned writes;
	enum xfer_result result; /* XFER_OK until a write fails */
};
void xfer_stream_start(
    struct xfer_stream *x, struct session *s, const struct dconn *dc);
/* Sends n bytes; returns 0, or -1 with x->result saying why. ctx is the
 * struct xfer_stream (a listing_sink). */
int xfer_stream_write(void *ctx, const char *p, size_t n);
/* Receives into ffd at its current offset until the client closes the data
 * connection. Each block is charged to acct (may be NULL; credit as in
 * account_add_bytes) before it is written. *received counts bytes written
 * to the file. declared: the count the client declared with ALLO for this
 * upload (finwatch.c), or NULL. */
enum xfer_result xfer_recv_file(struct session *s, const struct dconn *dc,
    int ffd, struct account *acct, uint64_t credit, const uint64_t *declared,
    uint64_t *received, int *err);

/* Closes the splice pipe a session keeps between uploads (s->upipe), if
 * any: at the idle trim and at the session's end. */
void xfer_pipe_release(struct session *s);

#endif
