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

#include "common/clock.h"
#include "common/config.h"
#include "common/fnv.h"
#include "common/inifile.h"
#include "common/log.h"
#include "common/numparse.h"
#include "common/pwcache.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* One user as a set keeps it. The strings are allocated to their length:
 * a struct user has room for the longest home and is 4.9 KB, so a file of
 * 100,000 users held 490 MB that way (twice during a reload, and again in
 * the mirror's watcher). users_set_get and userdb_lookup expand a record
 * into a struct user; every string was checked at parse to fit there. */
struct user_rec {
	char name[RFTP_USER_MAX + 1];
	char *hash;   /* NULL = "" (the anonymous user) */
	char *home;   /* NULL until the home key is read */
	char *mirror; /* NULL = "" (all targets) */
	uint64_t quota_bytes, quota_files, max_entries_per_folder;
	uint64_t max_sessions;
	unsigned perms;
	int require_login_tls, require_data_tls;
	int line;
};

/* idx: an open-addressing table of user index + 1 (0 = empty) by name,
 * idx_cap a power of two at least twice count, so that a file of many
 * users is read, and a name looked up, without a scan of the users. */
struct user_set {
	struct user_rec *users;
	size_t count, cap;
	uint32_t *idx;
	size_t idx_cap;
	/* Holders of this set: its loader, or a store and the mirror's
	 * watcher sharing it (userdb_users); the last one frees it. */
	atomic_uint refs;
};

struct userdb {
	pthread_mutex_t lock;
	char path[PATH_MAX];
	struct user_set *set;
	struct stat seen;        /* identity of the file behind set */
	struct pwcache *pwcache; /* NULL = password_cache_ttl 0 */
	uint64_t gen;            /* sets installed so far */
	userdb_check_fn check;   /* NULL: parsing is the only check */
	void *check_ctx;
	/* The file could not be opened at the last look (load_file): said
	 * once, and read again at each look until it can be. */
	atomic_int unopened;
	/* A transfer's look is parsing the file (outside the lock): the
	 * others do not parse it too (userdb_recheck_nowait). */
	atomic_int nowait_parsing;
	/* A file whose mtime is ahead of this clock, and since when (ms,
	 * CLOCK_MONOTONIC) it has looked the same (still_enough). */
	struct stat ahead;
	int64_t ahead_since_ms;
};

/* A bit per key: the required ones are checked at the end, and any key
 * given twice in a section is refused (the last would win unseen). */
static const char *const user_keys[] = {
	"password",
	"home",
	"quota_bytes",
	"quota_files",
	"max_entries_per_folder",
	"permissions",
	"max_sessions",
	"mirror",
	"require_login_tls",
	"require_data_tls",
};
#define UK_PASSWORD (1u << 0)
#define UK_HOME     (1u << 1)

struct parse_ctx {
	const char *path;
	char dir[PATH_MAX];
	struct user_set *set;
	unsigned *seen; /* per user: which keys appeared (user_keys) */
	struct buf *errs;
	int nerr;
	/* A file: a user's second section or a key given twice is refused.
	 * The library's entries set a key again on purpose (a later
	 * rftpd_config_set_user): the last one wins there. */
	int strict;
	int in_again; /* the keys after a refused second section */
	/* The line of the last invalid user name reported: the library's
	 * rftpd_config_add_user gives its password, home and permissions
	 * the one line of its call, and the name was reported three times
	 * there, word for word (found from outside). */
	int bad_name_line;
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

/* Waits for an argon2id slot, looking at stop_fd every PWHASH_LOOK_MS:
 * 0, or -1 once it is readable. */
#define PWHASH_LOOK_MS 50

static int
slot_take(int stop_fd)
{
	for (;;) {
		struct pollfd pf = { stop_fd, POLLIN, 0 };
		struct timespec until;

		if (sem_trywait(&pwhash_slots) == 0)
			return 0;
		if (stop_fd >= 0 && poll(&pf, 1, 0) > 0)
			return -1;
		until = clock_mono_after(PWHASH_LOOK_MS);
		if (sem_clockwait(&pwhash_slots, CLOCK_MONOTONIC, &until) == 0)
			return 0;
	}
}

/*
 * After a failed check: 0 if the memory argon2id asks for hash (its m=,
 * in KiB) can be mapped now, so the failure was a mismatch; else the
 * errno of the failed mapping. libsodium maps it the same way
 * (MAP_ANON, MAP_PRIVATE); nothing is touched, so this costs two system
 * calls on the path of wrong passwords alone.
 */
static int
memory_short(const char *hash)
{
	const char *m = strstr(hash, "$m=");
	uint64_t kib = 0;
	void *p;

	if (m == NULL)
		return 0;
	m += 3;
	while (*m >= '0' && *m <= '9' && kib < UINT32_MAX)
		kib = kib * 10 + (uint64_t)(*m++ - '0');
	if (kib == 0 || kib >= UINT32_MAX)
		return 0;
	p = mmap(NULL, (size_t)kib * 1024, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return errno != 0 ? errno : ENOMEM;
	munmap(p, (size_t)kib * 1024);
	return 0;
}

int
users_verify(const struct user *u, const char *password, int stop_fd)
{
	const char *hash = u != NULL ? u->hash : dummy_hash;
	int rc, err;

	if (slot_take(stop_fd) < 0)
		return -1;
	rc = crypto_pwhash_str_verify(hash, password, strlen(password));
	/* A right password whose check could not get argon2id's memory was
	 * answered "bad password" and counted towards a ban (found from
	 * outside, under RLIMIT_AS). libsodium 1.0.18 reports that as a
	 * mismatch (argon2_verify turns any failure of the hash into
	 * ARGON2_VERIFY_MISMATCH, errno EINVAL), so a failed check asks
	 * whether the hash's memory can be had now. */
	err = rc == 0 ? 0 : memory_short(hash);
	sem_post(&pwhash_slots);
	if (rc == 0)
		return u != NULL;
	if (err == 0)
		return 0;
	errno = err;
	return -2;
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

/* FNV-1a: names are the admin's (users.ini), so no one can pick ones
 * that collide; a client's name only probes. */
static size_t
name_hash(const char *name)
{
	return (size_t)fnv1a64_str(FNV1A64_INIT, name);
}

/* The slot of name in set->idx: its own, or the empty one it would go in. */
static size_t
idx_slot(const struct user_set *set, const char *name)
{
	size_t mask = set->idx_cap - 1, i = name_hash(name) & mask;

	while (set->idx[i] != 0 &&
	    strcmp(set->users[set->idx[i] - 1].name, name) != 0)
		i = (i + 1) & mask;
	return i;
}

/* Makes room in the index for one more user. -1: out of memory. */
static int
idx_grow(struct user_set *set)
{
	size_t ncap = set->idx_cap ? set->idx_cap : 32;
	uint32_t *old = set->idx;

	if (set->count + 1 <= set->idx_cap / 2)
		return 0;
	while (set->count + 1 > ncap / 2)
		ncap *= 2;
	set->idx = calloc(ncap, sizeof(*set->idx));
	if (set->idx == NULL) {
		set->idx = old;
		return -1;
	}
	set->idx_cap = ncap;
	for (size_t i = 0; i < set->count; i++)
		set->idx[idx_slot(set, set->users[i].name)] = (uint32_t)i + 1;
	free(old);
	return 0;
}

/* The room a struct user has for its string field f. */
#define USER_ROOM(f) sizeof(((struct user *)0)->f)

/* Wipes and frees a record's string (hashes are not left in freed
 * memory). */
static void
rec_clear(char **slot)
{
	if (*slot == NULL)
		return;
	sodium_memzero(*slot, strlen(*slot));
	free(*slot);
	*slot = NULL;
}

/* Sets *slot to a copy of value, which must fit the room of the struct
 * user field it expands into. -1: too long, or out of memory. */
static int
rec_set(char **slot, const char *value, size_t room)
{
	size_t n = strlen(value);
	char *copy;

	if (n >= room || (copy = malloc(n + 1)) == NULL)
		return -1;
	memcpy(copy, value, n + 1);
	rec_clear(slot);
	*slot = copy;
	return 0;
}

/* r as a struct user. Cannot be cut: rec_set checked each string's room. */
static void
rec_expand(const struct user_rec *r, struct user *out)
{
	memcpy(out->name, r->name, sizeof(out->name));
	fmt_fixed(out->hash, sizeof(out->hash), "%s", r->hash ? r->hash : "");
	fmt_fixed(out->home, sizeof(out->home), "%s", r->home ? r->home : "");
	fmt_fixed(
	    out->mirror, sizeof(out->mirror), "%s", r->mirror ? r->mirror : "");
	out->quota_bytes = r->quota_bytes;
	out->quota_files = r->quota_files;
	out->max_entries_per_folder = r->max_entries_per_folder;
	out->perms = r->perms;
	out->max_sessions = r->max_sessions;
	out->require_login_tls = r->require_login_tls;
	out->require_data_tls = r->require_data_tls;
	out->line = r->line;
}

/* The user called name in set, or NULL. */
static struct user_rec *
set_lookup(const struct user_set *set, const char *name)
{
	size_t i;

	if (set->idx_cap == 0)
		return NULL;
	i = idx_slot(set, name);
	return set->idx[i] != 0 ? &set->users[set->idx[i] - 1] : NULL;
}

static struct user_rec *
find_or_add(struct parse_ctx *pc, const char *section, int lineno)
{
	struct user_set *set = pc->set;
	struct user_rec *u = set_lookup(set, section);

	if (u != NULL)
		return u;
	if (set->count >= RFTP_USERS_MAX || idx_grow(set) < 0)
		return NULL;
	if (set->count == set->cap) {
		size_t ncap = set->cap ? set->cap * 2 : 16;
		struct user_rec *nu = realloc(set->users, ncap * sizeof(*nu));
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
	set->idx[idx_slot(set, u->name)] = (uint32_t)set->count;
	/* Anonymous users read unless the admin says otherwise. */
	u->perms = strcmp(section, USERS_ANON_SECTION) == 0 ? PERM_RO : PERM_RW;
	u->line = lineno;
	u->require_login_tls = -1;
	u->require_data_tls = -1;
	u->max_entries_per_folder = RFTP_DEFAULT_FOLDER_ENTRIES;
	return u;
}

/*
 * Whether the hash's last field, the tag, is the 32 bytes (43 base64
 * characters) every argon2id tool writes by default (relayftpd passwd,
 * libsodium, the argon2 reference tool, argon2-cffi, PHP). libsodium reads
 * a tag of any length from 4 bytes, so a hash cut by 1, 3 or 7 characters
 * still parsed, and its user could never log in.
 */
static int
whole_tag(const char *hash)
{
	const char *tag = strrchr(hash, '$');
	size_t n;

	if (tag == NULL)
		return 0;
	tag++;
	n = strspn(tag,
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
	return n == 43 && tag[n] == '\0';
}
static void
on_key(void *ctx, int lineno, const char *section, const char *key,
    const char *value)
{
	struct parse_ctx *pc = ctx;
	struct user_rec *u;
	char home[PATH_MAX];
	unsigned *seen;
	const char *why = NULL;

	if (key == NULL) {
		/* A section header: a user with no keys still exists, so
		 * the missing password and home are reported. Bad names are
		 * reported at their keys. A second section of a name would
		 * merge into the first unseen (an appended [alice] taking
		 * over alice's account): refused. */
		pc->in_again = 0;
		if (!valid_name(section, RFTP_USER_MAX))
			return;
		u = set_lookup(pc->set, section);
		if (u != NULL && pc->strict) {
			inifile_error(pc->errs, pc->path, lineno, NULL,
			    "user [%s] again (its section is at line %d): one "
			    "section per user",
			    section, u->line);
			pc->nerr++;
			pc->in_again = 1; /* one error for the section */
			return;
		}
		find_or_add(pc, section, lineno);
		return;
	}
	if (pc->in_again)
		return;
	if (!valid_name(section, RFTP_USER_MAX)) {
		if (lineno == pc->bad_name_line)
			return; /* said for this line already */
		pc->bad_name_line = lineno;
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
	for (unsigned i = 0; i < sizeof(user_keys) / sizeof(user_keys[0]);
	     i++) {
		if (strcmp(key, user_keys[i]) != 0)
			continue;
		if ((*seen & (1u << i)) && pc->strict) {
			inifile_error(pc->errs, pc->path, lineno, key,
			    "given twice for [%s]: one value per key", u->name);
			pc->nerr++;
			return;
		}
		*seen |= 1u << i;
	}
	if (strcmp(key, "password") == 0) {
		if (strncmp(value, "$argon2id$", 10) != 0)
			why =
			    "must be an argon2id hash from 'relayftpd passwd' "
			    "(plaintext and other schemes are refused)";
		/* -1: not a whole argon2id string (cut, a bad salt or
		 * parameter), which no password would ever match. */
		else if (crypto_pwhash_argon2id_str_needs_rehash(value,
		             crypto_pwhash_argon2id_OPSLIMIT_MODERATE,
		             crypto_pwhash_argon2id_MEMLIMIT_MODERATE) < 0 ||
		    !whole_tag(value))
			why = "not a whole argon2id hash (cut or damaged?): "
			      "make it again with 'relayftpd passwd'";
		else if (rec_set(&u->hash, value, USER_ROOM(hash)) < 0)
			why = "hash too long, or out of memory";
	} else if (strcmp(key, "home") == 0) {
		if (value[0] == '\0' ||
		    config_resolve_path(pc->dir, value, home, sizeof(home)) <
		        0 ||
		    rec_set(&u->home, home, USER_ROOM(home)) < 0)
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
		    rec_set(&u->mirror, value, USER_ROOM(mirror)) < 0)
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
	atomic_init(&pc->set->refs, 1);
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
		const struct user_rec *u = &pc->set->users[i];
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

/* users_set_load; *unopened: 1 if the file could not be opened (errs
 * says why), a condition that may pass (no descriptor left), where a
 * file that was read and refused stays refused until it changes. */
static struct user_set *
load_set(const char *path, struct buf *errs, int *unopened)
{
	struct parse_ctx pc;
	char dir[PATH_MAX];
	char *slash;
	int rc;

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
	pc.strict = 1;
	rc = inifile_parse(path, on_key, &pc, errs);
	*unopened = rc < 0; /* inifile.h: -1, the file cannot be read */
	return parse_finish(&pc, rc);
}

struct user_set *
users_set_load(const char *path, struct buf *errs)
{
	int unopened;

	return load_set(path, errs, &unopened);
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
	if (set == NULL || atomic_fetch_sub(&set->refs, 1) != 1)
		return;
	for (size_t i = 0; i < set->count; i++) {
		rec_clear(&set->users[i].hash);
		rec_clear(&set->users[i].home);
		rec_clear(&set->users[i].mirror);
	}
	free(set->users);
	free(set->idx);
	free(set);
}

size_t
users_set_count(const struct user_set *set)
{
	return set->count;
}

void
users_set_get(const struct user_set *set, size_t i, struct user *out)
{
	rec_expand(&set->users[i], out);
}

int
users_set_has(const struct user_set *set, const char *name)
{
	return set_lookup(set, name) != NULL;
}

int
users_set_index(const struct user_set *set, const char *name, size_t *i)
{
	const struct user_rec *u = set_lookup(set, name);

	if (u == NULL)
		return -1;
	*i = (size_t)(u - set->users);
	return 0;
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
	atomic_init(&db->unopened, 0);
	atomic_init(&db->nowait_parsing, 0);
	db->set = set;
	/* 0 is no set (userdb_users' first call). */
	db->gen = 1;
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
	return userdb_open_checked(path, pwcache_ttl, NULL, NULL, errs);
}

struct userdb *
userdb_open_checked(const char *path, uint64_t pwcache_ttl,
    userdb_check_fn check, void *check_ctx, struct buf *errs)
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
	/* The set checked is the set served: a caller that checked the
	 * file and then opened it served whatever the file had become
	 * between the two reads (a users.ini written while the daemon
	 * started), unchecked. */
	if (check != NULL && check(check_ctx, set, errs) < 0) {
		users_set_free(set);
		return NULL;
	}
	db = store_new(set, pwcache_ttl, errs);
	if (db == NULL)
		return NULL;
	/* Checked above: cannot be cut. */
	fmt_fixed(db->path, sizeof(db->path), "%s", path);
	db->seen = seen;
	userdb_set_check(db, check, check_ctx);
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
userdb_set_check(struct userdb *db, userdb_check_fn fn, void *ctx)
{
	db->check = fn;
	db->check_ctx = ctx;
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
	const struct user_rec *u = set_lookup(ctx, name);

	if (u == NULL)
		return NULL;
	return u->hash != NULL ? u->hash : "";
}

/*
 * A file written less than USERS_SETTLE_MS ago may be in the middle of
 * its writing (an admin's `cat new > users.ini`, a slow copy): read then,
 * it was cut inside a user's section, and a cut "home = /srv/ftp/alice"
 * gave alice the folder of every home, a cut before "permissions = ro"
 * gave her rw (found from outside). A reload waits until the file has
 * kept still that long, USERS_SETTLE_MAX_MS at most; *st is the file as
 * it then is.
 */
#define USERS_SETTLE_MS     1000
#define USERS_SETTLE_MAX_MS 5000

static int64_t
age_ms(const struct stat *st)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return (int64_t)(now.tv_sec - st->st_mtim.tv_sec) * 1000 +
	    (now.tv_nsec - st->st_mtim.tv_nsec) / 1000000;
}

static int settling(const struct stat *st);

static void
wait_settled(const char *path, struct stat *st)
{
	int64_t waited = 0, age;

	while (waited < USERS_SETTLE_MAX_MS &&
	    (age = age_ms(st)) < USERS_SETTLE_MS) {
		/* An mtime ahead of this clock (a file server's clock, touch
		 * -d) tells nothing of when it was written: the file is
		 * watched for a second instead, and taken if it kept still. */
		int64_t ms = age < 0 ? USERS_SETTLE_MS : USERS_SETTLE_MS - age;
		struct timespec nap = { (time_t)(ms / 1000),
			(long)(ms % 1000) * 1000000L };
		struct stat was = *st;

		nanosleep(&nap, NULL);
		waited += ms;
		if (stat(path, st) < 0) {
			memset(st, 0, sizeof(*st));
			return;
		}
		if (age < 0 && same_file(st, &was))
			return;
	}
}

/* Parses db's file and checks it: the new set, or NULL (said in the log,
 * once: *st, the file as read, is what a later look compares with, unless
 * *unopened: the file could not be opened, and a later look tries again,
 * since an admin's edit made while the server was out of descriptors
 * was not loaded until the file changed again; found by fault
 * injection). */
static struct user_set *
load_file(struct userdb *db, struct stat *st, int *unopened, int settled)
{
	struct buf errs;
	struct user_set *set;

	if (!settled)
		wait_settled(db->path, st);
	buf_init(&errs, 64 * 1024);
	set = load_set(db->path, &errs, unopened);
	/* An empty file is far more often one being written (truncated by
	 * an editor or a script that has not written yet, for longer than
	 * the settle time) than an admin's wish to remove every user: taken,
	 * it ended every session and stopped every transfer under way as
	 * removed (found from outside). A file meant to hold no users says
	 * so with a line of comment. */
	if (set != NULL && users_set_count(set) == 0 && st->st_size == 0) {
		users_set_free(set);
		set = NULL;
		buf_printf(&errs,
		    "%s: the file is empty (0 bytes), taken for one being "
		    "written; a file meant to hold no users must hold a "
		    "comment line\n",
		    db->path);
	}
	if (set != NULL && db->check != NULL &&
	    db->check(db->check_ctx, set, &errs) < 0) {
		users_set_free(set);
		set = NULL;
	}
	/* The same unopened file is said once, not at each look. */
	if (set == NULL &&
	    !(*unopened && atomic_exchange(&db->unopened, 1) == 1))
		log_lines(LOG_ERR,
		    "users file not reloaded, keeping the last "
		    "good set of users: ",
		    buf_str(&errs));
	if (!*unopened)
		atomic_store(&db->unopened, 0);
	buf_free(&errs);
	return set;
}

/* Called with db->lock held: serves set (the file as now shows it) from
 * here on. Returns the old set, which the caller frees after unlocking
 * (wiping a large set is no work for the lock). */
static struct user_set *
install_locked(struct userdb *db, struct user_set *set, const struct stat *now)
{
	struct user_set *old = db->set;

	db->set = set;
	db->seen = *now;
	db->gen++;
	pwcache_retain(db->pwcache, current_hash, set);
	/* No users is valid, but most often a file emptied by mistake: every
	 * login now gets 530 and every session ends at its next command. */
	if (set->count == 0 && old != NULL && old->count > 0)
		log_warn("users file %s reloaded: 0 users (there were %zu): "
		         "every login is refused and every session ends",
		    db->path, old->count);
	else
		log_info(
		    "users file %s reloaded: %zu users", db->path, set->count);
	return old;
}

/*
 * SIGHUP: the file is read outside the lock, so that logins go on with
 * the set they have while it is parsed (a file of 100,000 users takes
 * seconds, and signals may come in a row); the swap is a moment. If a
 * login installed a set meanwhile (it saw the file change), the file is
 * read again under the lock.
 */
int
userdb_reload(struct userdb *db)
{
	struct user_set *set, *old;
	struct stat st;
	uint64_t gen;
	int unopened;

	/* A store over a given set has nothing to re-read. */
	if (db->path[0] == '\0')
		return 0;
	pthread_mutex_lock(&db->lock);
	gen = db->gen;
	pthread_mutex_unlock(&db->lock);
	if (stat(db->path, &st) < 0)
		memset(&st, 0, sizeof(st));
	set = load_file(db, &st, &unopened, 0);
	if (set == NULL) {
		/* Said once: a login or the watcher that looks next sees
		 * the file as read here (it said the same broken edit a
		 * second time, as if there were two; found from outside). */
		pthread_mutex_lock(&db->lock);
		if (db->gen == gen && !unopened)
			db->seen = st;
		pthread_mutex_unlock(&db->lock);
		return -1;
	}
	pthread_mutex_lock(&db->lock);
	if (db->gen != gen && same_file(&st, &db->seen)) {
		/* A login or the watcher installed the file as this read
		 * saw it: nothing newer to serve. Freed after unlocking. */
		old = set;
		pthread_mutex_unlock(&db->lock);
		users_set_free(old);
		return 0;
	}
	if (db->gen != gen) {
		/* A login installed a set meanwhile: which of the two read
		 * the newer file cannot be told (a rewrite may keep size and
		 * time), so the file is read once more, under the lock, as
		 * a login that saw it change would. */
		users_set_free(set);
		if (stat(db->path, &st) < 0)
			memset(&st, 0, sizeof(st));
		set = load_file(db, &st, &unopened, 0);
		if (set == NULL) {
			if (!unopened)
				db->seen = st;
			pthread_mutex_unlock(&db->lock);
			return -1;
		}
	}
	old = install_locked(db, set, &st);
	pthread_mutex_unlock(&db->lock);
	users_set_free(old);
	return 0;
}

/*
 * A file that changed is read under the lock: this login and every one
 * after it must see the admin's edit (a removed user, a new password), so
 * they wait for it. A file that fails to load is not read again until it
 * changes again; one that could not be opened is, at the next look.
 */
static struct user_set *
refresh_locked(struct userdb *db)
{
	struct user_set *set;
	struct stat st;
	int unopened;

	if (db->path[0] == '\0' || stat(db->path, &st) < 0 ||
	    same_file(&st, &db->seen))
		return NULL;
	set = load_file(db, &st, &unopened, 0);
	if (!unopened)
		db->seen = st;
	return set != NULL ? install_locked(db, set, &st) : NULL;
}

int
userdb_lookup(struct userdb *db, const char *name, struct user *out)
{
	struct user_set *old;
	const struct user_rec *u;
	int rc = -1;

	pthread_mutex_lock(&db->lock);
	old = refresh_locked(db);
	u = set_lookup(db->set, name);
	if (u != NULL) {
		rec_expand(u, out);
		rc = 0;
	}
	pthread_mutex_unlock(&db->lock);
	users_set_free(old);
	return rc;
}

/* Whether r says what u says, but for the password (users.h). */
static int
rec_same(const struct user_rec *r, const struct user *u)
{
	return strcmp(r->home ? r->home : "", u->home) == 0 &&
	    strcmp(r->mirror ? r->mirror : "", u->mirror) == 0 &&
	    r->quota_bytes == u->quota_bytes &&
	    r->quota_files == u->quota_files &&
	    r->max_entries_per_folder == u->max_entries_per_folder &&
	    r->perms == u->perms && r->max_sessions == u->max_sessions &&
	    r->require_login_tls == u->require_login_tls &&
	    r->require_data_tls == u->require_data_tls;
}

/*
 * Whether the file was written less than USERS_SETTLE_MS ago: a file
 * written in place may be read half written, its users after the cut
 * missing. A session is not ended on such a read; it looks again at its
 * next command, once the file has kept still.
 */
static int
settling(const struct stat *st)
{
	int64_t ms = age_ms(st);

	return ms >= 0 && ms < USERS_SETTLE_MS;
}

/*
 * Whether the file st has kept still long enough to be read by a look that
 * does not wait (a transfer's, the watcher's); db->lock held. An mtime
 * ahead of this clock (a file server whose clock is ahead, touch -d) made
 * the file's age negative, so a file being written in place was read at
 * once, half written: a transfer of a user after the cut was stopped as
 * removed (found from outside). Such a file counts as written until it
 * has looked the same for USERS_SETTLE_MS by this clock.
 */
static int
still_enough(struct userdb *db, const struct stat *st)
{
	int64_t age = age_ms(st), now;
	struct timespec ts;

	if (age >= 0)
		return age >= USERS_SETTLE_MS;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (!same_file(st, &db->ahead)) {
		db->ahead = *st;
		db->ahead_since_ms = now;
		return 0;
	}
	return now - db->ahead_since_ms >= USERS_SETTLE_MS;
}

/* The comparison of u with the set in force, once db->gen moved past
 * *gen and the file behind it has kept still; called with db->lock held. */
static enum user_fresh
compare_locked(struct userdb *db, const struct user *u, uint64_t *gen)
{
	const struct user_rec *r;
	enum user_fresh v = USER_SAME;

	if (db->gen != *gen && !settling(&db->seen)) {
		r = set_lookup(db->set, u->name);
		v = r == NULL      ? USER_GONE :
		    rec_same(r, u) ? USER_SAME :
		                     USER_CHANGED;
		*gen = db->gen;
	}
	return v;
}

static void refresh_unlocked(struct userdb *db, int may_block);
enum user_fresh
userdb_recheck(struct userdb *db, const struct user *u, uint64_t *gen)
{
	struct user_set *old;
	enum user_fresh v;

	if (db->path[0] == '\0')
		return USER_SAME;
	pthread_mutex_lock(&db->lock);
	old = refresh_locked(db);
	v = compare_locked(db, u, gen);
	pthread_mutex_unlock(&db->lock);
	users_set_free(old);
	return v;
}

/*
 * A transfer's look never waits on the lock: a command of another session
 * holds it while it waits (up to 5 s) for a file being written to keep
 * still, and an upload stalled 4.6 s behind it (found from outside). A
 * busy lock is looked at again a second later. A changed file is parsed
 * with the lock free, by one look at a time, as the watcher does: parsed
 * under the lock, 100,000 users stalled every session for the parse.
 */
enum user_fresh
userdb_recheck_nowait(struct userdb *db, const struct user *u, uint64_t *gen)
{
	enum user_fresh v;
	struct stat st;
	int changed;

	if (db->path[0] == '\0' || pthread_mutex_trylock(&db->lock) != 0)
		return USER_SAME;
	changed = stat(db->path, &st) == 0 && !same_file(&st, &db->seen) &&
	    still_enough(db, &st);
	pthread_mutex_unlock(&db->lock);
	if (changed && atomic_exchange(&db->nowait_parsing, 1) == 0) {
		refresh_unlocked(db, 0);
		atomic_store(&db->nowait_parsing, 0);
	}
	if (pthread_mutex_trylock(&db->lock) != 0)
		return USER_SAME;
	v = compare_locked(db, u, gen);
	pthread_mutex_unlock(&db->lock);
	return v;
}

/*
 * The watcher's look, once a second: a changed file is parsed with the lock
 * free, as SIGHUP's reload does, so logins go on meanwhile (100,000 users
 * take seconds). A login that sees the change during the parse reads the
 * file itself, as it must, and this parse is dropped. The set installed is
 * the server's, which the watcher then takes (userdb_users): they once
 * read the file each for itself, and an edit followed within a second by
 * a broken one left the watcher on the users before both.
 */
/* userdb_refresh's work; may_block 0: a busy lock is not waited for,
 * the look is left for the next one. */
static void
refresh_unlocked(struct userdb *db, int may_block)
{
	struct user_set *set, *old = NULL;
	struct stat st;
	uint64_t gen;
	int unopened;

	if (db->path[0] == '\0')
		return;
	if (may_block)
		pthread_mutex_lock(&db->lock);
	else if (pthread_mutex_trylock(&db->lock) != 0)
		return;
	/* A file still being written is looked at again next time: the
	 * watcher's thread does not wait for it (its events would). */
	if (stat(db->path, &st) < 0 || same_file(&st, &db->seen) ||
	    !still_enough(db, &st)) {
		pthread_mutex_unlock(&db->lock);
		return;
	}
	gen = db->gen;
	pthread_mutex_unlock(&db->lock);
	set = load_file(db, &st, &unopened, 1);
	/* A transfer does not wait for a command reading the file under the
	 * lock: that one installs what it reads, this parse is dropped. */
	if (may_block)
		pthread_mutex_lock(&db->lock);
	else if (pthread_mutex_trylock(&db->lock) != 0) {
		users_set_free(set);
		return;
	}
	if (db->gen != gen)
		old = set; /* installed meanwhile */
	else if (set != NULL)
		old = install_locked(db, set, &st);
	else if (!unopened)
		db->seen = st; /* broken: read again once it changes */
	pthread_mutex_unlock(&db->lock);
	users_set_free(old);
}

void
userdb_refresh(struct userdb *db)
{
	refresh_unlocked(db, 1);
}

struct user_set *
userdb_users(struct userdb *db, uint64_t *gen)
{
	struct user_set *set = NULL;

	pthread_mutex_lock(&db->lock);
	if (db->gen != *gen) {
		set = db->set;
		atomic_fetch_add(&set->refs, 1);
		*gen = db->gen;
	}
	pthread_mutex_unlock(&db->lock);
	return set;
}

enum users_verdict
userdb_verify(struct userdb *db, const char *name, const struct user *u,
    const char *password, int stop_fd)
{
	int ok;

	/* Unknown users probe with the dummy hash: the same digest work,
	 * and an entry left under that name (impossible after a reload's
	 * retain, but cheap to rule out) is bound to another hash and
	 * wiped rather than matched. */
	if (pwcache_check(db->pwcache, name, u != NULL ? u->hash : dummy_hash,
	        password) &&
	    u != NULL)
		return USERS_CACHED;
	ok = users_verify(u, password, stop_fd);
	if (ok == -2)
		return USERS_UNCHECKED;
	if (ok < 0)
		return USERS_STOPPED;
	if (ok == 0)
		return USERS_BAD;
	/* u->hash is the hash argon2id just accepted, so the entry is bound
	 * to it even if users.ini changed meanwhile (the next reload's
	 * retain, or the binding itself, then rules it out). */
	pwcache_store(db->pwcache, u->name, u->hash, password);
	return USERS_HASHED;
}
