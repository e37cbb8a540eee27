/*
 * test_queue.c - the durable mirror queue (mirror/queue.h).
 *
 * Every test opens a fresh queue file in its own temporary folder
 * (fixture.h); the teardown closes it and removes the folder with the file
 * and its -wal and -shm companions. Covers: opening (schema, WAL, a folder
 * that does not exist); one job per target; coalescing of queued jobs by
 * (target, user, path) but never with a running job; claim order, one push
 * per path in flight, backoff and the earliest next due time; parking,
 * requeueing, done/forget counters; crash recovery and persistence across
 * reopen; the target-wide state shown by status; four workers draining 200
 * jobs; and the convergence rules: no merge across a rename into the path,
 * folder jobs ordered with what is inside, parked jobs holding back later
 * ones, a parked put revived by a new one, source paths through later
 * renames, intents, byte-exact moves of pushed records ('_', '%', case),
 * and time jobs folding into puts and the record of a new time; the fair
 * share between sessions (a new session's file goes next, bursts take
 * turns, shares in bytes, the clock across a restart, related jobs still
 * in order).
 *
 * Times passed to queue_claim/queue_fail are made up (NOW); only created_ms
 * comes from the wall clock inside queue_add.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/log.h"
#include "fixture.h"
#include "common/buf.h"
#include "mirror/jobrules.h"
#include "mirror/queue.h"
#include "mirror/queue_db.h"

#include <sqlite3.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A made-up clock for claims: jobs start due at 0, so any NOW > 0 works. */
#define NOW ((int64_t)1000000)

#define USER "jo"
#define HOME "/srv/ftp/jo"

struct fixture {
	char dir[PATH_MAX];
	char db[PATH_MAX];
	struct queue *q;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256] = "";
	int n;

	if (f == NULL)
		return -1;
	if (fixture_tmpdir("queue", f->dir, sizeof(f->dir)) == 0) {
		n = snprintf(f->db, sizeof(f->db), "%s/queue.db", f->dir);
		if (n >= 0 && (size_t)n < sizeof(f->db))
			f->q = queue_open(f->db, err, sizeof(err));
	}
	if (f->q != NULL) {
		*state = f;
		return 0;
	}
	fprintf(stderr, "queue_open %s: %s\n", f->db, err);
	fixture_drop(f, f->dir);
	return -1;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	queue_close(f->q);
	return fixture_drop(f, f->dir);
}

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* Closes and reopens the queue file, as a restart would. */
static void
reopen(struct fixture *f)
{
	char err[256] = "";

	queue_close(f->q);
	f->q = queue_open(f->db, err, sizeof(err));
	if (f->q == NULL)
		fail_msg("reopen: %s", err);
}

static void
add_as(struct fixture *f, const char *target, const char *user,
    const char *home, const char *path)
{
	const char *targets[1];

	targets[0] = target;
	assert_int_equal(
	    queue_add(f->q, targets, 1, JOB_PUT, user, home, path, NULL, NULL),
	    0);
}

static void
add(struct fixture *f, const char *target, const char *path)
{
	add_as(f, target, USER, HOME, path);
}

static void
add_op(struct fixture *f, const char *target, enum job_op op, const char *path,
    const char *arg)
{
	const char *targets[1];

	targets[0] = target;
	assert_int_equal(
	    queue_add(f->q, targets, 1, op, USER, HOME, path, arg, NULL), 0);
}

static struct target_status
status(struct fixture *f, const char *target)
{
	struct target_status st;

	assert_int_equal(queue_status(f->q, target, &st), 0);
	return st;
}

static void
expect_counts(struct fixture *f, const char *target, int64_t queued,
    int64_t running, int64_t failed)
{
	struct target_status st = status(f, target);

	if (st.queued != queued || st.running != running || st.failed != failed)
		fail_msg("target %s: queued/running/failed %lld/%lld/%lld, "
		         "expected %lld/%lld/%lld",
		    target, (long long)st.queued, (long long)st.running,
		    (long long)st.failed, (long long)queued, (long long)running,
		    (long long)failed);
}

/* Claims one job of target at now and checks it is for path. */
static void
claim_path(struct fixture *f, const char *target, int64_t now, const char *path,
    struct job *j)
{
	int64_t next = 0;
	int rc = queue_claim(f->q, target, now, j, &next, NULL);

	if (rc != 1)
		fail_msg("claim on %s returned %d (next due %lld), expected "
		         "a job for %s",
		    target, rc, (long long)next, path);
	assert_string_equal(j->target, target);
	assert_string_equal(j->path, path);
}

/* No job of target is due at now; returns the reported next due time. */
static int64_t
claim_none(struct fixture *f, const char *target, int64_t now)
{
	struct job j;
	int64_t next = 12345;
	int rc;

	memset(&j, 0, sizeof(j));
	rc = queue_claim(f->q, target, now, &j, &next, NULL);
	if (rc != 0)
		fail_msg("claim on %s returned %d (path '%s'), expected 0",
		    target, rc, j.path);
	return next;
}

/* --- opening --------------------------------------------------------------- */

static void
test_open_creates_schema(void **state)
{
	struct fixture *f = *state;
	char wal[PATH_MAX + 8];
	struct job j;
	struct target_status st;

	assert_true(exists(f->db));
	/* A fresh file answers every call: the tables exist. */
	st = status(f, "a");
	assert_int_equal(st.queued, 0);
	assert_int_equal(st.running, 0);
	assert_int_equal(st.failed, 0);
	assert_int_equal(st.oldest_ms, 0);
	assert_int_equal(st.files, 0);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(st.failing_since_ms, 0);
	assert_int_equal(st.backoff_until_ms, 0);
	assert_string_equal(st.last_error, "");
	assert_int_equal(claim_none(f, "a", NOW), -1);
	assert_int_equal(queue_recover(f->q), 0);
	assert_int_equal(queue_requeue_failed(f->q, NULL), 0);
	add(f, "a", "/x");
	/* WAL mode: commits go to the -wal file beside the database. */
	snprintf(wal, sizeof(wal), "%s-wal", f->db);
	assert_true(exists(wal));
	/* Opening again does not recreate (or fail on) the schema. */
	reopen(f);
	expect_counts(f, "a", 1, 0, 0);
	claim_path(f, "a", NOW, "/x", &j);
}

static void
test_open_missing_folder(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX + 32], err[PATH_MAX + 256];
	struct queue *q;

	snprintf(path, sizeof(path), "%s/no/such/queue.db", f->dir);
	memset(err, 0, sizeof(err));
	q = queue_open(path, err, sizeof(err));
	if (q != NULL) {
		queue_close(q);
		fail_msg("queue_open of %s succeeded", path);
	}
	/* The message names the file the admin must fix. */
	assert_non_null(strstr(err, path));
}

/* --- adding ---------------------------------------------------------------- */

static void
test_add_one_job_per_target(void **state)
{
	struct fixture *f = *state;
	const char *targets[] = { "a", "b" };
	struct job ja, jb;
	int64_t before = wall_ms(), after;
	struct target_status st;

	assert_int_equal(queue_add(f->q, targets, 2, JOB_PUT, USER, HOME,
	                     "/d/f.txt", NULL, NULL),
	    0);
	after = wall_ms();
	expect_counts(f, "a", 1, 0, 0);
	expect_counts(f, "b", 1, 0, 0);
	expect_counts(f, "c", 0, 0, 0);
	st = status(f, "a");
	assert_in_range(st.oldest_ms, before, after);

	claim_path(f, "a", NOW, "/d/f.txt", &ja);
	claim_path(f, "b", NOW, "/d/f.txt", &jb);
	assert_true(ja.id != jb.id);
	assert_string_equal(ja.user, USER);
	assert_string_equal(ja.home, HOME);
	assert_int_equal(ja.attempts, 0);
	assert_in_range(ja.created_ms, before, after);
	/* Each target has exactly one. */
	claim_none(f, "a", NOW);
	claim_none(f, "b", NOW);
	expect_counts(f, "a", 0, 1, 0);
	expect_counts(f, "b", 0, 1, 0);
}

static void
test_add_no_targets(void **state)
{
	struct fixture *f = *state;
	const char *targets[] = { "a" };

	assert_int_equal(
	    queue_add(f->q, targets, 0, JOB_PUT, USER, HOME, "/x", NULL, NULL),
	    0);
	expect_counts(f, "a", 0, 0, 0);
}

static void
test_add_coalesces_queued(void **state)
{
	struct fixture *f = *state;
	const char *both[] = { "a", "b" };
	struct job j;

	add(f, "a", "/x");
	add(f, "a", "/x");
	expect_counts(f, "a", 1, 0, 0);
	/* Coalescing is per target: b gets its own job, a still has one. */
	assert_int_equal(
	    queue_add(f->q, both, 2, JOB_PUT, USER, HOME, "/x", NULL, NULL), 0);
	expect_counts(f, "a", 1, 0, 0);
	expect_counts(f, "b", 1, 0, 0);
	/* A different path is a different job. */
	add(f, "a", "/y");
	expect_counts(f, "a", 2, 0, 0);
	/* So is the same path of another user. */
	add_as(f, "a", "al", "/srv/ftp/al", "/x");
	expect_counts(f, "a", 3, 0, 0);
	/* The reused job takes the newest home. */
	add_as(f, "a", USER, "/srv/new/jo", "/x");
	expect_counts(f, "a", 3, 0, 0);
	claim_path(f, "a", NOW, "/x", &j);
	assert_string_equal(j.user, USER);
	assert_string_equal(j.home, "/srv/new/jo");
}

/* --- claiming -------------------------------------------------------------- */

static void
test_claim_oldest_first(void **state)
{
	struct fixture *f = *state;
	struct job j1, j2, j3;

	add(f, "a", "/1");
	add(f, "a", "/2");
	add(f, "a", "/3");
	claim_path(f, "a", NOW, "/1", &j1);
	expect_counts(f, "a", 2, 1, 0);
	claim_path(f, "a", NOW, "/2", &j2);
	expect_counts(f, "a", 1, 2, 0);
	claim_path(f, "a", NOW, "/3", &j3);
	expect_counts(f, "a", 0, 3, 0);
	assert_true(j1.id < j2.id && j2.id < j3.id);
	assert_int_equal(claim_none(f, "a", NOW), -1);
	/* Another target sees none of them. */
	assert_int_equal(claim_none(f, "b", NOW), -1);
}

static void
test_claim_one_push_per_path(void **state)
{
	struct fixture *f = *state;
	struct job jx, jy;
	int64_t next;

	add(f, "a", "/x");
	claim_path(f, "a", NOW, "/x", &jx);
	/* A new upload of /x while its push runs: a second job, queued. */
	add(f, "a", "/x");
	expect_counts(f, "a", 1, 1, 0);
	add(f, "a", "/y");
	expect_counts(f, "a", 2, 1, 0);
	/* /x is in flight, so the next claim skips to /y... */
	claim_path(f, "a", NOW, "/y", &jy);
	/* ...and then nothing is claimable; the blocked /x job must not be
	 * reported as due already (a worker would spin). */
	next = claim_none(f, "a", NOW);
	assert_true(next == -1 || next > NOW);
	expect_counts(f, "a", 1, 2, 0);
}

static void
test_add_while_running_pushes_after(void **state)
{
	struct fixture *f = *state;
	struct job j1, j2;
	struct target_status st;

	add(f, "a", "/x");
	claim_path(f, "a", NOW, "/x", &j1);
	add(f, "a", "/x");
	/* A third upload coalesces with the queued one, not the running. */
	add(f, "a", "/x");
	expect_counts(f, "a", 1, 1, 0);
	claim_none(f, "a", NOW);
	assert_int_equal(queue_done_pushed(f->q, &j1, j1.path, 10, 0, 0), 0);
	expect_counts(f, "a", 1, 0, 0);
	claim_path(f, "a", NOW, "/x", &j2);
	assert_true(j2.id != j1.id);
	assert_true(j2.id > j1.id);
	assert_int_equal(queue_done_pushed(f->q, &j2, j2.path, 20, 0, 0), 0);
	st = status(f, "a");
	assert_int_equal(st.files, 2);
	assert_int_equal(st.bytes, 30);
	expect_counts(f, "a", 0, 0, 0);
}

/* --- failures ---------------------------------------------------------------- */

static void
test_fail_backoff(void **state)
{
	struct fixture *f = *state;
	struct job j, again;
	struct target_status st;

	add(f, "a", "/x");
	claim_path(f, "a", NOW, "/x", &j);
	assert_int_equal(queue_fail(f->q, &j, NOW + 5000, "timeout", 0), 0);
	expect_counts(f, "a", 1, 0, 0);
	assert_int_equal(claim_none(f, "a", NOW), NOW + 5000);
	assert_int_equal(claim_none(f, "a", NOW + 4999), NOW + 5000);
	claim_path(f, "a", NOW + 5000, "/x", &again);
	assert_int_equal(again.id, j.id);
	assert_int_equal(again.attempts, 1);
	assert_int_equal(again.created_ms, j.created_ms);
	/* A failure is not a push. */
	st = status(f, "a");
	assert_int_equal(st.files, 0);
	/* Attempts add up. */
	assert_int_equal(queue_fail(f->q, &again, NOW + 6000, "timeout", 0), 0);
	claim_path(f, "a", NOW + 6000, "/x", &again);
	assert_int_equal(again.attempts, 2);
}

