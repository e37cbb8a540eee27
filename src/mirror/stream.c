/*
 * stream.c - pushing an upload while it arrives (stream.h).
 *
 * One lock (m->stream_lock) and one condition (m->stream_cond) guard every
 * stream and copy: their state changes a few times per upload, so nothing
 * is gained by finer locks, and one broadcast reaches every waiter (the
 * starter, copies waiting for bytes or for their taker, workers waiting
 * for a copy, stop). A stream is freed by the last of its references: the
 * server's handle (until stream_end), the starter's list, each copy thread
 * and each worker that took a copy.
 */
#include "mirror/logpath.h"
#include "mirror/stream.h"

#include "common/clock.h"
#include "common/log.h"
#include "common/thread.h"
#include "mirror/mirror_int.h"
#include "mirror/route.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The server tells of the pieces it writes (stream_grew) when asked to:
 * a copy that caught up with the upload asks to be woken this much
 * later, so that it sends in pieces, not at every write. */
#define GROW_STEP (1024 * 1024)
/* How often a copy that caught up with the upload, or the starter, looks
 * at the partial's size again, should a notice be missed (a piece
 * written between its look and its request to be told). */
#define GROW_POLL_MS  20
#define START_POLL_MS 50
/* A copy sent whole waits this long for the worker that takes its job;
 * then it is removed (the job, queued behind others, is pushed as any). */
#define HANDOFF_MS (600 * 1000)
/* A worker waits for a copy that is still being sent while it moves on;
 * this long without a byte (or the target's timeout, if longer: the copy
 * may wait that long for its 226), it pushes the file itself. */
#define STALL_MS (60 * 1000)
/* Uploads registered at once; beyond, an upload is pushed once complete. */
#define STREAMS_MAX 256
/* The memo's keys of stream copies: "stream:" and the remote path. */
#define MEMO_PREFIX "stream:"
/* The sweep reads the records of copies left on a target a page at a
 * time: a page holds at least a dozen records of the longest paths. */
#define SWEEP_PAGE      (64 * 1024)
#define SWEEP_PAGES_MAX 1000

enum up_state {
	UP_GROWING,
	UP_COMPLETE,
	UP_ABORTED
};

enum copy_state {
	C_IDLE,    /* not started (the upload is still small) */
	C_SENDING, /* its thread sends the bytes as they come */
	C_SENT,    /* whole on the target, waiting for a worker */
	C_TAKEN,   /* a worker verifies and publishes it */
	C_DONE,    /* settled: published, or to be removed */
	C_FAILED,  /* never whole: removed by its thread */
};

struct stream_copy {
	struct stream *s;
	unsigned ti; /* target index */
	enum copy_state state;
	int published;
	int running; /* its thread has not ended */
	int orphan;  /* no job will take it (drop_untaken): removed once sent */
	int64_t tag;
	/* Bytes handed to the transport so far, and when they last grew:
	 * told by the transport's progress, without the lock. */
	atomic_uint_fast64_t sent;
	atomic_int_fast64_t moved_ms;
	char rpath[RFTP_RPATH_MAX]; /* where the file goes on the target */
	/* Whose temporary name the copy takes: its leaf at the top of the
	 * target's folder, where no rename or delete of the user's folders
	 * can carry it away before it is published or removed. */
	char spath[RFTP_PATH_MAX];
};

struct stream {
	struct stream *next;
	struct mirror *m;
	int refs;
	int fd;
	dev_t dev;
	ino_t ino;
	enum up_state up;
	uint64_t size;    /* once complete */
	int64_t mtime_ns; /* once complete */
	int started;      /* its copies were started */
	/* stream_grew wakes the waiters once the file holds this many bytes
	 * (UINT64_MAX: nobody waits); set under the lock, read without. */
	atomic_uint_fast64_t tell_at;
	char user[RFTP_USER_MAX + 1];
	char path[RFTP_PATH_MAX];
	unsigned ncopies;
	struct stream_copy copies[]; /* one per target that takes it */
};

/* Called with the lock held. */
static void
unref(struct stream *s)
{
	if (--s->refs > 0)
		return;
	close(s->fd);
	free(s);
}

