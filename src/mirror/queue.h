/*
 * queue.h - the durable mirror queue (SQLite in WAL mode).
 *
 * Owns: every job that still has to reach a target, across restarts and
 * crashes, and the per-target counters that `mirror status` prints. A job is
 * (target, user, home, path); it is deleted only when its push was verified,
 * so a crash at any moment leaves it to be redone. The only file that
 * includes <sqlite3.h>. All calls are serialised on one connection.
 */
#ifndef RFTP_QUEUE_H
#define RFTP_QUEUE_H

#include "common/limits.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

struct queue;

enum job_op {
	JOB_PUT,
	JOB_DELETE,
	JOB_RENAME, /* path -> arg */
	JOB_TIME,   /* set path's modification time on the target */
};

struct job {
	int64_t id;
	enum job_op op;
	char arg[RFTP_PATH_MAX]; /* JOB_RENAME: the new path */
	char target[RFTP_NAME_MAX + 1];
	char user[RFTP_USER_MAX + 1];
	char home[PATH_MAX];
	char path[RFTP_PATH_MAX]; /* "/a/b" inside the home */
	int64_t attempts;         /* failed attempts so far */
	int recovered;            /* was in flight when the process died */
	int64_t created_ms;
};

struct target_status {
	int64_t queued, running, failed;
	int64_t oldest_ms; /* creation of the oldest unfinished job, 0 none */
	int64_t files, bytes; /* pushed so far */
	int64_t failing_since_ms, backoff_until_ms;
	char last_error[512];
	int64_t last_error_ms; /* when last_error was recorded, 0 never */
	int64_t last_ok_ms;    /* the last verified push, 0 never */
};

/* Opens (creating) the queue file. NULL with err filled on failure. */
struct queue *queue_open(const char *path, char *err, size_t errlen);
void queue_close(struct queue *q);
/* At start: pushes that were in flight when the process died are queued
 * again (they are redone from the start). Returns how many. */
int queue_recover(struct queue *q);
/*
 * Records one job per target in one transaction; durable (fsynced) when it
 * returns 0. arg is the new path of a JOB_RENAME (else NULL). A put or a
 * time whose path's latest job is still queued may fold into it (see
 * merges[] in queue.c): the newest bytes and time are read at push time.
 */
int queue_add(struct queue *q, const char *const *targets, size_t ntargets,
    enum job_op op, const char *user, const char *home, const char *path,
    const char *arg);
/*
 * Claims the oldest due job of target whose path has no push in flight and
 * no older job waiting: jobs of one path run in the order they were made
 * (a rename counts for both its paths).
 * Returns 1 with *out filled, 0 if none is due (then *next_due_ms is the
 * earliest due time of a waiting job, or -1), -1 on error.
 */
int queue_claim(struct queue *q, const char *target, int64_t now_ms,
    struct job *out, int64_t *next_due_ms);
/* The push of job id is verified: delete it and count it. */
int queue_done(struct queue *q, const struct job *j, uint64_t bytes);
/*
 * What each target holds, as far as we pushed it: (size, mtime) of the
 * file when its copy was verified. Start-up catch-up compares the homes
 * with it to find files that changed while the daemon was down.
 */
int queue_record_pushed(struct queue *q, const char *target, const char *user,
    const char *path, uint64_t size, int64_t mtime_ns);
/* 1 if target holds path at (size, mtime_ns), 0 if not, -1 on error. */
int queue_is_pushed(struct queue *q, const char *target, const char *user,
    const char *path, uint64_t size, int64_t mtime_ns);
/* 1 if target holds path with size bytes (whatever its time), 0 if not,
 * -1 on error: a time alone can then be set there. */
int queue_pushed_size(struct queue *q, const char *target, const char *user,
    const char *path, uint64_t size);
/* Forgets what target holds at path (deleted there), or moves the record
 * (renamed there; new_path NULL: forget). */
int queue_move_pushed(struct queue *q, const char *target, const char *user,
    const char *path, const char *new_path);
/* 1 if a job for (target, user, path) exists: queued, running or parked
 * (a rename counts for its new path too). */
int queue_has_job(
    struct queue *q, const char *target, const char *user, const char *path);
/* The job needs no push any more (its file is gone): delete it. */
int queue_forget(struct queue *q, const struct job *j);
/* The push failed: count the attempt; due again at next_ms, or parked as
 * failed when park is set. */
int queue_fail(struct queue *q, const struct job *j, int64_t next_ms,
    const char *error, int park);
/* Target-wide state for status: failing since, backing off until. */
int queue_target_state(struct queue *q, const char *target,
    int64_t failing_since_ms, int64_t backoff_until_ms, const char *error);
/* Parked jobs of target (NULL: all targets) become queued again. */
int queue_requeue_failed(struct queue *q, const char *target);
int queue_status(
    struct queue *q, const char *target, struct target_status *out);

#endif
