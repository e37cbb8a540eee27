/*
 * test_route.c - which targets take a path, and its name there
 * (mirror/route.h).
 *
 * The user's mirror = list, include/exclude globs (hostile names: quotes,
 * backslashes, '%', leading '-', spaces, UTF-8, no slash at all; glob edge
 * cases: '*' across folders, brackets, escapes, hidden files, a pattern
 * longer than 255 bytes), the flat and per-user remote path with a buffer
 * exactly full and one byte short (an error, never a shorter path), and
 * the plan of every change op with propagation on and off.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mirror/route.h"

#include <stdio.h>
#include <string.h>

static struct target_config
target(const char *name, const char *include, const char *exclude)
{
	struct target_config t;

	memset(&t, 0, sizeof(t));
	snprintf(t.name, sizeof(t.name), "%s", name);
	snprintf(t.include, sizeof(t.include), "%s", include);
	snprintf(t.exclude, sizeof(t.exclude), "%s", exclude);
	return t;
}

static void
test_user_wants(void **state)
{
	char longname[RFTP_NAME_MAX * 2 + 2];

	(void)state;
	assert_true(route_user_wants("", "a"));
	assert_true(route_user_wants("a", "a"));
	assert_true(route_user_wants("b,a", "a"));
	assert_true(route_user_wants(" b ,\ta , ", "a"));
	assert_false(route_user_wants("none", "a"));
	assert_false(route_user_wants("b,c", "a"));
	/* Names match whole and by case, never by prefix. */
	assert_false(route_user_wants("ab", "a"));
	assert_false(route_user_wants("a", "ab"));
	assert_false(route_user_wants("A", "a"));
	assert_false(route_user_wants(",,, ,", "a"));
	/* A listed name too long for a target name never matches one cut
	 * to its first RFTP_NAME_MAX bytes. */
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	{
		char cut[RFTP_NAME_MAX + 1];

		memcpy(cut, longname, RFTP_NAME_MAX);
		cut[RFTP_NAME_MAX] = '\0';
		assert_false(route_user_wants(longname, cut));
	}
}

static void
test_globs(void **state)
{
	char big[400];

	(void)state;
	assert_false(route_matches_any("", "/a/b.txt"));
	assert_false(route_matches_any(" , ,", "/a/b.txt"));
	/* The last name or the whole path. */
	assert_true(route_matches_any("*.txt", "/a/b.txt"));
	assert_true(route_matches_any("/a/*", "/a/b.txt"));
	/* Without FNM_PATHNAME a star crosses folders, and a leading dot
	 * is an ordinary character (documented in README). */
	assert_true(route_matches_any("/a/*", "/a/b/c/d.bin"));
	assert_true(route_matches_any("*", "/.hidden"));
	assert_true(route_matches_any("*.tmp,*.txt", "/x/y.txt"));
	assert_false(route_matches_any("*.TXT", "/a/b.txt"));
	assert_false(route_matches_any("b", "/a/b.txt"));
	assert_true(route_matches_any("b.txt", "/a/b.txt"));
	assert_false(route_matches_any("a", "/a/b.txt"));
	assert_true(route_matches_any("[bc].txt", "/a/c.txt"));
	assert_false(route_matches_any("[!bc].txt", "/a/c.txt"));
	assert_true(route_matches_any("?.txt", "/a/c.txt"));
	/* An escaped star is a star, not any name. */
	assert_true(route_matches_any("\\*", "/a/*"));
	assert_false(route_matches_any("\\*", "/a/b"));
	/* An unclosed bracket is no pattern error, and no match. */
	assert_false(route_matches_any("[abc", "/a/b"));
	assert_true(route_matches_any("[abc", "/a/[abc"));
	/* Hostile names are names. */
	assert_true(route_matches_any("-*", "/dir/-rf"));
	assert_true(route_matches_any("*%*", "/100%.txt"));
	assert_true(route_matches_any("*\"*", "/x\" /etc/passwd"));
	assert_true(route_matches_any("caf\xc3\xa9*", "/caf\xc3\xa9 au lait"));
	assert_true(route_matches_any("*\\\\*", "/back\\slash"));
	/* Blanks separate patterns: "my file" is "my" or "file". */
	assert_true(route_matches_any("my file", "/a/file"));
	assert_false(route_matches_any("my file", "/a/my file"));
	/* A name without a slash is its own last name (no crash). */
	assert_true(route_matches_any("*.txt", "b.txt"));
	assert_false(route_matches_any("*.bin", "b.txt"));
	/* A pattern longer than 255 bytes is matched whole. */
	memset(big, 'q', sizeof(big) - 2);
	big[sizeof(big) - 2] = '*';
	big[sizeof(big) - 1] = '\0';
	{
		char path[sizeof(big) + 8];

		snprintf(
		    path, sizeof(path), "/%.*s.z", (int)sizeof(big) - 2, big);
		assert_true(route_matches_any(big, path));
		path[10] = 'r';
		assert_false(route_matches_any(big, path));
	}
}

