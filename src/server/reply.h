/*
 * reply.h - the control channel's output: FTP replies and the session's
 * log lines.
 *
 * Owns: formatting a reply (RFC 959 4.2: "CODE text" or a multi-line
 * reply), keeping CR and LF of names out of it, writing it within the idle
 * timeout to a client that may not read, the errno-to-reply table, and the
 * "[id ip user]" prefix of log lines. It does not decide which reply a
 * command gets: only the command handlers (cmd_*.c), the dispatcher
 * (cmdtable.c) and the session loop call these.
 */
#ifndef RFTP_REPLY_H
#define RFTP_REPLY_H

#include <stddef.h>

struct session;

/* Replies. One line: "CODE text". Multi-line: reply_start("CODE-text"),
 * reply_line(" text") as needed, then reply(code, final). A text too long
 * for RFTP_REPLY_MAX is cut: a reply is a message, not a path the client
 * acts on. */
void reply(struct session *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void reply_start(struct session *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void reply_line(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Replies for a failed filesystem call, mapping errno to a reply. A
 * failure that is the admin's to fix (a full disk, a read-only file
 * system) is logged with the command's verb and what; any other (a path
 * that is not there, permission, a name that exists, a folder not empty)
 * at info with the client's argument and why, the first
 * RFTP_BAD_CMDS_LOGGED of a session for each of "missing" (ENOENT,
 * ENOTDIR) and the others. */
void reply_errno(struct session *s, int code, const char *what, int err);
/* The same, for a what that does not name the file (vpath does, for the
 * log only: "Cannot create file" told the admin of no file). */
void reply_errno_at(
    struct session *s, int code, const char *what, const char *vpath, int err);
/* "code what: why." for a path refused for a reason that is no errno
 * ("Not a plain file"), logged as reply_errno_at logs the client's
 * refusals (vpath NULL: what alone is logged). */
void reply_refused_at(struct session *s, int code, const char *what,
    const char *vpath, const char *why);
/* Only the log line of reply_refused_at, for a refusal whose reply says
 * more than "what: why." (a REST's numbers). */
void log_refused_at(struct session *s, const char *vpath, const char *why);
/* Writes raw bytes to the control channel (multi-line bodies). Returns 0,
 * or -1 once the client stopped taking replies (the session then ends). */
int session_write(struct session *s, const char *p, size_t n);
/* Log with the session's "[id ip user]" prefix. */
void slog(struct session *s, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
