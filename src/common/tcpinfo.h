/*
 * tcpinfo.h - a TCP socket's counters as the kernel keeps them
 * (getsockopt TCP_INFO, tcp(7)).
 *
 * Owns: the read of struct tcp_info and the check that the running
 * kernel's copy reaches the fields a caller reads: an older kernel fills
 * a shorter struct, whose missing fields are no zero to trust but "not
 * known". Its readers: a download's acknowledged bytes (server/
 * transfer.c), the admin listener's bytes in and out of a connection
 * (admin/http.c), the bytes a mirror target sent (mirror/
 * transport_curl.c), a control connection's state and minimum RTT
 * (server/finwatch.c). Must not: interpret the counters (each caller knows
 * what its fields mean) or log.
 */
#ifndef RFTP_COMMON_TCPINFO_H
#define RFTP_COMMON_TCPINFO_H

/* Not <netinet/tcp.h>: glibc's struct tcp_info ends before
 * tcpi_bytes_acked, and the two headers cannot be included together. */
#include <linux/tcp.h>
#include <stddef.h>

/* The bytes of struct tcp_info up to the end of field: what the kernel
 * must have filled for field to be read. */
#define TCPINFO_THROUGH(field)              \
	(offsetof(struct tcp_info, field) + \
	    sizeof(((struct tcp_info *)NULL)->field))

/*
 * Reads the TCP_INFO of socket fd into *ti: 0 when the kernel filled at
 * least need bytes (TCPINFO_THROUGH of the last field the caller reads),
 * else -1 (not a TCP socket, closed, or a kernel older than that field),
 * *ti then zero past the bytes filled. Nothing is allocated.
 */
int tcpinfo_read(int fd, struct tcp_info *ti, size_t need);

/*
 * The same read for a caller that takes some fields from whatever the
 * kernel filled (finwatch.c: tcpi_state, in every kernel's copy, and
 * tcpi_min_rtt, only in 4.6's and later): the bytes filled, 0 when the
 * read failed; each field is known only if TCPINFO_THROUGH(field) is at
 * most that. *ti is zero past the bytes filled. Nothing is allocated.
 */
size_t tcpinfo_read_some(int fd, struct tcp_info *ti);

#endif
