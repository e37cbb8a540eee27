/*
 * transport_s3.c - the S3-compatible object storage transport (s3://BUCKET
 * [/PREFIX]): the table transport_s3_ops of transport_ops.h, over libcurl's
 * AWS Signature Version 4 signing (CURLOPT_AWS_SIGV4).
 *
 * Owns: object keys (PREFIX + the mirror's path), the S3 requests of a
 * push (PUT, or multipart above multipart_threshold), verify (HEAD: size,
 * or the SHA-256 checksum the service kept, or the single-part ETag's
 * MD5, or each part's ETag and the whole's against the bytes sent), delete
 * (DELETE), rename (copy then delete: a crash in between
 * leaves both, never neither) and list (ListObjectsV2, paginated). It must
 * not know the queue or the FTP side.
 *
 * What Debian's libcurl 7.88 leaves to us (lib/http_aws_sigv4.c there):
 * it hashes CURLOPT_POSTFIELDS only, so an upload read through a callback
 * is signed as an empty body unless x-amz-content-sha256 is set: every
 * request here sets it to the real SHA-256 of its body (the file is local
 * and complete). And it signs the query string exactly as written, so
 * every query here is written in canonical order (names sorted, each
 * "name=value", values URI-encoded): s3_canon_query() of s3sign.h.
 *
 * Objects appear whole by nature, so put writes the final key and publish
 * has nothing to do. A part PUT that fails for a moment (5xx, a cut, a
 * body the service read damaged) is asked again alone (ask_again), and so are a multipart upload's start
 * and completion, and a single PUT (a 404 NoSuchUpload to a completion
 * asked again is taken for a first ask that worked, its answer lost:
 * verify judges the object). A multipart upload that fails is aborted; its id is recorded
 * in the queue file (transport_memo) before any part is sent, so one
 * that a crash interrupted is aborted before the next multipart upload
 * of the key; the key's unfinished uploads the
 * service lists (ones a lost record or another client left) are aborted
 * then too if older than S3_STALE_UPLOAD_AGE_S (a younger one may be
 * another writer's in progress), and after a start asked again those
 * made while it was asked (abort_lost_starts).
 *
 * The replies' XML is read by s3xml.h (pure, unit-tested and fuzzed): this
 * file asks it and acts on what it reads.
 */
#include "mirror/transport_ops.h"
#include "mirror/curlbase.h"

#include "common/clock.h"
#include "common/fnv.h"
#include "common/buf.h"
#include "common/hash.h"
#include "common/json.h" /* utf8_seq */
#include "common/log.h"
#include "common/numparse.h"
#include "mirror/filerange.h"
#include "mirror/logpath.h"
#include "mirror/s3sign.h"
#include "mirror/s3xml.h"

#include <curl/curl.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The SHA-256 of no bytes: the payload hash of a request without body. */
static const char empty_sha256[] =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/* Bounds of what a reply may hold (headers, an XML answer or listing). */
#define S3_BODY_MAX (4u * 1024 * 1024)
#define S3_HDRS_MAX (64u * 1024)
/* Seconds a copy's answer (a rename) may take at least after the
 * request: the service copies meanwhile. */
#define S3_COPY_ANSWER_S 3600
/* Bytes/s a read back (verify = hash, s3_readback) may average at the
 * least: its answer may take timeout seconds plus its size at this rate
 * (1 GiB: 4.6 hours), then the attempt fails. */
#define S3_READBACK_MIN_RATE (64u * 1024)
/* Times a part is sent at most when its ETag is not the MD5 of the bytes
 * sent (a part damaged on the way, or ETags that are not MD5s). */
#define S3_PART_SENDS 2
/* Times a part PUT, or a multipart upload's completion, is asked at most
 * when it failed for a moment (5xx, 408, 429, a connection cut). */
#define S3_PART_TRIES 3u
/* The longest Retry-After waited inside a push, between two tries of a
 * part PUT or of a read back's Range GET: a longer one fails the push,
 * and the worker rests the target what was asked, held to retry_max
 * (which the transport does not know: up to this much may be waited
 * in a push with a smaller retry_max). */
#define S3_WAIT_IN_PUSH_MAX_S 5
/* Bytes of an ETag kept at most, its NUL included (a longer one is taken
 * for none). */
#define S3_ETAG_MAX 256
/* S3 allows at most 10000 parts to an upload. */
#define S3_PARTS_MAX 10000
/* Pages of a listing at most (1000 keys each). */
#define S3_LIST_PAGES_MAX 100000
/* Bytes of a ListObjectsV2 continuation token at most (as decoded from
 * the XML). Services that keep a listing's state in its token (Ceph,
 * MinIO with many prefixes) make them kilobytes long: 2,047 failed such
 * a listing at its second page, so resync and a folder's rename could
 * not list a big bucket at all (found from outside). The token goes back
 * in every page's query, percent-encoded (3 bytes a byte at most), and
 * the query is sized by it: 16 KiB, the size URLs here start from, keeps
 * a request line within 48 KiB whatever a service sends. */
#define S3_LIST_TOKEN_MAX 16384
/* Bytes of a multipart upload's id kept at most, its NUL included. AWS
 * documents no bound; its ids, MinIO's and Ceph RGW's are 40 to 200
 * bytes. A start answered a longer one (a service broken or hostile) is
 * refused and that upload aborted at once, its id read whole (the DELETE
 * needs it); one a list of uploads names is aborted whole too, and a
 * page of the list that ends on one goes on from it. Before,
 * both were read into 1,024 bytes: the push failed on "no UploadId in the
 * reply" and the upload, never seen again, stayed open (found by h53).
 * The queue records ids up to this size (it reads a key's into 64 KiB). */
#define S3_UPLOAD_ID_MAX 1024
/* A longer UploadId whose upload could not be aborted is quoted in the
 * log in pieces of this many bytes (a log line holds 2,048), up to this
 * many pieces (long_upload_id). */
#define S3_ID_PIECE  1000u
#define S3_ID_PIECES 8u
/* Pages of a key's list of multipart uploads (ListMultipartUploads, up to
 * 1,000 each) read at most before a multipart push: 100,000 unfinished
 * uploads under the key's name, more than any bucket in use holds (each
 * one's parts are paid for). The list is read before every multipart
 * push of the key, one request a page: a service that says "more" for
 * ever, with a new marker each time (broken or hostile), must not keep
 * the push listing; 100 pages is 100 small requests, seconds. Past
 * them, the key's uploads still open wait for its next push (or the
 * bucket's lifecycle rule), said in the log. */
#define S3_UPLOAD_PAGES_MAX 100u
/* Seconds a multipart upload the service lists, and the queue did not
 * record, must have been open before a push of its key aborts it: a
 * younger one may be another writer's in progress (a second relayftpd
 * mirroring to the bucket, another queue's worker), and aborting every
 * listed one made two writers of one key abort each other's uploads,
 * each push failing on NoSuchUpload (found by a review). A day, as the
 * usual lifecycle rule (AbortIncompleteMultipartUpload); the uploads this
 * queue recorded (a crash's) are aborted whatever their age. */
#define S3_STALE_UPLOAD_AGE_S (24 * 3600)

struct s3_tp {
	const struct target_config *t;
	const atomic_int *stop;
	CURL *curl;
	char base[1200];   /* scheme://host[:port][/bucket], no trailing '/' */
	char prefix[1024]; /* key prefix, no leading or trailing '/' */
	char sigv4[128];   /* "aws:amz:REGION:s3" */
	char errbuf[CURL_ERROR_SIZE];
	struct buf hdrs, body; /* of the last reply */
	long status;           /* its HTTP status */
	CURLcode curl_rc;      /* libcurl's result for it */
	int timed_out;         /* it was 400 RequestTimeout (AWS's 408) */
	/* A 2xx whose body is an <Error> of a service in trouble for a
	 * moment (completion_error): its Code, else "". */
	char passing_code[32];
	/* It was a PUT of the file's bytes answered 400
	 * XAmzContentSHA256Mismatch or BadDigest while the file still holds
	 * the bytes hashed: the body was damaged on the way (payload_changed),
	 * asked again as a cut is (ask_again). Its Code, else "". */
	char damaged[32];
	transport_progress_fn progress;
	void *progress_ctx;
	const struct transport_memo *memo; /* NULL: none (mirror resync) */
	unsigned said;                     /* verify methods logged (1 << m) */
	/* The request in flight: its answer must be whole within
	 * answer_ms of its body's last byte (answer_from, monotonic ms; 0
	 * until then), and no longer than the buffers. */
	int64_t answer_ms, answer_from;
	int overdue, too_long; /* why the transfer was cut */
	int copying; /* a copy or a multipart's completion: answered once
	              * it is made, blanks sent meanwhile */
	/* The ETag the service answered the last PUT (or multipart
	 * completion) with, and its key ("" none): verify tells an ETag
	 * that is not an MD5 on this service from one that changed since. */
	char put_etag[256];
	char put_key[RFTP_PATH_MAX + 64];
	/* What a multipart put of put_key learned for verify = hash
	 * (put_etag: the completion's ETag, "" none): see put_multipart. */
	enum mp_check {
		MP_NONE,      /* single part, or verify is not hash */
		MP_CHECKED,   /* each part's ETag its MD5, and the whole's */
		MP_NOT_MD5,   /* ETags of 32 hex digits, not the MD5s */
		MP_FORM_NEW,  /* ETags in a form not known here */
		MP_WHOLE_NEW, /* each part's ETag its MD5, the whole's not
		               * the MD5 of theirs: verify reads back */
		MP_PARTS,     /* each part's ETag its MD5, in a bucket whose
		               * multipart ETags are not the MD5 of theirs */
		MP_AT_HEAD,   /* each part's ETag its MD5, the completion's
		               * answer without an ETag: HEAD's must be
		               * mp_want */
	} mp_check;
	char mp_want[64]; /* MP_AT_HEAD: the parts' HEX-N */
	/* MP_FORM_NEW: which ETag was of that form ("part N's ETag
	 * \"...\"", or the completion's), for verify's log line: it quoted
	 * HEAD's whole-object ETag, not the one that was odd (found by
	 * h46). */
	char mp_odd[S3_ETAG_MAX + 48];
	/* Its part size and count (MP_PARTS: each part's start sampled). */
	uint64_t mp_psize, mp_nparts;
	/* A read back (s3_readback): a 2xx reply's body goes into this
	 * digest, not into body (NULL: none), and readback_n counts it. */
	struct hash_ctx *readback;
	uint64_t readback_n;
	/* The read back's file size; readback_over: the body went past
	 * it (the copy differs; the transfer was ended there). With
	 * readback_cut (a part's start, mp_sample_parts) the bytes up to
	 * readback_size are hashed first: a service may answer a Range GET
	 * with more than asked. */
	uint64_t readback_size;
	int readback_over, readback_cut;
};

static void
s3_set_memo(void *impl, const struct transport_memo *m)
{
	((struct s3_tp *)impl)->memo = m;
}

static int
s3_global_init(void)
{
	/* Reference counted by libcurl: the curl transport's call and this
	 * one pair with their cleanups. */
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static void
s3_global_cleanup(void)
{
	curl_global_cleanup();
}

/*
 * What verify = hash learned of each bucket's single-part ETags (endpoint
 * and bucket: tp->base), shared by every transport of the process: a
 * target's workers and express lane each have one, and a fact one learned
 * holds for all. ETAGS_MD5: an ETag was the file's MD5; ETAGS_OTHER: a
 * copy read back whole was the file while its ETag was not its MD5
 * (SSE-KMS, SSE-C, services that encrypt). Each replaces the other: a
 * bucket may change while the daemon runs (s3_verify). Full: no more are
 * kept, and verify reads back as for a bucket not known.
 */
enum etag_kind {
	ETAGS_UNKNOWN,
	ETAGS_MD5,
	ETAGS_OTHER
};
#define S3_KNOWN_BUCKETS 64
static pthread_mutex_t bucket_lock = PTHREAD_MUTEX_INITIALIZER;
/* What verify = hash learned of a bucket's multipart ETags: never
 * cleared, being the service's own way (or its proxy's). */
enum mp_fact {
	/* Nothing learned of the bucket (a read back for one object). */
	MP_NO_FACT = 0,
	/* An object read back whole was the file while its ETag was not
	 * the MD5 of its parts' MD5s (each the MD5 of the bytes sent): the
	 * whole's ETag is made another way. */
	MP_WHOLE_OTHER = 1,
	/* An object read back whole was the file while its HEAD ETag was
	 * not the one its completion answered (a proxy rewriting it). */
	MP_HEAD_OTHER = 2,
};
static struct {
	uint64_t key;
	enum etag_kind kind;
	unsigned mp_facts; /* enum mp_fact, or-ed */
} known_buckets[S3_KNOWN_BUCKETS];
static size_t known_nbuckets;

/* Notes fact of tp's bucket: 1 if it was not known before, else 0. */
static int
bucket_note_mp(const struct s3_tp *tp, enum mp_fact fact)
{
	uint64_t h = fnv1a64_str(FNV1A64_INIT, tp->base);
	size_t i;
	int was = 1;

	pthread_mutex_lock(&bucket_lock);
	for (i = 0; i < known_nbuckets && known_buckets[i].key != h; i++)
		;
	if (i == known_nbuckets && known_nbuckets < S3_KNOWN_BUCKETS) {
		known_buckets[known_nbuckets].key = h;
		known_buckets[known_nbuckets++].kind = ETAGS_UNKNOWN;
	}
	if (i < known_nbuckets) {
		was = (known_buckets[i].mp_facts & (unsigned)fact) != 0;
		known_buckets[i].mp_facts |= (unsigned)fact;
	}
	pthread_mutex_unlock(&bucket_lock);
	return !was;
}

/* Whether tp's bucket is known for fact (bucket_note_mp). */
static int
bucket_mp(const struct s3_tp *tp, enum mp_fact fact)
{
	uint64_t h = fnv1a64_str(FNV1A64_INIT, tp->base);
	int known = 0;

	pthread_mutex_lock(&bucket_lock);
	for (size_t i = 0; i < known_nbuckets; i++)
		if (known_buckets[i].key == h)
			known =
			    (known_buckets[i].mp_facts & (unsigned)fact) != 0;
	pthread_mutex_unlock(&bucket_lock);
	return known;
}

static void
bucket_note(const struct s3_tp *tp, enum etag_kind kind)
{
	uint64_t h = fnv1a64_str(FNV1A64_INIT, tp->base);
	size_t i;

	pthread_mutex_lock(&bucket_lock);
	for (i = 0; i < known_nbuckets && known_buckets[i].key != h; i++)
		;
	if (i == known_nbuckets && known_nbuckets < S3_KNOWN_BUCKETS)
		known_buckets[known_nbuckets++].key = h;
	if (i < known_nbuckets)
		known_buckets[i].kind = kind;
	pthread_mutex_unlock(&bucket_lock);
}

static enum etag_kind
bucket_kind(const struct s3_tp *tp)
{
	uint64_t h = fnv1a64_str(FNV1A64_INIT, tp->base);
	enum etag_kind kind = ETAGS_UNKNOWN;

	pthread_mutex_lock(&bucket_lock);
	for (size_t i = 0; i < known_nbuckets; i++)
		if (known_buckets[i].key == h)
			kind = known_buckets[i].kind;
	pthread_mutex_unlock(&bucket_lock);
	return kind;
}

static void *
s3_open(const struct target_config *t, const atomic_int *stop)
{
	struct s3_tp *tp = calloc(1, sizeof(*tp));
	const char *bucket = t->url + 5, *slash;
	const char *endpoint = t->endpoint, *host;
	char defep[160];
	size_t blen, n;
	int path_style = t->path_style;

	if (tp == NULL)
		return NULL;
	tp->t = t;
	tp->stop = stop;
	slash = strchr(bucket, '/');
	blen = slash ? (size_t)(slash - bucket) : strlen(bucket);
	if (endpoint[0] == '\0') {
		if (fmt_fixed(defep, sizeof(defep),
		        "https://s3.%s.amazonaws.com", t->region) < 0)
			goto fail;
		endpoint = defep;
	}
	/* An explicit endpoint (MinIO, Ceph, a test) seldom has a DNS name
	 * per bucket: path style unless said otherwise. */
	if (path_style < 0)
		path_style = t->endpoint[0] != '\0';
	if (path_style) {
		if (fmt_fixed(tp->base, sizeof(tp->base), "%s/%.*s", endpoint,
		        (int)blen, bucket) < 0)
			goto fail;
	} else {
		host = strstr(endpoint, "://") + 3;
		if (fmt_fixed(tp->base, sizeof(tp->base), "%.*s%.*s.%s",
		        (int)(host - endpoint), endpoint, (int)blen, bucket,
		        host) < 0)
			goto fail;
	}
	if (slash != NULL) {
		while (*slash == '/')
			slash++;
		if (fmt_fixed(tp->prefix, sizeof(tp->prefix), "%s", slash) < 0)
			goto fail;
		n = strlen(tp->prefix);
		while (n > 0 && tp->prefix[n - 1] == '/')
			tp->prefix[--n] = '\0';
	}
	if (fmt_fixed(
	        tp->sigv4, sizeof(tp->sigv4), "aws:amz:%s:s3", t->region) < 0)
		goto fail;
	tp->curl = curl_easy_init();
	if (tp->curl == NULL)
		goto fail;
	buf_init(&tp->hdrs, S3_HDRS_MAX);
	buf_init(&tp->body, S3_BODY_MAX);
	return tp;
fail:
	free(tp);
	return NULL;
}

static void
s3_close(void *impl, int quick)
{
	(void)quick; /* nothing to say goodbye to */
	struct s3_tp *tp = impl;

	if (tp == NULL)
		return;
	curl_easy_cleanup(tp->curl);
	buf_free(&tp->hdrs);
	buf_free(&tp->body);
	free(tp);
}

static void
s3_on_progress(void *impl, transport_progress_fn fn, void *ctx)
{
	struct s3_tp *tp = impl;

	tp->progress = fn;
	tp->progress_ctx = ctx;
}

static size_t
read_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	ssize_t n = file_range_read(userdata, ptr, size * nmemb);

	return n < 0 ? CURL_READFUNC_ABORT : (size_t)n;
}

