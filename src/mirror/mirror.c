/*
 * mirror.c - see mirror.h.
 *
 * Each target has a small state (backoff deadline, failing since, count of
 * consecutive failures) shared by its workers under one mutex, and a
 * condition variable that an enqueue or shutdown signals. A worker claims a
 * due job, opens the file through the fs gate (the job's path was
 * normalised by the server), pushes it, and records the outcome in the
 * queue. A failure backs the whole target off: min(retry_max,
 * retry_initial * 2^(failures-1)) seconds, scaled by a random 50-100 % so
 * that targets and workers do not retry in lockstep.
 *
 * Convergence (README "Mirror: order of changes"): the queue orders related
 * jobs (queue.h); a push reads the bytes where they are now, which is its
 * path carried through the renames queued after it (queue_source_path),
 * under the user's change lock so that no change is half-recorded while it
 * looks; the server's changes are written ahead as intents and settled from
 * the home after a crash; and a file that is missing for no queued reason
 * makes the scanner walk that user's home again, never a silent drop.
 */
#include "mirror/mirror.h"

#include "common/fsgate.h"
#include "common/ftptime.h"
#include "common/log.h"
#include "common/numparse.h"
#include "common/users.h"
#include "mirror/queue.h"
#include "mirror/transport.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct target_state {
	const struct target_config *t;
	struct mirror *m;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int64_t backoff_until_ms;
	int64_t failing_since_ms;
	unsigned failures; /* consecutive */
	int told_no_times; /* "cannot set times" is logged once */
	pthread_t *threads;
	size_t nthreads;
};

/* Stripes of the per-user change lock (a user maps to one by a hash). */
#define USER_LOCKS 64
/* Users whose home the scanner should walk again; beyond, all of them. */
#define SCAN_REQUESTS 16

struct mirror {
	const struct config *cfg;
	struct queue *q;
	struct target_state *targets;
	unsigned ntargets;
	atomic_int stop;
	pthread_mutex_t user_locks[USER_LOCKS];
	/* The scanner: start-up catch-up, then rescans on request. */
	pthread_t scanner;
	int scanning;
	pthread_mutex_t scan_lock;
	pthread_cond_t scan_wake;
	int scan_all;
	char scan_users[SCAN_REQUESTS][RFTP_USER_MAX + 1];
	size_t nscan;
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits on the target's condition until deadline_ms (-1: 2 s, so jobs that
 * another process queued — mirror retry, resync — start soon; enqueues in
 * this process signal the condition). Called with ts->lock held. */
static void
wait_until(struct target_state *ts, int64_t deadline_ms)
{
	struct timespec abs;

	if (deadline_ms < 0)
		deadline_ms = now_ms() + 2000;
	abs.tv_sec = (time_t)(deadline_ms / 1000);
	abs.tv_nsec = (long)(deadline_ms % 1000) * 1000000L;
	pthread_cond_timedwait(&ts->wake, &ts->lock, &abs);
}

static int64_t
backoff_ms(const struct mirror_config *mc, unsigned failures)
{
	uint64_t secs = mc->retry_initial;
	uint32_t r = 0;

	for (unsigned i = 1; i < failures && secs < mc->retry_max; i++)
		secs *= 2;
	if (secs > mc->retry_max)
		secs = mc->retry_max;
	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (uint32_t)rand();
	/* The step plus up to half of it, within [retry_initial,
	 * retry_max]: workers and targets do not retry in lockstep. */
	{
		uint64_t ms = secs * 1000 + (secs * 500 * (r % 1001)) / 1000;

		if (ms > mc->retry_max * 1000)
			ms = mc->retry_max * 1000;
		return (int64_t)ms;
	}
}

static unsigned
user_stripe(const char *user)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)user; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h % USER_LOCKS;
}

/* Asks the scanner to walk user's home again (coalesced). */
static void
request_rescan(struct mirror *m, const char *user)
{
	size_t i;

	pthread_mutex_lock(&m->scan_lock);
	for (i = 0; i < m->nscan; i++)
		if (strcmp(m->scan_users[i], user) == 0)
			break;
	if (i == m->nscan) {
		if (m->nscan < SCAN_REQUESTS)
			snprintf(m->scan_users[m->nscan++], RFTP_USER_MAX + 1,
			    "%s", user);
		else
			m->scan_all = 1;
	}
	pthread_cond_signal(&m->scan_wake);
	pthread_mutex_unlock(&m->scan_lock);
}

static void
remote_path(const struct target_config *t, const struct job *j,
    const char *path, char *out, size_t outlen)
{
	if (t->flat)
		snprintf(out, outlen, "%s", path);
	else
		snprintf(out, outlen, "/%s%s", j->user, path);
}

/* Opens path in the job's home; -1 with errno (ENOENT: it is gone). */
static int
open_job_file(
    const struct job *j, const char *path, uint64_t *size, int64_t *mtime_ns)
{
	struct stat st;
	int root = fs_open_root(j->home, 0), fd;

	if (root < 0)
		return -1;
	fd = fs_open(root, path, O_RDONLY | O_NONBLOCK, 0);
	close(root);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = S_ISDIR(st.st_mode) ? EISDIR : ENOENT;
		return -1;
	}
	*size = (uint64_t)st.st_size;
	*mtime_ns =
	    (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	return fd;
}

