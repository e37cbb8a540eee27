/*
 * request.h - the admin listener's parsers of untrusted request text.
 *
 * Owns: reading a Host header (is it loopback?) and the body of POST
 * /api/retry (a form or a tiny JSON object naming a target). Pure
 * functions without libmicrohttpd, so unit tests and a fuzz target
 * (tests/fuzz/fuzz_admin.c) drive them directly.
 */
#ifndef RFTP_ADMIN_REQUEST_H
#define RFTP_ADMIN_REQUEST_H

#include <stddef.h>

/* 1 if host is "localhost" or a loopback literal (127.0.0.0/8, [::1]),
 * with or without ":PORT"; 0 for anything else. */
int request_host_is_loopback(const char *host);

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
