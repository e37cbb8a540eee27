/*
 * queue.c - see queue.h.
 *
 * WAL with synchronous=FULL: a committed job survives power loss, readers
 * (the `mirror status` process) never block the daemon. The connection is
 * guarded by one mutex; statements are prepared per call, which costs
 * microseconds next to the fsync each enqueue pays anyway.
 *
 * Ordering and merging follow op_rules[]: which paths a job touches and
 * what it does to them on the target; whether two jobs are related is
 * found by indexed look-ups (related_max_id), never by scanning the queue,
 * so adding an op is one row of the table (queue.h says the rules).
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

/* The indexed look-ups behind related_max_id, prepared once. */
enum rel_stmt {
	REL_PATH_EQ,    /* a job at this path */
	REL_ARG_EQ,     /* a job whose second path (rename) is this */
	REL_PATH_BELOW, /* a job below this path */
	REL_ARG_BELOW,  /* a job whose second path is below this */
	REL_NSTMT,
};

struct queue {
	sqlite3 *db;
	pthread_mutex_t lock;
	sqlite3_stmt *rel[REL_NSTMT];
};

/* What a job does to the target's tree. Indexed by enum job_op. */
static const struct op_rule {
	const char *name;
	int arg_is_path;  /* arg is a second path the job touches */
	int moves;        /* path and what is below it move to arg */
	int removes;      /* path and what is below it are gone after it */
	int replaces_arg; /* what was at arg is gone (moved over) */
} op_rules[] = {
	[JOB_PUT] = { "put", 0, 0, 0, 0 },
	[JOB_DELETE] = { "delete", 0, 0, 1, 0 },
	[JOB_RENAME] = { "rename", 1, 1, 0, 1 },
	[JOB_MKDIR] = { "mkdir", 0, 0, 0, 0 },
	[JOB_RMDIR] = { "rmdir", 0, 0, 1, 0 },
	[JOB_TIME] = { "time", 0, 0, 0, 0 },
};
#define NOPS (sizeof(op_rules) / sizeof(op_rules[0]))

static const struct op_rule *
rule_of(int64_t op)
{
	/* An op this build does not know (a newer queue file) is treated as
	 * touching both its paths and moving nothing: the safe order. */
	static const struct op_rule unknown = { "unknown", 1, 0, 0, 0 };

	return op >= 0 && (uint64_t)op < NOPS ? &op_rules[op] : &unknown;
}

/* p is dir or lies below it ("/a/b" below "/a", not "/ab"); bytes. */
static int
is_under(const char *p, size_t plen, const char *dir, size_t dlen)
{
	return plen >= dlen && memcmp(p, dir, dlen) == 0 &&
	    (plen == dlen || p[dlen] == '/');
}

static int
related_n(const char *a, size_t alen, const char *b, size_t blen)
{
	return is_under(a, alen, b, blen) || is_under(b, blen, a, alen);
}

int
queue_paths_related(const char *a, const char *b)
{
	return related_n(a, strlen(a), b, strlen(b));
}

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

/*
 * Which jobs are related to a job (queue.h's ordering rules) is asked for
 * every new put, every claim and every watcher event, over queues of
 * hundreds of thousands of jobs after an outage: it must never scan them.
 * A job r is related to paths x when a path of r (its path, or a rename's
 * new path) is x, an ancestor of x, or lies below x: exact look-ups of x
 * and each of its ancestors, and one range of the index for what lies below
 * ("x/" up to "x0": '0' follows '/' in byte order). Paths compare as bytes
 * (BINARY collation), as queue_paths_related() does.
 */
static int
prepare_related(struct queue *q)
{
	static const char *const sql[REL_NSTMT] = {
		[REL_PATH_EQ] = "SELECT max(id) FROM jobs WHERE target=?1 AND "
		                "user=?2 AND path=?3 AND id<?4",
		[REL_ARG_EQ] = "SELECT max(id) FROM jobs WHERE target=?1 AND "
		               "user=?2 AND arg=?3 AND op=2 AND id<?4",
		[REL_PATH_BELOW] = "SELECT max(id) FROM jobs WHERE target=?1 AND "
		                   "user=?2 AND path>?3 AND path<?5 AND id<?4",
		[REL_ARG_BELOW] = "SELECT max(id) FROM jobs WHERE target=?1 AND "
		                  "user=?2 AND arg>?3 AND arg<?5 AND op=2 AND "
		                  "id<?4",
	};

	/* "op=2": JOB_RENAME is the one op whose arg is a path (op_rules). */
	for (int i = 0; i < REL_NSTMT; i++)
		if (sqlite3_prepare_v3(q->db, sql[i], -1,
		        SQLITE_PREPARE_PERSISTENT, &q->rel[i], NULL) != SQLITE_OK)
			return -1;
	return 0;
}

