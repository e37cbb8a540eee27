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

#include "common/buf.h"
#include "common/limits.h"
#include "common/mirror_view.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

struct queue;

/* Stored as integers in the queue file: never renumber. What each op does
 * to the target's tree (which paths it touches, what it moves or removes)
 * is one row of op_rules[] in queue.c; ordering, merging and
 * queue_source_path read that table, and take JOB_RENAME (op=2 in the
 * queue file) for the one op with a second path, as the jobs_rename index
 * does (queue_schema.c). */
enum job_op {
	JOB_PUT,
	JOB_DELETE,
	JOB_RENAME, /* path -> arg */
	JOB_MKDIR,
	JOB_RMDIR,
	JOB_TIME, /* set path's modification time on the target */
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
	int tried; /* an attempt started before this one (retries and
	            * merges reset attempts, never this): the target may
	            * hold the job's temporary copy */
	int64_t created_ms;
	uint64_t flow; /* the fair share's flow that made it */
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
/* queue_open for a connection that reads facts (status) and makes the
 * admin's short writes (retry, which keeps what the upgrade would read):
 * it leaves the rows of older versions to the daemon's own connection,
 * whose start upgrades them. */
struct queue *queue_open_view(const char *path, char *err, size_t errlen);
void queue_close(struct queue *q);

/* What is at the path the queue was opened from (queue_file_state). */
enum {
	QUEUE_FILE_OURS,     /* the file this connection has open */
	QUEUE_FILE_REMOVED,  /* nothing: removed while it was open */
	QUEUE_FILE_REPLACED, /* another file */
};
/* One of the above, or -1 if it cannot be told (errno). */
int queue_file_state(struct queue *q);
/*
 * After the file was removed under the open connection (which still sees
 * all of it, WAL included): writes it back at its path, a consistent copy
 * synced before it takes the name (only if the name is still free), and
 * reopens the connection there. 0, or -1 with err filled (the connection
 * then stays as it was).
 */
int queue_write_back(struct queue *q, char *err, size_t errlen);
/*
 * After the file was replaced by another under the open connection: the
 * connection's WAL and shared-memory files, named after the path, are
 * removed from it (the connection keeps them open), or the new file's
 * next opener, a restart, would read this connection's pages over it. 0,
 * or -1 with err filled.
 */
int queue_let_go(struct queue *q, char *err, size_t errlen);
/* 1 while the queue's last write or last sync of its WAL failed (its disk
 * full, read-only or failing, the file removed), 0 once one succeeded
 * again (a sync for a failed sync). Any thread. */
int queue_write_failing(struct queue *q);
/* 1 while the last sync of the WAL failed (a part of
 * queue_write_failing), 0 once one succeeded again. Any thread. */
int queue_sync_failing(struct queue *q);
/* Whether the queue takes writes again after its last write failed: 0 at
 * once if that did not fail, else after a write of one page that changes
 * nothing, and its sync (the failure stays noted if either fails: -1). */
int queue_probe_write(struct queue *q);
/* Reopens the connection at the path (another connection wrote it back).
 * 0, or -1 with err filled (the connection stays as it was). */
int queue_reopen(struct queue *q, char *err, size_t errlen);
/* How long a statement waits for another connection's lock before it
 * fails (10 s from queue_open). */
void queue_set_busy_ms(struct queue *q, int ms);
/* At start: pushes that were in flight when the process died are queued
 * again (they are redone from the start). Returns how many. */
int queue_recover(struct queue *q);
/*
 * Ordering rules (README "Mirror: order of changes"):
 * - Two jobs are related when a path of one equals a path of the other or
 *   lies inside it ("/a" and "/a/b"; a rename has two paths).
 * - A job runs only when no older related job is left in any state
 *   (queued, running, parked, or an intent not yet settled): jobs that
 *   touch a subtree run in the order the home changed. Unrelated jobs
 *   commute and run in parallel.
 * - A parked job therefore holds back the later jobs of its paths until
 *   `mirror retry` (it never lets a newer job overtake it), except that a
 *   new put of the same path revives a parked put (see queue_add).
 *
 * Fair share (README "Mirror: fair share"): among the jobs free to run, a
 * target's workers do not take the oldest first but share themselves
 * between the flows that made them, in proportion to what each asked for:
 * a flow is one client, a user at an address, whatever its sessions (the
 * server's upload_event.flow; flow 0: every change seen from outside the
 * server, the catch-up and resync), and a job costs its bytes plus
 * JOB_COST_FIXED. This is start-time fair queueing (Goyal, Vin and Cheng,
 * SIGCOMM 1996) on a virtual clock per target, kept in the queue file: a
 * job starts at the later of the clock and the finish of its flow's
 * latest waiting job, finishes at its start plus its cost, and claims
 * take the earliest start, then the smallest tag (below), then the
 * oldest; the clock is the largest start claimed. A flow with no job
 * waiting (one in flight does not count) is sparse, as in FQ-CoDel (RFC
 * 8290, 4.1): its job starts just before the clock, ahead of the busy
 * flows' round. So a client that sends one file at a time (a camera) has
 * each pushed ahead of the busy flows' round, a burst of a thousand files
 * or a resync of a whole home takes turns with the other busy flows, one
 * job each, and a burst gains nothing by being sparse beyond its first
 * job. Sparse jobs do not
 * move the clock: while sparse clients alone keep every worker busy, the
 * busy flows wait (that is an overload by many clients at many
 * addresses; one client cannot cause it by opening sessions).
 *
 * The sparse jobs therefore share one start, and their order comes from
 * a second clock, the sparse turn's (targets.stime), as in weighted fair
 * queueing (Demers, Keshav and Shenker, SIGCOMM 1989): a sparse job is
 * tagged with the later of that clock and the tag of its flow's sparse
 * job in flight, plus its cost, and the first claim of each sparse job
 * moves that clock on by its cost divided by the sparse jobs of its turn
 * (itself included), as an equal split of the workers between them
 * would. A busy job's tag is its finish; a retry or a job redone after a
 * crash keeps its start and tag and moves no clock again. So when 32 clients
 * start at once, a camera's 4 KiB picture queued after their 32 first files
 * of 64 KiB goes before them (tag: 68 KiB plus a few of their costs over 32;
 * theirs: 128 KiB), where the oldest-first order of equal starts kept it
 * waiting for all 32; and a large file that a stream of small sparse files
 * keeps overtaking is claimed once the turn's clock has moved by its cost:
 * after about N times its size in other files when N flows compete,
 * about the share an equal split would give it.
 *
 * Only the order of unrelated jobs changes: the rules above still hold
 * for every pair of related jobs.
 */
/* A job's price in the fair share besides its bytes: what a push of an
 * empty file costs in round trips, as bytes at 1 Gbit/s and 0.5 ms. */
#define JOB_COST_FIXED (64 * 1024)

/* Who made a change and what it asks of the target, for the fair share. */
struct job_origin {
	uint64_t flow;  /* the FTP session's id; 0: not a session */
	uint64_t bytes; /* a put's size, else 0 */
};
/*
 * Records one job per target in one transaction; durable (fsynced) when it
 * returns 0. arg is the new path of a JOB_RENAME (else NULL). A put or a
 * time folds into the latest job related to its path only if merges[] in
 * queue.c says so and that job is of the same path and still waiting
 * (queued, or parked: then queued again with its attempts reset): the
 * newest bytes and time are read at push time anyway. Any later related
 * job (a rename into the path, a delete) keeps them apart. from: the fair
 * share's flow and cost (NULL: flow 0, no bytes).
 */
int queue_add(struct queue *q, const char *const *targets, size_t ntargets,
    enum job_op op, const char *user, const char *home, const char *path,
    const char *arg, const struct job_origin *from);
/*
 * queue_add without waiting for the disk: the rows are committed (seen by
 * the workers) but durable only once queue_sync(q, *ticket) returned 0.
 * Lets a session release its locks before it waits, and lets sessions
 * that commit meanwhile share one sync (group commit, see queue.c). from:
 * the fair share's flow and cost (NULL, as for queue_add: flow 0, no
 * bytes).
 */
int queue_add_unsynced(struct queue *q, const char *const *targets,
    size_t ntargets, enum job_op op, const char *user, const char *home,
    const char *path, const char *arg, const struct job_origin *from,
    uint64_t *ticket);
/*
 * A rename's new name queued as a put, for targets that do not take
 * renames: queue_add_unsynced(JOB_PUT, path), and in the same
 * transaction the waiting (queued or parked) put and time jobs of
 * old_path for those targets are dropped, if gone(ctx), asked inside the
 * transaction, says old_path is still not in the home. Their file is the
 * new name's now, and a push of the old name found it gone and had the
 * whole home walked again. Such a put already in flight is remembered
 * for its worker (queue_take_moved), and so is a waiting one that was
 * tried, which is kept: its copy may be on the target under a temporary
 * name, which its next attempt removes.
 */
int queue_add_moved_unsynced(struct queue *q, const char *const *targets,
    size_t ntargets, const char *user, const char *home, const char *path,
    const char *old_path, int (*gone)(const void *ctx), const void *ctx,
    const struct job_origin *from, uint64_t *ticket);
/*
 * Puts of many paths in one transaction, as queue_add_unsynced gives one
 * (merged the same way, not synced: queue_sync(q, *ticket)): for a walk
 * of a home, whose files no client waits for. All or none are recorded.
 * Holds the queue for the whole batch: keep n to a few hundred, so that a
 * session's change waits milliseconds behind it.
 */
struct queue_put {
	const char *const *targets;
	size_t ntargets;
	const char *user, *home, *path;
	struct job_origin from;
};
int queue_add_puts_unsynced(
    struct queue *q, const struct queue_put *puts, size_t n, uint64_t *ticket);
/* The ticket of the latest commit of this connection. */
uint64_t queue_ticket(struct queue *q);
/* Returns 0 once every commit up to ticket is on disk (power-loss safe),
 * -1 if the sync failed (logged; those commits may be lost). */
int queue_sync(struct queue *q, uint64_t ticket);
/*
 * Several changes in one transaction, all or none: the one change a
 * session made in a folder several users' homes hold, once per user
 * (mirror/sharers.h). intent: as queue_add_intent, each (synced on
 * return; *first and *last span the intent rows of them all); else as
 * queue_add_unsynced, or queue_add_moved_unsynced where old_path is set
 * (committed, durable once queue_sync(q, *ticket) returned 0).
 */
struct queue_change {
	const char *const *targets;
	size_t ntargets;
	enum job_op op;
	const char *user, *home, *path;
	const char *arg;      /* JOB_RENAME: the new path, else NULL */
	const char *old_path; /* a renamed file's put: its old name, or NULL */
	int (*gone)(const void *ctx); /* with old_path: as for _moved_ */
	const void *ctx;
	struct job_origin from;
};
int queue_add_changes(struct queue *q, const struct queue_change *c, size_t n,
    int intent, int64_t *first, int64_t *last, uint64_t *ticket);
/*
 * Write-ahead record of a change the server is about to make (delete,
 * rename, mkdir, rmdir): one job per target in state "intent", durable on
 * return, never claimed. *first and *last are its row ids. The caller makes
 * the change and then settles the rows: happened = 1 queues them, 0
 * deletes them. A crash in between leaves intents, which queue_intents
 * lists at the next start so the mirror can settle them from the home;
 * so does a settle that fails (the queue's disk full), once it can be
 * written. queue_settle returns the rows it settled (0: none was an
 * intent any more), or -1.
 */
int queue_add_intent(struct queue *q, const char *const *targets,
    size_t ntargets, enum job_op op, const char *user, const char *home,
    const char *path, const char *arg, const struct job_origin *from,
    int64_t *first, int64_t *last);
int queue_settle(struct queue *q, int64_t first, int64_t last, int happened);
/* Unsettled intents (after a crash): *out is a malloc'ed array the caller
 * frees, *n its length. 0 or -1. */
int queue_intents(struct queue *q, struct job **out, size_t *n);
/*
 * Where the bytes that job j must put at path (a path of j) are in the home
 * now: path carried through the renames queued after j (same target and
 * user). Returns 1 with out filled, 0 if a later job deletes or replaces
 * them (nothing to push: that job settles the target), -1 on error.
 */
int queue_source_path(struct queue *q, const struct job *j, const char *path,
    char *out, size_t outlen);
/* 1 if a and b are related paths (equal, or one inside the other). */
int queue_paths_related(const char *a, const char *b);
/*
 * Claims the due job of target first in the fair share (earliest start,
 * smallest tag, oldest) that has no older related job left and no related
 * job running (the ordering rules above), and moves the target's clock to
 * its start (a sparse job: the sparse turn's clock by its share).
 * Returns 1 with *out filled, 0 if none is due (then *next_due_ms is the
 * earliest due time of a waiting job, or -1), -1 on error. held (may be
 * NULL): set to 1 if a due job was passed over because of a related job,
 * which the end of a push may free; else 0.
 */
int queue_claim(struct queue *q, const char *target, int64_t now_ms,
    struct job *out, int64_t *next_due_ms, int *held);
/*
 * queue_claim for the express lane (README "express_max_size"): only a due
 * job of the sparse turn (its flow had nothing waiting when it was queued:
 * a camera's picture, not a burst's tenth file) that asks for at most
 * max_bytes and is not a rename (which may move a whole folder, or push
 * the file again), found by a walk of the jobs before the clock alone. 1 with
 * *out, 0 if none, -1 on error; held as for queue_claim.
 */
int queue_claim_sparse(struct queue *q, const char *target, int64_t now_ms,
    uint64_t max_bytes, struct job *out, int *held);
/* Job j, claimed, goes back to the queue as it was before the claim: due
 * as before, its attempts and its place in the fair share unchanged (the
 * express lane could not push it; another worker will). bytes: the
 * file's real size when its queued cost was less (a put made of a rename
 * carries none), charged now so that the lane never takes it again;
 * UINT64_MAX: the cost stays. 0 or -1. */
int queue_release(struct queue *q, const struct job *j, uint64_t bytes);
/* The push of job j is verified: in one transaction (one commit a push),
 * queue_record_pushed(j's target and user, path, size, mtime_ns, ino),
 * delete the job and count size bytes for its target. */
int queue_done_pushed(struct queue *q, const struct job *j, const char *path,
    uint64_t size, int64_t mtime_ns, uint64_t ino);
/*
 * What each target holds, as far as we pushed it: (size, mtime, inode) of
 * the file when its copy was verified. Start-up catch-up compares the
 * homes with its size and time, as rsync's quick check does (a home
 * restored or moved to another disk has new inodes, not new files); a
 * change seen while the daemon runs compares the inode too: a file
 * renamed over the pushed one with its size and time is another file.
 */
int queue_record_pushed(struct queue *q, const char *target, const char *user,
    const char *path, uint64_t size, int64_t mtime_ns, uint64_t ino);
/* target may hold some copy of path from now on (a push to a receiver
 * written in place begins): recorded, with no size a file has, unless a
 * record is there already. 0 or -1. */
int queue_record_maybe_held(
    struct queue *q, const char *target, const char *user, const char *path);
/*
 * A file a target that ignores letter case cannot take beside twin, the
 * home's name that holds the same name there (casetwin.h), as the file is
 * now (size, mtime_ns): recorded when its push is dropped, so that the
 * start-up walk does not send it again while twin still holds the name.
 * 0 or -1.
 */
int queue_record_twin_dropped(struct queue *q, const char *target,
    const char *user, const char *path, uint64_t size, int64_t mtime_ns,
    const char *twin);
/* Every drop for good recorded for target forgotten (its url now names
 * another place, whose case and names may differ). 0 or -1. */
int queue_forget_dropped(struct queue *q, const char *target);
/* 1 if path's push to target was dropped beside a twin at this version
 * (size, mtime_ns), whose home path goes to twin (len bytes); 0 if not,
 * -1 on error. */
int queue_twin_dropped(struct queue *q, const char *target, const char *user,
    const char *path, uint64_t size, int64_t mtime_ns, char *twin, size_t len);
/*
 * Multipart uploads in flight on a target (S3): recorded (synced) once
 * started, before any part is sent, and forgotten once completed or
 * aborted, so the attempt after a crash finds and aborts what the crashed
 * one left. 0, or -1 (logged).
 */
int queue_upload_add(struct queue *q, const char *target, const char *key,
    const char *upload_id);
int queue_upload_forget(struct queue *q, const char *target, const char *key,
    const char *upload_id);
/* The recorded upload ids of (target, key), each followed by a NUL, into
 * out (reset first). The number of ids, or -1 (logged). */
int queue_upload_ids(
    struct queue *q, const char *target, const char *key, struct buf *out);
/* The recorded uploads of target whose key starts with prefix (byte for
 * byte) and that were recorded before before_ms, oldest first, into out
 * (reset first): each key then its id, each followed by a NUL. How many,
 * or -1. *more is set when out's cap stopped the list short: the rest
 * follows the ones read (forget those to read on). */
int queue_upload_list(struct queue *q, const char *target, const char *prefix,
    int64_t before_ms, struct buf *out, int *more);
/* The targets that have jobs, each followed by a NUL and its count of
 * jobs (decimal) and a NUL, into out. How many targets, or -1. */
int queue_job_targets(struct queue *q, struct buf *out);
/* queue_job_targets of the queue file at path, opened read-only for this
 * call only (no schema made or changed). -1 with err set if it cannot be
 * read. */
int queue_peek_job_targets(
    const char *path, struct buf *out, char *err, size_t errlen);
/* 1 if target holds path at (size, mtime_ns) and, unless ino is 0, from
 * that inode; 0 if not, -1 on error. */
int queue_is_pushed(struct queue *q, const char *target, const char *user,
    const char *path, uint64_t size, int64_t mtime_ns, uint64_t ino);
/* 1 if target holds path with size bytes (whatever its time) and, unless
 * ino is 0, from that inode, 0 if not, -1 on error: a time alone can then
 * be set there. */
int queue_pushed_size(struct queue *q, const char *target, const char *user,
    const char *path, uint64_t size, uint64_t ino);
/* The files target holds below the folder path as far as we pushed them
 * (their home paths, each followed by a NUL) into out (reset first): how
 * many, or -1 (logged; also when they do not fit in out). */
int queue_pushed_paths_below(struct queue *q, const char *target,
    const char *user, const char *path, struct buf *out);
/* 1 if target holds a file pushed at path (whatever its size and time), 0
 * if not, -1 on error. */
int queue_pushed_at(
    struct queue *q, const char *target, const char *user, const char *path);
/* How many files other users than user pushed at path on target (a flat
 * target: users share one tree), 0 if none, -1 on error. */
int queue_pushed_by_others(
    struct queue *q, const char *target, const char *user, const char *path);
/* Forgets what target holds at path and below (deleted there), or moves
 * those records (renamed there; new_path NULL: forget). Paths match byte
 * for byte: "/Photos" never touches "/photos/x" nor "/Photos_old". */
int queue_move_pushed(struct queue *q, const char *target, const char *user,
    const char *path, const char *new_path);
/* 1 if target holds files pushed below folder path ("/d" -> "/d/..."), 0
 * if not, -1 on error. */
int queue_pushed_below(
    struct queue *q, const char *target, const char *user, const char *path);
/* A version of a file: what the pushed records keep of it. */
struct file_version {
	uint64_t size;
	int64_t mtime_ns;
	uint64_t ino; /* 0: any */
};
/* 1 if the latest job related to (target, user, path) will give the
 * target the file's bytes: a put of path (a put in flight checks the file
 * again when it is done), or a rename into path or into a folder above
 * it, if now is NULL, or if the target holds the rename's source as now
 * (or a put of the source comes first; earlier queued renames of the
 * source followed back). 0 if not, -1 on error. */
int queue_has_job(struct queue *q, const char *target, const char *user,
    const char *path, const struct file_version *now);
/* As queue_has_job, but a rename into path does not count: it moves the
 * copy the target has, not bytes written into path since. */
int queue_has_put(
    struct queue *q, const char *target, const char *user, const char *path);
/* As queue_has_job for a folder: only a rename of path itself counts. A
 * rename of a folder above moves what the target has there, which lacks
 * a folder lost on it (removed there by hand). */
int queue_has_folder(
    struct queue *q, const char *target, const char *user, const char *path);
/* 1 if the latest job related to (target, user, path), a folder made
 * above it passed over, removes path from the target or moves it away:
 * a delete or rmdir of path or of a folder above it, or a rename of one
 * of them to a name path is not under. 0 if not, -1 on error. */
int queue_takes_away(
    struct queue *q, const char *target, const char *user, const char *path);
/*
 * queue_takes_away for the many paths of one walk of user's home, for one
 * target: the paths of the jobs that may take a path away are read once
 * (bounded; past the bound each path is asked), and a path no such job
 * lies at or above is answered without a look-up. Jobs of that kind
 * added since are seen (read again). NULL on error (the caller asks
 * queue_takes_away); the caller frees it with queue_away_free.
 */
struct queue_away;
struct queue_away *queue_away_load(
    struct queue *q, const char *target, const char *user);
/* As queue_takes_away(q, a's target, a's user, path). */
int queue_away_takes(struct queue *q, struct queue_away *a, const char *path);
/* 1 once a's answers come from asking each path (its paths did not fit,
 * or jobs of its user that take paths away kept being added). */
int queue_away_by_path(const struct queue_away *a);
void queue_away_free(struct queue_away *a);
/* The job needs no push any more (its file is gone): delete it. */
int queue_forget(struct queue *q, const struct job *j);
/*
 * Job id, claimed, could not be settled (its outcome not written: the
 * queue's file took no writes). queue_forget, queue_fail and
 * queue_done_pushed say so themselves when they fail (queue_release does
 * not: its caller still holds the job and settles it); a caller that
 * lets go of a job after another write failed (push_time's record) says
 * so here. The next claim that can write queues it again, due now.
 */
void queue_note_unsettled(struct queue *q, int64_t id);
/*
 * 1 if the put id was in flight (or a put or time kept waiting for its
 * copy) when a rename that moved its file away queued the put of the new
 * name (queue_add_moved_unsynced), which then carries
 * its bytes; 0 if not known (then its file went away for another reason,
 * or the queue forgot: the caller looks at the home again). Asked once:
 * the answer is forgotten.
 */
int queue_take_moved(struct queue *q, int64_t id);
/* The push failed: count the attempt; due again at next_ms, or parked as
 * failed when park is set. */
int queue_fail(struct queue *q, const struct job *j, int64_t next_ms,
    const char *error, int park);
/* Queued jobs of target that failed before and are due before until_ms
 * wait until then: after a pause of the target, the jobs never tried go
 * first (worker.c push_refused). */
int queue_defer_retries(struct queue *q, const char *target, int64_t until_ms);
/* Queued puts and time jobs of target from home due before until_ms wait
 * until then: the home is not there, which each of them would find one by
 * one (worker.c push_unreadable); the others need no file of it. */
int queue_defer_home(
    struct queue *q, const char *target, const char *home, int64_t until_ms);
/* The target answers again after failing: its stored state says so (not
 * failing, no backoff, an ok now). queue_done_pushed does the same for a
 * file; this is for the other jobs (a folder, a delete, a rename). */
int queue_target_ok(struct queue *q, const char *target);
/* The place (where target pushes: target_place.c) recorded
 * when a server last ran, into was: 1, 0 if none was, -1 on error. */
int queue_target_place(
    struct queue *q, const char *target, char *was, size_t waslen);
/* Records place as target's, once a start got as far as pushing: a
 * start that failed before (its FTP port taken) recorded nothing, so the
 * next one still says the target moved. 0 or -1. */
int queue_record_target_place(
    struct queue *q, const char *target, const char *place);
/* At start, once the targets' workers run: the running targets, names[i]
 * started with the settings of fingerprints[i], replace those of the
 * last start. 0 or -1 (logged). */
int queue_set_running_targets(struct queue *q, const char *const *names,
    const char *const *fingerprints, size_t n);
/* The fingerprint the running server started target with, into fp: 1,
 * or 0 if it does not push to target, -1 if the queue cannot say (a
 * queue of a version that did not record it). */
int queue_running_target(
    struct queue *q, const char *target, char *fp, size_t fplen);
/* The admin's retry now: target's (NULL: every target's) queued jobs
 * waiting out a backoff or a delay are due at once, and its stored backoff
 * ends (status shows it). 0 or -1. */
int queue_end_backoff(struct queue *q, const char *target);
/* Due times (jobs' retries, targets' pauses) moved by by_ms and held to at
 * most latest_ms, for a wall clock that was set back (worker.c): by_ms <
 * 0 while running (failing spells' starts move too); at start, by_ms 0
 * and latest_ms now plus the longest delay a failure sets, for a step
 * while no server ran. The jobs moved, or -1. */
int queue_retime(struct queue *q, int64_t by_ms, int64_t latest_ms);
/* Target-wide state for status: failing since, backing off until. */
int queue_target_state(struct queue *q, const char *target,
    int64_t failing_since_ms, int64_t backoff_until_ms, const char *error);
/* Parked jobs of target (NULL: all targets) become queued again. */
int queue_requeue_failed(struct queue *q, const char *target);
int queue_status(
    struct queue *q, const char *target, struct target_status *out);
/*
 * A page of the unfinished jobs (queued, running, parked; intents are not
 * jobs yet) of target (NULL: every target), oldest first (by id): those
 * with an id above after when after >= 0 (a cursor: offset is then not
 * used), else skips offset of them; copies at most limit into out, sets
 * *n to how many, *more to 1 if more follow the page (else 0) and *total
 * to how many match in all, read in one snapshot. A text too long for its
 * field is cut (for display only). 0, or -1 on error.
 */
int queue_list_jobs(struct queue *q, const char *target, int64_t offset,
    int64_t after, size_t limit, struct mirror_job_view *out, size_t *n,
    int64_t *total, int *more);

#endif
