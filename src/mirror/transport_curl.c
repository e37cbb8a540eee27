/*
 * transport_curl.c - the libcurl transport (ftp://, ftps://, sftp://): the
 * table transport_curl_ops of transport_ops.h. The only file that includes
 * <curl/curl.h>; names are built by rpath.h and quote.h, listings and
 * replies read by ftpreply.h.
 *
 * A push is three requests on one easy handle (curl_easy_reset keeps the
 * live connection, which waits between requests in the multi handle that
 * perform() drives each request with): STOR of the temporary name; SIZE
 * (and XSHA256 when verify = hash) of it; RNFR/RNTO into place. Setting a
 * file's time is a fourth, separate request (set_time), so the mirror
 * decides when. Paths in QUOTE commands are relative to the login folder,
 * like the URL path (RFC 1738 section 3.2.2), because curl sends QUOTE
 * before it changes folder.
 * Once the login folder is known, the STOR and SIZE of an ftp push name
 * the copy by its absolute path too (abs_request): no request of a push
 * then changes folder, which saves four round trips a file.
 */
#include "mirror/transport_ops.h"
#include "mirror/curlbase.h"

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/tcpinfo.h"
#include "mirror/filerange.h"
#include "mirror/ftpcmds.h"
#include "mirror/ftpreply.h"
#include "mirror/quote.h"

#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* perform(): runs of libcurl at a request's start with nothing to wait on,
 * before it polls. */
#define PERFORM_AGAIN_MAX 4

/* How long a closing control connection of an upload the target cut
 * is read for the reply it sent with the cut (late_reply). */
#define LATE_REPLY_MS 1000

/*
 * How long a refusal learnt (struct transport_lore) is trusted before one
 * push of the target asks the command again. A server upgraded to answer
 * SIZE (or MLSD) again would else be verified by listings until the
 * daemon restarts, a listing a push: for a folder of 10,000 files there,
 * some 700 KB each. Asking again costs one refused SIZE (and MLSD) an
 * hour for the whole target, on a connection that stays open (9d82975).
 */
#define LORE_RECHECK_MS (60 * 60 * 1000)

/* The line of a command that names path whole: "VERB path\r\n". */
#define PATH_LINE(path) (strlen(path) + 7)

/* Room for a temporary name under the URL folder. */
#define TMP_NAME_MAX (RFTP_PATH_MAX + 64)

/* Room for a request's URL: the prefix (struct curl_tp), "/%2F" and a
 * full remote path whose every byte may be escaped to three ("%E6" of a
 * CJK character). A fixed 8 KiB was less than that: a path of 2,900 bytes
 * of CJK names, which the server takes, made a URL too long to build and
 * its push failed as "out of memory" at every retry. */
#define URL_MAX (1024 + 4 + 3 * FTPC_FULL_MAX)

struct curl_tp {
	const struct target_config *t;
	const atomic_int *stop;
	CURL *curl;
	/* Keeps the connection between requests (perform() tells why not
	 * curl_easy_perform). */
	CURLM *multi;
	/* The control connection libcurl kept after the last request, for
	 * curl_close to end; CURL_SOCKET_BAD if none. Asked while the handle
	 * is in the multi handle: libcurl finds it for no other. */
	curl_socket_t kept;
	/* The last request failed by the target's clean "no" (answered_no),
	 * not by a timeout or a cut link. */
	int said_no;
	/* The folder libcurl believes the kept connection is in (FTP; see
	 * walk_afresh): the folder part, "/" ended, of the path the last
	 * request walked; "" the login folder (a path in it: "/x") or none.
	 * req_dir and req_abs are the request being set up's: the folder it
	 * walks (make_url), or a path named absolutely, which changes no
	 * folder (abs_request). perform() moves one to the other. */
	char cwd[FTPC_FULL_MAX + 1];
	char req_dir[FTPC_FULL_MAX + 1];
	int req_abs;
	/* The longest command line (CRLF counted) of the request being set
	 * up that names a path whole (a quote list, a request by absolute
	 * path), 0 where it sends only short ones (a walk: a name a CWD);
	 * line_again: perform found a line as long or shorter answered 500
	 * before (line_heard), on a connection since dropped. */
	size_t req_line;
	/* The lines of the request and their answers (debug_cb), where
	 * req_line is long: which lines the target read (line_heard). */
	struct line_trace trace;
	int line_again;
	/* perform found a 500 that may be a line too long for the target
	 * (line_heard): not where a line as long was taken before. */
	int line_long;
	/* The kept connection is ended as the next request is set up
	 * (common_opts): line_heard. Not at once: the caller may still ask
	 * libcurl about the request (CURLINFO_FTP_ENTRY_PATH points into
	 * the connection, and a login folder read from a freed one put
	 * stray bytes in every path after it). */
	int drop_next;
	/* ask_cb sends no command line the target's lore refuses for its
	 * length (curl_rmdir sets it around ftpc_rmdir); ask_held says one
	 * was held back since. */
	int ask_gated;
	int ask_held;
	/* The last listing (list_folder) found its folder refused or not
	 * there (a CWD or the listing answered 550), which it answers as
	 * an empty folder: parent_lists_dir tells that from a folder
	 * listed without the name. */
	int list_denied;
	/* parent_lists_dir's last listing, kept for the job (struct
	 * dir_cache): a repair's N folders refused RMD in one folder each
	 * had it listed again, N listings of it (1,000 of a 10,000-entry
	 * folder). */
	struct dir_cache {
		char *parent; /* its folder, NULL: none kept */
		char **names; /* the folders it lists, sorted */
		size_t n, cap;
		int denied; /* the folder itself refused or not there */
		int failed; /* out of memory while collecting: not kept */
	} dc;
	char prefix[1024]; /* scheme://[userinfo@]host[:port] */
	int sftp;
	/* Names, command lists and what the target was found to answer. */
	struct ftpc fc;
	char errbuf[CURL_ERROR_SIZE];
	struct buf replies; /* control replies of the last request */
	/* known_hosts: how the host key compared in the last request
	 * (a CURLKHMATCH_* value), -1 if it was not checked. */
	int khmatch;
	/* The size the target gave for posted_tmp right after the upload
	 * (SIZE sent with it, put_range), for the verify to use instead of
	 * asking again; -1 none. */
	int64_t posted_size;
	char posted_tmp[TMP_NAME_MAX];
	/* The size the copy publish_tmp was verified at, for the publish to
	 * check the final name against (ftpcmds.h ftpc_publish_from); -1
	 * none (verify = none: a target that may refuse SIZE). */
	int64_t publish_size;
	char publish_tmp[TMP_NAME_MAX];
	/* Whether the target takes a name spelled in another letter case
	 * for the same file (transport_case_blind): 1, 0, -1 not known. */
	int case_blind;
	/* Learnt once for the target, by whichever of its transports met
	 * it first (lore: the target's, shared; own_lore where none was
	 * given): the target refuses SIZE though its listing showed the
	 * copy (vsftpd without SIZE in cmds_allowed), so the verify lists
	 * at once; it refuses MLSD, so listings go to LIST at once. Each
	 * refusal cost a command, and libcurl's closed the connection:
	 * every push logged in twice more; learnt per transport, each of
	 * the target's workers paid them again. size_said: the words of
	 * the refusal, for this transport's errors. */
	struct transport_lore *lore;
	struct transport_lore own_lore;
	char size_said[160];
	transport_progress_fn progress; /* NULL: nobody asks */
	void *progress_ctx;
	struct file_range *rd; /* the request's upload source; NULL none */
	/* FTP: the socket of the request's control connection (the kept
	 * one, or the first opened), CURL_SOCKET_BAD none; uploading: 1
	 * while an upload request runs. late: the final reply the target
	 * sent on it when it ended the upload itself (late_reply), "" none. */
	curl_socket_t ctrl;
	int uploading;
	char late[512];
	/* sftp: the bytes the request had moved (up and down) when last
	 * seen by progress_cb, since when (clock_mono_ms), and whether
	 * progress_cb ended the request for moving none for the target's
	 * timeout (run and list_folder say so). */
	curl_off_t moved;
	uint64_t moved_at;
	int stalled;
	/* sftp: the last request was an upload that ended mid-file by a
	 * failed write (sftp_write_failed). */
	int write_failed;
	/* The temporary name the upload request writes (put_range's, for
	 * the time of its request), NULL none: sftp_close_unanswered's
	 * line names it. */
	const char *req_tmp;
	/* sftp: libcurl's words when the target answered the uploaded
	 * file's CLOSE with an error (sftp_debug_cb), "" none. */
	char close_failed[160];
	/* The bytes of a listing received so far (list_folder's write
	 * callbacks): libcurl's sftp listing counts none in its progress,
	 * and a big folder's listing read as a silent server. */
	curl_off_t listed;
	/* The bytes the target had sent on the transport's sockets when
	 * progress_cb last looked (heard_from). */
	curl_off_t heard;
	/* The sockets open for this transport (open_cb, close_cb), as many
	 * as fit: progress_cb hears the server on them (heard_from) and
	 * cuts them all at an sftp stall. tp->ctrl alone
	 * is the first opened: when a host has IPv6 and IPv4 addresses and
	 * the second attempt won, it was the loser's, since closed. */
	curl_socket_t socks[4];
	unsigned nsocks;
};

/*
 * Every socket libcurl opens for these transports, with the stop flag of
 * the transport it serves, so that a stop can cut them all at once
 * (curl_interrupt): libcurl 7.88 does the TLS handshake after AUTH TLS as
 * one blocking call bounded only by the 15 s connect timeout, where no
 * progress callback runs (found from outside: SIGTERM waited 12 to 15 s
 * for a target that answered 234 and went quiet). libcurl closes some of
 * them without the close callback (a connect attempt that lost, closed
 * before it was handed over): so an entry is checked by its inode before
 * a shutdown (its number may be another socket's by then), and replaced
 * when its number comes back here.
 */
struct live_sock {
	curl_socket_t fd;
	ino_t ino;
	const atomic_int *stop;
};

static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct live_sock *live;
static size_t nlive, live_cap;
/* Mirrors between global_init and global_cleanup: a library program runs
 * several, and the first one's stop emptied the table of the others,
 * whose stops then waited out a stalled handshake (found from outside). */
static unsigned live_users;

static int
curl_global_init_once(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	pthread_mutex_lock(&live_lock);
	live_users++;
	pthread_mutex_unlock(&live_lock);
	return 0;
}

static int
live_add(curl_socket_t fd, const atomic_int *stop)
{
	struct stat st;
	size_t i;
	int rc = 0;

	if (fstat(fd, &st) < 0)
		return -1;
	pthread_mutex_lock(&live_lock);
	for (i = 0; i < nlive && live[i].fd != fd; i++)
		;
	if (i == nlive && nlive == live_cap) {
		size_t cap = live_cap ? 2 * live_cap : 64;
		struct live_sock *grown = realloc(live, cap * sizeof(*live));

		if (grown == NULL)
			rc = -1;
		else {
			live = grown;
			live_cap = cap;
		}
	}
	if (rc == 0) {
		live[i].fd = fd;
		live[i].ino = st.st_ino;
		live[i].stop = stop;
		if (i == nlive)
			nlive++;
	}
	pthread_mutex_unlock(&live_lock);
	return rc;
}

static curl_socket_t
open_cb(void *ctx, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct curl_tp *tp = ctx;
	curl_socket_t fd;

	(void)purpose;
	if (atomic_load(tp->stop))
		return CURL_SOCKET_BAD;
	fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	if (fd != CURL_SOCKET_BAD && live_add(fd, tp->stop) < 0) {
		close(fd);
		fd = CURL_SOCKET_BAD;
	}
	/* A request opens its control connection before any data one. */
	if (fd != CURL_SOCKET_BAD && tp->ctrl == CURL_SOCKET_BAD)
		tp->ctrl = fd;
	if (fd != CURL_SOCKET_BAD &&
	    tp->nsocks < sizeof(tp->socks) / sizeof(tp->socks[0]))
		tp->socks[tp->nsocks++] = fd;
	return fd;
}

/*
 * The reply a target sends on its control connection when it ends an
 * upload itself, into tp->late: a full disk or a quota met mid-file
 * (vsftpd, proftpd and pure-ftpd stop reading, close the data connection
 * and say why, 451, 452 or 552). libcurl, whose send then fails, closes
 * the control connection unread, and the admin read only "Send failure:
 * Broken pipe" or "Connection reset by peer" of a target that said "No
 * space left on device" (found from outside). Read until a final reply
 * line, the connection's end, or LATE_REPLY_MS: the target writes it as
 * it cuts the data connection. Not over TLS, whose records this cannot
 * read.
 */
static void
late_reply(struct curl_tp *tp, curl_socket_t fd)
{
	uint64_t deadline = clock_mono_ms() + LATE_REPLY_MS;
	char said[sizeof(tp->late)];
	size_t n = 0;

	if (tp->t->explicit_tls || strncmp(tp->t->url, "ftps://", 7) == 0)
		return;
	while (n < sizeof(tp->late) - 1) {
		uint64_t now = clock_mono_ms();
		struct pollfd pfd = { fd, POLLIN, 0 };
		ssize_t got;

		if (now >= deadline ||
		    poll(&pfd, 1, (int)(deadline - now)) <= 0)
			break;
		got = recv(
		    fd, tp->late + n, sizeof(tp->late) - 1 - n, MSG_DONTWAIT);
		if (got <= 0)
			break;
		n += (size_t)got;
		tp->late[n] = '\0';
		if (tp->late[n - 1] == '\n' &&
		    ftpreply_last_no(tp->late, said, sizeof(said)))
			break;
	}
	tp->late[n] = '\0';
}

/* Forgotten and closed under the lock: a stop never cuts a number that
 * was closed and reused meanwhile. ctx, the transport, outlives its
 * multi handle, whose cleanup in curl_close may call this. */
static int
close_cb(void *ctx, curl_socket_t fd)
{
	struct curl_tp *tp = ctx;
	int rc;

	/* The control connection closed while the upload's bytes went: the
	 * request failed (a kept one is not closed), its reply unread. */
	if (fd == tp->ctrl) {
		if (tp->uploading && tp->rd != NULL &&
		    tp->rd->off > tp->rd->start && !tp->sftp)
			late_reply(tp, fd);
		tp->ctrl = CURL_SOCKET_BAD;
	}
	for (unsigned i = 0; i < tp->nsocks; i++)
		if (tp->socks[i] == fd) {
			tp->socks[i] = tp->socks[--tp->nsocks];
			break;
		}
	pthread_mutex_lock(&live_lock);
	for (size_t i = 0; i < nlive; i++)
		if (live[i].fd == fd) {
			live[i] = live[--nlive];
			break;
		}
	rc = close(fd);
	pthread_mutex_unlock(&live_lock);
	return rc;
}

static void
curl_interrupt(const atomic_int *stop)
{
	struct stat st;

	pthread_mutex_lock(&live_lock);
	for (size_t i = 0; i < nlive; i++)
		if (live[i].stop == stop && fstat(live[i].fd, &st) == 0 &&
		    S_ISSOCK(st.st_mode) && st.st_ino == live[i].ino)
			(void)shutdown(live[i].fd, SHUT_RDWR);
	pthread_mutex_unlock(&live_lock);
}

static void
curl_global_cleanup_once(void)
{
	curl_global_cleanup();
	pthread_mutex_lock(&live_lock);
	if (live_users > 0 && --live_users == 0) {
		free(live);
		live = NULL;
		nlive = live_cap = 0;
	}
	pthread_mutex_unlock(&live_lock);
}

static int login_cb(void *ctx, struct push_result *res);
static int ask_cb(void *ctx, const struct buf *cmds, const char *what,
    struct push_result *res);
static const char *replies_cb(void *ctx);

static void *
curl_open(const struct target_config *t, const atomic_int *stop)
{
	struct curl_tp *tp = calloc(1, sizeof(*tp));
	const char *p, *slash;
	char *dec;
	int declen = 0;
	size_t n;

	if (tp == NULL)
		return NULL;
	tp->t = t;
	tp->stop = stop;
	tp->sftp = strncmp(t->url, "sftp://", 7) == 0;
	ftpc_init(&tp->fc, tp->sftp);
	tp->fc.ctx = tp;
	tp->fc.login = login_cb;
	tp->fc.ask = ask_cb;
	tp->fc.replies = replies_cb;
	tp->fc.stop = stop;
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
	/* A cut URL folder would put every file elsewhere. */
	n = (size_t)snprintf(tp->fc.base, sizeof(tp->fc.base), "%s", dec);
	curl_free(dec);
	if (n >= sizeof(tp->fc.base))
		goto fail;
	while (n > 0 && tp->fc.base[n - 1] == '/')
		tp->fc.base[--n] = '\0';
	buf_init(&tp->replies, 64 * 1024);
	if ((tp->multi = curl_multi_init()) == NULL)
		goto fail;
	tp->kept = CURL_SOCKET_BAD;
	tp->ctrl = CURL_SOCKET_BAD;
	tp->posted_size = -1;
	tp->publish_size = -1;
	tp->case_blind = -1;
	if (pthread_mutex_init(&tp->own_lore.lock, NULL) != 0)
		goto fail_lore;
	tp->own_lore.case_blind = -1;
	tp->lore = &tp->own_lore;
	return tp;
fail_lore:
	curl_multi_cleanup(tp->multi);
fail:
	if (tp->curl != NULL)
		curl_easy_cleanup(tp->curl);
	buf_free(&tp->replies);
	free(tp);
	return NULL;
}

static void
curl_set_lore(void *impl, struct transport_lore *lore)
{
	struct curl_tp *tp = impl;

	tp->lore = lore;
}

/*
 * Whether what the target's transports learnt at *at still holds, under
 * the lore's lock: 1 yes; 0 not learnt, or learnt LORE_RECHECK_MS ago.
 * ask: the caller is the one whose question settles it (the verify's
 * SIZE, a listing's MLSD): once it is that old, this caller alone asks
 * again, and the others go on trusting it for as long once more, until
 * the caller's answer renews or clears it.
 */
static int
lore_holds(uint64_t *at, int ask)
{
	uint64_t now;

	if (*at == 0)
		return 0;
	now = clock_mono_ms();
	if (now - *at < LORE_RECHECK_MS)
		return 1;
	if (ask)
		*at = now;
	return !ask;
}

/* The target refuses SIZE (lore_holds): its words into tp->size_said. */
static int
size_refused(struct curl_tp *tp, int ask)
{
	int r;

	pthread_mutex_lock(&tp->lore->lock);
	r = lore_holds(&tp->lore->size_refused_ms, ask);
	if (r)
		memcpy(
		    tp->size_said, tp->lore->size_said, sizeof(tp->size_said));
	pthread_mutex_unlock(&tp->lore->lock);
	return r;
}

/* The target answered 550 to SIZE of a copy its listing showed (its
 * words in tp->size_said): every transport of it lists at once. */
static void
learn_size_refused(struct curl_tp *tp)
{
	uint64_t now = clock_mono_ms();

	pthread_mutex_lock(&tp->lore->lock);
	if (tp->lore->size_refused_ms == 0)
		log_info("mirror target %s: the target refuses SIZE (%s): "
		         "pushes read a copy's size from its folder's listing",
		    tp->t->name, tp->size_said);
	tp->lore->size_refused_ms = now > 0 ? now : 1;
	memcpy(tp->lore->size_said, tp->size_said, sizeof(tp->size_said));
	pthread_mutex_unlock(&tp->lore->lock);
}

/* The target answered a SIZE with a size: it is asked again. */
static void
size_answered(struct curl_tp *tp)
{
	pthread_mutex_lock(&tp->lore->lock);
	if (tp->lore->size_refused_ms != 0)
		log_info("mirror target %s: the target answers SIZE again",
		    tp->t->name);
	tp->lore->size_refused_ms = 0;
	pthread_mutex_unlock(&tp->lore->lock);
}

/* The target refuses MLSD (lore_holds). */
static int
mlsd_refused(struct curl_tp *tp)
{
	int r;

	pthread_mutex_lock(&tp->lore->lock);
	r = lore_holds(&tp->lore->no_mlsd_ms, 1);
	pthread_mutex_unlock(&tp->lore->lock);
	return r;
}

/* MLSD answered: 1 a listing (it is asked from now on), 0 a refusal
 * (LIST from now on, on every transport of the target). */
