/*
 * pendset.h - the watcher's files waiting for their quiet time.
 *
 * Owns: a hash set of (user index, path) entries, each with the time it is
 * due, each path allocated to its length, with a hard cap on entries and
 * on the memory of the whole set (paths, entries and slots, counting the
 * doublings the next entry would trigger). Open addressing with linear
 * probing and backward-shift deletion. Pure memory: no clock, no I/O, no
 * locks; one thread (the watcher's) uses a set.
 */
#ifndef RFTP_PENDSET_H
#define RFTP_PENDSET_H

#include <stddef.h>
#include <stdint.h>

struct pend_entry {
	size_t user;
	int64_t due_ms;
	uint32_t hash;
	int written; /* closed after a write (else moved in); the caller's */
	char *vpath; /* allocated to its length */
};

struct pendset {
	struct pend_entry *v; /* the entries, in no order */
	size_t n, cap;
	uint32_t *slots; /* index + 1 into v, 0 free */
	size_t nslots;   /* a power of two, at least 2 * n */
	size_t bytes;    /* of the paths, malloc's headers counted */
};

/* An empty set needs no call: zero it. Frees every path and the arrays;
 * the set is empty again. */
void pendset_free(struct pendset *s);
/* The entry of (user, vpath), or NULL. Valid until the next add or
 * remove. */
struct pend_entry *pendset_find(
    const struct pendset *s, size_t user, const char *vpath);
/*
 * Adds (user, vpath), not in the set, due at due_ms. 0, or -1 when the set
 * is full: it holds max_entries, one more would pass max_bytes of memory,
 * or malloc failed (the set is unchanged then).
 */
int pendset_add(struct pendset *s, size_t user, const char *vpath,
    int64_t due_ms, uint64_t max_entries, size_t max_bytes);
/* Removes v[k], moving the last entry into its place. The caller owns the
 * removed entry's vpath from then on. */
void pendset_remove(struct pendset *s, size_t k);

#endif
