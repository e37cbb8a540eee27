/*
 * test_quote.c - quote commands for CURLOPT_QUOTE (mirror/quote.h).
 *
 * Every hostile name (quotes, backslashes, a trailing backslash, spaces,
 * leading '-' and '*', '%', '~', tabs, UTF-8, and the injection
 * `x" /abs/path /f`) is built into SFTP "rm" and "rename" commands and read
 * back with a model of libcurl 7.88's reader (lib/curl_path.c,
 * Curl_get_pathname, written here from its documented rules): the command
 * must yield exactly the verb and the same paths, nothing more. FTP
 * commands carry the name verbatim and refuse CR/LF; an output buffer one
 * byte short fails whole (never a shorter path).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mirror/quote.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const hostile[] = {
	"plain.txt",
	"x\" /etc/passwd /f",
	"x\" \"/root/.ssh/authorized_keys",
	"\"",
	"\"\"",
	"a\"b\"c",
	"back\\slash",
	"ends-in-backslash\\",
	"\\\\double",
	"\\\"",
	"with space",
	" leading space",
	"trailing space ",
	"-rf",
	"--help",
	"*",
	"*rm",
	"100%",
	"%2F%22",
	"/~/home",
	"tab\there",
	"it's",
	"'single'",
	"caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x93\x81",
	"semi;colon|pipe&amp$(x)`y`",
	"new\nline",
	"carriage\rreturn",
};

#define NHOSTILE (sizeof(hostile) / sizeof(hostile[0]))

/*
 * libcurl's SFTP quote reader, as documented: skip blanks; a quoted
 * argument runs to the matching quote, '\' escapes only '"', '\'' and '\';
 * an unquoted one runs to white space. Returns a malloc'd argument and
 * advances *pp, or NULL on a syntax error.
 */
static char *
read_arg(const char **pp)
{
	const char *p = *pp;
	char *out, q;
	size_t j = 0;

	p += strspn(p, " \t\r\n");
	if (*p == '\0')
		return NULL;
	out = calloc(1, strlen(p) + 1);
	assert_non_null(out);
	if (*p == '"' || *p == '\'') {
		q = *p++;
		for (;;) {
			if (*p == '\0') {
				free(out);
				return NULL; /* unterminated */
			}
			if (*p == q) {
				p++;
				break;
			}
			if (*p == '\\') {
				p++;
				if (*p != '"' && *p != '\'' && *p != '\\') {
					free(out);
					return NULL;
				}
			}
			out[j++] = *p++;
		}
		if (j == 0) {
			free(out);
			return NULL;
		}
	} else {
		size_t n = strcspn(p, " \t\r\n");

		memcpy(out, p, n);
		p += n;
	}
	*pp = p + strspn(p, " \t\r\n");
	return out;
}

/* Builds VERB a [b] for SFTP and reads it back: the same verb, a, b and
 * nothing after them. */
static void
roundtrip_sftp(const char *verb, const char *a, const char *b)
{
	char cmd[4096];
	const char *p;
	char *got;

	assert_int_equal(
	    quote_command(cmd, sizeof(cmd), QUOTE_SFTP, verb, a, b), QUOTE_OK);
	/* libcurl finds the arguments after the first space. */
	p = strchr(cmd, ' ');
	assert_non_null(p);
	assert_int_equal((size_t)(p - cmd), strlen(verb));
	assert_memory_equal(cmd, verb, strlen(verb));
	got = read_arg(&p);
	if (got == NULL || strcmp(got, a) != 0)
		fail_msg("%s: first path of [%s] read as [%s], want [%s]", verb,
		    cmd, got ? got : "(error)", a);
	free(got);
	if (b != NULL) {
		got = read_arg(&p);
		if (got == NULL || strcmp(got, b) != 0)
			fail_msg("%s: second path of [%s] read as [%s], want "
			         "[%s]",
			    verb, cmd, got ? got : "(error)", b);
		free(got);
	}
	if (*p != '\0')
		fail_msg("[%s]: left over after the paths: [%s]", cmd, p);
}

