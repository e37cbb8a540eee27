/*
 * queue_db.h - the queue's own way into its database, for the queue's
 * files only (queue.c, queue_schema.c, queue_state.c,
 * queue_pushed.c).
 *
 * Owns nothing: queue.c holds the SQLite connection and is the only file
 * that includes <sqlite3.h>; the other queue files run their statements
 * through these calls, each under the queue's lock. No other module
 * includes this header: the rest of the mirror uses queue.h.
 */
#ifndef RFTP_QUEUE_DB_H
#define RFTP_QUEUE_DB_H

#include "mirror/queue.h"

#include <stdint.h>

/*
 * Runs one statement with text/int64 parameters given by a format string
 * ("t" const char * text, NULL binds NULL; "i" int64_t), under the lock.
 * Returns the number of rows changed, or -1 (logged).
 */
int queue_exec(struct queue *q, const char *sql, const char *types, ...);

/* Takes the lock and starts a write transaction: 0, or -1 (logged; the
 * lock is not held). */
int queue_begin(struct queue *q);
/* queue_exec inside queue_begin .. queue_end (the lock is held). */
int queue_exec_held(struct queue *q, const char *sql, const char *types, ...);
/* Commits (ok) or rolls back, and releases the lock. 0, or -1 if the
 * commit failed (nothing of the transaction was written). */
int queue_end(struct queue *q, int ok);

/*
 * Runs a one-row "SELECT count(*)" with three text parameters (and a
 * fourth, fifth and sixth int64 when the statement has them). 1 if it
 * counted any, 0, -1 on error.
 */
int queue_count(struct queue *q, const char *sql, const char *a, const char *b,
    const char *c, int64_t d, int64_t e, int64_t f);

/* What the statement of the last page queue_list_jobs read cost
 * (sqlite3_stmt_status): the sorts it ran and its virtual machine's steps,
 * which grow with the rows it read. 0 and 0 before any page. */
void queue_list_cost(struct queue *q, int64_t *sorts, int64_t *steps);

/* Whether (target ?1, user ?2, path ?3) was pushed as this version: size
 * ?4, mtime_ns ?5, inode ?6 (0: any), for queue_count (queue_pushed.c). */
extern const char queue_pushed_match_sql[];
/* Whether (target ?1, user ?2, path ?3) was pushed at all. */
extern const char queue_pushed_at_sql[];

/*
 * The start of a statement that needs the jobs of one state of every
 * target: t(name), the targets that have jobs (and a last NULL), found by
 * a skip over the indexes that lead with the target, one seek each. Each
 * target's jobs of a state are then a look-up in jobs_due ("FROM t CROSS
 * JOIN jobs AS j WHERE j.target=t.name AND j.state=..."): "WHERE
 * state=..." alone has no index and reads every job (0.67 s at 4 million
 * jobs, for each such statement of a start, before it listens).
 */
#define QUEUE_JOB_TARGETS                                                    \
	"WITH RECURSIVE t(name) AS (SELECT min(target) FROM jobs UNION ALL " \
	"SELECT (SELECT min(target) FROM jobs WHERE target>t.name) FROM t "  \
	"WHERE t.name IS NOT NULL) "
/* The tables (queue_schema.c), created if missing, and the columns added
 * since the first version, one ALTER each, NULL-terminated (an error
 * running one only means the column is there). */
extern const char queue_schema[];
extern const char *const queue_migrations[];
/* The rows older versions wrote, brought up to the columns' meaning (an
 * error only leaves them as they were). */
extern const char queue_row_upgrade[];
/* The counts of jobs per target and state kept by triggers, set up in one
 * transaction; and a query whose row says they are. */
extern const char queue_counts_setup[];
extern const char queue_counts_ready[];

/* The indexed look-ups behind related_max_id, prepared once. */
enum rel_stmt {
	REL_PATH_EQ,    /* a job at this path */
	REL_ARG_EQ,     /* a job whose second path (rename) is this */
	REL_PATH_BELOW, /* a job below this path */
	REL_ARG_BELOW,  /* a job whose second path is below this */
	/* The same four passing over folders made (op 3, JOB_MKDIR):
	 * queue_takes_away's, in the order above. */
	REL_PATH_EQ_NOMK,
	REL_ARG_EQ_NOMK,
	REL_PATH_BELOW_NOMK,
	REL_ARG_BELOW_NOMK,
	REL_NSTMT,
};
/* The text of each look-up (queue_schema.c); ?1 target, ?2 user, ?3 the
 * path (or the range's start), ?4 the id the job must be older than, ?5
 * the range's end. */
extern const char *const queue_related_sql[REL_NSTMT];

#endif
