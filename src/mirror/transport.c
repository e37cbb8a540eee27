/*
 * transport.c - see transport.h.
 *
 * Three requests on one easy handle (curl_easy_reset keeps the live
 * connection): STOR of the temporary name; SIZE (and XSHA256 when verify =
 * hash) of it; RNFR/RNTO into place. Paths in QUOTE commands are relative
 * to the login folder, like the URL path (RFC 1738 section 3.2.2), because
 * curl sends QUOTE before it changes folder.
 */
#include "mirror/transport.h"

#include "common/buf.h"
#include "common/hash.h"
#include "common/log.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct transport {
	const struct target_config *t;
	const volatile int *stop;
	CURL *curl;
	char prefix[1024]; /* scheme://[userinfo@]host[:port] */
	char base[1024];   /* URL path, decoded, without trailing '/' */
	int sftp;
	char entry[1024]; /* the FTP login folder (PWD after login) */
	int hash_method;  /* remote_digest: -1 unknown, 0-2 works, 3 none */
	char qbuf[2][RFTP_PATH_MAX + 1100]; /* quote_path results */
	char errbuf[CURL_ERROR_SIZE];
	struct buf replies; /* control replies of the last request */
};

struct reader {
	int fd;
	uint64_t off, size;
};

int
transport_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void
transport_global_cleanup(void)
{
	curl_global_cleanup();
}

struct transport *
transport_new(const struct target_config *t, const volatile int *stop)
{
	struct transport *tp = calloc(1, sizeof(*tp));
	const char *p, *slash;
	char *dec;
	int declen = 0;
	size_t n;

	if (tp == NULL)
		return NULL;
	tp->t = t;
	tp->stop = stop;
	tp->hash_method = -1;
	tp->sftp = strncmp(t->url, "sftp://", 7) == 0;
	snprintf(tp->entry, sizeof(tp->entry), "/");
	p = strstr(t->url, "://") + 3;
	slash = strchr(p, '/');
	n = slash ? (size_t)(slash - t->url) : strlen(t->url);
	if (n >= sizeof(tp->prefix))
		goto fail;
	memcpy(tp->prefix, t->url, n);
	tp->prefix[n] = '\0';
	tp->curl = curl_easy_init();
	if (tp->curl == NULL)
		goto fail;
	dec = curl_easy_unescape(tp->curl, slash ? slash : "", 0, &declen);
	if (dec == NULL)
		goto fail;
	snprintf(tp->base, sizeof(tp->base), "%s", dec);
	curl_free(dec);
	n = strlen(tp->base);
	while (n > 0 && tp->base[n - 1] == '/')
		tp->base[--n] = '\0';
	buf_init(&tp->replies, 64 * 1024);
	return tp;
fail:
	if (tp->curl != NULL)
		curl_easy_cleanup(tp->curl);
	free(tp);
	return NULL;
}

void
transport_free(struct transport *tp)
{
	if (tp == NULL)
		return;
	curl_easy_cleanup(tp->curl);
	buf_free(&tp->replies);
	free(tp);
}

static size_t
read_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct reader *r = userdata;
	size_t want = size * nmemb;
	ssize_t n;

	if (r->off >= r->size)
		return 0;
	if (want > r->size - r->off)
		want = (size_t)(r->size - r->off);
	do {
		n = pread(r->fd, ptr, want, (off_t)r->off);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return CURL_READFUNC_ABORT;
	r->off += (uint64_t)n;
	return (size_t)n;
}

static size_t
header_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct transport *tp = userdata;

	buf_add(&tp->replies, ptr, size * nmemb);
	return size * nmemb;
}

static size_t
discard_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	(void)ptr;
	(void)userdata;
	return size * nmemb;
}

