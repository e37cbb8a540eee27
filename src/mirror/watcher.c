/*
 * watcher.c - see watcher.h.
 *
 * inotify needs a path per folder; we open each folder through the fs gate
 * and watch /proc/self/fd/N, so a symlink in a home never leads a watch
 * outside it. The server publishes an upload as MOVED_FROM
 * ".rftpd-partial.X" then MOVED_TO "X" with one cookie: that cookie is
 * remembered and its MOVED_TO ignored; the server closed what it wrote
 * before that, under the partial's name (upload.c), so no IN_CLOSE_WRITE
 * of the final name follows. A quiet file is pushed only if no process
 * has it open for writing (fs_has_writer).
 *
 * Files waiting for their quiet time sit in a hash set keyed by user and
 * path (pendset.c). The set is capped (watch_pending_max entries,
 * RFTP_WATCH_PENDING_BYTES bytes); beyond the cap a file is checked and
 * handed to the mirror at once instead of after the debounce: more queue
 * work, but no file is dropped and memory stays bounded. Every scan and
 * every batch of due files looks at the stop flag, so SIGTERM during a
 * rescan of a huge folder exits promptly (what a scan did not reach is
 * found by the mirror's start-up catch-up).
 */
#include "mirror/watcher.h"

#include "common/fsgate.h"
#include "common/log.h"
#include "common/pathnorm.h"
#include "common/syserr.h"
#include "common/thread.h"
#include "common/users.h"
#include "mirror/mounts.h"
#include "mirror/pendset.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WATCH_MASK                                                  \
	(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | \
	    IN_MOVE_SELF | IN_ONLYDIR)

/* Homes not there yet are tried at most this many per look (a second),
 * the next ones at the next look: 100,000 missing homes cost 29 % of a
 * CPU when each was tried every second. */
#define ATTACH_TRIES 4096

/* After a read that brought events, the watcher lets the next ones gather
 * this long: every upload brings events in two bursts (the partial's
 * creation, then its close and rename), each a wake-up of this thread,
 * where files it must push wait watch_debounce_ms anyway. The kernel's
 * queue (max_queued_events, 16,384 by default) holds far more than arrive
 * meanwhile. */
#define GATHER_MS 5

/* A watched home. The strings are allocated to their length: users.ini
 * may hold 100,000 users, and a struct user is 4.9 KB. No descriptor is
 * kept: the home is opened by its path when an event needs it (a
 * descriptor per home ran a daemon of 20,000 users out of them before its
 * listener could open); inotify's watches need none. */
struct wuser {
	char name[RFTP_USER_MAX + 1]; /* "" once let go (wuser_retire) */
	char *home;                   /* NULL once let go */
	char *mirror;                 /* NULL once let go */
	/* The home's folder as watched: a file system mounted on it (or
	 * on a folder above it) since hides that folder, and its watches
	 * see nothing of the files written there (mount_check). */
	dev_t dev;
	ino_t ino;
	/* The home's real path where it is not home (a link on the way),
	 * else NULL: mount points are real paths. */
	char *real;
	/* A mount came or went on the home's path or above it: its folder
	 * is looked at again (mount_check). */
	int recheck;
	/* A folder of this home is another home's too (nested or shared
	 * homes): inotify gives a folder one watch, which goes to the home
	 * attached last. */
	int shares;
	/* Files waiting for their quiet time and folders waiting to be
	 * watched that name this slot: once it is let go and this is 0,
	 * the slot is free for the next home (next_free). */
	size_t held;
	size_t next_free;
};

/* No free slot (watcher.free_head, wuser.next_free). */
#define NO_SLOT SIZE_MAX

/* What attach_homes does with each user of the last users.ini read. */
enum home_state {
	HOME_TRY,      /* wanted, not watched yet: its home is tried */
	HOME_WATCHED,  /* a wuser watches it */
	HOME_UNWANTED, /* mirror = none */
};

/* Folder watches, sorted by wd (the kernel hands them out increasing) so
 * an event finds its folder by binary search; a removed watch is marked
 * dead and the array compacted once half of it is dead. */
struct watch {
	int wd;
	int dead;
	size_t user;
	char *vpath; /* allocated to its length; NULL when dead */
};

/* A folder the watcher could not open (its mode) or watch (the inotify
 * watch limit, descriptors or memory short): tried again each second
 * (retry_closed), since a chmod that opens it, or a watch given back,
 * brings no event (IN_ATTRIB would bring one for every file's chmod and
 * time too). */
struct closed_dir {
	size_t user;
	char *vpath;
};

