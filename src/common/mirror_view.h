/*
 * mirror_view.h - how the admin listener reads and nudges the mirror.
 *
 * Owns: the shape of what the mirror lends to readers outside it: per
 * target the facts kept in the queue (state, depth, parked jobs, oldest
 * job, last error), pages of queued jobs, and `mirror retry` on the live
 * daemon. The mirror fills the function pointers (mirror_view() in
 * mirror.h); main hands them to the admin listener, which never includes
 * mirror/ (like upload_sink.h, the other way round). The calls run on
 * the caller's thread, read the queue through a connection of their own
 * and never wait for a push; a NULL function means "no mirror".
 */
#ifndef RFTP_MIRROR_VIEW_H
#define RFTP_MIRROR_VIEW_H

#include "common/limits.h"

#include <stddef.h>
#include <stdint.h>

enum mirror_target_state {
	MIRROR_TARGET_UP,
	MIRROR_TARGET_BACKOFF, /* waiting before the next attempt */
	MIRROR_TARGET_FAILING, /* its last attempt failed, due again now */
};

struct mirror_target_view {
	char name[RFTP_NAME_MAX + 1];
	char url[RFTP_PATH_MAX]; /* without user or password */
	enum mirror_target_state state;
	int64_t queued, running, parked;
	int64_t oldest_ms; /* creation of the oldest unfinished job, 0 none */
	char last_error[512];
	int64_t last_error_ms, last_ok_ms;          /* 0: never */
	int64_t failing_since_ms, backoff_until_ms; /* 0: not */
};

struct mirror_job_view {
	int64_t id;
	char target[RFTP_NAME_MAX + 1];
	char user[RFTP_USER_MAX + 1];
	const char
	    *op; /* "put", "delete", "rename", "mkdir", "rmdir", "time" */
	char path[RFTP_PATH_MAX];
	char new_path[RFTP_PATH_MAX]; /* rename: the new path, else "" */
	int64_t created_ms;
	int64_t attempts;
	int parked;  /* failed max_attempts times: waits for a retry */
	int running; /* a worker is pushing it */
	char last_error[512];
};

struct mirror_view {
	void *ctx;
	/* Fills out[0..*n) (at most max), one per configured target in
	 * config order. 0, or -1 if the queue could not be read. */
	int (*targets)(
	    void *ctx, struct mirror_target_view *out, size_t max, size_t *n);
	/* A page of unfinished jobs (queued, running, parked), oldest first,
	 * of one target or of all (target NULL): those past the id after
	 * when after >= 0, else skips offset; copies at most limit into out,
	 * sets *n, *more (1: jobs follow the page) and *total (all that
	 * match). 0, or -1. */
	int (*jobs)(void *ctx, const char *target, int64_t offset,
	    int64_t after, size_t limit, struct mirror_job_view *out, size_t *n,
	    int64_t *total, int *more);
	/* `mirror retry`: requeues parked jobs of target (NULL: all) and
	 * wakes the workers. The count in *requeued; 0, -1 on a queue error,
	 * -2 for an unknown target. */
	int (*retry)(void *ctx, const char *target, int64_t *requeued);
};

/* "up", "backoff" or "failing": the word `mirror status`, /api/status and
 * /metrics use. */
const char *mirror_target_state_name(enum mirror_target_state s);

#endif
