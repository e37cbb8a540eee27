/*
 * privdrop.c - see privdrop.h.
 *
 * Order matters and is fixed here: look the account up, hand it the queue
 * files, load the home list (users.ini is root's to read until now), then
 * initgroups, setgid, setuid - groups and gid first, while we still may -
 * and prove the drop took: every uid/gid of every thread is run_as's and
 * setuid(0) fails. Only then are users.ini and the homes checked, with
 * faccessat(AT_EACCESS) as the dropped user, so the warnings say what
 * run_as really can do (ACLs and all). This file never changes ownership
 * of a home: files uploaded after the drop belong to run_as anyway, and a
 * recursive chown of an admin's folders is not ours to do.
 */
#include "server/privdrop.h"

#include "common/buf.h"
#include "common/log.h"
#include "common/numparse.h"
#include "common/users.h"
#include "common/users_source.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Homes named in warnings before the rest are only counted. */
#define HOME_WARNINGS_MAX 20

int
privdrop_lookup(
    const char *name, struct privdrop_user *out, char *err, size_t errlen)
{
	struct passwd pw, *res = NULL;
	long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
	size_t len = hint > 0 ? (size_t)hint : 16384;
	char *buf = NULL;
	int e = 0, rc = -1;

	for (;;) {
		char *nb = realloc(buf, len);

		if (nb == NULL) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		buf = nb;
		e = getpwnam_r(name, &pw, buf, len, &res);
		if (e != ERANGE || len >= 1024 * 1024)
			break;
		len *= 2;
	}
	if (res == NULL) {
		/* Not found is 0 (or ENOENT/ESRCH from some NSS modules). */
		if (e == 0 || e == ENOENT || e == ESRCH)
			snprintf(err, errlen,
			    "no user '%s' in the passwd database", name);
		else
			snprintf(err, errlen, "cannot look up user '%s': %s",
			    name, strerror(e));
		goto out;
	}
	if (pw.pw_uid == 0) {
		snprintf(err, errlen,
		    "user '%s' has uid 0: name an unprivileged account", name);
		goto out;
	}
	out->uid = pw.pw_uid;
	out->gid = pw.pw_gid;
	rc = 0;
out:
	free(buf);
	return rc;
}

/*
 * main.c starts the mirror before the listeners, so its queue was opened
 * (and perhaps created) by root. The open connection keeps working after
 * the drop, but the database and its WAL companions (SQLite names them
 * PATH-wal and PATH-shm) must belong to run_as so that any later open as
 * run_as works; SQLite run as root (`mirror status`) gives new companions
 * the database's owner, so this stays true. The folder is left alone: it
 * usually holds relayftpd.ini and users.ini, and a folder run_as could
 * write would let a compromised daemon replace them. AT_SYMLINK_NOFOLLOW:
 * a link planted in that folder cannot make root chown something else.
 */
static void
hand_over_queue(const struct config *cfg, const struct privdrop_user *u)
{
	static const char *const suffix[] = { "", "-wal", "-shm" };

	if (cfg->mirror.ntargets == 0)
		return; /* no mirror, no queue opened */
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		char p[PATH_MAX];
		int n = snprintf(
		    p, sizeof(p), "%s%s", cfg->mirror.queue, suffix[i]);

		if (n < 0 || (size_t)n >= sizeof(p))
			continue;
		n = fchownat(AT_FDCWD, p, u->uid, u->gid, AT_SYMLINK_NOFOLLOW);
		if (n < 0 && errno != ENOENT)
			log_warn("cannot give the mirror queue file %s to "
			         "run_as %s: %s (the running daemon keeps "
			         "its open descriptors; a later open as %s "
			         "may fail)",
			    p, cfg->run_as, strerror(errno), cfg->run_as);
	}
}

/* Reads "Uid:" or "Gid:" (key) of a /proc status file: all four ids
 * (real, effective, saved, filesystem) must equal want. 1 if they do, 0
 * if not, -1 if the line is missing or unreadable. */
static int
status_ids_are(const char *path, const char *key, unsigned long want)
{
	FILE *f = fopen(path, "re");
	char line[256];
	int rc = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		const char *cur;
		char item[32];
		uint64_t id;
		int n = 0;

		if (strncmp(line, key, strlen(key)) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		cur = line + strlen(key);
		rc = 1;
		while (parse_list_next(&cur, item, sizeof(item)) == 1) {
			if (parse_u64(item, UINT32_MAX, &id) < 0) {
				rc = -1;
				break;
			}
			if (id != want)
				rc = 0;
			n++;
		}
		if (rc == 1 && n != 4)
			rc = -1;
		break;
	}
	fclose(f);
	return rc;
}

/* glibc applies setuid/setgid/setgroups to every thread it made (the
 * mirror's and curl's run already); a thread made some other way would
 * keep root. Each thread in /proc/self/task must show the new ids. */
static int
verify_threads(const struct privdrop_user *u)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int rc = 0;

	if (d == NULL) {
		log_warn("cannot check the threads' ids after dropping "
		         "root: /proc/self/task: %s",
		    strerror(errno));
		return 0;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		char path[sizeof(de->d_name) + 32];

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/status",
		    de->d_name);
		if (status_ids_are(path, "Uid:", u->uid) == 0 ||
		    status_ids_are(path, "Gid:", u->gid) == 0) {
			log_err("thread %s kept its old ids after the drop",
			    de->d_name);
			rc = -1;
		}
		/* -1: the thread ended meanwhile; nothing to check. */
	}
	closedir(d);
	return rc;
}

