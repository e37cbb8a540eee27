/*
 * catchup.c - finding what the targets lack: catch-up, rescans, intents,
 * resync.
 *
 * Owns: the scanner thread (the start-up catch-up of files that changed
 * while the daemon was down, then a walk of a user's home whenever a push
 * found its file missing for no queued reason), settling the intents a
 * crash left between a change's record and the change, and the diff of a
 * target's listing against a home that `mirror resync` queues. Must not
 * push anything itself (worker.c does) nor decide routing (route.c):
 * it compares and queues.
 */
#include "common/clock.h"
#include "common/fsgate.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/syserr.h"
#include "common/users.h"
#include "mirror/mirror_int.h"
#include "mirror/route.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>

/*
 * 1 if the file at path of user's home, at this version (size, mtime_ns),
 * was dropped for target at its last push (queue_twin_dropped) for a
 * reason that still holds: a name the target cannot take (pure-ftpd's
 * trailing blank, a character Windows refuses: no twin on record), or a
 * twin that still holds its name there (a target that ignores letter
 * case). A push would only send its bytes to learn that again. Its twin
 * gone from the home (deleted or moved by another program while the
 * daemon was down) or no longer on record there, 0: it may hold the
 * name now, and is queued. Twins the server deletes or renames push it
 * again themselves (casetwin.c); a file changed since is another
 * version.
 */
static int
dropped_before(struct queue *q, const char *target, const char *user,
    const char *home, const char *path, uint64_t size, int64_t mtime_ns)
{
	char twin[RFTP_PATH_MAX];
	const char *leaf;
	struct stat st;
	int root, dir, there = 0;

	if (queue_twin_dropped(
	        q, target, user, path, size, mtime_ns, twin, sizeof(twin)) != 1)
		return 0;
	if (twin[0] == '\0')
		return 1;
	root = fs_open_root(home, 0);
	if (root < 0)
		return 0;
	/* As case_twin: only a file or a folder holds a name (no link is
	 * followed or pushed). */
	dir = fs_open_parent(root, twin, &leaf);
	if (dir >= 0) {
		there = fs_leaf_stat(dir, leaf, &st) == 0 &&
		    (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode));
		close(dir);
	}
	close(root);
	return there &&
	    (queue_pushed_at(q, target, user, twin) == 1 ||
	        queue_pushed_below(q, target, user, twin) == 1);
}

/*
 * The targets that want ev's file but do not hold this version (size and
 * modification time as recorded at its last verified push; with
 * by_inode, from the same inode: queue_record_pushed; or hold it with a
 * delete or rename away still queued: queue_takes_away) and have no job
 * that will deliver it (queue_has_job): what a watcher event or a scan
 * must still queue. A file another program wrote
 * (ev->only_if_changed == 2) needs a put: a rename into its name, still
 * queued for a target, moves the copy the target has, which lacks what
 * was written since.
 */
