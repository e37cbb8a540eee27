/*
 * wildcard.c - see wildcard.h.
 */
#include "server/wildcard.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum item_kind {
	IT_END,  /* the pattern's end */
	IT_BYTE, /* this byte (UTF-8 is matched as its bytes) */
	IT_ANY,  /* '?': one character */
	IT_SET,  /* '[...]': one character of a set */
	IT_STAR, /* '*' (a run of them is one) */
};

struct item {
	unsigned char kind;
	unsigned char byte;   /* IT_BYTE */
	unsigned char negate; /* IT_SET: '!' or '^' first */
	size_t set;           /* IT_SET: index into sets */
};

/* A set's members: codes below 256 (ASCII, Latin-1 and stray bytes) in a
 * bitmap, each looked up in one step; wider ones as ranges. */
struct set {
	unsigned long long low[4];
	size_t wide_first, wide_n; /* in wide */
};

struct range {
	unsigned lo, hi;
};

struct wildcard {
	int dot; /* the pattern starts with '.' */
	struct item *items;
	struct set *sets;
	struct range *wide;
};

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

/* The code of the character at s (n bytes), for sets. */
static unsigned
char_code(const unsigned char *s, size_t n)
{
	unsigned c = n == 1 ? s[0] : s[0] & (0x7fu >> n);

	for (size_t i = 1; i < n; i++)
		c = (c << 6) | (s[i] & 0x3fu);
	return c;
}

static void
set_add(struct wildcard *w, struct set *set, unsigned lo, unsigned hi)
{
	for (unsigned c = lo; c <= hi && c < 256; c++)
		set->low[c / 64] |= 1ULL << (c % 64);
	if (hi >= 256 && lo <= hi) {
		w->wide[set->wide_first + set->wide_n].lo = lo < 256 ? 256 : lo;
		w->wide[set->wide_first + set->wide_n].hi = hi;
		set->wide_n++;
	}
}

/*
 * The set at p (just past '[') into it: returns where the set ends (past
 * its ']'), or NULL if it has no ']' (then the '[' is itself, as in the
 * shell). A ']' first is a member; "a-z" is a range of characters.
 */
static const unsigned char *
set_compile(struct wildcard *w, struct item *it, size_t nsets, size_t *nwide,
    const unsigned char *p)
{
	struct set *set = &w->sets[nsets];
	const unsigned char *q = p;

	memset(set, 0, sizeof(*set));
	set->wide_first = *nwide;
	it->negate = 0;
	if (*q == '!' || *q == '^') {
		it->negate = 1;
		q++;
	}
	for (int first = 1; *q != '\0' && (first || *q != ']'); first = 0) {
		size_t n = char_len(q);
		unsigned lo = char_code(q, n), hi = lo;

		q += n;
		if (q[0] == '-' && q[1] != ']' && q[1] != '\0') {
			n = char_len(q + 1);
			hi = char_code(q + 1, n);
			q += 1 + n;
		}
		set_add(w, set, lo, hi);
	}
	if (*q != ']')
		return NULL;
	it->kind = IT_SET;
	it->set = nsets;
	*nwide += set->wide_n;
	return q + 1;
}

void
wildcard_free(struct wildcard *w)
{
	if (w == NULL)
		return;
	free(w->items);
	free(w->sets);
	free(w->wide);
	free(w);
}

struct wildcard *
wildcard_compile(const char *pattern)
{
	const unsigned char *p = (const unsigned char *)pattern;
	size_t len = strlen(pattern), n = 0, nsets = 0, nwide = 0;
	struct wildcard *w = calloc(1, sizeof(*w));

	/* At most one item per byte, one set per two bytes ("[]" is none)
	 * and one range per byte of a set. */
	if (w == NULL ||
	    (w->items = calloc(len + 1, sizeof(*w->items))) == NULL ||
	    (w->sets = calloc(len / 2 + 1, sizeof(*w->sets))) == NULL ||
	    (w->wide = calloc(len + 1, sizeof(*w->wide))) == NULL) {
		wildcard_free(w);
		errno = ENOMEM;
		return NULL;
	}
	w->dot = p[0] == '.';
	while (*p != '\0') {
		struct item *it = &w->items[n];
		const unsigned char *end;

		if (*p == '*') {
			while (*p == '*')
				p++;
			it->kind = IT_STAR;
		} else if (*p == '?') {
			it->kind = IT_ANY;
			p++;
		} else if (*p == '[' &&
		    (end = set_compile(w, it, nsets, &nwide, p + 1)) != NULL) {
			nsets++;
			p = end;
		} else {
			it->kind = IT_BYTE;
			it->byte = *p++;
		}
		n++;
	}
	w->items[n].kind = IT_END;
	return w;
}

/* Whether the character c is in the set; a wide one adds the ranges it
 * looks at to *steps, so that the bound on a listing's work holds for
 * sets of many wide members too. */
static int
set_has(const struct wildcard *w, const struct set *set, unsigned c,
    uint64_t *steps)
{
	if (c < 256)
		return (set->low[c / 64] >> (c % 64)) & 1;
	*steps += set->wide_n;
	for (size_t i = 0; i < set->wide_n; i++) {
		const struct range *r = &w->wide[set->wide_first + i];

		if (c >= r->lo && c <= r->hi)
			return 1;
	}
	return 0;
}

/* Whether the item (not a star, not the end) matches at s; *n is the
 * character's length there, and becomes what the item takes. */
static int
item_hits(const struct wildcard *w, const struct item *it,
    const unsigned char *s, size_t *n, uint64_t *steps)
{
	switch (it->kind) {
	case IT_BYTE:
		*n = 1;
		return *s == it->byte;
	case IT_ANY:
		return 1;
	case IT_SET:
		return set_has(w, &w->sets[it->set], char_code(s, *n), steps) !=
		    it->negate;
	default:
		return 0;
	}
}

int
wildcard_matches(const struct wildcard *w, const char *name, uint64_t *steps)
{
	const struct item *it = w->items, *star_p = NULL;
	const unsigned char *s = (const unsigned char *)name, *star_s = NULL;
	uint64_t count = 0;
	int hit;

	/* ls: only a '.' written in the pattern matches a leading one. */
	if (*s == '.' && !w->dot) {
		*steps += 1;
		return 0;
	}
	while (*s != '\0') {
		size_t n = char_len(s);

		count++;
		if (it->kind == IT_STAR) {
			/* Try the rest here; on a mismatch come back and let
			 * this star take one more character. */
			star_p = ++it;
			star_s = s;
			continue;
		}
		if (it->kind != IT_END && item_hits(w, it, s, &n, &count)) {
			it++;
			s += n;
			continue;
		}
		if (star_p == NULL) {
			*steps += count;
			return 0;
		}
		star_s += char_len(star_s);
		s = star_s;
		it = star_p;
	}
	while (it->kind == IT_STAR)
		it++;
	hit = it->kind == IT_END;
	*steps += count;
	return hit;
}

int
wildcard_match(const char *pattern, const char *name)
{
	struct wildcard *w = wildcard_compile(pattern);
	uint64_t steps = 0;
	int hit;

	if (w == NULL)
		return 0;
	hit = wildcard_matches(w, name, &steps);
	wildcard_free(w);
	return hit;
}
