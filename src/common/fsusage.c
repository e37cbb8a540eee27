/*
 * fsusage.c - the login-time count of a home. See fsusage.h for the
 * contract.
 *
 * Every open here is relative to the home's descriptor (or one opened from
 * it) with O_NOFOLLOW or on "." / "..", so, like fsgate.c, nothing a client
 * named is turned into a path and no symlink is followed; the way back up
 * through ".." is checked against the folder the walk came down from.
 */
#include "common/fsusage.h"

#include "common/limits.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <unistd.h>

/*
 * The usage walk. Each level keeps the names of the subfolders it still has
 * to visit, read in one pass, so no directory stream stays open below it,
 * and the identity of its folder, to check the way back up through "..".
 */
struct ulevel {
	dev_t dev;
	ino_t ino;
	char *names; /* subfolder names, each NUL-terminated */
	size_t len, cap;
	size_t pos; /* next name to visit */
	size_t cur; /* the name being visited (for messages) */
};

struct uwalk {
	struct ulevel *lv; /* lv[0] is the home */
	size_t depth, nlv;
	uint64_t entries, max_entries, max_depth;
	uint64_t name_bytes; /* names kept in all levels */
	struct fs_usage *u;
	char *why;
	size_t whylen;
};

/* "/a/b" for the folder being read (and child inside it, if not NULL),
 * ending in "/..." when it does not fit in out. */
static void
uwalk_path(const struct uwalk *w, const char *child, char *out, size_t outlen)
{
	size_t o = 0, last = w->depth + (child != NULL);
	int cut = 0;

	for (size_t k = 1; k <= last; k++) {
		const char *name = k <= w->depth ?
		    w->lv[k - 1].names + w->lv[k - 1].cur :
		    child;
		size_t n = strlen(name);

		/* Room for this name, a later "/..." and the NUL. */
		if (o + 1 + n + 5 > outlen) {
			cut = 1;
			break;
		}
		out[o++] = '/';
		memcpy(out + o, name, n);
		o += n;
	}
	if (cut && o + 5 <= outlen) {
		memcpy(out + o, "/...", 4);
		o += 4;
	} else if (o == 0 && outlen > 1) {
		out[o++] = '/';
	}
	if (outlen > 0)
		out[o < outlen ? o : outlen - 1] = '\0';
}

/* Says why the count is incomplete; always returns -1. err 0 = no errno. */
static int
uwalk_fail(struct uwalk *w, const char *child, const char *what, int err)
{
	char path[1024];
	int n;

	if (w->whylen == 0)
		return -1;
	uwalk_path(w, child, path, sizeof(path));
	n = snprintf(w->why, w->whylen, "%s %s%s%s", what, path,
	    err != 0 ? ": " : "", err != 0 ? strerror(err) : "");
	if (n < 0)
		w->why[0] = '\0';
	else if ((size_t)n >= w->whylen && w->whylen > 4)
		memcpy(w->why + w->whylen - 4, "...", 4);
	return -1;
}

static int
uwalk_push(struct uwalk *w, int fd, const char *child)
{
	struct stat st;
	size_t d = w->lv == NULL ? 0 : w->depth + 1; /* first: the home */

	if (fstat(fd, &st) < 0)
		return uwalk_fail(w, child, "cannot stat folder", errno);
	if (d >= w->nlv) {
		size_t n = w->nlv ? w->nlv * 2 : 16;
		struct ulevel *lv = realloc(w->lv, n * sizeof(*lv));

		if (lv == NULL)
			return uwalk_fail(w, child, "out of memory at", 0);
		w->lv = lv;
		w->nlv = n;
	}
	memset(&w->lv[d], 0, sizeof(w->lv[d]));
	w->lv[d].dev = st.st_dev;
	w->lv[d].ino = st.st_ino;
	w->depth = d;
	return 0;
}

static int
uwalk_keep_name(struct uwalk *w, struct ulevel *l, const char *name)
{
	size_t n = strlen(name) + 1;

	if (w->name_bytes + n > RFTP_USAGE_NAMES_MAX)
		return uwalk_fail(
		    w, NULL, "too many folders to count at once in", 0);
	if (l->len + n > l->cap) {
		size_t cap = l->cap ? l->cap : 4096;
		char *p;

		while (cap < l->len + n)
			cap *= 2;
		p = realloc(l->names, cap);
		if (p == NULL)
			return uwalk_fail(w, NULL, "out of memory in", 0);
		l->names = p;
		l->cap = cap;
	}
	memcpy(l->names + l->len, name, n);
	l->len += n;
	w->name_bytes += n;
	return 0;
}

/* Counts the entries of the folder fd (the current level) and keeps the
 * names of its subfolders. */
