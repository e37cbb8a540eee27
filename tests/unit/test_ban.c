/*
 * test_ban.c - the login-failure ban table (server/ban.h).
 *
 * IPv4 is counted per address and IPv6 per /64: failures from many
 * addresses of one /64 add up to one ban that covers the whole /64, and
 * other /64s and IPv4 addresses stay free. A v4-mapped IPv6 peer is the
 * IPv4 address. The bounded table must not become a way to lift a ban:
 * a flood of 100,000 distinct /64s (one failure each, as cheap for an
 * IPv6 attacker as it gets) leaves every active ban in place, and a table
 * full of active bans refuses to track newcomers instead of evicting one.
 * bans_active (the admin's gauge) counts the bans in force: one per
 * address or /64, none once they expired.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "server/ban.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <time.h>

/* Slots of the table (ban.c's BAN_SLOTS): the flood must exceed it. */
#define TABLE 4096

static struct sockaddr_storage
addr(const char *text)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, text, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, text, &s4->sin_addr), 1);
	}
	return ss;
}

/* The i-th /64 of 2001:db8::/32 (i < 2^32), host part h. */
static struct sockaddr_storage
prefix64(uint32_t i, unsigned h)
{
	char text[64];
	int n = snprintf(
	    text, sizeof(text), "2001:db8:%x:%x::%x", i >> 16, i & 0xffff, h);

	assert_true(n > 0 && (size_t)n < sizeof(text));
	return addr(text);
}

static int
fail_from(struct bans *b, const char *text)
{
	struct sockaddr_storage ss = addr(text);

	return bans_fail(b, &ss);
}

static int
banned(struct bans *b, const char *text)
{
	struct sockaddr_storage ss = addr(text);

	return bans_check(b, &ss);
}

static void
test_ipv6_counted_per_64(void **state)
{
	struct bans *b = bans_new(3, 300, 900);

	(void)state;
	assert_non_null(b);
	/* Three different addresses of one /64, one failure each. */
	assert_int_equal(fail_from(b, "2001:db8:1:2::1"), 0);
	assert_int_equal(fail_from(b, "2001:db8:1:2:aaaa:bbbb:cccc:dddd"), 0);
	assert_int_equal(banned(b, "2001:db8:1:2::1"), 0);
	assert_int_equal(fail_from(b, "2001:db8:1:2:ffff:ffff:ffff:ffff"), 1);
	/* The whole /64 is banned, addresses never seen included. */
	assert_int_equal(banned(b, "2001:db8:1:2::1"), 1);
	assert_int_equal(banned(b, "2001:db8:1:2:1234::9"), 1);
	/* Its neighbours are not. */
	assert_int_equal(banned(b, "2001:db8:1:3::1"), 0);
	assert_int_equal(banned(b, "2001:db8:1:1:ffff:ffff:ffff:ffff"), 0);
	assert_int_equal(banned(b, "2001:db9:1:2::1"), 0);
	bans_free(b);
}

static void
test_ipv4_counted_per_address(void **state)
{
	struct bans *b = bans_new(3, 300, 900);

	(void)state;
	assert_non_null(b);
	assert_int_equal(fail_from(b, "192.0.2.1"), 0);
	assert_int_equal(fail_from(b, "192.0.2.2"), 0);
	assert_int_equal(fail_from(b, "192.0.2.3"), 0);
	assert_int_equal(banned(b, "192.0.2.1"), 0);
	assert_int_equal(fail_from(b, "192.0.2.1"), 0);
	assert_int_equal(fail_from(b, "192.0.2.1"), 1);
	assert_int_equal(banned(b, "192.0.2.1"), 1);
	assert_int_equal(banned(b, "192.0.2.2"), 0);
	/* A dual-stack socket sees IPv4 clients as v4-mapped IPv6. */
	assert_int_equal(banned(b, "::ffff:192.0.2.1"), 1);
	assert_int_equal(banned(b, "::ffff:192.0.2.2"), 0);
	/* An IPv6 /64 holding v4-mapped-looking bits is still separate. */
	assert_int_equal(banned(b, "::1"), 0);
	bans_free(b);
}

static void
test_v4_mapped_counts_with_ipv4(void **state)
{
	struct bans *b = bans_new(2, 300, 900);

	(void)state;
	assert_non_null(b);
	assert_int_equal(fail_from(b, "::ffff:198.51.100.7"), 0);
	assert_int_equal(fail_from(b, "198.51.100.7"), 1);
	assert_int_equal(banned(b, "::ffff:198.51.100.7"), 1);
	/* Not the whole ::ffff:0:0/96: only that address. */
	assert_int_equal(banned(b, "::ffff:198.51.100.8"), 0);
	bans_free(b);
}

