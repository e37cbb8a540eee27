/*
 * stats.c - the running daemon's in-memory counters (see stats.h).
 *
 * Counters and gauges are relaxed atomics: a reader wants a recent value,
 * not a consistent cut, and a transfer must not pay for a lock. The ring
 * of received files and the in-flight table hold paths, so they take a
 * mutex; each write under it is a bounded copy.
 */
#include "common/clock.h"
#include "common/stats.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const double stats_latency_bounds[STATS_LATENCY_BOUNDS] = {
	0.001,
	0.0025,
	0.005,
	0.01,
	0.025,
	0.05,
	0.1,
	0.25,
	0.5,
	1,
	2.5,
	10,
	60,
	300,
};

struct target_counters {
	char name[RFTP_NAME_MAX + 1];
	_Atomic uint64_t c[STAT_T_NCOUNTERS];
	_Atomic uint64_t lat_bucket[STATS_LATENCY_BOUNDS + 1];
	_Atomic uint64_t lat_count;
	_Atomic uint64_t lat_sum_us;
};

struct push_slot {
	int used;
	_Atomic uint64_t done;
	struct stats_push p;
};

struct stats {
	int64_t started_ms;
	_Atomic uint64_t c[STAT_NCOUNTERS];
	_Atomic int64_t g[STAT_NGAUGES];
	struct target_counters *targets;
	size_t ntargets;

	/* The gauges read from their owner (stats_gauge_source), under a
	 * mutex of their own: allocated, as readers hold a const stats. */
	pthread_mutex_t *source_lock;
	stats_gauge_fn source[STAT_NGAUGES];
	void *source_ctx[STAT_NGAUGES];

	pthread_mutex_t lock; /* the ring and the push table */
	struct stats_received ring[RFTP_STATS_RECEIVED];
	size_t ring_next, ring_used;
	struct push_slot *pushes;
	size_t npushes;
};

/* Copies src into dst of dstlen, cut at a character boundary of UTF-8 if
 * it must be cut (a name longer than the slot is shown shortened). */