static void
mlsd_answered(struct curl_tp *tp, int listed)
{
	uint64_t now = listed ? 0 : clock_mono_ms();

	pthread_mutex_lock(&tp->lore->lock);
	tp->lore->no_mlsd_ms = listed ? 0 : now > 0 ? now : 1;
	pthread_mutex_unlock(&tp->lore->lock);
}

static int
curl_case_blind(void *impl)
{
	const struct curl_tp *tp = impl;

	return tp->case_blind;
}

/*
 * Forgets the kept listing (struct dir_cache): at each job's start
 * (curl_set_job: the target's admin may change it between jobs), and
 * where this transport may change the folders it names (a push, which
 * makes missing folders; a mkdir, rename or publish; an rmdir done in
 * it: curl_rmdir).
 */
static void
dircache_drop(struct curl_tp *tp)
{
	for (size_t i = 0; i < tp->dc.n; i++)
		free(tp->dc.names[i]);
	free(tp->dc.names);
	free(tp->dc.parent);
	memset(&tp->dc, 0, sizeof(tp->dc));
}

/* A job's start: nothing kept of the job before it. */
static void
curl_set_job(void *impl, const struct transport_job *job)
{
	(void)job;
	dircache_drop(impl);
}

static void
curl_close(void *impl, int quick)
{
	struct curl_tp *tp = impl;

	if (tp == NULL)
		return;
	/* At shutdown, a target that stopped answering would hold the
	 * daemon for the response timeout (60 s: past systemd's stop
	 * timeout) while libcurl says QUIT on the kept connection and waits
	 * for the answer: end the connection first, so that goodbye fails
	 * at once. So does a quick close (a connection kept idle, closed by
	 * a thread others wait for). Else goodbye is said politely. */
	if ((quick || atomic_load(tp->stop)) && tp->kept != CURL_SOCKET_BAD)
		(void)shutdown(tp->kept, SHUT_RDWR);
	/* The multi handle owns the kept connection: its cleanup says the
	 * goodbye, with the last request's timeouts. */
	curl_multi_cleanup(tp->multi);
	curl_easy_cleanup(tp->curl);
	buf_free(&tp->replies);
	dircache_drop(tp);
	pthread_mutex_destroy(&tp->own_lore.lock);
	free(tp);
}

static void
curl_on_progress(void *impl, transport_progress_fn fn, void *ctx)
{
	struct curl_tp *tp = impl;

	tp->progress = fn;
	tp->progress_ctx = ctx;
}

static size_t
read_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct curl_tp *tp = userdata;
	ssize_t n =
	    tp->rd != NULL ? file_range_read(tp->rd, ptr, size * nmemb) : -1;

	/* A stream's read waits for its client's bytes, or for its end:
	 * that wait is the client's, not the target's silence (sftp:
	 * progress_cb). A client that paused after its last byte left
	 * nothing moved since before the pause, and the wait for the
	 * target's close answer was ended at once, the copy sent again. */
	tp->moved_at = clock_mono_ms();
	return n < 0 ? CURL_READFUNC_ABORT : (size_t)n;
}

/*
 * Every connection libcurl opens gets SO_REUSEADDR. A push's data
 * connection is closed by us first, so its local port stays in TIME_WAIT
 * for a minute: at a thousand pushes a second, the whole ephemeral range.
 * The server's passive listeners take their ports in that range with
 * SO_REUSEADDR (pasvpool.c), and the kernel lets them share a port with a
 * connection in TIME_WAIT only if that one had the flag too: without it,
 * nearly every pick failed and each listener fell back to the kernel's
 * own search, which walks those thousands of ports. Harmless for a
 * connection: its port is still one no listener holds.
 */
static int
sockopt_cb(void *ctx, curl_socket_t fd, curlsocktype purpose)
{
	const struct curl_tp *tp = ctx;
	int one = 1;

	if (purpose != CURLSOCKTYPE_IPCXN)
		return CURL_SOCKOPT_OK;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		return CURL_SOCKOPT_ERROR;
	return curlbase_keepalive(fd, tp->t);
}

static size_t
header_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct curl_tp *tp = userdata;

	buf_add(&tp->replies, ptr, size * nmemb);
	return size * nmemb;
}

/*
 * libcurl's report of each command line sent and each reply line read, for
 * the trace of a request with a long line (perform_once sets it only
 * there: libcurl's verbose reports cost a formatted message each).
 */
static int
debug_cb(CURL *c, curl_infotype type, char *data, size_t size, void *ctx)
{
	struct curl_tp *tp = ctx;

	(void)c;
	if (type == CURLINFO_HEADER_OUT)
		linelore_trace_sent(&tp->trace, data, size);
	else if (type == CURLINFO_HEADER_IN)
		linelore_trace_reply(&tp->trace, data, size);
	return 0;
}

/*
 * sftp uploads: libcurl 7.88 answers an error status to the file's CLOSE
 * with a verbose note alone ("Failed to close libssh2 file: -31 SFTP
 * Protocol Error", lib/vssh/libssh2.c SSH_SFTP_CLOSE) and ends the request
 * OK. A server whose close fails (NFS or a FUSE mount reporting the
 * write-back error, a quota counted at close) may not hold the file
 * whole, and the push went on to verify, publish and record it delivered
 * (found from outside: sftp_stall.py answering CLOSE with a failure).
 * The note is kept here for run().
 */
static int
sftp_debug_cb(CURL *c, curl_infotype type, char *data, size_t size, void *ctx)
{
	static const char note[] = "Failed to close libssh2 file";
	struct curl_tp *tp = ctx;
	size_t n = size;

	(void)c;
	if (type != CURLINFO_TEXT || size < sizeof(note) - 1 ||
	    memcmp(data, note, sizeof(note) - 1) != 0 ||
	    tp->close_failed[0] != '\0')
		return 0;
	while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == '\r'))
		n--;
	if (n >= sizeof(tp->close_failed))
		n = sizeof(tp->close_failed) - 1;
	memcpy(tp->close_failed, data, n);
	tp->close_failed[n] = '\0';
	return 0;
}

static size_t
discard_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	(void)ptr;
	(void)userdata;
	return size * nmemb;
}

/* URL of a remote path: each segment escaped. absolute (ftp): the path
 * is taken from the server's root ("/%2F..." in the URL, RFC 1738 3.2.2)
 * instead of the login folder. */
static int
url_of(struct curl_tp *tp, const char *rpath, int absolute, struct buf *out)
{
	const char *p = rpath;
	int first = 1;

	buf_reset(out);
	if (buf_adds(out, tp->prefix) < 0 ||
	    (absolute && buf_adds(out, "/%2F") < 0))
		return -1;
	/* sftp paths are absolute; ftp URL paths are relative to the login
	 * folder (curl's default). */
	while (*p != '\0') {
		const char *e = strchr(p + 1, '/');
		size_t n = e ? (size_t)(e - p - 1) : strlen(p + 1);
		/* An empty segment ("//abs", a URL path from the server's
		 * root) stays empty: libcurl escapes the whole rest of the
		 * string for a length of 0. */
		char *esc =
		    n > 0 ? curl_easy_escape(tp->curl, p + 1, (int)n) : NULL;

		if (n > 0 && esc == NULL)
			return -1;
		if (buf_printf(out, absolute && first ? "%s" : "/%s",
		        esc != NULL ? esc : "") < 0) {
			curl_free(esc);
			return -1;
		}
		curl_free(esc);
		first = 0;
		p = e ? e : p + 1 + n;
	}
	return 0;
}

/* The length of path's folder part, up to and with its last "/". */
static size_t
folder_len(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash != NULL ? (size_t)(slash - path) + 1 : 0;
}

/* The URL of a request that walks to rpath's folder from the login
 * folder, one CWD a level (libcurl's default method); the folder is
 * recorded as the request's (req_dir: "/" alone is the login folder). */
static int
make_url(struct curl_tp *tp, const char *rpath, struct buf *out)
{
	size_t n = folder_len(rpath);

	if (n >= sizeof(tp->req_dir))
		return -1;
	if (n == 1)
		n = 0;
	memcpy(tp->req_dir, rpath, n);
	tp->req_dir[n] = '\0';
	return url_of(tp, rpath, 0, out);
}

/* The bytes the target sent on the transport's open sockets, as the
 * kernel counts them (TCP_INFO): each answer of an sftp server is some.
 * A socket the kernel says nothing of counts none. */
static curl_off_t
heard_from(const struct curl_tp *tp)
{
	curl_off_t sum = 0;

	for (unsigned i = 0; i < tp->nsocks; i++) {
		struct tcp_info ti;

		if (tcpinfo_read(tp->socks[i], &ti,
		        TCPINFO_THROUGH(tcpi_bytes_received)) == 0)
			sum += (curl_off_t)ti.tcpi_bytes_received;
	}
	return sum;
}

/* Shutdown abandons a push in progress; it is redone after the restart. */
static int
progress_cb(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct curl_tp *tp = userdata;
	curl_off_t moved, heard;
	uint64_t now;

	(void)dltotal;
	(void)ultotal;
	if (atomic_load(tp->stop))
		return 1;
	if (!tp->sftp)
		return 0;
	/* sftp: libcurl's low-speed limit is checked only while a transfer
	 * runs, not while a request (a stat, an open, the close after the
	 * bytes, a rename) waits for the server's answer: a server that
	 * hangs with its connection open held the worker until libssh2's
	 * own read timeout, 60 s whatever the target's timeout said, and
	 * one that never sent its SSH banner until the connect timeout.
	 * libcurl calls this at least once a second meanwhile; no byte
	 * moved for the target's timeout ends the request, as FTP's
	 * response timeout does. The bytes read from the file count too:
	 * a stream's upload waits in its read for the client's next bytes,
	 * where no progress runs, and that wait is no target's silence. */
	now = clock_mono_ms();
	moved = dlnow + ulnow + tp->listed;
	if (tp->rd != NULL)
		moved += (curl_off_t)tp->rd->off;
	if (moved != tp->moved) {
		tp->moved = moved;
		tp->moved_at = now;
		return 0;
	}
	/* The server's answers count too: a login's dozen exchanges, an
	 * open, a close move none of the bytes above, and a target a
	 * round trip of 0.4 s away with timeout 3 never got a file (each
	 * answer came in 0.4 s, the login's sum past 3 s). */
	heard = heard_from(tp);
	if (heard != tp->heard) {
		tp->heard = heard;
		tp->moved_at = now;
		return 0;
	}
	if (now - tp->moved_at < (uint64_t)tp->t->timeout * 1000u)
		return 0;
	tp->stalled = 1;
	/* The connection is cut before libcurl ends it. libcurl 7.88 ends
	 * an aborted sftp request's connection politely: it closes the
	 * file, the sftp channel and the session, each an exchange with the
	 * server, in a loop it gives 1 s (ssh_block_statemach, "Disconnect
	 * timed out"); a server that hangs answers none, the loop gave up
	 * before libssh2_session_free, and the session was lost, 59,105
	 * bytes a stall under LeakSanitizer (curl fixed it in 8.13.0,
	 * commit 0b40db0489). On a shut socket each of those calls fails at
	 * once and the loop goes on to free the session. Every socket of
	 * the transport is cut: sftp keeps one connection, and the one
	 * that won a connect raced over IPv6 and IPv4 is not tp->ctrl. */
	for (unsigned i = 0; i < tp->nsocks; i++)
		(void)shutdown(tp->socks[i], SHUT_RDWR);
	if (tp->nsocks == 0 && tp->ctrl != CURL_SOCKET_BAD)
		(void)shutdown(tp->ctrl, SHUT_RDWR);
	return 1;
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
	struct curl_tp *tp = clientp;

	(void)easy;
	(void)knownkey;
	(void)foundkey;
	tp->khmatch = (int)match;
	return match == CURLKHMATCH_OK ? CURLKHSTAT_FINE : CURLKHSTAT_REJECT;
}

/* Host key check and login for sftp:// (config.c makes sure one host key
 * check is set unless host_key_verify = off). */
static void
ssh_opts(struct curl_tp *tp)
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

/*
 * Ends the connection libcurl keeps (the multi handle's cache holds it),
 * so that the next request opens a new one. A target that sent a burst of
 * stray reply lines (found from outside: three 150s before a CWD's 250)
 * left them in libcurl's buffer of the kept connection, where every later
 * command read the answer to the one before: all pushes failed on it,
 * also once the target behaved, until the connection sat idle past
 * libcurl's 118 s. The goodbye is cut short (shutdown first), as at stop.
 */
static void
drop_connection(struct curl_tp *tp)
{
	CURLM *fresh = curl_multi_init();

	if (fresh == NULL)
		return; /* kept: the next failure tries again */
	if (tp->kept != CURL_SOCKET_BAD)
		(void)shutdown(tp->kept, SHUT_RDWR);
	curl_multi_cleanup(tp->multi);
	tp->multi = fresh;
	tp->kept = CURL_SOCKET_BAD;
	tp->cwd[0] = '\0'; /* a new connection starts at the login folder */
}

static void
common_opts(struct curl_tp *tp)
{
	CURL *c = tp->curl;
	const struct target_config *t = tp->t;

	if (tp->drop_next) {
		drop_connection(tp);
		tp->drop_next = 0;
	}
	curl_easy_reset(c);
	tp->req_dir[0] = '\0';
	tp->req_abs = 0;
	tp->req_line = 0;
	tp->line_again = 0;
	tp->line_long = 0;
	tp->rd = NULL;
	tp->moved = 0;
	tp->moved_at = clock_mono_ms();
	tp->heard = heard_from(tp);
	tp->stalled = 0;
	tp->listed = 0;
	tp->req_tmp = NULL;
	tp->close_failed[0] = '\0';
	curlbase_opts(c, tp->errbuf, t);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
	/* A stalled or trickling target fails the attempt instead of
	 * holding a worker: less than min_rate bytes a second, or no reply,
	 * for the target's timeout (60 s unless set: a target that scans
	 * each file before its 226 needs more, and a local one may be given
	 * less). sftp: the low-speed limit covers only the bytes' transfer;
	 * progress_cb bounds a request the server never answers by the same
	 * timeout (libssh2's own read timeout, 60 s, which libcurl 7.88 does
	 * not set, ends it first beyond that). */
	curlbase_min_rate(c, t, 0);
	curl_easy_setopt(c, CURLOPT_FTP_RESPONSE_TIMEOUT, (long)t->timeout);
	/* Every FTP data connection leaves an entry "address:port" in the
	 * handle's DNS cache, and libcurl walks the whole cache to prune it
	 * at each request: at the default 60 s that was tens of thousands of
	 * entries walked per push at a thousand pushes a second (7 % of the
	 * process). The data connection's address is the control
	 * connection's (an address, never a name to look up), and the control
	 * connection lives across requests, so a short life costs no lookup
	 * that matters. */
	curl_easy_setopt(c, CURLOPT_DNS_CACHE_TIMEOUT, 2L);
	curl_easy_setopt(c, CURLOPT_SOCKOPTFUNCTION, sockopt_cb);
	curl_easy_setopt(c, CURLOPT_SOCKOPTDATA, tp);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_cb);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, tp);
	curl_easy_setopt(c, CURLOPT_CLOSESOCKETFUNCTION, close_cb);
	curl_easy_setopt(c, CURLOPT_CLOSESOCKETDATA, tp);
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

/* 1 if the request's URL holds an escaped control byte (%00 to %1F)
 * after the target's own scheme, user and host (an IPv6 zone there is
 * the admin's, not a name's). */
static int
url_has_control(struct curl_tp *tp)
{
	const char *url = NULL;
	size_t plen = strlen(tp->prefix);

	if (curl_easy_getinfo(tp->curl, CURLINFO_EFFECTIVE_URL, &url) !=
	        CURLE_OK ||
	    url == NULL || strncmp(url, tp->prefix, plen) != 0)
		return 0;
	return config_escapes_control(url + plen);
}

/*
 * The target's reply code when rc is one of libcurl's results for a
 * command the target answered with an error (a QUOTE command; a STOR, CWD
 * or MKD; a 5xx where the 226 after the bytes was due, which libcurl calls
 * a partial file, "server did not report OK", and a cut link gives no
 * such code); 0 over SFTP (the server's status for the path) or when
 * libcurl has none; -1 for any other result.
 */
static long
answer_of(struct curl_tp *tp, CURLcode rc)
{
	long code = 0;

	switch (rc) {
	case CURLE_PARTIAL_FILE:
		if (tp->sftp)
			return -1;
		break;
	case CURLE_QUOTE_ERROR:
	case CURLE_UPLOAD_FAILED:
	/* A listing's MLSD or LIST refused ("RETR response: 550", vsftpd
	 * without MLSD): libcurl keeps the connection, and dropping it cost
	 * every worker a login more against such a target. */
	case CURLE_FTP_COULDNT_RETR_FILE:
	case CURLE_REMOTE_ACCESS_DENIED:
	case CURLE_REMOTE_FILE_NOT_FOUND:
	case CURLE_REMOTE_DISK_FULL:
	case CURLE_REMOTE_FILE_EXISTS:
		break;
	default:
		return -1;
	}
	if (!tp->sftp &&
	    curl_easy_getinfo(tp->curl, CURLINFO_RESPONSE_CODE, &code) !=
	        CURLE_OK)
		code = 0;
	return code;
}

/* Whether an FTP reply code to a command on a path refuses the path (450
 * or 5xx), not the link (421) or the login (530). */
static int
refuses_path(long code)
{
	return code == 450 || (code >= 500 && code <= 599 && code != 530);
}

/*
 * 1 if rc is the target's refusal of this request's path, not a failed
 * link or login: a QUOTE command answered with an error, or a STOR, CWD
 * or MKD answered (FTP) 450 or 5xx but 530 (not logged in), or a 5xx
 * where the 226 was due (answer_of); over SFTP the server's status for
 * the path. 421 (closing) is the link's.
 */
static int
refused_reply(struct curl_tp *tp, CURLcode rc)
{
	long code = answer_of(tp, rc);

	if (code < 0)
		return 0;
	if (tp->sftp)
		return rc != CURLE_UPLOAD_FAILED;
	if (code == 421 || code == 530)
		return 0;
	return rc == CURLE_QUOTE_ERROR || refuses_path(code);
}

/*
 * Whether a failed request failed by the target's clean answer "no" to a
 * command (a final 4xx or 5xx reply other than 421 and 530, which are the
 * link's; for sftp, the server's status for the path): its connection is
 * in step and stays. Anything else (a timeout, a reply that was not the
 * one expected, a cut transfer) leaves it in doubt.
 */
static int
answered_no(struct curl_tp *tp, CURLcode rc)
{
	long code = answer_of(tp, rc);

	if (code < 0)
		return 0;
	if (tp->sftp)
		return rc != CURLE_UPLOAD_FAILED;
	return code >= 400 && code <= 599 && code != 421 && code != 530;
}

/*
 * What the request's replies tell of the target's line length, for the
 * target's lore: the longest line that went and was answered (carried
 * out, or refused by another code than 500: read whole; the trace), the
 * shortest answered 500.
 * Returns 1 where a reply was 500 to a request with a long line (RFC 959
 * 4.2: "syntax error, command unrecognized", which includes "command line
 * too long"): its connection is to be dropped before the next request
 * (drop_next). pyftpdlib answers a line past its 2,048 bytes twice
 * (a 500 for the first 2 KiB, another for the rest, read as a command of
 * its own), and the second, left unread on the kept connection, was taken
 * for the answer to the next request's first command: a CWD of a file the
 * target takes failed with it, or an EPSV read it and failed ("Bad
 * PASV/EPSV response"). line_again is set where a line as long or shorter
 * was answered 500 before: by construction on another connection.
 */
static int
line_heard(struct curl_tp *tp)
{
	struct line_heard h;

	if (tp->sftp)
		return 0;
	/* A short line's 500 is a command the target lacks (EPSV, which
	 * libcurl then asks as PASV): answered once, and the connection is
	 * good. Ended for it, a target without EPSV logged in again for
	 * every push (found by review). A 500 before PASV's 227 was EPSV's
	 * (libcurl then asks PASV), and a line sent before it was taken, or
	 * the request would have ended there. One after the 227 is the
	 * answer to a line sent after it (STOR /abs/path): taken for EPSV's
	 * too, pyftpdlib's second 500 to it was left on the kept
	 * connection, and a target without EPSV failed every later push
	 * there ("Bad PASV/EPSV response: 250"). linelore_heard says so. */
	pthread_mutex_lock(&tp->lore->lock);
	h = linelore_heard(&tp->lore->line, tp->req_line, buf_str(&tp->replies),
	    tp->trace.answered,
	    tp->trace.refused_lacks && !tp->trace.refused_base);
	pthread_mutex_unlock(&tp->lore->lock);
	tp->line_again = h.again;
	/* Where the target took a line as long before, the 500 is the
	 * command's own (vsftpd's "500 Unknown command." to MLSD). Taken
	 * for a line too long, a target whose folder is deep never learnt
	 * it has no MLSD, and logged in again for every folder listed
	 * (found by review). The connection is still ended: a stray late
	 * reply must never be read as the next command's answer. */
	tp->line_long = h.may_be_long;
	return h.refused;
}

