/*
 * mounts.h - the mount table as the watcher needs it: which mounts came
 * or went between two reads of /proc/self/mountinfo.
 *
 * Owns: parsing mountinfo's text (mount ID and mount point, its octal
 * escapes undone) into a table sorted by ID, and the difference of two
 * tables. Pure memory but for mounts_read; one thread uses a table.
 */
#ifndef RFTP_MOUNTS_H
#define RFTP_MOUNTS_H

#include <stddef.h>
#include <stdint.h>

struct mount_entry {
	uint64_t id;
	char *path; /* the mount point, allocated to its length */
};

struct mount_table {
	struct mount_entry *v; /* sorted by id */
	size_t n;
};

/* Parses len bytes of mountinfo text into *t (emptied first; lines that
 * do not parse are skipped). 0, or -1 without memory (*t empty). */
int mounts_parse(const char *text, size_t len, struct mount_table *t);
/* Reads the whole of fd (an open /proc/self/mountinfo, read from its
 * start) into *t. 0, or -1 (errno; *t empty). */
int mounts_read(int fd, struct mount_table *t);
void mounts_free(struct mount_table *t);
/* Calls fn(ctx, path) for the mount point of every mount in one table
 * and not the other (came or went). */
void mounts_diff(const struct mount_table *a, const struct mount_table *b,
    void (*fn)(void *ctx, const char *path), void *ctx);

#endif