static void
test_fail_reports_earliest_due(void **state)
{
	struct fixture *f = *state;
	struct job ja, jb, jc;

	add(f, "a", "/a");
	add(f, "a", "/b");
	claim_path(f, "a", NOW, "/a", &ja);
	claim_path(f, "a", NOW, "/b", &jb);
	/* The older job waits longer: neither the lowest id nor the last
	 * failure is the answer, the earliest next_ms is. */
	assert_int_equal(queue_fail(f->q, &ja, NOW + 9000, "e1", 0), 0);
	assert_int_equal(queue_fail(f->q, &jb, NOW + 3000, "e2", 0), 0);
	assert_int_equal(claim_none(f, "a", NOW), NOW + 3000);
	claim_path(f, "a", NOW + 3000, "/b", &jc);
	assert_int_equal(jc.id, jb.id);
	assert_int_equal(claim_none(f, "a", NOW + 3000), NOW + 9000);
	claim_path(f, "a", NOW + 9000, "/a", &jc);
	assert_int_equal(jc.id, ja.id);
	/* Another target's backoff is not reported for this one. */
	assert_int_equal(claim_none(f, "b", NOW), -1);
}

/* The wall clock set back: due times move back with it; at start, none
 * stays beyond the longest delay (worker.c clock_check, mirror_start). */
static void
test_retime(void **state)
{
	struct fixture *f = *state;
	struct job ja, jb, jc;
	struct target_status st;

	add(f, "a", "/a");
	add(f, "a", "/b");
	add(f, "a", "/c");
	claim_path(f, "a", NOW, "/a", &ja);
	claim_path(f, "a", NOW, "/b", &jb);
	assert_int_equal(queue_fail(f->q, &ja, NOW + 9000, "e1", 0), 0);
	assert_int_equal(queue_fail(f->q, &jb, NOW + 3000, "e2", 0), 0);
	assert_int_equal(
	    queue_target_state(f->q, "a", NOW, NOW + 9000, "down"), 0);
	/* /c is due now (next_ms 0) and stays so. */
	assert_int_equal(queue_retime(f->q, -5000, INT64_MAX), 2);
	st = status(f, "a");
	assert_int_equal(st.backoff_until_ms, NOW + 4000);
	assert_int_equal(st.failing_since_ms, NOW - 5000);
	claim_path(f, "a", NOW - 5000, "/c", &jc);
	assert_int_equal(claim_none(f, "a", NOW - 5000), NOW - 2000);
	claim_path(f, "a", NOW - 2000, "/b", &jc);
	assert_int_equal(jc.id, jb.id);
	assert_int_equal(claim_none(f, "a", NOW - 2000), NOW + 4000);
	/* Moved to before the epoch: due now, never negative. */
	assert_int_equal(queue_retime(f->q, -2 * NOW, INT64_MAX), 1);
	claim_path(f, "a", 0, "/a", &jc);
	assert_int_equal(jc.id, ja.id);
	assert_int_equal(queue_fail(f->q, &jc, NOW + 9000, "e1", 0), 0);
	/* At start: held to the latest a delay can reach; nothing else. */
	assert_int_equal(queue_retime(f->q, 0, NOW + 1000), 1);
	assert_int_equal(queue_retime(f->q, 0, NOW + 1000), 0);
	assert_int_equal(claim_none(f, "a", NOW - 5000), NOW + 1000);
	st = status(f, "a");
	assert_int_equal(st.backoff_until_ms, 0); /* moved before the epoch */
	assert_int_equal(st.failing_since_ms, 1); /* still failing */
}

static void
test_fail_park(void **state)
{
	struct fixture *f = *state;
	struct job j;

	add(f, "a", "/x");
	claim_path(f, "a", NOW, "/x", &j);
	assert_int_equal(j.tried, 0); /* a first attempt */
	assert_int_equal(queue_fail(f->q, &j, NOW + 1000, "550 denied", 1), 0);
	expect_counts(f, "a", 0, 0, 1);
	/* Parked jobs are never claimed, however late, and are not waiting
	 * for a time either. */
	assert_int_equal(claim_none(f, "a", NOW + 1000), -1);
	assert_int_equal(claim_none(f, "a", INT64_MAX / 2), -1);
	expect_counts(f, "a", 0, 0, 1);
	/* recover touches running jobs only. */
	assert_int_equal(queue_recover(f->q), 0);
	expect_counts(f, "a", 0, 0, 1);
}

static void
test_requeue_failed(void **state)
{
	struct fixture *f = *state;
	const char *both[] = { "a", "b" };
	struct job j;
	int i;

	assert_int_equal(
	    queue_add(f->q, both, 2, JOB_PUT, USER, HOME, "/1", NULL, NULL), 0);
	add(f, "a", "/2");
	for (i = 0; i < 2; i++) {
		claim_path(f, "a", NOW, i == 0 ? "/1" : "/2", &j);
		assert_int_equal(
		    queue_fail(f->q, &j, NOW + 1000000, "x", 1), 0);
	}
	claim_path(f, "b", NOW, "/1", &j);
	assert_int_equal(queue_fail(f->q, &j, NOW + 1000000, "x", 1), 0);
	expect_counts(f, "a", 0, 0, 2);
	expect_counts(f, "b", 0, 0, 1);

	assert_int_equal(queue_requeue_failed(f->q, "c"), 0);
	assert_int_equal(queue_requeue_failed(f->q, "a"), 2);
	expect_counts(f, "a", 2, 0, 0);
	expect_counts(f, "b", 0, 0, 1);
	/* Due at once, with a fresh attempt count, but still known to have
	 * been tried: its temporary copy may be on the target. */
	claim_path(f, "a", NOW, "/1", &j);
	assert_int_equal(j.attempts, 0);
	assert_int_equal(j.tried, 1);

	assert_int_equal(queue_requeue_failed(f->q, NULL), 1);
	expect_counts(f, "b", 1, 0, 0);
	claim_path(f, "b", NOW, "/1", &j);
	assert_int_equal(j.attempts, 0);
	assert_int_equal(queue_requeue_failed(f->q, NULL), 0);
}

/* --- finishing ------------------------------------------------------------- */

static void
test_done_counts(void **state)
{
	struct fixture *f = *state;
	struct job jx, jy;
	struct target_status st;

	add(f, "a", "/x");
	add(f, "a", "/y");
	add(f, "b", "/x");
	claim_path(f, "a", NOW, "/x", &jx);
	claim_path(f, "a", NOW, "/y", &jy);
	assert_int_equal(queue_done_pushed(f->q, &jx, jx.path, 100, 0, 0), 0);
	st = status(f, "a");
	assert_int_equal(st.files, 1);
	assert_int_equal(st.bytes, 100);
	assert_int_equal(
	    queue_done_pushed(f->q, &jy, jy.path, 5000000000ULL, 0, 0), 0);
	st = status(f, "a");
	assert_int_equal(st.queued, 0);
	assert_int_equal(st.running, 0);
	assert_int_equal(st.oldest_ms, 0);
	assert_int_equal(st.files, 2);
	assert_int_equal(st.bytes, 5000000100LL);
	/* The job is gone, not merely hidden. */
	assert_int_equal(claim_none(f, "a", NOW), -1);
	/* b keeps its job and counts nothing. */
	st = status(f, "b");
	assert_int_equal(st.queued, 1);
	assert_int_equal(st.files, 0);
	assert_int_equal(st.bytes, 0);
}

static void
test_forget(void **state)
{
	struct fixture *f = *state;
	struct job j;
	struct target_status st;

	add(f, "a", "/x");
	add(f, "a", "/y");
	claim_path(f, "a", NOW, "/x", &j);
	assert_int_equal(queue_forget(f->q, &j), 0);
	st = status(f, "a");
	assert_int_equal(st.queued, 1);
	assert_int_equal(st.running, 0);
	assert_int_equal(st.files, 0);
	assert_int_equal(st.bytes, 0);
	claim_path(f, "a", NOW, "/y", &j);
	assert_int_equal(queue_forget(f->q, &j), 0);
	expect_counts(f, "a", 0, 0, 0);
	assert_int_equal(status(f, "a").files, 0);
	assert_int_equal(claim_none(f, "a", NOW), -1);
}

/* Lines logged, kept by a route of the test's thread (log.h). */
struct said {
	char text[8192];
	size_t len;
};

static void
said_line(void *ctx, enum log_level level, const char *line)
{
	struct said *s = ctx;
	int n;

	(void)level;
	n = snprintf(s->text + s->len, sizeof(s->text) - s->len, "%s\n", line);
	if (n > 0)
		s->len += (size_t)n < sizeof(s->text) - s->len ?
		    (size_t)n :
		    sizeof(s->text) - s->len - 1;
}

static int
count_in(const char *text, const char *what)
{
	int n = 0;

	for (const char *p = strstr(text, what); p != NULL;
	     p = strstr(p + 1, what))
		n++;
	return n;
}

/* A job noted twice as unsettled (its record failed, then its end) is
 * one job queued again, and said so: "2 job(s)" was said of one. */
static void
test_unsettled_counted_once(void **state)
{
	struct fixture *f = *state;
	static struct said s;
	struct log_route route = { said_line, &s, LOG_INFO };
	struct job j;

	memset(&s, 0, sizeof(s));
	add(f, "a", "/x");
	claim_path(f, "a", NOW, "/x", &j);
	queue_note_unsettled(f->q, j.id);
	queue_note_unsettled(f->q, j.id);
	log_route_bind(&route);
	claim_path(f, "a", NOW, "/x", &j);
	log_route_bind(NULL);
	if (strstr(s.text,
	        "queue: 1 job(s) whose outcome could not be written "
	        "are queued again") == NULL)
		fail_msg("logged:\n%s", s.text);
	expect_counts(f, "a", 0, 1, 0);
}

/* More unsettled jobs than are kept is said each time it happens, not
 * once in the daemon's life: the second spell was silent. */
static void
test_unsettled_overflow_said_each_spell(void **state)
{
	struct fixture *f = *state;
	static struct said s;
	struct log_route route = { said_line, &s, LOG_INFO };
	struct job j;

	memset(&s, 0, sizeof(s));
	add(f, "a", "/x");
	log_route_bind(&route);
	for (int spell = 0; spell < 2; spell++) {
		/* Ids of no job: the overflow is what is looked at. */
		for (int64_t id = 1000; id < 1000 + 300; id++)
			queue_note_unsettled(f->q, id);
		claim_path(f, "a", NOW, "/x", &j);
		assert_int_equal(queue_release(f->q, &j, UINT64_MAX), 0);
	}
	log_route_bind(NULL);
	if (count_in(s.text,
	        "whose outcome could not be written: the "
	        "others run again at the next start") != 2)
		fail_msg("logged:\n%s", s.text);
}

/* --- deletes and renames ----------------------------------------------------- */

static void
test_ops_round_trip(void **state)
{
	struct fixture *f = *state;
	struct job j;

	add(f, "a", "/p");
	add_op(f, "a", JOB_DELETE, "/d", NULL);
	add_op(f, "a", JOB_RENAME, "/old", "/new");
	claim_path(f, "a", NOW, "/p", &j);
	assert_int_equal(j.op, JOB_PUT);
	assert_string_equal(j.arg, "");
	claim_path(f, "a", NOW, "/d", &j);
	assert_int_equal(j.op, JOB_DELETE);
	assert_string_equal(j.arg, "");
	claim_path(f, "a", NOW, "/old", &j);
	assert_int_equal(j.op, JOB_RENAME);
	assert_string_equal(j.arg, "/new");
	assert_string_equal(j.home, HOME);
	/* The op survives a restart. */
	reopen(f);
	assert_int_equal(queue_recover(f->q), 3);
	claim_path(f, "a", NOW, "/p", &j);
	claim_path(f, "a", NOW, "/d", &j);
	claim_path(f, "a", NOW, "/old", &j);
	assert_int_equal(j.op, JOB_RENAME);
	assert_string_equal(j.arg, "/new");
}

static void
test_ops_not_coalesced(void **state)
{
	struct fixture *f = *state;

	add(f, "a", "/x");
	add_op(f, "a", JOB_DELETE, "/x", NULL);
	expect_counts(f, "a", 2, 0, 0);
	/* A put after the delete is a new job (the latest is no put)... */
	add(f, "a", "/x");
	expect_counts(f, "a", 3, 0, 0);
	/* ...and the next put joins it. */
	add(f, "a", "/x");
	expect_counts(f, "a", 3, 0, 0);
	/* Two deletes are two jobs; a rename is never reused either. */
	add_op(f, "a", JOB_DELETE, "/x", NULL);
	add_op(f, "a", JOB_DELETE, "/x", NULL);
	add_op(f, "a", JOB_RENAME, "/x", "/y");
	add_op(f, "a", JOB_RENAME, "/x", "/y");
	expect_counts(f, "a", 7, 0, 0);
}

static void
test_ops_run_in_order_per_path(void **state)
{
	struct fixture *f = *state;
	struct job put1, del, put2, other;

	add(f, "a", "/x");
	add_op(f, "a", JOB_DELETE, "/x", NULL);
	add(f, "a", "/x");
	add(f, "a", "/y");
	claim_path(f, "a", NOW, "/x", &put1);
	assert_int_equal(put1.op, JOB_PUT);
	/* The delete waits for the put; /y does not. */
	claim_path(f, "a", NOW, "/y", &other);
	claim_none(f, "a", NOW);
	assert_int_equal(queue_done_pushed(f->q, &put1, put1.path, 1, 0, 0), 0);
	claim_path(f, "a", NOW, "/x", &del);
	assert_int_equal(del.op, JOB_DELETE);
	claim_none(f, "a", NOW);
	/* A delete in backoff still holds the put made after it. */
	assert_int_equal(queue_fail(f->q, &del, NOW + 500, "421", 0), 0);
	assert_int_equal(claim_none(f, "a", NOW), NOW + 500);
	claim_path(f, "a", NOW + 500, "/x", &del);
	assert_int_equal(del.op, JOB_DELETE);
	assert_int_equal(queue_forget(f->q, &del), 0);
	claim_path(f, "a", NOW, "/x", &put2);
	assert_int_equal(put2.op, JOB_PUT);
	assert_true(put2.id > del.id);
}

