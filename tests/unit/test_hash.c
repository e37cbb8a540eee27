/*
 * test_hash.c - file digests for HASH/XMD5/XSHA* (common/hash.h).
 *
 * Covers the published vectors for "", "abc" and "The quick brown fox jumps
 * over the lazy dog" in MD5, SHA-1, SHA-256 and CRC32, one-shot against
 * streamed updates, hash_fd over a temporary file larger than the 256 KiB
 * read buffer (whole file and [start, end) ranges, across buffer edges and
 * past EOF), and hash_lookup/hash_name (case-insensitive, unknown names).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/hash.h"
#include "common/limits.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char fox[] = "The quick brown fox jumps over the lazy dog";

static void
digest(enum hash_algo algo, const void *p, size_t n, char hex[HASH_HEX_MAX])
{
	struct hash_ctx h;

	assert_int_equal(hash_init(&h, algo), 0);
	hash_update(&h, p, n);
	assert_int_equal(hash_final(&h, hex), 0);
}

static void
expect_digest(enum hash_algo algo, const char *s, const char *want)
{
	char hex[HASH_HEX_MAX];

	digest(algo, s, strlen(s), hex);
	if (strcmp(hex, want) != 0)
		fail_msg(
		    "%s('%s') = %s, want %s", hash_name(algo), s, hex, want);
}

static void
test_md5_vectors(void **state)
{
	(void)state;
	expect_digest(HASH_MD5, "", "d41d8cd98f00b204e9800998ecf8427e");
	expect_digest(HASH_MD5, "abc", "900150983cd24fb0d6963f7d28e17f72");
	expect_digest(HASH_MD5, fox, "9e107d9d372bb6826bd81d3542a419d6");
}

static void
test_sha1_vectors(void **state)
{
	(void)state;
	expect_digest(
	    HASH_SHA1, "", "da39a3ee5e6b4b0d3255bfef95601890afd80709");
	expect_digest(
	    HASH_SHA1, "abc", "a9993e364706816aba3e25717850c26c9cd0d89d");
	expect_digest(
	    HASH_SHA1, fox, "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12");
}

static void
test_sha256_vectors(void **state)
{
	(void)state;
	expect_digest(HASH_SHA256, "",
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	expect_digest(HASH_SHA256, "abc",
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	expect_digest(HASH_SHA256, fox,
	    "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592");
}

static void
test_crc32_vectors(void **state)
{
	(void)state;
	/* eight hex digits, leading zeros kept */
	expect_digest(HASH_CRC32, "", "00000000");
	expect_digest(HASH_CRC32, "abc", "352441c2");
	expect_digest(HASH_CRC32, fox, "414fa339");
	expect_digest(HASH_CRC32, "123456789", "cbf43926");
}

/* Feeding bytes in pieces (including empty ones) gives the same digest. */
static void
test_streamed_equals_oneshot(void **state)
{
	(void)state;
	for (int a = 0; a < HASH_ALGO_COUNT; a++) {
		char one[HASH_HEX_MAX], many[HASH_HEX_MAX];
		struct hash_ctx h;
		size_t n = strlen(fox);

		digest((enum hash_algo)a, fox, n, one);
		assert_int_equal(hash_init(&h, (enum hash_algo)a), 0);
		for (size_t i = 0; i < n; i += 3) {
			hash_update(&h, fox + i, n - i < 3 ? n - i : 3);
			hash_update(&h, fox, 0);
		}
		assert_int_equal(hash_final(&h, many), 0);
		assert_string_equal(one, many);
		/* lowercase hex of the right length */
		assert_int_equal(strlen(one),
		    a == HASH_SHA256   ? 64 :
		        a == HASH_SHA1 ? 40 :
		        a == HASH_MD5  ? 32 :
		                         8);
		assert_int_equal(strspn(one, "0123456789abcdef"), strlen(one));
	}
}

/* A started digest can be abandoned without leaking (run under ASan). */
static void
test_abandon(void **state)
{
	(void)state;
	for (int a = 0; a < HASH_ALGO_COUNT; a++) {
		struct hash_ctx h;

		assert_int_equal(hash_init(&h, (enum hash_algo)a), 0);
		hash_update(&h, "abc", 3);
		hash_abandon(&h);
		hash_abandon(&h);
	}
}