/* URL of a remote path: each segment escaped. */
static int
make_url(struct transport *tp, const char *rpath, struct buf *out)
{
	const char *p = rpath;

	buf_reset(out);
	if (buf_adds(out, tp->prefix) < 0)
		return -1;
	/* sftp paths are absolute; ftp URL paths are relative to the login
	 * folder (curl's default). */
	while (*p != '\0') {
		const char *e = strchr(p + 1, '/');
		size_t n = e ? (size_t)(e - p - 1) : strlen(p + 1);
		char *esc = curl_easy_escape(tp->curl, p + 1, (int)n);

		if (esc == NULL)
			return -1;
		if (buf_printf(out, "/%s", esc) < 0) {
			curl_free(esc);
			return -1;
		}
		curl_free(esc);
		p = e ? e : p + 1 + n;
	}
	return 0;
}

/* Shutdown abandons a push in progress; it is redone after the restart. */
static int
progress_cb(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct transport *tp = userdata;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return *tp->stop ? 1 : 0;
}

static void
common_opts(struct transport *tp)
{
	CURL *c = tp->curl;
	const struct target_config *t = tp->t;

	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, tp->errbuf);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
	/* A stalled target fails the attempt instead of holding a worker. */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(c, CURLOPT_FTP_RESPONSE_TIMEOUT, 60L);
	if (t->user[0] != '\0')
		curl_easy_setopt(c, CURLOPT_USERNAME, t->user);
	if (t->password[0] != '\0')
		curl_easy_setopt(c, CURLOPT_PASSWORD, t->password);
	/* ftps:// is implicit TLS; explicit_tls makes ftp:// demand AUTH TLS
	 * and PROT P, never falling back to plaintext. */
	if (t->explicit_tls)
		curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, t->tls_verify ? 1L : 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, t->tls_verify ? 2L : 0L);
	if (t->ca_file[0] != '\0')
		curl_easy_setopt(c, CURLOPT_CAINFO, t->ca_file);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, tp);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_cb);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress_cb);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, tp);
	buf_reset(&tp->replies);
	tp->errbuf[0] = '\0';
}

static int
run(struct transport *tp, const char *what, struct push_result *res)
{
	CURLcode rc = curl_easy_perform(tp->curl);

	if (rc == CURLE_OK)
		return 0;
	/* A QUOTE command answered with an error: the link works. */
	res->refused = rc == CURLE_QUOTE_ERROR;
	snprintf(res->error, sizeof(res->error), "%s: %s", what,
	    tp->errbuf[0] ? tp->errbuf : curl_easy_strerror(rc));
	return -1;
}

/*
 * Absolute path for QUOTE commands. An ftp URL path is relative to the
 * login folder, and curl sends QUOTE before changing folder, but a reused
 * connection may still sit in the last upload's folder: so the login
 * folder (curl's "entry path") is prefixed. slot picks one of two buffers.
 */
/* Room for RFTP_TMP_PREFIX, a job number and a dot in temporary names. */
#define RFTP_TMP_NAME_EXTRA 64

static const char *
quote_path(struct transport *tp, const char *rpath, int slot)
{
	size_t n = strlen(tp->entry), r = strlen(rpath);

	if (tp->sftp)
		return rpath;
	while (n > 0 && tp->entry[n - 1] == '/')
		n--;
	/* path_fits() keeps entry + rpath well inside qbuf; the check
	 * stays as the last line of defence against a cut name. */
	if (n + r >= sizeof(tp->qbuf[slot]))
		r = 0;
	memcpy(tp->qbuf[slot], tp->entry, n);
	memcpy(tp->qbuf[slot] + n, rpath, r);
	tp->qbuf[slot][n + r] = '\0';
	return tp->qbuf[slot];
}

/*
 * Every remote name is built in buffers of at least RFTP_PATH_MAX bytes
 * from the login folder, the URL path and rpath (plus a temporary-name
 * prefix). A path that would not fit is refused here, before anything is
 * sent: a name cut short could rename or delete the wrong file.
 */
static int
path_fits(struct transport *tp, const char *rpath, struct push_result *res)
{
	size_t need = strlen(tp->entry) + strlen(tp->base) + strlen(rpath) +
	    RFTP_TMP_NAME_EXTRA;

	if (need < RFTP_PATH_MAX)
		return 0;
	snprintf(res->error, sizeof(res->error),
	    "path too long for the target (%zu bytes with the target's "
	    "folders; at most %d)",
	    need, RFTP_PATH_MAX - 1);
	return -1;
}