/* RNFR /a RNTO /b followed by a new STOR /b: the rename must reach the
 * target before the new /b, or the rename replaces the fresh /b there with
 * the old /a. The rename's new path is one of its paths. */
static void
test_rename_holds_new_path(void **state)
{
	struct fixture *f = *state;
	struct job ren, j;

	add_op(f, "a", JOB_RENAME, "/a", "/b");
	add(f, "a", "/b");
	claim_path(f, "a", NOW, "/a", &ren);
	assert_int_equal(ren.op, JOB_RENAME);
	claim_none(f, "a", NOW);
	/* Still so while the rename backs off. */
	assert_int_equal(queue_fail(f->q, &ren, NOW + 500, "421", 0), 0);
	claim_none(f, "a", NOW);
	claim_path(f, "a", NOW + 500, "/a", &ren);
	assert_int_equal(queue_forget(f->q, &ren), 0);
	claim_path(f, "a", NOW, "/b", &j);
	assert_int_equal(j.op, JOB_PUT);
}

/* --- restarts -------------------------------------------------------------- */

static void
test_recover_after_crash(void **state)
{
	struct fixture *f = *state;
	struct job jx, again;

	add(f, "a", "/x");
	add(f, "a", "/y");
	claim_path(f, "a", NOW, "/x", &jx);
	/* The process dies mid-push: no done, no fail. */
	reopen(f);
	expect_counts(f, "a", 1, 1, 0);
	assert_int_equal(queue_recover(f->q), 1);
	expect_counts(f, "a", 2, 0, 0);
	claim_path(f, "a", NOW, "/x", &again);
	assert_int_equal(again.id, jx.id);
	assert_string_equal(again.home, HOME);
	assert_string_equal(again.user, USER);
	assert_int_equal(queue_recover(f->q), 1);
	assert_int_equal(queue_recover(f->q), 0);
}

static void
test_recover_clears_backoff(void **state)
{
	struct fixture *f = *state;
	struct job j;

	add(f, "a", "/x");
	claim_path(f, "a", NOW, "/x", &j);
	assert_int_equal(queue_fail(f->q, &j, NOW + 1000, "e", 0), 0);
	claim_path(f, "a", NOW + 1000, "/x", &j);
	reopen(f);
	assert_int_equal(queue_recover(f->q), 1);
	claim_path(f, "a", NOW, "/x", &j);
	assert_int_equal(j.attempts, 1);
}

static void
test_persistence(void **state)
{
	struct fixture *f = *state;
	const char *both[] = { "a", "b" };
	struct job j;
	struct target_status st;

	assert_int_equal(
	    queue_add(f->q, both, 2, JOB_PUT, USER, HOME, "/x", NULL, NULL), 0);
	add(f, "a", "/y");
	add(f, "a", "/z");
	claim_path(f, "a", NOW, "/x", &j);
	assert_int_equal(queue_done_pushed(f->q, &j, j.path, 42, 0, 0), 0);
	claim_path(f, "a", NOW, "/y", &j);
	assert_int_equal(queue_fail(f->q, &j, NOW, "boom", 1), 0);
	assert_int_equal(queue_target_state(f->q, "b", 7, 8, "down"), 0);
	reopen(f);
	expect_counts(f, "a", 1, 0, 1);
	expect_counts(f, "b", 1, 0, 0);
	st = status(f, "a");
	assert_int_equal(st.files, 1);
	assert_int_equal(st.bytes, 42);
	st = status(f, "b");
	assert_int_equal(st.failing_since_ms, 7);
	assert_int_equal(st.backoff_until_ms, 8);
	assert_string_equal(st.last_error, "down");
	claim_path(f, "a", NOW, "/z", &j);
	assert_string_equal(j.home, HOME);
	claim_path(f, "b", NOW, "/x", &j);
}

/* --- target state ---------------------------------------------------------- */

static void
test_target_state(void **state)
{
	struct fixture *f = *state;
	char longerr[600];
	struct target_status st;
	struct job j;

	assert_int_equal(
	    queue_target_state(f->q, "a", 1000, 2000, "connection refused"), 0);
	st = status(f, "a");
	assert_int_equal(st.failing_since_ms, 1000);
	assert_int_equal(st.backoff_until_ms, 2000);
	assert_string_equal(st.last_error, "connection refused");
	assert_int_equal(st.files, 0);
	/* Other targets are untouched. */
	st = status(f, "b");
	assert_int_equal(st.failing_since_ms, 0);
	assert_int_equal(st.backoff_until_ms, 0);
	assert_string_equal(st.last_error, "");

	/* An update replaces; a long message is cut to the status field. */
	memset(longerr, 'e', sizeof(longerr) - 1);
	longerr[sizeof(longerr) - 1] = '\0';
	assert_int_equal(queue_target_state(f->q, "a", 1000, 4000, longerr), 0);
	st = status(f, "a");
	assert_int_equal(st.failing_since_ms, 1000);
	assert_int_equal(st.backoff_until_ms, 4000);
	assert_int_equal(strlen(st.last_error), sizeof(st.last_error) - 1);
	assert_memory_equal(st.last_error, longerr, sizeof(st.last_error) - 1);

	/* A verified push ends the failing period and keeps counting on the
	 * row the state created. */
	add(f, "a", "/x");
	claim_path(f, "a", NOW, "/x", &j);
	assert_int_equal(queue_done_pushed(f->q, &j, j.path, 9, 0, 0), 0);
	st = status(f, "a");
	assert_int_equal(st.failing_since_ms, 0);
	assert_int_equal(st.backoff_until_ms, 0);
	assert_int_equal(st.files, 1);
	assert_int_equal(st.bytes, 9);

	/* And the state can be set after counts exist without losing them. */
	assert_int_equal(queue_target_state(f->q, "a", 5, 6, "again"), 0);
	st = status(f, "a");
	assert_int_equal(st.files, 1);
	assert_int_equal(st.bytes, 9);
	assert_int_equal(st.failing_since_ms, 5);
	assert_string_equal(st.last_error, "again");
	assert_int_equal(queue_target_state(f->q, "a", 0, 0, ""), 0);
	st = status(f, "a");
	assert_int_equal(st.failing_since_ms, 0);
	assert_int_equal(st.backoff_until_ms, 0);
	assert_string_equal(st.last_error, "");
}

/* --- concurrency ----------------------------------------------------------- */

#define CONC_JOBS    200
#define CONC_THREADS 4

struct worker {
	struct queue *q;
	pthread_t tid;
	int64_t ids[CONC_JOBS];
	int paths[CONC_JOBS]; /* index parsed from the claimed path */
	int n;
	int errors;
	char why[128];
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct job j;
	int64_t next;

	/* Bounded: each round claims one job or stops. */
	for (int round = 0; round < CONC_JOBS + 1; round++) {
		int rc = queue_claim(w->q, "a", NOW, &j, &next, NULL);
		int idx = -1;

		if (rc == 0)
			break;
		if (rc < 0) {
			w->errors++;
			snprintf(w->why, sizeof(w->why), "claim failed");
			break;
		}
		if (w->n >= CONC_JOBS) {
			w->errors++;
			snprintf(w->why, sizeof(w->why), "too many claims");
			break;
		}
		if (sscanf(j.path, "/f%d", &idx) != 1 || idx < 0 ||
		    idx >= CONC_JOBS) {
			w->errors++;
			snprintf(
			    w->why, sizeof(w->why), "bad path %.64s", j.path);
			break;
		}
		w->ids[w->n] = j.id;
		w->paths[w->n] = idx;
		w->n++;
		if (queue_done_pushed(w->q, &j, j.path, 1, 0, 0) != 0) {
			w->errors++;
			snprintf(w->why, sizeof(w->why), "done failed");
			break;
		}
	}
	return NULL;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static void
test_concurrent_workers(void **state)
{
	struct fixture *f = *state;
	struct worker *w = calloc(CONC_THREADS, sizeof(*w));
	int64_t *all = calloc(CONC_JOBS, sizeof(*all));
	int seen[CONC_JOBS];
	int total = 0;
	struct target_status st;

	assert_non_null(w);
	assert_non_null(all);
	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < CONC_JOBS; i++) {
		char path[32];

		snprintf(path, sizeof(path), "/f%03d", i);
		add(f, "a", path);
	}
	expect_counts(f, "a", CONC_JOBS, 0, 0);
	for (int t = 0; t < CONC_THREADS; t++) {
		w[t].q = f->q;
		assert_int_equal(
		    pthread_create(&w[t].tid, NULL, worker_main, &w[t]), 0);
	}
	for (int t = 0; t < CONC_THREADS; t++)
		assert_int_equal(pthread_join(w[t].tid, NULL), 0);
	for (int t = 0; t < CONC_THREADS; t++) {
		if (w[t].errors != 0)
			fail_msg("worker %d: %s", t, w[t].why);
		for (int i = 0; i < w[t].n; i++) {
			if (total >= CONC_JOBS)
				fail_msg(
				    "more than %d jobs claimed", CONC_JOBS);
			all[total++] = w[t].ids[i];
			seen[w[t].paths[i]]++;
		}
	}
	assert_int_equal(total, CONC_JOBS);
	qsort(all, CONC_JOBS, sizeof(*all), cmp_i64);
	for (int i = 1; i < CONC_JOBS; i++)
		if (all[i] == all[i - 1])
			fail_msg("job %lld claimed twice", (long long)all[i]);
	for (int i = 0; i < CONC_JOBS; i++)
		if (seen[i] != 1)
			fail_msg("/f%03d pushed %d times", i, seen[i]);
	st = status(f, "a");
	assert_int_equal(st.files, CONC_JOBS);
	assert_int_equal(st.bytes, CONC_JOBS);
	assert_int_equal(st.queued, 0);
	assert_int_equal(st.running, 0);
	assert_int_equal(st.failed, 0);
	free(all);
	free(w);
}

/* --- convergence rules (issue 8 section 5) --------------------------------- */

/* A put never merges into an older put when a rename into its path comes
 * between: the rename must run between the two pushes. */
static void
test_put_not_merged_across_rename(void **state)
{
	struct fixture *f = *state;
	struct job j;

	add(f, "a", "/A");
	add_op(f, "a", JOB_RENAME, "/B", "/A");
	add(f, "a", "/A");
	expect_counts(f, "a", 3, 0, 0);
	claim_path(f, "a", NOW, "/A", &j);
	assert_int_equal(j.op, JOB_PUT);
	claim_none(f, "a", NOW); /* the rename waits for the push of /A */
	assert_int_equal(queue_done_pushed(f->q, &j, j.path, 1, 0, 0), 0);
	claim_path(f, "a", NOW, "/B", &j);
	assert_int_equal(j.op, JOB_RENAME);
	claim_none(f, "a", NOW); /* the second put waits for the rename */
	assert_int_equal(queue_forget(f->q, &j), 0);
	claim_path(f, "a", NOW, "/A", &j);
	assert_int_equal(j.op, JOB_PUT);
	/* A delete in between keeps puts apart too; with nothing between,
	 * they merge. */
	add_op(f, "a", JOB_DELETE, "/A", NULL);
	add(f, "a", "/A");
	add(f, "a", "/A");
	expect_counts(f, "a", 2, 1, 0);
}

/* Jobs inside a folder and jobs on the folder run in order. */
static void
test_folder_jobs_ordered(void **state)
{
	struct fixture *f = *state;
	struct job j, k;

	add(f, "a", "/d/x");
	add_op(f, "a", JOB_RENAME, "/d", "/e");
	add(f, "a", "/e/y");
	add(f, "a", "/dx"); /* a sibling, not inside /d */
	claim_path(f, "a", NOW, "/d/x", &j);
	claim_path(f, "a", NOW, "/dx", &k);
	claim_none(f, "a", NOW);
	assert_int_equal(queue_done_pushed(f->q, &j, j.path, 1, 0, 0), 0);
	claim_path(f, "a", NOW, "/d", &j);
	assert_int_equal(j.op, JOB_RENAME);
	claim_none(f, "a", NOW);
	assert_int_equal(queue_forget(f->q, &j), 0);
	claim_path(f, "a", NOW, "/e/y", &j);
}

/* A claim says when it passed over a due job for a related one (the end of
 * that push must wake another worker), and only then. */
static void
test_claim_says_when_a_job_was_held(void **state)
{
	struct fixture *f = *state;
	struct job j, k;
	int64_t next;
	int held = -1;

	add(f, "a", "/d/x");
	add_op(f, "a", JOB_RENAME, "/d", "/e");
	add(f, "a", "/y");
	assert_int_equal(queue_claim(f->q, "a", NOW, &j, &next, &held), 1);
	assert_string_equal(j.path, "/d/x");
	assert_int_equal(held, 0); /* the first due job, nothing passed */
	held = -1;
	assert_int_equal(queue_claim(f->q, "a", NOW, &k, &next, &held), 1);
	assert_string_equal(k.path, "/y");
	assert_int_equal(held, 1); /* the rename waits for /d/x */
	held = -1;
	assert_int_equal(queue_claim(f->q, "a", NOW, &k, &next, &held), 0);
	assert_int_equal(held, 1);
	assert_int_equal(queue_done_pushed(f->q, &j, j.path, 1, 0, 0), 0);
	held = -1;
	assert_int_equal(queue_claim(f->q, "a", NOW, &j, &next, &held), 1);
	assert_int_equal(j.op, JOB_RENAME);
	assert_int_equal(held, 0);
	held = -1;
	assert_int_equal(queue_claim(f->q, "a", NOW, &j, &next, &held), 0);
	assert_int_equal(held, 0); /* nothing due at all */
}