static void
test_flood_of_64s_does_not_lift_a_ban(void **state)
{
	struct bans *b = bans_new(3, 300, 900);

	(void)state;
	assert_non_null(b);
	/* Three attackers get banned (two IPv6 /64s, one IPv4). */
	for (int i = 0; i < 3; i++) {
		fail_from(b, "2001:db8:aaaa:1::1");
		fail_from(b, "2001:db8:aaaa:2::1");
		fail_from(b, "203.0.113.9");
	}
	assert_int_equal(banned(b, "2001:db8:aaaa:1::77"), 1);
	assert_int_equal(banned(b, "2001:db8:aaaa:2::77"), 1);
	assert_int_equal(banned(b, "203.0.113.9"), 1);
	/* Then one failure from each of 100,000 new /64s, far more than
	 * the table holds. */
	for (uint32_t i = 0; i < 100000; i++) {
		struct sockaddr_storage ss = prefix64(0x10000 + i, 1);

		assert_int_equal(bans_fail(b, &ss), 0);
	}
	assert_int_equal(banned(b, "2001:db8:aaaa:1::77"), 1);
	assert_int_equal(banned(b, "2001:db8:aaaa:2::77"), 1);
	assert_int_equal(banned(b, "203.0.113.9"), 1);
	/* Counting still works for the newest comers. */
	{
		struct sockaddr_storage last = prefix64(0x10000 + 99999, 2);

		assert_int_equal(bans_fail(b, &last), 0);
		assert_int_equal(bans_fail(b, &last), 1);
		assert_int_equal(bans_check(b, &last), 1);
	}
	bans_free(b);
}

static void
test_full_of_bans_refuses_new_tracking(void **state)
{
	/* max 1: every failure bans at once, so the table fills with bans. */
	struct bans *b = bans_new(1, 300, 900);

	(void)state;
	assert_non_null(b);
	for (uint32_t i = 0; i < TABLE; i++) {
		struct sockaddr_storage ss = prefix64(i, 1);

		assert_int_equal(bans_fail(b, &ss), 1);
	}
	/* Newcomers cannot push a ban out; they go uncounted. */
	for (uint32_t i = 0; i < 1000; i++) {
		struct sockaddr_storage ss = prefix64(TABLE + i, 1);

		assert_int_equal(bans_fail(b, &ss), 0);
		assert_int_equal(bans_check(b, &ss), 0);
	}
	for (uint32_t i = 0; i < TABLE; i++) {
		struct sockaddr_storage ss = prefix64(i, 5);

		assert_int_equal(bans_check(b, &ss), 1);
	}
	bans_free(b);
}

static void
test_off(void **state)
{
	struct bans *b = bans_new(0, 300, 900);

	(void)state;
	for (int i = 0; i < 10; i++)
		assert_int_equal(fail_from(b, "2001:db8::1"), 0);
	assert_int_equal(banned(b, "2001:db8::1"), 0);
	bans_free(b);
}

static void
test_active_count(void **state)
{
	struct bans *b = bans_new(2, 300, 1);
	struct timespec pause = { 0, 50 * 1000 * 1000 };
	int tries = 0;

	(void)state;
	assert_non_null(b);
	assert_int_equal(bans_active(NULL), 0);
	assert_int_equal(bans_active(b), 0);
	assert_int_equal(fail_from(b, "192.0.2.7"), 0);
	assert_int_equal(bans_active(b), 0); /* one failure: no ban */
	assert_int_equal(fail_from(b, "192.0.2.7"), 1);
	assert_int_equal(fail_from(b, "2001:db8:1:2::1"), 0);
	assert_int_equal(fail_from(b, "2001:db8:1:2::99"), 1);
	assert_int_equal(bans_active(b), 2); /* an address and a /64 */
	/* login_ban_time 1 s: both end by themselves (bounded wait). */
	while (bans_active(b) != 0 && tries++ < 100)
		nanosleep(&pause, NULL);
	assert_int_equal(bans_active(b), 0);
	assert_int_equal(banned(b, "192.0.2.7"), 0);
	bans_free(b);
}

/* Logins checked at once count with the failures: with a limit of 3, a
 * fourth waits while three are in flight (here the stop fd ends its wait),
 * proceeds once one ended well, and the third failure bans. */
static void
test_checks_in_flight_count(void **state)
{
	struct bans *b = bans_new(3, 300, 900);
	struct sockaddr_storage ss = addr("192.0.2.7");
	struct sockaddr_storage other = addr("192.0.2.8");
	int stop = eventfd(1, EFD_CLOEXEC), never = eventfd(0, EFD_CLOEXEC);

	(void)state;
	assert_non_null(b);
	assert_true(stop >= 0 && never >= 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(bans_begin(b, &ss, never), 0);
	assert_int_equal(bans_begin(b, &ss, stop), -1);
	/* Another address is not held back. */
	assert_int_equal(bans_begin(b, &other, never), 0);
	assert_int_equal(bans_end(b, &other, 0), 0);
	/* One ends well: room for one more. */
	assert_int_equal(bans_end(b, &ss, 0), 0);
	assert_int_equal(bans_begin(b, &ss, never), 0);
	/* Three fail: banned at the third; no more checks. */
	assert_int_equal(bans_end(b, &ss, 1), 0);
	assert_int_equal(bans_end(b, &ss, 1), 0);
	assert_int_equal(bans_end(b, &ss, 1), 1);
	assert_int_equal(bans_begin(b, &ss, never), 1);
	assert_int_equal(bans_check(b, &ss), 1);
	close(stop);
	close(never);
	bans_free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv6_counted_per_64),
		cmocka_unit_test(test_ipv4_counted_per_address),
		cmocka_unit_test(test_v4_mapped_counts_with_ipv4),
		cmocka_unit_test(test_flood_of_64s_does_not_lift_a_ban),
		cmocka_unit_test(test_full_of_bans_refuses_new_tracking),
		cmocka_unit_test(test_off),
		cmocka_unit_test(test_active_count),
		cmocka_unit_test(test_checks_in_flight_count),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
