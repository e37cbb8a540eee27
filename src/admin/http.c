/*
 * http.c - the admin listener's HTTP side: libmicrohttpd, routes, auth.
 *
 * Owns: the one include of <microhttpd.h>; the route table; who may call
 * what (the bearer token, compared in constant time; the Host check that
 * stops DNS rebinding when there is no token; the CSRF rules of POST
 * /api/retry); bounds (connections, per address, header memory, body
 * size, timeouts); the security headers of every response; and the
 * "admin listening on" line. The documents themselves are metrics.c's and
 * status.c's, the page's files assets.c's.
 *
 * A request must be whole (its line, headers and body) within the admin
 * timeout of its connection's start, or of the previous request's end: the
 * library's own timeout only measures silence, and a header or a body
 * trickled a byte at a time held a slot for days, so max_connections such
 * clients locked the admin out, token or not. A sweeper thread shuts down
 * (shutdown(2)) such a connection through a duplicate of its descriptor;
 * the library then sees it end and closes it itself.
 *
 * Order of the checks, so a refusal never depends on work done first:
 * the request line's query (414, on_uri) -> a NUL byte in it (400) ->
 * an absolute-form target we refuse (400; one we take is its path from
 * here on, and its authority is the Host, RFC 9112 3.2.2) ->
 * Host (no token) -> route
 * (404; an escaped '/' in the path is none; "*" is OPTIONS') -> method
 * (405) -> token (401) -> body size (413) -> CSRF (403, not for OPTIONS)
 * -> the handler (400 for bad parameters).
 * Must not: include server/ or mirror/, or block on anything but the
 * mirror view's short queue reads.
 */
#include "admin/admin.h"

#include "admin/assets.h"
#include "common/clock.h"
#include "common/json.h"
#include "admin/metrics.h"
#include "admin/request.h"
#include "admin/snapshot.h"
#include "admin/status.h"
#include "common/buf.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/numparse.h"
#include "common/tcpinfo.h"
#include "common/thread.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Every response: not cached (it may carry the queue's paths), not
 * sniffed into another type, not framed, no scripts but our own. */
#define CSP                                                                  \
	"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; " \
	"base-uri 'none'; form-action 'self'"
/* The custom header POST /api/retry needs: a cross-site page cannot set
 * it without a CORS preflight, which we never grant. */
#define CSRF_HEADER "X-Relayftpd-Request"
/* libmicrohttpd's own messages and wrong tokens (a peer that misbehaves
 * can cause many): at most this many a second reach the log. */
#define MHD_LOG_PER_SECOND 10

/* libmicrohttpd 0.9.75's message for a connection its client closed in
 * the middle of a request (conn_unread says it instead). */
#define MHD_CUT_REQUEST \
	"Connection was closed by remote side with incomplete request"

/* A connection the sweeper watches: fd is our duplicate of its socket,
 * so a shutdown can never reach a descriptor reused by someone else. */
struct conn {
	struct conn *next, *prev;
	int fd;
	int64_t since_ms; /* start, or the last request's end */
	int waiting;      /* no whole request since since_ms */
	int cut;          /* shut down by the sweeper */
	int refused;      /* answered by on_uri: ended 1 s after since_ms */
	/* strlen of the request line's target as on_uri saw it (the
	 * library's thread only): shorter than the target when it holds a
	 * NUL byte. */
	size_t uri_len;
	/* The request line's path held "%2F" (on_uri; the library's thread
	 * only): no route, whatever it decodes to (path_slash_escaped). */
	int slash_escaped;
	/* The request line's target was absolute-form with a '%' in its
	 * authority (on_uri; the library's thread only): refused, since
	 * the library decodes it and an escaped '/' or '?' would move where
	 * the path starts (authority_escaped). */
	int auth_escaped;
	/* The request line's target, as sent, was absolute-form (on_uri;
	 * the library's thread only). The library decodes the target before
	 * on_request sees it, so "%68ttp://127.0.0.1/x" or
	 * "http%3A//127.0.0.1/x" (no scheme: neither form, RFC 9112 3.2)
	 * would read as absolute-form there, its host taking Host's place
	 * (raw_absolute). */
	int raw_absolute;
	/* A request line reached on_uri: the library read one (its thread
	 * only; conn_unread); cleared when a request ends whole, so a
	 * kept-alive connection's next one is judged alone. */
	int had_line;
	/* The client closed it in the middle of a request, after its line,
	 * with no answer sent (on_completed; its thread only). */
	int cut_open;
	/* The kernel's counts of bytes in and out when the last request
	 * ended whole (its thread only): what came after is the next's. */
	uint64_t done_in, done_out;
};

enum route {
	ROUTE_NONE,
	ROUTE_ASSET,
	ROUTE_METRICS,
	ROUTE_STATUS,
	ROUTE_RETRY,
	ROUTE_SERVER, /* "OPTIONS *": the listener as a whole */
};

struct admin {
	struct MHD_Daemon *d;
	struct stats *st;
	struct mirror_view mv;
	int have_mv;
	int have_token;
	char token_hex[HASH_HEX_MAX]; /* SHA-256 of the token */
	int tls;
	char *cert_pem, *key_pem;
	size_t max_pushes;
	/* The log route of the thread that started it: libmicrohttpd's
	 * threads are not ours (thread.h), so each callback binds it. */
	const struct log_route *route;
	unsigned port; /* bound */
	char url[RFTP_ADMIN_URL_MAX];
	/* The rate limit of the MHD log and the wrong tokens' lines (the
	 * MHD thread, or admin_start's). */
	time_t log_second;
	unsigned log_count, log_dropped;
	/* The header deadline (top of file): conns under conn_lock. */
	pthread_mutex_t conn_lock;
	pthread_cond_t conn_wake;
	struct conn *conns;
	int64_t head_ms; /* the admin timeout */
	int sweeping, stopping;
	pthread_t sweeper;
};

/* Per request: what the first call decided, and the body so far. */
struct req {
	enum route route;
	int options; /* OPTIONS: answered with the route's Allow */
	size_t body_len;
	size_t dropped; /* of a body over the bound */
	int too_big;
	char body[RFTP_ADMIN_BODY_MAX];
};

/* The context of a request on_uri answered: a mark, never freed (after a
 * failed query parse libmicrohttpd 0.9.75 may close the connection without
 * on_completed, so nothing may be owned there). */
static char uri_refused;

/* The client's address of c as text in ip (len bytes), "?" if unknown:
 * every line about one connection names it (an admin blocks it, fail2ban
 * counts by it). */
static const char *
conn_ip(struct MHD_Connection *c, char *ip, size_t len)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || ci->client_addr == NULL)
		fmt_fixed(ip, len, "?");
	else
		log_addr_text(ci->client_addr, ip, len);
	return ip;
}

/* Whether one more line may be logged this second (MHD_LOG_PER_SECOND);
 * the first line of a new second says how many were not. */
static int
log_budget(struct admin *a)
{
	time_t now = time(NULL);

	if (now != a->log_second) {
		if (a->log_dropped > 0)
			log_warn("admin: %u libmicrohttpd messages or wrong "
			         "tokens not logged",
			    a->log_dropped);
		a->log_second = now;
		a->log_count = 0;
		a->log_dropped = 0;
	}
	if (++a->log_count > MHD_LOG_PER_SECOND) {
		a->log_dropped++;
		return 0;
	}
	return 1;
}

__attribute__((format(printf, 2, 0))) static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct admin *a = cls;
	char text[512];
	size_t n;

	log_route_bind(a->route);
	/* A message longer than text is logged cut: it is a diagnostic. */
	vsnprintf(text, sizeof(text), fmt, ap);
	/* Said by conn_unread instead, with the address (the library's
	 * line has none), and only once: both said it. Not under TLS,
	 * where conn_unread cannot count the request's bytes. */
	if (!a->tls &&
	    strncmp(text, MHD_CUT_REQUEST, sizeof(MHD_CUT_REQUEST) - 1) == 0)
		return;
	if (!log_budget(a))
		return;
	n = strlen(text);
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
		text[--n] = '\0';
	log_info("admin: libmicrohttpd: %s", text);
}

