/*
 * test_target_diff.c - the fingerprint of a target's settings
 * (common/target_diff.h) that `mirror status` compares with the one the
 * running daemon stored in the queue.
 *
 * Covers: no secret reaches it (the password key, and a password in the
 * url's userinfo or a webhook token in its query, which are in the queue
 * any reader of it sees); a setting that is not secret still changes it;
 * a url with nothing secret keeps the value it had before secrets were
 * cut from the url, so a daemon started by an older build still reads
 * "pushing".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/fnv.h"
#include "common/limits.h"
#include "common/target_diff.h"

#include <stdio.h>
#include <string.h>

static struct target_config t1;

#define PINNED "c49a62adb06c3483"

static void
fp_of(const char *url, const char *password, char *out)
{
	struct target_config *t = &t1;

	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "p");
	snprintf(t->url, sizeof(t->url), "%s", url);
	snprintf(t->password, sizeof(t->password), "%s", password);
	/* The defaults config_target.c gives a target that sets neither. */
	t->timeout = 60;
	t->min_rate = RFTP_DEFAULT_TARGET_MIN_RATE;
	target_fingerprint(t, out, 17);
}

static void
test_secrets_left_out(void **state)
{
	char a[17], b[17];

	(void)state;
	fp_of("ftp://h/x", "pw-one", a);
	fp_of("ftp://h/x", "pw-two", b);
	assert_string_equal(a, b);
	/* A password in the url's userinfo. */
	fp_of("ftp://u:pw-one@h/x", "", a);
	fp_of("ftp://u:pw-two@h/x", "", b);
	assert_string_equal(a, b);
	/* A webhook's token in the query, or a fragment. */
	fp_of("https://h/hook?token=one", "", a);
	fp_of("https://h/hook?token=two", "", b);
	assert_string_equal(a, b);
	fp_of("https://h/hook#one", "", a);
	fp_of("https://h/hook#two", "", b);
	assert_string_equal(a, b);
	/* An '@' in the password: the userinfo ends at the last '@'. */
	fp_of("sftp://u:p@ss@h/x", "", a);
	fp_of("sftp://u:other@h/x", "", b);
	assert_string_equal(a, b);
}

static void
test_public_settings_count(void **state)
{
	char a[17], b[17];

	(void)state;
	fp_of("ftp://u:pw@h/x", "", a);
	fp_of("ftp://v:pw@h/x", "", b);
	assert_string_not_equal(a, b); /* the user */
	fp_of("ftp://u:pw@h/x", "", a);
	fp_of("ftp://u:pw@g/x", "", b);
	assert_string_not_equal(a, b); /* the host */
	fp_of("https://h/hook?token=one", "", a);
	fp_of("https://h/hook2?token=one", "", b);
	assert_string_not_equal(a, b); /* the path */
	/* min_rate, once it differs from its default. */
	fp_of("ftp://h/x", "", a);
	t1.min_rate = 10;
	target_fingerprint(&t1, b, sizeof(b));
	assert_string_not_equal(a, b);
	/* "u@h" and "u:@h" name the same login. */
	fp_of("ftp://u@h/x", "", a);
	fp_of("ftp://u:@h/x", "", b);
	assert_string_equal(a, b);
}

static void
test_plain_url_value_kept(void **state)
{
	char a[17];

	(void)state;
	/* The value the fingerprint of a149380 gave this target (a url
	 * with nothing secret), pinned: a daemon started by that build
	 * must still read "pushing". */
	fp_of("ftp://h/x", "", a);
	assert_string_equal(a, PINNED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secrets_left_out),
		cmocka_unit_test(test_public_settings_count),
		cmocka_unit_test(test_plain_url_value_kept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