static void
push_failed(struct target_state *ts, const struct job *j, const char *error)
{
	struct mirror *m = ts->m;
	const struct mirror_config *mc = &m->cfg->mirror;
	int64_t now = now_ms(), delay, since;
	int park;

	pthread_mutex_lock(&ts->lock);
	ts->failures++;
	delay = backoff_ms(mc, ts->failures);
	ts->backoff_until_ms = now + delay;
	if (ts->failing_since_ms == 0)
		ts->failing_since_ms = now;
	since = ts->failing_since_ms;
	pthread_mutex_unlock(&ts->lock);
	park = mc->max_attempts != 0 &&
	    (uint64_t)(j->attempts + 1) >= mc->max_attempts;
	/* Target state first: a job seen parked has its reason on show. */
	queue_target_state(m->q, ts->t->name, since, now + delay, error);
	queue_fail(m->q, j, now + delay, error, park);
	log_warn("mirror push failed target=%s path=/%s%s attempt=%lld: %s; "
	         "%s",
	    ts->t->name, j->user, j->path, (long long)(j->attempts + 1), error,
	    park ? "parked as failed (see 'relayftpd mirror retry')" :
	           "will retry");
}

static void
push_succeeded(struct target_state *ts)
{
	pthread_mutex_lock(&ts->lock);
	ts->failures = 0;
	ts->failing_since_ms = 0;
	ts->backoff_until_ms = 0;
	pthread_mutex_unlock(&ts->lock);
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
		log_warn("mirror time target=%s path=/%s%s: %s", ts->t->name,
		    j->user, path, res->error);
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
    size_t srclen, uint64_t *size, int64_t *mtime_ns, int *fd)
{
	pthread_mutex_t *lk = &m->user_locks[user_stripe(j->user)];
	int r;

	pthread_mutex_lock(lk);
	r = queue_source_path(m->q, j, path, src, srclen);
	if (r == 1) {
		*fd = open_job_file(j, src, size, mtime_ns);
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
    uint64_t size, int64_t mtime_ns)
{
	pthread_mutex_t *lk = &ts->m->user_locks[user_stripe(j->user)];
	const char *name = ts->t->name;
	struct stat st;
	int root, changed = 0;

	pthread_mutex_lock(lk);
	root = fs_open_root(j->home, 0);
	if (root >= 0) {
		changed = fs_stat(root, src, &st) == 0 && S_ISREG(st.st_mode) &&
		    ((uint64_t)st.st_size != size ||
		        (int64_t)st.st_mtim.tv_sec * 1000000000 +
		                st.st_mtim.tv_nsec !=
		            mtime_ns);
		close(root);
	}
	if (changed &&
	    queue_is_pushed(ts->m->q, name, j->user, src, (uint64_t)st.st_size,
	        (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec) ==
	        0 &&
	    queue_has_job(ts->m->q, name, j->user, src) == 0 &&
	    queue_add(
	        ts->m->q, &name, 1, JOB_PUT, j->user, j->home, src, NULL) == 0)
		log_info("mirror: /%s%s changed while it was pushed to %s; "
		         "queued again",
		    j->user, src, name);
	pthread_mutex_unlock(lk);
}

/* Pushes the bytes for path (the job's path, or a rename's new path) and
 * settles the job: done (pushed) or forgotten (nothing left to push).
 * Returns 0 then, -1 if it failed (res; the job is left to the caller).
 * The job row is deleted exactly once here. */
static int
push_file(struct target_state *ts, struct transport *tp, const struct job *j,
    const char *path, struct push_result *res)
{
	struct timespec t0, t1;
	char rpath[RFTP_PATH_MAX + RFTP_USER_MAX + 2], src[RFTP_PATH_MAX];
	const char *name = ts->t->name;
	struct push_result tres;
	uint64_t size = 0;
	int64_t mtime_ns = 0;
	int fd = -1, r;

	r = open_source(
	    ts->m, j, path, src, sizeof(src), &size, &mtime_ns, &fd);
	if (r <= 0) {
		int err = errno;
		const char *why;

		if (r < 0 && err != ENOENT && err != EISDIR) {
			snprintf(res->error, sizeof(res->error), "%.400s: %s",
			    src, strerror(err));
			return -1;
		}
		/* Nothing to push. An earlier attempt (or one a crash cut
		 * short) may have left its temporary copy on the target:
		 * remove it first, or keep the job to try again. */
		remote_path(ts->t, j, path, rpath, sizeof(rpath));
		if ((j->attempts > 0 || j->recovered) &&
		    transport_discard(tp, rpath, j->id) < 0) {
			snprintf(res->error, sizeof(res->error),
			    "cannot remove the temporary copy of %s", path);
			return -1;
		}
		queue_forget(ts->m->q, j);
		if (r == 0)
			why = "deleted or replaced by a later change";
		else if (err == EISDIR)
			why = "a folder now; the user's home is scanned again";
		else
			why = "no longer in the home; the user's home is "
			      "scanned again";
		/* Gone for no queued reason: the bytes may be elsewhere
		 * (moved by a program, or published into a folder renamed
		 * meanwhile). Never a silent drop: look again. */
		if (r < 0)
			request_rescan(ts->m, j->user);
		log_info("mirror skip target=%s path=/%s%s: %s", ts->t->name,
		    j->user, path, why);
		return 0;
	}
	remote_path(ts->t, j, path, rpath, sizeof(rpath));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (transport_push(tp, fd, size, rpath, j->id, res) < 0) {
		close(fd);
		return -1;
	}
	close(fd);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* The copy carries the file's time, not the push's. If the
	 * connection broke just now, a time job of its own redoes only
	 * that (the bytes are in place). */
	if (set_remote_time(ts, tp, j, path, rpath, mtime_ns, &tres) ==
	        TIME_FAILED &&
	    queue_add(
	        ts->m->q, &name, 1, JOB_TIME, j->user, j->home, path, NULL) < 0)
		log_err("mirror: cannot queue the time of %s for %s", path,
		    ts->t->name);
	/* Logged before the job is settled, so a drained queue implies the
	 * line is written (a crash in between only repeats the push). */
	log_info("mirror push target=%s path=/%s%s bytes=%llu duration=%.3fs "
	         "attempts=%lld verify=%s%s%s%s%s",
	    ts->t->name, j->user, path, (unsigned long long)size,
	    (double)(t1.tv_sec - t0.tv_sec) +
	        (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	    (long long)(j->attempts + 1), res->verify_used,
	    res->fell_back ? " (target offers no XSHA256, HASH or XMD5: fell "
	                     "back to size)" :
	                     "",
	    j->recovered ? " (redone after a restart)" : "",
	    strcmp(src, path) != 0 ? " from=" : "",
	    strcmp(src, path) != 0 ? src : "");
	if (queue_record_pushed(
	        ts->m->q, ts->t->name, j->user, path, size, mtime_ns) < 0 ||
	    queue_done(ts->m->q, j, size) < 0)
		log_err("mirror: cannot record the push of %s to %s", path,
		    ts->t->name);
	else
		recheck_source(ts, j, src, size, mtime_ns);
	return 0;
}

/* The parent folder of rpath ("/u/a/b" -> "/u/a"); 0, or -1 for none. */
static int
parent_of(const char *rpath, char *out, size_t outlen)
{
	const char *slash = strrchr(rpath, '/');

	if (slash == NULL || slash == rpath)
		return -1;
	snprintf(out, outlen, "%.*s", (int)(slash - rpath), rpath);
	return 0;
}

/*
 * A rename the target refused even with the new name's folder made: its
 * old name is missing there (never pushed, excluded before). Remove the old
 * name (a file) and give the target the bytes of the new name, or for a
 * folder make it and let the scanner push what is inside.
 */
static int
repair_rename(struct target_state *ts, struct transport *tp,
    const struct job *j, const char *from, const char *to,
    struct push_result *res)
{
	char src[RFTP_PATH_MAX];
	struct stat st;
	int root, isdir = 0, r;

	log_info("mirror rename target=%s path=/%s%s: %s; pushing /%s%s "
	         "instead",
	    ts->t->name, j->user, j->path, res->error, j->user, j->arg);
	if (transport_delete(tp, from, res) < 0)
		return -1;
	queue_move_pushed(ts->m->q, ts->t->name, j->user, j->path, NULL);
	pthread_mutex_lock(&ts->m->user_locks[user_stripe(j->user)]);
	r = queue_source_path(ts->m->q, j, j->arg, src, sizeof(src));
	root = r == 1 ? fs_open_root(j->home, 0) : -1;
	if (root >= 0) {
		isdir = fs_stat(root, src, &st) == 0 && S_ISDIR(st.st_mode);
		close(root);
	}
	pthread_mutex_unlock(&ts->m->user_locks[user_stripe(j->user)]);
	if (!isdir)
		return push_file(ts, tp, j, j->arg, res);
	if (transport_mkdir(tp, to, res) < 0)
		return -1;
	request_rescan(ts->m, j->user);
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
	char rpath[RFTP_PATH_MAX + RFTP_USER_MAX + 2], when[24] = "?";
	char src[RFTP_PATH_MAX];
	struct timespec ts_m;
	enum time_result tr;
	uint64_t size = 0;
	int64_t mtime_ns = 0;
	int fd = -1;

	/* Where the file is now (a later rename moves it), as for a push;
	 * anything but a plain file there is push_file's to settle. */
	if (open_source(ts->m, j, j->path, src, sizeof(src), &size, &mtime_ns,
	        &fd) != 1 ||
	    strcmp(src, j->path) != 0) {
		if (fd >= 0)
			close(fd);
		return push_file(ts, tp, j, j->path, res);
	}
	close(fd);
	if (queue_pushed_size(ts->m->q, ts->t->name, j->user, j->path, size) !=
	    1)
		return push_file(ts, tp, j, j->path, res);
	remote_path(ts->t, j, j->path, rpath, sizeof(rpath));
	tr = set_remote_time(ts, tp, j, j->path, rpath, mtime_ns, res);
	switch (tr) {
	case TIME_SET:
	case TIME_CANNOT:
		break;
	case TIME_REFUSED:
		return push_file(ts, tp, j, j->path, res);
	case TIME_FAILED:
		return -1;
	}
	ts_m.tv_sec = mtime_secs(mtime_ns);
	ts_m.tv_nsec = 0;
	if (ftptime_format(&ts_m, when, sizeof(when)) < 0)
		snprintf(when, sizeof(when), "%s", "?");
	log_info("mirror time target=%s path=/%s%s mtime=%s attempts=%lld%s",
	    ts->t->name, j->user, j->path, when, (long long)(j->attempts + 1),
	    tr == TIME_CANNOT ? " (the target cannot set times)" : "");
	/* Recorded even where the target cannot: the catch-up at start
	 * compares (size, time) and must not push this file again. */
	if (queue_record_pushed(
	        ts->m->q, ts->t->name, j->user, j->path, size, mtime_ns) < 0 ||
	    queue_forget(ts->m->q, j) < 0)
		log_err("mirror: cannot record the time of %s on %s", j->path,
		    ts->t->name);
	return 0;
}

static void
push_one(struct target_state *ts, struct transport *tp, const struct job *j)
{
	struct push_result res;
	char from[RFTP_PATH_MAX + RFTP_USER_MAX + 2];
	char to[RFTP_PATH_MAX + RFTP_USER_MAX + 2];
	char parent[RFTP_PATH_MAX + RFTP_USER_MAX + 2];
	int rc = -1;

	memset(&res, 0, sizeof(res));
	switch (j->op) {
	case JOB_PUT:
		rc = push_file(ts, tp, j, j->path, &res);
		break;
	case JOB_TIME:
		rc = push_time(ts, tp, j, &res);
		break;
	case JOB_DELETE:
		remote_path(ts->t, j, j->path, from, sizeof(from));
		rc = transport_delete(tp, from, &res);
		if (rc == 0) {
			log_info("mirror delete target=%s path=/%s%s "
			         "attempts=%lld",
			    ts->t->name, j->user, j->path,
			    (long long)(j->attempts + 1));
			queue_move_pushed(
			    ts->m->q, ts->t->name, j->user, j->path, NULL);
			queue_forget(ts->m->q, j);
		}
		break;
	case JOB_RENAME:
		remote_path(ts->t, j, j->path, from, sizeof(from));
		remote_path(ts->t, j, j->arg, to, sizeof(to));
		rc = transport_rename(tp, from, to, &res);
		/* Refused: the new name's folder may be missing there
		 * (folders made outside the server are not mirrored). */
		if (rc < 0 && res.refused && !ts->m->stop &&
		    parent_of(to, parent, sizeof(parent)) == 0 &&
		    transport_mkdir(tp, parent, &res) == 0)
			rc = transport_rename(tp, from, to, &res);
		if (rc < 0 && res.refused && !ts->m->stop)
			rc = repair_rename(ts, tp, j, from, to, &res);
		else if (rc == 0) {
			log_info("mirror rename target=%s path=/%s%s to=/%s%s "
			         "attempts=%lld",
			    ts->t->name, j->user, j->path, j->user, j->arg,
			    (long long)(j->attempts + 1));
			queue_move_pushed(
			    ts->m->q, ts->t->name, j->user, j->path, j->arg);
			queue_forget(ts->m->q, j);
		}
		break;
	case JOB_MKDIR:
		remote_path(ts->t, j, j->path, from, sizeof(from));
		rc = transport_mkdir(tp, from, &res);
		if (rc == 0) {
			log_info("mirror mkdir target=%s path=/%s%s",
			    ts->t->name, j->user, j->path);
			queue_forget(ts->m->q, j);
		}
		break;
	case JOB_RMDIR:
		remote_path(ts->t, j, j->path, from, sizeof(from));
		rc = transport_rmdir(tp, from, &res);
		if (rc == 0) {
			log_info("mirror rmdir target=%s path=/%s%s",
			    ts->t->name, j->user, j->path);
			queue_move_pushed(
			    ts->m->q, ts->t->name, j->user, j->path, NULL);
			queue_forget(ts->m->q, j);
		}
		break;
	}
	if (rc == 0) {
		push_succeeded(ts);
		return;
	}
	if (ts->m->stop)
		return; /* abandoned: the job is redone at the next start */
	push_failed(ts, j, res.error);
}

static void *
worker_main(void *arg)
{
	struct target_state *ts = arg;
	struct mirror *m = ts->m;
	struct transport *tp = transport_new(ts->t, &m->stop);

	if (tp == NULL) {
		log_err("mirror: cannot start a worker for %s", ts->t->name);
		return NULL;
	}
	while (!m->stop) {
		struct job j;
		int64_t now = now_ms(), next_due = -1;
		int r;

		pthread_mutex_lock(&ts->lock);
		if (ts->backoff_until_ms > now) {
			wait_until(ts, ts->backoff_until_ms);
			pthread_mutex_unlock(&ts->lock);
			continue;
		}
		pthread_mutex_unlock(&ts->lock);
		r = queue_claim(m->q, ts->t->name, now, &j, &next_due);
		if (r == 1) {
			push_one(ts, tp, &j);
			continue;
		}
		pthread_mutex_lock(&ts->lock);
		if (!m->stop)
			wait_until(ts, r < 0 ? now + 1000 : next_due);
		pthread_mutex_unlock(&ts->lock);
	}
	transport_free(tp);
	return NULL;
}

static void
wake_target(struct target_state *ts)
{
	pthread_mutex_lock(&ts->lock);
	pthread_cond_broadcast(&ts->wake);
	pthread_mutex_unlock(&ts->lock);
}

/* include/exclude: glob lists matched against the path in the home. */
static int
matches_any(const char *list, const char *path)
{
	char pat[256];
	const char *cur = list;

	while (parse_list_next(&cur, pat, sizeof(pat)) == 1)
		if (fnmatch(pat, path, 0) == 0 ||
		    fnmatch(pat, strrchr(path, '/') + 1, 0) == 0)
			return 1;
	return 0;
}

static int
user_wants(const char *list, const char *name)
{
	char item[RFTP_NAME_MAX + 1];
	const char *cur = list;

	if (list[0] == '\0')
		return 1; /* no mirror key: every target */
	while (parse_list_next(&cur, item, sizeof(item)) == 1)
		if (strcmp(item, name) == 0)
			return 1;
	return 0;
}

/* Whether target t takes events for path (user's list, globs). */
static int
target_takes(const struct target_config *t, const struct upload_event *ev,
    const char *path)
{
	if (!user_wants(ev->mirror, t->name))
		return 0;
	if (t->include[0] != '\0' && !matches_any(t->include, path))
		return 0;
	if (t->exclude[0] != '\0' && matches_any(t->exclude, path))
		return 0;
	return 1;
}

/* The job an event becomes on the targets that take it as itself (a
 * delete, a rename, a folder), and the targets that get a put of the
 * event's file instead (an upload; a rename without propagate_renames). */
struct plan {
	enum job_op op; /* of the jobs written ahead (other) */
	const char *other[RFTP_TARGETS_MAX];
	size_t nother;
	enum job_op put_op; /* of the jobs recorded after (JOB_PUT, JOB_TIME) */
	const char *put[RFTP_TARGETS_MAX];
	size_t nput;
};

static void
make_plan(struct mirror *m, const struct upload_event *ev, struct plan *p)
{
	p->nother = p->nput = 0;
	p->op = JOB_PUT;
	p->put_op = JOB_PUT;
	for (unsigned i = 0; i < m->ntargets; i++) {
		const struct target_config *t = m->targets[i].t;

		switch (ev->op) {
		case CHANGE_PUT:
			if (target_takes(t, ev, ev->path))
				p->put[p->nput++] = t->name;
			break;
		case CHANGE_DELETE:
			p->op = JOB_DELETE;
			if (t->propagate_deletes &&
			    target_takes(t, ev, ev->path))
				p->other[p->nother++] = t->name;
			break;
		case CHANGE_RENAME:
			p->op = JOB_RENAME;
			/* Without propagation the target still gets the
			 * file under its new name; the old one stays. */
			if (t->propagate_renames &&
			    target_takes(t, ev, ev->path))
				p->other[p->nother++] = t->name;
			else if (target_takes(t, ev, ev->new_path))
				p->put[p->nput++] = t->name;
			break;
		case CHANGE_MKDIR:
			/* A folder is made where its files would go. */
			p->op = JOB_MKDIR;
			if (target_takes(t, ev, ev->path))
				p->other[p->nother++] = t->name;
			break;
		case CHANGE_RMDIR:
			p->op = JOB_RMDIR;
			if (t->propagate_deletes &&
			    target_takes(t, ev, ev->path))
				p->other[p->nother++] = t->name;
			break;
		case CHANGE_TIME:
			/* Like a put, recorded once it happened: a lost time
			 * is found again by the catch-up's (size, time). */
			p->put_op = JOB_TIME;
			if (target_takes(t, ev, ev->path))
				p->put[p->nput++] = t->name;
			break;
		}
	}
}

static void
wake_all(struct mirror *m)
{
	for (unsigned i = 0; i < m->ntargets; i++)
		wake_target(&m->targets[i]);
}

static int
record_puts(
    struct mirror *m, const struct plan *p, const struct upload_event *ev)
{
	const char *put_path =
	    ev->op == CHANGE_RENAME ? ev->new_path : ev->path;

	if (p->nput == 0)
		return 0;
	return queue_add(m->q, p->put, p->nput, p->put_op, ev->user, ev->home,
	    put_path, NULL);
}

static size_t stale_targets(struct mirror *m, const struct upload_event *ev,
    const struct stat *st, const char **names);

/* A change seen from outside the server (the watcher), or reported in one
 * step: recorded at once. */
static int
mirror_changed(void *ctx, const struct upload_event *ev)
{
	struct mirror *m = ctx;
	struct plan p;
	int rc = 0;

	if (ev->op == CHANGE_PUT && ev->only_if_changed) {
		struct stat st;
		int root = fs_open_root(ev->home, 0);

		if (root < 0 || fs_stat(root, ev->path, &st) < 0) {
			if (root >= 0)
				close(root);
			return 0; /* gone again: nothing to push */
		}
		close(root);
		p.nother = 0;
		p.nput = stale_targets(m, ev, &st, p.put);
		if (p.nput > 0)
			log_info("mirror watcher: /%s%s written by another "
			         "process (%llu bytes)",
			    ev->user, ev->path, (unsigned long long)st.st_size);
	} else {
		make_plan(m, ev, &p);
	}
	if (p.nother > 0 &&
	    queue_add(m->q, p.other, p.nother, p.op, ev->user, ev->home,
	        ev->path, ev->new_path) < 0)
		rc = -1;
	if (record_puts(m, &p, ev) < 0)
		rc = -1;
	if (rc < 0)
		log_err("mirror: cannot queue a change of /%s%s: it will not "
		        "be mirrored",
		    ev->user, ev->path);
	if (p.nput + p.nother > 0)
		wake_all(m);
	return rc;
}

static int
mirror_begin(void *ctx, const struct upload_event *ev, struct change_token *tok)
{
	struct mirror *m = ctx;
	struct plan p;

	tok->first = 0;
	tok->last = -1;
	tok->lock = user_stripe(ev->user);
	tok->held = 1;
	pthread_mutex_lock(&m->user_locks[tok->lock]);
	make_plan(m, ev, &p);
	if (p.nother > 0 &&
	    queue_add_intent(m->q, p.other, p.nother, p.op, ev->user, ev->home,
	        ev->path, ev->new_path, &tok->first, &tok->last) < 0) {
		log_err("mirror: cannot record the coming change of /%s%s",
		    ev->user, ev->path);
		tok->held = 0;
		pthread_mutex_unlock(&m->user_locks[tok->lock]);
		return -1;
	}
	return 0;
}

static int
mirror_end(void *ctx, struct change_token *tok, const struct upload_event *done)
{
	struct mirror *m = ctx;
	struct plan p;
	int rc = 0, any = tok->last >= tok->first;

	if (!tok->held)
		return -1;
	if (any && queue_settle(m->q, tok->first, tok->last, done != NULL) < 0)
		rc = -1; /* settled from the home at the next start */
	if (done != NULL) {
		make_plan(m, done, &p);
		any |= p.nput > 0;
		if (record_puts(m, &p, done) < 0) {
			log_err("mirror: cannot queue a change of /%s%s: it "
			        "will not be mirrored",
			    done->user, done->path);
			rc = -1;
		}
	}
	tok->held = 0;
	pthread_mutex_unlock(&m->user_locks[tok->lock]);
	if (any && done != NULL)
		wake_all(m);
	return rc;
}

/*
 * The targets that want ev's file but do not hold this version (size and
 * modification time as recorded at its last verified push) and have no
 * job that will deliver it (queue_has_job): what a watcher event or a
 * scan must still queue.
 */
static size_t
stale_targets(struct mirror *m, const struct upload_event *ev,
    const struct stat *st, const char **names)
{
	int64_t mtime_ns =
	    (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	size_t n = 0;

	for (unsigned i = 0; i < m->ntargets; i++) {
		const struct target_config *t = m->targets[i].t;

		if (!target_takes(t, ev, ev->path) ||
		    queue_is_pushed(m->q, t->name, ev->user, ev->path,
		        (uint64_t)st->st_size, mtime_ns) != 0 ||
		    queue_has_job(m->q, t->name, ev->user, ev->path) != 0)
			continue;
		names[n++] = t->name;
	}
	return n;
}

struct catch_up {
	struct mirror *m;
	const struct user *u;
	int queued;
};

/* For one file of a home: queue it for every target that wants it and
 * does not hold this version yet. */
static int
catch_up_file(void *ctx, const char *vpath, const struct stat *st)
{
	struct catch_up *c = ctx;
	struct upload_event ev = { CHANGE_PUT, c->u->name, c->u->home,
		c->u->mirror, vpath, NULL, (uint64_t)st->st_size, 1 };
	const char *names[RFTP_TARGETS_MAX];
	size_t n;

	if (c->m->stop)
		return 1;
	n = stale_targets(c->m, &ev, st, names);
	if (n > 0 &&
	    queue_add(c->m->q, names, n, JOB_PUT, c->u->name, c->u->home, vpath,
	        NULL) == 0)
		c->queued += (int)n;
	return 0;
}

/* Walks the homes of every user (all) or of the users named in names:
 * files that are not on a target at their current version are queued. */
static int
scan_homes(
    struct mirror *m, int all, char (*names)[RFTP_USER_MAX + 1], size_t nnames)
{
	struct buf errs;
	struct user_set *set;
	int total = 0;

	buf_init(&errs, 64 * 1024);
	set = users_set_load(m->cfg->users_file, &errs);
	buf_free(&errs);
	if (set == NULL)
		return 0;
	for (size_t i = 0; i < users_set_count(set) && !m->stop; i++) {
		const struct user *u = users_set_get(set, i);
		struct catch_up c = { m, u, 0 };
		size_t k;
		int root;

		for (k = 0; !all && k < nnames; k++)
			if (strcmp(names[k], u->name) == 0)
				break;
		if ((!all && k == nnames) || strcmp(u->mirror, "none") == 0)
			continue;
		root = fs_open_root(u->home, 0);
		if (root < 0)
			continue;
		fs_walk(root, "/", 0, catch_up_file, &c);
		close(root);
		total += c.queued;
	}
	users_set_free(set);
	return total;
}

/*
 * The scanner thread: the start-up catch-up (files that appeared or changed
 * in the homes while the daemon was down, or before the mirror was
 * configured), then a walk of a user's home whenever a push found its file
 * missing for no queued reason. Runs apart so the server answers at once.
 */
static void *
scanner_main(void *arg)
{
	struct mirror *m = arg;
	int first = 1;

	pthread_mutex_lock(&m->scan_lock);
	while (!m->stop) {
		char names[SCAN_REQUESTS][RFTP_USER_MAX + 1];
		size_t n = m->nscan;
		int all = m->scan_all, total;

		if (!all && n == 0) {
			pthread_cond_wait(&m->scan_wake, &m->scan_lock);
			continue;
		}
		memcpy(names, m->scan_users, sizeof(names));
		m->nscan = 0;
		m->scan_all = 0;
		pthread_mutex_unlock(&m->scan_lock);
		total = scan_homes(m, all, names, n);
		if (total > 0) {
			if (first)
				log_info(
				    "mirror catch-up: %d pushes queued for "
				    "files that changed while relayftpd "
				    "was down",
				    total);
			else
				log_info(
				    "mirror rescan: %d pushes queued", total);
			wake_all(m);
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

static void
settle_intents(struct mirror *m)
{
	struct job *v = NULL;
	size_t n = 0;
	int made = 0;

	if (queue_intents(m->q, &v, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		int happened = intent_happened(&v[i]);

		made += happened;
		queue_settle(m->q, v[i].id, v[i].id, happened);
	}
	if (n > 0)
		log_info("mirror: %zu changes interrupted by a restart: %d "
		         "made (queued), %zu not made (dropped)",
		    n, made, n - (size_t)made);
	free(v);
}

struct upload_sink
mirror_sink(struct mirror *m)
{
	struct upload_sink s = { mirror_changed, mirror_begin, mirror_end, m };

	return s;
}

struct mirror *
mirror_start(const struct config *cfg, char *err, size_t errlen)
{
	struct mirror *m = calloc(1, sizeof(*m));
	int n;

	if (m == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->cfg = cfg;
	m->q = queue_open(cfg->mirror.queue, err, errlen);
	if (m->q == NULL) {
		free(m);
		return NULL;
	}
	n = queue_recover(m->q);
	if (n > 0)
		log_info("mirror: %d interrupted pushes will be redone", n);
	settle_intents(m);
	for (unsigned i = 0; i < USER_LOCKS; i++)
		pthread_mutex_init(&m->user_locks[i], NULL);
	pthread_mutex_init(&m->scan_lock, NULL);
	pthread_cond_init(&m->scan_wake, NULL);
	m->scan_all = 1; /* the start-up catch-up */
	m->ntargets = cfg->mirror.ntargets;
	m->targets = calloc(m->ntargets ? m->ntargets : 1, sizeof(*m->targets));
	if (m->targets == NULL) {
		snprintf(err, errlen, "out of memory");
		queue_close(m->q);
		free(m);
		return NULL;
	}
	for (unsigned i = 0; i < m->ntargets; i++) {
		struct target_state *ts = &m->targets[i];
		size_t w = (size_t)cfg->mirror.workers_per_target;

		ts->t = &cfg->mirror.targets[i];
		ts->m = m;
		pthread_mutex_init(&ts->lock, NULL);
		pthread_cond_init(&ts->wake, NULL);
		ts->threads = calloc(w, sizeof(*ts->threads));
		for (size_t k = 0; ts->threads != NULL && k < w; k++)
			if (pthread_create(&ts->threads[ts->nthreads], NULL,
			        worker_main, ts) == 0)
				ts->nthreads++;
		log_info("mirror target %s: %zu workers, verify %s",
		    ts->t->name, ts->nthreads,
		    ts->t->verify == VERIFY_HASH     ? "hash" :
		        ts->t->verify == VERIFY_SIZE ? "size" :
		                                       "none");
		if (strncmp(ts->t->url, "sftp://", 7) == 0 &&
		    !ts->t->host_key_verify)
			log_warn(
			    "mirror target %s: host_key_verify = off: the "
			    "sftp host key is not checked, so a man in the "
			    "middle can read the login and the files",
			    ts->t->name);
	}
	m->scanning = pthread_create(&m->scanner, NULL, scanner_main, m) == 0;
	return m;
}

void
mirror_stop(struct mirror *m)
{
	if (m == NULL)
		return;
	m->stop = 1;
	pthread_mutex_lock(&m->scan_lock);
	pthread_cond_broadcast(&m->scan_wake);
	pthread_mutex_unlock(&m->scan_lock);
	if (m->scanning)
		pthread_join(m->scanner, NULL);
	for (unsigned i = 0; i < m->ntargets; i++)
		wake_target(&m->targets[i]);
	for (unsigned i = 0; i < m->ntargets; i++) {
		struct target_state *ts = &m->targets[i];

		for (size_t k = 0; k < ts->nthreads; k++)
			pthread_join(ts->threads[k], NULL);
		free(ts->threads);
		pthread_mutex_destroy(&ts->lock);
		pthread_cond_destroy(&ts->wake);
	}
	free(m->targets);
	for (unsigned i = 0; i < USER_LOCKS; i++)
		pthread_mutex_destroy(&m->user_locks[i]);
	pthread_mutex_destroy(&m->scan_lock);
	pthread_cond_destroy(&m->scan_wake);
	queue_close(m->q);
	free(m);
}

/* ms since the epoch as 2026-12-01T13:00:00Z, or "-" for 0 (never). */
static void
iso_time(int64_t ms, char *out, size_t outlen)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || gmtime_r(&secs, &tm) == NULL ||
	    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outlen, "-");
}

int
mirror_cli_status(const struct config *cfg)
{
	char err[512];
	struct queue *q = queue_open(cfg->mirror.queue, err, sizeof(err));
	int64_t now = now_ms();

	if (q == NULL) {
		fprintf(stderr, "relayftpd: cannot open the queue: %s\n", err);
		return 1;
	}
	if (cfg->mirror.ntargets == 0)
		printf("no targets configured\n");
	for (unsigned i = 0; i < cfg->mirror.ntargets; i++) {
		const struct target_config *t = &cfg->mirror.targets[i];
		struct target_status st;
		const char *state = "up", *error = "none";
		char since[64] = "", err_at[32], ok_at[32];

		if (queue_status(q, t->name, &st) < 0) {
			printf("target %s: status unavailable\n", t->name);
			continue;
		}
		if (st.backoff_until_ms > now)
			state = "backoff";
		else if (st.failing_since_ms != 0)
			state = "failing";
		if (st.failing_since_ms != 0) {
			char at[32];

			iso_time(st.failing_since_ms, at, sizeof(at));
			snprintf(since, sizeof(since), " failing_since=%s", at);
		}
		/* A target that recovered keeps its last error on show, with
		 * its time, marked past: the admin sees what happened and
		 * that it is over. */
		if (st.last_error[0] != '\0')
			error = st.failing_since_ms != 0 ? "current" : "past";
		iso_time(st.last_error_ms, err_at, sizeof(err_at));
		iso_time(st.last_ok_ms, ok_at, sizeof(ok_at));
		/* The added fields stand beside failing_since, after state:
		 * the contract's fields keep their order and last_error its
		 * place at the end of the line. */
		printf("target %s: state=%s%s error=%s last_error_at=%s "
		       "last_ok_at=%s queued=%lld running=%lld "
		       "failed=%lld oldest_age=%llds pushed_files=%lld "
		       "pushed_bytes=%lld last_error=\"%s\"\n",
		    t->name, state, since, error, err_at, ok_at,
		    (long long)st.queued, (long long)st.running,
		    (long long)st.failed,
		    (long long)(st.oldest_ms ? (now - st.oldest_ms) / 1000 : 0),
		    (long long)st.files, (long long)st.bytes,
		    st.last_error[0] ? st.last_error : "-");
	}
	queue_close(q);
	return 0;
}

int
mirror_cli_retry(const struct config *cfg, const char *target)
{
	char err[512];
	struct queue *q;
	int n;

	if (target != NULL && config_target(cfg, target) == NULL) {
		fprintf(stderr, "relayftpd: no target '%s' in %s\n", target,
		    cfg->path);
		return 1;
	}
	q = queue_open(cfg->mirror.queue, err, sizeof(err));
	if (q == NULL) {
		fprintf(stderr, "relayftpd: cannot open the queue: %s\n", err);
		return 1;
	}
	n = queue_requeue_failed(q, target);
	queue_close(q);
	if (n < 0)
		return 1;
	printf("requeued %d parked jobs\n", n);
	return 0;
}

struct local_file {
	char *vpath;
	uint64_t size;
};

struct file_list {
	struct local_file *v;
	size_t n, cap;
};

static int
collect_file(void *ctx, const char *vpath, const struct stat *st)
{
	struct file_list *l = ctx;

	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 256;
		struct local_file *nv = realloc(l->v, ncap * sizeof(*nv));

		if (nv == NULL)
			return -1;
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n].vpath = strdup(vpath);
	if (l->v[l->n].vpath == NULL)
		return -1;
	l->v[l->n].size = (uint64_t)st->st_size;
	l->n++;
	return 0;
}

static int
cmp_local(const void *a, const void *b)
{
	return strcmp(((const struct local_file *)a)->vpath,
	    ((const struct local_file *)b)->vpath);
}

struct remote_entry {
	char name[NAME_MAX + 1];
	int64_t size;
};

struct remote_dir {
	struct remote_entry *v;
	size_t n, cap;
};

static void
collect_remote(void *ctx, const char *name, int64_t size, int is_dir)
{
	struct remote_dir *d = ctx;

	if (is_dir)
		return;
	if (d->n == d->cap) {
		size_t ncap = d->cap ? d->cap * 2 : 64;
		struct remote_entry *nv = realloc(d->v, ncap * sizeof(*nv));

		if (nv == NULL)
			return;
		d->v = nv;
		d->cap = ncap;
	}
	snprintf(d->v[d->n].name, sizeof(d->v[d->n].name), "%s", name);
	d->v[d->n].size = size;
	d->n++;
}

static int64_t
remote_size(const struct remote_dir *d, const char *name)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->v[i].name, name) == 0)
			return d->v[i].size;
	return -2; /* absent */
}

/* Compares one user's home with the target; returns queued or -1. */
static int
resync_user(const struct target_config *t, struct transport *tp,
    struct queue *q, const struct user *u, int *checked)
{
	struct file_list files = { NULL, 0, 0 };
	struct remote_dir dir = { NULL, 0, 0 };
	const char *name = t->name;
	struct push_result res;
	char cur[RFTP_PATH_MAX] = "", rdir[RFTP_PATH_MAX + RFTP_USER_MAX + 2];
	int root = fs_open_root(u->home, 0), queued = 0, rc = 0;

	if (root < 0)
		return 0;
	fs_walk(root, "/", 0, collect_file, &files);
	close(root);
	if (files.n > 0)
		qsort(files.v, files.n, sizeof(*files.v), cmp_local);
	for (size_t i = 0; i < files.n && rc == 0; i++) {
		const char *vpath = files.v[i].vpath;
		const char *leaf = strrchr(vpath, '/') + 1;
		struct upload_event ev = { CHANGE_PUT, u->name, u->home,
			u->mirror, vpath, NULL, files.v[i].size, 0 };
		size_t dlen = (size_t)(leaf - vpath - 1);
		int64_t have;

		if (!target_takes(t, &ev, vpath))
			continue;
		(*checked)++;
		/* Files come sorted: each folder is listed once. */
		if (strlen(cur) != dlen || strncmp(cur, vpath, dlen) != 0 ||
		    i == 0) {
			struct job j;

			snprintf(cur, sizeof(cur), "%.*s", (int)dlen, vpath);
			memset(&j, 0, sizeof(j));
			snprintf(j.user, sizeof(j.user), "%s", u->name);
			remote_path(t, &j, cur, rdir, sizeof(rdir));
			dir.n = 0;
			if (transport_list(
			        tp, rdir, collect_remote, &dir, &res) < 0) {
				fprintf(stderr, "relayftpd: %s\n", res.error);
				rc = -1;
				break;
			}
		}
		have = remote_size(&dir, leaf);
		if (have == (int64_t)files.v[i].size ||
		    queue_has_job(q, t->name, u->name, vpath) != 0)
			continue;
		if (queue_add(q, &name, 1, JOB_PUT, u->name, u->home, vpath,
		        NULL) == 0) {
			queued++;
			printf("queued /%s%s (%s)\n", u->name, vpath,
			    have == -2 ? "missing" : "different size");
		}
	}
	for (size_t i = 0; i < files.n; i++)
		free(files.v[i].vpath);
	free(files.v);
	free(dir.v);
	return rc < 0 ? -1 : queued;
}

int
mirror_cli_resync(const struct config *cfg, const char *target)
{
	const struct target_config *t = config_target(cfg, target);
	static atomic_int never_stop;
	struct transport *tp = NULL;
	struct user_set *set = NULL;
	struct queue *q = NULL;
	struct buf errs;
	char err[512];
	int queued = 0, checked = 0, rc = 1;

	if (t == NULL) {
		fprintf(stderr, "relayftpd: no target '%s' in %s\n", target,
		    cfg->path);
		return 1;
	}
	buf_init(&errs, 64 * 1024);
	set = users_set_load(cfg->users_file, &errs);
	if (set == NULL) {
		fputs(buf_str(&errs), stderr);
		goto out;
	}
	q = queue_open(cfg->mirror.queue, err, sizeof(err));
	if (q == NULL) {
		fprintf(stderr, "relayftpd: cannot open the queue: %s\n", err);
		goto out;
	}
	if (transport_global_init() < 0 ||
	    (tp = transport_new(t, &never_stop)) == NULL)
		goto out;
	for (size_t i = 0; i < users_set_count(set); i++) {
		const struct user *u = users_set_get(set, i);
		int n;

		if (strcmp(u->mirror, "none") == 0 ||
		    !user_wants(u->mirror, t->name))
			continue;
		n = resync_user(t, tp, q, u, &checked);
		if (n < 0)
			goto out;
		queued += n;
	}
	printf("resync %s: %d files compared, %d queued (missing or "
	       "different on the target)\n",
	    t->name, checked, queued);
	rc = 0;
out:
	transport_free(tp);
	if (tp != NULL)
		transport_global_cleanup();
	queue_close(q);
	users_set_free(set);
	buf_free(&errs);
	return rc;
}