static void
test_target_takes(void **state)
{
	struct target_config all = target("all", "", "");
	struct target_config inc = target("inc", "*.jpg,/docs/*", "");
	struct target_config exc = target("exc", "", "*.tmp .*");
	struct target_config both = target("both", "/docs/*", "*.tmp");

	(void)state;
	assert_true(route_target_takes(&all, "", "/x"));
	assert_false(route_target_takes(&all, "inc", "/x"));
	assert_false(route_target_takes(&all, "none", "/x"));
	assert_true(route_target_takes(&inc, "", "/p/a.jpg"));
	assert_true(route_target_takes(&inc, "", "/docs/a.txt"));
	assert_false(route_target_takes(&inc, "", "/p/a.txt"));
	assert_true(route_target_takes(&exc, "", "/p/a.txt"));
	assert_false(route_target_takes(&exc, "", "/p/a.tmp"));
	assert_false(route_target_takes(&exc, "", "/p/.secret"));
	/* Exclude wins over include. */
	assert_true(route_target_takes(&both, "", "/docs/a.txt"));
	assert_false(route_target_takes(&both, "", "/docs/a.tmp"));
	assert_false(route_target_takes(&both, "", "/etc/a.txt"));
	assert_false(route_target_takes(&both, "all,inc", "/docs/a.txt"));
}

static void
test_remote_path(void **state)
{
	struct target_config t = target("t", "", "");
	static const char *const names[] = { "/a\" /etc/passwd",
		"/back\\slash\\", "/%s%n%%", "/-rf", "/with space/ x ",
		"/caf\xc3\xa9/\xe2\x82\xac", "/*", "/.rftpd-tmp.1" };
	char out[64], want[64];

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		t.flat = 0;
		assert_int_equal(
		    route_remote_path(&t, "bob", names[i], out, sizeof(out)),
		    0);
		snprintf(want, sizeof(want), "/bob%s", names[i]);
		assert_string_equal(out, want);
		t.flat = 1;
		assert_int_equal(
		    route_remote_path(&t, "bob", names[i], out, sizeof(out)),
		    0);
		assert_string_equal(out, names[i]);
	}
	/* Exactly full fits; one byte short is an error with nothing in
	 * out, never a shorter path. */
	t.flat = 0;
	assert_int_equal(route_remote_path(&t, "bob", "/abc", out, 9), 0);
	assert_string_equal(out, "/bob/abc");
	memset(out, 'z', sizeof(out));
	assert_int_equal(route_remote_path(&t, "bob", "/abc", out, 8), -1);
	assert_string_equal(out, "");
	t.flat = 1;
	assert_int_equal(route_remote_path(&t, "bob", "/abc", out, 5), 0);
	assert_int_equal(route_remote_path(&t, "bob", "/abc", out, 4), -1);
	assert_string_equal(out, "");
	assert_int_equal(route_remote_path(&t, "bob", "/abc", out, 0), -1);
}

static int
has(const char *const *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], name) == 0)
			return 1;
	return 0;
}

static struct upload_event
event(enum change_op op, const char *mirror, const char *path,
    const char *new_path)
{
	struct upload_event ev = { op, "bob", "/home/bob", mirror, path,
		new_path, 0, 0, NULL, 0 };

	return ev;
}

