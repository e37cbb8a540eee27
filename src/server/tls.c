/*
 * tls.c - see tls.h.
 *
 * Sessions live in a store of the control connections' sessions (below)
 * and in TLS 1.3 tickets, both keyed to the per-FTP-session sid_ctx:
 * OpenSSL treats a session whose context differs as a cache miss, so the
 * resumption check below is also the "same client" check that vsftpd's
 * require_ssl_reuse makes. Sessions stay valid for a day, so a long FTP
 * session keeps opening data connections.
 *
 * Not OpenSSL's own server cache: it keeps the last 20,480 sessions of
 * every handshake, so strangers that only shook hands (AUTH TLS, QUIT)
 * pushed a logged-in client's session out, and every data connection of
 * a client that resumes by session ID (TLS 1.2 without tickets: Java's
 * clients) then got 425 (found from outside). The store holds the
 * session of each control connection while that connection lives, and
 * nothing else: OpenSSL asks it on every resumption
 * (SSL_SESS_CACHE_NO_INTERNAL_STORE).
 */
#include "server/tls.h"

#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define TLS_SESSION_LIFETIME 86400L
/* The longest tls_close waits to hand over its close_notify. */
#define TLS_CLOSE_WAIT_MS 1000

/* A control connection's session, kept while the connection lives. */
struct held_session {
	SSL *owner;
	SSL_SESSION *sess;
};

struct tls_server {
	SSL_CTX *ctx;
	pthread_mutex_t lock; /* guards held */
	struct held_session *held;
	size_t nheld, capheld;
};

/* The SSL ex_data index that marks a control connection's SSL (its value:
 * the tls_server); its free callback drops the SSL's held session. */
static int control_index = -1;
static pthread_once_t control_index_once = PTHREAD_ONCE_INIT;

static void
held_drop(struct tls_server *t, SSL *owner)
{
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->nheld; i++)
		if (t->held[i].owner == owner) {
			SSL_SESSION_free(t->held[i].sess);
			t->held[i] = t->held[--t->nheld];
			break;
		}
	pthread_mutex_unlock(&t->lock);
}

/* CRYPTO_EX_free: a control connection's SSL is freed. */
static void
control_freed(
    void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (ptr != NULL)
		held_drop(ptr, parent);
}

static void
control_index_make(void)
{
	control_index =
	    SSL_get_ex_new_index(0, NULL, NULL, NULL, control_freed);
}

/* SSL_CTX_sess_set_new_cb: a control connection's new session is held
 * (one per connection, the newest); a data connection's is not kept. */
static int
session_new(SSL *ssl, SSL_SESSION *sess)
{
	struct tls_server *t = SSL_get_ex_data(ssl, control_index);
	struct held_session *grown;
	size_t i;

	if (t == NULL)
		return 0;
	pthread_mutex_lock(&t->lock);
	for (i = 0; i < t->nheld && t->held[i].owner != ssl; i++)
		;
	if (i < t->nheld) {
		SSL_SESSION_free(t->held[i].sess);
		t->held[i].sess = sess;
		pthread_mutex_unlock(&t->lock);
		return 1; /* the reference is ours */
	}
	if (t->nheld == t->capheld) {
		size_t cap = t->capheld ? t->capheld * 2 : 64;

		grown = realloc(t->held, cap * sizeof(*grown));
		if (grown == NULL) {
			pthread_mutex_unlock(&t->lock);
			return 0; /* not resumable: its data connections 425 */
		}
		t->held = grown;
		t->capheld = cap;
	}
	t->held[t->nheld].owner = ssl;
	t->held[t->nheld++].sess = sess;
	pthread_mutex_unlock(&t->lock);
	return 1;
}

/* SSL_CTX_sess_set_get_cb: the held session with this id, if any (OpenSSL
 * then checks its sid_ctx: another FTP session's is no match). */
