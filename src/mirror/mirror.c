/*
 * mirror.c - see mirror.h: start, stop, and the upload sink.
 *
 * Owns: the running mirror's lifetime (open the queue, settle what a crash
 * left, start the workers and the scanner; stop them), the per-user change
 * locks, and turning the server's change events into queued jobs (the
 * upload_sink). Must not push (worker.c), route (route.c), walk homes
 * (catchup.c) or print for the admin (cli.c). The files of the mirror:
 *
 *   route.c    which targets take a path, and its name there
 *   sharers.c  which other users' homes hold a path (shared folders)
 *   backoff.c  how long a failing target rests, when a job is parked
 *   worker.c   the worker pool: one claimed job, pushed and settled
 *   catchup.c  start-up catch-up, rescans, intents after a crash, resync
 *   cli.c      `relayftpd mirror status|retry|resync`
 *   view.c     the admin listener's view: targets, job pages, retry
 *   queue.c    the durable queue; transport.c the bytes on the wire
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

#include "common/buf.h"
#include "common/clock.h"
#include "common/fnv.h"
#include "common/fsgate.h"
#include "common/log.h"
#include "common/numparse.h"
#include "common/pathnorm.h"
#include "common/target_diff.h"
#include "common/thread.h"
#include "mirror/logpath.h"
#include "mirror/mirror_int.h"
#include "mirror/route.h"
#include "mirror/sharers.h"
#include "mirror/stream.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

int
mirror_stopping(const struct mirror *m)
{
	return atomic_load(&m->stop);
}

/* FNV-1a of s, going on from h; fold: ASCII letters in lower case. */
static uint32_t
fnv1a(uint32_t h, const char *s, int fold)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		h = (h ^ (fold && *p >= 'A' && *p <= 'Z' ? *p + 32u : *p)) *
		    16777619u;
	return h;
}

unsigned
mirror_user_stripe(const char *user)
{
	return fnv1a(2166136261u, user, 0) % USER_LOCKS;
}

pthread_mutex_t *
mirror_user_lock(struct mirror *m, const char *user)
{
	return &m->user_locks[mirror_user_stripe(user)];
}

/* The name_gens slot of user's path, in ASCII lower case (FNV-1a). */
static atomic_uint *
name_slot(struct mirror *m, const char *user, const char *path)
{
	/* The user's name ends at its '\0', which no path holds. */
	uint32_t h = fnv1a(2166136261u, user, 0) * 16777619u;

	return &m->name_gens[fnv1a(h, path, 1) % NAME_GENS];
}

unsigned
mirror_name_gen(struct mirror *m, const char *user, const char *path)
{
	return atomic_load(name_slot(m, user, path));
}

/* ev's names change (the user's change lock held): begin and end both
 * count, so that a change in flight when a read starts, or one whose
 * file landed elsewhere than planned (done->path), is seen. */
static void
names_changed(struct mirror *m, const struct upload_event *ev)
{
	atomic_fetch_add(name_slot(m, ev->user, ev->path), 1);
	if (ev->new_path != NULL)
		atomic_fetch_add(name_slot(m, ev->user, ev->new_path), 1);
}

void
mirror_wake_all(struct mirror *m)
{
	for (unsigned i = 0; i < m->ntargets; i++) {
		struct target_state *ts = &m->targets[i];

		pthread_mutex_lock(&ts->lock);
		worker_wake_held(ts, 1);
		pthread_mutex_unlock(&ts->lock);
	}
}

/*
 * One job more for each of the n targets named: one idle worker of each
 * looks. A broadcast woke every idle worker for a single job; all but one
 * claimed nothing, each a query under the queue's lock (4 workers: 3 of
 * 4 claims were wasted at a thousand files a second). One signal is
 * enough: a worker between its look and its wait sees wakes move and
 * looks again, and a busy one looks after its push.
 */
static void
wake_targets(struct mirror *m, const char *const *names, size_t n)
{
	for (size_t k = 0; k < n; k++)
		for (unsigned i = 0; i < m->ntargets; i++) {
			struct target_state *ts = &m->targets[i];

			if (strcmp(ts->t->name, names[k]) != 0)
				continue;
			pthread_mutex_lock(&ts->lock);
			worker_wake_held(ts, 0);
			pthread_mutex_unlock(&ts->lock);
			break;
		}
}

/*
 * A change made in the home that the queue could not record (its disk
 * full, its file broken): the user's home is scanned again, and again
 * until the scan's pushes are recorded (catchup.c), which finds every
 * file not on its targets at its current version: an upload, a rename's
 * new name, a time. Only changes whose recording comes after them get
 * here; a delete or a propagated rename is recorded first and refused
 * when it cannot be. They were logged "will not be mirrored" and stayed
 * off the targets, with the status healthy, until a restart's walk
 * (found from outside).
 */
static void
lost_change(struct mirror *m, const struct upload_event *ev)
{
	log_err("mirror: cannot queue a change of /%s%s; the home of %s is "
	        "scanned again until its changes are queued",
	    ev->user, ev->path, ev->user);
	catchup_request_rescan(m, ev->user);
}

static void
plan(struct mirror *m, const struct upload_event *ev, struct route_plan *p)
{
	route_plan(m->cfg->mirror.targets, m->ntargets, ev, p);
}

static int
record_puts(
    struct mirror *m, const struct route_plan *p, const struct upload_event *ev)
{
	struct job_origin from = { ev->flow, ev->size };

	if (p->nput == 0)
		return 0;
	return queue_add(m->q, p->put, p->nput, p->put_op, ev->user, ev->home,
	    route_put_path(ev), NULL, &from);
}

/* One home's side of a change seen from outside the server: recorded at
 * once. */
static int
changed_one(struct mirror *m, const struct upload_event *ev)
{
	struct job_origin other = { ev->flow, 0 };
	struct route_plan p;
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
		p.put_op = JOB_PUT;
		/* An event says the file changed: by its inode too, so a
		 * file renamed over the pushed one with its size and time
		 * (cp -p, rsync -t) is pushed. */
		p.nput = catchup_stale_targets(m, ev, &st, 1, NULL, p.put);
		if (p.nput > 0)
			log_info("mirror watcher: /%s%s written by another "
			         "process (%llu bytes)",
			    ev->user, ev->path, (unsigned long long)st.st_size);
	} else {
		plan(m, ev, &p);
	}
	if (p.nother > 0 &&
	    queue_add(m->q, p.other, p.nother, p.op, ev->user, ev->home,
	        ev->path, ev->new_path, &other) < 0)
		rc = -1;
	if (record_puts(m, &p, ev) < 0)
		rc = -1;
	if (rc < 0)
		lost_change(m, ev);
	wake_targets(m, p.other, p.nother);
	wake_targets(m, p.put, p.nput);
	return rc;
}

/* Whether a renamed file's old name is still gone from the home (for
 * queue_add_moved_unsynced); 0 if it cannot tell. */
static int
old_name_gone(const void *ctx)
{
	const struct upload_event *ev = ctx;
	struct stat st;
	int root = fs_open_root(ev->home, 0), gone;

	if (root < 0)
		return 0;
	gone = fs_stat(root, ev->path, &st) < 0 && errno == ENOENT;
	close(root);
	return gone;
}

/*
 * One home's side of a change the server makes: the acting user's own,
 * or that of another user whose home holds the changed path (a home
 * inside the acting one, the acting one inside it, or one home for two
 * users: README "Mirror"). Each is routed by its user's mirror list and
 * the targets' rules, with the path as its home names it.
 */
struct side {
	struct upload_event ev;
	char path[RFTP_PATH_MAX], new_path[RFTP_PATH_MAX];
	struct route_plan p;
};

/* Whether path of home is a folder (0 if it cannot tell). */
static int
is_folder(const char *home, const char *path)
{
	struct stat st;
	int root = fs_open_root(home, 0), dir;

	if (root < 0)
		return 0;
	dir = fs_stat(root, path, &st) == 0 && S_ISDIR(st.st_mode);
	close(root);
	return dir;
}

/*
 * ev as sh's: the change ev of the acting home seen from the home of sh,
 * at path (sh's name for it), with no new name. The one place that says
 * which fields are the user's (share_side, leave_folder, enter_folders).
 */
static void
as_sharers(struct upload_event *out, const struct upload_event *ev,
    const struct sharer *sh, const char *path)
{
	*out = *ev;
	out->user = sh->user;
	out->home = sh->home;
	out->mirror = sh->mirror;
	out->path = path;
	out->new_path = NULL;
	out->only_if_changed = 0;
}

/*
 * sd: sh's side of ev (a change of the acting home), as it was made
 * (done: its puts; else its intent, the change to come). A rename across
 * the boundary of sh's home is a delete for sh when it leaves (a folder:
 * the deletes of what it holds, leave_folder), and, once made, a put when
 * it enters (a folder: sh's home is walked, walk_entered). 1 if sh has a
 * side, 0 if not.
 */
