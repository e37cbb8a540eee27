/*
 * queue_schema.c - the tables of the queue file (see queue.h) and the
 * steps that bring a file made by an older version up to them, and the
 * indexed look-ups the ordering rules run. Data only: queue.c runs it.
 */
#include "mirror/queue_db.h"

#include <stddef.h>

const char queue_schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    /* A big transaction (a retry of many parked jobs, a clock step that
     * moves every retry, an upgrade's migration) grew the WAL to its size,
     * and SQLite keeps a WAL file at its largest while any connection is
     * open: 200,000 parked jobs retried left 32 MB for the daemon's life.
     * Cut back to 8 MB once a checkpoint has emptied it; the WAL of a
     * normal load (1,000 pages, about 4 MB: SQLite's auto-checkpoint)
     * stays below, so it costs no truncation there. */
    "PRAGMA journal_size_limit=8388608;"
    "CREATE TABLE IF NOT EXISTS jobs ("
    /* AUTOINCREMENT: an id is never reused, so a stale reference to a
     * finished job can never name a newer one. */
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " target TEXT NOT NULL, user TEXT NOT NULL, home TEXT NOT NULL,"
    " path TEXT NOT NULL,"
    " op INTEGER NOT NULL DEFAULT 0," /* enum job_op */
    " recovered INTEGER NOT NULL DEFAULT 0,"
    /* Set by every claim and never reset (retry and merges reset
     * attempts): an attempt has started, so the target may hold the
     * job's temporary copy, which a job left with nothing to push must
     * remove. */
    " tried INTEGER NOT NULL DEFAULT 0,"
    " arg TEXT NOT NULL DEFAULT '',"
    /* enum job_state by name; every INSERT sets it (the default only
     * serves rows of versions that did not). */
    " state TEXT NOT NULL DEFAULT 'queued',"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " next_ms INTEGER NOT NULL DEFAULT 0,"
    " created_ms INTEGER NOT NULL,"
    " last_error TEXT NOT NULL DEFAULT '',"
    /* The fair share (queue.h): who made the change (the FTP session's
     * id, 0 for changes seen from outside the server), and the job's
     * virtual start and finish on its target's clock. */
    " flow INTEGER NOT NULL DEFAULT 0,"
    " vstart INTEGER NOT NULL DEFAULT 0,"
    " vfinish INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS jobs_due ON jobs(target, state, next_ms);"
    "CREATE INDEX IF NOT EXISTS jobs_path ON jobs(target, user, path);"
    "CREATE TABLE IF NOT EXISTS targets ("
    " name TEXT PRIMARY KEY,"
    " files INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0,"
    " failing_since_ms INTEGER NOT NULL DEFAULT 0,"
    " backoff_until_ms INTEGER NOT NULL DEFAULT 0,"
    " last_error TEXT NOT NULL DEFAULT '',"
    /* When last_error happened and when a push last succeeded, so
     * `mirror status` can say whether the error is past. */
    " last_error_ms INTEGER NOT NULL DEFAULT 0,"
    " last_ok_ms INTEGER NOT NULL DEFAULT 0,"
    /* The virtual time of the target: the start of the latest job
     * claimed (queue_claim). */
    " vclock INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS pushed ("
    " target TEXT NOT NULL, user TEXT NOT NULL, path TEXT NOT NULL,"
    " size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
    /* The file's inode (0: a row of a version that did not record it,
     * which matches any). */
    " ino INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(target, user, path));"
    /* Multipart uploads an s3 target has started and not yet completed
     * or aborted (transport_s3.c through transport_memo): after a crash
     * the next attempt aborts them, so no parts are left billing the
     * bucket's owner. Created where missing, so older files get it. */
    "CREATE TABLE IF NOT EXISTS uploads ("
    " target TEXT NOT NULL, key TEXT NOT NULL, upload_id TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " PRIMARY KEY(target, key, upload_id));"
    /* Where each target pushed when a server last ran (its URL without
     * the login, layout, s3 endpoint): the pushed records above hold for
     * that place only, so a start that finds another says so
     * (queue_target_place). Created where missing, so older files get
     * it; older versions never read it. */
    "CREATE TABLE IF NOT EXISTS target_places ("
    " name TEXT PRIMARY KEY, place TEXT NOT NULL);"
    /* A file of a home a target that ignores letter case could not take
     * beside twin, its name's holder there (casetwin.h), at this version:
     * the start-up walk queued it again at every start, and its bytes
     * went to the target each time only to learn the case again
     * (queue_twin_dropped). Created where missing; older versions never
     * read it. */
    /* The targets the running server pushes to, and the fingerprint of
     * the settings it started them with (common/target_diff.h): written
     * at each start, read by `mirror status`, which reads the config as
     * it is now (a target added or changed since is not pushed, or not
     * with its new settings, until a restart). Created where missing;
     * older versions never read it. */
    "CREATE TABLE IF NOT EXISTS running_targets ("
    " name TEXT PRIMARY KEY, fingerprint TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS twins_dropped ("
    " target TEXT NOT NULL, user TEXT NOT NULL, path TEXT NOT NULL,"
    " size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
    " twin TEXT NOT NULL,"
    " PRIMARY KEY(target, user, path));";

