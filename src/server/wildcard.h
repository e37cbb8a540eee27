/*
 * wildcard.h - the name patterns of LIST and NLST ("*.txt", "img_??.jpg").
 *
 * Owns: matching file names against one pattern, as a shell's ls would:
 * '*' any run of characters, '?' one character (one UTF-8 character, not
 * one byte), '[...]' one character of a set or range ('!' or '^' first:
 * not of it), every other byte itself. A leading '.' of a name is matched
 * only by a '.' in the pattern (ls *.txt does not show .hidden.txt). There
 * is no escape character: a name that holds wildcards itself is listed by
 * its own name (listing.c tries that first).
 *
 * Not glibc's fnmatch(3): its '*' backtracks into every later '*', so a
 * client's "*a*a*a*a*a*a*a*a*b" against a folder of long names costs
 * time exponential in the stars. This one backtracks only to the last
 * '*' seen, which is enough for a pattern of '*' and single characters:
 * at most (items of the pattern) x (characters of the name) steps. The
 * pattern is compiled once per listing, every set into a table, so a step
 * costs the same for "[a-z0-9_.-]" as for "?" (a character past U+00FF is
 * looked up in the set's wide ranges, each counted as a step); the steps
 * are counted, so that a listing can bound what one pattern costs over a
 * whole folder
 * (listing.c: "*" then 60 sets against 100,000 names of 250 bytes is
 * 1.2 billion steps, where a plain listing of that folder is 25 million
 * bytes of names).
 */
#ifndef RFTP_WILDCARD_H
#define RFTP_WILDCARD_H

#include <stdint.h>

struct wildcard;

/* Whether name has '*', '?' or '[': a pattern rather than a path. */
int wildcard_is_pattern(const char *name);

/* The pattern (NUL-terminated), compiled; NULL with errno ENOMEM. */
struct wildcard *wildcard_compile(const char *pattern);
void wildcard_free(struct wildcard *w);

/* Whether name matches the compiled pattern: 1 or 0. Adds the steps it
 * took to *steps. */
int wildcard_matches(
    const struct wildcard *w, const char *name, uint64_t *steps);

/* One match of pattern against name, compiled for it (the tests' form):
 * 1 or 0, and 0 if memory ran out. */
int wildcard_match(const char *pattern, const char *name);

#endif