/* EXPLAIN QUERY PLAN of sql on db, its steps joined by ';' into out. */
static void
query_plan(sqlite3 *db, const char *sql, char *out, size_t outlen)
{
	char q[1024];
	sqlite3_stmt *st;
	size_t n = 0;

	assert_true(snprintf(q, sizeof(q), "EXPLAIN QUERY PLAN %s", sql) <
	    (int)sizeof(q));
	assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
	out[0] = '\0';
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *d = (const char *)sqlite3_column_text(st, 3);
		int w =
		    snprintf(out + n, outlen - n, "%s;", d != NULL ? d : "");

		if (w > 0 && (size_t)w < outlen - n)
			n += (size_t)w;
	}
	sqlite3_finalize(st);
}

/* The renames' look-ups by new name read the partial index of renames
 * (jobs_rename, "op=2"), which a put or a delete never writes; the index of
 * every job's arg is gone. */
static void
test_rename_lookups_use_the_renames_index(void **state)
{
	struct fixture *f = *state;
	const int lookups[] = { REL_ARG_EQ, REL_ARG_BELOW };
	char plan[1024];
	sqlite3_stmt *st;
	sqlite3 *db;

	assert_int_equal(
	    sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	for (size_t k = 0; k < sizeof(lookups) / sizeof(lookups[0]); k++) {
		query_plan(
		    db, queue_related_sql[lookups[k]], plan, sizeof(plan));
		if (strstr(plan, "jobs_rename") == NULL)
			fail_msg("look-up %d: %s", lookups[k], plan);
	}
	assert_int_equal(sqlite3_prepare_v2(db,
	                     "SELECT count(*) FROM sqlite_master WHERE "
	                     "name='jobs_arg'",
	                     -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* A parked delete holds back a newer put of its path until it is retried,
 * so a retry can never replay the delete over the newer file. */
static void
test_parked_blocks_later(void **state)
{
	struct fixture *f = *state;
	struct job j;

	add_op(f, "a", JOB_DELETE, "/x", NULL);
	claim_path(f, "a", NOW, "/x", &j);
	assert_int_equal(queue_fail(f->q, &j, NOW, "down", 1), 0);
	add(f, "a", "/x");
	add(f, "a", "/other");
	claim_path(f, "a", NOW, "/other", &j);
	claim_none(f, "a", NOW); /* /x waits behind the parked delete */
	assert_int_equal(queue_requeue_failed(f->q, "a"), 1);
	claim_path(f, "a", NOW, "/x", &j);
	assert_int_equal(j.op, JOB_DELETE);
	claim_none(f, "a", NOW);
	assert_int_equal(queue_forget(f->q, &j), 0);
	claim_path(f, "a", NOW, "/x", &j);
	assert_int_equal(j.op, JOB_PUT);
}

/* A new put of a path whose latest job is a parked put revives it. */
static void
test_put_revives_parked_put(void **state)
{
	struct fixture *f = *state;
	struct job j;

	add(f, "a", "/x");
	claim_path(f, "a", NOW, "/x", &j);
	assert_int_equal(queue_fail(f->q, &j, NOW, "down", 1), 0);
	expect_counts(f, "a", 0, 0, 1);
	add(f, "a", "/x");
	expect_counts(f, "a", 1, 0, 0);
	claim_path(f, "a", NOW, "/x", &j);
	assert_int_equal(j.attempts, 0);
}

static void
expect_source(struct fixture *f, const struct job *j, const char *path,
    int want, const char *src)
{
	char out[RFTP_PATH_MAX] = "";

	assert_int_equal(
	    queue_source_path(f->q, j, path, out, sizeof(out)), want);
	if (want == 1)
		assert_string_equal(out, src);
}

/* Where a push finds its bytes: carried through later renames; nowhere if
 * a later job deletes or replaces them. */
static void
test_source_path(void **state)
{
	struct fixture *f = *state;
	struct job j;

	add(f, "a", "/x");
	add(f, "a", "/d/f");
	add(f, "a", "/g");
	add(f, "a", "/h");
	add_op(f, "a", JOB_RENAME, "/x", "/y");
	add(f, "a", "/x"); /* a new /x does not change where the old went */
	add_op(f, "a", JOB_RENAME, "/d", "/e");
	add_op(f, "a", JOB_RENAME, "/e/f", "/e/f_2");
	add_op(f, "a", JOB_DELETE, "/g", NULL);
	add_op(f, "a", JOB_RENAME, "/z", "/h");
	claim_path(f, "a", NOW, "/x", &j);
	expect_source(f, &j, "/x", 1, "/y");
	claim_path(f, "a", NOW, "/d/f", &j);
	expect_source(f, &j, "/d/f", 1, "/e/f_2");
	claim_path(f, "a", NOW, "/g", &j);
	expect_source(f, &j, "/g", 0, NULL);
	claim_path(f, "a", NOW, "/h", &j);
	expect_source(f, &j, "/h", 0, NULL);
	/* "/d" is no prefix of "/dx". */
	add(f, "a", "/dx");
	claim_path(f, "a", NOW, "/dx", &j);
	expect_source(f, &j, "/dx", 1, "/dx");
}

/* The source is found through look-ups of the later jobs that touch the
 * name and its folders, not a walk of all later jobs: its answers must be
 * the walk's, whatever lies between (thousands of unrelated jobs, other
 * users', other targets', names that share a prefix). It checks the
 * answers, not the speed (the old walk passes it too). */
static void
test_source_path_among_many(void **state)
{
	struct fixture *f = *state;
	const char *targets[1] = { "a" };
	char name[64];
	struct job j;

	add(f, "a", "/p/q/r");
	add(f, "a", "/k");
	add(f, "a", "/m/n");
	for (int i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "/p/q/r%d", i);
		add(f, "a", name);
		if (i == 1000)
			add_op(f, "a", JOB_RENAME, "/p/q", "/s"); /* a folder */
		if (i == 2000)
			add_op(f, "a", JOB_RENAME, "/s/r", "/t/r2");
	}
	/* Other users' and other targets' jobs never move ours. */
	assert_int_equal(queue_add(f->q, targets, 1, JOB_RENAME, "zoe", HOME,
	                     "/t", "/u", NULL),
	    0);
	add_op(f, "b", JOB_RENAME, "/t", "/v");
	/* A rename onto a folder above /m/n replaces it: gone. */
	add_op(f, "a", JOB_RENAME, "/w", "/m");
	/* /k moved, moved back, then moved again: followed through each. */
	add_op(f, "a", JOB_RENAME, "/k", "/k2");
	add_op(f, "a", JOB_RENAME, "/k2", "/k");
	add_op(f, "a", JOB_RENAME, "/k", "/k3");
	claim_path(f, "a", NOW, "/p/q/r", &j);
	expect_source(f, &j, "/p/q/r", 1, "/t/r2");
	claim_path(f, "a", NOW, "/k", &j);
	expect_source(f, &j, "/k", 1, "/k3");
	claim_path(f, "a", NOW, "/m/n", &j);
	expect_source(f, &j, "/m/n", 0, NULL);
}

/* Intents are never claimed; settled, they are queued or gone. */
static void
test_intents(void **state)
{
	struct fixture *f = *state;
	const char *targets[2] = { "a", "b" };
	int64_t first = 0, last = 0;
	struct job *v = NULL;
	size_t n = 0;
	struct job j;

	assert_int_equal(queue_add_intent(f->q, targets, 2, JOB_DELETE, USER,
	                     HOME, "/x", NULL, NULL, &first, &last),
	    0);
	assert_true(last == first + 1);
	/* A change being made is no job waiting: no age. */
	assert_int_equal(status(f, "b").oldest_ms, 0);
	add(f, "a", "/x"); /* a later put of /x waits for the intent */
	claim_none(f, "a", NOW);
	claim_none(f, "b", NOW);
	reopen(f);
	assert_int_equal(queue_intents(f->q, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(v[0].op, JOB_DELETE);
	assert_string_equal(v[0].path, "/x");
	assert_string_equal(v[0].home, HOME);
	free(v);
	/* The rows settled: none the second time (catchup.c counts so). */
	assert_int_equal(queue_settle(f->q, first, first, 1), 1);
	assert_int_equal(queue_settle(f->q, first, first, 1), 0);
	assert_int_equal(queue_settle(f->q, last, last, 0), 1);
	claim_path(f, "a", NOW, "/x", &j);
	assert_int_equal(j.op, JOB_DELETE);
	claim_none(f, "b", NOW);
	assert_int_equal(queue_intents(f->q, &v, &n), 0);
	assert_int_equal(n, 0);
	free(v);
}

/* Moving and forgetting pushed records matches byte-exact prefixes:
 * '_' and '%' are names, case matters, "/Photos" is no prefix of
 * "/Photos_old". */
static void
test_move_pushed_exact(void **state)
{
	struct fixture *f = *state;
	static const char *const others[] = { "/photos/b", "/Photos_old/c",
		"/Photos%/d", "/PhotosX/e", "/Photos", "/PHOTOS/g" };
	static const char *const under[] = { "/P_otos/h", "/P%tos/i" };

	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		assert_int_equal(
		    queue_record_pushed(f->q, "a", USER, others[i], 10, 20, 0),
		    0);
	assert_int_equal(
	    queue_record_pushed(f->q, "a", USER, "/Photos/a", 1, 2, 0), 0);
	assert_int_equal(
	    queue_record_pushed(f->q, "a", USER, "/Photos/s/\xc3\xbc", 1, 2, 0),
	    0);
	assert_int_equal(
	    queue_move_pushed(f->q, "a", USER, "/Photos/a", "/Pics/a"), 0);
	assert_int_equal(
	    queue_move_pushed(f->q, "a", USER, "/Photos/s", "/Pics/\xc3\xa4_%"),
	    0);
	assert_int_equal(
	    queue_is_pushed(f->q, "a", USER, "/Pics/a", 1, 2, 0), 1);
	assert_int_equal(queue_is_pushed(f->q, "a", USER,
	                     "/Pics/\xc3\xa4_%/\xc3\xbc", 1, 2, 0),
	    1);
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		assert_int_equal(
		    queue_is_pushed(f->q, "a", USER, others[i], 10, 20, 0), 1);
	/* A folder named with wildcards only matches itself. */
	for (size_t i = 0; i < sizeof(under) / sizeof(under[0]); i++)
		assert_int_equal(
		    queue_record_pushed(f->q, "a", USER, under[i], 3, 4, 0), 0);
	assert_int_equal(
	    queue_move_pushed(f->q, "a", USER, "/P_otos", NULL), 0);
	assert_int_equal(
	    queue_is_pushed(f->q, "a", USER, "/P_otos/h", 3, 4, 0), 0);
	assert_int_equal(
	    queue_is_pushed(f->q, "a", USER, "/P%tos/i", 3, 4, 0), 1);
	assert_int_equal(queue_move_pushed(f->q, "a", USER, "/P%", NULL), 0);
	assert_int_equal(
	    queue_is_pushed(f->q, "a", USER, "/P%tos/i", 3, 4, 0), 1);
	assert_int_equal(
	    queue_move_pushed(f->q, "a", USER, "/Photos", NULL), 0);
	assert_int_equal(
	    queue_is_pushed(f->q, "a", USER, "/Photos", 10, 20, 0), 0);
	assert_int_equal(
	    queue_is_pushed(f->q, "a", USER, "/Photos_old/c", 10, 20, 0), 1);
	assert_int_equal(
	    queue_is_pushed(f->q, "a", USER, "/photos/b", 10, 20, 0), 1);
	assert_int_equal(
	    queue_is_pushed(f->q, "a", USER, "/Photos%/d", 10, 20, 0), 1);
}

/* --- times (JOB_TIME) -------------------------------------------------------- */

/* A time change folds into a queued put of its path (the push reads the
 * file's time), a put folds into a queued time job (it carries the time),
 * and two time changes are one job; a running put gets a time job after. */
static void
test_time_jobs_fold(void **state)
{
	struct fixture *f = *state;
	struct job j;

	add(f, "a", "/p");
	add_op(f, "a", JOB_TIME, "/p", NULL);
	expect_counts(f, "a", 1, 0, 0);
	claim_path(f, "a", NOW, "/p", &j);
	assert_int_equal(j.op, JOB_PUT);
	/* Running: the time set now gets a job of its own, after the put. */
	add_op(f, "a", JOB_TIME, "/p", NULL);
	add_op(f, "a", JOB_TIME, "/p", NULL);
	expect_counts(f, "a", 1, 1, 0);
	claim_none(f, "a", NOW);
	assert_int_equal(queue_done_pushed(f->q, &j, j.path, 1, 0, 0), 0);
	claim_path(f, "a", NOW, "/p", &j);
	assert_int_equal(j.op, JOB_TIME);
	assert_int_equal(queue_forget(f->q, &j), 0);
	/* A queued time job becomes a put when the bytes change too. */
	add_op(f, "a", JOB_TIME, "/q", NULL);
	add(f, "a", "/q");
	expect_counts(f, "a", 1, 0, 0);
	claim_path(f, "a", NOW, "/q", &j);
	assert_int_equal(j.op, JOB_PUT);
	/* Never folded into a delete: the time job waits behind it. */
	add_op(f, "a", JOB_DELETE, "/r", NULL);
	add_op(f, "a", JOB_TIME, "/r", NULL);
	expect_counts(f, "a", 2, 1, 0);
	/* Other targets are not touched. */
	add_op(f, "b", JOB_TIME, "/q", NULL);
	expect_counts(f, "b", 1, 0, 0);
	claim_path(f, "b", NOW, "/q", &j);
	assert_int_equal(j.op, JOB_TIME);
}

/* queue_pushed_size: the target holds these bytes, whatever their time. */
static void
test_pushed_size(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(queue_pushed_size(f->q, "a", USER, "/p", 10, 0), 0);
	assert_int_equal(
	    queue_record_pushed(f->q, "a", USER, "/p", 10, 1000000000, 0), 0);
	assert_int_equal(queue_pushed_size(f->q, "a", USER, "/p", 10, 0), 1);
	assert_int_equal(queue_pushed_size(f->q, "a", USER, "/p", 11, 0), 0);
	assert_int_equal(queue_pushed_size(f->q, "b", USER, "/p", 10, 0), 0);
	/* A new time recorded: the catch-up compares (size, time). */
	assert_int_equal(
	    queue_record_pushed(f->q, "a", USER, "/p", 10, 2000000000, 0), 0);
	assert_int_equal(
	    queue_is_pushed(f->q, "a", USER, "/p", 10, 2000000000, 0), 1);
	assert_int_equal(
	    queue_is_pushed(f->q, "a", USER, "/p", 10, 1000000000, 0), 0);
}

/* queue_is_pushed with an inode: another file of the same size and time
 * (renamed over the pushed one) is not the pushed version; 0 on either
 * side (the start-up walk's look, a row of an older version) is not
 * compared. */
static void
test_pushed_inode(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(
	    queue_record_pushed(f->q, "a", USER, "/p", 10, 5, 77), 0);
	assert_int_equal(queue_is_pushed(f->q, "a", USER, "/p", 10, 5, 77), 1);
	assert_int_equal(queue_is_pushed(f->q, "a", USER, "/p", 10, 5, 78), 0);
	assert_int_equal(queue_is_pushed(f->q, "a", USER, "/p", 10, 5, 0), 1);
	assert_int_equal(queue_is_pushed(f->q, "a", USER, "/p", 11, 5, 77), 0);
	assert_int_equal(
	    queue_record_pushed(f->q, "a", USER, "/o", 10, 5, 0), 0);
	assert_int_equal(queue_is_pushed(f->q, "a", USER, "/o", 10, 5, 78), 1);
	/* Moved with a rename: the inode goes with it. */
	assert_int_equal(queue_move_pushed(f->q, "a", USER, "/p", "/q"), 0);
	assert_int_equal(queue_is_pushed(f->q, "a", USER, "/q", 10, 5, 77), 1);
	assert_int_equal(queue_is_pushed(f->q, "a", USER, "/q", 10, 5, 78), 0);
	/* A time job's look: the bytes of that inode, whatever the time. */
	assert_int_equal(queue_pushed_size(f->q, "a", USER, "/q", 10, 77), 1);
	assert_int_equal(queue_pushed_size(f->q, "a", USER, "/q", 10, 78), 0);
	assert_int_equal(queue_pushed_size(f->q, "a", USER, "/q", 10, 0), 1);
	assert_int_equal(queue_pushed_size(f->q, "a", USER, "/o", 10, 78), 1);
}

/* A row whose path does not fit a job (a queue file not written by this
 * program: ours caps names) is never handed out cut short, which would
 * push or delete another file (here: a delete of a cut name); the other
 * jobs still run. */
static void
test_claim_never_cuts_a_name(void **state)
{
	struct fixture *f = *state;
	char *longp = malloc(RFTP_PATH_MAX + 16);
	const char *targets[1] = { "a" };
	int64_t first = 0, last = 0;
	struct job j;

	assert_non_null(longp);
	longp[0] = '/';
	memset(longp + 1, 'x', RFTP_PATH_MAX + 10);
	longp[RFTP_PATH_MAX + 11] = '\0';
	/* queue_add refuses it; an intent row does not look the path up. */
	assert_int_equal(queue_add_intent(f->q, targets, 1, JOB_DELETE, USER,
	                     HOME, longp, NULL, NULL, &first, &last),
	    0);
	assert_int_equal(queue_settle(f->q, first, last, 1), 1);
	add(f, "a", "/ok");
	claim_path(f, "a", NOW, "/ok", &j);
	claim_none(f, "a", NOW);
	free(longp);
}

/* A verified push: the job is gone, the copy recorded and counted, in one
 * transaction that survives a reopen. */
static void
test_done_pushed(void **state)
{
	struct fixture *f = *state;
	struct target_status st;
	struct job j;

	add(f, "a", "/x");
	claim_path(f, "a", NOW, "/x", &j);
	assert_int_equal(queue_done_pushed(f->q, &j, "/x", 42, 7000, 0), 0);
	reopen(f);
	expect_counts(f, "a", 0, 0, 0);
	assert_int_equal(
	    queue_is_pushed(f->q, "a", USER, "/x", 42, 7000, 0), 1);
	assert_int_equal(
	    queue_is_pushed(f->q, "a", USER, "/x", 42, 7001, 0), 0);
	st = status(f, "a");
	assert_int_equal(st.files, 1);
	assert_int_equal(st.bytes, 42);
}

#define GC_THREADS 8
#define GC_JOBS    25

struct gc_arg {
	struct queue *q;
	int k, failed;
	pthread_t tid;
};

static void *
gc_main(void *p)
{
	struct gc_arg *a = p;
	const char *t = "a";

	for (int i = 0; i < GC_JOBS; i++) {
		char path[64];
		uint64_t ticket = 0;

		snprintf(path, sizeof(path), "/t%d/f%d", a->k, i);
		if (queue_add_unsynced(a->q, &t, 1, JOB_PUT, USER, HOME, path,
		        NULL, NULL, &ticket) != 0 ||
		    ticket == 0 || queue_sync(a->q, ticket) != 0)
			a->failed++;
	}
	return NULL;
}

/* Sessions committing and waiting for the sync at once (group commit):
 * every one returns, no job is lost or merged into another, and the
 * tickets only grow. */
static void
test_group_commit(void **state)
{
	struct fixture *f = *state;
	struct gc_arg a[GC_THREADS];
	uint64_t before = queue_ticket(f->q);

	for (int k = 0; k < GC_THREADS; k++) {
		a[k].q = f->q;
		a[k].k = k;
		a[k].failed = 0;
		assert_int_equal(
		    pthread_create(&a[k].tid, NULL, gc_main, &a[k]), 0);
	}
	for (int k = 0; k < GC_THREADS; k++) {
		pthread_join(a[k].tid, NULL);
		assert_int_equal(a[k].failed, 0);
	}
	assert_true(queue_ticket(f->q) >= before + GC_THREADS * GC_JOBS);
	assert_int_equal(queue_sync(f->q, queue_ticket(f->q)), 0);
	reopen(f);
	expect_counts(f, "a", GC_THREADS * GC_JOBS, 0, 0);
}

/* --- the admin's page of jobs (queue_list_jobs) ------------------------------ */

/* Oldest first, per target or all, paged with a total; queued, running and
 * parked jobs with their state and last error; intents and finished jobs
 * are not listed; names with quotes, backslashes, '%', '_' and UTF-8 come
 * back byte for byte. */
static void
test_list_jobs(void **state)
{
	struct fixture *f = *state;
	struct mirror_job_view v[8];
	const char *both[2] = { "a", "b" };
	const char *odd = "/dir with \"q\" \\ %_*/-caf\xc3\xa9.bin";
	int64_t total = -1, first, last;
	struct job j, k;
	size_t n = 99;
	int more = -1;

	assert_int_equal(
	    queue_add(f->q, both, 2, JOB_PUT, USER, HOME, "/one", NULL, NULL),
	    0);
	add(f, "a", odd);
	add_op(f, "a", JOB_RENAME, "/r", "/r2");
	add(f, "b", "/two");
	add(f, "a", "/done");
	/* An intent is a change not made yet: never listed. */
	assert_int_equal(queue_add_intent(f->q, both, 1, JOB_DELETE, USER, HOME,
	                     "/intent", NULL, NULL, &first, &last),
	    0);

	/* /one on a is claimed and fails for good (parked); /done pushed. */
	claim_path(f, "a", NOW, "/one", &j);
	assert_int_equal(queue_fail(f->q, &j, NOW, "550 \"no\" \\ x", 1), 0);
	claim_path(f, "a", NOW, odd, &k);

	/* Every target: 6 unfinished jobs, oldest first. */
	assert_int_equal(
	    queue_list_jobs(f->q, NULL, 0, -1, 8, v, &n, &total, &more), 0);
	assert_int_equal(total, 6);
	assert_int_equal(n, 6);
	assert_string_equal(v[0].path, "/one");
	assert_string_equal(v[0].target, "a");
	assert_true(v[0].parked);
	assert_false(v[0].running);
	assert_int_equal(v[0].attempts, 1);
	assert_string_equal(v[0].last_error, "550 \"no\" \\ x");
	assert_string_equal(v[0].op, "put");
	assert_string_equal(v[1].path, "/one");
	assert_string_equal(v[1].target, "b");
	assert_false(v[1].parked);
	assert_string_equal(v[2].path, odd);
	assert_true(v[2].running);
	assert_string_equal(v[2].user, USER);
	assert_string_equal(v[3].op, "rename");
	assert_string_equal(v[3].path, "/r");
	assert_string_equal(v[3].new_path, "/r2");
	assert_string_equal(v[4].path, "/two");
	assert_string_equal(v[4].new_path, "");
	assert_string_equal(v[5].path, "/done");
	assert_true(v[0].created_ms > 0 && v[0].created_ms <= v[5].created_ms);
	assert_true(v[0].id < v[1].id && v[4].id < v[5].id);

	/* One target, paged: the total is the target's, the page skips. */
	assert_int_equal(
	    queue_list_jobs(f->q, "a", 1, -1, 2, v, &n, &total, &more), 0);
	assert_int_equal(total, 4);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].path, odd);
	assert_string_equal(v[1].path, "/r");
	assert_int_equal(more, 1);
	/* By cursor: the jobs past the id given, whatever the offset; the
	 * last page says none follow. */
	first = v[0].id;
	assert_int_equal(
	    queue_list_jobs(f->q, "a", 99, first, 2, v, &n, &total, &more), 0);
	assert_int_equal(total, 4);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].path, "/r");
	assert_string_equal(v[1].path, "/done");
	assert_int_equal(more, 0);
	assert_int_equal(
	    queue_list_jobs(f->q, NULL, 0, first, 8, v, &n, &total, &more), 0);
	assert_int_equal(total, 6);
	assert_int_equal(n, 3);
	assert_string_equal(v[0].path, "/r");
	assert_string_equal(v[1].path, "/two");
	assert_int_equal(more, 0);
	/* Deep offsets are read from the newest job: the same pages, oldest
	 * first, and whether more follow. */
	assert_int_equal(
	    queue_list_jobs(f->q, "a", 3, -1, 2, v, &n, &total, &more), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].path, "/done");
	assert_int_equal(more, 0);
	assert_int_equal(
	    queue_list_jobs(f->q, NULL, 4, -1, 1, v, &n, &total, &more), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].path, "/two");
	assert_int_equal(more, 1);
	assert_int_equal(
	    queue_list_jobs(f->q, NULL, 4, -1, 8, v, &n, &total, &more), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].path, "/two");
	assert_string_equal(v[1].path, "/done");
	assert_int_equal(more, 0);
	/* Past the end: nothing, the total still said. */
	assert_int_equal(
	    queue_list_jobs(f->q, "a", 10, -1, 2, v, &n, &total, &more), 0);
	assert_int_equal(n, 0);
	assert_int_equal(total, 4);
	/* limit 0: only the count. */
	assert_int_equal(
	    queue_list_jobs(f->q, "b", 0, -1, 0, v, &n, &total, &more), 0);
	assert_int_equal(n, 0);
	assert_int_equal(total, 2);
	/* A target nobody has (a LIKE pattern would match "a"). */
	assert_int_equal(
	    queue_list_jobs(f->q, "%", 0, -1, 8, v, &n, &total, &more), 0);
	assert_int_equal(total, 0);

	/* Done and requeued jobs: what is left. */
	assert_int_equal(queue_done_pushed(f->q, &k, odd, 3, 0, 0), 0);
	assert_int_equal(queue_requeue_failed(f->q, "a"), 1);
	assert_int_equal(
	    queue_list_jobs(f->q, "a", 0, -1, 8, v, &n, &total, &more), 0);
	assert_int_equal(total, 3);
	assert_string_equal(v[0].path, "/one");
	assert_false(v[0].parked);
	assert_int_equal(v[0].attempts, 0);
	assert_string_equal(v[1].path, "/r");
}

