/*
 * s3xml.c - the readers of an S3 service's XML answers (mirror/s3xml.h):
 * an element's text, its entities, character references and CDATA,
 * whether a list goes on, a page of a ListMultipartUploads answer.
 *
 * Owns: the bytes of a reply body read as XML, no more: not the requests,
 * not what a push does with what is read (transport_s3.c). Not an XML
 * parser: S3's answers are flat and well known, so an element is found
 * by its open tag (attributes and white space allowed, XML 1.0 section
 * 3.1) and the first close tag of its name after it.
 * Every read is bounded by an explicit length (the body is not
 * NUL-terminated where it ends) and every write by the room given.
 * Pure: no I/O, no locks, no libcurl.
 */
#include "mirror/s3xml.h"

#include "common/buf.h"
#include "common/limits.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* XML's white space (XML 1.0 section 2.3, S). */
static int
xml_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * The end of the open tag whose name ends at p (XML 1.0 section 3.1,
 * STag and EmptyElemTag: white space and attributes, their values quoted
 * and holding any '>', before '>' or "/>"): the byte after its '>', or
 * NULL if it does not end before end. *empty: it ended "/>".
 */
static const char *
open_tag_end(const char *p, const char *end, int *empty)
{
	char quote = '\0';

	*empty = 0;
	for (; p < end; p++) {
		if (quote != '\0') {
			if (*p == quote)
				quote = '\0';
		} else if (*p == '"' || *p == '\'') {
			quote = *p;
		} else if (*p == '>') {
			return p + 1;
		} else if (*p == '/' && end - p >= 2 && p[1] == '>') {
			*empty = 1;
			return p + 2;
		}
	}
	return NULL;
}

/* Whether c may begin an XML name's prefix (an NCName: a letter, '_',
 * or a byte of a UTF-8 character past ASCII). */
static int
name_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	    (unsigned char)c >= 0x80;
}

/*
 * Whether p (up to end) begins with the name tag (tl bytes), or with a
 * namespace prefix and tag ("s3:Key": XML Namespaces section 4, QName,
 * as a service that declares S3's namespace under a prefix writes every
 * element): the byte after the name, or NULL. *pl: the prefix's length,
 * its ':' included (0: none). The name must end there, at '>', '/' or
 * white space (a longer name beginning the same is another); the caller
 * checks there is a byte left to look at.
 */
static const char *
name_at(const char *p, const char *end, const char *tag, size_t tl, size_t *pl)
{
	const char *q = p;

	/* A prefix: an NCName up to a ':' (Namespaces section 3: a
	 * letter, '_' or a non-ASCII byte first, then those, digits, '-'
	 * and '.'). Any byte up to the ':' was taken: a comment, a
	 * processing instruction or a CDATA section ("<!--x:Error>",
	 * "<?p:Error>") was read as the element opened (found by a
	 * review). */
	if (q < end && name_start(*q))
		for (q++; q < end &&
		     (name_start(*q) || (*q >= '0' && *q <= '9') || *q == '-' ||
		         *q == '.');
		     q++)
			;
	*pl = q < end && *q == ':' && q > p ? (size_t)(q - p) + 1 : 0;
	p += *pl;
	if ((size_t)(end - p) <= tl || memcmp(p, tag, tl) != 0)
		return NULL;
	return p + tl;
}

/* See s3xml.h: the first element named tag, its open tag with any
 * attributes and white space ("<Key>", "<Key xmlns=\"...\">", "<Key >",
 * "<Key/>"), then the first close tag "</tag>" after it, white space
 * allowed before its '>' (XML 1.0 section 3.1, ETag). Only the plain
 * "<tag>" and "</tag>" were found: a service writing a namespace on an
 * element, or a space in a tag, had its keys, ids and IsTruncated taken
 * for none (found by a review). A prefix on the name ("<s3:Key>", closed
 * by "</s3:Key>") is read too: such a service's were not (found by a
 * review). */
