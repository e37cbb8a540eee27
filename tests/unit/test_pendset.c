/*
 * test_pendset.c - the watcher's set of files waiting for their quiet time
 * (mirror/pendset.h).
 *
 * Many entries across users (the same path under two users is two
 * entries), hostile paths, removals from every position that must keep
 * every other entry findable (backward-shift deletion), compared with a
 * plain array model after each step; and both caps: entries and bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mirror/pendset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 5000

static void
path_of(size_t i, char *out, size_t outlen)
{
	static const char *const shapes[] = { "/f", "/a\"b/", "/back\\slash/",
		"/%s%n/", "/-rf ", "/caf\xc3\xa9/" };

	snprintf(out, outlen, "%s%zu", shapes[i % 6], i / 6);
}

static void
check_all(const struct pendset *s, const unsigned char *in)
{
	char path[64];

	for (size_t i = 0; i < N; i++) {
		struct pend_entry *e;

		path_of(i, path, sizeof(path));
		e = pendset_find(s, i % 3, path);
		if (!in[i]) {
			assert_null(e);
			continue;
		}
		assert_non_null(e);
		assert_string_equal(e->vpath, path);
		assert_int_equal(e->user, i % 3);
		assert_int_equal(e->due_ms, (int64_t)i);
	}
}

static void
test_add_find_remove(void **state)
{
	static unsigned char in[N];
	struct pendset s;
	char path[64];
	size_t count = 0;

	(void)state;
	memset(&s, 0, sizeof(s));
	memset(in, 0, sizeof(in));
	assert_null(pendset_find(&s, 0, "/f0"));
	for (size_t i = 0; i < N; i++) {
		path_of(i, path, sizeof(path));
		assert_int_equal(
		    pendset_add(&s, i % 3, path, (int64_t)i, N, SIZE_MAX), 0);
		in[i] = 1;
		count++;
	}
	assert_int_equal(s.n, count);
	check_all(&s, in);
	/* The same path under another user is another entry. */
	path_of(0, path, sizeof(path));
	assert_null(pendset_find(&s, 1, path));
	/* Remove from the front, the back and the middle, in turns. */
	for (size_t round = 0; s.n > 0; round++) {
		size_t k = round % 3 == 0 ? 0 :
		    round % 3 == 1        ? s.n - 1 :
		                            s.n / 2;
		struct pend_entry e = s.v[k];

		pendset_remove(&s, k);
		in[(size_t)e.due_ms] = 0;
		free(e.vpath);
		count--;
		assert_int_equal(s.n, count);
		if (round % 250 == 0)
			check_all(&s, in);
	}
	assert_int_equal(s.bytes, 0);
	check_all(&s, in);
	pendset_free(&s);
}

static void
test_caps(void **state)
{
	struct pendset s;
	char path[64];

	(void)state;
	memset(&s, 0, sizeof(s));
	for (size_t i = 0; i < 10; i++) {
		path_of(i, path, sizeof(path));
		assert_int_equal(pendset_add(&s, 0, path, 0, 10, SIZE_MAX), 0);
	}
	assert_int_equal(pendset_add(&s, 0, "/eleven", 0, 10, SIZE_MAX), -1);
	assert_int_equal(s.n, 10);
	assert_null(pendset_find(&s, 0, "/eleven"));
	pendset_free(&s);
	assert_int_equal(s.n, 0);
	/* A byte cap below the first entry's arrays admits nothing. */
	assert_int_equal(pendset_add(&s, 0, "/x", 0, 10, 100), -1);
	assert_int_equal(s.n, 0);
	/* A cap that admits some: the set stops before passing it. */
	for (size_t i = 0; i < 1000; i++) {
		path_of(i, path, sizeof(path));
		if (pendset_add(&s, 0, path, 0, 100000, 16 * 1024) < 0)
			break;
	}
	assert_true(s.n > 0 && s.n < 1000);
	assert_true(s.bytes + s.cap * sizeof(struct pend_entry) +
	        s.nslots * sizeof(uint32_t) <=
	    16 * 1024);
	pendset_free(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_find_remove),
		cmocka_unit_test(test_caps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