/* --- hash_fd ------------------------------------------------------------- */

/* 640 KiB + 123: more than two read buffers, ending mid-buffer. */
#define BIG_SIZE (640 * 1024 + 123)

struct fixture {
	char path[64];
	int fd;
	unsigned char *data;
	size_t size;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	uint32_t x = 2463534242u;
	size_t off = 0;

	if (f == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "/tmp/rftp-unit-hash-XXXXXX");
	f->fd = mkstemp(f->path);
	/* unlinked at once: nothing is left behind even if a test aborts */
	if (f->fd < 0 || unlink(f->path) < 0)
		return -1;
	f->size = BIG_SIZE;
	f->data = malloc(f->size);
	if (f->data == NULL)
		return -1;
	for (size_t i = 0; i < f->size; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		f->data[i] = (unsigned char)(x >> 24);
	}
	while (off < f->size) {
		ssize_t n = write(f->fd, f->data + off, f->size - off);

		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	close(f->fd);
	free(f->data);
	free(f);
	return 0;
}

/* hash_fd over [start, end) equals a one-shot digest of the same bytes. */
static void
expect_range(
    struct fixture *f, enum hash_algo algo, uint64_t start, uint64_t end)
{
	char got[HASH_HEX_MAX], want[HASH_HEX_MAX];
	uint64_t s = start < f->size ? start : f->size;
	uint64_t e = end < f->size ? end : f->size;

