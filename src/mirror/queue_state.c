/*
 * queue_state.c - what the outcome of a push does to its job and target
 * (see queue.h): a job forgotten, failed (due again, or parked), parked
 * jobs queued again, jobs in flight at a crash queued again, and the
 * target-wide failure state. Statements run through queue_db.h; must not
 * include <sqlite3.h>. Job states are bound by name (job_state_name).
 */
#include "mirror/jobrules.h"

#include "common/clock.h"
#include "common/log.h"
#include "mirror/queue.h"
#include "mirror/queue_db.h"

#include <stddef.h>
#include <string.h>
#include <time.h>

#define S(state) job_state_name(state)
/* Room for an error as kept: target_status's last_error (queue.h). */
#define RFTP_ERROR_SHOWN 512

/* An error as kept for `mirror status`, the status page and the library:
 * control bytes, the C1 controls as UTF-8 writes them, line separators and
 * direction marks (log_unsafe_len), made '?'. A
 * target's own words reach it (an S3 <Message>, a reply, a command's
 * output) and so do file names: an escape sequence there would be played
 * on the admin's terminal, and a line break would forge a status line. */
static void
printable(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	size_t len = strlen(in);

	for (size_t i = 0; i < len && o + 1 < outlen; i++, o++) {
		size_t n = log_unsafe_len(in + i, len - i);

		/* One '?' for a control or a line separator, as before. */
		out[o] = n > 0 ? '?' : in[i];
		if (n > 0)
			i += n - 1;
	}
	out[o] = '\0';
}

int
queue_recover(struct queue *q)
{
	int n;

	n = queue_exec(q,
	    "UPDATE jobs SET state=?1, next_ms=0, recovered=1 WHERE id IN "
	    "(" QUEUE_JOB_TARGETS "SELECT j.id FROM t CROSS JOIN jobs AS j "
	    "WHERE j.target=t.name AND j.state=?2)",
	    "tt", S(JOB_QUEUED), S(JOB_RUNNING));
	return n;
}

int
queue_done_pushed(struct queue *q, const struct job *j, const char *path,
    uint64_t size, int64_t mtime_ns, uint64_t ino)
{
	int rc = 0;

	if (queue_begin(q) < 0) {
		queue_note_unsettled(q, j->id);
		return -1;
	}
	if (queue_exec_held(q,
	        "INSERT OR REPLACE INTO pushed(target, user, path, size, "
	        "mtime_ns, ino) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
	        "tttiii", j->target, j->user, path, (int64_t)size, mtime_ns,
	        (int64_t)ino) < 0 ||
	    queue_exec_held(q, "DELETE FROM jobs WHERE id=?1", "i", j->id) <
	        0 ||
	    queue_exec_held(q,
	        "INSERT INTO targets(name, files, bytes, last_ok_ms) "
	        "VALUES(?1, 1, ?2, ?3) "
	        "ON CONFLICT(name) DO UPDATE SET files=files+1, "
	        "bytes=bytes+?2, failing_since_ms=0, backoff_until_ms=0, "
	        "last_ok_ms=?3",
	        "tii", j->target, (int64_t)size, clock_wall_ms()) < 0)
		rc = -1;
	/* All or nothing: a commit that fails leaves the job to be pushed
	 * again, and no record of a copy that is not counted. */
	if (queue_end(q, rc == 0) < 0 || rc < 0) {
		queue_note_unsettled(q, j->id);
		return -1;
	}
	return 0;
}

int
queue_forget(struct queue *q, const struct job *j)
{
	int rc;

	rc = queue_exec(q, "DELETE FROM jobs WHERE id=?1", "i", j->id);
	if (rc < 0)
		queue_note_unsettled(q, j->id);
	return rc < 0 ? -1 : 0;
}

