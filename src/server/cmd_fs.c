/*
 * cmd_fs.c - names and directories: PWD CWD CDUP MKD RMD DELE RNFR RNTO
 * SIZE MDTM, and file times: MFMT, SITE UTIME and the two-argument MDTM.
 * Each resolves its argument through cmd_path and acts only through
 * fsgate.c. Commands that add, remove or replace a name do it under the
 * account's names lock (quota.h), with the quota and the per-folder entry
 * cap checked and the usage updated inside the same step.
 */
#include "common/stats.h"
#include "common/ftptime.h"
#include "common/log.h"
#include "common/pathnorm.h"
#include "server/cmd_handlers.h"
#include "common/fsgate.h"
#include "server/quota.h"
#include "server/server.h"
#include "server/session.h"
#include "server/upload.h"
#include "server/reply.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* RFC 959 appendix II: a '"' inside a quoted path name is doubled. out
 * of RFTP_PATH_MAX * 2 bytes always holds a quoted vpath; a path that does
 * not fit anyway is refused (-1), never cut. */
static int
quote_path(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *in != '\0'; in++) {
		if (o + 3 > outlen)
			return -1;
		if (*in == '"')
			out[o++] = '"';
		out[o++] = *in;
	}
	out[o] = '\0';
	return 0;
}

HANDLER(cmd_pwd)
{
	char q[RFTP_PATH_MAX * 2];

	(void)arg;
	if (quote_path(s->cwd, q, sizeof(q)) < 0) {
		reply(s, 550, "Current directory name too long to quote.");
		return;
	}
	reply(s, 257, "\"%s\" is the current directory.", q);
}

HANDLER(cmd_cwd)
{
	char vpath[RFTP_PATH_MAX];

	if (cmd_path(s, arg, vpath) < 0)
		return;
	/* A folder run_as may not search is refused here, as chdir(2)
	 * refuses it: it answered 250, and the next LIST or STOR in it
	 * failed (found from outside). */
	if (fs_enter(s->root_fd, vpath) < 0) {
		reply_errno_at(s, 550, arg, vpath, errno);
		return;
	}
	if (session_keep_cwd(s, vpath) < 0) {
		if (errno == ENAMETOOLONG)
			reply(s, 553, "File name too long.");
		else
			reply(s, 451, "Local error: out of memory.");
		return;
	}
	reply(s, 250, "Directory successfully changed.");
}

HANDLER(cmd_cdup)
{
	(void)arg;
	cmd_cwd(s, "..");
}

/* Why a new name is refused; replied once the names lock is released (a
 * reply may block on a slow client). */
enum new_name {
	NEW_OK,
	NEW_FAILED,  /* errno from the filesystem */
	NEW_UNKNOWN, /* the home could not be counted */
	NEW_ENTRIES, /* quota_files reached */
	NEW_FOLDER,  /* max_entries_per_folder reached */
	/* RNTO over a file without the delete permission, or over an empty
	 * folder without rmdir: the replace would remove it. */
	NEW_NEEDS_DELETE,
	NEW_NEEDS_RMDIR,
};

void
cmd_reply_reserved(struct session *s)
{
	reply(s, 553,
	    "File name not allowed: names starting with %s are the server's "
	    "own, for uploads in progress.",
	    RFTP_PARTIAL_PREFIX);
}

static int
resolve(struct session *s, const char *arg, char *vpath, int creates)
{
	enum path_err err;

	err = path_normalize(s->cwd, arg, strlen(arg), vpath, RFTP_PATH_MAX);
	if (err == PATH_OK)
		return 0;
	session_log_capped(s, &s->path_refused, LOG_INFO,
	    "refusals of other paths", "path refused (%s)", path_strerror(err));
	/* An upload in progress is named by its partial, which no client
	 * sees: to read one it does not exist; to make one (RFC 959's 553,
	 * "file name not allowed") the name is the server's. */
	if (err == PATH_ERESERVED && !creates)
		reply(s, 550, "No such file or directory.");
	else if (err == PATH_ERESERVED)
		cmd_reply_reserved(s);
	else
		reply(s, 553, "%s.", path_strerror(err));
	return -1;
}

