/*
 * quota.c - see quota.h. Accounts live in a small list under one registry
 * mutex (joins and leaves are rare, and it is never held while a home is
 * counted), each pointing to its home's usage (one per home folder, shared
 * by the users of that home); byte accounting takes only the usage's
 * mutex, once per transfer chunk. Lock order: names, then the usage's
 * mutex; the registry mutex is never held with either.
 */
#include "server/quota.h"

#include "common/clock.h"
#include "common/fnv.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/fsgate.h"
#include "common/fsusage.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* What a home holds, counted once for every user whose home it is (two
 * accounts on one folder, a camera's and a second uploader's): each
 * user's quota is checked against the same bytes and entries, so that
 * together they cannot fill it past either limit (each counted only its
 * own changes: a home of two users with a 100K quota each took 180K).
 * Found by the home's device and inode; freed with its last account. */
struct usage {
	struct usage *next;
	dev_t home_dev;
	ino_t home_ino;
	unsigned refs; /* accounts; under the registry mutex */
	pthread_mutex_t names;
	pthread_mutex_t lock; /* everything below, and the accounts'
	                         limits */
	pthread_cond_t counted;
	uint64_t used_bytes, used_files;
	/* Replaces whose partial's entry is counted, within quota_files
	 * + 1 or lent past it (account_add_replace), and not yet ended. */
	unsigned replaces;
	int measured;  /* usage was read from the disk */
	int measuring; /* a login is counting the home now */
	/* Bytes charged and not yet written (account_written); a count
	 * waits for 0 on drained. */
	uint64_t unwritten;
	pthread_cond_t drained;
	/* Why the last count was incomplete ("" = it was not): while set and
	 * a quota applies, writes are refused. */
	char unknown[512];
	/* Under names: the entry counts of the folders its accounts changed
	 * last (quota_folder_has_room), the least recently used replaced. */
	struct folder_seen {
		dev_t dev;
		ino_t ino;
		struct timespec ctime; /* after the count or our last change */
		uint64_t count;        /* entries, partials included */
		unsigned updates;      /* our changes since the count */
		uint64_t used;         /* folders_clock when last used */
	} folders[RFTP_FOLDERS_SEEN];
	uint64_t folders_clock;
};

struct account {
	struct account *next;
	char name[RFTP_USER_MAX + 1];
	/* The home it counts: a users.ini reload that moves the user gives
	 * the new sessions another account (the old one's usage is that of
	 * the old home), and the sessions still open keep theirs. */
	dev_t home_dev;
	ino_t home_ino;
	unsigned sessions;                 /* under the registry mutex */
	uint64_t quota_bytes, quota_files; /* under u->lock */
	struct usage *u;
};

struct accounts {
	pthread_mutex_t lock;
	struct account *head;
	struct usage *usages;
	/* Under lock: the homes whose last count failed, and why (a hash),
	 * so that the warning is not logged again at each login: the
	 * usage that knows it is freed with its last session. */
	struct uncounted {
		char name[RFTP_USER_MAX + 1]; /* "" = free */
		dev_t home_dev;
		ino_t home_ino;
		uint64_t why_hash;
		uint64_t said_ms; /* monotonic, when last logged */
	} uncounted[RFTP_UNCOUNTED_SEEN];
};

int
quota_fits(uint64_t used, uint64_t add, uint64_t limit)
{
	if (limit == 0)
		return 1;
	return add <= limit && used <= limit - add;
}

uint64_t
quota_sub(uint64_t used, uint64_t sub)
{
	return sub > used ? 0 : used - sub;
}

struct accounts *
accounts_new(void)
{
	struct accounts *reg = calloc(1, sizeof(*reg));

	if (reg != NULL)
		pthread_mutex_init(&reg->lock, NULL);
	return reg;
}

static void
usage_free(struct usage *u)
{
	pthread_cond_destroy(&u->counted);
	pthread_cond_destroy(&u->drained);
	pthread_mutex_destroy(&u->lock);
	pthread_mutex_destroy(&u->names);
	free(u);
}

void
accounts_free(struct accounts *reg)
{
	if (reg == NULL)
		return;
	while (reg->head != NULL) {
		struct account *a = reg->head;

		reg->head = a->next;
		free(a);
	}
	while (reg->usages != NULL) {
		struct usage *u = reg->usages;

		reg->usages = u->next;
		usage_free(u);
	}
	pthread_mutex_destroy(&reg->lock);
	free(reg);
}

