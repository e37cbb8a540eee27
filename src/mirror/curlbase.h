/*
 * curlbase.h - the libcurl options every transport's handle starts with.
 *
 * Owns: what a libcurl handle of the mirror must never do, whatever its
 * protocol: raise signals (NOSIGNAL: the daemon's threads block them),
 * hold a stop while a host name resolves (QUICK_EXIT), or leave its
 * sockets to a program the process starts (close-on-exec). The
 * transports (transport_curl.c, transport_hook.c, transport_s3.c) call
 * it after each curl_easy_reset and set their own options after it.
 */
#ifndef RFTP_CURLBASE_H
#define RFTP_CURLBASE_H

#include <curl/curl.h>

/* NOSIGNAL, QUICK_EXIT and close-on-exec sockets on c; errbuf (at least
 * CURL_ERROR_SIZE bytes) takes libcurl's error text. A transport with its
 * own socket callback sets it afterwards (it must open close-on-exec
 * sockets too). */
void curlbase_opts(CURL *c, char *errbuf);

#endif
