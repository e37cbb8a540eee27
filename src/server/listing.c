/*
 * listing.c - see listing.h. Entries are sorted by name (byte order) so a
 * listing is stable between calls, as ls and mirroring clients expect.
 */
#include "server/listing.h"

#include "common/limits.h"
#include "common/pathnorm.h"
#include "common/users.h"
#include "common/fsgate.h"
#include "server/session.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void
mode_string(mode_t m, char out[11])
{
	out[0] = S_ISDIR(m) ? 'd' : S_ISLNK(m) ? 'l' : '-';
	out[1] = (m & S_IRUSR) ? 'r' : '-';
	out[2] = (m & S_IWUSR) ? 'w' : '-';
	out[3] = (m & S_IXUSR) ? 'x' : '-';
	out[4] = (m & S_IRGRP) ? 'r' : '-';
	out[5] = (m & S_IWGRP) ? 'w' : '-';
	out[6] = (m & S_IXGRP) ? 'x' : '-';
	out[7] = (m & S_IROTH) ? 'r' : '-';
	out[8] = (m & S_IWOTH) ? 'w' : '-';
	out[9] = (m & S_IXOTH) ? 'x' : '-';
	out[10] = '\0';
}

static int
add_long(struct buf *out, const struct stat *st, const char *name)
{
	char mode[11], when[32];
	struct tm tm;
	time_t now = time(NULL);

	mode_string(st->st_mode, mode);
	gmtime_r(&st->st_mtime, &tm);
	/* ls: recent files show the time, older (or future) ones the year. */
	if (st->st_mtime > now - 180 * 86400 && st->st_mtime <= now + 3600)
		strftime(when, sizeof(when), "%b %e %H:%M", &tm);
	else
		strftime(when, sizeof(when), "%b %e  %Y", &tm);
	return buf_printf(out, "%s %3lu ftp      ftp      %12llu %s %s\r\n",
	    mode, (unsigned long)st->st_nlink, (unsigned long long)st->st_size,
	    when, name);
}

void
listing_facts(
    struct session *s, const struct stat *st, const char *type, struct buf *out)
{
	unsigned f = s->mlst_facts, p = s->user.perms;

	if (f & FACT_TYPE)
		buf_printf(out, "type=%s;", type);
	if ((f & FACT_SIZE) && !S_ISDIR(st->st_mode))
		buf_printf(out, "size=%llu;", (unsigned long long)st->st_size);
	if (f & FACT_MODIFY) {
		struct tm tm;
		char when[20];

		gmtime_r(&st->st_mtime, &tm);
		strftime(when, sizeof(when), "%Y%m%d%H%M%S", &tm);
		buf_printf(out, "modify=%s;", when);
	}
	if (f & FACT_PERM) {
		/* RFC 3659 7.5.5, from the user's permissions. */
		buf_adds(out, "perm=");
		if (S_ISDIR(st->st_mode)) {
			if (p & PERM_READ)
				buf_adds(out, "el");
			if (p & PERM_WRITE)
				buf_adds(out, "c");
			if (p & PERM_MKDIR)
				buf_adds(out, "m");
			if (p & PERM_DELETE)
				buf_adds(out, "p");
			if (p & PERM_RMDIR)
				buf_adds(out, "d");
		} else {
			if (p & PERM_READ)
				buf_adds(out, "r");
			if (p & PERM_WRITE)
				buf_adds(out, "w");
			if (p & PERM_APPEND)
				buf_adds(out, "a");
			if (p & PERM_DELETE)
				buf_adds(out, "d");
		}
		if (p & PERM_RENAME)
			buf_adds(out, "f");
		buf_adds(out, ";");
	}
	if (f & FACT_UNIQUE)
		buf_printf(out, "unique=%llxU%llx;",
		    (unsigned long long)st->st_dev,
		    (unsigned long long)st->st_ino);
}

static int
add_entry(struct session *s, struct buf *out, enum list_style style,
    const struct stat *st, const char *name, const char *type)
{
	size_t before = out->len;
	int rc = 0;

	switch (style) {
	case LIST_LONG:
		rc = add_long(out, st, name);
		break;
	case LIST_NAMES:
		rc = buf_printf(out, "%s\r\n", name);
		break;
	case LIST_MLSD:
		listing_facts(s, st, type, out);
		rc = buf_printf(out, " %s\r\n", name);
		break;
	}
	if (rc < 0 || out->len == out->max) {
		out->len = before;
		errno = E2BIG;
		return -1;
	}
	return 0;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* stat of an entry, seeing symlinks through only when they stay inside. */
static int
entry_stat(struct session *s, DIR *d, const char *dirpath, const char *name,
    struct stat *st)
{
	char vpath[RFTP_PATH_MAX];

	if (fs_leaf_stat(dirfd(d), name, st) < 0)
		return -1;
	if (!S_ISLNK(st->st_mode))
		return 0;
	if (path_normalize(dirpath, name, strlen(name), vpath, sizeof(vpath)) !=
	    PATH_OK)
		return -1;
	return fs_stat(s->root_fd, vpath, st);
}

int
listing_build(struct session *s, const char *vpath, enum list_style style,
    struct buf *out)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = -1;

	if (fs_stat(s->root_fd, vpath, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		if (style == LIST_MLSD) {
			errno = ENOTDIR;
			return -1;
		}
		return add_entry(s, out, style, &st,
		    style == LIST_NAMES ? path_leaf(vpath) : path_leaf(vpath),
		    "file");
	}
	d = fs_opendir(s->root_fd, vpath);
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    path_is_partial_name(de->d_name))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			char **nn;

			if (ncap > RFTP_LIST_ENTRIES_MAX) {
				errno = E2BIG;
				goto out;
			}
			nn = realloc(names, ncap * sizeof(*nn));
			if (nn == NULL)
				goto out;
			names = nn;
			cap = ncap;
		}
		names[n] = strdup(de->d_name);
		if (names[n] == NULL)
			goto out;
		n++;
	}
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_names);
	if (style == LIST_MLSD &&
	    add_entry(s, out, style, &st, ".", "cdir") < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct stat est;

		if (entry_stat(s, d, vpath, names[i], &est) < 0)
			continue; /* vanished, or a link leading out */
		if (add_entry(s, out, style, &est, names[i],
		        S_ISDIR(est.st_mode)     ? "dir" :
		            S_ISREG(est.st_mode) ? "file" :
		                                   "OS.unix=special") < 0)
			goto out;
	}
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rc;
}
