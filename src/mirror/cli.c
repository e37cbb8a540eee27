/*
 * cli.c - `relayftpd mirror status|retry|resync`: what the admin sees.
 *
 * Owns: the output of the mirror's command-line tool, one line per target
 * (status), the count of requeued jobs (retry), and driving a resync of
 * one target user by user (catchup.c compares). Runs in its own process
 * beside a running daemon: it shares only the queue file, never the
 * daemon's memory. Must not push files or change routing.
 */
#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/target_diff.h"
#include "mirror/mirror.h"
#include "mirror/mirror_int.h"
#include "mirror/route.h"
#include "mirror/target_place.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ms since the epoch as 2026-12-01T13:00:00Z, or "-" for 0 (never). */
static void
iso_time(int64_t ms, char *out, size_t outlen)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || gmtime_r(&secs, &tm) == NULL ||
	    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outlen, "-");
}

/*
 * The queue of status, retry and resync, which only read or add to what
 * is there: never made here. A queue made empty at a wrong path (a
 * mistyped --config, a moved file, the mirror off) said every target was
 * up with nothing queued, and exited 0 (found from outside). One that
 * resync made where a running daemon's queue had been removed (a
 * cleaner) was taken by the daemon for another program's file and left
 * alone, so the daemon's jobs lived on in the removed file only, lost at
 * a crash. Before a first start there is nothing to resync: that start
 * walks every home. view: status, which only reads (queue_open_view).
 */
static struct queue *
open_existing(const struct config *cfg, int view)
{
	char err[512];
	struct stat st;
	struct queue *q;

	if (stat(cfg->mirror.queue, &st) != 0) {
		fprintf(stderr,
		    "relayftpd: no queue at %s (%s): no relayftpd has run a "
		    "mirror with %s%s (a relayftpd running with it writes a "
		    "removed queue back within seconds)\n",
		    cfg->mirror.queue, strerror(errno), cfg->path,
		    cfg->mirror.ntargets == 0 ? ", which has no target" : "");
		return NULL;
	}
	/* SQLite takes an empty file for a new database and would make the
	 * tables in it: a queue the daemon made is never empty (its first
	 * page is written before any job), so this one was cut or never
	 * written (a crash, a full disk, '> queue.db'). */
	if (S_ISREG(st.st_mode) && st.st_size == 0) {
		fprintf(stderr,
		    "relayftpd: the queue %s is empty: not a queue a "
		    "relayftpd made, or one cut by a crash or a full disk\n",
		    cfg->mirror.queue);
		return NULL;
	}
	/* Before any open: it would read the queue without the running
	 * server's WAL (status said queued=0 of its waiting jobs) and leave
	 * a WAL of this name, whose stale pages a later open laid over the
	 * queue: the server's jobs were gone (found by review). */
	if (mirror_queue_linked(cfg->mirror.queue) == 1) {
		fprintf(stderr,
		    "relayftpd: the queue %s is in use by a running relayftpd "
		    "under another of its names (a hard link): it cannot be "
		    "read or changed through this one; use that server's "
		    "config\n",
		    cfg->mirror.queue);
		return NULL;
	}
	q = view ? queue_open_view(cfg->mirror.queue, err, sizeof(err)) :
	           queue_open(cfg->mirror.queue, err, sizeof(err));
	if (q == NULL)
		fprintf(stderr, "relayftpd: cannot open the queue: %s\n", err);
	return q;
}

static void
say_stderr(const char *line)
{
	fprintf(stderr, "relayftpd: %s\n", line);
}

/* The jobs no status line shows: those of targets taken out of the config
 * (or renamed), which wait unpushed. On stderr, as the lines after it:
 * stdout's lines are a contract for scripts. */
static void
warn_unknown(const struct config *cfg, struct queue *q)
{
	struct buf list;

	buf_init(&list, 64 * 1024);
	mirror_say_unknown_targets(
	    cfg, &list, queue_job_targets(q, &list), say_stderr);
	buf_free(&list);
}