static void
learn_entry_path(struct transport *tp)
{
	char *entry = NULL;

	if (!tp->sftp &&
	    curl_easy_getinfo(tp->curl, CURLINFO_FTP_ENTRY_PATH, &entry) ==
	        CURLE_OK &&
	    entry != NULL)
		snprintf(tp->entry, sizeof(tp->entry), "%s", entry);
}

/* Finds "<code> <hexlen hex digits>" in the replies of the last request;
 * 1 if found (lowercased into hex). */
static int
find_hex_reply(struct transport *tp, const char *code, size_t hexlen,
    char hex[HASH_HEX_MAX])
{
	const char *p = buf_str(&tp->replies);

	while ((p = strstr(p, code)) != NULL) {
		const char *h = p + strlen(code);
		size_t n = strspn(h, "0123456789abcdefABCDEF");

		if (n == hexlen &&
		    (h[n] == ' ' || h[n] == '\r' || h[n] == '\n' ||
		        h[n] == '\0')) {
			for (size_t i = 0; i < n; i++)
				hex[i] = (char)(h[i] >= 'A' && h[i] <= 'F' ?
				        h[i] - 'A' + 'a' :
				        h[i]);
			hex[n] = '\0';
			return 1;
		}
		p = h;
	}
	return 0;
}

/* "213 SHA-256 0-49 <hex> name" (draft-bryan-ftpext-hash 3.1). */
static int
find_hash_reply(
    struct transport *tp, enum hash_algo *algo, char hex[HASH_HEX_MAX])
{
	const char *p = strstr(buf_str(&tp->replies), "213 ");
	char name[16];
	size_t n;