static int
enabled(const struct mirror *m)
{
	return m->cfg->mirror.stream_min_size > 0;
}

/* Waits on the streams' condition for at most ms. Lock held. */
static void
wait_ms(struct mirror *m, int64_t ms)
{
	struct timespec abs = clock_mono_after(ms);

	pthread_cond_timedwait(&m->stream_cond, &m->stream_lock, &abs);
}

void *
stream_begin(void *ctx, const struct upload_event *ev, int fd)
{
	struct mirror *m = ctx;
	const struct mirror_config *mc = &m->cfg->mirror;
	unsigned takers[RFTP_TARGETS_MAX], n = 0;
	struct stream *s;
	struct stat st;

	if (!enabled(m) || mirror_stopping(m))
		return NULL;
	/* Declared (ALLO) below the size worth streaming: the starter would
	 * never start it. Not registered, it costs no descriptor, stat or
	 * lock; a client that sends more than it declared has its file
	 * pushed once complete, as any other. */
	if (ev->size > 0 && ev->size < mc->stream_min_size)
		return NULL;
	/* ftp, ftps, sftp: the kinds that can take a file being written (a
	 * webhook, a command or S3 get it complete). */
	for (unsigned i = 0; i < m->ntargets && n < RFTP_TARGETS_MAX; i++)
		if (transport_kind_can_grow(&mc->targets[i]) &&
		    route_target_takes(&mc->targets[i], ev->mirror, ev->path))
			takers[n++] = i;
	if (n == 0)
		return NULL;
	/* Sized to its copies: one is made for every upload from byte 0. */
	s = calloc(1, sizeof(*s) + n * sizeof(s->copies[0]));
	if (s == NULL)
		return NULL;
	for (unsigned k = 0; k < n; k++) {
		struct stream_copy *c = &s->copies[s->ncopies];

		const char *leaf = strrchr(ev->path, '/');

		char why[160];

		if (route_remote_path(&mc->targets[takers[k]], ev->user,
		        ev->path, c->rpath, sizeof(c->rpath)) < 0 ||
		    !transport_kind_name_ok(
		        &mc->targets[takers[k]], c->rpath, why, sizeof(why)) ||
		    snprintf(c->spath, sizeof(c->spath), "/%s",
		        leaf != NULL ? leaf + 1 : ev->path) >=
		        (int)sizeof(c->spath))
			continue;
		c->s = s;
		c->ti = takers[k];
		s->ncopies++;
	}
	if (s->ncopies == 0 ||
	    snprintf(s->user, sizeof(s->user), "%s", ev->user) >=
	        (int)sizeof(s->user) ||
	    snprintf(s->path, sizeof(s->path), "%s", ev->path) >=
	        (int)sizeof(s->path)) {
		free(s);
		return NULL;
	}
	s->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (s->fd < 0 || fstat(s->fd, &st) < 0) {
		if (s->fd >= 0)
			close(s->fd);
		free(s);
		return NULL;
	}
	s->m = m;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->up = UP_GROWING;
	s->refs = 2; /* the server's handle and the starter's list */
	atomic_store(&s->tell_at, mc->stream_min_size);
	pthread_mutex_lock(&m->stream_lock);
	if (m->nstreams >= STREAMS_MAX) {
		pthread_mutex_unlock(&m->stream_lock);
		close(s->fd);
		free(s);
		return NULL;
	}
	s->next = m->streams;
	m->streams = s;
	m->nstreams++;
	/* Only a napping starter needs the news; one that polls sizes
	 * sees it within START_POLL_MS. A broadcast for every upload woke
	 * it twice a file (a thousand times a second). */
	if (m->starter_napping)
		pthread_cond_broadcast(&m->stream_cond);
	pthread_mutex_unlock(&m->stream_lock);
	return s;
}

/* Takes s off the starter's list: 1, or 0 if it was not there (the
 * starter dropped it). The caller owns the list's reference then. Lock
 * held. */
static int
unlist(struct mirror *m, struct stream *s)
{
	for (struct stream **pp = &m->streams; *pp != NULL; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			m->nstreams--;
			return 1;
		}
	return 0;
}

