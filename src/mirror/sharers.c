/*
 * sharers.c - see sharers.h: which users' homes hold a path of another's.
 *
 * Owns: a copy of each user's name, home, mirror list and the home's real
 * path, device and inode, made from the server's users when they are read
 * again (userdb_users numbers each set it reads: the map is made anew
 * only for a new one). Must not take the mirror's locks or queue
 * anything (mirror.c does, with what this answers).
 *
 * Why real paths: a home named through a symlink ("/srv/ftp/alice ->
 * /data/alice") and one named as it is are the same folder; the server
 * itself reaches into another home only through real folders (fsgate.c
 * never follows a link out of a home), so a real path that lies below
 * another's is the one way homes share folders. Device and inode still
 * decide "the same folder" (a bind mount gives one folder two real paths).
 */
#include "mirror/sharers.h"

#include "common/log.h"
#include "common/pathnorm.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Each string allocated to its length: a struct user per user would
 * hold 5 KB each (users.ini may have thousands). */
struct home {
	char name[RFTP_USER_MAX + 1];
	char *home, *mirror; /* as users.ini says */
	char *real;          /* NULL: not found yet */
	/* Not found when the map was made: the real path it will have
	 * once made (its parent's real path and its name, no trailing
	 * slash), which a change must lie in to look for it again. */
	char *want;
	dev_t dev;
	ino_t ino;
};

struct sharers {
	struct userdb *db;
	pthread_mutex_t lock; /* the fields below */
	uint64_t gen;         /* the users' set the map is of (0: none) */
	struct home *v;
	size_t n;
	/* Indices into v by name, and of the homes not found when the map
	 * was made by the real path they will have (want_key): a change
	 * looks its user and the homes it may make up in these, not in a
	 * loop over every user (20,000 users: 0.25-0.6 ms of CPU a change,
	 * an upload or a watcher's event). */
	size_t *byname;
	size_t *bywant;
	size_t nwant;
	/* Whether any two homes found share a folder (one holds the other,
	 * or one folder by device and inode). Most hosts have none: then a
	 * change of a home in the map is its user's alone, unless it makes
	 * up a home not found before (that one is then looked at). */
	int shared;
};

struct sharers *
sharers_new(struct userdb *db)
{
	struct sharers *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->db = db;
	pthread_mutex_init(&s->lock, NULL);
	return s;
}

static void
homes_free(struct home *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].home);
		free(v[i].mirror);
		free(v[i].real);
		free(v[i].want);
	}
	free(v);
}

