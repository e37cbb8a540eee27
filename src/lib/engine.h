/*
 * engine.h - one running relayftpd: the server, its mirror, the watcher,
 * the admin listener and the counters they share, started and stopped as
 * one.
 *
 * Owns: checking a config the way `relayftpd check` does, the order in
 * which the parts start and stop, and the sink between the server and the
 * mirror (it also tells the embedding program of each change a client
 * made, once the mirror has recorded it). The daemon (src/cli/) and the
 * public library (src/lib/api.c) are both thin layers over it: the daemon
 * adds signals, printing and systemd; the library its callbacks. An
 * object: a process may run several.
 */
#ifndef RFTP_ENGINE_H
#define RFTP_ENGINE_H

#include "common/buf.h"
#include "common/config.h"
#include "common/mirror_view.h"
#include "common/upload_sink.h"
#include "common/users.h"
#include "server/server.h"

#include <stddef.h>

struct engine;
struct stats;

/*
 * What `check` requires beyond the files' own rules, in the order it
 * prints them: of the config (run_as exists, the [tls] cert and key load
 * and match), then, once the users loaded, of the users with the config
 * (the users' mirror lists name configured targets, a user who requires
 * TLS has a server with a cert, anonymous = on has its section). Each
 * appends one line per problem to errs; 0, or -1.
 */
int engine_check_config(const struct config *cfg, struct buf *errs);
int engine_check_users(
    const struct config *cfg, const struct user_set *set, struct buf *errs);
/* Whether every name of a user's mirror list ("" all, "none", or
 * target names) is one of cfg's targets, as check requires of users.ini:
 * 0, or -1 with the first unknown name in bad. */
int engine_check_mirror_list(
    const struct config *cfg, const char *list, char *bad, size_t badlen);
/* Valid, but not what the admin meant: a user no login can reach (with
 * anonymous = on, USER ftp and USER anonymous are the anonymous login), a
 * password [anonymous] never asks for. One line per finding to warns;
 * returns how many. */
unsigned engine_warn_users(
    const struct config *cfg, const struct user_set *set, struct buf *warns);

/* What an embedding adds (all may be NULL). */
struct engine_opts {
	const struct server_auth *auth;
	const struct server_notice *notice;
	/* After the mirror recorded a change a client made (PUT, DELETE,
	 * RENAME, RMDIR, ...): ev as the server reported it. On the
	 * session's thread, with no lock held, before the client's reply. */
	void (*changed)(void *ctx, const struct upload_event *ev);
	void *changed_ctx;
	/* If not NULL: the lines of a users file the start refuses go here,
	 * not to the log (server_opts.users_errs). */
	struct buf *users_errs;
};

/* Copies cfg, creates the counters and the server (users loaded, nothing
 * bound). NULL with the reason in err. */
struct engine *engine_new(const struct config *cfg,
    const struct engine_opts *opts, char *err, size_t errlen);
/*
 * Starts the mirror (queue, workers, catch-up) and the watcher if there
 * are targets, the admin listener if [admin] listen is set, then the FTP
 * listeners. All threads it starts block every signal. 0, or -1 with the
 * reason in err and nothing left running.
 */
int engine_start(struct engine *e, char *err, size_t errlen);
struct server *engine_server(struct engine *e);
/* The admin listener's URL and port ("" and 0 without one). */
const char *engine_admin_url(const struct engine *e);
unsigned engine_admin_port(const struct engine *e);
/* The counters and the mirror's view (functions NULL without a mirror),
 * valid while started. */
struct stats *engine_stats(struct engine *e);
const struct mirror_view *engine_view(const struct engine *e);
/* Stops the FTP listeners and sessions, then the admin listener, the
 * watcher and the mirror. Idempotent. */
void engine_stop(struct engine *e);
void engine_free(struct engine *e);

#endif