static int
share_side(const struct sharer *sh, const struct upload_event *ev, int done,
    struct side *sd)
{
	int in_old = sharer_path(sh, ev->path, sd->path, sizeof(sd->path));
	int in_new = ev->new_path != NULL ?
	    sharer_path(sh, ev->new_path, sd->new_path, sizeof(sd->new_path)) :
	    0;

	/* A path that the other home names longer than a path may be (its
	 * folder's name in front): no job can hold it, and its user could
	 * not reach it through the server either. The acting home's side
	 * is queued as ever; the admin is told once the change is made. */
	if (done && (in_old < 0 || in_new < 0))
		log_warn("mirror: the change of %s is not queued for [%s], "
		         "whose home holds it too: its path there (%s and "
		         "the path) is longer than the %d bytes a path may "
		         "have",
		    LOGPATH(ev->user, in_old < 0 ? ev->path : ev->new_path),
		    sh->user, sh->add[0] != '\0' ? sh->add : "/",
		    RFTP_PATH_MAX - 1);
	in_old = in_old == 1;
	in_new = in_new == 1;

	as_sharers(&sd->ev, ev, sh, sd->path);
	if (ev->op != CHANGE_RENAME || (in_old && in_new)) {
		if (ev->op == CHANGE_RENAME)
			sd->ev.new_path = sd->new_path;
		return in_old;
	}
	if (in_old) {
		/* A folder: its intents are leave_folder's. */
		if (is_folder(ev->home, done ? ev->new_path : ev->path))
			return 0;
		sd->ev.op = CHANGE_DELETE;
		return 1;
	}
	if (!in_new || !done)
		return 0;
	snprintf(sd->path, sizeof(sd->path), "%s", sd->new_path);
	/* A folder's files: walk_entered. */
	if (is_folder(ev->home, ev->new_path))
		return 0;
	sd->ev.op = CHANGE_PUT;
	return 1;
}

/*
 * Takes the change lock stripes in mask, in one global order: lowest
 * stripe first. A change in a shared folder holds the locks of every
 * user whose home holds it; two sessions of two users acting in each
 * other's folders (an admin in alice's, alice in one the admin's home
 * shares) would each hold their own and wait for the other's if they
 * took their own first. Every other holder takes one stripe only.
 */
static void
lock_stripes(struct mirror *m, uint64_t mask)
{
	for (unsigned i = 0; i < USER_LOCKS; i++)
		if (mask & ((uint64_t)1 << i))
			pthread_mutex_lock(&m->user_locks[i]);
}

static void
unlock_stripes(struct mirror *m, uint64_t mask)
{
	for (unsigned i = USER_LOCKS; i-- > 0;)
		if (mask & ((uint64_t)1 << i))
			pthread_mutex_unlock(&m->user_locks[i]);
}

/* ev with its paths as they really are (real_path). */
struct real_event {
	struct upload_event ev;
	char path[RFTP_PATH_MAX], new_path[RFTP_PATH_MAX];
};

/*
 * path of home into out with the folders above its name as they really
 * are: fsgate follows a link that stays inside the home, so an admin's
 * "/cur/v.bin", /cur a link to alice (her home), is her "/v.bin". The
 * name itself is not followed (a DELE or RNFR of a link is of the link).
 * Returns out, or path itself when it has no folder above, the folder is
 * not there, or the result does not fit.
 */
static const char *
real_path(const char *home, const char *path, char *out, size_t outlen)
{
	const char *leaf = strrchr(path, '/');
	char full[PATH_MAX];
	char *rh = NULL, *rp = NULL;
	const char *rest;
	size_t lh;
	int len;

	if (leaf == NULL || leaf == path)
		return path;
	len = snprintf(
	    full, sizeof(full), "%s%.*s", home, (int)(leaf - path), path);
	if (len < 0 || (size_t)len >= sizeof(full))
		return path;
	rh = realpath(home, NULL);
	rp = rh != NULL ? realpath(full, NULL) : NULL;
	if (rp == NULL)
		goto out;
	lh = strcmp(rh, "/") == 0 ? 0 : strlen(rh);
	if (strncmp(rp, rh, lh) != 0 || (rp[lh] != '/' && rp[lh] != '\0'))
		goto out;
	rest = rp + lh;
	len = snprintf(out, outlen, "%s%s", rest, leaf);
	if (len > 0 && (size_t)len < outlen)
		path = out;
out:
	free(rh);
	free(rp);
	return path;
}

/* ev with its paths as they really are, in r (real_path). */
static const struct upload_event *
really(const struct upload_event *ev, struct real_event *r)
{
	r->ev = *ev;
	r->ev.path = real_path(ev->home, ev->path, r->path, sizeof(r->path));
	if (ev->new_path != NULL)
		r->ev.new_path = real_path(
		    ev->home, ev->new_path, r->new_path, sizeof(r->new_path));
	return &r->ev;
}

/*
 * A change seen from outside the server (the watcher), or reported in one
 * step. inotify gives a folder one watch, so the watcher hands a file
 * another program wrote in a folder two homes share (the admin's /alice,
 * alice's /) to one of the two users only: the other homes that hold it
 * get their side here, each looked at as that user's (its targets, what
 * they hold already). No change lock: like the acting home's, each side
 * is queued only for targets that lack the file.
 */
static int
mirror_changed(void *ctx, const struct upload_event *ev)
{
	struct mirror *m = ctx;
	struct sharer *sh = NULL;
	struct real_event r;
	const struct upload_event *rev;
	size_t nsh = 0;
	int rc = changed_one(m, ev);

	if (ev->op != CHANGE_PUT)
		return rc;
	rev = really(ev, &r);
	/* Out of memory (logged): the acting home's side alone. */
	sharers_of(m->sharers, ev->user, ev->home, rev->path, NULL, &sh, &nsh);
	for (size_t i = 0; i < nsh; i++) {
		struct side sd;

		if (!share_side(&sh[i], rev, 1, &sd))
			continue;
		sd.ev.only_if_changed = ev->only_if_changed;
		if (changed_one(m, &sd.ev) < 0)
			rc = -1;
	}
	free(sh);
	return rc;
}

/* The acting side (ev) and the other homes' sides of rev, ev as it really
 * is (really), by the token's sharers, into sd[0..*n); a home with no
 * side is skipped. */
static void
sides_of(const struct change_token *tok, const struct upload_event *ev,
    const struct upload_event *rev, int done, struct side *sd, size_t *n)
{
	const struct sharer *sh = tok->shared;

	sd[0].ev = *ev;
	*n = 1;
	for (size_t i = 0; i < tok->nshared; i++) {
		/* Its lock is held (begin took it for the paths then). */
		if (!(tok->locks &
		        ((uint64_t)1 << mirror_user_stripe(sh[i].user))))
			continue;
		if (share_side(&sh[i], rev, done, &sd[*n]))
			(*n)++;
	}
}

/* One job of a folder renamed out of a home that shares it (leave_folder):
 * the delete of a file it holds, or the removal of a folder. */
struct leave {
	struct upload_event ev;
	char *path; /* malloc'ed */
	struct route_plan p;
};

/* What leave_folder's walk found: files, then folders (walk order, each
 * folder before what it holds). */
struct leaving {
	struct mirror *m;
	const struct sharer *sh;
	struct leave *v[2];
	size_t n[2], cap[2];
	int oom;          /* a path could not be kept */
	int folders_only; /* enter_folders: files are the walk's */
	/* Folders the walk could not open (leave_unread), the first of
	 * them (sh's path) and why. */
	size_t unread;
	char unread_first[RFTP_PATH_MAX];
	int unread_err;
};

static void
leaving_free(struct leaving *l)
{
	for (size_t k = 0; k < 2; k++) {
		for (size_t i = 0; i < l->n[k]; i++)
			free(l->v[k][i].path);
		free(l->v[k]);
		l->v[k] = NULL;
		l->n[k] = l->cap[k] = 0;
	}
}

/* Appends path (sh's) to l's files (k 0) or folders (k 1); 0 or -1. */
static int
leave_add(struct leaving *l, size_t k, const char *path)
{
	struct leave *e;

	if (l->n[k] == l->cap[k]) {
		size_t ncap = l->cap[k] ? l->cap[k] * 2 : 16;
		struct leave *nv = realloc(l->v[k], ncap * sizeof(*nv));

		if (nv == NULL)
			return -1;
		l->v[k] = nv;
		l->cap[k] = ncap;
	}
	e = &l->v[k][l->n[k]];
	e->path = strdup(path);
	if (e->path == NULL)
		return -1;
	l->n[k]++;
	return 0;
}

/* fs_walk's step of leave_folder: vpath is the acting home's. */
static int
leave_one(void *ctx, const char *vpath, const struct stat *st)
{
	struct leaving *l = ctx;
	char p[RFTP_PATH_MAX];

	/* Too long a path in sh's home was never on its targets. */
	if (sharer_path(l->sh, vpath, p, sizeof(p)) != 1 ||
	    (l->folders_only && !S_ISDIR(st->st_mode)))
		return 0;
	if (leave_add(l, S_ISDIR(st->st_mode) ? 1 : 0, p) < 0) {
		l->oom = 1;
		return -1;
	}
	return 0;
}

