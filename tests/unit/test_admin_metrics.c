/*
 * test_admin_metrics.c - GET /metrics's text (admin/metrics.h), from a
 * hand-made snapshot.
 *
 * Covers: every family has # HELP and # TYPE once, before its samples,
 * even with no target; counters end in _total; the values of each
 * counter and gauge; per target the counters, queue depth (queued +
 * running), parked, oldest job age, the state as three 0/1 samples; the
 * latency histogram's buckets are cumulative with +Inf equal to _count
 * and _sum in seconds; a target whose queue facts are missing gets no
 * queue samples (not zeros); label values escape backslash, quote and
 * line feed, and invalid UTF-8 becomes U+FFFD; a small cap fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "admin/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct snapshot *
make(void)
{
	struct snapshot *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	s->version = "9.8.7";
	s->started_ms = 1796130000250LL;
	s->now_ms = s->started_ms + 100000;
	for (int i = 0; i < STAT_NCOUNTERS; i++)
		s->c[i] = 100 + (uint64_t)i;
	s->g[STAT_SESSIONS_OPEN] = 3;
	s->g[STAT_BANS_ACTIVE] = 2;
	return s;
}

static char *
render(const struct snapshot *s)
{
	struct buf b;
	char *text;

	buf_init(&b, 1 << 20);
	assert_int_equal(metrics_render(s, &b), 0);
	text = strdup(buf_str(&b));
	buf_free(&b);
	return text;
}

static void
has_line(const char *text, const char *line)
{
	char want[512];

	snprintf(want, sizeof(want), "\n%s\n", line);
	if (strstr(text, want) == NULL)
		fail_msg("missing line: %s\n--- in ---\n%s", line, text);
}

static void
test_server_families(void **state)
{
	struct snapshot *s = make();
	char *t = render(s);

	(void)state;
	assert_true(strncmp(t, "# HELP relayftpd_build_info ", 28) == 0);
	has_line(t, "relayftpd_build_info{version=\"9.8.7\"} 1");
	has_line(t, "relayftpd_start_time_seconds 1796130000.250");
	has_line(t, "relayftpd_sessions_open 3");
	has_line(t, "relayftpd_bans_active 2");
	has_line(t, "relayftpd_logins_total{result=\"ok\"} 100");
	has_line(t, "relayftpd_logins_total{result=\"failed\"} 101");
	has_line(t, "relayftpd_uploads_total{result=\"completed\"} 102");
	has_line(t, "relayftpd_uploads_total{result=\"aborted\"} 103");
	has_line(t, "relayftpd_upload_bytes_total 104");
	has_line(t, "relayftpd_downloads_total{result=\"completed\"} 105");
	has_line(t, "relayftpd_downloads_total{result=\"aborted\"} 106");
	has_line(t, "relayftpd_download_bytes_total 107");
	has_line(t, "relayftpd_quota_refused_total 108");
	has_line(t, "relayftpd_queue_unrecorded_total 109");
	/* No target: the per-target families are declared, empty. */
	has_line(t, "# TYPE relayftpd_target_queue_depth gauge");
	has_line(t, "# TYPE relayftpd_target_relay_latency_seconds histogram");
	assert_null(strstr(t, "{target="));
	free(t);
	free(s);
}

/* Every sample's family was declared by # TYPE (and # HELP) before it,
 * each family once, and counters end in _total. */
