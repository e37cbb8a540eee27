/*
 * mirror_int.h - what the files of the mirror share, private to them.
 *
 * Owns: the running mirror's state (struct mirror: the queue, one
 * target_state per target with its backoff, the per-user change locks, the
 * scanner's requests, the stop flag) and the calls between mirror.c
 * (start, stop, the upload sink), worker.c (the worker pool), catchup.c
 * (catch-up, rescans, intents, resync) and cli.c. Nothing outside
 * src/mirror/ includes it; the server sees only mirror.h and upload_sink.h.
 */
#ifndef RFTP_MIRROR_INT_H
#define RFTP_MIRROR_INT_H

#include "common/config.h"
#include "common/limits.h"
#include "common/mirror_view.h"
#include "common/stats.h"
#include "common/upload_sink.h"
#include "common/users.h"
#include "mirror/queue.h"
#include "mirror/transport.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

/* One target's shared state: its workers read and change it under lock. */
/* A home said missing (worker.c say_home_missing). */
#define HOMES_SAID_MAX 64
struct home_said {
	uint64_t key;     /* a hash of its path; 0 with said_ms 0: free */
	uint64_t said_ms; /* monotonic: its last line, 0 never */
	uint64_t unsaid;  /* its jobs failed since, not said */
};

struct target_state {
	const struct target_config *t;
	struct mirror *m;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int64_t backoff_until_ms;
	int64_t failing_since_ms;
	unsigned failures; /* consecutive */
	unsigned refusals; /* consecutive files it refused (push_refused) */
	struct home_said homes_said[HOMES_SAID_MAX]; /* under lock */
	/* The target's last error both ways it can be true at once
	 * (worker.c target_error): a home found missing (home_note) and
	 * the target's own failure (fail_error) met after it; both
	 * emptied by a push that works. Under lock. */
	char home_note[512];
	char fail_error[512];
	int told_no_times; /* "cannot set times" is logged once */
	/* Bumped (under lock) by every wake: a worker that found no job
	 * waits only if none came since it looked, so a job queued between
	 * its look and its wait is never left to the 2 s poll. */
	uint64_t wakes;
	/* A claim passed over a due job for a related one (queue_claim's
	 * held): the end of the next push wakes an idle worker to look
	 * again. Without it, that wake only claimed nothing: one claim
	 * (a transaction under the queue's lock) wasted at every push.
	 * Under lock. */
	int held_back;
	pthread_t *threads;
	size_t nthreads;
	/* The express lane (README "express_max_size"): one more worker
	 * that takes only small jobs of the sparse turn, so that a camera's
	 * picture never waits for a worker that pushes a large file. It
	 * waits on express_wake, woken by a new job only while no other
	 * worker waits (idle counts those, under lock): an idle worker
	 * takes a sparse job first anyway. A push that fails on it is handed
	 * back to the others, uncounted, and the lane rests until
	 * express_until_ms (a target that takes no more connections than
	 * workers_per_target must not be paused by the lane's extra one). */
	pthread_cond_t express_wake;
	int has_express;
	unsigned idle;
	size_t nworkers; /* the workers besides the lane */
	size_t pushing;  /* of them, sending a file now (the lane's cue:
	                  * worker.c push_progress) */
	/* Of the workers, those whose transport keeps a logged-in
	 * connection (worker.c note_login). */
	size_t logged_in;
	unsigned express_failures;
	int64_t express_until_ms;
	/* The lane holds a logged-in connection; asked to let it go at its
	 * next look, it says so on lane_gone (worker_lane_let_go). */
	int lane_holds;
	int lane_let_go;
	pthread_cond_t lane_gone;
	int stat; /* the target's index in m->stats, -1 none */
	/* The streams' leftovers there (stream.h) are to be removed: at
	 * start, and after a removal met the target down; not before
	 * sweep_at_ms (the last attempt failed). Under lock. */
	int sweep_due;
	int64_t sweep_at_ms;
	/* A copy cut mid-transfer was removed, and its record kept: a
	 * target that writes an upload when it sees the data connection
	 * end (after our removal) may hold it again. Swept then, whatever
	 * the pushes do meanwhile (0: none). Under lock. */
	int64_t resweep_at_ms;
	/* Stream copies sending to it now, under m->stream_lock. */
	uint64_t streaming;
	/* Logged-in transports of the copies that ended, for the next ones
	 * (stream.c spare_take): at most workers_per_target, each closed
	 * stream_keep_idle after its copy. Under m->stream_lock. */
	struct transport *spares[RFTP_WORKERS_PER_TARGET_MAX];
	uint64_t spare_ms[RFTP_WORKERS_PER_TARGET_MAX];
	unsigned nspares;
	/* What its pushes learnt of its names (transport_case_blind): 1 it
	 * ignores letter case, 0 it does not, -1 not known yet. */
	atomic_int case_blind;
	/* What its transports learnt of its server (transport.h), shared
	 * by its workers, its lane and its stream copies; NULL: each
	 * learns alone (no memory). Freed after them all. */
	struct transport_lore *lore;
};

