/*
 * tls.h - FTPS (RFC 4217) for the control and data connections.
 *
 * Owns: the server's SSL_CTX (certificate, key, protocol floor, ciphers),
 * the non-blocking handshakes, the session-resumption rule for data
 * connections, and turning OpenSSL's read/write outcomes into a small enum
 * the session and transfer loops can poll on. The only file that includes
 * <openssl/ssl.h>; everything else sees an opaque SSL pointer.
 *
 * Data connections resume the control connection's TLS session, and only
 * that one: every FTP session gets a random session-id context, so a
 * session (or ticket) from anyone else's control connection does not resume
 * on our passive port. A data connection also never gets TLS 1.3 session
 * tickets: a client that uploads and closes without reading them makes its
 * kernel answer with RST, which discards the tail of the upload here.
 */
#ifndef RFTP_TLS_H
#define RFTP_TLS_H

#include "common/config.h"

#include <stddef.h>
#include <sys/types.h>

typedef struct ssl_st SSL;
struct tls_server;

/* Length of the per-FTP-session context that binds data to control. */
#define TLS_SID_CTX_LEN 16

enum tls_io {
	TLS_IO_OK,         /* some bytes moved */
	TLS_IO_WANT_READ,  /* poll POLLIN and call again */
	TLS_IO_WANT_WRITE, /* poll POLLOUT and call again */
	TLS_IO_CLOSED,     /* the peer sent close_notify */
	TLS_IO_EOF,        /* TCP FIN without close_notify */
	TLS_IO_ERR,        /* reset, protocol error */
};

enum tls_hs {
	TLS_HS_OK,
	TLS_HS_TIMEOUT,
	TLS_HS_FAILED,   /* protocol error, or the peer went away */
	TLS_HS_NO_REUSE, /* data connection did not resume the session */
	TLS_HS_STOPPED,  /* the stop fd fired */
	TLS_HS_RIVAL,    /* tls_accept_run: the rival fd became readable */
	TLS_HS_WANT,     /* tls_accept_step: wait for *events on the fd */
};

/* Loads cert and key; NULL with a reason in err when they do not load. */
struct tls_server *tls_server_new(
    const struct tls_config *cfg, char *err, size_t errlen);
void tls_server_free(struct tls_server *t);

/* A fresh random per-session context for tls_handshake. */
void tls_new_sid_ctx(unsigned char ctx[TLS_SID_CTX_LEN]);

/*
 * Runs the server side of a handshake on fd (made non-blocking) within
 * timeout_ms, giving up when stop_fd becomes readable. data selects the
 * data-connection rules: no session tickets, and, with require_reuse, the
 * session must be a resumption of one made under the same sid_ctx. On
 * success *out is the SSL (free with tls_free).
 */
enum tls_hs tls_handshake(struct tls_server *t, int fd,
    const unsigned char sid_ctx[TLS_SID_CTX_LEN], int data, int require_reuse,
    int timeout_ms, int stop_fd, SSL **out, char *err, size_t errlen);
/*
 * tls_handshake in two steps, for a caller that may give up on a stalled
 * handshake for another connection: tls_accept_begin makes fd
 * non-blocking and returns its SSL (NULL with err); tls_accept_run runs
 * the handshake as tls_handshake does, and also returns TLS_HS_RIVAL,
 * with the SSL kept for another call or tls_free, once rival_fd (a
 * listener; -1: none) is readable while the handshake has waited at least
 * rival_after_ms in this call. On every other result but TLS_HS_OK the SSL
 * is freed.
 */
SSL *tls_accept_begin(struct tls_server *t, int fd,
    const unsigned char sid_ctx[TLS_SID_CTX_LEN], int data, char *err,
    size_t errlen);
enum tls_hs tls_accept_run(SSL *ssl, int fd, int data, int require_reuse,
    int timeout_ms, int stop_fd, int rival_fd, int rival_after_ms, char *err,
    size_t errlen);
/*
 * One step of tls_accept_run, for a caller that waits itself (the data
 * connection's, which also watches the control connection for ABOR and
 * its end): TLS_HS_OK, TLS_HS_WANT with *events (POLLIN or POLLOUT) to
 * wait for on the SSL's fd, or a failure (TLS_HS_FAILED, TLS_HS_NO_REUSE)
 * with err set and the SSL freed.
 */
enum tls_hs tls_accept_step(SSL *ssl, int data, int require_reuse,
    short *events, char *err, size_t errlen);

/*
 * After a data connection resumed the control connection's session: has a
 * new TLS 1.3 ticket sent on the control connection with the next reply.
 * OpenSSL clients (curl, libcurl) use a TLS 1.3 session object once; with
 * no fresh ticket their next data connection cannot resume. The control
 * connection is where a client always reads, unlike an upload's data
 * connection, where an unread ticket turns the client's close into RST.
 */
void tls_renew_ticket(SSL *ctrl);

enum tls_io tls_read(SSL *ssl, void *p, size_t n, size_t *got);
enum tls_io tls_write(SSL *ssl, const void *p, size_t n, size_t *put);
/* Bytes already decrypted and waiting (poll does not see them). */
int tls_pending(SSL *ssl);
/* Sends close_notify (best effort, never blocks long) and frees. */
void tls_close(SSL *ssl);
/* Frees without a close_notify (after an error). */
void tls_free(SSL *ssl);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384" for the log. */
void tls_describe(SSL *ssl, char *out, size_t outlen);

#endif
