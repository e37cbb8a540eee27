/*
 * worker.c - the per-target worker pool: one job at a time, to the end.
 *
 * Owns: what a worker does with a job it claimed: open the bytes where
 * they are now (its path carried through later renames, read under the
 * user's change lock), push them and their time, delete, rename (with its
 * repairs), make or remove a folder; log the outcome; settle the job in
 * the queue; and on failure back the whole target off (backoff.c), on a
 * refusal of one file that job alone, or park the job. Must not decide
 * which targets take a file (route.c), build a job from an event
 * (mirror.c), walk homes (catchup.c) or speak a protocol (transport.c).
 *
 * Each target has a small state (backoff deadline, failing since, count of
 * consecutive failures) shared by its workers under one mutex, and a
 * condition variable that an enqueue, the end of a push (it may free a
 * job that waited for it) or shutdown signals, with a count of wakes so
 * that a wake between a worker's look at the queue and its wait is not
 * lost: a new job starts at once, with no polling interval. A worker
 * claims a due job, opens the file through the fs gate (the job's path was
 * normalised by the server), pushes it, and records the outcome in the
 * queue. A failure backs the whole target off; a refusal of one file
 * (push_refused) backs off that job alone. What the admin sees of it
 * (stats.h: attempts, outcomes, bytes, relay latency, the push in flight
 * with its progress) is counted here, where each outcome is decided.
 */
#include "common/buf.h"
#include "common/clock.h"
#include "common/fnv.h"
#include "common/fsgate.h"
#include "common/ftptime.h"
#include "common/log.h"
#include "common/thread.h"
#include "mirror/logpath.h"
#include "mirror/backoff.h"
#include "mirror/casetwin.h"
#include "mirror/jobrules.h"
#include "mirror/mirror_int.h"
#include "mirror/route.h"
#include "mirror/rpath.h"
#include "mirror/stream.h"
#include "mirror/target_place.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Waits on the target's condition until deadline_ms, a wall-clock time
 * (-1: 2 s, so jobs that another process queued — mirror retry, resync —
 * start soon; enqueues in this process signal the condition), counted
 * from the caller's look at both clocks (now, now_mono): a step of the
 * wall clock after that look does not move the wait. The wait itself is
 * on the monotonic clock: a wall clock set back meanwhile must not
 * stretch it (clock_check moves the deadline). Called with ts->lock
 * held. */
static void
wait_until(struct target_state *ts, int express, int64_t deadline_ms,
    int64_t now, uint64_t now_mono)
{
	int64_t in_ms = deadline_ms < 0 ? 2000 : deadline_ms - now;
	struct timespec abs =
	    clock_mono_after(in_ms - (int64_t)(clock_mono_ms() - now_mono));

	if (express) {
		pthread_cond_timedwait(&ts->express_wake, &ts->lock, &abs);
		return;
	}
	ts->idle++;
	pthread_cond_timedwait(&ts->wake, &ts->lock, &abs);
	ts->idle--;
}

void
worker_wake_held(struct target_state *ts, int all)
{
	ts->wakes++;
	if (all) {
		pthread_cond_broadcast(&ts->wake);
		if (ts->has_express)
			pthread_cond_broadcast(&ts->express_wake);
	} else if (ts->idle > 0 || !ts->has_express)
		pthread_cond_signal(&ts->wake);
	else
		pthread_cond_signal(&ts->express_wake);
}

/*
 * A retry's due time and a target's pause are wall-clock times, stored so
 * that they outlive a restart. When the wall clock is set back (an NTP
 * step after a boot with a clock ahead, an admin's date), each would wait
 * the step on top of its delay: a target down for a minute before a step
 * of a day back would get nothing for a day. The worker that first sees
 * the step (the wall clock's lead over the monotonic one fell by more
 * than CLOCK_STEP_MS since the last look) moves them all back by it and
 * wakes every worker. Only back: the lead also grows while the host
 * sleeps, and moving the times forward then would add the sleep to every
 * delay; a step forward only makes retries come early. A slew moves the
 * lead slowly (ntpd 0.5 ms a second, chrony up to 83), a little at each
 * look. The lead is read again under clock_lock, so one step is moved
 * once whichever worker looked first; if the queue cannot be changed, the
 * step stays unseen and the next look tries again. What a failure records
 * while a step is moved, and any time a step left behind, is held to
 * retry_max by hold_to_retry_max.
 */
#define CLOCK_STEP_MS 1000
/* Changes of the lead below this are not written back at each look. */
#define CLOCK_DRIFT_MS 100

static void
clock_check(struct mirror *m)
{
	int64_t lead = clock_wall_offset_ms(), was, by;
	int n;

	was = atomic_load(&m->wall_lead_ms);
	if (lead - was < CLOCK_DRIFT_MS && was - lead < CLOCK_DRIFT_MS)
		return;
	pthread_mutex_lock(&m->clock_lock);
	lead = clock_wall_offset_ms();
	was = atomic_load(&m->wall_lead_ms);
	by = lead - was;
	if (by >= -CLOCK_STEP_MS) {
		atomic_store(&m->wall_lead_ms, lead);
		pthread_mutex_unlock(&m->clock_lock);
		return;
	}
	n = queue_retime(m->q, by, INT64_MAX);
	if (n < 0) {
		pthread_mutex_unlock(&m->clock_lock);
		return; /* logged by the queue; the next look tries again */
	}
	atomic_store(&m->wall_lead_ms, lead);
	for (unsigned i = 0; i < m->ntargets; i++) {
		struct target_state *ts = &m->targets[i];

		pthread_mutex_lock(&ts->lock);
		if (ts->backoff_until_ms > 0)
			ts->backoff_until_ms = ts->backoff_until_ms + by > 0 ?
			    ts->backoff_until_ms + by :
			    0;
		if (ts->failing_since_ms > 0)
			ts->failing_since_ms = ts->failing_since_ms + by > 0 ?
			    ts->failing_since_ms + by :
			    1;
		if (ts->sweep_at_ms > 0)
			ts->sweep_at_ms += by;
		if (ts->resweep_at_ms > 0)
			ts->resweep_at_ms = ts->resweep_at_ms + by > 0 ?
			    ts->resweep_at_ms + by :
			    1;
		if (ts->express_until_ms > 0)
			ts->express_until_ms = ts->express_until_ms + by > 0 ?
			    ts->express_until_ms + by :
			    1;
		worker_wake_held(ts, 1);
		pthread_mutex_unlock(&ts->lock);
	}
	pthread_mutex_unlock(&m->clock_lock);
	log_warn("mirror: the system clock was set back %lld.%03lld s: the "
	         "retries and pauses due later (%d jobs) and the failing "
	         "spells' starts move back with it",
	    (long long)(-by / 1000), (long long)(-by % 1000), n);
}

/*
 * No delay a failure sets reaches past retry_max (backoff.c; a refused
 * job's pause ends up to a second later, queue_defer_retries): a pause or
 * a due time further ahead was set on the wrong side of a clock step
 * (a failure recorded while clock_check moved the others). It is held to
 * retry_max from now, so that no step, however it raced, holds a target
 * back longer than the admin's longest delay: the target's pause in the
 * worker's loop, the jobs' due times here, with *next_due (a claim's
 * answer). Called without locks.
 */
static int64_t
latest_due(const struct target_state *ts, int64_t now)
{
	return now + (int64_t)ts->m->cfg->mirror.retry_max * 1000;
}

static void
hold_to_retry_max(struct target_state *ts, int64_t now, int64_t *next_due)
{
	int64_t latest = latest_due(ts, now);
	int n;

	if (*next_due <= latest + 1000)
		return;
	n = queue_retime(ts->m->q, 0, latest + 1000);
	if (n > 0)
		log_warn("mirror: %d retries were due further ahead than "
		         "retry_max (the system clock was set back): due "
		         "within retry_max now",
		    n);
	*next_due = latest + 1000;
}

/* The job's path on the target; a path too long for it is an error of the
 * job (res), never a shorter path. */
static int
job_rpath(const struct target_state *ts, const struct job *j, const char *path,
    char *out, size_t outlen, struct push_result *res)
{
	if (route_remote_path(ts->t, j->user, path, out, outlen) < 0) {
		snprintf(res->error, sizeof(res->error),
		    "the path of /%s%.400s on the target is too long", j->user,
		    path);
		return -1;
	}
	if (!transport_kind_name_ok(
	        ts->t, out, res->error, sizeof(res->error))) {
		res->unsendable = 1;
		return -1;
	}
	return 0;
}

/* What a push reads of its file besides the bytes: recorded with the
 * push (queue_done_pushed), and compared after it (recheck_source). */
struct file_state {
	uint64_t size;
	int64_t mtime_ns;
	uint64_t ino;
};

/* Opens path in the job's home and fills *fs; -1 with errno (ENOENT: it
 * is gone). */
static int
open_job_file(const struct job *j, const char *path, struct file_state *fs)
{
	struct stat st;
	int root = fs_open_root(j->home, 0), fd, busy;

	if (root < 0)
		return -1;
	/* Opened only if a plain file: opening a FIFO's read end let a
	 * writer waiting on it write into nothing (a device's open acts). */
	if (fs_stat(root, path, &st) == 0 && !S_ISREG(st.st_mode)) {
		close(root);
		errno = S_ISDIR(st.st_mode) ? EISDIR : ENOENT;
		return -1;
	}
	fd = fs_open(root, path, O_RDONLY | O_NONBLOCK, 0);
	if (fd < 0) {
		int err = errno;

		/* A folder on the way is a file now (a program replaced it):
		 * the path is gone as surely as with ENOENT, and retrying
		 * can never open it. So is a file replaced by a socket or a
		 * device without a driver (ENXIO, ENODEV), which no retry
		 * opens either: not a file to push, as a FIFO is not. */
		if (err == ENOTDIR ||
		    ((err == ENXIO || err == ENODEV) &&
		        fs_stat(root, path, &st) == 0 && !S_ISREG(st.st_mode)))
			err = ENOENT;
		close(root);
		errno = err;
		return -1;
	}
	close(root);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = S_ISDIR(st.st_mode) ? EISDIR : ENOENT;
		return -1;
	}
	/* A program has it open for writing (the kernel refuses a read
	 * lease then, as the watcher asks): what is there now may be the
	 * start of what it writes, and a push would publish it cut. Pushed
	 * once it is closed; a lease that cannot be asked (another owner's
	 * file, a file system without leases) lets it through. */
	transport_spawns_hold();
	busy = fs_has_writer(fd);
	transport_spawns_release();
	if (busy) {
		close(fd);
		errno = ETXTBSY;
		return -1;
	}
	fs->size = (uint64_t)st.st_size;
	fs->mtime_ns =
	    (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	fs->ino = (uint64_t)st.st_ino;
	return fd;
}

/*
 * The target's last error as shown (mirror status, /api/status) into out:
 * its own failure (fail_error) and a home found missing (home_note) are
 * both true while its other homes' jobs fail to connect and the missing
 * home's jobs find it missing. Each written alone by the job that met it,
 * the line flipped between the two at every retry (found by a review);
 * now it says both, in one order, whichever job wrote it. A failure met
 * before the home was found missing is not said with it: the target may
 * be back since, and was not tried (1fd5e19). Called with ts->lock held.
 */
static void
target_error(const struct target_state *ts, char *out, size_t outlen)
{
	if (ts->fail_error[0] != '\0' && ts->home_note[0] != '\0')
		fmt_fixed(
		    out, outlen, "%s; and %s", ts->fail_error, ts->home_note);
	else
		fmt_fixed(out, outlen, "%s",
		    ts->fail_error[0] != '\0' ? ts->fail_error : ts->home_note);
}

/*
 * A failure of the target: it rests its backoff step, or longer if its
 * answer asked for a pause (asked_s, push_result.retry_after_s: the
 * Retry-After of a 429 or 503), never beyond retry_max; the error shown
 * in the log, `mirror status` and /api/status then says so, so an admin
 * sees why the retry is later than the backoff's.
 */
static void
push_failed(struct target_state *ts, const struct job *j, const char *error,
    int64_t asked_s)
{
	struct mirror *m = ts->m;
	const struct mirror_config *mc = &m->cfg->mirror;
	int64_t now = clock_wall_ms(), delay, since, until;
	int park, capped = 0;
	char shown[1024], said[768];

	if (asked_s > 0) {
		(void)backoff_asked_ms(mc, 0, asked_s, &capped);
		/* A count saturated in the reading (backoff_delta_seconds:
		 * a number past 2^63) is not what the service sent: shown as
		 * 9223372036854775807 s it read as a number to act on. */
		if (asked_s == INT64_MAX)
			fmt_fixed(said, sizeof(said),
			    "%.380s (the service asked to wait more than "
			    "retry_max (Retry-After too large to count): held "
			    "to retry_max, %llu s)",
			    error, (unsigned long long)mc->retry_max);
		else if (capped)
			fmt_fixed(said, sizeof(said),
			    "%.380s (the service asked to wait %lld s "
			    "(Retry-After): held to retry_max, %llu s)",
			    error, (long long)asked_s,
			    (unsigned long long)mc->retry_max);
		else
			fmt_fixed(said, sizeof(said),
			    "%.380s (the service asked to wait %lld s "
			    "(Retry-After))",
			    error, (long long)asked_s);
		error = said;
	}
	pthread_mutex_lock(&ts->lock);
	ts->failures++;
	delay = backoff_asked_ms(mc,
	    backoff_delay_ms(mc, ts->failures, backoff_random()), asked_s,
	    NULL);
	/* The later of this rest and one another worker's failure set: a
	 * push in flight that failed without a Retry-After cut a pause the
	 * service had just asked for to a backoff step (found by a review). A
	 * push is tried only once the rest is over, so only such pushes in
	 * flight meet a later one. */
	until = now + delay;
	if (ts->backoff_until_ms > until)
		until = ts->backoff_until_ms;
	ts->backoff_until_ms = until;
	if (ts->failing_since_ms == 0)
		ts->failing_since_ms = now;
	since = ts->failing_since_ms;
	fmt_fixed(ts->fail_error, sizeof(ts->fail_error), "%s", error);
	target_error(ts, shown, sizeof(shown));
	pthread_mutex_unlock(&ts->lock);
	park = backoff_park(mc, j->attempts);
	stream_spares_drop(m, (unsigned)(ts - m->targets));
	/* Target state first: a job seen parked has its reason on show. */
	queue_target_state(m->q, ts->t->name, since, until, shown);
	queue_fail(m->q, j, until, error, park);
	/* Counted once recorded: an admin who sees the failure in the
	 * counters and asks a retry (status, /api/retry) finds the job's
	 * next try written, which the retry then brings forward; counted
	 * first, the retry could come between and the failure's 300 s
	 * backoff be written after it (found by a test under load). */
	stats_target_add(m->stats, ts->stat, STAT_T_FAILURES, 1);
	log_warn("mirror push failed target=%s path=%s attempt=%lld: %s; "
	         "%s",
	    ts->t->name, LOGPATH(j->user, j->path),
	    (long long)(j->attempts + 1), error,
	    park ? "parked as failed (see 'relayftpd mirror retry')" :
	           "will retry");
}