void
sharers_free(struct sharers *s)
{
	if (s == NULL)
		return;
	homes_free(s->v, s->n);
	free(s->byname);
	free(s->bywant);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* Finds h's real path, device and inode, if its folder is there. */
static void
resolve(struct home *h)
{
	struct stat st;
	char *real;

	real = realpath(h->home, NULL);
	if (real == NULL)
		return;
	if (stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
		free(real);
		return;
	}
	h->real = real;
	h->dev = st.st_dev;
	h->ino = st.st_ino;
}

/*
 * The real path h's home will have once made, for a home not there yet
 * (h->want; left NULL if out of memory, then the name as users.ini has
 * it serves). users.ini may name it otherwise than its real path: with a
 * trailing slash ("/srv/ftp/alice/"), or through a link to the folder it
 * will be made in ("/home/alice", /home a link to /srv/ftp). Its parent
 * is asked once here, when the map is made, not at each change.
 */
static void
expect(struct home *h)
{
	char name[PATH_MAX];
	char *slash, *parent;
	size_t len = strlen(h->home), need;

	while (len > 1 && h->home[len - 1] == '/')
		len--;
	if (len >= sizeof(name))
		return;
	memcpy(name, h->home, len);
	name[len] = '\0';
	slash = strrchr(name, '/');
	parent = NULL;
	if (slash != NULL && slash != name) {
		*slash = '\0';
		parent = realpath(name, NULL);
		*slash = '/';
	}
	if (parent == NULL) {
		h->want = strdup(name);
		return;
	}
	need = strlen(parent) + strlen(slash) + 1;
	h->want = malloc(need);
	if (h->want != NULL)
		snprintf(h->want, need, "%s%s",
		    strcmp(parent, "/") == 0 ? "" : parent, slash);
	free(parent);
}

/* Whether folder a holds path b ("/x" holds "/x" and "/x/y", not
 * "/xy"); "/" holds all. */
static int
holds(const char *a, const char *b)
{
	size_t la = strlen(a);

	if (la == 1 && a[0] == '/')
		return b[0] == '/';
	return strncmp(a, b, la) == 0 && (b[la] == '\0' || b[la] == '/');
}

/* Whether homes a and b (both found) share a folder. */
static int
share(const struct home *a, const struct home *b)
{
	return (a->dev == b->dev && a->ino == b->ino) ||
	    holds(a->real, b->real) || holds(b->real, a->real);
}

static int
by_name(const void *a, const void *b, void *ctx)
{
	const struct home *v = ctx;

	return strcmp(v[*(const size_t *)a].name, v[*(const size_t *)b].name);
}

/* The path a home not found will have: expect's, or as users.ini has
 * it if expect found no memory (lies_in's key, kept while the map is). */
static const char *
want_key(const struct home *h)
{
	return h->want != NULL ? h->want : h->home;
}

static int
by_want(const void *a, const void *b, void *ctx)
{
	const struct home *v = ctx;

	return strcmp(
	    want_key(&v[*(const size_t *)a]), want_key(&v[*(const size_t *)b]));
}

/* Real paths in an order where '/' comes before every other byte: the
 * paths below a folder then follow it at once ("/a", "/a/b", "/a b"),
 * so a home holding another holds the one next to it. */
static int
by_real(const void *a, const void *b, void *ctx)
{
	const struct home *v = ctx;

	return path_cmp_tree(
	    v[*(const size_t *)a].real, v[*(const size_t *)b].real);
}

static int
by_inode(const void *a, const void *b, void *ctx)
{
	const struct home *v = ctx;
	const struct home *x = &v[*(const size_t *)a];
	const struct home *y = &v[*(const size_t *)b];

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return 0;
}

/* Whether any two of the n homes v found share a folder: sorted by real
 * path a prefix check of neighbours, sorted by device and inode an
 * equality of neighbours (a bind mount gives a folder two real paths).
 * -1 when out of memory. */
static int
any_share(struct home *v, size_t n)
{
	size_t *ix = malloc((n ? n : 1) * sizeof(*ix));
	size_t k = 0;
	int rc = 0;

	if (ix == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (v[i].real != NULL)
			ix[k++] = i;
	qsort_r(ix, k, sizeof(*ix), by_real, v);
	for (size_t i = 1; i < k && rc == 0; i++)
		rc = holds(v[ix[i - 1]].real, v[ix[i]].real);
	if (rc == 0) {
		qsort_r(ix, k, sizeof(*ix), by_inode, v);
		for (size_t i = 1; i < k && rc == 0; i++)
			rc = by_inode(&ix[i - 1], &ix[i], v) == 0;
	}
	free(ix);
	return rc;
}

/* The indices of map v (n homes) by name and of the homes not found by
 * want_key, and whether any two found share a folder; -1 when out of
 * memory (nothing allocated is left). */
static int
index_homes(struct home *v, size_t n, size_t **byname, size_t **bywant,
    size_t *nwant, int *shared)
{
	size_t *bn = malloc((n ? n : 1) * sizeof(*bn));
	size_t *bw = malloc((n ? n : 1) * sizeof(*bw));
	size_t k = 0;
	int sh;

	if (bn == NULL || bw == NULL || (sh = any_share(v, n)) < 0) {
		free(bn);
		free(bw);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		bn[i] = i;
		if (v[i].real == NULL)
			bw[k++] = i;
	}
	qsort_r(bn, n, sizeof(*bn), by_name, v);
	qsort_r(bw, k, sizeof(*bw), by_want, v);
	*byname = bn;
	*bywant = bw;
	*nwant = k;
	*shared = sh;
	return 0;
}

/* The map made anew if the users were read again since (lock held). A
 * set that cannot be copied keeps the old map and is tried again. */
static void
refresh(struct sharers *s)
{
	uint64_t gen = s->gen;
	struct user_set *set = userdb_users(s->db, &gen);
	struct home *v;
	size_t n, *byname, *bywant, nwant;
	int shared;

	if (set == NULL)
		return; /* the same set */
	n = users_set_count(set);
	v = calloc(n ? n : 1, sizeof(*v));
	if (v == NULL) {
		users_set_free(set);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct user u;

		users_set_get(set, i, &u);
		memcpy(v[i].name, u.name, sizeof(v[i].name));
		v[i].home = strdup(u.home);
		v[i].mirror = strdup(u.mirror);
		if (v[i].home == NULL || v[i].mirror == NULL) {
			homes_free(v, n);
			users_set_free(set);
			return;
		}
		resolve(&v[i]);
		if (v[i].real == NULL)
			expect(&v[i]);
	}
	users_set_free(set);
	if (index_homes(v, n, &byname, &bywant, &nwant, &shared) < 0) {
		homes_free(v, n);
		return;
	}
	homes_free(s->v, s->n);
	free(s->byname);
	free(s->bywant);
	s->v = v;
	s->n = n;
	s->byname = byname;
	s->bywant = bywant;
	s->nwant = nwant;
	s->shared = shared;
	s->gen = gen;
}

/* The part of b below a, which holds it ("" when they are equal). */
static const char *
below(const char *a, const char *b)
{
	size_t la = strlen(a);

	return la == 1 && a[0] == '/' ? b : b + la;
}

/* Appends o's relation to the acting home (real path real, device dev,
 * inode ino) to *out if o's home holds path or new_path (NULL: none) of
 * it; 1 if it does, 0 if not, -1 no memory. */
static int
relate(const struct home *o, const char *real, dev_t dev, ino_t ino,
    const char *path, const char *new_path, struct sharer **out, size_t *n,
    size_t *cap)
{
	struct sharer *sh;
	const char *strip = "", *add = "";

	if (o->real == NULL)
		return 0;
	if (o->dev == dev && o->ino == ino)
		; /* one home for two users */
	else if (holds(o->real, real))
		add = below(o->real, real); /* the acting home is inside */
	else if (holds(real, o->real))
		strip = below(real, o->real); /* o's home is inside */
	else
		return 0;
	if (strlen(add) >= PATH_MAX || strlen(strip) >= PATH_MAX)
		return 0;
	/* An admin's home may hold thousands: only the homes the change
	 * touches are named. */
	if (strip[0] != '\0' && !holds(strip, path) &&
	    (new_path == NULL || !holds(strip, new_path)))
		return 0;
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 4;
		struct sharer *nv = realloc(*out, ncap * sizeof(*nv));

		if (nv == NULL)
			return -1;
		*out = nv;
		*cap = ncap;
	}
	sh = &(*out)[(*n)++];
	memcpy(sh->user, o->name, sizeof(sh->user));
	snprintf(sh->home, sizeof(sh->home), "%s", o->home);
	snprintf(sh->mirror, sizeof(sh->mirror), "%s", o->mirror);
	snprintf(sh->strip, sizeof(sh->strip), "%s", strip);
	snprintf(sh->add, sizeof(sh->add), "%s", add);
	return 1;
}

/* Whether a change at path (the acting home's real path real, then path;
 * new_path too, if not NULL) lies in folder home, the real path a home
 * not there yet will have (expect): such a home can share a folder only
 * so (made inside the acting home, by the admin's MKD or a first login). */
static int
lies_in(
    const char *home, const char *real, const char *path, const char *new_path)
{
	char full[PATH_MAX];
	int len;

	if (strcmp(real, "/") == 0)
		real = ""; /* "/" and "/x" is "/x" */
	len = snprintf(full, sizeof(full), "%s%s", real, path);

	if (len > 0 && (size_t)len < sizeof(full) && holds(home, full))
		return 1;
	if (new_path == NULL)
		return 0;
	len = snprintf(full, sizeof(full), "%s%s", real, new_path);
	return len > 0 && (size_t)len < sizeof(full) && holds(home, full);
}

/* The home of user in the map, if found there and users.ini names it
 * home (lock held); NULL if not. */
static const struct home *
find(const struct sharers *s, const char *user, const char *home)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(s->v[s->byname[mid]].name, user) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < s->n && strcmp(s->v[s->byname[lo]].name, user) == 0; lo++) {
		const struct home *h = &s->v[s->byname[lo]];

		if (strcmp(h->home, home) == 0 && h->real != NULL)
			return h;
	}
	return NULL;
}