	if (p == NULL)
		return 0;
	p += 4;
	n = strcspn(p, " ");
	if (n == 0 || n >= sizeof(name))
		return 0;
	memcpy(name, p, n);
	name[n] = '\0';
	if (hash_lookup(name, algo) < 0)
		return 0;
	p += n + strspn(p + n, " ");
	p += strcspn(p, " "); /* the range */
	p += strspn(p, " ");
	n = strspn(p, "0123456789abcdefABCDEF");
	if (n == 0 || n >= HASH_HEX_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		hex[i] = (char)(p[i] >= 'A' && p[i] <= 'F' ? p[i] - 'A' + 'a' :
		                                             p[i]);
	hex[n] = '\0';
	return 1;
}

static int run_quote(struct transport *tp, struct curl_slist *quote,
    const char *what, struct push_result *res);

/*
 * Asks the target for a digest of path: XSHA256, else HASH (whatever
 * algorithm it picks), else XMD5; the first that answers is remembered
 * for this connection's target. Returns 1 with *algo and hex, 0 if the
 * target offers none, -1 if the connection failed (res).
 */
static int
remote_digest(struct transport *tp, const char *path, enum hash_algo *algo,
    char hex[HASH_HEX_MAX], struct push_result *res)
{
	static const struct {
		const char *cmd;
		enum hash_algo algo; /* HASH_ALGO_COUNT: from the reply */
	} methods[] = {
		{ "XSHA256", HASH_SHA256 },
		{ "HASH", HASH_ALGO_COUNT },
		{ "XMD5", HASH_MD5 },
	};
	char cmd[RFTP_PATH_MAX + 1200];

	for (int i = 0; i < 3; i++) {
		struct curl_slist *quote;
		int found;

		if (tp->hash_method >= 0 && tp->hash_method != i)
			continue;
		if (tp->hash_method == 3)
			break;
		/* '*': a target without the command is not an error. */
		snprintf(cmd, sizeof(cmd), "*%s %s", methods[i].cmd, path);
		quote = curl_slist_append(NULL, cmd);
		if (quote == NULL)
			return -1;
		if (run_quote(tp, quote, "verify", res) < 0) {
			curl_slist_free_all(quote);
			return -1;
		}
		curl_slist_free_all(quote);
		if (methods[i].algo == HASH_SHA256)
			found = find_hex_reply(tp, "250 ", 64, hex);
		else if (methods[i].algo == HASH_MD5)
			found = find_hex_reply(tp, "250 ", 32, hex);
		else
			found = find_hash_reply(tp, algo, hex);
		if (found) {
			if (methods[i].algo != HASH_ALGO_COUNT)
				*algo = methods[i].algo;
			tp->hash_method = i;
			return 1;
		}
	}
	tp->hash_method = 3; /* none: size from now on */
	return 0;
}

static int
tmp_name(struct transport *tp, const char *rpath, int64_t tag, char *out,
    size_t outlen)
{
	const char *leaf = strrchr(rpath, '/');
	int n;

	leaf = leaf ? leaf + 1 : rpath;
	n = snprintf(out, outlen, "%s%.*s/" RFTP_TMP_PREFIX "%lld.%.200s",
	    tp->base, (int)(leaf - rpath - 1), rpath, (long long)tag, leaf);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int
transport_push(struct transport *tp, int fd, uint64_t size, const char *rpath,
    int64_t tag, struct push_result *res)
{
	char tmp[RFTP_PATH_MAX + 64], final[RFTP_PATH_MAX + 64];
	char cmd[2 * RFTP_PATH_MAX + 64];
	char want[HASH_HEX_MAX], got[HASH_HEX_MAX];
	const char *leaf = strrchr(rpath, '/');
	struct curl_slist *quote = NULL;
	struct reader rd = { fd, 0, size };
	struct buf url;
	curl_off_t remote_size = -1;
	enum hash_algo algo = HASH_SHA256;
	int digest;
	int n, rc = -1, use_hash = tp->t->verify == VERIFY_HASH;

	memset(res, 0, sizeof(*res));
	res->verify_used = "none";
	if (path_fits(tp, rpath, res) < 0)
		return -1;
	buf_init(&url, 8192);
	leaf = leaf ? leaf + 1 : rpath;
	n = tmp_name(tp, rpath, tag, tmp, sizeof(tmp));
	if (n < 0) {
		snprintf(res->error, sizeof(res->error), "path too long");
		goto out;
	}

	/* 1: upload the temporary copy. */
	common_opts(tp);
	if (make_url(tp, tmp, &url) < 0)
		goto nomem;
	curl_easy_setopt(tp->curl, CURLOPT_URL, buf_str(&url));
	curl_easy_setopt(tp->curl, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(tp->curl, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(tp->curl, CURLOPT_READDATA, &rd);
	curl_easy_setopt(tp->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
	curl_easy_setopt(tp->curl, CURLOPT_FTP_CREATE_MISSING_DIRS,
	    (long)CURLFTP_CREATE_DIR_RETRY);
	if (run(tp, "upload", res) < 0)
		goto out;
	learn_entry_path(tp);

	/* 2: verify before the copy gets its final name. */
	if (tp->t->verify != VERIFY_NONE) {
		common_opts(tp);
		curl_easy_setopt(tp->curl, CURLOPT_URL, buf_str(&url));
		curl_easy_setopt(tp->curl, CURLOPT_NOBODY, 1L);
		if (run(tp, "verify", res) < 0)
			goto cleanup_tmp;
		curl_easy_getinfo(
		    tp->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &remote_size);
		res->verify_used = "size";
		if (remote_size != (curl_off_t)size) {
			snprintf(res->error, sizeof(res->error),
			    "verify: target has %lld bytes, expected %llu",
			    (long long)remote_size, (unsigned long long)size);
			goto cleanup_tmp;
		}
		digest = use_hash && !tp->sftp ?
		    remote_digest(tp, quote_path(tp, tmp, 0), &algo, got, res) :
		    0;
		if (digest < 0)
			goto cleanup_tmp;
		if (digest > 0) {
			if (hash_fd(fd, algo, 0, UINT64_MAX, want) < 0) {
				snprintf(res->error, sizeof(res->error),
				    "verify: cannot read the local file");
				goto cleanup_tmp;
			}
			res->verify_used = "hash";
			if (strcmp(want, got) != 0) {
				snprintf(res->error, sizeof(res->error),
				    "verify: %s differs (target %s, ours %s)",
				    hash_name(algo), got, want);
				goto cleanup_tmp;
			}
		} else if (use_hash) {
			res->fell_back = 1;
		}
	}

	/* 3: publish by rename (RNTO replaces an older copy). */
	common_opts(tp);
	buf_reset(&url);
	if (buf_printf(&url, "%s/", tp->prefix) < 0)
		goto nomem;
	curl_easy_setopt(tp->curl, CURLOPT_URL, buf_str(&url));
	curl_easy_setopt(tp->curl, CURLOPT_NOBODY, 1L);
	if (tp->sftp) {
		/* SFTP v3 rename (all OpenSSH offers through libcurl) never
		 * replaces: remove the older copy first. The final name is
		 * briefly absent, never partial. */
		snprintf(cmd, sizeof(cmd), "*rm \"%s%s\"", tp->base, rpath);
		quote = curl_slist_append(NULL, cmd);
		snprintf(cmd, sizeof(cmd), "rename \"%s\" \"%s%s\"", tmp,
		    tp->base, rpath);
		if (quote != NULL)
			quote = curl_slist_append(quote, cmd);
	} else {
		snprintf(cmd, sizeof(cmd), "RNFR %s", quote_path(tp, tmp, 0));
		quote = curl_slist_append(NULL, cmd);
		snprintf(final, sizeof(final), "%s%s", tp->base, rpath);
		snprintf(cmd, sizeof(cmd), "RNTO %s", quote_path(tp, final, 1));
		if (quote != NULL)
			quote = curl_slist_append(quote, cmd);
	}
	if (quote == NULL)
		goto nomem;
	curl_easy_setopt(tp->curl, CURLOPT_QUOTE, quote);
	if (run(tp, "rename", res) < 0)
		goto cleanup_tmp;
	rc = 0;
	goto out;
cleanup_tmp:
	/* Best effort: the redo reuses the same name anyway. */
	curl_slist_free_all(quote);
	common_opts(tp);
	buf_reset(&url);
	if (buf_printf(&url, "%s/", tp->prefix) == 0) {
		snprintf(cmd, sizeof(cmd), tp->sftp ? "*rm \"%s\"" : "*DELE %s",
		    quote_path(tp, tmp, 0));
		quote = curl_slist_append(NULL, cmd);
		curl_easy_setopt(tp->curl, CURLOPT_URL, buf_str(&url));
		curl_easy_setopt(tp->curl, CURLOPT_NOBODY, 1L);
		curl_easy_setopt(tp->curl, CURLOPT_QUOTE, quote);
		curl_easy_perform(tp->curl);
	}
	goto out;
nomem:
	snprintf(res->error, sizeof(res->error), "out of memory");
out:
	curl_slist_free_all(quote);
	buf_free(&url);
	return rc;
}

/* Runs QUOTE commands on the login folder (no transfer). */
static int
run_quote(struct transport *tp, struct curl_slist *quote, const char *what,
    struct push_result *res)
{
	struct buf url;
	int rc = -1;

	buf_init(&url, 2048);
	common_opts(tp);
	if (buf_printf(&url, "%s/", tp->prefix) == 0) {
		curl_easy_setopt(tp->curl, CURLOPT_URL, buf_str(&url));
		curl_easy_setopt(tp->curl, CURLOPT_NOBODY, 1L);
		curl_easy_setopt(tp->curl, CURLOPT_QUOTE, quote);
		rc = run(tp, what, res);
		if (rc == 0)
			learn_entry_path(tp);
	}
	buf_free(&url);
	return rc;
}

int
transport_delete(
    struct transport *tp, const char *rpath, struct push_result *res)
{
	char full[RFTP_PATH_MAX + 1100], cmd[sizeof(full) + 16];
	struct curl_slist *quote;
	int rc;

	memset(res, 0, sizeof(*res));
	res->verify_used = "none";
	if (path_fits(tp, rpath, res) < 0)
		return -1;
	snprintf(full, sizeof(full), "%s%s", tp->base, rpath);
	/* '*': a file the target never had is as deleted as can be; a dead
	 * connection still fails the request. */
	snprintf(cmd, sizeof(cmd), tp->sftp ? "*rm \"%s\"" : "*DELE %s",
	    quote_path(tp, full, 0));
	quote = curl_slist_append(NULL, cmd);
	if (quote == NULL) {
		snprintf(res->error, sizeof(res->error), "out of memory");
		return -1;
	}
	rc = run_quote(tp, quote, "delete", res);
	curl_slist_free_all(quote);
	return rc;
}

int
transport_rename(struct transport *tp, const char *from, const char *to,
    struct push_result *res)
{
	char a[RFTP_PATH_MAX + 1100], b[RFTP_PATH_MAX + 1100];
	char cmd[2 * sizeof(a) + 32];
	struct curl_slist *quote = NULL;
	int rc;

	memset(res, 0, sizeof(*res));
	res->verify_used = "none";
	if (path_fits(tp, from, res) < 0 || path_fits(tp, to, res) < 0)
		return -1;
	snprintf(a, sizeof(a), "%s%s", tp->base, from);
	snprintf(b, sizeof(b), "%s%s", tp->base, to);
	if (tp->sftp) {
		snprintf(cmd, sizeof(cmd), "rename \"%s\" \"%s\"", a, b);
		quote = curl_slist_append(NULL, cmd);
	} else {
		snprintf(cmd, sizeof(cmd), "RNFR %s", quote_path(tp, a, 0));
		quote = curl_slist_append(NULL, cmd);
		snprintf(cmd, sizeof(cmd), "RNTO %s", quote_path(tp, b, 1));
		if (quote != NULL)
			quote = curl_slist_append(quote, cmd);
	}
	if (quote == NULL) {
		snprintf(res->error, sizeof(res->error), "out of memory");
		return -1;
	}
	rc = run_quote(tp, quote, "rename", res);
	curl_slist_free_all(quote);
	return rc;
}

static size_t
collect_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct buf *b = userdata;

	return buf_add(b, ptr, size * nmemb) == 0 ? size * nmemb : 0;
}

/* "type=file;size=12;modify=...; name" (RFC 3659 7.2). */
static int
parse_mlsd(
    const char *line, char *name, size_t namelen, int64_t *size, int *is_dir)
{
	const char *sp = strchr(line, ' ');
	const char *p = line;

	if (sp == NULL)
		return -1;
	*size = -1;
	*is_dir = 0;
	while (p < sp) {
		const char *semi = memchr(p, ';', (size_t)(sp - p));
		size_t n = semi ? (size_t)(semi - p) : (size_t)(sp - p);

		if (n > 5 && strncasecmp(p, "type=", 5) == 0) {
			if (strncasecmp(p + 5, "cdir", 4) == 0 ||
			    strncasecmp(p + 5, "pdir", 4) == 0)
				return -1;
			*is_dir = strncasecmp(p + 5, "dir", 3) == 0;
		} else if (n > 5 && strncasecmp(p, "size=", 5) == 0) {
			*size = strtoll(p + 5, NULL, 10);
		}
		p += n + 1;
	}
	snprintf(name, namelen, "%s", sp + 1);
	return 0;
}

/* "-rw-r--r-- 1 u g 12 Jan 01 12:00 name": size is field 5, the name
 * follows field 8. */
static int
parse_list(
    const char *line, char *name, size_t namelen, int64_t *size, int *is_dir)
{
	const char *p = line;

	*is_dir = line[0] == 'd';
	if (line[0] != '-' && line[0] != 'd')
		return -1;
	for (int field = 0; field < 8; field++) {
		while (*p != '\0' && *p != ' ')
			p++;
		while (*p == ' ')
			p++;
		if (*p == '\0')
			return -1;
		if (field == 3)
			*size = strtoll(p, NULL, 10);
	}
	snprintf(name, namelen, "%s", p);
	return 0;
}

int
transport_list(struct transport *tp, const char *rdir,
    void (*fn)(void *ctx, const char *name, int64_t size, int is_dir),
    void *ctx, struct push_result *res)
{
	char full[RFTP_PATH_MAX + 1100];
	struct buf url, body;
	CURLcode rc = CURLE_OK;
	int use_mlsd = !tp->sftp;
	long code = 0;

	memset(res, 0, sizeof(*res));
	buf_init(&url, 8192);
	buf_init(&body, 256u * 1024 * 1024);
	snprintf(full, sizeof(full), "%s%s/", tp->base, rdir);
	for (int attempt = 0; attempt < 2; attempt++) {
		common_opts(tp);
		buf_reset(&body);
		if (make_url(tp, full, &url) < 0)
			break;
		curl_easy_setopt(tp->curl, CURLOPT_URL, buf_str(&url));
		curl_easy_setopt(tp->curl, CURLOPT_WRITEFUNCTION, collect_cb);
		curl_easy_setopt(tp->curl, CURLOPT_WRITEDATA, &body);
		if (use_mlsd)
			curl_easy_setopt(
			    tp->curl, CURLOPT_CUSTOMREQUEST, "MLSD");
		rc = curl_easy_perform(tp->curl);
		curl_easy_getinfo(tp->curl, CURLINFO_RESPONSE_CODE, &code);
		if (rc == CURLE_OK || !use_mlsd ||
		    rc == CURLE_REMOTE_ACCESS_DENIED)
			break;
		use_mlsd = 0; /* no MLSD (vsftpd): LIST */
	}
	buf_free(&url);
	if (rc == CURLE_REMOTE_ACCESS_DENIED ||
	    rc == CURLE_REMOTE_FILE_NOT_FOUND) {
		buf_free(&body);
		return 0; /* no such folder there: nothing is there */
	}
	if (rc != CURLE_OK) {
		snprintf(res->error, sizeof(res->error), "list %s: %s", rdir,
		    tp->errbuf[0] ? tp->errbuf : curl_easy_strerror(rc));
		buf_free(&body);
		return -1;
	}
	for (char *line = body.data; line != NULL && *line != '\0';) {
		char *nl = strchr(line, '\n');
		char name[NAME_MAX + 1];
		int64_t size = -1;
		int is_dir = 0, ok;

		if (nl != NULL) {
			*nl = '\0';
			if (nl > line && nl[-1] == '\r')
				nl[-1] = '\0';
		}
		ok = use_mlsd ?
		    parse_mlsd(line, name, sizeof(name), &size, &is_dir) :
		    parse_list(line, name, sizeof(name), &size, &is_dir);
		if (ok == 0 && strcmp(name, ".") != 0 &&
		    strcmp(name, "..") != 0)
			fn(ctx, name, size, is_dir);
		line = nl != NULL ? nl + 1 : NULL;
	}
	buf_free(&body);
	return 0;
}

int
transport_discard(struct transport *tp, const char *rpath, int64_t tag)
{
	char tmp[RFTP_PATH_MAX + 64], cmd[sizeof(tmp) + 1100];
	struct curl_slist *quote;
	struct push_result res;
	int rc;

	memset(&res, 0, sizeof(res));
	if (tmp_name(tp, rpath, tag, tmp, sizeof(tmp)) < 0)
		return 0; /* such a name was never pushed */
	snprintf(cmd, sizeof(cmd), tp->sftp ? "*rm \"%s\"" : "*DELE %s",
	    quote_path(tp, tmp, 0));
	quote = curl_slist_append(NULL, cmd);
	if (quote == NULL)
		return -1;
	rc = run_quote(tp, quote, "discard", &res);
	curl_slist_free_all(quote);
	return rc;
}

/* SFTP quote commands take a path in double quotes: until they are
 * escaped everywhere, a folder command refuses a name that would end the
 * quotes early (so it can never name another path). */
static int
sftp_quotable(
    const struct transport *tp, const char *rpath, struct push_result *res)
{
	if (!tp->sftp || strpbrk(rpath, "\"\\") == NULL)
		return 0;
	snprintf(res->error, sizeof(res->error),
	    "a folder name with \" or \\ cannot be sent to an sftp target");
	return -1;
}

int
transport_mkdir(
    struct transport *tp, const char *rpath, struct push_result *res)
{
	char full[RFTP_PATH_MAX + 1100];
	struct buf url;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	res->verify_used = "none";
	if (path_fits(tp, rpath, res) < 0 || sftp_quotable(tp, rpath, res) < 0)
		return -1;
	buf_init(&url, 8192);
	common_opts(tp);
	if (tp->sftp) {
		/* SFTP has no "change folder, creating it": each level is made
		 * with mkdir, ignoring "exists". */
		struct curl_slist *quote = NULL;
		char cmd[sizeof(full) + 32];
		size_t n = strlen(tp->base);

		snprintf(full, sizeof(full), "%s%s", tp->base, rpath);
		for (size_t i = n + 1; full[i - 1] != '\0'; i++) {
			if (full[i] != '/' && full[i] != '\0')
				continue;
			snprintf(
			    cmd, sizeof(cmd), "*mkdir \"%.*s\"", (int)i, full);
			quote = curl_slist_append(quote, cmd);
			if (quote == NULL)
				break;
		}
		if (quote != NULL && buf_printf(&url, "%s/", tp->prefix) == 0) {
			curl_easy_setopt(tp->curl, CURLOPT_URL, buf_str(&url));
			curl_easy_setopt(tp->curl, CURLOPT_NOBODY, 1L);
			curl_easy_setopt(tp->curl, CURLOPT_QUOTE, quote);
			rc = run(tp, "mkdir", res);
		} else {
			snprintf(
			    res->error, sizeof(res->error), "out of memory");
		}
		curl_slist_free_all(quote);
	} else {
		/* libcurl changes into each level of a folder URL and makes
		 * the ones that are missing (CURLOPT_FTP_CREATE_MISSING_DIRS):
		 * success means the folder is there. */
		snprintf(full, sizeof(full), "%s%s/", tp->base, rpath);
		if (make_url(tp, full, &url) == 0) {
			curl_easy_setopt(tp->curl, CURLOPT_URL, buf_str(&url));
			curl_easy_setopt(tp->curl, CURLOPT_NOBODY, 1L);
			curl_easy_setopt(tp->curl,
			    CURLOPT_FTP_CREATE_MISSING_DIRS,
			    (long)CURLFTP_CREATE_DIR_RETRY);
			rc = run(tp, "mkdir", res);
			if (rc == 0)
				learn_entry_path(tp);
		} else {
			snprintf(
			    res->error, sizeof(res->error), "out of memory");
		}
	}
	buf_free(&url);
	return rc;
}

int
transport_rmdir(
    struct transport *tp, const char *rpath, struct push_result *res)
{
	char full[RFTP_PATH_MAX + 1100], cmd[sizeof(full) + 16];
	struct curl_slist *quote;
	int rc;

	memset(res, 0, sizeof(*res));
	res->verify_used = "none";
	if (path_fits(tp, rpath, res) < 0 || sftp_quotable(tp, rpath, res) < 0)
		return -1;
	snprintf(full, sizeof(full), "%s%s", tp->base, rpath);
	/* '*': a folder the target does not have is as removed as can be. */
	snprintf(cmd, sizeof(cmd), tp->sftp ? "*rmdir \"%s\"" : "*RMD %s",
	    quote_path(tp, full, 0));
	quote = curl_slist_append(NULL, cmd);
	if (quote == NULL) {
		snprintf(res->error, sizeof(res->error), "out of memory");
		return -1;
	}
	rc = run_quote(tp, quote, "rmdir", res);
	curl_slist_free_all(quote);
	return rc;
}
