/*
 * log.h - the daemon's one logger.
 *
 * Owns: formatting and writing log lines (stderr, or the file [server]
 * log_file names; one write per line so threads do not interleave),
 * reopening that file for logrotate, and log routes: a thread bound to a
 * route (an embedded server's log callback and level) sends its lines
 * there instead. Knows nothing of sessions: callers pass their own
 * "[id ip user]" prefix through log_msg's format.
 */
#ifndef RFTP_LOG_H
#define RFTP_LOG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

enum log_level {
	LOG_ERR,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG,
};

/* Where one embedded server's lines go: fn gets each line (without a
 * timestamp or a line break) at or below level. */
struct log_route {
	void (*fn)(void *ctx, enum log_level level, const char *line);
	void *ctx;
	enum log_level level;
};

/* Binds the calling thread to route (NULL: the process's stderr or
 * log_file again). route must outlive the binding; threads started with
 * thread_start (common/thread.h) inherit their creator's. */
void log_route_bind(const struct log_route *route);
/* The calling thread's route, or NULL. */
const struct log_route *log_route_current(void);

/* The level of the process's own log (stderr, log_file). */
void log_set_level(enum log_level level);
/* "error", "warn", "info" or "debug" into *out: 0, or -1 for another name. */
int log_level_parse(const char *name, enum log_level *out);
int log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A line to the process's own log (stderr or log_file) whatever the
 * thread's route and level: what a route without a callback of its own
 * does with its lines. errno is left as the line's write(2) set it
 * when that failed (rftpd_log_stderr tells its signal by it). */
void log_write(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

struct sockaddr;
/* A client's address as log lines show it: IPv4 dotted (an IPv4-mapped
 * IPv6 address too), IPv6 text, "?" for another family. */
void log_addr_text(const struct sockaddr *sa, char *out, size_t outlen);

/* The priority prefix of sd-daemon(3) ("<3>" for LOG_ERR ... "<7>" for
 * LOG_DEBUG) when stderr is the systemd journal's stream, else "": for
 * lines written to stderr without log_msg (a failed start), so that
 * journalctl -p shows them at their level. Static strings. */
const char *log_stderr_priority(enum log_level level);

/*
 * Opens path for appending, creating it 0640: log_file's and xferlog's
 * one way in. A symbolic link as the last component is refused (ELOOP):
 * the files are opened as root at start, in a folder run_as may write
 * (their reopen needs it), so a link planted there would have root write
 * log lines, whose text clients choose in part, into any file. A
 * descriptor, or -1 with errno set.
 */
int log_open_append(const char *path);

/*
 * From now on log lines go to path (opened for appending, created 0640)
 * instead of stderr. Call once, before any thread logs. 0, or -1 with the
 * reason in err (lines then still go to stderr).
 */
int log_open_file(const char *path, char *err, size_t errlen);
/*
 * Opens the log_file's path again (after logrotate renamed it) and sends
 * the following lines there; nothing when logs go to stderr. Safe while
 * other threads log. 0, or -1 (logged; the old file stays in use).
 */
int log_reopen(void);
/*
 * Appends the len bytes of text (whole lines) to fd with one write(2), as
 * the log does: if *cut says the file ends in a line a full disk (or a
 * file size limit) cut, a newline ends it first, so no line is glued to
 * the next; *cut is set again if this write is cut in turn. Returns the
 * bytes of text written (len, fewer, 0), or -1 (errno) if none was.
 */
ssize_t log_append(int fd, atomic_int *cut, char *text, size_t len);

/* Logs each non-empty line of text (several problems gathered with line
 * breaks, such as a config file's) as a line of its own, after prefix. */
void log_lines(enum log_level level, const char *prefix, const char *text);
/* The length of the character at s (len bytes left) if it must not be
 * shown as it is in a log or a status line, else 0: a control byte (C0,
 * DEL), the UTF-8 forms of the C1 controls (U+0080-U+009F: NEL breaks a
 * line in some viewers), of the line and paragraph separators (U+2028,
 * U+2029: a line break to JavaScript and to Python's splitlines), and of
 * the direction marks, overrides and isolates (U+061C, U+200E, U+200F,
 * U+202A-U+202E, U+2066-U+2069: they reorder what is shown). */
size_t log_unsafe_len(const char *s, size_t len);
/* Makes len bytes of s safe to show in a log, in place and at the same
 * length: each byte of what log_unsafe_len finds becomes '?', and so does
 * each byte that is not part of valid UTF-8 (a log line must be text). */
void log_defang(char *s, size_t len);
/* Writes s to f for an admin's terminal, one line of text whatever it
 * holds: each byte of what log_unsafe_len finds, and each byte that is not
 * part of valid UTF-8, as \xNN (an ESC from a client's file name would
 * otherwise drive the terminal); with quote, '"' and '\\' get a
 * backslash too, so the text can stand between quotes. */
void log_fput_text(FILE *f, const char *s, int quote);
#define log_err(...)   log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
