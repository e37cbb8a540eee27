/*
 * test_fnv.c - FNV-1a, 64 bits (common/fnv.h).
 *
 * Covers the published vectors ("", "a", "foobar"), bytes against the
 * string form, a hash carried on over parts, NUL-terminated parts kept
 * apart, bytes above 0x7f, and the mirror queue's stored flow of a client
 * (user and address, each with its NUL, top bit cleared: session.c) for
 * two clients, pinned to the values the code before fnv.c stored, so a
 * queue written by an older relayftpd keeps its flows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/fnv.h"

#include <string.h>

static void
test_published_vectors(void **state)
{
	(void)state;
	assert_true(fnv1a64(FNV1A64_INIT, "", 0) == 0xcbf29ce484222325ULL);
	assert_true(fnv1a64_str(FNV1A64_INIT, "") == 0xcbf29ce484222325ULL);
	assert_true(fnv1a64(FNV1A64_INIT, "a", 1) == 0xaf63dc4c8601ec8cULL);
	assert_true(fnv1a64_str(FNV1A64_INIT, "a") == 0xaf63dc4c8601ec8cULL);
	assert_true(
	    fnv1a64(FNV1A64_INIT, "foobar", 6) == 0x85944171f73967e8ULL);
	assert_true(
	    fnv1a64_str(FNV1A64_INIT, "foobar") == 0x85944171f73967e8ULL);
}

static void
test_parts(void **state)
{
	uint64_t ab_c, a_bc;

	(void)state;
	/* Carried on over parts: the same as over the whole. */
	assert_true(fnv1a64_str(fnv1a64_str(FNV1A64_INIT, "foo"), "bar") ==
	    0x85944171f73967e8ULL);
	assert_true(fnv1a64(fnv1a64(FNV1A64_INIT, "foo", 3), "bar", 3) ==
	    0x85944171f73967e8ULL);
	/* With each part's NUL, ("ab", "c") and ("a", "bc") differ. */
	ab_c = fnv1a64(fnv1a64(FNV1A64_INIT, "ab", 3), "c", 2);
	a_bc = fnv1a64(fnv1a64(FNV1A64_INIT, "a", 2), "bc", 3);
	assert_true(ab_c != a_bc);
	/* A byte above 0x7f is taken unsigned: "\xff" is 0xff, not -1. */
	assert_true(fnv1a64_str(FNV1A64_INIT, "\xff") ==
	    ((FNV1A64_INIT ^ 0xffULL) * 1099511628211ULL));
	assert_true(fnv1a64(FNV1A64_INIT, "\xff", 1) ==
	    fnv1a64_str(FNV1A64_INIT, "\xff"));
}

/* session.c's flow: user and address, each with its NUL, top bit off. */
static uint64_t
flow(const char *user, const char *ip)
{
	uint64_t h = fnv1a64(FNV1A64_INIT, user, strlen(user) + 1);

	h = fnv1a64(h, ip, strlen(ip) + 1) & INT64_MAX;
	return h != 0 ? h : 1;
}

static void
test_stored_flows_unchanged(void **state)
{
	(void)state;
	/* Computed by the loop session.c had before fnv.c. */
	assert_true(flow("alice", "127.0.0.1") == 0x3bb96feb0aa3909aULL);
	assert_true(flow("cam-1", "2001:db8::7") == 0x365c3278abdcf768ULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_published_vectors),
		cmocka_unit_test(test_parts),
		cmocka_unit_test(test_stored_flows_unchanged),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
