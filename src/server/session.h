/*
 * session.h - one FTP control connection, from greeting to close.
 *
 * Owns: the session's state (login, current directory, transfer settings,
 * pending data channel, rename source), reading command lines, writing
 * replies, the idle timeout, and the destructor that rolls back what the
 * session leaves unfinished. Replies go out through reply.h. Command handlers (cmd_*.c) act on this state;
 * the dispatcher (cmdtable.c) decides which handler runs.
 */
#ifndef RFTP_SESSION_H
#define RFTP_SESSION_H

#include "common/hash.h"
#include "common/limits.h"
#include "common/upload_sink.h"
#include "common/users.h"
#include "server/datachan.h"
#include "server/server.h" /* enum capped_kind */
#include "server/tls.h"

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

struct server;
struct account;
struct upload_home;

/* Changed only by session_enter_state. */
enum sess_state {
	SESS_GREETED, /* waiting for USER */
	SESS_NEED_PASS,
	SESS_LOGGED_IN,
	SESS_CLOSING,
};

/* MLST facts a client may switch with OPTS MLST. */
enum mlst_fact {
	FACT_TYPE = 1 << 0,
	FACT_SIZE = 1 << 1,
	FACT_MODIFY = 1 << 2,
	FACT_PERM = 1 << 3,
	FACT_UNIQUE = 1 << 4,
};
#define FACT_ALL (FACT_TYPE | FACT_SIZE | FACT_MODIFY | FACT_PERM | FACT_UNIQUE)

/* What a look at the control channel during a transfer found. */
enum ctrl_event {
	CTRL_QUIET, /* nothing, or a command that waits for the transfer */
	CTRL_ABORT, /* ABOR arrived */
	CTRL_DEAD,  /* connection closed or failed, or shutdown */
};

struct session {
	struct server *srv;
	uint64_t id;
	enum sess_state state;
	int ctrl_fd;
	struct sockaddr_storage peer, local;
	socklen_t peer_len, local_len;
	char peer_ip[INET6_ADDRSTRLEN];
	char prefix[128]; /* "[id ip user]" for logs */
	/* Its "connected" line was written (session.c's conn_budget), or
	 * a named user's login line (session_login_logged): its "closed"
	 * line is written only then, else counted. A named user seen
	 * coming in is seen leaving, with what the session moved. */
	int conn_logged;
	int login_logged;

	/* control input: bytes received but not yet consumed, in a buffer of
	 * incap bytes that grows up to RFTP_LINE_MAX for a long line and
	 * shrinks back once the session is idle (session.c) */
	char *in;
	size_t inlen, incap;
	/* the command line being run (session_loop), linecap bytes */
	char *line;
	size_t linecap;
	int trimmed;    /* idle memory given back since the last command */
	int discarding; /* skipping the rest of an over-long line */
	int ctrl_eof;
	/* control output: replies the client is not taking (reply.c) */
	int wstalled;
	int wdead; /* a write failed or timed out: no more replies */
	/* cork: this command's replies may wait in the socket (MSG_MORE)
	 * for the next one's (cmdtable.c); corked: some do, pushed before
	 * the session waits for input (session.c) */
	int cork;
	int corked;
	struct timespec wstall_t0;
	size_t wprogress;

	/* login */
	char pending_user[RFTP_USER_MAX + 1];
	int pending_overlong; /* USER named more than RFTP_USER_MAX bytes */
	struct user user;
	struct account *account;
	int root_fd;
	/* the current folder, a normalised vpath in a buffer of cwdcap
	 * bytes sized to it (session_keep_cwd); never NULL */
	char *cwd;
	size_t cwdcap;

	/* transfer settings */
	int ascii;
	uint64_t rest;
	/* ALLO's byte count, for the next upload only (have_allo): the
	 * client's own word that a data FIN after exactly that many bytes
	 * ends it (finwatch.c) */
	uint64_t allo;
	int have_allo;
	/* the splice pipe of clear-text uploads, kept between uploads that
	 * follow each other (transfer.c); -1 when none */
	int upipe[2];
	int upipe_chunk;
	enum hash_algo hash_algo;
	unsigned mlst_facts;
	int epsv_all;

