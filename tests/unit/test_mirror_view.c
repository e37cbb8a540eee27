/*
 * test_mirror_view.c - what the admin listener reads of the mirror
 * (mirror_view() in mirror.h, src/mirror/view.c), against a real queue
 * file.
 *
 * A mirror is set up by hand around two queue connections, as
 * mirror_start makes them (the workers' and the view's), without workers:
 * the test plays the workers through queue.h. Covers: per target in
 * config order its URL without user or password, its counts and state as
 * `mirror status` names it (up, backoff, failing), its last error and
 * times; pages of jobs with a target filter; retry of parked jobs (one
 * target or all, an unknown target -2) that wakes the target's workers;
 * and a read while the workers' connection holds its lock and an open
 * write transaction: the view answers, it does not wait for it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixture.h"
#include "mirror/mirror.h"
#include "mirror/mirror_int.h"
/* To hold the workers' connection inside a transaction, as a push's
 * settle does. */
#include "mirror/queue_db.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define USER "jo"
#define HOME "/srv/ftp/jo"

struct fixture {
	char dir[PATH_MAX];
	char db[PATH_MAX];
	struct config cfg;
	struct mirror m;
	struct mirror_view v;
};

static void
set_target(struct config *cfg, unsigned i, const char *name, const char *url)
{
	struct target_config *t = &cfg->mirror.targets[i];

	snprintf(t->name, sizeof(t->name), "%s", name);
	snprintf(t->url, sizeof(t->url), "%s", url);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256] = "";
	int n;

	if (f == NULL)
		return -1;
	n = fixture_tmpdir("view", f->dir, sizeof(f->dir)) == 0 ?
	    snprintf(f->db, sizeof(f->db), "%s/queue.db", f->dir) :
	    -1;
	if (n < 0 || (size_t)n >= sizeof(f->db)) {
		fixture_drop(f, f->dir);
		return -1;
	}
	snprintf(f->cfg.mirror.queue, sizeof(f->cfg.mirror.queue), "%s", f->db);
	f->cfg.mirror.ntargets = 3;
	/* A password with '@' and ':' in it, as users write them. */
	set_target(&f->cfg, 0, "backup",
	    "ftp://mirror:p%40ss:w0rd@127.0.0.1:2122/in/base");
	set_target(&f->cfg, 1, "far", "sftp://a@b@far.example:22/x@y/");
	/* A webhook's token in the query is a secret too. */
	set_target(
	    &f->cfg, 2, "plain", "https://plain.example/h?token=s3cret#x");
	f->m.cfg = &f->cfg;
	f->m.q = queue_open(f->db, err, sizeof(err));
	f->m.vq = f->m.q != NULL ? queue_open(f->db, err, sizeof(err)) : NULL;
	f->m.ntargets = f->cfg.mirror.ntargets;
	f->m.targets = calloc(f->m.ntargets, sizeof(*f->m.targets));
	if (f->m.q == NULL || f->m.vq == NULL || f->m.targets == NULL) {
		fprintf(stderr, "setup: %s\n", err);
		queue_close(f->m.q);
		queue_close(f->m.vq);
		free(f->m.targets);
		fixture_drop(f, f->dir);
		return -1;
	}
	for (unsigned i = 0; i < f->m.ntargets; i++) {
		f->m.targets[i].t = &f->cfg.mirror.targets[i];
		f->m.targets[i].m = &f->m;
		pthread_mutex_init(&f->m.targets[i].lock, NULL);
		pthread_cond_init(&f->m.targets[i].wake, NULL);
	}
	f->v = mirror_view(&f->m);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	for (unsigned i = 0; i < f->m.ntargets; i++) {
		pthread_mutex_destroy(&f->m.targets[i].lock);
		pthread_cond_destroy(&f->m.targets[i].wake);
	}
	free(f->m.targets);
	queue_close(f->m.vq);
	queue_close(f->m.q);
	return fixture_drop(f, f->dir);
}

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
add(struct fixture *f, const char *target, const char *path)
{
	const char *t[1] = { target };

	assert_int_equal(
	    queue_add(f->m.q, t, 1, JOB_PUT, USER, HOME, path, NULL, NULL), 0);
}

static void
claim(struct fixture *f, const char *target, const char *path, struct job *j)
{
	int64_t next;

	assert_int_equal(
	    queue_claim(f->m.q, target, wall_ms(), j, &next, NULL), 1);
	assert_string_equal(j->path, path);
}

/* The view's targets, all of them. */
static void
read_targets(struct fixture *f, struct mirror_target_view *out)
{
	size_t n = 0;

	assert_non_null(f->v.targets);
	assert_int_equal(f->v.targets(f->v.ctx, out, 3, &n), 0);
	assert_int_equal(n, 3);
}

/* A mirror whose second queue connection could not be opened is not a
 * daemon without a mirror: every call says the queue could not be read
 * (the admin answers 503 and nulls), and a retry of a real target is not
 * "unknown target". */
