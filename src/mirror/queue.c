/*
 * queue.c - see queue.h.
 *
 * WAL, readers (the `mirror status` process) never block the daemon. The
 * connection is guarded by one mutex; statements are prepared per call,
 * which costs microseconds next to an fsync.
 *
 * Group commit. A commit that must survive power loss (a job before its
 * 226, an intent before its change, a retry asked by the admin) is what
 * synchronous=FULL gives: the WAL fsynced after the commit. The connection
 * runs at synchronous=NORMAL (the commit only writes the WAL) and
 * queue_sync then fdatasyncs the WAL file itself: one sync covers every
 * commit written before it started, so sessions that commit while a sync
 * runs share the next one instead of queueing for one each (a leader
 * syncs, the others wait on a condition for their ticket). The order of
 * WAL frames is the order of commits, so a crash can only lose a suffix of
 * the commits nobody waited for: settles (claims, done jobs, what a target
 * holds) are redone from the queue, which is what a crash mid-push
 * already does. If the WAL cannot be opened for this, the connection stays
 * at synchronous=FULL and queue_sync has nothing left to do.
 *
 * Ordering and merging follow jobrules.h: which paths a job touches and
 * what it does to them on the target; whether two jobs are related is
 * found by indexed look-ups (related_max_id), never by scanning the queue,
 * so adding an op is one row of its table (queue.h says the rules). Job
 * states are bound by their names (job_state_name), never spelt in SQL.
 */
#include "mirror/queue.h"

#include "common/buf.h"
#include "common/clock.h"
#include "common/fnv.h"
#include "common/log.h"
#include "mirror/jobrules.h"
#include "mirror/queue_db.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* Statements of the hot paths (add, claim, end) kept prepared: at a few
 * thousand jobs a second, parsing their SQL again for every job cost more
 * than running them. Keyed by the SQL text's address, checked by its
 * text. */
#define STMT_CACHE 48

/* Puts in flight remembered as moved away (struct queue's moved): one per
 * target of a rename is the usual count; an id pushed out only costs its
 * worker a walk of the home. */
#define QUEUE_MOVED_MAX 64

/* Jobs whose outcome could not be written (struct queue's unsettled). A
 * settle fails only while the queue's file takes no writes, when claims
 * fail too: about one job per worker per such spell. */
#define QUEUE_UNSETTLED_MAX 256

/* queue_away's counts of added jobs, one per bucket of users: a delete
 * by one user reads again only the walks of the users of its bucket. */
#define AWAY_BUCKETS 64

static size_t
away_bucket(const char *user)
{
	return (size_t)(fnv1a64_str(FNV1A64_INIT, user) % AWAY_BUCKETS);
}

struct stmt_slot {
	const char *sql;
	sqlite3_stmt *st;
};

struct queue {
	sqlite3 *db;
	pthread_mutex_t lock;
	sqlite3_stmt *rel[REL_NSTMT];
	struct stmt_slot cache[STMT_CACHE];
	int ncache;
	/* Group commit (top of file). wal_fd < 0: synchronous=FULL. */
	int wal_fd;
	char wal_path[PATH_MAX + 8];
	/* Commits written to the WAL so far; bumped under lock. */
	atomic_uint_fast64_t committed;
	pthread_mutex_t sync_lock;
	pthread_cond_t sync_done;
	uint64_t synced; /* every commit up to this one is on disk */
	int syncing;     /* a leader is in fdatasync */
	/* queue_let_go removed the WAL's name: never opened again by it. */
	int wal_let_go;
	/* Puts in flight whose file a rename moved away (add_jobs' mv,
	 * queue_take_moved), newest last; under lock. Memory only: after a
	 * crash such a job runs again and has the home walked, as before. */
	int64_t moved[QUEUE_MOVED_MAX];
	size_t nmoved;
	/* The file opened, to see it removed or replaced under us
	 * (queue_file_state), and what it needs to be opened again. */
	char path[PATH_MAX];
	dev_t dev;
	ino_t ino;
	int known; /* dev and ino were read */
	int busy_ms;
	int view; /* queue_open_view: reads facts, runs no row upgrade */
	/* jc, the job counts, is kept (queue_counts_setup): queue_status reads it
	 * instead of counting the jobs. */
	int counted;
	/* What the last page of queue_list_jobs cost its statement
	 * (queue_list_cost), under lock. */
	int64_t list_sorts, list_steps;
	/* The last write failed for the file's sake (queue_write_failing). */
	atomic_int write_failing;
	/* Jobs that may take a path away (a delete, an rmdir, a rename)
	 * added so far, counted by user (away_bucket): a queue_away read
	 * before one of its user's holds no longer. One count for all
	 * users made the walk of one home read again for every delete in
	 * another, and ask file by file after 16 of them. */
	atomic_uint_fast64_t away_added[AWAY_BUCKETS];
	/* The last sync of the WAL failed (queue_sync): its writes went to
	 * the page cache, so only a sync that succeeds ends it. */
	atomic_int sync_failing;
	/* Claims that failed for one reason (claim_failed), under lock:
	 * each worker of each target claims again every second, so a
	 * damaged or failing queue file logged a line per worker per
	 * second for as long as it lasted (3.6 a second for one target
	 * of 4 workers: found by a soak). */
	char claim_why[256];    /* the reason last said; "" claims work */
	uint64_t claim_said_ms; /* monotonic: when it was said */
	uint64_t claim_unsaid;  /* failures since, for that reason */
	/* Claimed jobs whose outcome (pushed, failed, handed back, dropped)
	 * could not be written, under lock: each stayed "running" for the
	 * daemon's life, and that state held back every later change of its
	 * file (a claim passes over the paths in flight) and told the walk
	 * a job would deliver it; only a restart pushed them. Queued again
	 * by the next claim that can write (requeue_unsettled). Memory only:
	 * a restart queues every running job again anyway. */
	int64_t unsettled[QUEUE_UNSETTLED_MAX];
	size_t nunsettled;
	uint64_t unsettled_lost; /* beyond the array: left to a restart */
};

/* The stored name of a state, for binding. */
#define S(state) job_state_name(state)

/*
 * A prepared statement for sql, from the cache (lock held). Give it back
 * with stmt_put, never sqlite3_finalize. NULL on error (logged by the
 * caller through sqlite3_errmsg).
 */
static sqlite3_stmt *
stmt_get(struct queue *q, const char *sql)
{
	sqlite3_stmt *st = NULL;

	for (int i = 0; i < q->ncache; i++)
		if (q->cache[i].sql == sql &&
		    strcmp(sqlite3_sql(q->cache[i].st), sql) == 0)
			return q->cache[i].st;
	if (sqlite3_prepare_v3(q->db, sql, -1,
	        q->ncache < STMT_CACHE ? SQLITE_PREPARE_PERSISTENT : 0, &st,
	        NULL) != SQLITE_OK) {
		sqlite3_finalize(st);
		return NULL;
	}
	if (q->ncache < STMT_CACHE) {
		q->cache[q->ncache].sql = sql;
		q->cache[q->ncache].st = st;
		q->ncache++;
	}
	return st;
}

/* Ends a use of a stmt_get statement: reset for the next use (which also
 * ends the read it may hold), or finalized if the cache had no room. */
static void
stmt_put(struct queue *q, sqlite3_stmt *st)
{
	if (st == NULL)
		return;
	for (int i = 0; i < q->ncache; i++)
		if (q->cache[i].st == st) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return;
		}
	sqlite3_finalize(st);
}

/* sqlite3_exec of a statement without parameters or rows (BEGIN, COMMIT,
 * ROLLBACK), through the cache: SQLITE_OK or SQLite's error code. */
static int
stmt_run(struct queue *q, const char *sql)
{
	sqlite3_stmt *st = stmt_get(q, sql);
	int rc;

	if (st == NULL)
		return sqlite3_errcode(q->db) != SQLITE_OK ?
		    sqlite3_errcode(q->db) :
		    SQLITE_ERROR;
	rc = sqlite3_step(st);
	stmt_put(q, st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* Remembers whether a write's result rc (an SQLite code) says the file
 * cannot take writes now (queue_write_failing); a busy lock or a broken
 * statement says nothing of the file. */
static void
note_write(struct queue *q, int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
		atomic_store(&q->write_failing, 0);
		break;
	case SQLITE_IOERR:
	case SQLITE_FULL:
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
		atomic_store(&q->write_failing, 1);
		break;
	default:
		break;
	}
}

int
queue_write_failing(struct queue *q)
{
	return atomic_load(&q->write_failing) || atomic_load(&q->sync_failing);
}

int
queue_sync_failing(struct queue *q)
{
	return atomic_load(&q->sync_failing);
}

int
queue_probe_write(struct queue *q)
{
	char sql[64];
	sqlite3_stmt *st = NULL;
	int rc;

	if (!queue_write_failing(q))
		return 0;
	pthread_mutex_lock(&q->lock);
	/* The header's user_version, set to what it is: page 1 written. */
	rc = sqlite3_prepare_v2(q->db, "PRAGMA user_version", -1, &st, NULL);
	if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
		    sqlite3_column_int(st, 0));
		rc = sqlite3_exec(q->db, sql, NULL, NULL, NULL);
		note_write(q, rc);
		if (rc == SQLITE_OK)
			atomic_fetch_add(&q->committed, 1);
	} else if (rc == SQLITE_OK) {
		rc = SQLITE_ERROR;
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&q->lock);
	if (rc != SQLITE_OK)
		return -1;
	/* A write into the page cache says nothing of a failing sync: the
	 * probe's own commit is synced as an upload's would be. */
	return queue_sync(q, queue_ticket(q));
}

