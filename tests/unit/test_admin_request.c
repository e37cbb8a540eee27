/*
 * test_admin_request.c - the admin listener's request parsers
 * (admin/request.h).
 *
 * Covers: loopback Host values (names, IPv4 127/8, [::1], with and
 * without a port) and what is not (other hosts, look-alike names,
 * unbracketed IPv6, bad ports, junk); retry bodies: empty, forms with
 * percent and '+' decoding, JSON with a name, null or nothing, blanks
 * around; refusals (other keys, extra members, escapes, numbers, bad
 * percent escapes, %00, an embedded NUL, names that do not fit);
 * request targets: origin-form as sent, absolute-form http/https (any
 * case) to its path and authority, and the absolute URIs refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "admin/request.h"

#include <string.h>

static void
test_host(void **state)
{
	static const char *const yes[] = { "localhost", "LocalHost:2180",
		"127.0.0.1", "127.0.0.1:2180", "127.1.2.3:80", "[::1]",
		"[::1]:2180", "localhost:0" };
	static const char *const no[] = { "", "evil.example",
		"localhost.evil.example", "127.0.0.1.evil.example:2180",
		"128.0.0.1", "0.0.0.0:2180", "::1", "[::1", "[::2]:80",
		"[::ffff:8.8.8.8]:1", "localhost:", "localhost:65536",
		"localhost:12x", "127.0.0.1:2180:1", ":2180", "[]:1",
		"localhost 1",
		/* Brackets hold an IPv6 literal alone (RFC 3986 3.2.2). */
		"[127.0.0.1]", "[127.0.0.1]:2180", "[localhost]",
		"[LocalHost]:2180" };

	(void)state;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!request_host_is_loopback(yes[i]))
			fail_msg("not loopback: '%s'", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (request_host_is_loopback(no[i]))
			fail_msg("loopback: '%s'", no[i]);
}

static void
test_target_path(void **state)
{
	static const struct {
		const char *in, *path, *auth;
		enum request_target want;
	} cases[] = {
		{ "/api/status", "/api/status", "", REQUEST_TARGET_ORIGIN },
		{ "*", "*", "", REQUEST_TARGET_ORIGIN },
		{ "api", "api", "", REQUEST_TARGET_ORIGIN },
		{ "http://127.0.0.1:2180/api/status", "/api/status",
		    "127.0.0.1:2180", REQUEST_TARGET_ABSOLUTE },
		{ "HTTPS://[::1]/x?y=/z", "/x?y=/z", "[::1]",
		    REQUEST_TARGET_ABSOLUTE },
		{ "http://h", "/", "h", REQUEST_TARGET_ABSOLUTE },
		{ "http://h?q=1", "/", "h", REQUEST_TARGET_ABSOLUTE },
		{ "ftp://h/x", NULL, NULL, REQUEST_TARGET_BAD },
		{ "http:/x", NULL, NULL, REQUEST_TARGET_BAD },
		{ "http:x", NULL, NULL, REQUEST_TARGET_BAD },
		{ "http:///x", NULL, NULL, REQUEST_TARGET_BAD },
		{ "http://:80/x", NULL, NULL, REQUEST_TARGET_BAD },
		{ "http://u@h/x", NULL, NULL, REQUEST_TARGET_BAD },
		{ "http://h h/x", NULL, NULL, REQUEST_TARGET_BAD },
		{ "httpx://h/x", NULL, NULL, REQUEST_TARGET_BAD },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *path, *auth;
		size_t authlen;

		assert_int_equal(
		    request_target_path(cases[i].in, &path, &auth, &authlen),
		    cases[i].want);
		if (cases[i].path == NULL)
			continue;
		assert_string_equal(path, cases[i].path);
		assert_int_equal(authlen, strlen(cases[i].auth));
		assert_memory_equal(auth, cases[i].auth, authlen);
	}
}

static int
target(const char *body, size_t len, char *name, size_t namelen)
{
	return request_retry_target(body, len, name, namelen);
}

#define OK(lit, want)                                                 \
	do {                                                          \
		char n_[16];                                          \
		assert_int_equal(                                     \
		    target(lit, sizeof(lit) - 1, n_, sizeof(n_)), 0); \
		assert_string_equal(n_, want);                        \
	} while (0)
#define BAD(lit)                                                       \
	do {                                                           \
		char n_[16];                                           \
		assert_int_equal(                                      \
		    target(lit, sizeof(lit) - 1, n_, sizeof(n_)), -1); \
		assert_string_equal(n_, "");                           \
	} while (0)

static void
test_body(void **state)
{
	(void)state;
	OK("", "");
	OK(" \r\n\t", "");
	OK("target=backup", "backup");
	OK("target=back%2Dup\r\n", "back-up");
	OK("target=a+b", "a b");
	OK("{}", "");
	OK(" { } ", "");
	OK("{\"target\":\"p\"}", "p");
	OK("{ \"target\" : \"p.1@x\" }\n", "p.1@x");
	OK("{\"target\": null}", "");
	BAD("x=1");
	BAD("target=");
	BAD("target=a&x=b");
	BAD("target=a=b");
	BAD("target=%4");
	BAD("target=%zz");
	BAD("target=%00");
	BAD("target=a\0b");
	BAD("target=0123456789abcdef"); /* does not fit 16 */
	BAD("{\"target\": \"0123456789abcdef\"}");
	BAD("{\"target\": 5}");
	BAD("{\"target\": \"\"}"); /* not "all": that is null */
	BAD("{\"target\": \"p\"} x");
	BAD("{\"target\": \"p\", \"x\": 1}");
	BAD("{\"other\": \"p\"}");
	BAD("{\"target\": \"p\\u0041\"}");
	BAD("{\"target\": \"p");
	BAD("{\"target\" \"p\"}");
	BAD("{");
	BAD("[]");
	BAD("null");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host),
		cmocka_unit_test(test_body),
		cmocka_unit_test(test_target_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
