/*
 * transport.c - see transport.h.
 *
 * Three requests on one easy handle (curl_easy_reset keeps the live
 * connection): STOR of the temporary name; SIZE (and XSHA256 when verify =
 * hash) of it; RNFR/RNTO into place. Setting a file's time is a fourth,
 * separate request (transport_set_time), so the mirror decides when. Paths in QUOTE commands are relative
 * to the login folder, like the URL path (RFC 1738 section 3.2.2), because
 * curl sends QUOTE before it changes folder.
 */
#include "mirror/transport.h"

#include "mirror/quote.h"

#include "common/buf.h"
#include "common/hash.h"
#include "common/log.h"
#include "mirror/ftpreply.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* How a target sets a file's modification time (transport_set_time). */
enum time_method {
	TM_UNKNOWN,    /* not learnt yet on this transport */
	TM_MFMT,       /* draft-somers-ftp-mfxx, listed in FEAT */
	TM_SITE_UTIME, /* SITE UTIME path atime mtime ctime UTC */
	TM_MDTM,       /* MDTM TIME path (vsftpd's mdtm_write) */
	TM_SFTP,       /* libcurl's sftp quote "mtime" */
	TM_NONE,       /* none works: the target cannot */
};

struct transport {
	const struct target_config *t;
	const volatile int *stop;
	CURL *curl;
	char prefix[1024]; /* scheme://[userinfo@]host[:port] */
	char base[1024];   /* URL path, decoded, without trailing '/' */
	int sftp;
	char entry[1024]; /* the FTP login folder (PWD after login) */
	int entry_ok;     /* 0: the target's PWD did not fit entry */
	int entry_known;  /* entry was learnt on this connection's login */
	int hash_method;  /* remote_digest: -1 unknown, 0-2 works, 3 none */
	enum time_method time_method;
	char qbuf[2][RFTP_PATH_MAX + 1100]; /* quote_path results */
	/* One quote command: two paths, each at most doubled by escapes. */
	char cmd[4 * (RFTP_PATH_MAX + 1100) + 64];
	char errbuf[CURL_ERROR_SIZE];
	struct buf replies; /* control replies of the last request */
	/* known_hosts: how the host key compared in the last request
	 * (a CURLKHMATCH_* value), -1 if it was not checked. */
	int khmatch;
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
	tp->time_method = tp->sftp ? TM_SFTP : TM_UNKNOWN;
	snprintf(tp->entry, sizeof(tp->entry), "/");
	tp->entry_ok = 1;
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

/*
 * known_hosts: only a key the file lists for this host:port passes. A
 * missing entry is refused like a different key: adding it would trust
 * whoever answers first, and libcurl never writes the file for us.
 */
static int
known_host_cb(CURL *easy, const struct curl_khkey *knownkey,
    const struct curl_khkey *foundkey, enum curl_khmatch match, void *clientp)
{
	struct transport *tp = clientp;

	(void)easy;
	(void)knownkey;
	(void)foundkey;
	tp->khmatch = (int)match;
	return match == CURLKHMATCH_OK ? CURLKHSTAT_FINE : CURLKHSTAT_REJECT;
}

/* Host key check and login for sftp:// (config.c makes sure one host key
 * check is set unless host_key_verify = off). */
static void
ssh_opts(struct transport *tp)
{
	CURL *c = tp->curl;
	const struct target_config *t = tp->t;
	long auth;

	tp->khmatch = -1;
	if (t->known_hosts[0] != '\0') {
		curl_easy_setopt(c, CURLOPT_SSH_KNOWNHOSTS, t->known_hosts);
		curl_easy_setopt(c, CURLOPT_SSH_KEYFUNCTION, known_host_cb);
		curl_easy_setopt(c, CURLOPT_SSH_KEYDATA, tp);
	}
	if (t->host_key_sha256[0] != '\0')
		curl_easy_setopt(
		    c, CURLOPT_SSH_HOST_PUBLIC_KEY_SHA256, t->host_key_sha256);
	/* Only the login the admin configured: no key of the process's
	 * own ~/.ssh, which libcurl would try otherwise. */
	if (t->private_key[0] != '\0') {
		auth = CURLSSH_AUTH_PUBLICKEY;
		curl_easy_setopt(
		    c, CURLOPT_SSH_PRIVATE_KEYFILE, t->private_key);
		if (t->public_key[0] != '\0')
			curl_easy_setopt(
			    c, CURLOPT_SSH_PUBLIC_KEYFILE, t->public_key);
		if (t->passphrase[0] != '\0')
			curl_easy_setopt(c, CURLOPT_KEYPASSWD, t->passphrase);
		if (t->password[0] != '\0')
			auth |= CURLSSH_AUTH_PASSWORD | CURLSSH_AUTH_KEYBOARD;
	} else {
		auth = CURLSSH_AUTH_PASSWORD | CURLSSH_AUTH_KEYBOARD;
	}
	curl_easy_setopt(c, CURLOPT_SSH_AUTH_TYPES, auth);
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
	if (tp->sftp)
		ssh_opts(tp);
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
	if (rc == CURLE_PEER_FAILED_VERIFICATION && tp->khmatch >= 0 &&
	    tp->khmatch != CURLKHMATCH_OK) {
		/* libcurl says nothing of its own here. */
		snprintf(res->error, sizeof(res->error),
		    "%s: host key refused: %s known_hosts %.200s (a man in the "
		    "middle, or a new key to check and add by hand)",
		    what,
		    tp->khmatch == CURLKHMATCH_MISMATCH ?
		        "it differs from the key in" :
		        "the host is not in",
		    tp->t->known_hosts);
		return -1;
	}
	snprintf(res->error, sizeof(res->error), "%s: %s", what,
	    tp->errbuf[0] ? tp->errbuf : curl_easy_strerror(rc));
	return -1;
}

/*
 * Absolute path for QUOTE commands. An ftp URL path is relative to the
 * login folder, and curl sends QUOTE before changing folder, but a reused
 * connection may still sit in the last upload's folder: so the login
 * folder (curl's "entry path") is prefixed. slot picks one of two buffers.
 * NULL if the result would not fit (add_quote then refuses the command).
 */
/* Room for RFTP_TMP_PREFIX, a job number and a dot in temporary names. */
#define RFTP_TMP_NAME_EXTRA 64

static const char *
quote_path(struct transport *tp, const char *rpath, int slot)
{
	size_t n = strlen(tp->entry), r = strlen(rpath);

	if (tp->sftp)
		return rpath;
	if (!tp->entry_ok || !tp->entry_known)
		return NULL;
	while (n > 0 && tp->entry[n - 1] == '/')
		n--;
	/* path_fits() keeps entry + rpath well inside qbuf; the check
	 * stays as the last line of defence against a cut name. */
	if (n + r >= sizeof(tp->qbuf[slot]))
		return NULL;
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
	    entry != NULL) {
		int n = snprintf(tp->entry, sizeof(tp->entry), "%s", entry);

		/* A cut login folder would put every name elsewhere. */
		tp->entry_ok = n >= 0 && (size_t)n < sizeof(tp->entry);
		tp->entry_known = 1;
	}
}