static void
stmt_cache_free(struct queue *q)
{
	for (int i = 0; i < q->ncache; i++)
		sqlite3_finalize(q->cache[i].st);
	q->ncache = 0;
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
	for (int i = 0; i < REL_NSTMT; i++)
		if (sqlite3_prepare_v3(q->db, queue_related_sql[i], -1,
		        SQLITE_PREPARE_PERSISTENT, &q->rel[i],
		        NULL) != SQLITE_OK)
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

/* Related look-ups for one path x: x and its ancestors, and below x;
 * with nomk, passing over folders made (queue_takes_away). */
static int
rel_path(struct queue *q, const char *target, const char *user, const char *x,
    int nomk, int64_t below, int64_t *best)
{
	const int k0 = nomk ? REL_PATH_EQ_NOMK : REL_PATH_EQ;
	char lo[RFTP_PATH_MAX + 2], hi[RFTP_PATH_MAX + 2];
	size_t n = strlen(x);

	if (n == 0 || n + 1 >= sizeof(lo))
		return n == 0 ? 0 : -1;
	/* x itself, then each ancestor ("/a/b" -> "/a"); "/" holds no job. */
	for (size_t len = n; len > 1;) {
		if (rel_lookup(q, (enum rel_stmt)(k0 + REL_PATH_EQ), target,
		        user, x, len, NULL, 0, below, best) < 0 ||
		    rel_lookup(q, (enum rel_stmt)(k0 + REL_ARG_EQ), target,
		        user, x, len, NULL, 0, below, best) < 0)
			return -1;
		len = jobrules_parent_len(x, len);
	}
	memcpy(lo, x, n);
	memcpy(hi, x, n);
	lo[n] = '/';
	hi[n] = '0';
	if (rel_lookup(q, (enum rel_stmt)(k0 + REL_PATH_BELOW), target, user,
	        lo, n + 1, hi, n + 1, below, best) < 0 ||
	    rel_lookup(q, (enum rel_stmt)(k0 + REL_ARG_BELOW), target, user, lo,
	        n + 1, hi, n + 1, below, best) < 0)
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

	if (rel_path(q, target, user, path, 0, below, &best) < 0 ||
	    (jobrules_of(op)->arg_is_path && arg != NULL && arg[0] != '\0' &&
	        rel_path(q, target, user, arg, 0, below, &best) < 0))
		return -1;
	return best;
}

/* fsyncs the folder that holds file (its entry, once). 0 or -1. */
static int
sync_folder_of(const char *file)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(file, '/');
	size_t n = slash == NULL ? 1 : (size_t)(slash - file);
	int fd, rc;

	if (slash == NULL)
		memcpy(dir, ".", 2);
	else if (n == 0)
		memcpy(dir, "/", 2);
	else if (n < sizeof(dir)) {
		memcpy(dir, file, n);
		dir[n] = '\0';
	} else
		return -1;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/*
 * Opens the WAL file for queue_sync and turns the connection's own syncs
 * down to synchronous=NORMAL; on any failure the connection stays at FULL
 * (every commit fsynced by SQLite, as before) and wal_fd stays -1. The WAL
 * exists once the schema was read; its folder entry is synced here, as
 * SQLite does at the first sync of a file it created.
 */
static void
open_wal(struct queue *q)
{
	const char *db = sqlite3_db_filename(q->db, "main");
	int n;

	if (db == NULL || db[0] == '\0')
		return;
	n = snprintf(q->wal_path, sizeof(q->wal_path), "%s-wal", db);
	if (n < 0 || (size_t)n >= sizeof(q->wal_path))
		return;
	q->wal_fd = open(q->wal_path, O_RDONLY | O_CLOEXEC);
	if (q->wal_fd < 0)
		return;
	if (sync_folder_of(q->wal_path) < 0 || fdatasync(q->wal_fd) < 0 ||
	    sqlite3_exec(q->db, "PRAGMA synchronous=NORMAL", NULL, NULL,
	        NULL) != SQLITE_OK) {
		close(q->wal_fd);
		q->wal_fd = -1;
		sqlite3_exec(
		    q->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
	}
}

/* One fdatasync of the WAL. A WAL that was unlinked (a last connection
 * closing deletes it; ours stays open, so this is a guard) is opened
 * again by name. 0 or -1. */
static int
wal_sync(struct queue *q)
{
	struct stat st;

	if (!q->wal_let_go && fstat(q->wal_fd, &st) == 0 && st.st_nlink == 0) {
		int fd = open(q->wal_path, O_RDONLY | O_CLOEXEC);

		if (fd < 0 || sync_folder_of(q->wal_path) < 0) {
			if (fd >= 0)
				close(fd);
			return -1;
		}
		/* Only the leader touches wal_fd (queue_sync). */
		close(q->wal_fd);
		q->wal_fd = fd;
	}
	return fdatasync(q->wal_fd);
}

uint64_t
queue_ticket(struct queue *q)
{
	return (uint64_t)atomic_load(&q->committed);
}

int
queue_sync(struct queue *q, uint64_t ticket)
{
	int rc = 0;

	if (q->wal_fd < 0)
		return 0; /* synchronous=FULL: SQLite synced each commit */
	pthread_mutex_lock(&q->sync_lock);
	while (rc == 0 && q->synced < ticket) {
		uint64_t upto;

		if (q->syncing) {
			pthread_cond_wait(&q->sync_done, &q->sync_lock);
			continue;
		}
		/* The leader: its sync covers every commit counted now. */
		q->syncing = 1;
		upto = (uint64_t)atomic_load(&q->committed);
		pthread_mutex_unlock(&q->sync_lock);
		if (wal_sync(q) < 0) {
			/* Said at each change's failure by its caller; here
			 * once, not at each of the scanner's probes. */
			if (atomic_load(&q->sync_failing))
				log_debug("queue: cannot sync %s: %s",
				    q->wal_path, strerror(errno));
			else
				log_err("queue: cannot sync %s: %s",
				    q->wal_path, strerror(errno));
			rc = -1;
		} else if (atomic_load(&q->sync_failing)) {
			log_info("queue: %s syncs again", q->wal_path);
		}
		/* What `mirror status` reads (mirror.c mark_failing): a sync
		 * that failed lost the 226's promise as a failed write does. */
		atomic_store(&q->sync_failing, rc < 0);
		pthread_mutex_lock(&q->sync_lock);
		q->syncing = 0;
		if (rc == 0 && upto > q->synced)
			q->synced = upto;
		pthread_cond_broadcast(&q->sync_done);
	}
	pthread_mutex_unlock(&q->sync_lock);
	return rc;
}

static void conn_close(struct queue *q);

/*
 * SQLite folds its WAL back into the queue file (auto-checkpoint) only
 * once it holds 1,000 pages (about 4 MB). On a smaller file system the
 * WAL filled it first: every write then failed "database or disk is
 * full" for good, as the checkpoint that would empty the WAL needs room
 * for the queue file to grow (a 2 MB tmpfs jammed after about 30
 * uploads, whatever was pushed since). The WAL is given a quarter of the
 * room found at the open (its own size counted in: it is reused) and the
 * admin is told once. 0 pages: SQLite's defaults kept.
 */
#define QUEUE_WAL_PAGES     1000 /* SQLite's auto-checkpoint default */
#define QUEUE_WAL_MIN_PAGES 8

static void
fit_wal(struct queue *q, const char *path)
{
	char sql[96], walpath[RFTP_PATH_MAX + 8];
	struct statvfs vfs;
	struct stat wst;
	sqlite3_stmt *st = NULL;
	unsigned long long room, pages, psize = 0;
	int n;

	if (sqlite3_prepare_v2(q->db, "PRAGMA page_size", -1, &st, NULL) ==
	        SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		psize = (unsigned long long)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (psize == 0 || statvfs(path, &vfs) < 0)
		return;
	room = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
	n = snprintf(walpath, sizeof(walpath), "%s-wal", path);
	if (n > 0 && (size_t)n < sizeof(walpath) && stat(walpath, &wst) == 0)
		room += (unsigned long long)wst.st_size;
	pages = room / 4 / psize;
	if (pages >= QUEUE_WAL_PAGES)
		return;
	if (pages < QUEUE_WAL_MIN_PAGES)
		pages = QUEUE_WAL_MIN_PAGES;
	snprintf(sql, sizeof(sql),
	    "PRAGMA wal_autocheckpoint=%llu; PRAGMA journal_size_limit=%llu",
	    pages, pages * psize);
	if (sqlite3_exec(q->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return;
	log_warn("queue: the file system of %s has %llu kB free, too little "
	         "for the queue's journal (about 4 MB; give it %llu MB or "
	         "more): the journal is folded back every %llu pages instead; "
	         "if the disk fills, uploads are answered \"not queued for "
	         "mirroring yet\"",
	    path, room / 1024,
	    (unsigned long long)QUEUE_WAL_PAGES * 4 * psize >> 20, pages);
}

/* What the file system holding path says of a failed write or open, and
 * err, the errno SQLite last saw (0: none), into out (outlen bytes, ""
 * if nothing): SQLite says "disk I/O error" or "unable to open database
 * file" where a full disk, out of inodes for the -wal and -shm files, is
 * the reason, and "disk I/O error" for an ext4 the kernel made read-only
 * after an error, whose statvfs still says read-write (Linux 6.x's
 * emergency_ro: only the write's EROFS tells). */
static void
fs_state(const char *path, int err, char *out, size_t outlen)
{
	struct statvfs vfs;
	int have = statvfs(path, &vfs) == 0;

	if (err == EROFS || (have && (vfs.f_flag & ST_RDONLY)))
		snprintf(out, outlen, " (its file system is read-only)");
	else if (err == ENOSPC || (have && vfs.f_bavail == 0))
		snprintf(out, outlen, " (its file system is full)");
	else if (have && vfs.f_favail == 0 && vfs.f_files > 0)
		snprintf(out, outlen, " (its file system has no free inodes)");
	else if (err != 0)
		snprintf(out, outlen, " (%s)", strerror(err));
	else if (outlen > 0)
		out[0] = '\0';
}

/* The errno behind q's last failure, 0 if none is known. SQLite keeps it
 * (sqlite3_system_errno) only for a statement's own I/O; a COMMIT's
 * write of the WAL that failed leaves it in the WAL file's handle, read
 * through the journal pointer (the WAL in WAL mode), else the main
 * file's. */
static int
last_errno(struct queue *q)
{
	sqlite3_file *wal = NULL;
	int err = sqlite3_system_errno(q->db);

	if (err == 0 &&
	    sqlite3_file_control(q->db, "main", SQLITE_FCNTL_JOURNAL_POINTER,
	        &wal) == SQLITE_OK &&
	    wal != NULL && wal->pMethods != NULL &&
	    wal->pMethods->xFileControl(wal, SQLITE_FCNTL_LAST_ERRNO, &err) !=
	        SQLITE_OK)
		err = 0;
	if (err == 0 &&
	    sqlite3_file_control(
	        q->db, "main", SQLITE_FCNTL_LAST_ERRNO, &err) != SQLITE_OK)
		err = 0;
	return err;
}

/* err (errlen bytes, a message) with fs_state(path, sys_err) after it,
 * cut to fit. */
static void
append_fs_state(char *err, size_t errlen, const char *path, int sys_err)
{
	size_t n = strnlen(err, errlen);

	if (n + 1 < errlen)
		fs_state(path, sys_err, err + n, errlen - n);
}

/* 1 if db's jc (the job counts) is kept by its triggers
 * (queue_counts_setup), else 0. */
static int
counts_ready(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int ready = 0;

	if (sqlite3_prepare_v2(db, queue_counts_ready, -1, &st, NULL) ==
	    SQLITE_OK)
		ready = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return ready;
}

/*
 * Opens q's connection to path (creating the file and its tables, adding
 * the newer columns) and prepares its look-ups; records which file it is.
 * On failure everything it made is closed, err says why, -1.
 */
static int
conn_open(struct queue *q, const char *path, char *err, size_t errlen)
{
	char *msg = NULL;
	struct stat st;

	/* NOFOLLOW: the daemon opens the queue as root in a folder run_as
	 * writes; a link planted there had root create or write a database
	 * (file names of uploads in it) at any path. */
	if (sqlite3_open_v2(path, &q->db,
	        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	            SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_NOFOLLOW,
	        NULL) != SQLITE_OK) {
		/* SQLite's own words were "unable to open database file". */
		snprintf(err, errlen, "%s: %s", path,
		    q->db == NULL ?
		        "cannot open" :
		        sqlite3_extended_errcode(q->db) ==
		            SQLITE_CANTOPEN_SYMLINK ?
		        "a symbolic link on its path (not followed: "
		        "name the real folder)" :
		        sqlite3_errmsg(q->db));
		goto fail;
	}
	/* Another process (mirror status/retry) may hold the lock briefly. */
	sqlite3_busy_timeout(q->db, q->busy_ms);
	if (sqlite3_exec(q->db, queue_schema, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, msg ? msg : "schema");
		sqlite3_free(msg);
		goto fail;
	}
	/* Queues made by older versions: add the newer columns (an error
	 * here only means the column exists). */
	for (size_t i = 0; queue_migrations[i] != NULL; i++)
		sqlite3_exec(q->db, queue_migrations[i], NULL, NULL, NULL);
	/* Not for a view: `mirror status` and the admin listener's
	 * connection held the write lock for a scan of every job at each
	 * open (0.5 s at 2.7 million jobs, the daemon's uploads waiting to
	 * record theirs; found from outside). */
	if (!q->view) {
		sqlite3_exec(q->db, queue_row_upgrade, NULL, NULL, NULL);
		fit_wal(q, path);
	}
	q->counted = counts_ready(q->db);
	/* A view never takes the write lock: it counts until the daemon
	 * (or retry, resync) has set the counts up. */
	if (!q->counted && !q->view) {
		if (sqlite3_exec(q->db, queue_counts_setup, NULL, NULL, NULL) !=
		    SQLITE_OK) {
			log_warn("queue: %s: could not set up the job counts "
			         "(status counts the jobs): %s",
			    path, sqlite3_errmsg(q->db));
			if (!sqlite3_get_autocommit(q->db))
				sqlite3_exec(
				    q->db, "ROLLBACK", NULL, NULL, NULL);
		}
		q->counted = counts_ready(q->db);
	}
	if (prepare_related(q) < 0) {
		snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(q->db));
		goto fail;
	}
	/* The file just opened: NOFOLLOW made sure the name is no link. */
	q->known = stat(path, &st) == 0;
	if (q->known) {
		q->dev = st.st_dev;
		q->ino = st.st_ino;
	}
	open_wal(q);
	return 0;
fail:
	append_fs_state(err, errlen, path, q->db != NULL ? last_errno(q) : 0);
	conn_close(q);
	return -1;
}

/* Closes what conn_open made (any part of it). */
static void
conn_close(struct queue *q)
{
	stmt_cache_free(q);
	for (int i = 0; i < REL_NSTMT; i++) {
		sqlite3_finalize(q->rel[i]);
		q->rel[i] = NULL;
	}
	sqlite3_close(q->db);
	q->db = NULL;
	if (q->wal_fd >= 0)
		close(q->wal_fd);
	q->wal_fd = -1;
}

static struct queue *
open_queue(const char *path, int view, char *err, size_t errlen)
{
	struct queue *q = calloc(1, sizeof(*q));

	if (q == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	q->view = view;
	q->wal_fd = -1;
	q->busy_ms = 10000;
	if (snprintf(q->path, sizeof(q->path), "%s", path) >=
	    (int)sizeof(q->path)) {
		snprintf(err, errlen, "the queue's path is too long");
		free(q);
		return NULL;
	}
	if (conn_open(q, path, err, errlen) < 0) {
		free(q);
		return NULL;
	}
	pthread_mutex_init(&q->lock, NULL);
	pthread_mutex_init(&q->sync_lock, NULL);
	pthread_cond_init(&q->sync_done, NULL);
	atomic_init(&q->committed, 0);
	return q;
}

struct queue *
queue_open(const char *path, char *err, size_t errlen)
{
	return open_queue(path, 0, err, errlen);
}

struct queue *
queue_open_view(const char *path, char *err, size_t errlen)
{
	return open_queue(path, 1, err, errlen);
}

void
queue_close(struct queue *q)
{
	if (q == NULL)
		return;
	conn_close(q);
	pthread_mutex_destroy(&q->lock);
	pthread_mutex_destroy(&q->sync_lock);
	pthread_cond_destroy(&q->sync_done);
	free(q);
}

int
queue_file_state(struct queue *q)
{
	struct stat st;

	if (!q->known) {
		errno = ENOENT; /* not read at the open: cannot tell */
		return -1;
	}
	if (lstat(q->path, &st) < 0)
		return errno == ENOENT ? QUEUE_FILE_REMOVED : -1;
	return st.st_dev == q->dev && st.st_ino == q->ino ? QUEUE_FILE_OURS :
	                                                    QUEUE_FILE_REPLACED;
}

/* queue_reopen with q->lock held. A group commit's leader syncs wal_fd
 * without q->lock (queue_sync): it is waited for, and no other can start
 * until the connection is swapped. */
static int
reopen_locked(struct queue *q, char *err, size_t errlen)
{
	struct queue old = *q; /* the connection, kept until the new works */
	int rc = 0;

	pthread_mutex_lock(&q->sync_lock);
	while (q->syncing)
		pthread_cond_wait(&q->sync_done, &q->sync_lock);
	q->db = NULL;
	q->ncache = 0;
	memset(q->rel, 0, sizeof(q->rel));
	q->wal_fd = -1;
	if (conn_open(q, q->path, err, errlen) < 0) {
		q->db = old.db;
		q->ncache = old.ncache;
		memcpy(q->rel, old.rel, sizeof(q->rel));
		q->wal_fd = old.wal_fd;
		rc = -1;
	} else {
		conn_close(&old);
		q->wal_let_go = 0; /* the new WAL is at its name */
	}
	pthread_mutex_unlock(&q->sync_lock);
	return rc;
}

int
queue_reopen(struct queue *q, char *err, size_t errlen)
{
	int rc;

	pthread_mutex_lock(&q->lock);
	rc = reopen_locked(q, err, errlen);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

/*
 * Removes the WAL and shared-memory files left at the path of a removed
 * queue (an rm of queue.db alone leaves them, still the old connection's):
 * SQLite would read the old WAL's pages into the file written back, whose
 * pages are laid out anew (database disk image is malformed), and would
 * truncate the -shm the old connections still have mapped. They hold
 * nothing the written-back copy lacks. 0, or -1 with err filled.
 */
static int
unlink_sidecars(struct queue *q, char *err, size_t errlen)
{
	static const char *const suffix[] = { "-wal", "-shm" };
	char side[PATH_MAX + 8];

	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		if (snprintf(side, sizeof(side), "%s%s", q->path, suffix[i]) >=
		    (int)sizeof(side)) {
			snprintf(err, errlen, "the queue's path is too long");
			return -1;
		}
		if (unlink(side) < 0 && errno != ENOENT) {
			snprintf(err, errlen, "cannot remove the stale %s: %s",
			    side, strerror(errno));
			return -1;
		}
	}
	return 0;
}

int
queue_let_go(struct queue *q, char *err, size_t errlen)
{
	char side[PATH_MAX + 8];
	struct stat at, ours;
	int rc = 0;

	pthread_mutex_lock(&q->lock);
	pthread_mutex_lock(&q->sync_lock);
	while (q->syncing)
		pthread_cond_wait(&q->sync_done, &q->sync_lock);
	/* Only a WAL that is ours: one the new file brought is its own. */
	if (q->wal_fd >= 0 && !q->wal_let_go &&
	    snprintf(side, sizeof(side), "%s-wal", q->path) <
	        (int)sizeof(side) &&
	    lstat(side, &at) == 0 && fstat(q->wal_fd, &ours) == 0 &&
	    at.st_dev == ours.st_dev && at.st_ino == ours.st_ino) {
		rc = unlink_sidecars(q, err, errlen);
		q->wal_let_go = rc == 0;
	}
	pthread_mutex_unlock(&q->sync_lock);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

/*
 * Writes what the connection sees (the removed file and its WAL, which it
 * holds open) into a new file made beside the path (O_EXCL: no link is
 * followed), synced, then renamed to the path only if nothing took it
 * meanwhile, and reopens there. Under q->lock: no transaction of ours is
 * open, and none can start until the connection is the new file's.
 */
static int
write_back_locked(struct queue *q, char *err, size_t errlen)
{
	char tmp[PATH_MAX + 16];
	sqlite3_stmt *st = NULL;
	int fd, rc;

	if (snprintf(tmp, sizeof(tmp), "%s.new.XXXXXX", q->path) >=
	    (int)sizeof(tmp)) {
		snprintf(err, errlen, "the queue's path is too long");
		return -1;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		snprintf(
		    err, errlen, "cannot make %s: %s", tmp, strerror(errno));
		return -1;
	}
	/* VACUUM INTO takes an empty file: a consistent copy of every table
	 * through this connection. */
	rc = sqlite3_prepare_v2(q->db, "VACUUM INTO ?1", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, tmp, -1, SQLITE_STATIC);
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
	}
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot copy the open queue into %s: %s",
		    tmp, sqlite3_errmsg(q->db));
		goto fail;
	}
	if (unlink_sidecars(q, err, errlen) < 0)
		goto fail;
	/* Not synced by SQLite: synced here before it takes the name. */
	if (fsync(fd) < 0 ||
	    renameat2(AT_FDCWD, tmp, AT_FDCWD, q->path, RENAME_NOREPLACE) < 0 ||
	    sync_folder_of(q->path) < 0) {
		snprintf(err, errlen, "cannot put %s in place as %s: %s", tmp,
		    q->path, strerror(errno));
		goto fail;
	}
	sqlite3_finalize(st);
	close(fd);
	return reopen_locked(q, err, errlen);
fail:
	sqlite3_finalize(st);
	close(fd);
	(void)unlink(tmp);
	return -1;
}

int
queue_write_back(struct queue *q, char *err, size_t errlen)
{
	int rc;

	pthread_mutex_lock(&q->lock);
	rc = write_back_locked(q, err, errlen);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

void
queue_set_busy_ms(struct queue *q, int ms)
{
	pthread_mutex_lock(&q->lock);
	q->busy_ms = ms;
	sqlite3_busy_timeout(q->db, ms);
	pthread_mutex_unlock(&q->lock);
}

/* queue_exec and queue_exec_held (queue_db.h). */
static int
vexec_params(struct queue *q, const char *sql, const char *types, va_list ap)
{
	sqlite3_stmt *st = stmt_get(q, sql);
	int rc;

	if (st == NULL) {
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
	/* Inside BEGIN .. COMMIT only a failure tells: the COMMIT writes. */
	if (rc != SQLITE_DONE || sqlite3_get_autocommit(q->db))
		note_write(q, rc);
	if (rc != SQLITE_DONE) {
		log_err("queue: %s", sqlite3_errmsg(q->db));
		stmt_put(q, st);
		return -1;
	}
	stmt_put(q, st);
	/* A statement outside BEGIN .. COMMIT committed by itself. */
	if (sqlite3_get_autocommit(q->db))
		atomic_fetch_add(&q->committed, 1);
	return sqlite3_changes(q->db);
}

int
queue_exec_held(struct queue *q, const char *sql, const char *types, ...)
{
	va_list ap;
	int rc;

	va_start(ap, types);
	rc = vexec_params(q, sql, types, ap);
	va_end(ap);
	return rc;
}

int
queue_exec(struct queue *q, const char *sql, const char *types, ...)
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
queue_begin(struct queue *q)
{
	pthread_mutex_lock(&q->lock);
	if (stmt_run(q, "BEGIN IMMEDIATE") == SQLITE_OK)
		return 0;
	log_err("queue: begin: %s", sqlite3_errmsg(q->db));
	pthread_mutex_unlock(&q->lock);
	return -1;
}

/* Said where SQLite still has the reason: the callers only say what
 * could not be queued, and a full disk, a file system the kernel made
 * read-only after an error and a failing disk each want another fix,
 * where SQLite says "disk I/O error" for the last two. */
static void
log_write_failure(struct queue *q, const char *what)
{
	char why[128];

	fs_state(q->path, last_errno(q), why, sizeof(why));
	log_err("queue: cannot %s %s: %s%s", what, q->path,
	    sqlite3_errmsg(q->db), why);
}

int
queue_end(struct queue *q, int ok)
{
	int rc = stmt_run(q, ok ? "COMMIT" : "ROLLBACK");

	if (ok)
		note_write(q, rc);
	if (rc != SQLITE_OK)
		log_write_failure(q, ok ? "commit to" : "roll back");
	/* A COMMIT that failed may leave the transaction open: every later
	 * statement would join it, never committed. */
	if (rc != SQLITE_OK && !sqlite3_get_autocommit(q->db))
		stmt_run(q, "ROLLBACK");
	if (ok && rc == SQLITE_OK)
		atomic_fetch_add(&q->committed, 1);
	pthread_mutex_unlock(&q->lock);
	return rc == SQLITE_OK ? 0 : -1;
}

/* Makes room for element n of *v (cap elements of size bytes). 0, or -1
 * with *v unchanged. */
static int
grow(void **v, size_t *cap, size_t n, size_t size)
{
	size_t ncap = *cap ? *cap * 2 : 16;
	void *nv;

	if (n < *cap)
		return 0;
	nv = realloc(*v, ncap * size);
	if (nv == NULL)
		return -1;
	*v = nv;
	*cap = ncap;
	return 0;
}

#define COST_CAP ((uint64_t)1 << 50)

/* A put made of a rename (queue_add_moved_unsynced): the old name, and
 * whether it is still gone from the home. */
struct moved {
	const char *old_path;
	int (*gone)(const void *ctx);
	const void *ctx;
};

/* The puts of mv->old_path in flight on target, and its puts and times
 * kept waiting by add_jobs because they were tried (up to max of them,
 * into ids): their file is the new name's now (lock held). The count, or
 * -1. */
static int
moved_puts(struct queue *q, const char *target, const char *user,
    const char *path, int64_t *ids, size_t max)
{
	sqlite3_stmt *st = stmt_get(q,
	    "SELECT id FROM jobs WHERE target=?1 AND user=?2 AND path=?3 AND "
	    "((op=?4 AND state=?5) OR (op IN (?4, ?6) AND state IN (?7, ?8) "
	    "AND (tried OR recovered)))");
	size_t n = 0;
	int step;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, path, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (int64_t)JOB_PUT);
	sqlite3_bind_text(st, 5, S(JOB_RUNNING), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, (int64_t)JOB_TIME);
	sqlite3_bind_text(st, 7, S(JOB_QUEUED), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, S(JOB_FAILED), -1, SQLITE_STATIC);
	while ((step = sqlite3_step(st)) == SQLITE_ROW)
		if (n < max)
			ids[n++] = sqlite3_column_int64(st, 0);
	stmt_put(q, st);
	return step == SQLITE_DONE ? (int)n : -1;
}

/* Remembers ids as moved away, pushing out the oldest (lock held). */
static void
remember_moved(struct queue *q, const int64_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (q->nmoved == QUEUE_MOVED_MAX) {
			memmove(q->moved, q->moved + 1,
			    (QUEUE_MOVED_MAX - 1) * sizeof(q->moved[0]));
			q->nmoved--;
		}
		q->moved[q->nmoved++] = ids[i];
	}
}

void
queue_note_unsettled(struct queue *q, int64_t id)
{
	pthread_mutex_lock(&q->lock);
	/* Once per job: a caller that says so after a settle that said so
	 * itself filled the array with one job twice, and the count said
	 * ("2 job(s)" of one) was wrong. */
	for (size_t i = 0; i < q->nunsettled; i++)
		if (q->unsettled[i] == id) {
			pthread_mutex_unlock(&q->lock);
			return;
		}
	if (q->nunsettled < QUEUE_UNSETTLED_MAX)
		q->unsettled[q->nunsettled++] = id;
	else if (q->unsettled_lost++ == 0)
		/* Once per spell: requeue_unsettled ends it. */
		log_err("queue: more than %d jobs whose outcome could not be "
		        "written: the others run again at the next start",
		    QUEUE_UNSETTLED_MAX);
	pthread_mutex_unlock(&q->lock);
}

/*
 * The unsettled jobs (struct queue) queued again, due now, in a
 * transaction of their own (a claim that finds nothing rolls its own
 * back). A job pushed whose record failed is pushed again: the same bytes,
 * verified again. Lock held; a failure keeps them for the next claim.
 */
static void
requeue_unsettled(struct queue *q)
{
	long long requeued = 0;
	int rc = 0, n;

	if (stmt_run(q, "BEGIN IMMEDIATE") != SQLITE_OK)
		return;
	for (size_t i = 0; i < q->nunsettled && rc == 0; i++) {
		n = queue_exec_held(q,
		    "UPDATE jobs SET state=?2, next_ms=0 WHERE id=?1 AND "
		    "state=?3",
		    "itt", q->unsettled[i], S(JOB_QUEUED), S(JOB_RUNNING));
		if (n < 0)
			rc = -1;
		else
			requeued += n; /* not a job settled or gone since */
	}
	if (stmt_run(q, rc == 0 ? "COMMIT" : "ROLLBACK") != SQLITE_OK) {
		if (!sqlite3_get_autocommit(q->db))
			stmt_run(q, "ROLLBACK");
		return;
	}
	if (rc < 0)
		return;
	atomic_fetch_add(&q->committed, 1);
	if (requeued > 0)
		log_info("queue: %lld job(s) whose outcome could not be "
		         "written are queued again",
		    requeued);
	/* The spell is over: one that comes back is said again (the
	 * warning was said once in the daemon's life). Those beyond the
	 * array still run at the next start. */
	if (q->unsettled_lost > 0)
		log_warn("queue: %llu more job(s) whose outcome could not be "
		         "written stay running until the next start",
		    (unsigned long long)q->unsettled_lost);
	q->unsettled_lost = 0;
	q->nunsettled = 0;
}

int
queue_take_moved(struct queue *q, int64_t id)
{
	int found = 0;

	pthread_mutex_lock(&q->lock);
	for (size_t i = 0; i < q->nmoved && !found; i++) {
		if (q->moved[i] != id)
			continue;
		memmove(q->moved + i, q->moved + i + 1,
		    (q->nmoved - i - 1) * sizeof(q->moved[0]));
		q->nmoved--;
		found = 1;
	}
	pthread_mutex_unlock(&q->lock);
	return found;
}

/* One row per target, inside the transaction the caller holds (lock
 * held): add_jobs and queue_add_puts_unsynced. Intent rows are never
 * merged; first and last get the intent rows ids. mv: the put's file came
 * from mv->old_path (else NULL); the ids of its puts in flight go to
 * moved (*nmoved used of QUEUE_MOVED_MAX). 0 or -1. */
static int
add_held(struct queue *q, const char *const *targets, size_t ntargets,
    enum job_op op, const char *user, const char *home, const char *path,
    const char *arg, const struct job_origin *from, int intent, int64_t *first,
    int64_t *last, const struct moved *mv, int64_t *moved, size_t *nmoved)
{
	int64_t now = clock_wall_ms();
	/* The fair share (queue.h): flows are stored as SQLite's signed
	 * integers; a cost is capped at 2^50 (1 PiB), so that the clock
	 * takes more than a thousand of the largest files before it nears
	 * their overflow. */
	uint64_t bytes = from != NULL ? from->bytes : 0;
	int64_t flow = from != NULL ? (int64_t)(from->flow & INT64_MAX) : 0;
	int64_t cost =
	    JOB_COST_FIXED + (int64_t)(bytes < COST_CAP ? bytes : COST_CAP);

	/* Before the rows: a queue_away read under this lock after them
	 * sees both (one read before sees the count moved). */
	if (op == JOB_DELETE || op == JOB_RMDIR || op == JOB_RENAME)
		atomic_fetch_add(&q->away_added[away_bucket(user)], 1);
	int rc = 0;

	/* Asked inside the transaction, which the watcher's own commits
	 * wait for: a program that wrote the old name again since the
	 * rename has its put queued already, and the name is there. */
	if (mv != NULL && !mv->gone(mv->ctx))
		mv = NULL;
	for (size_t i = 0; i < ntargets && rc == 0; i++) {
		int64_t latest = 0;
		int n = 0;

		/* The old name's waiting put and time have nothing left to
		 * push: the bytes are this put's. Each one left found the
		 * name gone at its turn and had the home walked again for
		 * it (worker.c push_file): a camera that uploads under a
		 * temporary name and renames, on a target without renames,
		 * had its whole home walked for most of its files (found
		 * from outside). One in flight is its worker's: it is told
		 * (queue_take_moved) once it finds the name gone. So is one
		 * that was tried: its copy may be on the target under its
		 * temporary name, which only its own next attempt removes
		 * (dropped here, the copy stayed there for good: found by a
		 * soak whose target went down between a copy and its
		 * rename). */
		if (mv != NULL &&
		    queue_exec_held(q,
		        "DELETE FROM jobs WHERE target=?1 AND user=?2 AND "
		        "path=?3 AND op IN (?4, ?5) AND state IN (?6, ?7) "
		        "AND NOT tried AND NOT recovered",
		        "tttiitt", targets[i], user, mv->old_path,
		        (int64_t)JOB_PUT, (int64_t)JOB_TIME, S(JOB_QUEUED),
		        S(JOB_FAILED)) < 0)
			rc = -1;
		if (mv != NULL && rc == 0) {
			int k = moved_puts(q, targets[i], user, mv->old_path,
			    moved + *nmoved, QUEUE_MOVED_MAX - *nmoved);

			if (k < 0)
				rc = -1;
			else
				*nmoved += (size_t)k;
		}

		/* A put or a time relates through its path alone. */
		if (!intent)
			latest = related_max_id(q, targets[i], user, JOB_PUT,
			    path, NULL, INT64_MAX);
		if (latest < 0)
			n = -1;
		/* A new put or time folds into the latest job related to
		 * its path when job_merges[] says so and that job is of the
		 * same path and still waiting (queued, or parked: then
		 * queued again with its attempts reset). A later related
		 * job in between (a rename into the path, a delete) keeps
		 * them apart: the new job runs after it. */
		for (size_t m = 0; m < job_nmerges && n == 0 && latest > 0; m++)
			if (job_merges[m].incoming == op)
				n = queue_exec_held(q,
				    "UPDATE jobs SET home=?1, op=?3, "
				    "attempts=CASE WHEN state=?6 THEN 0 "
				    "ELSE attempts END, next_ms=CASE WHEN "
				    "state=?6 THEN 0 ELSE next_ms END, "
				    "vtag=vtag + max(0, ?8 - (vfinish - "
				    "vstart)), vfinish=max(vfinish, "
				    "vstart + ?8), "
				    "state=?7 WHERE id=?5 AND op=?4 AND "
				    "path=?2 AND state IN (?7, ?6)",
				    "ttiiitti", home, path,
				    (int64_t)job_merges[m].becomes,
				    (int64_t)job_merges[m].queued, latest,
				    S(JOB_FAILED), S(JOB_QUEUED),
				    op == JOB_PUT ? cost : (int64_t)-1);
		if (n < 0)
			rc = -1;
		/* A merged job keeps its place in the fair share, charged
		 * the larger of its cost and the incoming put's (a 0-byte
		 * STOR followed by a 1 GiB one is charged 1 GiB, not taken
		 * as a small file); never less, since a put made of a rename
		 * carries no size, and a time folded in changes nothing. Its
		 * tag and finish move by the difference; the flow's later
		 * jobs keep theirs. A new one
		 * of a flow with jobs waiting starts at the later of the
		 * target's clock and the finish of the flow's latest waiting
		 * job, and is tagged with its finish; of a flow with none,
		 * just before the clock (queue.h: the sparse turn), tagged
		 * with the later of the turn's clock and the tag of its
		 * flow's sparse job in flight, plus its cost. Four index
		 * seeks (jobs_flowstate per state): never a walk of a flow's
		 * rows. */
		else if (n == 0 &&
		    queue_exec_held(q,
		        "INSERT INTO jobs(target, user, home, path, op, arg, "
		        "created_ms, state, flow, vstart, vfinish, vtag, "
		        "sparse) "
		        "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, v, v + ?10, "
		        "t + ?10, f IS NULL FROM (SELECT f, CASE WHEN f IS NULL "
		        "THEN c - 1 ELSE max(c, f) END AS v, CASE WHEN f IS "
		        "NULL THEN max(s, coalesce(p, s)) ELSE max(c, f) END AS "
		        "t FROM (SELECT "
		        "coalesce((SELECT vclock FROM targets WHERE name=?1), "
		        "0) AS c, coalesce((SELECT stime FROM targets WHERE "
		        "name=?1), 0) AS s, (SELECT max(vtag) FROM jobs WHERE "
		        "target=?1 AND flow=?9 AND state=?13 AND sparse=1) AS p, "
		        "(SELECT max(w) FROM (SELECT max(vfinish) AS w "
		        "FROM jobs WHERE target=?1 AND flow=?9 AND state=?11 "
		        "UNION ALL SELECT max(vfinish) FROM jobs WHERE "
		        "target=?1 AND flow=?9 AND state=?12)) AS f))",
		        "ttttititiittt", targets[i], user, home, path,
		        (int64_t)op, arg != NULL ? arg : "", now,
		        S(intent ? JOB_INTENT : JOB_QUEUED), flow, cost,
		        S(JOB_QUEUED), S(JOB_INTENT), S(JOB_RUNNING)) < 0)
			rc = -1;
		else if (n == 0 && intent) {
			int64_t id = sqlite3_last_insert_rowid(q->db);

			if (i == 0)
				*first = id;
			*last = id;
		}
	}
	return rc;
}

/* queue_add and queue_add_intent: one row per target in one transaction
 * (written, not yet synced: *ticket is what queue_sync waits for); the
 * rest as add_held. */
static int
add_jobs(struct queue *q, const char *const *targets, size_t ntargets,
    enum job_op op, const char *user, const char *home, const char *path,
    const char *arg, const struct job_origin *from, int intent, int64_t *first,
    int64_t *last, uint64_t *ticket, const struct moved *mv)
{
	int64_t moved[QUEUE_MOVED_MAX];
	size_t nmoved = 0;
	int rc;

	if (queue_begin(q) < 0)
		return -1;
	rc = add_held(q, targets, ntargets, op, user, home, path, arg, from,
	    intent, first, last, mv, moved, &nmoved);
	if (queue_end(q, rc == 0) < 0)
		return -1;
	if (rc == 0 && nmoved > 0) {
		pthread_mutex_lock(&q->lock);
		remember_moved(q, moved, nmoved);
		pthread_mutex_unlock(&q->lock);
	}
	*ticket = queue_ticket(q);
	return rc;
}

int
queue_add_unsynced(struct queue *q, const char *const *targets, size_t ntargets,
    enum job_op op, const char *user, const char *home, const char *path,
    const char *arg, const struct job_origin *from, uint64_t *ticket)
{
	return add_jobs(q, targets, ntargets, op, user, home, path, arg, from,
	    0, NULL, NULL, ticket, NULL);
}

int
queue_add_moved_unsynced(struct queue *q, const char *const *targets,
    size_t ntargets, const char *user, const char *home, const char *path,
    const char *old_path, int (*gone)(const void *ctx), const void *ctx,
    const struct job_origin *from, uint64_t *ticket)
{
	struct moved mv = { old_path, gone, ctx };

	return add_jobs(q, targets, ntargets, JOB_PUT, user, home, path, NULL,
	    from, 0, NULL, NULL, ticket, &mv);
}

int
queue_add_puts_unsynced(
    struct queue *q, const struct queue_put *puts, size_t n, uint64_t *ticket)
{
	int rc = 0;

	if (queue_begin(q) < 0)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = add_held(q, puts[i].targets, puts[i].ntargets, JOB_PUT,
		    puts[i].user, puts[i].home, puts[i].path, NULL,
		    &puts[i].from, 0, NULL, NULL, NULL, NULL, NULL);
	if (queue_end(q, rc == 0) < 0)
		return -1;
	*ticket = queue_ticket(q);
	return rc;
}

int
queue_add_changes(struct queue *q, const struct queue_change *c, size_t n,
    int intent, int64_t *first, int64_t *last, uint64_t *ticket)
{
	int64_t moved[QUEUE_MOVED_MAX];
	size_t nmoved = 0;
	int rc = 0;

	*first = 0;
	*last = -1;
	if (queue_begin(q) < 0)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct moved mv = { c[i].old_path, c[i].gone, c[i].ctx };
		int64_t f = 0, l = -1;

		rc =
		    add_held(q, c[i].targets, c[i].ntargets, c[i].op, c[i].user,
		        c[i].home, c[i].path, c[i].arg, &c[i].from, intent, &f,
		        &l, c[i].old_path != NULL ? &mv : NULL, moved, &nmoved);
		/* One transaction under the queue's lock: the rows of all
		 * the changes are numbered in a row, so one range settles
		 * them. */
		if (rc == 0 && l >= f) {
			if (*last < *first)
				*first = f;
			*last = l;
		}
	}
	if (queue_end(q, rc == 0) < 0)
		return -1;
	if (rc < 0) {
		*first = 0;
		*last = -1;
		return -1;
	}
	if (nmoved > 0) {
		pthread_mutex_lock(&q->lock);
		remember_moved(q, moved, nmoved);
		pthread_mutex_unlock(&q->lock);
	}
	*ticket = queue_ticket(q);
	/* Write-ahead: intents are durable before the change is made. */
	return intent ? queue_sync(q, *ticket) : 0;
}

int
queue_add(struct queue *q, const char *const *targets, size_t ntargets,
    enum job_op op, const char *user, const char *home, const char *path,
    const char *arg, const struct job_origin *from)
{
	uint64_t ticket;

	if (add_jobs(q, targets, ntargets, op, user, home, path, arg, from, 0,
	        NULL, NULL, &ticket, NULL) < 0)
		return -1;
	return queue_sync(q, ticket);
}

int
queue_add_intent(struct queue *q, const char *const *targets, size_t ntargets,
    enum job_op op, const char *user, const char *home, const char *path,
    const char *arg, const struct job_origin *from, int64_t *first,
    int64_t *last)
{
	uint64_t ticket;

	*first = 0;
	*last = -1;
	if (add_jobs(q, targets, ntargets, op, user, home, path, arg, from, 1,
	        first, last, &ticket, NULL) < 0)
		return -1;
	/* Write-ahead: durable before the change is made. */
	return queue_sync(q, ticket);
}

int
queue_settle(struct queue *q, int64_t first, int64_t last, int happened)
{
	int rc;

	if (last < first)
		return 0;
	/* Not synced (queue_sync): after a crash an unsettled intent is
	 * settled again from the home, so the change's own sync (the
	 * intent's) is the only one it needs. */
	pthread_mutex_lock(&q->lock);
	if (happened)
		rc = queue_exec_held(q,
		    "UPDATE jobs SET state=?4 WHERE state=?3 AND id BETWEEN ?1 "
		    "AND ?2",
		    "iitt", first, last, S(JOB_INTENT), S(JOB_QUEUED));
	else
		rc = queue_exec_held(q,
		    "DELETE FROM jobs WHERE state=?3 AND id BETWEEN ?1 AND ?2",
		    "iit", first, last, S(JOB_INTENT));
	pthread_mutex_unlock(&q->lock);
	return rc < 0 ? -1 : rc;
}

static int copy_col(sqlite3_stmt *st, int col, char *out, size_t outlen);

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
	        QUEUE_JOB_TARGETS "SELECT j.id, j.target, j.user, j.home, "
	                          "j.path, j.op, j.arg FROM t CROSS JOIN jobs "
	                          "AS j WHERE j.target=t.name AND j.state=?1 "
	                          "ORDER BY j.id",
	        -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, S(JOB_INTENT), -1, SQLITE_STATIC);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		struct job *j;

		if (grow((void **)&v, &cap, *n, sizeof(*v)) < 0)
			goto out;
		j = &v[(*n)++];
		memset(j, 0, sizeof(*j));
		j->id = sqlite3_column_int64(st, 0);
		j->op = jobrules_op_of(sqlite3_column_int64(st, 5));
		if (copy_col(st, 1, j->target, sizeof(j->target)) < 0 ||
		    copy_col(st, 2, j->user, sizeof(j->user)) < 0 ||
		    copy_col(st, 3, j->home, sizeof(j->home)) < 0 ||
		    copy_col(st, 4, j->path, sizeof(j->path)) < 0 ||
		    copy_col(st, 6, j->arg, sizeof(j->arg)) < 0)
			goto out;
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

/*
 * The first job of j's target and user after id `after` at x or at a
 * folder above it (among them any rename that moves x, delete or rmdir
 * that removes it; the walk passes over the others), or a rename onto one
 * of them (op=2: JOB_RENAME is the one op whose second path can replace a
 * name, jobrules.c). 0 for none, -1 on error. Exact look-ups of x and
 * each of its folders in jobs_path and jobs_rename, as rel_path's: a push
 * after an outage asks this with hundreds of thousands of later jobs
 * queued, and walking them all made each push cost their number (a drain
 * of 55,000 jobs ran at 6 a second). Lock held.
 */
static int64_t
next_touching(
    struct queue *q, const struct job *j, const char *x, int64_t after)
{
	static const char *const sql[] = {
		"SELECT min(id) FROM jobs WHERE target=?1 AND user=?2 AND "
		"path=?3 AND id>?4",
		"SELECT min(id) FROM jobs WHERE target=?1 AND user=?2 AND "
		"arg=?3 AND op=2 AND id>?4",
	};
	int64_t best = 0;

	for (size_t len = strlen(x); len > 1;
	     len = jobrules_parent_len(x, len)) {
		for (size_t k = 0; k < sizeof(sql) / sizeof(sql[0]); k++) {
			sqlite3_stmt *st = stmt_get(q, sql[k]);
			int step;

			if (st == NULL)
				return -1;
			sqlite3_bind_text(st, 1, j->target, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, j->user, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 3, x, (int)len, SQLITE_STATIC);
			sqlite3_bind_int64(st, 4, after);
			step = sqlite3_step(st);
			if (step == SQLITE_ROW &&
			    sqlite3_column_type(st, 0) != SQLITE_NULL &&
			    (best == 0 || sqlite3_column_int64(st, 0) < best))
				best = sqlite3_column_int64(st, 0);
			stmt_put(q, st);
			if (step != SQLITE_ROW)
				return -1;
		}
	}
	return best;
}

int
queue_source_path(struct queue *q, const struct job *j, const char *path,
    char *out, size_t outlen)
{
	sqlite3_stmt *st = NULL;
	struct job_walk w;
	int64_t after = j->id, next;
	int rc = -1;

	pthread_mutex_lock(&q->lock);
	/* Asked before every push. Only the later jobs that can move or
	 * remove the file's current name change the walk (jobrules.h):
	 * each is looked up, never the jobs between them. */
	if (jobrules_walk_start(&w, path) < 0)
		goto out;
	while (w.alive) {
		const char *a, *b;

		if ((next = next_touching(q, j, w.cur, after)) <= 0) {
			if (next < 0)
				goto out;
			break;
		}
		st = stmt_get(q, "SELECT op, path, arg FROM jobs WHERE id=?1");
		if (st == NULL)
			goto out;
		sqlite3_bind_int64(st, 1, next);
		if (sqlite3_step(st) != SQLITE_ROW)
			goto out;
		a = (const char *)sqlite3_column_blob(st, 1);
		b = (const char *)sqlite3_column_blob(st, 2);
		if (jobrules_walk_step(&w, sqlite3_column_int64(st, 0),
		        a != NULL ? a : "", (size_t)sqlite3_column_bytes(st, 1),
		        b != NULL ? b : "",
		        (size_t)sqlite3_column_bytes(st, 2)) < 0)
			goto out;
		stmt_put(q, st);
		st = NULL;
		after = next;
	}
	if (w.alive && snprintf(out, outlen, "%s", w.cur) >= (int)outlen)
		goto out;
	rc = w.alive;
out:
	if (rc < 0)
		log_err("queue: source of job %lld: %s", (long long)j->id,
		    sqlite3_errmsg(q->db));
	stmt_put(q, st);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

/* Copies a text column into out. -1 if it does not fit: a name cut short
 * would name another file, so a caller never uses it. */
static int
copy_col(sqlite3_stmt *st, int col, char *out, size_t outlen)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	int n = snprintf(out, outlen, "%s", t ? (const char *)t : "");

	if (n >= 0 && (size_t)n < outlen)
		return 0;
	return -1;
}

/*
 * The first job of target free to run under the ordering rules of queue.h
 * (no older related job left in any state, none related in flight among
 * run[nrun]), each checked with indexed look-ups (related_max_id): among
 * the due jobs in the fair share's order (earliest start, smallest tag,
 * oldest), or
 * (due 0) among those that wait, earliest due first. 1 with *out, *key
 * (due: its start; else: its due time) and *cost (due: its cost in the
 * fair share; else 0), 0 if none, -1 on error. *held (held not NULL) is
 * set to 1 if a job before the one returned (or any, with none returned)
 * was passed over for a related job. Called with the lock held.
 */
static int
first_free(struct queue *q, const char *target, int64_t now, int due,
    int64_t sparse_max, const struct job_row *run, size_t nrun, struct job *out,
    int64_t *key, int64_t *cost, int *held)
{
	sqlite3_stmt *st = NULL;
	int rc = -1, step;

	/* "+next_ms": the due jobs are read through jobs_share in their
	 * order, never all sorted at each claim. The sparse turn's jobs
	 * (sparse_max > 0) start just before the clock they were queued at,
	 * and the clock never goes back: all of them lie before the clock
	 * now, so the walk is a range of jobs_share that busy jobs enter
	 * only while a retry or a related job holds them back. */
	st = stmt_get(q,
	    sparse_max > 0 ?
	        "SELECT id, user, home, path, attempts, created_ms, vstart, "
	        "op, arg, recovered, tried, flow, vfinish - vstart FROM jobs "
	        "WHERE target=?1 AND state=?2 AND vstart < coalesce((SELECT "
	        "vclock FROM targets WHERE name=?1), 0) AND +next_ms<=?3 AND "
	        "sparse=1 AND vfinish - vstart <= ?4 AND op<>2 ORDER BY "
	        "vstart, vtag, id" :
	        due ?
	        "SELECT id, user, home, path, attempts, created_ms, "
	        "vstart, op, arg, recovered, tried, flow, vfinish - vstart "
	        "FROM jobs WHERE target=?1 AND state=?2 AND +next_ms<=?3 "
	        "ORDER BY vstart, vtag, id" :
	        "SELECT id, user, home, path, attempts, created_ms, "
	        "next_ms, op, arg, recovered, tried, flow, 0 FROM jobs "
	        "WHERE target=?1 AND state=?2 AND next_ms>?3 ORDER BY "
	        "next_ms, id");
	if (st == NULL)
		goto out;
	sqlite3_bind_text(st, 1, target, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, S(JOB_QUEUED), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	if (sparse_max > 0)
		sqlite3_bind_int64(st, 4, sparse_max);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0), op, older;

		memset(out, 0, sizeof(*out));
		if (copy_col(st, 1, out->user, sizeof(out->user)) < 0 ||
		    copy_col(st, 2, out->home, sizeof(out->home)) < 0 ||
		    copy_col(st, 3, out->path, sizeof(out->path)) < 0 ||
		    copy_col(st, 8, out->arg, sizeof(out->arg)) < 0) {
			/* Not from this program (its names are capped):
			 * never pushed under a cut name. */
			log_err("queue: job %lld has a name too long: skipped",
			    (long long)id);
			continue;
		}
		op = sqlite3_column_int64(st, 7);
		older = related_max_id(
		    q, target, out->user, op, out->path, out->arg, id);
		if (older < 0)
			goto out;
		if (older > 0 ||
		    jobrules_near(
		        run, nrun, out->user, op, out->path, out->arg)) {
			if (held != NULL)
				*held = 1;
			continue;
		}
		out->id = id;
		if (snprintf(out->target, sizeof(out->target), "%s", target) >=
		    (int)sizeof(out->target))
			goto out;
		out->attempts = sqlite3_column_int64(st, 4);
		out->created_ms = sqlite3_column_int64(st, 5);
		out->op = jobrules_op_of(op);
		out->recovered = sqlite3_column_int64(st, 9) != 0;
		out->tried = sqlite3_column_int64(st, 10) != 0;
		out->flow = (uint64_t)sqlite3_column_int64(st, 11);
		*key = sqlite3_column_int64(st, 6);
		*cost = sqlite3_column_int64(st, 12);
		rc = 1;
		goto out;
	}
	if (step == SQLITE_DONE)
		rc = 0;
out:
	stmt_put(q, st);
	return rc;
}