const char *const queue_migrations[] = {
	"ALTER TABLE jobs ADD COLUMN op INTEGER NOT NULL DEFAULT 0",
	"ALTER TABLE jobs ADD COLUMN arg TEXT NOT NULL DEFAULT ''",
	"ALTER TABLE jobs ADD COLUMN recovered INTEGER NOT NULL DEFAULT 0",
	"ALTER TABLE targets ADD COLUMN last_error_ms INTEGER NOT NULL "
	"DEFAULT 0",
	"ALTER TABLE targets ADD COLUMN last_ok_ms INTEGER NOT NULL DEFAULT 0",
	"ALTER TABLE jobs ADD COLUMN tried INTEGER NOT NULL DEFAULT 0",
	/* The fair share. Rows of older versions are one flow (0) that starts
	 * at 0 (the clock's start): a busy flow that the first session's
	 * sparse job overtakes by one job, as any other would. The indexes
	 * are here, after their columns exist, for new and old files alike. */
	"ALTER TABLE jobs ADD COLUMN flow INTEGER NOT NULL DEFAULT 0",
	"ALTER TABLE jobs ADD COLUMN vstart INTEGER NOT NULL DEFAULT 0",
	"ALTER TABLE jobs ADD COLUMN vfinish INTEGER NOT NULL DEFAULT 0",
	"ALTER TABLE targets ADD COLUMN vclock INTEGER NOT NULL DEFAULT 0",
	/* The sparse turn's tie tag and clock, and whether a job was queued
	 * in that turn (queue.h). Rows of older versions: tag 0 and not
	 * sparse, so among themselves oldest first, as they were, and
	 * never charged to the turn. */
	"ALTER TABLE jobs ADD COLUMN vtag INTEGER NOT NULL DEFAULT 0",
	"ALTER TABLE jobs ADD COLUMN sparse INTEGER NOT NULL DEFAULT 0",
	"ALTER TABLE targets ADD COLUMN stime INTEGER NOT NULL DEFAULT 0",
	/* The claims' order: start, tag, id. jobs_fair (start, id) served
	 * the order before tags broke ties; jobs_turn (start, finish, id)
	 * was never released. */
	"DROP INDEX IF EXISTS jobs_fair",
	"DROP INDEX IF EXISTS jobs_turn",
	"CREATE INDEX IF NOT EXISTS jobs_share ON jobs(target, state, vstart, "
	"vtag, id)",
	"DROP INDEX IF EXISTS jobs_flow",
	"CREATE INDEX IF NOT EXISTS jobs_flowstate ON jobs(target, flow, "
	"state, vfinish)",
	/* The renames' new names (REL_ARG_*, "op=2"). jobs_arg held every
	 * job's arg, '' but for renames, so each put and each delete wrote
	 * one index page more than the look-ups need. */
	"CREATE INDEX IF NOT EXISTS jobs_rename ON jobs(target, user, arg) "
	"WHERE op=2",
	"DROP INDEX IF EXISTS jobs_arg",
	/* The age of a target's oldest job (queue_status): without it a
	 * scan of every job of the target, at each `mirror status`,
	 * /api/status, /metrics and start, 9 s at 2.7 million jobs. */
	"CREATE INDEX IF NOT EXISTS jobs_age ON jobs(target, created_ms)",
	"ALTER TABLE pushed ADD COLUMN ino INTEGER NOT NULL DEFAULT 0",
	/* The rows queue_row_upgrade mends, and those only: its UPDATE read
	 * every job at each start (18 MB of a 28 MB queue of 40,000 jobs)
	 * before the FTP listener opened. SQLite keeps a partial index for
	 * any writer, so rows an older version writes after this one ran
	 * (a downgrade and back) are in it too, which a version number in
	 * the header would miss. Rows of this version never match: a claim
	 * sets tried with the first attempt. */
	"CREATE INDEX IF NOT EXISTS jobs_untried ON jobs(tried) WHERE "
	"tried=0 AND (attempts>0 OR recovered=1)",
	/* The jobs that may take a path away (deletes, renames, rmdirs:
	 * queue_away_load), read once a walk of a home; a look-up of a few
	 * rows, not a read of every job of the user. Only those jobs write
	 * to it. */
	"CREATE INDEX IF NOT EXISTS jobs_away ON jobs(target, user, path) "
	"WHERE op IN (1, 2, 4)",
	NULL,
};

