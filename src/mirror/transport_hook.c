/*
 * transport_hook.c - the webhook transport (http://, https://): the table
 * transport_hook_ops of transport_ops.h, on libcurl (this file and
 * transport_curl.c are the two that include <curl/curl.h>).
 *
 * A webhook does not mirror a tree; it tells a receiver about each change
 * the queue holds, so the queue's retries, backoff and parking apply as for
 * any target, and delivery is at least once (a crash after the receiver's
 * 2xx and before the job is settled sends the same event again, with the
 * same id and the same body):
 *   mode = notify: one POST of a JSON event per job: put (with the size
 *     and SHA-256 of the local file, read here), delete, rename (path is
 *     the new name, old_path the old one). mkdir, rmdir and time changes
 *     are delivered as no-ops: nothing is sent.
 *   mode = put: PUT of the file's bytes to URL/USER/PATH (each segment
 *     percent-encoded), DELETE for a delete (404 and 410 count as gone);
 *     a rename is refused without asking, which makes the worker repair it
 *     the way it repairs any refused rename: DELETE of the old name, then
 *     PUT of the new one.
 * With secret_file, every request carries X-Relayftpd-Signature:
 * sha256=HEX, the HMAC-SHA256 of its body under the secret (an empty body
 * for DELETE). A 2xx answer is delivered; any other status, a redirect, a
 * timeout or a refused connection is a failed attempt; a 2xx whose body
 * goes past RFTP_HOOK_REPLY_MAX is delivered all the same. Must not:
 * follow redirects, speak any protocol but HTTP(S), keep more of an
 * answer than RFTP_HOOK_REPLY_KEEP bytes, or read more than
 * RFTP_HOOK_REPLY_MAX.
 */
#include "mirror/transport_ops.h"
#include "mirror/curlbase.h"
#include "mirror/filerange.h"

#include "common/buf.h"
#include "common/clock.h"
#include "common/hash.h"
#include "common/json.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct hook_tp {
	const struct target_config *t;
	const atomic_int *stop;
	CURL *curl;
	char errbuf[CURL_ERROR_SIZE];
	struct transport_job job; /* valid while have_job */
	int have_job;
	transport_progress_fn progress;
	void *progress_ctx;
	char reply[RFTP_HOOK_REPLY_KEEP + 1]; /* start of the last answer */
	size_t reply_len, reply_total;
	int cut; /* the answer went past RFTP_HOOK_REPLY_MAX: reading stopped */
	/* The request's body length, and when its whole answer is due
	 * (monotonic ms; 0: the body is not sent yet). late: the request
	 * was ended for it. */
	curl_off_t body_len;
	uint64_t answer_by_ms;
	int late;
};

static int
hook_global_init(void)
{
	/* Counted by libcurl: the libcurl transport's call and this one
	 * pair with the two cleanups. */
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static void
hook_global_cleanup(void)
{
	curl_global_cleanup();
}

static void *
hook_open(const struct target_config *t, const atomic_int *stop)
{
	struct hook_tp *tp = calloc(1, sizeof(*tp));

	if (tp == NULL)
		return NULL;
	tp->t = t;
	tp->stop = stop;
	tp->curl = curl_easy_init();
	if (tp->curl == NULL) {
		free(tp);
		return NULL;
	}
	return tp;
}

static void
hook_close(void *impl, int quick)
{
	(void)quick; /* nothing to say goodbye to */
	struct hook_tp *tp = impl;

	if (tp == NULL)
		return;
	curl_easy_cleanup(tp->curl);
	free(tp);
}

static void
hook_on_progress(void *impl, transport_progress_fn fn, void *ctx)
{
	struct hook_tp *tp = impl;

	tp->progress = fn;
	tp->progress_ctx = ctx;
}

static void
hook_set_job(void *impl, const struct transport_job *job)
{
	struct hook_tp *tp = impl;

	tp->have_job = job != NULL;
	if (job != NULL)
		tp->job = *job;
}

/* ---- signing: HMAC-SHA256 through OpenSSL's EVP_MAC ---- */

/* A MAC context keyed with the target's secret, or NULL (no secret, or
 * the library refused: *failed says which). */
static EVP_MAC_CTX *
hmac_begin(const struct hook_tp *tp, int *failed)
{
	EVP_MAC *mac;
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];
	char digest[] = "SHA256";

	*failed = 0;
	if (tp->t->hook_secret[0] == '\0')
		return NULL;
	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (mac != NULL)
		ctx = EVP_MAC_CTX_new(mac);
	EVP_MAC_free(mac); /* the context holds its own reference */
	params[0] =
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (ctx == NULL ||
	    EVP_MAC_init(ctx, (const unsigned char *)tp->t->hook_secret,
	        strlen(tp->t->hook_secret), params) != 1) {
		EVP_MAC_CTX_free(ctx);
		*failed = 1;
		return NULL;
	}
	return ctx;
}