int
cmd_path(struct session *s, const char *arg, char *vpath)
{
	return resolve(s, arg, vpath, 0);
}

int
cmd_new_path(struct session *s, const char *arg, char *vpath)
{
	return resolve(s, arg, vpath, 1);
}

int
cmd_change_begin(struct session *s, enum change_op op, const char *path,
    const char *new_path, struct change_token *tok)
{
	if (session_change_begin(s, op, path, new_path, tok) == 0)
		return 0;
	reply(s, 451, "Cannot record the %s for mirroring; nothing changed.",
	    session_change_name(op));
	return -1;
}

void
cmd_refuse_folder_full(struct session *s, const char *what, const char *vpath)
{
	session_log_capped(s, &s->quota_refused, LOG_INFO, "quota refusals",
	    "%s%s refused: folder full (max_entries_per_folder %llu)", what,
	    vpath, (unsigned long long)s->user.max_entries_per_folder);
	stats_add(s->srv->stats, STAT_QUOTA_REFUSED, 1);
	reply(s, 552,
	    "Folder full: it may hold at most %llu names; remove some first.",
	    (unsigned long long)s->user.max_entries_per_folder);
}

/* The reply for a refused new name (arg: as the client wrote it). */
static void
refuse_new_name(struct session *s, enum new_name why, const char *arg,
    const char *vpath, int err)
{
	switch (why) {
	case NEW_OK:
		break;
	case NEW_FAILED:
		reply_errno_at(s, 550, arg, vpath, err);
		break;
	case NEW_UNKNOWN:
		session_log_capped(s, &s->home_uncounted, LOG_WARN,
		    "warnings that the home was not counted",
		    "%s refused: the home was not counted completely for "
		    "the quota",
		    vpath);
		stats_add(s->srv->stats, STAT_QUOTA_REFUSED, 1);
		reply(s, 552,
		    "Quota cannot be checked: your home could not be "
		    "counted completely; new names are refused.");
		break;
	case NEW_ENTRIES:
		session_log_capped(s, &s->quota_refused, LOG_INFO,
		    "quota refusals",
		    "%s refused: file quota (quota_files %llu)", vpath,
		    (unsigned long long)s->user.quota_files);
		stats_add(s->srv->stats, STAT_QUOTA_REFUSED, 1);
		reply(s, 552,
		    "Quota exceeded: too many files and folders (at most "
		    "%llu).",
		    (unsigned long long)s->user.quota_files);
		break;
	case NEW_FOLDER:
		cmd_refuse_folder_full(s, "", vpath);
		break;
	case NEW_NEEDS_DELETE:
	case NEW_NEEDS_RMDIR: {
		const char *perm = why == NEW_NEEDS_DELETE ? "delete" : "rmdir";

		session_log_capped(s, &s->perm_refused, LOG_INFO,
		    "permission refusals",
		    "%s refused: it exists, and replacing it needs the %s "
		    "permission",
		    vpath, perm);
		reply(s, 550,
		    "%s: File exists; replacing it needs the %s permission.",
		    arg, perm);
		break;
	}
	}
}

/* Under the names lock: the folder of vpath changed in a way the kept
 * entry count does not follow (quota_folder_forget). */
static void
forget_parent(struct session *s, const char *vpath)
{
	const char *leaf;
	int pfd;

	if (!quota_folders_kept(s->account))
		return;
	pfd = fs_open_parent(s->root_fd, vpath, &leaf);
	if (pfd < 0) {
		/* Out of descriptors, say: none is trusted then. */
		quota_folders_forget_all(s->account);
		return;
	}
	quota_folder_forget(s->account, pfd);
	close(pfd);
}

/* Under the names lock: whether a new name fits in the folder pfd. */
static enum new_name
folder_room(struct session *s, int pfd, struct folder_mark *mark, int *err)
{
	if (quota_folder_has_room(
	        s->account, pfd, s->user.max_entries_per_folder, mark) == 0)
		return NEW_OK;
	*err = errno;
	return errno == EDQUOT ? NEW_FOLDER : NEW_FAILED;
}

