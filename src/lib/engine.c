/*
 * engine.c - a relayftpd's parts, started and stopped in order
 * (engine.h).
 *
 * Start order: counters and server object (engine_new: users loaded, a
 * bad users file is said before anything runs), then the mirror, whose
 * queue must exist before the first upload can be recorded, the watcher,
 * the admin listener (its line is printed first by the daemon), and the
 * FTP listeners, so a client that connects finds every part ready. The
 * pushers start last: binding the FTP ports is when root is dropped
 * (run_as), and no push, an exec: program least of all, runs as root.
 * Stop runs the other way.
 *
 * The sink the server calls is the engine's own: it forwards to the
 * mirror's (which takes the user's change lock in begin and releases it in
 * end) and then, outside that lock, tells the embedding program.
 */
#include "lib/engine.h"

#include "admin/admin.h"
#include "common/log.h"
#include "common/numparse.h"
#include "common/stats.h"
#include "common/users_source.h"
#include "mirror/mirror.h"
#include "mirror/transport.h"
#include "mirror/watcher.h"
#include "server/privdrop.h"
#include "server/tls.h"

#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

struct engine {
	struct config cfg;
	struct engine_opts opts;
	struct stats *stats;
	struct server *srv;
	struct mirror *m;
	struct upload_sink msink; /* the mirror's; functions NULL without */
	struct mirror_view view;
	struct watcher *w;
	struct admin *a;
	int transports; /* transport_global_init done */
	enum {
		ENGINE_NEW,
		ENGINE_STARTED,
		ENGINE_STOPPED
	} state;
};

/* Every target a user's mirror = list names must exist. */
static int
check_mirror_names(
    const struct config *cfg, const struct user_set *set, struct buf *errs)
{
	int rc = 0;

	for (size_t i = 0; i < users_set_count(set); i++) {
		struct user u;
		const char *cur;
		char name[RFTP_NAME_MAX + 1];

		users_set_get(set, i, &u);
		cur = u.mirror;
		if (strcmp(u.mirror, "none") == 0)
			continue;
		while (parse_list_next(&cur, name, sizeof(name)) == 1) {
			if (config_target(cfg, name) != NULL)
				continue;
			buf_printf(errs,
			    "%s: user [%s] key 'mirror': no [target:%s] in "
			    "%s\n",
			    users_source_name(cfg), u.name, name, cfg->path);
			rc = -1;
		}
	}
	return rc;
}

int
engine_check_mirror_list(
    const struct config *cfg, const char *list, char *bad, size_t badlen)
{
	const char *cur = list;
	char name[RFTP_NAME_MAX + 1];
	int n;

	if (strcmp(list, "none") == 0)
		return 0;
	while ((n = parse_list_next(&cur, name, sizeof(name))) == 1)
		if (config_target(cfg, name) == NULL)
			break;
	if (n == 0)
		return 0;
	/* A name too long for any target is none of them either; what is
	 * shown of it may be cut. */
	if (fmt_fixed(bad, badlen, "%s", n == 1 ? name : "(a name too long)") <
	    0)
		bad[0] = '\0';
	return -1;
}

/* A user who requires TLS on a server without a certificate could never
 * log in (or never transfer): an error, not a mystery at 3 a.m. */
static int
check_tls_users(
    const struct config *cfg, const struct user_set *set, struct buf *errs)
{
	int rc = 0;

	if (cfg->tls.cert[0] != '\0')
		return 0;
	for (size_t i = 0; i < users_set_count(set); i++) {
		struct user u;

		users_set_get(set, i, &u);
		if (u.require_login_tls != 1 && u.require_data_tls != 1)
			continue;
		buf_printf(errs,
		    "%s:%d: user [%s] requires TLS, but %s has no [tls] "
		    "cert\n",
		    users_source_name(cfg), u.line, u.name, cfg->path);
		rc = -1;
	}
	return rc;
}