static const char *
header(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

static enum MHD_Result
count_host(
    void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	unsigned *n = cls;

	(void)kind;
	(void)value;
	if (strcasecmp(key, "Host") == 0)
		(*n)++;
	return MHD_YES;
}

struct framing {
	unsigned clen, te;
	int te_chunked; /* the one Transfer-Encoding is "chunked" */
};

static enum MHD_Result
count_framing(
    void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct framing *f = cls;
	size_t n;

	(void)kind;
	if (value == NULL)
		return MHD_YES;
	if (strcasecmp(key, "Content-Length") == 0)
		f->clen++;
	if (strcasecmp(key, "Transfer-Encoding") != 0)
		return MHD_YES;
	f->te++;
	while (*value == ' ' || *value == '\t')
		value++;
	n = strlen(value);
	while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
		n--;
	f->te_chunked = n == 7 && strncasecmp(value, "chunked", 7) == 0;
	return MHD_YES;
}

/* Why the request's framing is refused (RFC 9112 6.1, 6.3: a body is
 * delimited one way, or the request is answered 400 and the connection
 * closed, since a proxy in front may have read it another way), or NULL:
 * more than one Content-Length, Transfer-Encoding with Content-Length, or
 * a Transfer-Encoding other than a single "chunked". */
static const char *
framing_refusal(struct MHD_Connection *c)
{
	struct framing f = { 0, 0, 0 };

	MHD_get_connection_values(c, MHD_HEADER_KIND, count_framing, &f);
	if (f.clen > 1)
		return "more than one Content-Length";
	if (f.te > 0 && f.clen > 0)
		return "both Transfer-Encoding and Content-Length";
	if (f.te > 1 || (f.te == 1 && !f.te_chunked))
		return "a Transfer-Encoding other than chunked";
	return NULL;
}

/* How many Host headers the request carries: RFC 7230 5.4 says a request
 * with more than one is answered 400, and the Host check must not read
 * the first while a proxy or the browser acted on another. */
static unsigned
host_headers(struct MHD_Connection *c)
{
	unsigned n = 0;

	MHD_get_connection_values(c, MHD_HEADER_KIND, count_host, &n);
	return n;
}

/* type NULL: no Content-Type (an answer without content). */
static void
add_headers(struct MHD_Response *r, const char *type)
{
	if (type != NULL)
		MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Content-Security-Policy", CSP);
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
}

/* Queues a response with the headers every answer carries. data is
 * copied unless mode says otherwise; close: the connection ends after it
 * (its framing cannot be trusted). */
static enum MHD_Result
respond_as(struct MHD_Connection *c, unsigned status, const char *type,
    const void *data, size_t len, enum MHD_ResponseMemoryMode mode, int close)
{
	struct MHD_Response *r;
	enum MHD_Result rc;

	r = MHD_create_response_from_buffer(len, (void *)(uintptr_t)data, mode);
	if (r == NULL) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free((void *)(uintptr_t)data);
		return MHD_NO;
	}
	add_headers(r, type);
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(
		    r, "WWW-Authenticate", "Bearer realm=\"relayftpd\"");
	if (close)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result
respond(struct MHD_Connection *c, unsigned status, const char *type,
    const void *data, size_t len, enum MHD_ResponseMemoryMode mode)
{
	return respond_as(c, status, type, data, len, mode, 0);
}

/* A small JSON error: {"error": "why"} (why is ours, plain ASCII), and
 * whether the connection ends after it (respond_as). */
static enum MHD_Result
fail_as(struct MHD_Connection *c, unsigned status, const char *why, int close)
{
	char text[160];

	if (fmt_fixed(text, sizeof(text), "{\"error\":\"%s\"}\n", why) < 0)
		fmt_fixed(text, sizeof(text), "{\"error\":\"refused\"}\n");
	log_debug("admin: %u %s", status, why);
	return respond_as(c, status, "application/json", text, strlen(text),
	    MHD_RESPMEM_MUST_COPY, close);
}

static enum MHD_Result
fail(struct MHD_Connection *c, unsigned status, const char *why)
{
	return fail_as(c, status, why, 0);
}

static enum MHD_Result
fail_close(struct MHD_Connection *c, unsigned status, const char *why)
{
	return fail_as(c, status, why, 1);
}

/* 405 with the methods the route takes. */
static enum MHD_Result
fail_method(struct MHD_Connection *c, const char *allow)
{
	static const char text[] = "{\"error\":\"method not allowed\"}\n";
	struct MHD_Response *r;
	enum MHD_Result rc;

	r = MHD_create_response_from_buffer(
	    sizeof(text) - 1, (void *)(uintptr_t)text, MHD_RESPMEM_PERSISTENT);
	if (r == NULL)
		return MHD_NO;
	add_headers(r, "application/json");
	MHD_add_response_header(r, "Allow", allow);
	rc = MHD_queue_response(c, MHD_HTTP_METHOD_NOT_ALLOWED, r);
	MHD_destroy_response(r);
	return rc;
}

/*
 * The methods route serves, for Allow (405, OPTIONS; RFC 9110 10.2.1).
 * OPTIONS is every route's: RFC 9110 9.3.7 asks the server to say what
 * a resource (or, for "*", the server) takes.
 */
static const char *
route_allow(enum route route)
{
	switch (route) {
	case ROUTE_RETRY:
		return "POST, OPTIONS";
	case ROUTE_ASSET:
	case ROUTE_METRICS:
	case ROUTE_STATUS:
		return "GET, HEAD, OPTIONS";
	case ROUTE_SERVER:
		return "GET, HEAD, POST, OPTIONS";
	case ROUTE_NONE:
		break;
	}
	return "";
}

/* The answer to OPTIONS (RFC 9110 9.3.7): 200, no content, Allow. No
 * Access-Control-* header: a cross-site page's CORS preflight reads this
 * as a refusal, as before (csrf_refusal). */
static enum MHD_Result
respond_options(struct MHD_Connection *c, enum route route)
{
	struct MHD_Response *r;
	enum MHD_Result rc;

	r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (r == NULL)
		return MHD_NO;
	add_headers(r, NULL);
	MHD_add_response_header(r, "Allow", route_allow(route));
	rc = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return rc;
}

/* A document built in b: handed over to libmicrohttpd, which frees it. */
static enum MHD_Result
respond_buf(struct MHD_Connection *c, const char *type, struct buf *b)
{
	char *data = b->data;
	size_t len = b->len;

	if (data == NULL)
		return fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "empty");
	b->data = NULL; /* now the response's */
	b->len = b->cap = 0;
	return respond(c, MHD_HTTP_OK, type, data, len, MHD_RESPMEM_MUST_FREE);
}

/* "Authorization: Bearer TOKEN" with our token. The digests are compared
 * in constant time, so neither the token nor its length leaks through
 * timing. */
static int
token_ok(const struct admin *a, struct MHD_Connection *c)
{
	const char *v = NULL;
	size_t n = 0;
	struct hash_ctx h;
	char hex[HASH_HEX_MAX];

	/* Blanks around the token are not part of it (RFC 9110 5.5). */
	if (MHD_lookup_connection_value_n(c, MHD_HEADER_KIND, "Authorization",
	        strlen("Authorization"), &v, &n) != MHD_YES ||
	    v == NULL || n < 7 || strncasecmp(v, "Bearer ", 7) != 0)
		return 0;
	v += 7;
	n -= 7;
	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n == 0 || hash_init(&h, HASH_SHA256) < 0)
		return 0;
	hash_update(&h, v, n);
	if (hash_final(&h, hex) < 0)
		return 0;
	return CRYPTO_memcmp(hex, a->token_hex, HASH_HEX_MAX - 1) == 0;
}

/* A request that offered a token and not ours: one info line with the
 * client's address (fail2ban counts guesses by it; relayftpd(8), LOGS).
 * None without Authorization: the status page asks for the token after
 * its first 401, a guess is not that. */
static void
wrong_token(struct admin *a, struct MHD_Connection *c)
{
	char ip[64];

	if (header(c, "Authorization") == NULL || !log_budget(a))
		return;
	log_info("admin: wrong token from %s", conn_ip(c, ip, sizeof(ip)));
}