/* Paths in path_cmp_tree's order: a folder before what it holds. */
static int
slash_first(const void *a, const void *b)
{
	return path_cmp_tree(*(const char *const *)a, *(const char *const *)b);
}

static int
by_leave_path(const void *a, const void *b)
{
	return strcmp(
	    ((const struct leave *)a)->path, ((const struct leave *)b)->path);
}

/* Indices of folders v by path, then by place (the first of a path
 * first). */
static int
by_folder_then_place(const void *a, const void *b, void *v)
{
	const struct leave *f = v;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(f[x].path, f[y].path);

	return c != 0 ? c : (x > y) - (x < y);
}

/*
 * Each folder of l once, at its first place: a folder whose listing
 * failed partway (fs_walk_full) had the folders the walk found in it
 * added again from the queue's records, and the second removal of one
 * was refused there ("remove it there by hand") though it was gone. The
 * first places keep each folder before what it holds. 0 or -1.
 */
static int
leave_unique_folders(struct leaving *l)
{
	size_t n = l->n[1], k = 0, *ix;

	if (n < 2)
		return 0;
	ix = malloc(n * sizeof(*ix));
	if (ix == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		ix[i] = i;
	qsort_r(ix, n, sizeof(*ix), by_folder_then_place, l->v[1]);
	for (size_t i = 1; i < n; i++)
		if (strcmp(l->v[1][ix[i - 1]].path, l->v[1][ix[i]].path) == 0) {
			free(l->v[1][ix[i]].path);
			l->v[1][ix[i]].path = NULL;
		}
	free(ix);
	for (size_t i = 0; i < n; i++)
		if (l->v[1][i].path != NULL)
			l->v[1][k++] = l->v[1][i];
	l->n[1] = k;
	return 0;
}

/*
 * fs_walk's step of leave_folder for a folder below the one renamed
 * that it could not open (its mode; a descriptor short): what it holds
 * on sh's targets is what the queue has on record as pushed there below
 * it, whose deletes and the removals of their folders (each before what
 * it holds, as the walk gives them) are added. Only its own removal was
 * queued, which the target refused for good ("not empty"), and its
 * files stayed there. What the queue has no record of (an empty folder
 * made there) stays: said with the count (leave_folder).
 */
static int
leave_unread(void *ctx, const char *vpath, int err)
{
	struct leaving *l = ctx;
	struct mirror *m = l->m;
	char p[RFTP_PATH_MAX];
	char **dirs = NULL;
	size_t ndirs = 0, capdirs = 0, plen;
	struct buf pushed;
	int rc = 0;

	if (sharer_path(l->sh, vpath, p, sizeof(p)) != 1)
		return 0;
	if (l->unread++ == 0) {
		snprintf(l->unread_first, sizeof(l->unread_first), "%s", p);
		l->unread_err = err;
	}
	plen = strlen(p);
	buf_init(&pushed, (size_t)1 << 28);
	for (unsigned t = 0; t < m->ntargets && rc == 0; t++) {
		int files = queue_pushed_paths_below(
		    m->q, m->targets[t].t->name, l->sh->user, p, &pushed);

		/* Not readable (logged by the queue): this target's
		 * files are not known, its removal says so. */
		for (const char *f = pushed.data; rc == 0 && files-- > 0;
		     f += strlen(f) + 1) {
			if (leave_add(l, 0, f) < 0) {
				rc = -1;
				break;
			}
			/* Its folders below p, each noted (sorted and made
			 * unique below). */
			for (const char *sl = strrchr(f, '/');
			     sl != NULL && (size_t)(sl - f) > plen;
			     sl = memrchr(f, '/', (size_t)(sl - f))) {
				char *d = strndup(f, (size_t)(sl - f));

				if (ndirs == capdirs) {
					size_t nc = capdirs ? capdirs * 2 : 16;
					char **nd =
					    realloc(dirs, nc * sizeof(*nd));

					if (nd == NULL) {
						free(d);
						rc = -1;
						break;
					}
					dirs = nd;
					capdirs = nc;
				}
				if (d == NULL) {
					rc = -1;
					break;
				}
				dirs[ndirs++] = d;
			}
		}
	}
	buf_free(&pushed);
	if (rc == 0)
		qsort(dirs, ndirs, sizeof(*dirs), slash_first);
	for (size_t i = 0; rc == 0 && i < ndirs; i++)
		if ((i == 0 || strcmp(dirs[i - 1], dirs[i]) != 0) &&
		    leave_add(l, 1, dirs[i]) < 0)
			rc = -1;
	for (size_t i = 0; i < ndirs; i++)
		free(dirs[i]);
	free(dirs);
	if (rc < 0)
		l->oom = 1;
	return rc;
}

/*
 * A folder renamed out of the home of sh (the acting home's rename ev,
 * about to be made) leaves sh's targets as a file so renamed does (a
 * delete): the delete of every file it holds and the removal of every
 * folder, deepest first, the folder itself last, into l, each routed by
 * sh's mirror list and the targets' rules. Their intents are written with
 * the change's own, so a crash after the rename finds them (settled from
 * sh's home, where those paths are gone). Walked under the change locks
 * of every home that holds it: no session of the server changes it
 * meanwhile (a file another program writes there is the watcher's). 0, or
 * -1 when out of memory (the change is then refused, never half-queued).
 */
static int
leave_folder(struct mirror *m, const struct sharer *sh,
    const struct upload_event *ev, struct leaving *l)
{
	char top[RFTP_PATH_MAX];
	int root;

	memset(l, 0, sizeof(*l));
	l->m = m;
	l->sh = sh;
	if (sharer_path(sh, ev->path, top, sizeof(top)) != 1)
		return 0;
	root = fs_open_root(ev->home, 0);
	if (root < 0)
		return 0; /* the rename fails as well */
	/* fs_walk stops at leave_one's -1 (no memory) and fails when the
	 * folder is not there (its rename fails too) or cannot be opened
	 * (then it is one leave_unread knows from the queue). */
	if (fs_walk_full(root, ev->path, FS_WALK_FOLDERS, leave_one,
	        leave_unread, l, NULL) < 0) {
		int err = errno;

		if (!is_folder(ev->home, ev->path)) {
			close(root);
			leaving_free(l);
			return 0;
		}
		(void)leave_unread(l, ev->path, err);
	}
	close(root);
	if (l->unread > 0 && !l->oom)
		log_warn("mirror: %s, renamed out of the home of [%s], holds "
		         "%zu folder%s that cannot be read here (the first "
		         "%s: %s): the files the queue has on record as "
		         "pushed from them are deleted from [%s]'s targets; "
		         "anything else there stays (remove it by hand)",
		    LOGPATH(sh->user, top), sh->user, l->unread,
		    l->unread == 1 ? "" : "s",
		    LOGPATH(sh->user, l->unread_first), strerror(l->unread_err),
		    sh->user);
	/* Files from the queue's records of several targets: once each. */
	if (l->unread > 0 && l->n[0] > 1) {
		size_t k = 1;

		qsort(l->v[0], l->n[0], sizeof(*l->v[0]), by_leave_path);
		for (size_t i = 1; i < l->n[0]; i++) {
			if (strcmp(l->v[0][k - 1].path, l->v[0][i].path) == 0)
				free(l->v[0][i].path);
			else
				l->v[0][k++] = l->v[0][i];
		}
		l->n[0] = k;
	}
	if (l->unread > 0 && leave_unique_folders(l) < 0)
		l->oom = 1;
	/* Folders deepest first (the walk gave each before what it holds),
	 * the folder itself last: the queue runs related jobs oldest
	 * first. */
	for (size_t i = 0, j = l->n[1]; i + 1 < j; i++, j--) {
		struct leave t = l->v[1][i];

		l->v[1][i] = l->v[1][j - 1];
		l->v[1][j - 1] = t;
	}
	if (l->oom || leave_add(l, 1, top) < 0) {
		leaving_free(l);
		return -1;
	}
	for (size_t k = 0; k < 2; k++)
		for (size_t i = 0; i < l->n[k]; i++) {
			struct leave *e = &l->v[k][i];

			as_sharers(&e->ev, ev, sh, e->path);
			e->ev.op = k == 0 ? CHANGE_DELETE : CHANGE_RMDIR;
			names_changed(m, &e->ev);
			plan(m, &e->ev, &e->p);
		}
	return 0;
}

/* Whether sh's side of rename ev (not made yet) is a folder leaving its
 * home. */
static int
folder_leaves(const struct sharer *sh, const struct upload_event *ev)
{
	char p[RFTP_PATH_MAX];

	return ev->op == CHANGE_RENAME &&
	    sharer_path(sh, ev->path, p, sizeof(p)) == 1 &&
	    sharer_path(sh, ev->new_path, p, sizeof(p)) != 1 &&
	    is_folder(ev->home, ev->path);
}

/*
 * The folders of folder done->new_path (the acting home's), which a
 * rename brought into the home of sh, are made on sh's targets, the
 * folder first and each before what it holds, in one transaction: the
 * walk of sh's home that walk_entered asks for pushes files only, and an
 * empty folder never reached sh's targets (nor came back to them after
 * leave_folder's removals, renamed out and back in). A folder gone again
 * by the time its job runs is not made (worker.c). Out of memory or a
 * queue that takes no writes: logged; the files still arrive.
 */
static void
enter_folders(
    struct mirror *m, const struct sharer *sh, const struct upload_event *done)
{
	struct leaving l;
	struct queue_change *c = NULL;
	size_t nc = 0;
	int64_t first, last;
	uint64_t ticket;
	int root, rc = 0;

	memset(&l, 0, sizeof(l));
	l.sh = sh;
	l.folders_only = 1;
	root = fs_open_root(done->home, 0);
	if (root < 0)
		return;
	/* The folder itself first (the walk gives what it holds). */
	(void)leave_one(
	    &l, done->new_path, &(struct stat){ .st_mode = S_IFDIR });
	/* A folder that cannot be opened (gone again) gives nothing
	 * more: its own job is then skipped (worker.c). */
	if (!l.oom)
		(void)fs_walk(
		    root, done->new_path, FS_WALK_FOLDERS, leave_one, &l);
	close(root);
	if (!l.oom)
		c = malloc((l.n[1] + 1) * sizeof(*c));
	if (c == NULL)
		rc = -1;
	for (size_t i = 0; rc == 0 && i < l.n[1]; i++) {
		struct leave *e = &l.v[1][i];

		as_sharers(&e->ev, done, sh, e->path);
		e->ev.op = CHANGE_MKDIR;
		plan(m, &e->ev, &e->p);
		if (e->p.nother == 0)
			continue;
		c[nc++] = (struct queue_change){ e->p.other, e->p.nother,
			e->p.op, e->ev.user, e->ev.home, e->ev.path, NULL, NULL,
			NULL, NULL, { e->ev.flow, 0 } };
	}
	if (rc == 0 && nc > 0 &&
	    (queue_add_changes(m->q, c, nc, 0, &first, &last, &ticket) < 0 ||
	        queue_sync(m->q, ticket) < 0))
		rc = -1;
	if (rc < 0)
		log_err(
		    "mirror: cannot queue the folders of %s for [%s], whose "
		    "home it was renamed into: its files are queued, its "
		    "empty folders are not",
		    LOGPATH(done->user, done->new_path), sh->user);
	else if (nc > 0)
		mirror_wake_all(m);
	free(c);
	leaving_free(&l);
}

/* The homes a folder was renamed into from outside them (share_side
 * gives them no job) get its folders (enter_folders) and are walked
 * again; done once the change locks are let go. */
static void
walk_entered(struct mirror *m, const struct change_token *tok,
    const struct upload_event *done)
{
	const struct sharer *sh = tok->shared;
	char p[RFTP_PATH_MAX];

	if (done->op != CHANGE_RENAME)
		return;
	for (size_t i = 0; i < tok->nshared; i++)
		if (sharer_path(&sh[i], done->new_path, p, sizeof(p)) == 1 &&
		    sharer_path(&sh[i], done->path, p, sizeof(p)) != 1 &&
		    is_folder(done->home, done->new_path)) {
			enter_folders(m, &sh[i], done);
			catchup_request_rescan(m, sh[i].user);
		}
}

/* A hash of ev's path and new path (FNV-1a, 64 bits). */
static uint64_t
paths_hash(const struct upload_event *ev)
{
	const char *to = ev->new_path ? ev->new_path : "";

	/* Each with its NUL: ("a", "bc") is not ("ab", "c"). */
	return fnv1a64(fnv1a64(FNV1A64_INIT, ev->path, strlen(ev->path) + 1),
	    to, strlen(to) + 1);
}

/*
 * A change made elsewhere than begin was told (an upload whose folder a
 * session renamed meanwhile: it is published under the folder's new
 * name) may lie in homes whose users begin did not know of, nor locked:
 * their change locks cannot be taken now, after the others (the order is
 * lowest first), so those homes are walked again, as for a folder renamed
 * into them. The walk asked for by that rename may have run before the
 * file was there. Asked with no change lock held.
 */
static void
walk_moved(struct mirror *m, const struct change_token *tok,
    const struct upload_event *done)
{
	const struct sharer *had = tok->shared;
	struct sharer *sh = NULL;
	size_t nsh = 0;

	if (paths_hash(done) == tok->where ||
	    sharers_of(m->sharers, done->user, done->home, done->path,
	        done->new_path, &sh, &nsh) < 0)
		return;
	for (size_t i = 0; i < nsh; i++) {
		size_t k = 0;

		while (k < tok->nshared && strcmp(had[k].user, sh[i].user) != 0)
			k++;
		if (k == tok->nshared)
			catchup_request_rescan(m, sh[i].user);
	}
	free(sh);
}

static void
token_free(struct change_token *tok)
{
	free(tok->shared);
	tok->shared = NULL;
	tok->nshared = 0;
}

static int
mirror_begin(void *ctx, const struct upload_event *ev, struct change_token *tok)
{
	struct mirror *m = ctx;
	struct sharer *sh = NULL;
	struct side *sd;
	struct queue_change *c;
	struct real_event r;
	const struct upload_event *rev = really(ev, &r);
	struct leaving *lv = NULL;
	size_t nsh = 0, nsd = 0, nc = 0, nlv = 0;
	uint64_t ticket;
	int rc = 0;

	tok->first = 0;
	tok->last = -1;
	tok->held = 0;
	/* Out of memory: the change is the acting user's alone. */
	sharers_of(m->sharers, ev->user, ev->home, rev->path, rev->new_path,
	    &sh, &nsh);
	tok->shared = sh;
	tok->nshared = nsh;
	tok->where = paths_hash(rev);
	tok->locks = (uint64_t)1 << mirror_user_stripe(ev->user);
	for (size_t i = 0; i < nsh; i++)
		tok->locks |= (uint64_t)1 << mirror_user_stripe(sh[i].user);
	sd = malloc((nsh + 1) * sizeof(*sd));
	c = malloc((nsh + 1) * sizeof(*c));
	if (sd == NULL || c == NULL) {
		log_err("mirror: out of memory recording the coming change of "
		        "/%s%s",
		    ev->user, ev->path);
		free(sd);
		free(c);
		token_free(tok);
		return -1;
	}
	lock_stripes(m, tok->locks);
	tok->held = 1;
	sides_of(tok, ev, rev, 0, sd, &nsd);
	for (size_t i = 0; i < nsd; i++) {
		const struct upload_event *e = &sd[i].ev;

		names_changed(m, e);
		plan(m, e, &sd[i].p);
		if (sd[i].p.nother == 0)
			continue;
		c[nc++] = (struct queue_change){ sd[i].p.other, sd[i].p.nother,
			sd[i].p.op, e->user, e->home, e->path, e->new_path,
			NULL, NULL, NULL, { e->flow, 0 } };
	}
	/* A folder renamed out of a home that shares it: what it holds is
	 * deleted on that home's targets. */
	for (size_t i = 0; i < nsh && rev->op == CHANGE_RENAME; i++) {
		if (!(tok->locks &
		        ((uint64_t)1 << mirror_user_stripe(sh[i].user))) ||
		    !folder_leaves(&sh[i], rev))
			continue;
		struct leaving *nlv2 = realloc(lv, (nlv + 1) * sizeof(*lv));

		if (nlv2 == NULL) {
			rc = -1;
			break;
		}
		lv = nlv2;
		if (leave_folder(m, &sh[i], rev, &lv[nlv]) < 0) {
			rc = -1;
			break;
		}
		nlv++;
	}
	for (size_t i = 0; i < nlv && rc == 0; i++)
		for (size_t k = 0; k < 2 && rc == 0; k++) {
			struct queue_change *nc2 =
			    realloc(c, (nc + lv[i].n[k] + 1) * sizeof(*c));

			if (nc2 == NULL) {
				rc = -1;
				break;
			}
			c = nc2;
			for (size_t j = 0; j < lv[i].n[k]; j++) {
				const struct leave *e = &lv[i].v[k][j];

				if (e->p.nother == 0)
					continue;
				c[nc++] = (struct queue_change){ e->p.other,
					e->p.nother, e->p.op, e->ev.user,
					e->ev.home, e->ev.path, NULL, NULL,
					NULL, NULL, { e->ev.flow, 0 } };
			}
		}
	if (rc < 0)
		log_err("mirror: out of memory recording the coming change "
		        "of /%s%s",
		    ev->user, ev->path);
	/* Every home's intents in one transaction: all are durable before
	 * the change is made, or none is and it is not made. */
	if (rc == 0 && nc > 0 &&
	    queue_add_changes(
	        m->q, c, nc, 1, &tok->first, &tok->last, &ticket) < 0) {
		log_err("mirror: cannot record the coming change of /%s%s",
		    ev->user, ev->path);
		rc = -1;
	}
	for (size_t i = 0; i < nlv; i++)
		leaving_free(&lv[i]);
	free(lv);
	free(sd);
	free(c);
	if (rc < 0) {
		tok->held = 0;
		unlock_stripes(m, tok->locks);
		token_free(tok);
	}
	return rc;
}

static int
mirror_end(void *ctx, struct change_token *tok, const struct upload_event *done)
{
	struct mirror *m = ctx;
	struct side *sd = NULL;
	struct queue_change *c = NULL;
	struct real_event r;
	const struct upload_event *rdone = done;
	size_t nsd = 0, nc = 0;
	uint64_t ticket = 0;
	int64_t first, last;
	int rc = 0, intents = tok->last >= tok->first, queued = 0, lost = 0;
	int unsettled = 0;

	if (!tok->held)
		return -1;
	if (intents &&
	    queue_settle(m->q, tok->first, tok->last, done != NULL) < 0) {
		unsettled = 1;
		rc = -1;
	}
	if (done != NULL) {
		sd = malloc((tok->nshared + 1) * sizeof(*sd));
		c = malloc((tok->nshared + 1) * sizeof(*c));
		if (sd == NULL || c == NULL)
			lost = 1;
	}
	if (done != NULL && !lost) {
		rdone = really(done, &r);
		sides_of(tok, done, rdone, 1, sd, &nsd);
		for (size_t i = 0; i < nsd; i++) {
			const struct upload_event *e = &sd[i].ev;
			/* A rename's new name pushed as a put drops the old
			 * name's waiting puts (queue.h). */
			int mv = e->op == CHANGE_RENAME;

			names_changed(m, e);
			plan(m, e, &sd[i].p);
			if (sd[i].p.nput == 0)
				continue;
			c[nc++] = (struct queue_change){ sd[i].p.put,
				sd[i].p.nput, mv ? JOB_PUT : sd[i].p.put_op,
				e->user, e->home, route_put_path(e), NULL,
				mv ? e->path : NULL, mv ? old_name_gone : NULL,
				e, { e->flow, e->size } };
		}
		/* Committed under the locks (no change of a home is seen
		 * without its job), synced after them (queue.c: sessions
		 * that commit meanwhile share the sync). */
		if (nc > 0 &&
		    queue_add_changes(m->q, c, nc, 0, &first, &last, &ticket) <
		        0)
			lost = 1;
		else
			queued = nc > 0;
	}
	tok->held = 0;
	unlock_stripes(m, tok->locks);
	if (done != NULL && !lost) {
		walk_entered(m, tok, rdone);
		walk_moved(m, tok, rdone);
	}
	/* The workers start at once; the job is durable before the caller
	 * replies (the push may even end first: harmless). */
	if ((intents && done != NULL) || nsd > 1)
		mirror_wake_all(
		    m); /* rare: the intents' targets are not kept */
	else if (nsd == 1)
		wake_targets(m, sd[0].p.put, sd[0].p.nput);
	if (queued && queue_sync(m->q, ticket) < 0)
		lost = 1;
	if (unsettled) {
		/* Left an intent, never claimed: a delete or rename made
		 * reached no target until the next start (found by fault
		 * injection). The scanner settles it from the home. */
		if (done != NULL)
			log_err(
			    "mirror: cannot settle the record of the change "
			    "of /%s%s; it is settled from the home once the "
			    "queue can be written",
			    done->user, done->path);
		else
			log_err(
			    "mirror: cannot drop the record of a change "
			    "that was not made; it is settled from the home "
			    "once the queue can be written");
		catchup_request_settle(m);
	}
	if (lost) {
		const struct sharer *sh = tok->shared;

		rc = -1;
		lost_change(m, done);
		for (size_t i = 0; i < tok->nshared; i++)
			catchup_request_rescan(m, sh[i].user);
	}
	free(sd);
	free(c);
	token_free(tok);
	return rc;
}

struct upload_sink
mirror_sink(struct mirror *m)
{
	struct upload_sink s = { mirror_changed, mirror_begin, mirror_end, m,
		NULL, NULL, NULL };

	if (m->cfg->mirror.stream_min_size > 0) {
		s.stream_begin = stream_begin;
		s.stream_grew = stream_grew;
		s.stream_end = stream_end;
	}

	return s;
}

int
mirror_lock_path(const char *queue, char *out, size_t outlen)
{
	return fmt_fixed(out, outlen, "%s.lock", queue) < 0 ? -1 : 0;
}

/*
 * Jobs of a target the config no longer has are never pushed, and no
 * status line, card or metric shows them (found from outside): said at
 * each start, with what to do. list: queue_job_targets' rows.
 */
void
mirror_say_unknown_targets(const struct config *cfg, const struct buf *list,
    int n, void (*say)(const char *line))
{
	for (size_t off = 0; n > 0 && off < list->len;) {
		const char *name = list->data + off;
		const char *count = name + strlen(name) + 1;
		struct buf line;

		off += strlen(name) + strlen(count) + 2;
		if (config_target(cfg, name) != NULL)
			continue;
		buf_init(&line, 2 * PATH_MAX + 256);
		if (buf_printf(&line,
		        "mirror: %s jobs of target '%s', which %s no longer "
		        "has, stay in the queue and are not pushed: add the "
		        "target back to push them",
		        count, name, cfg->path) < 0)
			say("mirror: jobs of a target the config no longer "
			    "has stay in the queue (no memory to say more)");
		else
			say(buf_str(&line));
		buf_free(&line);
	}
}

static void
say_warn(const char *line)
{
	log_warn("%s", line);
}

static void
warn_unknown_targets(struct mirror *m, const struct config *cfg)
{
	struct buf list;

	buf_init(&list, 64 * 1024);
	mirror_say_unknown_targets(
	    cfg, &list, queue_job_targets(m->q, &list), say_warn);
	buf_free(&list);
}

void
mirror_warn_idle_queue(const struct config *cfg)
{
	struct buf list;
	struct stat st;
	char err[PATH_MAX + 128];
	int n;

	/* A config whose last target was taken out starts no mirror; its
	 * queue may still hold jobs, which nothing said (found from
	 * outside: three uploads waited unseen). Only a file that is there:
	 * no queue is made for a config that never had a target. */
	if (lstat(cfg->mirror.queue, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size == 0)
		return;
	/* Held by a running relayftpd: another server's queue (two configs
	 * in one folder share the default path), whose targets are not ours
	 * to call taken out. */
	if (mirror_queue_held(cfg->mirror.queue) == 1)
		return;
	buf_init(&list, 64 * 1024);
	n = queue_peek_job_targets(cfg->mirror.queue, &list, err, sizeof(err));
	if (n < 0)
		log_warn("mirror: cannot count the jobs left in the queue "
		         "(%s): jobs of targets taken out of %s would not be "
		         "said",
		    err, cfg->path);
	mirror_say_unknown_targets(cfg, &list, n, say_warn);
	buf_free(&list);
}

/* The byte of the lock file the daemon's mark (mirror_queue_failing)
 * covers; flock(2), the daemon's lock of the whole file, and OFD locks
 * never meet on Linux. */
#define FAILING_MARK_BYTE 1
/* The byte of the lock file whose OFD read lock says a running daemon
 * holds the file (mirror_queue_held), beside the flock that keeps a
 * second server out: the flock can only be seen in /proc/locks, and
 * that is no sure sight (ofd_seen). Two bytes from the other mark, so
 * the two never merge into one line of /proc/locks. */
#define HELD_MARK_BYTE 3

/*
 * 1 if a process holds a lock of kind ("FLOCK", "OFDLCK") starting at
 * byte start (-1: any) on the file at path, 0 if none does, -1 if that
 * cannot be told. Read from /proc/locks, never by taking the lock: a
 * daemon starting at that moment would find it taken and refuse to
 * start. exact: the device must match too, for a lock whose sight
 * changes what is done or said; without, the inode alone: /proc/locks
 * gives the filesystem's device, which stat(2) does not on btrfs (a
 * subvolume's), and another lock on the same inode number elsewhere can
 * only keep a note back. It may miss a lock that is there (ofd_seen says
 * why), never show one that is not: used only where a miss is caught
 * later (db_held, behind another program's lock: lock_db's own lock) or
 * no worse than before.
 */
static int
lock_seen(const char *path, const char *kind, long long start, int exact)
{
	char line[256];
	struct stat st;
	FILE *f;
	int held = 0;

	if (stat(path, &st) < 0)
		return -1;
	f = fopen("/proc/locks", "re");
	if (f == NULL)
		return -1;
	/* "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF" */
	while (!held && fgets(line, sizeof(line), f) != NULL) {
		unsigned long long ino;
		unsigned int maj, min;
		long long from;
		char got[16];

		if (sscanf(line, "%*s %15s %*s %*s %*d %x:%x:%llu %lld", got,
		        &maj, &min, &ino, &from) == 5 &&
		    strcmp(got, kind) == 0 &&
		    ino == (unsigned long long)st.st_ino &&
		    (start < 0 || from == start) &&
		    (!exact ||
		        (maj == major(st.st_dev) && min == minor(st.st_dev))))
			held = 1;
	}
	fclose(f);
	return held;
}

/*
 * 1 if another open file description holds an OFD lock of that one byte,
 * byte, of the file at path (a mark relayftpd sets), 0 if no lock covers
 * it, -1 if that cannot be told: the file cannot be opened, or the lock
 * the kernel names is another (another program's POSIX lock, one of the
 * whole file: NFS's flock), which may hide a mark behind it (a found
 * lock was taken for the mark: `mirror status` said the queue could not
 * be written, or was another's under a hard link, found by a review).
 * Asked of the file (F_OFD_GETLK), never by taking the lock. /proc/locks
 * is no sure sight on a busy host: the kernel hands it out a page at a time,
 * and a lock dropped anywhere before the reader's page moves the rest
 * up, so a line is skipped; `mirror status` then told a server on its
 * own queue that the queue was another's under a hard link, and exited
 * 1 (CI, once; 1 status in 25 beside a program churning 2,000 locks).
 * Opens the file: never for the database itself in a process that may
 * run a server on it (closing any descriptor of it drops SQLite's POSIX
 * locks, which are the process's). Non-blocking, as a FIFO put in the
 * file's place would hold the open. follow: a symbolic link at path is
 * followed (the queue's, as SQLite does), else refused (the lock file,
 * which the daemon never opens through one).
 */
static int
ofd_seen(const char *path, off_t byte, int follow)
{
	struct flock fl = { .l_type = F_WRLCK,
		.l_whence = SEEK_SET,
		.l_start = byte,
		.l_len = 1 };
	int fd = open(path,
	    O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY |
	        (follow ? 0 : O_NOFOLLOW));
	int r;

	if (fd < 0)
		return -1;
	r = fcntl(fd, F_OFD_GETLK, &fl);
	close(fd);
	if (r < 0)
		return -1;
	if (fl.l_type == F_UNLCK)
		return 0;
	/* An OFD lock is told with l_pid -1 (fcntl(2)). */
	return fl.l_pid == -1 && fl.l_start == byte && fl.l_len == 1 ? 1 : -1;
}

/* lock_seen on the lock file of queue. */
static int
lock_file_seen(const char *queue, const char *kind, long long start, int exact)
{
	char path[PATH_MAX + 8];

	if (mirror_lock_path(queue, path, sizeof(path)) < 0)
		return -1;
	return lock_seen(path, kind, start, exact);
}

/* ofd_seen on byte of the lock file of queue. */
static int
lock_file_marked(const char *queue, off_t byte)
{
	char path[PATH_MAX + 8];

	if (mirror_lock_path(queue, path, sizeof(path)) < 0)
		return -1;
	return ofd_seen(path, byte, 0);
}

int
mirror_queue_held(const char *queue)
{
	if (lock_file_marked(queue, HELD_MARK_BYTE) == 1)
		return 1;
	/* A daemon started before the mark existed holds the flock alone
	 * (until its restart after an upgrade): seen in /proc/locks, which
	 * never shows a lock that is not there. */
	return lock_file_seen(queue, "FLOCK", -1, 0);
}

int
mirror_queue_failing(const char *queue)
{
	int marked = lock_file_marked(queue, FAILING_MARK_BYTE);

	/* Hidden behind another lock: /proc/locks, which may miss it. */
	if (marked < 0)
		return lock_file_seen(queue, "OFDLCK", FAILING_MARK_BYTE, 1);
	return marked;
}

int
mirror_queue_linked(const char *queue)
{
	/* The CLI's, before any open of the queue: the file may be opened. */
	int other = ofd_seen(queue, 0, 1);

	if (other < 0)
		other = lock_seen(queue, "OFDLCK", 0, 1);
	if (other != 1)
		return other;
	/* Held by the server that runs on this name: the WAL is shared. */
	return mirror_queue_held(queue) == 1 ? 0 : 1;
}

/* An OFD lock of type (F_RDLCK, F_WRLCK, F_UNLCK) on byte start of fd's
 * file; fcntl's result. It belongs to the open file description, which a
 * forked child shares: only F_UNLCK ends it for the child's copy too. */
static int
ofd_set(int fd, short type, off_t start)
{
	/* l_pid 0, as OFD locks want. */
	struct flock fl = { .l_type = type,
		.l_whence = SEEK_SET,
		.l_start = start,
		.l_len = 1 };

	return fcntl(fd, F_OFD_SETLK, &fl);
}

/* Puts the mark mirror_queue_failing reads on the lock file, or takes it
 * off, as the queue's last write went: `mirror status` read only the
 * file and said "up" while every change was logged unrecorded (found
 * from outside). While a sync failed, a write and a sync are tried each
 * time (queue_probe_write): an idle server wrote nothing more, and the
 * mark stayed on once the disk was mended. A failed write has its probe
 * in the scanner (catchup.c), which walks the homes once it succeeds. */
static void
mark_failing(struct mirror *m)
{
	int failing =
	    (queue_write_failing(m->q) &&
	        (!queue_sync_failing(m->q) || queue_probe_write(m->q) < 0)) ||
	    m->queue_said == 2;

	if (failing == m->marked_failing)
		return;
	/* Refused (a file system whose flock is a lock of the whole file,
	 * NFS): the status cannot tell, the log still does. */
	if (ofd_set(m->lock_fd, failing ? F_RDLCK : F_UNLCK,
	        FAILING_MARK_BYTE) < 0) {
		log_debug("mirror: cannot mark the queue's lock file: %s",
		    strerror(errno));
		return;
	}
	m->marked_failing = failing;
}

/*
 * The queue file moved: [mirror] queue set, or changed, to another path
 * (README: /var/lib/relayftpd under systemd) while the old file, the
 * default one beside the config, held jobs. The new queue never learns of
 * them: the start-up walk pushes the files again, but the deletes, renames
 * and parked jobs waiting there were lost without a word (found from
 * outside). Said at each start while that file holds jobs and no running
 * relayftpd holds it (then it is another server's queue).
 */
static void
warn_left_queue(const struct config *cfg)
{
	char old[PATH_MAX], err[PATH_MAX + 128];
	struct stat at, now;
	struct buf list;
	uint64_t jobs = 0, count_n;
	int n;

	if (config_resolve_path(
	        cfg->dir, "relayftpd-queue.db", old, sizeof(old)) < 0 ||
	    lstat(old, &at) < 0 || !S_ISREG(at.st_mode) || at.st_size == 0)
		return;
	if (stat(cfg->mirror.queue, &now) == 0 && now.st_dev == at.st_dev &&
	    now.st_ino == at.st_ino)
		return; /* the same file */
	if (mirror_queue_held(old) == 1)
		return;
	buf_init(&list, 64 * 1024);
	n = queue_peek_job_targets(old, &list, err, sizeof(err));
	for (size_t off = 0; n > 0 && off < list.len;) {
		const char *name = list.data + off;
		const char *count = name + strlen(name) + 1;

		off += strlen(name) + strlen(count) + 2;
		if (parse_u64(count, UINT32_MAX, &count_n) == 0)
			jobs += count_n;
	}
	buf_free(&list);
	if (jobs > 0)
		log_warn("mirror: %s, the queue %s used before its [mirror] "
		         "queue named %s, still holds %llu jobs that no "
		         "server pushes: set queue back to it until they are "
		         "pushed, or remove it",
		    old, cfg->path, cfg->mirror.queue,
		    (unsigned long long)jobs);
}

/*
 * Releases the queue's lock, then closes it. The flock belongs to the open
 * file description, which a child the process made meanwhile shares: one
 * posix_spawn'ed by another thread and not yet at its exec (an exec:
 * target of a second server, a host's system()), or a host's fork() that
 * never execs. A close alone left the lock with that child, and the next
 * server on this queue was refused as "in use by another running
 * relayftpd" (found from outside); LOCK_UN drops it for every copy.
 */
static void
lock_release(int fd)
{
	if (flock(fd, LOCK_UN) < 0 ||
	    ofd_set(fd, F_UNLCK, FAILING_MARK_BYTE) < 0 ||
	    ofd_set(fd, F_UNLCK, HELD_MARK_BYTE) < 0)
		log_warn(
		    "mirror: cannot unlock the queue: %s", strerror(errno));
	close(fd);
}

/*
 * Takes the lock file's flock, which keeps a second server off the queue,
 * then puts the mark mirror_queue_held reads (before the queue's own lock
 * is taken, and dropped after it: `mirror status` never sees the queue
 * held by a server that does not hold its lock file, which it tells as a
 * hard link). 0, or -1 with errno if the flock is not had. A mark refused
 * (a file system whose flock is a lock of the whole file) is only logged:
 * the status then looks in /proc/locks.
 */
static int
lock_hold(int fd)
{
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return -1;
	if (ofd_set(fd, F_RDLCK, HELD_MARK_BYTE) < 0)
		log_debug("mirror: cannot mark the queue's lock file as held: "
		          "%s",
		    strerror(errno));
	return 0;
}

/* err: the queue at path is another running server's under this name. */
static void
held_here(const char *path, char *err, size_t errlen)
{
	snprintf(err, errlen,
	    "the queue %s is in use by another running relayftpd (each "
	    "server needs a [mirror] queue of its own)",
	    path);
}

/* err: the queue at path is another running server's, under this name
 * (its lock file is held too: a second server on the same [mirror] queue,
 * the common mistake, was told of a hard link that was not there) or
 * under another. /proc/locks tells: nothing of the queue is opened. */
static void
held_elsewhere(const char *path, char *err, size_t errlen)
{
	if (mirror_queue_held(path) == 1) {
		held_here(path, err, errlen);
		return;
	}
	snprintf(err, errlen,
	    "the queue %s is in use by another running relayftpd under "
	    "another of its names (a hard link; each server needs a [mirror] "
	    "queue of its own)",
	    path);
}

/*
 * The queues the servers of this process hold, by device and inode (a
 * library host may run several). The start's look for another server's
 * lock on a queue file (db_held) opens a descriptor of the file and
 * closes it, and closing any descriptor of a file drops every POSIX lock
 * the process holds on it, SQLite's: so the file itself is asked only
 * when no server of this process holds it, and one that does is told
 * from this list. served_lock is held from that look to the queue's own
 * lock (mirror_start), so two starts in one process never look at once.
 */
static pthread_mutex_t served_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mirror *served;

/* Puts m in the list (served_lock held): the queue file lock_db holds,
 * or the file at path if it has none. */
static void
served_add(struct mirror *m, const char *path)
{
	struct stat st;

	if ((m->db_fd >= 0 ? fstat(m->db_fd, &st) : stat(path, &st)) < 0)
		return; /* no file to tell: nothing to guard either */
	m->served_dev = st.st_dev;
	m->served_ino = st.st_ino;
	m->served_next = served;
	served = m;
	m->served_on = 1;
}

/* Takes m out of the list, after its queue was closed and unlocked. */
static void
served_remove(struct mirror *m)
{
	pthread_mutex_lock(&served_lock);
	for (struct mirror **p = &served; m->served_on && *p != NULL;
	     p = &(*p)->served_next)
		if (*p == m) {
			*p = m->served_next;
			m->served_on = 0;
			break; /* *p may be NULL now: no step past it */
		}
	pthread_mutex_unlock(&served_lock);
}

/*
 * -1 with err filled if another server holds lock_db's lock on the queue
 * at path, else 0; served_lock held. Asked of the file (F_OFD_GETLK), as
 * `mirror status` asks: /proc/locks, read alone before, skips a line now
 * and then on a busy host (mirror_queue_held says why), and a server on
 * another name of the queue (a hard link) then had it opened before its
 * lock_db refused the start, the stale-WAL risk mirror_start's comment
 * tells. /proc/locks stays for a lock another program's hides.
 */
static int
db_held(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int seen;

	if (stat(path, &st) < 0)
		return 0; /* none yet: queue_open makes it */
	for (const struct mirror *o = served; o != NULL; o = o->served_next)
		if (o->served_dev == st.st_dev && o->served_ino == st.st_ino) {
			held_elsewhere(path, err, errlen);
			return -1;
		}
	seen = ofd_seen(path, 0, 1);
	if (seen < 0)
		seen = lock_seen(path, "OFDLCK", 0, 1);
	if (seen != 1)
		return 0;
	held_elsewhere(path, err, errlen);
	return -1;
}

/*
 * Locks the queue file's own inode for this server: the lock file is
 * found by name, and a hard link names the queue from another folder,
 * with another lock file: two servers ran on one queue, pushing the same
 * jobs, each with a WAL of its own over the one file (found from
 * outside). An OFD write lock on byte 0, where SQLite never locks (its
 * locks lie at 1 GiB, or in the -shm file), so `mirror status` still
 * reads. 0; -1 with err filled if another process holds it; a file that
 * cannot be opened for it is only logged (the lock file still guards
 * the name).
 */
static int
lock_db(struct mirror *m, const char *path, char *err, size_t errlen)
{
	m->db_fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (m->db_fd < 0) {
		log_warn("mirror: cannot open the queue %s to lock it: %s; a "
		         "second relayftpd on another name of it (a hard "
		         "link) is not refused",
		    path, strerror(errno));
		return 0;
	}
	if (ofd_set(m->db_fd, F_WRLCK, 0) == 0)
		return 0;
	if (errno != EAGAIN && errno != EACCES) {
		log_warn("mirror: cannot lock the queue %s: %s; a second "
		         "relayftpd on another name of it (a hard link) is "
		         "not refused",
		    path, strerror(errno));
		return 0;
	}
	/* Taken by another process between the look and the lock (one of
	 * this process is told by the look, db_held): the descriptor is
	 * closed after the queue (locks_release), whose SQLite locks a close
	 * now would drop. */
	held_elsewhere(path, err, errlen);
	return -1;
}

/* After queue_close of every connection: the queue's locks go, its own
 * before the lock file's, the reverse of their taking (lock_hold). The
 * other way round, a `mirror status` in between told of a hard link, and
 * a server started in between was refused as one on a hard link. */
static void
locks_release(struct mirror *m)
{
	if (m->db_fd >= 0) {
		if (ofd_set(m->db_fd, F_UNLCK, 0) < 0)
			log_warn("mirror: cannot unlock the queue: %s",
			    strerror(errno));
		close(m->db_fd);
	}
	lock_release(m->lock_fd);
}

/* The lock file made again where it was removed: a second server on the
 * queue is refused again. 1 if it was made again, 0 if the one held is
 * in place, -1 if it could not be (logged). */
static int
relock(struct mirror *m)
{
	char path[PATH_MAX + 8];
	struct stat at, held;
	int fd;

	if (mirror_lock_path(m->cfg->mirror.queue, path, sizeof(path)) < 0)
		return 0; /* checked at the start */
	if (lstat(path, &at) == 0 && fstat(m->lock_fd, &held) == 0 &&
	    at.st_dev == held.st_dev && at.st_ino == held.st_ino)
		return 0;
	fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0 || lock_hold(fd) < 0) {
		if (!m->relock_said)
			log_warn(
			    "mirror: cannot lock the queue's lock file %s "
			    "again: %s; a second relayftpd on this queue is "
			    "not refused until a restart",
			    path, strerror(errno));
		m->relock_said = 1;
		if (fd >= 0)
			close(fd);
		return -1;
	}
	lock_release(m->lock_fd);
	m->lock_fd = fd;
	m->marked_failing = 0; /* the new one holds no mark */
	m->relock_said = 0;
	return 1;
}

static void
check_file(struct mirror *m)
{
	const char *path = m->cfg->mirror.queue;
	char err[512];
	int st = queue_file_state(m->q);

	if (st == QUEUE_FILE_OURS || st < 0) {
		m->queue_said = 0;
		/* The lock file alone removed (a cleaner of the folder): a
		 * second server on the queue was not refused, and `mirror
		 * status` told of a hard link, until a restart (found by a
		 * review). */
		if (st == QUEUE_FILE_OURS && relock(m) == 1)
			log_warn("mirror: the queue's lock file %s.lock was "
			         "removed while relayftpd ran: made again (a "
			         "second relayftpd on this queue is refused "
			         "again)",
			    path);
		return;
	}
	if (st == QUEUE_FILE_REPLACED) {
		/* An admin's file: neither overwritten nor taken up with
		 * this server's jobs lost. Its WAL is out of the file's way:
		 * a restart laid its pages over the admin's file. */
		if (m->queue_said != 1 &&
		    queue_let_go(m->q, err, sizeof(err)) < 0)
			log_err("mirror: the queue %s was replaced: %s; a "
			        "restart may read this server's changes into "
			        "it",
			    path, err);
		if (m->queue_said != 1)
			log_err("mirror: the queue %s was replaced by another "
			        "file while relayftpd ran: this server goes on "
			        "with the one it opened, whose jobs a restart "
			        "would lose (stop relayftpd before putting a "
			        "queue file in place)",
			    path);
		m->queue_said = 1;
		return;
	}
	/* Removed (rm, a cleaner of the folder): every change since was
	 * "not queued yet" and a restart lost every job; the connection
	 * still sees all of it. */
	if (queue_write_back(m->q, err, sizeof(err)) < 0) {
		if (m->queue_said != 2)
			log_err("mirror: the queue %s was removed while "
			        "relayftpd ran and cannot be written back "
			        "(%s): changes are not recorded, and a restart "
			        "loses the queued jobs; tried again at each "
			        "rescan",
			    path, err);
		m->queue_said = 2;
		return;
	}
	m->queue_said = 0;
	/* Locked again before it is said: a second server started on the
	 * line's word found the queue free (test_queue_damage saw it). */
	(void)relock(m);
	log_err("mirror: the queue %s was removed while relayftpd ran: "
	        "written back from the open copy, no job lost (stop "
	        "relayftpd before removing it)",
	    path);
	if (m->vq != NULL && queue_reopen(m->vq, err, sizeof(err)) < 0)
		log_warn("mirror: the admin's queue connection stays on the "
		         "removed copy (%s): the admin listener shows stale "
		         "queue facts until a restart",
		    err);
}

void
mirror_check_queue(struct mirror *m)
{
	check_file(m);
	mark_failing(m);
}

/*
 * An empty file where the queue should be is what a crash right after it
 * was made, a full disk or a '> queue.db' leaves: SQLite takes it for a
 * new database, and the daemon started on it without a word (found from
 * outside), whatever jobs the queue held gone. Said, with what brings
 * the targets level again.
 */
static void
warn_empty_queue(const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0)
		log_warn("mirror: the queue %s is an empty file (a crash as it "
		         "was made, a full disk, or a '>' over it): started as "
		         "a new queue; the start-up walk queues the files the "
		         "targets lack (uploads renamed or deleted meanwhile "
		         "need 'relayftpd mirror resync')",
		    path);
}