static SSL_SESSION *
session_get(SSL *ssl, const unsigned char *id, int len, int *copy)
{
	struct tls_server *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	SSL_SESSION *found = NULL;

	*copy = 1; /* OpenSSL takes its own reference */
	if (t == NULL || len <= 0)
		return NULL;
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->nheld && found == NULL; i++) {
		unsigned int n;
		const unsigned char *sid =
		    SSL_SESSION_get_id(t->held[i].sess, &n);

		if (n == (unsigned int)len && memcmp(sid, id, n) == 0)
			found = t->held[i].sess;
	}
	/* Taken (copy) before the lock goes: a concurrent drop cannot free
	 * it under OpenSSL. */
	if (found != NULL && !SSL_SESSION_up_ref(found))
		found = NULL;
	pthread_mutex_unlock(&t->lock);
	if (found != NULL)
		*copy = 0; /* the reference taken above is OpenSSL's */
	return found;
}

/* The newest OpenSSL error as text, and the queue cleared. */
static void
ssl_err_text(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char buf[256];

	if (e != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		snprintf(err, errlen, "%s: %s", what, buf);
	} else {
		snprintf(err, errlen, "%s: %s", what,
		    errno ? strerror(errno) : "connection closed");
	}
	ERR_clear_error();
}

struct tls_server *
tls_server_new(const struct tls_config *cfg, char *err, size_t errlen)
{
	struct tls_server *t = calloc(1, sizeof(*t));
	const char *key = cfg->key[0] ? cfg->key : cfg->cert;

	if (t == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&t->lock, NULL);
	t->ctx = SSL_CTX_new(TLS_server_method());
	if (t->ctx == NULL) {
		ssl_err_text(err, errlen, "SSL_CTX_new");
		goto fail;
	}
	if (!SSL_CTX_set_min_proto_version(t->ctx,
	        strcmp(cfg->min_version, "1.3") == 0 ? TLS1_3_VERSION :
	                                               TLS1_2_VERSION)) {
		ssl_err_text(err, errlen, "min_version");
		goto fail;
	}
	/* Renegotiation is an old DoS and injection surface; FTP needs none.
	 * The server's cipher order wins over a client's weaker wishes. */
	SSL_CTX_set_options(t->ctx,
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	        SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(t->ctx,
	    SSL_MODE_ENABLE_PARTIAL_WRITE |
	        SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (cfg->ciphers[0] && !SSL_CTX_set_cipher_list(t->ctx, cfg->ciphers)) {
		ssl_err_text(err, errlen, "ciphers");
		goto fail;
	}
	if (cfg->ciphersuites[0] &&
	    !SSL_CTX_set_ciphersuites(t->ctx, cfg->ciphersuites)) {
		ssl_err_text(err, errlen, "ciphersuites");
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(t->ctx, cfg->cert) != 1) {
		ssl_err_text(err, errlen, cfg->cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(t->ctx, key, SSL_FILETYPE_PEM) != 1) {
		ssl_err_text(err, errlen, key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(t->ctx) != 1) {
		ssl_err_text(err, errlen, "key does not match the certificate");
		goto fail;
	}
	pthread_once(&control_index_once, control_index_make);
	if (control_index < 0) {
		snprintf(err, errlen, "SSL_get_ex_new_index failed");
		goto fail;
	}
	SSL_CTX_set_app_data(t->ctx, t);
	SSL_CTX_set_session_cache_mode(
	    t->ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(t->ctx, session_new);
	SSL_CTX_sess_set_get_cb(t->ctx, session_get);
	SSL_CTX_set_timeout(t->ctx, TLS_SESSION_LIFETIME);
	return t;
fail:
	tls_server_free(t);
	return NULL;
}

void
tls_server_free(struct tls_server *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ctx);
	/* Every control connection's SSL is freed before the server. */
	for (size_t i = 0; i < t->nheld; i++)
		SSL_SESSION_free(t->held[i].sess);
	free(t->held);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

void
tls_new_sid_ctx(unsigned char ctx[TLS_SID_CTX_LEN])
{
	if (RAND_bytes(ctx, TLS_SID_CTX_LEN) != 1 &&
	    getrandom(ctx, TLS_SID_CTX_LEN, 0) != TLS_SID_CTX_LEN) {
		/* Unique is what matters; a clock-and-address mix is. */
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		memset(ctx, 0, TLS_SID_CTX_LEN);
		memcpy(ctx, &ts,
		    sizeof(ts) < TLS_SID_CTX_LEN ? sizeof(ts) :
		                                   TLS_SID_CTX_LEN);
	}
}

static int
elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (int)((t1.tv_sec - t0->tv_sec) * 1000 +
	    (t1.tv_nsec - t0->tv_nsec) / 1000000);
}

SSL *
tls_accept_begin(struct tls_server *t, int fd,
    const unsigned char sid_ctx[TLS_SID_CTX_LEN], int data, char *err,
    size_t errlen)
{
	SSL *ssl;
	int fl;

	err[0] = '\0';
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		snprintf(err, errlen, "fcntl: %s", strerror(errno));
		return NULL;
	}
	ssl = SSL_new(t->ctx);
	if (ssl == NULL || !SSL_set_fd(ssl, fd) ||
	    !SSL_set_session_id_context(ssl, sid_ctx, TLS_SID_CTX_LEN)) {
		ssl_err_text(err, errlen, "SSL_new");
		SSL_free(ssl);
		return NULL;
	}
	if (data)
		SSL_set_num_tickets(ssl, 0);
	else if (!SSL_set_ex_data(ssl, control_index, t)) {
		ssl_err_text(err, errlen, "SSL_set_ex_data");
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

enum tls_hs
tls_accept_step(SSL *ssl, int data, int require_reuse, short *events, char *err,
    size_t errlen)
{
	int r, e;

	err[0] = '\0';
	ERR_clear_error();
	errno = 0;
	r = SSL_accept(ssl);
	if (r != 1) {
		e = SSL_get_error(ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			ssl_err_text(err, errlen, "handshake");
			SSL_free(ssl);
			return TLS_HS_FAILED;
		}
		*events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
		return TLS_HS_WANT;
	}
	if (data && require_reuse && !SSL_session_reused(ssl)) {
		snprintf(err, errlen,
		    "data connection did not resume the control "
		    "connection's TLS session");
		/* Tell the stranger nothing more: no close_notify. */
		SSL_free(ssl);
		return TLS_HS_NO_REUSE;
	}
	return TLS_HS_OK;
}

enum tls_hs
tls_accept_run(SSL *ssl, int fd, int data, int require_reuse, int timeout_ms,
    int stop_fd, int rival_fd, int rival_after_ms, char *err, size_t errlen)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pf[3];
		int r, left, rival, now;
		short events = 0;
		enum tls_hs hs = tls_accept_step(
		    ssl, data, require_reuse, &events, err, errlen);

		if (hs != TLS_HS_WANT)
			return hs;
		now = elapsed_ms(&t0);
		left = timeout_ms - now;
		if (left <= 0) {
			snprintf(err, errlen, "handshake timed out");
			SSL_free(ssl);
			return TLS_HS_TIMEOUT;
		}
		/* The rival counts once this handshake had its time. */
		rival = rival_fd >= 0 && now >= rival_after_ms;
		if (rival_fd >= 0 && !rival && rival_after_ms - now < left)
			left = rival_after_ms - now;
		pf[0].fd = fd;
		pf[0].events = events;
		pf[1].fd = stop_fd;
		pf[1].events = POLLIN;
		pf[2].fd = rival ? rival_fd : -1;
		pf[2].events = POLLIN;
		pf[2].revents = 0;
		r = poll(pf, 3, left);
		if (r < 0 && errno != EINTR) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			SSL_free(ssl);
			return TLS_HS_FAILED;
		}
		if (r > 0 && (pf[1].revents & POLLIN)) {
			SSL_free(ssl);
			return TLS_HS_STOPPED;
		}
		if (r > 0 && (pf[2].revents & POLLIN) && !(pf[0].revents))
			return TLS_HS_RIVAL; /* ssl stays the caller's */
	}
}

enum tls_hs
tls_handshake(struct tls_server *t, int fd,
    const unsigned char sid_ctx[TLS_SID_CTX_LEN], int data, int require_reuse,
    int timeout_ms, int stop_fd, SSL **out, char *err, size_t errlen)
{
	SSL *ssl = tls_accept_begin(t, fd, sid_ctx, data, err, errlen);
	enum tls_hs hs;

	*out = NULL;
	if (ssl == NULL)
		return TLS_HS_FAILED;
	hs = tls_accept_run(ssl, fd, data, require_reuse, timeout_ms, stop_fd,
	    -1, 0, err, errlen);
	if (hs == TLS_HS_OK)
		*out = ssl;
	return hs;
}

/* Maps a failed SSL_read/SSL_write. */
static enum tls_io
io_error(SSL *ssl, int r)
{
	int e = SSL_get_error(ssl, r);
	unsigned long q;

	switch (e) {
	case SSL_ERROR_WANT_READ:
		return TLS_IO_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return TLS_IO_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return TLS_IO_CLOSED;
	case SSL_ERROR_SYSCALL:
		/* OpenSSL 1.1: FIN without close_notify has errno 0. */
		ERR_clear_error();
		return errno == 0 ? TLS_IO_EOF : TLS_IO_ERR;
	case SSL_ERROR_SSL:
		q = ERR_peek_last_error();
		ERR_clear_error();
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
		if (ERR_GET_LIB(q) == ERR_LIB_SSL &&
		    ERR_GET_REASON(q) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
			return TLS_IO_EOF;
#endif
		return TLS_IO_ERR;
	default:
		ERR_clear_error();
		return TLS_IO_ERR;
	}
}

enum tls_io
tls_read(SSL *ssl, void *p, size_t n, size_t *got)
{
	size_t done = 0;
	int r;

	ERR_clear_error();
	errno = 0;
	r = SSL_read_ex(ssl, p, n, &done);
	*got = done;
	return r == 1 ? TLS_IO_OK : io_error(ssl, r);
}

enum tls_io
tls_write(SSL *ssl, const void *p, size_t n, size_t *put)
{
	size_t done = 0;
	int r;

	ERR_clear_error();
	errno = 0;
	r = SSL_write_ex(ssl, p, n, &done);
	*put = done;
	return r == 1 ? TLS_IO_OK : io_error(ssl, r);
}

void
tls_renew_ticket(SSL *ctrl)
{
	if (SSL_version(ctrl) == TLS1_3_VERSION)
		SSL_new_session_ticket(ctrl);
}

int
tls_pending(SSL *ssl)
{
	return SSL_pending(ssl);
}

void
tls_close(SSL *ssl)
{
	struct timespec t0;

	if (ssl == NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pf;
		int r, e;

		ERR_clear_error();
		r = SSL_shutdown(ssl);
		/* 0: our close_notify is sent; we do not wait for theirs. */
		if (r >= 0)
			break;
		e = SSL_get_error(ssl, r);
		if ((e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ) ||
		    elapsed_ms(&t0) >= TLS_CLOSE_WAIT_MS)
			break;
		pf.fd = SSL_get_fd(ssl);
		pf.events = e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
		if (poll(&pf, 1, TLS_CLOSE_WAIT_MS - elapsed_ms(&t0)) <= 0)
			break;
	}
	ERR_clear_error();
	SSL_free(ssl);
}

void
tls_free(SSL *ssl)
{
	ERR_clear_error();
	SSL_free(ssl);
}

void
tls_describe(SSL *ssl, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s %s%s", SSL_get_version(ssl),
	    SSL_get_cipher_name(ssl),
	    SSL_session_reused(ssl) ? " (resumed)" : "");
}
