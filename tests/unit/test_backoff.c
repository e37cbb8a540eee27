/*
 * test_backoff.c - the retry schedule of a failing target
 * (mirror/backoff.h).
 *
 * Over the config's whole range (retry_initial 1..86400 s, retry_max up to
 * a week), every failure count (0, 1..80, and up to UINT_MAX) and random
 * numbers at their corners: the delay is the doubled step stretched by at
 * most 50 % and never beyond retry_max, computed from a plain reference;
 * a huge failure count or a retry_max beyond config's bounds neither wraps
 * nor loops long. Parking: max_attempts 0 never parks, else the
 * max_attempts-th failure does, even with a huge attempt count.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mirror/backoff.h"

#include <limits.h>
#include <string.h>

static struct mirror_config
policy(uint64_t initial, uint64_t max, uint64_t attempts)
{
	struct mirror_config mc;

	memset(&mc, 0, sizeof(mc));
	mc.retry_initial = initial;
	mc.retry_max = max;
	mc.max_attempts = attempts;
	return mc;
}

static void
test_first_steps(void **state)
{
	struct mirror_config mc = policy(1, 300, 0);
	const int64_t want[] = { 1000, 1000, 2000, 4000, 8000, 16000, 32000,
		64000, 128000, 256000, 300000, 300000 };

	(void)state;
	/* r % 1001 == 0: no jitter. failures 0 counts as 1. */
	for (unsigned f = 0; f < sizeof(want) / sizeof(want[0]); f++)
		assert_int_equal(backoff_delay_ms(&mc, f, 0), want[f]);
	/* Full jitter is half the step again. */
	assert_int_equal(backoff_delay_ms(&mc, 1, 1000), 1500);
	assert_int_equal(backoff_delay_ms(&mc, 3, 1000), 6000);
	assert_int_equal(backoff_delay_ms(&mc, 3, 1001), 4000);
	/* ...but never beyond retry_max. */
	assert_int_equal(backoff_delay_ms(&mc, 9, 1000), 300000);
}

static uint64_t
reference_step_ms(uint64_t initial, uint64_t max, unsigned failures)
{
	uint64_t s = initial;

	for (unsigned i = 1; i < failures && s < max; i++)
		s *= 2;
	return (s > max ? max : s) * 1000;
}

static void
test_bounds_and_jitter(void **state)
{
	const uint64_t initials[] = { 1, 2, 3, 7, 60, 3600, 86400 };
	const uint64_t maxes[] = { 1, 2, 5, 300, 3601, 86400, 7 * 86400 };
	const unsigned fails[] = { 0, 1, 2, 3, 10, 20, 31, 32, 33, 63, 64, 65,
		80, 1000, UINT_MAX / 2, UINT_MAX - 1, UINT_MAX };
	const uint32_t rs[] = { 0, 1, 499, 500, 1000, 1001, 123456789,
		UINT32_MAX - 1, UINT32_MAX };

	(void)state;
	for (size_t a = 0; a < sizeof(initials) / sizeof(initials[0]); a++)
		for (size_t b = 0; b < sizeof(maxes) / sizeof(maxes[0]); b++) {
			struct mirror_config mc;

			if (maxes[b] < initials[a])
				continue; /* config refuses it */
			mc = policy(initials[a], maxes[b], 0);
			for (size_t f = 0; f < sizeof(fails) / sizeof(fails[0]);
			     f++) {
				uint64_t step = reference_step_ms(initials[a],
				    maxes[b], fails[f] > 200 ? 200 : fails[f]);
				uint64_t cap = (uint64_t)maxes[b] * 1000;

				for (size_t r = 0;
				     r < sizeof(rs) / sizeof(rs[0]); r++) {
					int64_t d = backoff_delay_ms(
					    &mc, fails[f], rs[r]);

					assert_true(d > 0);
					assert_true((uint64_t)d >= step);
					assert_true(
					    (uint64_t)d * 2 <= step * 3);
					assert_true((uint64_t)d <= cap);
					assert_true(
					    (uint64_t)d >= initials[a] * 1000);
				}
			}
		}
}

static void
test_no_overflow(void **state)
{
	struct mirror_config mc = policy(1, 7 * 86400, 0);
	struct mirror_config wild = policy(UINT64_MAX / 2, UINT64_MAX, 0);
	struct mirror_config zero = policy(0, 300, 0);

	(void)state;
	assert_int_equal(backoff_delay_ms(&mc, UINT_MAX, 0), 7 * 86400000LL);
	assert_int_equal(
	    backoff_delay_ms(&mc, UINT_MAX, UINT32_MAX), 7 * 86400000LL);
	/* Beyond config's bounds: held to 2^32 s, positive, no wrap. */
	assert_int_equal(
	    backoff_delay_ms(&wild, 1, 0), (int64_t)((uint64_t)1 << 32) * 1000);
	assert_int_equal(backoff_delay_ms(&wild, UINT_MAX, 1000),
	    (int64_t)((uint64_t)1 << 32) * 1000);
	/* retry_initial 0 (config refuses it) stays 0 and ends at once,
	 * even for the largest failure count. */
	assert_int_equal(backoff_delay_ms(&zero, UINT_MAX, 1000), 0);
}