HANDLER(cmd_mkd)
{
	char vpath[RFTP_PATH_MAX], q[RFTP_PATH_MAX * 2];
	struct change_token tok;
	struct folder_mark mark;
	const char *leaf;
	enum new_name why = NEW_OK;
	int pfd, err = 0;

	/* The change lock first, then the folder: a rename of the parent
	 * in another session comes wholly before or after this MKD. */
	if (cmd_new_path(s, arg, vpath) < 0 ||
	    cmd_change_begin(s, CHANGE_MKDIR, vpath, NULL, &tok) < 0)
		return;
	pfd = fs_open_parent(s->root_fd, vpath, &leaf);
	if (pfd < 0) {
		err = errno;
		session_change_end(s, &tok, CHANGE_MKDIR, vpath, NULL, 0, 0);
		reply_errno_at(s, 550, arg, vpath, err);
		return;
	}
	/* A folder is an entry like a file: it counts toward quota_files
	 * and its parent's max_entries_per_folder. */
	account_names_lock(s->account);
	if (s->account != NULL && account_known(s->account, NULL, 0) < 0)
		why = NEW_UNKNOWN;
	if (why == NEW_OK)
		why = folder_room(s, pfd, &mark, &err);
	if (why == NEW_OK && s->account != NULL &&
	    account_add_file(s->account, 0) < 0)
		why = NEW_ENTRIES;
	if (why == NEW_OK && mkdirat(pfd, leaf, 0777) < 0) {
		err = errno;
		why = NEW_FAILED;
		if (s->account != NULL)
			account_sub(s->account, 0, 1);
	}
	if (why == NEW_OK)
		quota_folder_changed(s->account, pfd, &mark, 1);
	account_names_unlock(s->account);
	close(pfd);
	session_change_end(
	    s, &tok, CHANGE_MKDIR, vpath, NULL, why == NEW_OK, 0);
	if (why != NEW_OK) {
		refuse_new_name(s, why, arg, vpath, err);
		return;
	}
	slog(s, LOG_INFO, "created folder %s", vpath);
	if (quote_path(vpath, q, sizeof(q)) < 0)
		reply(s, 257, "Directory created.");
	else
		reply(s, 257, "\"%s\" created.", q);
}

HANDLER(cmd_rmd)
{
	char vpath[RFTP_PATH_MAX];
	struct change_token tok;
	int rc, err;

	if (cmd_path(s, arg, vpath) < 0 ||
	    cmd_change_begin(s, CHANGE_RMDIR, vpath, NULL, &tok) < 0)
		return;
	rc = fs_rmdir(s->root_fd, vpath);
	err = errno;
	/* A folder that lists as empty may hold interrupted uploads'
	 * hidden partials, kept for a resume: RMD is the client saying it
	 * wants none of it, and a recursive delete (lftp rm -r) could never
	 * end otherwise. Partials being written stay, and so does the
	 * folder then. Removing them deletes bytes: a user without the
	 * delete permission, which DELE of the name needs, keeps them. */
	if (rc < 0 && err == ENOTEMPTY && (s->user.perms & PERM_DELETE)) {
		struct upload_home h;
		int n;

		session_upload_home(s, &h);
		n = upload_remove_partials_in(&h, vpath);
		if (n > 0) {
			slog(s, LOG_INFO,
			    "removed %d interrupted upload%s in %s for RMD", n,
			    n == 1 ? "" : "s", vpath);
			rc = fs_rmdir(s->root_fd, vpath);
			err = errno;
		} else if (n < 0) {
			err = errno; /* why they stay, not "not empty" */
		}
	}
	session_change_end(s, &tok, CHANGE_RMDIR, vpath, NULL, rc == 0, 0);
	if (rc < 0) {
		reply_errno_at(s, 550, arg, vpath, err);
		return;
	}
	/* Only an empty folder goes: one entry, no bytes. */
	if (s->account != NULL)
		account_sub(s->account, 0, 1);
	account_names_lock(s->account);
	forget_parent(s, vpath);
	account_names_unlock(s->account);
	slog(s, LOG_INFO, "removed folder %s", vpath);
	reply(s, 250, "Directory removed.");
}

/*
 * DELE's removal under the names lock: a file or a link at vpath, never a
 * folder (EISDIR), the final link not followed. 0 with *size and *counted
 * (a regular file: its bytes and entry are released), or -1 with errno.
 * The folder's kept entry count goes down with it (quota.h).
 */
