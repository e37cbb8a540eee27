/*
 * quota.c - see quota.h. Accounts live in a small list under one registry
 * mutex (joins and leaves are rare, and it is never held while a home is
 * counted); byte accounting takes only the account's own mutex, once per
 * transfer chunk. Lock order: names, then the account's mutex; the registry
 * mutex is never held with either.
 */
#include "server/quota.h"

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

struct account {
	struct account *next;
	char name[RFTP_USER_MAX + 1];
	/* The home it counts: a users.ini reload that moves the user gives
	 * the new sessions another account (the old one's usage is that of
	 * the old home), and the sessions still open keep theirs. */
	dev_t home_dev;
	ino_t home_ino;
	unsigned sessions; /* under the registry mutex */
	pthread_mutex_t names;
	pthread_mutex_t lock; /* everything below */
	pthread_cond_t counted;
	uint64_t used_bytes, used_files;
	uint64_t quota_bytes, quota_files;
	int measured;  /* usage was read from the disk */
	int measuring; /* a login is counting the home now */
	/* Bytes charged and not yet written (account_written); a count
	 * waits for 0 on drained. */
	uint64_t unwritten;
	pthread_cond_t drained;
	/* Why the last count was incomplete ("" = it was not): while set and
	 * a quota applies, writes are refused. */
	char unknown[512];
	/* Under names: the entry counts of the folders this account changed
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

struct accounts {
	pthread_mutex_t lock;
	struct account *head;
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
account_free(struct account *a)
{
	pthread_cond_destroy(&a->counted);
	pthread_cond_destroy(&a->drained);
	pthread_mutex_destroy(&a->lock);
	pthread_mutex_destroy(&a->names);
	free(a);
}

void
accounts_free(struct accounts *reg)
{
	if (reg == NULL)
		return;
	while (reg->head != NULL) {
		struct account *a = reg->head;

		reg->head = a->next;
		account_free(a);
	}
	pthread_mutex_destroy(&reg->lock);
	free(reg);
}

static int
has_quota(const struct account *a)
{
	return a->quota_bytes != 0 || a->quota_files != 0;
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
measure(struct account *a, int root)
{
	struct fs_usage u;
	char why[sizeof(a->unknown)];
	int rc;

	/* Before the names lock: no writer holds it while it writes, but
	 * waiting for writes under it would be an order nobody needs.
	 * measuring is set: no new charge comes meanwhile. */
	pthread_mutex_lock(&a->lock);
	while (a->unwritten > 0)
		pthread_cond_wait(&a->drained, &a->lock);
	pthread_mutex_unlock(&a->lock);
	pthread_mutex_lock(&a->names);
	rc = fs_usage(root, RFTP_USAGE_ENTRIES_MAX, RFTP_USAGE_DEPTH_MAX, &u,
	    why, sizeof(why));

	if (rc < 0)
		log_warn("usage of the home of %s cannot be counted (%s): "
		         "its uploads and new folders are refused until a "
		         "login counts it completely",
		    a->name, why);
	pthread_mutex_lock(&a->lock);
	a->used_bytes = u.bytes;
	a->used_files = u.files + u.folders;
	snprintf(a->unknown, sizeof(a->unknown), "%s", rc < 0 ? why : "");
	a->measured = 1;
	a->measuring = 0;
	pthread_cond_broadcast(&a->counted);
	pthread_mutex_unlock(&a->lock);
	pthread_mutex_unlock(&a->names);
}

enum account_err
account_join(struct accounts *reg, const char *name, uint64_t max_sessions,
    uint64_t quota_bytes, uint64_t quota_files, int root, struct account **out)
{
	struct account *a, *mine = NULL;
	struct stat home;
	uint64_t sessions = 0;
	int count, n;

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
		pthread_mutex_init(&a->names, NULL);
		pthread_mutex_init(&a->lock, NULL);
		pthread_cond_init(&a->counted, NULL);
		pthread_cond_init(&a->drained, NULL);
		a->sessions = 1;
		a->next = reg->head;
		reg->head = a;
	}
	pthread_mutex_unlock(&reg->lock);
	/* Our reference keeps a alive from here on. */
	pthread_mutex_lock(&a->lock);
	/* A reload may have changed the limits: newest wins. */
	a->quota_bytes = quota_bytes;
	a->quota_files = quota_files;
	while (a->measuring)
		pthread_cond_wait(&a->counted, &a->lock);
	/* Without a quota the count is kept up only by our own changes (what
	 * another program writes meanwhile is unseen), and nothing relies on
	 * it: a quota that comes back counts anew, also while a session from
	 * before keeps this account. */
	if (!has_quota(a))
		a->measured = 0;
	/* A quota that appeared since the first login needs the real usage;
	 * an incomplete count is retried at each login, so removing what
	 * could not be counted and logging in again lifts the refusal. */
	count = has_quota(a) && (!a->measured || a->unknown[0] != '\0');
	if (count)
		a->measuring = 1;
	pthread_mutex_unlock(&a->lock);
	if (count)
		measure(a, root);
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
		account_free(a);
	}
	pthread_mutex_unlock(&reg->lock);
}

/* Under a->lock: writes are refused while a quota applies to a home that
 * could not be counted. */
static int
unknown_locked(const struct account *a)
{
	return has_quota(a) && a->unknown[0] != '\0';
}

