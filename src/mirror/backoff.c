/*
 * backoff.c - see backoff.h.
 *
 * Owns the arithmetic of retries. Must not sleep, lock or touch the queue:
 * worker.c applies the delay to the target and records it; the tests call
 * these functions with every corner of the config's bounds.
 */
#include "mirror/backoff.h"

#include <stdlib.h>
#include <sys/random.h>

#define BACKOFF_CAP_S ((uint64_t)1 << 32)

int64_t
backoff_delay_ms(const struct mirror_config *mc, unsigned failures, uint32_t r)
{
	uint64_t secs = mc->retry_initial, cap = mc->retry_max, ms;

	/* config bounds retry_max to a week; a larger one (not from
	 * config) is held to 2^32 s so the products below cannot wrap. */
	if (cap > BACKOFF_CAP_S)
		cap = BACKOFF_CAP_S;

	/* Doubling stops at the cap, so secs never overflows: a bounded
	 * loop (at most 64 turns) whatever failures is. retry_initial 0
	 * (config refuses it) would stay 0: stop then too. */
	for (unsigned i = 1; i < failures && secs < cap && secs > 0; i++)
		secs = secs > cap / 2 ? cap : secs * 2;
	if (secs > cap)
		secs = cap;
	/* The step plus up to half of it, within [retry_initial,
	 * retry_max]. */
	ms = secs * 1000 + (secs * 500 * (r % 1001)) / 1000;
	if (ms > cap * 1000)
		ms = cap * 1000;
	return (int64_t)ms;
}

int64_t
backoff_asked_ms(const struct mirror_config *mc, int64_t delay_ms,
    int64_t asked_s, int *capped)
{
	uint64_t cap = mc->retry_max;
	int64_t asked;

	if (capped != NULL)
		*capped = 0;
	if (asked_s <= 0)
		return delay_ms;
	if (cap > BACKOFF_CAP_S)
		cap = BACKOFF_CAP_S;
	/* Compared in seconds first: asked_s * 1000 could wrap. */
	if ((uint64_t)asked_s > cap) {
		if (capped != NULL)
			*capped = 1;
		asked = (int64_t)cap * 1000;
	} else {
		asked = asked_s * 1000;
	}
	return asked > delay_ms ? asked : delay_ms;
}

int64_t
backoff_delta_seconds(const char *text, size_t len)
{
	size_t i = 0, end = len;
	int64_t secs = 0;

	while (i < end && (text[i] == ' ' || text[i] == '\t'))
		i++;
	while (end > i && (text[end - 1] == ' ' || text[end - 1] == '\t'))
		end--;
	if (i == end)
		return -1;
	for (; i < end; i++) {
		int d = text[i] - '0';

		if (d < 0 || d > 9)
			return -1;
		secs = secs > (INT64_MAX - d) / 10 ? INT64_MAX : secs * 10 + d;
	}
	return secs;
}

int
backoff_date_form(const char *text, size_t len)
{
	size_t i = 0;

	while (i < len && (text[i] == ' ' || text[i] == '\t'))
		i++;
	return i < len &&
	    ((text[i] >= 'A' && text[i] <= 'Z') ||
	        (text[i] >= 'a' && text[i] <= 'z'));
}

int
backoff_park(const struct mirror_config *mc, int64_t attempts)
{
	return mc->max_attempts != 0 && attempts >= 0 &&
	    (uint64_t)attempts + 1 >= mc->max_attempts;
}

uint32_t
backoff_random(void)
{
	uint32_t r = 0;

	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (uint32_t)rand();
	return r;
}
