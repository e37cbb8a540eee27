/*
 * sharers.h - which users' homes hold a path of another user's home.
 *
 * Owns: the map of homes that share folders (one inside another, or one
 * folder the home of two users), read from the server's users by each
 * home's real path and its device and inode (a home named through a
 * symlink is the folder it names), kept until the users are read again
 * (SIGHUP, users.ini changed), and the translation of a path of one home
 * into the path of another. A change the server makes there is one
 * change of each home that holds it (mirror.c). No locks of the mirror,
 * no SQL, no targets.
 */
#ifndef RFTP_SHARERS_H
#define RFTP_SHARERS_H

#include "common/limits.h"
#include "common/users.h"

#include <limits.h>
#include <stddef.h>

/* Another user whose home shares folders with the acting user's home. */
struct sharer {
	char user[RFTP_USER_MAX + 1];
	char home[PATH_MAX]; /* as users.ini names it */
	char mirror[512];    /* the user's mirror = list */
	/* Its path of the acting home's path p: p must start with strip
	 * (a folder, "" for all of it), which is taken off, and add is put
	 * in front ("/alice" for a home inside the acting one, strip
	 * "/alice"; "/x" for the acting home inside this one, add "/x"). */
	char strip[PATH_MAX];
	char add[PATH_MAX];
};

struct sharers;

/* A map over db's users (NULL: nobody shares); NULL when out of memory. */
struct sharers *sharers_new(struct userdb *db);
void sharers_free(struct sharers *s);

/*
 * The users other than user (whose home is home) whose homes hold path
 * or new_path (NULL: none) of it, as the users are now (read again if
 * they changed):
 * a malloc'ed array in *out (NULL when none) and its length in *n; the
 * caller frees it. 0, or -1 when out of memory (*out NULL, *n 0: the
 * change is then the acting user's alone, as before).
 */
int sharers_of(struct sharers *s, const char *user, const char *home,
    const char *path, const char *new_path, struct sharer **out, size_t *n);

/* sh's path of the acting home's path p into out: 1; 0 when sh's home
 * does not hold p or p is sh's home itself; -1 when sh's home holds it
 * but its path there does not fit outlen (a home inside the acting one
 * adds its folder's name: never a truncated path; out is then ""). */
int sharer_path(
    const struct sharer *sh, const char *p, char *out, size_t outlen);

#endif