/* POST /api/retry from a browser page of another origin must fail: it
 * cannot send our custom header without a preflight, its Origin differs
 * from Host, and Sec-Fetch-Site says so. Returns why, or NULL. */
static const char *
csrf_refusal(const struct admin *a, struct MHD_Connection *c, const char *host)
{
	const char *custom = header(c, CSRF_HEADER);
	const char *origin = header(c, "Origin");
	const char *site = header(c, "Sec-Fetch-Site");

	if (custom == NULL || strcmp(custom, "1") != 0)
		return "missing header " CSRF_HEADER ": 1";
	if (site != NULL && strcasecmp(site, "same-origin") != 0 &&
	    strcasecmp(site, "none") != 0)
		return "cross-site request";
	if (origin != NULL) {
		const char *scheme = a->tls ? "https://" : "http://";
		size_t sl = strlen(scheme);

		if (host == NULL || strncasecmp(origin, scheme, sl) != 0 ||
		    strcasecmp(origin + sl, host) != 0)
			return "origin does not match host";
	}
	return NULL;
}

static enum route
find_route(const char *url)
{
	if (strcmp(url, "/metrics") == 0)
		return ROUTE_METRICS;
	if (strcmp(url, "/api/status") == 0)
		return ROUTE_STATUS;
	if (strcmp(url, "/api/retry") == 0)
		return ROUTE_RETRY;
	if (admin_asset_find(url) != NULL)
		return ROUTE_ASSET;
	return ROUTE_NONE;
}

struct arg_count {
	const char *name;
	unsigned n;
	unsigned bare; /* given without '=' (no value) */
};

static enum MHD_Result
count_arg(
    void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct arg_count *k = cls;

	(void)kind;
	if (key != NULL && strcmp(key, k->name) == 0) {
		k->n++;
		if (value == NULL)
			k->bare++;
	}
	return MHD_YES;
}

/*
 * Whether the query misuses one of names (NULL-ended): writes why (a
 * 400's error) into why and returns 1, else 0. Given more than once:
 * libmicrohttpd keeps every "limit=1&limit=2" and its lookup answers the
 * first: the other was dropped without a word, so a script that built its
 * query wrong read a page it did not ask for. Given without '=': its
 * lookup answers NULL, as for a name not given, so "?target" listed (and
 * POST /api/retry?target requeued) every target, where "target=" is
 * refused. Only our own names are said back (the client's bytes never
 * reach the JSON).
 */
static int
query_misused(struct MHD_Connection *c, const char *const *names, char *why,
    size_t whylen)
{
	for (; *names != NULL; names++) {
		struct arg_count k = { *names, 0, 0 };
		int rc;

		MHD_get_connection_values(
		    c, MHD_GET_ARGUMENT_KIND, count_arg, &k);
		if (k.n > 1)
			rc = fmt_fixed(
			    why, whylen, "%s given more than once", *names);
		else if (k.bare > 0)
			rc = fmt_fixed(
			    why, whylen, "%s given without a value", *names);
		else
			continue;
		if (rc < 0)
			(void)fmt_fixed(why, whylen, "%s", "a bad parameter");
		return 1;
	}
	return 0;
}

/* The query parameters each route reads. */
static const char *const status_params[] = { "target", "offset", "after",
	"limit", NULL };
static const char *const retry_params[] = { "target", NULL };
static const char *const metrics_params[] = { NULL };

/* The one parameter every API route takes and ignores: a cache buster
 * (jQuery's "cache: false" adds "_=TIME"), which changes no answer. */
#define CACHE_BUSTER "_"

struct arg_unknown {
	const char *const *names;
	const char *key; /* the first one not in names, or NULL */
};

static enum MHD_Result
find_unknown(
    void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct arg_unknown *u = cls;

	(void)kind;
	/* A stray '&' ("target=p&", "a=1&&b=2") names nothing. */
	if (strcmp(key, CACHE_BUSTER) == 0 || (key[0] == '\0' && value == NULL))
		return MHD_YES;
	for (const char *const *n = u->names; *n != NULL; n++)
		if (strcmp(key, *n) == 0)
			return MHD_YES;
	u->key = key;
	return MHD_NO; /* stops the walk */
}

/*
 * 400 for a query parameter the route does not read, named (JSON-escaped,
 * its first 48 bytes), with the ones it does: a typo ("targte=p") or an
 * escaped '=' ("target%3Dp", the one key "target=p") was ignored, so
 * GET /api/status answered every target's jobs and POST /api/retry
 * requeued every target's, where the admin asked for one. MHD_YES (no
 * such parameter: *answered 0) or the answer's result (*answered 1).
 */
static enum MHD_Result
refuse_unknown(struct MHD_Connection *c, const char *const *names,
    const char *takes, int *answered)
{
	struct arg_unknown u = { names, NULL };
	char msg[160], text[512];
	struct buf b;
	struct json j;
	int rc;

	*answered = 0;
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, find_unknown, &u);
	if (u.key == NULL)
		return MHD_YES;
	*answered = 1;
	if (fmt_fixed(msg, sizeof(msg), "unknown parameter \"%.48s\" (%s)",
	        u.key, takes) < 0)
		return fail(c, MHD_HTTP_BAD_REQUEST, "unknown parameter");
	buf_init(&b, sizeof(text) - 16);
	json_init(&j, &b);
	json_obj(&j);
	json_key(&j, "error");
	json_str(&j, msg);
	json_obj_end(&j);
	rc = json_failed(&j) ?
	    -1 :
	    fmt_fixed(text, sizeof(text), "%.*s\n", (int)b.len, b.data);
	buf_free(&b);
	if (rc < 0)
		return fail(c, MHD_HTTP_BAD_REQUEST, "unknown parameter");
	log_debug("admin: 400 unknown parameter");
	return respond(c, MHD_HTTP_BAD_REQUEST, "application/json", text,
	    strlen(text), MHD_RESPMEM_MUST_COPY);
}

/* An optional query number: absent = dflt; else digits only, in
 * [lo, hi]. 0, or -1 (400). */
static int
query_num(struct MHD_Connection *c, const char *name, uint64_t lo, uint64_t hi,
    uint64_t dflt, uint64_t *out)
{
	const char *v =
	    MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);

	*out = dflt;
	if (v == NULL)
		return 0;
	return parse_u64(v, hi, out) == 0 && *out >= lo ? 0 : -1;
}

static enum MHD_Result
serve_metrics(struct admin *a, struct MHD_Connection *c)
{
	struct snapshot *s = malloc(sizeof(*s));
	struct buf b;
	enum MHD_Result rc;
	int answered;

	rc = refuse_unknown(c, metrics_params, "takes none but _", &answered);
	if (answered) {
		free(s);
		return rc;
	}
	if (s == NULL)
		return fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
	buf_init(&b, RFTP_ADMIN_RESPONSE_MAX);
	if (snapshot_take(
	        s, a->st, a->have_mv ? &a->mv : NULL, clock_wall_ms()) < 0)
		log_warn("admin: /metrics without the queue's facts: the "
		         "mirror's queue could not be read");
	if (metrics_render(s, &b) < 0)
		rc = fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "too large");
	else
		rc = respond_buf(c, METRICS_CONTENT_TYPE, &b);
	buf_free(&b);
	free(s);
	return rc;
}

