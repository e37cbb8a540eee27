/*
 * fuzz_s3xml.c - libFuzzer target for the readers of an S3 service's XML
 * answers (mirror/s3xml.h): the input is one reply body, as a broken or
 * hostile service may send it. Every element the S3 transport asks for is
 * found and decoded as it does, into room of its own sizes; a text must
 * be NUL-terminated within that room and, read whole, never longer than
 * its bytes; an id listed must be one of the page's, NUL-terminated.
 */
#include "common/buf.h"
#include "mirror/s3xml.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every <tag> of body decoded into out[outlen] and whole. */
static void
read_all(const char *body, size_t len, const char *tag, size_t outlen)
{
	const char *p = body, *end = body + len, *v, *after;
	char out[2048];
	size_t n;

	for (unsigned guard = 0; guard < 10000 &&
	     (v = s3xml_find(p, (size_t)(end - p), tag, &n, &after)) != NULL;
	     guard++) {
		char *dup;

		if (v < p || v + n > end || after > end || after <= p)
			__builtin_trap();
		if (s3xml_text(v, n, out, outlen) == 0 &&
		    strnlen(out, outlen) >= outlen)
			__builtin_trap();
		dup = s3xml_text_dup(v, n);
		if (dup != NULL && strlen(dup) > n)
			__builtin_trap();
		free(dup);
		p = after;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const tags[] = { "Code", "Message", "UploadId",
		"ETag", "Key", "Size", "Prefix", "NextContinuationToken",
		"NextKeyMarker", "NextUploadIdMarker", "Contents", "Upload" };
	static const size_t rooms[] = { 1, 64, 256, 1024, 2048 };
	/* A copy of exactly size bytes: ASan sees a read past its end. */
	char *body = malloc(size ? size : 1);
	char *kmark = NULL, *imark = NULL;
	struct buf ids;

	if (body == NULL)
		return 0;
	memcpy(body, data, size);
	for (size_t t = 0; t < sizeof(tags) / sizeof(tags[0]); t++)
		read_all(body, size, tags[t],
		    rooms[t % (sizeof(rooms) / sizeof(rooms[0]))]);
	(void)s3xml_opens(body, size, "Error");
	(void)s3xml_opens(body, size, "CompleteMultipartUploadResult");
	(void)s3xml_truncated(body, size);
	{
		long long t;

		(void)s3xml_upload_initiated(body, size, "a", "k", &t);
	}
	buf_init(&ids, 1 << 20);
	(void)s3xml_uploads_page(
	    body, size, "a", "k", 1700000000, 1800000000, &ids, &kmark, &imark);
	for (size_t off = 0; off < ids.len; off += strlen(ids.data + off) + 1)
		if (strlen(ids.data + off) == 0 ||
		    strlen(ids.data + off) >= size)
			__builtin_trap();
	buf_free(&ids);
	free(kmark);
	free(imark);
	free(body);
	return 0;
}