static void
test_sftp_hostile_names_roundtrip(void **state)
{
	char a[512], b[512];

	(void)state;
	for (size_t i = 0; i < NHOSTILE; i++) {
		snprintf(a, sizeof(a), "/srv/base/alice/%s", hostile[i]);
		roundtrip_sftp("*rm", a, NULL);
		roundtrip_sftp("rm", hostile[i], NULL);
		for (size_t k = 0; k < NHOSTILE; k++) {
			snprintf(
			    b, sizeof(b), "/srv/base/alice/d/%s", hostile[k]);
			roundtrip_sftp("rename", a, b);
			roundtrip_sftp("rename", hostile[i], hostile[k]);
		}
	}
}

static void
test_sftp_exact_text(void **state)
{
	char cmd[256];

	(void)state;
	assert_int_equal(quote_command(cmd, sizeof(cmd), QUOTE_SFTP, "rename",
	                     "/b/x\" /abs /f", "/b/y"),
	    QUOTE_OK);
	assert_string_equal(cmd, "rename \"/b/x\\\" /abs /f\" \"/b/y\"");
	assert_int_equal(quote_command(cmd, sizeof(cmd), QUOTE_SFTP, "*rm",
	                     "/b/end\\", NULL),
	    QUOTE_OK);
	assert_string_equal(cmd, "*rm \"/b/end\\\\\"");
	/* A date argument (SFTP "mtime DATE PATH") is quoted the same way. */
	assert_int_equal(quote_command(cmd, sizeof(cmd), QUOTE_SFTP, "mtime",
	                     "20240102 03:04:05 GMT", "/b/-f"),
	    QUOTE_OK);
	assert_string_equal(cmd, "mtime \"20240102 03:04:05 GMT\" \"/b/-f\"");
}

static void
test_sftp_refuses_empty(void **state)
{
	char cmd[64];

	(void)state;
	assert_int_equal(
	    quote_command(cmd, sizeof(cmd), QUOTE_SFTP, "rm", "", NULL),
	    QUOTE_UNSAYABLE);
	assert_string_equal(cmd, "");
	assert_int_equal(
	    quote_command(cmd, sizeof(cmd), QUOTE_SFTP, "rename", "/a", ""),
	    QUOTE_UNSAYABLE);
	assert_string_equal(cmd, "");
}

static void
test_ftp_names_verbatim(void **state)
{
	char cmd[1024], want[1024];

	(void)state;
	for (size_t i = 0; i < NHOSTILE; i++) {
		enum quote_rc rc;

		snprintf(want, sizeof(want), "/home/m/%s", hostile[i]);
		rc = quote_command(
		    cmd, sizeof(cmd), QUOTE_FTP, "RNFR", want, NULL);
		if (strpbrk(hostile[i], "\r\n") != NULL) {
			assert_int_equal(rc, QUOTE_UNSAYABLE);
			assert_string_equal(cmd, "");
			continue;
		}
		assert_int_equal(rc, QUOTE_OK);
		/* RFC 959: the argument is everything after "RNFR ". */
		assert_memory_equal(cmd, "RNFR ", 5);
		assert_string_equal(cmd + 5, want);
	}
}

static void
test_ftp_refuses_crlf_and_ambiguity(void **state)
{
	char cmd[256];

	(void)state;
	assert_int_equal(quote_command(cmd, sizeof(cmd), QUOTE_FTP, "*DELE",
	                     "/a\r\nDELE /important", NULL),
	    QUOTE_UNSAYABLE);
	assert_string_equal(cmd, "");
	assert_int_equal(
	    quote_command(cmd, sizeof(cmd), QUOTE_FTP, "*DELE", "/a\n", NULL),
	    QUOTE_UNSAYABLE);
	assert_int_equal(
	    quote_command(cmd, sizeof(cmd), QUOTE_FTP, "DELE", "", NULL),
	    QUOTE_UNSAYABLE);
	/* Two arguments: the first must not contain the separator. */
	assert_int_equal(quote_command(cmd, sizeof(cmd), QUOTE_FTP, "MFMT",
	                     "2024 0101", "/f"),
	    QUOTE_UNSAYABLE);
	assert_int_equal(quote_command(cmd, sizeof(cmd), QUOTE_FTP, "MFMT",
	                     "20240101000000", "/a b"),
	    QUOTE_OK);
	assert_string_equal(cmd, "MFMT 20240101000000 /a b");
}