/* One look-up: max(id) of statement k for text x (and end for ranges). */
static int
rel_lookup(struct queue *q, enum rel_stmt k, const char *target,
    const char *user, const char *x, size_t xlen, const char *end,
    size_t endlen, int64_t below, int64_t *best)
{
	sqlite3_stmt *st = q->rel[k];
	int rc = 0;

	sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, x, (int)xlen, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, below);
	if (end != NULL)
		sqlite3_bind_text(st, 5, end, (int)endlen, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		if (sqlite3_column_type(st, 0) != SQLITE_NULL &&
		    sqlite3_column_int64(st, 0) > *best)
			*best = sqlite3_column_int64(st, 0);
	} else {
		rc = -1;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

/* Related look-ups for one path x: x and its ancestors, and below x. */
static int
rel_path(struct queue *q, const char *target, const char *user,
    const char *x, int64_t below, int64_t *best)
{
	char lo[RFTP_PATH_MAX + 2], hi[RFTP_PATH_MAX + 2];
	size_t n = strlen(x);

	if (n == 0 || n + 1 >= sizeof(lo))
		return n == 0 ? 0 : -1;
	/* x itself, then each ancestor ("/a/b" -> "/a"); "/" holds no job. */
	for (size_t len = n; len > 1;) {
		if (rel_lookup(q, REL_PATH_EQ, target, user, x, len, NULL, 0,
		        below, best) < 0 ||
		    rel_lookup(q, REL_ARG_EQ, target, user, x, len, NULL, 0,
		        below, best) < 0)
			return -1;
		while (len > 1 && x[len - 1] != '/')
			len--;
		if (len > 1)
			len--; /* drop the '/' */
	}
	memcpy(lo, x, n);
	memcpy(hi, x, n);
	lo[n] = '/';
	hi[n] = '0';
	if (rel_lookup(q, REL_PATH_BELOW, target, user, lo, n + 1, hi, n + 1,
	        below, best) < 0 ||
	    rel_lookup(q, REL_ARG_BELOW, target, user, lo, n + 1, hi, n + 1,
	        below, best) < 0)
		return -1;
	return 0;
}

/*
 * The newest job of (target, user) with an id below `below` (INT64_MAX:
 * any) related to a job (op, path, arg). Returns its id, 0 for none, -1 on
 * error. Called with q->lock held.
 */
static int64_t
related_max_id(struct queue *q, const char *target, const char *user,
    int64_t op, const char *path, const char *arg, int64_t below)
{
	int64_t best = 0;

	if (rel_path(q, target, user, path, below, &best) < 0 ||
	    (rule_of(op)->arg_is_path && arg != NULL && arg[0] != '\0' &&
	        rel_path(q, target, user, arg, below, &best) < 0))
		return -1;
	return best;
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
	if (prepare_related(q) < 0) {
		snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(q->db));
		goto fail;
	}
	pthread_mutex_init(&q->lock, NULL);
	return q;
fail:
	for (int i = 0; i < REL_NSTMT; i++)
		sqlite3_finalize(q->rel[i]);
	sqlite3_close(q->db);
	free(q);
	return NULL;
}

