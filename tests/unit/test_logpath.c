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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_quoted),
		cmocka_unit_test(test_long_path_keeps_its_ends),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
