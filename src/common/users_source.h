/*
 * users_source.h - where a config's users come from.
 *
 * Owns: the one choice between the users file (users_file, the daemon's
 * and a loaded config's) and a built config's user entries
 * (config->user_entries, librelayftpd's rftpd_config_add_user, when
 * users_file is ""). The server, the watcher, the catch-up scan and the
 * privilege drop all read users through here, so a built config's users
 * are mirrored, watched and caught up like a file's.
 */
#ifndef RFTP_USERS_SOURCE_H
#define RFTP_USERS_SOURCE_H

#include "common/buf.h"
#include "common/config.h"
#include "common/users.h"

/* The name users problems are reported under: the users file, or the
 * builder's name. */
const char *users_source_name(const struct config *cfg);
/* The users now: a new set (users_set_free), or NULL with the problems
 * in errs. A config with neither a file nor entries has no users: an
 * empty set (logins through an authenticate callback only). */
struct user_set *users_source_load(const struct config *cfg, struct buf *errs);
/* The live store for the server (users.h); NULL with errs filled. check
 * (NULL: none) is run on the users before they are served, as
 * userdb_open_checked does, and on every reload. */
struct userdb *users_source_open(const struct config *cfg,
    userdb_check_fn check, void *check_ctx, struct buf *errs);
/* 1 if the users come from a file that may change (reload, watch). */
int users_source_is_file(const struct config *cfg);

#endif
