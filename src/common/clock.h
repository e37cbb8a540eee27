/*
 * clock.h - the two clocks the daemon reads, in milliseconds.
 *
 * Owns: which POSIX clock serves which purpose. Deadlines, timeouts and
 * bans measure intervals with the monotonic clock (a wall-clock step must
 * not lift a ban or fire a timeout); times that are stored or shown (queue
 * rows, received files, the status page) are the wall clock's, as ms
 * since the epoch.
 */
#ifndef RFTP_CLOCK_H
#define RFTP_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC: for intervals and deadlines. */
uint64_t clock_mono_ms(void);
/* CLOCK_REALTIME: ms since the epoch, for what is stored or shown. */
int64_t clock_wall_ms(void);

#endif