/* Finishes ctx (freed either way) into the header line for the request.
 * 0, or -1. */
static int
hmac_header(EVP_MAC_CTX *ctx, char *out, size_t outlen)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	size_t n = 0;
	int w;

	if (EVP_MAC_final(ctx, mac, &n, sizeof(mac)) != 1) {
		EVP_MAC_CTX_free(ctx);
		return -1;
	}
	EVP_MAC_CTX_free(ctx);
	w = snprintf(out, outlen, "X-Relayftpd-Signature: sha256=");
	if (w < 0 || (size_t)w + 2 * n >= outlen)
		return -1;
	for (size_t i = 0; i < n; i++)
		snprintf(out + w + 2 * i, 3, "%02x", mac[i]);
	return 0;
}

/* ---- one request ---- */

static size_t
reply_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct hook_tp *tp = userdata;
	size_t n = size * nmemb, keep;

	tp->reply_total += n;
	if (tp->reply_total > RFTP_HOOK_REPLY_MAX) {
		tp->cut = 1;
		return 0; /* libcurl stops the request: CURLE_WRITE_ERROR */
	}
	keep = RFTP_HOOK_REPLY_KEEP - tp->reply_len;
	if (keep > n)
		keep = n;
	memcpy(tp->reply + tp->reply_len, ptr, keep);
	tp->reply_len += keep;
	tp->reply[tp->reply_len] = '\0';
	return n;
}

static size_t
read_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	ssize_t n = file_range_read(userdata, ptr, size * nmemb);

	return n < 0 ? CURL_READFUNC_ABORT : (size_t)n;
}

/*
 * Shutdown abandons a request in progress; the job is redone at start.
 * Once the body is sent (a request without one: from its start), the
 * whole answer must come within timeout seconds: a receiver that took a
 * PUT's body and dripped its answer a byte every 0.5 s passed the low
 * speed limit and held the worker until the 1 MiB cap, days (found from
 * outside). A receiver's answer is small; a large body is still bounded
 * only by the low speed limit while it is sent.
 */
static int
progress_cb(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct hook_tp *tp = userdata;
	uint64_t now;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	if (atomic_load(tp->stop))
		return 1;
	if (ulnow < tp->body_len)
		return 0;
	now = clock_mono_ms();
	if (tp->answer_by_ms == 0) {
		tp->answer_by_ms = now + tp->t->timeout * 1000;
	} else if (now >= tp->answer_by_ms) {
		tp->late = 1;
		return 1;
	}
	return 0;
}

/* body_len: the bytes of the request's body (0 none). */
static void
common_opts(struct hook_tp *tp, const char *url, struct curl_slist *hdrs,
    curl_off_t body_len)
{
	CURL *c = tp->curl;
	const struct target_config *t = tp->t;
	long secs = (long)t->timeout;

	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curlbase_opts(c, tp->errbuf, t);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, secs);
	/* A receiver that stalls, takes the body at a trickle (under
	 * min_rate), or takes it and never answers fails the attempt after
	 * timeout seconds. */
	curlbase_min_rate(c, t, 0);
	if (t->user[0] != '\0')
		curl_easy_setopt(c, CURLOPT_USERNAME, t->user);
	if (t->password[0] != '\0')
		curl_easy_setopt(c, CURLOPT_PASSWORD, t->password);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, t->tls_verify ? 1L : 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, t->tls_verify ? 2L : 0L);
	if (t->ca_file[0] != '\0')
		curl_easy_setopt(c, CURLOPT_CAINFO, t->ca_file);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, reply_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, tp);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress_cb);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, tp);
	tp->errbuf[0] = '\0';
	tp->reply[0] = '\0';
	tp->reply_len = 0;
	tp->reply_total = 0;
	tp->cut = 0;
	tp->body_len = body_len;
	tp->answer_by_ms = 0;
	tp->late = 0;
}

