/*
 * wildcard.h - the name patterns of LIST and NLST ("*.txt", "img_??.jpg").
 *
 * Owns: matching one file name against one pattern, as a shell's ls
 * would: '*' any run of characters, '?' one character (one UTF-8
 * character, not one byte), '[...]' one character of a set or range
 * ('!' or '^' first: not of it), every other byte itself. A leading '.'
 * of a name is matched only by a '.' in the pattern (ls *.txt does not
 * show .hidden.txt). There is no escape character: a name that holds
 * wildcards itself is listed by its own name (listing.c tries that first).
 *
 * Not glibc's fnmatch(3): its '*' backtracks into every later '*', so a
 * client's "*a*a*a*a*a*a*a*a*b" against a folder of long names costs
 * time exponential in the stars. This one backtracks only to the last
 * '*' seen, which is enough for a pattern of '*' and single characters:
 * at most pattern length x name length steps (a set is read once per step,
 * and a '[' with no ']' after it is known at once).
 */
#ifndef RFTP_WILDCARD_H
#define RFTP_WILDCARD_H

/* Whether name has '*', '?' or '[': a pattern rather than a path. */
int wildcard_is_pattern(const char *name);

/* Whether name matches pattern (both NUL-terminated): 1 or 0. */
int wildcard_match(const char *pattern, const char *name);

#endif