int
engine_check_config(const struct config *cfg, struct buf *errs)
{
	/* Room for a message that names a path of PATH_MAX bytes. */
	char err[PATH_MAX + 256];
	const char *key;
	int rc = 0;

	if (cfg->run_as[0] != '\0') {
		struct privdrop_user pu;

		if (privdrop_lookup(cfg->run_as, &pu, err, sizeof(err)) < 0) {
			buf_printf(
			    errs, "%s: key 'run_as': %s\n", cfg->path, err);
			rc = -1;
		}
	}
	if (cfg->tls.cert[0] != '\0') {
		/* The certificate and key must load and match. */
		struct tls_server *t =
		    tls_server_new(&cfg->tls, err, sizeof(err));

		if (t == NULL) {
			buf_printf(
			    errs, "%s: section [tls]: %s\n", cfg->path, err);
			rc = -1;
		}
		tls_server_free(t);
	}
	if (cfg->admin.enabled &&
	    admin_check_tls(&cfg->admin, &key, err, sizeof(err)) < 0) {
		buf_printf(errs, "%s:%d: key '%s': %s\n", cfg->path,
		    strcmp(key, "cert") == 0 ? cfg->admin.cert_line :
		                               cfg->admin.key_line,
		    key, err);
		rc = -1;
	}
	return rc;
}

/* The queue inside a home would be a file its user can download, replace
 * or delete while the mirror writes it. */
static int
check_queue_outside_homes(
    const struct config *cfg, const struct user_set *set, struct buf *errs)
{
	char qdir[PATH_MAX], real_q[PATH_MAX], real_home[PATH_MAX];
	char *slash;
	int rc = 0;

	if (cfg->mirror.ntargets == 0 ||
	    fmt_fixed(qdir, sizeof(qdir), "%s", cfg->mirror.queue) < 0)
		return 0;
	slash = strrchr(qdir, '/');
	if (slash == NULL)
		return 0;
	*slash = '\0';
	if (realpath(qdir[0] != '\0' ? qdir : "/", real_q) == NULL)
		return 0; /* mirror_start says why it cannot open it */
	for (size_t i = 0; i < users_set_count(set); i++) {
		struct user u;
		size_t n;

		users_set_get(set, i, &u);
		if (realpath(u.home, real_home) == NULL)
			continue;
		n = strlen(real_home);
		if (strncmp(real_q, real_home, n) != 0 ||
		    (real_q[n] != '\0' && real_q[n] != '/' &&
		        strcmp(real_home, "/") != 0))
			continue;
		buf_printf(errs,
		    "%s: key 'queue': %s is inside the home of user [%s] "
		    "(%s): clients could download, replace or delete it\n",
		    cfg->path, cfg->mirror.queue, u.name, u.home);
		rc = -1;
	}
	return rc;
}

int
engine_check_users(
    const struct config *cfg, const struct user_set *set, struct buf *errs)
{
	int rc = 0;

	if (check_queue_outside_homes(cfg, set, errs) < 0)
		rc = -1;

	if (cfg->anonymous && !users_set_has(set, USERS_ANON_SECTION)) {
		buf_printf(errs,
		    "%s: key 'anonymous': on, but %s has no [%s] section "
		    "giving its home\n",
		    cfg->path, users_source_name(cfg), USERS_ANON_SECTION);
		rc = -1;
	}
	if (check_mirror_names(cfg, set, errs) < 0)
		rc = -1;
	if (check_tls_users(cfg, set, errs) < 0)
		rc = -1;
	return rc;
}

unsigned
engine_warn_users(
    const struct config *cfg, const struct user_set *set, struct buf *warns)
{
	struct user u;
	size_t i;
	unsigned n = 0;

	/* Valid, but most often a file cut short or emptied by mistake (a
	 * save that failed, `: > users.ini`): said, as every login would
	 * get 530 with no other sign (found from outside). Not a built
	 * config's: its logins may all go through an authenticate
	 * callback. */
	if (users_set_count(set) == 0 && !cfg->anonymous &&
	    users_source_is_file(cfg)) {
		buf_printf(warns,
		    "%s: warning: no users: every login is refused\n",
		    users_source_name(cfg));
		n++;
	}
	if (!cfg->anonymous)
		return n;
	/* cmd_auth.c: both names map to [anonymous] while it is on. */
	if (users_set_has(set, "ftp")) {
		buf_printf(warns,
		    "%s: user [ftp]: warning: never logs in: with anonymous = "
		    "on, USER ftp is the anonymous login (give the user "
		    "another name)\n",
		    users_source_name(cfg));
		n++;
	}
	if (users_set_index(set, USERS_ANON_SECTION, &i) == 0) {
		users_set_get(set, i, &u);
		if (u.hash[0] != '\0') {
			buf_printf(warns,
			    "%s: user [%s]: warning: its password is never "
			    "asked: anonymous logins take any password\n",
			    users_source_name(cfg), USERS_ANON_SECTION);
			n++;
		}
	}
	return n;
}