/* Stripes of the per-user change lock (a user maps to one by a hash);
 * a change token holds the stripes it took as the bits of a uint64_t. */
#define USER_LOCKS 64
/* Slots of the change counters of names (mirror_name_gen). */
#define NAME_GENS 256
/* Users whose home the scanner should walk again; beyond, all of them. */
#define SCAN_REQUESTS 16

struct mirror {
	const struct config *cfg;
	struct userdb *users; /* the server's, shared (catchup.c) */
	/* Which users' homes hold a path of another's (sharers.h). */
	struct sharers *sharers;
	struct queue *q;
	/* The admin's reads and retries (view.c): a connection of their
	 * own, so a status page never waits behind a push; NULL if it
	 * could not be opened. */
	struct queue *vq;
	/* The queue file, flock()ed: one running mirror per queue (two
	 * would push the same jobs at once). The CLI's status and retry do
	 * not take it. */
	int lock_fd;
	/* The queue file itself, opened at the start with an OFD lock on its
	 * byte 0 (mirror.c lock_db); -1 if it could not be. Closed only after
	 * the queue: a close drops the process's POSIX locks on the file,
	 * SQLite's. */
	int db_fd;
	/* The queue file's device and inode while this mirror is in the
	 * process's list of served queues (mirror.c served); served_next
	 * links that list. */
	dev_t served_dev;
	ino_t served_ino;
	struct mirror *served_next;
	int served_on;
	/* mirror_check_queue said the queue file is not ours (1), or could
	 * not be written back (2); 0 while it is ours. The scanner's. */
	int queue_said;
	/* lock_fd holds the mark that its queue cannot be written
	 * (mirror_queue_failing); the scanner's. */
	int marked_failing;
	/* relock failed and said so: said once until it succeeds (the
	 * scanner tries again at each wake). */
	int relock_said;
	struct stats *stats; /* may be NULL */
	struct target_state *targets;
	unsigned ntargets;
	/* Set once by mirror_stop; every loop of the mirror reads it. */
	atomic_int stop;
	/* The wall clock's lead over the monotonic one at the last look
	 * (worker.c clock_check): a drop is the wall clock set back. Read
	 * freely; changed under clock_lock, so that one step is seen once. */
	_Atomic int64_t wall_lead_ms;
	pthread_mutex_t clock_lock;
	pthread_mutex_t user_locks[USER_LOCKS];
	/* Changes sessions made to names, counted by a hash of the user and
	 * the name in ASCII lower case (mirror_name_gen): bumped under the
	 * user's change lock. */
	atomic_uint name_gens[NAME_GENS];
	/* The scanner: start-up catch-up, then rescans on request. */
	pthread_t scanner;
	int scanning;
	pthread_mutex_t scan_lock;
	pthread_cond_t scan_wake;
	int scan_all;
	char scan_users[SCAN_REQUESTS][RFTP_USER_MAX + 1];
	size_t nscan;
	/* Intents whose settle failed wait in the queue (catchup.c). */
	int settle_pending;
	/* stream.c: uploads pushed while they arrive, under stream_lock. */
	pthread_mutex_t stream_lock;
	pthread_cond_t stream_cond;
	struct stream *streams;
	unsigned nstreams;
	unsigned stream_threads; /* copies running */
	uint64_t stream_serial;
	pthread_t streamer;
	int streamer_on;
	/* The starter sleeps its long sleep (no stream to size up): a new
	 * stream wakes it; otherwise it looks within START_POLL_MS. */
	int starter_napping;
};

/* Room for a remote path: "/" user path. */
#define RFTP_RPATH_MAX (RFTP_PATH_MAX + RFTP_USER_MAX + 2)

/* mirror.c */
int mirror_stopping(const struct mirror *m);
/* The change lock of user's stripe: a home is read under it. */
pthread_mutex_t *mirror_user_lock(struct mirror *m, const char *user);
unsigned mirror_user_stripe(const char *user);
/* A count that moves (under the user's change lock) whenever a session
 * changes user's path or a name equal to it but for ASCII letter case
 * (and, seldom, other names: a hash's slot); a read of the home made
 * without the lock compares it before and after (casetwin.c). */
unsigned mirror_name_gen(struct mirror *m, const char *user, const char *path);
/* Wakes the workers of every target (new jobs, or stop). */
void mirror_wake_all(struct mirror *m);

/* worker.c: starts the workers_per_target workers of target i (its
 * target_state is zeroed); joins them once stop is set and they are woken,
 * and frees what start made. */
/* A target's state, ready to be woken (mirror_start); its pushers
 * (mirror_run). */
void worker_pool_init(struct mirror *m, unsigned i);
/* Tells ts's workers of new work (lock held): all (a broadcast to every
 * worker, the express lane too), or one job: an idle worker, else the
 * express lane. */
