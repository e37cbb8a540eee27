/*
 * fsusage.h - the login-time count of a home for the quota.
 *
 * Owns: the descriptor walk that measures a whole home (fs_usage) and the
 * count of one folder's entries (fs_count_entries). Both follow the fs
 * gate's rules (common/fsgate.h): they start from the home's directory
 * descriptor or a gate-issued one, open only relative to it with
 * O_NOFOLLOW, and never follow a symlink. They are apart from fsgate.c
 * because the walk is a budgeted algorithm of its own, not a single call.
 */
#ifndef RFTP_FSUSAGE_H
#define RFTP_FSUSAGE_H

#include <stddef.h>
#include <stdint.h>

/* What fs_usage counted. */
struct fs_usage {
	uint64_t bytes;   /* of regular files, partials included */
	uint64_t files;   /* regular files, partials included */
	uint64_t folders; /* below the home (the home itself not counted) */
};

/*
 * Measures the whole home for the quota, no symlink followed. Unlike
 * fs_walk it builds no paths and keeps at most two descriptors open (it
 * climbs back through "..", checked against the folder it came from), so
 * neither path length nor depth hides anything; what bounds it is an
 * explicit budget: max_entries names in all, max_depth levels below the
 * home. Returns 0 when everything was counted. Returns -1 when something
 * could not be (a folder that cannot be opened or read, an entry that
 * cannot be stat'ed, a folder moved during the walk, a budget reached, no
 * memory): *u then holds what was counted so far and why the reason,
 * naming the folder (cut to whylen, never unterminated).
 */
int fs_usage(int root, uint64_t max_entries, uint64_t max_depth,
    struct fs_usage *u, char *why, size_t whylen);
/*
 * Counts the entries of the folder dirfd (a gate-issued descriptor, O_PATH
 * allowed), partials included, stopping at stop_at (0 = count all).
 * Returns 0 with *n, or -1 with errno.
 */
int fs_count_entries(int dirfd, uint64_t stop_at, uint64_t *n);
/*
 * An upper bound of the entries of the folder dirfd without reading it,
 * from its size where the filesystem makes that a bound (ext2/3/4: an
 * entry takes at least 12 bytes of it; tmpfs: 20 each). Returns 0 with
 * *most, or -1 (errno ENOTSUP elsewhere: then only counting tells).
 */
int fs_entries_bound(int dirfd, uint64_t *most);

#endif