static void
test_no_queue_connection_unreadable(void **state)
{
	struct fixture *f = *state;
	struct queue *vq = f->m.vq;
	struct mirror_view v;
	struct mirror_target_view out[3];
	struct mirror_job_view jobs[2];
	size_t n = 9;
	int64_t total = 9, requeued = 9;
	int more = 9;

	f->m.vq = NULL;
	v = mirror_view(&f->m);
	assert_non_null(v.targets);
	assert_non_null(v.jobs);
	assert_non_null(v.retry);
	assert_int_equal(v.targets(v.ctx, out, 3, &n), -1);
	assert_int_equal(n, 0);
	assert_int_equal(
	    v.jobs(v.ctx, NULL, 0, -1, 2, jobs, &n, &total, &more), -1);
	assert_int_equal(n, 0);
	assert_int_equal(total, 0);
	assert_int_equal(v.retry(v.ctx, "backup", &requeued), -1);
	assert_int_equal(requeued, 0);
	assert_int_equal(v.retry(v.ctx, NULL, &requeued), -1);
	assert_int_equal(v.retry(v.ctx, "nope", &requeued), -2);
	f->m.vq = vq;
	v = mirror_view(NULL);
	assert_null(v.targets);
	assert_null(v.jobs);
	assert_null(v.retry);
}

static void
test_targets_fresh(void **state)
{
	struct fixture *f = *state;
	struct mirror_target_view t[3];
	size_t n = 0;

	read_targets(f, t);
	assert_string_equal(t[0].name, "backup");
	assert_string_equal(t[0].url, "ftp://127.0.0.1:2122/in/base");
	/* The authority ends at the first '/', its login at its last '@':
	 * the '@' of a path stays. */
	assert_string_equal(t[1].url, "sftp://far.example:22/x@y/");
	assert_string_equal(t[2].url, "https://plain.example/h");
	for (int i = 0; i < 3; i++) {
		assert_null(strstr(t[i].url, "p%40ss"));
		assert_int_equal(t[i].state, MIRROR_TARGET_UP);
		assert_int_equal(t[i].queued + t[i].running + t[i].parked, 0);
		assert_int_equal(t[i].oldest_ms, 0);
		assert_int_equal(t[i].last_ok_ms, 0);
		assert_int_equal(t[i].last_error_ms, 0);
		assert_string_equal(t[i].last_error, "");
	}
	/* max bounds what is copied. */
	assert_int_equal(f->v.targets(f->v.ctx, t, 1, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(t[0].name, "backup");
}

static void
test_targets_states(void **state)
{
	struct fixture *f = *state;
	struct mirror_target_view t[3];
	int64_t before = wall_ms(), now;
	struct job j, k;

	add(f, "backup", "/a.bin");
	add(f, "backup", "/b \"q\" \\.bin");
	add(f, "backup", "/c.bin");
	add(f, "far", "/a.bin");
	/* A worker fails /a.bin for good and backs the target off. */
	claim(f, "backup", "/a.bin", &j);
	now = wall_ms();
	assert_int_equal(queue_target_state(f->m.q, "backup", now, now + 600000,
	                     "530 \"Login\" incorrect"),
	    0);
	assert_int_equal(queue_fail(f->m.q, &j, now + 600000, "530", 1), 0);
	/* Another is in flight. */
	claim(f, "backup", "/b \"q\" \\.bin", &k);

	read_targets(f, t);
	assert_int_equal(t[0].state, MIRROR_TARGET_BACKOFF);
	assert_string_equal(mirror_target_state_name(t[0].state), "backoff");
	assert_int_equal(t[0].queued, 1);
	assert_int_equal(t[0].running, 1);
	assert_int_equal(t[0].parked, 1);
	assert_true(t[0].oldest_ms >= before && t[0].oldest_ms <= now);
	assert_string_equal(t[0].last_error, "530 \"Login\" incorrect");
	assert_true(t[0].last_error_ms >= now);
	assert_int_equal(t[0].failing_since_ms, now);
	assert_int_equal(t[0].backoff_until_ms, now + 600000);
	/* The other targets are not touched by backup's trouble. */
	assert_int_equal(t[1].state, MIRROR_TARGET_UP);
	assert_int_equal(t[1].queued, 1);
	assert_int_equal(t[2].queued, 0);

	/* The backoff is over, the target still failing: due again. */
	assert_int_equal(queue_target_state(f->m.q, "backup", now, now - 1,
	                     "530 \"Login\" incorrect"),
	    0);
	read_targets(f, t);
	assert_int_equal(t[0].state, MIRROR_TARGET_FAILING);
	assert_string_equal(mirror_target_state_name(t[0].state), "failing");

	/* A push goes through: up again, the error kept as past. */
	assert_int_equal(queue_done_pushed(f->m.q, &k, k.path, 5, 0, 0), 0);
	read_targets(f, t);
	assert_int_equal(t[0].state, MIRROR_TARGET_UP);
	assert_string_equal(mirror_target_state_name(t[0].state), "up");
	assert_int_equal(t[0].running, 0);
	assert_true(t[0].last_ok_ms >= now);
	assert_int_equal(t[0].failing_since_ms, 0);
	assert_string_equal(t[0].last_error, "530 \"Login\" incorrect");
}

static void
test_jobs_pages(void **state)
{
	struct fixture *f = *state;
	struct mirror_job_view v[4];
	int64_t total = 0;
	size_t n = 0;
	int more = -1;
	struct job j;

	add(f, "backup", "/1");
	add(f, "far", "/2");
	add(f, "backup", "/3");
	add(f, "backup", "/4");
	claim(f, "backup", "/1", &j);
	assert_int_equal(queue_fail(f->m.q, &j, 0, "timeout", 1), 0);

	assert_non_null(f->v.jobs);
	assert_int_equal(
	    f->v.jobs(f->v.ctx, NULL, 0, -1, 4, v, &n, &total, &more), 0);
	assert_int_equal(total, 4);
	assert_int_equal(n, 4);
	assert_string_equal(v[0].path, "/1");
	assert_true(v[0].parked);
	assert_string_equal(v[0].last_error, "timeout");
	assert_string_equal(v[1].target, "far");
	assert_string_equal(v[3].path, "/4");

	assert_int_equal(
	    f->v.jobs(f->v.ctx, "backup", 1, -1, 1, v, &n, &total, &more), 0);
	assert_int_equal(total, 3);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].path, "/3");
	assert_string_equal(v[0].user, USER);
	assert_string_equal(v[0].op, "put");
	/* A negative offset is the first page. */
	assert_int_equal(
	    f->v.jobs(f->v.ctx, "backup", -5, -1, 1, v, &n, &total, &more), 0);
	assert_string_equal(v[0].path, "/1");
	assert_int_equal(more, 1);
}

