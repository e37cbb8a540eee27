/*
 * fnv.h - FNV-1a, 64 bits: the one quick non-cryptographic hash.
 *
 * Owns: the algorithm and its two constants (the offset basis and the
 * prime, draft-eastlake-fnv). Used for table slots and small keys, never
 * where a client could choose colliding inputs to harm anyone else, and
 * never for integrity (hash.h has the digests). A value that is stored
 * (the mirror queue's flows, session.c) must stay the same across
 * versions: the algorithm here does not change.
 */
#ifndef RFTP_FNV_H
#define RFTP_FNV_H

#include <stddef.h>
#include <stdint.h>

/* The hash of no bytes (the offset basis), where every hash starts. */
#define FNV1A64_INIT 14695981039346656037ULL

/* h carried on over the len bytes at p. Hash several parts by passing
 * each result as the next h; a part's terminating NUL, hashed too
 * (len = strlen + 1), keeps ("ab", "c") apart from ("a", "bc"). */
uint64_t fnv1a64(uint64_t h, const void *p, size_t len);

/* h carried on over the bytes of the string s, not its NUL. */
uint64_t fnv1a64_str(uint64_t h, const char *s);

#endif
