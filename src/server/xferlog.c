/*
 * xferlog.c - see xferlog.h. One write(2) per record on an O_APPEND file
 * keeps records whole across session threads. Reopening (SIGUSR1, for
 * logrotate) dup2()s the newly opened file onto the same descriptor, an
 * atomic swap: a session writing at that moment writes to the old file or
 * the new one, never to a closed descriptor, and needs no lock.
 */
#include "server/xferlog.h"

#include "common/buf.h"
#include "common/log.h"
#include "common/users.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct xferlog {
	int fd;
	char path[PATH_MAX]; /* for xferlog_reopen */
};

static int
open_log(const char *path)
{
	return open(
	    path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
}

struct xferlog *
xferlog_open(const char *path)
{
	struct xferlog *x = malloc(sizeof(*x));

	if (x == NULL)
		return NULL;
	if (fmt_fixed(x->path, sizeof(x->path), "%s", path) < 0) {
		free(x);
		errno = ENAMETOOLONG;
		return NULL;
	}
	x->fd = open_log(path);
	if (x->fd < 0) {
		int e = errno;

		free(x);
		errno = e;
		return NULL;
	}
	return x;
}

int
xferlog_reopen(struct xferlog *x)
{
	int fd, e;

	if (x == NULL)
		return 0;
	fd = open_log(x->path);
	if (fd < 0 || dup2(fd, x->fd) < 0) {
		e = errno;
		if (fd >= 0)
			close(fd);
		log_err("cannot reopen xferlog %s: %s (still writing to the "
		        "file opened before)",
		    x->path, strerror(e));
		return -1;
	}
	close(fd);
	log_info("xferlog %s reopened", x->path);
	return 0;
}

void
xferlog_close(struct xferlog *x)
{
	if (x == NULL)
		return;
	close(x->fd);
	free(x);
}

void
xferlog_write(struct xferlog *x, const char *host, const char *user,
    const char *path, uint64_t bytes, double seconds, int ascii, char direction,
    char complete)
{
	char line[8192], when[32], name[4096];
	time_t now = time(NULL);
	struct tm tm;
	size_t i;
	int n;

	if (x == NULL)
		return;
	localtime_r(&now, &tm);
	strftime(when, sizeof(when), "%a %b %e %H:%M:%S %Y", &tm);
	/* Fields are blank-separated: a space in a name becomes '_'. Control
	 * bytes (a tab too), C1 controls and bidirectional overrides become
	 * '?', as in log_file (log_defang): a name holding ESC or VT played
	 * escape sequences on the terminal of whoever read the log, NEL broke
	 * its line and U+202E reordered it. So does a byte that is not part
	 * of valid UTF-8: the log is text. */
	for (i = 0; path[i] != '\0' && i + 1 < sizeof(name); i++)
		name[i] = path[i] == ' ' ? '_' : path[i];
	name[i] = '\0';
	if (path[i] != '\0')
		return; /* never a shorter path in the record */
	log_defang(name, i);
	n = snprintf(line, sizeof(line),
	    "%s %.0f %s %llu %s %c _ %c %c %s ftp 0 * %c\n", when,
	    seconds < 1 ? 1 : seconds, host, (unsigned long long)bytes, name,
	    ascii ? 'a' : 'b', direction,
	    /* xferlog(5)'s access mode: a anonymous, r real. */
	    strcmp(user, USERS_ANON_SECTION) == 0 ? 'a' : 'r', user, complete);
	if (n > 0 && (size_t)n < sizeof(line) &&
	    write(x->fd, line, (size_t)n) < 0)
		return;
}
