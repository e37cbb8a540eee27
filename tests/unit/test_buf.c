/*
 * test_buf.c - fmt_fixed (common/buf.h), the checked way to format into a
 * fixed array, and the fixture helpers every unit test shares (fixture.h).
 *
 * Covers: text that fits, text that fits exactly (len - 1 bytes), one byte
 * too long and far too long (-1 and "", never a shorter path), a zero
 * length; fixture_tmpdir, fixture_write and fixture_rmtree on a tree with
 * a nested folder and a symlink (removed, its target kept).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/buf.h"
#include "fixture.h"

#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void
test_fmt_fixed_fits(void **state)
{
	char out[16];

	(void)state;
	assert_int_equal(fmt_fixed(out, sizeof(out), "%s/%s", "a", "b"), 0);
	assert_string_equal(out, "a/b");
	/* 15 characters and the NUL: exactly full. */
	assert_int_equal(
	    fmt_fixed(out, sizeof(out), "%s/%s", "/home/al", "ice.tx"), 0);
	assert_string_equal(out, "/home/al/ice.tx");
	assert_int_equal(
	    fmt_fixed(out, sizeof(out), "%s", "123456789012345"), 0);
	assert_string_equal(out, "123456789012345");
}

static void
test_fmt_fixed_truncation_is_an_error(void **state)
{
	char out[16];

	(void)state;
	/* One byte too long: refused whole, never "/home/alice/a.t". */
	memset(out, 'x', sizeof(out));
	assert_int_equal(
	    fmt_fixed(out, sizeof(out), "%s/%s", "/home/alice", "a.txt"), -1);
	assert_string_equal(out, "");
	assert_int_equal(
	    fmt_fixed(out, sizeof(out), "%s", "1234567890123456"), -1);
	assert_string_equal(out, "");
	assert_int_equal(fmt_fixed(out, sizeof(out), "%0*d", 4000, 7), -1);
	assert_string_equal(out, "");
	/* No room at all, not even for the NUL. */
	out[0] = 'x';
	assert_int_equal(fmt_fixed(out, 0, "%s", ""), -1);
	assert_int_equal(out[0], 'x');
}

static void
test_fixture_tree(void **state)
{
	char dir[PATH_MAX], sub[PATH_MAX], file[PATH_MAX], link[PATH_MAX];
	char outside[PATH_MAX];
	struct stat st;

	(void)state;
	assert_int_equal(fixture_tmpdir("buf", dir, sizeof(dir)), 0);
	assert_int_equal(
	    fixture_tmpdir("buf-outside", outside, sizeof(outside)), 0);
	fixture_join(sub, sizeof(sub), dir, "sub dir");
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(
	    fixture_write(sub, "a b.txt", "abc", 3, file, sizeof(file)), 0);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_size, 3);
	fixture_write_file(outside, "keep", "kept\n", file, sizeof(file));
	fixture_join(link, sizeof(link), dir, "link");
	assert_int_equal(symlink(outside, link), 0);

	assert_int_equal(fixture_rmtree(dir), 0);
	assert_int_equal(lstat(dir, &st), -1);
	/* The symlink went, not what it points at. */
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(fixture_rmtree(outside), 0);
	assert_int_equal(lstat(outside, &st), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fmt_fixed_fits),
		cmocka_unit_test(test_fmt_fixed_truncation_is_an_error),
		cmocka_unit_test(test_fixture_tree),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