static int
drop_to(const char *name, const struct privdrop_user *u)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;

	if (initgroups(name, u->gid) < 0) {
		log_err("run_as %s: initgroups: %s", name, strerror(errno));
		return -1;
	}
	if (setgid(u->gid) < 0) {
		log_err("run_as %s: setgid(%u): %s", name, (unsigned)u->gid,
		    strerror(errno));
		return -1;
	}
	if (setuid(u->uid) < 0) {
		log_err("run_as %s: setuid(%u): %s", name, (unsigned)u->uid,
		    strerror(errno));
		return -1;
	}
	/* Permanent means real, effective and saved ids all changed, so
	 * nothing is left to switch back to. */
	if (getresuid(&r, &e, &s) < 0 || getresgid(&rg, &eg, &sg) < 0 ||
	    r != u->uid || e != u->uid || s != u->uid || rg != u->gid ||
	    eg != u->gid || sg != u->gid) {
		log_err("run_as %s: the ids did not all change", name);
		return -1;
	}
	if (setuid(0) == 0 || (u->gid != 0 && setgid(0) == 0)) {
		log_err(
		    "run_as %s: root could be regained after the drop", name);
		return -1;
	}
	return verify_threads(u);
}

/* Whether this process can use path with mode. A home not made yet is
 * created at its user's first login: then its nearest existing ancestor
 * must let us create folders in it. */
static int
can_use(const char *path, int mode)
{
	char p[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(p))
		return 0;
	memcpy(p, path, n + 1);
	for (;;) {
		char *slash;

		if (faccessat(AT_FDCWD, p, mode, AT_EACCESS) == 0)
			return 1;
		if (errno != ENOENT)
			return 0;
		slash = strrchr(p, '/');
		if (slash == NULL || slash == p)
			return 0; /* "/" exists: ENOENT cannot reach here */
		*slash = '\0';
		mode = W_OK | X_OK;
	}
}

/* Warnings only: the server still serves the users whose homes work. */
static void
check_access(const struct config *cfg, const struct user_set *set)
{
	size_t bad = 0;

	if (users_source_is_file(cfg) &&
	    faccessat(AT_FDCWD, cfg->users_file, R_OK, AT_EACCESS) < 0)
		log_warn("run_as %s cannot read %s (%s): SIGHUP and on-change "
		         "reloads will fail and keep the users loaded at "
		         "start; make it readable by %s",
		    cfg->run_as, cfg->users_file, strerror(errno), cfg->run_as);
	for (size_t i = 0; set != NULL && i < users_set_count(set); i++) {
		struct user u;
		int writes, mode;

		users_set_get(set, i, &u);
		writes = (u.perms & (unsigned)~PERM_READ) != 0;
		mode = R_OK | X_OK | (writes ? W_OK : 0);
		if (can_use(u.home, mode))
			continue;
		if (++bad <= HOME_WARNINGS_MAX)
			log_warn("home %s of user [%s] is not %s by run_as "
			         "%s: that user's logins or uploads will "
			         "fail until it is (relayftpd does not chown "
			         "homes)",
			    u.home, u.name,
			    writes ? "readable and writable" : "readable",
			    cfg->run_as);
	}
	if (bad > HOME_WARNINGS_MAX)
		log_warn("... and %zu more homes run_as %s cannot use",
		    bad - HOME_WARNINGS_MAX, cfg->run_as);
}

int
privdrop_apply(const struct config *cfg)
{
	struct privdrop_user u;
	struct user_set *set;
	struct buf errs;
	char err[256];
	int rc = -1;

	if (cfg->run_as[0] == '\0') {
		if (geteuid() == 0)
			log_warn("running as root without run_as: sessions "
			         "and the mirror keep all of root's rights and "
			         "uploads belong to root; set run_as in "
			         "[server] to drop to an unprivileged user "
			         "once the ports are bound");
		return 0;
	}
	if (privdrop_lookup(cfg->run_as, &u, err, sizeof(err)) < 0) {
		log_err("run_as = %s: %s", cfg->run_as, err);
		return -1;
	}
	if (geteuid() != 0 && geteuid() != u.uid) {
		log_err("run_as = %s (uid %u), but relayftpd runs as uid %u, "
		        "not root, and cannot switch users: start it as root "
		        "or as %s, or remove run_as",
		    cfg->run_as, (unsigned)u.uid, (unsigned)geteuid(),
		    cfg->run_as);
		return -1;
	}
	/* As root, before the drop: the file may be readable by root only. */
	buf_init(&errs, 64 * 1024);
	set = users_source_load(cfg, &errs);
	buf_free(&errs);
	if (geteuid() == 0) {
		hand_over_queue(cfg, &u);
		if (drop_to(cfg->run_as, &u) < 0)
			goto out;
		log_info("dropped root: running as %s (uid %u, gid %u)",
		    cfg->run_as, (unsigned)u.uid, (unsigned)u.gid);
	}
	check_access(cfg, set);
	rc = 0;
out:
	if (set != NULL)
		users_set_free(set);
	return rc;
}
