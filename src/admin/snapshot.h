/*
 * snapshot.h - one moment of the daemon's facts, as the admin renders them.
 *
 * Owns: gathering the counters (stats.h) and the mirror's queue facts
 * (mirror_view.h) into one plain struct, so /metrics and /api/status are
 * pure functions of it (metrics.c, status.c) and unit-testable without a
 * daemon. Per target the two sources are matched by name.
 */
#ifndef RFTP_ADMIN_SNAPSHOT_H
#define RFTP_ADMIN_SNAPSHOT_H

#include "common/limits.h"
#include "common/mirror_view.h"
#include "common/stats.h"

#include <stddef.h>
#include <stdint.h>

struct snapshot_target {
	char name[RFTP_NAME_MAX + 1];
	struct stats_target st;
	int have_view; /* v holds the queue's facts (else unknown) */
	struct mirror_target_view v;
};

struct snapshot {
	const char *version;
	int64_t now_ms, started_ms;
	uint64_t c[STAT_NCOUNTERS];
	int64_t g[STAT_NGAUGES];
	size_t ntargets;
	struct snapshot_target t[RFTP_TARGETS_MAX];
};

/* Fills out (large: allocate it) from s and, if its functions are set,
 * mv. 0; -1 if the mirror's view could not be read (out is still usable:
 * its targets then have have_view 0). */
int snapshot_take(struct snapshot *out, struct stats *s,
    const struct mirror_view *mv, int64_t now_ms);

#endif
