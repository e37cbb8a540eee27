/*
 * privdrop.h - who the daemon runs as once its ports are bound.
 *
 * Owns: looking up the [server] run_as account, handing it the files the
 * daemon keeps writing after start (the mirror queue), the permanent drop
 * itself (supplementary groups, gid, uid) and the proof that it cannot be
 * undone, plus the start-up warnings about what that account cannot read
 * or write (users.ini, homes). It binds nothing: server.c opens the
 * listeners as root first, then calls privdrop_apply once, before serving.
 */
#ifndef RFTP_PRIVDROP_H
#define RFTP_PRIVDROP_H

#include "common/config.h"

#include <stddef.h>
#include <sys/types.h>

struct privdrop_user {
	uid_t uid;
	gid_t gid;
};

/*
 * Looks name up in the passwd database. Returns 0 with *out filled, or -1
 * with a one-line reason in err: no such user, a failed lookup, or an
 * account with uid 0 (dropping to it would drop nothing).
 */
int privdrop_lookup(
    const char *name, struct privdrop_user *out, char *err, size_t errlen);

/*
 * Called once by the main thread after the listeners are bound and before
 * the first accept; other threads (the mirror) may already run: glibc
 * applies set*id to every thread of the process, and the drop is checked
 * in each of them. Root with run_as: drop for good. Root without run_as:
 * one warning. Not root: run_as must be the current user. Returns 0 to
 * serve, -1 to stop (the reason is logged).
 */
int privdrop_apply(const struct config *cfg);

#endif
