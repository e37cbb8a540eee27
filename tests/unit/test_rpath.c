/*
 * test_rpath.c - remote names on targets (mirror/rpath.h).
 *
 * The temporary name keeps the folder and a 200-byte cut of the leaf; a
 * result that does not fit fails whole, one byte short or long, and leaves
 * "" (never a shorter path that could name another file); the login
 * folder's trailing '/' is dropped before a path is joined to it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mirror/rpath.h"

#include <string.h>

static void
test_tmp_name(void **state)
{
	char out[256];

	(void)state;
	assert_int_equal(rpath_tmp_name(out, sizeof(out), "/base",
	                     "/alice/dir/a b\"c.txt", 42),
	    0);
	assert_string_equal(out, "/base/alice/dir/.rftpd-tmp.42.a b\"c.txt");
	assert_int_equal(rpath_tmp_name(out, sizeof(out), "", "/f", -7), 0);
	assert_string_equal(out, "/.rftpd-tmp.-7.f");
}

static void
test_tmp_name_long_leaf_cut_to_200(void **state)
{
	char leaf[301], rpath[400], out[512];

	(void)state;
	memset(leaf, 'x', 300);
	leaf[300] = '\0';
	strcpy(rpath, "/u/");
	strcat(rpath, leaf);
	assert_int_equal(rpath_tmp_name(out, sizeof(out), "", rpath, 1), 0);
	assert_int_equal(strlen(out), strlen("/u/.rftpd-tmp.1.") + 200);
}

static void
test_tmp_name_exact_fit_and_one_short(void **state)
{
	const char *want = "/b/u/.rftpd-tmp.9.name";
	char out[64];
	size_t n = strlen(want);

	(void)state;
	assert_int_equal(rpath_tmp_name(out, n + 1, "/b", "/u/name", 9), 0);
	assert_string_equal(out, want);
	assert_int_equal(rpath_tmp_name(out, n, "/b", "/u/name", 9), -1);
	assert_string_equal(out, "");
	assert_int_equal(rpath_tmp_name(out, 0, "/b", "/u/name", 9), -1);
}

static void
test_join(void **state)
{
	char out[8];

	(void)state;
	assert_int_equal(rpath_join(out, sizeof(out), "/ab", "/cde"), 0);
	assert_string_equal(out, "/ab/cde");
	assert_int_equal(rpath_join(out, sizeof(out), "/ab", "/cdef"), -1);
	assert_string_equal(out, "");
}

static void
test_from_entry(void **state)
{
	char out[16];

	(void)state;
	assert_int_equal(rpath_from_entry(out, sizeof(out), "/", "/a/b"), 0);
	assert_string_equal(out, "/a/b");
	assert_int_equal(
	    rpath_from_entry(out, sizeof(out), "/home/u//", "/a"), 0);
	assert_string_equal(out, "/home/u/a");
	/* A URL folder from the server's root ("ftp://h//srv"). */
	assert_int_equal(
	    rpath_from_entry(out, sizeof(out), "/home/u", "//srv/a"), 0);
	assert_string_equal(out, "/srv/a");
	/* 15 bytes fit out[16]; 16 do not. */
	assert_int_equal(
	    rpath_from_entry(out, sizeof(out), "/123456789/", "/abcd"), 0);
	assert_string_equal(out, "/123456789/abcd");
	assert_int_equal(
	    rpath_from_entry(out, sizeof(out), "/123456789/", "/abcde"), -1);
	assert_string_equal(out, "");
}

static void
test_need(void **state)
{
	(void)state;
	assert_int_equal(
	    rpath_need("/e", "/base", "/u/f"), 2 + 5 + 4 + RPATH_TMP_EXTRA);
	/* The extra room holds the prefix, any job number and the dot. */
	assert_true(RPATH_TMP_EXTRA >= strlen(RFTP_TMP_PREFIX) + 20 + 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tmp_name),
		cmocka_unit_test(test_tmp_name_long_leaf_cut_to_200),
		cmocka_unit_test(test_tmp_name_exact_fit_and_one_short),
		cmocka_unit_test(test_join),
		cmocka_unit_test(test_from_entry),
		cmocka_unit_test(test_need),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
