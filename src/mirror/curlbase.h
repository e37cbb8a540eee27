/*
 * curlbase.h - the libcurl options every transport's handle starts with.
 *
 * Owns: what a libcurl handle of the mirror must never do, whatever its
 * protocol: raise signals (NOSIGNAL: the daemon's threads block them),
 * hold a stop while a host name resolves (QUICK_EXIT), or leave its
 * sockets to a program the process starts (close-on-exec); and the TCP
 * keepalive of every connection (the target's keepalive); and the
 * reading of an HTTP answer's Retry-After. The transports
 * (transport_curl.c, transport_hook.c, transport_s3.c) call it after each
 * curl_easy_reset and set their own options after it.
 */
#ifndef RFTP_CURLBASE_H
#define RFTP_CURLBASE_H

#include "common/config.h"

#include <curl/curl.h>
#include <stdint.h>

/* NOSIGNAL, QUICK_EXIT, close-on-exec sockets and t's keepalive on c;
 * errbuf (at least CURL_ERROR_SIZE bytes) takes libcurl's error text; t
 * must outlive c's requests. A transport with its own open or option
 * socket callback sets it afterwards (it must open close-on-exec sockets
 * and call curlbase_keepalive too). */
void curlbase_opts(CURL *c, char *errbuf, const struct target_config *t);

/* t's TCP keepalive on the connection fd (none if t->keepalive is 0);
 * logged if it cannot be set. A CURL_SOCKOPT_* value, for a socket
 * option callback. */
int curlbase_keepalive(curl_socket_t fd, const struct target_config *t);

/* t's least transfer rate on c: a request that moves fewer than
 * t->min_rate bytes a second (at least 1: a stall) for t->timeout seconds
 * fails with CURLE_OPERATION_TIMEDOUT. growing: the body is a file still
 * being written here, whose pace is its uploader's, not the target's:
 * only a stall fails it. */
void curlbase_min_rate(CURL *c, const struct target_config *t, int growing);

/* Whether a request that ended with rc was ended by curlbase_min_rate's
 * limit (errbuf: the handle's error buffer); if so, out (what: the
 * request; growing: as given to curlbase_min_rate) says so in the
 * admin's words, naming min_rate. */
int curlbase_too_slow(CURLcode rc, const char *errbuf,
    const struct target_config *t, int growing, const char *what, char *out,
    size_t outlen);

/* The seconds the answer to c's last request asked to wait (its
 * Retry-After, RFC 9110 section 10.2.3) when its status is 429 or 503,
 * the statuses that carry it as "come back later"; 0 for any other
 * status, no header, one libcurl cannot read, or a date already past. */
int64_t curlbase_retry_after(CURL *c, long status);

#endif