/*
 * FTP QUOTE paths start from the login folder, which libcurl learns at
 * login (PWD). A delete or rename can be a fresh connection's first
 * request: it logs in first (a request without a transfer), so the path
 * it names is the file meant and not the same path taken from "/" (on a
 * target whose login folder is not "/" that is another file, or none,
 * and a delete of none counts as done). 0, or -1 with res->error.
 */
static int
learn_login_folder(struct transport *tp, struct push_result *res)
{
	struct buf url;
	CURLcode rc = CURLE_OUT_OF_MEMORY;

	if (tp->sftp || tp->entry_known)
		return 0;
	buf_init(&url, 2048);
	common_opts(tp);
	if (buf_printf(&url, "%s/", tp->prefix) == 0) {
		curl_easy_setopt(tp->curl, CURLOPT_URL, buf_str(&url));
		curl_easy_setopt(tp->curl, CURLOPT_NOBODY, 1L);
		rc = curl_easy_perform(tp->curl);
	}
	buf_free(&url);
	if (rc == CURLE_OK)
		learn_entry_path(tp);
	if (rc != CURLE_OK || !tp->entry_known) {
		snprintf(res->error, sizeof(res->error), "login: %s",
		    rc != CURLE_OK ?
		        (tp->errbuf[0] ? tp->errbuf : curl_easy_strerror(rc)) :
		        "the target did not say its login folder (PWD)");
		return -1;
	}
	return 0;
}

