/*
 * target_place.h - where a target's files go (target_place.c).
 */
#ifndef RFTP_TARGET_PLACE_H
#define RFTP_TARGET_PLACE_H

#include <stdint.h>

struct mirror;
struct target_config;

/* At start: records t's place in the queue and warns if it differs from
 * the one recorded at the last run (pushed: the files on record there). */
void target_place_warn_moved(
    struct mirror *m, const struct target_config *t, int64_t pushed);

#endif
