/*
 * test_stats.c - the in-memory counters (common/stats.h).
 *
 * Covers: NULL stats are accepted by every writer; counters and gauges;
 * the received ring keeps the newest RFTP_STATS_RECEIVED, newest first,
 * and cuts an over-long UTF-8 path at a character boundary; latency
 * buckets (le bounds, +Inf) and their count/sum; push slots: begin,
 * progress, end, a full table answers -1, unknown targets answer -1;
 * concurrent writers lose no increment; a gauge read from its owner
 * (stats_gauge_source) while set, the stored value once cleared.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/stats.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static const char *const names[] = { "a", "b" };

static void
test_null_is_ignored(void **state)
{
	(void)state;
	stats_add(NULL, STAT_LOGINS_OK, 1);
	stats_gauge_add(NULL, STAT_SESSIONS_OPEN, 1);
	stats_received(NULL, "u", "/p", 1);
	stats_target_add(NULL, 0, STAT_T_ATTEMPTS, 1);
	stats_target_latency(NULL, 0, 5);
	assert_int_equal(stats_push_begin(NULL, 0, "u", "/p", 1), -1);
	stats_push_progress(NULL, 0, 1);
	stats_push_end(NULL, 0);
	assert_int_equal(stats_target_index(NULL, "a"), -1);
}

static void
test_counters(void **state)
{
	struct stats *s = stats_new(names, 2, 4);
	uint64_t c[STAT_NCOUNTERS];
	int64_t g[STAT_NGAUGES];

	(void)state;
	assert_non_null(s);
	stats_add(s, STAT_UPLOAD_BYTES, 10);
	stats_add(s, STAT_UPLOAD_BYTES, 5);
	stats_gauge_add(s, STAT_SESSIONS_OPEN, 3);
	stats_gauge_add(s, STAT_SESSIONS_OPEN, -1);
	stats_gauge_set(s, STAT_BANS_ACTIVE, 7);
	stats_counters(s, c, g);
	assert_int_equal(c[STAT_UPLOAD_BYTES], 15);
	assert_int_equal(c[STAT_LOGINS_OK], 0);
	assert_int_equal(g[STAT_SESSIONS_OPEN], 2);
	assert_int_equal(g[STAT_BANS_ACTIVE], 7);
	assert_int_equal(stats_target_index(s, "b"), 1);
	assert_int_equal(stats_target_index(s, "c"), -1);
	assert_string_equal(stats_target_name(s, 0), "a");
	assert_null(stats_target_name(s, 2));
	assert_int_equal(stats_ntargets(s), 2);
	assert_true(stats_started_ms(s) > 0);
	stats_free(s);
}

static void
test_received_ring(void **state)
{
	struct stats *s = stats_new(names, 2, 4);
	static struct stats_received out[RFTP_STATS_RECEIVED + 5];
	static char longpath[RFTP_PATH_MAX + 10];
	size_t n;

	(void)state;
	n = stats_received_get(s, out, RFTP_STATS_RECEIVED);
	assert_int_equal(n, 0);
	for (int i = 0; i < RFTP_STATS_RECEIVED + 20; i++) {
		char p[32];

		snprintf(p, sizeof(p), "/f%d", i);
		stats_received(s, "u", p, (uint64_t)i);
	}
	n = stats_received_get(s, out, RFTP_STATS_RECEIVED + 5);
	assert_int_equal(n, RFTP_STATS_RECEIVED);
	assert_string_equal(out[0].path, "/f119");
	assert_int_equal(out[0].size, 119);
	assert_string_equal(out[RFTP_STATS_RECEIVED - 1].path, "/f20");
	n = stats_received_get(s, out, 2);
	assert_int_equal(n, 2);
	/* "é" is two bytes: a cut never leaves half of one. */
	memset(longpath, 'x', sizeof(longpath) - 1);
	for (size_t i = RFTP_PATH_MAX - 3; i + 1 < sizeof(longpath); i += 2) {
		longpath[i] = (char)0xC3;
		longpath[i + 1] = (char)0xA9;
	}
	longpath[sizeof(longpath) - 1] = '\0';
	stats_received(s, "u", longpath, 1);
	n = stats_received_get(s, out, 1);
	assert_int_equal(n, 1);
	assert_true(strlen(out[0].path) < RFTP_PATH_MAX);
	assert_int_not_equal(
	    (unsigned char)out[0].path[strlen(out[0].path) - 1], 0xC3);
	stats_free(s);
}