void
stream_grew(void *ctx, void *h, uint64_t size)
{
	struct mirror *m = ctx;
	struct stream *s = h;

	/* Nearly every piece: nobody waits for it, one atomic read. */
	if (s == NULL || size < atomic_load(&s->tell_at))
		return;
	pthread_mutex_lock(&m->stream_lock);
	atomic_store(&s->tell_at, UINT64_MAX);
	pthread_cond_broadcast(&m->stream_cond);
	pthread_mutex_unlock(&m->stream_lock);
}

void
stream_end(void *ctx, void *h, int complete, uint64_t size)
{
	struct mirror *m = ctx;
	struct stream *s = h;
	struct stat st;

	if (s == NULL)
		return;
	/* The file as it stands published: a copy is used only for these
	 * bytes, never if a program rewrites the file later. */
	if (complete && fstat(s->fd, &st) < 0)
		complete = 0;
	pthread_mutex_lock(&m->stream_lock);
	s->up = complete ? UP_COMPLETE : UP_ABORTED;
	s->size = size;
	if (complete)
		s->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 +
		    st.st_mtim.tv_nsec;
	if (s->started) {
		/* Its copies wait for the end (grow_wait). */
		pthread_cond_broadcast(&m->stream_cond);
	} else if (unlist(m, s)) {
		/* An upload that ended before stream_min_size (most do): no
		 * copy, so nobody waits on it; off the list at once rather
		 * than at the starter's next look. The list's reference goes;
		 * the handle's, below, is the last unless a worker holds
		 * one. */
		s->refs--;
	}
	unref(s);
	pthread_mutex_unlock(&m->stream_lock);
}

/* The copy's reader at the bytes written so far (transport.h
 * file_grow_fn): waits for more, the upload's end, or its abort. */
static int
grow_wait(void *ctx, uint64_t off, uint64_t *end)
{
	struct stream_copy *c = ctx;
	struct stream *s = c->s;
	struct mirror *m = s->m;
	struct stat st;
	int rc;

	pthread_mutex_lock(&m->stream_lock);
	for (;;) {
		if (mirror_stopping(m) || s->up == UP_ABORTED) {
			rc = -1;
			break;
		}
		if (s->up == UP_COMPLETE) {
			*end = s->size;
			rc = 0;
			break;
		}
		/* Asked before the look: a piece written after it is told. */
		if (atomic_load(&s->tell_at) > off + GROW_STEP)
			atomic_store(&s->tell_at, off + GROW_STEP);
		if (fstat(s->fd, &st) == 0 && (uint64_t)st.st_size > off) {
			rc = 1;
			break;
		}
		wait_ms(m, GROW_POLL_MS);
	}
	pthread_mutex_unlock(&m->stream_lock);
	return rc;
}

/* The copy's transport tells the bytes it was handed (transport.h): a
 * worker waiting for the copy sees it move (stream_take's stall rule). */
static void
copy_progress(void *ctx, uint64_t done)
{
	struct stream_copy *c = ctx;

	if (done > atomic_load(&c->sent)) {
		atomic_store(&c->sent, done);
		atomic_store(&c->moved_ms, (int64_t)clock_mono_ms());
	}
}

/* A copy's leftover on the target could not be removed (the target is
 * down): the target's workers sweep again once it answers (worker.c). */
static void
sweep_later(struct mirror *m, unsigned ti)
{
	struct target_state *ts = &m->targets[ti];

	pthread_mutex_lock(&ts->lock);
	ts->sweep_due = 1;
	pthread_mutex_unlock(&ts->lock);
}

/* The target would not remove a copy (transport_discard 1): asking again
 * changes nothing, so the admin is told, once, and its record goes. */
static void
refused_removal(const char *target, const char *spath)
{
	log_warn("mirror stream target=%s: the target would not remove the "
	         "temporary copy %s (does its account take deletes?): "
	         "remove it there by hand",
	    target, spath);
}

/* How long after a cut copy's removal the target is swept once more. */
#define RESWEEP_MS (30 * 1000)

/* A cut copy was removed: its record stays until a sweep RESWEEP_MS later
 * finds it gone (worker.c). */
static void
sweep_again(struct mirror *m, unsigned ti)
{
	struct target_state *ts = &m->targets[ti];

	pthread_mutex_lock(&ts->lock);
	if (ts->resweep_at_ms == 0)
		ts->resweep_at_ms = clock_wall_ms() + RESWEEP_MS;
	pthread_mutex_unlock(&ts->lock);
}

