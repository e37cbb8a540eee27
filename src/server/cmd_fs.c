/*
 * cmd_fs.c - names and directories: PWD CWD CDUP MKD RMD DELE RNFR RNTO
 * SIZE MDTM, and file times: MFMT, SITE UTIME and the two-argument MDTM.
 * Each resolves its argument through session_path and acts only through
 * fsgate.c.
 */
#include "common/ftptime.h"
#include "common/log.h"
#include "server/cmd_handlers.h"
#include "common/fsgate.h"
#include "server/quota.h"
#include "server/session.h"
#include "server/upload.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* RFC 959 appendix II: a '"' inside a quoted path name is doubled. */
static void
quote_path(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *in != '\0' && o + 3 < outlen; in++) {
		if (*in == '"')
			out[o++] = '"';
		out[o++] = *in;
	}
	out[o] = '\0';
}

HANDLER(cmd_pwd)
{
	char q[RFTP_PATH_MAX * 2];

	(void)arg;
	quote_path(s->cwd, q, sizeof(q));
	reply(s, 257, "\"%s\" is the current directory.", q);
}

HANDLER(cmd_cwd)
{
	char vpath[RFTP_PATH_MAX];
	struct stat st;

	if (session_path(s, arg, vpath) < 0)
		return;
	if (fs_stat(s->root_fd, vpath, &st) < 0) {
		reply_errno(s, 550, arg, errno);
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		reply(s, 550, "%s: Not a directory.", arg);
		return;
	}
	snprintf(s->cwd, sizeof(s->cwd), "%s", vpath);
	reply(s, 250, "Directory successfully changed.");
}

HANDLER(cmd_cdup)
{
	(void)arg;
	cmd_cwd(s, "..");
}

HANDLER(cmd_mkd)
{
	char vpath[RFTP_PATH_MAX], q[RFTP_PATH_MAX * 2];

	if (session_path(s, arg, vpath) < 0)
		return;
	if (fs_mkdir(s->root_fd, vpath, 0777) < 0) {
		reply_errno(s, 550, arg, errno);
		return;
	}
	quote_path(vpath, q, sizeof(q));
	slog(s, LOG_INFO, "created folder %s", vpath);
	reply(s, 257, "\"%s\" created.", q);
}

HANDLER(cmd_rmd)
{
	char vpath[RFTP_PATH_MAX];

	if (session_path(s, arg, vpath) < 0)
		return;
	if (fs_rmdir(s->root_fd, vpath) < 0) {
		reply_errno(s, 550, arg, errno);
		return;
	}
	slog(s, LOG_INFO, "removed folder %s", vpath);
	reply(s, 250, "Directory removed.");
}

/* Size of a regular file at vpath without following a final symlink. */
static int
leaf_size(struct session *s, const char *vpath, uint64_t *size)
{
	const char *leaf;
	struct stat st;
	int pfd = fs_open_parent(s->root_fd, vpath, &leaf), rc = -1;

	if (pfd < 0)
		return -1;
	if (fs_leaf_stat(pfd, leaf, &st) == 0 && S_ISREG(st.st_mode)) {
		*size = (uint64_t)st.st_size;
		rc = 0;
	}
	close(pfd);
	return rc;
}

HANDLER(cmd_dele)
{
	char vpath[RFTP_PATH_MAX];
	uint64_t size = 0;
	int counted, rc, err;

	if (session_path(s, arg, vpath) < 0)
		return;
	counted = leaf_size(s, vpath, &size) == 0;
	rc = fs_unlink(s->root_fd, vpath);
	err = errno;
	/* The name's interrupted upload, if any, goes with it. */
	upload_remove_partial(s, vpath);
	if (rc < 0) {
		reply_errno(s, 550, arg, err);
		return;
	}
	if (counted && s->account != NULL)
		account_sub(s->account, size, 1);
	slog(s, LOG_INFO, "deleted %s", vpath);
	session_notify(s, CHANGE_DELETE, vpath, NULL);
	reply(s, 250, "File deleted.");
}

