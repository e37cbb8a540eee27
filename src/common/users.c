/*
 * users.c - users.ini parsing, the live user store and argon2id.
 *
 * A parsed file is an immutable user_set; the store swaps the pointer under
 * a mutex on reload, and lookups copy one record out under the same mutex.
 * Change detection compares the file's (device, inode, size, mtime) at each
 * login, so an admin's edit takes effect without a restart or signal.
 * Each reload also tells the password cache which users are gone or have a
 * new hash, so their entries are wiped at once (they could not match
 * anyway: an entry is bound to the hash string it was checked against).
 * The library's config builder gives the same lines as entries
 * (users_set_from_entries), and its store (userdb_open_set) has no file:
 * nothing to watch, nothing to reload.
 */
#include "common/users.h"

#include "common/config.h"
#include "common/inifile.h"
#include "common/log.h"
#include "common/numparse.h"
#include "common/pwcache.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct user_set {
	struct user *users;
	size_t count, cap;
};

struct userdb {
	pthread_mutex_t lock;
	char path[PATH_MAX];
	struct user_set *set;
	struct stat seen;        /* identity of the file behind set */
	struct pwcache *pwcache; /* NULL = password_cache_ttl 0 */
};

enum user_key_bit {
	UK_PASSWORD = 1 << 0,
	UK_HOME = 1 << 1,
};

struct parse_ctx {
	const char *path;
	char dir[PATH_MAX];
	struct user_set *set;
	unsigned *seen; /* per user: which required keys appeared */
	struct buf *errs;
	int nerr;
};

static sem_t pwhash_slots;
/* Verified against when the user is unknown, so timing matches. */
static char dummy_hash[crypto_pwhash_STRBYTES];
static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;
static int crypto_rc = -1; /* crypto_init_once's result */

static const struct {
	const char *name;
	unsigned bit;
} perm_names[] = {
	{ "read", PERM_READ },
	{ "write", PERM_WRITE },
	{ "append", PERM_APPEND },
	{ "delete", PERM_DELETE },
	{ "rename", PERM_RENAME },
	{ "mkdir", PERM_MKDIR },
	{ "rmdir", PERM_RMDIR },
};

/* users_crypto_init's work, run once per process (crypto_once): two
 * servers embedded in one process share the slots and the dummy hash, and
 * a second sem_init under a verify in progress would break the bound. */
static void
crypto_init_once(void)
{
	if (sodium_init() < 0 ||
	    sem_init(&pwhash_slots, 0, RFTP_PWHASH_CONCURRENCY) < 0 ||
	    users_hash_password(
	        "relayftpd-dummy", dummy_hash, sizeof(dummy_hash)) != 0)
		crypto_rc = -1;
	else
		crypto_rc = 0;
}

int
users_crypto_init(void)
{
	/* pthread_once makes every caller wait for the one run and see
	 * its result: a failure is each caller's failure. */
	if (pthread_once(&crypto_once, crypto_init_once) != 0)
		return -1;
	return crypto_rc;
}

int
users_hash_password(const char *password, char *out, size_t outlen)
{
	if (outlen < crypto_pwhash_STRBYTES)
		return -1;
	return crypto_pwhash_str(out, password, strlen(password),
	    crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE);
}

int
users_verify(const struct user *u, const char *password)
{
	const char *hash = u != NULL ? u->hash : dummy_hash;
	int ok;

	while (sem_wait(&pwhash_slots) < 0 && errno == EINTR)
		;
	ok = crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
	sem_post(&pwhash_slots);
	return u != NULL && ok;
}

int
users_parse_perms(const char *s, unsigned *out)
{
	char item[32];
	const char *cur = s;
	unsigned perms = 0;
	int rc;

	if (strcmp(s, "ro") == 0) {
		*out = PERM_RO;
		return 0;
	}
	if (strcmp(s, "rw") == 0) {
		*out = PERM_RW;
		return 0;
	}
	while ((rc = parse_list_next(&cur, item, sizeof(item))) == 1) {
		size_t i;

		for (i = 0; i < sizeof(perm_names) / sizeof(perm_names[0]); i++)
			if (strcmp(item, perm_names[i].name) == 0)
				break;
		if (i == sizeof(perm_names) / sizeof(perm_names[0]))
			return -1;
		perms |= perm_names[i].bit;
	}
	if (rc < 0)
		return -1;
	*out = perms;
	return 0;
}