	/* rename: rnfr holds the RNFR path (session_keep_rnfr) while
	 * have_rnfr says it is pending; an idle session frees it otherwise */
	char *rnfr;
	size_t rnfrcap;
	int have_rnfr;
	/* Commands refused unread (unknown, malformed, a NUL) or for their
	 * argument's syntax (501) so far: the first ones are logged, not a
	 * flood of them (session_bad_command). */
	unsigned bad_cmds;
	/* PORT/EPRT refused for their target (FTP bounce) so far: the first
	 * ones are logged as warnings, then one line says the rest are not
	 * (dc_set_active). */
	unsigned bounce_refused;
	/* Clear-text USERs refused for require_login_tls so far: USER has
	 * no delay, so only the first ones are logged (cmd_user). */
	unsigned tls_refused;
	/* Commands refused for a path that is not there (550/553 with
	 * ENOENT or ENOTDIR) so far: the first ones are logged, so an admin
	 * sees why a device's uploads fail, not a flood of them
	 * (reply_errno_at). */
	unsigned missing_refused;
	/* The same for the other refusals of a path (permission, a name that
	 * exists, a folder not empty, not a plain file): counted apart, so
	 * a loop of one kind leaves the other's first lines. */
	unsigned path_refused;
	/* Commands refused for a quota (files, a full folder, ALLO) and for
	 * a permission or the TLS rule so far: the first ones of each are
	 * logged, then one line says the rest are not (a write of 1,000
	 * pipelined MKDs past quota_files wrote 1,000 lines). */
	unsigned quota_refused;
	unsigned perm_refused;
	/* Warnings that the home was not counted completely for the quota
	 * (a new name or an upload refused) so far: counted apart from
	 * quota_refused, so a session's 16 quota refusals at info cannot
	 * hide the warning an admin must act on. */
	unsigned home_uncounted;
	/* Data connections that failed, timed out or were not awaited so
	 * far: the first ones are logged (dc_open); a write of 1,000 PORTs
	 * to a closed port, each with a LIST, wrote 1,000 lines. */
	unsigned dc_failed;
	/* The verb of the command being dispatched (cmd_dispatch), NULL
	 * outside it: a 501 reply names it in the log. */
	const char *cmd_verb;
	/* Its argument as the client sent it (NULL outside it): a refusal
	 * for a missing path names it in the log. */
	const char *cmd_arg;
	/* A transfer over a TLS data connection is under way: its end is
	 * proven by close_notify, so the client's half-close of the control
	 * connection (QUIT, then shutdown) does not end it (RFC 959 QUIT);
	 * ctrl_halfclosed says it came, and the control socket is not
	 * watched until the transfer ends. */
	int xfer_tls;
	int ctrl_halfclosed;
	/* A file transfer in progress, for a STAT sent during it (RFC 959
	 * 4.1.3): "sending" or "receiving", and the bytes moved so far
	 * (transfer.c); NULL between transfers. */
	const char *xfer_what;
	uint64_t xfer_bytes;
	/* Lines were buffered when its 150 went out (pipelined behind its
	 * command, sent before the client saw it begin): a STAT among them
	 * waits its turn, its reply after the 226 (cmd_xfer.c open_data). */
	int xfer_behind;
	/* The transfer about to start or under way sends to the client (a
	 * file or a listing): a half-close of the control connection does
	 * not end it (session_half_close_goes_on). */
	int xfer_out;
	/* The upload under way streams (session_stream_begin's handle):
	 * the receive loops tell it of each piece (session_stream_grew). */
	void *xfer_stream;
	/* The user came from users.ini (not the library's authenticate
	 * callback), as of the set numbered user_gen (0: not compared yet):
	 * file commands end the session if an edit changed or removed it. */
	int user_in_db;
	uint64_t user_gen;

	/* data channel */
	enum dc_mode dc_mode;
	int dc_listen_fd; /* from the pasvpool, given back by dc_reset */
	uint16_t dc_listen_port;
	/* The client's data connection, taken from the listener before the
	 * transfer command (dc_weed), or -1; dc_open uses it first, and
	 * session_dc_reset closes it. */
	int dc_early_fd;
	/* Passive connections from foreign addresses turned away so far:
	 * the first ones are logged as warnings, then one line. */
	unsigned foreign_refused;
	/* When the listener opened: one no transfer command came for within
	 * data_timeout is given back (read_line). */
	struct timespec dc_listen_t0;
	struct sockaddr_storage dc_addr;
	socklen_t dc_addr_len;