static int
uwalk_read(struct uwalk *w, int fd)
{
	struct ulevel *l = &w->lv[w->depth];
	struct dirent *de;
	int dfd, rc = 0;
	DIR *d;

	dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return uwalk_fail(w, NULL, "cannot read folder", errno);
	d = fdopendir(dfd);
	if (d == NULL) {
		int e = errno;

		close(dfd);
		return uwalk_fail(w, NULL, "cannot read folder", e);
	}
	while (rc == 0) {
		struct stat st;
		mode_t type;

		errno = 0;
		de = readdir(d);
		if (de == NULL) {
			if (errno != 0)
				rc = uwalk_fail(
				    w, NULL, "cannot read folder", errno);
			break;
		}
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (++w->entries > w->max_entries) {
			rc = uwalk_fail(w, NULL,
			    "more entries than the count allows, at", 0);
			break;
		}
		/* Folders need no stat: their names are kept and each is
		 * opened (and checked to be a folder) when visited. */
		if (de->d_type == DT_DIR) {
			type = S_IFDIR;
		} else if (fstatat(dirfd(d), de->d_name, &st,
		               AT_SYMLINK_NOFOLLOW) == 0) {
			type = st.st_mode & S_IFMT;
		} else if (errno == ENOENT) {
			continue; /* removed since it was listed */
		} else {
			rc = uwalk_fail(w, de->d_name, "cannot stat", errno);
			break;
		}
		if (type == S_IFREG) {
			w->u->bytes += (uint64_t)st.st_size;
			w->u->files++;
		} else if (type == S_IFDIR) {
			w->u->folders++;
			rc = uwalk_keep_name(w, l, de->d_name);
		}
	}
	closedir(d);
	return rc;
}

int
fs_usage(int root, uint64_t max_entries, uint64_t max_depth, struct fs_usage *u,
    char *why, size_t whylen)
{
	struct uwalk w;
	struct stat st;
	int fd, rc = -1;

	memset(&w, 0, sizeof(w));
	memset(u, 0, sizeof(*u));
	w.max_entries = max_entries;
	w.max_depth = max_depth;
	w.u = u;
	w.why = why;
	w.whylen = whylen;
	if (whylen > 0)
		why[0] = '\0';
	fd = openat(root, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		uwalk_fail(&w, NULL, "cannot open folder", errno);
		return -1;
	}
	if (uwalk_push(&w, fd, NULL) < 0 || uwalk_read(&w, fd) < 0)
		goto out;
	for (;;) {
		struct ulevel *l = &w.lv[w.depth];
		int next;

		if (l->pos < l->len) {
			const char *name = l->names + l->pos;

			l->cur = l->pos;
			l->pos += strlen(name) + 1;
			if (w.depth + 1 > max_depth) {
				uwalk_fail(&w, name,
				    "deeper than the count allows:", 0);
				goto out;
			}
			next = openat(fd, name,
			    O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (next < 0 && errno == ENOENT)
				continue; /* removed since it was listed */
			if (next < 0) {
				uwalk_fail(
				    &w, name, "cannot open folder", errno);
				goto out;
			}
			if (uwalk_push(&w, next, name) < 0) {
				close(next);
				goto out;
			}
			close(fd);
			fd = next;
			if (uwalk_read(&w, fd) < 0)
				goto out;
			continue;
		}
		if (w.depth == 0) {
			rc = 0;
			break;
		}
		/* Back up: ".." must be the folder we came down from, or
		 * the rest of the count would be somewhere else. */
		w.name_bytes -= l->len;
		free(l->names);
		l->names = NULL;
		w.depth--;
		next = openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (next < 0 || fstat(next, &st) < 0 ||
		    st.st_dev != w.lv[w.depth].dev ||
		    st.st_ino != w.lv[w.depth].ino) {
			if (next >= 0)
				close(next);
			uwalk_fail(
			    &w, NULL, "a folder was moved while counting", 0);
			goto out;
		}
		close(fd);
		fd = next;
	}
out:
	close(fd);
	for (size_t k = 0; w.lv != NULL && k <= w.depth; k++)
		free(w.lv[k].names);
	free(w.lv);
	return rc;
}

/* The fewest bytes of a directory's size one entry takes, where known:
 * ext4_dir_entry_2 is 8 bytes and the name rounded up to 4 (rec_len), an
 * inline directory stores its entries the same way; tmpfs adds
 * BOGO_DIRENT_SIZE (20) per entry. Others (btrfs counts name bytes) are
 * not listed. */
#define DIRENT_MIN_BYTES 12

int
fs_entries_bound(int dirfd, uint64_t *most)
{
	struct statfs sfs;
	struct stat st;

	if (fstatfs(dirfd, &sfs) < 0 || fstat(dirfd, &st) < 0)
		return -1;
	if ((sfs.f_type != EXT4_SUPER_MAGIC && sfs.f_type != TMPFS_MAGIC) ||
	    !S_ISDIR(st.st_mode) || st.st_size < 0) {
		errno = ENOTSUP;
		return -1;
	}
	*most = (uint64_t)st.st_size / DIRENT_MIN_BYTES;
	return 0;
}

int
fs_count_entries(int dirfd, uint64_t stop_at, uint64_t *n)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	*n = 0;
	if (fd < 0)
		return -1;
	d = fdopendir(fd);
	if (d == NULL) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	while (stop_at == 0 || *n < stop_at) {
		errno = 0;
		de = readdir(d);
		if (de == NULL) {
			if (errno != 0) {
				int e = errno;

				closedir(d);
				errno = e;
				return -1;
			}
			break;
		}
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			(*n)++;
	}
	closedir(d);
	return 0;
}