/* Past its bound an answer fails the attempt (0 ends the transfer): a
 * service that sent a body without end held the worker for good, its
 * bytes taken and dropped (found from outside). */
static size_t
hdr_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct s3_tp *tp = userdata;

	if (buf_add(&tp->hdrs, ptr, size * nmemb) < 0) {
		tp->too_long = 1;
		return 0;
	}
	return size * nmemb;
}

static size_t
body_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct s3_tp *tp = userdata;
	long status = 0;

	if (tp->readback != NULL &&
	    curl_easy_getinfo(tp->curl, CURLINFO_RESPONSE_CODE, &status) ==
	        CURLE_OK &&
	    status >= 200 && status < 300) {
		/* More than the file: it differs, and a body without end
		 * is not hashed until the deadline. */
		if (size * nmemb > tp->readback_size - tp->readback_n) {
			size_t left =
			    (size_t)(tp->readback_size - tp->readback_n);

			if (tp->readback_cut && left > 0) {
				hash_update(tp->readback, ptr, left);
				tp->readback_n += left;
			}
			tp->readback_over = 1;
			return 0;
		}
		hash_update(tp->readback, ptr, size * nmemb);
		tp->readback_n += size * nmemb;
		return size * nmemb;
	}
	if (buf_add(&tp->body, ptr, size * nmemb) < 0) {
		tp->too_long = 1;
		return 0;
	}
	return size * nmemb;
}

/* Ends the transfer when the daemon stops, or when the answer is not
 * whole answer_ms after the request's body went: the low-speed limit
 * alone let a service drip a byte a second for ever. */
static int
progress_cb(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct s3_tp *tp = userdata;
	int64_t now;

	(void)dltotal;
	(void)dlnow;
	if (atomic_load(tp->stop))
		return 1;
	if (ulnow < ultotal)
		return 0;
	now = (int64_t)clock_mono_ms();
	if (tp->answer_from == 0)
		tp->answer_from = now;
	else if (now - tp->answer_from > tp->answer_ms) {
		tp->overdue = 1;
		return 1;
	}
	return 0;
}

/*
 * The object key of rpath ("/user/dir/name"): PREFIX/user/dir/name. S3
 * keys are UTF-8 (a request naming other bytes is refused, for ever), and
 * devices still write Latin-1 names: a byte that is not part of valid
 * UTF-8 is written into the key as the three characters %XX, so the file
 * is delivered under a name that shows what it was (README). So that no
 * two names share a key (a file "caf%E9" and a Latin-1 "caf\xe9" had
 * one object, each push overwrote the other's copy and a delete of one
 * took both), a '%' that two hex digits follow is written %25: every
 * %XX in a key is then an escape, and key_name reads it back. A key S3
 * cannot hold (over RFTP_S3_KEY_MAX bytes) can never be sent: the job is
 * dropped (unsendable), not retried with the target backed off.
 */
static int
key_of(const struct s3_tp *tp, const char *rpath, char *out, size_t outlen,
    struct push_result *res)
{
	static const char hexdig[] = "0123456789ABCDEF";
	const unsigned char *p;
	size_t n, at;

	while (*rpath == '/')
		rpath++;
	if (fmt_fixed(out, outlen, "%s%s", tp->prefix,
	        tp->prefix[0] && rpath[0] ? "/" : "") < 0)
		goto long_key;
	at = strlen(out);
	p = (const unsigned char *)rpath;
	n = strlen(rpath);
	for (size_t i = 0; i < n;) {
		size_t len = utf8_seq(p + i, n - i);

		if (p[i] == '%' && i + 2 < n && isxdigit(p[i + 1]) &&
		    isxdigit(p[i + 2]))
			len = 0;
		if (len == 0) {
			if (at + 3 >= outlen)
				goto long_key;
			out[at++] = '%';
			out[at++] = hexdig[p[i] >> 4];
			out[at++] = hexdig[p[i] & 15];
			i++;
			continue;
		}
		if (at + len >= outlen)
			goto long_key;
		memcpy(out + at, p + i, len);
		at += len;
		i += len;
	}
	out[at] = '\0';
	if (at > RFTP_S3_KEY_MAX)
		goto long_key;
	return 0;
long_key:
	snprintf(res->error, sizeof(res->error),
	    "the object key would be longer than S3's %d bytes",
	    RFTP_S3_KEY_MAX);
	res->unsendable = 1;
	return -1;
}

/* The name a key's part stands for, in place: each %XX (key_of's escape)
 * back to its byte, but for NUL and '/', which key_of never writes so: a
 * key made elsewhere ("x%2F..%2Fy") stays one name, never a path. */
static void
key_name(char *s)
{
	char *w = s;

	for (const char *r = s; *r != '\0'; r++) {
		if (r[0] == '%' && isxdigit((unsigned char)r[1]) &&
		    isxdigit((unsigned char)r[2])) {
			char hex[3] = { r[1], r[2], '\0' };
			unsigned long b = strtoul(hex, NULL, 16);

			if (b != 0 && b != '/') {
				*w++ = (char)b;
				r += 2;
				continue;
			}
		}
		*w++ = *r;
	}
	*w = '\0';
}

/* A request being built: what s3_perform sends. */
struct s3_req {
	const char *method; /* GET HEAD PUT POST DELETE */
	const char *key;    /* "" = the bucket */
	const char *query;  /* canonical (s3_canon_query), "" for none */
	const char *payload_sha256; /* hex; NULL = empty body */
	struct file_range *rd;      /* PUT body from a file, or NULL */
	const char *post;           /* POST body, or NULL */
	size_t postlen;
	struct curl_slist *extra; /* more headers (signed too), or NULL */
	const char *what;         /* for messages: "upload", "delete" */
};

/* The value of reply header name (case-insensitive) into out, or -1. */
static int
reply_header(const struct s3_tp *tp, const char *name, char *out, size_t outlen)
{
	const char *p = buf_str(&tp->hdrs);
	size_t nl = strlen(name);

	while (p != NULL && *p != '\0') {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);

		if (len > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			size_t vl = len - nl - 1;

			while (vl > 0 && (*v == ' ' || *v == '\t')) {
				v++;
				vl--;
			}
			while (
			    vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
				vl--;
			return fmt_fixed(out, outlen, "%.*s", (int)vl, v);
		}
		p = eol ? eol + 1 : NULL;
	}
	return -1;
}

/*
 * Whether an error answered to a request on one object is that object's,
 * not the bucket's, the account's or the link's: then the job waits alone
 * and the target goes on (transport.h, file_refused). AccessDenied comes
 * from a policy (a bucket policy's Deny on a prefix, an IAM policy, a
 * KMS key's): it may hold for every key, and then the worker's refusals
 * still pause the target (worker.c push_refused). Credentials that fail
 * are InvalidAccessKeyId or SignatureDoesNotMatch, a clock that is off
 * RequestTimeTooSkewed, a missing bucket NoSuchBucket: the target's.
 */
static int
s3_object_refused(long status, const char *code)
{
	static const char *const codes[] = {
		"AccessDenied",       /* a policy on this key */
		"EntityTooLarge",     /* this file's size */
		"InvalidObjectState", /* an archived or locked object */
		"KeyTooLongError",    /* a service with a shorter limit */
		"OperationAborted",   /* a conflicting change, short-lived */
		"PreconditionFailed", /* a condition on this object */
	};

	if (status == 412 || status == 413)
		return 1;
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(code, codes[i]) == 0)
			return 1;
	return 0;
}

/*
 * After the service answered rq, a PUT of the file's bytes rq->rd, 400
 * XAmzContentSHA256Mismatch (the body it read is not the one whose
 * SHA-256 was signed, rq->payload_sha256) or 400 BadDigest (not the one
 * of the x-amz-checksum-sha256 a single PUT sends, the same hash: a
 * service that checks that and not the signed one answers so, and was
 * taken for refusing the push, found by a review): 1 with res said as
 * the file's if those bytes of the file are no longer the ones hashed,
 * 0 else. A local
 * program rewrote the file while it was sent; where its size and time
 * moved too, transport_push sees it (file_changed), but a rewrite that
 * kept both (rsync --inplace -t, or two writes within one tick of the
 * file clock) was taken for the target's refusal: the target failing,
 * backed off, the log blaming it (found by a review). Read again here,
 * the bytes tell. The file's doing, then, as file_changed says it:
 * pushed again on the job's own backoff, never parked for it, the
 * target untouched. Bytes hashed again the same: the body changed on
 * the way: a fault of the link, as a cut is, not a refusal (it was
 * taken for the target's, the push failed, backed off and counted
 * toward parking, found from outside): tp->damaged set (code), res not
 * refused, and ask_again sends the request again.
 */
static int
payload_changed(struct s3_tp *tp, const struct s3_req *rq, const char *code,
    struct push_result *res)
{
	const struct file_range *rd = rq->rd;
	char now[HASH_HEX_MAX];

	if (hash_fd(rd->fd, HASH_SHA256, rd->start, rd->end, tp->stop, now) ==
	        0 &&
	    strcmp(now, rq->payload_sha256) == 0) {
		size_t len = strnlen(res->error, sizeof(res->error));

		if (fmt_fixed(tp->damaged, sizeof(tp->damaged), "%s", code) < 0)
			(void)fmt_fixed(
			    tp->damaged, sizeof(tp->damaged), "BadDigest");
		res->refused = res->file_refused = 0;
		if (len < sizeof(res->error))
			snprintf(res->error + len, sizeof(res->error) - len,
			    " (the service read other bytes than were sent: "
			    "damaged in transit?)");
		return 0;
	}
	snprintf(res->error, sizeof(res->error),
	    "the file was written while it was sent (%s %.200s: the service "
	    "read other bytes than those hashed): its copy is not made; "
	    "pushed again once it keeps still",
	    rq->what, rq->key);
	res->refused = res->file_refused = 0;
	res->unreadable = 1;
	res->busy = 1;
	return 1;
}

/*
 * Sends one signed request and reads its reply into tp->hdrs, tp->body
 * and tp->status. 0 on a 2xx reply; -1 with res->error otherwise
 * (res->refused when the service answered, with its error code;
 * res->file_refused when that answer is the object's).
 */
static int
s3_perform(struct s3_tp *tp, const struct s3_req *rq, struct push_result *res)
{
	CURL *c = tp->curl;
	const struct target_config *t = tp->t;
	struct curl_slist *hdrs = NULL, *h;
	struct buf url, line;
	CURLcode rc = CURLE_OUT_OF_MEMORY;
	int out = -1;

	/* The base, the key URI-encoded (3 bytes a byte at most) and the
	 * query as it is: a fixed 16 KiB could not hold an abort's query of
	 * a long UploadId (found from outside), and that upload stayed. */
	buf_init(&url, 16384 + 3 * strlen(rq->key) + strlen(rq->query));
	buf_init(&line, 256);
	curl_easy_reset(c);
	buf_reset(&tp->hdrs);
	buf_reset(&tp->body);
	tp->status = 0;
	tp->curl_rc = CURLE_OK;
	tp->timed_out = 0;
	tp->passing_code[0] = '\0';
	tp->damaged[0] = '\0';
	tp->errbuf[0] = '\0';
	/* Only the answer of the request that ends the call may ask for a
	 * pause: an earlier one's is either waited already or moot. */
	res->retry_after_s = 0;
	/* A copy is answered once the service has copied the object
	 * (minutes for gigabytes; AWS sends blanks meanwhile). */
	tp->answer_ms = (int64_t)t->timeout * 1000;
	if (tp->copying && t->timeout < S3_COPY_ANSWER_S)
		tp->answer_ms = (int64_t)S3_COPY_ANSWER_S * 1000;
	/* A read back's answer is the whole object: bounded by timeout
	 * alone, a file larger than timeout seconds of the link could
	 * never be read back, and failed verify at every retry, sent
	 * again each time (found by a review). */
	if (tp->readback != NULL)
		tp->answer_ms +=
		    (int64_t)(tp->readback_size / S3_READBACK_MIN_RATE + 1) *
		    1000;
	tp->answer_from = 0;
	tp->overdue = tp->too_long = 0;
	if (buf_adds(&url, tp->base) < 0 || buf_adds(&url, "/") < 0 ||
	    s3_uri_encode(&url, rq->key, strlen(rq->key), 1) < 0 ||
	    (rq->query[0] &&
	        (buf_adds(&url, "?") < 0 || buf_adds(&url, rq->query) < 0)) ||
	    buf_printf(&line, "x-amz-content-sha256: %s",
	        rq->payload_sha256 ? rq->payload_sha256 : empty_sha256) < 0 ||
	    (hdrs = curl_slist_append(NULL, buf_str(&line))) == NULL)
		goto done;
	for (const struct curl_slist *e = rq->extra; e != NULL; e = e->next) {
		h = curl_slist_append(hdrs, e->data);
		if (h == NULL)
			goto done;
		hdrs = h;
	}
	curl_easy_setopt(c, CURLOPT_URL, buf_str(&url));
	curlbase_opts(c, tp->errbuf, t);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
	/* A stalled or trickling service (under min_rate) fails the
	 * attempt instead of holding a worker; a copy's blanks, sent while
	 * the service copies, are a trickle by design: only a stall. */
	curlbase_min_rate(c, t, tp->copying);
	curl_easy_setopt(c, CURLOPT_AWS_SIGV4, tp->sigv4);
	curl_easy_setopt(c, CURLOPT_USERNAME, t->access_key);
	curl_easy_setopt(c, CURLOPT_PASSWORD, t->secret_key);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, t->tls_verify ? 1L : 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, t->tls_verify ? 2L : 0L);
	if (t->ca_file[0] != '\0')
		curl_easy_setopt(c, CURLOPT_CAINFO, t->ca_file);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, hdr_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, tp);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, tp);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress_cb);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, tp);
	if (strcmp(rq->method, "PUT") == 0) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(c, CURLOPT_READDATA, rq->rd);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
		    rq->rd ? (curl_off_t)(rq->rd->end - rq->rd->start) : 0);
	} else if (strcmp(rq->method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)rq->postlen);
		curl_easy_setopt(
		    c, CURLOPT_POSTFIELDS, rq->post ? rq->post : "");
	} else if (strcmp(rq->method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (strcmp(rq->method, "DELETE") == 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
	}
	rc = curl_easy_perform(c);
	tp->curl_rc = rc;
	if (rc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &tp->status);
		if (tp->status >= 200 && tp->status < 300) {
			out = 0;
			goto done;
		}
	}
done:
	if (out < 0 && rc != CURLE_OK) {
		res->refused = 0;
		res->file_refused = 0;
		if (tp->overdue)
			snprintf(res->error, sizeof(res->error),
			    "%s: no whole answer within %lld s of the request",
			    rq->what, (long long)(tp->answer_ms / 1000));
		else if (tp->too_long)
			snprintf(res->error, sizeof(res->error),
			    "%s: the answer is longer than %u MiB", rq->what,
			    S3_BODY_MAX / (1024u * 1024u));
		else if (!curlbase_too_slow(rc, tp->errbuf, t, tp->copying,
		             rq->what, res->error, sizeof(res->error)))
			snprintf(res->error, sizeof(res->error), "%s: %s",
			    rq->what,
			    tp->errbuf[0] ? tp->errbuf :
			                    curl_easy_strerror(rc));
		/* The file's read failed, not the target. */
		if (rq->rd != NULL)
			file_range_failed(rq->rd, rq->what, res);
	} else if (out < 0) {
		char code[128] = "", msg[256] = "";
		size_t n;
		const char *v;

		v = s3xml_find(tp->body.data ? tp->body.data : "", tp->body.len,
		    "Code", &n, NULL);
		if (v != NULL)
			(void)s3xml_text(v, n, code, sizeof(code));
		v = s3xml_find(tp->body.data ? tp->body.data : "", tp->body.len,
		    "Message", &n, NULL);
		if (v != NULL)
			(void)s3xml_text(v, n, msg, sizeof(msg));
		/* 4xx: the service answered no (the link works); 5xx and
		 * throttling are a service in trouble: try again later. AWS
		 * tells its request timeout (a body that came too slowly) as
		 * 400 RequestTimeout, not 408: no refusal either. */
		tp->timed_out =
		    tp->status == 400 && strcmp(code, "RequestTimeout") == 0;
		res->refused = tp->status >= 400 && tp->status < 500 &&
		    tp->status != 408 && tp->status != 429 && !tp->timed_out;
		res->file_refused = res->refused && rq->key[0] != '\0' &&
		    s3_object_refused(tp->status, code);
		snprintf(res->error, sizeof(res->error),
		    "%s %.200s: HTTP %ld %.60s%s%.150s", rq->what, rq->key,
		    tp->status, code, msg[0] ? ": " : "", msg);
		/* SlowDown (503) or a proxy's 429 may say when to come
		 * back: the worker waits it (push_failed). */
		res->retry_after_s = curlbase_retry_after(c, tp->status);
		if (tp->status == 400 && rq->rd != NULL &&
		    rq->payload_sha256 != NULL &&
		    (strcmp(code, "XAmzContentSHA256Mismatch") == 0 ||
		        strcmp(code, "BadDigest") == 0))
			(void)payload_changed(tp, rq, code, res);
	}
	curl_slist_free_all(hdrs);
	buf_free(&url);
	buf_free(&line);
	return out;
}

