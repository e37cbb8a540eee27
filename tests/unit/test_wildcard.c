/*
 * test_wildcard.c - LIST/NLST name patterns (wildcard.h): the shell's
 * rules for '*', '?', sets and a leading '.', UTF-8 characters, and the
 * bound on work: a pattern of many stars against a long name that does
 * not match must end at once (fnmatch's backtracking would not).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "server/wildcard.h"

#include <string.h>
#include <time.h>

static void
test_basics(void **state)
{
	(void)state;
	assert_true(wildcard_match("*", "a"));
	assert_true(wildcard_match("*.txt", "apple.txt"));
	assert_false(wildcard_match("*.txt", "apple.txt.bak"));
	assert_true(wildcard_match("a*", "a"));
	assert_true(wildcard_match("*an*", "banana"));
	assert_false(wildcard_match("*an*", "apple"));
	assert_true(wildcard_match("img_??.jpg", "img_01.jpg"));
	assert_false(wildcard_match("img_??.jpg", "img_1.jpg"));
	assert_true(wildcard_match("a*b*c", "aXbYbZc"));
	assert_false(wildcard_match("a*b*c", "aXbYbZ"));
	assert_true(wildcard_match("**x", "x"));
	assert_false(wildcard_match("", "x"));
	assert_true(wildcard_match("exact", "exact"));
	assert_false(wildcard_match("exact", "exactly"));
}

static void
test_sets(void **state)
{
	(void)state;
	assert_true(wildcard_match("f[0-9].c", "f7.c"));
	assert_false(wildcard_match("f[0-9].c", "fx.c"));
	assert_true(wildcard_match("f[!0-9].c", "fx.c"));
	assert_true(wildcard_match("f[^0-9].c", "fx.c"));
	assert_false(wildcard_match("f[!0-9].c", "f7.c"));
	assert_true(wildcard_match("[]x]", "]"));
	assert_true(wildcard_match("[a-]", "-"));
	/* A '[' without its ']' is itself. */
	assert_true(wildcard_match("a[b", "a[b"));
	assert_false(wildcard_match("a[b", "ab"));
}

static void
test_leading_dot(void **state)
{
	(void)state;
	assert_false(wildcard_match("*", ".hidden"));
	assert_false(wildcard_match("*.txt", ".hidden.txt"));
	assert_false(wildcard_match("?hidden", ".hidden"));
	assert_true(wildcard_match(".*", ".hidden"));
	assert_true(wildcard_match("a*", "a.b"));
}

static void
test_utf8(void **state)
{
	(void)state;
	/* '?' is one character: 2, 3 and 4 bytes. */
	assert_true(wildcard_match("caf?", "caf\xc3\xa9"));
	assert_true(wildcard_match("?.txt", "\xe2\x82\xac.txt"));
	assert_true(wildcard_match("?", "\xf0\x9f\x98\x80"));
	assert_false(wildcard_match("??", "\xf0\x9f\x98\x80"));
	assert_true(wildcard_match("*\xc3\xa9*", "caf\xc3\xa9s"));
	assert_true(wildcard_match("[\xc3\xa0-\xc3\xbf]x", "\xc3\xa9x"));
	/* Stray bytes are one character each. */
	assert_true(wildcard_match("a?b",
	    "a\xff"
	    "b"));
	assert_true(wildcard_match("a?b",
	    "a\x80"
	    "b"));
}

static void
test_pattern_detection(void **state)
{
	(void)state;
	assert_true(wildcard_is_pattern("*.txt"));
	assert_true(wildcard_is_pattern("a?"));
	assert_true(wildcard_is_pattern("[ab]"));
	assert_false(wildcard_is_pattern("plain name.txt"));
	assert_false(wildcard_is_pattern("100% \"done\""));
}

/* Seconds for 1,000 matches of pattern against name, none matching. */
static double
seconds_for_1000(const char *pattern, const char *name)
{
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 1000; i++)
		assert_false(wildcard_match(pattern, name));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
}

static void
test_many_stars_are_cheap(void **state)
{
	char pattern[256], name[256];

	(void)state;
	/* "*a*a*...*a*b" (126 stars) against 255 a's: no match, and glibc's
	 * fnmatch would try the stars' placements in every combination.
	 * 1,000 matches of at most 255 x 255 steps: far under a second even
	 * under valgrind; exponential work would not end. */
	for (size_t i = 0; i < 126; i++) {
		pattern[2 * i] = '*';
		pattern[2 * i + 1] = 'a';
	}
	memcpy(pattern + 252, "*b", 3);
	memset(name, 'a', 255);
	name[255] = '\0';
	assert_true(seconds_for_1000(pattern, name) < 30.0);

	/* "*" and 170 '[' with no ']' against 255 '[': each '[' is itself,
	 * known at once (it was scanned to the pattern's end every time). */
	pattern[0] = '*';
	memset(pattern + 1, '[', 170);
	memcpy(pattern + 171, "x", 2);
	memset(name, '[', 255);
	assert_true(seconds_for_1000(pattern, name) < 30.0);
	assert_true(wildcard_match("*[[x", "a[[x"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basics),
		cmocka_unit_test(test_sets),
		cmocka_unit_test(test_leading_dot),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_pattern_detection),
		cmocka_unit_test(test_many_stars_are_cheap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