/* Under the registry's lock: a reference to the usage of the home
 * dev/ino, made if none is there; NULL out of memory. A home that could
 * not be stat'ed (0/0) shares with no one. */
static struct usage *
usage_get(struct accounts *reg, dev_t dev, ino_t ino)
{
	struct usage *u;

	for (u = reg->usages; u != NULL && (dev != 0 || ino != 0); u = u->next)
		if (u->home_dev == dev && u->home_ino == ino) {
			u->refs++;
			return u;
		}
	u = calloc(1, sizeof(*u));
	if (u == NULL)
		return NULL;
	u->home_dev = dev;
	u->home_ino = ino;
	u->refs = 1;
	pthread_mutex_init(&u->names, NULL);
	pthread_mutex_init(&u->lock, NULL);
	pthread_cond_init(&u->counted, NULL);
	pthread_cond_init(&u->drained, NULL);
	u->next = reg->usages;
	reg->usages = u;
	return u;
}

/* Under the registry's lock. */
static void
usage_put(struct accounts *reg, struct usage *u)
{
	struct usage **pp;

	if (--u->refs > 0)
		return;
	for (pp = &reg->usages; *pp != NULL; pp = &(*pp)->next)
		if (*pp == u) {
			*pp = u->next;
			break;
		}
	usage_free(u);
}

static int
has_quota(const struct account *a)
{
	return a->quota_bytes != 0 || a->quota_files != 0;
}

/* Whether the failed count of a's home (why; NULL: the count was
 * complete) is to be logged: a reason not logged for this user and home
 * yet, or last logged RFTP_UNCOUNTED_REMIND_S ago. Takes the registry's
 * lock, so never called with a usage's locks held. */
static int
uncounted_say(struct accounts *reg, const struct account *a, const char *why)
{
	struct uncounted *e, *slot = NULL, *oldest = NULL;
	uint64_t now = clock_mono_ms(),
	         h = why != NULL ? fnv1a64_str(FNV1A64_INIT, why) : 0;
	size_t i;
	int say = 0;

	pthread_mutex_lock(&reg->lock);
	for (i = 0; i < RFTP_UNCOUNTED_SEEN; i++) {
		e = &reg->uncounted[i];
		if (e->name[0] != '\0' && e->home_dev == a->home_dev &&
		    e->home_ino == a->home_ino &&
		    strcmp(e->name, a->name) == 0) {
			slot = e;
			break;
		}
		if (oldest == NULL || e->name[0] == '\0' ||
		    (oldest->name[0] != '\0' && e->said_ms < oldest->said_ms))
			oldest = e;
	}
	if (why == NULL) {
		/* Counted: a failure after this one is news again. */
		if (slot != NULL)
			slot->name[0] = '\0';
	} else if (slot == NULL || slot->why_hash != h ||
	    now - slot->said_ms >= RFTP_UNCOUNTED_REMIND_S * 1000u) {
		if (slot == NULL) {
			slot = oldest;
			/* a->name fits: same bound (account_join). */
			snprintf(slot->name, sizeof(slot->name), "%s", a->name);
			slot->home_dev = a->home_dev;
			slot->home_ino = a->home_ino;
		}
		slot->why_hash = h;
		slot->said_ms = now;
		say = 1;
	}
	pthread_mutex_unlock(&reg->lock);
	return say;
}

/*
 * Counts the home of a, which this thread marked measuring, with neither
 * the registry's lock nor the account's held: a big home (hundreds of
 * thousands of entries) takes a while, and nobody else's login may wait
 * for it. Then publishes the numbers. The user's other sessions change
 * nothing the count sees meanwhile: it holds the names lock (no rename,
 * create or delete), byte charges wait for it (account_add_bytes), and
 * it begins once every block charged before it was written (a charge
 * comes before its bytes are written; one charged before the count and
 * written during it was seen or not by chance: up to a pipe's 1 MiB
 * missing per upload under way). The count replaces the usage, and what
 * those sessions did during it was lost: a folder renamed as it was
 * walked, the bytes of an upload under way (found from outside: 40 to
 * 100 MB short, and a later upload past the quota).
 */
