/*
 * clock.h - the two clocks the daemon reads, in milliseconds.
 *
 * Owns: which POSIX clock serves which purpose. Deadlines, timeouts and
 * bans measure intervals with the monotonic clock (a wall-clock step must
 * not lift a ban or fire a timeout); times that are stored or shown (queue
 * rows, received files, the status page) are the wall clock's, as ms
 * since the epoch. A stored time that is a deadline (a retry's due time,
 * which must outlive a restart) is the wall clock's too: its holder
 * watches clock_wall_offset_ms for steps and moves it along.
 */
#ifndef RFTP_CLOCK_H
#define RFTP_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC: for intervals and deadlines. */
uint64_t clock_mono_ms(void);
/* CLOCK_REALTIME: ms since the epoch, for what is stored or shown. */
int64_t clock_wall_ms(void);
/* The wall clock's lead over the monotonic one (ms): it moves when the
 * wall clock is set (a step), slewed (by NTP: at most 0.5 ms a second) or
 * when the host slept. */
int64_t clock_wall_offset_ms(void);
/* A condition variable whose timed waits run on CLOCK_MONOTONIC, and the
 * absolute time ms from now to give them: a wall clock set back cannot
 * stretch such a wait. */
void clock_cond_init(pthread_cond_t *cond);
struct timespec clock_mono_after(int64_t ms);

#endif
