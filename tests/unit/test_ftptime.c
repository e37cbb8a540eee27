/*
 * test_ftptime.c - FTP time values and the argument shapes of MFMT, MDTM
 * TIME and SITE UTIME (common/ftptime.h): valid and invalid dates (month
 * lengths, leap years, leap second), fractions, names that only look like
 * times, hostile paths after the time, the five-argument form read from
 * the end, and formatting back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/ftptime.h"

#include <stdio.h>
#include <string.h>

static enum ftptime_err
parse(const char *s, unsigned flags, struct timespec *t)
{
	return ftptime_parse(s, strlen(s), flags, t);
}

static void
test_parse_valid(void **state)
{
	struct timespec t;

	(void)state;
	assert_int_equal(parse("19700101000000", 0, &t), FTPTIME_OK);
	assert_int_equal(t.tv_sec, 0);
	assert_int_equal(t.tv_nsec, 0);
	/* date -u -d 2020-01-02T03:04:05 +%s */
	assert_int_equal(parse("20200102030405", 0, &t), FTPTIME_OK);
	assert_int_equal(t.tv_sec, 1577934245);
	assert_int_equal(parse("20240229235959", 0, &t), FTPTIME_OK);
	assert_int_equal(t.tv_sec, 1709251199);
	assert_int_equal(parse("20000229120000", 0, &t), FTPTIME_OK);
	assert_int_equal(t.tv_sec, 951825600);
	assert_int_equal(parse("19691231235959", 0, &t), FTPTIME_OK);
	assert_int_equal(t.tv_sec, -1);
	assert_int_equal(parse("21060207062816", 0, &t), FTPTIME_OK);
	assert_int_equal((int64_t)t.tv_sec, (int64_t)4294967296LL);
	/* A leap second lands on the next minute. */
	assert_int_equal(parse("20161231235960", 0, &t), FTPTIME_OK);
	assert_int_equal(t.tv_sec, 1483228800);
	/* Fractions: up to nanoseconds kept, more digits ignored. */
	assert_int_equal(parse("20200102030405.250", 0, &t), FTPTIME_OK);
	assert_int_equal(t.tv_sec, 1577934245);
	assert_int_equal(t.tv_nsec, 250000000);
	assert_int_equal(
	    parse("20200102030405.1234567891234", 0, &t), FTPTIME_OK);
	assert_int_equal(t.tv_nsec, 123456789);
	/* Minutes only, where allowed (proftpd's SITE UTIME). */
	assert_int_equal(
	    parse("202001020304", FTPTIME_MINUTES_OK, &t), FTPTIME_OK);
	assert_int_equal(t.tv_sec, 1577934240);
}

static void
test_parse_invalid(void **state)
{
	static const char *const bad[] = {
		"20201302030405",  /* month 13 */
		"20200002030405",  /* month 0 */
		"20200100030405",  /* day 0 */
		"20200132030405",  /* day 32 */
		"20230229000000",  /* not a leap year */
		"19000229000000",  /* nor is 1900 */
		"20200431000000",  /* April has 30 */
		"20200102240000",  /* hour 24 */
		"20200102036000",  /* minute 60 */
		"20200102030461",  /* second 61 */
		"00000102030405",  /* year 0 */
		"202001020304",    /* minutes without the flag */
		"2020010203040",   /* 13 digits */
		"202001020304050", /* 15 digits */
	};
	struct timespec t;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse(bad[i], 0, &t) != FTPTIME_BAD)
			fail_msg("%s was not refused as a bad time", bad[i]);
	/* Not shaped like a time at all: a name. */
	assert_int_equal(parse("", 0, &t), FTPTIME_NOT_A_TIME);
	assert_int_equal(parse("2020", 0, &t), FTPTIME_NOT_A_TIME);
	assert_int_equal(parse("report.pdf", 0, &t), FTPTIME_NOT_A_TIME);
	assert_int_equal(
	    parse("20200102030405.txt", 0, &t), FTPTIME_NOT_A_TIME);
	assert_int_equal(parse("20200102030405.", 0, &t), FTPTIME_NOT_A_TIME);
	assert_int_equal(parse("20200102030405x", 0, &t), FTPTIME_NOT_A_TIME);
	assert_int_equal(parse("-20200102030405", 0, &t), FTPTIME_NOT_A_TIME);
}