static void
memo_key(const struct stream_copy *c, char *key, size_t keylen, char *id,
    size_t idlen)
{
	snprintf(key, keylen, MEMO_PREFIX "%s", c->spath);
	snprintf(id, idlen, "%" PRId64, c->tag);
}

/* A logged-in transport to target ti a copy left (the newest: the likeliest
 * to be still open), else a new one; NULL if none can be made. */
static struct transport *
spare_take(struct mirror *m, unsigned ti)
{
	struct target_state *ts = &m->targets[ti];
	struct transport *tp = NULL;

	pthread_mutex_lock(&m->stream_lock);
	if (ts->nspares > 0)
		tp = ts->spares[--ts->nspares];
	pthread_mutex_unlock(&m->stream_lock);
	if (tp != NULL)
		return tp;
	/* A new login: the lane's idle connection gives its place up (a
	 * target that takes one more than the workers refused the copy's
	 * login while the lane held it: a review). */
	worker_lane_let_go(ts);
	return transport_new(ts->t, &m->stop, ts->lore);
}

/* How long a copy's logged-in connection is kept for the next copy to
 * its target ([mirror] stream_keep_idle, limits.h says why). */
static uint64_t
spare_idle_ms(const struct mirror *m)
{
	return m->cfg->mirror.stream_keep_idle * 1000;
}

/* Keeps tp (usable: its connection is fine; last used at used_ms) for the
 * next copy to ti, or frees it: at most one per copy the target may take
 * at once, and none idle stream_keep_idle already (a copy may wait
 * minutes for the worker that takes it; found by a review). */
static void
spare_keep(struct mirror *m, unsigned ti, struct transport *tp, int usable,
    uint64_t used_ms)
{
	struct target_state *ts = &m->targets[ti];
	int stale = used_ms + spare_idle_ms(m) <= clock_mono_ms();

	if (tp == NULL)
		return;
	pthread_mutex_lock(&m->stream_lock);
	if (usable && !stale && !mirror_stopping(m) &&
	    ts->nspares < m->cfg->mirror.workers_per_target &&
	    ts->nspares < RFTP_WORKERS_PER_TARGET_MAX) {
		/* In the order of their last use, oldest first: spares_close
		 * looks at the first, spare_take takes the last. */
		unsigned at = ts->nspares;

		for (; at > 0 && ts->spare_ms[at - 1] > used_ms; at--) {
			ts->spare_ms[at] = ts->spare_ms[at - 1];
			ts->spares[at] = ts->spares[at - 1];
		}
		ts->spare_ms[at] = used_ms;
		ts->spares[at] = tp;
		ts->nspares++;
		tp = NULL;
	}
	pthread_mutex_unlock(&m->stream_lock);
	if (tp == NULL)
		log_debug("mirror stream target=%s: connection kept for the "
		          "next copy",
		    ts->t->name);
	/* A goodbye to the target, not under the lock; without waiting
	 * for it from one idle too long (it may have stopped answering). */
	if (stale)
		transport_free_quickly(tp);
	else
		transport_free(tp);
}

/* Closes the spares idle stream_keep_idle (all of them if all), the
 * oldest first, quickly: a target that stopped answering meanwhile would
 * hold the starter, and every stream with it, for its response timeout
 * (found by a review). Lock held; let go while the connections are
 * closed. */
static void
spares_close_of(struct mirror *m, struct target_state *ts, int all)
{
	/* The clock read at each look: one kept while the lock was let go
	 * is younger than a time read before. */
	while (ts->nspares > 0 &&
	    (all || ts->spare_ms[0] + spare_idle_ms(m) <= clock_mono_ms())) {
		struct transport *tp = ts->spares[0];

		/* Said before the goodbye: an admin who finds a connection to
		 * the target gone learns why, and when, even if the goodbye
		 * itself is what hangs. A stop's close of them all is not
		 * news. */
		if (!all)
			log_info("mirror stream target=%s: a kept connection "
			         "unused for %" PRIu64 " s is closed "
			         "(stream_keep_idle)",
			    ts->t->name, m->cfg->mirror.stream_keep_idle);
		ts->nspares--;
		memmove(&ts->spares[0], &ts->spares[1],
		    ts->nspares * sizeof(ts->spares[0]));
		memmove(&ts->spare_ms[0], &ts->spare_ms[1],
		    ts->nspares * sizeof(ts->spare_ms[0]));
		pthread_mutex_unlock(&m->stream_lock);
		transport_free_quickly(tp);
		pthread_mutex_lock(&m->stream_lock);
	}
}