/*
 * Whether the running daemon pushes to t as the config now describes it:
 * the daemon builds its targets at start, and SIGHUP re-reads users.ini
 * only. A target added since was listed "up" with its jobs queued while
 * nothing went there, and a mended password was not used, without a word
 * (found from outside). held: mirror_queue_held's answer. The field's
 * value; a line on stderr (stdout's lines are a contract) says what the
 * admin must do.
 */
static const char *
daemon_view(const struct config *cfg, struct queue *q,
    const struct target_config *t, int held)
{
	char fp[32], running[32];
	int rc;

	if (held == 0)
		return "stopped";
	if (held < 0)
		return "unknown";
	rc = queue_running_target(q, t->name, running, sizeof(running));
	if (rc < 0)
		return "unknown";
	if (rc == 0) {
		fprintf(stderr,
		    "relayftpd: target %s: the running relayftpd does not push "
		    "to it (added to %s after its start): its jobs wait until "
		    "a restart (SIGHUP re-reads users.ini only)\n",
		    t->name, cfg->path);
		return "not_pushing";
	}
	target_fingerprint(t, fp, sizeof(fp));
	if (strcmp(fp, running) == 0)
		return "pushing";
	fprintf(stderr,
	    "relayftpd: target %s: the running relayftpd pushes with the "
	    "settings it started with, not those %s has now: a restart "
	    "applies them (SIGHUP re-reads users.ini only)\n",
	    t->name, cfg->path);
	return "old_settings";
}

int
mirror_cli_status(const struct config *cfg)
{
	struct queue *q = open_existing(cfg, 1);
	int64_t now = clock_wall_ms();
	int rc = 0, failing, held;

	if (q == NULL)
		return 1;
	held = mirror_queue_held(cfg->mirror.queue);
	if (cfg->mirror.ntargets == 0)
		printf("no targets configured\n");
	for (unsigned i = 0; i < cfg->mirror.ntargets; i++) {
		const struct target_config *t = &cfg->mirror.targets[i];
		struct target_status st;
		const char *state, *error = "none";
		char since[64] = "", err_at[32], ok_at[32];

		if (queue_status(q, t->name, &st) < 0) {
			/* A script must not read this as "all is well". */
			printf("target %s: status unavailable\n", t->name);
			rc = 1;
			continue;
		}
		state =
		    mirror_target_state_name(mirror_target_state_of(&st, now));
		if (st.failing_since_ms != 0) {
			char at[32];

			iso_time(st.failing_since_ms, at, sizeof(at));
			snprintf(since, sizeof(since), " failing_since=%s", at);
		}
		/* A target that recovered keeps its last error on show, with
		 * its time, marked past: the admin sees what happened and
		 * that it is over. Over means a delivery after it: one up but
		 * refusing a file since its last is current, as the status
		 * page says (found by a review). */
		if (st.last_error[0] != '\0')
			error = st.failing_since_ms == 0 &&
			        st.last_ok_ms != 0 &&
			        st.last_error_ms < st.last_ok_ms ?
			    "past" :
			    "current";
		iso_time(st.last_error_ms, err_at, sizeof(err_at));
		iso_time(st.last_ok_ms, ok_at, sizeof(ok_at));
		/* The added fields stand beside failing_since, after state:
		 * the contract's fields keep their order and last_error its
		 * place at the end of the line. */
		printf("target %s: state=%s%s daemon=%s error=%s "
		       "last_error_at=%s "
		       "last_ok_at=%s queued=%lld running=%lld "
		       "failed=%lld oldest_age=%llds pushed_files=%lld "
		       "pushed_bytes=%lld last_error=\"",
		    t->name, state, since, daemon_view(cfg, q, t, held), error,
		    err_at, ok_at, (long long)st.queued, (long long)st.running,
		    (long long)st.failed,
		    /* Never negative: the clock may have been set back
		     * since the job was queued. */
		    (long long)(st.oldest_ms != 0 && now > st.oldest_ms ?
		            (now - st.oldest_ms) / 1000 :
		            0),
		    (long long)st.files, (long long)st.bytes);
		/* The inside of last_error="...": quoted, so the quotes end
		 * the field for a script, and one line that plays nothing on
		 * a terminal (a queue written by an older relayftpd kept
		 * control bytes). */
		log_fput_text(
		    stdout, st.last_error[0] ? st.last_error : "-", 1);
		printf("\"\n");
	}
	warn_unknown(cfg, q);
	queue_close(q);
	/* On stderr: the lines above are a contract for scripts. After a
	 * crash or kill -9 the jobs cut in flight still read "running". */
	if (held == 0)
		fprintf(stderr,
		    "relayftpd: no running relayftpd holds this queue: nothing "
		    "is being pushed now; jobs shown running were cut by a "
		    "stop and are redone at the next start\n");
	/* Not in the file: the daemon cannot write it. Exit 1: a script
	 * must not read "up" as "changes are being mirrored". */
	failing = mirror_queue_failing(cfg->mirror.queue) == 1;
	if (failing)
		fprintf(stderr,
		    "relayftpd: the running relayftpd cannot write the queue "
		    "%s: changes made now are not recorded yet (its log "
		    "says why: \"queue: cannot ...\"); it walks the homes "
		    "again until they are\n",
		    cfg->mirror.queue);
	if (rc != 0)
		fprintf(stderr,
		    "relayftpd: the queue %s could not be read (damaged, or "
		    "held by another program)\n",
		    cfg->mirror.queue);
	return rc != 0 || failing ? 1 : 0;
}