void worker_wake_held(struct target_state *ts, int all);
/* Asks the express lane of ts to close its kept connection now, and
 * waits (a second at most) until it has: another of ours to the target
 * needs the place (ts->lock not held). */
void worker_lane_let_go(struct target_state *ts);
void worker_pool_start(struct mirror *m, unsigned i);
void worker_pool_join(struct target_state *ts);
/* What a name is in a job's home now (worker_home_name_state). */
enum name_state {
	NAME_GONE,
	NAME_FILE,
	NAME_FOLDER
};
/* What path is in j's home now (enum name_state); the caller holds the
 * user's change lock, as the pushes read the home. */
int worker_home_name_state(const struct job *j, const char *path);
/* 1 if path is a folder in j's home now, else 0 (takes the user's change
 * lock). */
int worker_home_has_folder(
    struct target_state *ts, const struct job *j, const char *path);
/* Moves what the queue records target holds at path and below to
 * new_path (NULL: forgets them: deleted there) after j changed them on
 * the target. 0, or -1: not recorded, j noted unsettled (queued again by
 * the next claim that can write) and said with what ("delete",
 * "rename"); the caller then ends j's push with 0 and neither forgets nor
 * fails j. */
int worker_move_pushed(struct target_state *ts, const struct job *j,
    const char *path, const char *new_path, const char *what);

/* view.c: a target's state as `mirror status` and the admin show it,
 * from its queue facts at now_ms (its name: mirror_target_state_name). */
enum mirror_target_state mirror_target_state_of(
    const struct target_status *st, int64_t now_ms);

/* catchup.c */
/* Asks the scanner to walk user's home again (coalesced). */
void catchup_request_rescan(struct mirror *m, const char *user);
/* A put of j found a folder at vpath (a folder renamed where renames do
 * not propagate becomes a put of its new name; a program put a folder
 * where the file was): that folder and every folder under it, the empty
 * ones too, are queued to be made on target t (a rescan finds only
 * files). Returns how many jobs, or -1 if the home cannot be opened. */
int catchup_queue_folders(struct mirror *m, const struct target_config *t,
    const struct job *j, const char *vpath);
/* The scanner thread (arg: the mirror). */
void *catchup_main(void *arg);
/* After a crash: settles the intents the queue still holds from the home. */
void catchup_settle_intents(struct mirror *m);
/* Asks the scanner to settle, from the home, the intents left by a settle
 * that failed (the queue could not be written), until it can. */
void catchup_request_settle(struct mirror *m);
/* The targets that want ev's file (st) but neither hold this version
 * (by_inode: from this inode too) nor have a job that will deliver it;
 * names gets their names, returns how many (at most the number of
 * targets). away: per target, what queue_away_load read for a walk of
 * ev's home, or NULL (each file asked on its own). */
size_t catchup_stale_targets(struct mirror *m, const struct upload_event *ev,
    const struct stat *st, int by_inode, struct queue_away **away,
    const char **names);
/* `mirror resync` for one user: compares u's home with what target t
 * lists, queues what is missing or of another size and prints each to out.
 * Adds the files compared to *checked, and those it found to queue but
 * could not (the queue's file took no writes: each said on err) to
 * *unqueued. Returns how many it queued, or -1 (the message on err). */
int catchup_resync_user(const struct target_config *t, struct transport *tp,
    struct queue *q, const struct user *u, int *checked, int *unqueued,
    FILE *out, FILE *err);

/* Whether the queue file is still there; one removed while the mirror
 * runs is written back from the open connection, its lock file made again
 * (the scanner calls it at each wake, catchup.c). */
void mirror_check_queue(struct mirror *m);

/* The path of queue's lock file ("QUEUE.lock", held by a running mirror):
 * 0, or -1 if it does not fit outlen. */
int mirror_lock_path(const char *queue, char *out, size_t outlen);
/* 1 if a running relayftpd holds the lock of the queue file at queue, 0
 * if none does, -1 if that cannot be told (asked of the lock file with
 * F_OFD_GETLK, and of /proc/locks for a daemon started before that mark;
 * never by taking the lock). */
int mirror_queue_held(const char *queue);
/* 1 if the running relayftpd holding it cannot write the queue at queue
 * (its last write failed: `mirror status` says so), 0 if not, -1 if that
 * cannot be told. The daemon marks it with an OFD read lock on one byte
 * of the lock file, which needs no write: a full or read-only file system
 * carries it, and it goes with the process. */
int mirror_queue_failing(const char *queue);
/* 1 if a running relayftpd holds the queue file at queue under another of
 * its names (a hard link: mirror.c lock_db), 0 if not, -1 if that cannot
 * be told. The WAL is a name's: through this one the queue reads stale,
 * and what is written here is laid over it later. Opens the queue file:
 * only where this process has no SQLite connection on it (the CLI). */
int mirror_queue_linked(const char *queue);
/* url without its user and password (view.c): scheme://host[:port][/path],
 * no query or fragment; cut to outlen (for display). */
void mirror_url_without_login(const char *url, char *out, size_t outlen);

#endif