static void
test_plan(void **state)
{
	struct target_config t[3];
	struct route_plan p;
	struct upload_event ev;

	(void)state;
	t[0] = target("prop", "", "");
	t[0].propagate_deletes = t[0].propagate_renames = 1;
	t[1] = target("keep", "", "");
	t[2] = target("jpg", "*.jpg", "");
	t[2].propagate_deletes = t[2].propagate_renames = 1;

	ev = event(CHANGE_PUT, "", "/a.jpg", NULL);
	route_plan(t, 3, &ev, &p);
	assert_int_equal(p.nother, 0);
	assert_int_equal(p.nput, 3);
	assert_int_equal(p.put_op, JOB_PUT);
	assert_string_equal(route_put_path(&ev), "/a.jpg");

	ev = event(CHANGE_PUT, "keep", "/a.txt", NULL);
	route_plan(t, 3, &ev, &p);
	assert_int_equal(p.nput, 1);
	assert_string_equal(p.put[0], "keep");

	ev = event(CHANGE_TIME, "", "/a.txt", NULL);
	route_plan(t, 3, &ev, &p);
	assert_int_equal(p.put_op, JOB_TIME);
	assert_int_equal(p.nput, 2);
	assert_false(has(p.put, p.nput, "jpg"));

	/* Deletes and rmdirs only where propagated. */
	ev = event(CHANGE_DELETE, "", "/a.jpg", NULL);
	route_plan(t, 3, &ev, &p);
	assert_int_equal(p.op, JOB_DELETE);
	assert_int_equal(p.nother, 2);
	assert_int_equal(p.nput, 0);
	assert_false(has(p.other, p.nother, "keep"));
	/* An rmdir wherever deletes propagate, whatever the folder's own
	 * name: "jpg" does not take "/d", but the pushes of /d/x.jpg made
	 * it there. */
	ev = event(CHANGE_RMDIR, "", "/d", NULL);
	route_plan(t, 3, &ev, &p);
	assert_int_equal(p.op, JOB_RMDIR);
	assert_int_equal(p.nother, 2);
	assert_false(has(p.other, p.nother, "keep"));
	ev = event(CHANGE_RMDIR, "keep", "/d", NULL);
	route_plan(t, 3, &ev, &p);
	assert_int_equal(p.nother, 0);

	/* A folder is made wherever its path is taken. */
	ev = event(CHANGE_MKDIR, "", "/d", NULL);
	route_plan(t, 3, &ev, &p);
	assert_int_equal(p.op, JOB_MKDIR);
	assert_int_equal(p.nother, 2);
	assert_false(has(p.other, p.nother, "jpg"));

	/* A rename: propagated as itself where renames propagate (here
	 * .txt -> .jpg: "jpg" did not take the old name, and its worker
	 * pushes the new one unless it holds a folder's files under the old
	 * one); else a put of the new name where the new name is taken. */
	ev = event(CHANGE_RENAME, "", "/a.txt", "/a.jpg");
	route_plan(t, 3, &ev, &p);
	assert_int_equal(p.op, JOB_RENAME);
	assert_true(has(p.other, p.nother, "prop"));
	assert_true(has(p.put, p.nput, "keep"));
	assert_true(has(p.other, p.nother, "jpg"));
	assert_int_equal(p.nother + p.nput, 3);
	assert_int_equal(p.put_op, JOB_PUT);
	assert_string_equal(route_put_path(&ev), "/a.jpg");

	/* Renamed out of the include list: nothing for "jpg" but the
	 * rename job it propagates (its worker deletes the old name). */
	ev = event(CHANGE_RENAME, "jpg", "/a.jpg", "/a.txt");
	route_plan(t, 3, &ev, &p);
	assert_int_equal(p.nother, 1);
	assert_int_equal(p.nput, 0);

	/* Between two names "jpg" does not take: a rename job where renames
	 * propagate, for a folder's sake (worker.c forgets a file's); none
	 * for a user who does not mirror there. */
	ev = event(CHANGE_RENAME, "", "/d.txt", "/e.txt");
	route_plan(t, 3, &ev, &p);
	assert_true(has(p.other, p.nother, "jpg"));
	assert_int_equal(p.nother, 2);
	ev = event(CHANGE_RENAME, "keep", "/d.txt", "/e.txt");
	route_plan(t, 3, &ev, &p);
	assert_int_equal(p.nother, 0);
	assert_int_equal(p.nput, 1);

	/* A user with mirror = none sends nothing anywhere. */
	ev = event(CHANGE_PUT, "none", "/a.jpg", NULL);
	route_plan(t, 3, &ev, &p);
	assert_int_equal(p.nput + p.nother, 0);

	/* The mirror's temporary names go nowhere: a client's file so
	 * named would be overwritten and renamed away by a push's copy on
	 * the target. Another relay's copy renamed into place here (a
	 * chain of relays) arrives downstream as a put of its real name. */
	ev = event(CHANGE_PUT, "", "/d/.rftpd-tmp.21.victim", NULL);
	route_plan(t, 3, &ev, &p);
	assert_int_equal(p.nput + p.nother, 0);
	/* Where renames propagate, a rename job: a folder so named may be
	 * on the target (worker.c pushes a file's new name instead when the
	 * target holds nothing under the old one). */
	ev = event(CHANGE_RENAME, "", "/d/.rftpd-tmp.21.a.jpg", "/d/a.jpg");
	route_plan(t, 3, &ev, &p);
	assert_int_equal(p.nother, 2);
	assert_int_equal(p.nput, 1);
	assert_string_equal(p.put[0], "keep");
	assert_string_equal(route_put_path(&ev), "/d/a.jpg");
	/* Renamed to such a name, the file leaves what is mirrored: where
	 * deletes or renames propagate, a rename job, whose worker deletes
	 * the old name (or keeps it without propagate_deletes); never a
	 * put of the new name. */
	ev = event(CHANGE_RENAME, "", "/d/a.jpg", "/d/.rftpd-tmp.-7.a.jpg");
	route_plan(t, 3, &ev, &p);
	assert_int_equal(p.op, JOB_RENAME);
	assert_int_equal(p.nput, 0);
	assert_int_equal(p.nother, 2);
	assert_false(has(p.other, p.nother, "keep"));
	assert_true(route_target_takes_name(&t[1], "/d/a.jpg"));
	assert_false(route_target_takes_name(&t[1], "/d/.rftpd-tmp.-7.a.jpg"));
	assert_false(route_target_takes_name(&t[2], "/d/a.txt"));
	/* Only a temporary name's form at the start of the last name
	 * counts. */
	ev = event(CHANGE_PUT, "", "/.rftpd-tmp.1.d/x.rftpd-tmp.1.y", NULL);
	route_plan(t, 3, &ev, &p);
	assert_int_equal(p.nput, 2);
	ev = event(CHANGE_PUT, "", "/d/.rftpd-tmp.notes.txt", NULL);
	route_plan(t, 3, &ev, &p);
	assert_int_equal(p.nput, 2);
}

static void
test_plan_many_targets(void **state)
{
	static struct target_config t[RFTP_TARGETS_MAX + 4];
	struct upload_event ev = event(CHANGE_PUT, "", "/f", NULL);
	struct route_plan p;

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char name[16];

		snprintf(name, sizeof(name), "t%zu", i);
		t[i] = target(name, "", "");
	}
	route_plan(t, RFTP_TARGETS_MAX, &ev, &p);
	assert_int_equal(p.nput, RFTP_TARGETS_MAX);
	/* More than the plan holds is cut to what it holds, never
	 * written past its arrays. */
	route_plan(t, RFTP_TARGETS_MAX + 4, &ev, &p);
	assert_int_equal(p.nput, RFTP_TARGETS_MAX);
	route_plan(t, 0, &ev, &p);
	assert_int_equal(p.nput + p.nother, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_user_wants),
		cmocka_unit_test(test_globs),
		cmocka_unit_test(test_target_takes),
		cmocka_unit_test(test_remote_path),
		cmocka_unit_test(test_plan),
		cmocka_unit_test(test_plan_many_targets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
