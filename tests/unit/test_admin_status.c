/*
 * test_admin_status.c - the /api/status document (admin/status.h), from a
 * hand-made snapshot.
 *
 * Covers: the member names the page relies on, in one exact document for
 * a target with queue facts (times as ISO 8601 UTC, never-happened times
 * as null, ages from now) and one without (queue facts null, not zero);
 * pushes name their target; received files; a jobs page with a rename's
 * new_path and a put's null; a jobs page the queue could not give (total
 * and items null); a small cap fails instead of cutting the document.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "admin/status.h"

#include <stdlib.h>
#include <string.h>

#define T0 1796130000000LL /* 2026-12-01T13:00:00Z */

static struct snapshot *
make(void)
{
	struct snapshot *s = calloc(1, sizeof(*s));
	struct snapshot_target *t;

	assert_non_null(s);
	s->version = "1.2.3";
	s->started_ms = T0;
	s->now_ms = T0 + 3600 * 1000 + 500;
	s->c[STAT_LOGINS_OK] = 10;
	s->c[STAT_UPLOAD_BYTES] = 12345;
	s->g[STAT_SESSIONS_OPEN] = 3;
	s->ntargets = 2;
	t = &s->t[0];
	strcpy(t->name, "backup");
	t->st.c[STAT_T_ATTEMPTS] = 9;
	t->st.c[STAT_T_BYTES_PUSHED] = 4096;
	t->have_view = 1;
	strcpy(t->v.url, "ftp://127.0.0.1:2122/");
	t->v.state = MIRROR_TARGET_FAILING;
	t->v.queued = 3;
	t->v.running = 1;
	t->v.oldest_ms = s->now_ms - 12000;
	strcpy(t->v.last_error, "550 \"no\"");
	t->v.last_error_ms = T0 + 60000;
	t->v.failing_since_ms = T0 + 1000;
	strcpy(s->t[1].name, "dark");
	return s;
}

static char *
render(const struct status_input *in, size_t cap)
{
	struct buf b;
	char *text;

	buf_init(&b, cap);
	if (status_render(in, &b) < 0) {
		buf_free(&b);
		return NULL;
	}
	text = strdup(buf_str(&b));
	buf_free(&b);
	return text;
}

