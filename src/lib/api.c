/*
 * api.c - librelayftpd's public functions (include/relayftpd.h) over the
 * engine (engine.h).
 *
 * Owns: the config builder's entries (kept as given and parsed by the very
 * handlers that read relayftpd.ini and users.ini, so a built config obeys
 * the same rules and gets the same messages), turning internal problems
 * into struct rftpd_error, and the callbacks: the engine's hooks call the
 * program's functions with the public structs. Only the functions marked
 * RFTPD_API leave the shared library (-fvisibility=hidden elsewhere).
 */
#include "relayftpd.h"

#include "admin/status.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/fsgate.h"
#include "common/hash.h"
#include "common/inifile.h"
#include "common/log.h"
#include "common/mirror_view.h"
#include "common/stats.h"
#include "common/users.h"
#include "common/users_source.h"
#include "lib/engine.h"
#include "server/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RFTPD_API __attribute__((visibility("default")))

/* What a built config's problems are reported under (users_source.c
 * reports its users under the same name). */
#define BUILT_NAME "rftpd_config"

_Static_assert(RFTPD_PERM_READ == PERM_READ && RFTPD_PERM_WRITE == PERM_WRITE &&
        RFTPD_PERM_APPEND == PERM_APPEND && RFTPD_PERM_DELETE == PERM_DELETE &&
        RFTPD_PERM_RENAME == PERM_RENAME && RFTPD_PERM_MKDIR == PERM_MKDIR &&
        RFTPD_PERM_RMDIR == PERM_RMDIR && RFTPD_PERM_RW == PERM_RW,
    "the public permission bits are users.h's");
_Static_assert((int)RFTPD_LOG_ERROR == (int)LOG_ERR &&
        (int)RFTPD_LOG_WARN == (int)LOG_WARN &&
        (int)RFTPD_LOG_INFO == (int)LOG_INFO &&
        (int)RFTPD_LOG_DEBUG == (int)LOG_DEBUG,
    "the public log levels are log.h's");

/* Entries as given: e is what the parsers read, s owns its strings
 * (section, key, value of e[i] at s[3i..3i+2]). */
struct entries {
	struct inifile_entry *e;
	char **s;
	size_t n, cap;
};

struct rftpd_config {
	int loaded;        /* from a file: cfg holds it, entries unused */
	struct config cfg; /* loaded */
	struct entries server, users;
	int calls; /* set/add_user calls so far: an entry's "line" */
};

/* Lines logged while a server is made (rftpd_server_new), before its log
 * callback can be set, kept for it and given to it at the start: the
 * file descriptor limit raised, or too low for max_clients (a host then
 * saw 421s with no line saying why; found from outside). */
#define EARLY_LINES_MAX 16

struct early_line {
	enum log_level level;
	char *text;
};

struct rftpd_server {
	struct engine *e;
	struct config cfg;
	struct entries users; /* cfg.user_entries points here */
	struct rftpd_callbacks cb;
	struct log_route route;
	struct server_auth auth;
	struct server_notice notice;
	struct early_line early[EARLY_LINES_MAX];
	size_t nearly;
	int started, stopped;
};

/* ------------------------------------------------------------ errors */

/*
 * Fills err from problems text ("FILE:LINE: key 'K': reason" lines). The
 * first line's FILE is recognised only as one of files (the names a check
 * reports under), so an address ("cannot listen on 127.0.0.1:21") or an
 * OpenSSL code is never taken for a file and a line.
 */
static void
error_set(struct rftpd_error *err, const char *text, const char *const *files,
    size_t nfiles)
{
	size_t end = strcspn(text, "\n"), n, fl = 0, d;
	int line = 0;
	const char *k;

	if (err == NULL)
		return;
	memset(err, 0, sizeof(*err));
	/* Cut, not emptied: fmt_fixed leaves nothing of a text too long
	 * (200 unknown keys came back as no message at all). */
	n = strlen(text);
	if (n < sizeof(err->message))
		memcpy(err->message, text, n + 1);
	else {
		memcpy(err->message, text, sizeof(err->message) - 4);
		memcpy(err->message + sizeof(err->message) - 4, "...", 4);
	}
	/* The longest name that opens the text: a path may hold another
	 * name, or ":12:", itself. */
	for (size_t i = 0; i < nfiles; i++) {
		size_t len = files[i] != NULL ? strlen(files[i]) : 0;

		if (len > fl && len < end && len < sizeof(err->file) &&
		    text[len] == ':' && strncmp(text, files[i], len) == 0)
			fl = len;
	}
	if (fl == 0)
		return; /* a message alone: no file, line or key */
	memcpy(err->file, text, fl);
	/* Digits then ':' are the line; at most 9 of them. */
	d = fl + 1;
	while (d < end && d < fl + 10 && text[d] >= '0' && text[d] <= '9')
		line = line * 10 + (text[d++] - '0');
	if (d > fl + 1 && d < end && text[d] == ':')
		err->line = line;
	k = strstr(text + fl, "key '");
	if (k != NULL && (size_t)(k - text) < end) {
		k += 5;
		n = strcspn(k, "'\n");
		if (n < sizeof(err->key) && k[n] == '\'')
			memcpy(err->key, k, n);
	}
}

