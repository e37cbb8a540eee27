/*
 * clock.c - the monotonic and the wall clock in ms (clock.h).
 */
#include "common/clock.h"

#include <time.h>

uint64_t
clock_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int64_t
clock_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ms of a timespec. */
static int64_t
ts_ms(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000 + t->tv_nsec / 1000000;
}

int64_t
clock_wall_offset_ms(void)
{
	struct timespec m0, wall, m1;

	/* The wall read between two monotonic ones: a thread preempted
	 * between its reads would see a lead off by the pause, which the
	 * next look would take for a step. Such a read is done again. */
	for (int tries = 0;; tries++) {
		clock_gettime(CLOCK_MONOTONIC, &m0);
		clock_gettime(CLOCK_REALTIME, &wall);
		clock_gettime(CLOCK_MONOTONIC, &m1);
		if (ts_ms(&m1) - ts_ms(&m0) <= 5 || tries == 3)
			break;
	}
	return ts_ms(&wall) - (ts_ms(&m0) + ts_ms(&m1)) / 2;
}

void
clock_cond_init(pthread_cond_t *cond)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(cond, &ca);
	pthread_condattr_destroy(&ca);
}

struct timespec
clock_mono_after(int64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (ms < 0)
		ms = 0;
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}
