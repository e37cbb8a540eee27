/*
 * json.h - a small JSON writer into a bounded buffer (RFC 8259).
 *
 * Owns: JSON syntax of what the admin listener answers and of the events
 * a webhook target posts (mirror/transport_hook.c): commas, quoting
 * and escaping. Strings are escaped per RFC 8259 section 7 (quote,
 * backslash and every control character), '<', '>' and '&' as \u00XX so
 * the text is inert even if some client renders it as HTML, and bytes
 * that are not valid UTF-8 become U+FFFD: whatever a user name or a path
 * holds, the output is valid JSON. Errors are sticky: after the buffer's
 * cap is hit every call does nothing and json_failed says so.
 */
#ifndef RFTP_COMMON_JSON_H
#define RFTP_COMMON_JSON_H

#include "common/buf.h"

#include <stddef.h>
#include <stdint.h>

#define JSON_DEPTH_MAX 16

struct json {
	struct buf *b;
	int failed;
	int depth;
	int after_key;
	unsigned char count[JSON_DEPTH_MAX]; /* values so far (0, 1: many) */
};

/* Writes into b (appending; b's cap bounds the whole document). */
void json_init(struct json *j, struct buf *b);
/* 1 if the document did not fit (or was nested too deep). */
int json_failed(const struct json *j);

void json_obj(struct json *j); /* { */
void json_obj_end(struct json *j);
void json_arr(struct json *j); /* [ */
void json_arr_end(struct json *j);
/* A member name; the next call writes its value. */
void json_key(struct json *j, const char *name);
void json_str(struct json *j, const char *s);
void json_strn(struct json *j, const char *s, size_t n);
void json_i64(struct json *j, int64_t v);
void json_u64(struct json *j, uint64_t v);
void json_bool(struct json *j, int v);
void json_null(struct json *j);
/* ms since the epoch as "2026-12-01T13:00:00Z"; 0 or less as null. */
void json_time(struct json *j, int64_t ms);

/* The length of the valid UTF-8 sequence at p[0..n) (1-4), or 0 if the
 * bytes there are not one (overlong, a surrogate, past U+10FFFF, cut). */
size_t utf8_seq(const unsigned char *p, size_t n);

#endif
