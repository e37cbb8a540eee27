/*
 * stats.h - the running daemon's operational facts that live in memory.
 *
 * Owns: the server's counters (logins, transfers, quota refusals) and
 * gauges (sessions open, bans active), the ring of the last
 * RFTP_STATS_RECEIVED files received, and per mirror target the push
 * counters, the relay-latency histogram (226 to published on the target)
 * and the pushes in flight with their progress. The server and the mirror
 * write them (counters are lock-free atomics, cheap enough for every
 * transfer; the ring and the in-flight table take a short mutex); the
 * admin listener reads snapshots. Facts kept in the queue (depth, parked
 * jobs, last error) are the mirror's and reach the admin through
 * mirror_view.h, not through here.
 *
 * Every writer accepts s == NULL and does nothing, so code that runs
 * without an admin listener (the command-line tools, unit tests) passes
 * NULL. There is no global instance: whoever starts the daemon owns one.
 */
#ifndef RFTP_STATS_H
#define RFTP_STATS_H

#include "common/limits.h"

#include <stddef.h>
#include <stdint.h>

/* How many received files the ring remembers (the status page's list). */
#define RFTP_STATS_RECEIVED 100

struct stats;

/* Monotonic counters: only ever grow. */
enum stats_counter {
	STAT_LOGINS_OK,
	STAT_LOGINS_FAILED,
	STAT_UPLOADS_COMPLETED,
	STAT_UPLOADS_ABORTED,
	STAT_UPLOAD_BYTES, /* bytes of completed and aborted uploads */
	STAT_DOWNLOADS_COMPLETED,
	STAT_DOWNLOADS_ABORTED,
	STAT_DOWNLOAD_BYTES,
	STAT_QUOTA_REFUSED, /* writes refused because of a quota */
	/* Changes of a home the mirror's queue could not record (its disk
	 * full or failing): caught up by walking the home, but nothing
	 * else than the log told of them. */
	STAT_QUEUE_UNRECORDED,
	STAT_NCOUNTERS
};

/* Values that go up and down. */
enum stats_gauge {
	STAT_SESSIONS_OPEN,
	STAT_BANS_ACTIVE,
	STAT_NGAUGES
};

/* Monotonic counters per mirror target. */
enum stats_target_counter {
	STAT_T_ATTEMPTS,        /* pushes started (every kind of job) */
	STAT_T_SUCCESSES,       /* jobs settled as done on the target */
	STAT_T_FAILURES,        /* attempts that failed */
	STAT_T_VERIFY_FAILURES, /* a pushed file that did not verify */
	STAT_T_BYTES_PUSHED,    /* file bytes sent (completed pushes) */
	STAT_T_NCOUNTERS
};

/* Upper bounds (le, seconds) of the relay-latency buckets; the last
 * bucket of a histogram is +Inf and not listed here. */
#define STATS_LATENCY_BOUNDS 14
extern const double stats_latency_bounds[STATS_LATENCY_BOUNDS];

struct stats_received {
	int64_t time_ms; /* when the upload completed (ms since the epoch) */
	char user[RFTP_USER_MAX + 1];
	char path[RFTP_PATH_MAX];
	uint64_t size;
};

struct stats_push {
	unsigned target; /* index as given to stats_new */
	char user[RFTP_USER_MAX + 1];
	char path[RFTP_PATH_MAX];
	uint64_t done, total;
	int64_t started_ms;
};

struct stats_target {
	uint64_t c[STAT_T_NCOUNTERS];
	/* Per bucket, not cumulative: bucket i counts latencies in
	 * (bound[i-1], bound[i]]; bucket STATS_LATENCY_BOUNDS is +Inf. */
	uint64_t lat_bucket[STATS_LATENCY_BOUNDS + 1];
	uint64_t lat_count;
	uint64_t lat_sum_us;
};

/* targets: the mirror's target names in config order (copied); max_pushes:
 * slots of the in-flight table (targets x workers). NULL without memory. */
struct stats *stats_new(
    const char *const *targets, size_t ntargets, size_t max_pushes);
void stats_free(struct stats *s);

/* Writers (any thread; s may be NULL). */
void stats_add(struct stats *s, enum stats_counter c, uint64_t n);
void stats_gauge_add(struct stats *s, enum stats_gauge g, int64_t delta);
void stats_gauge_set(struct stats *s, enum stats_gauge g, int64_t value);
/*
 * A gauge its owner knows better than any event can tell (bans expire
 * with time, not with a call): while fn is set, readers get fn(ctx)
 * instead of the stored value. fn runs on the reader's thread under a
 * lock of its own, so it must be quick and must not call back here.
 * fn NULL ends it (the stored value shows again); that call returns only
 * once no reader is inside fn, so ctx may be freed after it.
 */
typedef int64_t (*stats_gauge_fn)(void *ctx);
void stats_gauge_source(
    struct stats *s, enum stats_gauge g, stats_gauge_fn fn, void *ctx);
/* A completed upload, stamped now. */
void stats_received(
    struct stats *s, const char *user, const char *path, uint64_t size);
/* The index of target name, or -1 (unknown, or s NULL). */
int stats_target_index(const struct stats *s, const char *name);
void stats_target_add(
    struct stats *s, int target, enum stats_target_counter c, uint64_t n);
/* A relay latency: from the 226 (the job's creation) to published. */
void stats_target_latency(struct stats *s, int target, int64_t us);
/* A push starts: returns its slot, or -1 (no slot free, s NULL, target
 * -1): the progress calls then do nothing. */
int stats_push_begin(struct stats *s, int target, const char *user,
    const char *path, uint64_t total);
/* Cheap (one atomic store): called from a transfer's progress callback. */
void stats_push_progress(struct stats *s, int slot, uint64_t done);
void stats_push_end(struct stats *s, int slot);

/* Readers (any thread; s not NULL). */
int64_t stats_started_ms(const struct stats *s);
size_t stats_ntargets(const struct stats *s);
const char *stats_target_name(const struct stats *s, size_t i);
void stats_counters(
    const struct stats *s, uint64_t c[STAT_NCOUNTERS], int64_t g[STAT_NGAUGES]);
void stats_target_get(
    const struct stats *s, size_t i, struct stats_target *out);
/* Newest first; returns how many were copied (at most max). */
size_t stats_received_get(
    struct stats *s, struct stats_received *out, size_t max);
/* The pushes in flight, oldest first; returns how many were copied. */
size_t stats_pushes_get(struct stats *s, struct stats_push *out, size_t max);

#endif
