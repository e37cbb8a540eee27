/*
 * fsgate.h - the one gate between a user's files and the code.
 *
 * Owns: every syscall that touches a user's files. Each call takes the
 * home's directory descriptor and a normalised virtual path (common/
 * pathnorm.h) and resolves it with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS), so "..", absolute symlinks and symlinks that lead
 * out of the home fail with EXDEV inside the kernel. Operations on a final
 * component (mkdir, unlink, rename) open the parent the same way and use the
 * *at() call on the leaf, which never follows a symlink. No other code turns
 * a client's string into a path or calls open(2) on user data.
 *
 * All functions return a descriptor or 0 on success and -1 with errno set.
 */
#ifndef RFTP_FSGATE_H
#define RFTP_FSGATE_H

#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Opens (and with create, makes with mode 0750) the home: an O_PATH dirfd. */
int fs_open_root(const char *home, int create);
/* 1 if home's path no longer leads to the folder root is (a file system
 * mounted on it or above it, or unmounted from it; the folder renamed
 * away or removed), 0 if it does, -1 with errno if that cannot be told. */
int fs_root_moved(int root, const char *home);
int fs_open(int root, const char *vpath, int flags, mode_t mode);
/* stat of what vpath names, following symlinks only inside the home. */
int fs_stat(int root, const char *vpath, struct stat *st);
/* 0 if vpath is a folder this process may search (enter, as chdir(2)
 * would); -1 with errno: ENOTDIR, EACCES, ENOENT, ... */
int fs_enter(int root, const char *vpath);
/* O_PATH descriptor of vpath's parent; *leaf points into vpath. */
int fs_open_parent(int root, const char *vpath, const char **leaf);
int fs_mkdir(int root, const char *vpath, mode_t mode);
int fs_rmdir(int root, const char *vpath);
int fs_unlink(int root, const char *vpath);
/* noreplace: fail with EEXIST rather than replace the target. */
int fs_rename(int root, const char *from, const char *to, int noreplace);
int fs_chmod(int root, const char *vpath, mode_t mode);
/* Sets the modification time (and the access time, unless atime is NULL)
 * of the regular file vpath names; EISDIR or EINVAL for anything else. */
int fs_set_times(int root, const char *vpath, const struct timespec *atime,
    const struct timespec *mtime);
/*
 * 1 if some process has fd's file (opened read-only) open for writing, 0
 * if not or if it cannot be told (another owner's file without
 * CAP_LEASE, a file system without leases). Asked with a read lease that
 * the kernel refuses then, released at once.
 */
int fs_has_writer(int fd);
/* Opens a directory for listing; closedir() frees it. */
DIR *fs_opendir(int root, const char *vpath);
/*
 * Leaf operations on a folder descriptor this gate handed out (from
 * fs_open_parent or a listed directory). leaf is one name, never a path;
 * a final symlink is never followed.
 */
int fs_leaf_stat(int dirfd, const char *leaf, struct stat *st);
int fs_leaf_open(int dirfd, const char *leaf, int flags, mode_t mode);
int fs_leaf_unlink(int dirfd, const char *leaf);
int fs_leaf_rename(int dirfd, const char *from, const char *to, int noreplace);
/*
 * Where the folder dirfd (a descriptor this gate handed out) is in the home
 * now: its virtual path ("/" or "/a/b") in out. It may have been renamed
 * since it was opened. -1 if it is no longer inside the home (removed,
 * moved out) or the path does not fit.
 */
int fs_dir_vpath(int root, int dirfd, char *out, size_t outlen);
/* 1 if the folder vpath leads to, through the gate and with no symlink on
 * the way, is the folder dirfd holds; 0 if not or if that cannot be told
 * (then fs_dir_vpath says where dirfd is). Costs no /proc read. */
int fs_is_dir_at(int root, const char *vpath, int dirfd);
/* Partial name for leaf: RFTP_PARTIAL_PREFIX + leaf; for a leaf too long
 * for that (over 240 bytes), the prefix, its first 200 bytes (fewer, to
 * end on a whole UTF-8 character), '~' and 32 hex digits of its SHA-256
 * (fsgate.c). 0, or -1 (ENAMETOOLONG: it does not fit outlen). */
int fs_partial_leaf(const char *leaf, char *out, size_t outlen);
/* fs_walk's flags. */
#define FS_WALK_PARTIALS 1 /* upload partials too */
#define FS_WALK_FOLDERS  2 /* each folder too, before what it holds */
/*
 * Calls fn for every regular file under the home's folder vpath ("/" for
 * all), depth first, without following symlinks; what flags add. fn tells
 * a folder by st->st_mode, and returns 0 to go on. Returns 0, or -1 if
 * vpath cannot be opened.
 */
int fs_walk(int root, const char *vpath, int flags,
    int (*fn)(void *ctx, const char *vpath, const struct stat *st), void *ctx);
/* What a walk left out, which a caller that walks for an admin says
 * (catchup.c): entries whose path would be longer than RFTP_PATH_MAX - 1
 * bytes, and folders deeper than RFTP_PATH_DEPTH_MAX (with all they
 * hold, which are not counted). */
struct fs_walk_skips {
	size_t too_long;
	size_t too_deep;
	/* The folder (a path of the home) of the first entry left out, cut
	 * to its first bytes ("..." at its end then); "" if none. */
	char where[256];
};
/* fs_walk, counting in *sk (zeroed first) what it leaves out. */
int fs_walk_counted(int root, const char *vpath, int flags,
    int (*fn)(void *ctx, const char *vpath, const struct stat *st), void *ctx,
    struct fs_walk_skips *sk);
/* fs_walk_counted (sk may be NULL), and unopened (NULL: none) is called
 * with the path and errno of each folder below vpath the walk could not
 * open (its mode, no descriptor left), and of vpath or a folder below it
 * it could not list to its end (a mount answering getdents with EIO: what
 * it listed before is walked), whose contents it leaves out; it returns
 * 0 to go on, as fn does. */
int fs_walk_full(int root, const char *vpath, int flags,
    int (*fn)(void *ctx, const char *vpath, const struct stat *st),
    int (*unopened)(void *ctx, const char *vpath, int err), void *ctx,
    struct fs_walk_skips *sk);

#endif