/*
 * Whether an sftp upload ended mid-file without a word: libcurl 7.88
 * turns a failed write (the server's status for it, OpenSSH's
 * SSH_FX_FAILURE for ENOSPC and EDQUOT, or a connection cut under it)
 * into a bare CURLE_SSH and keeps no text of it (sftp_send calls no
 * failf), and closes the connection either way: the admin read "Error in
 * the SSH layer" of a full target, and its part of the file stayed there
 * taking the room the next files lacked (found from outside).
 */
static int
sftp_write_failed(const struct curl_tp *tp, CURLcode rc)
{
	return tp->sftp && rc == CURLE_SSH && tp->errbuf[0] == '\0' &&
	    tp->rd != NULL && tp->rd->off > tp->rd->start;
}

/*
 * One request, as curl_easy_perform does it, but for one case. libcurl
 * 7.88 (Debian 12's) sends a request's first command (EPSV for a STOR by
 * absolute name on a kept connection) during its DO phase and reads the
 * reply at once if it is there, as from a target on loopback or a LAN.
 * It then sets the data connection up but starts it only at its next
 * run, with no socket and no timer to wake it: curl_easy_perform sleeps
 * its full 1 s poll first (98 small files a second instead of a thousand
 * on the bench). A NOOP before the EPSV hid this for a round trip a file;
 * here, when libcurl has nothing to wait on, it runs again at once
 * (curl_multi_fdset's max_fd -1), before a poll that would sleep. The
 * stall comes at a request's start, and a max_fd of -1 can also mean
 * sockets past FD_SETSIZE, which fd_set cannot hold (a busy daemon's
 * descriptors): so only the first few runs of a request are so repeated,
 * and the poll, which has no such limit, waits for the rest.
 */
static CURLcode
perform_once(struct curl_tp *tp)
{
	CURLcode rc = CURLE_OK;
	CURLMcode mc;
	CURLMsg *msg;
	int running = 1, left, again = 0;

	tp->ctrl = tp->kept;
	tp->late[0] = '\0';
	tp->write_failed = 0;
	linelore_trace_start(&tp->trace);
	if (!tp->sftp && tp->req_line >= LINELORE_MIN) {
		curl_easy_setopt(tp->curl, CURLOPT_DEBUGFUNCTION, debug_cb);
		curl_easy_setopt(tp->curl, CURLOPT_DEBUGDATA, tp);
		curl_easy_setopt(tp->curl, CURLOPT_VERBOSE, 1L);
	}
	if (tp->sftp && tp->rd != NULL) {
		curl_easy_setopt(
		    tp->curl, CURLOPT_DEBUGFUNCTION, sftp_debug_cb);
		curl_easy_setopt(tp->curl, CURLOPT_DEBUGDATA, tp);
		curl_easy_setopt(tp->curl, CURLOPT_VERBOSE, 1L);
	}
	if (curl_multi_add_handle(tp->multi, tp->curl) != CURLM_OK)
		return CURLE_FAILED_INIT;
	tp->uploading = tp->rd != NULL;
	for (;;) {
		fd_set rd, wr, ex;
		int maxfd = -1;

		mc = curl_multi_perform(tp->multi, &running);
		if (mc != CURLM_OK || running == 0)
			break;
		FD_ZERO(&rd);
		FD_ZERO(&wr);
		FD_ZERO(&ex);
		mc = curl_multi_fdset(tp->multi, &rd, &wr, &ex, &maxfd);
		if (mc != CURLM_OK)
			break;
		if (maxfd < 0 && again < PERFORM_AGAIN_MAX) {
			again++;
			continue;
		}
		/* As curl_easy_perform: libcurl's own timers cut it short. */
		mc = curl_multi_poll(tp->multi, NULL, 0, 1000, NULL);
		if (mc != CURLM_OK)
			break;
	}
	if (mc != CURLM_OK)
		rc = mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY :
		                                 CURLE_FAILED_INIT;
	while ((msg = curl_multi_info_read(tp->multi, &left)) != NULL)
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == tp->curl &&
		    rc == CURLE_OK)
			rc = msg->data.result;
	/* Until the next request, only the multi handle's cleanup closes
	 * this descriptor (a connection that died meanwhile stays open in
	 * libcurl's cache until a call notices). */
	if (curl_easy_getinfo(tp->curl, CURLINFO_ACTIVESOCKET, &tp->kept) !=
	    CURLE_OK)
		tp->kept = CURL_SOCKET_BAD;
	curl_multi_remove_handle(tp->multi, tp->curl);
	tp->uploading = 0;
	tp->write_failed = sftp_write_failed(tp, rc);
	tp->said_no = rc != CURLE_OK && answered_no(tp, rc);
	/* libcurl remembers the folder also after a clean "no" to the
	 * request (ftp.c ftp_done), unless a CWD failed: then it remembers
	 * none, and a needless walk_afresh costs one CWD. */
	if (!tp->req_abs)
		memcpy(tp->cwd, tp->req_dir, strlen(tp->req_dir) + 1);
	if (line_heard(tp))
		tp->drop_next = 1;
	if (rc != CURLE_OK && !tp->said_no)
		drop_connection(tp);
	return rc;
}

/*
 * perform_once, and once more on a new connection where the kept one was
 * found closed by the target: most servers end a session idle past their
 * timeout with "421 ... timed out" and close it, and libcurl 7.88 reused
 * such a connection and read that 421 as its first command's reply (a
 * review: a worker's first push after an idle spell failed and paused the
 * target). Only a request on a kept connection (no connect made) whose
 * first reply was that 421 (a later one may follow a command that took
 * effect: an RNTO), with no byte of its upload read: none of its commands
 * was carried out, and sending it again cannot do anything twice.
 */
static CURLcode
perform(struct curl_tp *tp)
{
	uint64_t off = tp->rd != NULL ? tp->rd->off : 0;
	CURLcode rc = perform_once(tp);
	long code = 0, connects = -1;

	if (rc == CURLE_OK || tp->sftp || *tp->stop ||
	    (tp->rd != NULL && tp->rd->off != off) ||
	    strncmp(buf_str(&tp->replies), "421", 3) != 0 ||
	    curl_easy_getinfo(tp->curl, CURLINFO_RESPONSE_CODE, &code) !=
	        CURLE_OK ||
	    code != 421 ||
	    curl_easy_getinfo(tp->curl, CURLINFO_NUM_CONNECTS, &connects) !=
	        CURLE_OK ||
	    connects != 0)
		return rc;
	log_debug("mirror target %s: the kept connection was closed by the "
	          "target (421); the request goes again on a new one",
	    tp->t->name);
	buf_reset(&tp->replies);
	tp->errbuf[0] = '\0';
	return perform_once(tp);
}

/* Whether the target refused the connection this request opened before
 * logging it in (push_result.conn_refused): its last answer a 421 or
 * 530, and none of its replies a 230. */
static int
login_refused(struct curl_tp *tp)
{
	long code = 0, connects = 0;

	if (tp->sftp ||
	    curl_easy_getinfo(tp->curl, CURLINFO_NUM_CONNECTS, &connects) !=
	        CURLE_OK ||
	    connects == 0 ||
	    curl_easy_getinfo(tp->curl, CURLINFO_RESPONSE_CODE, &code) !=
	        CURLE_OK ||
	    (code != 421 && code != 530))
		return 0;
	return !ftpreply_has_code(buf_str(&tp->replies), "230");
}

/* The connection perform_once kept (tp->kept) is one libcurl logged in:
 * a request that did not log in left none. */
static int
curl_logged_in(void *impl)
{
	const struct curl_tp *tp = impl;

	return tp->kept != CURL_SOCKET_BAD;
}

/*
 * Whether rc is a data connection that could not be opened after the
 * target answered PASV or EPSV (the last reply): its control connection
 * works. libcurl says "Couldn't connect to server" or "Connection
 * time-out", as of a target that is down, and the usual cause is a
 * firewall or NAT before the target that passes its control port and not
 * its passive ports (found from outside).
 */
static int
data_connect_failed(struct curl_tp *tp, CURLcode rc)
{
	char last[8];
	int code;

	if (tp->sftp ||
	    (rc != CURLE_COULDNT_CONNECT && rc != CURLE_OPERATION_TIMEDOUT))
		return 0;
	code = ftpreply_last(buf_str(&tp->replies), last, sizeof(last));
	return code == 227 || code == 229;
}

/*
 * Whether an sftp request failed by libssh2's read timeout (60 s, its
 * own: libcurl sets none): the target's sftp server took the request and
 * never answered, a session that hangs with its connection open (one
 * stuck on a dead mount). libcurl ends such an error with "(SFTP status/
 * libssh2 error)", here LIBSSH2_ERROR_TIMEOUT, -9, and said only
 * "Upload failed: ssh error (0/-9)" (found from outside).
 */
static int
ssh_timed_out(const struct curl_tp *tp)
{
	static const char tail[] = "/-9)";
	size_t n = strlen(tp->errbuf), t = sizeof(tail) - 1;

	return tp->sftp && n >= t && strcmp(tp->errbuf + n - t, tail) == 0;
}

/*
 * Whether the request's new connection was taken and then nothing came,
 * not even the greeting, until libcurl's connect timeout (15 s): libcurl
 * says only "Operation timed out after 15000 milliseconds with 0 out of 0
 * bytes received", as of any slow transfer. A server too busy to serve
 * (the kernel's backlog accepts for it), a tarpit, or a port of a service
 * that waits for its client to speak first (found from outside).
 */
static int
greeting_missing(struct curl_tp *tp, CURLcode rc)
{
	curl_off_t connected = 0;
	long connects = 0;

	return !tp->sftp && rc == CURLE_OPERATION_TIMEDOUT &&
	    buf_str(&tp->replies)[0] == '\0' &&
	    curl_easy_getinfo(tp->curl, CURLINFO_NUM_CONNECTS, &connects) ==
	    CURLE_OK &&
	    connects > 0 &&
	    curl_easy_getinfo(tp->curl, CURLINFO_CONNECT_TIME_T, &connected) ==
	    CURLE_OK &&
	    connected > 0;
}

/*
 * Whether an FTP upload timed out after libcurl had written the whole
 * file to the data connection: the target's reply (226) never came. A
 * small file fits in the sockets' buffers, so a target that stops
 * reading, or hangs, takes it all; the admin read "upload: FTP response
 * timeout" and looked at the relay (found from outside). At least a
 * byte sent: an empty file's range is whole before anything went out,
 * and a timeout before the data connection opened (no answer to STOR)
 * was said to be "the whole file (0 bytes)" sent and unconfirmed.
 */
static int
whole_file_unconfirmed(struct curl_tp *tp, CURLcode rc)
{
	curl_off_t sent = 0;

	return !tp->sftp && rc == CURLE_OPERATION_TIMEDOUT && tp->rd != NULL &&
	    tp->rd->off >= tp->rd->end &&
	    curl_easy_getinfo(tp->curl, CURLINFO_SIZE_UPLOAD_T, &sent) ==
	    CURLE_OK &&
	    sent > 0 && (uint64_t)sent == tp->rd->end - tp->rd->start;
}

/*
 * Whether an sftp upload timed out after the target had taken every byte
 * of the file: what it did not answer is the file's CLOSE, which libcurl
 * sends when the request ends (ssh_done). libcurl's low-speed limit runs
 * there too and usually ends the wait first, a transfer of no speed:
 * a target whose sftp server held that reply (a disk or mount that does
 * not finish the file's last write) was logged as "the target took less
 * than 1024 B/s for 5 s (min_rate, timeout): a link or server too slow
 * for it, or one that reads a trickle" (found from outside: sftp_stall.py
 * holding the reply to CLOSE), and the admin looked at the link. The
 * bytes libcurl counts sent are those libssh2's writes had acknowledged.
 */
static int
sftp_close_unanswered(struct curl_tp *tp, CURLcode rc)
{
	static const char slow[] = "Operation too slow.";
	curl_off_t sent = 0;

	if (!tp->sftp || tp->rd == NULL || tp->rd->off < tp->rd->end)
		return 0;
	if (!(rc == CURLE_ABORTED_BY_CALLBACK && tp->stalled) &&
	    !(rc == CURLE_OPERATION_TIMEDOUT &&
	        strncmp(tp->errbuf, slow, sizeof(slow) - 1) == 0))
		return 0;
	return curl_easy_getinfo(tp->curl, CURLINFO_SIZE_UPLOAD_T, &sent) ==
	    CURLE_OK &&
	    sent >= 0 && (uint64_t)sent == tp->rd->end - tp->rd->start;
}

/* Whether s ends with tail. */
static int
ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);

	return n >= t && strcmp(s + n - t, tail) == 0;
}

/* res->error: what, libcurl's words for rc, and why in ours. -1. */
static int
said_why(struct curl_tp *tp, CURLcode rc, const char *what, const char *why,
    struct push_result *res)
{
	snprintf(res->error, sizeof(res->error), "%s: %s: %s", what,
	    tp->errbuf[0] ? tp->errbuf : curl_easy_strerror(rc), why);
	return -1;
}

/*
 * Whether the last request's path is too long for the target: its
 * longest line (req_line) answered 500, as a line as long or shorter was
 * before on another connection (line_heard), and the target never carried
 * out one as long. Then res says so and parks the job (blocked): a retry
 * sends the same line. It was retried for ever, each failure in the log
 * and `mirror status` never saying why. One 500 alone decides nothing:
 * a server may answer 500 for a moment (and a stray reply was read as
 * one, line_heard). 1 if so, else 0.
 */
static int
line_too_long(struct curl_tp *tp, const char *what, struct push_result *res)
{
	char said[160];
	size_t ok;
	int last, too_long;

	if (tp->sftp || !tp->line_again)
		return 0;
	last = ftpreply_last(buf_str(&tp->replies), said, sizeof(said));
	pthread_mutex_lock(&tp->lore->lock);
	ok = tp->lore->line.ok;
	too_long = linelore_too_long(
	    &tp->lore->line, tp->req_line, tp->line_again, last);
	pthread_mutex_unlock(&tp->lore->lock);
	if (!too_long)
		return 0;
	res->blocked = 1;
	res->refused = 0;
	res->file_refused = 0;
	snprintf(res->error, sizeof(res->error),
	    "%s: path too long for the target: it answered a command line "
	    "of %zu bytes with \"%s\", on a new connection too, and never "
	    "took one as long (%zu bytes at most so far): no retry changes "
	    "that; shorten the path on the home, or the target's folder in "
	    "its url, then 'relayftpd mirror retry'",
	    what, tp->req_line, said, ok);
	return 1;
}

static int
run(struct curl_tp *tp, const char *what, struct push_result *res)
{
	CURLcode rc = perform(tp);
	char said[160];
	long code = 0;

	if (rc == CURLE_OK && tp->close_failed[0] != '\0') {
		snprintf(res->error, sizeof(res->error),
		    "%s: the target's sftp server answered the close of the "
		    "file with an error, so it may not hold it whole (a disk "
		    "or mount that failed the last write, a quota): not "
		    "published (libcurl: %s)",
		    what, tp->close_failed);
		return -1;
	}
	if (rc == CURLE_OK)
		return 0;
	/* The daemon's stop cut the request (curl_interrupt shuts its
	 * socket down): libssh2 then fails the step under way, which
	 * libcurl 7.88 says of an sftp quote as CURLE_QUOTE_ERROR ("Attempt
	 * to set SFTP stats failed: Unknown error in libssh2"), read below
	 * as the target's refusal: a file's time cut so was logged refused
	 * and never set again (found by a review). A cut, not an answer. */
	if (atomic_load(tp->stop)) {
		snprintf(res->error, sizeof(res->error),
		    "%s: cut by the daemon's stop (libcurl: %s)", what,
		    tp->errbuf[0] ? tp->errbuf : curl_easy_strerror(rc));
		return -1;
	}
	if (sftp_close_unanswered(tp, rc)) {
		const char *leaf =
		    tp->req_tmp != NULL ? strrchr(tp->req_tmp, '/') : NULL;

		snprintf(res->error, sizeof(res->error),
		    "%s: the target did not answer the close of %.255s within "
		    "%llu s (its timeout), after it took all %llu bytes: its "
		    "sftp server hangs finishing the file, or the network lost "
		    "the connection",
		    what,
		    leaf != NULL            ? leaf + 1 :
		        tp->req_tmp != NULL ? tp->req_tmp :
		                              "the file",
		    (unsigned long long)tp->t->timeout,
		    (unsigned long long)(tp->rd->end - tp->rd->start));
		return -1;
	}
	if (rc == CURLE_ABORTED_BY_CALLBACK && tp->stalled) {
		snprintf(res->error, sizeof(res->error),
		    "%s: the target did not answer in time (nothing moved for "
		    "%llu s, its timeout): its sftp server hangs, or the network "
		    "lost the connection",
		    what, (unsigned long long)tp->t->timeout);
		return -1;
	}
	if (rc == CURLE_ABORTED_BY_CALLBACK && tp->rd != NULL &&
	    file_range_failed(tp->rd, what, res))
		return -1;
	/* libcurl sends no FTP path with a control byte (a TAB, an ESC in
	 * a name the server took): no retry can change that. */
	if (rc == CURLE_URL_MALFORMAT && url_has_control(tp)) {
		res->unsendable = 1;
		snprintf(res->error, sizeof(res->error),
		    "%s: the name holds a control character, which libcurl "
		    "does not send in an FTP path",
		    what);
		return -1;
	}
	if (line_too_long(tp, what, res))
		return -1;
	/* A QUOTE command answered with an error: the link works. */
	res->refused = rc == CURLE_QUOTE_ERROR;
	res->conn_refused = login_refused(tp);
	/* The target answered no for this path (a QUOTE command, a STOR):
	 * the worker retries this job alone. */
	res->file_refused = refused_reply(tp, rc);
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
	if (data_connect_failed(tp, rc))
		return said_why(tp, rc, what,
		    "the target's data connection (after PASV/EPSV) could not "
		    "be opened, while its control connection works: a firewall "
		    "or NAT before it may pass the control port and not the "
		    "passive ports",
		    res);
	if (greeting_missing(tp, rc))
		return said_why(tp, rc, what,
		    "the target took the connection and then sent nothing, not "
		    "even its greeting: a server too busy to serve it, a "
		    "tarpit, or a port of another service",
		    res);
	if (whole_file_unconfirmed(tp, rc)) {
		curl_off_t sent = 0;

		curl_easy_getinfo(tp->curl, CURLINFO_SIZE_UPLOAD_T, &sent);
		snprintf(res->error, sizeof(res->error),
		    "%s: %s: sent the whole file (%lld bytes) and the target "
		    "never confirmed it (no reply in %llu s, its timeout): its "
		    "server hangs or does not read its data connection, or "
		    "the network lost the connection after the data went out",
		    what, tp->errbuf[0] ? tp->errbuf : curl_easy_strerror(rc),
		    (long long)sent, (unsigned long long)tp->t->timeout);
		return -1;
	}
	if (curlbase_too_slow(rc, tp->errbuf, tp->t,
	        tp->rd != NULL && tp->rd->grow != NULL, what, res->error,
	        sizeof(res->error)))
		return -1;
	if (tp->write_failed) {
		snprintf(res->error, sizeof(res->error),
		    "%s: the target's sftp server stopped taking the file after "
		    "%llu bytes were sent: it refused a write (a full disk or a "
		    "quota there) or the connection was cut mid-file (libcurl "
		    "says only \"%s\")",
		    what, (unsigned long long)(tp->rd->off - tp->rd->start),
		    curl_easy_strerror(rc));
		return -1;
	}
	if (ssh_timed_out(tp))
		return said_why(tp, rc, what,
		    "the target did not answer in time (libssh2's read "
		    "timeout): its sftp server hangs, or the network lost the "
		    "connection",
		    res);
	/* The target ended the upload itself: its reply says why (a full
	 * disk), libcurl's words only that the data connection was cut. */
	if (!tp->sftp && tp->late[0] != '\0' &&
	    ftpreply_last_no(tp->late, said, sizeof(said))) {
		res->file_refused = refuses_path(strtol(said, NULL, 10));
		snprintf(res->error, sizeof(res->error),
		    "%s: the target stopped taking the file and said: %s "
		    "(libcurl: %s)",
		    what, said,
		    tp->errbuf[0] ? tp->errbuf : curl_easy_strerror(rc));
		return -1;
	}
	if (!tp->sftp && rc == CURLE_SEND_ERROR && tp->rd != NULL &&
	    tp->rd->off > tp->rd->start)
		return said_why(tp, rc, what,
		    "the target closed the data connection before it had the "
		    "whole file and gave no reason (it stopped or failed, a "
		    "full disk it does not report, or the network cut the "
		    "connection)",
		    res);
	/* OpenSSH's sftp server answers every error it has no status for
	 * with SSH_FX_FAILURE, libcurl's "Operation failed": ENOSPC (a new
	 * file where the disk's inodes are all taken), EDQUOT, EROFS. The
	 * admin read "Creating the dir/file failed: Operation failed" of a
	 * full target and nothing more (found from outside). A rename gets
	 * it above all for a new name already taken (OpenSSH links, EEXIST):
	 * a folder of the target's own at a file's name was said to be a
	 * full disk, a quota or a read-only file system (a review). */
	if (tp->sftp && ends_with(tp->errbuf, ": Operation failed"))
		return said_why(tp, rc, what,
		    strcmp(what, "rename") == 0 ?
		        "the sftp server names no cause: the new name taken "
		        "(a folder there, or a file put there since), a full "
		        "disk or inode table, a quota, or a read-only file "
		        "system there" :
		        "the sftp server's answer for a failure it does not "
		        "name: a full disk or inode table, a quota, or a "
		        "read-only file system there",
		    res);
	/* A reply past libcurl's limit for one request's replies (300 KiB
	 * in 7.88): libcurl ends the connection with CURLE_RECV_ERROR, and
	 * the admin read that the target's server had stopped or the
	 * network cut the connection (found from outside: a target that
	 * answers SIZE with a 1 MB multi-line reply). No FTP server sends
	 * so much for one command: a broken or hostile one. */
	if (!tp->sftp && rc == CURLE_RECV_ERROR &&
	    strncmp(tp->errbuf, "Too large response", 18) == 0)
		return said_why(tp, rc, what,
		    "the target sent a reply longer than any FTP server sends "
		    "for one command (libcurl takes 300 KiB at most): a "
		    "broken or hostile server, not a cut connection",
		    res);
	/* The control connection ended while a reply was awaited: libcurl
	 * 7.88 says "response reading failed (errno: 115)" of a target
	 * whose server was killed, the errno a stale EINPROGRESS from its
	 * connect (found from outside), or "Recv failure" and the reset. */
	if (!tp->sftp && rc == CURLE_RECV_ERROR) {
		int stale =
		    strncmp(tp->errbuf, "response reading failed", 23) == 0 ||
		    tp->errbuf[0] == '\0';

		snprintf(res->error, sizeof(res->error),
		    "%s: the connection to the target ended before its reply "
		    "came (its server stopped, restarted or dropped the "
		    "session, or the network cut the connection)%s%s%s",
		    what, stale ? "" : " (libcurl: ", stale ? "" : tp->errbuf,
		    stale ? "" : ")");
		return -1;
	}
	/* libcurl names some answers only by their code, and a 421 ("go
	 * away") not at all, or wrongly ("Timeout was reached", which an
	 * admin read as a slow target): the target's own words say why. Only the reply libcurl ended on: an earlier "no" it got
	 * past (a 500 to EPSV, then PASV) is not the reason. */
	if (!tp->sftp &&
	    ftpreply_last_no(buf_str(&tp->replies), said, sizeof(said)) &&
	    curl_easy_getinfo(tp->curl, CURLINFO_RESPONSE_CODE, &code) ==
	        CURLE_OK &&
	    code == strtol(said, NULL, 10))
		snprintf(res->error, sizeof(res->error),
		    "%s: %s (the target said: %s)", what,
		    code == 421       ? "the target ended the session" :
		        tp->errbuf[0] ? tp->errbuf :
		                        curl_easy_strerror(rc),
		    said);
	else
		snprintf(res->error, sizeof(res->error), "%s: %s", what,
		    tp->errbuf[0] ? tp->errbuf : curl_easy_strerror(rc));
	return -1;
}