static void
measure(struct accounts *reg, struct account *a, int root)
{
	struct fs_usage u;
	char why[sizeof(a->u->unknown)];
	int rc;

	/* Before the names lock: no writer holds it while it writes, but
	 * waiting for writes under it would be an order nobody needs.
	 * measuring is set: no new charge comes meanwhile. */
	pthread_mutex_lock(&a->u->lock);
	while (a->u->unwritten > 0)
		pthread_cond_wait(&a->u->drained, &a->u->lock);
	pthread_mutex_unlock(&a->u->lock);
	pthread_mutex_lock(&a->u->names);
	rc = fs_usage(root, RFTP_USAGE_ENTRIES_MAX, RFTP_USAGE_DEPTH_MAX, &u,
	    why, sizeof(why));
	pthread_mutex_lock(&a->u->lock);
	a->u->used_bytes = u.bytes;
	a->u->used_files = u.files + u.folders;
	snprintf(a->u->unknown, sizeof(a->u->unknown), "%s", rc < 0 ? why : "");
	a->u->measured = 1;
	a->u->measuring = 0;
	pthread_cond_broadcast(&a->u->counted);
	pthread_mutex_unlock(&a->u->lock);
	pthread_mutex_unlock(&a->u->names);
	/* After the usage's locks: the registry's is never held with
	 * them. */
	if (uncounted_say(reg, a, rc < 0 ? why : NULL))
		log_warn("usage of the home of %s cannot be counted (%s): "
		         "its uploads and new folders are refused until a "
		         "login counts it completely",
		    a->name, why);
}

enum account_err
account_join(struct accounts *reg, const char *name, uint64_t max_sessions,
    uint64_t quota_bytes, uint64_t quota_files, int root, struct account **out)
{
	struct account *a, *mine = NULL;
	struct stat home;
	uint64_t sessions = 0;
	int count, n, alone, fresh, waited = 0;

	/* An O_PATH descriptor can be stat'ed; a home that cannot be has
	 * no identity to share: 0/0, its own account as before. */
	if (fstat(root, &home) < 0)
		memset(&home, 0, sizeof(home));
	pthread_mutex_lock(&reg->lock);
	/* max_sessions is the user's, across the homes a reload moved its
	 * sessions between. */
	for (a = reg->head; a != NULL; a = a->next) {
		if (strcmp(a->name, name) != 0)
			continue;
		sessions += a->sessions;
		if (a->home_dev == home.st_dev && a->home_ino == home.st_ino)
			mine = a;
	}
	if (max_sessions != 0 && sessions >= max_sessions) {
		pthread_mutex_unlock(&reg->lock);
		return ACCOUNT_TOO_MANY;
	}
	a = mine;
	fresh = a == NULL;
	if (a != NULL) {
		a->sessions++;
	} else {
		a = calloc(1, sizeof(*a));
		if (a == NULL) {
			pthread_mutex_unlock(&reg->lock);
			return ACCOUNT_NOMEM;
		}
		/* Accounts are found by name: a cut name would join two
		 * users. Names have the same bound as struct user's. */
		n = snprintf(a->name, sizeof(a->name), "%s", name);
		if (n < 0 || (size_t)n >= sizeof(a->name)) {
			pthread_mutex_unlock(&reg->lock);
			free(a);
			return ACCOUNT_NOMEM;
		}
		a->home_dev = home.st_dev;
		a->home_ino = home.st_ino;
		a->u = usage_get(reg, home.st_dev, home.st_ino);
		if (a->u == NULL) {
			pthread_mutex_unlock(&reg->lock);
			free(a);
			return ACCOUNT_NOMEM;
		}
		a->sessions = 1;
		a->next = reg->head;
		reg->head = a;
	}
	alone = a->u->refs == 1;
	pthread_mutex_unlock(&reg->lock);
	/* Our reference keeps a alive from here on. */
	pthread_mutex_lock(&a->u->lock);
	/* A reload may have changed the limits: newest wins. */
	a->quota_bytes = quota_bytes;
	a->quota_files = quota_files;
	while (a->u->measuring) {
		waited = 1;
		pthread_cond_wait(&a->u->counted, &a->u->lock);
	}
	/* Without a quota the count is kept up only by our own changes (what
	 * another program writes meanwhile is unseen), and nothing relies on
	 * it: a quota that comes back counts anew, also while a session from
	 * before keeps this account. Another user's account on the home
	 * (with a quota, say) keeps it up with its changes too. */
	if (!has_quota(a) && alone)
		a->u->measured = 0;
	/* A quota that appeared since the first login needs the real usage;
	 * an incomplete count is retried at each login, so removing what
	 * could not be counted and logging in again lifts the refusal. The
	 * user's first login counts too (README), though another user's
	 * session keeps the home's usage: else what other programs removed
	 * since stayed counted for as long as that session lasted (a
	 * viewer's, open all day: the camera's uploads refused with 552 in
	 * an emptied home). A count that ended while we waited is as new. */
	count = has_quota(a) &&
	    ((fresh && !waited) || !a->u->measured || a->u->unknown[0] != '\0');
	if (count)
		a->u->measuring = 1;
	pthread_mutex_unlock(&a->u->lock);
	if (count)
		measure(reg, a, root);
	*out = a;
	return ACCOUNT_OK;
}