struct watcher {
	const struct config *cfg;
	struct upload_sink sink;
	int ifd, stopfd;
	/* /proc/self/mountinfo, polled for POLLPRI (a mount or unmount
	 * anywhere); -1 where /proc is not there. */
	int mountfd;
	int mounts_changed; /* looked at with the next second's look */
	/* A home was watched anew since the table was read: the mount
	 * points in it may be at other paths now (mount_check). */
	int mounts_stale;
	struct mount_table mounts; /* as last read */
	pthread_t thread;
	struct wuser *users; /* homes being watched */
	size_t nusers, capusers;
	/* Slots let go and named by nothing, reused by add_user: without
	 * them every home let go and watched again (a user removed and
	 * added back, mirror = none and back, a home made anew) took one
	 * more slot for good, and match_homes looked at all of them (found
	 * by a soak of users.ini edits: about 120 bytes a home each time). */
	size_t free_head;
	struct user_set *want;     /* users.ini as last read */
	unsigned char *home_state; /* enum home_state, per user of want */
	size_t attach_next;        /* where attach_homes goes on */
	struct watch *watches;
	size_t nwatches, capwatches, ndead;
	struct pendset pend; /* files waiting for their quiet time */
	struct closed_dir closed[RFTP_WATCH_CLOSED_MAX];
	size_t nclosed;
	int closed_full_logged;
	int retrying; /* in retry_closed: a folder failing again is not
	                 logged again */
	int full_logged;
	/* Events whose path does not fit (left_out) not said yet, the first
	 * of them, and when the next line may be said. */
	size_t left_out;
	char left_first[512];
	int64_t left_next_ms;
	/* The kernel dropped events (IN_Q_OVERFLOW): every home is walked
	 * again once the events read with it are handled. */
	int rescan;
	atomic_int stopping;
	uint32_t skip_cookie;
	int64_t next_users_ms; /* users.ini and new homes: looked at then */
	struct userdb *db;     /* the server's users, shared */
	uint64_t users_gen;    /* the number of the set in want */
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int ready(
    struct watcher *w, size_t user, const char *vpath, uint64_t *size);

/* Slot k was let go (its home is NULL) and nothing names it now: it goes
 * to the free list. */
static void
slot_free_if_unheld(struct watcher *w, size_t k)
{
	struct wuser *wu = &w->users[k];

	if (wu->home != NULL || wu->held > 0)
		return;
	wu->next_free = w->free_head;
	w->free_head = k;
}

/* A pending file or a closed folder of slot k is gone. */
static void
slot_unhold(struct watcher *w, size_t k)
{
	w->users[k].held--;
	slot_free_if_unheld(w, k);
}

/* Hands a ready file to the mirror as a PUT seen from outside. */
static void
push_now(struct watcher *w, size_t user, const char *vpath, int written)
{
	uint64_t size = 0;

	/* A home let go since the file was scheduled. */
	if (w->users[user].home == NULL)
		return;
	if (ready(w, user, vpath, &size)) {
		const struct wuser *u = &w->users[user];
		struct upload_event ev = { CHANGE_PUT, u->name, u->home,
			u->mirror, vpath, NULL, size, written ? 2 : 1, NULL,
			0 };

		log_debug("mirror watcher: checking /%s%s (%llu bytes)",
		    u->name, vpath, (unsigned long long)size);
		/* The mirror logs it if some target needs it: an upload the
		 * server published already is skipped there. */
		w->sink.changed(w->sink.ctx, &ev);
	}
}

/* Queues vpath for its quiet time, or pushes the debounce back; written:
 * closed after a write (else moved in or found by a walk). */
static void
schedule(struct watcher *w, size_t user, const char *vpath, int written)
{
	int64_t due = now_ms() + (int64_t)w->cfg->mirror.watch_debounce_ms;
	struct pend_entry *p = pendset_find(&w->pend, user, vpath);

	if (p != NULL) {
		p->due_ms = due; /* debounce */
		p->written |= written;
		return;
	}
	if (pendset_add(&w->pend, user, vpath, due,
	        w->cfg->mirror.watch_pending_max,
	        RFTP_WATCH_PENDING_BYTES) == 0) {
		w->users[user].held++;
		w->full_logged = 0;
		if (written &&
		    (p = pendset_find(&w->pend, user, vpath)) != NULL)
			p->written = 1;
		return;
	}
	/* No debounce for this one, but never a lost file. */
	if (!w->full_logged)
		log_warn("mirror watcher: %zu files waiting (%zu bytes of "
		         "paths), over "
		         "watch_pending_max (%llu) or %d bytes: further files "
		         "are checked and queued at once, without waiting for "
		         "watch_debounce_ms",
		    w->pend.n, w->pend.bytes,
		    (unsigned long long)w->cfg->mirror.watch_pending_max,
		    RFTP_WATCH_PENDING_BYTES);
	w->full_logged = 1;
	push_now(w, user, vpath, written);
}

struct scan {
	struct watcher *w;
	size_t user;
};

static int
scan_file(void *ctx, const char *vpath, const struct stat *st)
{
	struct scan *sc = ctx;

	(void)st;
	if (atomic_load(&sc->w->stopping))
		return 1; /* shutting down: fs_walk stops here */
	schedule(sc->w, sc->user, vpath, 0);
	return 0;
}

/*
 * Looks at the files of folder vpath of user's home (opened as root) and
 * below, as scan_file does, and says once a walk what it left out: paths
 * longer than RFTP_PATH_MAX - 1 bytes and folders deeper than
 * RFTP_PATH_DEPTH_MAX, which no target gets. A folder moved into a home
 * or a home found while the daemon ran brought such files without a word
 * (the start-up walk says them since a835a23; the watcher's did not).
 */
static void
scan_tree(struct watcher *w, int root, size_t user, const char *vpath)
{
	struct scan sc = { w, user };
	struct fs_walk_skips sk;
	const struct wuser *u = &w->users[user];

	if (fs_walk_counted(root, vpath, 0, scan_file, &sc, &sk) < 0)
		return;
	if (sk.too_long > 0)
		log_warn("mirror watcher: the walk of %s in the home %s of %s "
		         "left out %zu entries whose path there is longer "
		         "than %d bytes (the first in %s): they are not "
		         "mirrored",
		    vpath, u->home, u->name, sk.too_long, RFTP_PATH_MAX - 1,
		    sk.where);
	if (sk.too_deep > 0)
		log_warn("mirror watcher: the walk of %s in the home %s of %s "
		         "left out %zu folders more than %d deep (the first "
		         "in %s): what they hold is not mirrored",
		    vpath, u->home, u->name, sk.too_deep, RFTP_PATH_DEPTH_MAX,
		    sk.where);
}

/* Index of the first watch whose wd is >= wd. */
static size_t
watch_lower(const struct watcher *w, int wd)
{
	size_t lo = 0, hi = w->nwatches;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (w->watches[mid].wd < wd)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct watch *
find_watch(struct watcher *w, int wd)
{
	size_t i = watch_lower(w, wd);

	if (i < w->nwatches && w->watches[i].wd == wd && !w->watches[i].dead)
		return &w->watches[i];
	return NULL;
}

/* Records (or updates) what folder wd watches. Returns 0 or -1. */
static int
watch_set(struct watcher *w, int wd, size_t user, const char *vpath)
{
	size_t i = watch_lower(w, wd);
	char *copy = strdup(vpath);

	if (copy == NULL)
		return -1;
	if (i < w->nwatches && w->watches[i].wd == wd) {
		size_t was = w->watches[i].user;

		if (!w->watches[i].dead && was != user &&
		    w->users[was].home != NULL && !w->users[user].shares) {
			/* One watch for both: the mirror gives each home
			 * that holds a file its side (mirror_changed). */
			log_info("mirror watcher: the homes of [%s] and [%s] "
			         "share the folder %s%s: files other programs "
			         "write there are seen under [%s] and queued "
			         "for both",
			    w->users[was].name, w->users[user].name,
			    w->users[user].home, vpath, w->users[user].name);
			w->users[was].shares = 1;
			w->users[user].shares = 1;
		}
		if (w->watches[i].dead)
			w->ndead--;
		free(w->watches[i].vpath);
		w->watches[i].dead = 0;
		w->watches[i].user = user;
		w->watches[i].vpath = copy;
		return 0;
	}
	if (w->nwatches == w->capwatches) {
		size_t ncap = w->capwatches ? w->capwatches * 2 : 64;
		struct watch *nw = realloc(w->watches, ncap * sizeof(*nw));

		if (nw == NULL) {
			free(copy);
			return -1;
		}
		w->watches = nw;
		w->capwatches = ncap;
	}
	/* Almost always the end: wds only wrap after 2^31 watches. */
	memmove(&w->watches[i + 1], &w->watches[i],
	    (w->nwatches - i) * sizeof(*w->watches));
	w->watches[i].wd = wd;
	w->watches[i].dead = 0;
	w->watches[i].user = user;
	w->watches[i].vpath = copy;
	w->nwatches++;
	return 0;
}

/* Marks wa dead; the array is compacted by watch_compact. */
static void
watch_kill(struct watcher *w, struct watch *wa)
{
	free(wa->vpath);
	wa->vpath = NULL;
	wa->dead = 1;
	w->ndead++;
}

/* Drops the dead watches once they are half of the array. */
static void
watch_compact(struct watcher *w)
{
	size_t k = 0;

	if (w->ndead <= w->nwatches / 2)
		return;
	for (size_t i = 0; i < w->nwatches; i++)
		if (!w->watches[i].dead)
			w->watches[k++] = w->watches[i];
	w->nwatches = k;
	w->ndead = 0;
}

/* The kernel dropped wd (its folder went away). */
static void
watch_drop(struct watcher *w, struct watch *wa)
{
	watch_kill(w, wa);
	watch_compact(w);
}

/* The home of user, opened (O_PATH) for the caller to close; -1 if it is
 * gone, or let go. */
static int
open_home(const struct watcher *w, size_t user)
{
	if (w->users[user].home == NULL)
		return -1;
	return fs_open_root(w->users[user].home, 0);
}

/* Whether a folder that could not be opened or watched (err) may be
 * later: its mode changed, or the limits it met (the inotify watch
 * limit, descriptors, memory) have room again. Gone or a link is not. */
static int
watch_may_work_later(int err)
{
	return err == EACCES || err == EPERM || err == ENOSPC ||
	    syserr_lacking(err);
}

/* vpath of user's home could not be opened or watched (err): remembered,
 * once, for retry_closed. Beyond RFTP_WATCH_CLOSED_MAX such folders the
 * rest wait for the next start's walk, and the log says so. */
static void
remember_closed(struct watcher *w, size_t user, const char *vpath, int err)
{
	char *copy;

	for (size_t i = 0; i < w->nclosed; i++)
		if (w->closed[i].user == user &&
		    strcmp(w->closed[i].vpath, vpath) == 0)
			return;
	if (w->nclosed == RFTP_WATCH_CLOSED_MAX ||
	    (copy = strdup(vpath)) == NULL) {
		if (!w->closed_full_logged)
			log_warn("mirror watcher: cannot watch %s%s: %s; more "
			         "than %d such folders: files made in the "
			         "others are mirrored at the next start",
			    w->users[user].home, vpath, strerror(err),
			    RFTP_WATCH_CLOSED_MAX);
		w->closed_full_logged = 1;
		return;
	}
	w->closed[w->nclosed].user = user;
	w->closed[w->nclosed].vpath = copy;
	w->nclosed++;
	w->users[user].held++;
	if (!w->retrying)
		log_warn("mirror watcher: cannot watch %s%s: %s%s (looked at "
		         "again each second: its files are mirrored once it "
		         "may be read)",
		    w->users[user].home, vpath, strerror(err),
		    err == ENOSPC ? "; the inotify watch limit "
		                    "(fs.inotify.max_user_watches) is reached" :
		                    "");
}

static int add_tree(struct watcher *w, int root, size_t user, const char *vpath,
    unsigned depth);

/* The folders remember_closed keeps: one that can be watched now is, and
 * its files are looked at; one gone, or of a home let go, is forgotten.
 * From the last: one that fails again is added at the end, and waits for
 * the next second. */
static void
retry_closed(struct watcher *w)
{
	for (size_t i = w->nclosed; i-- > 0 && !atomic_load(&w->stopping);) {
		struct closed_dir c = w->closed[i];
		int root = open_home(w, c.user), fd = -1, keep = 0, watched;

		if (root >= 0) {
			fd = fs_open(root, c.vpath, O_RDONLY | O_DIRECTORY, 0);
			keep = fd < 0 && watch_may_work_later(errno);
		}
		if (keep) {
			close(root);
			continue;
		}
		w->closed[i] = w->closed[--w->nclosed];
		if (fd >= 0) {
			close(fd);
			w->retrying = 1;
			watched = add_tree(w, root, c.user, c.vpath, 0) == 0;
			w->retrying = 0;
			if (watched) {
				log_info("mirror watcher: %s%s may be read "
				         "now: watched",
				    w->users[c.user].home, c.vpath);
				scan_tree(w, root, c.user, c.vpath);
			}
		}
		if (root >= 0)
			close(root);
		free(c.vpath);
		slot_unhold(w, c.user);
	}
	if (w->nclosed < RFTP_WATCH_CLOSED_MAX)
		w->closed_full_logged = 0;
}

/* Watches vpath of user's home, opened as root. */
static int
add_watch(struct watcher *w, int root, size_t user, const char *vpath)
{
	char proc[64];
	int fd, wd, n, err;

	fd = fs_open(root, vpath, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0) {
		/* A folder the daemon may not open (its mode, or no
		 * descriptor left): tried again each second. Gone again,
		 * or a link, is no news. */
		if (watch_may_work_later(errno))
			remember_closed(w, user, vpath, errno);
		return -1;
	}
	n = snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (n < 0 || (size_t)n >= sizeof(proc)) {
		close(fd);
		return -1; /* cannot happen for an int; never a cut path */
	}
	wd = inotify_add_watch(w->ifd, proc, WATCH_MASK);
	err = errno;
	close(fd);
	if (wd < 0 && watch_may_work_later(err)) {
		/* The watch limit reached (ENOSPC): the folder was left
		 * unwatched, and the files other programs wrote in it
		 * were mirrored at the next start only (found by fault
		 * injection). Tried again each second, as a closed one. */
		remember_closed(w, user, vpath, err);
		return -1;
	}
	if (wd < 0) {
		log_warn("mirror watcher: cannot watch %s%s: %s",
		    w->users[user].home, vpath, strerror(err));
		return -1;
	}
	return watch_set(w, wd, user, vpath);
}

/* Watches vpath and every folder below it (user's home opened as root).
 * 0 if vpath itself is watched, else -1. */
static int
add_tree(
    struct watcher *w, int root, size_t user, const char *vpath, unsigned depth)
{
	DIR *d;
	struct dirent *de;

	if (depth > RFTP_PATH_DEPTH_MAX || atomic_load(&w->stopping) ||
	    add_watch(w, root, user, vpath) < 0)
		return -1;
	d = fs_opendir(root, vpath);
	if (d == NULL)
		return 0;
	while (!atomic_load(&w->stopping) && (de = readdir(d)) != NULL) {
		char sub[RFTP_PATH_MAX];
		struct stat st;

		if (de->d_name[0] == '.' &&
		    (de->d_name[1] == '\0' ||
		        (de->d_name[1] == '.' && de->d_name[2] == '\0')))
			continue;
		/* A folder named like a partial is the server's to refuse
		 * and no client's: neither this walk nor an event of it
		 * (handle_event) nor the catch-up's follows it. */
		if (path_is_partial_name(de->d_name))
			continue;
		/* The folder's own word that an entry is no folder (a file,
		 * a symbolic link) is enough to pass it: a stat of every
		 * file held the start (this runs before the FTP listener
		 * opens) 15 s for a home of 1,000,000 files. A folder, or
		 * an entry of a file system that does not say
		 * (DT_UNKNOWN), is looked at without following links. */
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		if (fs_leaf_stat(dirfd(d), de->d_name, &st) < 0 ||
		    !S_ISDIR(st.st_mode))
			continue;
		if (path_child(vpath, de->d_name, sub, sizeof(sub)) == 0)
			add_tree(w, root, user, sub, depth + 1);
	}
	closedir(d);
	return 0;
}

/* The real path of folder fd, allocated, where it is not home (a link on
 * the way, "//", a trailing "/"); NULL if it is, or cannot be told. */
static char *
real_path_if_other(int fd, const char *home)
{
	char proc[64], real[RFTP_PATH_MAX];
	ssize_t n;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, real, sizeof(real) - 1);
	if (n <= 0)
		return NULL;
	real[n] = '\0';
	return strcmp(real, home) == 0 ? NULL : strdup(real);
}

/* Starts watching u's home if it exists; scan: queue the files already
 * there (a home that appeared while we ran; at start-up the mirror's
 * catch-up covers them). 0, or -1 if it is not watched (no home yet, no
 * memory): tried again at the next look. */
static int
add_user(struct watcher *w, const struct user *u, int scan)
{
	struct wuser *wu;
	struct stat st;
	char *home, *mirror;
	size_t k = w->free_head;
	int root;

	if (k == NO_SLOT && w->nusers == w->capusers) {
		size_t ncap = w->capusers ? w->capusers * 2 : 16;
		struct wuser *nu = realloc(w->users, ncap * sizeof(*nu));

		if (nu == NULL)
			return -1;
		w->users = nu;
		w->capusers = ncap;
	}
	root = fs_open_root(u->home, 0);
	if (root < 0)
		return -1; /* created at first login; tried again each second */
	if (fstat(root, &st) < 0) {
		close(root);
		return -1;
	}
	home = strdup(u->home);
	mirror = strdup(u->mirror);
	if (home == NULL || mirror == NULL) {
		free(home);
		free(mirror);
		close(root);
		return -1;
	}
	if (k != NO_SLOT)
		w->free_head = w->users[k].next_free;
	else
		k = w->nusers++;
	wu = &w->users[k];
	memset(wu, 0, sizeof(*wu));
	memcpy(wu->name, u->name, sizeof(wu->name));
	wu->home = home;
	wu->mirror = mirror;
	wu->dev = st.st_dev;
	wu->ino = st.st_ino;
	wu->real = real_path_if_other(root, u->home);
	wu->recheck = 0;
	/* A home moved (and named anew in users.ini) takes the mounts in
	 * it along, with no mount event: the table kept their old paths,
	 * outside every home, and their unmount later left the folder it
	 * uncovered unwatched (found by a review). Read again at the next
	 * look, the table has them where they are now. */
	if (scan && w->mountfd >= 0)
		w->mounts_stale = 1;
	add_tree(w, root, k, "/", 0);
	if (scan)
		scan_tree(w, root, k, "/");
	close(root);
	return 0;
}

/* Lets the home of user k go: its watches are removed, and files of it
 * still waiting for their quiet time are dropped when due (push_now).
 * The slot is reused once nothing names it (pending files and closed
 * folders name users by index: slot_unhold). */
static void
wuser_retire(struct watcher *w, size_t k)
{
	struct wuser *wu = &w->users[k];

	for (size_t i = 0; i < w->nwatches; i++) {
		struct watch *wa = &w->watches[i];

		if (wa->dead || wa->user != k)
			continue;
		/* Its IN_IGNORED finds the watch dead already. */
		inotify_rm_watch(w->ifd, wa->wd);
		watch_kill(w, wa);
	}
	watch_compact(w);
	log_info("mirror watcher: let go of %s, the home of [%s]", wu->home,
	    wu->name);
	wu->name[0] = '\0';
	free(wu->home);
	wu->home = NULL;
	free(wu->real);
	wu->real = NULL;
	free(wu->mirror);
	wu->mirror = NULL;
	slot_free_if_unheld(w, k);
	if (!wu->shares)
		return;
	/* The folders it shared are watched no more: the homes that share
	 * folders are walked again (the kernel hands out new watches), and
	 * their files looked at (one waiting under the home let go was
	 * dropped with it; the mirror skips what a target has). */
	for (size_t o = 0; o < w->nusers; o++) {
		int root;

		if (!w->users[o].shares || (root = open_home(w, o)) < 0)
			continue;
		add_tree(w, root, o, "/", 0);
		scan_tree(w, root, o, "/");
		close(root);
	}
}

/* The home of the live user k went away or was renamed (its own watch
 * saw it): let go, and tried again by its path from the next look on (a
 * home made anew is watched and scanned then). */
static void
home_lost(struct watcher *w, size_t k)
{
	size_t i;

	if (w->want != NULL && w->home_state != NULL &&
	    users_set_index(w->want, w->users[k].name, &i) == 0 &&
	    w->home_state[i] == HOME_WATCHED)
		w->home_state[i] = HOME_TRY;
	wuser_retire(w, k);
}

/* Whether mount point p is folder dir or a folder above it. */
static int
mount_at_or_above(const char *p, const char *dir)
{
	size_t n = strlen(p);

	if (dir == NULL)
		return 0;
	if (n == 1 && p[0] == '/')
		return 1;
	return strncmp(dir, p, n) == 0 && (dir[n] == '\0' || dir[n] == '/');
}

/*
 * A mount that came or went at path. A home that holds path below its
 * folder is let go and watched again: a mount on a folder of the home
 * hides the folder its watch is on (files written into the mount bring
 * no event), and an unmount leaves the folder it uncovers without one. A
 * home at path or below it is marked for mount_check's look: only those,
 * so that the mounts of other programs (containers start and stop
 * thousands) cost no open of every home, nor wait on a hung one.
 */
static void
mount_changed(void *ctx, const char *path)
{
	struct watcher *w = ctx;

	for (size_t k = 0; k < w->nusers; k++) {
		struct wuser *wu = &w->users[k];
		const char *home = wu->real != NULL ? wu->real : wu->home;
		size_t n;

		if (home == NULL)
			continue; /* let go */
		if (mount_at_or_above(path, wu->home) ||
		    mount_at_or_above(path, wu->real)) {
			wu->recheck = 1;
			continue;
		}
		n = strlen(home);
		if (strncmp(path, home, n) != 0 ||
		    (path[n] != '/' && home[n - 1] != '/') || path[n] == '\0')
			continue;
		log_info("mirror watcher: a file system was mounted or "
		         "unmounted at %s, in the home of [%s]: watching it "
		         "again",
		    path, wu->name);
		home_lost(w, k);
	}
}

/*
 * A mount or unmount happened somewhere. A file system mounted on a home
 * (or above it) after the home was watched hides the folder the watches
 * are on, so files other programs write into the mount brought no event
 * and were never mirrored until a restart (an unmount is seen by its own
 * IN_UNMOUNT; a mount on top of a folder brings nothing). A home whose
 * path leads to another folder now is let go and watched again at the
 * next look, its files looked at then (the mirror skips what a target
 * has). One open per home a mount on its way came or went at, once a
 * second at most (every home, should the mount table not be read).
 */
static void
mount_check(struct watcher *w)
{
	struct mount_table now = { NULL, 0 };
	/* Should the table not be read: every home after a mount event,
	 * none for a table only stale. */
	int all = w->mounts_changed;

	w->mounts_changed = 0;
	w->mounts_stale = 0;
	if (mounts_read(w->mountfd, &now) == 0) {
		mounts_diff(&w->mounts, &now, mount_changed, w);
		mounts_free(&w->mounts);
		w->mounts = now;
		all = 0; /* only the homes mount_changed marked */
	}
	for (size_t k = 0; k < w->nusers && !atomic_load(&w->stopping); k++) {
		struct stat st;
		int root, same;

		if (w->users[k].home == NULL || (!all && !w->users[k].recheck))
			continue; /* let go, or no mount on its way changed */
		w->users[k].recheck = 0;
		root = open_home(w, k);
		if (root < 0) {
			/* A file system mounted above the home that holds no
			 * such folder hides the watched one and brings no
			 * event: kept, the home made there later (at a first
			 * login) was never watched (found from outside). A
			 * home deleted or renamed away is told by its own
			 * watch as well; letting it go here first is the
			 * same. */
			if (errno != ENOENT && errno != ENOTDIR)
				continue;
			log_info("mirror watcher: %s, the home of [%s], is not "
			         "there now (a file system mounted or "
			         "unmounted above it?): watched again once it "
			         "is",
			    w->users[k].home, w->users[k].name);
			home_lost(w, k);
			continue;
		}
		same = fstat(root, &st) == 0 && st.st_dev == w->users[k].dev &&
		    st.st_ino == w->users[k].ino;
		close(root);
		if (same)
			continue;
		log_info("mirror watcher: %s, the home of [%s], is another "
		         "folder now (a file system mounted or unmounted "
		         "there): watching it again",
		    w->users[k].home, w->users[k].name);
		home_lost(w, k);
	}
}

/*
 * set is users.ini read again: each watched home takes its user's new
 * mirror list; the home of a user who is gone, mirrors nothing now or has
 * another home is let go, and the new one tried. Then set is w->want,
 * with the home_state attach_homes reads: one hash lookup per watched
 * home, so 100,000 users cost no scan of each other. -1 (nothing changed,
 * set not taken): no memory.
 */
static int
match_homes(struct watcher *w, struct user_set *set)
{
	size_t n = users_set_count(set), i;
	unsigned char *st = calloc(n + 1, 1);
	struct user u;

	if (st == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		users_set_get(set, i, &u);
		st[i] =
		    strcmp(u.mirror, "none") == 0 ? HOME_UNWANTED : HOME_TRY;
	}
	for (size_t k = 0; k < w->nusers; k++) {
		struct wuser *wu = &w->users[k];
		char *copy;

		if (wu->name[0] == '\0')
			continue; /* let go earlier */
		if (users_set_index(set, wu->name, &i) < 0 ||
		    st[i] == HOME_UNWANTED) {
			wuser_retire(w, k);
			continue;
		}
		users_set_get(set, i, &u);
		if (strcmp(u.home, wu->home) != 0) {
			log_info("mirror watcher: user [%s] has a new home %s "
			         "(was %s): watching it instead",
			    wu->name, u.home, wu->home);
			wuser_retire(w, k);
			continue;
		}
		/* Without memory for the new list, the home is let go and
		 * watched again at the next look, with it. */
		if (strcmp(wu->mirror, u.mirror) != 0) {
			if ((copy = strdup(u.mirror)) == NULL) {
				wuser_retire(w, k);
				continue;
			}
			free(wu->mirror);
			wu->mirror = copy;
		}
		st[i] = HOME_WATCHED;
	}
	users_set_free(w->want);
	w->want = set;
	free(w->home_state);
	w->home_state = st;
	w->attach_next = 0;
	return 0;
}

/* Watches the homes of wanted users that are not watched yet: all of
 * them at start, at most ATTACH_TRIES a look afterwards (scan). */
static void
attach_homes(struct watcher *w, int scan)
{
	size_t n = w->want != NULL ? users_set_count(w->want) : 0, tries = 0;
	struct user u;

	for (size_t j = 0; j < n && w->home_state != NULL; j++) {
		size_t i = (w->attach_next + j) % n;

		if (w->home_state[i] != HOME_TRY)
			continue;
		if (scan && tries++ == ATTACH_TRIES) {
			w->attach_next = i;
			return;
		}
		users_set_get(w->want, i, &u);
		if (add_user(w, &u, scan) == 0)
			w->home_state[i] = HOME_WATCHED;
	}
}

/* Takes the users the server serves, if they changed: the store reads
 * users.ini again when it changed on disk (a broken file keeps the last
 * good users, and is not read again until it changes), and its set is
 * shared, so the server and the watcher always agree on who the users are
 * and the file is parsed once for both. */
static void
refresh_users(struct watcher *w)
{
	struct user_set *set;
	uint64_t gen = w->users_gen;

	userdb_refresh(w->db);
	set = userdb_users(w->db, &gen);
	if (set == NULL)
		return;
	if (match_homes(w, set) < 0) {
		/* Taken again at the next look: users_gen is not moved. */
		users_set_free(set);
		return;
	}
	w->users_gen = gen;
}

/* Says the events left_out counted, if any, once RFTP_WATCH_LEFT_OUT_SAY_MS
 * passed since the last such line (or at once with force). */
static void
left_out_say(struct watcher *w, int force)
{
	int64_t now = now_ms();

	if (w->left_out == 0 || (!force && now < w->left_next_ms))
		return;
	log_warn("mirror watcher: left out %zu changes to files or folders "
	         "whose path is longer than %d bytes or more than %d folders "
	         "deep (the first %s): they are not mirrored",
	    w->left_out, RFTP_PATH_MAX - 1, RFTP_PATH_DEPTH_MAX, w->left_first);
	w->left_out = 0;
	w->left_next_ms = now + RFTP_WATCH_LEFT_OUT_SAY_MS;
}

/* An event names name in user's folder dir, whose path does not fit the
 * mirror's (path_child): it is not mirrored. It was dropped without a
 * word; now counted and said (left_out_say), at once for the first and
 * then at most once a RFTP_WATCH_LEFT_OUT_SAY_MS: a program writing
 * thousands of them must not flood the log. */
static void
left_out(struct watcher *w, size_t user, const char *dir, const char *name)
{
	const struct wuser *u = &w->users[user];

	if (w->left_out++ == 0) {
		/* The folder cut to its first bytes, not inside a UTF-8
		 * character (10xxxxxx bytes). */
		size_t keep = strlen(dir), room = 252;
		const char *more = "";

		if (keep > room) {
			keep = room;
			while (keep > room - 3 &&
			    ((unsigned char)dir[keep] & 0xC0) == 0x80)
				keep--;
			more = "...";
		}
		snprintf(w->left_first, sizeof(w->left_first),
		    "%zu bytes long, in %.*s%s in the home %s of %s",
		    strlen(dir) + 1 + strlen(name), (int)keep, dir, more,
		    u->home != NULL ? u->home : "(let go)", u->name);
	}
	left_out_say(w, 0);
}

static void
handle_event(struct watcher *w, const struct inotify_event *ev)
{
	struct watch *wa;
	char vpath[RFTP_PATH_MAX];
	size_t user;

	if (ev->mask & IN_Q_OVERFLOW) {
		/* Files written meanwhile, and folders made meanwhile (whose
		 * watches were never added), would wait for the next start:
		 * found by walking the homes again instead. */
		log_warn("mirror watcher: inotify queue overflowed (events "
		         "lost); walking every watched home again");
		w->rescan = 1;
		return;
	}
	wa = find_watch(w, ev->wd);
	if (wa == NULL)
		return;
	if (ev->mask & (IN_IGNORED | IN_MOVE_SELF)) {
		/* A home's own folder removed or renamed: a new one made
		 * at its path must be watched. A folder within a home that
		 * moves is found at its new name (IN_MOVED_TO). */
		if (strcmp(wa->vpath, "/") == 0 &&
		    w->users[wa->user].home != NULL)
			home_lost(w, wa->user);
		else if (ev->mask & IN_IGNORED)
			watch_drop(w, wa);
		return;
	}
	if (ev->len == 0)
		return;
	user = wa->user;
	if (path_is_partial_name(ev->name)) {
		/* The server's own upload being published: it reported it
		 * already. */
		if (ev->mask & IN_MOVED_FROM)
			w->skip_cookie = ev->cookie;
		return;
	}
	/* Not path_normalize, which refuses CR and LF as a client's command
	 * must: a program may make such names, and the catch-up sends them
	 * (the targets that cannot take them say so). */
	if (path_child(wa->vpath, ev->name, vpath, sizeof(vpath)) < 0) {
		/* Counted as below would act: a file written or moved in, a
		 * folder made or moved in (not a file's IN_CREATE too). */
		uint32_t acts = (ev->mask & IN_ISDIR) ?
		    IN_CREATE | IN_MOVED_TO :
		    IN_CLOSE_WRITE | IN_MOVED_TO;

		if (ev->mask & acts)
			left_out(w, user, wa->vpath, ev->name);
		return;
	}
	if (ev->mask & IN_ISDIR) {
		if (ev->mask & (IN_CREATE | IN_MOVED_TO)) {
			int root = open_home(w, user);

			if (root < 0)
				return;
			add_tree(w, root, user, vpath, 0);
			/* Files made before the watch existed. */
			scan_tree(w, root, user, vpath);
			close(root);
		}
		return;
	}
	if ((ev->mask & IN_MOVED_TO) && ev->cookie != 0 &&
	    ev->cookie == w->skip_cookie)
		return;
	/* Written: a rename into the name, still queued, would not carry
	 * what was written (catchup_stale_targets). */
	if (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO))
		schedule(w, user, vpath, (ev->mask & IN_CLOSE_WRITE) != 0);
}

