/*
 * cmd_fs.c - names and directories: PWD CWD CDUP MKD RMD DELE RNFR RNTO
 * SIZE MDTM. Each resolves its argument through session_path and acts only
 * through fsgate.c.
 */
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
	struct change_token tok;
	int rc, err;

	if (session_path(s, arg, vpath) < 0 ||
	    session_change_begin(s, CHANGE_MKDIR, vpath, NULL, &tok) < 0)
		return;
	rc = fs_mkdir(s->root_fd, vpath, 0777);
	err = errno;
	session_change_end(s, &tok, CHANGE_MKDIR, vpath, NULL, rc == 0, 0);
	if (rc < 0) {
		reply_errno(s, 550, arg, err);
		return;
	}
	quote_path(vpath, q, sizeof(q));
	slog(s, LOG_INFO, "created folder %s", vpath);
	reply(s, 257, "\"%s\" created.", q);
}

HANDLER(cmd_rmd)
{
	char vpath[RFTP_PATH_MAX];
	struct change_token tok;
	int rc, err;

	if (session_path(s, arg, vpath) < 0 ||
	    session_change_begin(s, CHANGE_RMDIR, vpath, NULL, &tok) < 0)
		return;
	rc = fs_rmdir(s->root_fd, vpath);
	err = errno;
	session_change_end(s, &tok, CHANGE_RMDIR, vpath, NULL, rc == 0, 0);
	if (rc < 0) {
		reply_errno(s, 550, arg, err);
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
	struct change_token tok;
	uint64_t size = 0;
	int counted, rc, err;

	if (session_path(s, arg, vpath) < 0)
		return;
	counted = leaf_size(s, vpath, &size) == 0;
	/* Written ahead: a crash right after the unlink still gets the
	 * delete to the targets. */
	if (session_change_begin(s, CHANGE_DELETE, vpath, NULL, &tok) < 0)
		return;
	rc = fs_unlink(s->root_fd, vpath);
	err = errno;
	session_change_end(s, &tok, CHANGE_DELETE, vpath, NULL, rc == 0, 0);
	/* The name's interrupted upload, if any, goes with it. */
	upload_remove_partial(s, vpath);
	if (rc < 0) {
		reply_errno(s, 550, arg, err);
		return;
	}
	if (counted && s->account != NULL)
		account_sub(s->account, size, 1);
	slog(s, LOG_INFO, "deleted %s", vpath);
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
	struct change_token tok;
	uint64_t size = 0;
	int replaced, rc, err;

	if (!s->have_rnfr) {
		reply(s, 503, "Send RNFR first.");
		return;
	}
	s->have_rnfr = 0;
	if (session_path(s, arg, vpath) < 0)
		return;
	replaced =
	    strcmp(vpath, s->rnfr) != 0 && leaf_size(s, vpath, &size) == 0;
	if (session_change_begin(s, CHANGE_RENAME, s->rnfr, vpath, &tok) < 0)
		return;
	rc = fs_rename(s->root_fd, s->rnfr, vpath, 0);
	err = errno;
	session_change_end(s, &tok, CHANGE_RENAME, s->rnfr, vpath, rc == 0, 0);
	if (rc < 0) {
		reply_errno(s, 550, arg, err);
		return;
	}
	if (replaced && s->account != NULL)
		account_sub(s->account, size, 1);
	slog(s, LOG_INFO, "renamed %s to %s", s->rnfr, vpath);
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

HANDLER(cmd_mdtm)
{
	char vpath[RFTP_PATH_MAX], when[20];
	struct stat st;
	struct tm tm;

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