	if (e < s)
		e = s;
	digest(algo, f->data + s, (size_t)(e - s), want);
	memset(got, 0, sizeof(got));
	assert_int_equal(hash_fd(f->fd, algo, start, end, NULL, got), 0);
	if (strcmp(got, want) != 0)
		fail_msg("%s over [%llu, %llu): %s, want %s", hash_name(algo),
		    (unsigned long long)start, (unsigned long long)end, got,
		    want);
}

static void
test_fd_whole_file(void **state)
{
	struct fixture *f = *state;

	assert_true(f->size > RFTP_XFER_BUF);
	for (int a = 0; a < HASH_ALGO_COUNT; a++) {
		expect_range(f, (enum hash_algo)a, 0, UINT64_MAX);
		expect_range(f, (enum hash_algo)a, 0, f->size);
		/* end past EOF stops at EOF */
		expect_range(f, (enum hash_algo)a, 0, (uint64_t)f->size + 1000);
	}
}

static void
test_fd_ranges(void **state)
{
	struct fixture *f = *state;
	const uint64_t buf = RFTP_XFER_BUF;
	const uint64_t ranges[][2] = {
		{ 0, 1 }, { 1, 2 }, { 1000, 300000 },
		{ buf - 1, buf + 1 },  /* across the first buffer edge */
		{ buf, 2 * buf },      /* exactly the second buffer */
		{ 1, 2 * buf + 1 },    /* three reads, unaligned */
		{ 12345, UINT64_MAX }, /* offset to EOF (REST + HASH) */
		{ BIG_SIZE - 1, UINT64_MAX }, { 0, 0 }, /* empty range */
		{ 500, 500 }, { BIG_SIZE, UINT64_MAX }, /* start at EOF */
		{ BIG_SIZE + 10, UINT64_MAX },          /* start past EOF */
		{ 700, 600 },                           /* end before start */
	};

	for (int a = 0; a < HASH_ALGO_COUNT; a++)
		for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
			expect_range(
			    f, (enum hash_algo)a, ranges[i][0], ranges[i][1]);
}

/* A known vector through a file, and an empty file. */
static void
test_fd_known_vector(void **state)
{
	char path[] = "/tmp/rftp-unit-hash-small-XXXXXX";
	char hex[HASH_HEX_MAX];
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(hash_fd(fd, HASH_SHA256, 0, UINT64_MAX, NULL, hex), 0);
	assert_string_equal(hex,
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_int_equal(write(fd, fox, strlen(fox)), (ssize_t)strlen(fox));
	assert_int_equal(hash_fd(fd, HASH_CRC32, 0, UINT64_MAX, NULL, hex), 0);
	assert_string_equal(hex, "414fa339");
	assert_int_equal(hash_fd(fd, HASH_MD5, 0, UINT64_MAX, NULL, hex), 0);
	assert_string_equal(hex, "9e107d9d372bb6826bd81d3542a419d6");
	/* "quick" is bytes [4, 9) */
	assert_int_equal(hash_fd(fd, HASH_SHA1, 4, 9, NULL, hex), 0);
	{
		char want[HASH_HEX_MAX];

		digest(HASH_SHA1, "quick", 5, want);
		assert_string_equal(hex, want);
	}
	close(fd);
}

/* A descriptor that cannot be read is an error, not an empty digest. */
static void
test_fd_unreadable(void **state)
{
	char hex[HASH_HEX_MAX];
	int fd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(
	    hash_fd(fd, HASH_SHA256, 0, UINT64_MAX, NULL, hex), -1);
	close(fd);
	assert_int_equal(hash_fd(-1, HASH_MD5, 0, UINT64_MAX, NULL, hex), -1);
}

/* A stop set while a file is digested ends the digest (ECANCELED): a
 * shutdown does not wait for a big file's. */
static void
test_fd_stops(void **state)
{
	char path[] = "/tmp/rftp-hash-stop-XXXXXX";
	char hex[HASH_HEX_MAX];
	atomic_int stop = 1;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(ftruncate(fd, 4 * 1024 * 1024), 0);
	errno = 0;
	assert_int_equal(
	    hash_fd(fd, HASH_SHA256, 0, UINT64_MAX, &stop, hex), -1);
	assert_int_equal(errno, ECANCELED);
	atomic_store(&stop, 0);
	assert_int_equal(
	    hash_fd(fd, HASH_SHA256, 0, UINT64_MAX, &stop, hex), 0);
	close(fd);
}

/* --- names --------------------------------------------------------------- */

static void
test_lookup(void **state)
{
	static const struct {
		const char *name;
		enum hash_algo algo;
	} good[] = {
		{ "SHA-256", HASH_SHA256 },
		{ "sha-256", HASH_SHA256 },
		{ "Sha-256", HASH_SHA256 },
		{ "SHA-1", HASH_SHA1 },
		{ "sha-1", HASH_SHA1 },
		{ "MD5", HASH_MD5 },
		{ "md5", HASH_MD5 },
		{ "CRC32", HASH_CRC32 },
		{ "crc32", HASH_CRC32 },
	};
	static const char *const bad[] = { "", "SHA256", "SHA1", "SHA-512",
		"SHA-2", "MD4", "CRC", "CRC-32", "SHA-256 ", " MD5", "md5x" };
	enum hash_algo algo;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		algo = HASH_ALGO_COUNT;
		if (hash_lookup(good[i].name, &algo) != 0)
			fail_msg("hash_lookup('%s') refused", good[i].name);
		assert_int_equal(algo, good[i].algo);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (hash_lookup(bad[i], &algo) == 0)
			fail_msg("hash_lookup('%s') accepted", bad[i]);
	/* every name round-trips */
	for (int a = 0; a < HASH_ALGO_COUNT; a++) {
		assert_non_null(hash_name((enum hash_algo)a));
		assert_int_equal(
		    hash_lookup(hash_name((enum hash_algo)a), &algo), 0);
		assert_int_equal(algo, a);
	}
	assert_string_equal(hash_name(HASH_SHA256), "SHA-256");
	assert_string_equal(hash_name(HASH_SHA1), "SHA-1");
	assert_string_equal(hash_name(HASH_MD5), "MD5");
	assert_string_equal(hash_name(HASH_CRC32), "CRC32");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_md5_vectors),
		cmocka_unit_test(test_sha1_vectors),
		cmocka_unit_test(test_sha256_vectors),
		cmocka_unit_test(test_crc32_vectors),
		cmocka_unit_test(test_streamed_equals_oneshot),
		cmocka_unit_test(test_abandon),
		cmocka_unit_test_setup_teardown(
		    test_fd_whole_file, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_fd_ranges, setup, teardown),
		cmocka_unit_test(test_fd_known_vector),
		cmocka_unit_test(test_fd_unreadable),
		cmocka_unit_test(test_fd_stops),
		cmocka_unit_test(test_lookup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
