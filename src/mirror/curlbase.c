/*
 * curlbase.c - the libcurl options every transport's handle starts with
 * (curlbase.h says what it owns).
 */
#include "mirror/curlbase.h"

#include "common/log.h"
#include "mirror/backoff.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

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

/*
 * TCP keepalive: a connection kept between requests sent no packet while
 * idle, so a NAT or stateful firewall that forgets idle flows dropped it
 * silently, and so did one that lost its state. The next request sent
 * into the void and waited out the response timeout (FTP: 60 s, "server
 * response timeout"; webhooks and S3: the target's timeout), a failed
 * attempt of a target that was fine (found from outside); an FTP control
 * connection idle through a long data transfer could lose its 226 the
 * same way. A probe after keepalive seconds keeps the flow; three
 * unanswered, keepalive/3 apart, end the connection, and libcurl, finding
 * it dead, opens a new one for the next request.
 */
int
curlbase_keepalive(curl_socket_t fd, const struct target_config *t)
{
	int secs = (int)t->keepalive, intvl = secs / 3 > 0 ? secs / 3 : 1;
	const int opts[][3] = {
		{ SOL_SOCKET, SO_KEEPALIVE, 1 },
		{ IPPROTO_TCP, TCP_KEEPIDLE, secs },
		{ IPPROTO_TCP, TCP_KEEPINTVL, intvl },
		{ IPPROTO_TCP, TCP_KEEPCNT, 3 },
	};

	if (t->keepalive == 0)
		return CURL_SOCKOPT_OK;
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (setsockopt(fd, opts[i][0], opts[i][1], &opts[i][2],
		        sizeof(opts[i][2])) < 0) {
			log_warn("mirror target %s: cannot set TCP keepalive "
			         "on a connection: %s",
			    t->name, strerror(errno));
			return CURL_SOCKOPT_ERROR;
		}
	return CURL_SOCKOPT_OK;
}

static int
keepalive_cb(void *ctx, curl_socket_t fd, curlsocktype purpose)
{
	return purpose == CURLSOCKTYPE_IPCXN ? curlbase_keepalive(fd, ctx) :
	                                       CURL_SOCKOPT_OK;
}

void
curlbase_opts(CURL *c, char *errbuf, const struct target_config *t)
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
	curl_easy_setopt(c, CURLOPT_SOCKOPTFUNCTION, keepalive_cb);
	curl_easy_setopt(c, CURLOPT_SOCKOPTDATA, t);
}

static uint64_t
least_rate(const struct target_config *t, int growing)
{
	return growing || t->min_rate == 0 ? 1 : t->min_rate;
}

void
curlbase_min_rate(CURL *c, const struct target_config *t, int growing)
{
	uint64_t rate = least_rate(t, growing);

	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, (long)rate);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)t->timeout);
}

int
curlbase_too_slow(CURLcode rc, const char *errbuf,
    const struct target_config *t, int growing, const char *what, char *out,
    size_t outlen)
{
	uint64_t rate = least_rate(t, growing);

	/* libcurl's words for its low speed limit (lib/speedcheck.c);
	 * its other timeouts (connect, FTP response) say "timed out". */
	static const char slow[] = "Operation too slow.";

	if (rc != CURLE_OPERATION_TIMEDOUT || errbuf == NULL ||
	    strncmp(errbuf, slow, sizeof(slow) - 1) != 0)
		return 0;
	if (rate > 1)
		snprintf(out, outlen,
		    "%s: the target took less than %llu B/s for %llu s "
		    "(min_rate, timeout): a link or server too slow for it, "
		    "or one that reads a trickle",
		    what, (unsigned long long)rate,
		    (unsigned long long)t->timeout);
	else
		snprintf(out, outlen,
		    "%s: the target moved no byte for %llu s (timeout)", what,
		    (unsigned long long)t->timeout);
	return 1;
}

int64_t
curlbase_retry_after(CURL *c, long status)
{
	curl_off_t secs = 0;
	struct curl_header *h = NULL;
	int64_t delta;
	size_t len;

	/* A 301 or a 201 may carry the header too, with other meanings
	 * (RFC 9110 section 10.2.3); only a refusal asks for a pause. */
	if (status != 429 && status != 503)
		return 0;
	if (curl_easy_header(c, "Retry-After", 0, CURLH_HEADER, -1, &h) !=
	        CURLHE_OK ||
	    h->value == NULL)
		return 0;
	/* The number form read here: libcurl 7.88 reads one past 2^63 as
	 * no header, and a service's 10^23 s then got the bare backoff
	 * instead of retry_max. libcurl reads the date form. */
	len = strlen(h->value);
	delta = backoff_delta_seconds(h->value, len);
	if (delta >= 0)
		return delta;
	/* Neither form: libcurl reads the digits at its start ("30
	 * seconds" was waited 30 s, "1e3" logged as a 1 s ask). Not the
	 * service's word: no pause. The value itself is not logged (a
	 * remote's bytes). */
	if (!backoff_date_form(h->value, len)) {
		log_debug("mirror: a Retry-After neither in seconds nor a "
		          "date (HTTP %ld): not read",
		    status);
		return 0;
	}
	if (curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &secs) != CURLE_OK)
		return 0;
	/* libcurl before 8.12 gives a date in the past as a negative
	 * count (CURLINFO_RETRY_AFTER(3)): no pause asked. */
	return secs > 0 ? (int64_t)secs : 0;
}
