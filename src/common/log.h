/*
 * log.h - the daemon's one logger.
 *
 * Owns: formatting and writing log lines (stderr, line-buffered, one write per
 * line so threads do not interleave). Knows nothing of sessions: callers pass
 * their own "[id ip user]" prefix through log_msg's format.
 */
#ifndef RFTP_LOG_H
#define RFTP_LOG_H

enum log_level {
	LOG_ERR,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG,
};

void log_set_level(enum log_level level);
/* "error", "warn", "info" or "debug" into *out: 0, or -1 for another name. */
int log_level_parse(const char *name, enum log_level *out);
int log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Logs each non-empty line of text (several problems gathered with line
 * breaks, such as a config file's) as a line of its own, after prefix. */
void log_lines(enum log_level level, const char *prefix, const char *text);
#define log_err(...)   log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
