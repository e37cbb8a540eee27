/*
 * finwatch.h - is the client that closed an upload's data connection
 * still there? See finwatch.c.
 */
#ifndef RFTP_FINWATCH_H
#define RFTP_FINWATCH_H

#include "server/session.h"

#include <stdint.h>
#include <time.h>

/*
 * After the clear-text data FIN seen at *fin (CLOCK_MONOTONIC) that ended
 * got bytes: CTRL_QUIET if the client is alive (publish), CTRL_DEAD if it
 * left, CTRL_ABORT on ABOR. Costs one poll when the client is gone or got
 * is the count it declared with ALLO (*declared; NULL: none); otherwise a getsockopt
 * and the watch (1 ms + min RTT on an idle host, upload_close_grace_ms
 * on a busy one). Reads pending control lines into the session
 * like session_check_control.
 */
enum ctrl_event finwatch_after_fin(struct session *s,
    const struct timespec *fin, uint64_t got, const uint64_t *declared);

#endif
