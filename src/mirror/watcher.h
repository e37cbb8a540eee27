/*
 * watcher.h - mirroring files that appear in homes by other means.
 *
 * Owns: inotify watches on every folder of every home whose user has
 * targets, and turning "a writer closed this file" (or "a file was moved
 * in") into a PUT event for the mirror, once the file has been quiet for
 * watch_debounce_ms and no process holds it open for writing. Uploads that
 * the server itself publishes (a partial renamed into place) are skipped:
 * the server already reported them. Files that changed while the daemon
 * was down are found by the mirror's start-up catch-up, not here.
 */
#ifndef RFTP_WATCHER_H
#define RFTP_WATCHER_H

#include "common/config.h"
#include "common/upload_sink.h"

#include <stddef.h>

struct watcher;

struct userdb;

/* Starts the watcher thread; NULL with err filled on failure. cfg and db
 * (the server's users, common/users.h, which the watcher shares) must
 * outlive it. */
struct watcher *watcher_start(const struct config *cfg, struct userdb *db,
    struct upload_sink sink, char *err, size_t errlen);
void watcher_stop(struct watcher *w);

#endif
