/*
 * fuzz_wildcard.c - libFuzzer target for the patterns of LIST and NLST
 * (server/wildcard.h): the input is a pattern, a newline, and a name, as
 * a client and a folder give them. Compiling and matching must stay in
 * bounds; the steps counted must stay within the pattern's length times
 * the name's, times the pattern's again for sets of wide ranges (the bound
 * listing.c relies on); a pattern without wildcards
 * matches only its own name; "*" every name without a leading '.'.
 */
#include "server/wildcard.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char pattern[256], name[256];
	const uint8_t *nl = memchr(data, '\n', size);
	size_t plen, nlen;
	struct wildcard *w, *star;
	uint64_t steps = 0;
	int hit;

	if (nl == NULL)
		return 0;
	plen = (size_t)(nl - data);
	nlen = size - plen - 1;
	if (plen >= sizeof(pattern) || nlen >= sizeof(name) ||
	    memchr(data, '\0', size) != NULL)
		return 0;
	memcpy(pattern, data, plen);
	pattern[plen] = '\0';
	memcpy(name, nl + 1, nlen);
	name[nlen] = '\0';

	w = wildcard_compile(pattern);
	if (w == NULL)
		return 0;
	hit = wildcard_matches(w, name, &steps);
	/* A step per item and character, and per wide range a set looks
	 * at (at most one per byte of the pattern). */
	if ((hit != 0 && hit != 1) ||
	    steps > (plen + 2) * (nlen + 2) * (plen + 1))
		__builtin_trap();
	if (!wildcard_is_pattern(pattern) &&
	    hit != (strcmp(pattern, name) == 0))
		__builtin_trap();
	wildcard_free(w);

	star = wildcard_compile("*");
	if (star != NULL) {
		steps = 0;
		if (wildcard_matches(star, name, &steps) != (name[0] != '.'))
			__builtin_trap();
		wildcard_free(star);
	}
	return 0;
}