/* Every page by offset (read from either end) and every cursor walk
 * holds the jobs a full listing holds at that place, for each target and
 * all: offsets at and around the middle, the last job, past the end, and
 * limits beyond the total; more is set exactly when jobs follow. */
static void
test_list_jobs_every_page(void **state)
{
	struct fixture *f = *state;
	const char *targets[3] = { NULL, "a", "b" };
	struct mirror_job_view all[16], v[16];
	char path[32];
	size_t n, nall;
	int64_t total, tall;
	int more;

	for (int i = 0; i < 11; i++) {
		snprintf(path, sizeof(path), "/f%d", i);
		add(f, i % 3 == 2 ? "b" : "a", path);
	}
	for (size_t t = 0; t < 3; t++) {
		assert_int_equal(queue_list_jobs(f->q, targets[t], 0, -1, 16,
		                     all, &nall, &tall, &more),
		    0);
		assert_int_equal((int64_t)nall, tall);
		for (int64_t off = 0; off <= tall + 1; off++)
			for (size_t lim = 1; lim <= (size_t)tall + 2; lim++) {
				size_t want = off >= tall ?
				    0 :
				    (size_t)(tall - off) < lim ?
				    (size_t)(tall - off) :
				    lim;

				assert_int_equal(
				    queue_list_jobs(f->q, targets[t], off, -1,
				        lim, v, &n, &total, &more),
				    0);
				assert_int_equal(total, tall);
				assert_int_equal(n, want);
				for (size_t i = 0; i < n; i++)
					assert_int_equal(
					    v[i].id, all[off + (int64_t)i].id);
				assert_int_equal(
				    more, off + (int64_t)lim < tall ? 1 : 0);
			}
		for (size_t lim = 1; lim <= (size_t)tall + 2; lim++) {
			int64_t after = 0;
			size_t seen = 0;

			for (int pages = 0; pages < 32; pages++) {
				assert_int_equal(
				    queue_list_jobs(f->q, targets[t], 0, after,
				        lim, v, &n, &total, &more),
				    0);
				for (size_t i = 0; i < n; i++)
					assert_int_equal(
					    v[i].id, all[seen++].id);
				if (!more)
					break;
				after = v[n - 1].id;
			}
			assert_int_equal(seen, nall);
		}
	}
}