/* h looked for (lock held): once found, whether it shares a folder with
 * another home found decides s->shared. */
static void
found(struct sharers *s, const struct home *h)
{
	if (h->real == NULL || s->shared)
		return;
	for (size_t i = 0; i < s->n && !s->shared; i++)
		if (&s->v[i] != h && s->v[i].real != NULL && share(&s->v[i], h))
			s->shared = 1;
}

/* The homes not found yet that a change at path of the home whose real
 * path is real lies in, looked for (lock held): lies_in's test, by the
 * folders holding the change (the change's own path, each folder above
 * it, "/") looked up in s->bywant. */
static void
wake(struct sharers *s, const char *real, const char *path)
{
	char full[PATH_MAX];
	size_t len;
	int n;

	if (s->nwant == 0)
		return;
	n = snprintf(full, sizeof(full), "%s%s",
	    strcmp(real, "/") == 0 ? "" : real, path);
	if (n <= 0 || (size_t)n >= sizeof(full))
		return;
	len = (size_t)n;
	for (;;) {
		char keep = full[len];
		size_t lo = 0, hi = s->nwant;

		full[len] = '\0';
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (strcmp(want_key(&s->v[s->bywant[mid]]), full) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < s->nwant &&
		     strcmp(want_key(&s->v[s->bywant[lo]]), full) == 0;
		     lo++) {
			struct home *h = &s->v[s->bywant[lo]];

			if (h->real == NULL) {
				resolve(h);
				found(s, h);
			}
		}
		full[len] = keep;
		if (len <= 1)
			break;
		/* The folder above: "/a/b" -> "/a" -> "/". */
		while (len > 1 && full[len - 1] != '/')
			len--;
		if (len > 1)
			len--; /* the slash itself */
	}
}