/* Exactly enough room succeeds; one byte less fails whole. */
static void
test_truncation_is_an_error(void **state)
{
	const char *names[] = { "/b/x\" /abs /f", "/b/\\\\\\", "/b/plain" };
	char big[256];

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		for (int proto = 0; proto < 2; proto++) {
			enum quote_proto p = proto ? QUOTE_SFTP : QUOTE_FTP;
			size_t need;
			char *tight;

			assert_int_equal(quote_command(big, sizeof(big), p,
			                     "RNTO", names[i], NULL),
			    QUOTE_OK);
			need = strlen(big) + 1;
			tight = malloc(need);
			assert_non_null(tight);
			assert_int_equal(quote_command(tight, need, p, "RNTO",
			                     names[i], NULL),
			    QUOTE_OK);
			assert_string_equal(tight, big);
			for (size_t short_by = 1; short_by < need; short_by++) {
				memset(tight, 'Z', need);
				assert_int_equal(
				    quote_command(tight, need - short_by, p,
				        "RNTO", names[i], NULL),
				    QUOTE_TOO_LONG);
				assert_string_equal(tight, "");
				/* Nothing written past the given length. */
				for (size_t k = need - short_by; k < need; k++)
					assert_int_equal(tight[k], 'Z');
			}
			free(tight);
		}
	}
	assert_int_equal(quote_command(big, 0, QUOTE_SFTP, "rm", "/a", NULL),
	    QUOTE_TOO_LONG);
}

static void
test_strerror(void **state)
{
	(void)state;
	assert_non_null(strstr(quote_strerror(QUOTE_TOO_LONG), "too long"));
	assert_non_null(strstr(quote_strerror(QUOTE_UNSAYABLE), "CR or LF"));
}

/* Each way to set a time, byte for byte; a cut command fails whole. */
static void
test_time_commands(void **state)
{
	const char *when = "20240102030405";
	char out[128];

	(void)state;
	assert_int_equal(
	    quote_time_command(out, sizeof(out), TM_MFMT, when, "/d/a b.txt"),
	    QUOTE_OK);
	assert_string_equal(out, "MFMT 20240102030405 /d/a b.txt");
	assert_int_equal(
	    quote_time_command(out, sizeof(out), TM_MDTM, when, "/f"),
	    QUOTE_OK);
	assert_string_equal(out, "MDTM 20240102030405 /f");
	assert_int_equal(
	    quote_time_command(out, sizeof(out), TM_SITE_UTIME, when, "/a b"),
	    QUOTE_OK);
	assert_string_equal(out,
	    "SITE UTIME /a b 20240102030405 "
	    "20240102030405 20240102030405 UTC");
	assert_int_equal(
	    quote_time_command(out, sizeof(out), TM_SFTP, when, "/x\"y"),
	    QUOTE_OK);
	assert_string_equal(
	    out, "mtime \"20240102 03:04:05 +0000\" \"/x\\\"y\"");
	/* SITE UTIME: the name fits, the times after it do not. */
	assert_int_equal(quote_time_command(out, 30, TM_SITE_UTIME, when, "/f"),
	    QUOTE_TOO_LONG);
	assert_string_equal(out, "");
	assert_int_equal(
	    quote_time_command(out, sizeof(out), TM_MFMT, when, NULL),
	    QUOTE_TOO_LONG);
	assert_int_equal(
	    quote_time_command(out, sizeof(out), TM_MFMT, "2024", "/f"),
	    QUOTE_UNSAYABLE);
	assert_int_equal(
	    quote_time_command(out, sizeof(out), TM_NONE, when, "/f"),
	    QUOTE_UNSAYABLE);
	assert_int_equal(quote_time_command(
	                     out, sizeof(out), TM_MFMT, when, "/a\r\nDELE /b"),
	    QUOTE_UNSAYABLE);
	assert_string_equal(out, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sftp_hostile_names_roundtrip),
		cmocka_unit_test(test_sftp_exact_text),
		cmocka_unit_test(test_sftp_refuses_empty),
		cmocka_unit_test(test_ftp_names_verbatim),
		cmocka_unit_test(test_ftp_refuses_crlf_and_ambiguity),
		cmocka_unit_test(test_truncation_is_an_error),
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_time_commands),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