	/* FTPS (RFC 4217) */
	SSL *ctrl_ssl; /* after AUTH TLS, or from the start on implicit */
	unsigned char sid_ctx[TLS_SID_CTX_LEN]; /* binds data to control */
	int pbsz;                               /* PBSZ 0 received */
	int prot_p;              /* PROT P: data connections under TLS */
	struct timespec started; /* for login_timeout */

	/* counters for the STAT reply and the close log line */
	uint64_t bytes_in, bytes_out, files_in, files_out;
};

/* Runs a session on an accepted connection; closes it before returning.
 * implicit_tls: the connection came to an implicit FTPS port, so TLS starts
 * before the greeting. */
void session_run(struct server *srv, int fd, uint64_t id, int implicit_tls);
/* Starts TLS on the control connection (AUTH TLS, implicit FTPS). Returns
 * 0, or -1 after logging; the session must then be closed. */
int session_start_tls(struct session *s);
/* Whether this session's login / data connections must use TLS: the
 * user's override when logged in (or known), else [tls]. */
int session_requires_login_tls(struct session *s, const struct user *u);
int session_requires_data_tls(struct session *s);

/* Whether a half-close of the control connection lets the transfer go on:
 * over TLS data, or a download. */
int session_half_close_goes_on(const struct session *s);
/* During a transfer: looks at the control channel without blocking (or up
 * to timeout_us microseconds) for ABOR or a closed connection. */
enum ctrl_event session_check_control(struct session *s, long timeout_us);
/* While the server waits for a data connection (datachan.c): reads the
 * control bytes there, if readable, and takes an ABOR out of the lines.
 * It never reads the connection's end: the transfer that follows judges a
 * half-close by its own rules, and over TLS the end must not go through
 * OpenSSL. CTRL_DEAD only if the read failed. */
enum ctrl_event session_wait_abor(struct session *s, int readable);
/* Whether complete command lines wait in the input buffer: they do not
 * wake poll, so a transfer looks at them with session_check_control. */
int session_has_lines(const struct session *s);
/* Whether the input buffer has room to read into during a transfer; when
 * not, poll must not ask for POLLIN (it would never stop firing). */
int session_can_read(const struct session *s);
/*
 * A change of the home that the mirror must hear of (upload_sink.h): begin
 * before making it (takes the user's change lock and writes the change
 * ahead; -1: nothing may be changed, logged, and the caller answers 451),
 * end after it (happened 0: it failed; path: where it is now, for an
 * upload). end returns -1 if an upload could not be queued (the caller
 * answers 451). Without a mirror both do nothing. These two, and the
 * stream pair below, are the only way from the server to the sink.
 */
int session_change_begin(struct session *s, enum change_op op, const char *path,
    const char *new_path, struct change_token *tok);
int session_change_end(struct session *s, struct change_token *tok,
    enum change_op op, const char *path, const char *new_path, int happened,
    uint64_t size);
/* A fresh upload of path starts writing fd: the mirror may push its bytes
 * while they arrive (upload_sink.h); declared: the size the client
 * declared with ALLO, 0 if none. A handle (NULL: none) that must be given
 * to session_stream_end exactly once, complete only after the file was
 * published and before session_change_end records it. */
void *session_stream_begin(
    struct session *s, const char *path, int fd, uint64_t declared);
void session_stream_end(
    struct session *s, void *h, int complete, uint64_t size);
/* The upload of s->xfer_stream (if any) now holds size bytes in its file. */
void session_stream_grew(struct session *s, uint64_t size);
/* Milliseconds since t0 (CLOCK_MONOTONIC). */
long session_ms_since(const struct timespec *t0);
/* "upload", "delete", ... for replies and logs. */
const char *session_change_name(enum change_op op);
/* What upload.c needs of this session (upload.h). */
void session_upload_home(const struct session *s, struct upload_home *h);
/* The one way the session's state changes: logs "from -> to" at debug
 * level. */