static void
learn_entry_path(struct curl_tp *tp)
{
	char *entry = NULL;

	if (curl_easy_getinfo(tp->curl, CURLINFO_FTP_ENTRY_PATH, &entry) ==
	    CURLE_OK)
		ftpc_set_entry(&tp->fc, entry);
}

/* A request without a transfer at the login folder ("URL/"): a fresh
 * connection logs in (libcurl asks PWD), a kept one in another folder
 * changes back (CWD). 0, or -1 without memory for url. */
static int
login_folder_request(struct curl_tp *tp, struct buf *url)
{
	common_opts(tp);
	if (buf_printf(url, "%s/", tp->prefix) < 0)
		return -1;
	curl_easy_setopt(tp->curl, CURLOPT_URL, buf_str(url));
	curl_easy_setopt(tp->curl, CURLOPT_NOBODY, 1L);
	return 0;
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
learn_login_folder(struct curl_tp *tp, struct push_result *res)
{
	struct buf url;
	CURLcode rc = CURLE_OUT_OF_MEMORY;

	if (tp->sftp || tp->fc.entry_known)
		return 0;
	buf_init(&url, 2048);
	if (login_folder_request(tp, &url) == 0)
		rc = perform(tp);
	buf_free(&url);
	if (rc == CURLE_OK)
		learn_entry_path(tp);
	if (rc != CURLE_OK || !tp->fc.entry_known) {
		snprintf(res->error, sizeof(res->error), "login: %s",
		    rc != CURLE_OK ?
		        (tp->errbuf[0] ? tp->errbuf : curl_easy_strerror(rc)) :
		        "the target did not say its login folder (PWD)");
		return -1;
	}
	return 0;
}

/*
 * Before a request that walks to path's folder. libcurl remembers the
 * folder a connection's last request walked to, and a request in that
 * same folder sends no CWD at all (ftp.c: "Request has same path as
 * previous transfer"). Where the folder was removed on the target since
 * (by its admin, another client), that request ran in a folder that is no
 * more: found in CI, a mkdir job walked into /alice/d, d was removed on
 * the target, and every push into d was answered 451 (the STOR by
 * absolute name, then the walk's STOR with no CWD to make d again) on
 * that connection, for as long as it was kept. A mkdir sent no command
 * and counted as done. So such a request is preceded by one at the login
 * folder (a CWD there), and only where the folder is the remembered one;
 * libcurl then walks from the login folder. 0, or -1 with res->error,
 * which is the link's, never the file's.
 */
static int
walk_afresh(struct curl_tp *tp, const char *path, struct push_result *res)
{
	size_t n = folder_len(path);
	struct buf url;
	int rc = -1;

	if (tp->sftp || tp->cwd[0] == '\0' || strlen(tp->cwd) != n ||
	    memcmp(tp->cwd, path, n) != 0)
		return 0;
	buf_init(&url, 2048);
	if (login_folder_request(tp, &url) == 0) {
		rc = run(tp, "back to the login folder", res);
	} else {
		snprintf(res->error, sizeof(res->error), "out of memory");
	}
	buf_free(&url);
	if (rc < 0) {
		/* A refusal of the login folder is no refusal of a file (a
		 * STOR's 550 before this set these). */
		res->refused = 0;
		res->file_refused = 0;
		res->unsendable = 0;
	}
	return rc;
}

/* A fresh request without body that walks to path (a folder where it ends
 * in "/"), after a request at the login folder where walk_afresh asks for
 * one: options reset and the URL set (url is the caller's to buf_free
 * either way). 0, or -1 (res->error said by walk_afresh, or no memory). */
static int
walk_request(struct curl_tp *tp, const char *path, struct buf *url,
    struct push_result *res)
{
	if (walk_afresh(tp, path, res) < 0)
		return -1;
	common_opts(tp);
	if (make_url(tp, path, url) < 0)
		return -1;
	curl_easy_setopt(tp->curl, CURLOPT_URL, buf_str(url));
	curl_easy_setopt(tp->curl, CURLOPT_NOBODY, 1L);
	return 0;
}

/* A fresh request on the temporary copy of (rpath, tag), whose name goes
 * to tmp (TMP_NAME_MAX bytes): options reset and its URL set (url is the
 * caller's to buf_free either way), after a request at the login folder
 * where walk_afresh asks for one. 0, or -1 with res->error. */
static int
tmp_request(struct curl_tp *tp, const char *rpath, int64_t tag, char *tmp,
    struct buf *url, struct push_result *res)
{
	if (ftpc_tmp_name(&tp->fc, rpath, tag, tmp, TMP_NAME_MAX, res) < 0 ||
	    walk_afresh(tp, tmp, res) < 0)
		return -1;
	common_opts(tp);
	if (make_url(tp, tmp, url) < 0) {
		snprintf(res->error, sizeof(res->error), "out of memory");
		return -1;
	}
	curl_easy_setopt(tp->curl, CURLOPT_URL, buf_str(url));
	return 0;
}

/*
 * Whether the target's lore says a command line of line bytes is too long
 * for it: one as long or shorter was answered 500 (line_heard), and none
 * as long was ever answered otherwise. may_lack: the line's command is
 * one the target may lack (MLSD), where a 500 to such a command counts
 * too (linelore_may_refuse).
 */
static int
line_refused(struct curl_tp *tp, size_t line, int may_lack)
{
	int r;

	pthread_mutex_lock(&tp->lore->lock);
	r = may_lack ? linelore_may_refuse(&tp->lore->line, line) :
	               linelore_refuses(&tp->lore->line, line);
	pthread_mutex_unlock(&tp->lore->lock);
	return r;
}

/* Whether the lore cannot tell a line of line bytes fits, where it knows
 * one too long (linelore_unsure). */
static int
line_unsure(struct curl_tp *tp, size_t line)
{
	int r;

	pthread_mutex_lock(&tp->lore->lock);
	r = linelore_unsure(&tp->lore->line, line);
	pthread_mutex_unlock(&tp->lore->lock);
	return r;
}

/*
 * A fresh request on the temporary copy of (rpath, tag) named by its
 * absolute path on an FTP target whose login folder is known: with
 * CURLFTPMETHOD_NOCWD libcurl sends no CWD and still remembers the folder
 * the connection is in, and the QUOTE requests around a push name their
 * paths absolutely too, so a push walks no folders at all (the walk is
 * four CWD round trips a file on a target with a URL folder). 1 if this
 * is not possible (sftp, login folder unknown: take tmp_request), 0 with
 * the request set up, -1 with res->error.
 */
static int
abs_request(struct curl_tp *tp, const char *rpath, int64_t tag, struct buf *url,
    struct push_result *res)
{
	char tmp[TMP_NAME_MAX];
	const char *abs;

	if (tp->sftp || !tp->fc.entry_known)
		return 1;
	if (ftpc_tmp_name(&tp->fc, rpath, tag, tmp, sizeof(tmp), res) < 0)
		return -1;
	abs = ftpc_quote_path(&tp->fc, tmp, 0);
	if (abs == NULL || abs[0] != '/')
		return 1;
	common_opts(tp);
	tp->req_abs = 1;
	tp->req_line = PATH_LINE(abs);
	if (url_of(tp, abs, 1, url) < 0) {
		snprintf(res->error, sizeof(res->error), "out of memory");
		return -1;
	}
	curl_easy_setopt(tp->curl, CURLOPT_URL, buf_str(url));
	curl_easy_setopt(
	    tp->curl, CURLOPT_FTP_FILEMETHOD, (long)CURLFTPMETHOD_NOCWD);
	return 0;
}

/*
 * Whether a line naming the temporary copy of (rpath, tag) whole ("STOR
 * /abs/path", "SIZE /abs/path": as long) is one the target refuses for its
 * length (line_refused). The upload then walks at once: it sent that STOR
 * at every push of such a path, got 500, ended the connection for it
 * (line_heard) and walked after all, a command and a login more a push.
 * The verify's SIZE by that path is still asked once, by libcurl, to tell
 * the path too long (line_too_long).
 */
static int
tmp_line_refused(struct curl_tp *tp, const char *rpath, int64_t tag)
{
	char tmp[TMP_NAME_MAX];
	struct push_result ignored;
	const char *abs;

	if (tp->sftp || !tp->fc.entry_known ||
	    ftpc_tmp_name(&tp->fc, rpath, tag, tmp, sizeof(tmp), &ignored) < 0)
		return 0;
	abs = ftpc_quote_path(&tp->fc, tmp, 0);
	return abs != NULL && line_refused(tp, PATH_LINE(abs), 0);
}

/* size: the bytes the request body will hold; -1 unknown (a file still
 * being written: libcurl sends until the reader says it ended). */
static void
upload_opts(struct curl_tp *tp, struct file_range *rd, curl_off_t size)
{
	curl_easy_setopt(tp->curl, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(tp->curl, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(tp->curl, CURLOPT_READDATA, tp);
	tp->rd = rd;
	/* A copy sent while its file arrives goes at its uploader's pace. */
	if (rd->grow != NULL)
		curlbase_min_rate(tp->curl, tp->t, 1);
	curl_easy_setopt(tp->curl, CURLOPT_INFILESIZE_LARGE, size);
}

/* "*VERB path" by path's absolute name (a refusal lets the request go
 * on); NULL where it cannot be named so, or without memory. */
static struct curl_slist *
star_command(struct curl_tp *tp, const char *verb, const char *path)
{
	char cmd[sizeof(tp->fc.cmd) + 1];
	const char *abs = ftpc_quote_path(&tp->fc, path, 0);

	cmd[0] = '*';
	if (abs == NULL || abs[0] != '/' ||
	    quote_command(cmd + 1, sizeof(cmd) - 1, QUOTE_FTP, verb, abs,
	        NULL) != QUOTE_OK)
		return NULL;
	return curl_slist_append(NULL, cmd);
}

/*
 * "*SIZE tmp" by its absolute name, to follow the upload in the same
 * request (CURLOPT_POSTQUOTE): the verify's question asked without a
 * request of its own, which costs libcurl's setup and its checks of the
 * connection (a push was four requests). The star lets a refusal pass:
 * the verify then asks by itself (size_by_quote). NULL where it cannot be
 * asked so, or without memory.
 */
static struct curl_slist *
size_after(struct curl_tp *tp, const char *tmp)
{
	return tp->t->verify == VERIFY_NONE ? NULL :
	                                      star_command(tp, "SIZE", tmp);
}

/*
 * A STOR refused with 553 (RFC 959: file name not allowed) of a file whose
 * own name has no leading dot: the name the target refused is the
 * temporary one, which has. pure-ftpd -x or -X refuses every dot file,
 * and so every push ("553 Prohibited file name: .rftpd-tmp.1.a.txt"),
 * which read as a refusal of each file (found from outside): the error
 * says what to change.
 */
static void
dot_name_hint(struct curl_tp *tp, const char *rpath, struct push_result *res)
{
	const char *leaf = strrchr(rpath, '/');
	size_t n = strlen(res->error);
	char said[8];

	if (tp->sftp || (leaf != NULL ? leaf[1] : rpath[0]) == '.' ||
	    ftpreply_last(buf_str(&tp->replies), said, sizeof(said)) != 553 ||
	    n >= sizeof(res->error) - 1)
		return;
	snprintf(res->error + n, sizeof(res->error) - n,
	    " (the name sent was the temporary " RFTP_TMP_PREFIX
	    "*, which starts with a dot: a target that refuses dot files, "
	    "as pure-ftpd -x or -X does, refuses every push; let the "
	    "mirror's account write them)");
}

/* Push, step 1: STOR of the temporary name, making missing folders. The
 * STOR by absolute name comes first; where the target refuses it (a
 * folder is missing: no CWD means no folder made) the folder walk with
 * MKD does it again, reading rd from its start again. Not after a timeout
 * or a cut link: that would wait the timeout out twice and send the file
 * twice (found from outside, a target stalled before its 226). */
static int
put_range(struct curl_tp *tp, struct file_range *rd, curl_off_t size,
    const char *rpath, int64_t tag, struct push_result *res)
{
	char tmp[TMP_NAME_MAX];
	struct curl_slist *post = NULL;
	struct buf url;
	uint64_t n;
	int rc = -1, r;

	tp->posted_size = -1;
	dircache_drop(tp); /* it makes missing folders */
	if (ftpc_path_fits(&tp->fc, rpath, res) < 0)
		return -1;
	buf_init(&url, URL_MAX);
	r = tmp_line_refused(tp, rpath, tag) ?
	    1 :
	    abs_request(tp, rpath, tag, &url, res);
	if (r < 0)
		goto out;
	if (r == 0) {
		upload_opts(tp, rd, size);
		if (!size_refused(tp, 0) &&
		    ftpc_tmp_name(&tp->fc, rpath, tag, tmp, sizeof(tmp), res) ==
		        0 &&
		    (post = size_after(tp, tmp)) != NULL)
			curl_easy_setopt(tp->curl, CURLOPT_POSTQUOTE, post);
		if (run(tp, "upload", res) == 0) {
			/* The last 213 is SIZE's: nothing else in this
			 * request answers 213. */
			if (post != NULL &&
			    ftpreply_find_size(buf_str(&tp->replies), &n) &&
			    n <= INT64_MAX) {
				tp->posted_size = (int64_t)n;
				memcpy(tp->posted_tmp, tmp, sizeof(tmp));
				size_answered(tp);
			}
			rc = 0;
			goto out;
		}
		/* Any clean "no" (a missing folder may be 550, 553, 451 or
		 * 452), not a timeout or a cut link. */
		if (atomic_load(tp->stop) || !tp->said_no)
			goto out;
		file_range_rewind(rd);
		/* The walk names no path whole: a line too long for the
		 * target (line_too_long) does not hold it. */
		res->blocked = 0;
	}
	if (tmp_request(tp, rpath, tag, tmp, &url, res) < 0)
		goto out;
	upload_opts(tp, rd, size);
	curl_easy_setopt(tp->curl, CURLOPT_FTP_CREATE_MISSING_DIRS,
	    (long)CURLFTP_CREATE_DIR_RETRY);
	tp->req_tmp = tmp;
	rc = run(tp, "upload", res);
	tp->req_tmp = NULL;
	if (rc == 0)
		learn_entry_path(tp);
out:
	/* A target that took bytes and said no (a full disk, mid-file or
	 * where the 226 was due; an sftp write that failed, which a cut
	 * connection alone is as well: the delete logs in again; an sftp
	 * close answered with an error) keeps the part under the temporary
	 * name,
	 * whose room the next files then lacked too: removed, best effort
	 * (a redo reuses the name, and res keeps the upload's reason). Not
	 * of a target gone quiet, which a delete would wait for again. */
	if (rc < 0 && !atomic_load(tp->stop) && rd->off > rd->start &&
	    (tp->late[0] != '\0' || tp->said_no || tp->write_failed ||
	        tp->close_failed[0] != '\0'))
		(void)ftpc_discard(&tp->fc, rpath, tag);
	if (rc < 0 && res->file_refused)
		dot_name_hint(tp, rpath, res);
	curl_slist_free_all(post);
	buf_free(&url);
	return rc;
}

static int
curl_put(void *impl, int fd, uint64_t size, const char *rpath, int64_t tag,
    struct push_result *res)
{
	struct curl_tp *tp = impl;
	struct file_range rd;

	/* What libcurl has been handed is what is sent, give or take its
	 * buffer: the progress counts it. */
	file_range_init(&rd, fd, 0, size, 0, tp->progress, tp->progress_ctx);
	return put_range(tp, &rd, (curl_off_t)size, rpath, tag, res);
}

/* A file still being written: its end is unknown until grow tells it. */
static int
curl_put_growing(void *impl, int fd, file_grow_fn grow, void *ctx,
    const char *rpath, int64_t tag, struct push_result *res)
{
	struct curl_tp *tp = impl;
	struct file_range rd;

	file_range_init(&rd, fd, 0, 0, 0, tp->progress, tp->progress_ctx);
	file_range_follow(&rd, grow, ctx);
	return put_range(tp, &rd, -1, rpath, tag, res);
}

static int run_quote(struct curl_tp *tp, struct curl_slist *quote,
    const char *what, struct push_result *res);

/*
 * A 213 to SIZE that is not a size ("213 -10240"): the target told no
 * size, a failed verify. libcurl's own reader takes the digits at the
 * line's end, and a copy of 100 bytes answered "213 -10240" verified as
 * the 10240 bytes pushed (found from outside).
 */
static void
not_a_size(const char *said, struct push_result *res)
{
	res->verify_used = "size";
	res->mismatch = 1;
	snprintf(res->error, sizeof(res->error),
	    "verify: the target's SIZE answer is not a size (the target "
	    "said: %s)",
	    said);
}

/*
 * SIZE of the copy tmp as a QUOTE command by its absolute name, the reply
 * read here: libcurl's own way (a request without body) follows SIZE with
 * a "REST 0" probe, one round trip more a push. Asked with the star: a
 * refused QUOTE command is CURLE_QUOTE_ERROR, for which libcurl closes
 * the connection, and against a target without SIZE (vsftpd without it in
 * cmds_allowed) every push logged in again for it. 0 with *size; 2 if
 * the target answered 550 (its words in tp->size_said: the caller reads
 * the folder's listing); 1 if this cannot be asked so or the target did
 * not answer it otherwise (sftp, login folder unknown, a refusal such as
 * SIZE in ASCII mode on a new connection: the caller asks libcurl's way),
 * -1 if the connection failed or the answer is not a size (res->error).
 */
static int
size_by_quote(struct curl_tp *tp, const char *tmp, curl_off_t *size,
    struct push_result *res)
{
	struct push_result qres;
	struct curl_slist *quote;
	char said[160];
	uint64_t n;
	int rc;

	if (tp->sftp || !tp->fc.entry_known ||
	    (quote = star_command(tp, "SIZE", tmp)) == NULL)
		return 1;
	memset(&qres, 0, sizeof(qres));
	rc = run_quote(tp, quote, "verify", &qres);
	curl_slist_free_all(quote);
	if (rc < 0) {
		/* The connection failed: asking again would only wait out
		 * the same timeouts once more. */
		memcpy(res->error, qres.error, sizeof(res->error));
		return -1;
	}
	rc =
	    ftpreply_size_answer(buf_str(&tp->replies), &n, said, sizeof(said));
	if (rc == 0)
		return ftpreply_last(buf_str(&tp->replies), tp->size_said,
		           sizeof(tp->size_said)) == 550 ?
		    2 :
		    1; /* no 213: libcurl's way decides */
	if (rc < 0) {
		not_a_size(said, res);
		return -1;
	}
	*size = (curl_off_t)n;
	return 0;
}

/*
 * The code of the target's answer to "*VERB path" asked alone (its text
 * in said), or -1 if it could not be asked or read.
 */
static int
ask_code(struct curl_tp *tp, const char *verb, const char *path, char *said,
    size_t saidlen)
{
	struct curl_slist *quote = star_command(tp, verb, path);
	struct push_result qres;
	int r;

	if (quote == NULL)
		return -1;
	memset(&qres, 0, sizeof(qres));
	r = run_quote(tp, quote, "verify", &qres);
	curl_slist_free_all(quote);
	/* Only where nothing followed the command (run_quote). */
	return r < 0 || !tp->fc.ask_ends_replies ?
	    -1 :
	    ftpreply_last(buf_str(&tp->replies), said, saidlen);
}

/*
 * learn_case where the target refuses SIZE and MDTM both (vsftpd with
 * neither in cmds_allowed): it was taken to tell cases apart, and on an
 * exFAT share "photo.jpg" replaced "Photo.JPG"'s copy there. RNFR (RFC
 * 959 section 4.1.3), which the copy's publish sends anyway, asks
 * whether a name is there without a data connection: "350" for the
 * copy's name in the other case is the copy itself. The rename it opens
 * is closed onto the copy's own name (nothing moves), as RFC 959 wants
 * RNTO to follow. Any other answer (550: no such name, or RNFR refused,
 * which no publish could pass either) keeps the old assumption.
 */
static void
learn_case_by_rnfr(struct curl_tp *tp, const char *tmp, const char *other)
{
	char said[160];
	int r = ask_code(tp, "RNFR", other, said, sizeof(said));

	/* Not asked (the connection broke): still unknown, not "tells
	 * cases apart", which would let a twin's push take the copy's
	 * name on a share that ignores case. */
	if (r < 0)
		return;
	tp->case_blind = r == 350;
	if (r == 350)
		(void)ask_code(tp, "RNTO", tmp, said, sizeof(said));
}

/*
 * learn_case where the target refuses SIZE (size_refused): vsftpd
 * without it in cmds_allowed answers every SIZE "550 Permission denied.",
 * which read as "no such name" for the copy's name in the other case: an
 * exFAT target was taken to tell cases apart, and of "Photo.JPG" and
 * "photo.jpg" the second replaced the first's copy there (found from
 * outside). MDTM (RFC 3659 section 3) asks instead, where it answers 213
 * for the copy itself; where it does not, the target is taken to tell
 * cases apart, as before.
 */
static void
learn_case_by_mdtm(struct curl_tp *tp, const char *tmp, const char *other)
{
	char said[160];
	int r;

	r = ask_code(tp, "MDTM", tmp, said, sizeof(said));
	if (r < 0)
		return; /* not asked: unknown, as for RNFR below */
	if (r != 213) {
		learn_case_by_rnfr(tp, tmp, other);
		return;
	}
	r = ask_code(tp, "MDTM", other, said, sizeof(said));
	if (r == 213 || r == 550)
		tp->case_blind = r == 213;
}

/*
 * Learns whether the target tells names apart by letter case, once per
 * target (learn_case): asks the size of the verified copy tmp (size bytes) under its
 * leaf's letters in the other case. Only a case-insensitive file system
 * (an SMB share, exFAT, NTFS, ext4 with casefold behind the server) finds
 * it: no one else makes a name like the mirror's temporary ones. A
 * failure to ask leaves it unknown; the push goes on either way.
 */
static void
learn_case_now(struct curl_tp *tp, const char *tmp, uint64_t size)
{
	char other[TMP_NAME_MAX], said[160];
	const char *leaf = strrchr(tmp, '/');
	struct push_result qres;
	struct curl_slist *quote;
	curl_off_t got = -1;
	struct buf url;
	size_t n = strlen(tmp);
	uint64_t remote;
	int r;

	if (tp->case_blind >= 0 || n >= sizeof(other))
		return;
	memcpy(other, tmp, n + 1);
	for (size_t i = leaf != NULL ? (size_t)(leaf - tmp) : 0; i < n; i++) {
		char c = other[i];

		if (c >= 'a' && c <= 'z')
			other[i] = (char)(c - 'a' + 'A');
		else if (c >= 'A' && c <= 'Z')
			other[i] = (char)(c - 'A' + 'a');
	}
	memset(&qres, 0, sizeof(qres));
	if (!tp->sftp) {
		/* As the upload's own SIZE ('*': a refusal keeps libcurl's
		 * connection, which a failed request closes), read here:
		 * "no such file" (550) tells the cases apart, another
		 * refusal (SIZE not there) tells nothing. */
		/* A connection whose first request this push was (its verify
		 * asked libcurl's way, which learns no login folder: a copy
		 * sent while it arrived, after a start) learns it here, or
		 * nothing was learnt and the twin's copy took the name. */
		if (!tp->fc.entry_known)
			learn_entry_path(tp);
		if (learn_login_folder(tp, &qres) < 0)
			return;
		if (size_refused(tp, 0)) {
			learn_case_by_mdtm(tp, tmp, other);
			return;
		}
		if ((quote = size_after(tp, other)) == NULL)
			return;
		r = run_quote(tp, quote, "verify", &qres);
		curl_slist_free_all(quote);
		if (r < 0)
			return;
		r = ftpreply_size_answer(
		    buf_str(&tp->replies), &remote, said, sizeof(said));
		if (r > 0)
			tp->case_blind = remote == size;
		else if (r == 0 &&
		    ftpreply_last_no(
		        buf_str(&tp->replies), said, sizeof(said)) &&
		    strncmp(said, "550", 3) == 0)
			tp->case_blind = 0;
		return;
	}
	/* sftp: libcurl's way, a request without body. */
	buf_init(&url, URL_MAX);
	if (walk_request(tp, other, &url, &qres) == 0) {
		if (run(tp, "verify", &qres) == 0) {
			curl_easy_getinfo(
			    tp->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &got);
			/* libcurl's SFTP gives 0 bytes as unknown. */
			tp->case_blind =
			    got == (curl_off_t)size || (got < 0 && size == 0);
		} else if (qres.file_refused) {
			tp->case_blind = 0;
		}
	}
	buf_free(&url);
}

/* learn_case_now where no transport of the target has learnt it yet
 * (each of its workers asked two commands more at its first push), and
 * what it learns for them all. */
static void
learn_case(struct curl_tp *tp, const char *tmp, uint64_t size)
{
	if (tp->case_blind < 0) {
		pthread_mutex_lock(&tp->lore->lock);
		tp->case_blind = tp->lore->case_blind;
		pthread_mutex_unlock(&tp->lore->lock);
	}
	if (tp->case_blind >= 0)
		return;
	learn_case_now(tp, tmp, size);
	if (tp->case_blind < 0)
		return;
	pthread_mutex_lock(&tp->lore->lock);
	tp->lore->case_blind = tp->case_blind;
	pthread_mutex_unlock(&tp->lore->lock);
}

static int list_folder(struct curl_tp *tp, const char *rdir,
    void (*fn)(void *ctx, const char *name, int64_t size, int is_dir),
    void *ctx, int by_line, struct push_result *res);

struct listed_size {
	const char *leaf;
	int64_t size; /* -1: not listed */
	/* The leaf as pure-ftpd stores it, its trailing blanks made '_'
	 * (its checknamesanity), "" if it has none; found: it is listed. */
	char mangled[FTPC_FULL_MAX];
	int found_mangled;
};

static void
listed_size_cb(void *ctx, const char *name, int64_t size, int is_dir)
{
	struct listed_size *ls = ctx;

	if (is_dir)
		return;
	if (strcmp(name, ls->leaf) == 0)
		ls->size = size;
	else if (ls->mangled[0] != '\0' && strcmp(name, ls->mangled) == 0)
		ls->found_mangled = 1;
}

/*
 * The size of the copy tmp of rpath from its folder's listing, for a
 * target that answered 550 to SIZE: a server whose SIZE is off (vsftpd
 * without it in cmds_allowed says "550 Permission denied.") answers so as
 * for a file that is not there, and every push failed its verify as "The
 * file does not exist", retried for ever (found from outside). 0 with
 * *size (-1: the listing lacks the copy, which is gone), or -1 if the
 * folder could not be listed (lres says why).
 */
static int
size_from_listing(struct curl_tp *tp, const char *rpath, const char *tmp,
    curl_off_t *size, struct push_result *lres)
{
	struct listed_size ls;
	char dir[FTPC_FULL_MAX], gone[FTPC_FULL_MAX];
	size_t n = folder_len(rpath), m;
	struct push_result dres;

	memset(&ls, 0, sizeof(ls));
	ls.leaf = strrchr(tmp, '/');
	ls.size = -1;
	if (ls.leaf == NULL || n == 0 || n > sizeof(dir) ||
	    (m = strlen(++ls.leaf)) >= sizeof(ls.mangled)) {
		snprintf(lres->error, sizeof(lres->error), "path too long");
		return -1;
	}
	memcpy(dir, rpath, n - 1); /* without its last "/" */
	dir[n - 1] = '\0';
	if (ls.leaf[m - 1] == ' ') {
		memcpy(ls.mangled, ls.leaf, m + 1);
		while (m > 0 && ls.mangled[m - 1] == ' ')
			ls.mangled[--m] = '_';
	}
	/* Line by line: the daemon holds one line of it, not the whole
	 * listing. Each line is read alone, its leading blanks all taken
	 * for LIST's padding: the copy's name starts with a dot. */
	if (list_folder(tp, dir, listed_size_cb, &ls, 1, lres) < 0)
		return -1;
	*size = ls.size;
	if (ls.size >= 0 || !ls.found_mangled)
		return 0;
	/* The target keeps no name that ends in a blank: it took the copy
	 * under another, where no rename of the mirror's can reach it. It
	 * is removed, best effort (a failure leaves a temporary name, which
	 * resync passes over), and the file is not pushed again. */
	lres->unsendable = 1;
	snprintf(lres->error, sizeof(lres->error),
	    "verify: the target stored the copy as %.200s, its trailing "
	    "blanks made '_' (as pure-ftpd does): it keeps no such name",
	    ls.mangled);
	if ((size_t)snprintf(gone, sizeof(gone), "%s/%s", dir, ls.mangled) <
	    sizeof(gone))
		(void)ftpc_delete(&tp->fc, gone, &dres);
	return 0;
}

/*
 * The verify of a target that answered 550 (tp->size_said) to SIZE of the
 * copy tmp of rpath: its size from the folder's listing
 * (size_from_listing). 0 with *size, or -1 with res->error.
 */
static int
verify_by_listing(struct curl_tp *tp, const char *rpath, const char *tmp,
    curl_off_t *size, struct push_result *res)
{
	struct push_result lres;

	memset(&lres, 0, sizeof(lres));
	if (size_from_listing(tp, rpath, tmp, size, &lres) < 0) {
		snprintf(res->error, sizeof(res->error),
		    "verify: the target refuses SIZE (%s) and its folder could "
		    "not be listed (%.200s): set verify = none for it",
		    tp->size_said, lres.error);
		return -1;
	}
	if (lres.unsendable) {
		res->unsendable = 1;
		memcpy(res->error, lres.error, sizeof(res->error));
		return -1;
	}
	if (*size < 0) {
		res->mismatch = 1;
		snprintf(res->error, sizeof(res->error),
		    "verify: the copy is not on the target (SIZE answered %s, "
		    "and its folder's listing lacks it)",
		    tp->size_said);
		return -1;
	}
	return 0;
}

/* Push, step 2: the size (SIZE) of the copy, then its digest if asked. */
static int
curl_verify(void *impl, int fd, uint64_t size, const char *rpath, int64_t tag,
    struct push_result *res)
{
	struct curl_tp *tp = impl;
	char tmp[TMP_NAME_MAX], said[160];
	curl_off_t remote_size = -1;
	struct buf url;
	uint64_t n;
	int rc = -1, r;

	tp->publish_size = -1;
	if (tp->t->verify == VERIFY_NONE)
		return 0;
	buf_init(&url, URL_MAX);
	if (ftpc_tmp_name(&tp->fc, rpath, tag, tmp, sizeof(tmp), res) < 0)
		goto out;
	if (tp->posted_size >= 0 && strcmp(tp->posted_tmp, tmp) == 0) {
		/* Asked with the upload (put_range). */
		remote_size = (curl_off_t)tp->posted_size;
		tp->posted_size = -1;
		goto check;
	}
	if (size_refused(tp, 1)) {
		if (verify_by_listing(tp, rpath, tmp, &remote_size, res) < 0)
			goto out;
		goto check;
	}
	/* A line the target refuses for its length (line_refused): only
	 * libcurl's SIZE by the whole path below, which tells the path too
	 * long (line_too_long). Asked by quote too, it cost a 500, a new
	 * connection and a login more at every push of such a path. */
	r = tmp_line_refused(tp, rpath, tag) ?
	    1 :
	    size_by_quote(tp, tmp, &remote_size, res);
	if (r < 0)
		goto out;
	if (r == 0) {
		size_answered(tp);
		goto check;
	}
	if (r == 2) {
		/* SIZE refused with 550: the copy's size from its listing,
		 * and the next pushes list at once where it shows. */
		if (verify_by_listing(tp, rpath, tmp, &remote_size, res) < 0)
			goto out;
		learn_size_refused(tp);
		goto check;
	}
	r = abs_request(tp, rpath, tag, &url, res);
	if (r < 0 ||
	    (r == 1 && tmp_request(tp, rpath, tag, tmp, &url, res) < 0))
		goto out;
	curl_easy_setopt(tp->curl, CURLOPT_NOBODY, 1L);
	if (run(tp, "verify", res) < 0) {
		if (tp->sftp || atomic_load(tp->stop) ||
		    ftpreply_last(buf_str(&tp->replies), tp->size_said,
		        sizeof(tp->size_said)) != 550 ||
		    verify_by_listing(tp, rpath, tmp, &remote_size, res) < 0)
			goto out;
		/* Shown by the listing: the next pushes list at once. */
		learn_size_refused(tp);
		res->refused = res->file_refused = 0;
		goto check;
	}
	/* libcurl's size only where no 213 came (SFTP, a refused SIZE):
	 * its reader takes a 213 that is not a size for one. */
	if (!tp->sftp) {
		r = ftpreply_size_answer(
		    buf_str(&tp->replies), &n, said, sizeof(said));
		if (r < 0) {
			not_a_size(said, res);
			goto out;
		}
		if (r > 0)
			size_answered(tp);
	}
	curl_easy_getinfo(
	    tp->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &remote_size);
	/* libcurl's SFTP gives a file of 0 bytes as of unknown size (-1:
	 * it trusts no 0, which /proc's files report); the request found
	 * the file, so an empty upload is there. It used to fail its
	 * verify for ever and back the whole target off. */
	if (tp->sftp && remote_size < 0 && size == 0)
		remote_size = 0;
check:
	res->verify_used = "size";
	/* libcurl takes a 500 to its SIZE for no size, and goes on: a
	 * line too long for the target is told here. */
	if (remote_size < 0 && line_too_long(tp, "verify", res))
		goto out;
	if (remote_size < 0) {
		/* No size to compare. 500, 501, 502, 504: SIZE itself is not
		 * there, and every push would fail so. Else (550: no such
		 * file) the copy is gone, a scanner's quarantine say: a copy
		 * that differs. */
		int have =
		    ftpreply_last_no(buf_str(&tp->replies), said, sizeof(said));

		if (have && said[0] == '5' && said[1] == '0') {
			snprintf(res->error, sizeof(res->error),
			    "verify: the target does not tell a file's size "
			    "(SIZE refused: %s): set verify = none for it",
			    said);
		} else {
			res->mismatch = 1;
			snprintf(res->error, sizeof(res->error),
			    "verify: the target tells no size for the copy "
			    "(%s)",
			    have ? said : "no answer to SIZE");
		}
		goto out;
	}
	if (remote_size != (curl_off_t)size) {
		res->mismatch = 1;
		snprintf(res->error, sizeof(res->error),
		    "verify: target has %lld bytes, expected %llu",
		    (long long)remote_size, (unsigned long long)size);
		goto out;
	}
	rc = tp->t->verify == VERIFY_HASH ?
	    ftpc_verify_hash(&tp->fc, fd, tmp, res) :
	    0;
	if (rc == 0) {
		learn_case(tp, tmp, size);
		/* A target that refuses SIZE cannot tell the final name's
		 * size either (final_holds took its refusals for a yes):
		 * the publish asks none. */
		tp->publish_size = size_refused(tp, 0) ? -1 : (int64_t)size;
		memcpy(tp->publish_tmp, tmp, sizeof(tmp));
	}
out:
	buf_free(&url);
	return rc;
}

/* A byte below 0x20 or 0x7f in s. */
static int
has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/*
 * Runs QUOTE commands on the login folder (no transfer). Where the login
 * folder is known, it is named absolutely without CWD (NOCWD): libcurl
 * sends QUOTE first and changed back into the login folder after it, when
 * its last request had left it elsewhere. Now nothing follows the
 * commands, so the request's last reply is its last command's
 * (ftpcmds.c remove_asking reads it), and no CWD is spent.
 */
static int
run_quote(struct curl_tp *tp, struct curl_slist *quote, const char *what,
    struct push_result *res)
{
	struct buf url;
	int rc = -1, at_entry;
	char entry[sizeof(tp->fc.entry) + 1];

	/* The login folder escaped: up to three bytes each. */
	buf_init(&url, URL_MAX);
	common_opts(tp);
	for (const struct curl_slist *q = quote; q != NULL; q = q->next)
		if (linelore_quote_line(q->data) > tp->req_line)
			tp->req_line = linelore_quote_line(q->data);
	/* libcurl refuses a control byte in an FTP path (a TAB in a login
	 * folder): that one keeps the old way. */
	at_entry = !tp->sftp && tp->fc.entry_known && tp->fc.entry_ok &&
	    tp->fc.entry[0] == '/' && !has_control(tp->fc.entry);
	tp->fc.ask_ends_replies = at_entry;
	if (at_entry) {
		/* "/home/u/" from "/home/u" or "/home/u/", "/" from "/" */
		size_t n = strlen(tp->fc.entry);

		while (n > 0 && tp->fc.entry[n - 1] == '/')
			n--;
		memcpy(entry, tp->fc.entry, n);
		memcpy(entry + n, "/", 2);
		tp->req_abs = 1;
		curl_easy_setopt(tp->curl, CURLOPT_FTP_FILEMETHOD,
		    (long)CURLFTPMETHOD_NOCWD);
	}
	if ((at_entry ? url_of(tp, entry, 1, &url) :
	                buf_printf(&url, "%s/", tp->prefix)) == 0) {
		curl_easy_setopt(tp->curl, CURLOPT_URL, buf_str(&url));
		curl_easy_setopt(tp->curl, CURLOPT_NOBODY, 1L);
		curl_easy_setopt(tp->curl, CURLOPT_QUOTE, quote);
		rc = run(tp, what, res);
		if (rc == 0)
			learn_entry_path(tp);
	} else {
		snprintf(res->error, sizeof(res->error), "out of memory");
	}
	buf_free(&url);
	return rc;
}

/* ftpc callbacks (ftpcmds.h): the connection under the command lists. */
static int
login_cb(void *ctx, struct push_result *res)
{
	return learn_login_folder(ctx, res);
}

static int
ask_cb(void *ctx, const struct buf *cmds, const char *what,
    struct push_result *res)
{
	struct curl_tp *tp = ctx;
	struct curl_slist *quote = NULL, *grown;
	int rc;

	for (size_t off = 0; tp->ask_gated && off < cmds->len;
	     off += strlen(cmds->data + off) + 1) {
		const char *cmd = cmds->data + off;
		size_t verb = strcspn(cmd + (cmd[0] == '*'), " ");
		size_t line = linelore_quote_line(cmd);

		if (line_refused(tp, line,
		        linelore_may_lack(cmd + (cmd[0] == '*'), verb))) {
			res->refused = 0;
			res->file_refused = 0;
			tp->ask_held = 1;
			snprintf(res->error, sizeof(res->error),
			    "%s: a command line of %zu bytes, which the target "
			    "refuses for its length: not sent",
			    what, line);
			return -1;
		}
	}
	for (size_t off = 0; off < cmds->len;
	     off += strlen(cmds->data + off) + 1) {
		grown = curl_slist_append(quote, cmds->data + off);
		if (grown == NULL) {
			curl_slist_free_all(quote);
			res->refused = 0;
			snprintf(
			    res->error, sizeof(res->error), "out of memory");
			return -1;
		}
		quote = grown;
	}
	rc = run_quote(tp, quote, what, res);
	curl_slist_free_all(quote);
	return rc;
}

static const char *
replies_cb(void *ctx)
{
	struct curl_tp *tp = ctx;

	return buf_str(&tp->replies);
}

/* The most a listing may send, whole or line by line: a target that
 * never ends one (hostile, or a loop in its file system) fails the
 * request instead of holding the worker. */
#define LISTING_MAX (256u * 1024 * 1024)
/* The longest listing line read line by line: a name is at most
 * NAME_MAX bytes, with MLSD's facts or LIST's columns before it. */
#define LISTING_LINE_MAX 8192
/* list_folder's by_line: MLSD's listing by line, LIST's whole. */
#define LIST_MLSD_BY_LINE 2
/* The longest "CWD /abs/dir" line sent before a LIST (list_url): the
 * line many small servers read at most (pyftpdlib 2,048 bytes, vsftpd
 * about 4 KiB, some embedded ones 512). A longer folder keeps the walk,
 * whose CWDs are one name each. */
#define LIST_CWD_LINE_MAX 512

/*
 * A listing read line by line (list_folder's by_line): each complete
 * line goes to ftpreply_listing alone as it arrives, so that memory holds
 * one line, not the listing (found from outside: a target that refuses
 * SIZE and answers the verify's MLSD with a listing that never ends grew
 * the daemon by 200 MB a worker, up to 256 MiB each). A longer line than
 * LISTING_LINE_MAX is skipped to its end: no name of ours is so long.
 */
struct line_sink {
	struct buf line;
	size_t total; /* bytes of the listing so far */
	int skipping; /* inside a line too long to keep */
	int mlsd;
	void (*fn)(void *ctx, const char *name, int64_t size, int is_dir);
	void *ctx;
	struct curl_tp *tp; /* its listed counts the bytes (progress_cb) */
	struct buf *body;   /* collect_cb's whole listing */
};

/* A whole listing's bytes: list_folder's line_sink, its body. */
static size_t
collect_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct line_sink *ls = userdata;

	ls->tp->listed += (curl_off_t)(size * nmemb);
	return buf_add(ls->body, ptr, size * nmemb) == 0 ? size * nmemb : 0;
}

static size_t
line_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct line_sink *ls = userdata;
	size_t n = size * nmemb, off = 0;

	if (n > LISTING_MAX - ls->total)
		return 0; /* fails the request: see LISTING_MAX */
	ls->total += n;
	ls->tp->listed += (curl_off_t)n;
	while (off < n) {
		const char *nl = memchr(ptr + off, '\n', n - off);
		size_t part = nl != NULL ? (size_t)(nl - (ptr + off)) : n - off;

		if (!ls->skipping && buf_add(&ls->line, ptr + off, part) < 0) {
			ls->skipping = 1;
			buf_reset(&ls->line);
		}
		off += part;
		if (nl == NULL)
			break;
		off++; /* the '\n' */
		if (!ls->skipping)
			ftpreply_listing(ls->line.data, ls->line.len, ls->mlsd,
			    ls->fn, ls->ctx);
		ls->skipping = 0;
		buf_reset(&ls->line);
	}
	return n;
}

static int
curl_list(void *impl, const char *rdir,
    void (*fn)(void *ctx, const char *name, int64_t size, int is_dir),
    void *ctx, struct push_result *res)
{
	/* MLSD line by line: resync's listing of a folder of a million
	 * held the raw listing (up to LISTING_MAX) beside its entries.
	 * LIST whole: a name's leading blanks are LIST's padding only where
	 * every line has them (ftpreply_listing), which needs them all. */
	return list_folder(impl, rdir, fn, ctx, LIST_MLSD_BY_LINE, res);
}

/*
 * The absolute path of folder full (ending in "/") for a listing, or NULL
 * where the walk from the login folder stays: no login folder known, a
 * control byte (libcurl refuses it in a path), a "CWD /abs/dir" for LIST
 * longer than LIST_CWD_LINE_MAX, or an "MLSD /abs/dir" the target's lore
 * refuses for its length (line_refused). An MLSD line past pyftpdlib's
 * 2,048 bytes was answered 500 at every listing, which ends the
 * connection (line_heard), and the folder was listed again by LIST: a
 * login for every such folder (21 in a repair of an old folder nine
 * levels of 255-byte names deep); now only the first. Bounded at 512
 * bytes instead, an MLSD within what the target reads walked again, a
 * repair of a tree D levels deep costing CWDs in the square of D past
 * that length (109 CWDs for 12 levels of 100-byte names).
 */
static const char *
list_abs_dir(struct curl_tp *tp, const char *full, int mlsd)
{
	const char *abs;
	size_t line;

	if (tp->sftp || !tp->fc.entry_known || !tp->fc.entry_ok ||
	    has_control(full))
		return NULL;
	abs = ftpc_quote_path(&tp->fc, full, 0);
	if (abs == NULL || abs[0] != '/')
		return NULL;
	line = strlen(mlsd ? "MLSD \r\n" : "CWD \r\n") + strlen(abs);
	if (mlsd ? line_refused(tp, line, 1) : line > LIST_CWD_LINE_MAX)
		return NULL;
	return abs;
}

/*
 * The URL of a listing of folder full (URL folder included, ending in
 * "/"), where libcurl's walk went back to the login folder and down one
 * CWD a level, and a repair that removes a tree (worker.c
 * remove_old_tree) listing every level cost CWDs in the square of its
 * depth (found from outside: 257 levels, over 60 s). Where the login
 * folder is known, MLSD names the folder by its absolute path (RFC 3659
 * 7.1 takes a pathname; libcurl's NOCWD sends "MLSD /abs/dir"): one
 * command. LIST cannot ("LIST -a" with a path is read as options by some
 * servers): one "CWD /abs/dir" before it (libcurl's SINGLECWD of an
 * absolute URL path), which leaves the connection in that folder, so it
 * is recorded as the request's (req_dir) like a walk's. A target without
 * MLSD (vsftpd) walked 60 levels with 2,080 CWDs. 0, or -1 without
 * memory.
 */
static int
list_url(
    struct curl_tp *tp, const char *full, const char *custom, struct buf *url)
{
	int mlsd = custom != NULL && strcmp(custom, "MLSD") == 0;
	const char *abs = list_abs_dir(tp, full, mlsd);
	size_t n;

	if (abs == NULL)
		return make_url(tp, full, url);
	tp->req_line = PATH_LINE(abs);
	if (mlsd) {
		tp->req_abs = 1;
		if (url_of(tp, abs, 1, url) < 0)
			return -1;
		curl_easy_setopt(tp->curl, CURLOPT_FTP_FILEMETHOD,
		    (long)CURLFTPMETHOD_NOCWD);
		return 0;
	}
	n = strlen(abs);
	if (n >= sizeof(tp->req_dir) || url_of(tp, abs, 1, url) < 0)
		return -1;
	memcpy(tp->req_dir, abs, n + 1);
	curl_easy_setopt(
	    tp->curl, CURLOPT_FTP_FILEMETHOD, (long)CURLFTPMETHOD_SINGLECWD);
	return 0;
}

/*
 * Lists folder rdir below folder top (the url's folder, or "" for the
 * login folder: parent_lists_dir), calling fn for each entry: the whole
 * listing read first (by_line 0), or each line as it arrives (by_line
 * 1: see line_sink), or MLSD's by line and LIST's whole
 * (LIST_MLSD_BY_LINE). 0, or -1 with res->error; entries of a request
 * that then failed may have reached fn already (by_line). Only a request
 * refused before any entry (5xx) is followed by another, so no entry
 * comes twice; a 4xx to MLSD or the last LIST fails the listing (libcurl
 * reads it as empty). A folder refused or not there lists nothing, with
 * tp->list_denied set.
 */
static int
list_folder_in(struct curl_tp *tp, const char *top, const char *rdir,
    void (*fn)(void *ctx, const char *name, int64_t size, int is_dir),
    void *ctx, int by_line, struct push_result *res)
{
	/* MLSD gives exact names and sizes; without it (vsftpd 3.0.3) LIST
	 * with -a, which vsftpd and pure-ftpd take for "dot files too" (a
	 * plain LIST hides them, and resync pushed each one again every
	 * time); a server that takes -a for a path, or lists nothing for
	 * it, gets a plain LIST. */
	static const char *const ftp_requests[] = { "MLSD", "LIST -a", NULL };
	char full[FTPC_FULL_MAX], absdir[FTPC_FULL_MAX], said[160];
	const char *abs;
	struct line_sink sink;
	struct buf url, body;
	CURLcode rc = CURLE_OUT_OF_MEMORY;
	int use_mlsd = !tp->sftp && !mlsd_refused(tp), out = -1, n, lines = 0;
	size_t req = use_mlsd ? 0 : 1;

	memset(res, 0, sizeof(*res));
	tp->list_denied = 0;
	n = snprintf(full, sizeof(full), "%s%s/", top, rdir);
	if (n < 0 || (size_t)n >= sizeof(full)) {
		snprintf(res->error, sizeof(res->error), "list: path too long");
		return -1;
	}
	/* A LIST by "CWD /abs/dir" (list_url) into the folder the kept
	 * connection is in sends no CWD either. */
	abs = list_abs_dir(tp, full, 0);
	if (abs != NULL &&
	    (size_t)snprintf(absdir, sizeof(absdir), "%s", abs) >=
	        sizeof(absdir))
		abs = NULL;
	if (walk_afresh(tp, full, res) < 0 ||
	    (abs != NULL && walk_afresh(tp, absdir, res) < 0))
		return -1;
	buf_init(&url, URL_MAX);
	buf_init(&body, LISTING_MAX);
	memset(&sink, 0, sizeof(sink));
	buf_init(&sink.line, LISTING_LINE_MAX);
	sink.fn = fn;
	sink.ctx = ctx;
	sink.tp = tp;
	sink.body = &body;
	for (;;) {
		/* sftp, and FTP's last resort: libcurl's own listing. */
		const char *custom = tp->sftp ? NULL : ftp_requests[req];

		common_opts(tp);
		buf_reset(&body);
		buf_reset(&sink.line);
		sink.total = 0;
		sink.skipping = 0;
		sink.mlsd = use_mlsd;
		lines = by_line == 1 ||
		    (by_line == LIST_MLSD_BY_LINE && use_mlsd &&
		        custom != NULL);
		if (list_url(tp, full, custom, &url) < 0) {
			rc = CURLE_OUT_OF_MEMORY;
			break;
		}
		curl_easy_setopt(tp->curl, CURLOPT_URL, buf_str(&url));
		if (lines) {
			curl_easy_setopt(
			    tp->curl, CURLOPT_WRITEFUNCTION, line_cb);
			curl_easy_setopt(tp->curl, CURLOPT_WRITEDATA, &sink);
		} else {
			curl_easy_setopt(
			    tp->curl, CURLOPT_WRITEFUNCTION, collect_cb);
			curl_easy_setopt(tp->curl, CURLOPT_WRITEDATA, &sink);
		}
		if (custom != NULL)
			curl_easy_setopt(
			    tp->curl, CURLOPT_CUSTOMREQUEST, custom);
		rc = perform(tp);
		/* libcurl takes a 450 to MLSD for an empty listing too, but
		 * MLSD of a folder that is there lists it (RFC 3659): a 4xx
		 * is a target busy now, and resync compared the folder's
		 * files against nothing and pushed them all again (found
		 * from outside). No listing, and no refusal of MLSD. */
		if (rc == CURLE_OK && use_mlsd && custom != NULL &&
		    ftpreply_last(buf_str(&tp->replies), said, sizeof(said)) /
		            100 ==
		        4) {
			snprintf(res->error, sizeof(res->error),
			    "list %s: the target answered MLSD with \"%s\"",
			    rdir, said);
			goto done;
		}
		/* Listed by MLSD: where its refusal was learnt, the target
		 * was asked again (lore_holds), and answers now. */
		if (rc == CURLE_OK && use_mlsd && custom != NULL)
			mlsd_answered(tp, 1);
		/* libcurl takes a 450 to LIST for an empty listing: a
		 * server that reads -a as a path may answer so, or list
		 * nothing. An empty "LIST -a" (vsftpd lists "." and "..")
		 * gets a plain LIST too. */
		if (rc == CURLE_OK && body.len == 0 && sink.total == 0 &&
		    custom != NULL && strncmp(custom, "LIST", 4) == 0) {
			req++;
			continue;
		}
		/* The plain LIST, the last one asked, answered 4xx: a
		 * busy target, not an empty folder (a LIST of a folder
		 * that is there lists it, RFC 959 4.1.3). It was taken
		 * for an empty listing, and resync pushed the folder's
		 * files all again (found from outside). */
		if (rc == CURLE_OK && !tp->sftp && custom == NULL &&
		    ftpreply_last(buf_str(&tp->replies), said, sizeof(said)) /
		            100 ==
		        4) {
			snprintf(res->error, sizeof(res->error),
			    "list %s: the target answered LIST with \"%s\"",
			    rdir, said);
			goto done;
		}
		if (rc == CURLE_OK || custom == NULL ||
		    rc == CURLE_REMOTE_ACCESS_DENIED || rc == CURLE_WRITE_ERROR)
			break;
		/* Another request only for a refusal (5xx: no MLSD, as
		 * vsftpd; -a taken for a path), and MLSD's at once from now
		 * on, a lasting no. A listing that failed midway (a timeout,
		 * a cut link) was listed again with LIST -a, LIST and
		 * libcurl's LIST: a flooding target's three 256 MiB
		 * listings in one request (found from outside). */
		if (ftpreply_last(buf_str(&tp->replies), said, sizeof(said)) /
		        100 !=
		    5)
			break;
		/* A 5xx after entries came (an MLSD that failed midway) is
		 * no refusal of the request: entries read line by line had
		 * reached fn, and the LIST after it gave them all again,
		 * each listed twice (found from outside). */
		if (sink.total > 0 || body.len > 0) {
			snprintf(res->error, sizeof(res->error),
			    "list %s: the target's %s ended with \"%s\" after "
			    "part of its listing",
			    rdir, custom, said);
			goto done;
		}
		/* A 500 to "MLSD /abs/dir" longer than the target reads
		 * (line_heard) is no refusal of MLSD. */
		if (use_mlsd && !tp->line_long)
			mlsd_answered(tp, 0);
		use_mlsd = 0;
		req++;
	}
	if (rc == CURLE_REMOTE_ACCESS_DENIED ||
	    rc == CURLE_REMOTE_FILE_NOT_FOUND) {
		out = 0; /* no such folder there: nothing is there */
		tp->list_denied = 1;
	} else if (rc == CURLE_WRITE_ERROR) {
		snprintf(res->error, sizeof(res->error),
		    "list %s: the target's listing went on past %u MiB", rdir,
		    LISTING_MAX >> 20);
	} else if (rc == CURLE_ABORTED_BY_CALLBACK && tp->stalled) {
		/* As run says it: "Callback aborted" named nobody. */
		snprintf(res->error, sizeof(res->error),
		    "list %s: the target did not answer in time (nothing moved "
		    "for %llu s, its timeout)",
		    rdir, (unsigned long long)tp->t->timeout);
	} else if (rc != CURLE_OK) {
		char what[FTPC_FULL_MAX + 8];

		snprintf(what, sizeof(what), "list %s", rdir);
		if (!curlbase_too_slow(rc, tp->errbuf, tp->t, 0, what,
		        res->error, sizeof(res->error)))
			snprintf(res->error, sizeof(res->error), "list %s: %s",
			    rdir,
			    tp->errbuf[0] ? tp->errbuf :
			                    curl_easy_strerror(rc));
	} else if (lines) {
		/* A last line without its line end. */
		if (!sink.skipping && sink.line.len > 0)
			ftpreply_listing(
			    sink.line.data, sink.line.len, use_mlsd, fn, ctx);
		out = 0;
	} else {
		ftpreply_listing(body.data, body.len, use_mlsd, fn, ctx);
		out = 0;
	}
done:
	buf_free(&url);
	buf_free(&body);
	buf_free(&sink.line);
	return out;
}

/* list_folder_in, folder rdir below the url's folder. */
static int
list_folder(struct curl_tp *tp, const char *rdir,
    void (*fn)(void *ctx, const char *name, int64_t size, int is_dir),
    void *ctx, int by_line, struct push_result *res)
{
	return list_folder_in(tp, tp->fc.base, rdir, fn, ctx, by_line, res);
}

/*
 * The "*mkdir" of each level ignores every error, "exists" and the rest
 * alike (SFTP says no more than "failure"), so a folder that could not be
 * made (a file by its name on the target, no permission) was logged as
 * made and its job dropped. The folder is listed once made: only a folder
 * lists. 0, or -1 with the reason, refused as this path's.
 */
static int
sftp_is_folder(struct curl_tp *tp, const char *full, struct buf *url,
    struct push_result *res)
{
	char dir[FTPC_FULL_MAX + 1];
	char why[256];

	if (ftpc_join(dir, sizeof(dir), full, "/", res) < 0)
		return -1;
	common_opts(tp);
	buf_reset(url);
	if (make_url(tp, dir, url) < 0) {
		snprintf(res->error, sizeof(res->error), "out of memory");
		return -1;
	}
	curl_easy_setopt(tp->curl, CURLOPT_URL, buf_str(url));
	curl_easy_setopt(tp->curl, CURLOPT_DIRLISTONLY, 1L);
	if (run(tp, "mkdir", res) == 0)
		return 0;
	snprintf(why, sizeof(why), "%.255s", res->error);
	snprintf(res->error, sizeof(res->error),
	    "no folder there after mkdir (a file by its name on the target, "
	    "no permission, or a full disk or inode table there): %s",
	    why);
	res->refused = 1;
	res->file_refused = 1;
	return -1;
}

/*
 * libcurl makes a missing folder as CWD, MKD, then CWD again, and fails
 * on that last CWD's "no" ("550 d: No such file or directory"), which
 * hides why the MKD was refused: a read-only folder or a full target
 * read as a folder gone missing (found with proftpd, pure-ftpd and
 * vsftpd). full's MKD is sent once more by itself and its answer, if a
 * "no", replaces the reason in res (whose flags stay); nothing changes
 * on a link failure, a stop, or an MKD that now works.
 */
static void
say_why_no_folder(struct curl_tp *tp, const char *full, const char *what,
    struct push_result *res)
{
	struct push_result pres;
	struct buf cmds;
	char said[sizeof(res->error) / 2];

	if (tp->sftp || !tp->said_no || atomic_load(tp->stop))
		return;
	/* The failed walk's login told the login folder, which the MKD's
	 * path is named from. */
	learn_entry_path(tp);
	memset(&pres, 0, sizeof(pres));
	ftpc_cmds_init(&cmds);
	if (ftpc_add(&tp->fc, &cmds, "*MKD", ftpc_quote_path(&tp->fc, full, 0),
	        NULL, &pres) == 0 &&
	    ask_cb(tp, &cmds, what, &pres) == 0 &&
	    ftpreply_last_no(buf_str(&tp->replies), said, sizeof(said)))
		snprintf(res->error, sizeof(res->error),
		    "%s: the target did not make the folder (MKD: %s)", what,
		    said);
	buf_free(&cmds);
}

static int
curl_mkdir(void *impl, const char *rpath, struct push_result *res)
{
	struct curl_tp *tp = impl;
	char full[FTPC_FULL_MAX];
	struct buf url;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	res->verify_used = "none";
	dircache_drop(tp);
	if (ftpc_path_fits(&tp->fc, rpath, res) < 0 ||
	    ftpc_join(full, sizeof(full), tp->fc.base, rpath, res) < 0)
		return -1;
	buf_init(&url, URL_MAX);
	if (tp->sftp) {
		/* SFTP has no "change folder, creating it": each level is made
		 * with mkdir, ignoring "exists". */
		struct buf cmds;
		char level[sizeof(full)];
		int ok = 1;

		common_opts(tp);

		/* From the first level, the URL's folder too: an upload makes
		 * it when it is missing (CURLOPT_FTP_CREATE_MISSING_DIRS), and
		 * a folder alone did not. Not "/~", libcurl's home. */
		ftpc_cmds_init(&cmds);
		for (size_t i = 2; ok && full[0] == '/' && full[i - 1] != '\0';
		     i++) {
			if (full[i] != '/' && full[i] != '\0')
				continue;
			memcpy(level, full, i);
			level[i] = '\0';
			if (strcmp(level, "/~") == 0)
				continue;
			ok = ftpc_add(&tp->fc, &cmds, "*mkdir", level, NULL,
			         res) == 0;
		}
		if (ok)
			rc = ask_cb(tp, &cmds, "mkdir", res);
		buf_free(&cmds);
		if (rc == 0)
			rc = sftp_is_folder(tp, full, &url, res);
	} else {
		/* libcurl changes into each level of a folder URL and makes
		 * the ones that are missing (CURLOPT_FTP_CREATE_MISSING_DIRS):
		 * success means the folder is there. */
		char dir[sizeof(full) + 1];

		if (ftpc_join(dir, sizeof(dir), full, "/", res) < 0 ||
		    walk_afresh(tp, dir, res) < 0) {
			buf_free(&url);
			return -1;
		}
		common_opts(tp);
		if (make_url(tp, dir, &url) == 0) {
			curl_easy_setopt(tp->curl, CURLOPT_URL, buf_str(&url));
			curl_easy_setopt(tp->curl, CURLOPT_NOBODY, 1L);
			curl_easy_setopt(tp->curl,
			    CURLOPT_FTP_CREATE_MISSING_DIRS,
			    (long)CURLFTP_CREATE_DIR_RETRY);
			rc = run(tp, "mkdir", res);
			if (rc == 0)
				learn_entry_path(tp);
			else
				say_why_no_folder(tp, full, "mkdir", res);
		} else {
			snprintf(
			    res->error, sizeof(res->error), "out of memory");
		}
	}
	buf_free(&url);
	return rc;
}

/* The size the final name of the copy of (from, tag) must hold after
 * its publish: what curl_verify found that copy to hold, taken once; -1
 * none (not verified: verify = none). */
static int64_t
take_publish_size(struct curl_tp *tp, const char *from, int64_t tag)
{
	char tmp[TMP_NAME_MAX];
	struct push_result res;
	int64_t size = tp->publish_size;

	tp->publish_size = -1;
	if (size < 0 ||
	    ftpc_tmp_name(&tp->fc, from, tag, tmp, sizeof(tmp), &res) < 0 ||
	    strcmp(tmp, tp->publish_tmp) != 0)
		return -1;
	return size;
}

/*
 * The size the target's sftp server tells for full on a new request (an
 * open for reading and its fstat, with no byte read): 1 with *size, 0 if
 * the server says there is no such file, -1 for anything else (a link
 * failure, a refusal, no size told).
 */
static int
sftp_size_of(struct curl_tp *tp, const char *full, curl_off_t *size)
{
	struct buf url;
	CURLcode rc;
	int r = -1;

	buf_init(&url, URL_MAX);
	common_opts(tp);
	if (make_url(tp, full, &url) == 0) {
		curl_easy_setopt(tp->curl, CURLOPT_URL, buf_str(&url));
		curl_easy_setopt(tp->curl, CURLOPT_NOBODY, 1L);
		rc = perform(tp);
		if (rc == CURLE_REMOTE_FILE_NOT_FOUND)
			r = 0;
		else if (rc == CURLE_OK &&
		    curl_easy_getinfo(tp->curl,
		        CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, size) == CURLE_OK)
			r = 1;
	}
	buf_free(&url);
	return r;
}

/*
 * After an sftp publish whose rename the target never answered within
 * the timeout: whether the rename was done all the same (its server did
 * it and the reply was lost, or came too late). The retry's upload, its
 * removal of the final name and its second rename had the file appear,
 * vanish and appear again on the target, where a watcher may take it
 * twice (found by a review). Done means, asked on a new connection (the
 * stalled one was cut): the temporary name gone and the final one holding
 * exactly the verified size. Anything else, or no verified size (verify =
 * none), is the failure as it was.
 */
static int
sftp_rename_done(struct curl_tp *tp, const char *from, int64_t tag,
    const char *rpath, int64_t size)
{
	char tmp[TMP_NAME_MAX], final[RFTP_PATH_MAX + 64];
	struct push_result pres;
	curl_off_t n = -1;
	int r;

	memset(&pres, 0, sizeof(pres));
	if (ftpc_tmp_name(&tp->fc, from, tag, tmp, sizeof(tmp), &pres) < 0 ||
	    ftpc_join(final, sizeof(final), tp->fc.base, rpath, &pres) < 0 ||
	    sftp_size_of(tp, tmp, &n) != 0 || atomic_load(tp->stop))
		return 0;
	r = sftp_size_of(tp, final, &n);
	/* libcurl gives an empty file's size as unknown (curl_verify). */
	if (r == 1 && n < 0 && size == 0)
		n = 0;
	return r == 1 && n == (curl_off_t)size;
}

/* The calls that are only QUOTE commands: ftpcmds.c says what to send. */
static int
publish_of(struct curl_tp *tp, const char *from, int64_t tag, const char *rpath,
    struct push_result *res)
{
	int64_t size;
	int rc, unanswered;

	dircache_drop(tp);
	/* The rename names its paths from the login folder, which a push
	 * learns with its upload; a copy another connection sent (a stream,
	 * stream.h) may be this connection's first push. */
	if (learn_login_folder(tp, res) < 0)
		return -1;
	size = take_publish_size(tp, from, tag);
	rc = ftpc_publish_from(&tp->fc, from, tag, rpath, size, res);
	/* Read before the next request resets them. */
	unanswered = rc < 0 && tp->sftp && (tp->stalled || ssh_timed_out(tp));
	if (!unanswered || size < 0 || atomic_load(tp->stop) ||
	    !sftp_rename_done(tp, from, tag, rpath, size))
		return rc;
	log_info("mirror target %s path=%s: the target did the rename but its "
	         "answer was lost (%s): published",
	    tp->t->name, rpath, res->error);
	/* The failure's marks go; what the verify said (verify_used,
	 * fell_back) stays for the push's line. */
	res->error[0] = '\0';
	res->refused = res->file_refused = res->mismatch = 0;
	res->at_final_name = res->conn_refused = 0;
	return 0;
}

static int
curl_publish(
    void *impl, const char *rpath, int64_t tag, struct push_result *res)
{
	return publish_of(impl, rpath, tag, rpath, res);
}

static int
curl_publish_from(void *impl, const char *from, int64_t tag, const char *rpath,
    struct push_result *res)
{
	return publish_of(impl, from, tag, rpath, res);
}

/*
 * Whether the temporary copy's "DELE /abs/path" line is one the target
 * refuses for its length (line_refused): a job parked so left its copy
 * there, the DELE answered 500 and the SIZE after it too, so it was
 * taken for gone.
 */
static int
dele_too_long(struct curl_tp *tp, const char *tmp)
{
	const char *abs = ftpc_quote_path(&tp->fc, tmp, 0);

	return !tp->sftp && abs != NULL && line_refused(tp, PATH_LINE(abs), 0);
}

/* One more command "verb arg" at the end of list (a POSTQUOTE list):
 * the new list, or NULL (list freed) where arg cannot be sent in a
 * command or there is no memory. */
static struct curl_slist *
post_add(struct curl_tp *tp, struct curl_slist *list, const char *verb,
    const char *arg)
{
	char cmd[sizeof(tp->fc.cmd)];
	struct curl_slist *grown;

	if (quote_command(cmd, sizeof(cmd), QUOTE_FTP, verb, arg, NULL) !=
	        QUOTE_OK ||
	    (grown = curl_slist_append(list, cmd)) == NULL) {
		curl_slist_free_all(list);
		return NULL;
	}
	return grown;
}

/*
 * A request that walks to dir (its folders one CWD each, dir ending in
 * "/") and there sends "verb name", then "verb2 arg2" where verb2 is not
 * NULL (libcurl's POSTQUOTE runs in the folder the request walked to; a
 * '*' verb may fail without failing the request): for a path whose whole
 * command line the target refuses for its length. The longest of those
 * lines is the request's (req_line): a 500 to one that long teaches the
 * lore. run()'s answer and res; the replies are tp->replies.
 */
static int
walk_post(struct curl_tp *tp, const char *dir, const char *verb,
    const char *name, const char *verb2, const char *arg2, const char *what,
    struct push_result *res)
{
	struct curl_slist *post;
	struct buf url;
	int rc = -1;

	post = post_add(tp, NULL, verb, name);
	if (post != NULL && verb2 != NULL)
		post = post_add(tp, post, verb2, arg2);
	if (post == NULL) {
		snprintf(res->error, sizeof(res->error),
		    "%s: the name cannot be sent in a command", what);
		return -1;
	}
	buf_init(&url, URL_MAX);
	if (walk_request(tp, dir, &url, res) == 0) {
		for (const struct curl_slist *q = post; q != NULL; q = q->next)
			if (linelore_quote_line(q->data) > tp->req_line)
				tp->req_line = linelore_quote_line(q->data);
		curl_easy_setopt(tp->curl, CURLOPT_POSTQUOTE, post);
		rc = run(tp, what, res);
		curl_easy_setopt(tp->curl, CURLOPT_POSTQUOTE, NULL);
	} else if (res->error[0] == '\0') {
		snprintf(res->error, sizeof(res->error), "out of memory");
	}
	buf_free(&url);
	curl_slist_free_all(post);
	return rc;
}

/*
 * Removes the temporary copy of (rpath, tag) by walking to its folder,
 * one name a CWD, and "DELE name" there: where its whole path is too long
 * for the target's command line (dele_too_long). As transport_discard
 * answers.
 */
static int
discard_by_walk(struct curl_tp *tp, const char *tmp)
{
	char dir[TMP_NAME_MAX], said[160];
	size_t n = folder_len(tmp);
	struct push_result res;
	int rc;

	memset(&res, 0, sizeof(res));
	if (n == 0 || n >= sizeof(dir))
		return -1;
	memcpy(dir, tmp, n);
	dir[n] = '\0';
	rc = walk_post(tp, dir, "DELE", tmp + n, NULL, NULL, "discard", &res);
	/* 550: no such copy or folder (or no deletes, which the walk cannot
	 * tell without a SIZE by the whole path, the line refused). */
	if (rc < 0 && (res.refused || res.file_refused) &&
	    ftpreply_last(buf_str(&tp->replies), said, sizeof(said)) == 550)
		rc = 0;
	return rc;
}

static int
curl_discard(void *impl, const char *rpath, int64_t tag)
{
	struct curl_tp *tp = impl;
	char tmp[TMP_NAME_MAX];
	struct push_result res;

	memset(&res, 0, sizeof(res));
	if (!tp->sftp &&
	    ftpc_tmp_name(&tp->fc, rpath, tag, tmp, sizeof(tmp), &res) == 0 &&
	    learn_login_folder(tp, &res) == 0 && dele_too_long(tp, tmp))
		return discard_by_walk(tp, tmp);
	return ftpc_discard(&tp->fc, rpath, tag);
}

static int
curl_remove(void *impl, const char *rpath, struct push_result *res)
{
	return ftpc_delete(&((struct curl_tp *)impl)->fc, rpath, res);
}

/* A listing's folders, kept (struct dir_cache) as it is read. */
static void
listed_dir_cb(void *ctx, const char *name, int64_t size, int is_dir)
{
	struct dir_cache *dc = ctx;
	char *copy;

	(void)size;
	if (!is_dir || dc->failed)
		return;
	if (dc->n == dc->cap) {
		size_t cap = dc->cap ? dc->cap * 2 : 64;
		char **grown = realloc(dc->names, cap * sizeof(*grown));

		if (grown == NULL) {
			dc->failed = 1;
			return;
		}
		dc->names = grown;
		dc->cap = cap;
	}
	if ((copy = strdup(name)) == NULL) {
		dc->failed = 1;
		return;
	}
	dc->names[dc->n++] = copy;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Whether folder parent (from the login folder) lists a folder named
 * leaf, for a target that answers no MLST (vsftpd 3.0.3: "500 Unknown
 * command."): its listing (list_folder_in, LIST where MLSD is refused,
 * each line parsed as resync's are: a name with blanks, a leading '-' or
 * UTF-8 bytes read whole). A parent among the url's own folders is
 * listed too: asked only below them, a url's folder of mode 000 was
 * taken for one not there, and an rmdir under it counted done. 1
 * listed; 0 not (or a listing refused: as before, not there); 2 where
 * the parent itself was refused or not there (its CWD answered 550,
 * which vsftpd says of both: walk_unenterable tells them apart); -1 if
 * the link failed (res->error).
 */
static int
parent_lists_dir(struct curl_tp *tp, const char *parent, const char *leaf,
    struct push_result *res)
{
	char rdir[FTPC_FULL_MAX];
	size_t n = strlen(parent);
	struct push_result lres;
	int rc;

	if (n >= sizeof(rdir))
		return 0;
	memcpy(rdir, parent, n + 1);
	/* list_folder_in adds the "/" ("" lists the login folder). */
	while (n > 0 && rdir[n - 1] == '/')
		rdir[--n] = '\0';
	if (n > 0 && rdir[0] != '/')
		return 0; /* not a path from the login folder */
	/* The job listed it already, and changed nothing in it since
	 * (dircache_drop). */
	if (tp->dc.parent == NULL || strcmp(tp->dc.parent, rdir) != 0) {
		dircache_drop(tp);
		memset(&lres, 0, sizeof(lres));
		rc = list_folder_in(
		    tp, "", rdir, listed_dir_cb, &tp->dc, 0, &lres);
		if (rc < 0 || tp->dc.failed ||
		    (tp->dc.parent = strdup(rdir)) == NULL) {
			dircache_drop(tp);
			if (rc == 0) {
				snprintf(res->error, sizeof(res->error),
				    "list %.200s: out of memory", rdir);
				return -1;
			}
			/* A refusal of the listing tells nothing: as
			 * before. */
			if (lres.refused || lres.file_refused)
				return 0;
			memset(res, 0, sizeof(*res));
			snprintf(
			    res->error, sizeof(res->error), "%s", lres.error);
			return -1;
		}
		tp->dc.denied = tp->dc.n == 0 && tp->list_denied;
		if (tp->dc.n > 1)
			qsort(tp->dc.names, tp->dc.n, sizeof(*tp->dc.names),
			    name_cmp);
	}
	if (tp->dc.denied)
		return 2;
	return tp->dc.n > 0 &&
	    bsearch(&leaf, tp->dc.names, tp->dc.n, sizeof(*tp->dc.names),
	        name_cmp) != NULL;
}

static int walk_unenterable(struct curl_tp *tp, const char *dir, int walked,
    char *name, size_t namelen, const char **how, struct push_result *res);
static void unenterable_said(struct curl_tp *tp, struct push_result *res,
    const char *what, const char *folder, const char *how);

/*
 * After a refused RMD of folder leaf in folder parent (from the login
 * folder, "/" ended) and an MLST of it answered with neither a
 * description nor 550 (vsftpd 3.0.3: "500 Unknown command."): whether
 * the target keeps it, from the parent's listing (parent_lists_dir).
 * Taken for gone, a refused rename's repair on vsftpd left the old
 * folder, with the mirror's files in a folder of it the account may not
 * enter, and said nothing (pyftpdlib, which answers MLST, had the repair
 * warn that the old folder keeps files). res->kept with said, the RMD's
 * answer (NULL: not at hand), if so; 0 if not. Where the parent's own
 * CWD was refused, the folders above it are asked (walk_unenterable): a
 * folder there the account may not enter, the url's own among them,
 * parks the job (-1, res->blocked); counted done, the rmdir was logged
 * with the folder kept on the target. -1 if the link failed
 * (res->error).
 */
static int
kept_by_listing(struct curl_tp *tp, const char *parent, const char *leaf,
    const char *said, struct push_result *res)
{
	char asked[160], seen[FTPC_FULL_MAX];
	long code = ftpreply_last(buf_str(&tp->replies), asked, sizeof(asked));
	const char *how = NULL;
	struct push_result lres;
	int r;

	if (code != 500 && code != 502)
		return 0;
	memset(&lres, 0, sizeof(lres));
	r = parent_lists_dir(tp, parent, leaf, &lres);
	if (r == 2) {
		memset(&lres, 0, sizeof(lres));
		/* The listing's replies may be of one "CWD /abs/dir"
		 * (list_abs_dir): they do not tell which folder. */
		r = walk_unenterable(
		    tp, parent, 0, seen, sizeof(seen), &how, &lres);
		if (r == 1) {
			unenterable_said(tp, res, "rmdir", seen, how);
			return -1;
		}
	}
	if (r < 0) {
		memset(res, 0, sizeof(*res));
		snprintf(res->error, sizeof(res->error), "rmdir: %.400s",
		    lres.error);
		return -1;
	}
	if (r == 1) {
		res->kept = 1;
		if (said != NULL)
			snprintf(res->error, sizeof(res->error),
			    "rmdir: the target keeps it (it said: %s; its "
			    "parent's listing names it)",
			    said);
		else
			snprintf(res->error, sizeof(res->error),
			    "rmdir: the target keeps it (it refused RMD; its "
			    "parent's listing names it)");
	}
	return 0;
}

/*
 * Which folder of dir's first dirlen bytes (from the login folder, "/"
 * ended) the walk just made to it (tp->replies, its last reply the
 * refused CWD's 550) could not enter: the length of dir up to and with
 * that folder's "/", or 0 where the replies cannot tell. libcurl walks
 * one CWD a folder (CURLFTPMETHOD_MULTICWD) after the login's PWD (257)
 * or, on a kept connection, after a CWD back to the login folder: each
 * reply after those but the last is a CWD's that went through (2xx;
 * RFC 959 says 250, some servers 200). Asked from dir's deepest folder
 * up, each ask walking from the login folder and refused at the same
 * CWD, a refusal near the top of a tree D folders deep cost about D*D/2
 * CWDs (vsftpd's log: "CWD base, alice, a..., b..." refused seven
 * times). Too deep an answer costs a walk more; too shallow would name
 * a folder that can be entered, so a reply the walk does not explain
 * tells nothing.
 */
static size_t
walk_refused_at(struct curl_tp *tp, const char *dir, size_t dirlen)
{
	const char *replies = buf_str(&tp->replies);
	size_t ok, depth = 0;

	if (ftpreply_has_code(replies, "230")) {
		if (!ftpreply_has_code(replies, "257"))
			return 0;
		ok = ftpreply_count_final(replies, "257");
	} else {
		/* The kept connection's CWD back to the login folder. */
		if (replies[0] != '2')
			return 0;
		ok = ftpreply_count_final(replies, NULL);
		ok = ok > 0 ? ok - 1 : 0;
	}
	if (ok == 0)
		return 0;
	ok--; /* the refused CWD's 550 */
	for (size_t i = 0; i < dirlen; i++) {
		if (dir[i] == '/' || (i > 0 && dir[i - 1] != '/'))
			continue;
		/* Folder depth + 1 starts at i: the refused one where ok
		 * CWDs went before it. */
		if (depth++ < ok)
			continue;
		while (i < dirlen && dir[i] != '/')
			i++;
		return i < dirlen ? i + 1 : 0;
	}
	return 0;
}

/*
 * After a walk to dir (from the login folder, "/" ended) had a CWD
 * refused (550): whether a folder on the way is there but not to be
 * entered by this account (pyftpdlib's user without "e", a folder without
 * x for vsftpd's), which both servers answer as they do a folder not
 * there (vsftpd "550 Failed to change directory." either way). Asked
 * from the deepest folder up, each parent walked to and "MLST name" sent
 * there (RFC 3659 7): a 250 with type=dir says the folder is there, a
 * 550 not. A target without MLST (vsftpd 3.0.3 answers it "500 Unknown
 * command.") has the parent listed instead (parent_lists_dir): taken
 * for not there, a vsftpd folder of mode 000 had a rename's repair push
 * the new name and report the old folder gone, the mirror's files left
 * in it, and an rmdir counted done with the folder kept (pyftpdlib's
 * the same, before MLST was asked). 1 with the folder's path in name
 * (namelen bytes) and how it was found in *how if one is there and
 * refused entry; 0 if not there, or where neither MLST nor a listing
 * tells; -1 if the link failed (res->error).
 */
static int
walk_unenterable(struct curl_tp *tp, const char *dir, int walked, char *name,
    size_t namelen, const char **how, struct push_result *res)
{
	char parent[FTPC_FULL_MAX], leaf[FTPC_FULL_MAX], said[160];
	size_t n = strlen(dir), p, at;
	long code;
	int r;

	if (n >= sizeof(parent) || n >= namelen)
		return 0;
	/* The caller's walk to dir (walked: tp->replies are its) ended at
	 * the refused CWD: asked from there, not from dir's deepest. */
	if (walked && (at = walk_refused_at(tp, dir, n)) > 0)
		n = at;
	/* One request a level at most, each ending at a refused CWD or at
	 * the MLST (and a listing where MLST is not known): bounded by
	 * dir's length. */
	while (n > 1 && dir[n - 1] == '/') {
		memcpy(parent, dir, n - 1);
		parent[n - 1] = '\0';
		p = folder_len(parent);
		/* The folder's name without its "/" (MLST names the folder). */
		memcpy(leaf, parent + p, n - 1 - p + 1);
		parent[p] = '\0';
		memset(res, 0, sizeof(*res));
		if (walk_post(tp, parent, "*MLST", leaf, NULL, NULL, "probe",
		        res) < 0) {
			if (res->refused || !res->file_refused ||
			    ftpreply_last(buf_str(&tp->replies), said,
			        sizeof(said)) != 550)
				return -1;
			/* A CWD above refused too: ask at that folder. */
			at = walk_refused_at(tp, dir, p);
			n = at > 0 && at < n ? at : p;
			continue;
		}
		code = ftpreply_last(buf_str(&tp->replies), said, sizeof(said));
		if (code == 550)
			return 0;
		if (code == 250) {
			/* A folder: there (a file of that name is no folder
			 * to enter, nor the old name's). */
			if (!ftpreply_mlst_is_dir(buf_str(&tp->replies)))
				return 0;
			*how = "MLST from its parent 250";
		} else {
			/* No MLST (500, 502): the parent's listing. */
			memset(res, 0, sizeof(*res));
			r = parent_lists_dir(tp, parent, leaf, res);
			if (r != 1) /* 2: the parent just entered, gone */
				return r < 0 ? -1 : 0;
			*how = "its parent's listing names it";
		}
		memcpy(name, dir, n - 1);
		name[n - 1] = '\0';
		return 1;
	}
	return 0;
}

/* How many folders path names ("a/b/", "/a/b" and "a/b" all 2). */
static size_t
path_depth(const char *path, size_t len)
{
	size_t depth = 0;

	for (size_t i = 0; i < len; i++)
		depth += path[i] != '/' && (i == 0 || path[i - 1] == '/');
	return depth;
}

/* The caller's walk met a folder it may not enter (walk_unenterable):
 * parked with why, for no retry enters it until the target's admin gives
 * the account that right; taken for not there, the target kept the old
 * folder (a rename) or the folder (an rmdir) and the job counted done.
 * The folder is named with its depth in the job's own path (below the
 * url's folder, base), or in the url's path where it is one of those:
 * counted from the login folder, the url's folders came first, and an
 * admin of ftp://host/base/sub/ read "folder 3" for the job's first. */
static void
unenterable_said(struct curl_tp *tp, struct push_result *res, const char *what,
    const char *folder, const char *how)
{
	const char *name = strrchr(folder, '/'), *base = tp->fc.base;
	size_t blen = strlen(base), flen = strlen(folder);
	int in_job;

	/* full is base then the job's path (ftpc_join): folder, a prefix
	 * of it, is the job's where it runs past base at a "/". */
	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	in_job = flen > blen && strncmp(folder, base, blen) == 0 &&
	    (folder[blen] == '/' || blen == 0);
	memset(res, 0, sizeof(*res));
	res->verify_used = "none";
	res->blocked = 1;
	/* Its name and depth: its whole path may be longer than an error. */
	snprintf(res->error, sizeof(res->error),
	    "%s: the target has the folder %.255s (folder %zu of %s) "
	    "but refuses this account entry to it (CWD answered 550, "
	    "%s): give the account that right on the "
	    "target, then 'relayftpd mirror retry'",
	    what, name != NULL ? name + 1 : folder,
	    in_job ? path_depth(folder + blen, flen - blen) :
	             path_depth(folder, flen),
	    in_job ? "the job's path" : "the url's path", how);
}

/* The longer of two command lines. */
static size_t
line_max(size_t x, size_t y)
{
	return x > y ? x : y;
}

/* The length of the deepest folder a and b both name, up to and with
 * its last "/" (0: none but the login folder). */
static size_t
shared_folder_len(const char *a, const char *b)
{
	size_t i, n = 0;

	for (i = 0; a[i] != '\0' && a[i] == b[i]; i++)
		if (a[i] == '/')
			n = i + 1;
	return n;
}

/*
 * Renames a (from the login folder) to b by walking to a folder, one CWD a
 * name, and "RNFR" then "RNTO" there: where "RNFR /abs/a" or "RNTO
 * /abs/b" is a line the target refuses for its length. Sent whole, a
 * folder's rename was parked as a path too long for the target, and
 * every later job under its new name, however short, waited behind it
 * for good. Of three ways, the one whose longer line is the shortest:
 * in the deepest folder a and b share, both named from there ("RNFR
 * one", "RNTO two/one"); in a's folder, b whole; in b's folder, a whole.
 * Only the second was tried, and a move into a sibling folder just as
 * deep, or of a short name into a deep folder, was parked, the target
 * keeping the old name the home had no more. 1 where that longer line
 * is refused too (nothing sent, res untouched), else as ftpc_rename
 * answers.
 */
static int
rename_by_walk(
    struct curl_tp *tp, const char *a, const char *b, struct push_result *res)
{
	char dir[FTPC_FULL_MAX], seen[FTPC_FULL_MAX], said[160];
	const char *how = NULL;
	size_t s = shared_folder_len(a, b), na = folder_len(a);
	size_t nb = folder_len(b), best = SIZE_MAX, line, n = 0;
	const char *qa = ftpc_quote_path(&tp->fc, a, 0);
	const char *qb = ftpc_quote_path(&tp->fc, b, 1);
	const char *from = NULL, *to = NULL, *walk = a;

	if (a[na] == '\0' || b[nb] == '\0')
		return 1;
	if (s > 0) {
		best = line_max(PATH_LINE(a + s), PATH_LINE(b + s));
		n = s;
		from = a + s;
		to = b + s;
	}
	if (qb != NULL &&
	    (line = line_max(PATH_LINE(a + na), PATH_LINE(qb))) < best) {
		best = line;
		n = na;
		from = a + na;
		to = qb;
	}
	if (qa != NULL &&
	    (line = line_max(PATH_LINE(qa), PATH_LINE(b + nb))) < best) {
		best = line;
		walk = b;
		n = nb;
		from = qa;
		to = b + nb;
	}
	if (best == SIZE_MAX || line_refused(tp, best, 0) || n == 0 ||
	    n >= sizeof(dir))
		return 1;
	memcpy(dir, walk, n);
	dir[n] = '\0';
	memset(res, 0, sizeof(*res));
	res->verify_used = "none";
	if (walk_post(tp, dir, "RNFR", from, "RNTO", to, "rename", res) == 0)
		return 0;
	if (!res->refused && res->file_refused &&
	    ftpreply_last(buf_str(&tp->replies), said, sizeof(said)) == 550) {
		struct push_result walked = *res;

		switch (walk_unenterable(
		    tp, dir, 1, seen, sizeof(seen), &how, res)) {
		case 1:
			unenterable_said(tp, res, "rename", seen, how);
			return -1;
		case 0:
			*res = walked; /* not there, as the walk found */
			break;
		default:
			return -1;
		}
	}
	/* A CWD on the way refused (a folder not there): the old name is
	 * not there, as an RNFR of it answered 550 says, or the new name's
	 * folder is not, as an RNTO answered 550 says; the worker makes the
	 * new name's folder and asks again, then repairs the rename
	 * (worker.c repair_rename). Taken for the link's failure, it was
	 * asked again the same way for ever. */
	if (res->file_refused)
		res->refused = 1;
	return -1;
}

/* Whether "RNFR a" or "RNTO b", named whole, is a line the target's lore
 * refuses for its length (line_refused). */
static int
rename_too_long(struct curl_tp *tp, const char *a, const char *b)
{
	const char *qa = ftpc_quote_path(&tp->fc, a, 0);
	const char *qb = ftpc_quote_path(&tp->fc, b, 1);

	return qa != NULL && qb != NULL &&
	    (line_refused(tp, PATH_LINE(qa), 0) ||
	        line_refused(tp, PATH_LINE(qb), 0));
}

static int
curl_rename(
    void *impl, const char *from, const char *to, struct push_result *res)
{
	struct curl_tp *tp = impl;
	char a[FTPC_FULL_MAX], b[FTPC_FULL_MAX];
	int rc;

	memset(res, 0, sizeof(*res));
	res->verify_used = "none";
	dircache_drop(tp);
	if (tp->sftp)
		return ftpc_rename(&tp->fc, from, to, res);
	if (ftpc_path_fits(&tp->fc, from, res) < 0 ||
	    ftpc_path_fits(&tp->fc, to, res) < 0 ||
	    ftpc_join(a, sizeof(a), tp->fc.base, from, res) < 0 ||
	    ftpc_join(b, sizeof(b), tp->fc.base, to, res) < 0 ||
	    learn_login_folder(tp, res) < 0)
		return -1;
	if (rename_too_long(tp, a, b) &&
	    (rc = rename_by_walk(tp, a, b, res)) != 1)
		return rc;
	rc = ftpc_rename(&tp->fc, from, to, res);
	/* Its first 500 taught the lore a line that long is too long (a
	 * shorter one than the lore knew of): nothing was renamed. */
	if (rc < 0 && !atomic_load(tp->stop) && rename_too_long(tp, a, b)) {
		struct push_result wres;
		int wrc = rename_by_walk(tp, a, b, &wres);

		if (wrc != 1) {
			*res = wres;
			return wrc;
		}
	}
	return rc;
}

/*
 * Removes the empty folder full (from the login folder) by walking to its
 * parent and "RMD name" there: where "RMD /abs/dir", or the "MLST
 * /abs/dir" asked after a refusal (a byte longer), is a line the target
 * refuses for its length. Sent whole, it cost a 500, the connection and a
 * new login, and the folder stayed (a refused rename's repair said the
 * old folder kept files). As ftpcmds.c remove_asking answers: a parent
 * the walk cannot enter (550) holds no such folder; a refusal is asked
 * about by "MLST name" in the parent, and a folder the target still
 * describes is kept (res->kept), or one its parent's listing names where
 * the target answers no MLST (kept_by_listing), or, after "not now"
 * (4xx), tried again unless MLST says the name is not there (550).
 */
static int
rmdir_by_walk(struct curl_tp *tp, const char *full, struct push_result *res)
{
	char dir[FTPC_FULL_MAX], seen[FTPC_FULL_MAX], said[160], asked[8];
	const char *how = NULL;
	size_t n = folder_len(full);
	struct push_result pres;
	long code;
	int is_dir;

	if (n == 0 || n >= sizeof(dir) || full[n] == '\0') {
		snprintf(res->error, sizeof(res->error),
		    "rmdir: no folder name in %.200s", full);
		return -1;
	}
	memcpy(dir, full, n);
	dir[n] = '\0';
	if (walk_post(tp, dir, "RMD", full + n, NULL, NULL, "rmdir", res) == 0)
		return 0;
	if (!res->refused && !res->file_refused)
		return -1; /* the link's: asked again with the job */
	code = ftpreply_last(buf_str(&tp->replies), said, sizeof(said));
	if (!res->refused) {
		/* A CWD on the way refused: 550, what is not there (or
		 * cannot be reached) is as removed as can be, as an RMD
		 * and MLST of it both answered 550. */
		if (code != 550)
			return -1;
		switch (walk_unenterable(
		    tp, dir, 1, seen, sizeof(seen), &how, res)) {
		case 1:
			unenterable_said(tp, res, "rmdir", seen, how);
			return -1;
		case 0:
			break;
		default:
			return -1;
		}
		memset(res, 0, sizeof(*res));
		res->verify_used = "none";
		return 0;
	}
	memset(&pres, 0, sizeof(pres));
	if (walk_post(tp, dir, "*MLST", full + n, NULL, NULL, "rmdir", &pres) <
	    0) {
		snprintf(res->error, sizeof(res->error), "%s", pres.error);
		res->refused = 0;
		res->file_refused = 0;
		return -1;
	}
	is_dir = ftpreply_mlst_is_dir(buf_str(&tp->replies));
	if (code >= 400 && code < 500 &&
	    (is_dir ||
	        ftpreply_last(buf_str(&tp->replies), asked, sizeof(asked)) !=
	            550)) {
		res->refused = 1;
		res->file_refused = 1;
		snprintf(res->error, sizeof(res->error),
		    "rmdir: the target said: %s", said);
		return -1;
	}
	memset(res, 0, sizeof(*res));
	res->verify_used = "none";
	if (is_dir) {
		res->kept = 1;
		snprintf(res->error, sizeof(res->error),
		    "rmdir: the target keeps it (it said: %s)", said);
		return 0;
	}
	return kept_by_listing(tp, dir, full + n, said, res);
}

static int
rmdir_asking(struct curl_tp *tp, const char *rpath, struct push_result *res)
{
	char full[FTPC_FULL_MAX], parent[FTPC_FULL_MAX];
	const char *abs;
	size_t n;
	int rc;

	memset(res, 0, sizeof(*res));
	res->verify_used = "none";
	if (tp->sftp)
		return ftpc_rmdir(&tp->fc, rpath, res);
	if (ftpc_path_fits(&tp->fc, rpath, res) < 0 ||
	    ftpc_join(full, sizeof(full), tp->fc.base, rpath, res) < 0 ||
	    learn_login_folder(tp, res) < 0)
		return -1;
	abs = ftpc_quote_path(&tp->fc, full, 0);
	if (abs == NULL)
		return ftpc_rmdir(&tp->fc, rpath, res);
	/* A line the lore knows too long walks; so does one longer than
	 * any answered where one was refused (line_unsure): a repair
	 * removes folders deepest first, each RMD line a little shorter
	 * than the last refused and most still past the target's, and each
	 * sent whole was answered 500 and cost a new login. A walk costs a
	 * CWD a folder on the kept connection. */
	if (line_unsure(tp, PATH_LINE(abs)))
		return rmdir_by_walk(tp, full, res);
	/* Its RMD answered 500 teaches the lore that line is too long;
	 * remove_asking's "MLST /abs/dir" after it, a byte longer, is then
	 * not sent: it was, answered 500 too, and cost a login more. */
	tp->ask_gated = 1;
	tp->ask_held = 0;
	rc = ftpc_rmdir(&tp->fc, rpath, res);
	tp->ask_gated = 0;
	/* The line's first 500 taught the lore it is too long (a shorter
	 * one than the lore knew of): the RMD was not read, and the MLST
	 * after it neither, which remove_asking took for a folder gone.
	 * Or the RMD was answered (550: a file of the target's own in the
	 * folder) and the MLST after it held back (ask_held): the lore
	 * refuses its line, or may (vsftpd's 500 to an MLSD as long, a
	 * command it lacks); taken for the link's failure, the rmdir was
	 * asked again the same way for ever. Both asked from the parent. */
	if (!atomic_load(tp->stop) &&
	    (tp->ask_held || line_refused(tp, PATH_LINE(abs), 0)))
		return rmdir_by_walk(tp, full, res);
	/* Refused, and the MLST after it not known (kept_by_listing). */
	if (rc == 0 && !res->kept && !atomic_load(tp->stop) &&
	    (n = folder_len(full)) > 0 && n < sizeof(parent) &&
	    full[n] != '\0') {
		memcpy(parent, full, n);
		parent[n] = '\0';
		return kept_by_listing(tp, parent, full + n, NULL, res);
	}
	return rc;
}

static int
curl_rmdir(void *impl, const char *rpath, struct push_result *res)
{
	struct curl_tp *tp = impl;
	char full[FTPC_FULL_MAX];
	size_t n;
	int rc = rmdir_asking(tp, rpath, res);

	/* A folder removed from the kept listing's folder is no longer
	 * in it: the listing is asked again. */
	if (rc == 0 && !res->kept && tp->dc.parent != NULL) {
		n = (size_t)snprintf(
		    full, sizeof(full), "%s%s", tp->fc.base, rpath);
		n = n < sizeof(full) ? folder_len(full) : 0;
		while (n > 0 && full[n - 1] == '/')
			n--;
		if (n >= sizeof(full) || strlen(tp->dc.parent) != n ||
		    memcmp(tp->dc.parent, full, n) != 0)
			return rc;
		dircache_drop(tp);
	}
	return rc;
}

static enum time_result
curl_set_time(
    void *impl, const char *rpath, time_t mtime, struct push_result *res)
{
	return ftpc_set_time(&((struct curl_tp *)impl)->fc, rpath, mtime, res);
}

const struct transport_ops transport_curl_ops = {
	.name = "libcurl",
	.global_init = curl_global_init_once,
	.global_cleanup = curl_global_cleanup_once,
	.open = curl_open,
	.close = curl_close,
	.interrupt = curl_interrupt,
	.on_progress = curl_on_progress,
	.set_job = curl_set_job, /* a job's end ends struct dir_cache */
	.set_memo = NULL,        /* a temporary name is found by its name */
	.put = curl_put,
	.put_growing = curl_put_growing,
	.publish_from = curl_publish_from,
	.verify = curl_verify,
	.publish = curl_publish,
	.discard = curl_discard,
	.remove = curl_remove,
	.rename = curl_rename,
	.list = curl_list,
	.mkdir = curl_mkdir,
	.rmdir = curl_rmdir,
	.set_time = curl_set_time,
	.logged_in = curl_logged_in,
	.case_blind = curl_case_blind,
	.set_lore = curl_set_lore,
};
