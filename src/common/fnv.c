/*
 * fnv.c - see fnv.h. Pure: no state, no allocation, no system calls.
 */
#include "common/fnv.h"

/* The 64-bit FNV prime. */
#define FNV1A64_PRIME 1099511628211ULL

uint64_t
fnv1a64(uint64_t h, const void *p, size_t len)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < len; i++)
		h = (h ^ c[i]) * FNV1A64_PRIME;
	return h;
}

uint64_t
fnv1a64_str(uint64_t h, const char *s)
{
	for (const unsigned char *c = (const unsigned char *)s; *c != '\0'; c++)
		h = (h ^ *c) * FNV1A64_PRIME;
	return h;
}
