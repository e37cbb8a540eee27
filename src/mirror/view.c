/*
 * view.c - what the mirror lends the admin listener (mirror_view.h): per
 * target its queue facts and state, pages of unfinished jobs, and `mirror
 * retry` on the live daemon; and the rule that names a target's state,
 * which `mirror status` (cli.c) prints too.
 *
 * Runs on the admin's thread, never a worker's: every read and the retry
 * go through the mirror's second queue connection (m->vq, WAL), so a
 * status read neither waits for the workers' connection lock nor holds
 * the writer's lock (WAL readers never block the writer). A retry is one
 * short write, as `relayftpd mirror retry` from another process is. Must
 * not push, route or print.
 */
#include "mirror/mirror.h"

#include "common/clock.h"

#include "mirror/mirror_int.h"

#include <string.h>

enum mirror_target_state
mirror_target_state_of(const struct target_status *st, int64_t now_ms)
{
	if (st->backoff_until_ms > now_ms)
		return MIRROR_TARGET_BACKOFF;
	if (st->failing_since_ms != 0)
		return MIRROR_TARGET_FAILING;
	return MIRROR_TARGET_UP;
}

/* Cuts a shown URL at its query or fragment (after "://"). */
static void
drop_query(char *url)
{
	char *host = strstr(url, "://");

	host = host != NULL ? host + 3 : url;
	host[strcspn(host, "?#")] = '\0';
}

/*
 * url without its user and password: scheme://host[:port][/path]. The
 * authority ends at the first '/', '?' or '#' after "://" and its userinfo
 * at the last '@' in it, as libcurl reads a URL, so what is shown is the
 * host the workers connect to. The query and fragment go too: a webhook's
 * URL may carry a token there. A URL too long for out is cut (display).
 */
void
mirror_url_without_login(const char *url, char *out, size_t outlen)
{
	const char *host = strstr(url, "://");
	size_t auth, n;

	if (host == NULL) {
		host = url;
	} else {
		host += 3;
		auth = strcspn(host, "/?#");
		for (size_t i = auth; i-- > 0;) {
			if (host[i] == '@') {
				n = (size_t)(host - url);
				if (n >= outlen)
					n = outlen - 1;
				memcpy(out, url, n);
				snprintf(
				    out + n, outlen - n, "%s", host + i + 1);
				drop_query(out);
				return;
			}
		}
	}
	snprintf(out, outlen, "%s", url);
	drop_query(out);
}

static int
view_targets(void *ctx, struct mirror_target_view *out, size_t max, size_t *n)
{
	struct mirror *m = ctx;
	int64_t now = clock_wall_ms();

	*n = 0;
	if (m->vq == NULL)
		return -1;
	for (unsigned i = 0; i < m->ntargets && *n < max; i++) {
		const struct target_config *t = &m->cfg->mirror.targets[i];
		struct mirror_target_view *v = &out[*n];
		struct target_status st;

		if (queue_status(m->vq, t->name, &st) < 0)
			return -1;
		memset(v, 0, sizeof(*v));
		snprintf(v->name, sizeof(v->name), "%s", t->name);
		mirror_url_without_login(t->url, v->url, sizeof(v->url));
		v->state = mirror_target_state_of(&st, now);
		v->queued = st.queued;
		v->running = st.running;
		v->parked = st.failed;
		v->oldest_ms = st.oldest_ms;
		memcpy(v->last_error, st.last_error, sizeof(v->last_error));
		v->last_error_ms = st.last_error_ms;
		v->last_ok_ms = st.last_ok_ms;
		v->failing_since_ms = st.failing_since_ms;
		v->backoff_until_ms = st.backoff_until_ms;
		(*n)++;
	}
	return 0;
}

static int
view_jobs(void *ctx, const char *target, int64_t offset, int64_t after,
    size_t limit, struct mirror_job_view *out, size_t *n, int64_t *total,
    int *more)
{
	struct mirror *m = ctx;

	*n = 0;
	*total = 0;
	*more = 0;
	if (m->vq == NULL)
		return -1;
	return queue_list_jobs(
	    m->vq, target, offset, after, limit, out, n, total, more);
}

/* The admin's retry means now: the backoff of target (NULL: every target)
 * ends, so the workers try at once instead of at its end (up to retry_max,
 * minutes). Its count of failures stays: if the target is still down, the
 * next wait is as long as it would have been. */
static void
end_backoff(struct mirror *m, const char *target)
{
	for (unsigned i = 0; i < m->ntargets; i++) {
		struct target_state *ts = &m->targets[i];

		if (target != NULL && strcmp(ts->t->name, target) != 0)
			continue;
		pthread_mutex_lock(&ts->lock);
		ts->backoff_until_ms = 0;
		pthread_mutex_unlock(&ts->lock);
	}
}

static int
view_retry(void *ctx, const char *target, int64_t *requeued)
{
	struct mirror *m = ctx;
	int n;

	*requeued = 0;
	if (target != NULL && config_target(m->cfg, target) == NULL)
		return -2;
	if (m->vq == NULL)
		return -1;
	/* The workers would see them within their 2 s poll, after the
	 * target's backoff; now is better for an admin who just pressed
	 * the button (and maybe mended the target), parked jobs or not: the
	 * jobs waiting out the backoff are due now too. First: a queue too
	 * busy for it (503) has then requeued nothing either. */
	if (queue_end_backoff(m->vq, target) < 0)
		return -1;
	n = queue_requeue_failed(m->vq, target);
	if (n < 0)
		return -1;
	*requeued = n;
	end_backoff(m, target);
	mirror_wake_all(m);
	return 0;
}

struct mirror_view
mirror_view(struct mirror *m)
{
	struct mirror_view v;

	memset(&v, 0, sizeof(v));
	/* Without its second queue connection (mirror_start logged why) the
	 * view still answers, with "the queue could not be read": a mirror
	 * whose queue cannot be read is not a daemon without a mirror. */
	if (m == NULL)
		return v;
	v.ctx = m;
	v.targets = view_targets;
	v.jobs = view_jobs;
	v.retry = view_retry;
	return v;
}