/* Fills err with a config's problems: FILE is its path, its users file,
 * the path it was given, or the builder's name. */
static void
error_config(struct rftpd_error *err, const char *text,
    const struct config *cfg, const char *given)
{
	const char *files[] = { cfg->path, cfg->users_file, given, BUILT_NAME };

	error_set(err, text, files, sizeof(files) / sizeof(files[0]));
}

/* Fills err with a problem that names no file. */
#define error_plain(err, text) error_set((err), (text), NULL, 0)

/* ------------------------------------------------------------ entries */

static void
entries_free(struct entries *es)
{
	for (size_t i = 0; i < 3 * es->n; i++)
		free(es->s[i]);
	free(es->s);
	free(es->e);
	memset(es, 0, sizeof(*es));
}

static int
entries_add(struct entries *es, const char *section, const char *key,
    const char *value, int line)
{
	char **str;

	if (es->n == es->cap) {
		size_t cap = es->cap ? es->cap * 2 : 16;
		struct inifile_entry *ne = realloc(es->e, cap * sizeof(*ne));
		char **ns;

		if (ne == NULL)
			return -1;
		es->e = ne;
		ns = realloc(es->s, 3 * cap * sizeof(*ns));
		if (ns == NULL)
			return -1;
		es->s = ns;
		es->cap = cap;
	}
	str = &es->s[3 * es->n];
	str[0] = strdup(section);
	str[1] = strdup(key);
	str[2] = strdup(value);
	if (str[0] == NULL || str[1] == NULL || str[2] == NULL) {
		free(str[0]);
		free(str[1]);
		free(str[2]);
		return -1;
	}
	es->e[es->n].section = str[0];
	es->e[es->n].key = str[1];
	es->e[es->n].value = str[2];
	es->e[es->n].line = line;
	es->n++;
	return 0;
}

static int
entries_copy(struct entries *dst, const struct entries *src)
{
	memset(dst, 0, sizeof(*dst));
	for (size_t i = 0; i < src->n; i++) {
		const struct inifile_entry *e = &src->e[i];

		if (entries_add(dst, e->section, e->key, e->value, e->line) <
		    0) {
			entries_free(dst);
			return -1;
		}
	}
	return 0;
}

/* Whether es sets key in section. */
static int
has_entry(const struct entries *es, const char *section, const char *key)
{
	for (size_t i = 0; i < es->n; i++)
		if (strcmp(es->e[i].section, section) == 0 &&
		    strcmp(es->e[i].key, key) == 0)
			return 1;
	return 0;
}

/* ------------------------------------------------------------ config */

RFTPD_API const char *
rftpd_version(void)
{
	return RELAYFTPD_VERSION;
}

/*
 * The config c stands for, checked as `relayftpd check` checks the
 * daemon's, into *out; built users' entries are those of users (which
 * must outlive out). 0, or -1 with every problem in errs. warns gets
 * what the daemon's start warns of a valid config; NULL for the check,
 * which, as `relayftpd check`, refuses some of that (an exec: target's
 * program that is not there).
 */
static int
config_build(const struct rftpd_config *c, const struct entries *users,
    struct config *out, struct buf *errs, struct buf *warns)
{
	struct user_set *set;
	int rc;

	if (c->loaded) {
		/* rftpd_config_load checks its own cfg in place. */
		if (out != &c->cfg)
			*out = c->cfg;
	} else {
		if (config_load_entries(
		        BUILT_NAME, c->server.e, c->server.n, out, errs) < 0)
			return -1;
		if (out->users_file[0] != '\0' && users->n > 0) {
			inifile_error(errs, BUILT_NAME, users->e[0].line,
			    "users_file",
			    "[server] users_file and rftpd_config_add_user "
			    "both give users: use one");
			return -1;
		}
		out->user_entries = users->e;
		out->nuser_entries = users->n;
		if (out->mirror.ntargets > 0 &&
		    !has_entry(&c->server, "mirror", "queue")) {
			/* Its default is the working directory, which may be
			 * a home, or a second server's. */
			inifile_error(errs, BUILT_NAME,
			    out->mirror.targets[0].line, "queue",
			    "a built config with targets needs [mirror] queue "
			    "(a path of this server's own)");
			return -1;
		}
	}
	rc = engine_check_config(out, errs);
	/* As the daemon's check and start: a queue or xferlog whose folder
	 * is missing passed rftpd_config_check, then failed
	 * rftpd_server_new or _start with no key named (found from
	 * outside). log_file is the daemon's alone, and an existing queue
	 * is not opened: another server here may hold its locks. */
	if (config_check_outfiles(out, 0, errs) > 0)
		rc = -1;
	/* An exec: target's program: refused by the check, as by
	 * `relayftpd check`; said by a start, which goes on as the
	 * daemon's does. */
	if (config_targets_check_files(
	        out, warns != NULL ? warns : errs, warns != NULL) > 0 &&
	    warns == NULL)
		rc = -1;
	set = users_source_load(out, errs);
	if (set == NULL)
		return -1;
	if (engine_check_users(out, set, errs) < 0)
		rc = -1;
	else if (rc == 0 && warns != NULL)
		engine_warn_users(out, set, warns);
	users_set_free(set);
	return rc;
}

