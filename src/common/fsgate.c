/*
 * fsgate.c - confined filesystem access. See fsgate.h for the contract.
 *
 * glibc 2.36 has no openat2 wrapper, so it is called through syscall(2);
 * where the kernel lacks it, walk_beneath() confines by refusing symlinks.
 * Every path reaching the kernel from here is relative and normalised; the
 * kernel enforces the confinement, this file only builds the calls.
 */
#include "common/fsgate.h"

#include "common/hash.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/pathnorm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <signal.h>
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

/* openat2 beneath dirfd with resolve flags more than RESOLVE_BENEATH and
 * RESOLVE_NO_MAGICLINKS (0 or RESOLVE_NO_SYMLINKS). */
static int
openat2_resolve(
    int dirfd, const char *rel, int flags, mode_t mode, uint64_t more)
{
	struct open_how how;
	long fd;

	if (atomic_load(&no_openat2))
		return walk_beneath(dirfd, rel, flags, mode);
	memset(&how, 0, sizeof(how));
	how.flags = (uint64_t)(flags | O_CLOEXEC);
	if (flags & O_CREAT)
		how.mode = mode;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | more;
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
openat2_beneath(int dirfd, const char *rel, int flags, mode_t mode)
{
	return openat2_resolve(dirfd, rel, flags, mode, 0);
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
fs_root_moved(int root, const char *home)
{
	struct stat was, now;

	if (fstat(root, &was) < 0)
		return -1;
	/* Followed as fs_open_root follows it. */
	if (stat(home, &now) < 0)
		return errno == ENOENT || errno == ENOTDIR ? 1 : -1;
	return now.st_dev != was.st_dev || now.st_ino != was.st_ino;
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
fs_has_writer(int fd)
{
	/* A writer that opens the file between the lease and its release
	 * breaks it, and the kernel signals the process: SIGIO by default,
	 * whose default action ends it (the daemon's main thread, or an
	 * embedding program's, does not block it). SIGURG's is to ignore. */
	if (fcntl(fd, F_SETSIG, SIGURG) < 0)
		return 0;
	if (fcntl(fd, F_SETLEASE, F_RDLCK) == 0) {
		(void)fcntl(fd, F_SETLEASE, F_UNLCK);
		return 0;
	}
	return errno == EAGAIN;
}

int
fs_enter(int root, const char *vpath)
{
	int fd = fs_open(root, vpath, O_PATH | O_DIRECTORY, 0);
	int rc;

	if (fd < 0)
		return -1;
	/* Looking up "." in the folder asks for its search permission, as
	 * chdir(2) does; the check is the process's own (run_as). */
	rc = faccessat(fd, ".", X_OK, AT_EACCESS);
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
fs_is_dir_at(int root, const char *vpath, int dirfd)
{
	struct stat want, got;
	int fd, rc;

	/* No symlink on the way: through one, vpath would name the folder
	 * by another path than fs_dir_vpath's, the one everything else
	 * (the mirror's queue too) knows it by. */
	fd = openat2_resolve(root, path_rel(vpath), O_PATH | O_DIRECTORY, 0,
	    RESOLVE_NO_SYMLINKS);
	if (fd < 0)
		return 0;
	rc = fstat(fd, &got) == 0 && fstat(dirfd, &want) == 0 &&
	    got.st_dev == want.st_dev && got.st_ino == want.st_ino;
	close(fd);
	return rc;
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

/*
 * A leaf whose partial name would pass NAME_MAX (241 to 255 bytes: names
 * every other FTP server takes) gets a partial named by its first
 * PARTIAL_KEEP bytes, '~' and the first 2 * PARTIAL_HASH hex digits of
 * the whole leaf's SHA-256 (hash.c): the same name at each resume,
 * another for another leaf. The bytes kept end where a UTF-8 character
 * does (up to 3 fewer), so the partial stays valid UTF-8 where the
 * filesystem insists. Such a tail is 1 + 2 * PARTIAL_HASH bytes after
 * PARTIAL_KEEP - 3 to PARTIAL_KEEP; a shorter leaf shaped exactly like
 * one is hashed too, so that a client cannot name a file whose plain
 * partial is another name's hashed one.
 */
#define PARTIAL_PLAIN_MAX (NAME_MAX - (sizeof(RFTP_PARTIAL_PREFIX) - 1))
#define PARTIAL_KEEP      200
#define PARTIAL_HASH      16
#define PARTIAL_TAIL      (PARTIAL_KEEP + 1 + 2 * PARTIAL_HASH)

static int
looks_hashed(const char *leaf, size_t n)
{
	if (n > PARTIAL_TAIL || n < PARTIAL_TAIL - 3 ||
	    leaf[n - 1 - 2 * PARTIAL_HASH] != '~')
		return 0;
	for (size_t i = n - 2 * PARTIAL_HASH; i < n; i++)
		if (strchr("0123456789abcdef", leaf[i]) == NULL)
			return 0;
	return 1;
}

int
fs_partial_leaf(const char *leaf, char *out, size_t outlen)
{
	struct hash_ctx h;
	char hex[HASH_HEX_MAX];
	size_t len = strlen(leaf), keep = PARTIAL_KEEP;
	int n;

	if (len > NAME_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (len <= PARTIAL_PLAIN_MAX && !looks_hashed(leaf, len)) {
		n = snprintf(out, outlen, "%s%s", RFTP_PARTIAL_PREFIX, leaf);
	} else {
		if (hash_init(&h, HASH_SHA256) < 0) {
			errno = ENOMEM;
			return -1;
		}
		hash_update(&h, leaf, len);
		if (hash_final(&h, hex) < 0) {
			errno = EIO;
			return -1;
		}
		/* Not inside a UTF-8 character: before its continuation
		 * bytes (10xxxxxx). */
		while (keep > PARTIAL_KEEP - 3 &&
		    ((unsigned char)leaf[keep] & 0xC0) == 0x80)
			keep--;
		n = snprintf(out, outlen, "%s%.*s~%.*s", RFTP_PARTIAL_PREFIX,
		    (int)keep, leaf, 2 * PARTIAL_HASH, hex);
	}
	if (n < 0 || (size_t)n >= outlen || (size_t)n > NAME_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

struct walk {
	int flags; /* FS_WALK_* */
	int (*fn)(void *ctx, const char *vpath, const struct stat *st);
	int (*unopened)(void *ctx, const char *vpath, int err); /* or NULL */
	void *ctx;
	struct fs_walk_skips *sk; /* NULL: not counted */
	char path[RFTP_PATH_MAX];
};

/* Notes in w->sk an entry of the folder w->path[0, len) left out. */
static void
walk_skipped(struct walk *w, size_t len, int deep)
{
	struct fs_walk_skips *sk = w->sk;
	size_t keep = len, room = sizeof(sk->where) - 4;

	if (sk == NULL)
		return;
	if (sk->too_long == 0 && sk->too_deep == 0) {
		if (keep == 0) {
			snprintf(sk->where, sizeof(sk->where), "/");
		} else if (keep <= room + 3) {
			memcpy(sk->where, w->path, keep);
			sk->where[keep] = '\0';
		} else {
			/* Not inside a UTF-8 character (10xxxxxx bytes). */
			keep = room;
			while (keep > room - 3 &&
			    ((unsigned char)w->path[keep] & 0xC0) == 0x80)
				keep--;
			memcpy(sk->where, w->path, keep);
			memcpy(sk->where + keep, "...", 4);
		}
	}
	if (deep)
		sk->too_deep++;
	else
		sk->too_long++;
}

static int
walk_dir(struct walk *w, int dfd, size_t len, unsigned depth)
{
	DIR *d;
	struct dirent *de;
	int rc = 0;

	if (depth > RFTP_PATH_DEPTH_MAX) {
		walk_skipped(w, len, 1);
		close(dfd);
		return 0;
	}
	d = fdopendir(dfd);
	if (d == NULL) {
		close(dfd);
		return 0;
	}
	for (;;) {
		struct stat st;
		size_t n;

		/* readdir tells its end from an error by errno alone. */
		errno = 0;
		if (rc != 0 || (de = readdir(d)) == NULL)
			break;
		n = strlen(de->d_name);

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    (!(w->flags & FS_WALK_PARTIALS) &&
		        path_is_partial_name(de->d_name)))
			continue;
		if (len + 1 + n + 1 > sizeof(w->path)) {
			walk_skipped(w, len, 0);
			continue;
		}
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		w->path[len] = '/';
		memcpy(w->path + len + 1, de->d_name, n + 1);
		if (S_ISREG(st.st_mode)) {
			rc = w->fn(w->ctx, w->path, &st);
		} else if (S_ISDIR(st.st_mode)) {
			int sub = -1;

			if (w->flags & FS_WALK_FOLDERS)
				rc = w->fn(w->ctx, w->path, &st);
			if (rc == 0)
				sub = openat(dirfd(d), de->d_name,
				    O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
				        O_CLOEXEC);
			if (sub >= 0)
				rc = walk_dir(w, sub, len + 1 + n, depth + 1);
			else if (rc == 0 && w->unopened != NULL)
				rc = w->unopened(w->ctx, w->path, errno);
		}
		w->path[len] = '\0';
	}
	/* A folder that opens but cannot be listed (a stale NFS or a FUSE
	 * mount answers getdents with EIO or EACCES): what it holds is left
	 * out as a folder that cannot be opened is, and said so (a folder
	 * renamed out of a home left its files on the home's targets). */
	if (rc == 0 && errno != 0 && w->unopened != NULL)
		rc = w->unopened(w->ctx, w->path, errno);
	closedir(d);
	return rc;
}

int
fs_walk(int root, const char *vpath, int flags,
    int (*fn)(void *ctx, const char *vpath, const struct stat *st), void *ctx)
{
	return fs_walk_counted(root, vpath, flags, fn, ctx, NULL);
}

int
fs_walk_counted(int root, const char *vpath, int flags,
    int (*fn)(void *ctx, const char *vpath, const struct stat *st), void *ctx,
    struct fs_walk_skips *sk)
{
	return fs_walk_full(root, vpath, flags, fn, NULL, ctx, sk);
}

int
fs_walk_full(int root, const char *vpath, int flags,
    int (*fn)(void *ctx, const char *vpath, const struct stat *st),
    int (*unopened)(void *ctx, const char *vpath, int err), void *ctx,
    struct fs_walk_skips *sk)
{
	struct walk w;
	size_t len = strlen(vpath);
	int fd;

	if (sk != NULL)
		memset(sk, 0, sizeof(*sk));
	fd = fs_open(root, vpath, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return -1;
	w.flags = flags;
	w.fn = fn;
	w.unopened = unopened;
	w.ctx = ctx;
	w.sk = sk;
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