static void
spares_close(struct mirror *m, int all)
{
	for (unsigned ti = 0; ti < m->ntargets; ti++)
		spares_close_of(m, &m->targets[ti], all);
}

void
stream_spares_drop(struct mirror *m, unsigned ti)
{
	pthread_mutex_lock(&m->stream_lock);
	spares_close_of(m, &m->targets[ti], 1);
	pthread_mutex_unlock(&m->stream_lock);
}

/* One copy: sends the bytes while they arrive, waits for the worker that
 * takes it, and removes it unless it was published. */
static void *
copy_main(void *arg)
{
	struct stream_copy *c = arg;
	struct stream *s = c->s;
	struct mirror *m = s->m;
	const struct target_config *t = &m->cfg->mirror.targets[c->ti];
	struct transport *tp = spare_take(m, c->ti);
	char key[RFTP_RPATH_MAX + 16], id[32];
	struct push_result res;
	int64_t deadline;
	int ok = 0, remove = 1, recorded = 0, aborted, d = 0;
	uint64_t used_ms = 0; /* when its connection last moved a byte */

	memo_key(c, key, sizeof(key), id, sizeof(id));
	if (tp != NULL && transport_can_grow(tp)) {
		/* Recorded (synced) before the first byte: a crash leaves
		 * nothing on the target that the next start cannot find. */
		recorded = queue_upload_add(m->q, t->name, key, id) == 0;
		transport_on_progress(tp, copy_progress, c);
		if (recorded)
			ok = transport_put_growing(tp, s->fd, grow_wait, c,
			         c->spath, c->tag, &res) == 0;
		used_ms = clock_mono_ms();
		transport_on_progress(tp, NULL, NULL);
		pthread_mutex_lock(&m->stream_lock);
		aborted = s->up == UP_ABORTED;
		pthread_mutex_unlock(&m->stream_lock);
		if (!ok && recorded && !mirror_stopping(m))
			log_info("mirror stream target=%s path=%s: not "
			         "pushed while it arrived: %s",
			    t->name, LOGPATH(s->user, s->path),
			    aborted ? "the upload ended incomplete, or under "
			              "another name" :
			              res.error);
	}
	pthread_mutex_lock(&m->stream_lock);
	if (ok && s->up == UP_COMPLETE && !c->orphan) {
		c->state = C_SENT;
		atomic_store(&c->sent, s->size);
		pthread_cond_broadcast(&m->stream_cond);
		deadline = (int64_t)clock_mono_ms() + HANDOFF_MS;
		while (c->state == C_SENT && !mirror_stopping(m) &&
		    (int64_t)clock_mono_ms() < deadline)
			wait_ms(m, 1000);
		/* Taken: its worker says when it is settled. */
		while (c->state == C_TAKEN)
			wait_ms(m, 1000);
		remove = !(c->state == C_DONE && c->published);
	}
	c->state = remove ? C_FAILED : C_DONE;
	pthread_cond_broadcast(&m->stream_cond);
	pthread_mutex_unlock(&m->stream_lock);
	/* Removed from the target, and only then from the memo: a copy
	 * that could not be removed (target down, stop) is left to the
	 * sweep, once the target answers again or at the next start. A
	 * copy cut mid-transfer keeps its record after its removal: some
	 * targets write an upload only when they see its data connection
	 * end, which a frozen one did after our removal (found from
	 * outside: the copy stayed for good); a sweep looks again. One the
	 * target would not remove (d 1) is said so and forgotten once
	 * complete; cut, by the sweep that looks again (a late write looks
	 * the same at first). */
	if (recorded) {
		if (remove) {
			d = transport_discard(tp, c->spath, c->tag);
			used_ms = clock_mono_ms();
		}
		if (d < 0) {
			sweep_later(m, c->ti);
		} else if (d == 1 && ok) {
			refused_removal(t->name, c->spath);
			queue_upload_forget(m->q, t->name, key, id);
		} else if (!remove || ok) {
			queue_upload_forget(m->q, t->name, key, id);
		} else {
			sweep_again(m, c->ti);
		}
	}
	/* Kept only if its connection served to the end and the copy was
	 * published: a failed copy's may be broken, and one its worker could
	 * not take may be why (a target that takes a connection or two from
	 * us holds none for a worker while a copy's stays open: nothing was
	 * published while uploads came, found from outside). A new one
	 * costs a login at worst. */
	spare_keep(m, c->ti, tp, ok && !remove && d >= 0, used_ms);
	pthread_mutex_lock(&m->stream_lock);
	c->running = 0;
	m->targets[c->ti].streaming--;
	m->stream_threads--;
	pthread_cond_broadcast(&m->stream_cond);
	unref(s);
	pthread_mutex_unlock(&m->stream_lock);
	return NULL;
}

