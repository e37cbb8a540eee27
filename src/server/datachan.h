/*
 * datachan.h - setting up and opening data connections.
 *
 * Owns: the passive listener (PASV/EPSV, port chosen from passive_ports),
 * the active target (PORT/EPRT), bounce protection (an active target must be
 * the client's own address; a passive connection must come from it),
 * opening the connection within data_timeout when a transfer starts, and,
 * under PROT P, its TLS handshake (which must resume the control
 * connection's session unless require_session_reuse is off).
 */
#ifndef RFTP_DATACHAN_H
#define RFTP_DATACHAN_H

#include <stdint.h>
#include <sys/socket.h>

struct session;
typedef struct ssl_st SSL;

/* How the next data connection is made; changed only by dc_enter_state. */
enum dc_mode {
	DC_NONE,
	DC_PASSIVE, /* we listen */
	DC_ACTIVE,  /* we connect (PORT/EPRT) */
};

/* An open data connection: the socket, and its TLS under PROT P. */
struct dconn {
	int fd;
	SSL *ssl; /* NULL: clear text */
	int err;  /* DC_ERR_LOCAL: the errno */
};

/* Why dc_open failed, for the 425 text. */
enum dc_err {
	DC_ERR_NONE,
	DC_ERR_CONNECT,  /* nothing arrived, or the connect failed */
	DC_ERR_TLS,      /* the TLS handshake failed or timed out */
	DC_ERR_NO_REUSE, /* TLS without resuming the control session */
	DC_ERR_ABORTED,  /* ABOR came while waiting for the connection */
	DC_ERR_GONE,     /* the control connection ended meanwhile */
	DC_ERR_LOCAL,    /* it came, but the server could not take it */
};

/* The one way the data channel's setup (enum dc_mode, session.h)
 * changes: logs "from -> to" at debug level. */
void dc_enter_state(struct session *s, enum dc_mode to);
const char *dc_mode_name(enum dc_mode m);
/* Opens a passive listener on the control connection's local address.
 * Returns the port, or -1 (errno set). */
int dc_listen(struct session *s);
/*
 * Between PASV/EPSV and the transfer command: takes the connections
 * waiting on the passive listener. One from a foreign address is closed
 * at once (anyone may connect to the passive range; held open, such
 * connections filled the listener's queue and the client's own connect
 * went unanswered until data_timeout); the first from the client's address
 * is kept in s->dc_early_fd for dc_open, and the rest stay queued. Returns
 * 0, or -1 if accept failed other than for want of a connection (the
 * caller then stops watching the listener).
 */
int dc_weed(struct session *s);
/* Records an active target after checking it is the client's address.
 * Returns 0, or -1 if refused (bounce attempt). */
int dc_set_active(
    struct session *s, const struct sockaddr_storage *ss, socklen_t len);
/* Opens the data connection set up before, with TLS under PROT P. Returns
 * 0 with dc filled, or -1 with the reason (logged) when none arrives within
 * data_timeout or its handshake fails. The setup is consumed either way. */
int dc_open(struct session *s, struct dconn *dc, enum dc_err *why);
/* Closes dc. complete: the transfer finished, so a TLS close_notify is
 * sent first (it tells the client the data is all there). */
void dc_close(struct session *s, struct dconn *dc, int complete);

#endif