int
account_known(struct account *a, char *why, size_t whylen)
{
	int rc = 0;

	pthread_mutex_lock(&a->lock);
	if (unknown_locked(a)) {
		rc = -1;
		if (whylen > 0)
			snprintf(why, whylen, "%s", a->unknown);
	}
	pthread_mutex_unlock(&a->lock);
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

	pthread_mutex_lock(&a->lock);
	/* Not while the home is counted (measure): the bytes would be
	 * written behind the count's back. */
	while (a->measuring)
		pthread_cond_wait(&a->counted, &a->lock);
	if (!unknown_locked(a) &&
	    quota_fits(a->used_bytes, n, with_credit(a->quota_bytes, credit))) {
		a->used_bytes += n;
		a->unwritten += n;
		rc = 0;
	}
	pthread_mutex_unlock(&a->lock);
	return rc;
}

void
account_written(struct account *a, uint64_t n)
{
	pthread_mutex_lock(&a->lock);
	a->unwritten = quota_sub(a->unwritten, n);
	if (a->unwritten == 0)
		pthread_cond_broadcast(&a->drained);
	pthread_mutex_unlock(&a->lock);
}

int
account_add_file(struct account *a, uint64_t credit)
{
	int rc = -1;

	pthread_mutex_lock(&a->lock);
	if (!unknown_locked(a) &&
	    quota_fits(a->used_files, 1, with_credit(a->quota_files, credit))) {
		a->used_files++;
		rc = 0;
	}
	pthread_mutex_unlock(&a->lock);
	return rc;
}

void
account_sub(struct account *a, uint64_t bytes, uint64_t files)
{
	pthread_mutex_lock(&a->lock);
	a->used_bytes = quota_sub(a->used_bytes, bytes);
	a->used_files = quota_sub(a->used_files, files);
	pthread_mutex_unlock(&a->lock);
}

void
account_excess(struct account *a, uint64_t *bytes, uint64_t *files)
{
	pthread_mutex_lock(&a->lock);
	*bytes = a->quota_bytes != 0 && a->used_bytes > a->quota_bytes ?
	    a->used_bytes - a->quota_bytes :
	    0;
	*files = a->quota_files != 0 && a->used_files > a->quota_files ?
	    a->used_files - a->quota_files :
	    0;
	pthread_mutex_unlock(&a->lock);
}

void
account_usage(struct account *a, uint64_t *bytes, uint64_t *files)
{
	pthread_mutex_lock(&a->lock);
	*bytes = a->used_bytes;
	*files = a->used_files;
	pthread_mutex_unlock(&a->lock);
}

void
account_names_lock(struct account *a)
{
	if (a != NULL)
		pthread_mutex_lock(&a->names);
}

void
account_names_unlock(struct account *a)
{
	if (a != NULL)
		pthread_mutex_unlock(&a->names);
}

int
account_publish_fits(struct account *a, const struct publish *p)
{
	uint64_t bytes, files;
	int bytes_ok, files_ok;

	pthread_mutex_lock(&a->lock);
	/* The partial is already counted: the usage after the rename is the
	 * usage now minus what the rename removes. */
	bytes = quota_sub(a->used_bytes, p->replaced_bytes);
	files = quota_sub(a->used_files, p->replaced_entries);
	bytes_ok = p->replaced_bytes >= p->credit_bytes ||
	    quota_fits(bytes, 0, a->quota_bytes) ||
	    p->partial_bytes <= p->replaced_bytes;
	files_ok = p->replaced_entries >= p->credit_entries ||
	    quota_fits(files, 0, a->quota_files);
	bytes_ok = bytes_ok && files_ok && !unknown_locked(a);
	pthread_mutex_unlock(&a->lock);
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
		if (a->folders[i].used > 0 && a->folders[i].dev == st->st_dev &&
		    a->folders[i].ino == st->st_ino)
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
	mark->dev = a->folders[slot].dev;
	mark->ino = a->folders[slot].ino;
	mark->ctime = a->folders[slot].ctime;
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

	if (i < 0 || !same_time(&a->folders[i].ctime, &st->st_ctim) ||
	    a->folders[i].updates >= RFTP_FOLDER_SEEN_UPDATES)
		return -1;
	a->folders[i].used = ++a->folders_clock;
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
			if (a->folders[k].used < a->folders[i].used)
				i = k;
	}
	a->folders[i].dev = st->st_dev;
	a->folders[i].ino = st->st_ino;
	a->folders[i].ctime = st->st_ctim;
	a->folders[i].count = count;
	a->folders[i].updates = 0;
	a->folders[i].used = ++a->folders_clock;
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
		n = a->folders[slot].count;
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
	if (a == NULL || a->folders_clock == 0 || fstat(dirfd, &st) < 0 ||
	    (i = folder_slot(a, &st)) < 0)
		return;
	memset(&a->folders[i], 0, sizeof(a->folders[i]));
}

void
quota_folder_mark(struct account *a, int dirfd, struct folder_mark *mark)
{
	struct stat st;

	mark_slot(a, -1, mark);
	if (a != NULL && a->folders_clock > 0 && fstat(dirfd, &st) == 0)
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
	f = &a->folders[mark->slot];
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
	return a != NULL && a->folders_clock > 0;
}

void
quota_folders_forget_all(struct account *a)
{
	if (a != NULL)
		memset(a->folders, 0, sizeof(a->folders));
}