static enum MHD_Result
serve_status(struct admin *a, struct MHD_Connection *c)
{
	const char *target;
	uint64_t offset, after, limit;
	struct buf b;
	enum MHD_Result rc;
	int doc;
	char why[64];
	int by_after, answered;

	rc = refuse_unknown(c, status_params,
	    "takes target, offset, after, limit, _", &answered);
	if (answered)
		return rc;
	if (query_misused(c, status_params, why, sizeof(why)))
		return fail(c, MHD_HTTP_BAD_REQUEST, why);
	by_after = MHD_lookup_connection_value(
	               c, MHD_GET_ARGUMENT_KIND, "after") != NULL;
	buf_init(&b, RFTP_ADMIN_RESPONSE_MAX);
	target =
	    MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "target");
	/* after=ID (the next_after of the page before) is the cursor of
	 * a deep page; offset=N still works as documented, but both at once
	 * would say two different pages. */
	if (query_num(c, "offset", 0, INT64_MAX, 0, &offset) < 0 ||
	    query_num(c, "after", 0, INT64_MAX, 0, &after) < 0 ||
	    query_num(c, "limit", 1, STATUS_JOBS_MAX, STATUS_JOBS_DEFAULT,
	        &limit) < 0 ||
	    (target != NULL && target[0] == '\0') ||
	    (by_after &&
	        MHD_lookup_connection_value(
	            c, MHD_GET_ARGUMENT_KIND, "offset") != NULL)) {
		rc = fail(c, MHD_HTTP_BAD_REQUEST,
		    "expected target=NAME, offset=N or after=ID, limit=1..500");
		goto out;
	}
	if (target != NULL && stats_target_index(a->st, target) < 0) {
		rc = fail(c, MHD_HTTP_NOT_FOUND, "unknown target");
		goto out;
	}
	doc = status_document(a->st, a->have_mv ? &a->mv : NULL, a->max_pushes,
	    target, (int64_t)offset, by_after ? (int64_t)after : -1,
	    (size_t)limit, clock_wall_ms(), &b);
	if (doc == STATUS_DOC_NOMEM)
		rc = fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
	else if (doc == STATUS_DOC_TOO_LARGE)
		rc = fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "too large");
	else
		rc = respond_buf(c, "application/json", &b);
out:
	buf_free(&b);
	return rc;
}

static enum MHD_Result
serve_retry(struct admin *a, struct MHD_Connection *c, struct req *r)
{
	char name[RFTP_NAME_MAX + 1], text[RFTP_NAME_MAX * 6 + 64], why[64];
	const char *q =
	    MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "target");
	int64_t n = 0;
	int rc;
	struct buf b;
	struct json j;
	enum MHD_Result res;
	int answered;

	res = refuse_unknown(c, retry_params, "takes target, _", &answered);
	if (answered)
		return res;
	if (query_misused(c, retry_params, why, sizeof(why)))
		return fail(c, MHD_HTTP_BAD_REQUEST, why);
	if (request_retry_target(r->body, r->body_len, name, sizeof(name)) < 0)
		return fail(c, MHD_HTTP_BAD_REQUEST,
		    "expected target=NAME or {\\\"target\\\": \\\"NAME\\\"}");
	if (q != NULL) {
		if (q[0] == '\0' || (name[0] != '\0' && strcmp(q, name) != 0))
			return fail(c, MHD_HTTP_BAD_REQUEST, "bad target");
		if (fmt_fixed(name, sizeof(name), "%s", q) < 0)
			return fail(c, MHD_HTTP_NOT_FOUND, "unknown target");
	}
	if (!a->have_mv || a->mv.retry == NULL)
		rc = name[0] != '\0' ? -2 : 0;
	else
		rc = a->mv.retry(a->mv.ctx, name[0] != '\0' ? name : NULL, &n);
	if (rc == -2)
		return fail(c, MHD_HTTP_NOT_FOUND, "unknown target");
	if (rc < 0)
		return fail(c, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "the queue could not be read, or another program holds "
		    "its lock: try again");
	log_info("admin: retry %s: %lld parked jobs queued again",
	    name[0] != '\0' ? name : "(all targets)", (long long)n);
	buf_init(&b, sizeof(text));
	json_init(&j, &b);
	json_obj(&j);
	json_key(&j, "requeued");
	json_i64(&j, n);
	json_key(&j, "target");
	if (name[0] != '\0')
		json_str(&j, name);
	else
		json_null(&j);
	json_obj_end(&j);
	if (json_failed(&j)) {
		buf_free(&b);
		return fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "too large");
	}
	res = respond_buf(c, "application/json", &b);
	buf_free(&b);
	return res;
}

/*
 * Whether the request line's target held a NUL byte ("GET /app.js\0.txt
 * HTTP/1.1"): libmicrohttpd 0.9.75 takes it, and its C string then reads
 * "/app.js", which was served (found from outside). The target's bytes
 * run from url to the blank before version, in the line's own buffer
 * (parse_initial_message_line); on_uri saw its strlen before anything
 * was decoded in place. An untracked connection (no memory) goes
 * unchecked; %00 is on_unescape's.
 */
static int
nul_in_target(struct MHD_Connection *c, const char *url, const char *version)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	const struct conn *k = ci != NULL ? ci->socket_context : NULL;

	if (k == NULL || version == NULL || version[0] == '\0' ||
	    (uintptr_t)version <= (uintptr_t)url)
		return 0;
	return (size_t)((uintptr_t)version - (uintptr_t)url - 1) != k->uri_len;
}

/*
 * Whether the request line's path (before any '?') holds an escaped '/'
 * ("%2F", either case): RFC 3986 2.2 and 6.2.2.2, a reserved character
 * escaped is data and not the delimiter, so "/api%2Fstatus" is the one
 * segment "api/status". libmicrohttpd decodes it into the path, which read
 * as /api/status and was answered. Read from the raw line by on_uri; an
 * untracked connection (no memory) goes unchecked, as for
 * nul_in_target.
 */
static int
path_slash_escaped(const char *uri)
{
	for (const char *p = uri; *p != '\0' && *p != '?'; p++)
		if (p[0] == '%' && p[1] == '2' && (p[2] == 'f' || p[2] == 'F'))
			return 1;
	return 0;
}

static int
slash_escaped(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	const struct conn *k = ci != NULL ? ci->socket_context : NULL;

	return k != NULL && k->slash_escaped;
}

/* Whether the request line's absolute-form target had a '%' in its
 * authority (on_uri): no host needs one, and libmicrohttpd decodes the
 * whole target, so "http://x%2Fapi/status" would read as the path
 * "/api/status" of host "x". Untracked: unchecked, as for
 * nul_in_target. */
static int
authority_escaped(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	const struct conn *k = ci != NULL ? ci->socket_context : NULL;

	return k != NULL && k->auth_escaped;
}

/* Whether the request line's target was absolute-form as sent, not only
 * once decoded (on_uri). Untracked (no memory): no, so a decoded one is
 * refused rather than taken unchecked. */
static int
raw_absolute(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	const struct conn *k = ci != NULL ? ci->socket_context : NULL;

	return k != NULL && k->raw_absolute;
}

/* The checks of a request's first call (headers only): a refusal is
 * answered at once (libmicrohttpd then reads no body and closes), else
 * *refused is 0 and the request is answered once its body is in. */