void
account_leave(struct accounts *reg, struct account *a)
{
	struct account **pp;

	pthread_mutex_lock(&reg->lock);
	if (--a->sessions == 0) {
		for (pp = &reg->head; *pp != NULL; pp = &(*pp)->next) {
			if (*pp == a) {
				*pp = a->next;
				break;
			}
		}
		usage_put(reg, a->u);
		free(a);
	}
	pthread_mutex_unlock(&reg->lock);
}

/* Under a->u->lock: writes are refused while a quota applies to a home that
 * could not be counted. */
static int
unknown_locked(const struct account *a)
{
	return has_quota(a) && a->u->unknown[0] != '\0';
}

int
account_known(struct account *a, char *why, size_t whylen)
{
	int rc = 0;

	pthread_mutex_lock(&a->u->lock);
	if (unknown_locked(a)) {
		rc = -1;
		if (whylen > 0)
			snprintf(why, whylen, "%s", a->u->unknown);
	}
	pthread_mutex_unlock(&a->u->lock);
	return rc;
}

/* limit + credit, keeping 0 = unlimited and saturating. */
static uint64_t
with_credit(uint64_t limit, uint64_t credit)
{
	if (limit == 0)
		return 0;
	return credit > UINT64_MAX - limit ? UINT64_MAX : limit + credit;
}

int
account_add_bytes(struct account *a, uint64_t n, uint64_t credit)
{
	int rc = -1;

	pthread_mutex_lock(&a->u->lock);
	/* Not while the home is counted (measure): the bytes would be
	 * written behind the count's back. */
	while (a->u->measuring)
		pthread_cond_wait(&a->u->counted, &a->u->lock);
	if (!unknown_locked(a) &&
	    quota_fits(
	        a->u->used_bytes, n, with_credit(a->quota_bytes, credit))) {
		a->u->used_bytes += n;
		a->u->unwritten += n;
		rc = 0;
	}
	pthread_mutex_unlock(&a->u->lock);
	return rc;
}

void
account_written(struct account *a, uint64_t n)
{
	pthread_mutex_lock(&a->u->lock);
	a->u->unwritten = quota_sub(a->u->unwritten, n);
	if (a->u->unwritten == 0)
		pthread_cond_broadcast(&a->u->drained);
	pthread_mutex_unlock(&a->u->lock);
}

/* Under a->u->lock: account_add_file's check and count. */
static int
add_file_locked(struct account *a, uint64_t credit)
{
	if (unknown_locked(a) ||
	    !quota_fits(
	        a->u->used_files, 1, with_credit(a->quota_files, credit)))
		return -1;
	a->u->used_files++;
	return 0;
}

int
account_add_file(struct account *a, uint64_t credit)
{
	int rc;

	pthread_mutex_lock(&a->u->lock);
	rc = add_file_locked(a, credit);
	pthread_mutex_unlock(&a->u->lock);
	return rc;
}

int
account_add_replace(struct account *a)
{
	int rc;

	pthread_mutex_lock(&a->u->lock);
	rc = add_file_locked(a, 1);
	if (rc < 0 && !unknown_locked(a) && a->u->replaces == 0) {
		/* Past the quota already (lowered since): a replace adds no
		 * name in the end, and refusing it left a user over quota
		 * unable to update any file it has. Only with no other
		 * replace under way: the home then holds at most one name
		 * more than now while it runs, whatever the sessions. A
		 * replace within quota_files + 1 has that name already (a
		 * loan beside it put a second past quota_files on disk). */
		a->u->used_files++;
		rc = 1;
	}
	if (rc >= 0)
		a->u->replaces++;
	pthread_mutex_unlock(&a->u->lock);
	return rc;
}

