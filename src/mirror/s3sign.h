/*
 * s3sign.h - the text of S3 requests that their AWS Signature Version 4
 * covers, where libcurl 7.88 (CURLOPT_AWS_SIGV4) signs what it is given
 * as it is: URI-encoded paths and the canonical query string.
 *
 * Owns: SigV4's URI encoding and query canonicalisation (AWS: "Create a
 * canonical request"), and the body of a CompleteMultipartUpload (its
 * part list, and the bound of its size). Pure: no I/O, no libcurl, so it is unit-tested over
 * hostile names (tests/unit/test_s3sign.c).
 */
#ifndef RFTP_S3SIGN_H
#define RFTP_S3SIGN_H

#include "common/buf.h"

#include <stddef.h>
#include <stdint.h>

/*
 * Appends the n bytes of s URI-encoded as SigV4 wants it: A-Z a-z 0-9
 * - . _ ~ as they are, every other byte as %XX (upper-case hex); '/' kept
 * when keep_slash (an object key's path), else encoded too. 0, or -1 if
 * out is full (out then holds a part: the caller drops it).
 */
int s3_uri_encode(struct buf *out, const char *s, size_t n, int keep_slash);

/* A query parameter; value NULL is written "name=" (canonical form). */
struct s3_qparam {
	const char *name, *value;
};

/*
 * Appends the canonical query of the n parameters p: sorted by name
 * (p is sorted in place, byte-wise), each "name=value" with both
 * URI-encoded ('/' too), joined by '&'. Names must differ. Sent as it is,
 * it is also what S3 signs, so libcurl 7.88's signature matches. 0, or -1
 * if out is full.
 */
int s3_canon_query(struct buf *out, struct s3_qparam *p, size_t n);

/*
 * The bytes a CompleteMultipartUpload body of nparts parts can take at
 * most, each ETag at most etag_max bytes (each written as up to 6, an
 * XML entity): the bound to give its struct buf. A fixed 1 MiB failed
 * uploads near S3's 10,000 parts whose ETags ran past ~70 bytes, at
 * every attempt, logged as "out of memory" (found by a review).
 */
size_t s3_complete_max(uint64_t nparts, size_t etag_max);

/*
 * Appends "<Part><PartNumber>num</PartNumber><ETag>etag</ETag></Part>",
 * the ETag escaped for XML. 0, or -1 if out is full.
 */
int s3_complete_part(struct buf *out, uint64_t num, const char *etag);

/* The body's opening and closing tags. */
#define S3_COMPLETE_OPEN  "<CompleteMultipartUpload>"
#define S3_COMPLETE_CLOSE "</CompleteMultipartUpload>"

#endif
