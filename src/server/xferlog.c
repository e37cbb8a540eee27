/*
 * xferlog.c - see xferlog.h. One write(2) per record on an O_APPEND file
 * keeps records whole across session threads.
 */
#include "server/xferlog.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

struct xferlog {
	int fd;
};

struct xferlog *
xferlog_open(const char *path)
{
	struct xferlog *x = malloc(sizeof(*x));

	if (x == NULL)
		return NULL;
	x->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (x->fd < 0) {
		free(x);
		return NULL;
	}
	return x;
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
	/* Fields are blank-separated: blanks in names become '_'. */
	for (i = 0; path[i] != '\0' && i + 1 < sizeof(name); i++)
		name[i] = (path[i] == ' ' || path[i] == '\t') ? '_' : path[i];
	name[i] = '\0';
	if (path[i] != '\0')
		return; /* never a shorter path in the record */
	n = snprintf(line, sizeof(line),
	    "%s %.0f %s %llu %s %c _ %c r %s ftp 0 * %c\n", when,
	    seconds < 1 ? 1 : seconds, host, (unsigned long long)bytes, name,
	    ascii ? 'a' : 'b', direction, user, complete);
	if (n > 0 && (size_t)n < sizeof(line) &&
	    write(x->fd, line, (size_t)n) < 0)
		return;
}