void
queue_close(struct queue *q)
{
	if (q == NULL)
		return;
	for (int i = 0; i < REL_NSTMT; i++)
		sqlite3_finalize(q->rel[i]);
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
 * A new put or time for a path folds into the latest job related to that
 * path when a row here says so, and that job is of the same path and still
 * waiting (queued, or parked: then queued again with its attempts reset):
 * a push reads the file's bytes and time when it runs, so a later change
 * of either needs no job of its own. A later related job in between (a
 * rename into the path, a delete) keeps them apart: the new job runs after
 * it.
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

/* queue_add and queue_add_intent: one row per target in one transaction;
 * intent rows are never merged; first and last get the intent rows ids. */
static int
add_jobs(struct queue *q, const char *const *targets, size_t ntargets,
    enum job_op op, const char *user, const char *home, const char *path,
    const char *arg, int intent, int64_t *first, int64_t *last)
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
		int64_t latest = 0;
		int n = 0;

		/* A put or a time relates through its path alone. */
		if (!intent)
			latest = related_max_id(
			    q, targets[i], user, JOB_PUT, path, NULL, INT64_MAX);
		if (latest < 0)
			n = -1;
		for (size_t m = 0; m < NMERGES && n == 0 && latest > 0; m++)
			if (merges[m].incoming == op)
				n = exec_params(q,
				    "UPDATE jobs SET home=?1, op=?3, "
				    "attempts=CASE WHEN state='failed' THEN 0 "
				    "ELSE attempts END, next_ms=CASE WHEN "
				    "state='failed' THEN 0 ELSE next_ms END, "
				    "state='queued' WHERE id=?5 AND op=?4 AND "
				    "path=?2 AND state IN ('queued', 'failed')",
				    "ttiii", home, path,
				    (int64_t)merges[m].becomes,
				    (int64_t)merges[m].queued, latest);
		if (n < 0)
			rc = -1;
		else if (n == 0 &&
		    exec_params(q,
		        "INSERT INTO jobs(target, user, home, path, op, arg, "
		        "created_ms, state) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, "
		        "?8)",
		        "ttttitit", targets[i], user, home, path, (int64_t)op,
		        arg != NULL ? arg : "", now,
		        intent ? "intent" : "queued") < 0)
			rc = -1;
		else if (n == 0 && intent) {
			int64_t id = sqlite3_last_insert_rowid(q->db);

			if (i == 0)
				*first = id;
			*last = id;
		}
	}
	if (sqlite3_exec(q->db, rc == 0 ? "COMMIT" : "ROLLBACK", NULL, NULL,
	        NULL) != SQLITE_OK)
		rc = -1;
	pthread_mutex_unlock(&q->lock);
	return rc;
}

int
queue_add(struct queue *q, const char *const *targets, size_t ntargets,
    enum job_op op, const char *user, const char *home, const char *path,
    const char *arg)
{
	return add_jobs(
	    q, targets, ntargets, op, user, home, path, arg, 0, NULL, NULL);
}

int
queue_add_intent(struct queue *q, const char *const *targets, size_t ntargets,
    enum job_op op, const char *user, const char *home, const char *path,
    const char *arg, int64_t *first, int64_t *last)
{
	*first = 0;
	*last = -1;
	return add_jobs(
	    q, targets, ntargets, op, user, home, path, arg, 1, first, last);
}

int
queue_settle(struct queue *q, int64_t first, int64_t last, int happened)
{
	int rc;

	if (last < first)
		return 0;
	/* Not fsynced (synchronous=NORMAL for this one commit): after a
	 * crash an unsettled intent is settled again from the home, so the
	 * change's own fsync (the intent's) is the only one it needs. */
	pthread_mutex_lock(&q->lock);
	sqlite3_exec(q->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
	rc = exec_params(q,
	    happened ? "UPDATE jobs SET state='queued' WHERE state='intent' "
	               "AND id BETWEEN ?1 AND ?2" :
	               "DELETE FROM jobs WHERE state='intent' AND id BETWEEN "
	               "?1 AND ?2",
	    "ii", first, last);
	sqlite3_exec(q->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
	pthread_mutex_unlock(&q->lock);
	return rc < 0 ? -1 : 0;
}

static void copy_col(sqlite3_stmt *st, int col, char *out, size_t outlen);

static enum job_op
op_of(int64_t v)
{
	/* Codes are stored; an unknown one (newer file) is never claimed
	 * as something else: see the claim's op filter. */
	switch (v) {
	case JOB_DELETE:
		return JOB_DELETE;
	case JOB_RENAME:
		return JOB_RENAME;
	case JOB_MKDIR:
		return JOB_MKDIR;
	case JOB_RMDIR:
		return JOB_RMDIR;
	case JOB_TIME:
		return JOB_TIME;
	case JOB_PUT:
		return JOB_PUT;
	}
	return JOB_PUT;
}

int
queue_intents(struct queue *q, struct job **out, size_t *n)
{
	sqlite3_stmt *st = NULL;
	struct job *v = NULL;
	size_t cap = 0;
	int rc = -1, step;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&q->lock);
	if (sqlite3_prepare_v2(q->db,
	        "SELECT id, target, user, home, path, op, arg FROM jobs "
	        "WHERE state='intent' ORDER BY id",
	        -1, &st, NULL) != SQLITE_OK)
		goto out;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		struct job *j;

		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct job *nv = realloc(v, ncap * sizeof(*nv));

			if (nv == NULL)
				goto out;
			v = nv;
			cap = ncap;
		}
		j = &v[(*n)++];
		memset(j, 0, sizeof(*j));
		j->id = sqlite3_column_int64(st, 0);
		copy_col(st, 1, j->target, sizeof(j->target));
		copy_col(st, 2, j->user, sizeof(j->user));
		copy_col(st, 3, j->home, sizeof(j->home));
		copy_col(st, 4, j->path, sizeof(j->path));
		j->op = op_of(sqlite3_column_int64(st, 5));
		copy_col(st, 6, j->arg, sizeof(j->arg));
	}
	if (step == SQLITE_DONE)
		rc = 0;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&q->lock);
	if (rc < 0) {
		free(v);
		v = NULL;
		*n = 0;
	}
	*out = v;
	return rc;
}

