/*
 * wildcard.c - see wildcard.h.
 */
#include "server/wildcard.h"

#include <stddef.h>
#include <string.h>

int
wildcard_is_pattern(const char *name)
{
	return strpbrk(name, "*?[") != NULL;
}

/* The length of the UTF-8 character at s (1 for a byte that starts none:
 * a name is bytes, and a stray one is still one "character"). */
static size_t
char_len(const unsigned char *s)
{
	size_t n = 1;

	if (s[0] >= 0xc0)
		while (n < 4 && (s[n] & 0xc0) == 0x80)
			n++;
	return n;
}

/* The code of the character at s (n bytes), for ranges. */
static unsigned
char_code(const unsigned char *s, size_t n)
{
	unsigned c = n == 1 ? s[0] : s[0] & (0x7fu >> n);

	for (size_t i = 1; i < n; i++)
		c = (c << 6) | (s[i] & 0x3fu);
	return c;
}

/*
 * The set at p (just past '['): whether the character c is in it, and in
 * *end where the set ends (past its ']'). A '[' without its ']' is not a
 * set: *end is NULL and the caller matches the '[' as itself. last_close
 * is the pattern's last ']' (NULL: none): a '[' past it is known at once
 * to be itself, so a pattern of many unclosed '[' is not scanned to its
 * end at every one of them (that made the work pattern^2 x name).
 */
static int
in_set(const unsigned char *p, const unsigned char *last_close, unsigned c,
    const unsigned char **end)
{
	int negate = 0, hit = 0;
	const unsigned char *q = p;

	if (last_close == NULL || p > last_close) {
		*end = NULL;
		return 0;
	}

	if (*q == '!' || *q == '^') {
		negate = 1;
		q++;
	}
	/* A ']' first is a member, as in the shell. */
	for (int first = 1; *q != '\0' && (first || *q != ']'); first = 0) {
		size_t n = char_len(q);
		unsigned lo = char_code(q, n), hi = lo;

		q += n;
		if (q[0] == '-' && q[1] != ']' && q[1] != '\0') {
			n = char_len(q + 1);
			hi = char_code(q + 1, n);
			q += 1 + n;
		}
		if (c >= lo && c <= hi)
			hit = 1;
	}
	if (*q != ']') {
		*end = NULL;
		return 0;
	}
	*end = q + 1;
	return hit != negate;
}

/* Whether the pattern's single-character item at *pp matches the
 * character at s (n bytes); moves *pp past the item. */
static int
one_char(const unsigned char **pp, const unsigned char *last_close,
    const unsigned char *s, size_t n)
{
	const unsigned char *p = *pp, *end;
	int hit;

	if (*p == '?') {
		*pp = p + 1;
		return 1;
	}
	if (*p == '[') {
		hit = in_set(p + 1, last_close, char_code(s, n), &end);
		if (end != NULL) {
			*pp = end;
			return hit;
		}
	}
	*pp = p + 1;
	return *p == *s;
}

int
wildcard_match(const char *pattern, const char *name)
{
	const unsigned char *p = (const unsigned char *)pattern;
	const unsigned char *s = (const unsigned char *)name;
	const unsigned char *star_p = NULL, *star_s = NULL;
	const unsigned char *last_close =
	    (const unsigned char *)strrchr(pattern, ']');

	/* ls: only a '.' written in the pattern matches a leading one. */
	if (*s == '.' && *p != '.')
		return 0;
	while (*s != '\0') {
		size_t n = char_len(s);
		const unsigned char *next = p;

		if (*p == '*') {
			/* Try the rest here; on a mismatch come back and let
			 * this star take one more character. */
			while (*p == '*')
				p++;
			star_p = p;
			star_s = s;
			continue;
		}
		/* A literal byte compares byte by byte (UTF-8 is matched
		 * as its bytes); '?' and sets take a whole character. */
		if (*p != '\0' && *p != '?' && *p != '[')
			n = 1;
		if (*p != '\0' && one_char(&next, last_close, s, n)) {
			p = next;
			s += n;
			continue;
		}
		if (star_p == NULL)
			return 0;
		star_s += char_len(star_s);
		s = star_s;
		p = star_p;
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}
