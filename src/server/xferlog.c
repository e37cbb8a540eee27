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
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct xferlog {
	int fd;
	char path[PATH_MAX]; /* for xferlog_reopen */
	/* A full disk: whether the file ends in a cut record, and the
	 * records lost since the last one written (append_record). */
	atomic_int cut;
	atomic_uint lost;
};

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
	atomic_init(&x->cut, 0);
	atomic_init(&x->lost, 0);
	x->fd = log_open_append(path);
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
	fd = log_open_append(x->path);
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
	atomic_store(&x->cut, 0); /* a new file: nothing of it is cut */
	log_info("xferlog %s reopened", x->path);
	return 0;
}

/*
 * Appends one record. A full disk (or a file size limit) wrote part of a
 * record, to which the next one was glued, or none, and the records were
 * lost without a word (found by fault injection). Now a cut record is
 * ended before the next (log_append), and the loss is said in the log:
 * at the first record lost, and how many once one is written again (the
 * xferlog itself holds records only, for the tools that read it).
 */
static void
append_record(struct xferlog *x, char *line, size_t len)
{
	ssize_t n = log_append(x->fd, &x->cut, line, len);
	int err = n < 0 ? errno : ENOSPC; /* a short write: no room */
	unsigned lost;

	if (n == (ssize_t)len) {
		lost = atomic_exchange(&x->lost, 0);
		if (lost > 0)
			log_warn("xferlog %s: %u records lost before this one "
			         "(it could not be written: disk full or an "
			         "error)",
			    x->path, lost);
		return;
	}
	if (atomic_fetch_add(&x->lost, 1) == 0)
		log_err("cannot write xferlog %s: %s; its records are lost "
		        "(and counted) until it can be written",
		    x->path, strerror(err));
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
	if (n > 0 && (size_t)n < sizeof(line))
		append_record(x, line, (size_t)n);
}
