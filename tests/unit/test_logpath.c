/*
 * test_logpath.c - a home path as one field of a mirror log line
 * (logpath.h): plain paths as they are, a blank, quote, backslash or
 * control byte quoted and escaped, so no name forges a field; a long path
 * cut around its middle, so the reason after it stays on the line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mirror/logpath.h"

#include <string.h>

static void
test_plain(void **state)
{
	(void)state;
	assert_string_equal(LOGPATH("alice", "/a/b.txt"), "/alice/a/b.txt");
	assert_string_equal(
	    LOGPATH("alice", "/caf\xc3\xa9=1%s"), "/alice/caf\xc3\xa9=1%s");
	assert_string_equal(LOGPATH(NULL, "/x/y"), "/x/y");
}

static void
test_quoted(void **state)
{
	(void)state;
	/* The forgery of the outside battery: one quoted field. */
	assert_string_equal(
	    LOGPATH("alice", "/report.pdf bytes=1 duration=0.001s verify=hash"),
	    "\"/alice/report.pdf bytes=1 duration=0.001s verify=hash\"");
	assert_string_equal(LOGPATH("alice", "/trail "), "\"/alice/trail \"");
	assert_string_equal(
	    LOGPATH("alice", "/q\"b\\s"), "\"/alice/q\\\"b\\\\s\"");
	assert_string_equal(
	    LOGPATH("alice", "/esc\x1b[2J\x7f"), "\"/alice/esc\\x1b[2J\\x7f\"");
	assert_string_equal(LOGPATH(NULL, "/a b"), "\"/a b\"");
}

static void
test_long_path_keeps_its_ends(void **state)
{
	char path[4000];
	const char *out;

	(void)state;
	path[0] = '/';
	memset(path + 1, 'a', sizeof(path) - 2);
	memcpy(path + sizeof(path) - 10, "/tail.bin", 10);
	out = LOGPATH("alice", path);
	assert_true(strlen(out) < LOGPATH_MAX);
	assert_true(strlen(out) < 600);
	assert_int_equal(out[0], '"');
	assert_memory_equal(out + 1, "/alice/aaaa", 11);
	assert_non_null(strstr(out, "[..."));
	assert_non_null(strstr(out, "/tail.bin\""));
	/* Escapes take room too: still within LOGPATH_MAX. */
	memset(path + 1, '"', sizeof(path) - 2);
	path[sizeof(path) - 1] = '\0';
	out = LOGPATH("alice", path);
	assert_true(strlen(out) < LOGPATH_MAX);
	assert_int_equal(out[strlen(out) - 1], '"');
}

/* 1 if the n bytes at p are whole UTF-8 characters (no cut sequence). */
static int
whole_utf8(const unsigned char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t len = p[i] < 0x80  ? 1 :
		    (p[i] & 0xe0) == 0xc0 ? 2 :
		    (p[i] & 0xf0) == 0xe0 ? 3 :
		    (p[i] & 0xf8) == 0xf0 ? 4 :
		                            0;

		if (len == 0 || i + len > n)
			return 0;
		for (size_t k = 1; k < len; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
		i += len;
	}
	return 1;
}

static void
test_long_path_cut_between_characters(void **state)
{
	/* A deep path of CJK names (3 bytes a character): its ends were cut
	 * inside a character, and the log, which writes bytes that are not
	 * UTF-8 as '?', showed "日日日??[...2383 bytes...]?日日日" to the
	 * admin. Each end now stops at a character's edge. */
	char path[3000];
	const char *out;

	(void)state;
	for (size_t lead = 0; lead < 3; lead++) {
		size_t o = 0;

		path[o++] = '/';
		memset(path + o, 'x', lead);
		o += lead;
		while (o + 4 < sizeof(path)) {
			memcpy(path + o, "\xe6\x97\xa5", 3);
			o += 3;
		}
		path[o] = '\0';
		out = LOGPATH("u1", path);
		assert_non_null(strstr(out, "[..."));
		assert_true(
		    whole_utf8((const unsigned char *)out, strlen(out)));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_quoted),
		cmocka_unit_test(test_long_path_keeps_its_ends),
		cmocka_unit_test(test_long_path_cut_between_characters),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