static enum MHD_Result
first_call(struct admin *a, struct MHD_Connection *c, struct req *r,
    const char *url, const char *method, const char *version, int *refused)
{
	const char *host = header(c, "Host");
	const char *clen = header(c, "Content-Length");
	int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	int options = strcmp(method, "OPTIONS") == 0;
	const char *why, *path, *auth;
	size_t authlen;
	char auth_host[256];
	uint64_t len;

	*refused = 1;
	if (nul_in_target(c, url, version))
		return fail_close(
		    c, MHD_HTTP_BAD_REQUEST, "NUL byte in the request line");
	switch (request_target_path(url, &path, &auth, &authlen)) {
	case REQUEST_TARGET_BAD:
		return fail(c, MHD_HTTP_BAD_REQUEST,
		    "malformed absolute URI: only http:// or https:// with a "
		    "host");
	case REQUEST_TARGET_ABSOLUTE:
		if (!raw_absolute(c))
			return fail(c, MHD_HTTP_BAD_REQUEST,
			    "malformed absolute URI: an escaped byte in its "
			    "scheme or before its host");
		if (authority_escaped(c))
			return fail(c, MHD_HTTP_BAD_REQUEST,
			    "malformed absolute URI: an escaped byte in its "
			    "host");
		/* RFC 9112 3.2.2: the target's host replaces Host, for the
		 * rebinding check and the CSRF Origin check alike; one too
		 * long for auth_host is no loopback name ("" is refused). */
		if (authlen >= sizeof(auth_host))
			authlen = 0;
		memcpy(auth_host, auth, authlen);
		auth_host[authlen] = '\0';
		host = auth_host;
		break;
	case REQUEST_TARGET_ORIGIN:
		break;
	}
	if ((why = framing_refusal(c)) != NULL)
		return fail_close(c, MHD_HTTP_BAD_REQUEST, why);
	if (host_headers(c) > 1)
		return fail(c, MHD_HTTP_BAD_REQUEST, "more than one Host");
	/* Without a token a browser on this machine is the only client,
	 * and a page of another site that renamed itself 127.0.0.1 (DNS
	 * rebinding) still sends its own name as Host. */
	if (!a->have_token && host != NULL && !request_host_is_loopback(host))
		return fail(c, MHD_HTTP_FORBIDDEN, "host not allowed");
	/* RFC 9112 3.2.4: "*" is the asterisk-form, OPTIONS' alone. */
	if (options && strcmp(path, "*") == 0)
		r->route = ROUTE_SERVER;
	else
		r->route = slash_escaped(c) ? ROUTE_NONE : find_route(path);
	r->options = options;
	if (r->route == ROUTE_NONE)
		return fail(c, MHD_HTTP_NOT_FOUND, "not found");
	if (r->route == ROUTE_RETRY && strcmp(method, "POST") != 0 && !options)
		return fail_method(c, route_allow(r->route));
	if (r->route != ROUTE_RETRY && !get && !options)
		return fail_method(c, route_allow(r->route));
	/* "OPTIONS *" tells what the README does, as the page's files are
	 * public; OPTIONS on a route needs what its GET or POST needs. */
	if (a->have_token && r->route != ROUTE_ASSET &&
	    r->route != ROUTE_SERVER && !token_ok(a, c)) {
		wrong_token(a, c);
		return fail(c, MHD_HTTP_UNAUTHORIZED, "token required");
	}
	if (clen != NULL &&
	    (parse_u64(clen, UINT64_MAX, &len) < 0 ||
	        len > RFTP_ADMIN_BODY_MAX))
		return fail(c, MHD_HTTP_CONTENT_TOO_LARGE, "body too large");
	/* OPTIONS acts on nothing: no CSRF rule. */
	if (r->route == ROUTE_RETRY && !options &&
	    (why = csrf_refusal(a, c, host)) != NULL)
		return fail(c, MHD_HTTP_FORBIDDEN, why);
	*refused = 0;
	return MHD_YES;
}

/* The request is whole and allowed: answer it. */
static enum MHD_Result
dispatch(
    struct admin *a, struct MHD_Connection *c, struct req *r, const char *path)
{
	if (r->options)
		return respond_options(c, r->route);
	switch (r->route) {
	case ROUTE_SERVER:
		break; /* only OPTIONS, above */
	case ROUTE_RETRY:
		return serve_retry(a, c, r);
	case ROUTE_ASSET: {
		const struct admin_asset *as = admin_asset_find(path);

		if (as == NULL)
			break;
		return respond(c, MHD_HTTP_OK, as->content_type, as->data,
		    as->len, MHD_RESPMEM_PERSISTENT);
	}
	case ROUTE_METRICS:
		return serve_metrics(a, c);
	case ROUTE_STATUS:
		return serve_status(a, c);
	case ROUTE_NONE:
		break;
	}
	return fail(c, MHD_HTTP_NOT_FOUND, "not found");
}

/* The connection of c has sent a whole request (waiting 0), or finished
 * one and waits for the next (waiting 1, its deadline from now). */
static void
conn_mark(struct admin *a, struct MHD_Connection *c, int waiting)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct conn *k = ci != NULL ? ci->socket_context : NULL;

	if (k == NULL)
		return;
	pthread_mutex_lock(&a->conn_lock);
	k->waiting = waiting;
	k->since_ms = (int64_t)clock_mono_ms();
	pthread_mutex_unlock(&a->conn_lock);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct admin *a = cls;
	struct req *r;
	const char *path, *auth;
	size_t authlen;

	log_route_bind(a->route);
	thread_use_c_locale(); /* libmicrohttpd's thread: metrics' numbers */
	if (*con_cls == &uri_refused) {
		/* Answered (on_uri): a body is read and dropped until the
		 * sweeper ends the connection. */
		*upload_data_size = 0;
		return MHD_YES;
	}
	r = *con_cls;
	if (r == NULL) {
		enum MHD_Result rc;
		int refused;

		r = calloc(1, sizeof(*r));
		if (r == NULL)
			return MHD_NO;
		*con_cls = r;
		rc = first_call(a, c, r, url, method, version, &refused);
		if (refused) {
			r->too_big = -1; /* answered: its body is not read */
			conn_mark(a, c, 0);
		}
		/* Else the deadline runs on until the body is in too. */
		return rc;
	}
	if (*upload_data_size > 0) {
		/* A chunked body has no Content-Length to refuse up front:
		 * one over the bound is dropped and answered 413 at its end,
		 * but never read past RFTP_ADMIN_BODY_DROP (a GB was read
		 * before its 413): the connection is then closed unanswered
		 * (libmicrohttpd 0.9 cannot answer before a body's end). */
		if (r->too_big == 0 &&
		    *upload_data_size > RFTP_ADMIN_BODY_MAX - r->body_len)
			r->too_big = 1;
		if (r->too_big == 0) {
			memcpy(r->body + r->body_len, upload_data,
			    *upload_data_size);
			r->body_len += *upload_data_size;
		} else if (r->too_big > 0) {
			r->dropped += *upload_data_size;
			if (r->dropped > RFTP_ADMIN_BODY_DROP) {
				char ip[64];

				if (log_budget(a))
					log_info("admin: closed a connection "
					         "from %s whose body passed %d "
					         "bytes",
					    conn_ip(c, ip, sizeof(ip)),
					    RFTP_ADMIN_BODY_DROP);
				return MHD_NO;
			}
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->too_big < 0)
		return MHD_YES; /* answered already */
	conn_mark(a, c, 0);     /* whole: its answer is not bounded by it */
	if (r->too_big > 0)
		return fail(c, MHD_HTTP_CONTENT_TOO_LARGE, "body too large");
	/* first_call refused a target whose path this cannot find. */
	(void)request_target_path(url, &path, &auth, &authlen);
	return dispatch(a, c, r, path);
}

/*
 * Runs on each request line before libmicrohttpd parses its query
 * (RFTP_ADMIN_QUERY_PARAMS_MAX says why): a query it might not hold is
 * answered 414 here, through our duplicate of the socket (over TLS no
 * clear-text answer can be written: the connection only ends), and the
 * connection ends within a second or two: the library's timeout drops to
 * 1 s of silence, and the sweeper shuts it down a second later anyway.
 * What it returns becomes the request's context (NULL: on_request makes
 * one; &uri_refused: answered). Never a keep-alive connection's later
 * request: libmicrohttpd reads one only after the previous answer was
 * sent whole.
 */
