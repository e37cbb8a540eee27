/*
 * status.c - writes the /api/status JSON document (see status.h).
 *
 * Facts the queue could not give (the mirror's view failed) are null, not
 * zero, so the page can tell "nothing queued" from "unknown". URLs come
 * from the mirror's view, which strips credentials.
 */
#include "admin/status.h"

#include "common/json.h"
#include "common/limits.h"
#include "common/log.h"

#include <stdlib.h>
#include <string.h>

static int64_t
age_s(int64_t now_ms, int64_t at_ms)
{
	return at_ms > 0 && now_ms > at_ms ? (now_ms - at_ms) / 1000 : 0;
}

static void
server_obj(struct json *j, const struct snapshot *s)
{
	json_key(j, "server");
	json_obj(j);
	json_key(j, "sessions_open");
	json_i64(j, s->g[STAT_SESSIONS_OPEN]);
	json_key(j, "logins_ok");
	json_u64(j, s->c[STAT_LOGINS_OK]);
	json_key(j, "logins_failed");
	json_u64(j, s->c[STAT_LOGINS_FAILED]);
	json_key(j, "uploads");
	json_obj(j);
	json_key(j, "completed");
	json_u64(j, s->c[STAT_UPLOADS_COMPLETED]);
	json_key(j, "aborted");
	json_u64(j, s->c[STAT_UPLOADS_ABORTED]);
	json_key(j, "bytes");
	json_u64(j, s->c[STAT_UPLOAD_BYTES]);
	json_obj_end(j);
	json_key(j, "downloads");
	json_obj(j);
	json_key(j, "completed");
	json_u64(j, s->c[STAT_DOWNLOADS_COMPLETED]);
	json_key(j, "aborted");
	json_u64(j, s->c[STAT_DOWNLOADS_ABORTED]);
	json_key(j, "bytes");
	json_u64(j, s->c[STAT_DOWNLOAD_BYTES]);
	json_obj_end(j);
	json_key(j, "quota_refused");
	json_u64(j, s->c[STAT_QUOTA_REFUSED]);
	json_key(j, "bans_active");
	json_i64(j, s->g[STAT_BANS_ACTIVE]);
	json_obj_end(j);
}

/* A queue fact, or null when the view is missing. */
static void
view_i64(struct json *j, const struct snapshot_target *t, int64_t v)
{
	if (t->have_view)
		json_i64(j, v);
	else
		json_null(j);
}

static void
target_obj(
    struct json *j, const struct snapshot *s, const struct snapshot_target *t)
{
	const struct mirror_target_view *v = &t->v;

	json_obj(j);
	json_key(j, "name");
	json_str(j, t->name);
	json_key(j, "url");
	json_str(j, t->have_view ? v->url : "");
	json_key(j, "state");
	if (t->have_view)
		json_str(j, mirror_target_state_name(v->state));
	else
		json_null(j);
	json_key(j, "queued");
	view_i64(j, t, v->queued);
	json_key(j, "running");
	view_i64(j, t, v->running);
	json_key(j, "parked");
	view_i64(j, t, v->parked);
	json_key(j, "oldest_age_s");
	view_i64(j, t, age_s(s->now_ms, v->oldest_ms));
	json_key(j, "attempts");
	json_u64(j, t->st.c[STAT_T_ATTEMPTS]);
	json_key(j, "successes");
	json_u64(j, t->st.c[STAT_T_SUCCESSES]);
	json_key(j, "failures");
	json_u64(j, t->st.c[STAT_T_FAILURES]);
	json_key(j, "verify_failures");
	json_u64(j, t->st.c[STAT_T_VERIFY_FAILURES]);
	json_key(j, "bytes_pushed");
	json_u64(j, t->st.c[STAT_T_BYTES_PUSHED]);
	json_key(j, "last_error");
	json_str(j, t->have_view ? v->last_error : "");
	json_key(j, "last_error_at");
	json_time(j, t->have_view ? v->last_error_ms : 0);
	json_key(j, "last_ok_at");
	json_time(j, t->have_view ? v->last_ok_ms : 0);
	json_key(j, "failing_since");
	json_time(j, t->have_view ? v->failing_since_ms : 0);
	/* Only while a job waits for it: with every job parked nothing is
	 * tried until an admin's retry, and a past time read as "retrying
	 * now" (found from outside). */
	json_key(j, "retry_at");
	json_time(j, t->have_view && v->queued > 0 ? v->backoff_until_ms : 0);
	json_obj_end(j);
}

static void
pushes_arr(struct json *j, const struct status_input *in)
{
	const struct snapshot *s = in->snap;

	json_key(j, "pushes");
	json_arr(j);
	for (size_t i = 0; i < in->npushes; i++) {
		const struct stats_push *p = &in->pushes[i];

		json_obj(j);
		json_key(j, "target");
		json_str(
		    j, p->target < s->ntargets ? s->t[p->target].name : "");
		json_key(j, "user");
		json_str(j, p->user);
		json_key(j, "path");
		json_str(j, p->path);
		json_key(j, "bytes_done");
		json_u64(j, p->done);
		json_key(j, "bytes_total");
		json_u64(j, p->total);
		json_key(j, "started");
		json_time(j, p->started_ms);
		json_obj_end(j);
	}
	json_arr_end(j);
}

static void
received_arr(struct json *j, const struct status_input *in)
{
	json_key(j, "received");
	json_arr(j);
	for (size_t i = 0; i < in->nreceived; i++) {
		const struct stats_received *r = &in->received[i];

		json_obj(j);
		json_key(j, "time");
		json_time(j, r->time_ms);
		json_key(j, "user");
		json_str(j, r->user);
		json_key(j, "path");
		json_str(j, r->path);
		json_key(j, "size");
		json_u64(j, r->size);
		json_obj_end(j);
	}
	json_arr_end(j);
}

