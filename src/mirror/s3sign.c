/*
 * s3sign.c - see s3sign.h: SigV4's URI encoding and canonical query
 * string, and a CompleteMultipartUpload body's parts. Pure functions over struct buf; must not do I/O.
 */
#include "mirror/s3sign.h"

#include <stdlib.h>
#include <string.h>

int
s3_uri_encode(struct buf *out, const char *s, size_t n, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[3] = { '%', hex[c >> 4], hex[c & 15] };

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~' || (keep_slash && c == '/')) {
			if (buf_add(out, s + i, 1) < 0)
				return -1;
		} else if (buf_add(out, esc, 3) < 0) {
			return -1;
		}
	}
	return 0;
}

static int
qparam_cmp(const void *a, const void *b)
{
	return strcmp(((const struct s3_qparam *)a)->name,
	    ((const struct s3_qparam *)b)->name);
}

int
s3_canon_query(struct buf *out, struct s3_qparam *p, size_t n)
{
	if (n > 1)
		qsort(p, n, sizeof(*p), qparam_cmp);
	for (size_t i = 0; i < n; i++) {
		const char *v = p[i].value ? p[i].value : "";

		if ((i > 0 && buf_adds(out, "&") < 0) ||
		    s3_uri_encode(out, p[i].name, strlen(p[i].name), 0) < 0 ||
		    buf_adds(out, "=") < 0 ||
		    s3_uri_encode(out, v, strlen(v), 0) < 0)
			return -1;
	}
	return 0;
}

/* One part's text but its ETag: "<Part><PartNumber>" 18, up to 20 digits,
 * "</PartNumber><ETag>" 19, "</ETag></Part>" 14. */
#define S3_COMPLETE_PART_FIXED (18 + 20 + 19 + 14)

size_t
s3_complete_max(uint64_t nparts, size_t etag_max)
{
	size_t per = S3_COMPLETE_PART_FIXED + 6 * etag_max;

	/* Callers bound nparts (S3's 10,000); past SIZE_MAX it saturates. */
	if (nparts > (SIZE_MAX - 64) / per)
		return SIZE_MAX;
	return (size_t)nparts * per + sizeof(S3_COMPLETE_OPEN) +
	    sizeof(S3_COMPLETE_CLOSE);
}

int
s3_complete_part(struct buf *out, uint64_t num, const char *etag)
{
	if (buf_printf(out, "<Part><PartNumber>%llu</PartNumber><ETag>",
	        (unsigned long long)num) < 0)
		return -1;
	/* The ETag is quoted hex from the service; escaped for XML all
	 * the same. */
	for (const char *e = etag; *e != '\0'; e++) {
		const char *s = *e == '"' ? "&quot;" :
		    *e == '&'             ? "&amp;" :
		    *e == '<'             ? "&lt;" :
		                            NULL;

		if ((s != NULL ? buf_adds(out, s) : buf_add(out, e, 1)) < 0)
			return -1;
	}
	return buf_adds(out, "</ETag></Part>");
}