static int
valid_name(const char *s, size_t max)
{
	size_t n = strlen(s);

	/* A name becomes a folder on a target ("/" USER "/..."): "." and
	 * ".." would be the target's base or its parent. */
	if (n == 0 || n > max || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		        c == '.' || c == '@'))
			return 0;
	}
	return 1;
}

int
users_valid_name(const char *name)
{
	return valid_name(name, RFTP_USER_MAX);
}

/* mirror = a, b | none; names validated now, targets checked by the mirror. */
static int
valid_mirror_list(const char *s)
{
	char item[RFTP_NAME_MAX + 1];
	const char *cur = s;
	int rc, n = 0;

	if (strcmp(s, "none") == 0)
		return 1;
	while ((rc = parse_list_next(&cur, item, sizeof(item))) == 1) {
		if (!valid_name(item, RFTP_NAME_MAX) ||
		    strcmp(item, "none") == 0)
			return 0;
		if (++n > RFTP_MIRROR_NAMES_MAX)
			return 0;
	}
	return rc == 0 && n > 0;
}

static struct user *
find_or_add(struct parse_ctx *pc, const char *section, int lineno)
{
	struct user_set *set = pc->set;
	struct user *u;

	for (size_t i = set->count; i > 0; i--)
		if (strcmp(set->users[i - 1].name, section) == 0)
			return &set->users[i - 1];
	if (set->count >= RFTP_USERS_MAX)
		return NULL;
	if (set->count == set->cap) {
		size_t ncap = set->cap ? set->cap * 2 : 16;
		struct user *nu = realloc(set->users, ncap * sizeof(*nu));
		unsigned *ns = realloc(pc->seen, ncap * sizeof(*ns));

		if (nu != NULL)
			set->users = nu;
		if (ns != NULL)
			pc->seen = ns;
		if (nu == NULL || ns == NULL)
			return NULL;
		set->cap = ncap;
	}
	u = &set->users[set->count];
	memset(u, 0, sizeof(*u));
	pc->seen[set->count] = 0;
	set->count++;
	/* Cannot be cut: the section name fits INIFILE_SECTION_MAX and
	 * on_key adds only names valid_name bounds by RFTP_USER_MAX. */
	fmt_fixed(u->name, sizeof(u->name), "%s", section);
	/* Anonymous users read unless the admin says otherwise. */
	u->perms = strcmp(section, USERS_ANON_SECTION) == 0 ? PERM_RO : PERM_RW;
	u->line = lineno;
	u->require_login_tls = -1;
	u->require_data_tls = -1;
	u->max_entries_per_folder = RFTP_DEFAULT_FOLDER_ENTRIES;
	return u;
}