int
mirror_cli_retry(const struct config *cfg, const char *target)
{
	struct queue *q;
	int n;

	if (target != NULL && config_target(cfg, target) == NULL) {
		fprintf(stderr, "relayftpd: no target '%s' in %s\n", target,
		    cfg->path);
		return 1;
	}
	q = open_existing(cfg, 1);
	if (q == NULL)
		return 1;
	n = queue_requeue_failed(q, target);
	queue_close(q);
	if (n < 0)
		return 1;
	printf("requeued %d parked jobs\n", n);
	return 0;
}

int
mirror_cli_resync(const struct config *cfg, const char *target)
{
	const struct target_config *t = config_target(cfg, target);
	/* resync runs to its end (or its process is killed). */
	static atomic_int never_stop;
	struct transport *tp = NULL;
	struct user_set *set = NULL;
	struct queue *q = NULL;
	struct buf errs;
	int queued = 0, checked = 0, unqueued = 0, rc = 1;

	if (t == NULL) {
		fprintf(stderr, "relayftpd: no target '%s' in %s\n", target,
		    cfg->path);
		return 1;
	}
	buf_init(&errs, 64 * 1024);
	set = users_set_load(cfg->users_file, &errs);
	if (set == NULL) {
		fputs(buf_str(&errs), stderr);
		goto out;
	}
	q = open_existing(cfg, 0);
	if (q == NULL)
		goto out;
	/* A url changed since the daemon last started: the new place is
	 * listed, so the old place's verdicts must not skip its files. */
	target_place_forget_drops(q, t);
	if (transport_global_init() < 0 ||
	    (tp = transport_new(t, &never_stop, NULL)) == NULL)
		goto out;
	for (size_t i = 0; i < users_set_count(set); i++) {
		struct user u;
		int n;

		users_set_get(set, i, &u);
		if (strcmp(u.mirror, "none") == 0 ||
		    !route_user_wants(u.mirror, t->name))
			continue;
		n = catchup_resync_user(
		    t, tp, q, &u, &checked, &unqueued, stdout, stderr);
		if (n < 0)
			goto out;
		queued += n;
	}
	printf("resync %s: %d files compared, %d queued (missing or "
	       "different on the target)\n",
	    t->name, checked, queued);
	/* Exit 1: a script must not read this run as done. */
	if (unqueued > 0) {
		fprintf(stderr,
		    "relayftpd: resync %s: %d missing or different files "
		    "could not be queued (the queue %s takes no writes: the "
		    "lines above say why); run resync again once it does\n",
		    t->name, unqueued, cfg->mirror.queue);
		goto out;
	}
	rc = 0;
out:
	transport_free(tp);
	if (tp != NULL)
		transport_global_cleanup();
	queue_close(q);
	users_set_free(set);
	buf_free(&errs);
	return rc;
}
