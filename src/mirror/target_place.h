/*
 * target_place.h - where a target's files go (target_place.c).
 */
#ifndef RFTP_TARGET_PLACE_H
#define RFTP_TARGET_PLACE_H

#include <stdint.h>

struct mirror;
struct target_config;

/* At start: warns if t's place differs from the one recorded at the last
 * run that served (pushed: the files on record there). */
void target_place_warn_moved(
    struct mirror *m, const struct target_config *t, int64_t pushed);
/* Once the server is up (worker_pool_start): records t's place as the
 * one pushed to from now on. Its errors are logged by the queue. */
void target_place_record(struct mirror *m, const struct target_config *t);

#endif
