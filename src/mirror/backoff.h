/*
 * backoff.h - the retry schedule of a failing target.
 *
 * Owns: how long a target rests after its failures-th consecutive failure
 * (retry_initial doubled per failure, at most retry_max, plus a random
 * 0-50 % so that targets and workers do not retry in lockstep, never
 * beyond retry_max) and when a failing job is parked (max_attempts).
 * Pure: the random number is an argument, so the schedule is testable.
 */
#ifndef RFTP_BACKOFF_H
#define RFTP_BACKOFF_H

#include "common/config.h"

#include <stddef.h>
#include <stdint.h>

/*
 * Milliseconds to wait after the failures-th consecutive failure (1 =
 * the first): min(retry_max, retry_initial * 2^(failures-1)) seconds,
 * stretched by (r % 1001) / 2000 of itself and capped at retry_max.
 * failures 0 counts as 1. Never overflows, whatever failures is.
 */
int64_t backoff_delay_ms(
    const struct mirror_config *mc, unsigned failures, uint32_t r);
/*
 * The delay after a failure whose answer asked for a pause (Retry-After
 * on a 429 or 503, RFC 9110 section 10.2.3; push_result.retry_after_s):
 * at least asked_s seconds, never more than retry_max (the admin's cap:
 * a service's "Retry-After: 99999999" must not stall the target for
 * years), never less than delay_ms, what the failure would wait
 * otherwise. asked_s 0 or less (not asked) gives delay_ms. *capped, if
 * not NULL, is set to 1 when the ask was cut to retry_max, else 0.
 */
int64_t backoff_asked_ms(const struct mirror_config *mc, int64_t delay_ms,
    int64_t asked_s, int *capped);
/*
 * The seconds of a Retry-After value in its delta-seconds form (RFC 9110
 * section 10.2.3: 1*DIGIT, blanks around it allowed), saturated at
 * INT64_MAX: a number too large to hold is a pause longer than any, as
 * RFC 9111 section 1.2.2 reads it, not no pause (libcurl 7.88 reads one
 * past 2^63 as no header). -1 if text is not in that form (an HTTP-date,
 * empty, a sign, other bytes). text: len bytes, no NUL needed.
 */
int64_t backoff_delta_seconds(const char *text, size_t len);
/*
 * 1 if a Retry-After value not in the delta-seconds form may be an
 * HTTP-date (RFC 9110 section 5.6.7: each of its three forms begins with
 * a day's name), for libcurl to read: its first byte after blanks is a
 * letter. 0 otherwise ("30 seconds", "1e3", "-5", "", "+3"): libcurl
 * would read such a value's leading digits as a count of seconds.
 * text: len bytes, no NUL needed.
 */
int backoff_date_form(const char *text, size_t len);
/* 1 if a job that has failed attempts times before this failure is now
 * parked as failed (max_attempts reached; 0 = never park). */
int backoff_park(const struct mirror_config *mc, int64_t attempts);
/* A random number for backoff_delay_ms (getrandom, else rand). */
uint32_t backoff_random(void);

#endif
