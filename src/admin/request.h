/*
 * request.h - the admin listener's parsers of untrusted request text.
 *
 * Owns: reading a request target (origin- or absolute-form), a Host
 * header (is it loopback?) and the body of POST
 * /api/retry (a form or a tiny JSON object naming a target). Pure
 * functions without libmicrohttpd, so unit tests and a fuzz target
 * (tests/fuzz/fuzz_admin.c) drive them directly.
 */
#ifndef RFTP_ADMIN_REQUEST_H
#define RFTP_ADMIN_REQUEST_H

#include <stddef.h>

/* 1 if host is "localhost" or a loopback literal (127.0.0.0/8, [::1];
 * brackets only around an IPv6 one, RFC 3986 3.2.2),
 * with or without ":PORT"; 0 for anything else. */
int request_host_is_loopback(const char *host);

/* What request_target_path found. */
enum request_target {
	REQUEST_TARGET_ORIGIN,   /* "/path", "*", or no scheme: as sent */
	REQUEST_TARGET_ABSOLUTE, /* "http[s]://AUTHORITY[/path]" */
	REQUEST_TARGET_BAD,      /* an absolute URI we refuse (400) */
};

/*
 * The path of a request target (the request line's, up to a '?' or its
 * end; a query is not read). RFC 9112 3.2.2: a server MUST accept the
 * absolute form, whose scheme and authority are dropped here: *path then
 * points at the '/' after the authority inside target, or at a static
 * "/" when there is none (RFC 9110 4.2.3: an empty path is "/"), and
 * *auth, *authlen give the authority (the host the request names, which
 * replaces Host: RFC 9112 3.2.2). Only http and https (any case) are
 * ours; another scheme, an empty host, userinfo ('@', RFC 9110 4.2.4) or
 * a byte no authority holds is REQUEST_TARGET_BAD. Anything else is
 * REQUEST_TARGET_ORIGIN with *path = target. Nothing is allocated.
 */
enum request_target request_target_path(
    const char *target, const char **path, const char **auth, size_t *authlen);

/*
 * The target named by a retry body of len bytes (it may hold NULs):
 * nothing (blanks only), a form "target=NAME" (percent-decoded, '+' a
 * space) or JSON {"target": "NAME"} / {"target": null} / {} (a name
 * needs no escapes). Copies the name into name (namelen bytes; "" for
 * none): 0, or -1 for anything else, including a name that does not fit.
 */
int request_retry_target(
    const char *body, size_t len, char *name, size_t namelen);

#endif
