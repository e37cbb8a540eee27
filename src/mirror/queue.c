/*
 * queue.c - see queue.h.
 *
 * WAL with synchronous=FULL: a committed job survives power loss, readers
 * (the `mirror status` process) never block the daemon. The connection is
 * guarded by one mutex; statements are prepared per call, which costs
 * microseconds next to the fsync each enqueue pays anyway.
 */
#include "mirror/queue.h"

#include "common/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct queue {
	sqlite3 *db;
	pthread_mutex_t lock;
};

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS jobs ("
    /* AUTOINCREMENT: an id is never reused, so a stale reference to a
     * finished job can never name a newer one. */
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " target TEXT NOT NULL, user TEXT NOT NULL, home TEXT NOT NULL,"
    " path TEXT NOT NULL,"
    " op INTEGER NOT NULL DEFAULT 0," /* enum job_op */
    " recovered INTEGER NOT NULL DEFAULT 0,"
    " arg TEXT NOT NULL DEFAULT '',"
    " state TEXT NOT NULL DEFAULT 'queued'," /* queued|running|failed */
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " next_ms INTEGER NOT NULL DEFAULT 0,"
    " created_ms INTEGER NOT NULL,"
    " last_error TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX IF NOT EXISTS jobs_due ON jobs(target, state, next_ms);"
    "CREATE INDEX IF NOT EXISTS jobs_path ON jobs(target, user, path);"
    "CREATE INDEX IF NOT EXISTS jobs_arg ON jobs(target, user, arg);"
    "CREATE TABLE IF NOT EXISTS targets ("
    " name TEXT PRIMARY KEY,"
    " files INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0,"
    " failing_since_ms INTEGER NOT NULL DEFAULT 0,"
    " backoff_until_ms INTEGER NOT NULL DEFAULT 0,"
    " last_error TEXT NOT NULL DEFAULT '',"
    /* When last_error happened and when a push last succeeded, so
     * `mirror status` can say whether the error is past. */
    " last_error_ms INTEGER NOT NULL DEFAULT 0,"
    " last_ok_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS pushed ("
    " target TEXT NOT NULL, user TEXT NOT NULL, path TEXT NOT NULL,"
    " size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
    " PRIMARY KEY(target, user, path));";

static const char *const migrations[] = {
	"ALTER TABLE jobs ADD COLUMN op INTEGER NOT NULL DEFAULT 0",
	"ALTER TABLE jobs ADD COLUMN arg TEXT NOT NULL DEFAULT ''",
	"ALTER TABLE jobs ADD COLUMN recovered INTEGER NOT NULL DEFAULT 0",
	"ALTER TABLE targets ADD COLUMN last_error_ms INTEGER NOT NULL "
	"DEFAULT 0",
	"ALTER TABLE targets ADD COLUMN last_ok_ms INTEGER NOT NULL DEFAULT 0",
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct queue *
queue_open(const char *path, char *err, size_t errlen)
{
	struct queue *q = calloc(1, sizeof(*q));
	char *msg = NULL;

	if (q == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (sqlite3_open_v2(path, &q->db,
	        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	            SQLITE_OPEN_FULLMUTEX,
	        NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path,
		    q->db ? sqlite3_errmsg(q->db) : "cannot open");
		goto fail;
	}
	/* Another process (mirror status/retry) may hold the lock briefly. */
	sqlite3_busy_timeout(q->db, 10000);
	if (sqlite3_exec(q->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, msg ? msg : "schema");
		sqlite3_free(msg);
		goto fail;
	}
	/* Queues made by older versions: add the newer columns (an error
	 * here only means the column exists). */
	for (size_t i = 0; i < sizeof(migrations) / sizeof(migrations[0]); i++)
		sqlite3_exec(q->db, migrations[i], NULL, NULL, NULL);
	pthread_mutex_init(&q->lock, NULL);
	return q;
fail:
	sqlite3_close(q->db);
	free(q);
	return NULL;
}

void
queue_close(struct queue *q)
{
	if (q == NULL)
		return;
	sqlite3_close(q->db);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

/* Runs one statement with text/int64 parameters given by a format string
 * ("t" text, "i" int64). Returns sqlite3_changes or -1. The caller holds
 * the lock (exec_params, inside a transaction) or not (exec_locked). */
static int
vexec_params(struct queue *q, const char *sql, const char *types, va_list ap)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) != SQLITE_OK) {
		log_err("queue: %s", sqlite3_errmsg(q->db));
		return -1;
	}
	for (int i = 0; types[i] != '\0'; i++) {
		if (types[i] == 't')
			sqlite3_bind_text(st, i + 1, va_arg(ap, const char *),
			    -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
	}
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		log_err("queue: %s", sqlite3_errmsg(q->db));
		return -1;
	}
	return sqlite3_changes(q->db);
}

static int
exec_params(struct queue *q, const char *sql, const char *types, ...)
{
	va_list ap;
	int rc;

	va_start(ap, types);
	rc = vexec_params(q, sql, types, ap);
	va_end(ap);
	return rc;
}

static int
exec_locked(struct queue *q, const char *sql, const char *types, ...)
{
	va_list ap;
	int rc;

	pthread_mutex_lock(&q->lock);
	va_start(ap, types);
	rc = vexec_params(q, sql, types, ap);
	va_end(ap);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

int
queue_recover(struct queue *q)
{
	int n;

	n = exec_locked(q,
	    "UPDATE jobs SET state='queued', next_ms=0, recovered=1 WHERE "
	    "state='running'",
	    "");
	return n;
}

/*
 * A new job for a path whose latest job is still queued (not running)
 * folds into it when a row here says so: a push reads the file's bytes
 * and time when it runs, so a later change of either needs no job of its
 * own. Anything else gets a job of its own, run after the older ones.
 */
static const struct {
	enum job_op queued, incoming, becomes;
} merges[] = {
	{ JOB_PUT, JOB_PUT, JOB_PUT },
	{ JOB_PUT, JOB_TIME, JOB_PUT },   /* the push sets the time too */
	{ JOB_TIME, JOB_TIME, JOB_TIME }, /* the newest time is read */
	{ JOB_TIME, JOB_PUT, JOB_PUT },   /* a push carries the time */
};
#define NMERGES (sizeof(merges) / sizeof(merges[0]))

int
queue_add(struct queue *q, const char *const *targets, size_t ntargets,
    enum job_op op, const char *user, const char *home, const char *path,
    const char *arg)
{
	int64_t now = now_ms();
	int rc = 0;

	pthread_mutex_lock(&q->lock);
	if (sqlite3_exec(q->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		log_err("queue: begin: %s", sqlite3_errmsg(q->db));
		pthread_mutex_unlock(&q->lock);
		return -1;
	}
	for (size_t i = 0; i < ntargets && rc == 0; i++) {
		int n = 0;

		for (size_t m = 0; m < NMERGES && n == 0; m++)
			if (merges[m].incoming == op)
				n = exec_params(q,
				    "UPDATE jobs SET home=?1, op=?5 WHERE "
				    "id=(SELECT max(id) FROM jobs WHERE "
				    "target=?2 AND user=?3 AND path=?4) AND "
				    "op=?6 AND state='queued'",
				    "ttttii", home, targets[i], user, path,
				    (int64_t)merges[m].becomes,
				    (int64_t)merges[m].queued);
		if (n < 0)
			rc = -1;
		else if (n == 0 &&
		    exec_params(q,
		        "INSERT INTO jobs(target, user, home, path, op, arg, "
		        "created_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
		        "ttttiti", targets[i], user, home, path, (int64_t)op,
		        arg != NULL ? arg : "", now) < 0)
			rc = -1;
	}
	if (sqlite3_exec(q->db, rc == 0 ? "COMMIT" : "ROLLBACK", NULL, NULL,
	        NULL) != SQLITE_OK)
		rc = -1;
	pthread_mutex_unlock(&q->lock);
	return rc;
}

static void
copy_col(sqlite3_stmt *st, int col, char *out, size_t outlen)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(out, outlen, "%s", t ? (const char *)t : "");
}

int
queue_claim(struct queue *q, const char *target, int64_t now, struct job *out,
    int64_t *next_due_ms)
{
	sqlite3_stmt *st = NULL;
	int rc = -1, step;

	*next_due_ms = -1;
	pthread_mutex_lock(&q->lock);
	/* One push per path at a time, oldest first: a newer upload of the
	 * same path waits, so stale bytes never land after fresh ones. */
	if (sqlite3_prepare_v2(q->db,
	        "SELECT id, user, home, path, attempts, created_ms, next_ms, "
	        "op, arg, recovered FROM jobs j WHERE target=?1 AND state='queued' AND "
	        "NOT EXISTS (SELECT 1 FROM jobs r WHERE r.target=j.target AND "
	        "r.user=j.user AND (r.state='running' OR (r.state='queued' "
	        "AND r.id < j.id)) AND (r.path=j.path OR (r.op=2 AND "
	        "r.arg=j.path) OR (j.op=2 AND (r.path=j.arg OR (r.op=2 AND "
	        "r.arg=j.arg))))) "
	        "ORDER BY next_ms, id LIMIT 1",
	        -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, target, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, now);
	step = sqlite3_step(st);
	if (step == SQLITE_DONE) {
		rc = 0;
		goto out;
	}
	if (step != SQLITE_ROW)
		goto out;
	if (sqlite3_column_int64(st, 6) > now) {
		*next_due_ms = sqlite3_column_int64(st, 6);
		rc = 0;
		goto out;
	}
	memset(out, 0, sizeof(*out));
	out->id = sqlite3_column_int64(st, 0);
	snprintf(out->target, sizeof(out->target), "%s", target);
	copy_col(st, 1, out->user, sizeof(out->user));
	copy_col(st, 2, out->home, sizeof(out->home));
	copy_col(st, 3, out->path, sizeof(out->path));
	out->attempts = sqlite3_column_int64(st, 4);
	out->created_ms = sqlite3_column_int64(st, 5);
	switch (sqlite3_column_int64(st, 7)) {
	case 1:
		out->op = JOB_DELETE;
		break;
	case 2:
		out->op = JOB_RENAME;
		break;
	case 3:
		out->op = JOB_TIME;
		break;
	default:
		out->op = JOB_PUT;
		break;
	}
	copy_col(st, 8, out->arg, sizeof(out->arg));
	out->recovered = sqlite3_column_int64(st, 9) != 0;
	sqlite3_finalize(st);
	st = NULL;
	rc = exec_params(q, "UPDATE jobs SET state='running' WHERE id=?1", "i",
	         out->id) == 1 ?
	    1 :
	    -1;
out:
	if (rc < 0)
		log_err("queue: claim: %s", sqlite3_errmsg(q->db));
	sqlite3_finalize(st);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

int
queue_done(struct queue *q, const struct job *j, uint64_t bytes)
{
	int rc = 0;

	pthread_mutex_lock(&q->lock);
	if (sqlite3_exec(q->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		pthread_mutex_unlock(&q->lock);
		return -1;
	}
	if (exec_params(q, "DELETE FROM jobs WHERE id=?1", "i", j->id) < 0 ||
	    exec_params(q,
	        "INSERT INTO targets(name, files, bytes, last_ok_ms) "
	        "VALUES(?1, 1, ?2, ?3) "
	        "ON CONFLICT(name) DO UPDATE SET files=files+1, "
	        "bytes=bytes+?2, failing_since_ms=0, backoff_until_ms=0, "
	        "last_ok_ms=?3",
	        "tii", j->target, (int64_t)bytes, now_ms()) < 0)
		rc = -1;
	sqlite3_exec(q->db, rc == 0 ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

int
queue_forget(struct queue *q, const struct job *j)
{
	int rc;

	rc = exec_locked(q, "DELETE FROM jobs WHERE id=?1", "i", j->id);
	return rc < 0 ? -1 : 0;
}

int
queue_fail(struct queue *q, const struct job *j, int64_t next_ms,
    const char *error, int park)
{
	int rc;

	rc = exec_locked(q,
	    "UPDATE jobs SET attempts=attempts+1, next_ms=?1, last_error=?2, "
	    "state=?3 WHERE id=?4",
	    "itti", next_ms, error, park ? "failed" : "queued", j->id);
	return rc < 0 ? -1 : 0;
}

int
queue_target_state(struct queue *q, const char *target,
    int64_t failing_since_ms, int64_t backoff_until_ms, const char *error)
{
	int rc;

	rc = exec_locked(q,
	    "INSERT INTO targets(name, failing_since_ms, backoff_until_ms, "
	    "last_error, last_error_ms) VALUES(?1, ?2, ?3, ?4, ?5) "
	    "ON CONFLICT(name) DO UPDATE "
	    "SET failing_since_ms=?2, backoff_until_ms=?3, last_error=?4, "
	    "last_error_ms=?5",
	    "tiiti", target, failing_since_ms, backoff_until_ms, error,
	    now_ms());
	return rc < 0 ? -1 : 0;
}

int
queue_requeue_failed(struct queue *q, const char *target)
{
	int n;

	if (target != NULL)
		n = exec_locked(q,
		    "UPDATE jobs SET state='queued', attempts=0, next_ms=0 "
		    "WHERE state='failed' AND target=?1",
		    "t", target);
	else
		n = exec_locked(q,
		    "UPDATE jobs SET state='queued', attempts=0, next_ms=0 "
		    "WHERE state='failed'",
		    "");
	return n;
}

int
queue_status(struct queue *q, const char *target, struct target_status *out)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&q->lock);
	if (sqlite3_prepare_v2(q->db,
	        "SELECT "
	        " (SELECT count(*) FROM jobs WHERE target=?1 AND "
	        "  state='queued'),"
	        " (SELECT count(*) FROM jobs WHERE target=?1 AND "
	        "  state='running'),"
	        " (SELECT count(*) FROM jobs WHERE target=?1 AND "
	        "  state='failed'),"
	        " (SELECT min(created_ms) FROM jobs WHERE target=?1),"
	        " t.files, t.bytes, t.failing_since_ms, t.backoff_until_ms,"
	        " t.last_error, t.last_error_ms, t.last_ok_ms "
	        "FROM (SELECT 1) LEFT JOIN targets t ON t.name=?1",
	        -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, target, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_ROW)
		goto out;
	out->queued = sqlite3_column_int64(st, 0);
	out->running = sqlite3_column_int64(st, 1);
	out->failed = sqlite3_column_int64(st, 2);
	out->oldest_ms = sqlite3_column_int64(st, 3);
	out->files = sqlite3_column_int64(st, 4);
	out->bytes = sqlite3_column_int64(st, 5);
	out->failing_since_ms = sqlite3_column_int64(st, 6);
	out->backoff_until_ms = sqlite3_column_int64(st, 7);
	copy_col(st, 8, out->last_error, sizeof(out->last_error));
	out->last_error_ms = sqlite3_column_int64(st, 9);
	out->last_ok_ms = sqlite3_column_int64(st, 10);
	rc = 0;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

int
queue_record_pushed(struct queue *q, const char *target, const char *user,
    const char *path, uint64_t size, int64_t mtime_ns)
{
	int rc;

	rc = exec_locked(q,
	    "INSERT OR REPLACE INTO pushed(target, user, path, size, "
	    "mtime_ns) VALUES(?1, ?2, ?3, ?4, ?5)",
	    "tttii", target, user, path, (int64_t)size, mtime_ns);
	return rc < 0 ? -1 : 0;
}

/* Runs a one-row "SELECT count(*)" with three text parameters (and an
 * optional fourth and fifth int64). 1 if it counted any, 0, -1. */
static int
count_where(struct queue *q, const char *sql, const char *a, const char *b,
    const char *c, int64_t d, int64_t e)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	pthread_mutex_lock(&q->lock);
	if (sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, b, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 3, c, -1, SQLITE_TRANSIENT);
		if (sqlite3_bind_parameter_count(st) >= 4)
			sqlite3_bind_int64(st, 4, d);
		if (sqlite3_bind_parameter_count(st) >= 5)
			sqlite3_bind_int64(st, 5, e);
		if (sqlite3_step(st) == SQLITE_ROW)
			rc = sqlite3_column_int64(st, 0) > 0;
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

int
queue_is_pushed(struct queue *q, const char *target, const char *user,
    const char *path, uint64_t size, int64_t mtime_ns)
{
	return count_where(q,
	    "SELECT count(*) FROM pushed WHERE target=?1 AND user=?2 AND "
	    "path=?3 AND size=?4 AND mtime_ns=?5",
	    target, user, path, (int64_t)size, mtime_ns);
}

int
queue_pushed_size(struct queue *q, const char *target, const char *user,
    const char *path, uint64_t size)
{
	return count_where(q,
	    "SELECT count(*) FROM pushed WHERE target=?1 AND user=?2 AND "
	    "path=?3 AND size=?4",
	    target, user, path, (int64_t)size, 0);
}

int
queue_has_job(
    struct queue *q, const char *target, const char *user, const char *path)
{
	/* Two indexed lookups: with the OR in one WHERE, SQLite scanned
	 * every job of the user, which made a watcher scan of a big folder
	 * quadratic. */
	return count_where(q,
	    "SELECT (SELECT count(*) FROM jobs WHERE target=?1 AND user=?2 "
	    "AND path=?3) + (SELECT count(*) FROM jobs WHERE target=?1 AND "
	    "user=?2 AND arg=?3 AND op=2)",
	    target, user, path, 0, 0);
}

int
queue_move_pushed(struct queue *q, const char *target, const char *user,
    const char *path, const char *new_path)
{
	int rc;

	if (new_path == NULL)
		rc = exec_locked(q,
		    "DELETE FROM pushed WHERE target=?1 AND user=?2 AND "
		    "(path=?3 OR path LIKE ?3 || '/%')",
		    "ttt", target, user, path);
	else
		rc = exec_locked(q,
		    "UPDATE OR REPLACE pushed SET path=?4 || substr(path, "
		    "length(?3) + 1) WHERE target=?1 AND user=?2 AND "
		    "(path=?3 OR path LIKE ?3 || '/%')",
		    "tttt", target, user, path, new_path);
	return rc < 0 ? -1 : 0;
}
