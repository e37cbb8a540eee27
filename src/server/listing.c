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
#include "server/wildcard.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * The formats are built by hand, not with printf and strftime: a listing of
 * 10,000 entries spent more time in vfprintf than in the kernel's stat.
 * Each helper writes into a caller's array that is large enough (sizes
 * below) and returns the bytes written; the output is byte for byte what
 * the printf formats in the comments give (test_listing_format pins it).
 */

/* Decimal digits of v, at least width wide, padded on the left with
 * spaces ("%*llu"). p needs max(width, 20) bytes. */
static size_t
put_dec(char *p, unsigned long long v, size_t width)
{
	char tmp[20];
	size_t n = 0, out = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (out + n < width)
		p[out++] = ' ';
	while (n > 0)
		p[out++] = tmp[--n];
	return out;
}

/* "%llx": p needs 16 bytes. */
static size_t
put_hex(char *p, unsigned long long v)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[16];
	size_t n = 0, out = 0;

	do {
		tmp[n++] = digits[v & 15];
		v >>= 4;
	} while (v != 0);
	while (n > 0)
		p[out++] = tmp[--n];
	return out;
}

/* "%02d" of 0..99. */
static size_t
put_2(char *p, int v)
{
	p[0] = (char)('0' + v / 10 % 10);
	p[1] = (char)('0' + v % 10);
	return 2;
}

/* gmtime_r of t into tm; 0, or -1 when the year is outside 1..9999 (or
 * gmtime_r failed): then strftime formats it, as it always did. */
static int
utc_fields(time_t t, struct tm *tm)
{
	if (gmtime_r(&t, tm) == NULL) {
		memset(tm, 0, sizeof(*tm));
		return -1;
	}
	return tm->tm_year + 1900 >= 1 && tm->tm_year + 1900 <= 9999 ? 0 : -1;
}

/* "%Y%m%d%H%M%S" (RFC 3659 2.3 time-val) into p[20]. */
static size_t
put_timeval(char *p, time_t t)
{
	struct tm tm;
	size_t n;

	if (utc_fields(t, &tm) < 0)
		return strftime(p, 20, "%Y%m%d%H%M%S", &tm);
	/* Four digits, zeros first: a time-val is 14 digits, and a file
	 * set to the year 999 (MFMT takes it) once showed 13. */
	n = put_2(p, (tm.tm_year + 1900) / 100);
	n += put_2(p + n, (tm.tm_year + 1900) % 100);
	n += put_2(p + n, tm.tm_mon + 1);
	n += put_2(p + n, tm.tm_mday);
	n += put_2(p + n, tm.tm_hour);
	n += put_2(p + n, tm.tm_min);
	n += put_2(p + n, tm.tm_sec);
	return n;
}

/*
 * ls: recent files show the time ("%b %e %H:%M"), older (or future) ones
 * the year ("%b %e  %Y"); month names of the C locale, which is the only
 * one the daemon runs in. p needs 32 bytes.
 */
static size_t
put_when(char *p, time_t t, time_t now)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	int recent = t > now - 180 * 86400 && t <= now + 3600;
	struct tm tm;
	size_t n;

	if (utc_fields(t, &tm) < 0 || tm.tm_mon < 0 || tm.tm_mon > 11)
		return strftime(
		    p, 32, recent ? "%b %e %H:%M" : "%b %e  %Y", &tm);
	memcpy(p, months + 3 * tm.tm_mon, 3);
	p[3] = ' ';
	n = 4 + put_dec(p + 4, (unsigned long long)tm.tm_mday, 2);
	if (recent) {
		p[n++] = ' ';
		n += put_2(p + n, tm.tm_hour);
		p[n++] = ':';
		n += put_2(p + n, tm.tm_min);
	} else {
		p[n++] = ' ';
		p[n++] = ' ';
		n += put_dec(p + n, (unsigned long long)(tm.tm_year + 1900), 4);
	}
	return n;
}

