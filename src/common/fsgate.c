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
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdio.h>
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
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
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

static int
usage_walk(int dfd, unsigned depth, uint64_t *bytes, uint64_t *files)
{
	DIR *d;
	struct dirent *de;

	if (depth > RFTP_PATH_DEPTH_MAX)
		return 0;
	d = fdopendir(dfd);
	if (d == NULL) {
		close(dfd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISREG(st.st_mode)) {
			*bytes += (uint64_t)st.st_size;
			*files += 1;
		} else if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), de->d_name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub >= 0)
				usage_walk(sub, depth + 1, bytes, files);
		}
	}
	closedir(d);
	return 0;
}

int
fs_usage(int root, uint64_t *bytes, uint64_t *files)
{
	int fd = fs_open(root, "/", O_RDONLY | O_DIRECTORY, 0);

	*bytes = 0;
	*files = 0;
	if (fd < 0)
		return -1;
	return usage_walk(fd, 0, bytes, files);
}