/* base64 of the 32 bytes whose hex is hex (64 characters). */
static void
hex_to_base64(const char hex[HASH_HEX_MAX], char out[48])
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned char bin[33] = { 0 };
	size_t o = 0;

	for (size_t i = 0; i < 32; i++) {
		unsigned hi =
		    (unsigned)(hex[2 * i] <= '9' ? hex[2 * i] - '0' :
		                                   hex[2 * i] - 'a' + 10);
		unsigned lo = (unsigned)(hex[2 * i + 1] <= '9' ?
		        hex[2 * i + 1] - '0' :
		        hex[2 * i + 1] - 'a' + 10);

		bin[i] = (unsigned char)(hi << 4 | lo);
	}
	for (size_t i = 0; i < 33; i += 3) {
		unsigned v = (unsigned)bin[i] << 16 |
		    (unsigned)(i + 1 < 33 ? bin[i + 1] : 0) << 8 |
		    (unsigned)(i + 2 < 33 ? bin[i + 2] : 0);

		out[o++] = b64[(v >> 18) & 63];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = i + 1 < 32 ? b64[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < 32 ? b64[v & 63] : '=';
	}
	out[44] = '\0';
}

/*
 * Aborts upload id of key (best effort, said in the log if it fails).
 * why (whylen bytes; NULL: not wanted) is "" once the upload is gone,
 * else what left it open: the failure, or the service's lack of abort
 * (then 0 is returned all the same: asking again is pointless).
 */
static int
abort_upload(
    struct s3_tp *tp, const char *key, const char *id, char *why, size_t whylen)
{
	struct s3_qparam q[] = { { "uploadId", id } };
	struct push_result r;
	struct buf query;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	/* "uploadId=" and the id URI-encoded (3 bytes a byte at most), of
	 * any length: a listed one longer than S3_UPLOAD_ID_MAX too. */
	buf_init(&query, 3 * strlen(id) + 64);
	snprintf(r.error, sizeof(r.error),
	    "abort multipart upload %.200s: out of memory", key);
	if (s3_canon_query(&query, q, 1) == 0) {
		struct s3_req rq = { "DELETE", key, buf_str(&query), NULL, NULL,
			NULL, 0, NULL, "abort multipart upload" };

		rc = s3_perform(tp, &rq, &r);
		/* Gone already (aborted, or completed): nothing left. */
		if (rc < 0 && tp->status == 404)
			rc = 0;
		/* A service without abort (s3rver answers 405): asking again
		 * would fail every later push of the key; say it once. */
		if (rc < 0 && (tp->status == 405 || tp->status == 501)) {
			log_warn(
			    "mirror target %s: the service cannot abort "
			    "multipart upload %.200s of %s (%s): its parts stay "
			    "until the service expires them",
			    tp->t->name, id, key, r.error);
			if (tp->memo != NULL)
				(void)tp->memo->forget(
				    tp->memo->ctx, tp->t->name, key, id);
			if (why != NULL)
				snprintf(why, whylen,
				    "the service cannot abort it: %.400s",
				    r.error);
			buf_free(&query);
			return 0;
		}
	}
	if (why != NULL)
		snprintf(why, whylen, "%s", rc < 0 ? r.error : "");
	if (rc < 0) {
		log_warn("mirror target %s: %s", tp->t->name, r.error);
	} else {
		log_info(
		    "mirror target %s: aborted multipart upload %.200s of %s",
		    tp->t->name, id, key);
		if (tp->memo != NULL)
			(void)tp->memo->forget(
			    tp->memo->ctx, tp->t->name, key, id);
	}
	buf_free(&query);
	return rc;
}

/* Whether markers a and b (NULL or "": none) are the same. */
static int
same_marker(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

/*
 * Aborts the unfinished multipart uploads of exactly key that the service
 * lists, but keep (NULL: none kept), and (since, before not 0) only those
 * it says were initiated from since and before before
 * (s3xml_uploads_page). 0, or -1 with
 * res->error if the list could not be had (tp->status and res->refused
 * say why).
 *
 * The list is of the uploads under prefix key, so of every key that
 * begins with key's name too ("a1".."a2000" for "a"), a page of up to
 * 1,000 at a time (AWS's most and default max-uploads): only the first
 * page was read, and key's uploads past it stayed for ever (a service
 * that does not sort by key, as S3 directory buckets do not, or a key
 * with more than 1,000 of its own; found by h53). Pages are followed, as
 * AWS says, by key-marker and upload-id-marker from the last page's
 * NextKeyMarker and NextUploadIdMarker (the latter only if given:
 * directory buckets give none), each page's uploads aborted before the
 * next is asked (the markers are positions, not uploads). At most
 * S3_UPLOAD_PAGES_MAX pages; a list said to go on with no marker, or the
 * one just asked, ends it too, and so does a later page refused (4xx,
 * 501): each said in the log, 0 returned (page 1 was listed).
 * until_keep: the list ends at the page that lists keep, none of its
 * uploads aborted (abort_lost_starts' second reading: that page and the
 * later ones were judged by its first).
 */
static int
abort_listed_uploads(struct s3_tp *tp, const char *key, const char *keep,
    long long since, long long before, long long span, struct push_result *res,
    long long *keep_at, unsigned *keep_page, int until_keep)
{
	char *kmark = NULL, *imark = NULL, *nkmark = NULL, *nimark = NULL;
	struct buf query, ids;
	unsigned page;
	int rc = -1, more;
	long long at; /* keep's Initiated */

	buf_init(&ids, 64 * 1024);
	for (page = 1;; page++) {
		struct s3_qparam q[4] = { { "uploads", NULL },
			{ "prefix", key } };
		size_t nq = 2;
		struct s3_req rq = { "GET", "", NULL, NULL, NULL, NULL, 0, NULL,
			"list multipart uploads" };

		if (kmark != NULL && kmark[0] != '\0')
			q[nq++] = (struct s3_qparam){ "key-marker", kmark };
		if (imark != NULL && imark[0] != '\0')
			q[nq++] =
			    (struct s3_qparam){ "upload-id-marker", imark };
		rc = -1; /* a page that fails fails the list, as the first */
		/* Sized by the markers, each URI-encoded (3 bytes a byte at
		 * most): a marker is as long as the service made it. */
		buf_init(&query,
		    16384 +
		        3 *
		            (strlen(key) + (kmark ? strlen(kmark) : 0) +
		                (imark ? strlen(imark) : 0)));
		if (s3_canon_query(&query, q, nq) < 0) {
			snprintf(
			    res->error, sizeof(res->error), "out of memory");
			buf_free(&query);
			break;
		}
		rq.query = buf_str(&query);
		if (s3_perform(tp, &rq, res) < 0) {
			buf_free(&query);
			/* A later page refused: the service lists uploads
			 * (page 1 was had, and its uploads aborted), so it
			 * is not "a service that does not list" of
			 * abort_stale_uploads (found by a review). Failed
			 * for a moment (5xx, a cut), it fails as page 1. */
			if (page > 1 && (res->refused || tp->status == 501)) {
				log_warn("mirror target %s: %s: the service "
				         "refused page %u of its list of "
				         "multipart uploads (%s): uploads of "
				         "the key listed later are left (to "
				         "its next push, or a lifecycle rule)",
				    tp->t->name, key, page, res->error);
				memset(res, 0, sizeof(*res));
				res->verify_used = "none";
				rc = 0;
			}
			break;
		}
		buf_free(&query);
		/* The page is kept apart: abort_upload reuses the body. */
		buf_reset(&ids);
		free(nkmark);
		free(nimark);
		/* span: the window is the span seconds up to keep's own
		 * Initiated where a page lists it (abort_lost_starts). */
		if ((span > 0 || until_keep) && keep != NULL &&
		    s3xml_upload_initiated(tp->body.data ? tp->body.data : "",
		        tp->body.len, key, keep, &at) == 1) {
			if (until_keep) {
				rc = 0;
				break;
			}
			since = at - span > 0 ? at - span : 1;
			before = at + 2;
			span = 0;
			if (keep_at != NULL && keep_page != NULL) {
				*keep_at = at;
				*keep_page = page;
			}
		}
		more = s3xml_uploads_page(tp->body.data ? tp->body.data : "",
		    tp->body.len, key, keep, since, before, &ids, &nkmark,
		    &nimark);
		for (size_t off = 0; off < ids.len;
		     off += strlen(ids.data + off) + 1)
			(void)abort_upload(tp, key, ids.data + off, NULL, 0);
		rc = 0;
		if (more == 0 || atomic_load(tp->stop))
			break;
		if (more < 0 || nkmark == NULL || nkmark[0] == '\0' ||
		    (same_marker(nkmark, kmark) &&
		        same_marker(nimark, imark))) {
			log_warn("mirror target %s: %s: the service's list of "
			         "multipart uploads goes on after page %u "
			         "with %s: uploads of the key listed later "
			         "are left (to its next push, or a lifecycle "
			         "rule)",
			    tp->t->name, key, page,
			    more < 0 ? "a marker there is no memory for" :
			        nkmark == NULL || nkmark[0] == '\0' ?
			               "no NextKeyMarker" :
			               "the markers it was asked from");
			break;
		}
		if (page >= S3_UPLOAD_PAGES_MAX) {
			log_warn("mirror target %s: %s: the service's list of "
			         "multipart uploads goes on past %u pages: "
			         "uploads of the key listed later are left "
			         "(to its next push, or a lifecycle rule)",
			    tp->t->name, key, page);
			break;
		}
		free(kmark);
		free(imark);
		kmark = nkmark;
		imark = nimark;
		nkmark = nimark = NULL;
	}
	free(kmark);
	free(imark);
	free(nkmark);
	free(nimark);
	buf_free(&ids);
	return rc;
}

/*
 * Aborts every unfinished multipart upload of exactly key (the ones a
 * crash or a lost connection left: they hold parts the owner pays for):
 * those the queue recorded, then those the service lists. 0, or -1 with
 * res->error if a recorded one could not be aborted for a failure not a
 * refusal (one refused stays recorded, said) or the service could not
 * be reached; a service that does not list uploads (it answers 4xx) is
 * left at the recorded ones.
 */
static int
abort_stale_uploads(struct s3_tp *tp, const char *key, struct push_result *res)
{
	struct buf ids;
	int rc = -1, nrec;

	buf_init(&ids, 64 * 1024);
	if (tp->memo != NULL) {
		nrec = tp->memo->ids(tp->memo->ctx, tp->t->name, key, &ids);
		if (nrec < 0) {
			snprintf(res->error, sizeof(res->error),
			    "cannot read the queue's multipart uploads");
			goto out;
		}
		for (size_t off = 0; off < ids.len;
		     off += strlen(ids.data + off) + 1) {
			log_info("mirror target %s: multipart upload %s of %s "
			         "left by an earlier attempt: aborting it",
			    tp->t->name, ids.data + off, key);
			if (abort_upload(tp, key, ids.data + off, NULL, 0) == 0)
				continue;
			/* Refused (an IAM policy without
			 * s3:AbortMultipartUpload): failing the push on it
			 * held the key's file back for good, though the
			 * abort has no bearing on the new upload (found
			 * from outside). The record stays: asked again at
			 * each push of the key, said each time. A service
			 * that cannot be reached fails the push, as the
			 * start would. */
			if (tp->curl_rc == CURLE_OK && tp->status >= 400 &&
			    tp->status < 500 && tp->status != 408 &&
			    tp->status != 429 && !tp->timed_out) {
				log_warn("mirror target %s: the service "
				         "refuses to abort multipart upload %s "
				         "of %s (HTTP %ld): it stays open, "
				         "recorded, asked again at the key's "
				         "next push; this push goes on",
				    tp->t->name, ids.data + off, key,
				    tp->status);
				continue;
			}
			snprintf(res->error, sizeof(res->error),
			    "cannot abort the earlier multipart upload %.200s "
			    "of %.200s",
			    ids.data + off, key);
			goto out;
		}
	}
	/* Listed ones only past S3_STALE_UPLOAD_AGE_S: a younger one may
	 * be another writer's in progress (the recorded ones are ours). */
	rc = abort_listed_uploads(tp, key, NULL, 0,
	    (long long)time(NULL) - S3_STALE_UPLOAD_AGE_S, 0, res, NULL, NULL,
	    0);
	if (rc < 0 && (res->refused || tp->status == 501)) {
		log_info("mirror target %s: %s (the service does not list "
		         "multipart uploads: only recorded ones are aborted)",
		    tp->t->name, res->error);
		memset(res, 0, sizeof(*res));
		res->verify_used = "none";
		rc = 0;
	}
out:
	buf_free(&ids);
	return rc;
}

/*
 * The 32 hex digits of etag if it has an MD5's form, as a single part's
 * and an upload part's have on S3 without SSE-KMS or SSE-C: in quotes,
 * or bare as some S3-compatible services answer a part's (taken for a
 * form not known here, such a service's parts were checked by size
 * alone: found by a review). NULL if another form.
 */
static const char *
etag_md5_hex(const char *etag)
{
	size_t n = strlen(etag);

	if (n == 34 && etag[0] == '"' && etag[33] == '"') {
		etag++;
		n -= 2;
	}
	if (n != 32 || strspn(etag, "0123456789abcdefABCDEF") != 32)
		return NULL;
	return etag;
}

/*
 * A multipart upload's ETag, HEX-N (32 hex digits, a dash, the number of
 * parts; quotes optional), into core without quotes, hex in lower case:
 * 0, or -1 if etag has another form. S3 writes it as the MD5 of the
 * parts' MD5s (16 bytes each, in order) and their number; AWS does not
 * promise it (an opaque string), MinIO and Ceph RGW write it the same.
 */
static int
etag_multipart_core(const char *etag, char core[64])
{
	size_t n = strlen(etag), d;

	if (n >= 2 && etag[0] == '"' && etag[n - 1] == '"') {
		etag++;
		n -= 2;
	}
	if (n < 34 || n > 40 || strspn(etag, "0123456789abcdefABCDEF") != 32 ||
	    etag[32] != '-')
		return -1;
	d = strspn(etag + 33, "0123456789");
	if (d == 0 || 33 + d != n || etag[33] == '0')
		return -1;
	for (size_t i = 0; i < n; i++)
		core[i] = (char)tolower((unsigned char)etag[i]);
	core[n] = '\0';
	return 0;
}

/*
 * Whether ETags a and b are the same one: quotes and the case of hex
 * digits aside. A service may answer a completion's ETag bare in its XML
 * and in quotes at HEAD; compared byte for byte, every multipart push
 * to it failed verify for ever (found by a review).
 */
static int
etag_same(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);

	if (na >= 2 && a[0] == '"' && a[na - 1] == '"') {
		a++;
		na -= 2;
	}
	if (nb >= 2 && b[0] == '"' && b[nb - 1] == '"') {
		b++;
		nb -= 2;
	}
	return na == nb && strncasecmp(a, b, na) == 0;
}

