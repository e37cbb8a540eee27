/*
 * users.h - the user store: users.ini, password hashes, live reload.
 *
 * Owns: parsing and validating users.ini (or the same lines given as entries
 * by the library's config builder), the current set of users, reloading
 * it on SIGHUP or when the file changes (a broken file keeps the last good
 * set), argon2id hashing/verification, and the verified-credential cache
 * (pwcache.h) in front of it, which it keeps in step with each reload.
 * Sessions get a copy of their user at login, so a reload never pulls a
 * record out from under a running session. The mirror's watcher and
 * catch-up hold the store's set itself (userdb_users), so one parse serves
 * them all and they never disagree on who the users are.
 */
#ifndef RFTP_USERS_H
#define RFTP_USERS_H

#include "common/buf.h"
#include "common/inifile.h"
#include "common/limits.h"

#include <limits.h>
#include <stdint.h>

enum perm {
	PERM_READ = 1 << 0,
	PERM_WRITE = 1 << 1,
	PERM_APPEND = 1 << 2,
	PERM_DELETE = 1 << 3,
	PERM_RENAME = 1 << 4,
	PERM_MKDIR = 1 << 5,
	PERM_RMDIR = 1 << 6,
};
#define PERM_RO (PERM_READ)
#define PERM_RW                                                             \
	(PERM_READ | PERM_WRITE | PERM_APPEND | PERM_DELETE | PERM_RENAME | \
	    PERM_MKDIR | PERM_RMDIR)

/* The section that anonymous logins ("anonymous", "ftp") map to. */
#define USERS_ANON_SECTION "anonymous"

struct user {
	char name[RFTP_USER_MAX + 1];
	char hash[256];       /* argon2id string; "" for the anonymous user */
	char home[PATH_MAX];  /* absolute */
	uint64_t quota_bytes; /* 0 = unlimited */
	uint64_t quota_files; /* files and folders; 0 = unlimited */
	/* Names one folder may hold (partials included); 0 = unlimited. */
	uint64_t max_entries_per_folder;
	unsigned perms;
	uint64_t max_sessions; /* 0 = unlimited */
	char mirror[512];      /* validated list, "" = all targets */
	/* Per-user [tls] overrides: -1 = as the server says, 0 off, 1 on. */
	int require_login_tls, require_data_tls;
	int line; /* line of the section header */
};

struct user_set; /* opaque: one parsed users.ini */

/*
 * Parses and validates a users file. On success returns a new set (free with
 * users_set_free) and leaves errs untouched; on failure returns NULL and
 * appends one line per problem (file, line, key, reason) to errs.
 */
struct user_set *users_set_load(const char *path, struct buf *errs);
/*
 * users_set_load for entries made in memory (the library's config builder,
 * common/inifile.h): each entry's section is a user name, its key and value
 * a users.ini line, with the same rules and messages, name standing for the
 * file and the entry's line for the line. Relative homes resolve against
 * the current working directory. n == 0 gives a valid empty set. The
 * entries are only read. Returns a new set or NULL, as users_set_load.
 */
struct user_set *users_set_from_entries(const char *name,
    const struct inifile_entry *e, size_t n, struct buf *errs);
/* Lets go of set: frees it unless a store or watcher still holds it
 * (userdb_users). */
void users_set_free(struct user_set *set);
size_t users_set_count(const struct user_set *set);
/* Copies the i-th user (i < users_set_count) into out. A set keeps its
 * users compact (strings allocated to their length), so there is no
 * struct user in it to point at. */
void users_set_get(const struct user_set *set, size_t i, struct user *out);
/* Whether the set has a section called name. */
int users_set_has(const struct user_set *set, const char *name);
/* The index of the user called name in set: 0 and *i, or -1 if none. */
int users_set_index(const struct user_set *set, const char *name, size_t *i);

/* The live store used by the server. */
struct userdb;

/* Loads path; NULL with errs filled if the first load fails. With
 * pwcache_ttl > 0 (password_cache_ttl), passwords that passed argon2id are
 * remembered that many seconds in a pwcache.c cache owned by the store. */
struct userdb *userdb_open(
    const char *path, uint64_t pwcache_ttl, struct buf *errs);
/*
 * A store over set instead of a file (users_set_from_entries). It takes
 * set: userdb_close frees it, and on failure (NULL, errs said) it is freed
 * at once. With no file, userdb_lookup never reloads and userdb_reload
 * returns 0 keeping the set. pwcache_ttl as for userdb_open.
 */
struct userdb *userdb_open_set(
    struct user_set *set, uint64_t pwcache_ttl, struct buf *errs);
void userdb_close(struct userdb *db);
/*
 * The checks a set must pass besides parsing (the engine's: every user's
 * mirror names a target, no home holds the queue, TLS users need a
 * certificate, ...): 0, or -1 with one line per problem in errs. Run on
 * every set a reload reads, before it is served; a set that fails is not
 * served, as one that does not parse (a reload installed what check and
 * the start refuse: a user whose home holds the queue could download it;
 * found from outside). Set before the server starts.
 */