/* 1 if a job of target is due at now (jobs_due: one seek), 0 if not, -1
 * on error. Lock held. */
static int
any_due(struct queue *q, const char *target, int64_t now)
{
	sqlite3_stmt *st;
	int rc = -1, step;

	st = stmt_get(q,
	    "SELECT 1 FROM jobs WHERE target=?1 AND state=?2 AND "
	    "next_ms<=?3 LIMIT 1");
	if (st != NULL) {
		sqlite3_bind_text(st, 1, target, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, S(JOB_QUEUED), -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, now);
		step = sqlite3_step(st);
		rc = step == SQLITE_ROW ? 1 : step == SQLITE_DONE ? 0 : -1;
	}
	stmt_put(q, st);
	return rc;
}

/* Marks job j (free to run, start vstart, cost cost) in flight and moves
 * its target's clock on to its start, in the claim's transaction. A job
 * queued in the sparse turn, at its first claim, also moves the turn's
 * clock by its cost shared among the sparse jobs of its turn, itself
 * included (queue.h); a retry or a job redone after a crash was charged
 * once already. 1, or -1. Called with the lock held. */
static int
claim_held(struct queue *q, const struct job *j, int64_t vstart, int64_t cost)
{
	static const char move[] =
	    "UPDATE targets SET stime=stime + CASE WHEN ?6 = 0 AND "
	    "(SELECT sparse FROM jobs WHERE id=?5) = 1 THEN ?3 / (1 + "
	    "(SELECT count(*) FROM jobs WHERE target=?1 AND state=?4 AND "
	    "vstart=?2 AND sparse=1)) ELSE 0 END, vclock=max(vclock, ?2) "
	    "WHERE name=?1";
	int64_t charged = j->tried || j->recovered;
	int n;

	if (queue_exec_held(q, "UPDATE jobs SET state=?2, tried=1 WHERE id=?1",
	        "it", j->id, S(JOB_RUNNING)) != 1)
		return -1;
	n = queue_exec_held(q, move, "tiitii", j->target, vstart, cost,
	    S(JOB_QUEUED), j->id, charged);
	/* A target's first claim: its row made first, at the clock the jobs
	 * were queued against (0), so that the claim never sets the clock
	 * back to a sparse job's start, just before it. Not at every claim:
	 * the row is there from then on. */
	if (n == 0 &&
	    queue_exec_held(q, "INSERT OR IGNORE INTO targets(name) VALUES(?1)",
	        "t", j->target) >= 0)
		n = queue_exec_held(q, move, "tiitii", j->target, vstart, cost,
		    S(JOB_QUEUED), j->id, charged);
	return n == 1 ? 1 : -1;
}