void session_enter_state(struct session *s, enum sess_state to);
const char *session_state_name(enum sess_state st);
/* Leaves the logged-in state: closes the home, leaves the account. */
void session_logout(struct session *s);
/* Keep vpath as the current folder (s->cwd), or as the pending RNFR
 * source (s->rnfr; have_rnfr is the caller's to set). Return 0, or -1
 * with errno ENAMETOOLONG or ENOMEM, the previous path then kept. */
int session_keep_cwd(struct session *s, const char *vpath);
int session_keep_rnfr(struct session *s, const char *vpath);
/* Makes "/" the current folder (login, logout); cannot fail. */
void session_reset_cwd(struct session *s);
/* Closes the data channel set up by PASV/EPSV/PORT/EPRT, if any. */
void session_dc_reset(struct session *s);

/* Logs a command refused unread (what: "unknown command", ...; verb:
 * its verb, or "" if it had none; why: the reply's text, or ""): the
 * first RFTP_BAD_CMDS_LOGGED of a session, then one line saying the rest
 * are not. */
void session_bad_command(
    struct session *s, const char *what, const char *verb, const char *why);
/*
 * Logs a line of a kind a client can cause thousands of times a second
 * (refused commands, bounce attempts, strangers on the passive port): the
 * first RFTP_BAD_CMDS_LOGGED of the session, the next one ending "; this
 * session's further <kind> are not logged", then none. *count is the
 * session's counter of that kind. All sessions of the server together log
 * at most RFTP_CAPPED_LOG_PER_SECOND such lines a second, and as many
 * warnings of logged-in sessions (level LOG_WARN: a budget of their own,
 * so a flood of info lines or of strangers' warnings cannot hide them;
 * of it one user, or one anonymous login's address, has
 * RFTP_WARN_SOURCE_BURST then RFTP_WARN_SOURCE_PER_SECOND of each kind,
 * so a client reconnecting cannot hide another's, nor its own warnings of
 * another kind; warnings of sessions not logged in
 * go on session_log_stranger's); the
 * first line of a later second (or the server's stop) says how many were
 * not.
 */
void session_log_capped(struct session *s, unsigned *count, int level,
    const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/*
 * A warning about what someone other than the session's client did (a
 * connection to its passive port from a foreign address), capped as
 * session_log_capped's but on a budget of its own, shared with the
 * warnings of sessions not logged in: anyone can cause these, and they
 * must not spend the one of a logged-in client's bounce attempts.
 */
void session_log_stranger(struct session *s, unsigned *count, const char *kind,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/*
 * Whether one more capped line of kind fits the server's budget for that
 * kind (RFTP_CAPPED_LOG_BURST, refilled at RFTP_CAPPED_LOG_PER_SECOND);
 * 0 counts it as left out, which a later line of the kind, or the stop,
 * says. For lines with no session (server.c's refused connections).
 */
int session_capped_budget(struct server *srv, enum capped_kind kind);
/* Whether the login line of s (logged in now, s->user set) may be
 * written: a named user's always (and then the session's "closed" line
 * too); an anonymous login's only with its session's "connected" line,
 * else it is counted in its address's count of connections not logged
 * one by one (a client logging in anonymously in a loop had a line
 * written a connection). */
int session_login_logged(struct session *s);
/* Says the counts of connections not logged one by one (conn_budget's)
 * that are due, RFTP_CONN_SUMMARY_S after the first of each, and the
 * counts of capped lines of each kind likewise: the accept thread's, so
 * that a flood that stopped, with no connection or line of the kind
 * after it, has its count said then, not at the stop. The
 * ms until the next count is due, or RFTP_CONN_SUMMARY_S's if none is
 * pending (a poll() timeout: one may become pending after the call).
 * Takes capped_lock; logs after letting it go. */
int session_conn_counts_due(struct server *srv);
/* Counts a line of kind left out by another budget than kind's own (the
 * connections' of conn_budget, or server.c's per refused address), in
 * kind's "not logged" line: written with its next line,
 * RFTP_CONN_SUMMARY_S after the first (session_conn_counts_due), or at
 * the stop. Takes capped_lock. */
void session_capped_count(struct server *srv, enum capped_kind kind);
/* Logs how many capped lines the server's budget left out, if any (its
 * stop: no later line may come to say it). */
void session_log_capped_flush(struct server *srv);

#endif