static int
remove_leaf(struct session *s, const char *vpath, uint64_t *size, int *counted)
{
	struct folder_mark mark;
	struct stat st;
	const char *leaf;
	int pfd = fs_open_parent(s->root_fd, vpath, &leaf), rc = -1, err;

	*counted = 0;
	if (pfd < 0)
		return -1;
	if (fs_leaf_stat(pfd, leaf, &st) < 0)
		goto out;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		goto out;
	}
	quota_folder_mark(s->account, pfd, &mark);
	rc = fs_leaf_unlink(pfd, leaf);
	if (rc == 0) {
		quota_folder_changed(s->account, pfd, &mark, -1);
		*counted = S_ISREG(st.st_mode);
		*size = (uint64_t)st.st_size;
	}
out:
	err = errno;
	close(pfd);
	errno = err;
	return rc;
}

HANDLER(cmd_dele)
{
	char vpath[RFTP_PATH_MAX];
	struct upload_home h;
	struct change_token tok;
	uint64_t size = 0;
	int counted, rc, err, gone;

	if (cmd_path(s, arg, vpath) < 0)
		return;
	/* Written ahead under the change lock: a crash right after the
	 * unlink still gets the delete to the targets. Locks in one order
	 * everywhere: the mirror's change lock, then the names lock. */
	if (cmd_change_begin(s, CHANGE_DELETE, vpath, NULL, &tok) < 0)
		return;
	/* Look, remove and account as one step for this user: an upload
	 * publishing over the same name waits, so the file's bytes are
	 * released once, by whoever really removed it. */
	account_names_lock(s->account);
	rc = remove_leaf(s, vpath, &size, &counted);
	err = errno;
	if (rc == 0 && counted && s->account != NULL)
		account_sub(s->account, size, 1);
	account_names_unlock(s->account);
	session_change_end(s, &tok, CHANGE_DELETE, vpath, NULL, rc == 0, 0);
	/* The name's interrupted upload, if any, goes with it; or alone, a
	 * name that holds nothing else (SIZE showed its size for a resume):
	 * then that is what DELE deleted (it answered 550). A folder of the
	 * name keeps it. */
	session_upload_home(s, &h);
	gone = rc == 0 || err == ENOENT ? upload_remove_partial(&h, vpath) : 0;
	if (gone > 0 && rc < 0) {
		slog(
		    s, LOG_INFO, "deleted the interrupted upload of %s", vpath);
		reply(s, 250, "Interrupted upload deleted.");
		return;
	}
	if (gone < 0 && rc < 0 && errno == EBUSY) {
		/* SIZE shows its bytes: "No such file" would contradict it
		 * (README: a partial another session writes answers 450). */
		log_refused_at(s, vpath, "being uploaded by another session");
		reply(s, 450,
		    "%s is being uploaded by another session; "
		    "try later.",
		    arg);
		return;
	}
	if (gone < 0 && rc < 0)
		err = errno; /* the partial was what DELE was for */
	else if (gone < 0 && errno != EBUSY) /* a replace under way */
		slog(s, LOG_WARN,
		    "the interrupted upload of %s could not be removed: %s",
		    vpath, strerror(errno));
	if (rc < 0) {
		reply_errno_at(s, 550, arg, vpath, err);
		return;
	}
	slog(s, LOG_INFO, "deleted %s", vpath);
	reply(s, 250, "File deleted.");
}

HANDLER(cmd_rnfr)
{
	char vpath[RFTP_PATH_MAX];
	const char *leaf;
	struct stat st;
	int pfd;

	if (cmd_path(s, arg, vpath) < 0)
		return;
	pfd = fs_open_parent(s->root_fd, vpath, &leaf);
	if (pfd < 0 || fs_leaf_stat(pfd, leaf, &st) < 0) {
		int err = errno;

		if (pfd >= 0)
			close(pfd);
		reply_errno_at(s, 550, arg, vpath, err);
		return;
	}
	close(pfd);
	if (session_keep_rnfr(s, vpath) < 0) {
		if (errno == ENAMETOOLONG)
			reply(s, 553, "File name too long.");
		else
			reply(s, 451, "Local error: out of memory.");
		return;
	}
	s->have_rnfr = 1;
	reply(s, 350, "Ready for RNTO.");
}