/* Starts the copies of s (it holds stream_min_size bytes and grows), each
 * within its target's workers_per_target streams at once. Lock held. */
static void
start_copies(struct mirror *m, struct stream *s)
{
	uint64_t cap = m->cfg->mirror.workers_per_target;

	s->started = 1;
	for (unsigned k = 0; k < s->ncopies; k++) {
		struct stream_copy *c = &s->copies[k];
		struct target_state *ts = &m->targets[c->ti];
		pthread_t th;

		if (ts->streaming >= cap)
			continue;
		/* Negative: never a job's id, so never a push's own
		 * temporary name; unique in this run and (by the clock)
		 * across runs. */
		c->tag = -(clock_wall_ms() * 1024 +
		    (int64_t)(m->stream_serial++ % 1024));
		c->state = C_SENDING;
		c->running = 1;
		atomic_store(&c->moved_ms, (int64_t)clock_mono_ms());
		s->refs++;
		ts->streaming++;
		m->stream_threads++;
		if (thread_start(&th, 0, copy_main, c) != 0) {
			c->state = C_IDLE;
			c->running = 0;
			s->refs--;
			ts->streaming--;
			m->stream_threads--;
			continue;
		}
		pthread_detach(th);
	}
}

/* The starter: starts the copies of growing streams that reached the
 * size, and drops from its list the streams that are over. */
static void *
starter_main(void *arg)
{
	struct mirror *m = arg;
	uint64_t min = m->cfg->mirror.stream_min_size;

	pthread_mutex_lock(&m->stream_lock);
	while (!mirror_stopping(m)) {
		struct stream **pp = &m->streams;
		int waiting = 0;

		while (*pp != NULL) {
			struct stream *s = *pp;
			struct stat st;
			int over = s->up != UP_GROWING;

			if (!s->started && !over && fstat(s->fd, &st) == 0 &&
			    (uint64_t)st.st_size >= min)
				start_copies(m, s);
			for (unsigned k = 0; k < s->ncopies && over; k++)
				if (s->copies[k].running)
					over = 0;
			if (over) {
				*pp = s->next;
				m->nstreams--;
				unref(s);
				continue;
			}
			waiting |= !s->started;
			pp = &s->next;
		}
		spares_close(m, 0);
		/* Nothing to size up: sleep until a stream comes. */
		m->starter_napping = !waiting;
		wait_ms(m, waiting ? START_POLL_MS : 1000);
		m->starter_napping = 0;
	}
	pthread_mutex_unlock(&m->stream_lock);
	return NULL;
}

int
stream_start(struct mirror *m)
{
	if (!enabled(m))
		return 0;
	m->streamer_on = thread_start(&m->streamer, 0, starter_main, m) == 0;
	return m->streamer_on ? 0 : -1;
}