size_t
catchup_stale_targets(struct mirror *m, const struct upload_event *ev,
    const struct stat *st, int by_inode, struct queue_away **away,
    const char **names)
{
	struct file_version now = {
		(uint64_t)st->st_size,
		(int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec,
		by_inode ? (uint64_t)st->st_ino : 0,
	};
	size_t n = 0;

	for (unsigned i = 0; i < m->ntargets; i++) {
		const struct target_config *t = m->targets[i].t;
		int pushed;

		if (!route_target_takes(t, ev->mirror, ev->path))
			continue;
		/* On record there, and no delete or rename away still
		 * queued: a folder renamed out of a home that shares it and
		 * back while the target was down has its files' deletes
		 * queued, which the record does not show until they run
		 * (the walk its return asked for queued nothing, and the
		 * deletes then took the files off for good). */
		pushed = queue_is_pushed(m->q, t->name, ev->user, ev->path,
		    now.size, now.mtime_ns, now.ino);
		if ((pushed != 0 &&
		        (pushed < 0 ||
		            (away != NULL && away[i] != NULL ?
		                    queue_away_takes(m->q, away[i], ev->path) :
		                    queue_takes_away(m->q, t->name, ev->user,
		                        ev->path)) != 1)) ||
		    (ev->only_if_changed == 2 ?
		            queue_has_put(m->q, t->name, ev->user, ev->path) :
		            queue_has_job(m->q, t->name, ev->user, ev->path,
		                &now)) != 0 ||
		    dropped_before(m->q, t->name, ev->user, ev->home, ev->path,
		        now.size, now.mtime_ns))
			continue;
		names[n++] = t->name;
	}
	return n;
}

/* Adds user to the names in names[0..*n) (at most SCAN_REQUESTS), once;
 * a name that does not fit sets *all instead. */
static void
add_name(
    char (*names)[RFTP_USER_MAX + 1], size_t *n, int *all, const char *user)
{
	size_t i, len = strlen(user);

	for (i = 0; i < *n; i++)
		if (strcmp(names[i], user) == 0)
			return;
	/* A name that does not fit (users.c refuses one) is never cut
	 * short into another user's: every home is walked instead. */
	if (*n < SCAN_REQUESTS && len <= RFTP_USER_MAX)
		memcpy(names[(*n)++], user, len + 1);
	else
		*all = 1;
}

void
catchup_request_rescan(struct mirror *m, const char *user)
{
	pthread_mutex_lock(&m->scan_lock);
	add_name(m->scan_users, &m->nscan, &m->scan_all, user);
	pthread_cond_signal(&m->scan_wake);
	pthread_mutex_unlock(&m->scan_lock);
}

/* Homes whose walk could not record its pushes (the queue's disk full):
 * walked again at the scanner's retry time, while other requests go on at
 * once (a delay for all held back every user's rescans; found by a
 * review). */
struct deferred {
	char names[SCAN_REQUESTS][RFTP_USER_MAX + 1];
	size_t n;
	int all;
	int settle;   /* intents a failed settle left */
	int unwalked; /* homes a walk could not open, this round */
	/* The wait for retry_at is cut short when the queue takes writes
	 * again: 2 while the walk it started runs; a walk so started that
	 * fails has its next wait waited out (1), or a disk with room for
	 * one page, not for a walk's changes, would have every home walked
	 * at each wake; 0: may be cut short. */
	int early;
	int by_queue; /* the wait is the queue's (failed, settle) */
};

struct folder_walk {
	struct mirror *m;
	const struct target_config *t;
	const struct job *j;
	int queued;
};

static int
queue_folder(void *ctx, const char *vpath, const struct stat *st)
{
	struct folder_walk *w = ctx;
	const char *name = w->t->name;
	struct job_origin from = { 0, 0 };

	if (mirror_stopping(w->m))
		return 1;
	if (S_ISDIR(st->st_mode) && route_target_takes_name(w->t, vpath) &&
	    queue_add(w->m->q, &name, 1, JOB_MKDIR, w->j->user, w->j->home,
	        vpath, NULL, &from) == 0)
		w->queued++;
	return 0;
}

int
catchup_queue_folders(struct mirror *m, const struct target_config *t,
    const struct job *j, const char *vpath)
{
	struct folder_walk w = { m, t, j, 0 };
	struct stat st;
	int root;

	if (!transport_kind_has_folders(t))
		return 0;
	root = fs_open_root(j->home, 0);
	if (root < 0)
		return -1;
	/* The folder first, then what it holds (FS_WALK_FOLDERS' order):
	 * each is made after its parent. */
	if (fs_stat(root, vpath, &st) == 0 && S_ISDIR(st.st_mode) &&
	    queue_folder(&w, vpath, &st) == 0)
		fs_walk(root, vpath, FS_WALK_FOLDERS, queue_folder, &w);
	close(root);
	return w.queued;
}

/*
 * A walk's jobs are recorded CATCHUP_BATCH files to a transaction and
 * synced every CATCHUP_SYNC_FILES files and at the end of each home, not
 * one by one: a file another program wrote was promised to no client,
 * and one whose job a crash loses is still in the home, found again by
 * the next start's walk. A transaction and a sync a file made a walk of
 * 200,000 new files take minutes, mostly in fdatasync. A later sync (a
 * session's before its 226) covers these commits too: the WAL keeps the
 * order of commits. A batch holds the queue while it is written: a few
 * milliseconds, which a session's change waits at most.
 */
#define CATCHUP_BATCH      128
#define CATCHUP_SYNC_FILES 1024

struct catch_up_batch {
	struct queue_put put[CATCHUP_BATCH];
	const char *names[CATCHUP_BATCH][RFTP_TARGETS_MAX];
	char *path[CATCHUP_BATCH];
	size_t n;
	int pushes; /* the targets of put[0..n) */
};

struct catch_up {
	struct mirror *m;
	const struct user *u;
	struct catch_up_batch *b;
	int queued;
	int cut;      /* the walk ended at a shutdown */
	int failed;   /* pushes the queue could not record */
	int unsynced; /* pushes committed since the last sync */
	int files;    /* files whose pushes those are */
	uint64_t ticket;
	/* Folders the walk could not open (catch_up_unopened), the first of
	 * them and why. */
	size_t unopened;
	int unopened_err;
	char unopened_first[RFTP_PATH_MAX];
	/* Per target: the jobs that may take this home's files away, read
	 * once for the walk (queue_away_load; NULL: asked file by file). */
	struct queue_away *away[RFTP_TARGETS_MAX];
};

/* Syncs the pushes c committed so far; those a failed sync leaves are
 * counted failed (the home is walked again). */
static void
catch_up_sync(struct catch_up *c)
{
	if (c->unsynced > 0 && queue_sync(c->m->q, c->ticket) < 0) {
		c->queued -= c->unsynced;
		c->failed += c->unsynced;
	}
	c->unsynced = 0;
	c->files = 0;
}

/* Records the batch's puts in one transaction, then empties it; synced
 * once CATCHUP_SYNC_FILES files wait for it. */
static void
catch_up_flush(struct catch_up *c)
{
	struct catch_up_batch *b = c->b;

	if (b->n > 0 &&
	    queue_add_puts_unsynced(c->m->q, b->put, b->n, &c->ticket) == 0) {
		c->queued += b->pushes;
		c->unsynced += b->pushes;
		c->files += (int)b->n;
	} else
		c->failed += b->pushes;
	for (size_t i = 0; i < b->n; i++)
		free(b->path[i]);
	b->n = 0;
	b->pushes = 0;
	if (c->files >= CATCHUP_SYNC_FILES)
		catch_up_sync(c);
}

/* For one file of a home: queue it for every target that wants it and
 * does not hold this version yet. */
static int
catch_up_file(void *ctx, const char *vpath, const struct stat *st)
{
	struct catch_up *c = ctx;
	struct catch_up_batch *b = c->b;
	struct upload_event ev = { CHANGE_PUT, c->u->name, c->u->home,
		c->u->mirror, vpath, NULL, (uint64_t)st->st_size, 1, NULL, 0 };
	struct queue_put *p = &b->put[b->n];
	size_t n;

	if (mirror_stopping(c->m)) {
		c->cut = 1;
		return 1;
	}
	/* Size and time only: a home restored or moved to another disk
	 * while the daemon was down has new inodes, not new files. */
	n = catchup_stale_targets(c->m, &ev, st, 0, c->away, b->names[b->n]);
	if (n == 0)
		return 0;
	b->path[b->n] = strdup(vpath);
	if (b->path[b->n] == NULL) {
		c->failed += (int)n;
		return 0;
	}
	p->targets = b->names[b->n];
	p->ntargets = n;
	p->user = c->u->name;
	p->home = c->u->home;
	p->path = b->path[b->n];
	p->from.flow = 0;
	p->from.bytes = (uint64_t)st->st_size;
	b->n++;
	b->pushes += (int)n;
	if (b->n == CATCHUP_BATCH)
		catch_up_flush(c);
	return 0;
}

/* A folder of the home the walk could not open (its mode, no descriptor
 * left): what it holds is not walked. Counted, to be said once a walk
 * (unopened_said): it was passed over without a word, and files another
 * program wrote there never reached a target. */
static int
catch_up_unopened(void *ctx, const char *vpath, int err)
{
	struct catch_up *c = ctx;

	/* Gone since its name was read, or a link now: nothing left out. */
	if (err == ENOENT || err == ENOTDIR || err == ELOOP)
		return 0;
	if (c->unopened++ == 0) {
		snprintf(
		    c->unopened_first, sizeof(c->unopened_first), "%s", vpath);
		c->unopened_err = err;
	}
	return 0;
}

/* Says once a walk of u's home which folders it could not open. Returns
 * 1 if one of them may open later (short of descriptors or memory): the
 * home is then walked again. */
static int
unopened_said(const struct user *u, const struct catch_up *c)
{
	if (c->unopened == 0)
		return 0;
	log_warn("mirror: the walk of the home %s of %s could not open %zu "
	         "folders (the first %s: %s): the files they hold are not "
	         "mirrored%s",
	    u->home, u->name, c->unopened, c->unopened_first,
	    strerror(c->unopened_err),
	    syserr_lacking(c->unopened_err) ?
	        "; the home is walked again later" :
	        " (let relayftpd read them, then restart it)");
	return syserr_lacking(c->unopened_err);
}

/* Says once a walk of u's home what it left out: files there that no
 * target gets, which the admin must hear of (they were skipped without a
 * word) but not once a file. */
static void
skipped(const struct user *u, const struct fs_walk_skips *sk)
{
	if (sk->too_long > 0)
		log_warn("mirror: the walk of the home %s of %s left out %zu "
		         "entries whose path there is longer than %d bytes "
		         "(the first in %s): they are not mirrored",
		    u->home, u->name, sk->too_long, RFTP_PATH_MAX - 1,
		    sk->where);
	if (sk->too_deep > 0)
		log_warn("mirror: the walk of the home %s of %s left out %zu "
		         "folders more than %d deep (the first in %s): what "
		         "they hold is not mirrored",
		    u->home, u->name, sk->too_deep, RFTP_PATH_DEPTH_MAX,
		    sk->where);
}

/* Walks the home of the i-th user of set: files that are not on a target
 * at their current version are queued (b: the pass's batch, NULL if it
 * could not be had). Returns how many pushes; *cut is set if a shutdown
 * ended the walk; *failed grows by the pushes the queue could not record,
 * and the user is asked to be walked again (later: see catchup_main). */
static int
scan_home(struct mirror *m, const struct user_set *set, size_t i,
    struct catch_up_batch *b, int *cut, int *failed, struct deferred *d)
{
	struct user u;
	struct catch_up c = { m, &u, b, 0, 0, 0, 0, 0, 0, 0, 0, "", { NULL } };
	struct fs_walk_skips sk;
	int root, walked, err;

	users_set_get(set, i, &u);
	if (strcmp(u.mirror, "none") == 0)
		return 0;
	root = -1;
	walked = -1;
	err = ENOMEM;
	if (c.b != NULL) {
		c.b->n = 0;
		c.b->pushes = 0;
		root = fs_open_root(u.home, 0);
		/* One read per target and home, not look-ups per file: 38 us
		 * a file, 38 s before a million files were caught up. */
		for (unsigned t = 0; root >= 0 && t < m->ntargets; t++)
			c.away[t] = queue_away_load(
			    m->q, m->targets[t].t->name, u.name);
		if (root >= 0)
			walked = fs_walk_full(root, "/", 0, catch_up_file,
			    catch_up_unopened, &c, &sk);
		err = errno;
		for (unsigned t = 0; t < m->ntargets; t++) {
			/* Said, as it makes the walk slower (38 us a file):
			 * the cause is the user's own changes, not the disk. */
			if (c.away[t] != NULL && queue_away_by_path(c.away[t]))
				log_info("mirror: the walk of %s's home asked "
				         "the queue file by file for target "
				         "%s: too many deletes and renames "
				         "waiting, or added during the walk",
				    u.name, m->targets[t].t->name);
			queue_away_free(c.away[t]);
		}
		/* What a walk found before it ended is recorded too. */
		catch_up_flush(&c);
		catch_up_sync(&c);
	}
	if (walked < 0) {
		if (root >= 0)
			close(root);
		/* Out of descriptors or memory, or a disk error: the walk
		 * gave up silently, and a change the queue could not record
		 * stayed off the targets though the 226 said it would be
		 * queued (found by fault injection). Walked again later.
		 * A home that is not there has nothing to push. */
		if (syserr_lacking(err) || err == EIO || err == EAGAIN) {
			log_err("mirror: cannot walk the home %s of %s: %s",
			    u.home, u.name, strerror(err));
			d->unwalked++;
			add_name(d->names, &d->n, &d->all, u.name);
		}
		return 0;
	}
	close(root);
	skipped(&u, &sk);
	if (unopened_said(&u, &c) && !c.cut) {
		d->unwalked++;
		add_name(d->names, &d->n, &d->all, u.name);
	}
	if (c.cut)
		*cut = 1;
	if (c.failed > 0) {
		*failed += c.failed;
		add_name(d->names, &d->n, &d->all, u.name);
	}
	return c.queued;
}

/* Walks the homes of every user (all) or of the users named in names,
 * as the server has them (a broken users.ini: its last good users; no
 * parse of its own, which cost seconds a rescan at 100,000 users).
 * Returns the pushes queued; *cut is set if a shutdown left homes or
 * files unwalked. */
static int
scan_homes(struct mirror *m, int all, char (*names)[RFTP_USER_MAX + 1],
    size_t nnames, int *cut, int *failed, struct deferred *d)
{
	struct user_set *set;
	uint64_t gen = 0;
	int total = 0;
	size_t i;

	/* One batch (about 40 KB) for the pass, not one a home: a pass of
	 * 3,000 homes let go and watched again allocated and freed 120 MB,
	 * which an ASan build's quarantine kept (test_mirror_more
	 * WatcherTest, make test-asan). */
	struct catch_up_batch *b = malloc(sizeof(*b));

	userdb_refresh(m->users);
	set = userdb_users(m->users, &gen);
	*cut = 0;
	for (i = 0; all && i < users_set_count(set) && !*cut; i++)
		if (mirror_stopping(m))
			*cut = 1;
		else
			total += scan_home(m, set, i, b, cut, failed, d);
	for (size_t k = 0; !all && k < nnames && !*cut; k++)
		if (mirror_stopping(m))
			*cut = 1;
		else if (users_set_index(set, names[k], &i) == 0)
			total += scan_home(m, set, i, b, cut, failed, d);
	users_set_free(set);
	free(b);
	return total;
}

/*
 * The scanner thread: the start-up catch-up (files that appeared or changed
 * in the homes while the daemon was down, or before the mirror was
 * configured), then a walk of a user's home whenever a push found its file
 * missing for no queued reason. Runs apart so the server answers at once.
 */
/* How long the scanner waits before walking again homes whose pushes the
 * queue could not record (its disk full): doubled from the first to the
 * last, back to the first once a walk records all it found. */
#define RESCAN_RETRY_FIRST_MS 2000
#define RESCAN_RETRY_MAX_MS   60000
/* How often an idle scanner looks whether the queue file is still there. */
#define QUEUE_CHECK_MS 5000

static int settle_left(struct mirror *m);

void *
catchup_main(void *arg)
{
	struct mirror *m = arg;
	struct deferred d;
	int first = 1;
	uint64_t retry_at = 0;
	int64_t retry_ms = RESCAN_RETRY_FIRST_MS;

	memset(&d, 0, sizeof(d));
	pthread_mutex_lock(&m->scan_lock);
	while (!mirror_stopping(m)) {
		char names[SCAN_REQUESTS][RFTP_USER_MAX + 1];
		size_t n;
		int all, total, cut = 0, failed = 0, settle;
		uint64_t now;

		/* Before a walk, whose changes the queue must take: a queue
		 * file removed under us is written back (mirror.c). */
		pthread_mutex_unlock(&m->scan_lock);
		/* Once the queue takes writes again (the admin made room),
		 * at once: the changes waited up to RESCAN_RETRY_MAX_MS more
		 * for nothing (found from outside). Asked before the queue
		 * file's check, which marks what this probe finds. */
		if (d.by_queue && d.early == 0 && clock_mono_ms() < retry_at &&
		    queue_probe_write(m->q) == 0) {
			log_info("mirror: the queue takes changes again: the "
			         "homes whose changes it could not record are "
			         "walked now");
			d.early = 2;
			retry_at = clock_mono_ms();
		}
		mirror_check_queue(m);
		pthread_mutex_lock(&m->scan_lock);
		now = clock_mono_ms();

		/* Homes whose pushes could not be recorded are walked again
		 * at retry_at, not at once: the queue's disk is full, and
		 * each walk reads the whole home. So are intents settled. */
		if ((d.n > 0 || d.all || d.settle) && now >= retry_at) {
			for (size_t k = 0; k < d.n; k++)
				add_name(m->scan_users, &m->nscan, &m->scan_all,
				    d.names[k]);
			if (d.all)
				m->scan_all = 1;
			if (d.settle)
				m->settle_pending = 1;
			d.n = 0;
			d.all = 0;
			d.settle = 0;
		}
		n = m->nscan;
		all = m->scan_all;
		settle = m->settle_pending;
		if (!all && n == 0 && !settle) {
			/* Idle, the queue file is looked at every
			 * QUEUE_CHECK_MS: a worker's record of a push cannot
			 * be written either once it is removed. */
			int64_t wait_ms = QUEUE_CHECK_MS;
			struct timespec abs;

			if ((d.n > 0 || d.all || d.settle) &&
			    (int64_t)(retry_at - now) < wait_ms)
				wait_ms = (int64_t)(retry_at - now);
			abs = clock_mono_after(wait_ms);
			pthread_cond_timedwait(
			    &m->scan_wake, &m->scan_lock, &abs);
			continue;
		}
		memcpy(names, m->scan_users, sizeof(names));
		m->nscan = 0;
		m->scan_all = 0;
		m->settle_pending = 0;
		pthread_mutex_unlock(&m->scan_lock);
		if (settle && settle_left(m) < 0) {
			log_err(
			    "mirror: changes recorded before they were made "
			    "could not be settled; tried again in %lld s",
			    (long long)(retry_ms / 1000));
			d.settle = 1;
		}
		total = n > 0 || all ?
		    scan_homes(m, all, names, n, &cut, &failed, &d) :
		    0;
		if (failed > 0)
			log_err(
			    "mirror: %d pushes found by a walk of the homes "
			    "could not be queued; those homes are walked "
			    "again in %lld s",
			    failed, (long long)(retry_ms / 1000));
		if (d.unwalked > 0)
			log_err("mirror: %d homes could not be walked; walked "
			        "again in %lld s",
			    d.unwalked, (long long)(retry_ms / 1000));
		if (failed > 0 || d.settle || d.unwalked > 0) {
			d.by_queue = failed > 0 || d.settle;
			d.early = d.early == 2 ? 1 : 0;
			d.unwalked = 0;
			retry_at = clock_mono_ms() + (uint64_t)retry_ms;
			retry_ms = retry_ms * 2 > RESCAN_RETRY_MAX_MS ?
			    RESCAN_RETRY_MAX_MS :
			    retry_ms * 2;
		} else if (!cut && d.n == 0 && !d.all) {
			retry_ms = RESCAN_RETRY_FIRST_MS;
			d.early = 0;
		}
		if (cut) {
			/* Not "done": every start walks every home. */
			log_info("mirror: %s of the homes cut short by the "
			         "shutdown, %d pushes queued; the next start "
			         "walks them again",
			    first ? "start-up walk" : "rescan", total);
		} else if (total > 0) {
			if (first)
				log_info(
				    "mirror catch-up: %d pushes queued for "
				    "files that changed while relayftpd "
				    "was down",
				    total);
			else
				log_info(
				    "mirror rescan: %d pushes queued", total);
			mirror_wake_all(m);
		} else if (first) {
			/* Said too, so that an admin (and a test) knows the
			 * walk of every home is over. */
			log_info("mirror: start-up walk of the homes done, "
			         "nothing to queue");
		}
		first = 0;
		pthread_mutex_lock(&m->scan_lock);
	}
	pthread_mutex_unlock(&m->scan_lock);
	return NULL;
}

/* Whether the change an intent recorded was made: read from the home
 * after a crash cut the server short between the two. */
static int
intent_happened(const struct job *j)
{
	struct stat st;
	const char *leaf;
	int root = fs_open_root(j->home, 0), pfd, there = 0;

	if (root < 0)
		return 0;
	pfd = fs_open_parent(root, j->path, &leaf);
	if (pfd >= 0) {
		there = fs_leaf_stat(pfd, leaf, &st) == 0;
		close(pfd);
	}
	close(root);
	switch (j->op) {
	case JOB_MKDIR:
		return there && S_ISDIR(st.st_mode);
	case JOB_DELETE:
	case JOB_RENAME:
	case JOB_RMDIR:
		return !there;
	case JOB_PUT:
	case JOB_TIME:
		return 1; /* never written ahead; kept if one ever is */
	}
	return 0;
}

/*
 * Settles the intents the queue holds from the home. With sessions
 * running (lock), each under its user's change lock: one a session is
 * making is then settled by that session first, and left alone here.
 * Counts in *made and *dropped what this settled. Returns -1 if the
 * queue could not be read or a settle failed (that intent stays).
 */
static int
settle_intents(struct mirror *m, int lock, int *made, int *dropped)
{
	struct job *v = NULL;
	size_t n = 0;
	int rc = 0;

	*made = *dropped = 0;
	if (queue_intents(m->q, &v, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		pthread_mutex_t *ul =
		    lock ? mirror_user_lock(m, v[i].user) : NULL;
		int happened, settled;

		if (ul != NULL)
			pthread_mutex_lock(ul);
		happened = intent_happened(&v[i]);
		settled = queue_settle(m->q, v[i].id, v[i].id, happened);
		if (ul != NULL)
			pthread_mutex_unlock(ul);
		if (settled < 0)
			rc = -1;
		else if (settled > 0)
			*(happened ? made : dropped) += 1;
	}
	free(v);
	return rc;
}

void
catchup_settle_intents(struct mirror *m)
{
	int made, dropped;

	settle_intents(m, 0, &made, &dropped);
	if (made + dropped > 0)
		log_info("mirror: %d changes interrupted by a restart: %d "
		         "made (queued), %d not made (dropped)",
		    made + dropped, made, dropped);
}

void
catchup_request_settle(struct mirror *m)
{
	pthread_mutex_lock(&m->scan_lock);
	m->settle_pending = 1;
	pthread_cond_signal(&m->scan_wake);
	pthread_mutex_unlock(&m->scan_lock);
}

/* The scanner's settle of what catchup_request_settle asked for; 0, or -1
 * if some intent is left for a later try. */
static int
settle_left(struct mirror *m)
{
	int made, dropped, rc = settle_intents(m, 1, &made, &dropped);

	if (made + dropped > 0)
		log_info("mirror: %d changes whose record could not be "
		         "settled at once settled from the home: %d made "
		         "(queued), %d not made (dropped)",
		    made + dropped, made, dropped);
	if (made > 0)
		mirror_wake_all(m);
	return rc;
}

/* Makes room for one more element of size elem in array v (n used of
 * *cap): returns the array to use (v or its move), NULL out of memory (v
 * is then still valid and still v's caller's to free). */
static void *
grow(void *v, size_t n, size_t *cap, size_t elem, size_t first)
{
	size_t ncap;
	void *nv;

	if (n < *cap)
		return v;
	ncap = *cap ? *cap * 2 : first;
	if (ncap < *cap || ncap > SIZE_MAX / elem)
		return NULL;
	nv = realloc(v, ncap * elem);
	if (nv != NULL)
		*cap = ncap;
	return nv;
}

struct local_file {
	char *vpath;
	uint64_t size;
	int64_t mtime_ns;
	int is_dir;
};

struct file_list {
	struct local_file *v;
	size_t n, cap;
	int failed; /* out of memory: the list is incomplete */
};

static int
collect_file(void *ctx, const char *vpath, const struct stat *st)
{
	struct file_list *l = ctx;
	struct local_file *nv = grow(l->v, l->n, &l->cap, sizeof(*nv), 256);

	if (nv != NULL) {
		l->v = nv;
		l->v[l->n].vpath = strdup(vpath);
	}
	if (nv == NULL || l->v[l->n].vpath == NULL) {
		l->failed = 1;
		return -1;
	}
	l->v[l->n].size = (uint64_t)st->st_size;
	l->v[l->n].mtime_ns =
	    (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	l->v[l->n].is_dir = S_ISDIR(st->st_mode);
	l->n++;
	return 0;
}

/* By folder, then by name: a folder's entries come together, so that
 * resync lists each folder once ("/a/x", "/a b", "/a/y" by plain strcmp
 * listed /a twice, and with folders among the entries once per
 * subfolder: found in review, quadratic on a wide tree). */
static int
cmp_local(const void *a, const void *b)
{
	const char *x = ((const struct local_file *)a)->vpath;
	const char *y = ((const struct local_file *)b)->vpath;
	size_t xl = (size_t)(strrchr(x, '/') - x);
	size_t yl = (size_t)(strrchr(y, '/') - y);
	int c = memcmp(x, y, xl < yl ? xl : yl);

	if (c != 0)
		return c;
	if (xl != yl)
		return xl < yl ? -1 : 1;
	return strcmp(x + xl, y + yl);
}

/* One entry of a target's listing: its name is names + off (NUL
 * ended) in its remote_dir. 16 bytes: a name of its own (NAME_MAX + 1
 * bytes in each entry) made a listing of a million cost 272 MB. */
struct remote_entry {
	int64_t size;
	uint32_t off;
	uint32_t is_dir;
};

/* One folder's listing, names packed one after another; bounded by
 * RFTP_RESYNC_ENTRIES_MAX and RFTP_RESYNC_NAMES_MAX. */
struct remote_dir {
	struct remote_entry *v;
	size_t n, cap;
	char *names;
	size_t names_len, names_cap;
	int failed;  /* out of memory: the listing is incomplete */
	int too_big; /* past a bound: the listing is incomplete */
};

static void
collect_remote(void *ctx, const char *name, int64_t size, int is_dir)
{
	struct remote_dir *d = ctx;
	size_t len = strlen(name);
	struct remote_entry *nv;

	/* A name longer than any local one cannot be a file of the home;
	 * cut short, it could pass for one. */
	if (len > NAME_MAX || d->failed || d->too_big)
		return;
	if (d->n >= RFTP_RESYNC_ENTRIES_MAX ||
	    len + 1 > RFTP_RESYNC_NAMES_MAX - d->names_len) {
		d->too_big = 1;
		return;
	}
	if (d->names_len + len + 1 > d->names_cap) {
		size_t ncap = d->names_cap ? d->names_cap : 64 * 1024;
		char *nn;

		while (ncap < d->names_len + len + 1)
			ncap *= 2;
		if (ncap > RFTP_RESYNC_NAMES_MAX)
			ncap = RFTP_RESYNC_NAMES_MAX;
		nn = realloc(d->names, ncap);
		if (nn == NULL) {
			d->failed = 1;
			return;
		}
		d->names = nn;
		d->names_cap = ncap;
	}
	nv = grow(d->v, d->n, &d->cap, sizeof(*nv), 64);
	if (nv == NULL) {
		d->failed = 1;
		return;
	}
	d->v = nv;
	memcpy(d->names + d->names_len, name, len + 1);
	d->v[d->n].off = (uint32_t)d->names_len;
	d->v[d->n].size = size;
	d->v[d->n].is_dir = is_dir != 0;
	d->names_len += len + 1;
	d->n++;
}

/* By name, then files before folders: the order remote_size searches.
 * names: the remote_dir's (qsort_r's context). */
static int
cmp_remote(const void *a, const void *b, void *names)
{
	const struct remote_entry *x = a, *y = b;
	int c =
	    strcmp((const char *)names + x->off, (const char *)names + y->off);

	if (c != 0)
		return c;
	return x->is_dir == y->is_dir ? 0 : x->is_dir < y->is_dir ? -1 : 1;
}

/* The size of the file name in d (-1 unknown), -2 if d has no such
 * file; or, with is_dir, 0 if d has such a folder, -2 if not. d is
 * sorted (cmp_remote): each local file was looked for by walking the
 * whole listing, and a folder of 3,000 files against a listing of a
 * million entries (a big folder, or a hostile target) took 96 s (found
 * from outside). */
static int64_t
remote_size(const struct remote_dir *d, const char *name, int is_dir)
{
	size_t lo = 0, hi = d->n;

	if (strlen(name) > NAME_MAX)
		return -2;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct remote_entry *e = &d->v[mid];
		int c = strcmp(name, d->names + e->off);

		if (c == 0)
			c = (is_dir != 0) - (int)e->is_dir;
		if (c == 0)
			return is_dir ? 0 : e->size;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -2; /* absent */
}

/* /USER/PATH (then tail) for an admin's terminal: a file's name is an FTP
 * client's bytes (any but NUL, CR and LF), or a local program's, and an
 * ESC in it would drive the terminal that runs resync (log_fput_text). */
static void
put_path(FILE *f, const struct user *u, const char *vpath, const char *tail)
{
	fprintf(f, "/%s", u->name);
	log_fput_text(f, vpath, 0);
	fputs(tail, f);
}

/* Lists folder dir (a path in u's home) on target t into d. 0, or -1 with
 * the reason on err. */
static int
list_remote(const struct target_config *t, struct transport *tp,
    const struct user *u, const char *dir, struct remote_dir *d, FILE *err)
{
	char rdir[RFTP_RPATH_MAX];
	struct push_result res;

	d->n = 0;
	d->names_len = 0;
	d->failed = 0;
	d->too_big = 0;
	if (route_remote_path(t, u->name, dir, rdir, sizeof(rdir)) < 0) {
		fprintf(err, "relayftpd: the path of ");
		put_path(err, u, dir, "");
		fprintf(err, " on %s is too long\n", t->name);
		return -1;
	}
	memset(&res, 0, sizeof(res));
	if (transport_list(tp, rdir, collect_remote, d, &res) < 0) {
		/* The target's own words may be in it (a reply's text). */
		fprintf(err, "relayftpd: ");
		log_fput_text(err, res.error, 0);
		fprintf(err, "\n");
		return -1;
	}
	if (d->failed) {
		fprintf(err, "relayftpd: out of memory listing ");
		put_path(err, u, dir, "");
		fprintf(err, " on %s\n", t->name);
		return -1;
	}
	if (d->too_big) {
		fprintf(err, "relayftpd: the listing of ");
		put_path(err, u, dir, "");
		fprintf(err,
		    " on %s has more than %u entries or %u MiB of names, "
		    "more than resync compares in one folder\n",
		    t->name, (unsigned)RFTP_RESYNC_ENTRIES_MAX,
		    RFTP_RESYNC_NAMES_MAX >> 20);
		return -1;
	}
	if (d->n > 1)
		qsort_r(d->v, d->n, sizeof(*d->v), cmp_remote, d->names);
	return 0;
}

/* Compares one user's home with the target; returns queued or -1. */
/* resync's jobs could not be synced: it stops, saying so (a job the
 * queue refuses is said and counted by the caller, which goes on). */
static int
resync_queue_failed(const char *what, const char *vpath, FILE *err)
{
	fprintf(err,
	    "relayftpd: resync stopped: the queue could not %s (at %s): "
	    "%s\n",
	    what, vpath, strerror(errno));
	return -1;
}

int
catchup_resync_user(const struct target_config *t, struct transport *tp,
    struct queue *q, const struct user *u, int *checked, int *unqueued,
    FILE *out, FILE *err)
{
	struct file_list files = { NULL, 0, 0, 0 };
	struct remote_dir dir;
	const char *name = t->name;
	char cur[RFTP_PATH_MAX] = "";
	int root = fs_open_root(u->home, 0), queued = 0, rc = 0, listed = 0;
	int unsynced = 0;
	uint64_t ticket = 0;

	memset(&dir, 0, sizeof(dir));
	if (root < 0)
		return 0;
	/* Folders too: an empty one removed on the target has no file to
	 * bring it back (found from outside: resync queued nothing). */
	fs_walk(root, "/", FS_WALK_FOLDERS, collect_file, &files);
	close(root);
	/* A partial list would say "compared" of what was never looked at. */
	if (files.failed) {
		fprintf(err,
		    "relayftpd: out of memory walking the home of %s\n",
		    u->name);
		rc = -1;
	}
	if (files.n > 0)
		qsort(files.v, files.n, sizeof(*files.v), cmp_local);
	for (size_t i = 0; i < files.n && rc == 0; i++) {
		const char *vpath = files.v[i].vpath;
		const char *leaf = strrchr(vpath, '/') + 1;
		size_t dlen = (size_t)(leaf - vpath - 1);
		struct job_origin from = { 0, 0 };
		int is_dir = files.v[i].is_dir, same;
		int64_t have;

		char why[160];

		if (!route_target_takes(t, u->mirror, vpath) ||
		    (is_dir && !transport_kind_has_folders(t)))
			continue;
		/* Never listed nor queued: its folder's listing would name
		 * another path there (transport_kind_name_ok). */
		if (!transport_kind_name_ok(t, vpath, why, sizeof(why))) {
			fprintf(out, "skipped ");
			put_path(out, u, vpath, ": ");
			log_fput_text(out, why, 0);
			fprintf(out, "\n");
			continue;
		}
		if (!is_dir)
			(*checked)++;
		/* Paths come by folder: each folder is listed once. */
		if (!listed || strlen(cur) != dlen ||
		    strncmp(cur, vpath, dlen) != 0) {
			/* fs_walk paths fit RFTP_PATH_MAX; a longer one
			 * is refused, never listed as its prefix. */
			if (dlen >= sizeof(cur)) {
				rc = -1;
				break;
			}
			memcpy(cur, vpath, dlen);
			cur[dlen] = '\0';
			listed = 1;
			if (list_remote(t, tp, u, cur, &dir, err) < 0) {
				rc = -1;
				break;
			}
		}
		have = remote_size(&dir, leaf, is_dir);
		/* A file missing here is brought only by a put: a queued
		 * rename into its name (or its folder's) moves what the
		 * target holds under the old name, which this listing never
		 * looked at (a file lost there stayed lost). A folder's own
		 * rename does bring the folder; one of a folder above it
		 * does not bring an empty folder lost there. One there as
		 * here may be on its way off the target: a delete or a
		 * rename away still queued (parked: the target was down)
		 * left it without the file the home has again (another
		 * program wrote it, unseen). */
		same = is_dir ? have == 0 : have == (int64_t)files.v[i].size;
		if (same ?
		        queue_takes_away(q, t->name, u->name, vpath) != 1 :
		        (is_dir ?
		                queue_has_folder(q, t->name, u->name, vpath) :
		                queue_has_put(q, t->name, u->name, vpath)) != 0)
			continue;
		/* Dropped at its last push, for a reason that holds: a
		 * resync queued it at each run, and its bytes went there
		 * only to be dropped again. */
		if (!is_dir && !same &&
		    dropped_before(q, t->name, u->name, u->home, vpath,
		        files.v[i].size, files.v[i].mtime_ns) == 1) {
			fprintf(out, "skipped ");
			put_path(out, u, vpath,
			    ": dropped at its last push, which no retry can "
			    "send (the log says why; rename or change the "
			    "file to mirror it)\n");
			continue;
		}
		from.bytes = is_dir ? 0 : files.v[i].size;
		/* Synced CATCHUP_SYNC_FILES at a time and at the end, as the
		 * start-up walk's: a sync a file made a resync of 100,000
		 * missing files wait minutes in fdatasync. A resync killed
		 * before its sync has promised nothing: run it again. */
		if (queue_add_unsynced(q, &name, 1,
		        is_dir ? JOB_MKDIR : JOB_PUT, u->name, u->home, vpath,
		        NULL, &from, &ticket) < 0) {
			/* Said and counted: skipped silently, the summary
			 * read "0 queued" and resync exited 0 on a full
			 * queue disk, the files missing there for good. */
			(*unqueued)++;
			fprintf(err, "relayftpd: could not queue ");
			put_path(err, u, vpath, is_dir ? "/" : "");
			fprintf(err, "\n");
			continue;
		}
		queued++;
		fprintf(out, "queued ");
		put_path(out, u, vpath, is_dir ? "/" : "");
		fprintf(out, " (%s)\n",
		    same ? "a queued delete or rename takes it off the target" :
		        is_dir     ? "missing folder" :
		        have == -2 ? "missing" :
		                     "different size");
		if (++unsynced >= CATCHUP_SYNC_FILES) {
			if (queue_sync(q, ticket) < 0) {
				rc = resync_queue_failed(
				    "sync its jobs", vpath, err);
				break;
			}
			unsynced = 0;
		}
	}
	if (rc == 0 && unsynced > 0 && queue_sync(q, ticket) < 0)
		rc = resync_queue_failed("sync its jobs", "the end", err);
	for (size_t i = 0; i < files.n; i++)
		free(files.v[i].vpath);
	free(files.v);
	free(dir.v);
	free(dir.names);
	return rc < 0 ? -1 : queued;
}