/* The 16 bytes of an MD5 whose hex (32 digits, either case) is hex. */
static void
md5_bytes(const char *hex, unsigned char out[16])
{
	for (size_t i = 0; i < 16; i++) {
		unsigned v = 0;

		for (size_t j = 0; j < 2; j++) {
			int c = tolower((unsigned char)hex[2 * i + j]);

			v = v << 4 |
			    (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
		}
		out[i] = (unsigned char)v;
	}
}

/*
 * Waits ms between two tries of a request, in 50 ms steps: 0 once waited,
 * -1 as soon as the daemon stops (transport.h: a stop ends a push within
 * moments, and the stop is only an atomic here).
 */
static int
s3_pause(struct s3_tp *tp, int64_t ms)
{
	for (int64_t waited = 0; waited < ms; waited += 50) {
		struct timespec step = { 0, 50L * 1000 * 1000 };

		if (atomic_load(tp->stop))
			return -1;
		(void)nanosleep(&step, NULL);
	}
	return atomic_load(tp->stop) ? -1 : 0;
}

/*
 * Whether a request of a push, failed (what: "part N" or "the PUT", whose
 * bytes rd are, or "the completion" or "the multipart start", rd NULL;
 * the start and the single PUT went unasked, the worker's backoff sending
 * the file later, found by a review), is asked again after its
 * try-th try, and if so, after the pause: a service in trouble for a
 * moment (500, 502, 503, 504), busy (429: a proxy's or an S3-compatible
 * service's throttling; 408 or AWS's 400 RequestTimeout: its request
 * timeout; a completion's 200 <Error> of such a Code, completion_error),
 * a connection cut on the way, or a body damaged on the way (400
 * XAmzContentSHA256Mismatch or BadDigest to bytes the file still holds:
 * tp->damaged, payload_changed). Each failed the push and the
 * whole file was sent again, all its parts (a 5 GiB file whose last part
 * met one 503: 5 GiB again; a 429 or 408 did so still, found by a
 * review: s3_perform takes neither for a refusal; a completion's 503
 * too, though AWS asks that a failed CompleteMultipartUpload be
 * retried). Not a refusal (another 4xx), a read of the file that failed,
 * an answer overdue or too long, a stop, nor a Retry-After past
 * S3_WAIT_IN_PUSH_MAX_S: the worker waits that one. The pause is
 * try * 250 ms, or the Retry-After when longer. Says it at info level;
 * res->error is left for the push's failure.
 */
static int
ask_again(struct s3_tp *tp, const struct file_range *rd, const char *what,
    const char *key, unsigned try, const struct push_result *res)
{
	CURLcode rc = tp->curl_rc;
	long st = tp->status;
	int64_t ms = (int64_t)try * 250;

	if (try >= S3_PART_TRIES || (rd != NULL && rd->err != 0) ||
	    tp->overdue || tp->too_long || atomic_load(tp->stop))
		return 0;
	if (rc == CURLE_OK && tp->damaged[0] != '\0') {
		log_info("mirror target %s: %s: %s answered %ld %s: the "
		         "service read other bytes than were sent: damaged in "
		         "transit? retrying (%u of %u)",
		    tp->t->name, key, what, st, tp->damaged, try + 1,
		    S3_PART_TRIES);
	} else if (rc == CURLE_OK) {
		if (st != 408 && st != 429 && st != 500 && st != 502 &&
		    st != 503 && st != 504 && !tp->timed_out &&
		    tp->passing_code[0] == '\0')
			return 0;
		if (res->retry_after_s > S3_WAIT_IN_PUSH_MAX_S)
			return 0;
		if (res->retry_after_s * 1000 > ms)
			ms = res->retry_after_s * 1000;
		log_info("mirror target %s: %s: %s answered %ld%s%s: asked "
		         "again (%u of %u)",
		    tp->t->name, key, what, st, tp->passing_code[0] ? " " : "",
		    tp->passing_code, try + 1, S3_PART_TRIES);
	} else {
		if (rc != CURLE_SEND_ERROR && rc != CURLE_RECV_ERROR &&
		    rc != CURLE_PARTIAL_FILE && rc != CURLE_GOT_NOTHING)
			return 0;
		log_info("mirror target %s: %s: %s cut (%s): asked again "
		         "(%u of %u)",
		    tp->t->name, key, what,
		    tp->errbuf[0] ? tp->errbuf : curl_easy_strerror(rc),
		    try + 1, S3_PART_TRIES);
	}
	return s3_pause(tp, ms) == 0;
}

/*
 * After a request of a multipart upload asked try times failed for good:
 * res->error says how many tries it had (a part's already says which of
 * how many), so that a failure after 3 tries does not read as one.
 */
static void
say_tries(struct push_result *res, unsigned try)
{
	size_t len = strnlen(res->error, sizeof(res->error));

	if (try > 1 && len < sizeof(res->error))
		snprintf(res->error + len, sizeof(res->error) - len,
		    " (%u tries)", try);
}

/*
 * Whether a failed multipart upload is aborted now: 0 yes, -1 not in this
 * push. The request that failed it may have asked for a pause
 * (Retry-After): the abort's DELETE went at once, into the service that
 * asked to be left alone (found by a review). A pause up to
 * S3_WAIT_IN_PUSH_MAX_S is waited first; a longer one, where the queue
 * records the upload, leaves the abort to the key's next attempt
 * (abort_stale_uploads), which the worker holds back for that pause. A
 * stop in the pause leaves it too, as a stop cuts an abort short. A
 * pause waited here is not the worker's to wait again: the next attempt
 * came after twice the pause asked (found by a review); the worker's
 * backoff step alone is left.
 */
static int
abort_now(
    struct s3_tp *tp, const char *key, const char *id, struct push_result *res)
{
	int64_t wait = res->retry_after_s;

	if (wait <= 0)
		return 0;
	if (wait > S3_WAIT_IN_PUSH_MAX_S) {
		if (tp->memo == NULL)
			return 0; /* nothing would abort it later */
		log_info("mirror target %s: %s: the service asked to wait %lld "
		         "s: multipart upload %s is aborted at the next "
		         "attempt",
		    tp->t->name, key, (long long)wait, id);
		return -1;
	}
	if (s3_pause(tp, wait * 1000) < 0)
		return -1;
	log_info("mirror target %s: %s: waited the %lld s the service asked "
	         "(Retry-After) before aborting multipart upload %s",
	    tp->t->name, key, (long long)wait, id);
	res->retry_after_s = 0;
	return 0;
}

/*
 * Whether the last reply, a completion's 2xx, is not a completion: S3 may
 * answer CompleteMultipartUpload 200 then, while it puts the parts
 * together, an <Error> body. 1 with res->error (extended with its Code
 * and Message) if so; tp->passing_code then holds a Code AWS documents
 * for a service in trouble for a moment (InternalError, SlowDown;
 * ServiceUnavailable and RequestTimeout as their statuses are), for
 * ask_again: such a completion was aborted and every part sent again,
 * though AWS asks that it be retried. Another Code (InvalidPart,
 * EntityTooSmall) is a refusal.
 *
 * A 2xx is a completion only if its body opens a
 * CompleteMultipartUploadResult (AWS, MinIO, Ceph and Garage all send
 * one; cut short after it opened, the object is verified, put_multipart):
 * an <Error> with a namespace, or one cut before its end, or no body at
 * all, was taken for done, and with verify = none or size the file was
 * logged delivered with no object made and its upload left open (found
 * from outside). Such an answer says nothing of what was made: it is
 * asked again as a moment's trouble ("without its result"), and a 404
 * NoSuchUpload then is the completion lost (completion_lost).
 */
static int
completion_error(struct s3_tp *tp, const char *key, struct push_result *res)
{
	static const char *const passing[] = { "InternalError", "SlowDown",
		"ServiceUnavailable", "RequestTimeout" };
	const char *b = tp->body.data ? tp->body.data : "", *v;
	char code[64] = "", msg[256] = "";
	size_t n;

	if (!s3xml_opens(b, tp->body.len, "Error")) {
		if (s3xml_opens(
		        b, tp->body.len, "CompleteMultipartUploadResult"))
			return 0;
		snprintf(res->error, sizeof(res->error),
		    "complete multipart upload %.200s: the service answered "
		    "%ld without a CompleteMultipartUploadResult (%zu bytes)",
		    key, tp->status, tp->body.len);
		(void)fmt_fixed(tp->passing_code, sizeof(tp->passing_code),
		    "without its result");
		return 1;
	}
	v = s3xml_find(b, tp->body.len, "Code", &n, NULL);
	if (v != NULL)
		(void)s3xml_text(v, n, code, sizeof(code));
	v = s3xml_find(b, tp->body.len, "Message", &n, NULL);
	if (v != NULL)
		(void)s3xml_text(v, n, msg, sizeof(msg));
	snprintf(res->error, sizeof(res->error),
	    "complete multipart upload %.200s: the service answered an "
	    "error%s%.60s%s%.150s",
	    key, code[0] ? ": " : "", code, msg[0] ? ": " : "", msg);
	/* An <Error> whose Code cannot be read (cut short) says no more
	 * than no result: asked again too. */
	if (code[0] == '\0')
		(void)fmt_fixed(tp->passing_code, sizeof(tp->passing_code),
		    "an error cut short");
	for (size_t i = 0; i < sizeof(passing) / sizeof(passing[0]); i++)
		if (strcmp(code, passing[i]) == 0 &&
		    fmt_fixed(tp->passing_code, sizeof(tp->passing_code), "%s",
		        code) < 0)
			tp->passing_code[0] = '\0';
	return 1;
}

/*
 * Whether the last request may have been asked twice: libcurl asks again
 * by itself, on a new connection, a request whose reused connection died
 * before any answer, and only says that it made a connection. Within a
 * push the connection of the request before is reused, so one made is
 * taken for that (at worst a needless look: a list, a verify).
 */
static int
asked_anew(struct s3_tp *tp)
{
	long conns = 0;

	return curl_easy_getinfo(tp->curl, CURLINFO_NUM_CONNECTS, &conns) ==
	    CURLE_OK &&
	    conns > 0;
}

/*
 * Whether the last reply, to a completion asked again (by the push, or
 * by libcurl: asked_anew), says the upload is gone: 404 NoSuchUpload.
 * AWS: a completion whose answer was lost may have worked, and the
 * upload then is no more. Asked again by libcurl alone, it failed the
 * push and every part went again (found by a review).
 */
static int
completion_lost(const struct s3_tp *tp)
{
	char code[64] = "";
	const char *v;
	size_t n;

	if (tp->curl_rc != CURLE_OK || tp->status != 404)
		return 0;
	v = s3xml_find(
	    tp->body.data ? tp->body.data : "", tp->body.len, "Code", &n, NULL);
	if (v == NULL || s3xml_text(v, n, code, sizeof(code)) < 0)
		return 0;
	return strcmp(code, "NoSuchUpload") == 0;
}

/* The time the last answer says it was made (its Date header, RFC 9110
 * section 6.6.1: the service's clock), or this clock's if it says none. */
static long long
reply_date(const struct s3_tp *tp)
{
	char d[128];
	time_t t;

	if (reply_header(tp, "Date", d, sizeof(d)) == 0 &&
	    (t = curl_getdate(d, NULL)) > 0)
		return (long long)t;
	return (long long)time(NULL);
}

/*
 * After a multipart start asked again and answered with upload id: an
 * earlier ask may have made an upload whose answer was lost (a cut, a
 * 500 from a proxy), recorded nowhere. Left, it held its key's parts
 * until the key's next multipart push or a lifecycle rule (found by a
 * review); the key's listed uploads but id are aborted now, those the
 * service says it made while the start was asked: from the first ask
 * (asked_s seconds before the answer, dated date by the service's own
 * clock, so that a clock here that is off does not matter) to the
 * answer, a second of slack each side for the services' whole seconds.
 * Every listed one was aborted, whatever its age: another writer's
 * upload of the key in progress with it (a second relayftpd), whose
 * next part then failed on NoSuchUpload (found by a review); before
 * the start, abort_stale_uploads already spares those (younger than
 * S3_STALE_UPLOAD_AGE_S). One that writer started in those very seconds
 * cannot be told from ours. The answer's time is the Initiated of the
 * upload answered (id), where the page listing the lost ones lists it
 * too (S3 lists a key's uploads by their start): a Date written by
 * another clock than the one that dates the uploads (a proxy in front,
 * nginx writing its own) moved the window by the clocks' difference,
 * our lost uploads left and another writer's started that much earlier
 * aborted (found by a review). Pages before the one that lists id
 * (a service of short pages, or a key with many uploads: the lost ones
 * come first) were judged by the answer's Date, or without one (HTTP
 * requires one of a server with a clock, not every service sends it)
 * by this clock: 40 s off the service's, ours were left and another
 * writer's started 40 s before aborted (found from outside). The list
 * is now read to id's page first, aborting only from there, then again
 * from its start with the window id's Initiated gives, as far as id's
 * page: read to its end again, the pages after id's (a key whose name
 * begins others', listed after it) were asked and judged twice (found
 * by a review: 100 such pages, 200 requests). Only a list that
 * never shows id is judged by the Date (or this clock). Best effort: a
 * list refused or failed is said and leaves them as before (a service
 * that lists no uploads: to a lifecycle rule).
 */
static void
abort_lost_starts(struct s3_tp *tp, const char *key, const char *id,
    long long date, uint64_t asked_ms)
{
	struct push_result r;
	long long span = (long long)(asked_ms / 1000) + 2, at = 0;
	long long since = date - span, before = date + 2;
	unsigned page = 0;
	int rc;

	memset(&r, 0, sizeof(r));
	/* A window of no time (at or after 2, before 1) until id's page. */
	rc = abort_listed_uploads(tp, key, id, 2, 1, span, &r, &at, &page, 0);
	if (rc == 0 && page != 1) {
		if (page > 1) {
			since = at - span;
			before = at + 2;
		}
		if (since < 1)
			since = 1; /* 0 would be "whenever" */
		memset(&r, 0, sizeof(r));
		rc = abort_listed_uploads(
		    tp, key, id, since, before, 0, &r, NULL, NULL, page > 1);
	}
	if (rc < 0)
		log_info("mirror target %s: %s: an upload made by a multipart "
		         "start whose answer was lost may be left (to the "
		         "key's next push, or a lifecycle rule)",
		    tp->t->name, r.error);
}

/*
 * A multipart start answered an UploadId (the text s[0..n)) longer than
 * S3_UPLOAD_ID_MAX: the push fails saying so, and that upload is aborted
 * now with its id whole (not recorded: the queue keeps ids up to that
 * size). An abort that fails leaves it to the key's next push, which
 * lists it; but a service that lists no uploads, or cannot abort, left
 * it open for good with nothing said of which it was (found by a
 * review): the log now quotes the id whole, in pieces of
 * S3_ID_PIECE bytes (a log line holds 2,048), so that an admin can abort
 * it. An id past S3_ID_PIECES pieces (more than any URL a service takes)
 * is said by its length alone: a hostile one must not flood the log.
 */
#define S3_ID_PIECE  1000u
#define S3_ID_PIECES 8u
static void
long_upload_id(struct s3_tp *tp, const char *key, const char *s, size_t n,
    struct push_result *res)
{
	char *id = s3xml_text_dup(s, n);
	char why[sizeof(res->error)] = "";
	size_t len, pieces;

	if (id == NULL) {
		snprintf(res->error, sizeof(res->error),
		    "start multipart upload %.300s: the service's UploadId is "
		    "%zu bytes, more than the %d taken here: out of memory "
		    "(the upload is left open)",
		    key, n, S3_UPLOAD_ID_MAX - 1);
		return;
	}
	len = strlen(id);
	(void)abort_upload(tp, key, id, why, sizeof(why));
	snprintf(res->error, sizeof(res->error),
	    "start multipart upload %.300s: the service's UploadId is %zu "
	    "bytes, more than the %d taken here (it begins %.40s): %s",
	    key, len, S3_UPLOAD_ID_MAX - 1, id,
	    why[0] == '\0' ? "aborted" : "its abort failed");
	if (why[0] != '\0') {
		pieces = (len + S3_ID_PIECE - 1) / S3_ID_PIECE;
		log_warn("mirror target %s: multipart upload of %.300s is left "
		         "open (%s), recorded nowhere: its UploadId is %zu "
		         "bytes, more than the queue keeps; %s",
		    tp->t->name, key, why, len,
		    pieces <= S3_ID_PIECES ?
		        "it follows, to abort it by hand" :
		        "too long to quote: the service's list of multipart "
		        "uploads, or a lifecycle rule, ends it");
		for (size_t i = 0; pieces <= S3_ID_PIECES && i < pieces; i++)
			log_warn(
			    "mirror target %s: UploadId left open of %.300s, "
			    "piece %zu of %zu: %.*s",
			    tp->t->name, key, i + 1, pieces,
			    (int)(len - i * S3_ID_PIECE < S3_ID_PIECE ?
			            len - i * S3_ID_PIECE :
			            S3_ID_PIECE),
			    id + i * S3_ID_PIECE);
	}
	free(id);
}

/*
 * Push, step 1 above multipart_threshold: initiate, parts, complete.
 *
 * With verify = hash, in a bucket not known for ETags that are not MD5s,
 * each part's ETag is compared with the MD5 of the bytes sent: a part
 * damaged on the way (at a service that checks neither the signed
 * payload hash nor a checksum) is sent again, up to S3_PART_SENDS times,
 * not the whole file. The completion's ETag is then compared with the
 * one those MD5s make (etag_multipart_core): another value fails the
 * push, the object being other than the parts sent. Before, a multipart
 * object was checked by its size alone, and a part damaged on receipt
 * passed (found by a review). Where no part's ETag is its MD5 (SSE-KMS,
 * SSE-C), verify reads the object back as for a single part; ETags of
 * another form leave the size (tp->mp_check).
 */
static int
put_multipart(struct s3_tp *tp, int fd, uint64_t size, const char *key,
    struct push_result *res)
{
	uint64_t psize = tp->t->part_size, nparts;
	char uploadid[S3_UPLOAD_ID_MAX] = "", hex[HASH_HEX_MAX], num[24];
	char pwhat[32];
	char pdesc[64]; /* "upload part N of PARTS": which, for the error */
	struct buf query, done;
	const char *v;
	size_t n;
	int rc = -1, matched = 0, whole_on = 0, probe = 0, lost = 0;
	unsigned starts;   /* tries of the multipart start */
	uint64_t asked_ms; /* when the first was asked (clock_mono_ms) */
	long long date;    /* the start's answer's, by the service's clock */
	enum mp_check check = MP_NONE;
	struct hash_ctx whole; /* MD5 of the parts' MD5s, while MP_CHECKED */

	tp->mp_odd[0] = '\0';
	while ((size + psize - 1) / psize > S3_PARTS_MAX)
		psize *= 2;
	nparts = size == 0 ? 1 : (size + psize - 1) / psize;
	buf_init(&query, 4096);
	/* Sized from the part count: the body is only ever full when
	 * memory is (S3_ETAG_MAX bounds each ETag, reply_header). */
	buf_init(&done, s3_complete_max(nparts, S3_ETAG_MAX - 1));
	if (abort_stale_uploads(tp, key, res) < 0)
		goto out;
	{
		struct s3_qparam q[] = { { "uploads", NULL } };
		struct s3_req rq = { "POST", key, "", NULL, NULL, "", 0, NULL,
			"start multipart upload" };

		if (s3_canon_query(&query, q, 1) < 0)
			goto oom;
		rq.query = buf_str(&query);
		/* Asked again as a part is: its failure failed the push, and
		 * the worker's backoff sent the file later. A first ask that
		 * made an upload, its answer lost, leaves one unrecorded:
		 * looked for once this one is recorded (below). */
		asked_ms = clock_mono_ms();
		for (starts = 1;; starts++) {
			if (s3_perform(tp, &rq, res) == 0)
				break;
			if (!ask_again(tp, NULL, "the multipart start", key,
			        starts, res)) {
				say_tries(res, starts);
				goto out;
			}
		}
	}
	date = reply_date(tp);
	v = s3xml_find(tp->body.data ? tp->body.data : "", tp->body.len,
	    "UploadId", &n, NULL);
	if (v != NULL && s3xml_text(v, n, uploadid, sizeof(uploadid)) < 0) {
		long_upload_id(tp, key, v, n, res);
		goto out;
	}
	if (v == NULL || uploadid[0] == '\0') {
		snprintf(res->error, sizeof(res->error),
		    "start multipart upload %.300s: no UploadId in the reply",
		    key);
		goto out;
	}
	if (tp->memo != NULL &&
	    tp->memo->add(tp->memo->ctx, tp->t->name, key, uploadid) < 0) {
		snprintf(res->error, sizeof(res->error),
		    "cannot record multipart upload %.200s in the queue",
		    uploadid);
		goto abort;
	}
	/* A start cut after it made an upload, asked again by libcurl
	 * itself (asked_anew), left one too, unseen here. */
	if (starts > 1 || asked_anew(tp))
		abort_lost_starts(
		    tp, key, uploadid, date, clock_mono_ms() - asked_ms);
	log_info("mirror target %s: multipart upload %s of %s: %llu parts",
	    tp->t->name, uploadid, key, (unsigned long long)nparts);
	if (tp->t->verify == VERIFY_HASH && hash_init(&whole, HASH_MD5) == 0) {
		whole_on = 1;
		check = MP_CHECKED;
		/* A bucket known for ETags that are not MD5s: verify's size,
		 * as for its single parts, but part 1's ETag is still
		 * compared with its MD5 (probe): a bucket whose encryption
		 * was turned off, with only multipart files coming, was
		 * never known again and its damaged parts passed on the
		 * size (found by a review). */
		if (bucket_kind(tp) == ETAGS_OTHER) {
			check = MP_NOT_MD5;
			probe = 1;
		}
	}
	if (buf_adds(&done, S3_COMPLETE_OPEN) < 0)
		goto oom;
	for (uint64_t i = 0; i < nparts; i++) {
		uint64_t start = i * psize;
		uint64_t end = start + psize < size ? start + psize : size;
		struct file_range rd;
		struct s3_qparam q[] = { { "uploadId", uploadid },
			{ "partNumber", num } };
		char etag[S3_ETAG_MAX], md5[HASH_HEX_MAX];
		const char *ehex;

		if (atomic_load(tp->stop)) {
			snprintf(res->error, sizeof(res->error), "stopping");
			goto abort;
		}
		if (fmt_fixed(num, sizeof(num), "%llu",
		        (unsigned long long)(i + 1)) < 0 ||
		    fmt_fixed(pwhat, sizeof(pwhat), "part %s", num) < 0 ||
		    fmt_fixed(pdesc, sizeof(pdesc), "upload part %s of %llu",
		        num, (unsigned long long)nparts) < 0 ||
		    hash_fd(fd, HASH_SHA256, start, end, tp->stop, hex) < 0 ||
		    ((check == MP_CHECKED || (probe && i == 0)) &&
		        hash_fd(fd, HASH_MD5, start, end, tp->stop, md5) < 0)) {
			snprintf(res->error, sizeof(res->error),
			    "cannot read the file: %s", strerror(errno));
			goto abort;
		}
		buf_reset(&query);
		if (s3_canon_query(&query, q, 2) < 0)
			goto abort_oom;
		for (int send = 1;; send++) {
			struct s3_req rq = { "PUT", key, buf_str(&query), hex,
				&rd, NULL, 0, NULL, pdesc };

			/* Each try reads the part's bytes from the file
			 * again. The parts before this one count as shown. */
			for (unsigned try = 1;; try++) {
				file_range_init(&rd, fd, start, end, start,
				    tp->progress, tp->progress_ctx);
				if (s3_perform(tp, &rq, res) == 0)
					break;
				/* Else the push fails on this try's error. */
				if (!ask_again(tp, &rd, pwhat, key, try, res)) {
					say_tries(res, try);
					goto abort;
				}
			}
			if (reply_header(tp, "ETag", etag, sizeof(etag)) < 0) {
				snprintf(res->error, sizeof(res->error),
				    "upload part %s of %.300s: no ETag in the "
				    "reply",
				    num, key);
				goto abort;
			}
			if (probe && i == 0 &&
			    (ehex = etag_md5_hex(etag)) != NULL &&
			    strncasecmp(ehex, md5, 32) == 0) {
				bucket_note(tp, ETAGS_MD5);
				log_info("mirror target %s: upload part 1 of "
				         "%s: its ETag is its MD5: the "
				         "bucket's ETags are MD5s again, each "
				         "part's checked",
				    tp->t->name, key);
				check = MP_CHECKED;
				matched = 1;
				break;
			}
			if (check != MP_CHECKED)
				break;
			if ((ehex = etag_md5_hex(etag)) == NULL) {
				check = MP_FORM_NEW;
				if (fmt_fixed(tp->mp_odd, sizeof(tp->mp_odd),
				        "part %s's ETag %s", num, etag) < 0)
					tp->mp_odd[0] = '\0';
				break;
			}
			if (strncasecmp(ehex, md5, 32) == 0) {
				matched = 1;
				break;
			}
			if (send < S3_PART_SENDS) {
				log_warn("mirror target %s: upload part %s of "
				         "%s: the service's ETag %s is not "
				         "\"%s\", the MD5 of the bytes sent: "
				         "sending the part again",
				    tp->t->name, num, key, etag, md5);
				continue;
			}
			/* A part of this upload had its MD5 for ETag: this
			 * one was damaged at each send. */
			if (matched) {
				res->mismatch = 1;
				snprintf(res->error, sizeof(res->error),
				    "upload part %.20s of %.280s: the service's "
				    "ETag %.40s is not \"%.32s\", the MD5 of the "
				    "bytes sent, %d times",
				    num, key, etag, md5, send);
				goto abort;
			}
			/* None had: ETags that are not MD5s (SSE-KMS), or a
			 * first part damaged at each send; verify's read
			 * back tells them apart. */
			check = MP_NOT_MD5;
			break;
		}
		if (check == MP_CHECKED) {
			unsigned char b[16];

			md5_bytes(md5, b);
			hash_update(&whole, b, sizeof(b));
		}
		if (s3_complete_part(&done, i + 1, etag) < 0)
			goto abort_oom;
	}
	if (buf_adds(&done, S3_COMPLETE_CLOSE) < 0)
		goto abort_oom;
	{
		struct s3_qparam q[] = { { "uploadId", uploadid } };
		struct hash_ctx h;
		struct s3_req rq = { "POST", key, "", hex, NULL, done.data,
			done.len, NULL, "complete multipart upload" };

		buf_reset(&query);
		if (s3_canon_query(&query, q, 1) < 0 ||
		    hash_init(&h, HASH_SHA256) < 0)
			goto abort_oom;
		hash_update(&h, done.data, done.len);
		if (hash_final(&h, hex) < 0)
			goto abort_oom;
		rq.query = buf_str(&query);
		/* Answered once the parts are put together: minutes for a
		 * big object, AWS sending blanks meanwhile to keep the
		 * connection, as for a copy. Under min_rate those blanks are
		 * a trickle, and a finished upload failed and went again. */
		for (unsigned try = 1;; try++) {
			int done_rc;

			tp->copying = 1;
			done_rc = s3_perform(tp, &rq, res);
			tp->copying = 0;
			if (done_rc == 0 && !completion_error(tp, key, res))
				break;
			if ((try > 1 || asked_anew(tp)) &&
			    completion_lost(tp)) {
				lost = 1;
				break;
			}
			/* Else the push fails on this try's error. */
			if (!ask_again(
			        tp, NULL, "the completion", key, try, res)) {
				say_tries(res, try);
				goto abort;
			}
		}
		if (lost) {
			/* Not a refusal of the file: the first ask was a
			 * moment's failure, and this 404 says the upload is
			 * done or gone. */
			res->refused = res->file_refused = 0;
			res->retry_after_s = 0;
		}
		if (lost && check != MP_CHECKED) {
			/* Nothing would compare the object's content with the
			 * parts (verify = none, or size: an older object of the
			 * same size at the key passed, found by a review; or
			 * ETags that are not the parts' MD5s): it may be
			 * missing or another (an upload aborted meanwhile by
			 * another client). The push fails and the file goes
			 * again, as before. */
			snprintf(res->error, sizeof(res->error),
			    "complete multipart upload %.300s: asked again, "
			    "the upload is gone (NoSuchUpload), and verify "
			    "cannot compare the object with the parts sent to "
			    "tell whether the first ask made it",
			    key);
			if (tp->memo != NULL)
				(void)tp->memo->forget(
				    tp->memo->ctx, tp->t->name, key, uploadid);
			goto out;
		}
		if (lost) {
			/* Asked again, the upload is gone: the first ask most
			 * likely made the object, its answer lost on the way.
			 * Taken for done with its ETag unknown, as an answer
			 * cut before it: verify judges the object, and a wrong
			 * or missing one fails the push (the file goes again).
			 * An abort would fail a push that may be done. */
			log_warn("mirror target %s: %s: the completion asked "
			         "again answered 404 NoSuchUpload: taken for "
			         "done (the first ask's answer lost), the "
			         "object is verified",
			    tp->t->name, key);
			res->error[0] = '\0';
		}
	}
	if (tp->memo != NULL)
		(void)tp->memo->forget(
		    tp->memo->ctx, tp->t->name, key, uploadid);
	v = lost ? NULL :
	           s3xml_find(tp->body.data ? tp->body.data : "", tp->body.len,
	               "ETag", &n, NULL);
	if (v == NULL ||
	    s3xml_text(v, n, tp->put_etag, sizeof(tp->put_etag)) < 0)
		tp->put_etag[0] = '\0';
	if (check == MP_CHECKED) {
		char got[64], want[64], whex[HASH_HEX_MAX];

		whole_on = 0;
		if (hash_final(&whole, whex) < 0 ||
		    fmt_fixed(want, sizeof(want), "%.32s-%llu", whex,
		        (unsigned long long)nparts) < 0)
			check = MP_NONE;
		else if (tp->put_etag[0] == '\0') {
			/* An answer cut short or without its ETag (found from
			 * outside: taken for ETags of a form not known here,
			 * the whole went unchecked): HEAD's is compared. */
			memcpy(tp->mp_want, want, sizeof(tp->mp_want));
			check = bucket_mp(tp, MP_WHOLE_OTHER) ? MP_PARTS :
			                                        MP_AT_HEAD;
		} else if (etag_multipart_core(tp->put_etag, got) < 0) {
			check = MP_FORM_NEW;
			if (fmt_fixed(tp->mp_odd, sizeof(tp->mp_odd),
			        "the completion's ETag %s", tp->put_etag) < 0)
				tp->mp_odd[0] = '\0';
		} else if (bucket_mp(tp, MP_WHOLE_OTHER))
			check = MP_PARTS;
		else if (strcmp(got, want) != 0) {
			/* Each part was as sent; the whole is not them, or the
			 * service (or a proxy) writes the whole's ETag another
			 * way: AWS calls it opaque. Failing here failed every
			 * multipart push for ever at such a service (found by
			 * a review): verify reads the object back instead. */
			log_warn(
			    "mirror target %s: complete multipart upload "
			    "%s: the service's ETag \"%s\" is not \"%s\", "
			    "the one of the parts sent: reading the object "
			    "back to compare",
			    tp->t->name, key, got, want);
			check = MP_WHOLE_NEW;
		}
	}
	if (fmt_fixed(tp->put_key, sizeof(tp->put_key), "%s", key) < 0)
		tp->put_etag[0] = tp->put_key[0] = '\0';
	tp->mp_check = check;
	tp->mp_psize = psize;
	tp->mp_nparts = nparts;
	rc = 0;
	goto out;
abort_oom:
	snprintf(res->error, sizeof(res->error), "out of memory");
abort:
	/* No orphaned parts: they would bill the owner forever. */
	if (abort_now(tp, key, uploadid, res) == 0)
		(void)abort_upload(tp, key, uploadid, NULL, 0);
	goto out;
oom:
	snprintf(res->error, sizeof(res->error), "out of memory");
out:
	if (whole_on)
		hash_abandon(&whole);
	buf_free(&query);
	buf_free(&done);
	return rc;
}

/* Whether the queue recorded a multipart upload of key (a crash cut it
 * short): a put of a file now under the threshold must abort it too. */
static int
has_recorded_upload(struct s3_tp *tp, const char *key)
{
	struct buf ids;
	int n;

	if (tp->memo == NULL)
		return 0;
	buf_init(&ids, 64 * 1024);
	n = tp->memo->ids(tp->memo->ctx, tp->t->name, key, &ids);
	buf_free(&ids);
	return n != 0; /* an unreadable record: look, to be safe */
}

/* Push, step 1: the object, whole (one PUT, or multipart when large). The
 * final key is written: an object appears only once complete. */
static int
s3_put(void *impl, int fd, uint64_t size, const char *rpath, int64_t tag,
    struct push_result *res)
{
	struct s3_tp *tp = impl;
	char key[RFTP_PATH_MAX + 64], hex[HASH_HEX_MAX], b64[48];
	struct file_range rd;
	struct curl_slist *extra = NULL;
	struct buf line;
	int rc = -1;

	(void)tag;
	tp->put_etag[0] = tp->put_key[0] = '\0';
	tp->mp_check = MP_NONE;
	if (key_of(tp, rpath, key, sizeof(key), res) < 0)
		return -1;
	if (size >= tp->t->multipart_threshold)
		return put_multipart(tp, fd, size, key, res);
	if (has_recorded_upload(tp, key) &&
	    abort_stale_uploads(tp, key, res) < 0)
		return -1;
	if (hash_fd(fd, HASH_SHA256, 0, size, tp->stop, hex) < 0) {
		snprintf(res->error, sizeof(res->error),
		    "cannot read the file: %s", strerror(errno));
		return -1;
	}
	/* The service checks the bytes against the checksum on receipt and
	 * keeps it, for verify = hash. */
	hex_to_base64(hex, b64);
	buf_init(&line, 256);
	if (buf_printf(&line, "x-amz-checksum-sha256: %s", b64) == 0)
		extra = curl_slist_append(NULL, buf_str(&line));
	if (extra != NULL) {
		struct s3_req rq = { "PUT", key, "", hex, &rd, NULL, 0, extra,
			"upload" };

		/* Asked again as a part is (a 503 or a cut failed the push,
		 * and the worker sent the file later); each try reads the
		 * file again from its start. */
		for (unsigned try = 1;; try++) {
			file_range_init(&rd, fd, 0, size, 0, tp->progress,
			    tp->progress_ctx);
			rc = s3_perform(tp, &rq, res);
			if (rc == 0)
				break;
			if (!ask_again(tp, &rd, "the PUT", key, try, res)) {
				say_tries(res, try);
				break;
			}
		}
		if (rc == 0 &&
		    (reply_header(
		         tp, "ETag", tp->put_etag, sizeof(tp->put_etag)) < 0 ||
		        fmt_fixed(tp->put_key, sizeof(tp->put_key), "%s", key) <
		            0))
			tp->put_etag[0] = tp->put_key[0] = '\0';
	} else {
		snprintf(res->error, sizeof(res->error), "out of memory");
	}
	curl_slist_free_all(extra);
	buf_free(&line);
	return rc;
}

/* Which way verify = hash checked key: said at info level the first time
 * a transport uses each way (a camera's thousand files need not repeat
 * it), at debug level after. */
static void
say_method(struct s3_tp *tp, unsigned m, const char *key, const char *how)
{
	if (tp->said & (1u << m)) {
		log_debug(
		    "mirror target %s: verify %s: %s", tp->t->name, key, how);
		return;
	}
	tp->said |= 1u << m;
	log_info("mirror target %s: verify %s: %s", tp->t->name, key, how);
}

/*
 * Reads key back whole and compares its SHA-256 with the file's (hex,
 * sha256 of size bytes). 1 if the same, 0 if it differs, 2 if the
 * service answered 403 (reading is not allowed; res->error says so), -1
 * with res->error if it could not be read.
 */
static int
s3_readback(struct s3_tp *tp, const char *key, uint64_t size,
    const char hex[HASH_HEX_MAX], struct push_result *res)
{
	struct s3_req rq = { "GET", key, "", NULL, NULL, NULL, 0, NULL,
		"verify (read back)" };
	struct hash_ctx h;
	char got[HASH_HEX_MAX];
	int rc;

	if (hash_init(&h, HASH_SHA256) < 0) {
		snprintf(res->error, sizeof(res->error),
		    "verify %.300s: no SHA-256 digest here", key);
		return -1;
	}
	tp->readback = &h;
	tp->readback_n = 0;
	tp->readback_size = size;
	tp->readback_over = 0;
	rc = s3_perform(tp, &rq, res);
	tp->readback = NULL;
	if (rc < 0 && tp->readback_over) {
		hash_abandon(&h);
		return 0;
	}
	if (rc < 0) {
		hash_abandon(&h);
		return tp->status == 403 ? 2 : -1;
	}
	if (hash_final(&h, got) < 0) {
		snprintf(res->error, sizeof(res->error),
		    "verify %.300s: no SHA-256 digest here", key);
		return -1;
	}
	return tp->readback_n == size && strcmp(got, hex) == 0;
}

/*
 * The file (fd, size) compared with key read back whole (s3_readback):
 * 0 the same bytes, 1 other bytes, 2 not allowed to read (HTTP 403: the
 * size stands, res says so and the log says once, as say_id and why,
 * what to grant), -1 with res->error. A role may PUT and HEAD but not
 * read the bytes back (a write-only policy; SSE-KMS without kms:Decrypt,
 * which a GET needs and a HEAD does not): refusing the copy for that
 * failed every push for ever, each file sent again at each retry (found
 * by a review). Not remembered here: verify_not_md5 remembers the bucket
 * for it, verify_mp_read_back does not (its parts were each checked).
 */
static int
read_back_same(struct s3_tp *tp, int fd, uint64_t size, const char *key,
    int say_id, const char *why, struct push_result *res)
{
	char sha[HASH_HEX_MAX];
	int same;

	if (hash_fd(fd, HASH_SHA256, 0, size, tp->stop, sha) < 0) {
		snprintf(res->error, sizeof(res->error),
		    "cannot read the file: %s", strerror(errno));
		return -1;
	}
	same = s3_readback(tp, key, size, sha, res);
	if (same < 0)
		return -1;
	if (same == 0)
		return 1;
	if (same == 2) {
		res->error[0] = '\0';
		res->refused = res->file_refused = 0;
		res->verify_used = "size";
		res->fell_back = 1;
		say_method(tp, say_id, key, why);
		return 2;
	}
	return 0;
}

/*
 * verify = hash of key whose ETag is not the file's MD5 but the very one
 * the service answered its upload with: either the service's ETags are
 * not MD5s (AWS's for SSE-KMS and SSE-C objects, services that encrypt),
 * or they are and the body was damaged on the way in, at a service that
 * checks neither the signed payload hash nor the checksum (the upload
 * then answered with the damaged bytes' ETag). Taken for the first,
 * every push failed for ever in such a bucket (9d2eb75); for the second,
 * a damaged copy passed on its size. In a bucket whose ETags were not
 * MD5s the size stands, as 9d2eb75 has it; elsewhere (a bucket not known
 * yet: the first file of a run; or one seen with MD5s, which may have
 * turned to SSE-KMS since) the object is read back whole, once: the same
 * bytes, and the bucket is known for one whose ETags are not MD5s; other
 * bytes, and the copy is sent again (found by a review). A multipart
 * upload none of whose parts had its MD5 for ETag comes here too. 0 if
 * the copy passes (res says how), 1 if it differs, -1 with res->error.
 */
static int
verify_not_md5(struct s3_tp *tp, int fd, uint64_t size, const char *key,
    struct push_result *res)
{
	enum etag_kind was = bucket_kind(tp);
	int same;

	if (was == ETAGS_OTHER) {
		res->verify_used = "size";
		res->fell_back = 1;
		say_method(tp, 3, key,
		    "size only (the service's ETag is not the "
		    "MD5 of the bytes, and it keeps no SHA-256 "
		    "checksum)");
		return 0;
	}
	same = read_back_same(tp, fd, size, key, 4,
	    "size only (its ETag is not its MD5, the service keeps no SHA-256 "
	    "checksum, and the object could not be read back: HTTP 403; grant "
	    "s3:GetObject, and kms:Decrypt for SSE-KMS, for its bytes to be "
	    "compared)",
	    res);
	if (same == 2) {
		/* Not allowed to read: the size stands now and at every later
		 * object, the read back being refused the same way. Not
		 * remembered, part 1 of every multipart file went twice (its
		 * ETag not its MD5, put_multipart) and each object was asked
		 * for again in vain (found by a review). A bucket whose ETags
		 * are MD5s after all says so at its next good object
		 * (s3_verify notes ETAGS_MD5 again). */
		bucket_note(tp, ETAGS_OTHER);
		log_info("mirror target %s: verify %s: its ETag is not its MD5 "
		         "and it could not be read back (HTTP 403): the "
		         "bucket's ETags are taken for ones that are not MD5s, "
		         "and verify is size only in this bucket from now on",
		    tp->t->name, key);
		return 0;
	}
	if (same != 0)
		return same;
	/* The bytes were compared whole: the log says hash, not the size
	 * s3_verify started from (an admin read verify=size for an object
	 * read back and compared: found by a review). */
	res->verify_used = "hash";
	res->fell_back = 0;
	bucket_note(tp, ETAGS_OTHER);
	log_info("mirror target %s: verify %s: read back whole "
	         "and the same, though its ETag is not its MD5: "
	         "the bucket's ETags %s MD5s (size only from "
	         "now on, the service keeping no SHA-256 "
	         "checksum)",
	    tp->t->name, key, was == ETAGS_MD5 ? "are no longer" : "are not");
	return 0;
}

/*
 * verify = hash of key put in parts whose ETags were each the MD5 of the
 * bytes sent, where an ETag does not say the object is them: the whole's
 * is not the MD5 of those MD5s (fact MP_WHOLE_OTHER: the parts put
 * together otherwise than sent, or the service makes it another way),
 * or HEAD's is not the one the completion answered (MP_HEAD_OTHER:
 * another copy there now, or a proxy rewriting it). Failing for such a
 * scheme failed every multipart push for ever (found by a review). The
 * object is read back whole (streamed SHA-256, bounded time): the same
 * bytes, and the bucket is known for fact (said once; later objects are
 * not read back for it); other bytes, and the copy is sent again. 0 if
 * the copy passes, 1 if it differs, -1 with res->error.
 */
static int
verify_mp_read_back(struct s3_tp *tp, int fd, uint64_t size, const char *key,
    enum mp_fact fact, struct push_result *res)
{
	int same;

	res->verify_used = "hash";
	/* Not allowed to read: the parts were each checked, the size
	 * stands, as for a single part (verify_not_md5). */
	same = read_back_same(tp, fd, size, key, 8,
	    "size and each part's ETag (the object's ETag does not say it is "
	    "those parts, and it could not be read back: HTTP 403; grant "
	    "s3:GetObject for its bytes to be compared)",
	    res);
	if (same != 0)
		return same == 2 ? 0 : same;
	if (fact != MP_NO_FACT && bucket_note_mp(tp, fact))
		log_info("mirror target %s: verify %s: read back whole and the "
		         "same, though %s: %s (each part's ETag still checked "
		         "from now on, %s)",
		    tp->t->name, key,
		    fact == MP_WHOLE_OTHER ?
		        "its ETag is not the MD5 of the parts' MD5s" :
		        "its ETag at HEAD is not the one its upload's "
		        "completion answered",
		    fact == MP_WHOLE_OTHER ?
		        "this service's multipart ETags are not MD5-of-MD5s" :
		        "this service (or a proxy before it) answers another "
		        "ETag at HEAD",
		    fact == MP_WHOLE_OTHER ? "the whole's not compared" :
		                             "HEAD's not compared");
	return 0;
}

/*
 * In a bucket whose multipart ETags are made another way (MP_PARTS),
 * each part's ETag was its MD5, but nothing said the object is those
 * parts in the order sent: parts put together in another order (same
 * sizes) passed (found by a review). The first S3_SAMPLE_BYTES of each
 * part are read back (a Range GET each, a few KiB per part where a
 * whole read back is the object) and compared with the file there. 0
 * the same (or the service cannot say: 403, or no Range, said once), 1
 * other bytes, -1 with res->error.
 *
 * A 206 is compared at the range its Content-Range names, as many bytes
 * as came (S3_SAMPLE_BYTES at most; more are cut): HTTP lets a service
 * (or a proxy before it) answer more, fewer or other bytes than asked,
 * and taken for the range asked, a good copy "differed" at every
 * attempt and was sent again for ever (found by a review). A 206
 * without a Content-Range cannot say where its bytes are.
 */
#define S3_SAMPLE_BYTES 4096u

/* The first byte's offset of a Content-Range "bytes A-B/T" (RFC 9110
 * 14.4; T may be "*"): 0 and *at, or -1 for another form. */
static int
content_range_start(const char *v, uint64_t *at)
{
	char num[24];
	const char *dash;
	size_t n;

	if (strncmp(v, "bytes ", 6) != 0)
		return -1;
	v += 6;
	dash = strchr(v, '-');
	n = dash != NULL ? (size_t)(dash - v) : 0;
	if (n == 0 || n >= sizeof(num) || strchr(dash, '/') == NULL)
		return -1;
	memcpy(num, v, n);
	num[n] = '\0';
	return parse_u64(num, UINT64_MAX, at);
}

/*
 * Whether a part's start read back that failed (rc, status) is asked
 * again, after try * 250 ms (0 if the daemon stops meanwhile): a
 * transient failure (no answer, a 206 cut short, 5xx, 408, 429
 * SlowDown). Each failure failed the push and the whole file was sent
 * again: with thousands of parts, one GET each, a service failing one
 * request in a few thousand had the file sent again and again (found by
 * a review). An answer that asked for a pause (asked_s, its Retry-After)
 * is asked again no sooner: up to S3_WAIT_IN_PUSH_MAX_S here, a longer
 * one ends the read back and the worker rests the target what was asked,
 * held to retry_max (the GET was asked again after 250 ms whatever the
 * service said, found by a review).
 */
#define S3_SAMPLE_TRIES 3u
static int
sample_again(
    struct s3_tp *tp, int rc, long status, unsigned try, int64_t asked_s)
{
	uint64_t wait_ms = try * 250u;

	if (rc == 0 || tp->readback_over || atomic_load(tp->stop) ||
	    !(status == 0 || status == 206 || status == 408 || status == 429 ||
	        status >= 500))
		return 0;
	if (asked_s > S3_WAIT_IN_PUSH_MAX_S)
		return 0;
	if (asked_s > 0 && (uint64_t)asked_s * 1000 > wait_ms)
		wait_ms = (uint64_t)asked_s * 1000;
	return s3_pause(tp, (int64_t)wait_ms) == 0;
}

static int
mp_sample_parts(struct s3_tp *tp, int fd, uint64_t size, const char *key,
    struct push_result *res)
{
	for (uint64_t i = 0; i < tp->mp_nparts; i++) {
		uint64_t start = i * tp->mp_psize, len = size - start, at = 0;
		char want[HASH_HEX_MAX], got[HASH_HEX_MAX], range[80];
		struct curl_slist *extra;
		struct hash_ctx h;
		long status = 0;
		int rc;

		if (start >= size)
			break;
		if (len > S3_SAMPLE_BYTES)
			len = S3_SAMPLE_BYTES;
		if (fmt_fixed(range, sizeof(range), "Range: bytes=%llu-%llu",
		        (unsigned long long)start,
		        (unsigned long long)(start + len - 1)) < 0 ||
		    (extra = curl_slist_append(NULL, range)) == NULL) {
			snprintf(
			    res->error, sizeof(res->error), "out of memory");
			return -1;
		}
		for (unsigned try = 1;; try++) {
			struct s3_req rq = { "GET", key, "", NULL, NULL, NULL,
				0, extra, "verify (read back a part's start)" };

			if (hash_init(&h, HASH_SHA256) < 0) {
				curl_slist_free_all(extra);
				snprintf(res->error, sizeof(res->error),
				    "verify %.300s: no SHA-256 digest here",
				    key);
				return -1;
			}
			tp->readback = &h;
			tp->readback_n = 0;
			tp->readback_size = len;
			tp->readback_over = 0;
			tp->readback_cut = 1;
			status = 0;
			rc = s3_perform(tp, &rq, res);
			tp->readback = NULL;
			tp->readback_cut = 0;
			(void)curl_easy_getinfo(
			    tp->curl, CURLINFO_RESPONSE_CODE, &status);
			if (try >= S3_SAMPLE_TRIES ||
			    !sample_again(
			        tp, rc, status, try, res->retry_after_s))
				break;
			hash_abandon(&h);
			log_info(
			    "mirror target %s: %s: trying again (%u of %u)",
			    tp->t->name, res->error, try + 1, S3_SAMPLE_TRIES);
		}
		curl_slist_free_all(extra);
		/* Ended by the cut at len bytes: those came whole. */
		if (rc < 0 && status == 206 && tp->readback_over &&
		    tp->readback_n == len)
			rc = 0;
		if (rc == 0 && status == 206 &&
		    (reply_header(tp, "Content-Range", range, sizeof(range)) <
		            0 ||
		        content_range_start(range, &at) < 0 ||
		        tp->readback_n == 0 || at >= size ||
		        tp->readback_n > size - at))
			status = 0; /* cannot say where its bytes are */
		if (rc < 0 || status != 206) {
			hash_abandon(&h);
			if (status == 403 || status == 200 || status == 416 ||
			    (rc == 0 && status == 0)) {
				/* Not allowed to read, or the whole object
				 * answered (no Range), or bytes not said
				 * where: the parts' ETags and the size
				 * stand. */
				memset(res, 0, sizeof(*res));
				res->verify_used = "hash";
				say_method(tp, 9, key,
				    "each part's ETag (the start of each part "
				    "could not be read back: no Range GET, a "
				    "206 without its Content-Range, or HTTP "
				    "403)");
				return 0;
			}
			return -1;
		}
		res->error[0] = '\0';
		if (hash_final(&h, got) < 0) {
			snprintf(res->error, sizeof(res->error),
			    "verify %.300s: no SHA-256 digest here", key);
			return -1;
		}
		if (hash_fd(fd, HASH_SHA256, at, at + tp->readback_n, tp->stop,
		        want) < 0) {
			snprintf(res->error, sizeof(res->error),
			    "cannot read the file: %s", strerror(errno));
			return -1;
		}
		if (strcmp(got, want) != 0) {
			log_warn("mirror target %s: verify %s: the %llu bytes "
			         "at %llu (part %llu's start) are not the "
			         "file's there",
			    tp->t->name, key,
			    (unsigned long long)tp->readback_n,
			    (unsigned long long)at,
			    (unsigned long long)(i + 1));
			return 1;
		}
	}
	return 0;
}

/* Push, step 2: HEAD of the object: its size, and for verify = hash the
 * SHA-256 checksum the service kept, else the MD5 a single-part ETag is. */
static int
s3_verify(void *impl, int fd, uint64_t size, const char *rpath, int64_t tag,
    struct push_result *res)
{
	struct s3_tp *tp = impl;
	char key[RFTP_PATH_MAX + 64], val[256], hex[HASH_HEX_MAX], b64[48];
	struct curl_slist *extra = NULL;
	long long remote;
	char *end;
	int rc = -1;

	(void)tag;
	if (tp->t->verify == VERIFY_NONE)
		return 0;
	if (key_of(tp, rpath, key, sizeof(key), res) < 0)
		return -1;
	if (tp->t->verify == VERIFY_HASH) {
		extra = curl_slist_append(NULL, "x-amz-checksum-mode: ENABLED");
		if (extra == NULL) {
			snprintf(
			    res->error, sizeof(res->error), "out of memory");
			return -1;
		}
	}
	{
		struct s3_req rq = { "HEAD", key, "", NULL, NULL, NULL, 0,
			extra, "verify" };

		if (s3_perform(tp, &rq, res) < 0)
			goto out;
	}
	res->verify_used = "size";
	errno = 0;
	if (reply_header(tp, "Content-Length", val, sizeof(val)) < 0 ||
	    (remote = strtoll(val, &end, 10), errno != 0 || *end != '\0') ||
	    remote != (long long)size) {
		res->mismatch = 1;
		snprintf(res->error, sizeof(res->error),
		    "verify %.300s: the service has %.30s bytes, expected %llu",
		    key, val, (unsigned long long)size);
		goto out;
	}
	if (tp->t->verify == VERIFY_SIZE) {
		rc = 0;
		goto out;
	}
	if (reply_header(tp, "x-amz-checksum-sha256", val, sizeof(val)) == 0) {
		if (hash_fd(fd, HASH_SHA256, 0, size, tp->stop, hex) < 0)
			goto unreadable;
		hex_to_base64(hex, b64);
		res->verify_used = "hash";
		say_method(tp, 0, key, "SHA-256 checksum");
		if (strcmp(val, b64) != 0)
			goto differs;
		rc = 0;
		goto out;
	}
	/* An object this transport just put in parts: what put_multipart
	 * learned of its ETags. The object's ETag must still be the one
	 * its completion answered (else another copy is there now). */
	if (tp->mp_check != MP_NONE && strcmp(tp->put_key, key) == 0) {
		char how[400];

		if (reply_header(tp, "ETag", val, sizeof(val)) < 0)
			val[0] = '\0';
		switch (tp->mp_check) {
		case MP_NONE:
			break;
		case MP_CHECKED:
			res->verify_used = "hash";
			say_method(tp, 5, key,
			    "ETag of the parts' MD5s (each part's ETag was the "
			    "MD5 of the bytes sent, the service keeps no "
			    "SHA-256 checksum)");
			goto head;
		case MP_NOT_MD5:
			if (tp->put_etag[0] != '\0' &&
			    !etag_same(val, tp->put_etag)) {
				res->verify_used = "hash";
				goto differs;
			}
			rc = verify_not_md5(tp, fd, size, key, res);
			if (rc == 1)
				goto differs;
			goto out;
		case MP_PARTS:
			/* The whole's ETag says nothing here: the start of each
			 * part must be where it was sent (parts put together in
			 * another order passed on their own ETags). */
			rc = mp_sample_parts(tp, fd, size, key, res);
			if (rc == 1) {
				res->verify_used = "hash";
				goto differs;
			}
			if (rc < 0)
				goto out;
			rc = -1;
			res->verify_used = "hash";
			say_method(tp, 7, key,
			    "each part's ETag the MD5 of the bytes sent, and the "
			    "start of each part read back where it was sent (this "
			    "service's multipart ETags are not the MD5 of the "
			    "parts' MD5s, and it keeps no SHA-256 checksum)");
			goto head;
		case MP_AT_HEAD: {
			char got[64];

			if (etag_multipart_core(val, got) == 0 &&
			    strcmp(got, tp->mp_want) == 0) {
				res->verify_used = "hash";
				say_method(tp, 5, key,
				    "ETag of the parts' MD5s (each part's ETag "
				    "was the MD5 of the bytes sent, the service "
				    "keeps no SHA-256 checksum)");
				rc = 0;
				goto out;
			}
			log_warn(
			    "mirror target %s: verify %s: the completion "
			    "answered no ETag, and HEAD's %s is not \"%s\", "
			    "the one of the parts sent: reading the object "
			    "back to compare",
			    tp->t->name, key, val[0] ? val : "(none)",
			    tp->mp_want);
		}
			/* Not a comment: clang's -Wimplicit-fallthrough (the fuzz
			 * build's) reads none after a block. */
			__attribute__((fallthrough));
		case MP_WHOLE_NEW:
			/* Read back whatever HEAD's ETag. */
			rc = verify_mp_read_back(
			    tp, fd, size, key, MP_WHOLE_OTHER, res);
			if (rc == 1)
				goto differs;
			goto out;
		case MP_FORM_NEW:
			/* Never a good copy refused for a scheme not known
			 * here: the size stands, said once. */
			res->fell_back = 1;
			(void)fmt_fixed(how, sizeof(how),
			    "size only (the service's multipart ETags are in a "
			    "form not known here: %.100s; no SHA-256 checksum)",
			    tp->mp_odd[0] ? tp->mp_odd : "none");
			say_method(tp, 6, key, how);
			rc = 0;
			goto out;
		}
	}
	/* A single-part ETag is the object's MD5 in quotes; a multipart
	 * one has "-N" and says nothing of the bytes. */
	if (reply_header(tp, "ETag", val, sizeof(val)) == 0 &&
	    strlen(val) == 34 && val[0] == '"' && val[33] == '"' &&
	    strspn(val + 1, "0123456789abcdef") == 32) {
		if (hash_fd(fd, HASH_MD5, 0, size, tp->stop, hex) < 0)
			goto unreadable;
		res->verify_used = "hash";
		if (strncmp(val + 1, hex, 32) == 0) {
			bucket_note(tp, ETAGS_MD5);
			say_method(tp, 1, key,
			    "ETag MD5 (the service keeps no SHA-256 checksum)");
			rc = 0;
			goto out;
		}
		/* Not the MD5, and the very ETag the service answered this
		 * PUT with: ETags that are not MD5s, or a body damaged on
		 * the way in (verify_not_md5). An ETag other than the PUT's
		 * answer still differs. */
		if (tp->put_etag[0] != '\0' && strcmp(tp->put_key, key) == 0 &&
		    strcmp(tp->put_etag, val) == 0) {
			rc = verify_not_md5(tp, fd, size, key, res);
			if (rc == 1)
				goto differs;
			goto out;
		}
		say_method(tp, 1, key,
		    "ETag MD5 (the service keeps no SHA-256 checksum)");
		goto differs;
	}
	res->fell_back = 1;
	say_method(
	    tp, 2, key, "size only (no SHA-256 checksum and no MD5 ETag)");
	rc = 0;
	goto out;
head:
	/* Parts checked (MP_CHECKED, MP_PARTS): the object at HEAD must be
	 * the one the completion answered; an ETag other than that one is
	 * read back, unless the bucket is known to answer so. */
	rc = 0;
	if (tp->put_etag[0] == '\0') {
		/* The completion answered no ETag (cut short): nothing to
		 * compare HEAD's with, and nothing learned of the bucket.
		 * Taken for a proxy rewriting ETags, the bucket was noted
		 * so and HEAD's never compared again there (found by a
		 * review). Read back whole, this object only. */
		rc = verify_mp_read_back(tp, fd, size, key, MP_NO_FACT, res);
		if (rc == 1)
			goto differs;
	} else if (!etag_same(val, tp->put_etag) &&
	    !bucket_mp(tp, MP_HEAD_OTHER)) {
		rc = verify_mp_read_back(tp, fd, size, key, MP_HEAD_OTHER, res);
		if (rc == 1)
			goto differs;
	}
	goto out;
differs:
	res->mismatch = 1;
	snprintf(res->error, sizeof(res->error),
	    "verify %.300s: the stored object's digest differs from the "
	    "file's",
	    key);
	goto out;
unreadable:
	snprintf(res->error, sizeof(res->error), "cannot read the file: %s",
	    strerror(errno));
out:
	curl_slist_free_all(extra);
	return rc;
}

/* Push, step 3: nothing; the object appeared whole at put. */
static int
s3_publish(void *impl, const char *rpath, int64_t tag, struct push_result *res)
{
	(void)impl;
	(void)rpath;
	(void)tag;
	(void)res;
	return 0;
}

/*
 * What an earlier attempt may have left of rpath: no temporary object
 * (the final key is written whole), but a multipart upload a crash cut
 * short, whose parts bill the owner until aborted. The worker calls this
 * when a job that was tried ends without a push (its file is gone or was
 * replaced): the next upload of the key may never come, or be small. 0,
 * or -1 (the job stays, and this is tried again).
 */
static int
s3_discard(void *impl, const char *rpath, int64_t tag)
{
	struct s3_tp *tp = impl;
	char key[RFTP_PATH_MAX + 64];
	struct push_result res;

	(void)tag;
	memset(&res, 0, sizeof(res));
	if (key_of(tp, rpath, key, sizeof(key), &res) < 0)
		return -1;
	if (abort_stale_uploads(tp, key, &res) < 0) {
		log_warn("mirror target %s: %s", tp->t->name, res.error);
		return -1;
	}
	return 0;
}

static int
s3_delete_key(struct s3_tp *tp, const char *key, struct push_result *res)
{
	struct s3_req rq = { "DELETE", key, "", NULL, NULL, NULL, 0, NULL,
		"delete" };

	/* S3 answers 204 for a key that is not there; some services 404. */
	if (s3_perform(tp, &rq, res) == 0 || tp->status == 404) {
		res->refused = 0;
		res->file_refused = 0;
		res->error[0] = '\0';
		return 0;
	}
	return -1;
}

static int
s3_remove(void *impl, const char *rpath, struct push_result *res)
{
	struct s3_tp *tp = impl;
	char key[RFTP_PATH_MAX + 64];

	memset(res, 0, sizeof(*res));
	res->verify_used = "none";
	if (key_of(tp, rpath, key, sizeof(key), res) < 0)
		return -1;
	return s3_delete_key(tp, key, res);
}

/* One page's <Contents> and <CommonPrefixes> to fn: names below dir. */
static void
list_page(struct s3_tp *tp, size_t plen,
    void (*fn)(void *ctx, const char *name, int64_t size, int is_dir),
    void *ctx)
{
	const char *p = tp->body.data ? tp->body.data : "";
	const char *end = p + tp->body.len, *v, *after, *kv, *sv;
	char name[RFTP_PATH_MAX + 64], num[32];
	size_t n, kn, sn;

	while ((v = s3xml_find(p, (size_t)(end - p), "Contents", &n, &after)) !=
	    NULL) {
		long long size = -1;

		kv = s3xml_find(v, n, "Key", &kn, NULL);
		sv = s3xml_find(v, n, "Size", &sn, NULL);
		if (sv != NULL && sn < sizeof(num)) {
			memcpy(num, sv, sn);
			num[sn] = '\0';
			size = strtoll(num, NULL, 10);
		}
		if (kv != NULL && s3xml_text(kv, kn, name, sizeof(name)) == 0 &&
		    strlen(name) > plen && strchr(name + plen, '/') == NULL) {
			key_name(name + plen);
			fn(ctx, name + plen, size, 0);
		}
		p = after;
	}
	p = tp->body.data ? tp->body.data : "";
	while ((v = s3xml_find(p, (size_t)(end - p), "CommonPrefixes", &n,
	            &after)) != NULL) {
		kv = s3xml_find(v, n, "Prefix", &kn, NULL);
		if (kv != NULL && s3xml_text(kv, kn, name, sizeof(name)) == 0 &&
		    strlen(name) > plen + 1) {
			name[strlen(name) - 1] = '\0'; /* its '/' */
			key_name(name + plen);
			fn(ctx, name + plen, -1, 1);
		}
		p = after;
	}
}

/* What a listing page goes to: list_page for s3_list, the whole keys for
 * a folder's rename. */
struct list_sink {
	size_t plen; /* the prefix's length */
	void (*fn)(void *ctx, const char *name, int64_t size, int is_dir);
	void *ctx;
	struct buf *keys; /* non-NULL: every key, each followed by a NUL */
};

/* Every key of a page into sink->keys. -1 if they do not fit. */
static int
keys_page(struct s3_tp *tp, struct buf *keys)
{
	const char *p = tp->body.data ? tp->body.data : "";
	const char *end = p + tp->body.len, *v, *after, *kv;
	char name[RFTP_PATH_MAX + 64];
	size_t n, kn;

	while ((v = s3xml_find(p, (size_t)(end - p), "Contents", &n, &after)) !=
	    NULL) {
		kv = s3xml_find(v, n, "Key", &kn, NULL);
		if (kv != NULL && s3xml_text(kv, kn, name, sizeof(name)) == 0 &&
		    buf_add(keys, name, strlen(name) + 1) < 0)
			return -1;
		p = after;
	}
	return 0;
}

/*
 * ListObjectsV2 of prefix page after page (delim: only the level below
 * it, with '/' as delimiter), each page to sink. 0, or -1 with res->error.
 */
static int
list_pages(struct s3_tp *tp, const char *prefix, int delim,
    struct list_sink *sink, struct push_result *res)
{
	/* The token asked from (NULL on the first page) and the one the
	 * page answered, each as long as the service made it, up to
	 * S3_LIST_TOKEN_MAX. */
	char *token = NULL, *next = NULL;
	/* A hash of every token asked from in this listing (8 bytes a page,
	 * at most S3_LIST_PAGES_MAX of them: 800 KB), so that tokens that go
	 * round (A, B, ..., A) are caught the first time the round closes,
	 * however long it is. Only the last 16 were kept, a ring: a round of
	 * 17 or more ran to S3_LIST_PAGES_MAX pages (found by a review).
	 * FNV-1a, not a keyed hash: only the service chooses the tokens, and
	 * a collision it made would fail its own listing, which it can do
	 * anyway; 100,000 tokens collide by chance in fewer than one
	 * listing in 10^9. */
	struct buf seen;
	size_t nseen = 0;
	struct buf query;
	int rc = -1;

	buf_init(&seen, (size_t)S3_LIST_PAGES_MAX * sizeof(uint64_t));
	buf_init(&query, 0);
	for (int page = 0; page < S3_LIST_PAGES_MAX; page++) {
		struct s3_qparam q[5] = { { "list-type", "2" },
			{ "prefix", prefix } };
		size_t nq = 2;
		const char *v;
		size_t n;

		if (delim)
			q[nq++] = (struct s3_qparam){ "delimiter", "/" };
		if (token != NULL)
			q[nq++] =
			    (struct s3_qparam){ "continuation-token", token };
		/* Sized by the prefix and the token, each URI-encoded (3
		 * bytes a byte at most), as the uploads' listing is by its
		 * markers: a fixed 16 KiB held a token of 5 KiB at most. */
		buf_free(&query);
		buf_init(&query,
		    16384 +
		        3 *
		            (strlen(prefix) +
		                (token != NULL ? strlen(token) : 0)));
		if (s3_canon_query(&query, q, nq) < 0) {
			snprintf(
			    res->error, sizeof(res->error), "out of memory");
			goto out;
		}
		{
			struct s3_req rq = { "GET", "", buf_str(&query), NULL,
				NULL, NULL, 0, NULL, "list" };

			if (s3_perform(tp, &rq, res) < 0)
				goto out;
		}
		if (sink->keys != NULL) {
			if (keys_page(tp, sink->keys) < 0) {
				snprintf(res->error, sizeof(res->error),
				    "list %.300s: too many keys", prefix);
				goto out;
			}
		} else {
			list_page(tp, sink->plen, sink->fn, sink->ctx);
		}
		if (!s3xml_truncated(
		        tp->body.data ? tp->body.data : "", tp->body.len)) {
			rc = 0;
			goto out;
		}
		v = s3xml_find(tp->body.data ? tp->body.data : "", tp->body.len,
		    "NextContinuationToken", &n, NULL);
		free(next);
		next = NULL;
		if (v != NULL && (next = s3xml_text_dup(v, n)) == NULL) {
			snprintf(
			    res->error, sizeof(res->error), "out of memory");
			goto out;
		}
		if (next == NULL || next[0] == '\0' ||
		    strlen(next) > S3_LIST_TOKEN_MAX) {
			snprintf(res->error, sizeof(res->error),
			    "list %.300s: truncated without a continuation "
			    "token%s",
			    prefix,
			    next != NULL && next[0] != '\0' ?
			        " that fits here (16,384 bytes)" :
			        "");
			goto out;
		}
		/* The token just asked from: the same page again, for ever
		 * (a service broken or hostile). Followed, it held the job
		 * for S3_LIST_PAGES_MAX requests, a folder's keys listed
		 * over and over (found from outside). */
		if (token != NULL && strcmp(next, token) == 0) {
			snprintf(res->error, sizeof(res->error),
			    "list %.300s: the service goes on from the "
			    "continuation token it was asked from (page %d)",
			    prefix, page + 1);
			goto out;
		}
		/* A token asked from a few pages before: the pages between
		 * again, for ever (tokens that go round, A, B, A). Only the
		 * one just asked was caught, and the job was held as above
		 * (found by a review). A linear look: at most 100,000 hashes,
		 * each page one request, far slower than the look. */
		{
			uint64_t h = fnv1a64_str(FNV1A64_INIT, next), o;

			for (size_t i = 0; i < nseen; i++) {
				memcpy(
				    &o, seen.data + i * sizeof(o), sizeof(o));
				if (o != h)
					continue;
				snprintf(res->error, sizeof(res->error),
				    "list %.300s: the service goes on from a "
				    "continuation token it was asked from "
				    "before (page %d)",
				    prefix, page + 1);
				goto out;
			}
			if (buf_add(&seen, &h, sizeof(h)) < 0) {
				snprintf(res->error, sizeof(res->error),
				    "out of memory");
				goto out;
			}
			nseen++;
		}
		free(token);
		token = next;
		next = NULL;
	}
	snprintf(res->error, sizeof(res->error), "list %.300s: too many pages",
	    prefix);
out:
	free(token);
	free(next);
	buf_free(&seen);
	buf_free(&query);
	return rc;
}

/* The folder rdir: its files and folders, one level. */
static int
s3_list(void *impl, const char *rdir,
    void (*fn)(void *ctx, const char *name, int64_t size, int is_dir),
    void *ctx, struct push_result *res)
{
	struct s3_tp *tp = impl;
	char dir[RFTP_PATH_MAX + 64];
	struct list_sink sink = { 0, fn, ctx, NULL };

	memset(res, 0, sizeof(*res));
	if (key_of(tp, rdir, dir, sizeof(dir), res) < 0 ||
	    (dir[0] != '\0' && dir[strlen(dir) - 1] != '/' &&
	        fmt_fixed(dir + strlen(dir), sizeof(dir) - strlen(dir), "/") <
	            0)) {
		snprintf(res->error, sizeof(res->error), "list: path too long");
		return -1;
	}
	sink.plen = strlen(dir);
	return list_pages(tp, dir, 1, &sink, res);
}

/* Copies object fkey to tkey (PUT with x-amz-copy-source). 0, or -1 with
 * res->error (res->refused and a 404 status when fkey is not there). */
static int
copy_key(struct s3_tp *tp, const char *fkey, const char *tkey,
    struct push_result *res)
{
	const char *bucket = tp->t->url + 5;
	struct curl_slist *extra = NULL;
	struct buf line;
	char what[300];
	size_t n;
	int rc = -1, r;

	/* The error names the key copied from, the one that may be gone
	 * (it named only the new key, which is never there yet). */
	snprintf(what, sizeof(what), "rename (copy) of %.200s to", fkey);
	buf_init(&line, 16384);
	if (buf_adds(&line, "x-amz-copy-source: /") < 0 ||
	    buf_add(&line, bucket, strcspn(bucket, "/")) < 0 ||
	    buf_adds(&line, "/") < 0 ||
	    s3_uri_encode(&line, fkey, strlen(fkey), 1) < 0 ||
	    (extra = curl_slist_append(NULL, buf_str(&line))) == NULL) {
		snprintf(res->error, sizeof(res->error), "out of memory");
		goto out;
	}
	{
		struct s3_req rq = { "PUT", tkey, "", NULL, NULL, NULL, 0,
			extra, what };

		tp->copying = 1;
		r = s3_perform(tp, &rq, res);
		tp->copying = 0;
		if (r < 0)
			goto out;
	}
	/* A copy can fail after its 200 (the body says so), and is made
	 * only if the body says CopyObjectResult (AWS, MinIO, Ceph and
	 * Garage all do): a 200 with no body was taken as a copy, the old
	 * key then deleted, and the bucket held neither name (found from
	 * outside). */
	if (s3xml_find(tp->body.data ? tp->body.data : "", tp->body.len,
	        "Error", &n, NULL) != NULL ||
	    s3xml_find(tp->body.data ? tp->body.data : "", tp->body.len,
	        "CopyObjectResult", &n, NULL) == NULL) {
		snprintf(res->error, sizeof(res->error),
		    "rename (copy) of %.300s: the service answered %s", fkey,
		    tp->body.len > 0 ? "an error" : "no copy result");
		goto out;
	}
	rc = 0;
out:
	curl_slist_free_all(extra);
	buf_free(&line);
	return rc;
}

/*
 * A folder's rename: every key under fkey/ copied under tkey/, each
 * deleted once copied. Redone after a crash, it moves what is left.
 * A copy answered 404 (the key deleted since the listing, or a service
 * that cannot copy that name: s3rver and '&') does not stop the walk:
 * the key is deleted too, and the rename ends refused, so the worker's
 * repair gives the new name the home's files (worker.c repair_rename).
 * Stopping there left the keys not yet moved under the old name for
 * good, since the repair deletes one key (found from outside).
 * 1 if there was no key under fkey/ (not a folder), 0, -1 with res->error.
 */
static int
rename_folder(struct s3_tp *tp, const char *fkey, const char *tkey,
    struct push_result *res)
{
	char from[RFTP_PATH_MAX + 64], to[RFTP_PATH_MAX + 64];
	struct buf keys;
	struct list_sink sink = { 0, NULL, NULL, &keys };
	char why[sizeof(res->error)] = "";
	size_t flen = strlen(fkey), lost = 0;
	int rc = -1;

	if (fmt_fixed(from, sizeof(from), "%s/", fkey) < 0) {
		snprintf(res->error, sizeof(res->error), "key too long");
		return -1;
	}
	buf_init(&keys, 64u * 1024 * 1024);
	memset(res, 0, sizeof(*res));
	res->verify_used = "none";
	if (list_pages(tp, from, 0, &sink, res) < 0)
		goto out;
	if (keys.len == 0) {
		rc = 1;
		goto out;
	}
	for (size_t off = 0; off < keys.len;
	     off += strlen(keys.data + off) + 1) {
		const char *k = keys.data + off;

		if (strncmp(k, from, flen + 1) != 0)
			continue;
		if (fmt_fixed(to, sizeof(to), "%s%s", tkey, k + flen) < 0) {
			snprintf(
			    res->error, sizeof(res->error), "key too long");
			goto out;
		}
		if (copy_key(tp, k, to, res) < 0) {
			if (tp->status != 404)
				goto out;
			if (lost++ == 0)
				memcpy(why, res->error, sizeof(why));
			log_warn("mirror target %s: folder rename: the copy of "
			         "key %s answered 404: deleting it; the home "
			         "gives the new name its file again",
			    tp->t->name, LOGPATH(NULL, k));
		}
		if (s3_delete_key(tp, k, res) < 0)
			goto out;
	}
	if (lost > 0) {
		res->refused = 1;
		res->file_refused = 0;
		snprintf(res->error, sizeof(res->error),
		    "%zu key(s) under the old name could not be copied, "
		    "deleted (first: %.300s)",
		    lost, why);
		goto out;
	}
	rc = 0;
out:
	buf_free(&keys);
	return rc;
}

/* S3 has no rename: copy, then delete the old key (for a folder, each
 * key under it). A crash in between leaves both; the job is redone and
 * the copy is made again. */
static int
s3_rename(void *impl, const char *from, const char *to, struct push_result *res)
{
	struct s3_tp *tp = impl;
	char fkey[RFTP_PATH_MAX + 64], tkey[RFTP_PATH_MAX + 64];
	struct push_result copy_res;
	int r;

	memset(res, 0, sizeof(*res));
	res->verify_used = "none";
	if (key_of(tp, from, fkey, sizeof(fkey), res) < 0 ||
	    key_of(tp, to, tkey, sizeof(tkey), res) < 0)
		return -1;
	if (copy_key(tp, fkey, tkey, res) == 0)
		return s3_delete_key(tp, fkey, res);
	if (tp->status != 404)
		return -1;
	/* No such object: a folder's keys, or nothing (then the worker
	 * repairs by pushing the new name from the home). */
	copy_res = *res;
	r = rename_folder(tp, fkey, tkey, res);
	if (r == 1)
		*res = copy_res;
	return r == 0 ? 0 : -1;
}

/* S3 has no folders: a key's prefix is its folder. Nothing to make or
 * remove, and no modification time to set. */
static int
s3_mkdir(void *impl, const char *rpath, struct push_result *res)
{
	(void)impl;
	(void)rpath;
	memset(res, 0, sizeof(*res));
	res->verify_used = "none";
	return 0;
}

static int
s3_rmdir(void *impl, const char *rpath, struct push_result *res)
{
	return s3_mkdir(impl, rpath, res);
}

static enum time_result
s3_set_time(
    void *impl, const char *rpath, time_t mtime, struct push_result *res)
{
	(void)impl;
	(void)rpath;
	(void)mtime;
	snprintf(res->error, sizeof(res->error),
	    "S3 keeps no settable modification time");
	return TIME_CANNOT;
}

const struct transport_ops transport_s3_ops = {
	.name = "s3",
	.global_init = s3_global_init,
	.global_cleanup = s3_global_cleanup,
	.open = s3_open,
	.close = s3_close,
	.on_progress = s3_on_progress,
	.set_job = NULL, /* a tree mirror needs only the paths */
	.set_memo = s3_set_memo,
	.put = s3_put,
	.verify = s3_verify,
	.publish = s3_publish,
	.discard = s3_discard,
	.remove = s3_remove,
	.rename = s3_rename,
	.list = s3_list,
	.mkdir = s3_mkdir,
	.rmdir = s3_rmdir,
	.set_time = s3_set_time,
};
