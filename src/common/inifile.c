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
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/*
 * A line longer than this is an error, and the file is not read further:
 * getline grew its buffer to any length (a 1 GiB line of a sparse file
 * took the daemon to 1 GiB at a reload; found from outside). Far above
 * any real line: a path is at most PATH_MAX, a list of targets a few
 * hundred bytes.
 */
#define INIFILE_LINE_MAX (64 * 1024)

/*
 * One line of f, its '\n' kept, into *line (grown as needed, at most
 * INIFILE_LINE_MAX + 2 bytes): its length; 0 at the end of the file; -1
 * on a read error (errno); -2 if the line is longer than
 * INIFILE_LINE_MAX. A line may hold NUL bytes (line_refused looks).
 */
static ssize_t
read_line(FILE *f, char **line, size_t *cap)
{
	size_t n = 0;
	int c;

	for (;;) {
		if (n + 2 > *cap) {
			size_t want = *cap ? *cap * 2 : 256;
			char *p;

			if (want > INIFILE_LINE_MAX + 2)
				want = INIFILE_LINE_MAX + 2;
			if (n + 2 > want)
				return -2;
			p = realloc(*line, want);
			if (p == NULL)
				return -1;
			*line = p;
			*cap = want;
		}
		c = getc_unlocked(f);
		if (c == EOF)
			break;
		(*line)[n++] = (char)c;
		if (c == '\n')
			break;
	}
	if (ferror(f))
		return -1;
	(*line)[n] = '\0';
	return (ssize_t)n;
}

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

/*
 * Lines inih would read as something else than they show, each an error
 * at its line (and not read: the caller hands inih a comment), so that no
 * value is ever changed unseen:
 * - a NUL byte: inih's strings end there ("max_clients = 5\0" "0" was 5,
 *   "home = a\0/../../b" was a);
 * - an indented line: inih joins it to the previous key's value (a
 *   "    max_clients = 1" under "xferlog = x" named the transfer log);
 * - a CR inside a line: a file with CR-only line ends is one line to
 *   inih, every key in it lost;
 * - text after a section's "]": inih drops it ("[server] max_clients = 3").
 * Blank and comment lines may be indented.
 */
static int
line_refused(struct reader *r, const char *line, size_t n)
{
	const char *why = NULL;
	const char *t = line + strspn(line, " \t");
	size_t body = n;

	if (body > 0 && line[body - 1] == '\n')
		body--;
	if (body > 0 && line[body - 1] == '\r')
		body--;
	if (memchr(line, '\0', n) != NULL)
		why = "a NUL byte in the line";
	else if (memchr(line, '\r', body) != NULL)
		why = "a CR inside the line (line ends must be LF or CR LF)";
	else if (t != line && *t != '\0' && *t != '\n' && *t != '\r' &&
	    *t != ';' && *t != '#')
		why = "an indented line (it would be read as more of the "
		      "previous value): remove the indent";
	else if (*t == '[') {
		const char *end = memchr(t, ']', body - (size_t)(t - line));

		if (end != NULL) {
			end++;
			end += strspn(end, " \t");
			if (end < line + body && *end != ';' && *end != '#')
				why = "text after the section's ']': put each "
				      "key on a line of its own";
		}
	}
	if (why == NULL)
		return 0;
	inifile_error(r->errs, r->path, r->lineno, NULL, "%s", why);
	r->nerr++;
	return 1;
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
	errno = 0;
	n = read_line(r->f, &line, &cap);
	if (n <= 0) {
		/* The end, or an error that is not one: a read that failed
		 * half way was the end of the file, and the part before it
		 * was served (a "permissions = ro" after it lost; found from
		 * outside). */
		if (n == -2)
			inifile_error(r->errs, r->path, r->lineno + 1, NULL,
			    "line longer than %d bytes: not read further",
			    INIFILE_LINE_MAX);
		else if (n < 0)
			inifile_error(r->errs, r->path, r->lineno + 1, NULL,
			    "cannot read: %s", strerror(errno ? errno : EIO));
		if (n < 0)
			r->nerr++;
		free(line);
		return NULL;
	}
	r->lineno++;
	/* A UTF-8 byte-order mark (Notepad writes one) is dropped here, not
	 * by inih: the checks below must see the line's first real byte (an
	 * over-long first section name passed them, cut to 49 bytes). */
	if (r->lineno == 1 && n >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0) {
		memmove(line, line + 3, (size_t)n - 2);
		n -= 3;
	}
	if (line_refused(r, line, (size_t)n)) {
		free(line);
		snprintf(str, (size_t)num, ";\n");
		return str;
	}
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

/*
 * Opens path for reading if it is a regular file. A folder read as an
 * empty file (every default served, or no users at all), /dev/zero as one
 * endless line, and a FIFO blocked the open until a writer came: each is
 * an error that says what the path is. O_NONBLOCK only for the open.
 */
static int
open_regular(const char *path, FILE **out, struct buf *errs)
{
	struct stat st = { 0 };
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

	if (fd < 0) {
		buf_printf(
		    errs, "%s: cannot open: %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		buf_printf(errs, "%s: cannot read: %s\n", path,
		    S_ISDIR(st.st_mode) ? "it is a folder" :
		                          "it is not a regular file");
		close(fd);
		return -1;
	}
	if (fcntl(fd, F_SETFL, 0) < 0 || (*out = fdopen(fd, "r")) == NULL) {
		buf_printf(
		    errs, "%s: cannot open: %s\n", path, strerror(errno));
		close(fd);
		return -1;
	}
	return 0;
}

int
inifile_parse(const char *path, inifile_handler h, void *ctx, struct buf *errs)
{
	struct reader r = { 0 };
	int rc;

	if (open_regular(path, &r.f, errs) < 0)
		return -1;
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