static void
test_latency_buckets(void **state)
{
	struct stats *s = stats_new(names, 2, 4);
	struct stats_target t;

	(void)state;
	stats_target_latency(s, 1, 500);       /* 0.5 ms: le 0.001 */
	stats_target_latency(s, 1, 1000);      /* exactly 1 ms: le 0.001 */
	stats_target_latency(s, 1, 30000);     /* 30 ms: le 0.05 */
	stats_target_latency(s, 1, 999000000); /* 999 s: +Inf */
	stats_target_latency(s, 1, -5);        /* clock stepped: 0 */
	stats_target_latency(s, 7, 1);         /* unknown: ignored */
	stats_target_add(s, 1, STAT_T_BYTES_PUSHED, 99);
	stats_target_get(s, 1, &t);
	assert_int_equal(t.lat_count, 5);
	assert_int_equal(t.lat_bucket[0], 3);
	assert_int_equal(t.lat_bucket[5], 1);
	assert_int_equal(t.lat_bucket[STATS_LATENCY_BOUNDS], 1);
	assert_int_equal(t.lat_sum_us, 500 + 1000 + 30000 + 999000000);
	assert_int_equal(t.c[STAT_T_BYTES_PUSHED], 99);
	stats_target_get(s, 0, &t);
	assert_int_equal(t.lat_count, 0);
	assert_int_equal(t.c[STAT_T_BYTES_PUSHED], 0);
	stats_free(s);
}

static void
test_push_slots(void **state)
{
	struct stats *s = stats_new(names, 2, 2);
	struct stats_push out[4];
	int a, b;

	(void)state;
	a = stats_push_begin(s, 0, "u", "/one", 100);
	b = stats_push_begin(s, 1, "v", "/two", 200);
	assert_true(a >= 0 && b >= 0 && a != b);
	assert_int_equal(stats_push_begin(s, 0, "w", "/three", 1), -1);
	assert_int_equal(stats_push_begin(s, 5, "w", "/x", 1), -1);
	stats_push_progress(s, b, 150);
	assert_int_equal(stats_pushes_get(s, out, 4), 2);
	for (int i = 0; i < 2; i++) {
		if (strcmp(out[i].path, "/two") == 0) {
			assert_int_equal(out[i].done, 150);
			assert_int_equal(out[i].total, 200);
			assert_int_equal(out[i].target, 1);
			assert_string_equal(out[i].user, "v");
		}
	}
	stats_push_end(s, a);
	assert_int_equal(stats_pushes_get(s, out, 4), 1);
	assert_string_equal(out[0].path, "/two");
	a = stats_push_begin(s, 0, "w", "/three", 1);
	assert_true(a >= 0);
	stats_push_end(s, a);
	stats_push_end(s, b);
	assert_int_equal(stats_pushes_get(s, out, 4), 0);
	stats_free(s);
}

static void *
hammer(void *arg)
{
	struct stats *s = arg;

	for (int i = 0; i < 100000; i++) {
		stats_add(s, STAT_LOGINS_OK, 1);
		stats_target_latency(s, 0, i % 5000);
	}
	return NULL;
}

static void
test_concurrent(void **state)
{
	struct stats *s = stats_new(names, 2, 2);
	pthread_t th[4];
	uint64_t c[STAT_NCOUNTERS];
	int64_t g[STAT_NGAUGES];
	struct stats_target t;

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, hammer, s), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	stats_counters(s, c, g);
	assert_int_equal(c[STAT_LOGINS_OK], 400000);
	stats_target_get(s, 0, &t);
	assert_int_equal(t.lat_count, 400000);
	stats_free(s);
}

static int64_t
owner_value(void *ctx)
{
	return *(const int64_t *)ctx;
}

static void
test_gauge_source(void **state)
{
	struct stats *s = stats_new(names, 2, 1);
	uint64_t c[STAT_NCOUNTERS];
	int64_t g[STAT_NGAUGES], owner = 3;

	(void)state;
	assert_non_null(s);
	stats_gauge_source(NULL, STAT_BANS_ACTIVE, owner_value, &owner);
	stats_gauge_set(s, STAT_BANS_ACTIVE, 7);
	stats_gauge_source(s, STAT_BANS_ACTIVE, owner_value, &owner);
	stats_counters(s, c, g);
	assert_int_equal(g[STAT_BANS_ACTIVE], 3);
	/* Read at every call: the owner's value as it is now. */
	owner = 0;
	stats_counters(s, c, g);
	assert_int_equal(g[STAT_BANS_ACTIVE], 0);
	/* Only that gauge. */
	stats_gauge_add(s, STAT_SESSIONS_OPEN, 2);
	stats_counters(s, c, g);
	assert_int_equal(g[STAT_SESSIONS_OPEN], 2);
	stats_gauge_source(s, STAT_BANS_ACTIVE, NULL, &owner);
	stats_counters(s, c, g);
	assert_int_equal(g[STAT_BANS_ACTIVE], 7);
	stats_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_null_is_ignored),
		cmocka_unit_test(test_counters),
		cmocka_unit_test(test_received_ring),
		cmocka_unit_test(test_latency_buckets),
		cmocka_unit_test(test_push_slots),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_gauge_source),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
