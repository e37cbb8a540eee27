/*
 * pathnorm.h - the pure half of the path resolver.
 *
 * Owns: turning a client's path argument (relative to its current directory)
 * into a normalised virtual path "/a/b" inside the user's home. No syscalls:
 * this is the part that is fuzzed and unit-tested with the traversal battery.
 * ".." never climbs above "/" (the home), like chroot. The other half,
 * server/fsgate.c, turns a virtual path into a file descriptor beneath the
 * home with openat2(RESOLVE_BENEATH), which also refuses symlinks that leave.
 */
#ifndef RFTP_PATHNORM_H
#define RFTP_PATHNORM_H

#include <stddef.h>

/* Upload partials are named PREFIX + final name; clients can never name one,
 * so they are never listed, downloaded, deleted or renamed by a client. */
#define RFTP_PARTIAL_PREFIX ".rftpd-partial."

enum path_err {
	PATH_OK = 0,
	PATH_EBADCHAR,  /* NUL, CR or LF in the argument */
	PATH_ETOOLONG,  /* result or one component too long */
	PATH_EDEEP,     /* too many components */
	PATH_ERESERVED, /* names an upload partial */
};

/*
 * Normalises arg against cwd (itself a normalised virtual path) into out
 * (outlen bytes, NUL-terminated). arg of length arglen may contain any byte;
 * an embedded NUL is refused. Returns PATH_OK or the reason it refused; out
 * is then unspecified.
 */
enum path_err path_normalize(
    const char *cwd, const char *arg, size_t arglen, char *out, size_t outlen);
/* The text a client sees for a refusal. */
const char *path_strerror(enum path_err err);
/* "/" -> ".", "/a/b" -> "a/b": the form openat2 takes beneath the home. */
const char *path_rel(const char *vpath);
/* Last component of a normalised path ("" for "/"). */
const char *path_leaf(const char *vpath);
/* The path of name, an entry read from the folder at dir (a normalised
 * path), into out: dir + "/" + name. Unlike a client's argument, name may
 * hold CR or LF (any byte a folder can: another program made it there),
 * and is one component already. 0, or -1 if out is too short or the path
 * would be deeper than RFTP_PATH_DEPTH_MAX. */
int path_child(const char *dir, const char *name, char *out, size_t outlen);
/* strcmp, except that '/' sorts before every other byte: a folder's
 * paths then follow it at once ("/a", "/a/b", "/a b"), each folder before
 * what it holds. */
int path_cmp_tree(const char *a, const char *b);
/* Whether a directory entry name is an upload partial (hidden from lists). */
int path_is_partial_name(const char *name);

#endif
