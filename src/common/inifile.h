/*
 * inifile.h - INI reading on top of inih, with line numbers and long lines.
 *
 * Owns: feeding a file to Debian's inih (built with a 200-byte line limit and
 * no line numbers in the handler) so that handlers learn the line of every
 * key and a line longer than inih's limit still loads instead of being split
 * into garbage; and feeding (section, key, value) entries built in memory
 * (the library's config builder) to the same handlers, so a file and the
 * builder share every rule and every message. Shared by the server config
 * and the user store.
 */
#ifndef RFTP_INIFILE_H
#define RFTP_INIFILE_H

#include "common/buf.h"

#include <stddef.h>

/* Longest section name Debian's inih keeps (its MAX_SECTION is 50). */
#define INIFILE_SECTION_MAX 49

/* Called for each key, and once with key and value NULL at each section
 * header. Errors are recorded by the handler itself. */
typedef void (*inifile_handler)(void *ctx, int lineno, const char *section,
    const char *key, const char *value);

/*
 * Parses path, calling h for each key. Syntax errors and section names too
 * long for inih are appended to errs as "FILE:LINE: message\n". Returns the
 * number of such errors (or -1 when the file cannot be read: the reason is
 * in errs).
 */
int inifile_parse(
    const char *path, inifile_handler h, void *ctx, struct buf *errs);

/* One key given in memory instead of read from a file. line is what
 * messages call its line (the builder: the ordinal of its set call). */
struct inifile_entry {
	const char *section;
	const char *key;
	const char *value;
	int line;
};

/*
 * Calls h for e[0..n) as inifile_parse calls it for a file: a section
 * header call (key and value NULL, the entry's line) before the first entry
 * and whenever an entry's section differs from the previous one's, then the
 * key call. Values are passed as given: no trimming, no comments. A NULL
 * section, key or value is passed as "" (a key outside any section, an
 * empty key, an empty value), so h never sees a NULL key call it would
 * take for a header. Returns 0: every problem is h's to report.
 */
int inifile_feed(
    const struct inifile_entry *e, size_t n, inifile_handler h, void *ctx);

/* Appends "FILE:LINE: key 'KEY': message\n" to errs. */
void inifile_error(struct buf *errs, const char *file, int line,
    const char *key, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