static void *
on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct admin *a = cls;
	const char *q = strchr(uri, '?');
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct conn *k = ci != NULL ? ci->socket_context : NULL;
	size_t params = 1, len = strlen(uri);
	char body[128], text[512], ip[64];
	int ok;

	if (k != NULL) {
		const char *path, *auth;
		size_t authlen;

		k->uri_len = len; /* nul_in_target() */
		/* An absolute-form target's path starts after its authority
		 * (request_target_path), whose escapes are its own check. */
		k->raw_absolute = request_target_path(uri, &path, &auth,
		                      &authlen) == REQUEST_TARGET_ABSOLUTE;
		k->auth_escaped =
		    k->raw_absolute && memchr(auth, '%', authlen) != NULL;
		k->slash_escaped = path_slash_escaped(path);
		k->had_line = 1;
	}
	if (q == NULL)
		return NULL;
	for (const char *p = q + 1; (p = strchr(p, '&')) != NULL; p++)
		params++;
	if (params <= RFTP_ADMIN_QUERY_PARAMS_MAX &&
	    len <= RFTP_ADMIN_QUERY_URI_MAX)
		return NULL;
	log_route_bind(a->route);
	if (k == NULL)
		return NULL; /* untracked: libmicrohttpd's own way */
	ok = fmt_fixed(body, sizeof(body),
	    "{\"error\":\"query too long: at most %d parameters, %d "
	    "bytes\"}\n",
	    RFTP_ADMIN_QUERY_PARAMS_MAX, RFTP_ADMIN_QUERY_URI_MAX);
	if (ok == 0)
		ok = fmt_fixed(text, sizeof(text),
		    "HTTP/1.1 414 URI Too Long\r\n"
		    "Content-Type: application/json\r\n"
		    "Content-Length: %zu\r\n"
		    "Connection: close\r\n"
		    "Cache-Control: no-store\r\n"
		    "X-Content-Type-Options: nosniff\r\n"
		    "\r\n%s",
		    strlen(body), body);
	/* An empty socket takes these few hundred bytes whole; a client
	 * that filled it by not reading gets no answer. */
	if (!a->tls && ok == 0)
		(void)send(
		    k->fd, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)shutdown(k->fd, SHUT_WR);
	/* The sweeper ends it a second from now whatever the client still
	 * sends (a body trickled a byte at a time, which the library's
	 * silence timeout never ends); the client has that second to read
	 * the answer. */
	pthread_mutex_lock(&a->conn_lock);
	k->refused = 1;
	k->since_ms = (int64_t)clock_mono_ms();
	pthread_mutex_unlock(&a->conn_lock);
	MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, 1u);
	if (log_budget(a))
		log_info("admin: refused a request from %s whose query has "
		         "%zu parameter(s) in %zu bytes (414: at most %d, %d "
		         "bytes)",
		    conn_ip(c, ip, sizeof(ip)), params, len,
		    RFTP_ADMIN_QUERY_PARAMS_MAX, RFTP_ADMIN_QUERY_URI_MAX);
	return &uri_refused;
}

/*
 * libmicrohttpd's unescape of the path and of each query key and value,
 * except that one whose %XX would decode to a NUL is left as sent. The
 * library hands the decoded text on as a C string, so "/app.js%00.txt"
 * read as "/app.js" and was served, and "target=p%00x" as target p
 * (found from outside); left escaped, such a path names no route (404)
 * and such a value no target or number (404, 400). Returns the length.
 */
static size_t
on_unescape(void *cls, struct MHD_Connection *c, char *val)
{
	(void)cls;
	(void)c;
	for (const char *p = strchr(val, '%'); p != NULL;
	     p = strchr(p + 1, '%'))
		if (p[1] == '0' && p[2] == '0')
			return strlen(val);
	return MHD_http_unescape(val);
}

static uint64_t fin_in(uint8_t state);

/* The kernel's counts of bytes received (less a FIN's) and of bytes
 * written (sent or queued) on fd, and whether the client's FIN came: 0,
 * or -1 where it has none. */
static int
conn_bytes(int fd, uint64_t *in, uint64_t *out, int *fin)
{
	struct tcp_info ti;

	/* tcpi_bytes_sent lies past the other three fields read. */
	if (tcpinfo_read(fd, &ti, TCPINFO_THROUGH(tcpi_bytes_sent)) < 0)
		return -1;
	*fin = fin_in(ti.tcpi_state) != 0;
	*in = ti.tcpi_bytes_received - fin_in(ti.tcpi_state);
	*out = ti.tcpi_bytes_sent + ti.tcpi_notsent_bytes;
	return 0;
}

/*
 * The bytes the request just ended on c took on the wire, in *len: its
 * line and header (libmicrohttpd's count, the blank line included) and a
 * Content-Length body. -1 where that is not known (a chunked body, no
 * count): its end is then where the socket's unread bytes begin.
 */
static int
request_length(struct MHD_Connection *c, uint64_t *len)
{
	const union MHD_ConnectionInfo *hi =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	const char *cl = MHD_lookup_connection_value(
	    c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	uint64_t body = 0;

	if (hi == NULL || hi->header_size == 0 ||
	    MHD_lookup_connection_value(
	        c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL)
		return -1;
	if (cl != NULL && parse_u64(cl, UINT32_MAX, &body) < 0)
		return -1;
	*len = (uint64_t)hi->header_size + body;
	return 0;
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode why)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct conn *k = ci != NULL ? ci->socket_context : NULL;

	uint64_t in, out;
	int fin;

	if (k != NULL && conn_bytes(k->fd, &in, &out, &fin) == 0) {
		/* A kept-alive connection's next request is judged alone
		 * (conn_unread): a cut one after a whole one is said too. */
		if (why == MHD_REQUEST_TERMINATED_COMPLETED_OK) {
			int unread = 0;
			uint64_t whole;

			/* Bytes still unread in the socket came after this
			 * request: the next one's. A client quick to send it
			 * (this runs after the answer went out, late on a
			 * loaded host) had them counted as this one's, and
			 * its cut next request was never said. */
			if (ioctl(k->fd, SIOCINQ, &unread) < 0 || unread < 0 ||
			    (uint64_t)unread > in)
				unread = 0;
			k->had_line = 0;
			/* Pipelined requests (two whole ones and a cut third
			 * in one write) are all read by the library at once,
			 * none left in the socket: the request's own length
			 * bounds its end, else the cut third seemed the first
			 * one's bytes and was said by no one. The library
			 * skips (and does not count) a blank line before a
			 * request line, as an old client sends after a POST
			 * body: 2 bytes more are taken as this request's, so
			 * such a client is not said to have cut one. */
			whole = in - (uint64_t)unread;
			if (request_length(c, &whole) == 0 &&
			    k->done_in + whole + 2 < in - (uint64_t)unread)
				k->done_in += whole;
			else
				k->done_in = in - (uint64_t)unread;
			k->done_out = out;
		} else if (fin && out == k->done_out) {
			/* Ended by the client's FIN, unanswered: what the
			 * library says without the address (mhd_log). */
			k->cut_open = 1;
		}
	}
	/* A kept-alive connection's next request has its own deadline. */
	conn_mark(cls, c, 1);
	if (*con_cls != &uri_refused)
		free(*con_cls);
	*con_cls = NULL;
}

/* The TCP states (the kernel's include/net/tcp_states.h, which no header
 * beside linux/tcp.h's tcp_info exports) past the peer's FIN, which
 * tcpi_bytes_received counts as one byte: 1 in those, else 0. CLOSE is
 * also where a reset ends, undercounting such a connection by one. */
static uint64_t
fin_in(uint8_t state)
{
	enum {
		TIME_WAIT = 6,
		CLOSE = 7,
		CLOSE_WAIT = 8,
		LAST_ACK = 9,
		CLOSING = 11
	};

	return state == TIME_WAIT || state == CLOSE || state == CLOSE_WAIT ||
	    state == LAST_ACK || state == CLOSING;
}

/*
 * A connection that ends having sent bytes of which libmicrohttpd read no
 * request line: 0.9.75 closes one whose line it cannot parse ("GET
 * /metrics x HTTP/1.1": a blank in the target, refused under
 * MHD_OPTION_STRICT_FOR_CLIENT before on_uri, or "GARBAGE") with no
 * answer and nothing to its logger, so the admin saw clients fail and no
 * line said why. The kernel's count of bytes received tells it from a
 * connection that sent nothing (a browser's preconnect). Said once, rate
 * limited, with the address and the count, never the bytes. Not under
 * TLS (the handshake's bytes count), nor once a request was read (a
 * refused body's rest would count), nor for one the sweeper cut or on_uri
 * refused (said already), nor for one the library answered: what it sends
 * before a request line is an error answer (414 for a line past its
 * memory), and each is said by its logger ("Error processing request"),
 * which made two lines of one connection. The library's own line for a
 * client that closes in the middle of a request ("closed by remote side
 * with incomplete request", with no address) is left out (mhd_log) and
 * said here instead, once: this line for a cut request line, and "closed
 * by the client with its request incomplete" after a request line (a
 * header or a body cut). A kept-alive connection's bytes count from its last whole
 * request's end.
 */
static void
conn_unread(struct admin *a, struct MHD_Connection *c, const struct conn *k)
{
	uint64_t in, out;
	char ip[64];
	int cut, fin;

	pthread_mutex_lock(&a->conn_lock);
	cut = k->cut || k->refused;
	pthread_mutex_unlock(&a->conn_lock);
	if (a->tls || cut || conn_bytes(k->fd, &in, &out, &fin) < 0)
		return;
	if (k->cut_open) {
		/* The library's "closed by remote side with incomplete
		 * request" (mhd_log leaves it out): said here, with the
		 * address. */
		if (log_budget(a))
			log_info("admin: a connection from %s was closed by "
			         "the client with its request incomplete",
			    conn_ip(c, ip, sizeof(ip)));
		return;
	}
	if (k->had_line || in <= k->done_in || out > k->done_out)
		return;
	if (!log_budget(a))
		return;
	log_info("admin: a connection from %s ended after %llu bytes with no "
	         "request line libmicrohttpd could read (malformed, such as "
	         "a blank in the target, or cut off)",
	    conn_ip(c, ip, sizeof(ip)), (unsigned long long)(in - k->done_in));
}

/* Tracks each connection from its start to its close (the library's
 * thread): a duplicate of its socket for the sweeper. */
static void
on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	struct admin *a = cls;
	struct conn *k = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
		    c, MHD_CONNECTION_INFO_CONNECTION_FD);

		/* Untracked (no memory, no descriptor) it is only bounded
		 * by the library's silence timeout, as before. */
		k = ci != NULL ? calloc(1, sizeof(*k)) : NULL;
		if (k == NULL)
			return;
		k->fd = fcntl(ci->connect_fd, F_DUPFD_CLOEXEC, 0);
		if (k->fd < 0) {
			free(k);
			return;
		}
		k->since_ms = (int64_t)clock_mono_ms();
		k->waiting = 1;
		pthread_mutex_lock(&a->conn_lock);
		k->next = a->conns;
		if (a->conns != NULL)
			a->conns->prev = k;
		a->conns = k;
		pthread_mutex_unlock(&a->conn_lock);
		*socket_context = k;
		return;
	}
	if (toe != MHD_CONNECTION_NOTIFY_CLOSED || k == NULL)
		return;
	log_route_bind(a->route);
	conn_unread(a, c, k);
	pthread_mutex_lock(&a->conn_lock);
	if (k->prev != NULL)
		k->prev->next = k->next;
	else
		a->conns = k->next;
	if (k->next != NULL)
		k->next->prev = k->prev;
	pthread_mutex_unlock(&a->conn_lock);
	close(k->fd);
	free(k);
	*socket_context = NULL;
}

