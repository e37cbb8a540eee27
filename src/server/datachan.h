/*
 * datachan.h - setting up and opening data connections.
 *
 * Owns: the passive listener (PASV/EPSV, port chosen from passive_ports),
 * the active target (PORT/EPRT), bounce protection (an active target must be
 * the client's own address; a passive connection must come from it) and
 * opening the connection within data_timeout when a transfer starts.
 */
#ifndef RFTP_DATACHAN_H
#define RFTP_DATACHAN_H

#include <stdint.h>
#include <sys/socket.h>

struct session;

/* Opens a passive listener on the control connection's local address.
 * Returns the port, or -1 (errno set). */
int dc_listen(struct session *s);
/* Records an active target after checking it is the client's address.
 * Returns 0, or -1 if refused (bounce attempt). */
int dc_set_active(
    struct session *s, const struct sockaddr_storage *ss, socklen_t len);
/* Opens the data connection set up before. Returns a connected, blocking
 * descriptor, or -1 (logged) when none arrives within data_timeout. The
 * setup is consumed either way. */
int dc_open(struct session *s);

#endif
