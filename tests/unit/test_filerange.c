/*
 * test_filerange.c - the bytes of a file a push sends (mirror/filerange.h).
 *
 * A range is handed over in the pieces asked for and no further than its
 * end; progress is told shown + what was handed over since its start; a
 * rewind starts again and says so; a file that ends before its range
 * (cut short under a push) is an error, never a quiet end. A file still
 * being written (a stream) is followed to the end its writer announces,
 * abandoned when the writer says so, and an announced end the file does
 * not reach is an error too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mirror/filerange.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct seen {
	uint64_t last;
	int calls;
};

static void
on_progress(void *ctx, uint64_t done)
{
	struct seen *s = ctx;

	s->last = done;
	s->calls++;
}

/* A temporary file of n bytes 0, 1, 2, ... (mod 251), unlinked. */
static int
data_file(size_t n)
{
	char path[] = "/tmp/rftp-filerange-XXXXXX";
	int fd = mkstemp(path);
	unsigned char b;

	assert_true(fd >= 0);
	unlink(path);
	for (size_t i = 0; i < n; i++) {
		b = (unsigned char)(i % 251);
		assert_int_equal(write(fd, &b, 1), 1);
	}
	return fd;
}

static void
test_range_in_pieces(void **state)
{
	int fd = data_file(10000);
	struct file_range r;
	struct seen s = { 0, 0 };
	char buf[3000];
	size_t total = 0;
	ssize_t n;

	(void)state;
	/* A middle part, reported after the 4000 bytes before it. */
	file_range_init(&r, fd, 4000, 9000, 4000, on_progress, &s);
	while ((n = file_range_read(&r, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			assert_int_equal((unsigned char)buf[i],
			    (4000 + total + (size_t)i) % 251);
		total += (size_t)n;
		assert_int_equal(s.last, 4000 + total);
	}
	assert_int_equal(n, 0);
	assert_int_equal(total, 5000);
	assert_int_equal(file_range_read(&r, buf, sizeof(buf)), 0);
	file_range_rewind(&r);
	assert_int_equal(s.last, 4000);
	assert_int_equal(file_range_read(&r, buf, 10), 10);
	assert_int_equal((unsigned char)buf[0], 4000 % 251);
	close(fd);
}

static void
test_cut_short_is_an_error(void **state)
{
	int fd = data_file(100);
	struct file_range r;
	char buf[512];

	(void)state;
	/* Announced 300 bytes; the file holds 100. */
	file_range_init(&r, fd, 0, 300, 0, NULL, NULL);
	assert_int_equal(file_range_read(&r, buf, sizeof(buf)), 100);
	assert_int_equal(file_range_read(&r, buf, sizeof(buf)), -1);
	close(fd);
}

static void
test_empty_range(void **state)
{
	int fd = data_file(0);
	struct file_range r;
	char buf[16];

	(void)state;
	file_range_init(&r, fd, 0, 0, 0, NULL, NULL);
	assert_int_equal(file_range_read(&r, buf, sizeof(buf)), 0);
	close(fd);
}

/* A file being written (file_range_follow): the writer is played by the
 * grow callback, which appends a piece each time the reader catches up,
 * then says the file is complete, or that it never will be. */
struct writer {
	int fd;
	size_t written, total, step;
	int calls;
	int abort_at; /* calls: -1 never */
};

static int
grow(void *ctx, uint64_t off, uint64_t *end)
{
	struct writer *w = ctx;
	unsigned char b;

	w->calls++;
	assert_int_equal(off, w->written);
	if (w->abort_at >= 0 && w->calls > w->abort_at)
		return -1;
	if (w->written >= w->total) {
		*end = w->total;
		return 0;
	}
	for (size_t i = 0; i < w->step && w->written < w->total; i++) {
		b = (unsigned char)(w->written % 251);
		assert_int_equal(pwrite(w->fd, &b, 1, (off_t)w->written), 1);
		w->written++;
	}
	return 1;
}

static int
empty_file(void)
{
	return data_file(0);
}

static void
test_follow_a_growing_file(void **state)
{
	struct writer w = { empty_file(), 0, 7000, 1500, 0, -1 };
	struct file_range r;
	char buf[4096];
	size_t total = 0;
	ssize_t n;

	(void)state;
	file_range_init(&r, w.fd, 0, 0, 0, NULL, NULL);
	file_range_follow(&r, grow, &w);
	while ((n = file_range_read(&r, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			assert_int_equal((unsigned char)buf[i],
			    (unsigned char)((total + (size_t)i) % 251));
		total += (size_t)n;
	}
	assert_int_equal(n, 0);
	assert_int_equal(total, 7000);
	assert_int_equal(r.end, 7000);
	/* Five pieces of 1500 (the last one short), then the end. */
	assert_int_equal(w.calls, 6);
	close(w.fd);
}

static void
test_follow_abandoned(void **state)
{
	struct writer w = { empty_file(), 0, 7000, 1500, 0, 2 };
	struct file_range r;
	char buf[4096];
	ssize_t n;
	size_t total = 0;

	(void)state;
	file_range_init(&r, w.fd, 0, 0, 0, NULL, NULL);
	file_range_follow(&r, grow, &w);
	while ((n = file_range_read(&r, buf, sizeof(buf))) > 0)
		total += (size_t)n;
	assert_int_equal(n, -1);
	assert_int_equal(total, 3000);
	close(w.fd);
}

/* Complete at a size the file does not reach (it was cut after): an
 * error, not a wait for ever. */
static int
grow_lies(void *ctx, uint64_t off, uint64_t *end)
{
	(void)ctx;
	(void)off;
	*end = 20000;
	return 0;
}

static void
test_follow_complete_but_short(void **state)
{
	int fd = data_file(5000);
	struct file_range r;
	char buf[8192];
	ssize_t n;
	size_t total = 0;

	(void)state;
	file_range_init(&r, fd, 0, 0, 0, NULL, NULL);
	file_range_follow(&r, grow_lies, NULL);
	while ((n = file_range_read(&r, buf, sizeof(buf))) > 0)
		total += (size_t)n;
	assert_int_equal(n, -1);
	assert_int_equal(total, 5000);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_range_in_pieces),
		cmocka_unit_test(test_cut_short_is_an_error),
		cmocka_unit_test(test_empty_range),
		cmocka_unit_test(test_follow_a_growing_file),
		cmocka_unit_test(test_follow_abandoned),
		cmocka_unit_test(test_follow_complete_but_short),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