static void
test_document(void **state)
{
	struct snapshot *s = make();
	struct stats_received r = { T0 + 5000, "alice", "/a/b.bin", 4096 };
	struct stats_push p = { 0, "alice", "/a/c.bin", 1024, 4096, T0 };
	struct mirror_job_view j[2];
	struct status_input in;
	char *t;

	(void)state;
	memset(j, 0, sizeof(j));
	j[0].id = 7;
	strcpy(j[0].target, "backup");
	strcpy(j[0].user, "alice");
	j[0].op = "rename";
	strcpy(j[0].path, "/x");
	strcpy(j[0].new_path, "/y");
	j[0].created_ms = s->now_ms - 2000;
	j[0].attempts = 2;
	j[0].parked = 1;
	strcpy(j[0].last_error, "boom");
	j[1].id = 8;
	strcpy(j[1].target, "backup");
	strcpy(j[1].user, "bob");
	j[1].op = "put";
	strcpy(j[1].path, "/z");
	j[1].created_ms = s->now_ms;
	j[1].running = 1;
	memset(&in, 0, sizeof(in));
	in.snap = s;
	in.received = &r;
	in.nreceived = 1;
	in.pushes = &p;
	in.npushes = 1;
	in.jobs.target = "backup";
	in.jobs.offset = 5;
	in.jobs.after = -1;
	in.jobs.limit = 2;
	in.jobs.ok = 1;
	in.jobs.total = 9;
	in.jobs.items = j;
	in.jobs.n = 2;
	in.jobs.more = 1;
	t = render(&in, 1 << 16);
	assert_non_null(t);
	assert_string_equal(t,
	    "{\"version\":\"1.2.3\",\"now\":\"2026-12-01T14:00:00Z\","
	    "\"started\":\"2026-12-01T13:00:00Z\",\"uptime_s\":3600,"
	    "\"server\":{\"sessions_open\":3,\"logins_ok\":10,"
	    "\"logins_failed\":0,\"uploads\":{\"completed\":0,\"aborted\":0,"
	    "\"bytes\":12345},\"downloads\":{\"completed\":0,\"aborted\":0,"
	    "\"bytes\":0},\"quota_refused\":0,\"bans_active\":0},"
	    "\"targets\":[{\"name\":\"backup\",\"url\":\"ftp://127.0.0.1:2122/"
	    "\",\"state\":\"failing\",\"queued\":3,\"running\":1,"
	    "\"parked\":0,\"oldest_age_s\":12,\"attempts\":9,\"successes\":0,"
	    "\"failures\":0,\"verify_failures\":0,\"bytes_pushed\":4096,"
	    "\"last_error\":\"550 \\\"no\\\"\",\"last_error_at\":"
	    "\"2026-12-01T13:01:00Z\",\"last_ok_at\":null,\"failing_since\":"
	    "\"2026-12-01T13:00:01Z\",\"retry_at\":null},"
	    "{\"name\":\"dark\",\"url\":\"\",\"state\":null,\"queued\":null,"
	    "\"running\":null,\"parked\":null,\"oldest_age_s\":null,"
	    "\"attempts\":0,\"successes\":0,\"failures\":0,"
	    "\"verify_failures\":0,\"bytes_pushed\":0,\"last_error\":\"\","
	    "\"last_error_at\":null,\"last_ok_at\":null,\"failing_since\":null,"
	    "\"retry_at\":null}],"
	    "\"pushes\":[{\"target\":\"backup\",\"user\":\"alice\",\"path\":"
	    "\"/a/c.bin\",\"bytes_done\":1024,\"bytes_total\":4096,"
	    "\"started\":\"2026-12-01T13:00:00Z\"}],"
	    "\"received\":[{\"time\":\"2026-12-01T13:00:05Z\",\"user\":"
	    "\"alice\",\"path\":\"/a/b.bin\",\"size\":4096}],"
	    "\"jobs\":{\"target\":\"backup\",\"offset\":5,\"after\":null,"
	    "\"limit\":2,"
	    "\"total\":9,\"items\":[{\"id\":7,\"target\":\"backup\",\"user\":"
	    "\"alice\",\"op\":\"rename\",\"path\":\"/x\",\"new_path\":\"/y\","
	    "\"age_s\":2,\"attempts\":2,\"parked\":true,\"running\":false,"
	    "\"last_error\":\"boom\"},{\"id\":8,\"target\":\"backup\",\"user\":"
	    "\"bob\",\"op\":\"put\",\"path\":\"/z\",\"new_path\":null,"
	    "\"age_s\":0,\"attempts\":0,\"parked\":false,\"running\":true,"
	    "\"last_error\":\"\"}],\"next_after\":8}}");
	free(t);
	/* Past a cursor: the offset is not known; the last page has no
	 * next cursor. */
	in.jobs.after = 6;
	in.jobs.more = 0;
	t = render(&in, 1 << 16);
	assert_non_null(t);
	assert_non_null(strstr(t,
	    "\"jobs\":{\"target\":\"backup\",\"offset\":null,\"after\":6,"
	    "\"limit\":2,\"total\":9,\"items\":[{\"id\":7,"));
	assert_non_null(
	    strstr(t, "\"last_error\":\"\"}],\"next_after\":null}}"));
	free(t);
	in.jobs.after = -1;
	/* The queue could not give the page: unknown, not empty. */
	in.jobs.ok = 0;
	in.jobs.target = NULL;
	t = render(&in, 1 << 16);
	assert_non_null(t);
	assert_non_null(strstr(t,
	    "\"jobs\":{\"target\":null,\"offset\":5,\"after\":null,"
	    "\"limit\":2,\"total\":null,\"items\":null,"
	    "\"next_after\":null}}"));
	free(t);
	/* Too small a cap: an error, never half a document. */
	assert_null(render(&in, 100));
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_document),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