/* The sweeper (thread.h: signals blocked, the log route of admin_start's
 * thread): once a second, shuts down the connections that have not sent
 * a whole request within head_ms. */
static void *
sweep_main(void *p)
{
	struct admin *a = p;

	pthread_mutex_lock(&a->conn_lock);
	while (!a->stopping) {
		struct timespec until = clock_mono_after(1000);
		int64_t now = (int64_t)clock_mono_ms();
		unsigned cut = 0;

		for (struct conn *k = a->conns; k != NULL; k = k->next) {
			if (k->cut)
				continue;
			if (k->refused) {
				/* Logged by on_uri already. */
				if (now - k->since_ms >=
				    RFTP_ADMIN_REFUSED_MS) {
					k->cut = 1;
					(void)shutdown(k->fd, SHUT_RDWR);
				}
				continue;
			}
			if (!k->waiting || now - k->since_ms < a->head_ms)
				continue;
			k->cut = 1;
			(void)shutdown(k->fd, SHUT_RDWR);
			cut++;
		}
		if (cut > 0)
			log_info("admin: closed %u connection(s) that sent no "
			         "whole request within %lld s",
			    cut, (long long)(a->head_ms / 1000));
		(void)pthread_cond_timedwait(
		    &a->conn_wake, &a->conn_lock, &until);
	}
	pthread_mutex_unlock(&a->conn_lock);
	return NULL;
}

/* A whole PEM file (bounded) into a NUL-terminated buffer. */
static char *
read_pem(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char *data = NULL;
	size_t n;

	if (f == NULL) {
		fmt_fixed(err, errlen, "cannot read %s", path);
		return NULL;
	}
	data = malloc(RFTP_ADMIN_PEM_MAX + 1);
	if (data != NULL) {
		n = fread(data, 1, RFTP_ADMIN_PEM_MAX + 1, f);
		if (ferror(f) || n == 0 || n > RFTP_ADMIN_PEM_MAX) {
			fmt_fixed(err, errlen,
			    "cannot read %s (empty, or over %d bytes)", path,
			    RFTP_ADMIN_PEM_MAX);
			OPENSSL_cleanse(data, RFTP_ADMIN_PEM_MAX + 1);
			free(data);
			data = NULL;
		} else {
			data[n] = '\0';
		}
	} else {
		fmt_fixed(err, errlen, "out of memory");
	}
	fclose(f);
	return data;
}

/* A PEM key that asks for a pass phrase is refused, never prompted for
 * on the terminal (libmicrohttpd is given none). */
static int
no_pass_phrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/*
 * Whether cert_pem holds a certificate and key_pem a private key that
 * belongs to it. libmicrohttpd's start says no more than that it could
 * not start, for this as for a port in use, so the admin would not know
 * which file to fix. 0, or -1 with the reason in err.
 */
static int
check_pem_pair(const struct admin_config *ac, const char *cert_pem,
    const char *key_pem, const char **key, char *err, size_t errlen)
{
	BIO *cb = BIO_new_mem_buf(cert_pem, -1);
	BIO *kb = BIO_new_mem_buf(key_pem, -1);
	X509 *x = cb != NULL ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
	EVP_PKEY *k = kb != NULL ?
	    PEM_read_bio_PrivateKey(kb, NULL, no_pass_phrase, NULL) :
	    NULL;
	int rc = -1;

	*key = "cert";
	if (cb == NULL || kb == NULL) {
		fmt_fixed(err, errlen, "out of memory");
	} else if (x == NULL) {
		fmt_fixed(err, errlen,
		    "%s holds no PEM certificate "
		    "(-----BEGIN CERTIFICATE-----)",
		    ac->cert);
	} else if (k == NULL) {
		*key = "key";
		fmt_fixed(err, errlen,
		    "%s holds no PEM private key, or one that needs a pass "
		    "phrase",
		    ac->key);
	} else if (X509_check_private_key(x, k) != 1) {
		*key = "key";
		fmt_fixed(err, errlen,
		    "%s is not the key of the certificate in key 'cert'",
		    ac->key);
	} else {
		rc = 0;
	}
	ERR_clear_error();
	X509_free(x);
	EVP_PKEY_free(k);
	BIO_free(cb);
	BIO_free(kb);
	return rc;
}

int
admin_check_tls(
    const struct admin_config *ac, const char **key, char *err, size_t errlen)
{
	char *cert_pem, *key_pem;
	int rc;

	*key = "cert";
	if (ac->cert[0] == '\0')
		return 0;
	cert_pem = read_pem(ac->cert, err, errlen);
	if (cert_pem == NULL)
		return -1;
	*key = "key";
	key_pem = read_pem(ac->key, err, errlen);
	if (key_pem == NULL) {
		free(cert_pem);
		return -1;
	}
	rc = check_pem_pair(ac, cert_pem, key_pem, key, err, errlen);
	OPENSSL_cleanse(key_pem, strlen(key_pem));
	free(key_pem);
	free(cert_pem);
	return rc;
}

static void
free_admin(struct admin *a)
{
	if (a->key_pem != NULL) {
		OPENSSL_cleanse(a->key_pem, strlen(a->key_pem));
		free(a->key_pem);
	}
	free(a->cert_pem);
	OPENSSL_cleanse(a->token_hex, sizeof(a->token_hex));
	pthread_cond_destroy(&a->conn_wake);
	pthread_mutex_destroy(&a->conn_lock);
	free(a);
}

