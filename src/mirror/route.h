/*
 * route.h - which targets take a change of a user's home, and where.
 *
 * Owns: the routing rules of README "Mirror": a user's mirror = list of
 * targets ("" = all of them), a target's include/exclude glob lists
 * (fnmatch(3), matched against the whole path in the home and against its
 * last name), the flat or per-user layout, the remote path of a home path,
 * and the plan that turns one change event into jobs per target. Pure
 * functions of their arguments: no threads, no SQL, no I/O.
 */
#ifndef RFTP_ROUTE_H
#define RFTP_ROUTE_H

#include "common/config.h"
#include "common/limits.h"
#include "common/upload_sink.h"
#include "mirror/queue.h"

#include <stddef.h>

/* 1 if the glob list (comma or blank separated) has a pattern that
 * matches path ("/a/b.txt") or its last name ("b.txt"); 0 if none does or
 * the list is empty. */
int route_matches_any(const char *globs, const char *path);
/* 1 if a user whose mirror = list is list sends to target name: an empty
 * list means every target, "none" none. */
int route_user_wants(const char *list, const char *name);
/* 1 if target t takes path of a user whose mirror = list is mirror_list:
 * the user wants t, the last name is not one of the mirror's temporary
 * names (".rftpd-tmp.", rpath.h), include (if set) matches and exclude
 * does not. */
int route_target_takes(
    const struct target_config *t, const char *mirror_list, const char *path);
/* route_target_takes for a user who sends to t: the name rules alone
 * (not a temporary name, include, exclude). */
int route_target_takes_name(const struct target_config *t, const char *path);
/*
 * The path on target t of user's path in the home: path itself for a
 * flat layout, else "/user" path. 0, or -1 if it does not fit in outlen
 * (out is then empty: a truncated path is never used).
 */
int route_remote_path(const struct target_config *t, const char *user,
    const char *path, char *out, size_t outlen);

/* The jobs an event becomes: on the targets in other[] the change itself
 * (a delete, a rename, a folder), written ahead as an intent; on those in
 * put[] a put (or a time) of the event's file, recorded after the change
 * (an upload, a time, a rename a target does not propagate). The names
 * point into the target configs. */
struct route_plan {
	enum job_op op; /* of the jobs in other[] */
	const char *other[RFTP_TARGETS_MAX];
	size_t nother;
	enum job_op put_op; /* of the jobs in put[]: JOB_PUT or JOB_TIME */
	const char *put[RFTP_TARGETS_MAX];
	size_t nput;
};

/* Fills p for event ev over the ntargets (at most RFTP_TARGETS_MAX)
 * targets. */
void route_plan(const struct target_config *targets, unsigned ntargets,
    const struct upload_event *ev, struct route_plan *p);
/* The path the puts of ev are for: the new name of a rename. */
const char *route_put_path(const struct upload_event *ev);

#endif
