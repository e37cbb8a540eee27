/*
 * listing.c - see listing.h. A small folder is listed sorted by name; a
 * big one is streamed in directory order: sorting needs every name in
 * memory at once (a 400,000-entry folder cost 200 MB per unread LIST, and
 * a client can open many).
 */
#include "server/listing.h"

#include "common/limits.h"
#include "common/pathnorm.h"
#include "common/users.h"
#include "common/fsgate.h"
#include "common/log.h"
#include "server/session.h"
#include "server/reply.h"

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

/* A name that would break the line structure of a listing or a reply. */
static int
has_line_break(const char *name)
{
	return strpbrk(name, "\r\n") != NULL;
}

int
listing_open(struct session *s, const char *vpath, enum list_style style,
    struct listing *l)
{
	size_t n = strlen(vpath);

	memset(l, 0, sizeof(*l));
	l->s = s;
	l->style = style;
	if (n >= sizeof(l->vpath)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(l->vpath, vpath, n + 1);
	if (fs_stat(s->root_fd, vpath, &l->st) < 0)
		return -1;
	if (!S_ISDIR(l->st.st_mode)) {
		if (style == LIST_MLSD) {
			errno = ENOTDIR;
			return -1;
		}
	} else {
		l->d = fs_opendir(s->root_fd, vpath);
		if (l->d == NULL)
			return -1;
	}
	buf_init(&l->out, RFTP_LIST_CHUNK);
	return 0;
}

/* Hands what is buffered to the sink. */
static int
flush(struct listing *l, listing_sink sink, void *ctx)
{
	int rc = 0;

	if (l->out.len > 0)
		rc = sink(ctx, l->out.data, l->out.len);
	buf_reset(&l->out);
	return rc;
}

/* Formats one entry, flushing first when the buffer is nearly full. */
static int
put_entry(struct listing *l, listing_sink sink, void *ctx,
    const struct stat *st, const char *name, const char *type)
{
	if (has_line_break(name)) {
		l->skipped++;
		return 0;
	}
	if (add_entry(l->s, &l->out, l->style, st, name, type) == 0)
		return 0;
	/* Full: send what is there and try once more in an empty buffer
	 * (an entry is at most a name of NAME_MAX bytes and its facts). */
	if (flush(l, sink, ctx) < 0)
		return -1;
	return add_entry(l->s, &l->out, l->style, st, name, type);
}

/* One entry by name: stat it and format it. */
static int
put_name(struct listing *l, listing_sink sink, void *ctx, const char *name)
{
	struct stat est;

	if (entry_stat(l->s, l->d, l->vpath, name, &est) < 0)
		return 0; /* vanished, or a link leading out */
	return put_entry(l, sink, ctx, &est, name,
	    S_ISDIR(est.st_mode)     ? "dir" :
	        S_ISREG(est.st_mode) ? "file" :
	                               "OS.unix=special");
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The first RFTP_LIST_SORT_MAX names are held (in one bounded arena): a
 * folder that ends within them is listed sorted by name, as people and
 * scripts like to see it; a bigger one is listed in directory order, those
 * first names included, so memory never depends on the folder's size.
 */
struct first_names {
	char arena[RFTP_LIST_SORT_MAX * 32];
	size_t used;
	char *name[RFTP_LIST_SORT_MAX];
	size_t n;
};

static int
hold_name(struct first_names *f, const char *name)
{
	size_t len = strlen(name) + 1;

	if (f->n == RFTP_LIST_SORT_MAX || len > sizeof(f->arena) - f->used)
		return -1;
	f->name[f->n++] = memcpy(f->arena + f->used, name, len);
	f->used += len;
	return 0;
}

int
listing_send(struct listing *l, listing_sink sink, void *ctx)
{
	struct first_names *f;
	struct dirent *de;
	int streaming = 0, rc = -1;

	if (l->d == NULL) {
		if (put_entry(
		        l, sink, ctx, &l->st, path_leaf(l->vpath), "file") < 0)
			return -1;
		return flush(l, sink, ctx);
	}
	f = malloc(sizeof(*f));
	if (f == NULL)
		return -1;
	f->used = f->n = 0;
	if (l->style == LIST_MLSD &&
	    put_entry(l, sink, ctx, &l->st, ".", "cdir") < 0)
		goto out;
	errno = 0;
	while ((de = readdir(l->d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    path_is_partial_name(de->d_name))
			goto next;
		if (!streaming && hold_name(f, de->d_name) == 0)
			goto next;
		if (!streaming) {
			/* Too many to sort: the held ones go first. */
			streaming = 1;
			for (size_t i = 0; i < f->n; i++)
				if (put_name(l, sink, ctx, f->name[i]) < 0)
					goto out;
			f->n = 0;
		}
		if (put_name(l, sink, ctx, de->d_name) < 0)
			goto out;
next:
		errno = 0;
	}
	if (errno != 0) {
		slog(l->s, LOG_WARN, "listing of %s cut: %s", l->vpath,
		    strerror(errno));
		goto out;
	}
	if (f->n > 0)
		qsort(f->name, f->n, sizeof(f->name[0]), cmp_names);
	for (size_t i = 0; i < f->n; i++)
		if (put_name(l, sink, ctx, f->name[i]) < 0)
			goto out;
	rc = flush(l, sink, ctx);
out:
	free(f);
	return rc;
}

void
listing_close(struct listing *l)
{
	if (l->skipped > 0)
		slog(l->s, LOG_WARN,
		    "listing of %s: %zu names holding CR or LF not shown "
		    "(they would break FTP's line structure)",
		    l->vpath, l->skipped);
	if (l->d != NULL)
		closedir(l->d);
	l->d = NULL;
	buf_free(&l->out);
}
