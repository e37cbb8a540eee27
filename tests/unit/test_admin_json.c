/*
 * test_admin_json.c - the admin listener's JSON writer (admin/json.h).
 *
 * Covers: commas and nesting; RFC 8259 escapes (quote, backslash, every
 * control character, short forms for \n \r \t), '<' '>' '&' as \u00XX;
 * valid UTF-8 passes through untouched; each byte of invalid UTF-8
 * (stray continuation, overlong, surrogate, past U+10FFFF, cut sequence,
 * C0/C1, F5..FF) becomes U+FFFD; an embedded NUL of a counted string is
 * escaped; numbers, booleans, null; times as ISO 8601 UTC or null; the
 * buffer's cap makes the writer fail and stop, never cut silently.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/json.h"

#include <string.h>

#define FFFD "\xEF\xBF\xBD"

/* The JSON text of one string value. */
static void
check_str(const char *in, size_t n, const char *want)
{
	struct buf b;
	struct json j;

	buf_init(&b, 1 << 16);
	json_init(&j, &b);
	json_strn(&j, in, n);
	assert_false(json_failed(&j));
	assert_string_equal(buf_str(&b), want);
	buf_free(&b);
}

#define CHECK(lit, want) check_str(lit, sizeof(lit) - 1, want)

static void
test_escapes(void **state)
{
	(void)state;
	CHECK("plain", "\"plain\"");
	CHECK("a\"b\\c", "\"a\\\"b\\\\c\"");
	CHECK("<script>&", "\"\\u003cscript\\u003e\\u0026\"");
	CHECK("l1\nl2\r\t", "\"l1\\nl2\\r\\t\"");
	CHECK("\x01\x1f\x7f", "\"\\u0001\\u001f\x7f\"");
	CHECK("nul\0in", "\"nul\\u0000in\"");
	CHECK("", "\"\"");
}

static void
test_utf8(void **state)
{
	(void)state;
	/* é, €, U+1F600, U+10FFFF: valid, copied as they are. */
	CHECK("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF",
	    "\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF\"");
	CHECK("\x80", "\"" FFFD "\"");          /* stray continuation */
	CHECK("\xC0\xAF", "\"" FFFD FFFD "\""); /* overlong '/' */
	CHECK("\xE0\x80\xAF", "\"" FFFD FFFD FFFD "\""); /* overlong */
	CHECK("\xED\xA0\x80", "\"" FFFD FFFD FFFD "\""); /* surrogate */
	CHECK("\xF4\x90\x80\x80",
	    "\"" FFFD FFFD FFFD FFFD "\"");       /* past U+10FFFF */
	CHECK("a\xE2\x82", "\"a" FFFD FFFD "\""); /* cut at the end */
	CHECK("\xE2\x82x", "\"" FFFD FFFD "x\""); /* cut in the middle */
	CHECK("\xFF\xF5\xC1", "\"" FFFD FFFD FFFD "\"");
	/* A bad byte before a quote: both handled. */
	CHECK("\xFF\"", "\"" FFFD "\\\"\"");
}

static void
test_structure(void **state)
{
	struct buf b;
	struct json j;

	(void)state;
	buf_init(&b, 4096);
	json_init(&j, &b);
	json_obj(&j);
	json_key(&j, "a");
	json_i64(&j, -5);
	json_key(&j, "b");
	json_arr(&j);
	json_u64(&j, UINT64_MAX);
	json_bool(&j, 1);
	json_bool(&j, 0);
	json_null(&j);
	json_obj(&j);
	json_obj_end(&j);
	json_arr(&j);
	json_arr_end(&j);
	json_arr_end(&j);
	json_key(&j, "t");
	json_time(&j, 1796130000123LL);
	json_key(&j, "never");
	json_time(&j, 0);
	json_key(&j, "k\"");
	json_str(&j, "v");
	json_obj_end(&j);
	assert_false(json_failed(&j));
	assert_string_equal(buf_str(&b),
	    "{\"a\":-5,\"b\":[18446744073709551615,true,false,null,{},[]],"
	    "\"t\":\"2026-12-01T13:00:00Z\",\"never\":null,\"k\\\"\":\"v\"}");
	buf_free(&b);
}

static void
test_cap(void **state)
{
	struct buf b;
	struct json j;

	(void)state;
	buf_init(&b, 10);
	json_init(&j, &b);
	json_arr(&j);
	json_str(&j, "0123456789");
	assert_true(json_failed(&j));
	/* Stays failed; later small values do not sneak in. */
	json_i64(&j, 1);
	json_arr_end(&j);
	assert_true(json_failed(&j));
	assert_true(b.len <= 10);
	buf_free(&b);
}

static void
test_depth(void **state)
{
	struct buf b;
	struct json j;

	(void)state;
	buf_init(&b, 4096);
	json_init(&j, &b);
	for (int i = 0; i < JSON_DEPTH_MAX + 2; i++)
		json_arr(&j);
	assert_true(json_failed(&j));
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_structure),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_depth),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