HANDLER(cmd_rnfr)
{
	char vpath[RFTP_PATH_MAX];
	const char *leaf;
	struct stat st;
	int pfd;

	if (session_path(s, arg, vpath) < 0)
		return;
	pfd = fs_open_parent(s->root_fd, vpath, &leaf);
	if (pfd < 0 || fs_leaf_stat(pfd, leaf, &st) < 0) {
		int err = errno;

		if (pfd >= 0)
			close(pfd);
		reply_errno(s, 550, arg, err);
		return;
	}
	close(pfd);
	snprintf(s->rnfr, sizeof(s->rnfr), "%s", vpath);
	s->have_rnfr = 1;
	reply(s, 350, "Ready for RNTO.");
}

HANDLER(cmd_rnto)
{
	char vpath[RFTP_PATH_MAX];
	uint64_t size = 0;
	int replaced;

	if (!s->have_rnfr) {
		reply(s, 503, "Send RNFR first.");
		return;
	}
	s->have_rnfr = 0;
	if (session_path(s, arg, vpath) < 0)
		return;
	replaced =
	    strcmp(vpath, s->rnfr) != 0 && leaf_size(s, vpath, &size) == 0;
	if (fs_rename(s->root_fd, s->rnfr, vpath, 0) < 0) {
		reply_errno(s, 550, arg, errno);
		return;
	}
	if (replaced && s->account != NULL)
		account_sub(s->account, size, 1);
	slog(s, LOG_INFO, "renamed %s to %s", s->rnfr, vpath);
	session_notify(s, CHANGE_RENAME, s->rnfr, vpath);
	reply(s, 250, "Rename successful.");
}

HANDLER(cmd_size)
{
	char vpath[RFTP_PATH_MAX];
	uint64_t size;

	if (session_path(s, arg, vpath) < 0)
		return;
	if (upload_resume_size(s, vpath, &size) < 0) {
		reply_errno(s, 550, arg, errno);
		return;
	}
	reply(s, 213, "%llu", (unsigned long long)size);
}

/*
 * Sets the times of the file patharg names (atime NULL: kept) and tells the
 * mirror. Returns 0 with vpath filled, or -1 after replying (550 for a
 * missing or non-plain file, 553 for a refused name).
 */
static int
set_file_time(struct session *s, const char *patharg,
    const struct timespec *atime, const struct timespec *mtime, char *vpath)
{
	char when[24] = "?";

	if (session_path(s, patharg, vpath) < 0)
		return -1;
	if (fs_set_times(s->root_fd, vpath, atime, mtime) < 0) {
		int err = errno;

		if (err == EINVAL || err == EISDIR)
			reply(s, 550, "%s: Not a plain file.", patharg);
		else
			reply_errno(s, 550, patharg, err);
		return -1;
	}
	if (ftptime_format(mtime, when, sizeof(when)) < 0)
		snprintf(when, sizeof(when), "%s", "?");
	slog(s, LOG_INFO, "set the modification time of %s to %s", vpath, when);
	session_notify(s, CHANGE_TIME, vpath, NULL);
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
	struct tm tm;

	switch (ftptime_lead(arg, 0, &t, &path)) {
	case FTPTIME_OK:
		/* The table asked for read; setting needs write too. */
		if (!(s->user.perms & PERM_WRITE)) {
			slog(s, LOG_INFO, "MDTM (set) refused: permission");
			reply(s, 550, "Permission denied.");
			return;
		}
		if (set_file_time(s, path, NULL, &t, vpath) == 0)
			reply(s, 213, "File modification time set.");
		return;
	case FTPTIME_BAD:
		reply_bad_time(s, "MDTM");
		return;
	case FTPTIME_NOT_A_TIME:
		break;
	}
	if (session_path(s, arg, vpath) < 0)
		return;
	if (fs_stat(s->root_fd, vpath, &st) < 0) {
		reply_errno(s, 550, arg, errno);
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		reply(s, 550, "%s: Not a plain file.", arg);
		return;
	}
	/* RFC 3659 section 3: always UTC. */
	gmtime_r(&st.st_mtime, &tm);
	strftime(when, sizeof(when), "%Y%m%d%H%M%S", &tm);
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
	if (set_file_time(s, path, NULL, &t, vpath) < 0)
		return;
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
		if (set_file_time(s, path, &at, &mt, vpath) == 0)
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
	if (set_file_time(s, p, NULL, &mt, vpath) == 0)
		reply(s, 200, "SITE UTIME command ok.");
}