/* The sink the server calls (upload_sink.h): the mirror's, then the
 * embedding program. */
static int
sink_changed(void *ctx, const struct upload_event *ev)
{
	struct engine *e = ctx;

	return e->msink.changed != NULL ? e->msink.changed(e->msink.ctx, ev) :
	                                  0;
}

static int
sink_begin(void *ctx, const struct upload_event *ev, struct change_token *tok)
{
	struct engine *e = ctx;

	if (e->msink.begin != NULL)
		return e->msink.begin(e->msink.ctx, ev, tok);
	/* No mirror: nothing to record, but end must still be called to
	 * tell the program. */
	memset(tok, 0, sizeof(*tok));
	tok->last = -1;
	tok->held = 1;
	return 0;
}

static int
sink_end(void *ctx, struct change_token *tok, const struct upload_event *done)
{
	struct engine *e = ctx;
	int rc = 0;

	if (e->msink.end != NULL)
		rc = e->msink.end(e->msink.ctx, tok, done);
	else
		tok->held = 0;
	/* Recorded (and the lock released): the program may rely on it.
	 * A change that happened is told whether or not the mirror could
	 * record it: an upload the queue could not take is published all
	 * the same, its client told 226 (and not to send it again), and
	 * the mirror walks the home until it is queued. It was told
	 * neither complete nor aborted, and the program never learnt of
	 * the file (found from outside). */
	if (done != NULL && e->opts.changed != NULL)
		e->opts.changed(e->opts.changed_ctx, done);
	return rc;
}

/* Streams (upload_sink.h): the mirror's, if it streams; the program is
 * told of uploads by end() only. */
static void *
sink_stream_begin(void *ctx, const struct upload_event *ev, int fd)
{
	struct engine *e = ctx;

	return e->msink.stream_begin != NULL ?
	    e->msink.stream_begin(e->msink.ctx, ev, fd) :
	    NULL;
}

static void
sink_stream_grew(void *ctx, void *h, uint64_t size)
{
	struct engine *e = ctx;

	if (e->msink.stream_grew != NULL)
		e->msink.stream_grew(e->msink.ctx, h, size);
}

static void
sink_stream_end(void *ctx, void *h, int complete, uint64_t size)
{
	struct engine *e = ctx;

	if (h != NULL && e->msink.stream_end != NULL)
		e->msink.stream_end(e->msink.ctx, h, complete, size);
}

/* One slot per pusher, named after the targets. */
static struct stats *
engine_stats_new(const struct config *cfg)
{
	const char *names[RFTP_TARGETS_MAX];
	size_t n = cfg->mirror.ntargets;

	for (size_t i = 0; i < n; i++)
		names[i] = cfg->mirror.targets[i].name;
	/* Every worker's and every express lane's (worker.c). */
	return stats_new(names, n, config_push_slots(cfg));
}

/* The set served at the start, and each reload's, passes the checks the
 * start's did (users.h). */
static int
check_served_users(void *ctx, const struct user_set *set, struct buf *errs)
{
	const struct engine *e = ctx;

	return engine_check_users(&e->cfg, set, errs);
}

struct engine *
engine_new(const struct config *cfg, const struct engine_opts *opts, char *err,
    size_t errlen)
{
	struct engine *e = calloc(1, sizeof(*e));
	struct upload_sink sink;
	struct server_opts so;

	if (e == NULL) {
		fmt_fixed(err, errlen, "out of memory");
		return NULL;
	}
	e->cfg = *cfg;
	if (opts != NULL)
		e->opts = *opts;
	if (users_crypto_init() < 0) {
		fmt_fixed(err, errlen, "cannot initialise libsodium");
		free(e);
		return NULL;
	}
	e->stats = engine_stats_new(&e->cfg);
	if (e->stats == NULL) {
		fmt_fixed(err, errlen, "no memory for the counters");
		free(e);
		return NULL;
	}
	sink.changed = sink_changed;
	sink.begin = sink_begin;
	sink.end = sink_end;
	sink.ctx = e;
	sink.stream_begin = sink_stream_begin;
	sink.stream_grew = sink_stream_grew;
	sink.stream_end = sink_stream_end;
	memset(&so, 0, sizeof(so));
	so.sink = &sink;
	so.stats = e->stats;
	so.auth = e->opts.auth;
	so.notice = e->opts.notice;
	/* Checked as server_new reads it: the daemon's and the library's
	 * checks read the file before, and one changed since (a script
	 * writing it while the service started) was served unchecked, a
	 * user whose home holds the queue or who needs TLS the server has
	 * not. */
	so.users_check = check_served_users;
	so.users_check_ctx = e;
	so.users_errs = e->opts.users_errs;
	e->srv = server_new(&e->cfg, &so, err, errlen);
	if (e->srv == NULL) {
		stats_free(e->stats);
		free(e);
		return NULL;
	}
	return e;
}