int
sharers_of(struct sharers *s, const char *user, const char *home,
    const char *path, const char *new_path, struct sharer **out, size_t *n)
{
	char own[PATH_MAX];
	struct home self = { .home = own };
	const struct home *me = NULL;
	size_t cap = 0;
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (s == NULL || s->db == NULL)
		return 0;
	pthread_mutex_lock(&s->lock);
	refresh(s);
	me = find(s, user, home);
	/* Nobody shares, as the homes were found: only a home made since,
	 * where this change lies, can. */
	if (me != NULL && !s->shared) {
		wake(s, me->real, path);
		if (new_path != NULL)
			wake(s, me->real, new_path);
		if (!s->shared)
			goto done;
	}
	/* A session of users.ini before its last reload keeps the home it
	 * logged in with: that home decides. */
	if (me == NULL) {
		snprintf(own, sizeof(own), "%s", home);
		resolve(&self);
		me = &self;
	}
	for (size_t i = 0; me->real != NULL && i < s->n && rc == 0; i++) {
		struct home *h = &s->v[i];

		/* Not looked for at every change, nor all at once (10,000
		 * homes not made yet: a realpath each, under this lock):
		 * only where this change lies in it as named. */
		if (h->real == NULL &&
		    lies_in(h->want != NULL ? h->want : h->home, me->real, path,
		        new_path)) {
			resolve(h);
			found(s, h);
		}
		if (strcmp(h->name, user) != 0 &&
		    relate(h, me->real, me->dev, me->ino, path, new_path, out,
		        n, &cap) < 0)
			rc = -1;
	}
done:
	pthread_mutex_unlock(&s->lock);
	free(self.real);
	if (rc < 0) {
		log_err("mirror: out of memory finding the homes that share "
		        "the folders of %s's",
		    user);
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

int
sharer_path(const struct sharer *sh, const char *p, char *out, size_t outlen)
{
	const char *rest;
	int len;

	if (sh->strip[0] != '\0') {
		if (!holds(sh->strip, p))
			return 0;
		rest = p + strlen(sh->strip);
		/* The other home itself (an admin's RMD or RNFR of
		 * /alice) is no path in it: with a flat layout its RMD
		 * would name the target's own folder. */
		if (*rest == '\0')
			return 0;
	} else {
		rest = p;
	}
	/* "/x" + "/" is "/x", the acting home itself. */
	if (sh->add[0] != '\0' && strcmp(rest, "/") == 0)
		rest = "";
	len = snprintf(out, outlen, "%s%s", sh->add, rest);
	if (len < 0 || (size_t)len >= outlen) {
		if (outlen > 0)
			out[0] = '\0';
		return -1;
	}
	return 1;
}
