/*
 * rpath.h - the names a transport gives a file on a target.
 *
 * Owns: building remote paths from a target's folders and the mirror's
 * path ("/user/dir/name"): the temporary name a copy is uploaded under, a
 * path joined to the target's URL folder or to the FTP login folder, and
 * the check that a path fits the target's buffers at all. Pure: no I/O, no
 * allocation, so it is unit-tested over long and hostile names. Every
 * result is whole or an error: a name cut short could rename or delete
 * another file, so no function here ever writes a shorter path.
 */
#ifndef RFTP_RPATH_H
#define RFTP_RPATH_H

#include <stddef.h>
#include <stdint.h>

/* Prefix of the temporary names on targets. */
#define RFTP_TMP_PREFIX ".rftpd-tmp."

/* Room for RFTP_TMP_PREFIX, a job number and a dot in temporary names. */
#define RPATH_TMP_EXTRA 64

/*
 * Writes base + the folder of rpath + "/" RFTP_TMP_PREFIX tag "." leaf
 * (the leaf cut to 200 bytes, so the name stays within a server's name
 * limit; the job number keeps it unique). rpath starts with '/'. Returns
 * 0, or -1 if it does not fit outlen (out is then "" when outlen > 0).
 */
int rpath_tmp_name(
    char *out, size_t outlen, const char *base, const char *rpath, int64_t tag);

/* out = a followed by b. 0, or -1 if it does not fit (out is then ""). */
int rpath_join(char *out, size_t outlen, const char *a, const char *b);

/*
 * The bytes a target needs for rpath at most: login folder (entry), URL
 * folder (base), rpath and a temporary name's extra. A path whose need is
 * RFTP_PATH_MAX or more is refused before anything is sent.
 */
size_t rpath_need(const char *entry, const char *base, const char *rpath);

/*
 * Writes the login folder entry (its trailing '/' dropped) followed by
 * path: the absolute form of a path that an FTP URL gives relative to the
 * login folder (RFC 1738 section 3.2.2); a path that starts with "//" is
 * one from the server's root (a URL "ftp://host//abs" or "/%2Fabs"), given
 * as "/abs". 0, or -1 if it does not fit.
 */
int rpath_from_entry(
    char *out, size_t outlen, const char *entry, const char *path);

/*
 * The parent folder of rpath ("/u/a/b" -> "/u/a"; a home's path too). 0,
 * or -1 for none ("/a", no '/') or if it does not fit (out is then left
 * as it was).
 */
int rpath_parent(const char *rpath, char *out, size_t outlen);

#endif
