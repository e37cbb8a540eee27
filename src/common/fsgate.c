/*
 * fsgate.c - confined filesystem access. See fsgate.h for the contract.
 *
 * glibc 2.36 has no openat2 wrapper, so it is called through syscall(2);
 * where the kernel lacks it, walk_beneath() confines by refusing symlinks.
 * Every path reaching the kernel from here is relative and normalised; the
 * kernel enforces the confinement, this file only builds the calls.
 */
#include "common/fsgate.h"

#include "common/limits.h"
#include "common/log.h"
#include "common/pathnorm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Set once openat2 answered ENOSYS (old kernel, seccomp, valgrind). */
static atomic_int no_openat2;

/*
 * The fallback: walk the normalised path one component at a time with
 * O_NOFOLLOW, so no symlink is followed at all (stricter than openat2, which
 * follows links that stay inside). Components are never "." or "..".
 */
static int
walk_beneath(int dirfd, const char *rel, int flags, mode_t mode)
{
	char tmp[RFTP_PATH_MAX];
	char *comp, *slash;
	int cur = dirfd, fd;
	size_t len = strlen(rel);

	if (len >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, rel, len + 1);
	comp = tmp;
	while ((slash = strchr(comp, '/')) != NULL) {
		*slash = '\0';
		fd = openat(
		    cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cur != dirfd) {
			int e = errno;

			close(cur);
			errno = e;
		}
		if (fd < 0)
			return -1;
		cur = fd;
		comp = slash + 1;
	}
	fd = openat(cur, comp, flags | O_NOFOLLOW | O_CLOEXEC, mode);
	if (cur != dirfd) {
		int e = errno;

		close(cur);
		errno = e;
	}
	return fd;
}

static int
openat2_beneath(int dirfd, const char *rel, int flags, mode_t mode)
{
	struct open_how how;
	long fd;

	if (atomic_load(&no_openat2))
		return walk_beneath(dirfd, rel, flags, mode);
	memset(&how, 0, sizeof(how));
	how.flags = (uint64_t)(flags | O_CLOEXEC);
	if (flags & O_CREAT)
		how.mode = mode;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	do {
		fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
	} while (fd < 0 && errno == EAGAIN);
	if (fd < 0 && errno == ENOSYS) {
		if (!atomic_exchange(&no_openat2, 1))
			log_warn("openat2 unavailable: resolving paths without "
			         "following any symlink");
		return walk_beneath(dirfd, rel, flags, mode);
	}
	return (int)fd;
}

/* Folders above the home get 0777 and the umask decides (as for MKD);
 * the home itself is never more open than 0750. */
static int
mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0777) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, 0750) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

int
fs_open_root(const char *home, int create)
{
	int fd = open(home, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT && create) {
		if (mkdir_p(home) < 0)
			return -1;
		fd = open(home, O_PATH | O_DIRECTORY | O_CLOEXEC);
	}
	return fd;
}

int
fs_open(int root, const char *vpath, int flags, mode_t mode)
{
	return openat2_beneath(root, path_rel(vpath), flags, mode);
}

int
fs_stat(int root, const char *vpath, struct stat *st)
{
	int fd = fs_open(root, vpath, O_PATH, 0);
	int rc;

	if (fd < 0)
		return -1;
	rc = fstat(fd, st);
	close(fd);
	return rc;
}

/* The absolute path /proc gives for a descriptor; -1 if it does not fit. */
static int
fd_path(int fd, char *out, size_t outlen)
{
	char proc[64];
	ssize_t n;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, out, outlen);
	if (n < 0 || (size_t)n >= outlen)
		return -1;
	out[n] = '\0';
	return 0;
}

int
fs_dir_vpath(int root, int dirfd, char *out, size_t outlen)
{
	char rootp[PATH_MAX], dirp[PATH_MAX];
	struct stat want, got;
	size_t rn;

	if (fd_path(root, rootp, sizeof(rootp)) < 0 ||
	    fd_path(dirfd, dirp, sizeof(dirp)) < 0 || fstat(dirfd, &want) < 0 ||
	    want.st_nlink == 0)
		return -1;
	rn = strlen(rootp);
	if (rn == 1)
		rn = 0; /* a home at "/" */
	if (strncmp(dirp, rootp, rn) != 0 ||
	    (dirp[rn] != '\0' && dirp[rn] != '/'))
		return -1;
	if (snprintf(out, outlen, "%s", dirp[rn] ? dirp + rn : "/") >=
	    (int)outlen)
		return -1;
	/* /proc's text is a hint: the answer stands only if it leads,
	 * through the gate, to the very same folder. */
	if (fs_stat(root, out, &got) < 0 || got.st_dev != want.st_dev ||
	    got.st_ino != want.st_ino)
		return -1;
	return 0;
}

int
fs_open_parent(int root, const char *vpath, const char **leaf)
{
	char parent[RFTP_PATH_MAX];
	const char *slash = strrchr(vpath, '/');
	size_t n;

	if (slash == NULL || slash[1] == '\0') {
		/* "/" has no parent inside the home. */
		errno = EPERM;
		return -1;
	}
	n = (size_t)(slash - vpath);
	if (n == 0)
		n = 1; /* parent is "/" */
	if (n >= sizeof(parent)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(parent, vpath, n);
	parent[n] = '\0';
	*leaf = slash + 1;
	return fs_open(root, parent, O_PATH | O_DIRECTORY, 0);
}

int
fs_mkdir(int root, const char *vpath, mode_t mode)
{
	const char *leaf;
	int pfd = fs_open_parent(root, vpath, &leaf), rc;

	if (pfd < 0)
		return -1;
	rc = mkdirat(pfd, leaf, mode);
	close(pfd);
	return rc;
}

int
fs_rmdir(int root, const char *vpath)
{
	const char *leaf;
	int pfd = fs_open_parent(root, vpath, &leaf), rc;

	if (pfd < 0)
		return -1;
	rc = unlinkat(pfd, leaf, AT_REMOVEDIR);
	close(pfd);
	return rc;
}

int
fs_unlink(int root, const char *vpath)
{
	const char *leaf;
	int pfd = fs_open_parent(root, vpath, &leaf), rc;
	struct stat st;

	if (pfd < 0)
		return -1;
	/* DELE removes files and links, never a directory. */
	rc = fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW);
	if (rc == 0 && S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		rc = -1;
	}
	if (rc == 0)
		rc = unlinkat(pfd, leaf, 0);
	close(pfd);
	return rc;
}