/*
 * Under the names lock, before RNTO: what renaming from over to takes out
 * of the usage (a replaced regular file: its bytes and one entry; a
 * replaced empty folder: one entry), whether the user may remove what it
 * replaces, and whether to lands in another folder that must have room
 * for one more name.
 */
static enum new_name
rename_effect(struct session *s, const char *from, const char *to,
    uint64_t *bytes, uint64_t *entries, int *keep, int *err)
{
	const char *lf, *lt;
	struct stat sf, st, pf, pt;
	int dff = fs_open_parent(s->root_fd, from, &lf);
	int dft = fs_open_parent(s->root_fd, to, &lt);
	enum new_name why = NEW_OK;

	*bytes = *entries = 0;
	if (dff < 0 || dft < 0 || fs_leaf_stat(dff, lf, &sf) < 0 ||
	    fstat(dff, &pf) < 0 || fstat(dft, &pt) < 0) {
		/* The rename itself will fail and say why. */
		goto out;
	}
	if (fs_leaf_stat(dft, lt, &st) == 0) {
		/* The same file under two names: rename(2) does nothing. */
		if (st.st_dev == sf.st_dev && st.st_ino == sf.st_ino)
			goto out;
		/* (A file onto a folder, or a folder onto a file, fails
		 * in rename(2) and says why.) */
		if (S_ISDIR(st.st_mode)) {
			*entries = 1;
			if (S_ISDIR(sf.st_mode) &&
			    !(s->user.perms & PERM_RMDIR))
				why = NEW_NEEDS_RMDIR;
		} else {
			if (S_ISREG(st.st_mode)) {
				*bytes = (uint64_t)st.st_size;
				*entries = 1;
			}
			if (!S_ISDIR(sf.st_mode) &&
			    !(s->user.perms & PERM_DELETE))
				why = NEW_NEEDS_DELETE;
		}
	} else {
		/* Free now: a user who may not remove what would be there
		 * (a folder replaces only a folder, a file what is not one)
		 * keeps one another program makes before the rename. */
		*keep = !(s->user.perms &
		    (S_ISDIR(sf.st_mode) ? PERM_RMDIR : PERM_DELETE));
		if (pf.st_dev != pt.st_dev || pf.st_ino != pt.st_ino)
			why = folder_room(s, dft, NULL, err);
	}
out:
	if (dff >= 0)
		close(dff);
	if (dft >= 0)
		close(dft);
	return why;
}

HANDLER(cmd_rnto)
{
	char vpath[RFTP_PATH_MAX];
	struct change_token tok;
	uint64_t bytes = 0, entries = 0;
	enum new_name why = NEW_OK;
	int err = 0, keep = 0;

	if (!s->have_rnfr) {
		reply(s, 503, "Send RNFR first.");
		return;
	}
	s->have_rnfr = 0;
	if (cmd_new_path(s, arg, vpath) < 0 ||
	    cmd_change_begin(s, CHANGE_RENAME, s->rnfr, vpath, &tok) < 0)
		return;
	account_names_lock(s->account);
	if (strcmp(vpath, s->rnfr) != 0)
		why = rename_effect(
		    s, s->rnfr, vpath, &bytes, &entries, &keep, &err);
	if (why == NEW_OK && fs_rename(s->root_fd, s->rnfr, vpath, keep) < 0) {
		err = errno;
		why = NEW_FAILED;
	}
	if (why == NEW_OK) {
		forget_parent(s, s->rnfr);
		forget_parent(s, vpath);
	}
	if (why == NEW_OK && entries > 0 && s->account != NULL)
		account_sub(s->account, bytes, entries);
	account_names_unlock(s->account);
	session_change_end(
	    s, &tok, CHANGE_RENAME, s->rnfr, vpath, why == NEW_OK, 0);
	if (why != NEW_OK) {
		struct stat st;

		/* The name RNFR gave went away meanwhile (another session
		 * renamed it): say so, not that the new name is missing. */
		if (why == NEW_FAILED && err == ENOENT &&
		    fs_stat(s->root_fd, s->rnfr, &st) < 0 && errno == ENOENT) {
			reply(s, 550,
			    "%s: No such file or directory (gone "
			    "since RNFR).",
			    s->rnfr);
			return;
		}
		/* A folder moved into itself: rename(2)'s EINVAL is the
		 * client's mistake, said as such, not logged as the server's
		 * ("Invalid argument", a warning). */
		if (why == NEW_FAILED && err == EINVAL &&
		    strncmp(vpath, s->rnfr, strlen(s->rnfr)) == 0 &&
		    vpath[strlen(s->rnfr)] == '/') {
			reply(s, 550, "%s: Cannot move a folder into itself.",
			    arg);
			return;
		}
		refuse_new_name(s, why, arg, vpath, err);
		return;
	}
	slog(s, LOG_INFO, "renamed %s to %s", s->rnfr, vpath);
	reply(s, 250, "Rename successful.");
}