/* How often a home that stays missing is said again (push_unreadable). */
#define HOME_SAY_AGAIN_MS 60000

/*
 * Whether the missing home of j is to be said now (push_unreadable): once
 * a minute per home and target, with *unsaid set to the jobs of that home
 * that failed so since its last line. A home is known by a hash of its
 * path, in a small table whose oldest entry gives way (a collision or an
 * eviction only says a home once more).
 */
static int
say_home_missing(struct target_state *ts, const struct job *j, uint64_t *unsaid,
    uint64_t *secs)
{
	uint64_t key = fnv1a64_str(FNV1A64_INIT, j->home);
	uint64_t now = clock_mono_ms();
	struct home_said *h = NULL, *oldest = &ts->homes_said[0];
	int say;

	pthread_mutex_lock(&ts->lock);
	for (size_t i = 0; i < HOMES_SAID_MAX && h == NULL; i++) {
		if (ts->homes_said[i].key == key)
			h = &ts->homes_said[i];
		else if (ts->homes_said[i].said_ms < oldest->said_ms)
			oldest = &ts->homes_said[i];
	}
	if (h == NULL) {
		h = oldest;
		h->key = key;
		h->said_ms = 0;
		h->unsaid = 0;
	}
	say = h->said_ms == 0 || now - h->said_ms >= HOME_SAY_AGAIN_MS;
	*unsaid = h->unsaid;
	*secs = h->said_ms == 0 ? 0 : (now - h->said_ms) / 1000;
	if (say) {
		h->said_ms = now;
		h->unsaid = 0;
	} else {
		h->unsaid++;
	}
	pthread_mutex_unlock(&ts->lock);
	return say;
}

/* A file that cannot be read here (push_result.unreadable): the job waits
 * its own backoff (parked after max_attempts, as any, unless the file is
 * only being written: busy), and the target's
 * state, its backoff and its other jobs are untouched; the attempt counts
 * as failed. A missing home (home_missing) is every job's of that home:
 * they wait with this one, and the log says it once a minute, not once
 * per job and retry (50,000 jobs of a home whose disk is not mounted
 * wrote 166 lines a second at retry_max 300: found by a soak). */
static void
push_unreadable(struct target_state *ts, const struct job *j, const char *error,
    int busy, int home_missing)
{
	const struct mirror_config *mc = &ts->m->cfg->mirror;
	unsigned step = j->attempts < 0 || j->attempts >= UINT_MAX - 1 ?
	    UINT_MAX :
	    (unsigned)j->attempts + 1;
	int64_t delay = backoff_delay_ms(mc, step, backoff_random());
	int64_t until = clock_wall_ms() + delay;
	int park = !busy && backoff_park(mc, j->attempts);
	uint64_t unsaid = 0, secs = 0;
	char more[128] = "";

	/* A failed attempt as any other in the counters (they drifted from
	 * the log's "push failed" lines by these: found by a soak), though
	 * not in the target's state. */
	queue_fail(ts->m->q, j, until, error, park);
	stats_target_add(ts->m->stats, ts->stat, STAT_T_FAILURES, 1);
	if (home_missing) {
		int64_t since, t_until;
		char shown[1024];

		if (queue_defer_home(ts->m->q, ts->t->name, j->home, until) < 0)
			log_err("mirror: cannot defer the jobs of %s", j->home);
		/* The reason its jobs wait, on show in `mirror status` and
		 * the admin page, with the target's state as it is (not
		 * tried: this says nothing of it). Kept out, an old connect
		 * error stood there as the current one for as long as the
		 * home was missing, and the line never said why nothing
		 * moved (found by a review). */
		pthread_mutex_lock(&ts->lock);
		since = ts->failing_since_ms;
		t_until = ts->backoff_until_ms;
		if (ts->home_note[0] == '\0')
			ts->fail_error[0] = '\0'; /* older: see target_error */
		fmt_fixed(ts->home_note, sizeof(ts->home_note), "%s", error);
		target_error(ts, shown, sizeof(shown));
		pthread_mutex_unlock(&ts->lock);
		if (queue_target_state(
		        ts->m->q, ts->t->name, since, t_until, shown) < 0)
			log_err("mirror target %s: cannot record why its jobs "
			        "wait",
			    ts->t->name);
		if (!park && !say_home_missing(ts, j, &unsaid, &secs))
			return;
		if (unsaid > 0)
			fmt_fixed(more, sizeof(more),
			    " (and %llu more jobs of this home in the last "
			    "%llus; said once a minute while it lasts)",
			    (unsigned long long)unsaid,
			    (unsigned long long)secs);
	}
	log_warn("mirror push failed target=%s path=%s attempt=%lld: %s%s; "
	         "%s",
	    ts->t->name, LOGPATH(j->user, j->path),
	    (long long)(j->attempts + 1), error, more,
	    park ? "parked as failed (see 'relayftpd mirror retry')" :
	           "will retry (a fault of this file here, not of the target: "
	           "its other jobs go on)");
}

/* A job whose path the target can never take (push_result.unsendable):
 * dropped at once, with the target's state untouched, so that its other
 * jobs go on. Not parked: a parked job holds back the later jobs of its
 * path, the rename that would give the file a name the target takes
 * among them, and a retry could only fail again. */
static void
push_unsendable(struct target_state *ts, const struct job *j, const char *error)
{
	struct mirror *m = ts->m;
	int64_t since, until;

	/* On show in `mirror status` and the admin page, with the target's
	 * state as it is (a drop does not make it fail). */
	pthread_mutex_lock(&ts->lock);
	since = ts->failing_since_ms;
	until = ts->backoff_until_ms;
	pthread_mutex_unlock(&ts->lock);
	queue_target_state(m->q, ts->t->name, since, until, error);
	stats_target_add(m->stats, ts->stat, STAT_T_FAILURES, 1);
	if (queue_forget(m->q, j) < 0)
		log_err("mirror: cannot drop job %lld", (long long)j->id);
	log_err("mirror push failed target=%s path=%s attempt=%lld: %s; "
	        "dropped: no retry can send it (rename the file to mirror it), "
	        "the target's other jobs go on",
	    ts->t->name, LOGPATH(j->user, j->path),
	    (long long)(j->attempts + 1), error);
}

/*
 * A job the target refuses for as long as something the mirror must not
 * remove stands in its way there (push_result.blocked): parked at once,
 * whatever max_attempts says, its reason on show in `mirror status`, and
 * the target's other jobs go on. Refused as any file, it was tried again
 * every backoff for ever (max_attempts 0, the default), each try a line
 * in the log and a pause of the target every REFUSALS_HOLD tries, and
 * `mirror status` showed it queued, never needing the admin (found by a
 * review). `mirror retry` sends it again once the admin made room.
 */
static void
push_blocked(struct target_state *ts, const struct job *j, const char *error)
{
	struct mirror *m = ts->m;
	int64_t since, until;

	pthread_mutex_lock(&ts->lock);
	/* The target answered: an old failure to reach it is past. */
	ts->fail_error[0] = '\0';
	since = ts->failing_since_ms;
	until = ts->backoff_until_ms;
	pthread_mutex_unlock(&ts->lock);
	/* Target state first: a job seen parked has its reason on show. */
	queue_target_state(m->q, ts->t->name, since, until, error);
	queue_fail(m->q, j, clock_wall_ms(), error, 1);
	stats_target_add(m->stats, ts->stat, STAT_T_FAILURES, 1);
	/* The reason says what to change (something in the way, a path
	 * too long, a folder the account may not enter): "until the
	 * target's admin makes room" told the admin of a refused CWD, or of
	 * a path to shorten in the home, to free space. */
	log_warn("mirror push failed target=%s path=%s attempt=%lld: %s; "
	         "parked as failed: no retry can send it until what it names "
	         "is changed (then 'relayftpd mirror retry %s'); the "
	         "target's other jobs go on",
	    ts->t->name, LOGPATH(j->user, j->path),
	    (long long)(j->attempts + 1), error, ts->t->name);
}

/*
 * The target answered and refused this one job (push_result.file_refused:
 * a 553 to its STOR, a command's exit 65, a webhook's 413): the job waits
 * its own backoff and the target's other jobs go on at once. Backing the
 * target off for it made the refused jobs due again together with it,
 * first in line, so that as many refused files as the target has workers
 * held up every later file of their client for ever. Every REFUSALS_HOLD
 * refusals in a row (no success between) still pause the target as a
 * failure does, so that a full disk, which refuses every file, is not
 * asked for a thousand of them one after the other; the jobs that failed
 * before then wait a second past the pause, and a refused job's own wait
 * starts a step later than a failure's (its attempts + 2), so that the
 * files not yet asked go first.
 */
#define REFUSALS_HOLD 8

static void
push_refused(struct target_state *ts, const struct job *j, const char *error)
{
	struct mirror *m = ts->m;
	const struct mirror_config *mc = &m->cfg->mirror;
	int64_t now = clock_wall_ms(), delay, since, until;
	unsigned hold = REFUSALS_HOLD, step;
	int park, pause;

	if (hold < 2 * ts->nthreads)
		hold = 2 * (unsigned)ts->nthreads;
	step = j->attempts < 0 || j->attempts > UINT_MAX - 2 ?
	    UINT_MAX :
	    (unsigned)j->attempts + 2;
	delay = backoff_delay_ms(mc, step, backoff_random());
	pthread_mutex_lock(&ts->lock);
	/* The target answered: its last failure to connect or to answer
	 * is old news. Kept, every retry of a missing home's job wrote it
	 * again beside the home's note (target_error), and the status
	 * showed the target down while it answered (found by a review). */
	ts->fail_error[0] = '\0';
	pause = ++ts->refusals % hold == 0;
	if (pause) {
		ts->failures++;
		ts->backoff_until_ms =
		    now + backoff_delay_ms(mc, ts->failures, backoff_random());
		if (ts->failing_since_ms == 0)
			ts->failing_since_ms = now;
	}
	since = ts->failing_since_ms;
	until = ts->backoff_until_ms;
	pthread_mutex_unlock(&ts->lock);
	park = backoff_park(mc, j->attempts);
	queue_target_state(m->q, ts->t->name, since, until, error);
	queue_fail(m->q, j, now + delay, error, park);
	stats_target_add(m->stats, ts->stat, STAT_T_FAILURES, 1);
	/* The jobs refused before, this one among them, wait past the
	 * pause, so that it ends with the files not yet asked (a refused
	 * job due by then would be first in its client's line again). */
	if (pause)
		queue_defer_retries(m->q, ts->t->name, until + 1000);
	if (park)
		log_warn("mirror push failed target=%s path=%s attempt=%lld: "
		         "%s; parked as failed (see 'relayftpd mirror retry')",
		    ts->t->name, LOGPATH(j->user, j->path),
		    (long long)(j->attempts + 1), error);
	else
		log_warn(
		    "mirror push failed target=%s path=%s attempt=%lld: "
		    "%s; will retry in %llds (the target refused this file; "
		    "its other jobs go on)",
		    ts->t->name, LOGPATH(j->user, j->path),
		    (long long)(j->attempts + 1), error,
		    (long long)(delay / 1000));
}

static int cue_at_bytes(const struct target_state *ts);

/* push_conn_refused: how long a worker whose login was refused waits for
 * another that holds a job to log in, and how often it looks. */
#define CONN_RACE_MS      2000
#define CONN_RACE_STEP_MS 20

/* A worker's own rest after the target refused its connection while
 * others pushed (push_conn_refused): steps taken, and until when, on the
 * monotonic clock. Not a wall-clock time as the target's pause: no
 * clock_check can reach another thread's variable, and a rest set before
 * the clock was set back an hour lasted the hour (found from outside). */
static _Thread_local unsigned worker_rests;
static _Thread_local uint64_t worker_rest_until_mono;
/* This worker's share of ts->logged_in (note_login). */
static _Thread_local int worker_holds_login;

/* A worker's transport after a request: its connection counted in
 * ts->logged_in while kept (up: transport_logged_in, 0 when it goes). */
static void
note_login(struct target_state *ts, int up)
{
	if (up == worker_holds_login)
		return;
	pthread_mutex_lock(&ts->lock);
	if (up)
		ts->logged_in++;
	else
		ts->logged_in--;
	pthread_mutex_unlock(&ts->lock);
	worker_holds_login = up;
}

/*
 * Job j goes back to the queue uncounted, for an idle worker, and the
 * one that could not push it rests a backoff step of its own (*rests,
 * *until: the lane's in ts, or a worker's thread-local pair), the target
 * neither paused nor shown failing; *until is now plus the step, in now's
 * clock. The delay, or -1 if the job could not be handed back (then it
 * failed as any push). Locks ts.
 */
static int64_t
hand_back(struct target_state *ts, const struct job *j, const char *error,
    unsigned *rests, int64_t now, int64_t *until)
{
	struct mirror *m = ts->m;
	int64_t delay;

	if (queue_release(m->q, j, UINT64_MAX) < 0) {
		/* Not handed back: a failure as any (and counted there, once),
		 * so that the job keeps a due time. */
		push_failed(ts, j, error, 0);
		return -1;
	}
	stats_target_add(m->stats, ts->stat, STAT_T_FAILURES, 1);
	pthread_mutex_lock(&ts->lock);
	(*rests)++;
	delay = backoff_delay_ms(&m->cfg->mirror, *rests, backoff_random());
	*until = now + delay;
	/* Every waiter: a resting worker waits on the same condition and
	 * may take a single wake meant for an idle one. */
	worker_wake_held(ts, 1);
	pthread_mutex_unlock(&ts->lock);
	return delay;
}

/*
 * A push on the express lane failed other than by a refusal of the file:
 * the job goes back to the queue uncounted and an idle worker takes it
 * (its failure there counts, and pauses the target, as any), while the
 * lane rests for a backoff step of its own. The lane is a connection more
 * than workers_per_target: a target that takes no more (a provider's
 * limit per address; pyftpdlib's max_cons_per_ip) refuses it at login,
 * and the target's files must not wait a pause for that.
 */
static void
express_failed(struct target_state *ts, const struct job *j, const char *error)
{
	int64_t delay = hand_back(ts, j, error, &ts->express_failures,
	    clock_wall_ms(), &ts->express_until_ms);

	if (delay >= 0)
		log_warn("mirror target %s: the express lane could not push "
		         "%s: %s; the other workers take it, and the lane "
		         "rests %llds",
		    ts->t->name, LOGPATH(j->user, j->path), error,
		    (long long)(delay / 1000));
}

/*
 * A worker's new connection refused at login (push_result.conn_refused)
 * while others of the target send files: the target takes fewer
 * connections from this address than workers_per_target (pure-ftpd -C 2
 * and the default 4 workers parked files as failed after max_attempts,
 * and paused a target that was pushing, found from outside). The job goes
 * back uncounted to the workers that have a connection, and this one
 * rests. With no other worker sending (a login the target does not take)
 * it is a failure as any. 1 if so handled.
 */
/* Another worker's connection, logged in and kept (this one's own, if it
 * had one, is the one the target closed), or sending bytes (pushing counts
 * those where the cue is the first byte: FTP and SFTP, cue_at_bytes): the
 * target takes this address's logins. Called with ts->lock held. */