/* The start of the answer, printable, for the log and `mirror status`. */
static void
reply_excerpt(const struct hook_tp *tp, char *out, size_t outlen)
{
	size_t n = 0;

	for (size_t i = 0; i < tp->reply_len && n + 1 < outlen; i++) {
		unsigned char ch = (unsigned char)tp->reply[i];

		out[n++] = ch >= 0x20 && ch < 0x7f ? (char)ch : ' ';
	}
	out[n] = '\0';
}

/*
 * Whether a 2xx came before the request's whole body went out: a
 * receiver that answers at once and closes (an "always 200" endpoint, a
 * proxy that drops the body) was counted as having the file, and the
 * push logged its bytes, while none reached it (found from outside: 20
 * MiB "pushed" in 0.03 s). If so, res says how much was sent. 1 if so.
 */
static int
answered_early(
    struct hook_tp *tp, const char *what, long status, struct push_result *res)
{
	curl_off_t sent = 0;

	if (tp->body_len <= 0 ||
	    curl_easy_getinfo(tp->curl, CURLINFO_SIZE_UPLOAD_T, &sent) !=
	        CURLE_OK ||
	    sent >= tp->body_len)
		return 0;
	snprintf(res->error, sizeof(res->error),
	    "%s: the receiver answered HTTP %ld before it took the whole "
	    "body (%lld of %lld bytes sent): it cannot have the file",
	    what, status, (long long)sent, (long long)tp->body_len);
	/* Of this request's content, as a 413: its other jobs go on. */
	res->file_refused = 1;
	return 1;
}

/* Runs the request set up on tp->curl. gone_ok: 404 and 410 are success
 * (a DELETE of what is not there). 0, or -1 with res->error. */
static int
perform(
    struct hook_tp *tp, const char *what, int gone_ok, struct push_result *res)
{
	CURLcode rc = curl_easy_perform(tp->curl);
	long status = 0;
	char excerpt[RFTP_HOOK_REPLY_KEEP + 1];

	/* Only this request's answer may ask for a pause. */
	res->retry_after_s = 0;
	if (rc == CURLE_ABORTED_BY_CALLBACK && tp->late) {
		snprintf(res->error, sizeof(res->error),
		    "%s: timed out: no whole answer within %llu s of the "
		    "request's end (timeout)",
		    what, (unsigned long long)tp->t->timeout);
		return -1;
	}
	curl_easy_getinfo(tp->curl, CURLINFO_RESPONSE_CODE, &status);
	/* A 2xx is the receiver's word that it has the request, whatever
	 * body follows: one whose body went past the cap was sent again at
	 * each retry, a duplicate downstream every time (found from
	 * outside). Reading stops at the cap; the request is done. */
	if (rc == CURLE_WRITE_ERROR && tp->cut && status >= 200 &&
	    status <= 299)
		return answered_early(tp, what, status, res) ? -1 : 0;
	if (curlbase_too_slow(
	        rc, tp->errbuf, tp->t, 0, what, res->error, sizeof(res->error)))
		return -1;
	/* libcurl 7.88 ends an answer with a header line past its 100 KiB
	 * (CURL_MAX_HTTP_HEADER) as CURLE_OUT_OF_MEMORY, in no words of its
	 * own: the admin read "Out of memory" of a receiver's broken or
	 * hostile answer, as if the daemon's host lacked it (found from
	 * outside). The answer's status line had come. */
	if (rc == CURLE_OUT_OF_MEMORY && status != 0) {
		snprintf(res->error, sizeof(res->error),
		    "%s: the answer (HTTP %ld) has a header line longer than "
		    "libcurl takes (100 KiB): a broken or hostile receiver "
		    "(libcurl: %s)",
		    what, status,
		    tp->errbuf[0] ? tp->errbuf : curl_easy_strerror(rc));
		return -1;
	}
	if (rc != CURLE_OK) {
		snprintf(res->error, sizeof(res->error), "%s: %s", what,
		    rc == CURLE_WRITE_ERROR && tp->cut ?
		        "the answer is longer than 1 MiB" :
		        (tp->errbuf[0] ? tp->errbuf : curl_easy_strerror(rc)));
		return -1;
	}
	if (status >= 200 && status <= 299)
		return answered_early(tp, what, status, res) ? -1 : 0;
	if (gone_ok && (status == 404 || status == 410))
		return 0;
	reply_excerpt(tp, excerpt, sizeof(excerpt));
	snprintf(res->error, sizeof(res->error), "%s: HTTP %ld%s%s", what,
	    status, excerpt[0] ? ": " : "", excerpt);
	/* A 429 or 503 may say when to come back (the worker waits it). */
	res->retry_after_s = curlbase_retry_after(tp->curl, status);
	/* These refuse this request's content or name (the worker retries
	 * this job alone); any other status (401, 403, 404 of a wrong URL,
	 * 408, 429, a 5xx, a redirect) speaks of the receiver. */
	res->file_refused = status == 400 || status == 409 || status == 413 ||
	    status == 414 || status == 415 || status == 422;
	return -1;
}

