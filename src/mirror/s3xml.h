/*
 * s3xml.h - the readers of an S3 service's XML answers.
 *
 * Owns: finding an element's text in a reply body (s3xml_find,
 * s3xml_opens), decoding it (the five entities, character references,
 * CDATA: s3xml_text, s3xml_text_dup), whether a list goes on
 * (s3xml_truncated) and one page of a ListMultipartUploads answer
 * (s3xml_uploads_page). A broken or hostile service controls every byte
 * they read: each takes an explicit length, reads nothing past it and
 * writes nothing past the room it is given. Pure functions, no I/O, no
 * libcurl: the S3 transport (transport_s3.c) asks and acts on them; the
 * unit test and the fuzz target read them alone.
 */
#ifndef RFTP_S3XML_H
#define RFTP_S3XML_H

#include <stddef.h>

struct buf;

/* The text of the first element <tag> in s[0..slen) (its open tag with
 * any attributes and white space, "<tag xmlns=...>", "<tag >"; an empty
 * "<tag/>" has text of length 0; a namespace prefix, "<p:tag>"), up to
 * the first "</tag>" (or "</p:tag>") after it (white space allowed
 * before its '>'), or NULL if there is none or it is
 * not closed: *len its length; *after (if not NULL) the byte after its
 * close tag. A tag longer than 60 bytes is never found. */
const char *s3xml_find(const char *s, size_t slen, const char *tag, size_t *len,
    const char **after);

/* Whether s[0..n) holds an element <tag ...> opened (attributes, such as
 * a namespace, allowed; a prefix on its name too), closed or not: 1 or
 * 0. */
int s3xml_opens(const char *s, size_t n, const char *tag);

/* Copies the XML text s[0..n) into out[outlen], NUL-terminated, decoding
 * the five entities and character references (XML 1.0 section 4.1) and
 * taking a CDATA section's bytes as they are (section 2.7); an '&' that
 * starts neither, and a CDATA section not closed, are taken as they are.
 * 0, or -1 if it does not fit (out then holds no meaning). The text is
 * never longer than n bytes. */
int s3xml_text(const char *s, size_t n, char *out, size_t outlen);

/* s3xml_text of s[0..n) into memory of its own, whatever its length: the
 * caller frees it; NULL without memory. */
char *s3xml_text_dup(const char *s, size_t n);

/* Whether the answer body[0..len) says its list goes on: its first
 * <IsTruncated> is "true" in any case or "1", white space around it
 * allowed (1), anything else 0. */
int s3xml_truncated(const char *body, size_t len);

/*
 * One page of a ListMultipartUploads answer body[0..len): the ids of
 * exactly key's uploads but keep (NULL: none kept) appended to ids, each
 * followed by a NUL (an id of any length; empty ones and ones that do not
 * fit in ids are left out), and where the list goes on (NextKeyMarker,
 * NextUploadIdMarker: NULL if not given) into *kmark and *imark, decoded
 * whole into memory of their own (the caller frees them, also on -1).
 * since or before not 0: only uploads whose Initiated (ISO 8601 in UTC,
 * "2026-12-07T15:00:00.000Z") is at or after since (0: whenever) and
 * earlier than before (0: now), both in seconds since the epoch; one
 * without it, or unreadable, is left out.
 * 1 if the service says the list goes on (s3xml_truncated), 0 if not
 * (no marker read then), -1 without memory for a marker.
 */
int s3xml_uploads_page(const char *body, size_t len, const char *key,
    const char *keep, long long since, long long before, struct buf *ids,
    char **kmark, char **imark);

/* Whether the ListMultipartUploads page body[0..len) lists the upload id
 * of exactly key with a readable Initiated: 1 with it in *t (seconds
 * since the epoch, by the service's clock), 0 if not. */
int s3xml_upload_initiated(const char *body, size_t len, const char *key,
    const char *id, long long *t);

/* An ISO 8601 time in UTC as S3 writes it, s[0..n) ("YYYY-MM-DDTHH:MM:SS"
 * then optional fraction, then 'Z'), into *t (seconds since the epoch):
 * 0, or -1 if it is not one. */
int s3xml_time(const char *s, size_t n, long long *t);

#endif
