/*
 * json.c - the JSON writer (see json.h): the admin listener's answers
 * and the webhook target's events.
 *
 * Must not: allocate beyond the caller's buffer, or emit a byte sequence
 * that a strict parser (Python's json.loads, a browser's JSON.parse)
 * would refuse, whatever the input strings hold.
 */
#include "common/json.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

void
json_init(struct json *j, struct buf *b)
{
	memset(j, 0, sizeof(*j));
	j->b = b;
}

int
json_failed(const struct json *j)
{
	return j->failed;
}

static void
put(struct json *j, const char *p, size_t n)
{
	if (!j->failed && buf_add(j->b, p, n) < 0)
		j->failed = 1;
}

/* The separator before a value or a key at the current depth. */
static void
sep(struct json *j)
{
	if (j->after_key) {
		j->after_key = 0;
		return;
	}
	if (j->count[j->depth])
		put(j, ",", 1);
	j->count[j->depth] = 1;
}

static void
open_(struct json *j, const char *c)
{
	sep(j);
	put(j, c, 1);
	if (j->depth + 1 >= JSON_DEPTH_MAX) {
		j->failed = 1;
		return;
	}
	j->count[++j->depth] = 0;
}

static void
close_(struct json *j, const char *c)
{
	if (j->depth > 0)
		j->depth--;
	put(j, c, 1);
}

void
json_obj(struct json *j)
{
	open_(j, "{");
}

void
json_obj_end(struct json *j)
{
	close_(j, "}");
}

void
json_arr(struct json *j)
{
	open_(j, "[");
}

void
json_arr_end(struct json *j)
{
	close_(j, "]");
}

size_t
utf8_seq(const unsigned char *p, size_t n)
{
	uint32_t cp;
	size_t len;

	if (n == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xC2 && p[0] <= 0xDF) {
		len = 2;
		cp = p[0] & 0x1Fu;
	} else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
		len = 3;
		cp = p[0] & 0x0Fu;
	} else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
		len = 4;
		cp = p[0] & 0x07u;
	} else {
		return 0; /* a continuation byte, C0/C1 or F5..FF */
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3Fu);
	}
	/* Overlong forms, UTF-16 surrogates and beyond Unicode are not
	 * characters (RFC 3629 section 3). */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
		return 0;
	return len;
}

void
json_strn(struct json *j, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0;

	sep(j);
	put(j, "\"", 1);
	while (i < n) {
		const char *esc = NULL;
		char hex[8];
		size_t len = utf8_seq(p + i, n - i);

		if (len == 1) {
			switch (p[i]) {
			case '"':
				esc = "\\\"";
				break;
			case '\\':
				esc = "\\\\";
				break;
			case '\n':
				esc = "\\n";
				break;
			case '\r':
				esc = "\\r";
				break;
			case '\t':
				esc = "\\t";
				break;
			case '<':
			case '>':
			case '&':
				break;
			default:
				if (p[i] >= 0x20) {
					i++;
					run++;
					continue;
				}
			}
			if (esc == NULL) {
				fmt_fixed(hex, sizeof(hex), "\\u%04x", p[i]);
				esc = hex;
			}
		} else if (len > 1) {
			i += len;
			run += len;
			continue;
		} else {
			esc = "\xEF\xBF\xBD"; /* U+FFFD for one bad byte */
		}
		put(j, (const char *)p + i - run, run);
		run = 0;
		put(j, esc, strlen(esc));
		i++;
	}
	put(j, (const char *)p + i - run, run);
	put(j, "\"", 1);
}

void
json_str(struct json *j, const char *s)
{
	json_strn(j, s, strlen(s));
}

void
json_key(struct json *j, const char *name)
{
	json_str(j, name);
	put(j, ":", 1);
	j->after_key = 1;
}

static void
raw(struct json *j, const char *text)
{
	sep(j);
	put(j, text, strlen(text));
}

void
json_i64(struct json *j, int64_t v)
{
	char t[24];

	fmt_fixed(t, sizeof(t), "%" PRId64, v);
	raw(j, t);
}

void
json_u64(struct json *j, uint64_t v)
{
	char t[24];

	fmt_fixed(t, sizeof(t), "%" PRIu64, v);
	raw(j, t);
}

void
json_bool(struct json *j, int v)
{
	raw(j, v ? "true" : "false");
}

void
json_null(struct json *j)
{
	raw(j, "null");
}

void
json_time(struct json *j, int64_t ms)
{
	struct tm tm;
	time_t t;
	char text[40];

	if (ms <= 0) {
		json_null(j);
		return;
	}
	t = (time_t)(ms / 1000);
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		json_null(j);
		return;
	}
	json_str(j, text);
}
