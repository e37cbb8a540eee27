/*
 * pendset.c - see pendset.h.
 *
 * Owns the data structure only: what is due and what to do with it is
 * watcher.c's. Must not read the clock, the disk or the config. A rename
 * of a folder of 400,000 files into a home used to compare every new file
 * with the whole pending list (quadratic); this set finds a path in
 * constant time and holds each path in the bytes it needs.
 */
#include "mirror/pendset.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a over the user index and the path. */
static uint32_t
pend_hash(size_t user, const char *vpath)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < sizeof(user); i++) {
		h ^= (uint32_t)((user >> (8 * i)) & 0xff);
		h *= 16777619u;
	}
	for (const unsigned char *p = (const unsigned char *)vpath; *p; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	return h;
}

/* The slot holding (user, vpath), or the free slot where it would go. */
static size_t
slot_find(const struct pendset *s, size_t user, const char *vpath, uint32_t h)
{
	size_t mask = s->nslots - 1, i = h & mask;

	while (s->slots[i] != 0) {
		const struct pend_entry *p = &s->v[s->slots[i] - 1];

		if (p->hash == h && p->user == user &&
		    strcmp(p->vpath, vpath) == 0)
			break;
		i = (i + 1) & mask;
	}
	return i;
}

/* Rebuilds the slots at twice the size. Returns 0, or -1 (no memory; the
 * old table stays). */
static int
slots_grow(struct pendset *s)
{
	size_t n = s->nslots ? s->nslots * 2 : 1024;
	uint32_t *ns = calloc(n, sizeof(*ns));

	if (ns == NULL)
		return -1;
	free(s->slots);
	s->slots = ns;
	s->nslots = n;
	for (size_t k = 0; k < s->n; k++) {
		size_t i = s->v[k].hash & (n - 1);

		while (ns[i] != 0)
			i = (i + 1) & (n - 1);
		ns[i] = (uint32_t)(k + 1);
	}
	return 0;
}

/* What a held path costs: its bytes and malloc's header. */
static size_t
path_cost(const char *vpath)
{
	return strlen(vpath) + 1 + 16;
}

/* The memory the set would use with one more entry of cost path bytes:
 * the paths, the entry array and the slots, counting the doublings that
 * entry would trigger. */
static size_t
footprint(const struct pendset *s, size_t path)
{
	size_t cap = s->cap, slots = s->nslots;

	if (s->n == cap)
		cap = cap ? cap * 2 : 64;
	if (2 * (s->n + 1) > slots)
		slots = slots ? slots * 2 : 1024;
	return s->bytes + path + cap * sizeof(struct pend_entry) +
	    slots * sizeof(uint32_t);
}

struct pend_entry *
pendset_find(const struct pendset *s, size_t user, const char *vpath)
{
	size_t i;

	if (s->nslots == 0)
		return NULL;
	i = slot_find(s, user, vpath, pend_hash(user, vpath));
	return s->slots[i] != 0 ? &s->v[s->slots[i] - 1] : NULL;
}

int
pendset_add(struct pendset *s, size_t user, const char *vpath, int64_t due_ms,
    uint64_t max_entries, size_t max_bytes)
{
	uint32_t h = pend_hash(user, vpath);
	size_t cost = path_cost(vpath);
	struct pend_entry *p;

	/* Slots hold index + 1 in 32 bits. */
	if (s->n >= max_entries || s->n >= UINT32_MAX / 2 ||
	    footprint(s, cost) > max_bytes)
		return -1;
	if (2 * (s->n + 1) > s->nslots && slots_grow(s) < 0)
		return -1;
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;
		struct pend_entry *nv = realloc(s->v, ncap * sizeof(*nv));

		if (nv == NULL)
			return -1;
		s->v = nv;
		s->cap = ncap;
	}
	p = &s->v[s->n];
	p->vpath = strdup(vpath);
	if (p->vpath == NULL)
		return -1;
	p->user = user;
	p->written = 0;
	p->due_ms = due_ms;
	p->hash = h;
	s->slots[slot_find(s, user, vpath, h)] = (uint32_t)(s->n + 1);
	s->n++;
	s->bytes += cost;
	return 0;
}

void
pendset_remove(struct pendset *s, size_t k)
{
	size_t mask = s->nslots - 1, i, j;
	struct pend_entry *p = &s->v[k];

	s->bytes -= path_cost(p->vpath);
	i = slot_find(s, p->user, p->vpath, p->hash);
	/* Backward-shift deletion keeps every probe chain unbroken. */
	s->slots[i] = 0;
	for (j = (i + 1) & mask; s->slots[j] != 0; j = (j + 1) & mask) {
		size_t home = s->v[s->slots[j] - 1].hash & mask;

		if (((j - home) & mask) >= ((j - i) & mask)) {
			s->slots[i] = s->slots[j];
			s->slots[j] = 0;
			i = j;
		}
	}
	s->n--;
	if (k != s->n) {
		struct pend_entry *last = &s->v[s->n];
		size_t at = slot_find(s, last->user, last->vpath, last->hash);

		s->slots[at] = (uint32_t)(k + 1);
		s->v[k] = *last;
	}
}

void
pendset_free(struct pendset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].vpath);
	free(s->v);
	free(s->slots);
	memset(s, 0, sizeof(*s));
}