/* The unfinished jobs of target, oldest first, read from the file itself:
 * what every page must agree with. Returns how many (at most max). */
static size_t
list_brute(struct fixture *f, const char *target, int64_t *ids, size_t max)
{
	sqlite3_stmt *st;
	sqlite3 *db;
	size_t n = 0;

	assert_int_equal(
	    sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
	                     "SELECT id FROM jobs WHERE state IN (?1, ?2, ?3) "
	                     "AND (?4 IS NULL OR target=?4) ORDER BY id",
	                     -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_text(st, 1, job_state_name(JOB_QUEUED), -1, SQLITE_STATIC);
	sqlite3_bind_text(
	    st, 2, job_state_name(JOB_RUNNING), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, job_state_name(JOB_FAILED), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, target, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		assert_true(n < max);
		ids[n++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* A queue of a dense target (most jobs), a middling one and a rare one (1
 * job in 80), with a parked, a running, a finished job and an intent: the
 * page of each target at every offset and limit, and every cursor walk,
 * holds what the file holds at that place, whichever way the page is
 * read (a dense target's in id order, a rare one's through its index). */
static void
test_list_jobs_dense_and_rare_pages(void **state)
{
	struct fixture *f = *state;
	const char *targets[4] = { NULL, "a", "b", "r" };
	const char *ta[1] = { "a" };
	struct mirror_job_view v[96];
	int64_t ids[96], total, first, last;
	char path[32];
	struct job j;
	size_t n, nall;
	int more;

	for (int i = 0; i < 80; i++) {
		snprintf(path, sizeof(path), "/f%d", i);
		add(f, i == 41 ? "r" : i % 8 == 3 ? "b" : "a", path);
		if (i == 20)
			assert_int_equal(
			    queue_add_intent(f->q, ta, 1, JOB_DELETE, USER,
			        HOME, "/intent", NULL, NULL, &first, &last),
			    0);
	}
	claim_path(f, "a", NOW, "/f0", &j);
	assert_int_equal(queue_fail(f->q, &j, NOW, "550 no", 1), 0);
	claim_path(f, "a", NOW, "/f1", &j);
	assert_int_equal(queue_done_pushed(f->q, &j, "/f1", 3, 0, 0), 0);
	claim_path(f, "a", NOW, "/f2", &j);

	for (size_t t = 0; t < 4; t++) {
		nall = list_brute(f, targets[t], ids, 96);
		assert_true(nall > 0);
		for (int64_t off = 0; off <= (int64_t)nall + 1; off++)
			for (size_t lim = 1; lim <= nall + 2; lim++) {
				size_t want = off >= (int64_t)nall ?
				    0 :
				    nall - (size_t)off < lim ?
				    nall - (size_t)off :
				    lim;

				assert_int_equal(
				    queue_list_jobs(f->q, targets[t], off, -1,
				        lim, v, &n, &total, &more),
				    0);
				assert_int_equal(total, (int64_t)nall);
				assert_int_equal(n, want);
				for (size_t i = 0; i < n; i++)
					assert_int_equal(
					    v[i].id, ids[off + (int64_t)i]);
				assert_int_equal(
				    more, off + (int64_t)lim < (int64_t)nall);
			}
		/* From before the first job and after each one. */
		for (size_t from = 0; from <= nall; from++)
			for (size_t lim = 1; lim <= 4; lim++) {
				int64_t after = from == 0 ? 0 : ids[from - 1];
				size_t want =
				    nall - from < lim ? nall - from : lim;

				assert_int_equal(
				    queue_list_jobs(f->q, targets[t], 7, after,
				        lim, v, &n, &total, &more),
				    0);
				assert_int_equal(n, want);
				for (size_t i = 0; i < n; i++)
					assert_int_equal(
					    v[i].id, ids[from + i]);
				assert_int_equal(more, from + lim < nall);
			}
	}
}

/* A page of a target that holds a fair share of the queue is read in id
 * order with no sort, and reads about the page: the index plan took every
 * unfinished job of the target and sorted them by id before the first
 * row, under the lock uploads wait for (8 to 14 ms a page at 400,000
 * jobs). A rare target's sort is small: it keeps its index. */
static void
test_list_jobs_dense_target_is_not_sorted(void **state)
{
	struct fixture *f = *state;
	struct mirror_job_view v[8];
	int64_t total, sorts = -1, steps = -1, first_steps;
	char path[32];
	size_t n;
	int more;

	for (int i = 0; i < 400; i++) {
		snprintf(path, sizeof(path), "/f%d", i);
		add(f, i == 200 ? "r" : i % 2 ? "b" : "a", path);
	}
	/* The first page of a, its page after a cursor, and the last page
	 * of b (read from the newest end). */
	assert_int_equal(
	    queue_list_jobs(f->q, "a", 0, -1, 4, v, &n, &total, &more), 0);
	assert_int_equal(n, 4);
	queue_list_cost(f->q, &sorts, &steps);
	if (sorts != 0 || steps > 400)
		fail_msg("first page of a: %lld sorts, %lld steps",
		    (long long)sorts, (long long)steps);
	first_steps = steps;
	assert_int_equal(
	    queue_list_jobs(f->q, "a", 0, v[3].id, 4, v, &n, &total, &more), 0);
	assert_int_equal(n, 4);
	queue_list_cost(f->q, &sorts, &steps);
	if (sorts != 0 || steps > 2 * first_steps)
		fail_msg("page of a after a cursor: %lld sorts, %lld steps",
		    (long long)sorts, (long long)steps);
	assert_int_equal(
	    queue_list_jobs(f->q, "b", 190, -1, 4, v, &n, &total, &more), 0);
	assert_int_equal(n, 4);
	queue_list_cost(f->q, &sorts, &steps);
	if (sorts != 0)
		fail_msg("last page of b: %lld sorts", (long long)sorts);
	/* r: 1 job in 400, through its index. */
	assert_int_equal(
	    queue_list_jobs(f->q, "r", 0, -1, 4, v, &n, &total, &more), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].path, "/f200");
	queue_list_cost(f->q, &sorts, &steps);
	if (steps > first_steps)
		fail_msg("page of r: %lld steps", (long long)steps);
}

/* What README says of jobs that change between two pages: by offset, a job
 * finished before the page moves the rest up, and the next page passes one
 * over; by cursor, every job still unfinished comes once. A change made
 * after the cursor passed its id (a delete is numbered as an intent when
 * it starts, listed once made) is not in the walk. */
static void
test_list_jobs_between_pages(void **state)
{
	struct fixture *f = *state;
	const char *a[1] = { "a" };
	struct mirror_job_view v[8];
	char path[32];
	int64_t total, first, last, cursor;
	struct job j;
	size_t n;
	int more;

	assert_int_equal(queue_add_intent(f->q, a, 1, JOB_DELETE, USER, HOME,
	                     "/gone", NULL, NULL, &first, &last),
	    0);
	for (int i = 0; i < 5; i++) {
		snprintf(path, sizeof(path), "/f%d", i);
		add(f, "a", path);
	}
	assert_int_equal(
	    queue_list_jobs(f->q, "a", 0, -1, 2, v, &n, &total, &more), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[1].path, "/f1");
	assert_int_equal(more, 1);
	cursor = v[1].id;
	/* /f0 is pushed between the pages. */
	claim_path(f, "a", NOW, "/f0", &j);
	assert_int_equal(queue_done_pushed(f->q, &j, "/f0", 1, 0, 0), 0);
	assert_int_equal(
	    queue_list_jobs(f->q, "a", 2, -1, 2, v, &n, &total, &more), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].path, "/f3"); /* /f2 passed over */
	assert_int_equal(
	    queue_list_jobs(f->q, "a", 0, cursor, 2, v, &n, &total, &more), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].path, "/f2");
	assert_string_equal(v[1].path, "/f3");
	/* The delete is made: its job, numbered first, is before the cursor. */
	assert_int_equal(queue_settle(f->q, first, last, 1), 1);
	assert_int_equal(
	    queue_list_jobs(f->q, "a", 0, cursor, 8, v, &n, &total, &more), 0);
	assert_int_equal(total, 5);
	assert_int_equal(n, 3);
	assert_string_equal(v[0].path, "/f2");
	assert_int_equal(
	    queue_list_jobs(f->q, "a", 0, -1, 1, v, &n, &total, &more), 0);
	assert_string_equal(v[0].path, "/gone");
}

/* An S3 target's multipart upload ids (the uploads table): kept across
 * a restart until forgotten, per target and key, in the order started. */
static void
test_upload_ids_survive_reopen(void **state)
{
	struct fixture *f = *state;
	struct buf ids;

	buf_init(&ids, 4096);
	assert_int_equal(queue_upload_add(f->q, "s", "a/b c.bin", "id-1"), 0);
	assert_int_equal(queue_upload_add(f->q, "s", "a/b c.bin", "id-2"), 0);
	assert_int_equal(queue_upload_add(f->q, "t", "a/b c.bin", "id-3"), 0);
	/* Recorded twice (a retried insert): one row. */
	assert_int_equal(queue_upload_add(f->q, "s", "a/b c.bin", "id-1"), 0);
	reopen(f);
	assert_int_equal(queue_upload_ids(f->q, "s", "a/b c.bin", &ids), 2);
	assert_memory_equal(ids.data, "id-1\0id-2\0", 10);
	assert_int_equal(
	    queue_upload_forget(f->q, "s", "a/b c.bin", "id-1"), 0);
	assert_int_equal(queue_upload_ids(f->q, "s", "a/b c.bin", &ids), 1);
	assert_string_equal(ids.data, "id-2");
	assert_int_equal(queue_upload_ids(f->q, "s", "other", &ids), 0);
	assert_int_equal(queue_upload_ids(f->q, "t", "a/b c.bin", &ids), 1);
	buf_free(&ids);
}

/* The list of recorded uploads comes a page at a time when the caller's
 * buffer is small: whole records only, *more set, the rest read once the
 * first are forgotten; a buffer too small for even one record is an
 * error, not an empty page. */
static void
test_upload_list_pages(void **state)
{
	struct fixture *f = *state;
	char key[32], id[32];
	struct buf page;
	int more = -1, seen = 0;

	for (int i = 0; i < 10; i++) {
		snprintf(key, sizeof(key), "stream:/a/file-%02d", i);
		snprintf(id, sizeof(id), "-%d", 100 + i);
		assert_int_equal(queue_upload_add(f->q, "s", key, id), 0);
	}
	assert_int_equal(queue_upload_add(f->q, "s", "other:/x", "-1"), 0);
	/* "stream:/a/file-00" + NUL + "-100" + NUL: 23 bytes a record. */
	buf_init(&page, 50);
	for (int round = 0; round < 10 && more != 0; round++) {
		int n = queue_upload_list(
		    f->q, "s", "stream:", INT64_MAX, &page, &more);

		assert_int_equal(n, 2);
		assert_int_equal(page.len, 46);
		for (size_t off = 0; off < page.len;) {
			const char *k = page.data + off;
			const char *v = k + strlen(k) + 1;

			snprintf(key, sizeof(key), "stream:/a/file-%02d", seen);
			assert_string_equal(k, key);
			assert_int_equal(
			    queue_upload_forget(f->q, "s", k, v), 0);
			seen++;
			off += strlen(k) + strlen(v) + 2;
		}
	}
	assert_int_equal(seen, 10);
	assert_int_equal(more, 0);
	assert_int_equal(
	    queue_upload_list(f->q, "s", "stream:", INT64_MAX, &page, &more),
	    0);
	buf_free(&page);
	buf_init(&page, 10);
	assert_int_equal(
	    queue_upload_list(f->q, "s", "other:", INT64_MAX, &page, &more),
	    -1);
	buf_free(&page);
}

/* Fair share (queue.h): a job of flow (an FTP session) asking bytes. */
static void
add_from(struct fixture *f, const char *target, uint64_t flow, uint64_t bytes,
    enum job_op op, const char *path)
{
	struct job_origin from = { flow, bytes };
	uint64_t ticket = 0;

	assert_int_equal(queue_add_unsynced(f->q, &target, 1, op, USER, HOME,
	                     path, NULL, &from, &ticket),
	    0);
	assert_int_equal(queue_sync(f->q, ticket), 0);
}

/* Claims the next job of target and settles it at once (as a push that
 * worked): its path into out. */
static void
take(struct fixture *f, const char *target, char *out, size_t outlen)
{
	struct job j;
	int64_t next = 0;
	int rc = queue_claim(f->q, target, NOW, &j, &next, NULL);

	if (rc != 1)
		fail_msg("claim on %s returned %d, expected a job", target, rc);
	assert_int_equal(queue_forget(f->q, &j), 0);
	assert_true(snprintf(out, outlen, "%s", j.path) < (int)outlen);
}

static void
add_burst(
    struct fixture *f, uint64_t flow, uint64_t bytes, const char *dir, int n)
{
	char path[64];

	for (int i = 0; i < n; i++) {
		assert_true(snprintf(path, sizeof(path), "%s/%03d", dir, i) <
		    (int)sizeof(path));
		add_from(f, "t1", flow, bytes, JOB_PUT, path);
	}
}

/* The express lane's claim (queue_claim_sparse) takes only small jobs of
 * the sparse turn, in the fair share's order; a job it hands back
 * (queue_release) is due again as it was, its attempts unchanged. */
static void
test_express_claims_small_sparse_jobs(void **state)
{
	struct fixture *f = *state;
	struct job j, k;
	int held = -1;

	add_burst(f, 1, 4096, "/a", 3);                 /* sparse, busy, busy */
	add_from(f, "t1", 2, 4 << 20, JOB_PUT, "/big"); /* sparse, too big */
	add_from(f, "t1", 3, 4096, JOB_PUT, "/cam");    /* sparse */
	assert_int_equal(
	    queue_claim_sparse(f->q, "t1", NOW, 1 << 20, &j, &held), 1);
	assert_string_equal(j.path, "/a/000");
	assert_int_equal(held, 0);
	assert_int_equal(
	    queue_claim_sparse(f->q, "t1", NOW, 1 << 20, &k, &held), 1);
	assert_string_equal(k.path, "/cam");
	assert_int_equal(
	    queue_claim_sparse(f->q, "t1", NOW, 1 << 20, &k, &held), 0);
	assert_int_equal(queue_release(f->q, &k, UINT64_MAX), 0);
	assert_int_equal(
	    queue_claim_sparse(f->q, "t1", NOW, 1 << 20, &k, &held), 1);
	assert_string_equal(k.path, "/cam");
	assert_int_equal(k.attempts, 0);
	/* Handed back with its real size (a put made of a rename carries
	 * none): the lane never takes it again; a worker does. */
	assert_int_equal(queue_release(f->q, &k, 4 << 20), 0);
	assert_int_equal(
	    queue_claim_sparse(f->q, "t1", NOW, 1 << 20, &j, &held), 0);
	/* A rename is never the lane's (it may move a whole folder). */
	add_from(f, "t1", 4, 0, JOB_RENAME, "/r");
	assert_int_equal(
	    queue_claim_sparse(f->q, "t1", NOW, 1 << 20, &j, &held), 0);
	/* A larger lane takes the large sparse job; the burst's later jobs
	 * are the other workers' alone. */
	assert_int_equal(
	    queue_claim_sparse(f->q, "t1", NOW, 8 << 20, &j, &held), 1);
	assert_string_equal(j.path, "/cam");
	assert_int_equal(
	    queue_claim_sparse(f->q, "t1", NOW, 8 << 20, &j, &held), 1);
	assert_string_equal(j.path, "/big");
	assert_int_equal(
	    queue_claim_sparse(f->q, "t1", NOW, 8 << 20, &j, &held), 0);
}

/* A session's file queued behind another session's burst of 100 is the
 * next one claimed, not the 91st (first in, first out). */
static void
test_fair_new_flow_goes_next(void **state)
{
	struct fixture *f = *state;
	char path[RFTP_PATH_MAX];

	add_burst(f, 1, 4096, "/a", 100);
	for (int i = 0; i < 10; i++) {
		take(f, "t1", path, sizeof(path));
		assert_true(strncmp(path, "/a/", 3) == 0);
	}
	add_from(f, "t1", 2, 4096, JOB_PUT, "/b/x");
	take(f, "t1", path, sizeof(path));
	assert_string_equal(path, "/b/x");
	take(f, "t1", path, sizeof(path));
	assert_string_equal(path, "/a/010");
}

/* Two sessions whose bursts were queued one after the other take turns. */
static void
test_fair_flows_take_turns(void **state)
{
	struct fixture *f = *state;
	char path[RFTP_PATH_MAX], want[64];

	add_burst(f, 7, 4096, "/a", 20);
	add_burst(f, 8, 4096, "/b", 20);
	for (int i = 0; i < 40; i++) {
		take(f, "t1", path, sizeof(path));
		assert_true(
		    snprintf(want, sizeof(want), "/%c/%03d",
		        i % 2 == 0 ? 'a' : 'b', i / 2) < (int)sizeof(want));
		assert_string_equal(path, want);
	}
	claim_none(f, "t1", NOW);
}

/* The share is in bytes, each job also costing JOB_COST_FIXED: a flow of
 * 1 MiB files gets one for every 17 empty files of another flow
 * ((1 MiB + 64 KiB) / 64 KiB). */
static void
test_fair_weighs_bytes(void **state)
{
	struct fixture *f = *state;
	char path[RFTP_PATH_MAX];
	int between = -1, bigs = 0;

	assert_int_equal(JOB_COST_FIXED, 64 * 1024);
	add_burst(f, 1, 1024 * 1024, "/big", 3);
	add_burst(f, 2, 0, "/small", 40);
	for (int i = 0; i < 43 && bigs < 2; i++) {
		take(f, "t1", path, sizeof(path));
		if (strncmp(path, "/big/", 5) == 0) {
			bigs++;
			if (bigs == 1)
				between = 0;
		} else if (between >= 0) {
			between++;
		}
	}
	assert_int_equal(bigs, 2);
	assert_int_equal(between, 17);
}

/* The clock is kept in the queue file: after a restart a new session's
 * jobs take turns with the backlog left, they do not all go first as if
 * the clock were back at 0. Old rows (before the fair share) start at 0:
 * ahead of every newer job. */
static void
test_fair_clock_survives_reopen(void **state)
{
	struct fixture *f = *state;
	char path[RFTP_PATH_MAX];
	/* b's first job is sparse (just before the clock at a's 20th),
	 * the rest take turns with a. */
	const char *want[] = { "/b/000", "/b/001", "/a/020", "/b/002",
		"/a/021" };

	add_burst(f, 1, 4096, "/a", 30);
	for (int i = 0; i < 20; i++)
		take(f, "t1", path, sizeof(path));
	reopen(f);
	add_burst(f, 2, 4096, "/b", 5);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		take(f, "t1", path, sizeof(path));
		assert_string_equal(path, want[i]);
	}
}

