/*
 * mirror.h - the mirror: per-target workers that drain the durable queue.
 *
 * Owns: turning a published upload into queued jobs (the upload_sink the
 * server calls before its 226), choosing targets per user (mirror = list,
 * include/exclude globs), running workers_per_target workers for every
 * target, retrying with exponential backoff and jitter per target (one dead
 * target never slows another), parking jobs after max_attempts, and the log
 * line of every push. Bytes on the wire are transport.c's job; durability
 * is queue.c's. The files behind this header: mirror.c (start, stop, the
 * sink), route.c, backoff.c, worker.c, catchup.c, cli.c (the
 * `relayftpd mirror` commands below) and view.c (mirror_view below);
 * mirror_int.h is what they share.
 */
#ifndef RFTP_MIRROR_H
#define RFTP_MIRROR_H

#include "common/config.h"
#include "common/mirror_view.h"
#include "common/upload_sink.h"

#include <stddef.h>

struct buf;
struct mirror;
struct stats;
struct userdb;

/* Opens the queue and requeues pushes a crash interrupted: the sink
 * records changes from now on. NULL with err filled on failure. cfg must
 * outlive the mirror; so must users, the server's user store, whose users
 * the catch-up walks (common/users.h), and stats (may be NULL: nothing
 * counted), where the workers count their pushes per target, the relay
 * latency and the pushes in flight. */
struct mirror *mirror_start(const struct config *cfg, struct userdb *users,
    struct stats *stats, char *err, size_t errlen);
/* Stops the workers (abandoning pushes in flight, which are redone at the
 * next start) and closes the queue. */
void mirror_stop(struct mirror *m);
/* Starts the pushers and the catch-up scan. Called once the server has
 * dropped root (run_as), so no push (an exec: program) runs as root.
 * -1 with err set if a thread the mirror cannot do without (the scanner,
 * every worker of a target) could not be started; mirror_stop still
 * ends what did start. */
int mirror_run(struct mirror *m, char *err, size_t errlen);
/* The sink the server calls; ctx is the mirror. */
struct upload_sink mirror_sink(struct mirror *m);
/* What the admin listener reads of the mirror (mirror_view.h; view.c):
 * valid until mirror_stop. Its calls run on the caller's thread through a
 * queue connection of their own (never behind a push); a view of a mirror
 * whose second connection could not be opened has NULL functions. */
struct mirror_view mirror_view(struct mirror *m);

/* For a config without targets (no mirror started): warns of the jobs
 * its queue file, if there is one, still holds for the targets taken out,
 * as a mirror's start does. Reads the file only. */
void mirror_warn_idle_queue(const struct config *cfg);
/* Calls say once per target of list (queue_job_targets' n rows) that cfg
 * no longer has, with a line naming the target, its count of jobs and
 * what to do. */
void mirror_say_unknown_targets(const struct config *cfg,
    const struct buf *list, int n, void (*say)(const char *line));

/* `relayftpd mirror status|retry`: print per-target state / requeue parked
 * jobs. Return the process exit status. */
int mirror_cli_status(const struct config *cfg);
int mirror_cli_retry(const struct config *cfg, const char *target);
/* `relayftpd mirror resync`: lists target's folders, compares them with
 * the homes (name and size) and queues what is missing or different. */
int mirror_cli_resync(const struct config *cfg, const char *target);

#endif
