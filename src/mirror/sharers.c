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

/* The map made anew if the users were read again since (lock held). A
 * set that cannot be copied keeps the old map and is tried again. */
static void
refresh(struct sharers *s)
{
	uint64_t gen = s->gen;
	struct user_set *set = userdb_users(s->db, &gen);
	struct home *v;
	size_t n;

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
	homes_free(s->v, s->n);
	s->v = v;
	s->n = n;
	s->gen = gen;
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
	for (size_t i = 0; i < s->n && me == NULL; i++)
		if (strcmp(s->v[i].name, user) == 0 &&
		    strcmp(s->v[i].home, home) == 0 && s->v[i].real != NULL)
			me = &s->v[i];
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
			if (h->real != NULL) {
				free(h->want);
				h->want = NULL;
			}
		}
		if (strcmp(h->name, user) != 0 &&
		    relate(h, me->real, me->dev, me->ino, path, new_path, out,
		        n, &cap) < 0)
			rc = -1;
	}
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
