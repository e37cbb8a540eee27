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

#include <stdlib.h>
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

/* The rules of wildcard.h written as plainly as possible, for ASCII: a
 * '*' tries every split (exponential, fine for short strings). */
static int
spec_match(const char *p, const char *s)
{
	const char *q;
	int negate = 0, hit = 0;

	if (*p == '\0')
		return *s == '\0';
	if (*p == '*')
		return spec_match(p + 1, s) ||
		    (*s != '\0' && spec_match(p, s + 1));
	if (*s == '\0')
		return 0;
	if (*p == '?')
		return spec_match(p + 1, s + 1);
	if (*p == '[') {
		q = p + 1;
		if (*q == '!' || *q == '^') {
			negate = 1;
			q++;
		}
		for (int first = 1; *q != '\0' && (first || *q != ']');
		     first = 0) {
			char lo = *q++, hi = lo;

			if (q[0] == '-' && q[1] != ']' && q[1] != '\0') {
				hi = q[1];
				q += 2;
			}
			hit |= *s >= lo && *s <= hi;
		}
		if (*q == ']')
			return hit != negate && spec_match(q + 1, s + 1);
	}
	return *p == *s && spec_match(p + 1, s + 1);
}

static void
random_string(char *buf, size_t max, const char *alphabet, unsigned *seed)
{
	size_t n = (size_t)rand_r(seed) % max, k = strlen(alphabet);

	for (size_t i = 0; i < n; i++)
		buf[i] = alphabet[(size_t)rand_r(seed) % k];
	buf[n] = '\0';
}

static void
test_agrees_with_the_rules(void **state)
{
	char pattern[16], name[16];
	unsigned seed = 20261204;

	(void)state;
	/* Random patterns and names of the characters that mean something:
	 * the compiled matcher, with its last-star backtracking and set
	 * tables, answers as the rules do. */
	for (int i = 0; i < 200000; i++) {
		random_string(pattern, 10, "ab.*?[]!^-", &seed);
		random_string(name, 10, "ab.[]!-", &seed);
		if (name[0] == '.' && pattern[0] != '.')
			assert_false(wildcard_match(pattern, name));
		else if (wildcard_match(pattern, name) !=
		    spec_match(pattern, name))
			fail_msg("pattern \"%s\" name \"%s\": %d", pattern,
			    name, wildcard_match(pattern, name));
	}
}

static void
test_steps_are_counted(void **state)
{
	char pattern[300], name[256];
	struct wildcard *w;
	uint64_t steps = 0;

	(void)state;
	/* A plain name: a step a character. */
	w = wildcard_compile("*.jpg");
	assert_non_null(w);
	assert_true(wildcard_matches(w, "holiday.jpg", &steps));
	assert_true(steps <= 2 * strlen("holiday.jpg"));
	wildcard_free(w);

	/* "*" then 60 sets then "Q" against 250 a's: each place the star
	 * leaves runs through the 60 sets, and every step is counted, so
	 * that listing.c can stop such a pattern over a folder. */
	memcpy(pattern, "*", 2);
	for (int i = 0; i < 60; i++)
		strcat(pattern, "[!Q]");
	strcat(pattern, "Q");
	memset(name, 'a', 250);
	name[250] = '\0';
	w = wildcard_compile(pattern);
	assert_non_null(w);
	steps = 0;
	assert_false(wildcard_matches(w, name, &steps));
	assert_true(steps > 10000);
	assert_true(steps <= 62 * 251);
	wildcard_free(w);

	/* A set of wide members: a character past U+00FF is looked up in
	 * its ranges, each a step (they cost as much). */
	w = wildcard_compile("*[\xd0\x80\xd0\x82\xd0\x84]Q");
	assert_non_null(w);
	steps = 0;
	assert_false(wildcard_matches(w, "\xd0\x81\xd0\x81", &steps));
	assert_true(steps >= 2 * 3);
	wildcard_free(w);

	/* A set of 200 members costs a step, as '?' does: it is a table. */
	memcpy(pattern, "*[", 3);
	for (int i = 0; i < 200; i++)
		pattern[2 + i] = (char)('0' + i % 10);
	memcpy(pattern + 202, "]Q", 3);
	w = wildcard_compile(pattern);
	assert_non_null(w);
	steps = 0;
	assert_false(wildcard_matches(w, name, &steps));
	assert_true(steps <= 2 * 251);
	wildcard_free(w);
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
		cmocka_unit_test(test_agrees_with_the_rules),
		cmocka_unit_test(test_steps_are_counted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