static int
set_token(struct admin *a, const char *token)
{
	struct hash_ctx h;

	if (hash_init(&h, HASH_SHA256) < 0)
		return -1;
	hash_update(&h, token, strlen(token));
	if (hash_final(&h, a->token_hex) < 0)
		return -1;
	a->have_token = 1;
	return 0;
}

/* Where it listens: the configured host with the bound port. */
static int
note_listening(struct admin *a, const struct admin_config *ac)
{
	const union MHD_DaemonInfo *info =
	    MHD_get_daemon_info(a->d, MHD_DAEMON_INFO_BIND_PORT);
	const char *colon = strrchr(ac->listen.text, ':');

	if (info == NULL || colon == NULL)
		return -1;
	a->port = info->port;
	return fmt_fixed(a->url, sizeof(a->url), "%s://%.*s:%u/",
	    a->tls ? "https" : "http", (int)(colon - ac->listen.text),
	    ac->listen.text, a->port);
}

unsigned
admin_port(const struct admin *a)
{
	return a == NULL ? 0 : a->port;
}

const char *
admin_url(const struct admin *a)
{
	return a == NULL ? "" : a->url;
}

struct admin *
admin_start(const struct config *cfg, struct stats *st,
    const struct mirror_view *mv, char *err, size_t errlen)
{
	const struct admin_config *ac = &cfg->admin;
	struct admin *a = calloc(1, sizeof(*a));
	/* poll(2), not epoll (MHD_USE_AUTO's pick on Linux): in epoll mode
	 * libmicrohttpd 0.9.75, once at max_connections, took connections
	 * waiting in the listen backlog only at its timeout ticks, so after
	 * a flood of 300 connections had gone the admin stayed unanswered
	 * for 20 s and more while the dead ones were worn down 32 every
	 * `timeout` (found from outside). poll is level-triggered: a freed
	 * slot takes the next waiting connection at once. The daemon has at
	 * most 1,024 connections, for which poll costs nothing.
	 * MHD_USE_ITC: without it the library's stop wakes its thread by
	 * shutting the listen socket down, which it does not poll while at
	 * max_connections; SIGTERM then waited for the next connection's
	 * timeout (29.6 s with timeout 30, 100 half-requests open; found
	 * from outside). A pipe of its own wakes it at once. */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
	    MHD_USE_ITC | MHD_USE_ERROR_LOG;
	unsigned per_ip;
	const char *which;
	char why[PATH_MAX + 128];

	if (a == NULL || st == NULL) {
		fmt_fixed(
		    err, errlen, a == NULL ? "out of memory" : "no stats");
		free(a);
		return NULL;
	}
	pthread_mutex_init(&a->conn_lock, NULL);
	clock_cond_init(&a->conn_wake);
	a->head_ms = (int64_t)ac->timeout * 1000;
	a->st = st;
	a->route = log_route_current();
	if (mv != NULL) {
		a->mv = *mv;
		a->have_mv = 1;
	}
	a->max_pushes = config_push_slots(cfg);
	if (a->max_pushes == 0)
		a->max_pushes = 1;
	if (ac->token[0] != '\0' && set_token(a, ac->token) < 0) {
		fmt_fixed(err, errlen, "cannot digest the token");
		goto fail;
	}
	if (ac->cert[0] != '\0') {
		a->cert_pem = read_pem(ac->cert, err, errlen);
		if (a->cert_pem == NULL)
			goto fail;
		a->key_pem = read_pem(ac->key, err, errlen);
		if (a->key_pem == NULL)
			goto fail;
		if (check_pem_pair(ac, a->cert_pem, a->key_pem, &which, why,
		        sizeof(why)) < 0) {
			fmt_fixed(err, errlen, "key '%s': %s", which, why);
			goto fail;
		}
		a->tls = 1;
		flags |= MHD_USE_TLS;
	}
	if (ac->listen.ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	per_ip = (unsigned)(ac->max_connections / RFTP_ADMIN_PER_IP_SHARE);
	if (per_ip == 0)
		per_ip = 1;
	{
		/* libmicrohttpd refuses HTTPS options without MHD_USE_TLS:
		 * they go last and only with a cert. */
		struct MHD_OptionItem opts[] = {
			{ MHD_OPTION_CONNECTION_LIMIT,
			    (intptr_t)ac->max_connections, NULL },
			{ MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)per_ip,
			    NULL },
			{ MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)ac->timeout,
			    NULL },
			{ MHD_OPTION_CONNECTION_MEMORY_LIMIT,
			    RFTP_ADMIN_CONN_MEMORY, NULL },
			{ MHD_OPTION_STRICT_FOR_CLIENT, 1, NULL },
			{ MHD_OPTION_HTTPS_MEM_CERT, 0, a->cert_pem },
			{ MHD_OPTION_HTTPS_MEM_KEY, 0, a->key_pem },
			{ MHD_OPTION_END, 0, NULL },
		};

		if (!a->tls)
			opts[5].option = MHD_OPTION_END;
		/* The port comes from the address (MHD_OPTION_SOCK_ADDR);
		 * the port argument is then ignored. */
		a->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, a,
		    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, a,
		    MHD_OPTION_SOCK_ADDR,
		    (const struct sockaddr *)&ac->listen.ss,
		    MHD_OPTION_NOTIFY_COMPLETED, on_completed, a,
		    MHD_OPTION_NOTIFY_CONNECTION, on_connection, a,
		    MHD_OPTION_URI_LOG_CALLBACK, on_uri, a,
		    MHD_OPTION_UNESCAPE_CALLBACK, on_unescape, a,
		    MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	}
	if (a->d == NULL) {
		/* libmicrohttpd says no more than that it failed: a bind of
		 * our own tells why, if the address is the cause. */
		int e = config_bind_error(&ac->listen, 0);

		if (e == EADDRNOTAVAIL)
			fmt_fixed(err, errlen,
			    "cannot listen on %s: not an address of this host",
			    ac->listen.text);
		else if (e != 0)
			fmt_fixed(err, errlen, "cannot listen on %s: %s",
			    ac->listen.text, strerror(e));
		else
			fmt_fixed(err, errlen,
			    "cannot listen on %s%s: libmicrohttpd could not "
			    "start%s (its log line above says more)",
			    ac->listen.text, a->tls ? " with HTTPS" : "",
			    a->tls ? ", or its TLS library refused the "
			             "certificate or key" :
			             "");
		goto fail;
	}
	if (note_listening(a, ac) < 0) {
		fmt_fixed(err, errlen, "cannot read the bound port");
		MHD_stop_daemon(a->d);
		goto fail;
	}
	if (thread_start(&a->sweeper, 0, sweep_main, a) == 0)
		a->sweeping = 1;
	else
		log_warn("admin: cannot start the thread that closes "
		         "connections sending no whole request: only silence "
		         "(timeout) closes them");
	if (!a->have_token)
		log_warn("admin: no [admin] token_file: the admin API at %s "
		         "is unauthenticated (loopback only)",
		    a->url);
	if (a->have_token && strlen(ac->token) < RFTP_ADMIN_TOKEN_SHORT)
		log_warn(
		    "admin: the [admin] token is shorter than %d "
		    "characters: this listener answers thousands of guesses "
		    "a second, so it can be guessed (openssl rand -hex 16 "
		    "makes a good one)",
		    RFTP_ADMIN_TOKEN_SHORT);
	if (a->have_token && !a->tls && !config_is_loopback(&ac->listen))
		log_warn("admin: %s is plain HTTP on an address others reach: "
		         "the bearer token crosses the network in clear (set "
		         "[admin] cert and key)",
		    a->url);
	return a;
fail:
	free_admin(a);
	return NULL;
}

void
admin_stop(struct admin *a)
{
	if (a == NULL)
		return;
	/* The sweeper first: the library's stop closes (and frees) every
	 * tracked connection. */
	if (a->sweeping) {
		pthread_mutex_lock(&a->conn_lock);
		a->stopping = 1;
		pthread_cond_signal(&a->conn_wake);
		pthread_mutex_unlock(&a->conn_lock);
		pthread_join(a->sweeper, NULL);
	}
	MHD_stop_daemon(a->d);
	free_admin(a);
}