RFTPD_API rftpd_config *
rftpd_config_load(const char *path, struct rftpd_error *err)
{
	struct rftpd_config *c;
	struct buf errs;

	if (path == NULL) {
		error_plain(err, "rftpd_config_load: no path");
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		error_plain(err, "out of memory");
		return NULL;
	}
	c->loaded = 1;
	buf_init(&errs, 1024 * 1024);
	if (config_load(path, &c->cfg, &errs) < 0 ||
	    config_build(c, &c->users, &c->cfg, &errs, NULL) < 0) {
		error_config(err, buf_str(&errs), &c->cfg, path);
		buf_free(&errs);
		free(c);
		return NULL;
	}
	buf_free(&errs);
	return c;
}

RFTPD_API rftpd_config *
rftpd_config_new(void)
{
	return calloc(1, sizeof(struct rftpd_config));
}

/* One set call's entry into es (cfg's server or users entries), its
 * line the call's number. */
static int
config_append(rftpd_config *cfg, struct entries *es, const char *section,
    const char *key, const char *value)
{
	if (cfg == NULL || section == NULL || key == NULL || value == NULL ||
	    cfg->loaded) {
		errno = cfg != NULL && cfg->loaded ? EPERM : EINVAL;
		return -1;
	}
	if (entries_add(es, section, key, value, ++cfg->calls) < 0) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

RFTPD_API int
rftpd_config_set(
    rftpd_config *cfg, const char *section, const char *key, const char *value)
{
	return config_append(
	    cfg, cfg != NULL ? &cfg->server : NULL, section, key, value);
}

RFTPD_API int
rftpd_config_add_user(rftpd_config *cfg, const char *name, const char *password,
    const char *home, const char *permissions)
{
	char hash[256];
	const char *pw = password;
	int line;

	if (cfg == NULL || name == NULL || password == NULL || home == NULL ||
	    permissions == NULL || cfg->loaded) {
		errno = cfg != NULL && cfg->loaded ? EPERM : EINVAL;
		return -1;
	}
	/* As `relayftpd passwd` and users.ini's one section per user: an
	 * empty password (a setting the program never set) made an account
	 * anyone could log in to, and a second call for a name silently
	 * replaced the first user's password, home and permissions (found
	 * from outside). */
	if (password[0] == '\0') {
		errno = EINVAL;
		return -1;
	}
	/* The header's absolute path: a relative one was resolved against
	 * the working directory at the start, which the program may have
	 * changed since (found from outside). */
	if (home[0] != '/') {
		errno = EINVAL;
		return -1;
	}
	if (has_entry(&cfg->users, name, "password")) {
		errno = EEXIST;
		return -1;
	}
	if (strncmp(password, "$argon2id$", 10) != 0) {
		/* users.ini holds hashes only; a plain password is hashed
		 * as `relayftpd passwd` would. */
		if (users_crypto_init() < 0 ||
		    users_hash_password(password, hash, sizeof(hash)) != 0) {
			errno = ENOMEM;
			return -1;
		}
		pw = hash;
	}
	line = ++cfg->calls;
	if (entries_add(&cfg->users, name, "password", pw, line) < 0 ||
	    entries_add(&cfg->users, name, "home", home, line) < 0 ||
	    entries_add(&cfg->users, name, "permissions", permissions, line) <
	        0) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

RFTPD_API int
rftpd_config_set_user(
    rftpd_config *cfg, const char *name, const char *key, const char *value)
{
	/* One value per key, as users.ini's strict parse has it: a later
	 * call replaced a user's password, home or permissions without a
	 * word (the last one won; found by a review). */
	if (cfg != NULL && name != NULL && key != NULL &&
	    has_entry(&cfg->users, name, key)) {
		errno = EEXIST;
		return -1;
	}
	if (key != NULL && value != NULL && strcmp(key, "password") == 0 &&
	    value[0] == '\0') {
		errno = EINVAL;
		return -1;
	}
	/* Only a user rftpd_config_add_user added (it always sets a
	 * password): a name never added (a typo, a call before add_user)
	 * said 0 and made a user of its own, which the check then refused
	 * as "user [NAME] has no password", far from the call that was
	 * wrong (found by a review). A loaded config's EPERM and a NULL's
	 * EINVAL come first, from config_append. */
	if (cfg != NULL && !cfg->loaded && name != NULL && key != NULL &&
	    value != NULL && !has_entry(&cfg->users, name, "password")) {
		errno = ENOENT;
		return -1;
	}
	return config_append(
	    cfg, cfg != NULL ? &cfg->users : NULL, name, key, value);
}

RFTPD_API int
rftpd_config_check(const rftpd_config *cfg, struct rftpd_error *err)
{
	struct config *out;
	struct buf errs;
	int rc;

	if (cfg == NULL) {
		error_plain(err, "rftpd_config_check: no config");
		return -1;
	}
	out = calloc(1, sizeof(*out));
	if (out == NULL) {
		error_plain(err, "out of memory");
		return -1;
	}
	buf_init(&errs, 1024 * 1024);
	rc = config_build(cfg, &cfg->users, out, &errs, NULL);
	if (rc < 0)
		error_config(err, buf_str(&errs), out, NULL);
	buf_free(&errs);
	free(out);
	return rc;
}

RFTPD_API void
rftpd_config_free(rftpd_config *cfg)
{
	if (cfg == NULL)
		return;
	entries_free(&cfg->server);
	entries_free(&cfg->users);
	free(cfg);
}

/* ------------------------------------------------------------ callbacks */

/* A home joined with a path in it: home (PATH_MAX) + "/a/b" (a client's
 * path, RFTP_PATH_MAX) always fits, so no callback is lost to a cut. */
#define LOCAL_PATH_MAX (PATH_MAX + RFTP_PATH_MAX)

/* home + "/a/b" (vpath is normalised, starts with '/') into a new string,
 * or NULL without memory (logged: the callback is then not made). */
static char *
local_path(const char *home, const char *vpath)
{
	size_t h = strlen(home);
	char *out = malloc(LOCAL_PATH_MAX);

	/* Every trailing '/', the root's own too: a home of "/" gave
	 * "//a/b" (found from outside), a name that is not the file's as
	 * the program would spell it, and that POSIX lets a system read
	 * otherwise. The root's "/" is then vpath's. */
	while (h > 0 && home[h - 1] == '/')
		h--;
	if (out == NULL ||
	    fmt_fixed(out, LOCAL_PATH_MAX, "%.*s%s", (int)h, home,
	        strcmp(vpath, "/") == 0 && h > 0 ? "" : vpath) < 0) {
		log_err("no memory for the local path of %s: a callback is "
		        "not made",
		    vpath);
		free(out);
		return NULL;
	}
	return out;
}

static void
route_line(void *ctx, enum log_level level, const char *line)
{
	struct rftpd_server *s = ctx;

	/* No callback: the program did not ask for its lines. */
	if (s->cb.log != NULL)
		s->cb.log(s->cb.userdata, (enum rftpd_log_level)level, line);
}

RFTPD_API void
rftpd_log_stderr(void *userdata, enum rftpd_log_level level, const char *line)
{
	/* What a write to a stderr that takes no more raises: SIGPIPE (a
	 * pipe whose reader is gone, `prog | logger` after the logger
	 * ended), SIGXFSZ (a file at RLIMIT_FSIZE). Both end a program by
	 * default. */
	static const int sigs[] = { SIGPIPE, SIGXFSZ };
	static const int errs[] = { EPIPE, EFBIG }; /* the write's, of each */
	const struct timespec now = { 0, 0 };
	sigset_t block, old, before, after;
	int raised;

	(void)userdata;
	if (line == NULL || level < RFTPD_LOG_ERROR || level > RFTPD_LOG_DEBUG)
		return;
	/* The library's threads block every signal, but this also runs on
	 * the program's own thread (the lines of rftpd_server_start, _stop,
	 * ...), where a failed write raised SIGPIPE and ended the program
	 * (found by a review). The library may not change a disposition
	 * (relayftpd.h), and MSG_NOSIGNAL is for send(), not write(): so the
	 * two are blocked on this thread for the write, a signal the write
	 * raised is taken back, and the thread's mask is put back. One the
	 * program had pending before stays pending. */
	sigemptyset(&block);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&block, sigs[i]);
	if (pthread_sigmask(SIG_BLOCK, &block, &old) != 0) {
		/* Only for a bad argument, which this is not. */
		log_write((enum log_level)level, "%s", line);
		return;
	}
	if (sigpending(&before) != 0)
		sigemptyset(&before);
	/* The write's own error says whether it raised a signal (EPIPE:
	 * SIGPIPE, EFBIG: SIGXFSZ; log.c leaves errno as the write set
	 * it). sigpending alone did not: it shows the process's pending
	 * signals too, and a SIGPIPE another program sent with kill()
	 * while the write was blocked (a full pipe) was taken as the
	 * write's, and the program's own handler never ran (found by a
	 * review). The write's is directed at this thread, and
	 * sigtimedwait takes a thread's own pending signal before the
	 * process's: the one taken is the write's. */
	errno = 0;
	log_write((enum log_level)level, "%s", line);
	raised = errno;
	if (sigpending(&after) == 0)
		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
			sigset_t one;

			if (raised != errs[i] ||
			    sigismember(&before, sigs[i]) ||
			    !sigismember(&after, sigs[i]))
				continue;
			sigemptyset(&one);
			sigaddset(&one, sigs[i]);
			/* Pending and blocked: taken at once, no wait. */
			(void)sigtimedwait(&one, NULL, &now);
		}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* The grant as the session's user, or -1 (logged) if it cannot be one. */
static int
grant_user(const struct config *cfg, const char *name,
    const struct rftpd_grant *g, struct user *out)
{
	char bad[RFTP_NAME_MAX + 1];

	memset(out, 0, sizeof(*out));
	/* The name names the user's folder on every target, its quota
	 * account and its log lines: users.ini's rule, so "../x" or "a/b"
	 * can never steer a push out of the target's base. */
	if (!users_valid_name(name)) {
		log_warn(
		    "authenticate allowed a user name users.ini would "
		    "refuse (1 to %d of A-Z a-z 0-9 _ . @ -, not . or ..): "
		    "login refused",
		    RFTP_USER_MAX);
		return -1;
	}
	if (memchr(g->home, '\0', sizeof(g->home)) == NULL ||
	    memchr(g->mirror, '\0', sizeof(g->mirror)) == NULL ||
	    g->home[0] != '/') {
		log_warn("authenticate allowed %s without an absolute home "
		         "(or with an unterminated one or mirror list): login "
		         "refused",
		    name);
		return -1;
	}
	/* As users.ini's check: a target name the config lacks (a typo, a
	 * target since removed) sent the user's files nowhere, without a
	 * word (found from outside). */
	if (engine_check_mirror_list(cfg, g->mirror, bad, sizeof(bad)) < 0) {
		log_warn("authenticate allowed %s with a mirror list naming "
		         "no configured target ('%s'): login refused",
		    name, bad);
		return -1;
	}
	if ((g->perms & PERM_RW) == 0) {
		log_warn("authenticate allowed %s without any permission "
		         "(RFTPD_PERM_*): login refused",
		    name);
		return -1;
	}
	/* Each fits (users_valid_name bounds the name; the assertion
	 * below the grant's fields): a failure here is a bug, refused. */
	if (fmt_fixed(out->name, sizeof(out->name), "%s", name) < 0 ||
	    fmt_fixed(out->home, sizeof(out->home), "%s", g->home) < 0 ||
	    fmt_fixed(out->mirror, sizeof(out->mirror), "%s", g->mirror) < 0)
		return -1;
	out->perms = g->perms & PERM_RW;
	out->quota_bytes = g->quota_bytes;
	out->quota_files = g->quota_files;
	out->max_sessions = g->max_sessions;
	out->max_entries_per_folder = RFTP_DEFAULT_FOLDER_ENTRIES;
	out->require_login_tls = -1;
	out->require_data_tls = -1;
	return 0;
}

_Static_assert(sizeof(((struct rftpd_grant *)0)->home) <=
            sizeof(((struct user *)0)->home) &&
        sizeof(((struct rftpd_grant *)0)->mirror) <=
            sizeof(((struct user *)0)->mirror),
    "a grant's home and mirror list fit a user's");

static enum server_auth_verdict
on_authenticate(void *ctx, const char *user, const char *password,
    const char *peer_ip, int tls, struct user *out)
{
	struct rftpd_server *s = ctx;
	struct rftpd_login login = { user, password, peer_ip, tls };
	struct rftpd_grant *g;
	enum rftpd_auth v;
	int ok;

	if (s->cb.authenticate == NULL)
		return SERVER_AUTH_PASS;
	/* Big (a PATH_MAX home): not on a session's small stack. */
	g = calloc(1, sizeof(*g));
	if (g == NULL) {
		log_err("authenticate: out of memory: login refused");
		return SERVER_AUTH_DENY;
	}
	v = s->cb.authenticate(s->cb.userdata, &login, g);
	ok = v == RFTPD_AUTH_ALLOW && grant_user(&s->cfg, user, g, out) == 0;
	free(g);
	if (v == RFTPD_AUTH_PASS)
		return SERVER_AUTH_PASS;
	return ok ? SERVER_AUTH_ALLOW : SERVER_AUTH_DENY;
}

/* The SHA-256 of a file just published in home, read through the gate
 * like every file of a home; 0, or -1 (logged; ECANCELED: the server is
 * stopping, and a digest of a big file would hold the stop for minutes). */
static int
published_sha256(const char *home, const char *vpath,
    const atomic_int *stopping, char hex[HASH_HEX_MAX])
{
	int root = fs_open_root(home, 0), fd = -1, rc = -1;

	if (root >= 0)
		fd = fs_open(root, vpath, O_RDONLY, 0);
	if (fd >= 0)
		rc = hash_fd(fd, HASH_SHA256, 0, UINT64_MAX, stopping, hex);
	if (rc < 0)
		log_warn("SHA-256 of %s not computed for upload_complete: %s",
		    vpath, strerror(errno));
	if (fd >= 0)
		close(fd);
	if (root >= 0)
		close(root);
	return rc;
}

/* Whether vpath in home is a folder now (through the gate). */
static int
is_folder(const char *home, const char *vpath)
{
	int root = fs_open_root(home, 0), folder = 0;
	struct stat st;

	if (root >= 0) {
		folder = fs_stat(root, vpath, &st) == 0 && S_ISDIR(st.st_mode);
		close(root);
	}
	return folder;
}

static void
on_changed(void *ctx, const struct upload_event *ev)
{
	struct rftpd_server *s = ctx;
	char hex[HASH_HEX_MAX];
	char *local = NULL, *new_local = NULL;

	switch (ev->op) {
	case CHANGE_PUT:
		if (s->cb.upload_complete == NULL)
			return;
		local = local_path(ev->home, ev->path);
		if (local != NULL) {
			struct rftpd_upload up = { ev->user, ev->path, local,
				ev->size, NULL, ev->peer };

			if (s->cb.want_sha256 &&
			    published_sha256(ev->home, ev->path,
			        &engine_server(s->e)->stopping, hex) == 0)
				up.sha256 = hex;
			s->cb.upload_complete(s->cb.userdata, &up);
		}
		break;
	case CHANGE_DELETE:
	case CHANGE_RMDIR:
		if (s->cb.file_deleted == NULL)
			return;
		local = local_path(ev->home, ev->path);
		if (local != NULL) {
			struct rftpd_change ch = { ev->user, ev->path, local,
				NULL, NULL, ev->op == CHANGE_RMDIR, ev->peer };

			s->cb.file_deleted(s->cb.userdata, &ch);
		}
		break;
	case CHANGE_RENAME:
		if (s->cb.file_renamed == NULL)
			return;
		local = local_path(ev->home, ev->path);
		new_local = local_path(ev->home, ev->new_path);
		if (local != NULL && new_local != NULL) {
			struct rftpd_change ch = { ev->user, ev->path, local,
				ev->new_path, new_local,
				is_folder(ev->home, ev->new_path), ev->peer };

			s->cb.file_renamed(s->cb.userdata, &ch);
		}
		break;
	case CHANGE_TIME:
	case CHANGE_MKDIR:
		return;
	}
	free(local);
	free(new_local);
}

static void
on_upload_aborted(void *ctx, const char *user, const char *home,
    const char *path, uint64_t received, const char *peer_ip)
{
	struct rftpd_server *s = ctx;
	char *local;

	if (s->cb.upload_aborted == NULL)
		return;
	local = local_path(home, path);
	if (local != NULL) {
		struct rftpd_upload up = { user, path, local, received, NULL,
			peer_ip };

		s->cb.upload_aborted(s->cb.userdata, &up);
	}
	free(local);
}

/* ------------------------------------------------------------ server */

/* Lines logged while a server is made, before its callbacks can be set:
 * kept (struct early_line) for its log callback at the start; its
 * problems are in the error returned; nothing reaches stderr. */
static void
route_early(void *ctx, enum log_level level, const char *line)
{
	struct rftpd_server *s = ctx;

	if (s->nearly == EARLY_LINES_MAX)
		return;
	s->early[s->nearly].text = strdup(line);
	if (s->early[s->nearly].text != NULL)
		s->early[s->nearly++].level = level;
}

static void
early_free(struct rftpd_server *s)
{
	for (size_t i = 0; i < s->nearly; i++)
		free(s->early[i].text);
	s->nearly = 0;
}

RFTPD_API rftpd_server *
rftpd_server_new(const rftpd_config *cfg, struct rftpd_error *err)
{
	const struct log_route *saved = log_route_current();
	struct log_route early;
	struct rftpd_server *s;
	struct engine_opts opts;
	struct buf errs, warns;
	char why[1024];

	if (cfg == NULL) {
		error_plain(err, "rftpd_server_new: no config");
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		error_plain(err, "out of memory");
		return NULL;
	}
	buf_init(&errs, 1024 * 1024);
	buf_init(&warns, 64 * 1024);
	if (entries_copy(&s->users, &cfg->users) < 0) {
		error_plain(err, "out of memory");
		goto fail;
	}
	if (config_build(cfg, &s->users, &s->cfg, &errs, &warns) < 0) {
		error_config(err, buf_str(&errs), &s->cfg, NULL);
		goto fail;
	}
	s->route.fn = route_line;
	s->route.ctx = s;
	s->route.level = s->cfg.log_level;
	s->auth.fn = on_authenticate;
	s->auth.ctx = s;
	s->notice.upload_aborted = on_upload_aborted;
	s->notice.ctx = s;
	memset(&opts, 0, sizeof(opts));
	opts.auth = &s->auth;
	opts.notice = &s->notice;
	opts.changed = on_changed;
	opts.changed_ctx = s;
	early.fn = route_early;
	early.ctx = s;
	early.level = s->cfg.log_level;
	log_route_bind(&early);
	/* As the daemon's start says them (a user [ftp] no login reaches
	 * with anonymous = on): the program's log had no line of them
	 * (found from outside). */
	log_lines(LOG_WARN, "", buf_str(&warns));
	s->e = engine_new(&s->cfg, &opts, why, sizeof(why));
	log_route_bind(saved);
	if (s->e == NULL) {
		error_config(err, why, &s->cfg, NULL);
		goto fail;
	}
	buf_free(&errs);
	buf_free(&warns);
	return s;
fail:
	buf_free(&errs);
	buf_free(&warns);
	early_free(s);
	entries_free(&s->users);
	free(s);
	return NULL;
}

RFTPD_API int
rftpd_server_set_callbacks(
    rftpd_server *srv, const struct rftpd_callbacks *cb, size_t size)
{
	if (srv == NULL || srv->started || (cb == NULL && size > 0)) {
		errno = srv != NULL && srv->started ? EBUSY : EINVAL;
		return -1;
	}
	/* A program built with an older, shorter struct: the fields it
	 * does not know stay NULL. NULL clears them all. */
	memset(&srv->cb, 0, sizeof(srv->cb));
	if (cb != NULL)
		memcpy(&srv->cb, cb,
		    size < sizeof(srv->cb) ? size : sizeof(srv->cb));
	return 0;
}

RFTPD_API int
rftpd_server_start(rftpd_server *srv, struct rftpd_error *err)
{
	const struct log_route *saved = log_route_current();
	char why[1024];
	int rc;

	if (srv == NULL || srv->started) {
		error_plain(err,
		    srv == NULL ? "rftpd_server_start: no server" :
		                  "already started once");
		return -1;
	}
	srv->started = 1;
	/* Every thread it starts inherits this route (thread.h). */
	log_route_bind(&srv->route);
	for (size_t i = 0; i < srv->nearly; i++)
		route_line(srv, srv->early[i].level, srv->early[i].text);
	early_free(srv);
	rc = engine_start(srv->e, why, sizeof(why));
	log_route_bind(saved);
	if (rc < 0) {
		srv->stopped = 1;
		error_plain(err, why);
	}
	return rc;
}

RFTPD_API unsigned
rftpd_server_port_count(const rftpd_server *srv)
{
	if (srv == NULL || !srv->started || srv->stopped)
		return 0;
	return server_nports(engine_server(srv->e));
}

RFTPD_API int
rftpd_server_port(const rftpd_server *srv, unsigned i)
{
	struct sockaddr_storage ss;

	if (srv == NULL || !srv->started || srv->stopped ||
	    server_address(engine_server(srv->e), i, &ss, NULL) < 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

RFTPD_API int
rftpd_server_admin_port(const rftpd_server *srv)
{
	if (srv == NULL || !srv->started || srv->stopped)
		return 0;
	return (int)engine_admin_port(srv->e);
}

RFTPD_API int
rftpd_server_reload(rftpd_server *srv)
{
	const struct log_route *saved = log_route_current();
	int rc;

	if (srv == NULL)
		return -1;
	log_route_bind(&srv->route);
	log_info("reloading %s", users_source_name(&srv->cfg));
	rc = server_reload(engine_server(srv->e));
	log_route_bind(saved);
	return rc;
}

/*
 * 1 when the caller runs inside one of srv's callbacks: on one of its
 * threads (each is bound to its route from birth, thread.h), or on the
 * owner's while srv's start, stop or reload is logging. A stop there
 * would join the very thread it runs on: glibc's pthread_join then fails
 * with EDEADLK, the stop went on freeing the session pool under the
 * running session, and the program crashed (found from outside: a stop
 * in upload_complete, SIGSEGV at the owner's rftpd_server_free).
 */
static int
in_own_callback(const rftpd_server *srv)
{
	return log_route_current() == &srv->route;
}

RFTPD_API void
rftpd_server_stop(rftpd_server *srv)
{
	const struct log_route *saved = log_route_current();

	if (srv == NULL || !srv->started || srv->stopped)
		return;
	if (in_own_callback(srv)) {
		log_err("rftpd_server_stop called from one of this server's "
		        "callbacks: ignored (it cannot wait for the thread it "
		        "runs on); stop it from the program's own thread");
		return;
	}
	srv->stopped = 1;
	log_route_bind(&srv->route);
	engine_stop(srv->e);
	log_route_bind(saved);
}

RFTPD_API void
rftpd_server_free(rftpd_server *srv)
{
	const struct log_route *saved = log_route_current();

	if (srv == NULL)
		return;
	if (in_own_callback(srv)) {
		log_err("rftpd_server_free called from one of this server's "
		        "callbacks: ignored (the server is still running "
		        "there); free it from the program's own thread");
		return;
	}
	rftpd_server_stop(srv);
	log_route_bind(&srv->route);
	engine_free(srv->e);
	log_route_bind(saved);
	early_free(srv); /* never started: nobody asked for them */
	entries_free(&srv->users);
	free(srv);
}

/* ------------------------------------------------------------ mirror */

_Static_assert(
    sizeof(((struct rftpd_target_status *)0)->name) > RFTP_NAME_MAX &&
        sizeof(((struct rftpd_target_status *)0)->url) >=
            sizeof(((struct target_config *)0)->url) &&
        sizeof(((struct rftpd_target_status *)0)->last_error) >=
            sizeof(((struct mirror_target_view *)0)->last_error),
    "a target's name, URL and last error fit the public status");

static int
mirror_status_fill(rftpd_server *srv, struct rftpd_mirror_status *out)
{
	struct mirror_target_view *tv = NULL;
	const struct mirror_view *mv;
	struct stats *st;
	uint64_t c[STAT_NCOUNTERS];
	int64_t g[STAT_NGAUGES];
	size_t nt, nv = 0;
	int have_view = 0;

	if (srv == NULL || out == NULL)
		return -1;
	memset(out, 0, sizeof(*out));
	st = engine_stats(srv->e);
	mv = engine_view(srv->e);
	nt = stats_ntargets(st);
	if (nt > 0) {
		out->targets = calloc(nt, sizeof(*out->targets));
		tv = calloc(nt, sizeof(*tv));
		if (out->targets == NULL || tv == NULL) {
			free(out->targets);
			free(tv);
			out->targets = NULL;
			return -1;
		}
		have_view = srv->started && !srv->stopped &&
		    mv->targets != NULL &&
		    mv->targets(mv->ctx, tv, nt, &nv) == 0;
	}
	for (size_t i = 0; i < nt; i++) {
		struct rftpd_target_status *t = &out->targets[i];
		struct stats_target s;
		const struct mirror_target_view *v = NULL;

		/* The copies below fit (asserted above); a cut would only
		 * shorten what is shown. */
		if (fmt_fixed(t->name, sizeof(t->name), "%s",
		        stats_target_name(st, i)) < 0)
			log_warn("status: target name cut");
		for (size_t k = 0; have_view && k < nv && v == NULL; k++)
			if (strcmp(tv[k].name, t->name) == 0)
				v = &tv[k];
		t->state = "unknown";
		if (v != NULL) {
			if (fmt_fixed(t->url, sizeof(t->url), "%s", v->url) < 0)
				log_warn("status: the URL of %s cut", t->name);
			t->state = mirror_target_state_name(v->state);
			t->queued = v->queued;
			t->running = v->running;
			t->parked = v->parked;
			t->oldest_ms = v->oldest_ms;
			if (fmt_fixed(t->last_error, sizeof(t->last_error),
			        "%s", v->last_error) < 0)
				log_warn(
				    "status: the error of %s cut", t->name);
			t->last_error_ms = v->last_error_ms;
			t->last_ok_ms = v->last_ok_ms;
		}
		stats_target_get(st, i, &s);
		t->attempts = s.c[STAT_T_ATTEMPTS];
		t->successes = s.c[STAT_T_SUCCESSES];
		t->failures = s.c[STAT_T_FAILURES];
		t->bytes_pushed = s.c[STAT_T_BYTES_PUSHED];
	}
	free(tv);
	out->ntargets = nt;
	stats_counters(st, c, g);
	out->logins_ok = c[STAT_LOGINS_OK];
	out->logins_failed = c[STAT_LOGINS_FAILED];
	out->uploads_completed = c[STAT_UPLOADS_COMPLETED];
	out->uploads_aborted = c[STAT_UPLOADS_ABORTED];
	out->upload_bytes = c[STAT_UPLOAD_BYTES];
	out->sessions_open = g[STAT_SESSIONS_OPEN];
	return 0;
}

RFTPD_API int
rftpd_mirror_status(rftpd_server *srv, struct rftpd_mirror_status *out)
{
	const struct log_route *saved = log_route_current();
	int rc;

	if (srv == NULL || out == NULL)
		return -1;
	/* Its log lines (a queue that cannot be read) are this server's. */
	log_route_bind(&srv->route);
	rc = mirror_status_fill(srv, out);
	log_route_bind(saved);
	return rc;
}

RFTPD_API void
rftpd_mirror_status_free(struct rftpd_mirror_status *st)
{
	if (st == NULL)
		return;
	free(st->targets);
	memset(st, 0, sizeof(*st));
}

RFTPD_API int64_t
rftpd_mirror_retry(rftpd_server *srv, const char *target)
{
	const struct log_route *saved = log_route_current();
	const struct mirror_view *mv;
	int64_t n = 0;
	int rc;

	if (srv == NULL || !srv->started || srv->stopped)
		return -1;
	mv = engine_view(srv->e);
	if (mv->retry == NULL)
		return -1;
	log_route_bind(&srv->route);
	rc = mv->retry(mv->ctx, target, &n);
	log_route_bind(saved);
	return rc < 0 ? -1 : n;
}

/* rftpd_status_json and rftpd_status_json_after: the page from offset
 * when after is -1, else past the id after. */
static char *
status_json(rftpd_server *srv, const char *target, int64_t offset,
    int64_t after, size_t limit)
{
	const struct log_route *saved = log_route_current();
	enum status_doc_result rc;
	struct buf b;
	char *doc;
	size_t max_pushes;

	if (srv == NULL || !srv->started || srv->stopped ||
	    limit > STATUS_JOBS_MAX ||
	    (target != NULL &&
	        stats_target_index(engine_stats(srv->e), target) < 0))
		return NULL;
	if (limit == 0)
		limit = STATUS_JOBS_DEFAULT;
	max_pushes = config_push_slots(&srv->cfg);
	buf_init(&b, RFTP_ADMIN_RESPONSE_MAX);
	log_route_bind(&srv->route);
	rc = status_document(engine_stats(srv->e), engine_view(srv->e),
	    max_pushes, target, offset, after, limit, clock_wall_ms(), &b);
	log_route_bind(saved);
	if (rc != STATUS_DOC_OK) {
		buf_free(&b);
		return NULL;
	}
	doc = strdup(buf_str(&b));
	buf_free(&b);
	return doc;
}

RFTPD_API char *
rftpd_status_json(
    rftpd_server *srv, const char *target, int64_t offset, size_t limit)
{
	if (offset < 0)
		return NULL;
	return status_json(srv, target, offset, -1, limit);
}

/* The cursor of GET /api/status?after=ID: the document's next_after was
 * of no use to a program that could only ask by offset, and so pay for
 * the depth of the page. */
RFTPD_API char *
rftpd_status_json_after(
    rftpd_server *srv, const char *target, int64_t after, size_t limit)
{
	if (after < 0)
		return NULL;
	return status_json(srv, target, 0, after, limit);
}

RFTPD_API void
rftpd_free(void *p)
{
	free(p);
}
