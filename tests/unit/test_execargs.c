/*
 * test_execargs.c - the args list of exec: targets (common/execargs.h).
 *
 * Blanks split items outside double quotes only; quotes may cover part
 * of an item; a backslash escapes only '"' and '\'; placeholders expand
 * inside an item to exactly the value (never split, never expanded
 * again: a path holding "%u" or blanks stays as it is); every malformed
 * list is refused with a reason, never half-used.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/execargs.h"

#include <stdio.h>
#include <string.h>

struct collected {
	char items[40][256];
	size_t n;
	const struct execargs_values *v; /* NULL: keep unexpanded */
};

static int
collect(void *ctx, const char *item, size_t len, const char **why)
{
	struct collected *c = ctx;
	struct buf out;
	int rc = 0;

	assert_true(c->n < 40);
	assert_int_equal(strlen(item), len);
	if (c->v == NULL) {
		snprintf(c->items[c->n++], sizeof(c->items[0]), "%s", item);
		return 0;
	}
	buf_init(&out, 255);
	rc = execargs_expand(item, len, c->v, &out, why);
	if (rc == 0)
		snprintf(
		    c->items[c->n++], sizeof(c->items[0]), "%s", buf_str(&out));
	buf_free(&out);
	return rc;
}

static int
split(const char *list, struct collected *c, const char **why)
{
	struct buf scratch;
	int rc;

	buf_init(&scratch, EXECARGS_ITEM_MAX);
	c->n = 0;
	rc = execargs_split(list, &scratch, collect, c, why);
	buf_free(&scratch);
	return rc;
}

static void
test_split_and_quotes(void **state)
{
	struct collected c = { .v = NULL };
	const char *why = "x";

	(void)state;
	assert_int_equal(
	    split(
	        "  a\t\"b c\" --n=\"x y\"z \"\" q\\\"r \"s\\\\t\"  ", &c, &why),
	    0);
	assert_null(why);
	assert_int_equal(c.n, 6);
	assert_string_equal(c.items[0], "a");
	assert_string_equal(c.items[1], "b c");
	assert_string_equal(c.items[2], "--n=x yz");
	assert_string_equal(c.items[3], "");
	assert_string_equal(c.items[4], "q\"r");
	assert_string_equal(c.items[5], "s\\t");
	/* Shell syntax means nothing. */
	assert_int_equal(split("$HOME * ; `x` 'a b'", &c, &why), 0);
	assert_int_equal(c.n, 6);
	assert_string_equal(c.items[0], "$HOME");
	assert_string_equal(c.items[4], "'a");
	assert_string_equal(c.items[5], "b'");
	assert_int_equal(split("", &c, &why), 0);
	assert_int_equal(c.n, 0);
	assert_int_equal(split("   ", &c, &why), 0);
	assert_int_equal(c.n, 0);
}

static void
test_placeholders_are_single_values(void **state)
{
	const struct execargs_values v = { "/d/-a \"b\" %u $x;*", "al ice",
		"12" };
	struct collected c = { .v = &v };
	const char *why = NULL;

	(void)state;
	assert_int_equal(
	    split("%p --u=%u \"%s bytes\" 100%% %%p", &c, &why), 0);
	assert_int_equal(c.n, 5);
	assert_string_equal(c.items[0], "/d/-a \"b\" %u $x;*");
	assert_string_equal(c.items[1], "--u=al ice");
	assert_string_equal(c.items[2], "12 bytes");
	assert_string_equal(c.items[3], "100%");
	assert_string_equal(c.items[4], "%p");
}

static void
test_null_value_is_empty(void **state)
{
	const struct execargs_values v = { "/f", "u", NULL };
	struct collected c = { .v = &v };
	const char *why = NULL;

	(void)state;
	assert_int_equal(split("[%s]", &c, &why), 0);
	assert_string_equal(c.items[0], "[]");
}

static void
test_refused(void **state)
{
	static const char *const bad[] = {
		"\"open",
		"a \"b c",
		"a\\b",
		"\"a\\nb\"",
		"trailing\\",
		"%x",
		"50%",
		"%P",
	};
	const char *why;
	char many[200] = "";

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		assert_int_equal(execargs_check(bad[i], &why), -1);
		assert_non_null(why);
	}
	for (int i = 0; i < EXECARGS_MAX; i++)
		memcpy(many + 2 * i, "a ", 3);
	assert_int_equal(execargs_check(many, &why), 0);
	memcpy(many + 2 * EXECARGS_MAX, "b", 2);
	assert_int_equal(execargs_check(many, &why), -1);
	assert_string_equal(why, "more than 32 items");
}

static void
test_expanded_too_long_is_refused(void **state)
{
	char path[300];
	const struct execargs_values v = { path, "u", "1" };
	struct buf out;
	const char *why = NULL;

	(void)state;
	memset(path, 'p', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	buf_init(&out, 100);
	assert_int_equal(execargs_expand("x%p", 3, &v, &out, &why), -1);
	assert_non_null(why);
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_and_quotes),
		cmocka_unit_test(test_placeholders_are_single_values),
		cmocka_unit_test(test_null_value_is_empty),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_expanded_too_long_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