/* How often a claim failure that goes on is said again. */
#define CLAIM_SAY_AGAIN_MS 60000

/*
 * A claim for target failed (why: SQLite's words). Said at once when the
 * reason is new, else once a minute with the count of the failures not
 * said, so that a queue file that stays damaged or unwritable does not
 * fill the disk holding the log. Lock held.
 */
static void
claim_failed(struct queue *q, const char *target, const char *why)
{
	uint64_t now = clock_mono_ms();

	if (strcmp(q->claim_why, why) == 0 &&
	    now - q->claim_said_ms < CLAIM_SAY_AGAIN_MS) {
		q->claim_unsaid++;
		return;
	}
	if (strcmp(q->claim_why, why) == 0)
		log_err("queue: claim for target %s: %s (%llu more claims "
		        "failed so in the last %llus; said once a minute "
		        "while it lasts)",
		    target, why, (unsigned long long)q->claim_unsaid,
		    (unsigned long long)((now - q->claim_said_ms) / 1000));
	else
		log_err("queue: claim for target %s: %s", target, why);
	fmt_fixed(q->claim_why, sizeof(q->claim_why), "%s", why);
	q->claim_said_ms = now;
	q->claim_unsaid = 0;
}

/* A claim worked: the end of a failure claim_failed said, if any. Lock
 * held. */
