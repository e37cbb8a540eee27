/*
 * test_s3sign.c - SigV4's URI encoding and canonical query
 * (mirror/s3sign.h).
 *
 * libcurl 7.88 signs the query and path exactly as we write them, and S3
 * signs their canonical form: so what we write must already be canonical.
 * Parameters come out sorted by name whatever their order in, "name="
 * for a parameter without a value ("?uploads" is signed as "uploads="),
 * and every byte but the unreserved ones %XX-encoded in upper case,
 * including '/', '+', '=', '&', '%', space and UTF-8 in values; '/' is
 * kept only in object key paths. A full buffer is an error, not a cut.
 *
 * A CompleteMultipartUpload body of S3's 10,000 parts fits the bound
 * s3_complete_max gives it, whatever its ETags (up to the longest kept):
 * a fixed 1 MiB failed such an upload at every attempt.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mirror/s3sign.h"

#include <string.h>

static void
test_uri_encode(void **state)
{
	struct buf b;
	const char *key = "alice/dir one/caf\xc3\xa9 50%+x~_-.bin";

	(void)state;
	buf_init(&b, 1024);
	assert_int_equal(s3_uri_encode(&b, key, strlen(key), 1), 0);
	assert_string_equal(
	    buf_str(&b), "alice/dir%20one/caf%C3%A9%2050%25%2Bx~_-.bin");
	buf_reset(&b);
	assert_int_equal(s3_uri_encode(&b, "a/b=c&d", 7, 0), 0);
	assert_string_equal(buf_str(&b), "a%2Fb%3Dc%26d");
	buf_free(&b);
}

static void
test_query_sorted_and_encoded(void **state)
{
	struct buf b;
	struct s3_qparam part[] = { { "uploadId", "x/y+z=" },
		{ "partNumber", "12" } };
	struct s3_qparam list[] = { { "prefix", "alice/d i r/" },
		{ "list-type", "2" }, { "delimiter", "/" },
		{ "continuation-token", "a b" } };
	struct s3_qparam init[] = { { "uploads", NULL } };

	(void)state;
	buf_init(&b, 1024);
	assert_int_equal(s3_canon_query(&b, part, 2), 0);
	assert_string_equal(buf_str(&b), "partNumber=12&uploadId=x%2Fy%2Bz%3D");
	buf_reset(&b);
	assert_int_equal(s3_canon_query(&b, list, 4), 0);
	assert_string_equal(buf_str(&b),
	    "continuation-token=a%20b&delimiter=%2F&list-type=2&"
	    "prefix=alice%2Fd%20i%20r%2F");
	buf_reset(&b);
	assert_int_equal(s3_canon_query(&b, init, 1), 0);
	assert_string_equal(buf_str(&b), "uploads=");
	buf_free(&b);
}

static void
test_full_buffer_is_an_error(void **state)
{
	struct buf b;
	struct s3_qparam q[] = { { "prefix", "0123456789abcdef" } };

	(void)state;
	buf_init(&b, 16);
	assert_int_equal(s3_canon_query(&b, q, 1), -1);
	buf_free(&b);
}

/* Appends parts 1..nparts with etag to b: the first that failed, or 0. */
static uint64_t
complete_fill(struct buf *b, uint64_t nparts, const char *etag)
{
	for (uint64_t i = 1; i <= nparts; i++)
		if (s3_complete_part(b, i, etag) < 0)
			return i;
	return 0;
}

static void
test_complete_body_fits_its_bound(void **state)
{
	struct buf b;
	char etag[256];
	size_t cap;

	(void)state;
	buf_init(&b, 1024);
	assert_int_equal(s3_complete_part(&b, 7, "\"a&b<c\""), 0);
	assert_string_equal(buf_str(&b),
	    "<Part><PartNumber>7</PartNumber><ETag>&quot;a&amp;b&lt;c&quot;"
	    "</ETag></Part>");
	buf_free(&b);

	/* 80-byte ETags (a service's own form) over 10,000 parts: the old
	 * 1 MiB bound failed them; the bound from the part count does not. */
	memset(etag, 'e', 80);
	etag[0] = etag[79] = '"';
	etag[80] = '\0';
	buf_init(&b, 1024 * 1024);
	assert_true(complete_fill(&b, 10000, etag) != 0);
	buf_free(&b);
	cap = s3_complete_max(10000, 255);
	buf_init(&b, cap);
	assert_int_equal(complete_fill(&b, 10000, etag), 0);
	buf_free(&b);

	/* The worst: 255 bytes each written as an entity of 6. */
	memset(etag, '"', 255);
	etag[255] = '\0';
	buf_init(&b, cap);
	assert_int_equal(buf_adds(&b, S3_COMPLETE_OPEN), 0);
	assert_int_equal(complete_fill(&b, 10000, etag), 0);
	assert_int_equal(buf_adds(&b, S3_COMPLETE_CLOSE), 0);
	assert_true(b.len <= cap);
	buf_free(&b);
	assert_int_equal(s3_complete_max(UINT64_MAX, 255), SIZE_MAX);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uri_encode),
		cmocka_unit_test(test_query_sorted_and_encoded),
		cmocka_unit_test(test_full_buffer_is_an_error),
		cmocka_unit_test(test_complete_body_fits_its_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