/*
 * The number of jobs of each target in each state, kept by triggers in the
 * transaction that changes the jobs, so it is exact after any crash (and
 * kept by any program that writes the file, older versions too): `mirror
 * status`, /api/status and /metrics counted the jobs each time, reading
 * the index entries of every job (0.35 s of CPU at a million jobs, at
 * every poll of a monitoring script). Set up once, under the write lock
 * (BEGIN IMMEDIATE: no job changes between the count and the triggers),
 * by the first open of a version that has them. Terse SQL: the schema's
 * text must stay within the file's first page (test_queue_damage damages
 * every page after it and expects the queue still to open). The conflict
 * target is named: SQLite before 3.35 (Debian 11) cannot read an upsert
 * without one, and would not open the file. No statement may write jobs
 * with REPLACE: the row it deletes fires no delete trigger (unless
 * recursive_triggers is on) and the counts would drift.
 */
const char queue_counts_setup[] =
    "BEGIN IMMEDIATE;"
    "CREATE TABLE IF NOT EXISTS jc(t TEXT,s TEXT,n INT,PRIMARY KEY(t,s))"
    "WITHOUT ROWID;"
    "DELETE FROM jc;"
    "INSERT INTO jc SELECT target,state,count(*) FROM jobs GROUP BY 1,2;"
    "CREATE TRIGGER IF NOT EXISTS jc_i AFTER INSERT ON jobs BEGIN "
    "INSERT INTO jc VALUES(new.target,new.state,1)ON CONFLICT(t,s)DO UPDATE "
    "SET n=n+1;END;"
    "CREATE TRIGGER IF NOT EXISTS jc_d AFTER DELETE ON jobs BEGIN "
    "UPDATE jc SET n=n-1 WHERE t=old.target AND s=old.state;END;"
    "CREATE TRIGGER IF NOT EXISTS jc_u AFTER UPDATE OF target,state ON jobs "
    "BEGIN UPDATE jc SET n=n-1 WHERE t=old.target AND s=old.state;"
    "INSERT INTO jc VALUES(new.target,new.state,1)ON CONFLICT(t,s)DO UPDATE "
    "SET n=n+1;END;"
    "COMMIT;";
/* The last of queue_counts_setup's triggers: set up when it is there. */
const char queue_counts_ready[] =
    "SELECT 1 FROM sqlite_master WHERE type='trigger' AND name='jc_u'";

/* Rows of versions without `tried` (or written by one run on this file
 * since): what they knew of it. A look-up in jobs_untried (its WHERE is
 * this one's, so SQLite reads the index: nothing in it is the common
 * case), run under the write lock by the opens that may act on it, never
 * by one that only reads (queue_open_view). */
const char queue_row_upgrade[] =
    "UPDATE jobs SET tried=1 WHERE tried=0 AND (attempts>0 OR recovered=1)";

/* "op=2": JOB_RENAME is the one op whose arg is a path (jobrules.c). */
const char *const queue_related_sql[REL_NSTMT] = {
	[REL_PATH_EQ] = "SELECT max(id) FROM jobs WHERE target=?1 AND "
	                "user=?2 AND path=?3 AND id<?4",
	[REL_ARG_EQ] = "SELECT max(id) FROM jobs WHERE target=?1 AND "
	               "user=?2 AND arg=?3 AND op=2 AND id<?4",
	[REL_PATH_BELOW] = "SELECT max(id) FROM jobs WHERE target=?1 AND "
	                   "user=?2 AND path>?3 AND path<?5 AND id<?4",
	[REL_ARG_BELOW] = "SELECT max(id) FROM jobs WHERE target=?1 AND "
	                  "user=?2 AND arg>?3 AND arg<?5 AND op=2 AND "
	                  "id<?4",
	/* "op<>3": JOB_MKDIR. One look-up whatever the number of folder
	 * jobs: queue_takes_away stepped back over them one look-up each,
	 * at most 1,024, then answered "not taken away" (a file resync
	 * then left to a parked delete, which took it off the target). */
	[REL_PATH_EQ_NOMK] = "SELECT max(id) FROM jobs WHERE target=?1 AND "
	                     "user=?2 AND path=?3 AND id<?4 AND op<>3",
	[REL_ARG_EQ_NOMK] = "SELECT max(id) FROM jobs WHERE target=?1 AND "
	                    "user=?2 AND arg=?3 AND op=2 AND id<?4",
	[REL_PATH_BELOW_NOMK] = "SELECT max(id) FROM jobs WHERE target=?1 AND "
	                        "user=?2 AND path>?3 AND path<?5 AND id<?4 "
	                        "AND op<>3",
	[REL_ARG_BELOW_NOMK] = "SELECT max(id) FROM jobs WHERE target=?1 AND "
	                       "user=?2 AND arg>?3 AND arg<?5 AND op=2 AND "
	                       "id<?4",
};