static void
claim_worked(struct queue *q)
{
	if (q->claim_why[0] == '\0')
		return;
	log_info("queue: claims work again (%llu more failed after the "
	         "last line about them)",
	    (unsigned long long)q->claim_unsaid);
	q->claim_why[0] = '\0';
	q->claim_unsaid = 0;
}

/* Ends the claim's transaction: its changes committed if rc is 1, none
 * otherwise (a claim that found nothing wrote nothing). rc, or -1 if the
 * commit failed. Lock held. */
static int
claim_end(struct queue *q, const char *target, int rc)
{
	if (stmt_run(q, rc == 1 ? "COMMIT" : "ROLLBACK") != SQLITE_OK) {
		char why[256];

		fmt_fixed(why, sizeof(why), "%s: %s",
		    rc == 1 ? "commit" : "rollback", sqlite3_errmsg(q->db));
		claim_failed(q, target, why);
		/* A COMMIT that failed may leave the transaction open: every
		 * later statement would join it, never committed. */
		if (!sqlite3_get_autocommit(q->db))
			stmt_run(q, "ROLLBACK");
		return -1;
	}
	/* Not waited for (queue_sync): a claim lost in a crash is a job
	 * queued, redone from the start either way. */
	if (rc == 1)
		atomic_fetch_add(&q->committed, 1);
	return rc;
}

/* queue_claim, or with sparse_max > 0 queue_claim_sparse. */
static int
claim(struct queue *q, const char *target, int64_t now, int64_t sparse_max,
    struct job *out, int64_t *next_due_ms, int *held)
{
	sqlite3_stmt *st = NULL;
	/* The jobs of the target in flight: few (its workers). */
	struct job_row *run = NULL;
	size_t nrun = 0, cap = 0;
	int64_t key = 0;  /* the claimed job's start, or the next due time */
	int64_t cost = 0; /* the claimed job's cost */
	/* A due job passed over for a related one (one not due yet is not
	 * counted: its due time wakes a worker anyway). */
	int passed = 0;
	int rc = -1, step;
	/* Why the claim failed, said before the ROLLBACK: its success
	 * resets SQLite's message ("not an error" was all a damaged queue
	 * file ever logged). */
	char why[256] = "";