static void
copy_str(char *dst, size_t dstlen, const char *src)
{
	size_t n = strlen(src);

	if (n >= dstlen) {
		n = dstlen - 1;
		while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
}

struct stats *
stats_new(const char *const *targets, size_t ntargets, size_t max_pushes)
{
	struct stats *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->targets = calloc(ntargets > 0 ? ntargets : 1, sizeof(*s->targets));
	s->pushes = calloc(max_pushes > 0 ? max_pushes : 1, sizeof(*s->pushes));
	s->source_lock = malloc(sizeof(*s->source_lock));
	if (s->targets == NULL || s->pushes == NULL || s->source_lock == NULL ||
	    pthread_mutex_init(&s->lock, NULL) != 0) {
		free(s->targets);
		free(s->pushes);
		free(s->source_lock);
		free(s);
		return NULL;
	}
	if (pthread_mutex_init(s->source_lock, NULL) != 0) {
		pthread_mutex_destroy(&s->lock);
		free(s->targets);
		free(s->pushes);
		free(s->source_lock);
		free(s);
		return NULL;
	}
	for (size_t i = 0; i < ntargets; i++)
		copy_str(
		    s->targets[i].name, sizeof(s->targets[i].name), targets[i]);
	s->ntargets = ntargets;
	s->npushes = max_pushes;
	s->started_ms = clock_wall_ms();
	return s;
}

void
stats_free(struct stats *s)
{
	if (s == NULL)
		return;
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(s->source_lock);
	free(s->source_lock);
	free(s->targets);
	free(s->pushes);
	free(s);
}

void
stats_add(struct stats *s, enum stats_counter c, uint64_t n)
{
	if (s != NULL && c < STAT_NCOUNTERS)
		atomic_fetch_add_explicit(&s->c[c], n, memory_order_relaxed);
}

void
stats_gauge_add(struct stats *s, enum stats_gauge g, int64_t delta)
{
	if (s != NULL && g < STAT_NGAUGES)
		atomic_fetch_add_explicit(
		    &s->g[g], delta, memory_order_relaxed);
}

void
stats_gauge_set(struct stats *s, enum stats_gauge g, int64_t value)
{
	if (s != NULL && g < STAT_NGAUGES)
		atomic_store_explicit(&s->g[g], value, memory_order_relaxed);
}

void
stats_gauge_source(
    struct stats *s, enum stats_gauge g, stats_gauge_fn fn, void *ctx)
{
	if (s == NULL || g >= STAT_NGAUGES)
		return;
	pthread_mutex_lock(s->source_lock);
	s->source[g] = fn;
	s->source_ctx[g] = fn != NULL ? ctx : NULL;
	pthread_mutex_unlock(s->source_lock);
}

void
stats_received(
    struct stats *s, const char *user, const char *path, uint64_t size)
{
	struct stats_received *r;

	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	r = &s->ring[s->ring_next];
	r->time_ms = clock_wall_ms();
	copy_str(r->user, sizeof(r->user), user);
	copy_str(r->path, sizeof(r->path), path);
	r->size = size;
	s->ring_next = (s->ring_next + 1) % RFTP_STATS_RECEIVED;
	if (s->ring_used < RFTP_STATS_RECEIVED)
		s->ring_used++;
	pthread_mutex_unlock(&s->lock);
}

int
stats_target_index(const struct stats *s, const char *name)
{
	if (s == NULL || name == NULL)
		return -1;
	for (size_t i = 0; i < s->ntargets; i++)
		if (strcmp(s->targets[i].name, name) == 0)
			return (int)i;
	return -1;
}

void
stats_target_add(
    struct stats *s, int target, enum stats_target_counter c, uint64_t n)
{
	if (s == NULL || target < 0 || (size_t)target >= s->ntargets ||
	    c >= STAT_T_NCOUNTERS)
		return;
	atomic_fetch_add_explicit(
	    &s->targets[target].c[c], n, memory_order_relaxed);
}

void
stats_target_latency(struct stats *s, int target, int64_t us)
{
	struct target_counters *t;
	size_t b = 0;

	if (s == NULL || target < 0 || (size_t)target >= s->ntargets)
		return;
	if (us < 0) /* the wall clock stepped back */
		us = 0;
	t = &s->targets[target];
	while (b < STATS_LATENCY_BOUNDS &&
	    (double)us / 1e6 > stats_latency_bounds[b])
		b++;
	atomic_fetch_add_explicit(&t->lat_bucket[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(
	    &t->lat_sum_us, (uint64_t)us, memory_order_relaxed);
	/* Last, so a reader that sees the count sees its bucket (the
	 * histogram's +Inf must never be below a bucket). */
	atomic_fetch_add_explicit(&t->lat_count, 1, memory_order_release);
}

int
stats_push_begin(struct stats *s, int target, const char *user,
    const char *path, uint64_t total)
{
	int slot = -1;

	if (s == NULL || target < 0 || (size_t)target >= s->ntargets)
		return -1;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->npushes; i++) {
		struct push_slot *p = &s->pushes[i];

		if (p->used)
			continue;
		p->used = 1;
		atomic_store_explicit(&p->done, 0, memory_order_relaxed);
		p->p.target = (unsigned)target;
		copy_str(p->p.user, sizeof(p->p.user), user);
		copy_str(p->p.path, sizeof(p->p.path), path);
		p->p.total = total;
		p->p.started_ms = clock_wall_ms();
		slot = (int)i;
		break;
	}
	pthread_mutex_unlock(&s->lock);
	return slot;
}

void
stats_push_progress(struct stats *s, int slot, uint64_t done)
{
	if (s == NULL || slot < 0 || (size_t)slot >= s->npushes)
		return;
	atomic_store_explicit(
	    &s->pushes[slot].done, done, memory_order_relaxed);
}

void
stats_push_end(struct stats *s, int slot)
{
	if (s == NULL || slot < 0 || (size_t)slot >= s->npushes)
		return;
	pthread_mutex_lock(&s->lock);
	s->pushes[slot].used = 0;
	pthread_mutex_unlock(&s->lock);
}

int64_t
stats_started_ms(const struct stats *s)
{
	return s->started_ms;
}

size_t
stats_ntargets(const struct stats *s)
{
	return s->ntargets;
}

const char *
stats_target_name(const struct stats *s, size_t i)
{
	return i < s->ntargets ? s->targets[i].name : NULL;
}

void
stats_counters(
    const struct stats *s, uint64_t c[STAT_NCOUNTERS], int64_t g[STAT_NGAUGES])
{
	for (size_t i = 0; i < STAT_NCOUNTERS; i++)
		c[i] = atomic_load_explicit(&s->c[i], memory_order_relaxed);
	for (size_t i = 0; i < STAT_NGAUGES; i++)
		g[i] = atomic_load_explicit(&s->g[i], memory_order_relaxed);
	pthread_mutex_lock(s->source_lock);
	for (size_t i = 0; i < STAT_NGAUGES; i++)
		if (s->source[i] != NULL)
			g[i] = s->source[i](s->source_ctx[i]);
	pthread_mutex_unlock(s->source_lock);
}

void
stats_target_get(const struct stats *s, size_t i, struct stats_target *out)
{
	const struct target_counters *t;
	uint64_t sum = 0;

	memset(out, 0, sizeof(*out));
	if (i >= s->ntargets)
		return;
	t = &s->targets[i];
	out->lat_count =
	    atomic_load_explicit(&t->lat_count, memory_order_acquire);
	for (size_t k = 0; k < STAT_T_NCOUNTERS; k++)
		out->c[k] =
		    atomic_load_explicit(&t->c[k], memory_order_relaxed);
	for (size_t k = 0; k <= STATS_LATENCY_BOUNDS; k++) {
		out->lat_bucket[k] = atomic_load_explicit(
		    &t->lat_bucket[k], memory_order_relaxed);
		sum += out->lat_bucket[k];
	}
	/* Buckets bumped after the count was read: the count is the
	 * histogram's +Inf and must cover every bucket. */
	if (sum > out->lat_count)
		out->lat_count = sum;
	out->lat_sum_us =
	    atomic_load_explicit(&t->lat_sum_us, memory_order_relaxed);
}

size_t
stats_received_get(struct stats *s, struct stats_received *out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	while (n < max && n < s->ring_used) {
		size_t at = (s->ring_next + RFTP_STATS_RECEIVED - 1 - n) %
		    RFTP_STATS_RECEIVED;

		out[n++] = s->ring[at];
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* Oldest first: the table is small (targets x workers), so a sort by
 * start time on the copy is cheap. */
static int
by_start(const void *a, const void *b)
{
	const struct stats_push *x = a, *y = b;

	return (x->started_ms > y->started_ms) -
	    (x->started_ms < y->started_ms);
}

size_t
stats_pushes_get(struct stats *s, struct stats_push *out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->npushes && n < max; i++) {
		if (!s->pushes[i].used)
			continue;
		out[n] = s->pushes[i].p;
		out[n].done = atomic_load_explicit(
		    &s->pushes[i].done, memory_order_relaxed);
		n++;
	}
	pthread_mutex_unlock(&s->lock);
	qsort(out, n, sizeof(*out), by_start);
	return n;
}
