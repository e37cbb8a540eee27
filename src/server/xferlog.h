/*
 * xferlog.h - the optional transfer log in the classic xferlog(5) format
 * (as wu-ftpd, vsftpd and pure-ftpd write it), for existing log tools.
 */
#ifndef RFTP_XFERLOG_H
#define RFTP_XFERLOG_H

#include <stdint.h>

struct xferlog;

/* Opens path for appending; NULL with errno on failure. */
struct xferlog *xferlog_open(const char *path);
void xferlog_close(struct xferlog *x);
/* Opens the path again (after logrotate renamed the file) and writes the
 * following records there; the old file stays in use if that fails
 * (logged). Safe while sessions write; nothing for NULL. 0 or -1. */
int xferlog_reopen(struct xferlog *x);
/* direction 'i' (upload) or 'o' (download); complete 'c' or 'i'. */
void xferlog_write(struct xferlog *x, const char *host, const char *user,
    const char *path, uint64_t bytes, double seconds, int ascii, char direction,
    char complete);

#endif
