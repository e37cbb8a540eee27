/*
 * logpath.h - a home path as a field of a mirror log line.
 *
 * Owns: writing "/user/path" into "path=...", "to=..." and "from=..." so
 * that the line says one path and nothing more. A name is the client's
 * choice: "report.pdf bytes=1 verify=hash" written as it is forged the
 * fields after it, and a 4,000-byte path pushed the reason past the
 * log's line length. So a path holding a blank, '"', '\' or a control
 * byte is written in double quotes with '"' and '\' escaped by '\' and
 * control bytes as \xHH, and a path longer than LOGPATH_KEEP bytes keeps
 * its two ends around "[...N bytes...]" (cut between UTF-8 characters),
 * quoted. Other paths are written
 * as they are, so the usual line is unchanged.
 */
#ifndef RFTP_LOGPATH_H
#define RFTP_LOGPATH_H

#include <stddef.h>

/* Room for any result: 2 x LOGPATH_KEEP / 2 bytes escaped (4 each at
 * most), the marker and the quotes. */
#define LOGPATH_KEEP 512
#define LOGPATH_MAX  (4 * LOGPATH_KEEP + 64)

/* "/" user path into out (LOGPATH_MAX bytes), or path alone if user is
 * NULL; returns out. */
const char *logpath(
    char *out, size_t outlen, const char *user, const char *path);
/* logpath into a buffer that lives until the end of the enclosing block:
 * for the arguments of one log call. */
#define LOGPATH(user, path) \
	logpath((char[LOGPATH_MAX]){ 0 }, LOGPATH_MAX, (user), (path))

#endif