static int run_quote(struct transport *tp, struct curl_slist *quote,
    const char *what, struct push_result *res);

/*
 * Appends the command "verb a [b]" to *list, every argument written so the
 * target reads back exactly that name (quote.h): a name is never a second
 * argument or a command. a and b are final (quote_path) paths, or another
 * argument such as a date; a NULL a (quote_path failed) is refused as too
 * long. Returns 0, or -1 with res->error (the name is refused, or no
 * memory); *list stays the caller's to free either way.
 */
static int
add_quote(struct transport *tp, struct curl_slist **list, const char *verb,
    const char *a, const char *b, struct push_result *res)
{
	enum quote_rc rc = QUOTE_TOO_LONG;
	struct curl_slist *grown;

	if (a != NULL) /* NULL: quote_path could not build it */
		rc = quote_command(tp->cmd, sizeof(tp->cmd),
		    tp->sftp ? QUOTE_SFTP : QUOTE_FTP, verb, a, b);
	if (rc != QUOTE_OK) {
		snprintf(res->error, sizeof(res->error), "%s: %s", verb,
		    quote_strerror(rc));
		return -1;
	}
	grown = curl_slist_append(*list, tp->cmd);
	if (grown == NULL) {
		snprintf(res->error, sizeof(res->error), "out of memory");
		return -1;
	}
	*list = grown;
	return 0;
}

/* out = a followed by b; -1 with res->error if it does not fit (a cut
 * path could name another file). */
static int
join_path(char *out, size_t outlen, const char *a, const char *b,
    struct push_result *res)
{
	int n = snprintf(out, outlen, "%s%s", a, b);

