/*
 * test_pathnorm.c - the traversal battery for path_normalize (pathnorm.h).
 *
 * Covers ".." in every position (it must never climb above "/"), repeated
 * and trailing slashes, "." components, relative against absolute arguments,
 * every refusal (component or total too long, output buffer too small, too
 * deep, NUL/CR/LF, upload-partial names), UTF-8 and odd bytes passing
 * through unchanged, path_rel, path_leaf and path_is_partial_name, and a
 * deterministic fuzz loop that checks the output invariants against a
 * separate reference normaliser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/limits.h"
#include "common/pathnorm.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every successful result: absolute, no empty, "." or ".." component, no
 * trailing slash (except "/" itself), and NUL-terminated within the cap. */
static void
check_invariants(const char *p)
{
	size_t n = strlen(p);

	if (p[0] != '/')
		fail_msg("'%s' is not absolute", p);
	if (n >= RFTP_PATH_MAX)
		fail_msg("result of %zu bytes is over the cap", n);
	if (strstr(p, "//") != NULL || strstr(p, "/./") != NULL ||
	    strstr(p, "/../") != NULL)
		fail_msg("'%s' has an empty, '.' or '..' component", p);
	if (n > 1 && p[n - 1] == '/')
		fail_msg("'%s' ends with a slash", p);
	if ((n >= 2 && strcmp(p + n - 2, "/.") == 0) ||
	    (n >= 3 && strcmp(p + n - 3, "/..") == 0))
		fail_msg("'%s' ends with a '.' or '..' component", p);
}

static void
expect_ok(const char *cwd, const char *arg, const char *want)
{
	char out[RFTP_PATH_MAX];
	enum path_err err;

	err = path_normalize(cwd, arg, strlen(arg), out, sizeof(out));
	if (err != PATH_OK)
		fail_msg("normalize('%s', '%s') refused: %s", cwd, arg,
		    path_strerror(err));
	check_invariants(out);
	if (strcmp(out, want) != 0)
		fail_msg("normalize('%s', '%s') = '%s', want '%s'", cwd, arg,
		    out, want);
}

static void
expect_err(const char *cwd, const char *arg, size_t arglen, enum path_err want)
{
	char out[RFTP_PATH_MAX];
	enum path_err err;

	err = path_normalize(cwd, arg, arglen, out, sizeof(out));
	if (err != want)
		fail_msg("normalize('%s', '%.*s'...) = %d (%s), want %d (%s)",
		    cwd, (int)(arglen > 60 ? 60 : arglen), arg, (int)err,
		    path_strerror(err), (int)want, path_strerror(want));
}

/* A string of n copies of c (caller frees). */
static char *
repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* "/NAME/NAME..." with count components, or "NAME/NAME..." if !abs. */
static char *
components(const char *name, size_t count, int abs)
{
	size_t nlen = strlen(name), len = 0;
	char *s = malloc(count * (nlen + 1) + 2);

	assert_non_null(s);
	for (size_t i = 0; i < count; i++) {
		if (abs || i > 0)
			s[len++] = '/';
		memcpy(s + len, name, nlen);
		len += nlen;
	}
	if (count == 0 && abs)
		s[len++] = '/';
	s[len] = '\0';
	return s;
}

struct case3 {
	const char *cwd, *arg, *want;
};

static void
run_cases(const struct case3 *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		expect_ok(c[i].cwd, c[i].arg, c[i].want);
}

