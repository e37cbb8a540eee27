/*
 * test_mounts.c - the watcher's mount table (mirror/mounts.h): mountinfo
 * lines parsed into IDs and real mount points (octal escapes undone,
 * broken lines skipped), and the mounts that came or went between two
 * tables, an ID given to another mount included.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mirror/mounts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char before[] =
    "22 1 0:21 / /proc rw,nosuid - proc proc rw\n"
    "36 35 98:0 /mnt1 /srv/ftp/alice rw,noatime master:1 - ext3 /dev/root "
    "rw\n"
    "40 36 0:50 / /srv/ftp/alice/my\\040photos\\134x rw - tmpfs none rw\n"
    "garbage\n"
    "41 36 0:51 /\n";

static const char after[] =
    "22 1 0:21 / /proc rw,nosuid - proc proc rw\n"
    "36 35 98:0 /mnt1 /srv/ftp/alice rw,noatime master:1 - ext3 /dev/root "
    "rw\n"
    "40 36 0:52 / /srv/ftp/bob/in rw - tmpfs none rw\n"
    "45 36 0:53 / /srv/ftp/alice/new rw - tmpfs none rw";

static void
test_parse(void **state)
{
	struct mount_table t = { NULL, 0 };

	(void)state;
	assert_int_equal(mounts_parse(before, strlen(before), &t), 0);
	assert_int_equal(t.n, 3);
	assert_int_equal(t.v[0].id, 22);
	assert_string_equal(t.v[0].path, "/proc");
	assert_int_equal(t.v[1].id, 36);
	assert_string_equal(t.v[1].path, "/srv/ftp/alice");
	assert_int_equal(t.v[2].id, 40);
	assert_string_equal(t.v[2].path, "/srv/ftp/alice/my photos\\x");
	mounts_free(&t);
	assert_int_equal(t.n, 0);
}

struct seen {
	char paths[8][64];
	int n;
};

static void
note(void *ctx, const char *path)
{
	struct seen *s = ctx;

	assert_true(s->n < 8);
	snprintf(s->paths[s->n++], sizeof(s->paths[0]), "%s", path);
}

static void
test_diff(void **state)
{
	struct mount_table a = { NULL, 0 }, b = { NULL, 0 };
	struct seen s;

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_int_equal(mounts_parse(before, strlen(before), &a), 0);
	assert_int_equal(mounts_parse(after, strlen(after), &b), 0);
	mounts_diff(&a, &b, note, &s);
	/* 40 went from alice's folder and came back at bob's; 45 came. */
	assert_int_equal(s.n, 3);
	assert_string_equal(s.paths[0], "/srv/ftp/alice/my photos\\x");
	assert_string_equal(s.paths[1], "/srv/ftp/bob/in");
	assert_string_equal(s.paths[2], "/srv/ftp/alice/new");
	memset(&s, 0, sizeof(s));
	mounts_diff(&b, &b, note, &s);
	assert_int_equal(s.n, 0);
	mounts_free(&a);
	mounts_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_diff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