HANDLER(cmd_size)
{
	char vpath[RFTP_PATH_MAX];
	struct upload_home h;
	uint64_t size;

	if (cmd_path(s, arg, vpath) < 0)
		return;
	session_upload_home(s, &h);
	if (upload_resume_size(&h, vpath, &size) < 0) {
		if (errno == EINVAL)
			reply_refused_at(
			    s, 550, arg, vpath, "Not a plain file");
		else
			reply_errno_at(s, 550, arg, vpath, errno);
		return;
	}
	reply(s, 213, "%llu", (unsigned long long)size);
}

/*
 * Sets the times of the file patharg names (atime NULL: kept) and tells the
 * mirror. Returns 0 with vpath filled and, if stored is not NULL, the
 * modification time the file system kept (ext4 keeps 1901 to 2446, so
 * 9999 is stored as another time; the reply says that one), or -1 after
 * replying (550 for a missing or non-plain file, 553 for a refused name).
 */
static int
set_file_time(struct session *s, const char *patharg,
    const struct timespec *atime, const struct timespec *mtime, char *vpath,
    struct timespec *stored)
{
	char when[24] = "?", asked[24] = "?";
	struct stat st;
	struct change_token tok;
	int rc, err;

	/* Under the change lock, like every change of a home: the time job
	 * names the file where it is, and is recorded before the reply. */
	if (cmd_path(s, patharg, vpath) < 0 ||
	    cmd_change_begin(s, CHANGE_TIME, vpath, NULL, &tok) < 0)
		return -1;
	rc = fs_set_times(s->root_fd, vpath, atime, mtime);
	err = errno;
	if (session_change_end(s, &tok, CHANGE_TIME, vpath, NULL, rc == 0, 0) <
	    0)
		slog(s, LOG_WARN,
		    "the new time of %s is set here but may not reach the "
		    "targets until the next catch-up",
		    vpath);
	if (rc < 0) {
		if (err == EINVAL || err == EISDIR)
			reply_refused_at(
			    s, 550, patharg, vpath, "Not a plain file");
		else
			reply_errno_at(s, 550, patharg, vpath, err);
		return -1;
	}
	if (fs_stat(s->root_fd, vpath, &st) < 0)
		st.st_mtim = *mtime; /* gone already: say what was set */
	if (ftptime_format(&st.st_mtim, when, sizeof(when)) < 0)
		snprintf(when, sizeof(when), "%s", "?");
	if (st.st_mtim.tv_sec != mtime->tv_sec) {
		if (ftptime_format(mtime, asked, sizeof(asked)) < 0)
			snprintf(asked, sizeof(asked), "%s", "?");
		slog(s, LOG_INFO,
		    "set the modification time of %s to %s: the file system "
		    "kept %s",
		    vpath, asked, when);
	} else
		slog(s, LOG_INFO, "set the modification time of %s to %s",
		    vpath, when);
	if (stored != NULL)
		*stored = st.st_mtim;
	return 0;
}

/* The reply to a time we could not read: 501, naming the format. */
static void
reply_bad_time(struct session *s, const char *verb)
{
	reply(s, 501,
	    "%s: the time must be YYYYMMDDHHMMSS[.sss] in UTC, then the "
	    "path.",
	    verb);
}