static void
test_dotdot_positions(void **state)
{
	static const struct case3 cases[] = {
		/* leading */
		{ "/", "..", "/" },
		{ "/", "../a", "/a" },
		{ "/", "/../a", "/a" },
		{ "/a", "../b", "/b" },
		{ "/", "../../../etc/passwd", "/etc/passwd" },
		{ "/home/u", "../../../../etc/passwd", "/etc/passwd" },
		/* middle */
		{ "/", "a/../b", "/b" },
		{ "/", "a/b/../c", "/a/c" },
		{ "/", "a/../../b", "/b" },
		{ "/x", "a/../../b", "/b" },
		{ "/x/y", "a/../../../../b", "/b" },
		{ "/a", "../a/../a/b", "/a/b" },
		/* trailing */
		{ "/", "a/..", "/" },
		{ "/", "a/b/..", "/a" },
		{ "/", "a/b/../", "/a" },
		{ "/a/b", "..", "/a" },
		{ "/a/b", "../", "/a" },
		/* repeated */
		{ "/", "../..", "/" },
		{ "/", "../../..", "/" },
		{ "/a/b", "../..", "/" },
		{ "/a/b", "../../..", "/" },
		{ "/a/b", "/../../..", "/" },
		{ "/a", "b/../c/../..", "/" },
		{ "/a/b/c", "../../../../../../../x/../y", "/y" },
		/* not ".." at all: ordinary names */
		{ "/", "..a", "/..a" },
		{ "/", "a..", "/a.." },
		{ "/", "...", "/..." },
		{ "/", "a/.../b", "/a/.../b" },
		{ "/", ". .", "/. ." },
	};

	(void)state;
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* "../" far more times than the cwd is deep still lands on "/". */
static void
test_dotdot_from_deep_cwd(void **state)
{
	char *cwd = components("d", 200, 1);
	char *ups = components("..", 250, 0);
	char *arg = malloc(strlen(ups) + 16);
	char *want = components("d", 150, 1);

	(void)state;
	assert_non_null(arg);
	expect_ok(cwd, ups, "/");
	snprintf(arg, strlen(ups) + 16, "%s/x", ups);
	expect_ok(cwd, arg, "/x");
	/* exactly as many ".." as components, then one more */
	free(ups);
	ups = components("..", 200, 0);
	expect_ok(cwd, ups, "/");
	free(ups);
	ups = components("..", 50, 0);
	expect_ok(cwd, ups, want);
	free(ups);
	free(arg);
	free(want);
	free(cwd);
}

static void
test_slashes(void **state)
{
	static const struct case3 cases[] = {
		{ "/", "/", "/" },
		{ "/", "//", "/" },
		{ "/", "///", "/" },
		{ "/a", "//", "/" },
		{ "/a", "///", "/" },
		{ "/", "a//b", "/a/b" },
		{ "/", "a///b", "/a/b" },
		{ "/", "//a", "/a" },
		{ "/x", "//a", "/a" },
		{ "/x", "///a//b///", "/a/b" },
		{ "/", "a/", "/a" },
		{ "/", "a//", "/a" },
		{ "/x", "a/b///", "/x/a/b" },
		{ "/x/y", "a/", "/x/y/a" },
	};

	(void)state;
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void
test_dot_components(void **state)
{
	static const struct case3 cases[] = {
		{ "/", ".", "/" },
		{ "/a", ".", "/a" },
		{ "/a", "./", "/a" },
		{ "/a", "./b", "/a/b" },
		{ "/", "a/./b/.", "/a/b" },
		{ "/", "./././", "/" },
		{ "/a", "/./.", "/" },
		{ "/a/b", "./../.", "/a" },
		{ "/", "a/./../b/./", "/b" },
	};

	(void)state;
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void
test_relative_and_absolute(void **state)
{
	static const struct case3 cases[] = {
		{ "/", "", "/" },
		{ "/a/b", "", "/a/b" },
		{ "/", "c", "/c" },
		{ "/a/b", "c", "/a/b/c" },
		{ "/a/b", "c/d", "/a/b/c/d" },
		{ "/a/b", "/c", "/c" },
		{ "/a/b", "/", "/" },
		{ "/a/b", "/a/b", "/a/b" },
		{ "/deep/er/still", "/top", "/top" },
	};

	(void)state;
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* NAME_MAX (255) bytes per component, checked in the argument and cwd. */
static void
test_component_too_long(void **state)
{
	char *name255 = repeat('n', NAME_MAX);
	char *name256 = repeat('n', NAME_MAX + 1);
	char want[NAME_MAX + 8];
	char arg[2 * NAME_MAX + 16];
	char cwd[NAME_MAX + 8];

	(void)state;
	snprintf(want, sizeof(want), "/%s", name255);
	expect_ok("/", name255, want);
	expect_err("/", name256, strlen(name256), PATH_ETOOLONG);
	snprintf(arg, sizeof(arg), "a/%s/b", name256);
	expect_err("/", arg, strlen(arg), PATH_ETOOLONG);
	/* a too-long name that ".." would remove is still refused */
	snprintf(arg, sizeof(arg), "%s/..", name256);
	expect_err("/", arg, strlen(arg), PATH_ETOOLONG);
	snprintf(cwd, sizeof(cwd), "/%s", name256);
	expect_err(cwd, "x", 1, PATH_ETOOLONG);
	free(name255);
	free(name256);
}

/* The argument over RFTP_PATH_MAX, and a result that does not fit an
 * RFTP_PATH_MAX buffer (what session.c passes). */
static void
test_total_too_long(void **state)
{
	char *name255 = repeat('n', NAME_MAX);
	char *name254 = repeat('m', NAME_MAX - 1);
	char *cwd15 = components(name255, 15, 1);         /* 15 * 256 = 3840 */
	char *longarg = components("abcdefghij", 400, 1); /* 4400 bytes */
	char *want = malloc(RFTP_PATH_MAX + 8);
	char arg[NAME_MAX + 8];

	(void)state;
	assert_non_null(want);
	assert_true(strlen(longarg) > RFTP_PATH_MAX);
	expect_err("/", longarg, strlen(longarg), PATH_ETOOLONG);
	longarg[RFTP_PATH_MAX + 1] = '\0';
	expect_err("/", longarg, strlen(longarg), PATH_ETOOLONG);

	/* 3840 + 1 + 254 = 4095 bytes + NUL: exactly fits */
	snprintf(want, RFTP_PATH_MAX + 8, "%s/%s", cwd15, name254);
	assert_int_equal(strlen(want), RFTP_PATH_MAX - 1);
	expect_ok(cwd15, name254, want);
	/* one byte more does not */
	snprintf(arg, sizeof(arg), "%sx", name254);
	expect_err(cwd15, arg, strlen(arg), PATH_ETOOLONG);
	snprintf(arg, sizeof(arg), "a/%s", name254);
	expect_err(cwd15, arg, strlen(arg), PATH_ETOOLONG);

	free(name255);
	free(name254);
	free(cwd15);
	free(longarg);
	free(want);
}

/* outlen smaller than the result: refused, and nothing written past it. */
static void
test_small_output_buffer(void **state)
{
	char buf[32];
	size_t outlen;

	(void)state;
	assert_int_equal(path_normalize("/", "", 0, buf, 0), PATH_ETOOLONG);
	assert_int_equal(path_normalize("/", "", 0, buf, 1), PATH_ETOOLONG);
	assert_int_equal(path_normalize("/", "/", 1, buf, 2), PATH_OK);
	assert_string_equal(buf, "/");
	assert_int_equal(path_normalize("/", "a", 1, buf, 2), PATH_ETOOLONG);
	assert_int_equal(path_normalize("/", "a", 1, buf, 3), PATH_OK);
	assert_string_equal(buf, "/a");
	assert_int_equal(path_normalize("/", "/abc", 4, buf, 5), PATH_OK);
	assert_string_equal(buf, "/abc");

	for (outlen = 0; outlen < 14; outlen++) {
		enum path_err err;

		memset(buf, 0x5a, sizeof(buf));
		err = path_normalize("/dir", "sub/file", 8, buf, outlen);
		/* "/dir/sub/file" needs 14 bytes */
		assert_int_equal(err, PATH_ETOOLONG);
		for (size_t i = outlen; i < sizeof(buf); i++)
			if (buf[i] != 0x5a)
				fail_msg("outlen %zu: byte %zu overwritten",
				    outlen, i);
	}
	assert_int_equal(
	    path_normalize("/dir", "sub/file", 8, buf, 14), PATH_OK);
	assert_string_equal(buf, "/dir/sub/file");
}

static void
test_depth(void **state)
{
	char *ok = components("a", RFTP_PATH_DEPTH_MAX, 0);
	char *deep = components("a", RFTP_PATH_DEPTH_MAX + 1, 0);
	char *cwd = components("c", 200, 1);
	char *rest = components("a", RFTP_PATH_DEPTH_MAX - 200 + 1, 0);
	char *fits = components("a", RFTP_PATH_DEPTH_MAX - 200, 0);
	char *updown = malloc(5 * 800 + 1);
	char *want = components("a", RFTP_PATH_DEPTH_MAX, 1);

	(void)state;
	assert_non_null(updown);
	expect_ok("/", ok, want);
	expect_err("/", deep, strlen(deep), PATH_EDEEP);
	expect_err("/", want, strlen(want), PATH_OK);
	/* the depth counts the cwd's components too */
	expect_err(cwd, rest, strlen(rest), PATH_EDEEP);
	expect_err(cwd, fits, strlen(fits), PATH_OK);
	/* going up and down never accumulates depth */
	for (size_t i = 0; i < 800; i++)
		memcpy(updown + 5 * i, "a/../", 5);
	updown[5 * 800] = '\0';
	expect_ok("/", updown, "/");
	expect_ok(cwd, updown, cwd);
	free(ok);
	free(deep);
	free(cwd);
	free(rest);
	free(fits);
	free(updown);
	free(want);
}

static void
test_bad_chars(void **state)
{
	char out[64];

	(void)state;
	expect_err("/", "a\0b", 3, PATH_EBADCHAR);
	expect_err("/", "\0", 1, PATH_EBADCHAR);
	expect_err("/", "abc\0", 4, PATH_EBADCHAR);
	expect_err("/", "../\0../etc", 10, PATH_EBADCHAR);
	expect_err("/", "a\rb", 3, PATH_EBADCHAR);
	expect_err("/", "a\nb", 3, PATH_EBADCHAR);
	expect_err("/", "\r", 1, PATH_EBADCHAR);
	expect_err("/", "\n", 1, PATH_EBADCHAR);
	expect_err("/", "file\r\n", 6, PATH_EBADCHAR);
	expect_err("/a", "x/y\n/..", 7, PATH_EBADCHAR);
	/* arglen is the whole story: bytes after it are not looked at */
	assert_int_equal(
	    path_normalize("/", "abc\nxyz", 3, out, sizeof(out)), PATH_OK);
	assert_string_equal(out, "/abc");
	assert_int_equal(
	    path_normalize("/", "ab\0", 2, out, sizeof(out)), PATH_OK);
	assert_string_equal(out, "/ab");
}

static void
test_reserved_partial(void **state)
{
	static const char *const refused[] = {
		".rftpd-partial.x",
		".rftpd-partial.",
		"/.rftpd-partial.x",
		"a/.rftpd-partial.x",
		"a/.rftpd-partial.x/b",
		"./.rftpd-partial.file.txt",
		"..//.rftpd-partial.x",
		/* refused even when a later ".." would remove it */
		".rftpd-partial.x/..",
		"a/.rftpd-partial.x/../..",
	};
	static const struct case3 allowed[] = {
		{ "/", "x.rftpd-partial.y", "/x.rftpd-partial.y" },
		{ "/", ".rftpd-partial", "/.rftpd-partial" },
		{ "/", ".rftpd-partialx", "/.rftpd-partialx" },
		{ "/", "rftpd-partial.x", "/rftpd-partial.x" },
		{ "/", "a/.rftpd-partia", "/a/.rftpd-partia" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		expect_err("/", refused[i], strlen(refused[i]), PATH_ERESERVED);
		expect_err("/some/dir", refused[i], strlen(refused[i]),
		    PATH_ERESERVED);
	}
	/* a cwd naming a partial is refused as well */
	expect_err("/d/.rftpd-partial.x", "f", 1, PATH_ERESERVED);
	run_cases(allowed, sizeof(allowed) / sizeof(allowed[0]));
}

/* No validation of encodings: every byte but NUL, CR and LF is a name byte
 * (backslash included: it is not a separator on Linux). */
static void
test_utf8_and_odd_bytes(void **state)
{
	static const struct case3 cases[] = {
		{ "/", "\xc3\xa9", "/\xc3\xa9" },
		{ "/", "caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac/\xc3\xbc.txt",
		    "/caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac/\xc3\xbc.txt" },
		{ "/\xc3\xa9t\xc3\xa9", "\xf0\x9f\x93\x81",
		    "/\xc3\xa9t\xc3\xa9/\xf0\x9f\x93\x81" },
		{ "/\xc3\xa9", "..", "/" },
		{ "/", "\xff\xfe\x80", "/\xff\xfe\x80" },
		{ "/", "a b/ c /d ", "/a b/ c /d " },
		{ "/", "a\\..\\b", "/a\\..\\b" },
		{ "/", "..\\..\\etc", "/..\\..\\etc" },
		{ "/", "\t", "/\t" },
	};

	(void)state;
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void
test_rel_leaf_partial_name(void **state)
{
	(void)state;
	assert_string_equal(path_rel("/"), ".");
	assert_string_equal(path_rel("/a"), "a");
	assert_string_equal(path_rel("/a/b/c"), "a/b/c");
	assert_string_equal(path_rel("/\xc3\xa9/x"), "\xc3\xa9/x");

	assert_string_equal(path_leaf("/"), "");
	assert_string_equal(path_leaf("/a"), "a");
	assert_string_equal(path_leaf("/a/b/c.txt"), "c.txt");
	assert_string_equal(path_leaf("/a/\xc3\xa9"), "\xc3\xa9");

	assert_true(path_is_partial_name(".rftpd-partial.x"));
	assert_true(path_is_partial_name(".rftpd-partial."));
	assert_true(path_is_partial_name(".rftpd-partial.a.b.c"));
	assert_false(path_is_partial_name(".rftpd-partial"));
	assert_false(path_is_partial_name("x.rftpd-partial.y"));
	assert_false(path_is_partial_name(""));
	assert_false(path_is_partial_name("."));
	assert_false(path_is_partial_name("file.txt"));

	/* every refusal has distinct, non-empty text for the client */
	for (int i = PATH_OK; i <= PATH_ERESERVED; i++) {
		const char *a = path_strerror((enum path_err)i);

		assert_non_null(a);
		assert_true(a[0] != '\0');
		for (int j = PATH_OK; j < i; j++)
			assert_string_not_equal(
			    a, path_strerror((enum path_err)j));
	}
}

/* --- fuzz ---------------------------------------------------------------- */

static uint64_t
xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static size_t
rnd(uint64_t *s, size_t n)
{
	return (size_t)(xorshift(s) % n);
}

static void
random_arg(uint64_t *seed, char *buf, size_t buflen)
{
	static const char *const tokens[] = { "..", ".", "/", "a", "\xc3\xa9" };
	size_t ntok = rnd(seed, 25), len = 0;

	for (size_t i = 0; i < ntok; i++) {
		const char *t = tokens[rnd(seed, 5)];
		size_t tl = strlen(t);

		if (len + tl + 1 > buflen)
			break;
		memcpy(buf + len, t, tl);
		len += tl;
	}
	buf[len] = '\0';
}

/* A second, deliberately naive normaliser: collect components in an array,
 * pop on "..", then join. */
static void
ref_normalize(const char *cwd, const char *arg, char *out, size_t outlen)
{
	char all[1024];
	const char *comp[256];
	size_t clen[256], n = 0, len = 0;
	const char *p;

	snprintf(all, sizeof(all), "%s/%s", arg[0] == '/' ? "" : cwd, arg);
	p = all;
	while (*p != '\0') {
		size_t l = strcspn(p, "/");

		if ((l == 1 && p[0] == '.') || l == 0) {
			/* nothing */
		} else if (l == 2 && p[0] == '.' && p[1] == '.') {
			if (n > 0)
				n--;
		} else {
			assert_true(n < 256);
			comp[n] = p;
			clen[n++] = l;
		}
		p += l;
		if (*p == '/')
			p++;
	}
	for (size_t i = 0; i < n; i++) {
		assert_true(len + 1 + clen[i] < outlen);
		out[len++] = '/';
		memcpy(out + len, comp[i], clen[i]);
		len += clen[i];
	}
	if (len == 0)
		out[len++] = '/';
	out[len] = '\0';
}

static void
test_fuzz_invariants(void **state)
{
	static const char *const cwds_fixed[] = { "/", "/a", "/a/\xc3\xa9",
		"/x/y/z/w" };
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	char arg[128], cwd[256], out[RFTP_PATH_MAX], ref[1024],
	    again[RFTP_PATH_MAX];

	(void)state;
	for (int iter = 0; iter < 20000; iter++) {
		enum path_err err;

		/* cwd: a fixed one, or a random argument normalised from "/" */
		if (rnd(&seed, 3) == 0) {
			snprintf(
			    cwd, sizeof(cwd), "%s", cwds_fixed[rnd(&seed, 4)]);
		} else {
			random_arg(&seed, arg, sizeof(arg) - 1);
			assert_int_equal(path_normalize("/", arg, strlen(arg),
			                     cwd, sizeof(cwd)),
			    PATH_OK);
		}
		/* one byte spare for the insertion below */
		random_arg(&seed, arg, sizeof(arg) - 1);
		err = path_normalize(cwd, arg, strlen(arg), out, sizeof(out));
		if (err != PATH_OK)
			fail_msg("iter %d: ('%s', '%s') refused: %s", iter, cwd,
			    arg, path_strerror(err));
		check_invariants(out);
		ref_normalize(cwd, arg, ref, sizeof(ref));
		if (strcmp(out, ref) != 0)
			fail_msg("iter %d: ('%s', '%s') = '%s', reference "
			         "'%s'",
			    iter, cwd, arg, out, ref);
		/* idempotent, and absolute results ignore the cwd */
		assert_int_equal(path_normalize("/q/r", out, strlen(out), again,
		                     sizeof(again)),
		    PATH_OK);
		assert_string_equal(again, out);

		/* the same argument with one forbidden byte is refused */
		if (iter % 10 == 0) {
			static const char bad[] = { '\0', '\r', '\n' };
			size_t len = strlen(arg), at = rnd(&seed, len + 1);

			memmove(arg + at + 1, arg + at, len - at + 1);
			arg[at] = bad[rnd(&seed, 3)];
			assert_int_equal(
			    path_normalize(cwd, arg, len + 1, out, sizeof(out)),
			    PATH_EBADCHAR);
		}
	}
}

/* path_child: a folder's entry joined to it, CR and LF kept (a local
 * program may make such names; the watcher sends them), bounded in length
 * and in depth as path_normalize is. */
static void
test_child(void **state)
{
	char out[RFTP_PATH_MAX], deep[RFTP_PATH_MAX];
	size_t n = 0;

	(void)state;
	assert_int_equal(path_child("/", "a b", out, sizeof(out)), 0);
	assert_string_equal(out, "/a b");
	assert_int_equal(path_child("/d", "n\nl\r", out, sizeof(out)), 0);
	assert_string_equal(out, "/d/n\nl\r");
	assert_int_equal(path_child("/d", "abc", out, 7), 0);
	assert_int_equal(path_child("/d", "abcd", out, 7), -1);
	/* RFTP_PATH_DEPTH_MAX - 1 levels, then one more fits, then none. */
	for (int i = 0; i < RFTP_PATH_DEPTH_MAX - 1; i++) {
		deep[n++] = '/';
		deep[n++] = 'x';
	}
	deep[n] = '\0';
	assert_int_equal(path_child(deep, "y", out, sizeof(out)), 0);
	memcpy(deep, out, strlen(out) + 1);
	assert_int_equal(path_child(deep, "z", out, sizeof(out)), -1);
}

/* A folder's paths follow it at once, each folder before what it holds
 * (sharers.c's sorted homes, mirror.c's rename-out walk rely on it). */
static void
test_cmp_tree(void **state)
{
	(void)state;
	assert_true(path_cmp_tree("/a", "/a/b") < 0);
	assert_true(path_cmp_tree("/a/b", "/a b") < 0);   /* strcmp: > */
	assert_true(path_cmp_tree("/a/b", "/a.old") < 0); /* strcmp: > */
	assert_true(path_cmp_tree("/a.old", "/a/b") > 0);
	assert_int_equal(path_cmp_tree("/a/b", "/a/b"), 0);
	assert_true(path_cmp_tree("/", "/a") < 0);
	assert_true(path_cmp_tree("/\xc3\xa4", "/z") > 0); /* bytes unsigned */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dotdot_positions),
		cmocka_unit_test(test_dotdot_from_deep_cwd),
		cmocka_unit_test(test_slashes),
		cmocka_unit_test(test_dot_components),
		cmocka_unit_test(test_relative_and_absolute),
		cmocka_unit_test(test_component_too_long),
		cmocka_unit_test(test_total_too_long),
		cmocka_unit_test(test_small_output_buffer),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_bad_chars),
		cmocka_unit_test(test_reserved_partial),
		cmocka_unit_test(test_utf8_and_odd_bytes),
		cmocka_unit_test(test_rel_leaf_partial_name),
		cmocka_unit_test(test_fuzz_invariants),
		cmocka_unit_test(test_child),
		cmocka_unit_test(test_cmp_tree),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