/* Appends a header line to *hdrs; -1 without memory (*hdrs is kept for
 * the caller to free). */
static int
add_header(struct curl_slist **hdrs, const char *line)
{
	struct curl_slist *grown = curl_slist_append(*hdrs, line);

	if (grown == NULL)
		return -1;
	*hdrs = grown;
	return 0;
}

/* The event's id: the queue's job id never comes back (AUTOINCREMENT)
 * and the creation time tells apart two queue files; both are the same
 * at every retry of the job, so a receiver can drop a repeat. */
static void
event_id(const struct hook_tp *tp, char *out, size_t outlen)
{
	fmt_fixed(out, outlen, "%lld-%lld", (long long)tp->job.created_ms,
	    (long long)tp->job.id);
}

/* Headers every request carries: the event, its id, and no
 * "Expect: 100-continue" wait. */
static int
base_headers(struct hook_tp *tp, const char *event, struct curl_slist **hdrs)
{
	char line[128], id[64];

	event_id(tp, id, sizeof(id));
	if (fmt_fixed(line, sizeof(line), "X-Relayftpd-Event: %s", event) < 0 ||
	    add_header(hdrs, line) < 0)
		return -1;
	if (fmt_fixed(line, sizeof(line), "X-Relayftpd-Event-Id: %s", id) < 0 ||
	    add_header(hdrs, line) < 0)
		return -1;
	return add_header(hdrs, "Expect:");
}

static int
need_job(const struct hook_tp *tp, const char *what, struct push_result *res)
{
	if (tp->have_job)
		return 0;
	snprintf(res->error, sizeof(res->error),
	    "%s: internal error: no job set", what);
	return -1;
}

/* ---- mode = notify ---- */

static void
json_path(struct json *j, const char *key, const char *b64key, const char *p)
{
	size_t n, cap;
	unsigned char *b64;

	json_key(j, key);
	if (p == NULL) {
		json_null(j);
		json_key(j, b64key);
		json_null(j);
		return;
	}
	json_str(j, p);
	/* The exact bytes too: a name that is not UTF-8 reads with U+FFFD
	 * in "path" and is still told exactly here. */
	n = strlen(p);
	cap = 4 * ((n + 2) / 3) + 1;
	b64 = malloc(cap);
	json_key(j, b64key);
	if (b64 == NULL) {
		json_null(j);
		return;
	}
	EVP_EncodeBlock(b64, (const unsigned char *)p, (int)n);
	json_str(j, (const char *)b64);
	free(b64);
}

/* The JSON event into body. size/sha256: a put's; sha256 NULL otherwise. */
static int
event_body(struct hook_tp *tp, const char *event, const char *path,
    const char *old_path, uint64_t size, const char *sha256, struct buf *body)
{
	struct json j;
	char id[64];

	event_id(tp, id, sizeof(id));
	json_init(&j, body);
	json_obj(&j);
	json_key(&j, "id");
	json_str(&j, id);
	json_key(&j, "event");
	json_str(&j, event);
	json_key(&j, "target");
	json_str(&j, tp->t->name);
	json_key(&j, "user");
	json_str(&j, tp->job.user);
	json_path(&j, "path", "path_base64", path);
	json_path(&j, "old_path", "old_path_base64", old_path);
	json_key(&j, "size");
	if (sha256 != NULL)
		json_u64(&j, size);
	else
		json_null(&j);
	json_key(&j, "sha256");
	if (sha256 != NULL)
		json_str(&j, sha256);
	else
		json_null(&j);
	json_key(&j, "time");
	json_time(&j, tp->job.created_ms);
	json_key(&j, "time_ms");
	json_i64(&j, tp->job.created_ms);
	json_obj_end(&j);
	return json_failed(&j) ? -1 : 0;
}