int
queue_fail(struct queue *q, const struct job *j, int64_t next_ms,
    const char *error, int park)
{
	char shown[RFTP_ERROR_SHOWN];
	int rc;

	printable(error, shown, sizeof(shown));
	rc = queue_exec(q,
	    "UPDATE jobs SET attempts=attempts+1, next_ms=?1, last_error=?2, "
	    "state=?3 WHERE id=?4",
	    "itti", next_ms, shown, S(park ? JOB_FAILED : JOB_QUEUED), j->id);
	if (rc < 0)
		queue_note_unsettled(q, j->id);
	return rc < 0 ? -1 : 0;
}

int
queue_end_backoff(struct queue *q, const char *target)
{
	int rc = 0;

	if (queue_begin(q) < 0)
		return -1;
	/* ?2 NULL: every target. One target's is a look-up in jobs_due, not
	 * "(?2 IS NULL OR target=?2)", which SQLite runs as a scan of every
	 * job (see queue_requeue_failed). */
	if (queue_exec_held(q,
	        target != NULL ? "UPDATE jobs SET next_ms=0 WHERE target=?2 "
	                         "AND state=?1 AND next_ms>0" :
	                         "UPDATE jobs SET next_ms=0 WHERE state=?1 "
	                         "AND next_ms>0 AND ?2 IS NULL",
	        "tt", S(JOB_QUEUED), target) < 0 ||
	    queue_exec_held(q,
	        "UPDATE targets SET backoff_until_ms=0 "
	        "WHERE ?1 IS NULL OR name=?1",
	        "t", target) < 0)
		rc = -1;
	return queue_end(q, rc == 0) < 0 ? -1 : rc;
}

int
queue_retime(struct queue *q, int64_t by_ms, int64_t latest_ms)
{
	int n, rc = 0;

	if (queue_begin(q) < 0)
		return -1;
	/* 0 stays "due now"; a time moved to 0 or before it is due now. */
	n = queue_exec_held(q,
	    "UPDATE jobs SET next_ms=min(max(next_ms + ?1, 0), ?2) "
	    "WHERE id IN (" QUEUE_JOB_TARGETS "SELECT j.id FROM t CROSS JOIN "
	    "jobs AS j WHERE j.target=t.name AND j.state=?3 AND j.next_ms>0 "
	    "AND (?1<>0 OR j.next_ms>?2))",
	    "iit", by_ms, latest_ms, S(JOB_QUEUED));
	if (n < 0 ||
	    queue_exec_held(q,
	        "UPDATE targets SET backoff_until_ms=min(max("
	        "backoff_until_ms + ?1, 0), ?2) WHERE backoff_until_ms>0 "
	        "AND (?1<>0 OR backoff_until_ms>?2)",
	        "ii", by_ms, latest_ms) < 0 ||
	    /* A failing spell goes on: its start moves too, so that it
	     * is not shown as starting after the clock's now. */
	    queue_exec_held(q,
	        "UPDATE targets SET failing_since_ms=max(failing_since_ms + "
	        "?1, 1) WHERE failing_since_ms>0 AND ?1<>0",
	        "i", by_ms) < 0)
		rc = -1;
	if (queue_end(q, rc == 0) < 0)
		return -1;
	return rc < 0 ? -1 : n;
}

int
queue_target_ok(struct queue *q, const char *target)
{
	int rc = queue_exec(q,
	    "INSERT INTO targets(name, last_ok_ms) VALUES(?1, ?2) "
	    "ON CONFLICT(name) DO UPDATE SET failing_since_ms=0, "
	    "backoff_until_ms=0, last_ok_ms=?2",
	    "ti", target, clock_wall_ms());

	return rc < 0 ? -1 : 0;
}

