/*
 * snapshot.c - reads stats and the mirror's view into a struct snapshot.
 *
 * Must not: hold any lock of the server or the mirror beyond the calls
 * it makes (each reader copies and returns).
 */
#include "admin/snapshot.h"

#include "common/buf.h"

#include <stdlib.h>
#include <string.h>

int
snapshot_take(struct snapshot *out, struct stats *s,
    const struct mirror_view *mv, int64_t now_ms)
{
	struct mirror_target_view *views = NULL;
	size_t nviews = 0;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	out->version = RELAYFTPD_VERSION;
	out->now_ms = now_ms;
	out->started_ms = stats_started_ms(s);
	stats_counters(s, out->c, out->g);
	out->ntargets = stats_ntargets(s);
	if (out->ntargets > RFTP_TARGETS_MAX)
		out->ntargets = RFTP_TARGETS_MAX;
	if (mv != NULL && mv->targets != NULL) {
		views = calloc(RFTP_TARGETS_MAX, sizeof(*views));
		if (views == NULL ||
		    mv->targets(mv->ctx, views, RFTP_TARGETS_MAX, &nviews) <
		        0) {
			nviews = 0;
			rc = -1;
		}
	}
	for (size_t i = 0; i < out->ntargets; i++) {
		struct snapshot_target *t = &out->t[i];

		fmt_fixed(
		    t->name, sizeof(t->name), "%s", stats_target_name(s, i));
		stats_target_get(s, i, &t->st);
		for (size_t k = 0; k < nviews; k++) {
			if (strcmp(views[k].name, t->name) != 0)
				continue;
			t->v = views[k];
			t->have_view = 1;
			break;
		}
	}
	free(views);
	return rc;
}