static void
test_lead(void **state)
{
	static const char *const names[] = {
		"a b.txt",
		"-rf",
		"\"quoted\" name",
		"caf\xc3\xa9 \xe2\x82\xac.txt",
		"/abs/path with  two  spaces ",
		"back\\slash % _ *",
		"20200102030405",
	};
	struct timespec t;
	const char *path = NULL;
	char line[256];

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(line, sizeof(line), "20200102030405 %s", names[i]);
		assert_int_equal(ftptime_lead(line, 0, &t, &path), FTPTIME_OK);
		assert_string_equal(path, names[i]);
		assert_int_equal(t.tv_sec, 1577934245);
	}
	/* No path, or a name where the time belongs. */
	assert_int_equal(
	    ftptime_lead("20200102030405", 0, &t, &path), FTPTIME_NOT_A_TIME);
	assert_int_equal(
	    ftptime_lead("20200102030405 ", 0, &t, &path), FTPTIME_NOT_A_TIME);
	assert_int_equal(
	    ftptime_lead("2020 report.pdf", 0, &t, &path), FTPTIME_NOT_A_TIME);
	assert_int_equal(
	    ftptime_lead("file.txt", 0, &t, &path), FTPTIME_NOT_A_TIME);
	assert_int_equal(
	    ftptime_lead("20201399000000 x", 0, &t, &path), FTPTIME_BAD);
	assert_int_equal(
	    ftptime_lead("202001020304 x", 0, &t, &path), FTPTIME_BAD);
	assert_int_equal(
	    ftptime_lead("202001020304 x", FTPTIME_MINUTES_OK, &t, &path),
	    FTPTIME_OK);
}

static void
test_utime5(void **state)
{
	struct timespec at, mt;
	size_t plen = 0;
	const char *line =
	    "my file 20190101000000 20200102030405 20190101000000 UTC";

	(void)state;
	assert_int_equal(ftptime_utime5(line, &at, &mt, &plen), FTPTIME_OK);
	assert_int_equal(plen, 7);
	assert_int_equal(mt.tv_sec, 1577934245);
	assert_int_equal(at.tv_sec, 1546300800);
	assert_int_equal(ftptime_utime5("x 201901010000 202001020304 "
	                                "201901010000 utc",
	                     &at, &mt, &plen),
	    FTPTIME_OK);
	assert_int_equal(plen, 1);
	assert_int_equal(mt.tv_sec, 1577934240);
	/* Not this form: the two-argument one, or no path. */
	assert_int_equal(
	    ftptime_utime5("20200102030405 my file", &at, &mt, &plen),
	    FTPTIME_NOT_A_TIME);
	assert_int_equal(ftptime_utime5("20190101000000 20200102030405 "
	                                "20190101000000 UTC",
	                     &at, &mt, &plen),
	    FTPTIME_NOT_A_TIME);
	assert_int_equal(
	    ftptime_utime5("f 1 2 3 UTC", &at, &mt, &plen), FTPTIME_NOT_A_TIME);
	assert_int_equal(ftptime_utime5("f 20190101000000 20200102030405 "
	                                "20190101000000 CET",
	                     &at, &mt, &plen),
	    FTPTIME_NOT_A_TIME);
	/* Shaped like it, but a bad date. */
	assert_int_equal(ftptime_utime5("f 20190101000000 20201302030405 "
	                                "20190101000000 UTC",
	                     &at, &mt, &plen),
	    FTPTIME_BAD);
}

static void
test_format(void **state)
{
	struct timespec t = { 1577934245, 0 };
	char out[24];

	(void)state;
	assert_int_equal(ftptime_format(&t, out, sizeof(out)), 0);
	assert_string_equal(out, "20200102030405");
	t.tv_nsec = 250000000;
	assert_int_equal(ftptime_format(&t, out, sizeof(out)), 0);
	assert_string_equal(out, "20200102030405.250");
	/* No room for the fraction: whole seconds. */
	assert_int_equal(ftptime_format(&t, out, 15), 0);
	assert_string_equal(out, "20200102030405");
	assert_int_equal(ftptime_format(&t, out, 14), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_invalid),
		cmocka_unit_test(test_lead),
		cmocka_unit_test(test_utime5),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