static void
mode_string(mode_t m, char out[10])
{
	/* ls(1)'s letters: a FIFO or a device a local program made is not
	 * shown as a plain file. */
	out[0] = S_ISDIR(m) ? 'd' :
	    S_ISLNK(m)      ? 'l' :
	    S_ISFIFO(m)     ? 'p' :
	    S_ISCHR(m)      ? 'c' :
	    S_ISBLK(m)      ? 'b' :
	    S_ISSOCK(m)     ? 's' :
	                      '-';
	out[1] = (m & S_IRUSR) ? 'r' : '-';
	out[2] = (m & S_IWUSR) ? 'w' : '-';
	out[3] = (m & S_IXUSR) ? 'x' : '-';
	out[4] = (m & S_IRGRP) ? 'r' : '-';
	out[5] = (m & S_IWGRP) ? 'w' : '-';
	out[6] = (m & S_IXGRP) ? 'x' : '-';
	out[7] = (m & S_IROTH) ? 'r' : '-';
	out[8] = (m & S_IWOTH) ? 'w' : '-';
	out[9] = (m & S_IXOTH) ? 'x' : '-';
}

/* Appends head, name and CRLF; -1 (out unchanged) when they do not fit. */
static int
add_line(struct buf *out, const char *head, size_t hlen, const char *name)
{
	size_t before = out->len;

	if (buf_add(out, head, hlen) < 0 || buf_adds(out, name) < 0 ||
	    buf_add(out, "\r\n", 2) < 0) {
		out->len = before;
		return -1;
	}
	return 0;
}

/* "%s %3lu ftp      ftp      %12llu %s %s\r\n": mode, links, size, when,
 * name. */
static int
add_long(struct buf *out, const struct stat *st, const char *name, time_t now)
{
	static const char owners[] = " ftp      ftp      ";
	char head[10 + 1 + 20 + sizeof(owners) + 20 + 1 + 32 + 1];
	size_t n;

	mode_string(st->st_mode, head);
	head[10] = ' ';
	n = 11 + put_dec(head + 11, (unsigned long long)st->st_nlink, 3);
	memcpy(head + n, owners, sizeof(owners) - 1);
	n += sizeof(owners) - 1;
	n += put_dec(head + n, (unsigned long long)st->st_size, 12);
	head[n++] = ' ';
	n += put_when(head + n, st->st_mtime, now);
	head[n++] = ' ';
	return add_line(out, head, n, name);
}

/* RFC 3659 facts into p (LISTING_FACTS_MAX bytes); returns the length. */
#define LISTING_FACTS_MAX 160
static size_t
put_facts(struct session *s, const struct stat *st, const char *type, char *p)
{
	unsigned f = s->mlst_facts, perm = s->user.perms;
	size_t n = 0, tl;

	if (f & FACT_TYPE) {
		tl = strlen(type); /* ours: "file", "dir", "OS.unix=special" */
		memcpy(p, "type=", 5);
		memcpy(p + 5, type, tl);
		n = 5 + tl;
		p[n++] = ';';
	}
	if ((f & FACT_SIZE) && !S_ISDIR(st->st_mode)) {
		memcpy(p + n, "size=", 5);
		n += 5;
		n += put_dec(p + n, (unsigned long long)st->st_size, 0);
		p[n++] = ';';
	}
	if (f & FACT_MODIFY) {
		memcpy(p + n, "modify=", 7);
		n += 7;
		n += put_timeval(p + n, st->st_mtime);
		p[n++] = ';';
	}
	if (f & FACT_PERM) {
		/* RFC 3659 7.5.5, from the user's permissions. */
		memcpy(p + n, "perm=", 5);
		n += 5;
		if (S_ISDIR(st->st_mode)) {
			if (perm & PERM_READ) {
				p[n++] = 'e';
				p[n++] = 'l';
			}
			if (perm & PERM_WRITE)
				p[n++] = 'c';
			if (perm & PERM_MKDIR)
				p[n++] = 'm';
			if (perm & PERM_DELETE)
				p[n++] = 'p';
			if (perm & PERM_RMDIR)
				p[n++] = 'd';
		} else {
			/* RETR sends plain files only: a FIFO or a device
			 * said "r", and its RETR got 550 (found from
			 * outside). */
			if ((perm & PERM_READ) && S_ISREG(st->st_mode))
				p[n++] = 'r';
			/* STOR over a file replaces it: the delete
			 * permission's too (cmd_xfer.c). */
			if ((perm & PERM_WRITE) && (perm & PERM_DELETE))
				p[n++] = 'w';
			if (perm & PERM_APPEND)
				p[n++] = 'a';
			if (perm & PERM_DELETE)
				p[n++] = 'd';
		}
		if (perm & PERM_RENAME)
			p[n++] = 'f';
		p[n++] = ';';
	}
	if (f & FACT_UNIQUE) {
		memcpy(p + n, "unique=", 7);
		n += 7;
		n += put_hex(p + n, (unsigned long long)st->st_dev);
		p[n++] = 'U';
		n += put_hex(p + n, (unsigned long long)st->st_ino);
		p[n++] = ';';
	}
	return n;
}