void
account_replace_end(struct account *a)
{
	pthread_mutex_lock(&a->u->lock);
	if (a->u->replaces > 0)
		a->u->replaces--;
	pthread_mutex_unlock(&a->u->lock);
}

void
account_sub(struct account *a, uint64_t bytes, uint64_t files)
{
	pthread_mutex_lock(&a->u->lock);
	a->u->used_bytes = quota_sub(a->u->used_bytes, bytes);
	a->u->used_files = quota_sub(a->u->used_files, files);
	pthread_mutex_unlock(&a->u->lock);
}

void
account_excess(struct account *a, uint64_t *bytes, uint64_t *files)
{
	pthread_mutex_lock(&a->u->lock);
	*bytes = a->quota_bytes != 0 && a->u->used_bytes > a->quota_bytes ?
	    a->u->used_bytes - a->quota_bytes :
	    0;
	*files = a->quota_files != 0 && a->u->used_files > a->quota_files ?
	    a->u->used_files - a->quota_files :
	    0;
	pthread_mutex_unlock(&a->u->lock);
}

void
account_usage(struct account *a, uint64_t *bytes, uint64_t *files)
{
	pthread_mutex_lock(&a->u->lock);
	*bytes = a->u->used_bytes;
	*files = a->u->used_files;
	pthread_mutex_unlock(&a->u->lock);
}

void
account_names_lock(struct account *a)
{
	if (a != NULL)
		pthread_mutex_lock(&a->u->names);
}

void
account_names_unlock(struct account *a)
{
	if (a != NULL)
		pthread_mutex_unlock(&a->u->names);
}

int
account_publish_fits(struct account *a, const struct publish *p)
{
	uint64_t bytes, files;
	int bytes_ok, files_ok;

	pthread_mutex_lock(&a->u->lock);
	/* The partial is already counted: the usage after the rename is the
	 * usage now minus what the rename removes. */
	bytes = quota_sub(a->u->used_bytes, p->replaced_bytes);
	files = quota_sub(a->u->used_files, p->replaced_entries);
	bytes_ok = p->replaced_bytes >= p->credit_bytes ||
	    quota_fits(bytes, 0, a->quota_bytes) ||
	    p->partial_bytes <= p->replaced_bytes;
	files_ok = p->replaced_entries >= p->credit_entries ||
	    quota_fits(files, 0, a->quota_files);
	bytes_ok = bytes_ok && files_ok && !unknown_locked(a);
	pthread_mutex_unlock(&a->u->lock);
	return bytes_ok ? 0 : -1;
}

static int
same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* The slot that holds what the account saw of the folder st, or -1. */
static int
folder_slot(const struct account *a, const struct stat *st)
{
	for (int i = 0; i < RFTP_FOLDERS_SEEN; i++)
		if (a->u->folders[i].used > 0 &&
		    a->u->folders[i].dev == st->st_dev &&
		    a->u->folders[i].ino == st->st_ino)
			return i;
	return -1;
}

static void
mark_slot(struct account *a, int slot, struct folder_mark *mark)
{
	if (mark == NULL)
		return;
	mark->slot = slot;
	if (slot < 0)
		return;
	mark->dev = a->u->folders[slot].dev;
	mark->ino = a->u->folders[slot].ino;
	mark->ctime = a->u->folders[slot].ctime;
}

/*
 * The count the account keeps for the folder st, if it still holds: the
 * folder's ctime is the one seen after the count or after our own last
 * change, so nobody changed it since (on Linux 6.13 and later a change
 * after a look always moves the ctime; before, a change within the same
 * clock tick as ours may not, which RFTP_FOLDER_SEEN_UPDATES bounds).
 * Returns the slot, or -1.
 */
static int
folder_known(struct account *a, const struct stat *st)
{
	int i = folder_slot(a, st);

	if (i < 0 || !same_time(&a->u->folders[i].ctime, &st->st_ctim) ||
	    a->u->folders[i].updates >= RFTP_FOLDER_SEEN_UPDATES)
		return -1;
	a->u->folders[i].used = ++a->u->folders_clock;
	return i;
}

/* Keeps count for the folder st (its ctime from before the count: a change
 * made while counting moves it, and the next look counts again). */