int
queue_source_path(struct queue *q, const struct job *j, const char *path,
    char *out, size_t outlen)
{
	sqlite3_stmt *st = NULL;
	char cur[RFTP_PATH_MAX];
	int rc = -1, step, alive = 1;

	snprintf(cur, sizeof(cur), "%s", path);
	pthread_mutex_lock(&q->lock);
	if (sqlite3_prepare_v2(q->db,
	        "SELECT op, path, arg FROM jobs WHERE target=?1 AND user=?2 "
	        "AND id > ?3 ORDER BY id",
	        -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, j->target, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, j->user, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, j->id);
	while (alive && (step = sqlite3_step(st)) == SQLITE_ROW) {
		const struct op_rule *r = rule_of(sqlite3_column_int64(st, 0));
		const char *a = (const char *)sqlite3_column_blob(st, 1);
		size_t alen = (size_t)sqlite3_column_bytes(st, 1);
		const char *b = (const char *)sqlite3_column_blob(st, 2);
		size_t blen = (size_t)sqlite3_column_bytes(st, 2);
		size_t clen = strlen(cur);

		if (a == NULL)
			a = "";
		if (b == NULL)
			b = "";
		if (r->moves && is_under(cur, clen, a, alen)) {
			char moved[RFTP_PATH_MAX];

			if (blen + (clen - alen) >= sizeof(moved))
				goto out; /* cannot be: names are capped */
			memcpy(moved, b, blen);
			memcpy(moved + blen, cur + alen, clen - alen);
			moved[blen + clen - alen] = '\0';
			memcpy(cur, moved, blen + clen - alen + 1);
		} else if ((r->removes && is_under(cur, clen, a, alen)) ||
		    (r->replaces_arg && blen > 0 &&
		        is_under(cur, clen, b, blen))) {
			alive = 0;
		}
	}
	if (alive && step != SQLITE_DONE)
		goto out;
	if (alive && snprintf(out, outlen, "%s", cur) >= (int)outlen)
		goto out;
	rc = alive;
out:
	if (rc < 0)
		log_err("queue: source of job %lld: %s", (long long)j->id,
		    sqlite3_errmsg(q->db));
	sqlite3_finalize(st);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

static void
copy_col(sqlite3_stmt *st, int col, char *out, size_t outlen)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(out, outlen, "%s", t ? (const char *)t : "");
}

/* The jobs of a target in flight: few (its workers), read once per claim. */
struct running {
	char user[RFTP_USER_MAX + 1];
	int64_t op;
	char path[RFTP_PATH_MAX], arg[RFTP_PATH_MAX];
};


/* Whether a queued job (user, op, path, arg) is related to one in flight. */
static int
near_running(const struct running *r, size_t nr, const char *user, int64_t op,
    const char *path, const char *arg)
{
	for (size_t i = 0; i < nr; i++) {
		const char *mine[2] = { path, arg }, *theirs[2] = { r[i].path,
			r[i].arg };
		int nm = rule_of(op)->arg_is_path && arg[0] != '\0' ? 2 : 1;
		int nt = rule_of(r[i].op)->arg_is_path && r[i].arg[0] != '\0' ?
		    2 :
		    1;

		if (strcmp(r[i].user, user) != 0)
			continue;
		for (int x = 0; x < nm; x++)
			for (int y = 0; y < nt; y++)
				if (queue_paths_related(mine[x], theirs[y]))
					return 1;
	}
	return 0;
}

int
queue_claim(struct queue *q, const char *target, int64_t now, struct job *out,
    int64_t *next_due_ms)
{
	sqlite3_stmt *st = NULL;
	struct running *run = NULL;
	size_t nrun = 0, cap = 0;
	int rc = -1, step;

	*next_due_ms = -1;
	pthread_mutex_lock(&q->lock);
	if (sqlite3_prepare_v2(q->db,
	        "SELECT user, op, path, arg FROM jobs WHERE target=?1 AND "
	        "state='running'",
	        -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, target, -1, SQLITE_TRANSIENT);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (nrun == cap) {
			struct running *grown;

			cap = cap ? cap * 2 : 8;
			grown = realloc(run, cap * sizeof(*run));
			if (grown == NULL)
				goto out;
			run = grown;
		}
		copy_col(st, 0, run[nrun].user, sizeof(run[nrun].user));
		run[nrun].op = sqlite3_column_int64(st, 1);
		copy_col(st, 2, run[nrun].path, sizeof(run[nrun].path));
		copy_col(st, 3, run[nrun].arg, sizeof(run[nrun].arg));
		nrun++;
	}
	if (step != SQLITE_DONE)
		goto out;
	sqlite3_finalize(st);
	/* The ordering rules of queue.h: a job waits for every older
	 * related job, whatever its state (a parked one included), and for
	 * a related one in flight. Candidates in due order; each is checked
	 * with indexed look-ups (related_max_id), the first free one wins. */
	if (sqlite3_prepare_v2(q->db,
	        "SELECT id, user, home, path, attempts, created_ms, next_ms, "
	        "op, arg, recovered FROM jobs WHERE target=?1 AND "
	        "state='queued' ORDER BY next_ms, id",
	        -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, target, -1, SQLITE_TRANSIENT);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0), op, older;

		memset(out, 0, sizeof(*out));
		copy_col(st, 1, out->user, sizeof(out->user));
		copy_col(st, 3, out->path, sizeof(out->path));
		copy_col(st, 8, out->arg, sizeof(out->arg));
		op = sqlite3_column_int64(st, 7);
		older = related_max_id(
		    q, target, out->user, op, out->path, out->arg, id);
		if (older < 0)
			goto out;
		if (older > 0 ||
		    near_running(run, nrun, out->user, op, out->path, out->arg))
			continue;
		if (sqlite3_column_int64(st, 6) > now) {
			*next_due_ms = sqlite3_column_int64(st, 6);
			rc = 0;
			goto out;
		}
		out->id = id;
		snprintf(out->target, sizeof(out->target), "%s", target);
		copy_col(st, 2, out->home, sizeof(out->home));
		out->attempts = sqlite3_column_int64(st, 4);
		out->created_ms = sqlite3_column_int64(st, 5);
		out->op = op_of(op);
		out->recovered = sqlite3_column_int64(st, 9) != 0;
		sqlite3_finalize(st);
		st = NULL;
		rc = exec_params(q,
		         "UPDATE jobs SET state='running' WHERE id=?1", "i",
		         out->id) == 1 ?
		    1 :
		    -1;
		goto out;
	}
	if (step == SQLITE_DONE)
		rc = 0;
out:
	if (rc < 0)
		log_err("queue: claim: %s", sqlite3_errmsg(q->db));
	sqlite3_finalize(st);
	free(run);
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
	int64_t latest;

	/* Only the latest related job counts: an older put of the path is
	 * not enough if a delete or a rename over it comes after. */
	pthread_mutex_lock(&q->lock);
	latest = related_max_id(q, target, user, JOB_PUT, path, NULL, INT64_MAX);
	pthread_mutex_unlock(&q->lock);
	if (latest <= 0)
		return latest < 0 ? -1 : 0;
	return count_where(q,
	    "SELECT count(*) FROM jobs WHERE id=?4 AND ((op=0 AND path=?3) "
	    "OR (op=2 AND arg=?3))",
	    target, user, path, latest, 0);
}

int
queue_move_pushed(struct queue *q, const char *target, const char *user,
    const char *path, const char *new_path)
{
	int rc;

	/* A range, not LIKE: '_' and '%' are names here, and case
	 * matters ('/' + 1 is '0' in ASCII). */
	if (new_path == NULL)
		rc = exec_locked(q,
		    "DELETE FROM pushed WHERE target=?1 AND user=?2 AND "
		    "(path=?3 OR (path >= ?3 || '/' AND path < ?3 || '0'))",
		    "ttt", target, user, path);
	else
		rc = exec_locked(q,
		    /* Byte-wise: the tail is cut as a blob, so a name
		     * that is not UTF-8 is carried over intact. */
		    "UPDATE OR REPLACE pushed SET path=?4 || "
		    "substr(CAST(path AS BLOB), length(CAST(?3 AS BLOB)) + "
		    "1) WHERE target=?1 AND user=?2 AND "
		    "(path=?3 OR (path >= ?3 || '/' AND path < ?3 || '0'))",
		    "tttt", target, user, path, new_path);
	return rc < 0 ? -1 : 0;
}
