/*
 * curlbase.c - the libcurl options every transport's handle starts with
 * (curlbase.h says what it owns).
 */
#include "mirror/curlbase.h"

#include <sys/socket.h>

/* libcurl's own sockets are not close-on-exec: a program the process
 * starts (an exec: target's run by another thread, an embedding host's
 * system()) kept every connection open for its whole life (found from
 * outside). */
static curl_socket_t
cloexec_socket(void *ctx, curlsocktype purpose, struct curl_sockaddr *a)
{
	(void)ctx;
	(void)purpose;
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

void
curlbase_opts(CURL *c, char *errbuf)
{
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075700
	/* A request ended while its host name is still being resolved
	 * (the stop, a connect timeout) leaves the resolver's thread to
	 * finish on its own: libcurl otherwise waits for getaddrinfo, and a
	 * DNS server that does not answer held the stop for as long as the
	 * resolver's own timeouts, 18 s and more (found from outside). The
	 * thread frees its own data when getaddrinfo returns. */
	curl_easy_setopt(c, CURLOPT_QUICK_EXIT, 1L);
#endif
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, cloexec_socket);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, NULL);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
}
