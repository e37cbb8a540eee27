/*
 * pasvpool.h - the passive ports of passive_ports, shared by all sessions.
 *
 * Owns: which ports of the range have one of our listeners open, handing a
 * listening socket on a free port to a PASV/EPSV, taking it back when the
 * data connection has been accepted (or the setup is dropped), and making
 * a PASV/EPSV that finds every port listening wait, first come first
 * served, for one to free. A port is busy only while our listener is open
 * on it: listeners set SO_REUSEADDR, so the TIME_WAIT of its earlier data
 * connections does not block it. A port another program holds is skipped
 * (and logged) for a while. It does not accept data connections or check
 * who connects: datachan.c does.
 */
#ifndef RFTP_PASVPOOL_H
#define RFTP_PASVPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct pasvpool;

/* lo == 0: no range configured, every listener gets a port of the
 * kernel's ephemeral range (picked at random by us, see pasvpool.c) and
 * nothing is counted. Returns NULL when out of memory. */
struct pasvpool *pasvpool_new(uint16_t lo, uint16_t hi);
/* Every listener must have been given back before. NULL: nothing. */
void pasvpool_free(struct pasvpool *p);
/* Shutdown: wakes every waiting PASV/EPSV, and later ones fail at once. */
void pasvpool_stop(struct pasvpool *p);
/*
 * Opens a listener (backlog 1) on addr's IP with a port of the range. If
 * every port is listening, waits up to wait_ms for one to be given back.
 * Returns the listening socket with *port set; the caller owns it and must
 * give it back with pasvpool_close. Returns -1 with errno ETIMEDOUT (all
 * ports stayed busy), EADDRINUSE (every port not ours is held by another
 * program), ECANCELED (shutting down) or a socket error (EMFILE...).
 */
int pasvpool_listen(struct pasvpool *p, const struct sockaddr_storage *addr,
    socklen_t len, int wait_ms, uint16_t *port);
/*
 * The ephemeral range to pick from, from the text of
 * /proc/sys/net/ipv4/ip_local_port_range ("32768\t60999") and of
 * ip_local_reserved_ports: 0 with *lo..*hi, or -1 (the kernel picks) when
 * the range cannot be read, lies below 1024, or ports are reserved.
 */
int pasvpool_ephemeral_range(
    const char *range, const char *reserved, uint16_t *lo, uint16_t *hi);
/*
 * How many ports of lo..hi lie in the ephemeral range of the
 * ip_local_port_range text and are not in the ip_local_reserved_ports text
 * ("8080,50000-50100"): the ports other programs' outgoing connections can
 * take. Sets *eph_lo..*eph_hi to the ephemeral range. -1 when either text
 * cannot be read.
 */
int pasvpool_ephemeral_overlap(const char *range, const char *reserved,
    uint16_t lo, uint16_t hi, uint16_t *eph_lo, uint16_t *eph_hi);
/* 1 with buf set to a warning for the admin when ports of lo..hi can be
 * taken by other programs' outgoing connections (see above; read from
 * /proc), else 0. pasvpool_new logs it; `relayftpd check` prints it. */
int pasvpool_overlap_warning(uint16_t lo, uint16_t hi, char *buf, size_t len);
/* Sets the ephemeral range a pool without a configured range picks from
 * (what pasvpool_new read from /proc; 0, 0: the kernel picks). Tests
 * narrow it. */
void pasvpool_set_ephemeral(struct pasvpool *p, uint16_t lo, uint16_t hi);
/* Closes a listener from pasvpool_listen and returns its port to the pool,
 * waking the first waiter. fd < 0: nothing to do. */
void pasvpool_close(struct pasvpool *p, int fd, uint16_t port);

#endif