int
fs_rename(int root, const char *from, const char *to, int noreplace)
{
	const char *lfrom, *lto;
	int pf, pt, rc = -1;

	pf = fs_open_parent(root, from, &lfrom);
	if (pf < 0)
		return -1;
	pt = fs_open_parent(root, to, &lto);
	if (pt >= 0) {
		rc = renameat2(
		    pf, lfrom, pt, lto, noreplace ? RENAME_NOREPLACE : 0);
		close(pt);
	}
	close(pf);
	return rc;
}

int
fs_chmod(int root, const char *vpath, mode_t mode)
{
	char proc[64];
	int fd = fs_open(root, vpath, O_PATH, 0), rc;

	if (fd < 0)
		return -1;
	/* fchmod refuses O_PATH descriptors; the /proc link of the resolved
	 * descriptor changes exactly the inode openat2 confined. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	rc = chmod(proc, mode);
	close(fd);
	return rc;
}

int
fs_set_times(int root, const char *vpath, const struct timespec *atime,
    const struct timespec *mtime)
{
	struct timespec ts[2];
	struct stat st;
	char proc[64];
	int fd = fs_open(root, vpath, O_PATH, 0), rc = -1;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0)
		goto out;
	if (!S_ISREG(st.st_mode)) {
		/* Only files carry times the mirror passes on. */
		errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
		goto out;
	}
	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_OMIT;
	if (atime != NULL)
		ts[0] = *atime;
	ts[1] = *mtime;
	/* futimens refuses O_PATH descriptors; as in fs_chmod, the /proc
	 * link of the resolved descriptor names exactly the confined inode. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	rc = utimensat(AT_FDCWD, proc, ts, 0);
out : {
	int e = errno;

	close(fd);
	errno = e;
}
	return rc;
}

DIR *
fs_opendir(int root, const char *vpath)
{
	int fd = fs_open(root, vpath, O_RDONLY | O_DIRECTORY, 0);
	DIR *d;

	if (fd < 0)
		return NULL;
	d = fdopendir(fd);
	if (d == NULL)
		close(fd);
	return d;
}

int
fs_leaf_stat(int dirfd, const char *leaf, struct stat *st)
{
	return fstatat(dirfd, leaf, st, AT_SYMLINK_NOFOLLOW);
}

int
fs_leaf_open(int dirfd, const char *leaf, int flags, mode_t mode)
{
	return openat(dirfd, leaf, flags | O_NOFOLLOW | O_CLOEXEC, mode);
}

int
fs_leaf_unlink(int dirfd, const char *leaf)
{
	return unlinkat(dirfd, leaf, 0);
}

int
fs_leaf_rename(int dirfd, const char *from, const char *to, int noreplace)
{
	return renameat2(
	    dirfd, from, dirfd, to, noreplace ? RENAME_NOREPLACE : 0);
}

int
fs_partial_leaf(const char *leaf, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s%s", RFTP_PARTIAL_PREFIX, leaf);

	if (n < 0 || (size_t)n >= outlen || (size_t)n > NAME_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

struct walk {
	int partials;
	int (*fn)(void *ctx, const char *vpath, const struct stat *st);
	void *ctx;
	char path[RFTP_PATH_MAX];
};

static int
walk_dir(struct walk *w, int dfd, size_t len, unsigned depth)
{
	DIR *d;
	struct dirent *de;
	int rc = 0;

	if (depth > RFTP_PATH_DEPTH_MAX) {
		close(dfd);
		return 0;
	}
	d = fdopendir(dfd);
	if (d == NULL) {
		close(dfd);
		return 0;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		struct stat st;
		size_t n = strlen(de->d_name);

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    (!w->partials && path_is_partial_name(de->d_name)))
			continue;
		if (len + 1 + n + 1 > sizeof(w->path))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		w->path[len] = '/';
		memcpy(w->path + len + 1, de->d_name, n + 1);
		if (S_ISREG(st.st_mode)) {
			rc = w->fn(w->ctx, w->path, &st);
		} else if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), de->d_name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub >= 0)
				rc = walk_dir(w, sub, len + 1 + n, depth + 1);
		}
		w->path[len] = '\0';
	}
	closedir(d);
	return rc;
}

int
fs_walk(int root, const char *vpath, int partials,
    int (*fn)(void *ctx, const char *vpath, const struct stat *st), void *ctx)
{
	struct walk w;
	size_t len = strlen(vpath);
	int fd = fs_open(root, vpath, O_RDONLY | O_DIRECTORY, 0);

	if (fd < 0)
		return -1;
	w.partials = partials;
	w.fn = fn;
	w.ctx = ctx;
	/* "/" walks as "", so children come out as "/name". */
	if (len == 1)
		len = 0;
	if (len >= sizeof(w.path)) {
		close(fd);
		return -1;
	}
	memcpy(w.path, vpath, len);
	w.path[len] = '\0';
	walk_dir(&w, fd, len, 0);
	return 0;
}

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