typedef int (*userdb_check_fn)(
    void *ctx, const struct user_set *set, struct buf *errs);
void userdb_set_check(struct userdb *db, userdb_check_fn fn, void *ctx);
/*
 * userdb_open with check (NULL: none) run on the first set before it is
 * served, and set for every reload (userdb_set_check): NULL, errs filled,
 * if the file does not parse or check refuses it. The set checked is the
 * one served: a start that checked the file, then opened it, served a
 * file changed between the two reads unchecked.
 */
struct userdb *userdb_open_checked(const char *path, uint64_t pwcache_ttl,
    userdb_check_fn check, void *check_ctx, struct buf *errs);
/* Re-reads the file now (SIGHUP; parsed outside the lock, so logins go on
 * meanwhile); keeps the old set on error and logs.
 * 0 (nothing done) for a store made by userdb_open_set. */
int userdb_reload(struct userdb *db);
/* Reloads if the file changed on disk, then copies the user into out.
 * Returns 0 if found. */
int userdb_lookup(struct userdb *db, const char *name, struct user *out);

/*
 * Whether the user a session logged in as is still what users.ini says:
 * the file is read again if it changed (as at a login), and if the set
 * is not the one numbered *gen (0 at login), u is compared with it. A
 * new password alone changes nothing for a session already in.
 * *gen becomes the set's number. A store over a given set never changes.
 */
enum user_fresh {
	USER_SAME,
	USER_CHANGED, /* home, quotas, permissions, mirror, limits */
	USER_GONE,    /* removed from the file */
};
enum user_fresh userdb_recheck(
    struct userdb *db, const struct user *u, uint64_t *gen);
/* The same without waiting: a file written less than a second ago is
 * not read (nor waited for) and the set in force is compared; for a
 * transfer under way, which must not stall on an admin's slow write. */
enum user_fresh userdb_recheck_nowait(
    struct userdb *db, const struct user *u, uint64_t *gen);

/* Reads the file again if it changed on disk (a login does the same);
 * a broken file keeps the set and is not read again until it changes.
 * The mirror's watcher calls it once a second. */
void userdb_refresh(struct userdb *db);
/*
 * The set the store serves, shared with it: NULL if that is still the set
 * numbered *gen (0: none yet), else a new reference to it (users_set_free
 * lets go of it; the set stays whole while held, whatever reloads do) and
 * *gen its number. One parse serves the server and the watcher alike.
 */
struct user_set *userdb_users(struct userdb *db, uint64_t *gen);

enum users_verdict {
	USERS_BAD,    /* wrong password or unknown user: argon2id was paid */
	USERS_HASHED, /* argon2id said yes (now remembered if the cache is on) */
	USERS_CACHED,  /* the cache said yes: same password, same stored hash */
	USERS_STOPPED, /* stop_fd fired while waiting for an argon2id slot */
	USERS_UNCHECKED, /* argon2id could not run (errno: ENOMEM): no answer */
};

/*
 * Checks password for a login as name: u is the record userdb_lookup gave
 * (NULL if it found none). The cache is asked first; on a miss argon2id
 * decides (users_verify) and a success is remembered. Every failure,
 * unknown users included, pays the full argon2id cost, and the cache
 * digest is computed whether or not name has an entry.
 */
enum users_verdict userdb_verify(struct userdb *db, const char *name,
    const struct user *u, const char *password, int stop_fd);

/* Argon2id verification, bounded to RFTP_PWHASH_CONCURRENCY at once. For an
 * unknown user pass NULL: the same work is done against a dummy hash, so
 * timing does not tell which names exist. Returns 1 if it matches, 0 if
 * not, -1 if stop_fd (-1: none) became readable while it waited for a
 * slot: a shutdown does not wait behind every login queued (a flood of
 * wrong passwords held SIGTERM for tens of seconds); -2 (errno set) if
 * argon2id could not run, out of memory: neither yes nor no. */
int users_verify(const struct user *u, const char *password, int stop_fd);
/* Hashes password into out (>= 128 bytes). 0 on success. */
int users_hash_password(const char *password, char *out, size_t outlen);
/* Initialises libsodium, the argon2id slots and the dummy hash, once per
 * process whoever calls it first (thread-safe: every server embedded in a
 * process calls it). 0, or -1 for every caller if that one run failed. */
int users_crypto_init(void);
/* Parses a permissions value ("ro", "rw", "read, write"). */
int users_parse_perms(const char *s, unsigned *out);
/* 1 if name may name a user: 1 to RFTP_USER_MAX of [A-Za-z0-9_.@-], as
 * users.ini requires. Names reach target paths, logs and quotas. */
int users_valid_name(const char *name);

#endif