/*
 * After an overflow: every live home's folders are watched again (those
 * made while events were lost had no watch) and its files looked at, as
 * when a home is first watched. Files a target has, or has a job for, are
 * skipped by the mirror, so only what the lost events told is queued.
 */
static void
rescan_homes(struct watcher *w)
{
	w->rescan = 0;
	for (size_t k = 0; k < w->nusers && !atomic_load(&w->stopping); k++) {
		int root = open_home(w, k);

		if (root < 0)
			continue;
		add_tree(w, root, k, "/", 0);
		scan_tree(w, root, k, "/");
		close(root);
	}
	log_info("mirror watcher: homes walked again after the overflow");
}

/* A file is ready when it is a regular file nobody has open for writing.
 * One the daemon may not read (its mode, its owner) is ready too, as the
 * start-up walk finds it: its push says `cannot read it here` and is
 * tried again until it can (it was never queued nor said, and a chmod
 * later brought no event). */
static int
ready(struct watcher *w, size_t user, const char *vpath, uint64_t *size)
{
	struct stat st;
	int root = open_home(w, user), fd, ok = 1;

	if (root < 0)
		return 0;
	/* Opened only if a plain file: opening a FIFO's read end let a
	 * writer waiting on it write into nothing (a device's open acts). */
	if (fs_stat(root, vpath, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(root);
		return 0;
	}
	fd = fs_open(root, vpath, O_RDONLY | O_NONBLOCK, 0);
	if (fd < 0 && (errno == EACCES || errno == EPERM)) {
		close(root);
		*size = (uint64_t)st.st_size;
		return 1;
	}
	close(root);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	*size = (uint64_t)st.st_size;
	if (fs_has_writer(fd))
		ok = 0; /* a writer still has it open: its close re-fires */
	close(fd);
	return ok;
}

/*
 * Hands due files to the mirror. Works for at most RFTP_WATCH_SLICE_MS at
 * a time, so inotify events (and the stop signal) are read between
 * batches of a huge folder. Returns how long to sleep.
 */
static int64_t
run_due(struct watcher *w)
{
	int64_t now = now_ms(), next = now + 1000;
	size_t i = 0;

	while (i < w->pend.n) {
		struct pend_entry p = w->pend.v[i];

		if (p.due_ms > now) {
			if (p.due_ms < next)
				next = p.due_ms;
			i++;
			continue;
		}
		if (atomic_load(&w->stopping) ||
		    now_ms() - now > RFTP_WATCH_SLICE_MS)
			return 0;
		pendset_remove(&w->pend, i);
		push_now(w, p.user, p.vpath, p.written);
		free(p.vpath);
		slot_unhold(w, p.user);
	}
	return next - now;
}

static void *
watcher_main(void *arg)
{
	struct watcher *w = arg;
	char evbuf[64 * 1024]
	    __attribute__((aligned(__alignof__(struct inotify_event))));

	for (;;) {
		struct pollfd pf[3];
		int64_t wait_ms = run_due(w);
		ssize_t n;

		pf[0].fd = w->ifd;
		pf[0].events = POLLIN;
		pf[1].fd = w->stopfd;
		pf[1].events = POLLIN;
		pf[2].fd = w->mountfd; /* -1: ignored by poll */
		pf[2].events = POLLPRI;
		pf[2].revents = 0;
		if (poll(pf, 3, (int)(wait_ms < 0 ? 0 : wait_ms)) < 0 &&
		    errno != EINTR)
			break;
		if (pf[1].revents & POLLIN)
			break;
		/* The kernel clears it with this poll: no read needed. */
		if (pf[2].revents & (POLLPRI | POLLERR))
			w->mounts_changed = 1;
		/* Once a second, as an idle watcher's poll does: not at each
		 * of the few wake-ups every upload brings (a stat of
		 * users.ini each). */
		if (now_ms() >= w->next_users_ms) {
			if (w->mounts_changed || w->mounts_stale)
				mount_check(w);
			refresh_users(w);
			attach_homes(w, 1);
			retry_closed(w);
			left_out_say(w, 0);
			w->next_users_ms = now_ms() + 1000;
		}
		if (!(pf[0].revents & POLLIN))
			continue;
		n = read(w->ifd, evbuf, sizeof(evbuf));
		for (ssize_t off = 0; n > 0 && off < n;) {
			const struct inotify_event *ev =
			    (const struct inotify_event *)(evbuf + off);

			handle_event(w, ev);
			off += (ssize_t)(sizeof(*ev) + ev->len);
		}
		if (w->rescan)
			rescan_homes(w);
		/* Unless the buffer came back nearly full (more wait: read
		 * them now), let the next events gather; the stop signal
		 * still ends the wait at once. */
		if (n > 0 &&
		    (size_t)n <= sizeof(evbuf) -
		            (sizeof(struct inotify_event) + NAME_MAX + 1))
			(void)poll(&pf[1], 1, GATHER_MS);
	}
	/* What a stop cut short of its minute is said too. */
	left_out_say(w, 1);
	return NULL;
}

/* What watcher_start made, its thread not running (joined, or never
 * started: a failed start had read the users and watched homes). */
static void
watcher_free(struct watcher *w)
{
	for (size_t i = 0; i < w->nusers; i++) {
		free(w->users[i].home);
		free(w->users[i].real);
		free(w->users[i].mirror);
	}
	free(w->users);
	users_set_free(w->want);
	free(w->home_state);
	for (size_t i = 0; i < w->nwatches; i++)
		free(w->watches[i].vpath);
	free(w->watches);
	for (size_t i = 0; i < w->nclosed; i++)
		free(w->closed[i].vpath);
	pendset_free(&w->pend);
	if (w->ifd >= 0)
		close(w->ifd);
	if (w->stopfd >= 0)
		close(w->stopfd);
	if (w->mountfd >= 0)
		close(w->mountfd);
	mounts_free(&w->mounts);
	free(w);
}

struct watcher *
watcher_start(const struct config *cfg, struct userdb *db,
    struct upload_sink sink, char *err, size_t errlen)
{
	struct watcher *w = calloc(1, sizeof(*w));
	size_t nfolders, nhomes;

	if (w == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->cfg = cfg;
	w->db = db;
	w->sink = sink;
	w->free_head = NO_SLOT;
	w->mountfd = -1;
	w->ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	w->stopfd = eventfd(0, EFD_CLOEXEC);
	if (w->ifd < 0 || w->stopfd < 0) {
		snprintf(err, errlen, "inotify: %s", strerror(errno));
		goto fail;
	}
	/* Opened before the homes are watched: a mount made in between is
	 * told by its first poll. Without /proc, mounts go unseen (logged). */
	w->mountfd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (w->mountfd < 0)
		log_warn("mirror watcher: cannot open /proc/self/mountinfo "
		         "(%s): a file system mounted on a home later is not "
		         "seen until a restart",
		    strerror(errno));
	else if (mounts_read(w->mountfd, &w->mounts) < 0)
		log_warn("mirror watcher: cannot read /proc/self/mountinfo "
		         "(%s): mounts inside homes are seen from the next one",
		    strerror(errno));
	refresh_users(w);
	attach_homes(w, 0);
	/* Counted before the thread starts: from then on the watches are
	 * its to change, and reading them here would race. */
	nfolders = w->nwatches - w->ndead;
	nhomes = w->nusers;
	if (thread_start(&w->thread, 0, watcher_main, w) != 0) {
		snprintf(err, errlen, "cannot start the watcher thread");
		goto fail;
	}
	log_info("mirror watcher: %zu folders in %zu homes", nfolders, nhomes);
	return w;
fail:
	watcher_free(w);
	return NULL;
}

void
watcher_stop(struct watcher *w)
{
	uint64_t one = 1;

	if (w == NULL)
		return;
	atomic_store(&w->stopping, 1); /* seen inside scans */
	if (write(w->stopfd, &one, sizeof(one)) < 0)
		log_err("mirror watcher: cannot signal stop");
	pthread_join(w->thread, NULL);
	watcher_free(w);
}
