/*
 * metrics.c - writes the Prometheus text format 0.0.4 (see metrics.h).
 *
 * Every family gets "# HELP" and "# TYPE" even with no sample (a target
 * list may be empty), counters end in _total, label values are escaped
 * as the format asks (backslash, double quote, line feed) and any byte
 * that is not UTF-8 becomes U+FFFD, so `promtool check metrics` passes
 * whatever a target is called. Queue facts a snapshot lacks (the queue
 * could not be read) are left out rather than reported as zero.
 */
#include "admin/metrics.h"

#include "common/json.h"

#include <inttypes.h>
#include <string.h>

struct out {
	struct buf *b;
	int failed;
};

__attribute__((format(printf, 2, 3))) static void
put(struct out *o, const char *fmt, ...)
{
	va_list ap;

	if (o->failed)
		return;
	va_start(ap, fmt);
	if (buf_vprintf(o->b, fmt, ap) < 0)
		o->failed = 1;
	va_end(ap);
}

static void
family(struct out *o, const char *name, const char *type, const char *help)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value between the quotes. */
static void
label_value(struct out *o, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0;

	while (i < n) {
		size_t len = utf8_seq(p + i, n - i);

		if (len == 0) {
			put(o, "\xEF\xBF\xBD");
			i++;
		} else if (len == 1 && p[i] == '\\') {
			put(o, "\\\\");
			i++;
		} else if (len == 1 && p[i] == '"') {
			put(o, "\\\"");
			i++;
		} else if (len == 1 && p[i] == '\n') {
			put(o, "\\n");
			i++;
		} else {
			put(o, "%.*s", (int)len, (const char *)p + i);
			i += len;
		}
	}
}

/* name{target="T"[,extra]} value */
static void
target_sample(struct out *o, const char *name, const char *target,
    const char *extra, const char *value)
{
	put(o, "%s{target=\"", name);
	label_value(o, target);
	put(o, "\"%s%s} %s\n", extra[0] != '\0' ? "," : "", extra, value);
}

static void
target_u64(struct out *o, const char *name, const char *target, uint64_t v)
{
	char text[24];

	fmt_fixed(text, sizeof(text), "%" PRIu64, v);
	target_sample(o, name, target, "", text);
}

static void
server_families(struct out *o, const struct snapshot *s)
{
	family(o, "relayftpd_build_info", "gauge",
	    "Always 1; the version in a label.");
	put(o, "relayftpd_build_info{version=\"");
	label_value(o, s->version);
	put(o, "\"} 1\n");
	family(o, "relayftpd_start_time_seconds", "gauge",
	    "When the daemon started, in seconds since the epoch.");
	put(o, "relayftpd_start_time_seconds %" PRId64 ".%03d\n",
	    s->started_ms / 1000, (int)(s->started_ms % 1000));
	family(o, "relayftpd_sessions_open", "gauge",
	    "FTP control connections open now.");
	put(o, "relayftpd_sessions_open %" PRId64 "\n",
	    s->g[STAT_SESSIONS_OPEN]);
	family(o, "relayftpd_logins_total", "counter",
	    "Logins by result (unknown users count as failed).");
	put(o, "relayftpd_logins_total{result=\"ok\"} %" PRIu64 "\n",
	    s->c[STAT_LOGINS_OK]);
	put(o, "relayftpd_logins_total{result=\"failed\"} %" PRIu64 "\n",
	    s->c[STAT_LOGINS_FAILED]);
	family(o, "relayftpd_uploads_total", "counter",
	    "Uploads by result (aborted: the file was not published).");
	put(o, "relayftpd_uploads_total{result=\"completed\"} %" PRIu64 "\n",
	    s->c[STAT_UPLOADS_COMPLETED]);
	put(o, "relayftpd_uploads_total{result=\"aborted\"} %" PRIu64 "\n",
	    s->c[STAT_UPLOADS_ABORTED]);
	family(o, "relayftpd_upload_bytes_total", "counter",
	    "Bytes received in uploads, completed or aborted.");
	put(o, "relayftpd_upload_bytes_total %" PRIu64 "\n",
	    s->c[STAT_UPLOAD_BYTES]);
	family(
	    o, "relayftpd_downloads_total", "counter", "Downloads by result.");
	put(o, "relayftpd_downloads_total{result=\"completed\"} %" PRIu64 "\n",
	    s->c[STAT_DOWNLOADS_COMPLETED]);
	put(o, "relayftpd_downloads_total{result=\"aborted\"} %" PRIu64 "\n",
	    s->c[STAT_DOWNLOADS_ABORTED]);
	family(o, "relayftpd_download_bytes_total", "counter",
	    "Bytes sent in downloads, completed or aborted.");
	put(o, "relayftpd_download_bytes_total %" PRIu64 "\n",
	    s->c[STAT_DOWNLOAD_BYTES]);
	family(o, "relayftpd_quota_refused_total", "counter",
	    "Writes refused because of a quota.");
	put(o, "relayftpd_quota_refused_total %" PRIu64 "\n",
	    s->c[STAT_QUOTA_REFUSED]);
	family(o, "relayftpd_queue_unrecorded_total", "counter",
	    "Changes the mirror's queue could not record (its disk full or "
	    "failing); the home is walked until they are.");
	put(o, "relayftpd_queue_unrecorded_total %" PRIu64 "\n",
	    s->c[STAT_QUEUE_UNRECORDED]);
	family(o, "relayftpd_bans_active", "gauge",
	    "Client addresses banned now after failed logins.");
	put(o, "relayftpd_bans_active %" PRId64 "\n", s->g[STAT_BANS_ACTIVE]);
}