/*
 * MDTM path: the modification time (RFC 3659 section 3). MDTM TIME path
 * (ncftp, vsftpd's mdtm_write): sets it; the first token decides, so a
 * file whose name starts with 14 digits and a space is read with MLST.
 */
HANDLER(cmd_mdtm)
{
	char vpath[RFTP_PATH_MAX], when[20];
	struct timespec t;
	const char *path = NULL;
	struct stat st;

	switch (ftptime_lead(arg, 0, &t, &path)) {
	case FTPTIME_OK:
		/* The table asked for read; setting needs write too. */
		if (!(s->user.perms & PERM_WRITE)) {
			session_log_capped(s, &s->perm_refused, LOG_INFO,
			    "permission refusals",
			    "MDTM (set) refused: permission");
			reply(s, 550, "Permission denied.");
			return;
		}
		if (set_file_time(s, path, NULL, &t, vpath, NULL) == 0)
			reply(s, 213, "File modification time set.");
		return;
	case FTPTIME_BAD:
		reply_bad_time(s, "MDTM");
		return;
	case FTPTIME_NOT_A_TIME:
		break;
	}
	if (cmd_path(s, arg, vpath) < 0)
		return;
	if (fs_stat(s->root_fd, vpath, &st) < 0) {
		reply_errno_at(s, 550, arg, vpath, errno);
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		reply_refused_at(s, 550, arg, vpath, "Not a plain file");
		return;
	}
	/* RFC 3659 section 3: always UTC, whole seconds here. */
	t.tv_sec = st.st_mtime;
	t.tv_nsec = 0;
	if (ftptime_format(&t, when, sizeof(when)) < 0) {
		reply(s, 550, "%s: modification time out of range.", arg);
		return;
	}
	reply(s, 213, "%s", when);
}

/* MFMT TIME path (draft-somers-ftp-mfxx section 3): "213 Modify=TIME; path". */
HANDLER(cmd_mfmt)
{
	char vpath[RFTP_PATH_MAX], when[24];
	struct timespec t;
	const char *path = NULL;

	if (ftptime_lead(arg, 0, &t, &path) != FTPTIME_OK) {
		reply_bad_time(s, "MFMT");
		return;
	}
	if (set_file_time(s, path, NULL, &t, vpath, &t) < 0)
		return;
	/* The time kept, which a client compares with its own. */
	if (ftptime_format(&t, when, sizeof(when)) < 0)
		snprintf(when, sizeof(when), "%s", "?");
	reply(s, 213, "Modify=%s; %s", when, path);
}

/*
 * SITE UTIME, both forms clients send: "TIME path" (lftp) and "path ATIME
 * MTIME CTIME UTC" (proftpd's mod_site_misc, pure-ftpd), read from the end
 * so the path may hold spaces. Times may omit the seconds, as proftpd
 * allows. The table in cmd_info.c has checked the write permission.
 */
HANDLER(site_utime)
{
	char vpath[RFTP_PATH_MAX], path[RFTP_PATH_MAX];
	struct timespec at, mt;
	const char *p = NULL;
	size_t plen;
	enum ftptime_err e;

	e = ftptime_utime5(arg, &at, &mt, &plen);
	if (e == FTPTIME_OK) {
		if (plen >= sizeof(path)) {
			reply(s, 553, "File name too long.");
			return;
		}
		memcpy(path, arg, plen);
		path[plen] = '\0';
		if (set_file_time(s, path, &at, &mt, vpath, NULL) == 0)
			reply(s, 200, "SITE UTIME command ok.");
		return;
	}
	if (e == FTPTIME_NOT_A_TIME)
		e = ftptime_lead(arg, FTPTIME_MINUTES_OK, &mt, &p);
	if (e != FTPTIME_OK) {
		reply(s, 501,
		    "Syntax: SITE UTIME YYYYMMDDhhmm[ss] <path> | SITE UTIME "
		    "<path> <atime> <mtime> <ctime> UTC (times in UTC).");
		return;
	}
	if (set_file_time(s, p, NULL, &mt, vpath, NULL) == 0)
		reply(s, 200, "SITE UTIME command ok.");
}