void
listing_facts(
    struct session *s, const struct stat *st, const char *type, struct buf *out)
{
	char facts[LISTING_FACTS_MAX];

	buf_add(out, facts, put_facts(s, st, type, facts));
}

static int
add_entry(struct session *s, struct buf *out, enum list_style style,
    const struct stat *st, const char *name, const char *type, time_t now)
{
	char facts[LISTING_FACTS_MAX + 1];
	size_t n, before = out->len;
	int rc = 0;

	switch (style) {
	case LIST_LONG:
		rc = add_long(out, st, name, now);
		break;
	case LIST_NAMES:
		rc = add_line(out, "", 0, name);
		break;
	case LIST_MLSD:
		n = put_facts(s, st, type, facts);
		facts[n++] = ' ';
		rc = add_line(out, facts, n, name);
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

/* listing_open of a pattern: l->vpath becomes its folder, which must be
 * one, and the pattern is kept; errno ENOENT if there is no such folder. */
static int
open_pattern(struct listing *l)
{
	char *leaf = l->vpath + (path_leaf(l->vpath) - l->vpath);
	size_t n = strlen(leaf);

	if (n >= sizeof(l->pattern)) {
		errno = ENOENT;
		return -1;
	}
	memcpy(l->pattern, leaf, n + 1);
	/* The folder: the path up to the pattern's slash, or "/". */
	if (leaf - 1 == l->vpath)
		leaf[0] = '\0';
	else
		leaf[-1] = '\0';
	if (fs_stat(l->s->root_fd, l->vpath[0] ? l->vpath : "/", &l->st) < 0)
		return -1;
	if (l->vpath[0] == '\0')
		memcpy(l->vpath, "/", 2);
	if (!S_ISDIR(l->st.st_mode)) {
		errno = ENOENT;
		return -1;
	}
	l->match = wildcard_compile(l->pattern);
	if (l->match == NULL)
		return -1;
	l->d = fs_opendir(l->s->root_fd, l->vpath);
	if (l->d == NULL) {
		int err = errno;

		wildcard_free(l->match);
		l->match = NULL;
		errno = err;
		return -1;
	}
	buf_init(&l->out, RFTP_LIST_CHUNK);
	return 0;
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
	/* "Recent" in LIST (the last 180 days) is judged once per listing. */
	l->now = time(NULL);
	if (fs_stat(s->root_fd, vpath, &l->st) < 0) {
		/* A name that exists is listed as itself, wildcards and
		 * all: only a name that does not is taken as a pattern. */
		if (errno != ENOENT || style == LIST_MLSD ||
		    !wildcard_is_pattern(path_leaf(l->vpath)))
			return -1;
		return open_pattern(l);
	}
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

/* One entry into l->out; -1 when it does not fit. NLST of a pattern
 * names each match with the folder part the client wrote, as ls does
 * ("sub/a.log" for the pattern "sub/a*"): ftp's mget fetches what it is
 * given, from the current folder. */
static int
format_entry(struct listing *l, const struct stat *st, const char *name,
    const char *type)
{
	if (l->style == LIST_NAMES && l->prefix_len > 0)
		return add_line(&l->out, l->prefix, l->prefix_len, name);
	return add_entry(l->s, &l->out, l->style, st, name, type, l->now);
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
	if (format_entry(l, st, name, type) == 0)
		return 0;
	/* Full: send what is there and try once more in an empty buffer
	 * (an entry is at most a name of NAME_MAX bytes and its facts). */
	if (flush(l, sink, ctx) < 0)
		return -1;
	return format_entry(l, st, name, type);
}

/* One entry by name: stat it and format it. d_type is the directory's
 * word on what it is (DT_UNKNOWN when it has none): NLST needs no stat
 * for a plain file or folder, only for what may be a symlink leading out. */
static int
put_name(struct listing *l, listing_sink sink, void *ctx, const char *name,
    unsigned char d_type)
{
	struct stat est;

	if (l->style == LIST_NAMES && (d_type == DT_REG || d_type == DT_DIR)) {
		memset(&est, 0, sizeof(est));
		return put_entry(l, sink, ctx, &est, name, "file");
	}
	if (entry_stat(l->s, l->d, l->vpath, name, &est) < 0)
		return 0; /* vanished, or a link leading out */
	return put_entry(l, sink, ctx, &est, name,
	    S_ISDIR(est.st_mode)     ? "dir" :
	        S_ISREG(est.st_mode) ? "file" :
	                               "OS.unix=special");
}

struct held {
	char *name;
	unsigned char d_type;
};

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(
	    ((const struct held *)a)->name, ((const struct held *)b)->name);
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
	struct held e[RFTP_LIST_SORT_MAX];
	size_t n;
};

static int
hold_name(struct first_names *f, const struct dirent *de)
{
	size_t len = strlen(de->d_name) + 1;

	if (f->n == RFTP_LIST_SORT_MAX || len > sizeof(f->arena) - f->used)
		return -1;
	f->e[f->n].name = memcpy(f->arena + f->used, de->d_name, len);
	f->e[f->n++].d_type = de->d_type;
	f->used += len;
	return 0;
}

/*
 * Whether name matches the listing's pattern, within the bound on what
 * the pattern may cost over the folder (RFTP_WILDCARD_STEPS_*): a pattern
 * costs at most its length times a name's, which a client can make 250
 * times 250 steps a name; past the bound the listing stops (too_costly)
 * and says why, rather than burn a CPU for as long as the folder is big.
 */
static int
pattern_matches(struct listing *l, const char *name)
{
	int hit = wildcard_matches(l->match, name, &l->match_steps);

	l->match_bytes += strlen(name) + 1;
	if (l->match_steps > RFTP_WILDCARD_STEPS_FREE +
	        l->match_bytes * RFTP_WILDCARD_STEPS_PER_BYTE) {
		slog(l->s, LOG_WARN,
		    "listing of %s with the pattern %s stopped: it took %llu "
		    "steps over %llu bytes of names (at most %u a byte past "
		    "the first %u)",
		    l->vpath, l->pattern, (unsigned long long)l->match_steps,
		    (unsigned long long)l->match_bytes,
		    (unsigned)RFTP_WILDCARD_STEPS_PER_BYTE,
		    (unsigned)RFTP_WILDCARD_STEPS_FREE);
		l->too_costly = 1;
		return 0;
	}
	return hit;
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
		if (l->match != NULL && !pattern_matches(l, de->d_name)) {
			if (l->too_costly)
				goto out;
			goto next;
		}
		if (!streaming && hold_name(f, de) == 0)
			goto next;
		if (!streaming) {
			/* Too many to sort: the held ones go first. */
			streaming = 1;
			for (size_t i = 0; i < f->n; i++)
				if (put_name(l, sink, ctx, f->e[i].name,
				        f->e[i].d_type) < 0)
					goto out;
			f->n = 0;
		}
		if (put_name(l, sink, ctx, de->d_name, de->d_type) < 0)
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
		qsort(f->e, f->n, sizeof(f->e[0]), cmp_names);
	for (size_t i = 0; i < f->n; i++)
		if (put_name(l, sink, ctx, f->e[i].name, f->e[i].d_type) < 0)
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
	wildcard_free(l->match);
	l->match = NULL;
	buf_free(&l->out);
}

const char *
listing_skip_options(const char *arg)
{
	while (arg[0] == '-') {
		const char *sp = strchr(arg, ' ');

		if (sp == NULL)
			return "";
		arg = sp + 1;
	}
	return arg;
}
