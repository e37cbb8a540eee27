/*
 * buf.h - a bounded, growable byte buffer (the curl dynbuf idea).
 *
 * Owns: memory for text we build from untrusted pieces (replies, listings,
 * paths). Every buffer has a hard cap ("toobig"); an append past it fails and
 * leaves the contents as they were, so no caller can grow memory without bound.
 * The contents are always NUL-terminated.
 * Also: fmt_fixed, the one way to format into a fixed array, which turns
 * truncation into an error.
 */
#ifndef RFTP_BUF_H
#define RFTP_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max; /* hard cap on len */
};

/* Starts an empty buffer that may hold at most max bytes. Allocates nothing. */
void buf_init(struct buf *b, size_t max);
/* Frees the memory; the buffer can be reused after buf_init. */
void buf_free(struct buf *b);
/* Empties the buffer, keeping its memory. */
void buf_reset(struct buf *b);
/* Appends; returns 0, or -1 (contents unchanged) on overflow or no memory. */
int buf_add(struct buf *b, const void *p, size_t n);
int buf_adds(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* "" for an empty, never-allocated buffer. */
const char *buf_str(const struct buf *b);

/*
 * snprintf into out[len] that refuses to cut: returns 0, or -1 when the
 * text does not fit (or len is 0), and out is then "" so a shortened path
 * or name can never be used by a caller that forgot the check.
 */
int fmt_fixed(char *out, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