	*next_due_ms = -1;
	pthread_mutex_lock(&q->lock);
	if (q->nunsettled > 0)
		requeue_unsettled(q);
	/* One transaction for the look and the claim: one snapshot, and
	 * one round of SQLite's file locks instead of one per statement
	 * (four; each is two fcntl calls). */
	if (stmt_run(q, "BEGIN IMMEDIATE") != SQLITE_OK) {
		fmt_fixed(why, sizeof(why), "begin: %s", sqlite3_errmsg(q->db));
		claim_failed(q, target, why);
		pthread_mutex_unlock(&q->lock);
		return -1;
	}
	st = stmt_get(q,
	    "SELECT user, op, path, arg FROM jobs WHERE target=?1 AND "
	    "state=?2");
	if (st == NULL) {
		fmt_fixed(why, sizeof(why), "%s", sqlite3_errmsg(q->db));
		goto out;
	}
	sqlite3_bind_text(st, 1, target, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, S(JOB_RUNNING), -1, SQLITE_STATIC);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (grow((void **)&run, &cap, nrun, sizeof(*run)) < 0) {
			fmt_fixed(why, sizeof(why), "out of memory");
			goto out;
		}
		run[nrun].op = sqlite3_column_int64(st, 1);
		if (copy_col(st, 0, run[nrun].user, sizeof(run[nrun].user)) <
		        0 ||
		    copy_col(st, 2, run[nrun].path, sizeof(run[nrun].path)) <
		        0 ||
		    copy_col(st, 3, run[nrun].arg, sizeof(run[nrun].arg)) < 0) {
			fmt_fixed(why, sizeof(why),
			    "a job in flight has a value too long");
			goto out;
		}
		nrun++;
	}
	if (step != SQLITE_DONE) {
		fmt_fixed(why, sizeof(why), "%s", sqlite3_errmsg(q->db));
		goto out;
	}
	stmt_put(q, st);
	st = NULL;
	/* Due jobs in the fair share's order (if any is due: jobs in
	 * backoff keep their early starts, and would be read one by one);
	 * if none is free, the first free one that waits gives the next due
	 * time. */
	rc = any_due(q, target, now);
	if (rc == 1)
		rc = first_free(q, target, now, 1, sparse_max, run, nrun, out,
		    &key, &cost, &passed);
	if (rc == 1)
		rc = claim_held(q, out, key, cost);
	else if (rc == 0 && sparse_max == 0) {
		switch (first_free(
		    q, target, now, 0, 0, run, nrun, out, &key, &cost, NULL)) {
		case 1:
			*next_due_ms = key;
			break;
		case 0:
			break;
		default:
			rc = -1;
		}
	}
out:
	/* The later steps (any_due, first_free, claim_held) fail on a
	 * statement: SQLite's message is theirs until the ROLLBACK. */
	if (rc < 0 && why[0] == '\0')
		fmt_fixed(why, sizeof(why), "%s", sqlite3_errmsg(q->db));
	stmt_put(q, st);
	if (rc < 0)
		claim_failed(q, target, why);
	rc = claim_end(q, target, rc);
	if (rc >= 0)
		claim_worked(q);
	free(run);
	pthread_mutex_unlock(&q->lock);
	if (held != NULL)
		*held = rc >= 0 && passed;
	return rc;
}

int
queue_claim(struct queue *q, const char *target, int64_t now, struct job *out,
    int64_t *next_due_ms, int *held)
{
	return claim(q, target, now, 0, out, next_due_ms, held);
}

int
queue_claim_sparse(struct queue *q, const char *target, int64_t now,
    uint64_t max_bytes, struct job *out, int *held)
{
	int64_t next_due;
	uint64_t cap = (uint64_t)INT64_MAX - JOB_COST_FIXED;

	return claim(q, target, now,
	    (int64_t)(max_bytes < cap ? max_bytes : cap) + JOB_COST_FIXED, out,
	    &next_due, held);
}

int
queue_release(struct queue *q, const struct job *j, uint64_t bytes)
{
	uint64_t cap = (uint64_t)INT64_MAX / 2;
	int rc = queue_exec(q,
	    "UPDATE jobs SET state=?2, vfinish=CASE WHEN ?4 < 0 THEN vfinish "
	    "ELSE max(vfinish, vstart + ?4) END WHERE id=?1 AND state=?3",
	    "itti", j->id, S(JOB_QUEUED), S(JOB_RUNNING),
	    bytes == UINT64_MAX ?
	        (int64_t)-1 :
	        (int64_t)(bytes < cap ? bytes : cap) + JOB_COST_FIXED);

	/* Not noted as unsettled on failure: the caller still holds the job
	 * (the lane pushes it itself, hand_back fails it through queue_fail,
	 * which notes it if that fails too). Queued again meanwhile, another
	 * worker would push it alongside, into the same temporary name. */
	return rc < 0 ? -1 : 0;
}

/* The place recorded for target into was: 1, 0 if none, -1 on error.
 * Called under q->lock. */
static int
target_place_was(struct queue *q, const char *target, char *was, size_t waslen)
{
	sqlite3_stmt *st = NULL;
	int rc = -1, step;

	if (sqlite3_prepare_v2(q->db,
	        "SELECT place FROM target_places WHERE name=?1", -1, &st,
	        NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, target, -1, SQLITE_TRANSIENT);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		/* A place cut short reads as another: said, never hidden. */
		(void)copy_col(st, 0, was, waslen);
		rc = 1;
	} else if (step == SQLITE_DONE) {
		rc = 0; /* first start that records it: nothing to compare */
	}
	sqlite3_finalize(st);
	return rc;
}

int
queue_target_place(
    struct queue *q, const char *target, char *was, size_t waslen)
{
	int rc;

	pthread_mutex_lock(&q->lock);
	rc = target_place_was(q, target, was, waslen);
	if (rc < 0)
		log_err("queue: place of target %s: %s", target,
		    sqlite3_errmsg(q->db));
	pthread_mutex_unlock(&q->lock);
	return rc;
}

int
queue_record_target_place(
    struct queue *q, const char *target, const char *place)
{
	sqlite3_stmt *st = NULL;
	char was[RFTP_PATH_MAX];
	int rc;

