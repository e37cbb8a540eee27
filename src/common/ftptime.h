/*
 * ftptime.h - FTP time values (RFC 3659 section 2.3) and the argument
 * shapes of the commands that set a file's time.
 *
 * Owns: turning "YYYYMMDDHHMMSS[.F]" (always UTC) into a struct timespec
 * and back, and splitting MFMT / MDTM / SITE UTIME arguments into a time
 * and a path. Pure: no syscalls, no time zone, no locale; fuzzable.
 * Paths are never interpreted here, only cut out of the line.
 */
#ifndef RFTP_FTPTIME_H
#define RFTP_FTPTIME_H

#include <stddef.h>
#include <time.h>

enum ftptime_err {
	FTPTIME_OK,
	FTPTIME_NOT_A_TIME, /* not shaped like a time at all */
	FTPTIME_BAD,        /* shaped like one, but no such moment */
};

/* "YYYYMMDDhhmm" (no seconds), as proftpd's SITE UTIME takes it. */
#define FTPTIME_MINUTES_OK 1u

/*
 * Parses the len bytes at s as one time value (years 0001-9999, seconds
 * 00-60; up to 9 fraction digits are kept, more are ignored).
 */
enum ftptime_err ftptime_parse(
    const char *s, size_t len, unsigned flags, struct timespec *out);
/*
 * "TIME PATH": the time is the first token, the path is everything after
 * the one space that follows it (spaces, quotes, a leading '-' included).
 * On FTPTIME_OK *path points into arg. FTPTIME_NOT_A_TIME also when there
 * is no path after the time.
 */
enum ftptime_err ftptime_lead(
    const char *arg, unsigned flags, struct timespec *t, const char **path);
/*
 * "PATH ATIME MTIME CTIME UTC" (the five-argument SITE UTIME of proftpd
 * and pure-ftpd), read from the end so the path may hold spaces. On
 * FTPTIME_OK *pathlen is the length of the path at the start of arg.
 */
enum ftptime_err ftptime_utime5(const char *arg, struct timespec *atime,
    struct timespec *mtime, size_t *pathlen);
/* "YYYYMMDDHHMMSS" of t in UTC into out (at least 15 bytes); adds ".mmm"
 * when t has milliseconds and out has room (20 bytes). Returns 0 or -1. */
int ftptime_format(const struct timespec *t, char *out, size_t outlen);

#endif