/* Eight sessions queue a burst of ten 64 KiB files each ("/0/000" ..
 * "/7/009"), taken jobs are claimed and pushed, then a camera (a session
 * of its own) queues a 4 KiB picture, "/cam/0": claimed next. */
static void
bursts_then_camera(struct fixture *f, int taken)
{
	char path[RFTP_PATH_MAX], dir[8];

	for (int k = 0; k < 8; k++) {
		assert_true(
		    snprintf(dir, sizeof(dir), "/%d", k) < (int)sizeof(dir));
		add_burst(f, (uint64_t)k + 1, 65536, dir, 10);
	}
	for (int i = 0; i < taken; i++)
		take(f, "t1", path, sizeof(path));
	add_from(f, "t1", 99, 4096, JOB_PUT, "/cam/0");
	take(f, "t1", path, sizeof(path));
	assert_string_equal(path, "/cam/0");
}

/* A session with nothing waiting (a camera: one file at a time) skips the
 * busy sessions' round, also while its previous file is in flight; a
 * burst gets that for its first file only, then takes turns. */
static void
test_fair_sparse_flow_goes_first(void **state)
{
	struct fixture *f = *state;
	char path[RFTP_PATH_MAX];
	struct job inflight;
	int64_t next;
	int cam = 0, burst = 0;

	/* Each burst's first file (a sparse job: the burst had nothing
	 * waiting when it came) and two of their seconds: the bursts are
	 * busy flows now. */
	bursts_then_camera(f, 10);
	/* Its next file while the one before is still being pushed. */
	add_from(f, "t1", 99, 4096, JOB_PUT, "/cam/1");
	assert_int_equal(
	    queue_claim(f->q, "t1", NOW, &inflight, &next, NULL), 1);
	assert_string_equal(inflight.path, "/cam/1");
	add_from(f, "t1", 99, 4096, JOB_PUT, "/cam/2");
	take(f, "t1", path, sizeof(path));
	assert_string_equal(path, "/cam/2");
	assert_int_equal(queue_forget(f->q, &inflight), 0);
	/* A burst of five: the first goes next, the others wait for the
	 * busy sessions' turns (eight of them). */
	for (int i = 0; i < 5; i++) {
		assert_true(snprintf(path, sizeof(path), "/cam/b%d", i) <
		    (int)sizeof(path));
		add_from(f, "t1", 99, 4096, JOB_PUT, path);
	}
	take(f, "t1", path, sizeof(path));
	assert_string_equal(path, "/cam/b0");
	for (int i = 0; i < 8; i++) {
		take(f, "t1", path, sizeof(path));
		if (strncmp(path, "/cam/", 5) == 0)
			cam++;
		else
			burst++;
	}
	assert_true(cam <= 2);
	assert_true(burst >= 6);
}

/* Sparse jobs of one moment share a start: the smaller tag (the sparse
 * turn's clock plus the cost) goes first.
 * Nine clients start at once, eight with a 64 KiB file and a camera with
 * a 4 KiB picture queued last: the picture is pushed first, then the
 * others in the order they came (equal costs). Every flow still has its
 * one job of the turn before any flow's second. */
static void
test_fair_small_first_within_a_turn(void **state)
{
	struct fixture *f = *state;
	char path[RFTP_PATH_MAX], want[64];

	for (int k = 0; k < 8; k++) {
		assert_true(snprintf(path, sizeof(path), "/%d/000", k) <
		    (int)sizeof(path));
		add_from(f, "t1", (uint64_t)k + 1, 65536, JOB_PUT, path);
	}
	add_from(f, "t1", 99, 4096, JOB_PUT, "/cam/0");
	/* Each big client's second file: after everyone's first. */
	for (int k = 0; k < 8; k++) {
		assert_true(snprintf(path, sizeof(path), "/%d/001", k) <
		    (int)sizeof(path));
		add_from(f, "t1", (uint64_t)k + 1, 65536, JOB_PUT, path);
	}
	take(f, "t1", path, sizeof(path));
	assert_string_equal(path, "/cam/0");
	for (int i = 0; i < 16; i++) {
		take(f, "t1", path, sizeof(path));
		assert_true(snprintf(want, sizeof(want), "/%d/%03d", i % 8,
		                i / 8) < (int)sizeof(want));
		assert_string_equal(path, want);
	}
	claim_none(f, "t1", NOW);
}

/* A large file of a client with nothing else waiting is overtaken by the
 * small files of such clients (cameras) only for its equal share: with a
 * camera's next picture queued as soon as its last one is claimed (so the
 * workers never run out of small sparse files), the 1 MiB file is claimed
 * once the sparse turn's clock has moved by its cost: 1 MiB + 64 KiB at
 * 68 KiB over 3 per picture, 45 pictures. Ordered by finish alone, it
 * would wait for as long as the pictures come. */
static void
test_fair_big_sparse_file_gets_its_share(void **state)
{
	struct fixture *f = *state;
	char path[RFTP_PATH_MAX], next[32];
	int pics[2] = { 0, 0 }, taken = 0;

	add_from(f, "t1", 50, 1024 * 1024, JOB_PUT, "/big");
	add_from(f, "t1", 1, 4096, JOB_PUT, "/cam1/0");
	add_from(f, "t1", 2, 4096, JOB_PUT, "/cam2/0");
	for (taken = 0; taken < 200; taken++) {
		take(f, "t1", path, sizeof(path));
		if (strcmp(path, "/big") == 0)
			break;
		assert_true(strncmp(path, "/cam", 4) == 0);
		int c = path[4] - '1';

		assert_true(c == 0 || c == 1);
		pics[c]++;
		assert_true(snprintf(next, sizeof(next), "/cam%d/%d", c + 1,
		                pics[c]) < (int)sizeof(next));
		add_from(f, "t1", (uint64_t)c + 1, 4096, JOB_PUT, next);
	}
	/* The pictures first (their turn), the big file well before 200,
	 * each camera as often as the other. */
	assert_true(taken >= 10);
	assert_true(taken < 60);
	assert_true(pics[0] - pics[1] <= 1 && pics[1] - pics[0] <= 1);
}

/* A camera that comes while the bursts' first files (sparse jobs too) still
 * wait: its first picture goes before them (smaller), its second, queued
 * after the first was pushed, shares the turn with them as an equal split
 * would (it had its 68 KiB; they wait for 128 KiB each): after the five
 * left, and before any burst's second file. */
static void
test_fair_camera_among_first_files(void **state)
{
	struct fixture *f = *state;
	char path[RFTP_PATH_MAX];
	int firsts = 0;

	bursts_then_camera(f, 3);
	add_from(f, "t1", 99, 4096, JOB_PUT, "/cam/1");
	for (int i = 0; i < 9; i++) {
		take(f, "t1", path, sizeof(path));
		if (strcmp(path, "/cam/1") == 0)
			break;
		assert_true(strlen(path) == 6 && strcmp(path + 2, "/000") == 0);
		firsts++;
	}
	assert_string_equal(path, "/cam/1");
	assert_int_equal(firsts, 5);
}

/* A retry keeps its place and is not charged to the sparse turn again: a
 * 1 GiB file that failed once and is claimed again does not push the
 * turn's clock by another half of itself, so a camera's picture queued
 * after that still goes before a 512 MiB file that waited in the turn.
 * (Charged twice, the picture's tag passed the 512 MiB file's.) */
static void
test_fair_retry_is_not_charged_again(void **state)
{
	struct fixture *f = *state;
	struct job j;
	int64_t next;

	add_from(f, "t1", 1, 1024 * 1024 * 1024, JOB_PUT, "/j");
	assert_int_equal(queue_claim(f->q, "t1", NOW, &j, &next, NULL), 1);
	assert_string_equal(j.path, "/j");
	assert_int_equal(queue_fail(f->q, &j, NOW + 5000, "timeout", 0), 0);
	add_from(f, "t1", 2, 512 * 1024 * 1024, JOB_PUT, "/k");
	assert_int_equal(
	    queue_claim(f->q, "t1", NOW + 10000, &j, &next, NULL), 1);
	assert_string_equal(j.path, "/j");
	assert_int_equal(queue_forget(f->q, &j), 0);
	add_from(f, "t1", 3, 4096, JOB_PUT, "/p");
	assert_int_equal(
	    queue_claim(f->q, "t1", NOW + 10000, &j, &next, NULL), 1);
	assert_string_equal(j.path, "/p");
	assert_int_equal(queue_forget(f->q, &j), 0);
	assert_int_equal(
	    queue_claim(f->q, "t1", NOW + 10000, &j, &next, NULL), 1);
	assert_string_equal(j.path, "/k");
}