void
stream_stop(struct mirror *m)
{
	pthread_mutex_lock(&m->stream_lock);
	pthread_cond_broadcast(&m->stream_cond);
	pthread_mutex_unlock(&m->stream_lock);
	if (m->streamer_on)
		pthread_join(m->streamer, NULL);
	m->streamer_on = 0;
	pthread_mutex_lock(&m->stream_lock);
	while (m->stream_threads > 0) {
		pthread_cond_broadcast(&m->stream_cond);
		wait_ms(m, 100);
	}
	while (m->streams != NULL) {
		struct stream *s = m->streams;

		m->streams = s->next;
		m->nstreams--;
		unref(s);
	}
	spares_close(m, 1);
	pthread_mutex_unlock(&m->stream_lock);
}

/*
 * The copies for rpath on target ti of a complete upload other than now
 * (NULL: any file), sent whole or still sending, go: a job pushes the file
 * its path holds when it runs,
 * so a copy of an upload replaced, moved or deleted before its job ran is
 * taken by none. Each waited for its taker HANDOFF_MS on the target
 * (found from outside: a replaced upload's copy stayed there ten minutes
 * after the queue was empty). Marked settled and not published, its own
 * thread removes it now (once sent, if it is still sending). Lock held.
 */
static void
drop_untaken(
    struct mirror *m, unsigned ti, const char *rpath, const struct stat *now)
{
	for (struct stream *s = m->streams; s != NULL; s = s->next) {
		/* An upload still arriving is published later, with a job
		 * of its own that takes its copy. */
		if (s->up != UP_COMPLETE ||
		    (now != NULL && s->dev == now->st_dev &&
		        s->ino == now->st_ino))
			continue;
		for (unsigned k = 0; k < s->ncopies; k++) {
			struct stream_copy *c = &s->copies[k];

			if (c->ti != ti || c->orphan ||
			    (c->state != C_SENDING && c->state != C_SENT) ||
			    strcmp(c->rpath, rpath) != 0)
				continue;
			log_info("mirror stream target=%s path=%s: the "
			         "copy sent while it arrived is of a file no "
			         "longer there; removing it",
			    m->cfg->mirror.targets[ti].name,
			    LOGPATH(s->user, s->path));
			c->orphan = 1;
			if (c->state == C_SENT) {
				c->state = C_DONE;
				c->published = 0;
			}
			pthread_cond_broadcast(&m->stream_cond);
		}
	}
}

void
stream_forget(struct mirror *m, unsigned ti, const char *rpath)
{
	if (!enabled(m))
		return;
	pthread_mutex_lock(&m->stream_lock);
	drop_untaken(m, ti, rpath, NULL);
	pthread_mutex_unlock(&m->stream_lock);
}

int
stream_take(struct mirror *m, unsigned ti, int fd, uint64_t size,
    int64_t mtime_ns, const char *rpath, struct stream_copy **out,
    const char **from, int64_t *tag)
{
	struct stream_copy *c = NULL;
	struct stat st;
	int64_t stall;
	int rc = 0;

	if (!enabled(m) || fstat(fd, &st) < 0)
		return 0;
	pthread_mutex_lock(&m->stream_lock);
	for (struct stream *s = m->streams; s != NULL && c == NULL; s = s->next)
		for (unsigned k = 0; k < s->ncopies; k++)
			if (s->dev == st.st_dev && s->ino == st.st_ino &&
			    s->copies[k].ti == ti &&
			    strcmp(s->copies[k].rpath, rpath) == 0) {
				c = &s->copies[k];
				break;
			}
	/* Copies of other files for the same name (an upload this one
	 * replaced, whose job merged into this one's) are taken by none:
	 * they went only at their HANDOFF_MS, holding a stream slot and the
	 * replaced file open (found from outside). */
	drop_untaken(m, ti, rpath, &st);
	if (c == NULL) {
		pthread_mutex_unlock(&m->stream_lock);
		return 0;
	}
	/* Held while the lock is let go: the copy's thread and the starter
	 * may drop theirs meanwhile. */
	c->s->refs++;
	/* The upload completed before its job was recorded; its copy may
	 * still be sending the last bytes, or waiting for the target's 226:
	 * waited for while they move, and as long as the copy may wait for
	 * the 226 (a target that scans each file first got the whole file
	 * again after a minute, and its copy was thrown away; found by a
	 * review). */
	stall = (int64_t)m->cfg->mirror.targets[ti].timeout * 1000;
	if (stall < STALL_MS)
		stall = STALL_MS;
	while (c->state == C_SENDING && !mirror_stopping(m) &&
	    (int64_t)clock_mono_ms() - atomic_load(&c->moved_ms) < stall)
		wait_ms(m, 100);
	if (c->state == C_SENT && c->s->up == UP_COMPLETE &&
	    c->s->size == size && c->s->mtime_ns == mtime_ns) {
		c->state = C_TAKEN;
		*out = c;
		*from = c->spath;
		*tag = c->tag;
		rc = 1; /* the reference goes with it (stream_settle) */
	} else {
		/* The file changed since (appended, rewritten in place), or
		 * its copy stalled: the job pushes it whole, and the copy
		 * goes, now if sent, else once its thread ends (one that
		 * finished sending later waited HANDOFF_MS for a taker that
		 * had given up on it; found from outside). */
		if (c->state == C_SENT) {
			c->state = C_DONE;
			c->published = 0;
			pthread_cond_broadcast(&m->stream_cond);
		} else if (c->state == C_SENDING) {
			c->orphan = 1;
		}
		unref(c->s);
	}
	pthread_mutex_unlock(&m->stream_lock);
	return rc;
}