static void
on_key(void *ctx, int lineno, const char *section, const char *key,
    const char *value)
{
	struct parse_ctx *pc = ctx;
	struct user *u;
	unsigned *seen;
	const char *why = NULL;

	if (key == NULL) {
		/* A section header: a user with no keys still exists, so
		 * the missing password and home are reported. Bad names are
		 * reported at their keys. */
		if (valid_name(section, RFTP_USER_MAX))
			find_or_add(pc, section, lineno);
		return;
	}
	if (!valid_name(section, RFTP_USER_MAX)) {
		inifile_error(pc->errs, pc->path, lineno, NULL,
		    "invalid user name [%s] (letters, digits, _ - . @; at "
		    "most %d)",
		    section, RFTP_USER_MAX);
		pc->nerr++;
		return;
	}
	u = find_or_add(pc, section, lineno);
	if (u == NULL) {
		inifile_error(pc->errs, pc->path, lineno, NULL,
		    "too many users or out of memory");
		pc->nerr++;
		return;
	}
	seen = &pc->seen[u - pc->set->users];
	if (strcmp(key, "password") == 0) {
		*seen |= UK_PASSWORD;
		if (strncmp(value, "$argon2id$", 10) != 0)
			why =
			    "must be an argon2id hash from 'relayftpd passwd' "
			    "(plaintext and other schemes are refused)";
		else if (fmt_fixed(u->hash, sizeof(u->hash), "%s", value) < 0)
			why = "hash too long";
	} else if (strcmp(key, "home") == 0) {
		*seen |= UK_HOME;
		if (value[0] == '\0' ||
		    config_resolve_path(
		        pc->dir, value, u->home, sizeof(u->home)) < 0)
			why = "expected a folder path";
	} else if (strcmp(key, "quota_bytes") == 0) {
		if (parse_size(value, &u->quota_bytes) < 0)
			why = "expected a size such as 500M, 10G or 0 "
			      "(unlimited)";
	} else if (strcmp(key, "quota_files") == 0) {
		if (parse_u64(value, UINT64_MAX, &u->quota_files) < 0)
			why = "expected a whole number (0 = unlimited)";
	} else if (strcmp(key, "max_entries_per_folder") == 0) {
		if (parse_u64(value, RFTP_FOLDER_ENTRIES_MAX,
		        &u->max_entries_per_folder) < 0)
			why = "expected a whole number up to 1000000 (0 = "
			      "unlimited)";
	} else if (strcmp(key, "permissions") == 0) {
		if (users_parse_perms(value, &u->perms) < 0)
			why =
			    "expected ro, rw or a list of read, write, append, "
			    "delete, rename, mkdir, rmdir";
	} else if (strcmp(key, "max_sessions") == 0) {
		if (parse_u64(value, 100000, &u->max_sessions) < 0)
			why = "expected a whole number (0 = unlimited)";
	} else if (strcmp(key, "mirror") == 0) {
		if (!valid_mirror_list(value) ||
		    fmt_fixed(u->mirror, sizeof(u->mirror), "%s", value) < 0)
			why = "expected 'none' or a list of target names";
	} else if (strcmp(key, "require_login_tls") == 0 ||
	    strcmp(key, "require_data_tls") == 0) {
		int b;

		if (parse_bool(value, &b) < 0)
			why = "expected on or off";
		else if (strcmp(key, "require_login_tls") == 0)
			u->require_login_tls = b;
		else
			u->require_data_tls = b;
	} else {
		why = "unknown key (expected password, home, quota_bytes, "
		      "quota_files, max_entries_per_folder, permissions, "
		      "max_sessions, mirror, "
		      "require_login_tls, require_data_tls)";
	}
	if (why != NULL) {
		inifile_error(pc->errs, pc->path, lineno, key, "%s", why);
		pc->nerr++;
	}
}

/* A parse context for source (a file's path or the builder's name) whose
 * relative homes resolve against dir. -1 with errs said if dir is cut. */
static int
parse_begin(
    struct parse_ctx *pc, const char *source, const char *dir, struct buf *errs)
{
	memset(pc, 0, sizeof(*pc));
	pc->path = source;
	pc->errs = errs;
	/* A cut folder would resolve every relative home elsewhere. */
	if (fmt_fixed(pc->dir, sizeof(pc->dir), "%s", dir) < 0) {
		buf_printf(errs, "%s: path too long\n", source);
		return -1;
	}
	pc->set = calloc(1, sizeof(*pc->set));
	if (pc->set == NULL) {
		buf_printf(errs, "%s: out of memory\n", source);
		return -1;
	}
	return 0;
}

/* The rules that need every key read: each user has a password (but the
 * anonymous one) and a home. parse_rc is the parse's result (-1: nothing
 * was read, so nothing is missing). Returns the set, or NULL with errs
 * said; pc's memory is freed either way. */