static size_t
others_logged_in(const struct target_state *ts)
{
	size_t others = ts->logged_in - (size_t)worker_holds_login;

	if (cue_at_bytes(ts) && ts->pushing > others)
		others = ts->pushing;
	return others;
}

static int
push_conn_refused(
    struct target_state *ts, const struct job *j, const char *error)
{
	const struct timespec step = { 0, CONN_RACE_STEP_MS * 1000000L };
	uint64_t race_end = clock_mono_ms() + CONN_RACE_MS;
	size_t others;
	int64_t delay, until;

	pthread_mutex_lock(&ts->lock);
	others = others_logged_in(ts);
	/* The workers' first logins at once (a start, the end of a pause):
	 * the target took another worker's connection, which has not logged
	 * in or sent a byte yet, and refused this one. Counted a failure,
	 * it paused the target and parked files as failed after
	 * max_attempts (pyftpdlib's max_cons_per_ip 1, 4 workers: 1 to 3 of
	 * 16 files parked in 3 starts of 4, found from outside). So while
	 * another worker holds a job, this one waits for it to get in,
	 * briefly and bounded: a login the target takes from nobody costs
	 * that wait once per failure. */
	while (others == 0 && ts->idle + 1 < ts->nworkers &&
	    !mirror_stopping(ts->m) && clock_mono_ms() < race_end) {
		pthread_mutex_unlock(&ts->lock);
		(void)nanosleep(&step, NULL);
		pthread_mutex_lock(&ts->lock);
		others = others_logged_in(ts);
	}
	pthread_mutex_unlock(&ts->lock);
	if (others == 0)
		return 0;
	delay = hand_back(
	    ts, j, error, &worker_rests, (int64_t)clock_mono_ms(), &until);
	if (delay < 0)
		return 1;
	worker_rest_until_mono = (uint64_t)until;
	log_warn("mirror target %s: a worker's connection was refused "
	         "while %zu others work (%s): the target takes no more "
	         "from here; they take %s and this worker rests %llds "
	         "(workers_per_target may be set to what it takes)",
	    ts->t->name, others, error, LOGPATH(j->user, j->path),
	    (long long)(delay / 1000));
	return 1;
}

/* 1 if the target was failing or paused until now (its workers' waits
 * were set by that), else 0. */
static int
push_succeeded(struct target_state *ts)
{
	int was;

	pthread_mutex_lock(&ts->lock);
	/* Said afresh by the next job that meets either: a note kept
	 * would name a home that may be back since, or a user's old one
	 * once users.ini names its new place. */
	ts->fail_error[0] = '\0';
	ts->home_note[0] = '\0';
	was = ts->failing_since_ms != 0 || ts->backoff_until_ms != 0;
	ts->refusals = 0;
	/* The target answers: a sweep that met it down goes now. */
	ts->sweep_at_ms = 0;
	ts->failures = 0;
	ts->failing_since_ms = 0;
	ts->backoff_until_ms = 0;
	pthread_mutex_unlock(&ts->lock);
	return was;
}

/* Whole seconds of a nanosecond time, rounded down (before 1970 too). */
static time_t
mtime_secs(int64_t mtime_ns)
{
	int64_t s = mtime_ns / 1000000000;

	if (mtime_ns % 1000000000 < 0)
		s--;
	return (time_t)s;
}

/* Sets rpath's time on the target; says once per target that it cannot,
 * and each refusal. */
static enum time_result
set_remote_time(struct target_state *ts, struct transport *tp,
    const struct job *j, const char *path, const char *rpath, int64_t mtime_ns,
    struct push_result *res)
{
	enum time_result r =
	    transport_set_time(tp, rpath, mtime_secs(mtime_ns), res);
	int first;

	switch (r) {
	case TIME_SET:
	case TIME_FAILED:
		break;
	case TIME_CANNOT:
		pthread_mutex_lock(&ts->lock);
		first = !ts->told_no_times;
		ts->told_no_times = 1;
		pthread_mutex_unlock(&ts->lock);
		if (first)
			log_warn("mirror target %s cannot set times (%s): its "
			         "copies carry the time of their push",
			    ts->t->name, res->error);
		break;
	case TIME_REFUSED:
		log_warn("mirror time target=%s path=%s: %s", ts->t->name,
		    LOGPATH(j->user, path), res->error);
		break;
	}
	return r;
}

/*
 * Opens the bytes job j must put at target path: path carried through the
 * later renames (queue_source_path), read under the user's change lock so
 * no change of the home is half-recorded meanwhile. Returns 1 with *fd and
 * src, 0 if a later job deletes or replaces them, -1 with errno (ENOENT,
 * EISDIR: not there as a file).
 */
static int
open_source(struct mirror *m, const struct job *j, const char *path, char *src,
    size_t srclen, struct file_state *fs, int *fd)
{
	pthread_mutex_t *lk = mirror_user_lock(m, j->user);
	int r;

	pthread_mutex_lock(lk);
	r = queue_source_path(m->q, j, path, src, srclen);
	if (r == 1) {
		*fd = open_job_file(j, src, fs);
		if (*fd < 0)
			r = -1;
	} else if (r < 0) {
		errno = EIO;
	}
	pthread_mutex_unlock(lk);
	return r;
}

/*
 * After a push: if the file changed while it was read (a program wrote it;
 * its watcher event saw the push in flight and queued nothing), and no job
 * will bring it, queue it again, so the target never keeps older bytes.
 */
static void
recheck_source(struct target_state *ts, const struct job *j, const char *src,
    const struct file_state *pushed)
{
	pthread_mutex_t *lk = mirror_user_lock(ts->m, j->user);
	const char *name = ts->t->name;
	struct job_origin again = { j->flow, 0 };
	struct file_version now;
	struct stat st;
	int root, changed = 0;

	pthread_mutex_lock(lk);
	root = fs_open_root(j->home, 0);
	if (root >= 0) {
		/* Another inode: a file renamed over the pushed one, maybe
		 * with its size and time (cp -p, rsync -t). */
		changed = fs_stat(root, src, &st) == 0 && S_ISREG(st.st_mode) &&
		    ((uint64_t)st.st_size != pushed->size ||
		        (int64_t)st.st_mtim.tv_sec * 1000000000 +
		                st.st_mtim.tv_nsec !=
		            pushed->mtime_ns ||
		        (uint64_t)st.st_ino != pushed->ino);
		close(root);
	}
	if (changed) {
		again.bytes = (uint64_t)st.st_size;
		now.size = (uint64_t)st.st_size;
		now.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 +
		    st.st_mtim.tv_nsec;
		now.ino = (uint64_t)st.st_ino;
	}
	/* Renamed meanwhile to a name the target does not take: the rename's
	 * own job settles the target (route.c), no put of that name. */
	if (changed && !route_target_takes_name(ts->t, src))
		changed = 0;
	if (changed &&
	    queue_is_pushed(ts->m->q, name, j->user, src, now.size,
	        now.mtime_ns, now.ino) == 0 &&
	    queue_has_job(ts->m->q, name, j->user, src, &now) == 0 &&
	    queue_add(ts->m->q, &name, 1, JOB_PUT, j->user, j->home, src, NULL,
	        &again) == 0)
		log_info("mirror: /%s%s changed while it was pushed to %s; "
		         "queued again",
		    j->user, src, name);
	pthread_mutex_unlock(lk);
}

/* Whether this thread is a target's express lane (worker_loop): the
 * lane never counts itself in its own cue. */
static _Thread_local int on_lane;

/* A push in flight as the admin sees it (stats.h): its slot (-1 none),
 * told the bytes the transport has sent; and for the express lane's cue
 * (ts->pushing), whether it counts there yet. */
struct push_progress {
	struct stats *s;
	int slot;
	struct target_state *ts;
	int counted;
};

/*
 * On an FTP, FTPS or SFTP target a worker counts as pushing for the lane
 * from its push's first bytes: its connection is then logged in and
 * held. Counted from its claim, a worker still logging in after a restart
 * let the lane log in first, and the worker's login got the 421 of a
 * target that takes as many connections as workers (seen in CI under
 * load). Elsewhere (a command, a webhook, an object store: no such
 * limit, and some tell no progress) from its claim to its end.
 */
static int
cue_at_bytes(const struct target_state *ts)
{
	return transport_kind_has_folders(ts->t);
}

static void
push_progress(void *ctx, uint64_t done)
{
	struct push_progress *p = ctx;

	if (p->slot >= 0)
		stats_push_progress(p->s, p->slot, done);
	if (p->counted || on_lane || done == 0 || !cue_at_bytes(p->ts))
		return;
	p->counted = 1;
	pthread_mutex_lock(&p->ts->lock);
	if (++p->ts->pushing >= p->ts->nworkers && p->ts->has_express)
		pthread_cond_signal(&p->ts->express_wake);
	pthread_mutex_unlock(&p->ts->lock);
}

/*
 * Sends the bytes of fd (size) to rpath, shown in flight meanwhile; counts
 * what the admin sees of a push: a copy that did not verify, the bytes of
 * one that did, and for the put of an upload its relay latency (from the
 * job's creation, before the 226, to published). 0, or -1 (res).
 */
static int
send_file(struct target_state *ts, struct transport *tp, const struct job *j,
    const char *path, int fd, uint64_t size, int64_t mtime_ns,
    const char *rpath, struct push_result *res, int *streamed)
{
	struct stats *s = ts->m->stats;
	struct push_progress pp = { s, -1, ts, 0 };
	struct stream_copy *sc;
	const char *from;
	int64_t tag;
	int rc, refused = 0;

	pp.slot = stats_push_begin(s, ts->stat, j->user, path, size);
	/* Sent while it arrived (stream.h): only the check and the rename
	 * are left. A copy that does not verify is pushed again whole. */
	*streamed = 0;
	if (stream_take(ts->m, (unsigned)(ts - ts->m->targets), fd, size,
	        mtime_ns, rpath, &sc, &from, &tag) == 1) {
		char parent[RFTP_RPATH_MAX];
		struct push_result mres;

		*streamed =
		    transport_finish(tp, fd, size, from, tag, rpath, res) == 0;
		/* The copy waits at the top of the target's folder: the
		 * file's own folder may not be there yet (a push makes it
		 * with its upload). */
		if (!*streamed && !res->unsendable && !mirror_stopping(ts->m) &&
		    rpath_parent(rpath, parent, sizeof(parent)) == 0 &&
		    transport_mkdir(tp, parent, &mres) == 0)
			*streamed = transport_finish(tp, fd, size, from, tag,
			                rpath, res) == 0;
		stream_settle(ts->m, sc, *streamed);
		/* A name no push can take (a twin's on a target that ignores
		 * case, learnt by this copy's verify) is not sent again
		 * whole only to be refused again. */
		if (!*streamed && res->unsendable)
			refused = 1;
		else if (!*streamed && !mirror_stopping(ts->m))
			log_info(
			    "mirror stream target=%s path=%s: the copy "
			    "sent while it arrived was not published (%s); "
			    "pushing it again",
			    ts->t->name, LOGPATH(j->user, path), res->error);
	}
	transport_on_progress(tp, push_progress, &pp);
	/* A receiver written in place (s3, a command, a webhook) may keep
	 * what this push sends even if it then fails (the file written
	 * while it was sent, a kill -9 before the push is recorded) and the
	 * job ends without another (the file replaced or deleted since):
	 * recorded as maybe held, so that a rename or delete of the name
	 * still reaches what it holds (push_rename). One statement more per
	 * push to such a target, not synced. */
	if (!*streamed && transport_kind_writes_in_place(ts->t) &&
	    queue_record_maybe_held(ts->m->q, ts->t->name, j->user, path) < 0) {
		snprintf(res->error, sizeof(res->error),
		    "cannot record the push of %s in the queue", path);
		rc = -1;
	} else if (refused)
		rc = -1;
	else
		rc = *streamed ?
		    0 :
		    transport_push(tp, fd, size, rpath, j->id, res);
	transport_on_progress(tp, NULL, NULL);
	if (pp.counted) {
		pthread_mutex_lock(&ts->lock);
		ts->pushing--;
		pthread_mutex_unlock(&ts->lock);
	}
	stats_push_end(s, pp.slot);
	if (rc < 0) {
		if (res->mismatch)
			stats_target_add(
			    s, ts->stat, STAT_T_VERIFY_FAILURES, 1);
		return -1;
	}
	stats_target_add(s, ts->stat, STAT_T_BYTES_PUSHED, size);
	/* Only puts: a time job or a rename's repair that sends the file
	 * again did not relay an upload. A put merged into a waiting one
	 * keeps the older creation time: the wait of the first upload. */
	if (j->op == JOB_PUT)
		stats_target_latency(
		    s, ts->stat, (clock_wall_ms() - j->created_ms) * 1000);
	return 0;
}

/* What path is in j's home now; the caller holds the user's change lock,
 * as the pushes read the home. */
int
worker_home_name_state(const struct job *j, const char *path)
{
	struct stat st;
	int root, state = NAME_GONE;

	root = fs_open_root(j->home, 0);
	if (root >= 0) {
		if (fs_stat(root, path, &st) == 0)
			state = S_ISDIR(st.st_mode) ? NAME_FOLDER : NAME_FILE;
		close(root);
	}
	return state;
}

int
worker_move_pushed(struct target_state *ts, const struct job *j,
    const char *path, const char *new_path, const char *what)
{
	/* Settled with the records unchanged, the target was taken to hold
	 * the old name still: a command target never got its next rename (a
	 * put of the newest name instead, the old one left there for good),
	 * a restart's walk pushed it again, a twin check saw it taken. The
	 * job runs again instead (at least once: the target finds it done). */
	if (queue_move_pushed(ts->m->q, ts->t->name, j->user, path, new_path) ==
	    0)
		return 0;
	queue_note_unsettled(ts->m->q, j->id);
	log_err("mirror: cannot record the %s of %s on %s: queued again", what,
	    LOGPATH(j->user, path), ts->t->name);
	return -1;
}

/* 1 if path is a folder in j's home now, else 0. */
int
worker_home_has_folder(
    struct target_state *ts, const struct job *j, const char *path)
{
	int isdir;

	pthread_mutex_lock(mirror_user_lock(ts->m, j->user));
	isdir = worker_home_name_state(j, path) == NAME_FOLDER;
	pthread_mutex_unlock(mirror_user_lock(ts->m, j->user));
	return isdir;
}

/*
 * The target refused folder (made for itself or for a file in it): it may
 * hold a file pushed at folder or above it and kept since the home deleted
 * it (propagate_deletes = off: an archive), where the home has a folder
 * now. FTP says only "denied you to change to the given directory", and
 * every job below stayed refused until parked. As a new upload replaces an
 * archived file's bytes, the folder replaces the file: only one the queue
 * says was pushed there, and only while the home holds a folder at that
 * path. 1 if a file was deleted (try again), 0 if none, -1 (res).
 */
