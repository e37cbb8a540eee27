/*
 * target_place.h - where a target's files go (target_place.c).
 */
#ifndef RFTP_TARGET_PLACE_H
#define RFTP_TARGET_PLACE_H

#include <stdint.h>

struct mirror;
struct queue;
struct target_config;

/* At start: warns if t's place differs from the one recorded at the last
 * run that served (pushed: the files on record there). */
void target_place_warn_moved(
    struct mirror *m, const struct target_config *t, int64_t pushed);
/* If t's place differs from the one recorded (its url was changed to
 * another server or folder), forgets the target's drops for good (a name
 * the old place could not take, a case twin there): the new place may
 * take them, and the start-up walk and resync skipped them for good.
 * At start, and by resync (which may run before the next start). */
void target_place_forget_drops(struct queue *q, const struct target_config *t);
/* Once the server is up (worker_pool_start): records t's place as the
 * one pushed to from now on. Its errors are logged by the queue. */
void target_place_record(struct mirror *m, const struct target_config *t);

#endif