static void
jobs_obj(struct json *j, const struct status_input *in)
{
	const struct status_jobs *p = &in->jobs;

	json_key(j, "jobs");
	json_obj(j);
	json_key(j, "target");
	if (p->target != NULL)
		json_str(j, p->target);
	else
		json_null(j);
	/* A page read past a cursor has no known offset. */
	json_key(j, "offset");
	if (p->after >= 0)
		json_null(j);
	else
		json_i64(j, p->offset);
	json_key(j, "after");
	if (p->after >= 0)
		json_i64(j, p->after);
	else
		json_null(j);
	json_key(j, "limit");
	json_u64(j, p->limit);
	json_key(j, "total");
	if (p->ok)
		json_i64(j, p->total);
	else
		json_null(j);
	json_key(j, "items");
	if (!p->ok) {
		json_null(j);
		json_key(j, "next_after");
		json_null(j);
		json_obj_end(j);
		return;
	}
	json_arr(j);
	for (size_t i = 0; i < p->n; i++) {
		const struct mirror_job_view *v = &p->items[i];

		json_obj(j);
		json_key(j, "id");
		json_i64(j, v->id);
		json_key(j, "target");
		json_str(j, v->target);
		json_key(j, "user");
		json_str(j, v->user);
		json_key(j, "op");
		json_str(j, v->op != NULL ? v->op : "");
		json_key(j, "path");
		json_str(j, v->path);
		json_key(j, "new_path");
		if (v->new_path[0] != '\0')
			json_str(j, v->new_path);
		else
			json_null(j);
		json_key(j, "age_s");
		json_i64(j, age_s(in->snap->now_ms, v->created_ms));
		json_key(j, "attempts");
		json_i64(j, v->attempts);
		json_key(j, "parked");
		json_bool(j, v->parked);
		json_key(j, "running");
		json_bool(j, v->running);
		json_key(j, "last_error");
		json_str(j, v->last_error);
		json_obj_end(j);
	}
	json_arr_end(j);
	/* The cursor of the next page (?after=), null after the last: a
	 * deep page then costs what the first does (an offset reads every
	 * job before it). */
	json_key(j, "next_after");
	if (p->more && p->n > 0)
		json_i64(j, p->items[p->n - 1].id);
	else
		json_null(j);
	json_obj_end(j);
}

int
status_render(const struct status_input *in, struct buf *out)
{
	const struct snapshot *s = in->snap;
	struct json j;

	json_init(&j, out);
	json_obj(&j);
	json_key(&j, "version");
	json_str(&j, s->version);
	json_key(&j, "now");
	json_time(&j, s->now_ms);
	json_key(&j, "started");
	json_time(&j, s->started_ms);
	json_key(&j, "uptime_s");
	json_i64(&j, age_s(s->now_ms, s->started_ms));
	server_obj(&j, s);
	json_key(&j, "targets");
	json_arr(&j);
	for (size_t i = 0; i < s->ntargets; i++)
		target_obj(&j, s, &s->t[i]);
	json_arr_end(&j);
	pushes_arr(&j, in);
	received_arr(&j, in);
	jobs_obj(&j, in);
	json_obj_end(&j);
	return json_failed(&j) ? -1 : 0;
}

enum status_doc_result
status_document(struct stats *st, const struct mirror_view *mv,
    size_t max_pushes, const char *target, int64_t offset, int64_t after,
    size_t limit, int64_t now_ms, struct buf *out)
{
	struct status_input in;
	struct snapshot *s = malloc(sizeof(*s));
	struct stats_received *rcv = calloc(RFTP_STATS_RECEIVED, sizeof(*rcv));
	struct stats_push *pushes =
	    calloc(max_pushes > 0 ? max_pushes : 1, sizeof(*pushes));
	struct mirror_job_view *jobs =
	    calloc(limit > 0 ? limit : 1, sizeof(*jobs));
	enum status_doc_result rc = STATUS_DOC_NOMEM;

	memset(&in, 0, sizeof(in));
	if (s == NULL || rcv == NULL || pushes == NULL || jobs == NULL)
		goto out;
	if (mv != NULL && mv->targets == NULL)
		mv = NULL;
	if (snapshot_take(s, st, mv, now_ms) < 0)
		log_warn("status: without the queue's facts: the mirror's "
		         "queue could not be read");
	in.snap = s;
	in.received = rcv;
	in.nreceived = stats_received_get(st, rcv, RFTP_STATS_RECEIVED);
	in.pushes = pushes;
	in.npushes = stats_pushes_get(st, pushes, max_pushes);
	in.jobs.target = target;
	in.jobs.offset = offset;
	in.jobs.after = after;
	in.jobs.limit = limit;
	in.jobs.items = jobs;
	if (mv != NULL && mv->jobs != NULL) {
		in.jobs.ok =
		    mv->jobs(mv->ctx, target, offset, after, limit, jobs,
		        &in.jobs.n, &in.jobs.total, &in.jobs.more) == 0;
		if (!in.jobs.ok) {
			in.jobs.n = 0;
			in.jobs.more = 0;
		}
	} else {
		in.jobs.ok = 1; /* no mirror: no jobs */
	}
	rc = status_render(&in, out) < 0 ? STATUS_DOC_TOO_LARGE : STATUS_DOC_OK;
out:
	free(s);
	free(rcv);
	free(pushes);
	free(jobs);
	return rc;
}