static int
replace_archived_file(struct target_state *ts, struct transport *tp,
    const struct job *j, const char *folder, struct push_result *res)
{
	char level[RFTP_PATH_MAX], rpath[RFTP_RPATH_MAX];
	size_t n = strlen(folder);
	int found = 0;

	if (n >= sizeof(level))
		return 0;
	for (size_t i = 1; i <= n; i++) {
		if (folder[i] != '/' && folder[i] != '\0')
			continue;
		memcpy(level, folder, i);
		level[i] = '\0';
		/* On a flat target users share one tree: a file another
		 * user pushed there since is live, not archived. */
		if (queue_pushed_at(ts->m->q, ts->t->name, j->user, level) !=
		        1 ||
		    (ts->t->flat &&
		        queue_pushed_by_others(
		            ts->m->q, ts->t->name, j->user, level) != 0) ||
		    !worker_home_has_folder(ts, j, level))
			continue;
		if (job_rpath(ts, j, level, rpath, sizeof(rpath), res) < 0 ||
		    transport_delete(tp, rpath, res) < 0)
			return -1;
		log_warn("mirror delete target=%s path=%s: the home has a "
		         "folder there now, where the target kept the file "
		         "pushed before; deleted (if the target lets it) so "
		         "that the folder replaces it, as a new upload "
		         "replaces its bytes",
		    ts->t->name, LOGPATH(j->user, level));
		/* Kept, the record had the folder's every push delete it
		 * again: the push is tried again instead. */
		if (queue_move_pushed(
		        ts->m->q, ts->t->name, j->user, level, NULL) < 0) {
			snprintf(res->error, sizeof(res->error),
			    "cannot record the delete of %s in the queue",
			    LOGPATH(j->user, level));
			return -1;
		}
		found = 1;
	}
	return found;
}

/*
 * The other way round: the target refused a file where it holds a folder
 * with files pushed before and kept since the home removed them (an
 * archive). Those are not deleted for it (a folder's worth of archived
 * files for one new file): the admin decides, told so instead of "rename:
 * QUOT command failed with 550".
 */
static void
archived_folder_error(struct push_result *res)
{
	char why[160];

	snprintf(why, sizeof(why), "%.159s", res->error);
	snprintf(res->error, sizeof(res->error),
	    "the target holds a folder by this name, with files pushed "
	    "before and kept since the home removed them; the home has a "
	    "file there now: move that folder away on the target, then "
	    "`relayftpd mirror retry` (%s)",
	    why);
	res->blocked = 1;
}

/* What target_has_folder looks for in a listing, and what it found. */
struct folder_probe {
	const char *name;
	int blind; /* the target ignores ASCII letter case */
	int found; /* 1: a folder by that name */
};

static void
folder_probe_entry(void *ctx, const char *name, int64_t size, int is_dir)
{
	struct folder_probe *p = ctx;

	(void)size;
	if (is_dir &&
	    (p->blind ? strcasecmp(name, p->name) : strcmp(name, p->name)) == 0)
		p->found = 1;
}

/* 1 if the target holds a folder at rpath (its parent's listing says
 * so), 0 if not, -1 if it could not be asked. Nothing is kept of the
 * listing but the answer: a parent of any size costs no memory. On a
 * target known to ignore letter case (casetwin.c), a folder "REPORT"
 * holds the name "report" there: compared so, else such a file was
 * refused and tried again for ever (found by a review, on exFAT). */
static int
target_has_folder(
    struct target_state *ts, struct transport *tp, const char *rpath)
{
	char parent[RFTP_RPATH_MAX];
	const char *slash = strrchr(rpath, '/');
	struct folder_probe p;
	struct push_result lres;
	size_t n;

	if (slash == NULL || slash[1] == '\0')
		return -1;
	n = (size_t)(slash - rpath);
	if (n >= sizeof(parent))
		return -1;
	memcpy(parent, rpath, n);
	parent[n] = '\0';
	if (n == 0)
		snprintf(parent, sizeof(parent), "/");
	p.name = slash + 1;
	p.blind = atomic_load(&ts->case_blind) == 1;
	p.found = 0;
	memset(&lres, 0, sizeof(lres));
	if (transport_list(tp, parent, folder_probe_entry, &p, &lres) < 0)
		return -1;
	return p.found;
}

/*
 * The target refused a file where it holds a folder the mirror never
 * pushed (the target's own: nothing of the queue's records is below the
 * name). Never removed for it (what the mirror did not put there is not
 * its to delete): the job is parked with a reason that names the path on
 * the target and the target (push_blocked).
 */
static void
own_folder_error(
    struct target_state *ts, const char *rpath, struct push_result *res)
{
	char why[160], url[sizeof(ts->t->url)];

	/* The whole place, as the target's admin finds it: the URL's
	 * folder and host, never its login. */
	mirror_url_without_login(ts->t->url, url, sizeof(url));
	snprintf(why, sizeof(why), "%.159s", res->error);
	/* fmt_fixed leaves "" where the text does not fit: a path of 110
	 * bytes under an sftp URL was parked with no reason at all
	 * ("attempt=1: ; parked as failed", found in a review). Then
	 * without the transport's words, then without the URL, then
	 * without the path (the log line names it). */
	if (fmt_fixed(res->error, sizeof(res->error),
	        "target %s holds a folder of its own at %s%s, where the home "
	        "has a file (the mirror did not put it there and does not "
	        "remove it): move that folder away on the target, then "
	        "`relayftpd mirror retry %s` (%s)",
	        ts->t->name, url, rpath, ts->t->name, why) < 0 &&
	    fmt_fixed(res->error, sizeof(res->error),
	        "target %s holds a folder of its own at %s%s, where the home "
	        "has a file (the mirror did not put it there and does not "
	        "remove it): move that folder away on the target, then "
	        "`relayftpd mirror retry %s`",
	        ts->t->name, url, rpath, ts->t->name) < 0 &&
	    fmt_fixed(res->error, sizeof(res->error),
	        "target %s holds a folder of its own at %s (under its url's "
	        "folder), where the home has a file (the mirror did not put "
	        "it there and does not remove it): move that folder away on "
	        "the target, then `relayftpd mirror retry %s`",
	        ts->t->name, rpath, ts->t->name) < 0)
		fmt_fixed(res->error, sizeof(res->error),
		    "target %s holds a folder of its own at this file's path "
		    "(under its url's folder), where the home has a file (the "
		    "mirror did not put it there and does not remove it): "
		    "move that folder away on the target, then `relayftpd "
		    "mirror retry %s`",
		    ts->t->name, ts->t->name);
	res->blocked = 1;
}

/*
 * Whether put (or time) j's file, gone from the home, was moved away by a
 * rename whose new name is queued as a put (renames not propagated: a
 * camera's temporary name), so that its bytes are not lost and the home
 * need not be walked for them. A rename over FTP holds the user's change
 * lock from before the rename until its jobs are committed, and
 * open_source looked under that lock: a rename that made the name gone is
 * recorded by now. A time job is told only if it was tried (the rename
 * kept it for the copy it may have left, queue.c add_jobs).
 */
static int
moved_away(struct mirror *m, const struct job *j)
{
	return (j->op == JOB_PUT || j->op == JOB_TIME) &&
	    queue_take_moved(m->q, j->id) == 1;
}

/*
 * Whether j's file is gone only because its home is: the folder users.ini
 * still names for the user is not there (moved away before users.ini
 * says where to, a disk not mounted yet). Such a job is not dropped: a
 * walk of a missing home finds nothing, and with the watcher off (or a
 * mount, which inotify does not see) nothing walked it again once it was
 * back, so the files the 226s promised stayed off the targets until a
 * restart (found from outside). A home users.ini moved elsewhere, or a
 * user taken out, is not this: the rescan walks the new home.
 */
static int
home_is_missing(struct mirror *m, const struct job *j)
{
	struct user u;
	int root = fs_open_root(j->home, 0);

	if (root >= 0) {
		close(root);
		return 0;
	}
	if (errno != ENOENT && errno != ENOTDIR)
		return 0;
	return userdb_lookup(m->users, j->user, &u) == 0 &&
	    strcmp(u.home, j->home) == 0;
}

/*
 * Why t no longer takes path of j's user, or NULL if it does (path NULL:
 * the user alone, whatever the name: an rmdir, route.c). The route
 * was decided when the job was queued; include, exclude (relayftpd.ini,
 * a restart) and the user's mirror list (users.ini, a reload) may have
 * changed since, while it waited for a target that was down: a file the
 * admin had just left out of a target was pushed there all the same
 * (found from outside). A user taken out of users.ini keeps what was
 * queued for them (their uploads got their 226).
 */
static const char *
routed_away(struct mirror *m, const struct target_config *t,
    const struct job *j, const char *path)
{
	const char *why = NULL;
	struct user_set *set;
	uint64_t gen = 0; /* always a reference to the set served now */
	size_t i;

	if (path != NULL && !route_target_takes_name(t, path))
		return "left out by the target's include or exclude, set since "
		       "it was queued";
	set = userdb_users(m->users, &gen);
	if (set == NULL)
		return NULL;
	if (users_set_index(set, j->user, &i) == 0) {
		struct user u;

		users_set_get(set, i, &u);
		if (!route_user_wants(u.mirror, t->name))
			why = "the user's mirror in users.ini no longer names "
			      "this target";
	}
	users_set_free(set);
	return why;
}

/*
 * A push of fd (f) to rpath dropped before its bytes go: the copy sent
 * while the file arrived (stream.h), if any, goes too. Else it waited
 * for a taker on the target, under a temporary name, holding the upload
 * open and a stream's place, for ten minutes (found from outside: the
 * twin of a name on a target that ignores letter case).
 */
static void
drop_streamed_copy(struct target_state *ts, int fd, const struct file_state *f,
    const char *rpath)
{
	struct stream_copy *sc;
	const char *from;
	int64_t tag;

	if (stream_take(ts->m, (unsigned)(ts - ts->m->targets), fd, f->size,
	        f->mtime_ns, rpath, &sc, &from, &tag) == 1)
		stream_settle(ts->m, sc, 0);
}

/* path's push (of f) is dropped for good: beside twin, which holds its
 * name on a target that ignores case, or ("" twin) for a name the target
 * cannot take. Recorded, so that neither the start-up walk nor a resync
 * sends it again while that holds (catchup.c dropped_before). A record
 * that cannot be written only costs that send. */
static void
twin_dropped(struct target_state *ts, const struct job *j, const char *path,
    const struct file_state *f, const char *twin)
{
	if (queue_record_twin_dropped(ts->m->q, ts->t->name, j->user, path,
	        f->size, f->mtime_ns, twin) < 0)
		log_err("mirror: cannot record in the queue that %s was "
		        "dropped for %s: the next start sends it again",
		    LOGPATH(j->user, path), ts->t->name);
}

/* Pushes the bytes for path (the job's path, or a rename's new path) and
 * settles the job: done (pushed) or forgotten (nothing left to push).
 * Returns 0 then, -1 if it failed (res; the job is left to the caller).
 * The job row is deleted exactly once here. */