	pthread_mutex_lock(&q->lock);
	rc = target_place_was(q, target, was, sizeof(was));
	/* The same place: no write at each start. */
	if (rc == 1 && strcmp(was, place) == 0)
		rc = 0;
	else if (rc >= 0)
		rc = sqlite3_prepare_v2(q->db,
		         "INSERT OR REPLACE INTO target_places(name, place) "
		         "VALUES(?1, ?2)",
		         -1, &st, NULL) != SQLITE_OK ||
		        sqlite3_bind_text(
		            st, 1, target, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
		        sqlite3_bind_text(st, 2, place, -1, SQLITE_TRANSIENT) !=
		            SQLITE_OK ||
		        sqlite3_step(st) != SQLITE_DONE ?
		    -1 :
		    0;
	if (rc < 0)
		log_err("queue: place of target %s: %s", target,
		    sqlite3_errmsg(q->db));
	sqlite3_finalize(st);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

int
queue_set_running_targets(struct queue *q, const char *const *names,
    const char *const *fingerprints, size_t n)
{
	int ok;

	if (queue_begin(q) < 0)
		return -1;
	ok = queue_exec_held(q, "DELETE FROM running_targets", "") >= 0;
	for (size_t i = 0; ok && i < n; i++)
		ok = queue_exec_held(q,
		         "INSERT INTO running_targets(name, fingerprint) "
		         "VALUES(?1, ?2)",
		         "tt", names[i], fingerprints[i]) >= 0;
	return queue_end(q, ok) < 0 || !ok ? -1 : 0;
}

int
queue_running_target(
    struct queue *q, const char *target, char *fp, size_t fplen)
{
	sqlite3_stmt *st = NULL;
	int rc = -1, step;

	pthread_mutex_lock(&q->lock);
	/* Not prepared: a queue of an older version has no such table,
	 * which is an answer (-1), not an error to log. */
	if (sqlite3_prepare_v2(q->db,
	        "SELECT fingerprint FROM running_targets WHERE name=?1", -1,
	        &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, target, -1, SQLITE_TRANSIENT);
		step = sqlite3_step(st);
		if (step == SQLITE_ROW)
			rc = copy_col(st, 0, fp, fplen) < 0 ? -1 : 1;
		else if (step == SQLITE_DONE)
			rc = 0;
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

/* queue_status's query, its counts of state ?n by COUNTED or COUNTING. */
#define COUNTED(n) " coalesce((SELECT n FROM jc WHERE t=?1 AND s=?" #n "), 0),"
#define COUNTING(n) \
	" (SELECT count(*) FROM jobs WHERE target=?1 AND state=?" #n "),"
#define STATUS_SELECT(count)                                                  \
	"SELECT " count(2) count(3) count(                                    \
	    4) /* Not the intents: a change being made, not a job (found    \
	     * from outside: the age ticked while nothing waited). */ \
	    " (SELECT min(created_ms) FROM jobs WHERE target=?1"              \
	    "  AND state<>?5),"                                               \
	    " t.files, t.bytes, t.failing_since_ms, t.backoff_until_ms,"      \
	    " t.last_error, t.last_error_ms, t.last_ok_ms "                   \
	    "FROM (SELECT 1) LEFT JOIN targets t ON t.name=?1"

int
queue_status(struct queue *q, const char *target, struct target_status *out)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&q->lock);
	/* The counts kept by triggers (queue_counts_setup) where they are:
	 * counting read every job's index entry, 0.35 s of CPU a call at a
	 * million jobs. */
	if (sqlite3_prepare_v2(q->db,
	        q->counted ? STATUS_SELECT(COUNTED) : STATUS_SELECT(COUNTING),
	        -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, target, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, S(JOB_QUEUED), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, S(JOB_RUNNING), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, S(JOB_FAILED), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, S(JOB_INTENT), -1, SQLITE_STATIC);
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
	/* A message, not a name: a cut one is still worth showing. */
	(void)copy_col(st, 8, out->last_error, sizeof(out->last_error));
	out->last_error_ms = sqlite3_column_int64(st, 9);
	out->last_ok_ms = sqlite3_column_int64(st, 10);
	rc = 0;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

/* Copies a text column for display: cut at a UTF-8 character boundary
 * when it does not fit (never used as a name to act on). */
static void
show_col(sqlite3_stmt *st, int col, char *out, size_t outlen)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	size_t n = t != NULL ? (size_t)sqlite3_column_bytes(st, col) : 0;

	if (n >= outlen) {
		n = outlen - 1;
		while (n > 0 && (t[n] & 0xC0) == 0x80)
			n--;
	}
	if (n > 0)
		memcpy(out, t, n);
	out[n] = '\0';
}

/* ?1..?4 of both statements of list_page: the unfinished states and the
 * target (NULL: every target). */
static void
bind_unfinished(sqlite3_stmt *st, const char *target)
{
	sqlite3_bind_text(st, 1, S(JOB_QUEUED), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, S(JOB_RUNNING), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, S(JOB_FAILED), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, target, -1, SQLITE_TRANSIENT);
}

/* The statements of list_page: the count and the page, for every target
 * (?4 NULL) and for one. One target's are separate statements, whose
 * target=?4 SQLite can seek in an index: `?4 IS NULL OR target=?4` used
 * none, so /api/status?target=NAME read the jobs of every target (200,000
 * jobs over 20 targets: 87 MB of a 139 MB queue a call, a page near the
 * end of one target's jobs). The page of a target with few of the jobs
 * takes its ids from the index (target, state, ...) and reads those rows
 * only; one with many is read in id order (list_page_scan). Every
 * statement names ?4, so bind_unfinished binds each alike. */
static const char list_count_all[] =
    "SELECT count(*) FROM jobs WHERE state IN (?1, ?2, ?3) AND ?4 IS NULL";
static const char list_count_one[] =
    "SELECT count(*) FROM jobs WHERE state IN (?1, ?2, ?3) AND target=?4";
static const char list_counted_all[] =
    "SELECT coalesce(sum(n), 0) FROM jc WHERE s IN (?1, ?2, ?3) AND ?4 IS "
    "NULL";
static const char list_counted_one[] =
    "SELECT coalesce(sum(n), 0) FROM jc WHERE s IN (?1, ?2, ?3) AND t=?4";
#define LIST_COLS                                                        \
	"SELECT id, target, user, op, path, arg, created_ms, attempts, " \
	"state, last_error FROM jobs "
/* ?7 is the cursor (?after=: the last id the client saw, or -1): the
 * page starts at the first id past it, a seek in the table or an index
 * whatever the page's depth. OFFSET ?6 steps over every job before the
 * page: the last page of 400,000 jobs read all of them, under the
 * queue's lock, at each request. */
static const char list_page_all[] =
    LIST_COLS "WHERE id > ?7 AND state IN (?1, ?2, ?3) AND ?4 IS NULL ORDER "
              "BY id LIMIT ?5 OFFSET ?6";
static const char list_page_one[] = LIST_COLS
    "WHERE id IN (SELECT id FROM jobs WHERE id > ?7 AND state IN (?1, ?2, "
    "?3) AND target=?4 ORDER BY id LIMIT ?5 OFFSET ?6) ORDER BY id";
/* The same pages counted from the newest job: an offset in the queue's
 * second half (a script's "last page" is total - limit) steps over the
 * jobs after the page instead of the ones before it. */
static const char list_page_all_rev[] =
    LIST_COLS "WHERE id > ?7 AND state IN (?1, ?2, ?3) AND ?4 IS NULL ORDER "
              "BY id DESC LIMIT ?5 OFFSET ?6";
static const char list_page_one_rev[] = LIST_COLS
    "WHERE id IN (SELECT id FROM jobs WHERE id > ?7 AND state IN (?1, ?2, "
    "?3) AND target=?4 ORDER BY id DESC LIMIT ?5 OFFSET ?6) ORDER BY id "
    "DESC";
/* A target that holds a fair share of the unfinished jobs (LIST_DENSE):
 * its page in id order, the table read from the cursor (or the newest
 * end) with the target a filter, "+target" keeping SQLite off the indexes
 * that lead with it. The index plan took every unfinished job of the
 * target and sorted them by id before the first row (400,000 jobs over 4
 * targets: 8 to 14 ms of CPU a page under the lock the uploads' 226
 * waits for); this one reads about the page times all/target's jobs, no
 * sort. A rare target keeps the index plan: its sort is small. */
static const char list_page_scan[] =
    LIST_COLS "WHERE id > ?7 AND state IN (?1, ?2, ?3) AND +target=?4 "
              "ORDER BY id LIMIT ?5 OFFSET ?6";
static const char list_page_scan_rev[] =
    LIST_COLS "WHERE id > ?7 AND state IN (?1, ?2, ?3) AND +target=?4 "
              "ORDER BY id DESC LIMIT ?5 OFFSET ?6";
/* A target is dense when it holds at least 1/LIST_DENSE of the unfinished
 * jobs: the scan then reads at most LIST_DENSE rows a row shown (the rows
 * stepped over by an offset too), and a sparser target's sort holds at
 * most 1/LIST_DENSE of the queue. */
#define LIST_DENSE 32

/* Whether one target's page is read by list_page_scan: the target holds
 * total of the all unfinished jobs (the kept counts), and the page is the
 * lim jobs after skip of its own. The scan reads about (skip + lim) *
 * all / total rows, the index plan total entries and their sort, which
 * cost about the same (400,000 jobs over 4 targets, paths of 120 bytes:
 * 15 ms for either at an offset of 25,000): an offset deep into a dense
 * target, at most half of it (deeper pages are read from the newest end),
 * is read by the index when the scan would read more rows than the
 * target has. */
static int
list_dense(int64_t total, int64_t all, int64_t skip, int64_t lim)
{
	double rows;

	if (total <= 0 || total < all / LIST_DENSE + (all % LIST_DENSE != 0))
		return 0;
	rows = ((double)skip + (double)lim) * ((double)all / (double)total);
	return rows <= (double)total;
}

/* The page of queue_list_jobs; called with q->lock held, in its read
 * transaction. */
static int
list_page(struct queue *q, const char *target, int64_t offset, int64_t after,
    size_t limit, struct mirror_job_view *out, size_t *n, int64_t *total,
    int *more)
{
	sqlite3_stmt *st = NULL;
	const char *sql;
	int rc = -1, step, rev;
	int64_t lim, skip, all = -1;

	/* The kept counts where they are (queue_status): the count read
	 * every unfinished job's index entry at each /api/status. */
	if (sqlite3_prepare_v2(q->db,
	        q->counted ?
	            (target != NULL ? list_counted_one : list_counted_all) :
	            (target != NULL ? list_count_one : list_count_all),
	        -1, &st, NULL) != SQLITE_OK)
		goto out;
	bind_unfinished(st, target);
	if (sqlite3_step(st) != SQLITE_ROW)
		goto out;
	*total = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (limit == 0 || (after < 0 && offset >= *total))
		return 0;
	/* One target's share of the queue, where the counts are kept: which
	 * plan reads its page (list_dense). Without them the count would be
	 * a read of every unfinished job: the index plan, as before. */
	if (target != NULL && q->counted) {
		if (sqlite3_prepare_v2(
		        q->db, list_counted_all, -1, &st, NULL) != SQLITE_OK)
			goto out;
		bind_unfinished(st, NULL);
		if (sqlite3_step(st) != SQLITE_ROW)
			goto out;
		all = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		st = NULL;
	}
	/* One row more than the page: whether a next page exists, without
	 * counting what lies past the cursor. From the end (rev) the page
	 * is the limit jobs, or fewer, before the last total - offset - limit
	 * ones, and the count says whether more follow. */
	lim = limit >= (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit + 1;
	skip = after >= 0 ? 0 : offset;
	rev = after < 0 && offset > *total / 2;
	if (rev) {
		lim = *total - offset;
		if ((uint64_t)lim > limit)
			lim = (int64_t)limit;
		skip = *total - offset - lim;
	}
	if (target == NULL)
		sql = rev ? list_page_all_rev : list_page_all;
	else if (all >= 0 && list_dense(*total, all, skip, lim))
		sql = rev ? list_page_scan_rev : list_page_scan;
	else
		sql = rev ? list_page_one_rev : list_page_one;
	if (sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) != SQLITE_OK)
		goto out;
	bind_unfinished(st, target);
	sqlite3_bind_int64(st, 5, lim);
	sqlite3_bind_int64(st, 6, skip);
	sqlite3_bind_int64(st, 7, after >= 0 ? after : -1);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		struct mirror_job_view *v;
		const struct op_rule *r;
		const unsigned char *state;

		if (*n == limit) {
			*more = 1;
			break;
		}
		v = &out[(*n)++];
		r = jobrules_of(sqlite3_column_int64(st, 3));
		state = sqlite3_column_text(st, 8);
		memset(v, 0, sizeof(*v));
		v->id = sqlite3_column_int64(st, 0);
		show_col(st, 1, v->target, sizeof(v->target));
		show_col(st, 2, v->user, sizeof(v->user));
		v->op = r->name;
		show_col(st, 4, v->path, sizeof(v->path));
		/* Only a rename's second path is a path. */
		if (r->arg_is_path)
			show_col(st, 5, v->new_path, sizeof(v->new_path));
		v->created_ms = sqlite3_column_int64(st, 6);
		v->attempts = sqlite3_column_int64(st, 7);
		v->parked = state != NULL &&
		    strcmp((const char *)state, S(JOB_FAILED)) == 0;
		v->running = state != NULL &&
		    strcmp((const char *)state, S(JOB_RUNNING)) == 0;
		show_col(st, 9, v->last_error, sizeof(v->last_error));
	}
	q->list_sorts = sqlite3_stmt_status(st, SQLITE_STMTSTATUS_SORT, 0);
	q->list_steps = sqlite3_stmt_status(st, SQLITE_STMTSTATUS_VM_STEP, 0);
	if (rev) {
		/* Read newest first: oldest first, as every page is. */
		for (size_t i = 0; i < *n / 2; i++) {
			struct mirror_job_view t = out[i];

			out[i] = out[*n - 1 - i];
			out[*n - 1 - i] = t;
		}
		*more = offset + (int64_t)*n < *total;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

int
queue_list_jobs(struct queue *q, const char *target, int64_t offset,
    int64_t after, size_t limit, struct mirror_job_view *out, size_t *n,
    int64_t *total, int *more)
{
	int rc;

	*n = 0;
	*total = 0;
	*more = 0;
	if (offset < 0)
		offset = 0;
	pthread_mutex_lock(&q->lock);
	/* One snapshot (WAL): the count and the page agree, and a writer
	 * meanwhile is neither seen half nor kept waiting. */
	if (sqlite3_exec(q->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		log_err("queue: list: %s", sqlite3_errmsg(q->db));
		pthread_mutex_unlock(&q->lock);
		return -1;
	}
	rc = list_page(q, target, offset, after, limit, out, n, total, more);
	if (rc < 0) {
		log_err("queue: list: %s", sqlite3_errmsg(q->db));
		*n = 0;
		*more = 0;
	}
	sqlite3_exec(q->db, "COMMIT", NULL, NULL, NULL);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

void
queue_list_cost(struct queue *q, int64_t *sorts, int64_t *steps)
{
	pthread_mutex_lock(&q->lock);
	*sorts = q->list_sorts;
	*steps = q->list_steps;
	pthread_mutex_unlock(&q->lock);
}

/* queue_count with q->lock held. */
static int
count_held(struct queue *q, const char *sql, const char *a, const char *b,
    const char *c, int64_t d, int64_t e, int64_t f)
{
	sqlite3_stmt *st = stmt_get(q, sql);
	int rc = -1;

	if (st != NULL) {
		sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, b, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 3, c, -1, SQLITE_TRANSIENT);
		if (sqlite3_bind_parameter_count(st) >= 4)
			sqlite3_bind_int64(st, 4, d);
		if (sqlite3_bind_parameter_count(st) >= 5)
			sqlite3_bind_int64(st, 5, e);
		if (sqlite3_bind_parameter_count(st) >= 6)
			sqlite3_bind_int64(st, 6, f);
		if (sqlite3_step(st) == SQLITE_ROW)
			rc = sqlite3_column_int64(st, 0) > 0;
	}
	stmt_put(q, st);
	return rc;
}

int
queue_count(struct queue *q, const char *sql, const char *a, const char *b,
    const char *c, int64_t d, int64_t e, int64_t f)
{
	int rc;

	pthread_mutex_lock(&q->lock);
	rc = count_held(q, sql, a, b, c, d, e, f);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

int
queue_twin_dropped(struct queue *q, const char *target, const char *user,
    const char *path, uint64_t size, int64_t mtime_ns, char *twin, size_t len)
{
	sqlite3_stmt *st;
	int rc = -1, step;

	pthread_mutex_lock(&q->lock);
	st = stmt_get(q,
	    "SELECT twin FROM twins_dropped WHERE target=?1 AND user=?2 AND "
	    "path=?3 AND size=?4 AND mtime_ns=?5");
	if (st != NULL) {
		sqlite3_bind_text(st, 1, target, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, user, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 3, path, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 4, (int64_t)size);
		sqlite3_bind_int64(st, 5, mtime_ns);
		step = sqlite3_step(st);
		if (step == SQLITE_ROW) {
			const unsigned char *t = sqlite3_column_text(st, 0);
			int n =
			    snprintf(twin, len, "%s", t ? (const char *)t : "");

			rc = n >= 0 && (size_t)n < len ? 1 : -1;
		} else if (step == SQLITE_DONE)
			rc = 0;
		stmt_put(q, st);
	}
	pthread_mutex_unlock(&q->lock);
	return rc;
}

/* The op, path and arg of job id (each pathlen bytes; arg may be NULL)
 * under q->lock: 1, 0 if there is none, -1 on error. */
static int
job_row(struct queue *q, int64_t id, int64_t *op, char *path, char *arg,
    size_t pathlen)
{
	sqlite3_stmt *st =
	    stmt_get(q, "SELECT op, path, arg FROM jobs WHERE id=?1");
	int rc = -1, step;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		const unsigned char *p = sqlite3_column_text(st, 1);
		const unsigned char *a = sqlite3_column_text(st, 2);

		*op = sqlite3_column_int64(st, 0);
		rc = snprintf(path, pathlen, "%s", p ? (const char *)p : "") <
		            (int)pathlen &&
		        (arg == NULL ||
		            snprintf(arg, pathlen, "%s",
		                a ? (const char *)a : "") < (int)pathlen) ?
		    1 :
		    -1;
	} else if (step == SQLITE_DONE) {
		rc = 0;
	}
	stmt_put(q, st);
	return rc;
}

/*
 * The name path had before a rename from -> into moved it (into is path
 * or a folder above it) into out (RFTP_PATH_MAX bytes; may be path): 1,
 * 0 if that rename did not move path, -1 if the name would not fit.
 */
static int
name_before_rename(
    const char *path, const char *from, const char *into, char *out)
{
	struct job_walk w;
	size_t n = strlen(into);

	if (!jobrules_is_under(path, strlen(path), into, n))
		return 0;
	/* The walk of the rename backwards: into -> from. */
	if (jobrules_walk_start(&w, path) < 0 ||
	    jobrules_walk_step(&w, JOB_RENAME, into, n, from, strlen(from)) < 0)
		return -1;
	memcpy(out, w.cur, sizeof(w.cur));
	return 1;
}

/* Queued renames followed back by rename_delivers (a -> b -> c ...);
 * a longer chain has the name put again, never left to a guess. */
#define RENAME_HOPS 8

/*
 * Whether a rename job (id below) that moves source src onto a file now
 * as now is will give the target that file, under q->lock: its source
 * there is this version (pushed), or the target never had the source (the
 * rename becomes a put), or a put of the source comes first (it reads the
 * file where the rename took it, and a put in flight looks again when it
 * is done). A source an earlier queued rename brings (a -> b, then b -> c;
 * or its folder's) is what that rename moves there: the same asked of its
 * own source. A file renamed over the new name by another program since
 * is none of these: the rename would bring the target the old bytes. A
 * source never had counts only where the rename moves that file itself
 * (file_hop): a folder's rename moves the folder the target has, without
 * a file it never got. 1, 0, or -1 on error.
 */
static int
rename_delivers(struct queue *q, const char *target, const char *user,
    const char *source, int file_hop, int64_t below,
    const struct file_version *now)
{
	char src[RFTP_PATH_MAX], from[RFTP_PATH_MAX], into[RFTP_PATH_MAX];
	int64_t op;
	int rc, moved_file;

	if (snprintf(src, sizeof(src), "%s", source) >= (int)sizeof(src))
		return -1;
	for (int hop = 0; hop < RENAME_HOPS; hop++) {
		rc = count_held(q, queue_pushed_match_sql, target, user, src,
		    (int64_t)now->size, now->mtime_ns, (int64_t)now->ino);
		if (rc != 0)
			return rc;
		below =
		    related_max_id(q, target, user, JOB_PUT, src, NULL, below);
		if (below <= 0) {
			if (below < 0)
				return -1;
			break;
		}
		rc = job_row(q, below, &op, from, into, sizeof(from));
		if (rc <= 0)
			return rc;
		if (op == JOB_PUT && strcmp(from, src) == 0)
			return 1;
		if (op != JOB_RENAME)
			break;
		moved_file = strcmp(into, src) == 0;
		rc = name_before_rename(src, from, into, src);
		if (rc <= 0) {
			if (rc < 0)
				return -1;
			break;
		}
		file_hop = moved_file;
		if (hop == RENAME_HOPS - 1)
			return 0;
	}
	/* A file the target never had: its rename becomes a put of the new
	 * name, of the file as it is then (worker.c). A folder's rename
	 * succeeds without it (the CI's converge test lost a file so: the
	 * rescan that fills a folder a rename repair made took the queued
	 * rename of that folder for its files' delivery). */
	if (!file_hop)
		return 0;
	rc = count_held(q, queue_pushed_at_sql, target, user, src, 0, 0, 0);
	return rc < 0 ? -1 : rc == 0;
}

/* Which queued renames into a path has_job counts. */
enum renames_count {
	RENAMES_NONE, /* queue_has_put */
	RENAMES_OWN,  /* queue_has_folder: a rename of path itself */
	RENAMES_ANY,  /* queue_has_job: of path or of a folder above */
};

/* queue_has_job, queue_has_folder and queue_has_put. */
static int
has_job(struct queue *q, const char *target, const char *user, const char *path,
    enum renames_count renames, const struct file_version *now)
{
	int64_t latest, op;
	char first[RFTP_PATH_MAX], second[RFTP_PATH_MAX], src[RFTP_PATH_MAX];
	int rc;

	/* Only the latest related job counts: an older put of the path is
	 * not enough if a delete or a rename over it comes after. */
	pthread_mutex_lock(&q->lock);
	latest =
	    related_max_id(q, target, user, JOB_PUT, path, NULL, INT64_MAX);
	if (latest <= 0) {
		pthread_mutex_unlock(&q->lock);
		return latest < 0 ? -1 : 0;
	}
	rc = job_row(q, latest, &op, first, second, sizeof(first));
	if (rc > 0 && op == JOB_PUT)
		rc = strcmp(first, path) == 0;
	else if (rc > 0 && op == JOB_RENAME && renames == RENAMES_OWN)
		rc = strcmp(second, path) == 0;
	else if (rc > 0 && op == JOB_RENAME && renames == RENAMES_ANY) {
		/* A rename of path, or of a folder above it (the start-up
		 * walk after a folder's rename waited queued the push of
		 * every file in it again). */
		rc = name_before_rename(path, first, second, src);
		if (rc > 0 && now != NULL)
			rc = rename_delivers(q, target, user, src,
			         strcmp(second, path) == 0, latest, now) == 1;
	} else if (rc > 0)
		rc = 0;
	pthread_mutex_unlock(&q->lock);
	return rc;
}

int
queue_has_job(struct queue *q, const char *target, const char *user,
    const char *path, const struct file_version *now)
{
	return has_job(q, target, user, path, RENAMES_ANY, now);
}

int
queue_has_folder(
    struct queue *q, const char *target, const char *user, const char *path)
{
	return has_job(q, target, user, path, RENAMES_OWN, NULL);
}

int
queue_has_put(
    struct queue *q, const char *target, const char *user, const char *path)
{
	return has_job(q, target, user, path, RENAMES_NONE, NULL);
}

int
queue_takes_away(
    struct queue *q, const char *target, const char *user, const char *path)
{
	char from[RFTP_PATH_MAX], into[RFTP_PATH_MAX];
	size_t n = strlen(path);
	int64_t latest = 0, op = JOB_PUT;
	int rc;

	pthread_mutex_lock(&q->lock);
	/* Past the folders made above it (a folder renamed out of a home
	 * and back has its folders made again after their removal): a
	 * folder made brings no file back. One set of look-ups however many
	 * there are: stepping back over them one at a time, bounded at
	 * 1,024, answered "not taken away" past the bound. */
	rc = rel_path(q, target, user, path, 1, INT64_MAX, &latest);
	if (rc == 0)
		rc = latest <= 0 ?
		    0 :
		    job_row(q, latest, &op, from, into, sizeof(from));
	if (rc > 0)
		rc =
		    (op == JOB_DELETE || op == JOB_RMDIR || op == JOB_RENAME) &&
		    jobrules_is_under(path, n, from, strlen(from)) &&
		    !(op == JOB_RENAME &&
		        jobrules_is_under(path, n, into, strlen(into)));
	pthread_mutex_unlock(&q->lock);
	return rc < 0 ? -1 : rc;
}

/*
 * queue_away: the paths of the jobs that may take a path away, read once
 * for a walk (the start-up walk asked queue_takes_away for each file, six
 * look-ups or more: 38 us a file, 38 s for a million files on record
 * before the mirror caught up). queue_takes_away answers 1 only when the
 * newest related job is such a job and the path lies under (or is) its
 * path: a path none of whose ancestors-or-self is one of them answers 0
 * with no look-up. The others, and every path once the paths do not fit
 * or jobs of that kind were added since, are asked as before.
 */
#define AWAY_PATHS_MAX 65536
#define AWAY_BYTES_MAX (8u << 20)
/* Reads again after jobs were added; past this many, every path is
 * asked (a client deleting thousands of files while a home is walked). */
#define AWAY_RELOADS_MAX 16

struct queue_away {
	char target[RFTP_NAME_MAX + 1];
	char user[RFTP_USER_MAX + 1];
	uint64_t added; /* q->away_added[its user's bucket] when read */
	int all;        /* did not fit, or read too often: ask each path */
	int reloads;    /* reads after the first */
	char **paths;   /* sorted by bytes (strcmp), as SQLite's BINARY */
	size_t n;
	struct buf text; /* the paths' bytes, NUL-terminated */
};

static int
away_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads a's paths; a->all set when they do not fit. 0 or -1. */
static int
away_read(struct queue *q, struct queue_away *a)
{
	sqlite3_stmt *st = NULL;
	size_t *offs = NULL, n = 0, cap = 0;
	int rc = -1, step;

	free(a->paths);
	a->paths = NULL;
	a->n = 0;
	buf_reset(&a->text);
	pthread_mutex_lock(&q->lock);
	a->added = (uint64_t)atomic_load(&q->away_added[away_bucket(a->user)]);
	/* "op IN (1, 2, 4)": JOB_DELETE, JOB_RENAME, JOB_RMDIR, spelt as
	 * the partial index jobs_away is, so SQLite reads that index. */
	if (sqlite3_prepare_v2(q->db,
	        "SELECT DISTINCT path FROM jobs WHERE target=?1 AND user=?2 "
	        "AND op IN (1, 2, 4)",
	        -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, a->target, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, a->user, -1, SQLITE_STATIC);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);
		size_t len = (size_t)sqlite3_column_bytes(st, 0);

		if (t == NULL)
			continue;
		if (n == AWAY_PATHS_MAX || buf_add(&a->text, t, len) < 0 ||
		    buf_add(&a->text, "", 1) < 0) {
			a->all = 1;
			break;
		}
		if (n == cap) {
			size_t ncap = cap == 0 ? 64 : cap * 2;
			size_t *no = realloc(offs, ncap * sizeof(*no));

			if (no == NULL) {
				a->all = 1;
				break;
			}
			offs = no;
			cap = ncap;
		}
		offs[n++] = a->text.len - len - 1;
	}
	if (!a->all && step != SQLITE_DONE) {
		log_err("queue: jobs that take paths away for %s: %s",
		    a->target, sqlite3_errmsg(q->db));
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&q->lock);
	if (rc == 0 && !a->all && n > 0) {
		/* Pointers only now: the text may have moved as it grew. */
		a->paths = malloc(n * sizeof(*a->paths));
		if (a->paths == NULL)
			a->all = 1;
		else {
			for (size_t i = 0; i < n; i++)
				a->paths[i] = a->text.data + offs[i];
			qsort(a->paths, n, sizeof(*a->paths), away_cmp);
			a->n = n;
		}
	}
	free(offs);
	return rc;
}

struct queue_away *
queue_away_load(struct queue *q, const char *target, const char *user)
{
	struct queue_away *a;

	if (strlen(target) >= sizeof(a->target) ||
	    strlen(user) >= sizeof(a->user))
		return NULL;
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return NULL;
	memcpy(a->target, target, strlen(target) + 1);
	memcpy(a->user, user, strlen(user) + 1);
	buf_init(&a->text, AWAY_BYTES_MAX);
	if (away_read(q, a) < 0) {
		queue_away_free(a);
		return NULL;
	}
	return a;
}

int
queue_away_by_path(const struct queue_away *a)
{
	return a->all;
}

void
queue_away_free(struct queue_away *a)
{
	if (a == NULL)
		return;
	free(a->paths);
	buf_free(&a->text);
	free(a);
}

/* 1 if x[0..len) is one of a's paths. */
static int
away_has(const struct queue_away *a, const char *x, size_t len)
{
	size_t lo = 0, hi = a->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *p = a->paths[mid];
		int c = strncmp(p, x, len);

		if (c == 0)
			c = p[len] != '\0'; /* longer: after x */
		if (c == 0)
			return 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

int
queue_away_takes(struct queue *q, struct queue_away *a, const char *path)
{
	size_t n = strlen(path);

	if (!a->all &&
	    a->added !=
	        (uint64_t)atomic_load(&q->away_added[away_bucket(a->user)])) {
		if (a->reloads >= AWAY_RELOADS_MAX)
			a->all = 1;
		else {
			a->reloads++;
			if (away_read(q, a) < 0)
				a->all = 1;
		}
	}
	if (a->all)
		return queue_takes_away(q, a->target, a->user, path);
	/* path and each folder above it ("/" holds no job). */
	for (size_t len = n; len > 1; len = jobrules_parent_len(path, len))
		if (away_has(a, path, len))
			return queue_takes_away(q, a->target, a->user, path);
	return 0;
}

/* The text of the first ncols columns of every row of st, each followed
 * by a NUL, appended to out. How many rows, -1 (SQLite's error), or -2
 * when a row does not fit in out. With full not NULL, a
 * row that does not fit in out ends the read instead (*full set, out
 * holding the whole rows before it): the caller takes the rest later. */
static int
collect_rows(sqlite3_stmt *st, int ncols, struct buf *out, int *full)
{
	int n = 0, step;

	if (full != NULL)
		*full = 0;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		size_t row_start = out->len;

		for (int c = 0; c < ncols; c++) {
			const unsigned char *t = sqlite3_column_text(st, c);
			const char *v = t ? (const char *)t : "";

			if (buf_add(out, v, strlen(v) + 1) == 0)
				continue;
			if (full == NULL || n == 0)
				return -2;
			out->len = row_start;
			out->data[row_start] = '\0';
			*full = 1;
			return n;
		}
		n++;
	}
	return step == SQLITE_DONE ? n : -1;
}

int
queue_upload_ids(
    struct queue *q, const char *target, const char *key, struct buf *out)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	buf_reset(out);
	pthread_mutex_lock(&q->lock);
	if (sqlite3_prepare_v2(q->db,
	        "SELECT upload_id FROM uploads WHERE target=?1 AND key=?2 "
	        "ORDER BY created_ms",
	        -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, target, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, key, -1, SQLITE_TRANSIENT);
		rc = collect_rows(st, 1, out, NULL);
	}
	if (rc == -2)
		log_err("queue: uploads of %s: more ids than %zu bytes hold",
		    key, out->max);
	else if (rc < 0)
		log_err("queue: uploads of %s: %s", key, sqlite3_errmsg(q->db));
	rc = rc < 0 ? -1 : rc;
	sqlite3_finalize(st);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

int
queue_pushed_paths_below(struct queue *q, const char *target, const char *user,
    const char *path, struct buf *out)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	buf_reset(out);
	pthread_mutex_lock(&q->lock);
	/* The range of queue_move_pushed ('/' + 1 is '0'). */
	if (sqlite3_prepare_v2(q->db,
	        "SELECT path FROM pushed WHERE target=?1 AND user=?2 AND "
	        "path >= ?3 || '/' AND path < ?3 || '0'",
	        -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, target, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, user, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 3, path, -1, SQLITE_TRANSIENT);
		rc = collect_rows(st, 1, out, NULL);
	}
	if (rc == -2)
		log_err("queue: files pushed below %s: more than %zu bytes",
		    path, out->max);
	else if (rc < 0)
		log_err("queue: files pushed below %s: %s", path,
		    sqlite3_errmsg(q->db));
	rc = rc < 0 ? -1 : rc;
	sqlite3_finalize(st);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

/* queue_job_targets on any connection; -1 leaves the reason in db. */
static int
job_targets_of(sqlite3 *db, struct buf *out)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	buf_reset(out);
	/* From the counts where they are kept: counting the jobs read the
	 * whole of an index, 6.5 MB and most of `mirror status`'s time at
	 * 524,000 jobs. The same rows: jc counts every job in every state. */
	if (sqlite3_prepare_v2(db,
	        counts_ready(db) ?
	            "SELECT t, CAST(sum(n) AS TEXT) FROM jc GROUP BY t "
	            "HAVING sum(n)>0" :
	            "SELECT target, CAST(count(*) AS TEXT) FROM jobs "
	            "GROUP BY target",
	        -1, &st, NULL) == SQLITE_OK)
		rc = collect_rows(st, 2, out, NULL);
	sqlite3_finalize(st);
	return rc < 0 ? -1 : rc;
}

int
queue_job_targets(struct queue *q, struct buf *out)
{
	int rc;

	pthread_mutex_lock(&q->lock);
	rc = job_targets_of(q->db, out);
	if (rc < 0)
		log_err(
		    "queue: targets of the jobs: %s", sqlite3_errmsg(q->db));
	pthread_mutex_unlock(&q->lock);
	return rc;
}

int
queue_peek_job_targets(
    const char *path, struct buf *out, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	int rc = -1;

	/* Read-only: a server without targets writes no queue (no schema
	 * made or upgraded in a file a newer or older version owns);
	 * NOFOLLOW as conn_open. */
	if (sqlite3_open_v2(path, &db,
	        SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW,
	        NULL) == SQLITE_OK) {
		sqlite3_busy_timeout(db, 1000);
		rc = job_targets_of(db, out);
	}
	if (rc < 0)
		snprintf(err, errlen, "%s: %s", path,
		    db != NULL ? sqlite3_errmsg(db) : "cannot open");
	sqlite3_close(db);
	return rc;
}

int
queue_upload_list(struct queue *q, const char *target, const char *prefix,
    int64_t before_ms, struct buf *out, int *more)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	buf_reset(out);
	pthread_mutex_lock(&q->lock);
	/* substr, not LIKE: '_' and '%' in names are names. */
	if (sqlite3_prepare_v2(q->db,
	        "SELECT key, upload_id FROM uploads WHERE target=?1 AND "
	        "substr(key, 1, length(?2))=?2 AND created_ms<?3 "
	        "ORDER BY created_ms",
	        -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, target, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, prefix, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 3, before_ms);
		rc = collect_rows(st, 2, out, more);
	}
	if (rc == -2)
		log_err("queue: uploads of %s: a record longer than %zu bytes",
		    target, out->max);
	else if (rc < 0)
		log_err(
		    "queue: uploads of %s: %s", target, sqlite3_errmsg(q->db));
	rc = rc < 0 ? -1 : rc;
	sqlite3_finalize(st);
	pthread_mutex_unlock(&q->lock);
	return rc;
}