const char *
s3xml_find(const char *s, size_t slen, const char *tag, size_t *len,
    const char **after)
{
	size_t tl = strlen(tag), pl = 0, cpl;
	const char *p = s, *end = s + slen, *b = NULL, *e, *pre = NULL, *n;
	int empty = 0;

	if (tl == 0 || tl > 60)
		return NULL;
	/* The open tag: '<', the name (a prefix allowed), then '>', '/'
	 * or white space (a longer name beginning the same,
	 * "<KeyMarker>", is another). */
	while (p < end && (p = memchr(p, '<', (size_t)(end - p))) != NULL) {
		p++;
		n = name_at(p, end, tag, tl, &pl);
		if (n == NULL || (*n != '>' && *n != '/' && !xml_space(*n)))
			continue;
		pre = p;
		b = open_tag_end(n, end, &empty);
		break;
	}
	if (b == NULL)
		return NULL;
	if (empty) {
		*len = 0;
		if (after != NULL)
			*after = b;
		return b;
	}
	/* The close tag: "</", the name with the open tag's prefix (XML
	 * 1.0 section 3: the same name), white space, '>'. */
	for (p = b; p < end; p = e + 2) {
		const char *q;

		e = memmem(p, (size_t)(end - p), "</", 2);
		if (e == NULL)
			return NULL;
		q = name_at(e + 2, end, tag, tl, &cpl);
		if (q == NULL || cpl != pl || memcmp(e + 2, pre, pl) != 0)
			continue;
		for (; q < end && xml_space(*q); q++)
			;
		if (q < end && *q == '>') {
			*len = (size_t)(e - b);
			if (after != NULL)
				*after = q + 1;
			return b;
		}
	}
	return NULL;
}

/*
 * A character reference at s[0..n) ("&#39;", "&#x27;": XML 1.0 section
 * 4.1, decimal or hex; s3rver writes ' as &#x27;, MinIO as &#39;) as
 * UTF-8 into u (4 bytes); returns the bytes written, 0 if s holds none
 * (then its '&' is taken as it is). *used: the reference's length.
 */