struct mirror *
mirror_start(const struct config *cfg, struct userdb *users,
    struct stats *stats, char *err, size_t errlen)
{
	struct mirror *m = calloc(1, sizeof(*m));
	char lock_path[PATH_MAX + 8];
	int n;

	if (m == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->cfg = cfg;
	m->users = users;
	m->sharers = sharers_new(users);
	if (m->sharers == NULL) {
		snprintf(err, errlen, "out of memory");
		free(m);
		return NULL;
	}
	m->stats = stats;
	atomic_init(&m->stop, 0);
	atomic_init(&m->wall_lead_ms, clock_wall_offset_ms());
	warn_empty_queue(cfg->mirror.queue);
	/* Before the queue is opened: through a name of its own, with a WAL
	 * of that name, the open found the running server's tables only in
	 * that server's WAL, made its own in this one and left it there (no
	 * checkpoint while the other runs); served later, that name laid the
	 * stale WAL over the queue and its jobs were gone (found by review).
	 * lock_db below still catches a server started meanwhile. A
	 * server on this same name holds that lock too: said as in use, not
	 * as a hard link the admin would look for in vain (relayftpd
	 * started twice on one config). Held until this server is in the
	 * list of served queues (served). */
	pthread_mutex_lock(&served_lock);
	if (db_held(cfg->mirror.queue, err, errlen) < 0) {
		pthread_mutex_unlock(&served_lock);
		sharers_free(m->sharers);
		free(m);
		return NULL;
	}
	m->q = queue_open(cfg->mirror.queue, err, errlen);
	if (m->q == NULL) {
		pthread_mutex_unlock(&served_lock);
		sharers_free(m->sharers);
		free(m);
		return NULL;
	}
	/* A file of its own, never the database: closing any descriptor
	 * of the database would drop this process's fcntl() locks on it,
	 * SQLite's, under a running mirror (a second server's refused
	 * attempt would then let another reader delete the WAL). */
	if (mirror_lock_path(cfg->mirror.queue, lock_path, sizeof(lock_path)) <
	    0) {
		snprintf(err, errlen,
		    "the queue's path is too long for %s.lock",
		    cfg->mirror.queue);
		pthread_mutex_unlock(&served_lock);
		queue_close(m->q);
		sharers_free(m->sharers);
		free(m);
		return NULL;
	}
	m->lock_fd =
	    open(lock_path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (m->lock_fd < 0 || lock_hold(m->lock_fd) < 0) {
		int e = errno;

		if (e == EWOULDBLOCK)
			held_here(cfg->mirror.queue, err, errlen);
		else
			snprintf(err, errlen, "cannot lock the queue %s: %s",
			    cfg->mirror.queue, strerror(e));
		if (m->lock_fd >= 0)
			close(m->lock_fd);
		pthread_mutex_unlock(&served_lock);
		queue_close(m->q);
		sharers_free(m->sharers);
		free(m);
		return NULL;
	}
	if (lock_db(m, cfg->mirror.queue, err, errlen) < 0) {
		pthread_mutex_unlock(&served_lock);
		queue_close(m->q);
		locks_release(m);
		sharers_free(m->sharers);
		free(m);
		return NULL;
	}
	served_add(m, cfg->mirror.queue);
	pthread_mutex_unlock(&served_lock);
	n = queue_recover(m->q);
	if (n > 0)
		log_info("mirror: %d interrupted pushes will be redone", n);
	/* No delay a failure sets reaches past retry_max (and a second,
	 * queue_defer_retries): a due time beyond it was stored before the
	 * wall clock was set back while no server ran (worker.c clock_check
	 * moves them while one runs). */
	n = queue_retime(m->q, 0,
	    clock_wall_ms() + (int64_t)cfg->mirror.retry_max * 1000 + 1000);
	if (n > 0)
		log_warn("mirror: %d retries were due further ahead than "
		         "retry_max (the system clock was set back): due "
		         "within retry_max now",
		    n);
	catchup_settle_intents(m);
	warn_unknown_targets(m, cfg);
	warn_left_queue(cfg);
	/* The admin's connection (view.c), opened after the first one made
	 * or upgraded the schema. */
	m->vq = queue_open_view(cfg->mirror.queue, err, errlen);
	if (m->vq == NULL)
		log_warn("mirror: no second queue connection (%s): the admin "
		         "listener shows no queue facts",
		    err);
	else
		queue_set_busy_ms(m->vq, RFTP_ADMIN_QUEUE_BUSY_MS);
	for (unsigned i = 0; i < USER_LOCKS; i++)
		pthread_mutex_init(&m->user_locks[i], NULL);
	pthread_mutex_init(&m->scan_lock, NULL);
	pthread_mutex_init(&m->clock_lock, NULL);
	clock_cond_init(&m->scan_wake); /* a rescan's retry waits on it */
	pthread_mutex_init(&m->stream_lock, NULL);
	clock_cond_init(&m->stream_cond);
	m->scan_all = 1; /* the start-up catch-up */
	m->ntargets = cfg->mirror.ntargets;
	m->targets = calloc(m->ntargets ? m->ntargets : 1, sizeof(*m->targets));
	if (m->targets == NULL) {
		snprintf(err, errlen, "out of memory");
		queue_close(m->vq);
		queue_close(m->q);
		locks_release(m);
		served_remove(m);
		sharers_free(m->sharers);
		free(m);
		return NULL;
	}
	for (unsigned i = 0; i < m->ntargets; i++)
		worker_pool_init(m, i);
	return m;
}

/*
 * Which targets this server pushes to, with which settings, for `mirror
 * status` (it reads the config as it is now: a target added or changed
 * since this start is not applied until a restart, which SIGHUP is not).
 * A failure is logged by the queue and costs only that mark.
 */
static void
record_running_targets(struct mirror *m)
{
	const char *names[RFTP_TARGETS_MAX], *fps[RFTP_TARGETS_MAX];
	char fp[RFTP_TARGETS_MAX][17];
	unsigned n = 0;

	for (unsigned i = 0; i < m->ntargets && n < RFTP_TARGETS_MAX; i++) {
		target_fingerprint(m->targets[i].t, fp[n], sizeof(fp[n]));
		names[n] = m->targets[i].t->name;
		fps[n] = fp[n];
		n++;
	}
	(void)queue_set_running_targets(m->q, names, fps, n);
}

int
mirror_run(struct mirror *m, char *err, size_t errlen)
{
	int rc;

	for (unsigned i = 0; i < m->ntargets; i++) {
		worker_pool_start(m, i);
		/* No worker: the target's jobs would wait for good. */
		if (m->targets[i].nworkers == 0) {
			snprintf(err, errlen,
			    "cannot start a worker thread for target %s",
			    m->targets[i].t->name);
			return -1;
		}
	}
	record_running_targets(m);
	/* Without the scanner, the start-up catch-up, the rescans after a
	 * change the queue could not record and the settling of intents
	 * never ran, and nothing said so (found by fault injection). */
	rc = thread_start(&m->scanner, 0, catchup_main, m);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the scanner thread: %s",
		    strerror(rc));
		return -1;
	}
	m->scanning = 1;
	if (stream_start(m) < 0)
		log_warn("mirror: no thread to push uploads while they arrive: "
		         "each is pushed once complete");
	return 0;
}

void
mirror_stop(struct mirror *m)
{
	if (m == NULL)
		return;
	atomic_store(&m->stop, 1);
	/* A request waiting on a target ends now, not at its timeout. */
	transport_interrupt(&m->stop);
	pthread_mutex_lock(&m->scan_lock);
	pthread_cond_broadcast(&m->scan_wake);
	pthread_mutex_unlock(&m->scan_lock);
	if (m->scanning)
		pthread_join(m->scanner, NULL);
	stream_stop(m);
	mirror_wake_all(m);
	for (unsigned i = 0; i < m->ntargets; i++)
		worker_pool_join(&m->targets[i]);
	free(m->targets);
	for (unsigned i = 0; i < USER_LOCKS; i++)
		pthread_mutex_destroy(&m->user_locks[i]);
	pthread_mutex_destroy(&m->scan_lock);
	pthread_mutex_destroy(&m->clock_lock);
	pthread_cond_destroy(&m->scan_wake);
	pthread_mutex_destroy(&m->stream_lock);
	pthread_cond_destroy(&m->stream_cond);
	queue_close(m->vq);
	queue_close(m->q);
	locks_release(m);
	served_remove(m);
	sharers_free(m->sharers);
	free(m);
}