/* A put merged into a waiting job of its path is charged what it now
 * pushes: a 0-byte STOR followed at once by a 1 GiB one of the same name
 * waits behind a camera's picture, as the 1 GiB file alone would. (Kept
 * at the 0 bytes it was queued with, it went first, as a small file.) A
 * time folded into a put changes nothing, nor does a put with no size
 * (a rename's): the 1 GiB pushes stay behind. */
static void
test_fair_merged_put_is_charged_its_bytes(void **state)
{
	struct fixture *f = *state;
	char path[RFTP_PATH_MAX];

	add_from(f, "t1", 1, 0, JOB_PUT, "/big");
	add_from(f, "t1", 2, 4096, JOB_PUT, "/p");
	add_from(f, "t1", 1, 1024 * 1024 * 1024, JOB_PUT, "/big");
	add_from(f, "t1", 3, 1024 * 1024 * 1024, JOB_PUT, "/huge");
	add_from(f, "t1", 3, 0, JOB_TIME, "/huge");
	/* A put with no size (made of a rename) keeps the larger cost. */
	add_from(f, "t1", 5, 1024 * 1024 * 1024, JOB_PUT, "/g");
	add_from(f, "t1", 5, 0, JOB_PUT, "/g");
	add_from(f, "t1", 4, 8192, JOB_PUT, "/q");
	take(f, "t1", path, sizeof(path));
	assert_string_equal(path, "/p");
	take(f, "t1", path, sizeof(path));
	assert_string_equal(path, "/q");
	take(f, "t1", path, sizeof(path));
	assert_string_equal(path, "/big");
	take(f, "t1", path, sizeof(path));
	assert_string_equal(path, "/huge");
	take(f, "t1", path, sizeof(path));
	assert_string_equal(path, "/g");
	claim_none(f, "t1", NOW);
}

/* Fairness never reorders related jobs: another session's delete of a
 * path waits for the put of that path queued before it, even at the end
 * of a burst, and for it in flight. */
static void
test_fair_keeps_related_order(void **state)
{
	struct fixture *f = *state;
	char path[RFTP_PATH_MAX];
	struct job put;
	int64_t next;

	add_burst(f, 1, 4096, "/a", 30);
	add_from(f, "t1", 1, 4096, JOB_PUT, "/x");
	add_from(f, "t1", 2, 0, JOB_DELETE, "/x");
	for (int i = 0; i < 30; i++) {
		take(f, "t1", path, sizeof(path));
		assert_string_not_equal(path, "/x");
	}
	assert_int_equal(queue_claim(f->q, "t1", NOW, &put, &next, NULL), 1);
	assert_string_equal(put.path, "/x");
	assert_int_equal(put.op, JOB_PUT);
	/* The delete stays behind the put in flight. */
	claim_none(f, "t1", NOW);
	assert_int_equal(queue_forget(f->q, &put), 0);
	take(f, "t1", path, sizeof(path));
	assert_string_equal(path, "/x");
	claim_none(f, "t1", NOW);
}

static int
says_yes(const void *ctx)
{
	(void)ctx;
	return 1;
}

static int
says_no(const void *ctx)
{
	(void)ctx;
	return 0;
}

static void
add_moved(struct fixture *f, const char *target, const char *path,
    const char *old, int (*gone)(const void *))
{
	uint64_t ticket = 0;

	assert_int_equal(queue_add_moved_unsynced(f->q, &target, 1, USER, HOME,
	                     path, old, gone, NULL, NULL, &ticket),
	    0);
	assert_int_equal(queue_sync(f->q, ticket), 0);
}

/* A rename pushed as a put drops the old name's waiting put and time of
 * that target (their file is the new name's now), and nothing else: not
 * one in flight (its worker is told instead), not another target's, not
 * if the old name is back. */
static void
test_moved_put_drops_the_old_names_waiting_jobs(void **state)
{
	struct fixture *f = *state;
	struct job run;

	add(f, "t1", "/a.part");
	add_op(f, "t1", JOB_TIME, "/a.part", NULL);
	add(f, "t2", "/a.part");
	add(f, "t1", "/b.part");
	add(f, "t1", "/run.part");
	add_moved(f, "t1", "/a.jpg", "/a.part", says_yes);
	/* /b.part is back in the home: kept. */
	add_moved(f, "t1", "/b.jpg", "/b.part", says_no);
	expect_counts(f, "t1", 4, 0, 0);
	expect_counts(f, "t2", 1, 0, 0);
	claim_path(f, "t1", NOW, "/b.part", &run);
	/* In flight: its worker settles it, told that the file moved (it
	 * found the name gone and had the home walked). Told once. */
	add_moved(f, "t1", "/b.jpg", "/b.part", says_yes);
	expect_counts(f, "t1", 3, 1, 0);
	assert_int_equal(queue_take_moved(f->q, run.id), 1);
	assert_int_equal(queue_take_moved(f->q, run.id), 0);
	assert_int_equal(queue_forget(f->q, &run), 0);
	claim_path(f, "t1", NOW, "/run.part", &run);
	/* A name back in the home moved nothing away (the put of /b.jpg
	 * folds into the waiting one). */
	add_moved(f, "t1", "/b.jpg", "/run.part", says_no);
	expect_counts(f, "t1", 2, 1, 0);
	assert_int_equal(queue_take_moved(f->q, run.id), 0);
	assert_int_equal(queue_forget(f->q, &run), 0);
	claim_path(f, "t1", NOW, "/a.jpg", &run);
	assert_int_equal(queue_forget(f->q, &run), 0);
	claim_path(f, "t1", NOW, "/b.jpg", &run);
	assert_int_equal(queue_forget(f->q, &run), 0);
	claim_none(f, "t1", NOW);
	claim_path(f, "t2", NOW, "/a.part", &run);
}

/* queue_away answers as queue_takes_away for each path, reading the
 * jobs that take paths away once; one added after the read is seen. */
static void
test_away_answers_as_takes_away(void **state)
{
	struct fixture *f = *state;
	static const char *const paths[] = { "/d/a", "/d", "/dd/a", "/e/s/b",
		"/f/c", "/h/y", "/h/x", "/k/z", "/r/keep", "/p/q", "/late/n" };
	struct queue_away *a;

	add_op(f, "t1", JOB_DELETE, "/d/a", NULL);
	add_op(f, "t1", JOB_RMDIR, "/e", NULL);
	add_op(f, "t1", JOB_RENAME, "/f", "/g");
	add_op(f, "t1", JOB_RENAME, "/h/x", "/h/y");
	add_op(f, "t1", JOB_DELETE, "/r/gone", NULL);
	add_op(f, "t1", JOB_DELETE, "/p/q", NULL);
	add(f, "t1", "/p/q");
	add_op(f, "t2", JOB_DELETE, "/k/z", NULL); /* another target's */
	for (int i = 0; i < 1100; i++)
		add_op(f, "t1", JOB_MKDIR, "/d", NULL);
	a = queue_away_load(f->q, "t1", USER);
	assert_non_null(a);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		assert_int_equal(queue_away_takes(f->q, a, paths[i]),
		    queue_takes_away(f->q, "t1", USER, paths[i]));
	assert_int_equal(queue_away_takes(f->q, a, "/d/a"), 1);
	assert_int_equal(queue_away_takes(f->q, a, "/e/s/b"), 1);
	assert_int_equal(queue_away_takes(f->q, a, "/f/c"), 1);
	assert_int_equal(queue_away_takes(f->q, a, "/dd/a"), 0);
	assert_int_equal(queue_away_takes(f->q, a, "/p/q"), 0);
	assert_int_equal(queue_away_takes(f->q, a, "/late/n"), 0);
	/* Added after the read (a client's DELE while a home is walked). */
	add_op(f, "t1", JOB_RMDIR, "/late", NULL);
	assert_int_equal(queue_away_takes(f->q, a, "/late/n"), 1);
	queue_away_free(a);
}

/* queue_job_targets names each target with jobs and how many (the
 * warning for a target the config no longer has), from the kept counts:
 * a target whose last job is done is no longer named. */
static void
test_job_targets_named_with_counts(void **state)
{
	struct fixture *f = *state;
	struct buf list;
	struct job j;
	const char *want1[] = { "t1", "1", "t2", "2" };
	const char *want2[] = { "t2", "2" };

	buf_init(&list, 4096);
	add(f, "t1", "/a");
	add(f, "t2", "/b");
	add_op(f, "t2", JOB_DELETE, "/c", NULL);
	assert_int_equal(queue_job_targets(f->q, &list), 2);
	for (size_t i = 0, off = 0; i < 4; i++) {
		assert_string_equal(list.data + off, want1[i]);
		off += strlen(want1[i]) + 1;
	}
	claim_path(f, "t1", wall_ms(), "/a", &j);
	assert_int_equal(queue_done_pushed(f->q, &j, j.path, 1, 0, 0), 0);
	reopen(f); /* read again by a new connection: the CLI's */
	assert_int_equal(queue_job_targets(f->q, &list), 1);
	for (size_t i = 0, off = 0; i < 2; i++) {
		assert_string_equal(list.data + off, want2[i]);
		off += strlen(want2[i]) + 1;
	}
	buf_free(&list);
}

/* Deletes another user adds while a home is walked never make that walk
 * read again, nor fall back to asking each path: they count by user. */
static void
test_away_ignores_other_users_deletes(void **state)
{
	struct fixture *f = *state;
	const char *targets[1] = { "t1" };
	struct queue_away *a;
	char path[32];

	add_op(f, "t1", JOB_DELETE, "/d/a", NULL);
	a = queue_away_load(f->q, "t1", USER);
	assert_non_null(a);
	for (int i = 0; i < 40; i++) {
		snprintf(path, sizeof(path), "/x%d", i);
		assert_int_equal(
		    queue_add(f->q, targets, 1, JOB_DELETE, "someone-else",
		        "/home/else", path, NULL, NULL),
		    0);
		assert_int_equal(queue_away_takes(f->q, a, "/d/a"), 1);
		assert_int_equal(queue_away_takes(f->q, a, "/p/q"), 0);
	}
	assert_int_equal(queue_away_by_path(a), 0);
	/* Its own user's, past the bound of reads: asked path by path,
	 * still right. */
	for (int i = 0; i < 40; i++) {
		snprintf(path, sizeof(path), "/y%d", i);
		add_op(f, "t1", JOB_DELETE, path, NULL);
		assert_int_equal(queue_away_takes(f->q, a, path), 1);
	}
	assert_int_equal(queue_away_by_path(a), 1);
	assert_int_equal(queue_away_takes(f->q, a, "/p/q"), 0);
	queue_away_free(a);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_open_creates_schema),
		T(test_away_answers_as_takes_away),
		T(test_away_ignores_other_users_deletes),
		T(test_job_targets_named_with_counts),
		T(test_open_missing_folder),
		T(test_add_one_job_per_target),
		T(test_add_no_targets),
		T(test_add_coalesces_queued),
		T(test_claim_oldest_first),
		T(test_claim_one_push_per_path),
		T(test_add_while_running_pushes_after),
		T(test_fail_backoff),
		T(test_fail_reports_earliest_due),
		T(test_retime),
		T(test_fail_park),
		T(test_requeue_failed),
		T(test_done_counts),
		T(test_forget),
		T(test_unsettled_counted_once),
		T(test_unsettled_overflow_said_each_spell),
		T(test_ops_round_trip),
		T(test_ops_not_coalesced),
		T(test_ops_run_in_order_per_path),
		T(test_rename_holds_new_path),
		T(test_recover_after_crash),
		T(test_recover_clears_backoff),
		T(test_persistence),
		T(test_target_state),
		T(test_concurrent_workers),
		T(test_put_not_merged_across_rename),
		T(test_folder_jobs_ordered),
		T(test_claim_says_when_a_job_was_held),
		T(test_rename_lookups_use_the_renames_index),
		T(test_parked_blocks_later),
		T(test_put_revives_parked_put),
		T(test_source_path),
		T(test_source_path_among_many),
		T(test_intents),
		T(test_move_pushed_exact),
		T(test_time_jobs_fold),
		T(test_pushed_size),
		T(test_pushed_inode),
		T(test_claim_never_cuts_a_name),
		T(test_done_pushed),
		T(test_group_commit),
		T(test_list_jobs),
		T(test_list_jobs_every_page),
		T(test_list_jobs_dense_and_rare_pages),
		T(test_list_jobs_dense_target_is_not_sorted),
		T(test_list_jobs_between_pages),
		T(test_upload_ids_survive_reopen),
		T(test_fair_new_flow_goes_next),
		T(test_express_claims_small_sparse_jobs),
		T(test_fair_flows_take_turns),
		T(test_fair_weighs_bytes),
		T(test_fair_clock_survives_reopen),
		T(test_fair_sparse_flow_goes_first),
		T(test_fair_small_first_within_a_turn),
		T(test_fair_big_sparse_file_gets_its_share),
		T(test_fair_camera_among_first_files),
		T(test_fair_retry_is_not_charged_again),
		T(test_fair_merged_put_is_charged_its_bytes),
		T(test_upload_list_pages),
		T(test_fair_keeps_related_order),
		T(test_moved_put_drops_the_old_names_waiting_jobs),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