static int
folder_keep(struct account *a, const struct stat *st, uint64_t count)
{
	int i = folder_slot(a, st);

	if (i < 0) {
		i = 0;
		for (int k = 1; k < RFTP_FOLDERS_SEEN; k++)
			if (a->u->folders[k].used < a->u->folders[i].used)
				i = k;
	}
	a->u->folders[i].dev = st->st_dev;
	a->u->folders[i].ino = st->st_ino;
	a->u->folders[i].ctime = st->st_ctim;
	a->u->folders[i].count = count;
	a->u->folders[i].updates = 0;
	a->u->folders[i].used = ++a->u->folders_clock;
	return i;
}

int
quota_folder_has_room(
    struct account *a, int dirfd, uint64_t max, struct folder_mark *mark)
{
	struct stat st;
	uint64_t n;
	int slot = -1, seen;

	mark_slot(a, -1, mark);
	if (max == 0)
		return 0;
	/* Reading the folder for every new name made uploads into a big
	 * folder quadratic (and held the user's names lock meanwhile): its
	 * size answers at once while it is far from full, and past that the
	 * count kept from the last reading and our own changes since. */
	if (fs_entries_bound(dirfd, &n) == 0 && n < max) {
		/* The change that follows is not counted: a count kept
		 * from when the folder was bigger (tmpfs shrinks) would be
		 * trusted wrong later. */
		quota_folder_forget(a, dirfd);
		return 0;
	}
	seen = a != NULL && fstat(dirfd, &st) == 0;
	if (seen && (slot = folder_known(a, &st)) >= 0) {
		n = a->u->folders[slot].count;
	} else {
		struct stat after;

		if (fs_count_entries(dirfd, max, &n) < 0)
			return -1;
		/* Counted to the cap at most: a full folder may hold more
		 * (a cap lowered since), so only a count below it is kept;
		 * and only one nobody changed while it was read (the ctime
		 * did not move), else it would be kept wrong for good. */
		if (seen && n < max && fstat(dirfd, &after) == 0 &&
		    same_time(&after.st_ctim, &st.st_ctim))
			slot = folder_keep(a, &st, n);
	}
	mark_slot(a, slot, mark);
	if (n >= max) {
		errno = EDQUOT;
		return -1;
	}
	return 0;
}

void
quota_folder_forget(struct account *a, int dirfd)
{
	struct stat st;
	int i;

	/* Nothing kept (no cap, or folders far from it): no fstat, as on
	 * every DELE, RNTO and published upload. */
	if (a == NULL || a->u->folders_clock == 0 || fstat(dirfd, &st) < 0 ||
	    (i = folder_slot(a, &st)) < 0)
		return;
	memset(&a->u->folders[i], 0, sizeof(a->u->folders[i]));
}

void
quota_folder_mark(struct account *a, int dirfd, struct folder_mark *mark)
{
	struct stat st;

	mark_slot(a, -1, mark);
	if (a != NULL && a->u->folders_clock > 0 && fstat(dirfd, &st) == 0)
		mark_slot(a, folder_known(a, &st), mark);
}

void
quota_folder_changed(
    struct account *a, int dirfd, struct folder_mark *mark, int delta)
{
	struct folder_seen *f;
	struct stat st;

	if (a == NULL || mark == NULL || mark->slot < 0)
		return;
	f = &a->u->folders[mark->slot];
	/* The slot still holds what was marked (nothing took it over). */
	if (f->dev != mark->dev || f->ino != mark->ino ||
	    !same_time(&f->ctime, &mark->ctime))
		goto drop; /* taken over: what it holds is another's */
	if (fstat(dirfd, &st) < 0 || st.st_dev != f->dev ||
	    st.st_ino != f->ino || (delta < 0 && f->count == 0)) {
		/* Known wrong now: not trusted later. */
		memset(f, 0, sizeof(*f));
		goto drop;
	}
	f->count = delta < 0 ? f->count - 1 : f->count + (uint64_t)delta;
	f->ctime = st.st_ctim;
	f->updates++;
	mark_slot(a, mark->slot, mark);
	return;
drop:
	mark->slot = -1;
}

int
quota_folders_kept(const struct account *a)
{
	return a != NULL && a->u->folders_clock > 0;
}

void
quota_folders_forget_all(struct account *a)
{
	if (a != NULL)
		memset(a->u->folders, 0, sizeof(a->u->folders));
}