static void
test_retry(void **state)
{
	struct fixture *f = *state;
	struct mirror_target_view t[3];
	int64_t requeued = -1;
	uint64_t wakes0 = f->m.targets[0].wakes;
	struct job j;

	add(f, "backup", "/1");
	add(f, "far", "/2");
	claim(f, "backup", "/1", &j);
	assert_int_equal(queue_fail(f->m.q, &j, 0, "x", 1), 0);
	claim(f, "far", "/2", &j);
	assert_int_equal(queue_fail(f->m.q, &j, 0, "y", 1), 0);

	assert_non_null(f->v.retry);
	assert_int_equal(f->v.retry(f->v.ctx, "nope", &requeued), -2);
	assert_int_equal(requeued, 0);
	/* Not a pattern: "%" names no target. */
	assert_int_equal(f->v.retry(f->v.ctx, "%", &requeued), -2);
	assert_int_equal(f->v.retry(f->v.ctx, "backup", &requeued), 0);
	assert_int_equal(requeued, 1);
	/* The workers are woken, not left to their poll. */
	assert_true(f->m.targets[0].wakes > wakes0);
	read_targets(f, t);
	assert_int_equal(t[0].parked, 0);
	assert_int_equal(t[0].queued, 1);
	assert_int_equal(t[1].parked, 1);
	/* The workers' connection sees it: the job is claimable. */
	claim(f, "backup", "/1", &j);
	assert_int_equal(j.attempts, 0);

	assert_int_equal(f->v.retry(f->v.ctx, NULL, &requeued), 0);
	assert_int_equal(requeued, 1);
	assert_int_equal(f->v.retry(f->v.ctx, NULL, &requeued), 0);
	assert_int_equal(requeued, 0);
}

struct reader {
	struct fixture *f;
	int rc;
	int64_t total;
};

static void *
read_main(void *arg)
{
	struct reader *r = arg;
	struct mirror_target_view t[3];
	struct mirror_job_view v[2];
	size_t n = 0;
	int more = 0;

	r->rc = r->f->v.targets(r->f->v.ctx, t, 3, &n);
	if (r->rc == 0)
		r->rc = r->f->v.jobs(
		    r->f->v.ctx, NULL, 0, -1, 2, v, &n, &r->total, &more);
	return NULL;
}

/* The workers' connection is inside a write transaction (its mutex held,
 * SQLite's write lock taken, a row written and not committed): the view
 * reads the last committed state at once. Were it to share that
 * connection or lock, it would wait: the bounded join fails the test. */
static void
test_read_beside_a_writer(void **state)
{
	struct fixture *f = *state;
	struct reader r = { f, -1, -1 };
	struct timespec until;
	pthread_t tid;
	int rc;

	add(f, "backup", "/committed");
	assert_int_equal(queue_begin(f->m.q), 0);
	assert_int_equal(queue_exec_held(f->m.q,
	                     "DELETE FROM jobs WHERE path='/committed'", ""),
	    1);
	assert_int_equal(pthread_create(&tid, NULL, read_main, &r), 0);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	rc = pthread_timedjoin_np(tid, NULL, &until);
	assert_int_equal(queue_end(f->m.q, 0), 0);
	if (rc != 0) {
		pthread_join(tid, NULL);
		fail_msg("the view waited for the workers' transaction");
	}
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.total, 1);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_no_queue_connection_unreadable),
		T(test_targets_fresh),
		T(test_targets_states),
		T(test_jobs_pages),
		T(test_retry),
		T(test_read_beside_a_writer),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
