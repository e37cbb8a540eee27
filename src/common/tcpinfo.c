/*
 * tcpinfo.c - reading a socket's TCP_INFO (tcpinfo.h).
 *
 * Must not: keep state, or read a field past what the kernel filled.
 */
#include "common/tcpinfo.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

size_t
tcpinfo_read_some(int fd, struct tcp_info *ti)
{
	socklen_t len = sizeof(*ti);

	memset(ti, 0, sizeof(*ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, ti, &len) < 0)
		return 0;
	return (size_t)len < sizeof(*ti) ? (size_t)len : sizeof(*ti);
}

int
tcpinfo_read(int fd, struct tcp_info *ti, size_t need)
{
	return tcpinfo_read_some(fd, ti) >= need ? 0 : -1;
}