static int
push_file(struct target_state *ts, struct transport *tp, const struct job *j,
    const char *path, struct push_result *res)
{
	struct job_origin timejob = { j->flow, 0 };
	struct timespec t0, t1;
	char rpath[RFTP_RPATH_MAX], src[RFTP_PATH_MAX] = "";
	char folder[RFTP_PATH_MAX], twin[RFTP_PATH_MAX], shown[LOGPATH_MAX];
	const char *name = ts->t->name;
	struct push_result tres;
	struct file_state f = { 0, 0, 0 };
	int fd = -1, r, streamed = 0, guarded = 0;
	const char *away = routed_away(ts->m, ts->t, j, path);

	r = away != NULL ?
	    0 :
	    open_source(ts->m, j, path, src, sizeof(src), &f, &fd);
	if (r <= 0) {
		int err = away != NULL ? 0 : errno;
		const char *why;

		if (r < 0 && err != ENOENT && err != EISDIR) {
			/* The file's own faults; not the process's (no
			 * descriptor or memory left, which every job would
			 * meet: the target pauses as for a failure, so the
			 * queue is not run through and parked; found by a
			 * review), nor EIO (the queue could not say where
			 * the file is). */
			res->unreadable = err == EACCES || err == EPERM ||
			    err == ELOOP || err == EXDEV || err == ENXIO ||
			    err == ENODEV || err == ETXTBSY || err == EOVERFLOW;
			res->busy = err == ETXTBSY; /* open_job_file */
			snprintf(res->error, sizeof(res->error),
			    "%.400s: cannot read it here: %s", src,
			    err == ELOOP || err == EXDEV ?
			        "a symbolic link, which the mirror does "
			        "not follow" :
			        err == ETXTBSY ?
			        "another program has it open for writing "
			        "(pushed once it is closed)" :
			        strerror(err));
			return -1;
		}
		if (r < 0 && err == ENOENT && home_is_missing(ts->m, j)) {
			res->unreadable = 1;
			res->home_missing = 1;
			snprintf(res->error, sizeof(res->error),
			    "the home %.300s is not there (moved away, or its "
			    "disk not mounted?): pushed once it is back, or "
			    "once users.ini names its new place",
			    j->home);
			return -1;
		}
		/* Nothing to push. An earlier attempt (or one a crash cut
		 * short) may have left its temporary copy on the target:
		 * remove it first, or keep the job to try again. Known from
		 * `tried`, not the attempts on record: `mirror retry` and a
		 * new upload of a parked path reset those, not the copy. */
		if (job_rpath(ts, j, path, rpath, sizeof(rpath), res) < 0)
			return -1;
		stream_forget(ts->m, (unsigned)(ts - ts->m->targets), rpath);
		if (j->tried || j->recovered) {
			int d = transport_discard(tp, rpath, j->id);

			if (d < 0) {
				snprintf(res->error, sizeof(res->error),
				    "cannot remove the temporary copy of %s",
				    path);
				return -1;
			}
			if (d == 1)
				log_warn("mirror target=%s path=%s: the target "
				         "would not remove the temporary copy "
				         "of an earlier attempt (does its "
				         "account take deletes?): remove it "
				         "there by hand",
				    ts->t->name, LOGPATH(j->user, j->path));
		}
		queue_forget(ts->m->q, j);
		if (r < 0 && err == ENOENT && moved_away(ts->m, j)) {
			r = 0;
			why = "renamed meanwhile: its new name is queued";
		} else if (away != NULL)
			why = away;
		else if (r == 0)
			why = "deleted or replaced by a later change";
		else if (err == EISDIR)
			why = "a folder now (its folders are made there); the "
			      "user's home is scanned again";
		else
			why = "no longer in the home; the user's home is "
			      "scanned again";
		/* Gone for no queued reason: the bytes may be elsewhere
		 * (moved by a program, or published into a folder renamed
		 * meanwhile). Never a silent drop: look again. */
		if (r < 0 && err == EISDIR &&
		    catchup_queue_folders(ts->m, ts->t, j, path) > 0)
			mirror_wake_all(ts->m);
		if (r < 0)
			catchup_request_rescan(ts->m, j->user);
		log_info("mirror skip target=%s path=%s: %s", ts->t->name,
		    LOGPATH(j->user, path), why);
		return 0;
	}
	if (job_rpath(ts, j, path, rpath, sizeof(rpath), res) < 0) {
		close(fd);
		return -1;
	}
	/* Never over another file's copy: known case-blind, the push is
	 * dropped before its bytes go; not known yet, its verify learns it
	 * before the copy gets its name (transport_guard_case). */
	if (casetwin_matters(ts) &&
	    casetwin_find(ts, j, path, 0, twin, sizeof(twin)) == 1) {
		logpath(shown, sizeof(shown), j->user, twin);
		if (atomic_load(&ts->case_blind) == 1) {
			drop_streamed_copy(ts, fd, &f, rpath);
			close(fd);
			twin_dropped(ts, j, path, &f, twin);
			res->unsendable = 1;
			snprintf(res->error, sizeof(res->error),
			    "the target does not tell %.200s from %.200s (it "
			    "ignores letter case), whose copy there it would "
			    "replace: not pushed",
			    LOGPATH(j->user, path), shown);
			return -1;
		}
		transport_guard_case(tp, shown);
		guarded = 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = send_file(
	    ts, tp, j, path, fd, f.size, f.mtime_ns, rpath, res, &streamed);
	/* Where folders are: on an object store or a receiver, a name
	 * and the names below it do not exclude each other. */
	if (r < 0 && res->file_refused && transport_kind_has_folders(ts->t) &&
	    !mirror_stopping(ts->m) &&
	    rpath_parent(path, folder, sizeof(folder)) == 0 &&
	    replace_archived_file(ts, tp, j, folder, res) == 1) {
		/* Said of this send alone (a refused copy sets none). */
		res->at_final_name = 0;
		r = send_file(ts, tp, j, path, fd, f.size, f.mtime_ns, rpath,
		    res, &streamed);
	}
	transport_guard_case(tp, NULL);
	casetwin_note(ts, tp);
	close(fd);
	if (r < 0 &&
	    casetwin_refused(ts, j, path, res, twin, sizeof(twin)) == 1) {
		twin_dropped(ts, j, path, &f, twin);
		return -1;
	}
	/* Dropped by the verify that learnt the target ignores case
	 * (transport_guard_case): beside twin, as above. Else a name the
	 * target cannot take (pure-ftpd's trailing blank): the same
	 * verdict, with no twin. */
	if (r < 0 && res->unsendable)
		twin_dropped(ts, j, path, &f,
		    guarded && atomic_load(&ts->case_blind) == 1 ? twin : "");
	/* Only a refused rename onto the final name can be a folder's
	 * doing: a refused copy (a full disk, a quota, a folder closed to
	 * writes) was parked as an archived folder where the queue had
	 * files below the name, though the target's admin had removed that
	 * folder long before (found by a review). */
	if (r < 0 && res->file_refused && res->at_final_name &&
	    transport_kind_has_folders(ts->t) && !mirror_stopping(ts->m)) {
		if (queue_pushed_below(ts->m->q, name, j->user, path) == 1)
			archived_folder_error(res);
		else if (target_has_folder(ts, tp, rpath) == 1)
			own_folder_error(ts, rpath, res);
	}
	if (r < 0)
		return -1;
	/* The copy carries the file's time, not the push's. If the
	 * connection broke just now, a time job of its own redoes only
	 * that (the bytes are in place). A target that never answered it
	 * (an sftp SETSTAT held) cost the push its whole timeout: said,
	 * and counted in the push's duration (found by a review: the
	 * push line said 0.003 s, 5 s after the file came, with no line
	 * naming the wait). */
	if (set_remote_time(ts, tp, j, path, rpath, f.mtime_ns, &tres) ==
	    TIME_FAILED) {
		log_warn("mirror time target=%s path=%s: %s: the bytes are in "
		         "place, the time is set again by a job of its own",
		    ts->t->name, LOGPATH(j->user, path), tres.error);
		if (queue_add(ts->m->q, &name, 1, JOB_TIME, j->user, j->home,
		        path, NULL, &timejob) < 0)
			log_err("mirror: cannot queue the time of %s for %s",
			    path, ts->t->name);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* Logged before the job is settled, so a drained queue implies the
	 * line is written (a crash in between only repeats the push). */
	log_info("mirror push target=%s path=%s bytes=%llu duration=%.3fs "
	         "attempts=%lld verify=%s%s%s%s%s%s",
	    ts->t->name, LOGPATH(j->user, path), (unsigned long long)f.size,
	    (double)(t1.tv_sec - t0.tv_sec) +
	        (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	    (long long)(j->attempts + 1), res->verify_used,
	    res->fell_back ? " (target offers no digest of the file: no "
	                     "XSHA256, HASH or XMD5 over FTP, no SHA-256 "
	                     "checksum or MD5 ETag on S3: fell back to size)" :
	                     "",
	    j->recovered ? " (redone after a restart)" : "",
	    streamed ? " (sent while it arrived)" : "",
	    strcmp(src, path) != 0 ? " from=" : "",
	    strcmp(src, path) != 0 ? LOGPATH(NULL, src) : "");
	if (queue_done_pushed(ts->m->q, j, path, f.size, f.mtime_ns, f.ino) < 0)
		log_err("mirror: cannot record the push of %s to %s", path,
		    ts->t->name);
	else
		recheck_source(ts, j, src, &f);
	return 0;
}

static int push_new_name(struct target_state *ts, struct transport *tp,
    const struct job *j, const char *to, struct push_result *res);

/* What remove_old_tree has listed so far, over all its levels, against
 * RFTP_REPAIR_ENTRIES_MAX and RFTP_REPAIR_FOLDERS_MAX. */
struct old_walk {
	size_t entries, folders;
};

/* The entries of one folder of a target (remove_old_tree). */
struct old_entries {
	char **name;
	unsigned char *is_dir;
	size_t n, cap;
	struct old_walk *walk;
	int failed;   /* out of memory or past the bound: incomplete */
	int past_max; /* with failed: the walk's bound, not memory */
};

static void
old_entry(void *ctx, const char *name, int64_t size, int is_dir)
{
	struct old_entries *e = ctx;
	char **nn;
	unsigned char *nd;
	size_t ncap;

	(void)size;
	if (e->failed || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return;
	if (e->walk->entries >= RFTP_REPAIR_ENTRIES_MAX ||
	    (is_dir && e->walk->folders >= RFTP_REPAIR_FOLDERS_MAX)) {
		e->failed = e->past_max = 1;
		return;
	}
	e->walk->entries++;
	if (is_dir)
		e->walk->folders++;
	if (e->n == e->cap) {
		ncap = e->cap ? e->cap * 2 : 16;
		nn = realloc(e->name, ncap * sizeof(*nn));
		if (nn == NULL) {
			e->failed = 1;
			return;
		}
		e->name = nn;
		nd = realloc(e->is_dir, ncap);
		if (nd == NULL) {
			e->failed = 1;
			return;
		}
		e->is_dir = nd;
		e->cap = ncap;
	}
	e->name[e->n] = strdup(name);
	if (e->name[e->n] == NULL) {
		e->failed = 1;
		return;
	}
	e->is_dir[e->n++] = is_dir != 0;
}

static void
old_entries_free(struct old_entries *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->name[i]);
	free(e->name);
	free(e->is_dir);
}

/* What a refused rename's repair left of the old folder (remove_old_tree):
 * files the mirror did not put there; what the target refused to remove,
 * the mirror's own files among it maybe. Said apart: the repair's
 * warning said "files the mirror did not put there" of the mirror's own
 * file in a folder the target would not list. */
#define KEPT_FOREIGN 1
#define KEPT_REFUSED 2

/*
 * Removes from the target the folder rdir, which held the home's folder
 * hdir, with the files the mirror pushed there (a record of the target's
 * at hdir/name) and its folders from the bottom up, depth levels at most
 * below it. Any other file there stays, and so its folders, with
 * KEPT_FOREIGN in *kept: the target's own, or a case twin's on a target
 * that ignores case ("D1/y" sits in "d1" there), which the home still
 * has; a removal the target refuses keeps what it holds too
 * (test_mirror_hostile), with KEPT_REFUSED where nothing kept below
 * tells why (a file of the mirror's the target would not delete, a
 * folder it would not list: vsftpd's of mode 000). A folder that is not
 * there is success. 0, or -1 (res): the job is tried again, and what
 * was removed stays removed.
 */
/*
 * remove_old_tree met what no retry changes (a folder nested too deep, a
 * name too long, more than its bound lists): the job is parked, saying
 * where on the target (url without its login, and rdir) and why
 * (push_result.blocked). Retried, it met the same at every backoff for
 * ever, and a hostile target's folders were walked each time.
 */
static void
old_tree_blocked(const struct target_state *ts, const char *rdir,
    struct push_result *res, const char *why)
{
	char url[sizeof(ts->t->url)];

	mirror_url_without_login(ts->t->url, url, sizeof(url));
	fmt_fixed(res->error, sizeof(res->error),
	    "the old folder of a refused rename on target %s cannot be "
	    "removed: %s, at %s%s; remove it there by hand (what was "
	    "removed stays removed), then `relayftpd mirror retry %s`",
	    ts->t->name, why, url, rdir, ts->t->name);
	res->blocked = 1;
}

static int
remove_old_tree(struct target_state *ts, struct transport *tp,
    const struct job *j, const char *rdir, const char *hdir, int depth,
    struct old_walk *walk, int *kept, struct push_result *res)
{
	struct old_entries e;
	char child[RFTP_RPATH_MAX], hchild[RFTP_PATH_MAX], why[128];
	int rc = -1, n, h, ours, below = 0;

	memset(&e, 0, sizeof(e));
	e.walk = walk;
	if (depth > RFTP_PATH_DEPTH_MAX) {
		fmt_fixed(why, sizeof(why),
		    "it is nested deeper than %d folders", RFTP_PATH_DEPTH_MAX);
		old_tree_blocked(ts, rdir, res, why);
		return -1;
	}
	if (transport_list(tp, rdir, old_entry, &e, res) < 0)
		goto out;
	if (e.failed && e.past_max) {
		fmt_fixed(why, sizeof(why),
		    "it lists more than %u entries or %u folders in all",
		    (unsigned)RFTP_REPAIR_ENTRIES_MAX,
		    (unsigned)RFTP_REPAIR_FOLDERS_MAX);
		old_tree_blocked(ts, rdir, res, why);
		goto out;
	}
	if (e.failed) {
		snprintf(res->error, sizeof(res->error),
		    "cannot hold the listing of the old folder (out of "
		    "memory)");
		goto out;
	}
	for (size_t i = 0; i < e.n; i++) {
		n = snprintf(child, sizeof(child), "%s/%s", rdir, e.name[i]);
		h = snprintf(hchild, sizeof(hchild), "%s/%s", hdir, e.name[i]);
		if (n < 0 || (size_t)n >= sizeof(child) || h < 0 ||
		    (size_t)h >= sizeof(hchild)) {
			old_tree_blocked(
			    ts, rdir, res, "a name in it is too long");
			goto out;
		}
		if (e.is_dir[i]) {
			if (remove_old_tree(ts, tp, j, child, hchild, depth + 1,
			        walk, &below, res) < 0)
				goto out;
			continue;
		}
		ours = queue_pushed_at(ts->m->q, ts->t->name, j->user, hchild);
		if (ours < 0) {
			snprintf(res->error, sizeof(res->error),
			    "cannot read the queue's records of the old folder");
			goto out;
		}
		if (ours == 0) {
			below |= KEPT_FOREIGN;
			continue;
		}
		if (transport_delete(tp, child, res) < 0)
			goto out;
		if (res->kept)
			below |= KEPT_REFUSED;
	}
	if (transport_rmdir(tp, rdir, res) < 0)
		goto out;
	/* A folder kept for what it holds says no more than that. */
	if (res->kept && below == 0)
		below = KEPT_REFUSED;
	rc = 0;
out:
	*kept |= below;
	old_entries_free(&e);
	return rc;
}

/*
 * A rename the target refused even with the new name's folder made: its
 * old name is missing there (never pushed, excluded before), or the new
 * name is taken there (a folder with files in it). Remove the old name and
 * give the target the bytes of the new name, or for a folder make it and
 * let the scanner push what is inside. A folder's old name goes with all
 * it holds: DELE does not remove a folder, and a folder left there under
 * the name the home renamed away stayed on the target for good, files and
 * all (test_converge_wide, found with a full target disk and kill -9).
 */
static int
repair_rename(struct target_state *ts, struct transport *tp,
    const struct job *j, const char *from, const char *to,
    struct push_result *res)
{
	log_info("mirror rename target=%s path=%s: %s; pushing %s "
	         "instead",
	    ts->t->name, LOGPATH(j->user, j->path), res->error,
	    LOGPATH(j->user, j->arg));
	int held, kept = 0;
	struct old_walk walk = { 0, 0 };

	if (transport_delete(tp, from, res) < 0)
		return -1;
	/* The old name's folder goes whatever the new name is in the home
	 * now: asked of the new name, a folder renamed while the target was
	 * down and whose new name the home then made a file stayed on the
	 * target for good (test_converge_wide). The old name is gone from
	 * the home; a later folder by it is a later job (queue.h: jobs on a
	 * path wait for the earlier ones on it or above it). Only a name
	 * the target holds a file by is known to be no folder. */
	if (transport_kind_has_folders(ts->t)) {
		held = queue_pushed_at(ts->m->q, ts->t->name, j->user, j->path);
		if (held < 0) {
			snprintf(res->error, sizeof(res->error),
			    "cannot read the queue's record of the old name");
			return -1;
		}
		if (held == 0 &&
		    remove_old_tree(
		        ts, tp, j, from, j->path, 0, &walk, &kept, res) < 0)
			return -1;
		if (kept == KEPT_FOREIGN)
			log_warn("mirror target=%s path=%s: the old folder "
			         "keeps files the mirror did not put there; "
			         "remove it there by hand",
			    ts->t->name, LOGPATH(j->user, j->path));
		else if (kept != 0)
			log_warn("mirror target=%s path=%s: the old folder "
			         "keeps %swhat the target refused to remove "
			         "(the mirror's own files among it, maybe); "
			         "remove it there by hand",
			    ts->t->name, LOGPATH(j->user, j->path),
			    kept & KEPT_FOREIGN ? "files the mirror did not "
			                          "put there and " :
			                          "");
	}
	if (worker_move_pushed(ts, j, j->path, NULL, "delete") < 0)
		return 0;
	return push_new_name(ts, tp, j, to, res);
}

/* What path, carried through the renames queued after j, is in the
 * home now; -1 if the queue cannot tell. */
static int
path_state(struct target_state *ts, const struct job *j, const char *path)
{
	char src[RFTP_PATH_MAX];
	int state = NAME_GONE, r;

	pthread_mutex_lock(mirror_user_lock(ts->m, j->user));
	r = queue_source_path(ts->m->q, j, path, src, sizeof(src));
	if (r == 1)
		state = worker_home_name_state(j, src);
	pthread_mutex_unlock(mirror_user_lock(ts->m, j->user));
	return r < 0 ? -1 : state;
}

/* What j's new name is in the home now (path_state). */
static int
new_name_state(struct target_state *ts, const struct job *j)
{
	return path_state(ts, j, j->arg);
}

/* 1 if j's new name is a folder in the home now; 0 if not (a file, or
 * gone); -1 if the queue cannot tell. */
static int
new_name_is_folder(struct target_state *ts, const struct job *j)
{
	int state = new_name_state(ts, j);

	return state < 0 ? -1 : state == NAME_FOLDER;
}

/* Gives the target j's new name as a put would: the file's bytes, or for
 * a folder the folder, whose files the scanner then pushes. */
static int
push_new_name(struct target_state *ts, struct transport *tp,
    const struct job *j, const char *to, struct push_result *res)
{
	if (new_name_is_folder(ts, j) != 1)
		return push_file(ts, tp, j, j->arg, res);
	if (transport_mkdir(tp, to, res) < 0)
		return -1;
	catchup_request_rescan(ts->m, j->user);
	queue_forget(ts->m->q, j);
	return 0;
}

/* A time job: the target holds the bytes, only the time changed. If it
 * may not hold them (no record of this size, or it refuses), the whole
 * file goes again, which carries the time. */
static int
push_time(struct target_state *ts, struct transport *tp, const struct job *j,
    struct push_result *res)
{
	char rpath[RFTP_RPATH_MAX], when[24] = "?";
	char src[RFTP_PATH_MAX];
	struct timespec ts_m;
	enum time_result tr;
	struct file_state f = { 0, 0, 0 };
	int fd = -1;

	/* Where the file is now (a later rename moves it), as for a push;
	 * anything but a plain file there is push_file's to settle. */
	if (open_source(ts->m, j, j->path, src, sizeof(src), &f, &fd) != 1 ||
	    strcmp(src, j->path) != 0) {
		if (fd >= 0)
			close(fd);
		return push_file(ts, tp, j, j->path, res);
	}
	close(fd);
	/* Another file of that size renamed over it since is no time
	 * change: its bytes go (and setting only the time would record it
	 * as held, so its watcher event would find nothing to push). */
	if (queue_pushed_size(
	        ts->m->q, ts->t->name, j->user, j->path, f.size, f.ino) != 1)
		return push_file(ts, tp, j, j->path, res);
	if (job_rpath(ts, j, j->path, rpath, sizeof(rpath), res) < 0)
		return -1;
	tr = set_remote_time(ts, tp, j, j->path, rpath, f.mtime_ns, res);
	switch (tr) {
	case TIME_SET:
	case TIME_CANNOT:
		break;
	case TIME_REFUSED:
		return push_file(ts, tp, j, j->path, res);
	case TIME_FAILED:
		return -1;
	}
	ts_m.tv_sec = mtime_secs(f.mtime_ns);
	ts_m.tv_nsec = 0;
	if (ftptime_format(&ts_m, when, sizeof(when)) < 0)
		snprintf(when, sizeof(when), "%s", "?");
	log_info("mirror time target=%s path=%s mtime=%s attempts=%lld%s",
	    ts->t->name, LOGPATH(j->user, j->path), when,
	    (long long)(j->attempts + 1),
	    tr == TIME_CANNOT ? " (the target cannot set times)" : "");
	/* Recorded even where the target cannot: the catch-up at start
	 * compares (size, time) and must not push this file again. */
	if (queue_record_pushed(ts->m->q, ts->t->name, j->user, j->path, f.size,
	        f.mtime_ns, f.ino) < 0) {
		/* The job stays "running" otherwise, holding back every later
		 * change of the file until a restart: sent again instead (the
		 * same time, set again). queue_forget says so itself. */
		queue_note_unsettled(ts->m->q, j->id);
		log_err("mirror: cannot record the time of %s on %s", j->path,
		    ts->t->name);
	} else if (queue_forget(ts->m->q, j) < 0)
		log_err("mirror: cannot record the time of %s on %s", j->path,
		    ts->t->name);
	return 0;
}

/*
 * 1 if j renamed a folder, 0 a file (or an empty folder: the queue cannot
 * tell), -1 on error; *state: new_name_state. The new name, carried
 * through the renames queued after j, is a folder in the home now; or,
 * when it is gone since (removed, renamed on), the target holds files
 * pushed below the old name: a folder's, which a delete of the old name
 * as a file would leave there for ever (FTP's DELE of a folder fails, and
 * its failure is not an error).
 */
static int
renamed_a_folder(struct target_state *ts, const struct job *j, int *state)
{
	int r;

	*state = new_name_state(ts, j);
	if (*state < 0)
		return -1;
	/* The target holds a file pushed by the old name: a file's rename,
	 * whatever the new name became in the home since (deleted, then
	 * made a folder: taken for a folder, the file was renamed there and
	 * stayed under a name nothing removes). */
	r = queue_pushed_at(ts->m->q, ts->t->name, j->user, j->path);
	if (r != 0)
		return r < 0 ? -1 : 0;
	if (*state == NAME_FOLDER)
		return 1;
	return queue_pushed_below(ts->m->q, ts->t->name, j->user, j->path);
}

/*
 * The target refused to remove j's path and still has it (transport.h
 * "kept"): said as a warning, and the job ends. Asking again changes
 * nothing while what blocks it stays (rights, another's files), and a job
 * that waited for that would hold back every later job of the user on the
 * path or above it (queue.h), the next upload of the name too.
 */
static void
warn_kept(struct target_state *ts, const struct job *j, const char *path,
    const struct push_result *res)
{
	log_warn("mirror target=%s path=%s: %s; remove it there by hand",
	    ts->t->name, LOGPATH(j->user, path), res->error);
}

/*
 * j's new name, which the target does not take, is gone from the home
 * since: a file then deleted, or a folder then removed (maybe holding
 * empty folders), which the queue cannot tell apart. It is renamed there
 * too, so that the jobs that follow find it (RMD goes to every target,
 * whatever the name); a file, whose delete under a name the target does
 * not take is never queued, is deleted there now with propagate_deletes
 * (a folder's DELE fails, which is no error). 0 done, 1 refused (nothing
 * there by the old name, or something in the way), -1 failed.
 */
static int
rename_gone(struct target_state *ts, struct transport *tp, const struct job *j,
    const char *from, struct push_result *res)
{
	char to[RFTP_RPATH_MAX];

	if (job_rpath(ts, j, j->arg, to, sizeof(to), res) < 0)
		return -1;
	if (transport_rename(tp, from, to, res) < 0)
		return res->refused && !mirror_stopping(ts->m) ? 1 : -1;
	if (worker_move_pushed(ts, j, j->path, j->arg, "rename") < 0)
		return 0;
	if (ts->t->propagate_deletes) {
		if (transport_delete(tp, to, res) < 0)
			return -1;
		if (worker_move_pushed(ts, j, j->arg, NULL, "delete") < 0)
			return 0;
	}
	log_info("mirror rename target=%s path=%s to=%s attempts=%lld: the "
	         "new name, which the target does not take, is gone from "
	         "the home%s",
	    ts->t->name, LOGPATH(j->user, j->path), LOGPATH(j->user, j->arg),
	    (long long)(j->attempts + 1),
	    ts->t->propagate_deletes ?
	        " (deleted there as a file; a folder is removed by the RMD "
	        "jobs that follow)" :
	        "");
	queue_forget(ts->m->q, j);
	return 0;
}

/*
 * j renamed a file to a name this target does not take (route.c: excluded,
 * or shaped like the mirror's temporary names): the file left what is
 * mirrored there. With propagate_deletes its old name is deleted, as a
 * DELE of it would be; without, the target keeps it (archive). Returns 0
 * or -1 as a push; 1 if j is a folder's rename, which goes on as one (its
 * files are still mirrored).
 */
static int
rename_out_of_view(struct target_state *ts, struct transport *tp,
    const struct job *j, const char *from, struct push_result *res)
{
	int state, rc, folder = renamed_a_folder(ts, j, &state);

	if (folder < 0) {
		snprintf(res->error, sizeof(res->error),
		    "cannot read the queue to tell a file from a folder");
		return -1;
	}
	if (folder) {
		if (ts->t->propagate_renames)
			return 1;
		catchup_request_rescan(ts->m, j->user);
		queue_forget(ts->m->q, j);
		return 0;
	}
	/* A file between two names the target does not take was never
	 * there (route.c queues such a rename for a folder's sake). */
	if (!route_target_takes_name(ts->t, j->path)) {
		queue_forget(ts->m->q, j);
		return 0;
	}
	/* An empty folder (MKD, then renamed and removed while the target
	 * was down) is not told from a file by the queue. It stayed there,
	 * and a file given its name later was refused for ever. Only where
	 * folders are: a receiver or an object store would get a rename to
	 * a name it does not take, then its delete, for one delete. */
	if (state == NAME_GONE && ts->t->propagate_renames &&
	    transport_kind_has_folders(ts->t)) {
		rc = rename_gone(ts, tp, j, from, res);
		if (rc <= 0)
			return rc;
	}
	/* RMD removes only an empty folder, which holds no archive, and
	 * failing is no error. */
	if (!ts->t->propagate_deletes) {
		if (transport_rmdir(tp, from, res) < 0)
			return -1;
		log_info("mirror rename target=%s path=%s to=%s: the target "
		         "does not take the new name (include, exclude or a "
		         "temporary name's form) and keeps the old one "
		         "(propagate_deletes = off)",
		    ts->t->name, LOGPATH(j->user, j->path),
		    LOGPATH(j->user, j->arg));
		queue_forget(ts->m->q, j);
		return 0;
	}
	if (transport_delete(tp, from, res) < 0)
		return -1;
	if (res->kept) {
		warn_kept(ts, j, j->path, res);
		queue_forget(ts->m->q, j);
		return 0;
	}
	if (transport_rmdir(tp, from, res) < 0)
		return -1;
	log_info("mirror delete target=%s path=%s attempts=%lld: renamed to "
	         "%s, a name the target does not take (include, exclude or "
	         "a temporary name's form)",
	    ts->t->name, LOGPATH(j->user, j->path),
	    (long long)(j->attempts + 1), LOGPATH(j->user, j->arg));
	if (worker_move_pushed(ts, j, j->path, NULL, "delete") == 0)
		queue_forget(ts->m->q, j);
	return 0;
}

/* A rename on the target; refused, it is repaired (parents, then a push
 * of the new name). */
static int
push_rename(struct target_state *ts, struct transport *tp, const struct job *j,
    struct push_result *res)
{
	char from[RFTP_RPATH_MAX], to[RFTP_RPATH_MAX], parent[RFTP_RPATH_MAX];
	char twin[RFTP_PATH_MAX];
	int rc, blind, kept;

	/* A new name this target cannot be sent: the rename's half it can
	 * be sent is done, the old name removed there (where deletes
	 * propagate), as a refused rename's repair does, and the new
	 * name's push dropped, said. The rename was dropped whole, and the
	 * old name stayed there for good, though the home has it no more. */
	if (job_rpath(ts, j, j->arg, to, sizeof(to), res) < 0) {
		char why[sizeof(res->error)];

		if (!res->unsendable)
			return -1;
		/* Without propagate_deletes the target keeps the old name,
		 * as it does a rename to a name it does not take
		 * (rename_out_of_view): the repair below deleted it, a
		 * folder with all the mirror put in it, from an archive. */
		if (!ts->t->propagate_deletes) {
			log_info(
			    "mirror rename target=%s path=%s: the new name "
			    "cannot be sent, and the target keeps the old "
			    "one (propagate_deletes = off)",
			    ts->t->name, LOGPATH(j->user, j->path));
			return -1; /* res says why, unsendable */
		}
		memcpy(why, res->error, sizeof(why));
		if (job_rpath(ts, j, j->path, from, sizeof(from), res) < 0)
			return -1;
		snprintf(res->error, sizeof(res->error),
		    "the new name cannot be sent (%.300s)", why);
		return repair_rename(ts, tp, j, from, to, res);
	}
	/* An old name this target cannot be sent (a control byte, which
	 * libcurl refuses in an FTP path) holds nothing of the mirror's
	 * there: its push or MKD, and those of all below it, were dropped
	 * for it. The rename was dropped too, and the new name never
	 * arrived, though the drop said to rename the file to mirror it. */
	if (job_rpath(ts, j, j->path, from, sizeof(from), res) < 0) {
		if (!res->unsendable)
			return -1;
		log_info("mirror rename target=%s path=%s: a name the target "
		         "cannot be sent (%s), so never there; pushing %s "
		         "instead",
		    ts->t->name, LOGPATH(j->user, j->path), res->error,
		    LOGPATH(j->user, j->arg));
		memset(res, 0, sizeof(*res));
		return push_new_name(ts, tp, j, to, res);
	}
	/* RNTO to the name RNFR gave changes nothing in the home (rename(2)
	 * of a name onto itself), but S3's rename, a copy then a delete of
	 * the old key, deleted the object. Nothing to do on any target. */
	if (strcmp(j->path, j->arg) == 0) {
		log_info("mirror rename target=%s path=%s to=%s attempts=%lld "
		         "(the same name: nothing to do)",
		    ts->t->name, LOGPATH(j->user, j->path),
		    LOGPATH(j->user, j->arg), (long long)(j->attempts + 1));
		queue_forget(ts->m->q, j);
		return 0;
	}
	/* On a target that ignores letter case the old name's copy may be
	 * a twin's (the old name's own push was dropped for it), and the
	 * new name may be a twin's: RNFR then moved the twin's copy away,
	 * or RNTO replaced it (found from outside). The file goes to its
	 * new name as a push instead, which keeps off a twin's copy. So
	 * where the target's case is not known yet (after a restart, a
	 * rename before any verified push: RNTO replaced the twin's copy,
	 * found from outside): the push's verify learns it. */
	blind = atomic_load(&ts->case_blind);
	if (casetwin_matters(ts) && new_name_is_folder(ts, j) == 0 &&
	    (casetwin_find(ts, j, j->path, 0, twin, sizeof(twin)) == 1 ||
	        casetwin_find(ts, j, j->arg, 0, twin, sizeof(twin)) == 1)) {
		log_info("mirror rename target=%s path=%s to=%s: beside %s, "
		         "which the target %s from one of them (it %s letter "
		         "case): the new name is pushed instead",
		    ts->t->name, LOGPATH(j->user, j->path),
		    LOGPATH(j->user, j->arg), LOGPATH(j->user, twin),
		    blind == 1 ? "does not tell" : "may not tell",
		    blind == 1 ? "ignores" : "may ignore");
		if (blind == 1)
			return push_file(ts, tp, j, j->arg, res);
		/* Not known yet: the old name's copy goes first, as RNFR
		 * would have moved it; a target that cannot be reached
		 * leaves the job to its retry, nothing settled. Deleted
		 * after the push only where the push learnt the case, it
		 * stayed for good when the push was skipped (the new name
		 * left the home since) or the link failed (found by a
		 * review). On a target that ignores case that copy may be
		 * the old name's twin's: the twin is queued again at once,
		 * not after the push, whose retry (the case known by then)
		 * would not. */
		if (transport_delete(tp, from, res) < 0)
			return -1;
		kept = res->kept;
		if (kept)
			log_warn("mirror rename target=%s path=%s to=%s: the "
			         "old name's copy stays there: %s",
			    ts->t->name, LOGPATH(j->user, j->path),
			    LOGPATH(j->user, j->arg), res->error);
		else if (worker_move_pushed(ts, j, j->path, NULL, "delete") < 0)
			return 0;
		memset(res, 0, sizeof(*res));
		if (!kept &&
		    casetwin_find(ts, j, j->path, 0, twin, sizeof(twin)) == 1 &&
		    casetwin_push_again(ts, j, twin, 0, res) < 0)
			return -1;
		return push_file(ts, tp, j, j->arg, res);
	}
	/* A folder beside its twin ("x" beside "X", one folder there): RNFR
	 * moved the twin's files too ("X/f1" to "y/f1", found from
	 * outside). Only where the target is known to ignore case: where it
	 * is not known yet (after a restart) the copies deleted are those
	 * the home's new folder names, so a file renamed or removed in it
	 * since kept the old folder on a target that tells cases apart for
	 * good (test_converge, a kill -9 and a folder renamed to "B" beside
	 * "b"; the rename is right there). Not a rename in letter case only
	 * ("Dir" to "dir"), which moves the one folder there as it should. */
	if (blind == 1 && strcasecmp(j->path, j->arg) != 0 &&
	    new_name_is_folder(ts, j) == 1 &&
	    (casetwin_find(ts, j, j->path, 1, twin, sizeof(twin)) == 1 ||
	        casetwin_find(ts, j, j->arg, 1, twin, sizeof(twin)) == 1))
		return casetwin_rename_folder(ts, j, twin, res);
	if (!route_target_takes_name(ts->t, j->arg)) {
		rc = rename_out_of_view(ts, tp, j, from, res);
		if (rc <= 0)
			return rc;
	} else if (!route_target_takes_name(ts->t, j->path)) {
		/* From a name the target does not take (route.c): a file
		 * so named is not there, its new name is a put; a folder
		 * may be (its files and folders are mirrored): renamed,
		 * repaired below if it is not there. So is a new name gone
		 * from the home since, which the queue cannot tell a file's
		 * from a folder's: a folder stayed there by its old name,
		 * and the jobs that follow remove what the home removed
		 * under the new one. */
		rc = new_name_state(ts, j);
		if (rc < 0) {
			snprintf(res->error, sizeof(res->error),
			    "cannot read the queue to tell a file from a "
			    "folder");
			return -1;
		}
		if (rc == NAME_FILE)
			return push_new_name(ts, tp, j, to, res);
	}
	/* A command or a webhook cannot refuse a rename of a name it was
	 * never given, as a server does (repaired below): told "renamed",
	 * it would never get the file. That happens to a file another
	 * program wrote and a client renamed before the watcher queued
	 * it: the watcher then leaves the new name to this job. Such a
	 * receiver gets the new name as a put instead. */
	if (!transport_kind_knows_names(ts->t)) {
		rc = queue_pushed_at(ts->m->q, ts->t->name, j->user, j->path);
		if (rc == 0)
			rc = queue_pushed_below(
			    ts->m->q, ts->t->name, j->user, j->path);
		if (rc < 0) {
			snprintf(res->error, sizeof(res->error),
			    "cannot read the queue to tell what the target "
			    "was given");
			return -1;
		}
		if (rc == 0) {
			log_info("mirror rename target=%s path=%s: never "
			         "given to the target; pushing %s instead",
			    ts->t->name, LOGPATH(j->user, j->path),
			    LOGPATH(j->user, j->arg));
			return push_new_name(ts, tp, j, to, res);
		}
	}
	rc = transport_rename(tp, from, to, res);
	/* A folder between two names the target does not take, and not
	 * there: nothing of it was mirrored (its files would have made it).
	 * Not repaired on a target with folders, which would make the new
	 * name's parent or itself there as empty folders; the home is
	 * looked at again for its files. */
	if (rc < 0 && res->refused && !mirror_stopping(ts->m) &&
	    !route_target_takes_name(ts->t, j->path) &&
	    !route_target_takes_name(ts->t, j->arg) &&
	    transport_kind_has_folders(ts->t)) {
		log_info("mirror rename target=%s path=%s to=%s: nothing by "
		         "the old name there (%s), and the target takes "
		         "neither name",
		    ts->t->name, LOGPATH(j->user, j->path),
		    LOGPATH(j->user, j->arg), res->error);
		catchup_request_rescan(ts->m, j->user);
		queue_forget(ts->m->q, j);
		return 0;
	}
	/* Refused: the new name's folder may be missing there (folders
	 * made outside the server are not mirrored). */
	if (rc < 0 && res->refused && !mirror_stopping(ts->m) &&
	    rpath_parent(to, parent, sizeof(parent)) == 0 &&
	    transport_mkdir(tp, parent, res) == 0)
		rc = transport_rename(tp, from, to, res);
	/* Or a folder renamed onto an empty folder: POSIX rename(2) and FTP
	 * servers replace it, SFTP's rename (OpenSSH) refuses. The rmdir
	 * removes only an empty folder, which the home's rename replaced,
	 * whatever the new name became since (asked of the home now, a name
	 * made a file by later changes left the old folder on the target
	 * for good: the repair below removes the old name's folder
	 * whatever the new name became). */
	if (rc < 0 && res->refused && !mirror_stopping(ts->m) &&
	    strncmp(ts->t->url, "sftp://", 7) == 0 &&
	    transport_rmdir(tp, to, res) == 0)
		rc = transport_rename(tp, from, to, res);
	if (rc < 0 && res->refused && !mirror_stopping(ts->m))
		return repair_rename(ts, tp, j, from, to, res);
	if (rc == 0) {
		log_info("mirror rename target=%s path=%s to=%s "
		         "attempts=%lld",
		    ts->t->name, LOGPATH(j->user, j->path),
		    LOGPATH(j->user, j->arg), (long long)(j->attempts + 1));
		/* Settled only with its records moved: the old name's
		 * records kept, a command target was never told of the new
		 * name's next rename (a put of the newest name instead, the
		 * middle name left there for good), a restart pushed the
		 * file again and a twin check saw the old name taken. The
		 * job is queued again instead (at least once: the target
		 * finds the rename done, a server refuses it and
		 * repair_rename pushes the new name). */
		if (queue_move_pushed(
		        ts->m->q, ts->t->name, j->user, j->path, j->arg) < 0) {
			queue_note_unsettled(ts->m->q, j->id);
			log_err("mirror: cannot record the rename of %s on %s: "
			        "queued again",
			    LOGPATH(j->user, j->path), ts->t->name);
			return 0;
		}
		queue_forget(ts->m->q, j);
		casetwin_after_rename(ts, j);
	}
	return rc;
}

/* A delete, mkdir or rmdir of the job's path on the target. */
static int
push_path_op(struct target_state *ts, struct transport *tp, const struct job *j,
    struct push_result *res)
{
	char rpath[RFTP_RPATH_MAX], twin[RFTP_PATH_MAX];
	const char *name = ts->t->name;
	int rc = -1, state, twins;
	/* Routed as route.c would queue it now, like a put (push_file): a
	 * delete queued before the admin excluded its file deleted the
	 * target's copy the exclude had just left there (rsync --exclude
	 * keeps such files too; found from outside). */
	const char *away = j->op != JOB_MKDIR && !ts->t->propagate_deletes ?
	    "propagate_deletes turned off since it was queued" :
	    routed_away(ts->m, ts->t, j, j->op == JOB_RMDIR ? NULL : j->path);

	if (away != NULL) {
		log_info("mirror skip target=%s path=%s: %s", name,
		    LOGPATH(j->user, j->path), away);
		queue_forget(ts->m->q, j);
		return 0;
	}
	if (job_rpath(ts, j, j->path, rpath, sizeof(rpath), res) < 0)
		return -1;
	switch (j->op) {
	case JOB_DELETE:
		if (casetwin_matters(ts) &&
		    casetwin_find(ts, j, j->path, 1, twin, sizeof(twin)) == 1)
			return casetwin_delete(ts, tp, j, rpath, twin, res);
		rc = transport_delete(tp, rpath, res);
		if (rc == 0 && res->kept)
			warn_kept(ts, j, j->path, res);
		else if (rc == 0)
			log_info("mirror delete target=%s path=%s "
			         "attempts=%lld",
			    name, LOGPATH(j->user, j->path),
			    (long long)(j->attempts + 1));
		break;
	case JOB_MKDIR:
		/* A folder the home no longer has there (renamed where
		 * renames do not propagate, which the queue does not record
		 * for this target, or removed) is not made: made after the
		 * rename it stood where a later file of that name had to go,
		 * which the target then refused for good, the target failing
		 * and the name's later pushes held behind it (found from
		 * outside). Its files are skipped alike (push_file). */
		state = path_state(ts, j, j->path);
		if (state < 0) {
			snprintf(res->error, sizeof(res->error),
			    "cannot read the queue to tell where the folder "
			    "is");
			return -1;
		}
		if (state != NAME_FOLDER) {
			log_info("mirror skip target=%s path=%s: no longer a "
			         "folder in the home",
			    name, LOGPATH(j->user, j->path));
			queue_forget(ts->m->q, j);
			return 0;
		}
		rc = transport_mkdir(tp, rpath, res);
		if (rc < 0 && res->file_refused && !mirror_stopping(ts->m) &&
		    replace_archived_file(ts, tp, j, j->path, res) == 1)
			rc = transport_mkdir(tp, rpath, res);
		if (rc < 0 &&
		    casetwin_refused(ts, j, j->path, res, twin, sizeof(twin)))
			return -1;
		if (rc == 0)
			log_info("mirror mkdir target=%s path=%s", name,
			    LOGPATH(j->user, j->path));
		break;
	case JOB_RMDIR:
		/* Beside a twin ("e" beside "E") on a target that ignores
		 * case, the folder there is the twin's: RMD removed the
		 * home's empty "E", or was refused for "E"'s files with a
		 * word to remove it by hand (found from outside). Kept
		 * there; where the target's case is not known yet, removed
		 * and the twin made again. */
		twins = casetwin_matters(ts) &&
		    casetwin_find(ts, j, j->path, 1, twin, sizeof(twin)) == 1;
		if (twins && atomic_load(&ts->case_blind) == 1) {
			log_info("mirror rmdir target=%s path=%s: not removed: "
			         "the target does not tell it from %s (it "
			         "ignores letter case)",
			    name, LOGPATH(j->user, j->path),
			    LOGPATH(j->user, twin));
			rc = 0;
			break;
		}
		rc = transport_rmdir(tp, rpath, res);
		/* Where the target's case is not known yet, the folder
		 * there may be the twin's, kept for its files: "remove it
		 * by hand" would have the admin delete them. */
		if (rc == 0 && res->kept && twins)
			log_info("mirror rmdir target=%s path=%s: not removed: "
			         "the target keeps it beside %s, which it may "
			         "not tell from it (it may ignore letter case; "
			         "it said: %s)",
			    name, LOGPATH(j->user, j->path),
			    LOGPATH(j->user, twin), res->error);
		else if (rc == 0 && res->kept)
			warn_kept(ts, j, j->path, res);
		else if (rc == 0)
			log_info("mirror rmdir target=%s path=%s", name,
			    LOGPATH(j->user, j->path));
		if (rc == 0 && twins && worker_home_has_folder(ts, j, twin))
			rc = casetwin_push_again(ts, j, twin, 1, res);
		break;
	case JOB_PUT:
	case JOB_TIME:
	case JOB_RENAME:
		snprintf(res->error, sizeof(res->error),
		    "internal error: job %lld is not a path change",
		    (long long)j->id);
		return -1;
	}
	if (rc == 0) {
		/* A folder made holds nothing pushed yet. What the target
		 * kept is still there: without its records a later rename
		 * of a file written anew under that name was taken for one
		 * of a file the target never had (queue.c rename_delivers),
		 * and moved the old bytes it kept (found from outside). */
		if (j->op == JOB_MKDIR || res->kept ||
		    worker_move_pushed(ts, j, j->path, NULL,
		        j->op == JOB_DELETE ? "delete" : "removal") == 0)
			queue_forget(ts->m->q, j);
	}
	return rc;
}

/* Pushes j and settles it. 1 if the target's state or the jobs' times
 * moved (a failure, a refusal, the end of a failing spell), else 0. */
static int
push_one(struct target_state *ts, struct transport *tp, const struct job *j,
    int express)
{
	struct push_result res;
	struct transport_job tj = {
		.id = j->id,
		.created_ms = j->created_ms,
		.event = jobrules_of(j->op)->name,
		.user = j->user,
		.home = j->home,
		.path = j->path,
		.new_path = j->op == JOB_RENAME ? j->arg : NULL,
	};
	int rc = -1;

	memset(&res, 0, sizeof(res));
	transport_set_job(tp, &tj);
	switch (j->op) {
	case JOB_PUT:
		rc = push_file(ts, tp, j, j->path, &res);
		break;
	case JOB_TIME:
		rc = push_time(ts, tp, j, &res);
		break;
	case JOB_RENAME:
		rc = push_rename(ts, tp, j, &res);
		break;
	case JOB_DELETE:
	case JOB_MKDIR:
	case JOB_RMDIR:
		rc = push_path_op(ts, tp, j, &res);
		break;
	}
	if (rc == 0) {
		int was;

		if (express) {
			pthread_mutex_lock(&ts->lock);
			ts->express_failures = 0;
			pthread_mutex_unlock(&ts->lock);
		} else {
			worker_rests = 0;
		}
		was = push_succeeded(ts);
		/* A file's push cleared the stored state with its record
		 * (queue_done_pushed); any other job must too, or a target
		 * that answers again stays "failing" in status and metrics
		 * until its next file. */
		if (was && queue_target_ok(ts->m->q, ts->t->name) < 0)
			log_err("mirror target %s: cannot record that it "
			        "answers again",
			    ts->t->name);
		/* Counted once the state says so: a reader that saw the
		 * success still found the target "failing" (under ASan in
		 * CI, test_ops_counters). */
		stats_target_add(ts->m->stats, ts->stat, STAT_T_SUCCESSES, 1);
		return was;
	}
	if (mirror_stopping(ts->m))
		return 1; /* abandoned: the job is redone at the next start */
	if (res.unsendable)
		push_unsendable(ts, j, res.error);
	else if (res.blocked)
		push_blocked(ts, j, res.error);
	else if (res.unreadable)
		push_unreadable(ts, j, res.error, res.busy, res.home_missing);
	else if (res.file_refused)
		push_refused(ts, j, res.error);
	/* A service that asked for a pause (Retry-After) gets it from the
	 * whole target: the express lane's own rest would hand the job to
	 * the other workers, who would ask again at once. */
	else if (express && res.retry_after_s == 0)
		express_failed(ts, j, res.error);
	else if (!res.conn_refused || !push_conn_refused(ts, j, res.error))
		push_failed(ts, j, res.error, res.retry_after_s);
	return 1;
}

/* The transport's memo (transport.h) is the queue file. */
static int
memo_add(void *ctx, const char *target, const char *key, const char *id)
{
	return queue_upload_add(ctx, target, key, id);
}

static int
memo_forget(void *ctx, const char *target, const char *key, const char *id)
{
	return queue_upload_forget(ctx, target, key, id);
}

static int
memo_ids(void *ctx, const char *target, const char *key, struct buf *out)
{
	return queue_upload_ids(ctx, target, key, out);
}

/* Removes what streams left on the target (stream.h); a target that
 * does not answer is asked again in a minute, or as soon as a push to it
 * works again (push_succeeded). */
static void
sweep_streams(struct target_state *ts, struct transport *tp)
{
	if (stream_sweep(ts->m, (unsigned)(ts - ts->m->targets), tp) == 0)
		return;
	pthread_mutex_lock(&ts->lock);
	ts->sweep_due = 1;
	ts->sweep_at_ms = clock_wall_ms() + 60 * 1000;
	pthread_mutex_unlock(&ts->lock);
}

/*
 * A put the lane claimed whose file is larger than the lane takes (its
 * queued cost came from no size: a put made of a rename, or the file
 * grew): handed back, charged its size, so that neither this lane nor
 * the next look takes it again, and a worker is told. 1 if so.
 */
static int
too_big_for_lane(struct target_state *ts, const struct job *j, uint64_t max)
{
	struct file_state f;
	int fd;

	if (j->op != JOB_PUT || (fd = open_job_file(j, j->path, &f)) < 0)
		return 0;
	close(fd);
	if (f.size <= max)
		return 0;
	if (queue_release(ts->m->q, j, f.size) < 0)
		return 0; /* pushed here, then: still pushed */
	pthread_mutex_lock(&ts->lock);
	worker_wake_held(ts, 0);
	pthread_mutex_unlock(&ts->lock);
	return 1;
}

/*
 * The express lane keeps its connection this long after a push, for the
 * next. It logged in anew for each push from 0fb1990 on, and a login can
 * cost more than the push: on the bench, a vsftpd target's PAM check
 * (yescrypt) made the relay's p99 under load 215 to 441 ms, against 38 to
 * 70 ms with the connection kept. Kept, it still takes no worker's place:
 * the lane logs in only while every worker holds a connection and pushes,
 * so a target with room for no more than the workers refuses the lane,
 * never a worker. It is let go (lane_lets_go) once the lane pushed
 * nothing this long, while the target is paused or the lane rests, and
 * when a stream copy needs a new connection (worker_lane_let_go): a
 * place on a target with a limit is not held for nothing, and a
 * connection idle long enough for the target to close it (most say 421
 * first, which libcurl 7.88 reads as the next command's reply: a review)
 * is not used again.
 */
#define LANE_KEEP_MS (10 * 1000)

/* Whether the lane lets its connection go, now (wall and monotonic
 * clocks), its last push having ended at used_ms (0: it holds none). A
 * request to let go is used up either way. ts->lock held. */
static int
lane_lets_go(
    struct target_state *ts, int64_t now, uint64_t now_mono, uint64_t used_ms)
{
	int asked = ts->lane_let_go;

	ts->lane_let_go = 0;
	return used_ms != 0 &&
	    (asked || now_mono - used_ms >= LANE_KEEP_MS ||
	        ts->backoff_until_ms > now || ts->express_until_ms > now);
}

/* The lane holds no connection now: told to whoever waits for its place
 * (worker_lane_let_go). */
static void
lane_holds_none(struct target_state *ts)
{
	pthread_mutex_lock(&ts->lock);
	ts->lane_holds = 0;
	pthread_cond_broadcast(&ts->lane_gone);
	pthread_mutex_unlock(&ts->lock);
}

/* How long a stream copy waits for the lane's place: the lane may be
 * in a push (a small file) before it looks. */
#define LANE_LET_GO_WAIT_MS 1000

void
worker_lane_let_go(struct target_state *ts)
{
	struct timespec until = clock_mono_after(LANE_LET_GO_WAIT_MS);

	pthread_mutex_lock(&ts->lock);
	if (ts->lane_holds) {
		ts->lane_let_go = 1;
		/* Seen also by a lane between its looks, not waiting yet
		 * (it waits only while wakes is what it saw). */
		ts->wakes++;
		pthread_cond_signal(&ts->express_wake);
	}
	while (ts->lane_holds &&
	    pthread_cond_timedwait(&ts->lane_gone, &ts->lock, &until) == 0)
		;
	pthread_mutex_unlock(&ts->lock);
}

/* The lane's transport once its connection goes (quickly: the target may
 * have stopped answering): a new one, not logged in, with the memo (which
 * it keeps by address) of the loop (NULL, and the lane ends, if there is
 * no memory for it). */
static struct transport *
lane_transport(struct target_state *ts, struct transport *tp,
    const struct transport_memo *memo)
{
	struct mirror *m = ts->m;

	transport_free_quickly(tp);
	tp = transport_new(ts->t, &m->stop, ts->lore);
	if (tp == NULL) {
		log_err(
		    "mirror target %s: the express lane ends: out of memory",
		    ts->t->name);
		return NULL;
	}
	transport_set_memo(tp, memo);
	return tp;
}

/* The loop of one worker; express: the express lane's (mirror_int.h). */
static void
worker_loop(struct target_state *ts, int express)
{
	struct mirror *m = ts->m;
	struct transport *tp = transport_new(ts->t, &m->stop, ts->lore);
	struct transport_memo memo = { m->q, memo_add, memo_forget, memo_ids };
	uint64_t express_max = m->cfg->mirror.express_max_size;
	uint64_t lane_used_ms = 0; /* the lane's last push's end; 0: none */

	on_lane = express;
	if (tp == NULL) {
		log_err("mirror: cannot start a worker for %s", ts->t->name);
		return;
	}
	transport_set_memo(tp, &memo);
	while (!mirror_stopping(m)) {
		struct job j;
		int64_t now, next_due = -1;
		uint64_t seen, now_mono;
		int r, sweep = 0, held = 0, changed;

		clock_check(m);
		now = clock_wall_ms();
		now_mono = clock_mono_ms();
		pthread_mutex_lock(&ts->lock);
		if (ts->backoff_until_ms > latest_due(ts, now) + 1000)
			ts->backoff_until_ms = latest_due(ts, now);
		if (express &&
		    ts->express_until_ms > latest_due(ts, now) + 1000)
			ts->express_until_ms = latest_due(ts, now);
		if (express && lane_lets_go(ts, now, now_mono, lane_used_ms)) {
			pthread_mutex_unlock(&ts->lock);
			lane_used_ms = 0;
			tp = lane_transport(ts, tp, &memo);
			lane_holds_none(ts);
			if (tp == NULL)
				break;
			continue;
		}
		if (ts->backoff_until_ms > now) {
			wait_until(
			    ts, express, ts->backoff_until_ms, now, now_mono);
			pthread_mutex_unlock(&ts->lock);
			continue;
		}
		if (express && ts->express_until_ms > now) {
			wait_until(
			    ts, express, ts->express_until_ms, now, now_mono);
			pthread_mutex_unlock(&ts->lock);
			continue;
		}
		/* Not counted idle: a wake for a job goes to a worker that
		 * may take it (hand_back wakes every waiter). */
		if (!express && worker_rest_until_mono > now_mono) {
			struct timespec abs =
			    clock_mono_after((int64_t)worker_rest_until_mono -
			        (int64_t)clock_mono_ms());

			pthread_cond_timedwait(&ts->wake, &ts->lock, &abs);
			pthread_mutex_unlock(&ts->lock);
			continue;
		}
		seen = ts->wakes;
		/* The sweep is the other workers' (it may take long). */
		if (!express)
			sweep = (ts->sweep_due && ts->sweep_at_ms <= now) ||
			    (ts->resweep_at_ms != 0 &&
			        ts->resweep_at_ms <= now);
		if (sweep) {
			ts->sweep_due = 0;
			ts->resweep_at_ms = 0;
		}
		pthread_mutex_unlock(&ts->lock);
		if (sweep) {
			sweep_streams(ts, tp);
			note_login(ts, transport_logged_in(tp));
			continue;
		}
		/* The lane pushes only while every other worker sends a
		 * file: each then holds its connection, so the lane's one
		 * more can never be the one a target with a limit of
		 * workers_per_target connections refuses to a worker (after
		 * an outage the lane logged in first, and a worker's 421s
		 * paused the target). See push_progress. Its connection is
		 * kept between the pushes of a load (see LANE_KEEP_MS). */
		if (express) {
			int all_busy;

			pthread_mutex_lock(&ts->lock);
			all_busy = ts->pushing >= ts->nworkers;
			if (!all_busy && !mirror_stopping(m) &&
			    ts->wakes == seen)
				wait_until(ts, express, -1, now, now_mono);
			pthread_mutex_unlock(&ts->lock);
			if (!all_busy)
				continue;
		}
		r = express ?
		    queue_claim_sparse(
		        m->q, ts->t->name, now, express_max, &j, &held) :
		    queue_claim(m->q, ts->t->name, now, &j, &next_due, &held);
		if (held) {
			pthread_mutex_lock(&ts->lock);
			ts->held_back = 1;
			pthread_mutex_unlock(&ts->lock);
		}
		if (r == 1 && express && too_big_for_lane(ts, &j, express_max))
			continue;
		if (r == 1) {
			int by_claim = !express && !cue_at_bytes(ts);

			stats_target_add(
			    m->stats, ts->stat, STAT_T_ATTEMPTS, 1);
			pthread_mutex_lock(&ts->lock);
			ts->pushing += by_claim;
			/* From its login on, the lane's connection is one a
			 * stream copy may wait for (a review). */
			ts->lane_holds |= express;
			pthread_mutex_unlock(&ts->lock);
			changed = push_one(ts, tp, &j, express);
			if (!express)
				note_login(ts, transport_logged_in(tp));
			pthread_mutex_lock(&ts->lock);
			ts->pushing -= by_claim;
			pthread_mutex_unlock(&ts->lock);
			if (express)
				lane_used_ms = clock_mono_ms();
			/* A job of a related path that a claim passed over may
			 * be free now: an idle worker looks again (this one
			 * looks in any case). A worker that found nothing saw
			 * every due job, so a job it passed over set the flag
			 * before it waited. */
			pthread_mutex_lock(&ts->lock);
			if (ts->held_back) {
				ts->held_back = 0;
				worker_wake_held(ts, 0);
			}
			/* The push moved the target's pause or its jobs' times
			 * (a failure, a refusal, or a success ending a failing
			 * spell): every idle worker looks again, since each
			 * waits for a time it saw before (in CI a worker that
			 * slept past a pause's end let a refused file's retry
			 * get ahead of the files not yet asked). */
			if (changed)
				worker_wake_held(ts, 1);
			pthread_mutex_unlock(&ts->lock);
			continue;
		}
		if (r == 0 && next_due >= 0)
			hold_to_retry_max(ts, now, &next_due);
		pthread_mutex_lock(&ts->lock);
		if (!mirror_stopping(m) && ts->wakes == seen)
			wait_until(ts, express, r < 0 ? now + 1000 : next_due,
			    now, now_mono);
		pthread_mutex_unlock(&ts->lock);
	}
	if (!express)
		note_login(ts, 0);
	transport_free(tp);
	if (express) {
		lane_holds_none(ts);
		pthread_mutex_lock(&ts->lock);
		ts->has_express = 0;
		pthread_mutex_unlock(&ts->lock);
	}
}

static void *
worker_main(void *arg)
{
	worker_loop(arg, 0);
	return NULL;
}

static void *
express_main(void *arg)
{
	worker_loop(arg, 1);
	return NULL;
}

void
worker_pool_init(struct mirror *m, unsigned i)
{
	struct target_state *ts = &m->targets[i];
	struct target_status st;

	ts->t = &m->cfg->mirror.targets[i];
	ts->m = m;
	ts->stat = stats_target_index(m->stats, ts->t->name);
	ts->sweep_due = 1; /* what a crash left */
	atomic_init(&ts->case_blind, -1);
	/* Made per running target: a target whose config changed waits
	 * for a restart (mirror.c), which learns it afresh. */
	ts->lore = transport_lore_new();
	if (ts->lore == NULL)
		log_warn("mirror target %s: out of memory: each worker learns "
		         "on its own which commands the target refuses",
		    ts->t->name);
	/* A target failing when the last run ended is failing since then,
	 * not since its first failure in this run; and its first success
	 * here must clear the stored state (push_one). */
	if (queue_status(m->q, ts->t->name, &st) == 0) {
		ts->failing_since_ms = st.failing_since_ms;
		/* Parked jobs stay parked whatever the config now says (a
		 * url or password mended, max_attempts raised): said at each
		 * start, or an admin who mended the cause never learned that
		 * the files parked before it would not go (found from
		 * outside). */
		if (st.failed > 0)
			log_warn("mirror target %s: %lld jobs parked as failed "
			         "are not pushed until 'relayftpd mirror retry "
			         "%s' queues them again",
			    ts->t->name, (long long)st.failed, ts->t->name);
		target_place_warn_moved(m, ts->t, st.files);
		target_place_forget_drops(m->q, ts->t);
	}
	pthread_mutex_init(&ts->lock, NULL);
	clock_cond_init(&ts->wake);
	clock_cond_init(&ts->express_wake);
	clock_cond_init(&ts->lane_gone);
}

void
worker_pool_start(struct mirror *m, unsigned i)
{
	struct target_state *ts = &m->targets[i];
	size_t w = (size_t)m->cfg->mirror.workers_per_target;

	target_place_record(m, ts->t);
	ts->threads = calloc(w + 1, sizeof(*ts->threads));
	for (size_t k = 0; ts->threads != NULL && k < w; k++)
		if (thread_start(
		        &ts->threads[ts->nthreads], 0, worker_main, ts) == 0)
			ts->nthreads++;
	/* Set before the lane runs, under the lock its wakes and its look
	 * at the workers take. */
	pthread_mutex_lock(&ts->lock);
	ts->nworkers = ts->nthreads;
	ts->has_express =
	    ts->threads != NULL && m->cfg->mirror.express_max_size > 0;
	pthread_mutex_unlock(&ts->lock);
	if (ts->has_express &&
	    thread_start(&ts->threads[ts->nthreads], 0, express_main, ts) == 0)
		ts->nthreads++;
	else if (ts->has_express) {
		pthread_mutex_lock(&ts->lock);
		ts->has_express = 0;
		pthread_mutex_unlock(&ts->lock);
	}
	/* A command or a webhook is not asked back what it got: its pushes
	 * log verify=none whatever the key says. */
	log_info("mirror target %s: %zu workers%s, verify %s", ts->t->name,
	    ts->nthreads - (ts->has_express ? 1 : 0),
	    ts->has_express ? " and an express lane" : "",
	    strncmp(ts->t->url, "exec:", 5) == 0 ||
	            strncmp(ts->t->url, "http", 4) == 0 ?
	        "none (the receiver is not asked back)" :
	        ts->t->verify == VERIFY_HASH ? "hash" :
	        ts->t->verify == VERIFY_SIZE ? "size" :
	                                       "none");
	if (strncmp(ts->t->url, "sftp://", 7) == 0 && !ts->t->host_key_verify)
		log_warn("mirror target %s: host_key_verify = off: the sftp "
		         "host key is not checked, so a man in the middle can "
		         "read the login and the files",
		    ts->t->name);
}

void
worker_pool_join(struct target_state *ts)
{
	for (size_t k = 0; k < ts->nthreads; k++)
		pthread_join(ts->threads[k], NULL);
	free(ts->threads);
	/* After the streams' transports (stream_stop) and the workers'. */
	transport_lore_free(ts->lore);
	ts->lore = NULL;
	pthread_mutex_destroy(&ts->lock);
	pthread_cond_destroy(&ts->wake);
	pthread_cond_destroy(&ts->express_wake);
	pthread_cond_destroy(&ts->lane_gone);
}
