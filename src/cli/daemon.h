/*
 * daemon.h - `relayftpd --config FILE`: the daemon around the engine.
 *
 * Owns: what only a daemon does: the process's log file and umask,
 * printing "admin listening on URL" and "listening on ADDR:PORT", turning
 * SIGTERM/SIGINT/SIGHUP/SIGUSR1 into a stop, a users reload and a log
 * reopen, and telling systemd each change of state (svcnotify.h). The
 * engine (src/lib/engine.h) does the serving, for the daemon as for the
 * library.
 */
#ifndef RFTP_CLI_DAEMON_H
#define RFTP_CLI_DAEMON_H

#include "common/buf.h"
#include "common/config.h"

/* Problems gathered by the loaders (errs: one a line), each printed on
 * stderr once, as the start's check and daemon_run say them. */
void daemon_put_errors(const struct buf *errs);
/* Serves cfg (checked) until SIGTERM/SIGINT; the process exit status. */
int daemon_run(const struct config *cfg);
/* Blocks the daemon's signals in the calling (main) thread: call before
 * anything else, so every thread inherits the mask. */
void daemon_block_signals(void);

#endif
