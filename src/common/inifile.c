/*
 * inifile.c - line-numbered, long-line-safe parsing over inih.
 *
 * inih reads through a reader callback, one line per call; counting calls
 * gives the line number the handler is looking at. A line that would not fit
 * inih's buffer is read whole here and its value parked in a side slot; inih
 * sees "key = \x01" and the handler wrapper swaps the parked value back in.
 * Entries made in memory skip inih: inifile_feed makes the same calls.
 */
#include "common/inifile.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct reader {
	FILE *f;
	const char *path;
	struct buf *errs;
	int nerr; /* problems found here, beyond inih's syntax errors */
	int lineno;
	char *parked; /* value of the current over-long line, or NULL */
	inifile_handler h;
	void *ctx;
};

#define PARKED_MARK "\x01"

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s &&
	    (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* inih's rule for short lines, applied to long ones: ';' after a blank
 * starts a comment. */
static void
strip_inline_comment(char *s)
{
	for (char *p = s; *p != '\0'; p++) {
		if (*p == ';' && p > s && (p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			return;
		}
	}
}

static char *
reader_fn(char *str, int num, void *stream)
{
	struct reader *r = stream;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	free(r->parked);
	r->parked = NULL;
	n = getline(&line, &cap, r->f);
	if (n < 0) {
		free(line);
		return NULL;
	}
	r->lineno++;
	{
		const char *t = line + strspn(line, " \t");

		/* inih keeps 49 bytes of a section name and drops the rest
		 * silently: two long user names would merge into one. */
		if (*t == '[') {
			size_t nlen = strcspn(t + 1, "]\n");

			if (nlen > INIFILE_SECTION_MAX) {
				inifile_error(r->errs, r->path, r->lineno, NULL,
				    "section name longer than %d bytes",
				    INIFILE_SECTION_MAX);
				r->nerr++;
			} else if (t[1 + nlen] == ']') {
				/* Debian's inih does not report a section
				 * until it has a key; an empty [target:x]
				 * must not vanish silently. */
				char name[INIFILE_SECTION_MAX + 1];

				memcpy(name, t + 1, nlen);
				name[nlen] = '\0';
				r->h(r->ctx, r->lineno, name, NULL, NULL);
			}
		}
		/* A long comment is still a comment. */
		if (*t == ';' || *t == '#') {
			free(line);
			snprintf(str, (size_t)num, ";\n");
			return str;
		}
	}
	if (n < num - 1 || (n == num - 1 && line[n - 1] == '\n')) {
		memcpy(str, line, (size_t)n + 1);
		free(line);
		return str;
	}
	/* Too long for inih: keep the key, park the value. */
	{
		char *eq = strchr(line, '=');
		char *key;
		int w;

		if (eq == NULL) {
			/* No key: hand inih a line it reports as a syntax
			 * error at this line number. */
			snprintf(str, (size_t)num, "%s\n", "!line too long");
			free(line);
			return str;
		}
		*eq = '\0';
		key = trim(line);
		strip_inline_comment(eq + 1);
		r->parked = strdup(trim(eq + 1));
		w = snprintf(str, (size_t)num, "%s = " PARKED_MARK "\n", key);
		if (w < 0 || w >= num || r->parked == NULL) {
			snprintf(str, (size_t)num, "%s\n", "!key too long");
			free(r->parked);
			r->parked = NULL;
		}
	}
	free(line);
	return str;
}

static int
handler_fn(void *user, const char *section, const char *name, const char *value)
{
	struct reader *r = user;

	if (r->parked != NULL && strcmp(value, PARKED_MARK) == 0)
		value = r->parked;
	r->h(r->ctx, r->lineno, section, name, value);
	return 1;
}

void
inifile_error(struct buf *errs, const char *file, int line, const char *key,
    const char *fmt, ...)
{
	va_list ap;

	if (key != NULL)
		buf_printf(errs, "%s:%d: key '%s': ", file, line, key);
	else
		buf_printf(errs, "%s:%d: ", file, line);
	va_start(ap, fmt);
	buf_vprintf(errs, fmt, ap);
	va_end(ap);
	buf_adds(errs, "\n");
}

int
inifile_parse(const char *path, inifile_handler h, void *ctx, struct buf *errs)
{
	struct reader r = { 0 };
	int rc;

	r.f = fopen(path, "re");
	if (r.f == NULL) {
		buf_printf(
		    errs, "%s: cannot open: %s\n", path, strerror(errno));
		return -1;
	}
	r.h = h;
	r.ctx = ctx;
	r.path = path;
	r.errs = errs;
	/* ini_parse_stream's handler has no line number; reader_fn counts. */
	rc = ini_parse_stream(reader_fn, &r, handler_fn, &r);
	free(r.parked);
	fclose(r.f);
	if (rc > 0) {
		inifile_error(errs, path, rc, NULL,
		    "syntax error (expected [section] or key = value)");
		return 1 + r.nerr;
	}
	if (rc < 0) {
		buf_printf(errs, "%s: cannot parse\n", path);
		return -1;
	}
	return r.nerr;
}

int
inifile_feed(
    const struct inifile_entry *e, size_t n, inifile_handler h, void *ctx)
{
	const char *prev = NULL;

	for (size_t i = 0; i < n; i++) {
		const char *section = e[i].section ? e[i].section : "";
		const char *key = e[i].key ? e[i].key : "";
		const char *value = e[i].value ? e[i].value : "";

		if (prev == NULL || strcmp(prev, section) != 0)
			h(ctx, e[i].line, section, NULL, NULL);
		prev = section;
		h(ctx, e[i].line, section, key, value);
	}
	return 0;
}