	if (n >= 0 && (size_t)n < outlen)
		return 0;
	snprintf(res->error, sizeof(res->error), "path too long");
	return -1;
}

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
	char verb[16];

	for (int i = 0; i < 3; i++) {
		struct curl_slist *quote = NULL;
		int found;

		if (tp->hash_method >= 0 && tp->hash_method != i)
			continue;
		if (tp->hash_method == 3)
			break;
		/* '*': a target without the command is not an error. */
		snprintf(verb, sizeof(verb), "*%s", methods[i].cmd);
		if (add_quote(tp, &quote, verb, path, NULL, res) < 0)
			return -1;
		if (run_quote(tp, quote, "verify", res) < 0) {
			curl_slist_free_all(quote);
			return -1;
		}
		curl_slist_free_all(quote);
		if (methods[i].algo == HASH_SHA256)
			found = ftpreply_find_hex(
			    buf_str(&tp->replies), "250 ", 64, hex);
		else if (methods[i].algo == HASH_MD5)
			found = ftpreply_find_hex(
			    buf_str(&tp->replies), "250 ", 32, hex);
		else
			found = ftpreply_find_hash(
			    buf_str(&tp->replies), algo, hex);
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
	struct push_result scratch;
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
	if (join_path(final, sizeof(final), tp->base, rpath, res) < 0)
		goto cleanup_tmp;
	if (tp->sftp) {
		/* SFTP v3 rename (all OpenSSH offers through libcurl) never
		 * replaces: remove the older copy first. The final name is
		 * briefly absent, never partial. */
		if (add_quote(tp, &quote, "*rm", final, NULL, res) < 0 ||
		    add_quote(tp, &quote, "rename", tmp, final, res) < 0)
			goto cleanup_tmp;
	} else {
		if (add_quote(tp, &quote, "RNFR", quote_path(tp, tmp, 0), NULL,
		        res) < 0 ||
		    add_quote(tp, &quote, "RNTO", quote_path(tp, final, 1),
		        NULL, res) < 0)
			goto cleanup_tmp;
	}
	curl_easy_setopt(tp->curl, CURLOPT_QUOTE, quote);
	if (run(tp, "rename", res) < 0)
		goto cleanup_tmp;
	rc = 0;
	goto out;
cleanup_tmp:
	/* Best effort: the redo reuses the same name anyway. res keeps the
	 * reason of the failure. */
	curl_slist_free_all(quote);
	quote = NULL;
	common_opts(tp);
	buf_reset(&url);
	if (buf_printf(&url, "%s/", tp->prefix) == 0 &&
	    add_quote(tp, &quote, tp->sftp ? "*rm" : "*DELE",
	        quote_path(tp, tmp, 0), NULL, &scratch) == 0) {
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
	char full[RFTP_PATH_MAX + 1100];
	struct curl_slist *quote = NULL;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	res->verify_used = "none";
	if (path_fits(tp, rpath, res) < 0 ||
	    join_path(full, sizeof(full), tp->base, rpath, res) < 0 ||
	    learn_login_folder(tp, res) < 0)
		return -1;
	/* '*': a file the target never had is as deleted as can be; a dead
	 * connection still fails the request. */
	if (add_quote(tp, &quote, tp->sftp ? "*rm" : "*DELE",
	        quote_path(tp, full, 0), NULL, res) == 0)
		rc = run_quote(tp, quote, "delete", res);
	curl_slist_free_all(quote);
	return rc;
}

int
transport_rename(struct transport *tp, const char *from, const char *to,
    struct push_result *res)
{
	char a[RFTP_PATH_MAX + 1100], b[RFTP_PATH_MAX + 1100];
	struct curl_slist *quote = NULL;
	int rc = -1, added;

	memset(res, 0, sizeof(*res));
	res->verify_used = "none";
	if (path_fits(tp, from, res) < 0 || path_fits(tp, to, res) < 0 ||
	    join_path(a, sizeof(a), tp->base, from, res) < 0 ||
	    join_path(b, sizeof(b), tp->base, to, res) < 0 ||
	    learn_login_folder(tp, res) < 0)
		return -1;
	if (tp->sftp)
		added = add_quote(tp, &quote, "rename", a, b, res);
	else if ((added = add_quote(tp, &quote, "RNFR", quote_path(tp, a, 0),
	              NULL, res)) == 0)
		added = add_quote(
		    tp, &quote, "RNTO", quote_path(tp, b, 1), NULL, res);
	if (added == 0)
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
	int n;

	memset(res, 0, sizeof(*res));
	buf_init(&url, 8192);
	buf_init(&body, 256u * 1024 * 1024);
	n = snprintf(full, sizeof(full), "%s%s/", tp->base, rdir);
	if (n < 0 || (size_t)n >= sizeof(full)) {
		snprintf(res->error, sizeof(res->error), "list: path too long");
		buf_free(&url);
		buf_free(&body);
		return -1;
	}
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
	for (size_t off = 0; off < body.len;) {
		const char *line = body.data + off;
		const char *nl = memchr(line, '\n', body.len - off);
		size_t len = nl != NULL ? (size_t)(nl - line) : body.len - off;
		struct ftp_entry e;

		off += len + 1;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		if ((use_mlsd ? ftpreply_mlsd_entry(line, len, &e) :
		                ftpreply_list_entry(line, len, &e)) == 0)
			fn(ctx, e.name, e.size, e.is_dir);
	}
	buf_free(&body);
	return 0;
}

int
transport_discard(struct transport *tp, const char *rpath, int64_t tag)
{
	char tmp[RFTP_PATH_MAX + 64];
	struct curl_slist *quote = NULL;
	struct push_result res;
	int rc;

	memset(&res, 0, sizeof(res));
	if (tmp_name(tp, rpath, tag, tmp, sizeof(tmp)) < 0)
		return 0; /* such a name was never pushed */
	if (learn_login_folder(tp, &res) < 0 ||
	    add_quote(tp, &quote, tp->sftp ? "*rm" : "*DELE",
	        quote_path(tp, tmp, 0), NULL, &res) < 0) {
		curl_slist_free_all(quote);
		return -1;
	}
	rc = run_quote(tp, quote, "discard", &res);
	curl_slist_free_all(quote);
	return rc;
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
	if (path_fits(tp, rpath, res) < 0 ||
	    join_path(full, sizeof(full), tp->base, rpath, res) < 0)
		return -1;
	buf_init(&url, 8192);
	common_opts(tp);
	if (tp->sftp) {
		/* SFTP has no "change folder, creating it": each level is made
		 * with mkdir, ignoring "exists". */
		struct curl_slist *quote = NULL;
		char level[sizeof(full)];
		size_t n = strlen(tp->base);
		int ok = 1;

		for (size_t i = n + 1; ok && full[i - 1] != '\0'; i++) {
			if (full[i] != '/' && full[i] != '\0')
				continue;
			memcpy(level, full, i);
			level[i] = '\0';
			ok = add_quote(tp, &quote, "*mkdir", level, NULL, res) == 0;
		}
		if (!ok) {
			curl_slist_free_all(quote);
			buf_free(&url);
			return -1;
		}
		if (buf_printf(&url, "%s/", tp->prefix) == 0) {
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
		char dir[sizeof(full) + 1];

		if (join_path(dir, sizeof(dir), full, "/", res) < 0) {
			buf_free(&url);
			return -1;
		}
		if (make_url(tp, dir, &url) == 0) {
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
	char full[RFTP_PATH_MAX + 1100];
	struct curl_slist *quote = NULL;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	res->verify_used = "none";
	if (path_fits(tp, rpath, res) < 0 ||
	    join_path(full, sizeof(full), tp->base, rpath, res) < 0 ||
	    learn_login_folder(tp, res) < 0)
		return -1;
	/* '*': a folder the target does not have is as removed as can be. */
	if (add_quote(tp, &quote, tp->sftp ? "*rmdir" : "*RMD",
	        quote_path(tp, full, 0), NULL, res) == 0)
		rc = run_quote(tp, quote, "rmdir", res);
	curl_slist_free_all(quote);
	return rc;
}

/* Runs one quote command on the login folder; the CURLcode tells a
 * refusal (CURLE_QUOTE_ERROR) from a failed connection. */
static CURLcode
quote_one(struct transport *tp, const char *cmd, struct push_result *res)
{
	struct curl_slist *quote = curl_slist_append(NULL, cmd);
	struct buf url;
	CURLcode rc = CURLE_OUT_OF_MEMORY;

	buf_init(&url, 2048);
	common_opts(tp);
	if (quote != NULL && buf_printf(&url, "%s/", tp->prefix) == 0) {
		curl_easy_setopt(tp->curl, CURLOPT_URL, buf_str(&url));
		curl_easy_setopt(tp->curl, CURLOPT_NOBODY, 1L);
		curl_easy_setopt(tp->curl, CURLOPT_QUOTE, quote);
		rc = curl_easy_perform(tp->curl);
		if (rc == CURLE_OK)
			learn_entry_path(tp);
	}
	if (rc != CURLE_OK)
		snprintf(res->error, sizeof(res->error), "set time: %s",
		    tp->errbuf[0] ? tp->errbuf : curl_easy_strerror(rc));
	curl_slist_free_all(quote);
	buf_free(&url);
	return rc;
}

/* The command that sets path's time with method m, or -1 (too long, or a
 * name the command cannot carry). Names go through quote_command, the one
 * place that knows what each protocol's command syntax can carry. */
static int
time_command(enum time_method m, const char *when, const char *path, char *out,
    size_t outlen)
{
	char date[40];
	int n;

	if (path == NULL)
		return -1;
	switch (m) {
	case TM_MFMT:
		return quote_command(out, outlen, QUOTE_FTP, "MFMT", when,
		           path) == QUOTE_OK ?
		    0 :
		    -1;
	case TM_MDTM:
		return quote_command(out, outlen, QUOTE_FTP, "MDTM", when,
		           path) == QUOTE_OK ?
		    0 :
		    -1;
	case TM_SITE_UTIME:
		/* "SITE UTIME path atime mtime ctime UTC": the times follow
		 * the name, which servers read from the end. */
		if (quote_command(out, outlen, QUOTE_FTP, "SITE UTIME", path,
		        NULL) != QUOTE_OK)
			return -1;
		n = (int)strlen(out);
		return snprintf(out + n, outlen - (size_t)n, " %s %s %s UTC",
		           when, when, when) >= (int)(outlen - (size_t)n) ?
		    -1 :
		    0;
	case TM_SFTP:
		/* curl_getdate's "20040912 15:05:58 -0700" form. */
		if (snprintf(date, sizeof(date), "%.8s %.2s:%.2s:%.2s +0000",
		        when, when + 8, when + 10,
		        when + 12) >= (int)sizeof(date))
			return -1;
		return quote_command(out, outlen, QUOTE_SFTP, "mtime", date,
		           path) == QUOTE_OK ?
		    0 :
		    -1;
	case TM_UNKNOWN:
	case TM_NONE:
		return -1;
	}
	return -1;
}

/* Whether "MDTM path" now answers when (a 213 to MDTM TIME path or to
 * SITE UTIME may also come from a server that did something else). */
static int
time_reads_back(struct transport *tp, const char *when, const char *path)
{
	char cmd[RFTP_PATH_MAX + 1200], got[HASH_HEX_MAX];
	struct push_result res;

	if (quote_command(cmd, sizeof(cmd), QUOTE_FTP, "MDTM", path, NULL) !=
	        QUOTE_OK ||
	    quote_one(tp, cmd, &res) != CURLE_OK)
		return 0;
	return ftpreply_find_hex(buf_str(&tp->replies), "213 ", 14, got) &&
	    strcmp(got, when) == 0;
}

enum time_result
transport_set_time(struct transport *tp, const char *rpath, time_t mtime,
    struct push_result *res)
{
	/* The FTP methods in the order they are tried (MFMT only if FEAT
	 * lists it); a method that needs verify is read back once. */
	static const struct {
		enum time_method m;
		int verify;
	} ftp_methods[] = {
		{ TM_MFMT, 0 },
		{ TM_SITE_UTIME, 1 },
		{ TM_MDTM, 1 },
	};
	char full[RFTP_PATH_MAX + 1100], when[16];
	char cmd[2 * RFTP_PATH_MAX + 2400];
	const char *path;
	struct tm tm;
	CURLcode rc;
	int has_mfmt = 0;

	memset(res, 0, sizeof(*res));
	res->verify_used = "none";
	if (path_fits(tp, rpath, res) < 0)
		return TIME_REFUSED;
	if (gmtime_r(&mtime, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y%m%d%H%M%S", &tm) != 14) {
		snprintf(res->error, sizeof(res->error),
		    "set time: %lld is not a time FTP can say",
		    (long long)mtime);
		return TIME_REFUSED;
	}
	snprintf(full, sizeof(full), "%s%s", tp->base, rpath);
	path = quote_path(tp, full, 0);
	if (tp->time_method == TM_NONE) {
		snprintf(res->error, sizeof(res->error),
		    "no MFMT in FEAT, no SITE UTIME, no MDTM with a time");
		return TIME_CANNOT;
	}
	if (tp->time_method != TM_UNKNOWN) {
		if (time_command(
		        tp->time_method, when, path, cmd, sizeof(cmd)) < 0) {
			snprintf(res->error, sizeof(res->error),
			    "set time: path too long");
			return TIME_REFUSED;
		}
		rc = quote_one(tp, cmd, res);
		if (rc == CURLE_OK)
			return TIME_SET;
		return rc == CURLE_QUOTE_ERROR ? TIME_REFUSED : TIME_FAILED;
	}
	/* Learn: FEAT (RFC 2389) says whether MFMT is there. A fresh
	 * connection learns its login folder here, which FTP paths start
	 * from (quote_path). */
	rc = quote_one(tp, "*FEAT", res);
	if (rc != CURLE_OK)
		return TIME_FAILED;
	path = quote_path(tp, full, 0);
	has_mfmt = ftpreply_feat_lists(buf_str(&tp->replies), "MFMT");
	for (size_t i = 0; i < sizeof(ftp_methods) / sizeof(ftp_methods[0]);
	     i++) {
		enum time_method m = ftp_methods[i].m;

		if (m == TM_MFMT && !has_mfmt)
			continue;
		if (time_command(m, when, path, cmd, sizeof(cmd)) < 0) {
			snprintf(res->error, sizeof(res->error),
			    "set time: path too long");
			return TIME_REFUSED;
		}
		rc = quote_one(tp, cmd, res);
		if (rc != CURLE_OK && rc != CURLE_QUOTE_ERROR)
			return TIME_FAILED;
		if (rc == CURLE_OK &&
		    (!ftp_methods[i].verify ||
		        time_reads_back(tp, when, path))) {
			tp->time_method = m;
			return TIME_SET;
		}
	}
	tp->time_method = TM_NONE;
	memset(res, 0, sizeof(*res));
	res->verify_used = "none";
	snprintf(res->error, sizeof(res->error),
	    "no MFMT in FEAT, no SITE UTIME, no MDTM with a time");
	return TIME_CANNOT;
}