static void
test_park(void **state)
{
	struct mirror_config never = policy(1, 300, 0);
	struct mirror_config once = policy(1, 300, 1);
	struct mirror_config three = policy(1, 300, 3);
	struct mirror_config most = policy(1, 300, 1000000);

	(void)state;
	assert_false(backoff_park(&never, 0));
	assert_false(backoff_park(&never, INT64_MAX));
	assert_true(backoff_park(&once, 0));
	/* attempts counts the failures before this one. */
	assert_false(backoff_park(&three, 0));
	assert_false(backoff_park(&three, 1));
	assert_true(backoff_park(&three, 2));
	assert_true(backoff_park(&three, 3));
	assert_false(backoff_park(&most, 999998));
	assert_true(backoff_park(&most, 999999));
	assert_true(backoff_park(&most, INT64_MAX));
}

/* A service's Retry-After: at least what it asked, at most retry_max,
 * never shorter than the backoff's own delay. */
static void
test_asked(void **state)
{
	struct mirror_config mc = policy(1, 60, 0);
	int capped = -1;

	(void)state;
	/* Not asked (no header, or a date in the past: libcurl 7.88 gives
	 * a negative number then): the backoff's own delay. */
	assert_int_equal(backoff_asked_ms(&mc, 1000, 0, &capped), 1000);
	assert_int_equal(capped, 0);
	assert_int_equal(backoff_asked_ms(&mc, 1000, -5, &capped), 1000);
	assert_int_equal(capped, 0);
	/* Longer than the backoff: the ask. */
	assert_int_equal(backoff_asked_ms(&mc, 1000, 3, &capped), 3000);
	assert_int_equal(capped, 0);
	/* Shorter than the backoff: the backoff. */
	assert_int_equal(backoff_asked_ms(&mc, 8000, 3, &capped), 8000);
	assert_int_equal(capped, 0);
	/* Exactly retry_max: not capped. */
	assert_int_equal(backoff_asked_ms(&mc, 1000, 60, &capped), 60000);
	assert_int_equal(capped, 0);
	/* Hostile: held to retry_max, without overflow. */
	assert_int_equal(backoff_asked_ms(&mc, 1000, 61, &capped), 60000);
	assert_int_equal(capped, 1);
	assert_int_equal(backoff_asked_ms(&mc, 1000, 99999999, &capped), 60000);
	assert_int_equal(capped, 1);
	assert_int_equal(
	    backoff_asked_ms(&mc, 1000, INT64_MAX, &capped), 60000);
	assert_int_equal(capped, 1);
	assert_int_equal(backoff_asked_ms(&mc, 1000, INT64_MAX, NULL), 60000);
	/* A retry_max beyond what config allows is held as the delay's
	 * own cap is (2^32 s), still without overflow. */
	mc.retry_max = UINT64_MAX;
	assert_int_equal(backoff_asked_ms(&mc, 1000, INT64_MAX, &capped),
	    ((int64_t)1 << 32) * 1000);
	assert_int_equal(capped, 1);
}

/* Retry-After's delta-seconds form: digits alone, saturated, never
 * wrapped; anything else (a date, a sign) is left to libcurl. */
static void
test_delta_seconds(void **state)
{
	(void)state;
	assert_int_equal(backoff_delta_seconds("3", 1), 3);
	assert_int_equal(backoff_delta_seconds(" 30 \t", 5), 30);
	assert_int_equal(backoff_delta_seconds("0", 1), 0);
	assert_int_equal(backoff_delta_seconds("99999999", 8), 99999999);
	/* len bounds the read: the bytes after it are not the value. */
	assert_int_equal(backoff_delta_seconds("12x", 2), 12);
	assert_int_equal(
	    backoff_delta_seconds("9223372036854775807", 19), INT64_MAX);
	assert_int_equal(
	    backoff_delta_seconds("9223372036854775808", 19), INT64_MAX);
	assert_int_equal(
	    backoff_delta_seconds("99999999999999999999999", 23), INT64_MAX);
	assert_int_equal(backoff_delta_seconds("", 0), -1);
	assert_int_equal(backoff_delta_seconds("  ", 2), -1);
	assert_int_equal(backoff_delta_seconds("-5", 2), -1);
	assert_int_equal(backoff_delta_seconds("+5", 2), -1);
	assert_int_equal(backoff_delta_seconds("3 4", 3), -1);
	assert_int_equal(backoff_delta_seconds("1.5", 3), -1);
	assert_int_equal(
	    backoff_delta_seconds("Wed, 21 Oct 2015 07:28:00 GMT", 29), -1);
}

/* What is left to libcurl's date reading: only what may be a date. */
static void
test_date_form(void **state)
{
	(void)state;
	assert_int_equal(
	    backoff_date_form("Wed, 21 Oct 2015 07:28:00 GMT", 29), 1);
	assert_int_equal(
	    backoff_date_form("Sunday, 06-Nov-94 08:49:37 GMT", 30), 1);
	assert_int_equal(backoff_date_form("Sun Nov  6 08:49:37 1994", 24), 1);
	assert_int_equal(backoff_date_form(" \tsoon", 6), 1);
	assert_int_equal(backoff_date_form("30 seconds", 10), 0);
	assert_int_equal(backoff_date_form("1e3", 3), 0);
	assert_int_equal(backoff_date_form("-5", 2), 0);
	assert_int_equal(backoff_date_form("+3", 2), 0);
	assert_int_equal(backoff_date_form("", 0), 0);
	assert_int_equal(backoff_date_form("  ", 2), 0);
	/* len bounds the read. */
	assert_int_equal(backoff_date_form("  Wed", 2), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_steps),
		cmocka_unit_test(test_bounds_and_jitter),
		cmocka_unit_test(test_no_overflow),
		cmocka_unit_test(test_park),
		cmocka_unit_test(test_asked),
		cmocka_unit_test(test_delta_seconds),
		cmocka_unit_test(test_date_form),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
