/*
 * numparse.h - checked number parsing (we never use atoi or bare strtoul).
 *
 * Owns: turning decimal text into integers with range checks, size suffixes
 * (K/M/G/T, powers of 1024), port ranges and on/off booleans. Pure functions.
 */
#ifndef RFTP_NUMPARSE_H
#define RFTP_NUMPARSE_H

#include <stddef.h>
#include <stdint.h>

/* Whole string must be decimal digits, value <= max. 0 on success. */
int parse_u64(const char *s, uint64_t max, uint64_t *out);
/* Like parse_u64 but accepts an optional K/M/G/T suffix (KiB multiples). */
int parse_size(const char *s, uint64_t *out);
/* "50000-50100" (or one port "50000"); lo <= hi, both 1..65535. */
int parse_port_range(const char *s, uint16_t *lo, uint16_t *hi);
/* yes/no/on/off/true/false/1/0. */
int parse_bool(const char *s, int *out);

/*
 * Splits a list "a, b c" (commas and/or blanks): copies the next item into
 * item (itemlen bytes) and advances *cursor. Returns 1 for an item, 0 at the
 * end, -1 if an item does not fit.
 */
int parse_list_next(const char **cursor, char *item, size_t itemlen);
#endif