static size_t
xml_charref(const char *s, size_t n, unsigned char u[4], size_t *used)
{
	size_t k = 2, digits = 0;
	unsigned long v = 0;
	int hex = 0;

	if (n < 4 || s[0] != '&' || s[1] != '#')
		return 0;
	if (s[2] == 'x' || s[2] == 'X') {
		hex = 1;
		k = 3;
	}
	/* At most 6 hex or 7 decimal digits: U+10FFFF is the last. */
	for (; k < n && digits < 8; k++, digits++) {
		unsigned d;

		if (s[k] >= '0' && s[k] <= '9')
			d = (unsigned)(s[k] - '0');
		else if (hex && s[k] >= 'a' && s[k] <= 'f')
			d = (unsigned)(s[k] - 'a' + 10);
		else if (hex && s[k] >= 'A' && s[k] <= 'F')
			d = (unsigned)(s[k] - 'A' + 10);
		else
			break;
		v = v * (hex ? 16u : 10u) + d;
	}
	if (digits == 0 || digits == 8 || k >= n || s[k] != ';' || v == 0 ||
	    v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*used = k + 1;
	if (v < 0x80) {
		u[0] = (unsigned char)v;
		return 1;
	}
	if (v < 0x800) {
		u[0] = (unsigned char)(0xC0 | (v >> 6));
		u[1] = (unsigned char)(0x80 | (v & 0x3F));
		return 2;
	}
	if (v < 0x10000) {
		u[0] = (unsigned char)(0xE0 | (v >> 12));
		u[1] = (unsigned char)(0x80 | ((v >> 6) & 0x3F));
		u[2] = (unsigned char)(0x80 | (v & 0x3F));
		return 3;
	}
	u[0] = (unsigned char)(0xF0 | (v >> 18));
	u[1] = (unsigned char)(0x80 | ((v >> 12) & 0x3F));
	u[2] = (unsigned char)(0x80 | ((v >> 6) & 0x3F));
	u[3] = (unsigned char)(0x80 | (v & 0x3F));
	return 4;
}

/* Copies XML text into out, decoding the five entities and character
 * references, and taking a CDATA section's bytes as they are (XML 1.0
 * section 2.7): a service may write any text so, and an UploadId read
 * with its "<![CDATA[" went to every part as another id, each attempt
 * leaving its upload open and the file never sent (found from
 * outside). */
int
s3xml_text(const char *s, size_t n, char *out, size_t outlen)
{
	static const char cdo[] = "<![CDATA[", cdc[] = "]]>";
	static const struct {
		const char *ent;
		char c;
	} ents[] = { { "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
		{ "&quot;", '"' }, { "&apos;", '\'' } };
	size_t o = 0;

	for (size_t i = 0; i < n;) {
		unsigned char u[4];
		size_t k, used = 0, nu = 0;

		/* One not closed is taken as it is, as before. */
		if (n - i >= sizeof(cdo) - 1 &&
		    memcmp(s + i, cdo, sizeof(cdo) - 1) == 0) {
			const char *b = s + i + sizeof(cdo) - 1;
			const char *e = memmem(
			    b, n - i - (sizeof(cdo) - 1), cdc, sizeof(cdc) - 1);

			if (e != NULL) {
				size_t len = (size_t)(e - b);

				if (o + len >= outlen)
					return -1;
				memcpy(out + o, b, len);
				o += len;
				i = (size_t)(e - s) + sizeof(cdc) - 1;
				continue;
			}
		}
		u[0] = (unsigned char)s[i];
		if (s[i] == '&') {
			for (k = 0; k < sizeof(ents) / sizeof(ents[0]); k++)
				if (n - i >= strlen(ents[k].ent) &&
				    memcmp(s + i, ents[k].ent,
				        strlen(ents[k].ent)) == 0) {
					u[0] = (unsigned char)ents[k].c;
					used = strlen(ents[k].ent);
					break;
				}
			if (used == 0)
				nu = xml_charref(s + i, n - i, u, &used);
		}
		if (nu == 0)
			nu = 1;
		if (o + nu >= outlen)
			return -1;
		memcpy(out + o, u, nu);
		o += nu;
		i += used ? used : 1;
	}
	out[o] = '\0';
	return 0;
}

/* s3xml_text of s[0..n) into memory of its own, whatever its length (the
 * text is never longer than its n bytes): the caller frees it; NULL
 * without memory. */
char *
s3xml_text_dup(const char *s, size_t n)
{
	char *out = malloc(n + 1);

	if (out != NULL && s3xml_text(s, n, out, n + 1) < 0) {
		free(out);
		out = NULL;
	}
	return out;
}

/* Whether s[0..n) holds an element <tag ...> opened (attributes, such as
 * a namespace, allowed; a prefix on its name too), closed or not. */
int
s3xml_opens(const char *s, size_t n, const char *tag)
{
	size_t tl = strlen(tag), pl;
	const char *end = s + n, *p = s, *q;

	while (p < end && (p = memchr(p, '<', (size_t)(end - p))) != NULL) {
		p++;
		q = name_at(p, end, tag, tl, &pl);
		if (q != NULL && *q != '\0' && strchr("> \t\r\n/", *q) != NULL)
			return 1;
	}
	return 0;
}

/* "true" (AWS, MinIO and Ceph write it so), and what XML Schema's
 * boolean also allows, "1", and white space around it; its case
 * ignored ("True": a service written in .NET or Python). Only "true"
 * itself was taken for more: a "True" or " true " ended a list at its
 * first page, and the files on later pages were pushed again, or their
 * deletes missed (found by a review). */
int
s3xml_truncated(const char *body, size_t len)
{
	const char *v;
	char t[16];
	size_t n, b = 0, e;

	v = s3xml_find(body, len, "IsTruncated", &n, NULL);
	if (v == NULL || s3xml_text(v, n, t, sizeof(t)) < 0)
		return 0;
	e = strlen(t);
	while (b < e && xml_space(t[b]))
		b++;
	while (e > b && xml_space(t[e - 1]))
		e--;
	return (e - b == 4 && strncasecmp(t + b, "true", 4) == 0) ||
	    (e - b == 1 && t[b] == '1');
}

/* The w digits at s[0..w) into *v: 0, or -1 if one is not a digit. */
static int
digits(const char *s, size_t w, int *v)
{
	*v = 0;
	for (size_t i = 0; i < w; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

/* See s3xml.h: AWS's "2026-12-07T15:00:00.000Z"; MinIO and Ceph write
 * it so too, with or without the fraction. */
int
s3xml_time(const char *s, size_t n, long long *t)
{
	struct tm tm;
	int y, mo, d, h, mi, sec;
	size_t i = 19;
	time_t r;

	while (n > 0 &&
	    (s[0] == ' ' || s[0] == '\n' || s[0] == '\t' || s[0] == '\r')) {
		s++;
		n--;
	}
	if (n < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
	    s[13] != ':' || s[16] != ':' || digits(s, 4, &y) < 0 ||
	    digits(s + 5, 2, &mo) < 0 || digits(s + 8, 2, &d) < 0 ||
	    digits(s + 11, 2, &h) < 0 || digits(s + 14, 2, &mi) < 0 ||
	    digits(s + 17, 2, &sec) < 0 || mo < 1 || mo > 12 || d < 1 ||
	    d > 31 || h > 23 || mi > 59 || sec > 60)
		return -1;
	if (s[i] == '.')
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			;
	if (i >= n || s[i] != 'Z')
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	r = timegm(&tm);
	if (r == (time_t)-1)
		return -1;
	*t = (long long)r;
	return 0;
}

/* Whether the <Upload> element u[0..n) was initiated at or after since
 * (0: whenever) and before before (0: whatever its age). Another
 * writer's upload of the same key (a second relayftpd, a worker of
 * another queue) is in progress: aborting every listed one aborted it,
 * and its next push aborted ours (found by a review), so only old ones
 * are taken, or ones made in the seconds a start of ours was asked
 * (transport_s3.c abort_lost_starts). */
static int
in_window(const char *u, size_t n, long long since, long long before)
{
	const char *v;
	size_t vn;
	long long t;

	if (since == 0 && before == 0)
		return 1;
	v = s3xml_find(u, n, "Initiated", &vn, NULL);
	return v != NULL && s3xml_time(v, vn, &t) == 0 &&
	    (since == 0 || t >= since) && (before == 0 || t < before);
}

/* See s3xml.h. */
int
s3xml_upload_initiated(
    const char *body, size_t len, const char *key, const char *id, long long *t)
{
	const char *p = body, *end = body + len, *v, *after, *kv, *iv, *tv;
	size_t n, kn, in, tn;
	char k[RFTP_PATH_MAX + 64], *u;
	int same;

	while ((v = s3xml_find(p, (size_t)(end - p), "Upload", &n, &after)) !=
	    NULL) {
		p = after;
		kv = s3xml_find(v, n, "Key", &kn, NULL);
		iv = s3xml_find(v, n, "UploadId", &in, NULL);
		tv = s3xml_find(v, n, "Initiated", &tn, NULL);
		if (kv == NULL || iv == NULL || tv == NULL ||
		    s3xml_text(kv, kn, k, sizeof(k)) != 0 ||
		    strcmp(k, key) != 0)
			continue;
		if ((u = s3xml_text_dup(iv, in)) == NULL)
			return 0;
		same = strcmp(u, id) == 0;
		free(u);
		if (same)
			return s3xml_time(tv, tn, t) == 0;
	}
	return 0;
}

/* ids, markers: see s3xml.h. A marker is the last upload's key or id,
 * and an id of any length is aborted, so a page ending on one over
 * S3_UPLOAD_ID_MAX (transport_s3.c) ended the list when both were read
 * into a fixed array (found by a review). */
int
s3xml_uploads_page(const char *body, size_t len, const char *key,
    const char *keep, long long since, long long before, struct buf *ids,
    char **kmark, char **imark)
{
	const char *p = body, *end = body + len, *v, *after;
	size_t n;
	char k[RFTP_PATH_MAX + 64], *id;

	*kmark = *imark = NULL;
	while ((v = s3xml_find(p, (size_t)(end - p), "Upload", &n, &after)) !=
	    NULL) {
		const char *kv, *iv;
		size_t kn, in;

		kv = s3xml_find(v, n, "Key", &kn, NULL);
		iv = s3xml_find(v, n, "UploadId", &in, NULL);
		/* An id of any length is aborted: one longer than
		 * S3_UPLOAD_ID_MAX was left for ever (a start refuses it). */
		if (kv != NULL && iv != NULL &&
		    s3xml_text(kv, kn, k, sizeof(k)) == 0 &&
		    strcmp(k, key) == 0 && in_window(v, n, since, before) &&
		    (id = s3xml_text_dup(iv, in)) != NULL) {
			if (id[0] != '\0' &&
			    (keep == NULL || strcmp(id, keep) != 0))
				(void)buf_add(ids, id, strlen(id) + 1);
			free(id);
		}
		p = after;
	}
	if (!s3xml_truncated(body, len))
		return 0;
	v = s3xml_find(body, len, "NextKeyMarker", &n, NULL);
	if (v != NULL && (*kmark = s3xml_text_dup(v, n)) == NULL)
		return -1;
	v = s3xml_find(body, len, "NextUploadIdMarker", &n, NULL);
	if (v != NULL && (*imark = s3xml_text_dup(v, n)) == NULL)
		return -1;
	return 1;
}