int
queue_target_state(struct queue *q, const char *target,
    int64_t failing_since_ms, int64_t backoff_until_ms, const char *error)
{
	char shown[RFTP_ERROR_SHOWN];
	int rc;

	printable(error, shown, sizeof(shown));
	rc = queue_exec(q,
	    "INSERT INTO targets(name, failing_since_ms, backoff_until_ms, "
	    "last_error, last_error_ms) VALUES(?1, ?2, ?3, ?4, ?5) "
	    "ON CONFLICT(name) DO UPDATE "
	    "SET failing_since_ms=?2, backoff_until_ms=?3, last_error=?4, "
	    "last_error_ms=?5",
	    "tiiti", target, failing_since_ms, backoff_until_ms, shown,
	    clock_wall_ms());
	return rc < 0 ? -1 : 0;
}

int
queue_defer_retries(struct queue *q, const char *target, int64_t until_ms)
{
	int rc;

	rc = queue_exec(q,
	    "UPDATE jobs SET next_ms=?1 WHERE target=?2 AND state=?3 AND "
	    "attempts>0 AND next_ms<?1",
	    "itt", until_ms, target, S(JOB_QUEUED));
	return rc < 0 ? -1 : 0;
}

int
queue_defer_home(
    struct queue *q, const char *target, const char *home, int64_t until_ms)
{
	int rc;

	rc = queue_exec(q,
	    "UPDATE jobs SET next_ms=?1 WHERE target=?2 AND home=?3 AND "
	    "state=?4 AND next_ms<?1 AND op IN (?5, ?6)",
	    "itttii", until_ms, target, home, S(JOB_QUEUED), (int64_t)JOB_PUT,
	    (int64_t)JOB_TIME);
	return rc < 0 ? -1 : 0;
}

/* Parked jobs requeued by one transaction of queue_requeue_failed: a few
 * milliseconds of the write lock. */
#define RETRY_CHUNK 2000

int
queue_requeue_failed(struct queue *q, const char *target)
{
	int n, total = 0;

	/*
	 * RETRY_CHUNK jobs a transaction, not all in one: 134,000 parked
	 * jobs held the write lock 0.67 s, and at a few million a retry
	 * would hold it past the 10 s every writer waits for it, and the
	 * uploads meanwhile got "226 ... not queued for mirroring yet".
	 * Sound in any order: a queued job still waits for every older
	 * related job, a parked one included (queue.h), so a job requeued
	 * before an older one of its paths cannot run first.
	 *
	 * The targets with jobs are found by QUEUE_JOB_TARGETS, ?3 NULL:
	 * every target; then each one's parked jobs are a look-up in
	 * jobs_due. A scan of every job of every target
	 * under the write lock (the page's Retry of a new target behind
	 * another's backlog of millions; found from outside) it never is.
	 * A chunk that requeues fewer than RETRY_CHUNK found the last ones.
	 * The attempts it resets are what tells a row of a version without
	 * `tried` that it was tried (queue_row_upgrade): kept in tried, so
	 * that neither `mirror retry` nor the daemon's view needs that
	 * upgrade's scan first.
	 */
	do {
		n = queue_exec(q,
		    "UPDATE jobs SET state=?1, tried=max(tried, attempts>0 OR "
		    "recovered=1), attempts=0, next_ms=0 WHERE id IN (" QUEUE_JOB_TARGETS
		    "SELECT j.id FROM t CROSS JOIN jobs AS "
		    "j WHERE (?3 IS NULL OR t.name=?3) AND j.target=t.name "
		    "AND j.state=?2 LIMIT ?4)",
		    "ttti", S(JOB_QUEUED), S(JOB_FAILED), target,
		    (int64_t)RETRY_CHUNK);
		if (n > 0)
			total += n;
	} while (n == RETRY_CHUNK);
	if (n < 0) {
		/* Those requeued stay so: a retry asked again takes the
		 * rest. */
		if (total > 0)
			log_err("queue: retry: %d parked jobs requeued, the "
			        "others still parked",
			    total);
		return -1;
	}
	/* The admin's retry survives power loss, as a new job does. */
	if (total > 0 && queue_sync(q, queue_ticket(q)) < 0)
		return -1;
	return total;
}