static struct user_set *
parse_finish(struct parse_ctx *pc, int parse_rc)
{
	if (parse_rc != 0)
		pc->nerr++;
	for (size_t i = 0; parse_rc >= 0 && i < pc->set->count; i++) {
		struct user *u = &pc->set->users[i];
		int anon = strcmp(u->name, USERS_ANON_SECTION) == 0;

		if (!(pc->seen[i] & UK_PASSWORD) && !anon) {
			inifile_error(pc->errs, pc->path, u->line, NULL,
			    "user [%s] has no password", u->name);
			pc->nerr++;
		}
		if (!(pc->seen[i] & UK_HOME)) {
			inifile_error(pc->errs, pc->path, u->line, NULL,
			    "user [%s] has no home", u->name);
			pc->nerr++;
		}
	}
	free(pc->seen);
	pc->seen = NULL;
	if (pc->nerr > 0) {
		users_set_free(pc->set);
		return NULL;
	}
	return pc->set;
}

struct user_set *
users_set_load(const char *path, struct buf *errs)
{
	struct parse_ctx pc;
	char dir[PATH_MAX];
	char *slash;

	/* A cut path's folder would be another one. */
	if (fmt_fixed(dir, sizeof(dir), "%s", path) < 0) {
		buf_printf(errs, "%s: path too long\n", path);
		return NULL;
	}
	slash = strrchr(dir, '/');
	if (slash == NULL)
		fmt_fixed(dir, sizeof(dir), ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (parse_begin(&pc, path, dir, errs) < 0)
		return NULL;
	return parse_finish(&pc, inifile_parse(path, on_key, &pc, errs));
}

struct user_set *
users_set_from_entries(
    const char *name, const struct inifile_entry *e, size_t n, struct buf *errs)
{
	struct parse_ctx pc;
	char cwd[PATH_MAX];

	if (getcwd(cwd, sizeof(cwd)) == NULL) {
		buf_printf(errs,
		    "%s: cannot read the current folder (the base of "
		    "relative homes): %s\n",
		    name, strerror(errno));
		return NULL;
	}
	if (parse_begin(&pc, name, cwd, errs) < 0)
		return NULL;
	return parse_finish(&pc, inifile_feed(e, n, on_key, &pc));
}

void
users_set_free(struct user_set *set)
{
	if (set == NULL)
		return;
	sodium_memzero(set->users, set->cap * sizeof(*set->users));
	free(set->users);
	free(set);
}

size_t
users_set_count(const struct user_set *set)
{
	return set->count;
}

const struct user *
users_set_get(const struct user_set *set, size_t i)
{
	return &set->users[i];
}

/* The user called name in set, or NULL. */
static const struct user *
set_find(const struct user_set *set, const char *name)
{
	for (size_t i = 0; i < set->count; i++)
		if (strcmp(set->users[i].name, name) == 0)
			return &set->users[i];
	return NULL;
}

int
users_set_has(const struct user_set *set, const char *name)
{
	return set_find(set, name) != NULL;
}

/* The store over set, which it owns from here on (freed on failure too);
 * no file: the caller sets path and seen if there is one. */
static struct userdb *
store_new(struct user_set *set, uint64_t pwcache_ttl, struct buf *errs)
{
	struct userdb *db = calloc(1, sizeof(*db));

	if (db == NULL) {
		buf_printf(errs, "cannot allocate the user store\n");
		users_set_free(set);
		return NULL;
	}
	pthread_mutex_init(&db->lock, NULL);
	db->set = set;
	if (pwcache_ttl > 0) {
		db->pwcache =
		    pwcache_new(RFTP_PWCACHE_ENTRIES, pwcache_ttl, NULL);
		if (db->pwcache == NULL) {
			buf_printf(errs,
			    "cannot allocate the password cache "
			    "(password_cache_ttl)\n");
			userdb_close(db);
			return NULL;
		}
	}
	return db;
}

struct userdb *
userdb_open(const char *path, uint64_t pwcache_ttl, struct buf *errs)
{
	struct userdb *db;
	struct user_set *set;
	struct stat seen;

	/* A cut path would make every reload read another file. */
	if (strlen(path) >= sizeof(db->path)) {
		buf_printf(errs, "%s: path too long\n", path);
		return NULL;
	}
	/* Before the load: a change made during it is seen at the next
	 * lookup and loaded then. */
	if (stat(path, &seen) < 0)
		memset(&seen, 0, sizeof(seen));
	set = users_set_load(path, errs);
	if (set == NULL)
		return NULL;
	db = store_new(set, pwcache_ttl, errs);
	if (db == NULL)
		return NULL;
	/* Checked above: cannot be cut. */
	fmt_fixed(db->path, sizeof(db->path), "%s", path);
	db->seen = seen;
	return db;
}

struct userdb *
userdb_open_set(struct user_set *set, uint64_t pwcache_ttl, struct buf *errs)
{
	if (set == NULL) {
		buf_printf(errs, "no set of users to serve\n");
		return NULL;
	}
	/* path stays "": lookups never reload, and a reload keeps set. */
	return store_new(set, pwcache_ttl, errs);
}

void
userdb_close(struct userdb *db)
{
	if (db == NULL)
		return;
	users_set_free(db->set);
	pwcache_free(db->pwcache);
	pthread_mutex_destroy(&db->lock);
	free(db);
}

static int
same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	    a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* pwcache_retain's view of the new set: name's hash, NULL if gone. */
static const char *
current_hash(void *ctx, const char *name)
{
	const struct user *u = set_find(ctx, name);

	return u != NULL ? u->hash : NULL;
}

/* Called with db->lock held. */
static int
reload_locked(struct userdb *db, const struct stat *now)
{
	struct buf errs;
	struct user_set *set;

	buf_init(&errs, 64 * 1024);
	db->seen = *now;
	set = users_set_load(db->path, &errs);
	if (set == NULL) {
		log_lines(LOG_ERR,
		    "users file not reloaded, keeping the last "
		    "good set of users: ",
		    buf_str(&errs));
		buf_free(&errs);
		return -1;
	}
	buf_free(&errs);
	users_set_free(db->set);
	db->set = set;
	pwcache_retain(db->pwcache, current_hash, set);
	log_info("users file %s reloaded: %zu users", db->path, set->count);
	return 0;
}

int
userdb_reload(struct userdb *db)
{
	struct stat st;
	int rc;

	/* A store over a given set has nothing to re-read. */
	if (db->path[0] == '\0')
		return 0;
	pthread_mutex_lock(&db->lock);
	if (stat(db->path, &st) < 0)
		memset(&st, 0, sizeof(st));
	rc = reload_locked(db, &st);
	pthread_mutex_unlock(&db->lock);
	return rc;
}

int
userdb_lookup(struct userdb *db, const char *name, struct user *out)
{
	const struct user *u;
	struct stat st;
	int rc = -1;

	pthread_mutex_lock(&db->lock);
	if (db->path[0] != '\0' && stat(db->path, &st) == 0 &&
	    !same_file(&st, &db->seen))
		reload_locked(db, &st);
	u = set_find(db->set, name);
	if (u != NULL) {
		*out = *u;
		rc = 0;
	}
	pthread_mutex_unlock(&db->lock);
	return rc;
}

enum users_verdict
userdb_verify(struct userdb *db, const char *name, const struct user *u,
    const char *password)
{
	/* Unknown users probe with the dummy hash: the same digest work,
	 * and an entry left under that name (impossible after a reload's
	 * retain, but cheap to rule out) is bound to another hash and
	 * wiped rather than matched. */
	if (pwcache_check(db->pwcache, name, u != NULL ? u->hash : dummy_hash,
	        password) &&
	    u != NULL)
		return USERS_CACHED;
	if (!users_verify(u, password))
		return USERS_BAD;
	/* u->hash is the hash argon2id just accepted, so the entry is bound
	 * to it even if users.ini changed meanwhile (the next reload's
	 * retain, or the binding itself, then rules it out). */
	pwcache_store(db->pwcache, u->name, u->hash, password);
	return USERS_HASHED;
}
