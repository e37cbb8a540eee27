/*
 * jobrules.h - what a mirror job does to a target's tree, as plain data.
 *
 * Owns: the op rules (which paths a job touches, what it moves or
 * removes), the job states and their stored names, the table of jobs that
 * fold into one, the path relation of queue.h's ordering rules, and the
 * walk of a path through later renames (queue_source_path). Pure: no
 * SQLite, no I/O, no allocation; queue.c reads rows and asks here, and the
 * unit tests ask the same questions over plain rows.
 */
#ifndef RFTP_JOBRULES_H
#define RFTP_JOBRULES_H

#include "common/limits.h"
#include "mirror/queue.h"

#include <stddef.h>
#include <stdint.h>

/* What a job does to the target's tree. */
struct op_rule {
	const char *name;
	int arg_is_path;  /* arg is a second path the job touches */
	int moves;        /* path and what is below it move to arg */
	int removes;      /* path and what is below it are gone after it */
	int replaces_arg; /* what was at arg is gone (moved over) */
};

/* The rule of a stored op code. An op this build does not know (a newer
 * queue file) touches both its paths and moves nothing: the safe order. */
const struct op_rule *jobrules_of(int64_t op);
/* A stored op code as an enum job_op; an unknown code reads as JOB_PUT
 * (the claim never hands one out: see queue_claim's filter). */
enum job_op jobrules_op_of(int64_t v);

/* The states of a job row. Stored as text (job_state_name): never rename a
 * stored name. */
enum job_state {
	JOB_QUEUED,  /* waiting for its turn (next_ms) */
	JOB_RUNNING, /* claimed by a worker */
	JOB_FAILED,  /* parked until `mirror retry` */
	JOB_INTENT,  /* write-ahead record of a change not yet settled */
};
#define JOB_NSTATES 4
const char *job_state_name(enum job_state s);

/* A waiting job of op `queued` at a path absorbs a new job of op
 * `incoming` at the same path and becomes `becomes` (queue_add). */
struct job_merge {
	enum job_op queued, incoming, becomes;
};
extern const struct job_merge job_merges[];
extern const size_t job_nmerges;

/* p (plen bytes) is dir or lies below it ("/a/b" below "/a", not "/ab"). */
int jobrules_is_under(const char *p, size_t plen, const char *dir, size_t dlen);
/* The length of x's parent within its first len bytes ("/a/b" -> 2, "/a"
 * -> 1: "/" holds no job, so callers stop at 1). */
size_t jobrules_parent_len(const char *x, size_t len);

/* A job as the ordering rules see it. */
struct job_row {
	char user[RFTP_USER_MAX + 1];
	int64_t op;
	char path[RFTP_PATH_MAX], arg[RFTP_PATH_MAX];
};
/* 1 if a job (user, op, path, arg) is related (queue.h) to one of rows. */
int jobrules_near(const struct job_row *rows, size_t n, const char *user,
    int64_t op, const char *path, const char *arg);

/*
 * The walk of a path through the jobs queued after it, in id order: each
 * rename of it or of a folder above it moves it; a delete or rmdir of it
 * or above it, or a rename over it, ends it (alive = 0).
 */
struct job_walk {
	char cur[RFTP_PATH_MAX];
	int alive;
};
/* 0, or -1 if path does not fit. */
int jobrules_walk_start(struct job_walk *w, const char *path);
/* One later job (op, path a of alen bytes, arg b of blen bytes). 0, or -1
 * if the moved path would not fit (names are capped: it cannot be). */
int jobrules_walk_step(struct job_walk *w, int64_t op, const char *a,
    size_t alen, const char *b, size_t blen);

#endif