/* Undoes what engine_start did, in reverse. */
static void
engine_down(struct engine *e)
{
	server_stop(e->srv);
	admin_stop(e->a);
	e->a = NULL;
	watcher_stop(e->w);
	e->w = NULL;
	if (e->m != NULL)
		mirror_stop(e->m);
	e->m = NULL;
	memset(&e->msink, 0, sizeof(e->msink));
	memset(&e->view, 0, sizeof(e->view));
	if (e->transports)
		transport_global_cleanup();
	e->transports = 0;
}

static int
engine_up(struct engine *e, char *err, size_t errlen)
{
	const struct config *cfg = &e->cfg;
	char why[PATH_MAX + 256];

	if (cfg->mirror.ntargets > 0) {
		if (transport_global_init() < 0) {
			fmt_fixed(err, errlen, "cannot initialise libcurl");
			return -1;
		}
		e->transports = 1;
		e->m = mirror_start(
		    cfg, server_users(e->srv), e->stats, why, sizeof(why));
		if (e->m == NULL) {
			fmt_fixed(
			    err, errlen, "cannot start the mirror: %s", why);
			return -1;
		}
		e->msink = mirror_sink(e->m);
		e->view = mirror_view(e->m);
		if (cfg->mirror.watch) {
			e->w = watcher_start(cfg, server_users(e->srv),
			    e->msink, why, sizeof(why));
			if (e->w == NULL)
				log_warn("homes are not watched (%s): files "
				         "written there by other programs are "
				         "mirrored only at the next start",
				    why);
		}
	} else {
		mirror_warn_idle_queue(cfg);
	}
	if (cfg->admin.enabled) {
		e->a = admin_start(cfg, e->stats, &e->view, why, sizeof(why));
		if (e->a == NULL) {
			fmt_fixed(err, errlen,
			    "cannot start the admin listener: %s", why);
			return -1;
		}
	}
	if (server_start(e->srv, err, errlen) < 0)
		return -1;
	/* Root is dropped (run_as) once the FTP ports are bound: pushes
	 * start only now. */
	if (e->m != NULL && mirror_run(e->m, why, sizeof(why)) < 0) {
		fmt_fixed(err, errlen, "cannot start the mirror: %s", why);
		return -1;
	}
	return 0;
}

int
engine_start(struct engine *e, char *err, size_t errlen)
{
	sigset_t all, old;
	int rc;

	if (e->state != ENGINE_NEW) {
		/* The server's pools are gone once stopped: a new engine
		 * serves again. */
		fmt_fixed(err, errlen, "already started once");
		return -1;
	}
	/* Threads started here that are not ours (libmicrohttpd's,
	 * libcurl's resolver) inherit this mask: no signal of the program
	 * lands in them. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = engine_up(e, err, errlen);
	if (rc < 0)
		engine_down(e);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	e->state = rc == 0 ? ENGINE_STARTED : ENGINE_STOPPED;
	return rc;
}

struct server *
engine_server(struct engine *e)
{
	return e->srv;
}

const char *
engine_admin_url(const struct engine *e)
{
	return admin_url(e->a);
}

unsigned
engine_admin_port(const struct engine *e)
{
	return admin_port(e->a);
}

struct stats *
engine_stats(struct engine *e)
{
	return e->stats;
}

const struct mirror_view *
engine_view(const struct engine *e)
{
	return &e->view;
}

void
engine_stop(struct engine *e)
{
	if (e == NULL || e->state != ENGINE_STARTED)
		return;
	e->state = ENGINE_STOPPED;
	engine_down(e);
}

void
engine_free(struct engine *e)
{
	if (e == NULL)
		return;
	engine_stop(e);
	server_free(e->srv);
	stats_free(e->stats);
	free(e);
}