/* POSTs one event. 0 when the receiver answered 2xx, -1 with res. */
static int
notify(struct hook_tp *tp, const char *event, const char *path,
    const char *old_path, uint64_t size, const char *sha256,
    struct push_result *res)
{
	struct buf body;
	struct curl_slist *hdrs = NULL;
	char sig[128];
	EVP_MAC_CTX *mac;
	int failed, rc = -1;

	buf_init(&body, RFTP_HOOK_BODY_MAX);
	if (event_body(tp, event, path, old_path, size, sha256, &body) < 0) {
		snprintf(res->error, sizeof(res->error),
		    "%s: the event does not fit in %d bytes", event,
		    RFTP_HOOK_BODY_MAX);
		goto out;
	}
	mac = hmac_begin(tp, &failed);
	if (failed)
		goto nomem;
	if (mac != NULL) {
		EVP_MAC_update(mac, (const unsigned char *)body.data, body.len);
		if (hmac_header(mac, sig, sizeof(sig)) < 0 ||
		    add_header(&hdrs, sig) < 0)
			goto nomem;
	}
	if (base_headers(tp, event, &hdrs) < 0 ||
	    add_header(&hdrs, "Content-Type: application/json") < 0)
		goto nomem;
	common_opts(tp, tp->t->url, hdrs, (curl_off_t)body.len);
	curl_easy_setopt(tp->curl, CURLOPT_POSTFIELDS, body.data);
	curl_easy_setopt(
	    tp->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body.len);
	/* The whole exchange of a small body is bounded too. */
	curl_easy_setopt(tp->curl, CURLOPT_TIMEOUT, (long)tp->t->timeout);
	rc = perform(tp, event, 0, res);
	goto out;
nomem:
	snprintf(res->error, sizeof(res->error), "%s: out of memory", event);
out:
	curl_slist_free_all(hdrs);
	buf_free(&body);
	return rc;
}

/* ---- mode = put ---- */

/* URL of rpath under the target's URL, each segment percent-encoded; a
 * query in the URL stays at the end ("https://h/in?k=v" puts /u/f at
 * "https://h/in/u/f?k=v"). */
static int
put_url(struct hook_tp *tp, const char *rpath, struct buf *out)
{
	const char *url = tp->t->url, *p = rpath;
	size_t n = strcspn(url, "?#");
	const char *query = url[n] == '?' ? url + n : "";

	while (n > 0 && url[n - 1] == '/')
		n--;
	buf_reset(out);
	if (buf_add(out, url, n) < 0)
		return -1;
	while (*p == '/') {
		const char *e = strchr(p + 1, '/');
		size_t len = e ? (size_t)(e - p - 1) : strlen(p + 1);
		char *esc = curl_easy_escape(tp->curl, p + 1, (int)len);
		int r;

		if (esc == NULL)
			return -1;
		r = buf_printf(out, "/%s", esc);
		curl_free(esc);
		if (r < 0)
			return -1;
		p += 1 + len;
	}
	return buf_add(out, query, strcspn(query, "#"));
}

/* Reads size bytes of fd once: the SHA-256 the receiver may check (hex,
 * HASH_HEX_MAX) and, with a secret, the signature header of the body. */
static int
digest_file(struct hook_tp *tp, int fd, uint64_t size, char *sha256, char *sig,
    size_t siglen, struct push_result *res)
{
	static const size_t chunk = 256 * 1024;
	struct hash_ctx h;
	EVP_MAC_CTX *mac;
	unsigned char *b;
	uint64_t off = 0;
	int failed;

	sig[0] = '\0';
	b = malloc(chunk);
	if (b == NULL || hash_init(&h, HASH_SHA256) < 0) {
		free(b);
		snprintf(res->error, sizeof(res->error), "put: out of memory");
		return -1;
	}
	mac = hmac_begin(tp, &failed);
	while (!failed && off < size) {
		size_t want = size - off < chunk ? (size_t)(size - off) : chunk;
		ssize_t n;

		/* A shutdown does not wait for the digest of a big file. */
		if (atomic_load(tp->stop)) {
			snprintf(res->error, sizeof(res->error),
			    "stopping (the daemon stops)");
			failed = 1;
			break;
		}
		n = pread(fd, b, want, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(res->error, sizeof(res->error),
			    "put: reading the file: %s",
			    n < 0 ? strerror(errno) : "shorter than queued");
			failed = 1;
			break;
		}
		hash_update(&h, b, (size_t)n);
		if (mac != NULL)
			EVP_MAC_update(mac, b, (size_t)n);
		off += (uint64_t)n;
	}
	free(b);
	if (failed) {
		hash_abandon(&h);
		EVP_MAC_CTX_free(mac);
		if (res->error[0] == '\0')
			snprintf(res->error, sizeof(res->error),
			    "put: cannot sign (OpenSSL)");
		return -1;
	}
	if (hash_final(&h, sha256) < 0 ||
	    (mac != NULL && hmac_header(mac, sig, siglen) < 0)) {
		snprintf(res->error, sizeof(res->error),
		    "put: cannot digest the file (OpenSSL)");
		return -1;
	}
	return 0;
}