/* The per-target families whose values are a stats counter. */
static const struct {
	const char *name, *help;
	enum stats_target_counter c;
} target_counters[] = {
	{ "relayftpd_target_push_attempts_total",
	    "Pushes started (every kind of job).", STAT_T_ATTEMPTS },
	{ "relayftpd_target_push_successes_total",
	    "Jobs settled as done on the target.", STAT_T_SUCCESSES },
	{ "relayftpd_target_push_failures_total", "Attempts that failed.",
	    STAT_T_FAILURES },
	{ "relayftpd_target_verify_failures_total",
	    "Pushed files that did not verify on the target.",
	    STAT_T_VERIFY_FAILURES },
	{ "relayftpd_target_pushed_bytes_total",
	    "File bytes of completed pushes.", STAT_T_BYTES_PUSHED },
};

static void
queue_families(struct out *o, const struct snapshot *s)
{
	static const enum mirror_target_state states[] = {
		MIRROR_TARGET_UP,
		MIRROR_TARGET_BACKOFF,
		MIRROR_TARGET_FAILING,
	};

	family(o, "relayftpd_target_queue_depth", "gauge",
	    "Jobs waiting for or being pushed to the target (not parked).");
	for (size_t i = 0; i < s->ntargets; i++)
		if (s->t[i].have_view)
			target_u64(o, "relayftpd_target_queue_depth",
			    s->t[i].name,
			    (uint64_t)(s->t[i].v.queued + s->t[i].v.running));
	family(o, "relayftpd_target_oldest_job_age_seconds", "gauge",
	    "Age of the oldest unfinished job (0: none).");
	for (size_t i = 0; i < s->ntargets; i++) {
		int64_t at = s->t[i].v.oldest_ms, age = 0;

		if (!s->t[i].have_view)
			continue;
		if (at > 0 && s->now_ms > at)
			age = (s->now_ms - at) / 1000;
		target_u64(o, "relayftpd_target_oldest_job_age_seconds",
		    s->t[i].name, (uint64_t)age);
	}
	family(o, "relayftpd_target_jobs_parked", "gauge",
	    "Jobs parked after max_attempts, waiting for a retry.");
	for (size_t i = 0; i < s->ntargets; i++)
		if (s->t[i].have_view)
			target_u64(o, "relayftpd_target_jobs_parked",
			    s->t[i].name, (uint64_t)s->t[i].v.parked);
	family(o, "relayftpd_target_state", "gauge",
	    "1 for the target's state: up, backoff (waiting to retry) or "
	    "failing (its last attempt failed).");
	for (size_t i = 0; i < s->ntargets; i++) {
		if (!s->t[i].have_view)
			continue;
		for (size_t k = 0; k < 3; k++) {
			char extra[32];

			fmt_fixed(extra, sizeof(extra), "state=\"%s\"",
			    mirror_target_state_name(states[k]));
			target_sample(o, "relayftpd_target_state", s->t[i].name,
			    extra, s->t[i].v.state == states[k] ? "1" : "0");
		}
	}
}

static void
latency_family(struct out *o, const struct snapshot *s)
{
	static const char name[] = "relayftpd_target_relay_latency_seconds";

	family(o, name, "histogram",
	    "From an upload's 226 to the file published on the target.");
	for (size_t i = 0; i < s->ntargets; i++) {
		const struct stats_target *st = &s->t[i].st;
		uint64_t cum = 0;
		char extra[48], value[32];

		for (size_t k = 0; k <= STATS_LATENCY_BOUNDS; k++) {
			cum += st->lat_bucket[k];
			if (k < STATS_LATENCY_BOUNDS)
				fmt_fixed(extra, sizeof(extra), "le=\"%g\"",
				    stats_latency_bounds[k]);
			else
				fmt_fixed(extra, sizeof(extra), "le=\"+Inf\"");
			fmt_fixed(value, sizeof(value), "%" PRIu64, cum);
			target_sample(o,
			    "relayftpd_target_relay_latency_"
			    "seconds_bucket",
			    s->t[i].name, extra, value);
		}
		fmt_fixed(value, sizeof(value), "%" PRIu64 ".%06" PRIu64,
		    st->lat_sum_us / 1000000, st->lat_sum_us % 1000000);
		target_sample(o, "relayftpd_target_relay_latency_seconds_sum",
		    s->t[i].name, "", value);
		/* The +Inf bucket and _count must agree: take the buckets'
		 * total rather than a separately read count. */
		target_u64(o, "relayftpd_target_relay_latency_seconds_count",
		    s->t[i].name, cum);
	}
}

int
metrics_render(const struct snapshot *s, struct buf *out)
{
	struct out o = { out, 0 };

	server_families(&o, s);
	for (size_t f = 0;
	     f < sizeof(target_counters) / sizeof(target_counters[0]); f++) {
		family(&o, target_counters[f].name, "counter",
		    target_counters[f].help);
		for (size_t i = 0; i < s->ntargets; i++)
			target_u64(&o, target_counters[f].name, s->t[i].name,
			    s->t[i].st.c[target_counters[f].c]);
	}
	queue_families(&o, s);
	latency_family(&o, s);
	return o.failed ? -1 : 0;
}