static void
test_families_declared(void **state)
{
	struct snapshot *s = make();
	char *t, *line, *save = NULL;
	char declared[64][96];
	size_t n = 0;

	(void)state;
	s->ntargets = 1;
	strcpy(s->t[0].name, "a");
	s->t[0].have_view = 1;
	t = render(s);
	for (line = strtok_r(t, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char name[96], type[32];
		size_t len;
		int found = 0;

		if (strncmp(line, "# HELP ", 7) == 0)
			continue;
		if (sscanf(line, "# TYPE %95s %31s", name, type) == 2) {
			for (size_t i = 0; i < n; i++)
				assert_string_not_equal(declared[i], name);
			if (strcmp(type, "counter") == 0)
				assert_non_null(strstr(name, "_total"));
			assert_true(n < 64);
			strcpy(declared[n++], name);
			continue;
		}
		len = strcspn(line, "{ ");
		for (size_t i = 0; i < n && !found; i++) {
			size_t dl = strlen(declared[i]);

			found = strncmp(line, declared[i], dl) == 0 &&
			    (len == dl ||
			        (strcmp(line + dl, "") != 0 &&
			            line[dl] == '_'));
		}
		if (!found)
			fail_msg("sample of an undeclared family: %s", line);
	}
	assert_true(n >= 20);
	free(t);
	free(s);
}

static void
test_target(void **state)
{
	struct snapshot *s = make();
	struct snapshot_target *tg;
	char *t;

	(void)state;
	s->ntargets = 2;
	tg = &s->t[0];
	strcpy(tg->name, "backup");
	tg->st.c[STAT_T_ATTEMPTS] = 9;
	tg->st.c[STAT_T_SUCCESSES] = 8;
	tg->st.c[STAT_T_FAILURES] = 1;
	tg->st.c[STAT_T_VERIFY_FAILURES] = 4;
	tg->st.c[STAT_T_BYTES_PUSHED] = 4096;
	tg->st.lat_bucket[0] = 2;                    /* <= 0.001 */
	tg->st.lat_bucket[9] = 3;                    /* <= 1 */
	tg->st.lat_bucket[STATS_LATENCY_BOUNDS] = 1; /* +Inf */
	tg->st.lat_count = 6;
	tg->st.lat_sum_us = 1500001;
	tg->have_view = 1;
	tg->v.state = MIRROR_TARGET_BACKOFF;
	tg->v.queued = 3;
	tg->v.running = 1;
	tg->v.parked = 2;
	tg->v.oldest_ms = s->now_ms - 12500;
	strcpy(s->t[1].name, "dark"); /* no view: no queue samples */
	t = render(s);
	has_line(
	    t, "relayftpd_target_push_attempts_total{target=\"backup\"} 9");
	has_line(
	    t, "relayftpd_target_push_successes_total{target=\"backup\"} 8");
	has_line(
	    t, "relayftpd_target_push_failures_total{target=\"backup\"} 1");
	has_line(
	    t, "relayftpd_target_verify_failures_total{target=\"backup\"} 4");
	has_line(
	    t, "relayftpd_target_pushed_bytes_total{target=\"backup\"} 4096");
	has_line(t, "relayftpd_target_queue_depth{target=\"backup\"} 4");
	has_line(t, "relayftpd_target_jobs_parked{target=\"backup\"} 2");
	has_line(
	    t, "relayftpd_target_oldest_job_age_seconds{target=\"backup\"} 12");
	has_line(t, "relayftpd_target_state{target=\"backup\",state=\"up\"} 0");
	has_line(
	    t, "relayftpd_target_state{target=\"backup\",state=\"backoff\"} 1");
	has_line(
	    t, "relayftpd_target_state{target=\"backup\",state=\"failing\"} 0");
	has_line(t,
	    "relayftpd_target_relay_latency_seconds_bucket{target="
	    "\"backup\",le=\"0.001\"} 2");
	has_line(t,
	    "relayftpd_target_relay_latency_seconds_bucket{target="
	    "\"backup\",le=\"0.5\"} 2");
	has_line(t,
	    "relayftpd_target_relay_latency_seconds_bucket{target="
	    "\"backup\",le=\"1\"} 5");
	has_line(t,
	    "relayftpd_target_relay_latency_seconds_bucket{target="
	    "\"backup\",le=\"300\"} 5");
	has_line(t,
	    "relayftpd_target_relay_latency_seconds_bucket{target="
	    "\"backup\",le=\"+Inf\"} 6");
	has_line(t,
	    "relayftpd_target_relay_latency_seconds_sum{target="
	    "\"backup\"} 1.500001");
	has_line(t,
	    "relayftpd_target_relay_latency_seconds_count{target="
	    "\"backup\"} 6");
	/* The target without queue facts: counters yes, queue no. */
	has_line(t, "relayftpd_target_push_attempts_total{target=\"dark\"} 0");
	assert_null(strstr(t, "relayftpd_target_queue_depth{target=\"dark\""));
	assert_null(strstr(t, "relayftpd_target_state{target=\"dark\""));
	free(t);
	free(s);
}

static void
test_label_escapes(void **state)
{
	struct snapshot *s = make();
	char *t;

	(void)state;
	s->ntargets = 1;
	strcpy(s->t[0].name, "a\\b\"c\nd\xFF\xC3\xA9");
	s->version = "v\"1";
	t = render(s);
	has_line(t,
	    "relayftpd_target_push_attempts_total{target="
	    "\"a\\\\b\\\"c\\nd\xEF\xBF\xBD\xC3\xA9\"} 0");
	has_line(t, "relayftpd_build_info{version=\"v\\\"1\"} 1");
	free(t);
	free(s);
}

static void
test_cap(void **state)
{
	struct snapshot *s = make();
	struct buf b;

	(void)state;
	buf_init(&b, 200);
	assert_int_equal(metrics_render(s, &b), -1);
	buf_free(&b);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_server_families),
		cmocka_unit_test(test_families_declared),
		cmocka_unit_test(test_target),
		cmocka_unit_test(test_label_escapes),
		cmocka_unit_test(test_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