/* PUTs the bytes of fd to URL/rpath. */
static int
put_bytes(struct hook_tp *tp, int fd, uint64_t size, const char *rpath,
    const char *sha256, const char *sig, struct push_result *res)
{
	struct file_range rd;
	struct curl_slist *hdrs = NULL;
	struct buf url;
	char line[HASH_HEX_MAX + 32];
	int rc = -1;

	file_range_init(&rd, fd, 0, size, 0, tp->progress, tp->progress_ctx);
	buf_init(&url, RFTP_HOOK_URL_MAX);
	if (put_url(tp, rpath, &url) < 0 ||
	    (sig[0] != '\0' && add_header(&hdrs, sig) < 0) ||
	    base_headers(tp, "put", &hdrs) < 0 ||
	    add_header(&hdrs, "Content-Type: application/octet-stream") < 0 ||
	    fmt_fixed(line, sizeof(line), "X-Relayftpd-Sha256: %s", sha256) <
	        0 ||
	    add_header(&hdrs, line) < 0) {
		snprintf(res->error, sizeof(res->error),
		    "put: out of memory, or the URL is longer than %d bytes",
		    RFTP_HOOK_URL_MAX);
		goto out;
	}
	common_opts(tp, buf_str(&url), hdrs, (curl_off_t)size);
	curl_easy_setopt(tp->curl, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(tp->curl, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(tp->curl, CURLOPT_READDATA, &rd);
	curl_easy_setopt(tp->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
	rc = perform(tp, "put", 0, res);
	if (rc < 0)
		file_range_failed(&rd, "put", res);
out:
	curl_slist_free_all(hdrs);
	buf_free(&url);
	return rc;
}

/* DELETE of URL/rpath; one that is not there is gone already. */
static int
delete_path(struct hook_tp *tp, const char *rpath, struct push_result *res)
{
	struct curl_slist *hdrs = NULL;
	struct buf url;
	char sig[128];
	EVP_MAC_CTX *mac;
	int failed, rc = -1;

	buf_init(&url, RFTP_HOOK_URL_MAX);
	/* The signature of the empty body: a receiver that demands one
	 * finds it on every request. */
	sig[0] = '\0';
	mac = hmac_begin(tp, &failed);
	if (mac != NULL && hmac_header(mac, sig, sizeof(sig)) < 0)
		failed = 1;
	if (failed || put_url(tp, rpath, &url) < 0 ||
	    (sig[0] != '\0' && add_header(&hdrs, sig) < 0) ||
	    base_headers(tp, "delete", &hdrs) < 0) {
		snprintf(res->error, sizeof(res->error),
		    "delete: out of memory, or the URL is too long");
		goto out;
	}
	common_opts(tp, buf_str(&url), hdrs, 0);
	curl_easy_setopt(tp->curl, CURLOPT_CUSTOMREQUEST, "DELETE");
	curl_easy_setopt(tp->curl, CURLOPT_NOBODY, 1L);
	rc = perform(tp, "delete", 1, res);
out:
	curl_slist_free_all(hdrs);
	buf_free(&url);
	return rc;
}

/* ---- the table ---- */

/* Push, step 1, and all of it: the event or the bytes are delivered
 * here, so verify and publish have nothing left to do. */
static int
hook_put(void *impl, int fd, uint64_t size, const char *rpath, int64_t tag,
    struct push_result *res)
{
	struct hook_tp *tp = impl;
	char sha256[HASH_HEX_MAX], sig[128];

	(void)tag;
	res->verify_used = "none";
	if (need_job(tp, "put", res) < 0 ||
	    digest_file(tp, fd, size, sha256, sig, sizeof(sig), res) < 0)
		return -1;
	if (tp->t->hook_put)
		return put_bytes(tp, fd, size, rpath, sha256, sig, res);
	/* A rename's repair or a time job that pushes again sends the
	 * file at the name it has now. */
	if (notify(tp, "put",
	        tp->job.new_path != NULL ? tp->job.new_path : tp->job.path,
	        NULL, size, sha256, res) < 0)
		return -1;
	if (tp->progress != NULL)
		tp->progress(tp->progress_ctx, size);
	return 0;
}

static int
hook_verify(void *impl, int fd, uint64_t size, const char *rpath, int64_t tag,
    struct push_result *res)
{
	(void)impl;
	(void)fd;
	(void)size;
	(void)rpath;
	(void)tag;
	(void)res;
	return 0; /* a 2xx for the whole body is the receiver's word */
}

static int
hook_publish(
    void *impl, const char *rpath, int64_t tag, struct push_result *res)
{
	(void)impl;
	(void)rpath;
	(void)tag;
	(void)res;
	return 0; /* nothing is sent under a temporary name */
}

static int
hook_discard(void *impl, const char *rpath, int64_t tag)
{
	(void)impl;
	(void)rpath;
	(void)tag;
	return 0; /* no temporary copy exists to remove */
}

static int
hook_remove(void *impl, const char *rpath, struct push_result *res)
{
	struct hook_tp *tp = impl;

	memset(res, 0, sizeof(*res));
	if (need_job(tp, "delete", res) < 0)
		return -1;
	if (tp->t->hook_put)
		return delete_path(tp, rpath, res);
	/* A rename's repair deletes the old name: that is the job's path
	 * too, so the event names it either way. */
	return notify(tp, "delete", tp->job.path, NULL, 0, NULL, res);
}

static int
hook_rename(
    void *impl, const char *from, const char *to, struct push_result *res)
{
	struct hook_tp *tp = impl;

	(void)from;
	(void)to;
	memset(res, 0, sizeof(*res));
	if (need_job(tp, "rename", res) < 0)
		return -1;
	if (tp->t->hook_put) {
		/* HTTP has no rename: refused, the worker repairs it with
		 * a DELETE of the old name and a PUT of the new. */
		res->refused = 1;
		snprintf(res->error, sizeof(res->error),
		    "rename: mode = put sends the new name and deletes the old");
		return -1;
	}
	return notify(tp, "rename",
	    tp->job.new_path != NULL ? tp->job.new_path : tp->job.path,
	    tp->job.path, 0, NULL, res);
}

static int
hook_list(void *impl, const char *rdir,
    void (*fn)(void *ctx, const char *name, int64_t size, int is_dir),
    void *ctx, struct push_result *res)
{
	(void)impl;
	(void)rdir;
	(void)fn;
	(void)ctx;
	memset(res, 0, sizeof(*res));
	snprintf(res->error, sizeof(res->error),
	    "a webhook target cannot list: it catches up from the queue only");
	return -1;
}

static int
hook_mkdir(void *impl, const char *rpath, struct push_result *res)
{
	(void)impl;
	(void)rpath;
	memset(res, 0, sizeof(*res));
	return 0; /* delivered as a no-op: a receiver learns of files */
}

static int
hook_rmdir(void *impl, const char *rpath, struct push_result *res)
{
	(void)impl;
	(void)rpath;
	memset(res, 0, sizeof(*res));
	return 0; /* delivered as a no-op, like mkdir */
}

static enum time_result
hook_set_time(
    void *impl, const char *rpath, time_t mtime, struct push_result *res)
{
	(void)impl;
	(void)rpath;
	(void)mtime;
	memset(res, 0, sizeof(*res));
	snprintf(res->error, sizeof(res->error),
	    "a webhook has no file times; the event carries the change's");
	return TIME_CANNOT;
}

const struct transport_ops transport_hook_ops = {
	.name = "webhook",
	.global_init = hook_global_init,
	.global_cleanup = hook_global_cleanup,
	.open = hook_open,
	.close = hook_close,
	.on_progress = hook_on_progress,
	.set_job = hook_set_job,
	.put = hook_put,
	.verify = hook_verify,
	.publish = hook_publish,
	.discard = hook_discard,
	.remove = hook_remove,
	.rename = hook_rename,
	.list = hook_list,
	.mkdir = hook_mkdir,
	.rmdir = hook_rmdir,
	.set_time = hook_set_time,
};
