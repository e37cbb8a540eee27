/*
 * test_jobrules.c - the pure rules of mirror jobs (mirror/jobrules.h).
 *
 * Paths relate byte for byte ("/a" and "/a/b", never "/ab" nor "/A");
 * parents are walked up to "/"; a path is carried through later renames
 * of it or of a folder above it and ends at a delete, an rmdir above it
 * or a rename over it; a job in flight holds back related jobs of the same
 * user only; every state has its one stored name; merges never turn a job
 * into a different kind than a put or a time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mirror/jobrules.h"

#include <string.h>

static void
test_related_bytewise(void **state)
{
	(void)state;
	assert_true(queue_paths_related("/a", "/a"));
	assert_true(queue_paths_related("/a", "/a/b"));
	assert_true(queue_paths_related("/a/b/c", "/a"));
	assert_false(queue_paths_related("/a", "/ab"));
	assert_false(queue_paths_related("/a_b", "/a%b"));
	assert_false(queue_paths_related("/Photos", "/photos/x"));
	assert_true(
	    queue_paths_related("/\xc3\xa9t\xc3\xa9", "/\xc3\xa9t\xc3\xa9/x"));
}

static void
test_parent_len(void **state)
{
	const char *x = "/a/bc/d";

	(void)state;
	assert_int_equal(jobrules_parent_len(x, 7), 5);
	assert_int_equal(jobrules_parent_len(x, 5), 2);
	assert_int_equal(jobrules_parent_len(x, 2), 1);
	assert_int_equal(jobrules_parent_len(x, 1), 1);
}

static void
test_states_named_once(void **state)
{
	const char *seen[JOB_NSTATES];

	(void)state;
	seen[JOB_QUEUED] = job_state_name(JOB_QUEUED);
	seen[JOB_RUNNING] = job_state_name(JOB_RUNNING);
	seen[JOB_FAILED] = job_state_name(JOB_FAILED);
	seen[JOB_INTENT] = job_state_name(JOB_INTENT);
	/* The names stored in queue files of earlier versions. */
	assert_string_equal(seen[JOB_QUEUED], "queued");
	assert_string_equal(seen[JOB_RUNNING], "running");
	assert_string_equal(seen[JOB_FAILED], "failed");
	assert_string_equal(seen[JOB_INTENT], "intent");
}

static void
test_op_codes(void **state)
{
	(void)state;
	assert_int_equal(jobrules_op_of(JOB_RENAME), JOB_RENAME);
	assert_int_equal(jobrules_op_of(99), JOB_PUT);
	assert_true(jobrules_of(JOB_RENAME)->moves);
	assert_true(jobrules_of(JOB_DELETE)->removes);
	/* Unknown (a newer file): both paths count, nothing moves. */
	assert_true(jobrules_of(99)->arg_is_path);
	assert_false(jobrules_of(99)->moves);
	assert_false(jobrules_of(-1)->removes);
	for (size_t i = 0; i < job_nmerges; i++) {
		assert_true(job_merges[i].becomes == JOB_PUT ||
		    job_merges[i].becomes == JOB_TIME);
		assert_true(job_merges[i].incoming == JOB_PUT ||
		    job_merges[i].incoming == JOB_TIME);
	}
}

/* One later job as text rows give it. */
static int
step(struct job_walk *w, enum job_op op, const char *a, const char *b)
{
	return jobrules_walk_step(w, op, a, strlen(a), b, strlen(b));
}

static void
test_walk_through_renames(void **state)
{
	struct job_walk w;

	(void)state;
	assert_int_equal(jobrules_walk_start(&w, "/d/f"), 0);
	assert_int_equal(step(&w, JOB_RENAME, "/d", "/e"), 0);
	assert_string_equal(w.cur, "/e/f");
	assert_int_equal(step(&w, JOB_RENAME, "/e/fx", "/g"), 0); /* not it */
	assert_int_equal(step(&w, JOB_PUT, "/e/f", ""), 0);
	assert_int_equal(step(&w, JOB_RENAME, "/e/f", "/h i"), 0);
	assert_string_equal(w.cur, "/h i");
	assert_true(w.alive);
	assert_int_equal(step(&w, JOB_RMDIR, "/h", ""), 0); /* not above */
	assert_true(w.alive);
	assert_int_equal(step(&w, JOB_DELETE, "/h i", ""), 0);
	assert_false(w.alive);
	/* Dead stays dead: a later rename of the same name is another file. */
	assert_int_equal(step(&w, JOB_RENAME, "/h i", "/z"), 0);
	assert_false(w.alive);
}

static void
test_walk_rename_over_and_too_long(void **state)
{
	struct job_walk w;
	char big[RFTP_PATH_MAX + 1];

	(void)state;
	assert_int_equal(jobrules_walk_start(&w, "/a"), 0);
	assert_int_equal(step(&w, JOB_RENAME, "/b", "/a"), 0);
	assert_false(w.alive);
	memset(big, 'x', sizeof(big) - 1);
	big[0] = '/';
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(jobrules_walk_start(&w, big), -1);
	big[RFTP_PATH_MAX - 1] = '\0';
	assert_int_equal(jobrules_walk_start(&w, "/a/b"), 0);
	/* Moved under a folder whose name would make it too long. */
	assert_int_equal(step(&w, JOB_RENAME, "/a", big), -1);
}

static void
test_near_running(void **state)
{
	struct job_row rows[2];

	(void)state;
	memset(rows, 0, sizeof(rows));
	strcpy(rows[0].user, "alice");
	rows[0].op = JOB_RENAME;
	strcpy(rows[0].path, "/x");
	strcpy(rows[0].arg, "/y/z");
	strcpy(rows[1].user, "bob");
	rows[1].op = JOB_PUT;
	strcpy(rows[1].path, "/q");
	assert_true(jobrules_near(rows, 2, "alice", JOB_PUT, "/y", ""));
	assert_true(jobrules_near(rows, 2, "alice", JOB_PUT, "/x/1", ""));
	assert_false(jobrules_near(rows, 2, "alice", JOB_PUT, "/q", ""));
	assert_true(jobrules_near(rows, 2, "bob", JOB_RENAME, "/r", "/q"));
	/* A put's arg is not a path: it never relates. */
	assert_false(jobrules_near(rows, 2, "bob", JOB_PUT, "/r", "/q"));
	assert_false(jobrules_near(rows, 0, "alice", JOB_PUT, "/x", ""));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_related_bytewise),
		cmocka_unit_test(test_parent_len),
		cmocka_unit_test(test_states_named_once),
		cmocka_unit_test(test_op_codes),
		cmocka_unit_test(test_walk_through_renames),
		cmocka_unit_test(test_walk_rename_over_and_too_long),
		cmocka_unit_test(test_near_running),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