void
stream_settle(struct mirror *m, struct stream_copy *c, int published)
{
	pthread_mutex_lock(&m->stream_lock);
	c->state = C_DONE;
	c->published = published;
	pthread_cond_broadcast(&m->stream_cond);
	unref(c->s);
	pthread_mutex_unlock(&m->stream_lock);
}

/* 1 if a copy whose thread still runs is (rpath, tag) on target ti: its
 * own thread removes it. Lock held. */
static int
live_copy(struct mirror *m, unsigned ti, const char *rpath, long long tag)
{
	for (struct stream *s = m->streams; s != NULL; s = s->next)
		for (unsigned k = 0; k < s->ncopies; k++)
			if (s->copies[k].running && s->copies[k].ti == ti &&
			    s->copies[k].tag == tag &&
			    strcmp(s->copies[k].spath, rpath) == 0)
				return 1;
	return 0;
}

int
stream_sweep(struct mirror *m, unsigned ti, struct transport *tp)
{
	const char *name = m->cfg->mirror.targets[ti].name;
	struct buf list;
	int n, rc = 0, more = 1;

	/* A page of records at a time (a stop with many streams, or stops
	 * while the target was down, leave many): the ones removed are
	 * forgotten, so the next read starts past them. A page that removes
	 * nothing (its copies all live) ends the sweep, failed if more were
	 * behind it, so that it is tried again. */
	buf_init(&list, SWEEP_PAGE);
	for (int page = 0; more && rc == 0 && page < SWEEP_PAGES_MAX; page++) {
		int removed = 0;

		n = queue_upload_list(
		    m->q, name, MEMO_PREFIX, INT64_MAX, &list, &more);
		if (n < 0)
			rc = -1;
		for (size_t off = 0; n > 0 && off < list.len;) {
			const char *key = list.data + off;
			const char *id = key + strlen(key) + 1;
			const char *rpath = key + strlen(MEMO_PREFIX);
			char *endp;
			long long tag;
			int live, d;

			off += strlen(key) + strlen(id) + 2;
			errno = 0;
			tag = strtoll(id, &endp, 10);
			if (errno != 0 || *endp != '\0' || tag >= 0)
				continue;
			pthread_mutex_lock(&m->stream_lock);
			live = live_copy(m, ti, rpath, tag);
			pthread_mutex_unlock(&m->stream_lock);
			if (live)
				continue;
			d = transport_discard(tp, rpath, tag);
			if (d < 0) {
				rc = -1;
				continue;
			}
			if (queue_upload_forget(m->q, name, key, id) == 0)
				removed++;
			if (d == 1)
				refused_removal(name, rpath);
			else
				log_info(
				    "mirror stream target=%s: removed the "
				    "temporary copy of %s left by a stop, a "
				    "cut upload or an unreachable target",
				    name, rpath);
		}
		/* Nothing removed on a page with more behind it: sweep
		 * again later (a minute, or the next push that works). */
		if (removed == 0) {
			if (more)
				rc = -1;
			break;
		}
	}
	buf_free(&list);
	return rc;
}
